//! The rows every region has from its first migration: the default zone, pool and domain. The bottom of `engine/`: it imports nothing.

pub const DEFAULT_ZONE_ID: i64 = 1;

pub const DEFAULT_POOL_ID: i64 = 0;

pub const DEFAULT_DOMAIN_ID: i64 = 0;
