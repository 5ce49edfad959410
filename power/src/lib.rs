//! BMC power drivers (`ipmi`, `redfish`, `webhook`, `virsh`, `ucsm`,
//! `manual`, `virtual`) behind the shared
//! [`PowerDriver`] trait, a retry wrapper and [`sync_all`], which queries many
//! machines with bounded concurrency.
//!
//! A crate of its own because two processes drive BMCs: the rack controller
//! runs the power commands the region hands it, and the region runs the
//! simulated (`virtual`) BMCs itself, and real ones while no rack is
//! connected. Neither needs the other's servers for that.

pub mod drivers;
pub mod ipmi;
pub mod manual;
pub mod params;
pub mod redfish;
pub mod ucsm;
pub mod virsh;
pub mod virtual_bmc;
pub mod webhook;

pub use drivers::{act_with_retry, sync_all, Drivers, RetryPolicy, SyncResult, SyncTarget};
pub use ironpool_common::power::{PowerAction, PowerDriver, PowerError, PowerParams, PowerState};
