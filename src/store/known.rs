//! The last tip git oompa wrote or checked for each ref it owns (the queue,
//! `refs/oompa/tasks`, and the cycle log, `refs/notes/oompa`), kept in
//! `$GIT_COMMON_DIR/oompa/known-tips/<ref>`: the anchor that tells a ref that moved forward
//! (git oompa's own writes, a fetch from another clone: the new tip descends from it) from a
//! ref replaced or deleted outside git oompa (it does not).
//!
//! A record may lag behind its ref (a process killed between its compare-and-swap and the
//! record, two writers racing to record, a fetch), never run ahead of it or off its chain:
//! only a tip just written on top of a checked one, or found to descend from the record, is
//! recorded. So a stale record costs a longer ancestry walk, never a false alarm; and when
//! the ref is found replaced, the newest value in its reflog that descends from the record
//! (both refs keep a reflog, see [`crate::git::ALWAYS_LOGGED`]) is what was lost. With no
//! record yet (a repository from before this check) nothing is checked until git oompa
//! writes the ref.
//!
//! This module never prints.

use std::path::PathBuf;

use crate::git::{GitError, ObjectId, Repo};

/// How a ref's tip relates to the last one git oompa knew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No record yet: nothing to check against.
    First,
    /// The tip is the known one, or descends from it.
    Descends,
    /// The tip does not descend from the known one (`found: None`: the ref is gone).
    Replaced {
        /// The newest value the ref had on the known chain: the record, or a value of the
        /// reflog that descends from it.
        known: ObjectId,
        found: Option<ObjectId>,
    },
}

/// What [`check`] finds wrong with a ref's tip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// The tip is not a commit (`kind`: what it is instead).
    NotACommit { id: ObjectId, kind: &'static str },
    /// The tip does not descend from the known one; as in [`Verdict::Replaced`].
    Replaced {
        known: ObjectId,
        found: Option<ObjectId>,
    },
}

/// [`verify`], also refusing a tip that is not a commit: the check the queue and the cycle
/// log run on their ref before every read and write. `Ok(Ok(()))`: a commit (or no ref)
/// descending from the last tip git oompa knew, recorded when it moved forward.
pub fn check(
    repo: &Repo,
    name: &str,
    tip: Option<ObjectId>,
) -> Result<Result<(), Problem>, GitError> {
    // A tip at or past the record is a commit (the record only ever holds commits, and the
    // walk from a tip reads it as one): the kind is looked up only when that is not so.
    let verdict = verify(repo, name, tip)?;
    if verdict != Verdict::Descends
        && let Some(id) = tip
        && let Some((kind, _)) = repo.object_header(id)?
        && kind != "commit"
    {
        return Ok(Err(Problem::NotACommit { id, kind }));
    }
    Ok(match verdict {
        Verdict::First | Verdict::Descends => Ok(()),
        Verdict::Replaced { known, found } => Err(Problem::Replaced { known, found }),
    })
}

/// Where the record of `name` lives.
pub fn path(repo: &Repo, name: &str) -> PathBuf {
    super::layout::known_tip(repo.common_dir(), name)
}

/// The recorded tip of `name`, if there is a readable record.
pub fn read(repo: &Repo, name: &str) -> Option<ObjectId> {
    let text = std::fs::read_to_string(path(repo, name)).ok()?;
    ObjectId::from_hex(text.trim().as_bytes()).ok()
}

/// Records `tip` as the known tip of `name` (atomically: a temporary file, then a rename).
pub fn record(repo: &Repo, name: &str, tip: ObjectId) -> std::io::Result<()> {
    super::layout::write_atomic(&path(repo, name), format!("{tip}\n").as_bytes())
}

/// [`record`], where failing only costs a longer walk next time: logged, not returned.
pub fn record_quietly(repo: &Repo, name: &str, tip: ObjectId) {
    if let Err(e) = record(repo, name, tip) {
        tracing::debug!("could not record the known tip of {name}: {e}");
    }
}

