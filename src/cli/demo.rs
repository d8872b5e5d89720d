//! `git oompa demo`: a throw-away repository with a small project and a handful of tasks,
//! worked by a swarm of three scripted agents (the hidden `demo-agent` subcommand, run through
//! the `exec` harness), so a newcomer sees the whole loop without an API key.

use std::path::{Path, PathBuf};

use super::ui::{self, BOLD};
use super::{CommandError, Env};
use crate::config::Config;
use crate::git::{Repo, cli};
use crate::store::notes::Notes;
use crate::store::record::Outcome;
use crate::store::{Queue, TASK_VERSION, Task, TaskId};

/// Watch three scripted agents work a small project (no API key needed)
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Create a throw-away repository with a small project and six tasks, and run a swarm of three\n\
built-in scripted agents on it: they claim tasks, commit their work and signal; the merge\n\
queue lands each change on main with trailers; every cycle is recorded in refs/notes/oompa.\n\
Ends with the `git oompa log` table and a short tour: where to look in the demo repository\n\
(status, one cycle in full, its transcript, the landings) and how to start in your own."
)]
pub struct Args {
    /// Where to create the demo repository [default: a new directory under the temp dir]
    pub dir: Option<PathBuf>,
}

/// The project's languages: task id, language, greeting, thanks.
const PHRASES: [(&str, &str, &str, &str); 6] = [
    ("french", "French", "Bonjour", "Merci"),
    ("german", "German", "Hallo", "Danke"),
    ("spanish", "Spanish", "Hola", "Gracias"),
    ("italian", "Italian", "Ciao", "Grazie"),
    ("japanese", "Japanese", "Konnichiwa", "Arigatou"),
    ("portuguese", "Portuguese", "Ola", "Obrigado"),
];

