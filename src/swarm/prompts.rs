//! The prompts a worker's agent sees: the fresh-session prompt (task header, queue snapshot,
//! role prompts), claim results, plain resumes and the nudge. Rendering only; the words are
//! in the bundled `config/prompts/*.md` files and the user's prompt files.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::agent::prompt::{self, Bundled, PromptError};
use crate::store::{ClaimOutcome, Snapshot, State};

/// The values every template may use.
pub(crate) struct Vars {
    pub swarm: String,
    pub worker: String,
    pub cycle: u32,
    pub target: String,
    pub branch: String,
    /// The latest conflict prediction, for warnings next to pending tasks.
    pub prediction: Option<super::predict::Prediction>,
    /// The landing gate's commands (`cargo test && cargo clippy`), when one is configured.
    pub gate: Option<String>,
}

impl Vars {
    fn map(&self, snap: &Snapshot) -> BTreeMap<String, String> {
        let pending = snap.count(State::Pending);
        let current = snap.count(State::Current);
        let complete = snap.count(State::Complete);
        BTreeMap::from([
            ("swarm".into(), self.swarm.clone()),
            ("worker".into(), self.worker.clone()),
            ("cycle".into(), self.cycle.to_string()),
            ("target".into(), self.target.clone()),
            ("branch".into(), self.branch.clone()),
            (
                "queue".into(),
                queue_markdown(snap, &self.worker, self.prediction.as_ref()),
            ),
            ("pending_count".into(), pending.to_string()),
            ("current_count".into(), current.to_string()),
            ("complete_count".into(), complete.to_string()),
            (
                "task_status".into(),
                format!("Pending: {pending}, In Progress: {current}, Complete: {complete}"),
            ),
            ("pending_tasks".into(), pending_lines(snap)),
        ])
    }
}

/// Fresh session: the task header, then the role prompts (or the bundled worker prompt).
/// `Err` when a role prompt file cannot be read: the agent gets no prompt with a hole in it.
pub(crate) fn fresh(
    vars: &Vars,
    snap: &Snapshot,
    role_files: &[std::path::PathBuf],
) -> Result<String, PromptError> {
    let role = prompt::role(role_files, Bundled::Worker)?;
    let map = vars.map(snap);
    let mut text = prompt::render(Bundled::TaskHeader.text(), &map);
    if let Some(gate) = &vars.gate {
        let _ = write!(
            text,
            "\n\n## Landing gate\nBefore your change lands, the merge queue runs `{gate}` on the \
             merge of your branch into `{}`; only a pass lands. If it fails you get its output \
             here and fix it. Run it yourself before you signal `COMPLETE_AND_READY_FOR_MERGE`.",
            vars.target
        );
    }
    text.push_str("\n\n");
    text.push_str(&prompt::render(&role, &map));
    Ok(text)
}

/// After a `CLAIM(…)` signal: what was claimed and what was not.
pub(crate) fn claim_results(
    vars: &Vars,
    snap: &Snapshot,
    results: &[(String, ClaimOutcome)],
) -> String {
    let mut map = vars.map(snap);
    let claimed: Vec<String> = results
        .iter()
        .filter(|(_, o)| *o == ClaimOutcome::Claimed)
        .map(|(id, _)| id.clone())
        .collect();
    let failed: Vec<String> = results
        .iter()
        .filter_map(|(id, o)| match o {
            ClaimOutcome::Claimed => None,
            ClaimOutcome::Taken(by) => Some(format!("{id} (held by {by})")),
            ClaimOutcome::Complete => Some(format!("{id} (already landed)")),
            ClaimOutcome::NotFound => Some(format!("{id} (no such task)")),
            ClaimOutcome::Corrupt(_) => Some(format!("{id} (unreadable)")),
        })
        .collect();
    map.insert("claimed".into(), none_if_empty(claimed));
    map.insert("failed".into(), none_if_empty(failed));
    prompt::render(Bundled::ClaimResults.text(), &map)
}

pub(crate) fn resume(vars: &Vars, snap: &Snapshot) -> String {
    prompt::render(Bundled::Resume.text(), &vars.map(snap))
}

pub(crate) fn nudge(vars: &Vars, snap: &Snapshot) -> String {
    prompt::render(Bundled::Nudge.text(), &vars.map(snap))
}

/// The agent signalled merge with its worktree off its branch (`why`).
pub(crate) fn off_branch(vars: &Vars, why: &str) -> String {
    let branch = &vars.branch;
    format!(
        "Your work was not sent for review: {why}. Only your branch `{branch}` is reviewed and \
         landed.\n\n\
         Finish or abort anything you started (`git rebase --continue` or `git rebase --abort`; \
         the same for cherry-pick and revert), then put everything you want landed on \
         `{branch}` and check it out: `git checkout -B {branch}` makes it point where you are \
         now (when that already holds all your work), or `git checkout {branch}` and merge or \
         cherry-pick the commits you made elsewhere. Commit, then end with \
         `COMPLETE_AND_READY_FOR_MERGE` alone on the last line."
    )
}

