//! The planner: a one-shot agent turn that fills the task queue with `git oompa task add`
//! (never with files), run before the workers start and again whenever fewer than
//! `refill_below` tasks are pending while a worker sits idle. `git oompa task add` refuses to
//! take the queue past `max_pending`. A planning turn that adds nothing ends the planning. A
//! planning turn its provider cuts short (a usage limit, a passing error) is waited out and
//! its session resumed, as a worker's turns are (`worker::pause`).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::worker::Turns;
use super::worker::pause::{OneShotEnd, Waiter, one_shot};
use super::workspace::{Settled, Workspace};
use super::{Event, Shared, prompts};
use crate::agent::prompt::{self, Bundled, PromptError};
use crate::agent::{Turn, TurnMode};
use crate::config::PlannerConfig;
use crate::git::{ObjectId, Repo};
use crate::store::Queue;
use crate::store::record::{CycleRecord, Outcome};

/// The planner's worker id, in records, claims and
/// [`agent_env::WORKER`](crate::agent_env::WORKER).
pub const PLANNER: &str = "planner";

pub(crate) fn run(shared: &Shared, config: &PlannerConfig, records: &Sender<CycleRecord>) {
    let repo = shared.repo.to_thread_local();
    let ws = repo
        .read_ref(&shared.target_ref)
        .ok()
        .flatten()
        .ok_or_else(|| "the target branch disappeared".to_string())
        .and_then(|base| {
            Workspace::create(&repo, &shared.worktrees, &shared.id, PLANNER, base, &[])
                .map_err(|e| format!("could not create its worktree: {e}"))
        });
    match ws {
        Ok(ws) => {
            plan_rounds(shared, config, records, &repo, &ws);
            let target = repo.read_ref(&shared.target_ref).ok().flatten();
            if let Some(t) = target
                && let Err(e) = ws.teardown(&repo, t, "planner")
            {
                shared.emit(Event::Warning(format!(
                    "[planner] could not remove its worktree: {e}"
                )));
            }
        }
        Err(e) => shared.emit(Event::Warning(format!("[planner] {e}"))),
    }
    shared.planner_ready.store(true, Ordering::SeqCst);
    shared.planner_active.store(false, Ordering::SeqCst);
}

