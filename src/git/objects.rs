//! Objects: blobs, trees and commits read and written through gix, and the one ancestry
//! check.

use gix::bstr::ByteSlice;
use gix::objs::tree::{EntryKind, EntryMode};

use super::error::Context;
use super::{GitError, ObjectId, Repo, inspect};

impl Repo {
    /// Resolves a revision expression (`HEAD`, `main~2`, a hex id) to an object id.
    pub fn rev_parse(&self, spec: &str) -> Result<ObjectId, GitError> {
        Ok(self
            .repo
            .rev_parse_single(spec)
            .ctx(|| format!("resolving `{spec}`"))?
            .detach())
    }

    pub fn write_blob(&self, data: &[u8]) -> Result<ObjectId, GitError> {
        Ok(self
            .repo
            .write_blob(data)
            .ctx(|| "writing a blob".into())?
            .detach())
    }

    pub fn read_blob(&self, id: ObjectId) -> Result<Vec<u8>, GitError> {
        let obj = self
            .repo
            .find_object(id)
            .ctx(|| format!("reading object {id}"))?;
        if obj.kind != gix::object::Kind::Blob {
            return Err(GitError::WrongObjectKind {
                id,
                expected: "blob",
            });
        }
        Ok(obj.detach().data)
    }

    /// The tree of a commit.
    pub fn commit_tree(&self, commit: ObjectId) -> Result<ObjectId, GitError> {
        let c = self
            .repo
            .find_commit(commit)
            .ctx(|| format!("reading commit {commit}"))?;
        Ok(c.tree_id()
            .ctx(|| format!("reading commit {commit}"))?
            .detach())
    }

    /// Parents of a commit, in order.
    pub fn commit_parents(&self, commit: ObjectId) -> Result<Vec<ObjectId>, GitError> {
        let c = self
            .repo
            .find_commit(commit)
            .ctx(|| format!("reading commit {commit}"))?;
        Ok(c.parent_ids().map(|id| id.detach()).collect())
    }

    /// The full message of a commit.
    pub fn commit_message(&self, commit: ObjectId) -> Result<String, GitError> {
        let c = self
            .repo
            .find_commit(commit)
            .ctx(|| format!("reading commit {commit}"))?;
        let msg = c.message_raw().ctx(|| format!("reading commit {commit}"))?;
        Ok(msg.to_str_lossy().into_owned())
    }

    /// The mode and id of the entry at `path` in `tree`, whatever its kind.
    pub(super) fn entry_by_path(
        &self,
        tree: ObjectId,
        path: &str,
    ) -> Result<Option<(EntryMode, ObjectId)>, GitError> {
        let root = self
            .repo
            .find_tree(tree)
            .ctx(|| format!("reading tree {tree}"))?;
        let entry = root
            .lookup_entry_by_path(path)
            .ctx(|| format!("looking up {path} in tree {tree}"))?;
        Ok(entry.map(|e| (e.mode(), e.object_id())))
    }

    /// The entry at `path` in `tree`: whether it is a tree, and its id.
    fn entry_at(&self, tree: ObjectId, path: &str) -> Result<Option<(bool, ObjectId)>, GitError> {
        Ok(self
            .entry_by_path(tree, path)?
            .filter(|(mode, _)| mode.is_tree() || mode.is_blob())
            .map(|(mode, id)| (mode.is_tree(), id)))
    }

    /// Entries (`name`, blob id) of the subtree at `dir` of `tree`; empty when absent.
    pub fn list_dir(&self, tree: ObjectId, dir: &str) -> Result<Vec<(String, ObjectId)>, GitError> {
        let Some(sub) = self.lookup_tree(tree, dir)? else {
            return Ok(Vec::new());
        };
        let sub = self
            .repo
            .find_tree(sub)
            .ctx(|| format!("reading tree {dir}/"))?;
        let mut out = Vec::new();
        for e in sub.iter() {
            let e = e.ctx(|| format!("reading tree {dir}/"))?;
            out.push((e.filename().to_str_lossy().into_owned(), e.object_id()));
        }
        Ok(out)
    }

