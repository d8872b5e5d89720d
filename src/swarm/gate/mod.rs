//! Landing gates: with a `[gate]` configured, the target only ever moves to a commit on which
//! the project's checks passed — that very commit, not an equivalent one.
//!
//! # The rule
//!
//! The merge queue stacks each approved change on the target tip as the landing commit it
//! would make anyway (`target ← c1`, first parent the target, second the worker's tip, the
//! usual trailers plus `Oompa-Gate:`), checks that commit out and runs the gate commands on
//! it. Only a pass moves the target, by compare-and-swap from the tip the candidate was
//! stacked on to the candidate itself. If the target moved meanwhile (outside the queue, or
//! the compare-and-swap lost), every candidate is stacked again on the new tip and gated
//! again: nothing that was gated on another base ever lands. There is no other path to the
//! target while a gate is configured: Ctrl-C lets runs in flight finish and lands what
//! passes, a second Ctrl-C cancels them and lands nothing, and a conflict resolution re-enters
//! the same queue. Candidates are unreferenced commits, so a crash (SIGKILL included) leaves
//! the target where it was; the next command returns the dead swarm's claims to pending and
//! keeps its work under `refs/oompa/keep/`, and the next swarm gates that work again.
//!
//! # The queue as a train (`train`)
//!
//! Approved changes wait in arrival order and join the *train* while it has room (`batch ×
//! (parallel + 1)` changes: what the runs can use, and the next batch, stacked ahead of
//! time): `target ← c1 ← c2 ← … ← cn`, each change stacked on the one before. A run gates a *prefix* `c1..ck` by checking out `ck`; a pass lands the whole prefix in one
//! transaction (the target moves to `ck`, every task of `c1..ck` completes). The state
//! machine is:
//!
//! ```text
//!   approved ──▶ waiting ──admit──▶ on the train ──run passes at k ≥ its place──▶ landed
//!                  ▲   │               │     │
//!                  │   │ conflicts     │     └─blamed: failing tree == target + it──▶ fix turn
//!                  │   ▼ with target   │                                  (or gate-failed)
//!                  │  conflict         └─restacking fails (a change it built on left)─┐
//!                  └──────────────────────────────────────────────────────────────────┘
//! ```
//!
//! Which prefixes to run (`Train::schedule`):
//! - **No failure known**: gate `min(furthest running + batch, n)`. With `batch = 1,
//!   parallel = 1` that is one change at a time; `batch = 8` gates eight at once (bors,
//!   GitHub's merge groups, Mergify and Trunk batches); `parallel > 1` starts the next batch
//!   on top of the running one (Zuul's speculative execution: each change gated as if the
//!   ones ahead of it land), and spare runners gate shorter prefixes of a running batch, so a
//!   failure of the long one already has half its answer.
//! - **A failure at `hi`**: the failing *tree* is remembered. Runs past `hi` are cancelled
//!   (they contain the failure). If the failure's output names paths that only some changes
//!   of `c1..chi` touched, those *suspects* move behind the others and the prefix without
//!   them is probed first (usually one run finds the culprit, where bisection takes log₂ n);
//!   a named change stays *suspected* until a run passes with it, so later batches stop short
//!   of it and it runs alone when it reaches the front. Otherwise the gaps below `hi` are split (bisection; `parallel` ways at once, as Mergify
//!   splits a failed batch into parts). Every pass lands its prefix at once, which shifts
//!   `hi` down.
//! - **Blame**: when the failing tree is exactly "target + the first change" (`hi` = 1), that
//!   change alone gets the failure in its worker's own session; the rest is stacked again
//!   without it. Blame is never a guess: it needs a failed run on exactly that tree (which is
//!   why a failed batch's last change is not run again when everything before it passed).
//!
//! # Where runs happen (`runner`)
//!
//! In the worktree of the change a candidate ends with: that worker waits for its landing, so
//! its worktree is idle, and its build caches (`target/`, `node_modules/`, `.venv`) are warm
//! with almost exactly the candidate. The candidate is checked out detached (the worker's
//! branch never moves), the configured `copy` files are put back, every command runs with
//! `sh -c` in its own process group with the run's timeout, its output streamed to a file
//! under `.git/oompa/transcripts/<swarm>/gate/`; afterwards the worktree goes back to the
//! worker's branch. The user's checkout is never used, and runs happen on their own threads,
//! so no agent turn waits for them. A worktree is busy until its run has ended, cancelled or
//! not, and the worktree is back on its branch; its worker hears nothing before that. A
//! landing does not wait for that: the result is reported first, the worktree given back
//! after.
//!
//! # Crashes
//!
//! Nothing a run makes is referenced: candidates are loose commits, the worktree's HEAD is
//! detached. A SIGKILL at any moment leaves the target, the queue ref and the worker branches
//! as they were; the next command's recovery returns the claims and keeps the branches, `gc`
//! removes the worktrees (a candidate left checked out holds nothing of its own, so it is not
//! kept), and the gate processes themselves (their own process group) end when their command
//! does, with nothing they can land.
//!
//! # Failures, flakes, records (`driver`)
//!
//! A failed run is run again `retries` times; a pass after a failure lands and is recorded
//! `flaky`. A run past its timeout is killed and counts as failed. A blamed change's worker
//! gets the failing command, the candidate, its exit status and the last 200 lines / 16 KB of
//! output (the whole output stays in its file) as a fix turn in its own session; the fix goes
//! back through review when it touches paths the failure did not name, then back into the
//! queue; after `max_fix_rounds` the cycle ends `gate-failed` (claims back, work kept). Every
//! run (attempt) on a candidate holding a worker's change goes into that worker's cycle
//! record (`gate`), the swarm summary counts runs, failures, flaky passes, bisections and
//! culprits, and `git oompa status` shows the queue and the runs in progress.
//!
//! # Conflict markers ([`crate::git::markers`])
//!
//! Independently of any gate: a resolution that leaves conflict markers in the paths it
//! resolved never re-enters the queue (a failed resolution round, the agent is told where),
//! and `doctor` reports conflict blocks on the target's tip.

