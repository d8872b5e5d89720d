//! `git oompa task import DIR`: moves an oompa `tasks/{pending,current,complete}` folder into
//! the queue, so existing oompa users can switch: oompa 0.7.1's EDN task files and the JSON
//! ones of its later versions.

mod edn;

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::cli::{CommandError, Env};
use crate::store::{Landed, Queue, State, TASK_VERSION, Task, TaskId};

/// Import an oompa tasks/ folder (pending/, current/, complete/ of .edn or .json files)
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Reads oompa 0.7.1's EDN task files (`{:id \"…\" :summary \"…\" …}`) and the JSON ones of later
oompa versions. Tasks in current/ carry no owner in oompa, so they are imported as pending.
Tasks whose id is already in the queue are skipped, so running import twice is harmless. A
file that cannot be read is skipped with the reason; the command fails when no file could be
read. The files are not changed or removed.")]
pub struct Args {
    /// The oompa tasks directory (the one holding pending/, current/, complete/)
    #[arg(value_hint = clap::ValueHint::DirPath)]
    pub dir: PathBuf,
}

pub fn run(env: &Env, args: Args) -> Result<(), CommandError> {
    let dirs: Vec<(State, PathBuf)> = [
        (State::Pending, "pending"),
        (State::Pending, "current"),
        (State::Complete, "complete"),
    ]
    .into_iter()
    .map(|(s, d)| (s, args.dir.join(d)))
    .filter(|(_, d)| d.is_dir())
    .collect();
    if dirs.is_empty() {
        return Err(CommandError::user(format!(
            "{} has no pending/, current/ or complete/ folder",
            args.dir.display()
        ))
        .with_hint("point it at oompa's tasks/ directory, e.g. `git oompa task import tasks`"));
    }
    let repo = env.repo()?;
    let actor = super::actor(&repo, &env.agent);
    let (tasks, skipped) = read_dirs(env, &dirs, &actor)?;
    if tasks.is_empty() {
        let dirs: Vec<String> = dirs.iter().map(|(_, d)| d.display().to_string()).collect();
        return Err(if skipped == 0 {
            CommandError::user(format!(
                "no task files (.edn or .json) in {}",
                dirs.join(", ")
            ))
            .with_hint("point it at oompa's tasks/ directory, e.g. `git oompa task import tasks`")
        } else {
            CommandError::user(format!(
                "imported nothing: all {skipped} task file(s) were skipped (see above)"
            ))
            .with_hint("fix the files named above, then run `git oompa task import` again")
        });
    }
    let written = Queue::new(&repo).import(&tasks, &actor)?;
    for (state, task) in &tasks {
        if written.contains(&task.id) {
            env.ui.out(format!("{state:<8} {}", task.id))?;
        }
    }
    let already = tasks.len() - written.len();
    env.ui.status(format!(
        "imported {}; {already} already in the queue; {skipped} skipped",
        crate::cli::ui::count(written.len(), "task", "tasks")
    ));
    if !written.is_empty() {
        env.ui.hint(format!(
            "git oompa keeps its queue in {} and never reads {} again: remove \
             the folder when you no longer need it",
            crate::store::QUEUE_REF,
            args.dir.display()
        ));
    }
    Ok(())
}

/// Every `.json` and `.edn` task file in `dirs`, in name order, as tasks in their state;
/// and how many were skipped (each said on stderr with why).
fn read_dirs(
    env: &Env,
    dirs: &[(State, PathBuf)],
    actor: &str,
) -> Result<(Vec<(State, Task)>, usize), CommandError> {
    let mut tasks = Vec::new();
    let mut skipped = 0;
    for (state, dir) in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| CommandError::user(format!("reading {}: {e}", dir.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for file in files {
            let format = match file.extension().and_then(|e| e.to_str()) {
                Some("json") => Format::Json,
                Some("edn") => Format::Edn,
                _ => continue,
            };
            match convert(&file, format, *state, actor) {
                Ok(t) => tasks.push((*state, t)),
                Err(why) => {
                    skipped += 1;
                    env.ui.warn(format!(
                        "skipping {}: {}",
                        crate::cli::ui::escape(&file.display().to_string()),
                        crate::cli::ui::escape(&why)
                    ));
                }
            }
        }
    }
    Ok((tasks, skipped))
}

#[derive(Debug, Clone, Copy)]
enum Format {
    Json,
    Edn,
}

/// Converts one oompa task file into a task record.
fn convert(file: &Path, format: Format, state: State, actor: &str) -> Result<Task, String> {
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let value: Value = match format {
        Format::Json => serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?,
        Format::Edn => edn::parse(&text)?,
    };
    let Value::Object(mut map) = value else {
        return Err(match format {
            Format::Json => "not a JSON object".into(),
            Format::Edn => "not an EDN map".into(),
        });
    };
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let id = match map.remove("id") {
        Some(Value::String(s)) => s,
        Some(Value::Number(n)) => n.to_string(),
        _ => stem.to_string(),
    };
    let id = TaskId::new(id.trim_start_matches(':')).map_err(|e| e.to_string())?;
    let description = take_string(&mut map, "description").unwrap_or_default();
    let summary = take_string(&mut map, "summary")
        .or_else(|| description.lines().next().map(str::to_string))
        .unwrap_or_else(|| id.to_string());
    let difficulty = match take_string(&mut map, "difficulty") {
        Some(d) => Some(d.parse().map_err(|e: String| e)?),
        None => None,
    };
    let mut files = take_list(&mut map, "files");
    files.extend(take_list(&mut map, "target_files"));
    let acceptance = take_list(&mut map, "acceptance");
    let landed = (state == State::Complete).then(|| Landed {
        commit: take_string(&mut map, "merged-commit").unwrap_or_else(|| "unknown".into()),
        review_rounds: map
            .remove("review-rounds")
            .and_then(|v| v.as_u64())
            .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)),
        at: take_string(&mut map, "completed-at")
            .unwrap_or_else(|| jiff::Timestamp::now().to_string()),
        worker: take_string(&mut map, "completed-by"),
    });
    Ok(Task {
        version: TASK_VERSION,
        id,
        summary,
        description,
        difficulty,
        files,
        acceptance,
        created: jiff::Timestamp::now().to_string(),
        created_by: format!("{actor} (import)"),
        claim: None,
        landed,
        extra: map.into_iter().collect(),
    })
}

fn take_string(map: &mut Map<String, Value>, key: &str) -> Option<String> {
    match map.remove(key)? {
        Value::String(s) => Some(s),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn take_list(map: &mut Map<String, Value>, key: &str) -> Vec<String> {
    match map.remove(key) {
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => s,
                other => other.to_string(),
            })
            .collect(),
        Some(Value::String(s)) => vec![s],
        _ => Vec::new(),
    }
}
