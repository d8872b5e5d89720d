//! Landing gates end to end: fake agents, real gate commands (`sh` scripts), real git.

use std::path::{Path, PathBuf};

use oompa::store::record::{CycleRecord, GateRun};

use crate::common::swarm::{
    assert_clean_up, kill_processes_with, outcomes, processes_with, records, review_table, signal,
    spawn_swarm, states, swarm_ok, swarm_repo, wait_for, worker_with_env,
};
use crate::common::{TestEnv, stderr, stdout};

/// The gate the tests use: fails while any `gate/break-*` file exists, or two `gate/pair-*`
/// files do (a semantic conflict between two changes that each pass alone). `name_paths`
/// says whether its output names the offending files (as compilers and test runners do).
/// With `hold`, every run first waits while that file exists.
fn gate_script(env: &TestEnv, name_paths: bool, hold: Option<&Path>) -> PathBuf {
    let path = env.tmp.path().join("gate.sh");
    let hold = hold
        .map(|h| format!("while [ -e '{}' ]; do sleep 0.05; done\n", h.display()))
        .unwrap_or_default();
    let names = if name_paths { " $f" } else { "" };
    std::fs::write(
        &path,
        format!(
            "{hold}for f in gate/break-*; do [ -e \"$f\" ] && {{ echo \"FAILED:{names} breaks the build\"; exit 1; }}; done\n\
             n=$(ls gate 2>/dev/null | grep -c '^pair-')\n\
             [ \"$n\" -ge 2 ] && {{ echo \"FAILED: the pair conflicts:\"; ls gate/pair-*; exit 1; }}\n\
             echo \"all checks passed ($OOMPA_GATE_WORKERS on $OOMPA_CANDIDATE)\"\n"
        ),
    )
    .unwrap();
    path
}

fn gate_table(script: &Path, extra: &str) -> String {
    format!("[gate]\ncommand = \"sh {}\"\n{extra}\n", script.display())
}

/// The first gate in `git oompa status --json` (`Null` while no change is at a gate).
fn first_gate(env: &TestEnv) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&env.oompa_ok(&["status", "--json"])).unwrap();
    v["gates"]
        .as_object()
        .and_then(|g| g.values().next())
        .cloned()
        .unwrap_or_default()
}

fn record_of<'a>(records: &'a [CycleRecord], worker: &str) -> &'a CycleRecord {
    records
        .iter()
        .find(|r| r.worker == worker)
        .unwrap_or_else(|| panic!("no record of {worker}: {records:?}"))
}

fn results(runs: &[GateRun]) -> Vec<&str> {
    runs.iter().map(|r| r.result.as_str()).collect()
}

/// Runs the gate script again on every first-parent commit of main: the target is green at
/// every landing.
fn assert_green_at_every_landing(env: &TestEnv, script: &Path) {
    let commits = env.git(&["rev-list", "--first-parent", "main"]);
    for (i, c) in commits.lines().enumerate() {
        let dir = env.tmp.path().join(format!("check-{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let tar = env.git_cmd(&["archive", c]).output().unwrap();
        assert!(tar.status.success());
        let mut untar = std::process::Command::new("tar")
            .args(["-x", "-C"])
            .arg(&dir)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(untar.stdin.as_mut().unwrap(), &tar.stdout).unwrap();
        drop(untar.stdin.take());
        assert!(untar.wait().unwrap().success());
        let out = std::process::Command::new("sh")
            .arg(script)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the gate fails at {c} on main: {}",
            stdout(&out)
        );
    }
}

/// The prompts a worker's agent got (FAKE_PROMPT_LOG).
fn prompts_of(log: &Path, worker: &str) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.split("=== ")
        .filter(|p| p.starts_with(&format!("{worker} ")))
        .collect::<Vec<_>>()
        .join("=== ")
}

