//! The four wire formats: reading a request's conversation, writing the model's reply in the
//! API's own shape (one JSON document, or its server-sent events when `stream` is asked for),
//! and the API's own 429.

use serde_json::{Value, json};

use crate::http::Response;
use crate::script::{Conversation, Reply, Tool, text_of};

/// Every reply reports this usage, so tests can check that usage is passed on.
pub const INPUT_TOKENS: u64 = 100;
pub const OUTPUT_TOKENS: u64 = 20;

/// A model endpoint.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Api {
    /// `POST …/messages`: Claude Code.
    Anthropic,
    /// `POST …/responses`: Codex (and opencode with OpenAI providers).
    Responses,
    /// `POST …/chat/completions`: opencode's openai-compatible provider.
    Chat,
    /// `POST …/models/M:generateContent` or `:streamGenerateContent`: Gemini CLI.
    Gemini { stream: bool },
}

impl Api {
    /// The API a request path belongs to (any prefix, so `/v1` is optional).
    pub fn of_path(path: &str) -> Option<Api> {
        if path.ends_with("/messages") {
            Some(Api::Anthropic)
        } else if path.ends_with("/responses") {
            Some(Api::Responses)
        } else if path.ends_with("/chat/completions") {
            Some(Api::Chat)
        } else if path.ends_with(":streamGenerateContent") {
            Some(Api::Gemini { stream: true })
        } else if path.ends_with(":generateContent") {
            Some(Api::Gemini { stream: false })
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Api::Anthropic => "anthropic",
            Api::Responses => "responses",
            Api::Chat => "chat",
            Api::Gemini { .. } => "gemini",
        }
    }

    /// The conversation of a request body.
    pub fn conversation(self, body: &Value) -> Conversation {
        match self {
            Api::Anthropic => anthropic_conversation(body),
            Api::Responses => responses_conversation(body),
            Api::Chat => chat_conversation(body),
            Api::Gemini { .. } => gemini_conversation(body),
        }
    }

    /// The reply as this API sends it. `model` is the model the request named.
    pub fn render(self, body: &Value, model: &str, reply: &Reply, ids: &Ids) -> Response {
        let stream = match self {
            Api::Gemini { stream } => stream,
            _ => body["stream"].as_bool().unwrap_or(false),
        };
        match self {
            Api::Anthropic => anthropic_reply(model, reply, stream, ids),
            Api::Responses => responses_reply(model, reply, stream, ids),
            Api::Chat => chat_reply(model, reply, stream, ids),
            Api::Gemini { .. } => gemini_reply(model, reply, stream, ids),
        }
    }

    /// A 429 as the provider sends it when a usage limit is hit, `secs` until it resets.
    pub fn rate_limited(self, secs: u64) -> Response {
        let message = format!("Rate limit reached (mock). Please try again in {secs}s.");
        let doc = match self {
            Api::Anthropic => json!({
                "type": "error",
                "error": {"type": "rate_limit_error", "message": message},
            }),
            Api::Gemini { .. } => json!({
                "error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": message},
            }),
            Api::Responses | Api::Chat => json!({
                "error": {
                    "type": "rate_limit_exceeded",
                    "code": "rate_limit_exceeded",
                    "message": message,
                },
            }),
        };
        let reset = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_secs(secs as i64))
            .unwrap_or_else(|_| jiff::Timestamp::now())
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let mut response = Response::json(429, doc);
        response.headers = vec![
            ("Retry-After", secs.to_string()),
            ("anthropic-ratelimit-requests-reset", reset),
            ("x-ratelimit-reset-requests", format!("{secs}s")),
        ];
        response
    }
}

/// Ids unique within a server: `toolu_mock0001`, `resp_mock0002`, …
#[derive(Default)]
pub struct Ids(std::sync::atomic::AtomicU64);

impl Ids {
    pub fn next(&self, prefix: &str) -> String {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        format!("{prefix}_mock{n:04}")
    }
}

fn now() -> u64 {
    jiff::Timestamp::now().as_second().max(0) as u64
}

/// `(name, data)` of a server-sent event whose data is JSON.
fn event(name: Option<&str>, data: &Value) -> (Option<String>, String) {
    (name.map(str::to_string), data.to_string())
}

fn tools(list: &Value, name: &str, schema: &[&str]) -> Vec<Tool> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|t| Tool {
            name: t[name].as_str().unwrap_or_default().to_string(),
            schema: schema
                .iter()
                .map(|k| &t[*k])
                .find(|s| !s.is_null())
                .cloned()
                .unwrap_or(Value::Null),
        })
        .collect()
}

