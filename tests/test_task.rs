//! `git oompa task …` and the queue behind it.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oompa::store::{ClaimOutcome, Claimant, Queue, State, TaskId};

use crate::common::{TestEnv, race_process, stderr, stdout};

fn queue_tip(env: &TestEnv) -> String {
    env.git(&["rev-parse", "refs/oompa/tasks"])
        .trim()
        .to_string()
}

#[test]
fn add_list_show_round_trip_and_plain_git_reads_the_queue() {
    let env = TestEnv::new();
    env.oompa_ok(&["init"]);
    let id = env.oompa_ok(&[
        "task",
        "add",
        "Fix the login redirect",
        "--description",
        "Users land on /404.",
        "--difficulty",
        "easy",
        "--files",
        "src/login.rs,src/routes.rs",
        "--acceptance",
        "redirects to /home",
        "--acceptance",
        "has a test",
    ]);
    let id = id.trim();
    assert!(id.starts_with("fix-the-login-redirect-"), "{id}");
    assert_eq!(
        env.oompa_ok(&["task", "add", "--id", "t-2", "Second"])
            .trim(),
        "t-2"
    );

    // Plain git reads what gix wrote.
    let blob = env.git(&["show", &format!("refs/oompa/tasks:pending/{id}.json")]);
    let v: serde_json::Value = serde_json::from_str(&blob).unwrap();
    assert_eq!(v["summary"], "Fix the login redirect");
    assert_eq!(v["version"], 1);
    assert_eq!(v["difficulty"], "easy");
    assert_eq!(
        v["files"],
        serde_json::json!(["src/login.rs", "src/routes.rs"])
    );
    assert_eq!(v["acceptance"][1], "has a test");
    assert_eq!(v["created_by"], "Test User");

    let list = env.oompa_ok(&["task", "list"]);
    assert!(list.starts_with("ID"), "{list}");
    assert!(
        list.contains(id) && list.contains("t-2") && list.contains("pending"),
        "{list}"
    );

    let rows = crate::common::json_rows(&env.oompa_ok(&["task", "list", "--json"]));
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["state"] == "pending"));

    let show = env.oompa_ok(&["task", "show", id]);
    assert!(
        show.contains("Users land on /404.") && show.contains("redirects to /home"),
        "{show}"
    );
    let shown = crate::common::json_object(&env.oompa_ok(&["task", "show", "t-2", "--json"]));
    assert_eq!(shown["id"], "t-2");

    // The history says what happened, one commit per operation.
    let log = env.git(&["log", "--format=%s", "refs/oompa/tasks"]);
    let subjects: Vec<&str> = log.lines().collect();
    assert_eq!(
        subjects,
        vec![
            "add t-2 by Test User",
            &format!("add {id} by Test User")[..],
            "oompa: create task queue"
        ]
    );
    env.assert_fsck_clean();
}

