//! The rack side of the region link: the wire protocol ([`proto`]), the
//! signed HTTP client ([`client`]), the daemon that keeps the rack's
//! servers configured from the region ([`daemon`]), the state the servers
//! share with it ([`state`]), the HTTP boot server ([`http`]) and the boot
//! scripts it renders ([`boot`]).
//!
//! Dependencies point one way: `daemon` → `http` → `state`, `boot`,
//! `client` → `proto`.

pub mod boot;
pub mod client;
pub mod daemon;
pub mod http;
pub mod proto;
pub mod state;

pub use daemon::{Rack, RackOptions};
pub use state::RackState;
