//! `doctor`: every health check git oompa knows, each problem with the command that fixes
//! it, and the fixes that are safe to apply unasked (nothing is lost by any of them: hooks,
//! a config value, worktree metadata of directories that are gone, claims of gone owners
//! returned to pending with their work kept, lost cycle records merged back, a replaced queue
//! put back with the replacement kept under `refs/oompa/replaced/`, a task found in two
//! states kept in the most advanced one).
//!
//! The checks live by topic in `setup`, `target`, `queue`, `cycle_log` and `leftovers`;
//! the fixes in `fix`. The reftable check happens before a [`Repo`] can exist; the command
//! does it. Never prints.

mod cycle_log;
mod fix;
mod leftovers;
mod queue;
mod refs;
mod setup;
mod target;

use std::path::PathBuf;

use super::Settings;
use crate::git::{ObjectId, Repo};
use crate::store::TaskId;

pub use crate::store::layout::EXCLUDE_DECORATION;
pub use fix::{FixError, accept, apply};

/// A repair doctor can make on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fix {
    /// Everything `git oompa hooks install` does (idempotent).
    InstallHooks,
    PruneWorktrees,
    RecoverClaims,
    MergeNotes(ObjectId),
    ExcludeDecoration,
    /// Point the queue back at the last tip git oompa knew.
    RestoreQueue,
    /// Point the cycle log back at its last commit (it points at something else).
    RestoreNotes,
    /// Keep a task found in several states in the most advanced one only.
    ResolveDuplicate(TaskId),
    /// Remove a lock file whose owner is gone (checked again right before).
    RemoveStaleLock(PathBuf),
    /// Bring checkouts of the target forward that a landing cut short left behind.
    FollowTarget,
    /// Point a ref of git oompa's that holds a blob or a tree back at a commit.
    RepairRefKind(String),
    /// Create a target branch deleted outside git oompa again at its last seen tip.
    RestoreTarget(String, ObjectId),
}

/// The result of one check.
#[derive(Debug, Clone)]
pub struct Finding {
    /// Short name of the check (`hooks`, `identity`, …).
    pub check: &'static str,
    pub ok: bool,
    pub detail: String,
    /// What the user can run (for problems).
    pub hint: Option<String>,
    /// What `--fix` would do (for problems it can repair).
    pub fix: Option<Fix>,
}

impl Finding {
    fn ok(check: &'static str, detail: impl Into<String>) -> Finding {
        Finding {
            check,
            ok: true,
            detail: detail.into(),
            hint: None,
            fix: None,
        }
    }

    fn problem(check: &'static str, detail: impl Into<String>, hint: impl Into<String>) -> Finding {
        Finding {
            check,
            ok: false,
            detail: detail.into(),
            hint: Some(hint.into()),
            fix: None,
        }
    }

    fn fixable(mut self, fix: Fix) -> Finding {
        self.fix = Some(fix);
        self
    }
}

/// Runs every check, problems and all-clears alike, in a stable order.
pub fn diagnose(repo: &Repo, settings: &Settings) -> Vec<Finding> {
    let mut out = vec![Finding::ok(
        "ref storage",
        "files (not reftable), which git oompa needs",
    )];
    setup::hooks_findings(repo, settings, &mut out);
    out.push(setup::identity(repo));
    out.push(target::target(repo, settings));
    if let Some(f) = target::conflict_markers(repo, settings) {
        out.push(f);
    }
    queue::queue(repo, &mut out);
    refs::ref_kinds(repo, &mut out);
    leftovers::worktrees(repo, &mut out);
    leftovers::swarm_leftovers(repo, settings, &mut out);
    leftovers::locks(repo, &mut out);
    leftovers::checkouts_follow(repo, settings, &mut out);
    queue::claims(repo, &mut out);
    cycle_log::notes(repo, &mut out);
    target::landings(repo, settings, &mut out);
    out.push(setup::decorations(repo));
    out
}

/// What `doctor` found and, with `--fix`, what each fix did.
#[derive(Debug)]
pub struct Report {
    /// Every check's finding, problems and all-clears alike, in the order of [`diagnose`].
    pub findings: Vec<Finding>,
    /// Each distinct fix that was applied, once, with what it did or why it failed.
    pub applied: Vec<(Fix, Result<String, FixError>)>,
}

impl Report {
    /// What the fix of `finding` did, when it was applied.
    pub fn outcome(&self, finding: &Finding) -> Option<&Result<String, FixError>> {
        let fix = finding.fix.as_ref()?;
        self.applied
            .iter()
            .find(|(done, _)| done == fix)
            .map(|(_, r)| r)
    }
}

/// Runs every check and, with `fix`, applies the fixes of the problems found, each distinct
/// fix once (several findings can share one, such as `InstallHooks`).
pub fn check(repo: &Repo, settings: &Settings, fix: bool) -> Report {
    let findings = diagnose(repo, settings);
    let mut applied: Vec<(Fix, Result<String, FixError>)> = Vec::new();
    if fix {
        for f in &findings {
            let Some(fix) = &f.fix else { continue };
            if applied.iter().any(|(done, _)| done == fix) {
                continue;
            }
            applied.push((fix.clone(), apply(repo, settings, fix)));
        }
    }
    Report { findings, applied }
}
