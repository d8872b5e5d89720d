//! `git oompa task claim ID…`: claims tasks for a worker, reporting each id.

use std::time::Duration;

use crate::cli::ui::{self, GREEN, RED, YELLOW};
use crate::cli::{CommandError, Env};
use crate::store::{ClaimOutcome, Queue};

/// Claim tasks for a worker; exits non-zero unless every id was claimed
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Inside a swarm worktree the worker and swarm come from OOMPA_WORKER and OOMPA_SWARM, so an
agent can simply run `git oompa task claim ID`; it cannot claim in another worker's name. Each
id is reported on stdout as `claimed`, `taken` (with the holder), `complete` or `missing`.")]
pub struct Args {
    /// Task ids to claim
    #[arg(required = true)]
    pub ids: Vec<String>,
    /// Worker name to claim for [default: $OOMPA_WORKER]
    #[arg(long)]
    pub worker: Option<String>,
    /// Swarm id to claim for [default: $OOMPA_SWARM]
    #[arg(long)]
    pub swarm: Option<String>,
    /// Hours the claim stays valid without its owner process
    #[arg(
        long,
        default_value_t = 24,
        value_name = "HOURS",
        value_parser = clap::value_parser!(u64).range(1..=MAX_LEASE_HOURS)
    )]
    pub lease: u64,
}

/// The longest lease `--lease` takes: a year (a larger number was a panic, not a claim).
const MAX_LEASE_HOURS: u64 = 366 * 24;

pub fn run(env: &Env, args: Args) -> Result<(), CommandError> {
    let ids = super::parse_ids(&args.ids)?;
    let who = super::claimant(
        args.worker,
        args.swarm,
        Duration::from_secs(args.lease * 3600),
        &env.agent,
    )?;
    let repo = env.repo()?;
    // Inside a swarm an agent claims for itself only: a claim made in another worker's name
    // would be landed (or released) with that worker's work.
    if let Some(ctx) = super::swarm_context(&repo, &env.agent) {
        let mine = ctx
            .who
            .as_ref()
            .is_some_and(|(swarm, worker)| *swarm == who.swarm && *worker == who.worker);
        if !mine {
            let me = match &ctx.who {
                Some((s, w)) if s.is_empty() => w.clone(),
                Some((s, w)) => format!("{s}/{w}"),
                None => "an unknown worker".into(),
            };
            return Err(CommandError::user(format!(
                "inside a swarm ({}) you claim for yourself ({me}), not for {}",
                ctx.why,
                who.label()
            ))
            .with_hint(
                "drop --worker and --swarm: inside a swarm they come from your environment",
            ));
        }
    }
    crate::cli::recover_dead_claims(env, &repo);
    let outcomes = Queue::new(&repo).claim(&ids, &who)?;
    let ui = &env.ui;
    let mut failed = 0;
    for (id, outcome) in &outcomes {
        let line = match outcome {
            ClaimOutcome::Claimed => format!("{} {id}", ui.paint(GREEN, "claimed ")),
            ClaimOutcome::Taken(by) => {
                failed += 1;
                format!(
                    "{} {id} (held by {})",
                    ui.paint(YELLOW, "taken   "),
                    ui::escape(by)
                )
            }
            ClaimOutcome::Complete => {
                failed += 1;
                format!("{} {id} (already landed)", ui.paint(YELLOW, "complete"))
            }
            ClaimOutcome::NotFound => {
                failed += 1;
                format!("{} {id} (no such task)", ui.paint(RED, "missing "))
            }
            ClaimOutcome::Corrupt(why) => {
                failed += 1;
                format!("{} {id} ({})", ui.paint(RED, "corrupt "), ui::escape(why))
            }
        };
        ui.out(line)?;
    }
    if failed > 0 {
        return Err(CommandError::user(format!(
            "{failed} of {} not claimed",
            ui::count(outcomes.len(), "task", "tasks")
        ))
        .with_hint("`git oompa task list --state pending` shows what is free"));
    }
    Ok(())
}
