//! `machines/?op=clone` (MAAS's `CloneForm`): copies a machine's storage
//! and/or interface configuration onto Ready (or Failed testing) machines
//! whose hardware can take it, with MAAS's matching rules and words.
//!
//! Storage: the destination's physical disks are matched to the source's
//! (boot disk to boot disk, then by equal size and tags, then by size with
//! tags, then by size), its configuration is cleared, and every row of the
//! source's (partition tables, partitions, volume groups, RAIDs, bcaches,
//! cache sets, logical volumes, filesystems, special filesystems) is copied
//! with its references remapped and fresh UUIDs. Interfaces: physical
//! interfaces match by name; VLAN, parameters and links are copied, bonds,
//! bridges and VLAN interfaces recreated on the mapped parents, and an
//! address-holding link gets a new free address in the same subnet.

use std::collections::HashMap;

use crate::db;
use crate::db::interfaces::NewInterface;
use crate::db::network::NewIpAddress;
use crate::db::nodes::Node;
use crate::db::storage::{BlockDevice, NewBlockDevice, NewFilesystem, NewPartition, NewVolumeGroup, NodeStorage};
use crate::db::users::User;
use crate::db::DbConn;
use crate::engine;
use crate::engine::lifecycle::{NodeType, Status};
use crate::engine::storage::model::new_uuid;
use crate::error::{Error, FieldErrors, Result};

/// What `clone` was asked: system_ids or hostnames, as sent.
#[derive(Debug, Clone, Default)]
pub struct CloneInput {
    pub source: Option<String>,
    pub destinations: Vec<String>,
    pub storage: bool,
    pub interfaces: bool,
}

fn tags(t: &str) -> Vec<String> {
    let mut v: Vec<String> = serde_json::from_str::<Vec<String>>(t)
        .unwrap_or_else(|_| t.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect());
    v.sort();
    v
}

fn physical(st: &NodeStorage) -> Vec<&BlockDevice> {
    let mut v: Vec<&BlockDevice> = st.devices.iter().filter(|d| d.dev_type == "physical").collect();
    v.sort_by_key(|d| d.id);
    v
}

fn boot_disk<'a>(disks: &[&'a BlockDevice]) -> Option<&'a BlockDevice> {
    disks.iter().find(|d| d.is_boot_disk).or_else(|| disks.first()).copied()
}

/// Whether a destination disk can take a source disk, in one matching pass.
type Fits = dyn Fn(&BlockDevice, &BlockDevice) -> bool;

/// MAAS's `_get_storage_mapping_between_nodes`: destination disk id →
/// source disk id, or the reason they cannot be matched.
fn storage_mapping(
    dest: &Node,
    dst: &NodeStorage,
    source: &Node,
    src: &NodeStorage,
) -> Result<HashMap<i64, i64>, String> {
    let arch = |n: &Node| n.architecture.clone().unwrap_or_default();
    if arch(dest) != arch(source) {
        return Err(format!("node architectures do not match ({} != {})", arch(dest), arch(source)));
    }
    let boot = |n: &Node| n.bios_boot_method.clone().unwrap_or_default();
    if boot(dest) != boot(source) {
        return Err(format!("node boot methods do not match ({} != {})", boot(dest), boot(source)));
    }
    let dd = physical(dst);
    let sd = physical(src);
    let d_boot = boot_disk(&dd).ok_or("destination node has no physical block devices")?;
    let s_boot = boot_disk(&sd).ok_or("source node has no physical block devices")?;
    if d_boot.size < s_boot.size {
        return Err(format!(
            "destination boot disk({}) is smaller than source boot disk({})",
            d_boot.name, s_boot.name
        ));
    }
    let mut mine: Vec<&BlockDevice> = dd.iter().filter(|d| d.id != d_boot.id).copied().collect();
    let mut theirs: Vec<&BlockDevice> = sd.iter().filter(|d| d.id != s_boot.id).copied().collect();
    if mine.len() < theirs.len() {
        return Err(format!(
            "source node does not have enough physical block devices ({} < {})",
            mine.len() + 1,
            theirs.len() + 1
        ));
    }
    let mut map = HashMap::from([(d_boot.id, s_boot.id)]);
    // Three passes, as MAAS: same size and tags; the smallest that fits
    // with the same tags; the smallest that fits.
    let passes: [&Fits; 3] = [
        &|a, b| a.size == b.size && tags(&a.tags) == tags(&b.tags),
        &|a, b| a.size >= b.size && tags(&a.tags) == tags(&b.tags),
        &|a, b| a.size >= b.size,
    ];
    for (i, fits) in passes.iter().enumerate() {
        if i > 0 {
            mine.sort_by_key(|d| d.size);
            theirs.sort_by_key(|d| d.size);
        }
        let mut left = Vec::new();
        for m in std::mem::take(&mut mine) {
            match theirs.iter().position(|t| fits(m, t)) {
                Some(p) => {
                    map.insert(m.id, theirs.remove(p).id);
                }
                None => left.push(m),
            }
        }
        mine = left;
        if mine.is_empty() {
            return Ok(map);
        }
    }
    Err(format!(
        "{} destination node physical block devices do not match the source nodes physical block devices",
        mine.len()
    ))
}

