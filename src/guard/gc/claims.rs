//! gc's first step: claims whose owner is gone go back to pending, their unmerged branch
//! tips kept (what every command's recovery does, [`crate::store::recover`]).

use std::collections::BTreeMap;

use super::{Action, GcError};
use crate::git::{ObjectId, Repo};
use crate::guard::invariants::{self, Violation};
use crate::settings::Settings;
use crate::store::layout::keep_prefix;
use crate::store::queue::hostname;
use crate::store::{Queue, State, journal, keep};

/// The claims planned to go back, and the branch tips recovery will keep on the way.
#[derive(Debug, Clone)]
pub(crate) struct Release {
    /// Task id → (holder, why its owner is gone), in task order.
    claims: BTreeMap<String, (String, String)>,
    /// Keep refs recovery will write, by name: what the branch steps may count on.
    pub keeps: Vec<(String, ObjectId)>,
}

/// The claims of gone owners now, and what recovering them keeps (the unmerged tips of the
/// cycles dead swarms cut short, then of the released claims' branches). `None`: there is
/// nothing to recover.
pub(super) fn plan(repo: &Repo, settings: &Settings) -> Result<Option<Release>, GcError> {
    let dead = invariants::orphaned_claims(repo)?;
    let cut_short = journal::cut_short_cycles(repo.common_dir(), &hostname());
    if dead.is_empty() && cut_short.is_empty() {
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
    let mut tips: Vec<(String, String, String, String)> = cut_short
        .into_iter()
        .filter_map(|(s, w, cycle, branch)| Some((s, w, branch?, cycle.to_string())))
        .collect();
    let snap = Queue::new(repo).snapshot()?;
    for task in snap.in_state(State::Current) {
        if let Some(claim) = &task.claim
            && let Some(branch) = &claim.branch
            && claims.contains_key(task.id.as_str())
        {
            let (s, w) = (claim.swarm.clone(), claim.worker.clone());
            tips.push((s, w, branch.clone(), format!("recovered-{}", task.id)));
        }
    }
    let mut keeps: Vec<(String, ObjectId)> = Vec::new();
    for (swarm, worker, branch, label) in tips {
        let Some(tip) = repo.read_ref(&branch)? else {
            continue;
        };
        if target.is_some_and(|t| repo.is_ancestor(tip, t).unwrap_or(false)) {
            continue;
        }
        // Kept once: a later keeper names the keep ref an earlier one wrote.
        let name = match keeps
            .iter()
            .find(|(n, k)| *k == tip && n.starts_with(&keep_prefix(&swarm, &worker)))
        {
            Some((n, _)) => n.clone(),
            None => keep::planned(repo, &swarm, &worker, tip, &label)?,
        };
        keeps.push((name, tip));
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
