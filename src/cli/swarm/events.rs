//! The progress lines of `git oompa swarm`: one or a few lines on stderr per [`Event`], by
//! family: the swarm's start, a worker's cycle, review and landing, the landing gate.

use jiff::Timestamp;

use crate::cli::CommandError;
use crate::cli::ui::{self, DIM, GREEN, Ui, YELLOW};
use crate::git::ObjectId;
use crate::store::ClaimOutcome;
use crate::store::TaskId;
use crate::store::record::{CycleRecord, ReviewRound};
use crate::swarm::Event;

/// Says what `ev` tells, if it is for people.
pub(super) fn print_event(ui: &Ui, ev: &Event) {
    match ev {
        Event::Started {
            swarm,
            target,
            workers,
        } => started(ui, swarm, target, workers),
        Event::Recovered {
            released,
            crashed,
            kept,
            recorded,
        } => recovered(ui, released, crashed, kept, recorded),
        Event::CycleStarted { worker, cycle } => {
            ui.status(ui.paint_err(DIM, format!("[{worker}] cycle {cycle} started")))
        }
        Event::TurnEnded {
            worker,
            cycle,
            turn,
            signal,
        } => turn_ended(ui, worker, *cycle, *turn, signal),
        Event::Claimed { worker, results } => claimed(ui, worker, results),
        Event::Planned {
            round,
            added,
            error,
        } => planned(ui, *round, added, error.as_deref()),
        Event::Reviewed { worker, round } => reviewed(ui, worker, round),
        Event::LandingPaused { worker, reason } => {
            ui.warn(format!("[{worker}] {}", ui::escape(reason)))
        }
        Event::GateStarted {
            run,
            workers,
            candidate,
            bisect,
        } => gate_started(ui, *run, workers, candidate, *bisect),
        Event::GateEnded { .. } => gate_ended(ui, ev),
        Event::Landed {
            worker,
            commit,
            tasks,
        } => landed(ui, worker, commit, tasks),
        Event::CycleEnded { worker, record } => cycle_ended(ui, worker, record),
        Event::Waiting { worker, why } => {
            ui.status(ui.paint_err(DIM, format!("[{worker}] {}", ui::escape(why))))
        }
        Event::Paused {
            worker,
            until,
            reason,
        } => paused(ui, worker, until, reason),
        Event::Resumed { worker } => ui.status(format!("[{worker}] resuming its session")),
        // Said by the warning that comes with it; the event is for `notify`.
        Event::BudgetSpent { .. } => {}
        Event::Warning(w) => ui.warn(ui::escape(w)),
        Event::WorkerFailed { worker, error } => ui.error(&CommandError::user(format!(
            "[{worker}] {}",
            ui::escape(error)
        ))),
        // A worker that could not start said so already.
        Event::WorkerFinished(s) if !s.started => {}
        // For `status` and its live view.
        Event::Phase { .. } => {}
        Event::WorkerFinished(s) => ui.status(format!(
            "[{}] finished: {}",
            s.worker,
            ui::escape(&s.reason)
        )),
    }
}

// The swarm's start.

fn started(ui: &Ui, swarm: &str, target: &str, workers: &[(String, String)]) {
    ui.status(format!(
        "swarm {swarm}: {} landing on {}",
        ui::count(workers.len(), "worker", "workers"),
        ui::escape(target)
    ));
    for (w, model) in workers {
        ui.status(ui.paint_err(
            DIM,
            format!("  {}: {}", ui::escape(w), ui::escape(&model.to_string())),
        ));
    }
}

/// What was cleaned up after swarms that ended without doing so.
fn recovered(
    ui: &Ui,
    released: &[String],
    crashed: &[String],
    kept: &[String],
    recorded: &[String],
) {
    if !crashed.is_empty() {
        ui.warn(format!(
            "{} {} ended without cleaning up",
            if crashed.len() == 1 {
                "swarm"
            } else {
                "swarms"
            },
            ui::escape(&crashed.join(", "))
        ));
    }
    if !released.is_empty() {
        ui.warn(format!(
            "returned {} to pending: {}",
            ui::count(released.len(), "orphaned claim", "orphaned claims"),
            released.join(", ")
        ));
    }
    for k in kept {
        ui.status(format!("kept their unmerged work as {k}"));
    }
    if !recorded.is_empty() {
        ui.warn(format!(
            "recorded {} cycle(s) a crash left out of the log: {}",
            recorded.len(),
            recorded.join(", ")
        ));
    }
}

