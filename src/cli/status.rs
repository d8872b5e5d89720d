//! `git oompa status`: live swarms, their workers and claims, predicted conflicts, and the
//! queue at a glance. Claims whose owner is gone are returned to pending first (their work
//! kept).

use serde_json::json;

use super::ui::{self, BOLD, DIM, GREEN, RED};
use super::{CommandError, Env};
use crate::store::Task;
use crate::swarm::gate::status::GateStatus;
use crate::swarm::predict::Prediction;
use crate::swarm::status::{self, StatusReport};

/// Show running swarms, their workers, claims and predicted conflicts, and the queue
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Do not cut the claims table to the terminal's width; full times
    #[arg(long)]
    pub wide: bool,
    /// One JSON object with swarms, claims, predicted conflicts and queue counts
    #[arg(long)]
    pub json: bool,
}

pub fn run(env: &Env, args: Args) -> Result<(), CommandError> {
    let repo = env.repo()?;
    super::recover_dead_claims(env, &repo);
    let report = status::read(&repo)?;
    if args.json {
        return show_json(&env.ui, &report);
    }
    let ui = &env.ui;
    ui.out(format!(
        "{} {} pending, {} claimed, {} complete",
        ui.paint(BOLD, "queue:"),
        report.pending,
        report.current,
        report.complete
    ))?;
    show_swarms(ui, &report, args.wide)?;
    show_claims(ui, &report.claims, args.wide)
}

/// One object with the queue's counts, the running swarms, the claims and what the swarms
/// published.
fn show_json(ui: &ui::Ui, report: &StatusReport) -> Result<(), CommandError> {
    let running: Vec<_> = report.running.iter().map(|s| &s.record).collect();
    let v = json!({
        "version": ui::JSON_VERSION,
        "queue": {
            "pending": report.pending,
            "current": report.current,
            "complete": report.complete,
        },
        "running": running,
        "claims": report.claims.iter().map(|t| json!({"id": t.id, "summary": t.summary, "claim": t.claim})).collect::<Vec<_>>(),
        "predictions": report.predictions(),
        "gates": report.gates(),
    });
    ui.out_json(&v)
}

/// `swarms:` and, per running swarm, its workers with what they hold, its predicted
/// conflicts and its gate.
fn show_swarms(ui: &ui::Ui, report: &StatusReport, wide: bool) -> Result<(), CommandError> {
    if report.running.is_empty() {
        return ui.out(format!(
            "{} {}",
            ui.paint(BOLD, "swarms:"),
            ui.paint(DIM, "none running")
        ));
    }
    ui.out(ui.paint(BOLD, "swarms:"))?;
    for swarm in &report.running {
        let s = &swarm.record;
        ui.out(format!(
            "  {} running on {} (pid {}), landing on {}, started {}",
            ui.paint(GREEN, ui::escape(&s.id)),
            ui::escape(&s.host),
            s.pid,
            ui::escape(&s.target),
            ui::when(&s.started, wide)
        ))?;
        for (w, held) in &swarm.workers {
            let what = if held.is_empty() {
                "-".to_string()
            } else {
                held.join(", ")
            };
            ui.out(format!("    {}: {what}", ui::escape(w)))?;
        }
        if let Some(p) = &swarm.prediction {
            print_conflicts(ui, p)?;
        }
        if let Some(g) = &swarm.gate {
            print_gate(ui, g)?;
        }
    }
    Ok(())
}

/// `claims:` and a table of the claimed tasks; nothing when there are none.
fn show_claims(ui: &ui::Ui, claims: &[Task], wide: bool) -> Result<(), CommandError> {
    if claims.is_empty() {
        return Ok(());
    }
    ui.out(ui.paint(BOLD, "claims:"))?;
    let mut t = ui::table(&["TASK", "HELD BY", "SINCE", "SUMMARY"]);
    t.shrink(3, 12).shrink(1, 8);
    for task in claims {
        let c = task.claim.as_ref();
        t.add_row([
            task.id.to_string(),
            crate::store::queue::holder(task),
            c.map(|c| ui::when(&c.claimed_at, wide)).unwrap_or_default(),
            task.summary.clone(),
        ]);
    }
    // Indented by two: two columns less to fit in.
    let width = ui.table_width(wide).map(|w| w.saturating_sub(2));
    for line in t.render(width, ui.color_stdout()).lines() {
        ui.out(format!("  {line}"))?;
    }
    Ok(())
}

/// The landing gate: what runs on which candidate and for how long, and what waits.
fn print_gate(ui: &ui::Ui, g: &GateStatus) -> Result<(), CommandError> {
    let now = jiff::Timestamp::now();
    let age = |since: &str| -> String {
        since
            .parse::<jiff::Timestamp>()
            .ok()
            .and_then(|t| now.duration_since(t).try_into().ok())
            .map(|d: std::time::Duration| {
                ui::human_duration(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            })
            .unwrap_or_else(|| "?".into())
    };
    let short = |id: &str| id.chars().take(8).collect::<String>();
    ui.out(format!(
        "    {} `{}`",
        ui.paint(BOLD, "gate:"),
        g.commands.join("` && `")
    ))?;
    if g.runs.is_empty() && g.queue.is_empty() && g.waiting.is_empty() {
        return ui.out(format!("      {}", ui.paint(DIM, "idle")));
    }
    for r in &g.runs {
        let why = if r.bisect {
            ", finding the culprit"
        } else {
            ""
        };
        ui.out(format!(
            "      gating {} ({}) for {}{why}",
            short(&r.candidate),
            r.workers.join(", "),
            age(&r.since)
        ))?;
    }
    for q in &g.queue {
        let commit = q.commit.as_deref().map(short).unwrap_or_default();
        ui.out(format!(
            "      queued {}: {} {} (approved {} ago)",
            q.worker,
            q.tasks.join(", "),
            commit,
            age(&q.since)
        ))?;
    }
    for q in &g.waiting {
        ui.out(format!(
            "      waiting {}: {} (approved {} ago)",
            q.worker,
            q.tasks.join(", "),
            age(&q.since)
        ))?;
    }
    if let Some(p) = &g.paused {
        ui.out(format!("      landing paused: {p}"))?;
    }
    Ok(())
}

/// `predicted conflicts:` and one `a × b: paths` line per pair; nothing when there are none.
fn print_conflicts(ui: &ui::Ui, p: &Prediction) -> Result<(), CommandError> {
    if p.conflicts.is_empty() {
        return Ok(());
    }
    ui.out(format!("    {}", ui.paint(BOLD, "predicted conflicts:")))?;
    for c in &p.conflicts {
        ui.out(format!(
            "      {} × {}: {}",
            ui.paint(RED, ui::escape(&c.a)),
            ui.paint(RED, ui::escape(&c.b)),
            ui::escape(&c.paths.join(", "))
        ))?;
    }
    Ok(())
}
