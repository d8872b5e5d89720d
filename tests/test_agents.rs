//! Misbehaving agents (`tests/fake-agents/rogue.sh`) lose nothing of their own, and git oompa
//! never moves a ref it does not own, whatever they do with HEAD, their branch, their worktree
//! or background processes; `task release` inside a swarm frees only the caller's claims; a
//! signal counts only alone on the last line.

use oompa::store::record::CycleRecord;
use oompa::store::{Queue, State};

use crate::common::swarm::{assert_clean_up, swarm_ok, swarm_repo};
use crate::common::{TestEnv, stderr, stdout};

/// A worker table running the rogue agent with `ROGUE = mode` and `env`.
fn rogue(mode: &str, max_cycles: u32, env: &[(&str, &str)]) -> String {
    let mut pairs = vec![format!("ROGUE = \"{mode}\"")];
    pairs.extend(env.iter().map(|(k, v)| format!("{k} = \"{v}\"")));
    format!(
        "[[worker]]\nmodel = \"exec:sh {}/tests/fake-agents/rogue.sh\"\ncount = 1\n\
         max_cycles = {max_cycles}\ncan_plan = false\nmax_wait_for_tasks = \"5s\"\n\
         env = {{ {} }}\n",
        env!("CARGO_MANIFEST_DIR"),
        pairs.join(", ")
    )
}

/// Runs the swarm, asserting it exits 0; returns its stderr.
fn swarm(env: &TestEnv) -> String {
    stderr(&swarm_ok(env))
}

/// Every cycle record, oldest cycle first.
fn records(env: &TestEnv) -> Vec<CycleRecord> {
    let mut out = crate::common::swarm::records(env);
    out.sort_by_key(|r| r.cycle);
    out
}

/// The full names of the keep refs.
fn keep_refs(env: &TestEnv) -> Vec<String> {
    env.git(&["for-each-ref", "--format=%(refname)", "refs/oompa/keep/"])
        .lines()
        .map(str::to_string)
        .collect()
}

/// The one keep ref whose name ends with `suffix`.
fn keep_ref(env: &TestEnv, suffix: &str) -> String {
    let all = keep_refs(env);
    let found: Vec<&String> = all.iter().filter(|r| r.ends_with(suffix)).collect();
    assert_eq!(
        found.len(),
        1,
        "no single keep ref ending in {suffix}: {all:?}"
    );
    found[0].clone()
}

fn is_complete(env: &TestEnv, id: &str) -> bool {
    let repo = env.open();
    let snap = Queue::new(&repo).snapshot().unwrap();
    snap.in_state(State::Complete).any(|t| t.id.as_str() == id)
}

#[test]
fn an_agent_on_another_branch_keeps_its_work_and_that_branch_is_never_reset() {
    let logs = tempfile::tempdir().unwrap();
    let prompts = logs.path().join("prompts.log");
    let env = swarm_repo(
        1,
        &rogue(
            "astray",
            2,
            &[("FAKE_PROMPT_LOG", &prompts.display().to_string())],
        ),
    );
    let err = swarm(&env);

    // The agent's branch is where the agent left it: git oompa never reset it.
    let astray = env.git(&["rev-parse", "astray-w0"]).trim().to_string();
    let file = env.git(&["show", "astray-w0:work/t00.txt"]);
    assert_eq!(file, "done by w0\n");
    assert_ne!(astray, env.git(&["rev-parse", "main~1"]).trim());

    // Told once, then the cycle ended with the work kept and the record saying why.
    let log = std::fs::read_to_string(&prompts).unwrap();
    assert!(log.contains("Your work was not sent for review: HEAD is on branch astray-w0"));
    let recs = records(&env);
    assert_eq!(recs[0].outcome.to_string(), "error", "{recs:?}");
    let kept = keep_ref(&env, "/w0/1-head");
    assert_eq!(env.git(&["rev-parse", &kept]).trim(), astray);
    assert_eq!(recs[0].kept.as_deref(), Some(kept.as_str()));
    assert_eq!(recs[0].agent_did.len(), 1, "{:?}", recs[0].agent_did);
    assert_eq!(recs[0].agent_did[0].what, "checked out branch astray-w0");
    assert_eq!(recs[0].agent_did[0].kept.as_deref(), Some(kept.as_str()));
    assert!(
        err.contains("the agent checked out branch astray-w0 (kept as"),
        "{err}"
    );

    // The next cycle started on the worker branch and landed the task.
    assert_eq!(recs[1].outcome.to_string(), "merged", "{recs:?}");
    assert!(is_complete(&env, "t00"));
    assert_clean_up(&env);
    env.assert_fsck_clean();
}

