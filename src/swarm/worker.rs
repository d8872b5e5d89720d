//! One worker thread: a warm worktree, and cycle after cycle of agent turns until its cycles
//! are used, the queue is drained, it fails too often, or the swarm stops.
//!
//! A cycle: refresh the worktree to the target tip, start a fresh agent session, act on the
//! signal of each turn (claim, merge, done, or resume/nudge/stuck), and end with exactly one
//! outcome and one record. Claims the cycle did not land go back to pending; unmerged work is
//! kept under `refs/oompa/keep/`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, bounded};

use std::collections::BTreeSet;

use super::merge_queue::{LandReply, LandRequest};
use super::prompts::{self, Vars};
use super::review;
use super::workspace::Workspace;
use super::{Event, Shared, WorkerSummary, bump};
use crate::agent::{self, Exit, Signal, Turn, TurnMode};
use crate::config::WorkerConfig;
use crate::git::merge::Merge;
use crate::git::{ObjectId, Repo, cli};
use crate::store::record::{CycleRecord, Outcome, RECORD_VERSION, ReviewRound, Tokens};
use crate::store::{ClaimOutcome, Claimant, Owner, Queue, Snapshot, State, TaskId};

/// Claims held by swarm workers last this long without their process (other hosts only).
const LEASE: Duration = Duration::from_secs(24 * 3600);
/// Turns one cycle may take in all (claims included), as a multiple of `max_resumes`, so an
/// agent that keeps claiming without ever finishing cannot hold a worker forever.
const TURNS_PER_RESUME: u32 = 4;
const MIN_TURN_CAP: u32 = 20;
/// The longest pause between failing cycles.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

pub(crate) struct Worker {
    shared: Arc<Shared>,
    id: String,
    config: WorkerConfig,
    land: Sender<LandRequest>,
    records: Sender<CycleRecord>,
}

/// What a cycle produced, before it becomes a record.
struct CycleResult {
    outcome: Outcome,
    landed: Option<ObjectId>,
    tasks: Vec<String>,
    conflicts: Vec<String>,
    error: Option<String>,
    review: Vec<ReviewRound>,
}

impl CycleResult {
    fn new(outcome: Outcome) -> Self {
        CycleResult {
            outcome,
            landed: None,
            tasks: Vec::new(),
            conflicts: Vec::new(),
            error: None,
            review: Vec::new(),
        }
    }
    fn error(msg: impl Into<String>) -> Self {
        CycleResult {
            error: Some(msg.into()),
            ..CycleResult::new(Outcome::Error)
        }
    }
}

/// Turn bookkeeping of one cycle.
#[derive(Default)]
struct Turns {
    count: u32,
    sessions: Vec<String>,
    agent: Duration,
    tokens: Tokens,
}

impl Turns {
    /// A turn of the worker's own session.
    fn add(&mut self, out: &agent::TurnOutput) {
        if let Some(s) = &out.session_id
            && !self.sessions.contains(s)
        {
            self.sessions.push(s.clone());
        }
        self.add_one_shot(out);
    }

    /// A reviewer's turn: counted, but its session is not the worker's.
    fn add_one_shot(&mut self, out: &agent::TurnOutput) {
        self.count += 1;
        self.agent += out.duration;
        let add = |a: &mut Option<u64>, b: Option<u64>| {
            if let Some(b) = b {
                *a = Some(a.unwrap_or(0) + b);
            }
        };
        add(&mut self.tokens.input, out.usage.input_tokens);
        add(&mut self.tokens.output, out.usage.output_tokens);
        if let Some(c) = out.usage.cost_usd {
            self.tokens.cost_usd = Some(self.tokens.cost_usd.unwrap_or(0.0) + c);
        }
    }
}

impl Worker {
    pub fn new(
        shared: Arc<Shared>,
        id: String,
        config: WorkerConfig,
        land: Sender<LandRequest>,
        records: Sender<CycleRecord>,
    ) -> Self {
        Worker {
            shared,
            id,
            config,
            land,
            records,
        }
    }

    fn emit(&self, e: Event) {
        self.shared.emit(e);
    }

    fn claimant(&self, ws: &Workspace) -> Claimant {
        Claimant {
            swarm: self.shared.id.clone(),
            worker: self.id.clone(),
            branch: Some(ws.branch.clone()),
            lease: LEASE,
            pid: Some(std::process::id()),
        }
    }