// ------------------------------------------------------------------ Anthropic Messages

fn anthropic_conversation(body: &Value) -> Conversation {
    let mut conv = Conversation {
        tools: tools(&body["tools"], "name", &["input_schema"]),
        ..Conversation::default()
    };
    for m in messages(&body["messages"]).filter(|m| m["role"] == "user") {
        let blocks = match &m["content"] {
            Value::String(s) => vec![json!({"type": "text", "text": s})],
            Value::Array(a) => a.clone(),
            _ => Vec::new(),
        };
        let results = blocks.iter().filter(|b| b["type"] == "tool_result").count();
        if results > 0 {
            conv.results += results;
        } else {
            // A plain user message is a new prompt: the script starts over.
            conv.prompt = text_of(&Value::Array(blocks));
            conv.results = 0;
        }
    }
    conv
}

fn messages(list: &Value) -> impl Iterator<Item = &Value> {
    list.as_array().into_iter().flatten()
}

fn anthropic_reply(model: &str, reply: &Reply, stream: bool, ids: &Ids) -> Response {
    let (block, stop) = match reply {
        Reply::Tool { name, args } => (
            json!({"type": "tool_use", "id": ids.next("toolu"), "name": name, "input": args}),
            "tool_use",
        ),
        Reply::ExecJs(text) | Reply::Text(text) => {
            (json!({"type": "text", "text": text}), "end_turn")
        }
    };
    let usage = json!({
        "input_tokens": INPUT_TOKENS, "output_tokens": OUTPUT_TOKENS,
        "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
    });
    let mut message = json!({
        "id": ids.next("msg"), "type": "message", "role": "assistant", "model": model,
        "content": [block.clone()], "stop_reason": stop, "stop_sequence": null, "usage": usage,
    });
    if !stream {
        return Response::json(200, message);
    }
    message["content"] = json!([]);
    message["stop_reason"] = Value::Null;
    message["usage"]["output_tokens"] = json!(1);
    let (start, delta) = if block["type"] == "text" {
        (
            json!({"type": "text", "text": ""}),
            json!({"type": "text_delta", "text": block["text"]}),
        )
    } else {
        let mut start = block.clone();
        start["input"] = json!({});
        let partial = block["input"].to_string();
        (
            start,
            json!({"type": "input_json_delta", "partial_json": partial}),
        )
    };
    let events = [
        json!({"type": "message_start", "message": message}),
        json!({"type": "content_block_start", "index": 0, "content_block": start}),
        json!({"type": "content_block_delta", "index": 0, "delta": delta}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": null},
            "usage": {"output_tokens": OUTPUT_TOKENS},
        }),
        json!({"type": "message_stop"}),
    ];
    Response::events(
        events
            .iter()
            .map(|e| event(e["type"].as_str(), e))
            .collect(),
    )
}

// ------------------------------------------------------------------ OpenAI Responses

fn responses_conversation(body: &Value) -> Conversation {
    let items = match &body["input"] {
        Value::String(s) => vec![json!({"type": "message", "role": "user", "content": s})],
        Value::Array(a) => a.clone(),
        _ => Vec::new(),
    };
    // Codex may also send tools in an `additional_tools` input item, grouped in namespaces,
    // with a JavaScript `exec` custom tool ("code mode").
    let mut raw: Vec<Value> = body["tools"].as_array().cloned().unwrap_or_default();
    for it in items.iter().filter(|it| it["type"] == "additional_tools") {
        raw.extend(it["tools"].as_array().cloned().unwrap_or_default());
    }
    let mut flat = Vec::new();
    flatten_namespaces(raw, &mut flat);
    let mut conv = Conversation {
        tools: flat
            .iter()
            .map(|t| Tool {
                name: t["name"]
                    .as_str()
                    .or(t["type"].as_str())
                    .unwrap_or_default()
                    .to_string(),
                schema: t["parameters"].clone(),
            })
            .collect(),
        ..Conversation::default()
    };
    for it in &items {
        let kind = it["type"].as_str().unwrap_or("message");
        if kind.ends_with("_call_output") {
            conv.results += 1;
        } else if kind == "message" && it["role"] == "user" && !is_codex_context(it) {
            conv.prompt = text_of(&it["content"]);
            conv.results = 0;
        }
    }
    let format = &body["text"]["format"];
    if format["type"] == "json_schema" {
        conv.wants_json = Some(format["schema"].clone());
    }
    conv
}

