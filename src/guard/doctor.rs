//! `doctor`: every health check git oompa knows, each problem with the command that fixes
//! it, and the fixes that are safe to apply unasked (nothing is lost by any of them: hooks,
//! a config value, worktree metadata of directories that are gone, claims of gone owners
//! returned to pending with their work kept, lost cycle records merged back).
//!
//! The reftable check happens before a [`Repo`] can exist; the command does it. Never prints.

use std::path::PathBuf;

use super::invariants::{self, Violation};
use super::{Settings, hooks, short};
use crate::git::{FALLBACK_EMAIL, FALLBACK_NAME, GitError, LockFile, ObjectId, Repo, cli, lock};
use crate::store::notes::{NOTES_REF, Notes};
use crate::store::{QUEUE_REF, Queue};

/// The pattern `init` adds to `log.excludeDecoration`.
pub const EXCLUDE_DECORATION: &str = "refs/oompa/*";

/// A repair doctor can make on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fix {
    InstallHooks(PathBuf),
    PruneWorktrees,
    RecoverClaims,
    MergeNotes(ObjectId),
    ExcludeDecoration,
    /// Remove a lock file whose owner is gone (checked again right before).
    RemoveStaleLock(PathBuf),
    /// Bring checkouts of the target forward that a landing cut short left behind.
    FollowTarget,
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
    queue(repo, &mut out);
    worktrees(repo, &mut out);
    swarm_leftovers(repo, settings, &mut out);
    locks(repo, &mut out);
    checkouts_follow(repo, settings, &mut out);
    match invariants::orphaned_claims(repo) {
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

fn hooks_findings(repo: &Repo, settings: &Settings, out: &mut Vec<Finding>) {
    let locations = match hooks::locations(repo, settings) {
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
    for loc in locations {
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
        let bad: Vec<String> = hooks::inspect(dir)
            .into_iter()
            .filter(|(_, _, s)| *s != hooks::State::Installed)
            .map(|(name, _, s)| format!("{name} {s}"))
            .collect();
        if bad.is_empty() {
            out.push(Finding::ok(
                "hooks",
                format!("installed in {}{via}, {users}", dir.display()),
            ));
        } else if loc.worker_only {
            out.push(Finding::problem(
                "hooks",
                format!(
                    "{} in {}{via}, {users}: a relative core.hooksPath gives each worker \
                     worktree its own hooks directory",
                    bad.join(", "),
                    dir.display()
                ),
                "make core.hooksPath absolute (`git config core.hooksPath \"$PWD/<dir>\"`), \
                 or commit the shims into it, then `git oompa hooks install`",
            ));
        } else {
            out.push(
                Finding::problem(
                    "hooks",
                    format!("{} in {}{via}, {users}", bad.join(", "), dir.display()),
                    "git oompa hooks install",
                )
                .fixable(Fix::InstallHooks(dir.clone())),
            );
        }
    }
    if hooks::binary_on_path() {
        out.push(Finding::ok(
            "hooks",
            "git-oompa is on PATH, so the shims find it",
        ));
    } else {
        out.push(Finding::problem(
            "hooks",
            "git-oompa is not on PATH: the hooks warn and let everything through",
            "put the directory holding git-oompa on PATH (`cargo install` uses ~/.cargo/bin)",
        ));
    }
}

fn identity(repo: &Repo) -> Finding {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
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
    match &settings.target_ref {
        None => Finding::problem(
            "target",
            "cannot tell the target branch: HEAD is detached and none is configured",
            "set `target = \"main\"` in oompa.toml or `git config oompa.targetBranch main`",
        ),
        Some(t) => match repo.read_ref(t) {
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

fn queue(repo: &Repo, out: &mut Vec<Finding>) {
    match Queue::new(repo).snapshot() {
        Ok(s) if s.tip.is_none() => out.push(Finding::problem(
            "queue",
            format!("{QUEUE_REF} does not exist yet"),
            "git oompa init",
        )),
        Ok(s) if s.corrupt.is_empty() => out.push(Finding::ok(
            "queue",
            format!("{QUEUE_REF} readable ({} tasks)", s.tasks.len()),
        )),
        Ok(s) => {
            for c in s.corrupt {
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
        "git oompa gc (it keeps any unmerged work under refs/oompa/keep/)",
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
    let tip = match repo.read_ref(NOTES_REF) {
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
        out.push(Finding::problem(
            "cycle log",
            format!("{NOTES_REF} points at {}, which is not a commit", short(&tip)),
            format!("`git reflog show {NOTES_REF}` lists the values it had; reset it to the last good one"),
        ));
        return;
    }
    match Notes::new(repo).read_all() {
        Ok((entries, bad)) if bad.is_empty() => out.push(Finding::ok(
            "cycle log",
            format!("{NOTES_REF} readable ({} cycle records)", entries.len()),
        )),
        Ok((_, bad)) => out.push(Finding::problem(
            "cycle log",
            format!(
                "{} line(s) in {NOTES_REF} are not cycle records (first: note on {} line {}: {})",
                bad.len(),
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
    match invariants::notes_diverged(repo) {
        Ok(v) => {
            for violation in v {
                if let Violation::NotesDiverged { lost, .. } = &violation {
                    out.push(
                        Finding::problem("cycle log", violation.describe(), violation.fix())
                            .fixable(Fix::MergeNotes(*lost)),
                    );
                }
            }
        }
        Err(e) => out.push(Finding::problem(
            "cycle log",
            format!("cannot read the reflog of {NOTES_REF}: {e}"),
            format!("`git reflog show {NOTES_REF}` shows what git finds"),
        )),
    }
}

/// What went wrong applying a fix.
#[derive(Debug, thiserror::Error)]
pub enum FixError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Hooks(#[from] hooks::HookError),
    #[error(transparent)]
    Swarm(#[from] crate::swarm::SwarmError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Applies one fix and says what it did.
pub fn apply(repo: &Repo, settings: &Settings, fix: &Fix) -> Result<String, FixError> {
    match fix {
        Fix::InstallHooks(dir) => {
            hooks::install(dir)?;
            Ok(format!("installed the hooks in {}", dir.display()))
        }
        Fix::PruneWorktrees => {
            cli::worktree_prune(&repo.main_workdir())?;
            Ok("pruned the metadata of worktrees whose directory is gone".into())
        }
        Fix::RecoverClaims => {
            let (rec, kept) = crate::swarm::recover(repo, settings.target_ref.as_deref())?;
            let ids: Vec<String> = rec.released.iter().map(|(id, _)| id.to_string()).collect();
            let mut msg = format!("returned to pending: {}", ids.join(", "));
            if !kept.is_empty() {
                msg.push_str(&format!("; their work is kept as {}", kept.join(", ")));
            }
            Ok(msg)
        }
        Fix::MergeNotes(lost) => {
            let temp = format!("refs/notes/oompa-lost-{}", short(lost));
            if repo.read_ref(&temp)?.is_none() {
                repo.cas_ref(&temp, None, *lost, "oompa: doctor saves lost cycle records")?;
            }
            let identity = missing_identity(repo).then_some((FALLBACK_NAME, FALLBACK_EMAIL));
            cli::notes_merge(&repo.main_workdir(), NOTES_REF, &temp, identity)?;
            repo.transaction(&[crate::git::RefUpdate {
                name: temp,
                expected: Some(*lost),
                new: None,
                message: "oompa: lost cycle records merged back".into(),
            }])?;
            Ok(format!(
                "merged the cycle records up to {} back into {NOTES_REF}",
                short(lost)
            ))
        }
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
        Fix::ExcludeDecoration => {
            repo.add_local_config("log", "excludeDecoration", EXCLUDE_DECORATION)?;
            Ok(format!(
                "added {EXCLUDE_DECORATION} to log.excludeDecoration in .git/config"
            ))
        }
    }
}

fn missing_identity(repo: &Repo) -> bool {
    repo.config_string("user.name").as_deref() == Some(FALLBACK_NAME)
        || repo.config_string("user.email").as_deref() == Some(FALLBACK_EMAIL)
}
