//! Supervision of one agent process: its own process group, stdin delivery, streamed and
//! bounded stdout/stderr, wall-clock timeout, kill flag, and cleanup of stragglers.
//!
//! Owns the child from spawn to reaping. Memory stays bounded whatever the child prints: output
//! goes to the transcript as it arrives and only tails and parser state are kept. It must never
//! block forever: not on a child that ignores SIGTERM, not on a background grandchild holding
//! the pipes open, not on a child that never reads its stdin. It knows nothing about harnesses
//! and never prints.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, SigmaskHow, Signal, killpg, pthread_sigmask};
use nix::unistd::Pid;

use super::output::{LINE_MAX, LineSplitter, OutputParser, Parsed, STDERR_TAIL_MAX, Tail};
use super::transcript::CappedFile;
use super::turn::Exit;

/// How often the supervisor looks at the child, the deadline and the kill flag.
const POLL: Duration = Duration::from_millis(25);
/// The first poll interval; it doubles up to [`POLL`], so a quick agent is noticed within a
/// millisecond or two and a long one costs no more than a check every 25 ms.
const FIRST_POLL: Duration = Duration::from_millis(1);
/// Between SIGTERM and SIGKILL when we stop an agent.
const TERM_GRACE: Duration = Duration::from_secs(3);
/// After the main child exits: how long its output may keep draining before we end the group.
const DRAIN_GRACE: Duration = Duration::from_millis(500);
/// Between SIGTERM and SIGKILL for stragglers left after the main child exited.
const STRAGGLER_GRACE: Duration = Duration::from_secs(1);
/// After the group is gone: how long we wait for the readers before leaving them behind.
const DETACH_GRACE: Duration = Duration::from_secs(1);

/// One process to run.
pub(crate) struct ProcessSpec<'a> {
    pub program: &'a Path,
    pub args: &'a [OsString],
    pub cwd: &'a Path,
    pub env: &'a [(String, String)],
    pub env_remove: &'a [String],
    /// Written to stdin from a thread, then closed; `None` means /dev/null.
    pub stdin: Option<String>,
    pub timeout: Duration,
    pub kill: Option<&'a AtomicBool>,
    pub transcript: Option<CappedFile>,
    pub parser: Option<Box<dyn OutputParser>>,
    /// How many bytes of stdout to keep.
    pub stdout_tail: usize,
}

/// How it ended and what we kept.
#[derive(Debug)]
pub(crate) struct Finished {
    pub exit: Exit,
    pub duration: Duration,
    pub stdout_tail: String,
    pub stderr_tail: String,
    /// `None` when no parser was given.
    pub parsed: Option<Parsed>,
}

/// Where both readers append the raw output. Dropped (closed) when the turn ends, even if a
/// reader is left behind on a pipe some escaped process still holds.
struct Sink {
    transcript: Mutex<Option<CappedFile>>,
    closed: AtomicBool,
}

impl Sink {
    fn write(&self, bytes: &[u8]) {
        let mut guard = lock(&self.transcript);
        if let Some(file) = guard.as_mut()
            && let Err(e) = file.write(bytes)
        {
            tracing::warn!(error = %e, "cannot write the agent transcript; dropping the rest");
            *guard = None;
        }
    }
}

impl Sink {
    /// Closes the transcript, putting a capped one's tail in order.
    fn finish(&self) {
        if let Some(file) = lock(&self.transcript).take() {
            match file.finish() {
                Ok(0) => {}
                Ok(cut) => tracing::debug!(cut, "the turn's transcript was capped"),
                Err(e) => tracing::warn!(error = %e, "cannot finish the agent transcript"),
            }
        }
    }
}

struct StdoutState {
    splitter: LineSplitter,
    tail: Tail,
    parser: Option<Box<dyn OutputParser>>,
}

