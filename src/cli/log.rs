//! `git oompa log`: the cycle history kept in `refs/notes/oompa`, newest first, as a table,
//! as JSON lines, or one cycle in full (`--show`).
//!
//! Reads through [`crate::store::notes`] and only formats; it never writes to the log.

use std::cmp::Ordering;
use std::fmt::Write as _;

use jiff::{SignedDuration, Timestamp};

use crate::cli::ui::{self, BOLD, Cell, DIM, JsonArray, Ui, human_duration, outcome_style};
use crate::cli::{CommandError, Env};
use crate::store::notes::{LogEntry, NOTES_REF, Notes};
use crate::store::record::{CycleRecord, Outcome, SPANS_KEY};

mod swarms;

/// Show the cycle history recorded in refs/notes/oompa
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Show the cycle history recorded in refs/notes/oompa, newest first.\n\n\
Every cycle of every worker is one JSON line in the git note of the commit the cycle is about\n\
(the landing commit if it merged, else the worker's tip, else the base). Plain git reads them\n\
too: `git log --notes=oompa`, `git notes --ref=oompa show <commit>`.\n\n\
The table fits the terminal (COLUMNS, else the terminal's width; no limit when piped): WHEN is\n\
how long ago the cycle ended, CYCLE is WORKER/CYCLE as --show takes it. --wide shows it all."
)]
#[derive(Default)]
pub struct Args {
    /// A JSON array of the stored records, newest first, each plus "commit" (the annotated
    /// commit); with --show, that one record as an object
    #[arg(long)]
    pub json: bool,
    /// Do not cut the table to the terminal's width; full times and commit ids
    #[arg(long)]
    pub wide: bool,
    /// Only cycles of this swarm (a prefix of its id is enough)
    #[arg(long, value_name = "ID")]
    pub swarm: Option<String>,
    /// Only cycles of this worker
    #[arg(long, value_name = "NAME")]
    pub worker: Option<String>,
    /// Only cycles that held this task
    #[arg(long, value_name = "ID")]
    pub task: Option<String>,
    /// Only cycles with this outcome (repeat for several)
    #[arg(long, value_name = "OUTCOME", value_parser = outcome_parser())]
    pub outcome: Vec<Outcome>,
    /// Only cycles that ended since WHEN: that long ago (90m, 2h, 3d, 1w, 1h30m), a date
    /// (2026-01-31, UTC midnight) or an RFC 3339 time (2026-01-31T12:00:00Z)
    #[arg(long, value_name = "WHEN", value_parser = parse_since)]
    pub since: Option<Timestamp>,
    /// Show at most N cycles (the newest)
    #[arg(short = 'n', long = "max-count", value_name = "N")]
    pub max_count: Option<usize>,
    /// Show one cycle in full: [SWARM/]WORKER/CYCLE, e.g. `w0/3` or `ab12cd34/w0/3`
    #[arg(long, value_name = "SPEC", conflicts_with_all = ["worker", "task", "outcome", "since", "max_count"])]
    pub show: Option<String>,
    /// List the swarms, past and running, newest first, with their totals (cycles, merged,
    /// failed, tokens, cost, wall time) and how they ended; with --swarm, also per worker
    #[arg(long, conflicts_with_all = ["show", "worker", "task", "outcome", "since", "max_count"])]
    pub swarms: bool,
    /// Draw one swarm's cycles as a picture (SVG, or HTML with -o page.html): a lane per
    /// worker, a bar per cycle coloured by outcome, landings on the target's lane. The newest
    /// swarm unless --swarm names one; --worker, --outcome and --since narrow it
    #[arg(long, conflicts_with_all = ["show", "json", "task", "max_count"])]
    pub timeline: bool,
    /// With --timeline: write the picture to this file (`.html`/`.htm`: a page holding it)
    /// instead of stdout
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FILE",
        requires = "timeline"
    )]
    pub output: Option<std::path::PathBuf>,
}

/// Bad lines warned about one by one before the rest are summed up.
const MAX_WARNINGS: usize = 20;

/// The outcomes as clap possible values, so help, completions and errors list them.
fn outcome_parser() -> impl clap::builder::TypedValueParser<Value = Outcome> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(Outcome::ALL.map(Outcome::as_str)).map(|s| {
        s.parse::<Outcome>()
            .expect("only listed outcomes get through")
    })
}

