//! The cheap re-check every `git oompa` command runs, because hooks can be skipped
//! (`--no-verify`, `core.hooksPath=/dev/null`, a git without hook support):
//!
//! - the target was moved around the merge queue with a worker's commits (an agent landing
//!   its own work);
//! - a claim whose owner is gone;
//! - the queue (`refs/oompa/tasks`) was replaced, deleted or pointed at something that is not
//!   a commit, outside git oompa;
//! - the cycle log (`refs/notes/oompa`) was deleted or rewritten so that records it held are
//!   gone.
//!
//! Each check reads a few refs, the last tips git oompa knew ([`crate::store::known`]) and
//! the ends of a few reflogs; the common case (nothing wrong) touches no history at all. Never prints: callers report each violation once, with
//! the command that fixes it.

use std::collections::HashMap;

use super::{Settings, WORKER_BRANCH_PREFIX, short};
use crate::git::inspect::{ReflogEntry, WORKER_REFLOG_TAIL, made_here};
use crate::git::{GitError, ObjectId, Repo};
use crate::store::QueueError;
use crate::store::notes::{self, NOTES_REF, NotesError};
use crate::store::queue::{self, hostname};
use crate::store::swarm::{SwarmRecord, claim_is_dead, pid_alive};
use crate::store::{Claim, QUEUE_REF, State, Task, TaskId, trailers};

/// How many of the target's newest reflog entries are looked at.
const TARGET_REFLOG_TAIL: usize = 20;
/// How many of the notes ref's newest reflog entries are looked at.
const NOTES_REFLOG_TAIL: usize = 20;

/// Something the hooks should have prevented, or a crash left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// The target moved to commits made in a worker worktree, not by the merge queue.
    TargetMovedAroundQueue {
        target: String,
        old: ObjectId,
        new: ObjectId,
        /// The reflog message of the move (`update by push`, `merge …`).
        how: String,
        /// The worker branch the commit was made on.
        branch: String,
        commit: ObjectId,
        /// Whether the target still points where that move left it (so it can be undone
        /// with a compare-and-swap).
        at_tip: bool,
    },
    /// A claim whose owner is gone.
    OrphanedClaim {
        task: TaskId,
        holder: String,
        why: String,
    },
    /// A move of `refs/notes/oompa` dropped the records of `lost`.
    NotesDiverged { lost: ObjectId, how: String },
    /// `refs/notes/oompa` no longer descends from the last tip git oompa knew (`found:
    /// None`: it was deleted).
    NotesReplaced {
        known: ObjectId,
        found: Option<ObjectId>,
    },
    /// `refs/oompa/tasks` no longer descends from the last tip git oompa knew (`found: None`:
    /// it was deleted).
    QueueReplaced {
        known: ObjectId,
        found: Option<ObjectId>,
    },
    /// `refs/oompa/tasks` points at something that is not a commit.
    QueueNotACommit { id: ObjectId, kind: &'static str },
}

impl Violation {
    /// One line saying what is wrong.
    pub fn describe(&self) -> String {
        match self {
            Violation::TargetMovedAroundQueue {
                target,
                new,
                how,
                branch,
                commit,
                ..
            } => format!(
                "{} was moved to {}{} outside the merge queue, bringing in commit {} made on \
                 the worker branch {}",
                target.trim_start_matches("refs/heads/"),
                short(new),
                if how.trim().is_empty() {
                    String::new()
                } else {
                    format!(" (`{}`)", how.trim())
                },
                short(commit),
                branch.trim_start_matches("refs/heads/")
            ),
            Violation::OrphanedClaim { task, holder, why } => {
                format!("task {task} is still claimed by {holder}, but {why}")
            }
            Violation::NotesDiverged { lost, how } => format!(
                "{NOTES_REF} was rewritten{}: the cycle records up to {} are no longer in it",
                if how.trim().is_empty() {
                    String::new()
                } else {
                    format!(" (`{}`)", how.trim())
                },
                short(lost)
            ),
            Violation::NotesReplaced { known, found } => NotesError::Rewritten {
                known: *known,
                found: *found,
            }
            .to_string(),
            Violation::QueueReplaced { known, found } => QueueError::Replaced {
                known: *known,
                found: *found,
            }
            .to_string(),
            Violation::QueueNotACommit { id, kind } => {
                QueueError::NotACommit { id: *id, kind }.to_string()
            }
        }
    }

    /// The command that fixes it.
    pub fn fix(&self) -> String {
        match self {
            Violation::TargetMovedAroundQueue {
                target,
                old,
                new,
                at_tip: true,
                ..
            } => format!(
                "undo it with `git update-ref -m \"undo a landing around the merge queue\" \
                 {target} {old} {new}` (the work stays on its branch and lands through the queue)"
            ),
            Violation::TargetMovedAroundQueue { new, .. } => format!(
                "revert it with `git revert {}{}` in your checkout of the target",
                if new.is_null() { "" } else { "-m 1 " },
                short(new)
            ),
            Violation::OrphanedClaim { .. } => {
                "`git oompa gc` returns it to pending and keeps its work".into()
            }
            Violation::NotesDiverged { .. } | Violation::NotesReplaced { .. } => {
                "`git oompa doctor --fix` merges the lost records back".into()
            }
            Violation::QueueReplaced { known, found } => queue_fix(*known, *found),
            Violation::QueueNotACommit { id, .. } => format!(
                "`git oompa doctor --fix` points {QUEUE_REF} back at the last queue commit git \
                 oompa knew (keeping {} as {}tasks-{})",
                short(id),
                queue::REPLACED_PREFIX,
                short(id)
            ),
        }
    }

