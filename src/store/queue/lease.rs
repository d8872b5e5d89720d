//! Keeping a swarm worker's claims alive: a worker that waits (a usage limit, a long turn)
//! keeps its claims, and their lease must outlast the wait, or another host's recovery takes
//! them for dead (`claim_is_dead`) while the worker still means to land them.

use super::{Plan, Queue, QueueError, State};
use crate::store::task::TaskId;

impl Queue<'_> {
    /// Extends to `until` the lease of every claim `swarm`/`worker` holds whose lease ends
    /// before `need`; the others are left as they are. One commit (compare-and-swap, like every
    /// queue write), or none when no lease needs it. Returns the ids renewed.
    pub fn renew_leases(
        &self,
        swarm: &str,
        worker: &str,
        need: jiff::Timestamp,
        until: jiff::Timestamp,
    ) -> Result<Vec<TaskId>, QueueError> {
        let ends_before = |lease: &str| lease.parse::<jiff::Timestamp>().map_or(true, |t| t < need);
        self.update(|tree| {
            let mut changes = Vec::new();
            let mut renewed = Vec::new();
            let Some(tree) = tree else {
                return Ok(Plan {
                    changes,
                    message: String::new(),
                    result: renewed,
                });
            };
            for (name, blob) in self.repo.list_dir(tree, State::Current.dir())? {
                let path = format!("{}/{name}", State::Current.dir());
                // An unreadable entry is not this worker's to touch (and others report it).
                let Ok(mut task) = self.read_task(&path, &name, blob) else {
                    continue;
                };
                if !task.is_held_by(swarm, worker) {
                    continue;
                }
                let Some(claim) = task.claim.as_mut().filter(|c| ends_before(&c.lease_until))
                else {
                    continue;
                };
                claim.lease_until = until.to_string();
                renewed.push(task.id.clone());
                changes.push((path, Some(task.to_json())));
            }
            Ok(Plan {
                changes,
                message: format!(
                    "renew {} by {swarm}/{worker}\n\nlease until {until}",
                    super::ids_list(renewed.iter())
                ),
                result: renewed,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::git::Repo;
    use crate::store::Claimant;
    use crate::store::task::Task;

    /// A repository with one commit and an empty task queue holding tasks `a`, `b`, `c`.
    fn queue_repo(dir: &std::path::Path) -> Repo {
        let git = |args: &[&str]| crate::git::cli::test_git(dir, args, &[]);
        git(&["init", "-q", "-b", "main"]);
        git(&["commit", "-q", "--allow-empty", "-m", "one"]);
        Repo::discover(dir).expect("repo")
    }

    fn task(id: &str) -> Task {
        Task::from_json(
            format!(
                r#"{{"version":1,"id":"{id}","summary":"task {id}","created":"2026-01-01T00:00:00Z","created_by":"test"}}"#
            )
            .as_bytes(),
        )
        .expect("task json")
    }

    fn id(s: &str) -> TaskId {
        TaskId::new(s).expect("id")
    }

    fn lease_of(queue: &Queue<'_>, task: &str) -> jiff::Timestamp {
        let (_, t) = queue.get(&id(task)).expect("task");
        t.claim.expect("claimed").lease_until.parse().expect("time")
    }

    #[test]
    fn renewing_extends_only_this_workers_leases_that_end_too_soon() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let repo = queue_repo(tmp.path());
        let queue = Queue::new(&repo);
        queue.init().expect("init");
        queue
            .add(&[task("a"), task("b"), task("c")], "test")
            .expect("add");
        let who = |worker: &str| Claimant {
            swarm: "s1".into(),
            worker: worker.into(),
            branch: None,
            lease: Duration::from_secs(3600),
            pid: Some(1),
        };
        queue.claim(&[id("a"), id("b")], &who("w0")).expect("claim");
        queue.claim(&[id("c")], &who("w1")).expect("claim");
        let other = lease_of(&queue, "c");
        let now = jiff::Timestamp::now();
        let hours = |h: i64| now + jiff::SignedDuration::from_hours(h);

        // Every lease lasts past what is needed: nothing is written.
        let tip = queue.tip().expect("tip");
        let renewed = queue
            .renew_leases("s1", "w0", hours(0), hours(48))
            .expect("renew");
        assert!(renewed.is_empty(), "{renewed:?}");
        assert_eq!(queue.tip().expect("tip"), tip);

        // Needed past their end: w0's two leases are renewed in one commit, w1's is not.
        let renewed = queue
            .renew_leases("s1", "w0", hours(2), hours(48))
            .expect("renew");
        assert_eq!(renewed, [id("a"), id("b")]);
        assert_eq!(lease_of(&queue, "a"), hours(48));
        assert_eq!(lease_of(&queue, "b"), hours(48));
        assert_eq!(lease_of(&queue, "c"), other);
        assert_eq!(queue.history_len().expect("history"), 5);
    }
}
