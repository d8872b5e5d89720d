//! `git oompa swarm` end to end with fake agents (`tests/fake-agents/agent.sh`).

use std::collections::BTreeMap;

use oompa::store::notes::Notes;
use oompa::store::{Queue, State};

use crate::common::{TestEnv, stderr, stdout, walk};

/// The `model` line that runs the fake agent.
pub fn fake_model() -> String {
    format!(
        "exec:sh {}/tests/fake-agents/agent.sh",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A repository with `n` tasks and the given oompa.toml worker tables.
pub fn swarm_repo(n: usize, workers: &str) -> TestEnv {
    let env = TestEnv::new();
    env.oompa_ok(&["init"]);
    let doc: Vec<serde_json::Value> = (0..n)
        .map(|i| serde_json::json!({"id": format!("t{i:02}"), "summary": format!("Task number {i}")}))
        .collect();
    if n > 0 {
        let out = env.oompa_stdin(
            &["task", "add", "--file", "-"],
            &serde_json::to_string(&doc).unwrap(),
        );
        assert!(out.status.success(), "{}", stderr(&out));
    }
    std::fs::write(
        env.repo.join("oompa.toml"),
        format!("error_backoff = 0\n{workers}"),
    )
    .unwrap();
    env
}

/// A worker table whose fake agent also gets `env` (after `FAKE_MODE`).
pub fn worker_with_env(mode: &str, count: u32, extra: &str, env: &[(&str, &str)]) -> String {
    let mut pairs = vec![format!("FAKE_MODE = \"{mode}\"")];
    pairs.extend(env.iter().map(|(k, v)| format!("{k} = \"{v}\"")));
    format!(
        "[[worker]]\nmodel = \"{}\"\ncount = {count}\nenv = {{ {} }}\n{extra}\n",
        fake_model(),
        pairs.join(", ")
    )
}

pub fn worker_table(mode: &str, count: u32, extra: &str) -> String {
    worker_with_env(mode, count, extra, &[])
}

/// Cycle records by outcome.
pub fn outcomes(env: &TestEnv) -> BTreeMap<String, usize> {
    let repo = env.open();
    let (entries, bad) = Notes::new(&repo).read_all().unwrap();
    assert!(bad.is_empty(), "{bad:?}");
    let mut m = BTreeMap::new();
    for e in entries {
        *m.entry(e.record.outcome.to_string()).or_default() += 1;
    }
    m
}

/// The values of one column of the end-of-swarm summary table.
pub fn summary_column(out: &str, name: &str) -> Vec<String> {
    let mut lines = out.lines().skip_while(|l| !l.starts_with("WORKER"));
    let header = lines.next().expect("a summary table");
    let at = header.find(name).expect("column");
    lines
        .map(|l| {
            l.get(at..)
                .unwrap_or("")
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

/// No worktree but the main one, no worker branch.
pub fn assert_clean_up(env: &TestEnv) {
    let wts = env.git(&["worktree", "list", "--porcelain"]);
    assert_eq!(wts.matches("worktree ").count(), 1, "{wts}");
    let branches = env.git(&["branch", "--list", "oompa/*"]);
    assert_eq!(branches.trim(), "", "worker branches left: {branches}");
}

#[test]
fn four_workers_land_forty_tasks() {
    let env = swarm_repo(
        40,
        &worker_table(
            "polite",
            4,
            "max_cycles = 40\ncan_plan = false\nmax_wait_for_tasks = \"20s\"",
        ),
    );
    let out = env.oompa(&["swarm"]);
    assert!(
        out.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        stdout(&out),
        stderr(&out)
    );

    // Every task completed exactly once, landed on main.
    let repo = env.open();
    let snap = Queue::new(&repo).snapshot().unwrap();
    assert_eq!(snap.count(State::Complete), 40, "{}", stderr(&out));
    assert_eq!(snap.count(State::Pending) + snap.count(State::Current), 0);

    // One landing per task on main, with trailers.
    let log = env.git(&[
        "log",
        "--first-parent",
        "--format=%(trailers:key=Oompa-Task,valueonly)%x00",
        "main",
    ]);
    let mut landed: Vec<&str> = log
        .split('\0')
        .flat_map(|c| c.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    landed.sort();
    let expected: Vec<String> = (0..40).map(|i| format!("t{i:02}")).collect();
    assert_eq!(
        landed,
        expected.iter().map(String::as_str).collect::<Vec<_>>()
    );
    let workers = env.git(&[
        "log",
        "--first-parent",
        "--format=%(trailers:key=Oompa-Worker,valueonly)",
        "main",
    ]);
    assert!(workers.contains('w'), "{workers}");
    for t in snap.in_state(State::Complete) {
        let commit = &t.landed.as_ref().unwrap().commit;
        env.git(&["merge-base", "--is-ancestor", commit, "main"]);
        env.git(&["cat-file", "-e", &format!("main:work/{}.txt", t.id)]);
    }
    // The checkout of main followed the landings.
    assert!(env.repo.join("work/t00.txt").is_file());
    assert_eq!(
        env.git(&["status", "--porcelain", "--untracked-files=no"])
            .trim(),
        ""
    );

    // One record per cycle; the cycle count matches the summary.
    let o = outcomes(&env);
    assert_eq!(o.get("merged").copied().unwrap_or(0), 40, "{o:?}");
    let cycles: usize = summary_column(&stdout(&out), "CYCLES")
        .iter()
        .map(|c| c.parse::<usize>().unwrap())
        .sum();
    assert_eq!(o.values().sum::<usize>(), cycles, "{o:?}\n{}", stdout(&out));
    assert!(
        env.git(&["log", "--notes=oompa", "-1", "main"])
            .contains("\"outcome\":\"merged\"")
    );

    assert_clean_up(&env);
    assert_eq!(env.git(&["for-each-ref", "refs/oompa/keep/"]).trim(), "");
    env.assert_fsck_clean();
}

/// Tasks in each state.
pub fn states(env: &TestEnv) -> (usize, usize, usize) {
    let repo = env.open();
    let snap = Queue::new(&repo).snapshot().unwrap();
    (
        snap.count(State::Pending),
        snap.count(State::Current),
        snap.count(State::Complete),
    )
}

#[test]
fn misbehaving_agents_get_their_outcomes_and_the_swarm_goes_on() {
    let workers = [
        worker_table(
            "polite",
            1,
            "name = \"good\"\nmax_cycles = 20\ncan_plan = false\nmax_wait_for_tasks = \"30s\"",
        ),
        worker_with_env(
            "crash",
            1,
            "name = \"crash\"\nmax_errors = 2",
            &[("FAKE_CLAIM_FIRST", "1")],
        ),
        worker_with_env(
            "hang",
            1,
            "name = \"hang\"\nmax_cycles = 1\nturn_timeout = \"1s\"",
            &[("FAKE_CLAIM_FIRST", "1")],
        ),
        worker_table(
            "silent",
            1,
            "name = \"silent\"\nmax_cycles = 1\nmax_resumes = 2",
        ),
        worker_table("spam", 1, "name = \"spam\"\nmax_cycles = 1"),
        worker_table(
            "steal",
            1,
            "name = \"steal\"\nmax_cycles = 1\nwait_between = 0",
        ),
        worker_table("nochange", 1, "name = \"nochange\"\nmax_cycles = 1"),
    ]
    .join("\n");
    let env = swarm_repo(6, &workers);
    let out = env.oompa(&["swarm"]);
    assert!(
        out.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        stdout(&out),
        stderr(&out)
    );
    let err = stderr(&out);

    let by_worker = |w: &str| -> Vec<String> {
        let repo = env.open();
        let (entries, _) = Notes::new(&repo).read_all().unwrap();
        entries
            .into_iter()
            .filter(|e| e.record.worker == w)
            .map(|e| e.record.outcome.to_string())
            .collect()
    };
    assert_eq!(by_worker("crash"), vec!["error", "error"], "{err}");
    assert_eq!(by_worker("hang"), vec!["error"], "{err}");
    assert_eq!(by_worker("silent"), vec!["stuck"], "{err}");
    assert_eq!(by_worker("spam"), vec!["done"], "{err}");
    let nochange = by_worker("nochange");
    assert!(
        nochange == vec!["no-changes"] || nochange == vec!["done"],
        "{nochange:?}"
    );
    assert_eq!(by_worker("steal").len(), 1);
    assert!(
        err.contains("[crash] finished: 2 failed cycles in a row"),
        "{err}"
    );
    assert!(
        err.contains("timed out"),
        "the hang is reported as a timeout:\n{err}"
    );

    // The polite worker landed everything; no claim leaked.
    assert_eq!(states(&env), (0, 0, 6), "{err}");
    let summary = stdout(&out);
    assert!(summary.contains("good"), "{summary}");
    assert_clean_up(&env);
    env.assert_fsck_clean();
}

#[test]
fn conflicting_workers_one_lands_the_other_keeps_its_work() {
    // No resolution attempts: the second landing ends `conflict`.
    let workers = worker_table(
        "conflict",
        2,
        "max_cycles = 1\ncan_plan = false\nmax_wait_for_tasks = \"5s\"",
    );
    let env = swarm_repo(2, &format!("max_conflict_rounds = 0\n{workers}"));
    std::fs::write(env.repo.join("shared.txt"), "original line\n").unwrap();
    env.git(&["add", "shared.txt"]);
    env.git(&["commit", "-q", "-m", "shared file"]);
    let out = env.oompa(&["swarm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let o = outcomes(&env);
    assert_eq!(o.get("merged"), Some(&1), "{o:?}\n{}", stderr(&out));
    assert_eq!(o.get("conflict"), Some(&1), "{o:?}\n{}", stderr(&out));
    assert_eq!(states(&env), (1, 0, 1));
    // The conflicting work is kept, and is not on main.
    let keep = env.git(&["for-each-ref", "--format=%(refname)", "refs/oompa/keep/"]);
    let keep: Vec<&str> = keep.lines().collect();
    assert_eq!(keep.len(), 1, "{keep:?}");
    let kept_file = env.git(&["show", &format!("{}:shared.txt", keep[0])]);
    assert!(kept_file.starts_with("line written by w"), "{kept_file}");
    assert!(
        env.git_cmd(&["merge-base", "--is-ancestor", keep[0], "main"])
            .status()
            .unwrap()
            .code()
            == Some(1)
    );
    // The record names the conflicting path.
    let repo = env.open();
    let (entries, _) = Notes::new(&repo).read_all().unwrap();
    let c = entries
        .iter()
        .find(|e| e.record.outcome.to_string() == "conflict")
        .unwrap();
    assert_eq!(c.record.conflicts, vec!["shared.txt"]);
    assert_eq!(c.record.kept.as_deref(), Some(keep[0]));
    assert_clean_up(&env);
}

/// A background `git oompa swarm` that is killed (with its hanging agents) if the test fails.
pub struct Running {
    child: Option<std::process::Child>,
    marker: Option<String>,
}

impl Running {
    pub fn child(&mut self) -> &mut std::process::Child {
        self.child.as_mut().expect("running")
    }
    pub fn wait_with_output(mut self) -> std::process::Output {
        self.child
            .take()
            .expect("running")
            .wait_with_output()
            .unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(m) = &self.marker {
            kill_processes_with(&format!("sleep {m}"));
        }
    }
}

/// Starts `git oompa swarm` in the background; `marker` is the FAKE_HANG value of its agents.
pub fn spawn_swarm(env: &TestEnv, marker: Option<&str>) -> Running {
    let child = env
        .oompa_cmd(&["swarm"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    Running {
        child: Some(child),
        marker: marker.map(str::to_string),
    }
}

/// A swarm of `workers` agents that each claim a task (and commit `wip/<worker>.txt` when
/// `commit`), then hang until killed, over `tasks` tasks. Returns once every agent hangs,
/// with the marker (a `sleep` length unique to this test) that finds the agents' processes.
fn hanging_swarm(
    base: u32,
    tasks: usize,
    workers: u32,
    commit: bool,
) -> (TestEnv, Running, String) {
    let marker = format!("{}", base + std::process::id() % 90_000);
    let mut env_vars = vec![("FAKE_CLAIM_FIRST", "1"), ("FAKE_HANG", marker.as_str())];
    if commit {
        env_vars.push(("FAKE_COMMIT_FIRST", "1"));
    }
    let env = swarm_repo(
        tasks,
        &worker_with_env("hang", workers, "max_cycles = 1", &env_vars),
    );
    let child = spawn_swarm(&env, Some(&marker));
    let n = workers as usize;
    wait_for("every agent to claim and hang", || {
        states(&env).1 == n && processes_with(&format!("sleep {marker}")) == n
    });
    (env, child, marker)
}

/// Waits until `f` holds (up to 20 s).
pub fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

pub fn signal(running: &mut Running, sig: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(running.child().id()).unwrap());
    nix::sys::signal::kill(pid, sig).unwrap();
}

/// Processes whose command line contains `needle`.
pub fn processes_with(needle: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .filter(|c| {
            String::from_utf8_lossy(c)
                .replace('\0', " ")
                .contains(needle)
        })
        .count()
}

pub fn kill_processes_with(needle: &str) {
    let _ = std::process::Command::new("pkill")
        .args(["-f", needle])
        .status();
}

#[test]
fn ctrl_c_once_finishes_turns_in_flight_lands_what_is_ready_and_releases_the_rest() {
    // Each turn sleeps 2 s, then claims, works and signals merge in the same turn.
    let env = swarm_repo(
        4,
        &worker_with_env("cli", 2, "max_cycles = 5", &[("FAKE_SLEEP", "2")]),
    );
    let mut child = spawn_swarm(&env, None);
    let transcripts = env.repo.join(".git/oompa/transcripts");
    wait_for("both agents to start", || {
        walk(&transcripts)
            .iter()
            .filter(|p| p.ends_with("cycle-1.log"))
            .count()
            == 2
    });
    signal(&mut child, nix::sys::signal::Signal::SIGINT);
    let out = child.wait_with_output();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("stopping"), "{err}");
    // The two turns in flight finished and landed; nothing new started.
    let o = outcomes(&env);
    assert_eq!(o.get("merged"), Some(&2), "{o:?}\n{err}");
    assert_eq!(o.values().sum::<usize>(), 2, "{o:?}\n{err}");
    assert_eq!(states(&env), (2, 0, 2), "{err}");
    assert_clean_up(&env);
}

#[test]
fn ctrl_c_twice_kills_the_agents_releases_claims_and_keeps_their_work() {
    let (env, mut child, marker) = hanging_swarm(900_000, 3, 2, true);
    signal(&mut child, nix::sys::signal::Signal::SIGINT);
    // A second Ctrl-C counts only after 0.5 s (a quicker one is git's echo of the first).
    std::thread::sleep(std::time::Duration::from_millis(700));
    signal(&mut child, nix::sys::signal::Signal::SIGINT);
    let started = std::time::Instant::now();
    let out = child.wait_with_output();
    let err = stderr(&out);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert_eq!(
        processes_with(&format!("sleep {marker}")),
        0,
        "agents were killed"
    );
    assert_eq!(states(&env), (3, 0, 0), "claims released\n{err}");
    let o = outcomes(&env);
    assert_eq!(o.get("interrupted"), Some(&2), "{o:?}");
    // Each agent's committed work is kept.
    let keep = env.git(&["for-each-ref", "--format=%(refname)", "refs/oompa/keep/"]);
    assert_eq!(keep.lines().count(), 2, "{keep}");
    for k in keep.lines() {
        let w = k.split('/').nth(4).unwrap();
        env.git(&["cat-file", "-e", &format!("{k}:wip/{w}.txt")]);
    }
    assert_clean_up(&env);
    env.assert_fsck_clean();
}

#[test]
fn sigkill_then_restart_loses_no_task_and_no_commit() {
    let (env, mut child, marker) = hanging_swarm(800_000, 3, 2, true);
    let branches = env.git(&[
        "for-each-ref",
        "--format=%(refname) %(objectname)",
        "refs/heads/oompa/",
    ]);
    child.child().kill().unwrap(); // SIGKILL
    let _ = child.child().wait();
    kill_processes_with(&format!("sleep {marker}")); // the agents' own process groups survive it
    assert_eq!(states(&env).1, 2, "claims are still held by the dead swarm");

    // The next git oompa command returns them and keeps the work.
    let out = env.oompa(&["task", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("returned claims of gone owners to pending"),
        "{}",
        stderr(&out)
    );
    assert_eq!(states(&env), (3, 0, 0));
    let keep = env.git(&["for-each-ref", "--format=%(objectname)", "refs/oompa/keep/"]);
    for line in branches.lines() {
        let tip = line.split_whitespace().nth(1).unwrap();
        assert!(
            keep.contains(tip),
            "branch tip {tip} of {line} is kept:\n{keep}"
        );
    }

    // A new swarm finishes the work.
    std::fs::write(
        env.repo.join("oompa.toml"),
        format!(
            "error_backoff = 0\n{}",
            worker_table(
                "polite",
                2,
                "max_cycles = 10\ncan_plan = false\nmax_wait_for_tasks = \"5s\""
            )
        ),
    )
    .unwrap();
    let out = env.oompa(&["swarm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(states(&env), (0, 0, 3));
    assert_eq!(
        env.git(&["for-each-ref", "refs/oompa/keep/"])
            .lines()
            .count(),
        2
    );
    env.assert_fsck_clean();
}

#[test]
fn landing_waits_for_the_users_uncommitted_edits_and_never_touches_them() {
    let env = swarm_repo(1, &worker_table("readme", 1, "max_cycles = 1"));
    // The user is editing README.md in the checkout of main.
    std::fs::write(
        env.repo.join("README.md"),
        "# test project\nmy unsaved edit\n",
    )
    .unwrap();
    let mut child = spawn_swarm(&env, None);
    let stderr_pipe = child.child().stderr.take().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let seen = std::sync::Arc::clone(&seen);
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr_pipe)
                .lines()
                .map_while(Result::ok)
            {
                let mut s = seen.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        })
    };
    wait_for("the landing to pause", || {
        seen.lock().unwrap().contains("landing paused")
    });
    let msg = seen.lock().unwrap().clone();
    assert!(
        msg.contains("README.md"),
        "the message names the file:\n{msg}"
    );
    assert!(msg.contains("commit or stash"), "{msg}");
    // Nothing of the user's was touched, and main did not move.
    std::thread::sleep(std::time::Duration::from_millis(700));
    assert_eq!(
        std::fs::read_to_string(env.repo.join("README.md")).unwrap(),
        "# test project\nmy unsaved edit\n"
    );
    assert_eq!(
        env.git(&["log", "--format=%s", "-1", "main"]).trim(),
        "initial commit"
    );
    // The user puts the edit away; the landing goes through by itself.
    env.git(&["stash", "-q"]);
    let out = child.wait_with_output();
    reader.join().unwrap();
    assert!(out.status.success(), "{}", seen.lock().unwrap());
    assert_eq!(states(&env), (0, 0, 1));
    assert_eq!(
        std::fs::read_to_string(env.repo.join("README.md")).unwrap(),
        "# test project\nline from w0\n"
    );
    assert_eq!(
        env.git(&["status", "--porcelain", "--untracked-files=no"])
            .trim(),
        ""
    );
}

#[test]
fn the_demo_runs_without_an_api_key() {
    let env = TestEnv::new();
    let dir = env.tmp.path().join("demo");
    let out = env
        .oompa_cmd(&["demo", dir.to_str().unwrap()])
        .env("PATH", crate::common::path_with_bin())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("WORKER") && text.contains("OUTCOME"),
        "summary and log tables:\n{text}"
    );
    assert!(
        stderr(&out).contains(&format!("A short tour, in {}:", dir.display())),
        "{}",
        stderr(&out)
    );
    let log = std::process::Command::new("git")
        .arg("-C")
        .arg(&dir)
        .args(["log", "--format=%s", "main"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&log.stdout)
            .lines()
            .filter(|l| l.starts_with("Land "))
            .count(),
        6
    );
    assert!(dir.join("phrases/french.txt").is_file());
}

#[test]
fn worktrees_stay_warm_across_cycles_and_get_the_copied_files_but_never_commit_them() {
    let env = swarm_repo(
        2,
        &worker_with_env(
            "polite",
            1,
            "max_cycles = 2\ncan_plan = false",
            &[("FAKE_WARM", "1")],
        ),
    );
    let config = std::fs::read_to_string(env.repo.join("oompa.toml")).unwrap();
    std::fs::write(
        env.repo.join("oompa.toml"),
        format!("copy = [\".env\"]\n{config}"),
    )
    .unwrap();
    std::fs::write(env.repo.join(".gitignore"), "build/\n").unwrap();
    env.git(&["add", ".gitignore"]);
    env.git(&["commit", "-q", "-m", "ignore build outputs"]);
    std::fs::write(env.repo.join(".env"), "SECRET=1\n").unwrap();
    let out = env.oompa(&["swarm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let first = env.git(&["show", "main:work/t00.txt"]);
    let second = env.git(&["show", "main:work/t01.txt"]);
    assert!(
        first.contains("env: SECRET=1") && !first.contains("warm"),
        "{first}"
    );
    assert!(
        second.contains("warm build cache"),
        "the ignored cache survived the refresh:\n{second}"
    );
    let tree = env.git(&["ls-tree", "-r", "--name-only", "main"]);
    assert!(!tree.contains(".env") && !tree.contains("build/"), "{tree}");
}

#[test]
fn config_errors_name_file_line_and_key() {
    let env = swarm_repo(1, &worker_table("polite", 1, "max_cycle = 3"));
    let out = env.oompa(&["swarm"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("oompa.toml:") && err.contains("max_cycle") && err.contains("max_cycles"),
        "{err}"
    );
    let out = env.oompa(&["swarm", "nope.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nope.toml"), "{}", stderr(&out));
    std::fs::write(
        env.repo.join("oompa.toml"),
        "[[worker]]\nmodel = \"gpt-5\"\n",
    )
    .unwrap();
    let err = stderr(&env.oompa(&["swarm"]));
    assert!(
        err.contains("oompa.toml:2") && err.contains("unknown harness `gpt-5`"),
        "{err}"
    );
    let out = env.oompa(&["swarm", "--target", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn claiming_a_task_someone_else_holds_is_refused_and_reported() {
    let env = swarm_repo(1, &worker_table("steal", 1, "max_cycles = 1"));
    let log = env.tmp.path().join("prompts.log");
    env.oompa_ok(&["task", "claim", "t00", "--worker", "human"]);
    let config = std::fs::read_to_string(env.repo.join("oompa.toml")).unwrap();
    let config = config.replace(
        "env = { FAKE_MODE = \"steal\" }",
        &format!(
            "env = {{ FAKE_MODE = \"steal\", FAKE_PROMPT_LOG = \"{}\" }}",
            log.display()
        ),
    );
    std::fs::write(env.repo.join("oompa.toml"), config).unwrap();
    let out = env.oompa(&["swarm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("t00 taken by human"),
        "{}",
        stderr(&out)
    );
    let prompts = std::fs::read_to_string(&log).unwrap();
    assert!(
        prompts.contains("t00 (held by human)"),
        "the claim results reach the agent:\n{prompts}"
    );
    assert_eq!(outcomes(&env).get("done"), Some(&1));
    let task: serde_json::Value =
        serde_json::from_str(&env.oompa_ok(&["task", "show", "t00", "--json"])).unwrap();
    assert_eq!(task["claim"]["worker"], "human", "the holder keeps it");
}

#[test]
fn silent_agents_are_resumed_in_the_same_session_nudged_then_stuck() {
    let env = swarm_repo(
        1,
        &worker_table("silent", 1, "max_cycles = 1\nmax_resumes = 3"),
    );
    let log = env.tmp.path().join("prompts.log");
    let config = std::fs::read_to_string(env.repo.join("oompa.toml")).unwrap();
    let config = config.replace(
        "env = { FAKE_MODE = \"silent\" }",
        &format!(
            "env = {{ FAKE_MODE = \"silent\", FAKE_PROMPT_LOG = \"{}\" }}",
            log.display()
        ),
    );
    std::fs::write(env.repo.join("oompa.toml"), config).unwrap();
    let out = env.oompa(&["swarm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let prompts = std::fs::read_to_string(&log).unwrap();
    let headers: Vec<&str> = prompts.lines().filter(|l| l.starts_with("=== ")).collect();
    assert_eq!(headers.len(), 3, "{prompts}");
    assert!(headers[0].contains("resume= "), "{headers:?}");
    assert!(
        headers[1].contains("resume=1") && headers[2].contains("resume=1"),
        "{headers:?}"
    );
    let session = |h: &str| h.split("session=").nth(1).unwrap().to_string();
    assert_eq!(
        session(headers[0]),
        session(headers[2]),
        "one session for the whole cycle"
    );
    assert!(
        prompts.contains("How this swarm works"),
        "the fresh prompt has the task header"
    );
    assert_eq!(
        prompts
            .matches("You have not ended a message with a signal")
            .count(),
        1,
        "nudged once, on the last turn"
    );
    let repo = env.open();
    let (entries, _) = Notes::new(&repo).read_all().unwrap();
    assert_eq!(entries[0].record.outcome.to_string(), "stuck");
    assert_eq!(entries[0].record.turns, 3);
    assert_eq!(entries[0].record.sessions.len(), 1);
}

#[test]
fn status_shows_a_running_swarm_its_workers_and_claims() {
    let (env, mut child, _) = hanging_swarm(700_000, 2, 1, false);
    let status = env.oompa_ok(&["status"]);
    assert!(
        status.contains("queue: 1 pending, 1 claimed, 0 complete"),
        "{status}"
    );
    assert!(status.contains("running"), "{status}");
    assert!(status.contains("w0: t0"), "{status}");
    let json: serde_json::Value =
        serde_json::from_str(&env.oompa_ok(&["status", "--json"])).unwrap();
    assert_eq!(json["running"].as_array().unwrap().len(), 1);
    signal(&mut child, nix::sys::signal::Signal::SIGINT);
    // A second Ctrl-C counts only after 0.5 s (a quicker one is git's echo of the first).
    std::thread::sleep(std::time::Duration::from_millis(700));
    signal(&mut child, nix::sys::signal::Signal::SIGINT);
    let out = child.wait_with_output();
    assert_eq!(out.status.code(), Some(130));
    let status = env.oompa_ok(&["status"]);
    assert!(status.contains("none running"), "{status}");
}

#[test]
fn check_lists_the_agent_clis_on_path() {
    let env = TestEnv::new();
    let bin = env.tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let claude = bin.join("claude");
    std::fs::write(&claude, "#!/bin/sh\necho '9.9.9 (Claude Code)'\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&claude, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = env
        .oompa_cmd(&["check"])
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let line = |h: &str| {
        text.lines()
            .find(|l| l.starts_with(h))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line("claude").contains("found") && line("claude").contains("9.9.9 (Claude Code)"),
        "{text}"
    );
    for h in ["codex", "opencode", "gemini"] {
        assert!(line(h).contains("missing"), "{text}");
    }
    let json = env
        .oompa_cmd(&["check", "--json"])
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .output()
        .unwrap();
    let rows = crate::common::json_rows(&stdout(&json));
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["harness"], "claude");
    assert_eq!(rows[0]["found"], true);
    assert_eq!(rows[0]["cli_version"], "9.9.9 (Claude Code)");
}

#[test]
fn a_conflicting_worker_resolves_in_its_own_session_and_both_land() {
    let env = swarm_repo(
        2,
        &worker_with_env(
            "conflict",
            2,
            "max_cycles = 1\ncan_plan = false\nmax_wait_for_tasks = \"5s\"",
            &[("FAKE_RESOLVE", "1")],
        ),
    );
    std::fs::write(env.repo.join("shared.txt"), "original line\n").unwrap();
    env.git(&["add", "shared.txt"]);
    env.git(&["commit", "-q", "-m", "shared file"]);
    let out = env.oompa(&["swarm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let o = outcomes(&env);
    assert_eq!(o.get("merged"), Some(&2), "{o:?}\n{}", stderr(&out));
    assert_eq!(states(&env), (0, 0, 2));
    // Both sides survive on main, in order, with no conflict markers.
    let shared = env.git(&["show", "main:shared.txt"]);
    let lines: Vec<&str> = shared.lines().collect();
    assert_eq!(lines.len(), 2, "{shared}");
    assert!(
        lines.iter().all(|l| l.starts_with("line written by w")),
        "{shared}"
    );
    // Two landings with trailers; the second one carries the resolution merge.
    let landings = env.git(&["log", "--first-parent", "--format=%s", "main"]);
    assert_eq!(
        landings
            .lines()
            .filter(|l| l.starts_with("Land t0"))
            .count(),
        2,
        "{landings}"
    );
    let resolution = env.git(&["log", "--format=%s", "main"]);
    assert!(
        resolution.contains("Merge main into oompa/"),
        "{resolution}"
    );
    // The resolved cycle records the conflict it went through and its two turns after the first.
    let repo = env.open();
    let (entries, _) = Notes::new(&repo).read_all().unwrap();
    let resolved: Vec<_> = entries
        .iter()
        .filter(|e| !e.record.conflicts.is_empty())
        .collect();
    assert_eq!(resolved.len(), 1, "{entries:?}");
    assert_eq!(resolved[0].record.conflicts, vec!["shared.txt"]);
    assert_eq!(resolved[0].record.outcome.to_string(), "merged");
    assert!(
        resolved[0].record.turns >= 3,
        "claim, work, resolve: {}",
        resolved[0].record.turns
    );
    assert_eq!(
        resolved[0].record.sessions.len(),
        1,
        "the resolver turn resumed the same session"
    );
    assert!(stderr(&out).contains("turn 3: merge"), "{}", stderr(&out));
    assert_clean_up(&env);
    env.assert_fsck_clean();
}

/// A `[review]` table with fake reviewers, one `exec:` model per FAKE_REVIEW mode.
pub fn review_table(modes: &[&str], max_rounds: u32, log: Option<&std::path::Path>) -> String {
    let script = format!(
        "{}/tests/fake-agents/reviewer.sh",
        env!("CARGO_MANIFEST_DIR")
    );
    let log = log
        .map(|l| format!("FAKE_REVIEW_LOG={} ", l.display()))
        .unwrap_or_default();
    let models: Vec<String> = modes
        .iter()
        .map(|m| format!("\"exec:{log}FAKE_REVIEW={m} sh {script}\""))
        .collect();
    format!(
        "[review]\nmodels = [{}]\nmax_rounds = {max_rounds}\n",
        models.join(", ")
    )
}

#[test]
fn a_reviewer_that_rejects_once_gets_a_fix_from_the_same_session_then_approves() {
    let prompts = TestEnv::new().tmp.path().to_path_buf();
    let env = swarm_repo(1, &worker_table("polite", 1, "max_cycles = 1"));
    let agent_log = env.tmp.path().join("agent.log");
    let review_log = env.tmp.path().join("review.log");
    let _ = prompts;
    let config = std::fs::read_to_string(env.repo.join("oompa.toml"))
        .unwrap()
        .replace(
            "env = { FAKE_MODE = \"polite\" }",
            &format!(
                "env = {{ FAKE_MODE = \"polite\", FAKE_PROMPT_LOG = \"{}\" }}",
                agent_log.display()
            ),
        );
    std::fs::write(
        env.repo.join("oompa.toml"),
        format!(
            "{config}\n{}",
            review_table(&["once"], 3, Some(&review_log))
        ),
    )
    .unwrap();
    let out = env.oompa(&["swarm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("review round 1 by exec:") && err.contains("needs-changes"),
        "{err}"
    );
    assert!(err.contains("review round 2 by exec:"), "{err}");

    let repo = env.open();
    let (entries, _) = Notes::new(&repo).read_all().unwrap();
    let r = &entries[0].record;
    assert_eq!(r.outcome.to_string(), "merged");
    assert_eq!(r.review.len(), 2);
    assert_eq!(r.review[0].verdict, "needs-changes");
    assert!(
        r.review[0].findings.contains("must say it was reviewed"),
        "{:?}",
        r.review[0]
    );
    assert_eq!(r.review[1].verdict, "approved");
    assert_eq!(
        r.sessions.len(),
        1,
        "the fix turn resumed the worker's own session"
    );
    let agent_prompts = std::fs::read_to_string(&agent_log).unwrap();
    let fix = agent_prompts
        .split("=== ")
        .find(|p| p.contains("## Review: changes needed"))
        .expect("a fix turn");
    assert!(
        fix.contains("resume=1") && fix.contains("must say it was reviewed"),
        "{fix}"
    );

    // The reviewer saw the tasks with their acceptance, the diff against the merge base, and
    // in round 2 only round 1's findings.
    let reviews = std::fs::read_to_string(&review_log).unwrap();
    let rounds: Vec<&str> = reviews.split("=== round ").skip(1).collect();
    assert_eq!(rounds.len(), 2);
    assert!(
        rounds[0].contains("`t00`: Task number 0") && rounds[0].contains("+done by w0"),
        "{}",
        rounds[0]
    );
    assert!(!rounds[0].contains("Previous review"));
    assert!(
        rounds[1].contains("## Previous review (round 1)")
            && rounds[1].contains("+reviewed and fixed"),
        "{}",
        rounds[1]
    );

    let landed = env.git(&[
        "log",
        "-1",
        "--format=%(trailers:key=Oompa-Review-Rounds,valueonly)",
        "main",
    ]);
    assert_eq!(landed.trim(), "2");
    assert!(
        env.git(&["show", "main:work/t00.txt"])
            .contains("reviewed and fixed")
    );
    let show = env.oompa_ok(&["log", "--show", "w0/1"]);
    assert!(
        show.contains("needs-changes")
            && show.contains("approved")
            && show.contains("must say it was reviewed"),
        "{show}"
    );
}

#[test]
fn a_reviewer_that_always_rejects_ends_the_cycle_rejected_with_claims_back_and_work_kept() {
    let env = swarm_repo(
        1,
        &format!(
            "{}\n{}",
            worker_table("polite", 1, "max_cycles = 1"),
            review_table(&["reject"], 2, None)
        ),
    );
    let out = env.oompa(&["swarm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let repo = env.open();
    let (entries, _) = Notes::new(&repo).read_all().unwrap();
    let r = &entries[0].record;
    assert_eq!(r.outcome.to_string(), "rejected");
    assert_eq!(r.review.len(), 2);
    assert_eq!(states(&env), (1, 0, 0), "the claim went back to pending");
    let kept = r.kept.as_deref().expect("work kept");
    assert!(
        env.git(&["show", &format!("{kept}:work/t00.txt")])
            .contains("reviewed and fixed")
    );
    assert_eq!(
        env.git(&["log", "--format=%s", "-1", "main"]).trim(),
        "initial commit"
    );
    assert_clean_up(&env);
}

#[test]
fn reviewers_fall_back_in_order_and_an_answer_without_verdict_counts_as_needs_changes() {
    let env = swarm_repo(
        1,
        &format!(
            "{}\n{}",
            worker_table("polite", 1, "max_cycles = 1"),
            review_table(&["fail", "babble"], 1, None)
        ),
    );
    let out = env.oompa(&["swarm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let repo = env.open();
    let (entries, _) = Notes::new(&repo).read_all().unwrap();
    let r = &entries[0].record;
    assert_eq!(r.outcome.to_string(), "rejected");
    assert!(
        r.review[0].reviewer.contains("FAKE_REVIEW=babble"),
        "{:?}",
        r.review[0]
    );
    assert!(!r.review[0].parsed);
    assert!(
        r.review[0].findings.contains("mostly fine"),
        "raw text kept: {:?}",
        r.review[0]
    );

    // All reviewers failing is an error, not an approval.
    std::fs::write(
        env.repo.join("oompa.toml"),
        format!(
            "error_backoff = 0\n{}\n{}",
            worker_table("polite", 1, "max_cycles = 1"),
            review_table(&["fail"], 1, None)
        ),
    )
    .unwrap();
    let out = env.oompa(&["swarm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no reviewer answered"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        env.git(&["log", "--format=%s", "-1", "main"]).trim(),
        "initial commit"
    );
}

#[test]
fn workers_can_opt_out_of_review() {
    let env = swarm_repo(
        1,
        &format!(
            "{}\n{}",
            worker_table("polite", 1, "max_cycles = 1\nreview = false"),
            review_table(&["reject"], 1, None)
        ),
    );
    let out = env.oompa(&["swarm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(states(&env), (0, 0, 1));
    let rounds = env.git(&[
        "log",
        "-1",
        "--format=%(trailers:key=Oompa-Review-Rounds,valueonly)",
        "main",
    ]);
    assert_eq!(rounds.trim(), "0");
}

/// Two conflicting workers under review; the second resolves with `FAKE_RESOLVE=<resolve>`.
/// Returns the review rounds of the cycle that resolved a conflict.
fn resolved_review_rounds(resolve: &str) -> usize {
    let workers = worker_with_env(
        "conflict",
        2,
        "max_cycles = 1\ncan_plan = false\nmax_wait_for_tasks = \"5s\"",
        &[("FAKE_RESOLVE", resolve)],
    );
    let env = swarm_repo(
        2,
        &format!("{workers}\n{}", review_table(&["approve"], 3, None)),
    );
    std::fs::write(env.repo.join("shared.txt"), "original line\n").unwrap();
    env.git(&["add", "shared.txt"]);
    env.git(&["commit", "-q", "-m", "shared file"]);
    let out = env.oompa(&["swarm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(states(&env), (0, 0, 2), "{}", stderr(&out));
    let repo = env.open();
    let (entries, _) = Notes::new(&repo).read_all().unwrap();
    let resolved = entries
        .iter()
        .find(|e| !e.record.conflicts.is_empty())
        .expect("a resolved conflict");
    resolved.record.review.len()
}

#[test]
fn a_resolution_inside_the_conflict_is_not_reviewed_again_one_beyond_it_is() {
    assert_eq!(resolved_review_rounds("1"), 1);
    assert_eq!(resolved_review_rounds("beyond"), 2);
}

#[test]
fn a_planner_fills_the_queue_for_two_executors_within_max_pending() {
    let env = swarm_repo(
        0,
        &worker_table(
            "polite",
            2,
            "max_cycles = 10\ncan_plan = false\nmax_wait_for_tasks = \"30s\"",
        ),
    );
    let refusals = env.tmp.path().join("refusals.log");
    let config = std::fs::read_to_string(env.repo.join("oompa.toml")).unwrap();
    std::fs::write(
        env.repo.join("oompa.toml"),
        format!(
            "{config}\n[planner]\nmodel = \"exec:sh {}/tests/fake-agents/planner.sh\"\nmax_pending = 3\nenv = {{ FAKE_PLAN_TOTAL = \"5\", FAKE_PLAN_ERR = \"{}\" }}\n",
            env!("CARGO_MANIFEST_DIR"),
            refusals.display()
        ),
    )
    .unwrap();
    let out = env.oompa(&["swarm"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(states(&env), (0, 0, 5), "{err}");
    assert!(err.contains("[planner] round 1: added p0, p1, p2"), "{err}");
    assert!(err.contains("[planner] round 2: added p3, p4"), "{err}");
    assert!(err.contains("nothing more to plan"), "{err}");
    assert!(
        std::fs::read_to_string(&refusals)
            .unwrap()
            .contains("the queue is full")
    );

    // The queue never held more than max_pending pending tasks, and planning came first.
    let history = env.git(&["log", "--reverse", "--format=%H %s", "refs/oompa/tasks"]);
    let mut first_claim = None;
    for (i, line) in history.lines().enumerate() {
        let (commit, subject) = line.split_once(' ').unwrap();
        let n = env
            .git_cmd(&["ls-tree", "--name-only", &format!("{commit}:pending")])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).lines().count())
            .unwrap_or(0);
        assert!(n <= 3, "{n} pending after `{subject}`");
        if subject.starts_with("claim") && first_claim.is_none() {
            first_claim = Some(i);
        }
    }
    let first_add = history
        .lines()
        .position(|l| l.contains("add p0 by"))
        .unwrap();
    assert!(first_add < first_claim.unwrap(), "{history}");
    assert!(
        history.contains("by ") && history.contains("/planner"),
        "{history}"
    );

    let repo = env.open();
    let (entries, _) = Notes::new(&repo).read_all().unwrap();
    let planner: Vec<_> = entries
        .iter()
        .filter(|e| e.record.worker == "planner")
        .collect();
    assert_eq!(planner.len(), 3);
    assert_clean_up(&env);
}

#[test]
fn prediction_flags_overlapping_branches_before_either_lands() {
    let workers = worker_with_env(
        "conflict",
        2,
        "max_cycles = 1\ncan_plan = false\nmax_wait_for_tasks = \"5s\"",
        &[("FAKE_LINGER", "3")],
    );
    let env = swarm_repo(2, &format!("max_conflict_rounds = 0\n{workers}"));
    std::fs::write(env.repo.join("shared.txt"), "original line\n").unwrap();
    env.git(&["add", "shared.txt"]);
    env.git(&["commit", "-q", "-m", "shared file"]);
    let main_before = env.git(&["rev-parse", "main"]);
    let child = spawn_swarm(&env, None);
    let mut status = String::new();
    wait_for("status to show the predicted conflict", || {
        status = env.oompa_ok(&["status"]);
        status.contains("predicted conflicts:")
    });
    assert!(
        status.contains("w0 × w1: shared.txt") || status.contains("w1 × w0: shared.txt"),
        "{status}"
    );
    assert_eq!(
        env.git(&["rev-parse", "main"]),
        main_before,
        "flagged before either landed"
    );
    let out = child.wait_with_output();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("landing conflicts: 1 (1 predicted"),
        "{}",
        stderr(&out)
    );
    let repo = env.open();
    let (entries, _) = Notes::new(&repo).read_all().unwrap();
    let conflicted = entries
        .iter()
        .find(|e| e.record.outcome.to_string() == "conflict")
        .expect("one conflict");
    assert_eq!(conflicted.record.conflict_predicted, Some(true));
}

#[test]
fn a_missing_agent_cli_stops_the_swarm_before_it_starts() {
    let env = swarm_repo(
        1,
        "[[worker]]\nmodel = \"claude:sonnet\"\n\n[review]\nmodels = [\"codex\"]\n",
    );
    let out = env
        .oompa_cmd(&["swarm"])
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    // Every missing CLI at once, not one per attempt.
    assert!(
        err.contains(
            "error: agent CLIs not on PATH: `claude` (for w0), `codex` (for w0's reviewer)"
        ),
        "{err}"
    );
    assert!(
        err.contains("hint: install them (`git oompa check`")
            && err.contains("change the models in oompa.toml"),
        "{err}"
    );
    assert_eq!(states(&env), (1, 0, 0), "nothing was claimed");
    assert_clean_up(&env);
}

#[test]
fn the_worktree_dir_comes_from_git_config_and_stays_out_of_git_status() {
    let env = swarm_repo(1, &worker_table("nochange", 1, "max_cycles = 1"));
    env.git(&["config", "oompa.worktreeDir", "agents-wt"]);
    let out = env.oompa(&["swarm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let exclude = std::fs::read_to_string(env.repo.join(".git/info/exclude")).unwrap();
    assert!(exclude.contains("/agents-wt/"), "{exclude}");
    let transcripts = std::fs::read_dir(env.repo.join(".git/oompa/transcripts"))
        .unwrap()
        .count();
    assert_eq!(transcripts, 1);
    // The worker's worktree lived under agents-wt (removed at the end; its parent stays).
    assert!(env.repo.join("agents-wt").is_dir());
    assert_eq!(
        env.git(&["status", "--porcelain", "--", "agents-wt"])
            .trim(),
        ""
    );
}
