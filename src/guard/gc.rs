//! `gc`: cleans up after swarms that are no longer running, without ever losing work.
//!
//! Two phases. [`plan`] looks at everything and returns a [`Plan`]: each step with what it
//! found (a worktree's HEAD and uncommitted state, a branch's tip and why it may go, …),
//! changing nothing; `--dry-run` prints [`Plan::actions`]. [`apply`] does the steps in order,
//! each re-checking right before it changes anything that its swarm is still not running and
//! that what it was planned on still holds (a worktree whose HEAD moved is left alone and
//! said so; a branch deletion is a compare-and-swap on the tip it kept). A step that depends
//! on an earlier one says so: a branch checked out in a worktree gc retires is deleted only
//! if that worktree went, with the leftovers commit as its tip when one was made.
//!
//! The steps, in order: claims whose owner is gone go back to pending (their branch kept, as
//! every command's recovery does, `claims`); the worktrees of finished swarms are removed,
//! uncommitted changes committed first (`worktrees`); their worker branches are deleted
//! (`branches`); metadata of worktrees whose directory is gone is pruned; keep refs the
//! target already contains are dropped; the transcripts and registry directories of swarms
//! that ended long ago, and the `status.json` of killed ones, are removed (`dirs`). Which
//! swarms run is `swarms`' answer; a running swarm's worktrees, branches, claims, keep refs
//! and files are never touched.
//!
//! The rule that makes it safe is in `safety`: a commit is only let go of when the target
//! or a keep ref holds it, or its work was squash-landed; anything else is moved under
//! `refs/oompa/keep/<swarm>/<worker>/gc` first. Never prints.

mod action;
mod branches;
mod claims;
mod dirs;
mod safety;
mod swarms;
mod worktrees;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub use action::Action;
pub use safety::why_safe;

use super::{KEEP_PREFIX, Settings, WORKER_BRANCH_PREFIX, parse_worker_branch};
use crate::git::{GitError, ObjectId, RefUpdate, Repo, cli};
use crate::store::QueueError;
use swarms::Swarms;
use worktrees::Outcome;

/// The label of the keep refs gc writes: `refs/oompa/keep/<swarm>/<worker>/gc[-N]`.
const GC_LABEL: &str = "gc";

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Why a commit may be let go of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Safe {
    /// Reachable from the named ref (the target or a keep ref).
    ReachableFrom(String),
    /// Its work landed as this squash commit.
    SquashLanded(ObjectId),
}

/// What gc is going to do, worked out before anything changes.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    steps: Vec<Step>,
}

#[derive(Debug, Clone)]
enum Step {
    Claims(claims::Release),
    Worktree(worktrees::Retire),
    Branch(branches::Retire),
    /// Nothing to do but say it (a branch left checked out, a step that failed to plan).
    Said(Action),
    /// Metadata of worktrees whose directory is gone: all of it (`git worktree prune`), or,
    /// when a running swarm's is among them, each of the others on its own (by path).
    PruneWorktrees {
        ids: Vec<String>,
        one_by_one: Option<Vec<PathBuf>>,
    },
    DropKeep {
        swarm: String,
        name: String,
        tip: ObjectId,
        target: String,
    },
    Dir(dirs::Prune),
}

