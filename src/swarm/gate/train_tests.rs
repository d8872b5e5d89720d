//! The train driven by a simulated repository and gate: every landing is a commit a run passed,
//! every blame is exact, every change is told its fate once, and the queue always drains.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;

/// A repository where a commit is a set of changes: its tree is the set, whatever the order.
#[derive(Default)]
struct FakeRepo {
    commits: BTreeMap<ObjectId, BTreeSet<Key>>,
    /// Pairs of changes that conflict textually.
    conflicts: Vec<(Key, Key)>,
    next: u64,
}

fn oid(n: u64) -> ObjectId {
    let mut bytes = [0u8; 20];
    bytes[..8].copy_from_slice(&n.to_be_bytes());
    bytes[8] = 0xc0;
    ObjectId::from_bytes_or_panic(&bytes)
}

/// The tree of a set of changes (keys below 64): the same whatever order they were stacked in.
fn tree_of(set: &BTreeSet<Key>) -> ObjectId {
    let mask = set.iter().fold(0u64, |m, k| m | (1 << k));
    let mut bytes = [0u8; 20];
    bytes[..8].copy_from_slice(&mask.to_be_bytes());
    bytes[8] = 0x7e;
    ObjectId::from_bytes_or_panic(&bytes)
}

const ROOT: u64 = 0;

impl FakeRepo {
    fn new() -> Self {
        let mut r = FakeRepo::default();
        r.commits.insert(oid(ROOT), BTreeSet::new());
        r.next = 1;
        r
    }
    fn set(&self, c: ObjectId) -> BTreeSet<Key> {
        self.commits.get(&c).cloned().expect("known commit")
    }
}

fn path(k: Key) -> String {
    format!("src/change{k}.rs")
}

impl Stack for FakeRepo {
    fn stack(&mut self, parent: ObjectId, key: Key) -> Stacked {
        let mut set = self.set(parent);
        if set.contains(&key) {
            return Stacked::UpToDate;
        }
        if self
            .conflicts
            .iter()
            .any(|(a, b)| (*a == key && set.contains(b)) || (*b == key && set.contains(a)))
        {
            return Stacked::Conflict(vec!["shared.txt".into()]);
        }
        set.insert(key);
        let commit = oid(self.next);
        self.next += 1;
        let tree = tree_of(&set);
        self.commits.insert(commit, set);
        Stacked::Commit {
            commit,
            tree,
            paths: vec![path(key)],
        }
    }
}

/// The gate: breaks on any culprit, or on both halves of a semantic pair.
struct Gate {
    culprits: BTreeSet<Key>,
    pairs: Vec<(Key, Key)>,
    /// Whether a failure's output names the culprits' paths.
    names_paths: bool,
}

impl Gate {
    fn passes(&self, set: &BTreeSet<Key>) -> bool {
        set.is_disjoint(&self.culprits)
            && !self
                .pairs
                .iter()
                .any(|(a, b)| set.contains(a) && set.contains(b))
    }
    fn mentioned(&self, set: &BTreeSet<Key>) -> BTreeSet<String> {
        if !self.names_paths {
            return BTreeSet::new();
        }
        let mut m: BTreeSet<String> = set.intersection(&self.culprits).map(|k| path(*k)).collect();
        for (a, b) in &self.pairs {
            if set.contains(a) && set.contains(b) {
                m.insert(path(*b));
            }
        }
        m.insert("Cargo.toml".into());
        m
    }
}

/// What the simulation saw.
#[derive(Debug, Default)]
struct Outcome {
    landed: Vec<Key>,
    failed: Vec<Key>,
    conflicted: Vec<Key>,
    interrupted: Vec<Key>,
    runs: usize,
    /// Target commits, in order.
    history: Vec<ObjectId>,
}

/// Runs `n` changes through a train. `order` picks which live or cancelled run finishes next.
fn simulate(
    n: u64,
    gate: &Gate,
    conflicts: Vec<(Key, Key)>,
    batch: usize,
    parallel: usize,
    order: &[usize],
) -> Outcome {
    simulate_with(
        n,
        gate,
        conflicts,
        batch,
        parallel,
        order,
        Events::default(),
    )
}

/// Things that happen to the queue from outside, at a given step.
#[derive(Debug, Default, Clone, Copy)]
struct Events {
    /// Someone moves the target outside the queue (a foreign change, key 63).
    outside_move: Option<usize>,
    /// The swarm is killed.
    kill: Option<usize>,
}

