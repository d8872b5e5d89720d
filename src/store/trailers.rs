//! Landing commit messages and their trailers (`Oompa-Task:`, `Oompa-Worker:`,
//! `Oompa-Swarm:`, `Oompa-Review-Rounds:`, and `Oompa-Gate:` behind a landing gate), written
//! by the merge queue and read back by `gc`, `doctor` and the hooks to recognise landed work.

use super::task::{Task, TaskId};

pub const TASK: &str = "Oompa-Task";
pub const WORKER: &str = "Oompa-Worker";
pub const SWARM: &str = "Oompa-Swarm";
pub const REVIEW_ROUNDS: &str = "Oompa-Review-Rounds";
/// On landings made through a landing gate: the commands the commit had to pass.
pub const GATE: &str = "Oompa-Gate";

/// What a landing commit says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Landing {
    pub tasks: Vec<String>,
    pub worker: Option<String>,
    pub swarm: Option<String>,
    pub review_rounds: Option<u32>,
    pub gate: Option<String>,
}

/// The message of a landing commit: a subject naming the work, the task summaries, and the
/// trailers.
pub fn landing_message(
    tasks: &[Task],
    extra_ids: &[TaskId],
    worker: &str,
    swarm: &str,
    branch: &str,
    review_rounds: u32,
) -> String {
    let subject = match tasks {
        [] => format!("Land {branch}"),
        [one] => format!("Land {}: {}", one.id, first_line(&one.summary)),
        [first, rest @ ..] => format!(
            "Land {} and {} more: {}",
            first.id,
            rest.len(),
            first_line(&first.summary)
        ),
    };
    let mut msg = subject;
    msg.push_str("\n\n");
    if tasks.len() > 1 {
        for t in tasks {
            msg.push_str(&format!("- {}: {}\n", t.id, first_line(&t.summary)));
        }
        msg.push('\n');
    }
    msg.push_str(&format!(
        "Merged from {branch} by the git oompa merge queue.\n\n"
    ));
    for t in tasks {
        msg.push_str(&format!("{TASK}: {}\n", t.id));
    }
    for id in extra_ids {
        msg.push_str(&format!("{TASK}: {id}\n"));
    }
    msg.push_str(&format!("{WORKER}: {worker}\n"));
    msg.push_str(&format!("{SWARM}: {swarm}\n"));
    msg.push_str(&format!("{REVIEW_ROUNDS}: {review_rounds}\n"));
    msg
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("").trim()
}

/// Reads the oompa trailers of a commit message (the last paragraph's `Key: value` lines).
pub fn parse(message: &str) -> Landing {
    let mut landing = Landing::default();
    let last = message.trim_end().rsplit("\n\n").next().unwrap_or("");
    for line in last.lines() {
        let Some((key, value)) = line.split_once(": ") else {
            continue;
        };
        let value = value.trim().to_string();
        match key {
            TASK => landing.tasks.push(value),
            WORKER => landing.worker = Some(value),
            SWARM => landing.swarm = Some(value),
            REVIEW_ROUNDS => landing.review_rounds = value.parse().ok(),
            GATE => landing.gate = Some(value),
            _ => {}
        }
    }
    landing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailers_round_trip() {
        let t = |id: &str, s: &str| {
            Task::new(
                TaskId::new(id).expect("test fixture"),
                s.into(),
                String::new(),
                String::new(),
            )
        };
        let msg = landing_message(
            &[t("a", "Do A"), t("b", "Do B")],
            &[],
            "w1",
            "s1",
            "oompa/s1/w1",
            2,
        );
        assert!(msg.starts_with("Land a and 1 more: Do A\n"), "{msg}");
        let l = parse(&msg);
        assert_eq!(l.tasks, vec!["a", "b"]);
        assert_eq!(l.worker.as_deref(), Some("w1"));
        assert_eq!(l.swarm.as_deref(), Some("s1"));
        assert_eq!(l.review_rounds, Some(2));
        assert_eq!(l.gate, None);
        let gated = format!("{msg}{GATE}: cargo test\n");
        assert_eq!(parse(&gated).gate.as_deref(), Some("cargo test"));
        assert_eq!(parse(&gated).tasks, vec!["a", "b"]);
        assert_eq!(parse("just a message"), Landing::default());
    }
}
