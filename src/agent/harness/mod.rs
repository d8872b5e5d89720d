//! The agent CLIs oompa can drive, one module each: [`claude`], [`codex`], [`opencode`],
//! [`gemini`] and [`exec`].
//!
//! Each module is the "small declarative description" of DESIGN §5: its binary name, the
//! command line of a fresh turn and of a resumed one (reviewer and planner turns are fresh
//! turns), how the prompt is delivered, how the reasoning level is spelled, and the parser of
//! its output. Adding a harness is one new module implementing [`Adapter`] plus its name in
//! [`adapter`]. Nothing here spawns a process, reads the environment or prints: the fresh
//! session id and whether we run as root are parameters, so every flag is unit-tested.

pub(crate) mod claude;
pub(crate) mod codex;
pub(crate) mod exec;
pub(crate) mod gemini;
pub(crate) mod opencode;

use std::ffi::OsString;
use std::path::PathBuf;

use serde_json::Value;

use super::limit::{self, Trouble};
use super::model::Harness;
use super::output::OutputParser;
use super::types::{Turn, TurnOutput};

/// Prompts longer than this (or containing NUL) go on stdin instead of argv, which Linux caps
/// at 128 KiB per argument.
const ARGV_PROMPT_MAX: usize = 96 * 1024;

/// The size of the person's terminal, which the swarm may have in its environment: an agent's
/// output goes to a pipe, and a CLI that read these would wrap or cut for a screen it is not on.
/// A worker's `env` may still set them.
const TERMINAL_SIZE: [&str; 2] = ["COLUMNS", "LINES"];

/// How to start one turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invocation {
    /// Binary name to look up on PATH (`sh` for exec).
    pub program: String,
    pub args: Vec<OsString>,
    /// Written to the child's stdin, which is then closed; `None` means stdin is /dev/null.
    pub stdin: Option<String>,
    /// Harness variables, applied after the turn's own environment.
    pub env: Vec<(String, String)>,
    /// Variables removed from the inherited environment.
    pub env_remove: Vec<String>,
    /// The session id given on the command line (ours when fresh, or the resumed one).
    pub session_id: Option<String>,
}

impl Invocation {
    /// An invocation of `program` with nothing set yet.
    fn of(program: &str) -> Self {
        Invocation {
            program: program.to_string(),
            args: Vec::new(),
            stdin: None,
            env: Vec::new(),
            env_remove: TERMINAL_SIZE.iter().map(|k| k.to_string()).collect(),
            session_id: None,
        }
    }

    fn push<const N: usize>(&mut self, items: [&str; N]) {
        self.args.extend(items.iter().map(OsString::from));
    }

    /// `flag value` when there is a value.
    fn opt(&mut self, flag: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.args.extend([flag.into(), v.into()]);
        }
    }

    /// `--session-id <fresh>` for a new session or `--resume <id>`, recording which id we used.
    fn session_flags(&mut self, resume: Option<&str>, fresh: &str, new: &str, old: &str) {
        let (flag, id) = match resume {
            Some(id) => (old, id),
            None => (new, fresh),
        };
        self.args.extend([flag.into(), id.into()]);
        self.session_id = Some(id.to_string());
    }
}