mod driver;
mod runner;
pub mod status;
pub mod suggest;
pub(crate) mod train;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;

pub(crate) use driver::run;

use crate::git::ObjectId;
use crate::store::record::GateRun;

/// What a worker's agent is told when its change breaks the gate.
#[derive(Debug, Clone)]
pub struct GateFailure {
    /// The command that failed (`None` when the candidate could not even be checked out).
    pub command: Option<String>,
    /// How it ended: `exited with code 1`, `timed out after 30m`.
    pub status: String,
    /// The commit that failed.
    pub candidate: ObjectId,
    /// The target commit it was stacked on, when it was blamed.
    pub base: ObjectId,
    /// Whose changes the failing candidate held (the others landed without this one).
    pub workers: Vec<String>,
    /// The end of the output (at most 200 lines / 16 KB).
    pub tail: String,
    /// The file with the whole output.
    pub output: Option<PathBuf>,
    /// Paths the output names: a fix that touches only these is not reviewed again.
    pub mentioned: BTreeSet<String>,
    /// Attempts the failing run took (1 + retries).
    pub attempts: u32,
}

/// What the gate did over a whole swarm, for its summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GateSummary {
    /// Runs of the commands, retries included.
    pub runs: u64,
    /// Runs that ended failed or timed out (after their retries).
    pub failures: u64,
    /// Passes that came after a failed attempt.
    pub flaky: u64,
    /// Runs cancelled because another run made them moot, or the swarm was killed.
    pub cancelled: u64,
    /// Searches for the change that broke a failed run holding several.
    pub bisections: u64,
    /// Changes blamed for a failure.
    pub culprits: u64,
    /// Landings through the gate, and the changes they landed.
    pub landings: u64,
    pub landed: u64,
}

/// What the merge queue's gate hands to the workers and the summary: each worker's gate runs
/// (taken by the worker when its cycle ends) and the counters.
#[derive(Debug, Default)]
pub(crate) struct Board {
    runs: Mutex<BTreeMap<String, Vec<GateRun>>>,
    summary: Mutex<GateSummary>,
}

impl Board {
    pub fn record(&self, worker: &str, run: GateRun) {
        lock(&self.runs)
            .entry(worker.to_string())
            .or_default()
            .push(run);
    }

    /// The runs recorded for `worker` since it last asked.
    pub fn take(&self, worker: &str) -> Vec<GateRun> {
        lock(&self.runs).remove(worker).unwrap_or_default()
    }

    pub fn count(&self, f: impl FnOnce(&mut GateSummary)) {
        f(&mut lock(&self.summary));
    }

    pub fn summary(&self) -> GateSummary {
        lock(&self.summary).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
