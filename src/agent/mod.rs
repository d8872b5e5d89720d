//! Agent harnesses: how each agent CLI is started, fed, supervised and understood.
//!
//! Owns model strings ([`model`]), one module per agent CLI (`harness`: command lines, prompt
//! delivery, output parsers), process supervision (`process`), output bounds ([`output`]),
//! signals ([`signal`]), review verdicts ([`verdict`]), usage limits and provider errors
//! ([`limit`]), CLI discovery ([`mod@detect`]) and prompts ([`prompt`]). The values of a turn
//! are in [`types`]; the entry point is [`run_turn`]. It never touches git and never prints.

pub mod detect;
pub mod limit;
pub mod model;
pub mod output;
pub mod prompt;
pub mod signal;
pub mod transcript;
pub mod turn;
pub mod turn_log;
pub mod types;
pub mod verdict;

pub(crate) mod exec_usage;
pub(crate) mod harness;
pub(crate) mod process;

#[cfg(test)]
mod real_cli_tests;

pub use detect::{CliInfo, binary_name, detect, find_binary};
pub use limit::Trouble;
pub use model::{Harness, ModelSpec, ModelSpecError};
pub use prompt::PromptError;
pub use signal::{Signal, parse_signal};
pub use turn::run_turn;
pub use turn_log::run_logged;
pub use types::{AgentError, Exit, Turn, TurnMode, TurnOutput, Usage};
pub use verdict::{Review, Verdict, parse_verdict};
