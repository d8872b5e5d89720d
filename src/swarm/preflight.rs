//! What is checked before a swarm starts: the agent CLIs its config needs (a missing one
//! refuses the start), and the `copy` entries and prompt includes that cannot be used (each
//! said once as a warning).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::{SwarmError, worker_ids};
use crate::config::Config;

/// What is wrong with the `copy` entries (files copied into every worktree), one warning
/// each, so that a missing `.env` is said once at start instead of silently never copied.
pub(super) fn copy_problems(root: &std::path::Path, copy: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for rel in copy {
        let path = root.join(rel);
        let problem = match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "does not exist".to_string(),
            Err(e) => format!("cannot be read ({e})"),
            Ok(m) if m.is_dir() => "is a directory (copy takes files)".to_string(),
            Ok(m) if !m.is_file() => "is not a regular file".to_string(),
            Ok(_) => match std::fs::File::open(&path) {
                Ok(_) => continue,
                Err(e) => format!("cannot be read ({e})"),
            },
        };
        out.push(format!(
            "copy: {} {problem}, so it is not copied into the worktrees",
            path.display()
        ));
    }
    out
}

/// Includes in the configured prompt files that cannot be resolved (a missing file, a cycle):
/// the agent only sees a notice line in its prompt, so the person is told once at start.
pub(super) fn prompt_problems(config: &Config) -> Vec<String> {
    let mut files: Vec<&PathBuf> = Vec::new();
    for w in &config.workers {
        files.extend(&w.prompt);
        files.extend(&w.review_prompt);
    }
    files.extend(config.review.iter().flat_map(|r| &r.prompt));
    files.extend(config.planner.iter().flat_map(|p| &p.prompt));
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for file in files {
        if !seen.insert(file) {
            continue;
        }
        match crate::agent::prompt::load_file(file) {
            Err(e) => out.push(e.to_string()),
            Ok(text) => out.extend(
                text.lines()
                    .filter_map(|l| l.strip_prefix("[oompa] could not include "))
                    .map(|what| format!("prompt {}: could not include {what}", file.display())),
            ),
        }
    }
    out
}

/// Refuses to start when an agent CLI some worker, reviewer or planner needs is missing
/// (looked up on the PATH that agent will get), instead of failing cycle after cycle. Names
/// every missing CLI at once.
pub(super) fn preflight(config: &Config) -> Result<(), SwarmError> {
    let missing = missing_clis(config);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(SwarmError::MissingCli { missing })
    }
}

/// The agent CLIs `config` needs that are not on the PATH their agent will get, each with
/// who needs it (`w0`, `w0's reviewer`, `the planner`), in name order.
pub fn missing_clis(config: &Config) -> Vec<(String, Vec<String>)> {
    use crate::agent::{Harness, ModelSpec, binary_name, detect::find_on_path};
    // (who needs it, the model, the PATH its environment sets, if any)
    let mut needs: Vec<(String, ModelSpec, Option<String>)> = Vec::new();
    for (id, w) in worker_ids(config) {
        let path = w.env.get("PATH").cloned();
        if let Some(review) = config.review_for(&w) {
            let review_path = review.env.get("PATH").cloned().or_else(|| path.clone());
            for m in review.models {
                needs.push((format!("{id}'s reviewer"), m, review_path.clone()));
            }
        }
        needs.push((id, w.model, path));
    }
    if let Some(p) = &config.planner {
        needs.push((
            "the planner".into(),
            p.model.clone(),
            p.env.get("PATH").cloned(),
        ));
    }
    let mut missing: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let base = config.path.as_deref().and_then(std::path::Path::parent);
    for (who, model, path) in needs {
        let binary = match &model.harness {
            Harness::Exec(command) => match exec_program(command) {
                Some(program) if program.contains('/') => {
                    let p = std::path::Path::new(&program);
                    let full = match base {
                        Some(b) if p.is_relative() => b.join(p),
                        _ => p.to_path_buf(),
                    };
                    if p.is_relative() && base.is_none() || full.exists() {
                        continue;
                    }
                    let users = missing.entry(program).or_default();
                    if !users.contains(&who) {
                        users.push(who);
                    }
                    continue;
                }
                Some(program) => program,
                None => continue,
            },
            _ => binary_name(&model.harness).to_string(),
        };
        let path = path
            .map(std::ffi::OsString::from)
            .or_else(|| std::env::var_os("PATH"));
        if find_on_path(&binary, path.as_deref()).is_none() {
            let users = missing.entry(binary).or_default();
            if !users.contains(&who) {
                users.push(who);
            }
        }
    }
    missing.into_iter().collect()
}

/// The program an `exec:` command runs, when it can be told without a shell: the first word
/// after `VAR=value` assignments (and `exec`), unless it is a shell builtin or keyword or the
/// command uses quoting or expansions there.
fn exec_program(command: &str) -> Option<String> {
    const SHELL_WORDS: &[&str] = &[
        ":", ".", "[", "alias", "cd", "command", "echo", "eval", "exit", "export", "false",
        "printf", "pwd", "read", "set", "test", "true", "type", "ulimit", "umask", "unset", "if",
        "for", "while", "until", "case", "{", "(", "!", "source", "time", "env",
    ];
    let mut words = command.split_whitespace();
    let mut word = words.next()?;
    while word.contains('=') && !word.starts_with('=') || word == "exec" {
        word = words.next()?;
    }
    let special = |c: char| "\"'`$;|&<>(){}*?[]~#".contains(c);
    if word.chars().any(special) || SHELL_WORDS.contains(&word) {
        return None;
    }
    Some(word.to_string())
}
