//! A scripted model for tests: an HTTP server on 127.0.0.1 that speaks just enough of the
//! Anthropic Messages, OpenAI Responses, OpenAI Chat Completions and Gemini generateContent
//! APIs (streaming and not) to drive the real agent CLIs — Claude Code, Codex CLI, opencode and
//! Gemini CLI — through a scripted task, with nothing leaving the machine. [`clis`] says how
//! each CLI is pointed at it.
//!
//! ```text
//! POST …/messages                            Anthropic Messages, SSE or JSON   (Claude Code)
//! POST …/messages/count_tokens               {"input_tokens": 100}
//! POST …/responses                           OpenAI Responses, SSE or JSON     (Codex)
//! POST …/chat/completions                    OpenAI Chat Completions           (opencode)
//! POST …/models/M:streamGenerateContent      Gemini, SSE                       (Gemini CLI)
//! POST …/models/M:generateContent            Gemini, JSON (its routing calls)
//! POST …/models/M:countTokens                {"totalTokens": 100}
//! GET  …/models                              a list with one model
//! ```
//!
//! Paths are matched on their endings, so any prefix (`/v1`, `/v1beta`) works; anything else
//! is a 404 (opencode's npm registry lookup, pointed here, gets one and carries on).
//!
//! # The script
//!
//! Each reply is decided from the request's conversation alone, so one server serves many
//! agents at once. With `n` tool results since the latest user prompt and commands
//! `cmd[0..k]`:
//!
//! - tools are offered, one of them a shell tool, and `n < k`: call it with `cmd[n]` (the
//!   arguments shaped after the tool's schema: `cmd`, `command` as a string or an argv array,
//!   a `description` where one is asked for);
//! - tools are offered: the final text;
//! - no tools (titles, routing): a short text, or a JSON object filled in from the schema the
//!   request asks for.
//!
//! The commands and the final text come from the prompt when it has them, one directive a
//! line: `MOCK_CMD: <shell command>` (repeatable, run in order, one tool call per model turn)
//! and `MOCK_FINAL: <text>` (the last one wins; a backslash-n becomes a newline). Otherwise
//! from [`Options::script`] (the binary's `--cmd`, `--final`), by default: create `hello.txt`,
//! commit it, and answer with a text ending in `COMPLETE_AND_READY_FOR_MERGE`.
//!
//! [`Options::error_status`] fails every request with that status;
//! [`Options::rate_limit_for`] answers every model request with a 429 for that long after the
//! first one, as a provider's usage limit does (below); with
//! [`Options::rate_limit_tools_only`] only requests that offer tools count, and with
//! [`Options::rate_limit_after`] the first few of them are answered before the window opens.
//! Every reply reports 100 input and 20 output tokens. Every request is kept in a log ([`Server::requests`]): method, path,
//! headers (without credentials), JSON body and a one-line `reply`.
//!
//! # Usage limits: what each CLI does
//!
//! With the rate-limit window every model request gets HTTP 429 in the API's own shape
//! (`rate_limit_error`, `rate_limit_exceeded`, `RESOURCE_EXHAUSTED`) with `Retry-After: <seconds
//! left>`, `anthropic-ratelimit-requests-reset: <RFC 3339 time>` and
//! `x-ratelimit-reset-requests: <seconds>s`, the message saying
//! `Please try again in <seconds>s.`; after the window the script goes on as usual. Observed
//! by hand with `mockllm --rate-limit-for 20` (and the longer windows named below), each CLI
//! run headless with one prompt and set up as [`clis`] does unless said otherwise:
//!
//! - **Claude Code** (2.1.197) waits out a short `Retry-After` by itself when it may retry:
//!   with the tests' `CLAUDE_CODE_MAX_RETRIES=1` it slept through a 20 s and a 60 s window
//!   (with the default retries, a 20 s one), retried and finished the turn normally, so the
//!   caller never sees the limit. With a longer window (90 s, 120 s, 150 s tried) or with
//!   `CLAUDE_CODE_MAX_RETRIES=0` it ends the turn at once, exit status 1: an `assistant`
//!   event with `"error": "rate_limit"`, then `{"type": "result", "subtype": "success",
//!   "is_error": true, "api_error_status": 429, "result": "API Error: Request rejected (429) ·
//!   Rate limit reached (mock). Please try again in 20s.", "session_id": …}`. To see the
//!   limit with a 20 s window, set `CLAUDE_CODE_MAX_RETRIES=0`.
//! - **Codex** (0.171.0) with the tests' provider (`request_max_retries=0`) ends at once, exit
//!   status 1: `{"type": "error", "message": "exceeded retry limit, last status: 429 Too Many
//!   Requests"}`, then `{"type": "turn.failed", "error": {"message": <the same>}}`; the
//!   `thread.started` event before them has the session id. With `request_max_retries=4` it
//!   prints `{"type": "error", "message": "Reconnecting... 1/4 (exceeded retry limit, last
//!   status: 429 Too Many Requests)"}`, sleeps the `Retry-After` (20 s; 300 s tried) and
//!   finishes the turn normally.
//! - **Gemini CLI** (0.61.0) ignores `Retry-After`. With the tests' `"maxAttempts": 1` it ends
//!   at once, exit status 173 (429 mod 256): `{"type": "result", "status": "error", "error":
//!   {"type": "unknown", "message": "[API Error: Rate limit reached (mock). Please try again in
//!   20s.]\nPlease wait and try again later. …"}}`, and `RetryableQuotaError: … status: 429`
//!   on stderr. With the default attempts it keeps retrying on its own back-off (about 4, 10,
//!   15, 30 s, then ~30 s apart), printing `Attempt N failed with status 429. Retrying with
//!   backoff... _ApiError: {<the 429 body>}` on stderr each time: a 20 s window ends in its
//!   4th attempt (~35 s) and the turn finishes normally; a 300 s window makes it give up after
//!   10 attempts (~220 s), with the error result and exit status 173 as above. Killed while
//!   it retries (its whole process group: it runs itself again as a child), it leaves its
//!   session behind, the prompt recorded as it was sent: `--resume <id>` then carries on with
//!   the earlier messages.
//! - **opencode** (1.18.33) keeps retrying silently: nothing in `--format json` output,
//!   nothing on stderr. Its session loop sleeps the `Retry-After` (20 s; 275 s tried) and
//!   retries, then finishes the turn normally (exit status 0); the side request that makes
//!   the session title gives up after 3 quick attempts, unnoticed. The one trace is with
//!   `--print-logs` (git oompa does not pass it): a stderr line `level=ERROR … message="stream
//!   error" … error.error="AI_APICallError: Rate limit reached (mock). Please try again in
//!   19s."` per limited request. Whether a setting makes it give up instead was not looked
//!   into.
//!
//! So with the settings of [`clis`] and a 20 s window, Codex and Gemini CLI end the turn with
//! the limit in their output, Claude Code and opencode wait inside the turn and succeed.
//!
//! # The binary
//!
//! `cargo run -p mockllm -- --port-file FILE --log FILE [--cmd CMD]… [--final TEXT]
//! [--error-status N] [--rate-limit-for SECONDS]` serves until killed, printing one line per
//! request on stderr; see `--help`.

