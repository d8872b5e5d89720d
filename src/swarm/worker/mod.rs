//! One worker thread: a warm worktree, and cycle after cycle of agent turns until its cycles
//! are used, the queue is drained, it fails too often, or the swarm stops.
//!
//! A cycle: refresh the worktree to the target tip, start a fresh agent session, act on the
//! signal of each turn (claim, merge, done, or resume/nudge/stuck), and end with exactly one
//! outcome and one record. Claims the cycle did not land go back to pending; unmerged work is
//! kept under `refs/oompa/keep/`. A turn its provider cut short (a usage limit, a passing
//! error) is waited out and its session resumed (`pause`).

mod landing;
pub(crate) mod pause;
mod turns;

use landing::{Landing, Next};
pub(crate) use pause::ProviderPauses;
use pause::{AfterTrouble, CONTINUE_PROMPT, Waiter};
pub(crate) use turns::{Began, Turns};

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::live::Phase;
use super::merge_queue::LandRequest;
use super::prompts::{self, Vars};
use super::workspace::{Mark, Settled, Workspace};
use super::{Event, Shared, WorkerSummary, bump};
use crate::agent::{self, Exit, Signal, Turn, TurnMode};
use crate::config::WorkerConfig;
use crate::git::{ObjectId, Repo};
use crate::store::record::{CycleRecord, Outcome, ReviewRound, Tokens};
use crate::store::{ClaimOutcome, Claimant, Owner, Queue, Snapshot, TaskId};

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
    /// What this worker spent (budgets).
    account: std::cell::Cell<super::budget::Account>,
    /// Why this worker's own budget is spent, once it is: it finishes its turn and stops.
    spent: std::cell::RefCell<Option<String>>,
}

