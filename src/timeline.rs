//! `git oompa log --timeline`: one swarm's cycle records drawn as a picture (SVG, or an HTML
//! page holding it).
//!
//! One lane per worker (in name order, `w2` before `w10`), each cycle a bar from its start to
//! its end coloured by outcome; inside a bar, what the record says happened when: the agent's
//! turns and reviewers' turns (the record's `spans`), landing-gate runs (`gate`), and the time
//! an approved change waited to land (`queue_ms`), pauses for a usage limit (`pauses`). Landings are marks on the target's lane at
//! the top, with a time axis above and below and a legend under the lanes. Every bar and mark
//! has a tooltip (`<title>`) with the details.
//!
//! What the records do not hold is not drawn: when exactly a review round or a fix turn
//! started (reviewer turns are drawn from their spans, fix turns are agent turns), and waits
//! between cycles (a backoff after a failed cycle or a wait for tasks is the gap between bars).
//!
//! Everything taken from a record is XML-escaped: notes come from agents' swarms and other
//! clones. Pure: it never prints and never reads git.

use std::fmt::Write as _;

use jiff::Timestamp;

use crate::store::record::{CycleRecord, Outcome};

/// The picture's width in pixels.
const WIDTH: f64 = 1400.0;
/// The lane labels' column.
const LABEL_W: f64 = 120.0;
const RIGHT_PAD: f64 = 24.0;
/// Where the target lane starts (below the title and the top axis).
const TARGET_Y: f64 = 86.0;
const TARGET_H: f64 = 24.0;
/// Where the first worker lane starts.
const LANES_Y: f64 = TARGET_Y + TARGET_H + 8.0;

const FONT: &str = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif";

/// Colours of the segments inside a bar.
const TURN: &str = "#1e293b";
const REVIEW: &str = "#7c3aed";
const GATE: &str = "#0e7490";
/// A pause for a usage limit or a provider error, inside a cycle.
const PAUSE: &str = "#f59e0b";
const LANDING: &str = "#15803d";

/// The colour of a bar of this outcome.
pub fn outcome_colour(o: Outcome) -> &'static str {
    match o {
        Outcome::Merged => "#22c55e",
        Outcome::NoChanges => "#cbd5e1",
        Outcome::Done => "#60a5fa",
        Outcome::Stuck => "#f59e0b",
        Outcome::Error => "#ef4444",
        Outcome::Conflict => "#f97316",
        Outcome::Rejected => "#ec4899",
        Outcome::Interrupted => "#a8a29e",
        Outcome::GateFailed => "#b91c1c",
    }
}

/// What the picture is of.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// The swarm's id.
    pub swarm: String,
    /// The branch it landed on, when known (the target lane's label).
    pub target: Option<String>,
}

/// One cycle with its times parsed.
struct Bar<'a> {
    r: &'a CycleRecord,
    start: Timestamp,
    end: Timestamp,
}

/// The SVG picture of `records` (one swarm's). Records whose times do not parse are left out
/// (they are counted in the subtitle).
pub fn svg(records: &[CycleRecord], meta: &Meta) -> String {
    let l = Layout::new(records);
    let mut s = String::with_capacity(2_000 + l.bars.len() * 900);
    header(&mut s, &l);
    title(&mut s, &l, meta);
    lanes(&mut s, &l, meta);
    axis(&mut s, &l);
    landings(&mut s, &l);
    s.push_str(r#"<g class="cycles">"#);
    for b in &l.bars {
        cycle(&mut s, &l, b);
    }
    s.push_str("</g>");
    legend(&mut s, &l.bars, l.legend_y);
    s.push_str("</svg>\n");
    s
}

/// Where everything goes: the cycles with their times, the lanes (one per worker) and the
/// time scale.
struct Layout<'a> {
    bars: Vec<Bar<'a>>,
    /// Records left out because their times do not parse.
    unreadable: usize,
    /// Lane order.
    workers: Vec<&'a str>,
    /// The first start and the last end.
    t0: Timestamp,
    t1: Timestamp,
    /// The scale's span (at least a second).
    span_ms: f64,
    lane_h: f64,
    lanes_end: f64,
    legend_y: f64,
    height: f64,
}

