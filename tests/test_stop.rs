//! Long swarms left alone (issue 12): `stop`, `stop --now`, `swarm --detach`, the registry of
//! running swarms, one Ctrl-C seen twice through git, no agent outliving a SIGKILLed swarm, a
//! swarm in which every cycle failed, and an `exec:` agent that does not exist.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use oompa::store::Queue;

use crate::common::swarm::{
    outcomes, processes_with, states, swarm_repo, wait_for, worker_with_env,
};
use crate::common::{TestEnv, path_with_bin, stderr, stdout};

/// A repository with `n` tasks and one worker table running the fake agent in `mode`.
fn repo(n: usize, mode: &str, count: u32, extra: &str, vars: &[(&str, &str)]) -> TestEnv {
    swarm_repo(
        n,
        &format!("{extra}\n{}", worker_with_env(mode, count, "", vars)),
    )
}

/// A number unique to this test run, so `sleep <marker>` finds only this test's agents.
fn marker(base: u32) -> String {
    (base + std::process::id() % 90_000).to_string()
}

/// Kills what a failed test left running: a child and every `sleep <marker>`.
struct Cleanup<'a> {
    child: Option<Child>,
    pid: Option<u32>,
    marker: &'a str,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(pid) = self.pid {
            let _ = kill(
                Pid::from_raw(i32::try_from(pid).expect("pid")),
                Signal::SIGKILL,
            );
        }
        let _ = Command::new("pkill")
            .args(["-f", &format!("sleep {}", self.marker)])
            .status();
    }
}

