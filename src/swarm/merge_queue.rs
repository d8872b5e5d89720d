//! The merge queue: the only writer of the target branch. One landing at a time: merge in
//! memory against the current target tip, write the landing commit with its trailers, then
//! move the target and complete the tasks in one compare-and-swap transaction (retried from
//! the top when either ref moved). A checkout of the target is brought forward like
//! `git merge --ff-only`; if the user's uncommitted edits there would be overwritten (or a
//! lock is left there), the landing waits and says so, touching nothing, until Ctrl-C or
//! `max_landing_pause`. A record written before the transaction lets the next command finish
//! a landing cut short (`guard::checkout`).

use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use super::target_watch::TargetWatch;
use super::{Event, Shared};
use crate::git::merge::Merge;
use crate::git::worktree::Checkout;
use crate::git::{ObjectId, RefUpdate, Repo, cli};
use crate::store::following::FollowRecord;
use crate::store::trailers::landing_message;
use crate::store::{Landed, Queue, Task, TaskId};

/// A worker asking for its branch to land.
#[derive(Debug)]
pub struct LandRequest {
    pub worker: String,
    pub cycle: u32,
    /// Short branch name, for the message.
    pub branch: String,
    pub tip: ObjectId,
    /// Tasks the worker holds, to complete with the landing.
    pub tasks: Vec<TaskId>,
    pub review_rounds: u32,
    pub reply: Sender<LandReply>,
}

/// What happened to a landing request.
#[derive(Debug, Clone)]
pub enum LandReply {
    Landed {
        commit: ObjectId,
        tasks: Vec<TaskId>,
    },
    /// The branch is already contained in the target.
    UpToDate,
    Conflict {
        paths: Vec<String>,
    },
    /// The change breaks the landing gate on the target (after the run's retries).
    GateFailed(Box<super::gate::GateFailure>),
    Interrupted,
    Failed(String),
}

/// How often a paused landing looks again.
const PAUSE_POLL: Duration = Duration::from_millis(500);

/// TEST ONLY: [`agent_env::TEST_PAUSE_AT`](crate::agent_env::TEST_PAUSE_AT)`=<point>` makes the merge queue stop forever at that point
/// of a landing (after writing `.git/oompa/test-paused-at` with the point's name), so crash
/// tests can SIGKILL the swarm exactly there. Points, in order: `before-transaction` (the
/// follow record is written, no ref has moved), `after-transaction` (the target and the
/// queue moved, the checkout has not followed), `after-follow` (the checkout followed, the
/// record is still there). Never set it outside tests.
const TEST_PAUSE_ENV: &str = crate::agent_env::TEST_PAUSE_AT;
/// TEST ONLY: [`agent_env::TEST_LANDING_DELAY_MS`](crate::agent_env::TEST_LANDING_DELAY_MS)`=<n>` sleeps that long at each of those points, so
/// that kills at random moments fall inside landings (and their git subprocesses) more
/// often. Never set it outside tests.
const TEST_DELAY_ENV: &str = crate::agent_env::TEST_LANDING_DELAY_MS;

