//! The rule that makes gc safe: a commit is only let go of when it is reachable from the
//! target or a keep ref, or when its work was squash-landed (a landing commit on the target
//! names its swarm and worker in its trailers, and merging it into the target changes
//! nothing). Anything else is kept under `refs/oompa/keep/<swarm>/<worker>/gc` first.

use super::{GC_LABEL, KEEP_PREFIX, Safe};
use crate::git::merge::Merge;
use crate::git::{GitError, ObjectId, Repo};
use crate::store::{keep, trailers};

/// How far back the target's first-parent history is searched for a squash landing.
const SQUASH_SEARCH: usize = 2_000;

/// Why `tip` may be let go of, or `None` if it holds work found nowhere else.
pub fn why_safe(
    repo: &Repo,
    target: Option<&str>,
    swarm: &str,
    worker: &str,
    tip: ObjectId,
) -> Result<Option<Safe>, GitError> {
    let target_tip = match target {
        Some(t) => repo.read_ref(t)?,
        None => None,
    };
    if let (Some(t), Some(tt)) = (target, target_tip)
        && repo.is_ancestor(tip, tt)?
    {
        return Ok(Some(Safe::ReachableFrom(t.to_string())));
    }
    let mut keeps = repo.refs_with_prefix(KEEP_PREFIX)?;
    // This worker's own keep refs first: they are the likely ones.
    let own = crate::store::layout::keep_prefix(swarm, worker);
    keeps.sort_by_key(|(name, _)| !name.starts_with(&own));
    for (name, k) in keeps {
        if repo.is_commit(k)? && repo.is_ancestor(tip, k)? {
            return Ok(Some(Safe::ReachableFrom(name)));
        }
    }
    if let Some(tt) = target_tip
        && let Some(landing) = squash_landing(repo, tt, swarm, worker, tip)?
    {
        return Ok(Some(Safe::SquashLanded(landing)));
    }
    Ok(None)
}

/// Whether `commit` is a landing-gate candidate this swarm made (a landing commit with an
/// `Oompa-Gate:` trailer, left checked out by a crash during a gate run) whose parents are all
/// safe: it holds no work of its own, so there is nothing to keep. Candidates of a batch are
/// stacked on each other, hence the recursion (bounded).
pub(super) fn gate_candidate_covered(
    repo: &Repo,
    target: Option<&str>,
    swarm: &str,
    worker: &str,
    commit: ObjectId,
    depth: usize,
) -> Result<bool, GitError> {
    let trailers = trailers::parse(&repo.commit_message(commit)?);
    if depth > 64 || trailers.gate.is_none() || trailers.swarm.as_deref() != Some(swarm) {
        return Ok(false);
    }
    for parent in repo.commit_parents(commit)? {
        let safe = why_safe(repo, target, swarm, worker, parent)?.is_some()
            || gate_candidate_covered(repo, target, swarm, worker, parent, depth + 1)?;
        if !safe {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A landing commit on the target naming this swarm and worker in its trailers, when merging
/// `tip` into the target would change nothing (its work is all there).
fn squash_landing(
    repo: &Repo,
    target_tip: ObjectId,
    swarm: &str,
    worker: &str,
    tip: ObjectId,
) -> Result<Option<ObjectId>, GitError> {
    let mut landing = None;
    for c in repo.first_parents(target_tip, SQUASH_SEARCH)? {
        let l = trailers::parse(&repo.commit_message(c)?);
        if l.swarm.as_deref() == Some(swarm) && l.worker.as_deref() == Some(worker) {
            landing = Some(c);
            break;
        }
    }
    let Some(landing) = landing else {
        return Ok(None);
    };
    let unchanged = match repo.check_merge(target_tip, tip)? {
        Merge::UpToDate => true,
        Merge::Clean { tree } => tree == repo.commit_tree(target_tip)?,
        Merge::FastForward { .. } | Merge::Conflict { .. } => false,
    };
    Ok(unchanged.then_some(landing))
}

/// Saves `commit` under `refs/oompa/keep/<swarm>/<worker>/gc[-N]` (reusing a keep ref that
/// already points at it) and returns the ref name.
pub(super) fn keep(
    repo: &Repo,
    swarm: &str,
    worker: &str,
    commit: ObjectId,
) -> Result<String, GitError> {
    keep::preserve(
        repo,
        swarm,
        worker,
        commit,
        GC_LABEL,
        "oompa: gc keeps unmerged work",
    )
}

/// Whether `safe`, found when gc planned, still holds for `tip`: the keep ref or target it
/// named still contains it (a squash landing stays on the target's history).
pub(super) fn still_holds(repo: &Repo, safe: &Safe, tip: ObjectId) -> Result<bool, GitError> {
    match safe {
        Safe::ReachableFrom(r) => match repo.read_ref(r)? {
            Some(k) => Ok(repo.is_commit(k)? && repo.is_ancestor(tip, k)?),
            None => Ok(false),
        },
        Safe::SquashLanded(_) => Ok(true),
    }
}
