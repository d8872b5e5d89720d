//! `git oompa task rm ID…`: removes tasks from the queue, all of them or none. A claimed
//! task needs `--force`, and its claimer is told at its next turn.

use crate::cli::ui;
use crate::cli::{CommandError, Env};
use crate::store::{QUEUE_REF, Queue};

/// Remove pending tasks (claimed ones with --force: their worker is told at its next turn)
#[derive(Debug, clap::Args)]
#[command(
    visible_alias = "remove",
    after_help = "\
All the ids are removed in one queue commit, or none is. A completed task has landed and is
not removed. Removing a task a swarm worker holds needs --force; that worker's agent is told
before its next turn to stop working on it. A removed task's record stays in the history of
refs/oompa/tasks: `git log -p refs/oompa/tasks` shows it."
)]
pub struct Args {
    /// Task ids to remove
    #[arg(required = true)]
    pub ids: Vec<String>,
    /// Remove them even when a worker holds them (the worker is told at its next turn)
    #[arg(long)]
    pub force: bool,
}

pub fn run(env: &Env, args: Args) -> Result<(), CommandError> {
    let ids = super::parse_ids(&args.ids)?;
    super::refuse_force_in_swarm(args.force, &env.agent)?;
    let repo = env.repo()?;
    let name = super::actor(&repo, &env.agent);
    let removed = Queue::new(&repo)
        .remove(&ids, args.force, super::change_actor(&name, &env.agent))
        .map_err(super::change_error)?;
    for r in &removed {
        let line = match (&r.holder, r.notified) {
            (Some(who), true) => format!(
                "removed {} (was claimed by {}: its agent is told before its next turn)",
                r.id,
                ui::escape(who)
            ),
            (Some(who), false) => format!("removed {} (was claimed by {})", r.id, ui::escape(who)),
            (None, _) => format!("removed {}", r.id),
        };
        env.ui.out(line)?;
    }
    if let Some(first) = removed.first() {
        env.ui.hint(format!(
            "the record stays in the queue's history: `git show {QUEUE_REF}~1:{}`",
            first.state.path(&first.id)
        ));
    }
    Ok(())
}
