//! The cycle log: one [`CycleRecord`] per line of the git note on the commit the cycle is
//! about, under [`NOTES_REF`].
//!
//! Owns reading and appending those notes. Appends never lose a line: each one reads the notes
//! tip, appends to the note it finds there (in whatever fanout layout it is, keeping any line
//! written by hand or by `git notes append`), writes one notes commit, and compare-and-swaps
//! the ref expecting the tip it read; a lost race re-reads and redoes the work. gix's own
//! `notes().replace()` is not used because it re-reads the ref inside, so a read-append-replace
//! built on it can drop lines written by another process in between. New notes go to
//! `xx/<38 hex>` so an append rewrites two small trees, not one huge flat one.
//!
//! The ref stays a plain git notes ref: `git notes --ref=oompa show <commit>` and
//! `git log --notes=oompa` read it. This module never prints.
//!
//! The log is only ever appended to, so its tip always descends from the last tip git oompa
//! wrote or checked ([`crate::store::known`]). An append refuses to write on top of a log
//! that was deleted or replaced outside git oompa ([`NotesError::Rewritten`]), because that
//! would make the lost records unreachable for good; [`Notes::restore`] merges them back
//! (a union of lines: nothing of either side is lost) and appending goes on.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rayon::prelude::*;

use super::known::{self, Problem};
use super::layout;
use super::record::CycleRecord;
use crate::git::{GitError, ObjectId, Repo};

pub use crate::store::layout::NOTES_REF;

/// Serializes appends of this process (no retry storms between our own threads); other
/// processes are kept honest by the compare-and-swap.
static NOTES_LOCK: Mutex<()> = Mutex::new(());

const MAX_ATTEMPTS: u32 = 1_000;

/// Hex digits in a note's path, once the fanout slashes are removed (SHA-1).
const HEX_LEN: usize = 40;

/// What went wrong reading or writing the cycle log.
#[derive(Debug, thiserror::Error)]
pub enum NotesError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("cannot record cycle {cycle}: its note target `{target}` {reason}")]
    BadTarget {
        /// `swarm/worker/cycle` of the record.
        cycle: String,
        target: String,
        reason: &'static str,
    },
    #[error("gave up after {0} attempts: {NOTES_REF} kept moving")]
    TooManyRetries(u32),
    #[error(
        "{NOTES_REF} points at {kind} {id}, not at a commit: the cycle log is a chain of notes commits"
    )]
    NotACommit { id: ObjectId, kind: &'static str },
    #[error("{}", rewritten_message(.known, .found))]
    Rewritten {
        /// The last tip git oompa wrote or checked: the records up to it are not in the log.
        known: ObjectId,
        /// What the ref holds now (`None`: it was deleted).
        found: Option<ObjectId>,
    },
}

fn rewritten_message(known: &ObjectId, found: &Option<ObjectId>) -> String {
    let k = known.to_hex_with_len(12);
    match found {
        Some(f) => format!(
            "{NOTES_REF} was rewritten outside git oompa: it points at {}, which does not \
             descend from {k}, so the cycle records up to {k} are no longer in it",
            f.to_hex_with_len(12)
        ),
        None => format!(
            "{NOTES_REF} was deleted outside git oompa: the cycle records up to {k} are no \
             longer in it"
        ),
    }
}

/// What [`Notes::restore`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The tip whose records were missing.
    pub known: ObjectId,
    /// What the ref held (`None`: it had been deleted).
    pub found: Option<ObjectId>,
    /// The log's new tip, holding both.
    pub tip: ObjectId,
}

/// Checks the notes ref's value: a commit (or no ref) descending from the last tip git oompa
/// knew; records it when it moved forward.
pub fn check_tip(repo: &Repo, tip: Option<ObjectId>) -> Result<(), NotesError> {
    known::check(repo, NOTES_REF, tip)?.map_err(|problem| match problem {
        Problem::NotACommit { id, kind } => NotesError::NotACommit { id, kind },
        Problem::Replaced { known, found } => NotesError::Rewritten { known, found },
    })
}

/// One record of the log and the commit its note is attached to.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// The annotated commit.
    pub commit: ObjectId,
    pub record: CycleRecord,
}

/// A line of a note that is not a valid cycle record (hand-written text, a truncated write).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// The annotated commit, in full hex.
    pub commit: String,
    /// 1-based line number inside the note.
    pub line: usize,
    pub reason: String,
}

/// The cycle log of one repository.
pub struct Notes<'r> {
    repo: &'r Repo,
}

/// The lines to add to one commit's note.
struct Addition {
    target: ObjectId,
    lines: String,
}

impl<'r> Notes<'r> {
    pub fn new(repo: &'r Repo) -> Self {
        Notes { repo }
    }

