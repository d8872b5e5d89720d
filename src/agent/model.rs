//! The `harness:model[:reasoning]` strings that name an agent in `oompa.toml`.
//!
//! Owns parsing and display of model specs only; it never runs anything.

use std::fmt;

/// Which agent CLI family runs a turn.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Harness {
    Claude,
    Codex,
    Opencode,
    Gemini,
    /// `exec:<command>`: any program, prompt on stdin, run through `sh -c`.
    Exec(String),
}

impl Harness {
    /// The name used in model strings and records (`exec` for every exec command).
    pub fn name(&self) -> &str {
        match self {
            Harness::Claude => "claude",
            Harness::Codex => "codex",
            Harness::Opencode => "opencode",
            Harness::Gemini => "gemini",
            Harness::Exec(_) => "exec",
        }
    }

    /// The four real agent CLIs, in the order `git oompa check` lists them.
    pub const REAL: [Harness; 4] = [
        Harness::Claude,
        Harness::Codex,
        Harness::Opencode,
        Harness::Gemini,
    ];
}

/// Reasoning levels accepted as the optional third part of a model string.
pub const REASONING_LEVELS: [&str; 7] =
    ["minimal", "low", "medium", "high", "xhigh", "max", "none"];

/// A parsed model string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelSpec {
    pub harness: Harness,
    /// `None` means the CLI's own default model.
    pub model: Option<String>,
    pub reasoning: Option<String>,
}

/// Why a model string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelSpecError {
    #[error("empty model string")]
    Empty,
    #[error("unknown harness `{0}` (expected claude, codex, opencode, gemini or exec:<command>)")]
    UnknownHarness(String),
    #[error("`exec:` needs a command after the colon")]
    EmptyExec,
}

impl ModelSpec {
    /// Parses `harness[:model[:reasoning]]` or `exec:<command>`.
    ///
    /// Unlike oompa, an unknown harness is an error (never silently a codex model), and the
    /// reasoning suffix is split at the *last* colon only when it is a known level, so
    /// `opencode:openrouter/x:free` keeps `:free` in the model id.
    pub fn parse(s: &str) -> Result<Self, ModelSpecError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(ModelSpecError::Empty);
        }
        let (head, rest) = match s.split_once(':') {
            Some((h, r)) => (h, Some(r)),
            None => (s, None),
        };
        let harness = match head {
            "claude" => Harness::Claude,
            "codex" => Harness::Codex,
            "opencode" => Harness::Opencode,
            "gemini" => Harness::Gemini,
            "exec" => {
                let cmd = rest.unwrap_or("").trim();
                if cmd.is_empty() {
                    return Err(ModelSpecError::EmptyExec);
                }
                return Ok(ModelSpec {
                    harness: Harness::Exec(cmd.to_string()),
                    model: None,
                    reasoning: None,
                });
            }
            other => return Err(ModelSpecError::UnknownHarness(other.to_string())),
        };
        let (model, reasoning) = match rest {
            None | Some("") => (None, None),
            Some(r) => match r.rsplit_once(':') {
                Some((m, lvl)) if REASONING_LEVELS.contains(&lvl) => (
                    Some(m.to_string()).filter(|m| !m.is_empty()),
                    Some(lvl.to_string()),
                ),
                _ => (Some(r.to_string()), None),
            },
        };
        Ok(ModelSpec {
            harness,
            model,
            reasoning,
        })
    }
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Harness::Exec(cmd) = &self.harness {
            return write!(f, "exec:{cmd}");
        }
        f.write_str(self.harness.name())?;
        if self.model.is_some() || self.reasoning.is_some() {
            write!(f, ":{}", self.model.as_deref().unwrap_or(""))?;
        }
        if let Some(r) = &self.reasoning {
            write!(f, ":{r}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for ModelSpec {
    type Err = ModelSpecError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let m = ModelSpec::parse("codex:gpt-5.3-codex:medium").expect("test fixture");
        assert_eq!(m.harness, Harness::Codex);
        assert_eq!(m.model.as_deref(), Some("gpt-5.3-codex"));
        assert_eq!(m.reasoning.as_deref(), Some("medium"));
        let m = ModelSpec::parse("opencode:openrouter/x:free").expect("test fixture");
        assert_eq!(m.model.as_deref(), Some("openrouter/x:free"));
        assert_eq!(m.reasoning, None);
        let m = ModelSpec::parse("claude").expect("test fixture");
        assert_eq!(m.model, None);
        let m = ModelSpec::parse("exec:python3 agent.py --x").expect("test fixture");
        assert_eq!(m.harness, Harness::Exec("python3 agent.py --x".into()));
        assert_eq!(m.to_string(), "exec:python3 agent.py --x");
    }

    #[test]
    fn rejects_unknown_harnesses() {
        assert!(matches!(
            ModelSpec::parse("gpt-5"),
            Err(ModelSpecError::UnknownHarness(_))
        ));
        assert_eq!(ModelSpec::parse(""), Err(ModelSpecError::Empty));
        assert_eq!(ModelSpec::parse("exec:"), Err(ModelSpecError::EmptyExec));
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "claude:opus",
            "codex:gpt-5:high",
            "gemini",
            "opencode:a/b:free",
        ] {
            assert_eq!(ModelSpec::parse(s).expect("test fixture").to_string(), s);
        }
    }
}
