//! A cycle's waits for its provider: usage limits and passing provider errors.
//!
//! A limited turn is not a failure: the worker keeps its claims and its session, waits until
//! the reset time the provider named (else an exponential back-off from `limit_backoff` up to
//! an hour), and resumes the same session with a short "continue" prompt. A limit one worker
//! sees is a limit for every worker on the same provider ([`ProviderPauses`]): the others
//! wait before their next turn. A passing provider error (5xx, connection reset) is resumed
//! the same way at most [`TRANSIENT_RETRIES`] times before the cycle ends as `error`. Every
//! wait is in the cycle record's `pauses`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Event, Worker};
use crate::agent::{Harness, ModelSpec, Trouble, TurnOutput};
use crate::store::record::Pause;

/// Resumed retries of a cycle after passing provider errors before it counts as `error`.
pub(crate) const TRANSIENT_RETRIES: u32 = 3;
/// The longest back-off after a limit whose reset time was not given.
const LIMIT_BACKOFF_MAX: Duration = Duration::from_secs(3600);
/// The longest wait for a reset time a provider named.
const RESET_MAX: Duration = Duration::from_secs(24 * 3600);

/// The prompt of the turn that resumes a session after a pause.
pub(crate) const CONTINUE_PROMPT: &str = "Your last turn was cut off by the model provider \
(a usage limit or a passing error), not by anything you did. Continue where you stopped: check \
what you already did, finish the work, and end your final message with the signal as before.";

/// The usage limits in force, by provider (see [`provider_of`]).
#[derive(Debug, Default)]
pub(crate) struct ProviderPauses {
    by_provider: Mutex<HashMap<String, Hold>>,
}

/// One provider's pause: until when, and why.
#[derive(Debug, Clone)]
struct Hold {
    until: Instant,
    until_wall: jiff::Timestamp,
    reason: String,
}

impl ProviderPauses {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Hold>> {
        self.by_provider
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Puts `provider` on hold for `wait` from now, unless it already is for longer.
    fn hold(&self, provider: &str, wait: Duration, reason: &str) {
        let until = Instant::now() + wait;
        let mut map = self.lock();
        if map.get(provider).is_some_and(|h| h.until >= until) {
            return;
        }
        map.insert(
            provider.to_string(),
            Hold {
                until,
                until_wall: wall_after(wait),
                reason: reason.to_string(),
            },
        );
    }

    /// The hold on `provider` that is still ahead, if any.
    fn current(&self, provider: &str) -> Option<Hold> {
        self.lock()
            .get(provider)
            .filter(|h| h.until > Instant::now())
            .cloned()
    }
}

/// Workers that share a usage limit: the same agent CLI (its account), or every `exec:` agent.
pub(crate) fn provider_of(spec: &ModelSpec) -> String {
    match &spec.harness {
        Harness::Exec(_) => "exec".to_string(),
        h => h.name().to_string(),
    }
}

/// What the turn loop does after a turn the provider cut short.
pub(crate) enum AfterTrouble {
    /// Resume the session (with [`CONTINUE_PROMPT`] when there is one).
    Resume,
    /// The swarm is stopping.
    Stop,
    /// Too many passing errors: end the cycle as `error` with this message.
    GiveUp(String),
}

/// The provider waits of one cycle.
#[derive(Debug, Default)]
pub(crate) struct CycleWaits {
    limits_in_row: u32,
    transient: u32,
    /// Turns cut off by a limit: they do not count toward the cycle's turn cap.
    pub limited_turns: u32,
    pub pauses: Vec<Pause>,
}

impl CycleWaits {
    /// A turn that the provider did not cut short: back-off starts over.
    pub fn clean_turn(&mut self) {
        self.limits_in_row = 0;
    }
}

impl Worker {
    /// Waits out a usage limit another worker on the same provider saw, before a turn.
    /// Returns false when the swarm is stopping.
    pub(crate) fn wait_for_provider(&self, waits: &mut CycleWaits) -> bool {
        let provider = provider_of(&self.config.model);
        let Some(hold) = self.shared.provider_pauses.current(&provider) else {
            return true;
        };
        let reason = format!("{provider} is limited: {}", hold.reason);
        self.pause(waits, &provider, reason)
    }