/// What a cycle produced, before it becomes a record.
struct CycleResult {
    outcome: Outcome,
    landed: Option<ObjectId>,
    tasks: Vec<String>,
    conflicts: Vec<String>,
    error: Option<String>,
    review: Vec<ReviewRound>,
    conflict_predicted: Option<bool>,
    /// Approved → landed, for a landing.
    queue_ms: Option<u64>,
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
            conflict_predicted: None,
            queue_ms: None,
        }
    }
    fn error(msg: impl Into<String>) -> Self {
        CycleResult {
            error: Some(msg.into()),
            ..CycleResult::new(Outcome::Error)
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
            account: std::cell::Cell::default(),
            spent: std::cell::RefCell::default(),
        }
    }

    /// Charges the cycle's usage so far; notes when this worker's own budget is spent.
    fn charge(&self, tokens: &Tokens) {
        let mut account = self.account.get();
        let spent = account.update(&self.shared, &self.id, self.config.budget, tokens);
        self.account.set(account);
        if let Some(why) = spent
            && self.spent.borrow().is_none()
        {
            self.emit(Event::Warning(format!(
                "[{}] {why}: it finishes this cycle's turn and stops",
                self.id
            )));
            self.emit(Event::BudgetSpent {
                worker: Some(self.id.clone()),
                why: why.clone(),
            });
            *self.spent.borrow_mut() = Some(why);
        }
    }

    /// The swarm is stopping, or this worker's budget is spent.
    fn stopping(&self) -> bool {
        self.shared.control.stopping() || self.spent.borrow().is_some()
    }

    /// Why the worker stops now: its budget, else the swarm stopping.
    fn stop_reason(&self) -> String {
        self.spent
            .borrow()
            .clone()
            .or_else(|| self.shared.control.spent_because())
            .unwrap_or_else(|| "stopped".into())
    }

    fn emit(&self, e: Event) {
        self.shared.emit(e);
    }

    /// Says what this worker does now (and what its cycle's turns used so far).
    fn phase(&self, phase: Phase, spent: Option<&Tokens>) {
        self.emit(Event::Phase {
            worker: self.id.clone(),
            phase,
            spent: spent.cloned(),
        });
    }

    /// Who waits for the provider on this worker's behalf (`role` says for which turns),
    /// keeping its claims alive.
    fn waiter<'a>(&'a self, repo: &'a Repo, role: impl Into<String>) -> Waiter<'a> {
        Waiter::new(&self.shared, &self.id, role, Some(repo))
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
            Err(e) => {
                return self.give_up(
                    summary,
                    format!("could not create its worktree: {}", e.detail()),
                );
            }
        };
        summary.started = true;
        summary.reason = self.cycles(&repo, &ws, &mut summary);
        self.shared.workers_running.fetch_sub(1, Ordering::SeqCst);
        let target = repo
            .read_ref(&self.shared.target_ref)
            .ok()
            .flatten()
            .unwrap_or(base);
        match ws.teardown(&repo, target, "final") {
            Ok(settled) => {
                for did in &settled.did {
                    self.emit(Event::Warning(format!(
                        "[{}] the agent {}",
                        self.id, did.what
                    )));
                }
                for kept in &settled.kept {
                    self.emit(Event::Warning(format!(
                        "[{}] unmerged work kept as {kept}",
                        self.id
                    )));
                }
            }
            Err(e) => self.emit(Event::Warning(format!(
                "[{}] could not remove worktree {}: {e}",
                self.id,
                ws.path.display()
            ))),
        }
        self.emit(Event::WorkerFinished(summary.clone()));
        summary
    }

    /// Ends a worker that could not start, saying why.
    fn give_up(&self, mut summary: WorkerSummary, reason: String) -> WorkerSummary {
        self.shared.workers_running.fetch_sub(1, Ordering::SeqCst);
        self.emit(Event::WorkerFailed {
            worker: self.id.clone(),
            error: reason.clone(),
        });
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
            if self.stopping() {
                return self.stop_reason();
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
            let outcome = self.close_cycle(record, summary);
            match outcome {
                Outcome::Error => {
                    errors_in_row += 1;
                    if errors_in_row >= self.config.max_errors {
                        return format!("{errors_in_row} failed cycles in a row");
                    }
                    // The last cycle does not wait for a next one that will not come.
                    if cycle < self.config.max_cycles && !self.back_off(errors_in_row) {
                        return "stopped".into();
                    }
                }
                Outcome::Interrupted => return self.stop_reason(),
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
            if let Some(why) = self.spent.borrow().clone() {
                return why;
            }
        }
        let n = self.config.max_cycles;
        format!("{n} {} used", if n == 1 { "cycle" } else { "cycles" })
    }

    /// Accounts for a cycle that ended (its spend, the summary) and hands its record on (the
    /// journal, the notes writer, the progress lines). Returns its outcome.
    fn close_cycle(&self, record: CycleRecord, summary: &mut WorkerSummary) -> Outcome {
        self.charge(&record.tokens);
        let mut account = self.account.get();
        account.close_cycle();
        self.account.set(account);
        summary.spend = account.spent();
        self.shared.in_flight.fetch_sub(1, Ordering::SeqCst);
        summary.cycles += 1;
        bump(&mut summary.outcomes, record.outcome);
        if record.outcome == Outcome::Merged {
            summary.landed_tasks.extend(record.tasks.iter().cloned());
        }
        let outcome = record.outcome;
        self.shared.journal.finish(&record);
        let _ = self.records.send(record.clone());
        self.emit(Event::CycleEnded {
            worker: self.id.clone(),
            record: Box::new(record),
        });
        outcome
    }

    /// Waits after the `errors_in_row`-th failed cycle in a row: `error_backoff`, doubled for
    /// each further one, at most [`MAX_BACKOFF`]. Returns false when the swarm stopped.
    fn back_off(&self, errors_in_row: u32) -> bool {
        let backoff = self
            .shared
            .config
            .error_backoff
            .saturating_mul(1 << (errors_in_row - 1).min(16))
            .min(MAX_BACKOFF);
        if backoff.is_zero() || self.stopping() {
            return true;
        }
        let until = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::try_from(backoff).unwrap_or_default())
            .unwrap_or_else(|_| jiff::Timestamp::now());
        self.phase(
            Phase::BackingOff {
                until: until.to_string(),
            },
            None,
        );
        self.emit(Event::Waiting {
            worker: self.id.clone(),
            why: format!("backing off {}s after a failed cycle", backoff.as_secs()),
        });
        self.shared.control.sleep(backoff)
    }

    /// Returns `Some(reason)` when the worker should finish instead of starting a cycle.
    /// With `need_task` it starts a cycle only when a task is pending, waiting while other
    /// workers' cycles (whose claims may come back) are in flight.
    fn wait_for_work(&self, repo: &Repo, need_task: bool) -> Option<String> {
        let start = Instant::now();
        let mut idle = false;
        let result = loop {
            let counts = match Queue::new(repo).counts() {
                Ok(c) => c,
                Err(e) => break Some(format!("cannot read the task queue: {e}")),
            };
            if counts.pending > 0 || !need_task {
                break None;
            }
            // Claims in flight may come back, and the planner may add tasks.
            let busy = self.shared.in_flight.load(Ordering::SeqCst) > 0
                || counts.current > 0
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
                self.phase(Phase::WaitingForTasks, None);
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

    /// One cycle, always ending in a record: its turns, then everything they left settled,
    /// then the record.
    fn cycle(&self, repo: &Repo, ws: &Workspace, cycle: u32) -> CycleRecord {
        let began = Began::now();
        self.emit(Event::CycleStarted {
            worker: self.id.clone(),
            cycle,
        });
        self.shared.flagged_lock().remove(&self.id);
        let transcript = self.shared.live.transcript(&self.id, cycle);
        let base = self.shared.read_target(repo);
        self.shared.journal.start(&crate::store::journal::Start {
            worker: &self.id,
            cycle,
            model: self.config.model.to_string(),
            started: began.wall.to_string(),
            base,
            branch: Some(&ws.branch),
            transcript: &transcript,
        });
        let mut turns = Turns::default();
        let mut worked = self.refresh_and_work(repo, ws, cycle, base, &transcript, &mut turns);
        let base = base.unwrap_or_else(|| ObjectId::null(gix::hash::Kind::Sha1));
        let tip = self.settle(repo, ws, cycle, base, &mut worked, &turns.escaped);
        let Worked {
            result, settled, ..
        } = worked;
        let spans = turns.spans_since(began.at);
        let record = CycleRecord::new(
            &self.shared.id,
            &self.id,
            cycle,
            result.outcome,
            base.to_string(),
        );
        CycleRecord {
            model: self.config.model.to_string(),
            tasks: result.tasks,
            landed: result.landed.map(|c| c.to_string()),
            tip: tip.filter(|t| *t != base).map(|t| t.to_string()),
            review: result.review,
            conflicts: result.conflicts,
            conflict_predicted: result.conflict_predicted,
            gate: self.shared.board.take(&self.id),
            queue_ms: result.queue_ms,
            error: result.error,
            extra: CycleRecord::spans_extra(&spans),
            ..turns.into_record(record, began, &transcript, settled)
        }
    }

    /// Refreshes the worktree to `base` (the target tip) and runs the cycle's turns.
    fn refresh_and_work(
        &self,
        repo: &Repo,
        ws: &Workspace,
        cycle: u32,
        base: Option<ObjectId>,
        transcript: &std::path::Path,
        turns: &mut Turns,
    ) -> Worked {
        let Some(base) = base else {
            return Worked::failed(CycleResult::error("the target branch disappeared"));
        };
        let start = format!("{cycle}-start");
        let (mark, settled) = match ws.refresh(repo, base, &self.shared.root, &start) {
            Ok(found) => found,
            Err(e) => {
                let result = CycleResult::error(format!("refreshing the worktree: {e}"));
                return Worked::failed(result);
            }
        };
        let env = self.env(ws, cycle);
        let mut ctx = CycleCtx {
            repo,
            ws,
            cycle,
            base,
            vars: self.vars(ws, cycle),
            env: &env,
            transcript,
        };
        Worked {
            result: self.turns(&mut ctx, turns),
            settled,
            mark: Some(mark),
        }
    }

    /// Everything that did not land: the claims go back to pending, and what the agent left,
    /// wherever it left it (`escaped`: processes its turns left running), is kept before the
    /// next refresh resets the worktree (a landed cycle's work is on the target). Returns the
    /// branch tip as the agent left it.
    fn settle(
        &self,
        repo: &Repo,
        ws: &Workspace,
        cycle: u32,
        base: ObjectId,
        worked: &mut Worked,
        escaped: &[String],
    ) -> Option<ObjectId> {
        let Worked {
            result,
            settled,
            mark,
        } = worked;
        let queue = Queue::new(repo);
        let held = self.held(&queue);
        for id in &held {
            if !result.tasks.contains(&id.to_string()) {
                result.tasks.push(id.to_string());
            }
        }
        settled.escaped(escaped);
        if let Some(mark) = mark {
            settled.config_changes(ws, mark);
        }
        let mut tip = None;
        if result.outcome != Outcome::Merged {
            let target = repo
                .read_ref(&self.shared.target_ref)
                .ok()
                .flatten()
                .unwrap_or(base);
            let found = ws.settle(repo, target, cycle, &cycle.to_string(), mark.as_ref());
            tip = Some(found.tip);
            settled.extend(found);
        }
        for did in &settled.did {
            let kept = did
                .kept
                .as_ref()
                .map(|k| format!(" (kept as {k})"))
                .unwrap_or_default();
            self.emit(Event::Warning(format!(
                "[{}] cycle {cycle}: the agent {}{kept}",
                self.id, did.what
            )));
        }
        self.give_back(&queue, &held);
        // The branch as the agent left it (settling may have put it back since).
        tip.unwrap_or_else(|| ws.tip(repo).ok().flatten())
    }

    /// Returns the claims `held` to pending.
    fn give_back(&self, queue: &Queue<'_>, held: &[TaskId]) {
        if held.is_empty() {
            return;
        }
        let owner = Owner::Worker {
            swarm: &self.shared.id,
            worker: &self.id,
        };
        let actor = format!("{}/{}", self.shared.id, self.id);
        if let Err(e) = queue.release(held, owner, &actor) {
            self.emit(Event::Warning(format!(
                "[{}] could not release {held:?}: {e}",
                self.id
            )));
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
        snap.held_by(&self.shared.id, &self.id)
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
            prediction: Some(self.shared.prediction()),
            gate: self.shared.config.gate.as_ref().map(|g| g.summary()),
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
        if landing.conflict_rounds > 0 || result.outcome == Outcome::Conflict {
            result.conflict_predicted = Some(landing.predicted);
        }
        if result.conflicts.is_empty() {
            result.conflicts = landing.conflicts;
        }
        result
    }

    /// Turn after turn of the worker's own session, each answered by what its signal asks
    /// for, until one ends the cycle.
    fn turn_loop(
        &self,
        c: &mut CycleCtx<'_>,
        landing: &mut Landing,
        turns: &mut Turns,
    ) -> CycleResult {
        let queue = Queue::new(c.repo);
        let mut prompt = match self.fresh_prompt(&queue, c) {
            Ok(p) => p,
            Err(e) => return CycleResult::error(e),
        };
        let mut session: Option<String> = None;
        let mut silent = 0u32;
        let mut own_turns = 0u32;
        let waiter = self.waiter(c.repo, "");
        loop {
            if let Some(end) = self.before_turn(&waiter, turns) {
                return end;
            }
            own_turns += 1;
            self.phase(
                Phase::Turn {
                    cycle: c.cycle,
                    turn: own_turns,
                    purpose: std::mem::take(&mut landing.purpose),
                },
                Some(&turns.tokens),
            );
            let out = match self.work_turn(c, &queue, &prompt, session.as_deref(), turns) {
                Ok(out) => out,
                Err(e) => return CycleResult::error(e.to_string()),
            };
            if out.session_id.is_some() {
                session.clone_from(&out.session_id);
            }
            let step = match self.cut_off(&waiter, &out, session.is_some(), turns, c.cycle) {
                Some(step) => step,
                None => {
                    turns.waits.clean_turn();
                    self.on_turn_end(c, &queue, landing, turns, &out, &mut silent)
                }
            };
            match step {
                Step::Next(p) => prompt = p,
                Step::Again => {}
                Step::End(result) => return result,
            }
        }
    }

    /// The prompt of the cycle's first turn. A role prompt that cannot be read fails the
    /// cycle: no agent gets a broken prompt.
    fn fresh_prompt(&self, queue: &Queue<'_>, c: &CycleCtx<'_>) -> Result<String, String> {
        let snap = queue
            .snapshot()
            .map_err(|e| format!("reading the task queue: {e}"))?;
        prompts::fresh(&c.vars, &snap, &self.config.prompt).map_err(|e| e.to_string())
    }

    /// Whether the cycle ends before its next turn: the swarm is killing its agents, the cycle
    /// took too many turns, or the swarm stopped while the provider was limited.
    fn before_turn(&self, waiter: &Waiter<'_>, turns: &mut Turns) -> Option<CycleResult> {
        if self.shared.control.killing() {
            return Some(CycleResult::new(Outcome::Interrupted));
        }
        let cap = (self.config.max_resumes * TURNS_PER_RESUME).max(MIN_TURN_CAP);
        if turns.count - turns.waits.limited_turns >= cap {
            return Some(CycleResult {
                error: Some(format!("{} turns without finishing", turns.count)),
                ..CycleResult::new(Outcome::Stuck)
            });
        }
        if !waiter.before_turn(
            &self.config.model,
            self.config.turn_timeout,
            &mut turns.waits,
        ) {
            return Some(CycleResult::new(Outcome::Interrupted));
        }
        None
    }

    /// One turn of the worker's own session (`session`, or a fresh one), counted and charged.
    fn work_turn(
        &self,
        c: &CycleCtx<'_>,
        queue: &Queue<'_>,
        prompt: &str,
        session: Option<&str>,
        turns: &mut Turns,
    ) -> Result<agent::TurnOutput, agent::AgentError> {
        let sent = self.with_notices(queue, prompt);
        let turn = Turn {
            spec: &self.config.model,
            cwd: &c.ws.path,
            prompt: &sent,
            resume: session,
            mode: TurnMode::Work,
            extra_args: &self.config.args,
            env: c.env,
            timeout: self.config.turn_timeout,
            transcript: c.transcript,
            transcript_max: self.shared.config.transcript_max,
            kill: &self.shared.control.kill,
        };
        let label = format!("turn {}", turns.count + 1);
        let out = agent::run_logged(&turn, &label)?;
        turns.add(&out);
        self.charge(&turns.tokens);
        Ok(out)
    }

    /// Says how the cycle's latest turn ended.
    fn turn_ended(&self, cycle: u32, turns: &Turns, signal: String) {
        self.emit(Event::TurnEnded {
            worker: self.id.clone(),
            cycle,
            turn: turns.count,
            signal,
        });
    }

    /// A turn the provider cut short: waits, then resumes the session (`None`: it was not).
    fn cut_off(
        &self,
        waiter: &Waiter<'_>,
        out: &agent::TurnOutput,
        has_session: bool,
        turns: &mut Turns,
        cycle: u32,
    ) -> Option<Step> {
        let trouble = out
            .trouble
            .as_ref()
            .filter(|_| !self.shared.control.killing())?;
        self.turn_ended(cycle, turns, format!("cut off: {}", trouble.reason()));
        Some(
            match waiter.after_trouble(&self.config.model, trouble, out, &mut turns.waits) {
                AfterTrouble::Resume if has_session => Step::Next(CONTINUE_PROMPT.to_string()),
                AfterTrouble::Resume => Step::Again,
                AfterTrouble::Stop => Step::End(CycleResult::new(Outcome::Interrupted)),
                AfterTrouble::GiveUp(e) => Step::End(CycleResult::error(e)),
            },
        )
    }

    /// Acts on how a turn ended: killed, failed, or the signal of its final message.
    fn on_turn_end(
        &self,
        c: &mut CycleCtx<'_>,
        queue: &Queue<'_>,
        landing: &mut Landing,
        turns: &mut Turns,
        out: &agent::TurnOutput,
        silent: &mut u32,
    ) -> Step {
        let cycle = c.cycle;
        if matches!(out.exit, Exit::Killed) {
            self.turn_ended(cycle, turns, "killed".into());
            return Step::End(CycleResult::new(Outcome::Interrupted));
        }
        if !out.succeeded() {
            let snippet = out.error_snippet();
            self.turn_ended(cycle, turns, format!("failed: {snippet}"));
            return Step::End(CycleResult::error(snippet));
        }
        match agent::parse_signal(&out.final_text) {
            Signal::Claim(ids) => {
                self.turn_ended(cycle, turns, format!("claim {}", ids.join(", ")));
                *silent = 0;
                self.on_claim(c, queue, &ids)
            }
            Signal::Merge => {
                self.turn_ended(cycle, turns, "merge".into());
                match self.on_merge(c, landing, turns) {
                    Next::Finish(result) => Step::End(result),
                    Next::Resume(p) => {
                        *silent = 0;
                        Step::Next(p)
                    }
                }
            }
            Signal::Done => {
                self.turn_ended(cycle, turns, "done".into());
                Step::End(CycleResult::new(Outcome::Done))
            }
            Signal::None => {
                *silent += 1;
                self.turn_ended(cycle, turns, "none".into());
                self.on_silence(c, queue, out, *silent)
            }
        }
    }

    /// `CLAIM(…)`: claims what the agent asked for and tells it how that went.
    fn on_claim(&self, c: &CycleCtx<'_>, queue: &Queue<'_>, ids: &[String]) -> Step {
        let (results, snap) = match self.claim(queue, c.ws, ids) {
            Ok(r) => r,
            Err(e) => return Step::End(CycleResult::error(e.to_string())),
        };
        self.emit(Event::Claimed {
            worker: self.id.clone(),
            results: results.clone(),
        });
        if self.stopping() {
            return Step::End(CycleResult::new(Outcome::Interrupted));
        }
        Step::Next(prompts::claim_results(&c.vars, &snap, &results))
    }

    /// A turn without a signal (the `silent`-th in a row): resume the session, nudging it on
    /// the last try, or end the cycle `stuck` once `max_resumes` is reached.
    fn on_silence(
        &self,
        c: &CycleCtx<'_>,
        queue: &Queue<'_>,
        out: &agent::TurnOutput,
        silent: u32,
    ) -> Step {
        if self.stopping() {
            return Step::End(CycleResult::new(Outcome::Interrupted));
        }
        if silent >= self.config.max_resumes {
            return Step::End(CycleResult {
                error: Some(format!(
                    "{silent} {} without a signal",
                    if silent == 1 { "turn" } else { "turns" }
                )),
                ..CycleResult::new(Outcome::Stuck)
            });
        }
        let snap = queue.snapshot().unwrap_or_default();
        let prompt = if silent + 1 == self.config.max_resumes {
            prompts::nudge(&c.vars, &snap)
        } else {
            prompts::resume(&c.vars, &snap)
        };
        // A signal followed by more text does not count: say so, or the agent cannot tell why
        // it was not heard.
        Step::Next(match agent::signal::misplaced_signal(&out.final_text) {
            Some(signal) => format!(
                "Your last message had `{signal}` on a line that was not its last line, so it \
                 did not count: a signal counts only alone on the last line of your final \
                 message, with nothing after it.\n\n{prompt}"
            ),
            None => prompt,
        })
    }

    /// `prompt`, preceded by what a person changed in this worker's tasks since its last
    /// turn (`git oompa task edit|rm --force`), taken from the queue's notices.
    fn with_notices<'p>(&self, queue: &Queue<'_>, prompt: &'p str) -> std::borrow::Cow<'p, str> {
        let notices = match queue.take_notices(&self.shared.id, &self.id) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(worker = %self.id, "reading the task notices: {e}");
                return prompt.into();
            }
        };
        if notices.is_empty() {
            return prompt.into();
        }
        let lines: Vec<String> = notices
            .iter()
            .map(|n| format!("- {}", n.describe()))
            .collect();
        format!("## Your tasks changed\n\n{}\n\n{prompt}", lines.join("\n")).into()
    }

    /// Claims what a `CLAIM(…)` line asked for; ids that cannot exist are reported as not
    /// found under the text the agent wrote.
    fn claim(
        &self,
        queue: &Queue<'_>,
        ws: &Workspace,
        raw: &[String],
    ) -> Result<(Vec<(String, ClaimOutcome)>, Snapshot), ClaimError> {
        let valid: Vec<TaskId> = raw.iter().filter_map(|r| TaskId::new(r).ok()).collect();
        let claimed = if valid.is_empty() {
            Vec::new()
        } else {
            queue
                .claim(&valid, &self.claimant(ws))
                .map_err(|source| ClaimError {
                    ids: raw.to_vec(),
                    source: Box::new(source),
                })?
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
}

/// A `CLAIM(…)` the queue could not answer.
#[derive(Debug, thiserror::Error)]
#[error("claiming {}: {source}", ids.join(", "))]
struct ClaimError {
    /// The ids as the agent wrote them.
    ids: Vec<String>,
    #[source]
    source: Box<crate::store::QueueError>,
}

/// A cycle's turns as they ended, before what they left is settled.
struct Worked {
    result: CycleResult,
    /// What refreshing the worktree found and kept, and then what settling does.
    settled: Settled,
    /// The worktree's state before the turns (none when it could not be refreshed).
    mark: Option<Mark>,
}

impl Worked {
    /// A cycle that ended before its turns.
    fn failed(result: CycleResult) -> Self {
        Worked {
            result,
            settled: Settled::default(),
            mark: None,
        }
    }
}

/// What the turn loop does after a turn.
enum Step {
    /// The next turn, with this prompt.
    Next(String),
    /// The same prompt again (a turn cut short whose session the CLI did not keep).
    Again,
    /// The cycle ends.
    End(CycleResult),
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