fn plan_rounds(
    shared: &Shared,
    config: &PlannerConfig,
    records: &Sender<CycleRecord>,
    repo: &Repo,
    ws: &Workspace,
) {
    let mut round = 0;
    loop {
        if shared.control.stopping() {
            return;
        }
        let pending = Queue::new(repo).counts().map(|c| c.pending).unwrap_or(0);
        let room = (config.max_pending as usize).saturating_sub(pending);
        if room > 0 {
            round += 1;
            let record = plan_once(shared, config, repo, ws, round, room);
            let added = record.tasks.len();
            let failed = record.outcome != Outcome::Done;
            shared.journal.finish(&record);
            // Stopped while it waited for its provider: nothing was planned, nothing failed.
            if record.outcome != Outcome::Interrupted {
                shared.emit(Event::Planned {
                    round,
                    added: record.tasks.clone(),
                    error: record.error.clone(),
                });
            }
            let _ = records.send(record);
            if added == 0 || failed {
                return;
            }
        }
        shared.planner_ready.store(true, Ordering::SeqCst);
        // Wait until the queue runs low while a worker has nothing to do.
        loop {
            if shared.control.stopping() || shared.workers_running.load(Ordering::SeqCst) == 0 {
                return;
            }
            let pending = Queue::new(repo).counts().map(|c| c.pending).unwrap_or(0);
            if pending < config.refill_below as usize
                && shared.idle_workers.load(Ordering::SeqCst) > 0
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// One planning turn; the record lists the tasks it added.
fn plan_once(
    shared: &Shared,
    config: &PlannerConfig,
    repo: &Repo,
    ws: &Workspace,
    round: u32,
    room: usize,
) -> CycleRecord {
    let started = jiff::Timestamp::now();
    let clock = Instant::now();
    let queue = Queue::new(repo);
    let base = repo
        .read_ref(&shared.target_ref)
        .ok()
        .flatten()
        .unwrap_or_else(|| ObjectId::null(gix::hash::Kind::Sha1));
    let before = queue.snapshot().unwrap_or_default();
    let known: Vec<String> = before.tasks.iter().map(|(_, t)| t.id.to_string()).collect();
    let transcript = crate::store::layout::round_transcript(&shared.transcripts, PLANNER, round);
    shared.journal.start(&crate::store::journal::Start {
        worker: PLANNER,
        cycle: round,
        model: config.model.to_string(),
        started: started.to_string(),
        base: Some(base),
        branch: Some(&ws.branch),
        transcript: &transcript,
    });
    let mut error = None;
    let mut turns = Turns::default();
    let mut stopped = false;
    let text = match planner_prompt(config, &before, room) {
        Err(e) => {
            error = Some(e.to_string());
            String::new()
        }
        Ok(t) => t,
    };
    let mut settled = Settled::default();
    let mut mark = None;
    if error.is_none() {
        match ws.refresh(
            repo,
            base,
            &shared.root,
            &format!("{PLANNER}-{round}-start"),
        ) {
            Err(e) => error = Some(format!("refreshing its worktree: {e}")),
            Ok((at, found)) => {
                mark = Some(at);
                settled = found;
            }
        }
    }
    if error.is_none() {
        let mut env = shared.agent_env(PLANNER, round, &ws.branch, &config.env);
        env.push((crate::agent_env::ROLE.into(), "planner".into()));
        env.push((
            crate::agent_env::MAX_PENDING.into(),
            config.max_pending.to_string(),
        ));
        let turn = Turn {
            spec: &config.model,
            cwd: &ws.path,
            prompt: &text,
            resume: None,
            mode: TurnMode::OneShot,
            extra_args: &config.args,
            env: &env,
            timeout: config.turn_timeout,
            transcript: &transcript,
            transcript_max: shared.config.transcript_max,
            kill: &shared.control.kill,
        };
        let waiter = Waiter::new(shared, PLANNER, "", None);
        let mut outs = Vec::new();
        let label = format!("planner round {round}");
        match one_shot(&waiter, &turn, &label, &mut turns.waits, &mut outs) {
            Err(e) => error = Some(e.to_string()),
            Ok(OneShotEnd::Stopped) => stopped = true,
            Ok(OneShotEnd::GaveUp(e)) => error = Some(e),
            Ok(OneShotEnd::Ended) => {
                if let Some(last) = outs.last().filter(|o| !o.succeeded()) {
                    error = Some(last.error_snippet());
                }
            }
        }
        for out in &outs {
            turns.add(out);
        }
        settled.escaped(&turns.escaped);
    }
    if let Some(mark) = &mark {
        let target = repo
            .read_ref(&shared.target_ref)
            .ok()
            .flatten()
            .unwrap_or(base);
        settled.config_changes(ws, mark);
        let label = format!("{PLANNER}-{round}");
        settled.extend(ws.settle(repo, target, round, &label, Some(mark)));
    }
    let after = queue.snapshot().unwrap_or_default();
    let added: Vec<String> = after
        .tasks
        .iter()
        .map(|(_, t)| t.id.to_string())
        .filter(|id| !known.contains(id))
        .collect();
    let outcome = if error.is_some() {
        Outcome::Error
    } else if stopped {
        Outcome::Interrupted
    } else {
        Outcome::Done
    };
    CycleRecord {
        model: config.model.to_string(),
        tasks: added,
        turns: turns.count,
        sessions: turns.sessions,
        started: started.to_string(),
        ended: jiff::Timestamp::now().to_string(),
        duration_ms: u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX),
        agent_ms: u64::try_from(turns.agent.as_millis()).unwrap_or(u64::MAX),
        tokens: turns.tokens,
        kept: settled.kept.first().cloned(),
        agent_did: settled.did,
        error,
        transcript: Some(transcript.display().to_string()),
        pauses: turns.waits.pauses,
        ..CycleRecord::new(&shared.id, PLANNER, round, outcome, base.to_string())
    }
}

fn planner_prompt(
    config: &PlannerConfig,
    snap: &crate::store::Snapshot,
    room: usize,
) -> Result<String, PromptError> {
    let mut text = String::new();
    text.push_str(&prompt::role(&config.prompt, Bundled::Planner)?);
    text.push_str(&format!(
        "\n\n## The queue now\n\n{}\n\nAdd at most {room} {} now with `git oompa task add`; it refuses more. \
         If nothing useful is left to plan, add none. End with `__DONE__` alone on the last line.\n",
        prompts::queue_markdown(snap, PLANNER, None),
        if room == 1 { "task" } else { "tasks" }
    ));
    Ok(text)
}
