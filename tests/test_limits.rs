//! Usage limits and passing provider errors with fake `exec:` agents: the exec convention
//! (exit status 75, `retry-after: <seconds>` on stderr), the pause and the resume of the same
//! session with the claims kept, one limit pausing every worker on the provider, and the bound
//! on resumed retries after provider errors. The four real CLIs are in `test_real_clis.rs`.

use std::path::PathBuf;
use std::process::Output;

use oompa::store::record::Outcome;

use crate::common::swarm::{outcomes, records, swarm_repo, worker_with_env};
use crate::common::{TestEnv, stderr};

/// `(resume flag, session id, prompt)` of each turn the fake agent logged with
/// `FAKE_PROMPT_LOG`.
fn logged_turns(log: &std::path::Path) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(log).expect("prompt log");
    let mut turns: Vec<(String, String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(head) = line.strip_prefix("=== ") {
            let field = |key: &str| {
                head.split_whitespace()
                    .find_map(|w| w.strip_prefix(key))
                    .unwrap_or("")
                    .to_string()
            };
            turns.push((field("resume="), field("session="), String::new()));
        } else if let Some(last) = turns.last_mut() {
            last.2.push_str(line);
            last.2.push('\n');
        }
    }
    turns
}

#[test]
fn an_exec_agent_exiting_75_pauses_until_retry_after_then_resumes_its_session_with_its_claim() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("prompts.log");
    let flag = dir.path().join("limited");
    let worker = worker_with_env(
        "polite",
        1,
        "max_cycles = 1",
        &[
            ("FAKE_CLAIM_FIRST", "1"),
            ("FAKE_LIMIT", flag.to_str().expect("utf8")),
            ("FAKE_LIMIT_SECS", "1"),
            ("FAKE_PROMPT_LOG", log.to_str().expect("utf8")),
        ],
    );
    let env = swarm_repo(1, &worker);
    let out = env.oompa(&["swarm"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("[w0] paused until"), "{err}");
    assert!(
        err.contains("Usage limit reached for this account."),
        "{err}"
    );
    assert!(err.contains("[w0] resuming its session"), "{err}");

    // One cycle, merged: the claim made before the limit was never given back.
    assert_eq!(outcomes(&env), [("merged".to_string(), 1)].into());
    let [record] = &records(&env)[..] else {
        panic!("one record expected: {err}")
    };
    assert_eq!(record.outcome, Outcome::Merged);
    assert_eq!(record.tasks, ["t00"]);
    assert_eq!(record.error, None);
    assert_eq!(record.sessions.len(), 1, "{record:?}");
    let [pause] = &record.pauses[..] else {
        panic!("one pause expected: {record:?}")
    };
    assert!(pause.reason.starts_with("usage limit: "), "{pause:?}");
    assert!(pause.started <= pause.ended, "{pause:?}");

    // The turn after the pause resumed the same session with the continue prompt.
    let turns = logged_turns(&log);
    assert_eq!(turns.len(), 2, "{turns:?}");
    assert_eq!(turns[1].0, "1", "not a resume: {turns:?}");
    assert_eq!(turns[0].1, turns[1].1, "another session: {turns:?}");
    assert!(
        turns[1].2.contains("Continue where you stopped"),
        "{turns:?}"
    );

    let show = env.oompa_ok(&["log", "--show", "w0/1"]);
    assert!(
        show.contains("paused") && show.contains("usage limit"),
        "{show}"
    );
}

