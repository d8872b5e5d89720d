//! Conflict prediction: which live worker branches would conflict with the target, or with
//! each other once both land, found by dry-running the merges in memory.
//!
//! [`compute`] runs the merges on rayon threads, one [`DryRun`] repository (object writes kept
//! in memory, its own object cache) per thread; it never writes an object or a ref. A running
//! swarm publishes its latest [`Prediction`] as a JSON file ([`prediction_path`]) that
//! `git oompa status` reads, and uses [`overlaps`] to warn a worker whose task touches files a
//! live branch is changing. Nothing here prints.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use crate::git::merge::Merge;
use crate::git::{DryRun, GitError, ObjectId, Repo, SharedRepo};

/// What `other` is in a [`ConflictPair`] when the conflict is with the target branch.
pub const TARGET: &str = "target";

/// The predicted conflicts among a swarm's live branches at one moment.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Prediction {
    /// RFC 3339 time of the computation.
    pub at: String,
    /// The target tip (hex) it was computed against.
    pub target: String,
    /// Every live worker branch that differs from the target.
    pub branches: Vec<LiveBranch>,
    /// Pairs that would conflict: branch × target first, then branch × branch.
    pub conflicts: Vec<ConflictPair>,
}

/// A worker branch not yet contained in the target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LiveBranch {
    pub worker: String,
    /// The branch tip (hex).
    pub tip: String,
    /// Files changed since the merge base with the target, sorted.
    pub changed: Vec<String>,
}

/// Two sides that would conflict, and the paths that would.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConflictPair {
    /// A worker.
    pub a: String,
    /// Another worker, or [`TARGET`].
    pub b: String,
    pub paths: Vec<String>,
}

/// Dry-merges every branch against the target, and every pair of branches against each other
/// (`b`'s tip merged into `a`'s: would they conflict once both land), in parallel with rayon,
/// one thread-local repository with object memory per rayon thread; nothing is written to
/// disk. `branches` are (worker, tip); those already contained in the target are left out.
///
/// A pair is only merged when the two branches changed overlapping paths (the same file, or a
/// file and a directory holding it). Branches that changed disjoint paths can still fail to
/// merge with each other when one lacks target commits the other has, but that is a conflict
/// with the target, reported as such, and not one between the two workers.
///
/// A branch with no history in common with the target gets its changed paths listed, but no
/// merge is tried for it (git refuses to merge unrelated histories).
pub fn compute(
    repo: &SharedRepo,
    target: ObjectId,
    branches: &[(String, ObjectId)],
) -> Result<Prediction, GitError> {
    let at = jiff::Timestamp::now().to_string();
    let measured = par_dry_run(repo, branches, |dry, (_, tip)| measure(dry, target, *tip))?;
    let live: Vec<(&String, ObjectId, Measured)> = branches
        .iter()
        .zip(measured)
        .filter_map(|((worker, tip), m)| Some((worker, *tip, m?)))
        .collect();

    let mut conflicts: Vec<ConflictPair> = live
        .iter()
        .filter_map(|(worker, _, m)| {
            Some(ConflictPair {
                a: worker.to_string(),
                b: TARGET.to_string(),
                paths: m.conflict.clone()?,
            })
        })
        .collect();

    let mut pairs = Vec::new();
    for (i, (_, _, a)) in live.iter().enumerate() {
        for (j, (_, _, b)) in live.iter().enumerate().skip(i + 1) {
            if a.related && b.related && touch(&a.changed, &b.changed) {
                pairs.push((i, j));
            }
        }
    }
    let merged = par_dry_run(repo, &pairs, |dry, &(i, j)| {
        Ok(match dry.check_merge(live[i].1, live[j].1)? {
            Merge::Conflict { paths } => Some(paths),
            _ => None,
        })
    })?;
    for (&(i, j), paths) in pairs.iter().zip(merged) {
        if let Some(paths) = paths {
            conflicts.push(ConflictPair {
                a: live[i].0.clone(),
                b: live[j].0.clone(),
                paths,
            });
        }
    }

    Ok(Prediction {
        at,
        target: target.to_string(),
        branches: live
            .into_iter()
            .map(|(worker, tip, m)| LiveBranch {
                worker: worker.clone(),
                tip: tip.to_string(),
                changed: m.changed,
            })
            .collect(),
        conflicts,
    })
}

/// A live branch measured against the target.
struct Measured {
    /// Files changed since the merge base with the target.
    changed: Vec<String>,
    /// Shares history with the target (so merges can be tried).
    related: bool,
    /// The paths that conflict with the target, if any.
    conflict: Option<Vec<String>>,
}

/// `None` when `tip` is already contained in `target`.
fn measure(dry: &DryRun, target: ObjectId, tip: ObjectId) -> Result<Option<Measured>, GitError> {
    let base = dry.merge_base(target, tip)?;
    if base == Some(tip) {
        return Ok(None);
    }
    let changed = dry.changed_paths(base, tip)?;
    let conflict = match base {
        None => None,
        Some(_) => match dry.check_merge(target, tip)? {
            Merge::Conflict { paths } => Some(paths),
            _ => None,
        },
    };
    Ok(Some(Measured {
        changed,
        related: base.is_some(),
        conflict,
    }))
}

