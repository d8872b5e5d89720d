//! `notify = "<command>"`: a command of the user's run for chosen swarm events (a landing, a
//! stuck cycle, a gate-failed cycle, a pause for a usage limit, a spent budget, the swarm's
//! end), with the event as one JSON object on stdin and its name in `OOMPA_EVENT`.
//!
//! The commands run one at a time on a thread of their own, so a slow command never holds
//! up a worker or the terminal; each gets [`NotifyConfig::timeout`] and is then killed (its
//! whole process group). A command that fails, hangs or cannot be started is a warning
//! ([`Notifier::warnings`]), never a stop. Never prints.

use std::io::{Read as _, Write as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, unbounded};
use serde_json::{Map, Value, json};

use crate::store::record::Outcome;
use crate::swarm::{Event, Finished};

/// Every event a `notify` command can be run for, as `notify_events` and `OOMPA_EVENT` name
/// them.
pub const EVENTS: [&str; 6] = [
    "landed",
    "stuck",
    "gate-failed",
    "paused",
    "budget-spent",
    "finished",
];

/// How long one run of the command may take before it is killed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Failures of the command warned about one by one; the next says it keeps failing.
const MAX_WARNINGS: u32 = 3;

/// The format version of the JSON object on the command's stdin.
pub const NOTIFY_VERSION: u32 = 1;

/// What `notify` and `notify_events` in `oompa.toml` say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    /// Run with `sh -c` in the repository's main checkout.
    pub command: String,
    /// The events to run it for (names from [`EVENTS`]); empty: all of them.
    pub events: Vec<String>,
    pub timeout: Duration,
}

impl NotifyConfig {
    pub fn new(command: impl Into<String>) -> Self {
        NotifyConfig {
            command: command.into(),
            events: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    fn wants(&self, event: &str) -> bool {
        self.events.is_empty() || self.events.iter().any(|e| e == event)
    }
}

/// One event: its name and its fields (the common ones are added when it is sent).
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub event: &'static str,
    /// One line for a person (`w0 landed 1a2b3c4d (t01)`): what a desktop notification shows.
    pub text: String,
    pub fields: Map<String, Value>,
}

/// The event a swarm event is worth notifying, if any.
pub fn note_for(ev: &Event) -> Option<Note> {
    match ev {
        Event::Landed {
            worker,
            commit,
            tasks,
        } => {
            let tasks: Vec<&str> = tasks.iter().map(|t| t.as_str()).collect();
            let short = commit.to_hex_with_len(8).to_string();
            let what = if tasks.is_empty() {
                String::new()
            } else {
                format!(" ({})", tasks.join(", "))
            };
            Some(note(
                "landed",
                format!("{worker} landed {short}{what}"),
                json!({"worker": worker, "commit": commit.to_string(), "tasks": tasks}),
            ))
        }
        Event::CycleEnded { worker, record } => {
            let event = match record.outcome {
                Outcome::Stuck => "stuck",
                Outcome::GateFailed => "gate-failed",
                _ => return None,
            };
            let error = record.error.clone().unwrap_or_default();
            Some(note(
                event,
                format!(
                    "{worker} cycle {} {}: {}",
                    record.cycle,
                    record.outcome,
                    error.lines().next().unwrap_or("")
                ),
                json!({
                    "worker": worker,
                    "cycle": record.cycle,
                    "tasks": record.tasks,
                    "error": record.error,
                    "kept": record.kept,
                }),
            ))
        }
        Event::Paused {
            worker,
            until,
            reason,
        } => Some(note(
            "paused",
            format!("{worker} paused until {until}: {reason}"),
            json!({"worker": worker, "until": until.to_string(), "reason": reason}),
        )),
        Event::BudgetSpent { worker, why } => Some(note(
            "budget-spent",
            match worker {
                Some(w) => format!("{w}: {why}"),
                None => why.clone(),
            },
            json!({"worker": worker, "why": why}),
        )),
        _ => None,
    }
}

/// The `finished` event: how the swarm ended and what it did.
pub fn finished_note(finished: &Finished, reason: &str) -> Note {
    let cycles: u32 = finished.workers.iter().map(|w| w.cycles).sum();
    let landed: usize = finished
        .workers
        .iter()
        .map(|w| {
            w.outcomes
                .get(Outcome::Merged.as_str())
                .copied()
                .unwrap_or(0) as usize
        })
        .sum();
    let mut outcomes = Map::new();
    for w in &finished.workers {
        for (k, v) in &w.outcomes {
            let n = outcomes.get(k).and_then(Value::as_u64).unwrap_or(0) + u64::from(*v);
            outcomes.insert(k.clone(), Value::from(n));
        }
    }
    note(
        "finished",
        format!(
            "swarm {reason}: {landed} landed in {cycles} {}",
            if cycles == 1 { "cycle" } else { "cycles" }
        ),
        json!({
            "reason": reason,
            "cycles": cycles,
            "landed": landed,
            "outcomes": outcomes,
        }),
    )
}

fn note(event: &'static str, text: String, fields: Value) -> Note {
    let fields = fields.as_object().cloned().unwrap_or_default();
    Note {
        event,
        text,
        fields,
    }
}

/// Runs the `notify` command for the events it is given, on a thread of its own.
pub struct Notifier {
    inner: Option<Running>,
}

struct Running {
    config: NotifyConfig,
    swarm: String,
    root: PathBuf,
    tx: Option<Sender<(String, String)>>,
    warnings: Receiver<String>,
    thread: Option<JoinHandle<()>>,
    /// Set when the swarm is done waiting: what is still queued is dropped.
    give_up: Arc<AtomicBool>,
    /// The process group of the command running now (0: none).
    running: Arc<AtomicI32>,
}

impl Notifier {
    /// A notifier that does nothing (no `notify` configured).
    pub fn off() -> Notifier {
        Notifier { inner: None }
    }

