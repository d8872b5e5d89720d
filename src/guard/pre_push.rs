//! The `pre-push` guard: refuses to publish unmerged claims.
//!
//! - a worker branch (`refs/heads/oompa/*`), as source or destination;
//! - commits that belong to a claimed task that has not landed through the merge queue
//!   (reachable from the claim's branch and not from the target) and that the push would
//!   publish;
//! - `refs/oompa/tasks` marking a task complete whose landing commit is neither on the target
//!   being pushed nor already on the remote's target;
//! - `refs/oompa/tasks` or `refs/notes/oompa` off their chain: the local ref replaced,
//!   deleted or rewritten outside git oompa (the same check every command makes), a value
//!   that is not a commit, a forced push that would replace the remote's queue or log with
//!   one that does not descend from it, or a deletion of the remote's.
//!
//! Reads only what it needs: the claimed tasks (not the whole queue), the claims' branches
//! back to the target, and, for the queue ref, only the completions the remote does not have
//! yet. `git push --no-verify` skips the hook; [`super::SKIP_PUSH_CHECK_KEY`] lists remotes
//! where it is off.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{SKIP_PUSH_CHECK_KEY, Settings, parse_worker_branch, short};
use crate::git::{GitError, ObjectId, Repo};
use crate::store::notes::NOTES_REF;
use crate::store::verified::{BULK_COMPLETIONS, complete_entries, landings, read_baseline};
use crate::store::{QUEUE_REF, State, Task};

/// Unlanded commits of one claim's branch beyond this many are not looked at.
const CLAIM_WALK_LIMIT: usize = 10_000;

/// One line of the hook's input: `<local ref> <local sha> <remote ref> <remote sha>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushLine {
    pub local_ref: String,
    /// `None` for a deletion.
    pub local: Option<ObjectId>,
    pub remote_ref: String,
    /// `None` when the remote does not have the ref yet.
    pub remote: Option<ObjectId>,
}

/// One reason the push is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The ref being pushed (destination name).
    pub pushed: String,
    pub message: String,
}

/// What the guard concluded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Set when the remote is listed in `oompa.skipPushCheck`.
    pub skipped: bool,
    pub violations: Vec<Violation>,
    /// Suggestions for getting the push through the right way.
    pub hints: Vec<String>,
}

/// Parses the hook's stdin; malformed lines are skipped.
pub fn parse(input: &str) -> Vec<PushLine> {
    let oid = |s: &str| {
        ObjectId::from_hex(s.as_bytes())
            .ok()
            .filter(|id| !id.is_null())
    };
    input
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let [local_ref, local, remote_ref, remote] = f.as_slice() else {
                return None;
            };
            Some(PushLine {
                local_ref: local_ref.to_string(),
                local: oid(local),
                remote_ref: remote_ref.to_string(),
                remote: oid(remote),
            })
        })
        .collect()
}