/// `--since`: a duration ago, a date (UTC midnight) or an RFC 3339 timestamp.
fn parse_since(s: &str) -> Result<Timestamp, String> {
    let s = s.trim();
    if let Some(ago) = parse_ago(s) {
        return Timestamp::now()
            .checked_sub(ago)
            .map_err(|_| format!("`{s}` reaches back before the earliest time there is"));
    }
    if let Ok(ts) = s.parse::<Timestamp>() {
        return Ok(ts);
    }
    if let Ok(date) = s.parse::<jiff::civil::Date>() {
        return date
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp())
            .map_err(|e| format!("`{s}`: {e}"));
    }
    Err(format!(
        "`{s}` is neither a duration (90m, 2h, 3d, 1w) nor a date or time \
         (2026-01-31, 2026-01-31T12:00:00Z)"
    ))
}

/// `90m`, `2h`, `3d`, `1w`, `1h30m`, `45s`: how long ago.
fn parse_ago(s: &str) -> Option<SignedDuration> {
    let mut total = SignedDuration::ZERO;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        let unit = rest[digits..].chars().next()?;
        let secs = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return None,
        };
        total = total.checked_add(SignedDuration::from_secs(n.checked_mul(secs)?))?;
        rest = &rest[digits + 1..];
    }
    Some(total)
}

pub fn run(env: &Env, args: Args) -> Result<(), CommandError> {
    let spec = args.show.as_deref().map(Spec::parse).transpose()?;
    let repo = env.repo()?;
    // Cycles a crashed swarm left out of the log are recorded first, so it has no hole.
    super::recover_dead_claims(env, &repo);
    let (entries, bad) = Notes::new(&repo).read_all()?;
    warn_bad_lines(&env.ui, &bad);
    if args.swarms {
        return swarms::run(env, &entries, args.swarm.as_deref(), args.json, args.wide);
    }
    let mut entries: Vec<Dated> = entries.into_iter().map(Dated::new).collect();
    if let Some(spec) = spec {
        return show(env, &entries, &spec, &args);
    }
    if args.timeline {
        entries.retain(|e| args.keeps(e));
        let records = entries.into_iter().map(|e| e.entry.record).collect();
        return super::timeline::run(env, &repo, records, &args);
    }
    if entries.is_empty() {
        if args.json {
            return ui::out_json_array(&env.ui, []);
        }
        env.ui
            .status(env.ui.paint_err(DIM, "no cycles recorded yet"));
        return Ok(());
    }
    entries.retain(|e| args.keeps(e));
    entries.sort_by(newest_first);
    entries.truncate(args.max_count.unwrap_or(usize::MAX));
    if args.json {
        let mut out = JsonArray::new(&env.ui);
        for e in &entries {
            out.push_text(&json_line(&e.entry))?;
        }
        return out.finish();
    }
    if entries.is_empty() {
        env.ui.status(env.ui.paint_err(DIM, "no cycles match"));
        return Ok(());
    }
    print_table(&env.ui, &entries, args.wide)?;
    swarms::print_footer(&env.ui, entries.iter().map(Dated::record));
    Ok(())
}

fn warn_bad_lines(ui: &Ui, bad: &[crate::store::notes::BadLine]) {
    for b in bad.iter().take(MAX_WARNINGS) {
        ui.warn(format!(
            "line {} of the note on {} is not a cycle record: {}",
            b.line,
            b.commit,
            ui::escape(&b.reason)
        ));
    }
    if bad.len() > MAX_WARNINGS {
        ui.warn(format!(
            "… and {} more lines that are not cycle records",
            bad.len() - MAX_WARNINGS
        ));
    }
    if !bad.is_empty() {
        ui.hint(format!(
            "see them with `git notes --ref={} show <commit>`",
            NOTES_REF.trim_start_matches("refs/notes/")
        ));
    }
}

/// An entry with its end time parsed once (for sorting 100k records).
struct Dated {
    ended: Option<Timestamp>,
    entry: LogEntry,
}

impl Dated {
    fn new(entry: LogEntry) -> Self {
        Dated {
            ended: entry.record.ended.parse().ok(),
            entry,
        }
    }

    fn record(&self) -> &CycleRecord {
        &self.entry.record
    }
}

impl Args {
    fn keeps(&self, e: &Dated) -> bool {
        let r = e.record();
        self.swarm.as_ref().is_none_or(|s| r.swarm.starts_with(s))
            && self.worker.as_ref().is_none_or(|w| &r.worker == w)
            && self.task.as_ref().is_none_or(|t| r.tasks.contains(t))
            && (self.outcome.is_empty() || self.outcome.contains(&r.outcome))
            && self
                .since
                .is_none_or(|since| e.ended.is_some_and(|ended| ended >= since))
    }
}

