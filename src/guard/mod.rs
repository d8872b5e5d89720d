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
pub mod ref_kinds;
pub mod ref_txn;
pub mod target_gone;
pub mod transcripts;

use std::path::{Path, PathBuf};

use crate::agent_env::{self, AgentContext};
use crate::git::Repo;

pub use crate::git::short;
pub use crate::store::layout::{KEEP_PREFIX, WORKER_BRANCH_PREFIX, parse_worker_branch};
/// Multi-valued git config key: remotes (names or URLs, `*` for all) where `pre-push` does
/// not check anything.
pub const SKIP_PUSH_CHECK_KEY: &str = "oompa.skipPushCheck";

// The settings and the branch-name helper live in `crate::settings`; the guards use them
// under these names.
pub use crate::settings::{Flags, Settings, full_branch};

/// Why the caller (its environment `ctx`, working in `repo`) counts as an agent inside a
/// worker worktree, if it does.
pub fn agent_context(
    repo: &Repo,
    ctx: &AgentContext,
    settings: Option<&Settings>,
) -> Option<String> {
    if let Some(w) = &ctx.worker {
        return Some(format!("{}={w} is set", agent_env::WORKER));
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
            owned = Settings::resolve(repo, &Flags::default());
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
