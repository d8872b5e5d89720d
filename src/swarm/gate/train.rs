//! The merge train: the pure state machine of a gated merge queue (no git, no threads, no
//! clock), so every decision it makes can be driven and checked by a simulation.
//!
//! The train is the ordered list of approved changes stacked on the target tip:
//! `target ← c1 ← c2 ← … ← cn`, where `ci` is the landing commit of change `i` with `c(i-1)` as
//! its first parent. A *point* `k` names the prefix `c1..ck`; gating point `k` means running
//! the gate on commit `ck`. What it owns:
//!
//! - **Landing only what passed.** A passed run at point `k` asks the driver to move the target
//!   to that run's candidate, which is `ck` itself: the exact commit the gate saw.
//! - **Choosing points** ([`Train::schedule`]): with no failure known, extend past the
//!   furthest running point by `batch` (so `parallel > 1` pipelines batches, Zuul-style); with
//!   a failure known at point `hi`, split the gaps below it (bisection; several ways at once with
//!   `parallel > 1`); a *probe* point, when set, goes first; free runners with nothing better
//!   to do split the gap below the furthest running point (speculative shorter prefixes, so a
//!   failure of the long one costs no extra round).
//! - **Failures are trees.** A failure is remembered as the tree of the commit that failed;
//!   `hi` is the position whose commit has that tree. Landing a prefix, reordering or
//!   restacking moves it or makes it vanish by itself. When `hi` is 1 the failing tree is
//!   exactly "target + the first change": that change alone is blamed (Mergify's rule: the
//!   last change of a failed part is never run again on its own when everything before it
//!   passed).
//! - **Suspects.** When the failure's output names paths that only some changes of the failed
//!   prefix touched, those changes move behind the others and the train probes the prefix
//!   without them first: one extra run, instead of a whole bisection, usually finds the
//!   culprit. A named change stays *suspected* until it passes a run: batches stop short of
//!   it, and it runs alone when it reaches the front, so it never sinks another batch.
//! - **Worktrees in use.** A run uses the worktree of the change at its point (the driver runs
//!   it there). A worktree is busy until the driver says it is *free* again ([`Train::freed`],
//!   after the run ended, cancelled or not, and the worktree is back on its branch); a change
//!   is never told its fate while its worktree is busy, and no run starts in a busy worktree.
//!   A run's result ([`Train::finished`]) may come before its worktree is free, so a landing
//!   never waits for a worktree to be put back.
//!
//! It never decides anything from time, and never lands without a pass on the exact commit.

use std::collections::{BTreeMap, BTreeSet};

use crate::git::ObjectId;

/// A change in the queue, as the driver names it.
pub(crate) type Key = u64;
/// A gate run, as the train names it.
pub(crate) type RunId = u64;

/// What stacking a change on a commit gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stacked {
    /// The landing commit, its tree, and the paths it changes relative to its parent.
    Commit {
        commit: ObjectId,
        tree: ObjectId,
        paths: Vec<String>,
    },
    /// The change is already contained in the parent.
    UpToDate,
    /// The change does not merge cleanly on the parent.
    Conflict(Vec<String>),
    /// Stacking it failed for another reason (a git error).
    Error(String),
}

/// Makes landing commits; the driver's implementation merges with git.
pub(crate) trait Stack {
    fn stack(&mut self, parent: ObjectId, key: Key) -> Stacked;
}

/// What the driver must tell a change (when its worktree is free).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Out {
    /// It landed as `commit` (its own landing commit).
    Landed { commit: ObjectId },
    /// It breaks the gate: `run` is the failed run whose tree is exactly `base` (the target
    /// when it was blamed) + this change.
    Failed { run: RunId, base: ObjectId },
    /// It conflicts with the target.
    Conflict(Vec<String>),
    /// The target already contains it.
    UpToDate,
    /// The swarm was killed.
    Interrupted,
    /// It cannot land for a reason that is not the gate's (a git error).
    Error(String),
    /// It left the train (restacking it failed); give it to [`Train::admit`] again.
    Requeue,
}

