//! The cycle record: one JSON object per cycle, stored as one line of the git note (under
//! `refs/notes/oompa`) on the commit the cycle is about.
//!
//! Owns the encoding only; writing and reading notes is [`super::notes`].

use serde::{Deserialize, Serialize};

/// The format version written into every cycle record.
pub const RECORD_VERSION: u32 = 1;

/// How a cycle ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The work landed on the target branch.
    Merged,
    /// The agent signalled merge but nothing changed.
    NoChanges,
    /// The agent said there is no more useful work (`__DONE__`).
    Done,
    /// Too many turns without a signal.
    Stuck,
    /// The agent process failed (exit status, timeout, crash).
    Error,
    /// The change conflicts with the target and could not be resolved.
    Conflict,
    /// The reviewer did not approve within the allowed rounds.
    Rejected,
    /// The swarm was stopped (Ctrl-C, SIGTERM) during the cycle.
    Interrupted,
    /// The change kept failing the landing gate after `max_fix_rounds` fix turns.
    GateFailed,
}

impl Outcome {
    pub const ALL: [Outcome; 9] = [
        Outcome::Merged,
        Outcome::NoChanges,
        Outcome::Done,
        Outcome::Stuck,
        Outcome::Error,
        Outcome::Conflict,
        Outcome::Rejected,
        Outcome::Interrupted,
        Outcome::GateFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Merged => "merged",
            Outcome::NoChanges => "no-changes",
            Outcome::Done => "done",
            Outcome::Stuck => "stuck",
            Outcome::Error => "error",
            Outcome::Conflict => "conflict",
            Outcome::Rejected => "rejected",
            Outcome::Interrupted => "interrupted",
            Outcome::GateFailed => "gate-failed",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Outcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| {
                let all: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
                format!("unknown outcome `{s}` (one of {})", all.join(", "))
            })
    }
}

/// Token usage and cost, when the harness reports them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tokens {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

/// A wait inside a cycle for the provider: a usage limit (the worker's own or one another
/// worker on the same provider saw) or a passing provider error. The session is resumed after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    /// RFC 3339 times.
    pub started: String,
    pub ended: String,
    pub reason: String,
}

/// One review round of a cycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewRound {
    pub round: u32,
    pub reviewer: String,
    /// `approved` or `needs-changes`.
    pub verdict: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub findings: String,
    /// False when the reviewer's answer had no verdict line (counted as needs-changes).
    #[serde(default = "yes")]
    pub parsed: bool,
}

fn yes() -> bool {
    true
}

/// Something an agent did to its worktree that git oompa had to undo at the end of its
/// cycle (it left its branch, deleted or rewound it, left a rebase half done, removed the
/// worktree), with the keep ref holding what that left behind, if anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentAction {
    pub what: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept: Option<String>,
}

/// One run of the landing gate (one attempt) on a candidate that held this cycle's change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateRun {
    /// The landing commit that was checked: what lands, unchanged, if it passes.
    pub candidate: String,
    /// The target commit the candidate was stacked on.
    pub base: String,
    /// Workers whose changes the candidate held, bottom first (more than one in a batch).
    #[serde(default)]
    pub batch: Vec<String>,
    /// The commands that ran, in order (a failing one last).
    #[serde(default)]
    pub commands: Vec<String>,
    /// `passed`, `failed`, `timed-out`, `cancelled` (made moot by another run, or the swarm
    /// was killed) or `error` (it could not be run).
    pub result: String,
    /// How the last command ended (`exited with code 1`), for runs that did not pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// RFC 3339 start time.
    pub started: String,
    pub duration_ms: u64,
    /// 1, then 2, 3… for the retries of a failed run.
    pub attempt: u32,
    /// Passed after an earlier attempt on the same candidate failed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub flaky: bool,
    /// A run made to find which change of a failed batch broke it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bisect: bool,
    /// The file holding the run's whole output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// Everything recorded about one cycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CycleRecord {
    pub version: u32,
    pub swarm: String,
    pub worker: String,
    pub cycle: u32,
    pub outcome: Outcome,
    /// Harness and model, as in the config (`claude:sonnet`).
    #[serde(default)]
    pub model: String,
    /// Tasks this worker held during the cycle.
    #[serde(default)]
    pub tasks: Vec<String>,
    /// Agent turns in the cycle (fresh + resumed + fix turns).
    pub turns: u32,
    /// The agent CLI's own session ids, in order of first use.
    #[serde(default)]
    pub sessions: Vec<String>,
    /// RFC 3339 timestamps.
    pub started: String,
    pub ended: String,
    pub duration_ms: u64,
    /// Time spent inside agent turns.
    #[serde(default)]
    pub agent_ms: u64,
    #[serde(default, skip_serializing_if = "is_default")]
    pub tokens: Tokens,
    /// The commit the cycle landed as (outcome `merged`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landed: Option<String>,
    /// The worker branch tip at the end of the cycle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tip: Option<String>,
    /// The target commit the cycle started from.
    pub base: String,
    /// Where unmerged work of this cycle was preserved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept: Option<String>,
    /// What the agent did to its worktree that had to be undone (see [`AgentAction`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agent_did: Vec<AgentAction>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub review: Vec<ReviewRound>,
    /// Paths that conflicted, for `conflict` outcomes and resolved conflicts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<String>,
    /// For cycles whose landing conflicted: whether conflict prediction had flagged the
    /// branch earlier in the cycle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict_predicted: Option<bool>,
    /// A short description of what went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The transcript file of the cycle's agent output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<String>,
    /// The landing gate's runs on candidates holding this cycle's change, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gate: Vec<GateRun>,
    /// For `merged` cycles: time from the change entering the merge queue (approved) to its
    /// landing, the last time it entered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_ms: Option<u64>,
    /// Waits for the provider (usage limits, passing errors), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pauses: Vec<Pause>,
    /// Fields written by newer versions, kept when re-serialized.
    #[serde(flatten)]
    pub extra: std::collections::BTreeMap<String, serde_json::Value>,
}

