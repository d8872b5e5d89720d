//! oompa's `oompa.json`, read for compatibility (oompa 0.7.1, see the reference §2).
//!
//! Owns the mapping of oompa's keys onto [`Config`], keeping oompa's meaning where it is sane
//! (`max_cycles` ∨ `iterations` ∨ `runs` ∨ 10; a model without a known harness is a codex
//! model; `wait_between` ≤ 0 is no wait; `max_wait_for_tasks` ≤ 0 is 600 s) and refusing what
//! oompa got wrong: unknown keys are errors, and a top-level `reviewer` is honoured.
//!
//! Reviewers: the generic chain is `review_models` (or else `review_model`), then the top-level
//! `reviewer`, without duplicates; the `reviewer`'s prompt becomes the chain's prompt. A
//! per-worker `reviewer` goes first in that worker's own chain, as in oompa, followed by the
//! worker's `reviewers` (or else `review_models`, else `review_model`) of later oompa versions.
//!
//! The spellings of later oompa versions are accepted too (`max_cycle`, `max_resumes`, a
//! worker's `reviewers`); every key read under another name is listed once in
//! [`Config::notices`], for the swarm to say.

use std::time::Duration;

use super::doc::{self, Kind};
use super::read::{Field, Table, WorkerTotal};
use super::source::Ctx;
use super::{
    Config, ConfigError, PlannerConfig, ReviewConfig, WorkerConfig, WorkerReview, defaults, limits,
};
use crate::agent::{Harness, ModelSpec, ModelSpecError};

const TOP_KEYS: &[&str] = &[
    "workers",
    "review_models",
    "review_model",
    "reviewer",
    "planner",
];
const WORKER_KEYS: &[&str] = &[
    "model",
    "prompt",
    "count",
    "iterations",
    "runs",
    "max_cycles",
    "max_cycle",
    "can_plan",
    "wait_between",
    "max_wait_for_tasks",
    "max_working_resumes",
    "max_resumes",
    "reviewer",
    "reviewers",
    "review_models",
    "review_model",
];

/// oompa's worker keys that git oompa reads under another name: (oompa's, git oompa's).
const MAPPED: &[(&str, &str)] = &[
    ("max_cycle", "max_cycles"),
    ("iterations", "max_cycles"),
    ("runs", "max_cycles"),
    ("max_working_resumes", "max_resumes"),
    ("reviewers", "review"),
    ("review_models", "review"),
    ("review_model", "review"),
];
const REVIEWER_KEYS: &[&str] = &["model", "prompt"];
const PLANNER_KEYS: &[&str] = &["model", "prompt", "max_pending"];

/// A `reviewer`: `{model, prompt}` or a model string.
struct Reviewer {
    model: ModelSpec,
    prompt: Vec<std::path::PathBuf>,
}

pub(super) fn parse(ctx: &Ctx) -> Result<Config, ConfigError> {
    let root = doc::from_json(ctx)?;
    let top = Table::new(ctx, &root, "", "at top level", TOP_KEYS)?;

    let mut generic = match (top.get("review_models"), top.get("review_model")) {
        (Some(f), _) => f
            .one_or_many()?
            .iter()
            .map(oompa_model)
            .collect::<Result<_, _>>()?,
        (None, Some(f)) => vec![oompa_model(&f)?],
        (None, None) => Vec::new(),
    };
    let mut review_prompt = Vec::new();
    if let Some(f) = top.get("reviewer") {
        let reviewer = reviewer(ctx, &f, "reviewer", "in reviewer")?;
        push_unique(&mut generic, reviewer.model);
        review_prompt = reviewer.prompt;
    }

    let mut config = Config::with_workers(Vec::new());
    config.path = Some(ctx.path.to_path_buf());
    config.workers = workers(ctx, &top, &generic)?;
    config.notices.extend(mapped_notice(ctx, &top)?);
    if !generic.is_empty() {
        config.review = Some(ReviewConfig {
            prompt: review_prompt,
            ..ReviewConfig::new(generic)
        });
    }
    config.planner = top.get("planner").map(|f| planner(ctx, &f)).transpose()?;
    Ok(config)
}

