//! The environment protocol: every `OOMPA_*` variable git oompa sets for the processes it
//! starts (agents, gate commands, its own git calls) or reads from its caller, named once.
//!
//! The process environment is read once, at the edge: `cli::main` builds an [`AgentContext`]
//! with [`AgentContext::from_env`] and hands it to what needs it (the `reference-transaction`
//! guard, `task claim` and the other task commands, the invariant checks), so library code can
//! be tested with any context without touching the process environment. The test-only knobs
//! ([`TEST_PAUSE_AT`], [`TEST_LANDING_DELAY_MS`], [`TEST_PANIC_IN`]) are the exception: the merge queue (and the swarm's thread spawner) reads
//! them where it pauses, since threading a test hook through every swarm option would put it
//! in the public API.

/// Set for agents: the swarm's id.
pub const SWARM: &str = "OOMPA_SWARM";
/// Set for agents: the worker's name (`planner` for the planner).
pub const WORKER: &str = "OOMPA_WORKER";
/// Set for agents: the swarm process's id.
pub const SWARM_PID: &str = "OOMPA_SWARM_PID";
/// Set for agents: the worker branch (`oompa/<swarm>/<worker>`).
pub const BRANCH: &str = "OOMPA_BRANCH";
/// Set for agents: the cycle number.
pub const CYCLE: &str = "OOMPA_CYCLE";
/// Set for agents: `planner` or `reviewer` (unset for workers).
pub const ROLE: &str = "OOMPA_ROLE";
/// Set for agents and gate commands: the target branch's short name.
pub const TARGET: &str = "OOMPA_TARGET";
/// Set for the planner: how many pending tasks it may leave (`task add` enforces it).
pub const MAX_PENDING: &str = "OOMPA_MAX_PENDING";
/// Set for reviewers: the review round.
pub const REVIEW_ROUND: &str = "OOMPA_REVIEW_ROUND";
/// Set for agent turns: the token that ties a turn's processes to it (see `agent::process`).
pub const TURN_TOKEN: &str = "OOMPA_TURN_TOKEN";
/// Set for `exec` agents: the session id to resume.
pub const SESSION_ID: &str = "OOMPA_SESSION_ID";
/// Set for `exec` agents (`1`) when the turn resumes a session.
pub const RESUME: &str = "OOMPA_RESUME";
/// Set for `exec` agents: `work` or `oneshot`.
pub const TURN_MODE: &str = "OOMPA_TURN_MODE";

/// Set for gate commands (`1`).
pub const GATE: &str = "OOMPA_GATE";
/// Set for gate commands: the candidate commit.
pub const CANDIDATE: &str = "OOMPA_CANDIDATE";
/// Set for gate commands: the target commit the candidate is built on.
pub const BASE: &str = "OOMPA_BASE";
/// Set for gate commands: the workers whose changes the candidate holds.
pub const GATE_WORKERS: &str = "OOMPA_GATE_WORKERS";
/// Set for gate commands: the tasks the candidate lands.
pub const GATE_TASKS: &str = "OOMPA_GATE_TASKS";
/// Set for gate commands: the gate run's number.
pub const GATE_RUN: &str = "OOMPA_GATE_RUN";
/// Set for gate commands: the attempt (retries count up).
pub const GATE_ATTEMPT: &str = "OOMPA_GATE_ATTEMPT";

/// Set for `notify` commands: the event's name (`landed`, `finished`, …).
pub const EVENT: &str = "OOMPA_EVENT";

/// Set on git oompa's own git calls, so the hook shims never start its guards for them.
pub const OWN_GIT: &str = "OOMPA_OWN_GIT";
/// Read from the user: the diagnostic filter (`OOMPA_LOG=debug`).
pub const LOG: &str = "OOMPA_LOG";
/// Set in the process `swarm --detach` starts: the swarm id its parent chose.
pub const DETACHED_SWARM: &str = "OOMPA_DETACHED_SWARM";
/// Set by the shell completion scripts: the shell asking for candidates.
pub const COMPLETE: &str = "OOMPA_COMPLETE";

/// TEST ONLY: makes the merge queue stop forever at that point (see `swarm::merge_queue`).
pub const TEST_PAUSE_AT: &str = "OOMPA_TEST_PAUSE_AT";
/// TEST ONLY: milliseconds the merge queue sleeps at each of its pause points.
pub const TEST_LANDING_DELAY_MS: &str = "OOMPA_TEST_LANDING_DELAY_MS";
/// TEST ONLY: the name of a swarm thread (`worker-w0`, `merge-queue`, …) that panics as it
/// starts, to show what a bug in git oompa does to a swarm.
pub const TEST_PANIC_IN: &str = "OOMPA_TEST_PANIC_IN";

/// The variables a swarm gives its agents: any of them set means the caller is inside one.
pub const SWARM_VARS: [&str; 8] = [
    SWARM, WORKER, SWARM_PID, BRANCH, CYCLE, ROLE, TARGET, TURN_TOKEN,
];

/// What the environment says about the caller: inside a swarm (and which worker), and whether
/// this is one of git oompa's own git calls. Empty values count as unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentContext {
    /// [`SWARM`].
    pub swarm: Option<String>,
    /// [`WORKER`].
    pub worker: Option<String>,
    /// [`SWARM_PID`], as given (a claim records it only when it is a number).
    pub swarm_pid: Option<String>,
    /// [`BRANCH`].
    pub branch: Option<String>,
    /// [`TARGET`].
    pub target: Option<String>,
    /// [`MAX_PENDING`], as given.
    pub max_pending: Option<String>,
    /// The first of [`SWARM_VARS`] that is set, if any.
    pub swarm_var: Option<&'static str>,
    /// [`OWN_GIT`] is set.
    pub own_git: bool,
}

impl AgentContext {
    /// Reads the process environment. Called once, by `cli::main`.
    pub fn from_env() -> AgentContext {
        AgentContext::from_lookup(nonempty)
    }

    /// Builds the context from any lookup of variable names (tests pass a table).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> AgentContext {
        let get = |name: &str| get(name).filter(|v| !v.is_empty());
        AgentContext {
            swarm: get(SWARM),
            worker: get(WORKER),
            swarm_pid: get(SWARM_PID),
            branch: get(BRANCH),
            target: get(TARGET),
            max_pending: get(MAX_PENDING),
            swarm_var: SWARM_VARS.into_iter().find(|v| get(v).is_some()),
            own_git: get(OWN_GIT).is_some(),
        }
    }

    /// A context from `name=value` pairs (for tests).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> AgentContext {
        AgentContext::from_lookup(|name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }
}

/// A variable of the process environment, `None` when unset, empty or not UTF-8. For the edge
/// ([`AgentContext::from_env`], `doctor`'s look at `GIT_COMMITTER_*`).
pub fn nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