impl<'a> Layout<'a> {
    fn new(records: &'a [CycleRecord]) -> Self {
        let mut bars: Vec<Bar<'_>> = Vec::new();
        let mut unreadable = 0;
        for r in records {
            match (r.started.parse::<Timestamp>(), r.ended.parse::<Timestamp>()) {
                (Ok(start), Ok(end)) => bars.push(Bar {
                    r,
                    start,
                    end: end.max(start),
                }),
                _ => unreadable += 1,
            }
        }
        let mut workers: Vec<&str> = bars.iter().map(|b| b.r.worker.as_str()).collect();
        workers.sort_by(|a, b| natural(a, b));
        workers.dedup();

        let t0 = bars.iter().map(|b| b.start).min().unwrap_or_default();
        let t1 = bars.iter().map(|b| b.end).max().unwrap_or(t0);
        let span_ms = ms_between(t0, t1).max(1_000) as f64;
        let lane_h = lane_height(workers.len());
        let lanes_end = LANES_Y + lane_h * workers.len() as f64;
        let legend_y = lanes_end + 34.0;
        Layout {
            bars,
            unreadable,
            workers,
            t0,
            t1,
            span_ms,
            lane_h,
            lanes_end,
            legend_y,
            height: legend_y + 48.0,
        }
    }

    /// The x of a time `ms` after the first start.
    fn x_of_ms(&self, ms: f64) -> f64 {
        let plot_w = WIDTH - LABEL_W - RIGHT_PAD;
        LABEL_W + (ms / self.span_ms).clamp(0.0, 1.0) * plot_w
    }

    fn x_of(&self, t: Timestamp) -> f64 {
        self.x_of_ms(ms_between(self.t0, t) as f64)
    }
}

/// The opening tag, the queue's hatching and the background.
fn header(s: &mut String, l: &Layout<'_>) {
    let height = l.height;
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="{FONT}" font-size="12">"##
    );
    s.push_str(concat!(
        r##"<defs><pattern id="queue" width="6" height="6" patternUnits="userSpaceOnUse" "##,
        r##"patternTransform="rotate(45)"><rect width="6" height="6" fill="#e2e8f0"/>"##,
        r##"<rect width="3" height="6" fill="#94a3b8"/></pattern></defs>"##,
    ));
    let _ = write!(
        s,
        r##"<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>"##
    );
}

/// Title and subtitle.
fn title(s: &mut String, l: &Layout<'_>, meta: &Meta) {
    let (bars, t0, t1) = (&l.bars, l.t0, l.t1);
    let landed = bars
        .iter()
        .filter(|b| b.r.outcome == Outcome::Merged)
        .count();
    let _ = write!(
        s,
        r##"<text x="16" y="24" font-size="16" font-weight="bold" fill="#0f172a">swarm {}</text>"##,
        esc(&meta.swarm)
    );
    let mut sub = format!(
        "{} · {} · {landed} landed · {}",
        plural(l.workers.len(), "worker", "workers"),
        plural(bars.len(), "cycle", "cycles"),
        duration_text(ms_between(t0, t1)),
    );
    if !bars.is_empty() {
        let _ = write!(
            sub,
            " · {} → {}",
            t0.strftime("%Y-%m-%d %H:%M:%S"),
            t1.strftime("%H:%M:%S UTC")
        );
    }
    if l.unreadable > 0 {
        let _ = write!(
            sub,
            " · {} record(s) with unreadable times left out",
            l.unreadable
        );
    }
    let _ = write!(
        s,
        r##"<text x="16" y="44" fill="#475569">{}</text>"##,
        esc(&sub)
    );
}

