//! Node interfaces: physical, bond, bridge and VLAN interfaces, their links
//! to subnets (AUTO, DHCP, STATIC, LINK_UP), default gateways and the IPAM
//! work done at deploy and release.
//!
//! MAAS's rules kept here: a MAC belongs to one physical interface in the
//! whole installation; bond and bridge parents belong to the same node and
//! to no other bond or bridge; one VLAN interface per (parent, VLAN); a
//! subnet can be linked only on its own VLAN (an interface with no VLAN joins
//! the subnet's, one on another VLAN is refused rather than silently moved);
//! machines are edited by admins and only in NEW, READY, FAILED_TESTING,
//! ALLOCATED or BROKEN; devices by their owner.

use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::db;
use crate::db::interfaces::{Interface, NewInterface};
use crate::db::network::{IpAddress, NewIpAddress, Subnet};
use crate::db::nodes::Node;
use crate::db::users::User;
use crate::db::DbConn;
use crate::engine;
use crate::engine::lifecycle::{NodeType, Status};
use crate::engine::network::DEFAULT_VLAN_ID;
use crate::error::{Error, Result};

const BOND_MODES: &[&str] =
    &["balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb"];

/// The fields every interface type shares, already parsed. `None` means the
/// field was absent (or blank): a create keeps the type's default, an update
/// leaves the interface unchanged.
#[derive(Debug, Clone, Default)]
pub struct InterfaceInput {
    /// Trimmed, non-blank; the engine checks it is a valid interface name.
    pub name: Option<String>,
    /// Trimmed, non-blank, as sent; the engine normalises it and checks no
    /// other interface has it. A VLAN interface's create ignores it (it
    /// takes its parent's MAC).
    pub mac_address: Option<String>,
    /// `Some` when `tags` was sent, even with no tags (which clears them).
    pub tags: Option<Vec<String>>,
    /// `Some(None)`: sent blank, disconnect from any VLAN. `Some(Some(v))`:
    /// the VLAN id exactly as sent, resolved (and quoted in errors) by the
    /// engine.
    pub vlan: Option<Option<String>>,
    /// Already within MAAS's 552–65535 (`engine::network::parse_mtu`, the
    /// one MTU rule for VLANs and interfaces).
    pub mtu: Option<i32>,
    pub accept_ra: Option<bool>,
    pub autoconf: Option<bool>,
    pub link_connected: Option<bool>,
    /// Mbit/s; the engine refuses negative speeds.
    pub interface_speed: Option<i64>,
    /// Mbit/s; the engine refuses negative speeds and more than the
    /// interface speed.
    pub link_speed: Option<i64>,
}

/// A bond's own parameters; `None` leaves the current value (on create:
/// none, except `bond_mode`, which defaults to balance-rr). The engine checks
/// the choices and that the numbers are not negative.
#[derive(Debug, Clone, Default)]
pub struct BondParams {
    pub mode: Option<String>,
    pub lacp_rate: Option<String>,
    pub xmit_hash_policy: Option<String>,
    pub miimon: Option<i64>,
    pub downdelay: Option<i64>,
    pub updelay: Option<i64>,
    pub num_grat_arp: Option<i64>,
}

/// `create_bond`. `iface.name` is required (checked by the engine).
#[derive(Debug, Clone, Default)]
pub struct BondInput {
    pub iface: InterfaceInput,
    /// Parent interface ids as sent; empty when none were given.
    pub parents: Vec<String>,
    pub bond: BondParams,
}

/// `create_bridge`. An absent `iface.name` becomes `br-<parent>`.
#[derive(Debug, Clone, Default)]
pub struct BridgeInput {
    pub iface: InterfaceInput,
    /// Parent interface ids as sent (`parent` and `parents` together);
    /// exactly one is required.
    pub parents: Vec<String>,
    /// Absent: standard.
    pub bridge_type: Option<String>,
    pub stp: Option<bool>,
    /// Forward delay in seconds.
    pub fd: Option<i64>,
}

/// `create_vlan`. `iface.vlan` is not used: `vlan` is the interface's VLAN.
#[derive(Debug, Clone, Default)]
pub struct VlanInterfaceInput {
    pub iface: InterfaceInput,
    /// The (required) VLAN id, trimmed, as sent; resolved by the engine.
    pub vlan: String,
    /// Parent interface ids as sent (`parent` and `parents` together);
    /// exactly one is required.
    pub parents: Vec<String>,
}

