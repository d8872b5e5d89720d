//! One integration-test binary (links once): real `git-oompa` binary, real git, temporary
//! repositories, hermetic environment.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "helper processes report to their parent test on stdout"
)]

mod common;
mod guard_fixtures;
mod test_agents;
mod test_completions;
mod test_crash;
mod test_doctor;
mod test_from_oompa;
mod test_gate;
mod test_gc;
mod test_hooks;
mod test_init;
mod test_inputs;
mod test_log;
mod test_mockllm;
mod test_output;
mod test_predict;
mod test_real_clis;
mod test_swarm;
mod test_tamper;
mod test_task;
mod test_watch;
