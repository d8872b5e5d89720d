//! The few things gix cannot do yet, done with the git CLI: staging and committing inside a
//! worker's worktree, moving an existing checkout to a new commit, pruning worktree
//! metadata, and pushing.
//!
//! Every git subprocess of the crate is started here, so it is easy to see (and later
//! replace) what still shells out. Never used for anything gix does well. Each carries
//! [`agent_env::OWN_GIT`](crate::agent_env::OWN_GIT)`=1`, so git oompa's own commands never start its own hooks.

use std::path::Path;
use std::process::{Command, Stdio};

use super::{GitError, ObjectId};

/// Runs `git <args>` in `dir` and returns its stdout; a non-zero exit is [`GitError::Command`].
pub fn git(dir: &Path, args: &[&str]) -> Result<String, GitError> {
    git_with(dir, &[], args)
}

/// [`git`] with `-c key=value` settings for this one call.
fn git_with(dir: &Path, config: &[(&str, &str)], args: &[&str]) -> Result<String, GitError> {
    let common = super::lock::common_dir_of(dir);
    let mut removed = false;
    loop {
        match git_once(dir, common.as_deref(), config, args) {
            // A lock a killed git oompa (or its git) left: removed once, and tried again.
            Err(GitError::Locked { lock, .. })
                if !removed
                    && common
                        .as_deref()
                        .is_some_and(|c| super::lock::left_by_dead_writer(c, &lock))
                    && std::fs::remove_file(&lock.path).is_ok() =>
            {
                tracing::info!(
                    "removed {}, left by a git oompa process that was killed",
                    lock.path.display()
                );
                removed = true;
                if let Some(c) = common.as_deref() {
                    super::lock::sweep_spent_intents(c);
                }
            }
            other => return other,
        }
    }
}

