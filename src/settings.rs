//! The repository-level settings every command agrees on, resolved in one place: which
//! config file is read, which branch work lands on, and where worker worktrees live.
//!
//! Each has one answer, in this order:
//! - config file: the one named on the command line, else the first of
//!   [`crate::config::DISCOVERY_ORDER`] under the main worktree's root;
//! - target branch: `--target`, else `target` in the config file, else git config
//!   `oompa.targetBranch`, else the branch checked out in the main worktree;
//! - worktree directory: `worktree_dir` in the config file when it is not the default, else
//!   git config `oompa.worktreeDir`, else `.oompa/worktrees`, relative to the main worktree's
//!   root.
//!
//! There is no remote setting: git oompa never names a remote of its own (the `pre-push` guard
//! gets the remote from git). `git oompa swarm` reads the config file strictly and reports its
//! mistakes ([`Settings::with_config`]); the guards, `gc`, `doctor` and the invariant checks
//! must not break a repository over a typo in oompa.toml, so [`Settings::resolve`] skips a file
//! it cannot read.

use std::path::{Path, PathBuf};

use crate::config::{Config, defaults};
use crate::git::Repo;

/// git config key: the target branch when the config file names none.
pub const TARGET_BRANCH_KEY: &str = "oompa.targetBranch";
/// git config key: where worker worktrees live when the config file keeps the default.
pub const WORKTREE_DIR_KEY: &str = "oompa.worktreeDir";

/// What the command line says about the settings (`--config`, `--target`); the default for
/// commands without those flags.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--config`, absolute.
    pub config: Option<PathBuf>,
    /// `--target`.
    pub target: Option<String>,
}

/// The settings, resolved once (see the module docs for the order of each).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The config file read, if one was found and could be read.
    pub config_file: Option<PathBuf>,
    /// The target branch's full ref (`refs/heads/main`), if one can be told.
    pub target_ref: Option<String>,
    /// Where worker worktrees live (absolute).
    pub worktree_dir: PathBuf,
}

impl Settings {
    /// Resolves the settings, skipping a config file that cannot be read (never an error: the
    /// guards must not break a repository because of a typo in oompa.toml).
    pub fn resolve(repo: &Repo, flags: &Flags) -> Settings {
        let config = Config::discover(&repo.main_workdir(), flags.config.as_deref()).ok();
        Settings::with_config(repo, config.as_ref(), flags)
    }

    /// Resolves the settings around a config file already read (`None`: there is none).
    pub fn with_config(repo: &Repo, config: Option<&Config>, flags: &Flags) -> Settings {
        let root = repo.main_workdir();
        let target = flags
            .target
            .clone()
            .or_else(|| config.and_then(|c| c.target.clone()))
            .or_else(|| {
                repo.config_string(TARGET_BRANCH_KEY)
                    .filter(|t| !t.is_empty())
            })
            .or_else(|| repo.main_head_branch());
        let default_dir = Path::new(defaults::WORKTREE_DIR);
        let dir = config
            .map(|c| c.worktree_dir.clone())
            .filter(|d| d != default_dir)
            .or_else(|| {
                repo.config_string(WORKTREE_DIR_KEY)
                    .filter(|d| !d.is_empty())
                    .map(PathBuf::from)
            })
            .unwrap_or_else(|| default_dir.to_path_buf());
        Settings {
            config_file: config.and_then(|c| c.path.clone()),
            target_ref: target.map(|t| full_branch(&t)),
            worktree_dir: if dir.is_absolute() {
                dir
            } else {
                root.join(dir)
            },
        }
    }

    /// The target's short name (`main`), if one can be told.
    pub fn target(&self) -> Option<&str> {
        self.target_ref
            .as_deref()
            .map(|t| t.strip_prefix("refs/heads/").unwrap_or(t))
    }

    /// The target's short name, for messages.
    pub fn target_short(&self) -> &str {
        self.target().unwrap_or("the target branch")
    }

    /// The worktree directory relative to `root` (the main worktree), when it is inside it.
    pub fn worktree_dir_under(&self, root: &Path) -> Option<&Path> {
        self.worktree_dir.strip_prefix(root).ok()
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
