//! The four real agent CLIs in tests: how each is pointed at a [`Server`](crate::Server) (and
//! kept from looking anything else up), where its binary is found, when a test that needs one
//! runs, and the loopback-only network namespace it runs in.
//!
//! The settings are those of the scripted-model recipes: with them, traced under `strace -e
//! connect` and with a logging DNS stub, none of the four CLIs looked up or connected to any
//! host but 127.0.0.1.
//!
//! - Claude Code: `ANTHROPIC_BASE_URL` and a fake key; nonessential traffic, the auto-updater,
//!   telemetry and error reporting off; one retry; `IS_SANDBOX=1` (as root,
//!   `--dangerously-skip-permissions` refuses to start without it).
//! - Codex: a custom provider (plain HTTP + SSE; the built-in one tries a WebSocket first)
//!   without retries, so a dead server fails fast instead of "Reconnecting…" forever; analytics
//!   and plugins off (else it looks up chatgpt and github hosts). Given as `-c` arguments
//!   ([`Cli::args`]) or as a `config.toml` ([`codex_config_toml`]). `CODEX_HOME` must exist.
//! - opencode: an `@ai-sdk/openai-compatible` provider (bundled: nothing is downloaded) in
//!   `OPENCODE_CONFIG_CONTENT`; model catalog, auto-update, LSP downloads and sharing off; its
//!   npm registry lookup at startup pointed at the server, which answers 404; the `XDG_*`
//!   directories inside the test HOME.
//! - Gemini CLI: `GOOGLE_GEMINI_BASE_URL`, a key, and `security.auth.selectedType` in its
//!   settings (with the base URL alone it picks the auth type "gateway", which headless mode
//!   rejects); statistics, telemetry and updates off; `maxAttempts: 1`, so an error fails fast
//!   instead of ~200 s of retries.
//!
//! # When the tests run
//!
//! A real-CLI test runs when its CLI is found: in `$OOMPA_AGENTCLIS` (a `node_modules/.bin`),
//! `$AGENTCLIS/node_modules/.bin`, `~/.cache/agentclis/node_modules/.bin` or on `PATH`
//! (`.ci/install-agent-clis.sh` installs all four). When it is not found the test passes after
//! saying on stderr, loudly, that it was skipped, unless [`REQUIRE_VAR`] is set (CI sets it),
//! which turns the absence into a failure. [`SKIP_VAR`] skips them all, loudly too.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// `OOMPA_SKIP_REAL_CLIS=1`: skip every real-CLI test (each says so on stderr).
pub const SKIP_VAR: &str = "OOMPA_SKIP_REAL_CLIS";
/// `OOMPA_REQUIRE_REAL_CLIS=1`: a missing CLI fails the test instead of skipping it.
pub const REQUIRE_VAR: &str = "OOMPA_REQUIRE_REAL_CLIS";
/// A directory holding the four binaries, looked in first.
pub const DIR_VAR: &str = "OOMPA_AGENTCLIS";

/// One of the four CLIs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cli {
    /// The harness name, which is also the binary name.
    pub name: &'static str,
    /// A `model` for git oompa: the harness and a model name the CLI accepts with these
    /// settings.
    pub model: &'static str,
}

pub const CLAUDE: Cli = Cli {
    name: "claude",
    model: "claude:claude-sonnet-4-5",
};
pub const CODEX: Cli = Cli {
    name: "codex",
    model: "codex:mock-model:low",
};
pub const OPENCODE: Cli = Cli {
    name: "opencode",
    model: "opencode:mock/mock-model:high",
};
pub const GEMINI: Cli = Cli {
    name: "gemini",
    model: "gemini:gemini-2.5-flash",
};
pub const ALL: [Cli; 4] = [CLAUDE, CODEX, OPENCODE, GEMINI];

