//! `git oompa task list`: the queue as a table fitted to the terminal, or one JSON array.
//! By default the work still to do (claimed, then pending by priority and age); completed
//! tasks with `--all` or `--state complete`, newest landing first.

use std::cmp::Reverse;

use jiff::Timestamp;

use serde_json::json;

use crate::cli::ui::{self, Cell, DIM, GREEN};
use crate::cli::{CommandError, Env};
use crate::store::{Queue, Snapshot, State, Task, queue::holder};

/// List tasks: claimed and pending by default, --all for completed ones too
#[derive(Debug, clap::Args)]
#[command(
    long_about = "List tasks: claimed ones first, then pending ones by priority (lowest \
number first; tasks without one last) and age. Completed tasks are left out unless you ask for \
them with --all or --state complete; they come last, newest landing first.\n\n\
The table fits the terminal (COLUMNS, else the terminal's width; no limit when piped), cutting \
summaries with `…`; --wide shows them whole."
)]
pub struct Args {
    /// Only tasks in this state (pending, current or claimed, complete)
    #[arg(long, value_parser = parse_state, conflicts_with = "all")]
    pub state: Option<State>,
    /// Completed tasks too
    #[arg(long, short)]
    pub all: bool,
    /// Do not cut the table to the terminal's width
    #[arg(long)]
    pub wide: bool,
    /// A JSON array of the stored records, each plus "state", in the table's order
    #[arg(long)]
    pub json: bool,
}

fn parse_state(s: &str) -> Result<State, String> {
    s.parse()
}

/// A task's priority as oompa wrote it: a number, a numeric string or `P<n>`; lower first.
pub(crate) fn priority(task: &Task) -> Option<(i64, String)> {
    let v = task.extra.get("priority")?;
    let text = match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let digits = text.trim().trim_start_matches(['P', 'p']);
    let rank = digits
        .parse::<i64>()
        .ok()
        .or_else(|| digits.parse::<f64>().ok().map(|f| f as i64))?;
    Some((rank, text))
}

/// Where a task goes in the list: claimed, pending, complete; pending by priority, then
/// oldest first; complete by landing, newest first; ties by id.
fn sort_key(state: State, task: &Task) -> (u8, i64, Option<Timestamp>, Reverse<Option<Timestamp>>) {
    let ts = |s: &str| s.parse::<Timestamp>().ok();
    match state {
        State::Current | State::Pending => (
            if state == State::Current { 0 } else { 1 },
            priority(task).map_or(i64::MAX, |(r, _)| r),
            ts(&task.created),
            Reverse(None),
        ),
        State::Complete => (
            2,
            0,
            None,
            Reverse(task.landed.as_ref().and_then(|l| ts(&l.at))),
        ),
    }
}

pub fn run(env: &Env, args: Args) -> Result<(), CommandError> {
    let repo = env.repo()?;
    crate::cli::recover_dead_claims(env, &repo);
    let snap = Queue::new(&repo).snapshot()?;
    for c in &snap.corrupt {
        env.ui.warn(format!(
            "skipping {}: {}",
            ui::escape(&c.path),
            ui::escape(&c.reason)
        ));
    }
    let (tasks, hidden) = select(&snap, &args);
    let ui = &env.ui;
    if args.json {
        return ui::out_json_array(
            ui,
            tasks.iter().map(|(state, task)| {
                let mut v = serde_json::to_value(task).expect("a task always serializes");
                v["state"] = json!(state.dir());
                v
            }),
        );
    }
    if tasks.is_empty() {
        let none = match args.state {
            Some(s) => format!("no {s} tasks"),
            None if hidden > 0 => "nothing pending or claimed".to_string(),
            None => "no tasks".to_string(),
        };
        ui.status(ui.paint_err(DIM, none));
        say_hidden(ui, hidden);
        if snap.tip.is_none() {
            ui.hint(
                "create the queue with `git oompa init`, then add tasks with `git oompa task add`",
            );
        }
        return Ok(());
    }
    ui.out_table(&table(&tasks), args.wide)?;
    say_hidden(ui, hidden);
    Ok(())
}

/// The tasks `args` asks for, in display order, and how many complete tasks that hides
/// (without `--all` or `--state`).
fn select<'s>(snap: &'s Snapshot, args: &Args) -> (Vec<(State, &'s Task)>, usize) {
    let wanted = |s: State| match args.state {
        Some(want) => s == want,
        None => args.all || s != State::Complete,
    };
    let mut tasks: Vec<(State, &Task)> = snap
        .tasks
        .iter()
        .filter(|(s, _)| wanted(*s))
        .map(|(s, t)| (*s, t))
        .collect();
    tasks.sort_by_cached_key(|(s, t)| (sort_key(*s, t), t.id.clone()));
    let hidden = if args.state.is_none() && !args.all {
        snap.count(State::Complete)
    } else {
        0
    };
    (tasks, hidden)
}

/// `N complete tasks not shown`, when some are.
fn say_hidden(ui: &ui::Ui, hidden: usize) {
    if hidden > 0 {
        ui.status(ui.paint_err(
            DIM,
            format!(
                "{} not shown (--all shows them)",
                ui::count(hidden, "complete task", "complete tasks")
            ),
        ));
    }
}

/// ID, STATE, PRI (when a task has a priority), CLAIMED BY, SUMMARY.
fn table(tasks: &[(State, &Task)]) -> ui::Table {
    let with_priority = tasks.iter().any(|(_, t)| priority(t).is_some());
    let mut header = vec!["ID", "STATE"];
    if with_priority {
        header.push("PRI");
    }
    header.extend(["CLAIMED BY", "SUMMARY"]);
    let mut table = ui::table(&header);
    let summary_col = header.len() - 1;
    // The summary gives up width first, then who holds it, then (rarely) long ids.
    table
        .shrink(summary_col, 12)
        .shrink(summary_col - 1, 8)
        .shrink(0, 12);
    for (state, task) in tasks {
        let mut row = vec![Cell::new(task.id.as_str()), {
            let c = Cell::new(state.dir());
            if *state == State::Current {
                c.styled(GREEN)
            } else {
                c
            }
        }];
        if with_priority {
            row.push(Cell::new(
                priority(task).map(|(_, t)| t).unwrap_or_default(),
            ));
        }
        row.push(Cell::new(match state {
            State::Current => holder(task),
            _ => String::new(),
        }));
        row.push(Cell::new(&task.summary));
        table.add_row(row);
    }
    table
}
