//! The runtime: a swarm of worker threads, one merge queue thread (the only writer of the
//! target branch; with a `[gate]` it lands only what the gate passed, see [`gate`]) and one
//! recorder thread (the only writer of cycle notes), talking over crossbeam channels.
//!
//! The caller (the `swarm` command) owns the terminal: it drains [`Event`]s from
//! [`Swarm::events`] and turns Ctrl-C into [`Control::stop`] / [`Control::kill`]. Nothing here
//! prints.

mod budget;
pub mod gate;
pub mod live;
mod merge_queue;
pub mod orphans;
mod planner;
pub mod predict;
mod predictor;
mod preflight;
mod prompts;
mod recorder;
pub mod registry;
mod review;
mod start;
pub mod status;
mod target_tip;
mod target_watch;
mod worker;
mod workspace;

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use crate::config::{Config, WorkerConfig};
use crate::git::{GitError, ObjectId, SharedRepo};
use crate::store::journal;
use crate::store::record::{CycleRecord, Outcome};
use crate::store::swarm::Stopped;
use crate::store::{ClaimOutcome, Queue, QueueError, TaskId};

pub use merge_queue::{LandReply, LandRequest};
pub use preflight::missing_clis;

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
    /// The registry of running swarms (`.git/oompa/swarms/<id>/`) could not be written.
    #[error("could not register the swarm in {}: {source}", .dir.display())]
    Registry {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Every agent CLI the config needs that is not on PATH, each with who needs it.
    #[error("{}", missing_text(.missing))]
    MissingCli { missing: Vec<(String, Vec<String>)> },
}

/// How the caller asks a running swarm to stop.
#[derive(Debug, Default)]
pub struct Control {
    /// Finish turns in flight, land what is ready, start nothing new.
    pub stop: AtomicBool,
    /// Kill agent process groups now.
    pub kill: AtomicBool,
    /// Why the swarm stopped itself (a landing paused past `max_landing_pause`), if it did.
    pub gave_up: Mutex<Option<String>>,
    /// The swarm's budget is spent (why): it stops as on one Ctrl-C.
    pub spent: Mutex<Option<String>>,
    /// What the person does about [`Self::gave_up`], when the swarm knows better than the
    /// general advice.
    pub gave_up_hint: Mutex<Option<String>>,
}

