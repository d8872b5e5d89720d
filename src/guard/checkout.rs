//! The "checkout follows" step of a landing, made crash safe.
//!
//! A landing cannot move the target branch, complete its tasks and bring the target's
//! checkouts forward in one atomic step (the files ref backend even writes the refs of one
//! transaction one after the other). The merge queue therefore writes a [`FollowRecord`]
//! before its transaction, completes the tasks before it moves the target (in that one
//! transaction), brings each checkout of the target forward right after it, and removes the
//! record last. A process killed anywhere in between leaves the old state, the new one, or
//! the record; [`finish`] — run by every command before its work — then finishes what was
//! left half done: it removes the locks the killed landing left, moves the target when the
//! queue already has the landing's tasks complete, and brings a checkout of the target whose
//! index still has the content of a commit the merge queue replaced forward, on the landed
//! paths, when nothing of the person's is in the way (else it reports and touches nothing).
//! Without a record the index check still runs, cheaply (the index's cached tree usually
//! settles it).
//!
//! Never prints: callers report what was done or found.

use std::path::{Path, PathBuf};

use super::Settings;
use crate::git::follow::{Behind, repair_behind};
use crate::git::{LockFile, ObjectId, Repo};
use crate::store::following::FollowRecord;
use crate::store::layout;
use crate::store::{QUEUE_REF, Queue, State, trailers};

/// How many landings back a checkout's index is looked for.
const MAX_LANDINGS_BACK: usize = 50;

/// What [`finish`] did or found for one checkout of the target.
#[derive(Debug, Clone)]
pub enum Follow {
    /// The checkout's landed paths were brought forward.
    Repaired(Behind),
    /// Behind, and left as it is: `why` says what is in the way.
    Behind { behind: Behind, why: String },
    /// A lock left by the killed landing was removed first.
    RemovedLock(PathBuf),
    /// The killed landing had completed its tasks but not moved the target yet: moved now.
    FinishedLanding { target: String, commit: ObjectId },
    /// A landing of a process that is gone was cut short (seen without repairing).
    CutShort { swarm: String, pid: u32 },
}

impl Follow {
    /// One line for the person.
    pub fn describe(&self) -> String {
        match self {
            Follow::Repaired(b) => format!(
                "brought {} forward to {}: a landing cut short had left its index behind \
                 ({})",
                b.checkout.display(),
                super::short(&b.tip),
                list(&b.paths)
            ),
            Follow::Behind { behind: b, why } => format!(
                "the index of {} is behind its branch: it still has {}'s version of {}, \
                 which landed since ({why}); a `git commit` there would revert that work",
                b.checkout.display(),
                super::short(&b.old),
                list(&b.paths)
            ),
            Follow::RemovedLock(p) => format!(
                "removed {}, left by a landing that was cut short",
                p.display()
            ),
            Follow::CutShort { swarm, pid } => format!(
                "a landing of swarm {swarm} (pid {pid}, gone) was cut short; what it left half \
                 done is finished by the next git oompa command"
            ),
            Follow::FinishedLanding { target, commit } => format!(
                "finished a landing that was cut short: {} moved to {}, where its completed \
                 tasks had landed",
                target.trim_start_matches("refs/heads/"),
                super::short(commit)
            ),
        }
    }

    /// The command that fixes what is left, if anything is.
    pub fn fix(&self) -> Option<String> {
        match self {
            Follow::CutShort { .. } => Some(
                "`git oompa doctor --fix` (or any git oompa command but doctor) finishes it".into(),
            ),
            Follow::Behind { behind: b, .. } if b.repairable() => Some(
                "`git oompa doctor --fix` (or any git oompa command but doctor) brings it forward"
                    .into(),
            ),
            Follow::Behind { behind: b, .. } => Some(format!(
                "commit or stash your edits of {}, then run any git oompa command; or bring the \
                 checkout forward yourself: `git -C '{}' read-tree -m -u {} {}`",
                list(&b.edited),
                b.checkout.display(),
                b.old,
                b.tip
            )),
            _ => None,
        }
    }
}

fn list(paths: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut s = paths
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if paths.len() > SHOWN {
        s.push_str(&format!(" and {} more", paths.len() - SHOWN));
    }
    s
}

