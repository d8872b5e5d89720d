//! Usage limits and passing provider errors on every agent turn of a swarm, not only a worker's
//! own: a reviewer's and the planner's turns pause (a shared provider pause, the wait recorded
//! and shown) and resume their session, instead of failing the cycle. A paused worker keeps its
//! claims alive: their lease is renewed past the pause.

use oompa::store::notes::Notes;
use oompa::store::record::{CycleRecord, Outcome};

use crate::common::swarm::{outcomes, review_table, swarm_repo, worker_table, worker_with_env};
use crate::common::{TestEnv, stderr};

/// The cycle records of the repository, oldest first.
fn records(env: &TestEnv) -> Vec<CycleRecord> {
    let (entries, bad) = Notes::new(&env.open()).read_all().expect("notes");
    assert!(bad.is_empty(), "{bad:?}");
    entries.into_iter().map(|e| e.record).collect()
}

/// `(head line, prompt)` of each turn a fake reviewer or planner logged.
fn logged(log: &std::path::Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(log).expect("log");
    text.split("=== ")
        .skip(1)
        .map(|t| {
            let (head, prompt) = t.split_once('\n').unwrap_or((t, ""));
            (head.to_string(), prompt.to_string())
        })
        .collect()
}

fn field<'a>(head: &'a str, key: &str) -> &'a str {
    head.split_whitespace()
        .find_map(|w| w.strip_prefix(key))
        .unwrap_or("")
}

