//! A tampered queue or log is detected, never silently accepted (issue 8, items 11-15, and
//! their siblings): the queue ref replaced, deleted or pointed at a blob; the cycle log
//! deleted or rewritten (also under a running swarm); a task in two states; malformed queue
//! entries; the target moved around the merge queue during a swarm.

use oompa::git::ObjectId;
use oompa::store::notes::Notes;
use oompa::store::{ClaimOutcome, Claimant, Landed, QUEUE_REF, Queue, QueueError, State, TaskId};

use crate::common::guard::{doctor, git_ok, task};
use crate::common::swarm::{swarm_ok, swarm_repo, worker_with_env};
use crate::common::{TestEnv, stderr, stdout};

const EMPTY_TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

/// An initialised repository with tasks `ids`.
fn queue_repo(ids: &[&str]) -> TestEnv {
    let env = TestEnv::new();
    env.oompa_ok(&["init"]);
    for id in ids {
        env.oompa_ok(&["task", "add", &format!("Task {id}"), "--id", id]);
    }
    env
}

fn rev(env: &TestEnv, spec: &str) -> String {
    env.git(&["rev-parse", spec]).trim().to_string()
}

/// A landing record of a task landed by hand as the commit at HEAD.
fn landed_at_head(env: &TestEnv) -> Landed {
    Landed {
        commit: rev(env, "HEAD"),
        review_rounds: 0,
        at: "2026-01-01T00:00:00Z".into(),
        worker: None,
    }
}

fn short(hex: &str) -> &str {
    &hex[..12]
}

/// Points `refs/oompa/tasks` at a new queue commit whose tree is the current one edited by
/// `edit` (path → content, `None` removes), made with plain git as someone editing the queue
/// by hand would. Returns the new tip.
fn edit_queue_by_hand(env: &TestEnv, edit: &[(&str, Option<&[u8]>)]) -> String {
    let repo = env.open();
    let tip = repo.read_ref(QUEUE_REF).unwrap().unwrap();
    let mut changes = Vec::new();
    for (path, content) in edit {
        let blob = content.map(|c| repo.write_blob(c).unwrap());
        changes.push((path.to_string(), blob));
    }
    let tree = repo
        .edit_tree(Some(repo.commit_tree(tip).unwrap()), &changes)
        .unwrap();
    let commit = repo.commit("edited by hand", tree, &[tip]).unwrap();
    env.git(&[
        "update-ref",
        QUEUE_REF,
        &commit.to_string(),
        &tip.to_string(),
    ]);
    commit.to_string()
}

#[test]
fn a_queue_replaced_by_an_unrelated_commit_is_refused_and_doctor_fix_puts_it_back() {
    let env = queue_repo(&["x1", "x2"]);
    let good = rev(&env, QUEUE_REF);
    // The queue keeps a reflog, so every value it had is listed and kept from `git gc`.
    let reflog = env.git(&["reflog", "show", "--format=%gs", QUEUE_REF]);
    assert!(reflog.starts_with("add x2 by Test User\n"), "{reflog}");
    let unrelated = env.git(&["commit-tree", EMPTY_TREE, "-m", "x"]);
    let unrelated = unrelated.trim();
    env.git(&["update-ref", QUEUE_REF, unrelated]);

    // Every command that reads the queue refuses it, naming the ref and the fix.
    for args in [
        vec!["task", "list"],
        vec!["task", "add", "third"],
        vec!["task", "claim", "x1", "--worker", "me"],
        vec!["status"],
    ] {
        let out = env.oompa(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stdout(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "error: refs/oompa/tasks was replaced outside git oompa: it points at {}, which \
                 does not descend from {}",
                short(unrelated),
                short(&good)
            )),
            "{args:?}: {err}"
        );
        assert!(
            err.contains(&format!(
                "hint: `git oompa doctor --fix` puts back {}, keeping {} as \
                 refs/oompa/replaced/tasks-{}",
                short(&good),
                short(unrelated),
                short(unrelated)
            )),
            "{args:?}: {err}"
        );
        assert_eq!(err.matches("was replaced").count(), 1, "{args:?}: {err}");
    }
    assert_eq!(
        rev(&env, QUEUE_REF),
        unrelated,
        "nothing was written on top"
    );
    // A command that does not read the queue still says so, once.
    let err = stderr(&env.oompa(&["log"]));
    assert!(
        err.contains("warning: refs/oompa/tasks was replaced outside git oompa"),
        "{err}"
    );

    let (code, out, _) = doctor(&env, &[]);
    assert_eq!(code, Some(1));
    assert!(
        out.contains("problem queue: refs/oompa/tasks was replaced outside git oompa"),
        "{out}"
    );
    let (code, out, err) = doctor(&env, &["--fix"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains(&format!(
            "pointed refs/oompa/tasks back at {}; the value it replaced is kept as \
             refs/oompa/replaced/tasks-{}",
            short(&good),
            short(unrelated)
        )),
        "{out}"
    );
    assert_eq!(rev(&env, QUEUE_REF), good);
    assert_eq!(
        rev(
            &env,
            &format!("refs/oompa/replaced/tasks-{}", short(unrelated))
        ),
        unrelated
    );
    let list = env.oompa_ok(&["task", "list"]);
    assert!(list.contains("x1") && list.contains("x2"), "{list}");
    env.oompa_ok(&["task", "add", "third", "--id", "x3"]);
}

