//! A swarm's cycles end to end with fake agents (`tests/fake-agents/agent.sh`): claims,
//! turns, landings, conflicts and their resolution, misbehaving agents, the planner, worktrees.

use oompa::store::notes::Notes;
use oompa::store::{Queue, State};

use crate::common::swarm::{
    assert_clean_up, landed_tasks, outcomes, spawn_swarm, states, summary_column, swarm_ok,
    swarm_repo, wait_for, worker_table, worker_with_env,
};
use crate::common::{stderr, stdout};

#[test]
fn four_workers_land_forty_tasks() {
    let env = swarm_repo(
        40,
        &worker_table(
            "polite",
            4,
            "max_cycles = 40\ncan_plan = false\nmax_wait_for_tasks = \"20s\"",
        ),
    );
    let out = swarm_ok(&env);

    // Every task completed exactly once, landed on main.
    let repo = env.open();
    let snap = Queue::new(&repo).snapshot().unwrap();
    assert_eq!(snap.count(State::Complete), 40, "{}", stderr(&out));
    assert_eq!(snap.count(State::Pending) + snap.count(State::Current), 0);

    // One landing per task on main, with trailers.
    let expected: Vec<String> = (0..40).map(|i| format!("t{i:02}")).collect();
    assert_eq!(landed_tasks(&env), expected);
    let workers = env.git(&[
        "log",
        "--first-parent",
        "--format=%(trailers:key=Oompa-Worker,valueonly)",
        "main",
    ]);
    assert!(workers.contains('w'), "{workers}");
    for t in snap.in_state(State::Complete) {
        let commit = &t.landed.as_ref().unwrap().commit;
        env.git(&["merge-base", "--is-ancestor", commit, "main"]);
        env.git(&["cat-file", "-e", &format!("main:work/{}.txt", t.id)]);
    }
    // The checkout of main followed the landings.
    assert!(env.repo.join("work/t00.txt").is_file());
    assert_eq!(
        env.git(&["status", "--porcelain", "--untracked-files=no"])
            .trim(),
        ""
    );

    // One record per cycle; the cycle count matches the summary.
    let o = outcomes(&env);
    assert_eq!(o.get("merged").copied().unwrap_or(0), 40, "{o:?}");
    let cycles: usize = summary_column(&stdout(&out), "CYCLES")
        .iter()
        .map(|c| c.parse::<usize>().unwrap())
        .sum();
    assert_eq!(o.values().sum::<usize>(), cycles, "{o:?}\n{}", stdout(&out));
    assert!(
        env.git(&["log", "--notes=oompa", "-1", "main"])
            .contains("\"outcome\":\"merged\"")
    );

    assert_clean_up(&env);
    assert_eq!(env.git(&["for-each-ref", "refs/oompa/keep/"]).trim(), "");
    env.assert_fsck_clean();
}

