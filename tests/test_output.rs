//! What a person reads: tables that fit the terminal, one JSON shape per command, words that
//! agree with their numbers, text from agents and task files shown as data (never terminal
//! control), and the first steps (`init`, the demo's tour).

use std::process::Output;

use oompa::store::{Landed, Queue, State, Task, TaskId};
use unicode_width::UnicodeWidthStr;

use crate::common::swarm::{spawn_swarm, swarm_ok, swarm_repo, worker_table, worker_with_env};
use crate::common::{TestEnv, json_object, json_rows, stderr, stdout};

const LONG: &str = "Make the login page remember the last user name and prefill it on the \
                    next visit, without storing the password anywhere";

/// `git-oompa <args>` with `COLUMNS` set, as a terminal of that width would have it.
fn at_width(env: &TestEnv, cols: &str, args: &[&str]) -> Output {
    env.oompa_cmd(args).env("COLUMNS", cols).output().unwrap()
}

fn assert_fits(text: &str, cols: usize, what: &str) {
    for line in text.lines() {
        assert!(
            line.width() <= cols,
            "{what}: a line of {} columns at {cols}:\n{line}\n\n{text}",
            line.width()
        );
    }
}

/// A task record for the library-level fixtures.
fn task(id: &str, summary: &str, created: &str) -> Task {
    Task::new(
        TaskId::new(id).unwrap(),
        summary.into(),
        created.into(),
        "test".into(),
    )
}

/// A repository with a queue: two pending tasks (one long), one claimed by s1/w1.
fn queue_repo() -> TestEnv {
    let env = TestEnv::new();
    env.oompa_ok(&["init"]);
    env.oompa_ok(&["task", "add", "--id", "login-name", LONG]);
    env.oompa_ok(&["task", "add", "--id", "short", "A short one"]);
    env.oompa_ok(&["task", "add", "--id", "held", &format!("Held: {LONG}")]);
    env.oompa_ok(&["task", "claim", "held", "--worker", "w1", "--swarm", "s1"]);
    env
}

#[test]
fn every_table_fits_80_columns_and_wide_shows_everything() {
    let env = queue_repo();
    let commands: [&[&str]; 7] = [
        &["task", "list"],
        &["task", "list", "--all"],
        &["task", "show", "held"],
        &["status"],
        &["check"],
        &["hooks", "status"],
        &["doctor"],
    ];
    for args in commands {
        let out = at_width(&env, "80", args);
        assert_fits(&stdout(&out), 80, &args.join(" "));
    }
    let list = stdout(&at_width(&env, "80", &["task", "list"]));
    assert!(list.contains('…'), "the summary is cut:\n{list}");
    assert!(!list.contains("password anywhere"), "{list}");
    // --wide, and output that is not a terminal (no COLUMNS), are never cut.
    let wide = stdout(&at_width(&env, "80", &["task", "list", "--wide"]));
    assert!(wide.contains("password anywhere"), "{wide}");
    let piped = env.oompa_ok(&["task", "list"]);
    assert!(piped.contains("password anywhere"), "{piped}");
    // A narrower terminal still gets a table that fits.
    assert_fits(
        &stdout(&at_width(&env, "60", &["task", "list"])),
        60,
        "60 columns",
    );
}