pub mod clis;
mod http;

mod api;
mod script;

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub use api::{INPUT_TOKENS, OUTPUT_TOKENS};
pub use script::{DEFAULT_CMD, DEFAULT_FINAL, Script};

use api::{Api, Ids};
use http::{Request, Response};

/// How a server answers.
#[derive(Clone, Debug)]
pub struct Options {
    /// The fallback script, for prompts without `MOCK_CMD:` / `MOCK_FINAL:` lines.
    pub script: Script,
    /// The model id `GET /models` lists.
    pub model: String,
    /// Answer every POST with this HTTP status.
    pub error_status: Option<u16>,
    /// Answer model requests with 429 until this long after the first model request.
    pub rate_limit_for: Option<Duration>,
    /// The rate-limit window opens at, and covers, only requests that offer tools (an agent's
    /// own conversation), not side requests such as titles and routing.
    pub rate_limit_tools_only: bool,
    /// This many model requests (of those the window covers) are answered normally before the
    /// window opens, so a limit can hit a conversation that already has a turn in it.
    pub rate_limit_after: usize,
    /// Also append every request to this file as a JSON line.
    pub log: Option<PathBuf>,
    /// Print one line per request on stderr.
    pub verbose: bool,
    /// Listen on this port (0: any free one).
    pub port: u16,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            script: Script::default(),
            model: "mock-model".to_string(),
            error_status: None,
            rate_limit_for: None,
            rate_limit_tools_only: false,
            rate_limit_after: 0,
            log: None,
            verbose: false,
            port: 0,
        }
    }
}