/// One line naming every oompa key that was read under git oompa's name, if any was.
fn mapped_notice(ctx: &Ctx, top: &Table) -> Result<Option<String>, ConfigError> {
    // git oompa's name → oompa's names for it, in the order they were met.
    let mut seen: Vec<(&str, Vec<&str>)> = Vec::new();
    for item in top
        .get("workers")
        .map(|f| f.array())
        .transpose()?
        .unwrap_or_default()
    {
        let t = Table::new(ctx, item.node, "workers", "in workers[]", WORKER_KEYS)?;
        for &(from, to) in MAPPED {
            if t.get(from).is_none() {
                continue;
            }
            match seen.iter_mut().find(|(t, _)| *t == to) {
                Some((_, froms)) if froms.contains(&from) => {}
                Some((_, froms)) => froms.push(from),
                None => seen.push((to, vec![from])),
            }
        }
    }
    if seen.is_empty() {
        return Ok(None);
    }
    let parts: Vec<String> = seen
        .iter()
        .map(|(to, froms)| {
            let froms: Vec<String> = froms.iter().map(|f| format!("`{f}`")).collect();
            format!("{} as `{to}`", froms.join(" and "))
        })
        .collect();
    Ok(Some(format!(
        "{}: read oompa's {}",
        ctx.path.display(),
        parts.join(", ")
    )))
}

fn workers(
    ctx: &Ctx,
    top: &Table,
    generic: &[ModelSpec],
) -> Result<Vec<WorkerConfig>, ConfigError> {
    let no_workers = || ConfigError::NoWorkers {
        path: ctx.path.to_path_buf(),
        what: "workers",
    };
    let items = match top.get("workers") {
        Some(f) => f.array()?,
        None => return Err(no_workers()),
    };
    if items.is_empty() {
        return Err(no_workers());
    }
    let mut total = WorkerTotal::default();
    items
        .iter()
        .map(|item| {
            let t = Table::new(ctx, item.node, "workers", "in workers[]", WORKER_KEYS)?;
            let w = worker(ctx, &t, generic)?;
            total.add(&t, item.node, w.count)?;
            Ok(w)
        })
        .collect()
}

fn worker(ctx: &Ctx, t: &Table, generic: &[ModelSpec]) -> Result<WorkerConfig, ConfigError> {
    let model = match t.get("model") {
        Some(f) => oompa_model(&f)?,
        None => codex_default(),
    };
    let mut w = WorkerConfig::new(model);
    if let Some(f) = t.get("prompt") {
        w.prompt = f.prompts()?;
    }
    if let Some(f) = t.get("count") {
        w.count = f.u32_range(1, limits::WORKERS)?;
    }
    // Every cap that is present must be valid; the first of them wins (`max_cycle` is what
    // later oompa versions require).
    let mut max_cycles = None;
    for key in ["max_cycle", "max_cycles", "iterations", "runs"] {
        if let Some(f) = t.get(key) {
            let n = f.u32_min(1)?;
            max_cycles.get_or_insert(n);
        }
    }
    w.max_cycles = max_cycles.unwrap_or(defaults::MAX_CYCLES);
    if let Some(f) = t.get("can_plan") {
        w.can_plan = f.bool()?;
    }
    if let Some(f) = t.get("wait_between") {
        w.wait_between = non_positive_as(&f, Duration::ZERO)?;
    }
    if let Some(f) = t.get("max_wait_for_tasks") {
        w.max_wait_for_tasks = non_positive_as(&f, defaults::MAX_WAIT_FOR_TASKS)?;
    }
    let mut resumes = None;
    for key in ["max_resumes", "max_working_resumes"] {
        if let Some(f) = t.get(key) {
            let n = f.u32_range(1, limits::MAX_RESUMES)?;
            resumes.get_or_insert(n);
        }
    }
    if let Some(n) = resumes {
        w.max_resumes = n;
    }
    let mut own = Vec::new();
    if let Some(f) = t.get("reviewer") {
        let r = reviewer(ctx, &f, "workers.reviewer", "in workers[].reviewer")?;
        own.push(r.model);
        w.review_prompt = r.prompt;
    }
    let listed = ["reviewers", "review_models", "review_model"]
        .into_iter()
        .find_map(|k| t.get(k).map(|f| (k, f)));
    if let Some((key, f)) = listed {
        let items = match f.node.kind {
            Kind::Array(_) => f.array()?,
            _ => vec![f.clone()],
        };
        for item in items {
            let r = reviewer(
                ctx,
                &item,
                &format!("workers.{key}"),
                &format!("in workers[].{key}"),
            )?;
            push_unique(&mut own, r.model);
            if w.review_prompt.is_empty() {
                w.review_prompt = r.prompt;
            }
        }
    }
    if !own.is_empty() {
        for model in generic {
            push_unique(&mut own, model.clone());
        }
        w.review = WorkerReview::Models(own);
    }
    Ok(w)
}

