//! The landing-gate scenario: 16 workers with an instant agent, a gate that sleeps 1 s, and 1
//! change in 10 breaking it (the agent fixes it when the failure comes back). The same work
//! through `batch = 1`, `batch = 8` and `batch = 8, parallel = 2`: landings per minute, gate
//! runs per landing, and the time from "approved" (the change enters the merge queue) to
//! "landed", with a check that no first-parent commit of `main` holds a breaking change.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use oompa::git::Repo;
use oompa::store::notes::Notes;
use oompa::store::record::Outcome;

use crate::fixture::{Bench, git, make_repo, prepare_oompa_repo, tail, wait_with_peak, wall_span};

/// The instant agent, plus: change number `cycle × workers + worker` breaks the gate when it
/// ends in 3 (one in ten, spread over the cycles), until the gate's failure comes back to it.
const AGENT: &str = r##"# Instant agent for the gate scenario.
case "$(cat)" in
  *"# Gate failed"*)
    rm -f broken-*
    echo "Removed what broke the gate."
    echo COMPLETE_AND_READY_FOR_MERGE
    exit 0 ;;
esac
if [ -z "${OOMPA_RESUME:-}" ]; then
  echo "CLAIM($OOMPA_WORKER-c$OOMPA_CYCLE)"
else
  echo "change from $OOMPA_WORKER, cycle $OOMPA_CYCLE" > "change-$OOMPA_WORKER-$OOMPA_CYCLE.txt"
  n=$(( OOMPA_CYCLE * GATE_BENCH_WORKERS + ${OOMPA_WORKER#w} ))
  if [ $(( n % 10 )) -eq 3 ]; then echo "breaks the build" > "broken-$OOMPA_WORKER-$OOMPA_CYCLE.txt"; fi
  echo COMPLETE_AND_READY_FOR_MERGE
fi
"##;

/// The gate: one second of "tests", failing while any `broken-*` file exists.
const GATE: &str = r#"sleep 1
status=0
for f in broken-*; do
  [ -e "$f" ] && { echo "FAILED: $f breaks the build"; status=1; }
done
[ $status = 0 ] && echo "all tests passed"
exit $status
"#;

/// What one configuration did.
pub struct GateResult {
    pub label: String,
    pub landed: usize,
    /// First cycle start → last cycle end.
    pub span: Duration,
    /// Runs of the gate command (the swarm summary's count).
    pub runs: u64,
    /// Approved → landed, per landing, sorted.
    pub queue_ms: Vec<u64>,
    /// First-parent commits of main that hold a breaking change (must be 0).
    pub red: usize,
}

impl GateResult {
    pub fn per_minute(&self) -> f64 {
        self.landed as f64 * 60.0 / self.span.as_secs_f64()
    }
    pub fn runs_per_landing(&self) -> f64 {
        self.runs as f64 / self.landed.max(1) as f64
    }
    pub fn queue_percentile(&self, p: f64) -> Duration {
        if self.queue_ms.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.queue_ms.len() - 1) as f64 * p).round() as usize;
        Duration::from_millis(self.queue_ms[i])
    }
}

/// Runs the scenario once with `batch` and `parallel`.
pub fn run(
    bench: &Bench,
    label: &str,
    workers: usize,
    cycles: u32,
    batch: u32,
    parallel: u32,
) -> GateResult {
    let dir = bench.path(&format!("gate-{label}"));
    make_repo(&dir, 20);
    prepare_oompa_repo(bench, &dir, workers, cycles);
    let agent = bench.path("gate-agent.sh");
    std::fs::write(&agent, AGENT).expect("writing the agent");
    let gate = bench.path("gate.sh");
    std::fs::write(&gate, GATE).expect("writing the gate");
    let config = dir.with_extension("toml");
    std::fs::write(
        &config,
        format!(
            "error_backoff = 0\n\n[[worker]]\nmodel = \"exec:. {}\"\ncount = {workers}\n\
             max_cycles = {cycles}\ncan_plan = false\nmax_wait_for_tasks = \"120s\"\n\
             env = {{ GATE_BENCH_WORKERS = \"{workers}\" }}\n\n[gate]\ncommand = \"sh {}\"\n\
             batch = {batch}\nparallel = {parallel}\nretries = 0\nmax_fix_rounds = 3\n",
            agent.display(),
            gate.display()
        ),
    )
    .expect("writing the swarm config");
    let child = bench
        .oompa(&dir, &["swarm", &config.display().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting git oompa swarm");
    let (ok, _, stderr) = wait_with_peak(child);
    assert!(ok, "git oompa swarm failed:\n{}", tail(&stderr, 30));
    let repo = Repo::discover(&dir).expect("open repo");
    let (entries, _) = Notes::new(&repo).read_all().expect("reading the cycle log");
    let merged: Vec<_> = entries
        .iter()
        .filter(|e| e.record.outcome == Outcome::Merged)
        .collect();
    let expected = workers * cycles as usize;
    assert_eq!(
        merged.len(),
        expected,
        "{label}: landed {} of {expected}:\n{}",
        merged.len(),
        tail(&stderr, 30)
    );
    let span = wall_span(entries.iter().map(|e| &e.record));
    let mut queue_ms: Vec<u64> = merged.iter().filter_map(|e| e.record.queue_ms).collect();
    queue_ms.sort_unstable();
    let runs = stderr
        .lines()
        .find_map(|l| l.strip_prefix("gate: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("the swarm summary counts the gate runs");
    GateResult {
        label: label.to_string(),
        landed: merged.len(),
        span,
        runs,
        queue_ms,
        red: red_landings(&dir),
    }
}

/// First-parent commits of main whose tree holds a `broken-*` file.
fn red_landings(dir: &Path) -> usize {
    git(dir, &["rev-list", "--first-parent", "main"])
        .lines()
        .filter(|c| {
            git(dir, &["ls-tree", "--name-only", c])
                .lines()
                .any(|f| f.starts_with("broken-"))
        })
        .count()
}