#[test]
fn a_queue_rewound_to_an_older_commit_is_refused() {
    // Rewinding would bring back as pending a task that has landed since.
    let env = queue_repo(&["x1"]);
    env.oompa_ok(&["task", "claim", "x1", "--worker", "me"]);
    let good = rev(&env, QUEUE_REF);
    env.git(&["update-ref", QUEUE_REF, &format!("{QUEUE_REF}~1")]);
    let out = env.oompa(&["task", "claim", "x1", "--worker", "you"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("which does not descend from {}", short(&good))),
        "{}",
        stderr(&out)
    );
    let (code, out, err) = doctor(&env, &["--fix"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(rev(&env, QUEUE_REF), good);
}

#[test]
fn a_queue_moved_forward_by_a_fetch_from_another_clone_is_accepted() {
    let env = queue_repo(&["x1"]);
    let clone = env.tmp.path().join("clone");
    env.git(&[
        "clone",
        "-q",
        env.repo.to_str().unwrap(),
        clone.to_str().unwrap(),
    ]);
    git_ok(
        &env,
        &clone,
        &["fetch", "-q", "origin", "refs/oompa/tasks:refs/oompa/tasks"],
    );
    let out = env
        .oompa_cmd_in(&clone, &["task", "add", "from the clone", "--id", "c1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    env.git(&[
        "fetch",
        "-q",
        clone.to_str().unwrap(),
        "refs/oompa/tasks:refs/oompa/tasks",
    ]);
    let list = env.oompa_ok(&["task", "list"]);
    assert!(list.contains("x1") && list.contains("c1"), "{list}");
    let (code, out, err) = doctor(&env, &[]);
    assert_eq!(code, Some(0), "{out}{err}");
}

#[test]
fn a_deleted_queue_is_refused_not_recreated_empty_until_accepted() {
    let env = queue_repo(&["x1"]);
    let good = rev(&env, QUEUE_REF);
    env.git(&["update-ref", "-d", QUEUE_REF]);
    for args in [vec!["task", "list"], vec!["init"]] {
        let out = env.oompa(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "error: refs/oompa/tasks was deleted outside git oompa; its last tip known to \
                 git oompa was {}",
                short(&good)
            )) && err.contains("`git oompa doctor --fix` puts it back at"),
            "{args:?}: {err}"
        );
    }
    assert!(
        env.git_cmd(&["rev-parse", "-q", "--verify", QUEUE_REF])
            .output()
            .unwrap()
            .stdout
            .is_empty()
    );

    // On purpose: accepted, then a new queue.
    let (_, _, err) = doctor(&env, &["--accept"]);
    assert!(
        err.contains(&format!(
            "accepted that refs/oompa/tasks is gone (it was {})",
            short(&good)
        )),
        "{err}"
    );
    env.oompa_ok(&["init"]);
    let out = env.oompa(&["task", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains("x1"));
}

#[test]
fn doctor_accept_takes_a_queue_replaced_on_purpose() {
    let env = queue_repo(&["x1"]);
    let other = queue_repo(&["y1"]);
    // Bring the other repository's queue over the top of this one.
    env.git(&[
        "fetch",
        "-q",
        other.repo.to_str().unwrap(),
        "+refs/oompa/tasks:refs/oompa/tasks",
    ]);
    assert_eq!(env.oompa(&["task", "list"]).status.code(), Some(1));
    let (_, out, err) = doctor(&env, &["--accept"]);
    assert!(err.contains("accepted refs/oompa/tasks at"), "{err}");
    assert!(!out.contains("problem queue"), "{out}");
    let list = env.oompa_ok(&["task", "list"]);
    assert!(list.contains("y1") && !list.contains("x1"), "{list}");
}

#[test]
fn a_queue_ref_pointing_at_a_blob_or_a_tree_names_the_ref_and_the_restore_command() {
    let env = queue_repo(&["x1"]);
    let good = rev(&env, QUEUE_REF);
    let blob = env
        .git_cmd(&["hash-object", "-w", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"not a queue\n")?;
            c.wait_with_output()
        })
        .unwrap();
    let blob = String::from_utf8(blob.stdout).unwrap().trim().to_string();
    let tree = rev(&env, "HEAD^{tree}");
    for (id, kind) in [(blob.as_str(), "blob"), (tree.as_str(), "tree")] {
        env.git(&["update-ref", QUEUE_REF, id]);
        let out = env.oompa(&["task", "list"]);
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "error: refs/oompa/tasks points at {kind} {id}, not at a commit: the queue is a \
                 chain of commits"
            )) && err.contains("hint: `git oompa doctor --fix` points it back"),
            "{err}"
        );
        assert!(!err.contains("was supposed to be of kind commit"), "{err}");
        let (_, out, _) = doctor(&env, &[]);
        assert!(
            out.contains(&format!(
                "problem queue: refs/oompa/tasks points at {kind} {id}, not at a commit"
            )) && out.contains(&format!("points it back at {}", short(&good))),
            "{out}"
        );
        let (code, out, err) = doctor(&env, &["--fix"]);
        assert_eq!(code, Some(0), "{out}{err}");
        assert_eq!(rev(&env, QUEUE_REF), good);
        assert_eq!(
            rev(&env, &format!("refs/oompa/replaced/tasks-{}", short(id))),
            id
        );
        assert!(env.oompa_ok(&["task", "list"]).contains("x1"));
    }
}

