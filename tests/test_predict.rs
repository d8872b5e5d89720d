//! Conflict prediction: computed through the library on real branches, published where a
//! running swarm publishes it, and shown by the real `git oompa status`.

use std::time::Instant;

use oompa::store::Queue;
use oompa::store::queue::hostname;
use oompa::store::swarm::{Stopped, SwarmRecord};
use oompa::swarm::predict;

use crate::common::{TestEnv, stdout};

/// `README.md` with its one line replaced, committed on `branch` forked from `main`.
fn branch_editing_readme(env: &TestEnv, branch: &str, line: &str) {
    env.git(&["checkout", "-q", "-b", branch, "main"]);
    std::fs::write(env.repo.join("README.md"), format!("{line}\n")).expect("write");
    env.git(&["commit", "-q", "-am", &format!("{branch}: readme")]);
    env.git(&["checkout", "-q", "main"]);
}

/// A swarm record as a live swarm on this machine writes it (this test process is its pid).
fn record(id: &str, workers: &[&str], stopped: bool) -> SwarmRecord {
    SwarmRecord {
        version: 1,
        id: id.into(),
        started: "2026-01-01T00:00:00Z".into(),
        host: hostname(),
        pid: std::process::id(),
        target: "main".into(),
        config: None,
        workers: workers.iter().map(|w| w.to_string()).collect(),
        stopped: stopped.then(|| Stopped {
            at: "2026-01-01T01:00:00Z".into(),
            reason: "completed".into(),
        }),
    }
}

/// Computes and publishes the prediction of `swarm` as its runtime would.
fn publish(env: &TestEnv, swarm: &str) -> predict::Prediction {
    let repo = env.open();
    let target = repo
        .read_ref("refs/heads/main")
        .expect("read main")
        .expect("main exists");
    let branches = predict::live_branches(&repo, swarm, target).expect("live branches");
    let p = predict::compute(&repo.clone().into_shared(), target, &branches).expect("compute");
    predict::write(&predict::prediction_path(repo.common_dir(), swarm), &p).expect("write");
    p
}

#[test]
fn status_shows_the_predicted_conflicts_of_running_swarms() {
    let env = TestEnv::new();
    env.oompa_ok(&["init"]);
    branch_editing_readme(&env, "oompa/live1/w1", "# one");
    branch_editing_readme(&env, "oompa/live1/w2", "# two");
    std::fs::write(env.repo.join("other.txt"), "x\n").expect("write");
    env.git(&["checkout", "-q", "-b", "oompa/live1/w3", "main"]);
    env.git(&["add", "other.txt"]);
    env.git(&["commit", "-q", "-m", "w3: other"]);
    env.git(&["checkout", "-q", "main"]);
    // A stopped swarm with the same conflict: not running, so not shown.
    branch_editing_readme(&env, "oompa/old1/w1", "# old one");
    branch_editing_readme(&env, "oompa/old1/w2", "# old two");

    let repo = env.open();
    let queue = Queue::new(&repo);
    queue
        .put_swarm(&record("live1", &["w1", "w2", "w3"], false), "started")
        .expect("record");
    queue
        .put_swarm(&record("old1", &["w1", "w2"], true), "started")
        .expect("record");

    // Before anything is published, status has no predictions to show.
    let out = env.oompa_ok(&["status"]);
    assert!(!out.contains("predicted conflicts"), "{out}");

    let p = publish(&env, "live1");
    assert_eq!(p.branches.len(), 3);
    publish(&env, "old1");

    let out = env.oompa_ok(&["status"]);
    let expected = "    predicted conflicts:\n      w1 × w2: README.md\n";
    assert!(out.contains(expected), "{out}");
    assert_eq!(out.matches("predicted conflicts:").count(), 1, "{out}");
    assert!(!out.contains("old1"), "{out}");

    let json: serde_json::Value =
        serde_json::from_str(&env.oompa_ok(&["status", "--json"])).expect("json");
    let live = &json["predictions"]["live1"];
    assert_eq!(live["conflicts"][0]["a"], "w1");
    assert_eq!(live["conflicts"][0]["b"], "w2");
    assert_eq!(live["conflicts"][0]["paths"][0], "README.md");
    assert_eq!(live["branches"].as_array().map(Vec::len), Some(3));
    assert!(json["predictions"].get("old1").is_none(), "{json}");

    // Once the conflict is gone (w2 dropped), the swarm shows no conflicts at all.
    env.git(&["update-ref", "-d", "refs/heads/oompa/live1/w2"]);
    publish(&env, "live1");
    let out = stdout(&env.oompa(&["status"]));
    assert!(!out.contains("predicted conflicts"), "{out}");
    env.assert_fsck_clean();
}

