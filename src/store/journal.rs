//! The cycle journal: how a cycle cut short by a crash still gets its record in the log.
//!
//! When a cycle starts, its worker (or the planner) writes one small file,
//! `$GIT_COMMON_DIR/oompa/cycles/<swarm>/<worker>@<cycle>.json`: who, on which host and pid,
//! since when, from which base. When the cycle ends the file is rewritten with the cycle's
//! whole record, before the record goes to the recorder; the recorder removes the file once
//! the record is in `refs/notes/oompa`. So a file left behind by a process that is gone is a
//! cycle whose record may be missing: with its record, one the recorder never wrote; without,
//! a cycle cut short.
//!
//! [`crate::store::recover::recover`] (run by every command's recovery, before dead claims are returned) writes a
//! record for each of them: the landing it finds on the target by its trailers (`merged`), or
//! else `interrupted` with the claims the worker held and its unmerged branch kept under
//! `refs/oompa/keep/`. It is idempotent: recoveries of one repository take turns under a file
//! lock (released by the kernel if the holder dies), a cycle's record is first written into its
//! file, a record already in the log for the same swarm, worker and cycle is never written
//! again, and a file goes only after its record is in the log. Never prints.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::git::{ObjectId, Repo};
use crate::store::layout;
use crate::store::notes::{Notes, NotesError};
use crate::store::record::{CycleRecord, Outcome};
use crate::store::swarm::pid_alive;
use crate::store::{Snapshot, trailers};

/// The format version of a journal file.
const VERSION: u32 = 1;
/// How long a recovery waits for another one to finish before leaving the journal alone.
const LOCK_WAIT: Duration = Duration::from_secs(10);
const LOCK_POLL: Duration = Duration::from_millis(50);
/// How far back the target's first-parent history is searched for a cycle's landing.
const LANDING_SEARCH: usize = 10_000;

/// One journal file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    version: u32,
    host: String,
    pid: u32,
    swarm: String,
    worker: String,
    cycle: u32,
    model: String,
    started: String,
    /// The target commit the cycle started from (full hex).
    #[serde(default)]
    base: Option<String>,
    /// The worker's branch (full ref name).
    #[serde(default)]
    branch: Option<String>,
    #[serde(default)]
    transcript: Option<String>,
    /// The cycle's record once it ended.
    #[serde(default)]
    record: Option<CycleRecord>,
}

/// What a cycle's journal file says when the cycle starts.
pub(crate) struct Start<'a> {
    pub worker: &'a str,
    pub cycle: u32,
    pub model: String,
    pub started: String,
    pub base: Option<ObjectId>,
    pub branch: Option<&'a str>,
    pub transcript: &'a Path,
}

/// A swarm's journal: its directory and the process writing it.
pub(crate) struct Journal {
    dir: PathBuf,
    swarm: String,
    host: String,
    pid: u32,
}

/// The directory holding every swarm's journal.
fn root(common_dir: &Path) -> PathBuf {
    layout::cycles_dir(common_dir)
}

impl Journal {
    pub fn new(common_dir: &Path, swarm: &str, host: String) -> Journal {
        Journal {
            dir: root(common_dir).join(swarm),
            swarm: swarm.to_string(),
            host,
            pid: std::process::id(),
        }
    }

    fn path(&self, worker: &str, cycle: u32) -> PathBuf {
        self.dir.join(layout::cycle_file_name(worker, cycle))
    }

    /// Notes that a cycle started. A failure costs only the record of a crash, so it is
    /// logged, not returned.
    pub fn start(&self, s: &Start<'_>) {
        let entry = Entry {
            version: VERSION,
            host: self.host.clone(),
            pid: self.pid,
            swarm: self.swarm.clone(),
            worker: s.worker.to_string(),
            cycle: s.cycle,
            model: s.model.clone(),
            started: s.started.clone(),
            base: s.base.map(|b| b.to_string()),
            branch: s.branch.map(str::to_string),
            transcript: Some(s.transcript.display().to_string()),
            record: None,
        };
        self.write(&entry);
    }

    /// Keeps a finished cycle's record until the recorder has written it.
    pub fn finish(&self, record: &CycleRecord) {
        let entry = Entry {
            version: VERSION,
            host: self.host.clone(),
            pid: self.pid,
            swarm: record.swarm.clone(),
            worker: record.worker.clone(),
            cycle: record.cycle,
            model: record.model.clone(),
            started: record.started.clone(),
            base: Some(record.base.clone()),
            branch: None,
            transcript: record.transcript.clone(),
            record: Some(record.clone()),
        };
        self.write(&entry);
    }

    /// The record is in the log: its journal file goes.
    pub fn recorded(&self, record: &CycleRecord) {
        let path = self.path(&record.worker, record.cycle);
        if let Err(e) = fs::remove_file(&path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!("cannot remove {}: {e}", path.display());
        }
    }