    /// Whether `git oompa doctor --fix` repairs it without asking anyone anything.
    pub fn safe_to_fix(&self) -> bool {
        !matches!(self, Violation::TargetMovedAroundQueue { .. })
    }
}

/// The hint for a replaced or deleted queue.
pub fn queue_fix(known: ObjectId, found: Option<ObjectId>) -> String {
    match found {
        Some(f) => format!(
            "`git oompa doctor --fix` puts back {}, keeping {} as {}tasks-{}; if you replaced \
             it on purpose, `git oompa doctor --accept` takes the new value as the known one",
            short(&known),
            short(&f),
            queue::REPLACED_PREFIX,
            short(&f)
        ),
        None => format!(
            "`git oompa doctor --fix` puts it back at {}; if you deleted it on purpose, `git \
             oompa doctor --accept` forgets it (then `git oompa init` starts an empty queue)",
            short(&known)
        ),
    }
}

/// Which checks to run.
#[derive(Debug, Clone, Copy)]
pub struct Checks {
    /// Commands that return dead claims to pending themselves skip this one.
    pub claims: bool,
    /// Whether to check the queue ref itself. Commands that read the queue skip it: they
    /// refuse a damaged queue with the same message.
    pub queue: bool,
}

/// Runs the checks. Each one that cannot read what it needs is skipped, not an error: a
/// damaged repository is `doctor`'s business, not every command's.
pub fn check(repo: &Repo, settings: &Settings, checks: Checks) -> Vec<Violation> {
    let mut out = Vec::new();
    if let Some(target) = &settings.target_ref
        && let Ok(v) = target_moves(repo, target)
    {
        out.extend(v);
    }
    let damaged = queue_damaged(repo);
    if checks.queue {
        out.extend(damaged.clone());
    }
    // The claims of a damaged queue are not the queue's.
    if checks.claims
        && damaged.is_none()
        && let Ok(v) = orphaned_claims(repo)
    {
        out.extend(v);
    }
    out.extend(notes_lost(repo));
    out
}

/// The queue ref replaced, deleted or pointing at something that is not a commit.
pub fn queue_damaged(repo: &Repo) -> Option<Violation> {
    let tip = repo.read_ref(QUEUE_REF).ok()?;
    match queue::check_tip(repo, tip) {
        Err(QueueError::Replaced { known, found }) => {
            Some(Violation::QueueReplaced { known, found })
        }
        Err(QueueError::NotACommit { id, kind }) => Some(Violation::QueueNotACommit { id, kind }),
        _ => None,
    }
}

/// Records the cycle log lost: against the last tip git oompa knew, and in the reflog's tail
/// (which also covers a log git oompa never wrote), each lost tip once.
pub fn notes_lost(repo: &Repo) -> Vec<Violation> {
    let mut out = Vec::new();
    if let Ok(tip) = repo.read_ref(NOTES_REF)
        && let Err(NotesError::Rewritten { known, found }) = notes::check_tip(repo, tip)
    {
        out.push(Violation::NotesReplaced { known, found });
    }
    let known = match out.first() {
        Some(Violation::NotesReplaced { known, .. }) => Some(*known),
        _ => None,
    };
    if let Ok(v) = notes_diverged(repo) {
        for d in v {
            // Merging the known tip back brings these records back too.
            let included = matches!(
                (&d, known),
                (Violation::NotesDiverged { lost, .. }, Some(k))
                    if repo.is_ancestor(*lost, k).unwrap_or(false)
            );
            if !included {
                out.push(d);
            }
        }
    }
    out
}