/// The planner's rounds.
fn planned(ui: &Ui, round: u32, added: &[String], error: Option<&str>) {
    match error {
        Some(e) => ui.warn(format!("[planner] round {round} failed: {}", ui::escape(e))),
        None if added.is_empty() => {
            ui.status(format!("[planner] round {round}: nothing more to plan"))
        }
        None => ui.status(format!(
            "[planner] round {round}: added {}",
            added.join(", ")
        )),
    }
}

// A worker's cycle.

fn turn_ended(ui: &Ui, worker: &str, cycle: u32, turn: u32, signal: &str) {
    ui.status(ui.paint_err(
        DIM,
        format!(
            "[{worker}] cycle {cycle}, turn {turn}: {}",
            ui::escape(signal)
        ),
    ));
}

fn claimed(ui: &Ui, worker: &str, results: &[(String, ClaimOutcome)]) {
    let parts: Vec<String> = results
        .iter()
        .map(|(id, o)| match o {
            ClaimOutcome::Claimed => format!("claimed {id}"),
            ClaimOutcome::Taken(by) => format!("{id} taken by {by}"),
            ClaimOutcome::Complete => format!("{id} already landed"),
            ClaimOutcome::NotFound => format!("{id} not found"),
            ClaimOutcome::Corrupt(_) => format!("{id} unreadable"),
        })
        .map(|line| ui::escape(&line).into_owned())
        .collect();
    ui.status(format!("[{worker}] {}", parts.join("; ")));
}

fn cycle_ended(ui: &Ui, worker: &str, record: &CycleRecord) {
    let mut line = format!(
        "[{worker}] cycle {} {} in {}",
        record.cycle,
        ui.paint_err(ui::outcome_style(record.outcome), record.outcome),
        ui::human_duration(record.duration_ms)
    );
    if let Some(e) = &record.error {
        line.push_str(&format!(": {}", ui::escape(e.lines().next().unwrap_or(""))));
    }
    if let Some(k) = &record.kept {
        line.push_str(&format!(" (work kept as {k})"));
    }
    ui.status(line);
}

/// A worker waits for its provider until `until`.
fn paused(ui: &Ui, worker: &str, until: &Timestamp, reason: &str) {
    ui.status(format!(
        "[{worker}] paused until {} ({}): {}",
        until.strftime("%H:%M:%S UTC"),
        // Whole seconds, rounded up: a pause of 3 s shows as 3 s, not 2.
        ui::human_duration(
            u64::try_from(until.duration_since(Timestamp::now()).as_millis())
                .unwrap_or(0)
                .div_ceil(1000)
                * 1000
        ),
        ui::escape(reason)
    ))
}

// Review and landing.

fn reviewed(ui: &Ui, worker: &str, round: &ReviewRound) {
    let style = if round.verdict == "approved" {
        GREEN
    } else {
        YELLOW
    };
    ui.status(format!(
        "[{worker}] review round {} by {}: {}",
        round.round,
        ui::escape(&round.reviewer),
        ui.paint_err(style, ui::escape(&round.verdict))
    ));
}

fn landed(ui: &Ui, worker: &str, commit: &ObjectId, tasks: &[TaskId]) {
    let short = &commit.to_string()[..8];
    let what = if tasks.is_empty() {
        String::new()
    } else {
        format!(
            " ({})",
            tasks
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    ui.status(format!(
        "[{worker}] {} {short}{what}",
        ui.paint_err(GREEN, "landed")
    ));
}

// The landing gate.

fn gate_started(ui: &Ui, run: u64, workers: &[String], candidate: &ObjectId, bisect: bool) {
    let why = if bisect { " (finding the culprit)" } else { "" };
    ui.status(ui.paint_err(
        DIM,
        format!(
            "[gate] run {run}: checking {} ({}){why}",
            &candidate.to_string()[..8],
            workers.join(", ")
        ),
    ));
}

/// `ev` is an [`Event::GateEnded`] (it has too many fields to pass one by one).
fn gate_ended(ui: &Ui, ev: &Event) {
    let Event::GateEnded {
        run,
        workers,
        candidate,
        result,
        duration_ms,
        attempts,
        flaky,
    } = ev
    else {
        return;
    };
    let style = match result.as_str() {
        "passed" => GREEN,
        "cancelled" => DIM,
        _ => YELLOW,
    };
    let mut what = result.clone();
    if *flaky {
        what.push_str(" (flaky: failed first)");
    } else if *attempts > 1 {
        what.push_str(&format!(" ({attempts} attempts)"));
    }
    ui.status(format!(
        "[gate] run {run}: {} {} ({}) in {}",
        &candidate.to_string()[..8],
        ui.paint_err(style, what),
        workers.join(", "),
        ui::human_duration(*duration_ms)
    ));
}