impl Plan {
    /// What the plan would do, in order (what `--dry-run` prints).
    pub fn actions(&self) -> Vec<Action> {
        let mut out = Vec::new();
        for step in &self.steps {
            match step {
                Step::Claims(r) => out.extend(r.planned()),
                Step::Worktree(w) => out.extend(w.planned()),
                Step::Branch(b) => out.extend(b.planned()),
                Step::Said(a) => out.push(a.clone()),
                Step::PruneWorktrees { ids, .. } => {
                    out.push(Action::PruneWorktrees { ids: ids.clone() })
                }
                Step::DropKeep {
                    name, tip, target, ..
                } => out.push(Action::DropKeepRef {
                    name: name.clone(),
                    tip: *tip,
                    target: target.clone(),
                }),
                Step::Dir(d) => out.push(d.planned()),
            }
        }
        out
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// Runs gc (or, with `dry_run`, only plans it) and returns what it did (would do), in order.
pub fn run(repo: &Repo, settings: &Settings, dry_run: bool) -> Result<Vec<Action>, GcError> {
    let plan = plan(repo, settings)?;
    Ok(if dry_run {
        plan.actions()
    } else {
        apply(repo, settings, &plan)
    })
}

/// Looks at everything and plans each step, changing nothing. Each worktree, branch and keep
/// ref is planned on its own: one that cannot be looked at is an [`Action::Failed`] step
/// saying why. Errors are only what stops gc from knowing what to do (the queue or the
/// worktree list cannot be read).
pub fn plan(repo: &Repo, settings: &Settings) -> Result<Plan, GcError> {
    // Listed before the swarms are read: a swarm that owns anything listed is known to them.
    let checkouts = repo.checkouts()?;
    let branches = repo.refs_with_prefix(WORKER_BRANCH_PREFIX)?;
    let keep_refs = repo.refs_with_prefix(KEEP_PREFIX)?;
    let stale = repo.stale_worktrees_at()?;
    let swarms = Swarms::load(repo)?;
    let mut steps = Vec::new();
    let mut planned_keeps = Vec::new();
    match claims::plan(repo, settings) {
        Ok(Some(r)) => {
            planned_keeps = r.keeps.clone();
            steps.push(Step::Claims(r));
        }
        Ok(None) => {}
        Err(e) => steps.push(Step::Said(Action::failed(
            "return the claims of gone owners to pending",
            &e,
        ))),
    }
    let seen = plan_worktrees(repo, settings, &swarms, checkouts, &mut steps);
    for (name, tip) in branches {
        plan_branch(
            repo,
            settings,
            &swarms,
            &seen,
            (name, tip),
            &planned_keeps,
            &mut steps,
        );
    }
    steps.extend(plan_prune_stale(settings, &swarms, stale));
    for (name, tip) in keep_refs {
        match plan_drop_keep(repo, settings, &swarms, &name, tip) {
            Ok(Some(step)) => steps.push(step),
            Ok(None) => {}
            Err(e) => steps.push(Step::Said(Action::failed(format!("drop {name}"), &e))),
        }
    }
    for d in dirs::plan(repo, &swarms) {
        steps.push(d.map_or_else(Step::Said, Step::Dir));
    }
    Ok(Plan { steps })
}

/// Does the steps of `plan` in order, each re-checked first, and returns what was done (and
/// what was skipped or failed, said as such).
pub fn apply(repo: &Repo, settings: &Settings, plan: &Plan) -> Vec<Action> {
    let swarms = match Swarms::load(repo) {
        Ok(s) => s,
        Err(e) => return vec![Action::failed("read which swarms are running", &e)],
    };
    let mut out = Vec::new();
    let mut retired: BTreeMap<PathBuf, Outcome> = BTreeMap::new();
    for step in &plan.steps {
        match step {
            Step::Claims(r) => match r.apply(repo, settings) {
                Ok(done) => out.extend(done),
                Err(e) => out.push(Action::failed(
                    "return the claims of gone owners to pending",
                    &e,
                )),
            },
            Step::Worktree(w) => {
                let outcome = w.apply(repo, settings, &swarms, &mut out);
                retired.insert(w.path.clone(), outcome);
            }
            Step::Branch(b) => {
                let worktree = b
                    .after_worktree
                    .as_ref()
                    .map(|p| retired.get(p).copied().unwrap_or(Outcome::Left));
                b.apply(repo, settings, &swarms, worktree, &mut out);
            }
            Step::Said(a) => out.push(a.clone()),
            Step::PruneWorktrees { .. } => prune_stale_now(repo, settings, &swarms, &mut out),
            Step::DropKeep {
                swarm,
                name,
                tip,
                target,
            } => drop_keep(repo, &swarms, (swarm, name, *tip), target, &mut out),
            Step::Dir(d) => d.apply(&swarms, &mut out),
        }
    }
    remove_empty_dirs(&settings.worktree_dir, &swarms);
    out
}

/// What planning the worktrees leaves for the branch steps to know.
#[derive(Default)]
struct Seen {
    /// Branches checked out in a worktree gc leaves alone (a person's, a running swarm's).
    checked_out: BTreeMap<String, PathBuf>,
    /// Branches checked out in a worktree gc retires: its path and whether it has
    /// uncommitted changes.
    retiring: BTreeMap<String, (PathBuf, bool)>,
    /// Branches of worktrees gc could not look at.
    failed: BTreeSet<String>,
}

/// A step for each worktree of a finished swarm.
fn plan_worktrees(
    repo: &Repo,
    settings: &Settings,
    swarms: &Swarms,
    checkouts: Vec<crate::git::worktree::Checkout>,
    steps: &mut Vec<Step>,
) -> Seen {
    let mut seen = Seen::default();
    for co in checkouts.into_iter().skip(1) {
        let owner = worktrees::owner(settings, &co.path, co.branch.as_deref());
        let Some((swarm, worker)) = owner.filter(|(s, _)| swarms.is_finished(s)) else {
            if let Some(b) = co.branch {
                seen.checked_out.insert(b, co.path);
            }
            continue;
        };
        match worktrees::examine(repo, settings, swarms, (&swarm, &worker), &co.path) {
            Ok(r) => {
                if let Some(b) = co.branch {
                    seen.retiring.insert(b, (co.path.clone(), r.dirty));
                }
                steps.push(Step::Worktree(r));
            }
            Err(e) => {
                let what = format!("remove worktree {}", co.path.display());
                steps.push(Step::Said(Action::failed(what, &e)));
                // Still checked out there: its branch stays too.
                seen.failed.extend(co.branch);
            }
        }
    }
    seen
}

/// The step for one worker branch, if its swarm is finished.
fn plan_branch(
    repo: &Repo,
    settings: &Settings,
    swarms: &Swarms,
    seen: &Seen,
    (name, tip): (String, ObjectId),
    planned_keeps: &[(String, ObjectId)],
    steps: &mut Vec<Step>,
) {
    let Some((swarm, worker)) = parse_worker_branch(&name) else {
        return;
    };
    if !swarms.is_finished(swarm) || seen.failed.contains(&name) {
        return;
    }
    if let Some(path) = seen.checked_out.get(&name) {
        steps.push(Step::Said(Action::LeaveBranch {
            name: name.clone(),
            checked_out: path.clone(),
        }));
        return;
    }
    // A worker branch at a blob or a tree holds no work gc could keep: doctor repairs it.
    if let Ok(Some(wrong)) = crate::guard::ref_kinds::check(repo, &name) {
        steps.push(Step::Said(Action::Failed {
            what: format!("delete branch {}", name.trim_start_matches("refs/heads/")),
            why: wrong.describe(),
            hint: Some(wrong.fix()),
        }));
        return;
    }
    let checkout = seen
        .retiring
        .get(&name)
        .map(|(path, leftovers)| branches::Checkout {
            path,
            leftovers: *leftovers,
        });
    let planned = branches::examine(
        repo,
        settings,
        swarms,
        (swarm, worker),
        (&name, tip),
        checkout,
        planned_keeps,
    );
    steps.push(match planned {
        Ok(b) => Step::Branch(b),
        Err(e) => {
            let what = format!("delete branch {}", name.trim_start_matches("refs/heads/"));
            Step::Said(Action::failed(what, &e))
        }
    });
}

/// The metadata of worktrees whose directory is gone, but a running swarm's (its worker
/// recreates its own worktree and drops the registration itself).
fn plan_prune_stale(
    settings: &Settings,
    swarms: &Swarms,
    stale: Vec<(String, Option<PathBuf>)>,
) -> Option<Step> {
    let running = |path: &Option<PathBuf>| {
        path.as_deref()
            .and_then(|p| worktrees::owner(settings, p, None))
            .is_some_and(|(s, _)| !swarms.is_finished(&s))
    };
    if !stale.iter().any(|(_, p)| running(p)) {
        let ids: Vec<String> = stale.into_iter().map(|(id, _)| id).collect();
        return (!ids.is_empty()).then_some(Step::PruneWorktrees {
            ids,
            one_by_one: None,
        });
    }
    let (ids, paths): (Vec<String>, Vec<PathBuf>) = stale
        .into_iter()
        .filter(|(_, p)| !running(p))
        .filter_map(|(id, p)| Some((id, p?)))
        .unzip();
    (!ids.is_empty()).then_some(Step::PruneWorktrees {
        ids,
        one_by_one: Some(paths),
    })
}

/// Prunes the metadata of worktrees whose directory is gone now, planned again (a running
/// swarm's may have gone since the plan).
fn prune_stale_now(repo: &Repo, settings: &Settings, swarms: &Swarms, out: &mut Vec<Action>) {
    let stale = match repo.stale_worktrees_at() {
        Ok(s) => s,
        Err(e) => {
            let what = "prune the metadata of worktrees whose directory is gone";
            out.push(Action::failed(what, &e.into()));
            return;
        }
    };
    match plan_prune_stale(settings, swarms, stale) {
        Some(Step::PruneWorktrees {
            ids,
            one_by_one: Some(paths),
        }) => prune_stale_one_by_one(repo, &ids, &paths, out),
        Some(_) => prune_stale_worktrees(repo, out),
        None => {}
    }
}

/// Prunes the metadata of the worktrees at `paths` if their directory is still gone.
fn prune_stale_one_by_one(repo: &Repo, ids: &[String], paths: &[PathBuf], out: &mut Vec<Action>) {
    let mut pruned = Vec::new();
    for (id, path) in ids.iter().zip(paths) {
        match repo.prune_worktree(path) {
            Ok(true) => pruned.push(id.clone()),
            Ok(false) => {}
            Err(e) => {
                let what = format!("prune the metadata of worktree {id}, whose directory is gone");
                out.push(Action::failed(what, &e.into()));
            }
        }
    }
    if !pruned.is_empty() {
        out.push(Action::PruneWorktrees { ids: pruned });
    }
}

/// Prunes the metadata of worktrees whose directory is gone (those gone now).
fn prune_stale_worktrees(repo: &Repo, out: &mut Vec<Action>) {
    let stale = match repo.stale_worktrees() {
        Ok(s) if s.is_empty() => return,
        Ok(s) => s,
        Err(e) => {
            let what = "prune the metadata of worktrees whose directory is gone";
            out.push(Action::failed(what, &e.into()));
            return;
        }
    };
    match cli::worktree_prune(&repo.main_workdir()) {
        Ok(()) => out.push(Action::PruneWorktrees { ids: stale }),
        Err(e) => out.push(Action::failed(
            format!(
                "prune the metadata of worktrees whose directory is gone ({})",
                stale.join(", ")
            ),
            &e.into(),
        )),
    }
}

/// A keep ref the target of its swarm already contains (never a running swarm's).
fn plan_drop_keep(
    repo: &Repo,
    settings: &Settings,
    swarms: &Swarms,
    name: &str,
    tip: ObjectId,
) -> Result<Option<Step>, GcError> {
    let swarm = name
        .strip_prefix(KEEP_PREFIX)
        .and_then(|r| r.split('/').next())
        .unwrap_or("");
    if !swarms.is_finished(swarm) {
        return Ok(None);
    }
    let Some(target) = swarms.target_of(swarm, settings) else {
        return Ok(None);
    };
    let Some(target_tip) = repo.read_ref(&target)? else {
        return Ok(None);
    };
    if !repo.is_commit(tip)? || !repo.is_ancestor(tip, target_tip)? {
        return Ok(None);
    }
    Ok(Some(Step::DropKeep {
        swarm: swarm.to_string(),
        name: name.to_string(),
        tip,
        target,
    }))
}

/// Drops a keep ref if its swarm is still finished and the target still contains it (the
/// target may have been reset since); a compare-and-swap on its tip.
fn drop_keep(
    repo: &Repo,
    swarms: &Swarms,
    (swarm, name, tip): (&str, &str, ObjectId),
    target: &str,
    out: &mut Vec<Action>,
) {
    let what = format!("drop {name}");
    if !swarms.still_finished(swarm) {
        out.push(Action::skipped(what, format!("swarm {swarm} is running")));
        return;
    }
    let contained = repo
        .read_ref(target)
        .and_then(|t| t.map_or(Ok(false), |t| repo.is_ancestor(tip, t)));
    match contained {
        Ok(true) => {}
        Ok(false) => {
            let why = format!("{target} no longer contains it");
            out.push(Action::skipped(what, why));
            return;
        }
        Err(e) => {
            out.push(Action::failed(what, &e.into()));
            return;
        }
    }
    let dropped = repo.transaction(&[RefUpdate {
        name: name.to_string(),
        expected: Some(tip),
        new: None,
        message: "oompa: gc of kept work that has landed".into(),
    }]);
    match dropped {
        Ok(_) => out.push(Action::DropKeepRef {
            name: name.to_string(),
            tip,
            target: target.to_string(),
        }),
        Err(e) => out.push(Action::failed(what, &e.into())),
    }
}

/// Removes the empty directories of finished swarms under the worktree directory (whose
/// worktrees gc removed, or whose creation a kill cut short): only those named after a swarm
/// gc knows, never another empty directory that happens to be there.
fn remove_empty_dirs(root: &Path, swarms: &Swarms) {
    for s in &swarms.records {
        if swarms.still_finished(&s.id) {
            let _ = std::fs::remove_dir(root.join(&s.id));
        }
    }
}
