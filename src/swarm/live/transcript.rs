//! What a worker's agent last said: the end of its transcript, read without the turn
//! headers git oompa writes there, a JSON event line read for the text it carries.

use std::path::Path;

/// How much of a transcript's end is read for its last line.
const TAIL_BYTES: u64 = 16 * 1024;
/// The line a transcript's turn header ends with (`agent::turn_log`): the agent's output
/// follows it.
const OUTPUT_MARK: &str = "── output ──";
/// The longest `last_line` kept (in bytes, cut at a character boundary).
const LAST_LINE_MAX: usize = 1024;

/// The last line the agent printed into the transcript at `path`: the last non-empty line
/// of its end, or, for a JSON event line, the last line of the text it carries (events
/// without text are passed over).
///
/// A transcript's turn headers (`══ turn 2 · … ══`, `ended:`, the prompt, up to `── output ──`)
/// are git oompa's, not the agent's: they are passed over.
pub fn last_line(path: &Path) -> Option<String> {
    let text = tail(path, TAIL_BYTES)?;
    // Reading backwards: between an `── output ──` line and its turn's title, all is header.
    let mut in_header = false;
    for line in text.lines().rev() {
        let l = line.trim();
        if l == OUTPUT_MARK {
            in_header = true;
            continue;
        }
        if in_header {
            in_header = !(l.starts_with("══ ") && l.ends_with(" ══"));
            continue;
        }
        if l.is_empty() {
            continue;
        }
        if l.starts_with('{')
            && l.ends_with('}')
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(l)
        {
            if let Some(t) = json_text(&v)
                && let Some(last) = t.lines().rev().map(str::trim).find(|s| !s.is_empty())
            {
                return Some(cut(last));
            }
            continue;
        }
        return Some(cut(l));
    }
    None
}

/// The last `max` bytes of the file at `path`, as text (a broken first character dropped).
pub fn tail(path: &Path, max: u64) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let from = len.saturating_sub(max);
    f.seek(SeekFrom::Start(from)).ok()?;
    let mut buf = Vec::new();
    f.take(max).read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    if from > 0 {
        // The first line is likely cut: drop it.
        return Some(
            text.split_once('\n')
                .map(|x| x.1.to_string())
                .unwrap_or(text),
        );
    }
    Some(text)
}

/// The text a CLI's JSON event carries: the last string under `text`, `result` or a string
/// `content`, looked for depth first.
pub fn json_text(v: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut found = None;
            for (k, val) in map {
                let here = match (k.as_str(), val) {
                    ("text" | "result" | "content", Value::String(s)) if !s.trim().is_empty() => {
                        Some(s.clone())
                    }
                    _ => json_text(val),
                };
                if here.is_some() {
                    found = here;
                }
            }
            found
        }
        Value::Array(items) => items.iter().rev().find_map(json_text),
        _ => None,
    }
}

fn cut(s: &str) -> String {
    if s.len() <= LAST_LINE_MAX {
        return s.to_string();
    }
    let mut end = LAST_LINE_MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last(text: &str) -> Option<String> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let p = dir.path().join("t.log");
        std::fs::write(&p, text).expect("writable");
        last_line(&p)
    }

    #[test]
    fn the_last_line_is_the_last_non_empty_one_kept_exactly() {
        assert_eq!(
            last("one\ntwo \x1b[2J\n\n  \n").as_deref(),
            Some("two \x1b[2J")
        );
        assert_eq!(last(""), None);
    }

    #[test]
    fn turn_headers_and_prompts_in_a_transcript_are_not_the_agents_last_line() {
        let header = |n: u32| {
            format!(
                "══ turn {n} · fresh session · 2026-11-30 05:12:03 UTC · exec:x ══\n\
                 ended: (still running)\n── prompt (20 bytes) ──\nDo the task.\nEnd with X\n\
                 ── output ──\n"
            )
        };
        // A turn that printed nothing yet: the previous turn's last line.
        let text = format!("{}I will take t1.\nCLAIM(t1)\n\n{}", header(1), header(2));
        assert_eq!(last(&text).as_deref(), Some("CLAIM(t1)"));
        let text = format!("{text}Working on t1\n");
        assert_eq!(last(&text).as_deref(), Some("Working on t1"));
        assert_eq!(last(&header(1)), None);
    }

    #[test]
    fn json_event_lines_give_their_text_and_events_without_text_are_passed_over() {
        let claude = concat!(
            r#"{"type":"assistant","message":{"content":[{"type":"text","text":"Editing a.rs\nnow"}]}}"#,
            "\n",
            r#"{"type":"system","subtype":"heartbeat"}"#
        );
        assert_eq!(last(claude).as_deref(), Some("now"));
        let codex = r#"{"type":"item.completed","item":{"type":"agent_message","text":"Done."}}"#;
        assert_eq!(last(codex).as_deref(), Some("Done."));
    }
}
