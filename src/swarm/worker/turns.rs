//! What a cycle's turns add up to (a worker's cycle, or a planner round): turns, sessions,
//! time, tokens, provider waits; and the one place a cycle's record is filled in from them
//! ([`Turns::into_record`]), so a new record field is added once for workers and planner.

use std::path::Path;
use std::time::{Duration, Instant};

use super::pause::CycleWaits;
use crate::agent;
use crate::store::record::{CycleRecord, Tokens, TurnSpan};
use crate::swarm::workspace::Settled;

/// When a cycle began, on the wall clock and the monotonic one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Began {
    pub wall: jiff::Timestamp,
    pub at: Instant,
}

impl Began {
    pub(crate) fn now() -> Self {
        Began {
            wall: jiff::Timestamp::now(),
            at: Instant::now(),
        }
    }
}

/// Turn bookkeeping of one cycle (a worker's, or the planner's round).
#[derive(Default)]
pub(crate) struct Turns {
    pub count: u32,
    pub sessions: Vec<String>,
    pub agent: Duration,
    pub tokens: Tokens,
    /// Processes the turns left running outside their process group (ended).
    pub escaped: Vec<String>,
    /// Waits for the provider (usage limits, passing errors).
    pub waits: CycleWaits,
    /// When each turn ran (`turn` or `review`, its start, how long), for the timeline.
    spans: Vec<(&'static str, Option<Instant>, Duration)>,
}

impl Turns {
    /// A turn of the worker's own session (or the planner's).
    pub(crate) fn add(&mut self, out: &agent::TurnOutput) {
        if let Some(s) = &out.session_id
            && !self.sessions.contains(s)
        {
            self.sessions.push(s.clone());
        }
        self.count_turn(out, "turn");
    }

    /// A reviewer's turn: counted, but its session is not the worker's.
    pub(crate) fn add_one_shot(&mut self, out: &agent::TurnOutput) {
        self.count_turn(out, "review");
    }

    fn count_turn(&mut self, out: &agent::TurnOutput, kind: &'static str) {
        self.spans
            .push((kind, Instant::now().checked_sub(out.duration), out.duration));
        self.escaped.extend(out.escaped.iter().cloned());
        self.count += 1;
        self.agent += out.duration;
        let add = |a: &mut Option<u64>, b: Option<u64>| {
            if let Some(b) = b {
                *a = Some(a.unwrap_or(0) + b);
            }
        };
        add(&mut self.tokens.input, out.usage.input_tokens);
        add(&mut self.tokens.output, out.usage.output_tokens);
        if let Some(c) = out.usage.cost_usd {
            self.tokens.cost_usd = Some(self.tokens.cost_usd.unwrap_or(0.0) + c);
        }
    }
}

impl Turns {
    /// The turns' spans, relative to the cycle's start.
    pub(crate) fn spans_since(&self, start: Instant) -> Vec<TurnSpan> {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.spans
            .iter()
            .map(|(kind, at, took)| TurnSpan {
                kind: (*kind).to_string(),
                at_ms: at.map_or(0, |at| ms(at.saturating_duration_since(start))),
                ms: ms(*took),
            })
            .collect()
    }
}

impl Turns {
    /// The record of a cycle that began at `began`, wrote `transcript` and left `settled`:
    /// `record` (from [`CycleRecord::new`], with what only its caller knows) completed with
    /// what its turns did and when it ended.
    pub(crate) fn into_record(
        self,
        record: CycleRecord,
        began: Began,
        transcript: &Path,
        settled: Settled,
    ) -> CycleRecord {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        CycleRecord {
            turns: self.count,
            sessions: self.sessions,
            started: began.wall.to_string(),
            ended: jiff::Timestamp::now().to_string(),
            duration_ms: ms(began.at.elapsed()),
            agent_ms: ms(self.agent),
            tokens: self.tokens,
            kept: settled.kept.first().cloned(),
            agent_did: settled.did,
            pauses: self.waits.pauses,
            transcript: Some(transcript.display().to_string()),
            ..record
        }
    }
}
