//! Linked worktrees: creating and removing workers' worktrees with gix, and finding where a
//! branch is checked out.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use gix::bstr::ByteSlice;

use super::{Context, GitError, Repo};

/// A checkout (main or linked worktree) and the branch its HEAD is on.
#[derive(Debug, Clone)]
pub struct Checkout {
    pub path: PathBuf,
    /// Full ref name (`refs/heads/main`), `None` when detached or unborn.
    pub branch: Option<String>,
}

impl Repo {
    /// Creates a linked worktree at `path` with `branch` (a full ref name that must exist)
    /// checked out. Missing parent directories are created.
    pub fn add_worktree(&self, path: &Path, branch: &str) -> Result<(), GitError> {
        let stop = AtomicBool::new(false);
        let name: gix::refs::FullName = branch.try_into().map_err(|e| GitError::Gix {
            context: format!("invalid branch name {branch}"),
            source: gix::Error::from_error(e),
        })?;
        self.gix()
            .add_worktree(
                path,
                gix::worktree::add::Head::Attached(name),
                gix::progress::Discard,
                &stop,
            )
            .ctx(|| format!("creating worktree {} on {branch}", path.display()))?;
        Ok(())
    }

    /// Removes the linked worktree at `path`, discarding its changes (callers save anything
    /// unmerged first). Its branch is kept.
    pub fn remove_worktree(&self, path: &Path) -> Result<(), GitError> {
        self.gix()
            .prepare_remove_worktree(path)
            .ctx(|| format!("finding worktree {}", path.display()))?
            .remove(
                gix::worktree::remove::Force::DiscardChanges,
                gix::progress::Discard,
            )
            .ctx(|| format!("removing worktree {}", path.display()))?;
        Ok(())
    }

    /// Every checkout of this repository (main first) with the branch it has checked out.
    pub fn checkouts(&self) -> Result<Vec<Checkout>, GitError> {
        let mut out = Vec::new();
        let all = self
            .gix()
            .worktrees_including_main()
            .ctx(|| "listing worktrees".into())?;
        for repo in all {
            let Ok(repo) = repo else { continue };
            let Some(path) = repo.workdir().map(Path::to_path_buf) else {
                continue;
            };
            let branch = repo
                .head_name()
                .ok()
                .flatten()
                .map(|n| n.as_bstr().to_str_lossy().into_owned());
            out.push(Checkout { path, branch });
        }
        Ok(out)
    }

    /// Linked worktrees whose directory is gone (what `git worktree prune` would drop).
    pub fn stale_worktrees(&self) -> Result<Vec<String>, GitError> {
        let mut out = Vec::new();
        for p in self.gix().worktrees().ctx(|| "listing worktrees".into())? {
            if p.is_prunable()
                && let Ok(id) = p.id()
            {
                out.push(id.to_str_lossy().into_owned());
            }
        }
        Ok(out)
    }
}
