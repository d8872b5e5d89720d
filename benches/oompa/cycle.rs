//! Whole cycles: real `git oompa swarm` runs with the instant agent, and the baseline that does
//! the same cycle the way oompa 0.7.1 did it with the git CLI (reference/oompa-0.7.1.md §8).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use oompa::git::Repo;
use oompa::store::notes::Notes;
use oompa::store::record::{CycleRecord, Outcome, RECORD_VERSION};

use crate::fixture::{
    Bench, git, git_ok, prepare_oompa_repo, tail, task_ids, wait_with_peak, wall_span,
};

/// What one `git oompa swarm` run did.
pub struct SwarmRun {
    /// The whole process, start-up and teardown included.
    pub wall: Duration,
    /// From the start of the first cycle to the end of the last (from the cycle records).
    pub span: Duration,
    pub merged: usize,
    /// Time inside agent turns, summed over the cycles (the records' `agent_ms`).
    pub agent: Duration,
    /// Peak resident set of the `git-oompa` process, in KiB.
    pub peak_kb: Option<u64>,
}

/// Runs `git oompa swarm` in `dir` (a repository from [`crate::fixture::make_repo`]) with
/// `workers` instant agents of `cycles` cycles each, one pending task per cycle, no review.
/// Panics unless every cycle landed.
pub fn swarm(bench: &Bench, dir: &Path, workers: usize, cycles: u32) -> SwarmRun {
    prepare_oompa_repo(bench, dir, workers, cycles);
    let config = dir.with_extension("toml");
    std::fs::write(
        &config,
        format!(
            "error_backoff = 0\n\n[[worker]]\nmodel = \"{}\"\ncount = {workers}\n\
             max_cycles = {cycles}\ncan_plan = false\nmax_wait_for_tasks = \"60s\"\n",
            bench.agent_model()
        ),
    )
    .expect("writing the swarm config");
    let start = Instant::now();
    let child = bench
        .oompa(dir, &["swarm", &config.display().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting git oompa swarm");
    let (ok, peak_kb, stderr) = wait_with_peak(child);
    let wall = start.elapsed();
    assert!(ok, "git oompa swarm failed:\n{}", tail(&stderr, 30));

    let repo = Repo::discover(dir).expect("open repo");
    let (entries, _) = Notes::new(&repo).read_all().expect("reading the cycle log");
    let expected = workers * cycles as usize;
    let merged = entries
        .iter()
        .filter(|e| e.record.outcome == Outcome::Merged)
        .count();
    assert_eq!(
        merged,
        expected,
        "the swarm landed {merged} of {expected} cycles:\n{}",
        tail(&stderr, 30)
    );
    let span = wall_span(entries.iter().map(|e| &e.record));
    let agent = Duration::from_millis(entries.iter().map(|e| e.record.agent_ms).sum());
    SwarmRun {
        wall,
        span,
        merged,
        agent,
        peak_kb,
    }
}

/// oompa 0.7.1's cycle with the git CLI, for `workers` workers sharing one checkout.
pub struct Ancestor {
    root: PathBuf,
    /// oompa's `tasks/` folder: claims are file renames.
    tasks: PathBuf,
    agent: PathBuf,
    /// oompa's in-process `merge-lock`.
    merge_lock: Mutex<()>,
    note_failures: AtomicUsize,
    /// Nanoseconds spent running agent turns, over all cycles.
    agent_nanos: AtomicU64,
}

impl Ancestor {
    /// Sets up `tasks/pending/<id>.json` for every worker and cycle next to the repository.
    pub fn new(bench: &Bench, root: &Path, workers: usize, cycles: u32) -> Ancestor {
        let tasks = root.with_extension("tasks");
        for d in ["pending", "current", "complete"] {
            std::fs::create_dir_all(tasks.join(d)).expect("mkdir tasks");
        }
        for id in task_ids(workers, cycles) {
            std::fs::write(
                tasks.join("pending").join(format!("{id}.json")),
                format!("{{\"id\":\"{id}\",\"summary\":\"Benchmark task {id}\"}}\n"),
            )
            .expect("write task");
        }
        Ancestor {
            root: root.to_path_buf(),
            tasks,
            agent: bench.agent.clone(),
            merge_lock: Mutex::new(()),
            note_failures: AtomicUsize::new(0),
            agent_nanos: AtomicU64::new(0),
        }
    }

    /// One cycle: `git worktree add -b`, agent turn (CLAIM → rename), agent turn (work),
    /// then under the merge lock `git add -A`, `git commit`, `git checkout main`,
    /// `git merge --no-edit`, complete (rename), `git rev-parse HEAD`; then the cycle record
    /// with `git notes add`, `git worktree remove --force`, `git branch -D`.
    pub fn cycle(&self, worker: &str, cycle: u32) {
        let root = &self.root;
        let dir = format!(".w{worker}-i{cycle}");
        let branch = format!("oompa/{worker}-i{cycle}");
        let wt = root.join(&dir);
        let started = jiff::Timestamp::now();
        git(root, &["worktree", "add", "-q", &dir, "-b", &branch]);
        let said = self.agent(&wt, worker, cycle, false);
        let id = said
            .trim()
            .strip_prefix("CLAIM(")
            .and_then(|s| s.strip_suffix(')'))
            .expect("the agent claims")
            .to_string();
        self.rename(&id, "pending", "current");
        let said = self.agent(&wt, worker, cycle, true);
        assert!(said.contains("COMPLETE_AND_READY_FOR_MERGE"), "{said}");
        let landed = {
            let _lock = self.merge_lock.lock().unwrap_or_else(|e| e.into_inner());
            git(&wt, &["add", "-A"]);
            git_ok(&wt, &["commit", "-q", "-m", &format!("Work from {branch}")]);
            git(root, &["checkout", "-q", "main"]);
            git(root, &["merge", "-q", &branch, "--no-edit"]);
            self.rename(&id, "current", "complete");
            git(root, &["rev-parse", "HEAD"]).trim().to_string()
        };
        let record = record(worker, cycle, &id, started, &landed);
        // `git notes add` has no compare-and-swap; a concurrent writer makes it fail on the
        // ref lock, so try again like a careful script would.
        let mut tries = 0;
        while !git_ok(
            root,
            &["notes", "--ref=oompa", "add", "-f", "-m", &record, &landed],
        ) {
            self.note_failures.fetch_add(1, Ordering::Relaxed);
            tries += 1;
            assert!(tries < 50, "git notes add kept failing");
            std::thread::sleep(Duration::from_millis(2));
        }
        git_ok(root, &["worktree", "remove", &dir, "--force"]);
        git_ok(root, &["branch", "-D", &branch]);
    }

    fn agent(&self, wt: &Path, worker: &str, cycle: u32, resume: bool) -> String {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &format!(". {}", self.agent.display()), "sh"])
            .current_dir(wt)
            .env("OOMPA_WORKER", worker)
            .env("OOMPA_CYCLE", cycle.to_string())
            .stdin(Stdio::null());
        if resume {
            cmd.env("OOMPA_RESUME", "1");
        }
        let start = Instant::now();
        let out = cmd.output().expect("running the agent");
        let nanos = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.agent_nanos.fetch_add(nanos, Ordering::Relaxed);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn rename(&self, id: &str, from: &str, to: &str) {
        let name = format!("{id}.json");
        std::fs::rename(
            self.tasks.join(from).join(&name),
            self.tasks.join(to).join(&name),
        )
        .expect("moving a task file");
    }

    /// Time spent in agent turns, over all cycles.
    pub fn agent_time(&self) -> Duration {
        Duration::from_nanos(self.agent_nanos.load(Ordering::Relaxed))
    }

    /// Failed `git notes add` attempts (lost races on the notes ref, retried).
    pub fn note_failures(&self) -> usize {
        self.note_failures.load(Ordering::Relaxed)
    }

    /// Notes that ended up in `refs/notes/oompa`.
    pub fn notes_written(&self) -> usize {
        git(&self.root, &["notes", "--ref=oompa", "list"])
            .lines()
            .count()
    }
}

/// A cycle record like the ones git oompa writes, one JSON line.
fn record(worker: &str, cycle: u32, id: &str, started: jiff::Timestamp, landed: &str) -> String {
    let now = jiff::Timestamp::now();
    CycleRecord {
        version: RECORD_VERSION,
        swarm: "baseline".into(),
        worker: worker.into(),
        cycle,
        outcome: Outcome::Merged,
        model: "exec:. agent.sh".into(),
        tasks: vec![id.into()],
        turns: 2,
        sessions: vec![uuid::Uuid::new_v4().to_string()],
        started: started.to_string(),
        ended: now.to_string(),
        duration_ms: 0,
        agent_ms: 0,
        tokens: Default::default(),
        landed: Some(landed.into()),
        tip: None,
        base: landed.into(),
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
    }
    .to_line()
}

/// Runs `cycles` cycles on each of `workers` threads; returns the wall time.
pub fn ancestor_run(ancestor: &Ancestor, workers: usize, cycles: u32) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for w in 0..workers {
            s.spawn(move || {
                for c in 1..=cycles {
                    ancestor.cycle(&format!("w{w}"), c);
                }
            });
        }
    });
    start.elapsed()
}
