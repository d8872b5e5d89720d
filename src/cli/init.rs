//! `git oompa init`: prepares a repository for swarms. Idempotent: running it again only
//! reports what is already in place.

use std::path::Path;

use super::ui::BOLD;
use super::{CommandError, Env};
use crate::git::Repo;
use crate::store::{QUEUE_REF, Queue};

/// Prepare this repository: task queue ref, oompa.toml skeleton, excludes, hooks
#[derive(Debug, clap::Args)]
#[command(long_about = "Prepare this repository for git oompa.\n\n\
Creates the empty task queue (refs/oompa/tasks), writes a commented oompa.toml skeleton when\n\
the repository has no oompa.toml or oompa.json, adds the worktree directory (.oompa/) to\n\
.git/info/exclude so worker worktrees never show up in `git status`, installs the pre-push\n\
hook and the worker guard (see `git oompa hooks`), and adds refs/oompa/* to\n\
log.excludeDecoration so `git log --decorate` stays clean. Safe to run again.")]
pub struct Args {}

/// The skeleton `init` writes; every key is explained in it.
pub use crate::config::SKELETON;

pub fn run(env: &Env, _args: Args) -> Result<(), CommandError> {
    let repo = env.repo()?;
    let ui = &env.ui;
    if Queue::new(&repo).init()? {
        ui.status(format!("created {QUEUE_REF} (an empty task queue)"));
    } else {
        ui.status(format!("{QUEUE_REF} already exists"));
    }

    let root = repo.main_workdir();
    let existing = crate::config::DISCOVERY_ORDER
        .into_iter()
        .find(|p| root.join(p).is_file());
    let suggestion = crate::swarm::gate::suggest::suggest(&root)
        .into_iter()
        .next();
    let config_name = match existing {
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
            p
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
            "oompa.toml"
        }
    };

    let pattern = format!("/{}/", crate::store::layout::LOCAL_DIR);
    if add_exclude(&repo, &pattern)? {
        ui.status(format!("added {pattern} to .git/info/exclude"));
    } else {
        ui.status(format!("{pattern} is already in .git/info/exclude"));
    }

    super::hooks::install(
        env,
        &repo,
        &crate::settings::Settings::resolve(&repo, &crate::settings::Flags::default()),
    )?;
    let decoration = crate::guard::doctor::EXCLUDE_DECORATION;
    if repo.add_local_config("log", "excludeDecoration", decoration)? {
        ui.status(format!("added {decoration} to log.excludeDecoration"));
    } else {
        ui.status(format!("log.excludeDecoration already has {decoration}"));
    }
    next_steps(env, &root, config_name);
    Ok(())
}

/// What to do next: edit the config (naming the models it uses now and every agent CLI they
/// need that is missing), add tasks, start a swarm.
fn next_steps(env: &Env, root: &Path, config_name: &str) {
    let ui = &env.ui;
    let config = crate::config::Config::discover(root, None);
    let models = match &config {
        Ok(c) => {
            let mut m: Vec<String> = c.workers.iter().map(|w| w.model.to_string()).collect();
            m.dedup();
            m.join(", ")
        }
        Err(_) => String::new(),
    };
    ui.status("");
    ui.status(ui.paint_err(BOLD, "next:"));
    if models.is_empty() {
        ui.status(format!(
            "  1. edit {config_name}: say which agents work (`git oompa swarm` checks it)"
        ));
    } else {
        ui.status(format!(
            "  1. edit {config_name}: its workers use {models} (models, counts, review)"
        ));
    }
    ui.status("  2. add tasks:     git oompa task add 'what to do' --acceptance 'how to tell'");
    ui.status("  3. start a swarm: git oompa swarm");
    match config {
        Ok(c) => {
            let missing = crate::swarm::missing_clis(&c);
            if !missing.is_empty() {
                let list: Vec<String> = missing
                    .iter()
                    .map(|(bin, users)| format!("`{bin}` (for {})", users.join(", ")))
                    .collect();
                ui.warn(format!(
                    "{} not on PATH: {}",
                    if missing.len() == 1 {
                        "an agent CLI the config needs is"
                    } else {
                        "agent CLIs the config needs are"
                    },
                    list.join(", ")
                ));
                ui.hint(format!(
                    "install {}, or change the models in {config_name}; `git oompa check` lists \
                     the agent CLIs found, and `exec:<command>` runs any program",
                    if missing.len() == 1 { "it" } else { "them" }
                ));
            }
        }
        Err(e) => ui.warn(format!(
            "{config_name} does not load yet: {}",
            super::ui::escape(&e.to_string())
        )),
    }
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