/// Runs the process to completion, timeout or kill. `Err` only when it could not be started.
pub(crate) fn supervise(spec: ProcessSpec) -> io::Result<Finished> {
    let mut cmd = Command::new(spec.program);
    cmd.args(spec.args)
        .current_dir(spec.cwd)
        .process_group(0)
        .stdin(if spec.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for key in spec.env_remove {
        cmd.env_remove(key);
    }
    cmd.envs(spec.env.iter().map(|(k, v)| (k, v)));

    let started = Instant::now();
    let mut child = cmd.spawn()?;
    let pgid = Pid::from_raw(i32::try_from(child.id()).expect("pids fit in i32"));
    let sink = Arc::new(Sink {
        transcript: Mutex::new(spec.transcript),
        closed: AtomicBool::new(false),
    });
    let stdout = Arc::new(Mutex::new(StdoutState {
        splitter: LineSplitter::new(LINE_MAX),
        tail: Tail::new(spec.stdout_tail),
        parser: spec.parser,
    }));
    let stderr = Arc::new(Mutex::new(Tail::new(STDERR_TAIL_MAX)));

    let threads = start_threads(&mut child, spec.stdin, &sink, &stdout, &stderr);
    let readers = match threads {
        Ok(readers) => readers,
        Err(e) => {
            signal_group(pgid, Signal::SIGKILL);
            let _ = child.wait();
            return Err(e);
        }
    };

    // A timeout too large to represent (`Duration::MAX`) means no deadline.
    let deadline = started.checked_add(spec.timeout);
    let (status, stopped) = match wait_main(&mut child, pgid, deadline, spec.kill) {
        Ok(waited) => waited,
        Err(e) => {
            signal_group(pgid, Signal::SIGKILL);
            let _ = child.wait();
            sink.closed.store(true, Ordering::SeqCst);
            sink.finish();
            return Err(e);
        }
    };
    end_group(pgid, &readers);
    sink.closed.store(true, Ordering::SeqCst);
    sink.finish();
    let all_done = readers.iter().all(JoinHandle::is_finished);
    if all_done {
        for r in readers {
            let _ = r.join();
        }
    } else {
        tracing::warn!(
            pid = pgid.as_raw(),
            "agent output still held open by an escaped process; not waiting for it"
        );
    }

    let mut out = lock(&stdout);
    let parsed = out.parser.as_mut().map(|p| p.finish());
    Ok(Finished {
        exit: stopped.unwrap_or_else(|| exit_of(status)),
        duration: started.elapsed(),
        stdout_tail: out.tail.text(),
        stderr_tail: lock(&stderr).text(),
        parsed,
    })
}

fn start_threads(
    child: &mut Child,
    stdin_payload: Option<String>,
    sink: &Arc<Sink>,
    stdout: &Arc<Mutex<StdoutState>>,
    stderr: &Arc<Mutex<Tail>>,
) -> io::Result<Vec<JoinHandle<()>>> {
    if let (Some(mut pipe), Some(payload)) = (child.stdin.take(), stdin_payload) {
        // Detached: a child that never reads must not block us; the write ends with EPIPE
        // when the process group is gone.
        thread::Builder::new()
            .name("agent-stdin".into())
            .spawn(move || {
                // SIGPIPE is thread-directed: blocked here, a closed pipe is just EPIPE even if the
                // binary restored the default SIGPIPE action.
                let mut pipe_only = SigSet::empty();
                pipe_only.add(Signal::SIGPIPE);
                let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&pipe_only), None);
                let _ = pipe.write_all(payload.as_bytes());
            })?;
    }
    let out_pipe: ChildStdout = child.stdout.take().expect("stdout was piped");
    let err_pipe: ChildStderr = child.stderr.take().expect("stderr was piped");
    let (sink_o, state) = (Arc::clone(sink), Arc::clone(stdout));
    let out = thread::Builder::new()
        .name("agent-stdout".into())
        .spawn(move || {
            pump(out_pipe, &sink_o, |chunk| {
                let mut guard = lock(&state);
                let StdoutState {
                    splitter,
                    tail,
                    parser,
                } = &mut *guard;
                tail.push(chunk);
                if let Some(parser) = parser {
                    splitter.feed(chunk, &mut |line| {
                        parser.line(&String::from_utf8_lossy(line))
                    });
                }
            });
            let mut guard = lock(&state);
            let StdoutState {
                splitter, parser, ..
            } = &mut *guard;
            if let Some(parser) = parser {
                splitter.finish(&mut |line| parser.line(&String::from_utf8_lossy(line)));
            }
        })?;
    let (sink_e, tail) = (Arc::clone(sink), Arc::clone(stderr));
    let err = thread::Builder::new()
        .name("agent-stderr".into())
        .spawn(move || pump(err_pipe, &sink_e, |chunk| lock(&tail).push(chunk)))?;
    Ok(vec![out, err])
}

