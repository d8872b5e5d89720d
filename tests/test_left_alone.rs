//! A hostile user of issue 12's long-swarm features (stop, detach, the registry, budgets, the
//! `exec:` limit convention) and the small defects found that way: each test is named after
//! what broke.

use std::path::Path;
use std::process::Output;

use crate::common::swarm::{outcomes, spawn_swarm, states, swarm_repo, wait_for, worker_with_env};
use crate::common::{TestEnv, stderr, write_executable};

/// An `exec:` model that appends the agent's `COLUMNS` and `LINES` (or `unset`) to `log`, then
/// runs the fake agent.
fn env_logging_model(env: &TestEnv, log: &Path) -> String {
    let script = env.tmp.path().join("env-logging-agent.sh");
    write_executable(
        &script,
        &format!(
            "#!/bin/sh\nprintf '%s COLUMNS=%s LINES=%s\\n' \"$OOMPA_WORKER\" \"${{COLUMNS-unset}}\" \"${{LINES-unset}}\" >> {}\nexec sh {}/tests/fake-agents/agent.sh\n",
            log.display(),
            env!("CARGO_MANIFEST_DIR")
        ),
    );
    format!("exec:sh {}", script.display())
}

#[test]
fn agents_do_not_inherit_the_terminals_columns() {
    let env = swarm_repo(2, "");
    let log = env.tmp.path().join("agent-env.txt");
    let model = env_logging_model(&env, &log);
    // w0 inherits whatever the swarm has; `wide` asks for a width in its own `env`.
    std::fs::write(
        env.repo.join("oompa.toml"),
        format!(
            "error_backoff = 0\n\
             [[worker]]\nmodel = \"{model}\"\nmax_cycles = 1\nenv = {{ FAKE_MODE = \"cli\" }}\n\
             [[worker]]\nname = \"wide\"\nmodel = \"{model}\"\nmax_cycles = 1\n\
             env = {{ FAKE_MODE = \"cli\", COLUMNS = \"200\" }}\n"
        ),
    )
    .expect("write oompa.toml");
    let out = env
        .oompa_cmd(&["swarm"])
        .env("COLUMNS", "37")
        .env("LINES", "11")
        .output()
        .expect("run the swarm");
    assert!(out.status.success(), "{}", stderr(&out));
    let seen = std::fs::read_to_string(&log).expect("the agents ran");
    let lines: Vec<&str> = seen.lines().collect();
    assert!(lines.contains(&"w0 COLUMNS=unset LINES=unset"), "{seen}");
    assert!(lines.contains(&"wide COLUMNS=200 LINES=unset"), "{seen}");
}

/// Stops the swarm running in `env` with `git oompa stop` once its first agent started, and
/// returns the swarm's output.
fn stopped_swarm(env: &TestEnv) -> Output {
    let running = spawn_swarm(env, None);
    crate::common::swarm::wait_for_first_turns(env, 1);
    let out = env.oompa(&["stop"]);
    assert!(out.status.success(), "{}", stderr(&out));
    running.wait_with_output()
}

#[test]
fn a_requested_stop_is_not_reported_as_an_error() {
    let env = swarm_repo(4, &worker_with_env("cli", 1, "", &[("FAKE_SLEEP", "1")]));
    let out = stopped_swarm(&env);
    let err = stderr(&out);
    // Exit status 130, as documented for a swarm stopped before it finished.
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        !err.contains("error:"),
        "a requested stop read as an error:\n{err}"
    );
    assert!(err.contains("stopped: "), "{err}");
    assert!(err.contains("(as asked)"), "{err}");
    let o = outcomes(&env);
    assert_eq!(o.get("merged"), Some(&1), "{o:?}\n{err}");
    assert_eq!(states(&env), (3, 0, 1), "{err}");
}

#[test]
fn a_second_stop_does_not_kill_the_agents() {
    let env = swarm_repo(4, &worker_with_env("cli", 2, "", &[("FAKE_SLEEP", "2")]));
    let running = spawn_swarm(&env, None);
    crate::common::swarm::wait_for_first_turns(&env, 2);
    // The first from inside a worker's worktree, the second from the repository.
    let worktree = env
        .git(&["worktree", "list", "--porcelain"])
        .lines()
        .filter_map(|l| l.strip_prefix("worktree "))
        .find(|p| p.contains("/w0"))
        .map(std::path::PathBuf::from)
        .expect("w0's worktree");
    let first = env
        .oompa_cmd_in(&worktree, &["stop"])
        .output()
        .expect("stop");
    assert!(first.status.success(), "{}", stderr(&first));
    let second = env.oompa(&["stop"]);
    let said = stderr(&second);
    assert!(second.status.success(), "{said}");
    assert!(said.contains("is already stopping"), "{said}");
    assert!(said.contains("git oompa stop --now"), "{said}");
    let out = running.wait_with_output();
    let err = stderr(&out);
    assert!(!err.contains("killing the agents"), "{err}");
    assert_eq!(out.status.code(), Some(130), "{err}");
    let o = outcomes(&env);
    assert_eq!(
        o.get("merged"),
        Some(&2),
        "the turns in flight landed: {o:?}\n{err}"
    );
}

