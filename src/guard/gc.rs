//! `gc`: cleans up after swarms that are no longer running, without ever losing work.
//!
//! In order: claims whose owner is gone go back to pending (their branch kept, as every
//! command's recovery does); the worktrees of finished swarms are removed (uncommitted
//! changes are committed on their branch first); their worker branches are deleted; metadata
//! of worktrees whose directory is gone is pruned; keep refs the target already contains
//! are dropped; the transcripts of swarms that ended long ago are removed
//! ([`super::transcripts`]).
//!
//! The rule that makes it safe: a commit is only let go of when it is reachable from the
//! target or a keep ref, or when its work was squash-landed (a landing commit on the target
//! names its swarm and worker in its trailers, and merging it into the target changes
//! nothing). Anything else is moved under `refs/oompa/keep/<swarm>/<worker>/gc` first. With
//! `dry_run` nothing is written and the same actions are returned. Never prints.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::{KEEP_PREFIX, Settings, WORKER_BRANCH_PREFIX, full_branch, parse_worker_branch, short};
use crate::git::merge::Merge;
use crate::git::{GitError, ObjectId, RefUpdate, Repo, cli};
use crate::store::keep;
use crate::store::queue::hostname;
use crate::store::swarm::{SwarmRecord, pid_alive};
use crate::store::{Queue, QueueError, trailers};

/// How far back the target's first-parent history is searched for a squash landing.
const SQUASH_SEARCH: usize = 2_000;

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
    /// A failed step, from the error that stopped it.
    fn failed(what: impl Into<String>, e: &GcError) -> Action {
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
            Action::Failed { what, why, .. } => write!(f, "could not {what}: {why}"),
        }
    }
}

/// Swarm ids that are not running (finished, crashed, or with no record at all), with the
/// target branch each landed on.
struct Finished {
    targets: BTreeMap<String, Option<String>>,
    running: BTreeSet<String>,
}

impl Finished {
    fn load(repo: &Repo) -> Result<Finished, GcError> {
        let host = hostname();
        let mut targets = BTreeMap::new();
        let mut running = BTreeSet::new();
        for s in Queue::new(repo).swarms()? {
            if is_running(&s, &host) {
                running.insert(s.id.clone());
            } else {
                targets.insert(s.id.clone(), Some(full_branch(&s.target)));
            }
        }
        Ok(Finished { targets, running })
    }

    /// Whether `swarm` is not running; unknown swarms count as finished.
    fn is_finished(&self, swarm: &str) -> bool {
        !self.running.contains(swarm)
    }

    fn target_of(&self, swarm: &str, settings: &Settings) -> Option<String> {
        self.targets
            .get(swarm)
            .cloned()
            .flatten()
            .or_else(|| settings.target_ref.clone())
    }
}

/// Running: not stopped and, on this host, its process is alive (a crashed swarm that no
/// command has noticed yet is not running).
fn is_running(s: &SwarmRecord, host: &str) -> bool {
    s.stopped.is_none() && (s.host != host || pid_alive(s.pid))
}

/// Runs gc (or only plans it, with `dry_run`) and returns what it did, in order. Each
/// worktree, branch and keep ref is dealt with on its own: one that cannot be (a lock left by
/// a killed process, a worktree git cannot remove) is an [`Action::Failed`] saying why, and
/// gc goes on with the others. Errors are only what stops gc from knowing what to do (the
/// queue or the worktree list cannot be read).
pub fn run(repo: &Repo, settings: &Settings, dry_run: bool) -> Result<Vec<Action>, GcError> {
    let mut actions = Vec::new();
    if let Err(e) = release_dead_claims(repo, settings, dry_run, &mut actions) {
        actions.push(Action::failed(
            "return the claims of gone owners to pending",
            &e,
        ));
    }
    let finished = Finished::load(repo)?;
    let worktrees = retire_worktrees(repo, settings, &finished, dry_run, &mut actions)?;
    retire_branches(repo, settings, &finished, &worktrees, dry_run, &mut actions)?;
    prune_stale_worktrees(repo, dry_run, &mut actions)?;
    drop_landed_keeps(repo, settings, &finished, dry_run, &mut actions)?;
    // Transcripts of swarms that ended long ago (never a running swarm's).
    let swarms = Queue::new(repo).swarms().unwrap_or_default();
    super::transcripts::prune(repo, &swarms, &finished.running, dry_run, &mut actions);

    if !dry_run {
        remove_empty_dirs(&settings.worktree_dir);
    }
    Ok(actions)
}

