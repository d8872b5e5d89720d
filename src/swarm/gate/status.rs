//! What the landing gate is doing right now, for `git oompa status`: a small versioned file
//! per swarm (`.git/oompa/swarms/<swarm>/gate.json`), rewritten atomically by the merge queue
//! whenever the queue or its runs change, removed when the swarm ends.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const STATUS_VERSION: u32 = 1;

/// The gate of one swarm.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GateStatus {
    pub version: u32,
    /// The commands every landing must pass.
    pub commands: Vec<String>,
    /// The target commit the queue is stacked on.
    pub target: String,
    /// Changes stacked on the target, bottom first, with their landing commits.
    pub queue: Vec<Queued>,
    /// Approved changes waiting for room on the queue.
    #[serde(default)]
    pub waiting: Vec<Queued>,
    /// Runs in progress.
    #[serde(default)]
    pub runs: Vec<Running>,
    /// Why the next landing waits, when it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<String>,
}

/// An approved change in the merge queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Queued {
    pub worker: String,
    #[serde(default)]
    pub tasks: Vec<String>,
    /// Its landing commit, once stacked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// When it entered the queue (RFC 3339).
    pub since: String,
}

/// A gate run in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Running {
    pub run: u64,
    pub candidate: String,
    /// Whose changes it holds, bottom first.
    pub workers: Vec<String>,
    /// When it started (RFC 3339).
    pub since: String,
    /// It searches for the change that broke a failed batch.
    #[serde(default)]
    pub bisect: bool,
}

/// Where the swarm `swarm` keeps its gate status.
pub fn status_path(common_dir: &Path, swarm: &str) -> PathBuf {
    crate::store::layout::gate_status_file(common_dir, swarm)
}

/// Writes `status` atomically (a temporary file, then a rename).
pub fn write(path: &Path, status: &GateStatus) -> std::io::Result<()> {
    let mut json = serde_json::to_vec_pretty(status).map_err(std::io::Error::other)?;
    json.push(b'\n');
    crate::store::layout::write_atomic(path, &json)
}

/// The status at `path`, if there is a readable one.
pub fn read(path: &Path) -> Option<GateStatus> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}
