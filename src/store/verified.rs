//! The verified-landings baseline: the merge queue's record that every task complete in one
//! queue commit has its landing commit on one target commit
//! ([`layout::verified_landings`]). The merge queue records it after each landing; the
//! `pre-push` guard ([`crate::guard::pre_push`]) then checks only the completions made since.
//! Never prints.

use std::collections::HashSet;

use crate::git::{GitError, ObjectId, Repo};
use crate::store::layout;
use crate::store::{State, Task};

/// Above this many new completions, one walk of the target beats one merge base each.
pub(crate) const BULK_COMPLETIONS: usize = 32;

/// The tasks of `entries` (queue blobs) with the landing commits they record; unreadable
/// entries and landings that are not commit ids (imported from oompa) are left out.
pub(crate) fn landings(repo: &Repo, entries: Vec<(String, ObjectId)>) -> Vec<(Task, ObjectId)> {
    let mut out = Vec::new();
    for (_, blob) in entries {
        let Ok(data) = repo.read_blob(blob) else {
            continue;
        };
        let Ok(task) = Task::from_json(&data) else {
            continue;
        };
        let Some(commit) = task
            .landed
            .as_ref()
            .and_then(|l| ObjectId::from_hex(l.commit.as_bytes()).ok())
        else {
            continue;
        };
        out.push((task, commit));
    }
    out
}

/// The `complete/` entries of a queue commit.
pub(crate) fn complete_entries(
    repo: &Repo,
    queue: ObjectId,
) -> Result<Vec<(String, ObjectId)>, GitError> {
    let tree = repo.commit_tree(queue)?;
    repo.list_dir(tree, State::Complete.dir())
}

/// A record the merge queue keeps in `$GIT_COMMON_DIR/oompa/verified-landings`: every task
/// complete in queue commit `queue` has its landing commit reachable from `target`. With it,
/// pre-push checks only the completions made since, however large the queue (a first push
/// of 10,000 completions costs one ancestry check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Baseline {
    pub queue: ObjectId,
    pub target: ObjectId,
}

fn baseline_path(repo: &Repo) -> std::path::PathBuf {
    layout::verified_landings(repo.common_dir())
}

/// The recorded baseline, if there is a readable one whose commits exist here.
pub fn read_baseline(repo: &Repo) -> Option<Baseline> {
    let text = std::fs::read_to_string(baseline_path(repo)).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|hex| ObjectId::from_hex(hex.trim().as_bytes()).ok())
    };
    let b = Baseline {
        queue: field("queue ")?,
        target: field("target ")?,
    };
    (repo.is_commit(b.queue).ok()? && repo.is_commit(b.target).ok()?).then_some(b)
}

/// Records `queue`/`target` as the baseline after checking it: completions already vouched
/// for by the previous baseline (whose target `target` must contain) are trusted, the others
/// are checked one by one. Nothing is written when a landing is missing from `target`.
/// Called by the merge queue after each landing; the first call checks every completion.
pub fn record_baseline(repo: &Repo, queue: ObjectId, target: ObjectId) -> Result<bool, GitError> {
    let vouched: HashSet<(String, ObjectId)> = match read_baseline(repo) {
        Some(b) if b.queue == queue && b.target == target => return Ok(true),
        Some(b) if repo.is_ancestor(b.target, target)? => {
            complete_entries(repo, b.queue)?.into_iter().collect()
        }
        _ => HashSet::new(),
    };
    let fresh: Vec<(String, ObjectId)> = complete_entries(repo, queue)?
        .into_iter()
        .filter(|e| !vouched.contains(e))
        .collect();
    let landed = landings(repo, fresh);
    let ok = if landed.len() > BULK_COMPLETIONS {
        let reachable: HashSet<ObjectId> = repo
            .commits_excluding(&[target], &[], usize::MAX)?
            .into_iter()
            .collect();
        landed.iter().all(|(_, c)| reachable.contains(c))
    } else {
        landed
            .iter()
            .all(|(_, c)| repo.is_ancestor(*c, target).unwrap_or(false))
    };
    if !ok {
        return Ok(false);
    }
    let path = baseline_path(repo);
    let text = format!("queue {queue}\ntarget {target}\n");
    layout::write_atomic(&path, text.as_bytes()).map_err(|e| {
        GitError::Spawn(std::io::Error::new(
            e.kind(),
            format!("writing {}: {e}", path.display()),
        ))
    })?;
    Ok(true)
}