/// Finishes the "checkout follows" step of landings cut short, or reports what keeps it from
/// finishing. With `repair = false` nothing is changed (doctor's view). Checkouts of a
/// landing still in flight (its process alive) are left alone.
pub fn finish(repo: &Repo, settings: &Settings, repair: bool) -> Vec<Follow> {
    let mut out = Vec::new();
    let records = FollowRecord::all(repo);
    if landing_in_flight(&records) {
        return out;
    }
    let Some(target) = &settings.target_ref else {
        return out;
    };
    let mut all_done = true;
    for rec in records.iter().filter_map(|(_, r)| r.as_ref()) {
        if repair {
            all_done &= finish_landing(repo, rec, &mut out);
        } else {
            out.push(Follow::CutShort {
                swarm: rec.swarm.clone(),
                pid: rec.pid,
            });
        }
    }
    // What finishing a landing moved.
    let Ok(Some(tip)) = repo.read_ref(target) else {
        return out;
    };
    for co in &checkouts_a_landing_moved(repo, target, tip) {
        match follow_checkout(repo, co, tip, repair, &mut out) {
            Checkout::Follows => {}
            Checkout::Left => all_done = false,
            Checkout::LandingStarted => return out,
        }
    }
    if repair && all_done {
        for (path, _) in records {
            let _ = std::fs::remove_file(path);
        }
    }
    out
}

/// Whether a landing whose process is alive has a record among `records`.
fn landing_in_flight(records: &[(PathBuf, Option<FollowRecord>)]) -> bool {
    records
        .iter()
        .any(|(_, r)| r.as_ref().is_some_and(FollowRecord::in_flight))
}

/// The checkouts of `target` when the merge queue moved it last (to `tip`): only those can
/// have been left behind by its landing.
fn checkouts_a_landing_moved(repo: &Repo, target: &str, tip: ObjectId) -> Vec<PathBuf> {
    let landed_last = repo
        .commit_message(tip)
        .is_ok_and(|m| trailers::parse(&m).swarm.is_some());
    match landed_last.then(|| repo.checkouts()) {
        Some(Ok(c)) => c
            .into_iter()
            .filter(|c| c.branch.as_deref() == Some(target))
            .map(|c| c.path)
            .collect(),
        _ => Vec::new(),
    }
}

/// What [`follow_checkout`] found for one checkout.
enum Checkout {
    /// Its index follows the target (now).
    Follows,
    /// Left behind (reported), or it could not be compared.
    Left,
    /// A landing started meanwhile: it brings the checkout forward itself.
    LandingStarted,
}

/// Brings checkout `co` of the target forward to `tip` when its index has the content of a
/// commit the merge queue replaced and nothing of the person's is in the way (with
/// `repair`), or reports it.
fn follow_checkout(
    repo: &Repo,
    co: &Path,
    tip: ObjectId,
    repair: bool,
    out: &mut Vec<Follow>,
) -> Checkout {
    // The index file as it was when it was last found to match this tip: not read again.
    let stamp = index_stamp(co).map(|st| format!("{tip} {st}"));
    if stamp.is_some() && stamp == std::fs::read_to_string(stamp_path(repo, co)).ok() {
        return Checkout::Follows;
    }
    let found = repo.index_behind(co, tip, || replaced_by_landings(repo, tip));
    tracing::debug!(?found, "index of {}", co.display());
    let behind = match found {
        Ok(Some(b)) => b,
        Ok(None) => {
            if let Some(stamp) = stamp {
                let path = stamp_path(repo, co);
                let _ = std::fs::create_dir_all(path.parent().unwrap_or(repo.common_dir()));
                let _ = std::fs::write(path, stamp);
            }
            return Checkout::Follows;
        }
        Err(e) => {
            tracing::debug!("cannot compare the index of {}: {e}", co.display());
            return Checkout::Left;
        }
    };
    if !repair || !behind.repairable() {
        out.push(Follow::Behind {
            why: if behind.repairable() {
                "nothing of yours is in the way".into()
            } else {
                format!("your edits of {} are in the way", list(&behind.edited))
            },
            behind,
        });
        return Checkout::Left;
    }
    // A landing that started meanwhile brings the checkout forward itself.
    if landing_in_flight(&FollowRecord::all(repo)) {
        return Checkout::LandingStarted;
    }
    match repair_behind(&behind) {
        Ok(()) => {
            out.push(Follow::Repaired(behind));
            Checkout::Follows
        }
        Err(e) => {
            out.push(Follow::Behind {
                why: e.detail(),
                behind,
            });
            Checkout::Left
        }
    }
}

