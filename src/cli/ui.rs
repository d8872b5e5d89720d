//! The only thing in the crate that writes to the terminal.
//!
//! Data goes to stdout (so `| jq` works), status, warnings and errors to stderr. Colour only
//! when the stream is a terminal and `NO_COLOR` is unset, or when forced with `--color`.
//! Threads never hold a `Ui`; they send events to the thread that does.

use std::fmt::Display;
use std::io::{IsTerminal, Write};

use anstyle::{AnsiColor, Style};

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
        }
    }

    /// Whether stdout gets colour.
    pub fn color_stdout(&self) -> bool {
        self.color_out
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
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        Ok(())
    }

    /// Raw data on stdout, no newline added.
    pub fn out_raw(&self, data: &[u8]) -> Result<(), CommandError> {
        let mut out = std::io::stdout().lock();
        out.write_all(data)?;
        out.flush()?;
        Ok(())
    }

    /// A status line on stderr.
    pub fn status(&self, line: impl Display) {
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }

    pub fn warn(&self, line: impl Display) {
        let _ = writeln!(
            std::io::stderr().lock(),
            "{} {line}",
            self.paint_err(WARN, "warning:")
        );
    }

    pub fn hint(&self, line: impl Display) {
        let _ = writeln!(
            std::io::stderr().lock(),
            "{} {line}",
            self.paint_err(HINT, "hint:")
        );
    }

    pub fn error(&self, err: &CommandError) {
        let mut s = std::io::stderr().lock();
        let _ = writeln!(s, "{} {}", self.paint_err(ERROR, "error:"), err.message);
        for c in &err.causes {
            let _ = writeln!(s, "  caused by: {c}");
        }
        for h in &err.hints {
            let _ = writeln!(s, "{} {h}", self.paint_err(HINT, "hint:"));
        }
    }
}

fn paint(on: bool, style: Style, text: impl Display) -> String {
    if on {
        format!("{style}{text}{style:#}")
    } else {
        text.to_string()
    }
}

/// A plain, borderless table (the look of `git branch -v`, not a box drawing).
pub fn table(header: &[&str]) -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::NOTHING)
        .set_content_arrangement(comfy_table::ContentArrangement::Disabled)
        .set_header(header.iter().map(|h| h.to_string()));
    t
}

/// Renders a table without the trailing spaces comfy-table pads lines with.
pub fn render_table(t: &comfy_table::Table) -> String {
    t.lines()
        .map(|l| l.trim_end().to_string())
        .map(|l| l.strip_prefix(' ').unwrap_or(&l).to_string())
        .collect::<Vec<_>>()
        .join("\n")
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

/// The colour of a cycle outcome: landed green, failed red, the rest yellow.
pub fn outcome_style(o: crate::store::record::Outcome) -> Style {
    use crate::store::record::Outcome;
    match o {
        Outcome::Merged => GREEN,
        Outcome::Error | Outcome::Conflict | Outcome::Rejected | Outcome::GateFailed => RED,
        _ => YELLOW,
    }
}
