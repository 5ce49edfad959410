//! Durable jobs: long operations (power actions, status deadlines) stored in
//! the database and run by a worker in every region. A job and its effects
//! commit in one transaction, so a crash leaves it pending and the next run
//! (after a restart, or on another region sharing PostgreSQL) picks it up.
//!
//! `queue` (kinds, `enqueue`) is at the bottom: node operations queue jobs
//! through it. `power` applies BMC answers; `worker` runs jobs and may call
//! node operations.

pub mod power;
pub mod queue;
pub mod worker;
