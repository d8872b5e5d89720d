//! `git oompa swarm`: runs the configured workers until they are finished, printing progress
//! on stderr and a per-worker summary on stdout. Ctrl-C once stops gracefully, twice kills
//! the agents; either way claims go back to pending and unmerged work is kept.

use std::path::PathBuf;
use std::time::Duration;

use crossbeam_channel::{Receiver, select, unbounded};

use super::error::Kind;
use super::ui;
use super::{CommandError, Env};
use crate::config::Config;
use crate::git::Repo;
use crate::settings::{Flags, Settings, full_branch};
use crate::store::record::Outcome;
use crate::swarm::{Finished, Options, Swarm};

mod events;
use events::print_event;

/// Run a swarm of agents on the task queue until every worker is finished
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The config is oompa.toml at the repository root (or oompa.json, or oompa/oompa.json), or the
file given. Workers stop when their cycles are used, when the queue is drained and nothing is
in flight, after repeated failures, or when their `budget` is spent. Ctrl-C once: finish the
turns in flight, land what is ready, release claims (a second SIGINT within 0.5 s, such as git
passing the same Ctrl-C on, is the same press). Twice: kill the agents now. `git oompa stop
[--now]` does the same from any terminal. Unmerged work is always kept under refs/oompa/keep/.
No agent outlives the swarm, even after a SIGKILL of it. Every progress line starts with the
time and is also appended to .git/oompa/swarms/<id>/swarm.log.

--detach starts the swarm in the background (own session, stdin from /dev/null), waits until it
has started or failed, prints `ID<TAB>PID<TAB>LOG` and returns. A second swarm on a target one
already runs on needs --force. A swarm in which every cycle failed exits 1.

Budgets: `budget = \"$25\"`, `\"2M tokens\"` or `\"$25, 2M tokens\"` at the top of oompa.toml
(the swarm: spent, it stops as on one Ctrl-C and exits 0) or in a [[worker]] (each worker:
spent, it finishes its turn and stops). `git oompa log --swarms` lists every swarm's totals.

Landing gates: with a [gate] section the target only ever moves to the exact commit on which
the gate's commands passed. The merge queue makes the landing commit (the target merged with
the approved change, or a batch of them stacked), checks it out detached in the worker's own
warm worktree and runs each command there with `sh -c` (environment: OOMPA_GATE=1,
OOMPA_CANDIDATE, OOMPA_BASE, OOMPA_TARGET, OOMPA_GATE_WORKERS, OOMPA_GATE_TASKS). A failure
(after `retries`) goes back to the agent's own session with the end of the output; after
`max_fix_rounds` the cycle ends gate-failed, its claims back and its work kept. A failed batch
is split to find the change that broke it; the others land. Example:

    [gate]
    command = [\"cargo build --locked\", \"cargo test --locked -q\"]
    timeout = \"20m\"
    batch = 4
    parallel = 2

`git oompa init` suggests a command from the repository (Cargo.toml, package.json, pytest,
go.mod, a Makefile test target) as a commented suggestion. git config oompa.gateParallel
overrides `parallel` on this machine. Every run is in the cycle records (`git oompa log
--show`); `git oompa status` shows what is being gated.")]
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
    /// Start in the background (own session, stdin from /dev/null), print its id, pid and log
    /// file once it has started, and return; `git oompa stop` stops it
    #[arg(long)]
    pub detach: bool,
    /// Start even though another swarm of this repository is running on the same target
    #[arg(long)]
    pub force: bool,
}

impl Args {
    /// What the flags say about the settings; a relative config path is taken from `cwd`.
    pub fn settings_flags(&self, cwd: &std::path::Path) -> Flags {
        Flags {
            config: self
                .config_file
                .as_ref()
                .or(self.config.as_ref())
                .map(|p| cwd.join(p)),
            target: self.target.clone(),
        }
    }
}

