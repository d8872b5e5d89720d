//! Guards and hygiene: the promises of DESIGN §7 made real.
//!
//! - [`hooks`]: installing the shipped hook shims (`pre-push` between marker lines in your
//!   hooks directory, the guard directory only worker worktrees and agents run hooks from),
//!   and reporting their state;
//! - [`pre_push`] and [`ref_txn`]: what the `pre-push` and `reference-transaction` hooks
//!   decide (both must stay fast: they read only the refs and blobs they need);
//! - [`invariants`]: the cheap re-check every command runs, because hooks can be skipped;
//! - [`doctor`]: the full health check and its safe fixes;
//! - [`gc`]: cleaning up after finished swarms without ever losing an unmerged commit.
//!
//! Library code: it returns findings and plans and never prints; the commands in
//! [`crate::cli`] decide how to show them.

pub mod checkout;
pub mod doctor;
pub mod gc;
pub mod hooks;
pub mod invariants;
pub mod pre_push;
pub mod ref_txn;

use std::path::{Path, PathBuf};

use crate::config::{Config, defaults};
use crate::git::Repo;

pub use crate::git::short;
pub use crate::store::layout::{KEEP_PREFIX, WORKER_BRANCH_PREFIX, parse_worker_branch};
/// Multi-valued git config key: remotes (names or URLs, `*` for all) where `pre-push` does
/// not check anything.
pub const SKIP_PUSH_CHECK_KEY: &str = "oompa.skipPushCheck";

/// The settings the guards need, resolved the way `git oompa swarm` resolves them.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The target branch's full ref (`refs/heads/main`), if one can be told.
    pub target_ref: Option<String>,
    /// Where worker worktrees live (absolute).
    pub worktree_dir: PathBuf,
}

impl Settings {
    /// `target` in oompa.toml, else git config `oompa.targetBranch`, else the branch checked
    /// out in the main worktree. An unreadable config file is skipped, never an error: the
    /// guards must not break a repository because of a typo in oompa.toml.
    pub fn resolve(repo: &Repo) -> Settings {
        let root = repo.main_workdir();
        let config = Config::discover(&root, None).ok();
        let target = config
            .as_ref()
            .and_then(|c| c.target.clone())
            .or_else(|| repo.config_string("oompa.targetBranch"))
            .filter(|t| !t.is_empty())
            .or_else(|| repo.main_head_branch());
        let dir = config
            .map(|c| c.worktree_dir)
            .unwrap_or_else(|| PathBuf::from(defaults::WORKTREE_DIR));
        Settings {
            target_ref: target.map(|t| full_branch(&t)),
            worktree_dir: if dir.is_absolute() {
                dir
            } else {
                root.join(dir)
            },
        }
    }

    /// The target's short name, for messages.
    pub fn target_short(&self) -> &str {
        self.target_ref
            .as_deref()
            .map(|t| t.trim_start_matches("refs/heads/"))
            .unwrap_or("the target branch")
    }
}

/// `main` → `refs/heads/main` (full names pass through).
pub fn full_branch(name: &str) -> String {
    if name.starts_with("refs/") {
        name.to_string()
    } else {
        format!("refs/heads/{name}")
    }
}

/// Why the current process counts as an agent inside a worker worktree, if it does.
pub fn agent_context(repo: &Repo, settings: Option<&Settings>) -> Option<String> {
    if let Some(w) = std::env::var("OOMPA_WORKER").ok().filter(|w| !w.is_empty()) {
        return Some(format!("OOMPA_WORKER={w} is set"));
    }
    if !repo.is_linked_worktree() {
        return None;
    }
    if let Some(b) = repo
        .head_branch()
        .filter(|b| crate::store::layout::is_worker_branch_short(b))
    {
        return Some(format!("this worktree is on the worker branch {b}"));
    }
    let owned;
    let settings = match settings {
        Some(s) => s,
        None => {
            owned = Settings::resolve(repo);
            &owned
        }
    };
    let wt = canonical(repo.workdir());
    if wt.starts_with(canonical(&settings.worktree_dir)) {
        return Some(format!(
            "this worktree is under the swarm worktree directory {}",
            settings.worktree_dir.display()
        ));
    }
    None
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}
