//! `git oompa hook NAME [ARGS…]` (hidden): what the shims installed by `git oompa hooks
//! install` run. Exits 1 only to refuse; anything that goes wrong inside the guard itself is
//! a one-line warning and exit 0, so a broken guard never blocks a repository.

use std::io::Read;

use super::{CommandError, Env};
use crate::git::Repo;
use crate::guard::{pre_push, ref_txn};

/// Run one of git oompa's hooks (git calls this through the installed shims)
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The hook: pre-push or reference-transaction
    pub name: String,
    /// The arguments git gave the hook
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub fn run(env: &Env, args: Args) -> Result<(), CommandError> {
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        env.ui.warn(format!(
            "git oompa hook {}: cannot read stdin: {e}",
            args.name
        ));
        return Ok(());
    }
    match args.name.as_str() {
        "reference-transaction" => reference_transaction(env, &args.args, &input),
        "pre-push" => pre_push(env, &args.args, &input),
        other => {
            // A newer shim calling an older binary: let git go on.
            tracing::debug!("no guard for hook {other}");
            Ok(())
        }
    }
}

fn open(env: &Env) -> Option<Repo> {
    match Repo::discover_for_hook(&env.cwd) {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::debug!("hook: cannot open the repository: {e}");
            None
        }
    }
}

fn reference_transaction(env: &Env, args: &[String], input: &str) -> Result<(), CommandError> {
    let state = args.first().map(String::as_str).unwrap_or("");
    let main_worktree = ref_txn::plainly_main_worktree(&env.cwd);
    match ref_txn::check(state, input, main_worktree, &env.agent, || open(env)) {
        None => Ok(()),
        Some(refusal) => {
            let mut err = CommandError::user(refusal.message);
            for h in refusal.hints {
                err = err.with_hint(h);
            }
            Err(err)
        }
    }
}

fn pre_push(env: &Env, args: &[String], input: &str) -> Result<(), CommandError> {
    let remote = args.first().map(String::as_str).unwrap_or("");
    let url = args.get(1).map(String::as_str).unwrap_or("");
    let Some(repo) = open(env) else {
        return Ok(());
    };
    let verdict = match pre_push::check(&repo, remote, url, input) {
        Ok(v) => v,
        Err(e) => {
            env.ui.warn(format!(
                "git oompa could not check this push ({e}); letting it through"
            ));
            return Ok(());
        }
    };
    if verdict.violations.is_empty() {
        return Ok(());
    }
    let mut message = format!(
        "git oompa refuses this push to {}:",
        if remote.is_empty() { url } else { remote }
    );
    for v in &verdict.violations {
        message.push_str("\n  - ");
        message.push_str(&v.message);
    }
    let mut err = CommandError::user(message);
    for h in verdict.hints {
        err = err.with_hint(h);
    }
    Err(err)
}