#[test]
fn a_sigkilled_swarm_not_yet_reaped_is_not_shown_running() {
    let (env, mut running, marker) = crate::common::swarm::hanging_swarm(640_000, 2, 2, false);
    let pid = running.child().id();
    // SIGKILL, and no wait: the test is its parent, so it stays a zombie (as a detached
    // swarm does until PID 1 reaps it, which in a container may be late or never).
    crate::common::swarm::signal(&mut running, nix::sys::signal::Signal::SIGKILL);
    wait_for("the swarm to be a zombie", || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
    });
    let status = env.oompa(&["status"]);
    let shown = crate::common::stdout(&status);
    assert!(status.status.success(), "{}", stderr(&status));
    assert!(
        !shown.contains("running on"),
        "a dead swarm shown running:\n{shown}"
    );
    assert_eq!(states(&env), (2, 0, 0), "claims returned\n{shown}");
    let swarms = env.oompa_ok(&["log", "--swarms"]);
    assert!(swarms.contains("crashed"), "{swarms}");
    let stop = env.oompa(&["stop"]);
    assert!(
        stderr(&stop).contains("no swarm is running"),
        "{}",
        stderr(&stop)
    );
    wait_for("its agents to end", || {
        crate::common::swarm::processes_with(&format!("sleep {marker}")) == 0
    });
}

#[test]
fn an_exec_agent_reporting_absurd_usage_does_not_crash_its_worker() {
    let env = swarm_repo(1, "");
    let script = env.tmp.path().join("usage-agent.sh");
    write_executable(
        &script,
        "#!/bin/sh\ncat >/dev/null\n\
         echo 'oompa-usage: input=18446744073709551615 output=18446744073709551615 cost=1e308' >&2\n\
         echo 'oompa-usage: input=18446744073709551615 cost=1e308' >&2\n\
         echo 'oompa-usage: input=abc output=-5 cost=inf' >&2\n\
         echo 'oompa-usage: input=10 output=5 cost=0.01' >&2\n\
         git oompa task claim t00 >/dev/null && echo __DONE__\n",
    );
    std::fs::write(
        env.repo.join("oompa.toml"),
        format!(
            "error_backoff = 0\nbudget = \"$100\"\n[[worker]]\nmodel = \"exec:sh {}\"\nmax_cycles = 2\n",
            script.display()
        ),
    )
    .expect("write oompa.toml");
    let out = env
        .oompa_cmd(&["swarm"])
        .env("PATH", crate::common::path_with_bin())
        .output()
        .expect("swarm");
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert!(!err.contains("inf"), "{err}");
    // Two turns' sane usage, nothing else.
    assert!(err.contains("spent: $0.02, 30 tokens"), "{err}");
}

#[test]
fn a_day_long_pause_shows_the_day_it_ends_in_status() {
    let env = swarm_repo(1, "");
    let script = env.tmp.path().join("limited-agent.sh");
    write_executable(
        &script,
        "#!/bin/sh\ncat >/dev/null\necho 'retry-after: 99999999' >&2\nexit 75\n",
    );
    std::fs::write(
        env.repo.join("oompa.toml"),
        format!(
            "error_backoff = 0\n[[worker]]\nmodel = \"exec:sh {}\"\nmax_cycles = 1\n",
            script.display()
        ),
    )
    .expect("write oompa.toml");
    let running = spawn_swarm(&env, None);
    let mut shown = String::new();
    wait_for("the worker to pause", || {
        shown = crate::common::stdout(&env.oompa(&["status"]));
        shown.contains("paused until")
    });
    // Capped at a day: it ends tomorrow (the tests run in UTC).
    let tomorrow = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_hours(24))
        .expect("tomorrow")
        .strftime("%Y-%m-%d")
        .to_string();
    assert!(
        shown.contains(&format!("paused until {tomorrow} ")),
        "{shown}"
    );
    let stop = env.oompa(&["stop"]);
    assert!(stop.status.success(), "{}", stderr(&stop));
    let out = running.wait_with_output();
    let err = stderr(&out);
    assert!(err.contains("(24h00m)"), "{err}");
    assert_eq!(out.status.code(), Some(130), "{err}");
}
