//! The rack side of the region link: the signed HTTP client ([`client`]),
//! the daemon that keeps the rack's servers configured from the region
//! ([`daemon`]), the state the servers share with it ([`state`]), the HTTP
//! boot server ([`http`]), the boot scripts it renders ([`boot`]), its
//! Prometheus metrics ([`metrics`]) and how it trusts an `https://` region
//! ([`tls`]). The wire protocol is
//! `ironpool_common::rack_link`.
//!
//! Dependencies point one way: `daemon` → `http` → `state`, `boot`,
//! `client`; `daemon` → `metrics` → `state`; `daemon` → `tls`.

pub mod boot;
pub mod client;
pub mod daemon;
pub mod http;
pub mod metrics;
pub mod state;
pub mod tls;

pub use daemon::{Rack, RackOptions};
pub use http::HttpLimits;
pub use state::RackState;
pub use tls::RegionPins;