    /// The names of the entries at the root of `tree`, each with whether it is a tree.
    pub fn tree_names(&self, tree: ObjectId) -> Result<Vec<(String, bool)>, GitError> {
        let t = self
            .repo
            .find_tree(tree)
            .ctx(|| format!("reading tree {tree}"))?;
        let mut out = Vec::new();
        for e in t.iter() {
            let e = e.ctx(|| format!("reading tree {tree}"))?;
            out.push((e.filename().to_str_lossy().into_owned(), e.mode().is_tree()));
        }
        Ok(out)
    }

    /// The blob at `path` in `tree`, if any.
    pub fn lookup_path(&self, tree: ObjectId, path: &str) -> Result<Option<ObjectId>, GitError> {
        Ok(self
            .entry_at(tree, path)?
            .filter(|(is_tree, _)| !is_tree)
            .map(|(_, id)| id))
    }

    /// The subtree at `path` in `tree`, if there is one (a blob there is `None`).
    pub fn lookup_tree(&self, tree: ObjectId, path: &str) -> Result<Option<ObjectId>, GitError> {
        Ok(self
            .entry_at(tree, path)?
            .filter(|(is_tree, _)| *is_tree)
            .map(|(_, id)| id))
    }

    /// Every blob under `tree`, at any depth, as (`dir/sub/name`, blob id): a tree's own blobs
    /// first, then its subtrees', each level in tree order. Symlinks and submodule links are
    /// left out.
    pub fn list_blobs_recursive(
        &self,
        tree: ObjectId,
    ) -> Result<Vec<(String, ObjectId)>, GitError> {
        self.walk_tree(tree, |mode| mode.is_blob())
    }

    /// Every non-tree entry under `tree` whose mode `keep` accepts, at any depth, as
    /// (`dir/sub/name`, id): a tree's own entries first, then its subtrees', each level in
    /// tree order.
    pub(super) fn walk_tree(
        &self,
        tree: ObjectId,
        keep: impl Fn(EntryMode) -> bool,
    ) -> Result<Vec<(String, ObjectId)>, GitError> {
        let mut out = Vec::new();
        let mut pending = vec![(String::new(), tree)];
        while let Some((prefix, id)) = pending.pop() {
            let t = self
                .repo
                .find_tree(id)
                .ctx(|| format!("reading tree {id} ({prefix}/)"))?;
            let mut subtrees = Vec::new();
            for e in t.iter() {
                let e = e.ctx(|| format!("reading tree {id} ({prefix}/)"))?;
                let name = e.filename().to_str_lossy();
                let path = if prefix.is_empty() {
                    name.into_owned()
                } else {
                    format!("{prefix}/{name}")
                };
                if e.mode().is_tree() {
                    subtrees.push((path, e.object_id()));
                } else if keep(e.mode()) {
                    out.push((path, e.object_id()));
                }
            }
            // Depth first, in tree order: the stack takes the last subtree first.
            pending.extend(subtrees.into_iter().rev());
        }
        Ok(out)
    }

    /// Whether `id` names a commit in this repository (`false` when absent or another kind).
    pub fn is_commit(&self, id: ObjectId) -> Result<bool, GitError> {
        let header = self
            .repo
            .try_find_header(id)
            .ctx(|| format!("looking up object {id}"))?;
        Ok(header.is_some_and(|h| h.kind() == gix::object::Kind::Commit))
    }

    /// Applies `changes` (path → new blob, or `None` to remove) to `base` and writes the tree.
    pub fn edit_tree(
        &self,
        base: Option<ObjectId>,
        changes: &[(String, Option<ObjectId>)],
    ) -> Result<ObjectId, GitError> {
        let base = base.unwrap_or_else(|| ObjectId::empty_tree(self.repo.object_hash()));
        let mut ed = self
            .repo
            .edit_tree(base)
            .ctx(|| format!("editing tree {base}"))?;
        for (path, blob) in changes {
            match blob {
                Some(id) => {
                    ed.upsert(path.as_str(), EntryKind::Blob, *id)
                        .ctx(|| format!("adding {path} to a tree"))?;
                }
                None => {
                    ed.remove(path.as_str())
                        .ctx(|| format!("removing {path} from a tree"))?;
                }
            }
        }
        Ok(ed.write().ctx(|| "writing a tree".into())?.detach())
    }

