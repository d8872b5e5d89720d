//! One integration-test binary (links once): real `git-oompa` binary, real git, temporary
//! repositories, hermetic environment.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "helper processes report to their parent test on stdout"
)]

mod common;
mod guard_fixtures;
mod test_crash;
mod test_doctor;
mod test_gc;
mod test_hooks;
mod test_init;
mod test_log;
mod test_predict;
mod test_real_clis;
mod test_swarm;
mod test_task;
