//! The Ironpool rack controller: DHCP, TFTP and HTTP network boot and BMC
//! power, connected to one or more regions.
//!
//! Not built yet (see the rack-controller issue); the crate exists so the
//! workspace layout and the `ironpool rack` command are in place.