/// MAAS's `_get_interface_mapping_between_nodes`: destination physical
/// interface id → source's, by name.
fn interface_mapping(
    dest: &[db::interfaces::Interface],
    source: &[db::interfaces::Interface],
) -> Result<HashMap<i64, i64>, String> {
    let mut map = HashMap::new();
    let mut missing = Vec::new();
    for s in source.iter().filter(|i| i.iftype == "physical") {
        match dest.iter().find(|d| d.iftype == "physical" && d.name == s.name) {
            Some(d) => {
                map.insert(s.id, d.id);
            }
            None => missing.push(s.name.clone()),
        }
    }
    if missing.is_empty() {
        Ok(map)
    } else {
        Err(format!(
            "destination node physical interfaces do not match the source nodes physical interfaces: {}",
            missing.join(", ")
        ))
    }
}

/// How MAAS names a node in messages (`Node.__str__`).
fn label(n: &Node) -> String {
    format!("{} ({})", n.system_id, n.hostname)
}

/// A machine by system_id or hostname among `candidates`' rules.
fn find_machine(c: &mut DbConn, key: &str) -> Result<Option<Node>> {
    let n = match db::nodes::by_system_id(c, key)? {
        Some(n) => Some(n),
        None => {
            let f = db::nodes::NodeFilter { hostnames: Some(vec![key.to_string()]), ..Default::default() };
            db::nodes::list(c, &f)?.into_iter().next()
        }
    };
    Ok(n.filter(|n| n.node_type == NodeType::Machine))
}

/// Validates like MAAS's `CloneForm` (every error together), then clones.
pub fn clone(c: &mut DbConn, actor: &User, input: &CloneInput) -> Result<()> {
    let mut errors = FieldErrors::new();
    let mut err = |f: &str, m: String| errors.entry(f.to_string()).or_default().push(m);
    let source = match input.source.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => {
            err("source", "This field is required.".into());
            None
        }
        Some(key) => match find_machine(c, key)? {
            Some(n) if engine::access::can_view(actor, &n) => Some(n),
            _ => {
                err("source", format!("Select a valid choice. {key} is not one of the available choices."));
                None
            }
        },
    };
    let mut dests = Vec::new();
    if input.destinations.is_empty() {
        err("destinations", "This field is required.".into());
    }
    for (i, key) in input.destinations.iter().enumerate() {
        // Destinations are machines the caller administers, Ready or
        // Failed testing (MAAS's queryset); anything else is not a choice.
        match find_machine(c, key)? {
            Some(n) if actor.is_superuser && matches!(n.status, Status::Ready | Status::FailedTesting) => dests.push(n),
            _ => err(
                "destinations",
                format!(
                    "Machine {} is invalid: Select a valid choice. {key} is not one of the available choices.",
                    i + 1
                ),
            ),
        }
    }
    let mut checked = Vec::new();
    if let Some(src) = &source {
        let src_st = db::storage::load_node(c, src.id)?;
        let src_ifaces = db::network::interfaces_of(c, src.id)?;
        for d in &dests {
            if d.id == src.id {
                err("destinations", format!("Source machine {} cannot be a destination machine.", label(d)));
                continue;
            }
            let mut ok = true;
            if input.storage {
                let dst = db::storage::load_node(c, d.id)?;
                if let Err(why) = storage_mapping(d, &dst, src, &src_st) {
                    err("destinations", format!("{} is invalid: {why}", label(d)));
                    ok = false;
                }
            }
            if input.interfaces {
                let mine = db::network::interfaces_of(c, d.id)?;
                if let Err(why) = interface_mapping(&mine, &src_ifaces) {
                    err("destinations", format!("{} is invalid: {why}", label(d)));
                    ok = false;
                }
            }
            if ok {
                checked.push(d.clone());
            }
        }
    }
    if !input.storage && !input.interfaces {
        err("__all__", "Either storage or interfaces must be true.".into());
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let Some(src) = source else { return Err(Error::required("source")) };
    for d in &checked {
        if input.storage {
            clone_storage(c, d, &src)?;
        }
        if input.interfaces {
            clone_interfaces(c, d, &src)?;
        }
    }
    Ok(())
}

