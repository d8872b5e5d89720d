//! The values a turn is made of: the request ([`Turn`], [`TurnMode`]), the result
//! ([`TurnOutput`], [`Exit`], [`Usage`]) and why a turn could not run ([`AgentError`]).
//!
//! Owns no behaviour beyond describing these values, so the harness adapters, the parsers, the
//! process supervisor and the orchestration in [`super::turn`] all depend on it and it depends
//! on none of them. It never runs anything and never prints.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::limit::Trouble;
use super::model::ModelSpec;
use super::output::keep_tail;

/// Everything needed to run one agent turn.
#[derive(Debug, Clone, Copy)]
pub struct Turn<'a> {
    pub spec: &'a ModelSpec,
    /// The worker's worktree; resumes always happen here too (claude, gemini and opencode
    /// sessions are keyed by directory). Processes started during the turn that still work
    /// inside it when the turn ends are ended with it.
    pub cwd: &'a Path,
    pub prompt: &'a str,
    /// A session id from an earlier [`TurnOutput`] to resume; `None` starts a fresh session.
    pub resume: Option<&'a str>,
    pub mode: TurnMode,
    /// The user's extra CLI arguments from config, placed before the prompt. For `exec` they are
    /// the command's positional parameters (`"$@"`).
    pub extra_args: &'a [String],
    /// Added to the child's environment (after the inherited one, before harness variables).
    pub env: &'a [(String, String)],
    /// Wall-clock limit for the whole turn.
    pub timeout: Duration,
    /// Everything the agent prints (stdout and stderr) is appended here; parent dirs are created.
    pub transcript: &'a Path,
    /// The most bytes of this turn's output the transcript keeps (its head and its tail); see
    /// [`super::transcript`].
    pub transcript_max: u64,
    /// When this becomes true the agent's process group is terminated at once.
    pub kill: &'a AtomicBool,
}

/// What kind of turn this is.
///
/// `OneShot` is for reviewers and planners: a fresh session that is never resumed. The command
/// line is the same as for `Work`; `exec` agents see the mode in
/// [`agent_env::TURN_MODE`](crate::agent_env::TURN_MODE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TurnMode {
    Work,
    OneShot,
}

impl TurnMode {
    /// `work` or `oneshot`, as given to `exec` agents in
    /// [`agent_env::TURN_MODE`](crate::agent_env::TURN_MODE).
    pub fn as_str(self) -> &'static str {
        match self {
            TurnMode::Work => "work",
            TurnMode::OneShot => "oneshot",
        }
    }
}

/// How the agent process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exit {
    /// It exited by itself with this status code.
    Code(i32),
    /// A signal we did not send ended it.
    Signal(i32),
    /// It ran past [`Turn::timeout`] and was terminated.
    TimedOut,
    /// [`Turn::kill`] was raised and it was terminated.
    Killed,
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exited with code {c}"),
            Exit::Signal(s) => write!(f, "terminated by signal {s}"),
            Exit::TimedOut => f.write_str("timed out"),
            Exit::Killed => f.write_str("killed"),
        }
    }
}

/// Token usage and cost as the harness reports them; `None` where it reports nothing.
///
/// `input_tokens` counts everything the model read, cached or not.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cost_usd: Option<f64>,
}

/// The result of a turn that ran (whether or not the agent succeeded).
#[derive(Debug, Clone, PartialEq)]
pub struct TurnOutput {
    pub exit: Exit,
    /// The agent's final message only (its last 64 KiB). When a JSON-mode CLI printed no final
    /// message, the last non-empty lines of its stdout.
    pub final_text: String,
    /// The id to resume this session with: the CLI's own id (codex, opencode), or the one we
    /// chose (claude, gemini, exec). `None` when a CLI never told us, or kept no session (a
    /// fresh turn its provider cut short before it began).
    pub session_id: Option<String>,
    pub usage: Usage,
    pub duration: Duration,
    /// The last ~2 KiB of stderr.
    pub stderr_tail: String,
    /// An error the CLI reported in its own output (API error, failed turn), if any.
    pub failure: Option<String>,
    /// Processes the agent left running outside its process group (`<pid> <command>`),
    /// ended when the turn ended.
    pub escaped: Vec<String>,
    /// For a turn that did not succeed: the provider's part in it (a usage limit, a passing
    /// error), as its harness reads its output. `None` for the agent's own failures.
    pub trouble: Option<Trouble>,
}

impl TurnOutput {
    /// The agent exited 0 and its CLI reported no error.
    pub fn succeeded(&self) -> bool {
        self.exit == Exit::Code(0) && self.failure.is_none()
    }

    /// A short, single-line description of what went wrong; empty when the turn succeeded.
    pub fn error_snippet(&self) -> String {
        if self.succeeded() {
            return String::new();
        }
        let what = match self.exit {
            Exit::TimedOut => format!("timed out after {}s", self.duration.as_secs()),
            Exit::Code(0) => "reported an error".to_string(),
            other => other.to_string(),
        };
        // A reported failure reads best from its start; stderr and stdout from their end.
        let failure = self
            .failure
            .as_deref()
            .map(one_line)
            .filter(|d| !d.is_empty());
        let detail = failure.map(|d| keep_head(&d, 300).to_string()).or_else(|| {
            [&self.stderr_tail, &self.final_text]
                .into_iter()
                .map(|s| one_line(keep_tail(s, 4096)))
                .find(|d| !d.is_empty())
                .map(|d| keep_tail(&d, 300).to_string())
        });
        match detail {
            Some(d) => format!("{what}: {d}"),
            None => what,
        }
    }
}

fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
}

fn keep_head(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Why a turn could not be run at all.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("`{name}` was not found on PATH (needed for harness {harness})")]
    NotFound { name: String, harness: String },
    #[error("the working directory {} does not exist or is not a directory", path.display())]
    WorkDir { path: PathBuf },
    #[error("could not start `{}` in {}", program.display(), cwd.display())]
    Spawn {
        program: PathBuf,
        cwd: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("could not open the transcript {}", path.display())]
    Transcript {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}
