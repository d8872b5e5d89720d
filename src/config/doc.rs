//! One neutral tree for both config formats, remembering where every key and value was.
//!
//! Owns turning TOML or JSON text into [`Node`]s with byte spans, so that the readers can
//! name the line of any key or value. It never interprets keys: that is [`super::read`]'s job.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

use super::ConfigError;
use super::source::Ctx;

/// A value and where it is in the text.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Node {
    /// Byte range of the value (for a TOML table: its header).
    pub span: Range<usize>,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Kind {
    Str(String),
    /// Wide enough that an out-of-range number is reported as itself.
    Int(i128),
    Float(f64),
    Bool(bool),
    /// JSON `null`.
    Null,
    /// A TOML date or time; no config key takes one.
    Datetime,
    Array(Vec<Node>),
    /// Entries in file order.
    Table(Vec<Entry>),
}

/// One key of a table.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Entry {
    pub key: String,
    pub key_span: Range<usize>,
    pub value: Node,
}

impl Kind {
    /// How a value of this kind is called in messages ("found a string").
    pub fn describe(&self) -> &'static str {
        match self {
            Kind::Str(_) => "a string",
            Kind::Int(_) => "an integer",
            Kind::Float(_) => "a float",
            Kind::Bool(_) => "a boolean",
            Kind::Null => "null",
            Kind::Datetime => "a date-time",
            Kind::Array(_) => "an array",
            Kind::Table(_) => "a table",
        }
    }
}

/// Parses TOML text into a tree.
pub(super) fn from_toml(ctx: &Ctx) -> Result<Node, ConfigError> {
    let root = DeTable::parse(ctx.text).map_err(|err| {
        let span = err.span().unwrap_or(0..0);
        let mut message = err.message().to_string();
        if message == "duplicate key" {
            // toml does not say which; the span covers it.
            if let Some(key) = ctx.text.get(span.clone()) {
                message = format!("duplicate key `{key}`");
            }
        }
        ctx.syntax_error(span.start, message)
    })?;
    let span = root.span();
    Ok(Node {
        span,
        kind: Kind::Table(toml_table(root.get_ref())),
    })
}

fn toml_table(table: &DeTable<'_>) -> Vec<Entry> {
    let mut entries: Vec<Entry> = table
        .iter()
        .map(|(key, value)| Entry {
            key: key.get_ref().to_string(),
            key_span: key.span(),
            value: Node {
                span: value.span(),
                kind: toml_kind(value.get_ref()),
            },
        })
        .collect();
    // The map is sorted by key; messages and worker order want file order.
    entries.sort_by_key(|e| e.key_span.start);
    entries
}

fn toml_kind(value: &DeValue<'_>) -> Kind {
    match value {
        DeValue::String(s) => Kind::Str(s.to_string()),
        // The parser only hands out digits valid for their radix, within i64.
        DeValue::Integer(i) => match i128::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => Kind::Int(n),
            Err(_) => Kind::Float(f64::NAN),
        },
        DeValue::Float(f) => Kind::Float(f.as_str().parse().unwrap_or(f64::NAN)),
        DeValue::Boolean(b) => Kind::Bool(*b),
        DeValue::Datetime(_) => Kind::Datetime,
        DeValue::Array(items) => Kind::Array(
            items
                .iter()
                .map(|item| Node {
                    span: item.span(),
                    kind: toml_kind(item.get_ref()),
                })
                .collect(),
        ),
        DeValue::Table(table) => Kind::Table(toml_table(table)),
    }
}

/// Parses JSON text into a tree: serde_json checks the syntax (and reports where it is
/// wrong), then a small scanner walks the now known-good text to record spans, which
/// serde_json does not expose.
pub(super) fn from_json(ctx: &Ctx) -> Result<Node, ConfigError> {
    if let Err(err) = serde_json::from_str::<serde::de::IgnoredAny>(ctx.text) {
        let message = err.to_string();
        let suffix = format!(" at line {} column {}", err.line(), err.column());
        let message = message
            .strip_suffix(&suffix)
            .unwrap_or(&message)
            .to_string();
        return Err(ConfigError::Syntax {
            path: ctx.path.to_path_buf(),
            line: err.line(),
            column: err.column(),
            message,
        });
    }
    let mut scanner = JsonScanner {
        text: ctx.text,
        pos: 0,
    };
    scanner
        .value()
        .ok_or_else(|| ctx.syntax_error(scanner.pos, "unsupported JSON".to_string()))
}

/// Walks JSON that serde_json already accepted; `None` only if that assumption breaks.
struct JsonScanner<'a> {
    text: &'a str,
    pos: usize,
}

