//! What `git oompa status` reports, gathered in one place: the queue's counts, the swarms
//! running on this host with what each last published (conflict prediction, landing gate) and
//! which claimed tasks each worker holds. Reads only; the CLI renders it as text or JSON.

use std::collections::BTreeMap;

use super::gate::status::{self as gate_status, GateStatus};
use super::live::{self, LiveStatus};
use super::predict::{self, Prediction};
use crate::git::Repo;
use crate::store::queue::hostname;
use crate::store::swarm::SwarmRecord;
use crate::store::{Queue, QueueError, State, Task};

/// The state of the queue and of the swarms running on this host.
#[derive(Debug, Clone)]
pub struct StatusReport {
    /// Tasks per state.
    pub pending: usize,
    pub current: usize,
    pub complete: usize,
    /// The swarms running on this host, in the queue's order.
    pub running: Vec<RunningSwarm>,
    /// The claimed tasks, every swarm's and people's.
    pub claims: Vec<Task>,
}

/// A running swarm and what it last published.
#[derive(Debug, Clone)]
pub struct RunningSwarm {
    pub record: SwarmRecord,
    /// Each worker, in the record's order, with the ids of the tasks it holds.
    pub workers: Vec<(String, Vec<String>)>,
    /// Its latest conflict prediction; `None` before its first.
    pub prediction: Option<Prediction>,
    /// Its landing gate's state, when it has a gate.
    pub gate: Option<GateStatus>,
    /// What each of its workers is doing (its `status.json`); `None` before it first wrote it.
    pub live: Option<LiveStatus>,
}

/// Reads the queue, the swarm records and each running swarm's published files.
pub fn read(repo: &Repo) -> Result<StatusReport, QueueError> {
    let queue = Queue::new(repo);
    let snap = queue.snapshot()?;
    let host = hostname();
    let claims: Vec<Task> = snap.in_state(State::Current).cloned().collect();
    let running = queue
        .swarms()?
        .into_iter()
        .filter(|s| s.is_running(&host))
        .map(|record| {
            let workers = record
                .workers
                .iter()
                .map(|w| {
                    let held = snap.held_by(&record.id, w).map(|t| t.id.to_string());
                    (w.clone(), held.collect())
                })
                .collect();
            let common = repo.common_dir();
            RunningSwarm {
                prediction: predict::read(&predict::prediction_path(common, &record.id)),
                gate: gate_status::read(&gate_status::status_path(common, &record.id)),
                live: live::read(&live::status_path(common, &record.id)),
                workers,
                record,
            }
        })
        .collect();
    Ok(StatusReport {
        pending: snap.count(State::Pending),
        current: snap.count(State::Current),
        complete: snap.count(State::Complete),
        running,
        claims,
    })
}

impl StatusReport {
    /// Each running swarm's latest prediction, by swarm id (those that have one).
    pub fn predictions(&self) -> BTreeMap<&str, &Prediction> {
        self.running
            .iter()
            .filter_map(|s| Some((s.record.id.as_str(), s.prediction.as_ref()?)))
            .collect()
    }

    /// What each running swarm's workers are doing, by swarm id (those that published it).
    pub fn lives(&self) -> BTreeMap<&str, &LiveStatus> {
        self.running
            .iter()
            .filter_map(|s| Some((s.record.id.as_str(), s.live.as_ref()?)))
            .collect()
    }

    /// Each running swarm's gate state, by swarm id (those that have a gate).
    pub fn gates(&self) -> BTreeMap<&str, &GateStatus> {
        self.running
            .iter()
            .filter_map(|s| Some((s.record.id.as_str(), s.gate.as_ref()?)))
            .collect()
    }
}
