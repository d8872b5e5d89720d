//! Crash leftovers never wedge a command (issue 8, items 1-5): stale lock files, a landing
//! cut short by SIGKILL, crashed worktrees, workers that cannot start.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use crate::common::{TestEnv, stderr, stdout};

/// Runs `cmd` to its end, failing the test (instead of hanging it) if it is still running
/// after `limit`: a guard against hangs, not a timing assertion.
pub fn run_bounded(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = std::time::Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "{cmd:?} hung (killed after {limit:?}):\nstdout:\n{}\nstderr:\n{}",
                stdout(&out),
                stderr(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Creates `path` as a lock file last written `age` ago, as a killed process leaves it.
pub fn leave_lock(path: &Path, age: Duration) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("mkdir");
    }
    let f = std::fs::File::create(path).expect("create lock");
    f.set_modified(SystemTime::now() - age).expect("set mtime");
}

const LIMIT: Duration = Duration::from_secs(60);

fn initialised() -> TestEnv {
    let env = TestEnv::new();
    env.oompa_ok(&["init"]);
    env
}

#[test]
fn a_stale_packed_refs_lock_fails_fast_with_its_path_and_age() {
    let env = initialised();
    let lock = env.repo.join(".git/packed-refs.lock");
    leave_lock(&lock, Duration::from_secs(150));
    let out = run_bounded(env.oompa_cmd(&["task", "add", "X", "--id", "x1"]), LIMIT);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&lock.display().to_string()),
        "names the lock: {err}"
    );
    assert!(err.contains("2m3"), "says its age: {err}");
    assert!(err.contains("no process has it open"), "{err}");
    assert!(
        err.contains(&format!(
            "hint: its owner is gone: remove it with `rm '{}'`",
            lock.display()
        )),
        "{err}"
    );

    // doctor sees it, and --fix removes it; then the write goes through.
    let out = env.oompa(&["doctor"]);
    let text = stdout(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("problem locks: stale lock") && text.contains("packed-refs.lock"),
        "{text}"
    );
    let out = env.oompa(&["doctor", "--fix"]);
    assert!(
        stdout(&out).contains("removed the stale lock"),
        "{}",
        stdout(&out)
    );
    assert!(!lock.exists());
    env.oompa_ok(&["task", "add", "X", "--id", "x1"]);
}

#[test]
fn a_stale_ref_lock_on_the_queue_ref_fails_fast_too() {
    let env = initialised();
    let lock = env.repo.join(".git/refs/oompa/tasks.lock");
    leave_lock(&lock, Duration::from_secs(600));
    let out = run_bounded(env.oompa_cmd(&["task", "add", "X", "--id", "x1"]), LIMIT);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("refs/oompa/tasks.lock (10m0"), "{err}");
    let out = env.oompa(&["doctor", "--fix"]);
    assert!(
        stdout(&out).contains("removed the stale lock"),
        "{}",
        stdout(&out)
    );
    env.oompa_ok(&["task", "add", "X", "--id", "x1"]);
}

#[test]
fn a_fresh_lock_is_waited_for_a_bounded_time_then_named() {
    let env = initialised();
    env.git(&["config", "oompa.lockTimeout", "300"]);
    let lock = env.repo.join(".git/packed-refs.lock");
    leave_lock(&lock, Duration::ZERO);
    let out = run_bounded(env.oompa_cmd(&["task", "add", "X", "--id", "x1"]), LIMIT);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&lock.display().to_string()) && err.contains("is still there after waiting"),
        "{err}"
    );
    assert!(err.contains("if no git command is running"), "{err}");
    // A young lock may belong to a live process: doctor leaves it alone.
    let out = env.oompa(&["doctor", "--fix"]);
    assert!(!stdout(&out).contains("stale lock"), "{}", stdout(&out));
    assert!(lock.exists());
}

