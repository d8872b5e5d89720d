//! Which swarms are running, as gc sees them. The registry of this machine decides
//! ([`crate::store::registry`]: a swarm runs while its process holds its lock); a swarm it
//! does not know (started on another machine sharing the repository, or before the registry)
//! runs when its record says so (not stopped, and on this host its pid alive). A swarm being
//! started in the background (`swarm --detach`, not registered yet) runs too: its log file is
//! open. Anything else — finished, crashed, killed, or with no record at all — is finished,
//! and gc may clean up after it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::GcError;
use crate::settings::Settings;
use crate::settings::full_branch;
use crate::store::Queue;
use crate::store::layout;
use crate::store::queue::hostname;
use crate::store::registry;
use crate::store::swarm::SwarmRecord;

/// The swarms of this repository, read once per plan (and again before applying it).
pub(crate) struct Swarms {
    pub records: Vec<SwarmRecord>,
    running: BTreeSet<String>,
    targets: BTreeMap<String, String>,
    common: PathBuf,
}

impl Swarms {
    /// Reads the swarm records, the registry and the registry's directories. Read *after*
    /// listing what gc may remove, so that a swarm that owns something listed is known here.
    pub fn load(repo: &crate::git::Repo) -> Result<Swarms, GcError> {
        let host = hostname();
        let common = repo.common_dir().to_path_buf();
        let records = Queue::new(repo).swarms()?;
        let mut running: BTreeSet<String> = registry::list_running(&common)
            .into_iter()
            .map(|r| r.id)
            .collect();
        let mut targets = BTreeMap::new();
        for s in &records {
            if s.is_running(&host) && !registry::known_dead(&common, &s.id) {
                running.insert(s.id.clone());
            }
            targets.insert(s.id.clone(), full_branch(&s.target));
        }
        running.extend(starting(&common));
        Ok(Swarms {
            records,
            running,
            targets,
            common,
        })
    }

    /// Whether `swarm` is not running; unknown swarms count as finished.
    pub fn is_finished(&self, swarm: &str) -> bool {
        !self.running.contains(swarm)
    }

    /// Whether `swarm`, finished when this was loaded, still is (its registry entry is read
    /// again): the check each step makes right before it changes anything.
    pub fn still_finished(&self, swarm: &str) -> bool {
        self.is_finished(swarm)
            && !registry::read(&self.common, swarm).is_some_and(|e| e.running)
            && !is_starting(&layout::swarm_dir(&self.common, swarm))
    }

    /// The running swarms' ids.
    pub fn running(&self) -> &BTreeSet<String> {
        &self.running
    }

    /// The target `swarm` landed on (the settings' target for a swarm without a record).
    pub fn target_of(&self, swarm: &str, settings: &Settings) -> Option<String> {
        self.targets
            .get(swarm)
            .cloned()
            .or_else(|| settings.target_ref.clone())
    }
}

/// Registry directories of swarms being started in the background: no `run.json` yet, and
/// a file in them (the log the detached process writes to) is open in some process.
fn starting(common: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(layout::swarms_dir(common)) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| is_starting(&e.path()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Whether the registry directory `dir` belongs to a swarm not registered yet whose files a
/// process has open.
fn is_starting(dir: &Path) -> bool {
    if dir.join("run.json").exists() {
        return false;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries
        .flatten()
        .any(|e| !crate::git::lock::holders(&e.path()).is_empty())
}
