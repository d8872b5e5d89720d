//! `git oompa log`: the cycle history kept in `refs/notes/oompa`, newest first, as a table,
//! as JSON lines, or one cycle in full (`--show`).
//!
//! Reads through [`crate::store::notes`] and only formats; it never writes to the log.

use std::cmp::Ordering;

use jiff::{SignedDuration, Timestamp};

use crate::cli::ui::{self, DIM, JsonArray, Ui};
use crate::cli::{CommandError, Env};
use crate::store::notes::{LogEntry, NOTES_REF, Notes};
use crate::store::record::{CycleRecord, Outcome};

mod show;
mod swarms;
mod table;
use show::{Spec, show};
use table::print_table;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::ui::human_duration;

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
}
