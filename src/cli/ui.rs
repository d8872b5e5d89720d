//! The only thing in the crate that writes to the terminal.
//!
//! Data goes to stdout (so `| jq` works), status, warnings and errors to stderr. Colour only
//! when the stream is a terminal and `NO_COLOR` is unset, or when forced with `--color`.
//! Threads never hold a `Ui`; they send events to the thread that does.
//!
//! Text that someone else controls (agent output, task files, notes, another clone's
//! records) is data, never terminal control: [`escape`] shows its control characters the
//! way git quotes odd paths (`\033`, `\a`, `\n`), table cells are always escaped, and every
//! line the `Ui` writes passes a last filter that lets through only newlines, tabs and the
//! colour codes the `Ui` itself adds. JSON keeps the exact text (escaped the JSON way).
//!
//! Tables fit the terminal ([`Ui::width`]): `COLUMNS` when set, else the width of the
//! terminal stdout is, else (a pipe, a file) no limit, as gh does. `--wide` lifts the limit.

use std::borrow::Cow;
use std::fmt::{Display, Write as _};
use std::io::{IsTerminal, Write};

use anstyle::{AnsiColor, Style};
use jiff::Timestamp;
use unicode_width::UnicodeWidthStr;

use super::error::CommandError;

/// `--color` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

pub struct Ui {
    color_out: bool,
    color_err: bool,
    width: Option<usize>,
    /// While a swarm runs: stderr lines get a timestamp and go to its log too.
    progress: std::sync::Mutex<Option<super::progress::Progress>>,
}

const WARN: Style = AnsiColor::Yellow.on_default().bold();
const ERROR: Style = AnsiColor::Red.on_default().bold();
const HINT: Style = AnsiColor::Cyan.on_default();
pub const BOLD: Style = Style::new().bold();
pub const DIM: Style = Style::new().dimmed();
pub const GREEN: Style = AnsiColor::Green.on_default();
pub const RED: Style = AnsiColor::Red.on_default();
pub const YELLOW: Style = AnsiColor::Yellow.on_default();

impl Ui {
    pub fn new(choice: ColorChoice) -> Ui {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let pick = |tty: bool| match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && !no_color,
        };
        Ui {
            color_out: pick(std::io::stdout().is_terminal()),
            color_err: pick(std::io::stderr().is_terminal()),
            width: detect_width(),
            progress: std::sync::Mutex::new(None),
        }
    }

    /// From now on every line on stderr starts with the time (`HH:MM:SS`) and, with `log`,
    /// is appended to that file too (without colour). `None` ends it.
    pub fn set_progress(&self, progress: Option<super::progress::Progress>) {
        *self.progress.lock().unwrap_or_else(|e| e.into_inner()) = progress;
    }

    /// Whether stdout gets colour.
    pub fn color_stdout(&self) -> bool {
        self.color_out
    }

    /// How many columns stdout has for a table: `COLUMNS` when set to a number, else the
    /// terminal's width when stdout is one, else `None` (no limit: a pipe or a file).
    pub fn width(&self) -> Option<usize> {
        self.width
    }

    /// The width a table gets: none with `--wide`.
    pub fn table_width(&self, wide: bool) -> Option<usize> {
        if wide { None } else { self.width }
    }

    /// `text` in `style` when stdout is coloured.
    pub fn paint(&self, style: Style, text: impl Display) -> String {
        paint(self.color_out, style, text)
    }

    /// `text` in `style` when stderr is coloured.
    pub fn paint_err(&self, style: Style, text: impl Display) -> String {
        paint(self.color_err, style, text)
    }

    /// One line of data on stdout. A closed pipe becomes a quiet exit.
    pub fn out(&self, line: impl Display) -> Result<(), CommandError> {
        let line = line.to_string();
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", terminal_safe(&line, self.color_out))?;
        Ok(())
    }

    /// Raw data on stdout, no newline added (still passed through the terminal filter).
    pub fn out_raw(&self, data: &[u8]) -> Result<(), CommandError> {
        let text = String::from_utf8_lossy(data);
        let mut out = std::io::stdout().lock();
        out.write_all(terminal_safe(&text, self.color_out).as_bytes())?;
        out.flush()?;
        Ok(())
    }

    /// A table fitted to the terminal (`wide`: never cut), on stdout.
    pub fn out_table(&self, table: &Table, wide: bool) -> Result<(), CommandError> {
        let mut text = table.render(self.table_width(wide), self.color_out);
        text.push('\n');
        self.out_raw(text.as_bytes())
    }

    /// One JSON value on stdout, on one line (see [`json_text`]).
    pub fn out_json(&self, value: &serde_json::Value) -> Result<(), CommandError> {
        self.out(json_text(value))
    }

    /// A status line on stderr.
    pub fn status(&self, line: impl Display) {
        let mut line = line.to_string();
        if let Some(p) = self
            .progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            line = p.line(&line, |l| terminal_safe(l, false).into_owned());
        }
        let _ = writeln!(
            std::io::stderr().lock(),
            "{}",
            terminal_safe(&line, self.color_err)
        );
    }

    pub fn warn(&self, line: impl Display) {
        self.status(format!("{} {line}", self.paint_err(WARN, "warning:")));
    }

    pub fn hint(&self, line: impl Display) {
        self.status(format!("{} {line}", self.paint_err(HINT, "hint:")));
    }

    /// An error, or for a command stopped as asked (Ctrl-C, `git oompa stop`) a `stopped:`
    /// line: a requested stop is not a failure, though its exit status (130) says it did not
    /// finish.
    pub fn error(&self, err: &CommandError) {
        let label = match err.kind {
            super::error::Kind::Interrupted => self.paint_err(WARN, "stopped:"),
            _ => self.paint_err(ERROR, "error:"),
        };
        let mut s = format!("{label} {}", err.message);
        for c in &err.causes {
            let _ = write!(s, "\n  caused by: {c}");
        }
        for h in &err.hints {
            let _ = write!(s, "\n{} {h}", self.paint_err(HINT, "hint:"));
        }
        self.status(s);
    }
}

