//! The scripted model of `tests/mockllm` spoken to over HTTP the way the four CLIs speak to it
//! (each API, streaming and not), its script and options, the loopback-only namespace of the
//! real-CLI tests, and their skip policy. No agent CLI is needed here.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use mockllm::clis;
use mockllm::{Options, Server};
use serde_json::{Value, json};

/// A response as the test sees it: status, lower-cased headers, the body with any chunked
/// framing removed.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        let found = self.headers.iter().find(|(k, _)| k == name);
        found.map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The server-sent events: `(event name, data)`, data parsed as JSON where it is JSON.
    fn events(&self) -> Vec<(Option<String>, Value)> {
        assert_eq!(
            self.header("content-type"),
            Some("text/event-stream"),
            "{}",
            self.body
        );
        self.body
            .split("\n\n")
            .filter(|e| !e.trim().is_empty())
            .map(|e| {
                let mut name = None;
                let mut data = Value::Null;
                for line in e.lines() {
                    if let Some(n) = line.strip_prefix("event: ") {
                        name = Some(n.to_string());
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data = serde_json::from_str(d).unwrap_or_else(|_| json!(d));
                    }
                }
                (name, data)
            })
            .collect()
    }
}

/// One request on its own connection.
fn request(server: &Server, method: &str, path: &str, body: Option<&Value>) -> Reply {
    let mut stream = TcpStream::connect(("127.0.0.1", server.port())).expect("connect");
    let body = body.map(Value::to_string).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream
        .write_all((head + &body).as_bytes())
        .expect("send request");
    read_reply(&mut BufReader::new(stream))
}

fn read_reply(r: &mut impl BufRead) -> Reply {
    let mut line = String::new();
    r.read_line(&mut line).expect("status line");
    let status = line.split_whitespace().nth(1).expect("a status");
    let status = status.parse().expect("a numeric status");
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).expect("a header");
        let Some((k, v)) = line.trim_end().split_once(':') else {
            break;
        };
        headers.push((k.to_ascii_lowercase(), v.trim().to_string()));
    }
    let find = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let mut body = Vec::new();
    if find("transfer-encoding").is_some_and(|v| v == "chunked") {
        loop {
            line.clear();
            r.read_line(&mut line).expect("chunk size");
            let size = usize::from_str_radix(line.trim(), 16).expect("hex chunk size");
            let mut chunk = vec![0; size + 2];
            r.read_exact(&mut chunk).expect("chunk");
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        let len = find("content-length").map_or(0, |v| v.parse().expect("a length"));
        body.resize(len, 0);
        r.read_exact(&mut body).expect("body");
    }
    Reply {
        status,
        headers,
        body: String::from_utf8(body).expect("UTF-8"),
    }
}

fn post(server: &Server, path: &str, body: Value) -> Reply {
    request(server, "POST", path, Some(&body))
}

const PROMPT: &str = "Do the task.\nMOCK_CMD: echo one\nMOCK_CMD: echo two\nMOCK_FINAL: All done.\\nCOMPLETE_AND_READY_FOR_MERGE\n";

fn bash_tool() -> Value {
    json!({"type": "object", "properties": {
        "command": {"type": "string"}, "description": {"type": "string"}}})
}

