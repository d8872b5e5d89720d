//! Keep refs: unmerged work preserved under `refs/oompa/keep/<swarm>/<worker>/<label>`
//! ([`crate::store::layout::keep_ref`]), written only by [`preserve`].
//!
//! The rules every keeper follows: a commit a keep ref of the same worker already holds is not
//! kept twice (that ref is named instead), and a keep ref is never moved or overwritten: when
//! `<label>` holds other work, the first free `<label>-2`, `<label>-3`, … is used. Whether the
//! commit needs keeping at all (is it on the target already?) is the caller's question.
//! Never prints.

use crate::git::{GitError, ObjectId, Repo};
use crate::store::layout;

/// The keep ref of `worker` of `swarm` that already holds exactly `commit`, if any.
pub fn existing(
    repo: &Repo,
    swarm: &str,
    worker: &str,
    commit: ObjectId,
) -> Result<Option<String>, GitError> {
    Ok(repo
        .refs_with_prefix(&layout::keep_prefix(swarm, worker))?
        .into_iter()
        .find(|(_, id)| *id == commit)
        .map(|(name, _)| name))
}

/// The ref [`preserve`] would name for `commit` right now, without writing anything (for dry
/// runs): the keep ref already holding it, else the first free `<label>[-N]`.
pub fn planned(
    repo: &Repo,
    swarm: &str,
    worker: &str,
    commit: ObjectId,
    label: &str,
) -> Result<String, GitError> {
    match existing(repo, swarm, worker, commit)? {
        Some(name) => Ok(name),
        None => free_name(repo, swarm, worker, label),
    }
}

/// The first free `refs/oompa/keep/<swarm>/<worker>/<label>[-N]` right now (for dry runs that
/// would keep a commit not made yet).
pub fn free_name(repo: &Repo, swarm: &str, worker: &str, label: &str) -> Result<String, GitError> {
    let mut n = 1;
    loop {
        let name = candidate(swarm, worker, label, n);
        if repo.read_ref(&name)?.is_none() {
            return Ok(name);
        }
        n += 1;
    }
}

/// Keeps `commit` under `refs/oompa/keep/<swarm>/<worker>/<label>` (or the first free
/// `<label>-N`), with `message` in the ref's reflog, and returns the ref's name; a keep ref of
/// the worker already holding `commit` is named instead. A name another process takes between
/// the check and the write is skipped, so concurrent keepers never lose each other's work.
pub fn preserve(
    repo: &Repo,
    swarm: &str,
    worker: &str,
    commit: ObjectId,
    label: &str,
    message: &str,
) -> Result<String, GitError> {
    if let Some(name) = existing(repo, swarm, worker, commit)? {
        return Ok(name);
    }
    let mut n = 1;
    loop {
        let name = candidate(swarm, worker, label, n);
        n += 1;
        match repo.read_ref(&name)? {
            Some(id) if id == commit => return Ok(name),
            Some(_) => continue,
            None => {}
        }
        match repo.cas_ref(&name, None, commit, message) {
            Ok(()) => return Ok(name),
            // Taken since it was read: by this very commit, or by other work (try the next).
            Err(e) => match repo.read_ref(&name)? {
                Some(id) if id == commit => return Ok(name),
                Some(_) => continue,
                None => return Err(e),
            },
        }
    }
}

/// The `n`th name tried for `label`: `<label>`, then `<label>-2`, `<label>-3`, …
fn candidate(swarm: &str, worker: &str, label: &str, n: u64) -> String {
    let first = layout::keep_ref(swarm, worker, label);
    if n <= 1 {
        first
    } else {
        format!("{first}-{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::layout::KEEP_PREFIX;

    /// A repository with two commits on `main`; returns it with (first, second).
    fn repo_with_two_commits(dir: &std::path::Path) -> (Repo, ObjectId, ObjectId) {
        let git = |args: &[&str]| crate::git::cli::test_git(dir, args, &[]);
        git(&["init", "-q", "-b", "main"]);
        git(&["commit", "-q", "--allow-empty", "-m", "one"]);
        let first = git(&["rev-parse", "HEAD"]);
        git(&["commit", "-q", "--allow-empty", "-m", "two"]);
        let second = git(&["rev-parse", "HEAD"]);
        let id = |hex: String| ObjectId::from_hex(hex.trim().as_bytes()).expect("hex");
        let repo = Repo::discover(dir).expect("repo");
        (repo, id(first), id(second))
    }

    #[test]
    fn a_keep_ref_holding_other_work_is_never_overwritten() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (repo, a, b) = repo_with_two_commits(tmp.path());
        let first = preserve(&repo, "s1", "w0", a, "3", "test").expect("keep a");
        assert_eq!(first, format!("{KEEP_PREFIX}s1/w0/3"));
        assert_eq!(
            planned(&repo, "s1", "w0", b, "3").expect("plan"),
            format!("{KEEP_PREFIX}s1/w0/3-2")
        );
        let second = preserve(&repo, "s1", "w0", b, "3", "test").expect("keep b");
        assert_eq!(second, format!("{KEEP_PREFIX}s1/w0/3-2"));
        assert_eq!(repo.read_ref(&first).expect("read"), Some(a));
        assert_eq!(repo.read_ref(&second).expect("read"), Some(b));
        assert_eq!(
            free_name(&repo, "s1", "w0", "3").expect("free"),
            format!("{KEEP_PREFIX}s1/w0/3-3")
        );
    }

    #[test]
    fn keeping_a_commit_the_worker_already_kept_names_the_ref_holding_it() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (repo, a, _) = repo_with_two_commits(tmp.path());
        let kept = preserve(&repo, "s1", "w0", a, "gc", "test").expect("keep");
        assert_eq!(
            preserve(&repo, "s1", "w0", a, "final", "test").expect("again"),
            kept
        );
        assert_eq!(planned(&repo, "s1", "w0", a, "gc").expect("plan"), kept);
        // Another worker's keep ref is its own: the commit is kept for this one too.
        let other = preserve(&repo, "s1", "w1", a, "gc", "test").expect("other worker");
        assert_eq!(other, format!("{KEEP_PREFIX}s1/w1/gc"));
    }
}
