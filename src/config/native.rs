//! The `oompa.toml` schema: which keys exist in which table, and what each one becomes.
//!
//! Owns the mapping from the TOML layout (top level, `[[worker]]`, `[review]`, `[planner]`,
//! `[gate]`) to [`Config`]. Value rules live in [`super::read`]; this file must stay a plain list of keys.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::doc::{self, Kind};
use super::read::{Field, Table, WorkerTotal};
use super::source::Ctx;
use super::{
    Config, ConfigError, GateConfig, PlannerConfig, ReviewConfig, ValueProblem, WorkerConfig,
    WorkerReview, defaults, limits,
};
use crate::agent::ModelSpec;

const TOP_KEYS: &[&str] = &[
    "target",
    "worktree_dir",
    "copy",
    "max_conflict_rounds",
    "error_backoff",
    "limit_backoff",
    "transcript_max",
    "max_landing_pause",
    "budget",
    "notify",
    "notify_events",
    "notify_timeout",
    "worker",
    "review",
    "planner",
    "gate",
];
const WORKER_KEYS: &[&str] = &[
    "name",
    "model",
    "prompt",
    "count",
    "max_cycles",
    "max_resumes",
    "can_plan",
    "wait_between",
    "max_wait_for_tasks",
    "turn_timeout",
    "args",
    "env",
    "review",
    "review_prompt",
    "max_errors",
    "budget",
];
const REVIEW_KEYS: &[&str] = &["models", "prompt", "max_rounds", "args", "env"];
const GATE_KEYS: &[&str] = &[
    "command",
    "timeout",
    "max_fix_rounds",
    "retries",
    "batch",
    "parallel",
    "env",
];
const PLANNER_KEYS: &[&str] = &[
    "model",
    "prompt",
    "max_pending",
    "refill_below",
    "turn_timeout",
    "args",
    "env",
];

pub(super) fn parse(ctx: &Ctx) -> Result<Config, ConfigError> {
    let root = doc::from_toml(ctx)?;
    let top = Table::new(ctx, &root, "", "at top level", TOP_KEYS)?;
    let mut config = Config::with_workers(Vec::new());
    config.path = Some(ctx.path.to_path_buf());
    if let Some(f) = top.get("target") {
        config.target = Some(branch_name(&f)?);
    }
    if let Some(f) = top.get("worktree_dir") {
        config.worktree_dir = PathBuf::from(f.non_empty_str()?);
    }
    if let Some(f) = top.get("copy") {
        config.copy = f.array()?.iter().map(copy_path).collect::<Result<_, _>>()?;
    }
    if let Some(f) = top.get("max_conflict_rounds") {
        config.max_conflict_rounds = f.u32_range(0, limits::ROUNDS)?;
    }
    if let Some(f) = top.get("error_backoff") {
        config.error_backoff = f.duration()?;
    }
    if let Some(f) = top.get("limit_backoff") {
        config.limit_backoff = f.duration()?;
    }
    if let Some(f) = top.get("transcript_max") {
        config.transcript_max = f.size(
            (crate::agent::transcript::MIN_MAX, "64KiB"),
            (crate::agent::transcript::MAX_MAX, "1GiB"),
        )?;
    }
    if let Some(f) = top.get("max_landing_pause") {
        config.max_landing_pause = f.positive_duration()?;
    }
    if let Some(f) = top.get("budget") {
        config.budget = Some(budget(&f)?);
    }
    config.notify = notify(&top)?;
    config.workers = workers(ctx, &top)?;
    config.review = top.get("review").map(|f| review(ctx, &f)).transpose()?;
    config.planner = top.get("planner").map(|f| planner(ctx, &f)).transpose()?;
    config.gate = top.get("gate").map(|f| gate(ctx, &f)).transpose()?;
    Ok(config)
}

fn workers(ctx: &Ctx, top: &Table) -> Result<Vec<WorkerConfig>, ConfigError> {
    let no_workers = || ConfigError::NoWorkers {
        path: ctx.path.to_path_buf(),
        what: "[[worker]]",
    };
    let Some(field) = top.get("worker") else {
        return Err(no_workers());
    };
    if let Kind::Table(_) = field.node.kind {
        return Err(field.invalid(ValueProblem::NotArrayOfTables));
    }
    let items = field.array()?;
    if items.is_empty() {
        return Err(no_workers());
    }
    let mut first_line_of_name = BTreeMap::new();
    let mut workers = Vec::with_capacity(items.len());
    let mut total = WorkerTotal::default();
    for item in &items {
        let table = Table::new(ctx, item.node, "worker", "in [[worker]]", WORKER_KEYS)?;
        let worker = worker(&table)?;
        total.add(&table, item.node, worker.count)?;
        if let (Some(name), Some(f)) = (&worker.name, table.get("name")) {
            if let Some(&first_line) = first_line_of_name.get(name) {
                return Err(f.invalid(ValueProblem::DuplicateName {
                    name: name.clone(),
                    first_line,
                }));
            }
            first_line_of_name.insert(name.clone(), f.line());
        }
        workers.push(worker);
    }
    Ok(workers)
}

