//! The benchmark harness of DESIGN.md §9: git oompa's orchestration overhead against the git
//! CLI doing the same steps (the steps oompa 0.7.1 shelled out for), printed as one table.
//!
//! `cargo bench --bench oompa` (full run, a few minutes) or
//! `cargo bench --bench oompa -- --quick` (well under a minute). See bench/README.md.
//! Speed targets live here, never in timed tests: nothing here runs during `cargo test`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod claims;
mod cycle;
mod fixture;
mod gate;
mod landing;
mod log;

use std::time::{Duration, Instant};

use fixture::{Bench, copy_dir, make_repo};

/// How big each measurement is.
struct Sizes {
    small_cycles: u32,
    big_cycles: Option<u32>,
    big_files: usize,
    land_workers: usize,
    land_cycles: u32,
    land_branches: usize,
    claims_per_slice: usize,
    claims_deadline: Duration,
    claims_alone: usize,
    log_records: usize,
    log_runs: usize,
    mem_workers: usize,
    mem_cycles: u32,
    gate_workers: usize,
    gate_cycles: u32,
}

impl Sizes {
    fn new(quick: bool) -> Sizes {
        if quick {
            Sizes {
                small_cycles: 8,
                big_cycles: None,
                big_files: 5_000,
                land_workers: 16,
                land_cycles: 2,
                land_branches: 32,
                claims_per_slice: 10,
                claims_deadline: Duration::from_secs(3),
                claims_alone: 30,
                log_records: 10_000,
                log_runs: 1,
                mem_workers: 64,
                mem_cycles: 1,
                gate_workers: 16,
                gate_cycles: 2,
            }
        } else {
            Sizes {
                small_cycles: 30,
                big_cycles: Some(20),
                big_files: 5_000,
                land_workers: 16,
                land_cycles: 6,
                land_branches: 128,
                claims_per_slice: 50,
                claims_deadline: Duration::from_secs(10),
                claims_alone: 100,
                log_records: 100_000,
                log_runs: 3,
                mem_workers: 64,
                mem_cycles: 2,
                gate_workers: 16,
                gate_cycles: 5,
            }
        }
    }
}

/// One line of the table. `ratio` > 1 always means git oompa does better.
struct Row {
    metric: String,
    oompa: String,
    baseline: String,
    ratio: String,
}