fn flatten_namespaces(tools: Vec<Value>, out: &mut Vec<Value>) {
    for mut t in tools {
        if t["type"] == "namespace" {
            let inner = t["tools"].take().as_array().cloned().unwrap_or_default();
            flatten_namespaces(inner, out);
        } else {
            out.push(t);
        }
    }
}

/// Codex sends its environment context and AGENTS.md as extra user messages.
fn is_codex_context(item: &Value) -> bool {
    let text = text_of(&item["content"]);
    let text = text.trim_start();
    [
        "<environment_context>",
        "# AGENTS.md",
        "<user_instructions>",
    ]
    .iter()
    .any(|p| text.starts_with(p))
}

fn responses_reply(model: &str, reply: &Reply, stream: bool, ids: &Ids) -> Response {
    let item = match reply {
        Reply::Tool { name, args } => json!({
            "type": "function_call", "id": ids.next("fc"), "call_id": ids.next("call"),
            "name": name, "arguments": args.to_string(), "status": "completed",
        }),
        Reply::ExecJs(code) => json!({
            "type": "custom_tool_call", "id": ids.next("ctc"), "call_id": ids.next("call"),
            "name": "exec", "input": code, "status": "completed",
        }),
        Reply::Text(text) => json!({
            "type": "message", "id": ids.next("msg"), "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }),
    };
    let usage = json!({
        "input_tokens": INPUT_TOKENS, "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": OUTPUT_TOKENS, "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS,
    });
    let base = json!({
        "id": ids.next("resp"), "object": "response", "created_at": now(),
        "status": "in_progress", "model": model, "output": [], "usage": null,
    });
    let mut done = base.clone();
    done["status"] = json!("completed");
    done["output"] = json!([item]);
    done["usage"] = usage;
    if !stream {
        return Response::json(200, done);
    }

    let mut events = vec![
        json!({"type": "response.created", "response": base}),
        json!({"type": "response.in_progress", "response": base}),
    ];
    let at = |mut e: Value| {
        e["item_id"] = item["id"].clone();
        e["output_index"] = json!(0);
        e
    };
    let mut added = item.clone();
    added["status"] = json!("in_progress");
    match item["type"].as_str() {
        Some("message") => {
            let text = &item["content"][0]["text"];
            added["content"] = json!([]);
            let part = json!({"type": "output_text", "text": "", "annotations": []});
            let mut full = part.clone();
            full["text"] = text.clone();
            events.extend([
                json!({"type": "response.output_item.added", "output_index": 0, "item": added}),
                at(
                    json!({"type": "response.content_part.added", "content_index": 0,
                          "part": part}),
                ),
                at(
                    json!({"type": "response.output_text.delta", "content_index": 0,
                          "delta": text}),
                ),
                at(
                    json!({"type": "response.output_text.done", "content_index": 0,
                          "text": text}),
                ),
                at(
                    json!({"type": "response.content_part.done", "content_index": 0,
                          "part": full}),
                ),
            ]);
        }
        Some("custom_tool_call") => {
            let input = &item["input"];
            added["input"] = json!("");
            events.extend([
                json!({"type": "response.output_item.added", "output_index": 0, "item": added}),
                at(json!({"type": "response.custom_tool_call_input.delta", "delta": input})),
                at(json!({"type": "response.custom_tool_call_input.done", "input": input})),
            ]);
        }
        _ => {
            let arguments = &item["arguments"];
            added["arguments"] = json!("");
            events.extend([
                json!({"type": "response.output_item.added", "output_index": 0, "item": added}),
                at(json!({"type": "response.function_call_arguments.delta", "delta": arguments})),
                at(json!({"type": "response.function_call_arguments.done",
                          "arguments": arguments})),
            ]);
        }
    }
    events.push(json!({"type": "response.output_item.done", "output_index": 0, "item": item}));
    events.push(json!({"type": "response.completed", "response": done}));
    for (seq, e) in events.iter_mut().enumerate() {
        e["sequence_number"] = json!(seq);
    }
    Response::events(
        events
            .iter()
            .map(|e| event(e["type"].as_str(), e))
            .collect(),
    )
}

// ------------------------------------------------------------------ OpenAI Chat Completions

fn chat_conversation(body: &Value) -> Conversation {
    let functions: Vec<Value> = messages(&body["tools"])
        .map(|t| t["function"].clone())
        .collect();
    let mut conv = Conversation {
        tools: tools(&Value::Array(functions), "name", &["parameters"]),
        ..Conversation::default()
    };
    for m in messages(&body["messages"]) {
        if m["role"] == "tool" {
            conv.results += 1;
        } else if m["role"] == "user" {
            conv.prompt = text_of(&m["content"]);
            conv.results = 0;
        }
    }
    let format = &body["response_format"];
    if format["type"] == "json_schema" {
        conv.wants_json = Some(format["json_schema"]["schema"].clone());
    }
    conv
}

fn chat_reply(model: &str, reply: &Reply, stream: bool, ids: &Ids) -> Response {
    let id = ids.next("chatcmpl");
    let created = now();
    let (message, finish) = match reply {
        Reply::Tool { name, args } => {
            let call = json!({
                "id": ids.next("call"), "type": "function",
                "function": {"name": name, "arguments": args.to_string()},
            });
            (
                json!({"role": "assistant", "content": null, "tool_calls": [call]}),
                "tool_calls",
            )
        }
        Reply::ExecJs(text) | Reply::Text(text) => {
            (json!({"role": "assistant", "content": text}), "stop")
        }
    };
    let usage = json!({
        "prompt_tokens": INPUT_TOKENS, "completion_tokens": OUTPUT_TOKENS,
        "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS,
    });
    if !stream {
        return Response::json(
            200,
            json!({
                "id": id, "object": "chat.completion", "created": created, "model": model,
                "usage": usage,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            }),
        );
    }
    let chunk = |choices: Value| {
        json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": choices,
        })
    };
    let mut first = message.clone();
    if let Some(call) = first["tool_calls"].get_mut(0) {
        call["index"] = json!(0);
    }
    let mut last = chunk(json!([]));
    last["usage"] = usage;
    let mut events: Vec<(Option<String>, String)> = [
        chunk(json!([{"index": 0, "delta": first, "finish_reason": null}])),
        chunk(json!([{"index": 0, "delta": {}, "finish_reason": finish}])),
        last,
    ]
    .iter()
    .map(|c| event(None, c))
    .collect();
    events.push((None, "[DONE]".to_string()));
    Response::events(events)
}