pub fn run(env: &Env, args: Args) -> Result<(), CommandError> {
    let dir = match args.dir {
        Some(d) if d.is_absolute() => d,
        Some(d) => env.cwd.join(d),
        None => std::env::temp_dir().join(format!(
            "oompa-demo-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        )),
    };
    if dir.exists()
        && std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(
            CommandError::user(format!("{} exists and is not empty", dir.display()))
                .with_hint("give a new directory, or none to use a fresh temporary one"),
        );
    }
    let ui = &env.ui;
    ui.status(format!(
        "{} creating a demo project in {}",
        ui.paint_err(BOLD, "demo:"),
        dir.display()
    ));
    create_project(&dir)?;
    let repo = Repo::discover(&dir)?;
    let queue = Queue::new(&repo);
    queue.init()?;
    queue.add(&demo_tasks(), "demo")?;
    super::init::add_exclude(&repo, &format!("/{}/", crate::store::layout::LOCAL_DIR))?;
    let config_text = "\
# Three scripted agents built into git-oompa (`git-oompa demo-agent`); no API key needed.
target = \"main\"

[[worker]]
model = \"exec:git-oompa demo-agent\"
count = 3
max_cycles = 6
turn_timeout = \"1m\"
";
    let config_path = dir.join("oompa.toml");
    std::fs::write(&config_path, config_text)
        .map_err(|e| CommandError::user(format!("writing {}: {e}", config_path.display())))?;
    let config = Config::load(&config_path).map_err(|e| CommandError::from_error(&e))?;
    ui.status(format!(
        "{} 6 tasks in {}, 3 scripted agents, landing on main\n",
        ui.paint_err(BOLD, "demo:"),
        crate::store::QUEUE_REF
    ));

    let demo_env = Env {
        ui: super::Ui::new(super::ui::ColorChoice::Auto),
        cwd: dir.clone(),
        agent: env.agent.clone(),
    };
    let result = super::swarm::run_swarm(&demo_env, &repo, config, "main".into())?;
    ui.status("");
    super::log::run(&demo_env, super::log::Args::default())?;
    tour(env, &repo, &dir, &result.finished);
    if result.interrupted {
        return Err(CommandError::user("demo interrupted"));
    }
    Ok(())
}

/// The end of the demo: what happened in one line, then a short tour of where to look
/// (status, one cycle in full, its transcript, the landings) and what to do in your own
/// repository. Real names from this run, so every line works as written.
fn tour(env: &Env, repo: &Repo, dir: &Path, finished: &crate::swarm::Finished) {
    let ui = &env.ui;
    let landed: usize = finished.workers.iter().map(|w| w.landed_tasks.len()).sum();
    let cycles: u32 = finished.workers.iter().map(|w| w.cycles).sum();
    // The first landing, to show in full.
    let first = Notes::new(repo).read_all().ok().and_then(|(entries, _)| {
        entries
            .into_iter()
            .map(|e| e.record)
            .filter(|r| r.outcome == Outcome::Merged)
            .min_by(|a, b| a.ended.cmp(&b.ended))
    });
    ui.status("");
    let what = if landed == PHRASES.len() {
        format!("all {landed} tasks")
    } else {
        format!("{landed} of {} tasks", PHRASES.len())
    };
    ui.status(format!(
        "{} {what} landed on main, in {} by {}.",
        ui.paint_err(BOLD, "demo:"),
        ui::count(cycles as usize, "cycle", "cycles"),
        ui::count(finished.workers.len(), "scripted agent", "scripted agents"),
    ));
    ui.status(format!("A short tour, in {}:", dir.display()));
    ui.status(format!("  cd {}", dir.display()));
    ui.status("  git oompa status                  the queue, and any swarm still running");
    if let Some(r) = &first {
        ui.status(format!(
            "  git oompa log --show {:<13}one cycle in full: task, turns, landing",
            format!("{}/{}", r.worker, r.cycle)
        ));
        if let Some(t) = &r.transcript {
            let shown = Path::new(t)
                .strip_prefix(dir)
                .map_or_else(|_| t.clone(), |p| p.display().to_string());
            ui.status(format!("  less {}", ui::escape(&shown)));
            ui.status("                                    what that agent was told and answered");
        }
    }
    ui.status("  git log main                      the landings, with their Oompa-* trailers");
    ui.status("  git oompa task list --all         the queue, completed tasks included");
    ui.status("");
    ui.status(ui.paint_err(BOLD, "In your own repository:"));
    ui.status("  git oompa init                    writes oompa.toml: set your agents there");
    ui.status("  git oompa task add 'what to do'   one task per change you want");
    ui.status("  git oompa swarm                   works the queue; Ctrl-C once stops it gently");
}

fn create_project(dir: &Path) -> Result<(), CommandError> {
    let write = |rel: &str, text: &str| -> Result<(), CommandError> {
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| CommandError::user(format!("creating {}: {e}", parent.display())))?;
        }
        std::fs::write(&p, text)
            .map_err(|e| CommandError::user(format!("writing {}: {e}", p.display())))
    };
    write(
        "README.md",
        "# Phrasebook\n\nA tiny phrasebook, one file per language, built by a swarm of scripted agents.\n",
    )?;
    write("phrases/english.txt", "hello = Hello\nthanks = Thank you\n")?;
    cli::init_with_commit(
        dir,
        "Demo User",
        "demo@example.invalid",
        "Start the phrasebook",
    )?;
    Ok(())
}

fn demo_tasks() -> Vec<Task> {
    PHRASES
        .iter()
        .map(|(id, lang, hello, thanks)| Task {
            version: TASK_VERSION,
            id: TaskId::new(id).expect("demo ids are valid"),
            summary: format!("Add {lang} phrases"),
            description: format!("Create phrases/{id}.txt with the {lang} words for hello and thanks."),
            difficulty: Some(crate::store::Difficulty::Easy),
            files: vec![format!("phrases/{id}.txt")],
            acceptance: vec![format!("phrases/{id}.txt has `hello = {hello}` and `thanks = {thanks}`")],
            created: jiff::Timestamp::now().to_string(),
            created_by: "demo".into(),
            claim: None,
            landed: None,
            extra: [(
                "demo".to_string(),
                serde_json::json!({"path": format!("phrases/{id}.txt"), "text": format!("hello = {hello}\nthanks = {thanks}\n")}),
            )]
            .into_iter()
            .collect(),
        })
        .collect()
}
