//! `doctor`: every health check git oompa knows, each problem with the command that fixes
//! it, and the fixes that are safe to apply unasked (nothing is lost by any of them: hooks,
//! a config value, worktree metadata of directories that are gone, claims of gone owners
//! returned to pending with their work kept, lost cycle records merged back, a replaced queue
//! put back with the replacement kept under `refs/oompa/replaced/`, a task found in two
//! states kept in the most advanced one).
//!
//! The reftable check happens before a [`Repo`] can exist; the command does it. Never prints.

use std::path::PathBuf;

use super::invariants::{self, Violation};
use super::{Settings, hooks, short};
use crate::git::{FALLBACK_EMAIL, FALLBACK_NAME, GitError, LockFile, ObjectId, Repo, cli, lock};
use crate::store::layout::{self, KEEP_PREFIX, REPLACED_PREFIX};
use crate::store::notes::{NOTES_REF, Notes, NotesError};
use crate::store::{QUEUE_REF, Queue, QueueError, State, TaskId};

pub use crate::store::layout::EXCLUDE_DECORATION;

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
    /// Create a target branch deleted outside git oompa again at its last landed tip.
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
    hooks_findings(repo, settings, &mut out);
    out.push(identity(repo));
    out.push(target(repo, settings));
    if let Some(f) = conflict_markers(repo, settings) {
        out.push(f);
    }
    queue(repo, &mut out);
    ref_kinds(repo, &mut out);
    worktrees(repo, &mut out);
    swarm_leftovers(repo, settings, &mut out);
    locks(repo, &mut out);
    checkouts_follow(repo, settings, &mut out);
    let damaged = invariants::queue_damaged(repo).is_some();
    match invariants::orphaned_claims(repo) {
        // The claims of a replaced queue are not the queue's: restore it first.
        _ if damaged => {}
        Ok(v) if v.is_empty() => out.push(Finding::ok("claims", "every claim has a live owner")),
        Ok(v) => {
            for violation in v {
                out.push(
                    Finding::problem("claims", violation.describe(), violation.fix())
                        .fixable(Fix::RecoverClaims),
                );
            }
        }
        Err(e) => out.push(Finding::problem(
            "claims",
            format!("cannot read the claims: {e}"),
            "`git oompa task list` shows what is wrong with the queue",
        )),
    }
    notes(repo, &mut out);
    if let Some(t) = &settings.target_ref {
        match invariants::target_moves(repo, t) {
            Ok(v) if v.is_empty() => out.push(Finding::ok(
                "landings",
                format!(
                    "{} moved only through the merge queue lately",
                    settings.target_short()
                ),
            )),
            Ok(v) => {
                for violation in v {
                    out.push(Finding::problem(
                        "landings",
                        violation.describe(),
                        violation.fix(),
                    ));
                }
            }
            Err(e) => out.push(Finding::problem(
                "landings",
                format!("cannot read the reflog of {t}: {e}"),
                format!("`git reflog show {t}` shows what git finds"),
            )),
        }
    }
    let decorations = repo.config_strings("log.excludeDecoration");
    if decorations.iter().any(|d| d == EXCLUDE_DECORATION) {
        out.push(Finding::ok(
            "log decorations",
            format!("log.excludeDecoration has {EXCLUDE_DECORATION}"),
        ));
    } else {
        out.push(
            Finding::problem(
                "log decorations",
                format!(
                    "log.excludeDecoration does not have {EXCLUDE_DECORATION}: `git log \
                     --decorate` shows git oompa's bookkeeping refs"
                ),
                format!("git config --add log.excludeDecoration '{EXCLUDE_DECORATION}'"),
            )
            .fixable(Fix::ExcludeDecoration),
        );
    }
    out
}

