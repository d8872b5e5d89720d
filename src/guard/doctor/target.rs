//! The checks of the target branch: it exists, its files hold no conflict markers, and it
//! moved only through the merge queue lately.

use super::{Finding, Fix};
use crate::git::Repo;
use crate::guard::{Settings, invariants, short};

/// Whether the target branch is known and exists.
pub(super) fn target(repo: &Repo, settings: &Settings) -> Finding {
    // Deleted outside git oompa, or pointed at something that is not a commit.
    if let Some(d) = crate::guard::target_gone::find(repo, settings.target_ref.as_deref()).first() {
        return Finding::problem("target", d.describe(), d.fix())
            .fixable(Fix::RestoreTarget(d.name.clone(), d.last));
    }
    if let Some(t) = &settings.target_ref
        && let Ok(Some(w)) = crate::guard::ref_kinds::check(repo, t)
    {
        return Finding::problem("target", w.describe(), w.fix())
            .fixable(Fix::RepairRefKind(w.name));
    }
    match &settings.target_ref {
        None => Finding::problem(
            "target",
            "cannot tell the target branch: HEAD is detached and none is configured",
            "git config oompa.targetBranch main",
        ),
        Some(t) => match repo.read_ref(t) {
            Ok(Some(id)) => Finding::ok(
                "target",
                format!("{} at {}", settings.target_short(), short(&id)),
            ),
            _ => Finding::problem(
                "target",
                format!(
                    "the target branch {} does not exist",
                    settings.target_short()
                ),
                "create it, or set `target` in oompa.toml / `git config oompa.targetBranch`",
            ),
        },
    }
}

/// Conflict blocks (`<<<<<<<` … `=======` … `>>>>>>>`) in files on the target's tip.
pub(super) fn conflict_markers(repo: &Repo, settings: &Settings) -> Option<Finding> {
    let t = settings.target_ref.as_ref()?;
    let tip = repo.read_ref(t).ok().flatten()?;
    let name = settings.target_short();
    Some(match crate::git::markers::scan_commit(repo, tip) {
        Ok(found) if found.is_empty() => {
            Finding::ok("conflict markers", format!("none in the files on {name}"))
        }
        Ok(found) => {
            let places: Vec<String> = found
                .iter()
                .take(10)
                .map(|(p, l)| format!("{p}:{l}"))
                .collect();
            let more = found.len().saturating_sub(places.len());
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            Finding::problem(
                "conflict markers",
                format!(
                    "{name} ({}) has unresolved conflict markers at {}{more}",
                    short(&tip),
                    places.join(", ")
                ),
                format!(
                    "`git grep -n -e '^<<<<<<< ' -e '^>>>>>>> ' {name}` lists them; resolve them \
                     in a commit on {name}"
                ),
            )
        }
        Err(e) => Finding::problem(
            "conflict markers",
            format!("cannot read the files on {name}: {e}"),
            format!("`git fsck` checks the objects of {name}"),
        ),
    })
}

/// Moves of the target that did not go through the merge queue, lately.
pub(super) fn landings(repo: &Repo, settings: &Settings, out: &mut Vec<Finding>) {
    let Some(t) = &settings.target_ref else {
        return;
    };
    match invariants::target_moves(repo, t) {
        Ok(v) if v.is_empty() => out.push(Finding::ok(
            "landings",
            format!(
                "{} moved only through the merge queue lately",
                settings.target_short()
            ),
        )),
        Ok(v) => {
            for violation in v {
                out.push(Finding::problem(
                    "landings",
                    violation.describe(),
                    violation.fix(),
                ));
            }
        }
        Err(e) => out.push(Finding::problem(
            "landings",
            format!("cannot read the reflog of {t}: {e}"),
            format!("`git reflog show {t}` shows what git finds"),
        )),
    }
}