/// Newest `ended` first (unreadable times last); ties by swarm, worker, then later cycle first.
fn newest_first(a: &Dated, b: &Dated) -> Ordering {
    let (ra, rb) = (a.record(), b.record());
    b.ended
        .cmp(&a.ended)
        .then_with(|| ra.swarm.cmp(&rb.swarm))
        .then_with(|| ra.worker.cmp(&rb.worker))
        .then_with(|| rb.cycle.cmp(&ra.cycle))
}

/// The stored record plus `"commit"`, on one line.
fn json_line(e: &LogEntry) -> String {
    if e.record.extra.contains_key("commit") {
        // A field of a newer format: let ours win without a duplicate key.
        let mut v = serde_json::to_value(&e.record).expect("a record always serializes");
        v["commit"] = serde_json::Value::String(e.commit.to_string());
        return v.to_string();
    }
    let line = e.record.to_line();
    let fields = line
        .strip_prefix('{')
        .expect("a record serializes to a JSON object");
    format!("{{\"commit\":\"{}\",{fields}", e.commit)
}

const HEADER: [&str; 8] = [
    "WHEN", "SWARM", "CYCLE", "OUTCOME", "TASKS", "TURNS", "TIME", "COMMIT",
];
/// The TASKS column: gives up width first.
const TASKS_COL: usize = 4;

fn print_table(ui: &Ui, entries: &[Dated], wide: bool) -> Result<(), CommandError> {
    let mut table = ui::table(&HEADER);
    table.shrink(TASKS_COL, 6).align_right(5);
    let commit_len = if wide { 40 } else { 8 };
    for e in entries {
        let r = e.record();
        table.add_row([
            Cell::new(when(e, wide)),
            Cell::new(&r.swarm),
            Cell::new(format!("{}/{}", r.worker, r.cycle)),
            Cell::new(r.outcome.as_str()).styled(outcome_style(r.outcome)),
            tasks_cell(&r.tasks),
            Cell::new(r.turns.to_string()),
            Cell::new(human_duration(r.duration_ms)),
            Cell::new(
                r.landed
                    .as_deref()
                    .or(r.tip.as_deref())
                    .map(|c| c.chars().take(commit_len).collect::<String>())
                    .unwrap_or_default(),
            ),
        ]);
    }
    ui.out_table(&table, wide)
}

/// How long ago the cycle ended (`--wide`: the time in UTC); the stored text when it does
/// not parse.
fn when(e: &Dated, wide: bool) -> String {
    match e.ended {
        Some(ts) if wide => ts.strftime("%Y-%m-%d %H:%M:%S").to_string(),
        Some(ts) => ui::ago(ts, Timestamp::now()),
        None => e.record().ended.clone(),
    }
}

/// `a,b,c`, with shorter forms for a narrow column: the tasks that fit and `+N` for the
/// rest (`a,b +1`, `a +2`, `+3`).
fn tasks_cell(tasks: &[String]) -> Cell {
    let mut cell = Cell::new(tasks.join(","));
    for shown in (0..tasks.len()).rev() {
        let rest = tasks.len() - shown;
        let head = tasks[..shown].join(",");
        cell = cell.or_shorter(if head.is_empty() {
            format!("+{rest}")
        } else {
            format!("{head} +{rest}")
        });
    }
    cell
}

/// `--show [SWARM/]WORKER/CYCLE`: every field of one cycle. When several swarms recorded
/// that worker and cycle, the newest is shown and the others are named.
fn show(env: &Env, entries: &[Dated], spec: &Spec<'_>, args: &Args) -> Result<(), CommandError> {
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
struct Spec<'a> {
    text: &'a str,
    swarm: Option<&'a str>,
    worker: &'a str,
    cycle: u32,
}

