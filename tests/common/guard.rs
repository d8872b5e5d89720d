//! Swarm state built by hand for the guard tests (hooks, doctor, gc): swarm records, worker
//! branches in worktrees under `.oompa/worktrees/<swarm>/<worker>`, claims, agent commits and
//! landings made the way the merge queue makes them, without running agents.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use oompa::git::merge::Merge;
use oompa::git::{ObjectId, RefUpdate};
use oompa::store::swarm::{Stopped, SwarmRecord};
use oompa::store::{Claimant, Landed, Queue, Task, TaskId, trailers};

use crate::common::{TestEnv, hermetic, path_with_bin, stderr, stdout};

/// A repository after `git oompa init` (with git-oompa on PATH, as a user has it).
pub fn oompa_repo() -> TestEnv {
    let env = TestEnv::new();
    let out = env.oompa_on_path(&["init"]);
    assert!(out.status.success(), "{}", stderr(&out));
    env.git(&["add", "oompa.toml"]);
    env.git(&["commit", "-q", "-m", "oompa.toml"]);
    env
}

/// `git oompa doctor ARGS` with git-oompa on PATH: (exit code, stdout, stderr).
pub fn doctor(env: &TestEnv, args: &[&str]) -> (Option<i32>, String, String) {
    let mut a = vec!["doctor"];
    a.extend_from_slice(args);
    let out = env.oompa_on_path(&a);
    (out.status.code(), stdout(&out), stderr(&out))
}

/// A person's own linked worktree at `<tmp>/<dir>`, on a new branch `branch` made with
/// plain `git worktree add` (no swarm, no guard). Returns its path.
pub fn person_worktree(env: &TestEnv, dir: &str, branch: &str) -> PathBuf {
    let path = env.tmp.path().join(dir);
    env.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        branch,
        path.to_str().unwrap(),
    ]);
    path
}

/// A worktree in `<tmp>/<dir>` (on a new branch `gone`) whose directory has since been
/// removed: git still lists it. Returns the path it had.
pub fn gone_worktree(env: &TestEnv, dir: &str) -> PathBuf {
    let gone = person_worktree(env, dir, "gone");
    std::fs::remove_dir_all(&gone).unwrap();
    gone
}

/// A pid that belonged to a process that has exited.
pub fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().expect("spawn true");
    let pid = child.id();
    child.wait().expect("wait");
    pid
}

/// The worker branch's full name.
pub fn branch(swarm: &str, worker: &str) -> String {
    format!("refs/heads/oompa/{swarm}/{worker}")
}

/// Where a worker's worktree lives.
pub fn worktree(env: &TestEnv, swarm: &str, worker: &str) -> PathBuf {
    env.repo.join(".oompa/worktrees").join(swarm).join(worker)
}

/// Records a swarm in the queue (creating the queue if needed), owned by `pid`.
pub fn start_swarm(env: &TestEnv, swarm: &str, pid: u32, workers: &[&str]) {
    let repo = env.open();
    let q = Queue::new(&repo);
    q.init().unwrap();
    q.put_swarm(
        &SwarmRecord {
            version: 1,
            id: swarm.into(),
            started: "2026-01-01T00:00:00Z".into(),
            host: oompa::store::queue::hostname(),
            pid,
            target: "main".into(),
            config: None,
            workers: workers.iter().map(|w| w.to_string()).collect(),
            stopped: None,
        },
        "started",
    )
    .unwrap();
}

/// Rewrites the record of `swarm` in the queue with `change`, under the commit message `why`.
fn edit_swarm(env: &TestEnv, swarm: &str, why: &str, change: impl FnOnce(&mut SwarmRecord)) {
    let repo = env.open();
    let q = Queue::new(&repo);
    let mut rec = q
        .swarms()
        .unwrap()
        .into_iter()
        .find(|s| s.id == swarm)
        .expect("swarm record");
    change(&mut rec);
    q.put_swarm(&rec, why).unwrap();
}

/// Marks a swarm's process as gone (a crash): its record now names a dead pid.
pub fn crash_swarm(env: &TestEnv, swarm: &str) {
    edit_swarm(env, swarm, "crashed (test)", |rec| rec.pid = dead_pid());
}

