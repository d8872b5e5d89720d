//! Git's `.lock` files: finding them, telling a live holder from one a killed process left
//! behind, and removing the stale ones.
//!
//! git (and gix) rewrite a file by creating `<file>.lock` with `O_EXCL`, writing it and
//! renaming it over the file. A process killed in between leaves the `.lock` file, and every
//! later writer of that file fails until someone removes it. A lock error is therefore never
//! a lost compare-and-swap: retrying it does not help once its owner is gone.
//!
//! A lock counts as stale (its owner gone) when it is older than [`STALE_AFTER`] and no
//! process has it open. Real holders keep it for milliseconds; git keeps the file open while
//! it holds the lock (gix closes loose-ref locks early, which the age rule covers). This
//! module never prints.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A lock older than this whose file no process has open has no live owner.
pub const STALE_AFTER: Duration = Duration::from_secs(60);

/// One `.lock` file as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockFile {
    pub path: PathBuf,
    /// Time since it was last written.
    pub age: Duration,
    /// Processes that have it open (Linux `/proc`; empty where that cannot be read).
    pub holders: Vec<u32>,
}

impl LockFile {
    /// Looks at `path`; `None` when there is no such file. The holders are only looked up
    /// for a lock old enough to be stale, since that scan reads all of `/proc`.
    pub fn inspect(path: &Path) -> Option<LockFile> {
        let meta = std::fs::symlink_metadata(path).ok()?;
        if meta.is_dir() {
            return None;
        }
        let age = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .unwrap_or_default();
        let holders = if age >= STALE_AFTER {
            holders(path)
        } else {
            Vec::new()
        };
        Some(LockFile {
            path: path.to_path_buf(),
            age,
            holders,
        })
    }

    /// The processes that have it open, looked up now (whatever its age).
    pub fn holders(&self) -> Vec<u32> {
        holders(&self.path)
    }

    /// Like [`LockFile::inspect`], with the holders looked up whatever its age: for error
    /// messages, which say who holds it.
    pub fn inspect_with_holders(path: &Path) -> Option<LockFile> {
        let mut lock = LockFile::inspect(path)?;
        if lock.age < STALE_AFTER {
            lock.holders = holders(path);
        }
        Some(lock)
    }

    /// What a person does about it: remove it when its owner is gone, else wait for (or end)
    /// the process that holds it.
    pub fn advice(&self) -> String {
        if self.is_stale() {
            format!(
                "its owner is gone: remove it with `{}` (`git oompa doctor --fix` removes every \
                 stale lock)",
                self.remove_command()
            )
        } else if !self.holders.is_empty() {
            format!(
                "process {} has it open: let it finish (or end it if it hangs)",
                self.holders
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            format!(
                "if no git command is running in this repository, remove it with `{}`",
                self.remove_command()
            )
        }
    }

    /// Older than [`STALE_AFTER`] and open in no process: left by a process that is gone.
    pub fn is_stale(&self) -> bool {
        self.age >= STALE_AFTER && self.holders.is_empty()
    }

    /// One line: `<path> (3m12s old, no process has it open)`.
    pub fn describe(&self) -> String {
        let who = if self.holders.is_empty() {
            if self.age >= STALE_AFTER {
                ", no process has it open".to_string()
            } else {
                String::new()
            }
        } else {
            format!(
                ", held open by process {}",
                self.holders
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        format!("{} ({} old{who})", self.path.display(), age_text(self.age))
    }

    /// The shell command that removes it.
    pub fn remove_command(&self) -> String {
        format!(
            "rm '{}'",
            self.path.display().to_string().replace('\'', "'\\''")
        )
    }

    /// Removes the lock if it is still stale when looked at again right now. Returns whether
    /// it was removed.
    pub fn remove_if_stale(&self) -> std::io::Result<bool> {
        match LockFile::inspect(&self.path) {
            Some(now) if now.is_stale() => {
                std::fs::remove_file(&self.path)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// `45s`, `3m12s`, `2h05m`.
pub fn age_text(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3_600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3_600, s % 3_600 / 60),
    }
}

/// Pids of the processes that have `path` open, from `/proc/*/fd`. Empty when nobody does or
/// `/proc` cannot be read (other systems: the age rule alone decides).
pub fn holders(path: &Path) -> Vec<u32> {
    let want = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        if fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t == want))
        {
            out.push(pid);
        }
    }
    out
}

/// Every lock file git oompa's commands can trip over, in `common_dir` (the repository's
/// `.git`): `packed-refs.lock`, `index.lock`, `HEAD.lock` and the other `*.lock` files at its
/// top, `refs/**/*.lock`, and `worktrees/<id>/*.lock` (with `worktrees/<id>/refs/**`).
pub fn find_locks(common_dir: &Path) -> Vec<LockFile> {
    let mut paths = Vec::new();
    top_level_locks(common_dir, &mut paths);
    walk_locks(&common_dir.join("refs"), &mut paths);
    if let Ok(wts) = std::fs::read_dir(common_dir.join("worktrees")) {
        for wt in wts.flatten() {
            let dir = wt.path();
            if dir.is_dir() {
                top_level_locks(&dir, &mut paths);
                walk_locks(&dir.join("refs"), &mut paths);
            }
        }
    }
    paths.sort();
    paths.iter().filter_map(|p| LockFile::inspect(p)).collect()
}

/// The lock files of one git directory (a linked worktree's `.git/worktrees/<id>`): its
/// `*.lock` files and those under its `refs/`, holders looked up whatever their age.
pub fn locks_in(git_dir: &Path) -> Vec<LockFile> {
    let mut paths = Vec::new();
    top_level_locks(git_dir, &mut paths);
    walk_locks(&git_dir.join("refs"), &mut paths);
    paths.sort();
    paths.iter().filter_map(|p| LockFile::inspect(p)).collect()
}

fn is_lock(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "lock")
}

fn top_level_locks(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if is_lock(&p) && e.file_type().is_ok_and(|t| t.is_file()) {
                out.push(p);
            }
        }
    }
}

