//! Budgets (`budget = "$25"`, `"2M tokens"`, `"$25, 2M tokens"`): what a swarm or one worker
//! may spend, in dollars and/or tokens, and the spend they are compared with.

use std::fmt;

/// A spending limit. At least one of the two is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Budget {
    /// Millionths of a dollar.
    pub micro_usd: Option<u64>,
    /// Input plus output tokens.
    pub tokens: Option<u64>,
}

/// What has been spent so far.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Spend {
    /// Input plus output tokens.
    pub tokens: u64,
    /// Dollars, summed over the turns that reported a cost.
    pub usd: f64,
    /// Some turn reported a cost.
    pub cost_known: bool,
    /// Some turn reported tokens but no cost: `usd` is short by its cost.
    pub cost_missing: bool,
}

impl Spend {
    /// Adds one turn's (or cycle's) usage.
    pub fn add(&mut self, input: Option<u64>, output: Option<u64>, cost_usd: Option<f64>) {
        self.tokens += input.unwrap_or(0) + output.unwrap_or(0);
        match cost_usd {
            Some(c) => {
                self.usd += c;
                self.cost_known = true;
            }
            None if input.is_some() || output.is_some() => self.cost_missing = true,
            None => {}
        }
    }

    pub fn merge(&mut self, other: &Spend) {
        self.tokens += other.tokens;
        self.usd += other.usd;
        self.cost_known |= other.cost_known;
        self.cost_missing |= other.cost_missing;
    }

    /// `$0.0612, 48.2k tokens`, or `48.2k tokens (no cost reported)`.
    pub fn describe(&self) -> String {
        let tokens = format!("{} tokens", human_tokens(self.tokens));
        if self.cost_known {
            let partial = if self.cost_missing { " (partial)" } else { "" };
            format!("{}{partial}, {tokens}", dollars(self.usd))
        } else if self.tokens > 0 {
            format!("{tokens} (no cost reported)")
        } else {
            "nothing".into()
        }
    }
}

impl Budget {
    /// Parses `"$25"`, `"2M tokens"`, `"$25, 2M tokens"` (also joined by `and`, `or`, `+`).
    pub fn parse(text: &str) -> Result<Budget, String> {
        let mut budget = Budget::default();
        let normal = text
            .replace(" and ", ",")
            .replace(" or ", ",")
            .replace('+', ",");
        for part in normal.split(',').map(str::trim) {
            if part.is_empty() {
                return Err("an empty part".into());
            }
            if let Some(amount) = part.strip_prefix('$') {
                let usd: f64 = amount
                    .trim()
                    .parse()
                    .map_err(|_| format!("`{part}` is not an amount of dollars"))?;
                if !usd.is_finite() || usd <= 0.0 {
                    return Err(format!("`{part}` must be more than $0"));
                }
                if budget.micro_usd.is_some() {
                    return Err("two dollar amounts".into());
                }
                // Rounding to a millionth of a dollar is what is meant.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let micro = (usd * 1e6).round().min(u64::MAX as f64) as u64;
                budget.micro_usd = Some(micro.max(1));
            } else if let Some(n) = part
                .strip_suffix("tokens")
                .or_else(|| part.strip_suffix("token"))
            {
                let tokens = parse_count(n.trim())
                    .ok_or_else(|| format!("`{part}` is not a token count"))?;
                if tokens == 0 {
                    return Err(format!("`{part}` must be more than 0 tokens"));
                }
                if budget.tokens.is_some() {
                    return Err("two token counts".into());
                }
                budget.tokens = Some(tokens);
            } else {
                return Err(format!("`{part}` is neither dollars nor tokens"));
            }
        }
        Ok(budget)
    }

    /// `$25`, `2M tokens`, `$25 or 2M tokens`.
    pub fn describe(&self) -> String {
        let usd = self.micro_usd.map(|m| dollars(m as f64 / 1e6));
        let tokens = self.tokens.map(|t| format!("{} tokens", human_tokens(t)));
        match (usd, tokens) {
            (Some(u), Some(t)) => format!("{u} or {t}"),
            (Some(u), None) => u,
            (None, Some(t)) => t,
            (None, None) => "none".into(),
        }
    }

