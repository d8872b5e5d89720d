//! What `git oompa swarm` does around the swarm itself: which signals mean what (one Ctrl-C
//! seen twice is still one), a second swarm on the same target, the timestamped progress log,
//! and the exit status of a swarm in which every cycle failed.

use std::time::{Duration, Instant};

use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};

use super::error::Kind;
use super::progress::Progress;
use super::swarm::RunResult;
use super::{CommandError, Env, Ui};
use crate::config::budget::Spend;
use crate::git::Repo;
use crate::store::record::Outcome;
use crate::swarm::{Finished, registry};

/// The signals a running swarm handles.
pub const SIGNALS: [i32; 3] = [SIGINT, SIGTERM, SIGUSR1];

/// A SIGINT this soon after the first is the same Ctrl-C (git forwards the terminal's SIGINT
/// to its child, which may have got it from the terminal already).
pub const SAME_PRESS: Duration = Duration::from_millis(500);

/// What the swarm says when it starts stopping gracefully, by signal.
pub fn stopping_message(signal: i32) -> &'static str {
    if signal == SIGINT {
        "stopping: finishing the agent turns in flight and landing what is ready (Ctrl-C again to kill the agents)"
    } else {
        "stopping (asked to, e.g. by `git oompa stop`): finishing the agent turns in flight and landing what is ready (`git oompa stop --now` kills the agents)"
    }
}

/// What a signal asks of the swarm.
#[derive(Debug, PartialEq, Eq)]
pub enum Press {
    /// Stop gracefully (the first Ctrl-C, or SIGTERM: `git oompa stop`).
    Stop,
    /// Kill the agents now (a second Ctrl-C, a second SIGTERM, or SIGUSR1: `stop --now`).
    Kill,
    /// The same Ctrl-C seen again.
    Ignored,
}

/// The presses so far.
#[derive(Debug, Default)]
pub struct Presses {
    count: u32,
    last_int: Option<Instant>,
}

impl Presses {
    pub fn press(&mut self, signal: i32) -> Press {
        self.press_at(signal, Instant::now())
    }

    fn press_at(&mut self, signal: i32, now: Instant) -> Press {
        if signal == SIGUSR1 {
            self.count += 1;
            return Press::Kill;
        }
        if signal == SIGINT {
            let echo = self
                .last_int
                .is_some_and(|t| now.saturating_duration_since(t) < SAME_PRESS);
            self.last_int = Some(now);
            if echo {
                return Press::Ignored;
            }
        }
        self.count += 1;
        if self.count == 1 {
            Press::Stop
        } else {
            Press::Kill
        }
    }
}

/// Refuses a second swarm on the same target without `--force`; says why one on another
/// target is fine.
pub fn check_others(env: &Env, repo: &Repo, target: &str, force: bool) -> Result<(), CommandError> {
    let running = registry::list_running(repo.common_dir());
    let (same, other): (Vec<_>, Vec<_>) = running.iter().partition(|s| s.target == target);
    for s in &other {
        env.ui.status(format!(
            "swarm {} (pid {}) is running on `{}`; this one lands on `{target}`, so they do not get in each other's way",
            s.id, s.pid, s.target
        ));
    }
    if same.is_empty() {
        return Ok(());
    }
    let list = same
        .iter()
        .map(|s| {
            format!(
                "swarm {} (pid {}, started {})",
                s.id,
                s.pid,
                super::ui::when(&s.started, false)
            )
        })
        .collect::<Vec<_>>();
    if force {
        env.ui.warn(format!(
            "also running on `{target}`: {} (--force: starting anyway; both land through the same target branch)",
            list.join(", ")
        ));
        return Ok(());
    }
    Err(CommandError {
        kind: Kind::User,
        message: format!("a swarm is already running on `{target}` in this repository"),
        causes: list,
        hints: vec![
            format!(
                "`git oompa stop {}` stops it; `git oompa swarm --force` starts a second one anyway (their workers then compete for the same tasks and landings)",
                same[0].id
            ),
            "`--target <branch>` starts one on another branch".into(),
        ],
    })
}

/// Timestamps the progress lines and tees them into the swarm's log (the detached swarm's
/// stderr is that log already).
pub fn start_progress(ui: &Ui, repo: &Repo, id: &str) {
    if super::swarm_detach::detached_id().is_some() {
        ui.set_progress(Some(Progress::stamped()));
        return;
    }
    let path = registry::log_path(repo.common_dir(), id);
    match Progress::tee(&path) {
        Ok(p) => ui.set_progress(Some(p)),
        Err(e) => {
            ui.set_progress(Some(Progress::stamped()));
            ui.warn(format!(
                "cannot write the swarm's log {}: {e}",
                path.display()
            ));
        }
    }
}

/// A worker's spend in the summary table: `-` when its agents reported no usage.
pub fn spent_cell(spend: &Spend) -> String {
    if spend.tokens == 0 && !spend.cost_known {
        "-".into()
    } else {
        spend.describe()
    }
}

/// The swarm's total spend under the summary, with its budget, and why it stopped when the
/// budget stopped it.
pub fn print_spend(env: &Env, finished: &Finished, budget_spent: Option<&str>) {
    let total = &finished.spend;
    if total.tokens > 0 || total.cost_known {
        env.ui.status(format!("spent: {}", total.describe()));
    }
    if let Some(why) = budget_spent {
        env.ui.status(format!(
            "the swarm stopped itself: {why}; claims went back to pending and unmerged work is kept"
        ));
    }
}

/// A swarm in which every cycle failed (`error`) did nothing: that is a failure.
pub fn check_result(result: &RunResult) -> Result<(), CommandError> {
    let workers = &result.finished.workers;
    let cycles: u32 = workers.iter().map(|w| w.cycles).sum();
    let errors: u32 = workers
        .iter()
        .map(|w| {
            w.outcomes
                .get(Outcome::Error.as_str())
                .copied()
                .unwrap_or(0)
        })
        .sum();
    if cycles == 0 || errors < cycles {
        return Ok(());
    }
    let causes: Vec<String> = workers
        .iter()
        .filter(|w| w.cycles > 0)
        .take(3)
        .map(|w| format!("{}: {}", w.worker, w.reason))
        .collect();
    Err(CommandError {
        kind: Kind::User,
        message: format!(
            "every cycle failed ({cycles} {}); nothing was done",
            if cycles == 1 { "cycle" } else { "cycles" }
        ),
        causes,
        hints: vec![
            "`git oompa log --show` shows each cycle's error and transcript; `git oompa check` tests the agent CLIs".into(),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sigint_echoed_within_half_a_second_is_one_press() {
        let t = Instant::now();
        let mut p = Presses::default();
        assert_eq!(p.press_at(SIGINT, t), Press::Stop);
        assert_eq!(
            p.press_at(SIGINT, t + Duration::from_millis(5)),
            Press::Ignored
        );
        assert_eq!(
            p.press_at(SIGINT, t + Duration::from_millis(900)),
            Press::Kill
        );
    }

    #[test]
    fn sigterm_presses_count_and_sigusr1_kills() {
        let t = Instant::now();
        let mut p = Presses::default();
        assert_eq!(p.press_at(SIGTERM, t), Press::Stop);
        assert_eq!(p.press_at(SIGTERM, t), Press::Kill);
        let mut p = Presses::default();
        assert_eq!(p.press_at(SIGUSR1, t), Press::Kill);
    }
}
