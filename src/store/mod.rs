//! Everything git oompa keeps in git: the task queue ref, task records, and (with the swarm)
//! cycle notes and landing trailers.
//!
//! Store code reads and writes through [`crate::git`] only and never prints.

pub mod keep;
pub mod known;
pub mod layout;
pub mod notes;
pub mod queue;
pub mod record;
pub mod swarm;
pub mod task;
pub mod trailers;

pub use queue::{
    Actor, ChangeError, ClaimOutcome, Claimant, Notice, Owner, QUEUE_REF, Queue, QueueError,
    Recovered, Snapshot, State, TaskEdit,
};
pub use task::{Claim, Difficulty, Landed, TASK_VERSION, Task, TaskId, TaskIdError};
