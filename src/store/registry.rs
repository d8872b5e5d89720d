//! The registry of swarms started on this machine: `$GIT_COMMON_DIR/oompa/swarms/<id>/`
//! holds `run.json` (who, where, since when, the log file), `swarm.log` (the timestamped
//! progress lines) and `run.flock`, which the swarm process holds locked for as long as it
//! lives. A swarm is running when its pid is alive *and* its lock is held: the kernel drops the
//! lock with the process, so a reused pid cannot pass for a swarm. Other files in the
//! directory (`status.json`) belong to other parts. Never prints.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

/// The format version of `run.json`.
const VERSION: u32 = 1;

/// What `run.json` says about one swarm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    pub version: u32,
    pub id: String,
    pub pid: u32,
    pub host: String,
    /// The target branch's short name.
    pub target: String,
    /// RFC 3339.
    pub started: String,
    /// The progress log (`swarm.log`).
    pub log: PathBuf,
    /// Started with `git oompa swarm --detach`.
    pub detached: bool,
}

/// A registered swarm: holds its lock until dropped (or the process dies).
#[derive(Debug)]
pub struct Registration {
    _lock: Flock<File>,
    pub dir: PathBuf,
}

impl Registration {
    /// Holds the lock until the process exits, so the swarm counts as running until its last
    /// line (the summary, the exit status) is written, which is what `stop --wait` waits for.
    pub fn keep_until_exit(self) {
        std::mem::forget(self);
    }
}

/// The directory of every swarm's registry entry.
pub fn root(common_dir: &Path) -> PathBuf {
    crate::store::layout::state_dir(common_dir).join("swarms")
}

/// One swarm's registry directory ([`crate::store::layout::swarm_dir`]).
pub fn dir(common_dir: &Path, id: &str) -> PathBuf {
    crate::store::layout::swarm_dir(common_dir, id)
}

/// One swarm's progress log.
pub fn log_path(common_dir: &Path, id: &str) -> PathBuf {
    dir(common_dir, id).join("swarm.log")
}

fn lock_path(dir: &Path) -> PathBuf {
    dir.join("run.flock")
}

fn open_lock(dir: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path(dir))
}

/// Registers this process as swarm `info.id`: takes the lock, then writes `run.json`.
pub fn register(common_dir: &Path, info: &RunInfo) -> io::Result<Registration> {
    let dir = dir(common_dir, &info.id);
    fs::create_dir_all(&dir)?;
    let lock = Flock::lock(open_lock(&dir)?, FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| io::Error::other(format!("{} is locked: {e}", dir.display())))?;
    let mut data = serde_json::to_vec_pretty(info).map_err(io::Error::other)?;
    data.push(b'\n');
    crate::store::layout::write_atomic(&dir.join("run.json"), &data)?;
    Ok(Registration { _lock: lock, dir })
}

/// A new `RunInfo` for this process.
pub fn this_process(common_dir: &Path, id: &str, target: &str, detached: bool) -> RunInfo {
    RunInfo {
        version: VERSION,
        id: id.to_string(),
        pid: std::process::id(),
        host: crate::store::queue::hostname(),
        target: target.to_string(),
        started: jiff::Timestamp::now().to_string(),
        log: log_path(common_dir, id),
        detached,
    }
}

/// Whether the swarm process of this registry directory holds its lock now. When that cannot
/// be told (the file cannot be opened or locked for another reason), it counts as held: a swarm
/// is never taken for dead, and its agents swept, on a guess.
fn lock_held(dir: &Path) -> bool {
    let file = match File::open(lock_path(dir)) {
        Ok(f) => f,
        Err(e) => return e.kind() != io::ErrorKind::NotFound,
    };
    Flock::lock(file, FlockArg::LockSharedNonblock).is_err()
}

/// One registry entry, as found.
#[derive(Debug, Clone)]
pub struct Entry {
    pub info: RunInfo,
    pub running: bool,
}

/// Reads one swarm's entry, if it has one.
pub fn read(common_dir: &Path, id: &str) -> Option<Entry> {
    read_dir_entry(&dir(common_dir, id))
}