fn paint(on: bool, style: Style, text: impl Display) -> String {
    if on {
        format!("{style}{text}{style:#}")
    } else {
        text.to_string()
    }
}

/// `COLUMNS` when it is a positive number, else the width of the terminal stdout is.
fn detect_width() -> Option<usize> {
    if let Some(cols) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0)
    {
        return Some(cols);
    }
    terminal_size::terminal_size_of(std::io::stdout())
        .map(|(w, _)| usize::from(w.0))
        .filter(|&w| w > 0)
}

// ---------------------------------------------------------------------------------------
// Text that is data

/// Whether `c` would act on a terminal (or reorder what it shows) instead of being shown:
/// C0 and C1 controls, DEL, bidirectional overrides and line/paragraph separators.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}'
        )
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\t' => out.push_str("\\t"),
        '\n' => out.push_str("\\n"),
        '\x0b' => out.push_str("\\v"),
        '\x0c' => out.push_str("\\f"),
        '\r' => out.push_str("\\r"),
        c => {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "\\{b:03o}");
            }
        }
    }
}

/// Text someone else controls, made safe to show on one line: every control character
/// (newlines and tabs too) is shown escaped, as git quotes odd paths: `\033`, `\a`, `\n`,
/// `\302\233`. Everything else, backslashes included, is left as it is.
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_keeping(s, false)
}

/// Like [`escape`], but keeps newlines: for multi-line text (a description, review
/// findings) shown as lines of its own.
pub fn escape_lines(s: &str) -> Cow<'_, str> {
    escape_keeping(s, true)
}

