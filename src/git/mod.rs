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

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use dry_run::DryRun;
pub use gix::ObjectId;
use gix::bstr::ByteSlice;
use gix::objs::tree::EntryKind;
use gix::refs::Target;
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};
pub use lock::LockFile;

/// What can go wrong talking to the repository.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("not inside a git repository: {path}")]
    NotARepository {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "{path} is a sha256 repository (extensions.objectFormat = sha256); git oompa supports \
         only sha1 repositories for now"
    )]
    Sha256 { path: PathBuf },
    #[error("cannot open the git repository at {path}: {reason}")]
    CannotOpen { path: PathBuf, reason: String },
    #[error("{path} is a bare repository; git oompa needs a work tree")]
    Bare { path: PathBuf },
    #[error("{path} uses the reftable ref format, which git oompa does not support yet")]
    Reftable { path: PathBuf },
    #[error("reference {name} moved while we were updating it")]
    RefConflict { name: String },
    /// A `.lock` file is in the way: never a lost compare-and-swap, and not retried past
    /// [`LOCK_TIMEOUT`] (at once when its owner is gone).
    #[error("{what}: {} {}", lock.describe(), lock_state(lock, *waited))]
    Locked {
        /// What was being done (`updating refs/oompa/tasks`).
        what: String,
        lock: LockFile,
        waited: Duration,
    },
    #[error("{context}")]
    Gix {
        context: String,
        #[source]
        source: gix::Error,
    },
    #[error("object {id} is not a {expected}")]
    WrongObjectKind {
        id: ObjectId,
        expected: &'static str,
    },
    #[error("`git {args}` failed{}: {stderr}", status.map(|s| format!(" (exit {s})")).unwrap_or_default())]
    Command {
        args: String,
        status: Option<i32>,
        stderr: String,
    },
    #[error("could not run git: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("no {role} identity is configured")]
    NoIdentity { role: &'static str },
}

impl GitError {
    /// True when the error is a lost compare-and-swap: the caller should re-read and retry.
    /// A lock in the way is not one ([`GitError::Locked`]): retrying does not remove it.
    pub fn is_conflict(&self) -> bool {
        match self {
            GitError::RefConflict { .. } => true,
            GitError::Gix { source, .. } => source.is_conflict(),
            _ => false,
        }
    }

    /// The message with every cause below it on one line (`Display` shows only the context
    /// of a gix error): for reports that have no room for a cause chain.
    pub fn detail(&self) -> String {
        let mut s = self.to_string();
        let mut cur = std::error::Error::source(self);
        while let Some(c) = cur {
            let text = c.to_string();
            if !text.is_empty() && !s.contains(&text) {
                s.push_str(": ");
                s.push_str(&text);
            }
            cur = c.source();
        }
        s
    }

    /// The lock file in the way, when that is what went wrong.
    pub fn lock(&self) -> Option<&LockFile> {
        match self {
            GitError::Locked { lock, .. } => Some(lock),
            _ => None,
        }
    }
}

/// Why a lock is still in the way, for [`GitError::Locked`].
fn lock_state(lock: &LockFile, waited: Duration) -> String {
    if lock.is_stale() {
        "is left over from a git process that is gone".into()
    } else if waited.is_zero() {
        "is in the way".into()
    } else {
        format!(
            "is still there after waiting {} for its owner",
            lock::age_text(waited)
        )
    }
}

/// How long a ref write waits for the owner of a `.lock` file in its way to finish (the git
/// config key `oompa.lockTimeout`, in milliseconds, overrides it). A lock whose owner is gone
/// fails at once.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// The git config key overriding [`LOCK_TIMEOUT`] (milliseconds).
pub const LOCK_TIMEOUT_KEY: &str = "oompa.lockTimeout";

/// Attaches a human context to gix results.
pub(crate) trait Context<T> {
    fn ctx(self, f: impl FnOnce() -> String) -> Result<T, GitError>;
}

impl<T, E: Into<gix::Error>> Context<T> for Result<T, E> {
    fn ctx(self, f: impl FnOnce() -> String) -> Result<T, GitError> {
        self.map_err(|e| GitError::Gix {
            context: f(),
            source: e.into(),
        })
    }
}

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