/// Copies a pipe to the transcript and `on_chunk` until EOF or until the turn is closed.
fn pump(mut pipe: impl Read, sink: &Sink, mut on_chunk: impl FnMut(&[u8])) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match pipe.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        if sink.closed.load(Ordering::SeqCst) {
            return;
        }
        sink.write(&buf[..n]);
        on_chunk(&buf[..n]);
    }
}

/// Waits for the main child, stopping its group on timeout or kill. Returns its status and,
/// when we stopped it, why.
fn wait_main(
    child: &mut Child,
    pgid: Pid,
    deadline: Option<Instant>,
    kill: Option<&AtomicBool>,
) -> io::Result<(ExitStatus, Option<Exit>)> {
    let mut stopped: Option<(Exit, Instant)> = None;
    let mut sent_kill = false;
    let mut pause = FIRST_POLL;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok((status, stopped.map(|(why, _)| why)));
        }
        let now = Instant::now();
        match stopped {
            None => {
                let why = if kill.is_some_and(|k| k.load(Ordering::SeqCst)) {
                    Some(Exit::Killed)
                } else if deadline.is_some_and(|d| now >= d) {
                    Some(Exit::TimedOut)
                } else {
                    None
                };
                if let Some(why) = why {
                    tracing::debug!(pid = pgid.as_raw(), ?why, "stopping agent process group");
                    signal_group(pgid, Signal::SIGTERM);
                    stopped = Some((why, now));
                }
            }
            Some((_, at)) if !sent_kill && now >= at + TERM_GRACE => {
                signal_group(pgid, Signal::SIGKILL);
                sent_kill = true;
            }
            Some(_) => {}
        }
        thread::sleep(pause);
        pause = (pause * 2).min(POLL);
    }
}

/// After the main child exited: let the output drain briefly, then end whatever is left of
/// its process group (SIGTERM, then SIGKILL) and give the readers a last moment.
fn end_group(pgid: Pid, readers: &[JoinHandle<()>]) {
    let done = || readers.iter().all(JoinHandle::is_finished);
    wait_until(DRAIN_GRACE, done);
    if group_alive(pgid) {
        tracing::debug!(
            pid = pgid.as_raw(),
            "ending processes the agent left behind"
        );
        signal_group(pgid, Signal::SIGTERM);
        if !wait_until(STRAGGLER_GRACE, || !group_alive(pgid)) {
            signal_group(pgid, Signal::SIGKILL);
        }
    }
    wait_until(DETACH_GRACE, done);
}

/// Polls `cond` until it holds or `limit` passes; returns whether it held.
fn wait_until(limit: Duration, cond: impl Fn() -> bool) -> bool {
    let end = Instant::now() + limit;
    let mut pause = FIRST_POLL;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        thread::sleep(pause);
        pause = (pause * 2).min(POLL);
    }
}

fn signal_group(pgid: Pid, signal: Signal) {
    // ESRCH just means the group is already gone.
    let _ = killpg(pgid, signal);
}

/// Whether any live (non-zombie) process is left in the group.
///
/// `kill(-pgid, 0)` also succeeds for zombies, which pile up where PID 1 does not reap orphans
/// (containers without an init), so on Linux we look at `/proc` instead.
pub(crate) fn group_alive(pgid: Pid) -> bool {
    #[cfg(target_os = "linux")]
    if let Ok(dir) = std::fs::read_dir("/proc") {
        return dir.flatten().any(|entry| {
            let name = entry.file_name();
            let is_pid = name
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
            is_pid
                && std::fs::read_to_string(entry.path().join("stat"))
                    .is_ok_and(|stat| live_member(&stat, pgid.as_raw()))
        });
    }
    killpg(pgid, None).is_ok()
}

/// Parses `/proc/<pid>/stat` (`pid (comm) state ppid pgrp ...`; `comm` may contain spaces and
/// parentheses, hence the last `)`).
fn live_member(stat: &str, pgid: i32) -> bool {
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return false;
    };
    let mut fields = rest.split_whitespace();
    let state = fields.next();
    let pgrp = fields.nth(1).and_then(|f| f.parse::<i32>().ok());
    pgrp == Some(pgid) && !matches!(state, Some("Z" | "X" | "x"))
}

fn exit_of(status: ExitStatus) -> Exit {
    match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(sig)) => Exit::Signal(sig),
        (None, None) => Exit::Code(-1),
    }
}

/// Locks a mutex, recovering the data if a reader thread panicked while holding it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
#[path = "process_tests.rs"]
mod tests;
