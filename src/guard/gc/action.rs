//! What gc does, one [`Action`] per thing, as `--dry-run` lists it and the run reports it.

use std::path::PathBuf;

use super::{GcError, Safe};
use crate::git::{ObjectId, short};
use crate::store::QueueError;

/// One thing gc does (or, with `--dry-run`, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    ReleaseClaim {
        task: String,
        holder: String,
        why: String,
    },
    CommitLeftovers {
        worktree: PathBuf,
    },
    /// A lock a killed process left in a finished swarm's worktree.
    RemoveLock {
        path: PathBuf,
    },
    Keep {
        what: String,
        commit: Option<ObjectId>,
        keep_ref: String,
    },
    RemoveWorktree {
        path: PathBuf,
    },
    DeleteBranch {
        name: String,
        tip: ObjectId,
        safe: Safe,
    },
    /// A finished swarm's branch that is checked out outside the swarm's worktrees.
    LeaveBranch {
        name: String,
        checked_out: PathBuf,
    },
    PruneWorktrees {
        ids: Vec<String>,
    },
    DropKeepRef {
        name: String,
        tip: ObjectId,
        target: String,
    },
    /// The transcripts of a swarm that ended longer ago than `oompa.transcriptsExpire`.
    PruneTranscripts {
        swarm: String,
        path: PathBuf,
        /// How long ago it ended (`20d`).
        age: String,
    },
    /// The registry directory (`.git/oompa/swarms/<swarm>/`) of a swarm that ended longer ago
    /// than `oompa.transcriptsExpire`.
    PruneSwarmDir {
        swarm: String,
        path: PathBuf,
        /// How long ago it ended (`20d`).
        age: String,
    },
    /// The `status.json` a swarm that is not running left (it was killed).
    RemoveLiveStatus {
        swarm: String,
        path: PathBuf,
    },
    /// A planned step not done because what it was planned on changed (its swarm runs, its
    /// worktree moved on): nothing of it was touched; the next gc looks again.
    Skipped {
        /// The step, as "remove worktree …" would read.
        what: String,
        why: String,
    },
    /// A step that could not be done; gc went on with the others. Nothing of that step was
    /// let go of.
    Failed {
        /// The step, as "remove worktree …" would read.
        what: String,
        why: String,
        /// The command that clears the way, when there is one.
        hint: Option<String>,
    },
}

impl Action {
    /// A step left out, and why.
    pub(crate) fn skipped(what: String, why: String) -> Action {
        Action::Skipped { what, why }
    }

    /// A planned step left out because its swarm runs again (or started since the plan).
    pub(crate) fn swarm_running(what: String, swarm: &str) -> Action {
        Action::skipped(what, format!("swarm {swarm} is running"))
    }

    /// A failed step, from the error that stopped it.
    pub(crate) fn failed(what: impl Into<String>, e: &GcError) -> Action {
        let lock = match e {
            GcError::Git(g) => g.lock(),
            GcError::Queue(QueueError::Git(g)) => g.lock(),
            _ => None,
        };
        let hint = lock.map(|l| format!("{}; then run `git oompa gc` again", l.advice()));
        let why = match e {
            GcError::Git(g) | GcError::Queue(QueueError::Git(g)) => g.detail(),
            other => other.to_string(),
        };
        Action::Failed {
            what: what.into(),
            why,
            hint,
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::ReleaseClaim { task, holder, why } => {
                write!(f, "release task {task} held by {holder} ({why})")
            }
            Action::CommitLeftovers { worktree } => write!(
                f,
                "commit the uncommitted changes in {}",
                worktree.display()
            ),
            Action::Keep {
                what,
                commit,
                keep_ref,
            } => match commit {
                Some(c) => write!(f, "keep {what} ({}) as {keep_ref}", short(c)),
                None => write!(f, "keep {what} as {keep_ref}"),
            },
            Action::RemoveWorktree { path } => write!(f, "remove worktree {}", path.display()),
            Action::RemoveLock { path } => {
                write!(f, "remove {}, left by a killed process", path.display())
            }
            Action::DeleteBranch { name, tip, safe } => {
                let why = match safe {
                    Safe::ReachableFrom(r) => format!("in {}", r.trim_start_matches("refs/heads/")),
                    Safe::SquashLanded(c) => format!("squash-landed as {}", short(c)),
                };
                write!(
                    f,
                    "delete branch {} ({}, {why})",
                    name.trim_start_matches("refs/heads/"),
                    short(tip)
                )
            }
            Action::LeaveBranch { name, checked_out } => write!(
                f,
                "leave branch {}: it is checked out at {}",
                name.trim_start_matches("refs/heads/"),
                checked_out.display()
            ),
            Action::PruneWorktrees { ids } => write!(
                f,
                "prune the metadata of worktrees whose directory is gone: {}",
                ids.join(", ")
            ),
            Action::DropKeepRef { name, tip, target } => write!(
                f,
                "drop {name} ({}, already in {})",
                short(tip),
                target.trim_start_matches("refs/heads/")
            ),
            Action::PruneTranscripts { swarm, path, age } => write!(
                f,
                "remove the transcripts of swarm {swarm}, ended {age} ago: {}",
                path.display()
            ),
            Action::PruneSwarmDir { swarm, path, age } => write!(
                f,
                "remove the files of swarm {swarm}, ended {age} ago: {}",
                path.display()
            ),
            Action::RemoveLiveStatus { swarm, path } => write!(
                f,
                "remove the status file of swarm {swarm}, which is not running: {}",
                path.display()
            ),
            Action::Skipped { what, why } => write!(f, "did not {what}: {why}"),
            Action::Failed { what, why, .. } => write!(f, "could not {what}: {why}"),
        }
    }
}