#[test]
fn the_task_list_at_80_columns() {
    let env = queue_repo();
    let out = at_width(&env, "80", &["task", "list"]);
    insta::assert_snapshot!(stdout(&out), @r"
    ID          STATE    CLAIMED BY  SUMMARY
    held        current  s1/w1       Held: Make the login page remember the last us…
    login-name  pending              Make the login page remember the last user nam…
    short       pending              A short one
    ");
    assert_eq!(stderr(&out), "");
}

#[test]
fn the_coloured_check_table_lines_up_like_the_plain_one() {
    let env = TestEnv::new();
    let plain = env.oompa_ok(&["check"]);
    let coloured = env.oompa_ok(&["check", "--color", "always"]);
    assert!(
        coloured.contains("\u{1b}[31mmissing\u{1b}[0m"),
        "{coloured:?}"
    );
    let stripped = coloured
        .replace("\u{1b}[31m", "")
        .replace("\u{1b}[32m", "")
        .replace("\u{1b}[0m", "");
    assert_eq!(stripped, plain, "escape codes were counted as width");
}

#[test]
fn every_json_output_is_one_versioned_value() {
    let env = queue_repo();
    // Lists: one array, one element per line, each with a version.
    let tasks = json_rows(&env.oompa_ok(&["task", "list", "--json"]));
    assert_eq!(tasks.len(), 3);
    assert_eq!(tasks[0]["id"], "held", "the table's order: claimed first");
    assert_eq!(tasks[0]["state"], "current");
    assert_eq!(tasks[1]["summary"], LONG, "JSON is never cut");
    assert_eq!(json_rows(&env.oompa_ok(&["check", "--json"])).len(), 4);
    let hooks = json_rows(&env.oompa_ok(&["hooks", "status", "--json"]));
    assert!(hooks.iter().all(|h| h["state"] == "installed"), "{hooks:?}");
    let doctor = json_rows(&stdout(&env.oompa(&["doctor", "--json"])));
    let mut checks: Vec<&str> = doctor
        .iter()
        .map(|d| d["check"].as_str().unwrap())
        .collect();
    let n = checks.len();
    checks.sort_unstable();
    checks.dedup();
    assert_eq!(
        checks.len(),
        n,
        "doctor rows with the same name: {doctor:?}"
    );
    json_rows(&env.oompa_ok(&["gc", "--json"]));
    json_rows(&env.oompa_ok(&["gc", "--dry-run", "--json"]));
    assert_eq!(
        env.oompa_ok(&["log", "--json"]),
        "[]\n",
        "an empty list is still an array"
    );
    // One thing: one object on one line.
    let shown = json_object(&env.oompa_ok(&["task", "show", "held", "--json"]));
    assert_eq!(shown["claim"]["worker"], "w1");
    let status = json_object(&env.oompa_ok(&["status", "--json"]));
    assert_eq!(status["queue"]["pending"], 2);
    assert_eq!(status["claims"][0]["id"], "held");
}

#[test]
fn log_json_is_one_array_and_log_show_json_one_object() {
    let env = swarm_repo(
        1,
        &worker_table("polite", 1, "max_cycles = 2\ncan_plan = false"),
    );
    swarm_ok(&env);
    let rows = json_rows(&env.oompa_ok(&["log", "--json"]));
    assert!(!rows.is_empty());
    let one = json_object(&env.oompa_ok(&["log", "--show", "w0/1", "--json"]));
    assert_eq!(one["outcome"], "merged");
}

#[test]
fn one_of_a_thing_is_singular() {
    let env = TestEnv::new();
    env.oompa_ok(&["init"]);
    env.oompa_ok(&["task", "add", "--id", "only", "The only task"]);
    let out = env.oompa(&["task", "claim", "nope", "--worker", "w1"]);
    assert!(
        stderr(&out).contains("error: 1 of 1 task not claimed"),
        "{}",
        stderr(&out)
    );
    let doctor = stdout(&env.oompa(&["doctor"]));
    assert!(doctor.contains("(1 task)"), "{doctor}");
    // A swarm of one worker with one cycle.
    let env = swarm_repo(
        1,
        &worker_table("polite", 1, "max_cycles = 1\ncan_plan = false"),
    );
    let out = env.oompa(&["swarm"]);
    let err = stderr(&out);
    assert!(err.contains(": 1 worker landing on main"), "{err}");
    assert!(stdout(&out).contains("1 cycle used"), "{}", stdout(&out));
    for wrong in ["(s)", "1 cycles", "1 workers", "1 tasks", "1 review rounds"] {
        assert!(
            !err.contains(wrong) && !stdout(&out).contains(wrong),
            "{wrong}:\n{err}"
        );
    }
}

#[test]
fn task_show_of_a_completed_task_shows_its_landing_not_its_old_claim() {
    let env = swarm_repo(
        1,
        &worker_table("polite", 1, "max_cycles = 2\ncan_plan = false"),
    );
    swarm_ok(&env);
    let show = env.oompa_ok(&["task", "show", "t00"]);
    assert!(show.contains("state:      complete"), "{show}");
    let main = env.git(&["rev-parse", "main"]);
    assert!(show.contains("landed:     "), "{show}");
    assert!(show.contains(&main[..12]), "the landing commit:\n{show}");
    for stale in ["pid", "lease", "branch:", "claimed:"] {
        assert!(
            !show.contains(stale),
            "`{stale}` of a finished claim:\n{show}"
        );
    }
}

#[test]
fn task_show_of_a_claimed_task_says_whether_its_owner_is_alive() {
    let env = queue_repo();
    let show = env.oompa_ok(&["task", "show", "held"]);
    assert!(show.contains("state:      claimed"), "{show}");
    assert!(show.contains("claimed:    by s1/w1 since"), "{show}");
    assert!(show.contains("claimed by hand"), "{show}");
    assert!(show.contains("lease:      until"), "{show}");
}

#[test]
fn task_list_leaves_completed_tasks_out_and_sorts_claimed_then_by_priority() {
    let env = TestEnv::new();
    env.oompa_ok(&["init"]);
    let repo = env.open();
    let mut tasks = vec![
        (
            State::Pending,
            task(
                "old-no-priority",
                "Oldest, no priority",
                "2026-01-01T00:00:00Z",
            ),
        ),
        (
            State::Pending,
            task(
                "new-no-priority",
                "Newer, no priority",
                "2026-01-02T00:00:00Z",
            ),
        ),
        (
            State::Pending,
            task("p2", "Priority 2", "2026-01-03T00:00:00Z"),
        ),
        (
            State::Pending,
            task("p1", "Priority P1", "2026-01-04T00:00:00Z"),
        ),
    ];
    tasks[2]
        .1
        .extra
        .insert("priority".into(), serde_json::json!(2));
    tasks[3]
        .1
        .extra
        .insert("priority".into(), serde_json::json!("P1"));
    for (i, at) in ["2026-01-05T00:00:00Z", "2026-01-06T00:00:00Z"]
        .iter()
        .enumerate()
    {
        let mut t = task(&format!("done-{i}"), "Landed", "2026-01-01T00:00:00Z");
        t.landed = Some(Landed {
            commit: "abc".into(),
            review_rounds: 1,
            at: at.to_string(),
            worker: None,
        });
        tasks.push((State::Complete, t));
    }
    Queue::new(&repo).import(&tasks, "test").unwrap();
    env.oompa_ok(&["task", "claim", "new-no-priority", "--worker", "w1"]);

    let out = env.oompa(&["task", "list"]);
    insta::assert_snapshot!(stdout(&out), @r"
    ID               STATE    PRI  CLAIMED BY  SUMMARY
    new-no-priority  current       w1          Newer, no priority
    p1               pending  P1               Priority P1
    p2               pending  2                Priority 2
    old-no-priority  pending                   Oldest, no priority
    ");
    assert_eq!(
        stderr(&out),
        "2 complete tasks not shown (--all shows them)\n"
    );
    let all = env.oompa_ok(&["task", "list", "--all"]);
    let ids: Vec<&str> = all
        .lines()
        .skip(1)
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "new-no-priority",
            "p1",
            "p2",
            "old-no-priority",
            "done-1",
            "done-0"
        ],
        "completed tasks last, newest landing first"
    );
    let complete = env.oompa_ok(&["task", "list", "--state", "complete"]);
    assert_eq!(complete.lines().count(), 3, "{complete}");
    assert!(
        env.oompa_ok(&["task", "show", "p1"])
            .contains("priority:   P1")
    );
}

