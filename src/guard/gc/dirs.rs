//! gc's last steps, on files under `.git/oompa/`: the transcripts (`transcripts/<swarm>/`) and
//! the registry directories (`swarms/<swarm>/`: `run.json`, `run.flock`, `swarm.log`,
//! `status.json`, …) of swarms that ended longer ago than `oompa.transcriptsExpire`
//! ([`crate::guard::transcripts`]), and right away the `status.json` a killed swarm left (only
//! a running swarm's says what its workers are doing). Never a running swarm's.

use std::path::PathBuf;

use super::swarms::Swarms;
use super::{Action, GcError};
use crate::git::Repo;
use crate::guard::transcripts;
use crate::store::layout;

/// One file or directory to remove.
#[derive(Debug, Clone)]
pub(crate) struct Prune {
    swarm: String,
    path: PathBuf,
    what: What,
}

#[derive(Debug, Clone)]
enum What {
    /// The transcripts, ended this long ago (`20d`).
    Transcripts(String),
    /// The registry directory, ended this long ago.
    SwarmDir(String),
    /// The `status.json` of a swarm that is not running.
    LiveStatus,
}

/// What to remove under `.git/oompa/` now; a failed step for a bad expiry setting.
pub(super) fn plan(repo: &Repo, swarms: &Swarms) -> Vec<Result<Prune, Action>> {
    let common = repo.common_dir();
    let mut out = Vec::new();
    let expire = transcripts::expiry(repo);
    let mut expired_dirs = Vec::new();
    match &expire {
        Err(failed) => out.push(Err(failed.clone())),
        Ok(None) => {}
        Ok(Some(expire)) => {
            let (records, running) = (&swarms.records, swarms.running());
            let root = transcripts::root(repo);
            for (swarm, path, age) in transcripts::expired(&root, *expire, records, running) {
                let what = What::Transcripts(transcripts::days(age));
                out.push(Ok(Prune { swarm, path, what }));
            }
            let root = layout::swarms_dir(common);
            for (swarm, path, age) in transcripts::expired(&root, *expire, records, running) {
                expired_dirs.push(swarm.clone());
                let what = What::SwarmDir(transcripts::days(age));
                out.push(Ok(Prune { swarm, path, what }));
            }
        }
    }
    let Ok(entries) = std::fs::read_dir(layout::swarms_dir(common)) else {
        return out;
    };
    let mut statuses: Vec<(String, PathBuf)> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|s| swarms.is_finished(s) && !expired_dirs.contains(s))
        .map(|s| (layout::live_status_file(common, &s), s))
        .filter(|(path, _)| path.is_file())
        .map(|(path, s)| (s, path))
        .collect();
    statuses.sort();
    for (swarm, path) in statuses {
        out.push(Ok(Prune {
            swarm,
            path,
            what: What::LiveStatus,
        }));
    }
    out
}

impl Prune {
    /// What removing it would say.
    pub fn planned(&self) -> Action {
        let (swarm, path) = (self.swarm.clone(), self.path.clone());
        match &self.what {
            What::Transcripts(age) => Action::PruneTranscripts {
                swarm,
                path,
                age: age.clone(),
            },
            What::SwarmDir(age) => Action::PruneSwarmDir {
                swarm,
                path,
                age: age.clone(),
            },
            What::LiveStatus => Action::RemoveLiveStatus { swarm, path },
        }
    }

    /// Removes it if its swarm is still not running.
    pub fn apply(&self, swarms: &Swarms, out: &mut Vec<Action>) {
        let done = self.planned();
        if !swarms.still_finished(&self.swarm) {
            out.push(Action::swarm_running(done.to_string(), &self.swarm));
            return;
        }
        let removed = match self.what {
            What::LiveStatus => std::fs::remove_file(&self.path),
            What::Transcripts(_) | What::SwarmDir(_) => std::fs::remove_dir_all(&self.path),
        };
        match removed {
            Ok(()) => out.push(done),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                let e = GcError::Io {
                    path: self.path.clone(),
                    source: e,
                };
                out.push(Action::failed(
                    format!("remove {}", self.path.display()),
                    &e,
                ));
            }
        }
    }
}
