//! Behaviour of the config loader as a user sees it: what loads, and what each mistake says.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::agent::Harness;

fn toml(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str(text, Path::new("conf/oompa.toml"))
}

fn toml_err(text: &str) -> String {
    toml(text).expect_err("should be rejected").to_string()
}

fn json(text: &str) -> Result<Config, ConfigError> {
    Config::from_oompa_json_str(text, Path::new("conf/oompa.json"))
}

fn json_err(text: &str) -> String {
    json(text).expect_err("should be rejected").to_string()
}

fn m(s: &str) -> ModelSpec {
    ModelSpec::parse(s).expect("valid model string")
}

const MINIMAL: &str = "[[worker]]\nmodel = \"codex\"\n";

#[test]
fn skeleton_loads_as_is() {
    let config = toml(SKELETON).expect("the skeleton must load");
    let expected = Config {
        path: Some(PathBuf::from("conf/oompa.toml")),
        ..Config::with_workers(vec![WorkerConfig::new(m("claude:sonnet"))])
    };
    assert_eq!(config, expected);
}

/// Uncommenting every commented-out key of the skeleton gives a valid file whose values are the
/// documented defaults (apart from the keys that only show an example).
#[test]
fn skeleton_commented_keys_are_valid_and_show_defaults() {
    let uncommented: String = SKELETON
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(code) if is_toml_code(code) => code,
            _ => line,
        })
        .flat_map(|line| [line, "\n"])
        .collect();
    let config = toml(&uncommented).expect("uncommented skeleton must load");
    assert_eq!(config.target.as_deref(), Some("main"));
    assert_eq!(config.worktree_dir, PathBuf::from(defaults::WORKTREE_DIR));
    assert_eq!(config.copy, [".env"]);
    assert_eq!(config.max_conflict_rounds, defaults::MAX_CONFLICT_ROUNDS);
    let w = &config.workers[0];
    let expected = WorkerConfig {
        name: w.name.clone(),
        prompt: w.prompt.clone(),
        review: w.review.clone(),
        review_prompt: w.review_prompt.clone(),
        ..WorkerConfig::new(m("claude:sonnet"))
    };
    assert_eq!(*w, expected);
    assert_eq!(w.review, WorkerReview::Models(vec![m("claude:opus")]));
    let review = config.review.expect("[review] uncommented");
    assert_eq!(review.max_rounds, defaults::REVIEW_MAX_ROUNDS);
    let planner = config.planner.expect("[planner] uncommented");
    assert_eq!(planner.max_pending, defaults::PLANNER_MAX_PENDING);
    assert_eq!(planner.turn_timeout, defaults::TURN_TIMEOUT);
    let gate = config.gate.expect("[gate] uncommented");
    assert_eq!(
        gate,
        GateConfig {
            commands: gate.commands.clone(),
            env: gate.env.clone(),
            ..GateConfig::new(Vec::new())
        }
    );
}

#[test]
fn a_gate_needs_a_command_and_bounded_batches() {
    let gate = |body: &str| toml_err(&format!("{MINIMAL}[gate]\n{body}"));
    assert!(
        gate("timeout = 60\n").contains("gate.command: missing"),
        "{}",
        gate("timeout = 60\n")
    );
    assert!(gate("command = \"\"\n").contains("must not be empty"));
    assert!(gate("command = []\n").contains("must not be empty"));
    assert!(gate("command = \"make\"\nbatch = 0\n").contains("gate.batch: must be at least 1"));
    assert!(
        gate("command = \"make\"\nbatch = 33\n")
            .contains("gate.batch: `33` is too large (at most 32)")
    );
    assert!(gate("command = \"make\"\nparallel = 17\n").contains("at most 16"));
    assert!(
        gate("command = \"make\"\ntimeout = 0\n").contains("gate.timeout: must be longer than 0")
    );
    assert!(gate("command = \"make\"\nbach = 2\n").contains("did you mean `batch`"));
    let one = toml(&format!("{MINIMAL}[gate]\ncommand = \"make test\"\n")).expect("valid");
    assert_eq!(one.gate, Some(GateConfig::new(vec!["make test".into()])));
    assert_eq!(toml(MINIMAL).expect("valid").gate, None);
}

fn is_toml_code(s: &str) -> bool {
    let key_len = s
        .bytes()
        .take_while(|b| b.is_ascii_lowercase() || *b == b'_')
        .count();
    s.starts_with('[') || (key_len > 0 && s[key_len..].starts_with(" = "))
}

#[test]
fn skeleton_mentions_every_key() {
    for key in [
        "target",
        "worktree_dir",
        "copy",
        "max_conflict_rounds",
        "exec:<command>",
    ] {
        assert!(SKELETON.contains(key), "{key}");
    }
    for key in native_keys() {
        assert!(SKELETON.contains(&format!("# {key} = ")), "{key}");
    }
}

fn native_keys() -> Vec<&'static str> {
    vec![
        "name",
        "prompt",
        "count",
        "max_cycles",
        "max_resumes",
        "can_plan",
        "wait_between",
        "max_wait_for_tasks",
        "turn_timeout",
        "args",
        "env",
        "review",
        "review_prompt",
        "models",
        "max_rounds",
        "max_pending",
    ]
}