impl Options {
    /// The fallback script: these commands, then this final text.
    pub fn script(mut self, commands: &[&str], final_text: &str) -> Options {
        self.script = Script {
            commands: commands.iter().map(|c| c.to_string()).collect(),
            final_text: final_text.to_string(),
        };
        self
    }

    pub fn error_status(mut self, status: u16) -> Options {
        self.error_status = Some(status);
        self
    }

    pub fn rate_limit_for(mut self, window: Duration) -> Options {
        self.rate_limit_for = Some(window);
        self
    }

    /// See [`Options::rate_limit_tools_only`].
    pub fn rate_limit_tools_only(mut self) -> Options {
        self.rate_limit_tools_only = true;
        self
    }

    /// See [`Options::rate_limit_after`].
    pub fn rate_limit_after(mut self, requests: usize) -> Options {
        self.rate_limit_after = requests;
        self
    }
}

/// A running server on 127.0.0.1. Dropping it stops accepting connections.
pub struct Server {
    addr: SocketAddr,
    state: Arc<State>,
    acceptor: Option<JoinHandle<()>>,
}

struct State {
    options: Options,
    ids: Ids,
    log: Mutex<Vec<Value>>,
    /// How many model requests the rate-limit window covers came so far, and when the window
    /// opened (at the first of them after [`Options::rate_limit_after`]).
    window: Mutex<(usize, Option<Instant>)>,
    stop: AtomicBool,
}

