//! What every worker of a running swarm is doing right now, for `git oompa status` and its
//! live view (`status --watch`): a small versioned file per swarm,
//! `.git/oompa/swarms/<swarm>/status.json`, rewritten atomically by the swarm's `live` thread
//! on every change and at least once a second, removed when the swarm ends.
//!
//! The workers say nothing to this module directly: every [`Event`] the swarm emits passes
//! through `Board::observe` (see `Shared::emit`), which turns it into a worker's [`Phase`]
//! (as the gate's `Board` keeps its runs). A new kind of event that changes what a worker does
//! is one more arm in `observe`.
//!
//! # The file (version 1)
//!
//! ```json
//! {"version":1,"swarm":"1a2b3c4d","pid":4242,"host":"box","target":"main",
//!  "started":"…","updated":"…",
//!  "queue":{"pending":3,"claimed":2,"complete":7},
//!  "landings":4,
//!  "merge_queue":[{"worker":"w1","state":"gating","tasks":["t-2"],"since":"…"}],
//!  "conflicts":[{"a":"w0","b":"w2","paths":["src/lib.rs"]}],
//!  "workers":[{"worker":"w0","model":"claude:sonnet",
//!    "phase":{"kind":"turn","cycle":2,"turn":3,"for":"work"},"doing":"agent turn 3",
//!    "since":"…","cycle":2,"cycles":1,"tasks":["t-1"],"landed":1,
//!    "last_line":"Editing src/lib.rs","tokens":{"input":1200,"output":340,"cost_usd":0.02},
//!    "transcript":"/repo/.git/oompa/transcripts/1a2b3c4d/w0/cycle-2.log"}]}
//! ```
//!
//! Times are RFC 3339 (UTC). `phase.kind` is one of `starting`, `preparing`, `turn` (`for`:
//! `work`, `review-findings`, `conflict`, `gate-failure`), `review`, `landing`, `gating`,
//! `between-cycles`, `waiting-for-tasks`, `backing-off`, `paused`, `done`; `doing` says the
//! same for people. `last_line` is the last line the worker's agent (or its reviewer) printed,
//! exactly as printed (the text of a JSON event for CLIs that print JSON). Within version 1
//! fields are only added.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

mod transcript;
pub use transcript::{json_text, last_line, tail};

use super::predict::ConflictPair;
use super::{Event, Shared};
use crate::store::record::{CycleRecord, Tokens};
use crate::store::{Queue, State};

pub const STATUS_VERSION: u32 = 1;

/// How often the `live` thread looks for a change.
const TICK: Duration = Duration::from_millis(200);
/// The file is rewritten at least this often, so `updated` shows the swarm is alive.
const REFRESH: Duration = Duration::from_secs(1);

/// What one worker is doing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Phase {
    /// Creating its worktree.
    Starting,
    /// Refreshing its worktree for a cycle.
    Preparing {
        cycle: u32,
    },
    /// An agent turn of its own session: the `turn`-th of the cycle.
    Turn {
        cycle: u32,
        turn: u32,
        #[serde(rename = "for")]
        purpose: TurnPurpose,
    },
    /// Its change is being reviewed.
    Review {
        cycle: u32,
        round: u32,
    },
    /// Its change is in the merge queue (queued for the gate, or landing).
    Landing {
        cycle: u32,
    },
    /// A gate run holding its change is under way.
    Gating {
        run: u64,
        bisect: bool,
    },
    /// A cycle ended; the next one has not started.
    BetweenCycles {
        cycle: u32,
        outcome: String,
    },
    WaitingForTasks,
    /// After a failed cycle, until `until` (RFC 3339).
    BackingOff {
        until: String,
    },
    /// Behind a usage limit or a provider error, until `until` (RFC 3339) when known.
    Paused {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<String>,
        reason: String,
    },
    /// The worker thread ended.
    Done {
        reason: String,
    },
}

/// Why an agent turn runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TurnPurpose {
    #[default]
    Work,
    /// Fixing what a reviewer found.
    ReviewFindings,
    /// Resolving a conflict with the target (or markers a resolution left).
    Conflict,
    /// Fixing what broke the landing gate.
    GateFailure,
}

