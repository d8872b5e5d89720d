//! The reviewer's answer: a `VERDICT: APPROVED` or `VERDICT: NEEDS_CHANGES` line plus findings.
//!
//! Owns the verdict syntax. Approval needs an explicit verdict line: prose such as "not
//! approved", a missing line or an unknown verdict word all count as needs-changes, so a
//! confused reviewer can never land a change. It never decides what happens next.

/// The reviewer's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    Approved,
    NeedsChanges,
}

/// A parsed review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub verdict: Verdict,
    /// The text after the last verdict line (for needs-changes with nothing after it, the text
    /// before it); the whole text when no verdict line was found.
    pub findings: String,
    /// `false` when no verdict line was found (which counts as needs-changes).
    pub parsed: bool,
}

impl Review {
    pub fn approved(&self) -> bool {
        self.verdict == Verdict::Approved
    }
}

/// Reads a review. A verdict line is `VERDICT: <word>` on a line of its own (case-insensitive,
/// whitespace tolerated, markdown `**`/`` ` ``/`#` decoration ignored); `APPROVED` approves,
/// `NEEDS_CHANGES` (or any other word, such as `NOT APPROVED`) does not. The last verdict line
/// wins.
pub fn parse_verdict(text: &str) -> Review {
    let lines: Vec<&str> = text.lines().collect();
    let last = lines
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, l)| verdict_of(l).map(|v| (i, v)));
    let Some((at, verdict)) = last else {
        return Review {
            verdict: Verdict::NeedsChanges,
            findings: text.trim().to_string(),
            parsed: false,
        };
    };
    let after = lines[at + 1..].join("\n").trim().to_string();
    let findings = if after.is_empty() && verdict == Verdict::NeedsChanges {
        lines[..at].join("\n").trim().to_string()
    } else {
        after
    };
    Review {
        verdict,
        findings,
        parsed: true,
    }
}

fn verdict_of(line: &str) -> Option<Verdict> {
    let line = line
        .trim()
        .trim_start_matches(['#', '>'])
        .trim()
        .trim_matches(['*', '`'])
        .trim();
    let (key, word) = line.split_once(':')?;
    if !key
        .trim()
        .trim_matches(['*', '`'])
        .eq_ignore_ascii_case("verdict")
    {
        return None;
    }
    let word = word.trim().trim_matches(['*', '`', '.']).trim();
    if word.eq_ignore_ascii_case("approved") {
        Some(Verdict::Approved)
    } else {
        Some(Verdict::NeedsChanges)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approved() {
        let r = parse_verdict("VERDICT: APPROVED\nClean change, tests pass.");
        assert_eq!(r.verdict, Verdict::Approved);
        assert_eq!(r.findings, "Clean change, tests pass.");
        assert!(r.parsed && r.approved());
        assert!(parse_verdict("  verdict :   Approved  ").approved());
        assert!(parse_verdict("**VERDICT: APPROVED**").approved());
        assert!(parse_verdict("## Verdict: `APPROVED`").approved());
    }

    #[test]
    fn needs_changes_with_numbered_findings() {
        let text = "Looked at the diff.\nVERDICT: NEEDS_CHANGES\n1. `parse` panics on empty input.\n2. No test for the timeout.\n";
        let r = parse_verdict(text);
        assert_eq!(r.verdict, Verdict::NeedsChanges);
        assert_eq!(
            r.findings,
            "1. `parse` panics on empty input.\n2. No test for the timeout."
        );
        assert!(r.parsed);
    }

    #[test]
    fn findings_before_a_final_needs_changes_line_are_kept() {
        let r = parse_verdict("1. Missing docs.\n2. Wrong error type.\n\nVERDICT: NEEDS_CHANGES");
        assert_eq!(r.findings, "1. Missing docs.\n2. Wrong error type.");
    }

    #[test]
    fn prose_never_approves() {
        for text in [
            "NOT APPROVED",
            "This is not approved yet.",
            "APPROVED",
            "The verdict: approved, once the tests are fixed.",
            "VERDICT: APPROVED once you fix the tests",
            "VERDICT: NOT APPROVED",
            "I would write VERDICT: APPROVED but cannot.",
        ] {
            assert!(!parse_verdict(text).approved(), "{text:?} approved");
        }
        assert!(parse_verdict("VERDICT: NOT APPROVED").parsed);
    }

    #[test]
    fn no_verdict_keeps_the_raw_text() {
        let r = parse_verdict("  I ran out of time.\n");
        assert_eq!(
            r,
            Review {
                verdict: Verdict::NeedsChanges,
                findings: "I ran out of time.".into(),
                parsed: false
            }
        );
    }

    #[test]
    fn last_verdict_wins() {
        let r = parse_verdict(
            "VERDICT: NEEDS_CHANGES\n1. x\n...on reflection it is fine.\nVERDICT: APPROVED",
        );
        assert!(r.approved());
        assert_eq!(r.findings, "");
        let r = parse_verdict("VERDICT: APPROVED\nwait, no.\nVERDICT: needs changes\n1. y");
        assert_eq!(r.verdict, Verdict::NeedsChanges);
        assert_eq!(r.findings, "1. y");
    }
}
