//! Retiring the worktrees of finished swarms: planned as what each holds (HEAD, locks left by
//! killed processes, uncommitted changes), applied only while it still holds exactly that.
//!
//! A swarm's worktree is one under `<worktree dir>/<swarm>/`, or, for a worktree dir that has
//! changed since (or a swarm run with another config), one at `…/<swarm>/<worker>` with the
//! worker branch `oompa/<swarm>/<worker>` checked out. A person's own worktree is never
//! removed, even with a worker branch checked out.

use std::path::{Path, PathBuf};

use super::safety::{gate_candidate_covered, keep, why_safe};
use super::swarms::Swarms;
use super::{Action, GC_LABEL, GcError};
use crate::git::{ObjectId, Repo, cli};
use crate::settings::Settings;
use crate::store::keep as keeps;
use crate::store::layout::parse_worker_branch;

/// One worktree to retire, as it was when gc looked.
#[derive(Debug, Clone)]
pub(crate) struct Retire {
    pub swarm: String,
    pub worker: String,
    pub path: PathBuf,
    /// The branch checked out (full name); `None` when detached.
    pub branch: Option<String>,
    /// HEAD's commit.
    head: Option<ObjectId>,
    /// Locks no process has open, in its git directory and of its branch.
    locks: Vec<PathBuf>,
    /// Uncommitted changes, committed on its branch (or HEAD) before it goes.
    pub dirty: bool,
    /// A detached HEAD (or a branch that is not a worker branch) with unmerged work, or with
    /// uncommitted changes: kept here, as the branch steps do not look after it.
    keep: Option<(String, String)>,
    /// The `locked` file of a creation a kill cut short.
    creation_lock: Option<PathBuf>,
}

/// How retiring one went, for the step of its branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Removed; the branch's tip after the leftovers commit, when one was made.
    Retired(Option<ObjectId>),
    /// Not removed (said why): its branch stays, as it is still checked out.
    Left,
}

/// The swarm a checkout belongs to, if it is a swarm's worktree: `(swarm, worker)`.
pub(super) fn owner(
    settings: &Settings,
    path: &Path,
    branch: Option<&str>,
) -> Option<(String, String)> {
    let path = canonical(path);
    let under_dir = path
        .strip_prefix(canonical(&settings.worktree_dir))
        .ok()
        .and_then(|rest| rest.components().next())
        .map(|c| c.as_os_str().to_string_lossy().into_owned());
    let from_branch = branch.and_then(parse_worker_branch);
    let worker_of = |swarm: &str| match from_branch {
        Some((s, w)) if s == swarm => w.to_string(),
        _ => path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "worktree".into()),
    };
    if let Some(swarm) = under_dir {
        let worker = worker_of(&swarm);
        return Some((swarm, worker));
    }
    // Outside the worktree dir: only where a swarm puts its worker's worktree.
    let (swarm, worker) = from_branch?;
    let parent = path.parent()?;
    (path.file_name()? == worker && parent.file_name()? == swarm)
        .then(|| (swarm.to_string(), worker.to_string()))
}

/// Looks at one worktree of a finished swarm.
pub(super) fn examine(
    repo: &Repo,
    settings: &Settings,
    swarms: &Swarms,
    (swarm, worker): (&str, &str),
    path: &Path,
) -> Result<Retire, GcError> {
    let wt = Repo::discover(path).ok();
    let branch = wt
        .as_ref()
        .and_then(|w| w.head_state().ok())
        .and_then(|h| h.branch);
    let head = wt.as_ref().and_then(|w| w.rev_parse("HEAD").ok());
    let mut locks = Vec::new();
    // Locks its killed agent or swarm left in the worktree's own git directory (HEAD.lock,
    // index.lock, ORIG_HEAD.lock): the swarm is not running, so a lock no process has open
    // has no owner, however young. One an agent that outlived its swarm still holds stays:
    // removing the worktree then fails and says so.
    if let Some(wt) = &wt
        && wt.git_dir() != repo.common_dir()
    {
        let free = crate::git::lock::locks_in(wt.git_dir())
            .into_iter()
            .filter(|l| l.holders().is_empty());
        locks.extend(free.map(|l| l.path));
    }
    if let Some(b) = &branch {
        locks.extend(super::branches::free_ref_lock(repo, b));
    }
    let creation_lock = repo.interrupted_creation_lock(path, false)?;
    // A worktree whose creation was cut short has no agent work in it, only a partial
    // checkout: nothing to commit.
    let dirty = creation_lock.is_none()
        && wt
            .as_ref()
            .is_some_and(|w| w.has_local_changes().unwrap_or(true));
    let worker_branch = branch
        .as_deref()
        .is_some_and(|b| parse_worker_branch(b).is_some());
    let mut keep = None;
    if !worker_branch && let Some(head) = head {
        let target = swarms.target_of(swarm, settings);
        if dirty {
            let name = keeps::free_name(repo, swarm, worker, GC_LABEL)?;
            let what = format!(
                "the checkout at {} with its uncommitted changes",
                path.display()
            );
            keep = Some((what, name));
        } else if why_safe(repo, target.as_deref(), swarm, worker, head)?.is_none()
            && !gate_candidate_covered(repo, target.as_deref(), swarm, worker, head, 0)?
        {
            let name = keeps::planned(repo, swarm, worker, head, GC_LABEL)?;
            keep = Some((format!("the checkout at {}", path.display()), name));
        }
    }
    Ok(Retire {
        swarm: swarm.to_string(),
        worker: worker.to_string(),
        path: path.to_path_buf(),
        branch,
        head,
        locks,
        dirty,
        keep,
        creation_lock,
    })
}

