//! A DHCPv4 server for the rack on `dhcproto`: managed subnets with dynamic
//! ranges, reservations, PXE/iPXE boot files, relays, persisted leases and a
//! lease event channel for the region. Malformed packets are counted and
//! dropped; nothing a client sends can stop the server.

pub mod leases;
pub mod server;

use std::sync::atomic::AtomicU64;

pub use server::{bind_socket, DhcpServer};

#[derive(Debug, thiserror::Error)]
pub enum DhcpError {
    #[error("DHCP configuration: {0}")]
    Config(String),
    #[error("lease file {path}: {source}")]
    LeaseFile { path: String, source: std::io::Error },
    #[error("lease file {path} is not valid JSON: {source}")]
    LeaseJson { path: String, source: serde_json::Error },
}

/// Counters, readable while the server runs.
#[derive(Debug, Default)]
pub struct DhcpStats {
    pub received: AtomicU64,
    /// Not decodable as DHCP, or missing the message type.
    pub malformed: AtomicU64,
    /// Valid but not for us (wrong op, no subnet, another server chosen…).
    pub ignored: AtomicU64,
    pub discovers: AtomicU64,
    pub offers: AtomicU64,
    pub requests: AtomicU64,
    pub acks: AtomicU64,
    pub naks: AtomicU64,
    pub releases: AtomicU64,
    pub declines: AtomicU64,
    pub informs: AtomicU64,
    /// No free address in the range.
    pub exhausted: AtomicU64,
    /// Lease events dropped because the receiver was not keeping up.
    pub events_dropped: AtomicU64,
    pub send_errors: AtomicU64,
}

impl From<ironpool_common::dhcp::ConfigError> for DhcpError {
    fn from(e: ironpool_common::dhcp::ConfigError) -> Self {
        DhcpError::Config(e.0)
    }
}