#[test]
fn a_limit_without_a_reset_time_backs_off_from_limit_backoff() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flag = dir.path().join("limited");
    let worker = worker_with_env(
        "cli",
        1,
        "max_cycles = 1",
        &[
            ("FAKE_LIMIT", flag.to_str().expect("utf8")),
            ("FAKE_LIMIT_SECS", "none"),
        ],
    );
    let env = swarm_repo(1, &format!("limit_backoff = \"1s\"\n{worker}"));
    let out = env.oompa(&["swarm"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(outcomes(&env), [("merged".to_string(), 1)].into(), "{err}");
    let records = records(&env);
    assert_eq!(records[0].pauses.len(), 1, "{:?}", records[0]);
    assert!(err.contains("paused until"), "{err}");
}

#[test]
fn one_usage_limit_pauses_every_worker_on_the_same_provider() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flag = dir.path().join("limited");
    let seen = dir.path().join("seen");
    let seen = seen.to_str().expect("utf8");
    // w0 hits the limit at once (4 s to go); w1 finishes its first turn only after that (it
    // waits for the file w0's limited turn makes, then 1 s more), so its next turn waits.
    let w0 = worker_with_env(
        "polite",
        1,
        "max_cycles = 1",
        &[
            ("FAKE_LIMIT", flag.to_str().expect("utf8")),
            ("FAKE_LIMIT_SECS", "4"),
            ("FAKE_LIMIT_TOUCH", seen),
        ],
    );
    let w1 = worker_with_env(
        "polite",
        1,
        "max_cycles = 1",
        &[("FAKE_WAIT_FOR", seen), ("FAKE_SLEEP", "1")],
    );
    let env = swarm_repo(2, &format!("{w0}{w1}"));
    let out = env.oompa(&["swarm"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(outcomes(&env), [("merged".to_string(), 2)].into(), "{err}");
    let records = records(&env);
    let of = |w: &str| {
        records
            .iter()
            .find(|r| r.worker == w)
            .unwrap_or_else(|| panic!("no record of {w}: {records:?}"))
    };
    assert!(of("w0").pauses[0].reason.starts_with("usage limit: "));
    let shared = &of("w1").pauses;
    assert_eq!(shared.len(), 1, "w1 did not pause: {records:?}\n{err}");
    assert!(
        shared[0].reason.starts_with("exec is limited: "),
        "{shared:?}"
    );
    assert!(err.contains("[w1] paused until"), "{err}");
}

/// A swarm of one `cli` fake worker over one task whose provider fails its first `failures`
/// turns with HTTP 503. Returns the directory holding the file the agent counts its turns
/// in, that file, the repository and the swarm's output.
fn transient_swarm(failures: u32) -> (tempfile::TempDir, PathBuf, TestEnv, Output) {
    let dir = tempfile::tempdir().expect("tempdir");
    let count = dir.path().join("count");
    let failures = failures.to_string();
    let worker = worker_with_env(
        "cli",
        1,
        "max_cycles = 1",
        &[
            ("FAKE_TRANSIENT", failures.as_str()),
            ("FAKE_COUNT", count.to_str().expect("utf8")),
        ],
    );
    let env = swarm_repo(1, &worker);
    let out = env.oompa(&["swarm"]);
    (dir, count, env, out)
}

#[test]
fn passing_provider_errors_are_resumed_and_the_task_lands() {
    let (_dir, _, env, out) = transient_swarm(2);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(outcomes(&env), [("merged".to_string(), 1)].into(), "{err}");
    let records = records(&env);
    assert_eq!(records[0].pauses.len(), 2, "{:?}", records[0]);
    assert!(records[0].pauses[0].reason.contains("HTTP 503"));
}

#[test]
fn provider_errors_that_do_not_pass_end_the_cycle_as_error_after_a_bounded_number_of_retries() {
    let (_dir, count, env, out) = transient_swarm(100);
    let err = stderr(&out);
    assert_eq!(outcomes(&env), [("error".to_string(), 1)].into(), "{err}");
    let records = records(&env);
    let r = &records[0];
    // The first try and three resumed retries.
    assert_eq!(r.turns, 4, "{r:?}");
    assert_eq!(r.pauses.len(), 3, "{r:?}");
    let error = r.error.as_deref().unwrap_or("");
    assert!(error.contains("after 3 resumed retries"), "{error}");
    let turns = std::fs::read_to_string(&count).expect("count");
    assert_eq!(turns.lines().count(), 4);
}
