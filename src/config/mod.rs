//! The swarm configuration: `oompa.toml`, and oompa's `oompa.json` for compatibility.
//!
//! Owns finding the file, reading it, checking every key and value, and filling in defaults,
//! so the runtime receives a [`Config`] it never has to second-guess. Unknown keys and bad
//! values are errors that name the file, the line and the key (oompa ignored unknown keys and
//! silently dropped a top-level `reviewer`; we do neither).
//!
//! It must never print, run anything, or touch git: resolving `target = None` to the
//! repository's default branch and `worktree_dir` against the repository root is the caller's
//! job. Apart from reading the config file, the only file-system access is checking that prompt
//! files exist and read as prompts, and only in [`Config::load`] and [`Config::discover`].
//!
//! Layout: `doc` turns TOML or JSON text into one neutral tree that remembers byte spans;
//! `read` walks such trees with typed getters that turn every mistake into a located
//! [`ConfigError`]; `native` is the `oompa.toml` schema and `oompa_json` the `oompa.json` one;
//! `source` is the file being read (path, text, line and column), which `doc` and `read` share.

pub mod budget;
mod doc;
mod native;
mod oompa_json;
mod read;
mod source;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::agent::{ModelSpec, ModelSpecError};

/// The commented skeleton `git oompa init` writes; it loads as-is.
pub const SKELETON: &str = include_str!("../../config/oompa.toml");

/// File names [`Config::discover`] tries under the repository root, in order.
pub const DISCOVERY_ORDER: [&str; 3] = ["oompa.toml", "oompa.json", "oompa/oompa.json"];

/// Default values, shared by both file formats, the skeleton and the docs.
pub mod defaults {
    use std::time::Duration;

    pub const WORKTREE_DIR: &str = ".oompa/worktrees";
    pub const MAX_CONFLICT_ROUNDS: u32 = 3;
    pub const COUNT: u32 = 1;
    pub const MAX_CYCLES: u32 = 10;
    pub const MAX_RESUMES: u32 = 5;
    pub const CAN_PLAN: bool = true;
    pub const WAIT_BETWEEN: Duration = Duration::ZERO;
    pub const MAX_WAIT_FOR_TASKS: Duration = Duration::from_secs(600);
    pub const TURN_TIMEOUT: Duration = Duration::from_secs(30 * 60);
    pub const REVIEW_MAX_ROUNDS: u32 = 3;
    pub const PLANNER_MAX_PENDING: u32 = 10;
    pub const PLANNER_REFILL_BELOW: u32 = 1;
    pub const ERROR_BACKOFF: Duration = Duration::from_secs(10);
    pub const LIMIT_BACKOFF: Duration = Duration::from_secs(60);
    pub const MAX_ERRORS: u32 = 5;
    pub const TRANSCRIPT_MAX: u64 = crate::agent::transcript::DEFAULT_MAX;
    pub const GATE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
    pub const GATE_MAX_FIX_ROUNDS: u32 = 2;
    pub const GATE_RETRIES: u32 = 1;
    pub const GATE_BATCH: u32 = 1;
    pub const GATE_PARALLEL: u32 = 1;
    /// The largest `batch` and `parallel` accepted.
    pub const GATE_MAX_BATCH: u32 = 32;
    pub const GATE_MAX_PARALLEL: u32 = 16;
    pub const MAX_LANDING_PAUSE: Duration = Duration::from_secs(10 * 60);
}

/// The largest values accepted, so a typo (`count = 10000`) is an error that names the key
/// instead of hundreds of worktrees, agents and their bills.
pub mod limits {
    use std::time::Duration;

    /// Workers of one `[[worker]]` entry, and of all entries together: each is a worktree, an
    /// agent process and a thread (the 64-worker swarm is the benchmarked scale).
    pub const WORKERS: u32 = 64;
    /// Silent turns before a worker is declared stuck.
    pub const MAX_RESUMES: u32 = 100;
    /// Review rounds per change, and resolver turns per conflicting landing.
    pub const ROUNDS: u32 = 20;
    /// Pending tasks the planner may bring the queue to.
    pub const MAX_PENDING: u32 = 1000;
    /// Any duration (a turn's timeout, a pause): a week.
    pub const DURATION: Duration = Duration::from_secs(7 * 24 * 3600);
    /// [`DURATION`] as written in messages.
    pub const DURATION_TEXT: &str = "168h (a week)";
}

