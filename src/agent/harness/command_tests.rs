//! Argv for every harness × fresh/resume × model/reasoning/extra args.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::*;
use crate::agent::model::ModelSpec;
use crate::agent::types::TurnMode;
use crate::agent_env;

const FRESH: &str = "11111111-2222-4333-8444-555555555555";
static NO_KILL: AtomicBool = AtomicBool::new(false);

fn build(
    model: &str,
    resume: Option<&str>,
    extra: &[&str],
    prompt: &str,
    root: bool,
) -> Invocation {
    let spec = ModelSpec::parse(model).expect("valid model string");
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    let env = [(agent_env::WORKER.to_string(), "w1".to_string())];
    let turn = Turn {
        spec: &spec,
        cwd: Path::new("/repo/wt/w1"),
        prompt,
        resume,
        mode: TurnMode::Work,
        extra_args: &extra,
        env: &env,
        timeout: Duration::from_secs(60),
        transcript: Path::new("/tmp/t.log"),
        transcript_max: crate::agent::transcript::DEFAULT_MAX,
        kill: &NO_KILL,
    };
    command_for(&turn, FRESH, root)
}

fn argv(inv: &Invocation) -> Vec<String> {
    let mut v = vec![inv.program.clone()];
    v.extend(inv.args.iter().map(|a| a.to_string_lossy().into_owned()));
    v
}

#[test]
fn claude_fresh_and_resume() {
    let inv = build(
        "claude:opus:high",
        None,
        &["--add-dir", "/x"],
        "do it",
        false,
    );
    assert_eq!(
        argv(&inv),
        [
            "claude",
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "--dangerously-skip-permissions",
            "--model",
            "opus",
            "--effort",
            "high",
            "--session-id",
            FRESH,
            "--add-dir",
            "/x",
        ]
    );
    assert_eq!(inv.stdin.as_deref(), Some("do it"));
    assert_eq!(inv.session_id.as_deref(), Some(FRESH));
    assert!(inv.env.is_empty());
    assert_eq!(inv.env_remove, ["CLAUDECODE"]);

    let inv = build("claude", Some("abc-123"), &[], "go on", true);
    assert_eq!(
        argv(&inv),
        [
            "claude",
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "--dangerously-skip-permissions",
            "--resume",
            "abc-123",
        ]
    );
    assert_eq!(inv.session_id.as_deref(), Some("abc-123"));
    assert_eq!(inv.env, [("IS_SANDBOX".to_string(), "1".to_string())]);
}

#[test]
fn codex_fresh_and_resume() {
    let inv = build(
        "codex:gpt-5.3-codex:medium",
        None,
        &["-c", "x=1"],
        "fix bug",
        false,
    );
    assert_eq!(
        argv(&inv),
        [
            "codex",
            "exec",
            "--json",
            "--dangerously-bypass-approvals-and-sandbox",
            "--skip-git-repo-check",
            "-c",
            "allow_login_shell=false",
            "-C",
            "/repo/wt/w1",
            "-m",
            "gpt-5.3-codex",
            "-c",
            "model_reasoning_effort=medium",
            "-c",
            "x=1",
            "--",
            "fix bug",
        ]
    );
    assert_eq!(
        inv.stdin, None,
        "codex reads an open stdin: it must be /dev/null"
    );
    assert_eq!(inv.session_id, None, "codex assigns its own thread id");

    let inv = build(
        "codex:gpt-5",
        Some("0199-thread"),
        &[],
        "--continue please",
        false,
    );
    assert_eq!(
        argv(&inv),
        [
            "codex",
            "exec",
            "--json",
            "--dangerously-bypass-approvals-and-sandbox",
            "--skip-git-repo-check",
            "-c",
            "allow_login_shell=false",
            "-C",
            "/repo/wt/w1",
            "-m",
            "gpt-5",
            "resume",
            "0199-thread",
            "--",
            "--continue please",
        ]
    );
    assert_eq!(inv.session_id.as_deref(), Some("0199-thread"));
}

#[test]
fn codex_huge_prompt_goes_on_stdin() {
    let prompt = "x".repeat(200 * 1024);
    let inv = build("codex", None, &[], &prompt, false);
    assert_eq!(argv(&inv).last().map(String::as_str), Some("-"));
    assert_eq!(inv.stdin.as_deref().map(str::len), Some(prompt.len()));
}

