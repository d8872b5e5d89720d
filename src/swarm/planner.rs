//! The planner: a one-shot agent turn that fills the task queue with `git oompa task add`
//! (never with files), run before the workers start and again whenever fewer than
//! `refill_below` tasks are pending while a worker sits idle. `git oompa task add` refuses to
//! take the queue past `max_pending`. A planning turn that adds nothing ends the planning. A
//! planning turn its provider cuts short (a usage limit, a passing error) is waited out and
//! its session resumed, as a worker's turns are (`worker::pause`).

use std::sync::atomic::Ordering;
use std::time::Duration;

use crossbeam_channel::Sender;

use super::worker::pause::{OneShotEnd, Waiter, one_shot};
use super::worker::{Began, Turns};
use super::workspace::{Mark, Settled, Workspace};
use super::{Event, Shared, prompts};
use crate::agent::prompt::{self, Bundled, PromptError};
use crate::agent::{Turn, TurnMode};
use crate::config::PlannerConfig;
use crate::git::{ObjectId, Repo};
use crate::store::record::{CycleRecord, Outcome};
use crate::store::{Queue, Snapshot};

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

/// One planning round: its turn (resumed after provider pauses), what it left in its worktree
/// settled, and its record, which lists the tasks it added.
fn plan_once(
    shared: &Shared,
    config: &PlannerConfig,
    repo: &Repo,
    ws: &Workspace,
    round: u32,
    room: usize,
) -> CycleRecord {
    let began = Began::now();
    let queue = Queue::new(repo);
    let base = repo
        .read_ref(&shared.target_ref)
        .ok()
        .flatten()
        .unwrap_or_else(|| ObjectId::null(gix::hash::Kind::Sha1));
    let before = queue.snapshot().unwrap_or_default();
    let transcript = crate::store::layout::round_transcript(&shared.transcripts, PLANNER, round);
    shared.journal.start(&crate::store::journal::Start {
        worker: PLANNER,
        cycle: round,
        model: config.model.to_string(),
        started: began.wall.to_string(),
        base: Some(base),
        branch: Some(&ws.branch),
        transcript: &transcript,
    });
    let mut turns = Turns::default();
    let mut settled = Settled::default();
    let (outcome, error) = match planner_prompt(config, &before, room) {
        Err(e) => (Outcome::Error, Some(e.to_string())),
        Ok(text) => match ws.refresh(
            repo,
            base,
            &shared.root,
            &format!("{PLANNER}-{round}-start"),
        ) {
            Err(e) => (
                Outcome::Error,
                Some(format!("refreshing its worktree: {e}")),
            ),
            Ok((mark, found)) => {
                settled = found;
                let ended =
                    planning_turn(shared, config, ws, round, &text, &transcript, &mut turns);
                settled.escaped(&turns.escaped);
                settle_round(shared, (repo, ws), round, base, &mark, &mut settled);
                ended
            }
        },
    };
    let after = queue.snapshot().unwrap_or_default();
    let record = CycleRecord::new(&shared.id, PLANNER, round, outcome, base.to_string());
    CycleRecord {
        model: config.model.to_string(),
        tasks: added(&before, &after),
        error,
        ..turns.into_record(record, began, &transcript, settled)
    }
}

/// The round's planning turn, resumed after provider pauses: how it ended, and why when it
/// failed.
fn planning_turn(
    shared: &Shared,
    config: &PlannerConfig,
    ws: &Workspace,
    round: u32,
    text: &str,
    transcript: &std::path::Path,
    turns: &mut Turns,
) -> (Outcome, Option<String>) {
    let mut env = shared.agent_env(PLANNER, round, &ws.branch, &config.env);
    env.push((crate::agent_env::ROLE.into(), "planner".into()));
    env.push((
        crate::agent_env::MAX_PENDING.into(),
        config.max_pending.to_string(),
    ));
    let turn = Turn {
        spec: &config.model,
        cwd: &ws.path,
        prompt: text,
        resume: None,
        mode: TurnMode::OneShot,
        extra_args: &config.args,
        env: &env,
        timeout: config.turn_timeout,
        transcript,
        transcript_max: shared.config.transcript_max,
        kill: &shared.control.kill,
    };
    let waiter = Waiter::new(shared, PLANNER, "", None);
    let mut outs = Vec::new();
    let label = format!("planner round {round}");
    let ended = one_shot(&waiter, &turn, &label, &mut turns.waits, &mut outs);
    for out in &outs {
        turns.add(out);
    }
    match ended {
        Err(e) => (Outcome::Error, Some(e.to_string())),
        Ok(OneShotEnd::Stopped) => (Outcome::Interrupted, None),
        Ok(OneShotEnd::GaveUp(e)) => (Outcome::Error, Some(e)),
        Ok(OneShotEnd::Ended) => match outs.last().filter(|o| !o.succeeded()) {
            Some(last) => (Outcome::Error, Some(last.error_snippet())),
            None => (Outcome::Done, None),
        },
    }
}

/// Keeps what the planner left in its worktree (it plans with `git oompa task add`, never
/// with files) before the next round resets it.
fn settle_round(
    shared: &Shared,
    (repo, ws): (&Repo, &Workspace),
    round: u32,
    base: ObjectId,
    mark: &Mark,
    settled: &mut Settled,
) {
    let target = repo
        .read_ref(&shared.target_ref)
        .ok()
        .flatten()
        .unwrap_or(base);
    settled.config_changes(ws, mark);
    let label = format!("{PLANNER}-{round}");
    settled.extend(ws.settle(repo, target, round, &label, Some(mark)));
}

/// The ids in `after` that `before` did not have.
fn added(before: &Snapshot, after: &Snapshot) -> Vec<String> {
    let known: Vec<String> = before.tasks.iter().map(|(_, t)| t.id.to_string()).collect();
    after
        .tasks
        .iter()
        .map(|(_, t)| t.id.to_string())
        .filter(|id| !known.contains(id))
        .collect()
}

fn planner_prompt(
    config: &PlannerConfig,
    snap: &Snapshot,
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
