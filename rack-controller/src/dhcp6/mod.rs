//! A stateful DHCPv6 server for the rack (RFC 8415): IA_NA addresses from
//! the dynamic ranges of the IPv6 subnets the region hands the rack,
//! reservations for known machines by MAC, DNS servers and search domain,
//! boot file URLs for UEFI HTTP boot and PXE over IPv6, Rapid Commit,
//! relays, and leases persisted like the IPv4 ones. The configuration is
//! `ironpool_common::dhcp6`. Malformed packets are counted and dropped.

pub mod leases;
pub mod packet;
pub mod server;

use std::sync::atomic::AtomicU64;

pub use packet::duid_ll;
pub use server::{bind_socket6, Dhcp6Server};

/// Counters, readable while the server runs.
#[derive(Debug, Default)]
pub struct Dhcp6Stats {
    pub received: AtomicU64,
    /// Not decodable as DHCPv6 (truncated or oversized options, a relay
    /// message without its inner message, a bad IA_NA).
    pub malformed: AtomicU64,
    /// Valid but not for us: another server's identifier, a message type
    /// servers do not answer, a link we do not serve.
    pub ignored: AtomicU64,
    pub solicits: AtomicU64,
    pub requests: AtomicU64,
    pub confirms: AtomicU64,
    pub renews: AtomicU64,
    pub rebinds: AtomicU64,
    pub releases: AtomicU64,
    pub declines: AtomicU64,
    pub information_requests: AtomicU64,
    /// ADVERTISE and REPLY messages sent (relayed ones included).
    pub replies: AtomicU64,
    /// No free address in the range for an IA.
    pub exhausted: AtomicU64,
    pub send_errors: AtomicU64,
}
