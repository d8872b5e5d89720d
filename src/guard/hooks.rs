//! Installing git oompa's hooks where git runs them, so that only what needs a check pays for
//! one.
//!
//! Two places:
//! - **your hooks directory** (`core.hooksPath`, relative to each checkout's root when
//!   relative, else `$GIT_COMMON_DIR/hooks`): only the `pre-push` shim, a block between the
//!   marker lines [`BEGIN`] and [`END`]. A hook file that is only ours gets the block exactly as
//!   shipped; a hook the user already has keeps all of its lines (the block goes right after its
//!   `#!` line, in a variant that saves stdin so the user's lines still read the same input).
//! - **the guard directory** `$GIT_COMMON_DIR/oompa/hooks` ([`GUARD_DIR`]), all ours: the
//!   `reference-transaction` and `pre-push` guards (`hooks/guard`) and a forwarder
//!   (`hooks/forward`) for every other hook name, which runs the user's own hook from their
//!   directory. Only worker worktrees and agents run hooks from there: `hooks.config`
//!   ([`GUARD_CONFIG`]) sets `core.hooksPath` to it, and is included by each worker worktree's
//!   own `config.worktree` (with `extensions.worktreeConfig` on; [`guard_worktree`]) and by the
//!   agents' environment ([`agent_env`]).
//!
//! Git runs `reference-transaction` for every state of every ref update of every command; with
//! no such hook in your hooks directory, a person's own commands start no shell for it at all.
//! Uninstalling removes the blocks, the guard directory, the includes and (when git oompa turned
//! it on and nothing else uses it) `extensions.worktreeConfig`. This module never prints.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Settings, WORKER_BRANCH_PREFIX};
use crate::git::include::worktree_config_on as extension_on;
use crate::git::inspect::{HooksDir, config_values_in};
use crate::git::{GitError, Repo};

/// The hooks git oompa checks with (`git oompa hook <name>`).
pub const HOOKS: [&str; 2] = ["pre-push", "reference-transaction"];
/// The shims that go into your own hooks directory.
pub const USER_HOOKS: [&str; 1] = ["pre-push"];
/// First line of our block.
pub const BEGIN: &str = "# >>> git-oompa >>>";
/// Last line of our block.
pub const END: &str = "# <<< git-oompa <<<";

pub use crate::store::layout::{
    GUARD_CONFIG, GUARD_DIR, WORKTREE_INCLUDE, guard_config, guard_dir,
};
/// The line `hooks.config` carries when git oompa turned `extensions.worktreeConfig` on, so
/// uninstalling turns it off again (and only then).
const EXTENSION_MARK: &str =
    "# git oompa turned extensions.worktreeConfig on; `git oompa hooks uninstall` turns it off.";

/// The hooks the guard directory forwards to your own, always. `reference-transaction` and
/// `pre-push` are the guards themselves (which also run yours).
pub const FORWARDED: [&str; 23] = [
    "applypatch-msg",
    "pre-applypatch",
    "post-applypatch",
    "pre-commit",
    "pre-merge-commit",
    "prepare-commit-msg",
    "commit-msg",
    "post-commit",
    "pre-rebase",
    "post-checkout",
    "post-merge",
    "pre-receive",
    "update",
    "post-receive",
    "post-update",
    "pre-auto-gc",
    "post-rewrite",
    "sendemail-validate",
    "post-index-change",
    "p4-changelist",
    "p4-prepare-changelist",
    "p4-post-changelist",
    "p4-pre-submit",
];
/// Hooks whose mere presence changes what git does (`push-to-checkout` replaces the update of
/// a pushed-to checkout, `proc-receive` takes over some pushed refs): forwarded only when you
/// have them.
pub const FORWARDED_IF_YOURS: [&str; 2] = ["push-to-checkout", "proc-receive"];

/// Set on every git command git oompa runs itself (`src/git/cli.rs`), so its own commits and
/// resets in worker worktrees do not start its own guard.
pub const OWN_GIT_ENV: &str = crate::agent_env::OWN_GIT;

/// The shipped text of a hook file or template: `pre-push` (the block for your hooks
/// directory), `guard` and `forward` (the guard directory's templates).
pub fn shipped(name: &str) -> Option<&'static str> {
    match name {
        "pre-push" => Some(include_str!("../../hooks/pre-push")),
        "guard" => Some(include_str!("../../hooks/guard")),
        "forward" => Some(include_str!("../../hooks/forward")),
        _ => None,
    }
}