/// What retiring the worktrees left for the branch step to know.
#[derive(Default)]
struct Worktrees {
    /// Branches checked out in a worktree gc leaves alone (a person's, a running swarm's).
    checked_out: BTreeMap<String, PathBuf>,
    /// Branches that get a leftovers commit (in a dry run it is not there to look at).
    with_leftovers: BTreeSet<String>,
    /// Branches of worktrees gc could not remove.
    failed: BTreeSet<String>,
}

/// Worktrees of finished swarms (only under the swarm worktree directory: a person's own
/// worktree is never removed, even if it has a worker branch checked out).
fn retire_worktrees(
    repo: &Repo,
    settings: &Settings,
    finished: &Finished,
    dry_run: bool,
    actions: &mut Vec<Action>,
) -> Result<Worktrees, GcError> {
    let mut seen = Worktrees::default();
    let worktree_root = canonical(&settings.worktree_dir);
    for co in repo.checkouts()?.into_iter().skip(1) {
        let path = canonical(&co.path);
        let swarm = path
            .strip_prefix(&worktree_root)
            .ok()
            .and_then(|rest| rest.components().next())
            .map(|c| c.as_os_str().to_string_lossy().into_owned());
        let ours = swarm.as_deref().is_some_and(|s| finished.is_finished(s));
        if !ours {
            if let Some(b) = &co.branch {
                seen.checked_out.insert(b.clone(), co.path.clone());
            }
            continue;
        }
        let swarm = swarm.expect("checked above");
        let worker = co
            .branch
            .as_deref()
            .and_then(parse_worker_branch)
            .map(|(_, w)| w.to_string())
            .or_else(|| path.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "worktree".into());
        let committed = match retire_worktree(
            repo,
            settings,
            finished,
            (&swarm, &worker),
            &co.path,
            co.branch.as_deref(),
            dry_run,
            actions,
        ) {
            Ok(c) => c,
            Err(e) => {
                actions.push(Action::failed(
                    format!("remove worktree {}", co.path.display()),
                    &e,
                ));
                // Still checked out there: its branch stays too.
                if let Some(b) = &co.branch {
                    seen.failed.insert(b.clone());
                }
                continue;
            }
        };
        if committed && let Some(b) = &co.branch {
            seen.with_leftovers.insert(b.clone());
        }
    }
    Ok(seen)
}

/// Worker branches of finished swarms.
fn retire_branches(
    repo: &Repo,
    settings: &Settings,
    finished: &Finished,
    worktrees: &Worktrees,
    dry_run: bool,
    actions: &mut Vec<Action>,
) -> Result<(), GcError> {
    for (name, tip) in repo.refs_with_prefix(WORKER_BRANCH_PREFIX)? {
        let Some((swarm, worker)) = parse_worker_branch(&name) else {
            continue;
        };
        if !finished.is_finished(swarm) || worktrees.failed.contains(&name) {
            continue;
        }
        if let Some(path) = worktrees.checked_out.get(&name) {
            actions.push(Action::LeaveBranch {
                name: name.clone(),
                checked_out: path.clone(),
            });
            continue;
        }
        let short_name = name.trim_start_matches("refs/heads/").to_string();
        let pending_leftovers = dry_run && worktrees.with_leftovers.contains(&name);
        if let Err(e) = retire_branch(
            repo,
            settings,
            finished,
            (swarm, worker),
            (&name, tip),
            pending_leftovers,
            dry_run,
            actions,
        ) {
            actions.push(Action::failed(format!("delete branch {short_name}"), &e));
        }
    }
    Ok(())
}

/// Metadata of worktrees whose directory is gone.
fn prune_stale_worktrees(
    repo: &Repo,
    dry_run: bool,
    actions: &mut Vec<Action>,
) -> Result<(), GcError> {
    let stale = repo.stale_worktrees()?;
    if !stale.is_empty() {
        let pruned = if dry_run {
            Ok(())
        } else {
            cli::worktree_prune(&repo.main_workdir())
        };
        match pruned {
            Ok(()) => actions.push(Action::PruneWorktrees { ids: stale }),
            Err(e) => actions.push(Action::failed(
                format!(
                    "prune the metadata of worktrees whose directory is gone ({})",
                    stale.join(", ")
                ),
                &e.into(),
            )),
        }
    }
    Ok(())
}

