//! Watching a swarm afterwards and as it happens: `log --timeline` (the SVG picture),
//! transcript headers, gc of old transcripts, and `notify` commands.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::swarm::{records, review_table, swarm_repo, worker_table, worker_with_env};
use crate::common::{TestEnv, stderr, walk};

/// Appends `oompa.toml` with `more`.
fn add_config(env: &TestEnv, more: &str) {
    let path = env.repo.join("oompa.toml");
    let config = std::fs::read_to_string(&path).expect("oompa.toml");
    std::fs::write(&path, format!("{more}\n{config}")).expect("write oompa.toml");
}

/// The elements of `doc` with this `class`.
fn with_class<'a, 'i>(
    doc: &'a roxmltree::Document<'i>,
    class: &str,
) -> Vec<roxmltree::Node<'a, 'i>> {
    doc.descendants()
        .filter(|n| n.attribute("class") == Some(class))
        .collect()
}

#[test]
fn the_timeline_of_a_swarm_with_reviews_a_failed_cycle_and_landings_is_valid_svg_with_a_lane_per_worker_and_a_bar_per_cycle()
 {
    let env = swarm_repo(
        3,
        &format!(
            "{}{}{}",
            worker_table("polite", 2, "max_cycles = 2"),
            worker_table("crash", 1, "max_cycles = 1\nmax_errors = 5"),
            review_table(&["once"], 3, None)
        ),
    );
    let out = env.oompa(&["swarm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let recs = records(&env);
    let merged = recs
        .iter()
        .filter(|r| r.outcome.as_str() == "merged")
        .count();
    assert!(merged >= 1, "{recs:?}");
    assert!(recs.iter().any(|r| r.outcome.as_str() == "error"));
    assert!(recs.iter().any(|r| r.review.len() == 2));
    let mut workers: Vec<&str> = recs.iter().map(|r| r.worker.as_str()).collect();
    workers.sort_unstable();
    workers.dedup();

    let svg_path = env.tmp.path().join("swarm.svg");
    let out = env.oompa(&["log", "--timeline", "-o", svg_path.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("wrote "), "{}", stderr(&out));
    let text = std::fs::read_to_string(&svg_path).expect("the picture was written");
    let doc = roxmltree::Document::parse(&text).expect("the timeline is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );

    let lanes = with_class(&doc, "lane");
    let mut lane_names: Vec<&str> = lanes
        .iter()
        .map(|l| l.attribute("data-worker").expect("a lane names its worker"))
        .collect();
    lane_names.sort_unstable();
    assert_eq!(lane_names, workers, "one lane per worker");

    let bars = with_class(&doc, "cycle");
    assert_eq!(bars.len(), recs.len(), "one bar per cycle");
    for r in &recs {
        let cycle = r.cycle.to_string();
        let bar = bars
            .iter()
            .find(|b| {
                b.attribute("data-worker") == Some(r.worker.as_str())
                    && b.attribute("data-cycle") == Some(cycle.as_str())
            })
            .unwrap_or_else(|| panic!("no bar for {}/{}", r.worker, r.cycle));
        assert_eq!(bar.attribute("data-outcome"), Some(r.outcome.as_str()));
        let tip = bar
            .children()
            .find(|c| c.has_tag_name("title"))
            .and_then(|t| t.text())
            .expect("every bar has a tooltip");
        assert!(
            tip.contains(&format!("{} cycle {}", r.worker, r.cycle)),
            "{tip}"
        );
    }
    assert_eq!(
        with_class(&doc, "landing").len(),
        merged,
        "a mark per landing"
    );
    assert!(!with_class(&doc, "turn").is_empty(), "agent turns drawn");
    assert!(!with_class(&doc, "review").is_empty(), "review turns drawn");
    assert!(
        text.contains("review turn") && text.contains("gate run"),
        "a legend"
    );

    // The same picture as a page, and on stdout.
    let html = env.tmp.path().join("swarm.html");
    env.oompa_ok(&["log", "--timeline", "-o", html.to_str().expect("utf-8")]);
    let page = std::fs::read_to_string(&html).expect("page");
    assert!(
        page.starts_with("<!DOCTYPE html>") && page.contains("<svg "),
        "{page}"
    );
    let stdout = env.oompa_ok(&["log", "--timeline"]);
    roxmltree::Document::parse(&stdout).expect("stdout holds the same SVG");
}

#[test]
fn text_from_records_is_escaped_so_the_timeline_stays_valid_xml() {
    let env = TestEnv::new();
    env.oompa_ok(&["init"]);
    let head = env.git(&["rev-parse", "HEAD"]).trim().to_string();
    let record = serde_json::json!({
        "version": 1, "swarm": "ev<il>&'\"", "worker": "w<script>alert(1)</script>",
        "cycle": 1, "outcome": "error", "turns": 1,
        "started": "2026-01-01T00:00:00Z", "ended": "2026-01-01T00:01:00Z",
        "duration_ms": 60000, "base": head,
        "tasks": ["]]><x>&amp;"], "error": "boom \u{1b}[31m\u{7}<b>",
    });
    let note = env.tmp.path().join("note.json");
    std::fs::write(&note, record.to_string()).expect("write");
    env.git(&[
        "notes",
        "--ref=oompa",
        "add",
        "-F",
        note.to_str().expect("utf-8"),
        "HEAD",
    ]);
    let svg = env.oompa_ok(&["log", "--timeline"]);
    let doc = roxmltree::Document::parse(&svg).expect("well-formed despite the record's text");
    assert!(!svg.contains("<script>"), "{svg}");
    let bars = with_class(&doc, "cycle");
    assert_eq!(bars.len(), 1);
    assert_eq!(
        bars[0].attribute("data-worker"),
        Some("w<script>alert(1)</script>")
    );
}

#[test]
fn transcripts_have_a_header_for_fresh_and_resumed_turns() {
    let env = swarm_repo(1, &worker_table("polite", 1, "max_cycles = 1"));
    let out = env.oompa(&["swarm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r = records(&env)
        .into_iter()
        .find(|r| r.outcome.as_str() == "merged")
        .expect("a landed cycle");
    let transcript = PathBuf::from(r.transcript.as_deref().expect("a transcript"));
    // The swarm said where the transcripts are.
    let dir = transcript
        .parent()
        .and_then(Path::parent)
        .expect("transcripts/<swarm>/<worker>/cycle-n.log");
    let rel = dir
        .strip_prefix(&env.repo)
        .expect("inside the repository")
        .display()
        .to_string();
    assert!(
        stderr(&out).contains(&format!("transcripts: {rel}/<worker>/cycle-<n>.log")),
        "{}",
        stderr(&out)
    );
    let text = std::fs::read_to_string(&transcript).expect("transcript");
    let session = &r.sessions[0];
    let headers: Vec<&str> = text.lines().filter(|l| l.starts_with("══ ")).collect();
    assert_eq!(headers.len(), 2, "claim, then work: {text}");
    assert!(
        headers[0].starts_with("══ turn 1 · fresh session · "),
        "{text}"
    );
    assert!(
        headers[1].starts_with(&format!("══ turn 2 · resumed session {session} · ")),
        "{text}"
    );
    let ended: Vec<&str> = text.lines().filter(|l| l.starts_with("ended: ")).collect();
    assert_eq!(ended.len(), 2, "{text}");
    for line in ended {
        assert!(
            line.starts_with("ended: exited with code 0 after ")
                && line.contains(&format!("; session {session}")),
            "{line}"
        );
    }
    // The prompt that was sent, then the agent's output.
    let first = text.split("══ turn 2").next().expect("turn 1");
    let prompt_at = first.find("── prompt (").expect("the prompt");
    let output_at = first.find("── output ──").expect("the output");
    assert!(prompt_at < output_at);
    assert!(
        first[prompt_at..output_at].contains("## Signals"),
        "{first}"
    );
    assert!(first[output_at..].contains("CLAIM(t00)"), "{first}");
    // `log --show` names it.
    let show = env.oompa_ok(&["log", "--show", &format!("{}/{}", r.worker, r.cycle)]);
    assert!(
        show.contains(&format!("transcript  {}", transcript.display())),
        "{show}"
    );
}

/// The transcript directories of the repository's swarms.
fn transcript_dirs(env: &TestEnv) -> Vec<String> {
    let mut dirs: Vec<String> = std::fs::read_dir(env.repo.join(".git/oompa/transcripts"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

#[test]
fn gc_prunes_old_transcripts_but_never_those_of_a_running_swarm() {
    let env = swarm_repo(2, &worker_table("polite", 1, "max_cycles = 1"));
    env.oompa_ok(&["swarm"]);
    let finished = transcript_dirs(&env);
    assert_eq!(finished.len(), 1, "{finished:?}");
    // Young transcripts stay by default (14 days).
    env.oompa_ok(&["gc"]);
    assert_eq!(transcript_dirs(&env), finished);

    // A second swarm whose agent waits for a file: it is running while gc runs.
    let go = env.tmp.path().join("go");
    let config = worker_with_env(
        "polite",
        1,
        "max_cycles = 1",
        &[("FAKE_WAIT_FOR", go.to_str().expect("utf-8"))],
    );
    std::fs::write(
        env.repo.join("oompa.toml"),
        format!("error_backoff = 0\n{config}"),
    )
    .expect("config");
    let mut child = env
        .oompa_cmd(&["swarm"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start a swarm");
    let start = Instant::now();
    while transcript_dirs(&env).len() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the second swarm never started a turn"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let running: Vec<String> = transcript_dirs(&env)
        .into_iter()
        .filter(|d| !finished.contains(d))
        .collect();

    // Everything that is not running has expired.
    env.git(&["config", "oompa.transcriptsExpire", "0"]);
    let dry = env.oompa_ok(&["gc", "--dry-run"]);
    assert!(
        dry.contains(&format!(
            "would remove the transcripts of swarm {}",
            finished[0]
        )),
        "{dry}"
    );
    assert_eq!(transcript_dirs(&env).len(), 2, "a dry run removes nothing");
    let out = env.oompa_ok(&["gc"]);
    assert!(
        out.contains(&format!("remove the transcripts of swarm {}", finished[0])),
        "{out}"
    );
    assert!(!out.contains(&running[0]), "{out}");
    assert_eq!(
        transcript_dirs(&env),
        running,
        "the running swarm's are kept"
    );

    std::fs::write(&go, "").expect("let the agent go");
    let status = child.wait().expect("the swarm ends");
    assert!(status.success());
    // `never` keeps them for good; a bad value is said, with the fix.
    env.git(&["config", "oompa.transcriptsExpire", "never"]);
    env.oompa_ok(&["gc"]);
    assert_eq!(transcript_dirs(&env), running);
    env.git(&["config", "oompa.transcriptsExpire", "soon"]);
    let out = env.oompa(&["gc"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("oompa.transcriptsExpire is `soon`"),
        "{}",
        stderr(&out)
    );
    assert!(!walk(&env.repo.join(".git/oompa/transcripts")).is_empty());
}

#[test]
fn notify_receives_one_json_event_per_landing() {
    let env = swarm_repo(4, &worker_table("polite", 2, "max_cycles = 3"));
    let events = env.tmp.path().join("events.jsonl");
    let names = env.tmp.path().join("names");
    add_config(
        &env,
        &format!(
            "notify = \"cat >> '{}'; echo \\\"$OOMPA_EVENT\\\" >> '{}'\"",
            events.display(),
            names.display()
        ),
    );
    let out = env.oompa(&["swarm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("notify"), "{}", stderr(&out));
    let landed: Vec<String> = records(&env).into_iter().filter_map(|r| r.landed).collect();
    assert_eq!(landed.len(), 4, "every task landed");

    let text = std::fs::read_to_string(&events).expect("the command ran");
    let sent: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let landings: Vec<&serde_json::Value> =
        sent.iter().filter(|e| e["event"] == "landed").collect();
    let mut commits: Vec<String> = landings
        .iter()
        .map(|e| e["commit"].as_str().expect("a commit").to_string())
        .collect();
    commits.sort();
    let mut expected = landed.clone();
    expected.sort();
    assert_eq!(commits, expected, "exactly one event per landing");
    for e in &landings {
        assert_eq!(e["version"], 1);
        assert!(e["worker"].is_string() && e["tasks"].is_array() && e["swarm"].is_string());
        assert!(
            e["text"].as_str().is_some_and(|t| t.contains(" landed ")),
            "{e}"
        );
    }
    // The last event says the swarm finished, and OOMPA_EVENT named each one.
    let last = sent.last().expect("events");
    assert_eq!(last["event"], "finished");
    assert_eq!(last["landed"], 4);
    assert_eq!(last["reason"], "completed");
    let names = std::fs::read_to_string(&names).expect("names");
    let names: Vec<&str> = names.lines().collect();
    let from_json: Vec<&str> = sent
        .iter()
        .map(|e| e["event"].as_str().expect("a name"))
        .collect();
    assert_eq!(names, from_json);
}

#[test]
fn a_failing_notify_command_is_a_warning_and_the_swarm_goes_on() {
    let env = swarm_repo(2, &worker_table("polite", 1, "max_cycles = 2"));
    add_config(
        &env,
        "notify = \"echo no webhook here >&2; exit 7\"\nnotify_events = [\"landed\"]",
    );
    let out = env.oompa(&["swarm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(
        err.matches("warning: notify command for landed: exited with code 7: no webhook here")
            .count(),
        2,
        "{err}"
    );
    assert_eq!(
        records(&env).iter().filter(|r| r.landed.is_some()).count(),
        2
    );
    // An unknown event name is a config error naming the known ones.
    std::fs::write(
        env.repo.join("oompa.toml"),
        format!(
            "notify = \"true\"\nnotify_events = [\"landed\", \"exploded\"]\n{}",
            worker_table("polite", 1, "")
        ),
    )
    .expect("config");
    let out = env.oompa(&["swarm"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("unknown event `exploded` (one of landed, stuck"),
        "{}",
        stderr(&out)
    );
}
