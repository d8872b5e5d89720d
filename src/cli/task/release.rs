//! `git oompa task release ID…`: returns claimed tasks to pending.
//!
//! Inside a swarm (an agent's environment or worktree) only the caller's own claims can be
//! released, so an agent cannot free another worker's task to take it. A person outside a
//! swarm releases hand-made claims and claims whose swarm is gone; a claim of a running swarm
//! needs `--force`.

use crate::cli::{CommandError, Env};
use crate::store::queue::hostname;
use crate::store::{Owner, Queue, QueueError};

/// Return claimed tasks to pending
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Inside a swarm (OOMPA_SWARM, OOMPA_WORKER or another variable a swarm gives its agents is set,
or the command runs in a worker's worktree) only your own claims can be released, and --force
is refused. Outside a swarm, a claim made by hand or one whose swarm is gone is released as
is; a claim held by a running swarm needs --force (its worker goes on working, but its landing
no longer completes the task).")]
pub struct Args {
    /// Task ids to release
    #[arg(required = true)]
    pub ids: Vec<String>,
    /// Also release claims held by a running swarm (not allowed inside a swarm)
    #[arg(long)]
    pub force: bool,
}

pub fn run(env: &Env, args: Args) -> Result<(), CommandError> {
    let ids = super::parse_ids(&args.ids)?;
    let repo = env.repo()?;
    let actor = super::actor(&repo, &env.agent);
    let host = hostname();
    let context = super::swarm_context(&repo, &env.agent);
    let owner = match &context {
        Some(ctx) if args.force => {
            return Err(CommandError::user(format!(
                "--force is refused inside a swarm ({})",
                ctx.why
            ))
            .with_hint(
                "an agent releases only its own claims; leave other workers' tasks to them",
            ));
        }
        Some(ctx) => match &ctx.who {
            Some((swarm, worker)) => Owner::Worker { swarm, worker },
            None => {
                return Err(CommandError::user(format!(
                    "inside a swarm ({}) but it is not clear which worker you are",
                    ctx.why
                ))
                .with_hint(format!(
                    "set {} and {}, or run it outside the swarm's worktrees",
                    crate::agent_env::SWARM,
                    crate::agent_env::WORKER
                )));
            }
        },
        None if args.force => Owner::Any,
        None => Owner::NotLive { host: &host },
    };
    Queue::new(&repo)
        .release(&ids, owner, &actor)
        .map_err(|e| match e {
            QueueError::NotOwner { .. } => CommandError::from(e).with_hint(
                "inside a swarm an agent releases only its own claims (`git oompa task list \
                 --state current` shows who holds what)",
            ),
            QueueError::OwnerAlive { ref id, .. } => {
                let id = id.clone();
                CommandError::from(e).with_hint(format!(
                    "`git oompa task release --force {id}` releases it anyway; its worker goes \
                     on, but its landing will no longer complete the task"
                ))
            }
            e => e.into(),
        })?;
    for id in &ids {
        env.ui.out(format!("released {id}"))?;
    }
    Ok(())
}