#[test]
fn a_reviewer_hitting_a_usage_limit_pauses_instead_of_failing_the_cycle() {
    let env = swarm_repo(1, &worker_table("polite", 1, "max_cycles = 1"));
    let log = env.tmp.path().join("review.log");
    let flag = env.tmp.path().join("limited");
    let config = std::fs::read_to_string(env.repo.join("oompa.toml")).expect("config");
    std::fs::write(
        env.repo.join("oompa.toml"),
        format!(
            "{config}\n{}env = {{ FAKE_REVIEW_LIMIT = \"{}\", FAKE_REVIEW_LIMIT_SECS = \"2\" }}\n",
            review_table(&["approve"], 1, Some(&log)),
            flag.display()
        ),
    )
    .expect("config");
    let out = env.oompa(&["swarm"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("[w0] paused until"), "{err}");
    assert!(
        err.contains(
            "review round 1: usage limit: Usage limit reached for the reviewer's account."
        ),
        "{err}"
    );

    // The cycle landed, not an error; the pause is in its record.
    assert_eq!(outcomes(&env), [("merged".to_string(), 1)].into(), "{err}");
    let [record] = &records(&env)[..] else {
        panic!("one record expected: {err}")
    };
    assert_eq!(record.outcome, Outcome::Merged);
    assert_eq!(record.error, None);
    assert_eq!(record.review.len(), 1, "{record:?}");
    assert_eq!(record.review[0].verdict, "approved");
    let [pause] = &record.pauses[..] else {
        panic!("one pause expected: {record:?}")
    };
    assert!(
        pause.reason.starts_with("review round 1: usage limit: "),
        "{pause:?}"
    );
    assert!(pause.started < pause.ended, "{pause:?}");

    // The reviewer's second turn resumed its own session with the continue prompt.
    let turns = logged(&log);
    assert_eq!(turns.len(), 2, "{turns:?}");
    assert_eq!(
        field(&turns[1].0, "resume="),
        "1",
        "not a resume: {turns:?}"
    );
    assert_eq!(
        field(&turns[0].0, "session="),
        field(&turns[1].0, "session="),
        "another session: {turns:?}"
    );
    assert!(
        turns[1].1.contains("Continue where you stopped"),
        "{turns:?}"
    );
}

#[test]
fn passing_provider_errors_of_a_reviewer_are_resumed_and_the_change_lands() {
    let env = swarm_repo(1, &worker_table("polite", 1, "max_cycles = 1"));
    let count = env.tmp.path().join("count");
    let config = std::fs::read_to_string(env.repo.join("oompa.toml")).expect("config");
    std::fs::write(
        env.repo.join("oompa.toml"),
        format!(
            "{config}\n{}env = {{ FAKE_REVIEW_TRANSIENT = \"2\", FAKE_REVIEW_COUNT = \"{}\" }}\n",
            review_table(&["approve"], 1, None),
            count.display()
        ),
    )
    .expect("config");
    let out = env.oompa(&["swarm"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(outcomes(&env), [("merged".to_string(), 1)].into(), "{err}");
    let records = records(&env);
    let pauses = &records[0].pauses;
    assert_eq!(pauses.len(), 2, "{:?}", records[0]);
    assert!(
        pauses[0]
            .reason
            .starts_with("review round 1: provider error: ")
            && pauses[0].reason.contains("HTTP 503"),
        "{pauses:?}"
    );
}

#[test]
fn a_planner_hitting_a_usage_limit_pauses_instead_of_failing_its_round() {
    let env = swarm_repo(
        0,
        &worker_table("polite", 1, "max_cycles = 5\ncan_plan = false"),
    );
    let log = env.tmp.path().join("plan.log");
    let flag = env.tmp.path().join("limited");
    let config = std::fs::read_to_string(env.repo.join("oompa.toml")).expect("config");
    std::fs::write(
        env.repo.join("oompa.toml"),
        format!(
            "{config}\n[planner]\nmodel = \"exec:sh {}/tests/fake-agents/planner.sh\"\n\
             max_pending = 3\nenv = {{ FAKE_PLAN_TOTAL = \"2\", FAKE_PLAN_LIMIT = \"{}\", \
             FAKE_PLAN_LIMIT_SECS = \"2\", FAKE_PLAN_LOG = \"{}\" }}\n",
            env!("CARGO_MANIFEST_DIR"),
            flag.display(),
            log.display()
        ),
    )
    .expect("config");
    let out = env.oompa(&["swarm"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("[planner] paused until"), "{err}");
    assert!(
        err.contains("usage limit: Usage limit reached for the planner's account."),
        "{err}"
    );
    assert!(err.contains("[planner] round 1: added p0, p1"), "{err}");
    assert!(!err.contains("round 1 failed"), "{err}");

    let records = records(&env);
    let first = records
        .iter()
        .find(|r| r.worker == "planner" && r.cycle == 1)
        .unwrap_or_else(|| panic!("no planner record: {records:?}"));
    assert_eq!(first.outcome, Outcome::Done, "{first:?}");
    assert_eq!(first.error, None);
    assert_eq!(first.tasks, ["p0", "p1"]);
    assert_eq!(first.turns, 2, "{first:?}");
    assert_eq!(first.sessions.len(), 1, "{first:?}");
    let [pause] = &first.pauses[..] else {
        panic!("one pause expected: {first:?}")
    };
    assert!(pause.reason.starts_with("usage limit: "), "{pause:?}");
    let landed = records
        .iter()
        .filter(|r| r.outcome == Outcome::Merged)
        .count();
    assert_eq!(landed, 2, "{records:?}");

    let turns = logged(&log);
    assert_eq!(
        field(&turns[1].0, "resume="),
        "1",
        "not a resume: {turns:?}"
    );
    assert_eq!(
        field(&turns[0].0, "session="),
        field(&turns[1].0, "session=")
    );
    assert!(
        turns[1].1.contains("Continue where you stopped"),
        "{turns:?}"
    );
}

/// `lease_until - claimed_at` and `lease_until` of `id`'s claim in the queue at `commit`.
fn claim_at(env: &TestEnv, commit: &str, id: &str) -> (jiff::SignedDuration, jiff::Timestamp) {
    let json = env.git(&["show", &format!("{commit}:current/{id}.json")]);
    let task: serde_json::Value = serde_json::from_str(&json).expect("task json");
    let time = |k: &str| -> jiff::Timestamp {
        task["claim"][k]
            .as_str()
            .unwrap_or_else(|| panic!("no {k}: {task}"))
            .parse()
            .expect("timestamp")
    };
    let until = time("lease_until");
    (until.duration_since(time("claimed_at")), until)
}

#[test]
fn a_paused_worker_keeps_its_claims_leased_a_full_lease_past_the_pause_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flag = dir.path().join("limited");
    let worker = worker_with_env(
        "polite",
        1,
        "max_cycles = 1",
        &[
            ("FAKE_CLAIM_FIRST", "1"),
            ("FAKE_LIMIT", flag.to_str().expect("utf8")),
            ("FAKE_LIMIT_SECS", "2"),
        ],
    );
    let env = swarm_repo(1, &worker);
    let out = env.oompa(&["swarm"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let records = records(&env);
    let [pause] = &records[0].pauses[..] else {
        panic!("one pause expected: {records:?}")
    };

    let history = env.git(&["log", "--reverse", "--format=%H %s", "refs/oompa/tasks"]);
    let commit_of = |prefix: &str| {
        history
            .lines()
            .find_map(|l| l.split_once(' ').filter(|(_, s)| s.starts_with(prefix)))
            .map(|(c, _)| c.to_string())
            .unwrap_or_else(|| panic!("no `{prefix}` commit in\n{history}"))
    };
    let (lease, first_until) = claim_at(&env, &commit_of("claim t00"), "t00");
    let (_, renewed_until) = claim_at(&env, &commit_of("renew t00"), "t00");
    // The renewed lease is a whole lease counted from the end the pause was planned to have:
    // between when it started and when it ended.
    let planned_end = renewed_until - lease;
    let started: jiff::Timestamp = pause.started.parse().expect("started");
    let ended: jiff::Timestamp = pause.ended.parse().expect("ended");
    assert!(
        started <= planned_end && planned_end <= ended,
        "{started} <= {planned_end} <= {ended}"
    );
    assert!(
        renewed_until > first_until,
        "{renewed_until} > {first_until}"
    );
}