/// One reference update inside a multi-ref transaction.
#[derive(Debug, Clone)]
pub struct RefUpdate {
    pub name: String,
    /// `None`: the ref must not exist yet.
    pub expected: Option<ObjectId>,
    /// `None`: delete the ref.
    pub new: Option<ObjectId>,
    pub message: String,
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

    /// Resolves a full ref name to the object it points to (peeled to a commit id for
    /// annotated tags), or `None` when the ref does not exist.
    pub fn read_ref(&self, name: &str) -> Result<Option<ObjectId>, GitError> {
        let r = self
            .repo
            .try_find_reference(name)
            .ctx(|| format!("reading {name}"))?;
        match r {
            None => Ok(None),
            Some(mut r) => Ok(Some(
                r.peel_to_id().ctx(|| format!("resolving {name}"))?.detach(),
            )),
        }
    }

    /// Full names of every ref under `prefix` (`refs/oompa/keep/`), with their targets.
    pub fn refs_with_prefix(&self, prefix: &str) -> Result<Vec<(String, ObjectId)>, GitError> {
        let platform = self.repo.references().ctx(|| "listing references".into())?;
        let iter = platform
            .prefixed(prefix)
            .ctx(|| format!("listing references under {prefix}"))?;
        let mut out = Vec::new();
        for r in iter {
            let mut r = r.map_err(|source| GitError::Gix {
                context: format!("listing references under {prefix}"),
                source,
            })?;
            let name = r.name().as_bstr().to_str_lossy().into_owned();
            if let Ok(id) = r.peel_to_id() {
                out.push((name, id.detach()));
            }
        }
        Ok(out)
    }

    /// Resolves a revision expression (`HEAD`, `main~2`, a hex id) to an object id.
    pub fn rev_parse(&self, spec: &str) -> Result<ObjectId, GitError> {
        Ok(self
            .repo
            .rev_parse_single(spec)
            .ctx(|| format!("resolving `{spec}`"))?
            .detach())
    }

    pub fn write_blob(&self, data: &[u8]) -> Result<ObjectId, GitError> {
        Ok(self
            .repo
            .write_blob(data)
            .ctx(|| "writing a blob".into())?
            .detach())
    }

    pub fn read_blob(&self, id: ObjectId) -> Result<Vec<u8>, GitError> {
        let obj = self
            .repo
            .find_object(id)
            .ctx(|| format!("reading object {id}"))?;
        if obj.kind != gix::object::Kind::Blob {
            return Err(GitError::WrongObjectKind {
                id,
                expected: "blob",
            });
        }
        Ok(obj.detach().data)
    }

    /// The tree of a commit.
    pub fn commit_tree(&self, commit: ObjectId) -> Result<ObjectId, GitError> {
        let c = self
            .repo
            .find_commit(commit)
            .ctx(|| format!("reading commit {commit}"))?;
        Ok(c.tree_id()
            .ctx(|| format!("reading commit {commit}"))?
            .detach())
    }

    /// Parents of a commit, in order.
    pub fn commit_parents(&self, commit: ObjectId) -> Result<Vec<ObjectId>, GitError> {
        let c = self
            .repo
            .find_commit(commit)
            .ctx(|| format!("reading commit {commit}"))?;
        Ok(c.parent_ids().map(|id| id.detach()).collect())
    }

    /// The full message of a commit.
    pub fn commit_message(&self, commit: ObjectId) -> Result<String, GitError> {
        let c = self
            .repo
            .find_commit(commit)
            .ctx(|| format!("reading commit {commit}"))?;
        let msg = c.message_raw().ctx(|| format!("reading commit {commit}"))?;
        Ok(msg.to_str_lossy().into_owned())
    }