fn row(metric: impl Into<String>, oompa: String, baseline: String, ratio: String) -> Row {
    Row {
        metric: metric.into(),
        oompa,
        baseline,
        ratio,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn rate(r: f64) -> String {
    format!("{r:.1}/s")
}

/// Baseline time over git oompa time (git oompa faster → above 1).
fn faster(oompa: Duration, baseline: Duration) -> String {
    times(baseline.as_secs_f64() / oompa.as_secs_f64())
}

/// git oompa rate over baseline rate.
fn more(oompa: f64, baseline: f64) -> String {
    times(oompa / baseline)
}

fn times(r: f64) -> String {
    if !r.is_finite() {
        "-".into()
    } else if r >= 10.0 {
        format!("{r:.0}x")
    } else if r >= 1.0 {
        format!("{r:.1}x")
    } else {
        format!("{r:.2}x")
    }
}

/// 100000 → `100,000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mib(kb: Option<u64>) -> String {
    kb.map_or("n/a".into(), |kb| format!("{:.1} MiB", kb as f64 / 1024.0))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--claim-child") {
        let dir = std::path::PathBuf::from(&args[i + 1]);
        let process: usize = args[i + 2].parse().expect("process index");
        let per_slice: usize = args[i + 3].parse().expect("tasks per slice");
        claims::child(&dir, process, per_slice);
        return;
    }
    // `cargo bench` passes --bench; anything else (`cargo test --benches`) must not run this.
    if !args.iter().any(|a| a == "--bench") {
        println!("the benchmark harness runs with `cargo bench --bench oompa [-- --quick]`");
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let only: Option<Vec<String>> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.split(',').map(str::to_string).collect());
    let wants = |name: &str| only.as_ref().is_none_or(|o| o.iter().any(|x| x == name));
    let sizes = Sizes::new(quick);
    let bench = Bench::new();
    let started = Instant::now();
    print_machine(quick);

    let mut rows = Vec::new();
    let mut notes = Vec::new();

    if wants("cycle") {
        eprintln!("[cycle] per-cycle overhead, 20-file repo…");
        let (small, small_base, peak1) =
            per_cycle(&bench, "small", 20, sizes.small_cycles, &mut notes);
        push_cycle(
            &mut rows,
            "cycle (claim→worktree→land→note), 20 files",
            &small,
            &small_base,
        );
        match sizes.big_cycles {
            Some(n) => {
                eprintln!(
                    "[cycle] per-cycle overhead, {}-file repo…",
                    thousands(sizes.big_files)
                );
                let (big, big_base, _) = per_cycle(&bench, "big", sizes.big_files, n, &mut notes);
                push_cycle(
                    &mut rows,
                    &format!("cycle, {} files", thousands(sizes.big_files)),
                    &big,
                    &big_base,
                );
                rows.push(row(
                    format!(
                        "  extra cost of {} files per cycle",
                        thousands(sizes.big_files)
                    ),
                    ms(big.total.saturating_sub(small.total)),
                    ms(big_base.total.saturating_sub(small_base.total)),
                    "-".into(),
                ));
            }
            None => rows.push(row(
                format!("cycle, {} files", thousands(sizes.big_files)),
                "skipped (--quick)".into(),
                "-".into(),
                "-".into(),
            )),
        }
        rows.push(row(
            "peak memory, 1-worker swarm",
            mib(peak1),
            "-".into(),
            "-".into(),
        ));
    }

    if wants("landing") {
        let (w, c) = (sizes.land_workers, sizes.land_cycles);
        eprintln!("[landing] {w}-worker swarm, {c} cycles each…");
        let dir = bench.path("land-swarm");
        make_repo(&dir, 20);
        let run = cycle::swarm(&bench, &dir, w, c);
        let ours = run.merged as f64 / run.span.as_secs_f64();
        eprintln!("[landing] baseline: {w} threads of the 0.7.1 cycle…");
        let base_dir = bench.path("land-ancestor");
        make_repo(&base_dir, 20);
        let ancestor = cycle::Ancestor::new(&bench, &base_dir, w, c);
        let wall = cycle::ancestor_run(&ancestor, w, c);
        let theirs = (w * c as usize) as f64 / wall.as_secs_f64();
        rows.push(row(
            format!("landings/s, {w}-worker swarm"),
            rate(ours),
            rate(theirs),
            more(ours, theirs),
        ));
        if ancestor.note_failures() > 0 {
            notes.push(format!(
                "baseline, {w} workers: `git notes add` lost the race on refs/notes/oompa {} \
                 times and was retried ({} of {} notes written).",
                ancestor.note_failures(),
                ancestor.notes_written(),
                w * c as usize
            ));
        }
        let n = sizes.land_branches;
        eprintln!("[landing] landing step alone, {n} ready branches…");
        let (ours, theirs) = landing::run(&bench, n);
        rows.push(row(
            format!("landings/s, landing step alone ({n} branches)"),
            rate(n as f64 / ours.as_secs_f64()),
            rate(n as f64 / theirs.as_secs_f64()),
            faster(ours, theirs),
        ));
    }

    if wants("claims") {
        let per = sizes.claims_per_slice;
        eprintln!(
            "[claims] {} processes × {} threads, {} tasks…",
            claims::PROCESSES,
            claims::THREADS,
            per * claims::THREADS
        );
        let ours = claims::oompa(&bench, per);
        eprintln!(
            "[claims] baseline: {} shell CAS loops…",
            claims::PROCESSES * claims::THREADS
        );
        let theirs = claims::baseline(
            &bench,
            claims::PROCESSES,
            claims::THREADS,
            per,
            sizes.claims_deadline,
        );
        rows.push(row(
            format!(
                "claims/s, {} processes × {} threads",
                claims::PROCESSES,
                claims::THREADS
            ),
            rate(ours.per_sec()),
            rate(theirs.per_sec()),
            more(ours.per_sec(), theirs.per_sec()),
        ));
        rows.push(row(
            "  double claims (must be 0)",
            ours.doubles.to_string(),
            theirs.doubles.to_string(),
            "-".into(),
        ));
        if theirs.cut {
            notes.push(format!(
                "claims baseline: stopped after {:.1}s with {} of {} tasks claimed.",
                theirs.elapsed.as_secs_f64(),
                theirs.claimed,
                per * claims::THREADS
            ));
        }
        assert_eq!(ours.doubles, 0, "git oompa claimed a task twice");
        assert_eq!(ours.claimed, per * claims::THREADS);
        let n = sizes.claims_alone;
        eprintln!("[claims] one claimer, no contention, {n} tasks…");
        let ours = claims::oompa_alone(&bench, n);
        let theirs = claims::baseline(&bench, 1, 1, n, sizes.claims_deadline);
        rows.push(row(
            "claims/s, 1 claimer, no contention",
            rate(ours.per_sec()),
            rate(theirs.per_sec()),
            more(ours.per_sec(), theirs.per_sec()),
        ));
    }

    if wants("log") {
        let n = sizes.log_records;
        eprintln!("[log] git oompa log over {n} records…");
        let t = log::run(&bench, n, sizes.log_runs);
        assert!(t.table_rows > n, "the table printed {} lines", t.table_rows);
        rows.push(row(
            format!("git oompa log, {} records (table)", thousands(n)),
            secs(t.table),
            secs(t.git_log),
            faster(t.table, t.git_log),
        ));
        rows.push(row(
            format!("git oompa log --json, {} records", thousands(n)),
            secs(t.json),
            secs(t.cat_file),
            faster(t.json, t.cat_file),
        ));
    }

    if wants("memory") {
        let (w, c) = (sizes.mem_workers, sizes.mem_cycles);
        eprintln!("[memory] {w}-worker swarm, {c} cycle(s) each…");
        let dir = bench.path("mem-swarm");
        make_repo(&dir, 20);
        let run = cycle::swarm(&bench, &dir, w, c);
        rows.push(row(
            format!("peak memory, {w}-worker swarm"),
            mib(run.peak_kb),
            "-".into(),
            "-".into(),
        ));
        notes.push(format!(
            "{w}-worker swarm: {} cycles landed in {:.1}s wall (start-up and teardown of {w} \
             worktrees included).",
            run.merged,
            run.wall.as_secs_f64()
        ));
    }

    let mut gate_results = Vec::new();
    if wants("gate") {
        let (w, c) = (sizes.gate_workers, sizes.gate_cycles);
        for (label, batch, parallel) in [
            ("batch 1", 1, 1),
            ("batch 8", 8, 1),
            ("batch 8, parallel 2", 8, 2),
        ] {
            eprintln!("[gate] {w} workers x {c} cycles through a 1 s gate, {label}…");
            gate_results.push(gate::run(&bench, label, w, c, batch, parallel));
        }
        let one = &gate_results[0];
        for r in &gate_results[1..] {
            rows.push(row(
                format!("landings/min, 1 s gate: {} vs batch 1", r.label),
                format!("{:.1}/min", r.per_minute()),
                format!("{:.1}/min", one.per_minute()),
                more(r.per_minute(), one.per_minute()),
            ));
        }
        for r in &gate_results {
            assert_eq!(r.red, 0, "{}: a landing holds a breaking change", r.label);
        }
    }

    print_table(&rows);
    if !gate_results.is_empty() {
        print_gate_table(&gate_results);
    }
    print_legend(&sizes, quick);
    for n in &notes {
        println!("{}", wrap(&format!("note: {n}"), 96));
    }
    println!(
        "total harness time: {:.0}s",
        started.elapsed().as_secs_f64()
    );
}