fn worker(t: &Table) -> Result<WorkerConfig, ConfigError> {
    let mut w = WorkerConfig::new(model(&t.require("model")?)?);
    if let Some(f) = t.get("name") {
        w.name = Some(f.name()?);
    }
    if let Some(f) = t.get("prompt") {
        w.prompt = f.prompts()?;
    }
    if let Some(f) = t.get("count") {
        w.count = f.u32_range(1, limits::WORKERS)?;
    }
    if let Some(f) = t.get("max_cycles") {
        w.max_cycles = f.u32_min(1)?;
    }
    if let Some(f) = t.get("max_resumes") {
        w.max_resumes = f.u32_range(1, limits::MAX_RESUMES)?;
    }
    if let Some(f) = t.get("max_errors") {
        w.max_errors = f.u32_min(1)?;
    }
    if let Some(f) = t.get("can_plan") {
        w.can_plan = f.bool()?;
    }
    if let Some(f) = t.get("wait_between") {
        w.wait_between = f.duration()?;
    }
    if let Some(f) = t.get("max_wait_for_tasks") {
        w.max_wait_for_tasks = f.duration()?;
    }
    if let Some(f) = t.get("turn_timeout") {
        w.turn_timeout = f.positive_duration()?;
    }
    if let Some(f) = t.get("args") {
        w.args = f.strings()?;
    }
    if let Some(f) = t.get("env") {
        w.env = f.env()?;
    }
    if let Some(f) = t.get("review") {
        w.review = worker_review(&f)?;
    }
    if let Some(f) = t.get("review_prompt") {
        w.review_prompt = f.prompts()?;
    }
    if let Some(f) = t.get("budget") {
        w.budget = Some(budget(&f)?);
    }
    Ok(w)
}

/// `budget = "$25"`, `"2M tokens"` or both (`"$25, 2M tokens"`).
fn budget(f: &Field) -> Result<super::budget::Budget, ConfigError> {
    let text = f.str()?;
    super::budget::Budget::parse(text).map_err(|why| {
        f.invalid(ValueProblem::Budget {
            text: text.to_string(),
            why,
        })
    })
}

/// `review = false` | `true` (inherit) | a model string or a list of them.
fn worker_review(f: &Field) -> Result<WorkerReview, ConfigError> {
    match f.node.kind {
        Kind::Bool(false) => Ok(WorkerReview::Off),
        Kind::Bool(true) => Ok(WorkerReview::Inherit),
        Kind::Str(_) | Kind::Array(_) => {
            let models = models(f)?;
            if models.is_empty() {
                return Err(f.invalid(ValueProblem::EmptyReviewList));
            }
            Ok(WorkerReview::Models(models))
        }
        _ => Err(f.invalid(ValueProblem::WrongType {
            expected: "false or a list of model strings",
            found: f.node.kind.describe(),
        })),
    }
}

fn review(ctx: &Ctx, field: &Field) -> Result<ReviewConfig, ConfigError> {
    let t = Table::new(ctx, field.node, "review", "in [review]", REVIEW_KEYS)?;
    let models_field = t.require("models")?;
    let mut review = ReviewConfig::new(models(&models_field)?);
    if review.models.is_empty() {
        return Err(models_field.invalid(ValueProblem::Empty));
    }
    if let Some(f) = t.get("prompt") {
        review.prompt = f.prompts()?;
    }
    if let Some(f) = t.get("max_rounds") {
        review.max_rounds = f.u32_range(1, limits::ROUNDS)?;
    }
    if let Some(f) = t.get("args") {
        review.args = f.strings()?;
    }
    if let Some(f) = t.get("env") {
        review.env = f.env()?;
    }
    Ok(review)
}

fn planner(ctx: &Ctx, field: &Field) -> Result<PlannerConfig, ConfigError> {
    let t = Table::new(ctx, field.node, "planner", "in [planner]", PLANNER_KEYS)?;
    let mut p = PlannerConfig::new(model(&t.require("model")?)?);
    if let Some(f) = t.get("prompt") {
        p.prompt = f.prompts()?;
    }
    if let Some(f) = t.get("max_pending") {
        p.max_pending = f.u32_range(1, limits::MAX_PENDING)?;
    }
    if let Some(f) = t.get("refill_below") {
        p.refill_below = f.u32_min(1)?;
        // Asking for more than the planner may add would have it wake up for nothing, forever.
        if p.refill_below > p.max_pending {
            return Err(f.invalid(ValueProblem::MoreThan {
                value: p.refill_below,
                other: "planner.max_pending",
                other_value: p.max_pending,
            }));
        }
    }
    if let Some(f) = t.get("turn_timeout") {
        p.turn_timeout = f.positive_duration()?;
    }
    if let Some(f) = t.get("args") {
        p.args = f.strings()?;
    }
    if let Some(f) = t.get("env") {
        p.env = f.env()?;
    }
    Ok(p)
}