#[test]
fn defaults_fill_everything_but_the_model() {
    let config = toml(MINIMAL).expect("valid");
    assert_eq!(config.target, None);
    assert_eq!(config.worktree_dir, PathBuf::from(".oompa/worktrees"));
    assert!(config.copy.is_empty());
    assert_eq!(config.max_conflict_rounds, 3);
    assert_eq!(config.review, None);
    assert_eq!(config.planner, None);
    let w = &config.workers[0];
    assert_eq!(w.name, None);
    assert_eq!(w.model, m("codex"));
    assert!(w.prompt.is_empty());
    assert_eq!((w.count, w.max_cycles, w.max_resumes), (1, 10, 5));
    assert!(w.can_plan);
    assert_eq!(w.wait_between, Duration::ZERO);
    assert_eq!(w.max_wait_for_tasks, Duration::from_secs(600));
    assert_eq!(w.turn_timeout, Duration::from_secs(1800));
    assert!(w.args.is_empty() && w.env.is_empty());
    assert_eq!(w.review, WorkerReview::Inherit);
    assert_eq!(config.total_workers(), 1);
}

#[test]
fn every_field() {
    let text = r#"
target = "develop"
worktree_dir = "/tmp/wt"
copy = [".env", "config/local.json"]
max_conflict_rounds = 0
error_backoff = "90s"
transcript_max = "2MiB"

[[worker]]
name = "impl"
model = "codex:gpt-5.3-codex:high"
prompt = ["prompts/a.md", "prompts/b.md"]
count = 3
max_cycles = 20
max_resumes = 2
max_errors = 2
can_plan = false
wait_between = "1m"
max_wait_for_tasks = 30
turn_timeout = "1h30m"
args = ["--foo", "bar"]
env = { RUST_LOG = "debug" }
review = ["claude:opus", "gemini"]
review_prompt = "prompts/strict.md"

[[worker]]
model = "exec:python3 agent.py"
prompt = "solo.md"
review = false

[worker.env]
A = "1"

[review]
models = ["claude:opus", "codex"]
prompt = "prompts/review.md"
max_rounds = 2
args = ["--review-flag"]
env = { REVIEW_KEY = "r" }

[planner]
model = "claude:opus:high"
prompt = "prompts/plan.md"
max_pending = 4
refill_below = 2
turn_timeout = "500ms"
args = ["-x"]
env = { K = "v" }

[gate]
command = ["cargo build", "cargo test -q"]
timeout = "10m"
max_fix_rounds = 0
retries = 3
batch = 8
parallel = 2
env = { CARGO_TERM_COLOR = "never" }
"#;
    let config = toml(text).expect("valid");
    let dir = Path::new("conf");
    let expected = Config {
        path: Some(PathBuf::from("conf/oompa.toml")),
        target: Some("develop".into()),
        worktree_dir: PathBuf::from("/tmp/wt"),
        copy: vec![".env".into(), "config/local.json".into()],
        workers: vec![
            WorkerConfig {
                name: Some("impl".into()),
                model: m("codex:gpt-5.3-codex:high"),
                prompt: vec![dir.join("prompts/a.md"), dir.join("prompts/b.md")],
                count: 3,
                max_cycles: 20,
                max_resumes: 2,
                can_plan: false,
                wait_between: Duration::from_secs(60),
                max_wait_for_tasks: Duration::from_secs(30),
                turn_timeout: Duration::from_secs(5400),
                args: vec!["--foo".into(), "bar".into()],
                env: BTreeMap::from([("RUST_LOG".into(), "debug".into())]),
                review: WorkerReview::Models(vec![m("claude:opus"), m("gemini")]),
                review_prompt: vec![dir.join("prompts/strict.md")],
                max_errors: 2,
                budget: None,
            },
            WorkerConfig {
                prompt: vec![dir.join("solo.md")],
                env: BTreeMap::from([("A".into(), "1".into())]),
                review: WorkerReview::Off,
                ..WorkerConfig::new(ModelSpec {
                    harness: Harness::Exec("python3 agent.py".into()),
                    model: None,
                    reasoning: None,
                })
            },
        ],
        review: Some(ReviewConfig {
            models: vec![m("claude:opus"), m("codex")],
            prompt: vec![dir.join("prompts/review.md")],
            max_rounds: 2,
            args: vec!["--review-flag".into()],
            env: BTreeMap::from([("REVIEW_KEY".into(), "r".into())]),
        }),
        planner: Some(PlannerConfig {
            model: m("claude:opus:high"),
            prompt: vec![dir.join("prompts/plan.md")],
            max_pending: 4,
            refill_below: 2,
            turn_timeout: Duration::from_millis(500),
            args: vec!["-x".into()],
            env: BTreeMap::from([("K".into(), "v".into())]),
        }),
        max_conflict_rounds: 0,
        error_backoff: Duration::from_secs(90),
        limit_backoff: Duration::from_secs(60),
        notices: Vec::new(),
        transcript_max: 2 << 20,
        notify: None,
        gate: Some(GateConfig {
            commands: vec!["cargo build".into(), "cargo test -q".into()],
            timeout: Duration::from_secs(600),
            max_fix_rounds: 0,
            retries: 3,
            batch: 8,
            parallel: 2,
            env: BTreeMap::from([("CARGO_TERM_COLOR".into(), "never".into())]),
        }),
        max_landing_pause: defaults::MAX_LANDING_PAUSE,
        budget: None,
    };
    assert_eq!(config, expected);
    assert_eq!(config.total_workers(), 4);
}