fn read_dir_entry(dir: &Path) -> Option<Entry> {
    let data = fs::read(dir.join("run.json")).ok()?;
    let info: RunInfo = serde_json::from_slice(&data).ok()?;
    let running = crate::store::swarm::pid_alive(info.pid) && lock_held(dir);
    Some(Entry { info, running })
}

/// Whether swarm `id` is registered on this machine and its process is gone (its lock is no
/// longer held): the registry's word, which outweighs a swarm record whose pid is alive again
/// (a reused pid). `false` when it has no entry here or its entry is another machine's.
pub fn known_dead(common_dir: &Path, id: &str) -> bool {
    read(common_dir, id)
        .is_some_and(|e| !e.running && e.info.host == crate::store::queue::hostname())
}

/// Every registered swarm of this repository, oldest first.
pub fn list(common_dir: &Path) -> Vec<Entry> {
    let Ok(entries) = fs::read_dir(root(common_dir)) else {
        return Vec::new();
    };
    let mut out: Vec<Entry> = entries
        .flatten()
        .filter_map(|e| read_dir_entry(&e.path()))
        .collect();
    out.sort_by(|a, b| a.info.started.cmp(&b.info.started));
    out
}

/// The swarms of this repository running now on this machine, oldest first.
pub fn list_running(common_dir: &Path) -> Vec<RunInfo> {
    list(common_dir)
        .into_iter()
        .filter(|e| e.running)
        .map(|e| e.info)
        .collect()
}

/// The file that says a graceful stop was asked of a swarm, and when.
fn stop_asked_path(common_dir: &Path, id: &str) -> PathBuf {
    dir(common_dir, id).join("stop-asked")
}

/// Notes that `git oompa stop` asked swarm `id` to stop gracefully: a second `stop` must not
/// signal it again, since a second SIGTERM kills its agents (as a second Ctrl-C does).
pub fn mark_stop_asked(common_dir: &Path, id: &str) -> io::Result<()> {
    let now = jiff::Timestamp::now().to_string();
    crate::store::layout::write_atomic(&stop_asked_path(common_dir, id), now.as_bytes())
}

/// When a graceful stop was asked of swarm `id` ([`mark_stop_asked`]), if it was (RFC 3339).
pub fn stop_asked(common_dir: &Path, id: &str) -> Option<String> {
    fs::read_to_string(stop_asked_path(common_dir, id))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Swarms that are registered here, no longer running, and were not yet swept for leftover
/// agent processes: `(id, pid)`. Marks them swept.
pub fn dead_unswept(common_dir: &Path) -> Vec<(String, u32)> {
    list(common_dir)
        .into_iter()
        .filter(|e| !e.running)
        .filter_map(|e| {
            let marker = dir(common_dir, &e.info.id).join("swept");
            if marker.exists() {
                return None;
            }
            let _ = fs::write(&marker, b"");
            Some((e.info.id, e.info.pid))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registered_swarm_is_running_until_its_registration_is_dropped() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let info = this_process(tmp.path(), "abcd1234", "main", false);
        let reg = register(tmp.path(), &info).expect("register");
        assert_eq!(list_running(tmp.path()), vec![info.clone()]);
        drop(reg);
        assert!(list_running(tmp.path()).is_empty());
        assert_eq!(list(tmp.path()).len(), 1);
        assert_eq!(
            dead_unswept(tmp.path()),
            vec![("abcd1234".into(), info.pid)]
        );
        assert!(dead_unswept(tmp.path()).is_empty());
    }

    #[test]
    fn a_stop_asked_is_remembered_per_swarm() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let info = this_process(tmp.path(), "abcd1234", "main", false);
        let _reg = register(tmp.path(), &info).expect("register");
        assert_eq!(stop_asked(tmp.path(), "abcd1234"), None);
        mark_stop_asked(tmp.path(), "abcd1234").expect("mark");
        assert!(stop_asked(tmp.path(), "abcd1234").is_some());
        assert_eq!(stop_asked(tmp.path(), "ef567890"), None);
    }
}