    /// Writes a commit object (no ref is moved) with the configured (or fallback) identity,
    /// dated now (or at `GIT_AUTHOR_DATE` / `GIT_COMMITTER_DATE` when set, as git does).
    pub fn commit(
        &self,
        message: &str,
        tree: ObjectId,
        parents: &[ObjectId],
    ) -> Result<ObjectId, GitError> {
        let now = gix::date::Time::now_local_or_utc();
        let committer = self.signature(Role::Committer, now)?;
        let author = self.signature(Role::Author, now)?;
        let (mut committer_time, mut author_time) = Default::default();
        Ok(self
            .repo
            .new_commit_as(
                committer.to_ref(&mut committer_time),
                author.to_ref(&mut author_time),
                message,
                tree,
                parents.iter().copied(),
            )
            .ctx(|| "writing a commit".into())?
            .id)
    }

    /// The configured (or fallback) author or committer, dated `now` unless the environment
    /// fixes the date (`GIT_AUTHOR_DATE`, `GIT_COMMITTER_DATE`). gix dates its own signature
    /// the first time a repository handle asks for it and then keeps that date, so a
    /// long-running swarm would stamp every commit and reflog entry with its start time.
    pub(super) fn signature(
        &self,
        role: Role,
        now: gix::date::Time,
    ) -> Result<gix::actor::Signature, GitError> {
        let (found, date_key) = match role {
            Role::Committer => (self.repo.committer(), "gitoxide.commit.committerDate"),
            Role::Author => (self.repo.author(), "gitoxide.commit.authorDate"),
        };
        let what = match role {
            Role::Committer => "committer",
            Role::Author => "author",
        };
        let sig = found
            .ok_or_else(|| GitError::NoIdentity { role: what })?
            .ctx(|| format!("reading the {what} identity"))?;
        let mut sig = gix::actor::Signature::from(sig);
        if self.repo.config_snapshot().string(date_key).is_none() {
            sig.time = now;
        }
        Ok(sig)
    }

    /// Whether `ancestor` is reachable from `descendant` (or equal to it), as
    /// `git merge-base --is-ancestor ancestor descendant` answers; `false` when either is not
    /// a commit here. The one ancestry check: arguments in git's order, ancestor first.
    ///
    /// It first walks down from `descendant`, breadth-first, following only commits dated at
    /// most [`inspect::ANCESTOR_WALK_DATE_SLACK_SECS`] before `ancestor`: a commit near the
    /// tip (a landing, the previous target) is found in a few steps whatever the size of the
    /// repository, where a merge base would also paint the ancestor's own history. Reaching
    /// it is a sure yes, and a walk that left nothing out is a sure no. When the walk left
    /// out older-dated history (the ancestor is not there, or commit dates are skewed: a
    /// commit dated years back or in the future), the merge-base computation decides, so
    /// dates never make the answer wrong.
    pub fn is_ancestor(&self, ancestor: ObjectId, descendant: ObjectId) -> Result<bool, GitError> {
        if ancestor == descendant {
            return Ok(true);
        }
        if !self.is_commit(ancestor)? || !self.is_commit(descendant)? {
            return Ok(false);
        }
        let floor = self
            .commit_time(ancestor)?
            .saturating_sub(inspect::ANCESTOR_WALK_DATE_SLACK_SECS);
        match self.walk_down_to(descendant, ancestor, floor)? {
            inspect::Walk::Found => Ok(true),
            inspect::Walk::Exhausted => Ok(false),
            inspect::Walk::Cut => self.merge_base_is(ancestor, descendant),
        }
    }

    /// Whether the merge base of the two commits is `ancestor` (the exact, possibly slower,
    /// half of [`Repo::is_ancestor`]).
    fn merge_base_is(&self, ancestor: ObjectId, descendant: ObjectId) -> Result<bool, GitError> {
        match self.repo.merge_base(ancestor, descendant) {
            Ok(base) => Ok(base.is_some_and(|b| b.detach() == ancestor)),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(GitError::Gix {
                context: format!("finding the merge base of {ancestor} and {descendant}"),
                source: e,
            }),
        }
    }
}

/// Whose signature a commit needs.
#[derive(Debug, Clone, Copy)]
pub(super) enum Role {
    Author,
    Committer,
}
