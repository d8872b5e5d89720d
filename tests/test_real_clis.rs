//! `git oompa swarm` end to end with the four real agent CLIs (Claude Code, Codex, opencode,
//! Gemini CLI) against the project's scripted model (`tests/mockllm`) on 127.0.0.1.
//!
//! Each test makes a repository with its tasks and an `oompa.toml` whose worker `env` and
//! `args` point the CLI at the scripted model (and silence every lookup of the CLI's own:
//! telemetry, updates, model catalogs, the npm registry), as `mockllm::clis` says. The worker's
//! role prompt carries the model's script (`MOCK_CMD:` / `MOCK_FINAL:` lines): claim the task
//! with `git oompa task claim`, commit a file, signal `COMPLETE_AND_READY_FOR_MERGE`. The test
//! body runs in `mockllm::clis::isolated`: the model (in-process), the swarm and the CLIs share
//! a network namespace that has only loopback where that is permitted, else the host (still
//! only ever talking to 127.0.0.1). HOME, XDG_*, TMPDIR and CODEX_HOME are inside the test's
//! temp dir.
//!
//! Per CLI, five scenarios:
//! - as worker: claim, commit and land in one turn; claim by signal, then resume the session;
//! - as reviewer of the fake exec agent's change (`[review] models = [the CLI]`, the CLI's env
//!   in the worker's `env`, the model's script in the `[review] prompt` file): approve at once;
//!   ask for a fix once, then approve;
//! - as resolver: its landing conflicts with the fake agent's, which landed first; the swarm
//!   resumes its session with the resolver prompt, which the model answers from its fallback
//!   script ([`Options::script`]).
//!
//! And with the model rate-limited (issue 12), the four CLIs at once, each on its own thread
//! (the windows are mostly waiting): a 20 s limit after the first tool call, paused and the same
//! session resumed; Gemini CLI and opencode, which retry a limit by themselves, in a window
//! longer than their own retries, stopped by git oompa at their first logged limit.
//!
//! A CLI that is not installed skips its tests loudly (or fails them under
//! `OOMPA_REQUIRE_REAL_CLIS=1`, as in CI); `OOMPA_SKIP_REAL_CLIS=1` skips them all. Where the
//! CLIs are looked for: `mockllm::clis`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use mockllm::clis::{self, CLAUDE, CODEX, Cli, GEMINI, OPENCODE};
use mockllm::{Options, Server};
use oompa::store::notes::{LogEntry, Notes};
use oompa::store::record::{CycleRecord, Outcome};
use oompa::store::{Queue, State};

use crate::common::swarm::{assert_clean_up, fake_model};
use crate::common::{TestEnv, hermetic, path_with_bin, stderr, stdout, walk};

/// What the agent runs in its fresh turn: claim the task itself and commit a file.
const CLAIM_AND_COMMIT: &str = "git oompa task claim t1 && printf 'hello\\n' > hello.txt && git add hello.txt && git commit -q -m 'Add hello.txt' && echo committed";
/// The same work without the claim, for the resumed turn after a `CLAIM(t1)` signal.
const COMMIT: &str = "printf 'hello\\n' > hello.txt && git add hello.txt && git commit -q -m 'Add hello.txt' && echo committed";
/// Every CLI turn's timeout: a guard against a hang, not a speed target. On a loaded machine
/// (2 cores, many builds) opencode alone took 80 s to start a turn.
const TURN_TIMEOUT: &str = "300s";
/// In the role prompt only: finding it in a resumed request proves the session continued.
const ROLE_TOKEN: &str = "ROLE-PROMPT-TOKEN-4417";

/// Whether `id` looks like a session id `cli` makes.
fn session_id_shape(cli: Cli, id: &str) -> bool {
    match cli.name {
        "opencode" => id.starts_with("ses_") && id.len() > 8,
        _ => id.len() == 36 && id.matches('-').count() == 4,
    }
}

/// A swarm run against the scripted model, and everything the checks look at.
struct Run {
    env: TestEnv,
    cli: Cli,
    server: Server,
    out: Output,
}

/// A test repository with its tasks, the run directory and the scripted model, before the
/// swarm starts.
struct Setup {
    test: String,
    cli: Cli,
    /// The CLI's binary: its directory goes first on PATH.
    program: PathBuf,
    server: Server,
    env: TestEnv,
    /// Config and prompts.
    dir: PathBuf,
}

impl Setup {
    /// Repository with `tasks` (id, summary), an empty run directory, the CLI's HOME files in
    /// place and the scripted model started with `options`. `None` when the test is skipped.
    fn new(test: &str, cli: Cli, tasks: &[(&str, &str)], options: Options) -> Option<Setup> {
        let program = clis::binary(test, cli)?;
        let env = TestEnv::new();
        env.oompa_ok(&["init"]);
        for (id, summary) in tasks {
            env.oompa_ok(&["task", "add", "--id", id, summary]);
        }
        let dir = env.tmp.path().join("run");
        std::fs::create_dir_all(&dir).expect("mkdir");
        cli.prepare_home(&env.home)
            .expect("the CLI's files in HOME");
        let server = Server::start(options).expect("start the scripted model");
        Some(Setup {
            test: test.to_string(),
            cli,
            program,
            server,
            env,
            dir,
        })
    }

    fn url(&self) -> String {
        self.server.url()
    }

