//! Refs git oompa owns that point at the wrong kind of object: a keep ref
//! (`refs/oompa/keep/…`), a worker branch (`refs/heads/oompa/…`) or any other ref under
//! `refs/oompa/` holding a blob or a tree where a commit belongs; and the target branch
//! (git refuses to put a blob on a branch, but a ref file can be written by hand). Nothing reads such a ref
//! as work, so the work it held is silently gone from what `gc`, `log` and a person see.
//!
//! The queue (`refs/oompa/tasks`) and the cycle log (`refs/notes/oompa`) have their own
//! checks, with their known tips; values kept under `refs/oompa/replaced/` are whatever was
//! found there and are left alone. The fix loses nothing: the ref goes back to the newest
//! commit its reflog has (keep refs and worker branches keep one), and the value found is
//! kept under `refs/oompa/replaced/`; with no commit in the reflog the value is moved there.
//! Never prints.

use crate::git::{GitError, ObjectId, RefUpdate, Repo, short};
use crate::store::QUEUE_REF;
use crate::store::layout::{
    KEEP_PREFIX, REF_NAMESPACE, REPLACED_PREFIX, WORKER_BRANCH_PREFIX, replaced_ref,
};

/// How many reflog entries are searched for the last commit a ref held.
const REFLOG_LOOKBACK: usize = 50;

/// A ref that should point at a commit and does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrongKind {
    pub name: String,
    pub id: ObjectId,
    /// `blob`, `tree`, `tag`, or `missing object`.
    pub kind: &'static str,
    /// The newest commit its reflog has, what the fix points it back at.
    pub restore: Option<ObjectId>,
}

impl WrongKind {
    /// What the ref is for, in a few words.
    fn role(&self) -> &'static str {
        if self.name.starts_with(KEEP_PREFIX) {
            "a keep ref holds unmerged work, a commit"
        } else if self.name.starts_with(WORKER_BRANCH_PREFIX) {
            "a worker branch holds the worker's commits"
        } else if self.name.starts_with("refs/heads/") {
            "a branch points at a commit"
        } else {
            "git oompa's refs point at commits"
        }
    }

    /// One line saying what is wrong.
    pub fn describe(&self) -> String {
        format!(
            "{} points at {} {}, not at a commit ({})",
            self.name,
            self.kind,
            short(&self.id),
            self.role()
        )
    }

    /// Where the value found is kept by the fix.
    pub fn kept_as(&self) -> String {
        replaced_ref(&format!(
            "{}-{}",
            self.name.trim_start_matches("refs/"),
            short(&self.id)
        ))
    }

    /// The command that fixes it.
    pub fn fix(&self) -> String {
        match self.restore {
            Some(c) => format!(
                "`git oompa doctor --fix` points it back at {} (the last commit its reflog \
                 has), keeping {} as {}",
                short(&c),
                short(&self.id),
                self.kept_as()
            ),
            None => format!(
                "`git oompa doctor --fix` moves it to {} (its reflog has no commit to go back \
                 to)",
                self.kept_as()
            ),
        }
    }
}

/// Every ref under `refs/oompa/` (but the queue and `replaced/`) and every worker branch
/// that does not point at a commit.
pub fn find(repo: &Repo) -> Result<Vec<WrongKind>, GitError> {
    let mut out = Vec::new();
    let refs = repo
        .refs_with_prefix(REF_NAMESPACE)?
        .into_iter()
        .chain(repo.refs_with_prefix(WORKER_BRANCH_PREFIX)?);
    for (name, id) in refs {
        if name == QUEUE_REF || name.starts_with(REPLACED_PREFIX) {
            continue;
        }
        out.extend(check_value(repo, name, id)?);
    }
    Ok(out)
}

/// The ref `name` (any branch too, such as the target), if it exists and does not point
/// at a commit.
pub fn check(repo: &Repo, name: &str) -> Result<Option<WrongKind>, GitError> {
    match repo.read_ref(name)? {
        Some(id) => check_value(repo, name.to_string(), id),
        None => Ok(None),
    }
}

fn check_value(repo: &Repo, name: String, id: ObjectId) -> Result<Option<WrongKind>, GitError> {
    let kind = match repo.object_header(id)? {
        Some(("commit", _)) => return Ok(None),
        Some((kind, _)) => kind,
        None => "missing object",
    };
    let restore = last_commit(repo, &name, id)?;
    Ok(Some(WrongKind {
        name,
        id,
        kind,
        restore,
    }))
}

/// The newest commit in `name`'s reflog other than `current`.
fn last_commit(repo: &Repo, name: &str, current: ObjectId) -> Result<Option<ObjectId>, GitError> {
    for e in repo.reflog_tail(name, REFLOG_LOOKBACK)? {
        for id in [e.new, e.old] {
            if !id.is_null() && id != current && repo.is_commit(id)? {
                return Ok(Some(id));
            }
        }
    }
    Ok(None)
}

/// Applies [`WrongKind::fix`] to `name` when it still points at something that is not a
/// commit; says what it did.
pub fn repair(repo: &Repo, name: &str) -> Result<String, GitError> {
    let Some(wrong) = check(repo, name)? else {
        return Ok(format!("{name} points at a commit already"));
    };
    let kept = wrong.kept_as();
    let mut updates = Vec::with_capacity(2);
    if repo.read_ref(&kept)? != Some(wrong.id) {
        updates.push(RefUpdate {
            name: kept.clone(),
            expected: None,
            new: Some(wrong.id),
            message: format!("oompa: keep what {name} pointed at"),
        });
    }
    updates.push(RefUpdate {
        name: name.to_string(),
        expected: Some(wrong.id),
        new: wrong.restore,
        message: match wrong.restore {
            Some(c) => format!("oompa: point {name} back at its last commit {}", short(&c)),
            None => format!("oompa: move {name} to {kept}"),
        },
    });
    repo.transaction(&updates)?;
    Ok(match wrong.restore {
        Some(c) => format!(
            "pointed {name} back at {}; what it pointed at is kept as {kept}",
            short(&c)
        ),
        None => format!(
            "moved {name} ({} {}) to {kept}",
            wrong.kind,
            short(&wrong.id)
        ),
    })
}