    /// The thread body.
    pub fn run(self) -> WorkerSummary {
        let mut summary = WorkerSummary {
            worker: self.id.clone(),
            model: self.config.model.to_string(),
            ..WorkerSummary::default()
        };
        let repo = self.shared.repo.to_thread_local();
        let base = match repo.read_ref(&self.shared.target_ref) {
            Ok(Some(b)) => b,
            Ok(None) => return self.give_up(summary, "the target branch disappeared".into()),
            Err(e) => return self.give_up(summary, format!("reading the target: {e}")),
        };
        let ws = match Workspace::create(
            &repo,
            &self.shared.worktrees,
            &self.shared.id,
            &self.id,
            base,
            &self.shared.config.copy,
        ) {
            Ok(ws) => ws,
            Err(e) => return self.give_up(summary, format!("could not create its worktree: {e}")),
        };
        summary.reason = self.cycles(&repo, &ws, &mut summary);
        self.shared.workers_running.fetch_sub(1, Ordering::SeqCst);
        let target = repo
            .read_ref(&self.shared.target_ref)
            .ok()
            .flatten()
            .unwrap_or(base);
        match ws.teardown(&repo, target, "final") {
            Ok(Some(kept)) => self.emit(Event::Warning(format!(
                "[{}] unmerged work kept as {kept}",
                self.id
            ))),
            Ok(None) => {}
            Err(e) => self.emit(Event::Warning(format!(
                "[{}] could not remove worktree {}: {e}",
                self.id,
                ws.path.display()
            ))),
        }
        self.emit(Event::WorkerFinished(summary.clone()));
        summary
    }

    fn give_up(&self, mut summary: WorkerSummary, reason: String) -> WorkerSummary {
        self.shared.workers_running.fetch_sub(1, Ordering::SeqCst);
        self.emit(Event::Warning(format!("[{}] {reason}", self.id)));
        summary.reason = reason;
        self.emit(Event::WorkerFinished(summary.clone()));
        summary
    }

    /// Runs cycles until one of the stop conditions; returns why it stopped.
    fn cycles(&self, repo: &Repo, ws: &Workspace, summary: &mut WorkerSummary) -> String {
        let control = &self.shared.control;
        // The planner's first round comes before any work.
        while !self.shared.planner_ready.load(Ordering::SeqCst) {
            if !control.sleep(Duration::from_millis(100)) {
                return "stopped".into();
            }
        }
        let mut errors_in_row = 0u32;
        let mut idle = false;
        for cycle in 1..=self.config.max_cycles {
            if control.stopping() {
                return "stopped".into();
            }
            if cycle > 1
                && !self.config.wait_between.is_zero()
                && !control.sleep(self.config.wait_between)
            {
                return "stopped".into();
            }
            if let Some(reason) = self.wait_for_work(repo, idle || !self.config.can_plan) {
                return reason;
            }
            self.shared.in_flight.fetch_add(1, Ordering::SeqCst);
            let record = self.cycle(repo, ws, cycle);
            self.shared.in_flight.fetch_sub(1, Ordering::SeqCst);
            summary.cycles += 1;
            bump(&mut summary.outcomes, record.outcome);
            if record.outcome == Outcome::Merged {
                summary.landed_tasks.extend(record.tasks.iter().cloned());
            }
            let outcome = record.outcome;
            let _ = self.records.send(record.clone());
            self.emit(Event::CycleEnded {
                worker: self.id.clone(),
                record: Box::new(record),
            });
            match outcome {
                Outcome::Error => {
                    errors_in_row += 1;
                    if errors_in_row >= self.config.max_errors {
                        return format!("{errors_in_row} failed cycles in a row");
                    }
                    let backoff = self
                        .shared
                        .config
                        .error_backoff
                        .saturating_mul(1 << (errors_in_row - 1).min(16))
                        .min(MAX_BACKOFF);
                    if !backoff.is_zero() {
                        self.emit(Event::Waiting {
                            worker: self.id.clone(),
                            why: format!("backing off {}s after a failed cycle", backoff.as_secs()),
                        });
                        if !control.sleep(backoff) {
                            return "stopped".into();
                        }
                    }
                }
                Outcome::Interrupted => return "stopped".into(),
                // The agent found nothing to do: from now on it only works when there is a
                // pending task, and finishes once nothing can come back to the queue.
                Outcome::Done => {
                    errors_in_row = 0;
                    idle = true;
                }
                _ => {
                    errors_in_row = 0;
                    idle = false;
                }
            }
        }
        format!("{} cycles used", self.config.max_cycles)
    }