impl Control {
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || self.killing()
    }
    pub fn killing(&self) -> bool {
        self.kill.load(Ordering::SeqCst)
    }
    /// Stops the swarm as Ctrl-C once would, remembering why (the first reason wins).
    pub fn give_up(&self, why: String) {
        self.gave_up
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(why);
        self.stop.store(true, Ordering::SeqCst);
    }
    /// [`Self::give_up`], with the command that fixes the cause.
    pub fn give_up_with_hint(&self, why: String, hint: String) {
        self.gave_up_hint
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(hint);
        self.give_up(why);
    }
    /// What the person does about the reason the swarm stopped itself, if it says.
    pub fn gave_up_hint(&self) -> Option<String> {
        self.gave_up_hint
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    /// Stops the swarm as Ctrl-C once would because its budget is spent; true the first time.
    pub fn spend_up(&self, why: String) -> bool {
        let mut spent = self.spent.lock().unwrap_or_else(|e| e.into_inner());
        let first = spent.is_none();
        spent.get_or_insert(why);
        self.stop.store(true, Ordering::SeqCst);
        first
    }
    /// Why the swarm's budget stopped it, if it did.
    pub fn spent_because(&self) -> Option<String> {
        self.spent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    /// Why the swarm stopped itself, if it did.
    pub fn gave_up_because(&self) -> Option<String> {
        self.gave_up
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
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
        /// Cycles of dead swarms recorded now, as `swarm/worker/cycle: outcome`.
        recorded: Vec<String>,
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
    Planned {
        round: u32,
        added: Vec<String>,
        error: Option<String>,
    },
    Reviewed {
        worker: String,
        round: crate::store::record::ReviewRound,
    },
    LandingPaused {
        worker: String,
        reason: String,
    },
    /// A landing-gate run started on `candidate`, holding these workers' changes.
    GateStarted {
        run: u64,
        workers: Vec<String>,
        candidate: ObjectId,
        /// It looks for the change that broke a failed batch.
        bisect: bool,
    },
    /// A landing-gate run ended: `passed`, `failed`, `timed-out`, `cancelled` or `error`.
    GateEnded {
        run: u64,
        workers: Vec<String>,
        candidate: ObjectId,
        result: String,
        duration_ms: u64,
        attempts: u32,
        flaky: bool,
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
    /// A worker stopped its cycle to wait for its provider (a usage limit, its own or one
    /// another worker on the same provider saw, or a passing provider error) until `until`,
    /// keeping its claims and its session.
    Paused {
        worker: String,
        until: jiff::Timestamp,
        reason: String,
    },
    /// A paused worker resumes its session.
    Resumed {
        worker: String,
    },
    /// A budget is spent (`why`): a worker's own (`worker`), which stops after its turn, or
    /// the swarm's (`worker` is `None`), which stops as on one Ctrl-C. Said to people as a
    /// warning; this event is for `notify`.
    BudgetSpent {
        worker: Option<String>,
        why: String,
    },
    Warning(String),
    /// A worker could not start (its worktree, its branch): the cause, in full.
    WorkerFailed {
        worker: String,
        error: String,
    },
    WorkerFinished(WorkerSummary),
    /// A worker's phase changed (for `status` and its live view; see [`live`]), with what
    /// its cycle's turns have used so far when that changed.
    Phase {
        worker: String,
        phase: live::Phase,
        spent: Option<crate::store::record::Tokens>,
    },
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
    /// Whether it got as far as its worktree (a worker that never started did no cycle).
    pub started: bool,
    /// What its agents used (its reviewers' turns included).
    pub spend: crate::config::budget::Spend,
}

/// What a finished swarm reports.
#[derive(Debug, Clone, Default)]
pub struct Finished {
    pub workers: Vec<WorkerSummary>,
    /// Landings that conflicted with the target…
    pub landing_conflicts: usize,
    /// …and how many of those conflict prediction had flagged beforehand.
    pub predicted_conflicts: usize,
    /// What the landing gate did, when one is configured.
    pub gate: Option<gate::GateSummary>,
    /// What the whole swarm spent.
    pub spend: crate::config::budget::Spend,
    /// Threads that panicked (a bug in git oompa): `<thread>: <message>` each.
    pub panicked: Vec<String>,
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
    /// The swarm's id, when the caller chose it (`swarm --detach`); else a new one.
    pub id: Option<String>,
    /// Started with `git oompa swarm --detach` (noted in the registry).
    pub detached: bool,
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
    /// Where each cycle is noted while it runs, so a crash cannot leave it out of the log.
    pub journal: journal::Journal,
    pub exe_dir: Option<PathBuf>,
    pub control: Arc<Control>,
    /// Workers currently inside a cycle (they may still add or release tasks).
    pub in_flight: AtomicUsize,
    /// Workers waiting for a task.
    pub idle_workers: AtomicUsize,
    /// Worker threads still running.
    pub workers_running: AtomicUsize,
    /// The planner's first round is over (or there is no planner): workers may start.
    pub planner_ready: AtomicBool,
    /// The planner may still add tasks.
    pub planner_active: AtomicBool,
    /// The latest conflict prediction between live branches and the target.
    pub prediction: Mutex<predict::Prediction>,
    /// Workers whose branch a prediction flagged during their current cycle.
    pub flagged: Mutex<BTreeSet<String>>,
    /// Landings that conflicted, and how many of those had been predicted.
    pub landing_conflicts: AtomicUsize,
    pub predicted_conflicts: AtomicUsize,
    /// The landing gate's runs per worker, and its counters.
    pub board: gate::Board,
    /// What the swarm has spent (budgets).
    pub ledger: budget::Ledger,
    /// What each worker is doing, for the status file.
    pub live: live::Board,
    /// Providers whose usage limit is in force, shared by all their workers.
    pub provider_pauses: worker::ProviderPauses,
    /// The last tip of the target seen, for when it is deleted under the swarm.
    pub target_tip: target_tip::TargetTip,
    pub events: Sender<Event>,
}

impl Shared {
    pub fn emit(&self, e: Event) {
        self.live.observe(&e);
        let _ = self.events.send(e);
    }

    /// A copy of the latest prediction.
    pub fn prediction(&self) -> predict::Prediction {
        self.prediction
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn flagged_lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.flagged.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The environment of an agent working for `worker`: who and where it is, and a PATH on
    /// which `git oompa` is this binary. `user` (from the config) comes last and wins.
    pub fn agent_env(
        &self,
        worker: &str,
        cycle: u32,
        branch: &str,
        user: &BTreeMap<String, String>,
    ) -> Vec<(String, String)> {
        let mut env = vec![
            (crate::agent_env::SWARM.to_string(), self.id.clone()),
            (crate::agent_env::WORKER.to_string(), worker.to_string()),
            (crate::agent_env::CYCLE.to_string(), cycle.to_string()),
            (
                crate::agent_env::SWARM_PID.to_string(),
                std::process::id().to_string(),
            ),
            (crate::agent_env::BRANCH.to_string(), branch.to_string()),
            (crate::agent_env::TARGET.to_string(), self.target.clone()),
        ];
        if let Some(dir) = &self.exe_dir {
            let mut paths = vec![dir.clone()];
            if let Some(p) = std::env::var_os("PATH") {
                paths.extend(std::env::split_paths(&p));
            }
            if let Ok(joined) = std::env::join_paths(paths) {
                env.push(("PATH".into(), joined.to_string_lossy().into_owned()));
            }
        }
        // git oompa's guard follows the agent to the main checkout too (`git::include`).
        env.extend(crate::git::include::agent_env(
            self.repo.to_thread_local().common_dir(),
        ));
        env.extend(user.iter().map(|(k, v)| (k.clone(), v.clone())));
        env
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
    planner: Option<JoinHandle<()>>,
    predictor: Option<JoinHandle<()>>,
    live: Option<JoinHandle<()>>,
    land_tx: Option<Sender<LandRequest>>,
    record_tx: Option<Sender<CycleRecord>>,
    /// This swarm's entry in the registry of running swarms (its lock held while it lives).
    registration: Option<registry::Registration>,
    /// Ends the swarm's agents if this process dies without doing so.
    watchdog: Option<orphans::Watchdog>,
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

impl Swarm {
    pub fn control(&self) -> Arc<Control> {
        Arc::clone(&self.shared.control)
    }

    /// Whether every worker thread (and the planner) has ended.
    pub fn workers_done(&self) -> bool {
        self.workers.iter().all(|w| w.is_finished())
            && self.planner.as_ref().is_none_or(|p| p.is_finished())
    }

    /// Waits for every thread, flushes the records and marks the swarm stopped.
    pub fn finish(mut self) -> Result<Finished, SwarmError> {
        let mut summaries = Vec::new();
        let mut panicked = Vec::new();
        for w in self.workers.drain(..) {
            let name = thread_name(&w);
            match w.join() {
                Ok(s) => summaries.push(s),
                Err(p) => panicked.push(format!("{name}: {}", crate::panic_message(&*p))),
            }
        }
        // Every worker thread has ended, also one that panicked before it could count itself
        // out: without this the predictor (and so this join) would wait for it forever.
        self.shared.workers_running.store(0, Ordering::SeqCst);
        if let Some(p) = self.planner.take() {
            joined(p, &mut panicked);
        }
        if let Some(p) = self.predictor.take() {
            joined(p, &mut panicked);
        }
        drop(self.land_tx.take());
        drop(self.record_tx.take());
        if let Some(m) = self.merge_queue.take() {
            joined(m, &mut panicked);
        }
        if let Some(r) = self.recorder.take() {
            joined(r, &mut panicked);
        }
        self.shared.journal.close();
        self.shared.live.close();
        if let Some(l) = self.live.take() {
            joined(l, &mut panicked);
        }
        if let Some(w) = self.watchdog.take() {
            w.finish();
        }
        if let Some(r) = self.registration.take() {
            r.keep_until_exit();
        }
        let repo = self.shared.repo.to_thread_local();
        let queue = Queue::new(&repo);
        let reason = if self.shared.control.killing() {
            "killed"
        } else if self.shared.control.spent_because().is_some() {
            "budget-spent"
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
        Ok(Finished {
            workers: summaries,
            landing_conflicts: self.shared.landing_conflicts.load(Ordering::SeqCst),
            predicted_conflicts: self.shared.predicted_conflicts.load(Ordering::SeqCst),
            gate: self
                .shared
                .config
                .gate
                .as_ref()
                .map(|_| self.shared.board.summary()),
            spend: self.shared.ledger.total(),
            panicked,
        })
    }
}

/// The name a swarm thread was started with (`w0`, `merge-queue`, …).
fn thread_name<T>(handle: &JoinHandle<T>) -> String {
    handle
        .thread()
        .name()
        .unwrap_or("a swarm thread")
        .to_string()
}

/// Joins a thread whose result is not needed, noting a panic in `panicked`.
fn joined<T>(handle: JoinHandle<T>, panicked: &mut Vec<String>) {
    let name = thread_name(&handle);
    if let Err(p) = handle.join() {
        panicked.push(format!("{name}: {}", crate::panic_message(&*p)));
    }
}

/// `agent CLI `claude` (for w0) is not on PATH`, or every missing one in one sentence.
fn missing_text(missing: &[(String, Vec<String>)]) -> String {
    let one =
        |(binary, users): &(String, Vec<String>)| format!("`{binary}` (for {})", users.join(", "));
    match missing {
        [m] => format!("agent CLI {} is not on PATH", one(m)),
        many => format!(
            "agent CLIs not on PATH: {}",
            many.iter().map(one).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Counts of each outcome, for summaries.
pub(crate) fn bump(map: &mut BTreeMap<String, u32>, outcome: Outcome) {
    *map.entry(outcome.to_string()).or_default() += 1;
}