/// `n` numbered lines, with line `at` replaced by `text`.
fn numbered(n: usize, at: usize, text: &str) -> String {
    (1..=n)
        .map(|l| {
            if l == at {
                format!("{text}\n")
            } else {
                format!("line {l}\n")
            }
        })
        .collect()
}

/// Measures (does not assert) `compute` for 16 branches on a repository of 340 files.
/// `cargo test --test runner -- --ignored --nocapture predict_timing`
#[test]
#[ignore = "a measurement, not a check"]
fn predict_timing_sixteen_branches() {
    let env = TestEnv::new();
    let write = |path: String, text: String| {
        let p = env.repo.join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    };
    for d in 0..16 {
        for f in 0..20 {
            write(format!("src/m{d}/f{f}.rs"), numbered(40, 0, ""));
        }
    }
    for f in 0..8 {
        write(format!("src/shared/s{f}.rs"), numbered(40, 0, ""));
    }
    env.git(&["add", "-A"]);
    env.git(&["commit", "-q", "-m", "files"]);
    env.git(&["branch", "base"]);
    // Worker i: 3 commits on a base 2 commits behind main, each editing a file of its own
    // module and the shared file of its pair (i/2). Pairs 0, 2, 4, 6 edit the same line of it
    // (a conflict), the others different lines; main edits a line w0 and w3 edit too.
    for i in 0..16 {
        env.git(&["checkout", "-q", "-b", &format!("oompa/t/w{i}"), "base"]);
        for c in 0..3 {
            write(
                format!("src/m{i}/f{c}.rs"),
                numbered(40, 5, &format!("w{i} {c}")),
            );
            let line = if i % 2 == 1 && (i / 2) % 2 == 1 {
                30
            } else {
                10
            };
            write(
                format!("src/shared/s{}.rs", i / 2),
                numbered(40, line, &format!("w{i} {c}")),
            );
            env.git(&["commit", "-q", "-am", &format!("w{i} {c}")]);
        }
    }
    env.git(&["checkout", "-q", "main"]);
    for m in [0, 3] {
        write(format!("src/m{m}/f0.rs"), numbered(40, 5, "main"));
        env.git(&["commit", "-q", "-am", "main moves"]);
    }

    let repo = env.open();
    let target = repo.read_ref("refs/heads/main").unwrap().unwrap();
    let t = Instant::now();
    let branches = predict::live_branches(&repo, "t", target).unwrap();
    let listed = t.elapsed();
    let shared = repo.clone().into_shared();
    let mut runs = Vec::new();
    let mut p = predict::Prediction::default();
    for _ in 0..5 {
        let t = Instant::now();
        p = predict::compute(&shared, target, &branches).unwrap();
        runs.push(t.elapsed());
    }
    let with_target = p.conflicts.iter().filter(|c| c.b == "target").count();
    // For comparison: every one of the 120 pairs dry-merged on one thread.
    let dry = shared.dry_run();
    let t = Instant::now();
    let mut merges = 0;
    for (i, (_, a)) in branches.iter().enumerate() {
        for (_, b) in &branches[i + 1..] {
            dry.check_merge(*a, *b).unwrap();
            merges += 1;
        }
    }
    let all_pairs = t.elapsed();
    println!(
        "predict timing: {} branches, live_branches {listed:?}, compute {runs:?}; \
         {} conflicts ({with_target} with the target); {} rayon threads; \
         all {merges} pairs on one thread {all_pairs:?} ({:?} per merge)",
        branches.len(),
        p.conflicts.len(),
        rayon::current_num_threads(),
        all_pairs / merges,
    );
}
