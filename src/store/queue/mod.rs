//! The task queue kept in `refs/oompa/tasks`: a commit chain whose tree holds
//! `pending/<id>.json`, `current/<id>.json` and `complete/<id>.json`.
//!
//! Every operation is: read the tip, check it is still valid against that tip, write
//! blobs/tree/commit, compare-and-swap the ref; on a lost race, re-read and re-validate.
//! Inside one process a single lock serializes operations (no retry storms); across
//! processes the CAS decides. One commit per successful operation, none for a no-op.
//!
//! Every read and write first checks the tip ([`check_tip`]): a commit that descends from the
//! last tip git oompa wrote or checked ([`crate::store::known`]). A queue replaced, rewound or
//! deleted outside git oompa, or pointing at something else than a commit, is refused with a
//! typed error until `repair` puts it back (or a person accepts it). An id in more than one
//! state is never acted on. This module never prints.

mod edit;
mod lease;
mod repair;
mod swarms;

pub use edit::{Actor, Change, ChangeError, Changed, NOTICES_DIR, Notice, TaskEdit};
pub use repair::{REPLACED_PREFIX, Restored};
pub use swarms::Recovered;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use super::known::{self, Problem};
use super::swarm::claim_is_dead;
use super::task::{Claim, Landed, Task, TaskId};
use crate::git::{GitError, ObjectId, RefUpdate, Repo, short};

pub use crate::store::layout::QUEUE_REF;

/// The largest task or swarm record read or written (1 MiB: far more than any prompt can
/// use). A bigger entry is reported by path, never read into memory.
pub const MAX_RECORD_BYTES: u64 = 1 << 20;

/// The entries the root of the queue tree may have.
const TOP_LEVEL: [&str; 5] = ["pending", "current", "complete", "swarms", NOTICES_DIR];

/// Serializes queue operations of this process.
static QUEUE_LOCK: Mutex<()> = Mutex::new(());

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    Pending,
    Current,
    Complete,
}

impl State {
    pub const ALL: [State; 3] = [State::Pending, State::Current, State::Complete];

    pub fn dir(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Current => "current",
            State::Complete => "complete",
        }
    }

    pub fn path(self, id: &TaskId) -> String {
        format!("{}/{id}.json", self.dir())
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.dir())
    }
}

impl std::str::FromStr for State {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(State::Pending),
            "current" | "claimed" => Ok(State::Current),
            "complete" | "completed" | "done" => Ok(State::Complete),
            _ => Err(format!(
                "unknown state `{s}` (pending, current or complete)"
            )),
        }
    }
}

/// What went wrong with a queue operation.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("no task `{0}` in the queue")]
    NotFound(TaskId),
    #[error("task `{0}` already exists ({1})")]
    Exists(TaskId, State),
    #[error("task `{id}` is {state}, not claimed")]
    NotClaimed { id: TaskId, state: State },
    #[error("task `{id}` is claimed by {holder}, not by {who}")]
    NotOwner {
        id: TaskId,
        holder: String,
        who: String,
    },
    #[error("task `{id}` is claimed by {holder}, whose swarm is still running ({owner})")]
    OwnerAlive {
        id: TaskId,
        holder: String,
        owner: String,
    },
    #[error("{path} in {QUEUE_REF} is corrupt: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("the queue is full: {pending} pending, at most {max} allowed")]
    Full { pending: usize, max: usize },
    #[error("gave up after {0} attempts: {QUEUE_REF} kept moving")]
    TooManyRetries(u32),
    #[error(
        "{QUEUE_REF} points at {kind} {id}, not at a commit: the queue is a chain of commits \
         whose tree holds pending/, current/ and complete/"
    )]
    NotACommit { id: ObjectId, kind: &'static str },
    #[error("{}", replaced_message(.known, .found))]
    Replaced {
        /// The last tip git oompa wrote or checked.
        known: ObjectId,
        /// What the ref holds now (`None`: it was deleted).
        found: Option<ObjectId>,
    },
    #[error("task `{id}` is in {} at once; a task lives in one state only", states_list(.states))]
    SeveralStates { id: TaskId, states: Vec<State> },
    #[error("task `{id}` is {}", describe_entry(.size))]
    TooBig { id: TaskId, size: u64 },
}