#[test]
fn unicode_summaries_give_readable_ids() {
    let env = TestEnv::new();
    env.oompa_ok(&["init"]);
    let id = env.oompa_ok(&["task", "add", "Ünïcödé summary"]);
    assert!(id.starts_with("unicode-summary-"), "{id}");
    let id = env.oompa_ok(&["task", "add", "Привет мир"]);
    assert!(id.starts_with("privet-mir-"), "{id}");
}

// ---------------------------------------------------------------------------------------
// Text from others is data

const EVIL: &str = "evil \u{1b}]0;PWNED\u{7} \u{1b}[2J";

fn assert_no_controls(text: &str, what: &str) {
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{what} has raw terminal control:\n{text:?}"
    );
}

#[test]
fn an_evil_task_summary_is_shown_escaped_and_kept_exact_in_json() {
    let env = TestEnv::new();
    env.oompa_ok(&["init"]);
    env.oompa_ok(&[
        "task",
        "add",
        "--id",
        "evil",
        EVIL,
        "--acceptance",
        EVIL,
        "-d",
        EVIL,
    ]);
    for args in [
        &["task", "list"][..],
        &["task", "show", "evil"],
        &["task", "list", "--color", "always"],
    ] {
        let out = env.oompa(args);
        assert_no_controls(&stdout(&out), &args.join(" "));
        assert_no_controls(&stderr(&out), &args.join(" "));
        assert!(
            stdout(&out).contains("evil \\033]0;PWNED\\a \\033[2J"),
            "{}",
            stdout(&out)
        );
    }
    env.oompa_ok(&["task", "claim", "evil", "--worker", "w1", "--swarm", "s1"]);
    let status = env.oompa_ok(&["status"]);
    assert_no_controls(&status, "status");
    assert!(status.contains("\\033[2J"), "{status}");
    // JSON keeps the exact text (escaped the JSON way).
    let shown = json_object(&env.oompa_ok(&["task", "show", "evil", "--json"]));
    assert_eq!(shown["summary"], EVIL);
    assert_eq!(shown["acceptance"][0], EVIL);
    assert_no_controls(
        &env.oompa_ok(&["task", "list", "--json"]),
        "task list --json",
    );
    // An 8-bit CSI (U+009B) too: escaped in the table, exact (and valid) in JSON.
    let csi = "csi \u{9b}2J";
    env.oompa_ok(&["task", "add", "--id", "csi", csi]);
    let list = env.oompa_ok(&["task", "list"]);
    assert!(
        list.contains("csi \\302\\2332J") && !list.contains('\u{9b}'),
        "{list}"
    );
    let rows = json_rows(&env.oompa_ok(&["task", "list", "--json"]));
    assert!(rows.iter().any(|r| r["summary"] == csi), "{rows:?}");
}