/// Drops the record of `name` (the next tip seen becomes the known one).
pub fn forget(repo: &Repo, name: &str) -> std::io::Result<()> {
    match std::fs::remove_file(path(repo, name)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Checks `tip` (the ref's current value, `None` when it does not exist) against the record,
/// and records it when it moved forward. Reads one small file; walks history only when the
/// tip moved since the record, and then only back to the record.
///
/// `tip` may have been read just before another process moved the ref and recorded its new
/// value; so before calling it replaced, the record and then the ref are read again (in that
/// order: a record is written after its ref moved, so a ref read after it is at the record
/// or beyond).
pub fn verify(repo: &Repo, name: &str, tip: Option<ObjectId>) -> Result<Verdict, GitError> {
    match compare(repo, name, tip, read(repo, name))? {
        Verdict::Replaced { .. } => {
            let known = read(repo, name);
            let fresh = repo.read_ref(name)?;
            compare(repo, name, fresh, known)
        }
        ok => Ok(ok),
    }
}

fn compare(
    repo: &Repo,
    name: &str,
    tip: Option<ObjectId>,
    known: Option<ObjectId>,
) -> Result<Verdict, GitError> {
    let Some(known) = known else {
        return Ok(Verdict::First);
    };
    if let Some(tip) = tip {
        if tip == known {
            return Ok(Verdict::Descends);
        }
        if descends(repo, tip, known)? {
            record_quietly(repo, name, tip);
            return Ok(Verdict::Descends);
        }
    }
    // A record that names no commit here was not written by git oompa (it only records
    // commits it wrote or checked, and the chain keeps them reachable): it anchors nothing,
    // and restoring "back" from it would rewind the ref to an older value of its reflog.
    // The tip found takes its place, as after `forget`.
    if !repo.is_commit(known)? {
        if let Some(tip) = tip.filter(|t| repo.is_commit(*t).unwrap_or(false)) {
            record_quietly(repo, name, tip);
        }
        return Ok(Verdict::First);
    }
    Ok(Verdict::Replaced {
        known: newest_on_chain(repo, name, known, tip)?,
        found: tip,
    })
}

/// How many commits [`descends`] walks before asking for a merge base.
const SHORT_WALK: usize = 256;

/// Whether `ancestor` is reachable from `tip` (or is it). Walks back from `tip` first (the
/// common case: a few commits written since the record), whatever the commit dates say
/// (clocks of other clones, fixed dates); a long way back is a merge-base computation.
fn descends(repo: &Repo, tip: ObjectId, ancestor: ObjectId) -> Result<bool, GitError> {
    if tip == ancestor {
        return Ok(true);
    }
    if !repo.is_commit(tip)? || !repo.is_commit(ancestor)? {
        return Ok(false);
    }
    let mut seen = std::collections::HashSet::from([tip]);
    let mut queue = std::collections::VecDeque::from([tip]);
    while let Some(c) = queue.pop_front() {
        if seen.len() > SHORT_WALK {
            return repo.is_ancestor(ancestor, tip);
        }
        for p in repo.commit_parents(c)? {
            if p == ancestor {
                return Ok(true);
            }
            if seen.insert(p) {
                queue.push_back(p);
            }
        }
    }
    Ok(false)
}

/// How many reflog entries [`newest_on_chain`] looks at.
const REFLOG_LOOKBACK: usize = 200;

/// The newest value in `name`'s reflog (other than `found`) that is `known` or descends from
/// it: where the known chain had got to when the ref was replaced. `known` itself when the
/// reflog has nothing newer.
fn newest_on_chain(
    repo: &Repo,
    name: &str,
    known: ObjectId,
    found: Option<ObjectId>,
) -> Result<ObjectId, GitError> {
    for e in repo.reflog_tail(name, REFLOG_LOOKBACK)? {
        for id in [e.new, e.old] {
            if id.is_null() || Some(id) == found || id == known {
                continue;
            }
            if descends(repo, id, known)? {
                return Ok(id);
            }
        }
    }
    Ok(known)
}

/// What a damaged `name` (currently `current`) should go back to: the newest value on the
/// known chain, else (no record, or its commit is gone) the newest commit in the reflog.
pub fn restore_point(
    repo: &Repo,
    name: &str,
    current: Option<ObjectId>,
) -> Result<Option<ObjectId>, GitError> {
    if let Some(k) = read(repo, name)
        && repo.is_commit(k)?
    {
        return newest_on_chain(repo, name, k, current).map(Some);
    }
    for e in repo.reflog_tail(name, REFLOG_LOOKBACK)? {
        for id in [e.new, e.old] {
            if !id.is_null() && Some(id) != current && repo.is_commit(id)? {
                return Ok(Some(id));
            }
        }
    }
    Ok(None)
}

/// Takes `tip` (`None`: the ref is gone) as the known value of `name` on a person's word
/// (`git oompa doctor --accept`), and remembers when, so the moves its reflog shows from
/// before are no longer reported.
pub fn accept(repo: &Repo, name: &str, tip: Option<ObjectId>) -> std::io::Result<()> {
    match tip {
        Some(tip) => record(repo, name, tip)?,
        None => forget(repo, name)?,
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let marker = accepted_path(repo, name);
    if let Some(dir) = marker.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(marker, format!("{now}\n"))
}

fn accepted_path(repo: &Repo, name: &str) -> PathBuf {
    let mut p = path(repo, name).into_os_string();
    p.push(".accepted");
    PathBuf::from(p)
}

/// When a person last accepted the value of `name` (seconds since the epoch), if ever.
pub fn accepted_at(repo: &Repo, name: &str) -> Option<i64> {
    std::fs::read_to_string(accepted_path(repo, name))
        .ok()?
        .trim()
        .parse()
        .ok()
}
