//! How an `exec:` agent reports what it used: lines on stderr of the form
//! `oompa-usage: input=1200 output=340 cost=0.021` (every key optional; tokens as integers,
//! cost in dollars). Several lines add up. Budgets count them like any harness's usage.
//!
//! A value that is not a number, is negative, or is beyond what one turn could use
//! ([`MAX_TOKENS`], [`MAX_COST`]) is ignored with its key, so a confused agent cannot overflow
//! the sums or spend an infinite budget.

use super::types::Usage;

/// The prefix of a usage line.
pub const PREFIX: &str = "oompa-usage:";

/// The most tokens one value may report (a trillion: far beyond any turn).
pub const MAX_TOKENS: u64 = 1_000_000_000_000;
/// The most dollars one value may report.
pub const MAX_COST: f64 = 1_000_000.0;

/// The usage an `exec:` agent reported on stderr (as far as the kept tail shows it).
pub fn parse(stderr: &str) -> Usage {
    let mut usage = Usage::default();
    for line in stderr.lines() {
        let Some(rest) = line.trim().strip_prefix(PREFIX) else {
            continue;
        };
        for pair in rest.split_whitespace() {
            let Some((key, value)) = pair.split_once('=') else {
                continue;
            };
            let tokens = || value.parse::<u64>().ok().filter(|v| *v <= MAX_TOKENS);
            let add = |a: Option<u64>| match tokens() {
                Some(v) => Some(a.unwrap_or(0).saturating_add(v)),
                None => a,
            };
            match key {
                "input" => usage.input_tokens = add(usage.input_tokens),
                "output" => usage.output_tokens = add(usage.output_tokens),
                "cost" => {
                    if let Ok(c) = value.trim_start_matches('$').parse::<f64>()
                        && (0.0..=MAX_COST).contains(&c)
                    {
                        usage.cost_usd = Some(usage.cost_usd.unwrap_or(0.0) + c);
                    }
                }
                _ => {}
            }
        }
    }
    usage
}

#[cfg(test)]
mod tests {
    #[test]
    fn usage_lines_on_stderr_add_up_and_other_lines_are_ignored() {
        let u = super::parse(
            "warming up\noompa-usage: input=100 output=20 cost=0.02\nnoise=3\n  oompa-usage: input=5 cost=$0.01 bogus\n",
        );
        assert_eq!(u.input_tokens, Some(105));
        assert_eq!(u.output_tokens, Some(20));
        assert!((u.cost_usd.expect("cost") - 0.03).abs() < 1e-9);
        assert_eq!(super::parse("nothing here").input_tokens, None);
    }

    #[test]
    fn absurd_usage_values_are_ignored_instead_of_overflowing_the_sums() {
        let u = super::parse(
            "oompa-usage: input=18446744073709551615 output=18446744073709551615 cost=1e308\n\
             oompa-usage: input=18446744073709551615 cost=1e308\n\
             oompa-usage: input=abc output=-5 cost=NaN\n\
             oompa-usage: cost=inf\noompa-usage: cost=-3\noompa-usage: cost=$-1\n\
             oompa-usage: input=7 cost=0.5\n",
        );
        assert_eq!(u.input_tokens, Some(7));
        assert_eq!(u.output_tokens, None);
        assert_eq!(u.cost_usd, Some(0.5));
        let many = "oompa-usage: input=1000000000000\n".repeat(20);
        assert_eq!(
            super::parse(&many).input_tokens,
            Some(20 * super::MAX_TOKENS)
        );
    }
}