impl Phase {
    /// What a person reads: `agent turn 3`, `review round 2`, `paused until 14:30 (…)`.
    pub fn describe(&self) -> String {
        match self {
            Phase::Starting => "starting".into(),
            Phase::Preparing { cycle } => format!("preparing cycle {cycle}"),
            Phase::Turn { turn, purpose, .. } => match purpose {
                TurnPurpose::Work => format!("agent turn {turn}"),
                TurnPurpose::ReviewFindings => format!("fixing review findings (turn {turn})"),
                TurnPurpose::Conflict => format!("resolving a conflict (turn {turn})"),
                TurnPurpose::GateFailure => format!("fixing the gate failure (turn {turn})"),
            },
            Phase::Review { round, .. } => format!("review round {round}"),
            Phase::Landing { .. } => "landing".into(),
            Phase::Gating { run, bisect } => {
                let why = if *bisect { ", finding the culprit" } else { "" };
                format!("gating (run {run}{why})")
            }
            Phase::BetweenCycles { cycle, outcome } => format!("cycle {cycle} ended: {outcome}"),
            Phase::WaitingForTasks => "waiting for tasks".into(),
            Phase::BackingOff { until } => format!("backing off until {}", clock(until)),
            Phase::Paused { until, reason } => match until {
                Some(u) => format!("paused until {} ({reason})", clock(u)),
                None => format!("paused ({reason})"),
            },
            Phase::Done { reason } => format!("done: {reason}"),
        }
    }

    /// Whether this worker's change is in the merge queue.
    fn in_merge_queue(&self) -> Option<&'static str> {
        match self {
            Phase::Landing { .. } => Some("landing"),
            Phase::Gating { .. } => Some("gating"),
            _ => None,
        }
    }
}

/// `14:30` in local time; the text itself when it is not a timestamp.
fn clock(raw: &str) -> String {
    match raw.parse::<jiff::Timestamp>() {
        Ok(t) => t
            .to_zoned(jiff::tz::TimeZone::system())
            .strftime("%H:%M:%S")
            .to_string(),
        Err(_) => raw.to_string(),
    }
}

/// The status file of one swarm.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LiveStatus {
    pub version: u32,
    pub swarm: String,
    pub pid: u32,
    pub host: String,
    pub target: String,
    pub started: String,
    /// When the file was last written.
    pub updated: String,
    pub queue: QueueCounts,
    /// Landings so far.
    pub landings: u64,
    /// Changes in the merge queue, longest waiting first.
    #[serde(default)]
    pub merge_queue: Vec<MergeEntry>,
    /// The latest conflict prediction's pairs (`b` may be `target`).
    #[serde(default)]
    pub conflicts: Vec<ConflictPair>,
    pub workers: Vec<WorkerStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueCounts {
    pub pending: usize,
    pub claimed: usize,
    pub complete: usize,
}

/// A change in the merge queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergeEntry {
    pub worker: String,
    /// `landing` (queued, or landing) or `gating` (a gate run holds it).
    pub state: String,
    pub tasks: Vec<String>,
    pub since: String,
}

/// One worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerStatus {
    pub worker: String,
    pub model: String,
    pub phase: Phase,
    /// [`Phase::describe`].
    pub doing: String,
    /// When it entered its phase (RFC 3339).
    pub since: String,
    /// Its current (or last) cycle; 0 before the first.
    pub cycle: u32,
    /// Cycles ended.
    pub cycles: u32,
    /// Tasks it holds.
    #[serde(default)]
    pub tasks: Vec<String>,
    /// Tasks it landed.
    pub landed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_line: Option<String>,
    /// Tokens and cost of every turn so far (its reviewers' included).
    pub tokens: Tokens,
    /// Its current (or last) cycle's transcript.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<String>,
}

/// What the board keeps per worker beyond the file.
#[derive(Debug, Clone, Default)]
struct Spent {
    /// Ended cycles.
    done: Tokens,
    /// The current cycle so far.
    cycle: Tokens,
    /// The phase a usage-limit pause interrupted.
    before_pause: Option<Phase>,
}