    /// Writes a file of the run directory (a prompt, a config file).
    fn write(&self, name: &str, text: &str) {
        let path = self.dir.join(name);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    /// The `env` a worker of another CLI needs for this CLI to review its changes.
    ///
    /// A reviewer inherits the worker's `env` but gets the worker's `args` only when it runs
    /// the worker's CLI. Codex takes its provider from `args` as a worker; as a reviewer it
    /// reads the same settings from `config.toml` in its CODEX_HOME (in the run directory).
    fn reviewer_env(&self) -> Vec<(String, String)> {
        if self.cli != CODEX {
            return self.cli.env(&self.url(), &self.env.home);
        }
        self.write(
            "codex-home/config.toml",
            &clis::codex_config_toml(&self.url()),
        );
        let home = self.dir.join("codex-home").display().to_string();
        vec![("CODEX_HOME".to_string(), home)]
    }

    /// `git oompa swarm` with `config` (prompt paths relative to the run directory), in the
    /// repository, with the CLI first on PATH and nothing of the outer environment that could
    /// reach the CLI.
    fn command(&self, config: &str) -> Command {
        let env = &self.env;
        let tmp = env.tmp.path().join("tmp");
        let runtime = env.tmp.path().join("xdg-runtime");
        for d in [&tmp, &runtime] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        let config_file = self.dir.join("oompa.toml");
        std::fs::write(&config_file, config).expect("config");

        let mut cmd = Command::new("git");
        cmd.args(["oompa", "swarm"]).arg(&config_file);
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if clis::leaks(&k) {
                cmd.env_remove(&*k);
            }
        }
        hermetic(&mut cmd, &env.home);
        let mut path = vec![self.program.parent().expect("a directory").to_path_buf()];
        path.extend(std::env::split_paths(&path_with_bin()));
        let home = &env.home;
        cmd.env("PATH", std::env::join_paths(path).expect("PATH"))
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("XDG_STATE_HOME", home.join(".local/state"))
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("TMPDIR", &tmp)
            .current_dir(&env.repo)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs the swarm with `config` to its end.
    fn run(self, config: &str) -> Run {
        let started = Instant::now();
        let out = self.command(config).output().expect("run git oompa swarm");
        self.ran(started, out)
    }

    /// Runs the swarm with `config`, its stderr going to `stderr_file`, until `check` (given
    /// the model and the stderr so far) says something, then stops it with `git oompa stop`
    /// and waits for its end. A swarm that ends first, or a check that never holds within 10
    /// minutes (a hang, not a speed target), fails the test.
    fn run_until<T>(
        self,
        config: &str,
        stderr_file: &Path,
        mut check: impl FnMut(&Server, &str) -> Option<T>,
    ) -> (Run, T) {
        let started = Instant::now();
        let file = std::fs::File::create(stderr_file).expect("the swarm's stderr file");
        let mut child = self
            .command(config)
            .stdout(Stdio::piped())
            .stderr(file)
            .spawn()
            .expect("start git oompa swarm");
        let seen = loop {
            let err = std::fs::read_to_string(stderr_file).unwrap_or_default();
            if let Some(seen) = check(&self.server, &err) {
                break seen;
            }
            let ended = child.try_wait().expect("the swarm's status");
            if ended.is_some() || started.elapsed() > Duration::from_secs(600) {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{}: the swarm {} before the check held:\n{err}\n--- model requests:\n{}",
                    self.test,
                    if ended.is_some() { "ended" } else { "hung" },
                    self.server.summary()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let stop = self.env.oompa(&["stop"]);
        assert!(stop.status.success(), "{}", stderr(&stop));
        let mut out = child.wait_with_output().expect("wait for the swarm");
        out.stderr = std::fs::read(stderr_file).expect("the swarm's stderr");
        (self.ran(started, out), seen)
    }

    fn ran(self, started: Instant, out: Output) -> Run {
        eprintln!(
            "[real-cli] {}: swarm with {} took {:.1}s",
            self.test,
            self.cli.name,
            started.elapsed().as_secs_f64(),
        );
        Run {
            env: self.env,
            cli: self.cli,
            server: self.server,
            out,
        }
    }
}

impl Run {
    /// Repository with task t1, one worker of `cli` with the role prompt, then the swarm with
    /// the scripted model started with `options`. `None` when the test is skipped.
    fn swarm(test: &str, cli: Cli, role_prompt: &str, options: Options) -> Option<Run> {
        let setup = Setup::new(test, cli, &[("t1", "Add hello.txt")], options)?;
        setup.write("worker.md", role_prompt);
        let config = config(cli, &setup.url(), &setup.env.home);
        Some(setup.run(&config))
    }

    /// The swarm's output, the model's requests and the transcripts, for failure messages.
    fn report(&self) -> String {
        let transcripts = self.env.repo.join(".git/oompa/transcripts");
        let mut t = String::new();
        for path in walk(&transcripts) {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let tail = &text[text.len().saturating_sub(4000)..];
            t.push_str(&format!("--- {}:\n{tail}\n", path.display()));
        }
        format!(
            "[{}] exit {:?}\n--- stdout:\n{}\n--- stderr:\n{}\n--- model requests:\n{}\n{t}",
            self.cli.name,
            self.out.status.code(),
            stdout(&self.out),
            stderr(&self.out),
            self.server.summary(),
        )
    }

    /// The model's request log, one JSON object per request.
    fn requests(&self) -> Vec<serde_json::Value> {
        self.server.requests()
    }

    /// Checks what every successful run must show, and returns the single cycle record.
    fn assert_landed(&self) -> CycleRecord {
        let report = self.report();
        assert!(self.out.status.success(), "swarm failed:\n{report}");
        let env = &self.env;
        let repo = env.open();

        // The task is complete in the queue.
        let snap = Queue::new(&repo).snapshot().expect("queue");
        assert_eq!(snap.count(State::Complete), 1, "t1 not complete:\n{report}");
        assert_eq!(snap.count(State::Pending) + snap.count(State::Current), 0);

        // main's tip is the landing of t1, with the agent's hello.txt in its tree.
        let main = env.git(&["rev-parse", "main"]).trim().to_string();
        let trailers = env.git(&[
            "log",
            "-1",
            "main",
            "--format=%(trailers:key=Oompa-Task,valueonly)",
        ]);
        assert_eq!(trailers.trim(), "t1", "no landing of t1 on main:\n{report}");
        assert_eq!(env.git(&["show", "main:hello.txt"]), "hello\n");
        let subjects = env.git(&["log", "--format=%s", "main"]);
        assert!(subjects.contains("Add hello.txt"), "{subjects}");
        let landed = snap.in_state(State::Complete).next().expect("t1");
        let landed = &landed.landed.as_ref().expect("landing info").commit;
        assert_eq!(landed.to_string(), main);

        // Exactly one cycle record: merged, carrying the CLI's own session id.
        let (entries, bad) = Notes::new(&repo).read_all().expect("notes");
        assert!(bad.is_empty(), "{bad:?}");
        let [LogEntry { record, .. }] = &entries[..] else {
            panic!("expected one cycle record, got {entries:?}\n{report}");
        };
        assert_eq!(record.outcome, Outcome::Merged, "{record:?}\n{report}");
        assert_eq!(record.landed.as_deref(), Some(main.as_str()));
        assert_eq!(record.tasks, ["t1"]);
        assert_eq!(record.model, self.cli.model);
        assert_eq!(record.sessions.len(), 1, "{record:?}");
        let session = &record.sessions[0];
        assert!(
            session_id_shape(self.cli, session),
            "{}: odd session id {session}",
            self.cli.name
        );
        // The mock reports 100 input and 20 output tokens per request; every CLI here passes
        // its usage on, so at least one request's worth must be recorded.
        assert!(record.tokens.input.is_some_and(|n| n >= 100), "{record:?}");
        assert!(record.tokens.output.is_some_and(|n| n >= 20), "{record:?}");

        // The transcript holds the CLI's own output, which names the same session.
        let transcript = PathBuf::from(record.transcript.as_deref().expect("transcript path"));
        let text = std::fs::read_to_string(&transcript)
            .unwrap_or_else(|e| panic!("transcript {}: {e}", transcript.display()));
        assert!(
            text.contains(session.as_str()),
            "session {session} not in the transcript:\n{report}"
        );
        assert!(text.contains("COMPLETE_AND_READY_FOR_MERGE"), "{report}");

        // The model requests really went to the mock, with the shell tool called once per
        // scripted command.
        let reqs = self.requests();
        let tool_calls = reqs
            .iter()
            .filter(|r| r["reply"].as_str().is_some_and(|s| s.contains(" tool ")))
            .count();
        assert!(tool_calls >= 1, "no shell tool call:\n{report}");

        assert_clean_up(env);
        assert_eq!(env.git(&["for-each-ref", "refs/oompa/keep/"]).trim(), "");
        record.clone()
    }
}

/// A TOML string.
fn q(s: &str) -> String {
    serde_json::to_string(s).expect("a string")
}

/// An inline TOML table of environment variables.
fn env_table<K: AsRef<str>>(env: &[(K, String)]) -> String {
    let vars: Vec<String> = env
        .iter()
        .map(|(k, v)| format!("{} = {}", k.as_ref(), q(v)))
        .collect();
    format!("{{ {} }}", vars.join(", "))
}

/// The `[[worker]]` table of a worker running `cli` against the model at `url`, with the role
/// prompt `worker.md`.
fn cli_worker(cli: Cli, url: &str, home: &Path, extra: &str) -> String {
    let args: Vec<String> = cli.args(url).iter().map(|a| q(a)).collect();
    format!(
        "[[worker]]\nmodel = {}\nprompt = \"worker.md\"\nmax_cycles = 1\n\
         turn_timeout = \"{TURN_TIMEOUT}\"\nargs = [{}]\nenv = {}\n{extra}",
        q(cli.model),
        args.join(", "),
        env_table(&cli.env(url, home))
    )
}

/// The oompa.toml of the test: one worker for `cli`.
fn config(cli: Cli, url: &str, home: &Path) -> String {
    format!("error_backoff = 0\n\n{}", cli_worker(cli, url, home, ""))
}

/// Fresh turn only: the agent claims t1 with `git oompa task claim`, commits hello.txt and
/// signals merge; the swarm lands it.
fn claims_commits_and_lands(test: &str, cli: Cli) {
    let prompt = format!(
        "# Role: scripted worker ({ROLE_TOKEN})\n\n\
         MOCK_CMD: {CLAIM_AND_COMMIT}\n\
         MOCK_FINAL: Claimed t1 and added hello.txt.\\nCOMPLETE_AND_READY_FOR_MERGE\n"
    );
    let Some(run) = Run::swarm(test, cli, &prompt, Options::default()) else {
        return;
    };
    let record = run.assert_landed();
    assert_eq!(record.turns, 1, "{record:?}");
}

/// Two turns in one session: the fresh turn ends with `CLAIM(t1)`; the swarm claims t1 and
/// resumes the same session with the claim results, in which the agent commits and signals
/// merge.
///
/// The mock takes its script from the latest user prompt. The fresh prompt carries its own
/// `MOCK_CMD:`/`MOCK_FINAL:` lines (a harmless look at the task, then the claim signal); the
/// bundled claim-results prompt has none, so for that turn the mock falls back to its
/// command-line script (`--cmd`, `--final`): commit hello.txt, signal merge.
fn resumes_after_claim(test: &str, cli: Cli) {
    let prompt = format!(
        "# Role: scripted worker ({ROLE_TOKEN})\n\n\
         MOCK_CMD: git oompa task show t1\n\
         MOCK_FINAL: I will take t1.\\nCLAIM(t1)\n"
    );
    let final_text = "Added hello.txt for t1.\nCOMPLETE_AND_READY_FOR_MERGE";
    let options = Options::default().script(&[COMMIT], final_text);
    let Some(run) = Run::swarm(test, cli, &prompt, options) else {
        return;
    };
    let record = run.assert_landed();
    let report = run.report();
    // Two turns, one session: the second turn resumed the first.
    assert_eq!(record.turns, 2, "{record:?}\n{report}");
    assert_eq!(record.sessions.len(), 1, "{record:?}");
    let err = stderr(&run.out);
    assert!(err.contains("turn 1: claim t1"), "{err}");
    assert!(err.contains("[w0] claimed t1"), "{err}");
    assert!(err.contains("turn 2: merge"), "{err}");
    // The mock saw the claim results in a conversation that still holds the role prompt.
    let resumed: Vec<String> = run
        .requests()
        .iter()
        .map(|r| r["body"].to_string())
        .filter(|b| b.contains("## Claim results") && b.contains("Claimed: t1"))
        .collect();
    assert!(!resumed.is_empty(), "no claim-results request:\n{report}");
    assert!(
        resumed.iter().all(|b| b.contains(ROLE_TOKEN)),
        "{}: the claim results went to a new conversation, not the resumed one",
        cli.name
    );
}

/// In the reviewer prompt file only: finding it in a request proves it was a review.
const REVIEW_TOKEN: &str = "REVIEWER-PROMPT-TOKEN-5521";
/// The finding of a review that asks for changes.
const FINDING: &str = "1. work/t1.txt: say that the change was reviewed.";

/// The cycle records of the run, oldest first.
fn records(run: &Run) -> Vec<CycleRecord> {
    let (entries, bad) = Notes::new(&run.env.open()).read_all().expect("notes");
    assert!(bad.is_empty(), "{bad:?}");
    entries.into_iter().map(|e| e.record).collect()
}

/// The value of a trailer of main's tip.
fn main_trailer(env: &TestEnv, key: &str) -> String {
    let format = format!("--format=%(trailers:key={key},valueonly)");
    env.git(&["log", "-1", "main", &format]).trim().to_string()
}

/// The fake exec agent (`tests/fake-agents/agent.sh`) writes work/t1.txt for t1 and signals
/// merge; the CLI reviews the change as the only model of `[review]`, inheriting the worker's
/// `env`. The reviewer prompt file carries the mock's script: a harmless look at the change,
/// then the verdict. With `reject_first` the first review asks for a change and the fake
/// worker fixes it in its own session; the scripted verdict line of round 2 travels in round
/// 1's findings, which the prompt of round 2 quotes (the mock obeys the last `MOCK_FINAL:`).
fn reviews_a_change(test: &str, cli: Cli, reject_first: bool) {
    let tasks = [("t1", "Write work/t1.txt")];
    let Some(setup) = Setup::new(test, cli, &tasks, Options::default()) else {
        return;
    };
    let verdict = if reject_first {
        format!("VERDICT: NEEDS_CHANGES\\n{FINDING}\\nMOCK_FINAL: VERDICT: APPROVED")
    } else {
        "Looks right.\\nVERDICT: APPROVED".to_string()
    };
    setup.write(
        "reviewer.md",
        &format!(
            "# Role: scripted reviewer ({REVIEW_TOKEN})\n\n\
             MOCK_CMD: git diff --stat HEAD~1\n\
             MOCK_FINAL: {verdict}\n"
        ),
    );
    let mut env = setup.reviewer_env();
    env.push(("FAKE_MODE".into(), "polite".into()));
    let config = format!(
        "error_backoff = 0\n\n[[worker]]\nmodel = {}\nmax_cycles = 1\nturn_timeout = \"{TURN_TIMEOUT}\"\n\
         env = {}\n\n[review]\nmodels = [{}]\nprompt = \"reviewer.md\"\nmax_rounds = 2\n",
        q(&fake_model()),
        env_table(&env),
        q(cli.model)
    );
    let run = setup.run(&config);
    let report = run.report();
    assert!(run.out.status.success(), "swarm failed:\n{report}");
    let env = &run.env;
    let rounds = if reject_first { 2 } else { 1 };

    // t1 landed on main, reviewed, with the fake worker's work (and fix).
    let snap = Queue::new(&env.open()).snapshot().expect("queue");
    assert_eq!(snap.count(State::Complete), 1, "t1 not complete:\n{report}");
    assert_eq!(main_trailer(env, "Oompa-Task"), "t1", "{report}");
    assert_eq!(
        main_trailer(env, "Oompa-Review-Rounds"),
        rounds.to_string(),
        "{report}"
    );
    let work = env.git(&["show", "main:work/t1.txt"]);
    let expected = if reject_first {
        "done by w0\nreviewed and fixed\n"
    } else {
        "done by w0\n"
    };
    assert_eq!(work, expected, "{report}");

    // The cycle record: every round, by the CLI's model, the last one approved.
    let [record] = &records(&run)[..] else {
        panic!("expected one cycle record:\n{report}");
    };
    assert_eq!(record.outcome, Outcome::Merged, "{record:?}\n{report}");
    assert_eq!(record.review.len(), rounds, "{record:?}\n{report}");
    for (i, r) in record.review.iter().enumerate() {
        assert_eq!(r.round as usize, i + 1, "{r:?}");
        assert_eq!(r.reviewer, cli.model, "{r:?}");
        assert!(r.parsed, "no verdict line found: {r:?}\n{report}");
    }
    let last = record.review.last().expect("a round");
    assert_eq!(last.verdict, "approved", "{record:?}\n{report}");
    if reject_first {
        let first = &record.review[0];
        assert_eq!(first.verdict, "needs-changes", "{first:?}");
        assert!(first.findings.starts_with(FINDING), "{first:?}");
    }
    // The fake worker's claim and work turns (and fix turn) in its one session, plus one
    // one-shot turn per review; only the reviewer reports token usage.
    let worker_turns = if reject_first { 3 } else { 2 };
    assert_eq!(record.turns as usize, worker_turns + rounds, "{record:?}");
    assert_eq!(record.sessions.len(), 1, "{record:?}");
    assert!(record.tokens.input.is_some_and(|n| n >= 100), "{record:?}");
    let err = stderr(&run.out);
    assert!(
        err.contains(&format!("review round 1 by {}", cli.model)),
        "{err}"
    );

    // Each review went to the mock with the task and the diff, ran the scripted command and
    // answered the scripted verdict.
    let reqs = run.requests();
    let reviews: Vec<&serde_json::Value> = reqs
        .iter()
        .filter(|r| r["body"].to_string().contains(REVIEW_TOKEN))
        .collect();
    assert!(!reviews.is_empty(), "no review request:\n{report}");
    let bodies: Vec<String> = reviews.iter().map(|r| r["body"].to_string()).collect();
    assert!(
        bodies.iter().all(|b| b.contains("`t1`: Write work/t1.txt")
            && b.contains("## The change")
            && b.contains("+done by w0")),
        "a review request without the task or the diff:\n{report}"
    );
    let replies: Vec<&str> = reviews.iter().filter_map(|r| r["reply"].as_str()).collect();
    assert!(
        replies.iter().any(|r| r.contains(" tool ")),
        "the reviewer never ran the scripted command: {replies:?}\n{report}"
    );
    assert!(
        replies.iter().any(|r| r.contains("VERDICT: APPROVED")),
        "{replies:?}\n{report}"
    );
    if reject_first {
        assert!(
            bodies
                .iter()
                .any(|b| b.contains("## Previous review (round 1)")
                    && b.contains("+reviewed and fixed")),
            "round 2 did not see round 1's findings and the fix:\n{report}"
        );
    }
    assert_clean_up(env);
    assert_eq!(env.git(&["for-each-ref", "refs/oompa/keep/"]).trim(), "");
}

/// The CLI's first turn: claim t2, wait until the fake worker's shared.txt is on main (so the
/// fake one surely lands first), then rewrite the same line and commit. No `$(…)`: Gemini CLI
/// refuses command substitution in its shell tool.
const CLAIM_WAIT_AND_CONFLICT: &str = "git oompa task claim t2 && timeout 60 sh -c 'until git show main:shared.txt | grep -q \"line written by fake\"; do sleep 0.2; done' && printf 'line written by the CLI\\n' > shared.txt && git add shared.txt && git commit -q -m 'shared.txt from the CLI' && echo committed";
/// The resolver turn's script (the mock's fallback, since the resolver prompt has no MOCK
/// lines): keep both sides of shared.txt and conclude the merge.
const RESOLVE: &str = "grep -v -e '^<<<<<<< ' -e '^=======$' -e '^>>>>>>> ' shared.txt > shared.tmp && mv shared.tmp shared.txt && git add shared.txt && git commit -q --no-edit && echo resolved";

/// Two workers rewrite the same line of shared.txt: the fake exec agent (FAKE_MODE=conflict,
/// fast) lands first; the CLI's landing then conflicts, the swarm merges main into its
/// worktree and resumes the CLI's session with the resolver prompt. That prompt has no MOCK
/// lines, so the mock answers it from its command-line script (`--cmd RESOLVE`, `--final`).
fn resolves_a_conflict(test: &str, cli: Cli) {
    let tasks = [
        ("t1", "Rewrite shared.txt (fake worker)"),
        ("t2", "Rewrite shared.txt (CLI worker)"),
    ];
    let final_text = "Kept both sides of shared.txt.\nCOMPLETE_AND_READY_FOR_MERGE";
    let options = Options::default().script(&[RESOLVE], final_text);
    let Some(setup) = Setup::new(test, cli, &tasks, options) else {
        return;
    };
    let env = &setup.env;
    std::fs::write(env.repo.join("shared.txt"), "original line\n").expect("shared.txt");
    env.git(&["add", "shared.txt"]);
    env.git(&["commit", "-q", "-m", "shared file"]);
    setup.write(
        "worker.md",
        &format!(
            "# Role: scripted worker ({ROLE_TOKEN})\n\n\
             MOCK_CMD: {CLAIM_WAIT_AND_CONFLICT}\n\
             MOCK_FINAL: Rewrote shared.txt for t2.\\nCOMPLETE_AND_READY_FOR_MERGE\n"
        ),
    );
    let fake_env = [
        ("FAKE_MODE", "conflict".to_string()),
        ("FAKE_CLAIM_FIRST", "1".to_string()),
    ];
    let config = format!(
        "error_backoff = 0\n\n[[worker]]\nname = \"fake\"\nmodel = {}\nmax_cycles = 1\n\
         env = {}\n\n{}",
        q(&fake_model()),
        env_table(&fake_env),
        cli_worker(
            cli,
            &setup.url(),
            &env.home,
            &format!("name = {}\n", q(cli.name))
        )
    );
    let run = setup.run(&config);
    let report = run.report();
    assert!(run.out.status.success(), "swarm failed:\n{report}");
    let env = &run.env;

    let snap = Queue::new(&env.open()).snapshot().expect("queue");
    assert_eq!(snap.count(State::Complete), 2, "{report}");
    // Both sides survive on main, without conflict markers; the CLI's landing carries the
    // resolution merge.
    let shared = env.git(&["show", "main:shared.txt"]);
    assert!(
        shared.contains("line written by fake\n") && shared.contains("line written by the CLI\n"),
        "{shared}\n{report}"
    );
    assert!(
        !shared.contains("<<<<<<<") && !shared.contains(">>>>>>>") && !shared.contains("======="),
        "{shared}"
    );
    assert_eq!(shared.lines().count(), 2, "{shared}");
    assert_eq!(main_trailer(env, "Oompa-Task"), "t2", "{report}");
    let history = env.git(&["log", "--format=%s", "main"]);
    assert!(history.contains("Merge main into oompa/"), "{history}");

    // The fake worker landed t1 without a conflict; the CLI landed t2 after resolving one in
    // its own session.
    let recs = records(&run);
    assert_eq!(recs.len(), 2, "{recs:?}\n{report}");
    let fake = recs
        .iter()
        .find(|r| r.worker == "fake")
        .expect("fake record");
    assert_eq!(fake.outcome, Outcome::Merged, "{fake:?}");
    assert_eq!(fake.tasks, ["t1"]);
    assert!(fake.conflicts.is_empty(), "{fake:?}");
    let record = recs.iter().find(|r| r.worker == cli.name).expect("record");
    assert_eq!(record.outcome, Outcome::Merged, "{record:?}\n{report}");
    assert_eq!(record.model, cli.model);
    assert_eq!(record.tasks, ["t2"]);
    assert_eq!(record.conflicts, ["shared.txt"], "{record:?}");
    assert!(record.turns >= 2, "work, resolve: {record:?}");
    assert_eq!(
        record.sessions.len(),
        1,
        "the resolver turn did not resume the session: {record:?}\n{report}"
    );
    assert!(session_id_shape(cli, &record.sessions[0]), "{record:?}");
    // t1 landed first (newest first in the log).
    let landings = env.git(&["log", "--first-parent", "--format=%s", "main"]);
    let at = |id: &str| {
        landings
            .lines()
            .position(|l| l.starts_with(&format!("Land {id}:")))
    };
    assert!(
        at("t2").zip(at("t1")).is_some_and(|(t2, t1)| t2 < t1),
        "{landings}"
    );
    let err = stderr(&run.out);
    assert!(
        err.contains(&format!("[{}] cycle 1, turn 2: merge", cli.name)),
        "{err}"
    );

    // The resolver prompt reached the mock in the CLI's conversation, which still holds the
    // role prompt, and was answered with the fallback script.
    let reqs = run.requests();
    let resolver: Vec<&serde_json::Value> = reqs
        .iter()
        .filter(|r| r["body"].to_string().contains("# Merge conflict"))
        .collect();
    assert!(!resolver.is_empty(), "no resolver request:\n{report}");
    assert!(
        resolver.iter().all(|r| {
            let body = r["body"].to_string();
            body.contains(ROLE_TOKEN) && body.contains("- shared.txt")
        }),
        "{}: the resolver prompt went to a new conversation, not the resumed one",
        cli.name
    );
    assert!(
        resolver
            .iter()
            .any(|r| r["reply"].as_str().is_some_and(|s| s.contains(" tool "))),
        "the resolver turn never ran the resolving command:\n{report}"
    );
    assert_clean_up(env);
    assert_eq!(env.git(&["for-each-ref", "refs/oompa/keep/"]).trim(), "");
}

macro_rules! real_cli_tests {
    ($($cli:expr => $fresh:ident, $resume:ident, $approve:ident, $reject:ident, $resolve:ident;)*) => {$(
        #[test]
        fn $fresh() {
            clis::isolated(|| claims_commits_and_lands(stringify!($fresh), $cli));
        }

        #[test]
        fn $resume() {
            clis::isolated(|| resumes_after_claim(stringify!($resume), $cli));
        }

        #[test]
        fn $approve() {
            clis::isolated(|| reviews_a_change(stringify!($approve), $cli, false));
        }

        #[test]
        fn $reject() {
            clis::isolated(|| reviews_a_change(stringify!($reject), $cli, true));
        }

        #[test]
        fn $resolve() {
            clis::isolated(|| resolves_a_conflict(stringify!($resolve), $cli));
        }
    )*};
}

real_cli_tests! {
    CLAUDE => claude_claims_commits_and_lands, claude_resumes_after_claim,
        claude_reviews_and_approves, claude_reviews_asks_for_a_fix_then_approves,
        claude_resolves_a_conflict_in_its_session;
    CODEX => codex_claims_commits_and_lands, codex_resumes_after_claim,
        codex_reviews_and_approves, codex_reviews_asks_for_a_fix_then_approves,
        codex_resolves_a_conflict_in_its_session;
    OPENCODE => opencode_claims_commits_and_lands, opencode_resumes_after_claim,
        opencode_reviews_and_approves, opencode_reviews_asks_for_a_fix_then_approves,
        opencode_resolves_a_conflict_in_its_session;
    GEMINI => gemini_claims_commits_and_lands, gemini_resumes_after_claim,
        gemini_reviews_and_approves, gemini_reviews_asks_for_a_fix_then_approves,
        gemini_resolves_a_conflict_in_its_session;
}

/// How long the scripted model answers 429 once the window opens, as issue 12 asks: long
/// enough that Claude Code (with its own retries) and Gemini CLI would wait it out inside the
/// turn were they not stopped.
const LIMIT_WINDOW: Duration = Duration::from_secs(20);

/// A window longer than Gemini CLI's own retries take (10 attempts, ~220 s) and than any turn
/// timeout of these tests: a CLI still retrying by itself would not end its turn inside it.
const LONG_LIMIT_WINDOW: Duration = Duration::from_secs(900);

/// The limited turn's script: claim and commit, then (in the request after the tool result,
/// which the window answers with a 429) signal merge.
fn limited_role_prompt() -> String {
    format!(
        "# Role: scripted worker ({ROLE_TOKEN})\n\n\
         MOCK_CMD: {CLAIM_AND_COMMIT}\n\
         MOCK_FINAL: Claimed t1 and added hello.txt.\\nCOMPLETE_AND_READY_FOR_MERGE\n"
    )
}

/// The continue prompt has no MOCK lines: the model answers it from this fallback, the work
/// being done already.
const CONTINUED: &str =
    "Continued after the limit; hello.txt is committed.\nCOMPLETE_AND_READY_FOR_MERGE";

/// A repository with t1, a worker of `cli` whose first request is answered (it claims t1 and
/// commits) and whose next ones are limited for `window`, and the oompa.toml that runs it.
/// Each CLI as a user has it, but for the retries that would hide the limit inside the turn:
/// Claude Code gets `CLAUDE_CODE_MAX_RETRIES=0` (with one retry it sleeps through a 20 s
/// window), Codex keeps the tests' `request_max_retries=0`; Gemini CLI keeps its default
/// attempts (it retries for minutes, until git oompa stops it), opencode its silent retries.
fn limited_setup(test: &str, cli: Cli, window: Duration) -> Option<(Setup, String)> {
    let options = Options::default()
        .script(&[], CONTINUED)
        .rate_limit_for(window)
        .rate_limit_tools_only()
        .rate_limit_after(1);
    let setup = Setup::new(test, cli, &[("t1", "Add hello.txt")], options)?;
    if cli == GEMINI {
        clis::let_retry(cli, &setup.env.home).expect("Gemini CLI settings");
    }
    setup.write("worker.md", &limited_role_prompt());
    let url = setup.url();
    let mut env = cli.env(&url, &setup.env.home);
    env.retain(|(k, _)| k != "CLAUDE_CODE_MAX_RETRIES");
    env.push(("CLAUDE_CODE_MAX_RETRIES".into(), "0".into()));
    let args: Vec<String> = cli.args(&url).iter().map(|a| q(a)).collect();
    // Codex names no reset time: its back-off starts at the window's length.
    let config = format!(
        "error_backoff = 0\nlimit_backoff = \"{}s\"\n\n[[worker]]\nmodel = {}\n\
         prompt = \"worker.md\"\nmax_cycles = 1\nturn_timeout = \"{TURN_TIMEOUT}\"\nargs = [{}]\nenv = {}\n",
        window.as_secs(),
        q(cli.model),
        args.join(", "),
        env_table(&env)
    );
    Some((setup, config))
}

/// The requests the window answered with a 429.
fn limited_requests(reqs: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    reqs.iter()
        .filter(|r| {
            r["reply"]
                .as_str()
                .is_some_and(|s| s.starts_with("rate-limited"))
        })
        .collect()
}

/// The scripted model is rate-limited for [`LIMIT_WINDOW`] from the CLI's second request of
/// its first turn (the first one claimed t1 and committed): the turn ends with the limit
/// (Claude Code and Codex by themselves, Gemini CLI and opencode, which retry by themselves,
/// stopped by git oompa at their first logged limit), the worker pauses until the reset and
/// resumes the same session with the continue prompt, which reaches the model in the
/// conversation that holds the role prompt and the first turn's tool call; the task lands,
/// no cycle is an error, the pause is in the record.
fn pauses_for_a_usage_limit_and_resumes_its_session(test: &str, cli: Cli) {
    let Some((setup, config)) = limited_setup(test, cli, LIMIT_WINDOW) else {
        return;
    };
    let run = setup.run(&config);
    let record = run.assert_landed();
    let report = run.report();
    assert!(record.turns >= 2, "{record:?}\n{report}");
    assert!(!record.pauses.is_empty(), "no pause recorded:\n{report}");
    assert!(
        record
            .pauses
            .iter()
            .all(|p| p.reason.starts_with("usage limit: ")),
        "{:?}",
        record.pauses
    );
    let err = stderr(&run.out);
    assert!(err.contains("[w0] paused until"), "{report}");
    assert!(err.contains("[w0] resuming its session"), "{report}");
    let reqs = run.requests();
    let limited = limited_requests(&reqs);
    assert!(
        !limited.is_empty(),
        "the model never limited a request:\n{report}"
    );
    // The first limited request already carried the tool result of the claim and commit.
    assert!(
        limited[0]["body"].to_string().contains("committed"),
        "the limit did not hit the conversation after its first tool call:\n{report}"
    );
    // The continue prompt went to the conversation that holds the role prompt and the first
    // turn's work, and the model answered it.
    let resumed: Vec<&serde_json::Value> = reqs
        .iter()
        .filter(|r| r["body"].to_string().contains("Continue where you stopped"))
        .collect();
    assert!(!resumed.is_empty(), "no continue prompt:\n{report}");
    assert!(
        resumed.iter().all(|r| {
            let body = r["body"].to_string();
            body.contains(ROLE_TOKEN) && body.contains("committed")
        }),
        "{}: the continue prompt went to a new conversation, not the resumed one\n{report}",
        cli.name
    );
    assert!(
        resumed.iter().any(|r| r["reply"]
            .as_str()
            .is_some_and(|s| s.contains("Continued after the limit"))),
        "{report}"
    );
    eprintln!(
        "[real-cli] {test}: {} limited request(s), pauses {:?}",
        limited.len(),
        record.pauses
    );
}

/// Runs `scenario` for each of the four CLIs at once, each on its own thread in its own
/// network namespace (a limit window is mostly waiting: four in a row would take four times
/// as long), and fails naming every CLI whose run failed.
fn for_each_cli_at_once(test: &str, clis: &[Cli], scenario: fn(&str, Cli)) {
    let failed: Vec<&str> = std::thread::scope(|scope| {
        let runs: Vec<(Cli, _)> = clis
            .iter()
            .map(|&cli| {
                let name = format!("{test}[{}]", cli.name);
                let handle = std::thread::Builder::new()
                    .name(name.clone())
                    .spawn_scoped(scope, move || clis::isolated(|| scenario(&name, cli)))
                    .expect("spawn a CLI's run");
                (cli, handle)
            })
            .collect();
        runs.into_iter()
            .filter_map(|(cli, h)| h.join().is_err().then_some(cli.name))
            .collect()
    });
    assert!(
        failed.is_empty(),
        "{test} failed for {failed:?} (each one's panic is printed above)"
    );
}

#[test]
fn each_cli_pauses_for_a_usage_limit_and_resumes_its_session() {
    for_each_cli_at_once(
        "each_cli_pauses_for_a_usage_limit_and_resumes_its_session",
        &clis::ALL,
        pauses_for_a_usage_limit_and_resumes_its_session,
    );
}

/// A CLI that retries a limit by itself (Gemini CLI on its own back-off for up to 10
/// attempts, opencode sleeping the `Retry-After`) in a window longer than all of that: git
/// oompa stops it at its first logged limit and pauses. The proof is in what the model saw,
/// not in timing: when the pause begins (the turn has ended by then) at most two requests
/// were limited, where the CLI alone would have gone on to its tenth (Gemini) or slept the
/// whole window inside the turn (opencode). Then `git oompa stop` ends the pause: the cycle
/// is `interrupted` (not `error`) with the pause in its record, t1 goes back to pending and
/// the committed work is kept.
fn retrying_cli_is_stopped_at_its_first_logged_limit(test: &str, cli: Cli) {
    let Some((setup, config)) = limited_setup(test, cli, LONG_LIMIT_WINDOW) else {
        return;
    };
    let swarm_log = setup.env.tmp.path().join("swarm-stderr.txt");
    let (run, limited_at_pause) = setup.run_until(&config, &swarm_log, |server, err| {
        err.contains("[w0] paused until")
            .then(|| limited_requests(&server.requests()).len())
    });
    let report = run.report();
    assert!(
        (1..=2).contains(&limited_at_pause),
        "{}: {limited_at_pause} limited requests before the pause: not stopped at its first \
         logged limit\n{report}",
        cli.name
    );
    assert_eq!(run.out.status.code(), Some(130), "{report}");
    let recs = records(&run);
    let [record] = &recs[..] else {
        panic!("expected one cycle record: {recs:?}\n{report}");
    };
    assert_eq!(record.outcome, Outcome::Interrupted, "{record:?}\n{report}");
    assert!(
        record
            .pauses
            .first()
            .is_some_and(|p| p.reason.starts_with("usage limit: ")),
        "{record:?}"
    );
    let snap = Queue::new(&run.env.open()).snapshot().expect("queue");
    assert_eq!(snap.count(State::Pending), 1, "t1 not returned:\n{report}");
    let keep = run.env.git(&["for-each-ref", "refs/oompa/keep/"]);
    assert_eq!(
        keep.lines().count(),
        1,
        "the committed work is not kept:\n{report}"
    );
    eprintln!(
        "[real-cli] {test}: stopped after {limited_at_pause} limited request(s), \
         {} in all",
        limited_requests(&run.requests()).len()
    );
}

#[test]
fn gemini_and_opencode_retrying_a_long_limit_are_stopped_at_their_first_logged_limit() {
    for_each_cli_at_once(
        "gemini_and_opencode_retrying_a_long_limit_are_stopped_at_their_first_logged_limit",
        &[GEMINI, OPENCODE],
        retrying_cli_is_stopped_at_its_first_logged_limit,
    );
}