impl QueueError {
    /// Whether the queue ref itself is damaged (replaced, deleted, not a commit): nothing can
    /// be read or written until it is restored.
    pub fn is_damaged_ref(&self) -> bool {
        matches!(
            self,
            QueueError::Replaced { .. } | QueueError::NotACommit { .. }
        )
    }
}

fn replaced_message(known: &ObjectId, found: &Option<ObjectId>) -> String {
    match found {
        Some(found) => format!(
            "{QUEUE_REF} was replaced outside git oompa: it points at {}, which does not \
             descend from {}, the last tip git oompa wrote or checked",
            short(found),
            short(known)
        ),
        None => format!(
            "{QUEUE_REF} was deleted outside git oompa; its last tip known to git oompa was {}",
            short(known)
        ),
    }
}

fn states_list(states: &[State]) -> String {
    states
        .iter()
        .map(|s| format!("{}/", s.dir()))
        .collect::<Vec<_>>()
        .join(" and ")
}

/// Why a file in the queue's tree (a task or a swarm record) cannot be read; its text is the
/// reason a [`Corrupt`] entry or a warning gives after the file's path.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RecordError {
    #[error("{}", .0.detail())]
    Git(#[from] GitError),
    #[error("is a {kind}, not a file")]
    NotAFile { kind: &'static str },
    #[error("is {}; it is not read", describe_entry(size))]
    TooBig { size: u64 },
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// The file holds another record than its name says (`what` is `task` or `swarm`).
    #[error("holds {what} `{holds}` but is named {path}")]
    Misnamed {
        what: &'static str,
        holds: String,
        path: String,
    },
}

fn describe_entry(size: &u64) -> String {
    format!("{size} bytes, more than the {MAX_RECORD_BYTES} bytes a queue record may have")
}

/// Checks the queue ref's value: a commit (or no ref at all) that descends from the last tip
/// git oompa knew. Records it when it moved forward. Every read and write of the queue goes
/// through this first.
pub fn check_tip(repo: &Repo, tip: Option<ObjectId>) -> Result<(), QueueError> {
    known::check(repo, QUEUE_REF, tip)?.map_err(|problem| match problem {
        Problem::NotACommit { id, kind } => QueueError::NotACommit { id, kind },
        Problem::Replaced { known, found } => QueueError::Replaced { known, found },
    })
}

/// A queue entry that could not be read; reported by path, never fatal for the others.
#[derive(Debug, Clone)]
pub struct Corrupt {
    pub path: String,
    pub reason: String,
}

/// Task counts by state, as [`Queue::counts`] reads them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub pending: usize,
    /// Claimed.
    pub current: usize,
}

/// Everything in the queue at one tip.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub tip: Option<ObjectId>,
    pub tasks: Vec<(State, Task)>,
    pub corrupt: Vec<Corrupt>,
}

impl Snapshot {
    pub fn in_state(&self, state: State) -> impl Iterator<Item = &Task> {
        self.tasks
            .iter()
            .filter(move |(s, _)| *s == state)
            .map(|(_, t)| t)
    }

    pub fn count(&self, state: State) -> usize {
        self.in_state(state).count()
    }

    /// The claimed tasks `worker` of `swarm` holds.
    pub fn held_by<'a>(
        &'a self,
        swarm: &'a str,
        worker: &'a str,
    ) -> impl Iterator<Item = &'a Task> {
        self.in_state(State::Current)
            .filter(move |t| t.is_held_by(swarm, worker))
    }

    pub fn find(&self, id: &TaskId) -> Option<(State, &Task)> {
        self.tasks
            .iter()
            .find(|(_, t)| &t.id == id)
            .map(|(s, t)| (*s, t))
    }
}

