//! The end of a cycle that signalled merge: commit the leftovers, have the change reviewed
//! (fix turns go back to the worker's own session), hand it to the merge queue, and on a
//! conflict merge the target into the worktree for a resolver turn in the same session.

use std::collections::BTreeSet;
use std::ops::ControlFlow::{self, Break, Continue};

use crossbeam_channel::bounded;

use super::{CycleCtx, CycleResult, Turns, Worker};
use crate::git::markers;
use crate::git::merge::Merge;
use crate::git::{ObjectId, Repo, cli};
use crate::store::record::{Outcome, ReviewRound};
use crate::store::{Queue, Task};
use crate::swarm::gate::GateFailure;
use crate::swarm::live::{Phase, TurnPurpose};
use crate::swarm::merge_queue::{LandReply, LandRequest};
use crate::swarm::{Event, prompts, review};

impl Worker {
    /// `COMPLETE_AND_READY_FOR_MERGE`: commit leftovers, check there is a change, have it
    /// reviewed, and hand it to the merge queue. Returns the cycle's end, or the prompt of
    /// the next turn of the same session (review findings to fix, a conflict to resolve).
    pub(super) fn on_merge(
        &self,
        c: &mut CycleCtx<'_>,
        landing: &mut Landing,
        turns: &mut Turns,
    ) -> Next {
        let tip = match self.change_to_land(c, landing) {
            Continue(tip) => tip,
            Break(next) => return next,
        };
        let target = match self.shared.read_target(c.repo) {
            Some(t) => t,
            None => return Next::Finish(CycleResult::error("cannot read the target branch")),
        };
        // A resolution is checked in memory before it re-enters the queue.
        if landing.resolving.is_some()
            && let Ok(Merge::Conflict { paths }) = c.repo.check_merge(target, tip)
        {
            return self.conflict(c, landing, tip, target, paths);
        }
        // …and it must not leave conflict markers behind.
        if let Some(next) = self.markers_left(c, landing, tip) {
            return next;
        }
        if let Some(next) = self.review(c, landing, turns, tip, target) {
            return next;
        }
        self.hand_to_queue(c, landing, turns, tip, target)
    }

    /// The worker branch's tip with the agent's leftovers committed, when it is on its branch,
    /// done merging, and changed since the cycle's base; else what happens instead.
    fn change_to_land(
        &self,
        c: &CycleCtx<'_>,
        landing: &mut Landing,
    ) -> ControlFlow<Next, ObjectId> {
        let (repo, ws) = (c.repo, c.ws);
        // Only the worker branch lands: an agent that left it is told once, then the cycle
        // ends and what it left is kept.
        if let Some(why) = ws.off_branch() {
            if landing.left_branch || !ws.path.join(".git").is_file() {
                return Break(Next::Finish(CycleResult::error(format!(
                    "signalled merge off its branch {}: {why}",
                    ws.short_branch()
                ))));
            }
            landing.left_branch = true;
            return Break(Next::Resume(prompts::off_branch(&c.vars, &why)));
        }
        if cli::merge_in_progress(&ws.path) {
            let unmerged = cli::unmerged_paths(&ws.path).unwrap_or_default();
            if !unmerged.is_empty() {
                return Break(Next::Resume(format!(
                    "The merge is not finished: these paths are still unmerged: {}.\n\
                     Resolve them, `git add` them, `git commit`, then end with \
                     `COMPLETE_AND_READY_FOR_MERGE` alone on the last line.",
                    unmerged.join(", ")
                )));
            }
        }
        if let Err(e) = ws.commit_leftovers(c.cycle) {
            return Break(Next::Finish(CycleResult::error(format!(
                "committing the agent's leftovers: {e}"
            ))));
        }
        let tip = match ws.tip(repo) {
            Ok(Some(t)) => t,
            Ok(None) => {
                return Break(Next::Finish(CycleResult::error(
                    "the worker branch disappeared",
                )));
            }
            Err(e) => return Break(Next::Finish(CycleResult::error(e.to_string()))),
        };
        let unchanged = tip == c.base
            || repo
                .commit_tree(tip)
                .ok()
                .zip(repo.commit_tree(c.base).ok())
                .is_some_and(|(a, b)| a == b);
        if unchanged {
            return Break(Next::Finish(CycleResult::new(Outcome::NoChanges)));
        }
        Continue(tip)
    }