    /// Returns `Some(reason)` when the worker should finish instead of starting a cycle.
    /// With `need_task` it starts a cycle only when a task is pending, waiting while other
    /// workers' cycles (whose claims may come back) are in flight.
    fn wait_for_work(&self, repo: &Repo, need_task: bool) -> Option<String> {
        let start = Instant::now();
        let mut idle = false;
        let result = loop {
            let snap = match Queue::new(repo).snapshot() {
                Ok(s) => s,
                Err(e) => break Some(format!("cannot read the task queue: {e}")),
            };
            if snap.count(State::Pending) > 0 || !need_task {
                break None;
            }
            // Claims in flight may come back, and the planner may add tasks.
            let busy = self.shared.in_flight.load(Ordering::SeqCst) > 0
                || snap.count(State::Current) > 0
                || self.shared.planner_active.load(Ordering::SeqCst);
            if !busy {
                break Some("no more work: the queue is drained".into());
            }
            if start.elapsed() >= self.config.max_wait_for_tasks {
                break Some(format!(
                    "no tasks after {}s",
                    self.config.max_wait_for_tasks.as_secs()
                ));
            }
            if !idle {
                idle = true;
                self.shared.idle_workers.fetch_add(1, Ordering::SeqCst);
                self.emit(Event::Waiting {
                    worker: self.id.clone(),
                    why: "waiting for tasks".into(),
                });
            }
            if !self.shared.control.sleep(Duration::from_millis(200)) {
                break Some("stopped".into());
            }
        };
        if idle {
            self.shared.idle_workers.fetch_sub(1, Ordering::SeqCst);
        }
        result
    }