#[test]
fn an_agent_told_it_left_its_branch_moves_it_back_and_lands() {
    let env = swarm_repo(1, &rogue("astray", 1, &[("ROGUE_OBEY", "1")]));
    swarm(&env);
    let recs = records(&env);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].outcome.to_string(), "merged", "{recs:?}");
    assert_eq!(recs[0].turns, 2);
    assert!(recs[0].agent_did.is_empty(), "{:?}", recs[0].agent_did);
    assert_eq!(env.git(&["show", "main:work/t00.txt"]), "done by w0\n");
    assert!(keep_refs(&env).is_empty());
}

#[test]
fn an_agent_that_detaches_head_and_deletes_its_branch_keeps_its_commits() {
    let env = swarm_repo(1, &rogue("detach", 2, &[]));
    swarm(&env);
    let recs = records(&env);
    assert_eq!(recs[0].outcome.to_string(), "error", "{recs:?}");
    let kept = keep_ref(&env, "/w0/1-head");
    // Both the commit made on the branch and the one made detached are kept.
    assert_eq!(
        env.git(&["show", &format!("{kept}:detached.txt")]),
        "after detaching\n"
    );
    assert_eq!(
        env.git(&["show", &format!("{kept}:work/t00.txt")]),
        "done by w0\n"
    );
    let did: Vec<&str> = recs[0].agent_did.iter().map(|d| d.what.as_str()).collect();
    assert_eq!(did[0], "detached HEAD", "{did:?}");
    assert_eq!(recs[0].agent_did[0].kept.as_deref(), Some(kept.as_str()));
    assert!(
        did[1].starts_with("deleted its branch oompa/") && did.len() == 2,
        "{did:?}"
    );
    assert!(
        recs[0]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("HEAD is detached at")
    );
    // The worker went on from a recreated branch.
    assert_eq!(recs[1].outcome.to_string(), "merged", "{recs:?}");
    assert_clean_up(&env);
    env.assert_fsck_clean();
}

#[test]
fn an_agent_that_resets_its_branch_backwards_keeps_the_dropped_commits() {
    let env = swarm_repo(1, &rogue("rewind", 2, &[]));
    swarm(&env);
    let recs = records(&env);
    assert_eq!(recs[0].outcome.to_string(), "done", "{recs:?}");
    // Only the newest of the two dropped commits needs a ref: the other is its parent.
    let kept = keep_ref(&env, "/w0/1-dropped-1");
    assert_eq!(keep_refs(&env).len(), 1, "{:?}", keep_refs(&env));
    assert_eq!(
        env.git(&["show", &format!("{kept}:second.txt")]),
        "second\n"
    );
    assert_eq!(
        env.git(&["show", &format!("{kept}~1:work/t00.txt")]),
        "done by w0\n"
    );
    assert_eq!(recs[0].kept.as_deref(), Some(kept.as_str()));
    assert!(
        recs[0].agent_did[0].what.starts_with("dropped commit ")
            && recs[0].agent_did[0].kept.as_deref() == Some(kept.as_str()),
        "{:?}",
        recs[0].agent_did
    );
    assert_eq!(recs[1].outcome.to_string(), "merged", "{recs:?}");
}