#[test]
fn an_agent_printing_terminal_controls_on_stderr_and_failing_is_shown_escaped() {
    let env = swarm_repo(
        1,
        &worker_table("evil", 1, "max_cycles = 1\ncan_plan = false"),
    );
    let out = env.oompa(&["swarm"]);
    assert_no_controls(&stderr(&out), "the swarm's progress lines");
    assert_no_controls(&stdout(&out), "the swarm's summary");
    assert!(
        stderr(&out).contains("evil \\033]0;PWNED\\a \\033[31m"),
        "{}",
        stderr(&out)
    );
    for args in [&["log"][..], &["log", "--show", "w0/1"]] {
        let text = env.oompa_ok(args);
        assert_no_controls(&text, &args.join(" "));
    }
    let shown = env.oompa_ok(&["log", "--show", "w0/1"]);
    assert!(shown.contains("\\033]0;PWNED\\a"), "{shown}");
    let record = json_object(&env.oompa_ok(&["log", "--show", "w0/1", "--json"]));
    assert!(
        record["error"]
            .as_str()
            .unwrap()
            .contains("evil \u{1b}]0;PWNED\u{7} \u{1b}[31m"),
        "JSON keeps the exact text: {record}"
    );
}

// ---------------------------------------------------------------------------------------
// First steps

#[test]
fn init_says_to_edit_the_config_first_and_names_every_missing_cli() {
    let env = TestEnv::new();
    std::fs::write(
        env.repo.join("oompa.toml"),
        "[[worker]]\nmodel = \"claude:sonnet\"\n\n[[worker]]\nmodel = \"codex\"\n",
    )
    .unwrap();
    let out = env
        .oompa_cmd(&["init"])
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let edit = err
        .find("1. edit oompa.toml")
        .expect("says to edit oompa.toml");
    assert!(err[edit..].contains("claude:sonnet"), "{err}");
    let swarm = err.find("git oompa swarm").expect("then the swarm");
    assert!(
        edit < swarm,
        "edit the config before starting a swarm:\n{err}"
    );
    assert!(
        err.contains(
            "agent CLIs the config needs are not on PATH: `claude` (for w0), `codex` (for w1)"
        ),
        "all at once:\n{err}"
    );
}

