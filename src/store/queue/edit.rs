//! Editing and removing tasks, and the notices that tell a claimer its task changed.
//!
//! A pending task is edited or removed freely. A claimed one only when forced, and then the
//! claimer is told: a notice goes to `notices/<id>.json` in the queue tree, in the same
//! commit as the change, and the worker takes the notices addressed to it before each turn
//! (one more commit, only when there are any) and passes them to its agent. A completed task
//! is never changed: it has landed. A removed task's record stays in the queue's history.
//! This module never prints.

use serde::{Deserialize, Serialize};

use super::{Plan, Queue, QueueError, State, holder};
use crate::git::ObjectId;
use crate::store::task::{Difficulty, Task, TaskId};

/// The directory of the queue tree that holds notices.
pub const NOTICES_DIR: &str = "notices";

/// The format version of a notice.
pub const NOTICE_VERSION: u32 = 1;

/// Why a task could not be edited or removed.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("task `{id}` is claimed by {holder}")]
    Claimed { id: TaskId, holder: String },
    #[error("task `{0}` is complete: it has landed and is not changed any more")]
    Complete(TaskId),
}

impl From<crate::git::GitError> for ChangeError {
    fn from(e: crate::git::GitError) -> Self {
        ChangeError::Queue(e.into())
    }
}

/// The fields `task edit` replaces; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskEdit {
    pub summary: Option<String>,
    pub description: Option<String>,
    pub difficulty: Option<Difficulty>,
    pub files: Option<Vec<String>>,
    pub acceptance: Option<Vec<String>>,
}

impl TaskEdit {
    /// Applies the edit; returns the names of the fields that really changed.
    fn apply(&self, task: &mut Task) -> Vec<&'static str> {
        let mut changed = Vec::new();
        replace(&mut task.summary, &self.summary, "summary", &mut changed);
        replace(
            &mut task.description,
            &self.description,
            "description",
            &mut changed,
        );
        replace(
            &mut task.difficulty,
            &self.difficulty.map(Some),
            "difficulty",
            &mut changed,
        );
        replace(&mut task.files, &self.files, "files", &mut changed);
        replace(
            &mut task.acceptance,
            &self.acceptance,
            "acceptance",
            &mut changed,
        );
        changed
    }
}

/// Sets `field` to `new` when one is given and it differs, adding `name` to `changed`.
fn replace<T: PartialEq + Clone>(
    field: &mut T,
    new: &Option<T>,
    name: &'static str,
    changed: &mut Vec<&'static str>,
) {
    if let Some(new) = new
        && new != field
    {
        field.clone_from(new);
        changed.push(name);
    }
}

/// What happened to a claimed task, for its claimer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Edited,
    Removed,
}

/// A note to the claimer of a task that was edited or removed under it, kept at
/// `notices/<id>.json` until that claimer takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    pub version: u32,
    pub task: TaskId,
    pub change: Change,
    /// Who changed it.
    pub by: String,
    pub at: String,
    /// The claimer it is for.
    pub swarm: String,
    pub worker: String,
    /// The fields an edit changed (every edit since the claimer last looked).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

impl Notice {
    fn path(id: &TaskId) -> String {
        format!("{NOTICES_DIR}/{id}.json")
    }

    fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("a notice always serializes");
        v.push(b'\n');
        v
    }

    /// One line for the agent that held the task.
    pub fn describe(&self) -> String {
        match self.change {
            Change::Edited => format!(
                "Task `{}` was edited by {} ({}): read it again with `git oompa task show {}` \
                 and do what it says now.",
                self.task,
                self.by,
                self.fields.join(", "),
                self.task
            ),
            Change::Removed => format!(
                "Task `{}` was removed from the queue by {}: stop working on it and leave out \
                 any change made only for it. It is no longer yours to land.",
                self.task, self.by
            ),
        }
    }
}

/// Who runs the change: a claim of this swarm worker is its own, changed without `force`
/// and without a notice (an agent editing the task it holds).
#[derive(Debug, Clone, Copy, Default)]
pub struct Actor<'a> {
    pub name: &'a str,
    pub swarm: Option<&'a str>,
    pub worker: Option<&'a str>,
}

impl Actor<'_> {
    fn holds(&self, task: &Task) -> bool {
        self.worker
            .is_some_and(|w| task.is_held_by(self.swarm.unwrap_or(""), w))
    }
}

/// What an edit or a removal did to one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub id: TaskId,
    pub state: State,
    /// The fields an edit changed (empty for a removal, or an edit that changed nothing).
    pub fields: Vec<&'static str>,
    /// Who held it, when it was claimed.
    pub holder: Option<String>,
    /// Whether its holder gets a notice (a swarm worker other than the actor).
    pub notified: bool,
}

