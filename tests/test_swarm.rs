//! `git oompa swarm` end to end with fake agents (`tests/fake-agents/agent.sh`).

use std::collections::BTreeMap;

use oompa::store::notes::Notes;
use oompa::store::{Queue, State};

use crate::common::{TestEnv, stderr, stdout};

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

pub fn worker_table(mode: &str, count: u32, extra: &str) -> String {
    format!(
        "[[worker]]\nmodel = \"{}\"\ncount = {count}\nenv = {{ FAKE_MODE = \"{mode}\" }}\n{extra}\n",
        fake_model()
    )
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
fn states(env: &TestEnv) -> (usize, usize, usize) {
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
        worker_table("polite", 1, "name = \"good\"\nmax_cycles = 20\ncan_plan = false\nmax_wait_for_tasks = \"30s\""),
        worker_table("crash", 1, "name = \"crash\"\nmax_errors = 2\n[worker.env]\nFAKE_MODE = \"crash\"\nFAKE_CLAIM_FIRST = \"1\""),
        worker_table("hang", 1, "name = \"hang\"\nmax_cycles = 1\nturn_timeout = \"1s\"\n[worker.env]\nFAKE_MODE = \"hang\"\nFAKE_CLAIM_FIRST = \"1\""),
        worker_table("silent", 1, "name = \"silent\"\nmax_cycles = 1\nmax_resumes = 2"),
        worker_table("spam", 1, "name = \"spam\"\nmax_cycles = 1"),
        worker_table("steal", 1, "name = \"steal\"\nmax_cycles = 1\nwait_between = 0"),
        worker_table("nochange", 1, "name = \"nochange\"\nmax_cycles = 1"),
    ]
    .join("\n");
    // `worker_table` writes `env = {…}` inline; the two with [worker.env] tables override it.
    let workers = workers.replace(
        "env = { FAKE_MODE = \"crash\" }\nname = \"crash\"",
        "name = \"crash\"",
    );
    let workers = workers.replace(
        "env = { FAKE_MODE = \"hang\" }\nname = \"hang\"",
        "name = \"hang\"",
    );
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
    let env = swarm_repo(
        2,
        &worker_table(
            "conflict",
            2,
            "max_cycles = 1\ncan_plan = false\nmax_wait_for_tasks = \"5s\"",
        ),
    );
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

/// Starts `git oompa swarm` in the background.
fn spawn_swarm(env: &TestEnv) -> std::process::Child {
    env.oompa_cmd(&["swarm"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until `f` holds (up to 20 s).
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn signal(child: &std::process::Child, sig: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, sig).unwrap();
}

/// Processes whose command line contains `needle`.
fn processes_with(needle: &str) -> usize {
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

fn kill_processes_with(needle: &str) {
    let _ = std::process::Command::new("pkill")
        .args(["-f", needle])
        .status();
}

#[test]
fn ctrl_c_once_finishes_turns_in_flight_lands_what_is_ready_and_releases_the_rest() {
    // Each turn sleeps 2 s, then claims, works and signals merge in the same turn.
    let env = swarm_repo(
        4,
        &worker_table(
            "cli",
            2,
            "max_cycles = 5\n[worker.env]\nFAKE_MODE = \"cli\"\nFAKE_SLEEP = \"2\"",
        )
        .replace("env = { FAKE_MODE = \"cli\" }\n", ""),
    );
    let child = spawn_swarm(&env);
    let transcripts = env.repo.join(".git/oompa/transcripts");
    wait_for("both agents to start", || {
        walk(&transcripts)
            .iter()
            .filter(|p| p.ends_with("cycle-1.log"))
            .count()
            == 2
    });
    signal(&child, nix::sys::signal::Signal::SIGINT);
    let out = child.wait_with_output().unwrap();
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
    let marker = format!("{}", 900_000 + std::process::id() % 90_000);
    let env = swarm_repo(
        3,
        &worker_table("hang", 2, &format!("max_cycles = 1\n[worker.env]\nFAKE_MODE = \"hang\"\nFAKE_CLAIM_FIRST = \"1\"\nFAKE_COMMIT_FIRST = \"1\"\nFAKE_HANG = \"{marker}\""))
            .replace("env = { FAKE_MODE = \"hang\" }\n", ""),
    );
    let child = spawn_swarm(&env);
    wait_for("both agents to claim and hang", || {
        states(&env).1 == 2 && processes_with(&format!("sleep {marker}")) == 2
    });
    signal(&child, nix::sys::signal::Signal::SIGINT);
    std::thread::sleep(std::time::Duration::from_millis(300));
    signal(&child, nix::sys::signal::Signal::SIGINT);
    let started = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
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
    let marker = format!("{}", 800_000 + std::process::id() % 90_000);
    let env = swarm_repo(
        3,
        &worker_table("hang", 2, &format!("max_cycles = 1\n[worker.env]\nFAKE_MODE = \"hang\"\nFAKE_CLAIM_FIRST = \"1\"\nFAKE_COMMIT_FIRST = \"1\"\nFAKE_HANG = \"{marker}\""))
            .replace("env = { FAKE_MODE = \"hang\" }\n", ""),
    );
    let mut child = spawn_swarm(&env);
    wait_for("both agents to claim and hang", || {
        states(&env).1 == 2 && processes_with(&format!("sleep {marker}")) == 2
    });
    let branches = env.git(&[
        "for-each-ref",
        "--format=%(refname) %(objectname)",
        "refs/heads/oompa/",
    ]);
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
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

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
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
    let mut child = spawn_swarm(&env);
    let stderr_pipe = child.stderr.take().unwrap();
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
    let out = child.wait_with_output().unwrap();
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
        stderr(&out).contains(&format!("look around in {}", dir.display())),
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