/// Keep refs the target contains already.
fn drop_landed_keeps(
    repo: &Repo,
    settings: &Settings,
    finished: &Finished,
    dry_run: bool,
    actions: &mut Vec<Action>,
) -> Result<(), GcError> {
    for (name, tip) in repo.refs_with_prefix(KEEP_PREFIX)? {
        if let Err(e) = drop_landed_keep(repo, settings, finished, &name, tip, dry_run, actions) {
            actions.push(Action::failed(format!("drop {name}"), &e));
        }
    }
    Ok(())
}

/// Deletes one worker branch of a finished swarm, keeping its tip first unless the target or
/// a keep ref holds it (or its work was squash-landed).
#[allow(clippy::too_many_arguments)]
fn retire_branch(
    repo: &Repo,
    settings: &Settings,
    finished: &Finished,
    (swarm, worker): (&str, &str),
    (name, tip): (&str, ObjectId),
    pending_leftovers: bool,
    dry_run: bool,
    actions: &mut Vec<Action>,
) -> Result<(), GcError> {
    remove_ref_lock(repo, name, dry_run, actions)?;
    let target = finished.target_of(swarm, settings);
    let safe = match why_safe(repo, target.as_deref(), swarm, worker, tip)? {
        Some(safe) if !pending_leftovers => safe,
        _ if pending_leftovers => {
            let keep_ref = keep::free_name(repo, swarm, worker, GC_LABEL)?;
            actions.push(Action::Keep {
                what: format!(
                    "branch {} with the leftovers commit",
                    name.trim_start_matches("refs/heads/")
                ),
                commit: None,
                keep_ref: keep_ref.clone(),
            });
            Safe::ReachableFrom(keep_ref)
        }
        _ => {
            let keep_ref = keep(repo, swarm, worker, tip, dry_run)?;
            let what = format!("branch {}", name.trim_start_matches("refs/heads/"));
            actions.push(Action::Keep {
                what,
                commit: Some(tip),
                keep_ref: keep_ref.clone(),
            });
            Safe::ReachableFrom(keep_ref)
        }
    };
    if !dry_run {
        repo.transaction(&[RefUpdate {
            name: name.to_string(),
            expected: Some(tip),
            new: None,
            message: "oompa: gc of a finished swarm".into(),
        }])?;
    }
    actions.push(Action::DeleteBranch {
        name: name.to_string(),
        tip,
        safe,
    });
    Ok(())
}

/// Removes the lock of a finished swarm's ref (`refs/heads/oompa/<swarm>/<worker>.lock`),
/// which a `git commit` or `git reset` killed with its swarm left: nothing updates a finished
/// swarm's branch any more, and git holds ref locks without keeping them open.
fn remove_ref_lock(
    repo: &Repo,
    name: &str,
    dry_run: bool,
    actions: &mut Vec<Action>,
) -> Result<(), GcError> {
    let path = repo.common_dir().join(format!("{name}.lock"));
    let Some(lock) = crate::git::LockFile::inspect(&path) else {
        return Ok(());
    };
    if !lock.holders().is_empty() {
        return Ok(()); // the step that needs the ref says who holds it
    }
    if !dry_run {
        std::fs::remove_file(&path).map_err(|e| GcError::Io {
            path: path.clone(),
            source: e,
        })?;
    }
    actions.push(Action::RemoveLock { path });
    Ok(())
}

/// Drops one keep ref when the target of its swarm already contains it.
fn drop_landed_keep(
    repo: &Repo,
    settings: &Settings,
    finished: &Finished,
    name: &str,
    tip: ObjectId,
    dry_run: bool,
    actions: &mut Vec<Action>,
) -> Result<(), GcError> {
    let swarm = name
        .strip_prefix(KEEP_PREFIX)
        .and_then(|r| r.split('/').next())
        .unwrap_or("");
    let Some(target) = finished.target_of(swarm, settings) else {
        return Ok(());
    };
    let Some(target_tip) = repo.read_ref(&target)? else {
        return Ok(());
    };
    if !repo.is_commit(tip)? || !repo.is_ancestor(tip, target_tip)? {
        return Ok(());
    }
    if !dry_run {
        repo.transaction(&[RefUpdate {
            name: name.to_string(),
            expected: Some(tip),
            new: None,
            message: "oompa: gc of kept work that has landed".into(),
        }])?;
    }
    actions.push(Action::DropKeepRef {
        name: name.to_string(),
        tip,
        target,
    });
    Ok(())
}

