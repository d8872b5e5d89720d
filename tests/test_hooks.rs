//! The hooks: shims installed where git runs them, user hook content kept, the
//! reference-transaction guard against agents moving main, the pre-push guard against
//! publishing unmerged claims, and a swarm landing with every hook active.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::guard::{
    add_worker, as_agent, claim, commit_in, git_in, git_ok, land, person_worktree, start_swarm,
    user_git, working_worker,
};
use crate::common::{TestEnv, path_with_bin, stderr, user_hook, write_executable};

// Also at its old home, for test files written before it moved to tests/common (issue 10);
// make this a plain import once the branches of that phase are merged.
use crate::common::guard::oompa_repo;

fn shipped(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("hooks")
            .join(name),
    )
    .unwrap()
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o111 != 0
}

/// git as the agent of s1/w0 would run it, in `dir`.
fn agent_git(env: &TestEnv, dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new("git");
    crate::common::hermetic(&mut cmd, &env.home);
    as_agent(&mut cmd, "s1", "w0");
    cmd.current_dir(dir).args(args).output().unwrap()
}

/// `hooks status --json` has every row installed; returns the rows.
fn assert_all_installed(env: &TestEnv) -> Vec<serde_json::Value> {
    let text = crate::common::stdout(&env.oompa(&["hooks", "status", "--json"]));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert!(rows.len() >= 6, "{text}");
    assert!(rows.iter().all(|r| r["state"] == "installed"), "{text}");
    rows
}

fn main_tip(env: &TestEnv) -> String {
    env.git(&["rev-parse", "refs/heads/main"])
        .trim()
        .to_string()
}

#[test]
fn init_installs_the_shims_and_hides_oompa_refs_from_log_decorations() {
    let env = TestEnv::new();
    let out = env.oompa_on_path(&["init"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("installed pre-push in .git/hooks"), "{err}");
    assert!(
        err.contains("installed the worker guard in .git/oompa/hooks"),
        "{err}"
    );
    assert!(
        err.contains("added refs/oompa/* to log.excludeDecoration"),
        "{err}"
    );
    let path = env.repo.join(".git/hooks/pre-push");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), shipped("pre-push"));
    assert!(is_executable(&path));
    // Nothing in the main worktree's hooks runs for every ref update: the guard is elsewhere.
    assert!(!env.repo.join(".git/hooks/reference-transaction").exists());
    for name in ["reference-transaction", "pre-push", "pre-commit"] {
        assert!(is_executable(&env.repo.join(".git/oompa/hooks").join(name)));
    }
    assert_eq!(
        env.git(&["config", "--get-all", "log.excludeDecoration"]),
        "refs/oompa/*\n"
    );
    let log = env.git(&["log", "--decorate=full", "--oneline", "--all"]);
    assert!(log.contains("refs/heads/main"), "{log}");
    assert!(!log.contains("refs/oompa/"), "{log}");
    assert_all_installed(&env);

    // Again: nothing changes, and it says so.
    let out = env.oompa_on_path(&["init"]);
    let err = stderr(&out);
    assert!(err.contains("pre-push already installed"), "{err}");
    assert!(err.contains("worker guard already installed"), "{err}");
    assert!(err.contains("log.excludeDecoration already has"), "{err}");
    assert_eq!(
        env.git(&["config", "--get-all", "log.excludeDecoration"]),
        "refs/oompa/*\n"
    );
}