    /// One cycle, always ending in a record.
    fn cycle(&self, repo: &Repo, ws: &Workspace, cycle: u32) -> CycleRecord {
        let started = jiff::Timestamp::now();
        let clock = Instant::now();
        self.emit(Event::CycleStarted {
            worker: self.id.clone(),
            cycle,
        });
        let transcript = self
            .shared
            .transcripts
            .join(&self.id)
            .join(format!("cycle-{cycle}.log"));
        let mut turns = Turns::default();
        let base = repo.read_ref(&self.shared.target_ref).ok().flatten();
        let mut result = match base {
            None => CycleResult::error("the target branch disappeared"),
            Some(base) => match ws.refresh(base, &self.shared.root) {
                Err(e) => CycleResult::error(format!("refreshing the worktree: {e}")),
                Ok(()) => {
                    let env = self.env(ws, cycle);
                    let mut ctx = CycleCtx {
                        repo,
                        ws,
                        cycle,
                        base,
                        vars: self.vars(ws, cycle),
                        env: &env,
                        transcript: &transcript,
                    };
                    self.turns(&mut ctx, &mut turns)
                }
            },
        };
        let base = base.unwrap_or_else(|| ObjectId::null(gix::hash::Kind::Sha1));

        // Everything that did not land: claims back to pending, work kept.
        let queue = Queue::new(repo);
        let held = self.held(&queue);
        for id in &held {
            if !result.tasks.contains(&id.to_string()) {
                result.tasks.push(id.to_string());
            }
        }
        let mut kept = None;
        if result.outcome != Outcome::Merged {
            if cli::merge_in_progress(&ws.path) {
                let _ = cli::abort_merge(&ws.path);
            }
            let _ = ws.commit_leftovers(cycle);
            let target = repo
                .read_ref(&self.shared.target_ref)
                .ok()
                .flatten()
                .unwrap_or(base);
            match ws.keep(repo, target, &cycle.to_string()) {
                Ok(k) => kept = k,
                Err(e) => self.emit(Event::Warning(format!(
                    "[{}] could not keep cycle {cycle}'s work: {e}",
                    self.id
                ))),
            }
        }
        if !held.is_empty()
            && let Err(e) = queue.release(
                &held,
                Owner::Worker {
                    swarm: &self.shared.id,
                    worker: &self.id,
                },
                &format!("{}/{}", self.shared.id, self.id),
            )
        {
            self.emit(Event::Warning(format!(
                "[{}] could not release {held:?}: {e}",
                self.id
            )));
        }
        let tip = ws.tip(repo).ok().flatten();
        CycleRecord {
            version: RECORD_VERSION,
            swarm: self.shared.id.clone(),
            worker: self.id.clone(),
            cycle,
            outcome: result.outcome,
            model: self.config.model.to_string(),
            tasks: result.tasks,
            turns: turns.count,
            sessions: turns.sessions,
            started: started.to_string(),
            ended: jiff::Timestamp::now().to_string(),
            duration_ms: u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX),
            agent_ms: u64::try_from(turns.agent.as_millis()).unwrap_or(u64::MAX),
            tokens: turns.tokens,
            landed: result.landed.map(|c| c.to_string()),
            tip: tip.filter(|t| *t != base).map(|t| t.to_string()),
            base: base.to_string(),
            kept,
            review: result.review,
            conflicts: result.conflicts,
            error: result.error,
            transcript: Some(transcript.display().to_string()),
            extra: Default::default(),
        }
    }

    /// Tasks this worker holds right now.
    fn held(&self, queue: &Queue<'_>) -> Vec<TaskId> {
        queue
            .snapshot()
            .map(|s| self.held_in(&s))
            .unwrap_or_default()
    }

    fn held_in(&self, snap: &Snapshot) -> Vec<TaskId> {
        snap.in_state(State::Current)
            .filter(|t| {
                t.claim
                    .as_ref()
                    .is_some_and(|c| c.swarm == self.shared.id && c.worker == self.id)
            })
            .map(|t| t.id.clone())
            .collect()
    }

    fn vars(&self, ws: &Workspace, cycle: u32) -> Vars {
        Vars {
            swarm: self.shared.id.clone(),
            worker: self.id.clone(),
            cycle,
            target: self.shared.target.clone(),
            branch: ws.short_branch().to_string(),
        }
    }

    fn env(&self, ws: &Workspace, cycle: u32) -> Vec<(String, String)> {
        self.shared
            .agent_env(&self.id, cycle, &ws.branch, &self.config.env)
    }

    /// The agent turns of a cycle, until a terminal signal.
    fn turns(&self, c: &mut CycleCtx<'_>, turns: &mut Turns) -> CycleResult {
        let mut landing = Landing::default();
        let mut result = self.turn_loop(c, &mut landing, turns);
        result.review = std::mem::take(&mut landing.review);
        if result.conflicts.is_empty() {
            result.conflicts = landing.conflicts;
        }
        result
    }

    fn turn_loop(
        &self,
        c: &mut CycleCtx<'_>,
        landing: &mut Landing,
        turns: &mut Turns,
    ) -> CycleResult {
        let queue = Queue::new(c.repo);
        let snap = match queue.snapshot() {
            Ok(s) => s,
            Err(e) => return CycleResult::error(format!("reading the task queue: {e}")),
        };
        let mut prompt = prompts::fresh(&c.vars, &snap, &self.config.prompt);
        let mut session: Option<String> = None;
        let mut silent = 0u32;
        let control = &self.shared.control;
        let cap = (self.config.max_resumes * TURNS_PER_RESUME).max(MIN_TURN_CAP);
        loop {
            if control.killing() {
                return CycleResult::new(Outcome::Interrupted);
            }
            if turns.count >= cap {
                return CycleResult {
                    error: Some(format!("{} turns without finishing", turns.count)),
                    ..CycleResult::new(Outcome::Stuck)
                };
            }
            let turn = Turn {
                spec: &self.config.model,
                cwd: &c.ws.path,
                prompt: &prompt,
                resume: session.as_deref(),
                mode: TurnMode::Work,
                extra_args: &self.config.args,
                env: c.env,
                timeout: self.config.turn_timeout,
                transcript: c.transcript,
                kill: &control.kill,
            };
            let out = match agent::run_turn(&turn) {
                Ok(out) => out,
                Err(e) => return CycleResult::error(e.to_string()),
            };
            turns.add(&out);
            if out.session_id.is_some() {
                session.clone_from(&out.session_id);
            }
            let n = turns.count;
            let cycle = c.cycle;
            let ended = |signal: String| Event::TurnEnded {
                worker: self.id.clone(),
                cycle,
                turn: n,
                signal,
            };
            if matches!(out.exit, Exit::Killed) {
                self.emit(ended("killed".into()));
                return CycleResult::new(Outcome::Interrupted);
            }
            if !out.succeeded() {
                let snippet = out.error_snippet();
                self.emit(ended(format!("failed: {snippet}")));
                return CycleResult::error(snippet);
            }
            match agent::parse_signal(&out.final_text) {
                Signal::Claim(ids) => {
                    self.emit(ended(format!("claim {}", ids.join(", "))));
                    let (results, snap) = match self.claim(&queue, c.ws, &ids) {
                        Ok(r) => r,
                        Err(e) => return CycleResult::error(e),
                    };
                    self.emit(Event::Claimed {
                        worker: self.id.clone(),
                        results: results.clone(),
                    });
                    if control.stopping() {
                        return CycleResult::new(Outcome::Interrupted);
                    }
                    prompt = prompts::claim_results(&c.vars, &snap, &results);
                    silent = 0;
                }
                Signal::Merge => {
                    self.emit(ended("merge".into()));
                    match self.on_merge(c, landing, turns) {
                        Next::Finish(result) => return result,
                        Next::Resume(p) => {
                            prompt = p;
                            silent = 0;
                        }
                    }
                }
                Signal::Done => {
                    self.emit(ended("done".into()));
                    return CycleResult::new(Outcome::Done);
                }
                Signal::None => {
                    silent += 1;
                    self.emit(ended("none".into()));
                    if control.stopping() {
                        return CycleResult::new(Outcome::Interrupted);
                    }
                    if silent >= self.config.max_resumes {
                        return CycleResult {
                            error: Some(format!("{silent} turns without a signal")),
                            ..CycleResult::new(Outcome::Stuck)
                        };
                    }
                    let snap = queue.snapshot().unwrap_or_default();
                    prompt = if silent + 1 == self.config.max_resumes {
                        prompts::nudge(&c.vars, &snap)
                    } else {
                        prompts::resume(&c.vars, &snap)
                    };
                }
            }
        }
    }

    /// Claims what a `CLAIM(…)` line asked for; ids that cannot exist are reported as not
    /// found under the text the agent wrote.
    fn claim(
        &self,
        queue: &Queue<'_>,
        ws: &Workspace,
        raw: &[String],
    ) -> Result<(Vec<(String, ClaimOutcome)>, Snapshot), String> {
        let valid: Vec<TaskId> = raw.iter().filter_map(|r| TaskId::new(r).ok()).collect();
        let claimed = if valid.is_empty() {
            Vec::new()
        } else {
            queue
                .claim(&valid, &self.claimant(ws))
                .map_err(|e| format!("claiming {}: {e}", raw.join(", ")))?
        };
        let results = raw
            .iter()
            .map(|r| {
                let outcome = claimed
                    .iter()
                    .find(|(id, _)| id.as_str() == r)
                    .map_or(ClaimOutcome::NotFound, |(_, o)| o.clone());
                (r.clone(), outcome)
            })
            .collect();
        let snap = queue.snapshot().unwrap_or_default();
        Ok((results, snap))
    }

    /// `COMPLETE_AND_READY_FOR_MERGE`: commit leftovers, check there is a change, have it
    /// reviewed, and hand it to the merge queue. Returns the cycle's end, or the prompt of
    /// the next turn of the same session (review findings to fix, a conflict to resolve).
    fn on_merge(&self, c: &mut CycleCtx<'_>, landing: &mut Landing, turns: &mut Turns) -> Next {
        let (repo, ws) = (c.repo, c.ws);
        if cli::merge_in_progress(&ws.path) {
            let unmerged = cli::unmerged_paths(&ws.path).unwrap_or_default();
            if !unmerged.is_empty() {
                return Next::Resume(format!(
                    "The merge is not finished: these paths are still unmerged: {}.\n\
                     Resolve them, `git add` them, `git commit`, then end with \
                     `COMPLETE_AND_READY_FOR_MERGE` on a line of its own.",
                    unmerged.join(", ")
                ));
            }
        }
        if let Err(e) = ws.commit_leftovers(c.cycle) {
            return Next::Finish(CycleResult::error(format!(
                "committing the agent's leftovers: {e}"
            )));
        }
        let tip = match ws.tip(repo) {
            Ok(Some(t)) => t,
            Ok(None) => return Next::Finish(CycleResult::error("the worker branch disappeared")),
            Err(e) => return Next::Finish(CycleResult::error(e.to_string())),
        };
        let unchanged = tip == c.base
            || repo
                .commit_tree(tip)
                .ok()
                .zip(repo.commit_tree(c.base).ok())
                .is_some_and(|(a, b)| a == b);
        if unchanged {
            return Next::Finish(CycleResult::new(Outcome::NoChanges));
        }
        let target = match repo.read_ref(&self.shared.target_ref) {
            Ok(Some(t)) => t,
            _ => return Next::Finish(CycleResult::error("cannot read the target branch")),
        };
        // A resolution is checked in memory before it re-enters the queue.
        if landing.resolving.is_some()
            && let Ok(Merge::Conflict { paths }) = repo.check_merge(target, tip)
        {
            return self.conflict(c, landing, tip, target, paths);
        }
        if let Some(next) = self.review(c, landing, turns, tip, target) {
            return next;
        }
        let (tx, rx) = bounded(1);
        let req = LandRequest {
            worker: self.id.clone(),
            cycle: c.cycle,
            branch: ws.short_branch().to_string(),
            tip,
            tasks: self.held(&Queue::new(repo)),
            review_rounds: u32::try_from(landing.review.len()).unwrap_or(u32::MAX),
            reply: tx,
        };
        if self.land.send(req).is_err() {
            return Next::Finish(CycleResult::error("the merge queue is gone"));
        }
        match rx
            .recv()
            .unwrap_or(LandReply::Failed("the merge queue stopped".into()))
        {
            LandReply::Landed { commit, tasks } => Next::Finish(CycleResult {
                landed: Some(commit),
                tasks: tasks.iter().map(ToString::to_string).collect(),
                ..CycleResult::new(Outcome::Merged)
            }),
            LandReply::UpToDate => Next::Finish(CycleResult::new(Outcome::NoChanges)),
            LandReply::Conflict { paths } => {
                let target = repo
                    .read_ref(&self.shared.target_ref)
                    .ok()
                    .flatten()
                    .unwrap_or(target);
                self.conflict(c, landing, tip, target, paths)
            }
            LandReply::Interrupted => Next::Finish(CycleResult::new(Outcome::Interrupted)),
            LandReply::Failed(e) => Next::Finish(CycleResult::error(e)),
        }
    }

    /// Runs a review round when the change needs one. `None`: approved (or no review
    /// configured), go on landing.
    fn review(
        &self,
        c: &mut CycleCtx<'_>,
        landing: &mut Landing,
        turns: &mut Turns,
        tip: ObjectId,
        target: ObjectId,
    ) -> Option<Next> {
        let review = self.shared.config.review_for(&self.config)?;
        let needed = match (landing.approved, &landing.resolving) {
            (None, _) => true,
            (Some(a), _) if a == tip => false,
            (Some(_), Some(res)) => beyond_conflict(c.repo, res, tip),
            (Some(_), None) => true,
        };
        if !needed {
            return None;
        }
        let repo = c.repo;
        let merge_base = repo
            .merge_base(target, tip)
            .ok()
            .flatten()
            .unwrap_or(c.base);
        let snap = Queue::new(repo).snapshot().unwrap_or_default();
        let held = self.held_in(&snap);
        let tasks: Vec<_> = snap
            .in_state(State::Current)
            .filter(|t| held.contains(&t.id))
            .cloned()
            .collect();
        let round = u32::try_from(landing.review.len()).unwrap_or(u32::MAX) + 1;
        let req = review::Request {
            review: &review,
            ws: c.ws,
            round,
            base: merge_base,
            tip,
            target: &self.shared.target,
            tasks: &tasks,
            previous: landing.review.last(),
            env: c.env,
            worker_args: &self.config.args,
            worker_harness: &self.config.model.harness,
            timeout: self.config.turn_timeout,
            transcript: c.transcript,
            kill: &self.shared.control.kill,
        };
        let mut outs = Vec::new();
        let result = review::run(&req, &mut outs);
        for o in &outs {
            turns.add_one_shot(o);
        }
        let verdict = match result {
            Ok(v) => v,
            Err(e) => return Some(Next::Finish(CycleResult::error(e))),
        };
        self.emit(Event::Reviewed {
            worker: self.id.clone(),
            round: verdict.clone(),
        });
        let approved = verdict.verdict == "approved";
        let findings = verdict.findings.clone();
        landing.review.push(verdict);
        if approved {
            landing.approved = Some(tip);
            return None;
        }
        if round >= review.max_rounds {
            return Some(Next::Finish(CycleResult {
                error: Some(format!("not approved after {round} review round(s)")),
                ..CycleResult::new(Outcome::Rejected)
            }));
        }
        if self.shared.control.stopping() {
            return Some(Next::Finish(CycleResult::new(Outcome::Interrupted)));
        }
        let findings = if findings.is_empty() {
            "(the reviewer gave no details)".to_string()
        } else {
            findings
        };
        Some(Next::Resume(prompts::review_fix(&c.vars, &findings)))
    }

    /// The landing conflicts: merge the target into the worktree and ask the agent to
    /// resolve it in its own session, up to `max_conflict_rounds` times.
    fn conflict(
        &self,
        c: &mut CycleCtx<'_>,
        landing: &mut Landing,
        tip: ObjectId,
        target: ObjectId,
        paths: Vec<String>,
    ) -> Next {
        for p in &paths {
            if !landing.conflicts.contains(p) {
                landing.conflicts.push(p.clone());
            }
        }
        let give_up = |why: String| {
            Next::Finish(CycleResult {
                error: Some(why),
                conflicts: landing.conflicts.clone(),
                ..CycleResult::new(Outcome::Conflict)
            })
        };
        let conflict_text = format!(
            "conflicts with {}: {}",
            self.shared.target,
            paths.join(", ")
        );
        if landing.conflict_rounds >= self.shared.config.max_conflict_rounds
            || self.shared.control.stopping()
        {
            return give_up(conflict_text);
        }
        landing.conflict_rounds += 1;
        let repo = c.repo;
        let merge_base = repo.merge_base(target, tip).ok().flatten();
        let message = format!("Merge {} into {}", self.shared.target, c.ws.short_branch());
        match cli::merge_into(&c.ws.path, target, &message) {
            Err(e) => give_up(format!(
                "{conflict_text}; merging it in the worktree failed: {e}"
            )),
            Ok(clean) => {
                let target_changed = match merge_base {
                    Some(mb) => tree_paths(repo, Some(mb), target),
                    None => Vec::new(),
                };
                landing.resolving = Some(Resolving {
                    before: tip,
                    allowed: target_changed
                        .into_iter()
                        .chain(paths.iter().cloned())
                        .collect(),
                });
                if clean {
                    // git resolved what gix would not (renames, say): just try again.
                    return Next::Resume(format!(
                        "{} was merged into your branch without conflicts. Check the result, then end \
                         with `COMPLETE_AND_READY_FOR_MERGE` on a line of its own.",
                        self.shared.target
                    ));
                }
                let ours =
                    cli::log_oneline(&c.ws.path, &format!("{target}..{tip}")).unwrap_or_default();
                let theirs =
                    cli::log_oneline(&c.ws.path, &format!("{tip}..{target}")).unwrap_or_default();
                Next::Resume(prompts::resolver(
                    &c.vars,
                    &paths,
                    &ours,
                    &theirs,
                    c.ws.short_branch(),
                ))
            }
        }
    }
}

