//! The narrow facade over gix: opening the repository, reading and writing objects, and
//! compare-and-swap reference edits.
//!
//! Every gix call in the crate goes through this module (and its submodules), so the rest of
//! the code speaks in [`ObjectId`]s, full ref names and typed errors. The few things gix
//! cannot do yet (push, moving an existing checkout, `git add`/`commit` in a worker's
//! worktree) live in [`cli`]. This module never prints.

pub mod cli;
mod diff;
mod dry_run;
pub mod follow;
pub mod include;
pub mod inspect;
pub mod lock;
pub mod markers;
pub mod merge;
pub mod worktree;

mod error;
mod objects;
mod refs;

use std::path::{Path, PathBuf};

pub use dry_run::DryRun;
pub(crate) use error::Context;
pub use error::GitError;
use error::open_error;
pub use gix::ObjectId;
use gix::bstr::ByteSlice;
pub use lock::LockFile;
pub use refs::{LOCK_TIMEOUT, LOCK_TIMEOUT_KEY, RefUpdate};

/// The identity used when the user has none configured, so our own commits never fail.
pub const FALLBACK_NAME: &str = "git oompa";
pub const FALLBACK_EMAIL: &str = "oompa@localhost";

/// A repository opened for this thread. Cheap to clone; create one per thread with
/// [`SharedRepo::to_thread_local`].
#[derive(Clone)]
pub struct Repo {
    repo: gix::Repository,
}

/// A repository handle that can be sent to other threads.
#[derive(Clone)]
pub struct SharedRepo(gix::ThreadSafeRepository);

impl SharedRepo {
    pub fn to_thread_local(&self) -> Repo {
        Repo::prepare(self.0.to_thread_local())
    }
}

pub use crate::store::layout::ALWAYS_LOGGED;

/// The first 12 hex digits of an id, for messages.
pub fn short(id: &ObjectId) -> String {
    id.to_hex_with_len(12).to_string()
}

impl Repo {
    /// Finds the repository containing `dir`, refusing bare and reftable repositories.
    pub fn discover(dir: &Path) -> Result<Repo, GitError> {
        let repo = gix::discover(dir).map_err(|e| open_error(dir, e))?;
        if repo.workdir().is_none() {
            return Err(GitError::Bare {
                path: repo.git_dir().to_path_buf(),
            });
        }
        let storage = repo
            .config_snapshot()
            .string("extensions.refStorage")
            .map(|s| s.to_str_lossy().to_ascii_lowercase());
        if storage.as_deref() == Some("reftable") {
            return Err(GitError::Reftable {
                path: repo.git_dir().to_path_buf(),
            });
        }
        Ok(Repo::prepare(repo))
    }

    fn prepare(mut repo: gix::Repository) -> Repo {
        use gix::config::tree::User;
        repo.object_cache_size_if_unset(8 << 20);
        let need_name = repo
            .config_snapshot()
            .string("user.name")
            .is_none_or(|s| s.is_empty());
        let need_email = repo
            .config_snapshot()
            .string("user.email")
            .is_none_or(|s| s.is_empty());
        let env_identity = std::env::var_os("GIT_COMMITTER_NAME").is_some()
            && std::env::var_os("GIT_AUTHOR_NAME").is_some();
        if (need_name || need_email) && !env_identity {
            let mut snap = repo.config_snapshot_mut();
            // Setting a plain string key cannot fail validation; ignore the impossible.
            if need_name {
                let _ = snap.set_value(&User::NAME, FALLBACK_NAME);
            }
            if need_email {
                let _ = snap.set_value(&User::EMAIL, FALLBACK_EMAIL);
            }
            drop(snap);
        }
        Repo { repo }
    }

    pub fn into_shared(self) -> SharedRepo {
        SharedRepo(self.repo.into_sync())
    }

    /// The main work tree's root (for a linked worktree: that worktree's root).
    pub fn workdir(&self) -> &Path {
        self.repo
            .workdir()
            .expect("bare repositories are refused at open")
    }

    /// The root of the main work tree, even when opened from a linked worktree.
    pub fn main_workdir(&self) -> PathBuf {
        // From a linked worktree gix gives `.git/worktrees/<id>/../..`: resolve the `..`s
        // before asking for the parent.
        let common = self.common_dir();
        let common = common
            .canonicalize()
            .unwrap_or_else(|_| common.to_path_buf());
        common
            .parent()
            .filter(|_| common.file_name().is_some_and(|n| n == ".git"))
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.workdir().to_path_buf())
    }

    /// `$GIT_COMMON_DIR`: shared by all worktrees.
    pub fn common_dir(&self) -> &Path {
        self.repo.common_dir()
    }

    pub fn git_dir(&self) -> &Path {
        self.repo.git_dir()
    }

    /// The underlying gix handle, for the sibling modules of the facade.
    #[allow(
        dead_code,
        reason = "kept for the facade's submodules; none needs it yet"
    )]
    pub(crate) fn gix(&self) -> &gix::Repository {
        &self.repo
    }

    /// A string value from the repository configuration.
    pub fn config_string(&self, key: &str) -> Option<String> {
        self.repo
            .config_snapshot()
            .string(key)
            .map(|s| s.to_str_lossy().into_owned())
    }

    /// The short name of the branch HEAD points to, if any (`main`).
    pub fn head_branch(&self) -> Option<String> {
        let name = self.repo.head_name().ok()??;
        Some(name.shorten().to_str_lossy().into_owned())
    }
}
