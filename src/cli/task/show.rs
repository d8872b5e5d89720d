//! `git oompa task show ID`: one task in full.

use serde_json::json;

use crate::cli::ui::BOLD;
use crate::cli::{CommandError, Env};
use crate::store::{Queue, TaskId};

/// Show one task in full
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The task id
    pub id: String,
    /// The stored JSON record plus "state"
    #[arg(long)]
    pub json: bool,
}

pub fn run(env: &Env, args: Args) -> Result<(), CommandError> {
    let id = TaskId::new(&args.id)?;
    let repo = env.repo()?;
    let (state, task) = Queue::new(&repo).get(&id)?;
    if args.json {
        let mut v = serde_json::to_value(&task).expect("a task always serializes");
        v["state"] = json!(state.dir());
        let text = serde_json::to_string_pretty(&v).expect("a value always serializes");
        return env.ui.out(text);
    }
    let ui = &env.ui;
    ui.out(format!("{} {}", ui.paint(BOLD, &task.id), task.summary))?;
    ui.out(format!("state:      {state}"))?;
    if let Some(d) = task.difficulty {
        ui.out(format!("difficulty: {d}"))?;
    }
    ui.out(format!(
        "created:    {} by {}",
        task.created, task.created_by
    ))?;
    if let Some(c) = &task.claim {
        let owner = if c.swarm.is_empty() {
            c.worker.clone()
        } else {
            format!("{}/{}", c.swarm, c.worker)
        };
        ui.out(format!(
            "claimed:    {} by {owner} on {} (pid {}), lease until {}",
            c.claimed_at, c.host, c.pid, c.lease_until
        ))?;
        if let Some(b) = &c.branch {
            ui.out(format!("branch:     {b}"))?;
        }
    }
    if let Some(l) = &task.landed {
        ui.out(format!(
            "landed:     {} as {} ({} review rounds)",
            l.at, l.commit, l.review_rounds
        ))?;
    }
    if !task.files.is_empty() {
        ui.out(format!("files:      {}", task.files.join(", ")))?;
    }
    if !task.description.is_empty() {
        ui.out("")?;
        for line in task.description.lines() {
            ui.out(format!("    {line}"))?;
        }
    }
    if !task.acceptance.is_empty() {
        ui.out("")?;
        ui.out("acceptance:")?;
        for a in &task.acceptance {
            ui.out(format!("  - {a}"))?;
        }
    }
    Ok(())
}