#[test]
fn a_lock_released_while_a_write_waits_lets_the_write_through() {
    let env = initialised();
    let lock = env.repo.join(".git/packed-refs.lock");
    leave_lock(&lock, Duration::ZERO);
    let child = env
        .oompa_cmd(&["task", "add", "X", "--id", "x1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(300));
    std::fs::remove_file(&lock).expect("release the lock");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(env.oompa_ok(&["task", "list"]).contains("x1"));
}

/// Every lock file under `.git`.
pub fn lock_files(git_dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![git_dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "lock") {
                out.push(p);
            }
        }
    }
    out
}

// ---- item 5: workers that cannot start ----

#[test]
fn a_swarm_whose_workers_cannot_create_their_worktrees_says_why_and_exits_non_zero() {
    use crate::test_swarm::{swarm_repo, worker_table};
    // The worktree directory lies under a regular file: no worktree can be created there.
    let env = swarm_repo(1, &worker_table("polite", 2, "max_cycles = 1"));
    let toml = std::fs::read_to_string(env.repo.join("oompa.toml")).expect("read");
    std::fs::write(
        env.repo.join("oompa.toml"),
        format!("worktree_dir = \"README.md/wt\"\n{toml}"),
    )
    .expect("write");
    let out = run_bounded(env.oompa_cmd(&["swarm"]), LIMIT);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for w in ["w0", "w1"] {
        assert!(
            err.contains(&format!("error: [{w}] could not create its worktree"))
                && err.contains("Not a directory"),
            "each worker's failure is an error with its cause:\n{err}"
        );
    }
    assert!(
        err.contains("error: no worker could start (2 tried)"),
        "{err}"
    );
    // Nothing was claimed, nothing is left behind.
    assert!(
        env.oompa_ok(&["task", "list", "--state", "pending"])
            .contains("t00")
    );
    assert_eq!(env.git(&["branch", "--list", "oompa/*"]).trim(), "");
}

#[test]
fn workers_start_without_a_committer_identity() {
    use crate::test_swarm::{swarm_repo, worker_table};
    let env = swarm_repo(1, &worker_table("crash", 1, "max_cycles = 1"));
    env.git(&["config", "--unset", "user.name"]);
    env.git(&["config", "--unset", "user.email"]);
    let out = run_bounded(env.oompa_cmd(&["swarm"]), LIMIT);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("could not create its worktree"), "{err}");
    assert!(err.contains("[w0] cycle 1 started"), "{err}");
}

#[test]
fn sixty_four_workers_creating_their_worktrees_at_once_all_start() {
    const N: usize = 64;
    // What a 64-worker swarm does at its start, without the agents: every worker creates
    // its branch and worktree at the same moment, while other ref transactions rewrite
    // packed-refs (here: creating and deleting refs next to them).
    let env = TestEnv::new();
    env.git(&["pack-refs", "--all"]);
    let repo = env.open();
    let base = repo.rev_parse("HEAD").expect("HEAD");
    let shared = repo.into_shared();
    let root = env.repo.join(".oompa/worktrees/s1");
    let failures: Vec<String> = std::thread::scope(|s| {
        let churn = {
            let shared = shared.clone();
            s.spawn(move || {
                let repo = shared.to_thread_local();
                for i in 0..40 {
                    let name = format!("refs/oompa/keep/churn/{i}");
                    repo.cas_ref(&name, None, base, "churn").expect("create");
                    repo.transaction(&[oompa::git::RefUpdate {
                        name,
                        expected: Some(base),
                        new: None,
                        message: "churn".into(),
                    }])
                    .expect("delete");
                }
            })
        };
        let start = std::sync::Arc::new(std::sync::Barrier::new(N));
        let workers: Vec<_> = (0..N)
            .map(|i| {
                let shared = shared.clone();
                let root = root.clone();
                let start = std::sync::Arc::clone(&start);
                s.spawn(move || {
                    let repo = shared.to_thread_local();
                    start.wait();
                    let branch = format!("refs/heads/oompa/s1/w{i}");
                    repo.cas_ref(&branch, None, base, "oompa: worker branch")
                        .and_then(|()| repo.add_worktree(&root.join(format!("w{i}")), &branch))
                        .err()
                        .map(|e| format!("w{i}: {}", e.detail()))
                })
            })
            .collect();
        churn.join().expect("churn thread");
        workers
            .into_iter()
            .filter_map(|w| w.join().expect("worker thread"))
            .collect()
    });
    assert!(failures.is_empty(), "{failures:#?}");
    let list = env.git(&["worktree", "list", "--porcelain"]);
    assert_eq!(list.matches("worktree ").count(), N + 1, "{list}");
}

