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
use crate::engine::Form;
use crate::error::{Error, Result};

const BOND_MODES: &[&str] =
    &["balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb"];

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

fn vlan_param(c: &mut DbConn, f: &dyn Form) -> Result<Option<Option<i64>>> {
    match f.value("vlan") {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Ok(Some(None)),
        Some(v) => {
            let id: i64 = v.trim().parse().map_err(|_| Error::field("vlan", format!("Unknown VLAN '{v}'.")))?;
            db::network::vlan_by_id(c, id)?.ok_or_else(|| Error::field("vlan", format!("Unknown VLAN '{v}'.")))?;
            Ok(Some(Some(id)))
        }
    }
}

fn mac_param(c: &mut DbConn, f: &dyn Form, except: Option<i64>) -> Result<Option<String>> {
    let Some(m) = f.text("mac_address") else { return Ok(None) };
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
fn apply_common(c: &mut DbConn, i: &mut Interface, f: &dyn Form) -> Result<()> {
    if let Some(n) = f.text("name") {
        validate_ifname(n)?;
        i.name = n.to_string();
    }
    if f.value("tags").is_some() {
        i.tags = engine::string_list_json(&f.list("tags"));
    }
    if let Some(v) = vlan_param(c, f)? {
        i.vlan_id = v;
    }
    let mut p = params_of(i);
    if let Some(m) = f.text("mtu") {
        let mtu: i64 = m
            .parse()
            .ok()
            .filter(|m| (552..=65535).contains(m))
            .ok_or_else(|| Error::field("mtu", format!("MTU must be between 552 and 65535: '{m}'.")))?;
        p.insert("mtu".into(), mtu.into());
    }
    for k in ["accept_ra", "autoconf"] {
        if let Some(b) = f.flag(k)? {
            p.insert(k.into(), b.into());
        }
    }
    i.params = Value::Object(p).to_string();
    if let Some(b) = f.flag("link_connected")? {
        i.link_connected = b;
    }
    for (k, slot) in [("interface_speed", &mut i.interface_speed), ("link_speed", &mut i.link_speed)] {
        if let Some(v) = f.int(k)? {
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

pub fn create_physical(c: &mut DbConn, n: &Node, f: &dyn Form) -> Result<Interface> {
    let mac = mac_param(c, f, None)?.ok_or_else(|| Error::required("mac_address"))?;
    let existing = db::network::interfaces_of(c, n.id)?;
    let mut i = blank(n.id, "physical", next_name(&existing, "eth"));
    i.mac_address = Some(mac);
    apply_common(c, &mut i, f)?;
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

pub fn create_bond(c: &mut DbConn, n: &Node, f: &dyn Form) -> Result<Interface> {
    let name = f.required_text("name")?.to_string();
    let parent_ids = f.list("parents");
    if parent_ids.is_empty() {
        return Err(Error::field("parents", "A bond needs at least one parent interface."));
    }
    let parents = check_parents(c, n, &parent_ids, "bond", None)?;
    let mut i = blank(n.id, "bond", name);
    i.mac_address = match mac_param(c, f, None)? {
        Some(m) => Some(m),
        None => parents[0].mac_address.clone(),
    };
    i.vlan_id = parents[0].vlan_id;
    apply_common(c, &mut i, f)?;
    let mut p = params_of(&i);
    bond_params(f, &mut p)?;
    i.params = Value::Object(p).to_string();
    let bond = insert(c, &i)?;
    enslave(c, &bond, &parents)?;
    Ok(bond)
}

fn bond_params(f: &dyn Form, p: &mut Map<String, Value>) -> Result<()> {
    if let Some(m) = f.text("bond_mode") {
        if !BOND_MODES.contains(&m) {
            return Err(Error::field(
                "bond_mode",
                format!("Select a valid choice. {m} is not one of the available choices: {}.", BOND_MODES.join(", ")),
            ));
        }
        p.insert("bond_mode".into(), m.into());
    }
    p.entry("bond_mode").or_insert("balance-rr".into());
    if let Some(r) = f.text("bond_lacp_rate") {
        if r != "fast" && r != "slow" {
            return Err(Error::field("bond_lacp_rate", "Select a valid choice: fast or slow."));
        }
        p.insert("bond_lacp_rate".into(), r.into());
    }
    if let Some(h) = f.text("bond_xmit_hash_policy") {
        if !["layer2", "layer2+3", "layer3+4", "encap2+3", "encap3+4"].contains(&h) {
            return Err(Error::field(
                "bond_xmit_hash_policy",
                format!("Select a valid choice. {h} is not one of the available choices."),
            ));
        }
        p.insert("bond_xmit_hash_policy".into(), h.into());
    }
    for k in ["bond_miimon", "bond_downdelay", "bond_updelay", "bond_num_grat_arp"] {
        if let Some(v) = f.int(k)? {
            if v < 0 {
                return Err(Error::field(k, "Must be a non-negative integer."));
            }
            p.insert(k.into(), v.into());
        }
    }
    Ok(())
}

pub fn create_bridge(c: &mut DbConn, n: &Node, f: &dyn Form) -> Result<Interface> {
    let parent_ids: Vec<String> = f.list("parent").into_iter().chain(f.list("parents")).collect();
    if parent_ids.len() != 1 {
        return Err(Error::field("parent", "A bridge needs exactly one parent interface."));
    }
    let parents = check_parents(c, n, &parent_ids, "bridge", None)?;
    let name = match f.text("name") {
        Some(nm) => nm.to_string(),
        None => format!("br-{}", parents[0].name),
    };
    let mut i = blank(n.id, "bridge", name);
    i.mac_address = match mac_param(c, f, None)? {
        Some(m) => Some(m),
        None => parents[0].mac_address.clone(),
    };
    i.vlan_id = parents[0].vlan_id;
    apply_common(c, &mut i, f)?;
    let mut p = params_of(&i);
    if let Some(t) = f.text("bridge_type") {
        if t != "standard" && t != "ovs" {
            return Err(Error::field("bridge_type", "Select a valid choice: standard or ovs."));
        }
        p.insert("bridge_type".into(), t.into());
    }
    p.entry("bridge_type").or_insert("standard".into());
    if let Some(b) = f.flag("bridge_stp")? {
        p.insert("bridge_stp".into(), b.into());
    }
    if let Some(v) = f.int("bridge_fd")? {
        p.insert("bridge_fd".into(), v.into());
    }
    i.params = Value::Object(p).to_string();
    let br = insert(c, &i)?;
    enslave(c, &br, &parents)?;
    Ok(br)
}

pub fn create_vlan(c: &mut DbConn, n: &Node, f: &dyn Form) -> Result<Interface> {
    let vlan_key = f.required_text("vlan")?;
    let vlan_id: i64 = vlan_key.parse().map_err(|_| Error::field("vlan", format!("Unknown VLAN '{vlan_key}'.")))?;
    let vlan = db::network::vlan_by_id(c, vlan_id)?
        .ok_or_else(|| Error::field("vlan", format!("Unknown VLAN '{vlan_key}'.")))?;
    let parent_ids: Vec<String> = f.list("parent").into_iter().chain(f.list("parents")).collect();
    if parent_ids.len() != 1 {
        return Err(Error::field("parent", "A VLAN interface needs exactly one parent interface."));
    }
    let pid: i64 = parent_ids[0].parse().map_err(|_| Error::field("parent", "Not an interface id."))?;
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
    apply_common(c, &mut i, f)?;
    if i.vlan_id != Some(vlan.id) {
        return Err(Error::field("vlan", "Conflicting VLAN."));
    }
    let vi = insert(c, &i)?;
    db::network::relation_insert(c, vi.id, parent.id)?;
    Ok(vi)
}

pub fn update(c: &mut DbConn, n: &Node, i: &Interface, f: &dyn Form) -> Result<Interface> {
    let mut ni = i.clone();
    if let Some(m) = mac_param(c, f, Some(i.id))? {
        if i.iftype == "vlan" {
            return Err(Error::field("mac_address", "A VLAN interface takes its parent's MAC address."));
        }
        ni.mac_address = Some(m);
    }
    apply_common(c, &mut ni, f)?;
    if ni.iftype == "bond" {
        let mut p = params_of(&ni);
        bond_params(f, &mut p)?;
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
    if f.value("parents").is_some() || f.value("parents[]").is_some() {
        if ni.iftype != "bond" && ni.iftype != "bridge" {
            return Err(Error::field("parents", "Only bonds and bridges have changeable parents."));
        }
        let parents = check_parents(c, n, &f.list("parents"), &ni.iftype, Some(i.id))?;
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
pub fn link_subnet(c: &mut DbConn, n: &Node, i: &Interface, f: &dyn Form) -> Result<Interface> {
    let mode = f.required_text("mode")?.to_ascii_lowercase();
    if !engine::network::LINK_MODES.contains(&mode.as_str()) {
        return Err(Error::field(
            "mode",
            format!(
                "Select a valid choice. {} is not one of the available choices: AUTO, DHCP, STATIC, LINK_UP.",
                mode.to_uppercase()
            ),
        ));
    }
    let subnet = match f.text("subnet") {
        Some(k) => {
            Some(engine::network::subnet(c, k).map_err(|_| Error::field("subnet", format!("Unknown subnet '{k}'.")))?)
        }
        None if mode == "auto" || mode == "static" => return Err(Error::required("subnet")),
        None => None,
    };
    if f.text("ip_address").is_some() && mode != "static" {
        return Err(Error::field("ip_address", "An IP address can only be given with mode STATIC."));
    }
    let requested = f.text("ip_address").map(|a| engine::ipam::parse_ip("ip_address", a)).transpose()?;
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
    if f.flag("default_gateway")?.unwrap_or(false) {
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

pub fn unlink_subnet(c: &mut DbConn, n: &Node, i: &Interface, f: &dyn Form) -> Result<Interface> {
    let id = f.int("id")?.ok_or_else(|| Error::required("id"))?;
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

pub fn set_default_gateway(c: &mut DbConn, n: &Node, i: &Interface, f: &dyn Form) -> Result<Interface> {
    let links = db::network::links_of(c, &[i.id])?;
    let model = db::network::load_model(c)?;
    let chosen: Vec<&IpAddress> = match f.int("link_id")? {
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

/// The VLAN new enlisted interfaces join until commissioning says otherwise.
pub fn enlistment_vlan() -> Option<i64> {
    Some(DEFAULT_VLAN_ID)
}