/// One path of the queue tree and its new content (`None`: deleted), as a [`Plan`] lists.
type BlobChange = (String, Option<Vec<u8>>);

/// A plan that changes nothing and reports why.
fn refused<T>(e: ChangeError) -> Plan<Result<T, ChangeError>> {
    Plan {
        changes: Vec::new(),
        message: String::new(),
        result: Err(e),
    }
}

impl Queue<'_> {
    /// Edits one task in one commit (none when nothing changes). A claimed task needs
    /// `force` unless `actor` holds it; its claimer gets a notice.
    pub fn edit(
        &self,
        id: &TaskId,
        edit: &TaskEdit,
        force: bool,
        actor: Actor<'_>,
    ) -> Result<Changed, ChangeError> {
        self.update(|tree| {
            let (state, mut task) = match self.find_changeable(tree, id, force, actor) {
                Ok(found) => found,
                Err(e) => return Ok(refused(e)),
            };
            let fields = edit.apply(&mut task);
            let mut changes = Vec::new();
            let mut notified = false;
            if !fields.is_empty() {
                changes.push((state.path(id), Some(task.to_json())));
                if let Some(n) = self.notice(tree, &task, Change::Edited, &fields, actor)? {
                    notified = true;
                    changes.push(n);
                }
            }
            Ok(Plan {
                changes,
                message: format!(
                    "edit {id} by {}\n\nchanged: {}",
                    actor.name,
                    fields.join(", ")
                ),
                result: Ok(Changed {
                    id: id.clone(),
                    state,
                    fields,
                    holder: task.claim.is_some().then(|| holder(&task)),
                    notified,
                }),
            })
        })?
    }

    /// Removes tasks in one commit: all of them or none. Claimed ones need `force` unless
    /// `actor` holds them; their claimers get a notice.
    pub fn remove(
        &self,
        ids: &[TaskId],
        force: bool,
        actor: Actor<'_>,
    ) -> Result<Vec<Changed>, ChangeError> {
        self.update(|tree| {
            let mut changes = Vec::new();
            let mut done: Vec<Changed> = Vec::new();
            for id in ids {
                if done.iter().any(|d| &d.id == id) {
                    continue;
                }
                let (state, task) = match self.find_changeable(tree, id, force, actor) {
                    Ok(found) => found,
                    Err(e) => return Ok(refused(e)),
                };
                changes.push((state.path(id), None));
                let mut notified = false;
                if let Some(n) = self.notice(tree, &task, Change::Removed, &[], actor)? {
                    notified = true;
                    changes.push(n);
                }
                done.push(Changed {
                    id: id.clone(),
                    state,
                    fields: Vec::new(),
                    holder: task.claim.is_some().then(|| holder(&task)),
                    notified,
                });
            }
            let list: Vec<&str> = done.iter().map(|d| d.id.as_str()).collect();
            Ok(Plan {
                changes,
                message: format!("remove {} by {}", list.join(", "), actor.name),
                result: Ok(done),
            })
        })?
    }

    /// The task, when it may be changed: pending, or claimed with `force` (or by `actor`).
    fn find_changeable(
        &self,
        tree: Option<ObjectId>,
        id: &TaskId,
        force: bool,
        actor: Actor<'_>,
    ) -> Result<(State, Task), ChangeError> {
        let found = match tree {
            Some(tree) => self.locate(tree, id)?,
            None => None,
        };
        match found {
            None => Err(QueueError::NotFound(id.clone()).into()),
            Some((State::Complete, _)) => Err(ChangeError::Complete(id.clone())),
            Some((State::Current, t)) if !force && !actor.holds(&t) => Err(ChangeError::Claimed {
                id: id.clone(),
                holder: holder(&t),
            }),
            Some(found) => Ok(found),
        }
    }

    /// The notice for the claimer of `task` (merged with one it has not taken yet), unless
    /// the task is not claimed, `actor` holds it, or a person claimed it by hand (no swarm:
    /// no agent to tell).
    fn notice(
        &self,
        tree: Option<ObjectId>,
        task: &Task,
        change: Change,
        fields: &[&str],
        actor: Actor<'_>,
    ) -> Result<Option<BlobChange>, QueueError> {
        let Some(claim) = &task.claim else {
            return Ok(None);
        };
        if actor.holds(task) || claim.swarm.is_empty() {
            return Ok(None);
        }
        let path = Notice::path(&task.id);
        let earlier = match tree {
            Some(tree) => self.read_notice(tree, &path)?,
            None => None,
        }
        .filter(|n| n.swarm == claim.swarm && n.worker == claim.worker);
        let mut all_fields: Vec<String> = earlier.map(|n| n.fields).unwrap_or_default();
        for f in fields {
            if !all_fields.iter().any(|a| a == f) {
                all_fields.push(f.to_string());
            }
        }
        let notice = Notice {
            version: NOTICE_VERSION,
            task: task.id.clone(),
            change,
            by: actor.name.to_string(),
            at: jiff::Timestamp::now().to_string(),
            swarm: claim.swarm.clone(),
            worker: claim.worker.clone(),
            fields: if change == Change::Removed {
                Vec::new()
            } else {
                all_fields
            },
        };
        Ok(Some((path, Some(notice.to_json()))))
    }

    fn read_notice(&self, tree: ObjectId, path: &str) -> Result<Option<Notice>, QueueError> {
        let Some(blob) = self.repo.lookup_path(tree, path)? else {
            return Ok(None);
        };
        let data = self.repo.read_blob(blob)?;
        Ok(serde_json::from_slice(&data).ok())
    }

    /// Takes (reads and deletes, in one commit) the notices for this swarm worker; none, and
    /// no commit, when there are none. Cheap: one tree listing when the queue has none.
    pub fn take_notices(&self, swarm: &str, worker: &str) -> Result<Vec<Notice>, QueueError> {
        self.update(|tree| {
            let mut changes = Vec::new();
            let mut taken = Vec::new();
            if let Some(tree) = tree {
                for (name, blob) in self.repo.list_dir(tree, NOTICES_DIR)? {
                    // One entry that is not a notice (a tree, say) keeps no other from its
                    // worker.
                    let Ok(data) = self.repo.read_blob(blob) else {
                        continue;
                    };
                    let Ok(notice) = serde_json::from_slice::<Notice>(&data) else {
                        continue;
                    };
                    if notice.swarm == swarm && notice.worker == worker {
                        changes.push((format!("{NOTICES_DIR}/{name}"), None));
                        taken.push(notice);
                    }
                }
            }
            let list: Vec<&str> = taken.iter().map(|n| n.task.as_str()).collect();
            Ok(Plan {
                changes,
                message: format!("{}/{worker} read the notices of {}", swarm, list.join(", ")),
                result: taken,
            })
        })
    }
}

