//! The command line: clap definitions (one file per subcommand), the [`Ui`], and the edge
//! where library errors become exit codes.
//!
//! Command code parses arguments, resolves settings, calls into the library and prints
//! through the `Ui`. Nothing below this module prints.

pub mod check;
pub mod completions;
pub mod demo;
mod demo_agent;
pub mod doctor;
pub mod error;
mod from_oompa;
pub mod gc;
pub mod hook;
pub mod hooks;
pub mod init;
pub mod log;
pub mod man;
mod notify;
mod progress;
pub mod status;
pub mod stop;
pub mod swarm;
mod swarm_detach;
mod swarm_ops;
pub mod task;
mod timeline;
pub mod ui;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

pub use error::CommandError;
pub use ui::Ui;

use crate::agent_env::AgentContext;
use crate::git::Repo;
use crate::settings::{Flags, Settings, full_branch};

const ABOUT: &str = "Run a swarm of coding agents in parallel git worktrees";

const LONG_ABOUT: &str = "\
git oompa runs a swarm of coding agents (Claude Code, Codex, opencode, Gemini CLI, or any
command) in parallel git worktrees. Agents take tasks from a queue kept in git
(refs/oompa/tasks), a reviewer checks each change, and a single merge queue lands approved
work on the target branch. Every cycle is recorded as a git note (refs/notes/oompa).";

const AFTER_HELP: &str = "\
Exit status: 0 success, 1 user or configuration error (bad input, refused operation, a claim
that did not succeed), 2 usage error, 130 interrupted, 255 internal error (a bug in git
oompa: please report it).

Environment: OOMPA_LOG sets the diagnostic filter (e.g. OOMPA_LOG=debug); NO_COLOR turns
colour off; COLUMNS sets the width tables fit (else the terminal's; piped output is never cut,
and --wide shows everything). Inside a swarm worktree, OOMPA_SWARM, OOMPA_WORKER and OOMPA_CYCLE name the
agent's swarm, worker and cycle.";

#[derive(Debug, Parser)]
#[command(
    name = "git-oompa",
    bin_name = "git oompa",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_long_help = AFTER_HELP,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// More diagnostics on stderr (-v debug, -vv trace); OOMPA_LOG overrides
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// When to colour output
    #[arg(long, value_enum, default_value_t, global = true, value_name = "WHEN")]
    pub color: ui::ColorChoice,
    /// Run as if started in DIR
    #[arg(short = 'C', value_name = "DIR", global = true)]
    pub directory: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Init(init::Args),
    Task(task::Args),
    Swarm(swarm::Args),
    Log(log::Args),
    Status(status::Args),
    Stop(stop::Args),
    Check(check::Args),
    Demo(demo::Args),
    Doctor(doctor::Args),
    Gc(gc::Args),
    Hooks(hooks::Args),
    Completions(completions::Args),
    /// The scripted agent of `git oompa demo`
    #[command(hide = true, name = "demo-agent")]
    DemoAgent(demo_agent::Args),
    /// Run one of git oompa's hooks (what the installed shims call)
    #[command(hide = true)]
    Hook(hook::Args),
    /// Ends a swarm's leftover agents once the swarm is gone (each swarm starts one)
    #[command(hide = true, name = "swarm-watchdog")]
    SwarmWatchdog(stop::WatchdogArgs),
    /// Write the man pages into DIR/man1
    #[command(hide = true, name = "install-man-pages")]
    InstallManPages(man::Args),
}

/// What every command gets: the terminal and where it runs.
pub struct Env {
    pub ui: Ui,
    pub cwd: PathBuf,
    /// What the environment protocol ([`crate::agent_env`]) says about the caller, read once
    /// in [`main`].
    pub agent: AgentContext,
}

impl Env {
    /// Opens the repository around the working directory.
    pub fn repo(&self) -> Result<Repo, CommandError> {
        Ok(Repo::discover(&self.cwd)?)
    }
}