fn test_pause_point(repo: &Repo, point: &str) {
    static AT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    static DELAY: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    let at = AT.get_or_init(|| std::env::var(TEST_PAUSE_ENV).ok().filter(|v| !v.is_empty()));
    let delay = DELAY.get_or_init(|| std::env::var(TEST_DELAY_ENV).ok()?.parse().ok());
    if let Some(ms) = delay {
        std::thread::sleep(Duration::from_millis(*ms));
    }
    if at.as_deref() != Some(point) {
        return;
    }
    let _ = std::fs::write(
        crate::store::layout::test_paused_at(repo.common_dir()),
        point,
    );
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

pub(crate) fn run(shared: &Shared, requests: Receiver<LandRequest>) {
    if let Some(gate) = &shared.config.gate {
        return super::gate::run(shared, requests, gate);
    }
    let repo = shared.repo.to_thread_local();
    let mut watch = TargetWatch::new(&repo, &shared.target_ref);
    for req in requests {
        let reply = land(shared, &repo, &req, &mut watch);
        if let LandReply::Landed { commit, tasks } = &reply {
            shared.emit(Event::Landed {
                worker: req.worker.clone(),
                commit: *commit,
                tasks: tasks.clone(),
            });
        }
        let _ = req.reply.send(reply);
    }
}

fn land(shared: &Shared, repo: &Repo, req: &LandRequest, watch: &mut TargetWatch) -> LandReply {
    let mut paused: Option<(String, std::time::Instant)> = None;
    loop {
        if shared.control.killing() {
            return LandReply::Interrupted;
        }
        match attempt(shared, repo, req, watch) {
            Attempt::Done(reply) => return reply,
            Attempt::Retry => continue,
            Attempt::Paused(pause) => {
                let since = match &paused {
                    Some((k, since)) if *k == pause.key => *since,
                    _ => {
                        shared.emit(Event::LandingPaused {
                            worker: req.worker.clone(),
                            reason: pause.message(),
                        });
                        let now = std::time::Instant::now();
                        paused = Some((pause.key.clone(), now));
                        now
                    }
                };
                if let Some(reply) = pause.verdict(shared, &req.worker, since) {
                    return reply;
                }
                let bound = shared.config.max_landing_pause;
                std::thread::sleep(PAUSE_POLL.min(bound));
            }
        }
    }
}

pub(super) enum Attempt {
    Done(LandReply),
    /// A ref moved under us: start over from the new tips.
    Retry,
    /// Something in the target's checkout is in the way.
    Paused(Pause),
}

fn attempt(shared: &Shared, repo: &Repo, req: &LandRequest, watch: &mut TargetWatch) -> Attempt {
    let fail = |e: &dyn std::fmt::Display| Attempt::Done(LandReply::Failed(e.to_string()));
    let target = match repo.read_ref(&shared.target_ref) {
        Ok(Some(t)) => t,
        Ok(None) => return fail(&shared.target_deleted()),
        Err(e) => return fail(&e),
    };
    if let Some(warning) = watch.moved_outside(repo, &shared.target, target) {
        shared.emit(Event::Warning(warning));
    }
    // Where the target's checkouts are: the tip the queue left, even if the target moved.
    let base = watch.checkout_base(target);
    let tree = match landing_tree(repo, target, req.tip) {
        Err(e) => return fail(&e),
        Ok(LandingTree::UpToDate) => return up_to_date(shared, repo, req, watch),
        Ok(LandingTree::Conflict(paths)) => return Attempt::Done(LandReply::Conflict { paths }),
        Ok(LandingTree::Tree(tree)) => tree,
    };
    let tasks = match held_tasks(&Queue::new(repo), shared, req) {
        Ok(t) => t,
        Err(e) => return fail(&e),
    };
    let message = landing_message(
        &tasks,
        &[],
        &req.worker,
        &shared.id,
        &req.branch,
        req.review_rounds,
    );
    let commit = match repo.commit(&message, tree, &[target, req.tip]) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let landed = Landed {
        commit: commit.to_string(),
        review_rounds: req.review_rounds,
        at: jiff::Timestamp::now().to_string(),
        worker: Some(req.worker.clone()),
    };
    let ids: Vec<TaskId> = tasks.iter().map(|t| t.id.clone()).collect();
    let attempt = publish(
        shared,
        repo,
        target,
        base,
        commit,
        &[(ids, landed)],
        &format!("oompa: land {} ({})", req.branch, req.worker),
        &format!("{}/{}", shared.id, req.worker),
    );
    if let Attempt::Done(LandReply::Landed { .. }) = attempt {
        watch.landed(commit);
    }
    attempt
}

/// How a change merges onto the target, for its landing commit.
pub(super) enum LandingTree {
    /// The target already has it.
    UpToDate,
    /// The paths that do not merge cleanly.
    Conflict(Vec<String>),
    /// The landing commit's tree.
    Tree(ObjectId),
}

/// The tree of the landing commit of `tip` on `onto`. Mergeability first, in memory; only a
/// clean three-way merge writes anything. Shared by the plain merge queue and the gate's
/// stacker.
pub(super) fn landing_tree(
    repo: &Repo,
    onto: ObjectId,
    tip: ObjectId,
) -> Result<LandingTree, String> {
    match repo.check_merge(onto, tip).map_err(|e| e.to_string())? {
        Merge::UpToDate => Ok(LandingTree::UpToDate),
        Merge::Conflict { paths } => Ok(LandingTree::Conflict(paths)),
        Merge::FastForward { tree } => Ok(LandingTree::Tree(tree)),
        Merge::Clean { .. } => match repo.merge(onto, tip).map_err(|e| e.to_string())? {
            Merge::Clean { tree } => Ok(LandingTree::Tree(tree)),
            Merge::Conflict { paths } => Ok(LandingTree::Conflict(paths)),
            other => Err(format!("merge changed its mind: {other:?}")),
        },
    }
}

/// Moves the target from `target` to `commit` and completes each group's tasks (with its
/// `Landed`) in one transaction, after checking that the target's checkouts can follow, and
/// brings them forward. Shared by the plain merge queue and the landing gate, which lands
/// several changes at once. The checkouts follow from `checkout_from`: the tip the queue last
/// left them at, which is not `target` when the target was moved outside the queue.
#[allow(
    clippy::too_many_arguments,
    reason = "one landing's facts, each used once"
)]
pub(super) fn publish(
    shared: &Shared,
    repo: &Repo,
    target: ObjectId,
    checkout_from: ObjectId,
    commit: ObjectId,
    completions: &[(Vec<TaskId>, Landed)],
    reflog: &str,
    actor: &str,
) -> Attempt {
    let fail = |e: &dyn std::fmt::Display| Attempt::Done(LandReply::Failed(e.to_string()));
    let checkout_from = shared.checkout_base(checkout_from);
    let checkouts = match checkouts_to_follow(shared, repo, checkout_from, commit) {
        Ok(c) => c,
        Err(stop) => return stop,
    };
    let ids: Vec<TaskId> = completions
        .iter()
        .flat_map(|(ids, _)| ids.iter().cloned())
        .collect();
    let target_update = RefUpdate {
        name: shared.target_ref.clone(),
        expected: Some(target),
        new: Some(commit),
        message: reflog.to_string(),
    };
    // Crash safety: a record of the landing comes first, so that a process killed anywhere
    // from here to the checkouts following leaves something that says so; the next command
    // finishes what was left half done (`guard::checkout::finish`).
    let paths: Vec<_> = checkouts.iter().map(|c| c.path.clone()).collect();
    if let Err(e) = FollowRecord::write(
        repo,
        &shared.id,
        &shared.target_ref,
        (target, commit),
        &paths,
    ) {
        return fail(&format!("cannot record the landing before it happens: {e}"));
    }
    test_pause_point(repo, "before-transaction");
    let new_queue = match move_target(repo, completions, target_update, actor) {
        Ok(new_queue) => new_queue,
        Err(e) => {
            FollowRecord::remove(repo, &shared.id);
            return match e {
                crate::store::QueueError::Git(e) if e.is_conflict() => Attempt::Retry,
                e => fail(&e),
            };
        }
    };
    shared.target_landed(repo, commit);
    test_pause_point(repo, "after-transaction");
    follow(shared, &checkouts, checkout_from, commit);
    test_pause_point(repo, "after-follow");
    FollowRecord::remove(repo, &shared.id);
    vouch(repo, new_queue, commit);
    Attempt::Done(LandReply::Landed { commit, tasks: ids })
}

