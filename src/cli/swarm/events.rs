//! The progress lines of `git oompa swarm`: one or a few lines on stderr per [`Event`].

use crate::cli::CommandError;
use crate::cli::ui::{self, DIM, GREEN, Ui, YELLOW};
use crate::swarm::Event;

/// Says what `ev` tells, if it is for people.
pub(super) fn print_event(ui: &Ui, ev: &Event) {
    match ev {
        Event::Started {
            swarm,
            target,
            workers,
        } => {
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
        Event::Recovered {
            released,
            crashed,
            kept,
            recorded,
        } => {
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
        Event::CycleStarted { worker, cycle } => {
            ui.status(ui.paint_err(DIM, format!("[{worker}] cycle {cycle} started")))
        }
        Event::TurnEnded {
            worker,
            cycle,
            turn,
            signal,
        } => {
            ui.status(ui.paint_err(
                DIM,
                format!(
                    "[{worker}] cycle {cycle}, turn {turn}: {}",
                    ui::escape(signal)
                ),
            ));
        }
        Event::Claimed { worker, results } => {
            let parts: Vec<String> = results
                .iter()
                .map(|(id, o)| match o {
                    crate::store::ClaimOutcome::Claimed => format!("claimed {id}"),
                    crate::store::ClaimOutcome::Taken(by) => format!("{id} taken by {by}"),
                    crate::store::ClaimOutcome::Complete => format!("{id} already landed"),
                    crate::store::ClaimOutcome::NotFound => format!("{id} not found"),
                    crate::store::ClaimOutcome::Corrupt(_) => format!("{id} unreadable"),
                })
                .map(|line| ui::escape(&line).into_owned())
                .collect();
            ui.status(format!("[{worker}] {}", parts.join("; ")));
        }
        Event::Planned {
            round,
            added,
            error,
        } => match error {
            Some(e) => ui.warn(format!("[planner] round {round} failed: {}", ui::escape(e))),
            None if added.is_empty() => {
                ui.status(format!("[planner] round {round}: nothing more to plan"))
            }
            None => ui.status(format!(
                "[planner] round {round}: added {}",
                added.join(", ")
            )),
        },
        Event::Reviewed { worker, round } => {
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
        Event::LandingPaused { worker, reason } => {
            ui.warn(format!("[{worker}] {}", ui::escape(reason)))
        }
        Event::GateStarted {
            run,
            workers,
            candidate,
            bisect,
        } => {
            let why = if *bisect {
                " (finding the culprit)"
            } else {
                ""
            };
            ui.status(ui.paint_err(
                DIM,
                format!(
                    "[gate] run {run}: checking {} ({}){why}",
                    &candidate.to_string()[..8],
                    workers.join(", ")
                ),
            ));
        }
        Event::GateEnded {
            run,
            workers,
            candidate,
            result,
            duration_ms,
            attempts,
            flaky,
        } => {
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
        Event::Landed {
            worker,
            commit,
            tasks,
        } => {
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
        Event::CycleEnded { worker, record } => {
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
        Event::Waiting { worker, why } => {
            ui.status(ui.paint_err(DIM, format!("[{worker}] {}", ui::escape(why))))
        }
        Event::Paused {
            worker,
            until,
            reason,
        } => ui.status(format!(
            "[{worker}] paused until {} ({}): {}",
            until.strftime("%H:%M:%S UTC"),
            // Whole seconds, rounded up: a pause of 3 s shows as 3 s, not 2.
            ui::human_duration(
                u64::try_from(until.duration_since(jiff::Timestamp::now()).as_millis())
                    .unwrap_or(0)
                    .div_ceil(1000)
                    * 1000
            ),
            ui::escape(reason)
        )),
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
