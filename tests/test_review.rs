//! Review before landing: fake reviewers (`tests/fake-agents/reviewer.sh`) that approve,
//! reject once or always, fail or babble; fixes in the worker's own session; opting out.

use oompa::store::notes::Notes;

use crate::common::swarm::{
    assert_clean_up, review_table, states, swarm_ok, swarm_repo, worker_table, worker_with_env,
};
use crate::common::{TestEnv, stderr};

#[test]
fn a_reviewer_that_rejects_once_gets_a_fix_from_the_same_session_then_approves() {
    let prompts = TestEnv::new().tmp.path().to_path_buf();
    let env = swarm_repo(1, &worker_table("polite", 1, "max_cycles = 1"));
    let agent_log = env.tmp.path().join("agent.log");
    let review_log = env.tmp.path().join("review.log");
    let _ = prompts;
    let config = std::fs::read_to_string(env.repo.join("oompa.toml"))
        .unwrap()
        .replace(
            "env = { FAKE_MODE = \"polite\" }",
            &format!(
                "env = {{ FAKE_MODE = \"polite\", FAKE_PROMPT_LOG = \"{}\" }}",
                agent_log.display()
            ),
        );
    std::fs::write(
        env.repo.join("oompa.toml"),
        format!(
            "{config}\n{}",
            review_table(&["once"], 3, Some(&review_log))
        ),
    )
    .unwrap();
    let out = swarm_ok(&env);
    let err = stderr(&out);
    assert!(
        err.contains("review round 1 by exec:") && err.contains("needs-changes"),
        "{err}"
    );
    assert!(err.contains("review round 2 by exec:"), "{err}");

    let repo = env.open();
    let (entries, _) = Notes::new(&repo).read_all().unwrap();
    let r = &entries[0].record;
    assert_eq!(r.outcome.to_string(), "merged");
    assert_eq!(r.review.len(), 2);
    assert_eq!(r.review[0].verdict, "needs-changes");
    assert!(
        r.review[0].findings.contains("must say it was reviewed"),
        "{:?}",
        r.review[0]
    );
    assert_eq!(r.review[1].verdict, "approved");
    assert_eq!(
        r.sessions.len(),
        1,
        "the fix turn resumed the worker's own session"
    );
    let agent_prompts = std::fs::read_to_string(&agent_log).unwrap();
    let fix = agent_prompts
        .split("=== ")
        .find(|p| p.contains("## Review: changes needed"))
        .expect("a fix turn");
    assert!(
        fix.contains("resume=1") && fix.contains("must say it was reviewed"),
        "{fix}"
    );

    // The reviewer saw the tasks with their acceptance, the diff against the merge base, and
    // in round 2 only round 1's findings.
    let reviews = std::fs::read_to_string(&review_log).unwrap();
    let rounds: Vec<&str> = reviews.split("=== round ").skip(1).collect();
    assert_eq!(rounds.len(), 2);
    assert!(
        rounds[0].contains("`t00`: Task number 0") && rounds[0].contains("+done by w0"),
        "{}",
        rounds[0]
    );
    assert!(!rounds[0].contains("Previous review"));
    assert!(
        rounds[1].contains("## Previous review (round 1)")
            && rounds[1].contains("+reviewed and fixed"),
        "{}",
        rounds[1]
    );

    let landed = env.git(&[
        "log",
        "-1",
        "--format=%(trailers:key=Oompa-Review-Rounds,valueonly)",
        "main",
    ]);
    assert_eq!(landed.trim(), "2");
    assert!(
        env.git(&["show", "main:work/t00.txt"])
            .contains("reviewed and fixed")
    );
    let show = env.oompa_ok(&["log", "--show", "w0/1"]);
    assert!(
        show.contains("needs-changes")
            && show.contains("approved")
            && show.contains("must say it was reviewed"),
        "{show}"
    );
}