/// The swarm's live state: updated by [`Board::observe`] from every event, written by the
/// `live` thread.
pub(crate) struct Board {
    state: Mutex<(LiveStatus, Vec<Spent>)>,
    transcripts: PathBuf,
    /// Bumped on every change.
    generation: AtomicU64,
    /// The swarm is finishing: the thread removes the file and ends.
    closed: AtomicBool,
}

impl Board {
    /// `workers`: each worker's id and model, in order.
    pub fn new(status: LiveStatus, workers: &[(String, String)], transcripts: PathBuf) -> Board {
        let now = jiff::Timestamp::now().to_string();
        let mut status = status;
        status.version = STATUS_VERSION;
        status.workers = workers
            .iter()
            .map(|(w, model)| WorkerStatus {
                worker: w.clone(),
                model: model.clone(),
                doing: Phase::Starting.describe(),
                phase: Phase::Starting,
                since: now.clone(),
                cycle: 0,
                cycles: 0,
                tasks: Vec::new(),
                landed: 0,
                last_line: None,
                tokens: Tokens::default(),
                transcript: None,
            })
            .collect();
        let spent = vec![Spent::default(); workers.len()];
        Board {
            state: Mutex::new((status, spent)),
            transcripts,
            generation: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        }
    }

    /// Where a worker's cycle writes its transcript.
    pub fn transcript(&self, worker: &str, cycle: u32) -> PathBuf {
        crate::store::layout::cycle_transcript(&self.transcripts, worker, cycle)
    }

    /// Takes what `e` says about the workers.
    pub fn observe(&self, e: &Event) {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (status, spent) = &mut *guard;
        let mut board = Workers { status, spent };
        let changed = match e {
            Event::Phase {
                worker,
                phase,
                spent: used,
            } => {
                board.phase(worker, phase, used.as_ref());
                true
            }
            Event::CycleStarted { worker, cycle } => {
                board.cycle_started(worker, *cycle, self.transcript(worker, *cycle));
                true
            }
            Event::GateStarted {
                run,
                workers,
                bisect,
                ..
            } => {
                board.gate_started(workers, *run, *bisect);
                true
            }
            Event::GateEnded { workers, .. } => {
                board.gate_ended(workers);
                true
            }
            Event::Landed { worker, tasks, .. } => {
                board.landed(worker, tasks.len());
                true
            }
            Event::CycleEnded { worker, record } => {
                board.cycle_ended(worker, record);
                true
            }
            Event::WorkerFinished(s) => {
                let reason = s.reason.clone();
                board.set(&s.worker, Phase::Done { reason });
                true
            }
            Event::Paused {
                worker,
                until,
                reason,
            } => {
                board.paused(worker, until, reason);
                true
            }
            Event::Resumed { worker } => {
                board.resumed(worker);
                true
            }
            // A new event that changes what a worker does maps to its phase here.
            _ => false,
        };
        drop(guard);
        if changed {
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A copy of the state as it is now (without what the `live` thread adds).
    pub fn status(&self) -> LiveStatus {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clone()
    }

    /// Tells the `live` thread to remove the file and end.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }
}

/// The board's state while an event is taken: the workers as the file shows them, and what
/// the board keeps about each beyond the file.
struct Workers<'a> {
    status: &'a mut LiveStatus,
    spent: &'a mut Vec<Spent>,
}

impl Workers<'_> {
    fn index(&self, worker: &str) -> Option<usize> {
        self.status.workers.iter().position(|w| w.worker == worker)
    }

    fn set(&mut self, worker: &str, phase: Phase) {
        set_phase(&mut self.status.workers, worker, phase);
    }

    /// A new phase, with what the cycle's turns have used so far when that changed.
    fn phase(&mut self, worker: &str, phase: &Phase, used: Option<&Tokens>) {
        if let Some(used) = used
            && let Some(i) = self.index(worker)
        {
            self.spent[i].cycle = used.clone();
            self.status.workers[i].tokens = sum(&self.spent[i].done, used);
        }
        self.set(worker, phase.clone());
    }

    fn cycle_started(&mut self, worker: &str, cycle: u32, transcript: PathBuf) {
        self.set(worker, Phase::Preparing { cycle });
        if let Some(w) = self.status.workers.iter_mut().find(|w| w.worker == worker) {
            w.cycle = cycle;
            w.transcript = Some(transcript.display().to_string());
            w.last_line = None;
        }
    }