#[test]
fn anthropic_calls_bash_once_per_scripted_command_then_answers_the_final_text() {
    let server = Server::start(Options::default()).expect("server");
    let tools = json!([
        {"name": "Read", "input_schema": {}},
        {"name": "Bash", "input_schema": bash_tool()},
    ]);
    let mut messages = vec![json!({"role": "user", "content": [{"type": "text", "text": PROMPT}]})];
    for cmd in ["echo one", "echo two"] {
        let body = json!({"model": "claude-x", "tools": tools, "messages": messages});
        let reply = post(&server, "/v1/messages?beta=true", body).json();
        assert_eq!(reply["stop_reason"], "tool_use", "{reply}");
        let call = &reply["content"][0];
        assert_eq!(call["type"], "tool_use");
        assert_eq!(call["name"], "Bash");
        assert_eq!(call["input"]["command"], cmd);
        assert!(call["input"]["description"].is_string(), "{call}");
        assert_eq!(reply["model"], "claude-x");
        assert_eq!(reply["usage"]["input_tokens"], 100);
        messages.push(json!({"role": "assistant", "content": [call]}));
        messages.push(json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": call["id"], "content": "ok"}]}));
    }
    // Streaming: the final text in Anthropic's event sequence.
    let body = json!({"model": "claude-x", "stream": true, "tools": tools, "messages": messages});
    let events = post(&server, "/v1/messages", body).events();
    let names: Vec<&str> = events.iter().filter_map(|(n, _)| n.as_deref()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(
        events[2].1["delta"]["text"],
        "All done.\nCOMPLETE_AND_READY_FOR_MERGE"
    );
    assert_eq!(events[4].1["delta"]["stop_reason"], "end_turn");
    // A new plain user message starts the script over.
    messages.push(json!({"role": "user", "content": "again\nMOCK_CMD: echo three"}));
    let body = json!({"model": "claude-x", "stream": true, "tools": tools, "messages": messages});
    let events = post(&server, "/v1/messages", body).events();
    assert_eq!(events[1].1["content_block"]["name"], "Bash");
    let args: Value =
        serde_json::from_str(events[2].1["delta"]["partial_json"].as_str().expect("json"))
            .expect("arguments");
    assert_eq!(args["command"], "echo three");
    let log = server.requests();
    assert_eq!(log.len(), 4);
    assert!(
        log[0]["reply"]
            .as_str()
            .is_some_and(|r| r == "anthropic tool Bash")
    );
    assert!(
        log[0]["body"]["messages"][0]
            .to_string()
            .contains("MOCK_CMD: echo one")
    );
}

#[test]
fn responses_skips_codex_context_and_answers_in_events_with_sequence_numbers() {
    let server = Server::start(Options::default()).expect("server");
    let context = json!({"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "<environment_context>cwd</environment_context>"}]});
    let prompt = json!({"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": PROMPT}]});
    let tools = json!([{"type": "function", "name": "exec_command", "parameters": {
        "type": "object", "properties": {"cmd": {"type": "string"}}}}]);
    let body = json!({"model": "mock-model", "stream": true, "tools": tools,
                      "input": [prompt, context]});
    let events = post(&server, "/v1/responses", body).events();
    let types: Vec<&str> = events
        .iter()
        .filter_map(|(_, e)| e["type"].as_str())
        .collect();
    assert_eq!(types.first(), Some(&"response.created"));
    assert_eq!(types.last(), Some(&"response.completed"));
    assert!(
        events
            .iter()
            .all(|(name, e)| name.as_deref() == e["type"].as_str())
    );
    let seq: Vec<u64> = events
        .iter()
        .filter_map(|(_, e)| e["sequence_number"].as_u64())
        .collect();
    assert_eq!(seq, (0..events.len() as u64).collect::<Vec<_>>());
    let done = &events.last().expect("events").1["response"];
    let call = &done["output"][0];
    assert_eq!(call["type"], "function_call", "{done}");
    let args: Value =
        serde_json::from_str(call["arguments"].as_str().expect("a string")).expect("json");
    assert_eq!(args, json!({"cmd": "echo one"}));
    assert_eq!(done["usage"]["output_tokens"], 20);

    // Two results later, not streaming: the final text.
    let output = |id: &str| json!({"type": "function_call_output", "call_id": id, "output": "ok"});
    let body = json!({"model": "mock-model", "tools": tools,
                      "input": [prompt, call, output("a"), call, output("b")]});
    let reply = post(&server, "/v1/responses", body).json();
    assert_eq!(reply["status"], "completed");
    assert_eq!(
        reply["output"][0]["content"][0]["text"],
        "All done.\nCOMPLETE_AND_READY_FOR_MERGE"
    );
}

#[test]
fn responses_code_mode_runs_the_command_through_the_exec_tool_in_a_namespace() {
    let server = Server::start(Options::default()).expect("server");
    let extra = json!({"type": "additional_tools", "tools": [
        {"type": "namespace", "name": "functions", "tools": [{"type": "custom", "name": "exec"}]},
    ]});
    let body = json!({"model": "gpt-x", "input": [extra, {"role": "user", "type": "message",
        "content": "MOCK_CMD: echo hi"}]});
    let reply = post(&server, "/v1/responses", body).json();
    let call = &reply["output"][0];
    assert_eq!(call["type"], "custom_tool_call", "{reply}");
    assert_eq!(call["name"], "exec");
    let code = call["input"].as_str().expect("code");
    assert!(
        code.contains(r#"tools.exec_command({"cmd":"echo hi"})"#),
        "{code}"
    );
}

#[test]
fn chat_completions_streams_tool_calls_then_done_and_fills_json_schemas() {
    let server = Server::start(Options::default().script(&["echo fallback"], "fallback final"))
        .expect("server");
    let tools =
        json!([{"type": "function", "function": {"name": "bash", "parameters": bash_tool()}}]);
    // opencode run wraps a positional message in double quotes; no directives: the fallback.
    let messages =
        json!([{"role": "system", "content": "sys"}, {"role": "user", "content": "\"plain\""}]);
    let body = json!({"model": "mock-model", "stream": true, "tools": tools, "messages": messages});
    let events = post(&server, "/v1/chat/completions", body).events();
    assert!(events.iter().all(|(name, _)| name.is_none()));
    assert_eq!(events.last().expect("events").1, json!("[DONE]"));
    let delta = &events[0].1["choices"][0]["delta"];
    let call = &delta["tool_calls"][0];
    assert_eq!(call["index"], 0);
    assert_eq!(call["function"]["name"], "bash");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().expect("args")).expect("json");
    assert_eq!(args["command"], "echo fallback");
    assert_eq!(events[1].1["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(events[2].1["usage"]["prompt_tokens"], 100);

    let messages = json!([{"role": "user", "content": "plain"},
        {"role": "assistant", "tool_calls": [call]}, {"role": "tool", "content": "ok"}]);
    let body = json!({"model": "m", "tools": tools, "messages": messages});
    let reply = post(&server, "/chat/completions", body).json();
    assert_eq!(reply["choices"][0]["message"]["content"], "fallback final");
    assert_eq!(reply["choices"][0]["finish_reason"], "stop");

    // No tools, a schema asked for: an object filled in from it.
    let schema = json!({"type": "object", "required": ["title", "kind", "n"], "properties": {
        "title": {"type": "string"}, "kind": {"enum": ["a", "b"]}, "n": {"type": "integer"}}});
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "title?"}],
        "response_format": {"type": "json_schema", "json_schema": {"schema": schema}}});
    let reply = post(&server, "/v1/chat/completions", body).json();
    let text = reply["choices"][0]["message"]["content"]
        .as_str()
        .expect("text");
    let filled: Value = serde_json::from_str(text).expect("JSON text");
    assert_eq!(filled, json!({"title": "mock", "kind": "a", "n": 1}));
}

