//! The recorder: the only writer of `refs/notes/oompa` in a swarm. It batches the cycle
//! records workers send and appends them as JSON lines to the notes of their commits.

use std::time::Duration;

use crossbeam_channel::Receiver;

use super::{Event, Shared};
use crate::store::notes::{Notes, NotesError};
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
                Ok(_) => break,
                // One record with a bad target must not cost the others theirs.
                Err(NotesError::BadTarget { .. }) if batch.len() > 1 => {
                    for record in &batch {
                        if let Err(e) = notes.append(std::slice::from_ref(record)) {
                            shared.emit(Event::Warning(format!(
                                "could not record cycle {}/{}/{}: {e}",
                                record.swarm, record.worker, record.cycle
                            )));
                        }
                    }
                    break;
                }
                // A lock in the way was already waited for; retrying would only wait again.
                Err(e) if attempt < ATTEMPTS && !is_locked(&e) => {
                    tracing::debug!("writing cycle notes failed ({e}); retrying");
                    std::thread::sleep(Duration::from_millis(100 * u64::from(attempt)));
                }
                Err(e) => {
                    shared.emit(Event::Warning(format!(
                        "could not record {} cycle(s) in refs/notes/oompa: {e}",
                        batch.len()
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
