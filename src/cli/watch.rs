//! `git oompa status --watch`: a full-screen view of every running swarm of the repository,
//! redrawn about once a second from the swarms' status files (`.git/oompa/swarms/<id>/
//! status.json`, see [`crate::swarm::live`]) and the workers' transcripts. It only reads
//! files: it works from any terminal, never talks to a swarm and never changes anything.
//!
//! Keys: `↑`/`↓` or `k`/`j` select a worker, `Enter` shows the live tail of its transcript,
//! `Esc`/`←`/`h` goes back, `q` (or `Esc` on the list, or Ctrl-C) leaves. Fits 80×24; with
//! `NO_COLOR` (or `--color never`) it uses no colour, only bold and reverse video. The terminal
//! is restored however it ends, a panic included.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossterm::event::{self, Event as TermEvent, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::Paragraph;
use unicode_width::UnicodeWidthStr;

use super::ui;
use super::{CommandError, Env};
use crate::swarm::live::{self, LiveStatus, Phase, WorkerStatus};

/// How often the files are read again.
const REFRESH: Duration = Duration::from_secs(1);
/// How much of a transcript's end the detail view reads.
const TRANSCRIPT_TAIL: u64 = 64 * 1024;

pub fn run(env: &Env) -> Result<(), CommandError> {
    let repo = env.repo()?;
    if !std::io::stdout().is_terminal() {
        return Err(CommandError::user(
            "`status --watch` draws on a terminal, and stdout is not one\n\
             hint: run `git oompa status --json` for scripts",
        ));
    }
    let common = repo.common_dir().to_path_buf();
    let root = repo.main_workdir();
    let mut view = View {
        common,
        repo_name: root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        color: env.ui.color_stdout(),
        swarms: Vec::new(),
        selected: None,
        detail: false,
    };
    // Restores the terminal on a panic (its hook) and on every return (the guard).
    let mut terminal = ratatui::init();
    let _restore = Restore;
    let mut loaded = None::<Instant>;
    loop {
        if loaded.is_none_or(|t| t.elapsed() >= REFRESH) {
            view.reload();
            loaded = Some(Instant::now());
        }
        terminal
            .draw(|f| view.draw(f))
            .map_err(|e| CommandError::user(format!("cannot draw on the terminal: {e}")))?;
        let wait = REFRESH.saturating_sub(loaded.map_or(REFRESH, |t| t.elapsed()));
        if !event::poll(wait).unwrap_or(false) {
            continue;
        }
        let Ok(TermEvent::Key(key)) = event::read() else {
            continue;
        };
        if key.kind != KeyEventKind::Press {
            continue;
        }
        let ctrl_c =
            key.modifiers.contains(KeyModifiers::CONTROL) && matches!(key.code, KeyCode::Char('c'));
        match key.code {
            _ if ctrl_c => break,
            KeyCode::Char('q') => break,
            KeyCode::Esc if !view.detail => break,
            KeyCode::Esc | KeyCode::Left | KeyCode::Backspace | KeyCode::Char('h') => {
                view.detail = false
            }
            KeyCode::Enter | KeyCode::Right | KeyCode::Char('l') => {
                view.detail = view.selected.is_some()
            }
            KeyCode::Up | KeyCode::Char('k') => view.step(-1),
            KeyCode::Down | KeyCode::Char('j') => view.step(1),
            _ => {}
        }
    }
    Ok(())
}

struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

struct View {
    common: PathBuf,
    repo_name: String,
    color: bool,
    swarms: Vec<LiveStatus>,
    /// The selected worker: (swarm, worker).
    selected: Option<(String, String)>,
    /// Showing the selected worker's transcript.
    detail: bool,
}

impl View {
    fn reload(&mut self) {
        self.swarms = live::running(&self.common);
        let all = self.all();
        let still = self
            .selected
            .as_ref()
            .is_some_and(|s| all.iter().any(|(sw, w)| sw == &s.0 && w == &s.1));
        if !still {
            self.selected = all.first().cloned();
            self.detail = false;
        }
    }

    /// Every (swarm, worker), in display order.
    fn all(&self) -> Vec<(String, String)> {
        self.swarms
            .iter()
            .flat_map(|s| {
                s.workers
                    .iter()
                    .map(|w| (s.swarm.clone(), w.worker.clone()))
            })
            .collect()
    }