/// An interface update.
#[derive(Debug, Clone, Default)]
pub struct InterfaceUpdate {
    pub iface: InterfaceInput,
    /// Used only for a bond (the only type with bond parameters); all
    /// absent otherwise.
    pub bond: BondParams,
    /// `Some` when `parents` was sent: the new parents of a bond or bridge,
    /// replacing the old ones. `None` keeps them.
    pub parents: Option<Vec<String>>,
}

/// `link_subnet`.
#[derive(Debug, Clone, Default)]
pub struct LinkInput {
    /// AUTO, DHCP, STATIC or LINK_UP in any case, as sent (trimmed).
    pub mode: String,
    /// The subnet as sent (id, CIDR or name), resolved by the engine;
    /// required for AUTO and STATIC.
    pub subnet: Option<String>,
    /// STATIC only, as sent; absent: the first free address.
    pub ip_address: Option<String>,
    /// Absent means false: the node's gateways stay as they are.
    pub default_gateway: bool,
}

/// Whether `user` may change `n`'s interfaces now.
pub fn check_editable(user: &User, n: &Node) -> Result<()> {
    match n.node_type {
        NodeType::Device => {
            if !user.is_superuser && n.owner_id != Some(user.id) {
                return Err(Error::Forbidden("Only the device's owner or an administrator can change it.".into()));
            }
        }
        NodeType::Machine => {
            engine::access::require_admin(user, n)?;
            let st = n.status;
            if !matches!(st, Status::New | Status::Ready | Status::FailedTesting | Status::Allocated | Status::Broken) {
                return Err(Error::Conflict(format!(
                    "Cannot change the interfaces of a machine in the '{}' state; it must be New, Ready, Allocated, Failed testing or Broken.",
                    st.label()
                )));
            }
        }
        _ => {
            if !user.is_superuser {
                return Err(Error::Forbidden("You don't have permission to do this: administrators only.".into()));
            }
        }
    }
    Ok(())
}

pub fn get(c: &mut DbConn, n: &Node, id: &str) -> Result<Interface> {
    let id: i64 = id.parse().map_err(|_| Error::NotFound("Interface"))?;
    db::network::interface_by_id(c, id)?.filter(|i| i.node_id == n.id).ok_or(Error::NotFound("Interface"))
}

fn tags_of(i: &Interface) -> Vec<String> {
    serde_json::from_str(&i.tags).unwrap_or_default()
}