    /// The entry at `path` in `tree`: whether it is a tree, and its id.
    fn entry_at(&self, tree: ObjectId, path: &str) -> Result<Option<(bool, ObjectId)>, GitError> {
        let root = self
            .repo
            .find_tree(tree)
            .ctx(|| format!("reading tree {tree}"))?;
        let entry = root
            .lookup_entry_by_path(path)
            .ctx(|| format!("looking up {path} in tree {tree}"))?;
        Ok(entry
            .filter(|e| e.mode().is_tree() || e.mode().is_blob())
            .map(|e| (e.mode().is_tree(), e.object_id())))
    }

    /// Entries (`name`, blob id) of the subtree at `dir` of `tree`; empty when absent.
    pub fn list_dir(&self, tree: ObjectId, dir: &str) -> Result<Vec<(String, ObjectId)>, GitError> {
        let Some(sub) = self.lookup_tree(tree, dir)? else {
            return Ok(Vec::new());
        };
        let sub = self
            .repo
            .find_tree(sub)
            .ctx(|| format!("reading tree {dir}/"))?;
        let mut out = Vec::new();
        for e in sub.iter() {
            let e = e.ctx(|| format!("reading tree {dir}/"))?;
            out.push((e.filename().to_str_lossy().into_owned(), e.object_id()));
        }
        Ok(out)
    }

    /// The names of the entries at the root of `tree`, each with whether it is a tree.
    pub fn tree_names(&self, tree: ObjectId) -> Result<Vec<(String, bool)>, GitError> {
        let t = self
            .repo
            .find_tree(tree)
            .ctx(|| format!("reading tree {tree}"))?;
        let mut out = Vec::new();
        for e in t.iter() {
            let e = e.ctx(|| format!("reading tree {tree}"))?;
            out.push((e.filename().to_str_lossy().into_owned(), e.mode().is_tree()));
        }
        Ok(out)
    }

    /// The blob at `path` in `tree`, if any.
    pub fn lookup_path(&self, tree: ObjectId, path: &str) -> Result<Option<ObjectId>, GitError> {
        Ok(self
            .entry_at(tree, path)?
            .filter(|(is_tree, _)| !is_tree)
            .map(|(_, id)| id))
    }

    /// The subtree at `path` in `tree`, if there is one (a blob there is `None`).
    pub fn lookup_tree(&self, tree: ObjectId, path: &str) -> Result<Option<ObjectId>, GitError> {
        Ok(self
            .entry_at(tree, path)?
            .filter(|(is_tree, _)| *is_tree)
            .map(|(_, id)| id))
    }

    /// Every blob under `tree`, at any depth, as (`dir/sub/name`, blob id): a tree's own blobs
    /// first, then its subtrees', each level in tree order. Symlinks and submodule links are
    /// left out.
    pub fn list_blobs_recursive(
        &self,
        tree: ObjectId,
    ) -> Result<Vec<(String, ObjectId)>, GitError> {
        let mut out = Vec::new();
        let mut pending = vec![(String::new(), tree)];
        while let Some((prefix, id)) = pending.pop() {
            let t = self
                .repo
                .find_tree(id)
                .ctx(|| format!("reading tree {id} ({prefix}/)"))?;
            let mut subtrees = Vec::new();
            for e in t.iter() {
                let e = e.ctx(|| format!("reading tree {id} ({prefix}/)"))?;
                let name = e.filename().to_str_lossy();
                let path = if prefix.is_empty() {
                    name.into_owned()
                } else {
                    format!("{prefix}/{name}")
                };
                if e.mode().is_tree() {
                    subtrees.push((path, e.object_id()));
                } else if e.mode().is_blob() {
                    out.push((path, e.object_id()));
                }
            }
            // Depth first, in tree order: the stack takes the last subtree first.
            pending.extend(subtrees.into_iter().rev());
        }
        Ok(out)
    }

    /// Whether `id` names a commit in this repository (`false` when absent or another kind).
    pub fn is_commit(&self, id: ObjectId) -> Result<bool, GitError> {
        let header = self
            .repo
            .try_find_header(id)
            .ctx(|| format!("looking up object {id}"))?;
        Ok(header.is_some_and(|h| h.kind() == gix::object::Kind::Commit))
    }

