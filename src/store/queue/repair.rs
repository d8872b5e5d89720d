//! Putting a damaged queue right: the queue ref replaced, deleted or pointed at something
//! that is not a commit (restored to the last tip git oompa knew, the replacement kept under
//! `refs/oompa/replaced/`), a replacement made on purpose (accepted), and an id found in more
//! than one state (the most advanced entry kept). Nothing is deleted that history does not
//! still hold. Used by `git oompa doctor`; never prints.

use std::collections::BTreeMap;

use super::{Plan, QUEUE_REF, Queue, QueueError, State, check_tip, short};
use crate::git::ObjectId;
use crate::store::known;
use crate::store::task::TaskId;

pub use crate::store::layout::REPLACED_PREFIX;

/// What [`Queue::restore`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The tip the queue points at again.
    pub tip: ObjectId,
    /// Where the value it replaced is kept (none when the ref had been deleted).
    pub kept: Option<String>,
}

impl Queue<'_> {
    /// The tip a damaged queue should go back to: the newest value it had on the chain git
    /// oompa knew, else the newest commit in its reflog.
    pub fn restore_point(&self) -> Result<Option<ObjectId>, QueueError> {
        let current = self.repo.read_ref(QUEUE_REF)?;
        Ok(known::restore_point(self.repo, QUEUE_REF, current)?)
    }

    /// Points the queue back at [`Self::restore_point`] when its ref is damaged, keeping
    /// what it pointed at under `refs/oompa/replaced/tasks-<id>`. `Ok(None)` when the
    /// queue is fine or there is nothing to go back to.
    pub fn restore(&self) -> Result<Option<Restored>, QueueError> {
        let _guard = super::QUEUE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.repo.read_ref(QUEUE_REF)?;
        match check_tip(self.repo, current) {
            Err(e) if e.is_damaged_ref() => {}
            other => return other.map(|()| None),
        }
        let Some(tip) = self.restore_point()? else {
            return Ok(None);
        };
        let kept = match current {
            Some(found) => {
                let name = crate::store::layout::replaced_ref(&format!("tasks-{}", short(&found)));
                if self.repo.read_ref(&name)? != Some(found) {
                    self.repo.cas_ref(
                        &name,
                        None,
                        found,
                        "oompa: keep the value that replaced the task queue",
                    )?;
                }
                Some(name)
            }
            None => None,
        };
        self.repo.cas_ref(
            QUEUE_REF,
            current,
            tip,
            &format!(
                "oompa: restore the task queue to {} (it was {})",
                short(&tip),
                current.map_or_else(|| "deleted".to_string(), |c| short(&c))
            ),
        )?;
        known::record(self.repo, QUEUE_REF, tip).map_err(|e| {
            crate::git::GitError::Spawn(std::io::Error::new(
                e.kind(),
                format!("recording the restored queue tip: {e}"),
            ))
        })?;
        Ok(Some(Restored { tip, kept }))
    }

    /// Takes the queue's current value as the known one: for a queue replaced on purpose.
    /// Refused when the ref is not a commit (nothing could be read from it).
    pub fn accept(&self) -> Result<Option<ObjectId>, QueueError> {
        let current = self.repo.read_ref(QUEUE_REF)?;
        if let Err(e @ QueueError::NotACommit { .. }) = check_tip(self.repo, current) {
            return Err(e);
        }
        known::accept(self.repo, QUEUE_REF, current).map_err(|e| {
            crate::git::GitError::Spawn(std::io::Error::new(
                e.kind(),
                format!("recording the accepted queue tip: {e}"),
            ))
        })?;
        Ok(current)
    }

    /// Ids found in more than one state at the tip, from the tree listings alone.
    pub fn duplicates(&self) -> Result<Vec<(TaskId, Vec<State>)>, QueueError> {
        let Some(tip) = self.tip()? else {
            return Ok(Vec::new());
        };
        self.duplicates_in(self.repo.commit_tree(tip)?)
    }

    pub(super) fn duplicates_in(
        &self,
        tree: ObjectId,
    ) -> Result<Vec<(TaskId, Vec<State>)>, QueueError> {
        let mut states: BTreeMap<String, Vec<State>> = BTreeMap::new();
        for state in State::ALL {
            for (name, _) in self.repo.list_dir(tree, state.dir())? {
                if let Some(id) = name.strip_suffix(".json") {
                    states.entry(id.to_string()).or_default().push(state);
                }
            }
        }
        Ok(states
            .into_iter()
            .filter(|(_, s)| s.len() > 1)
            .filter_map(|(id, s)| TaskId::new(&id).ok().map(|id| (id, s)))
            .collect())
    }

    /// Keeps only the most advanced entry of an id found in several states (complete, else
    /// current, else pending), in one commit. Returns the state kept, `None` when the id is
    /// in one state only (by now).
    pub fn resolve_duplicate(&self, id: &TaskId, actor: &str) -> Result<Option<State>, QueueError> {
        self.update(|tree| {
            let mut present = Vec::new();
            if let Some(tree) = tree {
                for state in State::ALL {
                    if self.repo.lookup_path(tree, &state.path(id))?.is_some() {
                        present.push(state);
                    }
                }
            }
            let Some(&keep) = present.iter().max() else {
                return Ok(Plan {
                    changes: Vec::new(),
                    message: String::new(),
                    result: None,
                });
            };
            if present.len() < 2 {
                return Ok(Plan {
                    changes: Vec::new(),
                    message: String::new(),
                    result: None,
                });
            }
            let dropped: Vec<State> = present.into_iter().filter(|s| *s != keep).collect();
            Ok(Plan {
                changes: dropped.iter().map(|s| (s.path(id), None)).collect(),
                message: format!(
                    "keep {id} in {keep}/ only by {actor}\n\nit was also in {}",
                    dropped
                        .iter()
                        .map(|s| format!("{s}/"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
                result: Some(keep),
            })
        })
    }
}
