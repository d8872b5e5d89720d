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
    wait_for("an agent to start", || {
        crate::common::walk(&env.repo.join(".git/oompa/transcripts"))
            .iter()
            .any(|p| p.ends_with("cycle-1.log"))
    });
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