fn spawn(cmd: &mut Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

fn wait_output(child: &mut Option<Child>) -> Output {
    child
        .take()
        .expect("running")
        .wait_with_output()
        .expect("wait")
}

/// SIGKILLs the swarm process (nothing of it runs its clean-up) and reaps it.
fn sigkill_swarm(child: &mut Option<Child>) {
    child.as_mut().expect("swarm").kill().expect("SIGKILL");
    let _ = wait_output(child);
}

/// How the swarm record says the swarm ended.
fn swarm_end(env: &TestEnv) -> Vec<String> {
    let repo = env.open();
    Queue::new(&repo)
        .swarms()
        .expect("swarms")
        .into_iter()
        .map(|s| s.stopped.map(|s| s.reason).unwrap_or_default())
        .collect()
}

fn running_ids(env: &TestEnv) -> Vec<String> {
    let repo = env.open();
    oompa::swarm::registry::list_running(repo.common_dir())
        .into_iter()
        .map(|r| r.id)
        .collect()
}

#[test]
fn stop_from_another_terminal_lets_the_turns_in_flight_land_and_starts_nothing_new() {
    let env = repo(6, "cli", 2, "", &[("FAKE_SLEEP", "2")]);
    let mut guard = Cleanup {
        child: Some(spawn(&mut env.oompa_cmd(&["swarm"]))),
        pid: None,
        marker: "no-marker",
    };
    wait_for("the swarm to register", || running_ids(&env).len() == 1);
    crate::common::swarm::wait_for_first_turns(&env, 2);
    let out = env.oompa(&["stop"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("stopping"), "{}", stderr(&out));
    let out = wait_output(&mut guard.child);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{err}");
    let o = outcomes(&env);
    assert_eq!(o.get("merged"), Some(&2), "{o:?}\n{err}");
    assert_eq!(o.values().sum::<usize>(), 2, "{o:?}\n{err}");
    assert_eq!(states(&env), (4, 0, 2), "{err}");
    assert_eq!(swarm_end(&env), ["interrupted"]);
    assert!(running_ids(&env).is_empty());
    // Every progress line carries the time, on the terminal and in the swarm's log.
    let stamped = |l: &str| {
        let b = l.as_bytes();
        b.len() > 9 && b[2] == b':' && b[5] == b':' && b[8] == b' '
    };
    let cycle_lines: Vec<&str> = err.lines().filter(|l| l.contains("cycle 1")).collect();
    assert!(
        !cycle_lines.is_empty() && cycle_lines.iter().all(|l| stamped(l)),
        "{err}"
    );
    let repo = env.open();
    let id = &Queue::new(&repo).swarms().expect("swarms")[0].id;
    let log = std::fs::read_to_string(oompa::swarm::registry::log_path(repo.common_dir(), id))
        .expect("swarm.log");
    assert!(log.contains("] cycle 1 started"), "{log}");
    assert!(log.lines().all(stamped), "{log}");
}

#[test]
fn stop_now_kills_the_agents_releases_claims_and_keeps_their_work() {
    let m = marker(610_000);
    let env = repo(
        3,
        "hang",
        2,
        "",
        &[
            ("FAKE_CLAIM_FIRST", "1"),
            ("FAKE_COMMIT_FIRST", "1"),
            ("FAKE_HANG", &m),
        ],
    );
    let mut guard = Cleanup {
        child: Some(spawn(&mut env.oompa_cmd(&["swarm"]))),
        pid: None,
        marker: &m,
    };
    wait_for("both agents to hang", || {
        states(&env).1 == 2 && processes_with(&format!("sleep {m}")) == 2
    });
    let out = env.oompa(&["stop", "--now", "--wait"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = wait_output(&mut guard.child);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert_eq!(processes_with(&format!("sleep {m}")), 0, "agents killed");
    assert_eq!(states(&env), (3, 0, 0), "claims released\n{err}");
    assert_eq!(outcomes(&env).get("interrupted"), Some(&2));
    let keep = env.git(&["for-each-ref", "--format=%(refname)", "refs/oompa/keep/"]);
    assert_eq!(keep.lines().count(), 2, "{keep}");
    assert_eq!(swarm_end(&env), ["killed"]);
}

#[test]
fn stop_without_a_running_swarm_says_so_and_a_wrong_id_is_named() {
    let env = TestEnv::new();
    env.oompa_ok(&["init"]);
    let out = env.oompa(&["stop"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no swarm is running"),
        "{}",
        stderr(&out)
    );
    let out = env.oompa(&["stop", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no swarm `nosuch`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_detached_swarm_starts_in_the_background_shows_in_status_and_stops() {
    let env = repo(8, "cli", 1, "", &[("FAKE_SLEEP", "1")]);
    let out = env.oompa(&["swarm", "--detach"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let line = stdout(&out);
    let fields: Vec<&str> = line.trim().split('\t').collect();
    assert_eq!(fields.len(), 3, "id, pid, log: {line}");
    let (id, pid) = (fields[0], fields[1].parse::<u32>().expect("pid"));
    let _guard = Cleanup {
        child: None,
        pid: Some(pid),
        marker: "no-marker",
    };
    assert!(err.contains(&format!("git oompa stop {id}")), "{err}");
    assert_eq!(running_ids(&env), [id]);
    let status = env.oompa_ok(&["status"]);
    assert!(status.contains(id), "{status}");
    // A second swarm on the same target asks for --force.
    let second = env.oompa(&["swarm"]);
    assert_eq!(second.status.code(), Some(1));
    assert!(
        stderr(&second).contains("already running on `main`"),
        "{}",
        stderr(&second)
    );
    assert!(stderr(&second).contains("--force"), "{}", stderr(&second));
    let log = Path::new(fields[2]);
    wait_for("a cycle to start", || {
        std::fs::read_to_string(log).is_ok_and(|l| l.contains("cycle 1 started"))
    });
    let out = env.oompa(&["stop", "--wait"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(running_ids(&env).is_empty());
    assert_eq!(swarm_end(&env), ["interrupted"]);
    let (pending, current, complete) = states(&env);
    assert_eq!((pending + complete, current), (8, 0));
    let text = std::fs::read_to_string(log).expect("log");
    assert!(text.contains("stopping"), "{text}");
    assert!(text.contains("WORKER"), "the summary is in the log: {text}");
}

#[test]
fn a_detached_swarm_that_fails_preflight_says_why_and_returns_non_zero() {
    let env = TestEnv::new();
    env.oompa_ok(&["init"]);
    std::fs::write(
        env.repo.join("oompa.toml"),
        "[[worker]]\nmodel = \"exec:no-such-agent-cli-4711 --fast\"\n",
    )
    .expect("write");
    let out = env.oompa(&["swarm", "--detach"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no-such-agent-cli-4711"), "{err}");
    assert!(err.contains("did not start"), "{err}");
}

#[test]
fn an_exec_agent_that_does_not_exist_is_refused_at_preflight() {
    let env = TestEnv::new();
    env.oompa_ok(&["init"]);
    std::fs::write(
        env.repo.join("oompa.toml"),
        "[[worker]]\nmodel = \"exec:no-such-agent-cli-4711 --fast\"\n[[worker]]\nname = \"abs\"\nmodel = \"exec:/nonexistent/agent.sh\"\n",
    )
    .expect("write");
    let out = env.oompa(&["swarm"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("`no-such-agent-cli-4711` (for w0)"), "{err}");
    assert!(err.contains("`/nonexistent/agent.sh` (for abs)"), "{err}");
    assert!(env.git(&["worktree", "list"]).lines().count() == 1);
}

#[test]
fn one_ctrl_c_through_git_seen_twice_is_still_a_graceful_stop() {
    let env = repo(6, "cli", 2, "", &[("FAKE_SLEEP", "2")]);
    // `git oompa swarm` as a terminal runs it: git and git-oompa in one foreground process
    // group, which the terminal's Ctrl-C signals as a whole (and git forwards it again).
    let mut git = Command::new("git");
    crate::common::hermetic(&mut git, &env.home);
    git.current_dir(&env.repo)
        .env("PATH", path_with_bin())
        .args(["oompa", "swarm"])
        .stdin(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut git, 0);
    let mut guard = Cleanup {
        child: Some(spawn(&mut git)),
        pid: None,
        marker: "no-marker",
    };
    let group = Pid::from_raw(i32::try_from(guard.child.as_ref().expect("git").id()).expect("pid"));
    crate::common::swarm::wait_for_first_turns(&env, 2);
    killpg(group, Signal::SIGINT).expect("SIGINT");
    std::thread::sleep(Duration::from_millis(5));
    let _ = killpg(group, Signal::SIGINT);
    let out = wait_output(&mut guard.child);
    let err = stderr(&out);
    assert!(!err.contains("killing the agents"), "{err}");
    let o = outcomes(&env);
    assert_eq!(
        o.get("merged"),
        Some(&2),
        "the turns in flight landed: {o:?}\n{err}"
    );
    assert_eq!(o.values().sum::<usize>(), 2, "{o:?}\n{err}");
    assert_eq!(swarm_end(&env), ["interrupted"], "{err}");
}

#[test]
fn no_agent_process_outlives_a_sigkilled_swarm() {
    let m = marker(620_000);
    let child_m = marker(630_000);
    let env = repo(
        2,
        "hang",
        2,
        "",
        &[
            ("FAKE_CLAIM_FIRST", "1"),
            ("FAKE_HANG", &m),
            ("FAKE_CHILD", &child_m),
        ],
    );
    let mut guard = Cleanup {
        child: Some(spawn(&mut env.oompa_cmd(&["swarm"]))),
        pid: None,
        marker: &m,
    };
    wait_for("both agents and their children to run", || {
        processes_with(&format!("sleep {m}")) == 2
            && processes_with(&format!("sleep {child_m}")) == 2
    });
    sigkill_swarm(&mut guard.child);
    // Polled, not timed: the agents, and what they started, go within a few seconds.
    wait_for("every agent process to end", || {
        processes_with(&format!("sleep {m}")) == 0
            && processes_with(&format!("sleep {child_m}")) == 0
    });
    // The next command records the crash and returns the claims.
    env.oompa_ok(&["status"]);
    assert_eq!(states(&env), (2, 0, 0));
    assert_eq!(swarm_end(&env), ["crashed"]);
}

#[test]
fn the_next_command_ends_the_agents_of_a_swarm_that_died_with_its_watchdog() {
    let m = marker(640_000);
    let env = repo(
        1,
        "hang",
        1,
        "",
        &[("FAKE_CLAIM_FIRST", "1"), ("FAKE_HANG", &m)],
    );
    let mut guard = Cleanup {
        child: Some(spawn(&mut env.oompa_cmd(&["swarm"]))),
        pid: None,
        marker: &m,
    };
    wait_for("the agent to hang", || {
        processes_with(&format!("sleep {m}")) == 1
    });
    let swarm_pid = guard.child.as_ref().expect("swarm").id();
    // The watchdog first (as a kill of everything would), then the swarm.
    let watchdogs: Vec<i32> = std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| {
            let e = e.ok()?;
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let ppid: u32 = stat
                .rsplit(')')
                .next()?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            (ppid == swarm_pid && String::from_utf8_lossy(&cmd).contains("swarm-watchdog"))
                .then_some(pid)
        })
        .collect();
    assert_eq!(watchdogs.len(), 1, "one watchdog per swarm");
    kill(Pid::from_raw(watchdogs[0]), Signal::SIGKILL).expect("kill watchdog");
    sigkill_swarm(&mut guard.child);
    env.oompa_ok(&["status"]);
    wait_for("the agent to be ended by recovery", || {
        processes_with(&format!("sleep {m}")) == 0
    });
}

#[test]
fn a_swarm_in_which_every_cycle_failed_exits_non_zero_without_waiting_out_its_back_off() {
    let env = repo(2, "crash", 1, "", &[("FAKE_CLAIM_FIRST", "1")]);
    // A back-off of an hour: a worker that waited it out before finishing would hang here.
    let toml = std::fs::read_to_string(env.repo.join("oompa.toml")).expect("read");
    std::fs::write(
        env.repo.join("oompa.toml"),
        toml.replace("error_backoff = 0", "error_backoff = \"1h\"")
            .replace("count = 1", "count = 1\nmax_cycles = 1"),
    )
    .expect("write");
    let mut guard = Cleanup {
        child: Some(spawn(&mut env.oompa_cmd(&["swarm"]))),
        pid: None,
        marker: "no-marker",
    };
    wait_for("the swarm to finish", || {
        guard
            .child
            .as_mut()
            .expect("swarm")
            .try_wait()
            .expect("wait")
            .is_some()
    });
    let out = wait_output(&mut guard.child);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("every cycle failed (1 cycle)"), "{err}");
    assert!(!err.contains("backing off"), "{err}");
    assert_eq!(states(&env), (2, 0, 0));
}

#[test]
fn log_swarms_lists_each_swarm_with_its_totals_and_how_it_ended() {
    let env = repo(2, "polite", 1, "", &[("FAKE_COST", "0.01")]);
    let out = env.oompa(&["swarm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("spent: $0.0"), "{}", stderr(&out));
    let list = env.oompa_ok(&["log", "--swarms"]);
    let row = list.lines().nth(1).expect("a row");
    for cell in ["main", "completed", "$0.0"] {
        assert!(row.contains(cell), "{list}");
    }
    let rows = crate::common::json_rows(&env.oompa_ok(&["log", "--swarms", "--json"]));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["merged"], 2);
    assert_eq!(rows[0]["failed"], 0);
    assert_eq!(rows[0]["ended"], "completed");
    assert!(rows[0]["tokens"].as_u64().expect("tokens") >= 4400);
    assert!(rows[0]["cost_usd"].as_f64().expect("cost") > 0.03);
    // Plain `log` ends with the swarm's totals; --swarm ID adds each worker's.
    let out = env.oompa(&["log"]);
    assert!(
        stderr(&out).contains("merged, 0 failed"),
        "{}",
        stderr(&out)
    );
    let id = rows[0]["swarm"].as_str().expect("id");
    let one = env.oompa_ok(&["log", "--swarms", "--swarm", &id[..4]]);
    assert!(one.contains("WORKER"), "{one}");
    assert!(one.lines().any(|l| l.starts_with("w0")), "{one}");
}
