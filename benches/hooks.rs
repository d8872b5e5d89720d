//! How long git oompa's hooks take on a big repository: 10,000 tasks (10 of them claimed by
//! a live swarm whose workers have unlanded commits) and 100,000 cycle records, with a
//! 10,000-commit target. The hooks must stay under 50 ms so they never make an ordinary git
//! command slow.
//!
//! `cargo bench --bench hooks` (a release build). Set `OOMPA_BENCH_DIR` to keep the fixture
//! between runs (it takes a few seconds to build), `OOMPA_BENCH_RUNS` for the repetitions,
//! `OOMPA_BENCH_ONLY=person` for the person's-commands table alone.
//! Prints one line per case: min / median / p90 wall-clock milliseconds of the whole hook
//! process (the binary as git would start it, reading stdin, deciding, exiting), then what a
//! person's own `git commit`, `git checkout -b` and 20-commit `git rebase` in the main worktree
//! cost with the hooks installed against without them.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oompa::git::{ObjectId, Repo};
use oompa::store::notes::Notes;
use oompa::store::record::{CycleRecord, Outcome, RECORD_VERSION};
use oompa::store::swarm::SwarmRecord;
use oompa::store::{Claim, Landed, Queue, State, Task, TaskId};

const BIN: &str = env!("CARGO_BIN_EXE_git-oompa");
const TASKS: usize = 10_000;
const CLAIMED: usize = 10;
const PENDING: usize = 20;
const RECORDS: usize = 100_000;
const SWARM: &str = "bench";

