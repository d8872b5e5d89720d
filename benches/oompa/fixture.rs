//! Scratch space, hermetic environment, repositories and process helpers shared by every
//! measurement.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use oompa::git::Repo;
use oompa::store::record::CycleRecord;
use oompa::store::{Queue, TASK_VERSION, Task, TaskId};

/// The instant agent: turn 1 claims this cycle's task (`<worker>-c<cycle>`), the resumed turn
/// writes one new file and asks to land. Run by the `exec:` harness in git oompa and by the
/// baseline driver the same way (`sh -c '. agent.sh'`), so both sides pay the same agent cost.
const AGENT: &str = r#"# Instant agent for the git oompa benchmark.
if [ -z "${OOMPA_RESUME:-}" ]; then
  echo "CLAIM($OOMPA_WORKER-c$OOMPA_CYCLE)"
else
  echo "change from $OOMPA_WORKER, cycle $OOMPA_CYCLE" > "change-$OOMPA_WORKER-$OOMPA_CYCLE.txt"
  echo COMPLETE_AND_READY_FOR_MERGE
fi
"#;

/// Where scratch repositories go: tmpfs when there is one (this VM's disk is slow at
/// creating files), else the system temp dir.
pub fn tmp_base() -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() {
        shm
    } else {
        std::env::temp_dir()
    }
}

/// One run of the harness: its scratch directory (removed at the end) and the binaries.
pub struct Bench {
    pub dir: PathBuf,
    /// Generated data kept between runs (the 100,000-record log).
    pub cache: PathBuf,
    /// The release `git-oompa` binary cargo built for this bench.
    pub bin: PathBuf,
    pub agent: PathBuf,
}

