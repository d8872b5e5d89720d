//! Shell completion: `git oompa completions SHELL` prints a small script, and the script asks
//! the binary for candidates on every TAB ([`COMPLETE_ENV`]`=<shell> git-oompa -- <words>`).
//!
//! The candidates come from clap_complete's completion engine over the same clap tree as
//! `--help` (subcommands, flags, possible values, paths), so they never drift from the real
//! command line; hidden commands are never offered. Task ids come from the queue's tree
//! listing (pending ids for `task claim`, claimed ones for `task release`, any for `task show`
//! and `log --task`), with their summaries where the shell shows descriptions; swarm ids for
//! `log --swarm` likewise.
//!
//! The scripts fit git's conventions: git's bash completion calls `_git_oompa` for
//! `git oompa <TAB>` (loading it on demand from bash-completion's `git-oompa` file), zsh's
//! `_git` calls `_git-oompa`, and fish's git completion hands `git oompa …` to the
//! completions of `git-oompa`. Each script also completes `git-oompa …` typed directly.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::process::ExitCode;

use clap_complete::engine::{ArgValueCandidates, ArgValueCompleter, CompletionCandidate};

use super::{CommandError, Env};
use crate::git::Repo;
use crate::store::{QUEUE_REF, State};

/// The variable that turns a run of the binary into a completion request.
pub const COMPLETE_ENV: &str = crate::agent_env::COMPLETE;

/// Print the completion script for a shell
#[derive(Debug, clap::Args)]
#[command(after_help = "\
bash: git oompa completions bash > ~/.local/share/bash-completion/completions/git-oompa
      (bash-completion loads it when git's completion meets `git oompa`; or source it from
      ~/.bashrc after git's completion)
zsh:  git oompa completions zsh > ~/.zfunc/_git-oompa   (with fpath+=(~/.zfunc) before compinit)
fish: git oompa completions fish > ~/.config/fish/conf.d/git-oompa.fish

The script asks git oompa for the candidates on each TAB, so it never needs regenerating
after an upgrade. elvish and powershell get clap's static script for `git-oompa`.")]
pub struct Args {
    /// The shell to print the script for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub fn run(env: &Env, args: Args) -> Result<(), CommandError> {
    let script = match args.shell {
        clap_complete::Shell::Bash => BASH,
        clap_complete::Shell::Zsh => ZSH,
        clap_complete::Shell::Fish => FISH,
        other => {
            let mut cmd = super::command().bin_name("git-oompa");
            let mut buf = Vec::new();
            clap_complete::generate(other, &mut cmd, "git-oompa", &mut buf);
            return env.ui.out_raw(&buf);
        }
    };
    env.ui.out_raw(script.as_bytes())
}

const BASH: &str = include_str!("completions/git-oompa.bash");
const ZSH: &str = include_str!("completions/_git-oompa.zsh");
const FISH: &str = include_str!("completions/git-oompa.fish");

/// Answers a completion request when [`COMPLETE_ENV`] is set: the words after `--` are the
/// command line up to the cursor, the last one the word being completed. Prints one
/// candidate per line, with its description after a tab for zsh and fish.
pub fn complete_from_env() -> Option<ExitCode> {
    let shell = std::env::var_os(COMPLETE_ENV)?;
    let words: Vec<OsString> = std::env::args_os()
        .skip_while(|a| a != "--")
        .skip(1)
        .collect();
    if words.is_empty() {
        return Some(ExitCode::from(super::error::exit::USAGE));
    }
    let describe = shell != "bash";
    let index = words.len() - 1;
    let flag_word = words[index].to_string_lossy().starts_with('-');
    let cwd = std::env::current_dir().ok();
    let mut cmd = command();
    let candidates = match clap_complete::engine::complete(&mut cmd, words, index, cwd.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!("completion failed: {e}");
            return Some(ExitCode::from(super::error::exit::USER));
        }
    };
    let mut shown: Vec<&CompletionCandidate> = candidates
        .iter()
        .filter(|c| !c.is_hide_set() && c.get_value() != ".")
        .collect();
    // As git does: options only once a `-` is typed, unless there is nothing else to offer.
    let is_flag = |c: &&CompletionCandidate| c.get_value().to_string_lossy().starts_with('-');
    if !flag_word && shown.iter().any(|c| !is_flag(c)) {
        shown.retain(|c| !is_flag(c));
    }
    let mut out = String::new();
    for c in shown {
        let value = c.get_value().to_string_lossy();
        out.push_str(&value);
        if describe && let Some(help) = c.get_help() {
            let help = help.to_string();
            let first = help.lines().next().unwrap_or("").replace('\t', " ");
            if !first.is_empty() {
                out.push('\t');
                out.push_str(&first);
            }
        }
        out.push('\n');
    }
    let _ = std::io::stdout().write_all(out.as_bytes());
    Some(ExitCode::SUCCESS)
}

