//! Where git oompa keeps its state, defined once: every ref name it reads or writes and every
//! file and directory under `$GIT_COMMON_DIR/oompa/`, plus [`write_atomic`], the one way a
//! file there is replaced.
//!
//! | state | where |
//! |---|---|
//! | task queue | [`QUEUE_REF`] |
//! | cycle log (git notes) | [`NOTES_REF`] |
//! | worker branches | [`worker_branch`]: `refs/heads/oompa/<swarm>/<worker>` |
//! | unmerged work kept | [`keep_ref`]: `refs/oompa/keep/<swarm>/<worker>/<label>` |
//! | replaced queue / log tips | [`replaced_ref`]: `refs/oompa/replaced/<label>` |
//! | agent transcripts | [`transcripts_dir`]: `oompa/transcripts/<swarm>/` |
//! | a running swarm's published files | [`swarm_dir`]: `oompa/swarms/<swarm>/` |
//! | cycle journal | [`cycles_dir`]: `oompa/cycles/<swarm>/<worker>@<cycle>.json` |
//! | crash recovery's lock | [`recovery_lock`]: `oompa/recovery.flock` |
//! | pushed-landings baseline | [`verified_landings`]: `oompa/verified-landings` |
//! | last known queue / log tips | [`known_tip`]: `oompa/known-tips/<ref>` |
//! | landings whose checkouts follow | [`following_dir`]: `oompa/following/<swarm>.json` |
//! | ref transactions' lock intents | [`txn_dir`]: `oompa/txn/<pid>-<n>` |
//! | worker guard hooks | [`guard_dir`], [`guard_config`]: `oompa/hooks/`, `oompa/hooks.config` |
//!
//! A leaf: it imports nothing from the crate, so every layer (`git` included) may use it.

use std::io;
use std::path::{Path, PathBuf};

// ---- refs ----

/// The namespace of git oompa's own refs.
pub const REF_NAMESPACE: &str = "refs/oompa/";
/// The task queue: a commit chain whose tree holds `pending/`, `current/`, `complete/`.
pub const QUEUE_REF: &str = "refs/oompa/tasks";
/// The cycle log: one git note per cycle.
pub const NOTES_REF: &str = "refs/notes/oompa";
/// The prefix of every worker branch (full name).
pub const WORKER_BRANCH_PREFIX: &str = "refs/heads/oompa/";
/// The prefix of every worker branch (short name, as `HEAD` names it).
pub const WORKER_BRANCH_SHORT_PREFIX: &str = "oompa/";
/// The prefix of preserved work.
pub const KEEP_PREFIX: &str = "refs/oompa/keep/";
/// Where a replaced queue or log tip is kept when it is put back.
pub const REPLACED_PREFIX: &str = "refs/oompa/replaced/";
/// The `log.excludeDecoration` pattern hiding git oompa's refs from `git log`.
pub const EXCLUDE_DECORATION: &str = "refs/oompa/*";
/// Refs (by prefix) that keep a reflog whatever `core.logAllRefUpdates` says (git logs only
/// branches, remote-tracking refs and notes by default): the queue, keep refs and the cycle
/// log, so every value they had stays listed (`git reflog show refs/oompa/tasks`) and
/// reachable for `git gc` until the reflog expires, and a replaced chain can be put back.
pub const ALWAYS_LOGGED: [&str; 2] = [REF_NAMESPACE, NOTES_REF];

/// The branch of `worker` of `swarm`: `refs/heads/oompa/<swarm>/<worker>`.
pub fn worker_branch(swarm: &str, worker: &str) -> String {
    format!("{}{worker}", worker_branches_of(swarm))
}

/// Every worker branch of `swarm` starts with this: `refs/heads/oompa/<swarm>/`.
pub fn worker_branches_of(swarm: &str) -> String {
    format!("{WORKER_BRANCH_PREFIX}{swarm}/")
}

/// Splits a worker branch `refs/heads/oompa/<swarm>/<worker>` into swarm and worker.
pub fn parse_worker_branch(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix(WORKER_BRANCH_PREFIX)?;
    let (swarm, worker) = rest.split_once('/')?;
    (!swarm.is_empty() && !worker.is_empty()).then_some((swarm, worker))
}

/// Whether `short` (a branch name without `refs/heads/`) is a worker branch.
pub fn is_worker_branch_short(short: &str) -> bool {
    short.starts_with(WORKER_BRANCH_SHORT_PREFIX)
}

/// The keep refs of `worker` of `swarm` all start with this: `refs/oompa/keep/<swarm>/<worker>/`.
pub fn keep_prefix(swarm: &str, worker: &str) -> String {
    format!("{KEEP_PREFIX}{swarm}/{worker}/")
}