    fn step(&mut self, by: isize) {
        if self.detail {
            return;
        }
        let all = self.all();
        if all.is_empty() {
            return;
        }
        let at = self
            .selected
            .as_ref()
            .and_then(|s| all.iter().position(|x| x == s))
            .unwrap_or(0);
        let next = at.saturating_add_signed(by).min(all.len() - 1);
        self.selected = Some(all[next].clone());
    }

    fn style(&self, color: Color) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }

    fn draw(&self, f: &mut Frame) {
        let [head, body, foot] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(1),
            Constraint::Length(1),
        ])
        .areas(f.area());
        let now = jiff::Timestamp::now()
            .to_zoned(jiff::tz::TimeZone::system())
            .strftime("%H:%M:%S")
            .to_string();
        let title = format!(" git oompa · {}", ui::escape(&self.repo_name));
        let pad = (head.width as usize).saturating_sub(title.width() + now.len() + 1);
        f.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(title, Style::new().add_modifier(Modifier::BOLD)),
                Span::raw(" ".repeat(pad)),
                Span::raw(now),
            ]))
            .style(Style::new().add_modifier(Modifier::REVERSED)),
            head,
        );
        let keys = if self.detail {
            " Esc/← back · q quit"
        } else {
            " ↑↓/jk select · Enter transcript · q quit"
        };
        f.render_widget(
            Paragraph::new(keys).style(Style::new().add_modifier(Modifier::DIM)),
            foot,
        );
        match (self.detail, self.selected_worker()) {
            (true, Some((s, w))) => self.draw_detail(f, body, s, w),
            _ => self.draw_list(f, body),
        }
    }

    fn selected_worker(&self) -> Option<(&LiveStatus, &WorkerStatus)> {
        let (sid, wid) = self.selected.as_ref()?;
        let s = self.swarms.iter().find(|s| &s.swarm == sid)?;
        let w = s.workers.iter().find(|w| &w.worker == wid)?;
        Some((s, w))
    }

    fn draw_list(&self, f: &mut Frame, area: Rect) {
        if self.swarms.is_empty() {
            let text = Text::from(vec![
                Line::from(""),
                Line::from(" No swarm is running in this repository."),
                Line::from(" Start one with `git oompa swarm`; it shows up here."),
            ]);
            f.render_widget(Paragraph::new(text), area);
            return;
        }
        // A worker's last line gets a row of its own when everything fits.
        let two_rows = self.rows() <= area.height as usize;
        let now = jiff::Timestamp::now();
        let mut lines: Vec<Line> = Vec::new();
        let mut selected_line = 0;
        for s in &self.swarms {
            let name_w = s
                .workers
                .iter()
                .map(|w| ui::escape(&w.worker).width())
                .max()
                .unwrap_or(6)
                .clamp(6, 14);
            lines.extend(self.swarm_head(s, name_w, now));
            for w in &s.workers {
                let is_sel = self
                    .selected
                    .as_ref()
                    .is_some_and(|(sid, wid)| sid == &s.swarm && wid == &w.worker);
                if is_sel {
                    selected_line = lines.len();
                }
                let width = area.width as usize;
                lines.extend(self.worker_lines(w, is_sel, name_w, two_rows, width, now));
            }
            lines.extend(merge_queue_line(s, now));
            lines.extend(self.conflict_lines(s));
        }
        // Keep the selected row on screen.
        let height = area.height as usize;
        let scroll = (selected_line + 2).saturating_sub(height);
        f.render_widget(
            Paragraph::new(Text::from(lines)).scroll((u16::try_from(scroll).unwrap_or(0), 0)),
            area,
        );
    }

    /// The rows the list takes when each worker's last line has a row of its own.
    fn rows(&self) -> usize {
        self.swarms
            .iter()
            .map(|s| 3 + 2 * s.workers.len() + usize::from(!s.merge_queue.is_empty()))
            .sum::<usize>()
            + self
                .swarms
                .iter()
                .map(|s| s.conflicts.len().min(3))
                .sum::<usize>()
    }

    /// A swarm's line, its queue's counts and the workers' column headings.
    fn swarm_head(&self, s: &LiveStatus, name_w: usize, now: jiff::Timestamp) -> [Line<'_>; 3] {
        [
            Line::from(vec![
                Span::styled(
                    format!("swarm {}", ui::escape(&s.swarm)),
                    self.style(Color::Green).add_modifier(Modifier::BOLD),
                ),
                Span::raw(format!(
                    " → {} · pid {} · up {} · {} landed",
                    ui::escape(&s.target),
                    s.pid,
                    age(&s.started, now),
                    s.landings
                )),
            ]),
            Line::from(format!(
                "queue: {} pending · {} claimed · {} complete",
                s.queue.pending, s.queue.claimed, s.queue.complete
            )),
            Line::from(format!(
                "  {:<name_w$} {:<32} {:>6} {:<10} {:>6} {:>6}",
                "WORKER", "PHASE", "FOR", "TASKS", "TOKENS", "COST"
            ))
            .style(Style::new().add_modifier(Modifier::BOLD)),
        ]
    }

    /// A worker's row, and its last line below it (`two_rows`) or at the row's end.
    fn worker_lines(
        &self,
        w: &WorkerStatus,
        is_sel: bool,
        name_w: usize,
        two_rows: bool,
        width: usize,
        now: jiff::Timestamp,
    ) -> Vec<Line<'_>> {
        let cells = format!(
            "{} {} {} {:>6} {} {:>6} {:>6}",
            if is_sel { ">" } else { " " },
            fit(&ui::escape(&w.worker), name_w),
            fit(&ui::escape(&w.phase.describe()), 32),
            age(&w.since, now),
            fit(&ui::escape(&w.tasks.join(",")), 10),
            tokens(&w.tokens),
            cost(&w.tokens),
        );
        let mut row = vec![Span::styled(cells, self.style(phase_color(&w.phase)))];
        let last = w.last_line.as_deref().map(ui::escape).unwrap_or_default();
        if !two_rows {
            row.push(Span::raw(" "));
            row.push(Span::styled(
                last.clone().into_owned(),
                Style::new().add_modifier(Modifier::DIM),
            ));
        }
        let mut line = Line::from(row);
        if is_sel {
            line = line.style(Style::new().add_modifier(Modifier::REVERSED));
        }
        let mut lines = vec![line];
        if two_rows {
            let indent = name_w + 3;
            lines.push(Line::from(Span::styled(
                format!(
                    "{}{}",
                    " ".repeat(indent),
                    fit(&last, width.saturating_sub(indent))
                ),
                Style::new().add_modifier(Modifier::DIM),
            )));
        }
        lines
    }

    /// Up to three predicted conflicts, and how many more there are.
    fn conflict_lines(&self, s: &LiveStatus) -> Vec<Line<'_>> {
        let mut lines: Vec<Line> = Vec::new();
        for c in s.conflicts.iter().take(3) {
            lines.push(Line::from(vec![
                Span::styled("predicted conflict: ", self.style(Color::Red)),
                Span::raw(format!(
                    "{} × {}: {}",
                    ui::escape(&c.a),
                    ui::escape(&c.b),
                    ui::escape(&c.paths.join(", "))
                )),
            ]));
        }
        if s.conflicts.len() > 3 {
            lines.push(Line::from(format!(
                "  … and {} more predicted conflicts",
                s.conflicts.len() - 3
            )));
        }
        lines
    }

    fn draw_detail(&self, f: &mut Frame, area: Rect, s: &LiveStatus, w: &WorkerStatus) {
        let now = jiff::Timestamp::now();
        let [info, tail] =
            Layout::vertical([Constraint::Length(3), Constraint::Min(1)]).areas(area);
        let path = w.transcript.as_deref().unwrap_or("");
        let head = Text::from(vec![
            Line::from(vec![
                Span::styled(
                    format!("{} ", ui::escape(&w.worker)),
                    Style::new().add_modifier(Modifier::BOLD),
                ),
                Span::styled(
                    ui::escape(&w.phase.describe()).into_owned(),
                    self.style(phase_color(&w.phase)),
                ),
                Span::raw(format!(
                    " for {} · swarm {} · cycle {}",
                    age(&w.since, now),
                    ui::escape(&s.swarm),
                    w.cycle
                )),
            ]),
            Line::from(format!(
                "tasks: {} · tokens: {} · cost: {} · {} landed",
                if w.tasks.is_empty() {
                    "none".to_string()
                } else {
                    ui::escape(&w.tasks.join(", ")).into_owned()
                },
                tokens(&w.tokens),
                cost(&w.tokens),
                ui::count(
                    usize::try_from(w.landed).unwrap_or(usize::MAX),
                    "task",
                    "tasks"
                )
            )),
            Line::from(Span::styled(
                format!(
                    "transcript: {}",
                    fit_left(&ui::escape(path), (area.width as usize).saturating_sub(12))
                ),
                Style::new().add_modifier(Modifier::DIM),
            )),
        ]);
        f.render_widget(Paragraph::new(head), info);
        let height = tail.height as usize;
        let lines = transcript_lines(Path::new(path), height);
        let text: Vec<Line> = if lines.is_empty() {
            vec![Line::from(Span::styled(
                "(nothing in the transcript yet)",
                Style::new().add_modifier(Modifier::DIM),
            ))]
        } else {
            lines.into_iter().map(Line::from).collect()
        };
        f.render_widget(Paragraph::new(Text::from(text)), tail);
    }
}

