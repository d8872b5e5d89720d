//! `git oompa log --timeline [-o FILE]`: picks one swarm's records and writes the picture
//! [`crate::timeline`] draws, to a file or stdout.

use std::path::Path;

use super::log::Args;
use super::ui;
use super::{CommandError, Env};
use crate::git::Repo;
use crate::store::Queue;
use crate::store::record::CycleRecord;
use crate::timeline::{self, Meta};

/// Draws the records of one swarm: the one `--swarm` names, else the one whose cycle ended
/// last. `records` are already narrowed by the other filters.
pub fn run(
    env: &Env,
    repo: &Repo,
    mut records: Vec<CycleRecord>,
    args: &Args,
) -> Result<(), CommandError> {
    let mut swarms: Vec<(String, String)> = Vec::new();
    for r in &records {
        match swarms.iter_mut().find(|(s, _)| *s == r.swarm) {
            Some((_, last)) if *last < r.ended => last.clone_from(&r.ended),
            Some(_) => {}
            None => swarms.push((r.swarm.clone(), r.ended.clone())),
        }
    }
    // Newest first.
    swarms.sort_by(|a, b| b.1.cmp(&a.1));
    let Some((newest, _)) = swarms.first().cloned() else {
        let what = match &args.swarm {
            Some(s) => format!("no cycles of swarm `{}` to draw", ui::escape(s)),
            None => "no cycles to draw".to_string(),
        };
        return Err(CommandError::user(what)
            .with_hint("`git oompa log` lists the recorded cycles (and what the filters keep)"));
    };
    if args.swarm.is_some() && swarms.len() > 1 {
        let ids: Vec<&str> = swarms.iter().map(|(s, _)| s.as_str()).collect();
        return Err(CommandError::user(format!(
            "--swarm {} matches {} swarms: {}",
            ui::escape(args.swarm.as_deref().unwrap_or("")),
            ids.len(),
            ui::escape(&ids.join(", "))
        ))
        .with_hint(format!(
            "give more of the id: `git oompa log --timeline --swarm {}`",
            ui::escape(ids[0])
        )));
    }
    if swarms.len() > 1 {
        env.ui.status(format!(
            "drawing the newest swarm, {newest} ({} more recorded: --swarm ID picks one)",
            swarms.len() - 1
        ));
    }
    records.retain(|r| r.swarm == newest);
    let target = Queue::new(repo)
        .swarms()
        .ok()
        .and_then(|all| all.into_iter().find(|s| s.id == newest))
        .map(|s| s.target);
    let meta = Meta {
        swarm: newest,
        target,
    };
    let svg = timeline::svg(&records, &meta);
    let Some(path) = &args.output else {
        return env.ui.out_raw(svg.as_bytes());
    };
    let path = if path.is_absolute() {
        path.clone()
    } else {
        env.cwd.join(path)
    };
    let text = if is_html(&path) {
        timeline::html(&svg, &meta)
    } else {
        svg
    };
    std::fs::write(&path, text).map_err(|e| {
        CommandError::user(format!("cannot write {}: {e}", path.display()))
            .with_hint("name a file in a directory you can write to: `-o swarm.svg`")
    })?;
    env.ui.status(format!(
        "wrote {} ({} of swarm {})",
        path.display(),
        ui::count(records.len(), "cycle", "cycles"),
        meta.swarm
    ));
    Ok(())
}

fn is_html(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm"))
}
