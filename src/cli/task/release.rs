//! `git oompa task release ID…`: returns claimed tasks to pending.

use crate::cli::{CommandError, Env};
use crate::store::{Owner, Queue};

/// Return claimed tasks to pending
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Task ids to release
    #[arg(required = true)]
    pub ids: Vec<String>,
}

pub fn run(env: &Env, args: Args) -> Result<(), CommandError> {
    let ids = super::parse_ids(&args.ids)?;
    let repo = env.repo()?;
    let actor = super::actor(&repo);
    Queue::new(&repo).release(&ids, Owner::Any, &actor)?;
    for id in &ids {
        env.ui.out(format!("released {id}"))?;
    }
    Ok(())
}
