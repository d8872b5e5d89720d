//! Agent harnesses: how each agent CLI is started, fed, supervised and understood.
//!
//! Owns model strings ([`model`]), command lines (`command`), process supervision (`process`),
//! output bounds and parsing ([`output`], `parsers`), signals ([`signal`]), review verdicts
//! ([`verdict`]), CLI discovery ([`mod@detect`]) and prompts ([`prompt`]). The entry point is
//! [`run_turn`]. It never touches git and never prints.

pub mod detect;
pub mod model;
pub mod output;
pub mod prompt;
pub mod signal;
pub mod transcript;
pub mod turn;
pub mod turn_log;
pub mod verdict;

pub(crate) mod command;
pub(crate) mod parsers;
pub(crate) mod process;

#[cfg(test)]
mod real_cli_tests;

pub use detect::{CliInfo, binary_name, detect, find_binary};
pub use model::{Harness, ModelSpec, ModelSpecError};
pub use prompt::PromptError;
pub use signal::{Signal, parse_signal};
pub use turn::{AgentError, Exit, Turn, TurnMode, TurnOutput, Usage, run_turn};
pub use turn_log::run_logged;
pub use verdict::{Review, Verdict, parse_verdict};
