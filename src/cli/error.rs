//! The one error type at the edge: every failure a command reports, with its exit code,
//! its causes and a `hint:` naming the command that fixes it.

use crate::git::GitError;
use crate::store::notes::NotesError;
use crate::store::{QueueError, TaskIdError};

/// Exit codes, fixed and documented in the man page.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// A user or configuration error: bad input, a refused operation, a failed claim.
    pub const USER: u8 = 1;
    /// Bad command-line usage (clap's own errors use it too).
    pub const USAGE: u8 = 2;
    /// Interrupted by Ctrl-C before finishing.
    pub const INTERRUPTED: u8 = 130;
    /// A bug in git oompa (a panic, a broken invariant): nothing the user did wrong. 255, as
    /// jj uses, so scripts can tell it from every refusal.
    pub const INTERNAL: u8 = 255;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Usage,
    /// stdout was closed (`git oompa log | head`): a quiet, normal exit.
    BrokenPipe,
    Interrupted,
    /// A bug in git oompa, not the user's doing.
    Internal,
}

/// A failure ready to be shown to a person.
#[derive(Debug)]
pub struct CommandError {
    pub kind: Kind,
    pub message: String,
    pub causes: Vec<String>,
    pub hints: Vec<String>,
}

impl CommandError {
    pub fn user(message: impl Into<String>) -> Self {
        CommandError {
            kind: Kind::User,
            message: message.into(),
            causes: Vec::new(),
            hints: Vec::new(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        CommandError {
            kind: Kind::Usage,
            ..CommandError::user(message)
        }
    }

    /// A bug in git oompa: says so and asks for a report.
    pub fn internal(message: impl Into<String>) -> Self {
        CommandError {
            kind: Kind::Internal,
            message: format!("internal error: {}", message.into()),
            causes: Vec::new(),
            hints: vec![
                "this is a bug in git oompa, not something you did; please report it with the \
                 command you ran and `git oompa --version`"
                    .into(),
            ],
        }
    }

    /// What a command that panicked reports: the panic's message, when it has one.
    pub fn from_panic(payload: &(dyn std::any::Any + Send)) -> Self {
        CommandError::internal(format!(
            "the command panicked: {}",
            crate::panic_message(payload)
        ))
    }

    pub fn broken_pipe() -> Self {
        CommandError {
            kind: Kind::BrokenPipe,
            ..CommandError::user("broken pipe")
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    pub fn exit_code(&self) -> u8 {
        match self.kind {
            Kind::User => exit::USER,
            Kind::Usage => exit::USAGE,
            Kind::BrokenPipe => exit::OK,
            Kind::Interrupted => exit::INTERRUPTED,
            Kind::Internal => exit::INTERNAL,
        }
    }

    /// Builds an error from any std error, with its source chain as causes.
    pub fn from_error(err: &(dyn std::error::Error + 'static)) -> Self {
        let mut e = CommandError::user(err.to_string());
        let mut source = err.source();
        while let Some(s) = source {
            let text = s.to_string();
            if !e.message.contains(&text) && !e.causes.contains(&text) {
                e.causes.push(text);
            }
            source = s.source();
        }
        e
    }
}

impl From<std::io::Error> for CommandError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return CommandError::broken_pipe();
        }
        CommandError::from_error(&e)
    }
}

impl From<GitError> for CommandError {
    fn from(e: GitError) -> Self {
        let hint = match &e {
            GitError::NotARepository { .. } => {
                Some("run git oompa inside a git work tree, or create one with `git init`")
            }
            GitError::Bare { .. } => {
                Some("use a clone with a work tree: `git clone <this-repo> <dir>` and run it there")
            }
            GitError::Reftable { .. } => {
                Some("convert the repository with `git refs migrate --ref-format=files`")
            }
            GitError::Sha256 { .. } => Some(
                "run git oompa in a sha1 repository (git's default: `git init --object-format=sha1`)",
            ),
            GitError::CannotOpen { .. } => Some("`git status` there shows what git makes of it"),
            _ => None,
        };
        let lock_hint = e.lock().map(lock_hint);
        let mut err = match &e {
            // The gix error chain is long and noisy; its one-line form is enough.
            GitError::NotARepository { path, .. } => {
                CommandError::user(format!("not inside a git repository: {}", path.display()))
            }
            GitError::Gix { context, source } => {
                CommandError::user(format!("{context}: {source:#}"))
            }
            _ => CommandError::from_error(&e),
        };
        if let Some(h) = hint {
            err = err.with_hint(h);
        }
        if let Some(h) = lock_hint {
            err = err.with_hint(h);
        }
        err
    }
}

/// What to do about a lock file in the way.
pub fn lock_hint(lock: &crate::git::LockFile) -> String {
    lock.advice()
}

impl From<QueueError> for CommandError {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::Git(g) => g.into(),
            QueueError::NotFound(_) => CommandError::from_error(&e)
                .with_hint("`git oompa task list` shows the tasks in the queue"),
            QueueError::Corrupt { .. } => CommandError::from_error(&e).with_hint(format!(
                "inspect it with `git show {}:<path>`; release or re-add the task to replace it",
                crate::store::QUEUE_REF
            )),
            QueueError::NotClaimed { .. } => CommandError::from_error(&e)
                .with_hint("`git oompa task list --state current` shows the claimed tasks"),
            QueueError::Replaced { known, found } => CommandError::from_error(&e)
                .with_hint(crate::guard::invariants::queue_fix(known, found)),
            QueueError::NotACommit { .. } => CommandError::from_error(&e).with_hint(format!(
                "`git oompa doctor --fix` points it back at the last queue commit git oompa \
                 knew; `git reflog show {}` lists the values it had",
                crate::store::QUEUE_REF
            )),
            QueueError::SeveralStates { .. } => CommandError::from_error(&e).with_hint(
                "`git oompa doctor --fix` keeps the most advanced entry (complete, else claimed) \
                 and drops the others (the queue's history keeps them)",
            ),
            _ => CommandError::from_error(&e),
        }
    }
}

