//! What a person reads: the whole stderr of a small swarm, as an insta snapshot
//! (`tests/snapshots/`), with what changes from run to run (paths, hashes, ids, times,
//! durations) normalised. A change to what a swarm says shows up here as a diff to review:
//! `INSTA_UPDATE=always cargo test --test runner snapshot` (or `cargo insta review`) writes the
//! new text for `git diff` to show.

use crate::common::swarm::{review_table, swarm_repo, worker_table};
use crate::common::{TestEnv, stderr};

/// `text` with the test's directories replaced by `[TMP]` and `[ROOT]`.
fn without_paths(env: &TestEnv, text: &str) -> String {
    text.replace(&env.tmp.path().display().to_string(), "[TMP]")
        .replace(env!("CARGO_MANIFEST_DIR"), "[ROOT]")
}

/// Snapshot settings whose filters replace what differs between runs by a placeholder in
/// brackets.
fn normalising() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    for (pattern, placeholder) in [
        // The swarm's id, before the hashes it looks like.
        (r"\bswarm [0-9a-f]{8}\b", "swarm [SWARM]"),
        (r"transcripts/[0-9a-f]{8}/", "transcripts/[SWARM]/"),
        (r"\b[0-9a-f]{7,40}\b", "[HASH]"),
        (
            r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?",
            "[TIME]",
        ),
        (r"\b\d{2}:\d{2}:\d{2}\b", "[TIME]"),
        // `human_duration`: 850ms, 42s, 3m05s, 2h07m.
        (r"\b\d+(ms|s|m\d{2}s|h\d{2}m)\b", "[DURATION]"),
        (r"\b\d+ (sec|min) ago\b", "[AGO]"),
    ] {
        settings.add_filter(pattern, placeholder);
    }
    settings
}

#[test]
fn a_small_swarms_stderr() {
    // One worker (so the lines come in one order), two tasks, a reviewer that asks for a fix
    // once per cycle.
    let env = swarm_repo(
        2,
        &format!(
            "{}\n{}",
            worker_table("polite", 1, "max_cycles = 3\ncan_plan = false"),
            review_table(&["once"], 2, None)
        ),
    );
    let out = env.oompa(&["swarm"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let text = without_paths(&env, &err);
    normalising().bind(|| insta::assert_snapshot!(text));
}