impl Cli {
    /// The CLI's environment for the server at `url` (`http://127.0.0.1:PORT`), with `home` as
    /// its HOME (the caller sets HOME itself).
    pub fn env(self, url: &str, home: &Path) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = Vec::new();
        let mut set = |k: &str, v: &str| env.push((k.to_string(), v.to_string()));
        match self.name {
            "claude" => {
                set("ANTHROPIC_BASE_URL", url);
                set("ANTHROPIC_API_KEY", "sk-mock");
                for k in [
                    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
                    "DISABLE_AUTOUPDATER",
                    "DISABLE_TELEMETRY",
                    "DISABLE_ERROR_REPORTING",
                    "CLAUDE_CODE_MAX_RETRIES",
                    "IS_SANDBOX",
                ] {
                    set(k, "1");
                }
            }
            "codex" => set("CODEX_HOME", &home.join(".codex").display().to_string()),
            "opencode" => {
                for (k, dir) in [
                    ("XDG_CONFIG_HOME", ".config"),
                    ("XDG_DATA_HOME", ".local/share"),
                    ("XDG_CACHE_HOME", ".cache"),
                    ("XDG_STATE_HOME", ".local/state"),
                ] {
                    set(k, &home.join(dir).display().to_string());
                }
                for k in ["MODELS_FETCH", "AUTOUPDATE", "LSP_DOWNLOAD", "SHARE"] {
                    set(&format!("OPENCODE_DISABLE_{k}"), "1");
                }
                set("npm_config_registry", &format!("{url}/npm-registry-stub/"));
                // "reasoning": true lets `--variant` map to reasoning_effort.
                let config = format!(
                    r#"{{"provider":{{"mock":{{"npm":"@ai-sdk/openai-compatible","name":"Mock","options":{{"baseURL":"{url}/v1","apiKey":"sk-mock"}},"models":{{"mock-model":{{"name":"Mock","tool_call":true,"reasoning":true}}}}}}}},"model":"mock/mock-model"}}"#
                );
                set("OPENCODE_CONFIG_CONTENT", &config);
            }
            "gemini" => {
                set("GOOGLE_GEMINI_BASE_URL", url);
                set("GEMINI_API_KEY", "sk-mock");
            }
            other => unreachable!("unknown CLI {other}"),
        }
        // Loopback traffic never goes through a proxy of the outer environment.
        set("NO_PROXY", "127.0.0.1,localhost");
        set("no_proxy", "127.0.0.1,localhost");
        env
    }

    /// The CLI's extra arguments for the server at `url`: Codex gets its provider and has
    /// analytics and plugins off; the others need none.
    pub fn args(self, url: &str) -> Vec<String> {
        if self.name != "codex" {
            return Vec::new();
        }
        let provider = format!(
            r#"model_providers.mock={{name="mock",base_url="{url}/v1",wire_api="responses",request_max_retries=0,stream_max_retries=0}}"#
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
        .map(String::from)
        .to_vec()
    }

    /// Writes the files the CLI needs in `home` before it starts: Codex's `CODEX_HOME`, Gemini
    /// CLI's settings.
    pub fn prepare_home(self, home: &Path) -> std::io::Result<()> {
        match self.name {
            "codex" => std::fs::create_dir_all(home.join(".codex")),
            "gemini" => {
                std::fs::create_dir_all(home.join(".gemini"))?;
                std::fs::write(
                    home.join(".gemini/settings.json"),
                    r#"{"security":{"auth":{"selectedType":"gemini-api-key"}},"privacy":{"usageStatisticsEnabled":false},"telemetry":{"enabled":false},"general":{"enableAutoUpdate":false,"enableAutoUpdateNotification":false,"maxAttempts":1}}"#,
                )
            }
            _ => Ok(()),
        }
    }
}

/// Undoes what [`Cli::prepare_home`] set in `home` to fail fast (Gemini CLI's
/// `maxAttempts: 1`), so the CLI retries a limit by itself as it does for a user: Gemini CLI
/// then makes up to 10 attempts on its own back-off (~220 s). The other CLIs keep no such
/// setting in HOME (Claude Code's is `CLAUDE_CODE_MAX_RETRIES`, Codex's in [`Cli::args`]).
pub fn let_retry(cli: Cli, home: &Path) -> std::io::Result<()> {
    if cli != GEMINI {
        return Ok(());
    }
    std::fs::write(
        home.join(".gemini/settings.json"),
        r#"{"security":{"auth":{"selectedType":"gemini-api-key"}},"privacy":{"usageStatisticsEnabled":false},"telemetry":{"enabled":false},"general":{"enableAutoUpdate":false,"enableAutoUpdateNotification":false}}"#,
    )
}

/// [`Cli::args`] of Codex as a `config.toml` (for a Codex that gets no arguments of ours, such
/// as a reviewer of another CLI's worker).
pub fn codex_config_toml(url: &str) -> String {
    format!(
        "model_provider = \"mock\"\n\n\
         [model_providers.mock]\n\
         name = \"mock\"\n\
         base_url = \"{url}/v1\"\n\
         wire_api = \"responses\"\n\
         request_max_retries = 0\n\
         stream_max_retries = 0\n\n\
         [analytics]\n\
         enabled = false\n\n\
         [features]\n\
         unbounded_connection_retries = false\n\
         plugins = false\n"
    )
}

/// Variables of the outer environment that must not reach the CLIs: real credentials and base
/// URLs, CLI settings, proxies (which would take loopback traffic elsewhere), npm settings.
pub fn leaks(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "ANTHROPIC_",
        "CLAUDE",
        "OPENAI_",
        "CODEX_",
        "GEMINI_",
        "GOOGLE_",
        "OPENCODE",
        "NPM_CONFIG_",
        "XDG_",
    ]
    .iter()
    .any(|p| upper.starts_with(p))
        || ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"].contains(&upper.as_str())
}

