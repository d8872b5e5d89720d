//! The task queue kept in `refs/oompa/tasks`: a commit chain whose tree holds
//! `pending/<id>.json`, `current/<id>.json` and `complete/<id>.json`.
//!
//! Every operation is: read the tip, check it is still valid against that tip, write
//! blobs/tree/commit, compare-and-swap the ref; on a lost race, re-read and re-validate.
//! Inside one process a single lock serializes operations (no retry storms); across
//! processes the CAS decides. One commit per successful operation, none for a no-op.
//! This module never prints.

mod swarms;

pub use swarms::Recovered;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use super::task::{Claim, Landed, Task, TaskId};
use crate::git::{GitError, ObjectId, RefUpdate, Repo};

/// The ref holding the queue.
pub const QUEUE_REF: &str = "refs/oompa/tasks";

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
    #[error("{path} in {QUEUE_REF} is corrupt: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("the queue is full: {pending} tasks pending, at most {max} allowed")]
    Full { pending: usize, max: usize },
    #[error("gave up after {0} attempts: {QUEUE_REF} kept moving")]
    TooManyRetries(u32),
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
    /// Any claim (a person running `git oompa task release`).
    Any,
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
        if self.repo.read_ref(QUEUE_REF)?.is_some() {
            return Ok(false);
        }
        let tree = self.repo.edit_tree(None, &[])?;
        let commit = self.repo.commit("oompa: create task queue", tree, &[])?;
        match self
            .repo
            .cas_ref(QUEUE_REF, None, commit, "oompa: create task queue")
        {
            Ok(()) => Ok(true),
            Err(e) if e.is_conflict() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads every task at the current tip. Unreadable entries go to `corrupt`.
    pub fn snapshot(&self) -> Result<Snapshot, QueueError> {
        let tip = self.repo.read_ref(QUEUE_REF)?;
        self.snapshot_at(tip)
    }

    fn snapshot_at(&self, tip: Option<ObjectId>) -> Result<Snapshot, QueueError> {
        let mut snap = Snapshot {
            tip,
            ..Snapshot::default()
        };
        let Some(tip) = tip else { return Ok(snap) };
        let tree = self.repo.commit_tree(tip)?;
        for state in State::ALL {
            for (name, blob) in self.repo.list_dir(tree, state.dir())? {
                let path = format!("{}/{name}", state.dir());
                match self.read_task(&path, &name, blob) {
                    Ok(task) => snap.tasks.push((state, task)),
                    Err(reason) => snap.corrupt.push(Corrupt { path, reason }),
                }
            }
        }
        Ok(snap)
    }

    fn read_task(&self, path: &str, name: &str, blob: ObjectId) -> Result<Task, String> {
        let data = self.repo.read_blob(blob).map_err(|e| e.to_string())?;
        let task = Task::from_json(&data).map_err(|e| e.to_string())?;
        if name != format!("{}.json", task.id) {
            return Err(format!("holds task `{}` but is named {path}", task.id));
        }
        Ok(task)
    }

    /// How many tasks are in each state, from the tree listings alone (no task is read):
    /// what polling loops need, cheap however large the queue.
    pub fn counts(&self) -> Result<Counts, QueueError> {
        let Some(tip) = self.repo.read_ref(QUEUE_REF)? else {
            return Ok(Counts::default());
        };
        let tree = self.repo.commit_tree(tip)?;
        let n = |state: State| -> Result<usize, QueueError> {
            Ok(self.repo.list_dir(tree, state.dir())?.len())
        };
        Ok(Counts {
            pending: n(State::Pending)?,
            current: n(State::Current)?,
        })
    }

    /// Looks one task up at the tip.
    pub fn get(&self, id: &TaskId) -> Result<(State, Task), QueueError> {
        let tip = self.repo.read_ref(QUEUE_REF)?;
        let Some(tip) = tip else {
            return Err(QueueError::NotFound(id.clone()));
        };
        let tree = self.repo.commit_tree(tip)?;
        self.locate(tree, id)?
            .ok_or_else(|| QueueError::NotFound(id.clone()))
    }

    /// Finds `id` in any state of `tree`; a corrupt entry is an error naming its path.
    fn locate(&self, tree: ObjectId, id: &TaskId) -> Result<Option<(State, Task)>, QueueError> {
        for state in State::ALL {
            let path = state.path(id);
            if let Some(blob) = self.repo.lookup_path(tree, &path)? {
                let name = format!("{id}.json");
                return self
                    .read_task(&path, &name, blob)
                    .map(|t| Some((state, t)))
                    .map_err(|reason| QueueError::Corrupt { path, reason });
            }
        }
        Ok(None)
    }

    /// The retry loop every write goes through.
    fn update<T>(
        &self,
        mut plan: impl FnMut(Option<ObjectId>) -> Result<Plan<T>, QueueError>,
    ) -> Result<T, QueueError> {
        let _guard = QUEUE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        for attempt in 0..MAX_ATTEMPTS {
            let tip = self.repo.read_ref(QUEUE_REF)?;
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
                Ok(()) => return Ok(result),
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
                changes.push((State::Pending.path(&task.id), Some(task.to_json())));
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
                if let Owner::Worker { swarm, worker } = owner {
                    let mine = task
                        .claim
                        .as_ref()
                        .is_some_and(|c| c.swarm == swarm && c.worker == worker);
                    if !mine {
                        return Err(QueueError::NotOwner {
                            id: id.clone(),
                            holder: holder(&task),
                            who: format!("{swarm}/{worker}"),
                        });
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
        let tip = self.repo.read_ref(QUEUE_REF)?;
        let tree = match tip {
            Some(tip) => Some(self.repo.commit_tree(tip)?),
            None => None,
        };
        let mut edits = Vec::new();
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
            for id in ids {
                let mut task = match tree.map(|t| self.locate(t, id)).transpose()?.flatten() {
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

    /// Holds the process-wide queue lock while `f` runs, for callers (the merge queue) that
    /// combine [`Self::plan_complete`] with another ref in one transaction.
    pub fn with_lock<T>(&self, f: impl FnOnce() -> T) -> T {
        let _guard = QUEUE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        f()
    }

    /// Number of commits in the queue's history (for tests and `doctor`).
    pub fn history_len(&self) -> Result<usize, QueueError> {
        let mut n = 0;
        let mut next = self.repo.read_ref(QUEUE_REF)?;
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
                message: format!("import {} tasks by {actor}", written.len()),
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