    /// Acts on a turn its provider cut short (`out.trouble`).
    pub(crate) fn after_trouble(
        &self,
        trouble: &Trouble,
        out: &TurnOutput,
        waits: &mut CycleWaits,
    ) -> AfterTrouble {
        let provider = provider_of(&self.config.model);
        match trouble {
            Trouble::Limited {
                retry_after,
                reason,
            } => {
                waits.limited_turns += 1;
                waits.limits_in_row += 1;
                let wait = match retry_after {
                    Some(d) => (*d).min(RESET_MAX),
                    None => backoff(self.shared.config.limit_backoff, waits.limits_in_row)
                        .min(LIMIT_BACKOFF_MAX),
                };
                self.shared.provider_pauses.hold(&provider, wait, reason);
                let reason = format!("usage limit: {reason}");
                if self.pause(waits, &provider, reason) {
                    AfterTrouble::Resume
                } else {
                    AfterTrouble::Stop
                }
            }
            Trouble::Transient { reason } => {
                waits.transient += 1;
                if waits.transient > TRANSIENT_RETRIES {
                    return AfterTrouble::GiveUp(format!(
                        "{} after {TRANSIENT_RETRIES} resumed retries",
                        out.error_snippet()
                    ));
                }
                let wait = backoff(self.shared.config.error_backoff, waits.transient)
                    .min(LIMIT_BACKOFF_MAX);
                let until = Instant::now() + wait;
                let reason = format!("provider error: {reason}");
                if self.pause_until(waits, until, wall_after(wait), reason) {
                    AfterTrouble::Resume
                } else {
                    AfterTrouble::Stop
                }
            }
        }
    }

    /// Waits while `provider` is on hold (others may extend it), recording the pause.
    fn pause(&self, waits: &mut CycleWaits, provider: &str, reason: String) -> bool {
        let Some(hold) = self.shared.provider_pauses.current(provider) else {
            return true;
        };
        let started = jiff::Timestamp::now();
        self.emit(Event::Paused {
            worker: self.id.clone(),
            until: hold.until_wall,
            reason: reason.clone(),
        });
        let mut going = true;
        while let Some(hold) = self.shared.provider_pauses.current(provider) {
            let left = hold.until.saturating_duration_since(Instant::now());
            if !self.shared.control.sleep(left.min(Duration::from_secs(1))) {
                going = false;
                break;
            }
        }
        self.end_pause(waits, started, reason, going)
    }

    /// Waits until `until` (a passing error: only this worker waits), recording the pause.
    fn pause_until(
        &self,
        waits: &mut CycleWaits,
        until: Instant,
        until_wall: jiff::Timestamp,
        reason: String,
    ) -> bool {
        let started = jiff::Timestamp::now();
        self.emit(Event::Paused {
            worker: self.id.clone(),
            until: until_wall,
            reason: reason.clone(),
        });
        let going = self
            .shared
            .control
            .sleep(until.saturating_duration_since(Instant::now()));
        self.end_pause(waits, started, reason, going)
    }

    fn end_pause(
        &self,
        waits: &mut CycleWaits,
        started: jiff::Timestamp,
        reason: String,
        going: bool,
    ) -> bool {
        waits.pauses.push(Pause {
            started: started.to_string(),
            ended: jiff::Timestamp::now().to_string(),
            reason,
        });
        if going {
            self.emit(Event::Resumed {
                worker: self.id.clone(),
            });
        }
        going
    }
}

/// `first` doubled for each further occurrence in a row (`n` counts from 1).
fn backoff(first: Duration, n: u32) -> Duration {
    first.saturating_mul(1 << n.saturating_sub(1).min(16))
}

fn wall_after(wait: Duration) -> jiff::Timestamp {
    jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::try_from(wait).unwrap_or(jiff::SignedDuration::MAX))
        .unwrap_or_else(|_| jiff::Timestamp::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_is_only_ever_extended_and_ends_by_itself() {
        let p = ProviderPauses::default();
        p.hold("codex", Duration::from_secs(60), "first");
        p.hold("codex", Duration::from_secs(5), "shorter");
        assert_eq!(p.current("codex").expect("held").reason, "first");
        assert!(p.current("claude").is_none());
        p.hold("gemini", Duration::ZERO, "over");
        assert!(p.current("gemini").is_none());
    }

    #[test]
    fn backoff_doubles_from_the_first_wait() {
        let m = Duration::from_secs(60);
        assert_eq!(backoff(m, 1), m);
        assert_eq!(backoff(m, 3), m * 4);
        assert_eq!(backoff(m, 40).min(LIMIT_BACKOFF_MAX), LIMIT_BACKOFF_MAX);
    }
}