/// A loaded, validated swarm configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The file it came from; `None` for a configuration built in code.
    pub path: Option<PathBuf>,
    /// Target branch short name (`main`); `None` = the repository's default, resolved by the
    /// caller.
    pub target: Option<String>,
    /// Where worker worktrees live: relative to the repository root unless absolute.
    pub worktree_dir: PathBuf,
    /// Untracked files (plain relative paths, no globs) copied into every worktree, e.g. `.env`.
    pub copy: Vec<String>,
    /// Worker entries in file order; `count` is not expanded yet. Never empty.
    pub workers: Vec<WorkerConfig>,
    /// The generic review chain; `None` = no review unless a worker names its own reviewers.
    pub review: Option<ReviewConfig>,
    /// The optional planner run once before the workers start.
    pub planner: Option<PlannerConfig>,
    /// How many times a worker may try to resolve a merge conflict before giving up (0 = never).
    pub max_conflict_rounds: u32,
    /// Pause after a failed agent turn, doubled after each further failure in a row.
    pub error_backoff: Duration,
    /// The first wait after a usage limit whose reset time the provider did not say, doubled
    /// for each further limit in a row (up to an hour).
    pub limit_backoff: Duration,
    /// What the reader wants said once when the file is used (e.g. oompa keys it read under
    /// git oompa's names); never an error.
    pub notices: Vec<String>,
    /// The most bytes of one agent turn's output its transcript keeps (head and tail).
    pub transcript_max: u64,
    /// The landing gate (`[gate]`): the checks every landing commit must pass first. `None`
    /// lands whatever merges cleanly and was approved.
    pub gate: Option<GateConfig>,
    /// How long a landing may wait for the target's checkout (the person's edits, a lock in
    /// it) before its cycle ends with the work kept and the swarm stops.
    pub max_landing_pause: Duration,
    /// What the whole swarm may spend (`budget`); spent, it stops as on one Ctrl-C.
    pub budget: Option<budget::Budget>,
    /// `notify`: a command run for chosen swarm events (see [`crate::notify`]).
    pub notify: Option<crate::notify::NotifyConfig>,
}

/// The landing gate (`[gate]`): commands run on the exact commit a landing would make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateConfig {
    /// Shell commands (`sh -c`), run in order in a checkout of the candidate; all must exit 0.
    /// Never empty.
    pub commands: Vec<String>,
    /// Wall-clock limit of one run (all its commands) (> 0).
    pub timeout: Duration,
    /// How many times a failure goes back to the agent's own session before the cycle ends
    /// `gate-failed`.
    pub max_fix_rounds: u32,
    /// How many times a failed run is run again before it counts as a failure.
    pub retries: u32,
    /// How many approved changes one run may hold (1 ..= [`defaults::GATE_MAX_BATCH`]).
    pub batch: u32,
    /// How many runs may go at once (1 ..= [`defaults::GATE_MAX_PARALLEL`]).
    pub parallel: u32,
    /// Extra environment for the commands.
    pub env: BTreeMap<String, String>,
}

impl GateConfig {
    /// A gate running `commands` with every default.
    pub fn new(commands: Vec<String>) -> Self {
        GateConfig {
            commands,
            timeout: defaults::GATE_TIMEOUT,
            max_fix_rounds: defaults::GATE_MAX_FIX_ROUNDS,
            retries: defaults::GATE_RETRIES,
            batch: defaults::GATE_BATCH,
            parallel: defaults::GATE_PARALLEL,
            env: BTreeMap::new(),
        }
    }