fn main() {
    let runs: usize = std::env::var("OOMPA_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(40);
    let (dir, _guard) = bench_dir();
    let repo_dir = dir.join("repo");
    let remote = dir.join("remote.git");
    if !repo_dir.join(".git/oompa-bench-ready").is_file() {
        let t = Instant::now();
        build_fixture(&dir, &repo_dir, &remote);
        eprintln!(
            "built the fixture in {:.1} s at {}",
            t.elapsed().as_secs_f64(),
            dir.display()
        );
    }
    // Installed (or brought up to date) on every run, so a kept fixture has this version's
    // hooks: pre-push in .git/hooks, the guard in .git/oompa/hooks for the worker worktrees.
    {
        let repo = Repo::discover(&repo_dir).expect("open fixture");
        let settings = oompa::settings::Settings::resolve(&repo, &Default::default());
        oompa::guard::hooks::install_all(&repo, &settings).expect("install the hooks");
    }
    if std::env::var_os("OOMPA_BENCH_BUILD_ONLY").is_some() {
        return;
    }
    // `OOMPA_BENCH_ONLY=person`: only what a person's own commands cost with the hooks.
    if std::env::var("OOMPA_BENCH_ONLY").is_ok_and(|v| v == "person") {
        person_rows(&repo_dir, runs);
        return;
    }
    // First as the swarm leaves a repository (gix writes loose objects), then packed, as it
    // is once git's own gc has run.
    let mut worst: f64 = 0.0;
    let loose = loose_objects(&repo_dir);
    if loose > 0 {
        worst = worst.max(run_cases(
            &repo_dir,
            &remote,
            runs,
            &format!("{loose} loose objects, as the swarm leaves them"),
        ));
        git(&repo_dir, &["gc", "-q"]);
    }
    worst = worst.max(run_cases(
        &repo_dir,
        &remote,
        runs,
        "packed, after `git gc`",
    ));
    println!("worst hook p90: {worst:.2} ms (budget 50 ms)");
    assert!(worst < 50.0, "a hook took {worst:.2} ms at p90");
}

fn loose_objects(repo: &Path) -> u64 {
    git(repo, &["count-objects", "-v"])
        .lines()
        .find_map(|l| l.strip_prefix("count: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Runs every case once; returns the worst p90 among the hook cases.
fn run_cases(repo_dir: &Path, remote: &Path, runs: usize, state: &str) -> f64 {
    let repo_dir = repo_dir.to_path_buf();
    let repo = Repo::discover(&repo_dir).expect("open fixture");
    let main = repo.read_ref("refs/heads/main").unwrap().unwrap();
    let parent = repo.commit_parents(main).unwrap()[0];
    let queue = repo.read_ref("refs/oompa/tasks").unwrap().unwrap();
    let remote_main = rev(remote, "refs/heads/main");
    let remote_queue = rev(remote, "refs/oompa/tasks");
    let w0 = repo_dir.join(".oompa/worktrees").join(SWARM).join("w0");
    let w0_tip = repo
        .read_ref(&format!("refs/heads/oompa/{SWARM}/w0"))
        .unwrap()
        .unwrap();
    let zero = "0".repeat(40);
    let url = remote.display().to_string();

    println!(
        "\ngit oompa hooks on {TASKS} tasks ({CLAIMED} claimed), {RECORDS} cycle records, \
         a {TASKS}-commit main ({state}); {runs} runs each, wall-clock ms of the hook process"
    );
    println!("{:<64} {:>7} {:>7} {:>7}", "case", "min", "median", "p90");
    let mut worst: f64 = 0.0;
    let mut row = |name: &str, samples: Vec<Duration>, hook: bool| {
        let (min, med, p90) = stats(samples);
        if hook {
            worst = worst.max(p90);
        }
        println!("{name:<64} {min:>7.2} {med:>7.2} {p90:>7.2}");
    };

    row(
        "baseline: `git rev-parse HEAD` (one git process)",
        time(
            runs,
            || {
                let mut c = Command::new("git");
                c.current_dir(&repo_dir).args(["rev-parse", "HEAD"]);
                c
            },
            "",
        ),
        false,
    );
    let user_commit = format!("{parent} {main} refs/heads/main\n");
    row(
        "reference-transaction, user commit on main (main worktree)",
        time(
            runs,
            || hook_cmd(&repo_dir, &["reference-transaction", "prepared"], false),
            &user_commit,
        ),
        true,
    );
    let agent_commit = format!("{parent} {w0_tip} refs/heads/oompa/{SWARM}/w0\n");
    row(
        "reference-transaction, agent commits on its branch (allowed)",
        time(
            runs,
            || hook_cmd(&w0, &["reference-transaction", "prepared"], true),
            &agent_commit,
        ),
        true,
    );
    // What a worker worktree runs: the guard directory's shim (a person's commands in the
    // main worktree run no reference-transaction hook at all).
    let shim = repo
        .common_dir()
        .canonicalize()
        .expect("common dir")
        .join("oompa/hooks/reference-transaction");
    let guard_shim = |state: &'static str| {
        let (shim, w0) = (shim.clone(), w0.clone());
        move || {
            let mut sh = Command::new("sh");
            sh.current_dir(&w0)
                .arg(&shim)
                .arg(state)
                .env("PATH", path_with_bin());
            oompa_env(&mut sh, true);
            sh
        }
    };
    row(
        "  the same through the guard's shim (sh + git oompa)",
        time(runs, guard_shim("prepared"), &agent_commit),
        true,
    );
    row(
        "  the same in state `committed` (the shim exits before git-oompa)",
        time(runs, guard_shim("committed"), &agent_commit),
        true,
    );
    let agent_main = format!("{main} {w0_tip} refs/heads/main\n");
    row(
        "reference-transaction, agent moves main (refused)",
        time(
            runs,
            || hook_cmd(&w0, &["reference-transaction", "prepared"], true),
            &agent_main,
        ),
        true,
    );
    let incremental = format!(
        "refs/heads/main {main} refs/heads/main {remote_main}\n\
         refs/oompa/tasks {queue} refs/oompa/tasks {remote_queue}\n"
    );
    row(
        "pre-push main + refs/oompa/tasks, 5 new completions (allowed)",
        time(
            runs,
            || hook_cmd(&repo_dir, &["pre-push", "origin", &url], false),
            &incremental,
        ),
        true,
    );
    let feature = format!("refs/heads/feature {main} refs/heads/feature {zero}\n");
    row(
        "pre-push a new branch at main (allowed)",
        time(
            runs,
            || hook_cmd(&repo_dir, &["pre-push", "origin", &url], false),
            &feature,
        ),
        true,
    );
    let carrying = format!("refs/heads/feature {w0_tip} refs/heads/feature {zero}\n");
    row(
        "pre-push a branch carrying a claim's commits (refused)",
        time(
            runs,
            || hook_cmd(&repo_dir, &["pre-push", "origin", &url], false),
            &carrying,
        ),
        true,
    );
    let worker =
        format!("refs/heads/oompa/{SWARM}/w0 {w0_tip} refs/heads/oompa/{SWARM}/w0 {zero}\n");
    row(
        "pre-push a worker branch (refused)",
        time(
            runs,
            || hook_cmd(&repo_dir, &["pre-push", "origin", &url], false),
            &worker,
        ),
        true,
    );
    let first = format!(
        "refs/heads/main {main} refs/heads/main {zero}\n\
         refs/oompa/tasks {queue} refs/oompa/tasks {zero}\n"
    );
    // As a swarm leaves it: the merge queue vouched for the completions on main.
    oompa::store::verified::record_baseline(&repo, queue, main).expect("record the baseline");
    let with_baseline = time(
        runs,
        || hook_cmd(&repo_dir, &["pre-push", "fresh", "/nowhere"], false),
        &first,
    );
    row(
        "pre-push main + queue to an empty remote (merge queue's baseline)",
        with_baseline,
        true,
    );
    // A queue written by other means has no baseline: every completion is read once.
    let _ = std::fs::remove_file(repo.common_dir().join("oompa").join("verified-landings"));
    let first_samples = time(
        runs.min(10),
        || hook_cmd(&repo_dir, &["pre-push", "fresh", "/nowhere"], false),
        &first,
    );
    row(
        "  same without a baseline: all 9,970 completions read (not an ordinary push)",
        first_samples,
        false,
    );
    // The invariant check every command runs first, in process (no process start).
    let settings = oompa::settings::Settings::resolve(&repo, &Default::default());
    let mut inv = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let found = oompa::guard::invariants::check(
            &repo,
            &settings,
            oompa::guard::invariants::Checks {
                claims: true,
                queue: true,
            },
        );
        inv.push(t.elapsed());
        assert!(found.is_empty(), "{found:?}");
    }
    row("invariant check of every command (in process)", inv, true);
    row(
        "`git oompa task show t00001` (process, invariant check included)",
        time(
            runs,
            || hook_cmd(&repo_dir, &["task", "show", "t00001"], false),
            "",
        ),
        false,
    );

    // End to end: what a person feels, hooks on against hooks off.
    person_rows(&repo_dir, runs);
    worst
}

/// A person's own commands in the main worktree while the swarm runs, with the installed
/// hooks against `core.hooksPath=/dev/null`, on and off runs alternated so the machine's load
/// drifts hit both alike. Prints medians and their ratio (target: on/off ≤ 1.2).
fn person_rows(repo_dir: &Path, runs: usize) {
    let git = |hooks: bool, args: &[&str]| {
        let mut c = Command::new("git");
        c.current_dir(repo_dir).env("PATH", path_with_bin());
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("OOMPA_") {
                c.env_remove(k);
            }
        }
        if !hooks {
            c.args(["-c", "core.hooksPath=/dev/null"]);
        }
        c.args(args).stdout(Stdio::null()).stderr(Stdio::piped());
        c
    };
    let run = |mut c: Command| -> Duration {
        let t = Instant::now();
        let out = c.output().expect("git");
        let took = t.elapsed();
        assert!(
            out.status.success(),
            "{c:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        took
    };
    // One warm-up of each side, then `n` alternating pairs.
    let pairs = |n: usize, mut once: Box<dyn FnMut(bool, usize) -> Duration + '_>| {
        once(false, 0);
        once(true, 0);
        let (mut off, mut on) = (Vec::new(), Vec::new());
        for i in 1..=n {
            off.push(once(false, i));
            on.push(once(true, i));
        }
        (off, on)
    };
    println!(
        "\na person's commands in the main worktree while the swarm runs: hooks on against \
         hooks off\n(core.hooksPath=/dev/null), alternating runs, median wall-clock ms"
    );
    println!(
        "{:<44} {:>5} {:>9} {:>9} {:>7}",
        "command", "runs", "off", "on", "on/off"
    );
    let print = |name: &str, (off, on): (Vec<Duration>, Vec<Duration>)| {
        let n = off.len();
        let (_, off, _) = stats(off);
        let (_, on, _) = stats(on);
        println!("{name:<44} {n:>5} {off:>9.2} {on:>9.2} {:>6.2}x", on / off);
    };

    // Main goes back where it was afterwards, so a kept fixture does not grow run by run
    // (the pre-push cases walk what main has beyond the remote).
    let main_before = {
        let mut c = git(false, &["rev-parse", "refs/heads/main"]);
        let out = c.stdout(Stdio::piped()).output().expect("git");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    print(
        "`git commit --allow-empty`",
        pairs(
            runs,
            Box::new(|hooks, _| {
                run(git(
                    hooks,
                    &["commit", "-q", "--allow-empty", "-m", "bench"],
                ))
            }),
        ),
    );

    // Branches of a run that did not finish go first; the names carry this run's pid.
    let drop_branches = |pattern: &str| {
        let mut c = git(
            false,
            &[
                "for-each-ref",
                "--format=%(refname:short)",
                &format!("refs/heads/{pattern}"),
            ],
        );
        let out = c.stdout(Stdio::piped()).output().expect("git");
        let names = String::from_utf8_lossy(&out.stdout).into_owned();
        if !names.trim().is_empty() {
            let mut del = vec!["branch", "-q", "-D"];
            del.extend(names.lines());
            run(git(false, &del));
        }
    };
    drop_branches("bench-person-*");
    drop_branches("bench-rebase-*");
    let tag = std::process::id();
    print(
        "`git checkout -b` (then back to main, untimed)",
        pairs(
            runs,
            Box::new(|hooks, i| {
                let name = format!("bench-person-{tag}-{}-{i}", u8::from(hooks));
                let took = run(git(hooks, &["checkout", "-q", "-b", &name]));
                run(git(false, &["checkout", "-q", "main"]));
                took
            }),
        ),
    );
    drop_branches("bench-person-*");
    // A 20-commit topic branch, each commit changing a file, replayed onto main each run.
    let topic = format!("bench-rebase-{tag}");
    run(git(false, &["checkout", "-q", "-b", &topic, "main"]));
    std::fs::create_dir_all(repo_dir.join("topic")).expect("topic dir");
    for n in 0..20 {
        std::fs::write(repo_dir.join(format!("topic/{n}.txt")), format!("{n}\n")).expect("write");
        run(git(false, &["add", "topic"]));
        run(git(
            false,
            &["commit", "-q", "-m", &format!("topic commit {n}")],
        ));
    }
    print(
        "`git rebase --force-rebase main`, 20 commits",
        pairs(
            (runs / 4).max(5),
            Box::new(|hooks, _| run(git(hooks, &["rebase", "-q", "--force-rebase", "main"]))),
        ),
    );
    run(git(false, &["checkout", "-q", "main"]));
    run(git(false, &["branch", "-q", "-D", &topic]));
    run(git(false, &["reset", "-q", "--hard", &main_before]));
}

/// `git-oompa hook …` (or any subcommand) as git would start it.
fn hook_cmd(dir: &Path, args: &[&str], agent: bool) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir);
    if args
        .first()
        .is_some_and(|a| ["pre-push", "reference-transaction"].contains(a))
    {
        c.arg("hook");
    }
    c.args(args);
    oompa_env(&mut c, agent);
    c
}