#[test]
fn gemini_calls_run_shell_command_streaming_and_routes_with_json() {
    let server = Server::start(Options::default()).expect("server");
    let tools = json!([{"functionDeclarations": [
        {"name": "read_file", "parametersJsonSchema": {}},
        {"name": "run_shell_command", "parametersJsonSchema": bash_tool()}]}]);
    let prompt = json!({"role": "user", "parts": [{"text": PROMPT}]});
    let path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse";
    let events = post(&server, path, json!({"contents": [prompt], "tools": tools})).events();
    assert_eq!(events.len(), 1);
    let doc = &events[0].1;
    let call = &doc["candidates"][0]["content"]["parts"][0]["functionCall"];
    assert_eq!(call["name"], "run_shell_command", "{doc}");
    assert_eq!(call["args"]["command"], "echo one");
    assert_eq!(doc["modelVersion"], "gemini-2.5-flash");
    assert_eq!(doc["usageMetadata"]["promptTokenCount"], 100);

    let result =
        |name: &str| json!({"role": "user", "parts": [{"functionResponse": {"name": name}}]});
    let model = json!({"role": "model", "parts": [{"functionCall": call}]});
    let contents = json!([prompt, model, result("a"), model, result("b")]);
    let events = post(&server, path, json!({"contents": contents, "tools": tools})).events();
    let part = &events[0].1["candidates"][0]["content"]["parts"][0];
    assert_eq!(part["text"], "All done.\nCOMPLETE_AND_READY_FOR_MERGE");

    // Routing: generateContent without tools, asking for JSON.
    let schema = json!({"type": "object", "properties": {
        "model_choice": {"type": "string", "enum": ["flash", "pro"]}}});
    let body = json!({"contents": [prompt], "generationConfig": {
        "responseMimeType": "application/json", "responseJsonSchema": schema}});
    let reply = post(
        &server,
        "/v1beta/models/gemini-2.5-flash-lite:generateContent",
        body,
    )
    .json();
    let text = reply["candidates"][0]["content"]["parts"][0]["text"]
        .as_str()
        .expect("text");
    assert_eq!(
        serde_json::from_str::<Value>(text).expect("JSON"),
        json!({"model_choice": "flash"})
    );
}

