//! Settings resolved once: every command (the swarm, `gc`, the guards, `hooks`, `doctor`, the
//! invariant checks) finds worker worktrees where git config `oompa.worktreeDir` puts them.

use std::path::PathBuf;

use crate::common::guard::{
    add_worker_at, claim, commit_in, crash_swarm, git_ok, oompa_repo, refs_under, start_swarm,
    user_git,
};
use crate::common::{TestEnv, stderr, stdout};

/// The custom worktree directory these tests configure, relative to the repository root.
const CUSTOM_DIR: &str = "agents-wt";

/// A repository after `git oompa init`, whose worker worktrees live under [`CUSTOM_DIR`] by
/// git config.
fn custom_dir_repo() -> TestEnv {
    let env = oompa_repo();
    env.git(&["config", "oompa.worktreeDir", CUSTOM_DIR]);
    env
}

/// Adds a worker worktree under the custom directory, guarded the way a swarm guards it.
fn add_custom_worker(env: &TestEnv, swarm: &str, worker: &str) -> PathBuf {
    let path = env.repo.join(CUSTOM_DIR).join(swarm).join(worker);
    add_worker_at(env, path, swarm, worker)
}

#[test]
fn the_guard_recognises_a_worker_worktree_under_a_custom_worktree_dir() {
    let env = custom_dir_repo();
    let me = std::process::id();
    start_swarm(&env, "s1", me, &["w0"]);
    let wt = add_custom_worker(&env, "s1", "w0");
    claim(&env, "s1", "w0", "t1", me);
    commit_in(&env, &wt, "w0.txt", "work of w0\n");
    // Off the worker branch and without its variables, only the worktree's place says it
    // belongs to a worker. Main is checked out nowhere, so only the guard stands in the way.
    git_ok(&env, &wt, &["checkout", "-q", "--detach"]);
    env.git(&["checkout", "-q", "--detach"]);
    let before = env.git(&["rev-parse", "main"]);
    let out = user_git(&env, &wt, &["branch", "-f", "main", "HEAD"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "the agent moved main:\n{err}");
    assert!(
        err.contains("refusing to move main from inside a worker worktree")
            && err.contains("this worktree is under the swarm worktree directory"),
        "{err}"
    );
    assert!(err.contains(CUSTOM_DIR), "{err}");
    assert_eq!(env.git(&["rev-parse", "main"]), before);
}

#[test]
fn gc_cleans_up_a_crashed_swarms_worktrees_under_a_custom_worktree_dir() {
    let env = custom_dir_repo();
    let me = std::process::id();
    start_swarm(&env, "s1", me, &["w0"]);
    let wt = add_custom_worker(&env, "s1", "w0");
    claim(&env, "s1", "w0", "t1", me);
    let work = commit_in(&env, &wt, "w0.txt", "committed\n");
    std::fs::write(wt.join("left-over.txt"), "uncommitted\n").expect("write");
    crash_swarm(&env, "s1");

    let out = env.oompa_cmd(&["gc"]).output().expect("run gc");
    let o = stdout(&out);
    assert!(out.status.success(), "{o}\n{}", stderr(&out));
    assert!(!wt.exists(), "gc left the crashed swarm's worktree:\n{o}");
    assert!(
        !env.git(&["worktree", "list"]).contains(CUSTOM_DIR),
        "gc left the worktree registered:\n{o}"
    );
    // Its work is kept, the uncommitted part included.
    let kept = refs_under(&env, "refs/oompa/keep/s1/w0");
    assert!(!kept.is_empty(), "nothing kept:\n{o}");
    let tip = kept.last().expect("a keep ref");
    env.git(&["merge-base", "--is-ancestor", &work.to_string(), tip]);
    assert!(
        kept.iter().any(|k| {
            git_ok(&env, &env.repo, &["ls-tree", "-r", "--name-only", k]).contains("left-over.txt")
        }),
        "the uncommitted work is lost:\n{o}"
    );
}
