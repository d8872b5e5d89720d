//! Turn headers in transcripts: [`run_logged`] runs a turn like [`run_turn`], with a header
//! in front of its output saying which turn it is (its label, fresh or resumed and the
//! session, when, the model), how it ended (how long, the exit, the session it ran in) and
//! the prompt that was sent:
//!
//! ```text
//! ══ turn 2 · resumed session 0f3a… · 2026-11-30 05:12:03 UTC · claude:sonnet ══
//! ended: exited with code 0 after 42s; session 0f3a…
//! ── prompt (812 bytes) ──
//! …
//! ── output ──
//! …
//! ```
//!
//! The `ended:` line is written as a blank line of fixed width before the turn and filled in
//! when it ends, so the header comes first and a turn cut short (the swarm killed) still says
//! so. The output after it keeps its cap ([`super::transcript`]). Never prints.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Duration;

use super::turn::run_turn;
use super::types::{AgentError, Turn, TurnMode, TurnOutput};

/// The width of the `ended:` line, filled in when the turn ends.
const ENDED_WIDTH: usize = 160;
/// The most of a prompt a header keeps.
const PROMPT_MAX: usize = 256 << 10;

/// Runs `turn` with a header in its transcript; `label` names the turn (`turn 3`,
/// `review round 2`, `planner round 1`). A header that cannot be written is left out (the
/// turn itself then says why the transcript cannot be written).
pub fn run_logged(turn: &Turn, label: &str) -> Result<TurnOutput, AgentError> {
    let slot = write_header(turn, label)
        .map_err(|e| tracing::debug!("no header in {}: {e}", turn.transcript.display()))
        .ok();
    let result = run_turn(turn);
    if let Some(at) = slot {
        let text = match &result {
            Ok(out) => {
                let mut t = format!("ended: {} after {}", out.exit, secs(out.duration));
                if let Some(s) = &out.session_id {
                    t.push_str(&format!("; session {s}"));
                }
                if let Some(f) = &out.failure {
                    t.push_str(&format!("; reported: {}", f.lines().next().unwrap_or("")));
                }
                t
            }
            Err(e) => format!("ended: not started: {e}"),
        };
        if let Err(e) = fill_slot(turn.transcript, at, &text) {
            tracing::debug!(
                "cannot finish the header in {}: {e}",
                turn.transcript.display()
            );
        }
    }
    result
}

/// Appends the header; returns where its `ended:` line starts.
fn write_header(turn: &Turn, label: &str) -> std::io::Result<u64> {
    if let Some(parent) = turn
        .transcript
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(turn.transcript)?;
    let end = file.seek(SeekFrom::End(0))?;
    let session = match (turn.resume, turn.mode) {
        (Some(id), _) => format!("resumed session {id}"),
        (None, TurnMode::Work) => "fresh session".to_string(),
        (None, TurnMode::OneShot) => "one-shot session".to_string(),
    };
    let when = jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M:%S UTC");
    let lead = if end == 0 { "" } else { "\n" };
    let title = format!(
        "{lead}══ {label} · {session} · {when} · {} ══\n",
        one_line(&turn.spec.to_string())
    );
    let slot_at = end + len(&title);
    let mut prompt = turn.prompt;
    let mut cut = String::new();
    if prompt.len() > PROMPT_MAX {
        let mut n = PROMPT_MAX;
        while !prompt.is_char_boundary(n) {
            n -= 1;
        }
        cut = format!(
            "\n[git oompa: the prompt's last {} bytes are not shown]",
            prompt.len() - n
        );
        prompt = &prompt[..n];
    }
    let mut text = title;
    text.push_str(&pad(
        "ended: (still running, or the swarm stopped during the turn)",
    ));
    text.push('\n');
    text.push_str(&format!("── prompt ({} bytes) ──\n", turn.prompt.len()));
    text.push_str(prompt);
    text.push_str(&cut);
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("── output ──\n");
    file.write_all(text.as_bytes())?;
    Ok(slot_at)
}

fn fill_slot(path: &Path, at: u64, text: &str) -> std::io::Result<()> {
    let file = OpenOptions::new().write(true).open(path)?;
    file.write_all_at(pad(text).as_bytes(), at)
}

/// `text` on one line, cut or padded with spaces to exactly [`ENDED_WIDTH`] bytes.
fn pad(text: &str) -> String {
    let mut s = one_line(text);
    if s.len() > ENDED_WIDTH {
        let mut n = ENDED_WIDTH - '…'.len_utf8();
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        s.truncate(n);
        s.push('…');
    }
    while s.len() < ENDED_WIDTH {
        s.push(' ');
    }
    s
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn secs(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 10_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}s", d.as_secs())
    }
}

fn len(s: &str) -> u64 {
    u64::try_from(s.len()).expect("string lengths fit in u64")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ended_line_keeps_its_width_whatever_it_says() {
        for text in ["ended: killed", &"x".repeat(500), &"é".repeat(300), "a\nb"] {
            let p = pad(text);
            assert_eq!(p.len(), ENDED_WIDTH, "{text}");
            assert!(!p.contains('\n'));
        }
    }
}
