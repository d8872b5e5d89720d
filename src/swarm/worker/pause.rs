//! A cycle's waits for its provider: usage limits and passing provider errors, for every agent
//! turn of the swarm (a worker's own, its reviewers', the planner's).
//!
//! A limited turn is not a failure: the worker keeps its claims (their lease renewed past the
//! wait) and its session, waits until the reset time the provider named (else an exponential
//! back-off from `limit_backoff` up to an hour), and resumes the same session with a short
//! "continue" prompt. A limit one turn sees is a limit for every turn on the same provider
//! ([`ProviderPauses`]): the others wait before their next turn. A passing provider error (5xx,
//! connection reset) is resumed the same way at most [`TRANSIENT_RETRIES`] times. Every wait is
//! in the cycle record's `pauses`. [`Waiter`] is who waits and where it shows; [`one_shot`]
//! runs a reviewer's or the planner's turn through it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::LEASE;
use crate::agent::{self, AgentError, Harness, ModelSpec, Trouble, Turn, TurnOutput};
use crate::git::Repo;
use crate::store::Queue;
use crate::store::record::Pause;
use crate::swarm::{Event, Shared};

/// Resumed retries of a cycle after passing provider errors before it counts as `error`.
pub(crate) const TRANSIENT_RETRIES: u32 = 3;
/// The longest back-off after a limit whose reset time was not given.
const LIMIT_BACKOFF_MAX: Duration = Duration::from_secs(3600);
/// The longest wait for a reset time a provider named.
const RESET_MAX: Duration = Duration::from_secs(24 * 3600);
/// A claim's lease is renewed before a turn that could end less than this before it does.
const LEASE_MARGIN: Duration = Duration::from_secs(3600);

/// The prompt of the turn that resumes a session after a pause.
pub(crate) const CONTINUE_PROMPT: &str = "Your last turn was cut off by the model provider \
(a usage limit or a passing error), not by anything you did. Continue where you stopped: check \
what you already did, finish the work, and end your final message with the signal as before.";

/// The prompt that resumes a reviewer's or the planner's session after a pause.
pub(crate) const ONE_SHOT_CONTINUE_PROMPT: &str = "Your last turn was cut off by the model \
provider (a usage limit or a passing error), not by anything you did. Continue where you \
stopped: finish what you were asked to do, and end your final message the way you were asked \
to.";

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

    /// Adds the waits of a reviewer's turns (with their own back-off and retry counts) to the
    /// cycle's.
    pub fn absorb(&mut self, other: CycleWaits) {
        self.limited_turns += other.limited_turns;
        self.pauses.extend(other.pauses);
    }
}

/// Who waits for a provider, and where it shows: a worker (for its own turns, or its
/// reviewer's), or the planner.
pub(crate) struct Waiter<'a> {
    shared: &'a Shared,
    /// The id in events and claims: a worker's, or `planner`.
    who: &'a str,
    /// Put before each pause's reason (`review round 1: `); empty for a worker's own turns.
    role: String,
    /// The repository whose queue holds `who`'s claims, kept alive while it waits (none for
    /// the planner, which claims nothing).
    claims: Option<&'a Repo>,
}

impl<'a> Waiter<'a> {
    pub(crate) fn new(
        shared: &'a Shared,
        who: &'a str,
        role: impl Into<String>,
        claims: Option<&'a Repo>,
    ) -> Self {
        Waiter {
            shared,
            who,
            role: role.into(),
            claims,
        }
    }

    fn emit(&self, e: Event) {
        self.shared.emit(e);
    }

    /// Before a turn of `spec` that may run `timeout`: waits out a usage limit another turn on
    /// the same provider saw, and keeps the claims' lease past the turn's end. Returns false
    /// when the swarm is stopping.
    pub(crate) fn before_turn(
        &self,
        spec: &ModelSpec,
        timeout: Duration,
        waits: &mut CycleWaits,
    ) -> bool {
        let provider = provider_of(spec);
        if let Some(hold) = self.shared.provider_pauses.current(&provider) {
            let reason = format!("{provider} is limited: {}", hold.reason);
            if !self.pause(waits, &provider, reason) {
                return false;
            }
        }
        let end = wall_after(timeout);
        self.keep_claims(
            end.checked_add(signed(LEASE_MARGIN)).unwrap_or(end),
            end.checked_add(signed(LEASE)).unwrap_or(end),
        );
        true
    }