#[test]
fn the_rest_models_count_tokens_and_unknown_paths() {
    let server = Server::start(Options::default()).expect("server");
    let models = request(&server, "GET", "/v1/models", None);
    assert_eq!(models.status, 200);
    assert_eq!(models.json()["data"][0]["id"], "mock-model");
    let count = post(
        &server,
        "/v1/messages/count_tokens",
        json!({"messages": []}),
    );
    assert_eq!(count.json()["input_tokens"], 100);
    let count = post(&server, "/v1beta/models/g:countTokens", json!({}));
    assert_eq!(count.json()["totalTokens"], 100);
    let npm = request(
        &server,
        "GET",
        "/npm-registry-stub/@opencode-ai%2fplugin",
        None,
    );
    assert_eq!(npm.status, 404);
    // A request without tools or schema gets a short text.
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "a title please"}]});
    let reply = post(&server, "/v1/messages", body).json();
    assert_eq!(reply["content"][0]["text"], "Mock reply");
}

#[test]
fn keep_alive_connections_serve_many_requests_and_chunked_bodies() {
    let server = Server::start(Options::default()).expect("server");
    let stream = TcpStream::connect(("127.0.0.1", server.port())).expect("connect");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).to_string();
    for _ in 0..3 {
        // A chunked request body, split in two chunks.
        let (a, b) = body.split_at(5);
        let req = format!(
            "POST /v1/messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
             {:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
            a.len(),
            b.len()
        );
        writer.write_all(req.as_bytes()).expect("send");
        let reply = read_reply(&mut reader);
        assert_eq!(reply.status, 200);
        assert_eq!(reply.json()["content"][0]["text"], "Mock reply");
    }
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn error_status_fails_every_post_with_that_status() {
    let server = Server::start(Options::default().error_status(500)).expect("server");
    let reply = post(&server, "/v1/responses", json!({"input": "hi"}));
    assert_eq!(reply.status, 500);
    assert_eq!(reply.json()["error"]["type"], "api_error");
    assert_eq!(server.requests()[0]["reply"], "error 500");
}

#[test]
fn rate_limit_answers_429_in_each_apis_dialect_with_the_seconds_left() {
    let server = Server::start(Options::default().rate_limit_for(Duration::from_secs(3600)))
        .expect("server");
    let cases = [
        ("/v1/messages", "rate_limit_error", "type"),
        ("/v1/responses", "rate_limit_exceeded", "code"),
        ("/v1/chat/completions", "rate_limit_exceeded", "type"),
        (
            "/v1beta/models/g:streamGenerateContent?alt=sse",
            "RESOURCE_EXHAUSTED",
            "status",
        ),
    ];
    for (path, kind, field) in cases {
        let reply = post(&server, path, json!({"stream": true}));
        assert_eq!(reply.status, 429, "{path}");
        let retry: u64 = reply
            .header("retry-after")
            .expect("Retry-After")
            .parse()
            .expect("secs");
        assert!((1..=3600).contains(&retry), "{path}: {retry}");
        assert_eq!(
            reply.header("x-ratelimit-reset-requests"),
            Some(format!("{retry}s").as_str())
        );
        let reset = reply
            .header("anthropic-ratelimit-requests-reset")
            .expect("reset");
        assert!(reset.parse::<jiff::Timestamp>().is_ok(), "{reset}");
        let doc = reply.json();
        assert_eq!(doc["error"][field], kind, "{path}: {doc}");
        let message = doc["error"]["message"].as_str().expect("message");
        assert!(
            message.contains(&format!("try again in {retry}s")),
            "{message}"
        );
    }
    // The first model request opened a window of 3600 whole seconds.
    assert_eq!(server.requests()[0]["reply"], "rate-limited 3600s");
    // Requests that are not model requests are answered as usual.
    assert_eq!(request(&server, "GET", "/v1/models", None).status, 200);
}

#[test]
fn rate_limit_ends_when_its_window_has_passed() {
    let window = Duration::from_millis(200);
    let server = Server::start(Options::default().rate_limit_for(window)).expect("server");
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(post(&server, "/v1/messages", body.clone()).status, 429);
    std::thread::sleep(window + Duration::from_millis(100));
    assert_eq!(post(&server, "/v1/messages", body).status, 200);
}

#[test]
fn isolated_code_cannot_reach_the_hosts_loopback() {
    if !clis::namespaces_permitted() {
        clis::loud(
            "*** SKIPPED isolated_code_cannot_reach_the_hosts_loopback: no `unshare -n` here ***",
        );
        return;
    }
    let host = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = host.local_addr().expect("addr").port();
    let (inside, own) = clis::isolated(|| {
        let inside = TcpStream::connect(("127.0.0.1", port)).is_ok();
        // Its own loopback works: a server started inside answers.
        let server = Server::start(Options::default()).expect("server");
        let own = request(&server, "GET", "/v1/models", None).status;
        // Processes it starts are inside too.
        let child = Command::new("bash")
            .args(["-c", &format!("exec 3<>/dev/tcp/127.0.0.1/{port}")])
            .stderr(std::process::Stdio::null())
            .status();
        assert!(
            !child.is_ok_and(|s| s.success()),
            "a child reached the host"
        );
        (inside, own)
    });
    assert!(!inside, "the isolated thread reached a port of the host");
    assert_eq!(own, 200);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_ok(),
        "the host itself is unchanged"
    );
}

