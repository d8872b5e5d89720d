//! `git oompa swarm`: runs the configured workers until they are finished, printing progress
//! on stderr and a per-worker summary on stdout. Ctrl-C once stops gracefully, twice kills
//! the agents; either way claims go back to pending and unmerged work is kept.

use std::path::PathBuf;
use std::time::Duration;

use crossbeam_channel::{select, unbounded};

use super::error::Kind;
use super::ui::{self, DIM, GREEN, YELLOW};
use super::{CommandError, Env};
use crate::config::Config;
use crate::git::Repo;
use crate::store::record::Outcome;
use crate::swarm::{Event, Finished, Options, Swarm};

/// Run a swarm of agents on the task queue until every worker is finished
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The config is oompa.toml at the repository root (or oompa.json, or oompa/oompa.json), or the
file given. Workers stop when their cycles are used, when the queue is drained and nothing is
in flight, or after repeated failures. Ctrl-C once: finish the turns in flight, land what is
ready, release claims. Twice: kill the agents now. Unmerged work is always kept under
refs/oompa/keep/.")]
pub struct Args {
    /// Config file [default: oompa.toml at the repository root]
    #[arg(value_name = "CONFIG")]
    pub config_file: Option<PathBuf>,
    /// Config file (same as the positional argument)
    #[arg(long, value_name = "PATH", conflicts_with = "config_file")]
    pub config: Option<PathBuf>,
    /// Branch to land work on [default: `target` in the config, else git config
    /// oompa.targetBranch, else the current branch]
    #[arg(long)]
    pub target: Option<String>,
}

pub fn run(env: &Env, args: Args) -> Result<(), CommandError> {
    let repo = env.repo()?;
    let root = repo.main_workdir();
    let explicit = args
        .config_file
        .or(args.config)
        .map(|p| if p.is_absolute() { p } else { env.cwd.join(p) });
    let config = Config::discover(&root, explicit.as_deref()).map_err(|e| {
        CommandError::from_error(&e)
            .with_hint("`git oompa init` writes a commented oompa.toml to start from")
    })?;
    let mut config = config;
    // Repository-level settings: `oompa.worktreeDir` when oompa.toml keeps the default.
    if config.worktree_dir == std::path::Path::new(crate::config::defaults::WORKTREE_DIR)
        && let Some(dir) = repo
            .config_string("oompa.worktreeDir")
            .filter(|d| !d.is_empty())
    {
        config.worktree_dir = PathBuf::from(dir);
    }
    // Worktrees inside the repository never show up in `git status`.
    if config.worktree_dir.is_relative() && !config.worktree_dir.starts_with(super::init::OOMPA_DIR)
    {
        super::init::add_exclude(&repo, &format!("/{}/", config.worktree_dir.display()))?;
    }
    let target = resolve_target(&repo, args.target, &config)?;
    let result = run_swarm(env, &repo, config, target)?;
    let workers = &result.finished.workers;
    if !workers.is_empty() && workers.iter().all(|w| !w.started) {
        let mut reasons: Vec<String> = workers.iter().take(3).map(|w| w.reason.clone()).collect();
        if workers.len() > 3 {
            reasons.push(format!("… and {} more worker(s)", workers.len() - 3));
        }
        return Err(CommandError {
            kind: Kind::User,
            message: format!(
                "no worker could start ({} tried); nothing was done",
                workers.len()
            ),
            causes: reasons,
            hints: vec![
                "fix the cause above (`git oompa doctor` checks identity, locks and worktrees), then run the swarm again".into(),
            ],
        });
    }
    if let Some(why) = &result.stopped_because {
        return Err(CommandError {
            kind: Kind::User,
            message: format!("the swarm stopped itself: {why}"),
            causes: Vec::new(),
            hints: vec![
                "the paused cycle's work is kept under refs/oompa/keep/ and its tasks are pending again; clear what is in the way, then run `git oompa swarm` again (`max_landing_pause` in oompa.toml sets how long a landing waits)".into(),
            ],
        });
    }
    if result.interrupted {
        return Err(CommandError {
            kind: Kind::Interrupted,
            message: "swarm interrupted; claims were released and unmerged work kept".into(),
            causes: Vec::new(),
            hints: vec!["`git oompa log` shows what each cycle did".into()],
        });
    }
    Ok(())
}