/// One of your hooks directories: pre-push installed, no reference-transaction of ours.
fn user_hooks_finding(loc: &hooks::Location, items: &[hooks::Item]) -> Finding {
    let dir = &loc.dir.path;
    let users = if loc.checkouts.len() == 1 {
        format!("used by {}", loc.checkouts[0].display())
    } else {
        format!("used by {} checkouts", loc.checkouts.len())
    };
    let via = match &loc.dir.configured {
        Some(p) => format!(" (core.hooksPath = {p})"),
        None => String::new(),
    };
    let here: Vec<&hooks::Item> = items
        .iter()
        .filter(|i| !i.guard && i.path.parent() == Some(dir.as_path()))
        .collect();
    let bad: Vec<String> = here
        .iter()
        .filter(|i| i.state != hooks::State::Installed)
        .map(|i| format!("{} {}", i.what, i.state))
        .collect();
    if bad.is_empty() {
        return Finding::ok(
            "hooks",
            format!("pre-push installed in {}{via}, {users}", dir.display()),
        );
    }
    let slow = if here.iter().any(|i| i.state == hooks::State::OldLayout) {
        ": every git command of yours starts a shell for that reference-transaction"
    } else {
        ""
    };
    Finding::problem(
        "hooks",
        format!(
            "{} in {}{via}, {users}{slow}",
            bad.join(", "),
            dir.display()
        ),
        "git oompa hooks install",
    )
    .fixable(Fix::InstallHooks)
}

/// The guard directory, its config, and each worker worktree pointing at it.
fn guard_finding(layout: &hooks::Layout, items: &[hooks::Item]) -> Finding {
    let unguarded = items
        .iter()
        .any(|i| i.guard && matches!(i.state, hooks::State::Missing | hooks::State::NotExecutable));
    let bad: Vec<String> = items
        .iter()
        .filter(|i| i.guard && i.state != hooks::State::Installed)
        .map(|i| {
            if i.what == "config.worktree" {
                format!(
                    "worker worktree {} does not run it ({} {})",
                    i.checkouts[0].display(),
                    i.what,
                    i.state
                )
            } else {
                format!("{} {}", i.what, i.state)
            }
        })
        .collect();
    let dir = layout.guard_dir.display();
    if bad.is_empty() {
        return Finding::ok(
            "worker guard",
            format!(
                "reference-transaction and pre-push in {dir}, run by {} worker worktree(s) and \
                 agents; your own hooks are forwarded",
                layout.workers.len()
            ),
        );
    }
    Finding::problem(
        "worker guard",
        format!(
            "{} in {dir}: {}",
            bad.join(", "),
            if unguarded {
                "agents can move the target around the merge queue"
            } else {
                "worker worktrees run an out-of-date copy (your hooks directory or \
                 git oompa changed since it was installed)"
            }
        ),
        "git oompa hooks install",
    )
    .fixable(Fix::InstallHooks)
}

/// Whether the shims find `git-oompa`.
fn binary_finding() -> Finding {
    if hooks::binary_on_path() {
        Finding::ok("binary", "git-oompa is on PATH, so the shims find it")
    } else {
        Finding::problem(
            "binary",
            "git-oompa is not on PATH: the hooks warn and let everything through",
            "put the directory holding git-oompa on PATH (`cargo install` uses ~/.cargo/bin)",
        )
    }
}

fn hooks_findings(repo: &Repo, settings: &Settings, out: &mut Vec<Finding>) {
    let layout = match hooks::layout(repo, settings) {
        Ok(l) => l,
        Err(e) => {
            out.push(Finding::problem(
                "hooks",
                format!("cannot list the worktrees: {e}"),
                "`git worktree list` shows what git finds",
            ));
            return;
        }
    };
    let items = hooks::inspect_layout(&layout);
    // Your hooks directories: pre-push, and no reference-transaction of ours.
    out.extend(
        layout
            .user
            .iter()
            .map(|loc| user_hooks_finding(loc, &items)),
    );
    out.push(guard_finding(&layout, &items));
    out.push(binary_finding());
}

fn identity(repo: &Repo) -> Finding {
    let env = crate::agent_env::nonempty;
    let name = env("GIT_COMMITTER_NAME").or_else(|| {
        repo.config_string("user.name")
            .filter(|n| n != FALLBACK_NAME)
    });
    let email = env("GIT_COMMITTER_EMAIL").or_else(|| {
        repo.config_string("user.email")
            .filter(|e| e != FALLBACK_EMAIL)
    });
    match (name, email) {
        (Some(n), Some(e)) => Finding::ok("identity", format!("committing as {n} <{e}>")),
        _ => Finding::problem(
            "identity",
            format!(
                "no committer identity: landings and queue commits are made as \
                 {FALLBACK_NAME} <{FALLBACK_EMAIL}>"
            ),
            "git config --global user.name \"Your Name\" && git config --global user.email you@example.com",
        ),
    }
}