fn git_once(
    dir: &Path,
    common: Option<&Path>,
    config: &[(&str, &str)],
    args: &[&str],
) -> Result<String, GitError> {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir);
    // No background maintenance from our own commits and merges: a swarm killed while it
    // ran left objects/maintenance.lock behind, and it is no part of what we asked for.
    cmd.args(["-c", "maintenance.auto=false", "-c", "gc.auto=0"]);
    for (key, value) in config {
        cmd.arg("-c").arg(format!("{key}={value}"));
    }
    // A git killed with us can leave packed-refs.lock (it rewrites packed-refs when a ref
    // update needs it): noted, so the next writer can tell it has no owner.
    let intent = common.and_then(|c| super::lock::Intent::begin(c, &[c.join("packed-refs.lock")]));
    // Its own process group: the terminal's Ctrl-C is for git oompa (one press stops a swarm
    // gracefully), not for a landing's `git read-tree` halfway through.
    let out = std::os::unix::process::CommandExt::process_group(&mut cmd, 0)
        .args(args)
        .stdin(Stdio::null())
        .env("GIT_TERMINAL_PROMPT", "0")
        .env(crate::guard::hooks::OWN_GIT_ENV, "1")
        .output()
        .map_err(GitError::Spawn)?;
    drop(intent);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        // A lock in the way is said as such (with its age), never as a plain failure.
        if let Some(lock) = super::lock::lock_in_message(&stderr)
            .and_then(|p| super::LockFile::inspect_with_holders(&dir.join(p)))
        {
            return Err(GitError::Locked {
                what: format!(
                    "`git {}` in {} failed",
                    args.first().copied().unwrap_or_default(),
                    dir.display()
                ),
                lock,
                waited: std::time::Duration::ZERO,
            });
        }
        return Err(GitError::Command {
            args: args.join(" "),
            status: out.status.code(),
            stderr,
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `git add -A && git commit` in a worker's worktree, leaving out `exclude` (files such as
/// `.env` that were copied in, never to be committed). Returns the new commit, or `None` when
/// there was nothing to commit.
pub fn commit_all_except(
    worktree: &Path,
    message: &str,
    exclude: &[String],
) -> Result<bool, GitError> {
    let mut args = vec!["add".to_string(), "-A".into(), "--".into(), ".".into()];
    args.extend(exclude.iter().map(|p| format!(":(exclude,literal){p}")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    git(worktree, &args)?;
    let mut staged = Command::new("git");
    let staged = std::os::unix::process::CommandExt::process_group(&mut staged, 0)
        .arg("-C")
        .arg(worktree)
        .args(["diff", "--cached", "--quiet"])
        .stdin(Stdio::null())
        .env(crate::guard::hooks::OWN_GIT_ENV, "1")
        .status()
        .map_err(GitError::Spawn)?;
    if staged.success() {
        return Ok(false);
    }
    git(worktree, &["commit", "-q", "--no-verify", "-m", message])?;
    Ok(true)
}

/// [`commit_all_except`] with nothing excluded.
pub fn commit_all(worktree: &Path, message: &str) -> Result<bool, GitError> {
    commit_all_except(worktree, message, &[])
}

/// Points a worker's worktree (its branch and files) at `commit`, discarding local changes.
/// Callers save anything unmerged under a keep ref first.
pub fn reset_hard(worktree: &Path, commit: ObjectId) -> Result<(), GitError> {
    git(worktree, &["reset", "-q", "--hard", &commit.to_string()])?;
    git(worktree, &["clean", "-q", "-fd"])?;
    Ok(())
}

/// Forgets an operation an agent left in progress in its worktree (`rebase`, `am`,
/// `cherry-pick`, `revert`, `bisect`; a `merge` is forgotten by the next [`reset_hard`]),
/// leaving HEAD, the index and the files as they are. Callers keep what it held first.
pub fn end_operation(worktree: &Path, op: &str) -> Result<(), GitError> {
    let args: &[&str] = match op {
        "rebase" => &["rebase", "--quit"],
        "am" => &["am", "--quit"],
        "cherry-pick" => &["cherry-pick", "--quit"],
        "revert" => &["revert", "--quit"],
        "bisect" => &["bisect", "reset", "HEAD"],
        _ => return Ok(()),
    };
    git(worktree, args).map(|_| ())
}

/// Checks `commit` out with a detached HEAD in a worker's worktree, for a gate run: tracked
/// changes go, ignored files (build caches) stay, and so do untracked ones (the worker has
/// committed all but its copied files). The worker's branch is not moved. gix cannot check
/// out over an existing worktree yet.
pub fn checkout_detached(worktree: &Path, commit: ObjectId) -> Result<(), GitError> {
    git(
        worktree,
        &["checkout", "-q", "-f", "--detach", &commit.to_string()],
    )?;
    Ok(())
}

/// Puts a worker's worktree back on its branch (short name) after a gate run, discarding
/// what the run changed (ignored files stay).
pub fn checkout_branch(worktree: &Path, branch: &str) -> Result<(), GitError> {
    git(worktree, &["checkout", "-q", "-f", branch, "--"])?;
    git(worktree, &["clean", "-q", "-fd"])?;
    Ok(())
}

/// Brings a checkout from `old` to `new` the way `git merge --ff-only` would: refuses (and
/// changes nothing) when local edits would be overwritten.
pub fn checkout_forward(workdir: &Path, old: ObjectId, new: ObjectId) -> Result<(), GitError> {
    git(
        workdir,
        &["read-tree", "-m", "-u", &old.to_string(), &new.to_string()],
    )?;
    Ok(())
}

/// Gives `paths` the content they have in `source`, in the index and in the files of the
/// checkout (paths `source` does not have are removed from both). Used to finish bringing a
/// checkout forward after a crash, on paths known to hold nothing of the person's.
pub fn restore_paths(workdir: &Path, source: ObjectId, paths: &[String]) -> Result<(), GitError> {
    let source = format!("--source={source}");
    for chunk in paths.chunks(500) {
        let mut args = vec![
            "restore".to_string(),
            source.clone(),
            "--staged".into(),
            "--worktree".into(),
            "--".into(),
        ];
        args.extend(chunk.iter().map(|p| format!(":(literal){p}")));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        git(workdir, &args)?;
    }
    Ok(())
}

/// Checks, without changing anything, that [`checkout_forward`] would succeed.
pub fn check_checkout_forward(
    workdir: &Path,
    old: ObjectId,
    new: ObjectId,
) -> Result<(), GitError> {
    git(
        workdir,
        &[
            "read-tree",
            "-n",
            "-m",
            "-u",
            &old.to_string(),
            &new.to_string(),
        ],
    )?;
    Ok(())
}

/// Creates a repository with `main` checked out and commits every file in it (for
/// `git oompa demo`, which builds a throw-away project).
pub fn init_with_commit(
    dir: &Path,
    name: &str,
    email: &str,
    message: &str,
) -> Result<(), GitError> {
    // A sha256 or reftable default in the person's git config would give a repository git
    // oompa cannot use; an older git ignores the keys it does not know.
    git(
        dir,
        &[
            "-c",
            "init.defaultObjectFormat=sha1",
            "-c",
            "init.defaultRefFormat=files",
            "init",
            "-q",
            "-b",
            "main",
        ],
    )?;
    git(dir, &["config", "user.name", name])?;
    git(dir, &["config", "user.email", email])?;
    if commit_all(dir, message)? {
        Ok(())
    } else {
        Err(GitError::Command {
            args: "commit".into(),
            status: None,
            stderr: "nothing to commit".into(),
        })
    }
}

/// The change between two commits as a patch (`git diff base tip`), cut at `max` bytes.
/// gix has no whole-tree patch output yet; reviewers read this text.
pub fn diff_text(
    worktree: &Path,
    base: ObjectId,
    tip: ObjectId,
    max: usize,
) -> Result<String, GitError> {
    let mut text = git(
        worktree,
        &[
            "diff",
            "--stat",
            "--patch",
            &base.to_string(),
            &tip.to_string(),
        ],
    )?;
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("\n[… diff cut here; run the command above to see all of it]\n");
    }
    Ok(text)
}

/// One line per commit of `range` (`a..b`), newest first.
pub fn log_oneline(worktree: &Path, range: &str) -> Result<String, GitError> {
    git(
        worktree,
        &["log", "--oneline", "--no-decorate", "-n", "50", range],
    )
}

/// Merges `commit` into the worktree's branch. `Ok(true)`: merged cleanly and committed;
/// `Ok(false)`: stopped with conflict markers in the files, the merge left in progress for
/// the agent to conclude.
pub fn merge_into(worktree: &Path, commit: ObjectId, message: &str) -> Result<bool, GitError> {
    match git(
        worktree,
        &[
            "merge",
            "--no-ff",
            "--no-edit",
            "-m",
            message,
            &commit.to_string(),
        ],
    ) {
        Ok(_) => Ok(true),
        Err(GitError::Command {
            status: Some(1), ..
        }) if merge_in_progress(worktree) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether a merge is in progress in the worktree (`MERGE_HEAD` exists).
pub fn merge_in_progress(worktree: &Path) -> bool {
    git(worktree, &["rev-parse", "-q", "--verify", "MERGE_HEAD"]).is_ok()
}

/// Abandons an unfinished merge in the worktree.
pub fn abort_merge(worktree: &Path) -> Result<(), GitError> {
    git(worktree, &["merge", "--abort"]).map(|_| ())
}

/// Paths with unresolved conflicts in the worktree's index.
pub fn unmerged_paths(worktree: &Path) -> Result<Vec<String>, GitError> {
    let out = git(worktree, &["diff", "--name-only", "--diff-filter=U"])?;
    Ok(out.lines().map(str::to_string).collect())
}

/// `git worktree prune`: drops the administrative files of linked worktrees whose directory
/// is gone (gix can list them but not prune them).
pub fn worktree_prune(dir: &Path) -> Result<(), GitError> {
    git(dir, &["worktree", "prune"])?;
    Ok(())
}

/// TEST ONLY: runs real git in `dir` the way unit tests need it, whatever the machine's
/// setup: no global or system config, no `GIT_*` variable of the caller, a fixed identity,
/// `extra` variables on top (e.g. `GIT_COMMITTER_DATE`). Asserts that git succeeds and
/// returns its stdout.
#[cfg(test)]
pub(crate) fn test_git(dir: &Path, args: &[&str], extra: &[(&str, &str)]) -> String {
    let mut cmd = Command::new("git");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("GIT_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .env("LC_ALL", "C")
        .env("GIT_AUTHOR_NAME", "T")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "T")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .envs(extra.iter().copied())
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