impl Server {
    /// Binds 127.0.0.1 (in the calling thread's network namespace) and serves on threads.
    pub fn start(options: Options) -> std::io::Result<Server> {
        let listener = TcpListener::bind(("127.0.0.1", options.port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            options,
            ids: Ids::default(),
            log: Mutex::new(Vec::new()),
            window: Mutex::new((0, None)),
            stop: AtomicBool::new(false),
        });
        let shared = Arc::clone(&state);
        let acceptor = std::thread::Builder::new()
            .name("mockllm-accept".into())
            .spawn(move || accept(&listener, &shared))?;
        Ok(Server {
            addr,
            state,
            acceptor: Some(acceptor),
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far, oldest first: `{"t", "method", "path", "headers", "body",
    /// "reply"}`, where `reply` is one line such as `anthropic tool Bash` or
    /// `chat text "Done."`.
    pub fn requests(&self) -> Vec<Value> {
        self.state
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// One line per request (`POST /v1/messages -> anthropic tool Bash`), for failure reports.
    pub fn summary(&self) -> String {
        self.requests()
            .iter()
            .map(|r| format!("{} {} -> {}\n", r["method"], r["path"], r["reply"]))
            .map(|l| l.replace('"', ""))
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::Relaxed);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Accepts until the server is dropped. The listener polls, so stopping needs no connection
/// (which would have to come from the right network namespace); connections already open are
/// served until their clients close them.
fn accept(listener: &TcpListener, state: &Arc<State>) {
    while !state.stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                let state = Arc::clone(state);
                let _ = std::thread::Builder::new()
                    .name("mockllm-conn".into())
                    .spawn(move || {
                        let _ = stream.set_nonblocking(false);
                        if let Ok(conn) = http::Connection::new(stream) {
                            let _ = conn.serve(|req| state.handle(req));
                        }
                    });
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

impl State {
    fn handle(&self, req: &Request) -> Response {
        let body: Value = match req.body.as_slice() {
            [] if req.method == "POST" => json!({}),
            [] => Value::Null,
            raw => serde_json::from_slice(raw)
                .unwrap_or_else(|_| json!({"_raw": String::from_utf8_lossy(raw)})),
        };
        let (response, reply) = self.respond(req, &body);
        self.record(req, body, &reply);
        response
    }

    fn respond(&self, req: &Request, body: &Value) -> (Response, String) {
        let path = req.path();
        if req.method == "HEAD" {
            return (Response::json(200, json!({})), "head".into());
        }
        if req.method != "POST" {
            if req.method == "GET" && path.ends_with("/models") {
                let model = &self.options.model;
                let list = json!({
                    "object": "list", "models": [],
                    "data": [{"id": model, "object": "model", "created": 0, "owned_by": "mock"}],
                });
                return (Response::json(200, list), "models".into());
            }
            return not_found();
        }
        let api = Api::of_path(path);
        let limited = api.filter(|api| {
            !self.options.rate_limit_tools_only || !api.conversation(body).tools.is_empty()
        });
        if let (Some(api), Some(secs)) = (limited, limited.and_then(|_| self.rate_limit_left())) {
            return (api.rate_limited(secs), format!("rate-limited {secs}s"));
        }
        if let Some(status) = self.options.error_status {
            let doc = json!({"type": "error", "error": {
                "type": "api_error", "code": status, "message": "mock error", "status": "INTERNAL",
            }});
            return (Response::json(status, doc), format!("error {status}"));
        }
        if path.ends_with("/messages/count_tokens") {
            let doc = json!({"input_tokens": INPUT_TOKENS});
            return (Response::json(200, doc), "count_tokens".into());
        }
        if path.ends_with(":countTokens") {
            let doc = json!({"totalTokens": INPUT_TOKENS});
            return (Response::json(200, doc), "countTokens".into());
        }
        let Some(api) = api else {
            return not_found();
        };
        let reply = self.options.script.decide(&api.conversation(body));
        let model = match api {
            Api::Gemini { .. } => path
                .rsplit("/models/")
                .next()
                .and_then(|m| m.split(':').next())
                .unwrap_or_default()
                .to_string(),
            _ => body["model"]
                .as_str()
                .unwrap_or(&self.options.model)
                .to_string(),
        };
        let response = api.render(body, &model, &reply, &self.ids);
        (response, format!("{} {}", api.name(), reply.describe()))
    }

    /// Whole seconds left in the rate-limit window (at least 1), or `None` outside it. The
    /// window opens at the first model request after the [`Options::rate_limit_after`] it lets
    /// through.
    fn rate_limit_left(&self) -> Option<u64> {
        let window = self.options.rate_limit_for?;
        let mut state = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        state.0 += 1;
        if state.0 <= self.options.rate_limit_after {
            return None;
        }
        let first = *state.1.get_or_insert_with(Instant::now);
        let left = window.checked_sub(first.elapsed())?;
        if left.is_zero() {
            return None;
        }
        Some(left.as_secs_f64().ceil().max(1.0) as u64)
    }

    fn record(&self, req: &Request, body: Value, reply: &str) {
        let secret = ["authorization", "x-api-key", "x-goog-api-key"];
        let headers: serde_json::Map<String, Value> = req
            .headers
            .iter()
            .filter(|(k, _)| !secret.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        let t = jiff::Timestamp::now().as_millisecond() as f64 / 1000.0;
        let entry = json!({
            "t": t, "method": req.method, "path": req.target, "headers": headers,
            "body": body, "reply": reply,
        });
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(path) = &self.options.log {
            let line = format!("{entry}\n");
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path);
            if let Err(e) = file.and_then(|mut f| f.write_all(line.as_bytes())) {
                eprintln!("[mockllm] cannot write the log {}: {e}", path.display());
            }
        }
        if self.options.verbose {
            let short: String = reply.chars().take(80).collect();
            eprintln!("[mockllm] {} {} -> {short}", req.method, req.target);
        }
        log.push(entry);
    }
}

fn not_found() -> (Response, String) {
    let doc = json!({"error": {"message": "not found in mock", "type": "not_found"}});
    (Response::json(404, doc), "404".into())
}