impl Queue<'_> {
    /// The notices in `tree` addressed to a swarm that is not `running` any more (stopped,
    /// crashed, or with no record at all): their claimer is gone and nobody will take them.
    /// Dropped by recovery in the commit that returns the dead swarm's claims; unreadable
    /// notices are left for a person to look at.
    pub(super) fn notices_of_ended_swarms(
        &self,
        tree: ObjectId,
        running: impl Fn(&str) -> bool,
    ) -> Result<Vec<(String, Notice)>, QueueError> {
        let mut out = Vec::new();
        for (name, blob) in self.repo.list_dir(tree, NOTICES_DIR)? {
            let Ok(data) = self.repo.read_blob(blob) else {
                continue;
            };
            let Ok(notice) = serde_json::from_slice::<Notice>(&data) else {
                continue;
            };
            if !running(&notice.swarm) {
                out.push((format!("{NOTICES_DIR}/{name}"), notice));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_changes_and_names_only_the_fields_given_that_differ() {
        let mut task = Task::new(
            TaskId::new("t1").expect("an id"),
            "Same".into(),
            String::new(),
            String::new(),
        );
        task.difficulty = Some(Difficulty::Easy);
        let edit = TaskEdit {
            summary: Some("Same".into()),
            description: Some("why".into()),
            difficulty: Some(Difficulty::Easy),
            files: Some(vec!["a.rs".into()]),
            acceptance: None,
        };
        assert_eq!(edit.apply(&mut task), ["description", "files"]);
        assert_eq!(
            (task.summary.as_str(), task.description.as_str()),
            ("Same", "why")
        );
        assert_eq!(task.files, ["a.rs"]);
        let edit = TaskEdit {
            difficulty: Some(Difficulty::Hard),
            acceptance: Some(vec!["passes".into()]),
            ..TaskEdit::default()
        };
        assert_eq!(edit.apply(&mut task), ["difficulty", "acceptance"]);
        assert_eq!(task.difficulty, Some(Difficulty::Hard));
        assert_eq!(task.acceptance, ["passes"]);
        assert!(TaskEdit::default().apply(&mut task).is_empty());
        assert_eq!(task.difficulty, Some(Difficulty::Hard), "not given: kept");
    }
}