/// Marks a swarm as stopped normally.
pub fn stop_swarm(env: &TestEnv, swarm: &str) {
    edit_swarm(env, swarm, "completed", |rec| {
        rec.stopped = Some(Stopped {
            at: "2026-01-01T01:00:00Z".into(),
            reason: "completed".into(),
        });
    });
}

/// Creates the worker branch at the target tip and its worktree, pointed at git oompa's guard
/// hooks the way a swarm points the worktrees it creates (when the guard is installed).
pub fn add_worker(env: &TestEnv, swarm: &str, worker: &str) -> PathBuf {
    add_worker_at(env, worktree(env, swarm, worker), swarm, worker)
}

/// [`add_worker`] with the worktree at `path` (a custom worktree directory).
pub fn add_worker_at(env: &TestEnv, path: PathBuf, swarm: &str, worker: &str) -> PathBuf {
    let b = branch(swarm, worker);
    env.git(&["branch", b.trim_start_matches("refs/heads/"), "main"]);
    env.git(&[
        "worktree",
        "add",
        "-q",
        path.to_str().unwrap(),
        b.trim_start_matches("refs/heads/"),
    ]);
    oompa::guard::hooks::guard_worktree(&env.open(), &path).unwrap();
    path
}

/// The usual guard scene: swarm `s1`, owned by this process, whose worker `w0` holds task
/// `t1` and has committed `w0.txt` with `content` in its worktree. Returns the worktree and
/// that commit.
pub fn working_worker(env: &TestEnv, content: &str) -> (PathBuf, ObjectId) {
    let pid = std::process::id();
    start_swarm(env, "s1", pid, &["w0"]);
    let wt = add_worker(env, "s1", "w0");
    claim(env, "s1", "w0", "t1", pid);
    let work = commit_in(env, &wt, "w0.txt", content);
    (wt, work)
}

/// Adds task `id` (if new) and claims it for the worker, as an agent would.
pub fn claim(env: &TestEnv, swarm: &str, worker: &str, id: &str, pid: u32) {
    let repo = env.open();
    let q = Queue::new(&repo);
    q.init().unwrap();
    let tid = TaskId::new(id).unwrap();
    if q.get(&tid).is_err() {
        q.add(&[task(id)], "test").unwrap();
    }
    let out = q
        .claim(
            &[tid],
            &Claimant {
                swarm: swarm.into(),
                worker: worker.into(),
                branch: Some(branch(swarm, worker)),
                lease: Duration::from_secs(3600),
                pid: Some(pid),
            },
        )
        .unwrap();
    assert_eq!(out[0].1, oompa::store::ClaimOutcome::Claimed, "{out:?}");
}

pub fn task(id: &str) -> Task {
    Task::new(
        TaskId::new(id).unwrap(),
        format!("Task {id}"),
        "2026-01-01T00:00:00Z".into(),
        "test".into(),
    )
}

/// git in `dir`, hermetic, returning the output whatever the status.
pub fn git_in(env: &TestEnv, dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new("git");
    hermetic(&mut cmd, &env.home);
    cmd.current_dir(dir).args(args).output().expect("run git")
}

/// git in `dir` as a person runs it: the user's PATH (git-oompa on it, so the hooks run) and
/// no swarm variables. Returns the output whatever the status.
pub fn user_git(env: &TestEnv, dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new("git");
    hermetic(&mut cmd, &env.home);
    cmd.current_dir(dir)
        .env("PATH", path_with_bin())
        .args(args)
        .output()
        .expect("run git")
}