    /// The commands as one line, for trailers and messages: `cargo build && cargo test`.
    pub fn summary(&self) -> String {
        let joined = self
            .commands
            .iter()
            .map(|c| c.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join(" && ");
        if joined.chars().count() > 200 {
            let cut: String = joined.chars().take(199).collect();
            format!("{cut}…")
        } else {
            joined
        }
    }
}

/// One `[[worker]]` entry (before `count` expansion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerConfig {
    /// Optional prefix for worker ids; matches `[A-Za-z0-9][A-Za-z0-9._-]{0,31}` and is unique.
    pub name: Option<String>,
    pub model: ModelSpec,
    /// Role prompt files, concatenated in order; resolved against the config file's directory.
    /// Empty = the bundled worker prompt.
    pub prompt: Vec<PathBuf>,
    /// How many identical workers this entry starts (>= 1).
    pub count: u32,
    /// Cycle cap: the worker stops after this many cycles (>= 1).
    pub max_cycles: u32,
    /// Turns without a signal before the worker is nudged, then declared stuck (>= 1).
    pub max_resumes: u32,
    /// Whether the worker may plan (create tasks); `false` makes it wait for queued tasks.
    pub can_plan: bool,
    /// Pause before every cycle but the first.
    pub wait_between: Duration,
    /// How long a worker that cannot plan waits for a task before working anyway.
    pub max_wait_for_tasks: Duration,
    /// Wall-clock limit of one agent turn (> 0).
    pub turn_timeout: Duration,
    /// Extra arguments for the agent CLI.
    pub args: Vec<String>,
    /// Extra environment variables for the agent CLI.
    pub env: BTreeMap<String, String>,
    /// Which reviewers check this worker's changes.
    pub review: WorkerReview,
    /// Reviewer prompt files for this worker's own reviewers ([`WorkerReview::Models`]); empty =
    /// the `[review]` prompt. Set by `review_prompt` in `oompa.toml`, or by the prompt of a
    /// per-worker `reviewer` in `oompa.json`.
    pub review_prompt: Vec<PathBuf>,
    /// Failed cycles in a row after which the worker stops (>= 1).
    pub max_errors: u32,
    /// What each worker of this entry may spend (`budget`); spent, it finishes its turn and
    /// stops.
    pub budget: Option<budget::Budget>,
}

/// A worker's choice of reviewers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum WorkerReview {
    /// Use the generic `[review]` chain (no review if there is none).
    #[default]
    Inherit,
    /// `review = false`: land this worker's changes without review.
    Off,
    /// `review = ["claude:opus", ...]`: this worker's own fallback chain, used instead of the
    /// generic models (rounds, and the prompt unless `review_prompt` is set, still come from
    /// `[review]`). Never empty.
    Models(Vec<ModelSpec>),
}

/// The generic review chain (`[review]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewConfig {
    /// Ordered fallback chain: the next model is tried when one fails or gives no verdict.
    /// Never empty.
    pub models: Vec<ModelSpec>,
    /// Reviewer prompt files; empty = the bundled reviewer prompt.
    pub prompt: Vec<PathBuf>,
    /// Reviews per change, fix turns in between (>= 1).
    pub max_rounds: u32,
    /// Extra arguments for the reviewer CLI; empty = the worker's, when it is the same CLI.
    pub args: Vec<String>,
    /// Extra environment for reviewers, on top of the worker's.
    pub env: BTreeMap<String, String>,
}

/// The planner run once, before the workers start (`[planner]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannerConfig {
    pub model: ModelSpec,
    /// Planner prompt files; empty = the bundled planner prompt.
    pub prompt: Vec<PathBuf>,
    /// The most pending tasks the planner may bring the queue to (>= 1).
    pub max_pending: u32,
    /// Plan again when fewer tasks than this are pending while a worker is idle (>= 1).
    pub refill_below: u32,
    /// Wall-clock limit of the planner's turn (> 0).
    pub turn_timeout: Duration,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
}

impl WorkerConfig {
    /// A worker entry with every default and the given model.
    pub fn new(model: ModelSpec) -> Self {
        WorkerConfig {
            name: None,
            model,
            prompt: Vec::new(),
            count: defaults::COUNT,
            max_cycles: defaults::MAX_CYCLES,
            max_resumes: defaults::MAX_RESUMES,
            can_plan: defaults::CAN_PLAN,
            wait_between: defaults::WAIT_BETWEEN,
            max_wait_for_tasks: defaults::MAX_WAIT_FOR_TASKS,
            turn_timeout: defaults::TURN_TIMEOUT,
            args: Vec::new(),
            env: BTreeMap::new(),
            review: WorkerReview::Inherit,
            review_prompt: Vec::new(),
            max_errors: defaults::MAX_ERRORS,
            budget: None,
        }
    }
}