#[test]
fn review_for_resolves_each_worker_choice() {
    let text = r#"
[[worker]]
model = "codex"
[[worker]]
model = "codex"
review = false
[[worker]]
model = "codex"
review = "gemini"
[[worker]]
model = "codex"
review = ["gemini"]
review_prompt = "mine.md"
[review]
models = ["claude"]
prompt = "generic.md"
max_rounds = 5
"#;
    let config = toml(text).expect("valid");
    let [inherit, off, own, own_prompt] = &config.workers[..] else {
        panic!("4 workers")
    };
    assert_eq!(config.review_for(inherit), config.review);
    assert_eq!(config.review_for(off), None);
    let own = config.review_for(own).expect("own chain");
    assert_eq!(own.models, [m("gemini")]);
    assert_eq!(
        (own.prompt, own.max_rounds),
        (vec![PathBuf::from("conf/generic.md")], 5)
    );
    let own_prompt = config.review_for(own_prompt).expect("own chain");
    assert_eq!(own_prompt.prompt, [PathBuf::from("conf/mine.md")]);

    let alone = toml("[[worker]]\nmodel = \"codex\"\nreview = [\"claude\"]\n").expect("valid");
    let review = alone.review_for(&alone.workers[0]).expect("own chain");
    assert_eq!(review, ReviewConfig::new(vec![m("claude")]));
}

#[test]
fn durations_accept_seconds_and_units() {
    for (value, expected) in [
        ("0", Duration::ZERO),
        ("90", Duration::from_secs(90)),
        ("\"90s\"", Duration::from_secs(90)),
        ("\"5m\"", Duration::from_secs(300)),
        ("\"1h\"", Duration::from_secs(3600)),
        ("\"1h30m\"", Duration::from_secs(5400)),
        ("\"500ms\"", Duration::from_millis(500)),
    ] {
        let config = toml(&format!("{MINIMAL}wait_between = {value}\n")).expect(value);
        assert_eq!(config.workers[0].wait_between, expected, "{value}");
    }
}

#[test]
fn bad_durations_name_the_key_and_line() {
    assert_eq!(
        toml_err(&format!("{MINIMAL}\nturn_timeout = \"5 minutes\"\n")),
        "conf/oompa.toml:4: worker.turn_timeout: bad duration `5 minutes` (use whole seconds, \
         or a number with a unit: 500ms, 90s, 5m, 1h30m)"
    );
    assert_eq!(
        toml_err(&format!("{MINIMAL}wait_between = -1\n")),
        "conf/oompa.toml:3: worker.wait_between: bad duration `-1` (use whole seconds, or a \
         number with a unit: 500ms, 90s, 5m, 1h30m)"
    );
    assert_eq!(
        toml_err(&format!("{MINIMAL}turn_timeout = 0\n")),
        "conf/oompa.toml:3: worker.turn_timeout: must be longer than 0"
    );
    assert_eq!(
        toml_err(&format!("{MINIMAL}max_wait_for_tasks = true\n")),
        "conf/oompa.toml:3: worker.max_wait_for_tasks: expected seconds or a duration string, \
         found a boolean"
    );
}

