//! The machine lifecycle: creation, every status-changing operation, owner
//! data. Functions run inside one write transaction (`&mut DbConn`) so an
//! operation, its status change and its event land together or not at all.
//!
//! `state` is the state machine every operation goes through; the other
//! modules are operations and may use it, never each other's internals
//! (`chassis` creates machines with `create`'s row builders and starts
//! commissioning through `commission`'s public entry point).

pub mod chassis;
pub mod clone;
pub mod commission;
pub mod create;
pub mod deploy;
pub mod owner_data;
pub mod power;
pub mod release;
pub mod restore;
pub mod state;
pub mod testing;
