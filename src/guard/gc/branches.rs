//! Deleting the worker branches of finished swarms, each kept first unless the target or a
//! keep ref holds its tip (or its work was squash-landed). A branch checked out in a worktree
//! gc retires waits for that step: its tip is the leftovers commit when one is made.

use std::path::{Path, PathBuf};

use super::safety::{keep, still_holds, why_safe};
use super::swarms::Swarms;
use super::worktrees::{Outcome, remove_free_lock};
use super::{Action, GC_LABEL, GcError, Safe};
use crate::git::{ObjectId, RefUpdate, Repo};
use crate::settings::Settings;
use crate::store::keep as keeps;

/// One worker branch to delete, as it was when gc looked.
#[derive(Debug, Clone)]
pub(crate) struct Retire {
    pub name: String,
    swarm: String,
    worker: String,
    /// Its tip when planned.
    tip: ObjectId,
    /// Checked out in a worktree gc retires first (by path): deleted only if that worktree
    /// went, and with the leftovers commit as its tip if one was made.
    pub after_worktree: Option<PathBuf>,
    /// Uncommitted changes in that worktree: the tip will be a new commit, to keep.
    leftovers: bool,
    /// Its ref lock, left by a killed `git commit` (none when its worktree step removes it).
    lock: Option<PathBuf>,
    /// Why the tip may go; `None`: it is kept first, as `keep_ref`.
    safe: Option<Safe>,
    keep_ref: Option<String>,
}

/// What the branch step needs to know about the worktree step planned before it.
pub(super) struct Checkout<'a> {
    pub path: &'a Path,
    pub leftovers: bool,
}

/// Looks at one worker branch of a finished swarm. `planned_keeps`: keep refs an earlier step
/// writes (a released claim's branch), which hold the tip as well as existing ones.
#[allow(clippy::too_many_arguments)]
pub(super) fn examine(
    repo: &Repo,
    settings: &Settings,
    swarms: &Swarms,
    (swarm, worker): (&str, &str),
    (name, tip): (&str, ObjectId),
    checkout: Option<Checkout<'_>>,
    planned_keeps: &[(String, ObjectId)],
) -> Result<Retire, GcError> {
    let leftovers = checkout.as_ref().is_some_and(|c| c.leftovers);
    let mut safe = None;
    if !leftovers {
        safe = why_safe(
            repo,
            swarms.target_of(swarm, settings).as_deref(),
            swarm,
            worker,
            tip,
        )?;
        if safe.is_none() {
            for (k, kept) in planned_keeps {
                if *kept == tip || repo.is_ancestor(tip, *kept)? {
                    safe = Some(Safe::ReachableFrom(k.clone()));
                    break;
                }
            }
        }
    }
    let keep_ref = match (&safe, leftovers) {
        (Some(_), _) => None,
        (None, true) => Some(keeps::free_name(repo, swarm, worker, GC_LABEL)?),
        (None, false) => Some(keeps::planned(repo, swarm, worker, tip, GC_LABEL)?),
    };
    Ok(Retire {
        name: name.to_string(),
        swarm: swarm.to_string(),
        worker: worker.to_string(),
        tip,
        lock: checkout
            .is_none()
            .then(|| free_ref_lock(repo, name))
            .flatten(),
        after_worktree: checkout.map(|c| c.path.to_path_buf()),
        leftovers,
        safe,
        keep_ref,
    })
}

/// The lock of a finished swarm's ref (`refs/heads/oompa/<swarm>/<worker>.lock`) when no
/// process has it open: a `git commit` or `git reset` killed with its swarm left it. Nothing
/// updates a finished swarm's branch any more, and git holds ref locks without keeping them
/// open, so it has no owner.
pub(super) fn free_ref_lock(repo: &Repo, name: &str) -> Option<PathBuf> {
    let path = repo.common_dir().join(format!("{name}.lock"));
    let lock = crate::git::LockFile::inspect(&path)?;
    lock.holders().is_empty().then_some(path)
}

impl Retire {
    fn short(&self) -> &str {
        self.name.trim_start_matches("refs/heads/")
    }

    /// What deleting it would do, in order.
    pub fn planned(&self) -> Vec<Action> {
        let mut out = Vec::new();
        if let Some(l) = &self.lock {
            out.push(Action::RemoveLock { path: l.clone() });
        }
        let safe = match (&self.safe, &self.keep_ref) {
            (Some(s), _) => s.clone(),
            (None, Some(k)) => {
                let (what, commit) = if self.leftovers {
                    (
                        format!("branch {} with the leftovers commit", self.short()),
                        None,
                    )
                } else {
                    (format!("branch {}", self.short()), Some(self.tip))
                };
                out.push(Action::Keep {
                    what,
                    commit,
                    keep_ref: k.clone(),
                });
                Safe::ReachableFrom(k.clone())
            }
            (None, None) => return out,
        };
        out.push(Action::DeleteBranch {
            name: self.name.clone(),
            tip: self.tip,
            safe,
        });
        out
    }

    /// Deletes it if its swarm is still finished and its worktree (if any) went. Its tip must
    /// be the planned one (or the leftovers commit); a branch that moved otherwise is looked
    /// at again. The tip is kept first unless what made it safe still holds it, and the
    /// deletion is a compare-and-swap on that tip.
    pub fn apply(
        &self,
        repo: &Repo,
        settings: &Settings,
        swarms: &Swarms,
        worktree: Option<Outcome>,
        out: &mut Vec<Action>,
    ) {
        let what = format!("delete branch {}", self.short());
        let expected = match worktree {
            None => self.tip,
            Some(Outcome::Left) => return, // still checked out there; said already
            Some(Outcome::Retired(new)) => new.unwrap_or(self.tip),
        };
        if !swarms.still_finished(&self.swarm) {
            out.push(Action::swarm_running(what, &self.swarm));
            return;
        }
        if let Err(e) = self.delete(repo, settings, swarms, expected, out) {
            out.push(Action::failed(what, &e));
        }
    }

    fn delete(
        &self,
        repo: &Repo,
        settings: &Settings,
        swarms: &Swarms,
        expected: ObjectId,
        out: &mut Vec<Action>,
    ) -> Result<(), GcError> {
        if let Some(l) = &self.lock {
            remove_free_lock(l, out)?;
        }
        let Some(tip) = repo.read_ref(&self.name)? else {
            return Ok(()); // deleted since: nothing to do
        };
        let moved = tip != expected;
        let safe = match &self.safe {
            Some(s) if !moved && still_holds(repo, s, tip)? => Some(s.clone()),
            _ if moved || self.safe.is_some() => {
                let target = swarms.target_of(&self.swarm, settings);
                why_safe(repo, target.as_deref(), &self.swarm, &self.worker, tip)?
            }
            _ => None,
        };
        let safe = match safe {
            Some(s) => s,
            None => {
                let keep_ref = keep(repo, &self.swarm, &self.worker, tip)?;
                out.push(Action::Keep {
                    what: format!("branch {}", self.short()),
                    commit: Some(tip),
                    keep_ref: keep_ref.clone(),
                });
                Safe::ReachableFrom(keep_ref)
            }
        };
        repo.transaction(&[RefUpdate {
            name: self.name.clone(),
            expected: Some(tip),
            new: None,
            message: "oompa: gc of a finished swarm".into(),
        }])?;
        out.push(Action::DeleteBranch {
            name: self.name.clone(),
            tip,
            safe,
        });
        Ok(())
    }
}