/// What went wrong installing or removing a shim.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is a {interpreter} script; git oompa's shim is shell", path.display())]
    NotShell { path: PathBuf, interpreter: String },
    #[error("{} has a `{BEGIN}` line without its `{END}`", path.display())]
    BrokenMarkers { path: PathBuf },
    #[error(transparent)]
    Git(#[from] GitError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HookError + '_ {
    move |source| HookError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The state of one hook file (or one piece of the guard's config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Ours, current, and git will run it (or read it).
    Installed,
    /// Ours but differs from what this version installs.
    Outdated,
    /// Ours but the file is not executable, so git skips it.
    NotExecutable,
    /// The file is absent, or has nothing of ours.
    Missing,
    /// git oompa's `reference-transaction` block from before the guard directory, still in
    /// your hooks directory: every git command of yours starts a shell for it.
    OldLayout,
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            State::Installed => "installed",
            State::Outdated => "outdated",
            State::NotExecutable => "not executable",
            State::Missing => "missing",
            State::OldLayout => "old layout",
        })
    }
}

/// What installing did to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Created,
    /// Our block was added to the user's existing hook.
    AddedToExisting,
    Updated,
    Unchanged,
}

/// What uninstalling did to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// The file held only our block and is gone.
    RemovedFile,
    /// Our block is gone; the user's lines stay.
    RemovedBlock,
    NotInstalled,
}

/// One of your hooks directories (where `pre-push` goes), and the checkouts that use it.
#[derive(Debug, Clone)]
pub struct Location {
    pub dir: HooksDir,
    pub checkouts: Vec<PathBuf>,
}

/// A worker worktree, and whether its `config.worktree` includes the guard's config.
#[derive(Debug, Clone)]
pub struct WorkerCheckout {
    pub path: PathBuf,
    /// Its `$GIT_DIR/config.worktree`.
    pub config: PathBuf,
    pub guarded: bool,
}

/// Where everything git oompa installs goes, for one repository.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Your hooks directories (main checkout first), each with the checkouts using it; worker
    /// worktrees are not among them.
    pub user: Vec<Location>,
    /// `$GIT_COMMON_DIR/oompa/hooks`.
    pub guard_dir: PathBuf,
    /// `$GIT_COMMON_DIR/oompa/hooks.config`.
    pub guard_config: PathBuf,
    /// `$GIT_COMMON_DIR/config`, where `extensions.worktreeConfig` lives.
    pub common_config: PathBuf,
    /// Your `core.hooksPath` as the main checkout reads it (git oompa's own ignored), which the
    /// guard directory's forwarders follow.
    pub user_hooks_path: Option<String>,
    /// Your hooks directory as the main checkout resolves it.
    pub main_hooks: PathBuf,
    pub workers: Vec<WorkerCheckout>,
}

/// Where everything goes: your hooks directories, the guard, the worker worktrees.
pub fn layout(repo: &Repo, settings: &Settings) -> Result<Layout, GitError> {
    let common = repo
        .common_dir()
        .canonicalize()
        .unwrap_or_else(|_| repo.common_dir().to_path_buf());
    let cfg = guard_config(&common);
    let mut by_dir: BTreeMap<PathBuf, Location> = BTreeMap::new();
    let mut order = Vec::new();
    let mut workers = Vec::new();
    let mut main: Option<HooksDir> = None;
    let worker_dir = canonical(&settings.worktree_dir);
    for co in repo.checkouts()? {
        let Ok(r) = Repo::discover(&co.path) else {
            continue;
        };
        let linked = r.is_linked_worktree();
        let is_worker = linked
            && (co
                .branch
                .as_deref()
                .is_some_and(|b| b.starts_with(WORKER_BRANCH_PREFIX))
                || canonical(&co.path).starts_with(&worker_dir));
        if is_worker {
            let config = r.git_dir().join("config.worktree");
            let guarded = config_values_in(&config, "include", "path")
                .iter()
                .any(|v| v == WORKTREE_INCLUDE);
            workers.push(WorkerCheckout {
                path: co.path.clone(),
                config,
                guarded,
            });
            continue;
        }
        let dir = r.hooks_dir_ignoring(&cfg);
        if !linked && main.is_none() {
            main = Some(dir.clone());
        }
        let key = dir.path.clone();
        let loc = by_dir.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            Location {
                dir: dir.clone(),
                checkouts: Vec::new(),
            }
        });
        loc.checkouts.push(co.path.clone());
    }
    let main = main.unwrap_or_else(|| repo.hooks_dir_ignoring(&cfg));
    Ok(Layout {
        user: order
            .into_iter()
            .filter_map(|k| by_dir.remove(&k))
            .collect(),
        guard_dir: guard_dir(&common),
        guard_config: cfg,
        common_config: common.join("config"),
        user_hooks_path: main.configured,
        main_hooks: main.path,
        workers,
    })
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}

