//! The recorder: the only writer of `refs/notes/oompa` in a swarm. It batches the cycle
//! records workers send and appends them as JSON lines to the notes of their commits. A log
//! deleted or rewritten under the swarm is merged back before the next append, with a
//! warning: no record is lost, silently or otherwise.

use std::time::Duration;

use crossbeam_channel::Receiver;

use super::{Event, Shared};
use crate::store::notes::{NOTES_REF, Notes, NotesError};
use crate::store::record::CycleRecord;

const BATCH: usize = 256;
const ATTEMPTS: u32 = 5;

pub(crate) fn run(shared: &Shared, records: Receiver<CycleRecord>) {
    let repo = shared.repo.to_thread_local();
    let notes = Notes::new(&repo);
    while let Ok(first) = records.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match records.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            match notes.append(&batch) {
                Ok(_) => {
                    for record in &batch {
                        shared.journal.recorded(record);
                    }
                    break;
                }
                // One record with a bad target must not cost the others theirs.
                Err(NotesError::BadTarget { .. }) if batch.len() > 1 => {
                    for record in &batch {
                        match notes.append(std::slice::from_ref(record)) {
                            Ok(_) => shared.journal.recorded(record),
                            Err(e) => shared.emit(Event::Warning(format!(
                                "could not record cycle {}/{}/{}: {e}",
                                record.swarm, record.worker, record.cycle
                            ))),
                        }
                    }
                    break;
                }
                // Someone deleted or rewrote the log during the swarm: merge what it lost
                // back (nothing of either side is dropped), say so, and append on top.
                Err(e @ NotesError::Rewritten { .. }) if attempt < ATTEMPTS => {
                    match notes.restore() {
                        Ok(Some(r)) => shared.emit(Event::Warning(format!(
                            "{e}; merged them back ({NOTES_REF} is now {}), no record is lost",
                            r.tip.to_hex_with_len(12)
                        ))),
                        Ok(None) => {}
                        Err(e) => tracing::debug!("restoring {NOTES_REF} failed: {e}"),
                    }
                }
                // A lock in the way was already waited for; retrying would only wait again.
                Err(e) if attempt < ATTEMPTS && !is_locked(&e) => {
                    tracing::debug!("writing cycle notes failed ({e}); retrying");
                    std::thread::sleep(Duration::from_millis(100 * u64::from(attempt)));
                }
                Err(e) => {
                    shared.emit(Event::Warning(format!(
                        "could not record {} {} in {NOTES_REF}: {e}",
                        batch.len(),
                        if batch.len() == 1 { "cycle" } else { "cycles" }
                    )));
                    break;
                }
            }
        }
    }
}

fn is_locked(e: &NotesError) -> bool {
    matches!(e, NotesError::Git(g) if g.lock().is_some())
}
