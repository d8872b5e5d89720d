//! Swarm records in the queue tree (`swarms/<id>.json`) and the recovery of claims whose
//! owner is gone: the queue operations a swarm needs beyond tasks.

use super::{MAX_RECORD_BYTES, Plan, Queue, QueueError, RecordError, State};
use crate::git::ObjectId;
use crate::store::swarm::{Stopped, SwarmRecord, claim_is_dead};
use crate::store::task::{Claim, TaskId};

/// Claims found dead and returned to pending by [`Queue::recover`].
#[derive(Debug, Clone, Default)]
pub struct Recovered {
    pub released: Vec<(TaskId, Claim)>,
    /// Swarms found dead (recorded as `crashed` now).
    pub crashed: Vec<SwarmRecord>,
    /// Cycles of dead swarm processes whose records were missing from the log and are written
    /// now (cut short by a crash, or never flushed); filled in by [`crate::store::recover::recover`].
    pub recorded: Vec<crate::store::record::CycleRecord>,
    /// Why some such cycles could not be recorded yet (the next command tries again).
    pub unrecorded: Vec<String>,
    /// Notices addressed to swarms that are no longer running, dropped from the queue.
    pub dropped_notices: Vec<super::Notice>,
}

impl Queue<'_> {
    /// Writes (creates or replaces) a swarm record.
    pub fn put_swarm(&self, record: &SwarmRecord, what: &str) -> Result<(), QueueError> {
        self.update(|_| {
            Ok(Plan {
                changes: vec![(SwarmRecord::path(&record.id), Some(record.to_json()))],
                message: format!("swarm {} {what}", record.id),
                result: (),
            })
        })
    }

    /// Every swarm record at the tip (unreadable ones are skipped).
    pub fn swarms(&self) -> Result<Vec<SwarmRecord>, QueueError> {
        let Some(tip) = self.tip()? else {
            return Ok(Vec::new());
        };
        let tree = self.repo.commit_tree(tip)?;
        self.swarms_in(tree)
    }

    pub(super) fn swarms_in(&self, tree: ObjectId) -> Result<Vec<SwarmRecord>, QueueError> {
        let mut out = Vec::new();
        for (name, blob) in self.repo.list_dir(tree, "swarms")? {
            match self.read_swarm(&name, blob) {
                Ok(r) => out.push(r),
                Err(e) => tracing::warn!("swarms/{name} is unreadable: {e}"),
            }
        }
        Ok(out)
    }

    /// One swarm record, refused when it is not a file, too big, unreadable, or holds
    /// another swarm than its name says (recovery would then write a record for that one).
    fn read_swarm(&self, name: &str, blob: ObjectId) -> Result<SwarmRecord, RecordError> {
        match self.repo.object_header(blob)? {
            Some((kind, _)) if kind != "blob" => return Err(RecordError::NotAFile { kind }),
            Some((_, size)) if size > MAX_RECORD_BYTES => {
                return Err(RecordError::TooBig { size });
            }
            _ => {}
        }
        let data = self.repo.read_blob(blob)?;
        let record: SwarmRecord = serde_json::from_slice(&data)?;
        if name != format!("{}.json", record.id) {
            return Err(RecordError::Misnamed {
                what: "swarm",
                holds: record.id.to_string(),
                path: format!("swarms/{name}"),
            });
        }
        Ok(record)
    }

    /// Returns the claims whose owner is gone to pending and records dead swarms as
    /// `crashed`, in one commit (none when everything is alive). `keep` runs first for each
    /// dead claim, so the caller can preserve the claim's unmerged work.
    pub fn recover(
        &self,
        this_host: &str,
        mut keep: impl FnMut(&TaskId, &Claim),
    ) -> Result<Recovered, QueueError> {
        self.update(|tree| {
            let mut rec = Recovered::default();
            let Some(tree) = tree else {
                return Ok(Plan {
                    changes: Vec::new(),
                    message: String::new(),
                    result: rec,
                });
            };
            let swarms = self.swarms_in(tree)?;
            let mut changes = mark_crashed(&swarms, this_host, &mut rec);
            let running = |id: &str| {
                swarms.iter().any(|s| s.id == id && s.stopped.is_none())
                    && !rec.crashed.iter().any(|c| c.id == id)
            };
            for (path, notice) in self.notices_of_ended_swarms(tree, running)? {
                changes.push((path, None));
                rec.dropped_notices.push(notice);
            }
            self.release_dead_claims(tree, this_host, &swarms, &mut keep, &mut rec, &mut changes)?;
            Ok(Plan {
                changes,
                message: recovery_message(&rec),
                result: rec,
            })
        })
    }

    /// Moves the current tasks whose claim's owner is gone (or that have no claim) back to
    /// pending, adding the changes to `changes` and the claims to `rec`.
    fn release_dead_claims(
        &self,
        tree: ObjectId,
        this_host: &str,
        swarms: &[SwarmRecord],
        keep: &mut impl FnMut(&TaskId, &Claim),
        rec: &mut Recovered,
        changes: &mut Vec<(String, Option<Vec<u8>>)>,
    ) -> Result<(), QueueError> {
        for (name, blob) in self.repo.list_dir(tree, State::Current.dir())? {
            let path = format!("{}/{name}", State::Current.dir());
            let Ok(mut task) = self.read_task(&path, &name, blob) else {
                continue;
            };
            // An id that is also pending or complete is for a person to sort out;
            // moving it would overwrite the other entry.
            let elsewhere = [State::Pending, State::Complete]
                .iter()
                .map(|s| self.repo.lookup_path(tree, &s.path(&task.id)))
                .collect::<Result<Vec<_>, _>>()?;
            if elsewhere.iter().any(Option::is_some) {
                continue;
            }
            // A claimed entry without a claim has no owner to wait for.
            let claim = task.claim.clone().unwrap_or_else(|| Claim {
                swarm: String::new(),
                worker: "nobody".into(),
                host: String::new(),
                pid: 0,
                branch: None,
                claimed_at: String::new(),
                lease_until: String::new(),
                token: String::new(),
            });
            if task.claim.is_some()
                && !claim_is_dead(&claim, this_host, stopped_swarm(swarms, rec, &claim))
            {
                continue;
            }
            keep(&task.id, &claim);
            task.claim = None;
            changes.push((path, None));
            changes.push((State::Pending.path(&task.id), Some(task.to_json())));
            rec.released.push((task.id.clone(), claim));
        }
        Ok(())
    }
}