const FOREIGN: Key = 63;

fn simulate_with(
    n: u64,
    gate: &Gate,
    conflicts: Vec<(Key, Key)>,
    batch: usize,
    parallel: usize,
    order: &[usize],
    events: Events,
) -> Outcome {
    let mut repo = FakeRepo::new();
    repo.conflicts = conflicts;
    let mut sim = Sim {
        gate,
        repo,
        train: Train::new(oid(ROOT), batch, parallel),
        waiting: (1..=n).collect(),
        running: Vec::new(),
        freeing: Vec::new(),
        told: BTreeMap::new(),
        failures: BTreeMap::new(),
        cancelled: BTreeSet::new(),
        out: Outcome {
            history: vec![oid(ROOT)],
            ..Outcome::default()
        },
        killed: false,
    };
    let mut step = 0usize;
    loop {
        step += 1;
        assert!(step < 10_000, "the train never drained");
        sim.happen(events, step);
        sim.admit();
        sim.start_runs();
        sim.hear_out();
        sim.cancelled.extend(sim.train.take_cancels());
        let choice = order.get(step % order.len().max(1)).copied().unwrap_or(0);
        // Sometimes a worktree comes back before the next result arrives.
        if !sim.freeing.is_empty() && (sim.running.is_empty() || choice % 2 == 1) {
            let spec = sim.freeing.remove(choice % sim.freeing.len());
            sim.train.freed(spec.id);
            continue;
        }
        if sim.running.is_empty() {
            if sim.waiting.is_empty() && sim.train.is_idle() {
                break;
            }
            assert!(
                sim.train.members().is_empty(),
                "changes on the train but nothing runs"
            );
            continue;
        }
        sim.finish_one(choice);
    }
    for (k, n) in &sim.told {
        assert_eq!(*n, 1, "{k} was told its fate {n} times");
    }
    sim.out
}

/// The simulation's state: the train and the driver around it, played by hand.
struct Sim<'g> {
    gate: &'g Gate,
    repo: FakeRepo,
    train: Train,
    waiting: Vec<Key>,
    running: Vec<RunSpec>,
    /// Runs whose result is in but whose worktree is not free yet.
    freeing: Vec<RunSpec>,
    /// How many times each change was told its fate.
    told: BTreeMap<Key, usize>,
    failures: BTreeMap<RunId, BTreeSet<Key>>,
    cancelled: BTreeSet<RunId>,
    out: Outcome,
    killed: bool,
}

