//! `git oompa task add`: adds tasks from flags or from a JSON document.

use std::io::Read;
use std::path::PathBuf;

use serde::Deserialize;

use crate::cli::{CommandError, Env};
use crate::store::{Difficulty, Queue, Task, TaskId};

/// Add a task (or several, from JSON) to the pending queue; prints the new ids
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  git oompa task add 'Fix the login redirect' --acceptance 'redirects to /home' --files src/login.rs
  git oompa task add --file tasks.json       # one object or an array of objects
  echo '{\"summary\": \"Add a --json flag\"}' | git oompa task add --file -

JSON fields: id (optional), summary (required), description, difficulty (easy|medium|hard),
files (list), acceptance (list or string).")]
pub struct Args {
    /// One-line summary of the task
    #[arg(conflicts_with = "summary_flag")]
    pub summary: Option<String>,
    /// One-line summary (same as the positional argument)
    #[arg(long = "summary", value_name = "TEXT")]
    pub summary_flag: Option<String>,
    /// Longer description: what and why
    #[arg(long, short)]
    pub description: Option<String>,
    /// How much work it is
    #[arg(long, value_enum)]
    pub difficulty: Option<DifficultyArg>,
    /// Files the task is expected to touch (repeat or comma-separate)
    #[arg(long, value_delimiter = ',', value_name = "PATH")]
    pub files: Vec<String>,
    /// An acceptance criterion (repeat for several)
    #[arg(long, short, value_name = "TEXT")]
    pub acceptance: Vec<String>,
    /// Use this id instead of generating one
    #[arg(long)]
    pub id: Option<String>,
    /// Read the task(s) from a JSON file instead of flags (`-` for stdin)
    #[arg(long, short = 'f', value_name = "PATH", conflicts_with_all = ["summary", "summary_flag", "description", "difficulty", "files", "acceptance", "id"])]
    pub file: Option<PathBuf>,
}

/// `--difficulty` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DifficultyArg {
    Easy,
    Medium,
    Hard,
}

impl From<DifficultyArg> for Difficulty {
    fn from(d: DifficultyArg) -> Self {
        match d {
            DifficultyArg::Easy => Difficulty::Easy,
            DifficultyArg::Medium => Difficulty::Medium,
            DifficultyArg::Hard => Difficulty::Hard,
        }
    }
}

/// One task as accepted on input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewTask {
    #[serde(default)]
    pub id: Option<String>,
    pub summary: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub difficulty: Option<String>,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub acceptance: Acceptance,
}

/// Acceptance criteria: a list, or a single string (as oompa allowed).
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
pub(crate) enum Acceptance {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl Acceptance {
    fn into_vec(self) -> Vec<String> {
        match self {
            Acceptance::None => Vec::new(),
            Acceptance::One(s) => vec![s],
            Acceptance::Many(v) => v,
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(NewTask),
    Many(Vec<NewTask>),
}

impl NewTask {
    /// Validates and builds the stored record.
    pub(crate) fn into_task(self, actor: &str) -> Result<Task, CommandError> {
        let summary = self.summary.trim().to_string();
        if summary.is_empty() {
            return Err(CommandError::user("a task needs a non-empty summary"));
        }
        let id = match self.id.as_deref() {
            Some(id) => TaskId::new(id)?,
            None => TaskId::generate(&summary),
        };
        let difficulty = self
            .difficulty
            .as_deref()
            .map(str::parse::<Difficulty>)
            .transpose()
            .map_err(CommandError::user)?;
        Ok(Task {
            description: self.description.unwrap_or_default(),
            difficulty,
            files: self.files,
            acceptance: self.acceptance.into_vec(),
            ..Task::new(
                id,
                summary,
                jiff::Timestamp::now().to_string(),
                actor.to_string(),
            )
        })
    }
}

pub fn run(env: &Env, args: Args) -> Result<(), CommandError> {
    let repo = env.repo()?;
    let actor = super::actor(&repo, &env.agent);
    let new = match &args.file {
        Some(path) => read_json(path)?,
        None => {
            let summary = args.summary.or(args.summary_flag).ok_or_else(|| {
                CommandError::usage("a task needs a summary").with_hint(
                    "git oompa task add 'what to do' [--description ...], or --file tasks.json",
                )
            })?;
            vec![NewTask {
                id: args.id,
                summary,
                description: args.description,
                difficulty: args.difficulty.map(|d| Difficulty::from(d).to_string()),
                files: args.files,
                acceptance: Acceptance::Many(args.acceptance),
            }]
        }
    };
    if new.is_empty() {
        return Err(CommandError::user("no tasks in the input"));
    }
    let tasks = new
        .into_iter()
        .map(|t| t.into_task(&actor))
        .collect::<Result<Vec<_>, _>>()?;
    let mut ids: Vec<&TaskId> = tasks.iter().map(|t| &t.id).collect();
    ids.sort();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(CommandError::user(format!(
            "task id `{}` appears twice in the input",
            w[0]
        )));
    }
    // A swarm's planner runs with a cap on the pending tasks it may bring the queue to.
    let max_pending = env
        .agent
        .max_pending
        .as_deref()
        .and_then(|m| m.parse().ok());
    Queue::new(&repo)
        .add_limited(&tasks, &actor, max_pending)
        .map_err(|e| match e {
            crate::store::QueueError::Full { .. } => CommandError::from(e)
                .with_hint("wait for workers to take tasks; the swarm asks you to plan again when the queue runs low"),
            e => CommandError::from(e),
        })?;
    for t in &tasks {
        env.ui.out(&t.id)?;
    }
    Ok(())
}

fn read_json(path: &std::path::Path) -> Result<Vec<NewTask>, CommandError> {
    let (text, name) = if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| CommandError::user(format!("reading stdin: {e}")))?;
        (s, "stdin".to_string())
    } else {
        let s = std::fs::read_to_string(path)
            .map_err(|e| CommandError::user(format!("reading {}: {e}", path.display())))?;
        (s, path.display().to_string())
    };
    let parsed: OneOrMany = serde_json::from_str(&text).map_err(|e| {
        // Untagged enums hide the real reason; retry as one object to report it.
        let detail = serde_json::from_str::<NewTask>(&text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| e.to_string());
        CommandError::user(format!("{name} is not a valid task document: {detail}"))
            .with_hint("expected a JSON object like {\"summary\": \"...\"} or an array of them")
    })?;
    Ok(match parsed {
        OneOrMany::One(t) => vec![t],
        OneOrMany::Many(v) => v,
    })
}
