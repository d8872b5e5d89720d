//! `git oompa doctor [--fix]`: every health check, one line each on stdout, problems with the
//! command that fixes them; `--fix` applies the safe fixes. Exits 1 while a problem remains.

use serde_json::json;

use super::ui::{self, GREEN, RED};
use super::{CommandError, Env};
use crate::git::{GitError, Repo};
use crate::guard::doctor::{self, Finding, Report};
use crate::settings::{Flags, Settings};

/// Check hooks, identity, worktrees, claims and the cycle log; --fix repairs the safe ones
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Check that git oompa's guards and state are healthy.\n\n\
Checks: the ref storage is not reftable; pre-push is installed where git runs your hooks\n\
(core.hooksPath honoured) and nothing of git oompa's runs for every ref update there; the\n\
worker guard (.git/oompa/hooks) is installed and every worker worktree runs it; git-oompa\n\
is on PATH; a committer identity is set; the target branch exists; the task queue reads; no\n\
worktree metadata without its directory; no worktree or worker branch left by a swarm that\n\
is no longer running; no stale lock file (older than a minute, open in no process); every\n\
checkout of the target followed its landings (none left behind by a landing cut short); no\n\
claim whose owner is gone; the cycle log (refs/notes/oompa) reads and was not rewritten; the\n\
target moved only through the merge queue; no conflict markers on the target's tip;\n\
log.excludeDecoration hides refs/oompa/*. Each problem comes with the command that fixes it.\n\n\
--fix applies the fixes that lose nothing: installing (or upgrading) the hooks, pruning\n\
metadata of worktrees whose directory is gone, removing stale locks, finishing a landing cut\n\
short (its checkout's landed paths, when nothing of yours is in the way), returning claims of\n\
gone owners to pending (their work kept), merging lost cycle records back, setting\n\
log.excludeDecoration, pointing a replaced or deleted refs/oompa/tasks back at the last tip\n\
git oompa knew (the replacement is kept under refs/oompa/replaced/), keeping a task found in\n\
two states in the most advanced one.\n\n\
git oompa records the last tip it wrote or checked of refs/oompa/tasks and refs/notes/oompa\n\
(in .git/oompa/known-tips/). A tip that moved forward from it (a fetch from another clone) is\n\
fine; one that does not descend from it was replaced outside git oompa, and the queue refuses\n\
to work on it. --accept takes the current values as the known ones instead, for a queue or\n\
log replaced on purpose."
)]
pub struct Args {
    /// Apply the safe fixes
    #[arg(long)]
    pub fix: bool,
    /// Take the current refs/oompa/tasks and refs/notes/oompa as the known ones (after
    /// replacing them on purpose)
    #[arg(long, conflicts_with = "fix")]
    pub accept: bool,
    /// A JSON array, one object per check
    #[arg(long)]
    pub json: bool,
}

pub fn run(env: &Env, args: Args) -> Result<(), CommandError> {
    let repo = match Repo::discover(&env.cwd) {
        Ok(r) => r,
        Err(e @ GitError::Reftable { .. }) => {
            show_reftable(env, &e, args.json)?;
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    let settings = Settings::resolve(&repo, &Flags::default());
    if args.accept {
        for line in doctor::accept(&repo)? {
            env.ui.status(line);
        }
    }
    let report = doctor::check(&repo, &settings, args.fix);
    if args.json {
        show_json(&env.ui, &report)?;
    } else {
        show_text(&env.ui, &report)?;
    }

    // What is still wrong, looking again after the fixes.
    let remaining: Vec<Finding> = if report.applied.is_empty() {
        report.findings.into_iter().filter(|f| !f.ok).collect()
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
            env.ui.status(env.ui.paint_err(GREEN, "no problems found"));
        }
        return Ok(());
    }
    Err(problems_remain(&remaining, args.fix))
}

/// A reftable repository cannot even be opened: the one finding there is, shown as the
/// others would be.
fn show_reftable(env: &Env, e: &GitError, json: bool) -> Result<(), CommandError> {
    let line = format!("reftable repository: {e}");
    if json {
        ui::out_json_array(
            &env.ui,
            [json!({
                "version": ui::JSON_VERSION,
                "check": "ref storage",
                "ok": false,
                "detail": line,
                "hint": null,
                "fixable": false,
                "fixed": null,
            })],
        )
    } else {
        env.ui.out(format!(
            "{} ref storage: {line}",
            env.ui.paint(RED, "problem")
        ))
    }
}

/// One JSON object per check.
fn show_json(ui: &ui::Ui, report: &Report) -> Result<(), CommandError> {
    ui::out_json_array(
        ui,
        report.findings.iter().map(|f| {
            json!({
                "version": ui::JSON_VERSION,
                "check": f.check,
                "ok": f.ok,
                "detail": f.detail,
                "hint": f.hint,
                "fixable": f.fix.is_some(),
                "fixed": report.outcome(f).map(Result::is_ok),
            })
        }),
    )
}

/// One line per check (`ok`, `fixed`, `problem`), then what the fix did or what to run.
fn show_text(ui: &ui::Ui, report: &Report) -> Result<(), CommandError> {
    let width = ui.width();
    for f in &report.findings {
        let outcome = report.outcome(f);
        let label = match (outcome, f.ok) {
            (_, true) => ui.paint(GREEN, "ok     "),
            (Some(Ok(_)), false) => ui.paint(GREEN, "fixed  "),
            (_, false) => ui.paint(RED, "problem"),
        };
        ui.out(format!(
            "{label} {}: {}",
            f.check,
            ui::wrap_from(&ui::escape(&f.detail), width, 10 + f.check.len(), 8)
        ))?;
        let more = |text: String| {
            ui.out(format!(
                "        {}",
                ui::wrap(&ui::escape(&text), width, 8)
            ))
        };
        match outcome {
            Some(Ok(what)) => more(what.clone())?,
            Some(Err(e)) => more(format!("fix failed: {e}"))?,
            None if !f.ok => {
                if let Some(h) = &f.hint {
                    more(format!("fix: {h}"))?;
                }
            }
            None => {}
        }
    }
    Ok(())
}

/// The error for problems left after the fixes, with how many `--fix` repairs.
fn problems_remain(remaining: &[Finding], fixing: bool) -> CommandError {
    let fixable = remaining.iter().filter(|f| f.fix.is_some()).count();
    let mut err = CommandError::user(format!(
        "{} found",
        ui::count(remaining.len(), "problem", "problems")
    ));
    if fixable > 0 && !fixing {
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
    err
}