    /// Appends each record as one JSON line to the note of `record.note_target()` (a full hex
    /// commit id), all in one notes commit, and returns that commit. Lines already in a note
    /// are kept. With no records nothing is recorded and the current tip is returned (the
    /// log's empty root commit is created first if the ref does not exist yet).
    ///
    /// Every target is checked first; one that is not a commit of this repository fails the
    /// whole call with [`NotesError::BadTarget`] and nothing is written.
    pub fn append(&self, records: &[CycleRecord]) -> Result<ObjectId, NotesError> {
        let additions = self.additions(records)?;
        let message = commit_message(records);
        let subject = message.lines().next().expect("the message has a subject");
        let _guard = NOTES_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        for attempt in 0..MAX_ATTEMPTS {
            let tip = self.repo.read_ref(NOTES_REF)?;
            check_tip(self.repo, tip)?;
            let Some(tip) = tip else {
                self.start_log()?;
                continue;
            };
            if additions.is_empty() {
                return Ok(tip);
            }
            let commit = self.build_commit(tip, &additions, &message)?;
            match self.repo.cas_ref(NOTES_REF, Some(tip), commit, subject) {
                Ok(()) => {
                    known::record_quietly(self.repo, NOTES_REF, commit);
                    return Ok(commit);
                }
                Err(e) if e.is_conflict() => {
                    tracing::debug!(attempt, "{NOTES_REF} moved under us; retrying");
                    std::thread::sleep(Duration::from_micros(
                        200 * u64::from(attempt.min(50)) + jitter(),
                    ));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(NotesError::TooManyRetries(MAX_ATTEMPTS))
    }

    /// Every record under [`NOTES_REF`] (notes in any fanout layout), read in parallel, plus
    /// the lines that are not valid records. Blank lines are skipped; entries whose path is
    /// not an object id are not notes and are ignored, as git does.
    pub fn read_all(&self) -> Result<(Vec<LogEntry>, Vec<BadLine>), NotesError> {
        let Some(tip) = self.readable_tip()? else {
            return Ok((Vec::new(), Vec::new()));
        };
        let tree = self.repo.commit_tree(tip)?;
        let notes: Vec<(ObjectId, ObjectId)> = self
            .repo
            .list_blobs_recursive(tree)?
            .into_iter()
            .filter_map(|(path, blob)| note_path_target(&path).map(|c| (c, blob)))
            .collect();
        let shared = self.repo.clone().into_shared();
        // Two passes. Reading a loose object makes gix allocate (and free) a large aligned
        // inflate state; records parsed in between would pin the holes it leaves, and 100k
        // notes grew the heap to 2 GB. So first copy every blob into a few big buffers, then
        // parse them.
        let batches = notes
            .par_iter()
            .fold(
                || Ok((shared.to_thread_local(), Blobs::default())),
                |acc: Result<(Repo, Blobs), GitError>, &(commit, blob)| {
                    let (repo, mut blobs) = acc?;
                    let data = repo.read_blob(blob)?;
                    blobs.push(commit, &data);
                    Ok((repo, blobs))
                },
            )
            .map(|acc| acc.map(|(_, blobs)| blobs))
            .collect::<Result<Vec<Blobs>, GitError>>()?;
        let parsed: Vec<(Vec<LogEntry>, Vec<BadLine>)> = batches
            .par_iter()
            .flat_map(|b| b.notes.par_chunks(512).map(move |notes| b.parse(notes)))
            .collect();
        let mut entries = Vec::with_capacity(parsed.iter().map(|(e, _)| e.len()).sum());
        let mut bad = Vec::new();
        for (e, b) in parsed {
            entries.extend(e);
            bad.extend(b);
        }
        Ok((entries, bad))
    }

    /// The records on one commit, in the order they were written. Lines that are not valid
    /// records are skipped ([`Self::read_all`] reports them).
    pub fn for_commit(&self, commit: ObjectId) -> Result<Vec<CycleRecord>, NotesError> {
        let Some(tip) = self.readable_tip()? else {
            return Ok(Vec::new());
        };
        let tree = self.repo.commit_tree(tip)?;
        let Some((_, blob)) = self.find_note(tree, commit)? else {
            return Ok(Vec::new());
        };
        let data = self.repo.read_blob(blob)?;
        let (entries, _) = parse_note(commit, &data);
        Ok(entries.into_iter().map(|e| e.record).collect())
    }

    /// The tip to read records from: `None` when there is no log, an error naming the ref
    /// when it is not a commit. (Reading a rewritten log shows what it holds; the invariant
    /// check every command runs says what is missing.)
    fn readable_tip(&self) -> Result<Option<ObjectId>, NotesError> {
        let tip = self.repo.read_ref(NOTES_REF)?;
        if let Some(id) = tip
            && let Some((kind, _)) = self.repo.object_header(id)?
            && kind != "commit"
        {
            return Err(NotesError::NotACommit { id, kind });
        }
        Ok(tip)
    }

    /// Merges the records of a deleted or rewritten log back when the log's tip does not
    /// descend from the last one git oompa knew. `Ok(None)` when the log is fine.
    ///
    /// A ref pointing at something that is not a commit goes back to the last tip git oompa
    /// knew (else the newest commit in its reflog); what it pointed at is kept as
    /// `refs/oompa/replaced/notes-<id>`.
    pub fn restore(&self) -> Result<Option<Restored>, NotesError> {
        let found = self.repo.read_ref(NOTES_REF)?;
        match check_tip(self.repo, found) {
            Err(NotesError::Rewritten { known, found }) => {
                let tip = self.merge_back(known)?;
                Ok(Some(Restored { known, found, tip }))
            }
            Err(NotesError::NotACommit { id, .. }) => {
                let Some(good) = self.restore_point(id)? else {
                    return Ok(None);
                };
                let keep = layout::replaced_ref(&format!("notes-{}", id.to_hex_with_len(12)));
                if self.repo.read_ref(&keep)? != Some(id) {
                    self.repo.cas_ref(
                        &keep,
                        None,
                        id,
                        "oompa: keep the value that replaced the cycle log",
                    )?;
                }
                self.repo.cas_ref(
                    NOTES_REF,
                    Some(id),
                    good,
                    "oompa: restore the cycle log to its last commit",
                )?;
                known::record_quietly(self.repo, NOTES_REF, good);
                Ok(Some(Restored {
                    known: good,
                    found: Some(id),
                    tip: good,
                }))
            }
            Err(e) => Err(e),
            Ok(()) => Ok(None),
        }
    }

    /// The newest value on the chain git oompa knew, else the newest commit in the reflog.
    fn restore_point(&self, current: ObjectId) -> Result<Option<ObjectId>, NotesError> {
        Ok(known::restore_point(self.repo, NOTES_REF, Some(current))?)
    }

    /// Takes the log's current value as the known one: for a log rewritten on purpose.
    pub fn accept(&self) -> Result<Option<ObjectId>, NotesError> {
        let current = self.readable_tip()?;
        known::accept(self.repo, NOTES_REF, current).map_err(|e| {
            GitError::Spawn(std::io::Error::new(
                e.kind(),
                format!("recording the accepted cycle log tip: {e}"),
            ))
        })?;
        Ok(current)
    }

    /// Merges the notes history `lost` into the log: a commit whose parents are the current
    /// tip and `lost`, holding every note of both (a note on the same commit on both sides
    /// keeps the current lines, then the lost lines it does not have). Compare-and-swap on
    /// the current tip, retried when it moves; records the result as the known tip.
    pub fn merge_back(&self, lost: ObjectId) -> Result<ObjectId, NotesError> {
        let _guard = NOTES_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let lost_tree = self.repo.commit_tree(lost)?;
        let message = format!(
            "oompa: merge back the cycle records up to {}",
            lost.to_hex_with_len(12)
        );
        for attempt in 0..MAX_ATTEMPTS {
            let current = self.readable_tip()?;
            let new = match current {
                None => lost,
                Some(tip) if self.repo.is_ancestor(lost, tip)? => tip,
                Some(tip) => {
                    let tree = self.union_tree(self.repo.commit_tree(tip)?, lost_tree)?;
                    self.repo.commit(&message, tree, &[tip, lost])?
                }
            };
            if Some(new) == current {
                known::record_quietly(self.repo, NOTES_REF, new);
                return Ok(new);
            }
            match self.repo.cas_ref(NOTES_REF, current, new, &message) {
                Ok(()) => {
                    known::record_quietly(self.repo, NOTES_REF, new);
                    return Ok(new);
                }
                Err(e) if e.is_conflict() => {
                    tracing::debug!(attempt, "{NOTES_REF} moved under us; retrying");
                    std::thread::sleep(Duration::from_micros(200 * u64::from(attempt.min(50))));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(NotesError::TooManyRetries(MAX_ATTEMPTS))
    }

    /// `current` with every note and file of `lost` it lacks, and the lost lines of notes
    /// both have.
    fn union_tree(&self, current: ObjectId, lost: ObjectId) -> Result<ObjectId, NotesError> {
        let mut changes = Vec::new();
        for (path, blob) in self.repo.list_blobs_recursive(lost)? {
            let Some(target) = note_path_target(&path) else {
                if self.repo.lookup_path(current, &path)?.is_none() {
                    changes.push((path, Some(blob)));
                }
                continue;
            };
            match self.find_note(current, target)? {
                None => changes.push((fanout_path(target), Some(blob))),
                Some((_, same)) if same == blob => {}
                Some((at, mine)) => {
                    let mut content = self.repo.read_blob(mine)?;
                    let theirs = self.repo.read_blob(blob)?;
                    let have: std::collections::HashSet<&[u8]> =
                        content.split(|&b| b == b'\n').collect();
                    let missing: Vec<&[u8]> = theirs
                        .split(|&b| b == b'\n')
                        .filter(|l| !l.is_empty() && !have.contains(l))
                        .collect();
                    if missing.is_empty() {
                        continue;
                    }
                    let mut merged = std::mem::take(&mut content);
                    if !merged.is_empty() && !merged.ends_with(b"\n") {
                        merged.push(b'\n');
                    }
                    for line in missing {
                        merged.extend_from_slice(line);
                        merged.push(b'\n');
                    }
                    changes.push((at, Some(self.repo.write_blob(&merged)?)));
                }
            }
        }
        Ok(self.repo.edit_tree(Some(current), &changes)?)
    }

    /// Validates every target and groups the records' lines by target, in first-seen order.
    fn additions(&self, records: &[CycleRecord]) -> Result<Vec<Addition>, NotesError> {
        let mut out: Vec<Addition> = Vec::new();
        let mut index: HashMap<ObjectId, usize> = HashMap::new();
        for record in records {
            let target = self.target(record)?;
            let i = *index.entry(target).or_insert_with(|| {
                out.push(Addition {
                    target,
                    lines: String::new(),
                });
                out.len() - 1
            });
            out[i].lines.push_str(&record.to_line());
            out[i].lines.push('\n');
        }
        Ok(out)
    }

    fn target(&self, record: &CycleRecord) -> Result<ObjectId, NotesError> {
        let raw = record.note_target();
        let bad = |reason| NotesError::BadTarget {
            cycle: format!("{}/{}/{}", record.swarm, record.worker, record.cycle),
            target: raw.to_string(),
            reason,
        };
        if raw.len() != HEX_LEN || !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("is not a full hex commit id"));
        }
        let id =
            ObjectId::from_hex(raw.as_bytes()).map_err(|_| bad("is not a full hex commit id"))?;
        if !self.repo.is_commit(id)? {
            return Err(bad("is not a commit in this repository"));
        }
        Ok(id)
    }

    /// Creates the ref with an empty root commit. Identical roots written by two processes at
    /// once are both accepted by git (same target), which is harmless here because every
    /// write after it is a strict compare-and-swap on an existing ref.
    fn start_log(&self) -> Result<(), NotesError> {
        let tree = self.repo.edit_tree(None, &[])?;
        let message = "oompa: start the cycle log";
        let commit = self.repo.commit(message, tree, &[])?;
        match self.repo.cas_ref(NOTES_REF, None, commit, message) {
            Ok(()) => {
                known::record_quietly(self.repo, NOTES_REF, commit);
                Ok(())
            }
            Err(e) if e.is_conflict() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes the notes tree of `tip` with `additions` appended, and a commit on top of `tip`.
    fn build_commit(
        &self,
        tip: ObjectId,
        additions: &[Addition],
        message: &str,
    ) -> Result<ObjectId, NotesError> {
        let tree = self.repo.commit_tree(tip)?;
        let mut changes = Vec::with_capacity(additions.len());
        for a in additions {
            let (path, content) = match self.find_note(tree, a.target)? {
                Some((path, blob)) => {
                    let mut content = self.repo.read_blob(blob)?;
                    if !content.is_empty() && !content.ends_with(b"\n") {
                        content.push(b'\n');
                    }
                    (path, content)
                }
                None => (fanout_path(a.target), Vec::new()),
            };
            let mut content = content;
            content.extend_from_slice(a.lines.as_bytes());
            changes.push((path, Some(self.repo.write_blob(&content)?)));
        }
        let new_tree = self.repo.edit_tree(Some(tree), &changes)?;
        Ok(self.repo.commit(message, new_tree, &[tip])?)
    }

    /// The path and blob of `commit`'s note in `tree`, in whatever fanout it was written:
    /// `<40 hex>`, `xx/<38 hex>`, `xx/yy/<36 hex>`, …
    fn find_note(
        &self,
        tree: ObjectId,
        commit: ObjectId,
    ) -> Result<Option<(String, ObjectId)>, NotesError> {
        let hex = commit.to_hex().to_string();
        let mut dir = String::new();
        let mut rest = hex.as_str();
        loop {
            let path = format!("{dir}{rest}");
            if let Some(blob) = self.repo.lookup_path(tree, &path)? {
                return Ok(Some((path, blob)));
            }
            if rest.len() <= 2 {
                return Ok(None);
            }
            let (level, deeper) = rest.split_at(2);
            let sub = format!("{dir}{level}");
            if self.repo.lookup_tree(tree, &sub)?.is_none() {
                return Ok(None);
            }
            dir = sub + "/";
            rest = deeper;
        }
    }
}

/// `xx/<38 hex>`: where a new note goes.
fn fanout_path(commit: ObjectId) -> String {
    let hex = commit.to_hex().to_string();
    format!("{}/{}", &hex[..2], &hex[2..])
}

/// The annotated object of a notes-tree path, when the path is a note (hex with any fanout).
fn note_path_target(path: &str) -> Option<ObjectId> {
    let hex: String = path.chars().filter(|&c| c != '/').collect();
    if hex.len() != HEX_LEN || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    // git's fanout splits in pairs of hex digits: `abc/…` is not a note path.
    let (dirs, _) = path.rsplit_once('/').unwrap_or(("", path));
    if !dirs.is_empty() && dirs.split('/').any(|d| d.len() != 2) {
        return None;
    }
    ObjectId::from_hex(hex.as_bytes()).ok()
}

/// Note contents copied end to end into one buffer, and where each one is.
#[derive(Default)]
struct Blobs {
    data: Vec<u8>,
    notes: Vec<(ObjectId, std::ops::Range<usize>)>,
}

impl Blobs {
    fn push(&mut self, commit: ObjectId, content: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(content);
        self.notes.push((commit, start..self.data.len()));
    }

    fn parse(&self, notes: &[(ObjectId, std::ops::Range<usize>)]) -> (Vec<LogEntry>, Vec<BadLine>) {
        let mut entries = Vec::with_capacity(notes.len());
        let mut bad = Vec::new();
        for (commit, range) in notes {
            parse_note_into(*commit, &self.data[range.clone()], &mut entries, &mut bad);
        }
        (entries, bad)
    }
}

/// Splits a note into records and bad lines.
fn parse_note(commit: ObjectId, data: &[u8]) -> (Vec<LogEntry>, Vec<BadLine>) {
    let mut entries = Vec::new();
    let mut bad = Vec::new();
    parse_note_into(commit, data, &mut entries, &mut bad);
    (entries, bad)
}

fn parse_note_into(
    commit: ObjectId,
    data: &[u8],
    entries: &mut Vec<LogEntry>,
    bad: &mut Vec<BadLine>,
) {
    let text = String::from_utf8_lossy(data);
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<CycleRecord>(line) {
            Ok(record) => entries.push(LogEntry { commit, record }),
            Err(e) => bad.push(BadLine {
                commit: commit.to_string(),
                line: i + 1,
                reason: e.to_string(),
            }),
        }
    }
}

/// `oompa: record 3 cycles`, then one line per cycle (capped) for `git log refs/notes/oompa`.
fn commit_message(records: &[CycleRecord]) -> String {
    const LISTED: usize = 50;
    let n = records.len();
    let mut message = format!("oompa: record {n} cycle{}", if n == 1 { "" } else { "s" });
    if n > 0 {
        message.push('\n');
        for r in records.iter().take(LISTED) {
            message.push_str(&format!(
                "\n{}/{}/{} {}",
                r.swarm, r.worker, r.cycle, r.outcome
            ));
        }
        if n > LISTED {
            message.push_str(&format!("\n… and {} more", n - LISTED));
        }
        message.push('\n');
    }
    message
}

/// A few hundred microseconds of spread so racing processes do not retry in lockstep.
fn jitter() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    u64::from((nanos ^ std::process::id()) % 500)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::record::{Outcome, ReviewRound};
    use std::path::Path;

    struct Fixture {
        _tmp: tempfile::TempDir,
        repo: Repo,
    }

    fn git(dir: &Path, args: &[&str]) -> String {
        crate::git::cli::test_git(dir, args, &[])
    }

    fn fixture() -> Fixture {
        let tmp = tempfile::Builder::new()
            .prefix("oompa-notes-")
            .tempdir_in(if Path::new("/dev/shm").is_dir() {
                "/dev/shm"
            } else {
                "/tmp"
            })
            .expect("temp dir");
        git(tmp.path(), &["init", "-q", "-b", "main"]);
        git(tmp.path(), &["config", "user.name", "T"]);
        git(tmp.path(), &["config", "user.email", "t@example.invalid"]);
        let repo = Repo::discover(tmp.path()).expect("open");
        Fixture { _tmp: tmp, repo }
    }

    impl Fixture {
        fn dir(&self) -> &Path {
            self.repo.workdir()
        }

        fn commit(&self, name: &str) -> ObjectId {
            let tree = self.repo.edit_tree(None, &[]).expect("tree");
            self.repo.commit(name, tree, &[]).expect("commit")
        }

        /// Writes `files` (path → content) into a notes commit by hand.
        fn write_notes_tree(&self, files: &[(String, &str)]) {
            let changes: Vec<_> = files
                .iter()
                .map(|(p, c)| {
                    (
                        p.clone(),
                        Some(self.repo.write_blob(c.as_bytes()).expect("blob")),
                    )
                })
                .collect();
            let tip = self.repo.read_ref(NOTES_REF).expect("read");
            let base = tip.map(|t| self.repo.commit_tree(t).expect("tree"));
            let tree = self.repo.edit_tree(base, &changes).expect("tree");
            let parents: Vec<_> = tip.into_iter().collect();
            let c = self.repo.commit("by hand", tree, &parents).expect("commit");
            self.repo
                .cas_ref(NOTES_REF, tip, c, "by hand")
                .expect("cas");
        }
    }

    fn record(target: ObjectId, worker: &str, cycle: u32) -> CycleRecord {
        CycleRecord {
            model: "exec:fake".into(),
            tasks: vec![format!("t{cycle}")],
            turns: 2,
            started: "2026-01-01T00:00:00Z".into(),
            ended: format!("2026-01-01T00:{:02}:00Z", cycle % 60),
            duration_ms: 60_000,
            agent_ms: 50_000,
            landed: Some(target.to_string()),
            review: vec![ReviewRound {
                round: 1,
                reviewer: "exec:reviewer".into(),
                verdict: "approved".into(),
                findings: String::new(),
                parsed: true,
            }],
            ..CycleRecord::new("s1", worker, cycle, Outcome::Merged, target.to_string())
        }
    }

    #[test]
    fn append_then_read_round_trips_in_one_commit_per_call() {
        let f = fixture();
        let notes = Notes::new(&f.repo);
        assert_eq!(notes.read_all().expect("test fixture"), (vec![], vec![]));
        let (a, b) = (f.commit("a"), f.commit("b"));
        let first = vec![record(a, "w0", 1), record(b, "w1", 1), record(a, "w0", 2)];
        let c1 = notes.append(&first).expect("test fixture");
        assert_eq!(f.repo.read_ref(NOTES_REF).expect("test fixture"), Some(c1));
        let c2 = notes.append(&[record(b, "w1", 2)]).expect("test fixture");
        assert_eq!(f.repo.commit_parents(c2).expect("test fixture"), vec![c1]);
        let msg = f.repo.commit_message(c1).expect("test fixture");
        assert!(msg.starts_with("oompa: record 3 cycles\n"), "{msg}");
        assert!(msg.contains("s1/w1/1 merged"), "{msg}");
        assert!(
            f.repo
                .commit_message(c2)
                .expect("test fixture")
                .starts_with("oompa: record 1 cycle\n")
        );

        assert_eq!(
            notes.for_commit(a).expect("test fixture"),
            vec![record(a, "w0", 1), record(a, "w0", 2)]
        );
        assert_eq!(
            notes.for_commit(b).expect("test fixture"),
            vec![record(b, "w1", 1), record(b, "w1", 2)]
        );
        assert_eq!(
            notes.for_commit(f.commit("c")).expect("test fixture"),
            vec![]
        );
        let (mut all, bad) = notes.read_all().expect("test fixture");
        assert!(bad.is_empty(), "{bad:?}");
        all.sort_by_key(|e| (e.record.worker.clone(), e.record.cycle));
        let want = vec![
            LogEntry {
                commit: a,
                record: record(a, "w0", 1),
            },
            LogEntry {
                commit: a,
                record: record(a, "w0", 2),
            },
            LogEntry {
                commit: b,
                record: record(b, "w1", 1),
            },
            LogEntry {
                commit: b,
                record: record(b, "w1", 2),
            },
        ];
        assert_eq!(all, want);

        // New notes use the xx/<38 hex> fanout, and plain git reads them.
        let tree = f.repo.commit_tree(c2).expect("test fixture");
        assert!(
            f.repo
                .lookup_path(tree, &fanout_path(a))
                .expect("test fixture")
                .is_some()
        );
        let shown = git(f.dir(), &["notes", "--ref=oompa", "show", &a.to_string()]);
        assert_eq!(
            shown,
            format!("{}\n{}\n", first[0].to_line(), first[2].to_line())
        );
        let reflog = git(f.dir(), &["reflog", "show", "--format=%gs", NOTES_REF]);
        assert!(
            reflog.starts_with("oompa: record 1 cycle\noompa: record 3 cycles\n"),
            "{reflog}"
        );
    }

    #[test]
    fn appending_keeps_lines_written_by_hand_or_by_git_notes() {
        let f = fixture();
        let a = f.commit("a");
        git(
            f.dir(),
            &[
                "notes",
                "--ref=oompa",
                "add",
                "-m",
                "hand-written line",
                &a.to_string(),
            ],
        );
        let notes = Notes::new(&f.repo);
        notes.append(&[record(a, "w0", 1)]).expect("test fixture");
        git(
            f.dir(),
            &[
                "notes",
                "--ref=oompa",
                "append",
                "-m",
                "appended by git",
                &a.to_string(),
            ],
        );
        notes.append(&[record(a, "w0", 2)]).expect("test fixture");
        let shown = git(f.dir(), &["notes", "--ref=oompa", "show", &a.to_string()]);
        assert_eq!(
            shown,
            format!(
                "hand-written line\n{}\n\nappended by git\n{}\n",
                record(a, "w0", 1).to_line(),
                record(a, "w0", 2).to_line()
            )
        );
        let (entries, bad) = notes.read_all().expect("test fixture");
        assert_eq!(entries.len(), 2);
        let lines: Vec<_> = bad.iter().map(|b| (b.commit.clone(), b.line)).collect();
        assert_eq!(lines, vec![(a.to_string(), 1), (a.to_string(), 4)]);
        // A note without a final newline gets one before our line.
        let b = f.commit("b");
        f.write_notes_tree(&[(b.to_string(), "no newline")]);
        notes.append(&[record(b, "w0", 3)]).expect("test fixture");
        let shown = git(f.dir(), &["notes", "--ref=oompa", "show", &b.to_string()]);
        assert_eq!(
            shown,
            format!("no newline\n{}\n", record(b, "w0", 3).to_line())
        );
    }

    #[test]
    fn reads_and_updates_flat_and_deep_fanout_in_place() {
        let f = fixture();
        let (flat, deep, two) = (f.commit("flat"), f.commit("deep"), f.commit("two"));
        let hex = |c: ObjectId| c.to_string();
        let deep_path = {
            let h = hex(deep);
            format!("{}/{}/{}", &h[..2], &h[2..4], &h[4..])
        };
        let line = |c, cycle| record(c, "w0", cycle).to_line() + "\n";
        let (l1, l2, l3) = (line(flat, 1), line(deep, 2), line(two, 3));
        f.write_notes_tree(&[
            (hex(flat), l1.as_str()),
            (deep_path.clone(), l2.as_str()),
            (fanout_path(two), l3.as_str()),
            ("README".into(), "not a note"),
            ("ab/cde".into(), "not a note either"),
        ]);
        let notes = Notes::new(&f.repo);
        let (mut all, bad) = notes.read_all().expect("test fixture");
        assert!(bad.is_empty(), "{bad:?}");
        all.sort_by_key(|e| e.record.cycle);
        let commits: Vec<_> = all.iter().map(|e| (e.commit, e.record.cycle)).collect();
        assert_eq!(commits, vec![(flat, 1), (deep, 2), (two, 3)]);
        // git agrees on the layouts.
        assert_eq!(
            git(f.dir(), &["notes", "--ref=oompa", "show", &hex(deep)]),
            l2
        );
        assert_eq!(
            git(f.dir(), &["notes", "--ref=oompa", "show", &hex(flat)]),
            l1
        );

        notes
            .append(&[record(flat, "w0", 4), record(deep, "w0", 5)])
            .expect("test fixture");
        let tip = f
            .repo
            .read_ref(NOTES_REF)
            .expect("test fixture")
            .expect("test fixture");
        let paths: Vec<String> = f
            .repo
            .list_blobs_recursive(f.repo.commit_tree(tip).expect("test fixture"))
            .expect("test fixture")
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        let mut want = vec![
            hex(flat),
            deep_path.clone(),
            fanout_path(two),
            "README".to_string(),
            "ab/cde".to_string(),
        ];
        want.sort();
        let mut got = paths.clone();
        got.sort();
        assert_eq!(got, want, "updated in place, no second copy");
        assert_eq!(
            notes.for_commit(deep).expect("test fixture"),
            vec![record(deep, "w0", 2), record(deep, "w0", 5)]
        );
        assert_eq!(
            git(f.dir(), &["notes", "--ref=oompa", "show", &hex(flat)]),
            format!("{l1}{}", line(flat, 4))
        );
        assert_eq!(
            git(f.dir(), &["notes", "--ref=oompa", "list"])
                .lines()
                .count(),
            3
        );
    }

    #[test]
    fn bad_targets_are_refused_before_anything_is_written() {
        let f = fixture();
        let notes = Notes::new(&f.repo);
        let a = f.commit("a");
        let mut short = record(a, "w0", 1);
        short.landed = Some("abc123".into());
        let blob = f.repo.write_blob(b"x").expect("test fixture");
        let mut not_commit = record(a, "w0", 2);
        not_commit.landed = Some(blob.to_string());
        let mut missing = record(a, "w0", 3);
        missing.landed = Some("1".repeat(40));
        for (bad, why) in [
            (short, "`abc123` is not a full hex commit id"),
            (not_commit, "is not a commit in this repository"),
            (missing, "is not a commit in this repository"),
        ] {
            let err = notes.append(&[record(a, "w0", 9), bad]).unwrap_err();
            assert!(matches!(err, NotesError::BadTarget { .. }), "{err:?}");
            let msg = err.to_string();
            assert!(msg.contains(why) && msg.contains("cycle s1/w0/"), "{msg}");
        }
        assert_eq!(f.repo.read_ref(NOTES_REF).expect("test fixture"), None);
    }

    #[test]
    fn a_stale_tip_loses_the_compare_and_swap() {
        let f = fixture();
        let notes = Notes::new(&f.repo);
        let a = f.commit("a");
        let tip = notes.append(&[record(a, "w0", 1)]).expect("test fixture");
        let additions = notes
            .additions(&[record(a, "w0", 2)])
            .expect("test fixture");
        let stale = notes
            .build_commit(tip, &additions, "stale")
            .expect("test fixture");
        notes.append(&[record(a, "w0", 3)]).expect("test fixture");
        let err = f
            .repo
            .cas_ref(NOTES_REF, Some(tip), stale, "stale")
            .unwrap_err();
        assert!(err.is_conflict(), "{err:?}");
        let cycles: Vec<u32> = notes
            .for_commit(a)
            .expect("test fixture")
            .iter()
            .map(|r| r.cycle)
            .collect();
        assert_eq!(cycles, vec![1, 3]);
    }

    #[test]
    fn a_stale_lock_on_the_notes_ref_fails_the_append_with_its_path_instead_of_retrying() {
        let f = fixture();
        let notes = Notes::new(&f.repo);
        let a = f.commit("a");
        notes.append(&[record(a, "w0", 1)]).expect("test fixture");
        let lock = f.dir().join(".git").join(format!("{NOTES_REF}.lock"));
        let file = std::fs::File::create(&lock).expect("test fixture");
        file.set_modified(std::time::SystemTime::now() - Duration::from_secs(300))
            .expect("test fixture");
        drop(file);
        let err = notes.append(&[record(a, "w0", 2)]).unwrap_err();
        let NotesError::Git(g) = &err else {
            panic!("{err:?}")
        };
        assert!(!g.is_conflict(), "a lock is not a lost race: {err:?}");
        assert_eq!(g.lock().map(|l| l.path.clone()), Some(lock.clone()));
        let msg = err.to_string();
        assert!(
            msg.contains(&lock.display().to_string()) && msg.contains("5m"),
            "{msg}"
        );
        std::fs::remove_file(&lock).expect("test fixture");
        notes
            .append(&[record(a, "w0", 2)])
            .expect("the lock is gone");
    }

    #[test]
    fn threads_appending_at_once_lose_nothing() {
        let f = fixture();
        let targets: Vec<ObjectId> = (0..4).map(|i| f.commit(&format!("c{i}"))).collect();
        let shared = f.repo.clone().into_shared();
        std::thread::scope(|s| {
            for t in 0..4u32 {
                let shared = shared.clone();
                let targets = &targets;
                s.spawn(move || {
                    let repo = shared.to_thread_local();
                    let notes = Notes::new(&repo);
                    for i in 0..10u32 {
                        let target = targets[((t + i) % 4) as usize];
                        notes
                            .append(&[record(target, &format!("w{t}"), i)])
                            .expect("test fixture");
                    }
                });
            }
        });
        let (all, bad) = Notes::new(&f.repo).read_all().expect("test fixture");
        assert!(bad.is_empty());
        assert_eq!(all.len(), 40);
    }

    #[test]
    fn note_paths_follow_gits_fanout_rules() {
        let hex = "0123456789abcdef0123456789abcdef01234567";
        assert!(note_path_target(hex).is_some());
        assert!(note_path_target(&format!("{}/{}", &hex[..2], &hex[2..])).is_some());
        assert!(note_path_target(&format!("{}/{}/{}", &hex[..2], &hex[2..4], &hex[4..])).is_some());
        assert!(note_path_target(&format!("{}/{}", &hex[..3], &hex[3..])).is_none());
        assert!(note_path_target(&hex[1..]).is_none());
        assert!(note_path_target("README").is_none());
    }
}