/// No OOMPA_* variables of ours; with `agent`, those of worker w0's agent.
fn oompa_env(c: &mut Command, agent: bool) {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("OOMPA_") {
            c.env_remove(k);
        }
    }
    if agent {
        c.env("OOMPA_SWARM", SWARM)
            .env("OOMPA_WORKER", "w0")
            .env("OOMPA_BRANCH", format!("refs/heads/oompa/{SWARM}/w0"))
            .env("OOMPA_TARGET", "main");
    }
}

fn time(runs: usize, mut make: impl FnMut() -> Command, input: &str) -> Vec<Duration> {
    let mut out = Vec::with_capacity(runs);
    for i in 0..=runs {
        let mut cmd = make();
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let t = Instant::now();
        let mut child = cmd.spawn().expect("spawn");
        let mut stdin = child.stdin.take().expect("stdin");
        let _ = stdin.write_all(input.as_bytes());
        drop(stdin);
        child.wait().expect("wait");
        // The first run warms the page cache; it is not counted.
        if i > 0 {
            out.push(t.elapsed());
        }
    }
    out
}

fn stats(mut samples: Vec<Duration>) -> (f64, f64, f64) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p = |q: f64| ms(samples[((samples.len() - 1) as f64 * q).round() as usize]);
    (ms(samples[0]), p(0.5), p(0.9))
}