impl ReviewConfig {
    /// A review chain with the default prompt and rounds.
    pub fn new(models: Vec<ModelSpec>) -> Self {
        ReviewConfig {
            models,
            prompt: Vec::new(),
            max_rounds: defaults::REVIEW_MAX_ROUNDS,
            args: Vec::new(),
            env: BTreeMap::new(),
        }
    }
}

impl PlannerConfig {
    /// A planner with every default and the given model.
    pub fn new(model: ModelSpec) -> Self {
        PlannerConfig {
            model,
            prompt: Vec::new(),
            max_pending: defaults::PLANNER_MAX_PENDING,
            refill_below: defaults::PLANNER_REFILL_BELOW,
            turn_timeout: defaults::TURN_TIMEOUT,
            args: Vec::new(),
            env: BTreeMap::new(),
        }
    }
}

impl Config {
    /// A configuration built in code (no file) with defaults everywhere but the workers.
    pub fn with_workers(workers: Vec<WorkerConfig>) -> Self {
        Config {
            path: None,
            target: None,
            worktree_dir: PathBuf::from(defaults::WORKTREE_DIR),
            copy: Vec::new(),
            workers,
            review: None,
            planner: None,
            max_conflict_rounds: defaults::MAX_CONFLICT_ROUNDS,
            error_backoff: defaults::ERROR_BACKOFF,
            limit_backoff: defaults::LIMIT_BACKOFF,
            notices: Vec::new(),
            transcript_max: defaults::TRANSCRIPT_MAX,
            gate: None,
            max_landing_pause: defaults::MAX_LANDING_PAUSE,
            budget: None,
            notify: None,
        }
    }

    /// Reads and validates a config file, choosing the format by extension: `.toml` for
    /// `oompa.toml`, `.json` for oompa's `oompa.json`. Also checks that prompt files exist and read as prompts.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let format = Format::of(path)?;
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        // Some Windows editors start files with a byte-order mark; neither parser wants it.
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let ctx = source::Ctx::new(path, text, true);
        match format {
            Format::Toml => native::parse(&ctx),
            Format::OompaJson => oompa_json::parse(&ctx),
        }
    }

    /// Parses `oompa.toml` text. `path` is only used for messages and to resolve prompt paths;
    /// the file system is not touched.
    pub fn from_toml_str(text: &str, path: &Path) -> Result<Config, ConfigError> {
        native::parse(&source::Ctx::new(path, text, false))
    }

    /// Parses oompa's `oompa.json` text. `path` is only used for messages and to resolve prompt
    /// paths; the file system is not touched.
    pub fn from_oompa_json_str(text: &str, path: &Path) -> Result<Config, ConfigError> {
        oompa_json::parse(&source::Ctx::new(path, text, false))
    }

    /// Loads `explicit` if given (used as is, so relative to the current directory), else the
    /// first of [`DISCOVERY_ORDER`] that exists under `root`. Something at one of those paths
    /// that is not a readable file (a directory, a dangling symbolic link) is an error saying
    /// what it is, not "no config file found". [`Config::shadowed`] lists the candidates the
    /// one found hides.
    pub fn discover(root: &Path, explicit: Option<&Path>) -> Result<Config, ConfigError> {
        if let Some(path) = explicit {
            return match Entry::at(path) {
                Entry::Missing => Err(ConfigError::NotFound {
                    looked: vec![path.to_path_buf()],
                }),
                Entry::File => Config::load(path),
                Entry::Other(what) => Err(ConfigError::NotAFile {
                    path: path.to_path_buf(),
                    what,
                }),
            };
        }
        let candidates: Vec<PathBuf> = DISCOVERY_ORDER.iter().map(|name| root.join(name)).collect();
        for path in &candidates {
            match Entry::at(path) {
                Entry::Missing => continue,
                Entry::File => return Config::load(path),
                Entry::Other(what) => {
                    return Err(ConfigError::NotAFile {
                        path: path.clone(),
                        what,
                    });
                }
            }
        }
        Err(ConfigError::NotFound { looked: candidates })
    }

    /// The other config files under `root` that [`Config::discover`] found but did not use,
    /// because `used` comes first in [`DISCOVERY_ORDER`] (say so: they are ignored).
    pub fn shadowed(root: &Path, used: &Path) -> Vec<PathBuf> {
        DISCOVERY_ORDER
            .iter()
            .map(|name| root.join(name))
            .filter(|path| path != used && path.is_file())
            .collect()
    }

    /// How many workers run once every entry's `count` is expanded.
    pub fn total_workers(&self) -> u32 {
        self.workers
            .iter()
            .fold(0u32, |sum, w| sum.saturating_add(w.count))
    }

    /// The review a worker's changes get: `None` means land without review. Resolves
    /// [`WorkerReview`] against the generic `[review]` chain.
    pub fn review_for(&self, worker: &WorkerConfig) -> Option<ReviewConfig> {
        match &worker.review {
            WorkerReview::Off => None,
            WorkerReview::Inherit => self.review.clone(),
            WorkerReview::Models(models) => {
                let generic = self.review.as_ref();
                let prompt = if worker.review_prompt.is_empty() {
                    generic.map(|r| r.prompt.clone()).unwrap_or_default()
                } else {
                    worker.review_prompt.clone()
                };
                Some(ReviewConfig {
                    models: models.clone(),
                    prompt,
                    max_rounds: generic.map_or(defaults::REVIEW_MAX_ROUNDS, |r| r.max_rounds),
                    args: generic.map(|r| r.args.clone()).unwrap_or_default(),
                    env: generic.map(|r| r.env.clone()).unwrap_or_default(),
                })
            }
        }
    }
}