#[test]
fn opencode_fresh_and_resume() {
    let inv = build(
        "opencode:openrouter/x:free",
        None,
        &["--agent", "build"],
        "hi there",
        false,
    );
    assert_eq!(
        argv(&inv),
        [
            "opencode",
            "run",
            "--format",
            "json",
            "--auto",
            "--print-logs",
            "--log-level",
            "ERROR",
            "-m",
            "openrouter/x:free",
            "--dir",
            "/repo/wt/w1",
            "--agent",
            "build",
        ]
    );
    assert_eq!(inv.stdin.as_deref(), Some("hi there"));
    assert_eq!(inv.session_id, None);

    let inv = build("opencode:a/b:high", Some("ses_abc"), &[], "more", false);
    assert_eq!(
        argv(&inv),
        [
            "opencode",
            "run",
            "--format",
            "json",
            "--auto",
            "--print-logs",
            "--log-level",
            "ERROR",
            "-m",
            "a/b",
            "--variant",
            "high",
            "-s",
            "ses_abc",
            "--dir",
            "/repo/wt/w1",
        ]
    );
    assert_eq!(inv.session_id.as_deref(), Some("ses_abc"));
}

#[test]
fn gemini_fresh_and_resume() {
    let inv = build(
        "gemini:gemini-2.5-flash:high",
        None,
        &["--include-directories", "/d"],
        "p",
        false,
    );
    assert_eq!(
        argv(&inv),
        [
            "gemini",
            "-o",
            "stream-json",
            "--yolo",
            "--skip-trust",
            "-m",
            "gemini-2.5-flash",
            "--session-id",
            FRESH,
            "--include-directories",
            "/d",
            "-p",
            "p",
        ]
    );
    assert_eq!(inv.stdin, None);
    assert_eq!(inv.session_id.as_deref(), Some(FRESH));

    let inv = build("gemini", Some("g-1"), &[], "- starts with a dash", false);
    assert_eq!(
        argv(&inv),
        [
            "gemini",
            "-o",
            "stream-json",
            "--yolo",
            "--skip-trust",
            "--resume",
            "g-1"
        ]
    );
    assert_eq!(inv.stdin.as_deref(), Some("- starts with a dash"));
    assert_eq!(inv.session_id.as_deref(), Some("g-1"));
}

#[test]
fn exec_fresh_and_resume() {
    let inv = build(
        "exec:./agent.sh --fast",
        None,
        &["a b", "c"],
        "the prompt",
        false,
    );
    assert_eq!(
        argv(&inv),
        ["sh", "-c", "./agent.sh --fast", "sh", "a b", "c"]
    );
    assert_eq!(inv.stdin.as_deref(), Some("the prompt"));
    assert_eq!(
        inv.env,
        [
            (agent_env::SESSION_ID.to_string(), FRESH.to_string()),
            (agent_env::TURN_MODE.to_string(), "work".to_string()),
        ]
    );
    assert_eq!(inv.session_id.as_deref(), Some(FRESH));
    assert_eq!(inv.env_remove, [agent_env::RESUME]);

    let inv = build("exec:agent", Some("prev-id"), &[], "again", false);
    assert_eq!(argv(&inv), ["sh", "-c", "agent", "sh"]);
    assert_eq!(
        inv.env,
        [
            (agent_env::SESSION_ID.to_string(), "prev-id".to_string()),
            (agent_env::RESUME.to_string(), "1".to_string()),
            (agent_env::TURN_MODE.to_string(), "work".to_string()),
        ]
    );
    assert_eq!(inv.session_id.as_deref(), Some("prev-id"));
}

#[test]
fn reasoning_levels_are_spelled_for_each_cli() {
    let effort = |model: &str| {
        let args = argv(&build(model, None, &[], "p", false));
        let at = args.windows(2).position(|w| {
            w[0] == "--effort"
                || w[0] == "--variant"
                || (w[0] == "-c" && w[1].starts_with("model_reasoning_effort="))
        });
        at.map(|i| args[i + 1].clone())
    };
    assert_eq!(effort("claude:opus:minimal").as_deref(), Some("low"));
    assert_eq!(effort("claude:opus:none"), None);
    assert_eq!(effort("claude:opus:max").as_deref(), Some("max"));
    assert_eq!(
        effort("codex:gpt-5:max").as_deref(),
        Some("model_reasoning_effort=xhigh")
    );
    assert_eq!(
        effort("codex:gpt-5:none").as_deref(),
        Some("model_reasoning_effort=none")
    );
    assert_eq!(effort("opencode:a/b:max").as_deref(), Some("max"));
    assert!(!argv(&build("gemini:g:high", None, &[], "p", false)).contains(&"high".to_string()));
}