/// Whether `remote` (name or URL) is listed in `oompa.skipPushCheck`.
pub fn skipped(repo: &Repo, remote: &str, url: &str) -> bool {
    repo.config_strings(SKIP_PUSH_CHECK_KEY)
        .iter()
        .flat_map(|v| {
            v.split([',', ' '])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .any(|s| s == "*" || s == remote || (!url.is_empty() && s == url))
}

/// A claimed task, as far as the guard cares.
struct ClaimInfo {
    task: String,
    holder: String,
    branch: Option<String>,
    /// The target of the claim's swarm, from its record.
    target: Option<String>,
}

/// Decides on one `pre-push` invocation.
pub fn check(repo: &Repo, remote: &str, url: &str, input: &str) -> Result<Verdict, GitError> {
    if skipped(repo, remote, url) {
        return Ok(Verdict {
            skipped: true,
            ..Verdict::default()
        });
    }
    let all = parse(input);
    let mut verdict = Verdict::default();
    // A queue or log off its chain is refused before anything reads it.
    check_bookkeeping_chains(repo, remote, &all, &mut verdict)?;
    if !verdict.violations.is_empty() {
        verdict.hints.push(NO_VERIFY_HINT.into());
        return Ok(verdict);
    }
    let lines: Vec<PushLine> = all.into_iter().filter(|l| l.local.is_some()).collect();
    if lines.is_empty() {
        return Ok(Verdict::default());
    }
    let settings = Settings::resolve(repo, &super::Flags::default());
    let claims = claimed_tasks(repo)?;

    check_worker_branches(&lines, &claims, &settings, &mut verdict);
    check_unlanded_claims(repo, &lines, &claims, &settings, &mut verdict)?;

    // 3. The queue ref: completions must point at landings the remote will have.
    if let Some(q) = lines
        .iter()
        .find(|l| l.local_ref == QUEUE_REF || l.remote_ref == QUEUE_REF)
    {
        check_completions(repo, remote, &settings, &lines, q, &mut verdict)?;
    }

    if !verdict.violations.is_empty() {
        verdict.hints.push(NO_VERIFY_HINT.into());
    }
    Ok(verdict)
}

/// The way around the guard, said last under every refusal.
const NO_VERIFY_HINT: &str = "`git push --no-verify` skips this check; `git config --add \
                              oompa.skipPushCheck <remote>` turns it off for one remote";

/// Before the three checks: the queue and the cycle log travel only along their chains. Refuses pushing
/// either when the local ref was replaced, deleted or rewritten outside git oompa (with the
/// hint every command gives), a value that is not a commit or not on the chain git oompa
/// knows, a forced push that would replace the remote's value with one that does not
/// descend from it, and a deletion of the remote's.
fn check_bookkeeping_chains(
    repo: &Repo,
    remote: &str,
    lines: &[PushLine],
    verdict: &mut Verdict,
) -> Result<(), GitError> {
    for l in lines {
        let what = match l.remote_ref.as_str() {
            QUEUE_REF => "task queue",
            NOTES_REF => "cycle log",
            _ => continue,
        };
        for (message, hint) in off_chain(repo, remote, l, what)? {
            verdict.violations.push(Violation {
                pushed: l.remote_ref.clone(),
                message,
            });
            if let Some(h) = hint.filter(|h| !verdict.hints.contains(h)) {
                verdict.hints.push(h);
            }
        }
    }
    Ok(())
}

/// A refusal and its hint.
type Refusal = (String, Option<String>);

/// Why pushing `l` (to the queue or the log, `what`) takes it off its chain: the first of
/// a deletion, a value that is not a commit, a local ref damaged or a value off the known
/// chain, a remote value it does not descend from.
fn off_chain(
    repo: &Repo,
    remote: &str,
    l: &PushLine,
    what: &str,
) -> Result<Vec<Refusal>, GitError> {
    let name = l.remote_ref.as_str();
    let Some(local) = l.local else {
        return Ok(l
            .remote
            .map(|_| {
                let message = format!(
                    "this push deletes {remote}'s {name}, the {what} every clone of it shares"
                );
                (message, None)
            })
            .into_iter()
            .collect());
    };
    let push_itself = || Some(format!("push {name} itself: `git push {remote} {name}`"));
    if let Some((kind, _)) = repo.object_header(local)?
        && kind != "commit"
    {
        let message = format!(
            "{} points at {kind} {}, not at a commit: the {what} is a chain of commits",
            l.local_ref,
            short(&local)
        );
        let hint = if l.local_ref == name {
            Some(format!(
                "`git oompa doctor --fix` points {name} back at its last commit"
            ))
        } else {
            push_itself()
        };
        return Ok(vec![(message, hint)]);
    }
    if l.local_ref == name {
        // The local ref itself: the same check (and hint) every command makes.
        let damage = if name == QUEUE_REF {
            super::invariants::queue_damaged(repo).into_iter().collect()
        } else {
            super::invariants::notes_lost(repo)
        };
        if !damage.is_empty() {
            return Ok(damage
                .into_iter()
                .map(|v| (v.describe(), Some(v.fix())))
                .collect());
        }
    } else if let Some(known) = crate::store::known::read(repo, name)
        && repo.is_commit(known)?
        && !repo.is_ancestor(known, local)?
        && !repo.is_ancestor(local, known)?
    {
        let message = format!(
            "{} ({}) is not on the chain of {name}: it neither descends from {} (the last tip \
             git oompa knew) nor is one of its commits",
            l.local_ref,
            short(&local),
            short(&known)
        );
        return Ok(vec![(message, push_itself())]);
    }
    Ok(replaces_remote(repo, remote, l, local, what)?
        .into_iter()
        .collect())
}

/// A forced push over the remote's queue or log with a value that does not descend from it.
fn replaces_remote(
    repo: &Repo,
    remote: &str,
    l: &PushLine,
    local: ObjectId,
    what: &str,
) -> Result<Option<Refusal>, GitError> {
    let name = l.remote_ref.as_str();
    let Some(theirs) = l.remote.filter(|r| *r != local) else {
        return Ok(None);
    };
    if repo.is_commit(theirs)? && repo.is_ancestor(theirs, local)? {
        return Ok(None);
    }
    Ok(Some((
        format!(
            "this push replaces {remote}'s {name} at {} with {}, which does not descend from \
             it: what the {what} there holds would be lost",
            short(&theirs),
            short(&local)
        ),
        Some(format!(
            "fetch {remote}'s {name} first (`git fetch {remote} {name}`) and push on top of \
             it; the {what} is never force-pushed"
        )),
    )))
}

/// Check 1 of 3: worker branches, whichever side names them, stay local.
fn check_worker_branches(
    lines: &[PushLine],
    claims: &[ClaimInfo],
    settings: &Settings,
    verdict: &mut Verdict,
) {
    for l in lines {
        let Some(branch) = [&l.local_ref, &l.remote_ref]
            .into_iter()
            .find(|r| parse_worker_branch(r).is_some())
        else {
            continue;
        };
        let (swarm, worker) = parse_worker_branch(branch).expect("checked above");
        let tasks: Vec<&str> = claims
            .iter()
            .filter(|c| c.branch.as_deref() == Some(branch.as_str()))
            .map(|c| c.task.as_str())
            .collect();
        let held = if tasks.is_empty() {
            String::new()
        } else {
            format!(", holding task {}", tasks.join(", "))
        };
        verdict.violations.push(Violation {
            pushed: l.remote_ref.clone(),
            message: format!(
                "{} is worker {worker}'s branch of swarm {swarm} (at {}{held}): worker branches \
                 stay local; their work reaches {} through the merge queue",
                branch.trim_start_matches("refs/heads/"),
                short(&l.local.expect("deletions were filtered")),
                settings.target_short()
            ),
        });
    }
}

/// Check 2 of 3: commits of claims that have not landed. Whatever of a claim's work a push carries,
/// it carries that work's first commits (the "roots", whose parents the target has), so
/// those are the ones tested: a handful of merge-base checks, each settled as soon as the
/// root's parent is met, instead of a walk of the pushed history (gix's walk with several
/// hidden tips can paint the hidden side down to its root commit).
fn check_unlanded_claims(
    repo: &Repo,
    lines: &[PushLine],
    claims: &[ClaimInfo],
    settings: &Settings,
    verdict: &mut Verdict,
) -> Result<(), GitError> {
    let unlanded = unlanded_claim_commits(repo, claims, settings)?;
    let mut roots: Vec<ObjectId> = unlanded
        .keys()
        .filter(|c| {
            repo.commit_parents(**c)
                .map(|ps| ps.iter().all(|p| !unlanded.contains_key(p)))
                .unwrap_or(true)
        })
        .copied()
        .collect();
    roots.sort();
    if unlanded.is_empty() {
        return Ok(());
    }
    for l in lines {
        if is_bookkeeping(&l.local_ref) || is_bookkeeping(&l.remote_ref) {
            continue;
        }
        if parse_worker_branch(&l.local_ref).is_some()
            || parse_worker_branch(&l.remote_ref).is_some()
        {
            continue;
        }
        let published = first_published(repo, l, &roots, &unlanded)?;
        if let Some((commit, owners)) = published.and_then(|c| unlanded.get(&c).map(|o| (c, o))) {
            let subject = repo
                .commit_message(commit)
                .ok()
                .and_then(|m| m.lines().next().map(str::to_string))
                .unwrap_or_default();
            let who = owners
                .iter()
                .map(|c| format!("task {} claimed by {}", c.task, c.holder))
                .collect::<Vec<_>>()
                .join("; ");
            verdict.violations.push(Violation {
                pushed: l.remote_ref.clone(),
                message: format!(
                    "{} would publish commit {} \"{subject}\", which belongs to {who} and has \
                     not landed on {} through the merge queue",
                    l.remote_ref,
                    short(&commit),
                    settings.target_short()
                ),
            });
        }
    }
    Ok(())
}

/// The first unlanded claim commit that pushing `l` would publish: a root the remote does
/// not have, else (when the remote has some root already) any claim commit it lacks.
fn first_published(
    repo: &Repo,
    l: &PushLine,
    roots: &[ObjectId],
    unlanded: &HashMap<ObjectId, Vec<&ClaimInfo>>,
) -> Result<Option<ObjectId>, GitError> {
    let local = l.local.expect("deletions were filtered");
    let remote_has = |c: ObjectId| -> Result<bool, GitError> {
        match l.remote {
            Some(r) if repo.is_commit(r)? => repo.is_ancestor(c, r),
            _ => Ok(false),
        }
    };
    let mut published = None;
    let mut remote_had_a_root = false;
    for root in roots {
        if repo.is_ancestor(*root, local)? {
            if remote_has(*root)? {
                remote_had_a_root = true;
            } else {
                published = Some(*root);
                break;
            }
        }
    }
    if published.is_none() && remote_had_a_root {
        // The remote has the start of some claim's work already: look at the rest.
        let mut rest: Vec<ObjectId> = unlanded.keys().copied().collect();
        rest.sort();
        for c in rest {
            if repo.is_ancestor(c, local)? && !remote_has(c)? {
                published = Some(c);
                break;
            }
        }
    }
    Ok(published)
}

/// Refs that hold git oompa's own bookkeeping, not code.
fn is_bookkeeping(name: &str) -> bool {
    name.starts_with(crate::store::layout::REF_NAMESPACE) || name.starts_with("refs/notes/")
}

/// Every task in `current/` at the queue tip, with its swarm's target (only those blobs
/// and records are read).
fn claimed_tasks(repo: &Repo) -> Result<Vec<ClaimInfo>, GitError> {
    let Some(tip) = repo.read_ref(QUEUE_REF)? else {
        return Ok(Vec::new());
    };
    let tree = repo.commit_tree(tip)?;
    let mut targets: HashMap<String, Option<String>> = HashMap::new();
    let mut out = Vec::new();
    for (_, blob) in repo.list_dir(tree, State::Current.dir())? {
        let Ok(data) = repo.read_blob(blob) else {
            continue;
        };
        let Ok(task) = Task::from_json(&data) else {
            continue;
        };
        let Some(claim) = &task.claim else { continue };
        let target = targets
            .entry(claim.swarm.clone())
            .or_insert_with(|| {
                super::invariants::swarm_record(repo, tree, &claim.swarm)
                    .map(|r| super::full_branch(&r.target))
            })
            .clone();
        out.push(ClaimInfo {
            task: task.id.to_string(),
            holder: crate::store::queue::holder(&task),
            branch: claim.branch.clone(),
            target,
        });
    }
    Ok(out)
}

/// Commits on claims' branches that their target (the swarm's, else the repository's) does
/// not have, each with its claims.
fn unlanded_claim_commits<'c>(
    repo: &Repo,
    claims: &'c [ClaimInfo],
    settings: &Settings,
) -> Result<HashMap<ObjectId, Vec<&'c ClaimInfo>>, GitError> {
    let mut out: HashMap<ObjectId, Vec<&ClaimInfo>> = HashMap::new();
    let mut by_branch: BTreeMap<(&str, Option<&str>), Vec<&ClaimInfo>> = BTreeMap::new();
    for c in claims {
        if let Some(b) = &c.branch {
            let target = c.target.as_deref().or(settings.target_ref.as_deref());
            by_branch.entry((b.as_str(), target)).or_default().push(c);
        }
    }
    for ((branch, target), owners) in by_branch {
        // Without a target nothing can be called landed or not; the branch check still runs.
        let Some(target_tip) = target.map(|t| repo.read_ref(t)).transpose()?.flatten() else {
            continue;
        };
        let Some(tip) = repo.read_ref(branch)? else {
            continue;
        };
        for commit in repo.commits_excluding(&[tip], &[target_tip], CLAIM_WALK_LIMIT)? {
            out.entry(commit)
                .or_default()
                .extend(owners.iter().copied());
        }
    }
    Ok(out)
}

