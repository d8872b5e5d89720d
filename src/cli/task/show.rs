//! `git oompa task show ID`: one task in full, as it stands now: a completed task shows its
//! landing (not the claim it once had), a claimed one who holds it and whether that owner
//! is still alive.

use serde_json::json;

use crate::cli::ui::{self, BOLD, Ui};
use crate::cli::{CommandError, Env};
use crate::git::Repo;
use crate::store::queue::hostname;
use crate::store::swarm::claim_is_dead;
use crate::store::{Claim, Landed, Queue, State, Task, TaskId};

/// Show one task in full
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The task id
    pub id: String,
    /// Full times and commit ids, lines not wrapped to the terminal
    #[arg(long)]
    pub wide: bool,
    /// The stored record plus "state", as one JSON object
    #[arg(long)]
    pub json: bool,
}

/// Label column of the details.
const LABEL: usize = 12;

pub fn run(env: &Env, args: Args) -> Result<(), CommandError> {
    let id = TaskId::new(&args.id)?;
    let repo = env.repo()?;
    let (state, task) = Queue::new(&repo).get(&id)?;
    if args.json {
        let mut v = serde_json::to_value(&task).expect("a task always serializes");
        v["state"] = json!(state.dir());
        return env.ui.out_json(&v);
    }
    let ui = &env.ui;
    let width = ui.table_width(args.wide);
    let field = |label: &str, value: &str| -> Result<(), CommandError> {
        let label = format!("{label}:");
        ui.out(format!(
            "{label:<LABEL$}{}",
            ui::wrap(&ui::escape(value), width, LABEL)
        ))
    };
    ui.out(format!(
        "{} {}",
        ui.paint(BOLD, &task.id),
        ui::wrap(
            &ui::escape(&task.summary),
            width,
            task.id.as_str().len() + 1
        )
    ))?;
    let state_word = match state {
        State::Current => "claimed",
        s => s.dir(),
    };
    field("state", state_word)?;
    match (state, &task.claim, &task.landed) {
        (State::Complete, claim, landed) => field(
            "landed",
            &landed_text(landed.as_ref(), claim.as_ref(), args.wide),
        )?,
        (State::Current, Some(c), _) => {
            for (label, value) in claim_lines(&repo, c, args.wide) {
                field(label, &value)?;
            }
        }
        _ => {}
    }
    if let Some((_, p)) = super::list::priority(&task) {
        field("priority", &p)?;
    }
    if let Some(d) = task.difficulty {
        field("difficulty", &d.to_string())?;
    }
    field(
        "created",
        &format!("{} by {}", time(&task.created, args.wide), task.created_by),
    )?;
    if !task.files.is_empty() {
        field("files", &task.files.join(", "))?;
    }
    print_text(ui, &task, width)
}

/// A stored time: full in UTC and how long ago (`--wide`: exactly as stored).
fn time(raw: &str, wide: bool) -> String {
    if wide {
        raw.to_string()
    } else {
        ui::when_long(raw)
    }
}

/// How a completed task landed: when, as what, by whom, after how many review rounds.
fn landed_text(landed: Option<&Landed>, claim: Option<&Claim>, wide: bool) -> String {
    let Some(l) = landed else {
        return "no landing recorded".into();
    };
    let commit: String = if wide {
        l.commit.clone()
    } else {
        l.commit.chars().take(12).collect()
    };
    let who = l.worker.clone().or_else(|| {
        claim.map(|c| {
            if c.swarm.is_empty() {
                c.worker.clone()
            } else {
                format!("{}/{}", c.swarm, c.worker)
            }
        })
    });
    let mut s = format!("{} as {commit}", time(&l.at, wide));
    if let Some(w) = who {
        s.push_str(&format!(" by {w}"));
    }
    s.push_str(&match l.review_rounds {
        0 => ", no review".to_string(),
        n => format!(
            ", after {}",
            ui::count(n as usize, "review round", "review rounds")
        ),
    });
    s
}

/// Who holds a claimed task, whether that owner is alive, its branch and lease.
fn claim_lines(repo: &Repo, c: &Claim, wide: bool) -> Vec<(&'static str, String)> {
    let owner = if c.swarm.is_empty() {
        c.worker.clone()
    } else {
        format!("{}/{}", c.swarm, c.worker)
    };
    let host = hostname();
    let swarm_stopped = Queue::new(repo)
        .swarms()
        .ok()
        .and_then(|all| all.into_iter().find(|s| s.id == c.swarm))
        .is_some_and(|s| s.stopped.is_some());
    let alive = if claim_is_dead(c, &host, swarm_stopped) {
        "owner gone: the next `git oompa task list` or `gc` returns it to pending".to_string()
    } else if c.pid == 0 {
        "claimed by hand".to_string()
    } else if c.host == host {
        format!("swarm running, pid {}", c.pid)
    } else {
        format!("on {}, pid {}", c.host, c.pid)
    };
    let mut lines = vec![(
        "claimed",
        format!("by {owner} since {}; {alive}", time(&c.claimed_at, wide)),
    )];
    if let Some(b) = &c.branch {
        let exists = repo.read_ref(b).ok().flatten().is_some();
        let short = b.strip_prefix("refs/heads/").unwrap_or(b);
        lines.push((
            "branch",
            if exists {
                short.to_string()
            } else {
                format!("{short} (no longer exists)")
            },
        ));
    }
    lines.push(("lease", format!("until {}", time(&c.lease_until, wide))));
    lines
}

/// The description, indented, and the acceptance criteria.
fn print_text(ui: &Ui, task: &Task, width: Option<usize>) -> Result<(), CommandError> {
    if !task.description.is_empty() {
        ui.out("")?;
        for line in ui::escape_lines(&task.description).lines() {
            ui.out(format!("    {}", ui::wrap(line, width, 4)))?;
        }
    }
    if !task.acceptance.is_empty() {
        ui.out("")?;
        ui.out("acceptance:")?;
        for a in &task.acceptance {
            ui.out(format!("  - {}", ui::wrap(&ui::escape(a), width, 4)))?;
        }
    }
    Ok(())
}