/// One row of `hooks status`: a file (or config entry) of git oompa's, and its state.
#[derive(Debug, Clone)]
pub struct Item {
    /// The hook, or `forwarders`, `hooks.config`, `extensions.worktreeConfig`,
    /// `config.worktree`.
    pub what: &'static str,
    pub path: PathBuf,
    pub state: State,
    /// Part of the guard (worker worktrees and agents), not your hooks directory.
    pub guard: bool,
    /// The checkouts that run it: yours for your hooks directory, the worker worktrees for
    /// the guard (agents run it too, wherever they are in the repository).
    pub checkouts: Vec<PathBuf>,
}

/// The state of everything git oompa installs: your hooks directories first, then the guard.
pub fn inspect_layout(layout: &Layout) -> Vec<Item> {
    let mut out: Vec<Item> = layout.user.iter().flat_map(inspect_user).collect();
    out.extend(inspect_guard(layout));
    for w in &layout.workers {
        out.push(Item {
            what: "config.worktree",
            path: w.config.clone(),
            state: if w.guarded {
                State::Installed
            } else {
                State::Missing
            },
            guard: true,
            checkouts: vec![w.path.clone()],
        });
    }
    out
}

/// One of your hooks directories: our hooks in it, and a reference-transaction of the old
/// layout left there.
fn inspect_user(loc: &Location) -> Vec<Item> {
    let mut out = Vec::new();
    for (name, path, state) in inspect(&loc.dir.path) {
        out.push(Item {
            what: name,
            path,
            state,
            guard: false,
            checkouts: loc.checkouts.clone(),
        });
    }
    let old = loc.dir.path.join("reference-transaction");
    if has_block(&old) {
        out.push(Item {
            what: "reference-transaction",
            path: old,
            state: State::OldLayout,
            guard: false,
            checkouts: loc.checkouts.clone(),
        });
    }
    out
}

/// The guard directory: its hooks, the forwarders, its config, and the
/// `extensions.worktreeConfig` the worker worktrees need to use it.
fn inspect_guard(layout: &Layout) -> Vec<Item> {
    let workers: Vec<PathBuf> = layout.workers.iter().map(|w| w.path.clone()).collect();
    let guard = |what, path: PathBuf, state| Item {
        what,
        path,
        state,
        guard: true,
        checkouts: workers.clone(),
    };
    let expected = guard_files(layout);
    let mut out = Vec::new();
    for name in HOOKS {
        let path = layout.guard_dir.join(name);
        let want = &expected[name];
        out.push(guard(name, path.clone(), file_state(&path, want)));
    }
    out.push(guard(
        "forwarders",
        layout.guard_dir.clone(),
        forwarders_state(layout, &expected),
    ));
    let config_state = match std::fs::read_to_string(&layout.guard_config) {
        Err(_) => State::Missing,
        Ok(text) if text == guard_config_text(layout, text.contains(EXTENSION_MARK)) => {
            State::Installed
        }
        Ok(_) => State::Outdated,
    };
    out.push(guard(
        "hooks.config",
        layout.guard_config.clone(),
        config_state,
    ));
    let ext = if extension_on(&layout.common_config) {
        State::Installed
    } else {
        State::Missing
    };
    out.push(guard(
        "extensions.worktreeConfig",
        layout.common_config.clone(),
        ext,
    ));
    out
}

/// The worst state of the forwarders in the guard directory: each one `expected` as it
/// should be, and none left for a hook of yours that is gone.
fn forwarders_state(layout: &Layout, expected: &BTreeMap<&'static str, String>) -> State {
    let mut forwarders = State::Installed;
    for (name, want) in expected {
        if HOOKS.contains(name) {
            continue;
        }
        let s = file_state(&layout.guard_dir.join(name), want);
        forwarders = worse(forwarders, s);
    }
    for name in FORWARDED_IF_YOURS {
        if !expected.contains_key(name) && layout.guard_dir.join(name).exists() {
            forwarders = worse(forwarders, State::Outdated);
        }
    }
    forwarders
}