/// The changes in a swarm's merge queue, on one line, when there are any.
fn merge_queue_line(s: &LiveStatus, now: jiff::Timestamp) -> Option<Line<'static>> {
    if s.merge_queue.is_empty() {
        return None;
    }
    let items: Vec<String> = s
        .merge_queue
        .iter()
        .map(|m| {
            format!(
                "{} {} {} ({})",
                ui::escape(&m.worker),
                m.state,
                ui::escape(&m.tasks.join(",")),
                age(&m.since, now)
            )
        })
        .collect();
    Some(Line::from(vec![
        Span::styled("merge queue: ", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(items.join(" · ")),
    ]))
}

/// The last `n` lines of a transcript, escaped for display; a JSON event line shows the text
/// it carries.
fn transcript_lines(path: &Path, n: usize) -> Vec<String> {
    let Some(text) = live::tail(path, TRANSCRIPT_TAIL) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let l = line.trim_end();
        if l.trim_start().starts_with('{')
            && l.ends_with('}')
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(l)
        {
            match live::json_text(&v) {
                Some(t) => out.extend(t.lines().map(|x| ui::escape(x).into_owned())),
                None => continue,
            }
        } else {
            out.push(ui::escape(l).into_owned());
        }
    }
    let skip = out.len().saturating_sub(n);
    out.split_off(skip)
}

