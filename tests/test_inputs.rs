//! Inputs that must be refused or said (issue 8, items 16-21): config bounds, odd config
//! files, sha256 repositories, transcript sizes, commit dates, and cycles cut short by a
//! crash that must still be in the log.

use crate::common::swarm::{swarm_ok, swarm_repo, wait_for, worker_with_env};
use crate::common::{TestEnv, json_rows, stderr, stdout};

/// `git log` of `range` as (committer time, subject) pairs, newest first.
fn commit_times(env: &TestEnv, args: &[&str]) -> Vec<(i64, String)> {
    let mut cmd = vec!["log", "--format=%ct %s"];
    cmd.extend_from_slice(args);
    env.git(&cmd)
        .lines()
        .map(|l| {
            let (t, s) = l.split_once(' ').expect("time and subject");
            (t.parse().expect("a unix time"), s.to_string())
        })
        .collect()
}

#[test]
fn every_commit_of_a_swarm_is_dated_when_it_is_made_not_when_the_swarm_started() {
    // The agent sleeps before it commits, so its commit is made well after the swarm started;
    // everything git oompa commits after it (the landing, the queue's completion, the notes
    // commit, the target's reflog entry) must not be dated earlier.
    let env = swarm_repo(
        1,
        &worker_with_env(
            "cli",
            1,
            "max_cycles = 1\ncan_plan = false",
            &[("FAKE_SLEEP", "2")],
        ),
    );
    let mut cmd = env.oompa_cmd(&["swarm"]);
    // Git honours fixed dates from the environment and so does git oompa (the other tests
    // set them); this one must see the clock.
    cmd.env_remove("GIT_AUTHOR_DATE")
        .env_remove("GIT_COMMITTER_DATE");
    let out = cmd.output().expect("run the swarm");
    assert!(out.status.success(), "{}", stderr(&out));

    let landing = commit_times(&env, &["-1", "main"]);
    let agent = commit_times(&env, &["-1", "main^2"]);
    assert!(landing[0].1.starts_with("Land t00"), "{landing:?}");
    assert!(
        landing[0].0 >= agent[0].0,
        "the landing is dated before the agent's commit it merges: {landing:?} {agent:?}"
    );
    let queue = commit_times(&env, &["-1", "--grep=^complete t00", "refs/oompa/tasks"]);
    assert_eq!(queue.len(), 1, "{queue:?}");
    assert!(queue[0].0 >= agent[0].0, "{queue:?} {agent:?}");
    let notes = commit_times(&env, &["-1", "refs/notes/oompa"]);
    assert!(notes[0].0 >= agent[0].0, "{notes:?} {agent:?}");
    let reflog = env.git(&["reflog", "-1", "--format=%gd", "--date=unix", "main"]);
    let moved: i64 = reflog
        .trim()
        .trim_start_matches("main@{")
        .trim_end_matches('}')
        .parse()
        .expect("a unix time");
    assert!(moved >= agent[0].0, "{reflog} {agent:?}");
    // The author date follows the clock too.
    let author: i64 = env
        .git(&["log", "-1", "--format=%at", "main"])
        .trim()
        .parse()
        .unwrap();
    assert!(author >= agent[0].0, "{author} {agent:?}");
}

