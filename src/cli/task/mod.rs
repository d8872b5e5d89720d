//! `git oompa task …`: the task queue from the command line, for people and for agents
//! running inside a swarm worktree.

mod add;
mod claim;
mod edit;
mod import;
mod list;
mod release;
mod rm;
mod show;

use clap::Subcommand;

use super::{CommandError, Env};
use crate::agent_env::{self, AgentContext};
use crate::store::{Claimant, TaskId};

/// Add, list, show, edit, remove, claim, release and import tasks in refs/oompa/tasks
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Add, list, show, edit, remove, claim, release and import tasks.\n\n\
The queue lives in refs/oompa/tasks: a commit chain whose tree holds pending/<id>.json,\n\
current/<id>.json (claimed) and complete/<id>.json. Every change is one commit made with a\n\
compare-and-swap, so two claimers never get the same task. Inspect it with plain git:\n\
`git log refs/oompa/tasks`, `git show refs/oompa/tasks:pending/<id>.json`."
)]
pub struct Args {
    #[command(subcommand)]
    pub command: TaskCommand,
}

#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    Add(add::Args),
    List(list::Args),
    Show(show::Args),
    Edit(edit::Args),
    Rm(rm::Args),
    Claim(claim::Args),
    Release(release::Args),
    Import(import::Args),
}

pub fn run(env: &Env, args: Args) -> Result<(), CommandError> {
    match args.command {
        TaskCommand::Add(a) => add::run(env, a),
        TaskCommand::List(a) => list::run(env, a),
        TaskCommand::Show(a) => show::run(env, a),
        TaskCommand::Edit(a) => edit::run(env, a),
        TaskCommand::Rm(a) => rm::run(env, a),
        TaskCommand::Claim(a) => claim::run(env, a),
        TaskCommand::Release(a) => release::run(env, a),
        TaskCommand::Import(a) => import::run(env, a),
    }
}

/// Who is acting, for commit messages: the swarm worker when run by an agent, else the
/// git user, else `user`.
pub(crate) fn actor(repo: &crate::git::Repo, ctx: &AgentContext) -> String {
    if let Some(worker) = &ctx.worker {
        return match &ctx.swarm {
            Some(swarm) => format!("{swarm}/{worker}"),
            None => worker.clone(),
        };
    }
    repo.config_string("user.name")
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "user".into())
}

/// The caller runs inside a swarm: why we think so, and which worker it is when that can be
/// told (`(swarm, worker)`, the swarm possibly empty for a worker named by hand).
pub(crate) struct SwarmContext {
    pub why: String,
    pub who: Option<(String, String)>,
}

/// Whether the caller is inside a swarm: a swarm variable is set, or it runs in a worker's
/// worktree (on an `oompa/*` branch or under the swarm worktree directory).
pub(crate) fn swarm_context(repo: &crate::git::Repo, ctx: &AgentContext) -> Option<SwarmContext> {
    let why = ctx
        .swarm_var
        .map(|v| format!("{v} is set"))
        .or_else(|| crate::guard::agent_context(repo, ctx, None))?;
    let from_branch = |name: &str| {
        let full = crate::guard::full_branch(name);
        crate::guard::parse_worker_branch(&full).map(|(s, w)| (s.to_string(), w.to_string()))
    };
    let who = match &ctx.worker {
        Some(worker) => Some((ctx.swarm.clone().unwrap_or_default(), worker.clone())),
        None => ctx
            .branch
            .as_deref()
            .and_then(from_branch)
            .or_else(|| repo.head_branch().and_then(|b| from_branch(&b))),
    };
    Some(SwarmContext { why, who })
}

/// Who edits or removes: the git user, or (inside a swarm) the agent's worker, whose own
/// claims need no `--force` and get no notice.
pub(crate) fn change_actor<'a>(name: &'a str, ctx: &'a AgentContext) -> crate::store::Actor<'a> {
    crate::store::Actor {
        name,
        swarm: ctx.swarm.as_deref(),
        worker: ctx.worker.as_deref(),
    }
}

/// `--force` on another worker's claim is a person's decision: inside a swarm (an agent's
/// environment) it is refused.
pub(crate) fn refuse_force_in_swarm(force: bool, ctx: &AgentContext) -> Result<(), CommandError> {
    if force && ctx.worker.is_some() {
        return Err(CommandError::usage(
            "--force is for people: inside a swarm an agent changes only the tasks it holds",
        )
        .with_hint("leave the task to its worker, or add a new task with `git oompa task add`"));
    }
    Ok(())
}

/// The edge form of a refused edit or removal, with the command that gets past it.
pub(crate) fn change_error(e: crate::store::ChangeError) -> CommandError {
    use crate::store::ChangeError;
    match e {
        ChangeError::Queue(q) => q.into(),
        ChangeError::Claimed { ref id, .. } => CommandError::from_error(&e).with_hint(format!(
            "add --force to change it anyway (its worker is told at its next turn), or \
             `git oompa task release {id}` first"
        )),
        ChangeError::Complete(_) => CommandError::from_error(&e)
            .with_hint("add a new task for what is still to do: `git oompa task add`"),
    }
}

/// Parses command-line ids, failing on the first invalid one.
pub(crate) fn parse_ids(raw: &[String]) -> Result<Vec<TaskId>, CommandError> {
    raw.iter()
        .map(|s| TaskId::new(s).map_err(CommandError::from))
        .collect()
}

/// The claimant for `claim`: `--worker`/`--swarm`, else the agent's environment `ctx`.
pub(crate) fn claimant(
    worker: Option<String>,
    swarm: Option<String>,
    lease: std::time::Duration,
    ctx: &AgentContext,
) -> Result<Claimant, CommandError> {
    let worker = worker.or_else(|| ctx.worker.clone()).ok_or_else(|| {
        CommandError::usage(format!(
            "who is claiming? no --worker given and {} is not set",
            agent_env::WORKER
        ))
        .with_hint(format!(
            "pass `--worker NAME` (agents inside a swarm worktree have {} set)",
            agent_env::WORKER
        ))
    })?;
    let swarm = swarm.or_else(|| ctx.swarm.clone()).unwrap_or_default();
    let pid = ctx.swarm_pid.as_deref().and_then(|p| p.parse().ok());
    Ok(Claimant {
        swarm,
        worker,
        branch: ctx.branch.clone(),
        lease,
        pid,
    })
}