#[test]
fn misbehaving_agents_get_their_outcomes_and_the_swarm_goes_on() {
    let workers = [
        worker_table(
            "polite",
            1,
            "name = \"good\"\nmax_cycles = 20\ncan_plan = false\nmax_wait_for_tasks = \"30s\"",
        ),
        worker_with_env(
            "crash",
            1,
            "name = \"crash\"\nmax_errors = 2",
            &[("FAKE_CLAIM_FIRST", "1")],
        ),
        worker_with_env(
            "hang",
            1,
            "name = \"hang\"\nmax_cycles = 1\nturn_timeout = \"1s\"",
            &[("FAKE_CLAIM_FIRST", "1")],
        ),
        worker_table(
            "silent",
            1,
            "name = \"silent\"\nmax_cycles = 1\nmax_resumes = 2",
        ),
        worker_table("spam", 1, "name = \"spam\"\nmax_cycles = 1"),
        worker_table(
            "steal",
            1,
            "name = \"steal\"\nmax_cycles = 1\nwait_between = 0",
        ),
        worker_table("nochange", 1, "name = \"nochange\"\nmax_cycles = 1"),
    ]
    .join("\n");
    let env = swarm_repo(6, &workers);
    let out = swarm_ok(&env);
    let err = stderr(&out);

    let by_worker = |w: &str| -> Vec<String> {
        let repo = env.open();
        let (entries, _) = Notes::new(&repo).read_all().unwrap();
        entries
            .into_iter()
            .filter(|e| e.record.worker == w)
            .map(|e| e.record.outcome.to_string())
            .collect()
    };
    assert_eq!(by_worker("crash"), vec!["error", "error"], "{err}");
    assert_eq!(by_worker("hang"), vec!["error"], "{err}");
    assert_eq!(by_worker("silent"), vec!["stuck"], "{err}");
    assert_eq!(by_worker("spam"), vec!["done"], "{err}");
    let nochange = by_worker("nochange");
    assert!(
        nochange == vec!["no-changes"] || nochange == vec!["done"],
        "{nochange:?}"
    );
    assert_eq!(by_worker("steal").len(), 1);
    assert!(
        err.contains("[crash] finished: 2 failed cycles in a row"),
        "{err}"
    );
    assert!(
        err.contains("timed out"),
        "the hang is reported as a timeout:\n{err}"
    );

    // The polite worker landed everything; no claim leaked.
    assert_eq!(states(&env), (0, 0, 6), "{err}");
    let summary = stdout(&out);
    assert!(summary.contains("good"), "{summary}");
    assert_clean_up(&env);
    env.assert_fsck_clean();
}

#[test]
fn conflicting_workers_one_lands_the_other_keeps_its_work() {
    // No resolution attempts: the second landing ends `conflict`.
    let workers = worker_table(
        "conflict",
        2,
        "max_cycles = 1\ncan_plan = false\nmax_wait_for_tasks = \"5s\"",
    );
    let env = swarm_repo(2, &format!("max_conflict_rounds = 0\n{workers}"));
    std::fs::write(env.repo.join("shared.txt"), "original line\n").unwrap();
    env.git(&["add", "shared.txt"]);
    env.git(&["commit", "-q", "-m", "shared file"]);
    let out = swarm_ok(&env);
    let o = outcomes(&env);
    assert_eq!(o.get("merged"), Some(&1), "{o:?}\n{}", stderr(&out));
    assert_eq!(o.get("conflict"), Some(&1), "{o:?}\n{}", stderr(&out));
    assert_eq!(states(&env), (1, 0, 1));
    // The conflicting work is kept, and is not on main.
    let keep = env.git(&["for-each-ref", "--format=%(refname)", "refs/oompa/keep/"]);
    let keep: Vec<&str> = keep.lines().collect();
    assert_eq!(keep.len(), 1, "{keep:?}");
    let kept_file = env.git(&["show", &format!("{}:shared.txt", keep[0])]);
    assert!(kept_file.starts_with("line written by w"), "{kept_file}");
    assert!(
        env.git_cmd(&["merge-base", "--is-ancestor", keep[0], "main"])
            .status()
            .unwrap()
            .code()
            == Some(1)
    );
    // The record names the conflicting path.
    let repo = env.open();
    let (entries, _) = Notes::new(&repo).read_all().unwrap();
    let c = entries
        .iter()
        .find(|e| e.record.outcome.to_string() == "conflict")
        .unwrap();
    assert_eq!(c.record.conflicts, vec!["shared.txt"]);
    assert_eq!(c.record.kept.as_deref(), Some(keep[0]));
    assert_clean_up(&env);
}

