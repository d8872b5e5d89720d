//! Typed getters over the [`super::doc`] tree that turn every mistake into a located error.
//!
//! Owns the value rules shared by both formats: integers with a minimum, durations, string
//! lists, env tables, worker names, paths, and the unknown-key check with its "did you mean".
//! It knows nothing about which keys a format has: the schemas pass them in.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::doc::{Entry, Kind, Node};
use super::source::Ctx;
use super::{ConfigError, ValueProblem, limits};
use crate::agent::prompt::{PromptError, load_file};

/// A table whose keys have been checked against the schema.
pub(super) struct Table<'a> {
    ctx: &'a Ctx<'a>,
    /// Prefix for key names in messages: "" at top level, else e.g. "worker".
    prefix: String,
    span_start: usize,
    entries: &'a [Entry],
}

impl<'a> Table<'a> {
    /// Checks `node` is a table whose keys are all in `known`, with no duplicates (JSON allows
    /// them syntactically). `section` says where, for messages: `in [[worker]]`.
    pub fn new(
        ctx: &'a Ctx<'a>,
        node: &'a Node,
        prefix: &str,
        section: &str,
        known: &[&str],
    ) -> Result<Self, ConfigError> {
        let Kind::Table(entries) = &node.kind else {
            let key = if prefix.is_empty() {
                "top level"
            } else {
                prefix
            };
            return Err(ctx.invalid(node.span.start, key, wrong_type("a table", node)));
        };
        for (i, entry) in entries.iter().enumerate() {
            if let Some(first) = entries[..i].iter().find(|e| e.key == entry.key) {
                return Err(ConfigError::DuplicateKey {
                    path: ctx.path.to_path_buf(),
                    line: ctx.line(entry.key_span.start),
                    key: entry.key.clone(),
                    first_line: ctx.line(first.key_span.start),
                });
            }
            if !known.contains(&entry.key.as_str()) {
                return Err(ConfigError::UnknownKey {
                    path: ctx.path.to_path_buf(),
                    line: ctx.line(entry.key_span.start),
                    key: entry.key.clone(),
                    section: section.to_string(),
                    suggestion: suggest(&entry.key, known).map(str::to_string),
                });
            }
        }
        Ok(Table {
            ctx,
            prefix: prefix.to_string(),
            span_start: node.span.start,
            entries,
        })
    }

    /// The value of `key`, `None` when absent or JSON `null`.
    pub fn get(&self, key: &str) -> Option<Field<'a>> {
        let entry = self.entries.iter().find(|e| e.key == key)?;
        if entry.value.kind == Kind::Null {
            return None;
        }
        Some(Field {
            ctx: self.ctx,
            key: self.key_name(key),
            node: &entry.value,
        })
    }

    /// The value of a required `key`.
    pub fn require(&self, key: &str) -> Result<Field<'a>, ConfigError> {
        self.get(key).ok_or_else(|| {
            self.ctx
                .invalid(self.span_start, &self.key_name(key), ValueProblem::Missing)
        })
    }

    pub fn key_name(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }
}

/// One value and its dotted key name, ready to be read as a type.
#[derive(Clone)]
pub(super) struct Field<'a> {
    pub ctx: &'a Ctx<'a>,
    pub key: String,
    pub node: &'a Node,
}

impl<'a> Field<'a> {
    /// An error about this value, at its line.
    pub fn invalid(&self, problem: ValueProblem) -> ConfigError {
        self.ctx.invalid(self.node.span.start, &self.key, problem)
    }

    pub fn line(&self) -> usize {
        self.ctx.line(self.node.span.start)
    }

    fn wrong_type(&self, expected: &'static str) -> ConfigError {
        self.invalid(wrong_type(expected, self.node))
    }

    /// The same key, looking at one element of this array.
    fn item(&self, node: &'a Node) -> Field<'a> {
        Field {
            ctx: self.ctx,
            key: self.key.clone(),
            node,
        }
    }

    pub fn str(&self) -> Result<&'a str, ConfigError> {
        match &self.node.kind {
            Kind::Str(s) => Ok(s),
            _ => Err(self.wrong_type("a string")),
        }
    }

