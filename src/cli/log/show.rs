//! `git oompa log --show`: one cycle, every field.

use std::fmt::Write as _;

use super::{Args, Dated, newest_first};
use crate::cli::ui::{self, BOLD, Ui, human_duration, outcome_style};
use crate::cli::{CommandError, Env};
use crate::store::notes::NOTES_REF;
use crate::store::record::{CycleRecord, SPANS_KEY};

/// `--show [SWARM/]WORKER/CYCLE`: every field of one cycle. When several swarms recorded
/// that worker and cycle, the newest is shown and the others are named.
pub(super) fn show(
    env: &Env,
    entries: &[Dated],
    spec: &Spec<'_>,
    args: &Args,
) -> Result<(), CommandError> {
    let Spec {
        text,
        swarm,
        worker,
        cycle,
    } = *spec;
    let mut found: Vec<&Dated> = entries
        .iter()
        .filter(|e| {
            let r = e.record();
            r.worker == worker
                && r.cycle == cycle
                && swarm.is_none_or(|s| r.swarm.starts_with(s))
                && args.swarm.as_deref().is_none_or(|s| r.swarm.starts_with(s))
        })
        .collect();
    found.sort_by(|a, b| newest_first(a, b));
    let Some(newest) = found.first() else {
        return Err(
            CommandError::user(format!("no cycle {} in {NOTES_REF}", ui::escape(text))).with_hint(
                format!(
                    "`git oompa log --worker {}` lists that worker's cycles",
                    ui::escape(worker)
                ),
            ),
        );
    };
    let mut others: Vec<&str> = found[1..]
        .iter()
        .map(|e| e.record().swarm.as_str())
        .filter(|s| *s != newest.record().swarm)
        .collect();
    others.sort_unstable();
    others.dedup();
    if !others.is_empty() {
        let r = newest.record();
        env.ui.status(format!(
            "cycle {worker}/{cycle} was recorded by {}; showing the newest, swarm {}'s (also: {})",
            ui::count(others.len() + 1, "swarm", "swarms"),
            r.swarm,
            others.join(", ")
        ));
        env.ui.hint(format!(
            "name the swarm to see another: `git oompa log --show {}/{worker}/{cycle}`",
            others[0]
        ));
    }
    if args.json {
        let mut v = serde_json::to_value(newest.record()).expect("a record always serializes");
        v["commit"] = serde_json::Value::String(newest.entry.commit.to_string());
        return env.ui.out_json(&v);
    }
    env.ui.out(describe(&env.ui, newest, args.wide))
}

/// A parsed `--show` argument: `w0/3` or `swarm/w0/3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Spec<'a> {
    text: &'a str,
    swarm: Option<&'a str>,
    worker: &'a str,
    cycle: u32,
}

impl<'a> Spec<'a> {
    pub(super) fn parse(text: &'a str) -> Result<Self, CommandError> {
        let usage = || {
            CommandError::usage(format!(
                "`--show {text}`: expected [SWARM/]WORKER/CYCLE, e.g. `w0/3` or `ab12cd34/w0/3`"
            ))
        };
        let (front, cycle) = text.rsplit_once('/').ok_or_else(usage)?;
        let cycle: u32 = cycle.parse().map_err(|_| usage())?;
        let (swarm, worker) = match front.rsplit_once('/') {
            Some((s, w)) => (Some(s), w),
            None => (None, front),
        };
        if worker.is_empty() || swarm.is_some_and(str::is_empty) {
            return Err(usage());
        }
        Ok(Spec {
            text,
            swarm,
            worker,
            cycle,
        })
    }
}

/// One cycle, every field, for a person. Everything the record holds is shown escaped:
/// notes are written by agents' swarms and fetched from other clones.
fn describe(ui: &Ui, e: &Dated, wide: bool) -> String {
    let r = e.record();
    let mut page = Page {
        s: String::new(),
        width: ui.table_width(wide),
    };
    let title = format!(
        "cycle {}/{}/{}",
        ui::escape(&r.swarm),
        ui::escape(&r.worker),
        r.cycle
    );
    let _ = writeln!(
        page.s,
        "{}  {}",
        ui.paint(BOLD, title),
        ui.paint(outcome_style(r.outcome), r.outcome)
    );
    page.what_and_when(e);
    page.where_it_went(r);
    page.what_happened(r);
    let mut s = page.s;
    conflicts_section(&mut s, r);
    review_section(&mut s, r);
    gate_section(&mut s, r);
    s.truncate(s.trim_end().len());
    s
}

/// The width of the label column of `--show`.
const LABEL: usize = 12;

/// The text of `--show`, written a labelled field at a time.
struct Page {
    s: String,
    width: Option<usize>,
}

impl Page {
    /// `label  value`, the value escaped and wrapped under itself.
    fn field(&mut self, label: &str, value: &str) {
        for (i, line) in ui::escape_lines(value).lines().enumerate() {
            let label = if i == 0 { label } else { "" };
            let _ = writeln!(
                self.s,
                "{label:<LABEL$}{}",
                ui::wrap(line, self.width, LABEL)
            );
        }
    }