/// What one cycle's turns share.
pub(crate) struct CycleCtx<'a> {
    repo: &'a Repo,
    ws: &'a Workspace,
    cycle: u32,
    /// The target tip the cycle started from.
    base: ObjectId,
    vars: Vars,
    env: &'a [(String, String)],
    transcript: &'a std::path::Path,
}

/// Review and conflict state of one cycle.
#[derive(Default)]
struct Landing {
    review: Vec<ReviewRound>,
    /// The tip the reviewer approved.
    approved: Option<ObjectId>,
    conflict_rounds: u32,
    conflicts: Vec<String>,
    resolving: Option<Resolving>,
}

/// A conflict resolution under way.
struct Resolving {
    /// The branch tip before the target was merged in.
    before: ObjectId,
    /// Paths a resolution may touch without another review: what the target changed since
    /// the merge base, and the conflicting paths.
    allowed: BTreeSet<String>,
}

/// What happens after a merge signal.
enum Next {
    Finish(CycleResult),
    Resume(String),
}

/// Whether a resolution changed paths beyond what merging the target brings in.
fn beyond_conflict(repo: &Repo, res: &Resolving, tip: ObjectId) -> bool {
    tree_paths(repo, Some(res.before), tip)
        .iter()
        .any(|p| !res.allowed.contains(p))
}

/// Paths that differ between two commits' trees (empty on error).
fn tree_paths(repo: &Repo, a: Option<ObjectId>, b: ObjectId) -> Vec<String> {
    let a_tree = a.and_then(|a| repo.commit_tree(a).ok());
    repo.commit_tree(b)
        .and_then(|b| repo.diff_paths(a_tree, b))
        .unwrap_or_default()
}