#[test]
fn unknown_key_at_top_level() {
    let err = toml("tagret = \"main\"\n[[worker]]\nmodel = \"codex\"\n").expect_err("typo");
    assert_eq!(
        err.to_string(),
        "conf/oompa.toml:1: unknown key `tagret` at top level (did you mean `target`?)"
    );
    let ConfigError::UnknownKey {
        line,
        key,
        suggestion,
        ..
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(
        (line, key.as_str(), suggestion.as_deref()),
        (1, "tagret", Some("target"))
    );
}

#[test]
fn unknown_key_in_worker() {
    let text = "[[worker]]\nmodel = \"codex\"\n\n[[worker]]\nmodel = \"claude\"\n\n\
                max_cycle = 3\n";
    assert_eq!(
        toml_err(text),
        "conf/oompa.toml:7: unknown key `max_cycle` in [[worker]] (did you mean `max_cycles`?)"
    );
    assert_eq!(
        toml_err(&format!("{MINIMAL}iterations = 3\n")),
        "conf/oompa.toml:3: unknown key `iterations` in [[worker]]"
    );
}

#[test]
fn unknown_key_in_review_and_planner() {
    assert_eq!(
        toml_err(&format!("{MINIMAL}[review]\nmodel = [\"claude\"]\n")),
        "conf/oompa.toml:4: unknown key `model` in [review] (did you mean `models`?)"
    );
    assert_eq!(
        toml_err(&format!(
            "{MINIMAL}[review]\nmodels = [\"claude\"]\n[review.extra]\nx = 1\n"
        )),
        "conf/oompa.toml:5: unknown key `extra` in [review]"
    );
    assert_eq!(
        toml_err(&format!(
            "{MINIMAL}[planner]\nmodel = \"claude\"\nmax_pendin = 3\n"
        )),
        "conf/oompa.toml:5: unknown key `max_pendin` in [planner] (did you mean `max_pending`?)"
    );
}

#[test]
fn bad_model_strings_name_the_line() {
    let text = "target = \"main\"\n[[worker]]\nmodel = \"gpt-5\"\n";
    let err = toml(text).expect_err("unknown harness");
    assert_eq!(
        err.to_string(),
        "conf/oompa.toml:3: worker.model: unknown harness `gpt-5` (expected claude, codex, \
         opencode, gemini or exec:<command>)"
    );
    assert!(matches!(
        err,
        ConfigError::InvalidValue {
            line: 3,
            problem: ValueProblem::Model(ModelSpecError::UnknownHarness(_)),
            ..
        }
    ));
    assert_eq!(
        toml_err(&format!(
            "{MINIMAL}[review]\nmodels = [\n  \"claude\",\n  \"exec:\",\n]\n"
        )),
        "conf/oompa.toml:6: review.models: `exec:` needs a command after the colon"
    );
    assert_eq!(
        toml_err(&format!("{MINIMAL}[planner]\nmodel = \"\"\n")),
        "conf/oompa.toml:4: planner.model: empty model string"
    );
    assert_eq!(
        toml_err(&format!("{MINIMAL}review = [\"claude\", \"gtp\"]\n")),
        "conf/oompa.toml:3: worker.review: unknown harness `gtp` (expected claude, codex, \
         opencode, gemini or exec:<command>)"
    );
}

#[test]
fn missing_model_points_at_the_table() {
    assert_eq!(
        toml_err("target = \"main\"\n\n[[worker]]\ncount = 2\n"),
        "conf/oompa.toml:3: worker.model: missing (required)"
    );
    assert_eq!(
        toml_err(&format!("{MINIMAL}[review]\nprompt = \"r.md\"\n")),
        "conf/oompa.toml:3: review.models: missing (required)"
    );
}

#[test]
fn zero_counts_are_errors() {
    assert_eq!(
        toml_err(&format!("{MINIMAL}count = 0\n")),
        "conf/oompa.toml:3: worker.count: must be at least 1"
    );
    assert_eq!(
        toml_err(&format!("{MINIMAL}\n\nmax_cycles = 0\n")),
        "conf/oompa.toml:5: worker.max_cycles: must be at least 1"
    );
    assert_eq!(
        toml_err(&format!("{MINIMAL}max_resumes = -2\n")),
        "conf/oompa.toml:3: worker.max_resumes: must be at least 1"
    );
    assert_eq!(
        toml_err(&format!("{MINIMAL}count = 5000000000\n")),
        "conf/oompa.toml:3: worker.count: `5000000000` is too large (at most 4294967295)"
    );
    assert_eq!(
        json_err("{\"workers\": [{\"count\": 99999999999999999999}]}"),
        "conf/oompa.json:1: workers.count: `99999999999999999999` is too large (at most \
         4294967295)"
    );
    assert_eq!(
        toml_err(&format!(
            "{MINIMAL}[review]\nmodels = [\"claude\"]\nmax_rounds = 0\n"
        )),
        "conf/oompa.toml:5: review.max_rounds: must be at least 1"
    );
    assert_eq!(
        toml_err(&format!(
            "{MINIMAL}[planner]\nmodel = \"claude\"\nmax_pending = 0\n"
        )),
        "conf/oompa.toml:5: planner.max_pending: must be at least 1"
    );
}

#[test]
fn wrong_types_say_what_was_expected() {
    assert_eq!(
        toml_err(&format!("{MINIMAL}count = \"2\"\n")),
        "conf/oompa.toml:3: worker.count: expected an integer, found a string"
    );
    assert_eq!(
        toml_err(&format!("{MINIMAL}can_plan = \"no\"\n")),
        "conf/oompa.toml:3: worker.can_plan: expected true or false, found a string"
    );
    assert_eq!(
        toml_err(&format!("{MINIMAL}args = \"--x\"\n")),
        "conf/oompa.toml:3: worker.args: expected an array, found a string"
    );
    assert_eq!(
        toml_err(&format!("{MINIMAL}prompt = 3\n")),
        "conf/oompa.toml:3: worker.prompt: expected a string or an array of strings, found an \
         integer"
    );
    assert_eq!(
        toml_err(&format!("{MINIMAL}prompt = [\"a.md\", \"\"]\n")),
        "conf/oompa.toml:3: worker.prompt: must not be empty"
    );
    assert_eq!(
        toml_err(&format!("{MINIMAL}[worker.env]\nFOO = 1\n")),
        "conf/oompa.toml:4: worker.env.FOO: expected a string, found an integer"
    );
    assert_eq!(
        toml_err(&format!("{MINIMAL}review = 1\n")),
        "conf/oompa.toml:3: worker.review: expected false or a list of model strings, found an \
         integer"
    );
    assert_eq!(
        toml_err(&format!("review = 1\n{MINIMAL}")),
        "conf/oompa.toml:1: review: expected a table, found an integer"
    );
}

#[test]
fn workers_must_exist_as_an_array_of_tables() {
    assert_eq!(
        toml_err("target = \"main\"\n"),
        "conf/oompa.toml: no [[worker]] entries: a swarm needs at least one worker"
    );
    assert_eq!(
        toml_err("worker = []\n"),
        "conf/oompa.toml: no [[worker]] entries: a swarm needs at least one worker"
    );
    assert_eq!(
        toml_err("[worker]\nmodel = \"codex\"\n"),
        "conf/oompa.toml:1: worker: write an array of tables, `[[worker]]`, one per worker entry"
    );
    let inline = toml("worker = [{ model = \"codex\" }, { model = \"claude\", count = 2 }]\n")
        .expect("inline tables are tables");
    assert_eq!(inline.total_workers(), 3);
}

#[test]
fn worker_names_are_checked_and_unique() {
    for good in ["a", "w0", "Fast.builder_2-x", &"x".repeat(32)] {
        let config = toml(&format!("{MINIMAL}name = \"{good}\"\n")).expect(good);
        assert_eq!(config.workers[0].name.as_deref(), Some(good));
    }
    for bad in ["", "-a", ".a", "a b", "a/b", "é", &"x".repeat(33)] {
        let err = toml_err(&format!("{MINIMAL}name = \"{bad}\"\n"));
        assert!(
            err.starts_with("conf/oompa.toml:3: worker.name: invalid name"),
            "{err}"
        );
    }
    assert_eq!(
        toml_err(&format!("{MINIMAL}name = \"a\"\n{MINIMAL}name = \"a\"\n")),
        "conf/oompa.toml:6: worker.name: worker name `a` is already used at line 3"
    );
}

#[test]
fn review_lists_and_flags() {
    assert_eq!(
        toml_err(&format!("{MINIMAL}review = []\n")),
        "conf/oompa.toml:3: worker.review: an empty list turns nothing on; write `review = \
         false` to land without review"
    );
    assert_eq!(
        toml_err(&format!("{MINIMAL}[review]\nmodels = []\n")),
        "conf/oompa.toml:4: review.models: must not be empty"
    );
    let config = toml(&format!("{MINIMAL}review = true\n")).expect("true inherits");
    assert_eq!(config.workers[0].review, WorkerReview::Inherit);
}

#[test]
fn target_and_paths_are_checked() {
    let config = toml(&format!("target = \"refs/heads/feat/x\"\n{MINIMAL}")).expect("valid");
    assert_eq!(config.target.as_deref(), Some("feat/x"));
    for bad in ["", "a b", "a..b", "-x", "x.lock", "x/", "a:b", "a~1"] {
        let err = toml_err(&format!("target = \"{bad}\"\n{MINIMAL}"));
        assert_eq!(
            err,
            format!("conf/oompa.toml:1: target: invalid branch name `{bad}`")
        );
    }
    for bad in ["/etc/passwd", "../x", "a/../../b", "*.env", ""] {
        let err = toml_err(&format!("copy = [\"ok\", \"{bad}\"]\n{MINIMAL}"));
        assert!(err.starts_with("conf/oompa.toml:1: copy: "), "{err}");
    }
    assert_eq!(
        toml_err(&format!("worktree_dir = \"\"\n{MINIMAL}")),
        "conf/oompa.toml:1: worktree_dir: must not be empty"
    );
    assert_eq!(
        toml_err(&format!("{MINIMAL}[worker.env]\n\"A=B\" = \"x\"\n")),
        "conf/oompa.toml:4: worker.env: invalid environment variable name `A=B`"
    );
}

#[test]
fn toml_syntax_errors_have_a_line() {
    let err = toml("[[worker]]\nmodel = codex\n").expect_err("unquoted");
    let ConfigError::Syntax { line, column, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!((*line, *column), (2, 9));
    assert!(
        err.to_string().starts_with("conf/oompa.toml:2:9: "),
        "{err}"
    );
    assert_eq!(
        toml_err("[[worker]]\nmodel = \"a\"\nmodel = \"b\"\n"),
        "conf/oompa.toml:3:1: duplicate key `model`"
    );
}

/// The reference's SWARM_GUIDE-style config: oompa 0.7.1 dropped its top-level `reviewer`.
const SWARM_GUIDE_JSON: &str = r#"{
  "review_models": ["claude:opus", "codex:gpt-5.3-codex:medium"],
  "reviewer": {"model": "claude:sonnet", "prompt": "config/prompts/reviewer.md"},
  "planner": {"model": "claude:opus", "prompt": ["config/prompts/planner.md"], "max_pending": 5},
  "workers": [
    {"model": "claude:opus", "prompt": "config/prompts/planner.md", "iterations": 5,
     "count": 1, "wait_between": 60},
    {"model": "gpt-5.3-codex", "prompt": ["config/prompts/executor.md"], "iterations": 10,
     "count": 2, "can_plan": false, "max_wait_for_tasks": 0, "max_working_resumes": 3,
     "reviewer": {"model": "gemini:gemini-3-pro-preview", "prompt": "strict.md"}},
    {"model": "opencode:opencode/kimi-k2.5-free", "runs": 4, "iterations": 7, "max_cycles": 2,
     "reviewer": "claude:opus"},
    {}
  ]
}"#;

#[test]
fn oompa_json_maps_onto_config() {
    let config = json(SWARM_GUIDE_JSON).expect("valid oompa.json");
    let dir = Path::new("conf");
    let generic = vec![
        m("claude:opus"),
        m("codex:gpt-5.3-codex:medium"),
        m("claude:sonnet"),
    ];
    let expected = Config {
        path: Some(PathBuf::from("conf/oompa.json")),
        workers: vec![
            WorkerConfig {
                prompt: vec![dir.join("config/prompts/planner.md")],
                max_cycles: 5,
                wait_between: Duration::from_secs(60),
                ..WorkerConfig::new(m("claude:opus"))
            },
            WorkerConfig {
                prompt: vec![dir.join("config/prompts/executor.md")],
                count: 2,
                max_cycles: 10,
                max_resumes: 3,
                can_plan: false,
                review: WorkerReview::Models(
                    [m("gemini:gemini-3-pro-preview")]
                        .into_iter()
                        .chain(generic.clone())
                        .collect(),
                ),
                review_prompt: vec![dir.join("strict.md")],
                ..WorkerConfig::new(m("codex:gpt-5.3-codex"))
            },
            WorkerConfig {
                max_cycles: 2,
                // Already in the generic chain: not repeated.
                review: WorkerReview::Models(generic.clone()),
                ..WorkerConfig::new(m("opencode:opencode/kimi-k2.5-free"))
            },
            WorkerConfig::new(m("codex")),
        ],
        review: Some(ReviewConfig {
            models: generic,
            prompt: vec![dir.join("config/prompts/reviewer.md")],
            max_rounds: 3,
            args: Vec::new(),
            env: BTreeMap::new(),
        }),
        planner: Some(PlannerConfig {
            prompt: vec![dir.join("config/prompts/planner.md")],
            max_pending: 5,
            ..PlannerConfig::new(m("claude:opus"))
        }),
        notices: vec![
            "conf/oompa.json: read oompa's `iterations` and `runs` as `max_cycles`, \
             `max_working_resumes` as `max_resumes`"
                .into(),
        ],
        ..Config::with_workers(Vec::new())
    };
    assert_eq!(config, expected);
    assert_eq!(config.total_workers(), 5);
}

/// The spellings of later oompa versions (reference §14): `max_cycle`, `max_resumes`, a
/// worker's `reviewers` (strings or `{model, prompt}`), `review_models`, `review_model`.
#[test]
fn oompa_json_later_spellings_are_mapped_and_named_once() {
    let config = json(
        r#"{"review_models": ["claude:opus"], "workers": [
            {"model": "codex", "max_cycle": 4, "max_resumes": 7,
             "reviewers": ["gemini", {"model": "claude:sonnet", "prompt": "r.md"}]},
            {"model": "codex", "max_cycle": 2, "review_models": ["claude:haiku"]},
            {"model": "codex", "review_model": "claude:opus"}
        ]}"#,
    )
    .expect("later oompa spellings");
    let w = &config.workers;
    assert_eq!((w[0].max_cycles, w[0].max_resumes), (4, 7));
    assert_eq!(
        w[0].review,
        WorkerReview::Models(vec![m("gemini"), m("claude:sonnet"), m("claude:opus")])
    );
    assert_eq!(w[0].review_prompt, vec![Path::new("conf").join("r.md")]);
    assert_eq!(w[1].max_cycles, 2);
    assert_eq!(
        w[1].review,
        WorkerReview::Models(vec![m("claude:haiku"), m("claude:opus")])
    );
    assert_eq!(w[2].review, WorkerReview::Models(vec![m("claude:opus")]));
    assert_eq!(
        config.notices,
        [
            "conf/oompa.json: read oompa's `max_cycle` as `max_cycles`, `reviewers` and \
             `review_models` and `review_model` as `review`"
        ]
    );
    let err = json_err(r#"{"workers": [{"model": "codex", "max_cycle": 0}]}"#);
    assert!(err.contains("max_cycle"), "{err}");
}