/// Returns claims whose owner is gone to pending (keeping their work) and says so on
/// stderr. Never fails the command: a problem here is a warning.
pub fn recover_dead_claims(env: &Env, repo: &Repo) {
    let settings = Settings::resolve(repo, &Flags::default());
    let target = settings
        .target_ref
        .filter(|t| matches!(repo.read_ref(t), Ok(Some(_))))
        .or_else(|| repo.head_branch().map(|b| full_branch(&b)));
    // Agents a dead swarm left running (its watchdog killed too) are ended first.
    crate::swarm::orphans::sweep_dead(repo.common_dir());
    match crate::store::recover::recover(repo, target.as_deref()) {
        Ok((rec, kept)) => {
            for s in &rec.crashed {
                env.ui.warn(format!(
                    "swarm {} (pid {}) ended without cleaning up",
                    s.id, s.pid
                ));
            }
            if !rec.released.is_empty() {
                let ids: Vec<&str> = rec.released.iter().map(|(id, _)| id.as_str()).collect();
                env.ui.warn(format!(
                    "returned claims of gone owners to pending: {}",
                    ids.join(", ")
                ));
            }
            for k in kept {
                env.ui.status(format!("kept their unmerged work as {k}"));
            }
            for n in &rec.dropped_notices {
                env.ui.status(format!(
                    "dropped the notice that task {} was {} by {}: its claimer {}/{} is no \
                     longer running",
                    n.task,
                    match n.change {
                        crate::store::queue::Change::Edited => "edited",
                        crate::store::queue::Change::Removed => "removed",
                    },
                    ui::escape(&n.by),
                    ui::escape(&n.swarm),
                    ui::escape(&n.worker)
                ));
            }
            if !rec.recorded.is_empty() {
                let cycles: Vec<String> = rec
                    .recorded
                    .iter()
                    .map(crate::store::recover::describe_recorded)
                    .collect();
                env.ui.warn(format!(
                    "recorded {} cycle(s) a crash left out of the log: {}",
                    cycles.len(),
                    cycles.join(", ")
                ));
            }
            for problem in &rec.unrecorded {
                env.ui.warn(problem);
            }
        }
        // The command refuses a damaged queue itself, with its hint.
        Err(e) if e.is_damaged_ref() => {}
        Err(e) => env
            .ui
            .warn(format!("could not check for orphaned claims: {e}")),
    }
}

/// Parses the command line, runs the command and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    if let Some(code) = completions::complete_from_env() {
        return code;
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let ui = Ui::new(ui::ColorChoice::default());
            let code = if e.use_stderr() {
                error::exit::USAGE
            } else {
                0
            };
            match from_oompa::rejected_subcommand(&e).and_then(|n| from_oompa::equivalent(&n)) {
                Some((message, hints)) => {
                    let err = hints
                        .into_iter()
                        .fold(CommandError::user(message), |e, h| e.with_hint(h));
                    ui.error(&err);
                }
                None => {
                    let _ = e.print();
                }
            }
            install_man_pages(&ui);
            return ExitCode::from(code);
        }
    };
    init_tracing(cli.global.verbose);
    let ui = Ui::new(cli.global.color);
    if !matches!(
        cli.command,
        Command::Hook(_)
            | Command::DemoAgent(_)
            | Command::Completions(_)
            | Command::SwarmWatchdog(_)
    ) {
        install_man_pages(&ui);
    }
    let cwd = match cli.global.directory.clone() {
        Some(d) => d,
        None => match std::env::current_dir() {
            Ok(d) => d,
            Err(e) => {
                ui.error(&CommandError::from(e));
                return ExitCode::from(error::exit::USER);
            }
        },
    };
    let env = Env {
        ui,
        cwd,
        agent: AgentContext::from_env(),
    };
    // A panic is a bug: after the panic message, it is reported as one, with its own exit code.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&env, cli.command)))
        .unwrap_or_else(|payload| Err(CommandError::from_panic(payload.as_ref())));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if e.kind != error::Kind::BrokenPipe {
                env.ui.error(&e);
            }
            ExitCode::from(e.exit_code())
        }
    }
}

