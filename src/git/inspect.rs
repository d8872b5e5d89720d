//! Read-mostly queries the guards need: reflog tails, bounded history walks, multi-valued
//! config, where git looks for hooks, and one config write (through gix's config file API).
//!
//! Everything here is cheap by construction: reflogs are read from their end, walks stop at
//! hidden tips or a limit. This module never prints.

use std::path::{Path, PathBuf};

use gix::bstr::ByteSlice;

use super::{Context, GitError, ObjectId, Repo};

/// One reflog line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReflogEntry {
    /// Null for a creation.
    pub old: ObjectId,
    /// Null for a deletion.
    pub new: ObjectId,
    pub message: String,
    /// Seconds since the epoch.
    pub time: i64,
}

/// Where git runs a checkout's hooks from, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HooksDir {
    pub path: PathBuf,
    /// The raw `core.hooksPath` value, when it is set.
    pub configured: Option<String>,
}

impl HooksDir {
    /// Whether `core.hooksPath` is relative, so each checkout has its own directory.
    pub fn is_relative(&self) -> bool {
        self.configured
            .as_deref()
            .is_some_and(|p| !p.starts_with('~') && !Path::new(p).is_absolute())
    }
}

impl Repo {
    /// The newest `max` entries of `name`'s reflog, newest first. Empty when the ref or its
    /// reflog does not exist. Reads only the end of the file.
    pub fn reflog_tail(&self, name: &str, max: usize) -> Result<Vec<ReflogEntry>, GitError> {
        let Some(r) = self
            .gix()
            .try_find_reference(name)
            .ctx(|| format!("reading {name}"))?
        else {
            return Ok(Vec::new());
        };
        let mut platform = r.log_iter();
        let iter = platform.rev().map_err(|e| GitError::Gix {
            context: format!("reading the reflog of {name}"),
            source: gix::Error::from_error(e),
        })?;
        let Some(iter) = iter else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for line in iter.take(max) {
            // A damaged line ends what we can trust; what came before it is still good.
            let Ok(line) = line else { break };
            out.push(ReflogEntry {
                old: line.previous_oid,
                new: line.new_oid,
                message: line.message.to_str_lossy().into_owned(),
                time: line.signature.time.seconds,
            });
        }
        Ok(out)
    }

    /// The entries of `name`'s reflog after the first `skip`, oldest first, and how many
    /// entries it has in all. When it has fewer than `skip` (it was expired or recreated),
    /// every entry is returned. Empty when the ref or its reflog does not exist.
    pub fn reflog_after(
        &self,
        name: &str,
        skip: usize,
    ) -> Result<(Vec<ReflogEntry>, usize), GitError> {
        let Some(r) = self
            .gix()
            .try_find_reference(name)
            .ctx(|| format!("reading {name}"))?
        else {
            return Ok((Vec::new(), 0));
        };
        let mut platform = r.log_iter();
        let iter = platform.all().map_err(|e| GitError::Gix {
            context: format!("reading the reflog of {name}"),
            source: gix::Error::from_error(e),
        })?;
        let Some(iter) = iter else {
            return Ok((Vec::new(), 0));
        };
        let mut all = Vec::new();
        for line in iter {
            // A damaged line ends what we can trust.
            let Ok(line) = line else { break };
            all.push(ReflogEntry {
                old: line.previous_oid(),
                new: line.new_oid(),
                message: line.message.to_str_lossy().into_owned(),
                time: line.signature.seconds(),
            });
        }
        let total = all.len();
        if total >= skip {
            all.drain(..skip);
        }
        Ok((all, total))
    }

    /// The entries of this checkout's own config files (the repository's `config` and, with
    /// `extensions.worktreeConfig`, this worktree's `config.worktree`), one
    /// `section[.subsection].key=value` each, in file order. For telling what changed.
    pub fn local_config_entries(&self) -> Vec<String> {
        let mut out = Vec::new();
        for path in [
            self.common_dir().join("config"),
            self.git_dir().join("config.worktree"),
        ] {
            if let Ok(text) = std::fs::read_to_string(&path) {
                out.extend(config_entries(&text));
            }
        }
        out
    }