fn reviewer(ctx: &Ctx, f: &Field, prefix: &str, section: &str) -> Result<Reviewer, ConfigError> {
    if let Kind::Str(_) = f.node.kind {
        return Ok(Reviewer {
            model: oompa_model(f)?,
            prompt: Vec::new(),
        });
    }
    let t = Table::new(ctx, f.node, prefix, section, REVIEWER_KEYS)?;
    Ok(Reviewer {
        model: oompa_model(&t.require("model")?)?,
        prompt: t
            .get("prompt")
            .map(|p| p.prompts())
            .transpose()?
            .unwrap_or_default(),
    })
}

fn planner(ctx: &Ctx, f: &Field) -> Result<PlannerConfig, ConfigError> {
    let t = Table::new(ctx, f.node, "planner", "in planner", PLANNER_KEYS)?;
    let model = match t.get("model") {
        Some(f) => oompa_model(&f)?,
        None => codex_default(),
    };
    let mut p = PlannerConfig::new(model);
    if let Some(f) = t.get("prompt") {
        p.prompt = f.prompts()?;
    }
    if let Some(f) = t.get("max_pending") {
        p.max_pending = f.u32_range(1, limits::MAX_PENDING)?;
    }
    Ok(p)
}

/// oompa's seconds, where zero or less means `fallback`.
fn non_positive_as(f: &Field, fallback: Duration) -> Result<Duration, ConfigError> {
    match f.node.kind {
        Kind::Int(n) if n <= 0 => Ok(fallback),
        Kind::Float(x) if x <= 0.0 => Ok(fallback),
        _ => f.duration().map(|d| if d.is_zero() { fallback } else { d }),
    }
}

/// A model string as oompa read it: an unknown harness prefix makes the whole string a codex
/// model (`gpt-5.3-codex` → `codex:gpt-5.3-codex`), and oompa's `gemini1`… aliases run
/// `gemini`.
fn oompa_model(f: &Field) -> Result<ModelSpec, ConfigError> {
    let s = f.non_empty_str()?.trim();
    let spec = match ModelSpec::parse(s) {
        Err(ModelSpecError::UnknownHarness(head)) if is_gemini_alias(&head) => {
            tracing::warn!(
                model = s,
                "oompa.json: the `{head}` alias runs the `gemini` CLI"
            );
            ModelSpec::parse(&format!("gemini{}", &s[head.len()..]))
        }
        Err(ModelSpecError::UnknownHarness(_)) => ModelSpec::parse(&format!("codex:{s}")),
        other => other,
    };
    spec.map_err(|e| f.invalid(e.into()))
}

fn is_gemini_alias(head: &str) -> bool {
    head.strip_prefix("gemini")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn codex_default() -> ModelSpec {
    ModelSpec {
        harness: Harness::Codex,
        model: None,
        reasoning: None,
    }
}

fn push_unique(chain: &mut Vec<ModelSpec>, model: ModelSpec) {
    if !chain.contains(&model) {
        chain.push(model);
    }
}
