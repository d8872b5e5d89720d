//! Crash and tamper leftovers found after issue 8: a replaced queue pushed through
//! `pre-push`, the target branch deleted under a running swarm, refs under `refs/oompa/`
//! pointing at the wrong kind of object, a gated landing while a person moves the target,
//! notices of dead swarms left in the queue.

use crate::common::guard::{doctor, oompa_repo, user_git};
use crate::common::{TestEnv, stderr};

const EMPTY_TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
const QUEUE_REF: &str = "refs/oompa/tasks";

fn rev(env: &TestEnv, spec: &str) -> String {
    env.git(&["rev-parse", spec]).trim().to_string()
}

fn short(hex: &str) -> &str {
    &hex[..12]
}

/// An initialised repository with two tasks whose queue and target were pushed to a bare
/// `origin`.
fn pushed_queue_repo() -> TestEnv {
    let env = oompa_repo();
    env.oompa_ok(&["task", "add", "First", "--id", "x1"]);
    env.oompa_ok(&["task", "add", "Second", "--id", "x2"]);
    let remote = env.tmp.path().join("origin.git");
    env.git(&["init", "-q", "--bare", remote.to_str().unwrap()]);
    env.git(&["remote", "add", "origin", remote.to_str().unwrap()]);
    let out = user_git(
        &env,
        &env.repo,
        &["push", "-q", "origin", "main", QUEUE_REF],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    env
}

fn remote_queue(env: &TestEnv) -> String {
    let remote = env.tmp.path().join("origin.git");
    crate::common::guard::git_ok(env, &remote, &["rev-parse", QUEUE_REF])
        .trim()
        .to_string()
}

#[test]
fn pre_push_refuses_a_replaced_queue_with_the_doctor_hint() {
    let env = pushed_queue_repo();
    let good = rev(&env, QUEUE_REF);
    let unrelated = env.git(&["commit-tree", EMPTY_TREE, "-m", "x"]);
    let unrelated = unrelated.trim().to_string();
    env.git(&["update-ref", QUEUE_REF, &unrelated]);

    // Forced over the remote's queue, and to a remote that has none yet: both refused with
    // the hint every command gives.
    let fresh = env.tmp.path().join("fresh.git");
    env.git(&["init", "-q", "--bare", fresh.to_str().unwrap()]);
    for args in [
        vec!["push", "-q", "--force", "origin", QUEUE_REF],
        vec!["push", "-q", fresh.to_str().unwrap(), QUEUE_REF],
    ] {
        let out = user_git(&env, &env.repo, &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("git oompa refuses this push"), "{err}");
        assert!(
            err.contains(&format!(
                "refs/oompa/tasks was replaced outside git oompa: it points at {}, which does \
                 not descend from {}",
                short(&unrelated),
                short(&good)
            )),
            "{args:?}: {err}"
        );
        assert!(
            err.contains("hint: `git oompa doctor --fix` puts back")
                && err.contains("`git oompa doctor --accept`"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(remote_queue(&env), good, "the remote's queue is untouched");

    // An explicit value off the chain, a blob, and a deletion of the remote's queue.
    env.git(&["update-ref", QUEUE_REF, &good]);
    let blob = env.open().write_blob(b"not a queue\n").unwrap().to_string();
    for (args, says) in [
        (
            vec![
                "push".to_string(),
                "-q".into(),
                "--force".into(),
                "origin".into(),
                format!("{unrelated}:{QUEUE_REF}"),
            ],
            "is not on the chain of refs/oompa/tasks".to_string(),
        ),
        (
            vec![
                "push".into(),
                "-q".into(),
                "--force".into(),
                "origin".into(),
                format!("{blob}:{QUEUE_REF}"),
            ],
            format!("points at blob {}, not at a commit", short(&blob)),
        ),
        (
            vec![
                "push".into(),
                "-q".into(),
                "origin".into(),
                format!(":{QUEUE_REF}"),
            ],
            "this push deletes origin's refs/oompa/tasks".into(),
        ),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = user_git(&env, &env.repo, &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(&says), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(remote_queue(&env), good, "the remote's queue is untouched");

    // After `doctor --fix` the queue moves forward and is pushed as before.
    env.git(&["update-ref", QUEUE_REF, &unrelated]);
    let (code, out, err) = doctor(&env, &["--fix"]);
    assert_eq!(code, Some(0), "{out}{err}");
    env.oompa_ok(&["task", "add", "Third", "--id", "x3"]);
    let out = user_git(&env, &env.repo, &["push", "-q", "origin", QUEUE_REF]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(remote_queue(&env), rev(&env, QUEUE_REF));
}

#[test]
fn pre_push_refuses_to_replace_the_remotes_queue_with_one_that_does_not_descend_from_it() {
    let env = pushed_queue_repo();
    let theirs = rev(&env, QUEUE_REF);
    // This clone's queue is rewound and accepted on purpose: locally fine, but pushing it
    // over the remote's would drop a task there.
    env.git(&["update-ref", QUEUE_REF, &format!("{QUEUE_REF}~1")]);
    let (code, out, err) = doctor(&env, &["--accept"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let out = user_git(
        &env,
        &env.repo,
        &["push", "-q", "--force", "origin", QUEUE_REF],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "this push replaces origin's refs/oompa/tasks at {} with",
            short(&theirs)
        )) && err.contains("which does not descend from it"),
        "{err}"
    );
    assert!(
        err.contains("hint: fetch origin's refs/oompa/tasks first"),
        "{err}"
    );
    assert_eq!(remote_queue(&env), theirs);
}

#[test]
fn doctor_reports_keep_refs_and_worker_branches_at_a_blob_or_a_tree_and_fix_loses_nothing() {
    let env = oompa_repo();
    let commit = rev(&env, "HEAD");
    let tree = rev(&env, "HEAD^{tree}");
    let blob = env.open().write_blob(b"not work\n").unwrap().to_string();
    // A keep ref that held a commit (its reflog says so), then a blob; one that only ever
    // held a tree; a worker branch written as a file (git refuses a blob on a branch).
    let kept = "refs/oompa/keep/s1/w0/3";
    env.git(&["update-ref", "--create-reflog", kept, &commit]);
    env.git(&["update-ref", kept, &blob]);
    env.git(&["update-ref", "refs/oompa/keep/s1/w1/1", &tree]);
    let branch = env.repo.join(".git/refs/heads/oompa/s1/w2");
    std::fs::create_dir_all(branch.parent().unwrap()).unwrap();
    std::fs::write(&branch, format!("{blob}\n")).unwrap();

    let (code, out, _) = doctor(&env, &[]);
    assert_eq!(code, Some(1), "{out}");
    for says in [
        format!(
            "problem refs: {kept} points at blob {}, not at a commit (a keep ref holds \
             unmerged work, a commit)",
            short(&blob)
        ),
        format!(
            "fix: `git oompa doctor --fix` points it back at {} (the last commit its reflog \
             has), keeping {} as refs/oompa/replaced/oompa/keep/s1/w0/3-{}",
            short(&commit),
            short(&blob),
            short(&blob)
        ),
        format!(
            "problem refs: refs/oompa/keep/s1/w1/1 points at tree {}",
            short(&tree)
        ),
        format!(
            "problem refs: refs/heads/oompa/s1/w2 points at blob {}, not at a commit (a worker \
             branch holds the worker's commits)",
            short(&blob)
        ),
    ] {
        assert!(out.contains(&says), "{says}\n{out}");
    }

    let (code, out, err) = doctor(&env, &["--fix"]);
    assert!(out.contains("fixed   refs:"), "{out}{err}");
    assert_ne!(code, Some(2), "{out}{err}");
    assert_eq!(rev(&env, kept), commit);
    // Every value found is still there, under refs/oompa/replaced/.
    let replaced = env.git(&[
        "for-each-ref",
        "--format=%(objectname) %(refname)",
        "refs/oompa/replaced/",
    ]);
    for (id, name) in [
        (&blob, "oompa/keep/s1/w0/3"),
        (&tree, "oompa/keep/s1/w1/1"),
        (&blob, "heads/oompa/s1/w2"),
    ] {
        assert!(
            replaced.contains(&format!("{id} refs/oompa/replaced/{name}-{}", short(id))),
            "{name}: {replaced}"
        );
    }
    let (_, out, _) = doctor(&env, &[]);
    assert!(
        out.contains("ok      refs: keep refs and worker branches point at commits"),
        "{out}"
    );
}

/// The notices in the queue tree: (task, swarm) of each.
fn notices(env: &TestEnv) -> Vec<(String, String)> {
    let list = env.git(&["ls-tree", "--name-only", QUEUE_REF, "notices/"]);
    list.lines()
        .map(|p| {
            let v: serde_json::Value =
                serde_json::from_str(&env.git(&["show", &format!("{QUEUE_REF}:{p}")])).unwrap();
            (
                v["task"].as_str().unwrap().to_string(),
                v["swarm"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn notices_for_workers_of_ended_swarms_are_dropped_by_recovery_and_live_ones_kept() {
    use crate::common::guard::{claim, crash_swarm, start_swarm, stop_swarm};
    let env = oompa_repo();
    let me = std::process::id();
    for s in ["live", "crashed", "stopped"] {
        start_swarm(&env, s, me, &["w0"]);
    }
    for (s, t) in [("live", "t1"), ("crashed", "t2"), ("stopped", "t3")] {
        claim(&env, s, "w0", t, me);
    }
    // A person edits t1 and t2 and removes t3 under their claimers: three notices.
    for t in ["t1", "t2"] {
        env.oompa_ok(&["task", "edit", t, "--summary", "changed", "--force"]);
    }
    env.oompa_ok(&["task", "rm", "t3", "--force"]);
    assert_eq!(notices(&env).len(), 3, "{:?}", notices(&env));

    crash_swarm(&env, "crashed");
    stop_swarm(&env, "stopped");
    let out = env.oompa(&["task", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    for says in [
        "dropped the notice that task t2 was edited by Test User: its claimer crashed/w0 is no \
         longer running",
        "dropped the notice that task t3 was removed by Test User: its claimer stopped/w0 is \
         no longer running",
    ] {
        assert!(err.contains(says), "{says}\n{err}");
    }
    // The live swarm's worker still gets its notice; nothing else lingers.
    assert_eq!(notices(&env), vec![("t1".to_string(), "live".to_string())]);
    let err = stderr(&env.oompa(&["task", "list"]));
    assert!(!err.contains("dropped the notice"), "said once: {err}");
}

/// A swarm of `workers` polite fake agents over `tasks` tasks; the first agent to finish a
/// task runs `script` (a shell script, as a person in the main checkout: no `OOMPA_*`)
/// before it signals merge. Returns the marker directory the agent makes.
fn swarm_with_person(
    tasks: usize,
    workers: u32,
    extra: &str,
    script: &str,
) -> (TestEnv, std::path::PathBuf) {
    use crate::common::swarm::{swarm_repo, worker_with_env};
    let env = swarm_repo(tasks, "");
    let flag = env.tmp.path().join("once");
    let path = env.tmp.path().join("person.sh");
    std::fs::write(
        &path,
        format!(
            "unset OOMPA_WORKER OOMPA_SWARM OOMPA_CYCLE OOMPA_BRANCH OOMPA_TARGET\ncd '{}'\n{script}\n",
            env.repo.display()
        ),
    )
    .unwrap();
    std::fs::write(
        env.repo.join("oompa.toml"),
        format!(
            "error_backoff = 0\n{extra}\n{}",
            worker_with_env(
                "polite",
                workers,
                "max_cycles = 8\ncan_plan = false",
                &[
                    ("FAKE_ONCE", &format!("sh {}", path.display())),
                    ("FAKE_ONCE_FLAG", flag.to_str().unwrap())
                ],
            )
        ),
    )
    .unwrap();
    (env, flag)
}

#[test]
fn a_target_deleted_under_a_running_swarm_stops_it_once_with_the_restore_command() {
    let (env, flag) = swarm_with_person(
        3,
        1,
        "",
        "git checkout -q --detach && git branch -q -D main",
    );
    let main_before = rev(&env, "main");
    let out = env.oompa(&["swarm"]);
    assert!(flag.is_dir(), "the person deleted main");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let said = format!(
        "the target branch main was deleted outside git oompa (it was at {})",
        short(&main_before)
    );
    assert_eq!(
        err.matches(&said).count(),
        2,
        "a warning and the error:\n{err}"
    );
    assert!(
        err.contains(&format!(
            "hint: `git branch main {main_before}` puts it back"
        )),
        "{err}"
    );
    // No cycle after the one that found it gone: no worker burns its cycles failing.
    assert!(!err.contains("cycle 2 started"), "{err}");
    assert!(!err.contains("failed cycles in a row"), "{err}");
    // Nothing lost: the work of the cycle in flight is kept, every task is pending.
    assert!(
        err.contains("unmerged work kept as refs/oompa/keep/"),
        "{err}"
    );
    let pending = env.oompa_ok(&["task", "list", "--state", "pending"]);
    for t in ["t00", "t01", "t02"] {
        assert!(pending.contains(t), "{pending}");
    }
    // doctor names the exact commit, and --fix puts main back there.
    let (code, out, _) = doctor(&env, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "problem target: the target branch main does not exist; the last tip a swarm saw \
             there was {}",
            short(&main_before)
        )),
        "{out}"
    );
    // Starting a swarm again (HEAD still detached) says the same.
    let out = env.oompa(&["swarm"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "hint: `git branch main {main_before}` puts it back"
        )),
        "{}",
        stderr(&out)
    );
    let (_, out, err) = doctor(&env, &["--fix"]);
    assert!(
        out.contains(&format!("created main again at {}", short(&main_before))),
        "{out}{err}"
    );
    assert_eq!(rev(&env, "refs/heads/main"), main_before);
}

/// A gated swarm of one polite worker over `tasks` tasks whose gate, on its first run, runs
/// `person` (a shell script, as a person in the main checkout) while the run is going on.
fn gated_swarm_with_person_during_the_run(tasks: usize, person: &str) -> TestEnv {
    use crate::common::swarm::{swarm_repo, worker_table};
    let env = swarm_repo(
        tasks,
        &worker_table("polite", 1, "max_cycles = 8\ncan_plan = false"),
    );
    let once = env.tmp.path().join("person-done");
    let gate = env.tmp.path().join("gate.sh");
    std::fs::write(
        &gate,
        format!(
            "if mkdir '{once}' 2>/dev/null; then\n\
             (unset OOMPA_WORKER OOMPA_SWARM OOMPA_CYCLE OOMPA_BRANCH OOMPA_TARGET GIT_DIR \
             GIT_WORK_TREE GIT_INDEX_FILE; cd '{repo}' && {person}) >&2 || exit 1\n\
             fi\n\
             echo gate passed\n",
            once = once.display(),
            repo = env.repo.display()
        ),
    )
    .unwrap();
    let path = env.repo.join("oompa.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!("[gate]\ncommand = \"sh {}\"\n", gate.display()));
    std::fs::write(&path, text).unwrap();
    env
}

/// The person's checkout has no change against main (untracked files aside).
fn assert_checkout_at_main(env: &TestEnv) {
    let status = env.git(&["status", "--porcelain", "--untracked-files=no"]);
    assert_eq!(status, "", "the checkout is not at main");
    assert_eq!(
        env.git(&["rev-parse", "HEAD"]).trim(),
        rev(env, "refs/heads/main")
    );
}

#[test]
fn a_gated_landing_while_a_person_moves_main_by_update_ref_leaves_the_checkout_at_main() {
    let env = gated_swarm_with_person_during_the_run(
        2,
        "export GIT_INDEX_FILE=\"$PWD/.git/person-index\" && git read-tree main && \
         blob=$(echo 'made outside' | git hash-object -w --stdin) && \
         git update-index --add --cacheinfo 100644,$blob,outside.txt && \
         c=$(git commit-tree $(git write-tree) -p main -m 'outside move') && \
         rm -f \"$GIT_INDEX_FILE\" && git update-ref refs/heads/main $c",
    );
    let out = env.oompa(&["swarm"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("outside the merge queue"), "{err}");
    let log = env.git(&["log", "--format=%s", "main"]);
    assert!(log.contains("outside move"), "{log}");
    assert_eq!(crate::common::swarm::states(&env).2, 2, "{err}");
    assert_checkout_at_main(&env);
    assert_eq!(
        std::fs::read_to_string(env.repo.join("outside.txt")).unwrap(),
        "made outside\n"
    );
}

#[test]
fn a_gated_landing_while_a_person_commits_on_main_leaves_the_checkout_at_main() {
    let env = gated_swarm_with_person_during_the_run(
        2,
        "echo 'by hand' > NOTES.md && git add NOTES.md && git commit -q -m 'by hand'",
    );
    let out = env.oompa(&["swarm"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let log = env.git(&["log", "--format=%s", "main"]);
    assert!(log.contains("by hand"), "{log}");
    assert_eq!(crate::common::swarm::states(&env).2, 2, "{err}");
    assert_checkout_at_main(&env);
}

#[test]
fn a_target_branch_written_to_point_at_a_blob_is_refused_by_the_swarm_and_doctor_fix_restores_it() {
    let env = oompa_repo();
    env.oompa_ok(&["task", "add", "First", "--id", "x1"]);
    let good = rev(&env, "main");
    let blob = env
        .open()
        .write_blob(b"not a commit\n")
        .unwrap()
        .to_string();
    // git refuses a blob on a branch; a ref file written by hand is not refused.
    std::fs::write(env.repo.join(".git/refs/heads/main"), format!("{blob}\n")).unwrap();
    let out = env.oompa(&["swarm"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "error: refs/heads/main points at blob {}, not at a commit",
            short(&blob)
        )) && err.contains(&format!(
            "hint: `git oompa doctor --fix` points it back at {}",
            short(&good)
        )),
        "{err}"
    );
    let (code, out, _) = doctor(&env, &[]);
    assert_eq!(code, Some(1));
    assert!(
        out.contains("problem target: refs/heads/main points at blob"),
        "{out}"
    );
    let (_, out, err) = doctor(&env, &["--fix"]);
    assert!(
        out.contains("pointed refs/heads/main back at"),
        "{out}{err}"
    );
    assert_eq!(rev(&env, "main"), good);
    assert_eq!(
        rev(
            &env,
            &format!("refs/oompa/replaced/heads/main-{}", short(&blob))
        ),
        blob
    );
}

#[test]
fn a_known_tip_record_naming_no_commit_neither_refuses_nor_rewinds_the_queue() {
    let env = oompa_repo();
    env.oompa_ok(&["task", "add", "First", "--id", "x1"]);
    env.oompa_ok(&["task", "add", "Second", "--id", "x2"]);
    let tip = rev(&env, QUEUE_REF);
    let blob = env
        .open()
        .write_blob(b"not a commit\n")
        .unwrap()
        .to_string();
    std::fs::write(
        env.repo.join(".git/oompa/known-tips/refs/oompa/tasks"),
        format!("{blob}\n"),
    )
    .unwrap();
    let list = env.oompa_ok(&["task", "list"]);
    assert!(list.contains("x1") && list.contains("x2"), "{list}");
    let (code, out, err) = doctor(&env, &["--fix"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(rev(&env, QUEUE_REF), tip, "doctor --fix rewound the queue");
    // The tip found is the known one again: a replacement after this is caught.
    let unrelated = env.git(&["commit-tree", EMPTY_TREE, "-m", "x"]);
    env.git(&["update-ref", QUEUE_REF, unrelated.trim()]);
    let out = env.oompa(&["task", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("refs/oompa/tasks was replaced outside git oompa"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_notice_entry_that_is_not_a_blob_keeps_no_other_notice_from_its_worker() {
    use crate::common::guard::{claim, start_swarm};
    use oompa::store::Queue;
    let env = oompa_repo();
    let me = std::process::id();
    start_swarm(&env, "s1", me, &["w0"]);
    claim(&env, "s1", "w0", "t1", me);
    env.oompa_ok(&["task", "edit", "t1", "--summary", "changed", "--force"]);
    // Someone puts a tree where a notice belongs, by hand.
    let repo = env.open();
    let tip = repo.read_ref(QUEUE_REF).unwrap().unwrap();
    let tree_id = repo
        .commit_tree(repo.read_ref("HEAD").unwrap().unwrap())
        .unwrap();
    let tree = repo
        .edit_tree(
            Some(repo.commit_tree(tip).unwrap()),
            &[("notices/a-tree.json".to_string(), Some(tree_id))],
        )
        .unwrap();
    let commit = repo.commit("by hand", tree, &[tip]).unwrap();
    env.git(&[
        "update-ref",
        QUEUE_REF,
        &commit.to_string(),
        &tip.to_string(),
    ]);
    let taken = Queue::new(&repo).take_notices("s1", "w0").unwrap();
    assert_eq!(taken.len(), 1, "{taken:?}");
    assert_eq!(taken[0].task.as_str(), "t1");
}

#[test]
fn pre_push_refuses_a_rewritten_cycle_log_with_the_doctor_hint() {
    use oompa::store::notes::Notes;
    let env = pushed_queue_repo();
    let repo = env.open();
    let head = rev(&env, "main");
    for worker in ["a", "b"] {
        let record = serde_json::from_str(&format!(
            "{{\"version\":1,\"swarm\":\"s0\",\"worker\":\"{worker}\",\"cycle\":1,\
             \"outcome\":\"done\",\"turns\":1,\"started\":\"2026-01-01T00:00:00Z\",\
             \"ended\":\"2026-01-01T00:00:01Z\",\"duration_ms\":1000,\"base\":\"{head}\"}}"
        ))
        .unwrap();
        Notes::new(&repo).append(&[record]).unwrap();
    }
    // Rewound by hand: the second record is gone from the log.
    env.git(&["update-ref", "refs/notes/oompa", "refs/notes/oompa~1"]);
    let out = user_git(
        &env,
        &env.repo,
        &["push", "-q", "origin", "refs/notes/oompa"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("git oompa refuses this push")
            && err.contains("refs/notes/oompa was")
            && err.contains("hint: `git oompa doctor --fix` merges the lost records back"),
        "{err}"
    );
    let (code, out, err) = doctor(&env, &["--fix"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let out = user_git(
        &env,
        &env.repo,
        &["push", "-q", "origin", "refs/notes/oompa"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn gc_leaves_a_finished_swarms_branch_at_a_blob_to_doctor_instead_of_keeping_the_blob() {
    use crate::common::guard::{crash_swarm, refs_under, start_swarm};
    let env = oompa_repo();
    start_swarm(&env, "s1", std::process::id(), &["w0"]);
    crash_swarm(&env, "s1");
    let blob = env.open().write_blob(b"not work\n").unwrap().to_string();
    let branch = env.repo.join(".git/refs/heads/oompa/s1/w0");
    std::fs::create_dir_all(branch.parent().unwrap()).unwrap();
    std::fs::write(&branch, format!("{blob}\n")).unwrap();

    let out = env.oompa(&["gc"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("refs/heads/oompa/s1/w0 points at blob") && err.contains("doctor --fix"),
        "{err}"
    );
    // No keep ref holds the blob; the branch is left for doctor.
    for k in refs_under(&env, "refs/oompa/keep/") {
        assert_ne!(rev(&env, &k), blob, "{k} keeps the blob");
    }
    assert!(branch.is_file());
}