impl Bench {
    pub fn new() -> Bench {
        let base = tmp_base();
        let dir = base.join(format!("oompa-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("home")).expect("creating the scratch directory");
        let cache = base.join("oompa-bench-cache");
        std::fs::create_dir_all(&cache).expect("creating the cache directory");
        let agent = dir.join("agent.sh");
        std::fs::write(&agent, AGENT).expect("writing the agent");
        hermetic(&dir.join("home"));
        Bench {
            dir,
            cache,
            bin: PathBuf::from(env!("CARGO_BIN_EXE_git-oompa")),
            agent,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The `model` of a worker running the instant agent.
    pub fn agent_model(&self) -> String {
        format!("exec:. {}", self.agent.display())
    }

    /// `git-oompa <args>` in `dir`.
    pub fn oompa(&self, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.current_dir(dir).args(args).stdin(Stdio::null());
        cmd
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every git and git-oompa process of the run (and gix inside this one) sees no user or
/// system config, a throw-away HOME, and a fixed identity.
fn hermetic(home: &Path) {
    let inherited: Vec<_> = std::env::vars_os()
        .map(|(k, _)| k)
        .filter(|k| {
            let k = k.to_string_lossy();
            k.starts_with("GIT_") || k.starts_with("OOMPA_")
        })
        .collect();
    let set = [
        ("HOME", home.as_os_str().to_owned()),
        ("XDG_CONFIG_HOME", home.join(".config").into_os_string()),
        ("GIT_CONFIG_GLOBAL", "/dev/null".into()),
        ("GIT_CONFIG_SYSTEM", "/dev/null".into()),
        ("GIT_CONFIG_NOSYSTEM", "1".into()),
        ("GIT_TERMINAL_PROMPT", "0".into()),
        ("LC_ALL", "C".into()),
        ("NO_COLOR", "1".into()),
        ("RUST_LOG", "off".into()),
    ];
    // SAFETY: called from `main` before the harness starts any thread.
    unsafe {
        for k in inherited {
            std::env::remove_var(k);
        }
        for (k, v) in set {
            std::env::set_var(k, v);
        }
    }
}

/// Runs `git <args>` in `dir`; panics with git's message when it fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running git");
    assert!(
        out.status.success(),
        "git {} failed in {}: {}",
        args.join(" "),
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `git <args>` in `dir`, returning whether it succeeded (output discarded).
pub fn git_ok(dir: &Path, args: &[&str]) -> bool {
    Command::new("git")
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A repository at `dir` with `files` tracked files (plus a README) in one commit on `main`,
/// its objects packed, automatic gc off (so no `gc --auto` lands inside a timed loop).
pub fn make_repo(dir: &Path, files: usize) {
    std::fs::create_dir_all(dir).expect("mkdir repo");
    git(dir, &["init", "-q", "-b", "main"]);
    for (k, v) in [
        ("user.name", "Bench"),
        ("user.email", "bench@example.invalid"),
        ("gc.auto", "0"),
        ("maintenance.auto", "false"),
    ] {
        git(dir, &["config", k, v]);
    }
    std::fs::write(dir.join("README.md"), "# benchmark project\n").expect("write");
    let line = "fn placeholder() -> usize { 42 } // a line of a source file\n";
    for i in 0..files {
        let sub = dir.join(format!("src/d{:03}", i / 100));
        if i % 100 == 0 {
            std::fs::create_dir_all(&sub).expect("mkdir");
        }
        let body = format!("// file {i}\n{}", line.repeat(12));
        std::fs::write(sub.join(format!("f{:03}.rs", i % 100)), body).expect("write");
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "initial commit"]);
    git(dir, &["repack", "-adq"]);
    git(dir, &["prune-packed"]);
}

/// `cp -a from to` (a repository and its checkout).
pub fn copy_dir(from: &Path, to: &Path) {
    let ok = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "cp -a {} {}", from.display(), to.display());
}

/// `git oompa init` plus one pending task `<worker>-c<cycle>` for every worker and cycle, added
/// through the library in one commit.
pub fn prepare_oompa_repo(bench: &Bench, dir: &Path, workers: usize, cycles: u32) {
    let out = bench
        .oompa(dir, &["init"])
        .output()
        .expect("git oompa init");
    assert!(
        out.status.success(),
        "git oompa init: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let repo = Repo::discover(dir).expect("open repo");
    let tasks: Vec<Task> = task_ids(workers, cycles)
        .iter()
        .map(|id| task(id))
        .collect();
    Queue::new(&repo)
        .add(&tasks, "bench")
        .expect("adding tasks");
}

/// `w0-c1`, `w0-c2`, …, `w1-c1`, …: the ids the instant agent claims.
pub fn task_ids(workers: usize, cycles: u32) -> Vec<String> {
    (0..workers)
        .flat_map(|w| (1..=cycles).map(move |c| format!("w{w}-c{c}")))
        .collect()
}

pub fn task(id: &str) -> Task {
    Task {
        version: TASK_VERSION,
        id: TaskId::new(id).expect("valid id"),
        summary: format!("Benchmark task {id}"),
        description: "Write one new file.".into(),
        difficulty: None,
        files: Vec::new(),
        acceptance: Vec::new(),
        created: "2026-01-01T00:00:00Z".into(),
        created_by: "bench".into(),
        claim: None,
        landed: None,
        extra: Default::default(),
    }
}

/// Waits for `child`, sampling its peak resident set (VmHWM) from /proc every 10 ms.
/// Returns its exit success, the peak in KiB (when /proc could be read) and what it wrote
/// on stderr (which must be piped).
pub fn wait_with_peak(mut child: Child) -> (bool, Option<u64>, String) {
    let status_path = format!("/proc/{}/status", child.id());
    let mut stderr = child.stderr.take().expect("piped stderr");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut peak = None;
    let status = loop {
        if let Some(kb) = vm_hwm(&status_path) {
            peak = Some(peak.unwrap_or(0).max(kb));
        }
        match child.try_wait().expect("waiting for a child") {
            Some(status) => break status,
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    let stderr = reader.join().unwrap_or_default();
    (status.success(), peak, stderr)
}

fn vm_hwm(status_path: &str) -> Option<u64> {
    let text = std::fs::read_to_string(status_path).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// From the first cycle's start to the last cycle's end.
pub fn wall_span<'a>(records: impl Iterator<Item = &'a CycleRecord> + Clone) -> Duration {
    let first = records
        .clone()
        .filter_map(|r| r.started.parse::<jiff::Timestamp>().ok())
        .min()
        .expect("cycle start times");
    let last = records
        .filter_map(|r| r.ended.parse::<jiff::Timestamp>().ok())
        .max()
        .expect("cycle end times");
    Duration::try_from(last.duration_since(first)).unwrap_or(Duration::ZERO)
}

/// The last `n` lines of a text, for failure messages.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
