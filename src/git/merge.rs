//! In-memory merges with gix: the mergeability check (nothing written to disk) and the real
//! merge tree the merge queue commits.

use gix::bstr::ByteSlice;
use gix::merge::tree::TreatAsUnresolved;

use super::{Context, GitError, ObjectId, Repo};

/// The result of merging `theirs` into `ours`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merge {
    /// `theirs` is already contained in `ours`.
    UpToDate,
    /// `ours` is an ancestor of `theirs`: a fast-forward is possible. Carries `theirs`' tree.
    FastForward { tree: ObjectId },
    /// A clean three-way merge producing `tree` (written only by [`Repo::merge`]).
    Clean { tree: ObjectId },
    /// The paths that do not merge cleanly.
    Conflict { paths: Vec<String> },
}

impl Repo {
    /// The best common ancestor of two commits, if they share history.
    pub fn merge_base(&self, a: ObjectId, b: ObjectId) -> Result<Option<ObjectId>, GitError> {
        merge_base(self.gix(), a, b)
    }

    /// Checks whether `theirs` merges cleanly into `ours` without writing any object.
    pub fn check_merge(&self, ours: ObjectId, theirs: ObjectId) -> Result<Merge, GitError> {
        let dry = self.gix().clone().with_object_memory();
        merge_with(&dry, ours, theirs)
    }

    /// Merges `theirs` into `ours`, writing the merged tree to the object database.
    pub fn merge(&self, ours: ObjectId, theirs: ObjectId) -> Result<Merge, GitError> {
        merge_with(self.gix(), ours, theirs)
    }
}

pub(super) fn merge_base(
    repo: &gix::Repository,
    a: ObjectId,
    b: ObjectId,
) -> Result<Option<ObjectId>, GitError> {
    match repo.merge_base(a, b) {
        Ok(base) => Ok(base.map(|b| b.detach())),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(GitError::Gix {
            context: format!("finding the merge base of {a} and {b}"),
            source: e,
        }),
    }
}

pub(super) fn merge_with(
    repo: &gix::Repository,
    ours: ObjectId,
    theirs: ObjectId,
) -> Result<Merge, GitError> {
    let base = merge_base(repo, ours, theirs)?;
    if base == Some(theirs) || ours == theirs {
        return Ok(Merge::UpToDate);
    }
    if base.is_none() {
        return Err(GitError::UnrelatedHistories { ours, theirs });
    }
    if base == Some(ours) {
        let tree = repo
            .find_commit(theirs)
            .ctx(|| format!("reading commit {theirs}"))?
            .tree_id()
            .ctx(|| format!("reading commit {theirs}"))?
            .detach();
        return Ok(Merge::FastForward { tree });
    }
    let opts = repo
        .tree_merge_options()
        .ctx(|| "reading merge options".into())?;
    let labels = gix::merge::blob::builtin_driver::text::Labels {
        ancestor: Some("base".into()),
        current: Some("target".into()),
        other: Some("worker".into()),
    };
    let mut out = repo
        .merge_commits(ours, theirs, labels, opts.into())
        .ctx(|| format!("merging {theirs} into {ours}"))?;
    let how = TreatAsUnresolved::git();
    if out.tree_merge.has_unresolved_conflicts(how) {
        let mut paths: Vec<String> = out
            .tree_merge
            .conflicts
            .iter()
            .filter(|c| c.is_unresolved(how))
            .flat_map(|c| {
                let (a, b) = c.changes_in_resolution();
                [a.location(), b.location()]
            })
            .map(|p| p.to_str_lossy().into_owned())
            .collect();
        paths.sort();
        paths.dedup();
        return Ok(Merge::Conflict { paths });
    }
    let tree = out
        .tree_merge
        .tree
        .write()
        .ctx(|| format!("writing the merge of {theirs} into {ours}"))?
        .detach();
    Ok(Merge::Clean { tree })
}
