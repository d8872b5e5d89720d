//! The gated merge queue: the merge-queue thread's loop when a `[gate]` is configured.
//!
//! Owns the IO around [`Train`]: taking landing requests, making landing commits (the
//! [`Stack`] implementation), starting and cancelling runs on their own threads, landing
//! passed prefixes through [`merge_queue::publish`] (the same compare-and-swap transaction
//! and checkout handling as an ungated landing), answering workers, recording runs on the
//! [`Board`](super::Board) and publishing the status file. Everything that decides lives in
//! the train; this file only carries it out.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, never, select, unbounded};

use super::runner::{self, Ended, Job};
use super::status::{self, GateStatus, Queued, Running};
use super::train::{Key, Out, RunId, RunSpec, Stack, Stacked, Step, Train};
use super::{GateFailure, GateSummary};
use crate::config::GateConfig;
use crate::git::{ObjectId, Repo, short};
use crate::store::record::GateRun;
use crate::store::trailers::{GATE, landing_message};
use crate::store::{Landed, Queue, Task, TaskId};
use crate::swarm::merge_queue::{self, Attempt, LandReply, LandRequest, LandingTree, Pause};
use crate::swarm::{Event, Shared};

/// How long the loop waits for news before it looks at the target and the kill switch again.
const TICK: Duration = Duration::from_millis(200);
/// How often a paused landing is tried again.
const PAUSE_POLL: Duration = Duration::from_millis(500);
/// A landing whose transaction keeps losing to queue writes (claims) tries this often.
const MAX_LAND_TRIES: u32 = 50;

/// Runs the gated merge queue until every worker has hung up and nothing is left.
pub(crate) fn run(shared: &Shared, requests: Receiver<LandRequest>, gate: &GateConfig) {
    let repo = shared.repo.to_thread_local();
    let target = match repo.read_ref(&shared.target_ref) {
        Ok(Some(t)) => t,
        other => {
            let why = match other {
                Err(e) => e.to_string(),
                _ => format!("target branch {} disappeared", shared.target),
            };
            for req in requests {
                let _ = req.reply.send(LandReply::Failed(why.clone()));
            }
            return;
        }
    };
    shared.checkouts_start_at(target);
    let (done_tx, done_rx) = unbounded();
    let status_path = status::status_path(repo.common_dir(), &shared.id);
    let mut d = Driver {
        shared,
        repo,
        gate,
        trailer: gate.summary(),
        train: Train::new(target, gate.batch as usize, gate.parallel as usize),
        entries: BTreeMap::new(),
        waiting: VecDeque::new(),
        next_key: 1,
        active: BTreeMap::new(),
        reports: BTreeMap::new(),
        searching: BTreeSet::new(),
        done_tx,
        done_rx,
        buffered: VecDeque::new(),
        paused: None,
        killed: false,
        status_path,
        last_status: None,
    };
    d.run(requests);
}

/// A change in the queue.
struct Entry {
    req: LandRequest,
    tasks: Vec<Task>,
    since: jiff::Timestamp,
}

/// What a run's thread reports: its result, then that its worktree is back.
enum Msg {
    Ended(Ended),
    Freed {
        run: RunId,
        restore_error: Option<String>,
    },
}

/// A run in progress (or being cancelled).
struct Active {
    spec: RunSpec,
    workers: Vec<String>,
    cancel: Arc<AtomicBool>,
    since: jiff::Timestamp,
    handle: Option<JoinHandle<()>>,
}

/// A failed run, kept until its culprit is told.
struct Report {
    ended: Ended,
    candidate: ObjectId,
    workers: Vec<String>,
}

/// A landing that waits for the target's checkout.
struct Paused {
    upto: usize,
    candidate: ObjectId,
    /// What blocks (a pause is said once per key) and how that is said.
    key: String,
    reason: String,
    /// Since when this key has blocked the landing.
    since: Instant,
    next_try: Instant,
}

