//! The swarm command's side of [`crate::notify`] (and of saying where the transcripts are):
//! starts the notifier, hands it each event, prints its warnings, and sends `finished`.

use std::sync::Arc;

use super::Ui;
use super::ui::{self, DIM};
use crate::git::Repo;
use crate::notify::{self, Notifier, NotifyConfig};
use crate::swarm::{Control, Event, Finished};

pub fn start(config: Option<NotifyConfig>, swarm: &str, repo: &Repo) -> Notifier {
    match config {
        Some(c) => Notifier::start(c, swarm, &repo.main_workdir()),
        None => Notifier::off(),
    }
}

/// After `print_event`: names the transcripts when the swarm starts, queues the event's
/// notification and prints the warnings of commands that failed meanwhile.
pub fn event(ui: &Ui, notifier: &Notifier, repo: &Repo, ev: &Event) {
    if let Event::Started { swarm, .. } = ev {
        let dir = repo
            .common_dir()
            .join("oompa")
            .join("transcripts")
            .join(swarm);
        let shown = std::env::current_dir()
            .ok()
            .and_then(|cwd| dir.strip_prefix(cwd).ok().map(std::path::Path::to_path_buf))
            .unwrap_or(dir);
        ui.status(ui.paint_err(
            DIM,
            format!(
                "  transcripts: {}/<worker>/cycle-<n>.log",
                ui::escape(&shown.display().to_string())
            ),
        ));
    }
    notifier.see(ev);
    for w in notifier.warnings() {
        ui.warn(ui::escape(&w));
    }
}

/// Sends `finished` and waits (a bounded time) for the commands still queued.
pub fn finish(
    ui: &Ui,
    notifier: Notifier,
    finished: &Finished,
    control: &Arc<Control>,
    interrupted: bool,
) {
    let reason = if control.killing() {
        "killed"
    } else if interrupted {
        "interrupted"
    } else if control.spent_because().is_some() {
        "budget-spent"
    } else if control.gave_up_because().is_some() {
        "stopped itself"
    } else {
        "completed"
    };
    notifier.send(&notify::finished_note(finished, reason));
    for w in notifier.close() {
        ui.warn(ui::escape(&w));
    }
}
