//! `git oompa task …`: the task queue from the command line, for people and for agents
//! running inside a swarm worktree.

mod add;
mod claim;
mod import;
mod list;
mod release;
mod show;

use clap::Subcommand;

use super::{CommandError, Env};
use crate::store::{Claimant, TaskId};

/// Add, list, show, claim, release and import tasks in refs/oompa/tasks
#[derive(Debug, clap::Args)]
#[command(long_about = "Add, list, show, claim, release and import tasks.\n\n\
The queue lives in refs/oompa/tasks: a commit chain whose tree holds pending/<id>.json,\n\
current/<id>.json (claimed) and complete/<id>.json. Every change is one commit made with a\n\
compare-and-swap, so two claimers never get the same task. Inspect it with plain git:\n\
`git log refs/oompa/tasks`, `git show refs/oompa/tasks:pending/<id>.json`.")]
pub struct Args {
    #[command(subcommand)]
    pub command: TaskCommand,
}

#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    Add(add::Args),
    List(list::Args),
    Show(show::Args),
    Claim(claim::Args),
    Release(release::Args),
    Import(import::Args),
}

pub fn run(env: &Env, args: Args) -> Result<(), CommandError> {
    match args.command {
        TaskCommand::Add(a) => add::run(env, a),
        TaskCommand::List(a) => list::run(env, a),
        TaskCommand::Show(a) => show::run(env, a),
        TaskCommand::Claim(a) => claim::run(env, a),
        TaskCommand::Release(a) => release::run(env, a),
        TaskCommand::Import(a) => import::run(env, a),
    }
}

/// Who is acting, for commit messages: the swarm worker when run by an agent, else the
/// git user, else `user`.
pub(crate) fn actor(repo: &crate::git::Repo) -> String {
    if let Some(worker) = env_nonempty("OOMPA_WORKER") {
        return match env_nonempty("OOMPA_SWARM") {
            Some(swarm) => format!("{swarm}/{worker}"),
            None => worker,
        };
    }
    repo.config_string("user.name")
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "user".into())
}

pub(crate) fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Parses command-line ids, failing on the first invalid one.
pub(crate) fn parse_ids(raw: &[String]) -> Result<Vec<TaskId>, CommandError> {
    raw.iter()
        .map(|s| TaskId::new(s).map_err(CommandError::from))
        .collect()
}

/// The claimant for `claim`: `--worker`/`--swarm`, else the agent's environment.
pub(crate) fn claimant(
    worker: Option<String>,
    swarm: Option<String>,
    lease: std::time::Duration,
) -> Result<Claimant, CommandError> {
    let worker = worker
        .or_else(|| env_nonempty("OOMPA_WORKER"))
        .ok_or_else(|| {
            CommandError::usage("who is claiming? no --worker given and OOMPA_WORKER is not set")
                .with_hint(
                    "pass `--worker NAME` (agents inside a swarm worktree have OOMPA_WORKER set)",
                )
        })?;
    let swarm = swarm
        .or_else(|| env_nonempty("OOMPA_SWARM"))
        .unwrap_or_default();
    let pid = env_nonempty("OOMPA_SWARM_PID").and_then(|p| p.parse().ok());
    Ok(Claimant {
        swarm,
        worker,
        branch: env_nonempty("OOMPA_BRANCH"),
        lease,
        pid,
    })
}
