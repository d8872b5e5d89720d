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

/// Where ref transactions record the locks they may create: `.git/oompa/txn/<pid>-<n>`,
/// one file per thread, there only while a transaction runs.
fn intents_dir(common_dir: &Path) -> PathBuf {
    crate::store::layout::txn_dir(common_dir)
}

/// The locks one ref transaction of this thread may create, written down before it starts
/// and removed when it ends (on drop), so that a lock left by a process killed in between
/// can be told from one a live process holds (gix closes loose-ref locks early, so "no
/// process has it open" says nothing for those).
pub(crate) struct Intent {
    path: PathBuf,
}

impl Intent {
    /// Records `locks` for this thread. `None` when it cannot be written: the transaction
    /// goes on, and a lock it leaves is only ever removed by a person.
    pub(crate) fn begin(common_dir: &Path, locks: &[PathBuf]) -> Option<Intent> {
        use std::io::Write;
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        thread_local! {
            static SLOT: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
        }
        static SWEPT: std::sync::Once = std::sync::Once::new();
        SWEPT.call_once(|| sweep_spent_intents(common_dir));
        let dir = intents_dir(common_dir);
        let path = dir.join(format!("{}-{}", std::process::id(), SLOT.with(|s| *s)));
        let mut text = String::new();
        for l in locks {
            text.push_str(&normal(l).to_string_lossy());
            text.push('\n');
        }
        let write = |p: &Path| -> std::io::Result<()> {
            let mut f = std::fs::File::create(p)?;
            f.write_all(text.as_bytes())
        };
        if write(&path).is_err() {
            std::fs::create_dir_all(&dir).ok()?;
            write(&path).ok()?;
        }
        Some(Intent { path })
    }
}

impl Drop for Intent {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `path` with its directory resolved (`.git/worktrees/w0/../..` is how gix names the
/// common directory from a linked worktree), so that intents written from any checkout
/// name a lock the same way.
fn normal(path: &Path) -> PathBuf {
    match (path.parent().map(Path::canonicalize), path.file_name()) {
        (Some(Ok(dir)), Some(name)) => dir.join(name),
        _ => path.to_path_buf(),
    }
}

/// Removes the intents of gone processes that explain no lock any more (one transaction can
/// leave several locks: its intent stays until the last of them is gone).
pub(crate) fn sweep_spent_intents(common_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(intents_dir(common_dir)) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid == std::process::id() || process_alive(pid) {
            continue;
        }
        let locks_left = std::fs::read_to_string(e.path())
            .is_ok_and(|t| t.lines().any(|l| Path::new(l).exists()));
        if !locks_left {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// How long after a transaction wrote its intent the locks it creates can be: gix waits up
/// to a second for `packed-refs.lock` before it takes the ref locks.
const INTENT_TO_LOCK: Duration = Duration::from_secs(5);

/// Whether `lock` was left by a ref transaction of a process that is gone: one whose intent
/// names it and was written just before it, while no live process's intent names it. Once
/// the caller has removed it, [`sweep_spent_intents`] drops intents that explain nothing
/// more.
pub(crate) fn left_by_dead_writer(common_dir: &Path, lock: &LockFile) -> bool {
    let Ok(entries) = std::fs::read_dir(intents_dir(common_dir)) else {
        return false;
    };
    let Some(lock_time) = SystemTime::now().checked_sub(lock.age) else {
        return false;
    };
    // git and gix keep packed-refs.lock and index.lock open while they hold them.
    if !holders(&lock.path).is_empty() {
        return false;
    }
    let wanted = normal(&lock.path).to_string_lossy().into_owned();
    let mut dead_writer = false;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let alive = pid == std::process::id() || process_alive(pid);
        let Ok(text) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        if !text.lines().any(|l| l == wanted) {
            continue;
        }
        if alive {
            return false;
        }
        let Ok(written) = e.metadata().and_then(|m| m.modified()) else {
            continue;
        };
        // Whole-second file times on some systems: a second of slack before.
        let after = lock_time + Duration::from_secs(1) >= written;
        let soon = written + INTENT_TO_LOCK >= lock_time;
        if after && soon {
            dead_writer = true;
        }
    }
    dead_writer
}

/// The git directory of the checkout at `dir` (`<dir>/.git`, or for a linked worktree the
/// directory its `.git` file points to), read from the files alone. `None` when `dir` is not
/// the root of a checkout.
pub fn git_dir_of(dir: &Path) -> Option<PathBuf> {
    let dot_git = dir.join(".git");
    if dot_git.is_dir() {
        return Some(dot_git);
    }
    let text = std::fs::read_to_string(&dot_git).ok()?;
    Some(dir.join(text.strip_prefix("gitdir:")?.trim()))
}

/// The common git directory of the checkout at `dir` (for a linked worktree, where its
/// `commondir` file points), read from the files alone.
pub(crate) fn common_dir_of(dir: &Path) -> Option<PathBuf> {
    let git_dir = git_dir_of(dir)?;
    match std::fs::read_to_string(git_dir.join("commondir")) {
        Ok(common) => Some(git_dir.join(common.trim())),
        Err(_) => Some(git_dir),
    }
}

/// Whether a process with this pid exists (a zombie counts as alive).
fn process_alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    raw > 0
        && !matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None),
            Err(nix::errno::Errno::ESRCH)
        )
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
/// top, `objects/maintenance.lock`, `refs/**/*.lock`, and `worktrees/<id>/*.lock` (with
/// `worktrees/<id>/refs/**`).
pub fn find_locks(common_dir: &Path) -> Vec<LockFile> {
    let mut paths = Vec::new();
    top_level_locks(common_dir, &mut paths);
    top_level_locks(&common_dir.join("objects"), &mut paths);
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
    fn a_lock_named_from_a_linked_worktree_is_the_same_lock() {
        // gix and a linked worktree's `commondir` name the common directory
        // `.git/worktrees/w0/../..`: an intent written that way explains the lock at
        // `.git/packed-refs.lock`.
        let dir = tempfile::tempdir().expect("tempdir");
        let common = dir.path().join(".git");
        std::fs::create_dir_all(common.join("worktrees/w0")).expect("mkdir");
        let via_worktree = common.join("worktrees/w0/../..");
        let intent =
            Intent::begin(&via_worktree, &[via_worktree.join("packed-refs.lock")]).expect("intent");
        // As if this process had been killed there: the intent belongs to a dead pid.
        let dead = {
            let mut child = std::process::Command::new("true").spawn().expect("spawn");
            let pid = child.id();
            child.wait().expect("wait");
            pid
        };
        let left = crate::store::layout::txn_dir(&common).join(format!("{dead}-0"));
        std::fs::rename(&intent.path, &left).expect("rename");
        std::mem::forget(intent);
        let lock_path = common.join("packed-refs.lock");
        std::fs::write(&lock_path, "").expect("lock");
        let lock = LockFile::inspect(&lock_path).expect("exists");
        assert!(left_by_dead_writer(&common, &lock));
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