struct Driver<'a> {
    shared: &'a Shared,
    repo: Repo,
    gate: &'a GateConfig,
    /// The `Oompa-Gate:` trailer of every landing commit.
    trailer: String,
    train: Train,
    entries: BTreeMap<Key, Entry>,
    waiting: VecDeque<Key>,
    next_key: Key,
    active: BTreeMap<RunId, Active>,
    reports: BTreeMap<RunId, Report>,
    /// Runs started while a culprit was being searched for.
    searching: BTreeSet<RunId>,
    done_tx: Sender<Msg>,
    done_rx: Receiver<Msg>,
    /// What runs reported while a landing was paused; the train hears of it after it.
    buffered: VecDeque<Msg>,
    paused: Option<Paused>,
    killed: bool,
    status_path: std::path::PathBuf,
    last_status: Option<GateStatus>,
}

/// Makes landing commits for the train.
struct Stacker<'r> {
    repo: &'r Repo,
    swarm: &'r str,
    entries: &'r BTreeMap<Key, Entry>,
    trailer: &'r str,
}

impl Stack for Stacker<'_> {
    fn stack(&mut self, parent: ObjectId, key: Key) -> Stacked {
        let Some(e) = self.entries.get(&key) else {
            return Stacked::Error(format!("change {key} is not in the queue"));
        };
        let tip = e.req.tip;
        let tree = match merge_queue::landing_tree(self.repo, parent, tip) {
            Err(err) => return Stacked::Error(err),
            Ok(LandingTree::UpToDate) => return Stacked::UpToDate,
            Ok(LandingTree::Conflict(paths)) => return Stacked::Conflict(paths),
            Ok(LandingTree::Tree(tree)) => tree,
        };
        let mut message = landing_message(
            &e.tasks,
            &[],
            &e.req.worker,
            self.swarm,
            &e.req.branch,
            e.req.review_rounds,
        );
        message.push_str(&format!("{GATE}: {}\n", self.trailer));
        let commit = match self.repo.commit(&message, tree, &[parent, tip]) {
            Ok(c) => c,
            Err(err) => return Stacked::Error(err.to_string()),
        };
        let paths = self
            .repo
            .changed_paths(Some(parent), commit)
            .unwrap_or_default();
        Stacked::Commit {
            commit,
            tree,
            paths,
        }
    }
}

/// Splits the driver into the train and a stacker over the rest (two disjoint borrows).
macro_rules! with_stacker {
    ($d:ident, |$g:ident, $train:ident| $body:expr) => {{
        let mut $g = Stacker {
            repo: &$d.repo,
            swarm: &$d.shared.id,
            entries: &$d.entries,
            trailer: &$d.trailer,
        };
        let $train = &mut $d.train;
        $body
    }};
}

/// Runs `job` on a thread of its own. Whatever happens in the run, the queue hears of its end
/// and then of its worktree (it would wait for them forever otherwise).
fn spawn_run(job: Job, tx: Sender<Msg>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("gate-run-{}", job.run))
        .spawn(move || {
            let ended =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runner::run(&job)))
                    .unwrap_or_else(|_| {
                        Ended::without_attempts(
                            job.run,
                            "the gate run crashed (a bug in git oompa)".into(),
                        )
                    });
            let _ = tx.send(Msg::Ended(ended));
            let restore =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runner::restore(&job)));
            let _ = tx.send(Msg::Freed {
                run: job.run,
                restore_error: restore
                    .unwrap_or_else(|_| Some("putting the worktree back crashed".into())),
            });
        })
}