/// The less healthy of two states.
fn worse(a: State, b: State) -> State {
    let rank = |s: State| match s {
        State::Installed => 0,
        State::NotExecutable => 1,
        State::Outdated | State::OldLayout => 2,
        State::Missing => 3,
    };
    if rank(b) > rank(a) { b } else { a }
}

fn file_state(path: &Path, want: &str) -> State {
    match std::fs::read_to_string(path) {
        Err(_) => State::Missing,
        Ok(text) if text != want => State::Outdated,
        Ok(_) if !is_executable(path) => State::NotExecutable,
        Ok(_) => State::Installed,
    }
}

/// The state of each of our hooks in one of your hooks directories.
pub fn inspect(dir: &Path) -> Vec<(&'static str, PathBuf, State)> {
    USER_HOOKS
        .iter()
        .map(|name| {
            let path = dir.join(name);
            (*name, path.clone(), state_of(name, &path))
        })
        .collect()
}

fn state_of(name: &str, path: &Path) -> State {
    let Ok(text) = std::fs::read_to_string(path) else {
        return State::Missing;
    };
    let Ok(Some((start, end))) = block_range(&text, path) else {
        return State::Missing;
    };
    let lines: Vec<&str> = text.lines().collect();
    let current = lines[start..=end].join("\n") + "\n";
    if current != block_for(name, has_other_content(&text)) {
        return State::Outdated;
    }
    if !is_executable(path) {
        return State::NotExecutable;
    }
    State::Installed
}

/// Whether the file has a block of ours.
fn has_block(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .ok()
        .is_some_and(|t| t.lines().any(|l| l.trim() == BEGIN))
}

/// The shell expression, inside a hook running from the guard directory, for the directory
/// your own hooks are in: `core.hooksPath` as you set it (relative to where git runs the
/// hook, `~` your home), else the repository's `hooks` directory next to `oompa/` (found from
/// the hook's own path, so it follows the repository when it moves).
pub fn user_hooks_expr(configured: Option<&str>) -> String {
    match configured {
        None => "\"${0%/oompa/hooks/*}/hooks\"".to_string(),
        Some(p) => {
            if let Some(rest) = p.strip_prefix("~/") {
                format!("\"$HOME\"/{}", sh_quote(rest))
            } else if Path::new(p).is_absolute() {
                sh_quote(p)
            } else {
                format!("\"$PWD\"/{}", sh_quote(p))
            }
        }
    }
}

/// `s` in single quotes for sh.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Every file of the guard directory with its content, for this layout: the two guards and
/// the forwarders (those in [`FORWARDED_IF_YOURS`] only when your hooks directory has them).
fn guard_files(layout: &Layout) -> BTreeMap<&'static str, String> {
    let user = user_hooks_expr(layout.user_hooks_path.as_deref());
    let mut out = BTreeMap::new();
    for name in HOOKS {
        out.insert(name, guard_script(name, &user));
    }
    for name in FORWARDED {
        out.insert(name, forward_script(name, &user));
    }
    for name in FORWARDED_IF_YOURS {
        if layout.main_hooks.join(name).is_file() {
            out.insert(name, forward_script(name, &user));
        }
    }
    out
}

/// The guard for `name` (`hooks/guard` filled in).
pub fn guard_script(name: &str, user: &str) -> String {
    let skip = if name == "reference-transaction" {
        // Git runs it for every state of every ref update; only `prepared` can refuse, and
        // git oompa's own git calls never move a target.
        format!("[ \"$1\" != prepared ] || [ -n \"${OWN_GIT_ENV}\" ]")
    } else {
        "false".to_string()
    };
    shipped("guard")
        .expect("shipped")
        .replace("@SKIP@", &skip)
        .replace("@USER_HOOKS@", user)
        .replace("@NAME@", name)
}

/// The forwarder for `name` (`hooks/forward` filled in).
pub fn forward_script(name: &str, user: &str) -> String {
    shipped("forward")
        .expect("shipped")
        .replace("@USER_HOOKS@", user)
        .replace("@NAME@", name)
}

/// `hooks.config`: `core.hooksPath` pointing at the guard directory (absolute: git resolves
/// a relative one from each checkout's root).
fn guard_config_text(layout: &Layout, extension_mark: bool) -> String {
    let dir = layout.guard_dir.to_string_lossy();
    let mut escaped = String::new();
    for c in dir.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            '\t' => escaped.push_str("\\t"),
            c => escaped.push(c),
        }
    }
    let mut text = String::from(
        "# git oompa: worker worktrees (through their config.worktree) and agents (through their\n\
         # environment) run hooks from the directory below. `git oompa hooks uninstall` removes\n\
         # this file.\n",
    );
    if extension_mark {
        text.push_str(EXTENSION_MARK);
        text.push('\n');
    }
    text.push_str(&format!("[core]\n\thooksPath = \"{escaped}\"\n"));
    text
}

