//! Budgets (issue 12): a swarm or a worker stops by itself when what its agents report using
//! reaches its `budget`, with nothing lost.

use oompa::store::Queue;

use crate::common::swarm::{fake_model, records, states, swarm_repo};
use crate::common::{TestEnv, stderr, stdout};

/// A repository with `n` tasks, `toml_top` at the top of oompa.toml and one polite fake
/// worker with `worker_extra` keys and `vars` (TOML `KEY = "value"` pairs) in its env.
fn repo(n: usize, toml_top: &str, worker_extra: &str, vars: &str) -> TestEnv {
    swarm_repo(
        n,
        &format!(
            "{toml_top}\n[[worker]]\nmodel = \"{}\"\nmax_cycles = 20\ncan_plan = false\n{worker_extra}\nenv = {{ FAKE_MODE = \"polite\", {vars} }}\n",
            fake_model()
        ),
    )
}

/// The cycles' outcomes, oldest cycle first.
fn outcomes(env: &TestEnv) -> Vec<String> {
    let mut records = records(env);
    records.sort_by_key(|r| r.cycle);
    records.iter().map(|r| r.outcome.to_string()).collect()
}

#[test]
fn a_swarm_budget_stops_the_swarm_by_itself_with_nothing_lost_and_claims_returned() {
    // Each turn reports $0.02: claim ($0.02), land ($0.04), claim ($0.06 > $0.05): stop.
    let env = repo(5, "budget = \"$0.05\"", "", "FAKE_COST = \"0.02\"");
    let out = env.oompa(&["swarm"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("swarm budget $0.05 spent ($0.06, 3.3k tokens)"),
        "{err}"
    );
    assert!(err.contains("the swarm stopped itself"), "{err}");
    assert_eq!(outcomes(&env), ["merged", "interrupted"], "{err}");
    assert_eq!(states(&env), (4, 0, 1), "the second claim went back\n{err}");
    let keep = env.git(&["for-each-ref", "refs/oompa/keep/"]);
    assert_eq!(keep, "", "nothing unmerged to keep");
    // The summary shows what the worker spent.
    assert!(
        stdout(&out).contains("$0.06, 3.3k tokens"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("swarm budget $0.05 spent"),
        "{}",
        stdout(&out)
    );
    let repo = env.open();
    let swarms = Queue::new(&repo).swarms().expect("swarms");
    assert_eq!(
        swarms[0].stopped.as_ref().map(|s| s.reason.as_str()),
        Some("budget-spent")
    );
    let rows = crate::common::json_rows(&env.oompa_ok(&["log", "--swarms", "--json"]));
    assert_eq!(rows[0]["ended"], "budget-spent");
}

#[test]
fn a_worker_budget_stops_that_worker_after_its_turn() {
    let env = repo(5, "", "budget = \"3k tokens\"", "FAKE_COST = \"0.01\"");
    let out = env.oompa(&["swarm"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    // 1100 tokens a turn: after the third turn (3300) the worker stops.
    assert!(err.contains("[w0] budget 3.0k tokens spent"), "{err}");
    assert_eq!(outcomes(&env), ["merged", "interrupted"], "{err}");
    assert_eq!(states(&env), (4, 0, 1), "{err}");
}

#[test]
fn a_dollar_budget_on_an_agent_that_reports_no_cost_counts_tokens_and_says_so() {
    let env = repo(
        2,
        "budget = \"$1, 2k tokens\"",
        "",
        "FAKE_TOKENS_ONLY = \"1\"",
    );
    let out = env.oompa(&["swarm"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("reports tokens but no cost"), "{err}");
    assert!(
        err.contains("swarm budget $1.00 or 2.0k tokens spent"),
        "{err}"
    );
    assert!(
        stdout(&out).contains("no cost reported"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_bad_budget_is_refused_with_the_line_and_what_to_write() {
    let env = repo(1, "budget = \"25 dollars\"", "", "FAKE_COST = \"0.01\"");
    let out = env.oompa(&["swarm"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("oompa.toml:2: budget: bad budget `25 dollars`"),
        "{err}"
    );
    assert!(err.contains("\"2M tokens\""), "{err}");
}

#[test]
fn a_spent_budget_is_a_budget_spent_event_for_notify() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = dir.path().join("events.jsonl");
    let top = format!(
        "budget = \"$0.05\"\nnotify = \"cat >> '{}'; echo >> '{}'\"\nnotify_events = [\"budget-spent\"]",
        events.display(),
        events.display()
    );
    let env = repo(5, &top, "", "FAKE_COST = \"0.02\"");
    let out = env.oompa(&["swarm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&events).expect("notify ran");
    let got: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("one JSON object per event"))
        .collect();
    assert_eq!(got.len(), 1, "{text}");
    assert_eq!(got[0]["event"], "budget-spent", "{text}");
    assert!(got[0]["worker"].is_null(), "the swarm's budget: {text}");
    assert!(
        got[0]["why"]
            .as_str()
            .is_some_and(|w| w.contains("swarm budget $0.05 spent")),
        "{text}"
    );
}