#[test]
fn a_change_that_fails_the_gate_never_lands_and_its_fix_from_the_same_session_does() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("prompts.log");
    let log_s = log.display().to_string();
    let (env, script, _) = gated_repo(
        1,
        &worker_with_env(
            "polite",
            1,
            "max_cycles = 1\ncan_plan = false",
            &[
                ("FAKE_GATE_BREAK", "1"),
                ("FAKE_GATE_FIX", "1"),
                ("FAKE_PROMPT_LOG", &log_s),
            ],
        ),
        true,
        false,
        "",
    );
    let out = swarm_ok(&env);
    let recs = records(&env);
    let r = record_of(&recs, "w0");
    assert_eq!(r.outcome.to_string(), "merged", "{r:?}");
    // Both runs are in the record: the failure (run again once: retries = 1), then the fix.
    assert_eq!(results(&r.gate), ["failed", "failed", "passed"], "{r:?}");
    assert_eq!(r.gate[0].attempt, 1);
    assert_eq!(r.gate[1].attempt, 2);
    assert_eq!(r.gate[0].status.as_deref(), Some("exited with code 1"));
    assert!(Path::new(r.gate[0].output.as_ref().unwrap()).is_file());
    assert_eq!(
        r.gate[2].candidate,
        *r.landed.as_ref().unwrap(),
        "what passed is what landed"
    );
    assert_eq!(r.gate[2].batch, ["w0"]);
    // The failure reached the agent in its own session, with the output's tail.
    let prompts = prompts_of(&log, "w0");
    let fix = prompts
        .split("=== ")
        .find(|p| p.contains("# Gate failed"))
        .expect("a gate-fix prompt");
    assert!(fix.contains("resume=1"), "{fix}");
    assert!(
        fix.contains("FAILED: gate/break-w0 breaks the build"),
        "{fix}"
    );
    assert!(fix.contains("exited with code 1"), "{fix}");
    assert_eq!(r.sessions.len(), 1, "one session: {r:?}");
    // Never on main; the landing carries the gate trailer.
    assert!(
        env.git_cmd(&["cat-file", "-e", "main:gate/break-w0"])
            .output()
            .unwrap()
            .status
            .code()
            != Some(0)
    );
    let trailer = env.git(&[
        "log",
        "-1",
        "--format=%(trailers:key=Oompa-Gate,valueonly)",
        "main",
    ]);
    assert_eq!(trailer.trim(), format!("sh {}", script.display()));
    assert_green_at_every_landing(&env, &script);
    // The summary counts the runs.
    assert!(
        stderr(&out).contains("gate: 3 runs, 1 failed, 0 flaky"),
        "{}",
        stderr(&out)
    );
    assert_clean_up(&env);
    env.assert_fsck_clean();
}

/// Points oompa.toml's gate at `script` (the repository's temp dir changed).
fn rewrite_gate(env: &TestEnv, script: &Path) {
    let path = env.repo.join("oompa.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("command = \"sh "))
        .unwrap()
        .to_string();
    std::fs::write(
        &path,
        text.replace(&line, &format!("command = \"sh {}\"", script.display())),
    )
    .unwrap();
}

