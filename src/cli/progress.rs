//! A running swarm's progress lines: each starts with the local time (`HH:MM:SS`) and is
//! appended, without colour, to the swarm's log (`.git/oompa/swarms/<id>/swarm.log`).

use std::fs::File;
use std::io::Write;
use std::path::Path;

pub struct Progress {
    log: Option<File>,
}

impl Progress {
    /// Timestamps only (stderr is the log already: `swarm --detach`).
    pub fn stamped() -> Progress {
        Progress { log: None }
    }

    /// Timestamps, and every line appended to `path` as well.
    pub fn tee(path: &Path) -> std::io::Result<Progress> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Progress { log: Some(log) })
    }

    /// `line` with its timestamp; writes it to the log (`safe` makes the log copy
    /// terminal-safe once the colour is gone).
    pub fn line(&mut self, line: &str, safe: impl Fn(&str) -> String) -> String {
        let stamp = jiff::Zoned::now().strftime("%H:%M:%S").to_string();
        let stamped = line
            .split('\n')
            .map(|l| format!("{stamp} {l}"))
            .collect::<Vec<_>>()
            .join("\n");
        if let Some(log) = self.log.as_mut() {
            let plain = safe(&strip_sgr(&stamped));
            if writeln!(log, "{plain}").is_err() {
                self.log = None;
            }
        }
        stamped
    }
}

/// `s` without its colour sequences (`ESC [ … m`).
fn strip_sgr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("\x1b[") {
        out.push_str(&rest[..i]);
        let body = &rest[i + 2..];
        let len = body
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b';')
            .count();
        if body[len..].starts_with('m') {
            rest = &body[len + 1..];
        } else {
            out.push_str("\x1b[");
            rest = body;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn colour_is_stripped_from_the_log_copy() {
        assert_eq!(
            super::strip_sgr("\x1b[2m[w0] cycle 1\x1b[0m started \x1b[x"),
            "[w0] cycle 1 started \x1b[x"
        );
    }
}
