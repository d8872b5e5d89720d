//! `git oompa gc`: cleans up after finished and crashed swarms, leaves running ones alone,
//! and never lets go of a commit the target or a keep ref does not hold (unless its work was
//! squash-landed). The property test drives random claim / commit / land / crash / gc
//! sequences through the library and the binary.

use std::collections::{BTreeMap, HashSet};

use proptest::prelude::*;

use crate::common::guard::{
    add_worker, branch, claim, commit_in, crash_swarm, git_ok, gone_worktree, land, reachable,
    refs_under, start_swarm, stop_swarm, worktree,
};
use crate::common::{TestEnv, stderr, stdout};

fn all_refs(env: &TestEnv) -> String {
    env.git(&["for-each-ref", "--format=%(objectname) %(refname)"])
}

#[test]
fn dry_run_lists_what_gc_then_does_and_no_work_is_lost() {
    let env = TestEnv::new();
    let me = std::process::id();
    // s1 crashed: w0 holds t1 with a commit and uncommitted changes; w1 holds t2, nothing done.
    start_swarm(&env, "s1", me, &["w0", "w1"]);
    let s1w0 = add_worker(&env, "s1", "w0");
    add_worker(&env, "s1", "w1");
    claim(&env, "s1", "w0", "t1", me);
    claim(&env, "s1", "w1", "t2", me);
    let c1 = commit_in(&env, &s1w0, "s1w0.txt", "committed\n");
    std::fs::write(s1w0.join("left-over.txt"), "uncommitted\n").unwrap();
    crash_swarm(&env, "s1");
    // s2 runs (this process is its owner): untouched.
    start_swarm(&env, "s2", me, &["w0"]);
    let s2w0 = add_worker(&env, "s2", "w0");
    claim(&env, "s2", "w0", "t3", me);
    commit_in(&env, &s2w0, "s2w0.txt", "running\n");
    // s3 stopped after landing everything: nothing to keep.
    start_swarm(&env, "s3", me, &["w0"]);
    let s3w0 = add_worker(&env, "s3", "w0");
    claim(&env, "s3", "w0", "t4", me);
    commit_in(&env, &s3w0, "s3w0.txt", "landed\n");
    land(&env, "s3", "w0", false).unwrap();
    stop_swarm(&env, "s3");
    // A worktree whose directory is gone, and a keep ref main already contains.
    gone_worktree(&env, "gone");
    env.git(&["update-ref", "refs/oompa/keep/s0/w9/1", "main~1"]);

    let refs_before = all_refs(&env);
    let worktrees_before = env.git(&["worktree", "list", "--porcelain"]);
    let out = env.oompa(&["gc", "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let plan = stdout(&out);
    let short = |c: &oompa::git::ObjectId| c.to_hex_with_len(12).to_string();
    for line in [
        "would release task t1 held by s1/w0 (its swarm s1 is no longer running)".to_string(),
        "would release task t2 held by s1/w1 (its swarm s1 is no longer running)".into(),
        format!("would commit the uncommitted changes in {}", s1w0.display()),
        format!("would remove worktree {}", s1w0.display()),
        format!("would remove worktree {}", s3w0.display()),
        "would keep branch oompa/s1/w0 with the leftovers commit as refs/oompa/keep/s1/w0/gc"
            .into(),
        "would delete branch oompa/s1/w1".into(),
        "would delete branch oompa/s3/w0".into(),
        "would prune the metadata of worktrees whose directory is gone: gone".into(),
        "would drop refs/oompa/keep/s0/w9/1".into(),
    ] {
        assert!(plan.contains(&line), "{line} missing from:\n{plan}");
    }
    assert!(
        !plan.contains("s2"),
        "a running swarm is left alone:\n{plan}"
    );
    assert!(stderr(&out).contains("run `git oompa gc` to do them"));
    assert_eq!(all_refs(&env), refs_before, "a dry run changes no ref");
    assert_eq!(
        env.git(&["worktree", "list", "--porcelain"]),
        worktrees_before
    );
    assert!(s1w0.join("left-over.txt").is_file());

    let out = env.oompa(&["gc"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let done = stdout(&out);
    assert!(done.contains("release task t1 held by s1/w0"), "{done}");
    assert!(
        done.contains("keep branch oompa/s1/w0 (") && done.contains("as refs/oompa/keep/s1/w0/gc"),
        "{done}"
    );
    assert!(!s1w0.exists() && !s3w0.exists() && s2w0.is_dir());
    assert!(!env.repo.join(".oompa/worktrees/s1").exists());
    let branches = refs_under(&env, "refs/heads/oompa/");
    assert_eq!(branches, vec![branch("s2", "w0")]);
    // The crashed worker's commit and its leftovers are kept; claims are back to pending.
    let kept = env.git(&["log", "--format=%H", "refs/oompa/keep/s1/w0/gc"]);
    assert!(kept.contains(&c1.to_string()), "{kept}");
    assert_eq!(
        env.git(&["show", "refs/oompa/keep/s1/w0/gc:left-over.txt"]),
        "uncommitted\n"
    );
    let pending = env.oompa_ok(&["task", "list", "--state", "pending"]);
    assert!(
        pending.contains("t1") && pending.contains("t2"),
        "{pending}"
    );
    let current = env.oompa_ok(&["task", "list", "--state", "current"]);
    assert!(
        current.contains("t3") && !current.contains("t1"),
        "{current}"
    );
    assert!(!env.git(&["worktree", "list"]).contains("gone"));
    assert!(refs_under(&env, "refs/oompa/keep/s0/").is_empty());
    assert_eq!(short(&c1).len(), 12);
    env.assert_fsck_clean();

    // Nothing left to do.
    let out = env.oompa(&["gc"]);
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains("nothing to clean up"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn squash_landed_work_is_recognised_by_its_trailers_and_later_work_is_kept() {
    let env = TestEnv::new();
    let me = std::process::id();
    start_swarm(&env, "s1", me, &["w0", "w1"]);
    let w0 = add_worker(&env, "s1", "w0");
    let w1 = add_worker(&env, "s1", "w1");
    commit_in(&env, &w0, "a.txt", "a\n");
    let squash = land(&env, "s1", "w0", true).unwrap();
    commit_in(&env, &w1, "b.txt", "b\n");
    land(&env, "s1", "w1", true).unwrap();
    let after = commit_in(&env, &w1, "c.txt", "c, not landed\n");
    stop_swarm(&env, "s1");

    let out = env.oompa(&["gc"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let done = stdout(&out);
    assert!(
        done.contains(&format!("squash-landed as {})", squash.to_hex_with_len(12)))
            && done.contains("delete branch oompa/s1/w0 ("),
        "{done}"
    );
    assert!(
        refs_under(&env, "refs/oompa/keep/s1/w0/").is_empty(),
        "{done}"
    );
    assert_eq!(
        env.git(&["rev-parse", "refs/oompa/keep/s1/w1/gc"]).trim(),
        after.to_string(),
        "{done}"
    );
}

// ---------------------------------------------------------------------------------------
// Plan and apply: what --dry-run says is what gc then does.

/// A swarm's registry directory (`.git/oompa/swarms/<id>/`) as a swarm killed with SIGKILL
/// leaves it: `run.json` naming `pid`, the unlocked `run.flock`, `swarm.log`, `status.json`.
fn killed_swarm_dir(env: &TestEnv, id: &str, pid: u32) -> std::path::PathBuf {
    let common = env.repo.join(".git");
    let mut info = oompa::store::registry::this_process(&common, id, "main", false);
    info.pid = pid;
    let dir = oompa::store::registry::dir(&common, id);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("run.json"), serde_json::to_vec(&info).unwrap()).unwrap();
    std::fs::write(dir.join("run.flock"), "").unwrap();
    std::fs::write(dir.join("swarm.log"), "12:00:00 started\n").unwrap();
    std::fs::write(
        dir.join("status.json"),
        serde_json::json!({"version": 1, "swarm": id, "pid": pid, "host": info.host,
            "target": "main", "started": info.started, "updated": info.started,
            "workers": []})
        .to_string(),
    )
    .unwrap();
    dir
}

/// An action line with what only the real run can know (commit ids, why a branch may go)
/// taken out: `keep branch oompa/s1/w0 as refs/oompa/keep/s1/w0/gc`.
fn comparable(line: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in line.replace(" with the leftovers commit", "").chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn gc_json(env: &TestEnv, args: &[&str]) -> Vec<(String, String)> {
    let out = env.oompa(args);
    assert!(out.status.success(), "{}", stderr(&out));
    crate::common::json_rows(&stdout(&out))
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_string(),
                comparable(r["what"].as_str().unwrap()),
            )
        })
        .collect()
}

#[test]
fn dry_run_output_lists_exactly_what_the_real_run_then_does() {
    let env = TestEnv::new();
    let me = std::process::id();
    // s1 crashed: w0 holds t1 with a commit (recovery keeps it), w1 holds t2 with leftovers.
    start_swarm(&env, "s1", me, &["w0", "w1"]);
    let w0 = add_worker(&env, "s1", "w0");
    let w1 = add_worker(&env, "s1", "w1");
    claim(&env, "s1", "w0", "t1", me);
    claim(&env, "s1", "w1", "t2", me);
    let c1 = commit_in(&env, &w0, "a.txt", "a\n");
    let c2 = commit_in(&env, &w1, "b.txt", "b\n");
    std::fs::write(w1.join("left-over.txt"), "uncommitted\n").unwrap();
    crash_swarm(&env, "s1");
    // s3 landed everything and stopped; s4 crashed with a detached HEAD holding a commit.
    start_swarm(&env, "s3", me, &["w0"]);
    let s3w0 = add_worker(&env, "s3", "w0");
    commit_in(&env, &s3w0, "c.txt", "c\n");
    land(&env, "s3", "w0", false).unwrap();
    stop_swarm(&env, "s3");
    start_swarm(&env, "s4", me, &["w0"]);
    let s4w0 = add_worker(&env, "s4", "w0");
    let c4 = commit_in(&env, &s4w0, "d.txt", "d\n");
    git_ok(&env, &s4w0, &["checkout", "-q", "--detach"]);
    git_ok(&env, &s4w0, &["branch", "-q", "-f", "oompa/s4/w0", "main"]);
    crash_swarm(&env, "s4");
    // s2 runs; s5 was killed long ago (its record stopped, its directory and status left).
    start_swarm(&env, "s2", me, &["w0"]);
    add_worker(&env, "s2", "w0");
    start_swarm(&env, "s5", me, &["w0"]);
    stop_swarm(&env, "s5");
    killed_swarm_dir(&env, "s5", crate::common::guard::dead_pid());
    gone_worktree(&env, "gone");
    env.git(&["update-ref", "refs/oompa/keep/s0/w9/1", "main~1"]);

    let planned = gc_json(&env, &["gc", "--dry-run", "--json"]);
    let done = gc_json(&env, &["gc", "--json"]);
    assert_eq!(planned, done, "the dry run said otherwise");
    for kind in [
        "release-claim",
        "commit-leftovers",
        "keep",
        "remove-worktree",
        "delete-branch",
        "prune-worktrees",
        "drop-keep-ref",
        "prune-swarm-dir",
    ] {
        assert!(
            planned.iter().any(|(k, _)| k == kind),
            "{kind}: {planned:#?}"
        );
    }
    assert!(!format!("{done:?}").contains("s2"), "{done:#?}");
    let mut roots = refs_under(&env, "refs/oompa/keep/");
    roots.push("refs/heads/main".into());
    let live = reachable(&env, &roots);
    for c in [c1, c2, c4] {
        assert!(live.contains(&c.to_string()), "{c} lost: {done:#?}");
    }
    env.assert_fsck_clean();
}

#[test]
fn gc_prunes_the_directory_of_a_swarm_that_ended_long_ago() {
    let env = TestEnv::new();
    let me = std::process::id();
    let common = env.repo.join(".git");
    // Ended long ago (its record says so), and killed just now (no record: its files are new).
    start_swarm(&env, "old", me, &["w0"]);
    stop_swarm(&env, "old");
    let old = killed_swarm_dir(&env, "old", crate::common::guard::dead_pid());
    let recent = killed_swarm_dir(&env, "recent", crate::common::guard::dead_pid());
    // Running: this process holds its registration; its status file is its own.
    let info = oompa::store::registry::this_process(&common, "live", "main", false);
    let registration = oompa::store::registry::register(&common, &info).unwrap();
    let live_status = oompa::store::layout::live_status_file(&common, "live");
    std::fs::write(&live_status, "{}").unwrap();

    let out = env.oompa(&["gc"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let done = stdout(&out);
    assert!(
        done.contains("remove the files of swarm old, ended ") && !old.exists(),
        "{done}"
    );
    assert!(recent.join("run.json").is_file(), "{done}");
    assert!(live_status.is_file() && !done.contains("live"), "{done}");

    // With no expiry at all, the killed swarm's directory goes; the running one's never.
    env.git(&["config", "oompa.transcriptsExpire", "0"]);
    let out = env.oompa(&["gc"]);
    assert!(!recent.exists(), "{}", stdout(&out));
    assert!(live_status.is_file() && registration.dir.join("run.json").is_file());
    drop(registration);
}

#[test]
fn a_killed_swarms_status_json_is_removed_by_gc_and_never_shown() {
    use crate::common::swarm::{hanging_swarm, signal, wait_for};
    let (env, mut swarm, _marker) = hanging_swarm(71_000, 1, 1, true);
    let common = env.repo.join(".git");
    let id = oompa::store::registry::list_running(&common)[0].id.clone();
    let status = oompa::store::layout::live_status_file(&common, &id);
    wait_for("the live status", || status.is_file());
    signal(&mut swarm, nix::sys::signal::Signal::SIGKILL);
    let _ = swarm.wait_with_output();
    assert!(status.is_file(), "a SIGKILL leaves status.json behind");
    // Its pid taken by a live process (this one): its record says it runs; the registry
    // knows better (its lock is free).
    let repo = env.open();
    let queue = oompa::store::Queue::new(&repo);
    let mut rec = queue
        .swarms()
        .unwrap()
        .into_iter()
        .find(|s| s.id == id)
        .unwrap();
    rec.pid = std::process::id();
    queue.put_swarm(&rec, "pid reused (test)").unwrap();
    let run_json = oompa::store::registry::dir(&common, &id).join("run.json");
    let mut info: oompa::store::registry::RunInfo =
        serde_json::from_slice(&std::fs::read(&run_json).unwrap()).unwrap();
    info.pid = std::process::id();
    std::fs::write(&run_json, serde_json::to_vec(&info).unwrap()).unwrap();

    let swarms = env.oompa_ok(&["log", "--swarms"]);
    let line = swarms
        .lines()
        .find(|l| l.contains(&id[..8]))
        .unwrap_or_default();
    assert!(!line.contains("running"), "log --swarms:\n{swarms}");
    let shown = env.oompa_ok(&["status"]);
    assert!(!shown.contains(&id), "{shown}");
    let json = crate::common::json_object(&env.oompa_ok(&["status", "--json"]));
    assert_eq!(json["running"], serde_json::json!([]), "{json}");
    // What `status --watch` draws.
    assert!(oompa::swarm::live::running(&common).is_empty());

    let plan = env.oompa_ok(&["gc", "--dry-run"]);
    assert!(
        plan.contains(&format!(
            "would remove the status file of swarm {id}, which is not running"
        )),
        "{plan}"
    );
    let done = env.oompa_ok(&["gc"]);
    assert!(!status.exists(), "{done}");
    assert!(done.contains("remove worktree"), "{done}");
    let kept = refs_under(&env, "refs/oompa/keep/");
    let wip = env.git(&["log", "--all", "--format=%H", "--", "wip/w0.txt"]);
    assert!(!wip.trim().is_empty() && !kept.is_empty(), "{done}");
    assert!(refs_under(&env, "refs/heads/oompa/").is_empty(), "{done}");
}

#[test]
fn gc_leaves_everything_of_a_swarm_running_at_the_same_time() {
    use crate::common::swarm::{hanging_swarm, states};
    let (env, _swarm, _marker) = hanging_swarm(72_000, 3, 2, true);
    let common = env.repo.join(".git");
    let id = oompa::store::registry::list_running(&common)[0].id.clone();
    // A crashed swarm beside it, for gc to clean up.
    let me = std::process::id();
    start_swarm(&env, "dead", me, &["w0"]);
    add_worker(&env, "dead", "w0");
    crash_swarm(&env, "dead");
    let branches = refs_under(&env, &format!("refs/heads/oompa/{id}/"));
    let worktrees_of = |env: &TestEnv| {
        env.git(&["worktree", "list", "--porcelain"])
            .lines()
            .filter(|l| l.starts_with("worktree ") && l.contains(&format!("/{id}/")))
            .count()
    };
    assert_eq!((branches.len(), worktrees_of(&env)), (2, 2));
    let dir = oompa::store::registry::dir(&common, &id);
    let files = |dir: &std::path::Path| -> Vec<String> {
        let mut f: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        f.sort();
        f
    };
    let before = files(&dir);
    env.git(&["config", "oompa.transcriptsExpire", "0"]);

    let plan = env.oompa_ok(&["gc", "--dry-run"]);
    let done = env.oompa_ok(&["gc"]);
    for out in [&plan, &done] {
        assert!(out.contains("oompa/dead/w0") && !out.contains(&id), "{out}");
    }
    assert_eq!(
        refs_under(&env, &format!("refs/heads/oompa/{id}/")),
        branches
    );
    assert_eq!(worktrees_of(&env), 2);
    assert_eq!(states(&env).1, 2, "its claims are held");
    assert!(before.iter().all(|f| dir.join(f).exists()), "{before:?}");
    assert!(oompa::store::layout::transcripts_dir(&common, &id).is_dir());
}

#[test]
fn gc_retires_a_finished_swarms_worktree_after_the_worktree_dir_changed() {
    let env = TestEnv::new();
    let me = std::process::id();
    start_swarm(&env, "s1", me, &["w0"]);
    // Made under `oompa.worktreeDir = elsewhere`, which is unset since.
    let wt = env.repo.join("elsewhere/s1/w0");
    env.git(&["branch", "oompa/s1/w0", "main"]);
    env.git(&["worktree", "add", "-q", wt.to_str().unwrap(), "oompa/s1/w0"]);
    let c = commit_in(&env, &wt, "a.txt", "a\n");
    crash_swarm(&env, "s1");
    // A person's worktree on a worker branch, elsewhere: left alone.
    start_swarm(&env, "s2", me, &["w0"]);
    env.git(&["branch", "oompa/s2/w0", "main"]);
    let mine = env.tmp.path().join("mine");
    env.git(&[
        "worktree",
        "add",
        "-q",
        mine.to_str().unwrap(),
        "oompa/s2/w0",
    ]);
    crash_swarm(&env, "s2");

    let out = env.oompa(&["gc"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let done = stdout(&out);
    assert!(!wt.exists(), "{done}");
    assert_eq!(
        env.git(&["rev-parse", "refs/oompa/keep/s1/w0/gc"]).trim(),
        c.to_string(),
        "{done}"
    );
    assert!(
        mine.is_dir() && done.contains("leave branch oompa/s2/w0"),
        "{done}"
    );
}

#[test]
fn gc_removes_no_empty_directory_of_yours_under_the_worktree_dir() {
    let env = TestEnv::new();
    let me = std::process::id();
    env.git(&["config", "oompa.worktreeDir", "work"]);
    std::fs::create_dir_all(env.repo.join("work/notes")).unwrap();
    // A crashed swarm whose worktree creation never started: its directory is empty.
    start_swarm(&env, "s1", me, &["w0"]);
    std::fs::create_dir_all(env.repo.join("work/s1")).unwrap();
    crash_swarm(&env, "s1");
    // A running swarm's directory, empty for now.
    start_swarm(&env, "s2", me, &["w0"]);
    std::fs::create_dir_all(env.repo.join("work/s2")).unwrap();

    let out = env.oompa(&["gc"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!env.repo.join("work/s1").exists());
    assert!(
        env.repo.join("work/notes").is_dir(),
        "your directory is yours"
    );
    assert!(
        env.repo.join("work/s2").is_dir(),
        "a running swarm's directory is its own"
    );
}

#[test]
fn gc_leaves_the_metadata_of_a_running_swarms_worktree_whose_directory_is_gone() {
    let env = TestEnv::new();
    let me = std::process::id();
    start_swarm(&env, "s1", me, &["w0"]);
    let running = add_worker(&env, "s1", "w0");
    std::fs::remove_dir_all(&running).unwrap();
    gone_worktree(&env, "gone");

    let out = env.oompa(&["gc"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let done = stdout(&out);
    assert!(
        done.contains("prune the metadata of worktrees whose directory is gone: gone"),
        "{done}"
    );
    let list = env.git(&["worktree", "list", "--porcelain"]);
    assert!(list.contains(running.to_str().unwrap()), "{list}");
    assert!(!list.contains("gone"), "{list}");
}

#[test]
fn what_changed_between_plan_and_apply_is_left_alone_or_looked_at_again_and_nothing_is_lost() {
    use oompa::guard::gc::{self, Action};
    let env = TestEnv::new();
    let me = std::process::id();
    start_swarm(&env, "s1", me, &["w0", "w1"]);
    let w0 = add_worker(&env, "s1", "w0");
    add_worker(&env, "s1", "w1");
    // w1's worktree is removed by hand: only its branch is left to gc.
    git_ok(
        &env,
        &env.repo,
        &[
            "worktree",
            "remove",
            "--force",
            worktree(&env, "s1", "w1").to_str().unwrap(),
        ],
    );
    crash_swarm(&env, "s1");
    let repo = env.open();
    let settings = oompa::settings::Settings::resolve(&repo, &Default::default());
    let plan = gc::plan(&repo, &settings).unwrap();
    let planned = plan.actions();
    assert!(
        planned
            .iter()
            .any(|a| matches!(a, Action::DeleteBranch { name, .. } if name.ends_with("s1/w1"))),
        "{planned:#?}"
    );
    // Since the plan: an agent that outlived its swarm commits in w0; someone commits on w1.
    let late = commit_in(&env, &w0, "late.txt", "late\n");
    let moved_wt = env.tmp.path().join("moved");
    git_ok(
        &env,
        &env.repo,
        &[
            "worktree",
            "add",
            "-q",
            "--detach",
            moved_wt.to_str().unwrap(),
            "oompa/s1/w1",
        ],
    );
    let w1_new = commit_in(&env, &moved_wt, "w1.txt", "w1\n");
    git_ok(
        &env,
        &moved_wt,
        &["update-ref", "refs/heads/oompa/s1/w1", &w1_new.to_string()],
    );

    let done = gc::apply(&repo, &settings, &plan);
    let said: Vec<String> = done.iter().map(ToString::to_string).collect();
    assert!(w0.is_dir(), "{said:#?}");
    assert!(
        said.iter().any(
            |l| l.starts_with(&format!("did not remove worktree {}", w0.display()))
                && l.contains("HEAD moved")
        ),
        "{said:#?}"
    );
    assert!(
        !said.iter().any(|l| l.contains("delete branch oompa/s1/w0")),
        "{said:#?}"
    );
    // w1 moved: looked at again, its new tip kept before the branch went.
    assert!(
        said.iter()
            .any(|l| l.starts_with("keep branch oompa/s1/w1")),
        "{said:#?}"
    );
    let mut roots = refs_under(&env, "refs/oompa/keep/");
    roots.extend(refs_under(&env, "refs/heads/"));
    let live = reachable(&env, &roots);
    for c in [late, w1_new] {
        assert!(live.contains(&c.to_string()), "{c} lost: {said:#?}");
    }
}

// ---------------------------------------------------------------------------------------
// The property: random sequences of claim, commit, land, crash and gc never lose a commit.

#[derive(Debug, Clone)]
enum Op {
    Claim(u8),
    Commit(u8),
    /// Leave an uncommitted file in the worker's worktree.
    Dirty(u8),
    Land(u8, bool),
    Crash(u8),
    Stop(u8),
    UserCommit,
    Gc,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0u8..4).prop_map(Op::Claim),
        4 => (0u8..4).prop_map(Op::Commit),
        1 => (0u8..4).prop_map(Op::Dirty),
        2 => ((0u8..4), any::<bool>()).prop_map(|(w, s)| Op::Land(w, s)),
        1 => (0u8..2).prop_map(Op::Crash),
        1 => (0u8..2).prop_map(Op::Stop),
        1 => Just(Op::UserCommit),
        2 => Just(Op::Gc),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    Running,
    Gone,
}

/// The model: which swarm runs in each slot, which workers exist, every commit made.
struct World {
    env: TestEnv,
    via_binary: bool,
    slots: [(u32, Option<Life>); 2],
    workers: HashSet<(String, String)>,
    /// Every commit made on a worker branch.
    made: HashSet<String>,
    /// Commits whose work was squash-landed (gc may let those go).
    squashed: HashSet<String>,
    /// Files left uncommitted, by worktree.
    dirty: BTreeMap<String, Vec<String>>,
    n: u32,
}

impl World {
    fn new(via_binary: bool) -> World {
        let env = TestEnv::new();
        let repo = env.open();
        oompa::store::Queue::new(&repo).init().unwrap();
        std::fs::write(env.repo.join(".git/info/exclude"), "/.oompa/\n").unwrap();
        World {
            env,
            via_binary,
            slots: [(0, None), (0, None)],
            workers: HashSet::new(),
            made: HashSet::new(),
            squashed: HashSet::new(),
            dirty: BTreeMap::new(),
            n: 0,
        }
    }

    fn swarm_id(&self, slot: usize) -> String {
        format!("s{slot}g{}", self.slots[slot].0)
    }

    /// The running swarm of a slot, starting a new one when it has none.
    fn swarm(&mut self, slot: usize) -> String {
        if self.slots[slot].1 != Some(Life::Running) {
            if self.slots[slot].1.is_some() {
                self.slots[slot].0 += 1;
            }
            self.slots[slot].1 = Some(Life::Running);
            let id = self.swarm_id(slot);
            start_swarm(&self.env, &id, std::process::id(), &["w0", "w1"]);
        }
        self.swarm_id(slot)
    }

    /// A running worker (swarm and worktree created as needed).
    fn worker(&mut self, w: u8) -> (String, String) {
        let swarm = self.swarm(usize::from(w / 2));
        let worker = format!("w{}", w % 2);
        if self.workers.insert((swarm.clone(), worker.clone())) {
            add_worker(&self.env, &swarm, &worker);
        }
        (swarm, worker)
    }

    fn apply(&mut self, op: &Op) {
        self.n += 1;
        let n = self.n;
        match *op {
            Op::Claim(w) => {
                let (s, wk) = self.worker(w);
                claim(&self.env, &s, &wk, &format!("t{n}"), std::process::id());
            }
            Op::Commit(w) => {
                let (s, wk) = self.worker(w);
                let wt = worktree(&self.env, &s, &wk);
                let c = commit_in(
                    &self.env,
                    &wt,
                    &format!("{s}-{wk}-{n}.txt"),
                    &format!("{n}\n"),
                );
                self.dirty.remove(&wt.display().to_string());
                self.made.insert(c.to_string());
            }
            Op::Dirty(w) => {
                let (s, wk) = self.worker(w);
                let wt = worktree(&self.env, &s, &wk);
                let file = format!("dirty-{s}-{wk}-{n}.txt");
                std::fs::write(wt.join(&file), format!("dirty {n}\n")).unwrap();
                self.dirty
                    .entry(wt.display().to_string())
                    .or_default()
                    .push(file);
            }
            Op::Land(w, squash) => {
                let (s, wk) = self.worker(w);
                let b = branch(&s, &wk);
                let before = self.env.git(&["rev-parse", "main"]);
                let tip = self.env.git(&["rev-parse", &b]);
                if land(&self.env, &s, &wk, squash).is_some() && squash {
                    let range = format!("^{}", before.trim());
                    for c in self.env.git(&["rev-list", tip.trim(), &range]).lines() {
                        self.squashed.insert(c.to_string());
                    }
                }
            }
            Op::Crash(slot) | Op::Stop(slot) => {
                let slot = usize::from(slot);
                if self.slots[slot].1 == Some(Life::Running) {
                    let id = self.swarm_id(slot);
                    if matches!(op, Op::Crash(_)) {
                        crash_swarm(&self.env, &id);
                    } else {
                        stop_swarm(&self.env, &id);
                    }
                    self.slots[slot].1 = Some(Life::Gone);
                }
            }
            Op::UserCommit => {
                std::fs::write(self.env.repo.join(format!("user-{n}.txt")), "user\n").unwrap();
                git_ok(&self.env, &self.env.repo, &["add", "-A"]);
                git_ok(
                    &self.env,
                    &self.env.repo,
                    &["commit", "-q", "-m", "user work"],
                );
            }
            Op::Gc => self.gc(),
        }
    }

    fn gc(&mut self) {
        if self.via_binary {
            let out = self.env.oompa(&["gc"]);
            assert!(out.status.success(), "gc failed: {}", stderr(&out));
        } else {
            let repo = self.env.open();
            let settings = oompa::settings::Settings::resolve(&repo, &Default::default());
            oompa::guard::gc::run(&repo, &settings, false).expect("gc");
        }
        self.check();
    }

    /// No commit was lost; finished swarms are cleaned up; their claims are pending again.
    fn check(&mut self) {
        let env = &self.env;
        let mut roots = vec!["refs/heads/main".to_string()];
        roots.extend(refs_under(env, "refs/oompa/keep/"));
        roots.extend(refs_under(env, "refs/heads/oompa/"));
        let live = reachable(env, &roots);
        for c in &self.made {
            assert!(
                live.contains(c) || self.squashed.contains(c),
                "commit {c} was lost\nrefs:\n{}",
                env.git(&["for-each-ref"])
            );
        }
        // Uncommitted files of removed worktrees were committed and kept.
        for (wt, files) in &self.dirty {
            if std::path::Path::new(wt).exists() {
                continue;
            }
            for f in files {
                let log = env.git(&["log", "--all", "--format=%H", "--", f]);
                assert!(!log.trim().is_empty(), "uncommitted {f} of {wt} was lost");
            }
        }
        self.dirty.retain(|wt, _| std::path::Path::new(wt).exists());
        // Only running swarms keep branches, worktrees and claims.
        let running: Vec<String> = (0..2)
            .filter(|s| self.slots[*s].1 == Some(Life::Running))
            .map(|s| self.swarm_id(s))
            .collect();
        for b in refs_under(env, "refs/heads/oompa/") {
            assert!(
                running
                    .iter()
                    .any(|s| b.starts_with(&format!("refs/heads/oompa/{s}/"))),
                "{b} of a finished swarm survived gc"
            );
        }
        let repo = env.open();
        let snap = oompa::store::Queue::new(&repo).snapshot().unwrap();
        for t in snap.in_state(oompa::store::State::Current) {
            let c = t.claim.as_ref().unwrap();
            assert!(
                running.contains(&c.swarm),
                "{} still claimed by {}",
                t.id,
                c.swarm
            );
        }
        self.workers.retain(|(s, _)| running.contains(s));
    }
}

fn run_world(ops: &[Op], via_binary: bool) {
    let mut world = World::new(via_binary);
    for op in ops {
        world.apply(op);
    }
    // Everything finished, then gc: only main and keep refs remain, and hold every commit.
    for slot in 0..2u8 {
        world.apply(&Op::Crash(slot));
    }
    world.apply(&Op::Gc);
    assert!(refs_under(&world.env, "refs/heads/oompa/").is_empty());
    assert!(
        !world
            .env
            .repo
            .join(".oompa/worktrees")
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some())
    );
    world.env.assert_fsck_clean();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, max_shrink_iters: 64, ..ProptestConfig::default() })]

    #[test]
    fn gc_never_loses_a_commit_through_the_library(ops in proptest::collection::vec(op(), 1..14)) {
        run_world(&ops, false);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, max_shrink_iters: 32, ..ProptestConfig::default() })]

    #[test]
    fn gc_never_loses_a_commit_through_the_binary(ops in proptest::collection::vec(op(), 1..12)) {
        run_world(&ops, true);
    }
}