    /// Commit, model, tasks, times, turns, sessions, tokens and base.
    fn what_and_when(&mut self, e: &Dated) {
        let r = e.record();
        self.field("commit", &e.entry.commit.to_string());
        if !r.model.is_empty() {
            self.field("model", &r.model);
        }
        if !r.tasks.is_empty() {
            self.field("tasks", &r.tasks.join(", "));
        }
        self.field("started", &ui::when_long(&r.started));
        self.field("ended", &ui::when_long(&r.ended));
        self.field(
            "duration",
            &format!(
                "{} (agent {})",
                human_duration(r.duration_ms),
                human_duration(r.agent_ms)
            ),
        );
        self.field("turns", &r.turns.to_string());
        if let Some(ms) = r.queue_ms {
            self.field(
                "queued",
                &format!("{} (approved → landed)", human_duration(ms)),
            );
        }
        if !r.sessions.is_empty() {
            self.field("sessions", &r.sessions.join(", "));
        }
        if let Some(tokens) = tokens_text(r) {
            self.field("tokens", &tokens);
        }
        self.field("base", &r.base);
    }

    /// Tip, landing, kept ref, transcript and error.
    fn where_it_went(&mut self, r: &CycleRecord) {
        // A transcript gc removed (or one on another machine) is said to be gone.
        let transcript = r.transcript.as_ref().map(|t| {
            let path = std::path::Path::new(t);
            if !path.is_absolute() || path.exists() {
                t.clone()
            } else {
                format!("{t} (not here: removed by `git oompa gc`, or written on another machine)")
            }
        });
        for (label, value) in [
            ("tip", &r.tip),
            ("landed", &r.landed),
            ("kept", &r.kept),
            ("transcript", &transcript),
            ("error", &r.error),
        ] {
            if let Some(v) = value {
                self.field(label, v);
            }
        }
    }

    /// Turn times, what the agent did besides, fields of newer formats, and pauses.
    fn what_happened(&mut self, r: &CycleRecord) {
        let spans = r.spans();
        if !spans.is_empty() {
            let text: Vec<String> = spans
                .iter()
                .map(|s| {
                    format!(
                        "{} at +{} for {}",
                        s.kind,
                        human_duration(s.at_ms),
                        human_duration(s.ms)
                    )
                })
                .collect();
            self.field("turn times", &text.join(", "));
        }
        for did in &r.agent_did {
            match &did.kept {
                Some(k) => self.field("agent did", &format!("{} (kept as {k})", did.what)),
                None => self.field("agent did", &did.what),
            }
        }
        for (key, value) in r.extra.iter().filter(|(k, _)| k.as_str() != SPANS_KEY) {
            self.field(&ui::escape(key), &value.to_string());
        }
        for p in &r.pauses {
            let reason = ui::escape(&p.reason);
            self.field("paused", &format!("{} → {}: {reason}", p.started, p.ended));
        }
    }
}

fn conflicts_section(s: &mut String, r: &CycleRecord) {
    if !r.conflicts.is_empty() {
        let _ = writeln!(s, "conflicts");
        for path in &r.conflicts {
            let _ = writeln!(s, "    {}", ui::escape(path));
        }
    }
}

/// Each review round: reviewer, verdict and findings.
fn review_section(s: &mut String, r: &CycleRecord) {
    if r.review.is_empty() {
        return;
    }
    let _ = writeln!(s, "review");
    for round in &r.review {
        let unparsed = if round.parsed {
            ""
        } else {
            " (no verdict line)"
        };
        let _ = writeln!(
            s,
            "  round {}  reviewer {}  verdict {}{unparsed}",
            round.round,
            ui::escape(&round.reviewer),
            ui::escape(&round.verdict)
        );
        for line in ui::escape_lines(&round.findings).lines() {
            let _ = writeln!(s, "      {line}");
        }
    }
}

/// Each gate attempt: candidate, base, result, time; what it ran and where its output is.
fn gate_section(s: &mut String, r: &CycleRecord) {
    if r.gate.is_empty() {
        return;
    }
    let _ = writeln!(s, "gate");
    for g in &r.gate {
        let short = |id: &str| id.chars().take(8).collect::<String>();
        let mut line = format!(
            "  {} on {}  {}",
            short(&g.candidate),
            short(&g.base),
            g.result
        );
        if g.flaky {
            line.push_str(" (flaky)");
        }
        if let Some(status) = &g.status {
            line.push_str(&format!(": {status}"));
        }
        line.push_str(&format!(
            "  {}  attempt {}",
            human_duration(g.duration_ms),
            g.attempt
        ));
        if g.bisect {
            line.push_str("  bisecting");
        }
        if g.batch.len() > 1 {
            line.push_str(&format!("  batch {}", g.batch.join(", ")));
        }
        let _ = writeln!(s, "{line}");
        if !g.commands.is_empty() {
            let _ = writeln!(s, "      ran {}", g.commands.join(" && "));
        }
        if let Some(out) = &g.output {
            let _ = writeln!(s, "      output {out}");
        }
    }
}

fn tokens_text(r: &CycleRecord) -> Option<String> {
    let t = &r.tokens;
    let mut parts = Vec::new();
    if let Some(i) = t.input {
        parts.push(format!("{i} in"));
    }
    if let Some(o) = t.output {
        parts.push(format!("{o} out"));
    }
    if let Some(c) = t.cost_usd {
        parts.push(format!("${c:.4}"));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_specs() {
        let parts = |s| {
            Spec::parse(s)
                .map(|p| (p.swarm, p.worker, p.cycle))
                .expect("test fixture")
        };
        assert_eq!(parts("w0/3"), (None, "w0", 3));
        assert_eq!(parts("ab12/w0/3"), (Some("ab12"), "w0", 3));
        for bad in ["w0", "w0/x", "/3", "/w0/3", "w0/-1"] {
            assert!(Spec::parse(bad).is_err(), "{bad}");
        }
    }
}