    fn gate_started(&mut self, workers: &[String], run: u64, bisect: bool) {
        for w in workers {
            self.set(w, Phase::Gating { run, bisect });
        }
    }

    /// The gate's workers that are still gating go back to landing.
    fn gate_ended(&mut self, workers: &[String]) {
        for w in workers {
            let cycle = self
                .status
                .workers
                .iter()
                .find(|s| &s.worker == w && matches!(s.phase, Phase::Gating { .. }))
                .map(|s| s.cycle);
            if let Some(cycle) = cycle {
                self.set(w, Phase::Landing { cycle });
            }
        }
    }

    fn landed(&mut self, worker: &str, tasks: usize) {
        self.status.landings += 1;
        if let Some(w) = self.status.workers.iter_mut().find(|w| w.worker == worker) {
            w.landed += tasks as u64;
        }
    }

    /// Between cycles; the cycle's tokens join the worker's total.
    fn cycle_ended(&mut self, worker: &str, record: &CycleRecord) {
        self.set(
            worker,
            Phase::BetweenCycles {
                cycle: record.cycle,
                outcome: record.outcome.to_string(),
            },
        );
        if let Some(i) = self.index(worker) {
            self.spent[i].done = sum(&self.spent[i].done, &record.tokens);
            self.spent[i].cycle = Tokens::default();
            self.status.workers[i].tokens = self.spent[i].done.clone();
            self.status.workers[i].cycles += 1;
        }
    }

    /// Behind a usage limit: the phase it was in comes back when it resumes.
    fn paused(&mut self, worker: &str, until: &jiff::Timestamp, reason: &str) {
        if let Some(i) = self.index(worker)
            && !matches!(self.status.workers[i].phase, Phase::Paused { .. })
        {
            self.spent[i].before_pause = Some(self.status.workers[i].phase.clone());
        }
        let phase = Phase::Paused {
            until: Some(until.to_string()),
            reason: reason.to_string(),
        };
        self.set(worker, phase);
    }

    fn resumed(&mut self, worker: &str) {
        if let Some(i) = self.index(worker)
            && let Some(before) = self.spent[i].before_pause.take()
        {
            self.set(worker, before);
        }
    }
}

/// Puts `worker` in `phase`; `since` only moves when the phase changes.
fn set_phase(workers: &mut [WorkerStatus], worker: &str, phase: Phase) {
    if let Some(w) = workers.iter_mut().find(|w| w.worker == worker)
        && w.phase != phase
    {
        w.doing = phase.describe();
        w.phase = phase;
        w.since = jiff::Timestamp::now().to_string();
    }
}

fn sum(a: &Tokens, b: &Tokens) -> Tokens {
    let add = |x: Option<u64>, y: Option<u64>| match (x, y) {
        (None, None) => None,
        (x, y) => Some(x.unwrap_or(0) + y.unwrap_or(0)),
    };
    Tokens {
        input: add(a.input, b.input),
        output: add(a.output, b.output),
        cost_usd: match (a.cost_usd, b.cost_usd) {
            (None, None) => None,
            (x, y) => Some(x.unwrap_or(0.0) + y.unwrap_or(0.0)),
        },
    }
}

/// Where the swarm `swarm` keeps its status.
pub fn status_path(common_dir: &Path, swarm: &str) -> PathBuf {
    crate::store::layout::live_status_file(common_dir, swarm)
}

/// The status at `path`, if there is a readable one of a version this build knows.
pub fn read(path: &Path) -> Option<LiveStatus> {
    let s: LiveStatus = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    (s.version == STATUS_VERSION).then_some(s)
}

/// Writes `status` atomically (a temporary file, then a rename).
pub fn write(path: &Path, status: &LiveStatus) -> std::io::Result<()> {
    let mut json = serde_json::to_vec_pretty(status).map_err(std::io::Error::other)?;
    json.push(b'\n');
    crate::store::layout::write_atomic(path, &json)
}

