//! `git oompa log --swarms`: every swarm, past and running, with its totals (cycles, merged,
//! failed, tokens, cost, wall time) and how it ended, from the cycle records
//! (`refs/notes/oompa`) and the swarm records (`refs/oompa/tasks`), so a clone shows the same.
//! With `--swarm ID`, also what each worker of that swarm did and spent. Plain `git oompa log`
//! ends with the totals of the swarms its cycles belong to.

use std::collections::BTreeMap;

use serde_json::json;

use crate::cli::ui::{self, Cell, DIM, JsonArray, Ui, human_duration};
use crate::cli::{CommandError, Env};
use crate::config::budget::{Spend, dollars, human_tokens};
use crate::store::Queue;
use crate::store::notes::LogEntry;
use crate::store::queue::hostname;
use crate::store::record::{CycleRecord, Outcome};
use crate::store::swarm::SwarmRecord;

/// One swarm's (or one worker's) totals.
#[derive(Debug, Default, Clone)]
pub struct Totals {
    pub cycles: u32,
    pub merged: u32,
    pub failed: u32,
    pub spend: Spend,
    /// Earliest cycle start and latest cycle end (RFC 3339).
    pub first: Option<String>,
    pub last: Option<String>,
}

impl Totals {
    fn add(&mut self, r: &CycleRecord) {
        self.cycles += 1;
        match r.outcome {
            Outcome::Merged => self.merged += 1,
            Outcome::Error
            | Outcome::Stuck
            | Outcome::Conflict
            | Outcome::Rejected
            | Outcome::GateFailed => self.failed += 1,
            Outcome::NoChanges | Outcome::Done | Outcome::Interrupted => {}
        }
        self.spend
            .add(r.tokens.input, r.tokens.output, r.tokens.cost_usd);
        if self.first.as_ref().is_none_or(|f| r.started < *f) {
            self.first = Some(r.started.clone());
        }
        if self.last.as_ref().is_none_or(|l| r.ended > *l) {
            self.last = Some(r.ended.clone());
        }
    }

    fn tokens(&self) -> String {
        if self.spend.tokens == 0 {
            "-".into()
        } else {
            human_tokens(self.spend.tokens)
        }
    }

    fn cost(&self) -> String {
        match (self.spend.cost_known, self.spend.cost_missing) {
            (true, false) => dollars(self.spend.usd),
            (true, true) => format!("{}+", dollars(self.spend.usd)),
            (false, _) if self.spend.tokens > 0 => "n/a".into(),
            (false, _) => "-".into(),
        }
    }

    fn cost_json(&self) -> serde_json::Value {
        if self.spend.cost_known {
            json!(self.spend.usd)
        } else {
            serde_json::Value::Null
        }
    }
}

/// Per-swarm totals of these cycle records.
fn per_swarm<'a>(records: impl Iterator<Item = &'a CycleRecord>) -> BTreeMap<String, Totals> {
    let mut out: BTreeMap<String, Totals> = BTreeMap::new();
    for r in records {
        out.entry(r.swarm.clone()).or_default().add(r);
    }
    out
}

/// Milliseconds from `a` to `b` (RFC 3339), when both parse.
fn span_ms(a: &str, b: &str) -> Option<u64> {
    let a: jiff::Timestamp = a.parse().ok()?;
    let b: jiff::Timestamp = b.parse().ok()?;
    u64::try_from(b.duration_since(a).as_millis()).ok()
}

/// One row of the list.
struct Row {
    id: String,
    started: Option<String>,
    target: String,
    ended: String,
    wall_ms: Option<u64>,
    totals: Totals,
}

fn rows(env: &Env, entries: &[LogEntry]) -> Result<Vec<Row>, CommandError> {
    let repo = env.repo()?;
    let records: Vec<SwarmRecord> = Queue::new(&repo).swarms().unwrap_or_default();
    let totals = per_swarm(entries.iter().map(|e| &e.record));
    let host = hostname();
    // The registry's word on this machine's swarms: running, or known to be dead (which
    // outweighs a record whose pid is alive again, a reused pid).
    let (running, dead): (Vec<_>, Vec<_>) = crate::swarm::registry::list(repo.common_dir())
        .into_iter()
        .filter(|e| e.running || e.info.host == host)
        .partition(|e| e.running);
    let running: Vec<String> = running.into_iter().map(|e| e.info.id).collect();
    let dead: Vec<String> = dead.into_iter().map(|e| e.info.id).collect();
    let now = jiff::Timestamp::now().to_string();
    let mut ids: Vec<&String> = records.iter().map(|s| &s.id).collect();
    ids.extend(totals.keys());
    ids.sort();
    ids.dedup();
    let mut out = Vec::new();
    for id in ids {
        let rec = records.iter().find(|s| &s.id == id);
        let t = totals.get(id).cloned().unwrap_or_default();
        let started = rec.map(|s| s.started.clone()).or_else(|| t.first.clone());
        let is_running = running.contains(id)
            || (rec.is_some_and(|s| s.is_running(&host)) && !dead.contains(id));
        let (ended, end_at) = match rec.and_then(|s| s.stopped.as_ref()) {
            _ if is_running => ("running".to_string(), Some(now.clone())),
            Some(stop) => (stop.reason.clone(), Some(stop.at.clone())),
            None => ("unknown".to_string(), t.last.clone()),
        };
        let wall_ms = started
            .as_deref()
            .zip(end_at.as_deref())
            .and_then(|(a, b)| span_ms(a, b));
        out.push(Row {
            id: id.clone(),
            started,
            target: rec.map(|s| s.target.clone()).unwrap_or_default(),
            ended,
            wall_ms,
            totals: t,
        });
    }
    out.sort_by(|a, b| b.started.cmp(&a.started));
    Ok(out)
}