    /// Hands `tip` to the merge queue and waits for its answer: landed, or what happens
    /// instead (a gate failure or a conflict to fix in the same session).
    fn hand_to_queue(
        &self,
        c: &mut CycleCtx<'_>,
        landing: &mut Landing,
        turns: &Turns,
        tip: ObjectId,
        target: ObjectId,
    ) -> Next {
        let (tx, rx) = bounded(1);
        let req = LandRequest {
            worker: self.id.clone(),
            cycle: c.cycle,
            branch: c.ws.short_branch().to_string(),
            tip,
            tasks: self.held(&Queue::new(c.repo)),
            review_rounds: u32::try_from(landing.review.len()).unwrap_or(u32::MAX),
            reply: tx,
        };
        let queued = std::time::Instant::now();
        self.phase(Phase::Landing { cycle: c.cycle }, Some(&turns.tokens));
        if self.land.send(req).is_err() {
            // Only a merge queue that panicked is gone while workers run: nothing can land, so
            // the swarm stops instead of spending every worker's cycles on work it must keep.
            self.shared
                .control
                .give_up("the merge queue is gone".into());
            return Next::Finish(CycleResult::error("the merge queue is gone"));
        }
        match rx
            .recv()
            .unwrap_or(LandReply::Failed("the merge queue stopped".into()))
        {
            LandReply::Landed { commit, tasks } => Next::Finish(CycleResult {
                landed: Some(commit),
                tasks: tasks.iter().map(ToString::to_string).collect(),
                queue_ms: Some(u64::try_from(queued.elapsed().as_millis()).unwrap_or(u64::MAX)),
                ..CycleResult::new(Outcome::Merged)
            }),
            LandReply::GateFailed(failure) => self.gate_failed(c, landing, tip, *failure),
            LandReply::UpToDate => Next::Finish(CycleResult::new(Outcome::NoChanges)),
            LandReply::Conflict { paths } => {
                let target = c
                    .repo
                    .read_ref(&self.shared.target_ref)
                    .ok()
                    .flatten()
                    .unwrap_or(target);
                self.conflict(c, landing, tip, target, paths)
            }
            LandReply::Interrupted => Next::Finish(CycleResult::new(Outcome::Interrupted)),
            LandReply::Failed(e) => Next::Finish(CycleResult::error(e)),
        }
    }

    /// Runs a review round when the change needs one. `None`: approved (or no review
    /// configured), go on landing.
    fn review(
        &self,
        c: &mut CycleCtx<'_>,
        landing: &mut Landing,
        turns: &mut Turns,
        tip: ObjectId,
        target: ObjectId,
    ) -> Option<Next> {
        let review = self.shared.config.review_for(&self.config)?;
        if !needs_review(c.repo, landing, tip) {
            return None;
        }
        let repo = c.repo;
        let merge_base = repo
            .merge_base(target, tip)
            .ok()
            .flatten()
            .unwrap_or(c.base);
        let tasks = self.held_tasks(repo);
        let round = u32::try_from(landing.review.len()).unwrap_or(u32::MAX) + 1;
        let req = review::Request {
            repo,
            review: &review,
            ws: c.ws,
            round,
            base: merge_base,
            tip,
            target: &self.shared.target,
            tasks: &tasks,
            previous: landing.review.last(),
            env: c.env,
            worker_args: &self.config.args,
            worker_harness: &self.config.model.harness,
            timeout: self.config.turn_timeout,
            transcript: c.transcript,
            transcript_max: self.shared.config.transcript_max,
            kill: &self.shared.control.kill,
            waiter: &self.waiter(repo, format!("review round {round}: ")),
        };
        self.phase(
            Phase::Review {
                cycle: c.cycle,
                round,
            },
            Some(&turns.tokens),
        );
        let mut outs = Vec::new();
        let result = review::run(&req, &mut outs, &mut turns.waits);
        for o in &outs {
            turns.add_one_shot(o);
        }
        match result {
            Ok(verdict) => self.after_verdict(c, landing, tip, verdict, review.max_rounds),
            Err(review::ReviewError::Stopped) => {
                Some(Next::Finish(CycleResult::new(Outcome::Interrupted)))
            }
            Err(e) => Some(Next::Finish(CycleResult::error(e.to_string()))),
        }
    }

    /// The tasks this worker holds, as they stand in the queue.
    fn held_tasks(&self, repo: &Repo) -> Vec<Task> {
        let snap = Queue::new(repo).snapshot().unwrap_or_default();
        snap.held_by(&self.shared.id, &self.id).cloned().collect()
    }

