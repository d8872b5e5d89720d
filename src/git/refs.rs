//! Reading refs and moving them: every ref write is a compare-and-swap inside one gix
//! transaction that waits out (or clears) a `.lock` file in its way.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use gix::bstr::ByteSlice;
use gix::refs::Target;
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};

use super::error::{Context, is_not_found_io};
use super::objects::Role;
use super::{ALWAYS_LOGGED, GitError, LockFile, ObjectId, Repo, lock};

/// How long a ref write waits for the owner of a `.lock` file in its way to finish (the git
/// config key `oompa.lockTimeout`, in milliseconds, overrides it). A lock whose owner is gone
/// fails at once.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// The git config key overriding [`LOCK_TIMEOUT`] (milliseconds).
pub const LOCK_TIMEOUT_KEY: &str = "oompa.lockTimeout";

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
        let edits = ref_edits(updates)?;
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
            let e = match self.edit_once(&edits, updates, common, &may_lock) {
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

    /// One attempt at the edits (with the intent record that lets a later process clear a
    /// lock this one leaves behind if it is killed); `updates` are the edits' sources.
    fn edit_once(
        &self,
        edits: &[RefEdit],
        updates: &[RefUpdate],
        common: &std::path::Path,
        may_lock: &[PathBuf],
    ) -> Result<(), gix::Error> {
        let intent = lock::Intent::begin(common, may_lock);
        // The reflog entries are dated now too (see `signature`). Without any identity,
        // only edits that write no reflog can succeed, as before.
        let committer = self
            .signature(Role::Committer, gix::date::Time::now_local_or_utc())
            .ok();
        let mut time = Default::default();
        let committer = committer.as_ref().map(|c| c.to_ref(&mut time));
        let mut result = self.repo.edit_references_as(edits.to_vec(), committer);
        // Two transactions that both delete refs can race on removing an emptied
        // packed-refs file: the loser fails with "Could not delete empty packed refs: No
        // such file or directory" and changes nothing. The file is gone by then, so a
        // retry works.
        for _ in 0..3 {
            match &result {
                Err(e) if updates.iter().any(|u| u.new.is_none()) && is_not_found_io(e) => {
                    tracing::debug!("packed-refs removal race; retrying the transaction");
                    result = self.repo.edit_references_as(edits.to_vec(), committer);
                }
                _ => break,
            }
        }
        drop(intent);
        result.map(drop)
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
}

/// The gix edits for `updates`: compare-and-swap against each expectation, with a reflog
/// entry (forced for the refs in [`ALWAYS_LOGGED`]).
fn ref_edits(updates: &[RefUpdate]) -> Result<Vec<RefEdit>, GitError> {
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
    Ok(edits)
}