/// The `complete/` entries of the pushed queue commit that the remote's queue does not have.
fn new_completions(repo: &Repo, queue: &PushLine) -> Result<Vec<(String, ObjectId)>, GitError> {
    let local = queue.local.expect("deletions were filtered");
    let new_tree = repo.commit_tree(local)?;
    let known: HashSet<(String, ObjectId)> = match queue.remote {
        Some(r) if repo.is_commit(r)? => {
            let old_tree = repo.commit_tree(r)?;
            repo.list_dir(old_tree, State::Complete.dir())?
                .into_iter()
                .collect()
        }
        _ => HashSet::new(),
    };
    Ok(repo
        .list_dir(new_tree, State::Complete.dir())?
        .into_iter()
        .filter(|e| !known.contains(e))
        .collect())
}

/// Where landings may be after the push: the target being pushed, and the remote's target
/// (from the push line, else the remote-tracking branch) when it is a commit here.
fn target_tips(
    repo: &Repo,
    remote: &str,
    target_ref: &str,
    short_target: &str,
    lines: &[PushLine],
) -> Vec<ObjectId> {
    let pushed_target = lines
        .iter()
        .find(|l| l.remote_ref == target_ref)
        .and_then(|l| l.local);
    let remote_target = lines
        .iter()
        .find(|l| l.remote_ref == target_ref)
        .and_then(|l| l.remote)
        .or_else(|| {
            repo.read_ref(&format!("refs/remotes/{remote}/{short_target}"))
                .ok()
                .flatten()
        })
        .filter(|id| repo.is_commit(*id).unwrap_or(false));
    pushed_target.into_iter().chain(remote_target).collect()
}

