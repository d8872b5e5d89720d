//! Agent harnesses: how each agent CLI is started, fed, supervised and understood.
//!
//! Owns model strings, argv building, process supervision, output parsing, signals and
//! prompts. It never touches git and never prints.

pub mod model;

pub use model::{Harness, ModelSpec, ModelSpecError};
