//! Installing the shipped hook shims (`hooks/` in the source tree) where git will run them.
//!
//! A shim is a block between the marker lines [`BEGIN`] and [`END`]. A hook file that is only
//! ours gets the block exactly as shipped (it `exec`s `git oompa hook <name>`). A hook the user
//! already has keeps all of its lines: the block goes right after its `#!` line, in a variant
//! that saves stdin to a temporary file so the user's lines still read the same input.
//! Uninstalling removes the block and, when nothing of the user's is left, the file.
//!
//! The directory is the one git uses for each checkout: `core.hooksPath` (relative to that
//! checkout's root when relative) or `$GIT_COMMON_DIR/hooks`, which linked worktrees share.
//! This module never prints.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Settings, WORKER_BRANCH_PREFIX};
use crate::git::inspect::HooksDir;
use crate::git::{GitError, Repo};

/// The hooks git oompa installs.
pub const HOOKS: [&str; 2] = ["pre-push", "reference-transaction"];
/// First line of our block.
pub const BEGIN: &str = "# >>> git-oompa >>>";
/// Last line of our block.
pub const END: &str = "# <<< git-oompa <<<";

/// The shell condition under which the `reference-transaction` shim lets git go on without
/// starting `git-oompa` (the hook runs for every ref update of every git command, and a
/// process start is most of its cost): states other than `prepared`, git oompa's own git calls
/// ([`OWN_GIT_ENV`] set), and a command outside any agent (`OOMPA_WORKER` unset) in the main
/// worktree. Git sets `GIT_DIR` for linked worktrees (whose git dir has a `commondir` file);
/// in the main worktree it leaves it unset and runs the hook at the root, next to `.git/`.
/// The same test as [`super::ref_txn::plainly_main_worktree`], in the shell.
pub const REF_TXN_SKIP: &str = "[ \"$1\" != prepared ] || [ -n \"$OOMPA_OWN_GIT\" ] || { [ -z \"$OOMPA_WORKER\" ] && if [ -n \"$GIT_DIR\" ]; then [ ! -f \"$GIT_DIR/commondir\" ]; else [ -d .git ]; fi; }";

/// Set on every git command git oompa runs itself (`src/git/cli.rs`), so its own commits and
/// resets in worker worktrees do not start its own guard.
pub const OWN_GIT_ENV: &str = "OOMPA_OWN_GIT";

/// The shipped shim for `name`, as a whole file.
pub fn shipped(name: &str) -> Option<&'static str> {
    match name {
        "pre-push" => Some(include_str!("../../hooks/pre-push")),
        "reference-transaction" => Some(include_str!("../../hooks/reference-transaction")),
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

/// The state of one hook file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Our current block is there and git will run the file.
    Installed,
    /// Our block is there but differs from what this version installs.
    Outdated,
    /// Our block is there but the file is not executable, so git skips it.
    NotExecutable,
    /// The file is absent, or has no block of ours.
    Missing,
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            State::Installed => "installed",
            State::Outdated => "outdated",
            State::NotExecutable => "not executable",
            State::Missing => "missing",
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

/// A directory git runs hooks from, and the checkouts that use it.
#[derive(Debug, Clone)]
pub struct Location {
    pub dir: HooksDir,
    pub checkouts: Vec<PathBuf>,
    /// Every checkout using it is a worker worktree, and it is inside one (a relative
    /// `core.hooksPath`): writing there would dirty the worker's checkout.
    pub worker_only: bool,
}

/// The distinct hook directories of every checkout (main first).
pub fn locations(repo: &Repo, settings: &Settings) -> Result<Vec<Location>, GitError> {
    let mut by_dir: BTreeMap<PathBuf, Location> = BTreeMap::new();
    let mut order = Vec::new();
    let worker_dir = settings
        .worktree_dir
        .canonicalize()
        .unwrap_or_else(|_| settings.worktree_dir.clone());
    for co in repo.checkouts()? {
        let Ok(r) = Repo::discover(&co.path) else {
            continue;
        };
        let dir = r.hooks_dir();
        let is_worker = co
            .branch
            .as_deref()
            .is_some_and(|b| b.starts_with(WORKER_BRANCH_PREFIX))
            || co
                .path
                .canonicalize()
                .unwrap_or_else(|_| co.path.clone())
                .starts_with(&worker_dir);
        let key = dir.path.clone();
        let loc = by_dir.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            Location {
                worker_only: true,
                dir: dir.clone(),
                checkouts: Vec::new(),
            }
        });
        loc.checkouts.push(co.path.clone());
        loc.worker_only &= is_worker && dir.is_relative();
    }
    Ok(order
        .into_iter()
        .filter_map(|k| by_dir.remove(&k))
        .collect())
}

