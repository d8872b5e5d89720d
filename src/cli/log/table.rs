//! The table of `git oompa log`: one row per cycle, fitted to the terminal.

use jiff::Timestamp;

use super::Dated;
use crate::cli::CommandError;
use crate::cli::ui::{self, Cell, Ui, human_duration, outcome_style};

const HEADER: [&str; 8] = [
    "WHEN", "SWARM", "CYCLE", "OUTCOME", "TASKS", "TURNS", "TIME", "COMMIT",
];
/// The TASKS column: gives up width first.
const TASKS_COL: usize = 4;

pub(super) fn print_table(ui: &Ui, entries: &[Dated], wide: bool) -> Result<(), CommandError> {
    let mut table = ui::table(&HEADER);
    table.shrink(TASKS_COL, 6).align_right(5);
    let commit_len = if wide { 40 } else { 8 };
    for e in entries {
        let r = e.record();
        table.add_row([
            Cell::new(when(e, wide)),
            Cell::new(&r.swarm),
            Cell::new(format!("{}/{}", r.worker, r.cycle)),
            Cell::new(r.outcome.as_str()).styled(outcome_style(r.outcome)),
            tasks_cell(&r.tasks),
            Cell::new(r.turns.to_string()),
            Cell::new(human_duration(r.duration_ms)),
            Cell::new(
                r.landed
                    .as_deref()
                    .or(r.tip.as_deref())
                    .map(|c| c.chars().take(commit_len).collect::<String>())
                    .unwrap_or_default(),
            ),
        ]);
    }
    ui.out_table(&table, wide)
}

/// How long ago the cycle ended (`--wide`: the time in UTC); the stored text when it does
/// not parse.
fn when(e: &Dated, wide: bool) -> String {
    match e.ended {
        Some(ts) if wide => ts.strftime("%Y-%m-%d %H:%M:%S").to_string(),
        Some(ts) => ui::ago(ts, Timestamp::now()),
        None => e.record().ended.clone(),
    }
}

/// `a,b,c`, with shorter forms for a narrow column: the tasks that fit and `+N` for the
/// rest (`a,b +1`, `a +2`, `+3`).
fn tasks_cell(tasks: &[String]) -> Cell {
    let mut cell = Cell::new(tasks.join(","));
    for shown in (0..tasks.len()).rev() {
        let rest = tasks.len() - shown;
        let head = tasks[..shown].join(",");
        cell = cell.or_shorter(if head.is_empty() {
            format!("+{rest}")
        } else {
            format!("{head} +{rest}")
        });
    }
    cell
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_lists_have_shorter_forms_with_a_count_of_the_rest() {
        let t = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let many = t(&["task-001", "task-002", "task-003", "task-004", "task-005"]);
        let mut table = ui::table(&["TASKS"]);
        table.add_row([tasks_cell(&many)]).shrink(0, 3);
        let row = |w| {
            table
                .render(Some(w), false)
                .lines()
                .nth(1)
                .map(str::to_string)
        };
        assert_eq!(
            row(100).as_deref(),
            Some("task-001,task-002,task-003,task-004,task-005")
        );
        assert_eq!(row(30).as_deref(), Some("task-001,task-002,task-003 +2"));
        assert_eq!(row(12).as_deref(), Some("task-001 +4"));
        assert_eq!(row(4).as_deref(), Some("+5"));
    }
}
