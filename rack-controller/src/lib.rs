//! The Ironpool rack controller's protocol building blocks: BMC power drivers
//! ([`power`]), a TFTP server ([`tftp`]) and a DHCPv4 server ([`dhcp`]), each
//! with an async API the rack daemon wires to the region.

pub mod bench;
pub mod dhcp;
pub mod power;
pub mod tftp;