/// Puts the manual pages where `git oompa --help` (git's `man git-oompa`) finds them, the
/// first time this binary runs, and says so once.
fn install_man_pages(ui: &Ui) {
    match man::ensure_installed() {
        Some(man::Installed::Fresh(dir)) => ui.status(format!(
            "installed git oompa's manual pages in {} (`git oompa --help`, `git help oompa`)",
            dir.display()
        )),
        Some(man::Installed::Updated(dir)) => ui.status(format!(
            "updated git oompa's manual pages in {} to this version",
            dir.display()
        )),
        None => {}
    }
}

fn run(env: &Env, command: Command) -> Result<(), CommandError> {
    if let Some(checks) = invariant_checks(&command) {
        let flags = match &command {
            Command::Swarm(args) => args.settings_flags(&env.cwd),
            _ => Flags::default(),
        };
        report_invariants(env, &flags, checks);
    }
    match command {
        Command::Init(args) => init::run(env, args),
        Command::Swarm(args) => swarm::run(env, args),
        Command::Status(args) => status::run(env, args),
        Command::Stop(args) => stop::run(env, args),
        Command::SwarmWatchdog(args) => stop::watchdog(args),
        Command::Check(args) => check::run(env, args),
        Command::Demo(args) => demo::run(env, args),
        Command::DemoAgent(args) => demo_agent::run(env, args),
        Command::Task(args) => task::run(env, args),
        Command::Log(args) => log::run(env, args),
        Command::Doctor(args) => doctor::run(env, args),
        Command::Gc(args) => gc::run(env, args),
        Command::Hooks(args) => hooks::run(env, args),
        Command::Hook(args) => hook::run(env, args),
        Command::Completions(args) => completions::run(env, args),
        Command::InstallManPages(args) => man::run(env, args),
    }
}

/// Which invariant checks a command gets before it runs: none for the hooks (they must stay
/// fast and quiet), the plumbing and `doctor` (which reports them itself); no claim check for
/// the commands that return dead claims to pending on their own.
fn invariant_checks(command: &Command) -> Option<crate::guard::invariants::Checks> {
    use crate::guard::invariants::Checks;
    use task::TaskCommand;
    match command {
        Command::Hook(_)
        | Command::SwarmWatchdog(_)
        | Command::Stop(_)
        | Command::Completions(_)
        | Command::InstallManPages(_)
        | Command::DemoAgent(_)
        | Command::Demo(_)
        | Command::Doctor(_) => None,
        Command::Status(_) | Command::Swarm(_) | Command::Gc(_) => Some(Checks {
            claims: false,
            queue: false,
        }),
        // `log` returns dead claims itself (its recovery), but does not read the queue.
        Command::Log(_) => Some(Checks {
            claims: false,
            queue: true,
        }),
        Command::Task(t) if matches!(t.command, TaskCommand::List(_) | TaskCommand::Claim(_)) => {
            Some(Checks {
                claims: false,
                queue: false,
            })
        }
        // These refuse a damaged queue themselves, with the same words.
        Command::Task(_) | Command::Init(_) => Some(Checks {
            claims: true,
            queue: false,
        }),
        _ => Some(Checks {
            claims: true,
            queue: true,
        }),
    }
}

/// The cheap re-check of what the hooks should have prevented: each violation once, on
/// stderr, with the command that fixes it. Never fails the command.
fn report_invariants(env: &Env, flags: &Flags, checks: crate::guard::invariants::Checks) {
    let Ok(repo) = Repo::discover(&env.cwd) else {
        return;
    };
    let settings = Settings::resolve(&repo, flags);
    // A landing cut short: its checkout follows now (never from inside an agent's command).
    if env.agent.worker.is_none() {
        for f in crate::guard::checkout::finish(&repo, &settings, true) {
            match f.fix() {
                Some(fix) => {
                    env.ui.warn(f.describe());
                    env.ui.hint(fix);
                }
                None => env.ui.status(f.describe()),
            }
        }
    }
    for v in crate::guard::invariants::check(&repo, &settings, checks) {
        env.ui.warn(v.describe());
        env.ui.hint(v.fix());
    }
}

fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "oompa=debug,warn",
        _ => "oompa=trace,debug",
    };
    let filter =
        EnvFilter::try_from_env(crate::agent_env::LOG).unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// The clap command tree, for man pages and completions.
pub fn command() -> clap::Command {
    Cli::command()
}
