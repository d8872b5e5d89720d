//! opencode: `opencode run --format json`, the prompt on stdin, sessions named by opencode
//! (`sessionID`) and resumed with `-s <id>`.

use std::ffi::OsString;

use super::{Adapter, Invocation, effort, f64_at, json_object, limit, non_empty, str_at, u64_at};
use crate::agent::output::{
    FINAL_TEXT_MAX, LastMessage, OutputParser, Parsed, add_opt, bounded, push_bounded,
};
use crate::agent::types::{Turn, Usage};

pub(crate) struct Opencode;

impl<'h> Adapter<'h> for Opencode {
    fn binary(&self) -> &'h str {
        "opencode"
    }

    /// Variants are provider-specific: the level passes through as `--variant`.
    fn invocation(&self, turn: &Turn, _fresh_id: &str, _as_root: bool) -> Invocation {
        let mut inv = Invocation::of(self.binary());
        inv.push(["run", "--format", "json", "--auto"]);
        // opencode retries a rate limit silently, sleeping the provider's Retry-After inside
        // the turn; its error log on stderr is the only trace (see `retrying_a_limit`).
        inv.push(["--print-logs", "--log-level", "ERROR"]);
        inv.opt("-m", turn.spec.model.as_deref());
        inv.opt("--variant", effort(self, turn));
        if let Some(id) = turn.resume {
            inv.args.extend(["-s".into(), id.into()]);
            inv.session_id = Some(id.to_string());
        }
        inv.args
            .extend(["--dir".into(), turn.cwd.as_os_str().to_os_string()]);
        inv.args.extend(turn.extra_args.iter().map(OsString::from));
        // A positional message gets quotes added around words with spaces; stdin is exact.
        inv.stdin = Some(turn.prompt.to_string());
        inv
    }

    fn parser(&self) -> Option<Box<dyn OutputParser>> {
        Some(Box::<OpencodeParser>::default())
    }

    /// `level=ERROR … error.error="AI_APICallError: Rate limit reached … try again in 19s."`,
    /// one per limited request while it waits and retries.
    fn retrying_a_limit(&self) -> Option<fn(&str) -> bool> {
        Some(|line| line.contains("AI_APICallError") && limit::mentions_limit(line))
    }

    /// The quoted `error.error` is the reason; `session.id=ses_…` names the session, which
    /// the turn may not have printed yet on stdout.
    fn read_limit_line(&self, line: &str) -> (String, Option<String>) {
        let reason = line
            .split_once("error.error=\"")
            .and_then(|(_, rest)| rest.split('"').next())
            .map_or_else(|| limit::reason_of(line), limit::reason_of);
        let session = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("session.id="))
            .filter(|id| !id.is_empty())
            .map(str::to_string);
        (reason, session)
    }
}

/// `opencode run --format json`: `step_start`, `text`, `tool_use`, `step_finish`, `error`, each
/// carrying `sessionID`.
///
/// The final message is the text of the last step that produced text: earlier steps hold the
/// agent's running commentary between tool calls.
#[derive(Debug, Default)]
pub(crate) struct OpencodeParser {
    session: Option<String>,
    /// Text of the current step (and of the last finished one that had any); `current_part`
    /// is the id of the current step's last text part.
    step: LastMessage,
    current_part: Option<String>,
    usage: Usage,
    failure: Option<String>,
}

impl OutputParser for OpencodeParser {
    fn line(&mut self, line: &str) {
        let Some(v) = json_object(line) else { return };
        if self.session.is_none() {
            self.session = str_at(&v, "/sessionID")
                .or_else(|| str_at(&v, "/part/sessionID"))
                .map(str::to_string);
        }
        match str_at(&v, "/type") {
            Some("step_start") => {
                self.step.start();
                self.current_part = None;
            }
            Some("text") => {
                let Some(text) = str_at(&v, "/part/text") else {
                    return;
                };
                let id = str_at(&v, "/part/id").map(str::to_string);
                if id.is_some() && id == self.current_part {
                    // An update of the same part carries its whole text again.
                    let start = self.step.current.rfind('\u{1e}').map_or(0, |i| i + 1);
                    self.step.current.truncate(start);
                } else if !self.step.current.is_empty() {
                    self.step.current.push('\u{1e}');
                }
                push_bounded(&mut self.step.current, text, FINAL_TEXT_MAX);
                self.current_part = id;
            }
            Some("step_finish") => {
                let u = &mut self.usage;
                let input = [
                    "/part/tokens/input",
                    "/part/tokens/cache/read",
                    "/part/tokens/cache/write",
                ]
                .iter()
                .map(|p| u64_at(&v, p))
                .fold(None, add_opt);
                u.input_tokens = add_opt(u.input_tokens, input);
                u.output_tokens = add_opt(u.output_tokens, u64_at(&v, "/part/tokens/output"));
                u.cost_usd = add_opt(u.cost_usd, f64_at(&v, "/part/cost"));
            }
            Some("error") => {
                let message = non_empty(str_at(&v, "/error/data/message"))
                    .or_else(|| non_empty(str_at(&v, "/error/message")))
                    .or_else(|| non_empty(str_at(&v, "/error/name")))
                    .unwrap_or("opencode reported an error");
                self.failure = Some(bounded(message, 4096));
            }
            _ => {}
        }
    }

    fn finish(&mut self) -> Parsed {
        let text = self.step.text();
        // Separate parts become separate lines, so a signal in its own part stays on its own line.
        let text = text.replace('\u{1e}', "\n");
        Parsed {
            final_text: (!text.is_empty()).then(|| bounded(&text, FINAL_TEXT_MAX)),
            session_id: self.session.take(),
            usage: std::mem::take(&mut self.usage),
            failure: self.failure.take(),
        }
    }
}
