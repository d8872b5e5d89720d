//! One integration-test binary (links once): real `git-oompa` binary, real git, temporary
//! repositories, hermetic environment.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "helper processes report to their parent test on stdout"
)]

mod common;

mod test_agents;
mod test_ancestry;
mod test_budget;
mod test_cli;
mod test_completions;
mod test_crash;
mod test_cycle;
mod test_doctor;
mod test_errors;
mod test_from_oompa;
mod test_gate;
mod test_gc;
mod test_hooks;
mod test_init;
mod test_inputs;
mod test_left_alone;
mod test_leftovers;
mod test_limit_pauses;
mod test_limits;
mod test_log;
mod test_mockllm;
mod test_output;
mod test_predict;
mod test_real_clis;
mod test_review;
mod test_settings;
mod test_signals;
mod test_snapshot;
mod test_status;
mod test_stop;
mod test_tamper;
mod test_task;
mod test_timeline;
mod test_watch;

/// Cargo builds only this file (`autotests = false`), so a test file that is not a module here
/// never compiles and never runs, silently. Every `tests/*.rs` and `tests/common/*.rs` must be
/// declared: `mod NAME;` here, `pub mod NAME;` in `tests/common/mod.rs`.
#[test]
fn no_test_file_is_forgotten_by_the_runner() {
    use std::collections::BTreeSet;
    use std::path::Path;

    fn rust_files(dir: &Path, except: &str) -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("a directory entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "rs"))
            .filter_map(|p| Some(p.file_stem()?.to_str()?.to_string()))
            .filter(|stem| stem != except)
            .collect()
    }
    fn declared(file: &Path) -> BTreeSet<String> {
        std::fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
            .lines()
            .filter_map(|l| {
                let l = l.trim();
                let l = l.strip_prefix("pub ").unwrap_or(l);
                Some(l.strip_prefix("mod ")?.strip_suffix(';')?.to_string())
            })
            .collect()
    }

    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    for (dir, module, except) in [
        (tests.clone(), tests.join("runner.rs"), "runner"),
        (tests.join("common"), tests.join("common/mod.rs"), "mod"),
    ] {
        let have = declared(&module);
        let forgotten: Vec<String> = rust_files(&dir, except)
            .difference(&have)
            .cloned()
            .collect();
        assert!(
            forgotten.is_empty(),
            "{} does not declare {forgotten:?} of {}: those files never compile nor run; \
             add a `mod NAME;` line for each",
            module.display(),
            dir.display()
        );
    }
}