    /// When the swarm ends: its journal directory goes if nothing is left in it.
    pub fn close(&self) {
        let _ = fs::remove_dir(&self.dir);
    }

    fn write(&self, entry: &Entry) {
        let path = self.path(&entry.worker, entry.cycle);
        if let Err(e) = write_entry(&path, entry) {
            tracing::warn!(
                "cannot write the cycle journal {} ({e}); a crash now would leave this cycle \
                 out of the log",
                path.display()
            );
        }
    }
}

/// Writes `entry` to `path` atomically (a temporary file renamed over it).
fn write_entry(path: &Path, entry: &Entry) -> io::Result<()> {
    let mut json = serde_json::to_vec(entry).expect("a journal entry always serializes");
    json.push(b'\n');
    layout::write_atomic(path, &json)
}

/// What a recovery ([`settle`], then [`record`]) did.
#[derive(Debug, Default)]
pub(crate) struct Recovery {
    /// Records written to the log for cycles of dead swarm processes.
    pub recorded: Vec<CycleRecord>,
    /// Keep refs written for the unmerged work of interrupted cycles.
    pub kept: Vec<String>,
    /// Problems that left a cycle unrecorded for now (retried by the next command).
    pub problems: Vec<String>,
}

/// The held recovery lock; dropping it releases it.
pub(crate) struct Lock(#[allow(dead_code, reason = "held for its Drop")] nix::fcntl::Flock<File>);

/// Journal files of processes that are gone (same host, pid dead), as (path, entry).
fn dead_entries(common_dir: &Path, host: &str) -> Vec<(PathBuf, Entry)> {
    let Ok(swarms) = fs::read_dir(root(common_dir)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for swarm in swarms.flatten() {
        let Ok(files) = fs::read_dir(swarm.path()) else {
            continue;
        };
        for file in files.flatten() {
            let path = file.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let entry = match fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<Entry>(&b).map_err(|e| e.to_string()))
            {
                Ok(entry) => entry,
                Err(e) => {
                    tracing::warn!(
                        "ignoring the unreadable cycle journal {}: {e}",
                        path.display()
                    );
                    continue;
                }
            };
            if entry.host == host && !pid_alive(entry.pid) {
                out.push((path, entry));
            }
        }
    }
    out.sort_by(|a, b| {
        (&a.1.swarm, &a.1.worker, a.1.cycle).cmp(&(&b.1.swarm, &b.1.worker, b.1.cycle))
    });
    out
}

/// Whether any cycle of a dead process is waiting to be recorded (cheap: lists a directory).
pub(crate) fn anything_to_recover(common_dir: &Path, host: &str) -> bool {
    !dead_entries(common_dir, host).is_empty()
}

/// Takes the recovery lock, waiting a little for another recovery to finish. `None` when it
/// could not be had: the journal is then left for the next command.
pub(crate) fn lock(common_dir: &Path) -> Option<Lock> {
    use nix::fcntl::{Flock, FlockArg};
    // Not `*.lock`: it stays (an flock on it is released with its holder), unlike git's lock files.
    let path = layout::recovery_lock(common_dir);
    let open = || {
        fs::create_dir_all(layout::state_dir(common_dir))?;
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
    };
    let mut file = match open() {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!("cannot open {}: {e}", path.display());
            return None;
        }
    };
    let waited = Instant::now();
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(held) => return Some(Lock(held)),
            Err((f, nix::errno::Errno::EWOULDBLOCK)) if waited.elapsed() < LOCK_WAIT => {
                file = f;
                std::thread::sleep(LOCK_POLL);
            }
            Err((_, e)) => {
                tracing::warn!(
                    "another git oompa is recording cycles cut short ({} held for {:?}: {e}); \
                     leaving them for the next command",
                    path.display(),
                    waited.elapsed()
                );
                return None;
            }
        }
    }
}

/// First half of the recovery, under the lock and before dead claims are returned: gives
/// every cycle of a dead process that has no record yet one, written into its journal file
/// (so a crash from here on loses nothing). `target` is the target's tip now; `snapshot` the
/// queue as it is, with the dead workers' claims still in it.
pub(crate) fn settle(
    repo: &Repo,
    host: &str,
    target: Option<ObjectId>,
    snapshot: &Snapshot,
    out: &mut Recovery,
) {
    for (path, entry) in dead_entries(repo.common_dir(), host) {
        if entry.record.is_some() {
            continue;
        }
        let record = cut_short(repo, &path, &entry, target, snapshot, &mut out.kept);
        let settled = Entry {
            record: Some(record),
            ..entry
        };
        if let Err(e) = write_entry(&path, &settled) {
            out.problems
                .push(format!("cannot write {}: {e}", path.display()));
        }
    }
}

