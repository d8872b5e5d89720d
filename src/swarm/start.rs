//! Starting a swarm: the checks before it, the state its threads share, and the threads.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};

use crossbeam_channel::unbounded;

use super::predictor::predictor;
use super::preflight::{copy_problems, preflight, prompt_problems};
use super::{
    Control, Event, Options, Shared, Swarm, SwarmError, budget, gate, live, merge_queue, orphans,
    planner, predict, recorder, registry, worker, worker_ids,
};
use crate::git::Repo;
use crate::store::Queue;
use crate::store::journal;
use crate::store::layout;
use crate::store::queue::hostname;
use crate::store::recover::{describe_recorded, recover};
use crate::store::swarm::SwarmRecord;

impl Swarm {
    /// Checks the target, recovers dead claims, records the swarm in the queue and starts
    /// every thread.
    pub fn start(repo: &Repo, opts: Options) -> Result<Swarm, SwarmError> {
        preflight(&opts.config)?;
        let target_ref = format!("refs/heads/{}", opts.target);
        if repo.read_ref(&target_ref)?.is_none() {
            return Err(SwarmError::NoTarget(opts.target));
        }
        let queue = Queue::new(repo);
        queue.init()?;
        let (events_tx, events) = unbounded();
        orphans::sweep_dead(repo.common_dir());
        let (recovered, kept) = recover(repo, Some(&target_ref))?;
        if !recovered.released.is_empty()
            || !recovered.crashed.is_empty()
            || !recovered.recorded.is_empty()
        {
            let _ = events_tx.send(Event::Recovered {
                recorded: recovered.recorded.iter().map(describe_recorded).collect(),
                released: recovered
                    .released
                    .iter()
                    .map(|(id, _)| id.to_string())
                    .collect(),
                crashed: recovered.crashed.iter().map(|s| s.id.clone()).collect(),
                kept,
            });
        }
        for problem in &recovered.unrecorded {
            let _ = events_tx.send(Event::Warning(problem.clone()));
        }

        let id = opts
            .id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..8].to_string());
        let registration = registry::register(
            repo.common_dir(),
            &registry::this_process(repo.common_dir(), &id, &opts.target, opts.detached),
        )
        .map_err(|source| SwarmError::Registry {
            dir: registry::dir(repo.common_dir(), &id),
            source,
        })?;
        let watchdog = std::env::current_exe()
            .ok()
            .and_then(|exe| orphans::Watchdog::start(&exe, &id));
        let root = repo.main_workdir();
        let ids = worker_ids(&opts.config);
        let worktree_dir = &opts.config.worktree_dir;
        let worktrees = if worktree_dir.is_absolute() {
            worktree_dir.clone()
        } else {
            root.join(worktree_dir)
        };
        let record = SwarmRecord {
            version: 1,
            id: id.clone(),
            started: jiff::Timestamp::now().to_string(),
            host: hostname(),
            pid: std::process::id(),
            target: opts.target.clone(),
            config: opts.config.path.as_ref().map(|p| p.display().to_string()),
            workers: ids.iter().map(|(w, _)| w.clone()).collect(),
            stopped: None,
        };
        queue.put_swarm(&record, "started")?;
        let _ = events_tx.send(Event::Started {
            swarm: id.clone(),
            target: opts.target.clone(),
            workers: ids
                .iter()
                .map(|(w, c)| (w.clone(), c.model.to_string()))
                .collect(),
        });

        let warnings = copy_problems(&root, &opts.config.copy)
            .into_iter()
            .chain(prompt_problems(&opts.config));
        for warning in warnings {
            let _ = events_tx.send(Event::Warning(warning));
        }
        let has_planner = opts.config.planner.is_some();
        let transcripts = layout::transcripts_dir(repo.common_dir(), &id);
        let live = live::Board::new(
            live::LiveStatus {
                swarm: id.clone(),
                pid: record.pid,
                host: record.host.clone(),
                target: opts.target.clone(),
                started: record.started.clone(),
                ..Default::default()
            },
            &ids.iter()
                .map(|(w, c)| (w.clone(), c.model.to_string()))
                .collect::<Vec<_>>(),
            transcripts.clone(),
        );
        let shared = Arc::new(Shared {
            id: id.clone(),
            repo: repo.clone().into_shared(),
            transcripts,
            journal: journal::Journal::new(repo.common_dir(), &id, hostname()),
            config: opts.config,
            target: opts.target,
            target_ref,
            root,
            worktrees: worktrees.join(&id),
            exe_dir: opts.exe_dir,
            control: Arc::new(Control::default()),
            in_flight: AtomicUsize::new(0),
            idle_workers: AtomicUsize::new(0),
            workers_running: AtomicUsize::new(ids.len()),
            planner_ready: AtomicBool::new(!has_planner),
            planner_active: AtomicBool::new(has_planner),
            prediction: Mutex::new(predict::Prediction::default()),
            flagged: Mutex::new(BTreeSet::new()),
            landing_conflicts: AtomicUsize::new(0),
            predicted_conflicts: AtomicUsize::new(0),
            board: gate::Board::default(),
            ledger: budget::Ledger::default(),
            live,
            provider_pauses: worker::ProviderPauses::default(),
            events: events_tx,
        });
        let (land_tx, land_rx) = unbounded();
        let (record_tx, record_rx) = unbounded();
        let spawn = |name: String| std::thread::Builder::new().name(name);
        let merge_queue = {
            let shared = Arc::clone(&shared);
            spawn("merge-queue".into())
                .spawn(move || merge_queue::run(&shared, land_rx))
                .map_err(SwarmError::Thread)?
        };
        let recorder = {
            let shared = Arc::clone(&shared);
            spawn("recorder".into())
                .spawn(move || recorder::run(&shared, record_rx))
                .map_err(SwarmError::Thread)?
        };
        let predictor = {
            let shared = Arc::clone(&shared);
            spawn("predictor".into())
                .spawn(move || predictor(&shared))
                .map_err(SwarmError::Thread)?
        };
        let live = {
            let shared = Arc::clone(&shared);
            spawn("live".into())
                .spawn(move || live::run(&shared))
                .map_err(SwarmError::Thread)?
        };
        let planner = match shared.config.planner.clone() {
            Some(config) => {
                let shared = Arc::clone(&shared);
                let records = record_tx.clone();
                Some(
                    spawn("planner".into())
                        .spawn(move || planner::run(&shared, &config, &records))
                        .map_err(SwarmError::Thread)?,
                )
            }
            None => None,
        };
        let mut workers = Vec::new();
        for (wid, wconf) in ids {
            let ctx = worker::Worker::new(
                Arc::clone(&shared),
                wid.clone(),
                wconf,
                land_tx.clone(),
                record_tx.clone(),
            );
            workers.push(
                spawn(format!("worker-{wid}"))
                    .spawn(move || ctx.run())
                    .map_err(SwarmError::Thread)?,
            );
        }
        Ok(Swarm {
            id,
            events,
            shared,
            workers,
            merge_queue: Some(merge_queue),
            recorder: Some(recorder),
            planner,
            predictor: Some(predictor),
            live: Some(live),
            land_tx: Some(land_tx),
            record_tx: Some(record_tx),
            registration: Some(registration),
            watchdog,
        })
    }
}