#[test]
fn a_fixed_commit_date_in_the_environment_is_honoured_as_git_does() {
    let env = TestEnv::new();
    env.oompa_ok(&["init"]);
    let mut cmd = env.oompa_cmd(&["task", "add", "Fixed in time", "--id", "f1"]);
    cmd.env("GIT_COMMITTER_DATE", "2030-05-06T07:08:09Z")
        .env("GIT_AUTHOR_DATE", "2031-01-01T00:00:00Z");
    let out = cmd.output().expect("task add");
    assert!(out.status.success(), "{}", stderr(&out));
    let dates = env.git(&["log", "-1", "--format=%cI %aI", "refs/oompa/tasks"]);
    assert_eq!(
        dates.trim(),
        "2030-05-06T07:08:09Z 2031-01-01T00:00:00Z",
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_sha256_repository_is_refused_as_unsupported_not_as_no_repository() {
    let env = TestEnv::empty();
    env.git(&["init", "-q", "--object-format=sha256", "-b", "main"]);
    for args in [&["init"][..], &["task", "list"], &["log"]] {
        let out = env.oompa(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            !err.contains("not inside a git repository"),
            "{args:?}: {err}"
        );
        assert!(
            err.contains("is a sha256 repository") && err.contains("only sha1 repositories"),
            "{args:?}: {err}"
        );
        assert!(err.contains("hint: "), "{args:?}: {err}");
    }
}

#[test]
fn a_repository_git_oompa_cannot_open_is_reported_with_why_not_as_no_repository() {
    let env = TestEnv::new();
    let config = env.repo.join(".git/config");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("[core\n");
    std::fs::write(&config, text).unwrap();
    let out = env.oompa(&["task", "list"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot open the git repository at") && err.contains("configuration"),
        "{err}"
    );
    assert!(!err.contains("not inside a git repository"), "{err}");
}

#[test]
fn the_demo_makes_a_repository_it_can_use_even_when_git_defaults_to_sha256_and_reftable() {
    let env = TestEnv::new();
    let global = env.home.join("gitconfig");
    std::fs::write(
        &global,
        "[init]\n\tdefaultObjectFormat = sha256\n\tdefaultRefFormat = reftable\n",
    )
    .unwrap();
    let dir = env.tmp.path().join("demo");
    let out = env
        .oompa_cmd(&["demo", dir.to_str().unwrap()])
        .env("PATH", crate::common::path_with_bin())
        .env("GIT_CONFIG_GLOBAL", &global)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let format = std::process::Command::new("git")
        .arg("-C")
        .arg(&dir)
        .args(["rev-parse", "--show-object-format"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&format.stdout).trim(), "sha1");
}

#[test]
fn a_worker_count_of_ten_thousand_is_refused_before_any_worktree_is_made() {
    let env = swarm_repo(1, &worker_with_env("polite", 1, "", &[]));
    let config = env.repo.join("oompa.toml");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("count = 1", "count = 10000");
    std::fs::write(&config, text).unwrap();
    let out = env.oompa(&["swarm"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("oompa.toml:4: worker.count: `10000` is too large (at most 64)"),
        "{err}"
    );
    let worktrees = env.git(&["worktree", "list", "--porcelain"]);
    assert_eq!(worktrees.matches("worktree ").count(), 1, "{worktrees}");
    assert_eq!(env.git(&["branch", "--list", "oompa/*"]).trim(), "");
}

#[test]
fn a_huge_claim_lease_is_a_usage_error_not_a_panic() {
    let env = TestEnv::new();
    env.oompa_ok(&["init"]);
    env.oompa_ok(&["task", "add", "Something", "--id", "s1"]);
    let out = env.oompa(&[
        "task",
        "claim",
        "s1",
        "--worker",
        "me",
        "--lease",
        "99999999999999999",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--lease") && !err.contains("panicked"),
        "{err}"
    );
}

/// A repository with one task and a one-cycle worker that says `__DONE__`, configured by
/// `extra` (top-level keys) in oompa.toml.
fn done_repo(extra: &str) -> TestEnv {
    let env = swarm_repo(0, "");
    std::fs::write(
        env.repo.join("oompa.toml"),
        format!(
            "error_backoff = 0\n{extra}\n[[worker]]\nmodel = \"exec:echo __DONE__\"\nmax_cycles = 1\n"
        ),
    )
    .unwrap();
    env
}

#[test]
fn a_copy_entry_that_does_not_exist_is_warned_about_once_at_start() {
    let env = done_repo("copy = [\"missing.env\", \"present.env\"]");
    std::fs::write(env.repo.join("present.env"), "X=1\n").unwrap();
    let out = env.oompa(&["swarm"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(
        err.matches("missing.env does not exist, so it is not copied into the worktrees")
            .count(),
        1,
        "{err}"
    );
    assert!(!err.contains("present.env"), "{err}");
}

#[test]
fn with_both_oompa_toml_and_oompa_json_the_swarm_says_which_one_it_uses() {
    let env = done_repo("");
    std::fs::write(
        env.repo.join("oompa.json"),
        "{\"workers\": [{\"model\": \"claude\"}]}",
    )
    .unwrap();
    let out = env.oompa(&["swarm"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("using oompa.toml; oompa.json is ignored"),
        "{err}"
    );
}

#[test]
fn an_oompa_toml_that_is_a_directory_is_reported_as_one_not_as_no_config_file() {
    let env = swarm_repo(0, "");
    std::fs::remove_file(env.repo.join("oompa.toml")).unwrap();
    std::fs::create_dir(env.repo.join("oompa.toml")).unwrap();
    let out = env.oompa(&["swarm"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("oompa.toml is a directory, not a config file"),
        "{err}"
    );
    assert!(!err.contains("no config file found"), "{err}");

    std::fs::remove_dir(env.repo.join("oompa.toml")).unwrap();
    std::os::unix::fs::symlink("nowhere.toml", env.repo.join("oompa.toml")).unwrap();
    let out = env.oompa(&["swarm"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("oompa.toml is a symbolic link to something that does not exist"),
        "{err}"
    );
}

#[test]
fn a_prompt_include_that_cannot_be_resolved_is_warned_about_at_start() {
    let env = swarm_repo(0, "");
    std::fs::write(
        env.repo.join("role.md"),
        "Be brief.\n#oompa_directive:include_file \"gone.md\"\n",
    )
    .unwrap();
    std::fs::write(
        env.repo.join("oompa.toml"),
        "error_backoff = 0\n[[worker]]\nmodel = \"exec:echo __DONE__\"\nmax_cycles = 1\nprompt = \"role.md\"\n",
    )
    .unwrap();
    let out = env.oompa(&["swarm"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("role.md: could not include \"gone.md\""),
        "{err}"
    );
}

#[test]
fn a_turn_printing_fifty_megabytes_gives_a_transcript_capped_at_transcript_max() {
    let env = swarm_repo(0, &worker_with_env("spam", 1, "max_cycles = 1", &[]));
    let config = env.repo.join("oompa.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("transcript_max = \"1MiB\"\n{text}")).unwrap();
    swarm_ok(&env);
    let dir = env.repo.join(".git/oompa/transcripts");
    let files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flat_map(|swarm| std::fs::read_dir(swarm.unwrap().path()).unwrap())
        .flat_map(|worker| std::fs::read_dir(worker.unwrap().path()).unwrap())
        .map(|f| f.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let whole = std::fs::read_to_string(&files[0]).unwrap();
    // The turn's header (with its prompt) comes first; the cap is on the output after it.
    let (header, text) = whole.split_once("── output ──\n").expect("a turn header");
    assert!(header.starts_with("══ turn 1 · fresh session"), "{header}");
    assert!(text.len() <= (1 << 20) + 200, "{} bytes", text.len());
    assert!(text.starts_with("xxxx"), "the head is kept");
    assert!(text.ends_with("x\n__DONE__\n"), "the tail is kept");
    let cut = 52_428_800 + 10 - (1 << 20);
    assert!(
        text.contains(&format!(
            "\n[git oompa: {cut} bytes of this turn's output were cut here; the transcript keeps \
             its first 524288 and last 524288 bytes (transcript_max)]\n"
        )),
        "{}",
        &text[(1 << 19) - 10..(1 << 19) + 200]
    );
}

/// A cycle record's (swarm, worker, cycle, outcome, tasks, kept).
type Rec = (String, String, u32, String, Vec<String>, Option<String>);

/// The cycle records in the log.
fn records(env: &TestEnv) -> Vec<Rec> {
    let repo = env.open();
    let (entries, bad) = oompa::store::notes::Notes::new(&repo).read_all().unwrap();
    assert!(bad.is_empty(), "{bad:?}");
    let mut out: Vec<_> = entries
        .into_iter()
        .map(|e| {
            let r = e.record;
            (
                r.swarm,
                r.worker,
                r.cycle,
                r.outcome.to_string(),
                r.tasks,
                r.kept,
            )
        })
        .collect();
    out.sort();
    out
}

fn journal_files(env: &TestEnv) -> Vec<std::path::PathBuf> {
    let dir = env.repo.join(".git/oompa/cycles");
    let Ok(swarms) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    swarms
        .flat_map(|s| std::fs::read_dir(s.unwrap().path()).unwrap())
        .map(|f| f.unwrap().path())
        .collect()
}

/// A swarm of `workers` agents that each claim a task and commit, then hang for a few seconds,
/// killed with SIGKILL while they hang. Returns the swarm id.
fn swarm_killed_mid_cycle(env: &TestEnv, workers: usize) -> String {
    let mut child = env
        .oompa_cmd(&["swarm"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let repo = env.open();
    wait_for("every agent to claim and commit", || {
        let snap = oompa::store::Queue::new(&repo).snapshot().unwrap();
        let main = repo.read_ref("refs/heads/main").unwrap();
        let moved = repo
            .refs_with_prefix("refs/heads/oompa/")
            .unwrap()
            .iter()
            .filter(|(_, tip)| Some(*tip) != main)
            .count();
        snap.count(oompa::store::State::Current) == workers && moved == workers
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let swarms = oompa::store::Queue::new(&repo).swarms().unwrap();
    assert_eq!(swarms.len(), 1);
    swarms[0].id.clone()
}

#[test]
fn cycles_cut_short_by_sigkill_are_recorded_interrupted_by_the_next_command_once() {
    // The agents hang for 5 s after claiming and committing; they end by themselves.
    let env = swarm_repo(
        3,
        &worker_with_env(
            "hang",
            2,
            "max_cycles = 1",
            &[
                ("FAKE_CLAIM_FIRST", "1"),
                ("FAKE_COMMIT_FIRST", "1"),
                ("FAKE_HANG", "5"),
            ],
        ),
    );
    let swarm = swarm_killed_mid_cycle(&env, 2);
    assert_eq!(
        records(&env),
        vec![],
        "nothing was recorded before the kill"
    );
    assert_eq!(journal_files(&env).len(), 2);

    // Two commands at once: both recover, one records, neither duplicates.
    let spawn = |args: &[&str]| {
        env.oompa_cmd(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(&["log"]), spawn(&["task", "list"]));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success(), "{}", stderr(&a));
    assert!(b.status.success(), "{}", stderr(&b));
    let both = format!("{}{}", stderr(&a), stderr(&b));
    assert_eq!(
        both.matches("a crash left out of the log").count(),
        1,
        "{both}"
    );
    assert!(stdout(&a).contains("interrupted"), "{}", stdout(&a));

    let recs = records(&env);
    assert_eq!(recs.len(), 2, "{recs:?}");
    for (i, (s, worker, cycle, outcome, tasks, kept)) in recs.iter().enumerate() {
        assert_eq!((s, worker.as_str(), *cycle), (&swarm, ["w0", "w1"][i], 1));
        assert_eq!(outcome, "interrupted");
        assert_eq!(tasks.len(), 1, "the claim it held: {recs:?}");
        // The work it committed is kept where the record says.
        let kept = kept.as_deref().expect("kept");
        env.git(&["cat-file", "-e", &format!("{kept}:wip/{worker}.txt")]);
    }
    assert_eq!(journal_files(&env), Vec::<std::path::PathBuf>::new());
    // The claims went back, and running recovery again writes nothing more.
    let out = env.oompa(&["log"]);
    assert!(!stderr(&out).contains("crash left"), "{}", stderr(&out));
    assert_eq!(records(&env).len(), 2);
    let repo = env.open();
    let snap = oompa::store::Queue::new(&repo).snapshot().unwrap();
    assert_eq!(snap.count(oompa::store::State::Pending), 3);
    env.assert_fsck_clean();
}

/// Writes the journal file a swarm process leaves when it dies during `worker`'s `cycle`
/// (started from `base`, no record yet), as a dead process.
fn leave_journal(env: &TestEnv, swarm: &str, worker: &str, cycle: u32, base: &str) {
    let mut dead = std::process::Command::new("true").spawn().unwrap();
    let pid = dead.id();
    dead.wait().unwrap();
    let dir = env.repo.join(".git/oompa/cycles").join(swarm);
    std::fs::create_dir_all(&dir).unwrap();
    let entry = serde_json::json!({
        "version": 1,
        "host": oompa::store::queue::hostname(),
        "pid": pid,
        "swarm": swarm,
        "worker": worker,
        "cycle": cycle,
        "model": "exec:agent",
        "started": "2026-01-01T00:00:00Z",
        "base": base,
        "branch": format!("refs/heads/oompa/{swarm}/{worker}"),
        "transcript": null,
        "record": null,
    });
    std::fs::write(
        dir.join(format!("{worker}@{cycle}.json")),
        serde_json::to_vec(&entry).unwrap(),
    )
    .unwrap();
}

#[test]
fn a_landing_whose_cycle_was_cut_short_is_recorded_merged_and_a_recorded_cycle_never_twice() {
    let env = swarm_repo(
        1,
        &worker_with_env("cli", 1, "max_cycles = 1\ncan_plan = false", &[]),
    );
    swarm_ok(&env);
    let landing = env.git(&["rev-parse", "main"]).trim().to_string();
    let base = env.git(&["rev-parse", "main^1"]).trim().to_string();
    let swarm = records(&env)[0].0.clone();
    assert_eq!(records(&env).len(), 1);
    assert_eq!(journal_files(&env), Vec::<std::path::PathBuf>::new());

    // A crash between the landing and the record: the landing is on main, the log lacks it.
    env.git(&["notes", "--ref=oompa", "remove", &landing]);
    assert_eq!(records(&env), vec![]);
    leave_journal(&env, &swarm, "w0", 1, &base);
    // And a later cycle that had not got anywhere.
    leave_journal(&env, &swarm, "w0", 2, &landing);
    let out = env.oompa(&["log", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let recs = records(&env);
    assert_eq!(
        recs,
        vec![
            (
                swarm.clone(),
                "w0".into(),
                1,
                "merged".into(),
                vec!["t00".into()],
                None
            ),
            (
                swarm.clone(),
                "w0".into(),
                2,
                "interrupted".into(),
                vec![],
                None
            ),
        ]
    );
    let json = json_rows(&stdout(&out));
    let merged = json.iter().find(|r| r["cycle"] == 1).unwrap();
    assert_eq!(merged["landed"], landing.as_str());
    assert_eq!(merged["recovered"], true);

    // A journal left for a cycle whose record is already in the log adds nothing.
    leave_journal(&env, &swarm, "w0", 1, &base);
    let out = env.oompa(&["log"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(records(&env), recs);
    assert_eq!(journal_files(&env), Vec::<std::path::PathBuf>::new());
}

#[test]
fn a_swarm_killed_in_its_second_cycle_leaves_a_log_without_a_hole() {
    // Cycle 1 lands; in cycle 2 the agent claims, commits, and the swarm dies by SIGKILL.
    let env = swarm_repo(
        2,
        &worker_with_env(
            "cli",
            1,
            "max_cycles = 3\ncan_plan = false",
            &[
                ("FAKE_CLAIM_FIRST", "1"),
                ("FAKE_COMMIT_FIRST", "1"),
                ("FAKE_KILL_SWARM", "2"),
            ],
        ),
    );
    let out = env.oompa(&["swarm"]);
    assert_eq!(out.status.code(), None, "killed: {}", stderr(&out));
    let out = env.oompa(&["log"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let recs: Vec<(u32, String, Vec<String>)> = records(&env)
        .into_iter()
        .map(|(_, _, cycle, outcome, tasks, _)| (cycle, outcome, tasks))
        .collect();
    assert_eq!(
        recs,
        vec![
            (1, "merged".into(), vec!["t00".into()]),
            (2, "interrupted".into(), vec!["t01".into()]),
        ],
        "{}",
        stderr(&out)
    );
    assert_eq!(journal_files(&env), Vec::<std::path::PathBuf>::new());
}