/// `refs/oompa/keep/<swarm>/<worker>/<label>`.
pub fn keep_ref(swarm: &str, worker: &str, label: &str) -> String {
    format!("{}{label}", keep_prefix(swarm, worker))
}

/// `refs/oompa/replaced/<label>`.
pub fn replaced_ref(label: &str) -> String {
    format!("{REPLACED_PREFIX}{label}")
}

// ---- the main worktree ----

/// The directory, relative to the main worktree's root, that holds the worker worktrees by
/// default (`.oompa/worktrees`); `init` keeps it out of `git status`.
pub const LOCAL_DIR: &str = ".oompa";

// ---- files under $GIT_COMMON_DIR/oompa/ ----

/// The directory of git oompa's files, relative to `$GIT_COMMON_DIR`.
pub const STATE_DIR: &str = "oompa";
/// The guard directory, relative to `$GIT_COMMON_DIR`.
pub const GUARD_DIR: &str = "oompa/hooks";
/// The config file that points `core.hooksPath` at the guard directory, relative to
/// `$GIT_COMMON_DIR`.
pub const GUARD_CONFIG: &str = "oompa/hooks.config";
/// The `include.path` a worker worktree's `config.worktree` (in
/// `$GIT_COMMON_DIR/worktrees/<id>/`) gets: [`GUARD_CONFIG`], relative so it survives moving the
/// repository, and the same for every worktree (git copies `config.worktree` into a worktree
/// added from inside one).
pub const WORKTREE_INCLUDE: &str = "../../oompa/hooks.config";

/// `$GIT_COMMON_DIR/oompa`.
pub fn state_dir(common: &Path) -> PathBuf {
    common.join(STATE_DIR)
}

/// The transcripts of every swarm, one directory each.
pub fn transcripts_root(common: &Path) -> PathBuf {
    state_dir(common).join("transcripts")
}

/// The agents' transcripts of one swarm (a gate's output goes in its `gate/`).
pub fn transcripts_dir(common: &Path, swarm: &str) -> PathBuf {
    transcripts_root(common).join(swarm)
}

/// The transcript of `worker`'s cycle `cycle`, in its swarm's [`transcripts_dir`].
pub fn cycle_transcript(transcripts: &Path, worker: &str, cycle: u32) -> PathBuf {
    transcripts.join(worker).join(format!("cycle-{cycle}.log"))
}

/// The transcript of the planner's round `round`, in its swarm's [`transcripts_dir`].
pub fn round_transcript(transcripts: &Path, planner: &str, round: u32) -> PathBuf {
    transcripts.join(planner).join(format!("round-{round}.log"))
}

/// Where the landing gate's runs write their whole output, in a swarm's [`transcripts_dir`].
pub fn gate_output_dir(transcripts: &Path) -> PathBuf {
    transcripts.join("gate")
}

/// What a running swarm publishes for other commands (`git oompa status`).
pub fn swarm_dir(common: &Path, swarm: &str) -> PathBuf {
    state_dir(common).join("swarms").join(swarm)
}

/// A running swarm's latest conflict prediction.
pub fn prediction_file(common: &Path, swarm: &str) -> PathBuf {
    swarm_dir(common, swarm).join("prediction.json")
}

/// What each worker of a running swarm is doing (`swarm::live`).
pub fn live_status_file(common: &Path, swarm: &str) -> PathBuf {
    swarm_dir(common, swarm).join("status.json")
}

/// The directory of every swarm's [`swarm_dir`].
pub fn swarms_dir(common: &Path) -> PathBuf {
    state_dir(common).join("swarms")
}

/// A running swarm's landing-gate status.
pub fn gate_status_file(common: &Path, swarm: &str) -> PathBuf {
    swarm_dir(common, swarm).join("gate.json")
}

/// The cycle journal of every swarm: `cycles/<swarm>/<worker>@<cycle>.json`.
pub fn cycles_dir(common: &Path) -> PathBuf {
    state_dir(common).join("cycles")
}

/// The name of one cycle's journal file in its swarm's directory under [`cycles_dir`].
pub fn cycle_file_name(worker: &str, cycle: u32) -> String {
    format!("{worker}@{cycle}.json")
}

/// The file crash recoveries take turns on (an flock; not `*.lock`: it stays, unlike git's
/// lock files).
pub fn recovery_lock(common: &Path) -> PathBuf {
    state_dir(common).join("recovery.flock")
}