fn target(repo: &Repo, settings: &Settings) -> Finding {
    if let Some(d) = super::target_gone::find(repo, settings.target_ref.as_deref()).first() {
        return Finding::problem("target", d.describe(), d.fix())
            .fixable(Fix::RestoreTarget(d.name.clone(), d.last));
    }
    match &settings.target_ref {
        None => Finding::problem(
            "target",
            "cannot tell the target branch: HEAD is detached and none is configured",
            "git config oompa.targetBranch main",
        ),
        Some(t) => match repo.read_ref(t) {
            Ok(Some(_)) if let Ok(Some(w)) = super::ref_kinds::check(repo, t) => {
                Finding::problem("target", w.describe(), w.fix())
                    .fixable(Fix::RepairRefKind(w.name))
            }
            Ok(Some(id)) => Finding::ok(
                "target",
                format!("{} at {}", settings.target_short(), short(&id)),
            ),
            _ => Finding::problem(
                "target",
                format!(
                    "the target branch {} does not exist",
                    settings.target_short()
                ),
                "create it, or set `target` in oompa.toml / `git config oompa.targetBranch`",
            ),
        },
    }
}

/// Conflict blocks (`<<<<<<<` … `=======` … `>>>>>>>`) in files on the target's tip.
fn conflict_markers(repo: &Repo, settings: &Settings) -> Option<Finding> {
    let t = settings.target_ref.as_ref()?;
    let tip = repo.read_ref(t).ok().flatten()?;
    let name = settings.target_short();
    Some(match crate::git::markers::scan_commit(repo, tip) {
        Ok(found) if found.is_empty() => {
            Finding::ok("conflict markers", format!("none in the files on {name}"))
        }
        Ok(found) => {
            let places: Vec<String> = found
                .iter()
                .take(10)
                .map(|(p, l)| format!("{p}:{l}"))
                .collect();
            let more = found.len().saturating_sub(places.len());
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            Finding::problem(
                "conflict markers",
                format!(
                    "{name} ({}) has unresolved conflict markers at {}{more}",
                    short(&tip),
                    places.join(", ")
                ),
                format!(
                    "`git grep -n -e '^<<<<<<< ' -e '^>>>>>>> ' {name}` lists them; resolve them \
                     in a commit on {name}"
                ),
            )
        }
        Err(e) => Finding::problem(
            "conflict markers",
            format!("cannot read the files on {name}: {e}"),
            format!("`git fsck` checks the objects of {name}"),
        ),
    })
}