/// The status file of every swarm the registry knows to be running on this machine
/// ([`registry::list_running`](super::registry::list_running)). Oldest swarm first.
pub fn running(common_dir: &Path) -> Vec<LiveStatus> {
    // The registry knows a live swarm from a dead one (pid and its lock); the status file
    // says what it is doing.
    let mut out: Vec<LiveStatus> = super::registry::list_running(common_dir)
        .into_iter()
        .filter_map(|r| read(&status_path(common_dir, &r.id)))
        .collect();
    out.sort_by(|a, b| a.started.cmp(&b.started).then(a.swarm.cmp(&b.swarm)));
    out
}

/// The `live` thread: writes the status file on every change and at least once a second
/// until the swarm closes the board, then removes it.
pub(crate) fn run(shared: &Shared) {
    let repo = shared.repo.to_thread_local();
    let path = status_path(repo.common_dir(), &shared.id);
    let mut seen = u64::MAX;
    let mut last = Instant::now();
    while !shared.live.closed.load(Ordering::SeqCst) {
        let generation = shared.live.generation.load(Ordering::SeqCst);
        if generation != seen || last.elapsed() >= REFRESH {
            seen = generation;
            last = Instant::now();
            let status = complete(shared, &repo);
            if let Err(e) = write(&path, &status) {
                tracing::debug!("cannot write {}: {e}", path.display());
            }
        }
        std::thread::sleep(TICK);
    }
    let _ = std::fs::remove_file(&path);
}