    /// Commits reachable from `tips` but not from `hidden`, newest first, at most `limit`.
    /// Hidden tips that are not in the repository are ignored.
    pub fn commits_excluding(
        &self,
        tips: &[ObjectId],
        hidden: &[ObjectId],
        limit: usize,
    ) -> Result<Vec<ObjectId>, GitError> {
        let hidden: Vec<ObjectId> = hidden
            .iter()
            .copied()
            .filter(|h| self.is_commit(*h).unwrap_or(false))
            .collect();
        let walk = self
            .gix()
            .rev_walk(tips.iter().copied())
            .with_hidden(hidden)
            .all()
            .ctx(|| "walking history".into())?;
        let mut out = Vec::new();
        for info in walk.take(limit) {
            let info = info.ctx(|| "walking history".into())?;
            out.push(info.id);
        }
        Ok(out)
    }

    /// The first-parent chain from `tip`, newest first, at most `limit` commits.
    pub fn first_parents(&self, tip: ObjectId, limit: usize) -> Result<Vec<ObjectId>, GitError> {
        let walk = self
            .gix()
            .rev_walk([tip])
            .first_parent_only()
            .all()
            .ctx(|| format!("walking the history of {tip}"))?;
        let mut out = Vec::new();
        for info in walk.take(limit) {
            out.push(info.ctx(|| format!("walking the history of {tip}"))?.id);
        }
        Ok(out)
    }

    /// The committer time of a commit, in seconds since the epoch.
    pub fn commit_time(&self, commit: ObjectId) -> Result<i64, GitError> {
        let c = self
            .gix()
            .find_commit(commit)
            .ctx(|| format!("reading commit {commit}"))?;
        Ok(c.time().ctx(|| format!("reading commit {commit}"))?.seconds)
    }

    /// What kind of object `id` is (`commit`, `tree`, `blob`, `tag`) and its size in bytes,
    /// from its header alone; `None` when the repository does not have it.
    pub fn object_header(&self, id: ObjectId) -> Result<Option<(&'static str, u64)>, GitError> {
        let header = self
            .gix()
            .try_find_header(id)
            .ctx(|| format!("looking up object {id}"))?;
        Ok(header.map(|h| {
            let kind = match h.kind() {
                gix::object::Kind::Commit => "commit",
                gix::object::Kind::Tree => "tree",
                gix::object::Kind::Blob => "blob",
                gix::object::Kind::Tag => "tag",
            };
            (kind, h.size())
        }))
    }

    /// The author of a commit as `Name <email>`.
    pub fn commit_author(&self, commit: ObjectId) -> Result<String, GitError> {
        let c = self
            .gix()
            .find_commit(commit)
            .ctx(|| format!("reading commit {commit}"))?;
        let author = c.author().ctx(|| format!("reading commit {commit}"))?;
        Ok(format!(
            "{} <{}>",
            author.name.to_str_lossy(),
            author.email.to_str_lossy()
        ))
    }

