//! The checks of the task queue: readable, every task in one state, not replaced behind git
//! oompa's back, and every claim with a live owner.

use super::{Finding, Fix};
use crate::git::Repo;
use crate::guard::{invariants, short};
use crate::store::layout::REPLACED_PREFIX;
use crate::store::queue::Corrupt;
use crate::store::{QUEUE_REF, Queue, QueueError, State, TaskId};

/// The queue: readable, every task in one state, not replaced behind git oompa's back.
pub(super) fn queue(repo: &Repo, out: &mut Vec<Finding>) {
    let queue = Queue::new(repo);
    let duplicates = queue.duplicates().unwrap_or_default();
    out.extend(duplicates.iter().map(|(id, states)| duplicate(id, states)));
    let duplicated = |path: &str| {
        duplicates
            .iter()
            .any(|(id, states)| states.iter().any(|s| s.path(id) == path))
    };
    match queue.snapshot() {
        Ok(s) if s.tip.is_none() => out.push(Finding::problem(
            "queue",
            format!("{QUEUE_REF} does not exist yet"),
            "git oompa init",
        )),
        Ok(s) if s.corrupt.iter().all(|c| duplicated(&c.path)) && !duplicates.is_empty() => {}
        Ok(s) if s.corrupt.is_empty() => out.push(Finding::ok(
            "queue",
            format!(
                "{QUEUE_REF} readable ({} task{})",
                s.tasks.len(),
                if s.tasks.len() == 1 { "" } else { "s" }
            ),
        )),
        Ok(s) => out.extend(
            s.corrupt
                .into_iter()
                .filter(|c| !duplicated(&c.path))
                .map(unreadable),
        ),
        Err(e @ QueueError::Replaced { known, found }) => out.push(
            Finding::problem("queue", e.to_string(), invariants::queue_fix(known, found))
                .fixable(Fix::RestoreQueue),
        ),
        Err(e @ QueueError::NotACommit { .. }) => out.push(not_a_commit(&queue, e)),
        Err(e) => out.push(Finding::problem(
            "queue",
            format!("cannot read {QUEUE_REF}: {e}"),
            format!("`git log {QUEUE_REF}` shows what git finds"),
        )),
    }
}

/// Task `id` found in several `states` at once: kept in the most advanced one by the fix.
fn duplicate(id: &TaskId, states: &[State]) -> Finding {
    let listed: Vec<String> = states.iter().map(|s| format!("{s}/")).collect();
    let keep = states.iter().max().copied().unwrap_or(State::Complete);
    Finding::problem(
        "queue",
        format!(
            "task {id} is in {} at once in {QUEUE_REF}: claims and landings of it \
             are refused until it is in one state",
            listed.join(" and ")
        ),
        format!(
            "`git oompa doctor --fix` keeps {} and drops the other entries (the \
             queue's history keeps them)",
            keep.path(id)
        ),
    )
    .fixable(Fix::ResolveDuplicate(id.clone()))
}

/// An entry of the queue that cannot be read.
fn unreadable(c: Corrupt) -> Finding {
    Finding::problem(
        "queue",
        format!("{} in {QUEUE_REF} is unreadable: {}", c.path, c.reason),
        format!(
            "inspect it with `git show {QUEUE_REF}:{}`; release or re-add the task",
            c.path
        ),
    )
}

/// The queue points at something that is not a commit: put back the last queue commit git
/// oompa knew, when it knows one.
fn not_a_commit(queue: &Queue<'_>, e: QueueError) -> Finding {
    let hint = match queue.restore_point() {
        Ok(Some(good)) => format!(
            "`git oompa doctor --fix` points it back at {} (the last queue commit git \
             oompa knew), keeping the current value under {}",
            short(&good),
            REPLACED_PREFIX
        ),
        _ => format!(
            "no earlier queue commit is known: `git update-ref -d {QUEUE_REF} && git \
             oompa init` starts an empty queue"
        ),
    };
    Finding::problem("queue", e.to_string(), hint).fixable(Fix::RestoreQueue)
}

/// Claims whose owner is gone (not looked at while the queue is replaced: its claims are not
/// the queue's).
pub(super) fn claims(repo: &Repo, out: &mut Vec<Finding>) {
    let damaged = invariants::queue_damaged(repo).is_some();
    match invariants::orphaned_claims(repo) {
        // The claims of a replaced queue are not the queue's: restore it first.
        _ if damaged => {}
        Ok(v) if v.is_empty() => out.push(Finding::ok("claims", "every claim has a live owner")),
        Ok(v) => {
            for violation in v {
                out.push(
                    Finding::problem("claims", violation.describe(), violation.fix())
                        .fixable(Fix::RecoverClaims),
                );
            }
        }
        Err(e) => out.push(Finding::problem(
            "claims",
            format!("cannot read the claims: {e}"),
            "`git oompa task list` shows what is wrong with the queue",
        )),
    }
}
