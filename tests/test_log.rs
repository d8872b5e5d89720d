//! `git oompa log` and the cycle notes behind it: records written through the library, read
//! back by the real binary and by plain git.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use oompa::store::notes::{NOTES_REF, Notes};
use oompa::store::record::{CycleRecord, Outcome, ReviewRound, Tokens};

use crate::common::{TestEnv, race_process, stderr, stdout};

/// A commit on `main` to attach notes to (hermetic dates, so the ids are stable).
fn commit(env: &TestEnv, name: &str) -> String {
    env.git(&["commit", "-q", "--allow-empty", "-m", name]);
    env.git(&["rev-parse", "HEAD"]).trim().to_string()
}

fn rec(
    swarm: &str,
    worker: &str,
    cycle: u32,
    outcome: Outcome,
    ended: &str,
    target: &str,
) -> CycleRecord {
    CycleRecord {
        model: "exec:fake-agent".into(),
        turns: 1,
        started: "2026-01-01T00:00:00Z".into(),
        ended: ended.into(),
        duration_ms: 42_000,
        agent_ms: 40_000,
        landed: (outcome == Outcome::Merged).then(|| target.to_string()),
        tip: (outcome != Outcome::Merged).then(|| target.to_string()),
        ..CycleRecord::new(swarm, worker, cycle, outcome, target)
    }
}

fn append(env: &TestEnv, records: &[CycleRecord]) {
    let repo = env.open();
    Notes::new(&repo).append(records).expect("append");
}

/// Replaces every full and 8-hex commit id of `ids` by `C1…`, keeping the width.
fn normalise(text: &str, ids: &[&str]) -> String {
    let mut out = text.to_string();
    for (i, id) in ids.iter().enumerate() {
        out = out.replace(*id, &format!("<{:-<38}>", format!("C{}", i + 1)));
        out = out.replace(&id[..8], &format!("C{:-<7}", i + 1));
    }
    out
}

/// Four cycles of two swarms, written in an order unlike the one shown.
fn sample(env: &TestEnv) -> (Vec<CycleRecord>, [String; 3]) {
    let (c1, c2, c3) = (commit(env, "one"), commit(env, "two"), commit(env, "three"));
    let mut merged = rec(
        "ab12cd34",
        "w0",
        1,
        Outcome::Merged,
        "2026-01-01T10:00:00Z",
        &c1,
    );
    merged.tasks = vec!["fix-login".into()];
    merged.turns = 3;
    let mut error = rec(
        "ab12cd34",
        "w1",
        1,
        Outcome::Error,
        "2026-01-01T12:30:05+02:00",
        &c2,
    );
    error.duration_ms = 185_000;
    error.error = Some("agent exited with status 1".into());
    let mut conflict = rec(
        "ef56ab78",
        "w0",
        7,
        Outcome::Conflict,
        "2026-01-02T00:00:00Z",
        &c3,
    );
    conflict.tasks = (1..=6).map(|i| format!("task-{i:03}")).collect();
    conflict.duration_ms = 7_620_000;
    conflict.conflicts = vec!["src/lib.rs".into()];
    let mut done = rec(
        "ab12cd34",
        "w0",
        2,
        Outcome::Done,
        "2026-01-01T10:00:00Z",
        &c1,
    );
    done.landed = None;
    done.tip = None;
    done.duration_ms = 850;
    let records = vec![merged, error, conflict, done];
    append(env, &records[..2]);
    append(env, &records[2..]);
    (records, [c1, c2, c3])
}

