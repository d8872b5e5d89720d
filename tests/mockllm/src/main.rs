//! `mockllm`: the scripted model as a program, for trying a CLI against it by hand (the tests
//! start it in-process). Serves on 127.0.0.1 until killed.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use mockllm::{Options, Server};

const USAGE: &str = "\
usage: mockllm [options]

Serves a scripted model on 127.0.0.1 (Anthropic Messages, OpenAI Responses and Chat Completions,
Gemini generateContent) until killed; one line per request on stderr. See the crate docs
(tests/mockllm/src/lib.rs) for the script and the prompt directives MOCK_CMD: / MOCK_FINAL:.

  --port N                 listen on port N (default 0: a free port)
  --port-file FILE         write the port to FILE once listening
  --log FILE               append every request to FILE as a JSON line
  --cmd CMD                a shell command for the agent to run (repeatable, run in order;
                           default: create and commit hello.txt)
  --final TEXT             the final text (default ends in COMPLETE_AND_READY_FOR_MERGE)
  --model ID               the model GET /models lists (default mock-model)
  --error-status N         answer every POST with HTTP status N
  --rate-limit-for SECS    answer model requests with 429 (Retry-After: seconds left) until
                           SECS after the first model request, as a provider's usage limit does
  --rate-limit-after N     answer the first N model requests before the window opens
  --rate-limit-tools-only  only requests that offer tools open the window and are limited
  -h, --help               this text";

fn main() {
    match run() {
        Ok(()) => {}
        Err(message) => {
            eprintln!("mockllm: {message}\n\n{USAGE}");
            std::process::exit(2);
        }
    }
}

fn run() -> Result<(), String> {
    let mut options = Options {
        verbose: true,
        ..Options::default()
    };
    let mut commands = Vec::new();
    let mut port_file = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            // Ignore a closed stdout (`mockllm --help | head`).
            let _ = writeln!(std::io::stdout(), "{USAGE}");
            return Ok(());
        }
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| {
            v.parse::<f64>()
                .map_err(|_| format!("{flag}: not a number: {v}"))
        };
        match flag.as_str() {
            "--port" => {
                let v = value()?;
                options.port = v.parse().map_err(|_| format!("--port: bad port {v}"))?;
            }
            "--port-file" => port_file = Some(PathBuf::from(value()?)),
            "--log" => options.log = Some(PathBuf::from(value()?)),
            "--cmd" => commands.push(value()?),
            "--final" => options.script.final_text = value()?,
            "--model" => options.model = value()?,
            "--error-status" => {
                let v = value()?;
                let status = v
                    .parse()
                    .map_err(|_| format!("--error-status: bad status {v}"))?;
                options.error_status = Some(status);
            }
            "--rate-limit-for" => {
                let secs = number(value()?)?;
                let window = Duration::try_from_secs_f64(secs)
                    .map_err(|_| format!("--rate-limit-for: bad duration {secs}"))?;
                options.rate_limit_for = Some(window).filter(|w| !w.is_zero());
            }
            "--rate-limit-after" => {
                let v = value()?;
                options.rate_limit_after = v
                    .parse()
                    .map_err(|_| format!("--rate-limit-after: bad count {v}"))?;
            }
            "--rate-limit-tools-only" => options.rate_limit_tools_only = true,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if !commands.is_empty() {
        options.script.commands = commands;
    }
    let server = Server::start(options).map_err(|e| format!("cannot listen: {e}"))?;
    if let Some(file) = port_file {
        let tmp = file.with_extension("tmp");
        std::fs::write(&tmp, server.port().to_string())
            .and_then(|()| std::fs::rename(&tmp, &file))
            .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    }
    eprintln!("[mockllm] listening on {}", server.url());
    loop {
        std::thread::park();
    }
}
