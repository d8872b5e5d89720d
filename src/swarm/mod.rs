//! The runtime: a swarm of worker threads, one merge queue thread (the only writer of the
//! target branch) and one recorder thread (the only writer of cycle notes), talking over
//! crossbeam channels.
//!
//! The caller (the `swarm` command) owns the terminal: it drains [`Event`]s from
//! [`Swarm::events`] and turns Ctrl-C into [`Control::stop`] / [`Control::kill`]. Nothing here
//! prints.

mod merge_queue;
pub mod predict;
mod prompts;
mod recorder;
mod worker;
mod workspace;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, unbounded};

use crate::config::{Config, WorkerConfig};
use crate::git::{GitError, ObjectId, Repo, SharedRepo};
use crate::store::queue::hostname;
use crate::store::record::{CycleRecord, Outcome};
use crate::store::swarm::{Stopped, SwarmRecord};
use crate::store::{ClaimOutcome, Queue, QueueError, Recovered, TaskId};

pub use merge_queue::{LandReply, LandRequest};

/// Why a swarm could not start or finish cleanly.
#[derive(Debug, thiserror::Error)]
pub enum SwarmError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("target branch `{0}` does not exist")]
    NoTarget(String),
    #[error("could not start a thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// How the caller asks a running swarm to stop.
#[derive(Debug, Default)]
pub struct Control {
    /// Finish turns in flight, land what is ready, start nothing new.
    pub stop: AtomicBool,
    /// Kill agent process groups now.
    pub kill: AtomicBool,
}

impl Control {
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || self.killing()
    }
    pub fn killing(&self) -> bool {
        self.kill.load(Ordering::SeqCst)
    }
    /// Sleeps up to `d`, waking early when a stop is requested. Returns false if stopped.
    pub fn sleep(&self, d: Duration) -> bool {
        let deadline = std::time::Instant::now() + d;
        while std::time::Instant::now() < deadline {
            if self.stopping() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50).min(d));
        }
        !self.stopping()
    }
}

/// What the swarm tells its caller, in the order it happens.
#[derive(Debug, Clone)]
pub enum Event {
    Started {
        swarm: String,
        target: String,
        workers: Vec<(String, String)>,
    },
    Recovered {
        released: Vec<String>,
        crashed: Vec<String>,
        kept: Vec<String>,
    },
    CycleStarted {
        worker: String,
        cycle: u32,
    },
    TurnEnded {
        worker: String,
        cycle: u32,
        turn: u32,
        /// `claim a, b`, `merge`, `done`, `none`, or the failure.
        signal: String,
    },
    Claimed {
        worker: String,
        results: Vec<(String, ClaimOutcome)>,
    },
    LandingPaused {
        worker: String,
        reason: String,
    },
    Landed {
        worker: String,
        commit: ObjectId,
        tasks: Vec<TaskId>,
    },
    CycleEnded {
        worker: String,
        record: Box<CycleRecord>,
    },
    Waiting {
        worker: String,
        why: String,
    },
    Warning(String),
    WorkerFinished(WorkerSummary),
}

/// How one worker's run went, for the end-of-swarm summary.
#[derive(Debug, Clone, Default)]
pub struct WorkerSummary {
    pub worker: String,
    pub model: String,
    pub cycles: u32,
    pub outcomes: BTreeMap<String, u32>,
    pub landed_tasks: Vec<String>,
    /// Why the worker stopped.
    pub reason: String,
}

/// What starting a swarm needs beyond the repository.
#[derive(Debug, Clone)]
pub struct Options {
    pub config: Config,
    /// The target branch's short name (`main`).
    pub target: String,
    /// A directory to put first on the agents' PATH (where this `git-oompa` lives), so agents
    /// can run `git oompa task …`.
    pub exe_dir: Option<PathBuf>,
}