fn queue(repo: &Repo, out: &mut Vec<Finding>) {
    let queue = Queue::new(repo);
    let duplicates = queue.duplicates().unwrap_or_default();
    for (id, states) in &duplicates {
        let listed: Vec<String> = states.iter().map(|s| format!("{s}/")).collect();
        let keep = states.iter().max().copied().unwrap_or(State::Complete);
        out.push(
            Finding::problem(
                "queue",
                format!(
                    "task {id} is in {} at once in {QUEUE_REF}: claims and landings of it \
                     are refused until it is in one state",
                    listed.join(" and ")
                ),
                format!(
                    "`git oompa doctor --fix` keeps {} and drops the other entries (the \
                     queue's history keeps them)",
                    keep.path(id)
                ),
            )
            .fixable(Fix::ResolveDuplicate(id.clone())),
        );
    }
    let duplicated = |path: &str| {
        duplicates
            .iter()
            .any(|(id, states)| states.iter().any(|s| s.path(id) == path))
    };
    match queue.snapshot() {
        Ok(s) if s.tip.is_none() => out.push(Finding::problem(
            "queue",
            format!("{QUEUE_REF} does not exist yet"),
            "git oompa init",
        )),
        Ok(s) if s.corrupt.iter().all(|c| duplicated(&c.path)) && !duplicates.is_empty() => {}
        Ok(s) if s.corrupt.is_empty() => out.push(Finding::ok(
            "queue",
            format!(
                "{QUEUE_REF} readable ({} task{})",
                s.tasks.len(),
                if s.tasks.len() == 1 { "" } else { "s" }
            ),
        )),
        Ok(s) => {
            for c in s.corrupt.into_iter().filter(|c| !duplicated(&c.path)) {
                out.push(Finding::problem(
                    "queue",
                    format!("{} in {QUEUE_REF} is unreadable: {}", c.path, c.reason),
                    format!(
                        "inspect it with `git show {QUEUE_REF}:{}`; release or re-add the task",
                        c.path
                    ),
                ));
            }
        }
        Err(e @ QueueError::Replaced { known, found }) => out.push(
            Finding::problem("queue", e.to_string(), invariants::queue_fix(known, found))
                .fixable(Fix::RestoreQueue),
        ),
        Err(e @ QueueError::NotACommit { .. }) => {
            let hint = match queue.restore_point() {
                Ok(Some(good)) => format!(
                    "`git oompa doctor --fix` points it back at {} (the last queue commit git \
                     oompa knew), keeping the current value under {}",
                    short(&good),
                    crate::store::queue::REPLACED_PREFIX
                ),
                _ => format!(
                    "no earlier queue commit is known: `git update-ref -d {QUEUE_REF} && git \
                     oompa init` starts an empty queue"
                ),
            };
            out.push(Finding::problem("queue", e.to_string(), hint).fixable(Fix::RestoreQueue));
        }
        Err(e) => out.push(Finding::problem(
            "queue",
            format!("cannot read {QUEUE_REF}: {e}"),
            format!("`git log {QUEUE_REF}` shows what git finds"),
        )),
    }
}

