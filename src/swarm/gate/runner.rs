//! One gate run: check the candidate out (detached) in the worktree of the change it ends
//! with, run each command with `sh -c` in its own process group, retry a failure; then (after
//! the result is reported, so a landing never waits for it) put the worktree back on the
//! worker's branch.
//!
//! Owns the commands' processes, their output files under the swarm's transcript directory,
//! and the bounded tail a failure shows. It never touches a ref (the candidate is checked out
//! detached; the worker's branch is never moved) and never decides what lands.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::agent::Exit;
use crate::agent::process::{ProcessSpec, supervise};
use crate::config::GateConfig;
use crate::git::{ObjectId, cli};

/// The most of a failure's output an agent is shown: its last lines…
pub(crate) const TAIL_LINES: usize = 200;
/// …and at most this many bytes of them.
pub(crate) const TAIL_BYTES: usize = 16 * 1024;

/// Everything a run needs, owned so it can go to its thread.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub run: u64,
    pub candidate: ObjectId,
    pub base: ObjectId,
    /// The worktree to run in, and the branch (short name) to put it back on.
    pub worktree: PathBuf,
    pub branch: String,
    /// Untracked files copied into every worktree, from `root`.
    pub copy: Vec<String>,
    pub root: PathBuf,
    pub workers: Vec<String>,
    pub tasks: Vec<String>,
    pub swarm: String,
    /// The target branch's short name.
    pub target: String,
    /// Where the output files go.
    pub output_dir: PathBuf,
    pub gate: GateConfig,
    pub cancel: Arc<AtomicBool>,
    /// The most bytes of one command's output its file keeps (head and tail).
    pub output_max: u64,
}

/// How one attempt went.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    pub number: u32,
    /// `passed`, `failed`, `timed-out`, `cancelled` or `error`.
    pub result: &'static str,
    pub commands: Vec<String>,
    /// How the last command ended, when it did not pass.
    pub status: Option<String>,
    pub started: jiff::Timestamp,
    pub duration: Duration,
    pub output: PathBuf,
    pub flaky: bool,
}

/// How the run went.
#[derive(Debug, Clone)]
pub(crate) struct Ended {
    pub run: u64,
    pub passed: bool,
    pub attempts: Vec<Attempt>,
    /// The failing command of the last attempt.
    pub failed_command: Option<String>,
    /// The end of the last attempt's output (bounded), for a failure.
    pub tail: String,
    /// Paths the failure's output names (relative to the worktree).
    pub mentioned: BTreeSet<String>,
}

impl Ended {
    /// A run that failed before any attempt (its thread could not start, or crashed), saying
    /// why in its `tail`.
    pub(crate) fn without_attempts(run: u64, tail: String) -> Ended {
        Ended {
            run,
            passed: false,
            attempts: Vec::new(),
            failed_command: None,
            tail,
            mentioned: BTreeSet::new(),
        }
    }
}

/// Runs the job to the end (pass, failure after retries, cancel). The worktree is left on the
/// candidate: [`restore`] gives it back.
pub(crate) fn run(job: &Job) -> Ended {
    let mut ended = Ended::without_attempts(job.run, String::new());
    let prepared = cli::checkout_detached(&job.worktree, job.candidate).map(|()| copy_in(job));
    match prepared {
        Err(e) => {
            let output = job.output_dir.join(format!("run-{}.log", job.run));
            let text = format!(
                "could not check out {} in {}: {e}\n",
                job.candidate,
                job.worktree.display()
            );
            let _ = std::fs::create_dir_all(&job.output_dir);
            let _ = std::fs::write(&output, &text);
            ended.attempts.push(Attempt {
                number: 1,
                result: "error",
                commands: Vec::new(),
                status: Some(text.trim().to_string()),
                started: jiff::Timestamp::now(),
                duration: Duration::ZERO,
                output,
                flaky: false,
            });
            ended.tail = text;
        }
        Ok(()) => attempts(job, &mut ended),
    }
    ended
}

/// Puts the worktree back on the worker's branch, without what the run left. Returns why it
/// could not.
pub(crate) fn restore(job: &Job) -> Option<String> {
    cli::checkout_branch(&job.worktree, &job.branch)
        .map(|()| copy_in(job))
        .err()
        .map(|e| e.to_string())
}

fn attempts(job: &Job, ended: &mut Ended) {
    let tries = job.gate.retries.saturating_add(1);
    let mut failed_before = false;
    for number in 1..=tries {
        let attempt = one_attempt(job, number, failed_before);
        let result = attempt.0.result;
        let (a, failed_command) = attempt;
        ended.attempts.push(a);
        match result {
            "passed" => {
                ended.passed = true;
                ended.failed_command = None;
                ended.tail.clear();
                ended.mentioned.clear();
                return;
            }
            "cancelled" => return,
            _ => {
                failed_before = true;
                ended.failed_command = failed_command;
                let last = ended.attempts.last().expect("just pushed");
                ended.tail = tail(&last.output);
                ended.mentioned = mentioned_paths(&ended.tail, &job.worktree);
            }
        }
        if job.cancel.load(Ordering::SeqCst) {
            return;
        }
    }
}

