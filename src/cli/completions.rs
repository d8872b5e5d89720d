//! `git oompa completions SHELL`: prints a completion script generated from the clap tree.

use super::{CommandError, Env};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to generate completions for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub fn run(env: &Env, args: Args) -> Result<(), CommandError> {
    let mut cmd = super::command();
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "git-oompa", &mut buf);
    env.ui.out_raw(&buf)
}
