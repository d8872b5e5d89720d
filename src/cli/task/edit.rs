//! `git oompa task edit ID`: changes a task's summary, description, difficulty, files or
//! acceptance criteria. A claimed task needs `--force`, and its claimer is told at its next
//! turn.

use crate::cli::ui;
use crate::cli::{CommandError, Env};
use crate::store::{Queue, TaskEdit, TaskId};

use super::add::DifficultyArg;

/// Change a pending task (a claimed one with --force: its worker is told at its next turn)
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Each option given replaces that field; --acceptance and --files replace the whole list
(repeat them for several). A completed task has landed and is not changed. Editing a task a
swarm worker holds needs --force; that worker's agent is told what changed before its next
turn. Examples:
  git oompa task edit fix-login-3f2a --summary 'Fix the login redirect loop'
  git oompa task edit fix-login-3f2a --acceptance 'redirects to /home' --acceptance 'has a test'")]
pub struct Args {
    /// The task id
    pub id: String,
    /// New one-line summary
    #[arg(long, value_name = "TEXT")]
    pub summary: Option<String>,
    /// New description
    #[arg(long, short, value_name = "TEXT")]
    pub description: Option<String>,
    /// New difficulty
    #[arg(long, value_enum)]
    pub difficulty: Option<DifficultyArg>,
    /// The files it is expected to touch (replaces the list; repeat or comma-separate)
    #[arg(long, value_delimiter = ',', value_name = "PATH")]
    pub files: Vec<String>,
    /// The acceptance criteria (replaces the list; repeat for several)
    #[arg(long, short, value_name = "TEXT")]
    pub acceptance: Vec<String>,
    /// Edit it even though a worker holds it (the worker is told at its next turn)
    #[arg(long)]
    pub force: bool,
}

pub fn run(env: &Env, args: Args) -> Result<(), CommandError> {
    let id = TaskId::new(&args.id)?;
    let summary = match args.summary.as_deref().map(str::trim) {
        Some("") => return Err(CommandError::usage("a task needs a non-empty summary")),
        s => s.map(str::to_string),
    };
    let edit = TaskEdit {
        summary,
        description: args.description,
        difficulty: args.difficulty.map(Into::into),
        files: (!args.files.is_empty()).then_some(args.files),
        acceptance: (!args.acceptance.is_empty()).then_some(args.acceptance),
    };
    if edit == TaskEdit::default() {
        return Err(CommandError::usage(format!("nothing to change in `{id}`")).with_hint(
            "give what to change: --summary, --description, --difficulty, --files, --acceptance",
        ));
    }
    super::refuse_force_in_swarm(args.force, &env.agent)?;
    let repo = env.repo()?;
    let name = super::actor(&repo, &env.agent);
    let changed = Queue::new(&repo)
        .edit(
            &id,
            &edit,
            args.force,
            super::change_actor(&name, &env.agent),
        )
        .map_err(super::change_error)?;
    if changed.fields.is_empty() {
        env.ui
            .status(format!("{id} already says that; nothing changed"));
        return Ok(());
    }
    env.ui
        .out(format!("edited {id} ({})", changed.fields.join(", ")))?;
    match (&changed.holder, changed.notified) {
        (Some(who), true) => env.ui.status(format!(
            "{} holds it; its agent is told what changed before its next turn",
            ui::escape(who)
        )),
        (Some(who), false) => env.ui.status(format!("{} holds it", ui::escape(who))),
        (None, _) => {}
    }
    Ok(())
}
