//! The worker signals an agent ends its final message with: `CLAIM(ids)`,
//! `COMPLETE_AND_READY_FOR_MERGE` and `__DONE__`.
//!
//! Owns their syntax and priority. A signal counts only on a line of its own, so an agent that
//! quotes its instructions in prose does not trigger it. It is given the final message only
//! (never stderr or the whole transcript) and never decides what a signal leads to.

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

/// Reads the signal from an agent's final message.
///
/// A line counts when, trimmed, it equals `COMPLETE_AND_READY_FOR_MERGE` or `__DONE__`, or is
/// exactly `CLAIM(a, b, c)`. Priority: CLAIM (only when there is no MERGE or DONE line) > MERGE >
/// DONE > None. Several CLAIM lines are merged; `CLAIM()` claims nothing and is no signal.
pub fn parse_signal(final_text: &str) -> Signal {
    let mut merge = false;
    let mut done = false;
    let mut ids: Vec<String> = Vec::new();
    for line in final_text.lines().map(str::trim) {
        if line == MERGE_SIGNAL {
            merge = true;
        } else if line == DONE_SIGNAL {
            done = true;
        } else if let Some(claimed) = claim_ids(line) {
            for id in claimed {
                if !ids.iter().any(|known| known == id) {
                    ids.push(id.to_string());
                }
            }
        }
    }
    if merge {
        Signal::Merge
    } else if done {
        Signal::Done
    } else if !ids.is_empty() {
        Signal::Claim(ids)
    } else {
        Signal::None
    }
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
    fn signals_on_their_own_line() {
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
        assert_eq!(parse_signal(""), Signal::None);
    }

    #[test]
    fn quoted_prose_does_not_trigger() {
        let prose = "I will signal COMPLETE_AND_READY_FOR_MERGE when ready.\n\
                     The prompt says to print `__DONE__` if nothing is left.\n\
                     Use CLAIM(task-1) to claim, e.g. `CLAIM(task-2)`.\n\
                     > COMPLETE_AND_READY_FOR_MERGE\n\
                     complete_and_ready_for_merge";
        assert_eq!(parse_signal(prose), Signal::None);
    }

    #[test]
    fn priority_merge_over_done_over_claim() {
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
            Signal::Merge
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
        assert_eq!(
            parse_signal("CLAIM(a, b, a)\nCLAIM(c, b)"),
            claim(&["a", "b", "c"])
        );
        assert_eq!(parse_signal("CLAIM(a,b) extra"), Signal::None);
        assert_eq!(parse_signal("I CLAIM(a,b)"), Signal::None);
        assert_eq!(parse_signal("CLAIM (a)"), Signal::None);
        assert_eq!(parse_signal("claim(a)"), Signal::None);
        assert_eq!(parse_signal("CLAIM(a(b))"), Signal::None);
        assert_eq!(parse_signal("CLAIM(a)\nCLAIM(x) and more"), claim(&["a"]));
    }
}