fn params_of(i: &Interface) -> Map<String, Value> {
    match serde_json::from_str(&i.params) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// The id of an existing VLAN, from its id as sent.
fn vlan_param(c: &mut DbConn, v: &str) -> Result<i64> {
    let id: i64 = v.trim().parse().map_err(|_| Error::field("vlan", format!("Unknown VLAN '{v}'.")))?;
    db::network::vlan_by_id(c, id)?.ok_or_else(|| Error::field("vlan", format!("Unknown VLAN '{v}'.")))?;
    Ok(id)
}

/// `mac`, normalised, once it is known to be on no interface but `except`.
fn mac_param(c: &mut DbConn, mac: Option<&str>, except: Option<i64>) -> Result<Option<String>> {
    let Some(m) = mac else { return Ok(None) };
    let mac = engine::names::normalise_mac(m)
        .ok_or_else(|| Error::field("mac_address", format!("'{m}' is not a valid MAC address.")))?;
    check_mac_free(c, &mac, except)?;
    Ok(Some(mac))
}

fn check_mac_free(c: &mut DbConn, mac: &str, except: Option<i64>) -> Result<()> {
    if let Some(other) = db::network::interface_with_mac(c, mac)? {
        if Some(other.id) != except {
            let host = db::nodes::by_ids(c, &[other.node_id])?.into_iter().next().map(|n| n.hostname);
            return Err(Error::field(
                "mac_address",
                format!("MAC address {mac} already in use on {}.", host.unwrap_or_else(|| "another node".into())),
            ));
        }
    }
    Ok(())
}

/// Applies the optional parameters every interface type shares.
fn apply_common(c: &mut DbConn, i: &mut Interface, input: &InterfaceInput) -> Result<()> {
    if let Some(n) = &input.name {
        validate_ifname(n)?;
        i.name = n.clone();
    }
    if let Some(tags) = &input.tags {
        i.tags = engine::string_list_json(tags);
    }
    match &input.vlan {
        None => {}
        Some(None) => i.vlan_id = None,
        Some(Some(v)) => i.vlan_id = Some(vlan_param(c, v)?),
    }
    let mut p = params_of(i);
    if let Some(mtu) = input.mtu {
        p.insert("mtu".into(), mtu.into());
    }
    for (k, flag) in [("accept_ra", input.accept_ra), ("autoconf", input.autoconf)] {
        if let Some(b) = flag {
            p.insert(k.into(), b.into());
        }
    }
    i.params = Value::Object(p).to_string();
    if let Some(b) = input.link_connected {
        i.link_connected = b;
    }
    for (k, value, slot) in [
        ("interface_speed", input.interface_speed, &mut i.interface_speed),
        ("link_speed", input.link_speed, &mut i.link_speed),
    ] {
        if let Some(v) = value {
            if v < 0 {
                return Err(Error::field(k, "Speed must be a non-negative number of Mbit/s."));
            }
            *slot = v;
        }
    }
    if i.link_speed > i.interface_speed && i.interface_speed > 0 {
        return Err(Error::field("link_speed", "Link speed cannot be higher than the interface speed."));
    }
    Ok(())
}

fn validate_ifname(n: &str) -> Result<()> {
    if n.is_empty() || n.len() > 15 || n.contains('/') || n.contains(char::is_whitespace) {
        return Err(Error::field(
            "name",
            format!("Invalid interface name '{n}': at most 15 characters, no spaces or '/'."),
        ));
    }
    Ok(())
}

fn blank(node_id: i64, iftype: &str, name: String) -> Interface {
    Interface {
        id: 0,
        node_id,
        name,
        iftype: iftype.into(),
        mac_address: None,
        enabled: true,
        is_boot: false,
        vlan_id: None,
        params: "{}".into(),
        tags: "[]".into(),
        link_connected: true,
        interface_speed: 0,
        link_speed: 0,
        vendor: None,
        product: None,
        firmware_version: None,
        created_at: db::now(),
    }
}

fn insert(c: &mut DbConn, i: &Interface) -> Result<Interface> {
    db::network::interface_insert(
        c,
        &NewInterface {
            node_id: i.node_id,
            name: i.name.clone(),
            iftype: i.iftype.clone(),
            mac_address: i.mac_address.clone(),
            enabled: i.enabled,
            is_boot: i.is_boot,
            vlan_id: i.vlan_id,
            params: i.params.clone(),
            tags: i.tags.clone(),
            link_connected: i.link_connected,
            interface_speed: i.interface_speed,
            link_speed: i.link_speed,
            created_at: i.created_at,
        },
    )
}

fn next_name(existing: &[Interface], prefix: &str) -> String {
    // At most `existing.len()` names are taken, so one of the first
    // `len + 1` candidates is free.
    (0..=existing.len())
        .map(|n| format!("{prefix}{n}"))
        .find(|n| !existing.iter().any(|i| &i.name == n))
        .unwrap_or_else(|| format!("{prefix}{}", existing.len()))
}

pub fn create_physical(c: &mut DbConn, n: &Node, input: &InterfaceInput) -> Result<Interface> {
    let mac = mac_param(c, input.mac_address.as_deref(), None)?.ok_or_else(|| Error::required("mac_address"))?;
    let existing = db::network::interfaces_of(c, n.id)?;
    let mut i = blank(n.id, "physical", next_name(&existing, "eth"));
    i.mac_address = Some(mac);
    apply_common(c, &mut i, input)?;
    insert(c, &i)
}

/// Parents of a new bond or bridge: on this node, not VLAN interfaces, and
/// not already enslaved elsewhere.
fn check_parents(
    c: &mut DbConn,
    n: &Node,
    ids: &[String],
    kind: &str,
    except_child: Option<i64>,
) -> Result<Vec<Interface>> {
    let mut out = Vec::new();
    for raw in ids {
        let id: i64 = raw.parse().map_err(|_| Error::field("parents", format!("'{raw}' is not an interface id.")))?;
        let p = db::network::interface_by_id(c, id)?
            .ok_or_else(|| Error::field("parents", format!("Interface {id} does not exist.")))?;
        if p.node_id != n.id {
            return Err(Error::field(
                "parents",
                format!("Parent interfaces do not belong to the same node: {} is on another node.", p.name),
            ));
        }
        if p.iftype == "vlan" && kind == "bond" {
            return Err(Error::field(
                "parents",
                format!("A bond cannot have the VLAN interface {} as a parent.", p.name),
            ));
        }
        for (child, parent) in db::network::relations_of(c, &[p.id])? {
            if parent == p.id && Some(child) != except_child {
                let ch = db::network::interface_by_id(c, child)?;
                if ch.as_ref().is_some_and(|ch| ch.iftype == "bond" || ch.iftype == "bridge") {
                    return Err(Error::field(
                        "parents",
                        format!(
                            "Interface {} is already in use by {}.",
                            p.name,
                            ch.map(|c| c.name).unwrap_or_default()
                        ),
                    ));
                }
            }
        }
        if !out.iter().any(|o: &Interface| o.id == p.id) {
            out.push(p);
        }
    }
    Ok(out)
}

/// Parents handed to a bond or bridge lose their own links: the child
/// carries the addresses now.
fn enslave(c: &mut DbConn, child: &Interface, parents: &[Interface]) -> Result<()> {
    for p in parents {
        for l in db::network::links_of(c, &[p.id])? {
            db::network::address_delete(c, l.id)?;
        }
        db::network::relation_insert(c, child.id, p.id)?;
    }
    Ok(())
}

pub fn create_bond(c: &mut DbConn, n: &Node, input: &BondInput) -> Result<Interface> {
    let name = input.iface.name.clone().ok_or_else(|| Error::required("name"))?;
    if input.parents.is_empty() {
        return Err(Error::field("parents", "A bond needs at least one parent interface."));
    }
    let parents = check_parents(c, n, &input.parents, "bond", None)?;
    let mut i = blank(n.id, "bond", name);
    i.mac_address = match mac_param(c, input.iface.mac_address.as_deref(), None)? {
        Some(m) => Some(m),
        None => parents[0].mac_address.clone(),
    };
    i.vlan_id = parents[0].vlan_id;
    apply_common(c, &mut i, &input.iface)?;
    let mut p = params_of(&i);
    bond_params(&input.bond, &mut p)?;
    i.params = Value::Object(p).to_string();
    let bond = insert(c, &i)?;
    enslave(c, &bond, &parents)?;
    Ok(bond)
}

fn bond_params(b: &BondParams, p: &mut Map<String, Value>) -> Result<()> {
    if let Some(m) = b.mode.as_deref() {
        if !BOND_MODES.contains(&m) {
            return Err(Error::field(
                "bond_mode",
                format!("Select a valid choice. {m} is not one of the available choices: {}.", BOND_MODES.join(", ")),
            ));
        }
        p.insert("bond_mode".into(), m.into());
    }
    p.entry("bond_mode").or_insert("balance-rr".into());
    if let Some(r) = b.lacp_rate.as_deref() {
        if r != "fast" && r != "slow" {
            return Err(Error::field("bond_lacp_rate", "Select a valid choice: fast or slow."));
        }
        p.insert("bond_lacp_rate".into(), r.into());
    }
    if let Some(h) = b.xmit_hash_policy.as_deref() {
        if !["layer2", "layer2+3", "layer3+4", "encap2+3", "encap3+4"].contains(&h) {
            return Err(Error::field(
                "bond_xmit_hash_policy",
                format!("Select a valid choice. {h} is not one of the available choices."),
            ));
        }
        p.insert("bond_xmit_hash_policy".into(), h.into());
    }
    for (k, value) in [
        ("bond_miimon", b.miimon),
        ("bond_downdelay", b.downdelay),
        ("bond_updelay", b.updelay),
        ("bond_num_grat_arp", b.num_grat_arp),
    ] {
        if let Some(v) = value {
            if v < 0 {
                return Err(Error::field(k, "Must be a non-negative integer."));
            }
            p.insert(k.into(), v.into());
        }
    }
    Ok(())
}

pub fn create_bridge(c: &mut DbConn, n: &Node, input: &BridgeInput) -> Result<Interface> {
    if input.parents.len() != 1 {
        return Err(Error::field("parent", "A bridge needs exactly one parent interface."));
    }
    let parents = check_parents(c, n, &input.parents, "bridge", None)?;
    let name = match &input.iface.name {
        Some(nm) => nm.clone(),
        None => format!("br-{}", parents[0].name),
    };
    let mut i = blank(n.id, "bridge", name);
    i.mac_address = match mac_param(c, input.iface.mac_address.as_deref(), None)? {
        Some(m) => Some(m),
        None => parents[0].mac_address.clone(),
    };
    i.vlan_id = parents[0].vlan_id;
    apply_common(c, &mut i, &input.iface)?;
    let mut p = params_of(&i);
    if let Some(t) = input.bridge_type.as_deref() {
        if t != "standard" && t != "ovs" {
            return Err(Error::field("bridge_type", "Select a valid choice: standard or ovs."));
        }
        p.insert("bridge_type".into(), t.into());
    }
    p.entry("bridge_type").or_insert("standard".into());
    if let Some(b) = input.stp {
        p.insert("bridge_stp".into(), b.into());
    }
    if let Some(v) = input.fd {
        p.insert("bridge_fd".into(), v.into());
    }
    i.params = Value::Object(p).to_string();
    let br = insert(c, &i)?;
    enslave(c, &br, &parents)?;
    Ok(br)
}

pub fn create_vlan(c: &mut DbConn, n: &Node, input: &VlanInterfaceInput) -> Result<Interface> {
    let vlan_key = &input.vlan;
    let vlan_id: i64 = vlan_key.parse().map_err(|_| Error::field("vlan", format!("Unknown VLAN '{vlan_key}'.")))?;
    let vlan = db::network::vlan_by_id(c, vlan_id)?
        .ok_or_else(|| Error::field("vlan", format!("Unknown VLAN '{vlan_key}'.")))?;
    if input.parents.len() != 1 {
        return Err(Error::field("parent", "A VLAN interface needs exactly one parent interface."));
    }
    let pid: i64 = input.parents[0].parse().map_err(|_| Error::field("parent", "Not an interface id."))?;
    let parent = db::network::interface_by_id(c, pid)?
        .filter(|p| p.node_id == n.id)
        .ok_or_else(|| Error::field("parent", format!("Interface {pid} does not exist on this node.")))?;
    if vlan.vid == 0 {
        return Err(Error::field("vlan", "A VLAN interface can only belong to a tagged VLAN."));
    }
    let parent_vlan = parent.vlan_id.and_then(|v| db::network::vlan_by_id(c, v).ok().flatten());
    match parent_vlan {
        Some(pv) if pv.fabric_id != vlan.fabric_id => {
            return Err(Error::field(
                "vlan",
                "A VLAN interface can only belong to a VLAN on the same fabric as its parent.",
            ))
        }
        None => {
            return Err(Error::field("parent", format!("Parent interface {} is not connected to a VLAN.", parent.name)))
        }
        _ => {}
    }
    for (child, p) in db::network::relations_of(c, &[parent.id])? {
        if p == parent.id {
            if let Some(ch) = db::network::interface_by_id(c, child)? {
                if ch.iftype == "vlan" && ch.vlan_id == Some(vlan.id) {
                    return Err(Error::field(
                        "vlan",
                        format!("A VLAN interface for VLAN {} already exists on {}.", vlan.vid, parent.name),
                    ));
                }
            }
        }
    }
    let mut i = blank(n.id, "vlan", format!("{}.{}", parent.name, vlan.vid));
    i.mac_address = parent.mac_address.clone();
    i.vlan_id = Some(vlan.id);
    // `vlan` is this interface's own VLAN, already applied: the common
    // fields must not move it.
    apply_common(c, &mut i, &InterfaceInput { vlan: None, ..input.iface.clone() })?;
    let vi = insert(c, &i)?;
    db::network::relation_insert(c, vi.id, parent.id)?;
    Ok(vi)
}

pub fn update(c: &mut DbConn, n: &Node, i: &Interface, input: &InterfaceUpdate) -> Result<Interface> {
    let mut ni = i.clone();
    if let Some(m) = mac_param(c, input.iface.mac_address.as_deref(), Some(i.id))? {
        if i.iftype == "vlan" {
            return Err(Error::field("mac_address", "A VLAN interface takes its parent's MAC address."));
        }
        ni.mac_address = Some(m);
    }
    apply_common(c, &mut ni, &input.iface)?;
    if ni.iftype == "bond" {
        let mut p = params_of(&ni);
        bond_params(&input.bond, &mut p)?;
        ni.params = Value::Object(p).to_string();
    }
    if ni.vlan_id != i.vlan_id {
        // Links to subnets of the old VLAN cannot stay.
        let model = db::network::load_model(c)?;
        for l in db::network::links_of(c, &[i.id])? {
            if l.subnet_id.and_then(|s| model.subnets.get(&s)).is_some_and(|s| Some(s.vlan_id) != ni.vlan_id) {
                db::network::address_delete(c, l.id)?;
            }
        }
    }
    if let Some(parent_ids) = &input.parents {
        if ni.iftype != "bond" && ni.iftype != "bridge" {
            return Err(Error::field("parents", "Only bonds and bridges have changeable parents."));
        }
        let parents = check_parents(c, n, parent_ids, &ni.iftype, Some(i.id))?;
        if parents.is_empty() {
            return Err(Error::field("parents", "At least one parent is required."));
        }
        db::network::relations_delete_child(c, i.id)?;
        enslave(c, &ni, &parents)?;
    }
    db::network::interface_save(c, &ni)?;
    db::network::interface_by_id(c, i.id)?.ok_or(Error::NotFound("Interface"))
}

pub fn delete(c: &mut DbConn, i: &Interface) -> Result<()> {
    let children: Vec<i64> =
        db::network::relations_of(c, &[i.id])?.into_iter().filter(|(_, p)| *p == i.id).map(|(ch, _)| ch).collect();
    if !children.is_empty() {
        let mut names = Vec::new();
        for ch in children {
            if let Some(x) = db::network::interface_by_id(c, ch)? {
                names.push(x.name);
            }
        }
        return Err(Error::BadRequest(format!(
            "Interface {} is the parent of {}; delete those first.",
            i.name,
            names.join(", ")
        )));
    }
    db::network::interface_delete(c, i.id)
}

pub fn add_tag(c: &mut DbConn, i: &Interface, tag: &str) -> Result<Interface> {
    let mut t = tags_of(i);
    if !t.iter().any(|x| x == tag) {
        t.push(tag.to_string());
    }
    let mut ni = i.clone();
    ni.tags = engine::string_list_json(&t);
    db::network::interface_save(c, &ni)?;
    Ok(ni)
}

pub fn remove_tag(c: &mut DbConn, i: &Interface, tag: &str) -> Result<Interface> {
    let mut ni = i.clone();
    ni.tags = engine::string_list_json(&tags_of(i).into_iter().filter(|x| x != tag).collect::<Vec<_>>());
    db::network::interface_save(c, &ni)?;
    Ok(ni)
}

/// `disconnect`: no links, no VLAN.
pub fn disconnect(c: &mut DbConn, i: &Interface) -> Result<Interface> {
    for l in db::network::links_of(c, &[i.id])? {
        db::network::address_delete(c, l.id)?;
    }
    let mut ni = i.clone();
    ni.vlan_id = None;
    db::network::interface_save(c, &ni)?;
    Ok(ni)
}

/// `link_subnet`.
pub fn link_subnet(c: &mut DbConn, n: &Node, i: &Interface, input: &LinkInput) -> Result<Interface> {
    let mode = input.mode.to_ascii_lowercase();
    if !engine::network::LINK_MODES.contains(&mode.as_str()) {
        return Err(Error::field(
            "mode",
            format!(
                "Select a valid choice. {} is not one of the available choices: AUTO, DHCP, STATIC, LINK_UP.",
                mode.to_uppercase()
            ),
        ));
    }
    let subnet = match input.subnet.as_deref() {
        Some(k) => {
            Some(engine::network::subnet(c, k).map_err(|_| Error::field("subnet", format!("Unknown subnet '{k}'.")))?)
        }
        None if mode == "auto" || mode == "static" => return Err(Error::required("subnet")),
        None => None,
    };
    if input.ip_address.is_some() && mode != "static" {
        return Err(Error::field("ip_address", "An IP address can only be given with mode STATIC."));
    }
    let requested = input.ip_address.as_deref().map(|a| engine::ipam::parse_ip("ip_address", a)).transpose()?;
    if let (Some(s), Some(ip)) = (&subnet, requested) {
        engine::network::check_requested(c, s, ip, "ip_address")?;
    }
    let mut ni = i.clone();
    if let Some(s) = &subnet {
        match i.vlan_id {
            None => {
                ni.vlan_id = Some(s.vlan_id);
                db::network::interface_save(c, &ni)?;
            }
            Some(v) if v != s.vlan_id => {
                return Err(Error::field(
                    "subnet",
                    format!(
                        "Subnet {} is on VLAN {}, but interface {} is on VLAN {v}; change the interface's vlan first.",
                        s.cidr, s.vlan_id, i.name
                    ),
                ))
            }
            _ => {}
        }
    }
    let links = db::network::links_of(c, &[i.id])?;
    if let Some(s) = &subnet {
        if links.iter().any(|l| l.subnet_id == Some(s.id)) {
            return Err(Error::field(
                "subnet",
                format!("Interface {} is already linked to subnet {}.", i.name, s.cidr),
            ));
        }
    }
    // A LINK_UP placeholder gives way to a real link, and only one may exist.
    for l in links.iter().filter(|l| l.mode == "link_up") {
        db::network::address_delete(c, l.id)?;
    }
    if mode == "link_up" && links.iter().any(|l| l.mode != "link_up") {
        return Err(Error::field(
            "mode",
            "LINK_UP is only possible on an interface with no other links; unlink them first.",
        ));
    }
    let template = NewIpAddress {
        ip: None,
        mode: mode.clone(),
        subnet_id: subnet.as_ref().map(|s| s.id),
        interface_id: Some(i.id),
        user_id: None,
        hostname: n.hostname.clone(),
        mac_address: i.mac_address.clone(),
        created_at: db::now(),
    };
    let link = if let (true, Some(s)) = (mode == "static", subnet.as_ref()) {
        engine::network::allocate(c, s, requested, template)?
    } else {
        db::network::address_insert(c, &template)?
    };
    // AUTO links of a deployed machine get their address at once.
    let deployed = n.status == Status::Deployed;
    if let (true, Some(s)) = (mode == "auto" && deployed, subnet.as_ref()) {
        engine::network::assign_to_link(c, s, link.id)?;
    }
    if mode == "static" || (mode == "auto" && deployed) {
        engine::dns::bump_serial(c)?;
    }
    if input.default_gateway {
        set_gateway_for(c, n, &link, subnet.as_ref())?;
    }
    db::network::interface_by_id(c, i.id)?.ok_or(Error::NotFound("Interface"))
}

fn set_gateway_for(c: &mut DbConn, n: &Node, link: &IpAddress, subnet: Option<&Subnet>) -> Result<()> {
    let Some(s) = subnet else {
        return Err(Error::field("default_gateway", "Only a link to a subnet can be the default gateway."));
    };
    if link.mode != "auto" && link.mode != "static" {
        return Err(Error::field("default_gateway", "Only AUTO and STATIC links can be the default gateway."));
    }
    if s.gateway_ip.is_none() {
        return Err(Error::field("default_gateway", format!("Subnet {} has no gateway IP; set one first.", s.cidr)));
    }
    let v4 = engine::network::cidr_of(s).addr().is_ipv4();
    db::network::set_gateway_link(c, n.id, v4, Some(link.id))
}

/// `unlink_subnet`: removes the interface's link `id`.
pub fn unlink_subnet(c: &mut DbConn, n: &Node, i: &Interface, id: i64) -> Result<Interface> {
    let link = db::network::links_of(c, &[i.id])?
        .into_iter()
        .find(|l| l.id == id)
        .ok_or_else(|| Error::field("id", format!("Interface {} has no link with id {id}.", i.name)))?;
    let (g4, g6) = db::network::gateway_links(c, n.id)?;
    if g4 == Some(link.id) {
        db::network::set_gateway_link(c, n.id, true, None)?;
    }
    if g6 == Some(link.id) {
        db::network::set_gateway_link(c, n.id, false, None)?;
    }
    db::network::address_delete(c, link.id)?;
    if link.ip.is_some() {
        engine::dns::bump_serial(c)?;
    }
    db::network::interface_by_id(c, i.id)?.ok_or(Error::NotFound("Interface"))
}

/// `set_default_gateway`: the link `link_id`, or with none every AUTO or
/// STATIC link to a subnet with a gateway.
pub fn set_default_gateway(c: &mut DbConn, n: &Node, i: &Interface, link_id: Option<i64>) -> Result<Interface> {
    let links = db::network::links_of(c, &[i.id])?;
    let model = db::network::load_model(c)?;
    let chosen: Vec<&IpAddress> = match link_id {
        Some(id) => vec![links
            .iter()
            .find(|l| l.id == id)
            .ok_or_else(|| Error::field("link_id", format!("Interface {} has no link with id {id}.", i.name)))?],
        None => {
            let with_gw: Vec<&IpAddress> = links
                .iter()
                .filter(|l| matches!(l.mode.as_str(), "auto" | "static"))
                .filter(|l| l.subnet_id.and_then(|s| model.subnets.get(&s)).is_some_and(|s| s.gateway_ip.is_some()))
                .collect();
            if with_gw.is_empty() {
                return Err(Error::BadRequest(format!(
                    "Interface {} has no AUTO or STATIC link to a subnet with a gateway.",
                    i.name
                )));
            }
            with_gw
        }
    };
    for l in chosen {
        set_gateway_for(c, n, l, l.subnet_id.and_then(|s| model.subnets.get(&s)))?;
    }
    db::network::interface_by_id(c, i.id)?.ok_or(Error::NotFound("Interface"))
}

/// Deploy: every AUTO link of the node without an address gets one. Runs
/// inside the deploy transaction, so exhaustion (503) leaves nothing behind.
pub fn claim_auto_ips(c: &mut DbConn, n: &Node) -> Result<Vec<IpAddr>> {
    let ids: Vec<i64> = db::network::interfaces_of(c, n.id)?.iter().map(|i| i.id).collect();
    let mut out = Vec::new();
    for l in db::network::links_of(c, &ids)?.into_iter().filter(|l| l.mode == "auto" && l.ip.is_none()) {
        let Some(s) = l.subnet_id.map(|s| db::network::subnet_by_id(c, s)).transpose()?.flatten() else { continue };
        out.push(engine::network::assign_to_link(c, &s, l.id)?);
    }
    if !out.is_empty() {
        engine::dns::bump_serial(c)?;
    }
    Ok(out)
}

/// Release: AUTO addresses go back to the pool; the links stay.
pub fn release_auto_ips(c: &mut DbConn, n: &Node) -> Result<usize> {
    let ids: Vec<i64> = db::network::interfaces_of(c, n.id)?.iter().map(|i| i.id).collect();
    let freed = db::network::clear_auto_ips(c, &ids)?;
    if freed > 0 {
        engine::dns::bump_serial(c)?;
    }
    Ok(freed)
}

/// After commissioning, MAAS links the boot interface AUTO to a subnet of
/// its VLAN (IPv4 first) when it has no links yet, so a deployment gets an
/// address without extra calls.
pub fn initial_links(c: &mut DbConn, n: &Node) -> Result<()> {
    let ifaces = db::network::interfaces_of(c, n.id)?;
    let Some(boot) = ifaces.iter().find(|i| i.is_boot).or_else(|| ifaces.iter().find(|i| i.iftype == "physical"))
    else {
        return Ok(());
    };
    if !db::network::links_of(c, &[boot.id])?.is_empty() {
        return Ok(());
    }
    let Some(vlan_id) = boot.vlan_id else { return Ok(()) };
    let model = db::network::load_model(c)?;
    let mut subs: Vec<&Subnet> = model.subnets_sorted().into_iter().filter(|s| s.vlan_id == vlan_id).collect();
    subs.sort_by_key(|s| (!engine::network::cidr_of(s).addr().is_ipv4(), s.id));
    let Some(s) = subs.first() else { return Ok(()) };
    let link = db::network::address_insert(
        c,
        &NewIpAddress {
            ip: None,
            mode: "auto".into(),
            subnet_id: Some(s.id),
            interface_id: Some(boot.id),
            user_id: None,
            hostname: n.hostname.clone(),
            mac_address: boot.mac_address.clone(),
            created_at: db::now(),
        },
    )?;
    if s.gateway_ip.is_some() {
        db::network::set_gateway_link(c, n.id, engine::network::cidr_of(s).addr().is_ipv4(), Some(link.id))?;
    }
    Ok(())
}

/// MAAS's `set_initial_networking_configuration` (a device's
/// `restore_networking_configuration`): every link of the node's interfaces
/// goes, addresses observed on the network excepted, the default gateways
/// are cleared, and the boot interface is linked again as after
/// commissioning.
pub fn restore_initial_links(c: &mut DbConn, n: &Node) -> Result<()> {
    let ids: Vec<i64> = db::network::interfaces_of(c, n.id)?.iter().map(|i| i.id).collect();
    db::network::set_gateway_link(c, n.id, true, None)?;
    db::network::set_gateway_link(c, n.id, false, None)?;
    let mut had_address = false;
    for link in db::network::links_of(c, &ids)? {
        if link.mode == "discovered" {
            continue;
        }
        had_address |= link.ip.is_some();
        db::network::address_delete(c, link.id)?;
    }
    if had_address {
        engine::dns::bump_serial(c)?;
    }
    initial_links(c, n)
}

/// The VLAN new enlisted interfaces join until commissioning says otherwise.
pub fn enlistment_vlan() -> Option<i64> {
    Some(DEFAULT_VLAN_ID)
}