#[test]
fn an_agent_that_leaves_a_rebase_in_progress_keeps_both_sides_and_the_next_cycle_starts_clean() {
    let env = swarm_repo(1, &rogue("rebase", 2, &[]));
    swarm(&env);
    let recs = records(&env);
    assert_eq!(recs[0].outcome.to_string(), "done", "{recs:?}");
    let branch = keep_ref(&env, "/w0/1");
    let head = keep_ref(&env, "/w0/1-head");
    assert_eq!(
        env.git(&["show", &format!("{branch}:work/t00.txt")]),
        "done by w0\n"
    );
    assert_eq!(
        env.git(&["show", &format!("{head}:rebasing.txt")]),
        "edited while rebasing\n"
    );
    let did: Vec<&str> = recs[0].agent_did.iter().map(|d| d.what.as_str()).collect();
    assert_eq!(did, ["left a rebase in progress"]);
    assert_eq!(recs[0].agent_did[0].kept.as_deref(), Some(head.as_str()));
    assert_eq!(recs[1].outcome.to_string(), "merged", "{recs:?}");
    assert!(is_complete(&env, "t00"));
    assert_clean_up(&env);
}

#[test]
fn an_agent_that_removes_its_worktree_keeps_its_commits_and_the_worker_goes_on() {
    let env = swarm_repo(1, &rogue("rmtree", 2, &[]));
    swarm(&env);
    let recs = records(&env);
    assert_eq!(recs[0].outcome.to_string(), "done", "{recs:?}");
    let kept = keep_ref(&env, "/w0/1");
    assert_eq!(
        env.git(&["show", &format!("{kept}:work/t00.txt")]),
        "done by w0\n"
    );
    assert_eq!(recs[0].agent_did[0].what, "removed its worktree");
    assert_eq!(recs[1].outcome.to_string(), "merged", "{recs:?}");
    assert!(is_complete(&env, "t00"));
    assert_clean_up(&env);
}

#[test]
fn a_reviewer_that_checks_out_another_branch_moves_no_ref_and_the_worker_lands() {
    let script = format!("{}/tests/fake-agents/rogue.sh", env!("CARGO_MANIFEST_DIR"));
    let env = swarm_repo(
        1,
        &format!(
            "[review]\nmodels = [\"exec:sh {script}\"]\nmax_rounds = 1\n{}",
            rogue("polite", 1, &[])
        ),
    );
    swarm(&env);
    let recs = records(&env);
    assert_eq!(recs[0].outcome.to_string(), "merged", "{recs:?}");
    // The reviewer's branch holds its commit, untouched; nothing of it landed.
    assert_eq!(
        env.git(&["show", "review-w0:reviewed.txt"]),
        "a reviewer's edit\n"
    );
    assert_eq!(
        env.git(&["rev-parse", "review-w0~1"]).trim(),
        env.git(&["rev-parse", "main^2"]).trim()
    );
    let tree = env.git(&["ls-tree", "-r", "--name-only", "main"]);
    assert!(!tree.contains("reviewed.txt"), "{tree}");
    assert_eq!(env.git(&["show", "main:work/t00.txt"]), "done by w0\n");
    assert_clean_up(&env);
}

#[test]
fn a_git_command_cut_short_leaves_no_lock_that_stops_the_worker() {
    let env = swarm_repo(1, &rogue("lock", 2, &[]));
    swarm(&env);
    let recs = records(&env);
    assert_eq!(recs[0].outcome.to_string(), "done", "{recs:?}");
    assert!(
        recs[0].agent_did[0]
            .what
            .starts_with("left a stale worktrees/w0/index.lock"),
        "{:?}",
        recs[0].agent_did
    );
    // The file it left uncommitted was kept with its commit, and the next cycle landed.
    let kept = keep_ref(&env, "/w0/1");
    assert_eq!(
        env.git(&["show", &format!("{kept}:half.txt")]),
        "half written\n"
    );
    assert_eq!(recs[1].outcome.to_string(), "merged", "{recs:?}");
    assert_clean_up(&env);
}

#[test]
fn an_agent_that_changes_the_repository_config_is_recorded() {
    let env = swarm_repo(1, &rogue("config", 1, &[]));
    let err = swarm(&env);
    let recs = records(&env);
    assert_eq!(recs[0].outcome.to_string(), "merged", "{recs:?}");
    let what = "changed the repository's git config, or something did during its cycle: \
                +user.name=Rogue Agent, -user.name=Test User";
    assert_eq!(recs[0].agent_did.len(), 1, "{:?}", recs[0].agent_did);
    assert_eq!(recs[0].agent_did[0].what, what);
    assert!(err.contains(what), "{err}");
}