/// The identity of a claimer, written into every claim it makes.
#[derive(Debug, Clone)]
pub struct Claimant {
    pub swarm: String,
    pub worker: String,
    pub branch: Option<String>,
    pub lease: Duration,
    /// The process that owns the claim and keeps it alive (the swarm). `None` for claims a
    /// person makes by hand: no process, held until released or the lease runs out.
    pub pid: Option<u32>,
}

impl Claimant {
    pub fn label(&self) -> String {
        if self.swarm.is_empty() {
            self.worker.clone()
        } else {
            format!("{}/{}", self.swarm, self.worker)
        }
    }

    fn claim(&self) -> Claim {
        let now = jiff::Timestamp::now();
        let lease = jiff::SignedDuration::try_from(self.lease).unwrap_or(jiff::SignedDuration::MAX);
        Claim {
            swarm: self.swarm.clone(),
            worker: self.worker.clone(),
            host: hostname(),
            pid: self.pid.unwrap_or(0),
            branch: self.branch.clone(),
            claimed_at: now.to_string(),
            lease_until: now
                .checked_add(lease)
                .unwrap_or(jiff::Timestamp::MAX)
                .to_string(),
            token: uuid::Uuid::new_v4().to_string(),
        }
    }
}

/// The result of claiming one id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    Claimed,
    /// Someone (named) holds it already.
    Taken(String),
    /// It has already landed.
    Complete,
    NotFound,
    /// The pending entry is unreadable.
    Corrupt(String),
}

/// Whose claims a release may drop.
#[derive(Debug, Clone)]
pub enum Owner<'a> {
    /// Any claim (a person running `git oompa task release --force`).
    Any,
    /// Claims made by hand, and claims whose swarm is gone (a person running `git oompa task
    /// release`): on `host`, its process is dead or its swarm recorded as stopped; elsewhere,
    /// its lease ran out.
    NotLive { host: &'a str },
    /// Only claims held by this swarm worker.
    Worker { swarm: &'a str, worker: &'a str },
}

/// This machine's host name, as written into claims.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into())
}

/// A planned change of the queue: blob writes (path → content, `None` = delete) and the
/// commit message. An empty plan commits nothing.
struct Plan<T> {
    changes: Vec<(String, Option<Vec<u8>>)>,
    message: String,
    result: T,
}

/// The task queue of one repository.
pub struct Queue<'r> {
    repo: &'r Repo,
}

const MAX_ATTEMPTS: u32 = 10_000;

impl<'r> Queue<'r> {
    pub fn new(repo: &'r Repo) -> Self {
        Queue { repo }
    }

