//! The check of git oompa's other refs: keep refs, worker branches and anything else under
//! `refs/oompa/` point at commits ([`crate::guard::ref_kinds`]).

use super::{Finding, Fix};
use crate::git::Repo;
use crate::store::layout::{REF_NAMESPACE, WORKER_BRANCH_PREFIX};

/// Keep refs, worker branches and other refs of git oompa's that do not point at commits.
pub(super) fn ref_kinds(repo: &Repo, out: &mut Vec<Finding>) {
    match crate::guard::ref_kinds::find(repo) {
        Ok(v) if v.is_empty() => out.push(Finding::ok(
            "refs",
            "keep refs and worker branches point at commits",
        )),
        Ok(v) => out.extend(v.into_iter().map(|w| {
            Finding::problem("refs", w.describe(), w.fix()).fixable(Fix::RepairRefKind(w.name))
        })),
        Err(e) => out.push(Finding::problem(
            "refs",
            format!("cannot list git oompa's refs: {e}"),
            format!(
                "`git for-each-ref {REF_NAMESPACE} {WORKER_BRANCH_PREFIX}` shows what git finds"
            ),
        )),
    }
}