    /// Why `spend` has used this budget up, if it has.
    pub fn spent(&self, spend: &Spend) -> Option<String> {
        if let Some(max) = self.micro_usd
            && spend.usd * 1e6 >= max as f64
        {
            return Some(format!(
                "budget {} spent ({})",
                self.describe(),
                spend.describe()
            ));
        }
        if let Some(max) = self.tokens
            && spend.tokens >= max
        {
            return Some(format!(
                "budget {} spent ({})",
                self.describe(),
                spend.describe()
            ));
        }
        None
    }

    /// The dollar part cannot be checked: the harness reports tokens but no cost.
    pub fn blind_to(&self, spend: &Spend) -> bool {
        self.micro_usd.is_some() && spend.cost_missing
    }
}

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// `12`, `2k`, `2.5M`, `1G` (also `2_000_000`).
fn parse_count(s: &str) -> Option<u64> {
    let s = s.replace('_', "");
    let (num, mult) = match s.chars().last()? {
        'k' | 'K' => (&s[..s.len() - 1], 1e3),
        'm' | 'M' => (&s[..s.len() - 1], 1e6),
        'g' | 'G' | 'b' | 'B' => (&s[..s.len() - 1], 1e9),
        _ => (s.as_str(), 1.0),
    };
    let n: f64 = num.trim().parse().ok()?;
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    let v = (n * mult).round();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (v < u64::MAX as f64).then_some(v as u64)
}

/// `$0.0612` below a dollar (`$0.05` in whole cents), `$3.41` above; `$0.000001` for amounts
/// under a hundredth of a cent that are not zero (budgets are kept in micro-dollars).
pub fn dollars(usd: f64) -> String {
    let cents = usd * 100.0;
    if usd > 0.0 && usd < 0.0001 {
        format!("${usd:.6}")
    } else if usd < 1.0 && (cents - cents.round()).abs() > 1e-6 {
        format!("${usd:.4}")
    } else {
        format!("${usd:.2}")
    }
}

/// `950`, `48.2k`, `2.10M`.
pub fn human_tokens(n: u64) -> String {
    let f = n as f64;
    if n < 1_000 {
        n.to_string()
    } else if n < 1_000_000 {
        format!("{:.1}k", f / 1e3)
    } else {
        format!("{:.2}M", f / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_under_a_hundredth_of_a_cent_is_not_shown_as_zero() {
        assert_eq!(dollars(0.000_001), "$0.000001");
        assert_eq!(dollars(0.0), "$0.00");
        assert_eq!(dollars(0.0612), "$0.0612");
        assert_eq!(dollars(0.05), "$0.05");
        assert_eq!(dollars(3.41), "$3.41");
    }

    #[test]
    fn budgets_take_dollars_and_or_tokens() {
        assert_eq!(
            Budget::parse("$25").expect("valid"),
            Budget {
                micro_usd: Some(25_000_000),
                tokens: None
            }
        );
        assert_eq!(
            Budget::parse("2M tokens").expect("valid").tokens,
            Some(2_000_000)
        );
        assert_eq!(
            Budget::parse("500k tokens").expect("valid").tokens,
            Some(500_000)
        );
        let both = Budget::parse("$0.05, 1.5M tokens").expect("valid");
        assert_eq!(both.micro_usd, Some(50_000));
        assert_eq!(both.tokens, Some(1_500_000));
        assert_eq!(
            Budget::parse("$1 and 10 tokens").expect("valid").tokens,
            Some(10)
        );
        for bad in [
            "25",
            "$",
            "$-1",
            "$0",
            "two tokens",
            "$1, $2",
            "",
            "5 dollars",
            "0 tokens",
        ] {
            assert!(Budget::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_budget_is_spent_by_either_limit() {
        let b = Budget::parse("$0.05, 1000 tokens").expect("valid");
        let mut s = Spend::default();
        s.add(Some(100), Some(100), Some(0.02));
        assert_eq!(b.spent(&s), None);
        s.add(Some(100), Some(100), Some(0.03));
        assert!(b.spent(&s).expect("spent").contains("budget $0.05 or"));
        let mut t = Spend::default();
        t.add(Some(900), Some(100), None);
        assert!(b.spent(&t).is_some());
        assert!(b.blind_to(&t));
    }
}
