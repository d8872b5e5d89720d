//! The checks of what killed or crashed processes leave behind: worktree metadata without
//! its directory, worktrees and branches of finished swarms, stale lock files, and checkouts
//! of the target a landing cut short left behind.

use super::{Finding, Fix};
use crate::git::{Repo, lock};
use crate::guard::Settings;
use crate::guard::checkout::Follow;
use crate::store::layout::KEEP_PREFIX;

/// Worktree metadata whose directory is gone (git refuses to check their branches out).
pub(super) fn worktrees(repo: &Repo, out: &mut Vec<Finding>) {
    match repo.stale_worktrees() {
        Ok(s) if s.is_empty() => out.push(Finding::ok(
            "worktrees",
            "no worktree metadata without its directory",
        )),
        Ok(s) => out.push(
            Finding::problem(
                "worktrees",
                format!(
                    "worktrees whose directory is gone: {} (git refuses to check their \
                     branches out elsewhere)",
                    s.join(", ")
                ),
                "git worktree prune",
            )
            .fixable(Fix::PruneWorktrees),
        ),
        Err(e) => out.push(Finding::problem(
            "worktrees",
            format!("cannot list the worktrees: {e}"),
            "`git worktree list` shows what git finds",
        )),
    }
}

/// Worktrees and worker branches of swarms that are no longer running (a crash, or a gc
/// that could not finish): what `git oompa gc` would remove.
pub(super) fn swarm_leftovers(repo: &Repo, settings: &Settings, out: &mut Vec<Finding>) {
    let plan = match crate::guard::gc::run(repo, settings, true) {
        Ok(p) => p,
        Err(e) => {
            out.push(Finding::problem(
                "swarm leftovers",
                format!("cannot tell what finished swarms left: {e}"),
                "`git oompa gc --dry-run` says what is wrong",
            ));
            return;
        }
    };
    let mut worktrees = Vec::new();
    let mut branches = Vec::new();
    for a in plan {
        match &a {
            crate::guard::gc::Action::RemoveWorktree { path } => {
                worktrees.push(path.display().to_string())
            }
            crate::guard::gc::Action::DeleteBranch { name, .. } => {
                branches.push(name.trim_start_matches("refs/heads/").to_string())
            }
            _ => {}
        }
    }
    if worktrees.is_empty() && branches.is_empty() {
        out.push(Finding::ok(
            "swarm leftovers",
            "no worktree or worker branch of a finished swarm is left",
        ));
        return;
    }
    let mut parts = Vec::new();
    if !worktrees.is_empty() {
        parts.push(format!(
            "{} worktree(s) ({})",
            worktrees.len(),
            worktrees.join(", ")
        ));
    }
    if !branches.is_empty() {
        parts.push(format!(
            "{} worker branch(es) ({})",
            branches.len(),
            branches.join(", ")
        ));
    }
    out.push(Finding::problem(
        "swarm leftovers",
        format!(
            "swarms that are no longer running left {}",
            parts.join(" and ")
        ),
        format!("git oompa gc (it keeps any unmerged work under {KEEP_PREFIX})"),
    ));
}

/// Checkouts of the target whose index a landing cut short left behind.
pub(super) fn checkouts_follow(repo: &Repo, settings: &Settings, out: &mut Vec<Finding>) {
    let found = crate::guard::checkout::finish(repo, settings, false);
    if found.is_empty() {
        out.push(Finding::ok(
            "checkout",
            format!(
                "every checkout of {} matches it (no landing left one behind)",
                settings.target_short()
            ),
        ));
    }
    for f in found {
        // `doctor --fix` finishes a landing cut short and brings forward a checkout nothing
        // of the person's keeps back.
        let fixable = match &f {
            Follow::CutShort { .. } => true,
            Follow::Behind { behind, .. } => behind.repairable(),
            _ => false,
        };
        let mut finding = Finding::problem(
            "checkout",
            f.describe(),
            f.fix().unwrap_or_else(|| "git oompa doctor --fix".into()),
        );
        if fixable {
            finding = finding.fixable(Fix::FollowTarget);
        }
        out.push(finding);
    }
}

/// Lock files left by killed processes: each one makes every later writer of its file fail.
pub(super) fn locks(repo: &Repo, out: &mut Vec<Finding>) {
    let found = lock::find_locks(repo.common_dir());
    let mut in_use = 0;
    for l in found {
        if l.is_stale() {
            out.push(
                Finding::problem(
                    "locks",
                    format!(
                        "stale lock {}: git commands that write what it locks fail until it \
                         is removed",
                        l.describe()
                    ),
                    l.remove_command(),
                )
                .fixable(Fix::RemoveStaleLock(l.path.clone())),
            );
        } else if l.age >= lock::STALE_AFTER {
            out.push(Finding::problem(
                "locks",
                format!("lock {} has been held for a long time", l.describe()),
                "if that process hangs, end it; the lock is then removed by `git oompa doctor --fix`",
            ));
        } else {
            in_use += 1;
        }
    }
    if !out.iter().any(|f| f.check == "locks") {
        out.push(Finding::ok(
            "locks",
            if in_use == 0 {
                "no lock files left behind".to_string()
            } else {
                format!("{in_use} lock file(s) in use right now, none stale")
            },
        ));
    }
}
