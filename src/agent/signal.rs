//! The worker signals an agent ends its final message with: `CLAIM(ids)`,
//! `COMPLETE_AND_READY_FOR_MERGE` and `__DONE__`.
//!
//! Owns their syntax. A signal counts only **alone on the last line of the final message**
//! (blank lines after it and spaces around it do not matter), so an agent that quotes its
//! instructions in prose, or signals and then keeps talking, does not trigger it. It is given
//! the final message only (never stderr or the whole transcript) and never decides what a
//! signal leads to. A turn that failed is an error whatever its last line says; the worker
//! checks that before it reads a signal.

/// What the agent asked for at the end of its turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// Claim these task ids (de-duplicated, in order of first mention).
    Claim(Vec<String>),
    /// The work is done and ready for review and merge.
    Merge,
    /// No useful work remains for this agent.
    Done,
    /// No signal: the agent is still working.
    None,
}

pub const MERGE_SIGNAL: &str = "COMPLETE_AND_READY_FOR_MERGE";
pub const DONE_SIGNAL: &str = "__DONE__";

/// Reads the signal from an agent's final message: its last non-blank line, trimmed, when it
/// is exactly `COMPLETE_AND_READY_FOR_MERGE`, `__DONE__` or `CLAIM(a, b, c)`. Anything else,
/// including a signal on an earlier line, is [`Signal::None`]. `CLAIM()` claims nothing and is
/// no signal.
pub fn parse_signal(final_text: &str) -> Signal {
    match last_line(final_text).map(line_signal) {
        Some(Some(signal)) => signal,
        _ => Signal::None,
    }
}

/// The signal a final message carries on a line of its own that is *not* its last line (so
/// it does not count), for telling the agent why it was not heard. `None` when the message
/// has a valid signal, or no signal line at all.
pub fn misplaced_signal(final_text: &str) -> Option<String> {
    if parse_signal(final_text) != Signal::None {
        return None;
    }
    final_text
        .lines()
        .map(str::trim)
        .rfind(|l| line_signal(l).is_some())
        .map(str::to_string)
}

/// The last line that is not blank, trimmed.
fn last_line(text: &str) -> Option<&str> {
    text.lines().map(str::trim).rfind(|l| !l.is_empty())
}

/// The signal a (trimmed) line is, if it is exactly one.
fn line_signal(line: &str) -> Option<Signal> {
    if line == MERGE_SIGNAL {
        return Some(Signal::Merge);
    }
    if line == DONE_SIGNAL {
        return Some(Signal::Done);
    }
    let mut ids: Vec<String> = Vec::new();
    for id in claim_ids(line)? {
        if !ids.iter().any(|known| known == id) {
            ids.push(id.to_string());
        }
    }
    (!ids.is_empty()).then_some(Signal::Claim(ids))
}

/// The ids of a line that is exactly `CLAIM(...)`, or `None`.
fn claim_ids(line: &str) -> Option<impl Iterator<Item = &str>> {
    let inner = line.strip_prefix("CLAIM(")?.strip_suffix(')')?;
    if inner.contains(['(', ')']) {
        return None;
    }
    Some(inner.split(',').map(str::trim).filter(|id| !id.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(ids: &[&str]) -> Signal {
        Signal::Claim(ids.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn signals_alone_on_the_last_line() {
        assert_eq!(
            parse_signal("All done.\nCOMPLETE_AND_READY_FOR_MERGE\n"),
            Signal::Merge
        );
        assert_eq!(parse_signal("  __DONE__  "), Signal::Done);
        assert_eq!(
            parse_signal("CLAIM(task-001, task-003)"),
            claim(&["task-001", "task-003"])
        );
        assert_eq!(parse_signal("\r\nCLAIM(a)\r\n"), claim(&["a"]));
        assert_eq!(parse_signal("Done.\n__DONE__\n\n  \n\t\n"), Signal::Done);
        assert_eq!(parse_signal(""), Signal::None);
        assert_eq!(parse_signal("\n \n"), Signal::None);
    }

    #[test]
    fn a_merge_signal_followed_by_more_text_does_not_land() {
        let text = "COMPLETE_AND_READY_FOR_MERGE\nActually, one more thing to check.";
        assert_eq!(parse_signal(text), Signal::None);
        assert_eq!(misplaced_signal(text).as_deref(), Some(MERGE_SIGNAL));
        assert_eq!(
            parse_signal("__DONE__\nor maybe not"),
            Signal::None,
            "DONE follows the same rule"
        );
        assert_eq!(parse_signal("CLAIM(a)\nthen I will start"), Signal::None);
    }

    #[test]
    fn only_the_last_line_counts_when_there_are_several_signals() {
        assert_eq!(parse_signal("CLAIM(a)\n__DONE__"), Signal::Done);
        assert_eq!(
            parse_signal("CLAIM(a)\nCOMPLETE_AND_READY_FOR_MERGE"),
            Signal::Merge
        );
        assert_eq!(
            parse_signal("__DONE__\nCOMPLETE_AND_READY_FOR_MERGE"),
            Signal::Merge
        );
        assert_eq!(
            parse_signal("COMPLETE_AND_READY_FOR_MERGE\n__DONE__"),
            Signal::Done
        );
        assert_eq!(
            parse_signal("COMPLETE_AND_READY_FOR_MERGE\nCLAIM(b)"),
            claim(&["b"])
        );
        assert_eq!(parse_signal("CLAIM(a, b)\nCLAIM(c)"), claim(&["c"]));
        assert_eq!(misplaced_signal("CLAIM(a)\n__DONE__"), None);
    }

    #[test]
    fn quoted_prose_does_not_trigger() {
        let prose = "I will signal COMPLETE_AND_READY_FOR_MERGE when ready.\n\
                     The prompt says to print `__DONE__` if nothing is left.\n\
                     Use CLAIM(task-1) to claim, e.g. `CLAIM(task-2)`.\n\
                     > COMPLETE_AND_READY_FOR_MERGE\n\
                     complete_and_ready_for_merge";
        assert_eq!(parse_signal(prose), Signal::None);
        assert_eq!(misplaced_signal(prose), None);
        assert_eq!(parse_signal("`COMPLETE_AND_READY_FOR_MERGE`"), Signal::None);
        assert_eq!(
            parse_signal("**COMPLETE_AND_READY_FOR_MERGE**"),
            Signal::None
        );
    }

    #[test]
    fn claim_edge_cases() {
        assert_eq!(parse_signal("CLAIM()"), Signal::None);
        assert_eq!(parse_signal("CLAIM( , ,)"), Signal::None);
        assert_eq!(
            parse_signal("CLAIM(  a ,b,,  c  )"),
            claim(&["a", "b", "c"])
        );
        assert_eq!(parse_signal("CLAIM(a, b, a)"), claim(&["a", "b"]));
        assert_eq!(parse_signal("CLAIM(a,b) extra"), Signal::None);
        assert_eq!(parse_signal("I CLAIM(a,b)"), Signal::None);
        assert_eq!(parse_signal("CLAIM (a)"), Signal::None);
        assert_eq!(parse_signal("claim(a)"), Signal::None);
        assert_eq!(parse_signal("CLAIM(a(b))"), Signal::None);
        assert_eq!(parse_signal("CLAIM(a)\nCLAIM(x) and more"), Signal::None);
        assert_eq!(misplaced_signal("CLAIM()\nmore"), None);
    }
}