/// A run the driver must start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunSpec {
    pub id: RunId,
    pub point: usize,
    /// The commit to check out and gate: exactly what lands if it passes.
    pub candidate: ObjectId,
    /// The target commit the candidate is stacked on.
    pub base: ObjectId,
    /// Whose worktree to run in: the change at `point`.
    pub worktree: Key,
    /// The changes the candidate holds, bottom first.
    pub members: Vec<Key>,
    /// Whether it searches for the change that broke a failed run.
    pub bisect: bool,
}

/// What a finished run asks of the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Nothing,
    /// Move the target to `candidate` (from the train's target) and complete `members`, then
    /// call [`Train::landed`] with `upto`; or [`Train::rebase`] when the target moved.
    Land {
        upto: usize,
        candidate: ObjectId,
        members: Vec<Key>,
    },
}

#[derive(Debug, Clone)]
struct Slot {
    key: Key,
    commit: ObjectId,
    tree: ObjectId,
    paths: Vec<String>,
}

#[derive(Debug, Clone)]
struct Run {
    point: usize,
    candidate: ObjectId,
}

#[derive(Debug, Clone)]
struct Failure {
    tree: ObjectId,
    run: RunId,
}

/// The gated merge queue's state. See the module doc.
#[derive(Debug)]
pub(crate) struct Train {
    target: ObjectId,
    slots: Vec<Slot>,
    /// Live runs (cancelled ones are dropped from here at once).
    runs: BTreeMap<RunId, Run>,
    /// Worktrees in use, by live and cancelled runs alike, until the run finishes.
    busy: BTreeMap<Key, RunId>,
    failure: Option<Failure>,
    /// A point to gate before any other (the prefix without the suspects).
    probe: Option<usize>,
    /// Changes a failure's output named that have not passed a run since.
    suspected: BTreeSet<Key>,
    next_run: RunId,
    batch: usize,
    parallel: usize,
    /// Replies waiting for their change's worktree to be free, in order.
    held: Vec<(Key, Out)>,
    /// Replies ready to send.
    out: Vec<(Key, Out)>,
    /// Runs the driver must stop.
    cancels: Vec<RunId>,
}

impl Train {
    pub fn new(target: ObjectId, batch: usize, parallel: usize) -> Train {
        Train {
            target,
            slots: Vec::new(),
            runs: BTreeMap::new(),
            busy: BTreeMap::new(),
            failure: None,
            probe: None,
            suspected: BTreeSet::new(),
            next_run: 1,
            batch: batch.max(1),
            parallel: parallel.max(1),
            held: Vec::new(),
            out: Vec::new(),
            cancels: Vec::new(),
        }
    }

    /// The target tip the train is stacked on.
    pub fn target(&self) -> ObjectId {
        self.target
    }

    /// The changes on the train, bottom first, with their landing commits.
    pub fn members(&self) -> Vec<(Key, ObjectId)> {
        self.slots.iter().map(|s| (s.key, s.commit)).collect()
    }

    /// Live runs: (id, point, candidate).
    pub fn live_runs(&self) -> Vec<(RunId, usize, ObjectId)> {
        self.runs
            .iter()
            .map(|(id, r)| (*id, r.point, r.candidate))
            .collect()
    }

    /// Whether more changes may join: the train holds what `parallel` runs of `batch` changes
    /// can use, and one batch more, stacked while the others run so the next run starts as
    /// soon as a landing makes room.
    pub fn has_room(&self) -> bool {
        self.slots.len() < self.batch * (self.parallel + 1)
    }

    /// Nothing on the train, running, or waiting to be told.
    pub fn is_idle(&self) -> bool {
        self.slots.is_empty() && self.busy.is_empty() && self.held.is_empty()
    }