/// Per-cycle times of one side.
struct PerCycle {
    total: Duration,
    /// Of `total`, the time inside the two agent turns.
    agent: Duration,
}

/// git oompa's steady-state cycle (a 1-worker swarm, from the first cycle's start to the last
/// one's end, divided by the cycles) and the 0.7.1 cycle with the git CLI, on a repository
/// of `files` files. Returns (git oompa, baseline, swarm peak memory).
fn per_cycle(
    bench: &Bench,
    name: &str,
    files: usize,
    cycles: u32,
    notes: &mut Vec<String>,
) -> (PerCycle, PerCycle, Option<u64>) {
    let template = bench.path(&format!("{name}-template"));
    make_repo(&template, files);
    let ours = bench.path(&format!("{name}-oompa"));
    let theirs = bench.path(&format!("{name}-ancestor"));
    copy_dir(&template, &ours);
    copy_dir(&template, &theirs);
    let run = cycle::swarm(bench, &ours, 1, cycles);
    let per = PerCycle {
        total: run.span / cycles,
        agent: run.agent / cycles,
    };
    notes.push(format!(
        "{} files: the 1-worker swarm took {:.2}s wall for {cycles} cycles; {:.2}s of it \
         is one-time start-up and teardown (process, worktree creation and removal).",
        thousands(files),
        run.wall.as_secs_f64(),
        run.wall.saturating_sub(run.span).as_secs_f64()
    ));
    let ancestor = cycle::Ancestor::new(bench, &theirs, 1, cycles);
    let wall = cycle::ancestor_run(&ancestor, 1, cycles);
    let base = PerCycle {
        total: wall / cycles,
        agent: ancestor.agent_time() / cycles,
    };
    (per, base, run.peak_kb)
}