fn escape_keeping(s: &str, newlines: bool) -> Cow<'_, str> {
    let bad = |c: char| is_unsafe(c) && !(newlines && c == '\n');
    if !s.chars().any(bad) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if bad(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The last line of defence before the terminal: escapes every control character except
/// newlines, tabs and (when `sgr` is on) the colour codes (`ESC [ digits ; m`) the `Ui`
/// paints with. Text from elsewhere should already be [`escape`]d where it was formatted;
/// this only makes sure nothing that moves the cursor, clears the screen or sets the title
/// gets through a path that forgot.
fn terminal_safe(s: &str, sgr: bool) -> Cow<'_, str> {
    // Fast path: no byte that can start an unsafe character.
    let suspect =
        |b: u8| (b < 0x20 && b != b'\n' && b != b'\t') || matches!(b, 0x7f | 0xc2 | 0xd8 | 0xe2);
    if !s.bytes().any(suspect) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if c == '\x1b' && sgr {
            let body = &rest[1..];
            if let Some(params) = body.strip_prefix('[') {
                let len = params
                    .bytes()
                    .take_while(|b| b.is_ascii_digit() || *b == b';')
                    .count();
                if params[len..].starts_with('m') {
                    let seq = 2 + len + 1;
                    out.push_str(&rest[..seq]);
                    rest = &rest[seq..];
                    continue;
                }
            }
        }
        if c != '\n' && c != '\t' && is_unsafe(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(out)
}

// ---------------------------------------------------------------------------------------
// JSON

/// The version of git oompa's JSON output convention (README, "JSON output"): every
/// `--json` prints exactly one JSON value: an array for commands that list things, one
/// element per line; an object for commands about one thing, on one line. Every object at
/// the top level or in the top-level array has a `version` (for tasks and cycle records,
/// their stored format version). Within a version fields are only ever added.
pub const JSON_VERSION: u32 = 1;

/// `value` as compact JSON, with the characters a terminal would act on that JSON allows
/// raw (DEL, C1 controls, bidi overrides) written as `\uXXXX`: the same text, for any JSON
/// reader, and nothing that controls a terminal when shown.
pub fn json_text(value: &serde_json::Value) -> String {
    json_safe(&value.to_string()).into_owned()
}

/// Serialized JSON with DEL, C1 controls and bidi overrides written as `\uXXXX` (serde_json
/// escapes only what JSON requires, below U+0020).
fn json_safe(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    // Outside strings JSON is plain ASCII, so every such character is inside a string.
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_unsafe(c) {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A JSON array written as it grows, one element per line (`[`, elements, `]`), so that
/// 100,000 cycle records stream out and line tools (`grep`, `wc -l`) still see one element
/// per line. Written in large pieces: one write per element is slow.
pub struct JsonArray<'u> {
    ui: &'u Ui,
    buf: String,
    first: bool,
}

impl<'u> JsonArray<'u> {
    pub fn new(ui: &'u Ui) -> Self {
        JsonArray {
            ui,
            buf: String::from("["),
            first: true,
        }
    }

    /// Adds one element.
    pub fn push(&mut self, value: &serde_json::Value) -> Result<(), CommandError> {
        self.push_text(&json_text(value))
    }

    /// Adds one element already serialized as one line of JSON.
    pub fn push_text(&mut self, json: &str) -> Result<(), CommandError> {
        self.buf.push_str(if self.first { "\n" } else { ",\n" });
        self.first = false;
        self.buf.push_str(&json_safe(json));
        if self.buf.len() >= 1 << 16 {
            self.ui.out_raw(self.buf.as_bytes())?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Closes the array.
    pub fn finish(mut self) -> Result<(), CommandError> {
        self.buf.push_str(if self.first { "]\n" } else { "\n]\n" });
        self.ui.out_raw(self.buf.as_bytes())
    }
}

/// Writes every element of `values` as one JSON array.
pub fn out_json_array(
    ui: &Ui,
    values: impl IntoIterator<Item = serde_json::Value>,
) -> Result<(), CommandError> {
    let mut arr = JsonArray::new(ui);
    for v in values {
        arr.push(&v)?;
    }
    arr.finish()
}

// ---------------------------------------------------------------------------------------
// Tables

/// One table cell: its text (always shown escaped) and an optional style, applied after
/// layout so colour never counts as width. Shorter forms, longest first, are used when the
/// column is cut (`a,b,c +2` before `a +4`); the last is cut with `…` when even it is too
/// wide.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    forms: Vec<String>,
    style: Option<Style>,
}

impl Cell {
    pub fn new(text: impl AsRef<str>) -> Cell {
        Cell {
            forms: vec![escape(text.as_ref()).into_owned()],
            style: None,
        }
    }

    /// The cell in `style` (when the stream is coloured).
    pub fn styled(mut self, style: Style) -> Cell {
        self.style = Some(style);
        self
    }

    /// Adds a shorter form of the text, used when the full one does not fit.
    pub fn or_shorter(mut self, text: impl AsRef<str>) -> Cell {
        self.forms.push(escape(text.as_ref()).into_owned());
        self
    }

    fn width(&self) -> usize {
        self.forms.first().map_or(0, |f| f.width())
    }

    /// The text in at most `width` columns.
    fn fit(&self, width: usize) -> Cow<'_, str> {
        for f in &self.forms {
            if f.width() <= width {
                return Cow::Borrowed(f);
            }
        }
        let last = self.forms.last().map_or("", String::as_str);
        Cow::Owned(truncate(last, width))
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Cell {
        Cell::new(s)
    }
}

impl From<&String> for Cell {
    fn from(s: &String) -> Cell {
        Cell::new(s)
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell::new(s)
    }
}

/// A plain, borderless table (the look of `git branch -v`, not a box drawing), two spaces
/// between columns, no trailing spaces. Columns marked [`Table::shrink`] give up width, in
/// the order they were marked, when the table is wider than the terminal; their cells are
/// cut with `…`.
#[derive(Debug, Clone, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<Cell>>,
    /// (column, narrowest it may become), in the order columns give up width.
    shrink: Vec<(usize, usize)>,
    /// Columns aligned to the right (numbers).
    right: Vec<usize>,
}

const GAP: usize = 2;

impl Table {
    pub fn add_row<C: Into<Cell>>(&mut self, row: impl IntoIterator<Item = C>) -> &mut Self {
        self.rows.push(row.into_iter().map(Into::into).collect());
        self
    }

    /// Lets column `col` shrink down to `min` columns when the table does not fit.
    pub fn shrink(&mut self, col: usize, min: usize) -> &mut Self {
        self.shrink.push((col, min.max(1)));
        self
    }

    /// Aligns column `col` to the right.
    pub fn align_right(&mut self, col: usize) -> &mut Self {
        self.right.push(col);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The width of each column, cut to fit `limit` where columns may shrink.
    fn widths(&self, limit: Option<usize>) -> Vec<usize> {
        let n = self.header.len();
        let mut w: Vec<usize> = self.header.iter().map(|h| h.width()).collect();
        for row in &self.rows {
            for (i, c) in row.iter().enumerate().take(n) {
                w[i] = w[i].max(c.width());
            }
        }
        let Some(limit) = limit else { return w };
        let total = w.iter().sum::<usize>() + GAP * n.saturating_sub(1);
        let mut excess = total.saturating_sub(limit);
        for &(col, min) in &self.shrink {
            if excess == 0 {
                break;
            }
            let Some(cw) = w.get_mut(col) else { continue };
            let give = cw.saturating_sub(min).min(excess);
            *cw -= give;
            excess -= give;
        }
        w
    }

    /// The table as text, fitted to `width` columns when given; colour only when `color`.
    pub fn render(&self, width: Option<usize>, color: bool) -> String {
        let limits = self.widths(width);
        let header: Vec<Cell> = self.header.iter().map(Cell::new).collect();
        // Every cell in the width its column got; a cut column then takes only what its
        // widest fitted cell needs.
        let fitted: Vec<Vec<(Cow<'_, str>, Option<Style>)>> = std::iter::once(&header)
            .chain(&self.rows)
            .map(|row| {
                limits
                    .iter()
                    .enumerate()
                    .map(|(i, &w)| match row.get(i) {
                        Some(c) => (c.fit(w), c.style),
                        None => (Cow::Borrowed(""), None),
                    })
                    .collect()
            })
            .collect();
        let widths: Vec<usize> = (0..limits.len())
            .map(|i| fitted.iter().map(|r| r[i].0.width()).max().unwrap_or(0))
            .collect();
        let last = widths.len().saturating_sub(1);
        let mut out = String::new();
        for (r, row) in fitted.iter().enumerate() {
            if r > 0 {
                out.push('\n');
            }
            let mut line = String::new();
            for (i, (text, style)) in row.iter().enumerate() {
                let pad = widths[i].saturating_sub(text.width());
                if i > 0 {
                    line.push_str(&" ".repeat(GAP));
                }
                let right = self.right.contains(&i);
                if right {
                    line.push_str(&" ".repeat(pad));
                }
                match style {
                    Some(style) if color && r > 0 && !text.is_empty() => {
                        line.push_str(&paint(true, *style, text))
                    }
                    _ => line.push_str(text),
                }
                if !right && i < last {
                    line.push_str(&" ".repeat(pad));
                }
            }
            out.push_str(line.trim_end());
        }
        out
    }
}

/// A table with these column headers.
pub fn table(header: &[&str]) -> Table {
    Table {
        header: header.iter().map(|h| h.to_string()).collect(),
        ..Table::default()
    }
}

/// Renders a table plainly, whatever its width (for text that is not going to a terminal).
pub fn render_table(t: &Table) -> String {
    t.render(None, false)
}

/// `s` cut to at most `width` columns, ending in `…` when cut.
pub fn truncate(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let cw = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + cw > width - 1 {
            break;
        }
        out.push(c);
        used += cw;
    }
    out.push('…');
    out
}

/// `text` word-wrapped to `width` columns (when given) for a value shown after a label
/// `indent` columns wide: every line after the first is indented by `indent` spaces.
/// Words longer than a line are left whole.
pub fn wrap(text: &str, width: Option<usize>, indent: usize) -> String {
    wrap_from(text, width, indent, indent)
}

/// Like [`wrap`], for a first line that starts at column `start`.
pub fn wrap_from(text: &str, width: Option<usize>, start: usize, indent: usize) -> String {
    let Some(width) = width.filter(|&w| w > indent + 10) else {
        return text.to_string();
    };
    let mut out = String::new();
    let mut col = start;
    for word in text.split(' ') {
        let ww = word.width();
        if !out.is_empty() && col + 1 + ww > width {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            col = indent;
        } else if !out.is_empty() {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += ww;
    }
    out
}

// ---------------------------------------------------------------------------------------
// Words and numbers

/// `1 task`, `2 tasks`: a count with its noun in the right number.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `850ms`, `42s`, `3m05s`, `2h07m`.
pub fn human_duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0 => format!("{ms}ms"),
        1..60 => format!("{s}s"),
        60..3_600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3_600, s % 3_600 / 60),
    }
}

/// How long before `now` a moment was, as a person says it: `just now`, `42 sec ago`,
/// `3 min ago`, `5 hours ago`, `2 days ago`; past two weeks the date (`2026-01-31`).
pub fn ago(then: Timestamp, now: Timestamp) -> String {
    let secs = now.duration_since(then).as_secs();
    if secs < -60 {
        return format!("in {}", ago(now, then).trim_end_matches(" ago"));
    }
    match secs {
        ..5 => "just now".to_string(),
        5..60 => format!("{secs} sec ago"),
        60..3_600 => format!("{} min ago", secs / 60),
        3_600..86_400 => format!("{} ago", count((secs / 3_600) as usize, "hour", "hours")),
        86_400..1_209_600 => format!("{} ago", count((secs / 86_400) as usize, "day", "days")),
        _ => then.strftime("%Y-%m-%d").to_string(),
    }
}

/// A stored timestamp for a table: how long ago, or (`wide`) the full time in UTC; the
/// stored text, escaped, when it is not a timestamp.
pub fn when(raw: &str, wide: bool) -> String {
    match raw.parse::<Timestamp>() {
        Ok(ts) if wide => ts.strftime("%Y-%m-%d %H:%M:%S").to_string(),
        Ok(ts) => ago(ts, Timestamp::now()),
        Err(_) => escape(raw).into_owned(),
    }
}

/// A stored timestamp for a detail view: the time in UTC to the second and, within the
/// last two weeks, how long ago (`2026-01-31 12:00:05 UTC, 3 min ago`); the stored text,
/// escaped, when it is not one.
pub fn when_long(raw: &str) -> String {
    match raw.parse::<Timestamp>() {
        Ok(ts) => {
            let full = format!("{} UTC", ts.strftime("%Y-%m-%d %H:%M:%S"));
            let ago = ago(ts, Timestamp::now());
            if ago.contains(" ago") || ago.starts_with("in ") || ago == "just now" {
                format!("{full}, {ago}")
            } else {
                full
            }
        }
        Err(_) => escape(raw).into_owned(),
    }
}

/// The colour of a cycle outcome: landed green, failed red, the rest yellow.
pub fn outcome_style(o: crate::store::record::Outcome) -> Style {
    use crate::store::record::Outcome;
    match o {
        Outcome::Merged => GREEN,
        Outcome::Error | Outcome::Conflict | Outcome::Rejected | Outcome::GateFailed => RED,
        _ => YELLOW,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_escaped_the_way_git_quotes_paths() {
        assert_eq!(
            escape("evil \x1b]0;PWNED\x07 \x1b[2J"),
            "evil \\033]0;PWNED\\a \\033[2J"
        );
        assert_eq!(escape("a\nb\tc\r"), "a\\nb\\tc\\r");
        assert_eq!(escape("csi \u{9b}2J"), "csi \\302\\2332J");
        assert_eq!(escape("rtl \u{202e}txt"), "rtl \\342\\200\\256txt");
        assert_eq!(escape("Ünïcödé \\ plain"), "Ünïcödé \\ plain");
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
        assert_eq!(escape_lines("one\ntwo\x1b[2J"), "one\ntwo\\033[2J");
    }

    #[test]
    fn the_last_filter_lets_only_our_colours_through() {
        let ours = paint(true, RED, "red");
        assert_eq!(terminal_safe(&ours, true), ours);
        assert_eq!(terminal_safe(&ours, false), "\\033[31mred\\033[0m");
        assert_eq!(
            terminal_safe("\x1b]0;PWNED\x07 \x1b[2J a\tb\n", true),
            "\\033]0;PWNED\\a \\033[2J a\tb\n"
        );
    }

    #[test]
    fn a_json_array_keeps_c1_controls_valid_json() {
        let v = serde_json::json!({"s": "csi \u{9b}2J del \u{7f}"});
        let safe = json_safe(&v.to_string()).into_owned();
        assert_eq!(
            terminal_safe(&safe, false),
            safe,
            "nothing left for the last filter"
        );
        let back: serde_json::Value = serde_json::from_str(&safe).expect("valid JSON");
        assert_eq!(back, v);
    }

    #[test]
    fn json_keeps_the_text_but_not_the_terminal_controls() {
        let v = serde_json::json!({"s": "a\u{1b}[2J \u{9b}x \u{202e}"});
        let text = json_text(&v);
        assert!(!text.chars().any(is_unsafe), "{text}");
        let back: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(back, v);
    }

    #[test]
    fn tables_cut_the_shrinkable_column_with_an_ellipsis() {
        let mut t = table(&["ID", "SUMMARY"]);
        t.add_row(["t1", "a summary that is far too long for the space"]);
        t.shrink(1, 5);
        let text = t.render(Some(20), false);
        for line in text.lines() {
            assert!(line.width() <= 20, "{line:?}");
        }
        assert!(text.contains('…'), "{text}");
        assert!(t.render(None, false).contains("for the space"));
    }

    #[test]
    fn colour_does_not_count_as_width() {
        let mut t = table(&["NAME", "STATUS", "PATH"]);
        t.add_row([
            Cell::new("a"),
            Cell::new("found").styled(GREEN),
            Cell::new("/x"),
        ]);
        t.add_row([
            Cell::new("bb"),
            Cell::new("missing").styled(RED),
            Cell::new("-"),
        ]);
        let plain = t.render(None, false);
        let coloured = t.render(None, true);
        let strip = |s: &str| {
            let mut out = String::new();
            let mut in_esc = false;
            for c in s.chars() {
                match (in_esc, c) {
                    (false, '\x1b') => in_esc = true,
                    (true, 'm') => in_esc = false,
                    (true, _) => {}
                    (false, c) => out.push(c),
                }
            }
            out
        };
        assert_eq!(strip(&coloured), plain);
    }

    #[test]
    fn shorter_forms_are_used_before_cutting() {
        let mut t = table(&["TASKS"]);
        t.add_row([Cell::new("alpha,beta,gamma").or_shorter("alpha +2")]);
        t.shrink(0, 3);
        assert_eq!(t.render(Some(10), false).lines().nth(1), Some("alpha +2"));
        assert_eq!(t.render(Some(5), false).lines().nth(1), Some("alph…"));
    }

    #[test]
    fn times_read_like_a_person_would_say_them() {
        let now: Timestamp = "2026-01-31T12:00:00Z".parse().expect("fixture");
        let at = |s: &str| ago(s.parse().expect("fixture"), now);
        assert_eq!(at("2026-01-31T11:59:58Z"), "just now");
        assert_eq!(at("2026-01-31T11:59:18Z"), "42 sec ago");
        assert_eq!(at("2026-01-31T11:57:00Z"), "3 min ago");
        assert_eq!(at("2026-01-31T11:00:00Z"), "1 hour ago");
        assert_eq!(at("2026-01-31T07:00:00Z"), "5 hours ago");
        assert_eq!(at("2026-01-30T12:00:00Z"), "1 day ago");
        assert_eq!(at("2025-12-01T12:00:00Z"), "2025-12-01");
        assert_eq!(at("2026-01-31T12:05:00Z"), "in 5 min");
    }

    #[test]
    fn counts_agree_with_their_nouns() {
        assert_eq!(count(1, "task", "tasks"), "1 task");
        assert_eq!(count(0, "task", "tasks"), "0 tasks");
        assert_eq!(count(2, "review round", "review rounds"), "2 review rounds");
    }

    #[test]
    fn wrapping_keeps_an_indent() {
        let w = wrap("one two three four five six seven", Some(16), 4);
        assert_eq!(w, "one two\n    three four\n    five six\n    seven");
    }
}
