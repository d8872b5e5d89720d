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

/// The variables a swarm gives its agents: any of them set means the caller is inside one.
const SWARM_VARS: [&str; 8] = [
    "OOMPA_SWARM",
    "OOMPA_WORKER",
    "OOMPA_SWARM_PID",
    "OOMPA_BRANCH",
    "OOMPA_CYCLE",
    "OOMPA_ROLE",
    "OOMPA_TARGET",
    crate::agent::process::TOKEN_VAR,
];

/// The caller runs inside a swarm: why we think so, and which worker it is when that can be
/// told (`(swarm, worker)`, the swarm possibly empty for a worker named by hand).
pub(crate) struct SwarmContext {
    pub why: String,
    pub who: Option<(String, String)>,
}

/// Whether the caller is inside a swarm: a swarm variable is set, or it runs in a worker's
/// worktree (on an `oompa/*` branch or under the swarm worktree directory).
pub(crate) fn swarm_context(repo: &crate::git::Repo) -> Option<SwarmContext> {
    let why = SWARM_VARS
        .iter()
        .find(|v| env_nonempty(v).is_some())
        .map(|v| format!("{v} is set"))
        .or_else(|| crate::guard::agent_context(repo, None))?;
    let from_branch = |name: &str| {
        let full = crate::guard::full_branch(name);
        crate::guard::parse_worker_branch(&full).map(|(s, w)| (s.to_string(), w.to_string()))
    };
    let who = match env_nonempty("OOMPA_WORKER") {
        Some(worker) => Some((env_nonempty("OOMPA_SWARM").unwrap_or_default(), worker)),
        None => env_nonempty("OOMPA_BRANCH")
            .and_then(|b| from_branch(&b))
            .or_else(|| repo.head_branch().and_then(|b| from_branch(&b))),
    };
    Some(SwarmContext { why, who })
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
