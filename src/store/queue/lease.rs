//! Keeping a swarm worker's claims alive: a worker that waits (a usage limit, a long turn)
//! keeps its claims, and their lease must outlast the wait, or another host's recovery takes
//! them for dead (`claim_is_dead`) while the worker still means to land them.

use super::{Plan, Queue, QueueError, State};
use crate::store::task::TaskId;

impl Queue<'_> {
    /// Extends to `until` the lease of every claim `swarm`/`worker` holds whose lease ends
    /// before `need`; the others are left as they are. One commit (compare-and-swap, like every
    /// queue write), or none when no lease needs it. Returns the ids renewed.
    pub fn renew_leases(
        &self,
        swarm: &str,
        worker: &str,
        need: jiff::Timestamp,
        until: jiff::Timestamp,
    ) -> Result<Vec<TaskId>, QueueError> {
        let ends_before = |lease: &str| lease.parse::<jiff::Timestamp>().map_or(true, |t| t < need);
        self.update(|tree| {
            let mut changes = Vec::new();
            let mut renewed = Vec::new();
            let Some(tree) = tree else {
                return Ok(Plan {
                    changes,
                    message: String::new(),
                    result: renewed,
                });
            };
            for (name, blob) in self.repo.list_dir(tree, State::Current.dir())? {
                let path = format!("{}/{name}", State::Current.dir());
                // An unreadable entry is not this worker's to touch (and others report it).
                let Ok(mut task) = self.read_task(&path, &name, blob) else {
                    continue;
                };
                let Some(claim) = task.claim.as_mut() else {
                    continue;
                };
                if claim.swarm != swarm
                    || claim.worker != worker
                    || !ends_before(&claim.lease_until)
                {
                    continue;
                }
                claim.lease_until = until.to_string();
                renewed.push(task.id.clone());
                changes.push((path, Some(task.to_json())));
            }
            Ok(Plan {
                changes,
                message: format!(
                    "renew {} by {swarm}/{worker}\n\nlease until {until}",
                    super::ids_list(renewed.iter())
                ),
                result: renewed,
            })
        })
    }
}