/// Whether two sets of changed files overlap: a path in both, or a file of one being a
/// directory on the path of a file of the other (`d` against `d/f`).
fn touch(a: &[String], b: &[String]) -> bool {
    let in_a: HashSet<&str> = a.iter().map(String::as_str).collect();
    let in_b: HashSet<&str> = b.iter().map(String::as_str).collect();
    let hits = |path: &str, set: &HashSet<&str>| {
        set.contains(path)
            || path
                .match_indices('/')
                .any(|(i, _)| set.contains(&path[..i]))
    };
    b.iter().any(|p| hits(p, &in_a)) || a.iter().any(|p| hits(p, &in_b))
}

/// Runs `f` over `jobs` on every thread of the current rayon pool, each thread pulling jobs
/// from a shared counter with its own [`DryRun`] (made on its first job), and returns the
/// results in job order, or the first error.
fn par_dry_run<J: Sync, R: Send>(
    repo: &SharedRepo,
    jobs: &[J],
    f: impl Fn(&DryRun, &J) -> Result<R, GitError> + Sync,
) -> Result<Vec<R>, GitError> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let next = AtomicUsize::new(0);
    let per_thread = rayon::broadcast(|_| {
        let mut dry = None;
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(job) = jobs.get(i) else { break };
            let dry = dry.get_or_insert_with(|| repo.dry_run());
            done.push((i, f(dry, job)));
        }
        done
    });
    let mut all: Vec<_> = per_thread.into_iter().flatten().collect();
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}

/// Live branches of a swarm: refs under `refs/heads/oompa/<swarm>/` whose tip is not already
/// contained in the target, as (worker, tip), ordered by worker (`w2` before `w10`).
pub fn live_branches(
    repo: &Repo,
    swarm: &str,
    target: ObjectId,
) -> Result<Vec<(String, ObjectId)>, GitError> {
    let prefix = crate::store::layout::worker_branches_of(swarm);
    let mut out = Vec::new();
    for (name, tip) in repo.refs_with_prefix(&prefix)? {
        let Some(worker) = name.strip_prefix(&prefix) else {
            continue;
        };
        if !repo.is_ancestor(tip, target)? {
            out.push((worker.to_string(), tip));
        }
    }
    out.sort_by(|a, b| natural_key(&a.0).cmp(&natural_key(&b.0)));
    Ok(out)
}

/// `w10` → (`w`, 10, `w10`), so numbered workers sort by number.
fn natural_key(s: &str) -> (&str, u64, &str) {
    let stem = s.trim_end_matches(|c: char| c.is_ascii_digit());
    (stem, s[stem.len()..].parse().unwrap_or(0), s)
}

/// The other live branches whose changes touch any of `files` (a task's files, for the warning
/// in a worker's prompt), as (worker, overlapping paths); `me` is excluded. A file matches a
/// changed path exactly or as a directory prefix (`src/` and `src` both match `src/a.rs`).
pub fn overlaps(p: &Prediction, files: &[String], me: &str) -> Vec<(String, Vec<String>)> {
    let wanted: Vec<&str> = files
        .iter()
        .map(|f| {
            let f = f.trim();
            f.strip_prefix("./").unwrap_or(f).trim_end_matches('/')
        })
        .filter(|f| !f.is_empty())
        .collect();
    let matches = |changed: &str| {
        wanted.iter().any(|f| {
            changed == *f
                || changed
                    .strip_prefix(f)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
    };
    p.branches
        .iter()
        .filter(|b| b.worker != me)
        .filter_map(|b| {
            let paths: Vec<String> = b.changed.iter().filter(|c| matches(c)).cloned().collect();
            (!paths.is_empty()).then(|| (b.worker.clone(), paths))
        })
        .collect()
}

/// Whether `worker`'s branch was in any predicted conflicting pair.
pub fn flagged(p: &Prediction, worker: &str) -> bool {
    p.conflicts.iter().any(|c| c.a == worker || c.b == worker)
}

/// Where a running swarm publishes its latest prediction for `git oompa status`:
/// `<common git dir>/oompa/swarms/<swarm>/prediction.json`.
pub fn prediction_path(common_dir: &Path, swarm: &str) -> PathBuf {
    crate::store::layout::prediction_file(common_dir, swarm)
}

/// Writes `p` to `path` atomically (a temporary file in the same directory, then a rename), so
/// a reader sees the previous prediction or this one, never half of one.
pub fn write(path: &Path, p: &Prediction) -> std::io::Result<()> {
    let mut json = serde_json::to_vec_pretty(p).map_err(std::io::Error::other)?;
    json.push(b'\n');
    crate::store::layout::write_atomic(path, &json)
}

/// The prediction at `path`, or `None` when there is none or it cannot be parsed.
pub fn read(path: &Path) -> Option<Prediction> {
    let data = std::fs::read(path).ok()?;
    serde_json::from_slice(&data).ok()
}

#[cfg(test)]
#[path = "predict_tests.rs"]
mod tests;
