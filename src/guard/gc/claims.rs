//! gc's first step: claims whose owner is gone go back to pending, their unmerged branch
//! tips kept (what every command's recovery does, [`crate::store::recover`]).

use std::collections::BTreeMap;

use super::{Action, GcError};
use crate::git::{ObjectId, Repo};
use crate::guard::invariants::{self, Violation};
use crate::settings::Settings;
use crate::store::{Queue, State, keep};

/// The claims planned to go back, and the branch tips recovery will keep on the way.
#[derive(Debug, Clone)]
pub(crate) struct Release {
    /// Task id → (holder, why its owner is gone), in task order.
    claims: BTreeMap<String, (String, String)>,
    /// Keep refs recovery will write, by name: what the branch steps may count on.
    pub keeps: Vec<(String, ObjectId)>,
}

/// The claims of gone owners now, and what recovering them keeps. `None`: there are none.
pub(super) fn plan(repo: &Repo, settings: &Settings) -> Result<Option<Release>, GcError> {
    let dead = invariants::orphaned_claims(repo)?;
    if dead.is_empty() {
        return Ok(None);
    }
    let mut claims = BTreeMap::new();
    for v in dead {
        if let Violation::OrphanedClaim { task, holder, why } = v {
            claims.insert(task.to_string(), (holder, why));
        }
    }
    let target = match &settings.target_ref {
        Some(t) => repo.read_ref(t)?,
        None => None,
    };
    let snap = Queue::new(repo).snapshot()?;
    let mut keeps = Vec::new();
    for task in snap.in_state(State::Current) {
        let (Some(claim), true) = (&task.claim, claims.contains_key(task.id.as_str())) else {
            continue;
        };
        let Some(tip) = claim
            .branch
            .as_deref()
            .map(|b| repo.read_ref(b))
            .transpose()?
            .flatten()
        else {
            continue;
        };
        if let Some(t) = target
            && repo.is_ancestor(tip, t)?
        {
            continue;
        }
        let label = format!("recovered-{}", task.id);
        keeps.push((
            keep::planned(repo, &claim.swarm, &claim.worker, tip, &label)?,
            tip,
        ));
    }
    keeps.sort();
    keeps.dedup();
    Ok(Some(Release { claims, keeps }))
}

impl Release {
    /// What releasing would do.
    pub fn planned(&self) -> Vec<Action> {
        let released = self
            .claims
            .iter()
            .map(|(task, (holder, why))| Action::ReleaseClaim {
                task: task.clone(),
                holder: holder.clone(),
                why: why.clone(),
            });
        let kept = self
            .keeps
            .iter()
            .map(|(name, tip)| kept(name.clone(), Some(*tip)));
        released.chain(kept).collect()
    }

    /// Recovers the claims of gone owners (recovery checks again that each owner is gone,
    /// under its lock): those planned and any that died since.
    pub fn apply(&self, repo: &Repo, settings: &Settings) -> Result<Vec<Action>, GcError> {
        let (rec, kept_refs) =
            crate::store::recover::recover(repo, settings.target_ref.as_deref())?;
        let mut released: Vec<Action> = rec
            .released
            .into_iter()
            .map(|(id, claim)| {
                let holder = if claim.swarm.is_empty() {
                    claim.worker.clone()
                } else {
                    format!("{}/{}", claim.swarm, claim.worker)
                };
                let why = self
                    .claims
                    .get(id.as_str())
                    .map(|(_, why)| why.clone())
                    .unwrap_or_else(|| "its owner is gone".into());
                Action::ReleaseClaim {
                    task: id.to_string(),
                    holder,
                    why,
                }
            })
            .collect();
        released.sort_by_key(|a| match a {
            Action::ReleaseClaim { task, .. } => task.clone(),
            _ => String::new(),
        });
        for k in kept_refs {
            let tip = repo.read_ref(&k)?;
            released.push(kept(k, tip));
        }
        Ok(released)
    }
}

fn kept(keep_ref: String, commit: Option<ObjectId>) -> Action {
    Action::Keep {
        what: "the released claim's branch".into(),
        commit,
        keep_ref,
    }
}
