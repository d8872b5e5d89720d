//! A worker's warm worktree: created once per swarm on `oompa/<swarm>/<worker>`, refreshed
//! to the target tip at the start of each cycle (ignored build outputs survive), settled at
//! the end of a cycle that did not land, and removed at the end of the swarm.
//!
//! Settling keeps everything the agent left, wherever it left it, under `refs/oompa/keep/`
//! before anything is reset: the worker branch, whatever HEAD points to (another branch, a
//! detached commit, a rebase half done), and the commits the branch or HEAD held during the
//! cycle that neither holds any more (a reset backwards, a deleted branch). It moves only the
//! worker branch and the worktree's own HEAD: no other branch is ever reset, committed on or
//! deleted, whatever the agent checked out.

use std::cell::RefCell;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::git::worktree::{HeadState, HeadTarget};
use crate::git::{GitError, ObjectId, Repo, cli};
use crate::store::record::AgentAction;

pub(crate) struct Workspace {
    pub path: PathBuf,
    /// Full branch ref, `refs/heads/oompa/<swarm>/<worker>`.
    pub branch: String,
    swarm: String,
    worker: String,
    /// Files copied in from the main checkout; never committed.
    copied: Vec<String>,
    /// Commits git oompa itself discarded this cycle (a reviewer's edits), which settling
    /// must not report as work the agent dropped.
    discarded: RefCell<Vec<ObjectId>>,
}

/// Where the worktree's reflogs stood after a refresh: what the agent did afterwards is read
/// from there on.
#[derive(Debug, Clone, Default)]
pub(crate) struct Mark {
    head: usize,
    branch: usize,
    /// The repository's own config entries.
    config: Vec<String>,
}

/// What settling a worktree found and kept.
#[derive(Debug, Default)]
pub(crate) struct Settled {
    /// Keep refs holding unmerged work, the worker branch's first.
    pub kept: Vec<String>,
    /// What the agent did that had to be undone, for the cycle record.
    pub did: Vec<AgentAction>,
    /// The worker branch as the agent left it (its leftovers committed), before settling
    /// put the worktree back; `None` when the agent deleted it.
    pub tip: Option<ObjectId>,
    /// Uncommitted changes were left that could not be committed (so not kept either).
    pub unsaved: bool,
}

impl Settled {
    fn did(&mut self, what: impl Into<String>) -> usize {
        self.did.push(AgentAction {
            what: what.into(),
            kept: None,
        });
        self.did.len() - 1
    }

    /// Notes what changed in the repository's own git config since `mark` (an agent running
    /// `git config` writes the person's repository config, shared by every worktree; other
    /// workers' agents or the person may have changed it meanwhile, hence the wording).
    pub fn config_changes(&mut self, ws: &Workspace, mark: &Mark) {
        let Some(now) = ws.checkout().map(|wt| wt.local_config_entries()) else {
            return;
        };
        let mut before = mark.config.clone();
        let mut added = Vec::new();
        for entry in now {
            match before.iter().position(|b| *b == entry) {
                Some(i) => {
                    before.remove(i);
                }
                None => added.push(format!("+{entry}")),
            }
        }
        let changes: Vec<String> = added
            .into_iter()
            .chain(before.into_iter().map(|e| format!("-{e}")))
            .collect();
        if changes.is_empty() {
            return;
        }
        const SHOWN: usize = 8;
        let mut list = changes[..changes.len().min(SHOWN)].join(", ");
        if changes.len() > SHOWN {
            list.push_str(&format!(" and {} more", changes.len() - SHOWN));
        }
        self.did(format!(
            "changed the repository's git config, or something did during its cycle: {list}"
        ));
    }

    /// Notes the processes an agent left running after its turns (ended by then).
    pub fn escaped(&mut self, escaped: &[String]) {
        if escaped.is_empty() {
            return;
        }
        const SHOWN: usize = 5;
        let more = escaped.len().saturating_sub(SHOWN);
        let mut list = escaped
            .iter()
            .take(SHOWN)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if more > 0 {
            list.push_str(&format!(" and {more} more"));
        }
        self.did(format!(
            "left {} process(es) running outside its turn, ended: {list}",
            escaped.len()
        ));
    }

