//! `run_turn` end to end with fake agents: `exec:` shell commands, and fake `claude`, `codex`
//! and `gemini` scripts put first on the child's PATH.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use super::*;
use crate::agent::process::group_alive;
use crate::agent::{ModelSpec, TurnMode};
use crate::agent_env;
use nix::unistd::Pid;

struct Fixture {
    dir: tempfile::TempDir,
    kill: AtomicBool,
    env: Vec<(String, String)>,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir(dir.path().join("wt")).expect("mkdir wt");
        let bin = dir.path().join("bin");
        fs::create_dir(&bin).expect("mkdir bin");
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let env = vec![
            ("PATH".to_string(), path),
            (agent_env::WORKER.to_string(), "w7".to_string()),
        ];
        Fixture {
            dir,
            kill: AtomicBool::new(false),
            env,
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Installs a fake agent CLI named `name` on the child's PATH.
    fn fake_cli(&self, name: &str, body: &str) {
        let p = self.path("bin").join(name);
        fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write fake cli");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    fn run_full(
        &self,
        model: &str,
        prompt: &str,
        resume: Option<&str>,
        timeout: Duration,
    ) -> Result<TurnOutput, AgentError> {
        let spec = ModelSpec::parse(model).expect("model");
        let cwd = self.path("wt");
        let transcript = self.path("logs/deep/transcript.log");
        run_turn(&Turn {
            spec: &spec,
            cwd: &cwd,
            prompt,
            resume,
            mode: TurnMode::Work,
            extra_args: &[],
            env: &self.env,
            timeout,
            transcript: &transcript,
            transcript_max: crate::agent::transcript::DEFAULT_MAX,
            kill: &self.kill,
        })
    }

    fn run(&self, model: &str, prompt: &str, timeout: Duration) -> TurnOutput {
        self.run_full(model, prompt, None, timeout)
            .expect("turn runs")
    }

    fn transcript(&self) -> String {
        fs::read_to_string(self.path("logs/deep/transcript.log")).expect("transcript")
    }

    fn read_pid(&self, file: &str) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(s) = fs::read_to_string(self.path(file))
                && let Ok(pid) = s.trim().parse()
            {
                return pid;
            }
            assert!(Instant::now() < deadline, "{file} never written");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

const SECS_30: Duration = Duration::from_secs(30);

#[test]
fn exec_echoes_the_prompt_with_our_environment() {
    let fx = Fixture::new();
    let script = format!(
        "exec:echo \"sid=${sid} mode=${mode} w=${w} resume=${{{resume}:-no}} cwd=$(pwd)\"; cat",
        sid = agent_env::SESSION_ID,
        mode = agent_env::TURN_MODE,
        w = agent_env::WORKER,
        resume = agent_env::RESUME,
    );
    let out = fx.run(&script, "hello agent\nCLAIM(t1)\n", SECS_30);
    assert_eq!(out.exit, Exit::Code(0));
    assert!(out.succeeded());
    assert_eq!(out.error_snippet(), "");
    let sid = out.session_id.clone().expect("exec sessions get our id");
    assert!(uuid::Uuid::parse_str(&sid).is_ok());
    assert!(out.final_text.ends_with("\nhello agent\nCLAIM(t1)\n"));
    let cwd = fs::canonicalize(fx.path("wt")).expect("canonical");
    assert!(
        out.final_text.contains(&format!(
            "sid={sid} mode=work w=w7 resume=no cwd={}",
            cwd.display()
        )),
        "{}",
        out.final_text
    );
    assert_eq!(
        crate::agent::parse_signal(&out.final_text),
        crate::agent::Signal::Claim(vec!["t1".into()])
    );
    assert!(fx.transcript().contains("hello agent"));

    let again = fx
        .run_full(
            &format!(
                "exec:echo \"${} ${}\"",
                agent_env::SESSION_ID,
                agent_env::RESUME
            ),
            "",
            Some(&sid),
            SECS_30,
        )
        .expect("resume");
    assert_eq!(again.final_text, format!("{sid} 1\n"));
    assert_eq!(again.session_id.as_deref(), Some(sid.as_str()));
    assert!(
        fx.transcript().contains("hello agent"),
        "the transcript is appended to"
    );
}

#[test]
fn non_zero_exit_is_an_output_not_an_error() {
    let fx = Fixture::new();
    let out = fx.run(
        "exec:echo partial; echo 'boom: bad things' >&2; exit 3",
        "x",
        SECS_30,
    );
    assert_eq!(out.exit, Exit::Code(3));
    assert!(!out.succeeded());
    assert_eq!(out.stderr_tail, "boom: bad things\n");
    assert_eq!(out.error_snippet(), "exited with code 3: boom: bad things");
    let out = fx.run("exec:kill -SEGV $$", "x", SECS_30);
    assert_eq!(out.exit, Exit::Signal(11));
}

#[test]
fn timeout_ends_the_whole_process_group() {
    let fx = Fixture::new();
    let start = Instant::now();
    let out = fx.run(
        "exec:echo $$ > pgid; sleep 30 & echo $! > bg; sleep 30",
        "x",
        Duration::from_secs(1),
    );
    assert_eq!(out.exit, Exit::TimedOut);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    assert!(out.error_snippet().starts_with("timed out"));
    let pgid = fx.read_pid("wt/pgid");
    let bg = fx.read_pid("wt/bg");
    assert!(
        !group_alive(Pid::from_raw(pgid)),
        "process group {pgid} survived"
    );
    assert!(!alive(bg), "background child {bg} survived");
}

#[test]
fn an_agent_ignoring_sigterm_is_killed_after_the_grace_period() {
    let fx = Fixture::new();
    let start = Instant::now();
    let out = fx.run(
        "exec:trap '' TERM; echo $$ > pgid; sleep 30",
        "x",
        Duration::from_millis(300),
    );
    assert_eq!(out.exit, Exit::TimedOut);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(7),
        "took {took:?}"
    );
    assert!(!group_alive(Pid::from_raw(fx.read_pid("wt/pgid"))));
}

#[test]
fn kill_flag_terminates_promptly() {
    let fx = Fixture::new();
    let start = Instant::now();
    let out = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            fx.kill.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        fx.run("exec:echo $$ > pgid; sleep 30", "x", SECS_30)
    });
    assert_eq!(out.exit, Exit::Killed);
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "took {:?}",
        start.elapsed()
    );
    assert!(!group_alive(Pid::from_raw(fx.read_pid("wt/pgid"))));
    assert_eq!(out.error_snippet(), "killed");

    // Raised before the turn starts: nothing runs.
    let out = fx.run("exec:touch started", "x", SECS_30);
    assert_eq!(out.exit, Exit::Killed);
    assert!(!fx.path("wt/started").exists());
    assert_eq!(out.session_id, None);
}

