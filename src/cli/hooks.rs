//! `git oompa hooks install|uninstall|status`: the hook shims, in the directory git really
//! runs hooks from (`core.hooksPath` honoured, linked worktrees included).

use clap::Subcommand;
use serde_json::json;

use super::ui::{self, Cell, GREEN, YELLOW};
use super::{CommandError, Env};
use crate::git::Repo;
use crate::guard::Settings;
use crate::guard::hooks::{self, Change, HookError, Location, Removal, State};

/// Install, remove or show git oompa's hooks (pre-push, reference-transaction)
#[derive(Debug, clap::Args)]
#[command(long_about = "Install, remove or show git oompa's git hooks.\n\n\
pre-push refuses to publish unmerged claims: worker branches (oompa/*), commits of claimed tasks\n\
that have not landed through the merge queue, and a task queue whose completed tasks' landings\n\
are not on the remote's target. `git push --no-verify` skips it; list remotes where it is off\n\
with `git config --add oompa.skipPushCheck <remote>`.\n\n\
reference-transaction refuses to move the target branch from inside a worker worktree, so\n\
agents cannot land around the merge queue.\n\n\
The shims go where git runs hooks from: core.hooksPath when set (relative to each checkout's\n\
root), else .git/hooks, which linked worktrees share. A hook you already have keeps its lines:\n\
the shim is a block between `# >>> git-oompa >>>` and `# <<< git-oompa <<<`. When git-oompa is\n\
not on PATH the shims warn and let everything through.")]
pub struct Args {
    #[command(subcommand)]
    pub command: HooksCommand,
}

#[derive(Debug, Subcommand)]
pub enum HooksCommand {
    /// Install the shims where git runs hooks (your own hook lines are kept)
    Install,
    /// Remove the shims (your own hook lines are kept)
    Uninstall,
    /// Where git runs hooks from, and whether each shim is there
    Status {
        /// Do not cut the table to the terminal's width
        #[arg(long)]
        wide: bool,
        /// A JSON array, one object per hook file
        #[arg(long)]
        json: bool,
    },
}

pub fn run(env: &Env, args: Args) -> Result<(), CommandError> {
    let repo = env.repo()?;
    let settings = Settings::resolve(&repo);
    match args.command {
        HooksCommand::Install => install(env, &repo, &settings),
        HooksCommand::Uninstall => uninstall(env, &repo, &settings),
        HooksCommand::Status { wide, json } => status(env, &repo, &settings, wide, json),
    }
}

fn locations(repo: &Repo, settings: &Settings) -> Result<Vec<Location>, CommandError> {
    Ok(hooks::locations(repo, settings)?)
}

/// Installs the shims everywhere git runs hooks from; says what it did on stderr. Also used
/// by `init`.
pub fn install(env: &Env, repo: &Repo, settings: &Settings) -> Result<(), CommandError> {
    let ui = &env.ui;
    for loc in locations(repo, settings)? {
        let dir = &loc.dir.path;
        if loc.worker_only {
            ui.warn(format!(
                "not installing into {}: it is inside a worker worktree (core.hooksPath is \
                 relative); `git oompa doctor` says how to cover worker worktrees",
                dir.display()
            ));
            continue;
        }
        let done = hooks::install(dir).map_err(hook_error)?;
        let mut created = Vec::new();
        let mut added = Vec::new();
        let mut updated = Vec::new();
        let mut unchanged = Vec::new();
        for (name, _, change) in done {
            match change {
                Change::Created => created.push(name),
                Change::AddedToExisting => added.push(name),
                Change::Updated => updated.push(name),
                Change::Unchanged => unchanged.push(name),
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
        if loc.dir.is_relative() {
            ui.hint(format!(
                "core.hooksPath is relative ({}): every checkout has its own; commit the shims \
                 if the directory is tracked",
                loc.dir.configured.as_deref().unwrap_or("")
            ));
        }
    }
    if !hooks::binary_on_path() {
        ui.warn("git-oompa is not on PATH: the hooks will warn and let everything through");
    }
    Ok(())
}

fn uninstall(env: &Env, repo: &Repo, settings: &Settings) -> Result<(), CommandError> {
    let ui = &env.ui;
    for loc in locations(repo, settings)? {
        let dir = &loc.dir.path;
        let shown = shown(dir, &env.cwd);
        for (name, _, removal) in hooks::uninstall(dir).map_err(hook_error)? {
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
    let locs = locations(repo, settings)?;
    if json {
        let mut rows = Vec::new();
        for loc in &locs {
            for (name, path, state) in hooks::inspect(&loc.dir.path) {
                rows.push(json!({
                    "version": ui::JSON_VERSION,
                    "hook": name,
                    "path": path,
                    "state": state.to_string(),
                    "hooks_path": loc.dir.configured,
                    "checkouts": loc.checkouts,
                }));
            }
        }
        return ui::out_json_array(ui, rows);
    }
    let mut t = ui::table(&["HOOK", "STATE", "FILE", "USED BY"]);
    t.shrink(2, 12).shrink(3, 8);
    for loc in &locs {
        let users = if loc.checkouts.len() == 1 {
            shown(&loc.checkouts[0], &env.cwd)
        } else {
            format!("{} checkouts", loc.checkouts.len())
        };
        for (name, path, state) in hooks::inspect(&loc.dir.path) {
            let style = if state == State::Installed {
                GREEN
            } else {
                YELLOW
            };
            t.add_row([
                Cell::new(name),
                Cell::new(state.to_string()).styled(style),
                Cell::new(shown(&path, &env.cwd)),
                Cell::new(&users),
            ]);
        }
    }
    ui.out_table(&t, wide)?;
    for loc in &locs {
        if let Some(p) = &loc.dir.configured {
            ui.status(format!("core.hooksPath = {p}"));
        }
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