    /// Applies `changes` (path → new blob, or `None` to remove) to `base` and writes the tree.
    pub fn edit_tree(
        &self,
        base: Option<ObjectId>,
        changes: &[(String, Option<ObjectId>)],
    ) -> Result<ObjectId, GitError> {
        let base = base.unwrap_or_else(|| ObjectId::empty_tree(self.repo.object_hash()));
        let mut ed = self
            .repo
            .edit_tree(base)
            .ctx(|| format!("editing tree {base}"))?;
        for (path, blob) in changes {
            match blob {
                Some(id) => {
                    ed.upsert(path.as_str(), EntryKind::Blob, *id)
                        .ctx(|| format!("adding {path} to a tree"))?;
                }
                None => {
                    ed.remove(path.as_str())
                        .ctx(|| format!("removing {path} from a tree"))?;
                }
            }
        }
        Ok(ed.write().ctx(|| "writing a tree".into())?.detach())
    }

    /// Writes a commit object (no ref is moved) with the configured (or fallback) identity,
    /// dated now (or at `GIT_AUTHOR_DATE` / `GIT_COMMITTER_DATE` when set, as git does).
    pub fn commit(
        &self,
        message: &str,
        tree: ObjectId,
        parents: &[ObjectId],
    ) -> Result<ObjectId, GitError> {
        let now = gix::date::Time::now_local_or_utc();
        let committer = self.signature(Role::Committer, now)?;
        let author = self.signature(Role::Author, now)?;
        let (mut committer_time, mut author_time) = Default::default();
        Ok(self
            .repo
            .new_commit_as(
                committer.to_ref(&mut committer_time),
                author.to_ref(&mut author_time),
                message,
                tree,
                parents.iter().copied(),
            )
            .ctx(|| "writing a commit".into())?
            .id)
    }

    /// The configured (or fallback) author or committer, dated `now` unless the environment
    /// fixes the date (`GIT_AUTHOR_DATE`, `GIT_COMMITTER_DATE`). gix dates its own signature
    /// the first time a repository handle asks for it and then keeps that date, so a
    /// long-running swarm would stamp every commit and reflog entry with its start time.
    fn signature(
        &self,
        role: Role,
        now: gix::date::Time,
    ) -> Result<gix::actor::Signature, GitError> {
        let (found, date_key) = match role {
            Role::Committer => (self.repo.committer(), "gitoxide.commit.committerDate"),
            Role::Author => (self.repo.author(), "gitoxide.commit.authorDate"),
        };
        let what = match role {
            Role::Committer => "committer",
            Role::Author => "author",
        };
        let sig = found
            .ok_or_else(|| GitError::NoIdentity { role: what })?
            .ctx(|| format!("reading the {what} identity"))?;
        let mut sig = gix::actor::Signature::from(sig);
        if self.repo.config_snapshot().string(date_key).is_none() {
            sig.time = now;
        }
        Ok(sig)
    }

    /// Moves one ref with compare-and-swap: `expected = None` means it must not exist yet.
    pub fn cas_ref(
        &self,
        name: &str,
        expected: Option<ObjectId>,
        new: ObjectId,
        message: &str,
    ) -> Result<(), GitError> {
        self.transaction(&[RefUpdate {
            name: name.to_string(),
            expected,
            new: Some(new),
            message: message.to_string(),
        }])
    }

