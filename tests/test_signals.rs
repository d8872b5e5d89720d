//! A swarm interrupted: Ctrl-C once (finish the turns in flight), twice (kill the agents),
//! and SIGKILL followed by a restart; no task and no commit lost.

use crate::common::stderr;
use crate::common::swarm::{
    assert_clean_up, hanging_swarm, kill_processes_with, outcomes, processes_with, signal,
    spawn_swarm, states, swarm_ok, swarm_repo, wait_for_first_turns, worker_table, worker_with_env,
};

#[test]
fn ctrl_c_once_finishes_turns_in_flight_lands_what_is_ready_and_releases_the_rest() {
    // Each turn sleeps 2 s, then claims, works and signals merge in the same turn.
    let env = swarm_repo(
        4,
        &worker_with_env("cli", 2, "max_cycles = 5", &[("FAKE_SLEEP", "2")]),
    );
    let mut child = spawn_swarm(&env, None);
    wait_for_first_turns(&env, 2);
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
    swarm_ok(&env);
    assert_eq!(states(&env), (0, 0, 3));
    assert_eq!(
        env.git(&["for-each-ref", "refs/oompa/keep/"])
            .lines()
            .count(),
        2
    );
    env.assert_fsck_clean();
}
