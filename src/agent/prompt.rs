//! Prompt text: the bundled prompts ([`Bundled`]), one loader for a role's prompt files
//! ([`role`]), prompt files with `#oompa_directive:include_file` lines,
//! and `{{token}}` rendering.
//!
//! Owns prompt loading and templating only; which prompt a turn gets is the swarm's business.
//! Includes resolve against the directory of the including file (oompa resolved them against the
//! process cwd, so its bundled includes never worked). A bad include becomes a visible notice
//! line in the prompt, never a panic or an endless recursion. It never prints.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Nested includes deeper than this are refused (a cycle guard of last resort).
const MAX_INCLUDE_DEPTH: usize = 16;
const DIRECTIVE: &str = "#oompa_directive:include_file";

/// Why a prompt file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("cannot read prompt file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Why an include line could not be expanded; it becomes a notice line in the prompt.
#[derive(Debug, thiserror::Error)]
enum IncludeError {
    #[error("empty path")]
    EmptyPath,
    #[error("include cycle")]
    Cycle,
    #[error("includes nested deeper than {MAX_INCLUDE_DEPTH}")]
    TooDeep,
    #[error("{0}")]
    Read(#[source] io::Error),
}

/// Declares the bundled prompts once: the enum, its file names and the list of all of them,
/// so a name that has no file cannot be written (it does not compile).
macro_rules! bundled_prompts {
    ($($variant:ident => $name:literal),+ $(,)?) => {
        /// A prompt shipped inside the binary (`config/prompts/<name>.md`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Bundled {
            $($variant),+
        }

        impl Bundled {
            /// Every bundled prompt.
            pub const ALL: &[Bundled] = &[$(Bundled::$variant),+];

            /// Its file name without `.md`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Bundled::$variant => $name),+
                }
            }

            /// Its text.
            pub fn text(self) -> &'static str {
                match self {
                    $(Bundled::$variant => include_str!(concat!("../../config/prompts/", $name, ".md"))),+
                }
            }
        }
    };
}

bundled_prompts! {
    TaskHeader => "task_header",
    Worker => "worker",
    Planner => "planner",
    Executor => "executor",
    Reviewer => "reviewer",
    Resolver => "resolver",
    Nudge => "nudge",
    ClaimResults => "claim_results",
    Resume => "resume",
    ReviewFix => "review_fix",
    GateFix => "gate_fix",
}

/// A role's prompt: its prompt files in order, each read with its includes expanded and
/// followed by a blank line, or `default` when it has none.
///
/// The one loader for worker, reviewer and planner prompts, with one policy: a file that
/// cannot be read is an error naming it, never a prompt with a hole in it (the caller fails
/// the cycle; an agent is not sent a broken prompt).
pub fn role(files: &[PathBuf], default: Bundled) -> Result<String, PromptError> {
    if files.is_empty() {
        return Ok(default.text().to_string());
    }
    let mut text = String::new();
    for f in files {
        text.push_str(&load_file(f)?);
        text.push_str("\n\n");
    }
    Ok(text)
}

/// Reads a prompt file and expands its include lines recursively.
///
/// A line `#oompa_directive:include_file "path"` is replaced by that file's (expanded) text.
/// Relative paths are resolved against the directory of the file containing the line; absolute
/// paths are used as they are. A missing file, a cycle or too deep a nesting becomes the line
/// `[oompa] could not include "path": reason`.
pub fn load_file(path: &Path) -> Result<String, PromptError> {
    let text = fs::read_to_string(path).map_err(|source| PromptError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut chain = vec![identity(path)];
    Ok(expand(&text, path, &mut chain))
}

fn expand(text: &str, file: &Path, chain: &mut Vec<PathBuf>) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let Some(target) = include_target(line) else {
            out.push_str(line);
            continue;
        };
        let newline = if line.ends_with('\n') { "\n" } else { "" };
        match include(target, file, chain) {
            Ok(mut body) => {
                if !newline.is_empty() && !body.is_empty() && !body.ends_with('\n') {
                    body.push('\n');
                }
                out.push_str(&body);
            }
            Err(reason) => {
                out.push_str(&format!(
                    "[oompa] could not include \"{target}\": {reason}{newline}"
                ));
            }
        }
    }
    out
}

/// The quoted path of an include line, or `None` when the line is not one.
fn include_target(line: &str) -> Option<&str> {
    let rest = line.trim().strip_prefix(DIRECTIVE)?;
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    rest.trim().strip_prefix('"')?.strip_suffix('"')
}

fn include(target: &str, file: &Path, chain: &mut Vec<PathBuf>) -> Result<String, IncludeError> {
    if target.trim().is_empty() {
        return Err(IncludeError::EmptyPath);
    }
    let path = match Path::new(target) {
        p if p.is_absolute() => p.to_path_buf(),
        p => file.parent().unwrap_or(Path::new("")).join(p),
    };
    let id = identity(&path);
    if chain.contains(&id) {
        return Err(IncludeError::Cycle);
    }
    if chain.len() >= MAX_INCLUDE_DEPTH {
        return Err(IncludeError::TooDeep);
    }
    let text = fs::read_to_string(&path).map_err(IncludeError::Read)?;
    chain.push(id);
    let body = expand(&text, &path, chain);
    chain.pop();
    Ok(body)
}

/// A file's identity for cycle detection: its canonical path when it exists.
fn identity(path: &Path) -> PathBuf {
    fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Replaces `{{name}}` and `{name}` for the names in `vars`; anything else stays verbatim.
/// Values are inserted as they are (tokens inside a value are not expanded again).
pub fn render(template: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let at = &rest[open..];
        let double = at.strip_prefix("{{").and_then(|s| token(s, "}}", vars));
        let single = || at.strip_prefix('{').and_then(|s| token(s, "}", vars));
        match double
            .map(|(v, n)| (v, n + 2))
            .or_else(|| single().map(|(v, n)| (v, n + 1)))
        {
            Some((value, consumed)) => {
                out.push_str(value);
                rest = &at[consumed..];
            }
            None => {
                out.push('{');
                rest = &at[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// If `s` starts with a known name followed by `close`: its value and the bytes consumed
/// (name and `close`).
fn token<'v>(s: &str, close: &str, vars: &'v BTreeMap<String, String>) -> Option<(&'v str, usize)> {
    let end = s.find(close)?;
    let name = &s[..end];
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !valid {
        return None;
    }
    vars.get(name).map(|v| (v.as_str(), end + close.len()))
}

#[cfg(test)]
#[path = "prompt_tests.rs"]
mod tests;
