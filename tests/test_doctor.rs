//! `git oompa doctor` finds each seeded problem and `--fix` repairs the safe ones; every
//! other command re-checks the invariants hooks can be bypassed around, once each.

use crate::common::guard::{
    add_worker, as_agent, claim, commit_in, crash_swarm, doctor, git_ok, gone_worktree, oompa_repo,
    start_swarm, working_worker,
};
use crate::common::{TestEnv, stderr};

/// An agent of s1/w0 moving main with the hooks switched off.
fn agent_moves_main_around_the_hooks(env: &TestEnv, wt: &std::path::Path) {
    let mut cmd = std::process::Command::new("git");
    crate::common::hermetic(&mut cmd, &env.home);
    as_agent(&mut cmd, "s1", "w0");
    let out = cmd
        .current_dir(wt)
        .args([
            "-c",
            "core.hooksPath=/dev/null",
            "update-ref",
            "-m",
            "agent lands by hand",
            "refs/heads/main",
            "HEAD",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Writes a note line under refs/notes/oompa, then replaces the ref with an unrelated notes
/// history: the first line is lost.
fn rewrite_notes(env: &TestEnv) {
    let head = env.git(&["rev-parse", "HEAD"]);
    let record = |worker: &str| {
        format!(
            "{{\"version\":1,\"swarm\":\"s0\",\"worker\":\"{worker}\",\"cycle\":1,\
             \"outcome\":\"done\",\"turns\":1,\"started\":\"2026-01-01T00:00:00Z\",\
             \"ended\":\"2026-01-01T00:00:01Z\",\"duration_ms\":1000,\"base\":\"{}\"}}",
            head.trim()
        )
    };
    env.git(&["notes", "--ref=oompa", "add", "-m", &record("a"), "HEAD"]);
    env.git(&[
        "notes",
        "--ref=elsewhere",
        "add",
        "-m",
        &record("b"),
        "HEAD",
    ]);
    env.git(&[
        "update-ref",
        "-m",
        "fetched over it",
        "refs/notes/oompa",
        "refs/notes/elsewhere",
    ]);
}

fn problems(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.starts_with("problem"))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_healthy_repository_has_no_problems() {
    let env = oompa_repo();
    let (code, out, err) = doctor(&env, &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(problems(&out).is_empty(), "{out}");
    for check in [
        "ok      ref storage: files",
        "ok      hooks: pre-push installed in",
        "ok      worker guard: reference-transaction and pre-push in",
        "ok      binary: git-oompa is on PATH",
        "ok      identity: committing as Test User <test@example.invalid>",
        "ok      target: main at",
        "ok      queue: refs/oompa/tasks readable (0 tasks)",
        "ok      worktrees:",
        "ok      claims:",
        "ok      cycle log:",
        "ok      landings:",
        "ok      log decorations:",
    ] {
        assert!(out.contains(check), "{check} missing:\n{out}");
    }
    assert!(err.contains("no problems found"), "{err}");
}

#[test]
fn doctor_finds_each_seeded_problem_and_fix_repairs_the_safe_ones() {
    let env = oompa_repo();
    let pid = std::process::id();
    let (wt, work) = working_worker(&env, "work\n");
    let wt1 = add_worker(&env, "s1", "w1");
    claim(&env, "s1", "w1", "t2", pid);
    let work1 = commit_in(&env, &wt1, "w1.txt", "work of w1\n");

    // Seed: hooks (one gone, one not executable), decorations unset, a worktree whose
    // directory is gone, a crashed swarm's claim, a rewritten cycle log, no identity, and an
    // agent landing around the queue.
    std::fs::remove_file(env.repo.join(".git/oompa/hooks/reference-transaction")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        env.repo.join(".git/hooks/pre-push"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    env.git(&["config", "--unset-all", "log.excludeDecoration"]);
    gone_worktree(&env, "gone-wt");
    crash_swarm(&env, "s1");
    rewrite_notes(&env);
    let before_move = env.git(&["rev-parse", "main"]).trim().to_string();
    agent_moves_main_around_the_hooks(&env, &wt);
    env.git(&["config", "--unset", "user.name"]);
    env.git(&["config", "--unset", "user.email"]);

    let (code, out, err) = doctor(&env, &[]);
    assert_eq!(code, Some(1), "{out}{err}");
    let found = problems(&out).join("\n");
    for expected in [
        "problem hooks: pre-push not executable in",
        "problem worker guard: reference-transaction missing in",
        "problem identity: no committer identity",
        "problem worktrees: worktrees whose directory is gone: gone-wt",
        "problem claims: task t1 is still claimed by s1/w0, but its swarm s1 is no longer running",
        "problem claims: task t2 is still claimed by s1/w1, but its swarm s1 is no longer running",
        "problem cycle log: refs/notes/oompa was rewritten (`fetched over it`)",
        "problem landings: main was moved to",
        "problem log decorations: log.excludeDecoration does not have refs/oompa/*",
        "problem swarm leftovers: swarms that are no longer running left 2 worktree(s)",
    ] {
        assert!(found.contains(expected), "{expected} not found in:\n{out}");
    }
    assert!(out.contains("fix: git oompa hooks install"), "{out}");
    assert!(out.contains("fix: git worktree prune"), "{out}");
    assert!(
        out.contains("fix: `git oompa gc` returns it to pending"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "fix: undo it with `git update-ref -m \"undo a landing around the merge queue\" \
             refs/heads/main {before_move} {work}`"
        )),
        "{out}"
    );
    assert!(
        err.contains("error: 10 problems found")
            && err.contains("`git oompa doctor --fix` repairs 7 of them"),
        "{err}"
    );

    let (code, out, err) = doctor(&env, &["--fix"]);
    assert_eq!(code, Some(1), "{out}{err}");
    for fixed in [
        "fixed   hooks:",
        "fixed   worker guard:",
        "fixed   worktrees:",
        "fixed   claims:",
        "fixed   cycle log:",
        "fixed   log decorations:",
    ] {
        assert!(out.contains(fixed), "{fixed} missing:\n{out}");
    }
    // w0's work is on main (the agent put it there); w1's is kept.
    assert!(
        out.contains(
            "returned to pending: t1, t2; their work is kept as refs/oompa/keep/s1/w1/recovered-t2"
        ),
        "{out}"
    );
    assert!(err.contains("error: 3 problems found"), "{out}{err}");

    // What is left needs a person; nothing of what was fixed comes back.
    let (_, out, _) = doctor(&env, &[]);
    let left = problems(&out);
    assert_eq!(left.len(), 3, "{out}");
    assert!(left[0].starts_with("problem identity:"), "{out}");
    assert!(left[1].starts_with("problem swarm leftovers:"), "{out}");
    assert!(left[2].starts_with("problem landings:"), "{out}");
    // The fixes did what they say.
    assert_eq!(
        env.git(&["config", "--get-all", "log.excludeDecoration"]),
        "refs/oompa/*\n"
    );
    assert!(!env.git(&["worktree", "list"]).contains("gone-wt"));
    let notes = env.git(&["notes", "--ref=oompa", "show", "HEAD~1"]);
    assert!(
        notes.contains("\"worker\":\"a\"") && notes.contains("\"worker\":\"b\""),
        "{notes}"
    );
    let tasks = env.oompa_ok(&["task", "list", "--state", "pending"]);
    assert!(tasks.contains("t1") && tasks.contains("t2"), "{tasks}");
    assert_eq!(
        env.git(&["rev-parse", "refs/oompa/keep/s1/w1/recovered-t2"])
            .trim(),
        work1.to_string()
    );

    // The person's part.
    env.git(&["config", "user.name", "Test User"]);
    env.git(&["config", "user.email", "test@example.invalid"]);
    env.git(&[
        "update-ref",
        "refs/heads/main",
        &before_move,
        &work.to_string(),
    ]);
    env.oompa_ok(&["gc"]);
    let (code, out, err) = doctor(&env, &[]);
    assert_eq!(code, Some(0), "{out}{err}");
}

#[test]
fn a_reftable_repository_is_a_problem_with_its_fix() {
    let env = TestEnv::empty();
    let init = env
        .git_cmd(&["init", "-q", "--ref-format=reftable"])
        .output()
        .unwrap();
    if !init.status.success() {
        eprintln!("git cannot make reftable repositories here; skipping");
        return;
    }
    let (code, out, err) = doctor(&env, &[]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        out.contains("problem ref storage: reftable repository"),
        "{out}"
    );
    assert!(
        err.contains("hint: convert the repository with `git refs migrate --ref-format=files`"),
        "{err}"
    );
}

#[test]
fn a_relative_hooks_path_leaves_worker_worktrees_guarded_and_doctor_says_so() {
    let env = oompa_repo();
    env.git(&["config", "core.hooksPath", ".githooks"]);
    env.oompa_ok(&["hooks", "install"]);
    start_swarm(&env, "s1", std::process::id(), &["w0"]);
    add_worker(&env, "s1", "w0");
    // The worker worktree's own copy of .githooks has no shims, but it runs the guard
    // directory's hooks, which forward to that copy.
    let (code, out, err) = doctor(&env, &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("ok      hooks: pre-push installed in")
            && out.contains("(core.hooksPath = .githooks)"),
        "{out}"
    );
    assert!(
        out.contains("run by 1 worker worktree(s) and agents"),
        "{out}"
    );
    // An absolute one covers the person's checkouts from one directory.
    let abs = env.repo.join(".githooks");
    env.git(&["config", "core.hooksPath", abs.to_str().unwrap()]);
    let (code, out, err) = doctor(&env, &[]);
    assert_eq!(
        code,
        Some(1),
        "the forwarders follow the old value: {out}{err}"
    );
    assert!(
        out.contains("problem worker guard:")
            && out.contains("forwarders outdated")
            && out.contains("worker worktrees run an out-of-date copy"),
        "{out}"
    );
    let (code, out, err) = doctor(&env, &["--fix"]);
    assert_eq!(code, Some(0), "{out}{err}");
}

#[test]
fn every_command_reports_each_violation_once_with_its_fix() {
    let env = oompa_repo();
    let (wt, work) = working_worker(&env, "work\n");
    let before = env.git(&["rev-parse", "main"]).trim().to_string();
    agent_moves_main_around_the_hooks(&env, &wt);

    let out = env.oompa(&["task", "show", "t1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(
        err.matches("warning: main was moved to").count(),
        1,
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "warning: main was moved to {} (`agent lands by hand`) outside the merge queue, \
             bringing in commit {} made on the worker branch oompa/s1/w0",
            &work.to_string()[..12],
            &work.to_string()[..12]
        )),
        "{err}"
    );
    assert!(err.contains("hint: undo it with `git update-ref"), "{err}");
    // Undone as the hint says: quiet again.
    env.git(&["update-ref", "refs/heads/main", &before, &work.to_string()]);
    let out = env.oompa(&["task", "show", "t1"]);
    assert_eq!(stderr(&out), "", "{}", stderr(&out));

    // A crashed swarm's claim: reported by commands that do not recover it themselves
    // (`log` now does, so that a crash leaves no hole in it).
    crash_swarm(&env, "s1");
    let out = env.oompa(&["task", "show", "t1"]);
    let err = stderr(&out);
    assert_eq!(
        err.matches(
            "warning: task t1 is still claimed by s1/w0, but its swarm s1 is no longer running"
        )
        .count(),
        1,
        "{err}"
    );
    assert!(
        err.contains("hint: `git oompa gc` returns it to pending and keeps its work"),
        "{err}"
    );

    // A rewritten cycle log.
    rewrite_notes(&env);
    let out = env.oompa(&["task", "show", "t1"]);
    let err = stderr(&out);
    assert_eq!(
        err.matches("refs/notes/oompa was rewritten").count(),
        1,
        "{err}"
    );
    assert!(
        err.contains("hint: `git oompa doctor --fix` merges the lost records back"),
        "{err}"
    );
    let _ = git_ok(&env, &env.repo, &["status"]);
}