/// What is at a config file's path.
enum Entry {
    Missing,
    File,
    /// Something else, described for a message: `a directory`.
    Other(&'static str),
}

impl Entry {
    fn at(path: &Path) -> Entry {
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return Entry::Missing;
        };
        if meta.file_type().is_symlink() {
            return match std::fs::metadata(path) {
                Err(_) => Entry::Other("a symbolic link to something that does not exist"),
                Ok(target) if target.is_file() => Entry::File,
                Ok(target) if target.is_dir() => Entry::Other("a symbolic link to a directory"),
                Ok(_) => Entry::Other("a symbolic link to something that is not a file"),
            };
        }
        if meta.is_file() {
            Entry::File
        } else if meta.is_dir() {
            Entry::Other("a directory")
        } else {
            Entry::Other("not a regular file")
        }
    }
}

/// The two file formats, chosen by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Toml,
    OompaJson,
}

impl Format {
    fn of(path: &Path) -> Result<Format, ConfigError> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => Ok(Format::Toml),
            Some("json") => Ok(Format::OompaJson),
            _ => Err(ConfigError::UnsupportedFormat {
                path: path.to_path_buf(),
            }),
        }
    }
}

/// Why a configuration could not be loaded. Every variant about the file's content names the
/// file and the line; those about a key name the key (`worker.count`).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no config file found (looked for {})", PathList(looked))]
    NotFound { looked: Vec<PathBuf> },
    #[error("{} is {what}, not a config file", path.display())]
    NotAFile { path: PathBuf, what: &'static str },
    #[error("cannot read config file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{}: unsupported config file type (expected `.toml`, or `.json` for an oompa.json)",
        path.display()
    )]
    UnsupportedFormat { path: PathBuf },
    /// The text is not valid TOML or JSON.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}:{line}: unknown key `{key}` {section}{}", path.display(), Suggestion(suggestion))]
    UnknownKey {
        path: PathBuf,
        line: usize,
        key: String,
        /// Where it was found, e.g. `in [[worker]]` or `at top level`.
        section: String,
        /// A known key within edit distance 2.
        suggestion: Option<String>,
    },
    #[error("{}:{line}: duplicate key `{key}` (first at line {first_line})", path.display())]
    DuplicateKey {
        path: PathBuf,
        line: usize,
        key: String,
        first_line: usize,
    },
    #[error("{}:{line}: {key}: {problem}", path.display())]
    InvalidValue {
        path: PathBuf,
        line: usize,
        /// Dotted key, e.g. `worker.model` or `review.max_rounds`.
        key: String,
        problem: ValueProblem,
    },
    #[error(
        "{}:{line}: {key}: the entries add up to {total} workers, more than the {max} a swarm \
         may run",
        path.display()
    )]
    TooManyWorkers {
        path: PathBuf,
        /// The line of the entry whose count goes past the limit.
        line: usize,
        /// `worker.count` or `workers.count`.
        key: String,
        total: u64,
        max: u32,
    },
    #[error("{}: no {what} entries: a swarm needs at least one worker", path.display())]
    NoWorkers {
        path: PathBuf,
        /// `[[worker]]` or `workers`, as the format spells it.
        what: &'static str,
    },
}