/// git in `dir`, asserting success; returns stdout.
pub fn git_ok(env: &TestEnv, dir: &Path, args: &[&str]) -> String {
    let out = git_in(env, dir, args);
    assert!(
        out.status.success(),
        "git {args:?} in {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The agent's environment for `cmd`: OOMPA_* of the worker and git-oompa on PATH.
pub fn as_agent(cmd: &mut Command, swarm: &str, worker: &str) {
    cmd.env("OOMPA_SWARM", swarm)
        .env("OOMPA_WORKER", worker)
        .env("OOMPA_CYCLE", "1")
        .env("OOMPA_BRANCH", branch(swarm, worker))
        .env("OOMPA_TARGET", "main")
        .env("PATH", path_with_bin());
}

/// Writes `file` in the worktree and commits it there (git CLI, as an agent does).
pub fn commit_in(env: &TestEnv, dir: &Path, file: &str, content: &str) -> ObjectId {
    let path = dir.join(file);
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).unwrap();
    }
    std::fs::write(&path, content).unwrap();
    git_ok(env, dir, &["add", "-A"]);
    git_ok(env, dir, &["commit", "-q", "-m", &format!("Write {file}")]);
    ObjectId::from_hex(git_ok(env, dir, &["rev-parse", "HEAD"]).trim().as_bytes()).unwrap()
}

/// Lands the worker's branch on main the way the merge queue does: a landing commit with
/// trailers (a merge, or with `squash` a single-parent commit with the merged tree), main and
/// the worker's tasks moved in one transaction. After a merge landing the worker's worktree
/// is reset to the new main, like the next cycle's refresh. Returns the landing, or `None`
/// when there was nothing to land.
pub fn land(env: &TestEnv, swarm: &str, worker: &str, squash: bool) -> Option<ObjectId> {
    let repo = env.open();
    let target = repo.read_ref("refs/heads/main").unwrap().unwrap();
    let b = branch(swarm, worker);
    let tip = repo.read_ref(&b).unwrap()?;
    let tree = match repo.merge(target, tip).unwrap() {
        Merge::UpToDate => return None,
        Merge::FastForward { tree } | Merge::Clean { tree } => tree,
        Merge::Conflict { paths } => panic!("the fixtures never conflict: {paths:?}"),
    };
    let q = Queue::new(&repo);
    let held: Vec<Task> = q
        .snapshot()
        .unwrap()
        .held_by(swarm, worker)
        .cloned()
        .collect();
    let msg = trailers::landing_message(&held, &[], worker, swarm, &b, 0);
    let parents: Vec<ObjectId> = if squash {
        vec![target]
    } else {
        vec![target, tip]
    };
    let commit = repo.commit(&msg, tree, &parents).unwrap();
    let ids: Vec<TaskId> = held.iter().map(|t| t.id.clone()).collect();
    let landed = Landed {
        commit: commit.to_string(),
        review_rounds: 0,
        at: "2026-01-01T00:00:00Z".into(),
        worker: Some(worker.into()),
    };
    q.with_lock(|| {
        let mut updates = vec![RefUpdate {
            name: "refs/heads/main".into(),
            expected: Some(target),
            new: Some(commit),
            message: format!("oompa: land {b} ({worker})"),
        }];
        if !ids.is_empty() {
            updates.push(q.plan_complete(&ids, &landed, "test").unwrap());
        }
        repo.transaction(&updates).unwrap();
    });
    // The user's checkout of main follows, like `git merge --ff-only`.
    git_ok(
        env,
        &env.repo,
        &[
            "read-tree",
            "-m",
            "-u",
            &target.to_string(),
            &commit.to_string(),
        ],
    );
    if !squash {
        let wt = worktree(env, swarm, worker);
        if wt.is_dir() {
            git_ok(env, &wt, &["reset", "-q", "--hard", &commit.to_string()]);
        }
    }
    Some(commit)
}

/// Every commit reachable from `refs` (full names or ids), as a set.
pub fn reachable(env: &TestEnv, refs: &[String]) -> std::collections::HashSet<String> {
    if refs.is_empty() {
        return Default::default();
    }
    let mut args = vec!["rev-list".to_string()];
    args.extend(refs.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    env.git(&args).lines().map(str::to_string).collect()
}

/// Full names of refs under a prefix.
pub fn refs_under(env: &TestEnv, prefix: &str) -> Vec<String> {
    env.git(&["for-each-ref", "--format=%(refname)", prefix])
        .lines()
        .map(str::to_string)
        .collect()
}
