//! Supervisor details not covered through `run_turn`.

use super::*;

#[test]
fn proc_stat_parsing_handles_odd_command_names_and_zombies() {
    assert!(live_member("42 (sleep) S 1 42 42 0 -1", 42));
    assert!(live_member("43 (a) b (c)) R 42 42 42 0", 42));
    assert!(!live_member("44 (sleep) Z 1 42 42 0", 42));
    assert!(!live_member("45 (sleep) S 1 41 41 0", 42));
    assert!(!live_member("garbage", 42));
}

#[test]
fn proc_stat_parsing_reads_the_start_time() {
    let stat = "7 (a (b) c) S 1 7 7 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 1000 10";
    let st = parse_stat(stat).expect("parses");
    assert_eq!(st.comm, "a (b) c");
    assert_eq!(st.pgrp, 7);
    assert_eq!(st.start, Some(123456));
    assert!(st.live);
    assert_eq!(parse_stat("8 (x) S 1 8 8 0").expect("short").start, None);
    let mine = std::process::id();
    assert!(start_time(i32::try_from(mine).expect("pid")).is_some());
}

#[test]
fn supervise_without_transcript_or_parser_keeps_tails() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let finished = supervise(ProcessSpec {
        program: Path::new("/bin/sh"),
        args: &[
            "-c".into(),
            "printf 0123456789; printf abcdef >&2; exit 4".into(),
        ],
        cwd: tmp.path(),
        env: &[],
        env_remove: &[],
        stdin: None,
        timeout: Duration::from_secs(30),
        kill: None,
        transcript: None,
        parser: None,
        stdout_tail: 4,
        sweep: None,
        stop_on_stderr: None,
    })
    .expect("runs");
    assert_eq!(finished.exit, Exit::Code(4));
    assert_eq!(finished.stdout_tail, "6789");
    assert_eq!(finished.stderr_tail, "abcdef");
    assert!(finished.parsed.is_none());
}

#[test]
fn spawn_failure_is_an_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = supervise(ProcessSpec {
        program: &tmp.path().join("missing"),
        args: &[],
        cwd: tmp.path(),
        env: &[],
        env_remove: &[],
        stdin: Some("x".into()),
        timeout: Duration::from_secs(1),
        kill: None,
        transcript: None,
        parser: None,
        stdout_tail: 4,
        sweep: None,
        stop_on_stderr: None,
    })
    .expect_err("no such program");
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
}
