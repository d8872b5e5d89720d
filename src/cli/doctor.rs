//! `git oompa doctor [--fix]`: every health check, one line each on stdout, problems with the
//! command that fixes them; `--fix` applies the safe fixes. Exits 1 while a problem remains.

use serde_json::json;

use super::ui::{GREEN, RED};
use super::{CommandError, Env};
use crate::git::{GitError, Repo};
use crate::guard::Settings;
use crate::guard::doctor::{self, Finding, Fix};

/// Check hooks, identity, worktrees, claims and the cycle log; --fix repairs the safe ones
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Check that git oompa's guards and state are healthy.\n\n\
Checks: the ref storage is not reftable; the hooks are installed where git will run them\n\
(every checkout, core.hooksPath honoured) and git-oompa is on PATH; a committer identity is\n\
set; the target branch exists; the task queue reads; no worktree metadata without its\n\
directory; no worktree or worker branch left by a swarm that is no longer running; no stale\n\
lock file (older than a minute, open in no process); every checkout of the target followed\n\
its landings (none left behind by a landing cut short); no claim whose owner is gone; the\n\
cycle log (refs/notes/oompa) reads and was not rewritten; the target moved only through the\n\
merge queue; log.excludeDecoration hides refs/oompa/*. Each problem comes with the command\n\
that fixes it.\n\n\
--fix applies the fixes that lose nothing: installing hooks, pruning metadata of worktrees\n\
whose directory is gone, removing stale locks, finishing a landing cut short (its checkout's\n\
landed paths, when nothing of yours is in the way), returning claims of gone owners to\n\
pending (their work kept), merging lost cycle records back, setting log.excludeDecoration."
)]
pub struct Args {
    /// Apply the safe fixes
    #[arg(long)]
    pub fix: bool,
    /// One JSON object per check
    #[arg(long)]
    pub json: bool,
}

pub fn run(env: &Env, args: Args) -> Result<(), CommandError> {
    let repo = match Repo::discover(&env.cwd) {
        Ok(r) => r,
        Err(e @ GitError::Reftable { .. }) => {
            let line = format!("reftable repository: {e}");
            if args.json {
                env.ui
                    .out(json!({"check": "ref storage", "ok": false, "detail": line}))?;
            } else {
                env.ui.out(format!(
                    "{} ref storage: {line}",
                    env.ui.paint(RED, "problem")
                ))?;
            }
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    let settings = Settings::resolve(&repo);
    let findings = doctor::diagnose(&repo, &settings);

    let mut applied: Vec<(Fix, Result<String, String>)> = Vec::new();
    if args.fix {
        for f in &findings {
            let Some(fix) = &f.fix else { continue };
            if applied.iter().any(|(done, _)| done == fix) {
                continue;
            }
            let result = doctor::apply(&repo, &settings, fix).map_err(|e| e.to_string());
            applied.push((fix.clone(), result));
        }
    }
    let fixed = |f: &Finding| {
        f.fix.as_ref().and_then(|fix| {
            applied
                .iter()
                .find(|(done, _)| done == fix)
                .map(|(_, r)| r.clone())
        })
    };

    let ui = &env.ui;
    for f in &findings {
        let outcome = fixed(f);
        if args.json {
            ui.out(json!({
                "check": f.check,
                "ok": f.ok,
                "detail": f.detail,
                "hint": f.hint,
                "fixable": f.fix.is_some(),
                "fixed": outcome.as_ref().map(|r| r.is_ok()),
            }))?;
            continue;
        }
        let label = match (&outcome, f.ok) {
            (_, true) => ui.paint(GREEN, "ok     "),
            (Some(Ok(_)), false) => ui.paint(GREEN, "fixed  "),
            (_, false) => ui.paint(RED, "problem"),
        };
        ui.out(format!("{label} {}: {}", f.check, f.detail))?;
        match outcome {
            Some(Ok(what)) => ui.out(format!("        {what}"))?,
            Some(Err(e)) => ui.out(format!("        fix failed: {e}"))?,
            None if !f.ok => {
                if let Some(h) = &f.hint {
                    ui.out(format!("        fix: {h}"))?;
                }
            }
            None => {}
        }
    }

    // What is still wrong, looking again after the fixes.
    let remaining: Vec<Finding> = if applied.is_empty() {
        findings.into_iter().filter(|f| !f.ok).collect()
    } else {
        // Fresh handle: the fixes changed config files the first one has cached.
        let repo = Repo::discover(&env.cwd)?;
        doctor::diagnose(&repo, &settings)
            .into_iter()
            .filter(|f| !f.ok)
            .collect()
    };
    if remaining.is_empty() {
        if !args.json {
            ui.status(ui.paint_err(GREEN, "no problems found"));
        }
        return Ok(());
    }
    let fixable = remaining.iter().filter(|f| f.fix.is_some()).count();
    let mut err = CommandError::user(format!(
        "{} problem{} found",
        remaining.len(),
        if remaining.len() == 1 { "" } else { "s" }
    ));
    if fixable > 0 && !args.fix {
        err = err.with_hint(format!(
            "`git oompa doctor --fix` repairs {fixable} of them (nothing is lost)"
        ));
    } else if fixable < remaining.len() {
        err = err.with_hint(format!(
            "{} of them need{} you: the `fix:` line under each says what to run",
            remaining.len() - fixable,
            if remaining.len() - fixable == 1 {
                "s"
            } else {
                ""
            }
        ));
    }
    Err(err)
}