    /// Every value of a multi-valued config key, in the order git reads them.
    pub fn config_strings(&self, key: &str) -> Vec<String> {
        self.gix()
            .config_snapshot()
            .plumbing()
            .strings(key)
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.to_str_lossy().into_owned())
            .collect()
    }

    /// Adds `value` to the multi-valued `section.key` in the repository's own config file
    /// (`.git/config`) unless the file already has it. Returns whether it was added. Written
    /// with gix's config file transaction (locked, atomic).
    pub fn add_local_config(
        &self,
        section: &str,
        key: &str,
        value: &str,
    ) -> Result<bool, GitError> {
        let path = self
            .gix()
            .config_path(gix::config::Source::Local)
            .ctx(|| "locating the repository config".into())?;
        self.add_config_in(&path, section, key, value)
    }

    /// The directory git runs this checkout's hooks from: `core.hooksPath` (a relative value
    /// is relative to the checkout's root, `~` is the home directory), else
    /// `$GIT_COMMON_DIR/hooks`, which linked worktrees share.
    pub fn hooks_dir(&self) -> HooksDir {
        let configured = self
            .config_string("core.hooksPath")
            .filter(|s| !s.is_empty());
        self.hooks_dir_from(configured)
    }

    /// [`Repo::hooks_dir`] as it would be without the config file `ignored` (git oompa's own
    /// `hooks.config`, which points worker worktrees and agents at its guard): where the
    /// person's own hooks are.
    pub fn hooks_dir_ignoring(&self, ignored: &Path) -> HooksDir {
        let ignored = ignored
            .canonicalize()
            .unwrap_or_else(|_| ignored.to_path_buf());
        let configured = self
            .gix()
            .config_snapshot()
            .plumbing()
            .string_filter("core.hooksPath", |meta| {
                meta.path
                    .as_deref()
                    .is_none_or(|p| p.canonicalize().unwrap_or_else(|_| p.to_path_buf()) != ignored)
            })
            .map(|v| v.to_str_lossy().into_owned())
            .filter(|s| !s.is_empty());
        self.hooks_dir_from(configured)
    }

    fn hooks_dir_from(&self, configured: Option<String>) -> HooksDir {
        let path: PathBuf = match configured.as_deref() {
            None => self.common_dir().join("hooks"),
            Some(p) => {
                if let Some(rest) = p.strip_prefix("~/") {
                    std::env::var_os("HOME")
                        .map(PathBuf::from)
                        .unwrap_or_default()
                        .join(rest)
                } else {
                    let p = Path::new(p);
                    if p.is_absolute() {
                        p.to_path_buf()
                    } else {
                        self.workdir().join(p)
                    }
                }
            }
        };
        // Linked worktrees see the common dir as `.git/worktrees/<id>/../..`; one spelling
        // per directory.
        let path = path.canonicalize().unwrap_or(path);
        HooksDir { path, configured }
    }

    /// A boolean from the repository configuration (`true`, `yes`, `on`, `1`, …); `None` when
    /// unset or not a boolean.
    pub fn config_bool(&self, key: &str) -> Option<bool> {
        self.gix().config_snapshot().try_boolean(key).ok().flatten()
    }

    /// The config file at `path` (created when missing), open in gix's locked transaction.
    fn config_file_for_writing(
        &self,
        path: &Path,
    ) -> Result<gix::config::FileTransaction, GitError> {
        self.gix()
            .config_file_mut(path)
            .ctx(|| format!("opening {} for writing", path.display()))
    }

    /// Sets the single-valued `section.key` to `value` in the config file at `path` (created
    /// when missing). Returns whether the file changed. Written with gix's config file
    /// transaction (locked, atomic).
    pub fn set_config_in(
        &self,
        path: &Path,
        section: &str,
        key: &str,
        value: &str,
    ) -> Result<bool, GitError> {
        let mut file = self.config_file_for_writing(path)?;
        let current = file.raw_value_by(section, None, key).ok();
        if current
            .as_ref()
            .is_some_and(|v| v.as_bstr() == value.as_bytes())
        {
            return Ok(false);
        }
        file.set_raw_value_by(section, None, key, value.as_bytes().as_bstr())
            .map_err(|e| setting_error(section, key, path, e))?;
        file.commit()
            .ctx(|| format!("writing {}", path.display()))?;
        Ok(true)
    }

    /// Adds `value` to the multi-valued `section.key` in the config file at `path` (created
    /// when missing) unless it is there already. Returns whether it was added.
    pub fn add_config_in(
        &self,
        path: &Path,
        section: &str,
        key: &str,
        value: &str,
    ) -> Result<bool, GitError> {
        let mut file = self.config_file_for_writing(path)?;
        let present = file
            .raw_values_by(section, None, key)
            .map(|vals| vals.iter().any(|v| v.as_bstr() == value.as_bytes()))
            .unwrap_or(false);
        if present {
            return Ok(false);
        }
        let mut sect =
            file.section_mut_or_create_new(section, None)
                .map_err(|e| GitError::Gix {
                    context: format!("adding [{section}] to {}", path.display()),
                    source: gix::Error::from_error(e),
                })?;
        sect.push(key, Some(value.as_bytes().as_bstr()))
            .map_err(|e| setting_error(section, key, path, e))?;
        file.commit()
            .ctx(|| format!("writing {}", path.display()))?;
        Ok(true)
    }

    /// Removes the `section.key` entries equal to `value` (every one when `None`) from the
    /// config file at `path`, and the sections they leave empty; a file left with no entry at
    /// all is deleted. Returns whether anything was removed; a missing file is `Ok(false)`.
    pub fn remove_config_in(
        &self,
        path: &Path,
        section: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<bool, GitError> {
        if !path.is_file() {
            return Ok(false);
        }
        let mut file = self.config_file_for_writing(path)?;
        let mut removed = false;
        if let Ok(mut values) = file.raw_values_mut_by(section, None, key) {
            let all = values.get().unwrap_or_default();
            for (i, v) in all.iter().enumerate().rev() {
                if value.is_none_or(|want| v.as_bstr() == want.as_bytes()) {
                    values.delete(i);
                    removed = true;
                }
            }
        }
        if !removed {
            return Ok(false);
        }
        let empty: Vec<_> = file
            .sections_and_ids_by_name(section)
            .map(|it| {
                it.filter(|(s, _)| s.body().num_values() == 0)
                    .map(|(_, id)| id)
                    .collect()
            })
            .unwrap_or_default();
        for id in empty {
            file.remove_section_by_id(id);
        }
        if file.num_values() == 0 {
            drop(file);
            std::fs::remove_file(path).map_err(|e| GitError::Gix {
                context: format!("removing {}", path.display()),
                source: gix::Error::from_error(e),
            })?;
            return Ok(true);
        }
        file.commit()
            .ctx(|| format!("writing {}", path.display()))?;
        Ok(true)
    }

    /// The branch checked out in the main worktree (short name), read from its HEAD file so
    /// it works the same from a linked worktree.
    pub fn main_head_branch(&self) -> Option<String> {
        let head = std::fs::read_to_string(self.common_dir().join("HEAD")).ok()?;
        let name = head.trim().strip_prefix("ref: ")?;
        Some(name.strip_prefix("refs/heads/")?.to_string())
    }

    /// Whether this is a linked worktree (not the main one).
    pub fn is_linked_worktree(&self) -> bool {
        self.git_dir() != self.common_dir()
    }

    /// Whether the checkout at this repository's work tree has changes git would lose on a
    /// reset: modified or staged tracked files, or untracked (not ignored) files.
    pub fn has_local_changes(&self) -> Result<bool, GitError> {
        let repo = self.gix();
        if repo.is_dirty().ctx(|| "checking for changes".into())? {
            return Ok(true);
        }
        let mut iter = repo
            .status(gix::progress::Discard)
            .ctx(|| "checking for untracked files".into())?
            .untracked_files(gix::status::UntrackedFiles::Files)
            .into_iter(None)
            .ctx(|| "checking for untracked files".into())?;
        Ok(iter.next().is_some())
    }
}

