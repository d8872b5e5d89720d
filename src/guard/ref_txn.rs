//! The `reference-transaction` guard: refuses, in the `prepared` state, a transaction that
//! moves the target branch when it is made from inside a worker worktree (an agent running
//! `git push . HEAD:main`, `git branch -f main`, `git checkout main && git merge`,
//! `git update-ref refs/heads/main …`), so work only lands through the merge queue.
//!
//! Only worker worktrees and agents run this hook (from the guard directory, see
//! [`super::hooks`]); a person's own commands never start it. The merge queue moves refs with
//! gix, which runs no hooks, so it is never affected; git oompa's own git calls (resetting and
//! committing in worker worktrees, `read-tree` in the user's checkout) never move the target,
//! and carry [`agent_env::OWN_GIT`](crate::agent_env::OWN_GIT) so the shim never starts this check for them. Git runs this hook
//! for every state of every ref update, so the shim settles the other states in the shell, and
//! transactions that move no branch return here before the repository is even opened.

use std::path::Path;

use super::{Settings, agent_context, full_branch, invariants, parse_worker_branch};
use crate::agent_env::AgentContext;
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

/// Decides on one invocation of the hook, for a caller whose environment is `ctx`. `open` is
/// only called when a branch really changes in what may be a worker worktree, so the hook
/// costs nothing for most transactions. `main_worktree` is [`plainly_main_worktree`]'s answer.
pub fn check(
    state: &str,
    input: &str,
    main_worktree: bool,
    ctx: &AgentContext,
    open: impl FnOnce() -> Option<Repo>,
) -> Option<Refusal> {
    if state != "prepared" || ctx.own_git {
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
    let agent_env = ctx.worker.is_some();
    if !agent_env && main_worktree {
        return None;
    }
    let repo = open()?;
    if !agent_env && !repo.is_linked_worktree() {
        return None;
    }
    let settings = Settings::resolve(&repo, &super::Flags::default());
    let why = agent_context(&repo, ctx, Some(&settings))?;
    let targets = protected_targets(&repo, ctx, &settings);
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
        .or_else(|| ctx.branch.clone())
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
/// one the agent was told ([`agent_env::TARGET`](crate::agent_env::TARGET)), and the one its swarm records (found
/// through [`agent_env::SWARM`](crate::agent_env::SWARM), the worker branch, or the worktree's place under the swarm
/// directory).
fn protected_targets(repo: &Repo, ctx: &AgentContext, settings: &Settings) -> Vec<String> {
    let mut out: Vec<String> = settings.target_ref.iter().cloned().collect();
    out.extend(ctx.target.as_deref().map(full_branch));
    let swarm = ctx
        .swarm
        .clone()
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
    use crate::agent_env;

    #[test]
    fn parses_three_field_lines_only() {
        let u = parse("a b refs/heads/main\nbroken line\nc d HEAD\n");
        assert_eq!(u.len(), 2);
        assert_eq!(u[0].name, "refs/heads/main");
        assert_eq!(u[1].name, "HEAD");
    }

    /// A repository with one commit on `main`, made with real git (no hooks installed).
    fn repo_with_main() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        let git = |args: &[&str]| {
            crate::git::cli::test_git(dir.path(), args, &[])
                .trim()
                .to_string()
        };
        git(&["init", "-q", "-b", "main"]);
        git(&["commit", "-q", "--allow-empty", "-m", "first"]);
        let tip = git(&["rev-parse", "HEAD"]);
        (dir, tip)
    }

    fn open_in(dir: &Path) -> impl FnOnce() -> Option<Repo> + '_ {
        move || Repo::discover(dir).ok()
    }

    #[test]
    fn other_states_and_non_branch_updates_never_open_the_repository() {
        let open = || -> Option<Repo> { panic!("must not open the repository") };
        let none = AgentContext::default();
        assert_eq!(
            check("committed", "a b refs/heads/main\n", false, &none, open),
            None
        );
        assert_eq!(
            check(
                "prepared",
                &format!("a b {QUEUE_REF}\n"),
                false,
                &none,
                open
            ),
            None
        );
        assert_eq!(
            check("prepared", "a a refs/heads/main\n", false, &none, open),
            None
        );
        assert_eq!(check("prepared", "", false, &none, open), None);
    }

    #[test]
    fn git_oompas_own_git_calls_and_a_persons_main_worktree_never_open_the_repository() {
        let open = || -> Option<Repo> { panic!("must not open the repository") };
        let own = AgentContext::from_pairs(&[(agent_env::OWN_GIT, "1"), (agent_env::WORKER, "w0")]);
        let move_main = "a b refs/heads/main\n";
        assert_eq!(check("prepared", move_main, false, &own, open), None);
        let person = AgentContext::default();
        assert_eq!(check("prepared", move_main, true, &person, open), None);
        // Empty variables count as unset.
        let empty = AgentContext::from_pairs(&[(agent_env::WORKER, "")]);
        assert_eq!(check("prepared", move_main, true, &empty, open), None);
    }

    #[test]
    fn an_agent_moving_the_target_from_the_main_checkout_is_refused_by_its_context_alone() {
        let (dir, tip) = repo_with_main();
        let move_main = format!("{tip} {} refs/heads/main\n", "1".repeat(40));
        let agent = AgentContext::from_pairs(&[
            (agent_env::SWARM, "s1"),
            (agent_env::WORKER, "w0"),
            (agent_env::BRANCH, "oompa/s1/w0"),
        ]);
        let refusal = check("prepared", &move_main, true, &agent, open_in(dir.path()))
            .expect("the agent's move is refused");
        assert!(
            refusal.message.contains(&format!(
                "refusing to move main from inside a worker worktree ({}=w0 is set)",
                agent_env::WORKER
            )),
            "{refusal:?}"
        );
        assert!(
            refusal.hints[0].starts_with("commit your work on oompa/s1/w0 "),
            "{refusal:?}"
        );
        // The same move by a person (no swarm variables) in the main worktree goes through.
        let person = AgentContext::default();
        assert_eq!(
            check("prepared", &move_main, true, &person, open_in(dir.path())),
            None
        );
    }

    #[test]
    fn the_target_an_agent_was_told_is_protected_besides_the_repositorys() {
        let (dir, tip) = repo_with_main();
        let move_release = format!("{tip} {} refs/heads/release\n", "1".repeat(40));
        let plain = AgentContext::from_pairs(&[(agent_env::WORKER, "w0")]);
        assert_eq!(
            check("prepared", &move_release, true, &plain, open_in(dir.path())),
            None,
            "release is no target here"
        );
        let told =
            AgentContext::from_pairs(&[(agent_env::WORKER, "w0"), (agent_env::TARGET, "release")]);
        let refusal = check("prepared", &move_release, true, &told, open_in(dir.path()))
            .expect("the told target is protected");
        assert!(
            refusal.message.contains("refusing to move release"),
            "{refusal:?}"
        );
    }
}
