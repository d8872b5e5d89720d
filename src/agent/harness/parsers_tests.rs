//! Recorded-style JSONL samples for each harness parser, shaped after the events in
//! `reference/agent-clis.md`, including malformed lines and failure events.

use super::*;
use crate::agent::output::Parsed;
use crate::agent::types::Usage;

fn parse(harness: Harness, sample: &str) -> Parsed {
    let mut p = parser_for(&harness).expect("JSON harness");
    for line in sample.lines() {
        p.line(line);
    }
    p.finish()
}

const CLAUDE_OK: &str = r#"{"type":"system","subtype":"init","session_id":"4f1c2d9e-0000-4000-8000-000000000001","cwd":"/w","model":"claude-sonnet-4-5","tools":["Bash"],"permissionMode":"bypassPermissions"}
{"type":"assistant","message":{"id":"m1","role":"assistant","content":[{"type":"text","text":"I'll create the file."}]},"session_id":"4f1c2d9e-0000-4000-8000-000000000001"}
{"type":"assistant","message":{"id":"m1","role":"assistant","content":[{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"echo hi > hello.txt && git commit -am x","description":"commit"}}]},"session_id":"4f1c2d9e-0000-4000-8000-000000000001"}
not json at all
{"type":"user","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"committed"}]},"tool_use_result":{"stdout":"committed\n"}}
{"type":"assistant","message":{"id":"m2","role":"assistant","content":[{"type":"text","text":"Done.\nCOMPLETE_AND_READY_FOR_MERGE"}]},"session_id":"4f1c2d9e-0000-4000-8000-000000000001"}
{"type":"result","subtype":"success","is_error":false,"api_error_status":null,"num_turns":2,"result":"Done.\nCOMPLETE_AND_READY_FOR_MERGE","stop_reason":"end_turn","session_id":"4f1c2d9e-0000-4000-8000-000000000001","total_cost_usd":0.0123,"usage":{"input_tokens":100,"cache_creation_input_tokens":20,"cache_read_input_tokens":5,"output_tokens":42},"permission_denials":[],"terminal_reason":"completed"}
"#;

#[test]
fn claude_success() {
    let p = parse(Harness::Claude, CLAUDE_OK);
    assert_eq!(
        p.final_text.as_deref(),
        Some("Done.\nCOMPLETE_AND_READY_FOR_MERGE")
    );
    assert_eq!(
        p.session_id.as_deref(),
        Some("4f1c2d9e-0000-4000-8000-000000000001")
    );
    assert_eq!(p.usage.input_tokens, Some(125));
    assert_eq!(p.usage.output_tokens, Some(42));
    assert_eq!(p.usage.cost_usd, Some(0.0123));
    assert_eq!(p.failure, None);
}

#[test]
fn claude_api_error_is_a_failure() {
    let sample = r#"{"type":"system","subtype":"init","session_id":"s-1"}
{"type":"result","subtype":"success","is_error":true,"api_error_status":400,"result":"API Error: 400 mock error","session_id":"s-1","total_cost_usd":0,"usage":{"input_tokens":0,"output_tokens":0}}"#;
    let p = parse(Harness::Claude, sample);
    assert_eq!(p.failure.as_deref(), Some("API Error: 400 mock error"));
    assert_eq!(p.final_text.as_deref(), Some("API Error: 400 mock error"));
    assert_eq!(p.session_id.as_deref(), Some("s-1"));
}

#[test]
fn claude_without_result_falls_back_to_last_assistant_text() {
    let sample = r#"{"type":"system","subtype":"init","session_id":"s-2"}
{"type":"assistant","message":{"content":[{"type":"text","text":"first"}]},"session_id":"s-2"}
{"type":"assistant","message":{"content":[{"type":"tool_use","name":"Bash","input":{}}]},"session_id":"s-2"}
{"type":"assistant","message":{"content":[{"type":"text","text":"second"},{"type":"text","text":"CLAIM(t1)"}]},"session_id":"s-2"}
{"type":"result","subtype":"succ"#;
    let p = parse(Harness::Claude, sample);
    assert_eq!(p.final_text.as_deref(), Some("second\nCLAIM(t1)"));
    assert_eq!(p.usage, Usage::default());
}

const CODEX_OK: &str = r#"{"type":"thread.started","thread_id":"0199a213-81c0-7800-8aa1-bbab2a035a53"}
{"type":"turn.started"}
{"type":"item.completed","item":{"id":"item_0","type":"error","message":"Model metadata for `mock-model` not found. Defaulting to fallback metadata"}}
{"type":"item.completed","item":{"id":"item_1","type":"agent_message","text":"Running the command."}}
{"type":"item.started","item":{"id":"item_2","type":"command_execution","command":"bash -lc 'git commit'","aggregated_output":"","exit_code":null,"status":"in_progress"}}
{"type":"item.completed","item":{"id":"item_2","type":"command_execution","command":"bash -lc 'git commit'","aggregated_output":"committed\n","exit_code":0,"status":"completed"}}
{"broken json
{"type":"item.completed","item":{"id":"item_3","type":"agent_message","text":"All done.\nCOMPLETE_AND_READY_FOR_MERGE"}}
{"type":"turn.completed","usage":{"input_tokens":2000,"cached_input_tokens":1500,"output_tokens":120,"reasoning_output_tokens":30}}
"#;

#[test]
fn codex_success() {
    let p = parse(Harness::Codex, CODEX_OK);
    assert_eq!(
        p.final_text.as_deref(),
        Some("All done.\nCOMPLETE_AND_READY_FOR_MERGE")
    );
    assert_eq!(
        p.session_id.as_deref(),
        Some("0199a213-81c0-7800-8aa1-bbab2a035a53")
    );
    assert_eq!(p.usage.input_tokens, Some(2000));
    assert_eq!(p.usage.output_tokens, Some(120));
    assert_eq!(p.usage.cost_usd, None);
    assert_eq!(p.failure, None, "warnings are not failures");
}

#[test]
fn codex_turn_failed() {
    let sample = r#"{"type":"thread.started","thread_id":"t-9"}
{"type":"turn.started"}
{"type":"error","message":"Reconnecting... 2/5"}
{"type":"error","message":"unexpected status 400 Bad Request: mock error"}
{"type":"turn.failed","error":{"message":"unexpected status 400 Bad Request: mock error"}}"#;
    let p = parse(Harness::Codex, sample);
    assert_eq!(
        p.failure.as_deref(),
        Some("unexpected status 400 Bad Request: mock error")
    );
    assert_eq!(p.final_text, None);
    assert_eq!(p.session_id.as_deref(), Some("t-9"));
}

#[test]
fn codex_turn_failed_without_message_uses_last_error() {
    let sample =
        "{\"type\":\"error\",\"message\":\"stream disconnected\"}\n{\"type\":\"turn.failed\"}";
    assert_eq!(
        parse(Harness::Codex, sample).failure.as_deref(),
        Some("stream disconnected")
    );
}

const OPENCODE_OK: &str = r#"{"type":"step_start","timestamp":1,"sessionID":"ses_df0b64ce3ffeAbc","part":{"id":"prt_1","sessionID":"ses_df0b64ce3ffeAbc","type":"step-start"}}
{"type":"text","timestamp":2,"sessionID":"ses_df0b64ce3ffeAbc","part":{"id":"prt_2","type":"text","text":"Let me commit that."}}
{"type":"tool_use","timestamp":3,"sessionID":"ses_df0b64ce3ffeAbc","part":{"id":"prt_3","type":"tool","tool":"bash","state":{"status":"completed","input":{"command":"git commit"},"output":"committed\n","metadata":{"exit":0}}}}
{"type":"step_finish","timestamp":4,"sessionID":"ses_df0b64ce3ffeAbc","part":{"id":"prt_4","type":"step-finish","reason":"tool-calls","cost":0.001,"tokens":{"input":900,"output":30,"reasoning":0,"cache":{"read":100,"write":0}}}}
garbage line {"type":"text"}
{"type":"step_start","timestamp":5,"sessionID":"ses_df0b64ce3ffeAbc","part":{"id":"prt_5","type":"step-start"}}
{"type":"text","timestamp":6,"sessionID":"ses_df0b64ce3ffeAbc","part":{"id":"prt_6","type":"text","text":"Committed hello.txt."}}
{"type":"text","timestamp":7,"sessionID":"ses_df0b64ce3ffeAbc","part":{"id":"prt_7","type":"text","text":"COMPLETE_AND_READY_FOR_MERGE"}}
{"type":"step_finish","timestamp":8,"sessionID":"ses_df0b64ce3ffeAbc","part":{"id":"prt_8","type":"step-finish","reason":"stop","cost":0.002,"tokens":{"input":1000,"output":20,"reasoning":0,"cache":{"read":0,"write":0}}}}
"#;

#[test]
fn opencode_success_keeps_the_last_step_with_text() {
    let p = parse(Harness::Opencode, OPENCODE_OK);
    assert_eq!(
        p.final_text.as_deref(),
        Some("Committed hello.txt.\nCOMPLETE_AND_READY_FOR_MERGE")
    );
    assert_eq!(p.session_id.as_deref(), Some("ses_df0b64ce3ffeAbc"));
    assert_eq!(p.usage.input_tokens, Some(2000));
    assert_eq!(p.usage.output_tokens, Some(50));
    assert!((p.usage.cost_usd.expect("cost") - 0.003).abs() < 1e-9);
    assert_eq!(p.failure, None);
}

#[test]
fn opencode_text_updates_of_one_part_replace_it_and_empty_last_step_keeps_previous() {
    let sample = r#"{"type":"step_start","sessionID":"ses_a","part":{"id":"p0"}}
{"type":"text","sessionID":"ses_a","part":{"id":"p1","text":"Work"}}
{"type":"text","sessionID":"ses_a","part":{"id":"p1","text":"Work done."}}
{"type":"text","sessionID":"ses_a","part":{"id":"p2","text":"__DONE__"}}
{"type":"step_start","sessionID":"ses_a","part":{"id":"p3"}}
{"type":"step_finish","sessionID":"ses_a","part":{"id":"p4","reason":"stop"}}"#;
    let p = parse(Harness::Opencode, sample);
    assert_eq!(p.final_text.as_deref(), Some("Work done.\n__DONE__"));
    assert_eq!(p.usage, Usage::default());
}

#[test]
fn opencode_error_event() {
    let sample = r#"{"type":"step_start","sessionID":"ses_b","part":{}}
{"type":"error","timestamp":3,"sessionID":"ses_b","error":{"name":"APIError","data":{"message":"Bad Request: mock error","statusCode":400,"isRetryable":false}}}"#;
    let p = parse(Harness::Opencode, sample);
    assert_eq!(p.failure.as_deref(), Some("Bad Request: mock error"));
    assert_eq!(p.final_text, None);
    assert_eq!(p.session_id.as_deref(), Some("ses_b"));
}

const GEMINI_OK: &str = r#"{"type":"init","timestamp":"2026-01-01T00:00:00Z","session_id":"7d3f0c52-1111-4222-8333-444455556666","model":"gemini-2.5-flash"}
{"type":"message","role":"user","content":"Create hello.txt"}
{"type":"message","role":"assistant","content":"I will run ","delta":true}
{"type":"message","role":"assistant","content":"a command.","delta":true}
{"type":"tool_use","tool_name":"run_shell_command","tool_id":"c1","parameters":{"command":"git commit"}}
{"type":"tool_result","tool_id":"c1","status":"success","output":"committed"}
[1, 2, 3]
{"type":"message","role":"assistant","content":"Committed.\nCOMPLETE_","delta":true}
{"type":"message","role":"assistant","content":"AND_READY_FOR_MERGE","delta":true}
{"type":"result","status":"success","stats":{"total_tokens":350,"input_tokens":300,"output_tokens":50,"duration_ms":3000,"tool_calls":1}}
"#;

#[test]
fn gemini_success_concatenates_the_last_assistant_message() {
    let p = parse(Harness::Gemini, GEMINI_OK);
    assert_eq!(
        p.final_text.as_deref(),
        Some("Committed.\nCOMPLETE_AND_READY_FOR_MERGE")
    );
    assert_eq!(
        p.session_id.as_deref(),
        Some("7d3f0c52-1111-4222-8333-444455556666")
    );
    assert_eq!(p.usage.input_tokens, Some(300));
    assert_eq!(p.usage.output_tokens, Some(50));
    assert_eq!(p.failure, None);
}

#[test]
fn gemini_error_result_and_per_model_stats() {
    let sample = r#"{"type":"init","session_id":"g-1","model":"m"}
{"type":"message","role":"assistant","content":"partial","delta":true}
{"type":"result","status":"error","error":{"type":"FatalTurnedError","message":"[API Error: 400 mock error]"},"stats":{"models":{"m":{"tokens":{"prompt":10,"candidates":2}},"n":{"tokens":{"prompt":5,"candidates":1}}}}}"#;
    let p = parse(Harness::Gemini, sample);
    assert_eq!(p.failure.as_deref(), Some("[API Error: 400 mock error]"));
    assert_eq!(p.final_text.as_deref(), Some("partial"));
    assert_eq!(p.usage.input_tokens, Some(15));
    assert_eq!(p.usage.output_tokens, Some(3));
}

#[test]
fn empty_or_garbage_streams_yield_nothing() {
    for h in [
        Harness::Claude,
        Harness::Codex,
        Harness::Opencode,
        Harness::Gemini,
    ] {
        let p = parse(h, "Error: something broke\n{not json}\n\n{\"type\":42}\n");
        assert_eq!(p, Parsed::default());
    }
    assert!(parser_for(&Harness::Exec("true".into())).is_none());
}

#[test]
fn limit_lines_on_stderr_of_the_clis_that_retry_by_themselves() {
    let line = r#"timestamp=2026-11-30T05:53:20.278Z level=ERROR message="stream error" session.id=ses_abc small=false error.error="AI_APICallError: Rate limit reached (mock). Please try again in 5s.""#;
    let opencode = adapter(&Harness::Opencode);
    assert!(opencode.retrying_a_limit().expect("watches stderr")(line));
    assert!(!opencode.retrying_a_limit().expect("watches stderr")(
        "level=ERROR message=\"tool failed\""
    ));
    assert_eq!(
        opencode.read_limit_line(line),
        (
            "AI_APICallError: Rate limit reached (mock). Please try again in 5s.".to_string(),
            Some("ses_abc".to_string())
        )
    );
    let gemini = adapter(&Harness::Gemini);
    let watch = gemini.retrying_a_limit().expect("watches stderr");
    assert!(watch(
        "Attempt 2 failed with status 429. Retrying with backoff... _ApiError: {}"
    ));
    assert!(!watch(
        "Attempt 1 failed: Rate limit reached (mock). Max attempts reached"
    ));
    assert!(adapter(&Harness::Codex).retrying_a_limit().is_none());
}