    /// Acts on a review round's verdict on `tip`: `None` when approved (go on landing), else
    /// the fix turn of the findings, or the cycle's end once `max_rounds` are used.
    fn after_verdict(
        &self,
        c: &CycleCtx<'_>,
        landing: &mut Landing,
        tip: ObjectId,
        verdict: ReviewRound,
        max_rounds: u32,
    ) -> Option<Next> {
        self.emit(Event::Reviewed {
            worker: self.id.clone(),
            round: verdict.clone(),
        });
        let round = verdict.round;
        let approved = verdict.verdict == "approved";
        let findings = verdict.findings.clone();
        landing.review.push(verdict);
        if approved {
            landing.approved = Some(tip);
            return None;
        }
        if round >= max_rounds {
            return Some(Next::Finish(CycleResult {
                error: Some(format!(
                    "not approved after {round} review {}",
                    if round == 1 { "round" } else { "rounds" }
                )),
                ..CycleResult::new(Outcome::Rejected)
            }));
        }
        if self.shared.control.stopping() {
            return Some(Next::Finish(CycleResult::new(Outcome::Interrupted)));
        }
        let findings = if findings.is_empty() {
            "(the reviewer gave no details)".to_string()
        } else {
            findings
        };
        landing.purpose = TurnPurpose::ReviewFindings;
        Some(Next::Resume(prompts::review_fix(&c.vars, &findings)))
    }

    /// The landing conflicts: merge the target into the worktree and ask the agent to
    /// resolve it in its own session, up to `max_conflict_rounds` times.
    fn conflict(
        &self,
        c: &mut CycleCtx<'_>,
        landing: &mut Landing,
        tip: ObjectId,
        target: ObjectId,
        paths: Vec<String>,
    ) -> Next {
        self.count_conflict(landing, &paths);
        let conflict_text = format!(
            "conflicts with {}: {}",
            self.shared.target,
            paths.join(", ")
        );
        if landing.conflict_rounds >= self.shared.config.max_conflict_rounds
            || self.shared.control.stopping()
        {
            return gave_up_conflict(landing, conflict_text);
        }
        landing.conflict_rounds += 1;
        let repo = c.repo;
        let merge_base = repo.merge_base(target, tip).ok().flatten();
        let message = format!("Merge {} into {}", self.shared.target, c.ws.short_branch());
        let clean = match cli::merge_into(&c.ws.path, target, &message) {
            Ok(clean) => clean,
            Err(e) => {
                let why = format!("{conflict_text}; merging it in the worktree failed: {e}");
                return gave_up_conflict(landing, why);
            }
        };
        let target_changed = match merge_base {
            Some(mb) => tree_paths(repo, Some(mb), target),
            None => Vec::new(),
        };
        landing.resolving = Some(Resolving {
            before: tip,
            allowed: target_changed
                .into_iter()
                .chain(paths.iter().cloned())
                .collect(),
            conflict: Some((target, paths.clone())),
        });
        landing.purpose = TurnPurpose::Conflict;
        if clean {
            // git resolved what gix would not (renames, say): just try again.
            return Next::Resume(format!(
                "{} was merged into your branch without conflicts. Check the result, then end \
                 with `COMPLETE_AND_READY_FOR_MERGE` alone on the last line.",
                self.shared.target
            ));
        }
        let ours = cli::log_oneline(&c.ws.path, &format!("{target}..{tip}")).unwrap_or_default();
        let theirs = cli::log_oneline(&c.ws.path, &format!("{tip}..{target}")).unwrap_or_default();
        Next::Resume(prompts::resolver(
            &c.vars,
            &paths,
            &ours,
            &theirs,
            c.ws.short_branch(),
        ))
    }