/// A repository with `tasks` tasks, these worker tables and a gate section (its script in the
/// repository's own temp dir).
fn gated_repo(
    tasks: usize,
    workers: &str,
    name_paths: bool,
    hold: bool,
    gate_extra: &str,
) -> (TestEnv, PathBuf, PathBuf) {
    let env = swarm_repo(tasks, workers);
    let hold_file = env.tmp.path().join("hold");
    if hold {
        std::fs::write(&hold_file, "").unwrap();
    }
    let script = gate_script(&env, name_paths, hold.then_some(hold_file.as_path()));
    let path = env.repo.join("oompa.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&gate_table(&script, gate_extra));
    std::fs::write(&path, text).unwrap();
    (env, script, hold_file)
}

#[test]
fn two_changes_that_pass_alone_but_break_together_land_one_and_the_other_hears_it() {
    for batch in [1, 2] {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("prompts.log");
        let log_s = log.display().to_string();
        let (env, script, _) = gated_repo(
            2,
            &worker_with_env(
                "polite",
                2,
                "max_cycles = 1\ncan_plan = false\nmax_wait_for_tasks = \"5s\"",
                &[
                    ("FAKE_GATE_PAIR", "1"),
                    ("FAKE_GATE_FIX", "1"),
                    ("FAKE_PROMPT_LOG", &log_s),
                ],
            ),
            false,
            false,
            &format!("batch = {batch}\nretries = 0"),
        );
        swarm_ok(&env);
        let recs = records(&env);
        // Exactly one of the pair landed as it was; the other got the failure and fixed it.
        let pairs = env.git(&["ls-tree", "--name-only", "main", "gate/"]);
        assert_eq!(pairs.lines().count(), 1, "batch {batch}: {pairs}");
        let failed: Vec<&CycleRecord> = recs
            .iter()
            .filter(|r| r.gate.iter().any(|g| g.result == "failed"))
            .collect();
        assert_eq!(failed.len(), 1, "batch {batch}: {recs:?}");
        let culprit = &failed[0].worker;
        for w in ["w0", "w1"] {
            let told = prompts_of(&log, w).contains("# Gate failed");
            assert_eq!(told, w == culprit, "batch {batch}: {w}");
        }
        assert_eq!(outcomes(&env).get("merged"), Some(&2), "batch {batch}");
        assert_green_at_every_landing(&env, &script);
        assert_clean_up(&env);
    }
}

#[test]
fn a_resolution_that_commits_conflict_markers_never_lands() {
    // No [gate]: the marker check is built in.
    let env = swarm_repo(
        2,
        &worker_with_env(
            "conflict",
            2,
            "max_cycles = 1\ncan_plan = false\nmax_wait_for_tasks = \"5s\"",
            &[("FAKE_RESOLVE", "markers"), ("FAKE_LINGER", "1")],
        ),
    );
    std::fs::write(env.repo.join("shared.txt"), "original line\n").unwrap();
    env.git(&["add", "shared.txt"]);
    env.git(&["commit", "-q", "-m", "shared file"]);
    swarm_ok(&env);
    let shared = env.git(&["show", "main:shared.txt"]);
    assert!(
        !shared.contains("<<<<<<<") && !shared.contains(">>>>>>>"),
        "{shared}"
    );
    let o = outcomes(&env);
    assert_eq!(o.get("merged"), Some(&1), "{o:?}");
    assert_eq!(o.get("conflict"), Some(&1), "{o:?}");
    let recs = records(&env);
    let c = recs
        .iter()
        .find(|r| r.outcome.to_string() == "conflict")
        .unwrap();
    assert!(
        c.error
            .as_deref()
            .unwrap_or("")
            .contains("conflict markers at shared.txt:"),
        "{c:?}"
    );
    // Its work (markers and all) is kept, its claim went back.
    let kept = c.kept.as_ref().expect("work kept");
    assert!(
        env.git(&["show", &format!("{kept}:shared.txt")])
            .contains("<<<<<<<")
    );
    assert_eq!(states(&env), (1, 0, 1));
    assert!(!stdout(&env.oompa(&["doctor"])).contains("unresolved conflict markers"));
    assert_clean_up(&env);
}

#[test]
fn doctor_reports_conflict_markers_on_the_target_tip() {
    let env = TestEnv::new();
    env.oompa_ok(&["init"]);
    std::fs::write(env.repo.join("docs.rst"), "Title\n=======\n\ntext\n").unwrap();
    env.git(&["add", "docs.rst"]);
    env.git(&["commit", "-q", "-m", "docs"]);
    let clean = env.oompa(&["doctor"]);
    assert!(
        stdout(&clean).contains("none in the files on main"),
        "{}",
        stdout(&clean)
    );
    std::fs::write(
        env.repo.join("a.txt"),
        "one\n<<<<<<< target\ntwo\n=======\nzwei\n>>>>>>> worker\n",
    )
    .unwrap();
    env.git(&["add", "a.txt"]);
    env.git(&["commit", "-q", "-m", "landed with markers"]);
    let out = env.oompa(&["doctor"]);
    assert_eq!(out.status.code(), Some(1));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("has unresolved conflict markers at a.txt:2"),
        "{text}"
    );
    assert!(!text.contains("docs.rst"), "{text}");
}