impl Retire {
    /// What retiring it would do, in order.
    pub fn planned(&self) -> Vec<Action> {
        let mut out: Vec<Action> = self
            .locks
            .iter()
            .map(|p| Action::RemoveLock { path: p.clone() })
            .collect();
        if self.dirty {
            out.push(Action::CommitLeftovers {
                worktree: self.path.clone(),
            });
        }
        if let Some((what, keep_ref)) = &self.keep {
            out.push(Action::Keep {
                what: what.clone(),
                commit: self.head.filter(|_| !self.dirty),
                keep_ref: keep_ref.clone(),
            });
        }
        if let Some(l) = &self.creation_lock {
            out.push(Action::RemoveLock { path: l.clone() });
        }
        out.push(Action::RemoveWorktree {
            path: self.path.clone(),
        });
        out
    }

    /// Retires it if its swarm is still finished and it still is as planned (same branch,
    /// HEAD and uncommitted state); otherwise leaves it, saying why, with nothing lost.
    pub fn apply(
        &self,
        repo: &Repo,
        settings: &Settings,
        swarms: &Swarms,
        out: &mut Vec<Action>,
    ) -> Outcome {
        let what = format!("remove worktree {}", self.path.display());
        if !self.path.exists() {
            out.push(Action::skipped(what, "it is gone already".into()));
            return Outcome::Left;
        }
        if !swarms.still_finished(&self.swarm) {
            out.push(Action::swarm_running(what, &self.swarm));
            return Outcome::Left;
        }
        let now = examine(
            repo,
            settings,
            swarms,
            (&self.swarm, &self.worker),
            &self.path,
        );
        let changed = match &now {
            Ok(now) => self.changed_in(now),
            Err(e) => Some(e.to_string()),
        };
        if let Some(why) = changed {
            out.push(Action::skipped(
                what,
                format!("it changed since gc looked ({why})"),
            ));
            return Outcome::Left;
        }
        match self.retire(repo, out) {
            Ok(tip) => Outcome::Retired(tip),
            Err(e) => {
                out.push(Action::failed(what, &e));
                Outcome::Left
            }
        }
    }

    /// What differs in `now` from the plan, said for people.
    fn changed_in(&self, now: &Retire) -> Option<String> {
        if now.branch != self.branch {
            Some("another branch is checked out".into())
        } else if now.head != self.head {
            Some("its HEAD moved".into())
        } else if now.dirty != self.dirty {
            Some("its uncommitted changes did".into())
        } else {
            None
        }
    }

    /// The steps: locks, leftovers commit, keep, creation lock, removal. Returns the branch's
    /// tip after the leftovers commit, when one was made.
    fn retire(&self, repo: &Repo, out: &mut Vec<Action>) -> Result<Option<ObjectId>, GcError> {
        for path in &self.locks {
            remove_free_lock(path, out)?;
        }
        let mut head = self.head;
        if self.dirty {
            cli::commit_all(
                &self.path,
                &format!(
                    "Uncommitted work of {} (swarm {})\n\n\
                     Committed by git oompa gc before removing the worktree.",
                    self.worker, self.swarm
                ),
            )?;
            out.push(Action::CommitLeftovers {
                worktree: self.path.clone(),
            });
            head = Some(Repo::discover(&self.path)?.rev_parse("HEAD")?);
        }
        if let (Some((what, _)), Some(h)) = (&self.keep, head) {
            let keep_ref = keep(repo, &self.swarm, &self.worker, h)?;
            out.push(Action::Keep {
                what: what.clone(),
                commit: Some(h),
                keep_ref,
            });
        }
        if let Some(locked) = repo.interrupted_creation_lock(&self.path, true)? {
            out.push(Action::RemoveLock { path: locked });
        }
        repo.remove_worktree(&self.path)?;
        if let Some(parent) = self.path.parent() {
            let _ = std::fs::remove_dir(parent);
        }
        out.push(Action::RemoveWorktree {
            path: self.path.clone(),
        });
        Ok(head.filter(|_| self.dirty))
    }
}

/// Removes a lock planned for removal if no process has it open now (one that does is left:
/// the step that needs it says who holds it).
pub(super) fn remove_free_lock(path: &Path, out: &mut Vec<Action>) -> Result<(), GcError> {
    let Some(lock) = crate::git::LockFile::inspect(path) else {
        return Ok(());
    };
    if !lock.holders().is_empty() {
        return Ok(());
    }
    std::fs::remove_file(path).map_err(|e| GcError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    out.push(Action::RemoveLock {
        path: path.to_path_buf(),
    });
    Ok(())
}

/// `p` with symbolic links resolved, as far as it exists (a worktree whose directory is gone
/// still compares with the worktree directory).
pub(super) fn canonical(p: &Path) -> PathBuf {
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    match (p.parent(), p.file_name()) {
        (Some(parent), Some(name)) if !parent.as_os_str().is_empty() => {
            canonical(parent).join(name)
        }
        _ => p.to_path_buf(),
    }
}
