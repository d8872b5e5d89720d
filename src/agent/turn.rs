//! One agent turn run to its end: [`run_turn`] builds the command line, finds the binary,
//! supervises the process and reads its output.
//!
//! Owns the orchestration of a turn; the values it takes and returns live in
//! [`super::types`]. An agent that fails is a normal [`TurnOutput`] (its exit status says how);
//! only our own failures (missing binary, spawn error, transcript I/O) are an [`AgentError`]. It
//! never touches git and never prints.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::detect;
use super::harness::{self, Adapter, Invocation};
use super::limit::{self, Trouble};
use super::output::{FINAL_TEXT_MAX, bounded};
use super::process::{self, ProcessSpec};
use super::transcript::CappedFile;
use super::types::{AgentError, Exit, Turn, TurnOutput, Usage};

/// Runs one agent turn to completion, timeout or kill.
///
/// An agent that exits non-zero is not an error: see [`TurnOutput::exit`].
pub fn run_turn(turn: &Turn) -> Result<TurnOutput, AgentError> {
    let cwd = absolute_cwd(turn)?;
    let turn = &Turn { cwd: &cwd, ..*turn };
    let fresh_id = uuid::Uuid::new_v4().to_string();
    let adapter = harness::adapter(&turn.spec.harness);
    let inv = adapter.invocation(turn, &fresh_id, nix::unistd::geteuid().is_root());
    let program = resolve_program(turn, adapter.as_ref(), &inv)?;
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
    let parser = adapter.parser();
    let plain_stdout = parser.is_none();
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
        parser,
        stdout_tail: FINAL_TEXT_MAX,
        sweep: Some(turn.cwd),
        stop_on_stderr: adapter.retrying_a_limit(),
    })
    .map_err(|source| AgentError::Spawn {
        program: program.clone(),
        cwd: turn.cwd.to_path_buf(),
        source,
    })?;

    tracing::debug!(exit = %finished.exit, duration = ?finished.duration, "agent turn ended");
    Ok(output(
        turn,
        adapter.as_ref(),
        inv.session_id,
        finished,
        plain_stdout,
    ))
}

/// The turn's working directory, made absolute: `-C`/`--dir` get the path too, and relative
/// to the child's cwd it would point elsewhere.
fn absolute_cwd(turn: &Turn) -> Result<PathBuf, AgentError> {
    if !turn.cwd.is_dir() {
        return Err(AgentError::WorkDir {
            path: turn.cwd.to_path_buf(),
        });
    }
    std::path::absolute(turn.cwd).map_err(|_| AgentError::WorkDir {
        path: turn.cwd.to_path_buf(),
    })
}

/// What the turn gave: its final text, session, usage, and trouble (a usage limit or a
/// provider error) when it did not succeed. `session_id` is the one the invocation chose,
/// for when the output names none.
fn output(
    turn: &Turn,
    adapter: &dyn Adapter<'_>,
    session_id: Option<String>,
    finished: process::Finished,
    plain_stdout: bool,
) -> TurnOutput {
    let parsed = finished.parsed.unwrap_or_default();
    let final_text = match parsed.final_text {
        _ if plain_stdout => finished.stdout_tail,
        Some(text) => text,
        None => last_non_empty_lines(&finished.stdout_tail),
    };
    let mut out = TurnOutput {
        exit: finished.exit,
        final_text,
        session_id: parsed.session_id.or(session_id),
        usage: match &turn.spec.harness {
            crate::agent::Harness::Exec(_) => super::exec_usage::parse(&finished.stderr_tail),
            _ => parsed.usage,
        },
        duration: finished.duration,
        stderr_tail: finished.stderr_tail,
        failure: parsed.failure,
        escaped: finished.escaped,
        trouble: None,
    };
    out.trouble = match &finished.stopped_by {
        Some(line) => {
            let (reason, session) = adapter.read_limit_line(line);
            if out.session_id.is_none() {
                out.session_id = session;
            }
            Some(Trouble::Limited {
                retry_after: limit::retry_after(line),
                reason,
            })
        }
        None if out.succeeded() => None,
        None => adapter.trouble(&out),
    };
    // A fresh session the CLI did not keep cannot be resumed: the next turn starts afresh.
    if out.trouble.is_some() && turn.resume.is_none() && !adapter.keeps_session(&out) {
        out.session_id = None;
    }
    out
}

/// The binary to start: the harness CLI found on the child's PATH, or the adapter's fallback
/// (`/bin/sh` for `exec`).
fn resolve_program(
    turn: &Turn,
    adapter: &dyn Adapter<'_>,
    inv: &Invocation,
) -> Result<PathBuf, AgentError> {
    let path_var = turn
        .env
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| std::ffi::OsString::from(v))
        .or_else(|| std::env::var_os("PATH"));
    let found = detect::find_on_path(&inv.program, path_var.as_deref());
    found
        .or_else(|| adapter.fallback_program())
        .ok_or_else(|| AgentError::NotFound {
            name: inv.program.clone(),
            harness: turn.spec.harness.name().to_string(),
        })
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
        trouble: None,
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
