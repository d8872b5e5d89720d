//! Claims under contention: 2 processes × 16 threads claiming from one queue with
//! `Queue::claim`, against 2 × 16 shell loops doing the same commit-chain claim with the git CLI
//! (`commit-tree` + `update-ref <ref> <new> <old>`). Every task is raced by one claimer of each
//! process; afterwards the queue's history must name every task in exactly one claim.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use oompa::git::Repo;
use oompa::store::{ClaimOutcome, Claimant, QUEUE_REF, Queue, State, TaskId};

use crate::fixture::{Bench, make_repo, task};

pub const PROCESSES: usize = 2;
pub const THREADS: usize = 16;

/// What a claim run measured.
pub struct Claims {
    pub claimed: usize,
    pub elapsed: Duration,
    /// Tasks named by more than one successful claim.
    pub doubles: usize,
    /// The run stopped at its deadline before every task was claimed.
    pub cut: bool,
}

impl Claims {
    pub fn per_sec(&self) -> f64 {
        self.claimed as f64 / self.elapsed.as_secs_f64()
    }
}

/// `s<slice>-<i>`: slice `t` is worked through, in order, by thread `t` of every process.
fn id(slice: usize, i: usize) -> String {
    format!("s{slice}-{i}")
}

/// A repository whose queue holds `per_slice` pending tasks for each of `slices` slices.
fn queue_repo(dir: &Path, slices: usize, per_slice: usize) {
    make_repo(dir, 3);
    let repo = Repo::discover(dir).expect("open");
    let tasks: Vec<_> = (0..slices)
        .flat_map(|s| (0..per_slice).map(move |i| task(&id(s, i))))
        .collect();
    Queue::new(&repo).add(&tasks, "bench").expect("tasks");
}

/// git oompa: this bench binary started twice in `--claim-child` mode.
pub fn oompa(bench: &Bench, per_slice: usize) -> Claims {
    let dir = bench.path("claims-oompa");
    queue_repo(&dir, THREADS, per_slice);
    let exe = std::env::current_exe().expect("own path");
    let mut children: Vec<_> = (0..PROCESSES)
        .map(|p| {
            Command::new(&exe)
                .args(["--claim-child", &dir.display().to_string()])
                .args([p.to_string(), per_slice.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("starting a claim process")
        })
        .collect();
    let mut outputs: Vec<_> = children
        .iter_mut()
        .map(|c| BufReader::new(c.stdout.take().expect("piped")))
        .collect();
    for out in &mut outputs {
        let mut line = String::new();
        out.read_line(&mut line).expect("ready line");
        assert_eq!(line.trim(), "ready", "claim process did not start");
    }
    let start = Instant::now();
    for c in &mut children {
        c.stdin
            .take()
            .expect("piped")
            .write_all(b"go\n")
            .expect("go");
    }
    let mut reported = Vec::new();
    for out in outputs {
        for line in out.lines() {
            let line = line.expect("child output");
            if let Some(id) = line.strip_prefix("claimed ") {
                reported.push(id.to_string());
            }
        }
    }
    for mut c in children {
        assert!(c.wait().expect("wait").success(), "a claim process failed");
    }
    let elapsed = start.elapsed();
    let history = claims_in_history(&dir);
    let mut sorted = reported.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        reported.len(),
        "two claimers were both told they claimed the same task"
    );
    assert_eq!(history.len(), sorted.len(), "history and reports disagree");
    let repo = Repo::discover(&dir).expect("open");
    let snap = Queue::new(&repo).snapshot().expect("snapshot");
    assert_eq!(snap.count(State::Current), THREADS * per_slice);
    Claims {
        claimed: reported.len(),
        elapsed,
        doubles: history.values().filter(|&&n| n > 1).count(),
        cut: false,
    }
}

/// The body of one claim process: 16 threads, each claiming its slice in order.
pub fn child(dir: &Path, process: usize, per_slice: usize) {
    let shared = Repo::discover(dir).expect("open").into_shared();
    let barrier = Arc::new(Barrier::new(THREADS + 1));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let shared = shared.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let repo = shared.to_thread_local();
                let queue = Queue::new(&repo);
                let who = Claimant {
                    swarm: format!("p{process}"),
                    worker: format!("t{t}"),
                    branch: None,
                    lease: Duration::from_secs(3600),
                    pid: Some(std::process::id()),
                };
                barrier.wait();
                let mut mine = Vec::new();
                for i in 0..per_slice {
                    let task = TaskId::new(&id(t, i)).expect("id");
                    let outcome = queue.claim(&[task], &who).expect("claim");
                    match &outcome[0].1 {
                        ClaimOutcome::Claimed => mine.push(id(t, i)),
                        ClaimOutcome::Taken(_) => {}
                        other => panic!("unexpected claim outcome {other:?}"),
                    }
                }
                mine
            })
        })
        .collect();
    println!("ready");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).expect("go line");
    barrier.wait();
    let mut out = String::new();
    for t in threads {
        for id in t.join().expect("claim thread") {
            out.push_str(&format!("claimed {id}\n"));
        }
    }
    print!("{out}");
}

