//! `git oompa log` over a large cycle log, against plain git reading the same notes.
//!
//! The repository (one commit per cycle, one record per commit, written with `Notes::append`
//! in batches of 1,000, then packed the way `git gc` would) takes a while to build, so it is
//! kept under the cache directory and reused by later runs.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oompa::git::{ObjectId, Repo};
use oompa::store::notes::Notes;
use oompa::store::record::{CycleRecord, Outcome, RECORD_VERSION, Tokens};

use crate::fixture::{Bench, git};

/// Bump when the generated data changes shape, so stale caches are not reused.
const LAYOUT: u32 = 1;
const BATCH: usize = 1_000;

/// The repository with `n` records, built if the cache does not have it yet.
pub fn repo(bench: &Bench, n: usize) -> PathBuf {
    let dir = bench.cache.join(format!("log-{n}-v{LAYOUT}"));
    let done = dir.join(".git").join("oompa-bench-complete");
    if done.is_file() {
        return dir;
    }
    eprintln!(
        "  building a log of {n} cycle records in {} (cached for later runs)…",
        dir.display()
    );
    let start = Instant::now();
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    git(&dir, &["init", "-q", "-b", "main"]);
    for (k, v) in [
        ("user.name", "Bench"),
        ("user.email", "bench@example.invalid"),
        ("gc.auto", "0"),
    ] {
        git(&dir, &["config", k, v]);
    }
    let commits = commit_chain(&dir, n);
    let repo = Repo::discover(&dir).expect("open");
    let notes = Notes::new(&repo);
    let records: Vec<CycleRecord> = commits
        .iter()
        .enumerate()
        .map(|(i, c)| record(i, *c, commits[i.saturating_sub(1)]))
        .collect();
    for batch in records.chunks(BATCH) {
        notes.append(batch).expect("appending records");
    }
    git(&dir, &["repack", "-adq"]);
    git(&dir, &["prune-packed"]);
    git(&dir, &["checkout", "-q", "main"]);
    std::fs::write(&done, "").expect("marker");
    eprintln!("  built in {:.1}s", start.elapsed().as_secs_f64());
    dir
}

/// `n` commits on main written by `git fast-import`; their ids, oldest first.
fn commit_chain(dir: &Path, n: usize) -> Vec<ObjectId> {
    let marks = dir.join(".git").join("bench-marks");
    let mut child = Command::new("git")
        .current_dir(dir)
        .args(["fast-import", "--quiet"])
        .arg(format!("--export-marks={}", marks.display()))
        .stdin(Stdio::piped())
        .spawn()
        .expect("git fast-import");
    {
        let mut input = std::io::BufWriter::new(child.stdin.take().expect("piped"));
        for i in 1..=n {
            let msg = format!("Land t{i}: benchmark change {i}\n");
            write!(
                input,
                "commit refs/heads/main\nmark :{i}\ncommitter Bench <bench@example.invalid> {} +0000\ndata {}\n{msg}",
                1_767_225_600 + i,
                msg.len()
            )
            .expect("fast-import input");
            if i == 1 {
                input
                    .write_all(b"M 644 inline README.md\ndata 20\n# benchmark project\n")
                    .expect("fast-import input");
            }
            input.write_all(b"\n").expect("fast-import input");
        }
    }
    assert!(child.wait().expect("fast-import").success(), "fast-import");
    let text = std::fs::read_to_string(&marks).expect("marks");
    let mut ids = vec![None; n];
    for line in text.lines() {
        let (mark, id) = line.split_once(' ').expect("mark line");
        let i: usize = mark.trim_start_matches(':').parse().expect("mark");
        ids[i - 1] = Some(ObjectId::from_hex(id.as_bytes()).expect("id"));
    }
    ids.into_iter().map(|i| i.expect("every mark")).collect()
}