#[test]
fn a_conflicting_worker_resolves_in_its_own_session_and_both_land() {
    let env = swarm_repo(
        2,
        &worker_with_env(
            "conflict",
            2,
            "max_cycles = 1\ncan_plan = false\nmax_wait_for_tasks = \"5s\"",
            &[("FAKE_RESOLVE", "1")],
        ),
    );
    std::fs::write(env.repo.join("shared.txt"), "original line\n").unwrap();
    env.git(&["add", "shared.txt"]);
    env.git(&["commit", "-q", "-m", "shared file"]);
    let out = swarm_ok(&env);
    let o = outcomes(&env);
    assert_eq!(o.get("merged"), Some(&2), "{o:?}\n{}", stderr(&out));
    assert_eq!(states(&env), (0, 0, 2));
    // Both sides survive on main, in order, with no conflict markers.
    let shared = env.git(&["show", "main:shared.txt"]);
    let lines: Vec<&str> = shared.lines().collect();
    assert_eq!(lines.len(), 2, "{shared}");
    assert!(
        lines.iter().all(|l| l.starts_with("line written by w")),
        "{shared}"
    );
    // Two landings with trailers; the second one carries the resolution merge.
    let landings = env.git(&["log", "--first-parent", "--format=%s", "main"]);
    assert_eq!(
        landings
            .lines()
            .filter(|l| l.starts_with("Land t0"))
            .count(),
        2,
        "{landings}"
    );
    let resolution = env.git(&["log", "--format=%s", "main"]);
    assert!(
        resolution.contains("Merge main into oompa/"),
        "{resolution}"
    );
    // The resolved cycle records the conflict it went through and its two turns after the first.
    let repo = env.open();
    let (entries, _) = Notes::new(&repo).read_all().unwrap();
    let resolved: Vec<_> = entries
        .iter()
        .filter(|e| !e.record.conflicts.is_empty())
        .collect();
    assert_eq!(resolved.len(), 1, "{entries:?}");
    assert_eq!(resolved[0].record.conflicts, vec!["shared.txt"]);
    assert_eq!(resolved[0].record.outcome.to_string(), "merged");
    assert!(
        resolved[0].record.turns >= 3,
        "claim, work, resolve: {}",
        resolved[0].record.turns
    );
    assert_eq!(
        resolved[0].record.sessions.len(),
        1,
        "the resolver turn resumed the same session"
    );
    assert!(stderr(&out).contains("turn 3: merge"), "{}", stderr(&out));
    assert_clean_up(&env);
    env.assert_fsck_clean();
}

#[test]
fn claiming_a_task_someone_else_holds_is_refused_and_reported() {
    let env = swarm_repo(1, &worker_table("steal", 1, "max_cycles = 1"));
    let log = env.tmp.path().join("prompts.log");
    env.oompa_ok(&["task", "claim", "t00", "--worker", "human"]);
    let config = std::fs::read_to_string(env.repo.join("oompa.toml")).unwrap();
    let config = config.replace(
        "env = { FAKE_MODE = \"steal\" }",
        &format!(
            "env = {{ FAKE_MODE = \"steal\", FAKE_PROMPT_LOG = \"{}\" }}",
            log.display()
        ),
    );
    std::fs::write(env.repo.join("oompa.toml"), config).unwrap();
    let out = swarm_ok(&env);
    assert!(
        stderr(&out).contains("t00 taken by human"),
        "{}",
        stderr(&out)
    );
    let prompts = std::fs::read_to_string(&log).unwrap();
    assert!(
        prompts.contains("t00 (held by human)"),
        "the claim results reach the agent:\n{prompts}"
    );
    assert_eq!(outcomes(&env).get("done"), Some(&1));
    let task: serde_json::Value =
        serde_json::from_str(&env.oompa_ok(&["task", "show", "t00", "--json"])).unwrap();
    assert_eq!(task["claim"]["worker"], "human", "the holder keeps it");
}

