//! The record of a landing whose checkouts may not have followed yet
//! ([`layout::following_dir`]): the merge queue writes it before its transaction and removes
//! it once the target's checkouts followed; [`crate::guard::checkout::finish`] finishes what a
//! killed landing left half done. Never prints.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::git::{ObjectId, Repo};
use crate::store::layout;
use crate::store::queue::hostname;
use crate::store::swarm::pid_alive;

/// A landing whose checkouts may not have followed yet, under `.git/oompa/following/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowRecord {
    pub version: u32,
    pub swarm: String,
    pub host: String,
    pub pid: u32,
    /// The target's full ref.
    pub target: String,
    pub old: String,
    pub new: String,
    pub checkouts: Vec<PathBuf>,
    /// Seconds since the epoch when it was written.
    pub at: i64,
}

impl FollowRecord {
    /// The directory holding every record.
    pub fn dir(repo: &Repo) -> PathBuf {
        layout::following_dir(repo.common_dir())
    }

    fn path(repo: &Repo, swarm: &str) -> PathBuf {
        layout::following_file(repo.common_dir(), swarm)
    }

    /// Writes the record of a landing about to move `target` from `old` to `new` (atomically:
    /// a temporary file renamed into place).
    pub fn write(
        repo: &Repo,
        swarm: &str,
        target: &str,
        (old, new): (ObjectId, ObjectId),
        checkouts: &[PathBuf],
    ) -> std::io::Result<()> {
        let record = FollowRecord {
            version: 1,
            swarm: swarm.to_string(),
            host: hostname(),
            pid: std::process::id(),
            target: target.to_string(),
            old: old.to_string(),
            new: new.to_string(),
            checkouts: checkouts.to_vec(),
            at: jiff::Timestamp::now().as_second(),
        };
        layout::write_atomic(
            &Self::path(repo, swarm),
            &serde_json::to_vec(&record).map_err(std::io::Error::other)?,
        )
    }

    /// Removes the record of `swarm`'s landing: its checkouts followed (or it did not land).
    pub fn remove(repo: &Repo, swarm: &str) {
        let _ = std::fs::remove_file(Self::path(repo, swarm));
    }

    /// Every record file with its record (`None` when it cannot be read).
    pub fn all(repo: &Repo) -> Vec<(PathBuf, Option<FollowRecord>)> {
        let Ok(entries) = std::fs::read_dir(Self::dir(repo)) else {
            return Vec::new();
        };
        entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .map(|p| {
                let rec = std::fs::read(&p)
                    .ok()
                    .and_then(|d| serde_json::from_slice(&d).ok());
                (p, rec)
            })
            .collect()
    }

    /// Whether the process that wrote it may still be landing.
    pub fn in_flight(&self) -> bool {
        self.host == hostname() && pid_alive(self.pid)
    }
}