#[test]
fn a_flaky_gate_lands_with_flaky_recorded() {
    let (env, _, _) = gated_repo(
        1,
        &worker_with_env("polite", 1, "max_cycles = 1\ncan_plan = false", &[]),
        true,
        false,
        "",
    );
    // Fails the first time it ever runs, passes after.
    let flaky = env.tmp.path().join("flaky.sh");
    let seen = env.tmp.path().join("seen");
    std::fs::write(
        &flaky,
        format!(
            "if [ ! -e '{0}' ]; then touch '{0}'; echo 'timing-dependent test failed'; exit 1; fi\necho ok\n",
            seen.display()
        ),
    )
    .unwrap();
    rewrite_gate(&env, &flaky);
    let out = swarm_ok(&env);
    let recs = records(&env);
    let r = record_of(&recs, "w0");
    assert_eq!(r.outcome.to_string(), "merged");
    assert_eq!(results(&r.gate), ["failed", "passed"], "{r:?}");
    assert!(r.gate[1].flaky && !r.gate[0].flaky, "{r:?}");
    assert!(stderr(&out).contains("1 flaky"), "{}", stderr(&out));
}

#[test]
fn a_gate_that_hangs_is_killed_at_its_timeout_and_counts_as_failed() {
    let marker = format!("{}", 700_000 + std::process::id() % 90_000);
    let (env, _, _) = gated_repo(
        1,
        &worker_with_env("polite", 1, "max_cycles = 1\ncan_plan = false", &[]),
        true,
        false,
        "timeout = \"1s\"\nretries = 0\nmax_fix_rounds = 0",
    );
    let hang = env.tmp.path().join("hang.sh");
    std::fs::write(&hang, format!("echo starting\nsleep {marker}\n")).unwrap();
    rewrite_gate(&env, &hang);
    let out = env.oompa(&["swarm"]);
    kill_processes_with(&format!("sleep {marker}"));
    assert!(out.status.success(), "{}", stderr(&out));
    let recs = records(&env);
    let r = record_of(&recs, "w0");
    assert_eq!(r.outcome.to_string(), "gate-failed", "{r:?}");
    assert_eq!(results(&r.gate), ["timed-out"], "{r:?}");
    assert_eq!(r.gate[0].status.as_deref(), Some("timed out after 1s"));
    assert!(
        r.error.as_deref().unwrap().contains("timed out after 1s"),
        "{r:?}"
    );
    // Nothing landed; the claim went back; the work is kept.
    assert_eq!(env.git(&["rev-list", "--count", "main"]).trim(), "1");
    assert_eq!(states(&env), (1, 0, 0));
    assert!(r.kept.is_some(), "{r:?}");
    assert_eq!(
        processes_with(&format!("sleep {marker}")),
        0,
        "the gate's process group was killed"
    );
    assert_clean_up(&env);
}