/// The target branch: flag, then config, then `oompa.targetBranch`, then the branch checked
/// out in the main worktree.
pub fn resolve_target(
    repo: &Repo,
    flag: Option<String>,
    config: &Config,
) -> Result<String, CommandError> {
    let target = flag
        .or_else(|| config.target.clone())
        .or_else(|| repo.config_string("oompa.targetBranch"))
        .or_else(|| Repo::discover(&repo.main_workdir()).ok()?.head_branch())
        .ok_or_else(|| {
            CommandError::user("cannot tell which branch to land on: HEAD is detached")
                .with_hint("set `target = \"main\"` in oompa.toml or pass --target main")
        })?;
    let target = target.trim_start_matches("refs/heads/").to_string();
    if repo.read_ref(&format!("refs/heads/{target}"))?.is_none() {
        return Err(
            CommandError::user(format!("target branch `{target}` does not exist"))
                .with_hint("create it, or set `target` in oompa.toml / pass --target"),
        );
    }
    Ok(target)
}

/// What a finished swarm run reports.
pub struct RunResult {
    pub finished: Finished,
    pub interrupted: bool,
    /// Why the swarm stopped itself, when it did (not a Ctrl-C).
    pub stopped_because: Option<String>,
}

/// Starts a swarm and drives it to the end, printing as it goes.
pub fn run_swarm(
    env: &Env,
    repo: &Repo,
    config: Config,
    target: String,
) -> Result<RunResult, CommandError> {
    let ui = &env.ui;
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from));
    let (sig_tx, sig_rx) = unbounded();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .map_err(|e| CommandError::user(format!("cannot install signal handlers: {e}")))?;
    let sig_handle = signals.handle();
    let sig_thread = std::thread::spawn(move || {
        for s in signals.forever() {
            if sig_tx.send(s).is_err() {
                break;
            }
        }
    });
    let swarm = Swarm::start(
        repo,
        Options {
            config,
            target,
            exe_dir,
        },
    )
    .map_err(|e| match e {
        crate::swarm::SwarmError::MissingCli { .. } => CommandError::from_error(&e).with_hint(
            "install it (`git oompa check` lists the agent CLIs found), or change the model in oompa.toml",
        ),
        e => CommandError::from_error(&e),
    })?;
    let control = swarm.control();
    let mut presses = 0;
    loop {
        select! {
            recv(swarm.events) -> ev => {
                if let Ok(ev) = ev { print_event(ui, &ev) }
            }
            recv(sig_rx) -> _ => {
                presses += 1;
                if presses == 1 {
                    control.stop.store(true, std::sync::atomic::Ordering::SeqCst);
                    ui.warn("stopping: finishing the agent turns in flight and landing what is ready (Ctrl-C again to kill the agents)");
                } else {
                    control.kill.store(true, std::sync::atomic::Ordering::SeqCst);
                    ui.warn("killing the agents; claims are released and their work kept");
                }
            }
            default(Duration::from_millis(200)) => {
                if swarm.workers_done() && swarm.events.is_empty() { break }
            }
        }
    }
    let events = swarm.events.clone();
    let stopped_because = control.gave_up_because();
    let interrupted = control.stopping() && stopped_because.is_none();
    let finished = swarm.finish().map_err(|e| CommandError::from_error(&e))?;
    for ev in events.try_iter() {
        print_event(ui, &ev);
    }
    sig_handle.close();
    let _ = sig_thread.join();
    print_summary(env, &finished)?;
    Ok(RunResult {
        finished,
        interrupted,
        stopped_because,
    })
}