impl JsonScanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        self.skip_ws();
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    fn value(&mut self) -> Option<Node> {
        self.skip_ws();
        let start = self.pos;
        let kind = match self.peek()? {
            b'{' => self.object()?,
            b'[' => self.array()?,
            b'"' => Kind::Str(self.string()?),
            b't' => self.literal("true", Kind::Bool(true))?,
            b'f' => self.literal("false", Kind::Bool(false))?,
            b'n' => self.literal("null", Kind::Null)?,
            _ => self.number()?,
        };
        Some(Node {
            span: start..self.pos,
            kind,
        })
    }

    fn object(&mut self) -> Option<Kind> {
        self.eat(b'{')?;
        let mut entries = Vec::new();
        if self.eat(b'}').is_some() {
            return Some(Kind::Table(entries));
        }
        loop {
            self.skip_ws();
            let key_start = self.pos;
            let key = self.string()?;
            let key_span = key_start..self.pos;
            self.eat(b':')?;
            let value = self.value()?;
            entries.push(Entry {
                key,
                key_span,
                value,
            });
            if self.eat(b',').is_none() {
                self.eat(b'}')?;
                return Some(Kind::Table(entries));
            }
        }
    }

    fn array(&mut self) -> Option<Kind> {
        self.eat(b'[')?;
        let mut items = Vec::new();
        if self.eat(b']').is_some() {
            return Some(Kind::Array(items));
        }
        loop {
            items.push(self.value()?);
            if self.eat(b',').is_none() {
                self.eat(b']')?;
                return Some(Kind::Array(items));
            }
        }
    }

    /// A string token; serde_json decodes the escapes.
    fn string(&mut self) -> Option<String> {
        let start = self.pos;
        let bytes = self.text.as_bytes();
        if bytes.get(start) != Some(&b'"') {
            return None;
        }
        let mut i = start + 1;
        loop {
            match bytes.get(i)? {
                b'\\' => i += 2,
                b'"' => break,
                _ => i += 1,
            }
        }
        self.pos = i + 1;
        serde_json::from_str(self.text.get(start..self.pos)?).ok()
    }

    fn literal(&mut self, word: &str, kind: Kind) -> Option<Kind> {
        self.text[self.pos..].starts_with(word).then(|| {
            self.pos += word.len();
            kind
        })
    }

    fn number(&mut self) -> Option<Kind> {
        let start = self.pos;
        while matches!(
            self.peek(),
            Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
        ) {
            self.pos += 1;
        }
        let token = &self.text[start..self.pos];
        if token.is_empty() {
            return None;
        }
        Some(match token.parse::<i128>() {
            Ok(n) => Kind::Int(n),
            Err(_) => Kind::Float(token.parse().ok()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn json(text: &str) -> Node {
        from_json(&Ctx::new(Path::new("t.json"), text, false)).expect("valid json")
    }

    #[test]
    fn json_spans_point_at_keys_and_values() {
        let text = "{\n  \"a\": [1, 2.5, \"x\\\"y\"],\n  \"b\": {\"c\": null, \"d\": true}\n}";
        let root = json(text);
        let Kind::Table(entries) = &root.kind else {
            panic!("table")
        };
        assert_eq!(entries[0].key, "a");
        assert_eq!(&text[entries[0].key_span.clone()], "\"a\"");
        let Kind::Array(items) = &entries[0].value.kind else {
            panic!("array")
        };
        assert_eq!(items[0].kind, Kind::Int(1));
        assert_eq!(items[1].kind, Kind::Float(2.5));
        assert_eq!(items[2].kind, Kind::Str("x\"y".into()));
        assert_eq!(&text[items[2].span.clone()], "\"x\\\"y\"");
        let Kind::Table(inner) = &entries[1].value.kind else {
            panic!("table")
        };
        assert_eq!(inner[0].value.kind, Kind::Null);
        assert_eq!(inner[1].value.kind, Kind::Bool(true));
    }

    #[test]
    fn json_unicode_escapes_and_empty_containers() {
        let root = json(r#"{"k": "\u00e9\ud83d\ude00", "e": {}, "l": []}"#);
        let Kind::Table(entries) = &root.kind else {
            panic!("table")
        };
        assert_eq!(entries[0].value.kind, Kind::Str("é😀".into()));
        assert_eq!(entries[1].value.kind, Kind::Table(vec![]));
        assert_eq!(entries[2].value.kind, Kind::Array(vec![]));
    }

    #[test]
    fn json_syntax_error_has_line_and_column() {
        let err = from_json(&Ctx::new(
            Path::new("t.json"),
            "{\n\"a\": 1,\n\"b\": }",
            false,
        ))
        .expect_err("invalid");
        let ConfigError::Syntax {
            line,
            column,
            message,
            ..
        } = &err
        else {
            panic!("{err}")
        };
        assert_eq!((*line, *column), (3, 6));
        assert_eq!(message, "expected value");
        assert_eq!(err.to_string(), "t.json:3:6: expected value");
    }

    #[test]
    fn toml_entries_come_in_file_order() {
        let ctx = Ctx::new(Path::new("t.toml"), "z = 1\na = 0x10\n", false);
        let Kind::Table(entries) = from_toml(&ctx).expect("valid").kind else {
            panic!()
        };
        let keys: Vec<_> = entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["z", "a"]);
        assert_eq!(entries[1].value.kind, Kind::Int(16));
    }
}
