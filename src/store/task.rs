//! The task record stored as JSON in the queue tree, and task id validation.
//!
//! Owns the on-disk encoding (field names, format `version`); never touches git.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The format version written into every task record.
pub const TASK_VERSION: u32 = 1;

/// A validated task id: `[A-Za-z0-9][A-Za-z0-9._-]{0,63}`, so it is always a safe file name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct TaskId(String);

/// Why a string is not a task id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskIdError {
    #[error("task id is empty")]
    Empty,
    #[error("task id `{}` is longer than 64 characters", shorten(.0))]
    TooLong(String),
    #[error("task id `{0}` must start with a letter or digit")]
    BadStart(String),
    #[error("task id `{id}` contains `{ch}`; use letters, digits, `.`, `_` and `-`")]
    BadChar { id: String, ch: char },
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 24 {
        format!("{}…", s.chars().take(24).collect::<String>())
    } else {
        s.to_string()
    }
}

/// The longest slug a generated id starts with: short enough for a table column and a
/// branch name, long enough to say what the task is.
const MAX_SLUG: usize = 32;

impl TaskId {
    pub fn new(s: &str) -> Result<TaskId, TaskIdError> {
        let first = s.chars().next().ok_or(TaskIdError::Empty)?;
        if s.chars().count() > 64 {
            return Err(TaskIdError::TooLong(s.to_string()));
        }
        if !first.is_ascii_alphanumeric() {
            return Err(TaskIdError::BadStart(s.to_string()));
        }
        if let Some(ch) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(TaskIdError::BadChar {
                id: s.to_string(),
                ch,
            });
        }
        Ok(TaskId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A readable, unique-enough id for a task added without one: a slug of the summary
    /// plus four random hex digits (`fix-login-redirect-3f2a`). Letters outside ASCII are
    /// transliterated (`Ünïcödé` → `unicode`, `Привет` → `privet`, `北京` → `bei-jing`), so
    /// the slug keeps the words; one that gives no letters at all becomes `task`.
    pub fn generate(summary: &str) -> TaskId {
        let ascii = deunicode::deunicode_with_tofu(summary, " ");
        let mut slug = String::new();
        for word in ascii
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            if slug.len() + word.len() + 1 > MAX_SLUG {
                if slug.is_empty() {
                    slug.push_str(&word[..MAX_SLUG].to_ascii_lowercase());
                }
                break;
            }
            if !slug.is_empty() {
                slug.push('-');
            }
            slug.push_str(&word.to_ascii_lowercase());
        }
        if slug.is_empty() {
            slug.push_str("task");
        }
        let rand = uuid::Uuid::new_v4().simple().to_string();
        TaskId(format!("{slug}-{}", &rand[..4]))
    }
}

impl<'de> Deserialize<'de> for TaskId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        TaskId::new(&s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for TaskId {
    type Err = TaskIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TaskId::new(s)
    }
}

/// How much work a task is, as the planner judged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Difficulty {
    Easy,
    Medium,
    Hard,
}

impl std::str::FromStr for Difficulty {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim_start_matches(':').to_ascii_lowercase().as_str() {
            "easy" => Ok(Difficulty::Easy),
            "medium" => Ok(Difficulty::Medium),
            "hard" => Ok(Difficulty::Hard),
            _ => Err(format!("difficulty `{s}` is not easy, medium or hard")),
        }
    }
}

impl fmt::Display for Difficulty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Difficulty::Easy => "easy",
            Difficulty::Medium => "medium",
            Difficulty::Hard => "hard",
        })
    }
}

/// Who holds a task, and until when the claim is presumed alive without a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub swarm: String,
    pub worker: String,
    pub host: String,
    pub pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    pub claimed_at: String,
    pub lease_until: String,
    /// Unique per claim, so two claim commits never have the same tree.
    pub token: String,
}

/// How a task reached the target branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Landed {
    pub commit: String,
    pub review_rounds: u32,
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
}

