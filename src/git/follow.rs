//! Whether a checkout of the target followed its landings: the index (and the files) of a
//! checkout whose branch the merge queue moved must match the new tip. A process killed
//! between moving the branch and bringing the checkout forward leaves the index at the old
//! tree: `git status` then shows the landed changes reverted (staged deletions of landed
//! files), and a `git commit` there would revert landed work.
//!
//! [`Repo::index_behind`] finds that state (cheaply when the index's cached tree says all is
//! well) and [`repair_behind`] brings such a checkout forward without touching anything of
//! the person's. This module never prints.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gix::bstr::ByteSlice;

use super::{Context, GitError, ObjectId, Repo, cli};

/// A checkout whose index still has an older commit's content for paths that landed since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Behind {
    pub checkout: PathBuf,
    /// The commit whose content the index still has for `paths`.
    pub old: ObjectId,
    /// The branch tip the checkout should be at.
    pub tip: ObjectId,
    /// Paths that changed between `old` and `tip` and that the index has at `old`.
    pub paths: Vec<String>,
    /// Of `paths`, those whose file holds neither `old`'s nor `tip`'s content: the person's
    /// edits, which a repair must not overwrite.
    pub edited: Vec<String>,
}

impl Behind {
    /// Whether [`repair_behind`] can bring it forward without overwriting anything.
    pub fn repairable(&self) -> bool {
        self.edited.is_empty()
    }
}

/// Path → blob id, for every file and symlink (submodules left out).
type Flat = BTreeMap<String, ObjectId>;

impl Repo {
    /// Compares the index of the checkout at `checkout` (its branch at `tip`) with `tip`.
    /// `None` when they agree on every path, or when the differences are not landings the
    /// index missed. `candidates` gives the commits the index may still be at, newest first
    /// (the first parents of `tip` that the merge queue replaced), and is only called when
    /// the index differs from `tip`; the first one that explains every landed difference is
    /// the answer. A checkout in the middle of a merge
    /// (conflict stages in its index) is never called behind.
    pub fn index_behind(
        &self,
        checkout: &Path,
        tip: ObjectId,
        candidates: impl FnOnce() -> Vec<ObjectId>,
    ) -> Result<Option<Behind>, GitError> {
        let co = Repo::discover(checkout)?;
        let index = co
            .gix()
            .index_or_empty()
            .ctx(|| format!("reading the index of {}", checkout.display()))?;
        let tip_tree = self.commit_tree(tip)?;
        // The cheap common case: the index's cached tree is valid and is the tip's tree.
        if index
            .tree()
            .is_some_and(|t| t.num_entries.is_some() && t.id == tip_tree)
        {
            return Ok(None);
        }
        let mut staged: Flat = BTreeMap::new();
        for e in index.entries() {
            if e.stage_raw() != 0 {
                return Ok(None);
            }
            if e.mode.is_submodule() || e.mode.is_sparse() {
                continue;
            }
            staged.insert(e.path(&index).to_str_lossy().into_owned(), e.id);
        }
        let at_tip = self.flatten(tip_tree)?;
        let differing: Vec<&String> = staged
            .keys()
            .chain(at_tip.keys())
            .filter(|p| staged.get(*p) != at_tip.get(*p))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if differing.is_empty() {
            return Ok(None);
        }
        for old in candidates() {
            let old_tree = self.commit_tree(old)?;
            let mut landed = Vec::new();
            let mut explained = true;
            for p in &differing {
                let in_old = self.lookup_entry(old_tree, p)?;
                if in_old == at_tip.get(*p).copied() {
                    continue; // not changed by the landings: the person's own staged change
                }
                if staged.get(*p).copied() == in_old {
                    landed.push((*p).clone());
                } else {
                    explained = false;
                    break;
                }
            }
            if !explained || landed.is_empty() {
                continue;
            }
            let mut edited = Vec::new();
            for p in &landed {
                let now = worktree_blob(&co, p);
                let old_id = staged.get(p).copied();
                let new_id = at_tip.get(p).copied();
                if now != old_id && now != new_id {
                    edited.push(p.clone());
                }
            }
            return Ok(Some(Behind {
                checkout: checkout.to_path_buf(),
                old,
                tip,
                paths: landed,
                edited,
            }));
        }
        Ok(None)
    }

    /// Every file and symlink of `tree` with its blob id.
    fn flatten(&self, tree: ObjectId) -> Result<Flat, GitError> {
        Ok(self
            .walk_tree(tree, |mode| mode.is_blob() || mode.is_link())?
            .into_iter()
            .collect())
    }

    /// The blob (file or symlink) at `path` in `tree`.
    fn lookup_entry(&self, tree: ObjectId, path: &str) -> Result<Option<ObjectId>, GitError> {
        Ok(self
            .entry_by_path(tree, path)?
            .filter(|(mode, _)| mode.is_blob() || mode.is_link())
            .map(|(_, id)| id))
    }
}

/// The blob id of what is in the checkout's file at `path` now (`None`: no such file). A
/// file that cannot be read counts as the person's (an id no tree has).
fn worktree_blob(co: &Repo, path: &str) -> Option<ObjectId> {
    let full = co.workdir().join(path);
    let meta = std::fs::symlink_metadata(&full).ok()?;
    let data = if meta.file_type().is_symlink() {
        use std::os::unix::ffi::OsStrExt;
        std::fs::read_link(&full)
            .map(|t| t.as_os_str().as_bytes().to_vec())
            .ok()
    } else if meta.is_file() {
        std::fs::read(&full).ok()
    } else {
        None
    };
    let unknown = || ObjectId::null(co.gix().object_hash());
    match data {
        Some(d) => Some(
            gix::objs::compute_hash(co.gix().object_hash(), gix::object::Kind::Blob, &d)
                .unwrap_or_else(|_| unknown()),
        ),
        None => Some(unknown()),
    }
}

/// Brings a checkout that is [`Behind`] forward: the landed paths get the tip's content in
/// the index and the files. Refuses (changing nothing) when a landed path holds the
/// person's own edit.
pub fn repair_behind(behind: &Behind) -> Result<(), GitError> {
    if !behind.repairable() {
        return Err(GitError::Command {
            args: "restore".into(),
            status: None,
            stderr: format!(
                "your edits of {} would be overwritten",
                behind.edited.join(", ")
            ),
        });
    }
    cli::restore_paths(&behind.checkout, behind.tip, &behind.paths)
}
