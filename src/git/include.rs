//! Pointing git at git oompa's guard config (`$GIT_COMMON_DIR/oompa/hooks.config`,
//! [`layout::guard_config`]): in a worker worktree (its `config.worktree` includes it) and in
//! an agent's environment (`includeIf.gitdir:` entries through `GIT_CONFIG_*`). Both do
//! nothing when the guard is not installed. Shared by the swarm, which creates worktrees and
//! starts agents, and by `guard::hooks`, which installs and inspects the guard. Never prints.

use std::path::{Path, PathBuf};

use super::inspect::config_values_in;
use super::{GitError, Repo};
use crate::store::layout::{self, WORKTREE_INCLUDE};

/// Whether the config file at `path` turns `extensions.worktreeConfig` on.
pub fn worktree_config_on(path: &Path) -> bool {
    config_values_in(path, "extensions", "worktreeConfig")
        .last()
        .is_some_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "" | "true" | "yes" | "on" | "1"
            )
        })
}

/// Points a new worker worktree at the guard: its `config.worktree` includes `hooks.config`
/// (and `extensions.worktreeConfig` is turned on if someone turned it off). Nothing happens
/// when the guard is not installed (the worktree then runs your hooks directory's hooks, as
/// any checkout does). Returns whether the worktree is guarded.
pub fn guard_worktree(repo: &Repo, worktree: &Path) -> Result<bool, GitError> {
    let common = repo.common_dir();
    let cfg = layout::guard_config(common);
    if !cfg.is_file() {
        return Ok(false);
    }
    let common_config = common.join("config");
    if !worktree_config_on(&common_config)
        && let Err(e) = repo.set_config_in(&common_config, "extensions", "worktreeConfig", "true")
        // Another worker of the swarm may hold the lock, doing the same.
        && !worktree_config_on(&common_config)
    {
        return Err(e);
    }
    let wt = Repo::open_checkout(worktree)?;
    repo.add_config_in(
        &wt.git_dir().join("config.worktree"),
        "include",
        "path",
        WORKTREE_INCLUDE,
    )?;
    Ok(true)
}

/// The environment that points an agent's git commands at the guard, in the main checkout and
/// every linked worktree of this repository (and nowhere else: a repository the agent creates
/// for a test runs its own hooks): `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_n`/`GIT_CONFIG_VALUE_n`
/// with two `includeIf.gitdir:` entries for `hooks.config`, after any the swarm itself was
/// given. Empty when the guard is not installed.
pub fn agent_env(common_dir: &Path) -> Vec<(String, String)> {
    let cfg = layout::guard_config(common_dir);
    if !cfg.is_file() {
        return Vec::new();
    }
    let common = canonical(common_dir);
    let cfg = canonical(&cfg).to_string_lossy().into_owned();
    let pattern = glob_escape(&common.to_string_lossy());
    let n: usize = std::env::var("GIT_CONFIG_COUNT")
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(0);
    vec![
        ("GIT_CONFIG_COUNT".into(), (n + 2).to_string()),
        (
            format!("GIT_CONFIG_KEY_{n}"),
            format!("includeIf.gitdir:{pattern}.path"),
        ),
        (format!("GIT_CONFIG_VALUE_{n}"), cfg.clone()),
        (
            format!("GIT_CONFIG_KEY_{}", n + 1),
            format!("includeIf.gitdir:{pattern}/worktrees/.path"),
        ),
        (format!("GIT_CONFIG_VALUE_{}", n + 1), cfg),
    ]
}

/// `s` with git's wildmatch characters escaped.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::glob_escape;

    #[test]
    fn wildmatch_characters_are_escaped() {
        assert_eq!(glob_escape("/x/[a]*?"), "/x/\\[a\\]\\*\\?");
    }
}
