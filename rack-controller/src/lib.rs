//! The Ironpool rack controller's protocol building blocks: a TFTP server
//! ([`tftp`]), a DHCPv4 server ([`dhcp`]) and a DHCPv6 server ([`dhcp6`]),
//! each with an async API, and the daemon that wires them and the BMC power
//! drivers (ironpool-power) to the region ([`link`]).

pub mod bench;
pub mod dhcp;
pub mod dhcp6;
pub mod link;
pub mod tftp;