    /// Creates the empty queue ref if it does not exist. Returns true when it was created.
    pub fn init(&self) -> Result<bool, QueueError> {
        let _guard = QUEUE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        if self.tip()?.is_some() {
            return Ok(false);
        }
        let tree = self.repo.edit_tree(None, &[])?;
        let commit = self.repo.commit("oompa: create task queue", tree, &[])?;
        match self
            .repo
            .cas_ref(QUEUE_REF, None, commit, "oompa: create task queue")
        {
            Ok(()) => {
                known::record_quietly(self.repo, QUEUE_REF, commit);
                Ok(true)
            }
            Err(e) if e.is_conflict() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The queue's tip, checked by [`check_tip`].
    pub fn tip(&self) -> Result<Option<ObjectId>, QueueError> {
        let tip = self.repo.read_ref(QUEUE_REF)?;
        check_tip(self.repo, tip)?;
        Ok(tip)
    }

    /// Reads every task at the current tip. Unreadable entries go to `corrupt`, and so do
    /// all the entries of an id found in more than one state (none of them is a task to act
    /// on until a person decides), entries outside the known directories, and records too
    /// big to read.
    pub fn snapshot(&self) -> Result<Snapshot, QueueError> {
        let tip = self.tip()?;
        self.snapshot_at(tip)
    }

    fn snapshot_at(&self, tip: Option<ObjectId>) -> Result<Snapshot, QueueError> {
        let mut snap = Snapshot {
            tip,
            ..Snapshot::default()
        };
        let Some(tip) = tip else { return Ok(snap) };
        let tree = self.repo.commit_tree(tip)?;
        for (name, is_tree) in self.repo.tree_names(tree)? {
            if !TOP_LEVEL.contains(&name.as_str()) {
                snap.corrupt.push(Corrupt {
                    path: if is_tree { format!("{name}/") } else { name },
                    reason: "is not part of a queue (pending/, current/, complete/, swarms/, notices/); \
                             git oompa leaves it alone"
                        .into(),
                });
            } else if !is_tree {
                snap.corrupt.push(Corrupt {
                    reason: format!("is a file where the directory {name}/ belongs"),
                    path: name,
                });
            }
        }
        for state in State::ALL {
            for (name, blob) in self.repo.list_dir(tree, state.dir())? {
                let path = format!("{}/{name}", state.dir());
                match self.read_task(&path, &name, blob) {
                    Ok(task) => snap.tasks.push((state, task)),
                    Err(e) => snap.corrupt.push(Corrupt {
                        path,
                        reason: e.to_string(),
                    }),
                }
            }
        }
        // An id in two states is an error of the queue, not a task in either.
        for (id, in_states) in self.duplicates_in(tree)? {
            snap.tasks.retain(|(_, t)| t.id != id);
            for state in &in_states {
                let path = state.path(&id);
                snap.corrupt.retain(|c| c.path != path);
                snap.corrupt.push(Corrupt {
                    path,
                    reason: format!(
                        "task `{id}` is in {} at once; a task lives in one state only",
                        states_list(&in_states)
                    ),
                });
            }
        }
        Ok(snap)
    }

    fn read_task(&self, path: &str, name: &str, blob: ObjectId) -> Result<Task, RecordError> {
        if let Some((kind, size)) = self.repo.object_header(blob)? {
            if kind != "blob" {
                return Err(RecordError::NotAFile { kind });
            }
            if size > MAX_RECORD_BYTES {
                return Err(RecordError::TooBig { size });
            }
        }
        let data = self.repo.read_blob(blob)?;
        let task = Task::from_json(&data)?;
        if name != format!("{}.json", task.id) {
            return Err(RecordError::Misnamed {
                what: "task",
                holds: task.id.to_string(),
                path: path.to_string(),
            });
        }
        Ok(task)
    }

    /// How many tasks are in each state, from the tree listings alone (no task is read):
    /// what polling loops need, cheap however large the queue. Pending entries that cannot be
    /// claimed (not `<id>.json`, or an id also claimed or complete) are not counted until
    /// the first claimable one, so `pending` is 0 exactly when nothing pending can be
    /// claimed by name, and idle workers do not start agents for a queue that only looks
    /// full.
    pub fn counts(&self) -> Result<Counts, QueueError> {
        let Some(tip) = self.tip()? else {
            return Ok(Counts::default());
        };
        let tree = self.repo.commit_tree(tip)?;
        let pending = self.repo.list_dir(tree, State::Pending.dir())?;
        let mut unclaimable = 0;
        for (name, _) in &pending {
            let elsewhere = match name.strip_suffix(".json") {
                None => true,
                Some(id) => {
                    self.repo
                        .lookup_path(tree, &format!("{}/{name}", State::Current.dir()))?
                        .is_some()
                        || self
                            .repo
                            .lookup_path(tree, &format!("{}/{id}.json", State::Complete.dir()))?
                            .is_some()
                }
            };
            if !elsewhere {
                break;
            }
            unclaimable += 1;
        }
        Ok(Counts {
            pending: pending.len() - unclaimable,
            current: self.repo.list_dir(tree, State::Current.dir())?.len(),
        })
    }

    /// Looks one task up at the tip.
    pub fn get(&self, id: &TaskId) -> Result<(State, Task), QueueError> {
        let tip = self.tip()?;
        let Some(tip) = tip else {
            return Err(QueueError::NotFound(id.clone()));
        };
        let tree = self.repo.commit_tree(tip)?;
        self.locate(tree, id)?
            .ok_or_else(|| QueueError::NotFound(id.clone()))
    }

    /// Finds `id` in `tree`; a corrupt entry is an error naming its path, and so is an id
    /// found in more than one state.
    fn locate(&self, tree: ObjectId, id: &TaskId) -> Result<Option<(State, Task)>, QueueError> {
        let mut found = Vec::new();
        for state in State::ALL {
            if let Some(blob) = self.repo.lookup_path(tree, &state.path(id))? {
                found.push((state, blob));
            }
        }
        match found.as_slice() {
            [] => Ok(None),
            [(state, blob)] => {
                let path = state.path(id);
                let name = format!("{id}.json");
                self.read_task(&path, &name, *blob)
                    .map(|t| Some((*state, t)))
                    .map_err(|e| QueueError::Corrupt {
                        path,
                        reason: e.to_string(),
                    })
            }
            several => Err(QueueError::SeveralStates {
                id: id.clone(),
                states: several.iter().map(|(s, _)| *s).collect(),
            }),
        }
    }

    /// The retry loop every write goes through.
    fn update<T>(
        &self,
        mut plan: impl FnMut(Option<ObjectId>) -> Result<Plan<T>, QueueError>,
    ) -> Result<T, QueueError> {
        let _guard = QUEUE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        for attempt in 0..MAX_ATTEMPTS {
            let tip = self.tip()?;
            let tree = match tip {
                Some(tip) => Some(self.repo.commit_tree(tip)?),
                None => None,
            };
            let Plan {
                changes,
                message,
                result,
            } = plan(tree)?;
            if changes.is_empty() {
                return Ok(result);
            }
            let mut edits = Vec::with_capacity(changes.len());
            for (path, content) in changes {
                let blob = match content {
                    Some(data) => Some(self.repo.write_blob(&data)?),
                    None => None,
                };
                edits.push((path, blob));
            }
            let new_tree = self.repo.edit_tree(tree, &edits)?;
            let parents: Vec<ObjectId> = tip.into_iter().collect();
            let commit = self.repo.commit(&message, new_tree, &parents)?;
            match self.repo.cas_ref(QUEUE_REF, tip, commit, &message) {
                Ok(()) => {
                    known::record_quietly(self.repo, QUEUE_REF, commit);
                    return Ok(result);
                }
                Err(e) if e.is_conflict() => {
                    tracing::debug!(attempt, "queue moved under us; retrying");
                    // Another process won; back off a little, more the longer we lose.
                    std::thread::sleep(Duration::from_micros(200 * u64::from(attempt.min(50))));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(QueueError::TooManyRetries(MAX_ATTEMPTS))
    }

    /// Adds tasks in one commit. Ids already in the queue (any state) are refused whole.
    pub fn add(&self, tasks: &[Task], actor: &str) -> Result<(), QueueError> {
        self.add_limited(tasks, actor, None)
    }

    /// Like [`Self::add`], refusing (whole) when the pending tasks would exceed
    /// `max_pending`; checked against the same tip the commit is made on.
    pub fn add_limited(
        &self,
        tasks: &[Task],
        actor: &str,
        max_pending: Option<usize>,
    ) -> Result<(), QueueError> {
        self.update(|tree| {
            if let (Some(max), Some(tree)) = (max_pending, tree) {
                let pending = self.repo.list_dir(tree, State::Pending.dir())?.len();
                if pending + tasks.len() > max {
                    return Err(QueueError::Full { pending, max });
                }
            }
            let mut changes = Vec::new();
            for task in tasks {
                if let Some(tree) = tree
                    && let Some((state, _)) = self.locate_lenient(tree, &task.id)?
                {
                    return Err(QueueError::Exists(task.id.clone(), state));
                }
                let json = task.to_json();
                let size = u64::try_from(json.len()).unwrap_or(u64::MAX);
                if size > MAX_RECORD_BYTES {
                    return Err(QueueError::TooBig {
                        id: task.id.clone(),
                        size,
                    });
                }
                changes.push((State::Pending.path(&task.id), Some(json)));
            }
            let message = match tasks {
                [one] => format!("add {} by {actor}\n\n{}", one.id, one.summary),
                many => format!(
                    "add {} tasks by {actor}\n\n{}",
                    many.len(),
                    ids_list(many.iter().map(|t| &t.id))
                ),
            };
            Ok(Plan {
                changes,
                message,
                result: (),
            })
        })
    }

    /// Like [`Self::locate`] but a corrupt entry still counts as "exists".
    fn locate_lenient(
        &self,
        tree: ObjectId,
        id: &TaskId,
    ) -> Result<Option<(State, ())>, QueueError> {
        for state in State::ALL {
            if self.repo.lookup_path(tree, &state.path(id))?.is_some() {
                return Ok(Some((state, ())));
            }
        }
        Ok(None)
    }

    /// Claims `ids` for `who` in one commit; each id gets its own outcome.
    pub fn claim(
        &self,
        ids: &[TaskId],
        who: &Claimant,
    ) -> Result<Vec<(TaskId, ClaimOutcome)>, QueueError> {
        self.update(|tree| {
            let mut changes = Vec::new();
            let mut outcomes = Vec::new();
            let mut claimed = Vec::new();
            for id in ids {
                if outcomes.iter().any(|(seen, _)| seen == id) {
                    continue;
                }
                let found = match tree {
                    Some(tree) => self.locate(tree, id),
                    None => Ok(None),
                };
                let outcome = match found {
                    Err(QueueError::Corrupt { path, reason }) => {
                        ClaimOutcome::Corrupt(format!("{path}: {reason}"))
                    }
                    // Complete anywhere is complete: never claimed again.
                    Err(QueueError::SeveralStates { states, .. })
                        if states.contains(&State::Complete) =>
                    {
                        ClaimOutcome::Complete
                    }
                    Err(e @ QueueError::SeveralStates { .. }) => {
                        ClaimOutcome::Corrupt(e.to_string())
                    }
                    Err(e) => return Err(e),
                    Ok(None) => ClaimOutcome::NotFound,
                    Ok(Some((State::Complete, _))) => ClaimOutcome::Complete,
                    Ok(Some((State::Current, t))) => ClaimOutcome::Taken(holder(&t)),
                    Ok(Some((State::Pending, mut task))) => {
                        task.claim = Some(who.claim());
                        changes.push((State::Pending.path(id), None));
                        changes.push((State::Current.path(id), Some(task.to_json())));
                        claimed.push(id.clone());
                        ClaimOutcome::Claimed
                    }
                };
                outcomes.push((id.clone(), outcome));
            }
            Ok(Plan {
                changes,
                message: format!("claim {} by {}", ids_list(claimed.iter()), who.label()),
                result: outcomes,
            })
        })
    }

    /// Returns claimed tasks to pending in one commit. Every id must be claimed (by
    /// `owner`, when given), or nothing changes.
    pub fn release(&self, ids: &[TaskId], owner: Owner<'_>, actor: &str) -> Result<(), QueueError> {
        self.update(|tree| {
            let mut changes = Vec::new();
            let mut swarms = None;
            for id in ids {
                let found = match tree {
                    Some(tree) => self.locate(tree, id)?,
                    None => None,
                };
                let mut task = match found {
                    None => return Err(QueueError::NotFound(id.clone())),
                    Some((State::Current, t)) => t,
                    Some((state, _)) => {
                        return Err(QueueError::NotClaimed {
                            id: id.clone(),
                            state,
                        });
                    }
                };
                match owner {
                    Owner::Any => {}
                    Owner::Worker { swarm, worker } => {
                        if !task.is_held_by(swarm, worker) {
                            return Err(QueueError::NotOwner {
                                id: id.clone(),
                                holder: holder(&task),
                                who: if swarm.is_empty() {
                                    worker.to_string()
                                } else {
                                    format!("{swarm}/{worker}")
                                },
                            });
                        }
                    }
                    Owner::NotLive { host } => {
                        if let Some(c) = task.claim.as_ref().filter(|c| c.pid != 0) {
                            let swarms = match (&swarms, tree) {
                                (Some(s), _) => s,
                                (None, Some(tree)) => swarms.insert(self.swarms_in(tree)?),
                                (None, None) => swarms.insert(Vec::new()),
                            };
                            let stopped = swarms
                                .iter()
                                .any(|s| s.id == c.swarm && s.stopped.is_some());
                            if !claim_is_dead(c, host, stopped) {
                                return Err(QueueError::OwnerAlive {
                                    id: id.clone(),
                                    holder: holder(&task),
                                    owner: if c.host == host {
                                        format!("pid {}", c.pid)
                                    } else {
                                        format!("on {}, lease until {}", c.host, c.lease_until)
                                    },
                                });
                            }
                        }
                    }
                }
                task.claim = None;
                changes.push((State::Current.path(id), None));
                changes.push((State::Pending.path(id), Some(task.to_json())));
            }
            Ok(Plan {
                changes,
                message: format!("release {} by {actor}", ids_list(ids.iter())),
                result: (),
            })
        })
    }

    /// Plans completing `ids` (moving them from current to complete with `landed`) on top of
    /// the current tip, without moving the queue ref: the caller puts the returned
    /// [`RefUpdate`] into one transaction with the target branch update, and calls again
    /// if that transaction loses a race.
    pub fn plan_complete(
        &self,
        ids: &[TaskId],
        landed: &Landed,
        actor: &str,
    ) -> Result<RefUpdate, QueueError> {
        let tip = self.tip()?;
        let tree = match tip {
            Some(tip) => Some(self.repo.commit_tree(tip)?),
            None => None,
        };
        let mut edits = Vec::new();
        self.complete_edits(tree, ids, landed, &mut edits)?;
        let new_tree = self.repo.edit_tree(tree, &edits)?;
        let message = format!(
            "complete {} by {actor}\n\nlanded as {}",
            ids_list(ids.iter()),
            landed.commit
        );
        let parents: Vec<ObjectId> = tip.into_iter().collect();
        let commit = self.repo.commit(&message, new_tree, &parents)?;
        Ok(RefUpdate {
            name: QUEUE_REF.to_string(),
            expected: tip,
            new: Some(commit),
            message,
        })
    }

    /// [`Self::plan_complete`] for several landings at once (a batch through the landing
    /// gate): one queue commit completing every group's tasks with its own `Landed`. `None`
    /// when there is no task to complete.
    pub fn plan_complete_many(
        &self,
        groups: &[(Vec<TaskId>, Landed)],
        actor: &str,
    ) -> Result<Option<RefUpdate>, QueueError> {
        let all: Vec<&TaskId> = groups.iter().flat_map(|(ids, _)| ids).collect();
        if all.is_empty() {
            return Ok(None);
        }
        let tip = self.repo.read_ref(QUEUE_REF)?;
        let tree = match tip {
            Some(tip) => Some(self.repo.commit_tree(tip)?),
            None => None,
        };
        let mut edits = Vec::new();
        let mut landed_as = Vec::new();
        for (ids, landed) in groups {
            self.complete_edits(tree, ids, landed, &mut edits)?;
            if !ids.is_empty() {
                landed_as.push(format!("{} as {}", ids_list(ids.iter()), landed.commit));
            }
        }
        let new_tree = self.repo.edit_tree(tree, &edits)?;
        let message = format!(
            "complete {} by {actor}\n\nlanded {}",
            ids_list(all.into_iter()),
            landed_as.join("; ")
        );
        let parents: Vec<ObjectId> = tip.into_iter().collect();
        let commit = self.repo.commit(&message, new_tree, &parents)?;
        Ok(Some(RefUpdate {
            name: QUEUE_REF.to_string(),
            expected: tip,
            new: Some(commit),
            message,
        }))
    }

    /// Adds to `edits` the tree edits moving each of `ids` from current/ to complete/ in
    /// `tree` (the queue's tree; `None` for no queue yet), with `landed` recorded in it. An id
    /// that is not claimed (or not there) is an error, so no task is completed twice.
    fn complete_edits(
        &self,
        tree: Option<ObjectId>,
        ids: &[TaskId],
        landed: &Landed,
        edits: &mut Vec<(String, Option<ObjectId>)>,
    ) -> Result<(), QueueError> {
        for id in ids {
            let found = match tree {
                Some(tree) => self.locate(tree, id)?,
                None => None,
            };
            let mut task = match found {
                Some((State::Current, t)) => t,
                Some((state, _)) => {
                    return Err(QueueError::NotClaimed {
                        id: id.clone(),
                        state,
                    });
                }
                None => return Err(QueueError::NotFound(id.clone())),
            };
            task.landed = Some(landed.clone());
            edits.push((State::Current.path(id), None));
            edits.push((
                State::Complete.path(id),
                Some(self.repo.write_blob(&task.to_json())?),
            ));
        }
        Ok(())
    }

    /// Holds the process-wide queue lock while `f` runs, for callers (the merge queue) that
    /// combine [`Self::plan_complete`] with another ref in one transaction.
    pub fn with_lock<T>(&self, f: impl FnOnce() -> T) -> T {
        let _guard = QUEUE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        f()
    }

    /// Number of commits in the queue's history (for tests and `doctor`).
    pub fn history_len(&self) -> Result<usize, QueueError> {
        let mut n = 0;
        let mut next = self.tip()?;
        while let Some(c) = next {
            n += 1;
            next = self.repo.commit_parents(c)?.first().copied();
        }
        Ok(n)
    }

    /// Writes a set of already-built tasks in the states given (used by `import`), skipping
    /// ids the queue already has. Returns the ids written.
    pub fn import(&self, tasks: &[(State, Task)], actor: &str) -> Result<Vec<TaskId>, QueueError> {
        self.update(|tree| {
            let mut changes = Vec::new();
            let mut written = Vec::new();
            let mut seen = BTreeMap::new();
            for (state, task) in tasks {
                if seen.insert(task.id.clone(), ()).is_some() {
                    continue;
                }
                if let Some(tree) = tree
                    && self.locate_lenient(tree, &task.id)?.is_some()
                {
                    continue;
                }
                changes.push((state.path(&task.id), Some(task.to_json())));
                written.push(task.id.clone());
            }
            Ok(Plan {
                changes,
                message: format!(
                    "import {} {} by {actor}",
                    written.len(),
                    if written.len() == 1 { "task" } else { "tasks" }
                ),
                result: written.clone(),
            })
        })
    }
}

/// Who holds a claimed task, for messages.
pub fn holder(task: &Task) -> String {
    match &task.claim {
        Some(c) if c.swarm.is_empty() => c.worker.clone(),
        Some(c) => format!("{}/{}", c.swarm, c.worker),
        None => "nobody".into(),
    }
}

fn ids_list<'a>(ids: impl Iterator<Item = &'a TaskId>) -> String {
    ids.map(TaskId::as_str).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, held: Option<(&str, &str)>) -> Task {
        let mut t = serde_json::json!({
            "version": 1, "id": id, "summary": id,
            "created": "2026-01-01T00:00:00Z", "created_by": "test",
        });
        if let Some((swarm, worker)) = held {
            t["claim"] = serde_json::json!({
                "swarm": swarm, "worker": worker, "host": "h", "pid": 1,
                "claimed_at": "2026-01-01T00:00:00Z", "lease_until": "2026-01-01T01:00:00Z",
                "token": "t",
            });
        }
        Task::from_json(t.to_string().as_bytes()).expect("a valid task")
    }

    #[test]
    fn held_by_gives_the_claimed_tasks_of_that_worker_of_that_swarm_only() {
        let snap = Snapshot {
            tasks: vec![
                (State::Pending, task("p", None)),
                (State::Current, task("mine", Some(("s1", "w0")))),
                (State::Current, task("other-worker", Some(("s1", "w1")))),
                (State::Current, task("other-swarm", Some(("s2", "w0")))),
                (State::Complete, task("landed", Some(("s1", "w0")))),
            ],
            ..Snapshot::default()
        };
        let ids: Vec<&str> = snap.held_by("s1", "w0").map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["mine"]);
        assert!(snap.held_by("s1", "w9").next().is_none());
    }
}