    /// Notes a landing conflict on `paths`: in the cycle's list, and in the swarm's counts of
    /// conflicts and of those prediction had flagged.
    fn count_conflict(&self, landing: &mut Landing, paths: &[String]) {
        for p in paths {
            if !landing.conflicts.contains(p) {
                landing.conflicts.push(p.clone());
            }
        }
        let predicted = self.shared.flagged_lock().contains(&self.id);
        landing.predicted |= predicted;
        self.shared
            .landing_conflicts
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if predicted {
            self.shared
                .predicted_conflicts
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// Review and conflict state of one cycle.
#[derive(Default)]
pub(super) struct Landing {
    pub(super) review: Vec<ReviewRound>,
    /// The tip the reviewer approved.
    approved: Option<ObjectId>,
    pub(super) conflict_rounds: u32,
    pub(super) conflicts: Vec<String>,
    /// A landing of this cycle conflicted after prediction had flagged the branch.
    pub(super) predicted: bool,
    resolving: Option<Resolving>,
    /// The agent was told its worktree was off its branch at a merge signal.
    left_branch: bool,
    /// Landing-gate failures sent back to the agent so far.
    gate_rounds: u32,
    /// Why the next turn runs (for the live status).
    pub(super) purpose: TurnPurpose,
}

/// A conflict resolution, or a fix of a gate failure, under way.
struct Resolving {
    /// The branch tip before the target was merged in (before the fix).
    before: ObjectId,
    /// Paths a resolution may touch without another review: what the target changed since
    /// the merge base, and the conflicting paths (for a gate fix: the paths its output names).
    allowed: BTreeSet<String>,
    /// For a conflict: the target commit merged in, and the conflicting paths (checked for
    /// markers the resolution leaves).
    conflict: Option<(ObjectId, Vec<String>)>,
}

/// What happens after a merge signal.
pub(super) enum Next {
    Finish(CycleResult),
    Resume(String),
}

impl Worker {
    /// A resolution that left conflict markers is a failed resolution round: the agent is told
    /// where, or the cycle ends `conflict` when its rounds are used.
    fn markers_left(
        &self,
        c: &mut CycleCtx<'_>,
        landing: &mut Landing,
        tip: ObjectId,
    ) -> Option<Next> {
        let res = landing.resolving.as_ref()?;
        let (theirs, paths) = res.conflict.as_ref()?;
        let mut check: BTreeSet<String> = paths.iter().cloned().collect();
        check.extend(tree_paths(c.repo, Some(res.before), tip));
        let check: Vec<String> = check.into_iter().collect();
        let found = markers::resolution_markers(c.repo, res.before, *theirs, tip, &check)
            .unwrap_or_default();
        if found.is_empty() {
            return None;
        }
        let places: Vec<String> = found.iter().map(|(p, l)| format!("{p}:{l}")).collect();
        let why = format!(
            "the resolution left conflict markers at {}",
            places.join(", ")
        );
        if landing.conflict_rounds >= self.shared.config.max_conflict_rounds
            || self.shared.control.stopping()
        {
            return Some(gave_up_conflict(landing, why));
        }
        landing.conflict_rounds += 1;
        landing.purpose = TurnPurpose::Conflict;
        let lines: Vec<String> = places.iter().map(|p| format!("- {p}")).collect();
        Some(Next::Resume(format!(
            "# Conflict markers left\n\nYour merge commit still has conflict markers \
             (`<<<<<<<`, `=======`, `>>>>>>>` lines) at:\n\n{}\n\nA resolution with markers never \
             lands. Edit those files so that both sides' intent is kept and no marker line is \
             left, commit, and end with `COMPLETE_AND_READY_FOR_MERGE` alone on the last line.",
            lines.join("\n")
        )))
    }

    /// The change broke the landing gate: the failure goes back to the agent's own session as a
    /// fix turn, or the cycle ends `gate-failed` when its fix rounds are used.
    fn gate_failed(
        &self,
        c: &mut CycleCtx<'_>,
        landing: &mut Landing,
        tip: ObjectId,
        failure: GateFailure,
    ) -> Next {
        landing.gate_rounds += 1;
        let max = self
            .shared
            .config
            .gate
            .as_ref()
            .map_or(0, |g| g.max_fix_rounds);
        let what = match &failure.command {
            Some(cmd) => format!("`{cmd}` {}", failure.status),
            None => failure.status.clone(),
        };
        let short = failure.candidate.to_string();
        let summary = format!("gate failed: {what} on {}", &short[..short.len().min(8)]);
        if landing.gate_rounds > max || self.shared.control.stopping() {
            return Next::Finish(CycleResult {
                error: Some(summary),
                ..CycleResult::new(Outcome::GateFailed)
            });
        }
        self.emit(Event::Waiting {
            worker: self.id.clone(),
            why: format!("{summary}; fix turn {} of {max}", landing.gate_rounds),
        });
        landing.resolving = Some(Resolving {
            before: tip,
            allowed: failure.mentioned.clone(),
            conflict: None,
        });
        landing.purpose = TurnPurpose::GateFailure;
        Next::Resume(prompts::gate_fix(&c.vars, &failure))
    }
}

/// The cycle's end after a conflict it could not resolve (`why`).
fn gave_up_conflict(landing: &Landing, why: String) -> Next {
    Next::Finish(CycleResult {
        error: Some(why),
        conflicts: landing.conflicts.clone(),
        ..CycleResult::new(Outcome::Conflict)
    })
}

/// Whether `tip` needs a review round: nothing approved yet, or a change since the approval
/// beyond what resolving a conflict (or fixing a gate failure) may touch.
fn needs_review(repo: &Repo, landing: &Landing, tip: ObjectId) -> bool {
    match (landing.approved, &landing.resolving) {
        (None, _) => true,
        (Some(a), _) if a == tip => false,
        (Some(_), Some(res)) => beyond_conflict(repo, res, tip),
        (Some(_), None) => true,
    }
}

/// Whether a resolution changed paths beyond what merging the target brings in.
fn beyond_conflict(repo: &Repo, res: &Resolving, tip: ObjectId) -> bool {
    tree_paths(repo, Some(res.before), tip)
        .iter()
        .any(|p| !res.allowed.contains(p))
}

/// Paths that differ between two commits' trees (empty on error).
fn tree_paths(repo: &Repo, a: Option<ObjectId>, b: ObjectId) -> Vec<String> {
    repo.changed_paths(a, b).unwrap_or_default()
}
