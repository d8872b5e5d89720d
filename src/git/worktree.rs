//! Linked worktrees: creating and removing workers' worktrees with gix, and finding where a
//! branch is checked out.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
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

/// Serializes worktree creation in this process: gix reads every registered worktree's
/// `gitdir` file while adding one, and a registration another thread is half-way through
/// writing fails that read ("Failed to read or iterate worktree directories"), which lost
/// 7 of 64 workers at the start of a swarm.
static ADD_WORKTREE: Mutex<()> = Mutex::new(());

impl Repo {
    /// Creates a linked worktree at `path` with `branch` (a full ref name that must exist)
    /// checked out. Missing parent directories are created.
    pub fn add_worktree(&self, path: &Path, branch: &str) -> Result<(), GitError> {
        let _one_at_a_time = ADD_WORKTREE.lock().unwrap_or_else(|e| e.into_inner());
        // gix writes the new worktree's HEAD (which may lock packed-refs) and index: noted,
        // so that locks a kill leaves here are known to have no owner.
        let common = self.common_dir();
        let admin = common
            .join("worktrees")
            .join(path.file_name().unwrap_or_default());
        let _intent = super::lock::Intent::begin(
            common,
            &[
                common.join("packed-refs.lock"),
                admin.join("HEAD.lock"),
                admin.join("index.lock"),
            ],
        );
        let stop = AtomicBool::new(false);
        let name: gix::refs::FullName = branch.try_into().map_err(|e| GitError::Gix {
            context: format!("invalid branch name {branch}"),
            source: gix::Error::from_error(e),
        })?;
        self.with_fallback_identity()
            .ctx(|| format!("creating worktree {} on {branch}", path.display()))?
            .add_worktree(
                path,
                gix::worktree::add::Head::Attached(name),
                gix::progress::Discard,
                &stop,
            )
            .ctx(|| format!("creating worktree {} on {branch}", path.display()))?;
        Ok(())
    }

    /// This repository, reopened so that the fallback identity [`Repo::discover`] gives it
    /// also reaches the repositories gix opens from it (a new worktree's `HEAD` reflog needs
    /// a committer; without one configured, creating worktrees failed).
    fn with_fallback_identity(&self) -> Result<gix::Repository, gix::Error> {
        let mut overrides = Vec::new();
        if self.config_string("user.name").as_deref() == Some(super::FALLBACK_NAME) {
            overrides.push(format!("user.name={}", super::FALLBACK_NAME));
        }
        if self.config_string("user.email").as_deref() == Some(super::FALLBACK_EMAIL) {
            overrides.push(format!("user.email={}", super::FALLBACK_EMAIL));
        }
        if overrides.is_empty() {
            return Ok(self.gix().clone());
        }
        let options = self
            .gix()
            .open_options()
            .clone()
            .config_overrides(overrides);
        gix::open_opts(self.git_dir(), options)
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

    /// The `locked` file of the linked worktree at `path` when its reason is `initializing`:
    /// what git and gix write while they create a worktree, so one whose creation was cut
    /// short (a killed swarm) stays locked, and can be neither removed nor pruned. A lock
    /// with any other reason is a person's (`git worktree lock`) and is not reported. With
    /// `unlock`, that file is removed.
    pub fn interrupted_creation_lock(
        &self,
        path: &Path,
        unlock: bool,
    ) -> Result<Option<PathBuf>, GitError> {
        let want = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        for p in self.gix().worktrees().ctx(|| "listing worktrees".into())? {
            let Ok(base) = p.base() else { continue };
            let base = base.canonicalize().unwrap_or(base);
            if base != want || p.lock_reason().is_none_or(|r| r != "initializing") {
                continue;
            }
            let file = p.git_dir().join("locked");
            if unlock {
                p.set_lock(None)
                    .ctx(|| format!("unlocking worktree {}", path.display()))?;
            }
            return Ok(Some(file));
        }
        Ok(None)
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