    /// Stacks `key` on top of the train. A change that does not stack on the train but would
    /// on the target (it conflicts with a change ahead of it) is not taken: `false`, try again
    /// when the train is shorter. Refusals (conflict or up to date with the target itself) go
    /// to the outbox.
    pub fn admit(&mut self, g: &mut impl Stack, key: Key) -> bool {
        let parent = self.top();
        match g.stack(parent, key) {
            Stacked::Commit {
                commit,
                tree,
                paths,
            } => {
                self.slots.push(Slot {
                    key,
                    commit,
                    tree,
                    paths,
                });
                true
            }
            Stacked::Conflict(paths) if self.slots.is_empty() => {
                self.tell(key, Out::Conflict(paths));
                true
            }
            Stacked::UpToDate if self.slots.is_empty() => {
                self.tell(key, Out::UpToDate);
                true
            }
            Stacked::Error(why) if self.slots.is_empty() => {
                self.tell(key, Out::Error(why));
                true
            }
            Stacked::Conflict(_) | Stacked::UpToDate | Stacked::Error(_) => false,
        }
    }

    /// The runs to start now, up to `parallel` live at once.
    pub fn schedule(&mut self) -> Vec<RunSpec> {
        let mut specs = Vec::new();
        while self.runs.len() < self.parallel {
            let Some(point) = self.next_point() else {
                break;
            };
            let slot = &self.slots[point - 1];
            if self.busy.contains_key(&slot.key) {
                // Its worktree is still being given back by a cancelled run.
                break;
            }
            if self.probe == Some(point) {
                self.probe = None;
            }
            let id = self.next_run;
            self.next_run += 1;
            let spec = RunSpec {
                id,
                point,
                candidate: slot.commit,
                base: self.target,
                worktree: slot.key,
                members: self.slots[..point].iter().map(|s| s.key).collect(),
                bisect: self.failure.is_some(),
            };
            self.busy.insert(slot.key, id);
            self.runs.insert(
                id,
                Run {
                    point,
                    candidate: slot.commit,
                },
            );
            specs.push(spec);
        }
        specs
    }

    /// The next point worth gating, if any.
    fn next_point(&self) -> Option<usize> {
        let n = self.slots.len();
        let hi = self.hi();
        let limit = hi.unwrap_or(n + 1);
        let running: BTreeSet<usize> = self.runs.values().map(|r| r.point).collect();
        if let Some(p) = self.probe
            && p >= 1
            && p < limit
            && !running.contains(&p)
        {
            return Some(p);
        }
        let furthest = running.iter().next_back().copied().unwrap_or(0);
        if hi.is_none() && furthest < n {
            let mut end = (furthest + self.batch).min(n);
            // A change a failure named goes alone when it reaches the front; runs before
            // that stop short of it, so it holds no one else back.
            if let Some(i) = (furthest..end).find(|&i| self.suspected.contains(&self.slots[i].key))
            {
                end = if i == furthest { i + 1 } else { i };
            }
            return Some(end);
        }
        // Split the widest gap below the failure (or below the furthest run).
        let top = hi.unwrap_or(furthest);
        let mut marks: Vec<usize> = std::iter::once(0)
            .chain(running.iter().copied().filter(|p| *p < top))
            .chain(std::iter::once(top))
            .collect();
        marks.dedup();
        marks
            .windows(2)
            .filter(|w| w[1] - w[0] >= 2)
            .max_by_key(|w| (w[1] - w[0], std::cmp::Reverse(w[0])))
            .map(|w| w[0] + (w[1] - w[0]) / 2)
    }

    /// The position (1-based) of the commit whose tree failed, if it is on the train.
    fn hi(&self) -> Option<usize> {
        let f = self.failure.as_ref()?;
        self.slots
            .iter()
            .position(|s| s.tree == f.tree)
            .map(|i| i + 1)
    }

