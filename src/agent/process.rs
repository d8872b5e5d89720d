//! Supervision of one agent process: its own process group, stdin delivery, streamed and
//! bounded stdout/stderr, wall-clock timeout, kill flag, and cleanup of stragglers: when a run
//! ends, its whole process group is ended (SIGTERM, then SIGKILL), and so is every process
//! that left the group (`setsid`, job control) but still carries the run's token
//! ([`TOKEN_VAR`]) or, started during the run, works inside its sweep directory.
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
use super::types::Exit;

/// Stderr lines longer than this are not matched against [`ProcessSpec::stop_on_stderr`].
const STDERR_LINE_MAX: usize = 64 * 1024;
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

/// The variable every process of one run gets, with a value unique to the run; its
/// descendants inherit it, so the ones that left the process group can still be found.
pub(crate) const TOKEN_VAR: &str = crate::agent_env::TURN_TOKEN;
/// Rounds of looking for escaped processes (each round may find children the previous one's
/// processes forked while being ended).
const ESCAPE_ROUNDS: usize = 4;

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
    /// When set (an agent's worktree), processes started during the run whose working
    /// directory is inside it are ended with the run, even without the run's token.
    pub sweep: Option<&'a Path>,
    /// A stderr line for which this is true ends the run at once (a CLI retrying a usage limit
    /// by itself); the line is in [`Finished::stopped_by`].
    pub stop_on_stderr: Option<StderrStop>,
}

/// See [`ProcessSpec::stop_on_stderr`].
pub(crate) type StderrStop = fn(&str) -> bool;

/// How it ended and what we kept.
#[derive(Debug)]
pub(crate) struct Finished {
    pub exit: Exit,
    pub duration: Duration,
    pub stdout_tail: String,
    pub stderr_tail: String,
    /// `None` when no parser was given.
    pub parsed: Option<Parsed>,
    /// Processes that had left the run's process group and were still running when it
    /// ended (`<pid> <command>`); they were ended too.
    pub escaped: Vec<String>,
    /// The stderr line that stopped the run ([`ProcessSpec::stop_on_stderr`]); its exit is
    /// then [`Exit::Killed`].
    pub stopped_by: Option<String>,
}

/// What the stderr reader watches for, and what it found.
struct StderrState {
    tail: Tail,
    splitter: LineSplitter,
    stop: Option<StderrStop>,
    hit: Option<String>,
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
    let token = uuid::Uuid::new_v4().to_string();
    let mut cmd = command(&spec, &token);
    let started = Instant::now();
    let mut child = cmd.spawn()?;
    let pgid = Pid::from_raw(i32::try_from(child.id()).expect("pids fit in i32"));
    let escape = Escape {
        token,
        since: start_time(pgid.as_raw()).unwrap_or(0),
        dir: spec
            .sweep
            .map(|d| d.canonicalize().unwrap_or_else(|_| d.to_path_buf())),
    };
    let sink = Arc::new(Sink {
        transcript: Mutex::new(spec.transcript),
        closed: AtomicBool::new(false),
    });
    let stdout = Arc::new(Mutex::new(StdoutState {
        splitter: LineSplitter::new(LINE_MAX),
        tail: Tail::new(spec.stdout_tail),
        parser: spec.parser,
    }));
    let stderr = Arc::new(Mutex::new(StderrState {
        tail: Tail::new(STDERR_TAIL_MAX),
        splitter: LineSplitter::new(STDERR_LINE_MAX),
        stop: spec.stop_on_stderr,
        hit: None,
    }));
    let stop_flag = Arc::new(AtomicBool::new(false));

    let threads = start_threads(&mut child, spec.stdin, &sink, &stdout, &stderr, &stop_flag);
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
    let (status, stopped) =
        match wait_main(&mut child, pgid, deadline, [spec.kill, Some(&*stop_flag)]) {
            Ok(waited) => waited,
            Err(e) => {
                signal_group(pgid, Signal::SIGKILL);
                let _ = child.wait();
                sink.closed.store(true, Ordering::SeqCst);
                sink.finish();
                return Err(e);
            }
        };
    let escaped = clean_up(pgid, readers, &escape, &sink);

    let mut out = lock(&stdout);
    let parsed = out.parser.as_mut().map(|p| p.finish());
    let err = lock(&stderr);
    Ok(Finished {
        exit: stopped.unwrap_or_else(|| exit_of(status)),
        duration: started.elapsed(),
        stdout_tail: out.tail.text(),
        stderr_tail: err.tail.text(),
        parsed,
        escaped,
        stopped_by: err.hit.clone(),
    })
}

/// The command line of `spec`, in a process group of its own, with the run's `token`.
fn command(spec: &ProcessSpec, token: &str) -> Command {
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
    // Only git oompa's own git calls skip its hooks; an agent never does.
    cmd.env_remove(crate::guard::hooks::OWN_GIT_ENV);
    cmd.envs(spec.env.iter().map(|(k, v)| (k, v)));
    cmd.env(TOKEN_VAR, token);
    die_with_parent(&mut cmd);
    cmd
}

/// After the main child has exited: ends its process group and the processes that escaped
/// it, closes the transcript, and joins the readers unless an escaped process still holds
/// their pipes. Returns the escaped processes it ended.
fn clean_up(pgid: Pid, readers: Vec<JoinHandle<()>>, escape: &Escape, sink: &Sink) -> Vec<String> {
    end_group(pgid, &readers);
    let escaped = end_escaped(escape);
    if !escaped.is_empty() {
        tracing::debug!(
            ?escaped,
            "ended processes that escaped the agent's process group"
        );
    }
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
    escaped
}

