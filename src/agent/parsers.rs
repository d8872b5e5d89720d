//! Stream parsers for the JSONL output of claude, codex, opencode and gemini.
//!
//! Owns the knowledge of each CLI's event shapes: where the session id, the final message, the
//! token usage and a reported failure live (see `reference/agent-clis.md`). Each parser sees one
//! stdout line at a time and keeps only bounded state. Malformed or unknown lines are skipped,
//! never an error. It never runs processes and never prints.

use serde_json::Value;

use super::model::Harness;
use super::output::{FINAL_TEXT_MAX, OutputParser, Parsed, add_opt, bounded, push_bounded};
use super::types::Usage;

/// The parser for a harness's structured output; `None` for `exec` (plain stdout).
pub(crate) fn parser_for(harness: &Harness) -> Option<Box<dyn OutputParser>> {
    match harness {
        Harness::Claude => Some(Box::<ClaudeParser>::default()),
        Harness::Codex => Some(Box::<CodexParser>::default()),
        Harness::Opencode => Some(Box::<OpencodeParser>::default()),
        Harness::Gemini => Some(Box::<GeminiParser>::default()),
        Harness::Exec(_) => None,
    }
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

/// `opencode run --format json`: `step_start`, `text`, `tool_use`, `step_finish`, `error`, each
/// carrying `sessionID`.
///
/// The final message is the text of the last step that produced text: earlier steps hold the
/// agent's running commentary between tool calls.
#[derive(Debug, Default)]
pub(crate) struct OpencodeParser {
    session: Option<String>,
    /// Text of the current step; `current_part` is the id of its last text part.
    current: String,
    current_part: Option<String>,
    /// Text of the last finished step that had any.
    previous: String,
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
                if !self.current.trim().is_empty() {
                    self.previous = std::mem::take(&mut self.current);
                }
                self.current.clear();
                self.current_part = None;
            }
            Some("text") => {
                let Some(text) = str_at(&v, "/part/text") else {
                    return;
                };
                let id = str_at(&v, "/part/id").map(str::to_string);
                if id.is_some() && id == self.current_part {
                    // An update of the same part carries its whole text again.
                    let start = self.current.rfind('\u{1e}').map_or(0, |i| i + 1);
                    self.current.truncate(start);
                } else if !self.current.is_empty() {
                    self.current.push('\u{1e}');
                }
                push_bounded(&mut self.current, text, FINAL_TEXT_MAX);
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
        let text = if self.current.trim().is_empty() {
            &self.previous
        } else {
            &self.current
        };
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

/// `gemini -o stream-json`: `init`, `message` (user / assistant deltas), `tool_use`,
/// `tool_result`, then `result`.
#[derive(Debug, Default)]
pub(crate) struct GeminiParser {
    session: Option<String>,
    /// The assistant message being streamed, and whether the last event continued it.
    current: String,
    in_assistant: bool,
    previous: String,
    usage: Usage,
    failure: Option<String>,
}

impl GeminiParser {
    fn start_message(&mut self) {
        if !self.current.trim().is_empty() {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.clear();
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
                push_bounded(&mut self.current, content, FINAL_TEXT_MAX);
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
        let text = if self.current.trim().is_empty() {
            &self.previous
        } else {
            &self.current
        };
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

#[cfg(test)]
#[path = "parsers_tests.rs"]
mod tests;
