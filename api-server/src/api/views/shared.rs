//! What a list of nodes shares: related rows loaded once (zones, pools, domains, the network model) and rendered once per list, not once per node.

use crate::api;
use crate::api::views::dns::domain_json;
use crate::api::views::place::pool_json;
use crate::api::views::place::zone_json;
use crate::db::related::Related;
use serde_json::Value;

/// Shared, precomputed pieces of a machine list: each zone, pool and domain
/// rendered once, not once per machine.
pub struct Shared<'a> {
    pub(crate) rel: &'a Related,
    pub(crate) net: api::views::network::NetJson<'a>,
    pub(crate) zones: std::collections::HashMap<i64, Value>,
    pub(crate) pools: std::collections::HashMap<i64, Value>,
    pub(crate) domains: std::collections::HashMap<i64, Value>,
}

impl<'a> Shared<'a> {
    pub fn new(rel: &'a Related) -> Shared<'a> {
        Shared {
            rel,
            net: api::views::network::NetJson::new(&rel.net, &rel.racks),
            zones: rel.zones.iter().map(|(id, z)| (*id, zone_json(z))).collect(),
            pools: rel.pools.iter().map(|(id, p)| (*id, pool_json(p))).collect(),
            domains: rel.domains.iter().map(|(id, d)| (*id, domain_json(d, 0))).collect(),
        }
    }
}
