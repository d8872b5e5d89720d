//! A read-only view of the repository for many dry-run merges in a row on one thread.
//!
//! [`DryRun`] holds a thread-local gix repository whose object writes go to memory, with its
//! own object cache, so a thread can check hundreds of merges without re-creating either (a
//! [`Repo::check_merge`] clones its repository per call, which starts with a cold cache). It
//! offers only reads and in-memory merges: it can never write an object to disk or move a ref.

use super::merge::{Merge, merge_with};
use super::{GitError, ObjectId, Repo, SharedRepo};

/// One thread's handle for dry runs (it is not `Sync`): make one per thread with
/// [`SharedRepo::dry_run`].
pub struct DryRun {
    repo: gix::Repository,
}

impl SharedRepo {
    /// A handle for this thread whose object writes stay in memory.
    pub fn dry_run(&self) -> DryRun {
        let Repo { repo } = self.to_thread_local();
        DryRun {
            repo: repo.with_object_memory(),
        }
    }
}

impl DryRun {
    /// Like [`Repo::check_merge`]: whether `theirs` merges cleanly into `ours`. The objects the
    /// merge creates are dropped afterwards, so memory stays bounded over many calls.
    pub fn check_merge(&self, ours: ObjectId, theirs: ObjectId) -> Result<Merge, GitError> {
        let result = merge_with(&self.repo, ours, theirs);
        self.repo.objects.reset_object_memory();
        result
    }

    /// Like [`Repo::merge_base`].
    pub fn merge_base(&self, a: ObjectId, b: ObjectId) -> Result<Option<ObjectId>, GitError> {
        super::merge::merge_base(&self.repo, a, b)
    }

    /// Like [`Repo::changed_paths`].
    pub fn changed_paths(
        &self,
        base: Option<ObjectId>,
        tip: ObjectId,
    ) -> Result<Vec<String>, GitError> {
        super::diff::changed_paths(&self.repo, base, tip)
    }

    /// How many objects are held in memory right now (0 between calls).
    pub fn objects_in_memory(&self) -> usize {
        self.repo.objects.num_objects_in_memory()
    }
}