#[test]
fn a_users_own_hook_keeps_its_lines_its_input_and_comes_back_on_uninstall() {
    let env = TestEnv::new();
    let log = env.tmp.path().join("pushlog");
    let mine = format!(
        "#!/bin/sh\n# my own pre-push\necho \"user hook ran for $1\" >> {log}\ncat >> {log}\nexit 0\n",
        log = log.display()
    );
    let hook = user_hook(&env, "pre-push", &mine);

    let out = env.oompa_on_path(&["hooks", "install"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("added git oompa's block to your pre-push"),
        "{}",
        stderr(&out)
    );
    let text = std::fs::read_to_string(&hook).unwrap();
    assert!(
        text.starts_with("#!/bin/sh\n# >>> git-oompa >>>\n"),
        "{text}"
    );
    assert!(text.ends_with(&mine["#!/bin/sh\n".len()..]), "{text}");

    // Push: our check runs first, then the user's lines, with the same stdin.
    let remote = env.tmp.path().join("remote.git");
    env.git(&["init", "-q", "--bare", remote.to_str().unwrap()]);
    env.git(&["remote", "add", "origin", remote.to_str().unwrap()]);
    let out = user_git(&env, &env.repo, &["push", "-q", "origin", "main"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let seen = std::fs::read_to_string(&log).unwrap();
    let tip = main_tip(&env);
    assert!(seen.contains("user hook ran for origin"), "{seen}");
    assert!(
        seen.contains(&format!("refs/heads/main {tip} refs/heads/main ")),
        "the user's lines read the same stdin:\n{seen}"
    );
    assert_all_installed(&env);

    // Installing again changes nothing; uninstalling gives the user's file back byte for byte.
    env.oompa_ok(&["hooks", "install"]);
    assert_eq!(std::fs::read_to_string(&hook).unwrap(), text);
    let out = env.oompa(&["hooks", "uninstall"]);
    assert!(
        stderr(&out).contains("removed git oompa's block from pre-push"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("removed reference-transaction"));
    assert_eq!(std::fs::read_to_string(&hook).unwrap(), mine);
    assert!(!env.repo.join(".git/hooks/reference-transaction").exists());
}

#[test]
fn a_hook_in_another_language_is_left_alone_with_advice() {
    let env = TestEnv::new();
    let hook = env.repo.join(".git/hooks/pre-push");
    std::fs::write(&hook, "#!/usr/bin/env python3\nprint('hi')\n").unwrap();
    let out = env.oompa(&["hooks", "install"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("is a /usr/bin/env python3 script"), "{err}");
    assert!(
        err.contains("hint: add a line running `git oompa hook"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&hook).unwrap(),
        "#!/usr/bin/env python3\nprint('hi')\n"
    );
}

#[test]
fn core_hooks_path_is_honoured_relative_per_checkout_and_absolute() {
    let env = TestEnv::new();
    env.git(&["config", "core.hooksPath", ".githooks"]);
    let user_wt = person_worktree(&env, "user-wt", "feature");
    env.oompa_ok(&["init"]);
    assert!(env.repo.join(".githooks/pre-push").is_file());
    assert!(user_wt.join(".githooks/pre-push").is_file());
    assert!(!env.repo.join(".git/hooks/pre-push").exists());
    let rows = assert_all_installed(&env);
    let mine = |rows: &[serde_json::Value]| {
        rows.iter()
            .filter(|r| r["guard"] == false)
            .map(|r| r["path"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(mine(&rows).len(), 2, "{rows:?}");

    // The shim really runs from there: git-oompa's guard answers a push of a worker branch.
    let abs = env.tmp.path().join("shared-hooks");
    env.git(&["config", "core.hooksPath", abs.to_str().unwrap()]);
    let out = env.oompa(&["hooks", "status", "--json"]);
    let text = crate::common::stdout(&out);
    assert!(text.contains("\"state\":\"missing\""), "{text}");
    env.oompa_ok(&["hooks", "install"]);
    assert!(abs.join("pre-push").is_file());
    let rows = assert_all_installed(&env);
    assert_eq!(
        mine(&rows),
        [abs.join("pre-push").to_string_lossy().into_owned()],
        "{rows:?}"
    );
}

#[test]
fn without_git_oompa_on_path_the_shims_warn_and_let_git_through() {
    let env = oompa_repo();
    let (wt, _) = working_worker(&env, "work\n");
    let remote = env.tmp.path().join("remote.git");
    env.git(&["init", "-q", "--bare", remote.to_str().unwrap()]);

    // The test's own PATH has no git-oompa.
    let out = git_in(&env, &wt, &["push", "-q", remote.to_str().unwrap(), "HEAD"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: git-oompa is not on PATH; its pre-push check was skipped"),
        "{}",
        stderr(&out)
    );
    env.git(&["checkout", "-q", "--detach"]);
    let out = git_in(&env, &wt, &["update-ref", "refs/heads/main", "HEAD"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("its reference-transaction check was skipped"),
        "{}",
        stderr(&out)
    );
}

/// The four ways an agent can try to move main (and a hard reset), from its worktree.
fn attempts() -> Vec<(&'static str, Vec<Vec<&'static str>>)> {
    vec![
        ("push", vec![vec!["push", ".", "HEAD:main"]]),
        (
            "push --no-verify",
            vec![vec!["push", "--no-verify", ".", "HEAD:main"]],
        ),
        ("branch -f", vec![vec!["branch", "-f", "main", "HEAD"]]),
        (
            "checkout main && merge",
            vec![
                vec!["checkout", "-q", "--ignore-other-worktrees", "main"],
                vec!["merge", "--no-edit", "oompa/s1/w0"],
            ],
        ),
        (
            "update-ref",
            vec![vec![
                "update-ref",
                "refs/heads/main",
                "refs/heads/oompa/s1/w0",
            ]],
        ),
        (
            "checkout main && reset --hard",
            vec![
                vec!["checkout", "-q", "--ignore-other-worktrees", "main"],
                vec!["reset", "--hard", "oompa/s1/w0"],
            ],
        ),
    ]
}

/// Runs each attempt with `run`, checking main never moves; returns each attempt's stderr.
fn try_each(
    env: &TestEnv,
    wt: &Path,
    run: &dyn Fn(&[&str]) -> Output,
) -> Vec<(&'static str, String)> {
    let before = main_tip(env);
    let mut out = Vec::new();
    for (what, steps) in attempts() {
        let mut err = String::new();
        let mut failed = false;
        for step in steps {
            let o = run(&step);
            err.push_str(&stderr(&o));
            if !o.status.success() {
                failed = true;
                break;
            }
        }
        assert!(failed, "{what} went through:\n{err}");
        assert_eq!(main_tip(env), before, "{what} moved main:\n{err}");
        // Back on the worker branch for the next attempt.
        git_ok(env, wt, &["checkout", "-q", "-f", "oompa/s1/w0"]);
        out.push((what, err));
    }
    out
}

fn agent_setup() -> (TestEnv, std::path::PathBuf) {
    let env = oompa_repo();
    let (wt, _) = working_worker(&env, "work of w0\n");
    (env, wt)
}

#[test]
fn an_agent_cannot_move_main_from_its_worktree() {
    let (env, wt) = agent_setup();
    // As the user has it: main checked out in the main worktree. Git itself refuses some of
    // these (a checked-out branch); the guard refuses the rest. Main never moves.
    try_each(&env, &wt, &|args| agent_git(&env, &wt, args));

    // With main checked out nowhere, only the guards stand in the way: every refusal is ours
    // and says why and what to do instead.
    env.git(&["checkout", "-q", "--detach"]);
    for (what, err) in try_each(&env, &wt, &|args| agent_git(&env, &wt, args)) {
        if what == "push" {
            // pre-push answers first.
            assert!(
                err.contains("git oompa refuses this push to ."),
                "{what}: {err}"
            );
            assert!(
                err.contains("belongs to task t1 claimed by s1/w0"),
                "{what}: {err}"
            );
            continue;
        }
        assert!(
            err.contains(
                "git oompa: refusing to move main from inside a worker worktree \
                 (OOMPA_WORKER=w0 is set); work lands on main only through the merge queue"
            ),
            "{what}: {err}"
        );
        assert!(
            err.contains("hint: commit your work on oompa/s1/w0 and end your turn with COMPLETE_AND_READY_FOR_MERGE"),
            "{what}: {err}"
        );
    }

    // An agent that clears its environment is still inside a worker worktree.
    let no_env = |args: &[&str]| user_git(&env, &wt, args);
    for (what, err) in try_each(&env, &wt, &no_env) {
        if what == "push" {
            continue;
        }
        assert!(
            err.contains("(this worktree is on the worker branch oompa/s1/w0)")
                || err.contains("(this worktree is under the swarm worktree directory"),
            "{what}: {err}"
        );
    }

    // The user moves main from the main worktree as before, and the worker still commits.
    let user = user_git(&env, &env.repo, &["checkout", "-q", "main"]);
    assert!(user.status.success(), "{}", stderr(&user));
    std::fs::write(env.repo.join("user.txt"), "mine\n").unwrap();
    let out = user_git(&env, &env.repo, &["add", "user.txt"]);
    assert!(out.status.success());
    let out = user_git(
        &env,
        &env.repo,
        &["commit", "-q", "-m", "user commit on main"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = user_git(&env, &env.repo, &["update-ref", "refs/heads/main", "HEAD"]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(wt.join("more.txt"), "more\n").unwrap();
    let out = agent_git(&env, &wt, &["add", "more.txt"]);
    assert!(out.status.success());
    let out = agent_git(&env, &wt, &["commit", "-q", "-m", "more work"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // And the merge queue (gix, no hooks) lands it.
    let before = main_tip(&env);
    land(&env, "s1", "w0", false).expect("a landing");
    assert_ne!(main_tip(&env), before);
}

#[test]
fn pre_push_refuses_unmerged_claims_and_lands_through_the_queue() {
    let (env, wt) = agent_setup();
    let remote = env.tmp.path().join("remote.git");
    env.git(&["init", "-q", "--bare", remote.to_str().unwrap()]);
    env.git(&["remote", "add", "origin", remote.to_str().unwrap()]);
    let push = |args: &[&str]| {
        let mut a = vec!["push", "-q"];
        a.extend_from_slice(args);
        user_git(&env, &env.repo, &a)
    };
    let out = push(&["origin", "main"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let work = env.git(&["rev-parse", "--short=12", "oompa/s1/w0"]);
    let work = work.trim();

    // The worker branch, under its own name or another.
    for spec in ["oompa/s1/w0", "oompa/s1/w0:refs/heads/published"] {
        let out = push(&["origin", spec]);
        assert_eq!(out.status.code(), Some(1), "{spec}");
        let err = stderr(&out);
        assert!(
            err.contains("error: git oompa refuses this push to origin:"),
            "{err}"
        );
        assert!(
            err.contains(&format!(
                "oompa/s1/w0 is worker w0's branch of swarm s1 (at {work}, holding task t1)"
            )),
            "{err}"
        );
        assert!(
            err.contains("hint: `git push --no-verify` skips this check"),
            "{err}"
        );
    }
    // From inside the worktree too (the agent's `git push origin HEAD`).
    let out = agent_git(&env, &wt, &["push", "-q", "origin", "HEAD"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    // A branch of the user's that carries the claimed work.
    env.git(&["branch", "feature", "oompa/s1/w0"]);
    let out = push(&["origin", "feature"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "refs/heads/feature would publish commit {work} \"Write w0.txt\", which belongs to \
             task t1 claimed by s1/w0 and has not landed on main through the merge queue"
        )),
        "{err}"
    );
    // The escapes: --no-verify, and a remote listed in oompa.skipPushCheck.
    let out = push(&["--no-verify", "origin", "feature:refs/heads/escaped"]);
    assert!(out.status.success(), "{}", stderr(&out));
    env.git(&["config", "--add", "oompa.skipPushCheck", "origin"]);
    let out = push(&["origin", "feature:refs/heads/skipped"]);
    assert!(out.status.success(), "{}", stderr(&out));
    env.git(&["config", "--unset-all", "oompa.skipPushCheck"]);
    // The user's own work is not held back.
    env.git(&["checkout", "-q", "-b", "mine", "main"]);
    std::fs::write(env.repo.join("mine.txt"), "mine\n").unwrap();
    env.git(&["add", "mine.txt"]);
    env.git(&["commit", "-q", "-m", "mine"]);
    let out = push(&["origin", "mine"]);
    assert!(out.status.success(), "{}", stderr(&out));
    env.git(&["checkout", "-q", "main"]);

    // Landed through the queue: the queue may only travel with (or after) its landings.
    let landing = land(&env, "s1", "w0", false).unwrap();
    let short = landing.to_hex_with_len(12).to_string();
    let out = push(&["origin", "refs/oompa/tasks"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "refs/oompa/tasks marks task t1 complete (landed by worker w0 as {short}), but that \
             commit is neither on the main being pushed nor on origin's main"
        )),
        "{err}"
    );
    assert!(
        err.contains("hint: push the landings with the queue, in one go: `git push --atomic origin main refs/oompa/tasks`"),
        "{err}"
    );
    let out = push(&["--atomic", "origin", "main", "refs/oompa/tasks"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Now landed, the feature branch carrying that work may go too.
    let out = push(&["origin", "feature"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_swarm_lands_everything_with_every_hook_active() {
    use crate::common::swarm::{swarm_repo, worker_table};
    let env = swarm_repo(
        6,
        &worker_table(
            "cli",
            2,
            "max_cycles = 10\ncan_plan = false\nmax_wait_for_tasks = \"20s\"",
        ),
    );
    assert!(
        env.repo
            .join(".git/oompa/hooks/reference-transaction")
            .is_file()
    );
    let out = env.oompa_on_path(&["swarm"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("refusing"), "{err}");
    let repo = env.open();
    let snap = oompa::store::Queue::new(&repo).snapshot().unwrap();
    assert_eq!(snap.count(oompa::store::State::Complete), 6, "{err}");
    crate::common::swarm::assert_clean_up(&env);

    // The merge queue vouched for its landings, so a first push of the whole queue with its
    // target checks only what came after; the queue without its landings is still refused.
    let baseline =
        oompa::store::verified::read_baseline(&repo).expect("a verified-landings baseline");
    assert_eq!(
        baseline.target,
        repo.read_ref("refs/heads/main").unwrap().unwrap()
    );
    for name in ["first.git", "bare.git"] {
        let remote = env.tmp.path().join(name);
        env.git(&["init", "-q", "--bare", remote.to_str().unwrap()]);
    }
    let first = env.tmp.path().join("first.git");
    let out = user_git(
        &env,
        &env.repo,
        &[
            "push",
            "-q",
            "--atomic",
            first.to_str().unwrap(),
            "main",
            "refs/oompa/tasks",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let bare = env.tmp.path().join("bare.git");
    let out = user_git(
        &env,
        &env.repo,
        &["push", "-q", bare.to_str().unwrap(), "refs/oompa/tasks"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("marks task t0"), "{}", stderr(&out));
}

#[test]
fn a_users_reference_transaction_hook_still_sees_every_state_and_the_guard_still_holds() {
    let env = TestEnv::new();
    let log = env.tmp.path().join("txlog");
    let mine = format!(
        "#!/bin/sh\nwhile read -r old new ref; do echo \"$1 $ref\" >> {log}; done\n",
        log = log.display()
    );
    user_hook(&env, "reference-transaction", &mine);
    let out = env.oompa_on_path(&["init"]);
    assert!(out.status.success(), "{}", stderr(&out));
    env.git(&["add", "oompa.toml"]);
    let out = user_git(&env, &env.repo, &["commit", "-q", "-m", "config"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let seen = std::fs::read_to_string(&log).unwrap();
    assert!(seen.contains("prepared refs/heads/main"), "{seen}");
    assert!(seen.contains("committed refs/heads/main"), "{seen}");

    // The guard in front of the user's lines still refuses an agent moving main.
    let pid = std::process::id();
    start_swarm(&env, "s1", pid, &["w0"]);
    let wt = add_worker(&env, "s1", "w0");
    commit_in(&env, &wt, "w0.txt", "work\n");
    let before = main_tip(&env);
    let out = agent_git(&env, &wt, &["update-ref", "refs/heads/main", "HEAD"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("refusing to move main from inside a worker worktree"),
        "{}",
        stderr(&out)
    );
    assert_eq!(main_tip(&env), before);
    let seen = std::fs::read_to_string(&log).unwrap();
    assert!(seen.contains("aborted refs/heads/main"), "{seen}");
}

/// A `git-oompa` on PATH that logs every call (with the caller's OOMPA_WORKER) before
/// running the real one; returns the PATH to use and the log.
fn spy_path(env: &TestEnv) -> (std::ffi::OsString, std::path::PathBuf) {
    let dir = env.tmp.path().join("spy");
    std::fs::create_dir_all(&dir).unwrap();
    let log = env.tmp.path().join("spy.log");
    let script = format!(
        "#!/bin/sh\nprintf '%s worker=%s\\n' \"$*\" \"${{OOMPA_WORKER:-}}\" >> {log}\nexec {bin} \"$@\"\n",
        log = log.display(),
        bin = crate::common::BIN
    );
    let spy = dir.join("git-oompa");
    write_executable(&spy, &script);
    let mut paths = vec![dir];
    paths.extend(std::env::split_paths(&path_with_bin()));
    (std::env::join_paths(paths).unwrap(), log)
}

#[test]
fn a_persons_commands_in_the_main_worktree_start_no_guard_process() {
    let env = oompa_repo();
    let (path, log) = spy_path(&env);
    let git = |args: &[&str]| {
        let mut cmd = Command::new("git");
        crate::common::hermetic(&mut cmd, &env.home);
        let out = cmd
            .current_dir(&env.repo)
            .env("PATH", &path)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    };
    git(&["commit", "-q", "--allow-empty", "-m", "one"]);
    git(&["checkout", "-q", "-b", "topic"]);
    git(&["commit", "-q", "--allow-empty", "-m", "two"]);
    git(&["rebase", "-q", "--force-rebase", "main"]);
    git(&["branch", "-f", "main", "topic"]);
    // From a subdirectory too (git runs the hook at the root).
    std::fs::create_dir_all(env.repo.join("sub")).unwrap();
    let mut cmd = Command::new("git");
    crate::common::hermetic(&mut cmd, &env.home);
    let out = cmd
        .current_dir(env.repo.join("sub"))
        .env("PATH", &path)
        .args(["commit", "-q", "--allow-empty", "-m", "three"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let seen = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !seen.contains("hook reference-transaction"),
        "the shim started git-oompa for a person's command:\n{seen}"
    );

    // In a worker worktree the shim still asks git-oompa, and it still refuses.
    let pid = std::process::id();
    start_swarm(&env, "s1", pid, &["w0"]);
    let wt = add_worker(&env, "s1", "w0");
    commit_in(&env, &wt, "w0.txt", "work\n");
    env.git(&["checkout", "-q", "--detach"]);
    let mut cmd = Command::new("git");
    crate::common::hermetic(&mut cmd, &env.home);
    let out = cmd
        .current_dir(&wt)
        .env("PATH", &path)
        .args(["update-ref", "refs/heads/main", "HEAD"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("(this worktree is on the worker branch oompa/s1/w0)"),
        "{}",
        stderr(&out)
    );
    let seen = std::fs::read_to_string(&log).unwrap();
    assert!(
        seen.contains("hook reference-transaction prepared"),
        "{seen}"
    );
}

#[test]
fn git_oompas_own_git_calls_in_worker_worktrees_start_no_guard_process() {
    use crate::common::swarm::{swarm_repo, worker_table};
    let env = swarm_repo(
        3,
        &worker_table(
            "cli",
            1,
            "max_cycles = 5\ncan_plan = false\nmax_wait_for_tasks = \"5s\"",
        ),
    );
    let (path, log) = spy_path(&env);
    let out = env
        .oompa_cmd(&["swarm"])
        .env("PATH", &path)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let snap = oompa::store::Queue::new(&env.open()).snapshot().unwrap();
    assert_eq!(snap.count(oompa::store::State::Complete), 3, "{err}");
    // The swarm reset and committed in its worktrees (git CLI, hooks active); none of those
    // git commands started the guard. (Agents run the real binary first on their PATH.)
    let seen = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !seen.contains("hook reference-transaction"),
        "git oompa's own git started its guard:\n{seen}"
    );
}

/// Writes an executable hook `name` into `dir` that appends `<name> <first arg> <cwd>` to `log`.
fn logging_hook(dir: &Path, name: &str, log: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    write_executable(
        &path,
        &format!(
            "#!/bin/sh\necho \"{name} ${{1:-}} $PWD\" >> {log}\ncat >/dev/null\nexit 0\n",
            log = log.display()
        ),
    );
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn a_swarms_worktrees_and_agents_run_the_guard_and_the_users_own_hooks() {
    use crate::common::swarm::{swarm_repo, worker_with_env};
    let env = swarm_repo(
        1,
        &worker_with_env(
            "cli",
            1,
            "max_cycles = 3\ncan_plan = false\nmax_wait_for_tasks = \"2s\"",
            &[("FAKE_COMMIT_FIRST", "1"), ("FAKE_SNEAK", "@SNEAK@")],
        ),
    );
    let sneak = env.tmp.path().join("sneak.log");
    let config = read(&env.repo.join("oompa.toml"));
    std::fs::write(
        env.repo.join("oompa.toml"),
        config.replace("@SNEAK@", sneak.to_str().unwrap()),
    )
    .unwrap();
    // The person's own hooks, installed after git oompa's.
    let log = env.tmp.path().join("user-hooks.log");
    let hooks = env.repo.join(".git/hooks");
    logging_hook(&hooks, "pre-commit", &log);
    logging_hook(&hooks, "reference-transaction", &log);
    env.git(&["add", "oompa.toml"]);
    let out = user_git(&env, &env.repo, &["commit", "-q", "-m", "config"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let person = read(&log);
    let root = env.repo.canonicalize().unwrap();
    assert!(
        person.contains(&format!("pre-commit  {}", root.display())),
        "{person}"
    );
    assert!(
        person.contains(&format!(
            "reference-transaction committed {}",
            root.display()
        )),
        "{person}"
    );
    let main_before = main_tip(&env);

    let out = env.oompa_on_path(&["swarm"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let snap = oompa::store::Queue::new(&env.open()).snapshot().unwrap();
    assert_eq!(snap.count(oompa::store::State::Complete), 1, "{err}");

    // Every try of the agent's to move main was refused, with its environment or without,
    // from its worktree or from the main checkout.
    let tries = read(&sneak);
    assert!(tries.lines().count() >= 3, "{tries}");
    assert!(!tries.contains("moved:"), "{tries}");
    for what in [
        "refused: from its worktree\n",
        "refused: from the main checkout\n",
        "refused: from its worktree, environment cleared\n",
    ] {
        assert!(tries.contains(what), "{what}: {tries}");
    }
    let said = read(&env.tmp.path().join("sneak.log.err"));
    assert!(
        said.contains(
            "refusing to move main from inside a worker worktree (OOMPA_WORKER=w0 is set)"
        ),
        "{said}"
    );
    assert!(
        said.contains("(this worktree is on the worker branch oompa/"),
        "{said}"
    );
    // Main moved only through the merge queue: one landing on top of the person's commit.
    let landed = env.git(&[
        "rev-list",
        "--first-parent",
        &format!("{main_before}..main"),
    ]);
    assert_eq!(landed.lines().count(), 1, "{landed}");
    assert!(
        env.git(&["log", "-1", "--format=%B", "main"])
            .contains("Oompa-Task: t00"),
        "{}",
        env.git(&["log", "-1", "--format=%B", "main"])
    );

    // The person's hooks ran in the worker's worktree too (forwarded from the guard), and the
    // person's reference-transaction saw the refused transaction aborted there.
    let all = read(&log);
    let worker_lines: Vec<&str> = all
        .lines()
        .filter(|l| l.contains("/.oompa/worktrees/"))
        .collect();
    assert!(
        worker_lines.iter().any(|l| l.starts_with("pre-commit ")),
        "{all}"
    );
    assert!(
        worker_lines
            .iter()
            .any(|l| l.starts_with("reference-transaction aborted ")),
        "{all}"
    );
    crate::common::swarm::assert_clean_up(&env);
}

#[test]
fn an_agent_in_the_main_checkout_or_a_persons_worktree_cannot_move_the_target() {
    let (env, wt) = agent_setup();
    let mine = person_worktree(&env, "mine", "mine");
    env.git(&["checkout", "-q", "--detach"]);
    let repo = env.open();
    let agent_env = oompa::guard::hooks::agent_env(repo.common_dir());
    assert!(!agent_env.is_empty());
    let work = git_ok(&env, &wt, &["rev-parse", "HEAD"]);
    let before = main_tip(&env);
    for dir in [&env.repo, &mine, &env.repo.join("sub")] {
        std::fs::create_dir_all(dir).unwrap();
        let mut cmd = Command::new("git");
        crate::common::hermetic(&mut cmd, &env.home);
        as_agent(&mut cmd, "s1", "w0");
        let out = cmd
            .envs(agent_env.iter().map(|(k, v)| (k, v)))
            .current_dir(dir)
            .args(["update-ref", "refs/heads/main", work.trim()])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{}", dir.display());
        assert!(
            stderr(&out).contains("refusing to move main"),
            "{}: {}",
            dir.display(),
            stderr(&out)
        );
        assert_eq!(main_tip(&env), before);
    }
    // The same agent environment in an unrelated repository runs that repository's hooks,
    // not git oompa's guard: an agent's own test repositories are not guarded.
    let other = TestEnv::new();
    let mut cmd = Command::new("git");
    crate::common::hermetic(&mut cmd, &other.home);
    as_agent(&mut cmd, "s1", "w0");
    let out = cmd
        .envs(agent_env.iter().map(|(k, v)| (k, v)))
        .current_dir(&other.repo)
        .args([
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "an agent's test repo",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // And the person, without the agent's environment, moves main from the main checkout.
    let out = user_git(
        &env,
        &env.repo,
        &["update-ref", "refs/heads/main", work.trim()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_users_core_hooks_path_is_followed_into_worker_worktrees() {
    let env = TestEnv::new();
    let log = env.tmp.path().join("hooks.log");
    // A tracked, relative hooks directory (as husky and friends set it up).
    logging_hook(&env.repo.join(".githooks"), "pre-commit", &log);
    env.git(&["add", ".githooks"]);
    env.git(&["commit", "-q", "-m", "hooks"]);
    env.git(&["config", "core.hooksPath", ".githooks"]);
    env.oompa_ok(&["init"]);
    // The main checkout's .githooks/pre-push has git oompa's block; it is not committed.
    assert!(read(&env.repo.join(".githooks/pre-push")).contains("# >>> git-oompa >>>"));
    env.git(&["add", "oompa.toml"]);
    env.git(&["commit", "-q", "--no-verify", "-m", "init"]);
    start_swarm(&env, "s1", std::process::id(), &["w0"]);
    let wt = add_worker(&env, "s1", "w0");
    commit_in(&env, &wt, "w0.txt", "work\n");
    let wt_root = wt.canonicalize().unwrap();
    assert!(
        read(&log).contains(&format!("pre-commit  {}", wt_root.display())),
        "{}",
        read(&log)
    );
    // The guard's own pre-push runs in the worker even though the worker's copy of the
    // tracked hooks directory has no git oompa block.
    claim(&env, "s1", "w0", "t1", std::process::id());
    let remote = env.tmp.path().join("remote.git");
    env.git(&["init", "-q", "--bare", remote.to_str().unwrap()]);
    let out = agent_git(&env, &wt, &["push", "-q", remote.to_str().unwrap(), "HEAD"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("git oompa refuses this push"),
        "{}",
        stderr(&out)
    );

    // An absolute one: forwarded there, after `hooks install` notices the change.
    let abs = env.tmp.path().join("shared-hooks");
    logging_hook(&abs, "post-commit", &log);
    env.git(&["config", "core.hooksPath", abs.to_str().unwrap()]);
    let status = crate::common::stdout(&env.oompa(&["hooks", "status", "--json"]));
    assert!(status.contains("\"state\":\"outdated\""), "{status}");
    env.oompa_ok(&["hooks", "install"]);
    assert_all_installed(&env);
    commit_in(&env, &wt, "w0b.txt", "more\n");
    assert!(
        read(&log).contains(&format!("post-commit  {}", wt_root.display())),
        "{}",
        read(&log)
    );
}

#[test]
fn a_persons_own_linked_worktree_runs_no_guard() {
    let env = oompa_repo();
    let mine = person_worktree(&env, "mine", "mine");
    let (path, log) = spy_path(&env);
    for args in [
        &["commit", "-q", "--allow-empty", "-m", "one"][..],
        &["checkout", "-q", "-b", "topic"],
        &["branch", "-f", "mine-too", "HEAD"],
    ] {
        let mut cmd = Command::new("git");
        crate::common::hermetic(&mut cmd, &env.home);
        let out = cmd
            .current_dir(&mine)
            .env("PATH", &path)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    assert!(!read(&log).contains("hook "), "{}", read(&log));
    let rows = assert_all_installed(&env);
    assert!(
        rows.iter().all(|r| r["hook"] != "config.worktree"),
        "not a worker worktree: {rows:?}"
    );
}

/// Every file and config line below `.git` except the task queue's objects and logs.
fn git_dir_snapshot(env: &TestEnv) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let git = env.repo.join(".git");
    let mut stack = vec![git.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(&git).unwrap().to_string_lossy().into_owned();
            if ["objects", "logs", "refs", "index", "oompa"]
                .iter()
                .any(|skip| rel == *skip || rel.starts_with(&format!("{skip}/")))
                || rel.ends_with("/index")
                || rel.ends_with("/logs")
                || rel.contains("/logs/")
                || rel.ends_with("HEAD")
            {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((rel, read(&p)));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn hooks_uninstall_removes_every_file_and_setting_it_added() {
    let env = TestEnv::new();
    start_swarm(&env, "s1", std::process::id(), &["w0"]);
    let wt = add_worker(&env, "s1", "w0");
    let before = git_dir_snapshot(&env);
    env.oompa_ok(&["hooks", "install"]);
    // A worker worktree added before the install is pointed at the guard by it.
    assert_all_installed(&env);
    assert!(
        env.git(&["config", "--get", "extensions.worktreeConfig"])
            .contains("true")
    );
    let in_worker = git_ok(&env, &wt, &["config", "core.hooksPath"]);
    assert!(
        in_worker.trim().ends_with(".git/oompa/hooks"),
        "{in_worker}"
    );
    // The main checkout does not run it.
    let out = env.git_cmd(&["config", "core.hooksPath"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        crate::common::stdout(&out)
    );
    env.oompa_ok(&["hooks", "uninstall"]);
    assert_eq!(git_dir_snapshot(&env), before);
    assert!(!env.repo.join(".git/oompa/hooks").exists());
    assert!(!env.repo.join(".git/oompa/hooks.config").exists());
    let out = git_in(&env, &wt, &["config", "core.hooksPath"]);
    assert!(!out.status.success(), "{}", crate::common::stdout(&out));

    // A repository that had extensions.worktreeConfig on already keeps it, and the person's
    // own per-worktree settings.
    env.git(&["config", "extensions.worktreeConfig", "true"]);
    git_ok(
        &env,
        &wt,
        &["config", "--worktree", "user.name", "Worker Person"],
    );
    let before = git_dir_snapshot(&env);
    env.oompa_ok(&["hooks", "install"]);
    env.oompa_ok(&["hooks", "uninstall"]);
    assert_eq!(git_dir_snapshot(&env), before);
}

#[test]
fn doctor_fix_upgrades_a_guard_in_the_main_hooks_directory() {
    let env = TestEnv::new();
    // As an earlier git oompa installed it: both shims in .git/hooks.
    let hooks = env.repo.join(".git/hooks");
    let old = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hooks-before-the-guard");
    std::fs::copy(
        old.join("reference-transaction"),
        hooks.join("reference-transaction"),
    )
    .unwrap();
    std::fs::write(hooks.join("pre-push"), shipped("pre-push")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    for name in ["pre-push", "reference-transaction"] {
        std::fs::set_permissions(hooks.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    env.git(&["config", "--add", "log.excludeDecoration", "refs/oompa/*"]);
    start_swarm(&env, "s1", std::process::id(), &["w0"]);
    let wt = add_worker(&env, "s1", "w0");

    let status = env.oompa_ok(&["hooks", "status"]);
    assert!(status.contains("old layout"), "{status}");
    let out = env.oompa(&["doctor"]);
    let text = crate::common::stdout(&out);
    assert!(
        text.contains("problem hooks: reference-transaction old layout in")
            && text.contains(
                "every git command of yours starts a shell for that reference-transaction"
            ),
        "{text}"
    );
    assert!(text.contains("problem worker guard:"), "{text}");
    assert!(
        text.contains("worker worktree") && text.contains("does not run it"),
        "{text}"
    );
    let out = env.oompa(&["doctor", "--fix"]);
    let text = crate::common::stdout(&out);
    assert!(text.contains("fixed   hooks:"), "{text}");
    assert!(
        text.contains("moved reference-transaction out of your hooks directory"),
        "{text}"
    );
    assert!(!hooks.join("reference-transaction").exists());
    assert_all_installed(&env);

    // Now the person's commands start nothing, and the worker is still guarded.
    let (path, log) = spy_path(&env);
    let mut cmd = Command::new("git");
    crate::common::hermetic(&mut cmd, &env.home);
    let out = cmd
        .current_dir(&env.repo)
        .env("PATH", &path)
        .args(["commit", "-q", "--allow-empty", "-m", "after"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!read(&log).contains("hook "), "{}", read(&log));
    commit_in(&env, &wt, "w0.txt", "work\n");
    env.git(&["checkout", "-q", "--detach"]);
    let out = user_git(&env, &wt, &["update-ref", "refs/heads/main", "HEAD"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("(this worktree is on the worker branch oompa/s1/w0)"),
        "{}",
        stderr(&out)
    );
}