fn phase_color(p: &Phase) -> Color {
    match p {
        Phase::Turn { .. } => Color::Cyan,
        Phase::Review { .. } => Color::Magenta,
        Phase::Landing { .. } | Phase::Gating { .. } => Color::Green,
        Phase::BackingOff { .. } | Phase::Paused { .. } => Color::Yellow,
        Phase::Done { .. } => Color::DarkGray,
        _ => Color::Reset,
    }
}

/// `12s`, `3m05s` since an RFC 3339 time; `?` when it is not one.
fn age(since: &str, now: jiff::Timestamp) -> String {
    since
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|t| {
            let ms = now.duration_since(t).as_millis().max(0);
            ui::human_duration(u64::try_from(ms).unwrap_or(0).max(1000))
        })
        .unwrap_or_else(|| "?".into())
}

fn tokens(t: &crate::store::record::Tokens) -> String {
    match (t.input, t.output) {
        (None, None) => "-".into(),
        (i, o) => short_count(i.unwrap_or(0) + o.unwrap_or(0)),
    }
}

fn cost(t: &crate::store::record::Tokens) -> String {
    t.cost_usd
        .map(|c| format!("${c:.2}"))
        .unwrap_or_else(|| "-".into())
}

/// `950`, `12.3k`, `4.1M`.
fn short_count(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// `s` cut or padded to `w` columns (cut with `…`).
fn fit(s: &str, w: usize) -> String {
    if s.width() <= w {
        return format!("{s}{}", " ".repeat(w - s.width()));
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let cw = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + cw + 1 > w {
            break;
        }
        out.push(c);
        used += cw;
    }
    out.push('…');
    used += 1;
    format!("{out}{}", " ".repeat(w.saturating_sub(used)))
}

/// `s` cut from the left to `w` columns (`…` first): the end of a path is what tells.
fn fit_left(s: &str, w: usize) -> String {
    if s.width() <= w {
        return s.to_string();
    }
    let mut out: Vec<char> = Vec::new();
    let mut used = 1;
    for c in s.chars().rev() {
        let cw = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + cw > w {
            break;
        }
        out.push(c);
        used += cw;
    }
    out.push('…');
    out.into_iter().rev().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_cut_and_padded_to_their_width() {
        assert_eq!(fit("abc", 5), "abc  ");
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(short_count(12_345), "12.3k");
        assert_eq!(fit_left("/a/b/cycle-1.log", 10), "…cle-1.log");
        assert_eq!(fit_left("short", 10), "short");
    }
}