#[test]
fn eight_waiting_changes_with_one_culprit_land_seven_and_only_the_culprit_hears() {
    for name_paths in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("prompts.log");
        let go = dir.path().join("go");
        let (log_s, go_s) = (log.display().to_string(), go.display().to_string());
        let common = [("FAKE_PROMPT_LOG", log_s.as_str())];
        let batch_worker = |name: &str, extra: &[(&str, &str)]| {
            let mut env_vars = common.to_vec();
            env_vars.push(("FAKE_WAIT_FOR", go_s.as_str()));
            env_vars.extend_from_slice(extra);
            worker_with_env(
                "polite",
                1,
                &format!(
                    "name = \"{name}\"\nmax_cycles = 1\ncan_plan = false\nmax_wait_for_tasks = \"30s\""
                ),
                &env_vars,
            )
        };
        let mut workers = worker_with_env(
            "polite",
            1,
            "name = \"early\"\nmax_cycles = 1\ncan_plan = false",
            &common,
        );
        for i in 0..8 {
            let extra: &[(&str, &str)] = if i == 5 {
                &[("FAKE_GATE_BREAK", "1"), ("FAKE_GATE_FIX", "1")]
            } else {
                &[]
            };
            workers.push_str(&batch_worker(&format!("b{i}"), extra));
        }
        let (env, script, hold) =
            gated_repo(9, &workers, name_paths, true, "batch = 8\nretries = 0");
        let child = spawn_swarm(&env, None);
        let count =
            |g: &serde_json::Value, key: &str| -> usize { g[key].as_array().map_or(0, Vec::len) };
        // The early change is being gated (held); then the eight come and wait behind it.
        wait_for("the first gate run", || {
            count(&first_gate(&env), "runs") == 1
        });
        std::fs::write(&go, "").unwrap();
        wait_for("eight changes waiting behind it", || {
            let g = first_gate(&env);
            count(&g, "queue") + count(&g, "waiting") == 9
        });
        let text = env.oompa_ok(&["status"]);
        assert!(
            text.contains("gating ") && text.contains("(early) for "),
            "{text}"
        );
        std::fs::remove_file(&hold).unwrap();
        let out = child.wait_with_output();
        assert!(out.status.success(), "{}", stderr(&out));
        let recs = records(&env);
        let culprit = record_of(&recs, "b5");
        assert_eq!(
            culprit.outcome.to_string(),
            "merged",
            "it fixed and landed: {culprit:?}"
        );
        assert!(
            culprit.gate.iter().any(|g| g.result == "failed"),
            "{culprit:?}"
        );
        // The seven others all landed, each on a run it was part of that passed.
        let others: Vec<&CycleRecord> = recs
            .iter()
            .filter(|r| r.worker.starts_with('b') && r.worker != "b5")
            .collect();
        assert_eq!(others.len(), 7);
        let passing: std::collections::BTreeSet<&str> = others
            .iter()
            .map(|r| {
                assert_eq!(r.outcome.to_string(), "merged", "{r:?}");
                let last = r.gate.last().unwrap();
                assert_eq!(last.result, "passed", "{r:?}");
                last.candidate.as_str()
            })
            .collect();
        if name_paths {
            // The failure named the culprit's file: the batch without it passed and landed
            // all seven at once.
            assert_eq!(
                passing.len(),
                1,
                "one passing run landed all seven: {others:?}"
            );
        }
        // Only the culprit heard of the failure.
        for w in (0..8).map(|i| format!("b{i}")) {
            let told = prompts_of(&log, &w).contains("# Gate failed");
            assert_eq!(told, w == "b5", "{w}");
        }
        // The runs are recorded, and counted in the summary.
        let distinct: std::collections::BTreeSet<(String, u32)> = recs
            .iter()
            .flat_map(|r| r.gate.iter().map(|g| (g.candidate.clone(), g.attempt)))
            .collect();
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "gate: {} run{},",
                distinct.len(),
                if distinct.len() == 1 { "" } else { "s" }
            )),
            "{} distinct runs recorded:\n{err}",
            distinct.len()
        );
        if name_paths {
            // early, the batch of eight, the batch without the named suspect, the fix.
            assert_eq!(distinct.len(), 4, "{err}");
        } else {
            assert!(distinct.len() <= 8, "{err}");
            assert!(err.contains("1 bisection, 1 culprit"), "{err}");
        }
        assert_green_at_every_landing(&env, &script);
        assert_clean_up(&env);
    }
}

/// A swarm of `workers` polite agents whose gate runs hold until `hold` is removed, started
/// in the background; returns once every change is being gated or waits for the gate.
fn held_gate_swarm(
    workers: u32,
    gate_extra: &str,
) -> (TestEnv, crate::common::swarm::Running, PathBuf, PathBuf) {
    let (env, script, hold) = gated_repo(
        workers as usize,
        &worker_with_env(
            "polite",
            workers,
            "max_cycles = 1\ncan_plan = false\nmax_wait_for_tasks = \"5s\"",
            &[("FAKE_COMMIT_FIRST", "1")],
        ),
        false,
        true,
        gate_extra,
    );
    let child = spawn_swarm(&env, None);
    wait_for("every change at the gate", || {
        let g = first_gate(&env);
        g["queue"].as_array().map_or(0, Vec::len) + g["waiting"].as_array().map_or(0, Vec::len)
            == workers as usize
            && !g["runs"].as_array().is_none_or(Vec::is_empty)
    });
    (env, child, script, hold)
}