#[test]
fn fifty_megabytes_of_output_stay_bounded_in_memory_and_on_disk_keeping_head_and_tail() {
    let fx = Fixture::new();
    let out = fx.run("exec:yes 'line of agent output' | head -c 52428800; echo; echo COMPLETE_AND_READY_FOR_MERGE", "x", SECS_30);
    assert_eq!(out.exit, Exit::Code(0));
    assert!(out.final_text.len() <= 64 * 1024);
    assert!(out.final_text.ends_with("\nCOMPLETE_AND_READY_FOR_MERGE\n"));
    let text = fs::read_to_string(fx.path("logs/deep/transcript.log")).expect("transcript");
    let max = crate::agent::transcript::DEFAULT_MAX;
    let cut = 52_428_800 + 1 + 29 - max;
    let marker = format!("\n[git oompa: {cut} bytes of this turn's output were cut here; ");
    assert!(text.contains(&marker), "{}", &text[..200]);
    assert!(text.len() as u64 <= max + 200, "{}", text.len());
    assert!(text.starts_with("line of agent output\n"));
    let tail = &text[text.len() - 1000..];
    assert!(tail.contains("line of agent output\n"), "{tail}");
    assert!(tail.ends_with("\nCOMPLETE_AND_READY_FOR_MERGE\n"), "{tail}");
}

#[test]
fn fifty_megabytes_through_a_json_parser_stay_bounded() {
    let fx = Fixture::new();
    // One 50 MB line (skipped by the parser), many ordinary lines, then the result event.
    fx.fake_cli(
        "claude",
        r#"cat > /dev/null
head -c 50000000 /dev/zero | tr '\0' 'x'; echo
yes '{"type":"assistant","message":{"content":[{"type":"text","text":"working"}]}}' | head -n 20000
printf '%s\n' '{"type":"result","is_error":false,"result":"done\nCOMPLETE_AND_READY_FOR_MERGE","session_id":"s"}'"#,
    );
    let out = fx.run("claude", "x", SECS_30);
    assert_eq!(out.final_text, "done\nCOMPLETE_AND_READY_FOR_MERGE");
    let size = fs::metadata(fx.path("logs/deep/transcript.log"))
        .expect("transcript")
        .len();
    assert!(
        size <= crate::agent::transcript::DEFAULT_MAX + 200,
        "{size}"
    );
}

