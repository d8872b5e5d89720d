//! `exec:<command>`: any program, run through `sh -c` with the prompt on stdin and the session
//! in `agent_env::SESSION_ID` / `agent_env::RESUME`; its stdout is its final message.

use std::ffi::OsString;
use std::path::PathBuf;

use std::time::Duration;

use super::{Adapter, Invocation};
use crate::agent::limit::{self, EXEC_LIMIT_EXIT, Trouble};
use crate::agent::output::OutputParser;
use crate::agent::types::{Exit, Turn, TurnOutput};
use crate::agent_env;

pub(crate) struct Exec<'a> {
    /// The command after `exec:`.
    pub command: &'a str,
}

impl<'h> Adapter<'h> for Exec<'h> {
    /// The first word of the command (best effort, quoting is not interpreted).
    fn binary(&self) -> &'h str {
        self.command.split_whitespace().next().unwrap_or("sh")
    }

    fn asks_version(&self) -> bool {
        false
    }

    fn invocation(&self, turn: &Turn, fresh_id: &str, _as_root: bool) -> Invocation {
        let mut inv = Invocation::of("sh");
        inv.args
            .extend(["-c".into(), self.command.into(), "sh".into()]);
        inv.args.extend(turn.extra_args.iter().map(OsString::from));
        inv.stdin = Some(turn.prompt.to_string());
        let id = turn.resume.unwrap_or(fresh_id).to_string();
        inv.env.push((agent_env::SESSION_ID.into(), id.clone()));
        if turn.resume.is_some() {
            inv.env.push((agent_env::RESUME.into(), "1".into()));
        } else {
            // An inherited `agent_env::RESUME` (oompa inside an oompa worker) must not fake a
            // resume.
            inv.env_remove.push(agent_env::RESUME.into());
        }
        inv.env
            .push((agent_env::TURN_MODE.into(), turn.mode.as_str().into()));
        inv.session_id = Some(id);
        inv
    }

    fn parser(&self) -> Option<Box<dyn OutputParser>> {
        None
    }

    fn fallback_program(&self) -> Option<PathBuf> {
        Some(PathBuf::from("/bin/sh"))
    }

    /// Exit status 75 ([`EXEC_LIMIT_EXIT`]) is a usage limit, reset after the seconds of a
    /// `retry-after: <seconds>` line on stderr when there is one; the first other stderr line
    /// is the reason. Other failures are transient only when stderr names a provider error
    /// (5xx, connection reset): an exec agent is never taken for limited by its text alone.
    fn trouble(&self, out: &TurnOutput) -> Option<Trouble> {
        let stderr = &out.stderr_tail;
        if out.exit != Exit::Code(EXEC_LIMIT_EXIT) {
            return limit::mentions_transient(stderr).then(|| Trouble::Transient {
                reason: limit::reason_of(stderr),
            });
        }
        let retry_after = stderr.lines().rev().find_map(|l| {
            let l = l.trim().to_ascii_lowercase();
            let secs = l.strip_prefix("retry-after:")?.trim().parse::<f64>().ok()?;
            Duration::try_from_secs_f64(secs).ok()
        });
        let reason = stderr
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.to_ascii_lowercase().starts_with("retry-after:"))
            .map_or_else(
                || format!("exit status {EXEC_LIMIT_EXIT} (usage limit)"),
                limit::reason_of,
            );
        Some(Trouble::Limited {
            retry_after,
            reason,
        })
    }
}