/// The board's state, with the queue, the claims, the prediction, the merge queue and each
/// worker's last line added.
fn complete(shared: &Shared, repo: &crate::git::Repo) -> LiveStatus {
    let mut status = shared.live.status();
    status.updated = jiff::Timestamp::now().to_string();
    if let Ok(snap) = Queue::new(repo).snapshot() {
        status.queue = QueueCounts {
            pending: snap.count(State::Pending),
            claimed: snap.count(State::Current),
            complete: snap.count(State::Complete),
        };
        for w in &mut status.workers {
            w.tasks = snap
                .held_by(&shared.id, &w.worker)
                .map(|t| t.id.to_string())
                .collect();
        }
    }
    status.conflicts = shared.prediction().conflicts;
    for w in &mut status.workers {
        if let Some(t) = &w.transcript
            && let Some(line) = last_line(Path::new(t))
        {
            w.last_line = Some(line);
        }
    }
    let mut mq: Vec<MergeEntry> = status
        .workers
        .iter()
        .filter_map(|w| {
            Some(MergeEntry {
                worker: w.worker.clone(),
                state: w.phase.in_merge_queue()?.to_string(),
                tasks: w.tasks.clone(),
                since: w.since.clone(),
            })
        })
        .collect();
    mq.sort_by(|a, b| a.since.cmp(&b.since));
    status.merge_queue = mq;
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    // One worker's cycle from its start to its landing, event after event: long because each
    // step starts from where the one before left the board.
    #[test]
    fn events_move_workers_through_their_phases_and_since_only_moves_on_a_change() {
        let board = Board::new(
            LiveStatus::default(),
            &[
                ("w0".into(), "exec:x".into()),
                ("w1".into(), "exec:x".into()),
            ],
            PathBuf::from("/t"),
        );
        let phase = |w: &str| {
            let s = board.status();
            let w = s
                .workers
                .into_iter()
                .find(|x| x.worker == w)
                .expect("a worker");
            (w.phase, w.doing, w.since)
        };
        assert_eq!(phase("w0").0, Phase::Starting);
        board.observe(&Event::CycleStarted {
            worker: "w0".into(),
            cycle: 2,
        });
        let turn = Phase::Turn {
            cycle: 2,
            turn: 1,
            purpose: TurnPurpose::Work,
        };
        let spent = Tokens {
            input: Some(10),
            output: Some(5),
            cost_usd: Some(0.5),
        };
        board.observe(&Event::Phase {
            worker: "w0".into(),
            phase: turn.clone(),
            spent: Some(spent.clone()),
        });
        let (p, doing, since) = phase("w0");
        assert_eq!((p, doing.as_str()), (turn.clone(), "agent turn 1"));
        // The same phase again (a repeated event) keeps its since.
        board.observe(&Event::Phase {
            worker: "w0".into(),
            phase: turn,
            spent: None,
        });
        assert_eq!(phase("w0").2, since);
        let s = board.status();
        assert_eq!(s.workers[0].tokens, spent);
        assert_eq!(s.workers[0].cycle, 2);
        assert_eq!(
            s.workers[0].transcript.as_deref(),
            Some("/t/w0/cycle-2.log")
        );
        board.observe(&Event::GateStarted {
            run: 7,
            workers: vec!["w0".into()],
            candidate: crate::git::ObjectId::null(gix::hash::Kind::Sha1),
            bisect: false,
        });
        assert_eq!(phase("w0").1, "gating (run 7)");
        board.observe(&Event::GateEnded {
            run: 7,
            workers: vec!["w0".into()],
            candidate: crate::git::ObjectId::null(gix::hash::Kind::Sha1),
            result: "passed".into(),
            duration_ms: 1,
            attempts: 1,
            flaky: false,
        });
        assert_eq!(phase("w0").0, Phase::Landing { cycle: 2 });
        board.observe(&Event::Landed {
            worker: "w0".into(),
            commit: crate::git::ObjectId::null(gix::hash::Kind::Sha1),
            tasks: vec![crate::store::TaskId::new("t1").expect("an id")],
        });
        assert_eq!(board.status().landings, 1);
        assert_eq!(board.status().workers[0].landed, 1);
        // Events that say nothing about a worker leave it as it is.
        board.observe(&Event::Warning("w1 is fine".into()));
        assert_eq!(phase("w1").0, Phase::Starting);
        board.observe(&Event::WorkerFinished(crate::swarm::WorkerSummary {
            worker: "w1".into(),
            reason: "no more work".into(),
            ..Default::default()
        }));
        assert_eq!(phase("w1").1, "done: no more work");
    }

    #[test]
    fn a_pause_gives_back_the_phase_it_interrupted_and_an_ended_cycles_tokens_join_the_total() {
        let board = Board::new(
            LiveStatus::default(),
            &[("w0".into(), "exec:x".into())],
            PathBuf::from("/t"),
        );
        let w0 = || board.status().workers[0].clone();
        let tokens = |input| Tokens {
            input: Some(input),
            output: None,
            cost_usd: None,
        };
        let review = Phase::Review { cycle: 1, round: 2 };
        board.observe(&Event::Phase {
            worker: "w0".into(),
            phase: review.clone(),
            spent: Some(tokens(10)),
        });
        let until = jiff::Timestamp::now();
        for _ in 0..2 {
            // A second pause (another worker on the same provider saw it) keeps the first's.
            board.observe(&Event::Paused {
                worker: "w0".into(),
                until,
                reason: "usage limit".into(),
            });
        }
        assert!(
            matches!(w0().phase, Phase::Paused { .. }),
            "{:?}",
            w0().phase
        );
        board.observe(&Event::Resumed {
            worker: "w0".into(),
        });
        assert_eq!(w0().phase, review);
        let record = CycleRecord {
            tokens: tokens(30),
            ..CycleRecord::new("s1", "w0", 1, crate::store::record::Outcome::Merged, "base")
        };
        board.observe(&Event::CycleEnded {
            worker: "w0".into(),
            record: Box::new(record),
        });
        assert_eq!((w0().tokens, w0().cycles), (tokens(30), 1));
        board.observe(&Event::Phase {
            worker: "w0".into(),
            phase: Phase::Preparing { cycle: 2 },
            spent: Some(tokens(5)),
        });
        assert_eq!(w0().tokens, tokens(35));
    }

    #[test]
    fn phases_say_what_a_person_needs() {
        let turn = Phase::Turn {
            cycle: 1,
            turn: 3,
            purpose: TurnPurpose::ReviewFindings,
        };
        assert_eq!(turn.describe(), "fixing review findings (turn 3)");
        let v = serde_json::to_value(&turn).expect("serializable");
        assert_eq!(v["kind"], "turn");
        assert_eq!(v["for"], "review-findings");
        assert_eq!(
            serde_json::to_value(Phase::WaitingForTasks).expect("serializable")["kind"],
            "waiting-for-tasks"
        );
    }
}
