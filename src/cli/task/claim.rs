//! `git oompa task claim ID…`: claims tasks for a worker, reporting each id.

use std::time::Duration;

use crate::cli::ui::{GREEN, RED, YELLOW};
use crate::cli::{CommandError, Env};
use crate::store::{ClaimOutcome, Queue};

/// Claim tasks for a worker; exits non-zero unless every id was claimed
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Inside a swarm worktree the worker and swarm come from OOMPA_WORKER and OOMPA_SWARM, so an
agent can simply run `git oompa task claim ID`. Each id is reported on stdout as
`claimed`, `taken` (with the holder), `complete` or `missing`.")]
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
    )?;
    let repo = env.repo()?;
    crate::cli::recover_dead_claims(env, &repo);
    let outcomes = Queue::new(&repo).claim(&ids, &who)?;
    let ui = &env.ui;
    let mut failed = 0;
    for (id, outcome) in &outcomes {
        let line = match outcome {
            ClaimOutcome::Claimed => format!("{} {id}", ui.paint(GREEN, "claimed ")),
            ClaimOutcome::Taken(by) => {
                failed += 1;
                format!("{} {id} (held by {by})", ui.paint(YELLOW, "taken   "))
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
                format!("{} {id} ({why})", ui.paint(RED, "corrupt "))
            }
        };
        ui.out(line)?;
    }
    if failed > 0 {
        return Err(CommandError::user(format!(
            "{failed} of {} task(s) not claimed",
            outcomes.len()
        ))
        .with_hint("`git oompa task list --state pending` shows what is free"));
    }
    Ok(())
}
