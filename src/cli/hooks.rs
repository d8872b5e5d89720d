//! `git oompa hooks install|uninstall|status`: `pre-push` in your hooks directory
//! (`core.hooksPath` honoured), and the guard directory that only worker worktrees and agents
//! run hooks from.

use clap::Subcommand;
use serde_json::json;

use super::ui::{self, Cell, GREEN, YELLOW};
use super::{CommandError, Env};
use crate::git::Repo;
use crate::guard::hooks::{self, Change, ExtensionRemoval, HookError, Removal, State};
use crate::settings::{Flags, Settings};

/// Install, remove or show git oompa's hooks (pre-push, reference-transaction)
#[derive(Debug, clap::Args)]
#[command(long_about = "Install, remove or show git oompa's git hooks.\n\n\
pre-push refuses to publish unmerged claims: worker branches (oompa/*), commits of claimed tasks\n\
that have not landed through the merge queue, and a task queue whose completed tasks' landings\n\
are not on the remote's target. `git push --no-verify` skips it; list remotes where it is off\n\
with `git config --add oompa.skipPushCheck <remote>`.\n\n\
reference-transaction refuses to move the target branch from inside a worker worktree (or from\n\
anywhere, by an agent), so agents cannot land around the merge queue.\n\n\
pre-push goes where git runs your hooks from: core.hooksPath when set (relative to each\n\
checkout's root), else .git/hooks. A hook you already have keeps its lines: the shim is a block\n\
between `# >>> git-oompa >>>` and `# <<< git-oompa <<<`.\n\n\
reference-transaction runs for every ref update of every git command, so it is not in your\n\
hooks directory: it lives in .git/oompa/hooks, which only worker worktrees (through their own\n\
config.worktree, with extensions.worktreeConfig on) and agents (through their environment) run\n\
hooks from. There every other hook name forwards to your own hooks, so they still run in\n\
worker worktrees. Your own git commands never start git oompa's guard.\n\n\
When git-oompa is not on PATH the shims warn and let everything through. `uninstall` removes\n\
all of it, config included.")]
pub struct Args {
    #[command(subcommand)]
    pub command: HooksCommand,
}

#[derive(Debug, Subcommand)]
pub enum HooksCommand {
    /// Install pre-push in your hooks directory and the worker guard (your own hooks are kept)
    Install,
    /// Remove everything git oompa installed (your own hook lines are kept)
    Uninstall,
    /// Where each hook and setting is, and whether it is installed
    Status {
        /// Do not cut the table to the terminal's width
        #[arg(long)]
        wide: bool,
        /// A JSON array, one object per file or setting
        #[arg(long)]
        json: bool,
    },
}

pub fn run(env: &Env, args: Args) -> Result<(), CommandError> {
    let repo = env.repo()?;
    let settings = Settings::resolve(&repo, &Flags::default());
    match args.command {
        HooksCommand::Install => install(env, &repo, &settings),
        HooksCommand::Uninstall => uninstall(env, &repo, &settings),
        HooksCommand::Status { wide, json } => status(env, &repo, &settings, wide, json),
    }
}

/// Installs everything; says what it did on stderr. Also used by `init`.
pub fn install(env: &Env, repo: &Repo, settings: &Settings) -> Result<(), CommandError> {
    let ui = &env.ui;
    let done = hooks::install_all(repo, settings).map_err(hook_error)?;
    for (dir, changes) in &done.user {
        say_user_hooks(env, dir, changes);
    }
    let layout = hooks::layout(repo, settings)?;
    let guard = shown(&layout.guard_dir, &env.cwd);
    for dir in &done.moved {
        ui.status(format!(
            "moved reference-transaction out of {}: your own git commands no longer start it; \
             worker worktrees and agents run it from {guard}",
            shown(dir, &env.cwd)
        ));
    }
    let yours = shown(&layout.main_hooks, &env.cwd);
    match done.guard {
        Some(Change::Created) => ui.status(format!(
            "installed the worker guard in {guard} (reference-transaction, pre-push; your own \
             hooks in {yours} still run there)"
        )),
        Some(Change::Updated | Change::AddedToExisting) => {
            ui.status(format!("updated the worker guard in {guard}"))
        }
        Some(Change::Unchanged) | None => {
            ui.status(format!("worker guard already installed in {guard}"))
        }
    }
    if done.extension {
        ui.status(format!(
            "turned on extensions.worktreeConfig in {}: each worker worktree points at the \
             guard through its own config.worktree",
            shown(&layout.common_config, &env.cwd)
        ));
    }
    if !done.workers.is_empty() {
        let list: Vec<String> = done.workers.iter().map(|p| shown(p, &env.cwd)).collect();
        ui.status(format!(
            "pointed {} worker worktree(s) at the guard: {}",
            list.len(),
            list.join(", ")
        ));
    }
    for loc in &layout.user {
        if loc.dir.is_relative() {
            ui.hint(format!(
                "core.hooksPath is relative ({}): every checkout has its own; commit the shims \
                 if the directory is tracked",
                loc.dir.configured.as_deref().unwrap_or("")
            ));
            break;
        }
    }
    if !hooks::binary_on_path() {
        ui.warn("git-oompa is not on PATH: the hooks will warn and let everything through");
    }
    Ok(())
}

/// What `install` did in one directory of user hooks: created, added to, updated, unchanged.
fn say_user_hooks(env: &Env, dir: &std::path::Path, changes: &[hooks::FileChange]) {
    let ui = &env.ui;
    let mut created = Vec::new();
    let mut added = Vec::new();
    let mut updated = Vec::new();
    let mut unchanged = Vec::new();
    for (name, _, change) in changes {
        match change {
            Change::Created => created.push(*name),
            Change::AddedToExisting => added.push(*name),
            Change::Updated => updated.push(*name),
            Change::Unchanged => unchanged.push(*name),
        }
    }
    let shown = shown(dir, &env.cwd);
    if !created.is_empty() {
        ui.status(format!("installed {} in {shown}", created.join(", ")));
    }
    if !added.is_empty() {
        ui.status(format!(
            "added git oompa's block to your {} in {shown} (your lines still run)",
            added.join(", ")
        ));
    }
    if !updated.is_empty() {
        ui.status(format!("updated {} in {shown}", updated.join(", ")));
    }
    if !unchanged.is_empty() {
        ui.status(format!(
            "{} already installed in {shown}",
            unchanged.join(", ")
        ));
    }
}

fn uninstall(env: &Env, repo: &Repo, settings: &Settings) -> Result<(), CommandError> {
    let ui = &env.ui;
    let layout = hooks::layout(repo, settings)?;
    let done = hooks::uninstall_all(repo, settings).map_err(hook_error)?;
    if !done.workers.is_empty() {
        let list: Vec<String> = done.workers.iter().map(|p| shown(p, &env.cwd)).collect();
        ui.status(format!(
            "removed the guard's include from the config.worktree of {}",
            list.join(", ")
        ));
    }
    if done.guard {
        ui.status(format!(
            "removed reference-transaction, pre-push and the forwarders from {}, and its \
             hooks.config",
            shown(&layout.guard_dir, &env.cwd)
        ));
    }
    let common = shown(&layout.common_config, &env.cwd);
    match &done.extension {
        ExtensionRemoval::NotOurs => {}
        ExtensionRemoval::TurnedOff => ui.status(format!(
            "turned extensions.worktreeConfig off again in {common}"
        )),
        ExtensionRemoval::InUse(files) => {
            let list: Vec<String> = files.iter().map(|p| shown(p, &env.cwd)).collect();
            ui.status(format!(
                "left extensions.worktreeConfig on in {common}: {} hold settings of yours",
                list.join(", ")
            ))
        }
    }
    for (dir, removals) in &done.user {
        let shown = shown(dir, &env.cwd);
        for (name, _, removal) in removals {
            match removal {
                Removal::RemovedFile => ui.status(format!("removed {name} from {shown}")),
                Removal::RemovedBlock => ui.status(format!(
                    "removed git oompa's block from {name} in {shown} (your lines stay)"
                )),
                Removal::NotInstalled => {}
            }
        }
    }
    Ok(())
}

fn status(
    env: &Env,
    repo: &Repo,
    settings: &Settings,
    wide: bool,
    json: bool,
) -> Result<(), CommandError> {
    let ui = &env.ui;
    let layout = hooks::layout(repo, settings)?;
    let items = hooks::inspect_layout(&layout);
    if json {
        let mut rows = Vec::new();
        for item in &items {
            let hooks_path = if item.guard {
                Some(layout.guard_dir.to_string_lossy().into_owned())
            } else {
                layout
                    .user
                    .iter()
                    .find(|l| item.path.starts_with(&l.dir.path))
                    .and_then(|l| l.dir.configured.clone())
            };
            rows.push(json!({
                "version": ui::JSON_VERSION,
                "hook": item.what,
                "path": item.path,
                "state": item.state.to_string(),
                "guard": item.guard,
                "hooks_path": hooks_path,
                "checkouts": item.checkouts,
            }));
        }
        return ui::out_json_array(ui, rows);
    }
    let mut t = ui::table(&["HOOK", "STATE", "FILE", "USED BY"]);
    t.shrink(2, 12).shrink(3, 8);
    for item in &items {
        let users = match (item.guard, item.checkouts.as_slice()) {
            (true, _) if item.what == "config.worktree" => shown(&item.checkouts[0], &env.cwd),
            (true, []) => "workers, agents".to_string(),
            (true, [_]) => "1 worker, agents".to_string(),
            (true, many) => format!("{} workers, agents", many.len()),
            (false, [one]) => shown(one, &env.cwd),
            (false, many) => format!("{} checkouts", many.len()),
        };
        let style = if item.state == State::Installed {
            GREEN
        } else {
            YELLOW
        };
        t.add_row([
            Cell::new(item.what),
            Cell::new(item.state.to_string()).styled(style),
            Cell::new(shown(&item.path, &env.cwd)),
            Cell::new(&users),
        ]);
    }
    ui.out_table(&t, wide)?;
    for loc in &layout.user {
        if let Some(p) = &loc.dir.configured {
            ui.status(format!("core.hooksPath = {p}"));
        }
    }
    if items.iter().any(|i| i.state == State::OldLayout) {
        ui.hint(
            "`git oompa hooks install` moves reference-transaction into the guard directory, \
             so your own git commands stop starting it",
        );
    }
    if !hooks::binary_on_path() {
        ui.warn("git-oompa is not on PATH: the hooks warn and let everything through");
    }
    Ok(())
}

fn hook_error(e: HookError) -> CommandError {
    let hint = match &e {
        HookError::NotShell { .. } => Some(
            "add a line running `git oompa hook <name> \"$@\"` (with the hook's stdin) to \
             your hook yourself",
        ),
        HookError::BrokenMarkers { .. } => {
            Some("remove the git-oompa lines from the hook by hand, then install again")
        }
        _ => None,
    };
    let mut err = match e {
        HookError::Git(g) => g.into(),
        other => CommandError::from_error(&other),
    };
    if let Some(h) = hint {
        err = err.with_hint(h);
    }
    err
}

/// `path` relative to `cwd` when it is under it (`.git/hooks`), else as it is.
pub(crate) fn shown(path: &std::path::Path, cwd: &std::path::Path) -> String {
    let cwd = cwd.canonicalize().unwrap_or_else(|_| cwd.to_path_buf());
    let full = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    match full.strip_prefix(&cwd) {
        Ok(rel) if rel.as_os_str().is_empty() => ".".into(),
        Ok(rel) => rel.display().to_string(),
        Err(_) => path.display().to_string(),
    }
}