impl Repo {
    /// Opens the repository a hook runs for. Git starts most hooks at the work tree root,
    /// but push-triggered ones (a `git push .` runs `receive-pack`) inside `$GIT_DIR`, which
    /// for a linked worktree is `.git/worktrees/<id>`: that one is mapped back to its
    /// worktree through its `gitdir` file.
    pub fn discover_for_hook(cwd: &Path) -> Result<Repo, GitError> {
        let git_dir = std::env::var_os("GIT_DIR").map(|d| cwd.join(d));
        let candidates = git_dir
            .into_iter()
            .chain(std::iter::once(cwd.to_path_buf()));
        let mut last = None;
        for dir in candidates {
            let workdir = if dir.join("gitdir").is_file() {
                std::fs::read_to_string(dir.join("gitdir"))
                    .ok()
                    .map(|p| PathBuf::from(p.trim()))
                    .and_then(|p| p.parent().map(Path::to_path_buf))
            } else if dir.join("HEAD").is_file() && dir.file_name().is_some_and(|n| n == ".git") {
                dir.parent().map(Path::to_path_buf)
            } else {
                None
            };
            match Repo::discover(workdir.as_deref().unwrap_or(&dir)) {
                Ok(r) => return Ok(r),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least the working directory was tried"))
    }
}

/// The values of `section.key` in the config file at `path` alone (its includes are not
/// followed), in file order; empty when the file is missing or unreadable.
pub fn config_values_in(path: &Path, section: &str, key: &str) -> Vec<String> {
    let Ok(file) =
        gix::config::File::from_path_no_includes(path.to_path_buf(), gix::config::Source::Local)
    else {
        return Vec::new();
    };
    file.raw_values_by(section, None, key)
        .map(|vals| vals.iter().map(|v| v.to_str_lossy().into_owned()).collect())
        .unwrap_or_default()
}

/// The error of setting `section.key` in the config file at `path`.
fn setting_error(
    section: &str,
    key: &str,
    path: &Path,
    e: impl std::error::Error + Send + Sync + 'static,
) -> GitError {
    GitError::Gix {
        context: format!("setting {section}.{key} in {}", path.display()),
        source: gix::Error::from_error(e),
    }
}

/// How far below the ancestor's commit date the walk of [`Repo::is_ancestor`] follows
/// history before it hands the question to the exact merge-base computation: a day, for
/// clocks that disagree. Only a speed-up: it never changes an answer.
pub const ANCESTOR_WALK_DATE_SLACK_SECS: i64 = 24 * 3600;

/// How [`Repo::walk_down_to`] ended.
pub(crate) enum Walk {
    /// The commit looked for was reached.
    Found,
    /// Everything reachable was walked without reaching it.
    Exhausted,
    /// Not reached, but parents dated below the floor were left unwalked.
    Cut,
}

impl Repo {
    /// Breadth-first from `descendant` towards `ancestor`, not following commits dated before
    /// `floor`. Each commit is read once.
    pub(crate) fn walk_down_to(
        &self,
        descendant: ObjectId,
        ancestor: ObjectId,
        floor: i64,
    ) -> Result<Walk, GitError> {
        let mut cut = false;
        let mut seen = std::collections::HashSet::from([descendant]);
        let mut queue = std::collections::VecDeque::from([descendant]);
        while let Some(c) = queue.pop_front() {
            let commit = self
                .gix()
                .find_commit(c)
                .ctx(|| format!("reading commit {c}"))?;
            if c != descendant {
                let time = commit.time().ctx(|| format!("reading commit {c}"))?.seconds;
                if time < floor {
                    cut = true;
                    continue;
                }
            }
            for p in commit.parent_ids() {
                let p = p.detach();
                if p == ancestor {
                    return Ok(Walk::Found);
                }
                if seen.insert(p) {
                    queue.push_back(p);
                }
            }
        }
        Ok(if cut { Walk::Cut } else { Walk::Exhausted })
    }
}

/// `section[.subsection].key=value` for each entry of a git config file (comments, includes
/// and continuation lines are not interpreted: this is for showing what changed).
pub(crate) fn config_entries(text: &str) -> Vec<String> {
    let mut section = String::new();
    let mut out = Vec::new();
    for raw in text.lines() {
        let mut line = raw.trim();
        if line.starts_with('[') {
            let Some(end) = line.find(']') else { continue };
            let inner = &line[1..end];
            section = match inner.split_once(char::is_whitespace) {
                Some((name, sub)) => format!(
                    "{}.{}",
                    name.to_ascii_lowercase(),
                    sub.trim().trim_matches('"')
                ),
                None => inner.to_ascii_lowercase(),
            };
            line = line[end + 1..].trim();
        }
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (line, "true"),
        };
        out.push(format!("{section}.{}={value}", key.to_ascii_lowercase()));
    }
    out
}

/// How many of a worker branch's newest reflog entries are looked at for commits made on it.
pub const WORKER_REFLOG_TAIL: usize = 200;

/// Whether a reflog message says the commit was made in that worktree (not a reset, a
/// branch creation, a checkout or a fast-forward to somebody else's commit).
pub fn made_here(message: &str) -> bool {
    const MADE: [&str; 7] = [
        "commit",
        "merge ",
        "rebase",
        "cherry-pick",
        "revert",
        "am:",
        "pull",
    ];
    MADE.iter().any(|p| message.starts_with(p)) && !message.contains("Fast-forward")
}

impl Repo {
    /// Whether `commit` was made on the worker branch `branch` (a commit, merge, … in its
    /// reflog tail), not merely reset or fast-forwarded to.
    pub fn made_on(&self, branch: &str, commit: ObjectId) -> bool {
        self.reflog_tail(branch, WORKER_REFLOG_TAIL)
            .unwrap_or_default()
            .iter()
            .any(|e| e.new == commit && made_here(&e.message))
    }
}

#[cfg(test)]
mod config_tests {
    use super::{config_entries, made_here};

