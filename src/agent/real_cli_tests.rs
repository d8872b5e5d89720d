//! Opt-in checks of [`run_turn`] against the real agent CLIs and the scripted mock model in
//! `shared/tools/mockllm/` (no network beyond loopback). Each harness runs a fresh turn, then
//! resumes it: this proves our argv, prompt delivery, output parsing and session ids against
//! the real programs, which the fast tests can only imitate.
//!
//! ```text
//! OOMPA_AGENTCLIS=~/.cache/agentclis/node_modules/.bin \
//! OOMPA_MOCKLLM=../shared/tools/mockllm/mockllm.py \
//!   cargo test --lib agent::real_cli_tests -- --ignored --test-threads 1
//! ```

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use crate::agent::{ModelSpec, Signal, Turn, TurnMode, TurnOutput, parse_signal, run_turn};

const HELLO: &str = "printf 'hello\\n' > hello.txt && git add hello.txt && git commit -q -m 'Add hello.txt' && echo committed";
const TWO: &str = "printf 'two\\n' > two.txt && git add two.txt && git commit -q -m 'Add two.txt' && echo committed";

struct Mock {
    server: Child,
    port: String,
    dir: tempfile::TempDir,
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

impl Mock {
    /// Starts the mock, or `None` when the opt-in variables are not set.
    fn start(extra: &[&str]) -> Option<Mock> {
        let script = std::env::var("OOMPA_MOCKLLM").ok()?;
        std::env::var("OOMPA_AGENTCLIS").ok()?;
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
        let port_file = dir.path().join("port");
        let server = Command::new("python3")
            .arg(script)
            .arg("--port-file")
            .arg(&port_file)
            .arg("--log")
            .arg(dir.path().join("requests.jsonl"))
            .args(extra)
            .stderr(Stdio::null())
            .spawn()
            .expect("start mockllm");
        let deadline = Instant::now() + Duration::from_secs(10);
        let port = loop {
            if let Ok(p) = fs::read_to_string(&port_file)
                && !p.trim().is_empty()
            {
                break p.trim().to_string();
            }
            assert!(Instant::now() < deadline, "mockllm did not start");
            std::thread::sleep(Duration::from_millis(50));
        };
        Some(Mock { server, port, dir })
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The child environment for `harness`, as in the mockllm recipes.
    fn env(&self, harness: &str) -> Vec<(String, String)> {
        let home = self.path("home");
        let bin = std::env::var("OOMPA_AGENTCLIS").expect("checked in start");
        let url = format!("http://127.0.0.1:{}", self.port);
        let mut env = vec![
            ("HOME".to_string(), home.display().to_string()),
            ("TMPDIR".to_string(), self.path("tmp").display().to_string()),
            (
                "PATH".to_string(),
                format!("{bin}:{}", std::env::var("PATH").unwrap_or_default()),
            ),
        ];
        let mut set = |k: &str, v: &str| env.push((k.to_string(), v.to_string()));
        match harness {
            "claude" => {
                set("ANTHROPIC_BASE_URL", &url);
                set("ANTHROPIC_API_KEY", "sk-mock");
                for k in [
                    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
                    "DISABLE_AUTOUPDATER",
                    "DISABLE_TELEMETRY",
                    "DISABLE_ERROR_REPORTING",
                    "CLAUDE_CODE_MAX_RETRIES",
                ] {
                    set(k, "1");
                }
            }
            "codex" => {
                fs::create_dir_all(home.join(".codex")).expect("codex home");
                set("CODEX_HOME", &home.join(".codex").display().to_string());
            }
            "opencode" => {
                for (k, d) in [
                    ("XDG_CONFIG_HOME", ".config"),
                    ("XDG_DATA_HOME", ".local/share"),
                    ("XDG_CACHE_HOME", ".cache"),
                    ("XDG_STATE_HOME", ".local/state"),
                ] {
                    set(k, &home.join(d).display().to_string());
                }
                for k in ["MODELS_FETCH", "AUTOUPDATE", "LSP_DOWNLOAD", "SHARE"] {
                    set(&format!("OPENCODE_DISABLE_{k}"), "1");
                }
                set("npm_config_registry", &format!("{url}/npm-registry-stub/"));
                let config = format!(
                    r#"{{"provider":{{"mock":{{"npm":"@ai-sdk/openai-compatible","name":"Mock","options":{{"baseURL":"{url}/v1","apiKey":"sk-mock"}},"models":{{"mock-model":{{"name":"Mock","tool_call":true,"reasoning":true}}}}}}}},"model":"mock/mock-model"}}"#
                );
                set("OPENCODE_CONFIG_CONTENT", &config);
            }
            "gemini" => {
                fs::create_dir_all(home.join(".gemini")).expect("gemini dir");
                let settings = r#"{"security":{"auth":{"selectedType":"gemini-api-key"}},"privacy":{"usageStatisticsEnabled":false},"telemetry":{"enabled":false},"general":{"enableAutoUpdate":false,"enableAutoUpdateNotification":false,"maxAttempts":1}}"#;
                fs::write(home.join(".gemini/settings.json"), settings).expect("settings");
                set("GOOGLE_GEMINI_BASE_URL", &url);
                set("GEMINI_API_KEY", "sk-mock");
            }
            _ => unreachable!("unknown harness {harness}"),
        }
        env
    }

    fn extra_args(&self, harness: &str) -> Vec<String> {
        if harness != "codex" {
            return Vec::new();
        }
        let provider = format!(
            r#"model_providers.mock={{name="mock",base_url="http://127.0.0.1:{}/v1",wire_api="responses",request_max_retries=0,stream_max_retries=0}}"#,
            self.port
        );
        [
            "--strict-config",
            "-c",
            "model_provider=mock",
            "-c",
            &provider,
            "--disable",
            "unbounded_connection_retries",
            "-c",
            "analytics.enabled=false",
            "--disable",
            "plugins",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn turn(&self, model: &str, prompt: &str, resume: Option<&str>) -> TurnOutput {
        let spec = ModelSpec::parse(model).expect("model");
        let harness = spec.harness.name().to_string();
        let kill = AtomicBool::new(false);
        let env = self.env(&harness);
        let extra = self.extra_args(&harness);
        run_turn(&Turn {
            spec: &spec,
            cwd: &self.path("repo"),
            prompt,
            resume,
            mode: TurnMode::Work,
            extra_args: &extra,
            env: &env,
            timeout: Duration::from_secs(120),
            transcript: &self.path(&format!("logs/{harness}.log")),
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
}

fn fresh_then_resume(model: &str) {
    let Some(mock) = Mock::start(&[]) else { return };
    let first = mock.turn(
        model,
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
        model,
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
    let log = fs::read_to_string(mock.path("requests.jsonl")).expect("request log");
    let last = log
        .lines()
        .rev()
        .find(|l| l.contains("Now the second file"))
        .expect("resumed request");
    assert!(
        last.contains("FIRST-TURN-7731"),
        "{model}: resumed turn lost the first prompt"
    );
    assert!(
        fs::metadata(mock.path(&format!("logs/{}.log", first_word(model))))
            .is_ok_and(|m| m.len() > 0)
    );
}

/// A prompt that starts with a dash and is too big for one argv entry still arrives whole.
fn odd_prompt(model: &str) {
    let Some(mock) = Mock::start(&[]) else { return };
    let padding = "context line that makes the prompt large\n".repeat(3000);
    let prompt = format!(
        "- a prompt that looks like a flag\n{padding}MOCK_CMD: {HELLO}\nMOCK_FINAL: ok\\nCOMPLETE_AND_READY_FOR_MERGE\nEND-OF-PROMPT-5521\n"
    );
    assert!(prompt.len() > 100 * 1024);
    let out = mock.turn(model, &prompt, None);
    assert!(out.succeeded(), "{model}: {out:?}");
    assert_eq!(
        parse_signal(&out.final_text),
        Signal::Merge,
        "{model}: {out:?}"
    );
    let log = fs::read_to_string(mock.path("requests.jsonl")).expect("request log");
    assert!(
        log.contains("END-OF-PROMPT-5521"),
        "{model}: prompt cut short"
    );
    assert!(
        log.contains("- a prompt that looks like a flag"),
        "{model}: prompt start lost"
    );
}

fn api_error_is_a_failed_turn(model: &str) {
    let Some(mock) = Mock::start(&["--error-status", "400"]) else {
        return;
    };
    let out = mock.turn(model, "Create hello.txt.", None);
    assert!(!out.succeeded(), "{model}: {out:?}");
    assert!(!out.error_snippet().is_empty());
}

fn first_word(model: &str) -> &str {
    model.split(':').next().unwrap_or(model)
}

macro_rules! real_cli {
    ($($name:ident, $err:ident, $odd:ident: $model:expr;)*) => {$(
        #[test]
        #[ignore = "needs OOMPA_AGENTCLIS and OOMPA_MOCKLLM (see the module docs)"]
        fn $name() {
            fresh_then_resume($model);
        }

        #[test]
        #[ignore = "needs OOMPA_AGENTCLIS and OOMPA_MOCKLLM (see the module docs)"]
        fn $err() {
            api_error_is_a_failed_turn($model);
        }

        #[test]
        #[ignore = "needs OOMPA_AGENTCLIS and OOMPA_MOCKLLM (see the module docs)"]
        fn $odd() {
            odd_prompt($model);
        }
    )*};
}

real_cli! {
    real_claude, real_claude_api_error, real_claude_odd_prompt: "claude:claude-sonnet-4-5:low";
    real_codex, real_codex_api_error, real_codex_odd_prompt: "codex:mock-model:low";
    real_opencode, real_opencode_api_error, real_opencode_odd_prompt: "opencode:mock/mock-model:high";
    real_gemini, real_gemini_api_error, real_gemini_odd_prompt: "gemini:gemini-2.5-flash";
}

#[test]
#[ignore = "needs OOMPA_AGENTCLIS (see the module docs)"]
fn real_versions() {
    let Ok(bin) = std::env::var("OOMPA_AGENTCLIS") else {
        return;
    };
    for (name, expect) in [
        ("claude", "Claude Code"),
        ("codex", "codex-cli"),
        ("opencode", "."),
        ("gemini", "."),
    ] {
        let version = crate::agent::detect::version_of(&PathBuf::from(&bin).join(name));
        assert!(
            version.as_deref().is_some_and(|v| v.contains(expect)),
            "{name}: {version:?}"
        );
    }
}
