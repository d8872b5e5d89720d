//! Claude Code: `claude -p --output-format stream-json --verbose`, the prompt on stdin, sessions
//! chosen by us (`--session-id`) and resumed with `--resume`.

use serde_json::Value;

use super::{Adapter, Invocation, effort, f64_at, json_object, non_empty, str_at, u64_at};
use crate::agent::output::{FINAL_TEXT_MAX, OutputParser, Parsed, add_opt, bounded};
use crate::agent::types::{Turn, Usage};

pub(crate) struct Claude;

impl<'h> Adapter<'h> for Claude {
    fn binary(&self) -> &'h str {
        "claude"
    }

    /// No `minimal` (→ `low`) and no `none` (→ its default).
    fn effort<'a>(&self, level: &'a str) -> Option<&'a str> {
        match level {
            "minimal" => Some("low"),
            "none" => None,
            _ => Some(level),
        }
    }

    fn invocation(&self, turn: &Turn, fresh_id: &str, as_root: bool) -> Invocation {
        let mut inv = Invocation::of(self.binary());
        inv.push(["-p", "--output-format", "stream-json", "--verbose"]);
        inv.push(["--dangerously-skip-permissions"]);
        inv.opt("--model", turn.spec.model.as_deref());
        inv.opt("--effort", effort(self, turn));
        inv.session_flags(turn.resume, fresh_id, "--session-id", "--resume");
        inv.args.extend(turn.extra_args.iter().map(Into::into));
        // `-p` without a positional prompt reads stdin: no argv limit, no prompt that looks
        // like a flag, and extra args such as `--add-dir a b` cannot swallow it.
        inv.stdin = Some(turn.prompt.to_string());
        if as_root {
            inv.env.push(("IS_SANDBOX".into(), "1".into()));
        }
        // Claude Code refuses to start inside another Claude Code session.
        inv.env_remove.push("CLAUDECODE".into());
        inv
    }

    fn parser(&self) -> Option<Box<dyn OutputParser>> {
        Some(Box::<ClaudeParser>::default())
    }
}

/// `claude -p --output-format stream-json --verbose`: `system`/`assistant`/`user` events, then
/// one `result` event with the final text, session id, usage and cost.
#[derive(Debug, Default)]
pub(crate) struct ClaudeParser {
    session: Option<String>,
    result: Option<String>,
    last_assistant: Option<String>,
    usage: Usage,
    failure: Option<String>,
}

impl OutputParser for ClaudeParser {
    fn line(&mut self, line: &str) {
        let Some(v) = json_object(line) else { return };
        if self.session.is_none() {
            self.session = str_at(&v, "/session_id").map(str::to_string);
        }
        match str_at(&v, "/type") {
            Some("assistant") => {
                let Some(blocks) = v.pointer("/message/content").and_then(Value::as_array) else {
                    return;
                };
                let text: Vec<&str> = blocks
                    .iter()
                    .filter(|b| str_at(b, "/type") == Some("text"))
                    .filter_map(|b| str_at(b, "/text"))
                    .collect();
                if let Some(text) = non_empty(Some(&text.join("\n"))) {
                    self.last_assistant = Some(bounded(text, FINAL_TEXT_MAX));
                }
            }
            Some("result") => {
                if let Some(id) = str_at(&v, "/session_id") {
                    self.session = Some(id.to_string());
                }
                let result = str_at(&v, "/result");
                if let Some(text) = result {
                    self.result = Some(bounded(text, FINAL_TEXT_MAX));
                }
                // Anthropic counts cache reads and writes apart from `input_tokens`; we report
                // everything the model read.
                let input = [
                    "input_tokens",
                    "cache_creation_input_tokens",
                    "cache_read_input_tokens",
                ]
                .iter()
                .map(|k| u64_at(&v, &format!("/usage/{k}")))
                .fold(None, add_opt);
                self.usage = Usage {
                    input_tokens: input,
                    output_tokens: u64_at(&v, "/usage/output_tokens"),
                    cost_usd: f64_at(&v, "/total_cost_usd"),
                };
                if v.pointer("/is_error").and_then(Value::as_bool) == Some(true) {
                    let errors = v.pointer("/errors").and_then(Value::as_array).map(|errs| {
                        errs.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join("; ")
                    });
                    let reason = non_empty(result)
                        .map(str::to_string)
                        .or(errors.filter(|e| !e.is_empty()))
                        .or_else(|| str_at(&v, "/subtype").map(str::to_string))
                        .unwrap_or_else(|| "claude reported an error".to_string());
                    self.failure = Some(reason);
                }
            }
            _ => {}
        }
    }

    fn finish(&mut self) -> Parsed {
        Parsed {
            final_text: self.result.take().or_else(|| self.last_assistant.take()),
            session_id: self.session.take(),
            usage: std::mem::take(&mut self.usage),
            failure: self.failure.take(),
        }
    }
}
