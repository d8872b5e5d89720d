//! Telling a provider's "not now" apart from a real failure: a rate or usage limit (wait, then
//! resume the same session) or a transient provider error (resume a bounded number of times).
//!
//! Owns the text patterns shared by the harness adapters and the reset-time parsing ("try again
//! in 20s", `retry-after: 20`, Claude Code's `usage limit reached|<epoch>`). Each adapter
//! decides which of its CLI's outputs to look at (`harness::Adapter::trouble`). It never runs
//! anything and never prints.

use std::time::Duration;

/// The `exec:` convention: an agent that exits with this status (`EX_TEMPFAIL`) hit a usage
/// limit; a stderr line `retry-after: <seconds>` says when it resets.
pub const EXEC_LIMIT_EXIT: i32 = 75;

/// Why a turn ended before the work did, without the agent being at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trouble {
    /// A rate or usage limit: wait until `retry_after` (or back off), then resume.
    Limited {
        retry_after: Option<Duration>,
        reason: String,
    },
    /// A provider error that may pass (5xx, overloaded, connection reset): resume a few times.
    Transient { reason: String },
}

impl Trouble {
    /// A one-line description for progress lines and records.
    pub fn reason(&self) -> &str {
        match self {
            Trouble::Limited { reason, .. } | Trouble::Transient { reason } => reason,
        }
    }
}

/// Whether `text` is a provider saying a rate or usage limit was hit.
pub(crate) fn mentions_limit(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    [
        "rate limit",
        "rate_limit",
        "ratelimit",
        "usage limit",
        "too many requests",
        "resource_exhausted",
        "quota exceeded",
        "exceeded your current quota",
        "status 429",
        "status: 429",
        "(429)",
        "error 429",
        "429 too many",
    ]
    .iter()
    .any(|p| t.contains(p))
}

/// Whether `text` is a provider error that may pass by itself (5xx, overloaded, a dropped
/// connection).
pub(crate) fn mentions_transient(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    let statuses = ["500", "502", "503", "504", "529"];
    let status = statuses.iter().any(|s| {
        [
            format!("status {s}"),
            format!("status: {s}"),
            format!("({s})"),
            format!("http {s}"),
            format!("error {s}"),
            format!("{s} internal server error"),
            format!("{s} bad gateway"),
            format!("{s} service unavailable"),
            format!("{s} gateway timeout"),
        ]
        .iter()
        .any(|p| t.contains(p.as_str()))
    });
    status
        || [
            "overloaded",
            "internal server error",
            "service unavailable",
            "bad gateway",
            "gateway timeout",
            "connection reset",
            "econnreset",
            "connection refused",
            "econnrefused",
            "stream disconnected",
            "socket hang up",
            "timed out waiting for the server",
        ]
        .iter()
        .any(|p| t.contains(p))
}

/// The reset time `text` names, as a wait from now: `try again in 20s`, `retry after 2
/// minutes`, `retry-after: 20`, `reset in 1h30m`, or Claude Code's `usage limit reached|<unix
/// seconds>`. The latest one wins (a CLI's last word is its freshest).
pub(crate) fn retry_after(text: &str) -> Option<Duration> {
    let lower = text.to_ascii_lowercase();
    if let Some(d) = epoch_reset(&lower) {
        return Some(d);
    }
    let markers = [
        "try again in",
        "retry after",
        "retry-after:",
        "retry in",
        "resets in",
        "reset in",
    ];
    markers
        .iter()
        .filter_map(|m| lower.rfind(m).map(|i| (i, &lower[i + m.len()..])))
        .max_by_key(|(i, _)| *i)
        .and_then(|(_, rest)| duration_prefix(rest))
}

/// `…usage limit reached|1735689600`: the reset as Unix seconds.
fn epoch_reset(lower: &str) -> Option<Duration> {
    let i = lower.rfind("limit reached|")?;
    let digits: String = lower[i + "limit reached|".len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let at: i64 = digits.parse().ok()?;
    let now = jiff::Timestamp::now().as_second();
    Some(Duration::from_secs(u64::try_from(at - now).unwrap_or(0)))
}

/// A duration at the start of `s`: `20`, `20s`, `19.5 seconds`, `2 minutes`, `1h30m`, `3 hours
/// 5 minutes`. A bare number is seconds.
fn duration_prefix(s: &str) -> Option<Duration> {
    let mut rest = s.trim_start();
    let mut total = 0f64;
    let mut any = false;
    loop {
        let num: String = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let Ok(n) = num.parse::<f64>() else { break };
        rest = rest[num.len()..].trim_start();
        let unit: String = rest.chars().take_while(char::is_ascii_alphabetic).collect();
        let secs = match unit.as_str() {
            "" | "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
            "ms" => 0.001,
            "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
            "d" | "day" | "days" => 86400.0,
            _ => break,
        };
        total += n * secs;
        any = true;
        rest = rest[unit.len()..].trim_start_matches([' ', ',']);
        rest = rest.strip_prefix("and ").unwrap_or(rest);
        if unit.is_empty() {
            break;
        }
    }
    any.then(|| Duration::from_secs_f64(total.ceil()))
}

/// A generic reading for CLIs that print a provider's error as text: a limit when it mentions
/// one, else transient when it looks like a passing provider error.
pub(crate) fn classify(text: &str) -> Option<Trouble> {
    if mentions_limit(text) {
        return Some(Trouble::Limited {
            retry_after: retry_after(text),
            reason: reason_of(text),
        });
    }
    mentions_transient(text).then(|| Trouble::Transient {
        reason: reason_of(text),
    })
}

/// The first non-empty line of `text`, at most 200 bytes.
pub(crate) fn reason_of(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut end = line.len().min(200);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_times_in_the_cli_texts() {
        let s = |n| Some(Duration::from_secs(n));
        assert_eq!(
            retry_after(
                "API Error: Request rejected (429) · Rate limit reached (mock). Please try again in 20s."
            ),
            s(20)
        );
        assert_eq!(retry_after("retry-after: 7\n"), s(7));
        assert_eq!(retry_after("Retry after 2 minutes"), s(120));
        assert_eq!(retry_after("try again in 1h30m"), s(5400));
        assert_eq!(retry_after("try again in 19.2 seconds"), s(20));
        assert_eq!(retry_after("exceeded retry limit, last status: 429"), None);
        let at = jiff::Timestamp::now().as_second() + 3600;
        let d = retry_after(&format!("Claude AI usage limit reached|{at}")).expect("epoch");
        assert!(d <= Duration::from_secs(3600) && d >= Duration::from_secs(3500));
    }

    #[test]
    fn limits_transients_and_other_failures_are_told_apart() {
        assert!(matches!(
            classify("exceeded retry limit, last status: 429 Too Many Requests"),
            Some(Trouble::Limited {
                retry_after: None,
                ..
            })
        ));
        assert!(matches!(
            classify("[API Error: Rate limit reached (mock). Please try again in 20s.]"),
            Some(Trouble::Limited { retry_after: Some(d), .. }) if d == Duration::from_secs(20)
        ));
        assert!(matches!(
            classify("API Error: 529 Overloaded"),
            Some(Trouble::Transient { .. })
        ));
        assert!(matches!(
            classify("stream error: connection reset by peer"),
            Some(Trouble::Transient { .. })
        ));
        assert_eq!(classify("error: file not found: src/429.rs"), None);
        assert_eq!(classify("the tests failed"), None);
    }
}