/// Second half, after dead claims are returned: writes the records of dead processes' cycles
/// to the log (unless the log has them already) and removes their journal files.
pub(crate) fn record(repo: &Repo, host: &str, out: &mut Recovery) {
    let notes = Notes::new(repo);
    let mut new = Vec::new();
    let mut done = Vec::new();
    for (path, entry) in dead_entries(repo.common_dir(), host) {
        let Some(record) = entry.record else {
            continue;
        };
        match in_log(&notes, &record) {
            Ok(true) => done.push(path),
            Ok(false) => new.push((path, record)),
            Err(e) => out.problems.push(format!(
                "cannot read the log for cycle {}/{}/{}: {e}",
                record.swarm, record.worker, record.cycle
            )),
        }
    }
    let records: Vec<CycleRecord> = new.iter().map(|(_, r)| r.clone()).collect();
    // (An empty append would create the log's root commit: nothing to write, no call.)
    let result = if records.is_empty() {
        Ok(())
    } else {
        notes.append(&records).map(|_| ())
    };
    let written = match result {
        Ok(_) => new,
        // One record that cannot be written must not hold back the others.
        Err(_) if records.len() > 1 => new
            .into_iter()
            .filter(|(path, r)| append_one(&notes, path, r, out))
            .collect(),
        Err(e) => {
            if let Some((path, r)) = new.first() {
                drop_unrecordable(path, r, &e, out);
            }
            Vec::new()
        }
    };
    for (path, r) in written {
        done.push(path);
        out.recorded.push(r);
    }
    for path in done {
        let _ = fs::remove_file(&path);
        if let Some(dir) = path.parent() {
            remove_leftover_temps(dir);
            let _ = fs::remove_dir(dir);
        }
    }
}

/// Temporary files a dead process left half-written in its journal directory.
fn remove_leftover_temps(dir: &Path) {
    let Ok(files) = fs::read_dir(dir) else {
        return;
    };
    for file in files.flatten() {
        let name = file.file_name();
        if name
            .to_str()
            .is_some_and(|n| n.starts_with('.') && n.ends_with(".tmp"))
        {
            let _ = fs::remove_file(file.path());
        }
    }
}

fn append_one(notes: &Notes<'_>, path: &Path, record: &CycleRecord, out: &mut Recovery) -> bool {
    match notes.append(std::slice::from_ref(record)) {
        Ok(_) => true,
        Err(e) => {
            drop_unrecordable(path, record, &e, out);
            false
        }
    }
}

/// A record whose note target is not a commit here can never be written: its file goes (with
/// a word about it); any other failure leaves it for the next command.
fn drop_unrecordable(path: &Path, record: &CycleRecord, e: &NotesError, out: &mut Recovery) {
    out.problems.push(format!(
        "could not record cycle {}/{}/{}: {e}",
        record.swarm, record.worker, record.cycle
    ));
    if matches!(e, NotesError::BadTarget { .. }) {
        let _ = fs::remove_file(path);
    }
}

