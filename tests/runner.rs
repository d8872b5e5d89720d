//! One integration-test binary (links once): real `git-oompa` binary, real git, temporary
//! repositories, hermetic environment.

mod common;
mod test_init;
mod test_task;
