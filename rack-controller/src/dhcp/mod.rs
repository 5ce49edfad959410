//! A DHCPv4 server for the rack on `dhcproto`: managed subnets with dynamic
//! ranges, reservations, PXE/iPXE boot files, relays, persisted leases and a
//! lease event channel for the region. Malformed packets are counted and
//! dropped; nothing a client sends can stop the server.

pub mod config;
pub mod leases;
pub mod server;

use std::net::Ipv4Addr;
use std::sync::atomic::AtomicU64;

pub use config::{BootFiles, Cidr, DhcpConfig, MacAddr, Reservation, SubnetConfig};
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

/// What happened to a lease, for the region (IPAM, DNS, enlistment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeaseEventKind {
    /// Committed (ACK), including renewals.
    Bound,
    Released,
    Declined,
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LeaseEvent {
    pub kind: LeaseEventKind,
    pub mac: MacAddr,
    pub ip: Ipv4Addr,
    pub hostname: Option<String>,
    /// Seconds granted (0 for releases, declines and expiries).
    pub lease_time: u32,
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
