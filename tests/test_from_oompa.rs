//! Coming from oompa 0.7.1: its EDN task files import, its later config spellings are read
//! (and named once), and its command names answer with what git oompa does instead.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::common::{TestEnv, stderr, stdout};

/// A copy of `tests/fixtures/oompa-0.7.1-tasks` (EDN files as oompa 0.7.1 left them).
fn oompa_tasks(env: &TestEnv) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/oompa-0.7.1-tasks");
    let to = env.tmp.path().join("tasks");
    for state in ["pending", "current", "complete"] {
        std::fs::create_dir_all(to.join(state)).unwrap();
        for f in std::fs::read_dir(from.join(state)).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, to.join(state).join(f.file_name().unwrap())).unwrap();
        }
    }
    to
}

fn task(env: &TestEnv, path: &str) -> Value {
    serde_json::from_str(&env.git(&["show", &format!("refs/oompa/tasks:{path}")])).unwrap()
}

#[test]
fn oompa_0_7_1_edn_task_files_import_with_their_fields() {
    let env = TestEnv::new();
    env.oompa_ok(&["init"]);
    let dir = oompa_tasks(&env);
    std::fs::write(
        dir.join("pending/broken.edn"),
        "{:id \"broken\" :summary \"never closed}\n",
    )
    .unwrap();
    let out = env.oompa(&["task", "import", dir.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("imported 4 tasks; 0 already in the queue; 1 skipped"),
        "{err}"
    );
    assert!(
        err.contains("broken.edn: not EDN: the file ends inside a string"),
        "{err}"
    );
    assert!(!err.contains("not supported"), "{err}");

    let t = task(&env, "pending/auth-login.json");
    assert_eq!(t["summary"], "Log in with a password");
    assert_eq!(
        t["description"],
        "Users log in with email and password.\nThe spec is in docs/auth.md."
    );
    assert_eq!(t["difficulty"], "medium");
    assert_eq!(t["files"], json!(["src/auth.clj", "test/auth_test.clj"]));
    assert_eq!(
        t["acceptance"],
        json!(["a wrong password is rejected with \"invalid credentials\""])
    );
    // What git oompa has no field for is kept as it was.
    assert_eq!(t["priority"], "P2");
    assert_eq!(t["targets"], json!(["src", "test"]));
    assert_eq!(t["dependencies"], json!(["task-1770000000001"]));

    let t = task(&env, "pending/task-1770000000001.json");
    assert_eq!(t["difficulty"], "easy");
    assert_eq!(t["priority"], 1);
    assert_eq!(t["acceptance"].as_array().map(Vec::len), Some(2));
    // oompa's current/ has no owner: pending again.
    let t = task(&env, "pending/cache-layer.json");
    assert_eq!(t["difficulty"], "hard");
    assert!(t.get("owner").is_none(), "a discarded form: {t}");
    let t = task(&env, "complete/fix-readme.json");
    assert_eq!(
        t["landed"],
        json!({"commit": "a1b2c3d", "review_rounds": 2,
               "at": "2026-02-01T10:00:00.000Z", "worker": "w1"})
    );

    // Importing again is harmless.
    let out = env.oompa(&["task", "import", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("imported 0 tasks; 4 already in the queue; 1 skipped"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_import_that_reads_no_file_fails() {
    let env = TestEnv::new();
    env.oompa_ok(&["init"]);
    let dir = env.tmp.path().join("tasks");
    std::fs::create_dir_all(dir.join("pending")).unwrap();
    let out = env.oompa(&["task", "import", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no task files (.edn or .json) in"),
        "{}",
        stderr(&out)
    );

    std::fs::write(dir.join("pending/a.edn"), "{:id \"a\" :summary}").unwrap();
    std::fs::write(dir.join("pending/b.json"), "[1, 2]").unwrap();
    let out = env.oompa(&["task", "import", dir.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("a.edn: not EDN: the key `summary` has no value"),
        "{err}"
    );
    assert!(err.contains("b.json: not a JSON object"), "{err}");
    assert!(
        err.contains("error: imported nothing: all 2 task file(s) were skipped"),
        "{err}"
    );
    assert!(env.git(&["ls-tree", "-r", "refs/oompa/tasks"]).is_empty());
}

#[test]
fn oompas_command_names_answer_with_the_git_oompa_equivalent() {
    let env = TestEnv::new();
    for (name, answer) in [
        ("run", "use `git oompa swarm [CONFIG]`"),
        ("loop", "use `git oompa swarm`"),
        (
            "list",
            "use `git oompa log --swarms` for past and running swarms",
        ),
        ("view", "use `git oompa status`"),
        ("info", "use `git oompa log --swarm ID`"),
        ("kill", "use `git oompa stop --now`"),
        ("cleanup", "use `git oompa gc`"),
        ("tasks", "use `git oompa task list`"),
        ("requeue", "use `git oompa task release ID...`"),
    ] {
        let out = env.oompa(&[name, "--detach", "oompa.json"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(answer), "{name}: {err}");
        assert!(!err.contains("unrecognized subcommand"), "{name}: {err}");
    }
    // Anything else is still clap's usage error, with its suggestion.
    let out = env.oompa(&["statsu"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unrecognized subcommand 'statsu'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_oompa_json_in_later_spellings_runs_and_says_once_what_it_mapped() {
    let env = TestEnv::new();
    env.oompa_ok(&["init"]);
    std::fs::remove_file(env.repo.join("oompa.toml")).unwrap();
    env.oompa_ok(&["task", "add", "Write the file", "--id", "t1"]);
    let model = crate::common::swarm::fake_model();
    std::fs::write(
        env.repo.join("oompa.json"),
        format!(
            r#"{{"workers": [{{"model": "{model}", "max_cycle": 3, "max_resumes": 4,
                "can_plan": false, "max_wait_for_tasks": 5}}]}}"#
        ),
    )
    .unwrap();
    let out = env.oompa(&["swarm"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}\n{}", stdout(&out));
    let said = format!(
        "{}: read oompa's `max_cycle` as `max_cycles`",
        env.repo.join("oompa.json").display()
    );
    assert_eq!(err.matches(&said).count(), 1, "{err}");
    let snap = oompa::store::Queue::new(&env.open()).snapshot().unwrap();
    assert_eq!(snap.count(oompa::store::State::Complete), 1, "{err}");
}
