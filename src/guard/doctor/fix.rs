//! The repairs doctor makes on its own (`--fix`), and `--accept`.

use std::path::{Path, PathBuf};

use super::Fix;
use crate::git::{GitError, LockFile, Repo, cli};
use crate::guard::invariants::{self, Violation};
use crate::guard::{Settings, hooks, short};
use crate::store::following::FollowRecord;
use crate::store::layout::{self, EXCLUDE_DECORATION};
use crate::store::notes::{NOTES_REF, Notes, NotesError};
use crate::store::{QUEUE_REF, Queue, QueueError};

/// `doctor --accept`: takes the current value of a replaced or deleted queue or cycle log as
/// the known one, and says what it accepted. Refs that descend from what git oompa knew are
/// left alone.
pub fn accept(repo: &Repo) -> Result<Vec<String>, FixError> {
    let mut done = Vec::new();
    if let Some(Violation::QueueReplaced { known, .. }) = invariants::queue_damaged(repo) {
        done.push(match Queue::new(repo).accept()? {
            Some(tip) => format!(
                "accepted {QUEUE_REF} at {} in place of {}",
                short(&tip),
                short(&known)
            ),
            None => format!(
                "accepted that {QUEUE_REF} is gone (it was {})",
                short(&known)
            ),
        });
    }
    let notes = invariants::notes_lost(repo);
    if let Some(Violation::NotesReplaced { known, .. }) = notes
        .iter()
        .find(|v| matches!(v, Violation::NotesReplaced { .. }))
    {
        done.push(match Notes::new(repo).accept()? {
            Some(tip) => format!(
                "accepted {NOTES_REF} at {} in place of {}",
                short(&tip),
                short(known)
            ),
            None => format!(
                "accepted that {NOTES_REF} is gone (it was {})",
                short(known)
            ),
        });
    }
    if done.is_empty() {
        done.push(format!(
            "nothing to accept: {QUEUE_REF} and {NOTES_REF} descend from what git oompa knew"
        ));
    }
    Ok(done)
}