/// What is wrong with a value (see [`ConfigError::InvalidValue`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueProblem {
    #[error("missing (required)")]
    Missing,
    #[error("expected {expected}, found {found}")]
    WrongType {
        expected: &'static str,
        found: &'static str,
    },
    #[error(transparent)]
    Model(#[from] ModelSpecError),
    #[error(
        "bad duration `{text}` (use whole seconds, or a number with a unit: 500ms, 90s, 5m, 1h30m)"
    )]
    Duration { text: String },
    #[error("must be at least {min}")]
    TooSmall { min: u32 },
    #[error("`{value}` is too large (at most {max})")]
    TooLarge { value: String, max: u32 },
    #[error("must be longer than 0")]
    ZeroDuration,
    #[error(
        "bad size `{text}` (use bytes, or a number with a unit: 512KiB, 16MiB, 1GiB, 500KB, 16MB)"
    )]
    Size { text: String },
    #[error("`{text}` is out of range (from {min} to {max})")]
    SizeRange {
        text: String,
        min: &'static str,
        max: &'static str,
    },
    #[error("`{text}` is too long (at most {max})")]
    TooLong { text: String, max: &'static str },
    #[error("{value} is more than {other} ({other_value}); it must not be")]
    MoreThan {
        value: u32,
        other: &'static str,
        other_value: u32,
    },
    #[error("must not be empty")]
    Empty,
    #[error(
        "invalid name `{name}`: use 1 to 32 letters, digits, `.`, `_` or `-`, starting with a \
         letter or digit"
    )]
    Name { name: String },
    #[error("worker name `{name}` is already used at line {first_line}")]
    DuplicateName { name: String, first_line: usize },
    #[error("invalid branch name `{name}`")]
    BranchName { name: String },
    #[error("`{path}` must be a relative path inside the repository, without `..` or globs")]
    CopyPath { path: String },
    #[error("invalid environment variable name `{name}`")]
    EnvName { name: String },
    #[error("prompt file {} does not exist", path.display())]
    MissingFile { path: PathBuf },
    /// It exists but cannot be read as a prompt (not UTF-8, no permission): refused at load
    /// rather than sent to an agent with a hole in it.
    #[error("prompt file {} cannot be read: {reason}", path.display())]
    UnreadableFile { path: PathBuf, reason: String },
    #[error("an empty list turns nothing on; write `review = false` to land without review")]
    EmptyReviewList,
    #[error("write an array of tables, `[[worker]]`, one per worker entry")]
    NotArrayOfTables,
    #[error(
        "bad budget `{text}`: {why} (use dollars and/or tokens: \"$25\", \"2M tokens\", \"$25, 2M tokens\")"
    )]
    Budget { text: String, why: String },
    #[error("unknown event `{name}` (one of {})", crate::notify::EVENTS.join(", "))]
    UnknownEvent { name: String },
    #[error("set `notify` too: the command to run for these events")]
    NotifyWithoutCommand,
}

/// Formats a list of paths as `a, b or c`.
struct PathList<'a>(&'a [PathBuf]);

impl fmt::Display for PathList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, path) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(if i + 1 == self.0.len() { " or " } else { ", " })?;
            }
            write!(f, "{}", path.display())?;
        }
        Ok(())
    }
}

/// Formats ` (did you mean `x`?)` when there is a suggestion.
struct Suggestion<'a>(&'a Option<String>);

impl fmt::Display for Suggestion<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(s) => write!(f, " (did you mean `{s}`?)"),
            None => Ok(()),
        }
    }
}