/// The clap tree with task-id completers on the arguments that take task ids.
fn command() -> clap::Command {
    super::command()
        .bin_name("git-oompa")
        .mut_subcommand("task", |task| {
            let names: Vec<String> = task
                .get_subcommands()
                .map(|s| s.get_name().to_string())
                .collect();
            names.into_iter().fold(task, |task, name| {
                let states: &'static [State] = match name.as_str() {
                    "claim" => &[State::Pending],
                    "release" => &[State::Current],
                    "list" => {
                        return task.mut_subcommand(name, |list| {
                            if list.get_arguments().any(|a| a.get_id() == "state") {
                                list.mut_arg("state", |a| a.add(state_names()))
                            } else {
                                list
                            }
                        });
                    }
                    "add" | "import" => return task,
                    _ => &State::ALL,
                };
                task.mut_subcommand(name, |sub| {
                    let ids: Vec<String> = sub
                        .get_positionals()
                        .filter(|a| matches!(a.get_id().as_str(), "id" | "ids"))
                        .map(|a| a.get_id().to_string())
                        .collect();
                    ids.into_iter()
                        .fold(sub, |sub, id| sub.mut_arg(id, |a| a.add(task_ids(states))))
                })
            })
        })
        .mut_subcommand("log", |log| {
            let log = if log.get_arguments().any(|a| a.get_id() == "task") {
                log.mut_arg("task", |a| a.add(task_ids(&State::ALL)))
            } else {
                log
            };
            if log.get_arguments().any(|a| a.get_id() == "swarm") {
                log.mut_arg("swarm", |a| a.add(swarm_ids()))
            } else {
                log
            }
        })
}

/// `pending`, `current`, `complete` (an argument whose parser does not list them).
fn state_names() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        State::ALL
            .iter()
            .map(|s| CompletionCandidate::new(s.dir()))
            .collect::<Vec<_>>()
    })
}

/// Completes the ids of tasks in `states` from the queue's tree listing (no task is read),
/// with each task's summary as its description when few enough match to read them.
fn task_ids(states: &'static [State]) -> ArgValueCompleter {
    ArgValueCompleter::new(move |current: &OsStr| -> Vec<CompletionCandidate> {
        let dirs: Vec<&str> = states.iter().map(|s| s.dir()).collect();
        queue_entries(&dirs, &current.to_string_lossy(), |data| {
            crate::store::Task::from_json(data).ok().map(|t| t.summary)
        })
    })
}

/// Completes the swarm ids the queue has records of, with their start time.
fn swarm_ids() -> ArgValueCompleter {
    ArgValueCompleter::new(|current: &OsStr| -> Vec<CompletionCandidate> {
        queue_entries(&["swarms"], &current.to_string_lossy(), |data| {
            let v: serde_json::Value = serde_json::from_slice(data).ok()?;
            Some(format!("started {}", v.get("started")?.as_str()?))
        })
    })
}

/// The `<id>.json` entries of `dirs` in the queue's tip tree whose id starts with `prefix`,
/// described by `describe` (reading each blob) when at most 200 match.
fn queue_entries(
    dirs: &[&str],
    prefix: &str,
    describe: impl Fn(&[u8]) -> Option<String>,
) -> Vec<CompletionCandidate> {
    let Ok(cwd) = std::env::current_dir() else {
        return Vec::new();
    };
    let Ok(repo) = Repo::discover(&cwd) else {
        return Vec::new();
    };
    let Ok(Some(tip)) = repo.read_ref(QUEUE_REF) else {
        return Vec::new();
    };
    let Ok(tree) = repo.commit_tree(tip) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for dir in dirs {
        for (name, blob) in repo.list_dir(tree, dir).unwrap_or_default() {
            if let Some(id) = name.strip_suffix(".json")
                && id.starts_with(prefix)
            {
                found.push((id.to_string(), blob));
            }
        }
    }
    let read = found.len() <= 200;
    found
        .into_iter()
        .map(|(id, blob)| {
            let help = read
                .then(|| repo.read_blob(blob).ok())
                .flatten()
                .and_then(|data| describe(&data))
                .map(Into::into);
            CompletionCandidate::new(id).help(help)
        })
        .collect()
}