// ------------------------------------------------------------------ Gemini generateContent

fn gemini_conversation(body: &Value) -> Conversation {
    let declarations: Vec<Value> = messages(&body["tools"])
        .flat_map(|t| messages(&t["functionDeclarations"]).cloned())
        .collect();
    let mut conv = Conversation {
        tools: tools(
            &Value::Array(declarations),
            "name",
            &["parametersJsonSchema", "parameters"],
        ),
        ..Conversation::default()
    };
    for c in messages(&body["contents"]) {
        if c["role"].as_str().unwrap_or("user") != "user" {
            continue;
        }
        let parts: Vec<&Value> = messages(&c["parts"]).collect();
        let results = parts
            .iter()
            .filter(|p| p.get("functionResponse").is_some())
            .count();
        if results > 0 {
            conv.results += results;
        } else if parts
            .iter()
            .any(|p| p["text"].as_str().is_some_and(|t| !t.is_empty()))
        {
            conv.prompt = text_of(&Value::Array(parts.into_iter().cloned().collect()));
            conv.results = 0;
        }
    }
    let config = &body["generationConfig"];
    if config["responseMimeType"] == "application/json" {
        let schema = ["responseJsonSchema", "responseSchema"]
            .iter()
            .map(|k| &config[*k])
            .find(|s| !s.is_null())
            .cloned()
            .unwrap_or_else(|| json!({}));
        conv.wants_json = Some(schema);
    }
    conv
}

fn gemini_reply(model: &str, reply: &Reply, stream: bool, ids: &Ids) -> Response {
    let part = match reply {
        Reply::Tool { name, args } => json!({"functionCall": {"name": name, "args": args}}),
        Reply::ExecJs(text) | Reply::Text(text) => json!({"text": text}),
    };
    let doc = json!({
        "candidates": [{
            "content": {"role": "model", "parts": [part]},
            "finishReason": "STOP", "index": 0,
        }],
        "usageMetadata": {
            "promptTokenCount": INPUT_TOKENS, "candidatesTokenCount": OUTPUT_TOKENS,
            "totalTokenCount": INPUT_TOKENS + OUTPUT_TOKENS,
        },
        "modelVersion": model,
        "responseId": ids.next("gresp"),
    });
    if stream {
        Response::events(vec![event(None, &doc)])
    } else {
        Response::json(200, doc)
    }
}
