//! What a cycle's turns add up to (a worker's cycle, or a planner round): turns, sessions,
//! time, tokens, provider waits.

use std::time::{Duration, Instant};

use super::pause::CycleWaits;
use crate::agent;
use crate::store::record::{Tokens, TurnSpan};

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