    /// A run ended. `passed` after its retries; `mentioned`: paths its output names. Its
    /// worktree stays busy until [`Train::freed`].
    pub fn finished(
        &mut self,
        g: &mut impl Stack,
        id: RunId,
        passed: bool,
        mentioned: &BTreeSet<String>,
    ) -> Step {
        let run = self.runs.remove(&id);
        let Some(run) = run else {
            return Step::Nothing; // cancelled: only its worktree mattered
        };
        let Some(slot) = self.slots.get(run.point - 1) else {
            return Step::Nothing;
        };
        if slot.commit != run.candidate {
            // Never land anything but the commit the gate saw.
            return Step::Nothing;
        }
        if passed {
            for s in &self.slots[..run.point] {
                self.suspected.remove(&s.key);
            }
            return Step::Land {
                upto: run.point,
                candidate: run.candidate,
                members: self.slots[..run.point].iter().map(|s| s.key).collect(),
            };
        }
        let replace = self.hi().is_none_or(|hi| run.point < hi);
        if replace {
            self.failure = Some(Failure {
                tree: slot.tree,
                run: id,
            });
            self.probe = None;
            self.cancel_where(|p| p > run.point);
            self.suspects(g, mentioned);
        }
        self.blame(g);
        Step::Nothing
    }

    /// Run `id`'s worktree is free again: what was held for its change goes out.
    pub fn freed(&mut self, id: RunId) {
        let mut freed = None;
        self.busy.retain(|k, r| {
            if *r == id {
                freed = Some(*k);
                false
            } else {
                true
            }
        });
        if let Some(k) = freed {
            self.release(k);
        }
    }

    /// The target moved to the commit at `upto` (the driver landed it).
    pub fn landed(&mut self, g: &mut impl Stack, upto: usize) {
        let upto = upto.min(self.slots.len());
        if upto == 0 {
            return;
        }
        self.target = self.slots[upto - 1].commit;
        let gone: Vec<Slot> = self.slots.drain(..upto).collect();
        for s in gone {
            self.tell(s.key, Out::Landed { commit: s.commit });
        }
        self.cancel_where(|p| p <= upto);
        for r in self.runs.values_mut() {
            r.point -= upto;
        }
        self.probe = self
            .probe
            .and_then(|p| p.checked_sub(upto))
            .filter(|p| *p > 0);
        if self.hi().is_none() {
            self.failure = None;
        }
        self.blame(g);
    }

    /// The target is now `target` (it moved outside the queue, or a landing lost its
    /// compare-and-swap): every candidate is stacked again and gated again.
    pub fn rebase(&mut self, g: &mut impl Stack, target: ObjectId) {
        self.target = target;
        self.failure = None;
        self.probe = None;
        self.restack_from(g, 0);
    }

    /// Landing the first `upto` changes failed for a reason that is not the gate's: they leave
    /// with `why`, and the rest is stacked again without them.
    pub fn abandon(&mut self, g: &mut impl Stack, upto: usize, why: &str) {
        let upto = upto.min(self.slots.len());
        let gone: Vec<Slot> = self.slots.drain(..upto).collect();
        for s in gone {
            self.tell(s.key, Out::Error(why.to_string()));
        }
        self.failure = None;
        self.probe = None;
        self.restack_from(g, 0);
    }

    /// The first `upto` changes, ready to land, are given up because the swarm is stopping
    /// while their landing waits for the person: each is told it was interrupted.
    pub fn interrupt(&mut self, g: &mut impl Stack, upto: usize) {
        let upto = upto.min(self.slots.len());
        let gone: Vec<Slot> = self.slots.drain(..upto).collect();
        for s in gone {
            self.tell(s.key, Out::Interrupted);
        }
        self.failure = None;
        self.probe = None;
        self.restack_from(g, 0);
    }

    /// The swarm is killed: every run stops, every change is told so.
    pub fn kill(&mut self) {
        self.cancel_where(|_| true);
        let gone: Vec<Slot> = self.slots.drain(..).collect();
        for s in gone {
            self.tell(s.key, Out::Interrupted);
        }
        self.failure = None;
        self.probe = None;
    }