    /// A string that must not be empty (or only blanks).
    pub fn non_empty_str(&self) -> Result<&'a str, ConfigError> {
        let s = self.str()?;
        if s.trim().is_empty() {
            return Err(self.invalid(ValueProblem::Empty));
        }
        Ok(s)
    }

    pub fn bool(&self) -> Result<bool, ConfigError> {
        match self.node.kind {
            Kind::Bool(b) => Ok(b),
            _ => Err(self.wrong_type("true or false")),
        }
    }

    /// An integer from `min` to `max`.
    pub fn u32_range(&self, min: u32, max: u32) -> Result<u32, ConfigError> {
        let n = self.u32_min(min)?;
        if n > max {
            return Err(self.invalid(ValueProblem::TooLarge {
                value: n.to_string(),
                max,
            }));
        }
        Ok(n)
    }

    /// A non-negative integer of at least `min`.
    pub fn u32_min(&self, min: u32) -> Result<u32, ConfigError> {
        let n = match self.node.kind {
            Kind::Int(n) => n,
            _ => return Err(self.wrong_type("an integer")),
        };
        if n < i128::from(min) {
            return Err(self.invalid(ValueProblem::TooSmall { min }));
        }
        u32::try_from(n).map_err(|_| {
            self.invalid(ValueProblem::TooLarge {
                value: n.to_string(),
                max: u32::MAX,
            })
        })
    }

    /// A duration: integer (or, for oompa.json, fractional) seconds, or a string with units;
    /// at most [`limits::DURATION`].
    pub fn duration(&self) -> Result<Duration, ConfigError> {
        let bad = |text: String| self.invalid(ValueProblem::Duration { text });
        let (d, text) = match &self.node.kind {
            Kind::Int(n) => (
                u64::try_from(*n)
                    .map(Duration::from_secs)
                    .map_err(|_| bad(n.to_string()))?,
                n.to_string(),
            ),
            Kind::Float(f) => {
                // As written (`1e300`), not as f64 prints it (301 digits).
                let text = self
                    .ctx
                    .text
                    .get(self.node.span.clone())
                    .map_or_else(|| f.to_string(), |t| t.trim().to_string());
                (
                    Duration::try_from_secs_f64(*f).map_err(|_| bad(text.clone()))?,
                    text,
                )
            }
            Kind::Str(s) => (parse_duration(s).ok_or_else(|| bad(s.clone()))?, s.clone()),
            _ => return Err(self.wrong_type("seconds or a duration string")),
        };
        if d > limits::DURATION {
            return Err(self.invalid(ValueProblem::TooLong {
                text,
                max: limits::DURATION_TEXT,
            }));
        }
        Ok(d)
    }

    /// A size in bytes: an integer, or a string with a unit (`16MiB`, `500KB`), from `min` to
    /// `max` (each with its text for messages).
    pub fn size(
        &self,
        min: (u64, &'static str),
        max: (u64, &'static str),
    ) -> Result<u64, ConfigError> {
        let (n, text) = match &self.node.kind {
            Kind::Int(n) => (u64::try_from(*n).ok(), n.to_string()),
            Kind::Str(s) => (parse_size(s), s.clone()),
            _ => return Err(self.wrong_type("bytes or a size string")),
        };
        let Some(n) = n else {
            return Err(self.invalid(ValueProblem::Size { text }));
        };
        if n < min.0 || n > max.0 {
            return Err(self.invalid(ValueProblem::SizeRange {
                text,
                min: min.1,
                max: max.1,
            }));
        }
        Ok(n)
    }

    /// A duration that must be longer than zero.
    pub fn positive_duration(&self) -> Result<Duration, ConfigError> {
        let d = self.duration()?;
        if d.is_zero() {
            return Err(self.invalid(ValueProblem::ZeroDuration));
        }
        Ok(d)
    }

    /// An array, as fields carrying this key.
    pub fn array(&self) -> Result<Vec<Field<'a>>, ConfigError> {
        match &self.node.kind {
            Kind::Array(items) => Ok(items.iter().map(|n| self.item(n)).collect()),
            _ => Err(self.wrong_type("an array")),
        }
    }

    /// An array of strings (each may be empty).
    pub fn strings(&self) -> Result<Vec<String>, ConfigError> {
        self.array()?
            .iter()
            .map(|f| f.str().map(str::to_string))
            .collect()
    }

    /// A string or an array of strings, as fields; each string must be non-empty.
    pub fn one_or_many(&self) -> Result<Vec<Field<'a>>, ConfigError> {
        let items = match &self.node.kind {
            Kind::Str(_) => vec![self.clone()],
            Kind::Array(_) => self.array()?,
            _ => return Err(self.wrong_type("a string or an array of strings")),
        };
        for item in &items {
            item.non_empty_str()?;
        }
        Ok(items)
    }

    /// Prompt files: a path or a list of paths, relative to the config file's directory.
    pub fn prompts(&self) -> Result<Vec<PathBuf>, ConfigError> {
        self.one_or_many()?
            .iter()
            .map(|item| {
                let path = self.ctx.base_dir.join(item.str()?);
                if self.ctx.check_files && !path.is_file() {
                    return Err(item.invalid(ValueProblem::MissingFile { path }));
                }
                if self.ctx.check_files
                    && let Err(PromptError::Read { source, .. }) = load_file(&path)
                {
                    let reason = source.to_string();
                    return Err(item.invalid(ValueProblem::UnreadableFile { path, reason }));
                }
                Ok(path)
            })
            .collect()
    }

    /// A table of environment variables: string values, portable names.
    pub fn env(&self) -> Result<BTreeMap<String, String>, ConfigError> {
        let Kind::Table(entries) = &self.node.kind else {
            return Err(self.wrong_type("a table of strings"));
        };
        let mut env = BTreeMap::new();
        for entry in entries {
            let value = Field {
                ctx: self.ctx,
                key: format!("{}.{}", self.key, entry.key),
                node: &entry.value,
            };
            if entry.key.is_empty() || entry.key.contains(['=', '\0']) {
                let name = entry.key.clone();
                return Err(self.ctx.invalid(
                    entry.key_span.start,
                    &self.key,
                    ValueProblem::EnvName { name },
                ));
            }
            env.insert(entry.key.clone(), value.str()?.to_string());
        }
        Ok(env)
    }

    /// A worker name: `[A-Za-z0-9][A-Za-z0-9._-]{0,31}`.
    pub fn name(&self) -> Result<String, ConfigError> {
        let name = self.str()?;
        let mut chars = name.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            && name.len() <= 32;
        if !valid {
            return Err(self.invalid(ValueProblem::Name {
                name: name.to_string(),
            }));
        }
        Ok(name.to_string())
    }
}