impl Sim<'_> {
    fn tell(&mut self, k: Key) {
        *self.told.entry(k).or_default() += 1;
    }

    /// What `events` says happens at this step.
    fn happen(&mut self, events: Events, step: usize) {
        if events.outside_move == Some(step) {
            let mut set = self.repo.set(self.train.target());
            set.insert(FOREIGN);
            let commit = oid(self.repo.next);
            self.repo.next += 1;
            self.repo.commits.insert(commit, set);
            self.out.history.push(commit);
            self.train.rebase(&mut self.repo, commit);
        }
        if events.kill == Some(step) {
            self.killed = true;
            self.train.kill();
            for k in std::mem::take(&mut self.waiting) {
                self.tell(k);
                self.out.interrupted.push(k);
            }
        }
    }

    /// Admit in order while there is room; deferred changes stay in front.
    fn admit(&mut self) {
        let mut i = 0;
        while !self.killed && i < self.waiting.len() && self.train.has_room() {
            let k = self.waiting[i];
            if self.train.admit(&mut self.repo, k) {
                self.waiting.remove(i);
            } else {
                i += 1;
            }
        }
    }

    /// Starts what the train schedules, checking each run is what it says.
    fn start_runs(&mut self) {
        for spec in self.train.schedule() {
            assert!(
                !self
                    .running
                    .iter()
                    .chain(&self.freeing)
                    .any(|r| r.worktree == spec.worktree),
                "a run started in a busy worktree"
            );
            let mut expected = self.repo.set(spec.base);
            expected.extend(spec.members.iter().copied());
            assert_eq!(self.repo.set(spec.candidate), expected);
            assert_eq!(spec.members.len(), spec.point);
            assert_eq!(spec.base, self.train.target());
            self.out.runs += 1;
            self.running.push(spec);
        }
    }

    /// Hears what the train tells the changes it is done with, checking each verdict.
    fn hear_out(&mut self) {
        let mut requeue = Vec::new();
        for (k, o) in self.train.take_out() {
            assert!(
                !self
                    .running
                    .iter()
                    .chain(&self.freeing)
                    .any(|r| r.worktree == k),
                "{k} was told {o:?} while its worktree was in use"
            );
            if !matches!(o, Out::Requeue) {
                self.tell(k);
            }
            match o {
                Out::Requeue => requeue.push(k),
                Out::Landed { commit } => {
                    assert!(self.repo.set(commit).contains(&k));
                    self.out.landed.push(k);
                }
                Out::Failed { run, base } => {
                    let failed = &self.failures[&run];
                    assert!(
                        self.out.history.contains(&base),
                        "blamed on a target that never was"
                    );
                    let mut on_target = self.repo.set(base);
                    on_target.insert(k);
                    assert_eq!(
                        failed, &on_target,
                        "{k} was blamed for a failure that was not exactly target + it"
                    );
                    assert!(!self.gate.passes(failed));
                    self.out.failed.push(k);
                }
                Out::Conflict(_) => self.out.conflicted.push(k),
                Out::Interrupted => {
                    assert!(self.killed);
                    self.out.interrupted.push(k);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        if self.killed {
            for k in requeue {
                self.tell(k);
                self.out.interrupted.push(k);
            }
        } else {
            self.waiting.splice(0..0, requeue);
        }
    }

    /// The run `choice` picks finishes; a landing it asks for is checked and made.
    fn finish_one(&mut self, choice: usize) {
        let pick = choice % self.running.len();
        let spec = self.running.remove(pick);
        self.freeing.push(spec.clone());
        let was_cancelled = self.cancelled.contains(&spec.id);
        let set = self.repo.set(spec.candidate);
        let passed = self.gate.passes(&set);
        if !passed {
            self.failures.insert(spec.id, set.clone());
        }
        let mentioned = if passed || was_cancelled {
            BTreeSet::new()
        } else {
            self.gate.mentioned(&set)
        };
        match self
            .train
            .finished(&mut self.repo, spec.id, passed, &mentioned)
        {
            Step::Nothing => {}
            Step::Land {
                upto,
                candidate,
                members,
            } => {
                // The target is green at every landing: only a pass on this very commit lands.
                assert!(passed, "asked to land a run that failed");
                assert!(!was_cancelled, "asked to land a cancelled run");
                assert_eq!(candidate, spec.candidate, "asked to land another commit");
                assert_eq!(members.len(), upto);
                assert_eq!(self.repo.set(candidate), set);
                // The landing extends the target.
                let prev = self.repo.set(*self.out.history.last().expect("history"));
                assert!(prev.is_subset(&set));
                self.out.history.push(candidate);
                self.train.landed(&mut self.repo, upto);
                assert_eq!(self.train.target(), candidate);
            }
        }
    }
}

fn all(n: u64) -> BTreeSet<Key> {
    (1..=n).collect()
}

#[test]
fn a_clean_batch_lands_in_one_run() {
    let gate = Gate {
        culprits: BTreeSet::new(),
        pairs: vec![],
        names_paths: true,
    };
    let o = simulate(8, &gate, vec![], 8, 1, &[0]);
    assert_eq!(o.runs, 1);
    assert_eq!(o.landed.iter().copied().collect::<BTreeSet<_>>(), all(8));
    assert_eq!(o.history.len(), 2, "one landing");
}

#[test]
fn one_at_a_time_gates_each_change_once() {
    let gate = Gate {
        culprits: BTreeSet::new(),
        pairs: vec![],
        names_paths: false,
    };
    let o = simulate(5, &gate, vec![], 1, 1, &[0]);
    assert_eq!(o.runs, 5);
    assert_eq!(o.history.len(), 6);
}

#[test]
fn a_named_culprit_costs_one_probe() {
    let gate = Gate {
        culprits: BTreeSet::from([3]),
        pairs: vec![],
        names_paths: true,
    };
    let o = simulate(8, &gate, vec![], 8, 1, &[0]);
    assert_eq!(o.failed, vec![3]);
    assert_eq!(o.landed.len(), 7);
    // The batch, the probe without the suspect (7 land, 3 is blamed at once).
    assert_eq!(o.runs, 2, "{o:?}");
}

#[test]
fn two_named_culprits_cost_a_probe_and_a_run_each_and_hold_no_one_back() {
    let gate = Gate {
        culprits: BTreeSet::from([3, 6]),
        pairs: vec![],
        names_paths: true,
    };
    let o = simulate(8, &gate, vec![], 8, 1, &[0]);
    assert_eq!(o.failed, vec![3, 6]);
    assert_eq!(o.landed.len(), 6);
    // The batch; the six without them (they land); 3 alone; 6 alone (still suspected).
    assert_eq!(o.runs, 4, "{o:?}");
}

#[test]
fn an_unnamed_culprit_is_found_by_bisection() {
    let gate = Gate {
        culprits: BTreeSet::from([6]),
        pairs: vec![],
        names_paths: false,
    };
    let o = simulate(8, &gate, vec![], 8, 1, &[0]);
    assert_eq!(o.failed, vec![6]);
    assert_eq!(o.landed.len(), 7);
    // 8 fails; 4 passes (lands); 6 fails; 5 passes (lands) → 6 blamed; 7..8 again.
    assert_eq!(o.runs, 5, "{o:?}");
}

#[test]
fn two_changes_that_only_fail_together_land_one_and_blame_the_other() {
    let gate = Gate {
        culprits: BTreeSet::new(),
        pairs: vec![(1, 2)],
        names_paths: false,
    };
    for batch in [1, 2, 4] {
        let o = simulate(2, &gate, vec![], batch, 1, &[0]);
        assert_eq!(o.landed, vec![1], "batch {batch}: {o:?}");
        assert_eq!(o.failed, vec![2], "batch {batch}: {o:?}");
    }
}

#[test]
fn speculative_runs_pipeline_one_change_per_run() {
    let gate = Gate {
        culprits: BTreeSet::new(),
        pairs: vec![],
        names_paths: false,
    };
    let o = simulate(6, &gate, vec![], 1, 3, &[0]);
    assert_eq!(o.runs, 6, "{o:?}");
    assert_eq!(o.history.len(), 7, "every change its own gated landing");
}

#[test]
fn a_change_that_conflicts_with_one_ahead_waits_then_gets_the_conflict() {
    let gate = Gate {
        culprits: BTreeSet::new(),
        pairs: vec![],
        names_paths: false,
    };
    let o = simulate(3, &gate, vec![(1, 2)], 4, 1, &[0]);
    assert_eq!(o.conflicted, vec![2]);
    assert_eq!(
        o.landed.iter().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([1, 3])
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn every_landing_passed_every_blame_is_exact_and_everything_ends(
        n in 1u64..14,
        culprits in proptest::collection::btree_set(1u64..14, 0..4),
        pair in proptest::option::of((1u64..14, 1u64..14)),
        conflict in proptest::option::of((1u64..14, 1u64..14)),
        batch in 1usize..9,
        parallel in 1usize..4,
        names_paths in any::<bool>(),
        order in proptest::collection::vec(0usize..8, 1..16),
        outside_move in proptest::option::of(1usize..40),
        kill in proptest::option::weighted(0.2, 1usize..60),
    ) {
        let pairs: Vec<(Key, Key)> = pair.into_iter().filter(|(a, b)| a != b).collect();
        let conflicts: Vec<(Key, Key)> = conflict.into_iter().filter(|(a, b)| a != b).collect();
        let gate = Gate { culprits: culprits.clone(), pairs: pairs.clone(), names_paths };
        let events = Events { outside_move, kill };
        let o = simulate_with(n, &gate, conflicts, batch, parallel, &order, events);
        let landed: BTreeSet<Key> = o.landed.iter().copied().collect();
        // Nothing that breaks the gate on its own ever lands.
        for c in &culprits {
            prop_assert!(!landed.contains(c), "culprit {c} landed: {o:?}");
        }
        // Every change is accounted for exactly once.
        let told = o.landed.len() + o.failed.len() + o.conflicted.len() + o.interrupted.len();
        prop_assert_eq!(told as u64, n, "{:?}", o);
        if kill.is_none() {
            prop_assert!(o.interrupted.is_empty());
        // Changes that break nothing, conflict with nothing and are in no pair all land.
        for k in 1..=n {
            let innocent = !culprits.contains(&k)
                && !pairs.iter().any(|(a, b)| *a == k || *b == k)
                && !o.conflicted.contains(&k);
            if innocent {
                prop_assert!(landed.contains(&k), "{k} did not land: {o:?}");
            }
        }
        }
    }
}
