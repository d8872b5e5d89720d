//! Swarms of fake agents (`tests/fake-agents/agent.sh`): repositories with tasks and worker
//! tables, a swarm running in the background and the processes it started, and what a swarm
//! leaves behind (cycle records by outcome, tasks by state, the summary table).

use std::collections::BTreeMap;
use std::process::Output;

use oompa::store::notes::Notes;
use oompa::store::record::CycleRecord;
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

/// Runs `git oompa swarm` to its end, asserting it succeeds (saying what it printed if not).
pub fn swarm_ok(env: &TestEnv) -> Output {
    let out = env.oompa(&["swarm"]);
    assert!(
        out.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        stdout(&out),
        stderr(&out)
    );
    out
}

/// Every cycle record of the log, as `Notes::read_all` gives them; asserts that no note is
/// unreadable.
pub fn records(env: &TestEnv) -> Vec<CycleRecord> {
    let repo = env.open();
    let (entries, bad) = Notes::new(&repo).read_all().unwrap();
    assert!(bad.is_empty(), "{bad:?}");
    entries.into_iter().map(|e| e.record).collect()
}

/// Cycle records by outcome.
pub fn outcomes(env: &TestEnv) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in records(env) {
        *m.entry(r.outcome.to_string()).or_default() += 1;
    }
    m
}

/// The task ids of the landings on main's first-parent history (their `Oompa-Task`
/// trailers), sorted; a task landed twice is there twice.
pub fn landed_tasks(env: &TestEnv) -> Vec<String> {
    let log = env.git(&[
        "log",
        "--first-parent",
        "--format=%(trailers:key=Oompa-Task,valueonly)%x00",
        "main",
    ]);
    let mut landed: Vec<String> = log
        .split('\0')
        .flat_map(|c| c.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    landed.sort();
    landed
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
pub fn hanging_swarm(
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

/// Waits until `n` workers' agents have started their first cycle (its transcript exists).
pub fn wait_for_first_turns(env: &TestEnv, n: usize) {
    let transcripts = env.repo.join(".git/oompa/transcripts");
    let what = format!("{n} agent(s) to start");
    wait_for(&what, || {
        crate::common::walk(&transcripts)
            .iter()
            .filter(|p| p.ends_with("cycle-1.log"))
            .count()
            >= n
    });
}

/// Polls `f` every 50 ms until it holds; fails after 30 s (a hang, not a speed target).
pub fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
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
