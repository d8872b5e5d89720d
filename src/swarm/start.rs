//! Starting a swarm: the checks before it, the state its threads share, and the threads.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::{Sender, unbounded};

use super::predictor::predictor;
use super::preflight::{copy_problems, preflight, prompt_problems};
use super::{
    Control, Event, LandRequest, Options, Shared, Swarm, SwarmError, WorkerSummary, budget, gate,
    live, merge_queue, orphans, planner, predict, recorder, registry, target_tip, worker,
    worker_ids,
};
use crate::config::WorkerConfig;
use crate::git::Repo;
use crate::store::Queue;
use crate::store::journal;
use crate::store::layout;
use crate::store::queue::hostname;
use crate::store::record::CycleRecord;
use crate::store::recover::{describe_recorded, recover};
use crate::store::swarm::SwarmRecord;

impl Swarm {
    /// Checks the target, recovers dead claims, records the swarm in the queue and starts
    /// every thread.
    pub fn start(repo: &Repo, opts: Options) -> Result<Swarm, SwarmError> {
        let target_ref = check_target(repo, &opts)?;
        let queue = Queue::new(repo);
        queue.init()?;
        let (events_tx, events) = unbounded();
        recover_dead_swarms(repo, &target_ref, &events_tx)?;

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
        let ids = worker_ids(&opts.config);
        let record = announce(repo, &queue, &id, &opts, &ids, &events_tx)?;
        let shared = Arc::new(shared_state(
            repo, opts, target_ref, &ids, &record, events_tx,
        ));
        let threads = spawn_threads(&shared, ids)?;
        Ok(Swarm {
            id: record.id,
            events,
            shared,
            workers: threads.workers,
            merge_queue: Some(threads.merge_queue),
            recorder: Some(threads.recorder),
            planner: threads.planner,
            predictor: Some(threads.predictor),
            live: Some(threads.live),
            land_tx: Some(threads.land_tx),
            record_tx: Some(threads.record_tx),
            registration: Some(registration),
            watchdog,
        })
    }
}

/// Preflight: every agent CLI is there and the target branch exists. Returns the target's
/// full ref name.
fn check_target(repo: &Repo, opts: &Options) -> Result<String, SwarmError> {
    preflight(&opts.config)?;
    let target_ref = format!("refs/heads/{}", opts.target);
    if repo.read_ref(&target_ref)?.is_none() {
        return Err(SwarmError::NoTarget(opts.target.clone()));
    }
    Ok(target_ref)
}