    /// Replies ready to send.
    pub fn take_out(&mut self) -> Vec<(Key, Out)> {
        std::mem::take(&mut self.out)
    }

    /// Runs to stop.
    pub fn take_cancels(&mut self) -> Vec<RunId> {
        std::mem::take(&mut self.cancels)
    }

    fn top(&self) -> ObjectId {
        self.slots.last().map_or(self.target, |s| s.commit)
    }

    /// Queues `out` for `key`, held while its worktree is busy.
    fn tell(&mut self, key: Key, out: Out) {
        if out != Out::Requeue {
            self.suspected.remove(&key);
        }
        if self.busy.contains_key(&key) {
            self.held.push((key, out));
        } else {
            self.out.push((key, out));
        }
    }

    /// `key`'s worktree is free: what was held for it goes out.
    fn release(&mut self, key: Key) {
        let (ready, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|(k, _)| *k == key);
        self.held = keep;
        self.out.extend(ready);
    }

    fn cancel_where(&mut self, f: impl Fn(usize) -> bool) {
        let ids: Vec<RunId> = self
            .runs
            .iter()
            .filter(|(_, r)| f(r.point))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.runs.remove(&id);
            self.cancels.push(id);
        }
    }

    /// While the failing tree is "target + the first change", that change is the culprit: it
    /// leaves the train with the failure, and the rest is stacked again without it.
    fn blame(&mut self, g: &mut impl Stack) {
        while self.hi() == Some(1) {
            let Some(f) = self.failure.take() else {
                return;
            };
            let culprit = self.slots.remove(0);
            let base = self.target;
            self.tell(culprit.key, Out::Failed { run: f.run, base });
            self.probe = None;
            self.restack_from(g, 0);
        }
    }

    /// Changes of the failed prefix whose paths the output names move behind the others, and
    /// the prefix without them is probed first.
    fn suspects(&mut self, g: &mut impl Stack, mentioned: &BTreeSet<String>) {
        let Some(hi) = self.hi() else { return };
        if hi < 2 || mentioned.is_empty() {
            return;
        }
        let suspect = |s: &Slot| s.paths.iter().any(|p| mentioned.contains(p));
        let named: Vec<Key> = self.slots[..hi]
            .iter()
            .filter(|s| suspect(s))
            .map(|s| s.key)
            .collect();
        let count = named.len();
        self.suspected.extend(named);
        if count == 0 || count == hi {
            return;
        }
        let (clean, named): (Vec<Slot>, Vec<Slot>) =
            self.slots[..hi].iter().cloned().partition(|s| !suspect(s));
        let reordered: Vec<Slot> = clean.into_iter().chain(named).collect();
        let first = self.slots[..hi]
            .iter()
            .zip(&reordered)
            .position(|(a, b)| a.key != b.key);
        if let Some(first) = first {
            self.slots.splice(..hi, reordered);
            self.restack_from(g, first);
        }
        // The failing tree is the same set of changes in another order: where merges commute,
        // it is found again at `hi` and the failure still stands.
        self.probe = Some(hi - count);
    }

    /// Stacks the changes from index `from` on again; runs past `from` are cancelled. A change
    /// that no longer stacks leaves the train to be admitted again.
    fn restack_from(&mut self, g: &mut impl Stack, from: usize) {
        self.cancel_where(|p| p > from);
        let rest: Vec<Slot> = self.slots.drain(from..).collect();
        for s in rest {
            let parent = self.top();
            match g.stack(parent, s.key) {
                Stacked::Commit {
                    commit,
                    tree,
                    paths,
                } => self.slots.push(Slot {
                    key: s.key,
                    commit,
                    tree,
                    paths,
                }),
                Stacked::UpToDate | Stacked::Conflict(_) | Stacked::Error(_) => {
                    self.tell(s.key, Out::Requeue)
                }
            }
        }
        if self.hi().is_none() {
            self.failure = None;
        }
    }
}

#[cfg(test)]
#[path = "train_tests.rs"]
mod tests;
