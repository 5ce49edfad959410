//! The Ironpool rack controller's protocol building blocks: BMC power drivers
//! ([`power`]), a TFTP server ([`tftp`]) and a DHCPv4 server ([`dhcp`]), each
//! with an async API, and the daemon that wires them to the region
//! ([`link`]).

pub mod bench;
pub mod dhcp;
pub mod link;
pub mod power;
pub mod tftp;
