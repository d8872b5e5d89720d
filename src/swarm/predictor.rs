//! The predictor thread: conflict prediction kept current while the workers run.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{Shared, predict};

/// How often the predictor looks again.
const PREDICT_EVERY: Duration = Duration::from_millis(500);

/// The predictor thread: while workers run, dry-merges the live branches against the target
/// and each other, keeps the result for prompts and landings, and publishes it for
/// `git oompa status`.
pub(super) fn predictor(shared: &Shared) {
    let repo = shared.repo.to_thread_local();
    let path = predict::prediction_path(repo.common_dir(), &shared.id);
    while shared.workers_running.load(Ordering::SeqCst) > 0 && !shared.control.killing() {
        if let Ok(Some(target)) = repo.read_ref(&shared.target_ref)
            && let Ok(branches) = predict::live_branches(&repo, &shared.id, target)
        {
            match predict::compute(&shared.repo, target, &branches) {
                Ok(p) => {
                    {
                        let mut flagged = shared.flagged_lock();
                        for (worker, _) in &branches {
                            if predict::flagged(&p, worker) {
                                flagged.insert(worker.clone());
                            }
                        }
                    }
                    let _ = predict::write(&path, &p);
                    *shared.prediction.lock().unwrap_or_else(|e| e.into_inner()) = p;
                }
                Err(e) => tracing::debug!("conflict prediction failed: {e}"),
            }
        }
        std::thread::sleep(PREDICT_EVERY);
    }
    let _ = std::fs::remove_file(&path);
}
