//! `git oompa task list`: the queue as a table, or JSON lines for scripts.

use serde_json::json;

use crate::cli::ui::{self, DIM};
use crate::cli::{CommandError, Env};
use crate::store::{Queue, State, queue::holder};

/// List tasks (pending, claimed and complete)
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only tasks in this state
    #[arg(long, value_parser = parse_state)]
    pub state: Option<State>,
    /// One JSON object per line: the stored record plus "state"
    #[arg(long)]
    pub json: bool,
}

fn parse_state(s: &str) -> Result<State, String> {
    s.parse()
}

pub fn run(env: &Env, args: Args) -> Result<(), CommandError> {
    let repo = env.repo()?;
    crate::cli::recover_dead_claims(env, &repo);
    let snap = Queue::new(&repo).snapshot()?;
    for c in &snap.corrupt {
        env.ui.warn(format!("skipping {}: {}", c.path, c.reason));
    }
    let tasks = snap
        .tasks
        .iter()
        .filter(|(s, _)| args.state.is_none_or(|want| *s == want));
    if args.json {
        for (state, task) in tasks {
            let mut v = serde_json::to_value(task).expect("a task always serializes");
            v["state"] = json!(state.dir());
            env.ui.out(v)?;
        }
        return Ok(());
    }
    let mut table = ui::table(&["ID", "STATE", "CLAIMED BY", "SUMMARY"]);
    let mut n = 0;
    for (state, task) in tasks {
        n += 1;
        let who = match state {
            State::Current => holder(task),
            _ => String::new(),
        };
        table.add_row(vec![
            task.id.to_string(),
            state.to_string(),
            who,
            task.summary.lines().next().unwrap_or("").to_string(),
        ]);
    }
    if n == 0 {
        let what = args.state.map(|s| format!("{s} ")).unwrap_or_default();
        env.ui
            .status(env.ui.paint_err(DIM, format!("no {what}tasks")));
        if snap.tip.is_none() {
            env.ui.hint(
                "create the queue with `git oompa init`, then add tasks with `git oompa task add`",
            );
        }
        return Ok(());
    }
    env.ui.out(ui::render_table(&table))?;
    Ok(())
}