#[test]
fn oompa_json_reviewer_alone_and_review_model() {
    let config = json(r#"{"reviewer": "claude:opus", "workers": [{"model": "codex"}]}"#)
        .expect("string reviewer");
    assert_eq!(
        config.review,
        Some(ReviewConfig::new(vec![m("claude:opus")]))
    );
    let config = json(r#"{"review_model": "gemini", "workers": [{"model": "codex"}]}"#)
        .expect("review_model");
    assert_eq!(config.review, Some(ReviewConfig::new(vec![m("gemini")])));
    let config = json(r#"{"workers": [{"model": "codex"}]}"#).expect("no review");
    assert_eq!(config.review, None);
}

#[test]
fn oompa_json_model_strings() {
    let model_of = |s: &str| {
        let config = json(&format!(r#"{{"workers": [{{"model": "{s}"}}]}}"#)).expect(s);
        config.workers[0].model.clone()
    };
    assert_eq!(model_of("gpt-5.3-codex"), m("codex:gpt-5.3-codex"));
    assert_eq!(model_of("gpt-5:high"), m("codex:gpt-5:high"));
    assert_eq!(model_of("o3:free"), m("codex:o3:free"));
    assert_eq!(model_of("gemini2:gemini-3-pro"), m("gemini:gemini-3-pro"));
    assert_eq!(model_of("claude:opus"), m("claude:opus"));
    assert_eq!(
        json_err("{\"workers\": [\n{\"model\": \"exec:\"}]}"),
        "conf/oompa.json:2: workers.model: `exec:` needs a command after the colon"
    );
}

#[test]
fn oompa_json_unknown_keys_name_the_line() {
    let text = "{\n  \"workers\": [\n    {\"model\": \"codex\",\n     \"max_cycless\": 3}\n  ]\n}";
    assert_eq!(
        json_err(text),
        "conf/oompa.json:4: unknown key `max_cycless` in workers[] (did you mean `max_cycles`?)"
    );
    assert_eq!(
        json_err("{\"worker\": []}"),
        "conf/oompa.json:1: unknown key `worker` at top level (did you mean `workers`?)"
    );
    assert_eq!(
        json_err("{\"workers\": [{}],\n\"planner\": {\"modle\": \"x\"}}"),
        "conf/oompa.json:2: unknown key `modle` in planner (did you mean `model`?)"
    );
    assert_eq!(
        json_err("{\"workers\": [{\"reviewer\": {\n\"model\": \"x\", \"promt\": \"p\"}}]}"),
        "conf/oompa.json:2: unknown key `promt` in workers[].reviewer (did you mean `prompt`?)"
    );
}

#[test]
fn oompa_json_values_and_errors() {
    let config = json(r#"{"workers": [{"wait_between": -5, "max_wait_for_tasks": -1}]}"#)
        .expect("oompa's non-positive seconds");
    assert_eq!(config.workers[0].wait_between, Duration::ZERO);
    assert_eq!(
        config.workers[0].max_wait_for_tasks,
        Duration::from_secs(600)
    );
    let config = json(r#"{"workers": [{"wait_between": 1.5}]}"#).expect("fractional seconds");
    assert_eq!(config.workers[0].wait_between, Duration::from_millis(1500));
    assert_eq!(
        json_err("{\"workers\": [\n{\"count\": 0}]}"),
        "conf/oompa.json:2: workers.count: must be at least 1"
    );
    assert_eq!(
        json_err("{\"workers\": [{\"iterations\": 3,\n \"runs\": 0}]}"),
        "conf/oompa.json:2: workers.runs: must be at least 1"
    );
    assert_eq!(
        json_err("{\"workers\": [{\"wait_between\": \"soon\"}]}"),
        "conf/oompa.json:1: workers.wait_between: bad duration `soon` (use whole seconds, or a \
         number with a unit: 500ms, 90s, 5m, 1h30m)"
    );
    assert_eq!(
        json_err("{\"workers\": []}"),
        "conf/oompa.json: no workers entries: a swarm needs at least one worker"
    );
    assert_eq!(
        json_err("{\"workers\": [{\"count\": 1,\n\"count\": 2}]}"),
        "conf/oompa.json:2: duplicate key `count` (first at line 1)"
    );
    assert_eq!(
        json_err("[1]"),
        "conf/oompa.json:1: top level: expected a table, found an array"
    );
    let config = json(r#"{"workers": [{"model": null, "reviewer": null}]}"#).expect("nulls");
    assert_eq!(config.workers[0], WorkerConfig::new(m("codex")));
}

#[test]
fn oompa_json_syntax_error_has_line() {
    let err = json_err("{\n  \"workers\": [\n    {\"model\": \"codex\",}\n  ]\n}");
    assert!(err.starts_with("conf/oompa.json:3:"), "{err}");
}

#[test]
fn load_picks_the_format_by_extension_and_checks_prompts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let toml_path = dir.path().join("swarm.toml");
    std::fs::write(
        &toml_path,
        "[[worker]]\nmodel = \"codex\"\nprompt = \"p.md\"\n",
    )
    .expect("w");
    let err = Config::load(&toml_path).expect_err("p.md is missing");
    let expected_path = dir.path().join("p.md");
    assert_eq!(
        err.to_string(),
        format!(
            "{}:3: worker.prompt: prompt file {} does not exist",
            toml_path.display(),
            expected_path.display()
        )
    );
    std::fs::write(&expected_path, "do things").expect("write prompt");
    let config = Config::load(&toml_path).expect("loads");
    assert_eq!(config.workers[0].prompt, [expected_path]);
    assert_eq!(config.path.as_deref(), Some(toml_path.as_path()));

    let json_path = dir.path().join("x.json");
    let with_bom = "\u{feff}{\"workers\": [{\"model\": \"claude\"}]}";
    std::fs::write(&json_path, with_bom).expect("write");
    assert_eq!(
        Config::load(&json_path).expect("json").workers[0].model,
        m("claude")
    );

    let yaml = dir.path().join("x.yaml");
    std::fs::write(&yaml, "").expect("write");
    assert!(matches!(
        Config::load(&yaml),
        Err(ConfigError::UnsupportedFormat { .. })
    ));
    assert!(matches!(
        Config::load(&dir.path().join("gone.toml")),
        Err(ConfigError::Read { .. })
    ));
}

#[test]
fn discover_order_and_not_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let err = Config::discover(root, None).expect_err("nothing there");
    assert_eq!(
        err.to_string(),
        format!(
            "no config file found (looked for {}, {} or {})",
            root.join("oompa.toml").display(),
            root.join("oompa.json").display(),
            root.join("oompa/oompa.json").display()
        )
    );

    std::fs::create_dir(root.join("oompa")).expect("mkdir");
    std::fs::write(
        root.join("oompa/oompa.json"),
        r#"{"workers": [{"model": "gemini"}]}"#,
    )
    .expect("write");
    let found = Config::discover(root, None).expect("oompa/oompa.json");
    assert_eq!(found.path, Some(root.join("oompa/oompa.json")));

    std::fs::write(
        root.join("oompa.json"),
        r#"{"workers": [{"model": "claude"}]}"#,
    )
    .expect("write");
    let found = Config::discover(root, None).expect("oompa.json");
    assert_eq!(found.path, Some(root.join("oompa.json")));

    std::fs::write(root.join("oompa.toml"), MINIMAL).expect("write");
    let found = Config::discover(root, None).expect("oompa.toml");
    assert_eq!(found.path, Some(root.join("oompa.toml")));

    let explicit = root.join("oompa/oompa.json");
    let found = Config::discover(root, Some(&explicit)).expect("explicit wins");
    assert_eq!(found.path, Some(explicit));

    let missing = root.join("nope.toml");
    let err = Config::discover(root, Some(&missing)).expect_err("explicit missing");
    assert_eq!(
        err.to_string(),
        format!("no config file found (looked for {})", missing.display())
    );
}

#[test]
fn config_errors_are_send_and_sync() {
    fn check<T: Send + Sync + std::error::Error + 'static>() {}
    check::<ConfigError>();
}

#[test]
fn a_worker_count_past_the_limit_is_an_error_naming_key_file_and_line() {
    assert_eq!(
        toml_err(&format!("{MINIMAL}count = 10000\n")),
        "conf/oompa.toml:3: worker.count: `10000` is too large (at most 64)"
    );
    assert_eq!(
        json_err("{\"workers\": [\n{\"count\": 10000}]}"),
        "conf/oompa.json:2: workers.count: `10000` is too large (at most 64)"
    );
    // Entries that are each fine but add up to too many: the entry that goes past is named.
    assert_eq!(
        toml_err(&format!(
            "{MINIMAL}count = 40\n\n[[worker]]\nmodel = \"claude\"\ncount = 30\n"
        )),
        "conf/oompa.toml:7: worker.count: the entries add up to 70 workers, more than the 64 a \
         swarm may run"
    );
    assert_eq!(
        json_err("{\"workers\": [{\"count\": 64},\n {\"model\": \"claude\"}]}"),
        "conf/oompa.json:2: workers.count: the entries add up to 65 workers, more than the 64 a \
         swarm may run"
    );
    let most = toml(&format!(
        "{MINIMAL}count = 32\n[[worker]]\nmodel = \"claude\"\ncount = 32\n"
    ))
    .expect("64 in all is allowed");
    assert_eq!(most.total_workers(), 64);
}

#[test]
fn other_counts_and_durations_past_their_limits_are_errors() {
    assert_eq!(
        toml_err(&format!("{MINIMAL}max_resumes = 4294967295\n")),
        "conf/oompa.toml:3: worker.max_resumes: `4294967295` is too large (at most 100)"
    );
    assert_eq!(
        toml_err(&format!("max_conflict_rounds = 1000\n{MINIMAL}")),
        "conf/oompa.toml:1: max_conflict_rounds: `1000` is too large (at most 20)"
    );
    assert_eq!(
        toml_err(&format!(
            "{MINIMAL}[review]\nmodels = [\"claude\"]\nmax_rounds = 21\n"
        )),
        "conf/oompa.toml:5: review.max_rounds: `21` is too large (at most 20)"
    );
    assert_eq!(
        toml_err(&format!(
            "{MINIMAL}[planner]\nmodel = \"claude\"\nmax_pending = 100000\n"
        )),
        "conf/oompa.toml:5: planner.max_pending: `100000` is too large (at most 1000)"
    );
    assert_eq!(
        toml_err(&format!(
            "{MINIMAL}[planner]\nmodel = \"claude\"\nmax_pending = 3\nrefill_below = 5\n"
        )),
        "conf/oompa.toml:6: planner.refill_below: 5 is more than planner.max_pending (3); it \
         must not be"
    );
    // A pause this long made `Instant + duration` panic in the worker.
    assert_eq!(
        toml_err(&format!(
            "{MINIMAL}wait_between = \"18446744073709551615s\"\n"
        )),
        "conf/oompa.toml:3: worker.wait_between: `18446744073709551615s` is too long (at most \
         168h (a week))"
    );
    assert_eq!(
        toml_err(&format!("error_backoff = 700000\n{MINIMAL}")),
        "conf/oompa.toml:1: error_backoff: `700000` is too long (at most 168h (a week))"
    );
    assert_eq!(
        json_err("{\"workers\": [{\"wait_between\": 1e300}]}"),
        "conf/oompa.json:1: workers.wait_between: bad duration `1e300` (use whole seconds, or a \
         number with a unit: 500ms, 90s, 5m, 1h30m)"
    );
    assert_eq!(
        json_err("{\"workers\": [{\"max_wait_for_tasks\": 9999999}]}"),
        "conf/oompa.json:1: workers.max_wait_for_tasks: `9999999` is too long (at most 168h (a \
         week))"
    );
    let week = toml(&format!("{MINIMAL}turn_timeout = \"168h\"\n")).expect("a week is allowed");
    assert_eq!(week.workers[0].turn_timeout, limits::DURATION);
}

#[test]
fn transcript_max_takes_bytes_or_a_size_with_a_unit_within_limits() {
    for (value, bytes) in [
        ("65536", 65_536u64),
        ("\"64KiB\"", 65_536),
        ("\"16MiB\"", 16 << 20),
        ("\"16mb\"", 16_000_000),
        ("\"1GiB\"", 1 << 30),
        ("\"100 KB\"", 100_000),
    ] {
        let config = toml(&format!("transcript_max = {value}\n{MINIMAL}")).expect(value);
        assert_eq!(config.transcript_max, bytes, "{value}");
    }
    assert_eq!(
        toml(MINIMAL).expect("valid").transcript_max,
        crate::agent::transcript::DEFAULT_MAX
    );
    assert_eq!(
        toml_err(&format!("transcript_max = \"16 megs\"\n{MINIMAL}")),
        "conf/oompa.toml:1: transcript_max: bad size `16 megs` (use bytes, or a number with a \
         unit: 512KiB, 16MiB, 1GiB, 500KB, 16MB)"
    );
    assert_eq!(
        toml_err(&format!("transcript_max = 100\n{MINIMAL}")),
        "conf/oompa.toml:1: transcript_max: `100` is out of range (from 64KiB to 1GiB)"
    );
    assert_eq!(
        toml_err(&format!("transcript_max = \"2GiB\"\n{MINIMAL}")),
        "conf/oompa.toml:1: transcript_max: `2GiB` is out of range (from 64KiB to 1GiB)"
    );
    assert_eq!(
        toml_err(&format!(
            "transcript_max = \"99999999999999999999GiB\"\n{MINIMAL}"
        )),
        "conf/oompa.toml:1: transcript_max: bad size `99999999999999999999GiB` (use bytes, or a \
         number with a unit: 512KiB, 16MiB, 1GiB, 500KB, 16MB)"
    );
}

#[test]
fn budget_is_read_at_top_level_and_per_worker_and_a_bad_one_is_named() {
    let config =
        toml("budget = \"$25, 2M tokens\"\n[[worker]]\nmodel = \"codex\"\nbudget = \"$0.05\"\n")
            .expect("valid");
    let swarm = config.budget.expect("swarm budget");
    assert_eq!(swarm.micro_usd, Some(25_000_000));
    assert_eq!(swarm.tokens, Some(2_000_000));
    assert_eq!(
        config.workers[0].budget.and_then(|b| b.micro_usd),
        Some(50_000)
    );
    let err = toml_err(&format!("budget = \"25 dollars\"\n{MINIMAL}"));
    assert!(
        err.starts_with("conf/oompa.toml:1: budget: bad budget `25 dollars`"),
        "{err}"
    );
}