/// One hook file and what installing did to it.
pub type FileChange = (&'static str, PathBuf, Change);
/// One hook file and what uninstalling did to it.
pub type FileRemoval = (&'static str, PathBuf, Removal);

/// What [`install_all`] did.
#[derive(Debug, Default)]
pub struct Installed {
    /// Per hooks directory of yours: what happened to each shim there.
    pub user: Vec<(PathBuf, Vec<FileChange>)>,
    /// Your hooks directories whose old `reference-transaction` block was removed.
    pub moved: Vec<PathBuf>,
    /// What happened to the guard directory and its config, as a whole.
    pub guard: Option<Change>,
    /// `extensions.worktreeConfig` was turned on.
    pub extension: bool,
    /// Worker worktrees pointed at the guard just now.
    pub workers: Vec<PathBuf>,
}

/// Installs everything: the guard directory and its config first, then the worker worktrees'
/// includes, then your hooks directories (`pre-push`, and the old `reference-transaction`
/// block removed), so no worktree is ever left without a guard on the way.
pub fn install_all(repo: &Repo, settings: &Settings) -> Result<Installed, HookError> {
    let layout = layout(repo, settings)?;
    let mut out = Installed::default();
    let mut change = write_guard(&layout)?;
    if !extension_on(&layout.common_config) {
        repo.set_config_in(
            &layout.common_config,
            "extensions",
            "worktreeConfig",
            "true",
        )?;
        out.extension = true;
        write_atomically(&layout.guard_config, &guard_config_text(&layout, true))?;
        if change == Change::Unchanged {
            change = Change::Updated;
        }
    }
    out.guard = Some(change);
    for w in &layout.workers {
        if repo.add_config_in(&w.config, "include", "path", WORKTREE_INCLUDE)? {
            out.workers.push(w.path.clone());
        }
    }
    for loc in &layout.user {
        let dir = &loc.dir.path;
        let done = install(dir)?;
        out.user.push((dir.clone(), done));
        let old = dir.join("reference-transaction");
        if has_block(&old) {
            uninstall_one(&old)?;
            out.moved.push(dir.clone());
        }
    }
    Ok(out)
}

/// Writes the guard directory and `hooks.config` for `layout`; stale forwarders go.
fn write_guard(layout: &Layout) -> Result<Change, HookError> {
    let dir = &layout.guard_dir;
    let fresh = !dir.is_dir();
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut changed = false;
    let files = guard_files(layout);
    for (name, text) in &files {
        let path = dir.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            write_atomically(&path, text)?;
            changed = true;
        }
        if !is_executable(&path) {
            make_executable(&path)?;
            changed = true;
        }
    }
    for name in FORWARDED_IF_YOURS {
        let path = dir.join(name);
        if !files.contains_key(name) && path.is_file() {
            std::fs::remove_file(&path).map_err(io(&path))?;
            changed = true;
        }
    }
    let mark = std::fs::read_to_string(&layout.guard_config)
        .ok()
        .is_some_and(|t| t.contains(EXTENSION_MARK));
    let text = guard_config_text(layout, mark);
    if std::fs::read_to_string(&layout.guard_config)
        .ok()
        .as_deref()
        != Some(text.as_str())
    {
        write_atomically(&layout.guard_config, &text)?;
        changed = true;
    }
    Ok(if fresh {
        Change::Created
    } else if changed {
        Change::Updated
    } else {
        Change::Unchanged
    })
}

pub use crate::git::include::{agent_env, guard_worktree};

/// Installs (or refreshes) every shim in one of your hooks directories, creating it if needed.
pub fn install(dir: &Path) -> Result<Vec<FileChange>, HookError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut out = Vec::new();
    for name in USER_HOOKS {
        let path = dir.join(name);
        let change = install_one(name, &path)?;
        out.push((name, path, change));
    }
    Ok(out)
}