/// Where the stamp of a checkout's index last found to follow its branch is kept.
fn stamp_path(repo: &Repo, checkout: &Path) -> PathBuf {
    layout::follow_stamp(repo.common_dir(), checkout)
}

/// The index file's identity right now (inode, size, modification time): any write of the
/// index changes it.
fn index_stamp(checkout: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let git_dir = crate::git::lock::git_dir_of(checkout)?;
    let m = std::fs::metadata(git_dir.join("index")).ok()?;
    Some(format!(
        "{} {} {} {}",
        m.ino(),
        m.len(),
        m.mtime(),
        m.mtime_nsec()
    ))
}

/// The commits the merge queue replaced on the way to `tip`: the first parent of each
/// landing, newest first, back to the first commit that is not a landing.
fn replaced_by_landings(repo: &Repo, tip: ObjectId) -> Vec<ObjectId> {
    let mut out = Vec::new();
    let mut c = tip;
    while out.len() < MAX_LANDINGS_BACK {
        let Ok(message) = repo.commit_message(c) else {
            break;
        };
        if trailers::parse(&message).swarm.is_none() {
            break;
        }
        match repo.commit_parents(c).ok().and_then(|p| p.first().copied()) {
            Some(parent) => {
                out.push(parent);
                c = parent;
            }
            None => break,
        }
    }
    out
}

/// Finishes what the landing of a dead process left half done: removes the locks it left
/// (the target's and the queue's ref locks, `packed-refs.lock`, its checkouts'
/// `index.lock`, when no process has them open and they are not older than the record), and
/// moves the target when the queue says the landing's tasks are complete but the target was
/// never moved. Returns whether nothing is left to do.
fn finish_landing(repo: &Repo, rec: &FollowRecord, out: &mut Vec<Follow>) -> bool {
    let common = repo.common_dir();
    let mut locks = vec![
        common.join(format!("{}.lock", rec.target)),
        common.join(format!("{QUEUE_REF}.lock")),
        common.join("packed-refs.lock"),
    ];
    for co in &rec.checkouts {
        if let Ok(r) = Repo::discover(co) {
            locks.push(r.git_dir().join("index.lock"));
        }
    }
    let mut done = true;
    for path in locks {
        let Some(lock) = LockFile::inspect(&path) else {
            continue;
        };
        let written = jiff::Timestamp::now().as_second()
            - i64::try_from(lock.age.as_secs()).unwrap_or(i64::MAX);
        // One second of slack: file times and the record's time are whole seconds here.
        if written + 1 < rec.at {
            continue; // older than the landing: not its lock (doctor deals with it)
        }
        if !lock.holders().is_empty() || std::fs::remove_file(&path).is_err() {
            done = false;
            continue;
        }
        out.push(Follow::RemovedLock(path));
    }
    let (Ok(old), Ok(new)) = (
        ObjectId::from_hex(rec.old.as_bytes()),
        ObjectId::from_hex(rec.new.as_bytes()),
    ) else {
        return done;
    };
    if repo.read_ref(&rec.target).ok().flatten() != Some(old) {
        return done;
    }
    let completed = Queue::new(repo).snapshot().is_ok_and(|s| {
        s.in_state(State::Complete)
            .any(|t| t.landed.as_ref().is_some_and(|l| l.commit == rec.new))
    });
    if !completed || !repo.is_commit(new).unwrap_or(false) {
        return done;
    }
    match repo.cas_ref(
        &rec.target,
        Some(old),
        new,
        "oompa: finish a landing cut short",
    ) {
        Ok(()) => {
            out.push(Follow::FinishedLanding {
                target: rec.target.clone(),
                commit: new,
            });
            done
        }
        Err(e) => {
            tracing::debug!("could not finish the landing of {}: {e}", rec.new);
            false
        }
    }
}