/// Where the binaries are looked for before `PATH`, in order.
pub fn search_dirs() -> Vec<PathBuf> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let mut dirs = Vec::new();
    dirs.extend(var(DIR_VAR).map(PathBuf::from));
    dirs.extend(var("AGENTCLIS").map(|d| PathBuf::from(d).join("node_modules/.bin")));
    dirs.extend(var("HOME").map(|h| PathBuf::from(h).join(".cache/agentclis/node_modules/.bin")));
    dirs
}

/// The CLI's executable: in [`search_dirs`], else on `PATH`.
pub fn find(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    search_dirs()
        .into_iter()
        .chain(std::env::split_paths(&path))
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// `PATH` with the CLI's directory first.
pub fn path_with(binary: &Path) -> OsString {
    let mut dirs: Vec<PathBuf> = binary.parent().map(Path::to_path_buf).into_iter().collect();
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).unwrap_or_default()
}

/// The binary of each of `clis` for the real-CLI test `test`, or `None` when the test is to be
/// skipped: [`SKIP_VAR`] is set, or a CLI is missing and [`REQUIRE_VAR`] is not (either way
/// it says so on stderr). Panics when a CLI is missing and [`REQUIRE_VAR`] is set.
pub fn binaries(test: &str, clis: &[Cli]) -> Option<Vec<PathBuf>> {
    let on = |k: &str| std::env::var(k).is_ok_and(|v| v == "1");
    if on(SKIP_VAR) {
        loud(&format!(
            "*** SKIPPED real-CLI test {test}: {SKIP_VAR}=1 ***"
        ));
        return None;
    }
    let mut found = Vec::new();
    for cli in clis {
        if let Some(binary) = find(cli.name) {
            found.push(binary);
            continue;
        }
        let dirs: Vec<String> = search_dirs()
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        let missing = format!(
            "the `{}` CLI is not installed (looked in {} and PATH). \
             `bash .ci/install-agent-clis.sh` installs the four agent CLIs with npm; \
             {DIR_VAR}=<dir> points at a node_modules/.bin holding them",
            cli.name,
            dirs.join(", ")
        );
        if on(REQUIRE_VAR) {
            panic!("real-CLI test {test}: {missing} ({REQUIRE_VAR}=1: CLIs must be there)");
        }
        loud(&format!("*** SKIPPED real-CLI test {test}: {missing} ***"));
        return None;
    }
    Some(found)
}

/// The binary of `cli` for the real-CLI test `test`; see [`binaries`].
pub fn binary(test: &str, cli: Cli) -> Option<PathBuf> {
    binaries(test, &[cli]).and_then(|mut b| b.pop())
}

/// A line on the process's real stderr: the test harness captures `eprintln!` of passing tests.
pub fn loud(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Runs `f` on a thread of its own inside a fresh network namespace that has only loopback, so
/// nothing it starts can reach any other host; where that is not permitted (`unshare -n` needs
/// root or a user namespace), on the host, said once on stderr. A [`Server`](crate::Server)
/// started inside `f` listens in that namespace, and every process `f` spawns inherits it.
/// Panics of `f` propagate.
pub fn isolated<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    let name = std::thread::current().name().map(str::to_string);
    std::thread::scope(|scope| {
        let mut builder = std::thread::Builder::new();
        if let Some(name) = name {
            builder = builder.name(name);
        }
        let body = builder
            .spawn_scoped(scope, || {
                enter_loopback_namespace();
                f()
            })
            .expect("spawn the isolated test thread");
        body.join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Whether [`isolated`] really isolates here: this process may make network namespaces with a
/// working loopback (checked once).
pub fn namespaces_permitted() -> bool {
    static PERMITTED: OnceLock<bool> = OnceLock::new();
    *PERMITTED.get_or_init(|| {
        let ok = Command::new("unshare")
            .args(["-n", "ip", "link", "set", "lo", "up"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            loud(
                "real-CLI tests: `unshare -n` is not permitted here; running on the host \
                 network, with every CLI pointed at 127.0.0.1 only",
            );
        }
        ok
    })
}

/// Moves the calling thread (only) into a new network namespace and brings its loopback up.
fn enter_loopback_namespace() {
    if !namespaces_permitted() {
        return;
    }
    // SAFETY: unshare(2) takes no pointers; CLONE_NEWNET moves only the calling thread (a
    // network namespace, unlike a mount or user namespace, may differ between threads).
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        let e = std::io::Error::last_os_error();
        loud(&format!(
            "real-CLI tests: unshare(CLONE_NEWNET) failed ({e}); running on the host network"
        ));
        return;
    }
    // A process spawned by this thread is in its namespace.
    let up = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .stdin(Stdio::null())
        .status();
    assert!(
        up.is_ok_and(|s| s.success()),
        "`ip link set lo up` failed in the test's network namespace"
    );
}
