//! oompa's command names, answered with what git oompa does instead: someone coming from
//! oompa types `git oompa run` or `git oompa list` and should learn the new name, not read
//! "unrecognized subcommand".
//!
//! Consulted only when clap rejects a subcommand name, so a real command of the same name
//! (say a future `stop`) always wins: its line here is then dead and can simply be deleted.

/// oompa's command → what to use in git oompa (one or more lines; the first is the answer).
const NAMES: &[(&str, &[&str])] = &[
    (
        "run",
        &[
            "use `git oompa swarm [CONFIG]` (`--detach` runs it in the background): it reads oompa.json as oompa did (oompa.toml first, when there is one)",
        ],
    ),
    (
        "loop",
        &[
            "use `git oompa swarm`: the workers come from oompa.toml (or oompa.json), not from --workers",
        ],
    ),
    (
        "list",
        &[
            "use `git oompa log --swarms` for past and running swarms, `git oompa status` for what runs now and `git oompa log` for every cycle",
        ],
    ),
    (
        "view",
        &[
            "use `git oompa status` for a running swarm, its workers and claims, and `git oompa log --swarm ID` for its cycles",
        ],
    ),
    (
        "info",
        &[
            "use `git oompa log --swarm ID` for every cycle of a swarm and `git oompa log --show WORKER/CYCLE` for one",
        ],
    ),
    (
        "kill",
        &[
            "use `git oompa stop --now` (as Ctrl-C twice in the swarm's terminal): the agents are killed, their claims go back to pending and their work is kept under refs/oompa/keep/",
        ],
    ),
    (
        "cleanup",
        &[
            "use `git oompa gc`: it removes finished or crashed swarms' worktrees and branches, never losing unmerged work (`--dry-run` shows what it would do)",
        ],
    ),
    (
        "tasks",
        &[
            "use `git oompa task list` (and `git oompa status` for the counts); tasks live in refs/oompa/tasks now: `git oompa task import tasks` brings an oompa tasks/ folder over",
        ],
    ),
    (
        "requeue",
        &["use `git oompa task release ID...` to return claimed tasks to pending"],
    ),
    (
        "worktrees",
        &["use `git oompa status` (each worker's worktree) or `git worktree list`"],
    ),
    (
        "prompt",
        &["use `git oompa task add \"SUMMARY\"`, then `git oompa swarm`"],
    ),
    (
        "docs",
        &["use `git oompa help [COMMAND]` or `git oompa --help`; the README covers the rest"],
    ),
    (
        "lint-tasks",
        &["use `git oompa doctor`: it checks that every task in the queue is readable"],
    ),
];

/// What to say instead of "unrecognized subcommand" for oompa's command `name`: the message
/// and its hints.
pub fn equivalent(name: &str) -> Option<(String, Vec<String>)> {
    let (_, lines) = NAMES.iter().find(|(n, _)| *n == name)?;
    let (first, rest) = lines.split_first()?;
    let message = if first.starts_with("use ") {
        format!("`{name}` is oompa's command; {first}")
    } else {
        first.to_string()
    };
    Some((message, rest.iter().map(|s| s.to_string()).collect()))
}

/// The subcommand clap rejected, if that is what `e` is about.
pub fn rejected_subcommand(e: &clap::Error) -> Option<String> {
    if e.kind() != clap::error::ErrorKind::InvalidSubcommand {
        return None;
    }
    match e.get(clap::error::ContextKind::InvalidSubcommand)? {
        clap::error::ContextValue::String(s) => Some(s.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_oompa_name_is_answered_and_none_shadows_a_real_command() {
        let cmd = crate::cli::command();
        for (name, _) in NAMES {
            assert!(equivalent(name).is_some(), "{name}");
            assert!(
                cmd.find_subcommand(name).is_none(),
                "`{name}` is a real command now: delete its line in from_oompa.rs"
            );
        }
    }
}