/// The target's checkouts, once each has been found able to follow the target from
/// `checkout_from` to `commit` (the landing pauses when one is not).
fn checkouts_to_follow(
    shared: &Shared,
    repo: &Repo,
    checkout_from: ObjectId,
    commit: ObjectId,
) -> Result<Vec<Checkout>, Attempt> {
    let checkouts: Vec<_> = match repo.checkouts() {
        Ok(c) => c
            .into_iter()
            .filter(|c| c.branch.as_deref() == Some(shared.target_ref.as_str()))
            .collect(),
        Err(e) => return Err(Attempt::Done(LandReply::Failed(e.to_string()))),
    };
    for co in &checkouts {
        if let Err(e) = cli::check_checkout_forward(&co.path, checkout_from, commit) {
            return Err(Attempt::Paused(paused_by(&co.path, &e)));
        }
    }
    Ok(checkouts)
}

/// The landing's one transaction: the tasks completed and the target moved. Returns the
/// queue's new tip, when the tasks were completed.
fn move_target(
    repo: &Repo,
    completions: &[(Vec<TaskId>, Landed)],
    target_update: RefUpdate,
    actor: &str,
) -> Result<Option<ObjectId>, crate::store::QueueError> {
    let queue = Queue::new(repo);
    // The files ref backend writes the refs of a transaction one after the other, in
    // order: the queue goes first, so a process killed in between has completed the tasks
    // without moving the target (the next command moves it, from the record), never moved
    // the target with the tasks still claimed (they would go back to pending and land twice).
    queue.with_lock(|| {
        let mut updates = Vec::with_capacity(2);
        match completions {
            [(ids, landed)] if !ids.is_empty() => {
                updates.push(queue.plan_complete(ids, landed, actor)?)
            }
            [_] | [] => {}
            many => updates.extend(queue.plan_complete_many(many, actor)?),
        }
        let new_queue = updates.first().and_then(|u| u.new);
        updates.push(target_update);
        repo.transaction(&updates)
            .map(|()| new_queue)
            .map_err(crate::store::QueueError::from)
    })
}