/// State shared by every thread of a swarm.
pub(crate) struct Shared {
    pub id: String,
    pub repo: SharedRepo,
    pub config: Config,
    pub target: String,
    pub target_ref: String,
    pub root: PathBuf,
    pub worktrees: PathBuf,
    pub transcripts: PathBuf,
    pub exe_dir: Option<PathBuf>,
    pub control: Arc<Control>,
    /// Workers currently inside a cycle (they may still add or release tasks).
    pub in_flight: AtomicUsize,
    pub events: Sender<Event>,
}

impl Shared {
    pub fn emit(&self, e: Event) {
        let _ = self.events.send(e);
    }
}

/// A running swarm.
pub struct Swarm {
    pub id: String,
    pub events: Receiver<Event>,
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<WorkerSummary>>,
    merge_queue: Option<JoinHandle<()>>,
    recorder: Option<JoinHandle<()>>,
    land_tx: Option<Sender<LandRequest>>,
    record_tx: Option<Sender<CycleRecord>>,
}

/// The worker ids of a config, in order: `w0, w1, …`, or `<name>`/`<name>-<i>` when named.
pub fn worker_ids(config: &Config) -> Vec<(String, WorkerConfig)> {
    let mut out = Vec::new();
    let mut n = 0;
    for w in &config.workers {
        for i in 0..w.count {
            let id = match &w.name {
                Some(name) if w.count == 1 => name.clone(),
                Some(name) => format!("{name}-{i}"),
                None => format!("w{n}"),
            };
            n += 1;
            out.push((id, w.clone()));
        }
    }
    out
}

/// Recovers claims whose owner is gone, keeping their unmerged branch tips under
/// `refs/oompa/keep/`. Safe to call from any command.
pub fn recover(
    repo: &Repo,
    target_ref: Option<&str>,
) -> Result<(Recovered, Vec<String>), SwarmError> {
    let target = match target_ref {
        Some(r) => repo.read_ref(r)?,
        None => None,
    };
    let mut kept = Vec::new();
    let rec = Queue::new(repo).recover(&hostname(), |id, claim| {
        let Some(branch) = &claim.branch else { return };
        let Ok(Some(tip)) = repo.read_ref(branch) else {
            return;
        };
        if target.is_some_and(|t| repo.is_ancestor(tip, t).unwrap_or(false)) {
            return;
        }
        let name = format!(
            "refs/oompa/keep/{}/{}/recovered-{id}",
            claim.swarm, claim.worker
        );
        if repo.read_ref(&name).ok().flatten() == Some(tip)
            || repo
                .cas_ref(&name, None, tip, "oompa: keep work of a gone owner")
                .is_ok()
        {
            kept.push(name);
        }
    })?;
    kept.sort();
    kept.dedup();
    Ok((rec, kept))
}