#[test]
fn a_background_child_holding_stdout_does_not_hang_the_turn() {
    let fx = Fixture::new();
    let start = Instant::now();
    let out = fx.run("exec:sleep 30 & echo $! > bg; echo started", "x", SECS_30);
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(out.exit, Exit::Code(0));
    assert_eq!(out.final_text, "started\n");
    let bg = fx.read_pid("wt/bg");
    assert!(!alive(bg), "the leftover sleeper {bg} was not ended");
}

#[test]
fn processes_that_escape_the_process_group_are_ended_with_the_turn() {
    if detect::find_binary("setsid").is_none() {
        return;
    }
    let fx = Fixture::new();
    // One keeps stdout open and the turn's token; one drops its whole environment but works
    // in the worktree; one changed directory but kept the token.
    let out = fx.run(
        "exec:setsid sleep 30 & echo $! > bg; \
         env -i setsid sleep 31 </dev/null >/dev/null 2>&1 & echo $! > bare; \
         here=$(pwd); (cd / && setsid sleep 32 </dev/null >/dev/null 2>&1 & echo $! > \"$here/away\"); \
         echo started",
        "x",
        SECS_30,
    );
    let pids = ["wt/bg", "wt/bare", "wt/away"].map(|f| fx.read_pid(f));
    let left: Vec<i32> = pids.iter().copied().filter(|p| alive(*p)).collect();
    for p in &left {
        let _ = nix::sys::signal::kill(Pid::from_raw(*p), nix::sys::signal::Signal::SIGKILL);
    }
    assert_eq!(left, Vec::<i32>::new(), "still running after the turn");
    assert_eq!(out.final_text, "started\n");
    assert_eq!(out.escaped.len(), 3, "{:?}", out.escaped);
    assert!(
        out.escaped.iter().all(|e| e.ends_with(" sleep")),
        "{:?}",
        out.escaped
    );
}

#[test]
fn a_child_that_never_reads_stdin_does_not_deadlock() {
    let fx = Fixture::new();
    let prompt = "p".repeat(4 * 1024 * 1024);
    let out = fx.run("exec:echo ignored the prompt", &prompt, SECS_30);
    assert_eq!(out.exit, Exit::Code(0));
    assert_eq!(out.final_text, "ignored the prompt\n");
}

#[test]
fn fake_claude_gets_flags_and_prompt_and_is_parsed() {
    let fx = Fixture::new();
    fx.fake_cli(
        "claude",
        r#"printf '%s\n' "$@" > ../args; cat > ../stdin; echo "IS_SANDBOX=${IS_SANDBOX:-unset}" > ../env
sid=$(sed -n '/^--session-id$/{n;p;}' ../args)
echo '{"type":"system","subtype":"init","session_id":"'$sid'"}'
echo 'warning: not json' >&2
printf '%s\n' '{"type":"result","is_error":false,"result":"ok\nCOMPLETE_AND_READY_FOR_MERGE","session_id":"'$sid'","total_cost_usd":0.5,"usage":{"input_tokens":10,"output_tokens":3}}'"#,
    );
    let out = fx.run("claude:sonnet:low", "the task", SECS_30);
    assert!(out.succeeded(), "{out:?}");
    let args = fs::read_to_string(fx.path("args")).expect("args");
    let sid = out.session_id.clone().expect("session");
    assert!(args.contains(&format!("--session-id\n{sid}\n")), "{args}");
    assert!(
        args.starts_with("-p\n--output-format\nstream-json\n--verbose\n"),
        "{args}"
    );
    assert_eq!(
        fs::read_to_string(fx.path("stdin")).expect("stdin"),
        "the task"
    );
    let root = nix::unistd::geteuid().is_root();
    let sandbox = fs::read_to_string(fx.path("env")).expect("env");
    assert_eq!(
        sandbox.trim(),
        if root {
            "IS_SANDBOX=1"
        } else {
            "IS_SANDBOX=unset"
        }
    );
    assert_eq!(
        crate::agent::parse_signal(&out.final_text),
        crate::agent::Signal::Merge
    );
    assert_eq!(
        out.usage,
        Usage {
            input_tokens: Some(10),
            output_tokens: Some(3),
            cost_usd: Some(0.5)
        }
    );
    assert_eq!(out.stderr_tail, "warning: not json\n");
}