/// Lane backgrounds and labels: the target's, then one per worker.
fn lanes(s: &mut String, l: &Layout<'_>, meta: &Meta) {
    let lane_h = l.lane_h;
    s.push_str(r#"<g class="lanes">"#);
    let _ = write!(
        s,
        r##"<rect x="0" y="{TARGET_Y}" width="{WIDTH}" height="{TARGET_H}" fill="#f0fdf4"/>"##
    );
    let target = meta.target.as_deref().unwrap_or("target");
    let _ = write!(
        s,
        r##"<text x="{}" y="{}" text-anchor="end" font-weight="bold" fill="{LANDING}">{}<title>landings on {}</title></text>"##,
        LABEL_W - 8.0,
        TARGET_Y + TARGET_H / 2.0 + 4.0,
        esc(&shorten(target, 16)),
        esc(target)
    );
    let label_size = (lane_h - 3.0).clamp(9.0, 12.0);
    for (i, w) in l.workers.iter().enumerate() {
        let y = LANES_Y + lane_h * i as f64;
        let fill = if i % 2 == 0 { "#f8fafc" } else { "#eef2f7" };
        let _ = write!(
            s,
            r##"<g class="lane" data-worker="{we}"><rect x="0" y="{y}" width="{WIDTH}" height="{lane_h}" fill="{fill}"/><text x="{lx}" y="{ty:.1}" text-anchor="end" font-size="{label_size}" fill="#334155">{short}<title>{we}</title></text></g>"##,
            we = esc(w),
            lx = LABEL_W - 8.0,
            ty = y + lane_h / 2.0 + label_size * 0.35,
            short = esc(&shorten(w, 16)),
        );
    }
    s.push_str("</g>");
}

/// The time axis: grid lines through every lane, labels above and below.
fn axis(s: &mut String, l: &Layout<'_>) {
    let step = tick_step(l.span_ms as u64);
    s.push_str(r#"<g class="axis">"#);
    let mut tick = 0u64;
    while tick as f64 <= l.span_ms {
        let x = l.x_of_ms(tick as f64);
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{}" stroke="#cbd5e1" stroke-width="1"/>"##,
            TARGET_Y - 4.0,
            l.lanes_end
        );
        let label = if tick == 0 {
            "0".to_string()
        } else {
            format!("+{}", duration_text(tick))
        };
        let clock =
            l.t0.checked_add(jiff::SignedDuration::from_millis(
                i64::try_from(tick).unwrap_or(i64::MAX),
            ))
            .map(|t| t.strftime("%H:%M:%S").to_string())
            .unwrap_or_default();
        let anchor = if tick == 0 {
            "start"
        } else if x > WIDTH - 40.0 {
            "end"
        } else {
            "middle"
        };
        let _ = write!(
            s,
            r##"<text x="{x:.1}" y="{}" text-anchor="{anchor}" fill="#475569">{label}</text><text x="{x:.1}" y="{}" text-anchor="{anchor}" font-size="10" fill="#94a3b8">{clock}</text><text x="{x:.1}" y="{}" text-anchor="{anchor}" fill="#475569">{label}</text>"##,
            TARGET_Y - 20.0,
            TARGET_Y - 8.0,
            l.lanes_end + 16.0,
        );
        tick += step;
    }
    s.push_str("</g>");
}

/// Landings: marks on the target lane.
fn landings(s: &mut String, l: &Layout<'_>) {
    s.push_str(r#"<g class="landings">"#);
    let mark_y = TARGET_Y + 4.0;
    for b in l.bars.iter().filter(|b| b.r.outcome == Outcome::Merged) {
        let x = l.x_of(b.end);
        let commit = b.r.landed.as_deref().unwrap_or("");
        let _ = write!(
            s,
            r##"<path class="landing" d="M{:.1} {mark_y} h8 l-4 {} z" fill="{LANDING}" stroke="#ffffff" stroke-width="0.5"><title>{}</title></path>"##,
            x - 4.0,
            TARGET_H - 8.0,
            esc(&format!(
                "{} cycle {} landed {}{}",
                b.r.worker,
                b.r.cycle,
                &commit[..commit.len().min(10)],
                tasks_text(&b.r.tasks)
            ))
        );
    }
    s.push_str("</g>");
}

/// One cycle: its bar on its worker's lane, a band of its outcome's colour, and what happened
/// inside it.
fn cycle(s: &mut String, l: &Layout<'_>, b: &Bar<'_>) {
    let lane_h = l.lane_h;
    let bar_pad = if lane_h >= 18.0 { 2.0 } else { 1.0 };
    let lane = l
        .workers
        .iter()
        .position(|w| *w == b.r.worker)
        .expect("every bar's worker has a lane");
    let y = LANES_Y + lane_h * lane as f64 + bar_pad;
    let h = lane_h - 2.0 * bar_pad;
    let x0 = l.x_of(b.start);
    let x1 = l.x_of(b.end).max(x0 + 2.0);
    let colour = outcome_colour(b.r.outcome);
    let _ = write!(
        s,
        r##"<g class="cycle" data-worker="{}" data-cycle="{}" data-outcome="{}"><title>{}</title><rect class="bar" x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{h:.1}" rx="2" fill="{colour}" fill-opacity="0.45" stroke="{colour}" stroke-width="1"/>"##,
        esc(&b.r.worker),
        b.r.cycle,
        b.r.outcome,
        esc(&tooltip(b)),
        x1 - x0,
    );
    // Segments: the lower half of the bar, under a band of the outcome's colour, so the
    // outcome still reads at a glance in a crowded picture.
    let band = (h * 0.5).floor().clamp(2.0, 9.0);
    let _ = write!(
        s,
        r##"<rect x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{band:.1}" rx="1" fill="{colour}"/>"##,
        x1 - x0
    );
    let inside = Inside {
        x0,
        x1,
        y: y + band,
        h: (h - band - 1.0).max(1.0),
    };
    segments(s, l, b, &inside);
    s.push_str("</g>");
}

/// Where a bar's segments go: between `x0` and `x1`, `h` high from `y`.
struct Inside {
    x0: f64,
    x1: f64,
    y: f64,
    h: f64,
}

impl Inside {
    /// One segment from `from` to `to` (clipped to the bar; none when too thin to see).
    fn draw(&self, s: &mut String, from: f64, to: f64, fill: &str, class: &str) {
        let a = from.clamp(self.x0, self.x1);
        let z = to.clamp(self.x0, self.x1);
        if z - a < 0.3 {
            return;
        }
        // A pixel between back-to-back turns, so each reads as one.
        let w = if z - a > 3.0 { z - a - 1.0 } else { z - a };
        let _ = write!(
            s,
            r##"<rect class="{class}" x="{a:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{fill}"/>"##,
            self.y,
            w.max(1.0),
            self.h
        );
    }
}

/// What happened inside a cycle: the wait to land, turns, pauses, gate runs.
fn segments(s: &mut String, l: &Layout<'_>, b: &Bar<'_>, inside: &Inside) {
    let t0 = l.t0;
    let start_ms = ms_between(t0, b.start) as f64;
    if let Some(q) = b.r.queue_ms.filter(|_| b.r.outcome == Outcome::Merged) {
        let end_ms = ms_between(t0, b.end) as f64;
        inside.draw(
            s,
            l.x_of_ms(end_ms - q as f64),
            l.x_of_ms(end_ms),
            "url(#queue)",
            "queue",
        );
    }
    for span in b.r.spans() {
        let from = start_ms + span.at_ms as f64;
        let (fill, class) = if span.kind == "review" {
            (REVIEW, "review")
        } else {
            (TURN, "turn")
        };
        inside.draw(
            s,
            l.x_of_ms(from),
            l.x_of_ms(from + span.ms as f64),
            fill,
            class,
        );
    }
    for p in &b.r.pauses {
        if let (Ok(from), Ok(to)) = (p.started.parse::<Timestamp>(), p.ended.parse::<Timestamp>()) {
            inside.draw(s, l.x_of(from), l.x_of(to), PAUSE, "pause");
        }
    }
    for g in &b.r.gate {
        if let Ok(at) = g.started.parse::<Timestamp>() {
            let from = ms_between(t0, at) as f64;
            inside.draw(
                s,
                l.x_of_ms(from),
                l.x_of_ms(from + g.duration_ms as f64),
                GATE,
                "gate",
            );
        }
    }
}

/// The SVG in a page of its own, for a browser.
pub fn html(svg: &str, meta: &Meta) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>swarm {} · \
         git oompa</title><style>body{{margin:16px;background:#e2e8f0}}svg{{max-width:100%;\
         height:auto;box-shadow:0 1px 4px #0003}}</style></head><body>\n{svg}</body></html>\n",
        esc(&meta.swarm)
    )
}

fn legend(s: &mut String, bars: &[Bar<'_>], y: f64) {
    s.push_str(r#"<g class="legend">"#);
    let mut x = 16.0;
    let item = |s: &mut String, swatch: String, label: &str, x: &mut f64, y: f64| {
        let _ = write!(
            s,
            r##"{swatch}<text x="{:.1}" y="{:.1}" fill="#334155">{}</text>"##,
            *x + 18.0,
            y + 10.0,
            esc(label)
        );
        *x += 30.0 + 7.2 * label.chars().count() as f64;
    };
    let _ = write!(
        s,
        r##"<text x="{x}" y="{:.1}" font-weight="bold" fill="#0f172a">outcome</text>"##,
        y + 10.0
    );
    x += 74.0;
    for o in Outcome::ALL {
        if o != Outcome::Merged && !bars.iter().any(|b| b.r.outcome == o) {
            continue;
        }
        let c = outcome_colour(o);
        let sw = format!(
            r##"<rect x="{x:.1}" y="{y:.1}" width="14" height="12" rx="2" fill="{c}" fill-opacity="0.45" stroke="{c}"/>"##
        );
        item(s, sw, o.as_str(), &mut x, y);
    }
    let y = y + 22.0;
    let mut x = 16.0;
    let _ = write!(
        s,
        r##"<text x="{x}" y="{:.1}" font-weight="bold" fill="#0f172a">inside</text>"##,
        y + 10.0
    );
    x += 74.0;
    let swatch = |x: f64, fill: &str| {
        format!(r##"<rect x="{x:.1}" y="{y:.1}" width="14" height="12" fill="{fill}"/>"##)
    };
    item(s, swatch(x, TURN), "agent turn", &mut x, y);
    item(s, swatch(x, REVIEW), "review turn", &mut x, y);
    item(s, swatch(x, GATE), "gate run", &mut x, y);
    item(s, swatch(x, PAUSE), "paused (limit)", &mut x, y);
    item(
        s,
        swatch(x, "url(#queue)"),
        "approved, waiting to land",
        &mut x,
        y,
    );
    let mark = format!(
        r##"<path d="M{x:.1} {y:.1} h12 l-6 12 z" fill="{LANDING}"/>"##,
        x = x + 1.0
    );
    item(s, mark, "landing", &mut x, y);
    let _ = write!(
        s,
        r##"<text x="{:.1}" y="{:.1}" fill="#64748b">gaps between bars: waiting for tasks, backing off · hover a bar for its details</text>"##,
        x + 10.0,
        y + 10.0
    );
    s.push_str("</g>");
}

/// A bar's tooltip: the cycle in a few lines.
fn tooltip(b: &Bar<'_>) -> String {
    let r = b.r;
    let mut t = format!(
        "{} cycle {}: {} in {}",
        r.worker,
        r.cycle,
        r.outcome,
        duration_text(r.duration_ms)
    );
    if !r.tasks.is_empty() {
        let _ = write!(t, "\ntasks: {}", r.tasks.join(", "));
    }
    let _ = write!(
        t,
        "\n{}, agent {}",
        plural(r.turns as usize, "turn", "turns"),
        duration_text(r.agent_ms)
    );
    if let Some(last) = r.review.last() {
        let _ = write!(
            t,
            "\n{}, last: {} ({})",
            plural(r.review.len(), "review round", "review rounds"),
            last.verdict,
            last.reviewer
        );
    }
    if !r.gate.is_empty() {
        let passed = r.gate.iter().filter(|g| g.result == "passed").count();
        let _ = write!(
            t,
            "\n{}, {passed} passed",
            plural(r.gate.len(), "gate run", "gate runs")
        );
    }
    if let Some(q) = r.queue_ms {
        let _ = write!(t, "\nwaited {} to land", duration_text(q));
    }
    if let Some(c) = &r.landed {
        let _ = write!(t, "\nlanded {}", &c[..c.len().min(10)]);
    }
    if let Some(k) = &r.kept {
        let _ = write!(t, "\nwork kept as {k}");
    }
    if let Some(e) = &r.error {
        let first = e.lines().next().unwrap_or("");
        let _ = write!(t, "\nerror: {}", shorten(first, 200));
    }
    let _ = write!(
        t,
        "\n`git oompa log --show {}/{}/{}`",
        r.swarm, r.worker, r.cycle
    );
    t
}

fn tasks_text(tasks: &[String]) -> String {
    if tasks.is_empty() {
        String::new()
    } else {
        format!(" ({})", tasks.join(", "))
    }
}

/// Lane height: roomy for a few workers, down to 12 px so 64 lanes fit a screen or two.
fn lane_height(n: usize) -> f64 {
    (720.0 / n.max(1) as f64).clamp(12.0, 30.0).floor()
}

/// A grid step (ms) giving at most about 12 ticks.
fn tick_step(span_ms: u64) -> u64 {
    const STEPS: [u64; 20] = [
        1_000,
        2_000,
        5_000,
        10_000,
        15_000,
        30_000,
        60_000,
        120_000,
        300_000,
        600_000,
        900_000,
        1_800_000,
        3_600_000,
        7_200_000,
        10_800_000,
        21_600_000,
        43_200_000,
        86_400_000,
        172_800_000,
        604_800_000,
    ];
    STEPS
        .into_iter()
        .find(|s| span_ms / s <= 12)
        .unwrap_or(STEPS[STEPS.len() - 1] * (span_ms / (12 * STEPS[STEPS.len() - 1]) + 1))
}

fn ms_between(a: Timestamp, b: Timestamp) -> u64 {
    u64::try_from(b.duration_since(a).as_millis()).unwrap_or(0)
}

/// `850ms`, `42s`, `3m05s`, `2h07m`, `3d04h`.
pub fn duration_text(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        _ if ms < 1000 => format!("{ms}ms"),
        0..60 => format!("{s}s"),
        60..3600 if s.is_multiple_of(60) => format!("{}m", s / 60),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86_400 if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        3600..86_400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// At most `max` characters, `…` marking a cut.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Names in a person's order: `w2` before `w10`.
fn natural(a: &str, b: &str) -> std::cmp::Ordering {
    let split = |s: &str| {
        let digits = s.len() - s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let (head, num) = s.split_at(s.len() - digits);
        (head.to_string(), num.parse::<u64>().ok(), s.to_string())
    };
    split(a).cmp(&split(b))
}

/// Text made safe for XML: markup characters escaped, characters XML 1.0 does not allow
/// (control characters other than tab and newline) shown as `�`.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || ('\u{7f}'..='\u{9f}').contains(&c) => out.push('\u{fffd}'),
            '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_records_cannot_break_out_of_the_markup() {
        assert_eq!(
            esc("<script>&'\"\u{1b}[31m"),
            "&lt;script&gt;&amp;&apos;&quot;\u{fffd}[31m"
        );
    }

    #[test]
    fn a_pause_for_a_usage_limit_is_a_segment_inside_its_cycle() {
        use crate::store::record::{Outcome, Pause};
        let r = CycleRecord {
            started: "2026-11-30T10:00:00Z".into(),
            ended: "2026-11-30T10:05:00Z".into(),
            pauses: vec![Pause {
                started: "2026-11-30T10:01:00Z".into(),
                ended: "2026-11-30T10:03:00Z".into(),
                reason: "usage limit".into(),
            }],
            ..CycleRecord::new("s1", "w0", 1, Outcome::Merged, "")
        };
        let meta = Meta {
            swarm: "s1".into(),
            target: Some("main".into()),
        };
        let picture = svg(std::slice::from_ref(&r), &meta);
        assert_eq!(picture.matches(r#"class="pause""#).count(), 1, "{picture}");
        let without = CycleRecord {
            pauses: Vec::new(),
            ..r
        };
        assert!(!svg(&[without], &meta).contains(r#"class="pause""#));
    }

    /// A small fixed timeline with every kind of mark: three workers, a landing that waited in
    /// the queue, agent and review turns, gate runs, a pause, a failed gate, an error and a
    /// record with unreadable times. Long because it is one table of records, read top to bottom.
    fn fixed_timeline() -> Vec<CycleRecord> {
        use crate::store::record::{GateRun, Pause, ReviewRound, TurnSpan};
        let gate = |started: &str, ms: u64, result: &str, attempt: u32| GateRun {
            candidate: "c".repeat(40),
            base: "b".repeat(40),
            batch: vec!["w2".into()],
            commands: vec!["make test".into()],
            result: result.into(),
            status: None,
            started: started.into(),
            duration_ms: ms,
            attempt,
            flaky: false,
            bisect: false,
            output: None,
        };
        let span = |kind: &str, at_ms: u64, ms: u64| TurnSpan {
            kind: kind.into(),
            at_ms,
            ms,
        };
        let spans = [
            span("turn", 0, 40_000),
            span("review", 41_000, 20_000),
            span("turn", 62_000, 30_000),
        ];
        vec![
            CycleRecord {
                started: "2026-11-30T10:00:00Z".into(),
                ended: "2026-11-30T10:03:00Z".into(),
                duration_ms: 180_000,
                agent_ms: 70_000,
                turns: 2,
                tasks: vec!["fix-<parser>".into()],
                landed: Some("0123456789abcdef0123456789abcdef01234567".into()),
                queue_ms: Some(50_000),
                review: vec![ReviewRound {
                    round: 1,
                    reviewer: "claude:opus".into(),
                    verdict: "approved".into(),
                    findings: String::new(),
                    parsed: true,
                }],
                gate: vec![
                    gate("2026-11-30T10:02:10Z", 20_000, "failed", 1),
                    gate("2026-11-30T10:02:35Z", 20_000, "passed", 2),
                ],
                extra: CycleRecord::spans_extra(&spans),
                ..CycleRecord::new("s1", "w2", 1, Outcome::Merged, "b".repeat(40))
            },
            CycleRecord {
                started: "2026-11-30T10:00:30Z".into(),
                ended: "2026-11-30T10:06:00Z".into(),
                duration_ms: 330_000,
                turns: 1,
                pauses: vec![Pause {
                    started: "2026-11-30T10:01:00Z".into(),
                    ended: "2026-11-30T10:03:00Z".into(),
                    reason: "usage limit".into(),
                }],
                gate: vec![gate("2026-11-30T10:05:00Z", 50_000, "failed", 1)],
                kept: Some("refs/oompa/keep/s1/w10/1".into()),
                ..CycleRecord::new("s1", "w10", 1, Outcome::GateFailed, "b".repeat(40))
            },
            CycleRecord {
                started: "2026-11-30T10:01:00Z".into(),
                ended: "2026-11-30T10:01:20Z".into(),
                duration_ms: 20_000,
                error: Some("agent exited with code 2 & said \"<no>\"\nsecond line".into()),
                ..CycleRecord::new("s1", "w0", 1, Outcome::Error, "b".repeat(40))
            },
            CycleRecord {
                started: "2026-11-30T10:02:00Z".into(),
                ended: "2026-11-30T10:04:00Z".into(),
                duration_ms: 120_000,
                ..CycleRecord::new("s1", "w0", 2, Outcome::NoChanges, "b".repeat(40))
            },
            CycleRecord {
                started: "not a time".into(),
                ended: "2026-11-30T10:04:00Z".into(),
                ..CycleRecord::new("s1", "w3", 1, Outcome::Done, "b".repeat(40))
            },
        ]
    }

    #[test]
    fn the_picture_of_a_fixed_timeline_stays_the_same() {
        let meta = Meta {
            swarm: "s1".into(),
            target: Some("main".into()),
        };
        let picture = svg(&fixed_timeline(), &meta);
        // One element a line, so a change reads as a diff (text escapes `<` and `>`, so
        // splitting between tags cannot hide a difference).
        insta::assert_snapshot!(picture.replace("><", ">\n<"));
    }

    #[test]
    fn workers_sort_the_way_a_person_counts() {
        let mut w = vec!["w10", "w2", "w1", "planner", "w0"];
        w.sort_by(|a, b| natural(a, b));
        assert_eq!(w, ["planner", "w0", "w1", "w2", "w10"]);
    }

    #[test]
    fn ticks_stay_few_whatever_the_span() {
        for span in [
            0,
            999,
            5_000,
            61_000,
            3_600_000,
            86_400_000,
            40 * 86_400_000,
        ] {
            let step = tick_step(span);
            assert!(span / step <= 12, "{span}: {step}");
        }
    }
}
