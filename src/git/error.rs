//! The facade's error type and the helpers that build it from gix errors.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{LockFile, ObjectId, lock};

/// What can go wrong talking to the repository.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("not inside a git repository: {path}")]
    NotARepository {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "{path} is a sha256 repository (extensions.objectFormat = sha256); git oompa supports \
         only sha1 repositories for now"
    )]
    Sha256 { path: PathBuf },
    #[error("cannot open the git repository at {path}: {reason}")]
    CannotOpen { path: PathBuf, reason: String },
    #[error("{path} is a bare repository; git oompa needs a work tree")]
    Bare { path: PathBuf },
    #[error("{path} uses the reftable ref format, which git oompa does not support yet")]
    Reftable { path: PathBuf },
    #[error("reference {name} moved while we were updating it")]
    RefConflict { name: String },
    /// A `.lock` file is in the way: never a lost compare-and-swap, and not retried past
    /// [`LOCK_TIMEOUT`](super::LOCK_TIMEOUT) (at once when its owner is gone).
    #[error("{what}: {} {}", lock.describe(), lock_state(lock, *waited))]
    Locked {
        /// What was being done (`updating refs/oompa/tasks`).
        what: String,
        lock: LockFile,
        waited: Duration,
    },
    #[error("{context}")]
    Gix {
        context: String,
        #[source]
        source: gix::Error,
    },
    /// Two commits to merge share no history (a branch deleted and made again from nothing
    /// while an agent worked on it, say).
    #[error(
        "{theirs} has no commit in common with {ours}: its history starts afresh (was its \
         branch deleted while the agent worked?)"
    )]
    UnrelatedHistories { ours: ObjectId, theirs: ObjectId },
    #[error("object {id} is not a {expected}")]
    WrongObjectKind {
        id: ObjectId,
        expected: &'static str,
    },
    #[error("`git {args}` failed{}: {stderr}", status.map(|s| format!(" (exit {s})")).unwrap_or_default())]
    Command {
        args: String,
        status: Option<i32>,
        stderr: String,
    },
    #[error("could not run git: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("no {role} identity is configured")]
    NoIdentity { role: &'static str },
}

impl GitError {
    /// True when the error is a lost compare-and-swap: the caller should re-read and retry.
    /// A lock in the way is not one ([`GitError::Locked`]): retrying does not remove it.
    pub fn is_conflict(&self) -> bool {
        match self {
            GitError::RefConflict { .. } => true,
            GitError::Gix { source, .. } => source.is_conflict(),
            _ => false,
        }
    }

    /// The message with every cause below it on one line (`Display` shows only the context
    /// of a gix error): for reports that have no room for a cause chain.
    pub fn detail(&self) -> String {
        let mut s = self.to_string();
        let mut cur = std::error::Error::source(self);
        while let Some(c) = cur {
            let text = c.to_string();
            if !text.is_empty() && !s.contains(&text) {
                s.push_str(": ");
                s.push_str(&text);
            }
            cur = c.source();
        }
        s
    }

    /// The lock file in the way, when that is what went wrong.
    pub fn lock(&self) -> Option<&LockFile> {
        match self {
            GitError::Locked { lock, .. } => Some(lock),
            _ => None,
        }
    }
}

/// Why a lock is still in the way, for [`GitError::Locked`].
fn lock_state(lock: &LockFile, waited: Duration) -> String {
    if lock.is_stale() {
        "is left over from a git process that is gone".into()
    } else if waited.is_zero() {
        "is in the way".into()
    } else {
        format!(
            "is still there after waiting {} for its owner",
            lock::age_text(waited)
        )
    }
}

/// Attaches a human context to gix results.
pub(crate) trait Context<T> {
    fn ctx(self, f: impl FnOnce() -> String) -> Result<T, GitError>;
}

impl<T, E: Into<gix::Error>> Context<T> for Result<T, E> {
    fn ctx(self, f: impl FnOnce() -> String) -> Result<T, GitError> {
        self.map_err(|e| GitError::Gix {
            context: f(),
            source: e.into(),
        })
    }
}

/// Why `gix::discover` failed: no repository at all, or one that was found but cannot be
/// opened (a sha256 repository, which this build cannot read; a broken config), which must
/// not be reported as "not inside a git repository".
pub(super) fn open_error(dir: &Path, e: gix::Error) -> GitError {
    let Ok((found, _)) = gix::discover::upwards(dir) else {
        return GitError::NotARepository {
            path: dir.to_path_buf(),
            source: Box::new(e),
        };
    };
    let (git_dir, _) = found.into_repository_and_work_tree_directories();
    let detail = format!("{e:?}");
    tracing::debug!("opening {}: {detail}", git_dir.display());
    if e.is_unsupported() && detail.to_ascii_lowercase().contains("sha256") {
        return GitError::Sha256 { path: git_dir };
    }
    // The chain's messages, most specific last: "…could not be loaded: Could not parse
    // configuration: …".
    let mut reason = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        let text = c.to_string();
        // gix puts bare classifications (`Validation`) in the chain; they say nothing here.
        if text.contains(' ') {
            reason.push_str(": ");
            reason.push_str(text.trim());
        }
        cause = c.source();
    }
    let reason = reason.replace('\n', " ");
    GitError::CannotOpen {
        path: git_dir,
        reason,
    }
}

/// Whether an I/O "not found" is somewhere in the error's chain.
pub(super) fn is_not_found_io(e: &gix::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound)
        {
            return true;
        }
        cur = err.source();
    }
    false
}