/// Adds up worker entries' `count`s as they are read, failing at the entry that takes the
/// total past [`limits::WORKERS`].
#[derive(Default)]
pub(super) struct WorkerTotal(u64);

impl WorkerTotal {
    /// Counts the entry `table` (read from `node`) with `count` workers.
    pub fn add(&mut self, table: &Table, node: &Node, count: u32) -> Result<(), ConfigError> {
        self.0 += u64::from(count);
        if self.0 <= u64::from(limits::WORKERS) {
            return Ok(());
        }
        let line = table
            .get("count")
            .map_or_else(|| table.ctx.line(node.span.start), |f| f.line());
        Err(ConfigError::TooManyWorkers {
            path: table.ctx.path.to_path_buf(),
            line,
            key: table.key_name("count"),
            total: self.0,
            max: limits::WORKERS,
        })
    }
}

fn wrong_type(expected: &'static str, node: &Node) -> ValueProblem {
    ValueProblem::WrongType {
        expected,
        found: node.kind.describe(),
    }
}

/// Parses `500ms`, `90s`, `5m`, `1h`, `1h30m`, or bare whole seconds (`"90"`).
pub(super) fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok().map(Duration::from_secs);
    }
    let mut rest = text;
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let part = match &rest[..unit_len] {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number.checked_mul(60)?),
            "h" => Duration::from_secs(number.checked_mul(3600)?),
            _ => return None,
        };
        rest = &rest[unit_len..];
        total = total.checked_add(part)?;
    }
    (!text.is_empty()).then_some(total)
}

/// Parses `1048576`, `512KiB`, `16MiB`, `1GiB`, `500KB`, `16MB`, `1GB` (case-insensitive
/// units; `B` alone is bytes).
pub(super) fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let number: u64 = text[..digits].parse().ok()?;
    let unit: u64 = match text[digits..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "kib" | "k" => 1 << 10,
        "mb" => 1000 * 1000,
        "mib" | "m" => 1 << 20,
        "gb" => 1000 * 1000 * 1000,
        "gib" | "g" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(unit)
}

/// The known key closest to `key`, if within edit distance 2.
pub(super) fn suggest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_with_units() {
        let cases = [
            ("90s", 90_000),
            ("5m", 300_000),
            ("1h", 3_600_000),
            ("1h30m", 5_400_000),
            ("500ms", 500),
            ("1m30s250ms", 90_250),
            ("42", 42_000),
            (" 7s ", 7_000),
            ("0s", 0),
        ];
        for (text, ms) in cases {
            assert_eq!(
                parse_duration(text),
                Some(Duration::from_millis(ms)),
                "{text}"
            );
        }
    }

    #[test]
    fn bad_durations() {
        for text in [
            "",
            "s",
            "5x",
            "1.5h",
            "-3s",
            "5 m",
            "h1",
            "1d",
            "99999999999999999999h",
        ] {
            assert_eq!(parse_duration(text), None, "{text}");
        }
    }

    #[test]
    fn suggestions_within_two_edits() {
        let known = ["max_cycles", "max_resumes", "model", "count"];
        assert_eq!(suggest("max_cycle", &known), Some("max_cycles"));
        assert_eq!(suggest("max-cycles", &known), Some("max_cycles"));
        assert_eq!(suggest("modle", &known), Some("model"));
        assert_eq!(suggest("iterations", &known), None);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