/// One task as stored at `pending|current|complete/<id>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub version: u32,
    pub id: TaskId,
    pub summary: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub difficulty: Option<Difficulty>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acceptance: Vec<String>,
    pub created: String,
    pub created_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<Claim>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landed: Option<Landed>,
    /// Fields we do not know (from newer versions or imported oompa tasks), kept verbatim.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Task {
    /// A pending task with its id, summary and who made it when, and nothing else: no
    /// description, difficulty, files, acceptance criteria, claim, landing or extra fields.
    pub fn new(id: TaskId, summary: String, created: String, created_by: String) -> Task {
        Task {
            version: TASK_VERSION,
            id,
            summary,
            description: String::new(),
            difficulty: None,
            files: Vec::new(),
            acceptance: Vec::new(),
            created,
            created_by,
            claim: None,
            landed: None,
            extra: BTreeMap::new(),
        }
    }

    /// Pretty JSON with a trailing newline, as stored in the queue.
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("a task always serializes");
        v.push(b'\n');
        v
    }

    pub fn from_json(data: &[u8]) -> Result<Task, serde_json::Error> {
        serde_json::from_slice(data)
    }

    /// Whether `worker` of `swarm` holds this task's claim.
    pub fn is_held_by(&self, swarm: &str, worker: &str) -> bool {
        self.claim
            .as_ref()
            .is_some_and(|c| c.swarm == swarm && c.worker == worker)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ids_are_validated() {
        assert!(TaskId::new("task-001").is_ok());
        assert!(TaskId::new("a.b_c-D9").is_ok());
        assert_eq!(TaskId::new(""), Err(TaskIdError::Empty));
        assert!(matches!(TaskId::new("../x"), Err(TaskIdError::BadStart(_))));
        assert!(matches!(
            TaskId::new("a/b"),
            Err(TaskIdError::BadChar { ch: '/', .. })
        ));
        assert!(matches!(
            TaskId::new("a b"),
            Err(TaskIdError::BadChar { ch: ' ', .. })
        ));
        assert!(matches!(
            TaskId::new(&"x".repeat(200)),
            Err(TaskIdError::TooLong(_))
        ));
        assert!(TaskId::new(&"x".repeat(64)).is_ok());
    }

    #[test]
    fn generated_ids_are_valid_slugs() {
        let id = TaskId::generate("Fix the login redirect!");
        assert!(id.as_str().starts_with("fix-the-login-redirect-"), "{id}");
        assert!(TaskId::new(id.as_str()).is_ok());
        assert!(TaskId::generate("???").as_str().starts_with("task-"));
        let long = TaskId::generate(&"word ".repeat(100));
        assert!(long.as_str().len() <= MAX_SLUG + 5);
        let one_long_word = TaskId::generate(&"x".repeat(100));
        assert_eq!(
            one_long_word.as_str().len(),
            MAX_SLUG + 5,
            "{one_long_word}"
        );
    }

    #[test]
    fn unicode_summaries_give_ids_that_keep_their_words() {
        let slug = |s: &str| {
            let id = TaskId::generate(s);
            assert!(TaskId::new(id.as_str()).is_ok(), "{id}");
            id.as_str()[..id.as_str().len() - 5].to_string()
        };
        assert_eq!(slug("Ünïcödé summary"), "unicode-summary");
        assert_eq!(slug("Corriger la sélection"), "corriger-la-selection");
        assert_eq!(slug("Straße öffnen"), "strasse-offnen");
        assert_eq!(slug("Привет мир"), "privet-mir");
        assert_eq!(slug("北京"), "bei-jing");
        assert_eq!(slug("🦀 rewrite in Rust"), "crab-rewrite-in-rust");
        assert_eq!(slug("\u{1}\u{2}"), "task");
    }

    fn arb_id() -> impl Strategy<Value = TaskId> {
        "[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
            .prop_map(|s| TaskId::new(&s).expect("regex matches the id rule"))
    }

    fn arb_claim() -> impl Strategy<Value = Claim> {
        (
            ".*",
            ".*",
            ".*",
            any::<u32>(),
            proptest::option::of(".*"),
            ".*",
        )
            .prop_map(|(swarm, worker, host, pid, branch, token)| Claim {
                swarm,
                worker,
                host,
                pid,
                branch,
                claimed_at: "2026-01-01T00:00:00Z".into(),
                lease_until: "2026-01-01T01:00:00Z".into(),
                token,
            })
    }

    fn arb_task() -> impl Strategy<Value = Task> {
        (
            arb_id(),
            ".*",
            ".*",
            proptest::option::of(prop_oneof![
                Just(Difficulty::Easy),
                Just(Difficulty::Medium),
                Just(Difficulty::Hard)
            ]),
            proptest::collection::vec(".*", 0..4),
            proptest::collection::vec(".*", 0..4),
            proptest::option::of(arb_claim()),
            proptest::option::of(
                (".*", any::<u32>()).prop_map(|(commit, review_rounds)| Landed {
                    commit,
                    review_rounds,
                    at: "2026-01-01T00:00:00Z".into(),
                    worker: None,
                }),
            ),
            proptest::collection::btree_map(
                "x_[a-z]{1,8}",
                any::<i64>().prop_map(serde_json::Value::from),
                0..3,
            ),
        )
            .prop_map(
                |(
                    id,
                    summary,
                    description,
                    difficulty,
                    files,
                    acceptance,
                    claim,
                    landed,
                    extra,
                )| Task {
                    version: TASK_VERSION,
                    id,
                    summary,
                    description,
                    difficulty,
                    files,
                    acceptance,
                    created: "2026-01-01T00:00:00Z".into(),
                    created_by: "test".into(),
                    claim,
                    landed,
                    extra,
                },
            )
    }

    proptest! {
        #[test]
        fn task_records_round_trip(task in arb_task()) {
            let bytes = task.to_json();
            let back = Task::from_json(&bytes).expect("what we write we can read");
            prop_assert_eq!(back, task);
        }
    }
}
