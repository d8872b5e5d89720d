//! `git oompa check`: which agent CLIs are on PATH, and their versions.

use serde_json::json;

use super::ui::{self, GREEN, RED};
use super::{CommandError, Env};
use crate::agent::{self, Harness};

/// List which agent CLIs (claude, codex, opencode, gemini) are installed
#[derive(Debug, clap::Args)]
pub struct Args {
    /// One JSON object per CLI
    #[arg(long)]
    pub json: bool,
}

pub fn run(env: &Env, args: Args) -> Result<(), CommandError> {
    let infos: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = Harness::REAL
            .iter()
            .map(|h| s.spawn(move || agent::detect(h)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("detecting a CLI does not panic"))
            .collect()
    });
    if args.json {
        for i in &infos {
            env.ui.out(json!({
                "harness": i.harness.name(),
                "binary": agent::binary_name(&i.harness),
                "path": i.path,
                "version": i.version,
            }))?;
        }
        return Ok(());
    }
    let mut t = ui::table(&["HARNESS", "STATUS", "VERSION", "PATH"]);
    let mut found = 0;
    for i in &infos {
        let status = match &i.path {
            Some(_) => {
                found += 1;
                env.ui.paint(GREEN, "found")
            }
            None => env.ui.paint(RED, "missing"),
        };
        t.add_row(vec![
            i.harness.name().to_string(),
            status,
            i.version.clone().unwrap_or_else(|| "-".into()),
            i.path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    env.ui.out(ui::render_table(&t))?;
    if found == 0 {
        env.ui.hint("install one, e.g. `npm install -g @anthropic-ai/claude-code`; any other agent works as `exec:<command>`");
    }
    Ok(())
}
