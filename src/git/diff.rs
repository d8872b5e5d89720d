//! Which paths differ between two trees (no content diff: that is for the reviewer to read,
//! with `git diff`).

use gix::bstr::ByteSlice;

use super::{Context, GitError, ObjectId, Repo};

impl Repo {
    /// The file paths that differ between `old` (the empty tree when `None`) and `new`: added,
    /// deleted, modified, and both sides of a rename. Sorted, without duplicates.
    pub fn diff_paths(
        &self,
        old: Option<ObjectId>,
        new: ObjectId,
    ) -> Result<Vec<String>, GitError> {
        let repo = self.gix();
        let new_tree = repo.find_tree(new).ctx(|| format!("reading tree {new}"))?;
        let old_tree = match old {
            Some(id) => Some(repo.find_tree(id).ctx(|| format!("reading tree {id}"))?),
            None => None,
        };
        let changes = repo
            .diff_tree_to_tree(old_tree.as_ref(), &new_tree, None)
            .ctx(|| format!("diffing trees {old:?} and {new}"))?;
        let mut paths = Vec::new();
        for c in &changes {
            if c.entry_mode().is_tree() {
                continue;
            }
            paths.push(c.location().to_str_lossy().into_owned());
            if let gix::object::tree::diff::ChangeDetached::Rewrite {
                source_location, ..
            } = c
            {
                paths.push(source_location.to_str_lossy().into_owned());
            }
        }
        paths.sort();
        paths.dedup();
        Ok(paths)
    }
}
