//! Codex CLI: `codex exec --json`, the prompt in argv (or on stdin when long), sessions named by
//! codex (`thread.started`) and resumed with `exec … resume <id>`.

use std::ffi::OsString;

use super::{Adapter, Invocation, effort, fits_argv, json_object, non_empty, str_at, u64_at};
use crate::agent::output::{FINAL_TEXT_MAX, OutputParser, Parsed, add_opt, bounded};
use crate::agent::types::{Turn, Usage};

pub(crate) struct Codex;

impl<'h> Adapter<'h> for Codex {
    fn binary(&self) -> &'h str {
        "codex"
    }

    /// No `max` (→ `xhigh`).
    fn effort<'a>(&self, level: &'a str) -> Option<&'a str> {
        match level {
            "max" => Some("xhigh"),
            _ => Some(level),
        }
    }

    fn invocation(&self, turn: &Turn, _fresh_id: &str, _as_root: bool) -> Invocation {
        let mut inv = Invocation::of(self.binary());
        inv.push([
            "exec",
            "--json",
            "--dangerously-bypass-approvals-and-sandbox",
        ]);
        inv.push(["--skip-git-repo-check"]);
        // Codex runs commands in a login shell by default, and a login shell's /etc/profile
        // (Debian, Ubuntu) resets PATH: the agent would lose the directory of this
        // `git-oompa` we put first on PATH, and `git oompa task claim` fails with "'oompa'
        // is not a git command". A non-login shell keeps the PATH we give it. Extra args
        // come later and may turn it back on.
        inv.push(["-c", "allow_login_shell=false"]);
        inv.args
            .extend(["-C".into(), turn.cwd.as_os_str().to_os_string()]);
        inv.opt("-m", turn.spec.model.as_deref());
        if let Some(r) = effort(self, turn) {
            inv.args
                .extend(["-c".into(), format!("model_reasoning_effort={r}").into()]);
        }
        inv.args.extend(turn.extra_args.iter().map(OsString::from));
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
        inv
    }

    fn parser(&self) -> Option<Box<dyn OutputParser>> {
        Some(Box::<CodexParser>::default())
    }
}

/// `codex exec --json`: `thread.started`, `item.*`, `turn.completed` / `turn.failed`.
#[derive(Debug, Default)]
pub(crate) struct CodexParser {
    thread: Option<String>,
    last_message: Option<String>,
    usage: Usage,
    failed: bool,
    failure: Option<String>,
    last_error: Option<String>,
}

impl OutputParser for CodexParser {
    fn line(&mut self, line: &str) {
        let Some(v) = json_object(line) else { return };
        match str_at(&v, "/type") {
            Some("thread.started") => {
                if let Some(id) = str_at(&v, "/thread_id") {
                    self.thread = Some(id.to_string());
                }
            }
            Some("item.completed") if str_at(&v, "/item/type") == Some("agent_message") => {
                if let Some(text) = str_at(&v, "/item/text") {
                    self.last_message = Some(bounded(text, FINAL_TEXT_MAX));
                }
            }
            Some("turn.completed") => {
                let u = &mut self.usage;
                u.input_tokens = add_opt(u.input_tokens, u64_at(&v, "/usage/input_tokens"));
                u.output_tokens = add_opt(u.output_tokens, u64_at(&v, "/usage/output_tokens"));
            }
            Some("turn.failed") => {
                self.failed = true;
                self.failure = non_empty(str_at(&v, "/error/message")).map(|m| bounded(m, 4096));
            }
            // Also used for warnings and retry notices: only a detail for a failed turn.
            Some("error") => {
                self.last_error = non_empty(str_at(&v, "/message")).map(|m| bounded(m, 4096));
            }
            _ => {}
        }
    }

    fn finish(&mut self) -> Parsed {
        let failure = if self.failed {
            let detail = self.failure.take().or_else(|| self.last_error.take());
            Some(detail.unwrap_or_else(|| "codex turn failed".to_string()))
        } else {
            None
        };
        Parsed {
            final_text: self.last_message.take(),
            session_id: self.thread.take(),
            usage: std::mem::take(&mut self.usage),
            failure,
        }
    }
}