    /// Acts on a turn of `spec` its provider cut short (`out.trouble`).
    pub(crate) fn after_trouble(
        &self,
        spec: &ModelSpec,
        trouble: &Trouble,
        out: &TurnOutput,
        waits: &mut CycleWaits,
    ) -> AfterTrouble {
        let provider = provider_of(spec);
        let going = match trouble {
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
                self.pause(waits, &provider, format!("usage limit: {reason}"))
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
                self.pause_until(waits, until, wall_after(wait), reason)
            }
        };
        if going {
            AfterTrouble::Resume
        } else {
            AfterTrouble::Stop
        }
    }

    /// Waits while `provider` is on hold (others may extend it), recording the pause.
    fn pause(&self, waits: &mut CycleWaits, provider: &str, reason: String) -> bool {
        let Some(hold) = self.shared.provider_pauses.current(provider) else {
            return true;
        };
        let (started, reason) = self.start_pause(hold.until_wall, reason);
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

    /// Waits until `until` (a passing error: only this turn waits), recording the pause.
    fn pause_until(
        &self,
        waits: &mut CycleWaits,
        until: Instant,
        until_wall: jiff::Timestamp,
        reason: String,
    ) -> bool {
        let (started, reason) = self.start_pause(until_wall, reason);
        let going = self
            .shared
            .control
            .sleep(until.saturating_duration_since(Instant::now()));
        self.end_pause(waits, started, reason, going)
    }

    /// Says that a pause until `until` begins, and renews the claims' lease past it. Returns
    /// when it began and its reason as recorded.
    fn start_pause(&self, until: jiff::Timestamp, reason: String) -> (jiff::Timestamp, String) {
        let reason = format!("{}{reason}", self.role);
        let started = jiff::Timestamp::now();
        self.emit(Event::Paused {
            worker: self.who.to_string(),
            until,
            reason: reason.clone(),
        });
        let lease = until.checked_add(signed(LEASE)).unwrap_or(until);
        self.keep_claims(lease, lease);
        (started, reason)
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
                worker: self.who.to_string(),
            });
        }
        going
    }

    /// Extends to `until` the lease of the claims `who` holds that end before `need`.
    fn keep_claims(&self, need: jiff::Timestamp, until: jiff::Timestamp) {
        let Some(repo) = self.claims else { return };
        if let Err(e) = Queue::new(repo).renew_leases(&self.shared.id, self.who, need, until) {
            self.emit(Event::Warning(format!(
                "[{}] could not renew the lease of its claims: {e}",
                self.who
            )));
        }
    }
}

/// How a reviewer's or the planner's turn ended (see [`one_shot`]).
pub(crate) enum OneShotEnd {
    /// The last turn pushed ended by itself: answered, or failed for its own reasons.
    Ended,
    /// The swarm stopped while the turn waited for its provider.
    Stopped,
    /// Passing provider errors did not pass: why.
    GaveUp(String),
}

/// Runs a one-shot turn (a reviewer's, the planner's) to its end: a turn its provider cut
/// short is waited out by `waiter` and its session resumed with [`ONE_SHOT_CONTINUE_PROMPT`]
/// (afresh with its own prompt when the CLI kept no session). Every turn taken is pushed to
/// `outs`.
pub(crate) fn one_shot(
    waiter: &Waiter<'_>,
    turn: &Turn<'_>,
    label: &str,
    waits: &mut CycleWaits,
    outs: &mut Vec<TurnOutput>,
) -> Result<OneShotEnd, AgentError> {
    let mut session: Option<String> = None;
    loop {
        if !waiter.before_turn(turn.spec, turn.timeout, waits) {
            return Ok(OneShotEnd::Stopped);
        }
        let this = Turn {
            prompt: if session.is_some() {
                ONE_SHOT_CONTINUE_PROMPT
            } else {
                turn.prompt
            },
            resume: session.as_deref(),
            ..*turn
        };
        let out = agent::run_logged(&this, label)?;
        if out.session_id.is_some() {
            session.clone_from(&out.session_id);
        }
        let trouble = out
            .trouble
            .clone()
            .filter(|_| !waiter.shared.control.killing());
        outs.push(out);
        let Some(trouble) = trouble else {
            return Ok(OneShotEnd::Ended);
        };
        let out = outs.last().expect("the turn was just pushed");
        match waiter.after_trouble(turn.spec, &trouble, out, waits) {
            AfterTrouble::Resume => {}
            AfterTrouble::Stop => return Ok(OneShotEnd::Stopped),
            AfterTrouble::GiveUp(e) => return Ok(OneShotEnd::GaveUp(e)),
        }
    }
}

/// `first` doubled for each further occurrence in a row (`n` counts from 1).
fn backoff(first: Duration, n: u32) -> Duration {
    first.saturating_mul(1 << n.saturating_sub(1).min(16))
}

fn wall_after(wait: Duration) -> jiff::Timestamp {
    jiff::Timestamp::now()
        .checked_add(signed(wait))
        .unwrap_or_else(|_| jiff::Timestamp::now())
}

fn signed(d: Duration) -> jiff::SignedDuration {
    jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX)
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