fn is_default<T: Default + PartialEq>(t: &T) -> bool {
    *t == T::default()
}

impl CycleRecord {
    /// A record of the current version with the identifying fields set and every other field
    /// empty (zero, `None`, no items, empty timestamps); set the rest with struct update syntax
    /// (`CycleRecord { turns: 2, ..CycleRecord::new(…) }`).
    pub fn new(
        swarm: impl Into<String>,
        worker: impl Into<String>,
        cycle: u32,
        outcome: Outcome,
        base: impl Into<String>,
    ) -> Self {
        CycleRecord {
            version: RECORD_VERSION,
            swarm: swarm.into(),
            worker: worker.into(),
            cycle,
            outcome,
            model: String::new(),
            tasks: Vec::new(),
            turns: 0,
            sessions: Vec::new(),
            started: String::new(),
            ended: String::new(),
            duration_ms: 0,
            agent_ms: 0,
            tokens: Tokens::default(),
            landed: None,
            tip: None,
            base: base.into(),
            kept: None,
            agent_did: Vec::new(),
            review: Vec::new(),
            conflicts: Vec::new(),
            conflict_predicted: None,
            error: None,
            transcript: None,
            gate: Vec::new(),
            queue_ms: None,
            pauses: Vec::new(),
            extra: Default::default(),
        }
    }

    /// The commit the note is attached to: the landing, else the worker tip, else the base.
    pub fn note_target(&self) -> &str {
        self.landed
            .as_deref()
            .or(self.tip.as_deref())
            .unwrap_or(&self.base)
    }

    /// One line of JSON (no newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("a record always serializes")
    }
}

/// The key under which a record keeps its [`TurnSpan`]s (among the fields of
/// [`CycleRecord::extra`], so that every reader, old or new, keeps them when it rewrites a
/// record).
pub const SPANS_KEY: &str = "spans";

/// When one agent turn of a cycle ran, for `git oompa log --timeline`: what it was, when it
/// started (milliseconds after the cycle's `started`) and how long it ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnSpan {
    /// `turn` (the worker's own session) or `review` (a reviewer's one-shot turn).
    pub kind: String,
    pub at_ms: u64,
    pub ms: u64,
}

impl CycleRecord {
    /// The cycle's turn spans, oldest first; empty for records written before they were kept
    /// (or when they do not parse).
    pub fn spans(&self) -> Vec<TurnSpan> {
        self.extra
            .get(SPANS_KEY)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }

    /// The `extra` fields holding `spans` (none when there are none).
    pub fn spans_extra(
        spans: &[TurnSpan],
    ) -> std::collections::BTreeMap<String, serde_json::Value> {
        let mut extra = std::collections::BTreeMap::new();
        if !spans.is_empty() {
            extra.insert(
                SPANS_KEY.to_string(),
                serde_json::to_value(spans).expect("spans always serialize"),
            );
        }
        extra
    }
}