    /// Starts the thread that runs `config.command` in `root` for the events of `swarm`.
    pub fn start(config: NotifyConfig, swarm: &str, root: &Path) -> Notifier {
        let (tx, rx) = unbounded::<(String, String)>();
        let (warn_tx, warnings) = unbounded();
        let give_up = Arc::new(AtomicBool::new(false));
        let running = Arc::new(AtomicI32::new(0));
        let thread = {
            let config = config.clone();
            let root = root.to_path_buf();
            let give_up = Arc::clone(&give_up);
            let running = Arc::clone(&running);
            std::thread::Builder::new()
                .name("notify".into())
                .spawn(move || {
                    let mut failures = 0;
                    for (event, json) in rx {
                        if give_up.load(Ordering::SeqCst) {
                            continue;
                        }
                        let Err(why) = run_one(&config, &root, &event, &json, &running) else {
                            continue;
                        };
                        failures += 1;
                        let warning = match failures {
                            ..=MAX_WARNINGS => format!("notify command for {event}: {why}"),
                            f if f == MAX_WARNINGS + 1 => format!(
                                "notify command for {event}: {why} (it keeps failing; \
                                 not said again during this swarm)"
                            ),
                            _ => continue,
                        };
                        let _ = warn_tx.send(warning);
                    }
                })
        };
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!("cannot start the notify thread: {e}");
                None
            }
        };
        Notifier {
            inner: Some(Running {
                config,
                swarm: swarm.to_string(),
                root: root.to_path_buf(),
                tx: thread.is_some().then_some(tx),
                warnings,
                thread,
                give_up,
                running,
            }),
        }
    }

    /// Queues the notification a swarm event is worth, if any; never waits.
    pub fn see(&self, ev: &Event) {
        if let Some(note) = note_for(ev) {
            self.send(&note);
        }
    }

    /// Queues `note` when the config asks for its event; never waits.
    pub fn send(&self, note: &Note) {
        let Some(r) = &self.inner else { return };
        if !r.config.wants(note.event) {
            return;
        }
        let mut obj = Map::new();
        obj.insert("version".into(), Value::from(NOTIFY_VERSION));
        obj.insert("event".into(), Value::from(note.event));
        obj.insert("swarm".into(), Value::from(r.swarm.clone()));
        obj.insert("at".into(), Value::from(jiff::Timestamp::now().to_string()));
        obj.insert("repo".into(), Value::from(r.root.display().to_string()));
        obj.insert("text".into(), Value::from(note.text.clone()));
        for (k, v) in &note.fields {
            obj.insert(k.clone(), v.clone());
        }
        if let Some(tx) = &r.tx {
            let _ = tx.send((note.event.to_string(), Value::Object(obj).to_string()));
        }
    }

    /// Warnings about commands that failed since the last call.
    pub fn warnings(&self) -> Vec<String> {
        self.inner
            .as_ref()
            .map(|r| r.warnings.try_iter().collect())
            .unwrap_or_default()
    }

    /// Lets the queued commands run, waiting at most `timeout` plus a few seconds in all;
    /// what is still queued then is dropped and the command running is killed. Returns the
    /// warnings not taken yet.
    pub fn close(mut self) -> Vec<String> {
        let Some(mut r) = self.inner.take() else {
            return Vec::new();
        };
        drop(r.tx.take());
        let deadline = Instant::now() + r.config.timeout + Duration::from_secs(2);
        let mut out = Vec::new();
        if let Some(t) = r.thread.take() {
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if t.is_finished() {
                let _ = t.join();
            } else {
                r.give_up.store(true, Ordering::SeqCst);
                kill_group(r.running.load(Ordering::SeqCst));
                out.push(
                    "notify: gave up waiting for the command; the events still queued were not \
                     sent"
                        .to_string(),
                );
            }
        }
        let mut warnings: Vec<String> = r.warnings.try_iter().collect();
        warnings.extend(out);
        warnings
    }
}

