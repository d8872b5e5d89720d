//! The `reference-transaction` guard: refuses, in the `prepared` state, a transaction that
//! moves the target branch when it is made from inside a worker worktree (an agent running
//! `git push . HEAD:main`, `git branch -f main`, `git checkout main && git merge`,
//! `git update-ref refs/heads/main …`), so work only lands through the merge queue.
//!
//! Only worker worktrees and agents run this hook (from the guard directory, see
//! [`super::hooks`]); a person's own commands never start it. The merge queue moves refs with
//! gix, which runs no hooks, so it is never affected; git oompa's own git calls (resetting and
//! committing in worker worktrees, `read-tree` in the user's checkout) never move the target,
//! and carry `OOMPA_OWN_GIT` so the shim never starts this check for them. Git runs this hook
//! for every state of every ref update, so the shim settles the other states in the shell, and
//! transactions that move no branch return here before the repository is even opened.

use std::path::Path;

use super::{Settings, agent_context, full_branch, invariants, parse_worker_branch};
use crate::git::Repo;
use crate::store::QUEUE_REF;

/// A refused transaction, ready to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    pub hints: Vec<String>,
}

/// One line of the hook's input: `<old-value> SP <new-value> SP <ref-name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update<'a> {
    pub old: &'a str,
    pub new: &'a str,
    pub name: &'a str,
}

/// Parses the hook's stdin, skipping lines that are not three fields.
pub fn parse(input: &str) -> Vec<Update<'_>> {
    input
        .lines()
        .filter_map(|l| {
            let mut f = l.split(' ');
            let (old, new, name) = (f.next()?, f.next()?, f.next()?);
            f.next().is_none().then_some(Update { old, new, name })
        })
        .collect()
}

/// Whether git's environment says this hook runs for the main worktree (not a linked one),
/// without opening the repository: `$GIT_DIR` (set by git for linked worktrees and
/// `receive-pack`) has no `commondir` file, or is unset with a `.git` directory here.
pub fn plainly_main_worktree(cwd: &Path) -> bool {
    match std::env::var_os("GIT_DIR") {
        Some(d) => !cwd.join(d).join("commondir").exists(),
        None => cwd.join(".git").is_dir(),
    }
}

/// Decides on one invocation of the hook. `open` is only called when a branch really
/// changes in what may be a worker worktree, so the hook costs nothing for most
/// transactions. `main_worktree` is [`plainly_main_worktree`]'s answer.
pub fn check(
    state: &str,
    input: &str,
    main_worktree: bool,
    open: impl FnOnce() -> Option<Repo>,
) -> Option<Refusal> {
    if state != "prepared"
        || std::env::var_os(super::hooks::OWN_GIT_ENV).is_some_and(|v| !v.is_empty())
    {
        return None;
    }
    let updates = parse(input);
    let moved: Vec<&Update<'_>> = updates
        .iter()
        .filter(|u| u.name.starts_with("refs/heads/") && u.old != u.new)
        .collect();
    if moved.is_empty() {
        return None;
    }
    let agent_env = std::env::var_os("OOMPA_WORKER").is_some_and(|v| !v.is_empty());
    if !agent_env && main_worktree {
        return None;
    }
    let repo = open()?;
    if !agent_env && !repo.is_linked_worktree() {
        return None;
    }
    let settings = Settings::resolve(&repo);
    let why = agent_context(&repo, Some(&settings))?;
    let targets = protected_targets(&repo, &settings);
    tracing::debug!(?targets, %why, "reference-transaction guard");
    let hit = moved.iter().find(|u| targets.iter().any(|t| t == u.name))?;
    let short = hit.name.trim_start_matches("refs/heads/");
    let verb = if hit.new.bytes().all(|b| b == b'0') {
        "delete"
    } else {
        "move"
    };
    let branch = repo
        .head_branch()
        .filter(|b| crate::store::layout::is_worker_branch_short(b))
        .or_else(|| std::env::var("OOMPA_BRANCH").ok().filter(|b| !b.is_empty()))
        .map(|b| b.trim_start_matches("refs/heads/").to_string());
    let mut hints = vec![match branch {
        Some(b) => format!(
            "commit your work on {b} and end your turn with COMPLETE_AND_READY_FOR_MERGE: \
             the merge queue lands it on {short}"
        ),
        None => format!(
            "commit on your worker branch and end your turn with COMPLETE_AND_READY_FOR_MERGE: \
             the merge queue lands it on {short}"
        ),
    }];
    hints.push(format!(
        "a person who really means to {verb} {short} can do it from the main worktree"
    ));
    Some(Refusal {
        message: format!(
            "git oompa: refusing to {verb} {short} from inside a worker worktree ({why}); \
             work lands on {short} only through the merge queue"
        ),
        hints,
    })
}

/// Every branch that counts as the target here: the one configured for the repository, the
/// one the agent was told (`OOMPA_TARGET`), and the one its swarm records (found through
/// `OOMPA_SWARM`, the worker branch, or the worktree's place under the swarm directory).
fn protected_targets(repo: &Repo, settings: &Settings) -> Vec<String> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let mut out: Vec<String> = settings.target_ref.iter().cloned().collect();
    out.extend(env("OOMPA_TARGET").map(|t| full_branch(&t)));
    let swarm = env("OOMPA_SWARM")
        .or_else(|| {
            let b = repo.head_branch()?;
            parse_worker_branch(&full_branch(&b)).map(|(s, _)| s.to_string())
        })
        .or_else(|| {
            let wt = repo.workdir().canonicalize().ok()?;
            let root = settings.worktree_dir.canonicalize().ok()?;
            let rest = wt.strip_prefix(root).ok()?;
            Some(
                rest.components()
                    .next()?
                    .as_os_str()
                    .to_string_lossy()
                    .into_owned(),
            )
        });
    if let Some(swarm) = swarm
        && let Ok(Some(tip)) = repo.read_ref(QUEUE_REF)
        && let Ok(tree) = repo.commit_tree(tip)
        && let Some(record) = invariants::swarm_record(repo, tree, &swarm)
    {
        out.push(full_branch(&record.target));
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_three_field_lines_only() {
        let u = parse("a b refs/heads/main\nbroken line\nc d HEAD\n");
        assert_eq!(u.len(), 2);
        assert_eq!(u[0].name, "refs/heads/main");
        assert_eq!(u[1].name, "HEAD");
    }

    #[test]
    fn other_states_and_non_branch_updates_never_open_the_repository() {
        let open = || -> Option<Repo> { panic!("must not open the repository") };
        assert_eq!(
            check("committed", "a b refs/heads/main\n", false, open),
            None
        );
        assert_eq!(
            check("prepared", "a b refs/oompa/tasks\n", false, open),
            None
        );
        assert_eq!(
            check("prepared", "a a refs/heads/main\n", false, open),
            None
        );
        assert_eq!(check("prepared", "", false, open), None);
    }
}