pub fn run(env: &Env, args: Args) -> Result<(), CommandError> {
    let repo = env.repo()?;
    let root = repo.main_workdir();
    let flags = args.settings_flags(&env.cwd);
    let mut config = load_config(env, &root, flags.config.as_deref())?;
    let settings = Settings::with_config(&repo, Some(&config), &flags);
    config.worktree_dir = settings.worktree_dir.clone();
    gate_parallel_here(&repo, &mut config)?;
    // Worktrees inside the repository never show up in `git status`.
    if let Some(dir) = settings.worktree_dir_under(&root)
        && !dir.starts_with(crate::store::layout::LOCAL_DIR)
    {
        super::init::add_exclude(&repo, &format!("/{}/", dir.display()))?;
    }
    let target = resolve_target(&repo, &settings, &config)?;
    super::swarm_ops::check_others(env, &repo, &target, args.force)?;
    if args.detach && super::swarm_detach::detached_id().is_none() {
        return super::swarm_detach::start(env, &repo);
    }
    let result = run_swarm(env, &repo, config, target)?;
    how_it_ended(&result)
}

/// The config (`explicit`, else the one found at `root`), with a warning for each config
/// file it shadows and its notices said.
fn load_config(
    env: &Env,
    root: &std::path::Path,
    explicit: Option<&std::path::Path>,
) -> Result<Config, CommandError> {
    let config = Config::discover(root, explicit).map_err(|e| {
        let hint = match &e {
            crate::config::ConfigError::NotAFile { .. } => {
                "move it out of the way, or name the config file: `git oompa swarm path/to/oompa.toml`"
            }
            _ => "`git oompa init` writes a commented oompa.toml to start from",
        };
        CommandError::from_error(&e).with_hint(hint)
    })?;
    if explicit.is_none()
        && let Some(used) = &config.path
    {
        let rel = |p: &std::path::Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
        for other in Config::shadowed(root, used) {
            env.ui.warn(format!(
                "using {}; {} is ignored (to use it instead: `git oompa swarm {}`)",
                rel(used),
                rel(&other),
                rel(&other)
            ));
        }
    }
    for notice in &config.notices {
        env.ui.status(notice);
    }
    Ok(config)
}

/// `oompa.gateParallel`: how many gate runs this machine takes at once, over the file's.
fn gate_parallel_here(repo: &Repo, config: &mut Config) -> Result<(), CommandError> {
    if let Some(gate) = config.gate.as_mut()
        && let Some(v) = repo.config_string("oompa.gateParallel")
    {
        let max = crate::config::defaults::GATE_MAX_PARALLEL;
        gate.parallel = v
            .trim()
            .parse()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                CommandError::user(format!(
                    "git config oompa.gateParallel is `{v}`: expected a number from 1 to {max}"
                ))
                .with_hint("git config oompa.gateParallel 2")
            })?;
    }
    Ok(())
}

/// The exit of a swarm that ran: an internal error when a thread panicked, an error when no
/// worker could start, when it stopped itself,
/// when every cycle failed, or when it was interrupted.
fn how_it_ended(result: &RunResult) -> Result<(), CommandError> {
    let panicked = &result.finished.panicked;
    if !panicked.is_empty() {
        let mut err = CommandError::internal(format!(
            "{} of the swarm's threads panicked",
            panicked.len()
        ));
        err.causes = panicked.clone();
        err.hints.insert(
            0,
            format!(
                "nothing is lost: the next git oompa command returns any claim left to pending, \
                 and unmerged work is kept under {} (`git oompa status` shows both)",
                crate::store::layout::KEEP_PREFIX
            ),
        );
        return Err(err);
    }
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
            hints: vec![result.stop_hint.clone().unwrap_or_else(|| format!(
                "the paused cycle's work is kept under {} and its tasks are pending again; clear what is in the way, then run `git oompa swarm` again (`max_landing_pause` in oompa.toml sets how long a landing waits)",
                crate::store::layout::KEEP_PREFIX
            ))],
        });
    }
    super::swarm_ops::check_result(result)?;
    if result.interrupted {
        return Err(CommandError {
            kind: Kind::Interrupted,
            message:
                "the swarm ended early (as asked); claims were released and unmerged work kept"
                    .into(),
            causes: Vec::new(),
            hints: vec!["`git oompa log` shows what each cycle did".into()],
        });
    }
    Ok(())
}

