//! Crash recovery, run by every command before its work: claims whose owner is gone go back
//! to pending with their unmerged work kept ([`crate::store::keep`]), and the cycles a dead
//! swarm process left out of the log get their records ([`journal`]). Lives in the store
//! because it works only on the queue, the log, keep refs and the journal: the swarm, `gc`
//! and `doctor` all call it. Never prints.

use crate::git::Repo;
use crate::store::journal;
use crate::store::queue::hostname;
use crate::store::record::CycleRecord;
use crate::store::{Queue, QueueError, Recovered};

/// Recovers claims whose owner is gone, keeping their unmerged branch tips under
/// `refs/oompa/keep/`, and writes the records of cycles a dead swarm process left out of the
/// log (see [`journal`]): they are in [`Recovered::recorded`]. Safe to call from any command,
/// and from several at once.
pub fn recover(
    repo: &Repo,
    target_ref: Option<&str>,
) -> Result<(Recovered, Vec<String>), QueueError> {
    let target = match target_ref {
        Some(r) => repo.read_ref(r)?,
        None => None,
    };
    let host = hostname();
    // Cycles cut short get their records while their claims are still held (the record
    // lists them), so this comes first, and one recovery at a time.
    let mut cycles = journal::Recovery::default();
    let lock = journal::anything_to_recover(repo.common_dir(), &host)
        .then(|| journal::lock(repo.common_dir()))
        .flatten();
    if lock.is_some() {
        let snapshot = Queue::new(repo).snapshot().unwrap_or_default();
        journal::settle(repo, &host, target, &snapshot, &mut cycles);
    }
    let mut kept = std::mem::take(&mut cycles.kept);
    let mut rec = Queue::new(repo).recover(&host, |id, claim| {
        let Some(branch) = &claim.branch else { return };
        let Ok(Some(tip)) = repo.read_ref(branch) else {
            return;
        };
        if target.is_some_and(|t| repo.is_ancestor(tip, t).unwrap_or(false)) {
            return;
        }
        if let Ok(name) = journal::keep(
            repo,
            &claim.swarm,
            &claim.worker,
            tip,
            &format!("recovered-{id}"),
        ) {
            kept.push(name);
        }
    })?;
    if lock.is_some() {
        journal::record(repo, &host, &mut cycles);
    }
    drop(lock);
    rec.recorded = cycles.recorded;
    rec.unrecorded = cycles.problems;
    kept.sort();
    kept.dedup();
    Ok((rec, kept))
}

/// `swarm/worker/cycle: outcome` of a record written by recovery.
pub fn describe_recorded(r: &CycleRecord) -> String {
    format!("{}/{}/{}: {}", r.swarm, r.worker, r.cycle, r.outcome)
}