/// What went wrong applying a fix.
#[derive(Debug, thiserror::Error)]
pub enum FixError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Hooks(#[from] hooks::HookError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Notes(#[from] NotesError),
    #[error("nothing to put back: no earlier commit of {0} is known")]
    NothingToRestore(&'static str),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Applies one fix and says what it did.
pub fn apply(repo: &Repo, settings: &Settings, fix: &Fix) -> Result<String, FixError> {
    match fix {
        Fix::InstallHooks => install_hooks(repo, settings),
        Fix::PruneWorktrees => {
            cli::worktree_prune(&repo.main_workdir())?;
            Ok("pruned the metadata of worktrees whose directory is gone".into())
        }
        Fix::RecoverClaims => {
            let (rec, kept) = crate::store::recover::recover(repo, settings.target_ref.as_deref())?;
            let ids: Vec<String> = rec.released.iter().map(|(id, _)| id.to_string()).collect();
            let mut msg = format!("returned to pending: {}", ids.join(", "));
            if !kept.is_empty() {
                msg.push_str(&format!("; their work is kept as {}", kept.join(", ")));
            }
            Ok(msg)
        }
        Fix::MergeNotes(lost) => {
            let tip = Notes::new(repo).merge_back(*lost)?;
            Ok(format!(
                "merged the cycle records up to {} back into {NOTES_REF} (now {})",
                short(lost),
                short(&tip)
            ))
        }
        Fix::RestoreNotes => restore_notes(repo),
        Fix::RestoreQueue => restore_queue(repo, settings),
        Fix::ResolveDuplicate(id) => match Queue::new(repo).resolve_duplicate(id, "doctor")? {
            Some(kept) => Ok(format!(
                "kept {} and dropped the other entries of {id}",
                kept.path(id)
            )),
            None => Ok(format!("{id} is in one state already")),
        },
        Fix::RemoveStaleLock(path) => remove_stale_lock(path),
        Fix::FollowTarget => {
            let done: Vec<String> = crate::guard::checkout::finish(repo, settings, true)
                .iter()
                .map(crate::guard::checkout::Follow::describe)
                .collect();
            if done.is_empty() {
                // Nothing to report: the record was all that was left, or a landing started
                // meanwhile (it finishes the step itself).
                return Ok(if FollowRecord::all(repo).is_empty() {
                    "nothing of the landing cut short was left half done".into()
                } else {
                    "left it to the landing running now".into()
                });
            }
            Ok(done.join("; "))
        }
        Fix::RepairRefKind(name) => Ok(crate::guard::ref_kinds::repair(repo, name)?),
        Fix::RestoreTarget(name, last) => {
            Ok(crate::guard::target_gone::restore(repo, name, *last)?)
        }
        Fix::ExcludeDecoration => {
            repo.add_local_config("log", "excludeDecoration", EXCLUDE_DECORATION)?;
            Ok(format!(
                "added {EXCLUDE_DECORATION} to log.excludeDecoration in .git/config"
            ))
        }
    }
}

/// Everything `git oompa hooks install` does, and what of it changed anything.
fn install_hooks(repo: &Repo, settings: &Settings) -> Result<String, FixError> {
    let done = hooks::install_all(repo, settings)?;
    let mut what = vec!["installed the hooks".to_string()];
    if !done.moved.is_empty() {
        what.push("moved reference-transaction out of your hooks directory".into());
    }
    if done.extension {
        what.push("turned on extensions.worktreeConfig".into());
    }
    if !done.workers.is_empty() {
        what.push(format!(
            "pointed {} worker worktree(s) at the guard",
            done.workers.len()
        ));
    }
    Ok(what.join("; "))
}

/// Points the cycle log back at its last commit, keeping what it pointed at.
fn restore_notes(repo: &Repo) -> Result<String, FixError> {
    let Some(r) = Notes::new(repo).restore()? else {
        return Err(FixError::NothingToRestore(NOTES_REF));
    };
    Ok(format!(
        "pointed {NOTES_REF} back at {}{}",
        short(&r.tip),
        r.found
            .map(|f| format!(
                "; what it pointed at is kept as {}",
                layout::replaced_ref(&format!("notes-{}", short(&f)))
            ))
            .unwrap_or_default()
    ))
}

/// Points the queue back at the last tip git oompa knew, keeping the replacement, then
/// returns the claims of gone owners the queue put back holds.
fn restore_queue(repo: &Repo, settings: &Settings) -> Result<String, FixError> {
    let Some(r) = Queue::new(repo).restore()? else {
        return Err(FixError::NothingToRestore(QUEUE_REF));
    };
    let mut msg = format!(
        "pointed {QUEUE_REF} back at {}{}",
        short(&r.tip),
        r.kept
            .map(|k| format!("; the value it replaced is kept as {k}"))
            .unwrap_or_default()
    );
    // The queue put back may hold claims whose owners are gone by now.
    let (rec, kept) = crate::store::recover::recover(repo, settings.target_ref.as_deref())?;
    if !rec.released.is_empty() {
        let ids: Vec<String> = rec.released.iter().map(|(id, _)| id.to_string()).collect();
        msg.push_str(&format!(
            "; returned claims of gone owners to pending: {}",
            ids.join(", ")
        ));
    }
    if !kept.is_empty() {
        msg.push_str(&format!("; their work is kept as {}", kept.join(", ")));
    }
    Ok(msg)
}

/// Removes a lock file when it is still stale right now.
fn remove_stale_lock(path: &Path) -> Result<String, FixError> {
    let Some(l) = LockFile::inspect(path) else {
        return Ok(format!("{} is gone already", path.display()));
    };
    let removed = l.remove_if_stale().map_err(|e| FixError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    Ok(if removed {
        format!("removed the stale lock {}", path.display())
    } else {
        format!("left {}: it is in use again", path.display())
    })
}
