//! gc's last step: the transcripts (`.git/oompa/transcripts/<swarm>/`: agent turns, gate
//! output) of swarms that ended longer ago than `oompa.transcriptsExpire` (git config; a
//! duration such as `14d`, `2w`, `36h`, or `never`; [`DEFAULT_EXPIRE`] when unset).
//!
//! A swarm's age is the time since it stopped (its record in the queue), or, for a swarm
//! that never said it stopped (it crashed, or has no record), since anything in its
//! transcript directory last changed. A running swarm's transcripts are never removed, however
//! old. gc plans and applies the removal ([`super::gc`]). Never prints.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::gc::Action;
use crate::git::Repo;
use crate::store::swarm::SwarmRecord;

/// The git config key saying how long transcripts are kept.
pub const EXPIRE_KEY: &str = "oompa.transcriptsExpire";
/// How long transcripts are kept when the key is unset.
pub const DEFAULT_EXPIRE: &str = "14d";

/// The transcript directory of every swarm.
pub fn root(repo: &Repo) -> PathBuf {
    crate::store::layout::transcripts_root(repo.common_dir())
}

/// How long transcripts (and the files of ended swarms) are kept: `Ok(None)` for ever; a
/// setting that is not a duration is a failed step saying how to fix it.
pub(crate) fn expiry(repo: &Repo) -> Result<Option<Duration>, Action> {
    let setting = repo.config_string(EXPIRE_KEY);
    let text = setting.as_deref().unwrap_or(DEFAULT_EXPIRE).trim();
    parse_expire(text).map_err(|()| Action::Failed {
        what: "remove old transcripts".into(),
        why: format!(
            "git config {EXPIRE_KEY} is `{text}`: expected a duration (14d, 2w, 36h) or `never`"
        ),
        hint: Some(format!("git config {EXPIRE_KEY} 14d")),
    })
}

/// The directories under `root`, one per swarm, of swarms not in `running` that ended at
/// least `expire` ago, with how long ago: `(swarm, path, age)`, by swarm id.
pub(crate) fn expired(
    root: &Path,
    expire: Duration,
    swarms: &[SwarmRecord],
    running: &BTreeSet<String>,
) -> Vec<(String, PathBuf, Duration)> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let now = SystemTime::now();
    let mut dirs: Vec<(String, PathBuf)> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    dirs.sort();
    let mut out = Vec::new();
    for (swarm, path) in dirs {
        if running.contains(&swarm) {
            continue;
        }
        let stopped = swarms
            .iter()
            .find(|s| s.id == swarm)
            .and_then(|s| s.stopped.as_ref())
            .and_then(|s| s.at.parse::<jiff::Timestamp>().ok())
            .map(SystemTime::from);
        let Some(ended) = stopped.or_else(|| newest_change(&path)) else {
            continue;
        };
        if let Ok(age) = now.duration_since(ended)
            && age >= expire
        {
            out.push((swarm, path, age));
        }
    }
    out
}

/// `Ok(None)`: never expire.
fn parse_expire(text: &str) -> Result<Option<Duration>, ()> {
    if matches!(text, "never" | "false" | "off") {
        return Ok(None);
    }
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let n: u64 = text[..digits].parse().map_err(|_| ())?;
    let unit = match &text[digits..] {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(()),
    };
    Ok(Some(Duration::from_secs(n.checked_mul(unit).ok_or(())?)))
}

/// When anything under `dir` last changed.
fn newest_change(dir: &Path) -> Option<SystemTime> {
    let mut newest = std::fs::metadata(dir).and_then(|m| m.modified()).ok();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                stack.push(e.path());
            }
            if let Ok(m) = meta.modified() {
                newest = newest.max(Some(m));
            }
        }
    }
    newest
}

/// `20d`, or `5h` under a day.
pub(crate) fn days(age: Duration) -> String {
    let d = age.as_secs() / 86_400;
    if d > 0 {
        format!("{d}d")
    } else {
        format!("{}h", age.as_secs() / 3_600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_takes_durations_and_never() {
        assert_eq!(
            parse_expire("14d"),
            Ok(Some(Duration::from_secs(14 * 86_400)))
        );
        assert_eq!(
            parse_expire("2w"),
            Ok(Some(Duration::from_secs(14 * 86_400)))
        );
        assert_eq!(parse_expire("0"), Ok(Some(Duration::ZERO)));
        assert_eq!(parse_expire("never"), Ok(None));
        for bad in ["", "d", "14 days", "-1d", "99999999999999999999d"] {
            assert_eq!(parse_expire(bad), Err(()), "{bad}");
        }
    }
}