fn worktrees(repo: &Repo, out: &mut Vec<Finding>) {
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
fn swarm_leftovers(repo: &Repo, settings: &Settings, out: &mut Vec<Finding>) {
    let plan = match super::gc::run(repo, settings, true) {
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
            super::gc::Action::RemoveWorktree { path } => {
                worktrees.push(path.display().to_string())
            }
            super::gc::Action::DeleteBranch { name, .. } => {
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
fn checkouts_follow(repo: &Repo, settings: &Settings, out: &mut Vec<Finding>) {
    let found = super::checkout::finish(repo, settings, false);
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
        let fixable =
            matches!(&f, super::checkout::Follow::Behind { behind, .. } if behind.repairable());
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
fn locks(repo: &Repo, out: &mut Vec<Finding>) {
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

fn notes(repo: &Repo, out: &mut Vec<Finding>) {
    let lost = invariants::notes_lost(repo);
    for violation in &lost {
        if let Violation::NotesDiverged { lost: id, .. }
        | Violation::NotesReplaced { known: id, .. } = violation
        {
            out.push(
                Finding::problem("cycle log", violation.describe(), violation.fix())
                    .fixable(Fix::MergeNotes(*id)),
            );
        }
    }
    let tip = match repo.read_ref(NOTES_REF) {
        Ok(None) if !lost.is_empty() => return,
        Ok(None) => {
            out.push(Finding::ok(
                "cycle log",
                format!("{NOTES_REF}: no cycles yet"),
            ));
            return;
        }
        Ok(Some(t)) => t,
        Err(e) => {
            out.push(Finding::problem(
                "cycle log",
                format!("cannot read {NOTES_REF}: {e}"),
                format!("`git log {NOTES_REF}` shows what git finds"),
            ));
            return;
        }
    };
    if !repo.is_commit(tip).unwrap_or(false) {
        let finding = match Notes::new(repo).read_all() {
            Err(e @ NotesError::NotACommit { .. }) => Finding::problem(
                "cycle log",
                e.to_string(),
                format!(
                    "`git oompa doctor --fix` points it back at its last commit, keeping the \
                     current value under {REPLACED_PREFIX}"
                ),
            )
            .fixable(Fix::RestoreNotes),
            _ => Finding::problem(
                "cycle log",
                format!(
                    "{NOTES_REF} points at {}, which is not a commit",
                    short(&tip)
                ),
                format!(
                    "`git reflog show {NOTES_REF}` lists the values it had; reset it to the \
                     last good one"
                ),
            ),
        };
        out.push(finding);
        return;
    }
    match Notes::new(repo).read_all() {
        Ok((entries, bad)) if bad.is_empty() => out.push(Finding::ok(
            "cycle log",
            format!(
                "{NOTES_REF} readable ({} cycle record{})",
                entries.len(),
                if entries.len() == 1 { "" } else { "s" }
            ),
        )),
        Ok((_, bad)) => out.push(Finding::problem(
            "cycle log",
            format!(
                "{} in {NOTES_REF} {} not cycle records (first: note on {} line {}: {})",
                if bad.len() == 1 {
                    "1 line".to_string()
                } else {
                    format!("{} lines", bad.len())
                },
                if bad.len() == 1 { "is" } else { "are" },
                &bad[0].commit[..bad[0].commit.len().min(12)],
                bad[0].line,
                bad[0].reason
            ),
            "`git oompa log` skips them; `git notes --ref=oompa edit <commit>` removes them",
        )),
        Err(e) => out.push(Finding::problem(
            "cycle log",
            format!("cannot read {NOTES_REF}: {e}"),
            format!("`git log {NOTES_REF}` shows what git finds"),
        )),
    }
}

/// Keep refs, worker branches and other refs of git oompa's that do not point at commits.
fn ref_kinds(repo: &Repo, out: &mut Vec<Finding>) {
    match super::ref_kinds::find(repo) {
        Ok(v) if v.is_empty() => out.push(Finding::ok(
            "refs",
            "keep refs and worker branches point at commits",
        )),
        Ok(v) => out.extend(v.into_iter().map(|w| {
            Finding::problem("refs", w.describe(), w.fix()).fixable(Fix::RepairRefKind(w.name))
        })),
        Err(e) => out.push(Finding::problem(
            "refs",
            format!("cannot list git oompa's refs: {e}"),
            "`git for-each-ref refs/oompa refs/heads/oompa` shows what git finds",
        )),
    }
}

/// `doctor --accept`: takes the current value of a replaced or deleted queue or cycle log as
/// the known one, and says what it accepted. Refs that descend from what git oompa knew are
/// left alone.
pub fn accept(repo: &Repo) -> Result<Vec<String>, FixError> {
    let mut done = Vec::new();
    if let Some(Violation::QueueReplaced { known, .. }) = invariants::queue_damaged(repo) {
        done.push(match Queue::new(repo).accept()? {
            Some(tip) => format!(
                "accepted {QUEUE_REF} at {} in place of {}",
                short(&tip),
                short(&known)
            ),
            None => format!(
                "accepted that {QUEUE_REF} is gone (it was {})",
                short(&known)
            ),
        });
    }
    let notes = invariants::notes_lost(repo);
    if let Some(Violation::NotesReplaced { known, .. }) = notes
        .iter()
        .find(|v| matches!(v, Violation::NotesReplaced { .. }))
    {
        done.push(match Notes::new(repo).accept()? {
            Some(tip) => format!(
                "accepted {NOTES_REF} at {} in place of {}",
                short(&tip),
                short(known)
            ),
            None => format!(
                "accepted that {NOTES_REF} is gone (it was {})",
                short(known)
            ),
        });
    }
    if done.is_empty() {
        done.push(format!(
            "nothing to accept: {QUEUE_REF} and {NOTES_REF} descend from what git oompa knew"
        ));
    }
    Ok(done)
}

/// What went wrong applying a fix.
#[derive(Debug, thiserror::Error)]
pub enum FixError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Hooks(#[from] hooks::HookError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Notes(#[from] NotesError),
    #[error("nothing to put back: no earlier commit of {0} is known")]
    NothingToRestore(&'static str),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
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

/// Applies one fix and says what it did.
pub fn apply(repo: &Repo, settings: &Settings, fix: &Fix) -> Result<String, FixError> {
    match fix {
        Fix::InstallHooks => {
            let done = hooks::install_all(repo, settings)?;
            let mut what = vec!["installed the hooks".to_string()];
            if !done.moved.is_empty() {
                what.push("moved reference-transaction out of your hooks directory".into());
            }
            if done.extension {
                what.push("turned on extensions.worktreeConfig".into());
            }
            if !done.workers.is_empty() {
                what.push(format!(
                    "pointed {} worker worktree(s) at the guard",
                    done.workers.len()
                ));
            }
            Ok(what.join("; "))
        }
        Fix::PruneWorktrees => {
            cli::worktree_prune(&repo.main_workdir())?;
            Ok("pruned the metadata of worktrees whose directory is gone".into())
        }
        Fix::RecoverClaims => {
            let (rec, kept) = crate::store::recover::recover(repo, settings.target_ref.as_deref())?;
            let ids: Vec<String> = rec.released.iter().map(|(id, _)| id.to_string()).collect();
            let mut msg = format!("returned to pending: {}", ids.join(", "));
            if !kept.is_empty() {
                msg.push_str(&format!("; their work is kept as {}", kept.join(", ")));
            }
            Ok(msg)
        }
        Fix::MergeNotes(lost) => {
            let tip = Notes::new(repo).merge_back(*lost)?;
            Ok(format!(
                "merged the cycle records up to {} back into {NOTES_REF} (now {})",
                short(lost),
                short(&tip)
            ))
        }
        Fix::RestoreNotes => match Notes::new(repo).restore()? {
            Some(r) => Ok(format!(
                "pointed {NOTES_REF} back at {}{}",
                short(&r.tip),
                r.found
                    .map(|f| format!(
                        "; what it pointed at is kept as {}",
                        layout::replaced_ref(&format!("notes-{}", short(&f)))
                    ))
                    .unwrap_or_default()
            )),
            None => Err(FixError::NothingToRestore(NOTES_REF)),
        },
        Fix::RestoreQueue => match Queue::new(repo).restore()? {
            Some(r) => {
                let mut msg = format!(
                    "pointed {QUEUE_REF} back at {}{}",
                    short(&r.tip),
                    r.kept
                        .map(|k| format!("; the value it replaced is kept as {k}"))
                        .unwrap_or_default()
                );
                // The queue put back may hold claims whose owners are gone by now.
                let (rec, kept) =
                    crate::store::recover::recover(repo, settings.target_ref.as_deref())?;
                if !rec.released.is_empty() {
                    let ids: Vec<String> =
                        rec.released.iter().map(|(id, _)| id.to_string()).collect();
                    msg.push_str(&format!(
                        "; returned claims of gone owners to pending: {}",
                        ids.join(", ")
                    ));
                }
                if !kept.is_empty() {
                    msg.push_str(&format!("; their work is kept as {}", kept.join(", ")));
                }
                Ok(msg)
            }
            None => Err(FixError::NothingToRestore(QUEUE_REF)),
        },
        Fix::ResolveDuplicate(id) => match Queue::new(repo).resolve_duplicate(id, "doctor")? {
            Some(kept) => Ok(format!(
                "kept {} and dropped the other entries of {id}",
                kept.path(id)
            )),
            None => Ok(format!("{id} is in one state already")),
        },
        Fix::RemoveStaleLock(path) => match LockFile::inspect(path) {
            None => Ok(format!("{} is gone already", path.display())),
            Some(l) => {
                if l.remove_if_stale().map_err(|e| FixError::Io {
                    path: path.clone(),
                    source: e,
                })? {
                    Ok(format!("removed the stale lock {}", path.display()))
                } else {
                    Ok(format!("left {}: it is in use again", path.display()))
                }
            }
        },
        Fix::FollowTarget => {
            let done: Vec<String> = super::checkout::finish(repo, settings, true)
                .iter()
                .map(super::checkout::Follow::describe)
                .collect();
            Ok(done.join("; "))
        }
        Fix::RepairRefKind(name) => Ok(super::ref_kinds::repair(repo, name)?),
        Fix::RestoreTarget(name, last) => Ok(super::target_gone::restore(repo, name, *last)?),
        Fix::ExcludeDecoration => {
            repo.add_local_config("log", "excludeDecoration", EXCLUDE_DECORATION)?;
            Ok(format!(
                "added {EXCLUDE_DECORATION} to log.excludeDecoration in .git/config"
            ))
        }
    }
}
