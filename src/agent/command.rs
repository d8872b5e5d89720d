//! The command line of a turn for each harness: program, arguments, what goes on stdin and the
//! extra environment. A pure function of the [`Turn`], so every flag is unit-tested.
//!
//! Owns the flag syntax of claude, codex, opencode, gemini and `exec` (see
//! `reference/agent-clis.md`). It never spawns anything and never reads the environment: the
//! fresh session id and whether we run as root are parameters.

use std::ffi::OsString;

use super::model::Harness;
use super::turn::Turn;

/// Prompts longer than this (or containing NUL) go on stdin instead of argv, which Linux caps
/// at 128 KiB per argument.
const ARGV_PROMPT_MAX: usize = 96 * 1024;

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

/// Builds the invocation for `turn`; `fresh_id` is used when the harness lets us choose the id of
/// a new session (claude, gemini, exec).
pub(crate) fn command_for(turn: &Turn, fresh_id: &str, as_root: bool) -> Invocation {
    let spec = turn.spec;
    let mut inv = Invocation {
        program: super::detect::binary_name(&spec.harness).to_string(),
        args: Vec::new(),
        stdin: None,
        env: Vec::new(),
        env_remove: Vec::new(),
        session_id: None,
    };
    let model = spec.model.as_deref();
    let effort = spec
        .reasoning
        .as_deref()
        .and_then(|r| effort_for(&spec.harness, r));
    let cwd = turn.cwd.as_os_str().to_os_string();
    let extra = turn.extra_args.iter().map(OsString::from);
    match &spec.harness {
        Harness::Claude => {
            push(
                &mut inv.args,
                ["-p", "--output-format", "stream-json", "--verbose"],
            );
            push(&mut inv.args, ["--dangerously-skip-permissions"]);
            opt(&mut inv.args, "--model", model);
            opt(&mut inv.args, "--effort", effort);
            session_flags(&mut inv, turn.resume, fresh_id, "--session-id", "--resume");
            inv.args.extend(extra);
            // `-p` without a positional prompt reads stdin: no argv limit, no prompt that looks
            // like a flag, and extra args such as `--add-dir a b` cannot swallow it.
            inv.stdin = Some(turn.prompt.to_string());
            if as_root {
                inv.env.push(("IS_SANDBOX".into(), "1".into()));
            }
            // Claude Code refuses to start inside another Claude Code session.
            inv.env_remove.push("CLAUDECODE".into());
        }
        Harness::Codex => {
            push(
                &mut inv.args,
                [
                    "exec",
                    "--json",
                    "--dangerously-bypass-approvals-and-sandbox",
                ],
            );
            push(&mut inv.args, ["--skip-git-repo-check"]);
            // Codex runs commands in a login shell by default, and a login shell's /etc/profile
            // (Debian, Ubuntu) resets PATH: the agent would lose the directory of this
            // `git-oompa` we put first on PATH, and `git oompa task claim` fails with "'oompa'
            // is not a git command". A non-login shell keeps the PATH we give it. Extra args
            // come later and may turn it back on.
            push(&mut inv.args, ["-c", "allow_login_shell=false"]);
            inv.args.extend(["-C".into(), cwd]);
            opt(&mut inv.args, "-m", model);
            if let Some(r) = effort {
                inv.args
                    .extend(["-c".into(), format!("model_reasoning_effort={r}").into()]);
            }
            inv.args.extend(extra);
            // Exec-level options must come before `resume`; `-m` is repeated on purpose.
            if let Some(id) = turn.resume {
                inv.args.extend(["resume".into(), id.into()]);
                inv.session_id = Some(id.to_string());
            }
            inv.args.push("--".into());
            if fits_argv(turn.prompt) {
                inv.args.push(turn.prompt.into());
            } else {
                inv.args.push("-".into());
                inv.stdin = Some(turn.prompt.to_string());
            }
        }
        Harness::Opencode => {
            push(&mut inv.args, ["run", "--format", "json", "--auto"]);
            opt(&mut inv.args, "-m", model);
            opt(&mut inv.args, "--variant", effort);
            if let Some(id) = turn.resume {
                inv.args.extend(["-s".into(), id.into()]);
                inv.session_id = Some(id.to_string());
            }
            inv.args.extend(["--dir".into(), cwd]);
            inv.args.extend(extra);
            // A positional message gets quotes added around words with spaces; stdin is exact.
            inv.stdin = Some(turn.prompt.to_string());
        }
        Harness::Gemini => {
            push(
                &mut inv.args,
                ["-o", "stream-json", "--yolo", "--skip-trust"],
            );
            opt(&mut inv.args, "-m", model);
            session_flags(&mut inv, turn.resume, fresh_id, "--session-id", "--resume");
            inv.args.extend(extra);
            // Gemini has no reasoning flag: the level is ignored.
            if fits_argv(turn.prompt) && !turn.prompt.starts_with('-') {
                inv.args.extend(["-p".into(), turn.prompt.into()]);
            } else {
                // Piped stdin without `-p` also runs headless.
                inv.stdin = Some(turn.prompt.to_string());
            }
        }
        Harness::Exec(command) => {
            inv.program = "sh".into();
            inv.args.extend(["-c".into(), command.into(), "sh".into()]);
            inv.args.extend(extra);
            inv.stdin = Some(turn.prompt.to_string());
            let id = turn.resume.unwrap_or(fresh_id).to_string();
            inv.env
                .push((crate::agent_env::SESSION_ID.into(), id.clone()));
            if turn.resume.is_some() {
                inv.env.push((crate::agent_env::RESUME.into(), "1".into()));
            } else {
                // An inherited `agent_env::RESUME` (oompa inside an oompa worker) must not fake a resume.
                inv.env_remove.push(crate::agent_env::RESUME.into());
            }
            inv.env.push((
                crate::agent_env::TURN_MODE.into(),
                turn.mode.as_str().into(),
            ));
            inv.session_id = Some(id);
        }
    }
    inv
}

/// The reasoning level as the harness spells it, or `None` to pass no flag.
///
/// Levels are passed through except where a CLI is known to reject them: claude has no
/// `minimal` (→ `low`) and no `none` (→ its default), codex has no `max` (→ `xhigh`). opencode
/// variants are provider-specific and pass through; gemini has no flag at all.
fn effort_for<'a>(harness: &Harness, level: &'a str) -> Option<&'a str> {
    match (harness, level) {
        (Harness::Claude, "minimal") => Some("low"),
        (Harness::Claude, "none") => None,
        (Harness::Codex, "max") => Some("xhigh"),
        _ => Some(level),
    }
}

fn push<const N: usize>(args: &mut Vec<OsString>, items: [&str; N]) {
    args.extend(items.iter().map(OsString::from));
}

fn opt(args: &mut Vec<OsString>, flag: &str, value: Option<&str>) {
    if let Some(v) = value {
        args.extend([flag.into(), v.into()]);
    }
}

/// `--session-id <fresh>` for a new session or `--resume <id>`, recording which id we used.
fn session_flags(inv: &mut Invocation, resume: Option<&str>, fresh: &str, new: &str, old: &str) {
    let (flag, id) = match resume {
        Some(id) => (old, id),
        None => (new, fresh),
    };
    inv.args.extend([flag.into(), id.into()]);
    inv.session_id = Some(id.to_string());
}

fn fits_argv(prompt: &str) -> bool {
    prompt.len() <= ARGV_PROMPT_MAX && !prompt.contains('\0')
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