fn clone_storage(c: &mut DbConn, dest: &Node, source: &Node) -> Result<()> {
    let src = db::storage::load_node(c, source.id)?;
    let dst = db::storage::load_node(c, dest.id)?;
    let map = storage_mapping(dest, &dst, source, &src).map_err(Error::BadRequest)?;
    db::storage::clear_configuration(c, dest.id)?;
    db::special_filesystems::delete_all(c, dest.id)?;
    let now = db::now();
    // Source device id → destination device id; physical first.
    let mut devices: HashMap<i64, i64> = map.iter().map(|(d, s)| (*s, *d)).collect();
    for (s_id, d_id) in devices.clone() {
        if let Some(sd) = src.devices.iter().find(|d| d.id == s_id) {
            let changes = db::storage::BlockDeviceChanges {
                partition_table_type: Some(sd.partition_table_type.clone()),
                ..Default::default()
            };
            db::storage::update_device(c, d_id, &changes)?;
        }
    }
    // Groups (cache sets first, as a bcache names its cache set), then the
    // virtual devices they make.
    let mut groups: HashMap<i64, i64> = HashMap::new();
    let mut ordered = src.volume_groups.clone();
    ordered.sort_by_key(|g| (g.group_type != "cache-set", g.id));
    for g in &ordered {
        let new = db::storage::insert_volume_group(
            c,
            &NewVolumeGroup {
                node_id: dest.id,
                name: g.name.clone(),
                uuid: new_uuid(),
                created_at: now,
                group_type: g.group_type.clone(),
                cache_mode: g.cache_mode.clone(),
                cache_set_id: g.cache_set_id.and_then(|id| groups.get(&id).copied()),
            },
        )?;
        groups.insert(g.id, new.id);
    }
    let mut virtuals: Vec<&BlockDevice> = src.devices.iter().filter(|d| d.dev_type != "physical").collect();
    virtuals.sort_by_key(|d| d.id);
    for v in virtuals {
        let new = db::storage::insert_device(
            c,
            &NewBlockDevice {
                node_id: dest.id,
                name: v.name.clone(),
                dev_type: v.dev_type.clone(),
                id_path: None,
                model: None,
                serial: None,
                firmware_version: None,
                size: v.size,
                block_size: v.block_size,
                tags: v.tags.clone(),
                uuid: v.uuid.as_ref().map(|_| new_uuid()),
                storage_pool: None,
                numa_node: v.numa_node,
                is_boot_disk: false,
                partition_table_type: v.partition_table_type.clone(),
                volume_group_id: v.volume_group_id.and_then(|id| groups.get(&id).copied()),
                created_at: now,
            },
        )?;
        devices.insert(v.id, new.id);
    }
    let mut partitions: HashMap<i64, i64> = HashMap::new();
    let mut parts = src.partitions.clone();
    parts.sort_by_key(|p| p.id);
    for p in &parts {
        let Some(dev) = devices.get(&p.block_device_id) else { continue };
        let new = db::storage::insert_partition(
            c,
            &NewPartition {
                node_id: dest.id,
                block_device_id: *dev,
                uuid: new_uuid(),
                size: p.size,
                bootable: p.bootable,
                tags: p.tags.clone(),
                created_at: now,
            },
        )?;
        partitions.insert(p.id, new.id);
    }
    let mut fss = src.filesystems.clone();
    fss.sort_by_key(|f| f.id);
    for f in &fss {
        db::storage::insert_filesystem(
            c,
            &NewFilesystem {
                node_id: dest.id,
                block_device_id: f.block_device_id.and_then(|id| devices.get(&id).copied()),
                partition_id: f.partition_id.and_then(|id| partitions.get(&id).copied()),
                fstype: f.fstype.clone(),
                uuid: new_uuid(),
                label: f.label.clone(),
                mount_point: f.mount_point.clone(),
                mount_options: f.mount_options.clone(),
                volume_group_id: f.volume_group_id.and_then(|id| groups.get(&id).copied()),
                created_at: now,
                acquired: f.acquired,
            },
        )?;
    }
    for f in db::special_filesystems::of_nodes(c, &[source.id])? {
        db::special_filesystems::insert(
            c,
            dest.id,
            &f.fstype,
            &new_uuid(),
            &f.mount_point,
            &f.mount_options,
            f.acquired,
        )?;
    }
    Ok(())
}

