//! A worker's warm worktree: created once per swarm on `oompa/<swarm>/<worker>`, refreshed
//! to the target tip at the start of each cycle (ignored build outputs survive), and removed
//! at the end with anything unmerged saved under `refs/oompa/keep/` first.

use std::path::PathBuf;

use crate::git::{GitError, ObjectId, Repo, cli};

pub(crate) struct Workspace {
    pub path: PathBuf,
    /// Full branch ref, `refs/heads/oompa/<swarm>/<worker>`.
    pub branch: String,
    swarm: String,
    worker: String,
    /// Files copied in from the main checkout; never committed.
    copied: Vec<String>,
}

impl Workspace {
    /// Creates the branch at `base` and the worktree on it.
    pub fn create(
        repo: &Repo,
        root: &std::path::Path,
        swarm: &str,
        worker: &str,
        base: ObjectId,
        copied: &[String],
    ) -> Result<Workspace, GitError> {
        let ws = Workspace {
            path: root.join(worker),
            branch: format!("refs/heads/oompa/{swarm}/{worker}"),
            swarm: swarm.to_string(),
            worker: worker.to_string(),
            copied: copied.to_vec(),
        };
        repo.cas_ref(&ws.branch, None, base, "oompa: worker branch")?;
        if let Err(e) = repo.add_worktree(&ws.path, &ws.branch) {
            let _ = repo.transaction(&[crate::git::RefUpdate {
                name: ws.branch.clone(),
                expected: Some(base),
                new: None,
                message: "oompa: worktree failed".into(),
            }]);
            return Err(e);
        }
        Ok(ws)
    }

    /// The short branch name (`oompa/<swarm>/<worker>`).
    pub fn short_branch(&self) -> &str {
        self.branch.trim_start_matches("refs/heads/")
    }

    /// Points the worktree at `base`, discarding tracked changes and untracked files but
    /// keeping ignored ones (build caches), then copies the configured untracked files in.
    pub fn refresh(&self, base: ObjectId, root: &std::path::Path) -> Result<(), GitError> {
        self.clear_dead_locks();
        cli::reset_hard(&self.path, base)?;
        for rel in &self.copied {
            let from = root.join(rel);
            if from.is_file() {
                let to = self.path.join(rel);
                if let Some(dir) = to.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                let _ = std::fs::copy(&from, &to);
            }
        }
        Ok(())
    }

    /// Commits anything left uncommitted in the worktree (the framework's commit on the
    /// agent's behalf). Returns whether there was anything to commit.
    pub fn commit_leftovers(&self, cycle: u32) -> Result<bool, GitError> {
        self.clear_dead_locks();
        cli::commit_all_except(
            &self.path,
            &format!(
                "Uncommitted work of {} (cycle {cycle})\n\nCommitted by git oompa when the cycle ended.",
                self.worker
            ),
            &self.copied,
        )
    }

    /// Removes the locks a killed agent (or a git it ran) left in this worktree's git
    /// directory and on its branch: the agent's turn is over, and nothing else writes there,
    /// so a lock no process has open has no owner. Without this, one `git commit` killed
    /// mid-way failed every later cycle of the worker.
    fn clear_dead_locks(&self) {
        let Ok(wt) = crate::git::Repo::discover(&self.path) else {
            return;
        };
        let mut locks = crate::git::lock::locks_in(wt.git_dir());
        locks.extend(crate::git::LockFile::inspect(
            &wt.common_dir().join(format!("{}.lock", self.branch)),
        ));
        for lock in locks {
            if lock.holders().is_empty() && std::fs::remove_file(&lock.path).is_ok() {
                tracing::info!("removed {}, left by a killed agent", lock.path.display());
            }
        }
    }

    /// The branch tip.
    pub fn tip(&self, repo: &Repo) -> Result<Option<ObjectId>, GitError> {
        repo.read_ref(&self.branch)
    }

    /// Saves the branch tip under `refs/oompa/keep/<swarm>/<worker>/<label>` when it holds
    /// commits the target does not have. Returns the keep ref, if one was written.
    pub fn keep(
        &self,
        repo: &Repo,
        target: ObjectId,
        label: &str,
    ) -> Result<Option<String>, GitError> {
        let Some(tip) = self.tip(repo)? else {
            return Ok(None);
        };
        if repo.is_ancestor(tip, target)? {
            return Ok(None);
        }
        let prefix = format!("refs/oompa/keep/{}/{}/", self.swarm, self.worker);
        if let Some((already, _)) = repo
            .refs_with_prefix(&prefix)?
            .into_iter()
            .find(|(_, id)| *id == tip)
        {
            return Ok(Some(already));
        }
        let name = format!("{prefix}{label}");
        match repo.read_ref(&name)? {
            Some(existing) if existing == tip => {}
            Some(existing) => {
                repo.cas_ref(&name, Some(existing), tip, "oompa: keep unmerged work")?
            }
            None => repo.cas_ref(&name, None, tip, "oompa: keep unmerged work")?,
        }
        Ok(Some(name))
    }

    /// Saves anything unmerged, removes the worktree and deletes the branch.
    pub fn teardown(
        &self,
        repo: &Repo,
        target: ObjectId,
        label: &str,
    ) -> Result<Option<String>, GitError> {
        // Removing the worktree discards what is not committed: if that cannot be committed
        // (a lock left by a killed agent), the worktree stays for `git oompa gc`.
        self.commit_leftovers(0)?;
        let kept = self.keep(repo, target, label)?;
        repo.remove_worktree(&self.path)?;
        if let Some(tip) = self.tip(repo)? {
            repo.transaction(&[crate::git::RefUpdate {
                name: self.branch.clone(),
                expected: Some(tip),
                new: None,
                message: "oompa: worker finished".into(),
            }])?;
        }
        // Remove the now-empty swarm directory when this was the last worktree in it.
        if let Some(parent) = self.path.parent() {
            let _ = std::fs::remove_dir(parent);
        }
        Ok(kept)
    }
}