/// The merge queue's record of a queue commit whose completions all landed on a target commit.
pub fn verified_landings(common: &Path) -> PathBuf {
    state_dir(common).join("verified-landings")
}

/// The last tip git oompa wrote or checked of the ref `name`.
pub fn known_tip(common: &Path, name: &str) -> PathBuf {
    state_dir(common).join("known-tips").join(name)
}

/// Landings whose checkouts may not have followed yet, one `<swarm>.json` each.
pub fn following_dir(common: &Path) -> PathBuf {
    state_dir(common).join("following")
}

/// The record of `swarm`'s landing in [`following_dir`].
pub fn following_file(common: &Path, swarm: &str) -> PathBuf {
    following_dir(common).join(format!("{swarm}.json"))
}

/// The index stamp of a checkout already brought forward, in [`following_dir`]:
/// `.followed-<checkout path, non-alphanumerics as _>`.
pub fn follow_stamp(common: &Path, checkout: &Path) -> PathBuf {
    let name: String = checkout
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    following_dir(common).join(format!(".followed-{name}"))
}

/// Where ref transactions write down the locks they may create, one file per thread.
pub fn txn_dir(common: &Path) -> PathBuf {
    state_dir(common).join("txn")
}

/// The guard directory of the repository whose common dir is `common`.
pub fn guard_dir(common: &Path) -> PathBuf {
    common.join(GUARD_DIR)
}

/// The guard's config file of the repository whose common dir is `common`.
pub fn guard_config(common: &Path) -> PathBuf {
    common.join(GUARD_CONFIG)
}

/// Where the merge queue says at which test pause point it stopped (tests only).
pub fn test_paused_at(common: &Path) -> PathBuf {
    state_dir(common).join("test-paused-at")
}

// ---- writing ----

/// Replaces `path` with `data` atomically: a temporary file `.<name>.<random>.tmp` in the same
/// directory (created when missing), then a rename, so a reader sees the old content or the
/// new, never half of it. The replaced file's permissions carry over (a hook stays
/// executable). The temporary file is removed when the rename fails.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        Some(_) => Path::new("."),
        None => {
            return Err(io::Error::other(format!(
                "{} has no parent",
                path.display()
            )));
        }
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    // The directory usually exists: create it only when it is missing.
    if let Err(e) = std::fs::write(&tmp, data) {
        if e.kind() != io::ErrorKind::NotFound {
            return Err(e);
        }
        std::fs::create_dir_all(dir)?;
        std::fs::write(&tmp, data)?;
    }
    let moved = match std::fs::metadata(path) {
        Ok(meta) => std::fs::set_permissions(&tmp, meta.permissions()),
        Err(_) => Ok(()),
    }
    .and_then(|()| std::fs::rename(&tmp, path));
    moved.inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_branches_round_trip_and_reject_what_is_not_one() {
        let b = worker_branch("s1", "w0");
        assert_eq!(b, "refs/heads/oompa/s1/w0");
        assert_eq!(parse_worker_branch(&b), Some(("s1", "w0")));
        assert_eq!(parse_worker_branch("refs/heads/oompa/s1"), None);
        assert_eq!(parse_worker_branch("refs/heads/oompa//w0"), None);
        assert_eq!(parse_worker_branch("refs/heads/main"), None);
        assert!(is_worker_branch_short("oompa/s1/w0"));
    }

    #[test]
    fn keep_refs_live_under_their_swarm_and_worker() {
        assert_eq!(keep_ref("s1", "w0", "gc"), "refs/oompa/keep/s1/w0/gc");
        assert!(keep_ref("s1", "w0", "3").starts_with(&keep_prefix("s1", "w0")));
        assert!(keep_prefix("s1", "w0").starts_with(KEEP_PREFIX));
        assert!(ALWAYS_LOGGED.iter().any(|p| QUEUE_REF.starts_with(p)));
    }

    #[test]
    fn write_atomic_creates_the_directory_replaces_and_keeps_the_mode() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("a/b/file");
        write_atomic(&path, b"one\n").expect("first write");
        assert_eq!(std::fs::read(&path).expect("read"), b"one\n");
        #[cfg(unix)]
        use std::os::unix::fs::PermissionsExt;
        #[cfg(unix)]
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        write_atomic(&path, b"two\n").expect("second write");
        #[cfg(unix)]
        assert_eq!(
            std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777,
            0o755
        );
        assert_eq!(std::fs::read(&path).expect("read"), b"two\n");
        let left: Vec<_> = std::fs::read_dir(path.parent().expect("dir"))
            .expect("list")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left.len(), 1, "no temporary file is left: {left:?}");
    }
}