/// `git oompa log --swarms [--swarm ID] [--json] [--wide]`.
pub fn run(
    env: &Env,
    entries: &[LogEntry],
    only: Option<&str>,
    json: bool,
    wide: bool,
) -> Result<(), CommandError> {
    let mut rows = rows(env, entries)?;
    if let Some(prefix) = only {
        rows.retain(|r| r.id.starts_with(prefix));
    }
    if json {
        let mut out = JsonArray::new(&env.ui);
        for r in &rows {
            out.push(&json!({
                "version": ui::JSON_VERSION,
                "swarm": r.id,
                "started": r.started,
                "target": r.target,
                "ended": r.ended,
                "wall_ms": r.wall_ms,
                "cycles": r.totals.cycles,
                "merged": r.totals.merged,
                "failed": r.totals.failed,
                "tokens": r.totals.spend.tokens,
                "cost_usd": r.totals.cost_json(),
                "cost_partial": r.totals.spend.cost_known && r.totals.spend.cost_missing,
            }))?;
        }
        return out.finish();
    }
    if rows.is_empty() {
        env.ui.status(env.ui.paint_err(DIM, "no swarms recorded"));
        return Ok(());
    }
    let mut t = ui::table(&[
        "SWARM", "STARTED", "TARGET", "CYCLES", "MERGED", "FAILED", "TOKENS", "COST", "WALL",
        "ENDED",
    ]);
    for i in 3..=8 {
        t.align_right(i);
    }
    for r in &rows {
        t.add_row([
            Cell::new(&r.id),
            Cell::new(
                r.started
                    .as_deref()
                    .map_or_else(String::new, |s| ui::when(s, wide)),
            ),
            Cell::new(&r.target),
            Cell::new(r.totals.cycles.to_string()),
            Cell::new(r.totals.merged.to_string()),
            Cell::new(r.totals.failed.to_string()),
            Cell::new(r.totals.tokens()),
            Cell::new(r.totals.cost()),
            Cell::new(r.wall_ms.map_or_else(|| "-".into(), human_duration)),
            Cell::new(&r.ended),
        ]);
    }
    env.ui.out_table(&t, wide)?;
    if let [one] = rows.as_slice()
        && only.is_some()
    {
        print_workers(&env.ui, entries, &one.id, wide)?;
    }
    if rows.iter().any(|r| r.totals.spend.cost_missing) {
        env.ui.status(env.ui.paint_err(
            DIM,
            "n/a: the agents reported tokens but no cost; `+`: some did not report a cost",
        ));
    }
    Ok(())
}

/// What each worker of one swarm did and spent.
fn print_workers(
    ui: &Ui,
    entries: &[LogEntry],
    swarm: &str,
    wide: bool,
) -> Result<(), CommandError> {
    let mut per: BTreeMap<String, Totals> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.record.swarm == swarm) {
        per.entry(e.record.worker.clone())
            .or_default()
            .add(&e.record);
    }
    if per.is_empty() {
        return Ok(());
    }
    ui.out("")?;
    let mut t = ui::table(&["WORKER", "CYCLES", "MERGED", "FAILED", "TOKENS", "COST"]);
    for i in 1..=5 {
        t.align_right(i);
    }
    for (w, tot) in &per {
        t.add_row([
            Cell::new(w),
            Cell::new(tot.cycles.to_string()),
            Cell::new(tot.merged.to_string()),
            Cell::new(tot.failed.to_string()),
            Cell::new(tot.tokens()),
            Cell::new(tot.cost()),
        ]);
    }
    ui.out_table(&t, wide)
}

/// Under plain `git oompa log`: one line of totals per swarm whose cycles it showed.
pub fn print_footer<'a>(ui: &Ui, records: impl Iterator<Item = &'a CycleRecord>) {
    for (id, t) in per_swarm(records) {
        let wall = t
            .first
            .as_deref()
            .zip(t.last.as_deref())
            .and_then(|(a, b)| span_ms(a, b))
            .map_or_else(String::new, |ms| format!(", {}", human_duration(ms)));
        ui.status(ui.paint_err(
            DIM,
            format!(
                "swarm {id}: {}, {} merged, {} failed, {} tokens, cost {}{wall}",
                ui::count(t.cycles as usize, "cycle", "cycles"),
                t.merged,
                t.failed,
                t.tokens(),
                t.cost()
            ),
        ));
    }
}
