//! A target branch deleted outside git oompa (`git branch -D main` while a swarm ran, or
//! after): a swarm keeps the last tip it landed or started a cycle on in
//! `.git/oompa/known-tips/<ref>` (a record of where the branch was, not a chain it must
//! descend from, unlike the queue's),
//! so `doctor` can name the exact commit and `doctor --fix` can put the branch back. Only
//! branches that no longer exist are reported; a record of a branch that exists is left
//! alone. Never prints.

use crate::git::{GitError, ObjectId, Repo};
use crate::store::known;

/// A target branch that is gone, with the last tip git oompa landed on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    /// Full ref name (`refs/heads/main`).
    pub name: String,
    pub last: ObjectId,
}

impl Deleted {
    pub fn short_name(&self) -> &str {
        self.name.trim_start_matches("refs/heads/")
    }

    pub fn describe(&self) -> String {
        format!(
            "the target branch {} does not exist; the last tip a swarm saw there was {}",
            self.short_name(),
            crate::git::short(&self.last)
        )
    }

    pub fn fix(&self) -> String {
        format!(
            "`git branch {} {}` puts it back (so does `git oompa doctor --fix`)",
            self.short_name(),
            self.last
        )
    }
}

/// The target `name` (full ref) if it is gone and git oompa knows where it was; with no
/// name (the target cannot be told: HEAD detached), every branch git oompa landed on that
/// is gone.
pub fn find(repo: &Repo, name: Option<&str>) -> Vec<Deleted> {
    let names: Vec<String> = match name {
        Some(n) => vec![n.to_string()],
        None => recorded_branches(repo),
    };
    names
        .into_iter()
        .filter(|n| matches!(repo.read_ref(n), Ok(None)))
        .filter_map(|n| {
            let last = known::read(repo, &n)?;
            repo.is_commit(last)
                .unwrap_or(false)
                .then_some(Deleted { name: n, last })
        })
        .collect()
}

/// Branches with a known-tip record.
fn recorded_branches(repo: &Repo) -> Vec<String> {
    let dir = known::path(repo, "refs/heads");
    let mut out = Vec::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(&dir)
                && let Some(rel) = rel.to_str()
                && !rel.ends_with(".accepted")
                && !rel.rsplit('/').next().is_some_and(|f| f.starts_with('.'))
            {
                out.push(format!("refs/heads/{rel}"));
            }
        }
    }
    out.sort();
    out
}

/// Creates the branch `name` at `last` again (only if it still does not exist).
pub fn restore(repo: &Repo, name: &str, last: ObjectId) -> Result<String, GitError> {
    repo.cas_ref(
        name,
        None,
        last,
        &format!(
            "oompa: restore {name} at {} (deleted outside git oompa)",
            crate::git::short(&last)
        ),
    )?;
    Ok(format!(
        "created {} again at {}",
        name.trim_start_matches("refs/heads/"),
        crate::git::short(&last)
    ))
}
