//! How failures are reported: a role prompt that cannot be read fails the cycle instead of
//! reaching the agent with a hole in it; exit codes.

use oompa::store::notes::Notes;

use crate::common::swarm::{swarm_repo, worker_with_env};
use crate::common::{TestEnv, stderr};

/// A repository with `tasks` tasks and one fake worker whose role prompt is `role.md`,
/// logging every prompt its agent gets to `prompts.log`; `extra` goes into its table.
fn repo_with_role_prompt(tasks: usize, role: &[u8], extra: &str) -> (TestEnv, std::path::PathBuf) {
    let repo = swarm_repo(tasks, "");
    let log = repo.tmp.path().join("prompts.log");
    let log_s = log.display().to_string();
    let table = worker_with_env(
        "polite",
        1,
        &format!("prompt = [\"role.md\"]\n{extra}"),
        &[("FAKE_PROMPT_LOG", log_s.as_str())],
    );
    let config = repo.repo.join("oompa.toml");
    let before = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, before + &table).unwrap();
    std::fs::write(repo.repo.join("role.md"), role).unwrap();
    (repo, log)
}

/// Not UTF-8: it exists (the config's existence check passes) but cannot be read as a prompt.
const NOT_UTF8: &[u8] = b"\xff\xfe You are careful.\n";

#[test]
fn a_role_prompt_that_cannot_be_read_is_refused_before_the_swarm_starts() {
    let (env, log) = repo_with_role_prompt(1, NOT_UTF8, "max_cycles = 1");
    let out = env.oompa(&["swarm"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("role.md") && err.contains("cannot be read") && err.contains("UTF-8"),
        "names the file and why: {err}"
    );
    assert!(!log.exists(), "no agent ran");
    let repo = env.open();
    let (entries, _) = Notes::new(&repo).read_all().unwrap();
    assert!(entries.is_empty(), "no cycle ran");
}

#[test]
fn a_role_prompt_that_becomes_unreadable_fails_the_cycle_instead_of_prompting_without_it() {
    let (env, log) = repo_with_role_prompt(2, b"You are careful.\n", "");
    // During cycle 1 the role prompt stops being readable; cycle 2 must not prompt without it.
    let role = env.repo.join("role.md");
    let flag = env.tmp.path().join("once");
    let once = format!("printf '\\\\377' > {}", role.display());
    let config = env.repo.join("oompa.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "FAKE_MODE = \"polite\"",
        &format!(
            "FAKE_MODE = \"polite\", FAKE_ONCE = \"{once}\", FAKE_ONCE_FLAG = \"{}\"",
            flag.display()
        ),
    ) + "max_cycles = 2\n";
    std::fs::write(&config, text).unwrap();
    let out = env.oompa(&["swarm"]);
    let err = stderr(&out);
    let prompts = std::fs::read_to_string(&log).unwrap();
    assert!(
        prompts
            .lines()
            .filter(|l| l.starts_with("=== "))
            .all(|l| l.contains(" cycle 1 ")),
        "only cycle 1 prompted an agent:\n{prompts}"
    );
    assert!(prompts.contains("You are careful."), "{prompts}");
    assert!(!prompts.contains("could not read prompt"), "{prompts}");
    let repo = env.open();
    let (entries, _) = Notes::new(&repo).read_all().unwrap();
    let outcomes: Vec<String> = entries
        .iter()
        .map(|e| e.record.outcome.to_string())
        .collect();
    assert_eq!(outcomes, ["merged", "error"], "{err}");
    let why = entries[1].record.error.as_deref().unwrap_or("");
    assert!(
        why.contains("cannot read prompt file") && why.contains("role.md") && why.contains("UTF-8"),
        "the record names the file and why: {why}"
    );
}

#[test]
fn a_readable_role_prompt_reaches_the_agent_after_the_task_header() {
    let (env, log) =
        repo_with_role_prompt(1, b"You are careful on {{worker}}.\n", "max_cycles = 1");
    let out = env.oompa(&["swarm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let prompts = std::fs::read_to_string(&log).unwrap();
    let header = prompts.find("How this swarm works").expect("task header");
    let role = prompts
        .find("You are careful on w0.")
        .expect("rendered role prompt");
    assert!(header < role, "{prompts}");
}

#[test]
fn a_worker_thread_that_panics_ends_the_swarm_as_an_internal_error_not_a_warning_and_exit_0() {
    use crate::common::swarm::{states, worker_table};
    let env = swarm_repo(3, &worker_table("cli", 2, "max_cycles = 5"));
    let out = env
        .oompa_cmd(&["swarm"])
        .env(oompa::agent_env::TEST_PANIC_IN, "worker-w1")
        .output()
        .expect("run the swarm");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(255), "{err}");
    assert!(
        err.contains("internal error: 1 of the swarm's threads panicked")
            && err.contains("worker-w1: a test asked this thread to panic")
            && err.contains("nothing is lost"),
        "{err}"
    );
    // The other worker went on and did every task; nothing is left claimed.
    assert_eq!(states(&env), (0, 0, 3), "{err}");
}

#[test]
fn a_merge_queue_that_panics_stops_the_swarm_instead_of_burning_every_workers_cycles() {
    use crate::common::swarm::{outcomes, states, worker_table};
    let env = swarm_repo(4, &worker_table("cli", 2, "max_cycles = 5"));
    let out = env
        .oompa_cmd(&["swarm"])
        .env(oompa::agent_env::TEST_PANIC_IN, "merge-queue")
        .output()
        .expect("run the swarm");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(255), "{err}");
    assert!(
        err.contains("merge-queue: a test asked this thread to panic"),
        "{err}"
    );
    // Each worker's first cycle found the queue gone, kept its work and stopped there.
    let o = outcomes(&env);
    assert!(o.values().sum::<usize>() <= 2, "{o:?}\n{err}");
    assert_eq!(o.get("merged"), None, "{o:?}\n{err}");
    env.oompa_ok(&["status"]);
    assert_eq!(states(&env), (4, 0, 0), "{err}");
    let kept = env.git(&["for-each-ref", "--format=%(refname)", "refs/oompa/keep/"]);
    assert!(!kept.trim().is_empty(), "{err}");
}
