//! The target branch as the swarm's threads read it, and what happens when it is deleted
//! under a running swarm (`git branch -D main`, `git update-ref -d`): nothing can land and
//! no cycle can start from it, so instead of every worker failing cycle after cycle the first
//! thread to find it gone says so once, with the exact command that puts it back at the last
//! tip the swarm saw, and stops the swarm as one Ctrl-C would (turns in flight finish, their
//! work is kept under `refs/oompa/keep/`, claims go back to pending).
//!
//! The last tip is also kept in `.git/oompa/known-tips/<target ref>` whenever it is seen to
//! move (a landing, a cycle starting on a new tip), so
//! `git oompa doctor` can say the same and `doctor --fix` can put the branch back after the
//! swarm has ended. Never prints: the swarm sends events.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Event, Shared};
use crate::git::{ObjectId, Repo, short};
use crate::store::layout::KEEP_PREFIX;

/// The last tip of the target any thread of the swarm read or landed, and the tip the
/// target's checkouts were last brought to.
#[derive(Debug, Default)]
pub(crate) struct TargetTip {
    last: Mutex<Option<ObjectId>>,
    /// Where the merge queue (plain or gated) last left the target's checkouts: a landing
    /// brings them forward from here, not from a tip someone put on the target outside the
    /// queue (`git update-ref` leaves the checkout where it was; bringing it forward from
    /// the outside tip would leave the outside change staged as undone).
    checkouts_at: Mutex<Option<ObjectId>>,
    /// The deletion was said (once per swarm).
    said: AtomicBool,
}

impl TargetTip {
    /// Remembers `tip`; true when it is new.
    fn remember(&self, tip: ObjectId) -> bool {
        self.last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(tip)
            != Some(tip)
    }

    fn last(&self) -> Option<ObjectId> {
        *self.last.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Why the swarm stops when its target is deleted, and the command that restores it.
pub(crate) fn deleted_message(target: &str, last: Option<ObjectId>) -> (String, String) {
    match last {
        Some(last) => (
            format!(
                "the target branch {target} was deleted outside git oompa (it was at {})",
                short(&last)
            ),
            format!(
                "`git branch {target} {last}` puts it back (or `git oompa doctor --fix`), then \
                 run `git oompa swarm` again; unmerged work is kept under {KEEP_PREFIX} and its \
                 tasks are pending again"
            ),
        ),
        None => (
            format!("the target branch {target} was deleted outside git oompa"),
            format!(
                "`git reflog` in your checkout lists the commits {target} had; `git branch \
                 {target} <commit>` puts it back"
            ),
        ),
    }
}

impl Shared {
    /// The target's tip (`None` when it cannot be read). A target found deleted stops the
    /// swarm, said once with the restore command.
    pub fn read_target(&self, repo: &Repo) -> Option<ObjectId> {
        match repo.read_ref(&self.target_ref) {
            Ok(Some(tip)) => {
                if self.target_tip.remember(tip) {
                    crate::store::known::record_quietly(repo, &self.target_ref, tip);
                }
                Some(tip)
            }
            Ok(None) => {
                self.target_deleted();
                None
            }
            Err(e) => {
                tracing::debug!("reading {}: {e}", self.target_ref);
                None
            }
        }
    }

    /// The target's checkouts are at `tip` when the merge queue starts (unless a landing
    /// already moved them).
    pub fn checkouts_start_at(&self, tip: ObjectId) {
        self.target_tip
            .checkouts_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(tip);
    }

    /// The tip a landing brings the target's checkouts forward from: where the queue last
    /// left them, else `fallback`.
    pub fn checkout_base(&self, fallback: ObjectId) -> ObjectId {
        self.target_tip
            .checkouts_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or(fallback)
    }

    /// The merge queue moved the target (and its checkouts) to `tip`: remembered here and
    /// in the known tips.
    pub fn target_landed(&self, repo: &Repo, tip: ObjectId) {
        *self
            .target_tip
            .checkouts_at
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(tip);
        if self.target_tip.remember(tip) {
            crate::store::known::record_quietly(repo, &self.target_ref, tip);
        }
    }

    /// Says (once) that the target was deleted and stops the swarm; returns why.
    pub fn target_deleted(&self) -> String {
        let (why, hint) = deleted_message(&self.target, self.target_tip.last());
        if !self.target_tip.said.swap(true, Ordering::SeqCst) {
            self.emit(Event::Warning(format!(
                "{why}: nothing can land on it, so the swarm stops (its work is kept)"
            )));
            self.control.give_up_with_hint(why.clone(), hint);
        }
        why
    }
}
