//! `git oompa init`: prepares a repository for swarms. Idempotent: running it again only
//! reports what is already in place.

use std::path::Path;

use super::{CommandError, Env};
use crate::git::Repo;
use crate::store::{QUEUE_REF, Queue};

/// Prepare this repository: task queue ref, oompa.toml skeleton, excludes, hooks
#[derive(Debug, clap::Args)]
#[command(long_about = "Prepare this repository for git oompa.\n\n\
Creates the empty task queue (refs/oompa/tasks), writes a commented oompa.toml skeleton when\n\
the repository has no oompa.toml or oompa.json, adds the worktree directory (.oompa/) to\n\
.git/info/exclude so worker worktrees never show up in `git status`, installs the pre-push\n\
and reference-transaction hooks (see `git oompa hooks`), and adds refs/oompa/* to\n\
log.excludeDecoration so `git log --decorate` stays clean. Safe to run again.")]
pub struct Args {}

/// The skeleton `init` writes; every key is explained in it.
pub use crate::config::SKELETON;

/// The directory (relative to the work tree root) that holds worktrees and transcripts.
pub const OOMPA_DIR: &str = ".oompa";

pub fn run(env: &Env, _args: Args) -> Result<(), CommandError> {
    let repo = env.repo()?;
    let ui = &env.ui;
    if Queue::new(&repo).init()? {
        ui.status(format!("created {QUEUE_REF} (an empty task queue)"));
    } else {
        ui.status(format!("{QUEUE_REF} already exists"));
    }

    let root = repo.main_workdir();
    let existing = ["oompa.toml", "oompa.json", "oompa/oompa.json"]
        .into_iter()
        .find(|p| root.join(p).is_file());
    let suggestion = crate::swarm::gate::suggest::suggest(&root)
        .into_iter()
        .next();
    match existing {
        Some(p) => {
            ui.status(format!("{p} already exists; left as it is"));
            let text = std::fs::read_to_string(root.join(p)).unwrap_or_default();
            let gated = text.lines().any(|l| l.trim() == "[gate]");
            if let Some(s) = suggestion.filter(|_| !gated && p.ends_with(".toml")) {
                ui.hint(format!(
                    "this repository looks tested by `{}` ({}); to check every landing with \
                     it, add to {p}:\n    [gate]\n    command = \"{}\"",
                    s.command, s.because, s.command
                ));
            }
        }
        None => {
            let path = root.join("oompa.toml");
            let text = match &suggestion {
                Some(s) => skeleton_with_gate(&s.command, &s.because),
                None => SKELETON.to_string(),
            };
            std::fs::write(&path, text)
                .map_err(|e| CommandError::user(format!("writing {}: {e}", path.display())))?;
            ui.status("wrote oompa.toml (a commented skeleton: set your workers' models there)");
            if let Some(s) = &suggestion {
                ui.status(format!(
                    "suggested a landing gate in oompa.toml, commented out: `{}` (from {}); \
                     uncomment its [gate] lines to check every landing with it",
                    s.command, s.because
                ));
            }
        }
    }

    let pattern = format!("/{OOMPA_DIR}/");
    if add_exclude(&repo, &pattern)? {
        ui.status(format!("added {pattern} to .git/info/exclude"));
    } else {
        ui.status(format!("{pattern} is already in .git/info/exclude"));
    }

    super::hooks::install(env, &repo, &crate::guard::Settings::resolve(&repo))?;
    let decoration = crate::guard::doctor::EXCLUDE_DECORATION;
    if repo.add_local_config("log", "excludeDecoration", decoration)? {
        ui.status(format!("added {decoration} to log.excludeDecoration"));
    } else {
        ui.status(format!("log.excludeDecoration already has {decoration}"));
    }
    ui.hint("add tasks with `git oompa task add`, then start a swarm with `git oompa swarm`");
    Ok(())
}

/// The skeleton with its example gate replaced by the suggested command (still commented).
pub fn skeleton_with_gate(command: &str, because: &str) -> String {
    let example = "# [gate]\n# command = [\"make test\"]\n";
    let quoted = serde_json::to_string(command).expect("a string always serializes");
    SKELETON.replace(
        example,
        &format!(
            "# git oompa init found {because}: uncomment the next two lines to gate every landing.\n\
             # [gate]\n# command = {quoted}\n"
        ),
    )
}

/// Appends `pattern` to `$GIT_COMMON_DIR/info/exclude` unless it is there. Returns whether
/// it was added.
pub fn add_exclude(repo: &Repo, pattern: &str) -> Result<bool, CommandError> {
    let path = repo.common_dir().join("info").join("exclude");
    let current = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(CommandError::user(format!(
                "reading {}: {e}",
                path.display()
            )));
        }
    };
    if current.lines().any(|l| l.trim() == pattern) {
        return Ok(false);
    }
    write_exclude(&path, &current, pattern)
        .map_err(|e| CommandError::user(format!("writing {}: {e}", path.display())))?;
    Ok(true)
}

fn write_exclude(path: &Path, current: &str, pattern: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut text = current.to_string();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("# git oompa worktrees and transcripts\n");
    text.push_str(pattern);
    text.push('\n');
    std::fs::write(path, text)
}