// ---- item 4: gc and crashed worktrees ----

#[test]
fn gc_goes_on_past_a_crashed_worktree_with_a_head_lock_and_says_what_it_could_not_do() {
    use crate::guard_fixtures::{
        add_worker, claim, commit_in, crash_swarm, refs_under, start_swarm,
    };
    let env = TestEnv::new();
    let me = std::process::id();
    start_swarm(&env, "s1", me, &["w0", "w1"]);
    let w0 = add_worker(&env, "s1", "w0");
    let w1 = add_worker(&env, "s1", "w1");
    claim(&env, "s1", "w0", "t1", me);
    claim(&env, "s1", "w1", "t2", me);
    // w0's agent was killed inside `git commit`: uncommitted work and HEAD.lock left behind.
    let c0 = commit_in(&env, &w0, "w0.txt", "committed\n");
    std::fs::write(w0.join("left-over.txt"), "uncommitted\n").expect("write");
    let head_lock = env.repo.join(".git/worktrees/w0/HEAD.lock");
    leave_lock(&head_lock, Duration::from_secs(5));
    let c1 = commit_in(&env, &w1, "w1.txt", "committed\n");
    crash_swarm(&env, "s1");

    let out = run_bounded(env.oompa_cmd(&["gc"]), LIMIT);
    let (o, e) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{o}\n{e}");
    assert!(
        e.contains(&format!("could not remove worktree {}", w0.display()))
            && e.contains(&head_lock.display().to_string()),
        "says which worktree and which lock:\n{e}"
    );
    assert!(e.contains(&format!("rm '{}'", head_lock.display())), "{e}");
    assert!(e.contains("gc could not do 1 thing(s)"), "{e}");
    // Everything else was done: w1's worktree is gone, its work kept, its branch deleted.
    assert!(
        o.contains(&format!("remove worktree {}", w1.display())),
        "{o}"
    );
    assert!(!w1.exists());
    assert!(
        env.git(&["branch", "--list", "oompa/s1/w1"])
            .trim()
            .is_empty()
    );
    let kept = refs_under(&env, "refs/oompa/keep/");
    assert!(
        kept.iter()
            .any(|k| env.git(&["rev-parse", k]).trim() == c1.to_string()),
        "{kept:?}"
    );
    // w0 is untouched: worktree, branch, uncommitted file.
    assert!(w0.join("left-over.txt").exists());
    assert_eq!(
        env.git(&["rev-parse", "oompa/s1/w0"]).trim(),
        c0.to_string()
    );

    // doctor does not say "no problems found".
    let out = env.oompa(&["doctor"]);
    let d = stdout(&out);
    assert!(!out.status.success(), "{d}");
    assert!(
        d.contains("problem swarm leftovers: swarms that are no longer running left 1 worktree(s)")
            && d.contains(&w0.display().to_string()),
        "{d}"
    );

    // Once the lock is gone, gc finishes the job and keeps w0's work, uncommitted part too.
    std::fs::remove_file(&head_lock).expect("rm lock");
    let out = run_bounded(env.oompa_cmd(&["gc"]), LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!w0.exists());
    let kept = refs_under(&env, "refs/oompa/keep/s1/w0/gc");
    assert_eq!(kept.len(), 1, "{kept:?}");
    env.git(&["cat-file", "-e", &format!("{}:left-over.txt", kept[0])]);
    env.git(&["merge-base", "--is-ancestor", &c0.to_string(), &kept[0]]);
    let out = env.oompa(&["doctor"]);
    assert!(
        stdout(&out).contains("ok      swarm leftovers"),
        "{}",
        stdout(&out)
    );
}