#[test]
fn the_table_lists_cycles_newest_first_with_every_column() {
    let env = TestEnv::new();
    let (_, [c1, c2, c3]) = sample(&env);
    let out = env.oompa(&["log"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // After the table, one line of totals per swarm, on stderr.
    let err = stderr(&out);
    let totals: Vec<&str> = err.lines().collect();
    assert_eq!(totals.len(), 2, "{err}");
    assert!(
        totals[0].starts_with("swarm ab12cd34: 3 cycles, 1 merged, 1 failed"),
        "{err}"
    );
    assert!(
        totals[1].starts_with("swarm ef56ab78: 1 cycle, 0 merged, 1 failed"),
        "{err}"
    );
    let table = normalise(&stdout(&out), &[&c1, &c2, &c3]);
    // Ties on `ended` go by swarm, worker, then the later cycle first. Cycles older than
    // two weeks show their date (UTC); piped, nothing is cut.
    insta::assert_snapshot!(table, @r"
    WHEN        SWARM     CYCLE  OUTCOME   TASKS                                                  TURNS  TIME   COMMIT
    2026-01-02  ef56ab78  w0/7   conflict  task-001,task-002,task-003,task-004,task-005,task-006      1  2h07m  C3------
    2026-01-01  ab12cd34  w1/1   error                                                                1  3m05s  C2------
    2026-01-01  ab12cd34  w0/2   done                                                                 1  850ms
    2026-01-01  ab12cd34  w0/1   merged    fix-login                                                  3  42s    C1------
    ");
    // --wide: full times (UTC) and commit ids.
    let wide = stdout(&env.oompa(&["log", "--wide"]));
    let first = wide.lines().nth(1).unwrap();
    assert!(
        first.starts_with("2026-01-02 00:00:00  ef56ab78  w0/7") && first.ends_with(&c3),
        "{wide}"
    );
}

#[test]
fn the_log_table_fits_80_columns() {
    let env = TestEnv::new();
    let (_, [c1, c2, c3]) = sample(&env);
    let out = env
        .oompa_cmd(&["log"])
        .env("COLUMNS", "80")
        .output()
        .unwrap();
    let table = normalise(&stdout(&out), &[&c1, &c2, &c3]);
    for line in table.lines() {
        assert!(
            line.chars().count() <= 80,
            "{} columns: {line}",
            line.chars().count()
        );
    }
    // The task list gives up width first, keeping a count of what it left out.
    insta::assert_snapshot!(table, @r"
    WHEN        SWARM     CYCLE  OUTCOME   TASKS        TURNS  TIME   COMMIT
    2026-01-02  ef56ab78  w0/7   conflict  task-001 +5      1  2h07m  C3------
    2026-01-01  ab12cd34  w1/1   error                      1  3m05s  C2------
    2026-01-01  ab12cd34  w0/2   done                       1  850ms
    2026-01-01  ab12cd34  w0/1   merged    fix-login        3  42s    C1------
    ");
}

#[test]
fn recent_cycles_say_how_long_ago_they_ended() {
    let env = TestEnv::new();
    let c1 = commit(&env, "one");
    let now = jiff::Timestamp::now();
    let ago = |mins: i64| {
        now.checked_sub(jiff::SignedDuration::from_mins(mins))
            .unwrap()
            .to_string()
    };
    append(
        &env,
        &[
            rec("ab12cd34", "w0", 1, Outcome::Merged, &ago(3), &c1),
            rec("ab12cd34", "w0", 2, Outcome::Done, &ago(0), &c1),
            rec("ab12cd34", "w1", 1, Outcome::Done, &ago(125), &c1),
        ],
    );
    let table = env.oompa_ok(&["log"]);
    let when: Vec<&str> = table
        .lines()
        .skip(1)
        .map(|l| l.split("  ").next().unwrap())
        .collect();
    assert_eq!(when, ["just now", "3 min ago", "2 hours ago"], "{table}");
}

#[test]
fn colour_marks_the_outcome_on_a_terminal_and_never_in_json() {
    let env = TestEnv::new();
    sample(&env);
    let table = env.oompa_ok(&["log", "--color", "always"]);
    assert!(table.contains("\u{1b}[32mmerged\u{1b}[0m"), "{table:?}");
    assert!(table.contains("\u{1b}[31merror\u{1b}[0m"), "{table:?}");
    assert!(table.contains("\u{1b}[33mdone\u{1b}[0m"), "{table:?}");
    // Colour does not shift the columns: strip it and the plain table remains.
    let plain = env.oompa_ok(&["log"]);
    let stripped = table
        .replace("\u{1b}[32m", "")
        .replace("\u{1b}[31m", "")
        .replace("\u{1b}[33m", "")
        .replace("\u{1b}[0m", "");
    assert_eq!(stripped, plain);
    let json = env.oompa_ok(&["log", "--json", "--color", "always"]);
    assert!(!json.contains('\u{1b}'), "{json:?}");
}

/// The records of `log --json`: one JSON array.
fn json_array(out: &str) -> Vec<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(out).expect("one JSON value");
    v.as_array().expect("an array").clone()
}

fn cycles(out: &str) -> Vec<String> {
    json_array(out)
        .into_iter()
        .map(|v| {
            format!(
                "{}/{}/{}",
                v["swarm"].as_str().unwrap(),
                v["worker"].as_str().unwrap(),
                v["cycle"]
            )
        })
        .collect()
}

#[test]
fn every_filter_and_the_count_limit() {
    let env = TestEnv::new();
    let (_, [c1, ..]) = sample(&env);
    // Two recent cycles, relative to the real clock, for --since.
    let now = jiff::Timestamp::now();
    let hour_ago = now
        .checked_sub(jiff::SignedDuration::from_hours(1))
        .unwrap()
        .to_string();
    let days_ago = now
        .checked_sub(jiff::SignedDuration::from_hours(72))
        .unwrap()
        .to_string();
    let mut recent = rec("99990000", "w3", 1, Outcome::Stuck, &hour_ago, &c1);
    recent.tasks = vec!["fix-login".into(), "other".into()];
    append(
        &env,
        &[
            recent,
            rec("99990000", "w3", 0, Outcome::Rejected, &days_ago, &c1),
        ],
    );

    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec![],
            vec![
                "99990000/w3/1",
                "99990000/w3/0",
                "ef56ab78/w0/7",
                "ab12cd34/w1/1",
                "ab12cd34/w0/2",
                "ab12cd34/w0/1",
            ],
        ),
        (
            vec!["--swarm", "ab12cd34"],
            vec!["ab12cd34/w1/1", "ab12cd34/w0/2", "ab12cd34/w0/1"],
        ),
        (vec!["--swarm", "ef5"], vec!["ef56ab78/w0/7"]),
        (
            vec!["--worker", "w0"],
            vec!["ef56ab78/w0/7", "ab12cd34/w0/2", "ab12cd34/w0/1"],
        ),
        (
            vec!["--worker", "w0", "--swarm", "ab12"],
            vec!["ab12cd34/w0/2", "ab12cd34/w0/1"],
        ),
        (
            vec!["--task", "fix-login"],
            vec!["99990000/w3/1", "ab12cd34/w0/1"],
        ),
        (vec!["--task", "task-004"], vec!["ef56ab78/w0/7"]),
        (vec!["--outcome", "merged"], vec!["ab12cd34/w0/1"]),
        (
            vec!["--outcome", "error", "--outcome", "conflict"],
            vec!["ef56ab78/w0/7", "ab12cd34/w1/1"],
        ),
        (vec!["--since", "2h"], vec!["99990000/w3/1"]),
        (vec!["--since", "90m"], vec!["99990000/w3/1"]),
        (
            vec!["--since", "4d"],
            vec!["99990000/w3/1", "99990000/w3/0"],
        ),
        (
            vec!["--since", "2026-01-02"],
            vec!["99990000/w3/1", "99990000/w3/0", "ef56ab78/w0/7"],
        ),
        (
            vec!["--since", "2026-01-01T10:15:00Z"],
            vec![
                "99990000/w3/1",
                "99990000/w3/0",
                "ef56ab78/w0/7",
                "ab12cd34/w1/1",
            ],
        ),
        (vec!["-n", "2"], vec!["99990000/w3/1", "99990000/w3/0"]),
        (
            vec!["--max-count", "1", "--worker", "w0"],
            vec!["ef56ab78/w0/7"],
        ),
    ];
    for (filter, want) in cases {
        let mut args = vec!["log", "--json"];
        args.extend(&filter);
        assert_eq!(cycles(&env.oompa_ok(&args)), want, "{filter:?}");
        // The table shows the same cycles.
        let mut args = vec!["log"];
        args.extend(&filter);
        let table = env.oompa_ok(&args);
        assert_eq!(
            table.lines().count(),
            want.len() + 1,
            "{filter:?}:\n{table}"
        );
    }
    let out = env.oompa(&["log", "--worker", "nobody"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("no cycles match"), "{}", stderr(&out));
}

#[test]
fn json_parses_back_to_the_same_records() {
    let env = TestEnv::new();
    let (mut records, [c1, c2, c3]) = sample(&env);
    records[0]
        .extra
        .insert("future_field".into(), serde_json::json!({"kept": true}));
    append(&env, &records[..1]);
    let out = env.oompa_ok(&["log", "--json"]);
    let mut seen = Vec::new();
    for mut v in json_array(&out) {
        let commit = v.as_object_mut().unwrap().remove("commit").unwrap();
        let record: CycleRecord = serde_json::from_value(v).unwrap();
        assert_eq!(commit.as_str().unwrap(), record.note_target());
        seen.push(record);
    }
    assert_eq!(seen.len(), 5);
    for r in &records {
        assert!(seen.contains(r), "missing {r:?}");
    }
    // The annotated commit is the record's note target.
    let targets: Vec<String> = json_array(&out)
        .iter()
        .map(|v| v["commit"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(targets, vec![c3, c2, c1.clone(), c1.clone(), c1]);
}

#[test]
fn show_prints_one_cycle_in_full_with_its_review_rounds() {
    let env = TestEnv::new();
    let (_, [c1, _, c3]) = sample(&env);
    let mut r = rec(
        "ab12cd34",
        "w2",
        3,
        Outcome::Rejected,
        "2026-01-03T08:00:00Z",
        &c3,
    );
    r.tasks = vec!["a".into(), "b".into()];
    r.turns = 6;
    r.sessions = vec!["sess-1".into()];
    r.tokens = Tokens {
        input: Some(1200),
        output: Some(300),
        cost_usd: Some(0.0123),
    };
    r.kept = Some("refs/oompa/keep/ab12cd34/w2/3".into());
    r.transcript = Some(".oompa/transcripts/ab12cd34/w2-3.log".into());
    r.error = Some("reviewer did not approve".into());
    r.conflicts = vec!["src/a.rs".into(), "src/b.rs".into()];
    r.review = vec![
        ReviewRound {
            round: 1,
            reviewer: "claude:opus".into(),
            verdict: "needs-changes".into(),
            findings: "1. The test is missing.\n2. Typo in the docs.".into(),
            parsed: true,
        },
        ReviewRound {
            round: 2,
            reviewer: "claude:opus".into(),
            verdict: "needs-changes".into(),
            findings: String::new(),
            parsed: false,
        },
    ];
    append(&env, &[r]);
    let out = env.oompa_ok(&["log", "--show", "w2/3"]);
    let text = normalise(&out, &[&c1, &c3]);
    insta::assert_snapshot!(text, @r"
    cycle ab12cd34/w2/3  rejected
    commit      <C2------------------------------------>
    model       exec:fake-agent
    tasks       a, b
    started     2026-01-01 00:00:00 UTC
    ended       2026-01-03 08:00:00 UTC
    duration    42s (agent 40s)
    turns       6
    sessions    sess-1
    tokens      1200 in, 300 out, $0.0123
    base        <C2------------------------------------>
    tip         <C2------------------------------------>
    kept        refs/oompa/keep/ab12cd34/w2/3
    transcript  .oompa/transcripts/ab12cd34/w2-3.log
    error       reviewer did not approve
    conflicts
        src/a.rs
        src/b.rs
    review
      round 1  reviewer claude:opus  verdict needs-changes
          1. The test is missing.
          2. Typo in the docs.
      round 2  reviewer claude:opus  verdict needs-changes (no verdict line)
    ");
    assert_eq!(env.oompa_ok(&["log", "--show", "ab12cd34/w2/3"]), out);
    assert_eq!(
        env.oompa_ok(&["log", "--show", "ab/w2/3"]),
        out,
        "a swarm prefix is enough"
    );
    let json: serde_json::Value =
        serde_json::from_str(&env.oompa_ok(&["log", "--show", "w2/3", "--json"])).unwrap();
    assert_eq!(
        json["review"][0]["findings"],
        "1. The test is missing.\n2. Typo in the docs."
    );
    assert_eq!(json["commit"], c3.as_str());

    let out = env.oompa(&["log", "--show", "w9/1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error: no cycle w9/1 in refs/notes/oompa"),
        "{}",
        stderr(&out)
    );
    let out = env.oompa(&["log", "--show", "w0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("expected [SWARM/]WORKER/CYCLE"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn log_show_of_a_cycle_recorded_by_several_swarms_takes_the_newest_and_says_which() {
    let env = TestEnv::new();
    let (_, [c1, ..]) = sample(&env);
    // w0/1 exists in two swarms once this is added: ab12cd34 (older) and ef56ab78 (newer).
    append(
        &env,
        &[rec(
            "ef56ab78",
            "w0",
            1,
            Outcome::Done,
            "2026-01-04T00:00:00Z",
            &c1,
        )],
    );
    let out = env.oompa(&["log", "--show", "w0/1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("cycle ef56ab78/w0/1  done"),
        "{}",
        stdout(&out)
    );
    let err = stderr(&out);
    assert!(
        err.starts_with(
            "cycle w0/1 was recorded by 2 swarms; showing the newest, swarm ef56ab78's \
             (also: ab12cd34)"
        ),
        "{err}"
    );
    assert!(
        err.contains("hint: name the swarm to see another: `git oompa log --show ab12cd34/w0/1`"),
        "{err}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&env.oompa_ok(&["log", "--show", "w0/1", "--json"])).unwrap();
    assert_eq!(json["swarm"], "ef56ab78");
    assert!(
        env.oompa_ok(&["log", "--show", "ab12cd34/w0/1"])
            .starts_with("cycle ab12cd34/w0/1  merged")
    );
    let out = env.oompa(&["log", "--show", "w0/1", "--swarm", "ab"]);
    assert!(stdout(&out).starts_with("cycle ab12cd34/w0/1"));
    assert_eq!(stderr(&out), "", "one swarm matches: nothing to say");
}

#[test]
fn bad_options_are_usage_errors_naming_what_is_valid() {
    let env = TestEnv::new();
    sample(&env);
    let out = env.oompa(&["log", "--outcome", "exploded"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("invalid value 'exploded' for '--outcome <OUTCOME>'"),
        "{err}"
    );
    assert!(
        err.contains(
            "[possible values: merged, no-changes, done, stuck, error, conflict, rejected, interrupted, gate-failed]"
        ),
        "{err}"
    );
    let out = env.oompa(&["log", "--since", "yesterday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`yesterday` is neither a duration (90m, 2h, 3d, 1w) nor a date"),
        "{}",
        stderr(&out)
    );
    let out = env.oompa(&["log", "-n", "many"]);
    assert_eq!(out.status.code(), Some(2));
    let out = env.oompa(&["log", "--show", "w0/1", "--worker", "w0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot be used with"),
        "{}",
        stderr(&out)
    );
    assert!(!err.contains("panicked"));
}

#[test]
fn no_notes_is_a_quiet_empty_log() {
    let env = TestEnv::new();
    let out = env.oompa(&["log"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out), "no cycles recorded yet\n");
    // JSON is still one array, for scripts.
    let out = env.oompa(&["log", "--json"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), "[]\n");
    assert_eq!(stderr(&out), "");
    let out = env.oompa(&["log", "--show", "w0/1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error: no cycle w0/1"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.oompa(&["log", "--show", "w0"]).status.code(), Some(2));
}

#[test]
fn a_corrupt_line_is_a_warning_and_the_rest_still_shows() {
    let env = TestEnv::new();
    let (_, [c1, c2, _]) = sample(&env);
    env.git(&[
        "notes",
        "--ref=oompa",
        "append",
        "-m",
        "{\"swarm\": \"truncated",
        &c2,
    ]);
    env.git(&[
        "notes",
        "--ref=oompa",
        "append",
        "-m",
        "a human wrote this",
        &c1,
    ]);
    append(
        &env,
        &[rec(
            "ab12cd34",
            "w1",
            2,
            Outcome::Merged,
            "2026-01-05T00:00:00Z",
            &c2,
        )],
    );
    let out = env.oompa(&["log", "--json"]);
    assert!(out.status.success());
    assert_eq!(cycles(&stdout(&out)).len(), 5);
    let err = stderr(&out);
    let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), 2, "{err}");
    // Notes on c1 hold merged, done, a blank separator line, then the hand-written one.
    assert!(
        err.contains(&format!(
            "warning: line 4 of the note on {c1} is not a cycle record"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "warning: line 3 of the note on {c2} is not a cycle record: EOF"
        )),
        "{err}"
    );
    assert!(
        err.contains("hint: see them with `git notes --ref=oompa show <commit>`"),
        "{err}"
    );
    // Our later append kept git's lines and went after them.
    let note = env.git(&["notes", "--ref=oompa", "show", &c2]);
    let lines: Vec<&str> = note.lines().collect();
    assert_eq!(lines.len(), 4, "{note}");
    assert_eq!(lines[2], "{\"swarm\": \"truncated");
    let last: CycleRecord = serde_json::from_str(lines[3]).unwrap();
    assert_eq!((last.worker.as_str(), last.cycle), ("w1", 2));
}

#[test]
fn plain_git_reads_the_notes() {
    let env = TestEnv::new();
    let (records, [c1, c2, c3]) = sample(&env);
    let shown = env.git(&["notes", "--ref=oompa", "show", &c1]);
    assert_eq!(
        shown,
        format!("{}\n{}\n", records[0].to_line(), records[3].to_line())
    );
    let log = env.git(&["log", "--notes=oompa", "--format=%s%n%N"]);
    assert!(
        log.starts_with(&format!("three\n{}\n", records[2].to_line())),
        "{log}"
    );
    assert!(
        log.contains(&format!("two\n{}\n", records[1].to_line())),
        "{log}"
    );
    let listed = env.git(&["notes", "--ref=oompa", "list"]);
    assert_eq!(listed.lines().count(), 3);
    for c in [&c1, &c2, &c3] {
        assert!(listed.contains(c.as_str()), "{listed}");
    }
    let history = env.git(&["log", "--format=%s", NOTES_REF]);
    assert_eq!(
        history,
        "oompa: record 2 cycles\noompa: record 2 cycles\noompa: start the cycle log\n"
    );
    let reflog = env.git(&["reflog", "show", "--format=%gs", NOTES_REF]);
    assert_eq!(reflog.lines().next(), Some("oompa: record 2 cycles"));
    env.assert_fsck_clean();
}

/// When run as a child of [`appends_race_across_threads_and_processes`]: says it is ready,
/// then appends from two library threads of this separate process once the parent says go.
#[test]
#[ignore = "helper process for the notes race"]
fn notes_race_child() {
    let Ok(repo) = std::env::var("OOMPA_NOTES_RACE_REPO") else {
        return;
    };
    let prefix = std::env::var("OOMPA_NOTES_RACE_PREFIX").unwrap();
    let go = std::path::PathBuf::from(std::env::var("OOMPA_NOTES_RACE_GO").unwrap());
    let targets: Vec<String> = std::env::var("OOMPA_NOTES_RACE_TARGETS")
        .unwrap()
        .split(',')
        .map(String::from)
        .collect();
    std::fs::write(go.with_extension(&prefix), "").unwrap();
    while !go.exists() {
        std::thread::sleep(Duration::from_millis(1));
    }
    race_appends(std::path::Path::new(&repo), &prefix, 2, &targets);
}

const APPENDS_PER_THREAD: u32 = 25;

/// `threads` threads, each appending [`APPENDS_PER_THREAD`] single records.
fn race_appends(repo: &std::path::Path, prefix: &str, threads: usize, targets: &[String]) {
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                let r = oompa::git::Repo::discover(repo).unwrap();
                let notes = Notes::new(&r);
                for i in 0..APPENDS_PER_THREAD {
                    let target = &targets[(t + i as usize) % targets.len()];
                    let record = rec(
                        "race",
                        &format!("{prefix}-{t}"),
                        i,
                        Outcome::Merged,
                        "2026-01-01T00:00:00Z",
                        target,
                    );
                    notes.append(&[record]).unwrap();
                }
            });
        }
    });
}

#[test]
fn appends_race_across_threads_and_processes() {
    let env = TestEnv::new();
    let targets: Vec<String> = (0..5).map(|i| commit(&env, &format!("c{i}"))).collect();
    let go = env.tmp.path().join("go");
    let children: Vec<_> = (0..2)
        .map(|p| {
            race_process("test_log::notes_race_child")
                .env("OOMPA_NOTES_RACE_REPO", &env.repo)
                .env("OOMPA_NOTES_RACE_PREFIX", format!("proc{p}"))
                .env("OOMPA_NOTES_RACE_GO", &go)
                .env("OOMPA_NOTES_RACE_TARGETS", targets.join(","))
                .spawn()
                .unwrap()
        })
        .collect();
    // Start together: wait until both children are ready, then say go.
    while !(0..2).all(|p| go.with_extension(format!("proc{p}")).exists()) {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::fs::write(&go, "").unwrap();
    race_appends(&env.repo, "lib", 8, &targets);
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "child failed: {}", stderr(&out));
    }

    let out = env.oompa_ok(&["log", "--json"]);
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for c in cycles(&out) {
        *seen.entry(c).or_default() += 1;
    }
    let mut want = Vec::new();
    for (prefix, threads) in [("lib", 8), ("proc0", 2), ("proc1", 2)] {
        for t in 0..threads {
            for i in 0..APPENDS_PER_THREAD {
                want.push(format!("race/{prefix}-{t}/{i}"));
            }
        }
    }
    want.sort();
    let got: Vec<String> = seen.keys().cloned().collect();
    assert_eq!(got, want, "lost records");
    assert!(seen.values().all(|&n| n == 1), "duplicated records");
    // The processes really ran at once: their commits interleave in the notes history.
    let history = env.git(&["log", "--format=%b", NOTES_REF]);
    let writers: Vec<&str> = history
        .lines()
        .filter_map(|l| l.strip_prefix("race/"))
        .map(|l| l.split('-').next().unwrap())
        .collect();
    let switches = writers.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(
        switches > 2,
        "the writers took turns instead of racing: {writers:?}"
    );
    // One notes commit per append, plus the root.
    let commits = env.git(&["rev-list", "--count", NOTES_REF]);
    assert_eq!(commits.trim(), (want.len() + 1).to_string());
    env.assert_fsck_clean();
}

#[test]
fn a_closed_pipe_is_a_quiet_exit() {
    let env = TestEnv::new();
    let targets: Vec<String> = (0..4).map(|i| commit(&env, &format!("c{i}"))).collect();
    for batch in 0..5u32 {
        let records: Vec<CycleRecord> = (0..1000u32)
            .map(|i| {
                let ended = format!("2026-01-01T{:02}:{:02}:{:02}Z", batch, i / 60 % 60, i % 60);
                rec(
                    "bulk",
                    &format!("w{}", i % 16),
                    batch * 1000 + i,
                    Outcome::Merged,
                    &ended,
                    &targets[(i % 4) as usize],
                )
            })
            .collect();
        append(&env, &records);
    }
    for args in [&["log"][..], &["log", "--json"]] {
        let mut child = env
            .oompa_cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        {
            let mut reader = BufReader::new(child.stdout.take().unwrap());
            reader.read_line(&mut first).unwrap();
        } // `head -1` exits: the pipe closes with most of the output unread.
        let out = child.wait_with_output().unwrap();
        assert!(!first.is_empty());
        let err = stderr(&out);
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
    // And through a real shell pipeline, as a person would run it.
    let mut sh = std::process::Command::new("sh");
    crate::common::hermetic(&mut sh, &env.home);
    let out = sh
        .args(["-c", &format!("'{}' log | head -1", crate::common::BIN)])
        .current_dir(&env.repo)
        .output()
        .unwrap();
    assert_eq!(stdout(&out).lines().count(), 1);
    assert!(stdout(&out).starts_with("WHEN"));
    assert_eq!(stderr(&out), "");
}

/// Fills a repository for timing `git oompa log` by hand:
/// `OOMPA_LOG_FILL_REPO=/dev/shm/big cargo test --release --test runner test_log::fill_for_timing -- --ignored --nocapture`
/// makes OOMPA_LOG_FILL_RECORDS (100,000) commits with `git fast-import`, then writes one
/// record per commit with `Notes::append` in batches of 1,000.
#[test]
#[ignore = "fills a repository for timing by hand"]
fn fill_for_timing() {
    use std::io::Write;
    let Ok(dir) = std::env::var("OOMPA_LOG_FILL_REPO") else {
        return;
    };
    let n: u32 = std::env::var("OOMPA_LOG_FILL_RECORDS").map_or(100_000, |v| v.parse().unwrap());
    let dir = std::path::PathBuf::from(dir);
    let git = |args: &[&str]| {
        let mut cmd = std::process::Command::new("git");
        crate::common::hermetic(&mut cmd, &dir);
        cmd.current_dir(&dir).args(args);
        cmd
    };
    std::fs::create_dir_all(&dir).unwrap();
    assert!(
        git(&["init", "-q", "-b", "main"])
            .status()
            .unwrap()
            .success()
    );
    let mut import = git(&["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = std::io::BufWriter::new(import.stdin.take().unwrap());
        for i in 1..=n {
            let from = if i > 1 {
                format!("from :{}\n", i - 1)
            } else {
                String::new()
            };
            let msg = format!("commit {i}");
            write!(
                stdin,
                "commit refs/heads/main\nmark :{i}\ncommitter T <t@example.invalid> {} +0000\ndata {}\n{msg}\n{from}\n",
                1_767_225_600 + u64::from(i) * 60,
                msg.len()
            )
            .unwrap();
        }
    }
    assert!(import.wait().unwrap().success());
    let ids = git(&["rev-list", "--reverse", "main"]).output().unwrap();
    let ids: Vec<String> = String::from_utf8(ids.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(ids.len(), n as usize);

    let repo = oompa::git::Repo::discover(&dir).unwrap();
    let notes = Notes::new(&repo);
    let outcomes = Outcome::ALL;
    let start = std::time::Instant::now();
    for (b, chunk) in ids.chunks(1000).enumerate() {
        let records: Vec<CycleRecord> = chunk
            .iter()
            .enumerate()
            .map(|(j, target)| {
                let i = (b * 1000 + j) as u32;
                let ended = jiff::Timestamp::from_second(1_767_225_600 + i64::from(i) * 60)
                    .unwrap()
                    .to_string();
                let mut r = rec(
                    &format!("swarm{:03}", i % 7),
                    &format!("w{}", i % 16),
                    i / 16,
                    outcomes[i as usize % 8],
                    &ended,
                    target,
                );
                r.tasks = vec![format!("task-{:05}", i / 3)];
                r.duration_ms = u64::from(i % 5000) * 100;
                if i.is_multiple_of(4) {
                    r.review = vec![ReviewRound {
                        round: 1,
                        reviewer: "claude:opus".into(),
                        verdict: "approved".into(),
                        findings: "1. Looks fine.".into(),
                        parsed: true,
                    }];
                }
                r
            })
            .collect();
        notes.append(&records).unwrap();
    }
    println!("appended {n} records in {:?}", start.elapsed());
}