/// A cycle row, and the split of it into agent turns and everything else.
fn push_cycle(rows: &mut Vec<Row>, metric: &str, ours: &PerCycle, theirs: &PerCycle) {
    rows.push(row(
        metric,
        ms(ours.total),
        ms(theirs.total),
        faster(ours.total, theirs.total),
    ));
    rows.push(row(
        "  of which the 2 agent turns",
        ms(ours.agent),
        ms(theirs.agent),
        faster(ours.agent, theirs.agent),
    ));
    let (o, t) = (
        ours.total.saturating_sub(ours.agent),
        theirs.total.saturating_sub(theirs.agent),
    );
    rows.push(row(
        "  of which everything else",
        ms(o),
        ms(t),
        faster(o, t),
    ));
}

fn print_machine(quick: bool) {
    let git = fixture::git(std::path::Path::new("."), &["--version"]);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    println!(
        "git oompa benchmark ({})",
        if quick { "--quick" } else { "full" }
    );
    println!(
        "date: {}",
        jiff::Zoned::now().strftime("%Y-%m-%d %H:%M:%S %Z")
    );
    println!(
        "machine: {} CPUs ({cpu}), {}, load average {} at start",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        git.trim(),
        load.join(" ")
    );
    println!(
        "scratch: {} (tmpfs when available)",
        fixture::tmp_base().display()
    );
    println!();
}

fn print_table(rows: &[Row]) {
    let header = row(
        "metric",
        "git oompa".into(),
        "baseline (git CLI)".into(),
        "ratio".into(),
    );
    let all: Vec<&Row> = std::iter::once(&header).chain(rows).collect();
    let w0 = all
        .iter()
        .map(|r| r.metric.chars().count())
        .max()
        .unwrap_or(0);
    let w1 = all
        .iter()
        .map(|r| r.oompa.chars().count())
        .max()
        .unwrap_or(0);
    let w2 = all
        .iter()
        .map(|r| r.baseline.chars().count())
        .max()
        .unwrap_or(0);
    let w3 = all
        .iter()
        .map(|r| r.ratio.chars().count())
        .max()
        .unwrap_or(0);
    for (i, r) in all.iter().enumerate() {
        println!(
            "{:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}",
            r.metric, r.oompa, r.baseline, r.ratio
        );
        if i == 0 {
            println!("{}", "-".repeat(w0 + w1 + w2 + w3 + 6));
        }
    }
    println!();
}

fn print_gate_table(results: &[gate::GateResult]) {
    println!(
        "{:<22} {:>8} {:>12} {:>10} {:>14} {:>14} {:>10}",
        "gate scenario", "landed", "landings/min", "runs", "runs/landing", "approved→landed", "red"
    );
    println!(
        "{:<22} {:>8} {:>12} {:>10} {:>14} {:>14} {:>10}",
        "", "", "", "", "", "median / p90", "landings"
    );
    println!("{}", "-".repeat(96));
    for r in results {
        println!(
            "{:<22} {:>8} {:>12} {:>10} {:>14} {:>14} {:>10}",
            r.label,
            r.landed,
            format!("{:.1}", r.per_minute()),
            r.runs,
            format!("{:.2}", r.runs_per_landing()),
            format!(
                "{:.1}s / {:.1}s",
                r.queue_percentile(0.5).as_secs_f64(),
                r.queue_percentile(0.9).as_secs_f64()
            ),
            r.red
        );
    }
    println!();
}