fn walk_locks(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => walk_locks(&p, out),
            Ok(t) if t.is_file() && is_lock(&p) => out.push(p),
            _ => {}
        }
    }
}

/// The lock file named in a git CLI message such as
/// `fatal: Unable to create '/repo/.git/index.lock': File exists.`
pub fn lock_in_message(stderr: &str) -> Option<PathBuf> {
    let start = stderr.find("Unable to create '")? + "Unable to create '".len();
    let rest = &stderr[start..];
    let end = rest.find('\'')?;
    let path = &rest[..end];
    (path.ends_with(".lock") && rest[end..].contains("File exists")).then(|| PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_lock_messages_name_the_lock() {
        let msg = "fatal: Unable to create '/r/.git/worktrees/w0/index.lock': File exists.\n\n\
                   Another git process seems to be running in this repository";
        assert_eq!(
            lock_in_message(msg),
            Some(PathBuf::from("/r/.git/worktrees/w0/index.lock"))
        );
        assert_eq!(lock_in_message("fatal: bad revision"), None);
    }

    #[test]
    fn ages_read_like_a_person_writes_them() {
        assert_eq!(age_text(Duration::from_secs(5)), "5s");
        assert_eq!(age_text(Duration::from_secs(192)), "3m12s");
        assert_eq!(age_text(Duration::from_secs(7_500)), "2h05m");
    }

    #[test]
    fn a_fresh_lock_is_not_stale_and_an_old_unheld_one_is() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("packed-refs.lock");
        std::fs::write(&path, "").expect("write");
        let fresh = LockFile::inspect(&path).expect("exists");
        assert!(!fresh.is_stale());
        assert!(!fresh.remove_if_stale().expect("io"));
        let old = SystemTime::now() - Duration::from_secs(120);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(old))
            .expect("set mtime");
        let stale = LockFile::inspect(&path).expect("exists");
        assert!(stale.is_stale(), "{stale:?}");
        assert!(stale.remove_if_stale().expect("io"));
        assert!(!path.exists());
    }

    #[test]
    fn a_lock_held_open_is_not_stale_however_old() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("index.lock");
        let file = std::fs::File::create(&path).expect("create");
        file.set_modified(SystemTime::now() - Duration::from_secs(120))
            .expect("set mtime");
        let held = LockFile::inspect(&path).expect("exists");
        assert!(held.holders.contains(&std::process::id()), "{held:?}");
        assert!(!held.is_stale());
        drop(file);
    }
}