    /// Adds what a later settle found.
    pub fn extend(&mut self, other: Settled) {
        for k in other.kept {
            if !self.kept.contains(&k) {
                self.kept.push(k);
            }
        }
        self.did.extend(other.did);
    }
}

/// Creates the worktree and points it at git oompa's guard hooks (`git::include`), so its
/// agent cannot move the target; removed again when that fails.
fn add_guarded_worktree(repo: &Repo, path: &Path, branch: &str) -> Result<(), GitError> {
    repo.add_worktree(path, branch)?;
    crate::git::include::guard_worktree(repo, path)
        .inspect_err(|_| {
            let _ = repo.remove_worktree(path);
        })
        .map(drop)
}

/// Most commits walked when looking for work dropped from the branch during one cycle.
const MAX_DROPPED_WALK: usize = 10_000;

impl Workspace {
    /// Creates the branch at `base` and the worktree on it.
    pub fn create(
        repo: &Repo,
        root: &Path,
        swarm: &str,
        worker: &str,
        base: ObjectId,
        copied: &[String],
    ) -> Result<Workspace, GitError> {
        let ws = Workspace {
            path: root.join(worker),
            branch: crate::store::layout::worker_branch(swarm, worker),
            swarm: swarm.to_string(),
            worker: worker.to_string(),
            copied: copied.to_vec(),
            discarded: RefCell::new(Vec::new()),
        };
        repo.cas_ref(&ws.branch, None, base, "oompa: worker branch")?;
        if let Err(e) = add_guarded_worktree(repo, &ws.path, &ws.branch) {
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

    /// The worktree itself, when it is still a linked worktree (the agent may have removed
    /// it, or replaced its `.git` file).
    fn checkout(&self) -> Option<Repo> {
        if !self.path.join(".git").is_file() {
            return None;
        }
        Repo::open_checkout(&self.path).ok()
    }

    /// Where HEAD is when it is not simply on the worker branch with nothing in progress
    /// (a description for the agent or the record), else `None`. A merge in progress is
    /// normal here (a conflict being resolved) and not reported.
    pub fn off_branch(&self) -> Option<String> {
        let Some(wt) = self.checkout() else {
            return Some("the worktree was removed".into());
        };
        let head = match wt.head_state() {
            Ok(h) => h,
            Err(e) => return Some(format!("HEAD cannot be read: {e}")),
        };
        let ours = self.on_branch(&head);
        match head.in_progress {
            Some(op) if op != "merge" => Some(format!(
                "a {op} is in progress{}",
                if ours {
                    String::new()
                } else {
                    format!(" and {}", self.where_head(&head))
                }
            )),
            _ if ours => None,
            _ => Some(self.where_head(&head)),
        }
    }

    /// Whether HEAD is on the worker branch, which exists.
    fn on_branch(&self, head: &HeadState) -> bool {
        head.branch.as_deref() == Some(self.branch.as_str()) && head.commit.is_some()
    }

    /// The worktree, when it is there, on the worker branch, with nothing in progress.
    fn in_order(&self) -> Option<Repo> {
        let wt = self.checkout()?;
        let head = wt.head_state().ok()?;
        (self.on_branch(&head) && head.in_progress.is_none()).then_some(wt)
    }

    /// "HEAD is on branch x" / "HEAD is detached at abc" / "HEAD is on x, which has no commit".
    fn where_head(&self, head: &HeadState) -> String {
        let short = |id: ObjectId| id.to_hex_with_len(12).to_string();
        match (&head.branch, head.commit) {
            (Some(b), Some(_)) => {
                format!("HEAD is on branch {}", b.trim_start_matches("refs/heads/"))
            }
            (Some(b), None) => format!(
                "HEAD is on {}, which has no commit yet",
                b.trim_start_matches("refs/heads/")
            ),
            (None, Some(id)) => format!("HEAD is detached at {}", short(id)),
            (None, None) => "HEAD points nowhere".into(),
        }
    }

    /// Points the worktree at `base` on the worker branch, discarding tracked changes and
    /// untracked files but keeping ignored ones (build caches), then copies the configured
    /// untracked files in. Anything an agent left off the branch (HEAD elsewhere, an operation
    /// in progress, the worktree removed) is settled first under `<label>`. Returns where the
    /// reflogs stand, and what that settling found.
    pub fn refresh(
        &self,
        repo: &Repo,
        base: ObjectId,
        root: &Path,
        label: &str,
    ) -> Result<(Mark, Settled), GitError> {
        let mut settled = Settled::default();
        self.discarded.borrow_mut().clear();
        let wt = match self.in_order() {
            Some(wt) => {
                self.clear_stale_locks(&wt, repo, &mut settled);
                wt
            }
            None => {
                settled = self.settle(repo, base, 0, label, None);
                if self.checkout().is_none() {
                    self.recreate(repo, base)?;
                }
                Repo::open_checkout(&self.path)?
            }
        };
        self.restore_in(&wt, base)?;
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
        let mark = Mark {
            head: wt.reflog_after("HEAD", 0)?.1,
            branch: repo.reflog_after(&self.branch, 0)?.1,
            config: wt.local_config_entries(),
        };
        Ok((mark, settled))
    }

    /// Puts HEAD back on the worker branch (recreating the branch when it is gone) with
    /// nothing in progress, and resets the branch, index and files to `commit`. Moves no
    /// other ref. Callers keep anything unmerged first.
    pub fn restore(&self, commit: ObjectId) -> Result<(), GitError> {
        self.restore_in(&Repo::open_checkout(&self.path)?, commit)
    }

    /// [`Workspace::restore`], discarding on purpose what HEAD and the branch hold beyond
    /// `commit` (a reviewer's edits): settling will not report it as dropped by the agent.
    pub fn discard_to(&self, repo: &Repo, commit: ObjectId) -> Result<(), GitError> {
        let head = self
            .checkout()
            .and_then(|wt| wt.head_state().ok())
            .and_then(|h| h.commit);
        let tip = self.tip(repo).ok().flatten();
        self.discarded
            .borrow_mut()
            .extend([head, tip].into_iter().flatten().filter(|c| *c != commit));
        self.restore(commit)
    }

    fn restore_in(&self, wt: &Repo, commit: ObjectId) -> Result<(), GitError> {
        let mut head = wt.head_state()?;
        if let Some(op) = head.in_progress {
            cli::end_operation(&self.path, op)?;
            head = wt.head_state()?;
        }
        if wt.read_ref(&self.branch)?.is_none() {
            wt.cas_ref(
                &self.branch,
                None,
                commit,
                "oompa: recreate the worker branch",
            )?;
        }
        if head.branch.as_deref() != Some(self.branch.as_str()) {
            wt.set_head(
                &head,
                HeadTarget::Branch(&self.branch),
                "oompa: back to the worker branch",
            )?;
        }
        cli::reset_hard(&self.path, commit)
    }

    /// Creates the worktree again after an agent removed it (or its `.git` file): the
    /// stale registration is dropped, what is left of the directory removed, and the
    /// branch (recreated at `base` when it is gone too) checked out again.
    fn recreate(&self, repo: &Repo, base: ObjectId) -> Result<(), GitError> {
        repo.prune_worktree(&self.path)?;
        if self.path.exists() {
            std::fs::remove_dir_all(&self.path).map_err(|e| GitError::Gix {
                context: format!("removing what is left of {}", self.path.display()),
                source: gix::Error::from_error(e),
            })?;
        }
        if repo.read_ref(&self.branch)?.is_none() {
            repo.cas_ref(
                &self.branch,
                None,
                base,
                "oompa: recreate the worker branch",
            )?;
        }
        add_guarded_worktree(repo, &self.path, &self.branch)
    }

    /// Commits anything left uncommitted in the worktree (the framework's commit on the
    /// agent's behalf) on whatever HEAD is. Returns whether there was anything to commit.
    pub fn commit_leftovers(&self, cycle: u32) -> Result<bool, GitError> {
        // A git command of the agent's killed mid-write would fail this commit, and every
        // later cycle's: the turn is over, so a lock no process holds has no owner.
        if let Some(wt) = self.checkout()
            && let Ok(repo) = Repo::discover(&self.path)
        {
            for (name, removed) in self.remove_dead_locks(&wt, &repo) {
                if removed.is_ok() {
                    tracing::info!("removed {name}, left by a killed agent");
                }
            }
        }
        cli::commit_all_except(
            &self.path,
            &format!(
                "Uncommitted work of {} (cycle {cycle})\n\nCommitted by git oompa when the cycle ended.",
                self.worker
            ),
            &self.copied,
        )
    }

    /// The branch tip.
    pub fn tip(&self, repo: &Repo) -> Result<Option<ObjectId>, GitError> {
        repo.read_ref(&self.branch)
    }

    /// Keeps everything the agent left that `target` does not have, under
    /// `refs/oompa/keep/<swarm>/<worker>/<label>[-head|-dropped-N]`, before anything is reset:
    /// uncommitted changes (committed on a detached HEAD when HEAD is not on the worker
    /// branch or an operation is in progress, so no other branch moves), the worker branch,
    /// HEAD, and the commits the branch or HEAD held since `mark` that neither holds now.
    /// Then the worktree is put back on the worker branch (recreated if the agent removed
    /// it), so nothing later finds it astray again. Never fails: what could not be done is
    /// said in [`Settled::did`].
    pub fn settle(
        &self,
        repo: &Repo,
        target: ObjectId,
        cycle: u32,
        label: &str,
        mark: Option<&Mark>,
    ) -> Settled {
        let mut s = Settled::default();
        let (head, head_action, detached) = self.settle_head(repo, target, cycle, &mut s);
        let tip = match self.tip(repo) {
            Ok(t) => t,
            Err(e) => {
                s.did(format!(
                    "its branch {} cannot be read: {e}",
                    self.short_branch()
                ));
                None
            }
        };
        if tip.is_none() {
            s.did(format!("deleted its branch {}", self.short_branch()));
        }
        s.tip = tip;
        let mut held: Vec<ObjectId> = vec![target];
        if let Some(tip) = tip {
            if let Some(k) = self.keep_commit(repo, tip, target, label, &mut s) {
                s.kept.push(k);
            }
            held.push(tip);
        }
        if let Some(head) = head
            && !held
                .iter()
                .any(|h| repo.is_ancestor(head, *h).unwrap_or(false))
        {
            let name = format!("{label}-head");
            if let Some(k) = self.keep_commit(repo, head, target, &name, &mut s) {
                let at = head_action.unwrap_or_else(|| s.did("left work on HEAD"));
                s.did[at].kept = Some(k.clone());
                s.kept.push(k);
            }
        }
        held.extend(head);
        if let Some(mark) = mark {
            for (n, commit) in self.dropped(repo, mark, &held).into_iter().enumerate() {
                let name = format!("{label}-dropped-{}", n + 1);
                if let Some(k) = self.keep_commit(repo, commit, target, &name, &mut s) {
                    let at = s.did(format!(
                        "dropped commit {} from its branch (a reset, rebase or amend)",
                        commit.to_hex_with_len(12)
                    ));
                    s.did[at].kept = Some(k.clone());
                    s.kept.push(k);
                }
            }
        }
        // Everything is kept: the worktree goes back on the branch now, so nothing later (the
        // next refresh, the teardown) finds it astray again.
        let back = tip.unwrap_or(target);
        let fixed = if self.checkout().is_none() {
            self.recreate(repo, back)
        } else if detached {
            self.restore(back)
        } else {
            Ok(())
        };
        if let Err(e) = fixed {
            s.did(format!(
                "its worktree could not be put back on its branch: {e}"
            ));
        }
        s
    }

    /// The HEAD part of [`Workspace::settle`]: says where the agent left HEAD, detaches it
    /// when it is not on the worker branch (or an operation is in progress) and commits the
    /// leftovers there. Returns HEAD's commit afterwards, the index of the action that
    /// describes it, and whether HEAD was detached here.
    fn settle_head(
        &self,
        repo: &Repo,
        target: ObjectId,
        cycle: u32,
        s: &mut Settled,
    ) -> (Option<ObjectId>, Option<usize>, bool) {
        let Some(wt) = self.checkout() else {
            s.did("removed its worktree");
            return (None, None, false);
        };
        let head = match wt.head_state() {
            Ok(h) => h,
            Err(e) => {
                s.did(format!("left HEAD unreadable: {e}"));
                return (None, None, false);
            }
        };
        self.clear_stale_locks(&wt, repo, s);
        let ours = self.on_branch(&head);
        let mut action = None;
        if let Some(op) = head.in_progress {
            action = Some(s.did(format!("left a {op} in progress")));
        }
        // A rebase, am or bisect detaches HEAD by itself: that is said by the line above. On
        // the worker branch with no commit, the branch was deleted: said by the caller.
        let named_ours = head.branch.as_deref() == Some(self.branch.as_str());
        if !ours && !named_ours && (head.branch.is_some() || action.is_none()) {
            let what = match (&head.branch, head.commit) {
                (Some(b), Some(_)) => {
                    format!("checked out branch {}", b.trim_start_matches("refs/heads/"))
                }
                (Some(b), None) => format!(
                    "switched to a new branch {} with no commit",
                    b.trim_start_matches("refs/heads/")
                ),
                (None, _) => "detached HEAD".into(),
            };
            let at = s.did(what);
            action.get_or_insert(at);
        }
        let detach = !ours || head.in_progress.is_some();
        if detach {
            let at = head
                .commit
                .or_else(|| self.tip(repo).ok().flatten())
                .unwrap_or(target);
            if let Err(e) = wt.set_head(
                &head,
                HeadTarget::Detached(at),
                "oompa: detach HEAD to keep what the agent left",
            ) {
                s.did(format!("HEAD could not be detached: {e}"));
                return (head.commit, action, false);
            }
        }
        if let Err(e) = self.commit_leftovers(cycle) {
            s.unsaved = true;
            s.did(format!(
                "left uncommitted changes that could not be committed: {}",
                e.detail()
            ));
        }
        let now = wt.head_state().ok().and_then(|h| h.commit);
        (now, action, detach)
    }

    /// Removes the locks a git command of the agent left when it was killed mid-write (the
    /// worktree's `index.lock` and `HEAD.lock`, the worker branch's lock): the agent's
    /// processes are all gone by now, and nothing else works in this worktree, so they are
    /// stale, and they would stop every later cycle's reset.
    fn clear_stale_locks(&self, wt: &Repo, repo: &Repo, s: &mut Settled) {
        for (name, removed) in self.remove_dead_locks(wt, repo) {
            match removed {
                Ok(()) => s.did(format!(
                    "left a stale {name} (a git command it ran was cut short); removed it"
                )),
                Err(e) => s.did(format!(
                    "left a stale {name} that could not be removed: {e}"
                )),
            };
        }
    }

    /// Removes the locks in the worktree's git directory and on the worker branch that no
    /// process holds open (one still open belongs to a live process, something the agent left
    /// running that escaped the sweep: not ours to take away). Returns each lock's name
    /// (relative to the common directory) and whether it was removed.
    fn remove_dead_locks(&self, wt: &Repo, repo: &Repo) -> Vec<(String, std::io::Result<()>)> {
        let mut locks = crate::git::lock::locks_in(wt.git_dir());
        locks.extend(crate::git::LockFile::inspect(
            &repo.common_dir().join(format!("{}.lock", self.branch)),
        ));
        locks
            .into_iter()
            .filter(|lock| lock.holders().is_empty())
            .map(|lock| {
                let name = lock
                    .path
                    .strip_prefix(repo.common_dir())
                    .unwrap_or(&lock.path)
                    .display()
                    .to_string();
                (name, std::fs::remove_file(&lock.path))
            })
            .collect()
    }

    /// Whether `commit` is a landing-gate candidate of this swarm (checked out detached here
    /// for a gate run): a landing commit git oompa made, holding nothing of the agent's own.
    fn is_gate_candidate(&self, repo: &Repo, commit: ObjectId) -> bool {
        repo.commit_message(commit).is_ok_and(|m| {
            let t = crate::store::trailers::parse(&m);
            t.gate.is_some() && t.swarm.as_deref() == Some(self.swarm.as_str())
        })
    }

    /// Commits the branch or HEAD reflogs reached since `mark` that none of `held` (target,
    /// branch tip, HEAD) contains: the newest of each line of work, oldest first.
    fn dropped(&self, repo: &Repo, mark: &Mark, held: &[ObjectId]) -> Vec<ObjectId> {
        let mut seen: Vec<ObjectId> = Vec::new();
        let mut add = |entries: Vec<crate::git::inspect::ReflogEntry>| {
            for e in entries {
                for id in [e.old, e.new] {
                    if !id.is_null() && !seen.contains(&id) {
                        seen.push(id);
                    }
                }
            }
        };
        if let Ok((entries, _)) = repo.reflog_after(&self.branch, mark.branch) {
            add(entries);
        }
        if let Some(wt) = self.checkout()
            && let Ok((entries, _)) = wt.reflog_after("HEAD", mark.head)
        {
            add(entries);
        }
        let candidates: Vec<ObjectId> = seen
            .into_iter()
            .filter(|id| repo.is_commit(*id).unwrap_or(false))
            .filter(|id| !self.is_gate_candidate(repo, *id))
            .collect();
        if candidates.is_empty() {
            return Vec::new();
        }
        let mut hidden = held.to_vec();
        hidden.extend(self.discarded.borrow().iter().copied());
        let Ok(unheld) = repo.commits_excluding(&candidates, &hidden, MAX_DROPPED_WALK) else {
            return Vec::new();
        };
        let unheld: HashSet<ObjectId> = unheld.into_iter().collect();
        // A candidate inside another candidate's history is kept through that one.
        let mut inside: HashSet<ObjectId> = HashSet::new();
        let mut stack: Vec<ObjectId> = candidates
            .iter()
            .filter(|c| unheld.contains(*c))
            .flat_map(|c| repo.commit_parents(*c).unwrap_or_default())
            .collect();
        while let Some(c) = stack.pop() {
            if unheld.contains(&c) && inside.insert(c) {
                stack.extend(repo.commit_parents(c).unwrap_or_default());
            }
        }
        candidates
            .into_iter()
            .filter(|c| unheld.contains(c) && !inside.contains(c))
            .collect()
    }

    /// Saves `commit` under `refs/oompa/keep/<swarm>/<worker>/<label>` when `target` does
    /// not have it ([`crate::store::keep::preserve`]). A failure is
    /// said in `s` and returns `None`.
    fn keep_commit(
        &self,
        repo: &Repo,
        commit: ObjectId,
        target: ObjectId,
        label: &str,
        s: &mut Settled,
    ) -> Option<String> {
        match self.keep_at(repo, commit, target, label) {
            Ok(k) => k,
            Err(e) => {
                s.did(format!(
                    "could not keep {}: {e}",
                    commit.to_hex_with_len(12)
                ));
                None
            }
        }
    }

    fn keep_at(
        &self,
        repo: &Repo,
        commit: ObjectId,
        target: ObjectId,
        label: &str,
    ) -> Result<Option<String>, GitError> {
        if repo.is_ancestor(commit, target)? {
            return Ok(None);
        }
        crate::store::keep::preserve(
            repo,
            &self.swarm,
            &self.worker,
            commit,
            label,
            "oompa: keep unmerged work",
        )
        .map(Some)
    }

    /// Keeps everything unmerged ([`Workspace::settle`] under `label`), removes the worktree
    /// and deletes the branch.
    pub fn teardown(
        &self,
        repo: &Repo,
        target: ObjectId,
        label: &str,
    ) -> Result<Settled, GitError> {
        let mut settled = self.settle(repo, target, 0, label, None);
        if settled.unsaved {
            // Removing the worktree would discard what could not be committed (a lock a
            // killed agent left, say): it stays, with its branch, for `git oompa gc`.
            settled.did("left its worktree and branch for `git oompa gc`: uncommitted work there could not be committed");
            return Ok(settled);
        }
        if self.path.join(".git").is_file() {
            repo.remove_worktree(&self.path)?;
        } else {
            repo.prune_worktree(&self.path)?;
        }
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
        Ok(settled)
    }
}
