//! Shared test fixtures: a hermetic environment around a temporary repository.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub mod guard;
pub mod swarm;

pub const BIN: &str = env!("CARGO_BIN_EXE_git-oompa");

/// A temporary directory with a `home/` and a git repository `repo/`.
pub struct TestEnv {
    pub tmp: tempfile::TempDir,
    pub home: PathBuf,
    pub repo: PathBuf,
}

/// Temp dirs go to tmpfs when there is one: this machine's disk is slow at creating files.
fn temp_root() -> tempfile::TempDir {
    let base = std::env::var_os("OOMPA_TEST_TMP")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/dev/shm")).filter(|p| p.is_dir()));
    let mut b = tempfile::Builder::new();
    b.prefix("oompa-test-");
    match base {
        Some(dir) => b.tempdir_in(dir).or_else(|_| b.tempdir()),
        None => b.tempdir(),
    }
    .expect("temp dir")
}

/// The hermetic variables every git and git-oompa process in a test gets.
pub fn hermetic(cmd: &mut Command, home: &Path) {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().to_string();
        if k.starts_with("OOMPA_") || k.starts_with("GIT_") {
            cmd.env_remove(&k);
        }
    }
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_SYSTEM", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .env("NO_COLOR", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        // Tables fit COLUMNS when it is set; tests that want a width set it themselves.
        .env_remove("COLUMNS");
}

impl TestEnv {
    /// A repository with one commit on `main` and a configured identity.
    pub fn new() -> TestEnv {
        let env = TestEnv::empty();
        env.git(&["init", "-q", "-b", "main"]);
        env.git(&["config", "user.name", "Test User"]);
        env.git(&["config", "user.email", "test@example.invalid"]);
        std::fs::write(env.repo.join("README.md"), "# test project\n").expect("write");
        env.git(&["add", "README.md"]);
        env.git(&["commit", "-q", "-m", "initial commit"]);
        env
    }

    /// A temp dir with `home/` and an empty `repo/` directory (no git repository).
    pub fn empty() -> TestEnv {
        let tmp = temp_root();
        let home = tmp.path().join("home");
        let repo = tmp.path().join("repo");
        std::fs::create_dir_all(&home).expect("mkdir home");
        std::fs::create_dir_all(&repo).expect("mkdir repo");
        TestEnv { tmp, home, repo }
    }

    /// `git-oompa <args>` in the repository, hermetic.
    pub fn oompa_cmd(&self, args: &[&str]) -> Command {
        self.oompa_cmd_in(&self.repo, args)
    }

    pub fn oompa_cmd_in(&self, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        hermetic(&mut cmd, &self.home);
        cmd.current_dir(dir).args(args).stdin(Stdio::null());
        cmd
    }

    /// Runs git-oompa and returns its output, whatever the exit status.
    pub fn oompa(&self, args: &[&str]) -> Output {
        self.oompa_cmd(args).output().expect("run git-oompa")
    }

    /// Runs git-oompa with the built binary first on `PATH` (as a person has it installed, so
    /// that hooks and `git oompa` calls from agents find it), whatever the exit status.
    pub fn oompa_on_path(&self, args: &[&str]) -> Output {
        self.oompa_cmd(args)
            .env("PATH", path_with_bin())
            .output()
            .expect("run git-oompa")
    }

    /// Runs git-oompa, asserting success; returns stdout.
    pub fn oompa_ok(&self, args: &[&str]) -> String {
        let out = self.oompa(args);
        assert!(
            out.status.success(),
            "git-oompa {args:?} failed ({:?}):\nstdout:\n{}\nstderr:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs git-oompa with `input` on stdin.
    pub fn oompa_stdin(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .oompa_cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(input.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("wait")
    }

    pub fn git_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("git");
        hermetic(&mut cmd, &self.home);
        cmd.current_dir(&self.repo).args(args).stdin(Stdio::null());
        cmd
    }

    /// Runs git in the repository, asserting success; returns stdout.
    pub fn git(&self, args: &[&str]) -> String {
        let out = self.git_cmd(args).output().expect("run git");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `git fsck --strict` must report no errors.
    pub fn assert_fsck_clean(&self) {
        let out = self
            .git_cmd(&["fsck", "--strict", "--no-dangling"])
            .output()
            .expect("fsck");
        assert!(
            out.status.success(),
            "git fsck failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Opens the repository with the library, as a swarm would.
    pub fn open(&self) -> oompa::git::Repo {
        oompa::git::Repo::discover(&self.repo).expect("open repo")
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `$PATH` with the directory of the built `git-oompa` first, so `git oompa` works.
pub fn path_with_bin() -> std::ffi::OsString {
    let dir = Path::new(BIN).parent().expect("binary has a directory");
    let mut paths = vec![dir.to_path_buf()];
    if let Some(p) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&p));
    }
    std::env::join_paths(paths).expect("joinable PATH")
}

/// The output of a `--json` list command: exactly one JSON array, one element per line,
/// every element an object with a `version` (README, "JSON output").
pub fn json_rows(out: &str) -> Vec<serde_json::Value> {
    let v: serde_json::Value =
        serde_json::from_str(out).unwrap_or_else(|e| panic!("not one JSON value ({e}):\n{out}"));
    let rows = v
        .as_array()
        .unwrap_or_else(|| panic!("not a JSON array:\n{out}"))
        .clone();
    if !rows.is_empty() {
        assert_eq!(
            out.lines().count(),
            rows.len() + 2,
            "one element per line:\n{out}"
        );
    }
    for r in &rows {
        assert!(r["version"].is_u64(), "an element without a version: {r}");
    }
    rows
}

/// The output of a `--json` command about one thing: exactly one JSON object on one line,
/// with a `version`.
pub fn json_object(out: &str) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(out).unwrap_or_else(|e| panic!("not one JSON value ({e}):\n{out}"));
    assert!(v.is_object(), "not a JSON object:\n{out}");
    assert_eq!(out.lines().count(), 1, "one line:\n{out}");
    assert!(v["version"].is_u64(), "no version: {v}");
    v
}

/// One more process for a race across processes: this test binary again, running only the
/// ignored helper test `test` (its path in the runner, e.g. `test_task::race_child`), which
/// reads its part of the race from the variables the caller sets. Its stdout and stderr are
/// piped, for the parent to read with `wait_with_output`.
pub fn race_process(test: &str) -> Command {
    let exe = std::env::current_exe().expect("the test binary");
    let mut cmd = Command::new(exe);
    cmd.args([
        "--exact",
        test,
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    cmd
}

/// Writes `text` to `path` as an executable file (a hook, a script standing in for a program).
pub fn write_executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// Installs the person's own hook `name` in `.git/hooks` (executable); returns its path.
pub fn user_hook(env: &TestEnv, name: &str, text: &str) -> PathBuf {
    let hook = env.repo.join(".git/hooks").join(name);
    write_executable(&hook, text);
    hook
}

/// Every file under `dir` (none if it does not exist), sorted.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// What a child writes to `pipe`, gathered line by line on a thread as it comes: the text so
/// far (for polling while the child runs) and the thread, which ends when the pipe closes.
pub fn collect_lines(
    pipe: impl std::io::Read + Send + 'static,
) -> (
    std::sync::Arc<std::sync::Mutex<String>>,
    std::thread::JoinHandle<()>,
) {
    use std::io::BufRead;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let seen = std::sync::Arc::clone(&seen);
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut s = seen.lock().expect("lock");
                s.push_str(&line);
                s.push('\n');
            }
        })
    };
    (seen, reader)
}