/// The target branch (see [`Settings`] for where it comes from), which must exist.
pub fn resolve_target(
    repo: &Repo,
    settings: &Settings,
    config: &Config,
) -> Result<String, CommandError> {
    let target = settings.target().ok_or_else(|| {
        // Detached to delete the target, most likely: say where it was.
        if let Some(gone) = crate::guard::target_gone::find(repo, None).first() {
            return CommandError::user(gone.describe()).with_hint(gone.fix());
        }
        CommandError::user("cannot tell which branch to land on: HEAD is detached").with_hint(
            format!("{}, or pass --target main", set_target(config, "main")),
        )
    })?;
    let full = full_branch(target);
    if let Some(gone) = crate::guard::target_gone::find(repo, Some(&full)).first() {
        return Err(CommandError::user(gone.describe()).with_hint(gone.fix()));
    }
    if let Some(wrong) = crate::guard::ref_kinds::check(repo, &full)? {
        return Err(CommandError::user(wrong.describe()).with_hint(wrong.fix()));
    }
    if repo.read_ref(&full)?.is_none() {
        return Err(
            CommandError::user(format!("target branch `{target}` does not exist")).with_hint(
                format!(
                    "create it, or {}, or pass --target",
                    set_target(config, "<branch>")
                ),
            ),
        );
    }
    Ok(target.to_string())
}

/// The name hints give the config in use: `oompa.json` when that is what was read.
pub fn config_name(config: &Config) -> String {
    config
        .path
        .as_deref()
        .and_then(|p| p.file_name())
        .map_or_else(
            || "oompa.toml".to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
}

/// How to set the target branch where the config in use can hold it: `target = "…"` in
/// `oompa.toml`; oompa's `oompa.json` has no such key, so git config there.
fn set_target(config: &Config, branch: &str) -> String {
    let name = config_name(config);
    if name.ends_with(".json") {
        format!(
            "`git config {} {branch}` ({name} has no target key)",
            crate::settings::TARGET_BRANCH_KEY
        )
    } else {
        format!("set `target = \"{branch}\"` in {name}")
    }
}

/// What a finished swarm run reports.
pub struct RunResult {
    pub finished: Finished,
    pub interrupted: bool,
    /// Why the swarm stopped itself, when it did (not a Ctrl-C).
    pub stopped_because: Option<String>,
    /// What to do about `stopped_because`, when the swarm said.
    pub stop_hint: Option<String>,
}

/// Starts a swarm and drives it to the end, printing as it goes.
pub fn run_swarm(
    env: &Env,
    repo: &Repo,
    config: Config,
    target: String,
) -> Result<RunResult, CommandError> {
    let ui = &env.ui;
    let signals = SignalThread::start()?;
    let notify = config.notify.clone();
    let swarm = start_swarm(repo, config, target)?;
    let control = swarm.control();
    super::swarm_ops::start_progress(ui, repo, &swarm.id);
    let notifier = super::notify::start(notify, &swarm.id, repo);
    drive(ui, repo, &swarm, &signals.rx, &notifier);
    let events = swarm.events.clone();
    let stopped_because = control.gave_up_because();
    let budget_spent = control.spent_because();
    let interrupted = control.stopping() && stopped_because.is_none() && budget_spent.is_none();
    let finished = swarm.finish().map_err(|e| match e {
        crate::swarm::SwarmError::Queue(q) => q.into(),
        e => CommandError::from_error(&e),
    })?;
    for ev in events.try_iter() {
        print_event(ui, &ev);
        super::notify::event(ui, &notifier, repo, &ev);
    }
    signals.stop();
    super::notify::finish(ui, notifier, &finished, &control, interrupted);
    print_summary(env, &finished)?;
    super::swarm_ops::print_spend(env, &finished, budget_spent.as_deref());
    Ok(RunResult {
        finished,
        interrupted,
        stopped_because,
        stop_hint: control.gave_up_hint(),
    })
}

/// A thread passing the signals a swarm answers (Ctrl-C, `git oompa stop`) on to `rx`.
struct SignalThread {
    rx: Receiver<i32>,
    handle: signal_hook::iterator::Handle,
    thread: std::thread::JoinHandle<()>,
}

impl SignalThread {
    fn start() -> Result<SignalThread, CommandError> {
        let (tx, rx) = unbounded();
        let mut signals = signal_hook::iterator::Signals::new(super::swarm_ops::SIGNALS)
            .map_err(|e| CommandError::user(format!("cannot install signal handlers: {e}")))?;
        let handle = signals.handle();
        let thread = std::thread::spawn(move || {
            for s in signals.forever() {
                if tx.send(s).is_err() {
                    break;
                }
            }
        });
        Ok(SignalThread { rx, handle, thread })
    }

    fn stop(self) {
        self.handle.close();
        let _ = self.thread.join();
    }
}

/// Starts the swarm, with this binary's directory first on its agents' PATH.
fn start_swarm(repo: &Repo, config: Config, target: String) -> Result<Swarm, CommandError> {
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from));
    let config_name = config_name(&config);
    Swarm::start(
        repo,
        Options {
            config,
            target,
            exe_dir,
            id: super::swarm_detach::detached_id(),
            detached: super::swarm_detach::detached_id().is_some(),
        },
    )
    .map_err(|e| match e {
        crate::swarm::SwarmError::MissingCli { .. } => {
            CommandError::from_error(&e).with_hint(format!(
                "install them (`git oompa check` lists the agent CLIs found), or change the \
                 models in {config_name}"
            ))
        }
        crate::swarm::SwarmError::Queue(q) => q.into(),
        e => CommandError::from_error(&e),
    })
}