/// A plausible record for cycle `i`: mostly merged, some other outcomes, 16 workers, a new
/// swarm every 1,000 cycles.
fn record(i: usize, commit: ObjectId, base: ObjectId) -> CycleRecord {
    let outcome = match i % 10 {
        0 => Outcome::NoChanges,
        1 => Outcome::Error,
        2 => Outcome::Conflict,
        _ => Outcome::Merged,
    };
    let t = 1_767_225_600 + i as i64 * 60;
    let ts = |s: i64| jiff::Timestamp::from_second(s).expect("time").to_string();
    let merged = outcome == Outcome::Merged;
    CycleRecord {
        version: RECORD_VERSION,
        swarm: format!("{:08x}", 0x5eed_0000 + i / 1_000),
        worker: format!("w{}", i % 16),
        cycle: u32::try_from(i / 16 % 1_000 + 1).expect("small"),
        outcome,
        model: "claude:sonnet".into(),
        tasks: vec![format!("task-{i}")],
        turns: 3,
        sessions: vec![format!("{:08x}-0000-4000-8000-{:012x}", i, i)],
        started: ts(t - 45),
        ended: ts(t),
        duration_ms: 45_000,
        agent_ms: 44_000,
        tokens: Tokens {
            input: Some(12_000),
            output: Some(800),
            cost_usd: Some(0.05),
        },
        landed: merged.then(|| commit.to_string()),
        tip: (!merged).then(|| commit.to_string()),
        base: base.to_string(),
        kept: None,
        agent_did: Vec::new(),
        review: Vec::new(),
        conflicts: if outcome == Outcome::Conflict {
            vec!["src/lib.rs".into()]
        } else {
            Vec::new()
        },
        conflict_predicted: None,
        gate: Vec::new(),
        queue_ms: None,
        pauses: Vec::new(),
        error: (outcome == Outcome::Error).then(|| "agent exited with status 1".into()),
        transcript: Some(format!(
            "/repo/.git/oompa/transcripts/{:08x}/w{}/cycle-{}.log",
            0x5eed_0000 + i / 1_000,
            i % 16,
            i / 16 % 1_000 + 1
        )),
        extra: Default::default(),
    }
}

/// Best wall time of `runs` runs of `cmd` (stdout read and counted, as a pager would), and
/// the number of output lines starting with `{` (one per record).
pub fn time(mut cmd: impl FnMut() -> Command, runs: usize) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut records = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let mut child = cmd()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let mut out = Vec::new();
        child
            .stdout
            .take()
            .expect("piped")
            .read_to_end(&mut out)
            .expect("read");
        assert!(child.wait().expect("wait").success(), "command failed");
        best = best.min(start.elapsed());
        records = out
            .split(|&b| b == b'\n')
            .filter(|l| l.first() == Some(&b'{'))
            .count();
    }
    (best, records)
}

/// `git-oompa log` (table), `git-oompa log --json`, `git log --notes`, and
/// `git notes list | git cat-file --batch`, each the best of `runs`.
pub struct LogTimes {
    pub table: Duration,
    pub table_rows: usize,
    pub json: Duration,
    pub git_log: Duration,
    pub cat_file: Duration,
}

pub fn run(bench: &Bench, n: usize, runs: usize) -> LogTimes {
    let dir = repo(bench, n);
    let (table, _) = time(|| bench.oompa(&dir, &["log"]), runs);
    let rows = {
        let out = bench.oompa(&dir, &["log"]).output().expect("log");
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    let (json, json_records) = time(|| bench.oompa(&dir, &["log", "--json"]), runs);
    assert_eq!(
        json_records, n,
        "git oompa log --json printed {json_records} records"
    );
    let (git_log, log_records) = time(
        || {
            let mut c = Command::new("git");
            c.current_dir(&dir)
                .args(["log", "--notes=oompa", "--format=%N", "main"]);
            c
        },
        runs,
    );
    assert_eq!(
        log_records, n,
        "git log --notes printed {log_records} records"
    );
    let (cat_file, cat_records) = time(
        || {
            let mut c = Command::new("sh");
            c.current_dir(&dir).args([
                "-c",
                "git notes --ref=oompa list | cut -d' ' -f1 | git cat-file --batch",
            ]);
            c
        },
        runs,
    );
    assert_eq!(
        cat_records, n,
        "git cat-file --batch printed {cat_records} records"
    );
    LogTimes {
        table,
        table_rows: rows,
        json,
        git_log,
        cat_file,
    }
}
