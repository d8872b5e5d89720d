//! The one ancestry check (`Repo::is_ancestor`): commit dates never make its answer wrong, so
//! `pre-push` does not refuse a push whose history has a commit dated years back or ahead.

use std::process::{Command, Output};

use crate::common::guard::{land, oompa_repo, working_worker};
use crate::common::{TestEnv, path_with_bin, stderr};

/// A repository after `git oompa init` (with git-oompa on PATH, as a user has it), and a bare
/// `origin` that has its main.
fn repo_with_origin() -> TestEnv {
    let env = oompa_repo();
    let remote = env.tmp.path().join("remote.git");
    env.git(&["init", "-q", "--bare", remote.to_str().expect("utf-8")]);
    env.git(&["remote", "add", "origin", remote.to_str().expect("utf-8")]);
    let out = user_git(&env, &["push", "-q", "origin", "main"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    env
}

/// git in the main worktree with the user's PATH (the hooks run), committing at `date` if
/// given.
fn user_git(env: &TestEnv, args: &[&str], date: Option<&str>) -> Output {
    let mut cmd = Command::new("git");
    crate::common::hermetic(&mut cmd, &env.home);
    if let Some(d) = date {
        cmd.env("GIT_COMMITTER_DATE", d).env("GIT_AUTHOR_DATE", d);
    }
    cmd.current_dir(&env.repo)
        .env("PATH", path_with_bin())
        .args(args)
        .output()
        .expect("run git")
}

/// A task landed on main by the merge queue, then a commit on main dated `date`, then one
/// dated as usual; returns the landing's id.
fn landing_under_a_commit_dated(env: &TestEnv, date: &str) -> String {
    working_worker(env, "work of w0\n");
    let landing = land(env, "s1", "w0", false).expect("a landing");
    env.git(&["reset", "-q", "--hard", "main"]);
    for (file, when) in [("skewed.txt", Some(date)), ("after.txt", None)] {
        std::fs::write(env.repo.join(file), "x\n").expect("write");
        env.git(&["add", file]);
        let out = user_git(env, &["commit", "-q", "-m", file], when);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    landing.to_string()
}

fn assert_push_of_main_and_queue_goes_through(env: &TestEnv, landing: &str) {
    env.git(&["merge-base", "--is-ancestor", landing, "main"]);
    let out = user_git(
        env,
        &["push", "-q", "origin", "main", "refs/oompa/tasks"],
        None,
    );
    assert!(
        out.status.success(),
        "pre-push refused a landing that is on the main being pushed:\n{}",
        stderr(&out)
    );
}

#[test]
fn a_push_whose_main_has_a_commit_dated_years_back_above_a_landing_is_not_refused() {
    let env = repo_with_origin();
    let landing = landing_under_a_commit_dated(&env, "2001-01-01T00:00:00Z");
    assert_push_of_main_and_queue_goes_through(&env, &landing);
}
