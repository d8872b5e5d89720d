//! `git oompa`: a swarm of coding agents in parallel git worktrees, with everything it knows
//! kept in git.
//!
//! Module map:
//! - [`cli`]: clap definitions, one file per subcommand, and the `Ui` (the only printer).
//! - [`store`]: state kept in git: the task queue ref, cycle notes, trailers.
//! - [`git`]: the narrow facade over gix, plus the few git CLI calls gix cannot do.
//! - [`swarm`]: the runtime: workers, merge queue, recorder, shutdown.
//! - [`agent`]: harness adapters, process supervision, signals, prompts.
//! - [`agent_env`]: the environment protocol between git oompa and what it starts.
//! - [`config`]: `oompa.toml` / `oompa.json` loading and validation.
//! - [`guard`]: hooks, the invariants every command re-checks, `doctor` and `gc`.
//! - [`settings`]: the target branch, worktree directory and config file, resolved once.
//! - [`notify`]: the `notify` command run for chosen swarm events.
//! - [`timeline`]: a swarm's cycle records drawn as an SVG picture (`log --timeline`).
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod agent;
pub mod agent_env;
pub mod cli;
pub mod config;
pub mod git;
pub mod guard;
pub mod notify;
pub mod settings;
pub mod store;
pub mod swarm;
pub mod timeline;

/// The message a panic carried (`panic!("…")` gives a `&str` or a `String`), or a stand-in.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}