/// What oompa knows about one agent CLI; `'h` is the lifetime of the [`Harness`] it describes
/// (an `exec:` adapter borrows its command).
pub(crate) trait Adapter<'h> {
    /// The program the harness needs on PATH (`git oompa check`, preflight).
    fn binary(&self) -> &'h str;

    /// Whether `<binary> --version` may be run to learn the version (never for `exec:`
    /// commands, which may be agents that would start working).
    fn asks_version(&self) -> bool {
        true
    }

    /// The reasoning level as this CLI spells it, or `None` to pass no flag.
    fn effort<'a>(&self, level: &'a str) -> Option<&'a str> {
        Some(level)
    }

    /// The command line of `turn`: fresh when `turn.resume` is `None` (`fresh_id` is used where
    /// the CLI lets us choose the id of a new session), else a resume of that session.
    fn invocation(&self, turn: &Turn, fresh_id: &str, as_root: bool) -> Invocation;

    /// The parser of its structured stdout; `None` when stdout itself is the final message.
    fn parser(&self) -> Option<Box<dyn OutputParser>>;

    /// The program to run when [`Invocation::program`] is not on PATH; `None` makes that an
    /// error.
    fn fallback_program(&self) -> Option<PathBuf> {
        None
    }

    /// Why a failed turn failed, when the provider is at fault: a rate or usage limit, or a
    /// passing provider error. `None` for the agent's own failures. Only asked about turns
    /// that did not succeed. By default the CLI's reported failure, then its stderr, are read
    /// as provider error texts.
    fn trouble(&self, out: &TurnOutput) -> Option<Trouble> {
        [out.failure.as_deref(), Some(out.stderr_tail.as_str())]
            .into_iter()
            .flatten()
            .find_map(limit::classify)
    }

    /// What a stderr line that stopped the turn ([`Adapter::retrying_a_limit`]) says: the
    /// reason to show, and the session id when the line names it.
    fn read_limit_line(&self, line: &str) -> (String, Option<String>) {
        (limit::reason_of(line), None)
    }

    /// Whether the fresh session of a turn the provider cut short can be resumed. Gemini CLI
    /// keeps no session when it gave up by itself on a failed first request; resuming it fails
    /// with "No previous sessions found".
    fn keeps_session(&self, _out: &TurnOutput) -> bool {
        true
    }

    /// For a CLI that retries a limit by itself instead of ending its turn: which lines of its
    /// stderr say it is doing so. The turn is then stopped at once and counts as limited, so
    /// the CLI does not burn the turn's timeout.
    fn retrying_a_limit(&self) -> Option<fn(&str) -> bool> {
        None
    }
}

/// The adapter of a harness.
pub(crate) fn adapter(harness: &Harness) -> Box<dyn Adapter<'_> + '_> {
    match harness {
        Harness::Claude => Box::new(claude::Claude),
        Harness::Codex => Box::new(codex::Codex),
        Harness::Opencode => Box::new(opencode::Opencode),
        Harness::Gemini => Box::new(gemini::Gemini),
        Harness::Exec(command) => Box::new(exec::Exec { command }),
    }
}

#[cfg(test)]
/// Builds the invocation for `turn`; `fresh_id` is used when the harness lets us choose the id of
/// a new session (claude, gemini, exec).
pub(crate) fn command_for(turn: &Turn, fresh_id: &str, as_root: bool) -> Invocation {
    adapter(&turn.spec.harness).invocation(turn, fresh_id, as_root)
}

#[cfg(test)]
/// The parser for a harness's structured output; `None` for `exec` (plain stdout).
pub(crate) fn parser_for(harness: &Harness) -> Option<Box<dyn OutputParser>> {
    adapter(harness).parser()
}

/// The reasoning level of `turn`'s model as `adapter` spells it.
fn effort<'t>(adapter: &dyn Adapter<'_>, turn: &Turn<'t>) -> Option<&'t str> {
    turn.spec
        .reasoning
        .as_deref()
        .and_then(|r| adapter.effort(r))
}

fn fits_argv(prompt: &str) -> bool {
    prompt.len() <= ARGV_PROMPT_MAX && !prompt.contains('\0')
}

/// The line as a JSON object, or `None` for anything else (banners, partial lines, garbage).
fn json_object(line: &str) -> Option<Value> {
    let line = line.trim();
    if !line.starts_with('{') {
        return None;
    }
    serde_json::from_str::<Value>(line)
        .ok()
        .filter(Value::is_object)
}

fn str_at<'v>(v: &'v Value, pointer: &str) -> Option<&'v str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn u64_at(v: &Value, pointer: &str) -> Option<u64> {
    v.pointer(pointer).and_then(Value::as_u64)
}

fn f64_at(v: &Value, pointer: &str) -> Option<f64> {
    v.pointer(pointer).and_then(Value::as_f64)
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.trim().is_empty())
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod command_tests;

#[cfg(test)]
#[path = "parsers_tests.rs"]
mod parsers_tests;