/// Prints (and notifies) the swarm's events and turns signals into stops until every worker
/// has ended and every event is said.
fn drive(
    ui: &super::Ui,
    repo: &Repo,
    swarm: &Swarm,
    sig_rx: &Receiver<i32>,
    notifier: &crate::notify::Notifier,
) {
    let control = swarm.control();
    let mut presses = super::swarm_ops::Presses::default();
    loop {
        select! {
            recv(swarm.events) -> ev => {
                if let Ok(ev) = ev {
                    print_event(ui, &ev);
                    super::notify::event(ui, notifier, repo, &ev);
                }
            }
            recv(sig_rx) -> sig => {
                let Ok(sig) = sig else { continue };
                match presses.press(sig) {
                    super::swarm_ops::Press::Stop => {
                        control.stop.store(true, std::sync::atomic::Ordering::SeqCst);
                        ui.warn(super::swarm_ops::stopping_message(sig));
                    }
                    super::swarm_ops::Press::Kill => {
                        control.kill.store(true, std::sync::atomic::Ordering::SeqCst);
                        ui.warn("killing the agents; claims are released and their work kept");
                    }
                    super::swarm_ops::Press::Ignored => {}
                }
            }
            default(Duration::from_millis(200)) => {
                if swarm.workers_done() && swarm.events.is_empty() { break }
            }
        }
    }
}

fn print_summary(env: &Env, finished: &Finished) -> Result<(), CommandError> {
    let mut t = ui::table(&[
        "WORKER",
        "MODEL",
        "CYCLES",
        "MERGED",
        "OTHER",
        "SPENT",
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
            super::swarm_ops::spent_cell(&s.spend),
            s.reason.clone(),
        ]);
    }
    t.shrink(1, 12).shrink(6, 16).shrink(4, 8);
    env.ui.out_table(&t, false)?;
    if let Some(g) = &finished.gate {
        env.ui.status(format!(
            "gate: {}, {} failed, {} flaky, {} cancelled; {}, {}; {} landed in {}",
            ui::count(g.runs as usize, "run", "runs"),
            g.failures,
            g.flaky,
            g.cancelled,
            ui::count(g.bisections as usize, "bisection", "bisections"),
            ui::count(g.culprits as usize, "culprit", "culprits"),
            ui::count(g.landed as usize, "change", "changes"),
            ui::count(g.landings as usize, "landing", "landings"),
        ));
    }
    if finished.landing_conflicts > 0 {
        env.ui.status(format!(
            "landing conflicts: {} ({} predicted by conflict prediction)",
            finished.landing_conflicts, finished.predicted_conflicts
        ));
    }
    Ok(())
}