/// Target moves in the reflog tail that were not the merge queue's and brought in a commit
/// made on a worker branch.
pub fn target_moves(repo: &Repo, target: &str) -> Result<Vec<Violation>, GitError> {
    let candidates: Vec<ReflogEntry> = repo
        .reflog_tail(target, TARGET_REFLOG_TAIL)?
        .into_iter()
        .filter(|e| !e.message.starts_with("oompa:") && !e.new.is_null() && e.old != e.new)
        .collect();
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let mut made: HashMap<ObjectId, String> = HashMap::new();
    for (branch, _) in repo.refs_with_prefix(WORKER_BRANCH_PREFIX)? {
        for e in repo.reflog_tail(&branch, WORKER_REFLOG_TAIL)? {
            if made_here(&e.message) && !e.new.is_null() {
                made.entry(e.new).or_insert_with(|| branch.clone());
            }
        }
    }
    if made.is_empty() {
        return Ok(Vec::new());
    }
    let tip = repo.read_ref(target)?;
    let mut out: Vec<Violation> = Vec::new();
    for e in candidates {
        let mut suspects = vec![e.new];
        suspects.extend(repo.commit_parents(e.new).unwrap_or_default());
        let Some((commit, branch)) = suspects
            .iter()
            .find_map(|c| made.get(c).map(|b| (*c, b.clone())))
        else {
            continue;
        };
        let message = repo.commit_message(e.new).unwrap_or_default();
        let landing = trailers::parse(&message);
        if !landing.tasks.is_empty() || landing.swarm.is_some() {
            continue;
        }
        let Some(tip) = tip else { continue };
        if !repo.is_ancestor(e.new, tip)? {
            continue; // undone since
        }
        if out.iter().any(
            |v| matches!(v, Violation::TargetMovedAroundQueue { commit: c, .. } if *c == commit),
        ) {
            continue;
        }
        out.push(Violation::TargetMovedAroundQueue {
            target: target.to_string(),
            old: e.old,
            new: e.new,
            how: e.message.clone(),
            branch,
            commit,
            at_tip: tip == e.new,
        });
    }
    Ok(out)
}

/// Claims whose owner is gone, by the same rules `recover` applies (reads only `current/`
/// and the records of the swarms those claims name).
pub fn orphaned_claims(repo: &Repo) -> Result<Vec<Violation>, GitError> {
    let Some(tip) = repo.read_ref(QUEUE_REF)? else {
        return Ok(Vec::new());
    };
    let tree = repo.commit_tree(tip)?;
    let host = hostname();
    let mut swarms: HashMap<String, Option<SwarmRecord>> = HashMap::new();
    let mut out = Vec::new();
    for (_, blob) in repo.list_dir(tree, State::Current.dir())? {
        let Ok(task) = repo
            .read_blob(blob)
            .map_err(|e| e.to_string())
            .and_then(|d| Task::from_json(&d).map_err(|e| e.to_string()))
        else {
            continue;
        };
        let Some(claim) = &task.claim else { continue };
        let record = swarms
            .entry(claim.swarm.clone())
            .or_insert_with(|| swarm_record(repo, tree, &claim.swarm))
            .clone();
        if let Some(why) = dead_because(claim, record.as_ref(), &host) {
            out.push(Violation::OrphanedClaim {
                task: task.id.clone(),
                holder: crate::store::queue::holder(&task),
                why,
            });
        }
    }
    Ok(out)
}

/// The record of one swarm, read by path.
pub fn swarm_record(repo: &Repo, tree: ObjectId, id: &str) -> Option<SwarmRecord> {
    if id.is_empty() {
        return None;
    }
    let blob = repo
        .lookup_path(tree, &SwarmRecord::path(id))
        .ok()
        .flatten()?;
    serde_json::from_slice(&repo.read_blob(blob).ok()?).ok()
}

/// Why a claim's owner counts as gone (the rules of `Queue::recover`), or `None` if alive.
pub fn dead_because(claim: &Claim, swarm: Option<&SwarmRecord>, host: &str) -> Option<String> {
    let stopped = swarm.and_then(|s| s.stopped.as_ref().map(|st| st.reason.clone()));
    let crashed = swarm.is_some_and(|s| s.stopped.is_none() && s.host == host && !pid_alive(s.pid));
    if !claim_is_dead(claim, host, stopped.is_some() || crashed) {
        return None;
    }
    Some(if claim.pid == 0 || claim.host != host {
        format!("its lease ran out at {}", claim.lease_until)
    } else if let Some(reason) = stopped {
        format!("its swarm {} has stopped ({reason})", claim.swarm)
    } else if crashed {
        format!("its swarm {} is no longer running", claim.swarm)
    } else {
        format!("its process {} is no longer running", claim.pid)
    })
}

/// Moves of the notes ref, in the reflog tail, that left out the previous tip, unless the
/// lost tip has been merged back since.
pub fn notes_diverged(repo: &Repo) -> Result<Vec<Violation>, GitError> {
    let entries = repo.reflog_tail(NOTES_REF, NOTES_REFLOG_TAIL)?;
    let accepted = crate::store::known::accepted_at(repo, NOTES_REF);
    let mut out = Vec::new();
    let Some(tip) = repo.read_ref(NOTES_REF)? else {
        return Ok(out);
    };
    for e in entries {
        if e.old.is_null() || e.new.is_null() || e.old == e.new {
            continue;
        }
        if repo
            .commit_parents(e.new)
            .unwrap_or_default()
            .contains(&e.old)
        {
            continue;
        }
        if !repo.is_commit(e.old)? || repo.is_ancestor(e.old, tip)? {
            continue;
        }
        // A move from before a person accepted the log as it is (`doctor --accept`) is not
        // news.
        if accepted.is_some_and(|at| e.time <= at) {
            continue;
        }
        if out
            .iter()
            .any(|v| matches!(v, Violation::NotesDiverged { lost, .. } if *lost == e.old))
        {
            continue;
        }
        out.push(Violation::NotesDiverged {
            lost: e.old,
            how: e.message,
        });
    }
    Ok(out)
}
