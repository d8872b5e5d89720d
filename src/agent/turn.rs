//! One agent turn: the request ([`Turn`]), the result ([`TurnOutput`]) and [`run_turn`], which
//! builds the command line, finds the binary, supervises the process and reads its output.
//!
//! Owns the contract between the swarm and a running agent. An agent that fails is a normal
//! [`TurnOutput`] (its exit status says how); only our own failures (missing binary, spawn
//! error, transcript I/O) are an [`AgentError`]. It never touches git and never prints.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::command::{self, Invocation};
use super::detect;
use super::model::{Harness, ModelSpec};
use super::output::{FINAL_TEXT_MAX, bounded, keep_tail};
use super::parsers;
use super::process::{self, ProcessSpec};
use super::transcript::CappedFile;

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
    /// chose (claude, gemini, exec). `None` when a CLI never told us.
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

/// Runs one agent turn to completion, timeout or kill.
///
/// An agent that exits non-zero is not an error: see [`TurnOutput::exit`].
pub fn run_turn(turn: &Turn) -> Result<TurnOutput, AgentError> {
    if !turn.cwd.is_dir() {
        return Err(AgentError::WorkDir {
            path: turn.cwd.to_path_buf(),
        });
    }
    // `-C`/`--dir` get the path too: relative to the child's cwd it would point elsewhere.
    let cwd = std::path::absolute(turn.cwd).map_err(|_| AgentError::WorkDir {
        path: turn.cwd.to_path_buf(),
    })?;
    let turn = &Turn { cwd: &cwd, ..*turn };
    let fresh_id = uuid::Uuid::new_v4().to_string();
    let inv = command::command_for(turn, &fresh_id, nix::unistd::geteuid().is_root());
    let program = resolve_program(turn, &inv)?;
    if turn.kill.load(Ordering::SeqCst) {
        return Ok(not_started(turn.resume.map(str::to_string)));
    }
    let transcript = open_transcript(turn.transcript, turn.transcript_max)?;

    tracing::debug!(
        harness = turn.spec.harness.name(),
        program = %program.display(),
        cwd = %turn.cwd.display(),
        resume = turn.resume,
        "starting agent turn"
    );
    let mut env: Vec<(String, String)> = turn.env.to_vec();
    env.extend(inv.env.iter().cloned());
    let finished = process::supervise(ProcessSpec {
        program: &program,
        args: &inv.args,
        cwd: turn.cwd,
        env: &env,
        env_remove: &inv.env_remove,
        stdin: inv.stdin.clone(),
        timeout: turn.timeout,
        kill: Some(turn.kill),
        transcript: Some(transcript),
        parser: parsers::parser_for(&turn.spec.harness),
        stdout_tail: FINAL_TEXT_MAX,
        sweep: Some(turn.cwd),
    })
    .map_err(|source| AgentError::Spawn {
        program: program.clone(),
        cwd: turn.cwd.to_path_buf(),
        source,
    })?;

    tracing::debug!(exit = %finished.exit, duration = ?finished.duration, "agent turn ended");
    let parsed = finished.parsed.unwrap_or_default();
    let final_text = match (&turn.spec.harness, parsed.final_text) {
        (Harness::Exec(_), _) => finished.stdout_tail,
        (_, Some(text)) => text,
        (_, None) => last_non_empty_lines(&finished.stdout_tail),
    };
    Ok(TurnOutput {
        exit: finished.exit,
        final_text,
        session_id: parsed.session_id.or(inv.session_id),
        usage: parsed.usage,
        duration: finished.duration,
        stderr_tail: finished.stderr_tail,
        failure: parsed.failure,
        escaped: finished.escaped,
    })
}

/// The binary to start: the harness CLI found on the child's PATH, or `sh` for `exec`.
fn resolve_program(turn: &Turn, inv: &Invocation) -> Result<PathBuf, AgentError> {
    let path_var = turn
        .env
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| std::ffi::OsString::from(v))
        .or_else(|| std::env::var_os("PATH"));
    let found = detect::find_on_path(&inv.program, path_var.as_deref());
    match (found, &turn.spec.harness) {
        (Some(p), _) => Ok(p),
        (None, Harness::Exec(_)) => Ok(PathBuf::from("/bin/sh")),
        (None, h) => Err(AgentError::NotFound {
            name: inv.program.clone(),
            harness: h.name().to_string(),
        }),
    }
}

fn open_transcript(path: &Path, max: u64) -> Result<CappedFile, AgentError> {
    let err = |source| AgentError::Transcript {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(err)?;
    }
    // Not in append mode: a capped transcript writes its tail at offsets, and reads it back
    // to put it in order.
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(err)?;
    CappedFile::new(file, max).map_err(err)
}

/// The output of a turn whose kill flag was already raised: nothing was started.
fn not_started(session_id: Option<String>) -> TurnOutput {
    TurnOutput {
        exit: Exit::Killed,
        final_text: String::new(),
        session_id,
        usage: Usage::default(),
        duration: Duration::ZERO,
        stderr_tail: String::new(),
        failure: None,
        escaped: Vec::new(),
    }
}

/// The fallback final text: stdout's non-empty lines, bounded, leaving out the JSON events
/// the parser already read (they never hold an own-line signal and only bury the text a
/// CLI printed outside its event stream).
fn last_non_empty_lines(stdout: &str) -> String {
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| {
            let l = l.trim();
            !(l.starts_with('{') && l.ends_with('}'))
        })
        .collect();
    bounded(&lines.join("\n"), FINAL_TEXT_MAX)
}

#[cfg(test)]
#[path = "turn_tests.rs"]
mod tests;