/// Appends one record to the cycle log through the library (as the swarm's recorder does).
fn record_cycle(env: &TestEnv, worker: &str) -> ObjectId {
    let repo = env.open();
    let head = repo.read_ref("refs/heads/main").unwrap().unwrap();
    let line = format!(
        "{{\"version\":1,\"swarm\":\"s0\",\"worker\":\"{worker}\",\"cycle\":1,\"outcome\":\"done\",\
         \"turns\":1,\"started\":\"2026-01-01T00:00:00Z\",\"ended\":\"2026-01-01T00:00:01Z\",\
         \"duration_ms\":1000,\"base\":\"{head}\"}}"
    );
    let record = serde_json::from_str(&line).unwrap();
    Notes::new(&repo).append(&[record]).unwrap()
}

#[test]
fn a_deleted_cycle_log_is_reported_and_doctor_fix_merges_it_back() {
    let env = queue_repo(&[]);
    record_cycle(&env, "a");
    let tip = record_cycle(&env, "b").to_string();
    env.git(&["update-ref", "-d", "refs/notes/oompa"]);

    let out = env.oompa(&["log"]);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "warning: refs/notes/oompa was deleted outside git oompa: the cycle records up to \
             {} are no longer in it",
            short(&tip)
        )) && err.contains("hint: `git oompa doctor --fix` merges the lost records back"),
        "{err}"
    );
    // Nothing is written on top of a deleted log: the next append refuses.
    let repo = env.open();
    let head = repo.read_ref("refs/heads/main").unwrap().unwrap();
    let record = serde_json::from_str(&format!(
        "{{\"version\":1,\"swarm\":\"s0\",\"worker\":\"c\",\"cycle\":1,\"outcome\":\"done\",\
         \"turns\":1,\"started\":\"2026-01-01T00:00:00Z\",\"ended\":\"2026-01-01T00:00:01Z\",\
         \"duration_ms\":1000,\"base\":\"{head}\"}}"
    ))
    .unwrap();
    let refused = Notes::new(&repo).append(&[record]).unwrap_err();
    assert!(
        refused.to_string().contains("refs/notes/oompa was deleted"),
        "{refused}"
    );
    assert!(repo.read_ref("refs/notes/oompa").unwrap().is_none());

    let (code, out, _) = doctor(&env, &[]);
    assert_eq!(code, Some(1));
    assert!(
        out.contains("problem cycle log: refs/notes/oompa was deleted outside git oompa"),
        "{out}"
    );
    let (code, out, err) = doctor(&env, &["--fix"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (entries, _) = Notes::new(&env.open()).read_all().unwrap();
    assert_eq!(entries.len(), 2);
    record_cycle(&env, "c");
    assert_eq!(Notes::new(&env.open()).read_all().unwrap().0.len(), 3);
}

#[test]
fn doctor_accept_takes_a_cycle_log_rewritten_on_purpose() {
    let env = queue_repo(&[]);
    record_cycle(&env, "a");
    let unrelated = env.git(&["commit-tree", EMPTY_TREE, "-m", "a fresh log"]);
    env.git(&["update-ref", "refs/notes/oompa", unrelated.trim()]);
    let (code, out, _) = doctor(&env, &[]);
    assert_eq!(code, Some(1));
    assert!(
        out.contains("problem cycle log: refs/notes/oompa was rewritten"),
        "{out}"
    );
    let (code, out, err) = doctor(&env, &["--accept"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(err.contains("accepted refs/notes/oompa at"), "{err}");
    // Appending goes on from the accepted log, and nothing is reported any more.
    record_cycle(&env, "b");
    let (entries, _) = Notes::new(&env.open()).read_all().unwrap();
    assert_eq!(entries.len(), 1);
    assert!(!stderr(&env.oompa(&["log"])).contains("rewritten"));
}

#[test]
fn a_cycle_log_rewritten_during_a_swarm_loses_no_record() {
    // The agent of cycle 3 replaces refs/notes/oompa with an unrelated notes history once the
    // recorder has written to it.
    let script = "for i in $(seq 100); do git rev-parse -q --verify refs/notes/oompa >/dev/null \
                  && break; sleep 0.1; done; \
                  git notes --ref=elsewhere add -m 'a line from elsewhere' HEAD && \
                  git update-ref refs/notes/oompa refs/notes/elsewhere";
    let (env, flag) = swarm_with_once_and(4, 1, script, &[("FAKE_ONCE_CYCLE", "3")]);
    let out = env.oompa(&["swarm"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(flag.is_dir(), "the rewrite happened");
    let err = stderr(&out);
    assert!(
        err.contains("warning: refs/notes/oompa was rewritten outside git oompa")
            && err.contains("merged them back")
            && err.contains("no record is lost"),
        "{err}"
    );
    // The 4 merged cycles are all recorded; the line written elsewhere is kept too.
    let (entries, bad) = Notes::new(&env.open()).read_all().unwrap();
    let mut cycles: Vec<u32> = entries.iter().map(|e| e.record.cycle).collect();
    cycles.sort();
    assert_eq!(cycles, vec![1, 2, 3, 4], "{err}");
    assert_eq!(bad.len(), 1, "{bad:?}");
    let (code, out, err) = doctor(&env, &[]);
    assert!(!out.contains("rewritten"), "{code:?}{out}{err}");
}

#[test]
fn an_id_both_pending_and_complete_is_refused_by_claim_and_landing_and_doctor_fix_keeps_one() {
    let env = queue_repo(&["t1", "t2"]);
    // t1 complete, and a stale copy of it back in pending/ (by hand).
    let mut done = task("t1");
    done.landed = Some(landed_at_head(&env));
    let pending = task("t1").to_json();
    let complete = done.to_json();
    edit_queue_by_hand(
        &env,
        &[
            ("complete/t1.json", Some(&complete)),
            ("pending/t1.json", Some(&pending)),
        ],
    );

    // Reads say so and leave it out.
    let out = env.oompa(&["task", "list"]);
    let err = stderr(&out);
    assert!(
        err.contains("skipping pending/t1.json: task `t1` is in pending/ and complete/ at once"),
        "{err}"
    );
    assert!(!stdout(&out).contains("t1"), "{}", stdout(&out));
    // A claim is refused: it is complete.
    let out = env.oompa(&["task", "claim", "t1", "--worker", "me"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("complete t1"), "{}", stdout(&out));
    let repo = env.open();
    let q = Queue::new(&repo);
    assert_eq!(
        q.get(&TaskId::new("t1").unwrap()).unwrap_err().to_string(),
        "task `t1` is in pending/ and complete/ at once; a task lives in one state only"
    );

    // A landing is refused too: t2 claimed, then a copy of it appears in complete/.
    let who = Claimant {
        swarm: "s".into(),
        worker: "w".into(),
        branch: None,
        lease: std::time::Duration::from_secs(60),
        pid: None,
    };
    let t2 = TaskId::new("t2").unwrap();
    assert_eq!(
        q.claim(std::slice::from_ref(&t2), &who).unwrap()[0].1,
        ClaimOutcome::Claimed
    );
    edit_queue_by_hand(&env, &[("complete/t2.json", Some(&task("t2").to_json()))]);
    let landed = landed_at_head(&env);
    let refused = q
        .plan_complete(std::slice::from_ref(&t2), &landed, "test")
        .unwrap_err();
    assert!(
        matches!(refused, QueueError::SeveralStates { .. }),
        "{refused}"
    );

    let (code, out, _) = doctor(&env, &[]);
    assert_eq!(code, Some(1));
    assert!(
        out.contains("problem queue: task t1 is in pending/ and complete/ at once")
            && out.contains("problem queue: task t2 is in current/ and complete/ at once"),
        "{out}"
    );
    let (code, out, err) = doctor(&env, &["--fix"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("kept complete/t1.json and dropped the other entries of t1"),
        "{out}"
    );
    let snap = q.snapshot().unwrap();
    assert!(snap.corrupt.is_empty(), "{:?}", snap.corrupt);
    assert_eq!(snap.count(State::Complete), 2);
}

#[test]
fn malformed_queue_entries_are_reported_by_path_and_never_acted_on() {
    let env = queue_repo(&["ok1", "named"]);
    let big = vec![b' '; 2 << 20];
    let mut no_claim = task("orphan");
    no_claim.claim = None;
    edit_queue_by_hand(
        &env,
        &[
            // A task file whose id differs from its file name.
            ("pending/named.json", Some(&task("other").to_json())),
            // A huge file.
            ("pending/huge.json", Some(&big)),
            // An unknown top-level directory.
            ("junk/readme.txt", Some(b"hello")),
            // A claimed entry without a claim.
            ("current/orphan.json", Some(&no_claim.to_json())),
            // A claim missing its fields.
            ("current/half.json", Some(br#"{"version":1,"id":"half","summary":"s","created":"x","created_by":"y","claim":{"swarm":"s"}}"#)),
        ],
    );
    let out = env.oompa(&["task", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    for expected in [
        "skipping pending/named.json: holds task `other` but is named pending/named.json",
        "skipping pending/huge.json: is 2097152 bytes, more than the 1048576 bytes a queue record may have",
        "skipping junk/: is not part of a queue",
        "skipping current/half.json: missing field",
    ] {
        assert!(err.contains(expected), "{expected} missing:\n{err}");
    }
    let list = stdout(&out);
    assert!(list.contains("ok1") && list.contains("orphan"), "{list}");
    // Claims of the malformed entries are refused by path.
    let out = env.oompa(&["task", "claim", "named", "huge", "--worker", "me"]);
    assert_eq!(out.status.code(), Some(1));
    let claimed = stdout(&out);
    assert!(
        claimed.contains("corrupt  named (pending/named.json: holds task `other`")
            && claimed.contains("corrupt  huge (pending/huge.json: is 2097152 bytes"),
        "{claimed}"
    );
    // A claimed entry with nobody holding it goes back to pending at the next recovery.
    env.oompa_ok(&["gc"]);
    let list = env.oompa_ok(&["task", "list", "--state", "pending"]);
    assert!(list.contains("orphan"), "{list}");
    // Adding a task too big to be read back is refused.
    let big =
        serde_json::json!({"id": "big", "summary": "big", "description": "x".repeat(1 << 20)});
    let out = env.oompa_stdin(&["task", "add", "--file", "-"], &big.to_string());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("more than the 1048576 bytes"),
        "{}",
        stderr(&out)
    );
}

/// A swarm of `workers` polite fake agents over `tasks` tasks, the first agent to finish a
/// task also running `once` (a shell command, in its worktree) before it signals merge.
fn swarm_with_once(tasks: usize, workers: u32, once: &str) -> (TestEnv, std::path::PathBuf) {
    swarm_with_once_and(tasks, workers, once, &[])
}

/// [`swarm_with_once`] with more variables for the fake agents (`FAKE_ONCE_CYCLE`, …).
/// Returns the flag directory the agent makes when it has run `once`.
fn swarm_with_once_and(
    tasks: usize,
    workers: u32,
    once: &str,
    more: &[(&str, &str)],
) -> (TestEnv, std::path::PathBuf) {
    let env = swarm_repo(tasks, "");
    let flag = env.tmp.path().join("once");
    let mut vars = vec![
        ("FAKE_ONCE", once),
        ("FAKE_ONCE_FLAG", flag.to_str().unwrap()),
    ];
    vars.extend_from_slice(more);
    std::fs::write(
        env.repo.join("oompa.toml"),
        format!(
            "error_backoff = 0\n{}",
            worker_with_env("polite", workers, "max_cycles = 8\ncan_plan = false", &vars)
        ),
    )
    .unwrap();
    (env, flag)
}

/// The person's checkout has no change against its branch (untracked files aside).
fn assert_checkout_clean(env: &TestEnv) {
    let status = env.git(&["status", "--porcelain", "--untracked-files=no"]);
    assert_eq!(status, "", "the checkout is not at main");
}

#[test]
fn an_agent_moving_main_around_the_hooks_during_a_swarm_is_said_once_and_its_task_completes() {
    let (env, flag) = swarm_with_once(
        3,
        1,
        "git -c core.hooksPath=/dev/null update-ref refs/heads/main HEAD",
    );
    let out = env.oompa(&["swarm"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(flag.is_dir(), "the agent moved main");
    let err = stderr(&out);
    assert_eq!(
        err.matches("warning: main was moved outside the merge queue")
            .count(),
        1,
        "{err}"
    );
    assert!(
        err.contains("(\"Do t00\" by Test User <test@example.invalid>); landing on top of it"),
        "{err}"
    );
    assert!(
        err.contains(
            "was already on main, put there outside the merge queue; completing t00 with it"
        ),
        "{err}"
    );
    // Every task completed once; no cycle was taken for "no changes".
    let repo = env.open();
    let snap = Queue::new(&repo).snapshot().unwrap();
    assert_eq!(snap.count(State::Complete), 3, "{err}");
    let outcomes = crate::common::swarm::outcomes(&env);
    assert_eq!(outcomes.get("merged"), Some(&3), "{outcomes:?}");
    assert_eq!(outcomes.get("no-changes"), None, "{outcomes:?}");
    assert_checkout_clean(&env);
}

#[test]
fn a_target_move_without_a_reflog_message_is_described_without_an_empty_placeholder() {
    use crate::common::guard::{as_agent, working_worker};
    let env = crate::common::guard::oompa_repo();
    let (wt, work) = working_worker(&env, "work\n");
    let mut cmd = std::process::Command::new("git");
    crate::common::hermetic(&mut cmd, &env.home);
    as_agent(&mut cmd, "s1", "w0");
    let out = cmd
        .current_dir(&wt)
        .args([
            "-c",
            "core.hooksPath=/dev/null",
            "update-ref",
            "refs/heads/main",
            "HEAD",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&env.oompa(&["log"]));
    assert!(
        err.contains(&format!(
            "warning: main was moved to {} outside the merge queue, bringing in commit {} made \
             on the worker branch oompa/s1/w0",
            &work.to_string()[..12],
            &work.to_string()[..12]
        )),
        "{err}"
    );
    assert!(!err.contains("(``)"), "{err}");
}

#[test]
fn main_moved_by_update_ref_in_the_checkout_during_a_swarm_is_followed_not_paused_on() {
    // A person (no OOMPA_* in the environment) moves main in their checkout with plain
    // `git update-ref` to a commit adding outside.txt, while the swarm runs.
    let (env, flag) = swarm_with_once(3, 1, "");
    let script = env.tmp.path().join("person.sh");
    std::fs::write(
        &script,
        format!(
            "unset OOMPA_WORKER OOMPA_SWARM OOMPA_CYCLE OOMPA_BRANCH\n\
             cd '{}'\n\
             export GIT_INDEX_FILE=\"$PWD/.git/person-index\"\n\
             git read-tree main\n\
             blob=$(echo 'made outside' | git hash-object -w --stdin)\n\
             git update-index --add --cacheinfo 100644,$blob,outside.txt\n\
             c=$(git commit-tree $(git write-tree) -p main -m 'outside move')\n\
             rm -f \"$GIT_INDEX_FILE\"\n\
             git update-ref refs/heads/main $c\n",
            env.repo.display()
        ),
    )
    .unwrap();
    let config = std::fs::read_to_string(env.repo.join("oompa.toml"))
        .unwrap()
        .replace(
            "FAKE_ONCE = \"\"",
            &format!("FAKE_ONCE = \"sh {}\"", script.display()),
        );
    std::fs::write(env.repo.join("oompa.toml"), config).unwrap();
    let out = env.oompa(&["swarm"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(flag.is_dir(), "the person moved main");
    let err = stderr(&out);
    assert_eq!(
        err.matches("warning: main was moved outside the merge queue")
            .count(),
        1,
        "{err}"
    );
    assert!(
        err.contains("(\"outside move\" by Test User <test@example.invalid>)"),
        "{err}"
    );
    assert!(!err.contains("landing paused"), "{err}");
    let repo = env.open();
    assert_eq!(
        Queue::new(&repo).snapshot().unwrap().count(State::Complete),
        3
    );
    // The checkout followed the outside move as well as the landings.
    assert_checkout_clean(&env);
    assert_eq!(
        std::fs::read_to_string(env.repo.join("outside.txt")).unwrap(),
        "made outside\n"
    );
    let main_log = env.git(&["log", "--format=%s", "main"]);
    assert!(main_log.contains("outside move"), "{main_log}");
}

#[test]
fn a_queue_replaced_under_a_running_swarm_stops_it_with_nothing_written_on_top() {
    let (env, flag) = swarm_with_once(
        3,
        1,
        &format!("git update-ref {QUEUE_REF} $(git commit-tree {EMPTY_TREE} -m replaced)"),
    );
    let main_before = rev(&env, "main");
    let out = env.oompa(&["swarm"]);
    assert!(flag.is_dir());
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("error: refs/oompa/tasks was replaced outside git oompa")
            && err.contains("hint: `git oompa doctor --fix` puts back"),
        "{err}"
    );
    // Nothing landed and nothing was written on the replaced queue.
    assert_eq!(rev(&env, "main"), main_before);
    let replaced = rev(&env, QUEUE_REF);
    assert_eq!(
        env.git(&["log", "--format=%s", QUEUE_REF]).trim(),
        "replaced"
    );
    // The worker's work is kept; doctor puts the queue back and returns the claim.
    assert!(
        err.contains("unmerged work kept as refs/oompa/keep/"),
        "{err}"
    );
    let (code, out, err) = doctor(&env, &["--fix"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("returned claims of gone owners to pending: t00"),
        "{out}"
    );
    assert_ne!(rev(&env, QUEUE_REF), replaced);
    let pending = env.oompa_ok(&["task", "list", "--state", "pending"]);
    assert!(
        pending.contains("t00") && pending.contains("t02"),
        "{pending}"
    );
}

#[test]
fn a_task_both_pending_and_complete_does_not_start_agent_cycles() {
    let env = swarm_repo(
        0,
        &worker_with_env("polite", 1, "max_cycles = 4\ncan_plan = false", &[]),
    );
    env.oompa_ok(&["task", "add", "Task t1", "--id", "t1"]);
    let mut done = task("t1");
    done.landed = Some(landed_at_head(&env));
    edit_queue_by_hand(&env, &[("complete/t1.json", Some(&done.to_json()))]);
    let out = swarm_ok(&env);
    let text = stdout(&out) + &stderr(&out);
    assert!(!text.contains("cycle 1 started"), "{text}");
    assert!(
        text.contains("no more work: the queue is drained"),
        "{text}"
    );
}
