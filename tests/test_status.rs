//! What a person is shown about a swarm: `status` while it runs and the conflicts it
//! predicts, `check`, the errors that stop a swarm before it starts, and the demo.

use oompa::store::notes::Notes;

use crate::common::swarm::{
    assert_clean_up, hanging_swarm, signal, spawn_swarm, states, swarm_repo, wait_for,
    worker_table, worker_with_env,
};
use crate::common::{TestEnv, stderr, stdout};

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
fn check_lists_the_agent_clis_on_path() {
    let env = TestEnv::new();
    let bin = env.tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let claude = bin.join("claude");
    crate::common::write_executable(&claude, "#!/bin/sh\necho '9.9.9 (Claude Code)'\n");
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
fn the_demo_runs_without_an_api_key() {
    let env = TestEnv::new();
    let dir = env.tmp.path().join("demo");
    let out = env.oompa_on_path(&["demo", dir.to_str().unwrap()]);
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
