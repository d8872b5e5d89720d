//! Tree diffs with gix: which paths a commit changed relative to another.
//!
//! Reads objects only; never writes anything, so it works the same on a repository whose
//! object writes go to memory ([`super::DryRun`]).

use gix::bstr::ByteSlice;
use gix::diff::tree::recorder::Change;

use super::{Context, GitError, ObjectId, Repo};

impl Repo {
    /// The paths of the files that differ between the trees of commit `base` and commit `tip`
    /// (added, deleted, modified or changed mode), sorted. `None` for `base` diffs against the
    /// empty tree. No rename tracking: a rename shows as both its old and its new path.
    pub fn changed_paths(
        &self,
        base: Option<ObjectId>,
        tip: ObjectId,
    ) -> Result<Vec<String>, GitError> {
        changed_paths(self.gix(), base, tip)
    }
}

pub(super) fn changed_paths(
    repo: &gix::Repository,
    base: Option<ObjectId>,
    tip: ObjectId,
) -> Result<Vec<String>, GitError> {
    let tree_of = |commit: ObjectId| -> Result<gix::Tree<'_>, GitError> {
        repo.find_commit(commit)
            .ctx(|| format!("reading commit {commit}"))?
            .tree()
            .ctx(|| format!("reading the tree of {commit}"))
    };
    let new = tree_of(tip)?;
    let old = match base {
        Some(b) => tree_of(b)?,
        None => repo.empty_tree(),
    };
    if old.id == new.id {
        return Ok(Vec::new());
    }
    let mut recorder = gix::diff::tree::Recorder::default();
    gix::diff::tree(
        gix::objs::TreeRefIter::from_bytes(&old.data, old.id.kind()),
        gix::objs::TreeRefIter::from_bytes(&new.data, new.id.kind()),
        &mut gix::diff::tree::State::default(),
        &repo.objects,
        &mut recorder,
    )
    .map_err(|e| GitError::Gix {
        context: format!(
            "diffing {tip} against {}",
            base.map_or_else(|| "the empty tree".to_string(), |b| b.to_string())
        ),
        source: gix::Error::from_error(e),
    })?;
    let mut paths: Vec<String> = recorder
        .records
        .into_iter()
        .filter_map(|change| match change {
            // A whole subtree added or deleted is also reported entry by entry.
            Change::Addition {
                entry_mode, path, ..
            }
            | Change::Deletion {
                entry_mode, path, ..
            } => (!entry_mode.is_tree()).then_some(path),
            // A tree turning into a file (or back) is reported here; its entries separately.
            Change::Modification {
                previous_entry_mode,
                entry_mode,
                path,
                ..
            } => (!(entry_mode.is_tree() && previous_entry_mode.is_tree())).then_some(path),
        })
        .map(|p| p.to_str_lossy().into_owned())
        .collect();
    paths.sort();
    paths.dedup();
    Ok(paths)
}