impl Swarm {
    /// Checks the target, recovers dead claims, records the swarm in the queue and starts
    /// every thread.
    pub fn start(repo: &Repo, opts: Options) -> Result<Swarm, SwarmError> {
        let target_ref = format!("refs/heads/{}", opts.target);
        if repo.read_ref(&target_ref)?.is_none() {
            return Err(SwarmError::NoTarget(opts.target));
        }
        let queue = Queue::new(repo);
        queue.init()?;
        let (events_tx, events) = unbounded();
        let (recovered, kept) = recover(repo, Some(&target_ref))?;
        if !recovered.released.is_empty() || !recovered.crashed.is_empty() {
            let _ = events_tx.send(Event::Recovered {
                released: recovered
                    .released
                    .iter()
                    .map(|(id, _)| id.to_string())
                    .collect(),
                crashed: recovered.crashed.iter().map(|s| s.id.clone()).collect(),
                kept,
            });
        }

        let id = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
        let root = repo.main_workdir();
        let ids = worker_ids(&opts.config);
        let worktree_dir = &opts.config.worktree_dir;
        let worktrees = if worktree_dir.is_absolute() {
            worktree_dir.clone()
        } else {
            root.join(worktree_dir)
        };
        let record = SwarmRecord {
            version: 1,
            id: id.clone(),
            started: jiff::Timestamp::now().to_string(),
            host: hostname(),
            pid: std::process::id(),
            target: opts.target.clone(),
            config: opts.config.path.as_ref().map(|p| p.display().to_string()),
            workers: ids.iter().map(|(w, _)| w.clone()).collect(),
            stopped: None,
        };
        queue.put_swarm(&record, "started")?;
        let _ = events_tx.send(Event::Started {
            swarm: id.clone(),
            target: opts.target.clone(),
            workers: ids
                .iter()
                .map(|(w, c)| (w.clone(), c.model.to_string()))
                .collect(),
        });

        let shared = Arc::new(Shared {
            id: id.clone(),
            repo: repo.clone().into_shared(),
            transcripts: repo
                .common_dir()
                .join("oompa")
                .join("transcripts")
                .join(&id),
            config: opts.config,
            target: opts.target,
            target_ref,
            root,
            worktrees: worktrees.join(&id),
            exe_dir: opts.exe_dir,
            control: Arc::new(Control::default()),
            in_flight: AtomicUsize::new(0),
            events: events_tx,
        });
        let (land_tx, land_rx) = unbounded();
        let (record_tx, record_rx) = unbounded();
        let spawn = |name: String| std::thread::Builder::new().name(name);
        let merge_queue = {
            let shared = Arc::clone(&shared);
            spawn("merge-queue".into())
                .spawn(move || merge_queue::run(&shared, land_rx))
                .map_err(SwarmError::Thread)?
        };
        let recorder = {
            let shared = Arc::clone(&shared);
            spawn("recorder".into())
                .spawn(move || recorder::run(&shared, record_rx))
                .map_err(SwarmError::Thread)?
        };
        let mut workers = Vec::new();
        for (wid, wconf) in ids {
            let ctx = worker::Worker::new(
                Arc::clone(&shared),
                wid.clone(),
                wconf,
                land_tx.clone(),
                record_tx.clone(),
            );
            workers.push(
                spawn(format!("worker-{wid}"))
                    .spawn(move || ctx.run())
                    .map_err(SwarmError::Thread)?,
            );
        }
        Ok(Swarm {
            id,
            events,
            shared,
            workers,
            merge_queue: Some(merge_queue),
            recorder: Some(recorder),
            land_tx: Some(land_tx),
            record_tx: Some(record_tx),
        })
    }

    pub fn control(&self) -> Arc<Control> {
        Arc::clone(&self.shared.control)
    }

    /// Whether every worker thread has ended.
    pub fn workers_done(&self) -> bool {
        self.workers.iter().all(|w| w.is_finished())
    }

    /// Waits for every thread, flushes the records and marks the swarm stopped.
    pub fn finish(mut self) -> Result<Vec<WorkerSummary>, SwarmError> {
        let mut summaries = Vec::new();
        for w in self.workers.drain(..) {
            match w.join() {
                Ok(s) => summaries.push(s),
                Err(_) => self
                    .shared
                    .emit(Event::Warning("a worker thread panicked".into())),
            }
        }
        drop(self.land_tx.take());
        drop(self.record_tx.take());
        if let Some(m) = self.merge_queue.take() {
            let _ = m.join();
        }
        if let Some(r) = self.recorder.take() {
            let _ = r.join();
        }
        let repo = self.shared.repo.to_thread_local();
        let queue = Queue::new(&repo);
        let reason = if self.shared.control.killing() {
            "killed"
        } else if self.shared.control.stopping() {
            "interrupted"
        } else {
            "completed"
        };
        if let Some(mut rec) = queue.swarms()?.into_iter().find(|s| s.id == self.id) {
            rec.stopped = Some(Stopped {
                at: jiff::Timestamp::now().to_string(),
                reason: reason.into(),
            });
            queue.put_swarm(&rec, reason)?;
        }
        Ok(summaries)
    }
}

/// Counts of each outcome, for summaries.
pub(crate) fn bump(map: &mut BTreeMap<String, u32>, outcome: Outcome) {
    *map.entry(outcome.to_string()).or_default() += 1;
}