#[test]
fn a_reviewer_that_always_rejects_ends_the_cycle_rejected_with_claims_back_and_work_kept() {
    let env = swarm_repo(
        1,
        &format!(
            "{}\n{}",
            worker_table("polite", 1, "max_cycles = 1"),
            review_table(&["reject"], 2, None)
        ),
    );
    swarm_ok(&env);
    let repo = env.open();
    let (entries, _) = Notes::new(&repo).read_all().unwrap();
    let r = &entries[0].record;
    assert_eq!(r.outcome.to_string(), "rejected");
    assert_eq!(r.review.len(), 2);
    assert_eq!(states(&env), (1, 0, 0), "the claim went back to pending");
    let kept = r.kept.as_deref().expect("work kept");
    assert!(
        env.git(&["show", &format!("{kept}:work/t00.txt")])
            .contains("reviewed and fixed")
    );
    assert_eq!(
        env.git(&["log", "--format=%s", "-1", "main"]).trim(),
        "initial commit"
    );
    assert_clean_up(&env);
}

#[test]
fn reviewers_fall_back_in_order_and_an_answer_without_verdict_counts_as_needs_changes() {
    let env = swarm_repo(
        1,
        &format!(
            "{}\n{}",
            worker_table("polite", 1, "max_cycles = 1"),
            review_table(&["fail", "babble"], 1, None)
        ),
    );
    swarm_ok(&env);
    let repo = env.open();
    let (entries, _) = Notes::new(&repo).read_all().unwrap();
    let r = &entries[0].record;
    assert_eq!(r.outcome.to_string(), "rejected");
    assert!(
        r.review[0].reviewer.contains("FAKE_REVIEW=babble"),
        "{:?}",
        r.review[0]
    );
    assert!(!r.review[0].parsed);
    assert!(
        r.review[0].findings.contains("mostly fine"),
        "raw text kept: {:?}",
        r.review[0]
    );

    // All reviewers failing is an error, not an approval.
    std::fs::write(
        env.repo.join("oompa.toml"),
        format!(
            "error_backoff = 0\n{}\n{}",
            worker_table("polite", 1, "max_cycles = 1"),
            review_table(&["fail"], 1, None)
        ),
    )
    .unwrap();
    let out = env.oompa(&["swarm"]);
    // Its one cycle ended `error`: a swarm in which every cycle failed exits 1.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("every cycle failed (1 cycle)"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("no reviewer answered"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        env.git(&["log", "--format=%s", "-1", "main"]).trim(),
        "initial commit"
    );
}

#[test]
fn workers_can_opt_out_of_review() {
    let env = swarm_repo(
        1,
        &format!(
            "{}\n{}",
            worker_table("polite", 1, "max_cycles = 1\nreview = false"),
            review_table(&["reject"], 1, None)
        ),
    );
    swarm_ok(&env);
    assert_eq!(states(&env), (0, 0, 1));
    let rounds = env.git(&[
        "log",
        "-1",
        "--format=%(trailers:key=Oompa-Review-Rounds,valueonly)",
        "main",
    ]);
    assert_eq!(rounds.trim(), "0");
}

/// Two conflicting workers under review; the second resolves with `FAKE_RESOLVE=<resolve>`.
/// Returns the review rounds of the cycle that resolved a conflict.
fn resolved_review_rounds(resolve: &str) -> usize {
    let workers = worker_with_env(
        "conflict",
        2,
        "max_cycles = 1\ncan_plan = false\nmax_wait_for_tasks = \"5s\"",
        &[("FAKE_RESOLVE", resolve)],
    );
    let env = swarm_repo(
        2,
        &format!("{workers}\n{}", review_table(&["approve"], 3, None)),
    );
    std::fs::write(env.repo.join("shared.txt"), "original line\n").unwrap();
    env.git(&["add", "shared.txt"]);
    env.git(&["commit", "-q", "-m", "shared file"]);
    let out = swarm_ok(&env);
    assert_eq!(states(&env), (0, 0, 2), "{}", stderr(&out));
    let repo = env.open();
    let (entries, _) = Notes::new(&repo).read_all().unwrap();
    let resolved = entries
        .iter()
        .find(|e| !e.record.conflicts.is_empty())
        .expect("a resolved conflict");
    resolved.record.review.len()
}

#[test]
fn a_resolution_inside_the_conflict_is_not_reviewed_again_one_beyond_it_is() {
    assert_eq!(resolved_review_rounds("1"), 1);
    assert_eq!(resolved_review_rounds("beyond"), 2);
}