impl From<TaskIdError> for CommandError {
    fn from(e: TaskIdError) -> Self {
        CommandError::from_error(&e).with_hint(
            "task ids are 1-64 letters, digits, `.`, `_` or `-`, starting with a letter or digit",
        )
    }
}

impl From<NotesError> for CommandError {
    fn from(e: NotesError) -> Self {
        match e {
            NotesError::Git(g) => g.into(),
            NotesError::Rewritten { .. } => CommandError::from_error(&e)
                .with_hint("`git oompa doctor --fix` merges the lost records back"),
            NotesError::NotACommit { .. } => CommandError::from_error(&e).with_hint(format!(
                "`git reflog show {}` lists the values it had; put the last good one back with \
                 `git update-ref`",
                crate::store::notes::NOTES_REF
            )),
            _ => CommandError::from_error(&e),
        }
    }
}

impl From<crate::guard::doctor::FixError> for CommandError {
    fn from(e: crate::guard::doctor::FixError) -> Self {
        use crate::guard::doctor::FixError;
        match e {
            FixError::Git(g) => g.into(),
            FixError::Queue(q) => q.into(),
            FixError::Notes(n) => n.into(),
            e => CommandError::from_error(&e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_command_is_an_internal_error_with_its_own_exit_code() {
        let payload =
            std::panic::catch_unwind(|| panic!("queue tip vanished")).expect_err("panics");
        let e = CommandError::from_panic(payload.as_ref());
        assert_eq!(e.kind, Kind::Internal);
        assert_eq!(e.exit_code(), 255);
        assert!(e.message.contains("queue tip vanished"), "{}", e.message);
        assert!(e.hints[0].contains("bug in git oompa"), "{:?}", e.hints);
        let codes = [exit::OK, exit::USER, exit::USAGE, exit::INTERRUPTED];
        assert!(!codes.contains(&exit::INTERNAL), "its own code");
    }
}