/// One baseline claimer: claims `s<slice>-0…` in order with a commit-chain CAS loop, until
/// its slice is done or the stop file appears.
const CLAIM_SH: &str = r#"slice=$1; n=$2; me=$3; stop=$4; idx=$5
ref=refs/oompa/tasks
i=0
while [ "$i" -lt "$n" ]; do
  id="s$slice-$i"
  while :; do
    [ -e "$stop" ] && exit 0
    out=$(git rev-parse "$ref" "$ref:pending/$id.json" 2>/dev/null) || break
    set -- $out
    tip=$1
    GIT_INDEX_FILE=$idx git read-tree "$tip" || continue
    blob=$(printf '{"id":"%s","claim":{"worker":"%s","token":"%s-%s-%s"}}\n' "$id" "$me" "$me" "$i" "$$" | git hash-object -w --stdin)
    GIT_INDEX_FILE=$idx git update-index --force-remove "pending/$id.json" --add --cacheinfo "100644,$blob,current/$id.json" || continue
    tree=$(GIT_INDEX_FILE=$idx git write-tree) || continue
    commit=$(git commit-tree "$tree" -p "$tip" -m "claim $id by $me") || continue
    git update-ref -m "claim $id" "$ref" "$commit" "$tip" 2>/dev/null && break
  done
  i=$((i+1))
done
"#;

/// git oompa without contention: one thread of this process claiming `n` tasks in a row.
pub fn oompa_alone(bench: &Bench, n: usize) -> Claims {
    let dir = bench.path("claims-oompa-alone");
    queue_repo(&dir, 1, n);
    let repo = Repo::discover(&dir).expect("open");
    let queue = Queue::new(&repo);
    let who = Claimant {
        swarm: "p0".into(),
        worker: "t0".into(),
        branch: None,
        lease: Duration::from_secs(3600),
        pid: Some(std::process::id()),
    };
    let start = Instant::now();
    for i in 0..n {
        let outcome = queue
            .claim(&[TaskId::new(&id(0, i)).expect("id")], &who)
            .expect("claim");
        assert_eq!(outcome[0].1, ClaimOutcome::Claimed);
    }
    let elapsed = start.elapsed();
    let history = claims_in_history(&dir);
    Claims {
        claimed: history.values().sum(),
        elapsed,
        doubles: history.values().filter(|&&n| n > 1).count(),
        cut: false,
    }
}

/// The git CLI: `groups` × `loops` `sh` loops (loop `t` of every group works through slice
/// `t`), stopped after `deadline` if not done.
pub fn baseline(
    bench: &Bench,
    groups: usize,
    loops: usize,
    per_slice: usize,
    deadline: Duration,
) -> Claims {
    let dir = bench.path(&format!("claims-baseline-{groups}x{loops}"));
    queue_repo(&dir, loops, per_slice);
    let script = bench.path("claim.sh");
    std::fs::write(&script, CLAIM_SH).expect("script");
    let stop = bench.path(&format!("claims-stop-{groups}x{loops}"));
    let start = Instant::now();
    let mut shells: Vec<_> = (0..groups)
        .flat_map(|p| (0..loops).map(move |t| (p, t)))
        .map(|(p, t)| {
            Command::new("sh")
                .arg(&script)
                .args([t.to_string(), per_slice.to_string(), format!("p{p}/t{t}")])
                .arg(&stop)
                .arg(bench.path(&format!("claims-index-{p}-{t}")))
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting a claim shell")
        })
        .collect();
    let mut cut = false;
    loop {
        shells.retain_mut(|c| c.try_wait().ok().flatten().is_none());
        if shells.is_empty() {
            break;
        }
        if !cut && start.elapsed() >= deadline {
            cut = true;
            std::fs::write(&stop, "").expect("stop file");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // Claims finished after the stop file was written still count, so the clock runs until
    // the last shell is gone.
    let elapsed = start.elapsed();
    let history = claims_in_history(&dir);
    // The shells' task files are not full tasks, so count the tree entries.
    let repo = Repo::discover(&dir).expect("open");
    let tip = repo.read_ref(QUEUE_REF).expect("ref").expect("queue");
    let tree = repo.commit_tree(tip).expect("tree");
    let current = repo.list_dir(tree, "current").expect("current/").len();
    assert_eq!(
        current,
        history.len(),
        "claims in the tree and in the history"
    );
    Claims {
        claimed: history.values().sum(),
        elapsed,
        doubles: history.values().filter(|&&n| n > 1).count(),
        cut,
    }
}

/// How many successful claim commits name each task, from the queue's history.
fn claims_in_history(dir: &Path) -> BTreeMap<String, usize> {
    let repo = Repo::discover(dir).expect("open");
    let mut seen = BTreeMap::new();
    let mut next = repo.read_ref(QUEUE_REF).expect("queue ref");
    while let Some(c) = next {
        let message = repo.commit_message(c).expect("message");
        if let Some(rest) = message
            .lines()
            .next()
            .and_then(|s| s.strip_prefix("claim "))
        {
            let ids = rest.split(" by ").next().unwrap_or("");
            for id in ids.split(", ").filter(|s| !s.is_empty()) {
                *seen.entry(id.to_string()).or_insert(0) += 1;
            }
        }
        next = repo.commit_parents(c).expect("parents").first().copied();
    }
    seen
}
