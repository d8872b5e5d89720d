//! `git oompa stop [SWARM] [--now]`: stops a running swarm of this repository from any
//! terminal, as Ctrl-C once (SIGTERM) or twice (`--now`: SIGUSR1), and the hidden
//! `swarm-watchdog` command each swarm starts to end its agents if it dies.

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::{CommandError, Env};
use crate::swarm::registry::{self, RunInfo};

/// The signal `stop` sends for a graceful stop (as Ctrl-C once).
pub const STOP_SIGNAL: Signal = Signal::SIGTERM;
/// The signal `stop --now` sends (as Ctrl-C twice).
pub const KILL_SIGNAL: Signal = Signal::SIGUSR1;

/// Stop a running swarm (as Ctrl-C once; --now as twice)
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Without SWARM: the only swarm running in this repository on this machine (it is an error when
several run; the message lists them). SWARM is a swarm id or a unique prefix of one (`git oompa
status` and `git oompa log --swarms` show them).

A graceful stop (SIGTERM to the swarm process) lets the agent turns in flight finish, lands what
is ready and returns every other claim to pending; nothing unmerged is lost (it is kept under
refs/oompa/keep/). --now (SIGUSR1) kills the agents at once; their claims go back and their
work is kept all the same. `kill <pid>` of a swarm is the same as `git oompa stop`. A second
`stop` of a swarm already stopping sends nothing (a second SIGTERM would kill the agents, as a
second Ctrl-C does); use --now for that. The swarm ends with `stopped:` and exit status 130.

Only swarms on this machine can be stopped: a swarm on another host sharing the repository is
not seen here.

The swarm's progress, with timestamps, is in .git/oompa/swarms/<id>/swarm.log.")]
pub struct Args {
    /// The swarm to stop (an id or a unique prefix) [default: the only one running]
    pub swarm: Option<String>,
    /// Kill the agents now instead of letting their turns finish (as Ctrl-C twice)
    #[arg(long)]
    pub now: bool,
    /// Wait until the swarm has ended
    #[arg(long)]
    pub wait: bool,
}

pub fn run(env: &Env, args: Args) -> Result<(), CommandError> {
    let repo = env.repo()?;
    let running = registry::list_running(repo.common_dir());
    let swarm = pick(&running, args.swarm.as_deref())?;
    if !args.now
        && let Some(asked) = registry::stop_asked(repo.common_dir(), &swarm.id)
    {
        // A second SIGTERM would kill the agents: say so instead of sending it.
        env.ui.status(format!(
            "swarm {} (pid {}) is already stopping (asked {}): the turns in flight finish; \
             `git oompa stop --now {}` kills its agents",
            swarm.id,
            swarm.pid,
            super::ui::when(&asked, false),
            swarm.id
        ));
        return finish(env, repo.common_dir(), swarm, args.wait);
    }
    let signal = if args.now { KILL_SIGNAL } else { STOP_SIGNAL };
    let pid = Pid::from_raw(i32::try_from(swarm.pid).expect("pids fit in i32"));
    kill(pid, signal).map_err(|e| {
        CommandError::user(format!(
            "cannot signal swarm {} (pid {}): {e}",
            swarm.id, swarm.pid
        ))
    })?;
    if !args.now {
        // Best effort: without the note a second `stop` would kill the agents.
        let _ = registry::mark_stop_asked(repo.common_dir(), &swarm.id);
    }
    if args.now {
        env.ui.status(format!(
            "swarm {} (pid {}): killing its agents; their claims go back to pending and their work is kept",
            swarm.id, swarm.pid
        ));
    } else {
        env.ui.status(format!(
            "swarm {} (pid {}): stopping; the turns in flight finish, what is ready lands, the rest goes back to pending",
            swarm.id, swarm.pid
        ));
    }
    finish(env, repo.common_dir(), swarm, args.wait)
}

/// Points at the swarm's log, or with `wait` returns once it has ended.
fn finish(
    env: &Env,
    common_dir: &std::path::Path,
    swarm: &RunInfo,
    wait: bool,
) -> Result<(), CommandError> {
    if !wait {
        env.ui.status(format!("progress: {}", swarm.log.display()));
        return Ok(());
    }
    while registry::read(common_dir, &swarm.id).is_some_and(|e| e.running) {
        std::thread::sleep(Duration::from_millis(100));
    }
    env.ui.status(format!("swarm {} has ended", swarm.id));
    Ok(())
}

/// The swarm `wanted` names (an id or a unique prefix), or the only one running.
fn pick<'r>(running: &'r [RunInfo], wanted: Option<&str>) -> Result<&'r RunInfo, CommandError> {
    let list = || {
        running
            .iter()
            .map(|s| {
                format!(
                    "{} (pid {}, on {}, started {})",
                    s.id,
                    s.pid,
                    s.target,
                    super::ui::when(&s.started, false)
                )
            })
            .collect::<Vec<_>>()
    };
    match wanted {
        Some(w) => {
            let matching: Vec<&RunInfo> = running.iter().filter(|s| s.id.starts_with(w)).collect();
            match matching.as_slice() {
                [one] => Ok(one),
                [] => Err(CommandError::user(format!(
                    "no swarm `{w}` is running in this repository on this machine"
                ))
                .with_hint("`git oompa status` shows the running swarms"))
                .map_err(|e| with_causes(e, list())),
                _ => Err(with_causes(
                    CommandError::user(format!(
                        "`{w}` names several running swarms; give more of the id"
                    )),
                    matching.iter().map(|s| s.id.clone()).collect(),
                )),
            }
        }
        None => match running {
            [one] => Ok(one),
            [] => Err(
                CommandError::user("no swarm is running in this repository on this machine")
                    .with_hint("`git oompa log --swarms` lists past swarms"),
            ),
            _ => Err(with_causes(
                CommandError::user(format!(
                    "{} swarms are running; say which one to stop",
                    running.len()
                )),
                list(),
            )
            .with_hint(format!("git oompa stop {}", running[0].id))),
        },
    }
}

fn with_causes(mut e: CommandError, causes: Vec<String>) -> CommandError {
    e.causes = causes;
    e
}

/// The hidden `swarm-watchdog` command (see `swarm::orphans`).
#[derive(Debug, clap::Args)]
pub struct WatchdogArgs {
    pub swarm: String,
}

pub fn watchdog(args: WatchdogArgs) -> Result<(), CommandError> {
    crate::swarm::orphans::watch(&args.swarm, std::io::stdin().lock());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str) -> RunInfo {
        RunInfo {
            version: 1,
            id: id.into(),
            pid: 42,
            host: "h".into(),
            target: "main".into(),
            started: "2026-11-30T05:00:00Z".into(),
            log: "swarm.log".into(),
            detached: false,
        }
    }

    #[test]
    fn without_an_id_only_a_single_running_swarm_is_picked_and_several_are_listed() {
        let one = [info("ab12cd34")];
        assert_eq!(pick(&one, None).expect("the only one").id, "ab12cd34");
        let two = [info("ab12cd34"), info("ef56ab78")];
        let err = pick(&two, None).expect_err("ambiguous");
        assert!(
            err.message.contains("2 swarms are running"),
            "{}",
            err.message
        );
        assert_eq!(err.causes.len(), 2);
        assert!(err.causes[1].starts_with("ef56ab78 (pid 42, on main"));
        assert_eq!(pick(&two, Some("ef")).expect("by prefix").id, "ef56ab78");
        assert!(pick(&[info("ab12cd34"), info("ab99cd34")], Some("ab")).is_err());
        assert!(pick(&two, Some("zz")).is_err());
    }
}
