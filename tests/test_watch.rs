//! Watching a running swarm: `status --json`'s live worker phases (from
//! `.git/oompa/swarms/<id>/status.json`) and the full-screen `status --watch`, driven in tmux.
//! Agents here wait for the test at every step (`FAKE_STEPS`), so each phase is seen while it
//! lasts; nothing is timed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::swarm::{Running, spawn_swarm, swarm_repo, worker_with_env};
use crate::common::{TestEnv, json_object, stderr, stdout};

/// Waits until `f` gives something (up to 90 s: the machine may be busy), saying what it
/// waited for and what it saw last when it gives up.
fn wait_until<T>(what: &str, mut f: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        match f() {
            Ok(v) => return v,
            Err(last) => assert!(
                start.elapsed() < Duration::from_secs(90),
                "timed out waiting for {what}; last seen:\n{last}"
            ),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `status --json`'s `live` entry of the only running swarm.
fn live(env: &TestEnv) -> Result<Value, String> {
    let out = env.oompa(&["status", "--json"]);
    if !out.status.success() {
        return Err(stderr(&out));
    }
    let v = json_object(&stdout(&out));
    let live = v["live"].as_object().cloned().unwrap_or_default();
    match live.values().next() {
        Some(s) if live.len() == 1 => Ok(s.clone()),
        _ => Err(v.to_string()),
    }
}

/// The `live` status of `worker`, once `pred` holds for it.
fn worker_when(
    env: &TestEnv,
    worker: &str,
    what: &str,
    pred: impl Fn(&Value, &Value) -> bool,
) -> (Value, Value) {
    wait_until(what, || {
        let s = live(env)?;
        let w = s["workers"]
            .as_array()
            .and_then(|ws| ws.iter().find(|w| w["worker"] == worker))
            .cloned()
            .ok_or_else(|| s.to_string())?;
        if pred(&s, &w) {
            Ok((s, w))
        } else {
            Err(serde_json::to_string_pretty(&w).unwrap_or_default())
        }
    })
}

fn touch(path: PathBuf) {
    std::fs::write(path, "").unwrap();
}

fn reviewer_model(wait: &Path) -> String {
    format!(
        "exec:FAKE_REVIEW_WAIT={} FAKE_REVIEW=approve sh {}/tests/fake-agents/reviewer.sh",
        wait.display(),
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A repository with `tasks` tasks and `workers` fake agents that wait at every step for
/// `<steps>/go-N` (or `go-all`).
fn stepped_swarm(tasks: usize, workers: u32, extra: &str) -> (TestEnv, PathBuf) {
    let env = swarm_repo(tasks, "");
    let steps = env.tmp.path().join("steps");
    std::fs::create_dir_all(&steps).unwrap();
    let worker = worker_with_env(
        "polite",
        workers,
        "max_cycles = 3\ncan_plan = false\nmax_wait_for_tasks = \"120s\"",
        &[("FAKE_STEPS", &steps.display().to_string())],
    );
    std::fs::write(
        env.repo.join("oompa.toml"),
        format!("error_backoff = 0\n{worker}\n{extra}"),
    )
    .unwrap();
    (env, steps)
}

/// Lets every agent run through, and the swarm end by itself.
fn finish(swarm: Running, steps: &Path) -> std::process::Output {
    touch(steps.join("go-all"));
    swarm.wait_with_output()
}

#[test]
fn status_json_shows_each_phase_as_it_happens_with_since_and_the_last_agent_line() {
    let (env, steps) = stepped_swarm(2, 1, "");
    let gate_go = steps.join("gate-go");
    let review_go = steps.join("review-go");
    let config = std::fs::read_to_string(env.repo.join("oompa.toml")).unwrap();
    let review = reviewer_model(&review_go);
    let gate = format!(
        "while [ ! -e '{}' ]; do sleep 0.05; done",
        gate_go.display()
    );
    std::fs::write(
        env.repo.join("oompa.toml"),
        format!(
            "{config}\n[review]\nmodels = [\"{review}\"]\nmax_rounds = 1\n\n[gate]\ncommand = \"{gate}\"\n"
        ),
    )
    .unwrap();
    // A person holds the second task: once the first lands, the worker waits for it.
    env.oompa_ok(&["task", "claim", "t01", "--worker", "person"]);
    let swarm = spawn_swarm(&env, None);

    let is = |w: &Value, kind: &str| w["phase"]["kind"] == kind;
    let since = |w: &Value| {
        w["since"]
            .as_str()
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .unwrap_or_else(|| panic!("since is a time: {w}"))
    };

    // The first turn, printing and waiting.
    let (s, w) = worker_when(&env, "w0", "agent turn 1", |_, w| {
        is(w, "turn") && w["phase"]["turn"] == 1 && w["last_line"] == "step 1 of w0"
    });
    assert_eq!(w["doing"], "agent turn 1", "{w}");
    assert_eq!(w["phase"]["for"], "work", "{w}");
    assert_eq!(w["cycle"], 1, "{w}");
    assert!(
        w["transcript"]
            .as_str()
            .is_some_and(|t| t.ends_with("w0/cycle-1.log") && Path::new(t).is_file()),
        "{w}"
    );
    assert_eq!(s["version"], 1, "{s}");
    assert_eq!(s["queue"]["pending"], 1, "{s}");
    assert_eq!(s["queue"]["claimed"], 1, "{s}");
    let first = since(&w);
    touch(steps.join("go-1"));

    // The second turn: it claimed t00 and works on it.
    let (_, w) = worker_when(&env, "w0", "agent turn 2", |_, w| {
        is(w, "turn") && w["phase"]["turn"] == 2 && w["last_line"] == "step 2 of w0"
    });
    assert_eq!(w["tasks"], serde_json::json!(["t00"]), "{w}");
    assert!(since(&w) >= first, "{w}");
    touch(steps.join("go-2"));

    // Its change in review; the reviewer's line is the last one printed.
    let (_, w) = worker_when(&env, "w0", "review round 1", |_, w| {
        is(w, "review") && w["last_line"] == "reviewing round 1"
    });
    assert_eq!(w["doing"], "review round 1", "{w}");
    touch(review_go);

    // Approved, it lands through the gate: in the merge queue while the gate runs.
    let (s, w) = worker_when(&env, "w0", "landing (gating)", |s, w| {
        is(w, "gating") && s["merge_queue"][0]["worker"] == "w0"
    });
    assert_eq!(s["merge_queue"][0]["state"], "gating", "{s}");
    assert_eq!(
        s["merge_queue"][0]["tasks"],
        serde_json::json!(["t00"]),
        "{s}"
    );
    assert_eq!(s["landings"], 0, "{s}");
    assert!(w["doing"].as_str().unwrap().starts_with("gating"), "{w}");
    touch(gate_go);

    // Landed; the only other task is held by a person, so it waits for tasks.
    let (s, w) = worker_when(&env, "w0", "waiting for tasks", |_, w| {
        is(w, "waiting-for-tasks")
    });
    assert_eq!(s["landings"], 1, "{s}");
    assert_eq!(w["landed"], 1, "{w}");
    assert_eq!(w["cycles"], 1, "{w}");
    assert_eq!(s["queue"]["complete"], 1, "{s}");
    assert_eq!(s["merge_queue"], serde_json::json!([]), "{s}");

    // The plain status says the same, instead of `w0: -`.
    let plain = env.oompa_ok(&["status"]);
    assert!(plain.contains("w0: waiting for tasks for "), "{plain}");

    env.oompa_ok(&["task", "release", "t01"]);
    let out = finish(swarm, &steps);
    assert!(out.status.success(), "{}", stderr(&out));
    // The file goes with the swarm.
    let swarms = env.repo.join(".git/oompa/swarms");
    let left: Vec<_> = crate::common::walk(&swarms)
        .into_iter()
        .filter(|p| p.ends_with("status.json"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A tmux server of its own (`-L`), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("run tmux")
    }

    fn capture(&self, escapes: bool) -> String {
        let mut args = vec!["capture-pane", "-p", "-t", "watch"];
        if escapes {
            args.push("-e");
        }
        String::from_utf8_lossy(&self.cmd(&args).stdout).into_owned()
    }

    /// The pane once `pred` holds for it.
    fn screen_when(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        wait_until(what, || {
            let screen = self.capture(false);
            if pred(&screen) {
                Ok(screen)
            } else {
                Err(screen)
            }
        })
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// SGR colour parameters (30–38, 40–48, 90–97, 100–107) in a captured pane.
fn colours(screen: &str) -> Vec<String> {
    let mut out = Vec::new();
    for seq in screen.split("\x1b[").skip(1) {
        let Some(end) = seq.find('m') else { continue };
        let params = &seq[..end];
        if params
            .split(';')
            .filter_map(|p| p.parse::<u32>().ok())
            .any(|n| matches!(n, 30..=38 | 40..=48 | 90..=97 | 100..=107))
        {
            out.push(params.to_string());
        }
    }
    out
}

#[test]
fn the_live_view_shows_every_worker_in_80x24_a_transcript_tail_and_quits_on_q() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!(
            "\n*** SKIPPED the_live_view_shows_every_worker_in_80x24_a_transcript_tail_and_quits_on_q: \
             tmux is not installed, so the live view was NOT tested ***\n"
        );
        return;
    }
    let (env, steps) = stepped_swarm(3, 3, "");
    let swarm = spawn_swarm(&env, None);
    for w in ["w0", "w1", "w2"] {
        worker_when(&env, w, "every agent in its first turn", |_, x| {
            x["last_line"] == format!("step 1 of {w}").as_str()
        });
    }
    let tmux = Tmux {
        socket: format!("oompa-watch-{}", std::process::id()),
    };
    let command = format!(
        "env HOME='{}' GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 NO_COLOR=1 '{}' -C '{}' status --watch",
        env.home.display(),
        env!("CARGO_BIN_EXE_git-oompa"),
        env.repo.display()
    );
    let out = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "watch",
        "-x",
        "80",
        "-y",
        "24",
        &command,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    // Every worker, its phase and its agent's last line, on one 80×24 screen.
    let screen = tmux.screen_when("every worker on the screen", |s| {
        ["w0", "w1", "w2"]
            .iter()
            .all(|w| s.contains(&format!("step 1 of {w}")))
    });
    assert_eq!(screen.lines().count(), 24, "{screen}");
    assert!(screen.lines().all(|l| l.chars().count() <= 80), "{screen}");
    assert_eq!(screen.matches("agent turn 1").count(), 3, "{screen}");
    assert!(screen.contains("queue: 3 pending · 0 claimed"), "{screen}");
    assert!(screen.contains("q quit"), "{screen}");
    // NO_COLOR: no colour, whatever else the view uses.
    let raw = tmux.capture(true);
    assert!(colours(&raw).is_empty(), "{:?}", colours(&raw));

    // The second worker's transcript, live.
    tmux.cmd(&["send-keys", "-t", "watch", "j", "Enter"]);
    let screen = tmux.screen_when("w1's transcript", |s| {
        s.contains("transcript:") && s.contains("w1/cycle-1.log")
    });
    assert!(screen.contains("step 1 of w1"), "{screen}");
    assert!(!screen.contains("step 1 of w0"), "{screen}");

    // Back to the list, then q leaves (the session ends with its command).
    tmux.cmd(&["send-keys", "-t", "watch", "Escape"]);
    tmux.screen_when("the list again", |s| s.contains("WORKER"));
    tmux.cmd(&["send-keys", "-t", "watch", "q"]);
    wait_until("the view to quit on q", || {
        if tmux.cmd(&["has-session", "-t", "watch"]).status.success() {
            Err(tmux.capture(false))
        } else {
            Ok(())
        }
    });

    let out = finish(swarm, &steps);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn the_live_view_refuses_a_stdout_that_is_not_a_terminal_and_names_the_json_instead() {
    let env = TestEnv::new();
    env.oompa_ok(&["init"]);
    let out = env.oompa(&["status", "--watch"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("not one"), "{err}");
    assert!(err.contains("hint: run `git oompa status --json`"), "{err}");
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}