/// Ends what dead swarms left running, returns their claims, keeps their work and records
/// their unrecorded cycles, saying so on `events`.
fn recover_dead_swarms(
    repo: &Repo,
    target_ref: &str,
    events: &Sender<Event>,
) -> Result<(), SwarmError> {
    orphans::sweep_dead(repo.common_dir());
    let (recovered, kept) = recover(repo, Some(target_ref))?;
    if !recovered.released.is_empty()
        || !recovered.crashed.is_empty()
        || !recovered.recorded.is_empty()
    {
        let _ = events.send(Event::Recovered {
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
        let _ = events.send(Event::Warning(problem.clone()));
    }
    Ok(())
}

/// Records the swarm in the queue and says it started, with a warning for each `copy` entry
/// and prompt include that cannot be used. Returns the record.
fn announce(
    repo: &Repo,
    queue: &Queue<'_>,
    id: &str,
    opts: &Options,
    ids: &[(String, WorkerConfig)],
    events: &Sender<Event>,
) -> Result<SwarmRecord, SwarmError> {
    let record = SwarmRecord {
        version: 1,
        id: id.to_string(),
        started: jiff::Timestamp::now().to_string(),
        host: hostname(),
        pid: std::process::id(),
        target: opts.target.clone(),
        config: opts.config.path.as_ref().map(|p| p.display().to_string()),
        workers: ids.iter().map(|(w, _)| w.clone()).collect(),
        stopped: None,
    };
    queue.put_swarm(&record, "started")?;
    let _ = events.send(Event::Started {
        swarm: id.to_string(),
        target: opts.target.clone(),
        workers: models(ids),
    });
    let warnings = copy_problems(&repo.main_workdir(), &opts.config.copy)
        .into_iter()
        .chain(prompt_problems(&opts.config));
    for warning in warnings {
        let _ = events.send(Event::Warning(warning));
    }
    Ok(record)
}

/// Each worker's id and model, in order.
fn models(ids: &[(String, WorkerConfig)]) -> Vec<(String, String)> {
    ids.iter()
        .map(|(w, c)| (w.clone(), c.model.to_string()))
        .collect()
}

/// The state every thread of the swarm `record` shares, its live board included.
fn shared_state(
    repo: &Repo,
    opts: Options,
    target_ref: String,
    ids: &[(String, WorkerConfig)],
    record: &SwarmRecord,
    events: Sender<Event>,
) -> Shared {
    let id = record.id.clone();
    let root = repo.main_workdir();
    let worktree_dir = &opts.config.worktree_dir;
    let worktrees = if worktree_dir.is_absolute() {
        worktree_dir.clone()
    } else {
        root.join(worktree_dir)
    };
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
        &models(ids),
        transcripts.clone(),
    );
    Shared {
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
        target_tip: target_tip::TargetTip::default(),
        events,
    }
}

/// The threads of a started swarm, and the channels into its merge queue and recorder.
struct Threads {
    merge_queue: JoinHandle<()>,
    recorder: JoinHandle<()>,
    predictor: JoinHandle<()>,
    live: JoinHandle<()>,
    planner: Option<JoinHandle<()>>,
    workers: Vec<JoinHandle<WorkerSummary>>,
    land_tx: Sender<LandRequest>,
    record_tx: Sender<CycleRecord>,
}

/// Starts the merge queue, the recorder, the predictor, the live status writer, the planner
/// (when there is one) and one thread per worker, in that order.
fn spawn_threads(
    shared: &Arc<Shared>,
    ids: Vec<(String, WorkerConfig)>,
) -> Result<Threads, SwarmError> {
    let (land_tx, land_rx) = unbounded();
    let (record_tx, record_rx) = unbounded();
    let merge_queue = {
        let shared = Arc::clone(shared);
        spawn("merge-queue".into(), move || {
            merge_queue::run(&shared, land_rx)
        })?
    };
    let recorder = {
        let shared = Arc::clone(shared);
        spawn("recorder".into(), move || recorder::run(&shared, record_rx))?
    };
    let predictor = {
        let shared = Arc::clone(shared);
        spawn("predictor".into(), move || predictor(&shared))?
    };
    let live = {
        let shared = Arc::clone(shared);
        spawn("live".into(), move || live::run(&shared))?
    };
    let planner = match shared.config.planner.clone() {
        Some(config) => {
            let shared = Arc::clone(shared);
            let records = record_tx.clone();
            Some(spawn("planner".into(), move || {
                planner::run(&shared, &config, &records)
            })?)
        }
        None => None,
    };
    let mut workers = Vec::new();
    for (wid, wconf) in ids {
        let ctx = worker::Worker::new(
            Arc::clone(shared),
            wid.clone(),
            wconf,
            land_tx.clone(),
            record_tx.clone(),
        );
        workers.push(spawn(format!("worker-{wid}"), move || ctx.run())?);
    }
    Ok(Threads {
        merge_queue,
        recorder,
        predictor,
        live,
        planner,
        workers,
        land_tx,
        record_tx,
    })
}

/// Starts a named thread (one that panics at once when
/// [`TEST_PANIC_IN`](crate::agent_env::TEST_PANIC_IN) names it).
fn spawn<T: Send + 'static>(
    name: String,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<JoinHandle<T>, SwarmError> {
    let test_panic = std::env::var(crate::agent_env::TEST_PANIC_IN).is_ok_and(|n| n == name);
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            if test_panic {
                panic!("a test asked this thread to panic");
            }
            f()
        })
        .map_err(SwarmError::Thread)
}