/// The state of each of our hooks in `dir`.
pub fn inspect(dir: &Path) -> Vec<(&'static str, PathBuf, State)> {
    HOOKS
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

/// Installs (or refreshes) every shim in `dir`, creating the directory if needed.
pub fn install(dir: &Path) -> Result<Vec<(&'static str, PathBuf, Change)>, HookError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut out = Vec::new();
    for name in HOOKS {
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

/// Removes our block from every hook in `dir`; a file left with nothing of the user's is
/// deleted.
pub fn uninstall(dir: &Path) -> Result<Vec<(&'static str, PathBuf, Removal)>, HookError> {
    let mut out = Vec::new();
    for name in HOOKS {
        let path = dir.join(name);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                out.push((name, path, Removal::NotInstalled));
                continue;
            }
            Err(e) => return Err(io(&path)(e)),
        };
        let Some((start, end)) = block_range(&text, &path)? else {
            out.push((name, path, Removal::NotInstalled));
            continue;
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
            std::fs::remove_file(&path).map_err(io(&path))?;
            out.push((name, path, Removal::RemovedFile));
        } else {
            write_atomically(&path, &(rest.join("\n") + "\n"))?;
            out.push((name, path, Removal::RemovedBlock));
        }
    }
    Ok(out)
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
    let what = if name == "pre-push" {
        "git oompa's pre-push guard: refuses to publish unmerged claims (`git push --no-verify` skips it)."
    } else {
        "git oompa's guard: agents in worker worktrees cannot move the target branch around the merge queue."
    };
    let run = format!(
        "command -v git-oompa >/dev/null 2>&1; then\n  \
         oompa_in=$(mktemp) && cat >\"$oompa_in\" && {{\n    \
         git oompa hook {name} \"$@\" <\"$oompa_in\" || {{ rm -f \"$oompa_in\"; exit 1; }}\n    \
         exec <\"$oompa_in\"; rm -f \"$oompa_in\"\n  \
         }}\nelse\n  \
         echo \"warning: git-oompa is not on PATH; its {name} check was skipped\" >&2\nfi\n"
    );
    let cond = if name == "reference-transaction" {
        format!("if {REF_TXN_SKIP}; then\n  :\nelif ")
    } else {
        "if ".to_string()
    };
    format!(
        "{BEGIN}\n# {what}\n# `git oompa hooks uninstall` removes this block; your lines below \
         still run, with the same input.\n{cond}{run}{END}\n"
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

fn write_atomically(path: &Path, text: &str) -> Result<(), HookError> {
    let tmp = path.with_extension("oompa-tmp");
    std::fs::write(&tmp, text).map_err(io(&tmp))?;
    // Keep the mode of the file being replaced (its executable bit in particular).
    if let Ok(meta) = std::fs::metadata(path) {
        std::fs::set_permissions(&tmp, meta.permissions()).map_err(io(&tmp))?;
    }
    std::fs::rename(&tmp, path).map_err(io(path))
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
        for name in HOOKS {
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
        // The shipped shim and the shared variant decide the same way.
        let shipped = shipped_text("reference-transaction");
        assert!(
            shipped.contains(&format!("if {REF_TXN_SKIP}; then exit 0; fi")),
            "{shipped}"
        );
        assert!(shared_block("reference-transaction").contains(REF_TXN_SKIP));
        assert!(REF_TXN_SKIP.contains(OWN_GIT_ENV));
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