impl<'a> Spec<'a> {
    fn parse(text: &'a str) -> Result<Self, CommandError> {
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
    let width = ui.table_width(wide);
    let mut s = String::new();
    let title = format!(
        "cycle {}/{}/{}",
        ui::escape(&r.swarm),
        ui::escape(&r.worker),
        r.cycle
    );
    let _ = writeln!(
        s,
        "{}  {}",
        ui.paint(BOLD, title),
        ui.paint(outcome_style(r.outcome), r.outcome)
    );
    const LABEL: usize = 12;
    let mut field = |label: &str, value: &str| {
        for (i, line) in ui::escape_lines(value).lines().enumerate() {
            let label = if i == 0 { label } else { "" };
            let _ = writeln!(s, "{label:<LABEL$}{}", ui::wrap(line, width, LABEL));
        }
    };
    field("commit", &e.entry.commit.to_string());
    if !r.model.is_empty() {
        field("model", &r.model);
    }
    if !r.tasks.is_empty() {
        field("tasks", &r.tasks.join(", "));
    }
    field("started", &ui::when_long(&r.started));
    field("ended", &ui::when_long(&r.ended));
    field(
        "duration",
        &format!(
            "{} (agent {})",
            human_duration(r.duration_ms),
            human_duration(r.agent_ms)
        ),
    );
    field("turns", &r.turns.to_string());
    if let Some(ms) = r.queue_ms {
        field(
            "queued",
            &format!("{} (approved → landed)", human_duration(ms)),
        );
    }
    if !r.sessions.is_empty() {
        field("sessions", &r.sessions.join(", "));
    }
    if let Some(tokens) = tokens_text(r) {
        field("tokens", &tokens);
    }
    field("base", &r.base);
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
            field(label, v);
        }
    }
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
        field("turn times", &text.join(", "));
    }
    for did in &r.agent_did {
        match &did.kept {
            Some(k) => field("agent did", &format!("{} (kept as {k})", did.what)),
            None => field("agent did", &did.what),
        }
    }
    for (key, value) in r.extra.iter().filter(|(k, _)| k.as_str() != SPANS_KEY) {
        field(&ui::escape(key), &value.to_string());
    }
    for p in &r.pauses {
        let reason = ui::escape(&p.reason);
        field("paused", &format!("{} → {}: {reason}", p.started, p.ended));
    }
    if !r.conflicts.is_empty() {
        let _ = writeln!(s, "conflicts");
        for path in &r.conflicts {
            let _ = writeln!(s, "    {}", ui::escape(path));
        }
    }
    if !r.review.is_empty() {
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
    if !r.gate.is_empty() {
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
    s.truncate(s.trim_end().len());
    s
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
    fn durations_read_like_a_person_would_write_them() {
        assert_eq!(human_duration(850), "850ms");
        assert_eq!(human_duration(42_000), "42s");
        assert_eq!(human_duration(185_000), "3m05s");
        assert_eq!(human_duration(7_620_000), "2h07m");
    }

    #[test]
    fn since_accepts_durations_dates_and_times() {
        let now = Timestamp::now();
        let two_h = parse_since("2h").expect("test fixture");
        let diff = now.duration_since(two_h).as_secs();
        assert!((7_199..=7_201).contains(&diff), "{diff}");
        let mixed = parse_since("1h30m").expect("test fixture");
        assert!((5_399..=5_401).contains(&now.duration_since(mixed).as_secs()));
        assert!(parse_since("3d").is_ok() && parse_since("1w").is_ok());
        assert_eq!(
            parse_since("2026-01-31").expect("test fixture"),
            "2026-01-31T00:00:00Z"
                .parse::<Timestamp>()
                .expect("test fixture")
        );
        assert_eq!(
            parse_since("2026-01-31T12:00:00+02:00").expect("test fixture"),
            "2026-01-31T10:00:00Z"
                .parse::<Timestamp>()
                .expect("test fixture")
        );
        for bad in ["", "2x", "h", "yesterday", "2026-13-01", "5m3"] {
            let err = parse_since(bad).unwrap_err();
            assert!(err.contains("neither a duration"), "{bad}: {err}");
        }
    }

    #[test]
    fn task_lists_have_shorter_forms_with_a_count_of_the_rest() {
        let t = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let many = t(&["task-001", "task-002", "task-003", "task-004", "task-005"]);
        let mut table = ui::table(&["TASKS"]);
        table.add_row([tasks_cell(&many)]).shrink(0, 3);
        let row = |w| {
            table
                .render(Some(w), false)
                .lines()
                .nth(1)
                .map(str::to_string)
        };
        assert_eq!(
            row(100).as_deref(),
            Some("task-001,task-002,task-003,task-004,task-005")
        );
        assert_eq!(row(30).as_deref(), Some("task-001,task-002,task-003 +2"));
        assert_eq!(row(12).as_deref(), Some("task-001 +4"));
        assert_eq!(row(4).as_deref(), Some("+5"));
    }

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