/// Runs one real-CLI test of this binary in a child process with no CLI to be found.
fn run_without_clis(require: bool) -> std::process::Output {
    let empty = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(std::env::current_exe().expect("this test binary"));
    cmd.args([
        "--exact",
        "test_real_clis::claude_claims_commits_and_lands",
        "--nocapture",
    ]);
    for k in [
        clis::DIR_VAR,
        "AGENTCLIS",
        clis::SKIP_VAR,
        clis::REQUIRE_VAR,
    ] {
        cmd.env_remove(k);
    }
    cmd.env("PATH", empty.path()).env("HOME", empty.path());
    if require {
        cmd.env(clis::REQUIRE_VAR, "1");
    }
    cmd.output().expect("run the test binary")
}

#[test]
fn real_cli_tests_skip_loudly_without_the_clis_but_fail_when_ci_requires_them() {
    let skipped = run_without_clis(false);
    let err = String::from_utf8_lossy(&skipped.stderr);
    assert!(skipped.status.success(), "{err}");
    assert!(
        err.contains("SKIPPED real-CLI test claude_claims_commits_and_lands")
            && err.contains("the `claude` CLI is not installed")
            && err.contains(".ci/install-agent-clis.sh"),
        "{err}"
    );
    let out = String::from_utf8_lossy(&skipped.stdout);
    assert!(out.contains("1 passed"), "{out}");

    let required = run_without_clis(true);
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&required.stdout),
        String::from_utf8_lossy(&required.stderr)
    );
    assert!(!required.status.success(), "passed without the CLI:\n{out}");
    assert!(out.contains("OOMPA_REQUIRE_REAL_CLIS=1"), "{out}");
    assert!(out.contains("1 failed"), "{out}");
}