fn path_with_bin() -> std::ffi::OsString {
    let dir = Path::new(BIN).parent().expect("binary dir");
    let mut paths = vec![dir.to_path_buf()];
    if let Some(p) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&p));
    }
    std::env::join_paths(paths).expect("PATH")
}

/// The fixture directory and, when it is temporary, what removes it.
fn bench_dir() -> (PathBuf, Option<tempfile::TempDir>) {
    if let Some(d) = std::env::var_os("OOMPA_BENCH_DIR") {
        let d = PathBuf::from(d);
        std::fs::create_dir_all(&d).expect("bench dir");
        return (d, None);
    }
    let base = Path::new("/dev/shm");
    let tmp = if base.is_dir() {
        tempfile::Builder::new()
            .prefix("oompa-bench-hooks-")
            .tempdir_in(base)
    } else {
        tempfile::Builder::new()
            .prefix("oompa-bench-hooks-")
            .tempdir()
    }
    .expect("temp dir");
    (tmp.path().to_path_buf(), Some(tmp))
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn rev(dir: &Path, name: &str) -> String {
    git(dir, &["rev-parse", name]).trim().to_string()
}

fn task(id: &str) -> Task {
    Task {
        version: 1,
        id: TaskId::new(id).unwrap(),
        summary: format!("Benchmark task {id}"),
        description: "Something to do, described in a sentence or two like real tasks are.".into(),
        difficulty: None,
        files: vec!["src/lib.rs".into()],
        acceptance: vec!["it works".into()],
        created: "2026-01-01T00:00:00Z".into(),
        created_by: "bench".into(),
        claim: None,
        landed: None,
        extra: Default::default(),
    }
}

fn landing_message(id: &str, worker: &str) -> String {
    format!(
        "Land {id}: Benchmark task {id}\n\nMerged from oompa/{SWARM}/{worker} by the git oompa \
         merge queue.\n\nOompa-Task: {id}\nOompa-Worker: {worker}\nOompa-Swarm: {SWARM}\n\
         Oompa-Review-Rounds: 1\n"
    )
}

fn build_fixture(dir: &Path, repo_dir: &Path, remote: &Path) {
    let _ = std::fs::remove_dir_all(repo_dir);
    let _ = std::fs::remove_dir_all(remote);
    std::fs::create_dir_all(repo_dir).unwrap();
    git(repo_dir, &["init", "-q", "-b", "main"]);
    git(repo_dir, &["config", "user.name", "Bench"]);
    git(repo_dir, &["config", "user.email", "bench@example.invalid"]);
    // No background gc in the middle of a measurement; the benchmark packs when it means to.
    git(repo_dir, &["config", "gc.auto", "0"]);
    std::fs::write(repo_dir.join("README.md"), "# bench\n").unwrap();
    git(repo_dir, &["add", "README.md"]);
    git(repo_dir, &["commit", "-q", "-m", "initial"]);
    std::fs::write(repo_dir.join(".git/info/exclude"), "/.oompa/\n").unwrap();
    let repo = Repo::discover(repo_dir).unwrap();
    let root = repo.read_ref("refs/heads/main").unwrap().unwrap();
    let tree = repo.commit_tree(root).unwrap();

    // A main of landing commits, one per task that is complete.
    let complete = TASKS - CLAIMED - PENDING;
    let mut tip = root;
    let mut landings: Vec<ObjectId> = Vec::with_capacity(complete);
    for i in 0..complete {
        let id = format!("t{i:05}");
        tip = repo
            .commit(&landing_message(&id, &format!("w{}", i % 10)), tree, &[tip])
            .unwrap();
        landings.push(tip);
    }
    // The remote gets main and the queue as they were 5 landings ago.
    let held_back = 5;
    let remote_main = landings[complete - held_back - 1];

    let host = oompa::store::queue::hostname();
    let pid = 1;
    let queue = Queue::new(&repo);
    queue.init().unwrap();
    queue
        .put_swarm(
            &SwarmRecord {
                version: 1,
                id: SWARM.into(),
                started: "2026-01-01T00:00:00Z".into(),
                host: host.clone(),
                // pid 1 is always alive, so a kept fixture's claims stay live between runs.
                pid: 1,
                target: "main".into(),
                config: None,
                workers: (0..CLAIMED).map(|w| format!("w{w}")).collect(),
                stopped: None,
            },
            "started",
        )
        .unwrap();
    let state_of = |i: usize, upto: usize| -> (State, Task) {
        let id = format!("t{i:05}");
        let mut t = task(&id);
        if i < upto {
            t.landed = Some(Landed {
                commit: landings[i].to_string(),
                review_rounds: 1,
                at: "2026-01-01T00:00:00Z".into(),
                worker: Some(format!("w{}", i % 10)),
            });
            (State::Complete, t)
        } else if i < complete {
            (State::Pending, t)
        } else if i < complete + CLAIMED {
            let w = i - complete;
            t.claim = Some(Claim {
                swarm: SWARM.into(),
                worker: format!("w{w}"),
                host: host.clone(),
                pid,
                branch: Some(format!("refs/heads/oompa/{SWARM}/w{w}")),
                claimed_at: "2026-01-01T00:00:00Z".into(),
                lease_until: "2099-01-01T00:00:00Z".into(),
                token: format!("token-{w}"),
            });
            (State::Current, t)
        } else {
            (State::Pending, t)
        }
    };
    // The queue as pushed: the last 5 completions not made yet.
    let older: Vec<(State, Task)> = (0..TASKS)
        .map(|i| state_of(i, complete - held_back))
        .collect();
    queue.import(&older, "bench").unwrap();
    let old_queue = repo.read_ref("refs/oompa/tasks").unwrap().unwrap();
    repo.cas_ref("refs/heads/main", Some(root), remote_main, "bench")
        .unwrap();
    git(dir, &["init", "-q", "--bare", remote.to_str().unwrap()]);
    git(
        repo_dir,
        &[
            "push",
            "-q",
            "--no-verify",
            remote.to_str().unwrap(),
            "main",
            "refs/oompa/tasks",
        ],
    );
    // Then the 5 landings happen locally: main and the queue move on.
    repo.cas_ref("refs/heads/main", Some(remote_main), tip, "bench")
        .unwrap();
    let tree_new = {
        let mut changes = Vec::new();
        for i in complete - held_back..complete {
            let (state, t) = state_of(i, complete);
            assert_eq!(state, State::Complete);
            changes.push((format!("pending/{}.json", t.id), None));
            changes.push((
                format!("complete/{}.json", t.id),
                Some(repo.write_blob(&t.to_json()).unwrap()),
            ));
        }
        let base = repo.commit_tree(old_queue).unwrap();
        repo.edit_tree(Some(base), &changes).unwrap()
    };
    let new_queue = repo
        .commit("complete 5 tasks by bench", tree_new, &[old_queue])
        .unwrap();
    repo.cas_ref("refs/oompa/tasks", Some(old_queue), new_queue, "bench")
        .unwrap();
    git(repo_dir, &["reset", "-q", "--hard", "main"]);

    // Worker branches, each one commit ahead of main, in worktrees.
    for w in 0..CLAIMED {
        let name = format!("refs/heads/oompa/{SWARM}/w{w}");
        let blob = repo
            .write_blob(format!("work of w{w}\n").as_bytes())
            .unwrap();
        let t = repo
            .edit_tree(Some(tree), &[(format!("w{w}.txt"), Some(blob))])
            .unwrap();
        let c = repo.commit(&format!("work of w{w}"), t, &[tip]).unwrap();
        repo.cas_ref(&name, None, c, "oompa: worker branch")
            .unwrap();
        let path = repo_dir
            .join(".oompa/worktrees")
            .join(SWARM)
            .join(format!("w{w}"));
        repo.add_worktree(&path, &name).unwrap();
    }

    // 100,000 cycle records, 10 per landing commit, in 20 notes commits.
    let records: Vec<CycleRecord> = (0..RECORDS)
        .map(|i| CycleRecord {
            version: RECORD_VERSION,
            swarm: SWARM.into(),
            worker: format!("w{}", i % 10),
            cycle: u32::try_from(i / 10).unwrap(),
            outcome: Outcome::Merged,
            model: "claude:sonnet".into(),
            tasks: vec![format!("t{:05}", i / 10)],
            turns: 3,
            sessions: vec![format!("session-{i}")],
            started: "2026-01-01T00:00:00Z".into(),
            ended: "2026-01-01T00:05:00Z".into(),
            duration_ms: 300_000,
            agent_ms: 290_000,
            tokens: Default::default(),
            landed: Some(landings[(i / 10) % complete].to_string()),
            tip: None,
            base: root.to_string(),
            kept: None,
            agent_did: Vec::new(),
            review: Vec::new(),
            conflicts: Vec::new(),
            conflict_predicted: None,
            gate: Vec::new(),
            queue_ms: None,
            pauses: Vec::new(),
            error: None,
            transcript: None,
            extra: Default::default(),
        })
        .collect();
    let notes = Notes::new(&repo);
    for chunk in records.chunks(RECORDS / 20) {
        notes.append(chunk).unwrap();
    }

    git(
        repo_dir,
        &["remote", "add", "origin", remote.to_str().unwrap()],
    );
    std::fs::write(repo_dir.join(".git/oompa-bench-ready"), "").unwrap();
}