fn gate(ctx: &Ctx, field: &Field) -> Result<GateConfig, ConfigError> {
    let t = Table::new(ctx, field.node, "gate", "in [gate]", GATE_KEYS)?;
    let commands = t.require("command")?;
    let list: Vec<String> = commands
        .one_or_many()?
        .iter()
        .map(|f| f.str().map(str::to_string))
        .collect::<Result<_, _>>()?;
    if list.is_empty() {
        return Err(commands.invalid(ValueProblem::Empty));
    }
    let mut g = GateConfig::new(list);
    if let Some(f) = t.get("timeout") {
        g.timeout = f.positive_duration()?;
    }
    if let Some(f) = t.get("max_fix_rounds") {
        g.max_fix_rounds = f.u32_min(0)?;
    }
    if let Some(f) = t.get("retries") {
        g.retries = f.u32_min(0)?;
    }
    if let Some(f) = t.get("batch") {
        g.batch = at_most(&f, 1, defaults::GATE_MAX_BATCH)?;
    }
    if let Some(f) = t.get("parallel") {
        g.parallel = at_most(&f, 1, defaults::GATE_MAX_PARALLEL)?;
    }
    if let Some(f) = t.get("env") {
        g.env = f.env()?;
    }
    Ok(g)
}

/// `notify`, `notify_events`, `notify_timeout`: the command run for swarm events.
fn notify(top: &Table) -> Result<Option<crate::notify::NotifyConfig>, ConfigError> {
    let Some(command) = top.get("notify") else {
        return match top
            .get("notify_events")
            .or_else(|| top.get("notify_timeout"))
        {
            Some(f) => Err(f.invalid(ValueProblem::NotifyWithoutCommand)),
            None => Ok(None),
        };
    };
    let mut n = crate::notify::NotifyConfig::new(command.non_empty_str()?);
    if let Some(f) = top.get("notify_events") {
        n.events = f.strings()?;
        if let Some(bad) = n
            .events
            .iter()
            .find(|e| !crate::notify::EVENTS.contains(&e.as_str()))
        {
            return Err(f.invalid(ValueProblem::UnknownEvent { name: bad.clone() }));
        }
    }
    if let Some(f) = top.get("notify_timeout") {
        n.timeout = f.positive_duration()?;
    }
    Ok(Some(n))
}

/// An integer in `min ..= max`.
fn at_most(f: &Field, min: u32, max: u32) -> Result<u32, ConfigError> {
    let n = f.u32_min(min)?;
    if n > max {
        return Err(f.invalid(ValueProblem::TooLarge {
            value: n.to_string(),
            max,
        }));
    }
    Ok(n)
}

fn model(f: &Field) -> Result<ModelSpec, ConfigError> {
    ModelSpec::parse(f.str()?).map_err(|e| f.invalid(e.into()))
}

/// A model string or a list of them, each reported at its own line.
fn models(f: &Field) -> Result<Vec<ModelSpec>, ConfigError> {
    f.one_or_many()?.iter().map(model).collect()
}

/// A branch short name; `refs/heads/` is accepted and dropped. Checks the parts of git's
/// ref-name rules a typo can break; git itself has the last word.
fn branch_name(f: &Field) -> Result<String, ConfigError> {
    let raw = f.str()?;
    let name = raw.strip_prefix("refs/heads/").unwrap_or(raw);
    let valid = !name.is_empty()
        && !name.starts_with(['-', '/', '.'])
        && !name.ends_with(['/', '.'])
        && !name.ends_with(".lock")
        && !name.contains("..")
        && !name.contains("//")
        && !name.contains("@{")
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "~^:?*[\\".contains(c));
    if !valid {
        return Err(f.invalid(ValueProblem::BranchName {
            name: raw.to_string(),
        }));
    }
    Ok(name.to_string())
}

/// A file copied into worktrees: a plain relative path that stays inside the repository.
fn copy_path(f: &Field) -> Result<String, ConfigError> {
    let s = f.non_empty_str()?;
    let path = Path::new(s);
    let valid = !path.is_absolute()
        && path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        && !s.contains(['*', '?', '[']);
    if !valid {
        return Err(f.invalid(ValueProblem::CopyPath {
            path: s.to_string(),
        }));
    }
    Ok(s.to_string())
}
