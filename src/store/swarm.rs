//! Swarm records (`swarms/<id>.json` in the queue tree) and the liveness rules that decide
//! whether a claim's owner is gone.

use serde::{Deserialize, Serialize};

use super::task::Claim;

/// How a swarm ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stopped {
    pub at: String,
    /// `completed`, `interrupted`, `killed`, `budget-spent` (its `budget` stopped it) or
    /// `crashed` (found dead by a later run).
    pub reason: String,
}

/// One swarm's record in the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwarmRecord {
    pub version: u32,
    pub id: String,
    pub started: String,
    pub host: String,
    pub pid: u32,
    pub target: String,
    #[serde(default)]
    pub config: Option<String>,
    #[serde(default)]
    pub workers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<Stopped>,
}

impl SwarmRecord {
    pub fn path(id: &str) -> String {
        format!("swarms/{id}.json")
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("a swarm record always serializes");
        v.push(b'\n');
        v
    }

    /// Running: not stopped, and (on this host) its process is alive.
    pub fn is_running(&self, this_host: &str) -> bool {
        self.stopped.is_none() && (self.host != this_host || pid_alive(self.pid))
    }
}

/// Whether a process with this pid exists on this machine.
pub fn pid_alive(pid: u32) -> bool {
    use nix::errno::Errno;
    use nix::sys::signal::kill;
    use nix::unistd::Pid;
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    if raw <= 0 {
        return false;
    }
    match kill(Pid::from_raw(raw), None) {
        Ok(()) => !zombie(raw),
        Err(Errno::EPERM) => true,
        Err(_) => false,
    }
}

/// Whether `pid` has exited and waits to be reaped (Linux: state `Z` in `/proc/<pid>/stat`).
/// A SIGKILLed detached swarm stays one for as long as its parent (often PID 1 of a container,
/// which may reap late or never) leaves it: it is dead all the same. Where `/proc` cannot be
/// read, it is not taken for one.
fn zombie(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // `pid (comm) S …`: the command may hold spaces and parentheses; the state follows the
    // last `)`.
    stat.rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next())
        .is_some_and(|state| state == "Z")
}

/// Whether a claim's owner is gone: on this host, its process is dead (or its swarm is
/// recorded as stopped); elsewhere, or for hand-made claims (pid 0), its lease ran out.
pub fn claim_is_dead(claim: &Claim, this_host: &str, swarm_stopped: bool) -> bool {
    let expired = claim
        .lease_until
        .parse::<jiff::Timestamp>()
        .map(|t| t < jiff::Timestamp::now())
        .unwrap_or(false);
    if claim.pid == 0 || claim.host != this_host {
        return expired;
    }
    swarm_stopped || !pid_alive(claim.pid)
}