#[test]
fn silent_agents_are_resumed_in_the_same_session_nudged_then_stuck() {
    let env = swarm_repo(
        1,
        &worker_table("silent", 1, "max_cycles = 1\nmax_resumes = 3"),
    );
    let log = env.tmp.path().join("prompts.log");
    let config = std::fs::read_to_string(env.repo.join("oompa.toml")).unwrap();
    let config = config.replace(
        "env = { FAKE_MODE = \"silent\" }",
        &format!(
            "env = {{ FAKE_MODE = \"silent\", FAKE_PROMPT_LOG = \"{}\" }}",
            log.display()
        ),
    );
    std::fs::write(env.repo.join("oompa.toml"), config).unwrap();
    swarm_ok(&env);
    let prompts = std::fs::read_to_string(&log).unwrap();
    let headers: Vec<&str> = prompts.lines().filter(|l| l.starts_with("=== ")).collect();
    assert_eq!(headers.len(), 3, "{prompts}");
    assert!(headers[0].contains("resume= "), "{headers:?}");
    assert!(
        headers[1].contains("resume=1") && headers[2].contains("resume=1"),
        "{headers:?}"
    );
    let session = |h: &str| h.split("session=").nth(1).unwrap().to_string();
    assert_eq!(
        session(headers[0]),
        session(headers[2]),
        "one session for the whole cycle"
    );
    assert!(
        prompts.contains("How this swarm works"),
        "the fresh prompt has the task header"
    );
    assert_eq!(
        prompts
            .matches("You have not ended a message with a signal")
            .count(),
        1,
        "nudged once, on the last turn"
    );
    let repo = env.open();
    let (entries, _) = Notes::new(&repo).read_all().unwrap();
    assert_eq!(entries[0].record.outcome.to_string(), "stuck");
    assert_eq!(entries[0].record.turns, 3);
    assert_eq!(entries[0].record.sessions.len(), 1);
}

#[test]
fn landing_waits_for_the_users_uncommitted_edits_and_never_touches_them() {
    let env = swarm_repo(1, &worker_table("readme", 1, "max_cycles = 1"));
    // The user is editing README.md in the checkout of main.
    std::fs::write(
        env.repo.join("README.md"),
        "# test project\nmy unsaved edit\n",
    )
    .unwrap();
    let mut child = spawn_swarm(&env, None);
    let stderr_pipe = child.child().stderr.take().unwrap();
    let (seen, reader) = crate::common::collect_lines(stderr_pipe);
    wait_for("the landing to pause", || {
        seen.lock().unwrap().contains("landing paused")
    });
    let msg = seen.lock().unwrap().clone();
    assert!(
        msg.contains("README.md"),
        "the message names the file:\n{msg}"
    );
    assert!(msg.contains("commit or stash"), "{msg}");
    // Nothing of the user's was touched, and main did not move.
    std::thread::sleep(std::time::Duration::from_millis(700));
    assert_eq!(
        std::fs::read_to_string(env.repo.join("README.md")).unwrap(),
        "# test project\nmy unsaved edit\n"
    );
    assert_eq!(
        env.git(&["log", "--format=%s", "-1", "main"]).trim(),
        "initial commit"
    );
    // The user puts the edit away; the landing goes through by itself.
    env.git(&["stash", "-q"]);
    let out = child.wait_with_output();
    reader.join().unwrap();
    assert!(out.status.success(), "{}", seen.lock().unwrap());
    assert_eq!(states(&env), (0, 0, 1));
    assert_eq!(
        std::fs::read_to_string(env.repo.join("README.md")).unwrap(),
        "# test project\nline from w0\n"
    );
    assert_eq!(
        env.git(&["status", "--porcelain", "--untracked-files=no"])
            .trim(),
        ""
    );
}

#[test]
fn worktrees_stay_warm_across_cycles_and_get_the_copied_files_but_never_commit_them() {
    let env = swarm_repo(
        2,
        &worker_with_env(
            "polite",
            1,
            "max_cycles = 2\ncan_plan = false",
            &[("FAKE_WARM", "1")],
        ),
    );
    let config = std::fs::read_to_string(env.repo.join("oompa.toml")).unwrap();
    std::fs::write(
        env.repo.join("oompa.toml"),
        format!("copy = [\".env\"]\n{config}"),
    )
    .unwrap();
    std::fs::write(env.repo.join(".gitignore"), "build/\n").unwrap();
    env.git(&["add", ".gitignore"]);
    env.git(&["commit", "-q", "-m", "ignore build outputs"]);
    std::fs::write(env.repo.join(".env"), "SECRET=1\n").unwrap();
    swarm_ok(&env);
    let first = env.git(&["show", "main:work/t00.txt"]);
    let second = env.git(&["show", "main:work/t01.txt"]);
    assert!(
        first.contains("env: SECRET=1") && !first.contains("warm"),
        "{first}"
    );
    assert!(
        second.contains("warm build cache"),
        "the ignored cache survived the refresh:\n{second}"
    );
    let tree = env.git(&["ls-tree", "-r", "--name-only", "main"]);
    assert!(!tree.contains(".env") && !tree.contains("build/"), "{tree}");
}

