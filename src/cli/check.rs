//! `git oompa check`: which agent CLIs are on PATH, and their versions.

use serde_json::json;

use super::ui::{self, Cell, GREEN, RED};
use super::{CommandError, Env};
use crate::agent::{self, Harness};

/// List which agent CLIs (claude, codex, opencode, gemini) are installed
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Do not cut the table to the terminal's width
    #[arg(long)]
    pub wide: bool,
    /// A JSON array, one object per CLI
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
        return ui::out_json_array(
            &env.ui,
            infos.iter().map(|i| {
                json!({
                    "version": ui::JSON_VERSION,
                    "harness": i.harness.name(),
                    "binary": agent::binary_name(&i.harness),
                    "found": i.path.is_some(),
                    "path": i.path,
                    "cli_version": i.version,
                })
            }),
        );
    }
    let mut t = ui::table(&["HARNESS", "STATUS", "VERSION", "PATH"]);
    t.shrink(3, 12).shrink(2, 8);
    let mut found = 0;
    for i in &infos {
        let status = match &i.path {
            Some(_) => {
                found += 1;
                Cell::new("found").styled(GREEN)
            }
            None => Cell::new("missing").styled(RED),
        };
        t.add_row([
            Cell::new(i.harness.name()),
            status,
            Cell::new(i.version.as_deref().unwrap_or("-")),
            Cell::new(
                i.path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "-".into()),
            ),
        ]);
    }
    env.ui.out_table(&t, args.wide)?;
    if found == 0 {
        env.ui.hint("install one, e.g. `npm install -g @anthropic-ai/claude-code`; any other agent works as `exec:<command>`");
    }
    Ok(())
}