    /// Applies all `updates` or none of them. A stale expectation anywhere is
    /// [`GitError::RefConflict`] naming a ref of the transaction.
    pub fn transaction(&self, updates: &[RefUpdate]) -> Result<(), GitError> {
        let mut edits = Vec::with_capacity(updates.len());
        for u in updates {
            let expected = match u.expected {
                Some(id) => PreviousValue::MustExistAndMatch(Target::Object(id)),
                None => PreviousValue::MustNotExist,
            };
            let change = match u.new {
                Some(new) => Change::Update {
                    log: LogChange {
                        mode: RefLog::AndReference,
                        force_create_reflog: ALWAYS_LOGGED.iter().any(|p| u.name.starts_with(p)),
                        message: u.message.clone().into(),
                    },
                    expected,
                    new: Target::Object(new),
                },
                None => Change::Delete {
                    expected,
                    log: RefLog::AndReference,
                },
            };
            edits.push(RefEdit {
                change,
                name: u.name.as_str().try_into().map_err(|e| GitError::Gix {
                    context: format!("invalid ref name {}", u.name),
                    source: gix::Error::from_error(e),
                })?,
                deref: false,
            });
        }
        let names = || {
            updates
                .iter()
                .map(|u| u.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let wait = self.lock_timeout();
        let started = Instant::now();
        let mut pause = Duration::from_millis(5);
        let common = self.common_dir();
        let may_lock: Vec<PathBuf> = updates
            .iter()
            .map(|u| common.join(format!("{}.lock", u.name)))
            .chain(std::iter::once(common.join("packed-refs.lock")))
            .collect();
        let mut removed: Vec<PathBuf> = Vec::new();
        loop {
            let intent = lock::Intent::begin(common, &may_lock);
            // The reflog entries are dated now too (see `signature`). Without any identity,
            // only edits that write no reflog can succeed, as before.
            let committer = self
                .signature(Role::Committer, gix::date::Time::now_local_or_utc())
                .ok();
            let mut time = Default::default();
            let committer = committer.as_ref().map(|c| c.to_ref(&mut time));
            let mut result = self.repo.edit_references_as(edits.clone(), committer);
            // Two transactions that both delete refs can race on removing an emptied
            // packed-refs file: the loser fails with "Could not delete empty packed refs: No
            // such file or directory" and changes nothing. The file is gone by then, so a
            // retry works.
            for _ in 0..3 {
                match &result {
                    Err(e) if updates.iter().any(|u| u.new.is_none()) && is_not_found_io(e) => {
                        tracing::debug!("packed-refs removal race; retrying the transaction");
                        result = self.repo.edit_references_as(edits.clone(), committer);
                    }
                    _ => break,
                }
            }
            drop(intent);
            let e = match result {
                Ok(_) => return Ok(()),
                Err(e) if e.is_conflict() => return Err(GitError::RefConflict { name: names() }),
                Err(e) => e,
            };
            if !e.is_retryable() {
                return Err(GitError::Gix {
                    context: format!("updating {}", names()),
                    source: e,
                });
            }
            // A lock is in the way. Left by a transaction of ours whose process is gone: it
            // is removed and the write goes on. Otherwise its owner is alive (wait a little,
            // it is about to finish) or gone (it never will: say which file, at once).
            let waited = started.elapsed();
            let lock = self.lock_in_the_way(updates);
            if let Some(l) = &lock
                && !removed.contains(&l.path)
                && lock::left_by_dead_writer(common, l)
                && std::fs::remove_file(&l.path).is_ok()
            {
                tracing::info!(
                    "removed {}, left by a git oompa process that was killed",
                    l.path.display()
                );
                removed.push(l.path.clone());
                lock::sweep_spent_intents(common);
                continue;
            }
            let give_up = waited >= wait || lock.as_ref().is_some_and(LockFile::is_stale);
            if give_up {
                let lock = lock.and_then(|l| LockFile::inspect_with_holders(&l.path));
                return Err(match lock {
                    Some(lock) => GitError::Locked {
                        what: format!("cannot update {}", names()),
                        lock,
                        waited,
                    },
                    None => GitError::Gix {
                        context: format!("updating {}", names()),
                        source: e,
                    },
                });
            }
            tracing::debug!(
                ?lock,
                "a lock is in the way of updating {}; waiting",
                names()
            );
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    /// How long a ref write waits for a live lock holder: `oompa.lockTimeout` (milliseconds)
    /// or [`LOCK_TIMEOUT`].
    fn lock_timeout(&self) -> Duration {
        self.repo
            .config_snapshot()
            .integer(LOCK_TIMEOUT_KEY)
            .and_then(|ms| u64::try_from(ms).ok())
            .map_or(LOCK_TIMEOUT, Duration::from_millis)
    }

    /// The lock file that keeps `updates` from being written, if one is there: a ref's own
    /// lock or `packed-refs.lock` (all our refs live in the common directory).
    fn lock_in_the_way(&self, updates: &[RefUpdate]) -> Option<LockFile> {
        let common = self.common_dir();
        updates
            .iter()
            .map(|u| common.join(format!("{}.lock", u.name)))
            .chain(std::iter::once(common.join("packed-refs.lock")))
            .find_map(|p| LockFile::inspect(&p))
    }

    /// Whether `ancestor` is reachable from `descendant` (or equal to it), as
    /// `git merge-base --is-ancestor ancestor descendant` answers; `false` when either is not
    /// a commit here. The one ancestry check: arguments in git's order, ancestor first.
    ///
    /// It first walks down from `descendant`, breadth-first, following only commits dated at
    /// most [`inspect::ANCESTOR_WALK_DATE_SLACK_SECS`] before `ancestor`: a commit near the
    /// tip (a landing, the previous target) is found in a few steps whatever the size of the
    /// repository, where a merge base would also paint the ancestor's own history. Reaching
    /// it is a sure yes, and a walk that left nothing out is a sure no. When the walk left
    /// out older-dated history (the ancestor is not there, or commit dates are skewed: a
    /// commit dated years back or in the future), the merge-base computation decides, so
    /// dates never make the answer wrong.
    pub fn is_ancestor(&self, ancestor: ObjectId, descendant: ObjectId) -> Result<bool, GitError> {
        if ancestor == descendant {
            return Ok(true);
        }
        if !self.is_commit(ancestor)? || !self.is_commit(descendant)? {
            return Ok(false);
        }
        let floor = self
            .commit_time(ancestor)?
            .saturating_sub(inspect::ANCESTOR_WALK_DATE_SLACK_SECS);
        match self.walk_down_to(descendant, ancestor, floor)? {
            inspect::Walk::Found => Ok(true),
            inspect::Walk::Exhausted => Ok(false),
            inspect::Walk::Cut => self.merge_base_is(ancestor, descendant),
        }
    }

    /// Whether the merge base of the two commits is `ancestor` (the exact, possibly slower,
    /// half of [`Repo::is_ancestor`]).
    fn merge_base_is(&self, ancestor: ObjectId, descendant: ObjectId) -> Result<bool, GitError> {
        match self.repo.merge_base(ancestor, descendant) {
            Ok(base) => Ok(base.is_some_and(|b| b.detach() == ancestor)),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(GitError::Gix {
                context: format!("finding the merge base of {ancestor} and {descendant}"),
                source: e,
            }),
        }
    }
}

/// Why `gix::discover` failed: no repository at all, or one that was found but cannot be
/// opened (a sha256 repository, which this build cannot read; a broken config), which must
/// not be reported as "not inside a git repository".
fn open_error(dir: &Path, e: gix::Error) -> GitError {
    let Ok((found, _)) = gix::discover::upwards(dir) else {
        return GitError::NotARepository {
            path: dir.to_path_buf(),
            source: Box::new(e),
        };
    };
    let (git_dir, _) = found.into_repository_and_work_tree_directories();
    let detail = format!("{e:?}");
    tracing::debug!("opening {}: {detail}", git_dir.display());
    if e.is_unsupported() && detail.to_ascii_lowercase().contains("sha256") {
        return GitError::Sha256 { path: git_dir };
    }
    // The chain's messages, most specific last: "…could not be loaded: Could not parse
    // configuration: …".
    let mut reason = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        let text = c.to_string();
        // gix puts bare classifications (`Validation`) in the chain; they say nothing here.
        if text.contains(' ') {
            reason.push_str(": ");
            reason.push_str(text.trim());
        }
        cause = c.source();
    }
    let reason = reason.replace('\n', " ");
    GitError::CannotOpen {
        path: git_dir,
        reason,
    }
}

/// Whose signature a commit needs.
#[derive(Debug, Clone, Copy)]
enum Role {
    Author,
    Committer,
}

/// Whether an I/O "not found" is somewhere in the error's chain.
fn is_not_found_io(e: &gix::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound)
        {
            return true;
        }
        cur = err.source();
    }
    false
}
