//! `git oompa gc [--dry-run]`: cleans up after swarms that are no longer running, one line
//! per action on stdout. Never deletes a commit that is not reachable from the target or a
//! keep ref: unmerged work is moved under `refs/oompa/keep/` first.

use serde_json::json;

use super::ui;
use super::{CommandError, Env};
use crate::guard::gc::{self, Action, GcError};
use crate::settings::{Flags, Settings};

/// Remove finished swarms' worktrees and branches, release dead claims; never loses work
#[derive(Debug, clap::Args)]
#[command(long_about = "Clean up after swarms that are no longer running.\n\n\
gc plans, then applies: --dry-run prints the plan and changes nothing; the real run re-checks\n\
each step right before it changes anything (a worktree that changed since gc looked, or whose\n\
swarm runs now, is left as it is and said so). Running swarms' worktrees, branches, claims,\n\
keep refs and files are never touched.\n\n\
Returns claims whose owner is gone to pending; removes the worktrees of finished (or crashed)\n\
swarms, committing uncommitted changes on their branch first; deletes their worker branches;\n\
prunes the metadata of worktrees whose directory is gone; drops keep refs the target already\n\
contains; removes the transcripts (.git/oompa/transcripts/<swarm>/) of swarms that ended longer\n\
ago than git config oompa.transcriptsExpire (default 14d; a duration such as 2w or 36h, or\n\
never), and their registry directories (.git/oompa/swarms/<swarm>/); removes the status.json a\n\
killed swarm left at once. Each worktree, branch and keep ref is dealt with on\n\
its own: locks a killed agent left in a finished swarm's worktree (open in no process) are\n\
removed; what gc still cannot do is said with the reason, everything else is done, and it\n\
exits 1.\n\n\
It never deletes a commit that is not reachable from the target or a keep ref: anything\n\
unmerged is moved under refs/oompa/keep/<swarm>/<worker>/gc first. Work that was\n\
squash-landed is recognised by the Oompa-Swarm and Oompa-Worker trailers of its landing on\n\
the target (and by merging into the target changing nothing).")]
pub struct Args {
    /// List what would be done, change nothing
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    /// A JSON array, one object per action
    #[arg(long)]
    pub json: bool,
}

pub fn run(env: &Env, args: Args) -> Result<(), CommandError> {
    let repo = env.repo()?;
    let settings = Settings::resolve(&repo, &Flags::default());
    if !args.dry_run {
        // Agents a dead swarm left running are ended before its worktrees are looked at.
        crate::swarm::orphans::sweep_dead(repo.common_dir());
    }
    let plan = gc::plan(&repo, &settings).map_err(|e| match e {
        GcError::Git(g) => CommandError::from(g),
        GcError::Queue(q) => CommandError::from(q),
        other => CommandError::from_error(&other),
    })?;
    let actions = if args.dry_run {
        plan.actions()
    } else {
        gc::apply(&repo, &settings, &plan)
    };
    let ui = &env.ui;
    if args.json {
        ui::out_json_array(
            ui,
            actions.iter().map(|a| {
                json!({
                    "version": ui::JSON_VERSION,
                    "action": kind(a),
                    "what": a.to_string(),
                    "dry_run": args.dry_run,
                })
            }),
        )?;
    }
    for a in actions.iter().filter(|_| !args.json) {
        let text = if let Action::Failed { hint, .. } = a {
            // Said on stderr, where problems go; gc went on with the rest.
            ui.warn(ui::escape(&a.to_string()));
            if let Some(h) = hint {
                ui.hint(h);
            }
            continue;
        } else if let Action::Skipped { .. } = a {
            // Something changed since gc looked: nothing of that step was touched.
            ui.warn(ui::escape(&a.to_string()));
            continue;
        } else if args.dry_run {
            format!("would {a}")
        } else {
            a.to_string()
        };
        ui.out(ui::wrap(&ui::escape(&text), ui.width(), 2))?;
    }
    let failed = actions
        .iter()
        .filter(|a| matches!(a, Action::Failed { .. }))
        .count();
    if actions.iter().any(|a| matches!(a, Action::Skipped { .. })) {
        ui.hint("what changed since gc looked was left as it is: run `git oompa gc` again");
    }
    if failed > 0 {
        return Err(CommandError::user(format!(
            "gc could not do {failed} thing(s), said above; it did everything else"
        ))
        .with_hint("clear what is in the way (the hints above), then run `git oompa gc` again"));
    }
    if actions.is_empty() {
        ui.status("nothing to clean up");
    } else if args.dry_run {
        ui.status(format!(
            "{} planned; run `git oompa gc` to do them",
            ui::count(actions.len(), "action", "actions")
        ));
    }
    Ok(())
}

fn kind(a: &Action) -> &'static str {
    match a {
        Action::ReleaseClaim { .. } => "release-claim",
        Action::CommitLeftovers { .. } => "commit-leftovers",
        Action::RemoveLock { .. } => "remove-lock",
        Action::Keep { .. } => "keep",
        Action::RemoveWorktree { .. } => "remove-worktree",
        Action::DeleteBranch { .. } => "delete-branch",
        Action::LeaveBranch { .. } => "leave-branch",
        Action::PruneWorktrees { .. } => "prune-worktrees",
        Action::DropKeepRef { .. } => "drop-keep-ref",
        Action::PruneTranscripts { .. } => "prune-transcripts",
        Action::PruneSwarmDir { .. } => "prune-swarm-dir",
        Action::RemoveLiveStatus { .. } => "remove-live-status",
        Action::Skipped { .. } => "skipped",
        Action::Failed { .. } => "failed",
    }
}
