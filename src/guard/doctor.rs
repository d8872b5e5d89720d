//! `doctor`: every health check git oompa knows, each problem with the command that fixes
//! it, and the fixes that are safe to apply unasked (nothing is lost by any of them: hooks,
//! a config value, worktree metadata of directories that are gone, claims of gone owners
//! returned to pending with their work kept, lost cycle records merged back).
//!
//! The reftable check happens before a [`Repo`] can exist; the command does it. Never prints.

use super::invariants::{self, Violation};
use super::{Settings, hooks, short};
use crate::git::{FALLBACK_EMAIL, FALLBACK_NAME, GitError, ObjectId, Repo, cli};
use crate::store::notes::{NOTES_REF, Notes};
use crate::store::{QUEUE_REF, Queue};

/// The pattern `init` adds to `log.excludeDecoration`.
pub const EXCLUDE_DECORATION: &str = "refs/oompa/*";

/// A repair doctor can make on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fix {
    /// Everything `git oompa hooks install` does (idempotent).
    InstallHooks,
    PruneWorktrees,
    RecoverClaims,
    MergeNotes(ObjectId),
    ExcludeDecoration,
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
    for loc in &layout.user {
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
            out.push(Finding::ok(
                "hooks",
                format!("pre-push installed in {}{via}, {users}", dir.display()),
            ));
        } else {
            let slow = if here.iter().any(|i| i.state == hooks::State::OldLayout) {
                ": every git command of yours starts a shell for that reference-transaction"
            } else {
                ""
            };
            out.push(
                Finding::problem(
                    "hooks",
                    format!(
                        "{} in {}{via}, {users}{slow}",
                        bad.join(", "),
                        dir.display()
                    ),
                    "git oompa hooks install",
                )
                .fixable(Fix::InstallHooks),
            );
        }
    }
    // The guard directory, its config, and each worker worktree pointing at it.
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
        out.push(Finding::ok(
            "worker guard",
            format!(
                "reference-transaction and pre-push in {dir}, run by {} worker worktree(s) and \
                 agents; your own hooks are forwarded",
                layout.workers.len()
            ),
        ));
    } else {
        out.push(
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
            .fixable(Fix::InstallHooks),
        );
    }
    if hooks::binary_on_path() {
        out.push(Finding::ok(
            "binary",
            "git-oompa is on PATH, so the shims find it",
        ));
    } else {
        out.push(Finding::problem(
            "binary",
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
            "git config oompa.targetBranch main",
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
            format!(
                "{QUEUE_REF} readable ({} task{})",
                s.tasks.len(),
                if s.tasks.len() == 1 { "" } else { "s" }
            ),
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