/// One pass over the commands. Returns the attempt and the command that failed.
fn one_attempt(job: &Job, number: u32, failed_before: bool) -> (Attempt, Option<String>) {
    let started = jiff::Timestamp::now();
    let clock = Instant::now();
    let output = job
        .output_dir
        .join(format!("run-{}-attempt-{number}.log", job.run));
    let mut attempt = Attempt {
        number,
        result: "passed",
        commands: Vec::new(),
        status: None,
        started,
        duration: Duration::ZERO,
        output: output.clone(),
        flaky: false,
    };
    let mut file = match open_output(&job.output_dir, &output) {
        Ok(f) => f,
        Err(e) => {
            attempt.result = "error";
            attempt.status = Some(format!("cannot write {}: {e}", output.display()));
            return (attempt, None);
        }
    };
    let _ = writeln!(
        file,
        "# git oompa gate run {} attempt {number}: {} on {} (base {}), changes of {}",
        job.run,
        job.candidate,
        job.target,
        job.base,
        job.workers.join(", ")
    );
    let env = environment(job, number);
    for command in &job.gate.commands {
        attempt.commands.push(command.clone());
        let remaining = job.gate.timeout.saturating_sub(clock.elapsed());
        let _ = writeln!(file, "$ {command}");
        let stopped = match run_command(job, command, &file, &env, remaining) {
            Ok(exit) => {
                let _ = file.seek(SeekFrom::End(0));
                note_exit(&mut file, exit, job.gate.timeout)
            }
            Err(e) => {
                let _ = writeln!(file, "# could not start sh: {e}");
                Some(("error", format!("could not start sh: {e}")))
            }
        };
        if let Some((result, status)) = stopped {
            attempt.result = result;
            attempt.status = Some(status);
            break;
        }
    }
    attempt.duration = clock.elapsed();
    attempt.flaky = attempt.result == "passed" && failed_before;
    let failed = match attempt.result {
        "passed" | "cancelled" => None,
        _ => attempt.commands.last().cloned(),
    };
    (attempt, failed)
}

/// An attempt's output file, empty.
fn open_output(dir: &Path, output: &Path) -> std::io::Result<std::fs::File> {
    std::fs::create_dir_all(dir).and_then(|()| {
        // Read and write, not append: the capped output writes its tail at offsets.
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(output)
    })
}

/// Runs one command with `sh -c` in the worktree, its output going to `file` (capped), within
/// what is left of the attempt's time. `Err` when `sh` could not be started.
fn run_command(
    job: &Job,
    command: &str,
    file: &std::fs::File,
    env: &[(String, String)],
    remaining: Duration,
) -> std::io::Result<Exit> {
    let sh = PathBuf::from("sh");
    let transcript = file
        .try_clone()
        .ok()
        .and_then(|f| crate::agent::transcript::CappedFile::new(f, job.output_max).ok());
    let args = [OsString::from("-c"), OsString::from(command)];
    let spec = ProcessSpec {
        program: &sh,
        args: &args,
        cwd: &job.worktree,
        env,
        env_remove: &[],
        stdin: None,
        timeout: remaining.max(Duration::from_millis(1)),
        kill: Some(&job.cancel),
        transcript,
        parser: None,
        stdout_tail: 0,
        // Whatever a gate command leaves running in the worktree ends with the run.
        sweep: Some(&job.worktree),
        stop_on_stderr: None,
    };
    supervise(spec).map(|f| f.exit)
}

/// Notes how a command ended in the output file. Returns the attempt's result and status when
/// it ends the attempt (anything but exit 0).
fn note_exit(
    file: &mut std::fs::File,
    exit: Exit,
    timeout: Duration,
) -> Option<(&'static str, String)> {
    match exit {
        Exit::Code(0) => {
            let _ = writeln!(file, "# exit 0");
            None
        }
        Exit::Killed => {
            let _ = writeln!(file, "# cancelled");
            Some(("cancelled", "cancelled".into()))
        }
        Exit::TimedOut => {
            let limit = human(timeout);
            let _ = writeln!(file, "# timed out after {limit}");
            Some(("timed-out", format!("timed out after {limit}")))
        }
        other => {
            let _ = writeln!(file, "# {other}");
            Some(("failed", other.to_string()))
        }
    }
}