#[test]
fn claim_and_release_report_each_id() {
    let env = TestEnv::new();
    env.oompa_ok(&["task", "add", "--id", "a", "A"]);
    env.oompa_ok(&["task", "add", "--id", "b", "B"]);
    let out = env.oompa(&["task", "claim", "a", "zzz", "--worker", "w1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("claimed  a"), "{}", stdout(&out));
    assert!(stdout(&out).contains("missing  zzz"), "{}", stdout(&out));
    let out = env.oompa(&["task", "claim", "a", "--worker", "w2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("taken    a (held by w1)"),
        "{}",
        stdout(&out)
    );

    // From inside an agent's environment, no --worker is needed.
    let out = env
        .oompa_cmd(&["task", "claim", "b"])
        .env("OOMPA_WORKER", "w3")
        .env("OOMPA_SWARM", "s1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let listed = env.oompa_ok(&["task", "list", "--state", "current"]);
    assert!(
        listed.contains("s1/w3") && listed.contains("w1"),
        "{listed}"
    );
    let task: serde_json::Value =
        serde_json::from_str(&env.git(&["show", "refs/oompa/tasks:current/b.json"])).unwrap();
    assert_eq!(task["claim"]["worker"], "w3");
    assert_eq!(task["claim"]["swarm"], "s1");

    assert_eq!(env.oompa_ok(&["task", "release", "a"]).trim(), "released a");
    assert!(
        env.oompa_ok(&["task", "list", "--state", "pending"])
            .contains("a")
    );
    env.assert_fsck_clean();
}

/// Bad input: each is a one-line `error:` with the right exit code, and the queue is unchanged.
#[test]
fn bad_input_is_a_clear_error_and_changes_nothing() {
    let env = TestEnv::new();
    env.oompa_ok(&["task", "add", "--id", "ok", "fine"]);
    env.oompa_ok(&["task", "claim", "ok", "--worker", "w1"]);
    env.oompa_ok(&["task", "add", "--id", "free", "still pending"]);
    let long = "x".repeat(200);
    let cases: Vec<(Vec<&str>, Option<&str>, i32, &str)> = vec![
        (
            vec!["task", "claim", "../x", "--worker", "w"],
            None,
            1,
            "must start with a letter or digit",
        ),
        (vec!["task", "show", ""], None, 1, "task id is empty"),
        (
            vec!["task", "release", &long],
            None,
            1,
            "longer than 64 characters",
        ),
        (
            vec!["task", "add", "--id", "a b", "x"],
            None,
            1,
            "contains ` `",
        ),
        (
            vec!["task", "show", "nope"],
            None,
            1,
            "no task `nope` in the queue",
        ),
        (
            vec!["task", "claim", "ok", "--worker", "w2"],
            None,
            1,
            "not claimed",
        ),
        (
            vec!["task", "release", "free"],
            None,
            1,
            "task `free` is pending, not claimed",
        ),
        (vec!["task", "release", "ghost"], None, 1, "no task `ghost`"),
        (
            vec!["task", "add", "--file", "-"],
            Some("{\"summary\": "),
            1,
            "not a valid task document",
        ),
        (
            vec!["task", "add", "--file", "-"],
            Some("{\"summary\": \"x\", \"colour\": 1}"),
            1,
            "unknown field `colour`",
        ),
        (
            vec!["task", "add", "--file", "-"],
            Some("{\"summary\": \"   \"}"),
            1,
            "non-empty summary",
        ),
        (
            vec!["task", "add", "--id", "ok", "dup"],
            None,
            1,
            "task `ok` already exists",
        ),
        (vec!["task", "claim", "free"], None, 2, "no --worker given"),
        (
            vec!["task", "add", "x", "--difficulty", "extreme"],
            None,
            2,
            "possible values: easy, medium, hard",
        ),
        (
            vec!["task", "frobnicate"],
            None,
            2,
            "unrecognized subcommand",
        ),
    ];
    for (args, input, code, needle) in cases {
        let before = queue_tip(&env);
        let out = match input {
            Some(i) => env.oompa_stdin(&args, i),
            None => env.oompa(&args),
        };
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: expected `{needle}` in:\n{err}"
        );
        if code == 1 {
            assert!(err.starts_with("error: "), "{args:?}: {err}");
            assert!(!err.lines().next().unwrap().is_empty());
        }
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(queue_tip(&env), before, "{args:?} changed the queue");
    }
}

#[test]
fn a_corrupt_blob_is_reported_by_path_and_the_rest_still_reads() {
    let env = TestEnv::new();
    env.oompa_ok(&["task", "add", "--id", "good", "Good task"]);
    env.oompa_ok(&["task", "add", "--id", "bad", "Soon corrupt"]);
    // Replace pending/bad.json with garbage by hand, with plain git.
    let garbage = env
        .git_cmd(&["hash-object", "-w", "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"{not json")?;
            c.wait_with_output()
        })
        .unwrap();
    let blob = String::from_utf8(garbage.stdout).unwrap();
    let tree = env
        .git_cmd(&["mktree"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            let good = env.git(&["rev-parse", "refs/oompa/tasks:pending/good.json"]);
            let pending = format!(
                "100644 blob {}\tbad.json\n100644 blob {}\tgood.json\n",
                blob.trim(),
                good.trim()
            );
            // Build pending/ then the root tree.
            let mut sub = env
                .git_cmd(&["mktree"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()?;
            sub.stdin.take().unwrap().write_all(pending.as_bytes())?;
            let sub = String::from_utf8(sub.wait_with_output()?.stdout).unwrap();
            c.stdin
                .take()
                .unwrap()
                .write_all(format!("040000 tree {}\tpending\n", sub.trim()).as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    let tree = String::from_utf8(tree.stdout).unwrap();
    let parent = queue_tip(&env);
    let commit = env.git(&[
        "commit-tree",
        tree.trim(),
        "-p",
        &parent,
        "-m",
        "corrupt by hand",
    ]);
    env.git(&["update-ref", "refs/oompa/tasks", commit.trim(), &parent]);

    let out = env.oompa(&["task", "list"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("good"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("pending/bad.json"),
        "{}",
        stderr(&out)
    );

    let before = queue_tip(&env);
    let out = env.oompa(&["task", "show", "bad"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("pending/bad.json in refs/oompa/tasks is corrupt"),
        "{}",
        stderr(&out)
    );
    let out = env.oompa(&["task", "claim", "bad", "--worker", "w"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("corrupt"), "{}", stdout(&out));
    assert_eq!(queue_tip(&env), before);
    // The good task is still claimable.
    env.oompa_ok(&["task", "claim", "good", "--worker", "w"]);
}

#[test]
fn outside_a_repository_and_in_bare_or_reftable_repositories() {
    let env = TestEnv::empty();
    let out = env.oompa(&["task", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error: not inside a git repository"),
        "{}",
        stderr(&out)
    );

    env.git(&["init", "-q", "--bare", "bare.git"]);
    let out = env
        .oompa_cmd_in(&env.repo.join("bare.git"), &["task", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is a bare repository"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("hint:"), "{}", stderr(&out));

    let reftable = env
        .git_cmd(&["init", "-q", "--ref-format=reftable", "rt"])
        .output()
        .unwrap();
    if reftable.status.success() {
        let out = env
            .oompa_cmd_in(&env.repo.join("rt"), &["task", "list"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains("reftable"), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("git refs migrate"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn works_without_any_configured_identity() {
    let env = TestEnv::empty();
    env.git(&["init", "-q", "-b", "main"]);
    let id = env.oompa_ok(&["task", "add", "No identity anywhere"]);
    let author = env.git(&["log", "-1", "--format=%an <%ae>", "refs/oompa/tasks"]);
    assert_eq!(author.trim(), "git oompa <oompa@localhost>");
    env.oompa_ok(&["task", "claim", id.trim(), "--worker", "w"]);
}

#[test]
fn import_reads_an_oompa_tasks_folder() {
    let env = TestEnv::new();
    let dir = env.tmp.path().join("tasks");
    for d in ["pending", "current", "complete"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::write(
        dir.join("pending/task-001.json"),
        r#"{"id": "task-001", "summary": "Add factorial", "difficulty": "easy",
            "acceptance": "factorial(5) == 120", "priority": 2, "target_files": ["math.py"]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("current/task-002.json"),
        r#"{"id": "task-002", "summary": "In flight"}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("complete/task-000.json"),
        r#"{"id": "task-000", "summary": "Done", "completed-by": "w0", "merged-commit": "abc1234", "review-rounds": 2}"#,
    )
    .unwrap();
    std::fs::write(dir.join("pending/broken.json"), "{oops").unwrap();
    std::fs::write(dir.join("pending/old.edn"), "{:id \"old\"}").unwrap();

    let out = env.oompa(&["task", "import", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("imported 4 tasks"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("broken.json") && !stderr(&out).contains("old.edn"),
        "{}",
        stderr(&out)
    );

    let t: serde_json::Value =
        serde_json::from_str(&env.git(&["show", "refs/oompa/tasks:pending/task-001.json"]))
            .unwrap();
    assert_eq!(t["acceptance"], serde_json::json!(["factorial(5) == 120"]));
    assert_eq!(t["files"], serde_json::json!(["math.py"]));
    assert_eq!(t["priority"], 2, "unknown fields are kept");
    env.git(&["show", "refs/oompa/tasks:pending/task-002.json"]);
    let done: serde_json::Value =
        serde_json::from_str(&env.git(&["show", "refs/oompa/tasks:complete/task-000.json"]))
            .unwrap();
    assert_eq!(done["landed"]["commit"], "abc1234");
    assert_eq!(done["landed"]["review_rounds"], 2);

    // Importing again changes nothing.
    let before = queue_tip(&env);
    let out = env.oompa(&["task", "import", dir.to_str().unwrap()]);
    assert!(
        stderr(&out).contains("imported 0 tasks; 4 already in the queue"),
        "{}",
        stderr(&out)
    );
    assert_eq!(queue_tip(&env), before);
}

/// When run as a child of [`claims_race_across_threads_and_processes`], claims with several
/// library threads in this separate process.
#[test]
#[ignore = "helper process for the claim race"]
fn race_child() {
    let Ok(repo) = std::env::var("OOMPA_RACE_REPO") else {
        return;
    };
    let prefix = std::env::var("OOMPA_RACE_PREFIX").unwrap();
    let won = race_library(std::path::Path::new(&repo), &prefix, 4);
    for (worker, id) in won {
        println!("CLAIMED {worker} {id}");
    }
}

/// Claims random pending tasks with `threads` library threads until none are left.
fn race_library(repo: &std::path::Path, prefix: &str, threads: usize) -> Vec<(String, String)> {
    let won = Arc::new(Mutex::new(Vec::new()));
    std::thread::scope(|s| {
        for t in 0..threads {
            let won = Arc::clone(&won);
            s.spawn(move || {
                let r = oompa::git::Repo::discover(repo).unwrap();
                let q = Queue::new(&r);
                let who = Claimant {
                    swarm: "race".into(),
                    worker: format!("{prefix}-{t}"),
                    branch: None,
                    lease: Duration::from_secs(3600),
                    // Hand-made claims: the child processes exit before the test checks them.
                    pid: None,
                };
                let mut n = t;
                loop {
                    let snap = q.snapshot().unwrap();
                    let pending: Vec<_> = snap
                        .in_state(State::Pending)
                        .map(|t| t.id.clone())
                        .collect();
                    if pending.is_empty() {
                        break;
                    }
                    n = n.wrapping_mul(31).wrapping_add(7);
                    let id = &pending[n % pending.len()];
                    let res = q.claim(std::slice::from_ref(id), &who).unwrap();
                    if res[0].1 == ClaimOutcome::Claimed {
                        won.lock()
                            .unwrap()
                            .push((who.worker.clone(), id.to_string()));
                    }
                }
            });
        }
    });
    Arc::try_unwrap(won).unwrap().into_inner().unwrap()
}

#[test]
fn claims_race_across_threads_and_processes() {
    const TASKS: usize = 500;
    let env = TestEnv::new();
    let doc: Vec<serde_json::Value> = (0..TASKS)
        .map(|i| serde_json::json!({"id": format!("t{i:03}"), "summary": format!("task {i}")}))
        .collect();
    let out = env.oompa_stdin(
        &["task", "add", "--file", "-"],
        &serde_json::to_string(&doc).unwrap(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let before = Queue::new(&env.open()).history_len().unwrap();

    // Two more processes (this test binary re-executed), each with 4 library threads.
    let children: Vec<_> = (0..2)
        .map(|p| {
            race_process("test_task::race_child")
                .env("OOMPA_RACE_REPO", &env.repo)
                .env("OOMPA_RACE_PREFIX", format!("proc{p}"))
                .spawn()
                .unwrap()
        })
        .collect();
    // Threads that claim through the binary, one process per claim.
    let bin_won = Arc::new(Mutex::new(Vec::new()));
    let mut all = std::thread::scope(|s| {
        for b in 0..3 {
            let bin_won = Arc::clone(&bin_won);
            let env = &env;
            s.spawn(move || {
                let worker = format!("bin-{b}");
                let mut n: usize = b;
                loop {
                    let list = env.oompa_ok(&["task", "list", "--state", "pending", "--json"]);
                    let ids: Vec<String> = crate::common::json_rows(&list)
                        .iter()
                        .map(|v| v["id"].as_str().unwrap().to_string())
                        .collect();
                    if ids.is_empty() {
                        break;
                    }
                    n = n.wrapping_mul(17).wrapping_add(3);
                    let id = &ids[n % ids.len()];
                    let out =
                        env.oompa(&["task", "claim", id, "--worker", &worker, "--swarm", "race"]);
                    if out.status.success() {
                        bin_won.lock().unwrap().push((worker.clone(), id.clone()));
                    } else {
                        assert!(
                            stdout(&out).contains("taken"),
                            "{}{}",
                            stdout(&out),
                            stderr(&out)
                        );
                    }
                }
            });
        }
        race_library(&env.repo, "lib", 16)
    });
    for c in children {
        let out = c.wait_with_output().unwrap();
        // libtest prints `test … ` on the same line as the child's first output.
        for line in stdout(&out)
            .lines()
            .filter_map(|l| l.split_once("CLAIMED ").map(|(_, r)| r))
        {
            let (w, id) = line.split_once(' ').unwrap();
            all.push((w.to_string(), id.to_string()));
        }
    }
    all.extend(bin_won.lock().unwrap().drain(..));

    // Every task claimed exactly once, and by the claimer the queue names.
    let mut by_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (w, id) in &all {
        by_id.entry(id.clone()).or_default().push(w.clone());
    }
    let doubles: Vec<_> = by_id.iter().filter(|(_, w)| w.len() > 1).collect();
    assert!(doubles.is_empty(), "double claims: {doubles:?}");
    if by_id.len() != TASKS {
        let snap = Queue::new(&env.open()).snapshot().unwrap();
        let missing: Vec<_> = snap
            .in_state(State::Current)
            .filter(|t| !by_id.contains_key(t.id.as_str()))
            .map(|t| (t.id.to_string(), t.claim.as_ref().unwrap().worker.clone()))
            .collect();
        panic!(
            "claims reported: {}; unreported claims: {missing:?}",
            by_id.len()
        );
    }
    let procs: BTreeSet<_> = all
        .iter()
        .map(|(w, _)| w.split('-').next().unwrap().to_string())
        .collect();
    assert!(procs.contains("lib"), "{procs:?}");

    let repo = env.open();
    let q = Queue::new(&repo);
    let snap = q.snapshot().unwrap();
    assert_eq!(snap.count(State::Pending), 0);
    assert_eq!(snap.count(State::Current), TASKS);
    for t in snap.in_state(State::Current) {
        let holder = &t.claim.as_ref().unwrap().worker;
        assert_eq!(&by_id[t.id.as_str()], &vec![holder.clone()], "{}", t.id);
    }
    // One commit per successful claim.
    assert_eq!(q.history_len().unwrap(), before + TASKS);
    let _ = TaskId::new("t000").unwrap();
    env.assert_fsck_clean();
}
