//! Linked worktrees: creating and removing workers' worktrees with gix, finding where a
//! branch is checked out, and reading and moving one checkout's HEAD (where an agent left it,
//! what operation it left in progress) without touching any branch.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use gix::bstr::ByteSlice;

use gix::refs::Target;
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};

use super::{Context, GitError, ObjectId, Repo};

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

/// Where a checkout's HEAD points, and what git operation is left in progress in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadState {
    /// The ref HEAD points to (`refs/heads/x`, which may not exist: unborn); `None` when
    /// HEAD is detached.
    pub branch: Option<String>,
    /// The commit HEAD resolves to; `None` when it is unborn.
    pub commit: Option<ObjectId>,
    /// An operation left in progress: `merge`, `rebase`, `cherry-pick`, `revert`, `am` or
    /// `bisect`.
    pub in_progress: Option<&'static str>,
}

/// Where [`Repo::set_head`] points HEAD.
#[derive(Debug, Clone, Copy)]
pub enum HeadTarget<'a> {
    /// Detached at a commit.
    Detached(ObjectId),
    /// Attached to a branch (a full ref name).
    Branch(&'a str),
}

impl Repo {
    /// Opens the checkout at `path` itself (for a linked worktree: its own HEAD, index, state
    /// and reflogs), not the repository around it.
    pub fn open_checkout(path: &Path) -> Result<Repo, GitError> {
        let repo = gix::open(path).map_err(|e| GitError::NotARepository {
            path: path.to_path_buf(),
            source: Box::new(e),
        })?;
        Ok(Repo::prepare(repo))
    }

    /// This checkout's HEAD and the operation left in progress in it.
    pub fn head_state(&self) -> Result<HeadState, GitError> {
        use gix::state::InProgress;
        let head = self.gix().head().ctx(|| "reading HEAD".into())?;
        let branch = head
            .referent_name()
            .map(|n| n.as_bstr().to_str_lossy().into_owned());
        let commit = head.id().map(gix::Id::detach);
        let mut in_progress = self.gix().state().map(|s| match s {
            InProgress::ApplyMailbox | InProgress::ApplyMailboxRebase => "am",
            InProgress::Bisect => "bisect",
            InProgress::CherryPick | InProgress::CherryPickSequence => "cherry-pick",
            InProgress::Merge => "merge",
            InProgress::Rebase | InProgress::RebaseInteractive => "rebase",
            InProgress::Revert | InProgress::RevertSequence => "revert",
        });
        // A sequence whose current pick was concluded by hand has no *_HEAD file left.
        if in_progress.is_none() && self.git_dir().join("sequencer").is_dir() {
            in_progress = Some("cherry-pick");
        }
        Ok(HeadState {
            branch,
            commit,
            in_progress,
        })
    }

    /// Points this checkout's HEAD at `new` if it is still where `expected` says
    /// (compare-and-swap; a lost race is [`GitError::RefConflict`]). No branch moves, and the
    /// index and files are left as they are.
    pub fn set_head(
        &self,
        expected: &HeadState,
        new: HeadTarget<'_>,
        message: &str,
    ) -> Result<(), GitError> {
        let name = |n: &str| -> Result<gix::refs::FullName, GitError> {
            n.try_into().map_err(|e| GitError::Gix {
                context: format!("invalid ref name {n}"),
                source: gix::Error::from_error(e),
            })
        };
        let expected = match (&expected.branch, expected.commit) {
            (Some(branch), _) => PreviousValue::MustExistAndMatch(Target::Symbolic(name(branch)?)),
            (None, Some(id)) => PreviousValue::MustExistAndMatch(Target::Object(id)),
            (None, None) => PreviousValue::Any,
        };
        let new = match new {
            HeadTarget::Detached(id) => Target::Object(id),
            HeadTarget::Branch(branch) => Target::Symbolic(name(branch)?),
        };
        let edit = RefEdit {
            change: Change::Update {
                log: LogChange {
                    mode: RefLog::AndReference,
                    force_create_reflog: false,
                    message: message.into(),
                },
                expected,
                new,
            },
            name: name("HEAD")?,
            deref: false,
        };
        match self.gix().edit_reference(edit) {
            Ok(_) => Ok(()),
            Err(e) if e.is_conflict() => Err(GitError::RefConflict {
                name: format!("HEAD of {}", self.workdir().display()),
            }),
            Err(e) => Err(GitError::Gix {
                context: format!("moving HEAD of {}", self.workdir().display()),
                source: e,
            }),
        }
    }

    /// [`Repo::stale_worktrees`] with the path each was registered at, when it can be read.
    pub fn stale_worktrees_at(&self) -> Result<Vec<(String, Option<PathBuf>)>, GitError> {
        let mut out = Vec::new();
        for p in self.gix().worktrees().ctx(|| "listing worktrees".into())? {
            if p.is_prunable()
                && let Ok(id) = p.id()
            {
                out.push((id.to_str_lossy().into_owned(), p.base().ok()));
            }
        }
        Ok(out)
    }

    /// Removes the administrative files of the linked worktree registered at `path` when its
    /// directory is gone (what `git worktree prune` does, for this one worktree only). Returns
    /// whether there was anything to remove.
    pub fn prune_worktree(&self, path: &Path) -> Result<bool, GitError> {
        let want = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        for proxy in self.gix().worktrees().ctx(|| "listing worktrees".into())? {
            let base = proxy.base().ok();
            let same = base.is_some_and(|b| b == want || b == path);
            if same && proxy.is_prunable() {
                std::fs::remove_dir_all(proxy.git_dir()).map_err(|e| GitError::Gix {
                    context: format!("removing {}", proxy.git_dir().display()),
                    source: gix::Error::from_error(e),
                })?;
                return Ok(true);
            }
        }
        Ok(false)
    }
}