    #[test]
    fn config_entries_name_section_subsection_and_key() {
        let text = "[core]\n\tbare = false\n# a comment\n[remote \"origin\"]\n\turl = x\n\
                    [User] Name = A B\n\tflag\n";
        assert_eq!(
            config_entries(text),
            [
                "core.bare=false",
                "remote.origin.url=x",
                "user.name=A B",
                "user.flag=true"
            ]
        );
    }

    #[test]
    fn only_commits_made_in_the_worktree_count() {
        assert!(made_here("commit: Do t1"));
        assert!(made_here("commit (amend): Do t1"));
        assert!(made_here(
            "merge refs/heads/main: Merge made by the 'ort' strategy."
        ));
        assert!(!made_here("merge main: Fast-forward"));
        assert!(!made_here("reset: moving to 0123"));
        assert!(!made_here("oompa: worker branch"));
        assert!(!made_here("branch: Created from main"));
        assert!(!made_here(""));
    }
}

#[cfg(test)]
mod ancestry_tests {
    use super::*;

    /// A repository whose `main` is a chain of commits dated as given, oldest first; returns
    /// the repository and the commits' ids in the same order.
    fn chain(dates: &[&str]) -> (tempfile::TempDir, Repo, Vec<ObjectId>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let git = |args: &[&str], date: &str| {
            let dated = [("GIT_AUTHOR_DATE", date), ("GIT_COMMITTER_DATE", date)];
            crate::git::cli::test_git(dir.path(), args, &dated)
                .trim()
                .to_string()
        };
        git(&["init", "-q", "-b", "main"], dates[0]);
        let ids = dates
            .iter()
            .map(|d| {
                git(&["commit", "-q", "--allow-empty", "-m", d], d);
                let hex = git(&["rev-parse", "HEAD"], d);
                ObjectId::from_hex(hex.as_bytes()).expect("an id")
            })
            .collect();
        let repo = Repo::discover(dir.path()).expect("open");
        (dir, repo, ids)
    }