fn clone_interfaces(c: &mut DbConn, dest: &Node, source: &Node) -> Result<()> {
    let src = db::network::interfaces_of(c, source.id)?;
    let mine = db::network::interfaces_of(c, dest.id)?;
    let map = interface_mapping(&mine, &src).map_err(Error::BadRequest)?;
    // Clear the destination's configuration: links, gateways and every
    // interface that is not physical.
    db::network::set_gateway_link(c, dest.id, true, None)?;
    db::network::set_gateway_link(c, dest.id, false, None)?;
    let all_ids: Vec<i64> = db::network::interfaces_of(c, dest.id)?.iter().map(|i| i.id).collect();
    for l in db::network::links_of(c, &all_ids)? {
        if l.mode != "discovered" {
            db::network::address_delete(c, l.id)?;
        }
    }
    for i in mine.iter().filter(|i| i.iftype != "physical") {
        db::network::relations_delete_child(c, i.id)?;
        db::network::interface_delete(c, i.id)?;
    }
    // Source interface id → destination's.
    let mut ids: HashMap<i64, i64> = map.clone();
    for (s_id, d_id) in &map {
        let (Some(s), Some(d)) = (src.iter().find(|i| i.id == *s_id), mine.iter().find(|i| i.id == *d_id)) else {
            continue;
        };
        let mut d = d.clone();
        d.vlan_id = s.vlan_id;
        d.params = s.params.clone();
        d.enabled = s.enabled;
        db::network::interface_save(c, &d)?;
    }
    // Bonds, bridges and VLAN interfaces, in layers: each once its parents exist.
    let src_ids: Vec<i64> = src.iter().map(|i| i.id).collect();
    let relations = db::network::relations_of(c, &src_ids)?;
    let mut pending: Vec<&db::interfaces::Interface> = src.iter().filter(|i| i.iftype != "physical").collect();
    while !pending.is_empty() {
        let before = pending.len();
        let mut next = Vec::new();
        for s in pending {
            let parents: Vec<i64> = relations.iter().filter(|(ch, _)| *ch == s.id).map(|(_, p)| *p).collect();
            if !parents.iter().all(|p| ids.contains_key(p)) {
                next.push(s);
                continue;
            }
            // A bond or bridge takes its first parent's MAC on the destination.
            let mac = parents
                .first()
                .and_then(|p| ids.get(p))
                .and_then(|d| mine.iter().find(|i| i.id == *d))
                .and_then(|i| i.mac_address.clone())
                .or_else(|| s.mac_address.clone());
            let new = db::network::interface_insert(
                c,
                &NewInterface {
                    node_id: dest.id,
                    name: s.name.clone(),
                    iftype: s.iftype.clone(),
                    mac_address: mac,
                    enabled: s.enabled,
                    is_boot: false,
                    vlan_id: s.vlan_id,
                    params: s.params.clone(),
                    tags: s.tags.clone(),
                    link_connected: s.link_connected,
                    interface_speed: s.interface_speed,
                    link_speed: s.link_speed,
                    created_at: db::now(),
                },
            )?;
            for p in parents {
                if let Some(dp) = ids.get(&p) {
                    db::network::relation_insert(c, new.id, *dp)?;
                }
            }
            ids.insert(s.id, new.id);
        }
        if next.len() == before {
            return Err(Error::Internal("Copying the next layer of interfaces has failed.".into()));
        }
        pending = next;
    }
    // Links: an address-holding link gets a new address in its subnet.
    let src_links = db::network::links_of(c, &src_ids)?;
    let model = db::network::load_model(c)?;
    for l in src_links.iter().filter(|l| l.mode != "discovered") {
        let Some(iface) = l.interface_id.and_then(|i| ids.get(&i)) else { continue };
        let mac = db::network::interface_by_id(c, *iface)?.and_then(|i| i.mac_address);
        let template = NewIpAddress {
            ip: None,
            mode: l.mode.clone(),
            subnet_id: l.subnet_id,
            interface_id: Some(*iface),
            user_id: l.user_id,
            hostname: dest.hostname.clone(),
            mac_address: mac,
            created_at: db::now(),
        };
        match (l.ip.is_some() && l.mode != "auto", l.subnet_id.and_then(|s| model.subnets.get(&s))) {
            (true, Some(subnet)) => {
                engine::network::allocate(c, subnet, None, template)?;
            }
            _ => {
                db::network::address_insert(c, &template)?;
            }
        }
    }
    engine::dns::bump_serial(c)?;
    Ok(())
}
