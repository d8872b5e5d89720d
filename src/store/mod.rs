//! Everything git oompa keeps in git and in `$GIT_COMMON_DIR/oompa/`: where each piece lives
//! ([`layout`]), the task queue ref and task records, cycle notes and landing trailers, keep
//! refs ([`keep`]), the cycle journal and crash recovery ([`recover`]), and the pushed-landings
//! baseline ([`verified`]). The swarm, the guards and the commands all build on it; it builds
//! on nothing but [`crate::git`].
//!
//! Store code reads and writes through [`crate::git`] only and never prints.

pub mod following;
pub mod journal;
pub mod keep;
pub mod known;
pub mod layout;
pub mod notes;
pub mod queue;
pub mod record;
pub mod recover;
pub mod registry;
pub mod swarm;
pub mod task;
pub mod trailers;
pub mod verified;

pub use queue::{
    Actor, ChangeError, ClaimOutcome, Claimant, Notice, Owner, QUEUE_REF, Queue, QueueError,
    Recovered, Snapshot, State, TaskEdit,
};
pub use task::{Claim, Difficulty, Landed, TASK_VERSION, Task, TaskId, TaskIdError};