#[test]
fn hints_name_oompa_json_when_that_is_the_config() {
    let env = TestEnv::new();
    env.oompa_ok(&["init"]);
    std::fs::remove_file(env.repo.join("oompa.toml")).unwrap();
    std::fs::write(
        env.repo.join("oompa.json"),
        r#"{"workers": [{"model": "claude:sonnet"}]}"#,
    )
    .unwrap();
    let out = env
        .oompa_cmd(&["swarm"])
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(err.contains("change the models in oompa.json"), "{err}");
    assert!(!err.contains("oompa.toml"), "{err}");

    env.git(&["checkout", "-q", "--detach"]);
    let out = env.oompa(&["swarm"]);
    let err = stderr(&out);
    assert!(err.contains("HEAD is detached"), "{err}");
    assert!(
        err.contains("`git config oompa.targetBranch main` (oompa.json has no target key)"),
        "{err}"
    );
}

#[test]
fn the_demo_ends_with_a_short_tour() {
    let env = TestEnv::empty();
    let dir = env.tmp.path().join("demo");
    let out = env.oompa_on_path(&["demo", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let tour = &err[err.find("A short tour").expect("a tour")..];
    for step in [
        "git oompa status",
        "git oompa log --show w",
        "less .git/oompa/transcripts/",
        "In your own repository:",
        "git oompa init",
    ] {
        assert!(tour.contains(step), "{step}:\n{tour}");
    }
    assert!(!tour.contains("--notes=oompa"), "no raw note JSON:\n{tour}");
    assert_fits(tour, 80, "the tour");
    // Every command it names works as written there.
    let spec = tour
        .split("git oompa log --show ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap();
    let shown = env
        .oompa_cmd_in(&dir, &["log", "--show", spec])
        .output()
        .unwrap();
    assert!(shown.status.success(), "{}", stderr(&shown));
    let transcript = tour
        .split("less ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap();
    assert!(dir.join(transcript).is_file(), "{transcript}");
}

// ---------------------------------------------------------------------------------------
// Editing and removing tasks

#[test]
fn edit_changes_a_pending_task_and_says_which_fields() {
    let env = queue_repo();
    let out = env.oompa_ok(&[
        "task",
        "edit",
        "short",
        "--summary",
        "A longer one",
        "--acceptance",
        "it is longer",
    ]);
    assert_eq!(out, "edited short (summary, acceptance)\n");
    let t = json_object(&env.oompa_ok(&["task", "show", "short", "--json"]));
    assert_eq!(t["summary"], "A longer one");
    assert_eq!(t["acceptance"], serde_json::json!(["it is longer"]));
    assert_eq!(t["state"], "pending");
    let subject = env.git(&["log", "-1", "--format=%s", "refs/oompa/tasks"]);
    assert_eq!(subject.trim(), "edit short by Test User");
    // Nothing to change: no commit.
    let tip = env.git(&["rev-parse", "refs/oompa/tasks"]);
    let out = env.oompa(&["task", "edit", "short", "--summary", "A longer one"]);
    assert!(out.status.success());
    assert_eq!(env.git(&["rev-parse", "refs/oompa/tasks"]), tip);
    let out = env.oompa(&["task", "edit", "short"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "no change given is a usage error"
    );
    assert!(
        notices(&env).is_empty(),
        "nobody to tell about a pending task"
    );
}

#[test]
fn a_claimed_task_needs_force_and_its_claimer_gets_a_notice() {
    let env = queue_repo();
    let out = env.oompa(&["task", "edit", "held", "--summary", "Changed"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("error: task `held` is claimed by s1/w1")
            && stderr(&out).contains("hint: add --force"),
        "{}",
        stderr(&out)
    );
    let out = env.oompa(&["task", "edit", "held", "--summary", "Changed", "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("s1/w1 holds it; its agent is told what changed before its next turn"),
        "{}",
        stderr(&out)
    );
    let t = json_object(&env.oompa_ok(&["task", "show", "held", "--json"]));
    assert_eq!(t["claim"]["worker"], "w1", "the claim stays");
    let n = notices(&env);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0]["change"], "edited");
    assert_eq!(n[0]["fields"], serde_json::json!(["summary"]));
    assert_eq!(
        (n[0]["swarm"].as_str(), n[0]["worker"].as_str()),
        (Some("s1"), Some("w1"))
    );

    // Removing it too: the notice says so.
    let out = env.oompa(&["task", "rm", "held"]);
    assert_eq!(out.status.code(), Some(1));
    let out = env.oompa(&["task", "rm", "held", "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("removed held (was claimed by s1/w1"),
        "{}",
        stdout(&out)
    );
    let n = notices(&env);
    assert_eq!(n[0]["change"], "removed");
    // The worker takes its notices (once).
    let repo = env.open();
    let taken = Queue::new(&repo).take_notices("s1", "w1").unwrap();
    assert_eq!(taken.len(), 1);
    assert!(
        taken[0].describe().contains("Task `held` was removed"),
        "{:?}",
        taken[0]
    );
    assert!(
        Queue::new(&repo)
            .take_notices("s1", "w1")
            .unwrap()
            .is_empty()
    );
    assert!(notices(&env).is_empty());
}

#[test]
fn rm_removes_all_or_nothing_and_never_a_completed_task() {
    let env = queue_repo();
    let tip = env.git(&["rev-parse", "refs/oompa/tasks"]);
    let out = env.oompa(&["task", "rm", "short", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no task `nope`"), "{}", stderr(&out));
    assert_eq!(
        env.git(&["rev-parse", "refs/oompa/tasks"]),
        tip,
        "nothing removed"
    );
    assert_eq!(
        env.oompa_ok(&["task", "rm", "short", "login-name"]),
        "removed short\nremoved login-name\n"
    );
    let left = json_rows(&env.oompa_ok(&["task", "list", "--all", "--json"]));
    assert_eq!(left.len(), 1);
    // Its record stays in the queue's history.
    env.git(&["show", "refs/oompa/tasks~1:pending/short.json"]);
    // A claim a person made by hand has no agent to tell: no notice.
    env.oompa_ok(&["task", "add", "--id", "mine", "Mine"]);
    env.oompa_ok(&["task", "claim", "mine", "--worker", "me"]);
    assert_eq!(
        env.oompa_ok(&["task", "rm", "mine", "--force"]),
        "removed mine (was claimed by me)\n"
    );
    assert!(notices(&env).is_empty());

    let repo = env.open();
    let mut done = task("done", "Landed", "2026-01-01T00:00:00Z");
    done.landed = Some(Landed {
        commit: "abc".into(),
        review_rounds: 0,
        at: "2026-01-01T00:00:00Z".into(),
        worker: None,
    });
    Queue::new(&repo)
        .import(&[(State::Complete, done)], "test")
        .unwrap();
    for args in [
        &["task", "rm", "done", "--force"][..],
        &["task", "edit", "done", "--summary", "x", "--force"],
    ] {
        let out = env.oompa(args);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains("is complete"), "{}", stderr(&out));
    }
}

#[test]
fn an_agent_may_not_force_a_change_to_another_workers_claim() {
    let env = queue_repo();
    let agent = |args: &[&str]| {
        env.oompa_cmd(args)
            .env("OOMPA_SWARM", "s1")
            .env("OOMPA_WORKER", "w2")
            .output()
            .unwrap()
    };
    let out = agent(&["task", "rm", "held", "--force"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // Its own claim it may edit, and nobody is told.
    env.oompa_ok(&["task", "claim", "short", "--worker", "w2", "--swarm", "s1"]);
    let out = agent(&["task", "edit", "short", "--summary", "Mine to change"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(notices(&env).is_empty());
}

#[test]
fn a_worker_is_told_at_its_next_turn_that_its_task_was_edited() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let env = swarm_repo(
        1,
        &worker_with_env(
            "silent",
            1,
            "max_cycles = 1\nmax_resumes = 3\ncan_plan = false",
            &[
                ("FAKE_CLAIM_FIRST", "1"),
                ("FAKE_SLEEP", "2"),
                ("FAKE_PROMPT_LOG", log.path().to_str().unwrap()),
            ],
        ),
    );
    let child = spawn_swarm(&env, None);
    // Wait (up to 30 s) until the agent holds the task, then change it under it.
    let start = std::time::Instant::now();
    while !env
        .oompa_ok(&["task", "list", "--state", "current"])
        .contains("t00")
    {
        assert!(
            start.elapsed().as_secs() < 30,
            "the agent never claimed t00"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    env.oompa_ok(&[
        "task",
        "edit",
        "t00",
        "--acceptance",
        "now with a test",
        "--force",
    ]);
    let out = child.wait_with_output();
    assert!(out.status.success(), "{}", stderr(&out));
    let prompts = std::fs::read_to_string(log.path()).unwrap();
    let turns: Vec<&str> = prompts.split("=== ").filter(|t| !t.is_empty()).collect();
    assert_eq!(turns.len(), 3, "{prompts}");
    assert!(!turns[0].contains("## Your tasks changed"), "{}", turns[0]);
    let told: Vec<&&str> = turns
        .iter()
        .filter(|t| t.contains("## Your tasks changed"))
        .collect();
    assert_eq!(told.len(), 1, "told once:\n{prompts}");
    assert!(
        told[0].contains("Task `t00` was edited by Test User (acceptance)"),
        "{}",
        told[0]
    );
    assert!(notices(&env).is_empty(), "the notice was taken");
}

/// The notices in the queue tree, parsed.
fn notices(env: &TestEnv) -> Vec<serde_json::Value> {
    let list = env.git(&["ls-tree", "--name-only", "refs/oompa/tasks", "notices/"]);
    list.lines()
        .map(|p| {
            serde_json::from_str(&env.git(&["show", &format!("refs/oompa/tasks:{p}")])).unwrap()
        })
        .collect()
}

#[test]
fn a_cycle_record_with_an_8_bit_csi_stays_valid_json_and_shows_escaped() {
    use oompa::store::notes::Notes;
    use oompa::store::record::{CycleRecord, Outcome};
    let env = TestEnv::new();
    let head = env.git(&["rev-parse", "HEAD"]).trim().to_string();
    let record = CycleRecord {
        model: "exec:x".into(),
        turns: 1,
        started: "2026-01-01T00:00:00Z".into(),
        ended: "2026-01-01T00:00:00Z".into(),
        duration_ms: 1,
        agent_ms: 1,
        error: Some("csi \u{9b}2J del \u{7f}".into()),
        ..CycleRecord::new("ab12cd34", "w0", 1, Outcome::Error, head.clone())
    };
    Notes::new(&env.open()).append(&[record]).unwrap();
    let rows = json_rows(&env.oompa_ok(&["log", "--json"]));
    assert_eq!(rows[0]["error"], "csi \u{9b}2J del \u{7f}");
    let shown = env.oompa_ok(&["log", "--show", "w0/1"]);
    assert!(shown.contains("csi \\302\\2332J del \\177"), "{shown}");
}

#[test]
fn task_show_at_80_columns() {
    let env = queue_repo();
    env.oompa_ok(&[
        "task",
        "edit",
        "login-name",
        "--description",
        "People log in many times a day on the same machine. Typing the name again each \
         time is the most common complaint in the feedback form.\nKeep it simple.",
        "--acceptance",
        "the name field is filled with the last name used on this browser",
        "--acceptance",
        "no password is stored",
        "--files",
        "src/login.rs,templates/login.html",
        "--difficulty",
        "medium",
    ]);
    let out = stdout(&at_width(&env, "80", &["task", "show", "login-name"]));
    assert_fits(&out, 80, "task show");
    insta::with_settings!({filters => vec![
        (r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, (just now|\d+ [a-z]+ ago)", "[TIME]"),
    ]}, {
        insta::assert_snapshot!(out, @r"
        login-name Make the login page remember the last user name and prefill it on the
                   next visit, without storing the password anywhere
        state:      pending
        difficulty: medium
        created:    [TIME] by Test User
        files:      src/login.rs, templates/login.html

            People log in many times a day on the same machine. Typing the name again
            each time is the most common complaint in the feedback form.
            Keep it simple.

        acceptance:
          - the name field is filled with the last name used on this browser
          - no password is stored
        ");
    });
}