/// Step 1: claims of gone owners back to pending (with their work kept).
fn release_dead_claims(
    repo: &Repo,
    settings: &Settings,
    dry_run: bool,
    actions: &mut Vec<Action>,
) -> Result<(), GcError> {
    let dead = super::invariants::orphaned_claims(repo)?;
    if dead.is_empty() {
        return Ok(());
    }
    if dry_run {
        for v in dead {
            if let super::invariants::Violation::OrphanedClaim { task, holder, why } = v {
                actions.push(Action::ReleaseClaim {
                    task: task.to_string(),
                    holder,
                    why,
                });
            }
        }
        return Ok(());
    }
    let (rec, kept) = crate::store::recover::recover(repo, settings.target_ref.as_deref())?;
    for (id, claim) in rec.released {
        let holder = if claim.swarm.is_empty() {
            claim.worker.clone()
        } else {
            format!("{}/{}", claim.swarm, claim.worker)
        };
        let why = dead
            .iter()
            .find_map(|v| match v {
                super::invariants::Violation::OrphanedClaim { task, why, .. } if *task == id => {
                    Some(why.clone())
                }
                _ => None,
            })
            .unwrap_or_else(|| "its owner is gone".into());
        actions.push(Action::ReleaseClaim {
            task: id.to_string(),
            holder,
            why,
        });
    }
    for k in kept {
        actions.push(Action::Keep {
            what: "the released claim's branch".into(),
            commit: repo.read_ref(&k)?,
            keep_ref: k,
        });
    }
    Ok(())
}