#[test]
fn the_worktree_dir_comes_from_git_config_and_stays_out_of_git_status() {
    let env = swarm_repo(1, &worker_table("nochange", 1, "max_cycles = 1"));
    env.git(&["config", "oompa.worktreeDir", "agents-wt"]);
    swarm_ok(&env);
    let exclude = std::fs::read_to_string(env.repo.join(".git/info/exclude")).unwrap();
    assert!(exclude.contains("/agents-wt/"), "{exclude}");
    let transcripts = std::fs::read_dir(env.repo.join(".git/oompa/transcripts"))
        .unwrap()
        .count();
    assert_eq!(transcripts, 1);
    // The worker's worktree lived under agents-wt (removed at the end; its parent stays).
    assert!(env.repo.join("agents-wt").is_dir());
    assert_eq!(
        env.git(&["status", "--porcelain", "--", "agents-wt"])
            .trim(),
        ""
    );
}

#[test]
fn a_planner_fills_the_queue_for_two_executors_within_max_pending() {
    let env = swarm_repo(
        0,
        &worker_table(
            "polite",
            2,
            "max_cycles = 10\ncan_plan = false\nmax_wait_for_tasks = \"30s\"",
        ),
    );
    let refusals = env.tmp.path().join("refusals.log");
    let config = std::fs::read_to_string(env.repo.join("oompa.toml")).unwrap();
    std::fs::write(
        env.repo.join("oompa.toml"),
        format!(
            "{config}\n[planner]\nmodel = \"exec:sh {}/tests/fake-agents/planner.sh\"\nmax_pending = 3\nenv = {{ FAKE_PLAN_TOTAL = \"5\", FAKE_PLAN_ERR = \"{}\" }}\n",
            env!("CARGO_MANIFEST_DIR"),
            refusals.display()
        ),
    )
    .unwrap();
    let out = env.oompa(&["swarm"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(states(&env), (0, 0, 5), "{err}");
    assert!(err.contains("[planner] round 1: added p0, p1, p2"), "{err}");
    assert!(err.contains("[planner] round 2: added p3, p4"), "{err}");
    assert!(err.contains("nothing more to plan"), "{err}");
    assert!(
        std::fs::read_to_string(&refusals)
            .unwrap()
            .contains("the queue is full")
    );

    // The queue never held more than max_pending pending tasks, and planning came first.
    let history = env.git(&["log", "--reverse", "--format=%H %s", "refs/oompa/tasks"]);
    let mut first_claim = None;
    for (i, line) in history.lines().enumerate() {
        let (commit, subject) = line.split_once(' ').unwrap();
        let n = env
            .git_cmd(&["ls-tree", "--name-only", &format!("{commit}:pending")])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).lines().count())
            .unwrap_or(0);
        assert!(n <= 3, "{n} pending after `{subject}`");
        if subject.starts_with("claim") && first_claim.is_none() {
            first_claim = Some(i);
        }
    }
    let first_add = history
        .lines()
        .position(|l| l.contains("add p0 by"))
        .unwrap();
    assert!(first_add < first_claim.unwrap(), "{history}");
    assert!(
        history.contains("by ") && history.contains("/planner"),
        "{history}"
    );

    let repo = env.open();
    let (entries, _) = Notes::new(&repo).read_all().unwrap();
    let planner: Vec<_> = entries
        .iter()
        .filter(|e| e.record.worker == "planner")
        .collect();
    assert_eq!(planner.len(), 3);
    assert_clean_up(&env);
}
