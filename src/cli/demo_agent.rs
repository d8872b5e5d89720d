//! `git oompa demo-agent` (hidden): the scripted agent of `git oompa demo`, run by the `exec`
//! harness. It claims a pending task with `CLAIM(id)`, does it on the resumed turn (writes the
//! file the task names and commits), and signals merge; with nothing left it says `__DONE__`.

use std::io::Read;
use std::time::Duration;

use super::{CommandError, Env};
use crate::git::cli;
use crate::store::{Queue, State};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(env: &Env, _args: Args) -> Result<(), CommandError> {
    let mut prompt = String::new();
    let _ = std::io::stdin().read_to_string(&mut prompt);
    let worker = env.agent.worker.clone().unwrap_or_default();
    let swarm = env.agent.swarm.clone().unwrap_or_default();
    let repo = env.repo()?;
    let snap = Queue::new(&repo).snapshot()?;
    let n: usize = worker
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap_or(0);
    // Look busy for a moment, like a real agent would be.
    std::thread::sleep(Duration::from_millis(400 + 150 * (n as u64 % 3)));
    let held: Vec<_> = snap.held_by(&swarm, &worker).collect();
    if !held.is_empty() {
        for t in &held {
            let Some(demo) = t.extra.get("demo") else {
                continue;
            };
            let (Some(path), Some(text)) = (demo["path"].as_str(), demo["text"].as_str()) else {
                continue;
            };
            let file = env.cwd.join(path);
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&file, text)?;
            env.ui.out(format!("Wrote {path} for task {}.", t.id))?;
        }
        let ids: Vec<&str> = held.iter().map(|t| t.id.as_str()).collect();
        cli::commit_all(&env.cwd, &format!("Add phrases for {}", ids.join(", ")))?;
        env.ui.out("Committed; ready for the merge queue.")?;
        return env.ui.out("COMPLETE_AND_READY_FOR_MERGE");
    }
    let pending: Vec<_> = snap.in_state(State::Pending).collect();
    match pending.get(n % pending.len().max(1)) {
        Some(t) => {
            env.ui
                .out(format!("I'll take `{}`: {}.", t.id, t.summary))?;
            env.ui.out(format!("CLAIM({})", t.id))
        }
        None => {
            env.ui.out("Nothing left for me to do.")?;
            env.ui.out("__DONE__")
        }
    }
}
