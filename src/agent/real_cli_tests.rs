//! [`run_turn`] against the real agent CLIs and the project's scripted model (`tests/mockllm`,
//! in-process on 127.0.0.1, inside a loopback-only network namespace where that is permitted).
//! Each harness runs a fresh turn, then resumes it: this proves our argv, prompt delivery,
//! output parsing and session ids against the real programs, which the fast tests can only
//! imitate.
//!
//! They run with the rest of `cargo test` when the CLIs are installed
//! (`.ci/install-agent-clis.sh`), and otherwise skip loudly; `mockllm::clis` says where the
//! CLIs are looked for and which variables skip them or make their absence a failure.

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use mockllm::clis::{self, CLAUDE, CODEX, Cli, GEMINI, OPENCODE};
use mockllm::{Options, Server};

use crate::agent::{ModelSpec, Signal, Turn, TurnMode, TurnOutput, parse_signal, run_turn};

const HELLO: &str = "printf 'hello\\n' > hello.txt && git add hello.txt && git commit -q -m 'Add hello.txt' && echo committed";
const TWO: &str = "printf 'two\\n' > two.txt && git add two.txt && git commit -q -m 'Add two.txt' && echo committed";

/// A scratch directory (`home/`, `tmp/`, a repository `repo/`) and the scripted model, for
/// turns of one CLI.
struct Mock {
    cli: Cli,
    model: &'static str,
    program: PathBuf,
    server: Server,
    dir: tempfile::TempDir,
}

impl Mock {
    /// Starts the scripted model with `options`, or `None` when the test is skipped.
    fn start(test: &str, cli: Cli, model: &'static str, options: Options) -> Option<Mock> {
        let program = clis::binary(test, cli)?;
        let dir = tempfile::tempdir().expect("tempdir");
        for d in ["home", "tmp", "repo"] {
            fs::create_dir(dir.path().join(d)).expect("mkdir");
        }
        let repo = dir.path().join("repo");
        for args in [
            &["init", "-q"][..],
            &["config", "user.email", "mock@example.invalid"],
            &["config", "user.name", "Mock Agent"],
            &["commit", "-q", "--allow-empty", "-m", "init"],
        ] {
            let ok = Command::new("git")
                .args(args)
                .current_dir(&repo)
                .status()
                .expect("git");
            assert!(ok.success(), "git {args:?}");
        }
        cli.prepare_home(&dir.path().join("home"))
            .expect("the CLI's files in HOME");
        let server = Server::start(options).expect("start the scripted model");
        Some(Mock {
            cli,
            model,
            program,
            server,
            dir,
        })
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn turn(&self, prompt: &str, resume: Option<&str>) -> TurnOutput {
        let spec = ModelSpec::parse(self.model).expect("model");
        let kill = AtomicBool::new(false);
        let url = self.server.url();
        let path = clis::path_with(&self.program);
        let mut env = vec![
            ("HOME".to_string(), self.path("home").display().to_string()),
            ("TMPDIR".to_string(), self.path("tmp").display().to_string()),
            ("PATH".to_string(), path.to_string_lossy().into_owned()),
        ];
        env.extend(self.cli.env(&url, &self.path("home")));
        run_turn(&Turn {
            spec: &spec,
            cwd: &self.path("repo"),
            prompt,
            resume,
            mode: TurnMode::Work,
            extra_args: &self.cli.args(&url),
            env: &env,
            timeout: Duration::from_secs(120),
            transcript: &self.path(&format!("logs/{}.log", self.cli.name)),
            transcript_max: crate::agent::transcript::DEFAULT_MAX,
            kill: &kill,
        })
        .expect("turn runs")
    }

    fn committed(&self, file: &str) -> bool {
        let out = Command::new("git")
            .args(["log", "--format=%s"])
            .current_dir(self.path("repo"))
            .output()
            .expect("git log");
        String::from_utf8_lossy(&out.stdout).contains(&format!("Add {file}"))
    }

    /// Every request the model saw, one JSON text each.
    fn requests(&self) -> Vec<String> {
        let requests = self.server.requests();
        requests.iter().map(|r| r.to_string()).collect()
    }
}

fn fresh_then_resume(test: &str, cli: Cli, model: &'static str) {
    let Some(mock) = Mock::start(test, cli, model, Options::default()) else {
        return;
    };
    let first = mock.turn(
        &format!("Create hello.txt (token FIRST-TURN-7731).\nMOCK_CMD: {HELLO}\nMOCK_FINAL: Created it.\\nCOMPLETE_AND_READY_FOR_MERGE\n"),
        None,
    );
    assert!(first.succeeded(), "{model} fresh: {first:?}");
    assert_eq!(
        parse_signal(&first.final_text),
        Signal::Merge,
        "{model}: {first:?}"
    );
    assert!(
        mock.committed("hello.txt"),
        "{model}: hello.txt not committed"
    );
    let id = first.session_id.clone().expect("session id");

    let second = mock.turn(
        &format!("Now the second file.\nMOCK_CMD: {TWO}\nMOCK_FINAL: Done with two.\\n__DONE__\n"),
        Some(&id),
    );
    assert!(second.succeeded(), "{model} resume: {second:?}");
    assert_eq!(
        parse_signal(&second.final_text),
        Signal::Done,
        "{model}: {second:?}"
    );
    assert_eq!(
        second.session_id.as_deref(),
        Some(id.as_str()),
        "{model}: session changed"
    );
    assert!(mock.committed("two.txt"), "{model}: two.txt not committed");
    // The resumed conversation still holds the first prompt: the session really continued.
    let requests = mock.requests();
    let last = requests
        .iter()
        .rev()
        .find(|r| r.contains("Now the second file"))
        .expect("resumed request");
    assert!(
        last.contains("FIRST-TURN-7731"),
        "{model}: resumed turn lost the first prompt"
    );
    assert!(fs::metadata(mock.path(&format!("logs/{}.log", cli.name))).is_ok_and(|m| m.len() > 0));
}

/// A prompt that starts with a dash and is too big for one argv entry still arrives whole.
fn odd_prompt(test: &str, cli: Cli, model: &'static str) {
    let Some(mock) = Mock::start(test, cli, model, Options::default()) else {
        return;
    };
    let padding = "context line that makes the prompt large\n".repeat(3000);
    let prompt = format!(
        "- a prompt that looks like a flag\n{padding}MOCK_CMD: {HELLO}\nMOCK_FINAL: ok\\nCOMPLETE_AND_READY_FOR_MERGE\nEND-OF-PROMPT-5521\n"
    );
    assert!(prompt.len() > 100 * 1024);
    let out = mock.turn(&prompt, None);
    assert!(out.succeeded(), "{model}: {out:?}");
    assert_eq!(
        parse_signal(&out.final_text),
        Signal::Merge,
        "{model}: {out:?}"
    );
    let requests = mock.requests();
    assert!(
        requests.iter().any(|r| r.contains("END-OF-PROMPT-5521")),
        "{model}: prompt cut short"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.contains("- a prompt that looks like a flag")),
        "{model}: prompt start lost"
    );
}