/// This host's running swarms whose process is gone, recorded as `crashed` now: their new
/// records' changes, and the records in `rec`.
fn mark_crashed(
    swarms: &[SwarmRecord],
    this_host: &str,
    rec: &mut Recovered,
) -> Vec<(String, Option<Vec<u8>>)> {
    let now = jiff::Timestamp::now().to_string();
    let mut changes = Vec::new();
    for s in swarms {
        if s.stopped.is_none() && s.host == this_host && !crate::store::swarm::pid_alive(s.pid) {
            let mut dead = s.clone();
            dead.stopped = Some(Stopped {
                at: now.clone(),
                reason: "crashed".into(),
            });
            changes.push((SwarmRecord::path(&s.id), Some(dead.to_json())));
            rec.crashed.push(dead);
        }
    }
    changes
}

/// The recovery commit's message: `recover 2 claims of gone owners; 1 swarm crashed`.
fn recovery_message(rec: &Recovered) -> String {
    let message = format!(
        "recover {} of gone owners{}",
        if rec.released.len() == 1 {
            "1 claim".to_string()
        } else {
            format!("{} claims", rec.released.len())
        },
        if rec.crashed.is_empty() {
            String::new()
        } else {
            format!(
                "; {} {} crashed",
                if rec.crashed.len() == 1 {
                    "swarm"
                } else {
                    "swarms"
                },
                rec.crashed
                    .iter()
                    .map(|s| s.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    match rec.dropped_notices.len() {
        0 => message,
        n => format!("{message}; drop {n} notice(s) of ended swarms"),
    }
}

/// Whether the swarm a claim names has stopped, or was just found crashed.
fn stopped_swarm(swarms: &[SwarmRecord], rec: &Recovered, claim: &Claim) -> bool {
    swarms
        .iter()
        .find(|s| s.id == claim.swarm)
        .is_some_and(|s| s.stopped.is_some() || rec.crashed.iter().any(|c| c.id == s.id))
}