fn none_if_empty(v: Vec<String>) -> String {
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

/// The queue as the agent sees it: pending tasks in full, claims in one line each.
pub(crate) fn queue_markdown(
    snap: &Snapshot,
    me: &str,
    prediction: Option<&super::predict::Prediction>,
) -> String {
    let mut s = String::new();
    let mut any = false;
    for t in snap.in_state(State::Pending) {
        any = true;
        let _ = write!(
            s,
            "- `{}`: {}",
            t.id,
            t.summary.lines().next().unwrap_or("")
        );
        if let Some(d) = t.difficulty {
            let _ = write!(s, " [{d}]");
        }
        s.push('\n');
        if !t.files.is_empty() {
            let _ = writeln!(s, "  files: {}", t.files.join(", "));
        }
        for a in &t.acceptance {
            let _ = writeln!(s, "  acceptance: {a}");
        }
        if let Some(p) = prediction {
            for (worker, paths) in super::predict::overlaps(p, &t.files, me) {
                let _ = writeln!(
                    s,
                    "  warning: {worker}'s unlanded branch is changing {}; this task may conflict with it",
                    paths.join(", ")
                );
            }
        }
    }
    if !any {
        s.push_str("(no pending tasks)\n");
    }
    let claimed: Vec<String> = snap
        .in_state(State::Current)
        .map(|t| {
            let who = t.claim.as_ref().map(|c| c.worker.as_str()).unwrap_or("?");
            let mine = if who == me { " (yours)" } else { "" };
            format!("`{}` by {who}{mine}", t.id)
        })
        .collect();
    if !claimed.is_empty() {
        let _ = writeln!(s, "\nIn progress: {}", claimed.join(", "));
    }
    s.trim_end().to_string()
}

fn pending_lines(snap: &Snapshot) -> String {
    snap.in_state(State::Pending)
        .map(|t| format!("- {}: {}", t.id, t.summary.lines().next().unwrap_or("")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The reviewer's findings, for the worker's own session.
pub(crate) fn review_fix(vars: &Vars, findings: &str) -> String {
    let mut map = vars.map(&Snapshot::default());
    map.insert("findings".into(), findings.to_string());
    prompt::render(Bundled::ReviewFix.text(), &map)
}

/// A landing-gate failure to fix: what failed on which candidate, and the end of its output.
pub(crate) fn gate_fix(vars: &Vars, f: &super::gate::GateFailure) -> String {
    let mut map = vars.map(&Snapshot::default());
    let others: Vec<&str> = f
        .workers
        .iter()
        .map(String::as_str)
        .filter(|w| *w != vars.worker)
        .collect();
    let others = if others.is_empty() {
        String::new()
    } else {
        format!(
            "; it also held the changes of {}, which have landed without yours since",
            others.join(", ")
        )
    };
    let short = |id: &crate::git::ObjectId| id.to_string()[..12].to_string();
    map.insert("candidate".into(), short(&f.candidate));
    map.insert("base".into(), short(&f.base));
    map.insert("others".into(), others);
    map.insert(
        "command".into(),
        f.command.clone().unwrap_or_else(|| "(checkout)".into()),
    );
    map.insert("status".into(), f.status.clone());
    map.insert(
        "attempts".into(),
        if f.attempts > 1 {
            format!(" (all {} attempts)", f.attempts)
        } else {
            String::new()
        },
    );
    map.insert(
        "output".into(),
        f.output
            .as_ref()
            .map_or_else(|| "(not kept)".into(), |p| p.display().to_string()),
    );
    map.insert(
        "tail".into(),
        if f.tail.trim().is_empty() {
            "(no output)".into()
        } else {
            f.tail.trim_end().to_string()
        },
    );
    prompt::render(Bundled::GateFix.text(), &map)
}

/// A conflict to resolve: the paths and the commits on both sides.
pub(crate) fn resolver(
    vars: &Vars,
    paths: &[String],
    ours: &str,
    theirs: &str,
    branch: &str,
) -> String {
    let mut map = vars.map(&Snapshot::default());
    map.insert(
        "paths".into(),
        paths
            .iter()
            .map(|p| format!("- {p}"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    map.insert("ours".into(), branch.to_string());
    map.insert("theirs".into(), vars.target.clone());
    let mut text = prompt::render(Bundled::Resolver.text(), &map);
    let _ = write!(
        text,
        "\n\nYour commits (not on `{}`):\n{}\nCommits on `{}` since you started:\n{}",
        vars.target,
        indent_or_none(ours),
        vars.target,
        indent_or_none(theirs)
    );
    text
}

fn indent_or_none(lines: &str) -> String {
    if lines.trim().is_empty() {
        "    (none)\n".into()
    } else {
        lines.lines().map(|l| format!("    {l}\n")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{State, TASK_VERSION, Task, TaskId};
    use crate::swarm::predict::{LiveBranch, Prediction};

    #[test]
    fn pending_tasks_touching_a_live_branch_carry_a_warning() {
        let task = |id: &str, files: &[&str]| Task {
            version: TASK_VERSION,
            id: TaskId::new(id).expect("valid"),
            summary: format!("do {id}"),
            description: String::new(),
            difficulty: None,
            files: files.iter().map(|f| f.to_string()).collect(),
            acceptance: vec![],
            created: String::new(),
            created_by: String::new(),
            claim: None,
            landed: None,
            extra: Default::default(),
        };
        let snap = Snapshot {
            tip: None,
            tasks: vec![
                (State::Pending, task("a", &["src/lib.rs"])),
                (State::Pending, task("b", &["docs/x.md"])),
            ],
            corrupt: vec![],
        };
        let p = Prediction {
            branches: vec![
                LiveBranch {
                    worker: "w1".into(),
                    tip: String::new(),
                    changed: vec!["src/lib.rs".into()],
                },
                LiveBranch {
                    worker: "w0".into(),
                    tip: String::new(),
                    changed: vec!["docs/x.md".into()],
                },
            ],
            ..Prediction::default()
        };
        let text = queue_markdown(&snap, "w0", Some(&p));
        assert!(text.contains("- `a`: do a\n  files: src/lib.rs\n  warning: w1's unlanded branch is changing src/lib.rs"), "{text}");
        assert!(
            !text.contains("w0's"),
            "no warning about my own branch: {text}"
        );
        assert!(!queue_markdown(&snap, "w0", None).contains("warning"));
    }
}