#[test]
fn fake_codex_failure_is_reported() {
    let fx = Fixture::new();
    fx.fake_cli(
        "codex",
        r#"echo '{"type":"thread.started","thread_id":"th-1"}'
echo '{"type":"turn.failed","error":{"message":"unexpected status 400: mock error"}}'
exit 1"#,
    );
    let out = fx.run("codex:gpt-5", "x", SECS_30);
    assert_eq!(out.exit, Exit::Code(1));
    assert_eq!(out.session_id.as_deref(), Some("th-1"));
    assert_eq!(
        out.failure.as_deref(),
        Some("unexpected status 400: mock error")
    );
    assert_eq!(
        out.error_snippet(),
        "exited with code 1: unexpected status 400: mock error"
    );
}

#[test]
fn json_cli_without_a_final_message_falls_back_to_stdout_lines() {
    let fx = Fixture::new();
    fx.fake_cli(
        "gemini",
        "printf '%s\\n' '{\"type\":\"init\",\"session_id\":\"g\"}' 'plain text' '' '  ' '{\"type\":\"result\"}' __DONE__",
    );
    let out = fx.run("gemini", "x", SECS_30);
    assert_eq!(out.final_text, "plain text\n__DONE__");
    assert_eq!(out.session_id.as_deref(), Some("g"));
}

#[test]
fn errors_name_what_is_missing() {
    let mut fx = Fixture::new();
    fx.env[0].1 = fx.path("bin").display().to_string();
    let err = fx
        .run_full("opencode", "x", None, SECS_30)
        .expect_err("no opencode");
    assert!(
        matches!(&err, AgentError::NotFound { name, .. } if name == "opencode"),
        "{err}"
    );
    assert!(err.to_string().contains("`opencode` was not found on PATH"));

    let spec = ModelSpec::parse("exec:true").expect("model");
    let missing = fx.path("no-such-dir");
    let err = run_turn(&Turn {
        spec: &spec,
        cwd: &missing,
        prompt: "",
        resume: None,
        mode: TurnMode::OneShot,
        extra_args: &[],
        env: &[],
        timeout: SECS_30,
        transcript: &fx.path("t.log"),
        transcript_max: crate::agent::transcript::DEFAULT_MAX,
        kill: &fx.kill,
    })
    .expect_err("missing cwd");
    assert!(matches!(err, AgentError::WorkDir { .. }));

    fs::write(fx.path("file"), "").expect("write");
    let err = run_turn(&Turn {
        spec: &spec,
        cwd: &fx.path("wt"),
        prompt: "",
        resume: None,
        mode: TurnMode::OneShot,
        extra_args: &[],
        env: &[],
        timeout: SECS_30,
        transcript: &fx.path("file/t.log"),
        transcript_max: crate::agent::transcript::DEFAULT_MAX,
        kill: &fx.kill,
    })
    .expect_err("transcript under a file");
    assert!(matches!(err, AgentError::Transcript { .. }), "{err}");
}

/// Whether `pid` is a live (non-zombie) process.
fn alive(pid: i32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let live = fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit_once(')')
                    .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
            })
            .unwrap_or(false);
        if !live || Instant::now() >= deadline {
            return live;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn error_snippets_are_short_single_lines() {
    let mut out = TurnOutput {
        exit: Exit::Code(2),
        final_text: "x".repeat(100_000),
        session_id: None,
        usage: Usage::default(),
        duration: Duration::from_secs(7),
        stderr_tail: format!("{}\nfatal: the real reason\n\n", "noise ".repeat(400)),
        failure: None,
        escaped: Vec::new(),
        trouble: None,
    };
    let s = out.error_snippet();
    assert!(
        s.starts_with("exited with code 2: ") && s.ends_with("fatal: the real reason"),
        "{s}"
    );
    assert!(s.len() < 340 && !s.contains('\n'));

    out.failure = Some(format!("API Error: 400\n{}", "detail ".repeat(200)));
    let s = out.error_snippet();
    assert!(
        s.starts_with("exited with code 2: API Error: 400 | detail"),
        "{s}"
    );
    assert!(s.len() < 340);

    out.exit = Exit::Code(0);
    assert!(!out.succeeded());
    assert!(
        out.error_snippet()
            .starts_with("reported an error: API Error")
    );

    out.exit = Exit::TimedOut;
    out.failure = None;
    out.stderr_tail.clear();
    out.final_text.clear();
    assert_eq!(out.error_snippet(), "timed out after 7s");
}