fn print_legend(s: &Sizes, quick: bool) {
    let big = if quick {
        String::new()
    } else {
        format!(
            "; {} cycles on the {}-file repo",
            s.big_cycles.unwrap_or(0),
            thousands(s.big_files)
        )
    };
    let paragraphs = [
        "ratio: how many times better git oompa does (baseline time / git oompa time, or git \
         oompa rate / baseline rate); above 1 means git oompa is faster."
            .to_string(),
        format!(
            "cycle: one cycle with an instant agent (2 turns: CLAIM, then write one file and \
             signal merge; both sides run the same `sh` agent). git oompa: a real `git oompa \
             swarm`, 1 worker, {} cycles on the 20-file repo{big}; time from the first cycle's \
             start to the last one's end, divided by the cycles (start-up, worktree creation \
             and teardown are excluded and reported in the notes). Baseline: oompa 0.7.1's \
             cycle with the git CLI: `git worktree add -b`, claim by file rename, `git add -A`, \
             `git commit`, `git checkout main`, `git merge --no-edit`, `git rev-parse HEAD`, \
             `git notes add`, `git worktree remove --force`, `git branch -D`. \"agent turns\" is \
             the time from starting an agent to having its result (git oompa: the records' \
             agent_ms); the extra-cost row is the 5,000-file cycle minus the 20-file one.",
            s.small_cycles
        ),
        format!(
            "landings/s, swarm: {} workers x {} cycles, landings / (first cycle start -> last \
             cycle end). Baseline: {} threads running the 0.7.1 cycle above, with add, commit \
             and merge under one lock as 0.7.1 did.",
            s.land_workers, s.land_cycles, s.land_workers
        ),
        format!(
            "landings/s, landing step alone: {} ready branches landed one after the other with \
             the merge queue's steps (in-memory merge, landing commit with trailers, one \
             transaction moving main and completing the task, the checkout follows with `git \
             read-tree -m -u`), against serialized `git checkout main && git merge --no-edit` \
             in the checkout.",
            s.land_branches
        ),
        format!(
            "claims/s: {} tasks, each raced by one thread of each of 2 processes (16 threads \
             each) through Queue::claim. Baseline: 2 x 16 `sh` loops doing the same \
             commit-chain claim (`rev-parse`, `read-tree`, `hash-object`, `update-index`, \
             `write-tree`, `commit-tree`, `update-ref <ref> <new> <old>`), stopped after {}s. \
             Double claims are counted from the queue's history. The no-contention row: one \
             thread, one shell loop, {} tasks.",
            s.claims_per_slice * claims::THREADS,
            s.claims_deadline.as_secs(),
            s.claims_alone
        ),
        format!(
            "log: {} records, one per commit, written with Notes::append in batches of 1,000, \
             then packed; best of {}; output read through a pipe. Table vs `git log \
             --notes=oompa --format=%N main`; --json vs `git notes --ref=oompa list | git \
             cat-file --batch`.",
            thousands(s.log_records),
            s.log_runs
        ),
        format!(
            "peak memory: VmHWM of the git-oompa process, sampled from /proc every 10 ms ({} \
             workers x {} cycle(s); agents and git children not included).",
            s.mem_workers, s.mem_cycles
        ),
        format!(
            "gate: {} workers x {} cycles of the instant agent through a `[gate]` whose command \
             sleeps 1 s and fails while the candidate holds a `broken-*` file (naming each); change \
             number cycle x workers + worker adds one when it ends in 3 (1 in 10, spread over \
             the cycles), and removes it when the failure comes back (retries = 0: the gate is \
             not flaky). landings/min: merged \
             cycles / (first cycle start -> last cycle end); runs: runs of the gate command (the \
             swarm summary); approved->landed: the records' queue_ms (change enters the merge \
             queue -> it lands, its last time in); red landings: first-parent commits of main \
             holding a broken-* file (must be 0).",
            s.gate_workers, s.gate_cycles
        ),
    ];
    for p in paragraphs {
        println!("{}\n", wrap(&p, 96));
    }
}

/// Wraps text at `width` columns (words are never split).
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split_whitespace() {
        let len = word.chars().count();
        if line > 0 && line + 1 + len > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += len;
    }
    out
}
