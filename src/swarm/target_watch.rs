//! What the merge queue remembers of its target between landings: the tip it last put there
//! (or found at start). A target that moved outside the queue (a person's `git commit` or
//! `git update-ref`, a hook bypassed from a worker's worktree) is noticed at the next
//! landing, said once with its commit and author, and landed on top of; and the target's
//! checkouts follow from the tip they were last brought to, so the outside move's changes
//! reach them too instead of standing in the way of every later landing.
//!
//! Never prints: the merge queue sends what it returns as a warning.

use crate::git::short;
use crate::git::{ObjectId, Repo};

/// The merge queue's memory of its target.
#[derive(Debug, Clone, Default)]
pub(crate) struct TargetWatch {
    /// The tip the queue last landed (or found at start): where the target's checkouts are.
    pub last: Option<ObjectId>,
    /// The outside tip already reported.
    reported: Option<ObjectId>,
}

impl TargetWatch {
    pub fn new(repo: &Repo, target_ref: &str) -> TargetWatch {
        TargetWatch {
            last: repo.read_ref(target_ref).ok().flatten(),
            reported: None,
        }
    }

    /// What to say, once per outside tip, when `tip` is not where the queue left the target.
    pub fn moved_outside(&mut self, repo: &Repo, target: &str, tip: ObjectId) -> Option<String> {
        let last = self.last?;
        if tip == last || self.reported == Some(tip) {
            return None;
        }
        self.reported = Some(tip);
        let subject = repo
            .commit_message(tip)
            .ok()
            .and_then(|m| m.lines().next().map(str::to_string))
            .unwrap_or_default();
        let author = repo
            .commit_author(tip)
            .unwrap_or_else(|_| "an unknown author".into());
        let behind = if repo.is_ancestor(last, tip).unwrap_or(false) {
            String::new()
        } else {
            format!("; {} is no longer in it", short(&last))
        };
        Some(format!(
            "{target} was moved outside the merge queue, from {} to {} (\"{subject}\" by \
             {author}){behind}; landing on top of it from now on",
            short(&last),
            short(&tip),
        ))
    }

    /// The tip a checkout of the target is brought forward from.
    pub fn checkout_base(&self, tip: ObjectId) -> ObjectId {
        self.last.unwrap_or(tip)
    }

    /// Whether `commit` reached the target only with an outside move (it is not in the tip
    /// the queue left there).
    pub fn came_from_outside(&self, repo: &Repo, commit: ObjectId) -> bool {
        self.last
            .is_some_and(|last| !repo.is_ancestor(commit, last).unwrap_or(true))
    }

    /// The queue moved the target to `commit`.
    pub fn landed(&mut self, commit: ObjectId) {
        self.last = Some(commit);
    }
}