fn install_one(name: &str, path: &Path) -> Result<Change, HookError> {
    let existing = match std::fs::read_to_string(path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(path)(e)),
    };
    let (text, change) = match existing.as_deref() {
        None => (shipped_text(name), Change::Created),
        Some(t) if t.trim().is_empty() => (shipped_text(name), Change::Created),
        Some(t) => match block_range(t, path)? {
            Some(range) => {
                let new = replace_block(t, range, name);
                let change = if new == t {
                    Change::Unchanged
                } else {
                    Change::Updated
                };
                (new, change)
            }
            None => (insert_block(t, name, path)?, Change::AddedToExisting),
        },
    };
    if change != Change::Unchanged {
        write_atomically(path, &text)?;
    }
    if !is_executable(path) {
        make_executable(path)?;
        if change == Change::Unchanged {
            return Ok(Change::Updated);
        }
    }
    Ok(change)
}

/// What [`uninstall_all`] did.
#[derive(Debug, Default)]
pub struct Uninstalled {
    /// Per hooks directory of yours: what happened to each file of ours there (the old
    /// `reference-transaction` block included).
    pub user: Vec<(PathBuf, Vec<FileRemoval>)>,
    /// The guard directory's files were removed.
    pub guard: bool,
    /// Checkouts whose `config.worktree` include was removed.
    pub workers: Vec<PathBuf>,
    /// What happened to `extensions.worktreeConfig`.
    pub extension: ExtensionRemoval,
}

/// What uninstalling did with `extensions.worktreeConfig`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub enum ExtensionRemoval {
    /// git oompa had not turned it on: left as it is.
    #[default]
    NotOurs,
    /// Turned off again.
    TurnedOff,
    /// git oompa turned it on, but these `config.worktree` files now hold settings of
    /// someone else's: left on.
    InUse(Vec<PathBuf>),
}

/// Removes everything [`install_all`] added: the includes first (so no worktree points at a
/// guard that is gone), the guard directory and its config, `extensions.worktreeConfig` when
/// git oompa turned it on and nothing else uses it, and the blocks in your hooks directories.
pub fn uninstall_all(repo: &Repo, settings: &Settings) -> Result<Uninstalled, HookError> {
    let layout = layout(repo, settings)?;
    let mut out = Uninstalled::default();
    let common = canonical(repo.common_dir());
    let mut config_worktrees = vec![common.join("config.worktree")];
    if let Ok(entries) = std::fs::read_dir(common.join("worktrees")) {
        for e in entries.flatten() {
            config_worktrees.push(e.path().join("config.worktree"));
        }
    }
    for cw in &config_worktrees {
        if repo.remove_config_in(cw, "include", "path", Some(WORKTREE_INCLUDE))? {
            let checkout = std::fs::read_to_string(cw.with_file_name("gitdir"))
                .ok()
                .and_then(|p| Path::new(p.trim()).parent().map(Path::to_path_buf))
                .unwrap_or_else(|| cw.clone());
            out.workers.push(checkout);
        }
    }
    let mark = std::fs::read_to_string(&layout.guard_config)
        .ok()
        .is_some_and(|t| t.contains(EXTENSION_MARK));
    for name in HOOKS
        .iter()
        .chain(FORWARDED.iter())
        .chain(FORWARDED_IF_YOURS.iter())
    {
        let path = layout.guard_dir.join(name);
        if path.is_file() {
            std::fs::remove_file(&path).map_err(io(&path))?;
            out.guard = true;
        }
    }
    // Only when nothing of anyone else's was put there.
    let _ = std::fs::remove_dir(&layout.guard_dir);
    if layout.guard_config.is_file() {
        std::fs::remove_file(&layout.guard_config).map_err(io(&layout.guard_config))?;
        out.guard = true;
    }
    if mark && extension_on(&layout.common_config) {
        let in_use: Vec<PathBuf> = config_worktrees
            .into_iter()
            .filter(|p| {
                std::fs::read_to_string(p)
                    .ok()
                    .is_some_and(|t| !crate::git::inspect::config_entries(&t).is_empty())
            })
            .collect();
        if in_use.is_empty() {
            repo.remove_config_in(&layout.common_config, "extensions", "worktreeConfig", None)?;
            out.extension = ExtensionRemoval::TurnedOff;
        } else {
            out.extension = ExtensionRemoval::InUse(in_use);
        }
    }
    for loc in &layout.user {
        let dir = &loc.dir.path;
        let mut done = Vec::new();
        for name in USER_HOOKS.iter().chain(["reference-transaction"].iter()) {
            let path = dir.join(name);
            let removal = uninstall_one(&path)?;
            done.push((*name, path, removal));
        }
        out.user.push((dir.clone(), done));
    }
    Ok(out)
}

