//! A reader for the EDN that oompa 0.7.1 wrote its task files in (one map per file, see the
//! reference §5.2), turned into JSON values so one converter serves both formats.
//!
//! It reads what such files hold: maps, vectors, lists, sets, keywords, symbols, strings,
//! integers and floats, `nil`, booleans, characters, tagged values (`#inst "…"` keeps its
//! string), `;` comments, commas as whitespace and `#_` discards. Keywords and symbols become
//! strings without the colon (`:easy` → `"easy"`), sets and lists become arrays, map keys
//! become strings. An unknown string escape keeps the escaped character (`\`` → `` ` ``):
//! planners wrote those, and oompa's later `lint-tasks` repaired them the same way.

use serde_json::{Map, Number, Value};

/// Parses one EDN value (anything after it but whitespace and comments is an error).
pub fn parse(text: &str) -> Result<Value, String> {
    let mut r = Reader {
        chars: text.chars().collect(),
        pos: 0,
    };
    let value = r.value()?.ok_or_else(|| r.error("no value in the file"))?;
    r.skip_blank();
    if r.pos < r.chars.len() {
        return Err(r.error("more than one value in the file"));
    }
    Ok(value)
}

struct Reader {
    chars: Vec<char>,
    pos: usize,
}

impl Reader {
    fn error(&self, what: &str) -> String {
        let before = &self.chars[..self.pos.min(self.chars.len())];
        let line = before.iter().filter(|&&c| c == '\n').count() + 1;
        let col = before.iter().rev().take_while(|&&c| c != '\n').count() + 1;
        format!("not EDN: {what} at line {line}, column {col}")
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_blank(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() || c == ',' {
                self.pos += 1;
            } else if c == ';' {
                while self.peek().is_some_and(|c| c != '\n') {
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// The next value, or `None` at the end of the input or before a closing delimiter.
    fn value(&mut self) -> Result<Option<Value>, String> {
        self.skip_blank();
        let Some(c) = self.peek() else {
            return Ok(None);
        };
        let v = match c {
            ')' | ']' | '}' => return Ok(None),
            '{' => {
                self.pos += 1;
                self.map()?
            }
            '[' => {
                self.pos += 1;
                Value::Array(self.seq(']')?)
            }
            '(' => {
                self.pos += 1;
                Value::Array(self.seq(')')?)
            }
            '"' => {
                self.pos += 1;
                Value::String(self.string()?)
            }
            '\\' => {
                self.pos += 1;
                Value::String(self.character()?)
            }
            '#' => return self.dispatch(),
            _ => self.atom()?,
        };
        Ok(Some(v))
    }

    fn seq(&mut self, close: char) -> Result<Vec<Value>, String> {
        let mut items = Vec::new();
        while let Some(v) = self.value()? {
            items.push(v);
        }
        self.close(close)?;
        Ok(items)
    }

    fn close(&mut self, close: char) -> Result<(), String> {
        match self.peek() {
            Some(c) if c == close => {
                self.pos += 1;
                Ok(())
            }
            Some(c) => Err(self.error(&format!("`{c}` where `{close}` was expected"))),
            None => Err(self.error(&format!("the file ends before `{close}`"))),
        }
    }

    fn map(&mut self) -> Result<Value, String> {
        let mut map = Map::new();
        while let Some(k) = self.value()? {
            let key = match k {
                Value::String(s) => s,
                other => other.to_string(),
            };
            let v = self
                .value()?
                .ok_or_else(|| self.error(&format!("the key `{key}` has no value")))?;
            map.insert(key, v);
        }
        self.close('}')?;
        Ok(Value::Object(map))
    }

    fn dispatch(&mut self) -> Result<Option<Value>, String> {
        self.pos += 1;
        match self.peek() {
            Some('{') => {
                self.pos += 1;
                Ok(Some(Value::Array(self.seq('}')?)))
            }
            Some('_') => {
                self.pos += 1;
                self.value()?
                    .ok_or_else(|| self.error("`#_` discards nothing"))?;
                self.value()
            }
            Some(c) if c.is_alphabetic() => {
                // A tagged value (`#inst "2026-…"`, `#uuid "…"`): keep the value.
                self.atom()?;
                self.value()?
                    .ok_or_else(|| self.error("a tag without a value"))
                    .map(Some)
            }
            _ => Err(self.error("an unsupported `#` form")),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        let mut s = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error("the file ends inside a string"));
            };
            self.pos += 1;
            match c {
                '"' => return Ok(s),
                '\\' => {
                    let Some(e) = self.peek() else {
                        return Err(self.error("the file ends inside a string"));
                    };
                    self.pos += 1;
                    match e {
                        'n' => s.push('\n'),
                        't' => s.push('\t'),
                        'r' => s.push('\r'),
                        'b' => s.push('\u{8}'),
                        'f' => s.push('\u{c}'),
                        'u' => s.push(self.unicode()?),
                        other => s.push(other),
                    }
                }
                c => s.push(c),
            }
        }
    }

    fn unicode(&mut self) -> Result<char, String> {
        let hex: String = self.chars.iter().skip(self.pos).take(4).collect();
        let code = u32::from_str_radix(&hex, 16)
            .ok()
            .filter(|_| hex.len() == 4)
            .and_then(char::from_u32)
            .ok_or_else(|| self.error("a bad `\\u` escape"))?;
        self.pos += 4;
        Ok(code)
    }

    fn character(&mut self) -> Result<String, String> {
        let word = self.token();
        let c = match word.as_str() {
            "newline" => "\n".to_string(),
            "space" => " ".to_string(),
            "tab" => "\t".to_string(),
            "return" => "\r".to_string(),
            w if w.chars().count() == 1 => w.to_string(),
            "" => match self.peek() {
                // `\(` and other delimiters read as themselves.
                Some(c) => {
                    self.pos += 1;
                    c.to_string()
                }
                None => return Err(self.error("the file ends after `\\`")),
            },
            w if w.starts_with('u') && w.len() == 5 => u32::from_str_radix(&w[1..], 16)
                .ok()
                .and_then(char::from_u32)
                .map(String::from)
                .ok_or_else(|| self.error("a bad character literal"))?,
            _ => return Err(self.error(&format!("an unknown character `\\{word}`"))),
        };
        Ok(c)
    }

    /// A run of characters up to whitespace or a delimiter.
    fn token(&mut self) -> String {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_whitespace() || matches!(c, ',' | '(' | ')' | '[' | ']' | '{' | '}' | '"' | ';')
            {
                break;
            }
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn atom(&mut self) -> Result<Value, String> {
        let word = self.token();
        if word.is_empty() {
            return Err(self.error("an unexpected character"));
        }
        Ok(match word.as_str() {
            "nil" => Value::Null,
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            w => match w.strip_prefix(':') {
                Some(keyword) => Value::String(keyword.trim_start_matches(':').to_string()),
                None => number(w).unwrap_or_else(|| Value::String(w.to_string())),
            },
        })
    }
}

/// `42`, `-3`, `+7`, `42N`, `1.5`, `1e3`, `1.5M`, `1/2` as numbers; anything else `None`.
fn number(w: &str) -> Option<Value> {
    let first = w.chars().next()?;
    let digits = w.strip_prefix(['+', '-']).unwrap_or(w);
    if !(first.is_ascii_digit() || digits.starts_with(|c: char| c.is_ascii_digit())) {
        return None;
    }
    let w = w.strip_prefix('+').unwrap_or(w);
    if let Some(int) = w.strip_suffix('N') {
        return int.parse::<i64>().ok().map(Value::from);
    }
    if let Ok(n) = w.parse::<i64>() {
        return Some(Value::from(n));
    }
    if let Some((a, b)) = w.split_once('/') {
        let (a, b) = (a.parse::<f64>().ok()?, b.parse::<f64>().ok()?);
        return Number::from_f64(a / b).map(Value::Number);
    }
    let float = w.strip_suffix('M').unwrap_or(w);
    float
        .parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_an_oompa_task_with_every_kind_of_value() {
        let text = r#"
            ; written by the planner
            {:id "auth-001", :summary "Add login" :difficulty :medium
             :priority 2 :ratio 1/2 :big 42N :dec 1.5M :neg -3
             :files ["src/auth.clj" "test/auth_test.clj"]
             :acceptance ("logs in" "rejects a bad password")
             :tags #{:auth} :done? false :completed-by nil
             :completed-at #inst "2026-02-01T10:00:00.000-00:00"
             #_ :ignored #_ "this too"
             :note "a `quoted` word, a tab\tand \u00e9" :sep \,}"#;
        let v = parse(text).expect("reads");
        assert_eq!(
            v,
            json!({
                "id": "auth-001", "summary": "Add login", "difficulty": "medium",
                "priority": 2, "ratio": 0.5, "big": 42, "dec": 1.5, "neg": -3,
                "files": ["src/auth.clj", "test/auth_test.clj"],
                "acceptance": ["logs in", "rejects a bad password"],
                "tags": ["auth"], "done?": false, "completed-by": null,
                "completed-at": "2026-02-01T10:00:00.000-00:00",
                "note": "a `quoted` word, a tab\tand é", "sep": ","
            })
        );
    }

    #[test]
    fn a_bad_escape_keeps_its_character_and_broken_files_say_where() {
        assert_eq!(
            parse(r#"{:summary "use \`x\`"}"#).expect("lenient"),
            json!({"summary": "use `x`"})
        );
        let err = parse("{:id \"a\"\n :summary \"b\"").expect_err("unclosed");
        assert!(err.contains("ends before `}`"), "{err}");
        let err = parse("{:id}").expect_err("no value");
        assert!(err.contains("the key `id` has no value"), "{err}");
        let err = parse("{:a 1} {:b 2}").expect_err("two values");
        assert!(err.contains("more than one value"), "{err}");
        let err = parse("{:a [1 2}").expect_err("mismatched");
        assert!(err.contains("line 1, column 9"), "{err}");
    }
}