/// The checkouts follow the landing at once: nothing else comes between the move and them.
fn follow(shared: &Shared, checkouts: &[Checkout], from: ObjectId, commit: ObjectId) {
    for co in checkouts {
        if let Err(e) = cli::checkout_forward(&co.path, from, commit) {
            shared.emit(Event::Warning(format!(
                "{} could not follow the landing ({}); run `git status` there",
                co.path.display(),
                e.detail()
            )));
        }
    }
}

/// Vouches for the queue's completions on the new target, so pre-push does not have to read
/// every one of them again.
fn vouch(repo: &Repo, new_queue: Option<ObjectId>, commit: ObjectId) {
    let queue_tip = new_queue.or_else(|| repo.read_ref(crate::store::QUEUE_REF).ok().flatten());
    if let Some(q) = queue_tip
        && let Err(e) = crate::store::verified::record_baseline(repo, q, commit)
    {
        tracing::debug!("could not record the verified-landings baseline: {e}");
    }
}

/// A branch the target already contains. When its work came in with a move of the target
/// outside the queue (an agent landing its own commits around the hooks), that move landed
/// it: its tasks are completed with the branch tip as their landing, so they are neither
/// redone nor released. Otherwise there is nothing to land.
fn up_to_date(shared: &Shared, repo: &Repo, req: &LandRequest, watch: &TargetWatch) -> Attempt {
    let branch = format!("refs/heads/{}", req.branch);
    if req.tasks.is_empty()
        || !watch.came_from_outside(repo, req.tip)
        || !repo.made_on(&branch, req.tip)
    {
        return Attempt::Done(LandReply::UpToDate);
    }
    let queue = Queue::new(repo);
    let ids: Vec<TaskId> = match held_tasks(&queue, shared, req) {
        Ok(t) => t.into_iter().map(|t| t.id).collect(),
        Err(e) => return Attempt::Done(LandReply::Failed(e.to_string())),
    };
    if ids.is_empty() {
        return Attempt::Done(LandReply::UpToDate);
    }
    let landed = Landed {
        commit: req.tip.to_string(),
        review_rounds: req.review_rounds,
        at: jiff::Timestamp::now().to_string(),
        worker: Some(req.worker.clone()),
    };
    let actor = format!("{}/{}", shared.id, req.worker);
    let result = queue.with_lock(|| {
        let update = queue.plan_complete(&ids, &landed, &actor)?;
        repo.transaction(std::slice::from_ref(&update))
            .map_err(crate::store::QueueError::from)
    });
    match result {
        Ok(()) => {
            shared.emit(Event::Warning(format!(
                "{}'s commit {} was already on {}, put there outside the merge queue; \
                 completing {} with it",
                req.worker,
                crate::git::short(&req.tip),
                shared.target,
                ids.iter()
                    .map(TaskId::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
            Attempt::Done(LandReply::Landed {
                commit: req.tip,
                tasks: ids,
            })
        }
        Err(crate::store::QueueError::Git(e)) if e.is_conflict() => Attempt::Retry,
        Err(e) => Attempt::Done(LandReply::Failed(e.to_string())),
    }
}

/// The requested tasks this worker still holds (others are left out of the landing).
pub(super) fn held_tasks(
    queue: &Queue<'_>,
    shared: &Shared,
    req: &LandRequest,
) -> Result<Vec<Task>, crate::store::QueueError> {
    let snap = queue.snapshot()?;
    Ok(snap
        .held_by(&shared.id, &req.worker)
        .filter(|t| req.tasks.contains(&t.id))
        .cloned()
        .collect())
}

/// Why a landing is paused: `key` names what blocks (so a pause is said once however its
/// details change), `what` says it, `unblock` says what the person does about it.
pub(super) struct Pause {
    pub key: String,
    what: String,
    unblock: String,
}

impl Pause {
    /// The pause as the swarm says it.
    pub fn message(&self) -> String {
        format!(
            "landing paused: {}; {} and the landing continues by itself",
            self.what, self.unblock
        )
    }

    /// Whether a landing paused since `since` ends now, and how: Ctrl-C once does not wait
    /// for the person (the work is kept and the claims go back, as for any cycle that did not
    /// land); past `max_landing_pause` the cycle fails and the swarm stops itself.
    pub fn verdict(
        &self,
        shared: &Shared,
        who: &str,
        since: std::time::Instant,
    ) -> Option<LandReply> {
        if shared.control.stopping() {
            return Some(LandReply::Interrupted);
        }
        let bound = shared.config.max_landing_pause;
        if since.elapsed() < bound {
            return None;
        }
        let why = format!(
            "the landing stayed paused for {}: {}",
            crate::git::lock::age_text(bound),
            self.what
        );
        shared.emit(Event::Warning(format!(
            "[{who}] {why}; stopping the swarm (its work is kept, its tasks go back to the queue)"
        )));
        shared.control.give_up(why.clone());
        Some(LandReply::Failed(why))
    }
}

/// What keeps a checkout of the target from following a landing: a lock left in it (said
/// with its path and age, never as "uncommitted changes"), or the person's edits.
fn paused_by(checkout: &std::path::Path, e: &crate::git::GitError) -> Pause {
    if let Some(lock) = e.lock() {
        return Pause {
            key: format!("lock {}", lock.path.display()),
            what: format!("{} is locked by {}", checkout.display(), lock.describe()),
            unblock: format!(
                "if no git command is running there, remove it (`{}`)",
                lock.remove_command()
            ),
        };
    }
    let files = overwritten(&e.to_string());
    Pause {
        key: format!("edits {files}"),
        what: format!(
            "{} has uncommitted changes that landing would overwrite ({files})",
            checkout.display()
        ),
        unblock: "commit or stash them".into(),
    }
}

/// The file list of git's "would be overwritten" message, else the message itself.
fn overwritten(stderr: &str) -> String {
    let files: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with('\t') || l.starts_with("        "))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if files.is_empty() {
        stderr.lines().next().unwrap_or(stderr).to_string()
    } else {
        files.join(", ")
    }
}