/// Removes our block from one hook file; a file left with nothing of the user's is deleted.
fn uninstall_one(path: &Path) -> Result<Removal, HookError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Removal::NotInstalled),
        Err(e) => return Err(io(path)(e)),
    };
    let Some((start, end)) = block_range(&text, path)? else {
        return Ok(Removal::NotInstalled);
    };
    let rest: Vec<&str> = text
        .lines()
        .enumerate()
        .filter(|(i, _)| *i < start || *i > end)
        .map(|(_, l)| l)
        .collect();
    let only_shebang = rest
        .iter()
        .enumerate()
        .all(|(i, l)| l.trim().is_empty() || (i == 0 && l.starts_with("#!")));
    if only_shebang {
        std::fs::remove_file(path).map_err(io(path))?;
        Ok(Removal::RemovedFile)
    } else {
        write_atomically(path, &(rest.join("\n") + "\n"))?;
        Ok(Removal::RemovedBlock)
    }
}

/// The whole shipped file (shebang and standalone block).
fn shipped_text(name: &str) -> String {
    shipped(name)
        .expect("only our hook names get here")
        .to_string()
}

/// Our block for `name`: as shipped when the file is ours alone, else the variant that
/// keeps stdin for the user's lines.
fn block_for(name: &str, shared: bool) -> String {
    if shared {
        shared_block(name)
    } else {
        let text = shipped_text(name);
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.iter().position(|l| l.trim() == BEGIN).expect("shim");
        let end = lines.iter().position(|l| l.trim() == END).expect("shim");
        lines[start..=end].join("\n") + "\n"
    }
}

/// The block used when the hook file has lines of the user's after it: stdin is saved so
/// both our check and the user's lines read it.
fn shared_block(name: &str) -> String {
    let what = "git oompa's pre-push guard: refuses to publish unmerged claims (`git push --no-verify` skips it).";
    format!(
        "{BEGIN}\n# {what}\n# `git oompa hooks uninstall` removes this block; your lines below \
         still run, with the same input.\n\
         if command -v git-oompa >/dev/null 2>&1; then\n  \
         oompa_in=$(mktemp) && cat >\"$oompa_in\" && {{\n    \
         git oompa hook {name} \"$@\" <\"$oompa_in\" || {{ rm -f \"$oompa_in\"; exit 1; }}\n    \
         exec <\"$oompa_in\"; rm -f \"$oompa_in\"\n  \
         }}\nelse\n  \
         echo \"warning: git-oompa is not on PATH; its {name} check was skipped\" >&2\nfi\n{END}\n"
    )
}

/// The line range (inclusive) of our block, if the file has one.
fn block_range(text: &str, path: &Path) -> Result<Option<(usize, usize)>, HookError> {
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = lines.iter().position(|l| l.trim() == BEGIN) else {
        return Ok(None);
    };
    match lines[start..].iter().position(|l| l.trim() == END) {
        Some(len) => Ok(Some((start, start + len))),
        None => Err(HookError::BrokenMarkers {
            path: path.to_path_buf(),
        }),
    }
}

/// Whether the file has lines that are not ours, a `#!` line or blank.
fn has_other_content(text: &str) -> bool {
    let lines: Vec<&str> = text.lines().collect();
    let range = lines.iter().position(|l| l.trim() == BEGIN).and_then(|s| {
        lines[s..]
            .iter()
            .position(|l| l.trim() == END)
            .map(|n| (s, s + n))
    });
    lines.iter().enumerate().any(|(i, l)| {
        let ours = range.is_some_and(|(s, e)| i >= s && i <= e);
        let shebang = i == 0 && l.starts_with("#!");
        !(ours || shebang || l.trim().is_empty())
    })
}

fn replace_block(text: &str, (start, end): (usize, usize), name: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let block = block_for(name, has_other_content(text));
    let mut out = String::new();
    for l in &lines[..start] {
        out.push_str(l);
        out.push('\n');
    }
    out.push_str(&block);
    for l in &lines[end + 1..] {
        out.push_str(l);
        out.push('\n');
    }
    out
}

fn insert_block(text: &str, name: &str, path: &Path) -> Result<String, HookError> {
    let mut lines = text.lines();
    let first = text.lines().next().unwrap_or("");
    let mut out = String::new();
    if let Some(interp) = first.strip_prefix("#!") {
        if !is_shell(interp) {
            return Err(HookError::NotShell {
                path: path.to_path_buf(),
                interpreter: interp.trim().to_string(),
            });
        }
        out.push_str(first);
        out.push('\n');
        lines.next();
    }
    out.push_str(&shared_block(name));
    for l in lines {
        out.push_str(l);
        out.push('\n');
    }
    Ok(out)
}

