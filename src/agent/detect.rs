//! Finding agent CLIs: binary names, our own PATH search, and `<bin> --version`.
//!
//! Owns how `git oompa check` and [`super::run_turn`] locate a harness binary. It searches PATH
//! itself (no `which` subprocess) and never runs an `exec:` command just to learn its version.
//! It never prints.

use std::ffi::{OsStr, OsString};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::harness;
use super::model::Harness;
use super::process::{self, ProcessSpec};

/// How long `<bin> --version` may take (gemini needs ~2 s on a slow machine).
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);

/// What we know about one harness's CLI on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliInfo {
    pub harness: Harness,
    /// Where the binary is; `None` when it is not on PATH.
    pub path: Option<PathBuf>,
    /// The first line `--version` printed; `None` if it is missing, failed or timed out.
    pub version: Option<String>,
}

impl CliInfo {
    pub fn available(&self) -> bool {
        self.path.is_some()
    }
}

/// The program a harness runs: `claude`, `codex`, `opencode`, `gemini`; for `exec:` the first
/// word of the command (best effort, quoting is not interpreted).
pub fn binary_name(h: &Harness) -> &str {
    harness::adapter(h).binary()
}

/// Locates the harness binary and asks it for its version (never for `exec:` commands, which
/// may be agents that would start working).
pub fn detect(h: &Harness) -> CliInfo {
    let adapter = harness::adapter(h);
    let path = find_binary(adapter.binary());
    let version = path
        .as_deref()
        .filter(|_| adapter.asks_version())
        .and_then(version_of);
    CliInfo {
        harness: h.clone(),
        path,
        version,
    }
}

/// Searches the current PATH for an executable `name`.
pub fn find_binary(name: &str) -> Option<PathBuf> {
    find_on_path(name, std::env::var_os("PATH").as_deref())
}

/// Searches `path_var` (a PATH value) for an executable file `name`. A name containing `/` is
/// checked as given. Empty PATH entries (the current directory) are skipped on purpose.
pub(crate) fn find_on_path(name: &str, path_var: Option<&OsStr>) -> Option<PathBuf> {
    if name.is_empty() {
        return None;
    }
    if name.contains('/') {
        let p = PathBuf::from(name);
        return is_executable(&p).then_some(p);
    }
    let path_var: OsString = path_var?.to_os_string();
    std::env::split_paths(&path_var)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs `<bin> --version` in its own process group with a timeout; the first non-empty line of
/// stdout (or of stderr, for CLIs that print it there).
pub(crate) fn version_of(bin: &Path) -> Option<String> {
    let finished = process::supervise(ProcessSpec {
        program: bin,
        args: &["--version".into()],
        cwd: &std::env::temp_dir(),
        env: &[],
        env_remove: &[],
        stdin: None,
        timeout: VERSION_TIMEOUT,
        kill: None,
        transcript: None,
        parser: None,
        stdout_tail: 16 * 1024,
        sweep: None,
        stop_on_stderr: None,
    })
    .ok()?;
    if finished.exit != super::Exit::Code(0) {
        return None;
    }
    [&finished.stdout_tail, &finished.stderr_tail]
        .into_iter()
        .find_map(|out| out.lines().map(str::trim).find(|l| !l.is_empty()))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write script");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).expect("chmod");
        p
    }

    #[test]
    fn finds_executables_only_and_skips_empty_entries() {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        fs::write(a.path().join("tool"), "not executable").expect("write");
        let exe = script(b.path(), "tool", "true");
        let path = std::env::join_paths([
            "",
            a.path().to_str().expect("utf8"),
            b.path().to_str().expect("utf8"),
        ])
        .expect("join");
        assert_eq!(find_on_path("tool", Some(&path)), Some(exe.clone()));
        assert_eq!(find_on_path("missing", Some(&path)), None);
        assert_eq!(find_on_path("tool", None), None);
        assert_eq!(find_on_path(exe.to_str().expect("utf8"), None), Some(exe));
    }

    #[test]
    fn version_is_the_first_non_empty_line_and_failures_give_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ok = script(
            dir.path(),
            "ok",
            "echo; echo 'codex-cli 0.169.0'; echo more",
        );
        assert_eq!(version_of(&ok).as_deref(), Some("codex-cli 0.169.0"));
        let on_stderr = script(dir.path(), "err", "echo '2.1.197 (Claude Code)' >&2");
        assert_eq!(
            version_of(&on_stderr).as_deref(),
            Some("2.1.197 (Claude Code)")
        );
        let failing = script(dir.path(), "bad", "echo oops; exit 3");
        assert_eq!(version_of(&failing), None);
    }

    #[test]
    fn binary_names() {
        assert_eq!(binary_name(&Harness::Claude), "claude");
        assert_eq!(binary_name(&Harness::Gemini), "gemini");
        assert_eq!(
            binary_name(&Harness::Exec("python3 agent.py".into())),
            "python3"
        );
        let info = detect(&Harness::Exec("sh -c true".into()));
        assert!(info.available());
        assert_eq!(info.version, None);
    }
}
