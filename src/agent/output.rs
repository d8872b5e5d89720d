//! Bounded buffers for agent output and the interface of the per-harness stream parsers.
//!
//! Owns every memory bound on what we keep from an agent's stdout and stderr: byte tails,
//! line splitting with a cap on how long a buffered line may grow, and bounded string
//! accumulation. It never spawns processes, touches files or prints; the parsers themselves
//! live in `parsers`.

use super::types::Usage;

/// The most of an agent's final message we keep (its end, where signals and verdicts are).
pub const FINAL_TEXT_MAX: usize = 64 * 1024;
/// The most of stderr we keep for error snippets.
pub const STDERR_TAIL_MAX: usize = 2 * 1024;
/// Stdout lines longer than this are skipped by the parsers (they still reach the transcript).
pub(crate) const LINE_MAX: usize = 1024 * 1024;

/// Keeps the last `cap` bytes pushed into it, using at most `2 * cap` bytes of memory.
#[derive(Debug)]
pub(crate) struct Tail {
    cap: usize,
    buf: Vec<u8>,
}

impl Tail {
    pub(crate) fn new(cap: usize) -> Self {
        Tail {
            cap,
            buf: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        if bytes.len() >= self.cap {
            self.buf.clear();
            self.buf.extend_from_slice(&bytes[bytes.len() - self.cap..]);
            return;
        }
        self.buf.extend_from_slice(bytes);
        if self.buf.len() > 2 * self.cap {
            let cut = self.buf.len() - self.cap;
            self.buf.drain(..cut);
        }
    }

    /// The kept bytes as text: the last `cap` bytes, starting at a character boundary.
    pub(crate) fn text(&self) -> String {
        let start = self.buf.len().saturating_sub(self.cap);
        let mut bytes = &self.buf[start..];
        // Skip UTF-8 continuation bytes left over from a character cut in half.
        let mut skipped = 0;
        while skipped < 3
            && bytes
                .first()
                .is_some_and(|b| b & 0b1100_0000 == 0b1000_0000)
        {
            bytes = &bytes[1..];
            skipped += 1;
        }
        String::from_utf8_lossy(bytes).into_owned()
    }
}

/// The last at most `max` bytes of `s`, cut at a character boundary.
pub(crate) fn keep_tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// Appends `piece` to `buf`, dropping the front so `buf` never holds much more than `max` bytes.
pub(crate) fn push_bounded(buf: &mut String, piece: &str, max: usize) {
    buf.push_str(piece);
    if buf.len() > 2 * max {
        let keep = keep_tail(buf, max).len();
        let cut = buf.len() - keep;
        buf.drain(..cut);
    }
}

/// The agent's last message as it streams in: a new message (or step) replaces the one before,
/// but one that ends empty keeps the one before as the final text.
#[derive(Debug, Default)]
pub(crate) struct LastMessage {
    /// The message being streamed.
    pub current: String,
    /// The last finished message that had any text.
    previous: String,
}

impl LastMessage {
    /// A new message begins.
    pub fn start(&mut self) {
        if !self.current.trim().is_empty() {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.clear();
    }

    /// The final text: the current message, or the one before when it is empty.
    pub fn text(&self) -> &str {
        if self.current.trim().is_empty() {
            &self.previous
        } else {
            &self.current
        }
    }
}

/// `s` bounded to its last `max` bytes, as an owned string.
pub(crate) fn bounded(s: &str, max: usize) -> String {
    keep_tail(s, max).to_string()
}

/// Splits a byte stream into lines without ever buffering more than `max` bytes of one line.
///
/// A line that grows past `max` is dropped whole (up to its newline): a parser cannot use half a
/// JSON event, and such lines are tool output, not the final message.
#[derive(Debug)]
pub(crate) struct LineSplitter {
    buf: Vec<u8>,
    overlong: bool,
    max: usize,
}

impl LineSplitter {
    pub(crate) fn new(max: usize) -> Self {
        LineSplitter {
            buf: Vec::new(),
            overlong: false,
            max,
        }
    }

    /// Feeds a chunk, calling `on_line` for every complete line (without its `\n` or `\r\n`).
    pub(crate) fn feed(&mut self, mut chunk: &[u8], on_line: &mut dyn FnMut(&[u8])) {
        while !chunk.is_empty() {
            let (piece, rest, complete) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (&chunk[..i], &chunk[i + 1..], true),
                None => (chunk, &chunk[chunk.len()..], false),
            };
            if !self.overlong {
                if self.buf.len() + piece.len() > self.max {
                    self.overlong = true;
                    self.buf = Vec::new();
                } else {
                    self.buf.extend_from_slice(piece);
                }
            }
            if complete {
                if !self.overlong {
                    on_line(trim_cr(&self.buf));
                }
                self.buf.clear();
                self.overlong = false;
            }
            chunk = rest;
        }
    }

    /// Delivers a last line that had no trailing newline.
    pub(crate) fn finish(&mut self, on_line: &mut dyn FnMut(&[u8])) {
        if !self.overlong && !self.buf.is_empty() {
            on_line(trim_cr(&self.buf));
        }
        self.buf.clear();
        self.overlong = false;
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// What a harness parser learned from a turn's stdout.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Parsed {
    /// The agent's final message, already bounded; `None` when the stream had none.
    pub final_text: Option<String>,
    pub session_id: Option<String>,
    pub usage: Usage,
    /// An error the CLI itself reported (API error, failed turn).
    pub failure: Option<String>,
}

/// A streaming parser for one harness's structured stdout, fed one line at a time.
///
/// Implementations keep only bounded state, whatever the agent prints.
pub(crate) trait OutputParser: Send {
    fn line(&mut self, line: &str);
    fn finish(&mut self) -> Parsed;
}

/// Adds two optional counters; `None` only when both are `None`.
pub(crate) fn add_opt<T: std::ops::Add<Output = T>>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_end_within_bounds() {
        let mut t = Tail::new(8);
        for _ in 0..100 {
            t.push(b"0123456789");
            assert!(t.buf.len() <= 16);
        }
        assert_eq!(t.text(), "23456789");
        t.push(&[b'x'; 20]);
        assert_eq!(t.text(), "xxxxxxxx");
    }

    #[test]
    fn tail_does_not_start_inside_a_character() {
        let mut t = Tail::new(4);
        t.push("aé€".as_bytes()); // 1 + 2 + 3 bytes; the last 4 start inside `é`
        assert_eq!(t.text(), "€");
    }

    #[test]
    fn keep_tail_respects_char_boundaries() {
        assert_eq!(keep_tail("héllo", 4), "llo");
        assert_eq!(keep_tail("abc", 10), "abc");
        let mut s = String::new();
        for _ in 0..1000 {
            push_bounded(&mut s, "€uro", 10);
            assert!(s.len() <= 20 + 6);
        }
        assert!(keep_tail(&s, 10).ends_with("€uro"));
    }

    #[test]
    fn splitter_handles_chunks_crlf_and_overlong_lines() {
        let mut lines = Vec::new();
        let mut sp = LineSplitter::new(10);
        let mut push = |l: &[u8]| lines.push(String::from_utf8_lossy(l).into_owned());
        sp.feed(b"ab", &mut push);
        sp.feed(b"c\r\nthis line is far too long", &mut push);
        sp.feed(b" still\nok\n\nlast", &mut push);
        sp.finish(&mut push);
        assert_eq!(lines, ["abc", "ok", "", "last"]);
        assert!(sp.buf.capacity() <= 64);
    }
}
