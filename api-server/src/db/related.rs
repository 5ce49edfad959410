//! Everything a list of nodes renders with, loaded in one query per table whatever the number of nodes (zones, pools, domains, owners, tags, interfaces and their links, storage, the network model).

use crate::db;
use crate::db::dns::Domain;
use crate::db::interfaces::Interface;
use crate::db::nodes::Node;
use crate::db::nodes::CHUNK;
use crate::db::places::{Pool, Zone};
use crate::db::schema::{domains, interfaces, node_tags, nodes, resource_pools, tags, users, zones};
use crate::db::{from_diesel, DbConn};
use crate::error::Result;
use diesel::prelude::*;
use std::collections::HashMap;

/// Everything rendering a list of nodes needs, loaded in a fixed number of
/// queries (one per related table) however many nodes there are.
#[derive(Debug, Default)]
pub struct Related {
    pub zones: HashMap<i64, Zone>,
    pub pools: HashMap<i64, Pool>,
    pub domains: HashMap<i64, Domain>,
    pub owners: HashMap<i64, String>,
    pub tags: HashMap<i64, Vec<String>>,
    pub interfaces: HashMap<i64, Vec<Interface>>,
    pub parents: HashMap<i64, String>,
    /// The network directory (spaces, fabrics, VLANs, subnets).
    pub net: db::network::Model,
    /// Rack controllers' system_ids by node id (VLAN primary/secondary rack).
    pub racks: HashMap<i64, String>,
    /// Links (address rows) by interface id.
    pub links: HashMap<i64, Vec<db::network::IpAddress>>,
    /// Parent interface ids by child id, and child ids by parent id.
    pub iface_parents: HashMap<i64, Vec<i64>>,
    pub iface_children: HashMap<i64, Vec<i64>>,
    /// Block devices, partitions, filesystems and volume groups per node.
    pub storage: HashMap<i64, db::storage::NodeStorage>,
    /// tmpfs/ramfs mounts per node (`mount_special`).
    pub special_filesystems: HashMap<i64, Vec<db::special_filesystems::SpecialFilesystem>>,
    /// The VM host (id, name) of each machine that runs on one (`pod`).
    pub pods: HashMap<i64, (i64, String)>,
    /// Each node's current script sets with their results' statuses.
    pub script_sets: HashMap<i64, Vec<db::results::SetSummary>>,
}

pub fn load_related(c: &mut DbConn, list: &[Node]) -> Result<Related> {
    let mut r = Related::default();
    if list.is_empty() {
        return Ok(r);
    }
    // Zones, pools and domains are few: load them whole.
    r.zones =
        zones::table.select(Zone::as_select()).load(c).map_err(from_diesel)?.into_iter().map(|z| (z.id, z)).collect();
    r.pools = resource_pools::table
        .select(Pool::as_select())
        .load(c)
        .map_err(from_diesel)?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    r.domains = domains::table
        .select(Domain::as_select())
        .load(c)
        .map_err(from_diesel)?
        .into_iter()
        .map(|d| (d.id, d))
        .collect();
    let mut owner_ids: Vec<i64> = list.iter().filter_map(|n| n.owner_id).collect();
    owner_ids.sort_unstable();
    owner_ids.dedup();
    if !owner_ids.is_empty() {
        r.owners = users::table
            .filter(users::id.eq_any(&owner_ids))
            .select((users::id, users::username))
            .load::<(i64, String)>(c)
            .map_err(from_diesel)?
            .into_iter()
            .collect();
    }
    let mut parent_ids: Vec<i64> = list.iter().filter_map(|n| n.parent_id).collect();
    parent_ids.sort_unstable();
    parent_ids.dedup();
    if !parent_ids.is_empty() {
        r.parents = nodes::table
            .filter(nodes::id.eq_any(&parent_ids))
            .select((nodes::id, nodes::system_id))
            .load::<(i64, String)>(c)
            .map_err(from_diesel)?
            .into_iter()
            .collect();
    }
    for chunk in list.chunks(CHUNK) {
        let ids: Vec<i64> = chunk.iter().map(|n| n.id).collect();
        let tag_rows: Vec<(i64, String)> = node_tags::table
            .inner_join(tags::table)
            .filter(node_tags::node_id.eq_any(&ids))
            .order((node_tags::node_id, tags::name))
            .select((node_tags::node_id, tags::name))
            .load(c)
            .map_err(from_diesel)?;
        for (node, tag) in tag_rows {
            r.tags.entry(node).or_default().push(tag);
        }
        let ifaces: Vec<Interface> = interfaces::table
            .filter(interfaces::node_id.eq_any(&ids))
            .order(interfaces::id)
            .select(Interface::as_select())
            .load(c)
            .map_err(from_diesel)?;
        let iface_ids: Vec<i64> = ifaces.iter().map(|i| i.id).collect();
        for i in ifaces {
            r.interfaces.entry(i.node_id).or_default().push(i);
        }
        r.storage.extend(db::storage::load_for_nodes(c, &ids)?);
        r.pods.extend(db::vm_hosts::pods_of(c, &ids)?);
        for s in db::results::current_summaries(c, &ids)? {
            r.script_sets.entry(s.0.node_id).or_default().push(s);
        }
        for f in db::special_filesystems::of_nodes(c, &ids)? {
            r.special_filesystems.entry(f.node_id).or_default().push(f);
        }
        // Relations bind every id twice: keep each query under the limits.
        for ids in iface_ids.chunks(CHUNK / 2) {
            for l in db::network::links_of(c, ids)? {
                if let Some(i) = l.interface_id {
                    r.links.entry(i).or_default().push(l);
                }
            }
            for (child, parent) in db::network::relations_of(c, ids)? {
                r.iface_parents.entry(child).or_default().push(parent);
                r.iface_children.entry(parent).or_default().push(child);
            }
        }
    }
    if !r.interfaces.is_empty() {
        r.net = db::network::load_model(c)?;
        r.racks = db::network::rack_names(c, &r.net)?;
    }
    Ok(r)
}