fn print_event(ui: &super::Ui, ev: &Event) {
    match ev {
        Event::Started {
            swarm,
            target,
            workers,
        } => {
            ui.status(format!(
                "swarm {swarm}: {} worker(s) landing on {target}",
                workers.len()
            ));
            for (w, model) in workers {
                ui.status(ui.paint_err(DIM, format!("  {w}: {model}")));
            }
        }
        Event::Recovered {
            released,
            crashed,
            kept,
        } => {
            if !crashed.is_empty() {
                ui.warn(format!(
                    "swarm(s) {} ended without cleaning up",
                    crashed.join(", ")
                ));
            }
            if !released.is_empty() {
                ui.warn(format!(
                    "returned {} orphaned claim(s) to pending: {}",
                    released.len(),
                    released.join(", ")
                ));
            }
            for k in kept {
                ui.status(format!("kept their unmerged work as {k}"));
            }
        }
        Event::CycleStarted { worker, cycle } => {
            ui.status(ui.paint_err(DIM, format!("[{worker}] cycle {cycle} started")))
        }
        Event::TurnEnded {
            worker,
            cycle,
            turn,
            signal,
        } => {
            ui.status(ui.paint_err(
                DIM,
                format!("[{worker}] cycle {cycle}, turn {turn}: {signal}"),
            ));
        }
        Event::Claimed { worker, results } => {
            let parts: Vec<String> = results
                .iter()
                .map(|(id, o)| match o {
                    crate::store::ClaimOutcome::Claimed => format!("claimed {id}"),
                    crate::store::ClaimOutcome::Taken(by) => format!("{id} taken by {by}"),
                    crate::store::ClaimOutcome::Complete => format!("{id} already landed"),
                    crate::store::ClaimOutcome::NotFound => format!("{id} not found"),
                    crate::store::ClaimOutcome::Corrupt(_) => format!("{id} unreadable"),
                })
                .collect();
            ui.status(format!("[{worker}] {}", parts.join("; ")));
        }
        Event::Planned {
            round,
            added,
            error,
        } => match error {
            Some(e) => ui.warn(format!("[planner] round {round} failed: {e}")),
            None if added.is_empty() => {
                ui.status(format!("[planner] round {round}: nothing more to plan"))
            }
            None => ui.status(format!(
                "[planner] round {round}: added {}",
                added.join(", ")
            )),
        },
        Event::Reviewed { worker, round } => {
            let style = if round.verdict == "approved" {
                GREEN
            } else {
                YELLOW
            };
            ui.status(format!(
                "[{worker}] review round {} by {}: {}",
                round.round,
                round.reviewer,
                ui.paint_err(style, &round.verdict)
            ));
        }
        Event::LandingPaused { worker, reason } => ui.warn(format!("[{worker}] {reason}")),
        Event::Landed {
            worker,
            commit,
            tasks,
        } => {
            let short = &commit.to_string()[..8];
            let what = if tasks.is_empty() {
                String::new()
            } else {
                format!(
                    " ({})",
                    tasks
                        .iter()
                        .map(|t| t.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            ui.status(format!(
                "[{worker}] {} {short}{what}",
                ui.paint_err(GREEN, "landed")
            ));
        }
        Event::CycleEnded { worker, record } => {
            let mut line = format!(
                "[{worker}] cycle {} {} in {}",
                record.cycle,
                ui.paint_err(ui::outcome_style(record.outcome), record.outcome),
                ui::human_duration(record.duration_ms)
            );
            if let Some(e) = &record.error {
                line.push_str(&format!(": {}", e.lines().next().unwrap_or("")));
            }
            if let Some(k) = &record.kept {
                line.push_str(&format!(" (work kept as {k})"));
            }
            ui.status(line);
        }
        Event::Waiting { worker, why } => ui.status(ui.paint_err(DIM, format!("[{worker}] {why}"))),
        Event::Warning(w) => ui.warn(w),
        Event::WorkerFailed { worker, error } => {
            ui.error(&CommandError::user(format!("[{worker}] {error}")))
        }
        // A worker that could not start said so already.
        Event::WorkerFinished(s) if !s.started => {}
        Event::WorkerFinished(s) => ui.status(format!("[{}] finished: {}", s.worker, s.reason)),
    }
}

fn print_summary(env: &Env, finished: &Finished) -> Result<(), CommandError> {
    let mut t = ui::table(&[
        "WORKER",
        "MODEL",
        "CYCLES",
        "MERGED",
        "OTHER",
        "STOPPED BECAUSE",
    ]);
    for s in &finished.workers {
        let merged = s
            .outcomes
            .get(Outcome::Merged.as_str())
            .copied()
            .unwrap_or(0);
        let other: Vec<String> = s
            .outcomes
            .iter()
            .filter(|(k, _)| k.as_str() != Outcome::Merged.as_str())
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        t.add_row(vec![
            s.worker.clone(),
            s.model.clone(),
            s.cycles.to_string(),
            merged.to_string(),
            if other.is_empty() {
                "-".into()
            } else {
                other.join(", ")
            },
            s.reason.clone(),
        ]);
    }
    env.ui.out(ui::render_table(&t))?;
    if finished.landing_conflicts > 0 {
        env.ui.status(format!(
            "landing conflicts: {} ({} predicted by conflict prediction)",
            finished.landing_conflicts, finished.predicted_conflicts
        ));
    }
    Ok(())
}