/// Runs the command once with `json` on stdin; `Err` says why it did not succeed.
fn run_one(
    config: &NotifyConfig,
    root: &Path,
    event: &str,
    json: &str,
    running: &AtomicI32,
) -> Result<(), String> {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(&config.command)
        .current_dir(root)
        .env(crate::agent_env::EVENT, event)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("could not start it: {e}"))?;
    let pid = i32::try_from(child.id()).unwrap_or(0);
    running.store(pid, Ordering::SeqCst);
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its input is fine.
        let _ = stdin.write_all(json.as_bytes());
        let _ = stdin.write_all(b"\n");
    }
    let stderr = child.stderr.take().map(|mut e| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = e.read_to_end(&mut buf);
            buf
        })
    });
    let deadline = Instant::now() + config.timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                kill_group(pid);
                let _ = child.wait();
                break Err(format!(
                    "killed after {}s (notify commands get {}s)",
                    config.timeout.as_secs(),
                    config.timeout.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => break Err(format!("could not wait for it: {e}")),
        }
    };
    // What it left running in its group goes with it.
    kill_group(pid);
    running.store(0, Ordering::SeqCst);
    let err = stderr
        .and_then(|h| h.join().ok())
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let status = status?;
    if status.success() {
        return Ok(());
    }
    let tail: String = {
        let chars: Vec<char> = err.chars().collect();
        chars[chars.len().saturating_sub(300)..].iter().collect()
    };
    let line = tail.lines().map(str::trim).collect::<Vec<_>>().join(" | ");
    match status.code() {
        Some(c) if line.is_empty() => Err(format!("exited with code {c}")),
        Some(c) => Err(format!("exited with code {c}: {line}")),
        None => Err("ended by a signal".into()),
    }
}

fn kill_group(pid: i32) {
    if pid > 0 {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_or_hanging_command_is_a_warning_and_the_next_event_still_runs() {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("out");
        let mut config = NotifyConfig::new(format!(
            "cat >> {out}; case \"${event}\" in stuck) echo nope >&2; exit 3;; \
             gate-failed) sleep 30;; esac",
            out = out.display(),
            event = crate::agent_env::EVENT,
        ));
        config.timeout = Duration::from_millis(500);
        let n = Notifier::start(config, "ab12", dir.path());
        for event in ["stuck", "gate-failed", "landed"] {
            n.send(&note(event_name(event), event.into(), json!({})));
        }
        let warnings = n.close();
        let text = std::fs::read_to_string(&out).expect("the command ran");
        let events: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
            .collect();
        assert_eq!(
            events
                .iter()
                .map(|e| e["event"].clone())
                .collect::<Vec<_>>(),
            ["stuck", "gate-failed", "landed"]
        );
        assert_eq!(events[2]["swarm"], "ab12");
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].contains("exited with code 3: nope"),
            "{warnings:?}"
        );
        assert!(warnings[1].contains("killed after"), "{warnings:?}");
    }

    fn event_name(e: &str) -> &'static str {
        EVENTS.into_iter().find(|n| *n == e).expect("a known event")
    }

    #[test]
    fn only_the_chosen_events_run_the_command() {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("out");
        let mut config = NotifyConfig::new(format!(
            "echo \"${}\" >> {}",
            crate::agent_env::EVENT,
            out.display()
        ));
        config.events = vec!["finished".into()];
        let n = Notifier::start(config, "ab12", dir.path());
        n.send(&note("landed", String::new(), json!({})));
        n.send(&note("finished", String::new(), json!({})));
        assert!(n.close().is_empty());
        assert_eq!(
            std::fs::read_to_string(&out).expect("ran once"),
            "finished\n"
        );
    }
}
