//! The landing step alone: `n` ready worker branches landed one after the other, by the merge
//! queue's steps (driven through the library in the order of `src/swarm/merge_queue.rs`
//! `attempt`) and by oompa 0.7.1's `git checkout main && git merge --no-edit` in the checkout.

use std::path::Path;
use std::time::{Duration, Instant};

use oompa::git::merge::Merge;
use oompa::git::{ObjectId, RefUpdate, Repo, cli};
use oompa::store::trailers::landing_message;
use oompa::store::{Claimant, Landed, Queue, State, TaskId};

use crate::fixture::{Bench, copy_dir, git, make_repo, task};

const SWARM: &str = "bench";

/// Landing times of `n` branches: (git oompa, baseline).
pub fn run(bench: &Bench, n: usize) -> (Duration, Duration) {
    let ours = bench.path("land-oompa");
    let theirs = bench.path("land-baseline");
    make_repo(&ours, 20);
    let repo = Repo::discover(&ours).expect("open");
    let main = repo
        .read_ref("refs/heads/main")
        .expect("main")
        .expect("main");
    let base_tree = repo.commit_tree(main).expect("tree");
    let mut branches = Vec::new();
    for i in 0..n {
        let blob = repo
            .write_blob(format!("change {i}\n").as_bytes())
            .expect("blob");
        let tree = repo
            .edit_tree(Some(base_tree), &[(format!("change-{i}.txt"), Some(blob))])
            .expect("tree");
        let tip = repo
            .commit(&format!("Work of w{i}"), tree, &[main])
            .expect("commit");
        let name = format!("refs/heads/oompa/{SWARM}/w{i}");
        repo.cas_ref(&name, None, tip, "bench").expect("branch");
        branches.push((format!("w{i}"), name, tip));
    }
    copy_dir(&ours, &theirs);

    // The tasks the landings complete: claimed by their workers in the queue, and as files
    // in `current/` for the baseline.
    let queue = Queue::new(&repo);
    let ids: Vec<String> = (0..n).map(|i| format!("land-{i}")).collect();
    let tasks: Vec<_> = ids.iter().map(|id| task(id)).collect();
    queue.add(&tasks, "bench").expect("tasks");
    for (i, (worker, _, _)) in branches.iter().enumerate() {
        let who = Claimant {
            swarm: SWARM.into(),
            worker: worker.clone(),
            branch: None,
            lease: Duration::from_secs(3600),
            pid: None,
        };
        queue
            .claim(&[TaskId::new(&ids[i]).expect("id")], &who)
            .expect("claim");
    }
    let files = theirs.with_extension("tasks");
    for d in ["current", "complete"] {
        std::fs::create_dir_all(files.join(d)).expect("mkdir");
    }
    for id in &ids {
        std::fs::write(files.join("current").join(format!("{id}.json")), "{}\n").expect("task");
    }

    let start = Instant::now();
    for (i, (worker, name, tip)) in branches.iter().enumerate() {
        land(&repo, worker, name, *tip, &ids[i]);
    }
    let oompa = start.elapsed();

    let start = Instant::now();
    for (i, (_, name, _)) in branches.iter().enumerate() {
        let short = name.trim_start_matches("refs/heads/");
        git(&theirs, &["checkout", "-q", "main"]);
        git(&theirs, &["merge", "-q", short, "--no-edit"]);
        let file = format!("{}.json", ids[i]);
        std::fs::rename(
            files.join("current").join(&file),
            files.join("complete").join(&file),
        )
        .expect("complete");
    }
    let baseline = start.elapsed();

    check_landed(&ours, n);
    check_landed(&theirs, n);
    (oompa, baseline)
}

/// One landing, step by step as the merge queue does it: in-memory merge against the target
/// tip, the landing commit with trailers, a dry run of moving the checkout, one transaction
/// moving the target and completing the task, then the checkout follows.
fn land(repo: &Repo, worker: &str, branch: &str, tip: ObjectId, id: &str) {
    let target_ref = "refs/heads/main";
    let target = repo.read_ref(target_ref).expect("read").expect("target");
    let tree = match repo.check_merge(target, tip).expect("check_merge") {
        Merge::FastForward { tree } => tree,
        Merge::Clean { .. } => match repo.merge(target, tip).expect("merge") {
            Merge::Clean { tree } => tree,
            other => panic!("merge changed its mind: {other:?}"),
        },
        other => panic!("unexpected merge result {other:?}"),
    };
    let queue = Queue::new(repo);
    let snap = queue.snapshot().expect("snapshot");
    let tasks: Vec<_> = snap
        .in_state(State::Current)
        .filter(|t| t.id.as_str() == id)
        .filter(|t| t.claim.as_ref().is_some_and(|c| c.worker == worker))
        .cloned()
        .collect();
    assert_eq!(tasks.len(), 1, "task {id} is held by {worker}");
    let short = branch.trim_start_matches("refs/heads/");
    let message = landing_message(&tasks, &[], worker, SWARM, short, 0);
    let commit = repo.commit(&message, tree, &[target, tip]).expect("commit");
    let checkouts: Vec<_> = repo
        .checkouts()
        .expect("checkouts")
        .into_iter()
        .filter(|c| c.branch.as_deref() == Some(target_ref))
        .collect();
    for co in &checkouts {
        cli::check_checkout_forward(&co.path, target, commit).expect("checkout can follow");
    }
    let landed = Landed {
        commit: commit.to_string(),
        review_rounds: 0,
        at: jiff::Timestamp::now().to_string(),
        worker: Some(worker.into()),
    };
    let ids = [tasks[0].id.clone()];
    queue
        .with_lock(|| {
            let updates = vec![
                RefUpdate {
                    name: target_ref.into(),
                    expected: Some(target),
                    new: Some(commit),
                    message: format!("oompa: land {short} ({worker})"),
                },
                queue.plan_complete(&ids, &landed, &format!("{SWARM}/{worker}"))?,
            ];
            repo.transaction(&updates)
                .map_err(oompa::store::QueueError::from)
        })
        .expect("landing transaction");
    for co in &checkouts {
        cli::checkout_forward(&co.path, target, commit).expect("checkout follows");
    }
}

/// Every `change-<i>.txt` is on main and in the checkout, which is clean.
fn check_landed(dir: &Path, n: usize) {
    let files = git(dir, &["ls-tree", "--name-only", "main"]);
    let landed = files.lines().filter(|l| l.starts_with("change-")).count();
    assert_eq!(landed, n, "{} landed {landed} of {n}", dir.display());
    assert!(dir.join(format!("change-{}.txt", n - 1)).is_file());
    let status = git(dir, &["status", "--porcelain", "--untracked-files=no"]);
    assert!(status.trim().is_empty(), "{status}");
}