#[test]
fn ctrl_c_once_during_a_gate_run_lands_what_passes_and_starts_nothing_new() {
    let (env, mut child, script, hold) = held_gate_swarm(2, "batch = 2");
    let main_before = env.git(&["rev-parse", "main"]);
    signal(&mut child, nix::sys::signal::Signal::SIGINT);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        env.git(&["rev-parse", "main"]),
        main_before,
        "nothing ungated lands"
    );
    std::fs::remove_file(&hold).unwrap();
    let out = child.wait_with_output();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert_eq!(outcomes(&env).get("merged"), Some(&2), "{}", stderr(&out));
    assert_eq!(states(&env), (0, 0, 2));
    assert_green_at_every_landing(&env, &script);
    assert_clean_up(&env);
}

#[test]
fn ctrl_c_twice_during_a_gate_run_lands_nothing_releases_claims_and_keeps_work() {
    let (env, mut child, _, hold) = held_gate_swarm(2, "");
    let main_before = env.git(&["rev-parse", "main"]);
    signal(&mut child, nix::sys::signal::Signal::SIGINT);
    // A second Ctrl-C counts only after 0.5 s (a quicker one is git's echo of the first).
    std::thread::sleep(std::time::Duration::from_millis(700));
    signal(&mut child, nix::sys::signal::Signal::SIGINT);
    let out = child.wait_with_output();
    let _ = std::fs::remove_file(&hold);
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert_eq!(
        env.git(&["rev-parse", "main"]),
        main_before,
        "nothing landed"
    );
    assert_eq!(states(&env), (2, 0, 0), "claims released");
    let o = outcomes(&env);
    assert_eq!(o.get("interrupted"), Some(&2), "{o:?}");
    let recs = records(&env);
    assert!(
        recs.iter()
            .any(|r| r.gate.iter().any(|g| g.result == "cancelled")),
        "the cancelled run is recorded: {recs:?}"
    );
    let keep = env.git(&["for-each-ref", "--format=%(refname)", "refs/oompa/keep/"]);
    assert_eq!(keep.lines().count(), 2, "{keep}");
    assert_eq!(
        processes_with(&hold.display().to_string()),
        0,
        "the gate run was stopped"
    );
    assert_clean_up(&env);
    env.assert_fsck_clean();
}