/// Check 3 of 3: every task the pushed queue newly marks complete has its landing commit on the
/// target being pushed or on the remote's target already.
fn check_completions(
    repo: &Repo,
    remote: &str,
    settings: &Settings,
    lines: &[PushLine],
    queue: &PushLine,
    verdict: &mut Verdict,
) -> Result<(), GitError> {
    let fresh = new_completions(repo, queue)?;
    if fresh.is_empty() {
        return Ok(());
    }
    let Some(target_ref) = settings.target_ref.as_deref() else {
        return Ok(());
    };
    let short_target = settings.target_short();
    let tips = target_tips(repo, remote, target_ref, short_target, lines);
    // Completions the merge queue already vouched for, on a target the push carries.
    let fresh = match read_baseline(repo) {
        Some(b)
            if tips
                .iter()
                .any(|t| repo.is_ancestor(b.target, *t).unwrap_or(false)) =>
        {
            let vouched: HashSet<(String, ObjectId)> =
                complete_entries(repo, b.queue)?.into_iter().collect();
            fresh.into_iter().filter(|e| !vouched.contains(e)).collect()
        }
        _ => fresh,
    };
    let landed = landings(repo, fresh);
    let reachable: Option<HashSet<ObjectId>> = if landed.len() > BULK_COMPLETIONS {
        Some(
            repo.commits_excluding(&tips, &[], usize::MAX)?
                .into_iter()
                .collect(),
        )
    } else {
        None
    };
    // A landing is near the tip of the target that has it: `is_ancestor` walks down from the tip
    // and stops there, where a merge base could also paint the landing's own history.
    let mut missing = 0;
    for (task, commit) in &landed {
        let ok = match &reachable {
            Some(set) => set.contains(commit),
            None => tips
                .iter()
                .any(|t| repo.is_ancestor(*commit, *t).unwrap_or(false)),
        };
        if ok {
            continue;
        }
        missing += 1;
        let worker = task
            .landed
            .as_ref()
            .and_then(|l| l.worker.clone())
            .map(|w| format!(" by worker {w}"))
            .unwrap_or_default();
        verdict.violations.push(Violation {
            pushed: QUEUE_REF.into(),
            message: format!(
                "{QUEUE_REF} marks task {} complete (landed{worker} as {}), but that commit is \
                 neither on the {short_target} being pushed nor on {remote}'s {short_target}",
                task.id,
                short(commit)
            ),
        });
    }
    if missing > 0 {
        verdict.hints.push(format!(
            "push the landings with the queue, in one go: `git push --atomic {remote} \
             {short_target} {QUEUE_REF}`"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_skips_junk_and_marks_deletions_and_new_refs() {
        let zero = "0".repeat(40);
        let a = "a".repeat(40);
        let input = format!(
            "refs/heads/x {a} refs/heads/x {zero}\nrefs/heads/y {zero} refs/heads/y {a}\njunk\n"
        );
        let lines = parse(&input);
        assert_eq!(lines.len(), 2);
        assert!(lines[0].local.is_some() && lines[0].remote.is_none());
        assert!(lines[1].local.is_none() && lines[1].remote.is_some());
    }
}
