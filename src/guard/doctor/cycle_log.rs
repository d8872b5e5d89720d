//! The check of the cycle log (`refs/notes/oompa`): no records lost, pointing at a commit,
//! every line a cycle record.

use super::{Finding, Fix};
use crate::git::{ObjectId, Repo};
use crate::guard::invariants::{self, Violation};
use crate::guard::short;
use crate::store::layout::REPLACED_PREFIX;
use crate::store::notes::{NOTES_REF, Notes, NotesError};

/// The cycle log: no records lost, pointing at a commit, every line a cycle record.
pub(super) fn notes(repo: &Repo, out: &mut Vec<Finding>) {
    let lost = invariants::notes_lost(repo);
    for violation in &lost {
        if let Violation::NotesDiverged { lost: id, .. }
        | Violation::NotesReplaced { known: id, .. } = violation
        {
            out.push(
                Finding::problem("cycle log", violation.describe(), violation.fix())
                    .fixable(Fix::MergeNotes(*id)),
            );
        }
    }
    let tip = match repo.read_ref(NOTES_REF) {
        Ok(None) if !lost.is_empty() => return,
        Ok(None) => {
            out.push(Finding::ok(
                "cycle log",
                format!("{NOTES_REF}: no cycles yet"),
            ));
            return;
        }
        Ok(Some(t)) => t,
        Err(e) => {
            out.push(unreadable_notes(e));
            return;
        }
    };
    if !repo.is_commit(tip).unwrap_or(false) {
        out.push(notes_not_a_commit(repo, tip));
        return;
    }
    out.push(notes_records(repo));
}

fn unreadable_notes(e: impl std::fmt::Display) -> Finding {
    Finding::problem(
        "cycle log",
        format!("cannot read {NOTES_REF}: {e}"),
        format!("`git log {NOTES_REF}` shows what git finds"),
    )
}

/// The cycle log points at `tip`, which is not a commit: put back its last commit when git
/// oompa knows it.
fn notes_not_a_commit(repo: &Repo, tip: ObjectId) -> Finding {
    match Notes::new(repo).read_all() {
        Err(e @ NotesError::NotACommit { .. }) => Finding::problem(
            "cycle log",
            e.to_string(),
            format!(
                "`git oompa doctor --fix` points it back at its last commit, keeping the \
                 current value under {REPLACED_PREFIX}"
            ),
        )
        .fixable(Fix::RestoreNotes),
        _ => Finding::problem(
            "cycle log",
            format!(
                "{NOTES_REF} points at {}, which is not a commit",
                short(&tip)
            ),
            format!(
                "`git reflog show {NOTES_REF}` lists the values it had; reset it to the \
                 last good one"
            ),
        ),
    }
}

/// Whether every line of the cycle log is a cycle record.
fn notes_records(repo: &Repo) -> Finding {
    match Notes::new(repo).read_all() {
        Ok((entries, bad)) if bad.is_empty() => Finding::ok(
            "cycle log",
            format!(
                "{NOTES_REF} readable ({} cycle record{})",
                entries.len(),
                if entries.len() == 1 { "" } else { "s" }
            ),
        ),
        Ok((_, bad)) => Finding::problem(
            "cycle log",
            format!(
                "{} in {NOTES_REF} {} not cycle records (first: note on {} line {}: {})",
                if bad.len() == 1 {
                    "1 line".to_string()
                } else {
                    format!("{} lines", bad.len())
                },
                if bad.len() == 1 { "is" } else { "are" },
                &bad[0].commit[..bad[0].commit.len().min(12)],
                bad[0].line,
                bad[0].reason
            ),
            "`git oompa log` skips them; `git notes --ref=oompa edit <commit>` removes them",
        ),
        Err(e) => unreadable_notes(e),
    }
}