/// Whether a `#!` line names a POSIX-compatible shell.
fn is_shell(interp: &str) -> bool {
    let mut words = interp.split_whitespace();
    let Some(prog) = words.next() else {
        return false;
    };
    let prog = Path::new(prog)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("");
    let prog = if prog == "env" {
        words.find(|w| !w.starts_with('-')).unwrap_or("")
    } else {
        prog
    };
    matches!(
        prog,
        "sh" | "bash" | "dash" | "ksh" | "zsh" | "ash" | "mksh"
    )
}

/// [`crate::store::layout::write_atomic`], which keeps the mode of the file being replaced
/// (its executable bit in particular).
fn write_atomically(path: &Path, text: &str) -> Result<(), HookError> {
    crate::store::layout::write_atomic(path, text.as_bytes()).map_err(io(path))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

#[cfg(unix)]
fn make_executable(path: &Path) -> Result<(), HookError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(io(path))?;
    let mut perm = meta.permissions();
    // Executable for whoever may read it, like `chmod +x`.
    perm.set_mode(perm.mode() | ((perm.mode() & 0o444) >> 2));
    std::fs::set_permissions(path, perm).map_err(io(path))
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) -> Result<(), HookError> {
    Ok(())
}

/// Whether `git-oompa` can be found on `PATH` (what the shims check first).
pub fn binary_on_path() -> bool {
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| {
            let f = d.join("git-oompa");
            f.is_file() && is_executable(&f)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_blocks_are_well_formed() {
        for name in USER_HOOKS {
            let text = shipped_text(name);
            assert!(text.starts_with("#!/bin/sh\n"), "{name}");
            assert!(
                text.contains(&format!("git oompa hook {name} \"$@\"")),
                "{name}"
            );
            assert_eq!(
                block_range(&text, Path::new(name)).expect("test fixture"),
                Some((1, text.lines().count() - 1))
            );
            assert!(!has_other_content(&text));
            assert!(shared_block(name).contains(&format!("git oompa hook {name} \"$@\"")));
        }
    }

    #[test]
    fn guard_scripts_are_filled_in_and_valid_shell() {
        let user = user_hooks_expr(None);
        for name in HOOKS {
            let text = guard_script(name, &user);
            for p in ["@NAME@", "@SKIP@", "@USER_HOOKS@"] {
                assert!(!text.contains(p), "{text}");
            }
            assert!(text.contains(&format!("git oompa hook {name} \"$@\"")));
            assert!(
                text.contains(&format!("oompa_hook={user}/{name}\n")),
                "{text}"
            );
            let syntax = std::process::Command::new("sh")
                .args(["-n", "-c", &text])
                .status()
                .expect("sh");
            assert!(syntax.success(), "{text}");
        }
        // Only the reference-transaction guard skips states and git oompa's own git.
        assert!(guard_script("reference-transaction", &user).contains(OWN_GIT_ENV));
        assert!(!guard_script("pre-push", &user).contains(OWN_GIT_ENV));
        let fwd = forward_script("pre-commit", &user_hooks_expr(Some(".githooks")));
        assert!(
            fwd.contains("oompa_hook=\"$PWD\"/'.githooks'/pre-commit\n"),
            "{fwd}"
        );
        assert_eq!(user_hooks_expr(Some("/a b/it's")), "'/a b/it'\\''s'");
        assert_eq!(user_hooks_expr(Some("~/hooks")), "\"$HOME\"/'hooks'");
    }

    #[test]
    fn insert_keeps_user_lines_and_replace_is_idempotent() {
        let user = "#!/bin/bash\necho mine\n";
        let with = insert_block(user, "pre-push", Path::new("x")).expect("test fixture");
        assert!(
            with.starts_with("#!/bin/bash\n# >>> git-oompa >>>\n"),
            "{with}"
        );
        assert!(with.ends_with("# <<< git-oompa <<<\necho mine\n"), "{with}");
        let range = block_range(&with, Path::new("x"))
            .expect("test fixture")
            .expect("test fixture");
        assert_eq!(replace_block(&with, range, "pre-push"), with);
        let err = insert_block("#!/usr/bin/env python3\n", "pre-push", Path::new("x"));
        assert!(matches!(err, Err(HookError::NotShell { .. })));
        assert!(is_shell("/usr/bin/env bash"));
        assert!(is_shell(" /bin/sh -e"));
    }
}