/// Whether the log already has a record of this swarm, worker and cycle, on any commit the
/// record could have been attached to.
fn in_log(notes: &Notes<'_>, record: &CycleRecord) -> Result<bool, NotesError> {
    let mut targets: Vec<&str> = vec![record.note_target(), &record.base];
    targets.extend(record.landed.as_deref());
    targets.extend(record.tip.as_deref());
    targets.sort_unstable();
    targets.dedup();
    for hex in targets {
        let Ok(id) = ObjectId::from_hex(hex.as_bytes()) else {
            continue;
        };
        let same = |r: &CycleRecord| {
            r.swarm == record.swarm && r.worker == record.worker && r.cycle == record.cycle
        };
        match notes.for_commit(id) {
            Ok(records) if records.iter().any(same) => return Ok(true),
            Ok(_) => {}
            // A target that is not a commit here has no note.
            Err(NotesError::Git(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

/// The record of a cycle its process did not finish: `merged` when its landing is on the
/// target, else `interrupted` with what it held and what was kept.
fn cut_short(
    repo: &Repo,
    path: &Path,
    e: &Entry,
    target: Option<ObjectId>,
    snapshot: &Snapshot,
    kept_refs: &mut Vec<String>,
) -> CycleRecord {
    let base = e
        .base
        .as_deref()
        .and_then(|b| ObjectId::from_hex(b.as_bytes()).ok());
    let mut record = interrupted(e, base);
    let ended = if let (Some(target), Some(base)) = (target, base)
        && let Some((landing, trailers)) = find_landing(repo, target, base, &e.swarm, &e.worker)
    {
        record.outcome = Outcome::Merged;
        record.landed = Some(landing.to_string());
        record.tasks = trailers.tasks;
        commit_time(repo, landing)
    } else {
        left_behind(repo, e, base, target, snapshot, kept_refs, &mut record)
    };
    // When it ended, as near as can be told: the last sign of life of the cycle.
    if let Some(end) = ended.into_iter().chain(last_touched(path, e)).max() {
        record.ended = end.to_string();
        if let Ok(start) = e.started.parse::<jiff::Timestamp>() {
            let ms = end.duration_since(start).as_millis();
            record.duration_ms = u64::try_from(ms.max(0)).unwrap_or(0);
        }
    }
    record
}

/// The record of the entry's cycle as `interrupted`, with nothing yet said of how it ended.
fn interrupted(e: &Entry, base: Option<ObjectId>) -> CycleRecord {
    let mut record = CycleRecord {
        model: e.model.clone(),
        started: e.started.clone(),
        ended: e.started.clone(),
        transcript: e.transcript.clone(),
        // No base (the target was gone): the null id, as a worker records it.
        ..CycleRecord::new(
            &e.swarm,
            &e.worker,
            e.cycle,
            Outcome::Interrupted,
            base.map_or_else(|| "0".repeat(40), |b| b.to_string()),
        )
    };
    record
        .extra
        .insert("recovered".into(), serde_json::Value::Bool(true));
    record
}

/// A cycle that did not land: the tasks its worker held, its branch's tip (kept when the
/// target does not have it) and why it ended, in `record`. Returns the tip's commit time.
fn left_behind(
    repo: &Repo,
    e: &Entry,
    base: Option<ObjectId>,
    target: Option<ObjectId>,
    snapshot: &Snapshot,
    kept_refs: &mut Vec<String>,
    record: &mut CycleRecord,
) -> Option<jiff::Timestamp> {
    let mut ended = None;
    record.tasks = snapshot
        .held_by(&e.swarm, &e.worker)
        .map(|t| t.id.to_string())
        .collect();
    let tip = e
        .branch
        .as_deref()
        .and_then(|b| repo.read_ref(b).ok().flatten())
        .filter(|tip| Some(*tip) != base);
    record.tip = tip.map(|t| t.to_string());
    if let Some(tip) = tip {
        let merged = target.is_some_and(|t| repo.is_ancestor(tip, t).unwrap_or(false));
        if !merged {
            match keep(repo, &e.swarm, &e.worker, tip, &e.cycle.to_string()) {
                Ok(name) => {
                    kept_refs.push(name.clone());
                    record.kept = Some(name);
                }
                Err(err) => tracing::warn!("cannot keep {tip}: {err}"),
            }
        }
        ended = commit_time(repo, tip);
    }
    record.error = Some(format!(
        "cut short: the swarm's process (pid {} on {}) ended during this cycle; recorded by a \
         later git oompa",
        e.pid, e.host
    ));
    ended
}

fn commit_time(repo: &Repo, commit: ObjectId) -> Option<jiff::Timestamp> {
    repo.commit_time(commit)
        .ok()
        .and_then(|t| jiff::Timestamp::from_second(t).ok())
}

/// When the entry's file or the cycle's transcript was last written.
fn last_touched(path: &Path, e: &Entry) -> Option<jiff::Timestamp> {
    [
        Some(path.to_path_buf()),
        e.transcript.as_ref().map(PathBuf::from),
    ]
    .into_iter()
    .flatten()
    .filter_map(|p| fs::metadata(p).ok()?.modified().ok())
    .filter_map(|t| jiff::Timestamp::try_from(t).ok())
    .max()
}

/// The landing of `worker` of `swarm` on the target's first-parent history after `base`.
fn find_landing(
    repo: &Repo,
    target: ObjectId,
    base: ObjectId,
    swarm: &str,
    worker: &str,
) -> Option<(ObjectId, trailers::Landing)> {
    let chain = repo.first_parents(target, LANDING_SEARCH).ok()?;
    for commit in chain {
        if commit == base {
            return None;
        }
        let Ok(message) = repo.commit_message(commit) else {
            continue;
        };
        let landing = trailers::parse(&message);
        if landing.swarm.as_deref() == Some(swarm) && landing.worker.as_deref() == Some(worker) {
            return Some((commit, landing));
        }
    }
    None
}

/// Keeps `tip` of a gone owner under `refs/oompa/keep/<swarm>/<worker>/<label>`
/// ([`crate::store::keep::preserve`]).
pub(crate) fn keep(
    repo: &Repo,
    swarm: &str,
    worker: &str,
    tip: ObjectId,
    label: &str,
) -> Result<String, crate::git::GitError> {
    crate::store::keep::preserve(
        repo,
        swarm,
        worker,
        tip,
        label,
        "oompa: keep work of a gone owner",
    )
}