/// Removes one worktree of a finished swarm: commits what is uncommitted, keeps a detached
/// HEAD that holds unmerged work, then removes it. Its branch is dealt with afterwards.
/// Returns whether there were uncommitted changes.
#[allow(clippy::too_many_arguments)]
fn retire_worktree(
    repo: &Repo,
    settings: &Settings,
    finished: &Finished,
    (swarm, worker): (&str, &str),
    path: &Path,
    branch: Option<&str>,
    dry_run: bool,
    actions: &mut Vec<Action>,
) -> Result<bool, GcError> {
    let wt = Repo::discover(path).ok();
    // Locks its killed agent or swarm left in the worktree's own git directory (HEAD.lock,
    // index.lock, ORIG_HEAD.lock): the swarm is not running, so a lock no process has open
    // has no owner, however young.
    if let Some(wt) = &wt
        && wt.git_dir() != repo.common_dir()
    {
        for lock in crate::git::lock::locks_in(wt.git_dir()) {
            if !lock.holders().is_empty() {
                continue; // an agent that outlived its swarm still holds it: say so below
            }
            if !dry_run {
                std::fs::remove_file(&lock.path).map_err(|e| GcError::Io {
                    path: lock.path.clone(),
                    source: e,
                })?;
            }
            actions.push(Action::RemoveLock {
                path: lock.path.clone(),
            });
        }
    }
    if let Some(b) = branch {
        remove_ref_lock(repo, b, dry_run, actions)?;
    }
    // A worktree whose creation was cut short has no agent work in it, only a partial
    // checkout: nothing to commit.
    let interrupted = repo.interrupted_creation_lock(path, false)?.is_some();
    let dirty = !interrupted
        && wt
            .as_ref()
            .map(|w| w.has_local_changes().unwrap_or(true))
            .unwrap_or(false);
    if dirty {
        if !dry_run {
            cli::commit_all(
                path,
                &format!(
                    "Uncommitted work of {worker} (swarm {swarm})\n\n\
                     Committed by git oompa gc before removing the worktree."
                ),
            )?;
        }
        actions.push(Action::CommitLeftovers {
            worktree: path.to_path_buf(),
        });
    }
    // A detached HEAD (or a branch that is not a worker branch) is not looked after by the
    // branch step: keep its commit here if it is unmerged.
    let worker_branch = branch.is_some_and(|b| parse_worker_branch(b).is_some());
    if !worker_branch && let Some(wt) = &wt {
        let head = wt.rev_parse("HEAD").ok();
        if let Some(head) = head {
            let target = finished.target_of(swarm, settings);
            if why_safe(repo, target.as_deref(), swarm, worker, head)?.is_none()
                && !gate_candidate_covered(repo, target.as_deref(), swarm, worker, head, 0)?
            {
                let keep_ref = keep(repo, swarm, worker, head, dry_run)?;
                actions.push(Action::Keep {
                    what: format!("the checkout at {}", path.display()),
                    commit: Some(head),
                    keep_ref,
                });
            } else if dirty && dry_run {
                actions.push(Action::Keep {
                    what: format!("the uncommitted changes of {}", path.display()),
                    commit: None,
                    keep_ref: keep::free_name(repo, swarm, worker, GC_LABEL)?,
                });
            }
        }
    }
    // A worktree whose creation was cut short stays locked "initializing".
    if let Some(locked) = repo.interrupted_creation_lock(path, !dry_run)? {
        actions.push(Action::RemoveLock { path: locked });
    }
    if !dry_run {
        repo.remove_worktree(path)?;
        if let Some(parent) = path.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
    actions.push(Action::RemoveWorktree {
        path: path.to_path_buf(),
    });
    Ok(dirty)
}

/// Why `tip` may be let go of, or `None` if it holds work found nowhere else.
pub fn why_safe(
    repo: &Repo,
    target: Option<&str>,
    swarm: &str,
    worker: &str,
    tip: ObjectId,
) -> Result<Option<Safe>, GitError> {
    let target_tip = match target {
        Some(t) => repo.read_ref(t)?,
        None => None,
    };
    if let (Some(t), Some(tt)) = (target, target_tip)
        && repo.is_ancestor(tip, tt)?
    {
        return Ok(Some(Safe::ReachableFrom(t.to_string())));
    }
    let mut keeps = repo.refs_with_prefix(KEEP_PREFIX)?;
    // This worker's own keep refs first: they are the likely ones.
    let own = crate::store::layout::keep_prefix(swarm, worker);
    keeps.sort_by_key(|(name, _)| !name.starts_with(&own));
    for (name, k) in keeps {
        if repo.is_commit(k)? && repo.is_ancestor(tip, k)? {
            return Ok(Some(Safe::ReachableFrom(name)));
        }
    }
    if let Some(tt) = target_tip
        && let Some(landing) = squash_landing(repo, tt, swarm, worker, tip)?
    {
        return Ok(Some(Safe::SquashLanded(landing)));
    }
    Ok(None)
}

/// Whether `commit` is a landing-gate candidate this swarm made (a landing commit with an
/// `Oompa-Gate:` trailer, left checked out by a crash during a gate run) whose parents are all
/// safe: it holds no work of its own, so there is nothing to keep. Candidates of a batch are
/// stacked on each other, hence the recursion (bounded).
fn gate_candidate_covered(
    repo: &Repo,
    target: Option<&str>,
    swarm: &str,
    worker: &str,
    commit: ObjectId,
    depth: usize,
) -> Result<bool, GitError> {
    let trailers = crate::store::trailers::parse(&repo.commit_message(commit)?);
    if depth > 64 || trailers.gate.is_none() || trailers.swarm.as_deref() != Some(swarm) {
        return Ok(false);
    }
    for parent in repo.commit_parents(commit)? {
        let safe = why_safe(repo, target, swarm, worker, parent)?.is_some()
            || gate_candidate_covered(repo, target, swarm, worker, parent, depth + 1)?;
        if !safe {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A landing commit on the target naming this swarm and worker in its trailers, when merging
/// `tip` into the target would change nothing (its work is all there).
fn squash_landing(
    repo: &Repo,
    target_tip: ObjectId,
    swarm: &str,
    worker: &str,
    tip: ObjectId,
) -> Result<Option<ObjectId>, GitError> {
    let mut landing = None;
    for c in repo.first_parents(target_tip, SQUASH_SEARCH)? {
        let l = trailers::parse(&repo.commit_message(c)?);
        if l.swarm.as_deref() == Some(swarm) && l.worker.as_deref() == Some(worker) {
            landing = Some(c);
            break;
        }
    }
    let Some(landing) = landing else {
        return Ok(None);
    };
    let unchanged = match repo.check_merge(target_tip, tip)? {
        Merge::UpToDate => true,
        Merge::Clean { tree } => tree == repo.commit_tree(target_tip)?,
        Merge::FastForward { .. } | Merge::Conflict { .. } => false,
    };
    Ok(unchanged.then_some(landing))
}

/// Saves `commit` under `refs/oompa/keep/<swarm>/<worker>/gc[-N]` (reusing a keep ref that
/// already points at it) and returns the ref name.
fn keep(
    repo: &Repo,
    swarm: &str,
    worker: &str,
    commit: ObjectId,
    dry_run: bool,
) -> Result<String, GitError> {
    if dry_run {
        keep::planned(repo, swarm, worker, commit, GC_LABEL)
    } else {
        keep::preserve(
            repo,
            swarm,
            worker,
            commit,
            GC_LABEL,
            "oompa: gc keeps unmerged work",
        )
    }
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}

/// Removes empty swarm directories left under the worktree directory.
fn remove_empty_dirs(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = std::fs::remove_dir(e.path());
        }
    }
}