    /// In a chain of four commits dated as given (skewed), the first and second are found as
    /// ancestors of the fourth, and the fourth is not one of the second.
    fn assert_ancestry_ignores_dates(dates: &[&str; 4]) {
        let (_dir, repo, c) = chain(dates);
        assert!(repo.is_ancestor(c[1], c[3]).expect("answer"));
        assert!(repo.is_ancestor(c[0], c[3]).expect("answer"));
        assert!(!repo.is_ancestor(c[3], c[1]).expect("answer"));
    }

    #[test]
    fn a_commit_dated_years_back_between_does_not_hide_an_ancestor() {
        assert_ancestry_ignores_dates(&[
            "2026-01-01T00:00:00Z",
            "2026-06-01T00:00:00Z",
            "2001-01-01T00:00:00Z",
            "2026-06-02T00:00:00Z",
        ]);
    }

    #[test]
    fn an_ancestor_dated_in_the_future_is_still_found() {
        assert_ancestry_ignores_dates(&[
            "2026-01-01T00:00:00Z",
            "2040-01-01T00:00:00Z",
            "2026-06-01T00:00:00Z",
            "2026-06-02T00:00:00Z",
        ]);
    }

    #[test]
    fn unrelated_and_missing_commits_are_not_ancestors() {
        let (_dir, repo, c) = chain(&["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"]);
        assert!(repo.is_ancestor(c[0], c[0]).expect("answer"));
        assert!(!repo.is_ancestor(c[1], c[0]).expect("answer"));
        let missing = ObjectId::from_hex(&[b'1'; 40]).expect("an id");
        assert!(!repo.is_ancestor(missing, c[1]).expect("answer"));
        assert!(!repo.is_ancestor(c[0], missing).expect("answer"));
    }
}
