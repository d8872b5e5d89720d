//! `git oompa swarm --detach`: the same swarm, started in the background in its own session
//! (stdin from /dev/null, stdout and stderr to its log), and returned from once it has really
//! started or has failed (showing why).

use std::ffi::OsString;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::error::Kind;
use super::{CommandError, Env};
use crate::git::Repo;
use crate::swarm::registry;

/// Set in the detached swarm process: the id its parent chose (and so the log it writes).
pub const DETACHED_VAR: &str = crate::agent_env::DETACHED_SWARM;

/// How long the parent waits for the swarm to start before saying it is still starting.
const START_WAIT: Duration = Duration::from_secs(120);

/// The id chosen for this process by `swarm --detach`, when it is the detached swarm (not an
/// agent of it, which inherits the variable).
pub fn detached_id() -> Option<String> {
    if std::env::var_os(crate::agent_env::WORKER).is_some() {
        return None;
    }
    std::env::var(DETACHED_VAR)
        .ok()
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Starts this command line again without `--detach`, in the background, and waits until it
/// has registered (started) or exited (failed).
pub fn start(env: &Env, repo: &Repo) -> Result<(), CommandError> {
    let id = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let common = repo.common_dir();
    let log_path = registry::log_path(common, &id);
    let open_log = || -> std::io::Result<std::fs::File> {
        std::fs::create_dir_all(registry::dir(common, &id))?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
    };
    let log = open_log()
        .map_err(|e| CommandError::user(format!("cannot create {}: {e}", log_path.display())))?;
    let exe = std::env::current_exe()
        .map_err(|e| CommandError::user(format!("cannot find git-oompa itself: {e}")))?;
    let args: Vec<OsString> = std::env::args_os()
        .skip(1)
        .filter(|a| a != "--detach")
        .collect();
    let mut cmd = Command::new(&exe);
    cmd.args(&args)
        .current_dir(&env.cwd)
        .env(DETACHED_VAR, &id)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(CommandError::from)?)
        .stderr(log);
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: only setsid(2), which is async-signal-safe, runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                nix::unistd::setsid().map_err(std::io::Error::from)?;
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().map_err(|e| {
        CommandError::user(format!("cannot start the swarm in the background: {e}"))
    })?;
    let pid = child.id();
    let began = Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(CommandError::from)? {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            for line in text.lines() {
                env.ui.status(format!("  {line}"));
            }
            return Err(CommandError {
                kind: Kind::User,
                message: format!(
                    "the swarm did not start ({}); what it printed is above and in {}",
                    status,
                    log_path.display()
                ),
                causes: Vec::new(),
                hints: Vec::new(),
            });
        }
        if registry::read(common, &id).is_some_and(|e| e.running) {
            break;
        }
        if began.elapsed() > START_WAIT {
            env.ui.warn(format!(
                "the swarm (pid {pid}) has not registered after {}s; it may still be starting",
                START_WAIT.as_secs()
            ));
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    env.ui
        .status(format!("swarm {id} started in the background (pid {pid})"));
    env.ui.status(format!("log: {}", log_path.display()));
    env.ui.hint(format!(
        "`git oompa status` shows its workers; `git oompa stop {id}` stops it"
    ));
    env.ui.out(format!("{id}\t{pid}\t{}", log_path.display()))?;
    Ok(())
}
