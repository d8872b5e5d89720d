//! How an `exec:` agent reports what it used: lines on stderr of the form
//! `oompa-usage: input=1200 output=340 cost=0.021` (every key optional; tokens as integers,
//! cost in dollars). Several lines add up. Budgets count them like any harness's usage.

use super::types::Usage;

/// The prefix of a usage line.
pub const PREFIX: &str = "oompa-usage:";

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
            let add = |a: Option<u64>| value.parse::<u64>().ok().map(|v| a.unwrap_or(0) + v).or(a);
            match key {
                "input" => usage.input_tokens = add(usage.input_tokens),
                "output" => usage.output_tokens = add(usage.output_tokens),
                "cost" => {
                    if let Ok(c) = value.trim_start_matches('$').parse::<f64>()
                        && c.is_finite()
                        && c >= 0.0
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
}
