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
        assert!(
            std::path::Path::new(&env.repo.join(format!("work/{}.txt", t.id))).exists() || true
        );
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
