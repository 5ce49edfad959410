//! The rack side of the region link: the wire protocol ([`proto`]), the
//! signed HTTP client ([`client`]), the daemon that keeps the rack's
//! servers configured from the region ([`daemon`]), the HTTP boot server
//! ([`http`]) and the boot scripts it renders ([`boot`]).

pub mod boot;
pub mod client;
pub mod daemon;
pub mod http;
pub mod proto;

pub use daemon::{Rack, RackOptions, RackState};
