//! The registry of swarms started on this machine lives in the store
//! ([`crate::store::registry`]), so that `gc` and `status` can tell a live swarm from a dead
//! one without reaching into the swarm; this name stays for the swarm's own uses.

pub use crate::store::registry::*;