fn api_error_is_a_failed_turn(test: &str, cli: Cli, model: &'static str) {
    let options = Options::default().error_status(400);
    let Some(mock) = Mock::start(test, cli, model, options) else {
        return;
    };
    let out = mock.turn("Create hello.txt.", None);
    assert!(!out.succeeded(), "{model}: {out:?}");
    assert!(!out.error_snippet().is_empty());
}

macro_rules! real_cli {
    ($($name:ident, $err:ident, $odd:ident: $cli:expr, $model:expr;)*) => {$(
        #[test]
        fn $name() {
            clis::isolated(|| fresh_then_resume(stringify!($name), $cli, $model));
        }

        #[test]
        fn $err() {
            clis::isolated(|| api_error_is_a_failed_turn(stringify!($err), $cli, $model));
        }

        #[test]
        fn $odd() {
            clis::isolated(|| odd_prompt(stringify!($odd), $cli, $model));
        }
    )*};
}

real_cli! {
    real_claude, real_claude_api_error, real_claude_odd_prompt:
        CLAUDE, "claude:claude-sonnet-4-5:low";
    real_codex, real_codex_api_error, real_codex_odd_prompt: CODEX, "codex:mock-model:low";
    real_opencode, real_opencode_api_error, real_opencode_odd_prompt:
        OPENCODE, "opencode:mock/mock-model:high";
    real_gemini, real_gemini_api_error, real_gemini_odd_prompt: GEMINI, "gemini:gemini-2.5-flash";
}

#[test]
fn real_versions() {
    let Some(binaries) = clis::binaries("real_versions", &clis::ALL) else {
        return;
    };
    let expected = ["Claude Code", "codex-cli", ".", "."];
    for ((cli, binary), expect) in clis::ALL.iter().zip(binaries).zip(expected) {
        // `version_of` gives up after 10 s; on a loaded machine (and beside the other real-CLI
        // tests) Gemini CLI's node start alone can take that long (8 s seen at load 26), so a
        // timed-out attempt is tried again, a little later.
        let version = (0..5).find_map(|attempt| {
            std::thread::sleep(Duration::from_secs(2 * attempt));
            crate::agent::detect::version_of(&binary)
        });
        assert!(
            version.as_deref().is_some_and(|v| v.contains(expect)),
            "{}: {version:?}",
            cli.name
        );
    }
}
