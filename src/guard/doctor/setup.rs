//! The checks of how the repository and this machine are set up for git oompa: the hooks
//! (yours and the worker guard), `git-oompa` on PATH, a committer identity, and
//! `log.excludeDecoration`.

use super::{Finding, Fix};
use crate::git::{FALLBACK_EMAIL, FALLBACK_NAME, Repo};
use crate::guard::{Settings, hooks};
use crate::store::layout::EXCLUDE_DECORATION;

/// Your hooks directories, the worker guard, and whether the shims find `git-oompa`.
pub(super) fn hooks_findings(repo: &Repo, settings: &Settings, out: &mut Vec<Finding>) {
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

/// Whether landings and queue commits are made under a real committer identity.
pub(super) fn identity(repo: &Repo) -> Finding {
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

/// Whether `git log --decorate` hides git oompa's bookkeeping refs.
pub(super) fn decorations(repo: &Repo) -> Finding {
    let decorations = repo.config_strings("log.excludeDecoration");
    if decorations.iter().any(|d| d == EXCLUDE_DECORATION) {
        return Finding::ok(
            "log decorations",
            format!("log.excludeDecoration has {EXCLUDE_DECORATION}"),
        );
    }
    Finding::problem(
        "log decorations",
        format!(
            "log.excludeDecoration does not have {EXCLUDE_DECORATION}: `git log \
             --decorate` shows git oompa's bookkeeping refs"
        ),
        format!("git config --add log.excludeDecoration '{EXCLUDE_DECORATION}'"),
    )
    .fixable(Fix::ExcludeDecoration)
}
