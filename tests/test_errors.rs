//! How failures are reported: a role prompt that cannot be read fails the cycle instead of
//! reaching the agent with a hole in it; exit codes.

use oompa::store::notes::Notes;

use crate::common::swarm::{swarm_repo, worker_with_env};
use crate::common::{TestEnv, stderr};

/// A repository with one task and one fake worker whose role prompt is `role.md`, logging
/// every prompt its agent gets to `prompts.log`.
fn repo_with_role_prompt(role: &[u8]) -> (TestEnv, std::path::PathBuf) {
    let env = swarm_repo(1, "");
    let log = env.tmp.path().join("prompts.log");
    let table = worker_with_env(
        "polite",
        1,
        "max_cycles = 1\nprompt = [\"role.md\"]",
        &[("FAKE_PROMPT_LOG", &log.display().to_string())],
    );
    let config = env.repo.join("oompa.toml");
    let before = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, before + &table).unwrap();
    std::fs::write(env.repo.join("role.md"), role).unwrap();
    (env, log)
}

#[test]
fn a_worker_whose_role_prompt_cannot_be_read_fails_the_cycle_instead_of_prompting_without_it() {
    // It exists (the config is accepted) but is not UTF-8: it cannot be read as a prompt.
    let (env, log) = repo_with_role_prompt(b"\xff\xfe You are careful.\n");
    let out = env.oompa(&["swarm"]);
    let err = stderr(&out);
    assert!(
        !log.exists(),
        "no agent was sent a prompt without its role:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let repo = env.open();
    let (entries, _) = Notes::new(&repo).read_all().unwrap();
    assert_eq!(entries.len(), 1, "{err}");
    let record = &entries[0].record;
    assert_eq!(record.outcome.to_string(), "error", "{err}");
    let why = record.error.as_deref().unwrap_or("");
    assert!(
        why.contains("cannot read prompt file") && why.contains("role.md") && why.contains("UTF-8"),
        "the record names the file and why: {why}"
    );
    assert!(err.contains("role.md"), "the person is told: {err}");
}

#[test]
fn a_readable_role_prompt_reaches_the_agent_after_the_task_header() {
    let (env, log) = repo_with_role_prompt(b"You are careful on {{worker}}.\n");
    let out = env.oompa(&["swarm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let prompts = std::fs::read_to_string(&log).unwrap();
    let header = prompts.find("How this swarm works").expect("task header");
    let role = prompts
        .find("You are careful on w0.")
        .expect("rendered role prompt");
    assert!(header < role, "{prompts}");
}