/// The commands' environment: the swarm's, then what says what is being gated, then `env`.
fn environment(job: &Job, attempt: u32) -> Vec<(String, String)> {
    let mut env = vec![
        (crate::agent_env::GATE.to_string(), "1".to_string()),
        (
            crate::agent_env::CANDIDATE.into(),
            job.candidate.to_string(),
        ),
        (crate::agent_env::BASE.into(), job.base.to_string()),
        (crate::agent_env::TARGET.into(), job.target.clone()),
        (crate::agent_env::SWARM.into(), job.swarm.clone()),
        (crate::agent_env::GATE_WORKERS.into(), job.workers.join(" ")),
        (crate::agent_env::GATE_TASKS.into(), job.tasks.join(" ")),
        (crate::agent_env::GATE_RUN.into(), job.run.to_string()),
        (crate::agent_env::GATE_ATTEMPT.into(), attempt.to_string()),
    ];
    env.extend(job.gate.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// Copies the configured untracked files (`.env`) into the worktree, as a cycle's refresh does.
fn copy_in(job: &Job) {
    for rel in &job.copy {
        let from = job.root.join(rel);
        if from.is_file() {
            let to = job.worktree.join(rel);
            if let Some(dir) = to.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = std::fs::copy(&from, &to);
        }
    }
}

/// The end of an output file: its last [`TAIL_LINES`] lines, at most [`TAIL_BYTES`] bytes.
pub(crate) fn tail(path: &Path) -> String {
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let from = len.saturating_sub(TAIL_BYTES as u64 * 2);
    let _ = f.seek(SeekFrom::Start(from));
    let mut buf = Vec::new();
    let _ = f.take(TAIL_BYTES as u64 * 2).read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    bounded_tail(&text)
}

/// The last [`TAIL_LINES`] lines of `text`, cut to [`TAIL_BYTES`] at a line start when it can.
pub(crate) fn bounded_tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(TAIL_LINES);
    let mut out = lines[start..].join("\n");
    if out.len() > TAIL_BYTES {
        let mut cut = out.len() - TAIL_BYTES;
        while !out.is_char_boundary(cut) {
            cut += 1;
        }
        let rest = &out[cut..];
        let rest = rest.find('\n').map_or(rest, |i| &rest[i + 1..]);
        out = rest.to_string();
    }
    out
}

/// Relative paths the output names: tokens that look like `dir/file.ext` or `file.ext`, with
/// `:line:col` suffixes and the worktree's own absolute prefix removed.
pub(crate) fn mentioned_paths(text: &str, worktree: &Path) -> BTreeSet<String> {
    let prefix = format!("{}/", worktree.display());
    let mut out = BTreeSet::new();
    for raw in text.split(|c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '\'' | '"' | '`' | '(' | ')' | '[' | ']' | '<' | '>' | ',' | '='
            )
    }) {
        let token = raw.strip_prefix(prefix.as_str()).unwrap_or(raw);
        let token = token.split(':').next().unwrap_or("");
        let token = token.trim_start_matches("./").trim_end_matches(['.', ';']);
        let looks_like_path = !token.is_empty()
            && token.len() <= 4096
            && !token.starts_with('/')
            && !token.starts_with('-')
            && !token.contains("..")
            && (token.contains('/') || token.contains('.'))
            && token
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '+' | '@'));
        if looks_like_path {
            out.insert(token.to_string());
        }
    }
    out
}

/// `850ms`, `42s`, `30m`, `1h30m`.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{}ms", d.as_millis()),
        1..60 => format!("{s}s"),
        _ if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        60..3600 if s.is_multiple_of(60) => format!("{}m", s / 60),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_keep_the_last_lines_within_bounds() {
        let text: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        let t = bounded_tail(&text);
        assert_eq!(t.lines().count(), TAIL_LINES);
        assert!(t.ends_with("line 999"));
        let wide: String = (0..300)
            .map(|i| format!("{i} {}\n", "x".repeat(200)))
            .collect();
        let t = bounded_tail(&wide);
        assert!(t.len() <= TAIL_BYTES, "{}", t.len());
        assert!(t.starts_with(char::is_numeric), "cut at a line start");
    }

    #[test]
    fn failures_name_paths_the_way_compilers_and_test_runners_print_them() {
        let out = "error[E0308]: mismatched types\n --> src/lib.rs:12:5\n\
                   FAILED tests/test_x.py::test_y - AssertionError\n\
                   /wt/w0/pkg/a.go:3: undefined: x\n\
                   see `gate/break-w0` (and https://example.invalid/x)\n\
                   test result: FAILED. 1 passed; 1 failed\n";
        let m = mentioned_paths(out, Path::new("/wt/w0"));
        for p in ["src/lib.rs", "tests/test_x.py", "pkg/a.go", "gate/break-w0"] {
            assert!(m.contains(p), "{p} in {m:?}");
        }
        assert!(!m.iter().any(|p| p.starts_with("https")), "{m:?}");
    }
}
