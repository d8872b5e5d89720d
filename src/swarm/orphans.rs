//! No agent outlives its swarm. Every process a swarm starts (agents, reviewers, the planner,
//! gate commands) carries `OOMPA_SWARM=<id>` in its environment, and so do their descendants;
//! the agent's process-group leader also gets `PR_SET_PDEATHSIG` (see `agent::process`).
//! Two things end what is left when the swarm process dies without cleaning up (SIGKILL):
//!
//! - the swarm's **watchdog**, a small `git-oompa swarm-watchdog <id>` process in its own
//!   process group that reads a pipe from the swarm until EOF (the kernel closes it when the
//!   swarm dies, however it dies) and then ends every process of this user that carries the
//!   swarm's id ([`sweep`]);
//! - the next command's recovery, which sweeps every registered swarm found dead once
//!   (in case the watchdog was killed too).
//!
//! Linux only (`/proc`); elsewhere the sweep finds nothing. Never prints.

use std::io::Read;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(1);
/// Rounds of looking again (each may find what the previous round's processes forked).
const ROUNDS: usize = 4;

/// Live processes of this user (not this one) whose environment has `OOMPA_SWARM=<id>`.
pub fn find(id: &str) -> Vec<i32> {
    use std::os::unix::fs::MetadataExt;
    let needle = format!("{}={id}", crate::agent_env::SWARM);
    let me = i32::try_from(std::process::id()).unwrap_or(0);
    let uid = nix::unistd::geteuid().as_raw();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            (pid != me).then_some((pid, e.path()))
        })
        .filter(|(_, path)| std::fs::metadata(path).is_ok_and(|m| m.uid() == uid))
        .filter(|(pid, _)| live(*pid))
        .filter(|(_, path)| {
            std::fs::read(path.join("environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == needle.as_bytes()))
        })
        .map(|(pid, _)| pid)
        .collect()
}

/// Whether `pid` is a live (not zombie) process.
fn live(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rfind(')')
            .and_then(|i| stat.get(i + 1..))
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|state| !matches!(state, "Z" | "X" | "x"))
    })
}

/// Ends (SIGTERM, then SIGKILL after a second) every process of swarm `id` that is still
/// running; returns how many it found.
pub fn sweep(id: &str) -> usize {
    let mut ended = std::collections::BTreeSet::new();
    for _ in 0..ROUNDS {
        let found = find(id);
        if found.is_empty() {
            break;
        }
        for pid in &found {
            ended.insert(*pid);
            let _ = kill(Pid::from_raw(*pid), Signal::SIGTERM);
        }
        let end = Instant::now() + GRACE;
        while Instant::now() < end && found.iter().any(|p| live(*p)) {
            std::thread::sleep(Duration::from_millis(25));
        }
        for pid in found.iter().filter(|p| live(**p)) {
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
    }
    ended.len()
}

/// Ends the agents left running by every registered swarm found dead since the last look
/// (its watchdog killed too): what each command's recovery does first.
pub fn sweep_dead(common_dir: &Path) {
    for (id, _) in super::registry::dead_unswept(common_dir) {
        sweep(&id);
    }
}

/// The swarm's end of its watchdog.
pub struct Watchdog {
    child: Child,
    pipe: Option<ChildStdin>,
}

impl Watchdog {
    /// Starts `exe swarm-watchdog <id>` in its own process group, so a Ctrl-C or a kill of the
    /// terminal's process group does not reach it. `None` (logged) when it cannot be started.
    pub fn start(exe: &Path, id: &str) -> Option<Watchdog> {
        use std::os::unix::process::CommandExt;
        let spawned = Command::new(exe)
            .args(["swarm-watchdog", id])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn();
        match spawned {
            Ok(mut child) => Some(Watchdog {
                pipe: child.stdin.take(),
                child,
            }),
            Err(e) => {
                tracing::warn!(
                    "cannot start the swarm's watchdog ({}): {e}; after a crash, the next \
                     git oompa command ends leftover agents",
                    exe.display()
                );
                None
            }
        }
    }

    /// The swarm ended cleanly: the watchdog looks once more and exits.
    pub fn finish(mut self) {
        drop(self.pipe.take());
        let _ = self.child.wait();
    }
}

/// The watchdog's body: waits for EOF on stdin (the swarm is gone), then sweeps.
pub fn watch(id: &str, mut stdin: impl Read) -> usize {
    let mut buf = [0u8; 64];
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    sweep(id)
}