impl Driver<'_> {
    fn run(&mut self, requests: Receiver<LandRequest>) {
        let mut requests = Some(requests);
        loop {
            if self.shared.control.killing() && !self.killed {
                self.kill();
            }
            self.step();
            if requests.is_none()
                && self.waiting.is_empty()
                && self.entries.is_empty()
                && self.active.is_empty()
                && self.train.is_idle()
            {
                break;
            }
            let none = never();
            let rx = requests.as_ref().unwrap_or(&none);
            select! {
                recv(rx) -> r => match r {
                    Ok(req) => self.enqueue(req),
                    Err(_) => requests = None,
                },
                recv(self.done_rx) -> d => match d {
                    Ok(Msg::Ended(ended)) => self.ended(ended),
                    Ok(Msg::Freed { run, restore_error }) => self.freed(run, restore_error),
                    Err(_) => {}
                },
                default(TICK) => {}
            }
        }
        let _ = std::fs::remove_file(&self.status_path);
    }

    /// Everything that can move without new input, until nothing does.
    fn step(&mut self) {
        loop {
            if !self.killed && self.paused.is_none() {
                self.follow_target();
            }
            self.retry_paused();
            while self.paused.is_none()
                && let Some(msg) = self.buffered.pop_front()
            {
                match msg {
                    Msg::Ended(ended) => self.feed(ended),
                    Msg::Freed { run, .. } => self.train.freed(run),
                }
            }
            self.admit();
            if !self.killed {
                self.start_runs();
            }
            self.apply_cancels();
            if !self.deliver() {
                break;
            }
        }
        self.publish_status();
    }

    /// A worker's approved change enters the queue.
    fn enqueue(&mut self, req: LandRequest) {
        if self.killed {
            let _ = req.reply.send(LandReply::Interrupted);
            return;
        }
        let tasks = match merge_queue::held_tasks(&Queue::new(&self.repo), self.shared, &req) {
            Ok(t) => t,
            Err(e) => {
                let _ = req.reply.send(LandReply::Failed(e.to_string()));
                return;
            }
        };
        let key = self.next_key;
        self.next_key += 1;
        self.shared.emit(Event::Waiting {
            worker: req.worker.clone(),
            why: format!("approved; queued for the gate (`{}`)", self.trailer),
        });
        self.entries.insert(
            key,
            Entry {
                req,
                tasks,
                since: jiff::Timestamp::now(),
            },
        );
        self.waiting.push_back(key);
    }

    /// The target moved outside the queue: everything is stacked and gated again on it.
    fn follow_target(&mut self) {
        let Some(now) = self.shared.read_target(&self.repo) else {
            return;
        };
        if now == self.train.target() {
            return;
        }
        self.shared.emit(Event::Warning(format!(
            "{} moved to {} outside the merge queue; the gate checks the queued changes again on it",
            self.shared.target,
            short(&now)
        )));
        with_stacker!(self, |g, train| train.rebase(&mut g, now));
    }

    fn admit(&mut self) {
        if self.killed {
            for key in std::mem::take(&mut self.waiting) {
                self.reply(key, LandReply::Interrupted);
            }
            return;
        }
        let mut kept = VecDeque::new();
        while let Some(key) = self.waiting.pop_front() {
            if !self.train.has_room() {
                kept.push_back(key);
                continue;
            }
            let taken = with_stacker!(self, |g, train| train.admit(&mut g, key));
            if !taken {
                // It conflicts with a change ahead of it; it waits for the train to shrink.
                kept.push_back(key);
            }
        }
        self.waiting = kept;
    }

    fn start_runs(&mut self) {
        for spec in self.train.schedule() {
            self.start(spec);
        }
    }

    /// Starts a run of the gate on its own thread, and tells the board.
    fn start(&mut self, spec: RunSpec) {
        let job = self.job(&spec);
        let workers = job.workers.clone();
        let cancel = Arc::clone(&job.cancel);
        if spec.bisect {
            self.searching.insert(spec.id);
        }
        self.shared.emit(Event::GateStarted {
            run: spec.id,
            workers: workers.clone(),
            candidate: spec.candidate,
            bisect: spec.bisect,
        });
        let handle = match spawn_run(job, self.done_tx.clone()) {
            Ok(h) => Some(h),
            Err(e) => {
                self.shared.emit(Event::Warning(format!(
                    "could not start a gate run: {e}; it counts as failed"
                )));
                let _ = self.done_tx.send(Msg::Ended(Ended::without_attempts(
                    spec.id,
                    format!("could not start a thread for the gate run: {e}"),
                )));
                let _ = self.done_tx.send(Msg::Freed {
                    run: spec.id,
                    restore_error: None,
                });
                None
            }
        };
        self.active.insert(
            spec.id,
            Active {
                spec,
                workers,
                cancel,
                since: jiff::Timestamp::now(),
                handle,
            },
        );
    }

    /// The workers whose changes these are, in the same order.
    fn workers_of<'k>(&self, keys: impl IntoIterator<Item = &'k Key>) -> Vec<String> {
        keys.into_iter()
            .filter_map(|k| self.entries.get(k).map(|e| e.req.worker.clone()))
            .collect()
    }

    /// What a run's thread needs: the candidate, the worktree of the change it ends with, and
    /// what its commands are told.
    fn job(&self, spec: &RunSpec) -> Job {
        let tasks: Vec<String> = spec
            .members
            .iter()
            .filter_map(|k| self.entries.get(k))
            .flat_map(|e| e.tasks.iter().map(|t| t.id.to_string()))
            .collect();
        let owner = self
            .entries
            .get(&spec.worktree)
            .expect("a run's worktree belongs to a change on the train");
        Job {
            run: spec.id,
            candidate: spec.candidate,
            base: spec.base,
            worktree: self.shared.worktrees.join(&owner.req.worker),
            branch: owner.req.branch.clone(),
            copy: self.shared.config.copy.clone(),
            root: self.shared.root.clone(),
            workers: self.workers_of(&spec.members),
            tasks,
            swarm: self.shared.id.clone(),
            target: self.shared.target.clone(),
            output_dir: crate::store::layout::gate_output_dir(&self.shared.transcripts),
            gate: self.gate.clone(),
            cancel: Arc::new(AtomicBool::new(false)),
            output_max: self.shared.config.transcript_max,
        }
    }

    fn apply_cancels(&mut self) {
        for id in self.train.take_cancels() {
            if let Some(a) = self.active.get(&id) {
                a.cancel.store(true, Ordering::SeqCst);
            }
        }
    }

    /// A run's result is in: record it, then let the train decide (later, if a landing is
    /// paused).
    fn ended(&mut self, ended: Ended) {
        let Some(active) = self.active.get(&ended.run) else {
            return;
        };
        self.record(active, &ended);
        let cancelled = active.cancel.load(Ordering::SeqCst);
        if !ended.passed && !cancelled {
            let report = Report {
                ended: ended.clone(),
                candidate: active.spec.candidate,
                workers: active.workers.clone(),
            };
            self.reports.insert(ended.run, report);
        }
        self.buffered.push_back(Msg::Ended(ended));
    }

    /// A run's worktree is back on its branch: its thread is done.
    fn freed(&mut self, run: RunId, restore_error: Option<String>) {
        let Some(mut active) = self.active.remove(&run) else {
            return;
        };
        if let Some(h) = active.handle.take() {
            let _ = h.join();
        }
        if let Some(e) = restore_error {
            self.shared.emit(Event::Warning(format!(
                "could not put {}'s worktree back on its branch after gate run {run}: {e}",
                active.workers.last().map_or("?", String::as_str),
            )));
        }
        self.buffered.push_back(Msg::Freed {
            run,
            restore_error: None,
        });
    }

    /// The train hears how a run ended.
    fn feed(&mut self, ended: Ended) {
        let point = self
            .train
            .live_runs()
            .iter()
            .find(|(id, _, _)| *id == ended.run)
            .map(|(_, p, _)| *p);
        let searching = self.searching.remove(&ended.run);
        if !ended.passed && point.is_some_and(|p| p > 1) && !searching {
            // A failure holding several changes: a search for the culprit starts.
            self.shared.board.count(|s| s.bisections += 1);
        }
        let passed = ended.passed;
        let step = with_stacker!(self, |g, train| train.finished(
            &mut g,
            ended.run,
            passed,
            &ended.mentioned
        ));
        if let Step::Land {
            upto, candidate, ..
        } = step
        {
            self.land(upto, candidate);
        }
    }

    /// Lands the train's first `upto` changes: the target moves from the train's target to
    /// `candidate`, the commit the gate passed.
    fn land(&mut self, upto: usize, candidate: ObjectId) {
        let members = self.train.members();
        let Some((_, top)) = members.get(upto.wrapping_sub(1)) else {
            return;
        };
        if *top != candidate {
            // Never anything but what the gate saw.
            return;
        }
        let landing = &members[..upto];
        let completions = self.completions(landing);
        let workers = self.workers_of(landing.iter().map(|(k, _)| k));
        let reflog = format!(
            "oompa: land {} through the gate ({})",
            upto,
            workers.join(", ")
        );
        let actor = format!("{}/gate", self.shared.id);
        let mut tries = 0;
        loop {
            tries += 1;
            let base = self.train.target();
            let attempt = merge_queue::publish(
                self.shared,
                &self.repo,
                base,
                base,
                candidate,
                &completions,
                &reflog,
                &actor,
            );
            match attempt {
                Attempt::Done(LandReply::Landed { .. }) => return self.landed(landing),
                Attempt::Done(LandReply::Failed(why)) => {
                    self.paused = None;
                    self.shared.emit(Event::Warning(format!(
                        "landing through the gate failed: {why}"
                    )));
                    with_stacker!(self, |g, train| train.abandon(&mut g, upto, &why));
                    return;
                }
                Attempt::Done(other) => {
                    self.paused = None;
                    let why = format!("unexpected landing result {other:?}");
                    with_stacker!(self, |g, train| train.abandon(&mut g, upto, &why));
                    return;
                }
                Attempt::Retry => {
                    if !self.lost_race(upto, candidate, base, tries) {
                        return;
                    }
                }
                Attempt::Paused(pause) => return self.pause(upto, candidate, pause, &workers),
            }
        }
    }

    /// What the landing of these changes completes: each one's tasks, with its landing.
    fn completions(&self, landing: &[(Key, ObjectId)]) -> Vec<(Vec<TaskId>, Landed)> {
        landing
            .iter()
            .filter_map(|(key, commit)| {
                let e = self.entries.get(key)?;
                Some((
                    e.tasks.iter().map(|t| t.id.clone()).collect(),
                    Landed {
                        commit: commit.to_string(),
                        review_rounds: e.req.review_rounds,
                        at: jiff::Timestamp::now().to_string(),
                        worker: Some(e.req.worker.clone()),
                    },
                ))
            })
            .collect()
    }

    /// The changes in `landing` are on the target: counted, told, and off the train.
    fn landed(&mut self, landing: &[(Key, ObjectId)]) {
        let upto = landing.len();
        self.paused = None;
        self.shared.board.count(|s| {
            s.landings += 1;
            s.landed += upto as u64;
        });
        for (key, commit) in landing {
            if let Some(e) = self.entries.get(key) {
                self.shared.emit(Event::Landed {
                    worker: e.req.worker.clone(),
                    commit: *commit,
                    tasks: e.tasks.iter().map(|t| t.id.clone()).collect(),
                });
            }
        }
        with_stacker!(self, |g, train| train.landed(&mut g, upto));
    }

    /// The landing's transaction lost a race. The target moved (then everything is gated
    /// again on it), or only the task queue did (a claim): the candidate still sits on the
    /// target, and the landing tries again, pausing after [`MAX_LAND_TRIES`]. Returns whether
    /// to try again now.
    fn lost_race(&mut self, upto: usize, candidate: ObjectId, base: ObjectId, tries: u32) -> bool {
        match self.repo.read_ref(&self.shared.target_ref) {
            Ok(Some(now)) if now != base => {
                self.paused = None;
                self.follow_target();
                false
            }
            _ if tries >= MAX_LAND_TRIES => {
                let key = "queue".to_string();
                let since = match &self.paused {
                    Some(p) if p.key == key => p.since,
                    _ => Instant::now(),
                };
                self.paused = Some(Paused {
                    upto,
                    candidate,
                    key,
                    reason: "the task queue keeps changing under the landing".into(),
                    since,
                    next_try: Instant::now() + PAUSE_POLL,
                });
                false
            }
            _ => true,
        }
    }

    /// Something in the target's checkout is in the way: the landing waits (its workers are
    /// told once per cause), or gives up as the pause's verdict says.
    fn pause(&mut self, upto: usize, candidate: ObjectId, pause: Pause, workers: &[String]) {
        let reason = pause.message();
        let since = match &self.paused {
            Some(p) if p.key == pause.key => p.since,
            _ => {
                for w in workers {
                    self.shared.emit(Event::LandingPaused {
                        worker: w.clone(),
                        reason: reason.clone(),
                    });
                }
                Instant::now()
            }
        };
        match pause.verdict(self.shared, &workers.join(", "), since) {
            Some(LandReply::Interrupted) => {
                self.paused = None;
                with_stacker!(self, |g, train| train.interrupt(&mut g, upto));
            }
            Some(LandReply::Failed(why)) => {
                self.paused = None;
                with_stacker!(self, |g, train| train.abandon(&mut g, upto, &why));
            }
            _ => {
                self.paused = Some(Paused {
                    upto,
                    candidate,
                    key: pause.key,
                    reason,
                    since,
                    next_try: Instant::now() + PAUSE_POLL,
                })
            }
        }
    }

    fn retry_paused(&mut self) {
        let Some(p) = &self.paused else { return };
        if self.killed {
            self.paused = None;
            return;
        }
        if Instant::now() < p.next_try {
            return;
        }
        let (upto, candidate) = (p.upto, p.candidate);
        self.land(upto, candidate);
    }

    /// Answers the changes the train is done with. Returns whether anything went back to
    /// waiting (so admission should run again).
    fn deliver(&mut self) -> bool {
        let mut requeued = false;
        for (key, out) in self.train.take_out() {
            let reply = match out {
                Out::Requeue => {
                    self.waiting.push_front(key);
                    requeued = true;
                    continue;
                }
                Out::Landed { commit } => LandReply::Landed {
                    commit,
                    tasks: self
                        .entries
                        .get(&key)
                        .map(|e| e.tasks.iter().map(|t| t.id.clone()).collect())
                        .unwrap_or_default(),
                },
                Out::Failed { run, base } => {
                    self.shared.board.count(|s| s.culprits += 1);
                    LandReply::GateFailed(Box::new(self.failure(run, base)))
                }
                Out::Conflict(paths) => LandReply::Conflict { paths },
                Out::UpToDate => LandReply::UpToDate,
                Out::Interrupted => LandReply::Interrupted,
                Out::Error(why) => LandReply::Failed(why),
            };
            self.reply(key, reply);
        }
        if self.train.is_idle() && self.active.is_empty() {
            self.reports.clear();
        }
        requeued
    }

    fn reply(&mut self, key: Key, reply: LandReply) {
        if let Some(e) = self.entries.remove(&key) {
            let _ = e.req.reply.send(reply);
        }
    }

    /// What the culprit is told about the run that failed on exactly target + its change.
    fn failure(&self, run: RunId, base: ObjectId) -> GateFailure {
        let Some(r) = self.reports.get(&run) else {
            return GateFailure {
                command: None,
                status: "failed".into(),
                candidate: base,
                base,
                workers: Vec::new(),
                tail: String::new(),
                output: None,
                mentioned: BTreeSet::new(),
                attempts: 0,
            };
        };
        let last = r.ended.attempts.last();
        GateFailure {
            command: r.ended.failed_command.clone(),
            status: last
                .and_then(|a| a.status.clone())
                .unwrap_or_else(|| "failed".into()),
            candidate: r.candidate,
            base,
            workers: r.workers.clone(),
            tail: r.ended.tail.clone(),
            output: last.map(|a| a.output.clone()),
            mentioned: r.ended.mentioned.clone(),
            attempts: u32::try_from(r.ended.attempts.len()).unwrap_or(u32::MAX),
        }
    }

    fn kill(&mut self) {
        self.killed = true;
        self.paused = None;
        self.train.kill();
        for a in self.active.values() {
            a.cancel.store(true, Ordering::SeqCst);
        }
    }

    /// Every attempt of a finished run goes into the records of the workers whose changes it
    /// held, and into the counters.
    fn record(&self, active: &Active, ended: &Ended) {
        let board = &self.shared.board;
        let cancelled = active.cancel.load(Ordering::SeqCst);
        for a in &ended.attempts {
            let result = if cancelled && a.result != "passed" {
                "cancelled"
            } else {
                a.result
            };
            let run = GateRun {
                candidate: active.spec.candidate.to_string(),
                base: active.spec.base.to_string(),
                batch: active.workers.clone(),
                commands: a.commands.clone(),
                result: result.to_string(),
                status: a.status.clone().filter(|_| result != "passed"),
                started: a.started.to_string(),
                duration_ms: u64::try_from(a.duration.as_millis()).unwrap_or(u64::MAX),
                attempt: a.number,
                flaky: a.flaky,
                bisect: active.spec.bisect,
                output: Some(a.output.display().to_string()),
            };
            for w in &active.workers {
                board.record(w, run.clone());
            }
            board.count(|s: &mut GateSummary| {
                s.runs += 1;
                match result {
                    "cancelled" => s.cancelled += 1,
                    "passed" if a.flaky => s.flaky += 1,
                    _ => {}
                }
            });
        }
        if !ended.passed && !cancelled {
            board.count(|s| s.failures += 1);
        }
        let last = ended.attempts.last();
        self.shared.emit(Event::GateEnded {
            run: ended.run,
            workers: active.workers.clone(),
            candidate: active.spec.candidate,
            result: if cancelled && !ended.passed {
                "cancelled".into()
            } else {
                last.map_or("error", |a| a.result).to_string()
            },
            duration_ms: ended
                .attempts
                .iter()
                .map(|a| u64::try_from(a.duration.as_millis()).unwrap_or(u64::MAX))
                .sum(),
            attempts: u32::try_from(ended.attempts.len()).unwrap_or(u32::MAX),
            flaky: last.is_some_and(|a| a.flaky),
        });
    }

    /// Rewrites the status file when what it says changed.
    fn publish_status(&mut self) {
        let queued = |key: &Key, commit: Option<ObjectId>| -> Option<Queued> {
            let e = self.entries.get(key)?;
            Some(Queued {
                worker: e.req.worker.clone(),
                tasks: e.tasks.iter().map(|t| t.id.to_string()).collect(),
                commit: commit.map(|c| c.to_string()),
                since: e.since.to_string(),
            })
        };
        let status = GateStatus {
            version: status::STATUS_VERSION,
            commands: self.gate.commands.clone(),
            target: self.train.target().to_string(),
            queue: self
                .train
                .members()
                .iter()
                .filter_map(|(k, c)| queued(k, Some(*c)))
                .collect(),
            waiting: self
                .waiting
                .iter()
                .filter_map(|k| queued(k, None))
                .collect(),
            runs: self
                .active
                .values()
                .filter(|a| {
                    !a.cancel.load(Ordering::SeqCst)
                        && self
                            .train
                            .live_runs()
                            .iter()
                            .any(|(id, _, _)| *id == a.spec.id)
                })
                .map(|a| Running {
                    run: a.spec.id,
                    candidate: a.spec.candidate.to_string(),
                    workers: a.workers.clone(),
                    since: a.since.to_string(),
                    bisect: a.spec.bisect,
                })
                .collect(),
            paused: self.paused.as_ref().map(|p| p.reason.clone()),
        };
        if self.last_status.as_ref() != Some(&status) {
            if let Err(e) = status::write(&self.status_path, &status) {
                tracing::debug!("could not write the gate status: {e}");
            }
            self.last_status = Some(status);
        }
    }
}
