//! Gemini CLI: `gemini -o stream-json`, the prompt as `-p` (or on stdin), sessions chosen by us
//! (`--session-id`) and resumed with `--resume`.

use std::ffi::OsString;

use serde_json::Value;

use super::{Adapter, Invocation, fits_argv, json_object, non_empty, str_at, u64_at};
use crate::agent::output::{
    FINAL_TEXT_MAX, LastMessage, OutputParser, Parsed, add_opt, bounded, push_bounded,
};
use crate::agent::types::{Exit, Turn, TurnOutput, Usage};

pub(crate) struct Gemini;

impl<'h> Adapter<'h> for Gemini {
    fn binary(&self) -> &'h str {
        "gemini"
    }

    /// Gemini has no reasoning flag: the level is ignored.
    fn effort<'a>(&self, _level: &'a str) -> Option<&'a str> {
        None
    }

    fn invocation(&self, turn: &Turn, fresh_id: &str, _as_root: bool) -> Invocation {
        let mut inv = Invocation::of(self.binary());
        inv.push(["-o", "stream-json", "--yolo", "--skip-trust"]);
        inv.opt("-m", turn.spec.model.as_deref());
        inv.session_flags(turn.resume, fresh_id, "--session-id", "--resume");
        inv.args.extend(turn.extra_args.iter().map(OsString::from));
        if fits_argv(turn.prompt) && !turn.prompt.starts_with('-') {
            inv.args.extend(["-p".into(), turn.prompt.into()]);
        } else {
            // Piped stdin without `-p` also runs headless.
            inv.stdin = Some(turn.prompt.to_string());
        }
        inv
    }

    fn parser(&self) -> Option<Box<dyn OutputParser>> {
        Some(Box::<GeminiParser>::default())
    }

    /// A turn that ended by itself on a failed first request (its retries spent) left no
    /// session to resume; one the model answered did. A turn stopped while it retried (see
    /// [`Adapter::retrying_a_limit`]) did too: Gemini CLI records the prompt in its session
    /// file as it sends it, and `--resume` of that id carries on from it (seen with 0.61.0).
    fn keeps_session(&self, out: &TurnOutput) -> bool {
        let u = &out.usage;
        out.exit == Exit::Killed
            || u.input_tokens.unwrap_or(0) > 0
            || u.output_tokens.unwrap_or(0) > 0
    }

    /// `Attempt N failed with status 429. Retrying with backoff...`: it ignores `Retry-After`
    /// and would retry for minutes.
    fn retrying_a_limit(&self) -> Option<fn(&str) -> bool> {
        Some(|line| line.contains("Attempt ") && line.contains("failed with status 429"))
    }
}

/// `gemini -o stream-json`: `init`, `message` (user / assistant deltas), `tool_use`,
/// `tool_result`, then `result`.
#[derive(Debug, Default)]
pub(crate) struct GeminiParser {
    session: Option<String>,
    /// The assistant message being streamed, and whether the last event continued it.
    message: LastMessage,
    in_assistant: bool,
    usage: Usage,
    failure: Option<String>,
}

impl GeminiParser {
    fn start_message(&mut self) {
        self.message.start();
    }
}

impl OutputParser for GeminiParser {
    fn line(&mut self, line: &str) {
        let Some(v) = json_object(line) else { return };
        if self.session.is_none() {
            self.session = str_at(&v, "/session_id").map(str::to_string);
        }
        let kind = str_at(&v, "/type");
        let assistant = kind == Some("message") && str_at(&v, "/role") == Some("assistant");
        if !assistant {
            self.in_assistant = false;
        }
        match kind {
            Some("message") if assistant => {
                let content = str_at(&v, "/content").unwrap_or("");
                let delta = v.pointer("/delta").and_then(Value::as_bool) == Some(true);
                if !delta || !self.in_assistant {
                    self.start_message();
                }
                push_bounded(&mut self.message.current, content, FINAL_TEXT_MAX);
                self.in_assistant = delta;
            }
            Some("result") => {
                if str_at(&v, "/status") == Some("error") {
                    let message = non_empty(str_at(&v, "/error/message"))
                        .or_else(|| non_empty(str_at(&v, "/error/type")))
                        .unwrap_or("gemini reported an error");
                    self.failure = Some(bounded(message, 4096));
                }
                self.usage = gemini_usage(&v);
            }
            _ => {}
        }
    }

    fn finish(&mut self) -> Parsed {
        let text = self.message.text();
        Parsed {
            final_text: (!text.is_empty()).then(|| bounded(text, FINAL_TEXT_MAX)),
            session_id: self.session.take(),
            usage: std::mem::take(&mut self.usage),
            failure: self.failure.take(),
        }
    }
}

/// Token counts from a gemini `result`: flat `stats.input_tokens` (stream-json) or per-model
/// `stats.models.<m>.tokens` (json).
fn gemini_usage(v: &Value) -> Usage {
    let mut usage = Usage {
        input_tokens: u64_at(v, "/stats/input_tokens"),
        output_tokens: u64_at(v, "/stats/output_tokens"),
        cost_usd: None,
    };
    if usage.input_tokens.is_none()
        && let Some(models) = v.pointer("/stats/models").and_then(Value::as_object)
    {
        for m in models.values() {
            let input = u64_at(m, "/tokens/input").or_else(|| u64_at(m, "/tokens/prompt"));
            usage.input_tokens = add_opt(usage.input_tokens, input);
            usage.output_tokens = add_opt(usage.output_tokens, u64_at(m, "/tokens/candidates"));
        }
    }
    usage
}