/// The child (the process-group leader) gets SIGKILL when the thread that started it dies,
/// which for a supervised run is when the swarm process dies (its thread waits in
/// [`supervise`] until the child has ended). What the leader started is ended by the swarm's
/// watchdog (`swarm::orphans`).
fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        let parent = nix::unistd::getpid();
        // SAFETY: only prctl(2) and getppid(2), both async-signal-safe, run between fork and
        // exec.
        unsafe {
            cmd.pre_exec(move || {
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(io::Error::from)?;
                // The parent died before the prctl: nobody would kill us.
                if nix::unistd::getppid() != parent {
                    return Err(io::Error::other("the swarm process is gone"));
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

fn start_threads(
    child: &mut Child,
    stdin_payload: Option<String>,
    sink: &Arc<Sink>,
    stdout: &Arc<Mutex<StdoutState>>,
    stderr: &Arc<Mutex<StderrState>>,
    stop_flag: &Arc<AtomicBool>,
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
    let (sink_e, state, flag) = (Arc::clone(sink), Arc::clone(stderr), Arc::clone(stop_flag));
    let err = thread::Builder::new()
        .name("agent-stderr".into())
        .spawn(move || {
            pump(err_pipe, &sink_e, |chunk| {
                let mut guard = lock(&state);
                let StderrState {
                    tail,
                    splitter,
                    stop,
                    hit,
                } = &mut *guard;
                tail.push(chunk);
                let Some(stop) = stop.filter(|_| hit.is_none()) else {
                    return;
                };
                splitter.feed(chunk, &mut |line| {
                    let line = String::from_utf8_lossy(line);
                    if hit.is_none() && stop(&line) {
                        *hit = Some(line.into_owned());
                        flag.store(true, Ordering::SeqCst);
                    }
                });
            })
        })?;
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
    kill: [Option<&AtomicBool>; 2],
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
                let raised = kill.iter().flatten().any(|k| k.load(Ordering::SeqCst));
                let why = if raised {
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
    parse_stat(stat).is_some_and(|st| st.pgrp == pgid && st.live)
}

/// The fields of `/proc/<pid>/stat` we use.
#[derive(Debug, PartialEq, Eq)]
struct Stat<'a> {
    comm: &'a str,
    live: bool,
    pgrp: i32,
    /// Clock ticks after boot.
    start: Option<u64>,
}

fn parse_stat(stat: &str) -> Option<Stat<'_>> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?;
    let mut fields = stat.get(close + 1..)?.split_whitespace();
    let state = fields.next()?;
    let pgrp = fields.nth(1)?.parse().ok()?;
    // Field 22 (starttime); `fields` is at field 5 now.
    let start = fields.nth(16).and_then(|f| f.parse().ok());
    Some(Stat {
        comm,
        live: !matches!(state, "Z" | "X" | "x"),
        pgrp,
        start,
    })
}

/// When a process started, in clock ticks after boot (`None` when it cannot be read).
fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat).and_then(|s| s.start)
}

/// How to recognise the processes of one run that left its process group.
struct Escape {
    token: String,
    /// When the run's first process started (clock ticks after boot).
    since: u64,
    dir: Option<std::path::PathBuf>,
}

/// Ends (SIGTERM, then SIGKILL) the live processes of this user that carry the run's token
/// or, started during the run, work inside its sweep directory; looks again for what they
/// forked meanwhile. Returns what it ended (`<pid> <command>`). Linux only (`/proc`).
fn end_escaped(escape: &Escape) -> Vec<String> {
    let mut ended: Vec<String> = Vec::new();
    for _ in 0..ESCAPE_ROUNDS {
        let found = find_escaped(escape);
        if found.is_empty() {
            break;
        }
        for (pid, comm, leader) in &found {
            let label = format!("{pid} {comm}");
            if !ended.contains(&label) {
                ended.push(label);
            }
            let pid = Pid::from_raw(*pid);
            if *leader {
                signal_group(pid, Signal::SIGTERM);
            }
            let _ = nix::sys::signal::kill(pid, Signal::SIGTERM);
        }
        let gone = || found.iter().all(|(pid, _, _)| !process_live(*pid));
        if !wait_until(STRAGGLER_GRACE, gone) {
            for (pid, _, leader) in &found {
                let pid = Pid::from_raw(*pid);
                if *leader {
                    signal_group(pid, Signal::SIGKILL);
                }
                let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            }
        }
    }
    ended
}

fn process_live(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| parse_stat(&s).map(|st| st.live))
        .unwrap_or(false)
}

/// The escaped processes of a run: `(pid, command, leads its own process group)`.
fn find_escaped(escape: &Escape) -> Vec<(i32, String, bool)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    let me = i32::try_from(std::process::id()).unwrap_or(0);
    let uid = nix::unistd::geteuid().as_raw();
    let needle = format!("{}={}", TOKEN_VAR, escape.token);
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let path = entry.path();
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
            continue;
        };
        // Only processes started during the run can belong to it.
        let started_during = |st: &Stat<'_>| st.start.is_some_and(|t| t >= escape.since);
        let Some(st) = parse_stat(&stat).filter(|st| st.live && started_during(st)) else {
            continue;
        };
        if !std::fs::metadata(&path).is_ok_and(|m| m.uid() == uid) {
            continue;
        }
        let by_token = std::fs::read(path.join("environ"))
            .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == needle.as_bytes()));
        let by_dir = !by_token
            && escape.dir.as_ref().is_some_and(|dir| {
                std::fs::read_link(path.join("cwd")).is_ok_and(|cwd| cwd.starts_with(dir))
            });
        if by_token || by_dir {
            out.push((pid, st.comm.to_string(), st.pgrp == pid));
        }
    }
    out
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