#[test]
fn an_agent_cannot_claim_a_task_in_another_workers_name() {
    let env = TestEnv::new();
    env.oompa_ok(&["task", "add", "--id", "a", "a"]);
    let out = env
        .oompa_cmd(&["task", "claim", "a", "--worker", "w1"])
        .env("OOMPA_SWARM", "s1")
        .env("OOMPA_WORKER", "w2")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("you claim for yourself (s1/w2), not for s1/w1"),
        "{}",
        stderr(&out)
    );
    assert!(
        env.oompa_ok(&["task", "list", "--state", "pending"])
            .contains('a')
    );
    // For itself it may, flags or not.
    let out = env
        .oompa_cmd(&["task", "claim", "a", "--worker", "w2"])
        .env("OOMPA_SWARM", "s1")
        .env("OOMPA_WORKER", "w2")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Pids of live processes whose command line contains `needle`.
fn pids_with(needle: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            String::from_utf8_lossy(&cmd)
                .contains(needle)
                .then_some(pid)
        })
        .collect()
}

/// Ends, when the test ends, any process left with the marker (so a failing test leaves
/// nothing running).
struct Reaper(String);

impl Drop for Reaper {
    fn drop(&mut self) {
        for pid in pids_with(&self.0) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

#[test]
fn background_processes_that_escape_the_turn_are_ended_and_never_land_later() {
    if oompa::agent::find_binary("setsid").is_none() {
        return;
    }
    let marker = format!("rogue-escape-{}", uuid::Uuid::new_v4());
    let _reaper = Reaper(marker.clone());
    let env = swarm_repo(3, &rogue("escape", 3, &[("ROGUE_MARKER", &marker)]));
    swarm(&env);
    let recs = records(&env);
    let outcomes: Vec<String> = recs.iter().map(|r| r.outcome.to_string()).collect();
    assert_eq!(outcomes, ["merged", "merged", "merged"]);

    // Nothing the agent started is running after its turn, let alone after the swarm.
    assert_eq!(pids_with(&marker), Vec::<i32>::new());
    assert!(
        recs[0].agent_did.iter().any(|d| d
            .what
            .starts_with("left 1 process(es) running outside its turn, ended: ")
            || d.what
                .starts_with("left 2 process(es) running outside its turn")),
        "{:?}",
        recs[0].agent_did
    );

    // What the escaped process wrote before the turn ended landed with that turn's leftovers;
    // nothing it could have written later is in the later landings.
    let files = |rev: &str| -> Vec<String> {
        env.git(&["ls-tree", "-r", "--name-only", rev, "escaped/"])
            .lines()
            .map(str::to_string)
            .collect()
    };
    let first = recs[0].landed.clone().expect("landed");
    assert!(!files(&first).is_empty());
    assert_eq!(files("main"), files(&first));
    assert_eq!(
        env.git(&["show", &format!("{first}:escaped.txt")]),
        env.git(&["show", "main:escaped.txt"])
    );
}

#[test]
fn a_merge_signal_followed_by_more_text_does_not_land_until_it_is_alone_on_the_last_line() {
    let logs = tempfile::tempdir().unwrap();
    let prompts = logs.path().join("prompts.log");
    let env = swarm_repo(
        1,
        &rogue(
            "talk",
            1,
            &[("FAKE_PROMPT_LOG", &prompts.display().to_string())],
        ),
    );
    swarm(&env);
    let recs = records(&env);
    assert_eq!(recs[0].outcome.to_string(), "merged", "{recs:?}");
    // Turn 1 signalled and kept talking: not heard. Turn 2 signalled alone on the last line.
    assert_eq!(recs[0].turns, 2, "{recs:?}");
    let log = std::fs::read_to_string(&prompts).unwrap();
    assert!(
        log.contains(
            "Your last message had `COMPLETE_AND_READY_FOR_MERGE` on a line that was not its \
             last line, so it did not count"
        ),
        "{log}"
    );
}

/// A repository with tasks a, b and c: a claimed by s1/w1 and b by s1/w2 (a live owner: this
/// test process), c by hand.
fn claimed_repo() -> TestEnv {
    let env = TestEnv::new();
    for id in ["a", "b", "c"] {
        env.oompa_ok(&["task", "add", "--id", id, id]);
    }
    let me = std::process::id().to_string();
    for (id, worker) in [("a", "w1"), ("b", "w2")] {
        let out = env
            .oompa_cmd(&["task", "claim", id])
            .env("OOMPA_SWARM", "s1")
            .env("OOMPA_WORKER", worker)
            .env("OOMPA_SWARM_PID", &me)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    env.oompa_ok(&["task", "claim", "c", "--worker", "alice"]);
    env
}

fn current(env: &TestEnv) -> String {
    env.oompa_ok(&["task", "list", "--state", "current"])
}

#[test]
fn task_release_inside_a_swarm_releases_only_the_callers_own_claims() {
    let env = claimed_repo();
    // w2 tries to free w1's live claim: refused, nothing changes.
    let as_w2 = |args: &[&str]| {
        env.oompa_cmd(args)
            .env("OOMPA_SWARM", "s1")
            .env("OOMPA_WORKER", "w2")
            .output()
            .unwrap()
    };
    let out = as_w2(&["task", "release", "a"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("task `a` is claimed by s1/w1, not by s1/w2"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("hint:"), "{}", stderr(&out));
    let out = as_w2(&["task", "release", "--force", "a"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--force is refused inside a swarm (OOMPA_SWARM is set)"),
        "{}",
        stderr(&out)
    );
    // Any swarm variable is enough to count as inside (not just OOMPA_WORKER), and so is a
    // worktree on a worker branch, with no variable at all.
    let out = env
        .oompa_cmd(&["task", "release", "c"])
        .env("OOMPA_CYCLE", "3")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    env.git(&["branch", "oompa/s1/w2"]);
    let wt = env.tmp.path().join("wt-w2");
    env.git(&["worktree", "add", "-q", wt.to_str().unwrap(), "oompa/s1/w2"]);
    let out = env
        .oompa_cmd_in(&wt, &["task", "release", "a"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("not by s1/w2"), "{}", stderr(&out));
    let listed = current(&env);
    assert!(
        listed.contains("s1/w1") && listed.contains("s1/w2") && listed.contains("alice"),
        "{listed}"
    );

    // Its own claim it may release, from the environment or from its worktree.
    let out = env
        .oompa_cmd_in(&wt, &["task", "release", "b"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "released b");
    assert!(!current(&env).contains("s1/w2"));
}

#[test]
fn a_person_releases_a_running_swarms_claim_only_with_force() {
    let env = claimed_repo();
    // A hand-made claim is released as before.
    assert_eq!(env.oompa_ok(&["task", "release", "c"]).trim(), "released c");
    // A claim whose swarm process is alive needs --force; nothing changes without it.
    let out = env.oompa(&["task", "release", "a", "b"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("task `a` is claimed by s1/w1, whose swarm is still running (pid"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("hint: `git oompa task release --force a`"),
        "{}",
        stderr(&out)
    );
    assert!(current(&env).contains("s1/w1"));
    let out = env.oompa_ok(&["task", "release", "--force", "a"]);
    assert_eq!(out.trim(), "released a");
    // A claim whose owner process is gone needs nothing.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let gone_pid = gone.id().to_string();
    gone.wait().unwrap();
    env.oompa_ok(&["task", "add", "--id", "d", "d"]);
    let out = env
        .oompa_cmd(&["task", "claim", "d"])
        .env("OOMPA_SWARM", "s2")
        .env("OOMPA_WORKER", "w9")
        .env("OOMPA_SWARM_PID", &gone_pid)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(env.oompa_ok(&["task", "release", "d"]).trim(), "released d");
    env.oompa_ok(&["task", "release", "--force", "b"]);
    assert_eq!(current(&env).trim(), "");
}