#[test]
fn sigkill_during_a_gate_run_lands_nothing_and_the_next_run_recovers() {
    let (env, mut child, script, hold) = held_gate_swarm(2, "batch = 2");
    let main_before = env.git(&["rev-parse", "main"]);
    child.child().kill().unwrap(); // SIGKILL
    let _ = child.child().wait();
    // The gate's own process group outlives a SIGKILL of the swarm (as agents' do); it can
    // never land anything. Let it end.
    std::fs::remove_file(&hold).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(
        env.git(&["rev-parse", "main"]),
        main_before,
        "nothing landed"
    );
    assert_eq!(states(&env).1, 2, "claims still held by the dead swarm");
    // The next command returns the claims and keeps the work.
    let out = env.oompa(&["task", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(states(&env), (2, 0, 0));
    let keep = env.git(&["for-each-ref", "--format=%(refname)", "refs/oompa/keep/"]);
    assert_eq!(keep.lines().count(), 2, "{keep}");
    // gc removes the crashed worktrees; the candidate left checked out holds nothing that is
    // not kept already, so nothing more is kept.
    let out = env.oompa(&["gc"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let after = env.git(&["for-each-ref", "--format=%(refname)", "refs/oompa/keep/"]);
    assert_eq!(after, keep, "{}", stdout(&out));
    // A new swarm gates the work again and lands it.
    swarm_ok(&env);
    assert_eq!(states(&env), (0, 0, 2));
    assert_green_at_every_landing(&env, &script);
    env.assert_fsck_clean();
}

#[test]
fn a_gate_fix_is_reviewed_again_only_when_it_touches_paths_the_failure_did_not_name() {
    for (fix, rounds) in [("1", 1), ("beyond", 2)] {
        let (env, _, _) = gated_repo(
            1,
            &format!(
                "{}{}",
                worker_with_env(
                    "polite",
                    1,
                    "max_cycles = 1\ncan_plan = false",
                    &[("FAKE_GATE_BREAK", "1"), ("FAKE_GATE_FIX", fix)],
                ),
                review_table(&["approve"], 3, None)
            ),
            true,
            false,
            "retries = 0",
        );
        swarm_ok(&env);
        let recs = records(&env);
        let r = record_of(&recs, "w0");
        assert_eq!(r.outcome.to_string(), "merged", "{r:?}");
        assert_eq!(r.review.len(), rounds, "FAKE_GATE_FIX={fix}: {r:?}");
    }
}

#[test]
fn a_target_that_moves_during_a_gate_run_is_gated_again_on_its_new_tip() {
    let (env, child, script, hold) = held_gate_swarm(1, "");
    // The person commits on main in their own checkout while the change is being gated.
    std::fs::write(env.repo.join("NOTES.md"), "written by hand\n").unwrap();
    env.git(&["add", "NOTES.md"]);
    env.git(&["commit", "-q", "-m", "by hand"]);
    let by_hand = env.git(&["rev-parse", "main"]).trim().to_string();
    wait_for("the queue to gate again on the new tip", || {
        let g = first_gate(&env);
        g["target"] == by_hand.as_str() && g["runs"].as_array().is_some_and(|r| !r.is_empty())
    });
    std::fs::remove_file(&hold).unwrap();
    let out = child.wait_with_output();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("outside the merge queue; the gate checks the queued changes again"),
        "{}",
        stderr(&out)
    );
    let recs = records(&env);
    let r = record_of(&recs, "w0");
    assert_eq!(r.outcome.to_string(), "merged", "{r:?}");
    let landed = r.landed.as_deref().unwrap();
    assert_eq!(
        env.git(&["rev-parse", &format!("{landed}^1")]).trim(),
        by_hand,
        "it landed on the new tip"
    );
    let last = r.gate.last().unwrap();
    assert_eq!(
        (
            last.result.as_str(),
            last.base.as_str(),
            last.candidate.as_str()
        ),
        ("passed", by_hand.as_str(), landed)
    );
    assert!(
        r.gate
            .iter()
            .any(|g| g.base != by_hand && g.result == "cancelled"),
        "the run on the old tip was stopped: {r:?}"
    );
    assert_green_at_every_landing(&env, &script);
}

#[test]
fn init_suggests_a_gate_from_the_repository_and_leaves_it_commented_out() {
    let env = TestEnv::new();
    std::fs::write(env.repo.join("Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
    let out = env.oompa(&["init"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "suggested a landing gate in oompa.toml, commented out: `cargo test` (from Cargo.toml)"
        ),
        "{}",
        stderr(&out)
    );
    let path = env.repo.join("oompa.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let suggestion = "# git oompa init found Cargo.toml: uncomment the next two lines to gate every \
                      landing.\n# [gate]\n# command = \"cargo test\"\n";
    assert!(text.contains(suggestion), "{text}");
    // Nothing is gated until the person says so.
    let config = oompa::config::Config::load(&path).unwrap();
    assert_eq!(config.gate, None);
    std::fs::write(
        &path,
        text.replace(
            "# [gate]\n# command = \"cargo test\"",
            "[gate]\ncommand = \"cargo test\"",
        ),
    )
    .unwrap();
    let config = oompa::config::Config::load(&path).unwrap();
    assert_eq!(config.gate.unwrap().commands, ["cargo test"]);
    // An oompa.toml of one's own is left as it is; the suggestion is only a hint.
    let mine = "[[worker]]\nmodel = \"claude\"\n";
    std::fs::write(&path, mine).unwrap();
    let out = env.oompa(&["init"]);
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("looks tested by `cargo test` (Cargo.toml)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), mine);
}

#[test]
fn a_bad_gate_parallel_in_git_config_is_refused_before_anything_runs() {
    let (env, _, _) = gated_repo(
        1,
        &worker_with_env("polite", 1, "max_cycles = 1\ncan_plan = false", &[]),
        false,
        false,
        "",
    );
    env.git(&["config", "oompa.gateParallel", "lots"]);
    let out = env.oompa(&["swarm"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("oompa.gateParallel is `lots`"), "{err}");
    assert!(
        err.contains("hint: git config oompa.gateParallel 2"),
        "{err}"
    );
    env.git(&["config", "oompa.gateParallel", "2"]);
    swarm_ok(&env);
}
