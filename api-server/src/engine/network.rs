//! The network model's rules: spaces, fabrics, VLANs, subnets, IP ranges,
//! user reservations, static routes, and address allocation (IPAM).
//!
//! Rules worth knowing:
//! - the default fabric (id 0) and each fabric's untagged VLAN always exist;
//! - subnets never overlap, so an address belongs to at most one subnet and
//!   the unique index on `ip_addresses.ip` makes allocation race-free: two
//!   transactions that pick the same free address cannot both insert it, and
//!   the loser retries with the next one;
//! - a subnet moves between VLANs only when asked to (`vlan` on update),
//!   never as a side effect;
//! - an exhausted subnet is 503, as MAAS answers.

use std::collections::HashSet;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::db;
use crate::db::network::{Fabric, IpAddress, IpRange, Model, NewIpAddress, Space, StaticRoute, Subnet, Vlan};
use crate::db::users::User;
use crate::db::DbConn;
use crate::engine;
use crate::engine::ipam::Span;
use crate::error::{Error, Result};

pub const DEFAULT_FABRIC_ID: i64 = 0;
pub const DEFAULT_VLAN_ID: i64 = 5001;

/// Link and address modes as stored (lower case, as MAAS renders them).
pub const LINK_MODES: &[&str] = &["auto", "dhcp", "static", "link_up"];

fn id_or_name(key: &str) -> Result<Option<i64>> {
    Ok(key.parse::<i64>().ok())
}

fn validate_name(field: &str, name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 256 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(Error::field(field, format!("Invalid name '{name}': use letters, digits, '-' and '_'.")));
    }
    Ok(())
}

// ---------------------------------------------------------------- spaces

pub fn space(c: &mut DbConn, key: &str) -> Result<Space> {
    let s = match id_or_name(key)? {
        Some(id) => db::network::space_by_id(c, id)?,
        None => db::network::space_by_name(c, key)?,
    };
    s.ok_or(Error::NotFound("Space"))
}

/// `spaces/` create and update. `None` leaves a field unchanged (a blank
/// name counts as absent; a blank description clears it).
#[derive(Debug, Clone, Default)]
pub struct SpaceInput {
    pub name: Option<String>,
    pub description: Option<String>,
}

pub fn create_space(c: &mut DbConn, input: &SpaceInput) -> Result<Space> {
    let name = input.name.as_deref().ok_or_else(|| Error::required("name"))?;
    validate_space_name(name)?;
    db::network::space_insert(c, name, input.description.as_deref().unwrap_or(""))
}

fn validate_space_name(name: &str) -> Result<()> {
    validate_name("name", name)?;
    if name == "undefined" {
        return Err(Error::field("name", "'undefined' is a reserved name (a VLAN with no space)."));
    }
    Ok(())
}

pub fn update_space(c: &mut DbConn, s: &Space, input: &SpaceInput) -> Result<Space> {
    let name = input.name.as_deref().unwrap_or(&s.name).to_string();
    validate_space_name(&name)?;
    db::network::space_update(c, s.id, &name, input.description.as_deref().unwrap_or(&s.description))?;
    db::network::space_by_id(c, s.id)?.ok_or(Error::NotFound("Space"))
}

pub fn delete_space(c: &mut DbConn, s: &Space) -> Result<()> {
    // VLANs in the space fall back to "undefined" (ON DELETE SET NULL).
    db::network::space_delete(c, s.id)
}

/// `space` as VLAN updates take it: id or name, `undefined`/blank clears.
fn space_param(c: &mut DbConn, v: &str) -> Result<Option<i64>> {
    let v = v.trim();
    if v.is_empty() || v == "undefined" {
        return Ok(None);
    }
    let s = match id_or_name(v)? {
        Some(id) => db::network::space_by_id(c, id)?,
        None => db::network::space_by_name(c, v)?,
    };
    s.map(|s| Some(s.id)).ok_or_else(|| Error::field("space", format!("Unknown space '{v}'.")))
}

// ---------------------------------------------------------------- fabrics

pub fn fabric(c: &mut DbConn, key: &str) -> Result<Fabric> {
    let f = match id_or_name(key)? {
        Some(id) => db::network::fabric_by_id(c, id)?,
        None => db::network::fabric_by_name(c, key)?,
    };
    f.ok_or(Error::NotFound("Fabric"))
}

/// `fabrics/` create and update. `None` leaves a field unchanged; a blank
/// name counts as absent, `class_type: Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct FabricInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub class_type: Option<Option<String>>,
}

pub fn create_fabric(c: &mut DbConn, input: &FabricInput) -> Result<Fabric> {
    let name = input.name.as_deref();
    if let Some(n) = name {
        validate_name("name", n)?;
    }
    let class_type = input.class_type.clone().flatten();
    let fab = db::network::fabric_insert(c, name, input.description.as_deref().unwrap_or(""), class_type.as_deref())?;
    db::network::vlan_insert(c, &untagged(fab.id))?;
    Ok(fab)
}

fn untagged(fabric_id: i64) -> Vlan {
    Vlan {
        id: 0,
        fabric_id,
        vid: 0,
        name: Some("untagged".into()),
        description: String::new(),
        mtu: 1500,
        dhcp_on: false,
        external_dhcp: None,
        primary_rack_id: None,
        secondary_rack_id: None,
        relay_vlan_id: None,
        space_id: None,
    }
}

pub fn update_fabric(c: &mut DbConn, fab: &Fabric, input: &FabricInput) -> Result<Fabric> {
    let mut fab = fab.clone();
    if let Some(n) = &input.name {
        validate_name("name", n)?;
        fab.name = n.clone();
    }
    if let Some(d) = &input.description {
        fab.description = d.clone();
    }
    if let Some(t) = &input.class_type {
        fab.class_type = t.clone();
    }
    db::network::fabric_update(c, &fab)?;
    db::network::fabric_by_id(c, fab.id)?.ok_or(Error::NotFound("Fabric"))
}

/// Deletes a fabric with no connected interfaces and no subnets.
pub fn delete_fabric(c: &mut DbConn, fab: &Fabric) -> Result<()> {
    if fab.id == DEFAULT_FABRIC_ID {
        return Err(Error::BadRequest("This fabric is the default fabric, it cannot be deleted.".into()));
    }
    let model = db::network::load_model(c)?;
    for v in model.vlans_of_fabric(fab.id) {
        refuse_if_in_use(c, v, "fabric")?;
    }
    db::network::fabric_delete(c, fab.id)
}

fn refuse_if_in_use(c: &mut DbConn, v: &Vlan, what: &str) -> Result<()> {
    let n = db::network::vlan_interface_count(c, v.id)?;
    if n > 0 {
        return Err(Error::BadRequest(format!(
            "Can't delete {what}; {n} interface(s) are still connected to VLAN {}. Disconnect them first.",
            v.vid
        )));
    }
    let s = db::network::vlan_subnet_count(c, v.id)?;
    if s > 0 {
        return Err(Error::BadRequest(format!(
            "Can't delete {what}; VLAN {} still has {s} subnet(s). Delete or move them first.",
            v.vid
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------- VLANs

pub fn vlan(c: &mut DbConn, id: i64) -> Result<Vlan> {
    db::network::vlan_by_id(c, id)?.ok_or(Error::NotFound("VLAN"))
}

/// `fabrics/{fabric_id}/vlans/{vid}/`: the VLAN with that VID in the fabric.
pub fn vlan_in_fabric(c: &mut DbConn, fabric_key: &str, vid: &str) -> Result<Vlan> {
    let fab = fabric(c, fabric_key)?;
    let vid: i32 = vid.parse().map_err(|_| Error::NotFound("VLAN"))?;
    db::network::vlan_by_vid(c, fab.id, vid)?.ok_or(Error::NotFound("VLAN"))
}

/// A VLAN id as MAAS accepts it (0-4094); the edge parses `vid` with it.
pub fn parse_vid(v: &str) -> Result<i32> {
    match v.trim().parse::<i32>() {
        Ok(n) if (0..=4094).contains(&n) => Ok(n),
        _ => Err(Error::field("vid", format!("VLAN id must be an integer between 0 and 4094: '{v}'."))),
    }
}

/// An MTU as MAAS accepts it (552-65535).
pub fn parse_mtu(v: &str) -> Result<i32> {
    match v.trim().parse::<i32>() {
        Ok(n) if (552..=65535).contains(&n) => Ok(n),
        _ => Err(Error::field("mtu", format!("MTU must be between 552 and 65535: '{v}'."))),
    }
}

fn rack_param(c: &mut DbConn, field: &str, v: &str) -> Result<Option<i64>> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let n = db::nodes::by_system_id(c, v)?
        .filter(|n| n.node_type.is_rack())
        .ok_or_else(|| Error::field(field, format!("'{v}' is not a rack controller.")))?;
    Ok(Some(n.id))
}

/// `vlans/` create and update. `None` leaves a field unchanged. `space`,
/// the racks (system_ids) and `relay_vlan` (an id) are resolved against the
/// database; a blank one clears the reference. `name: Some(None)` clears
/// the name.
#[derive(Debug, Clone, Default)]
pub struct VlanInput {
    pub vid: Option<i32>,
    pub name: Option<Option<String>>,
    pub description: Option<String>,
    pub mtu: Option<i32>,
    pub space: Option<String>,
    pub primary_rack: Option<String>,
    pub secondary_rack: Option<String>,
    pub relay_vlan: Option<String>,
    pub dhcp_on: Option<bool>,
}

fn apply_vlan_input(c: &mut DbConn, v: &mut Vlan, input: &VlanInput) -> Result<()> {
    if let Some(vid) = input.vid {
        v.vid = vid;
    }
    if let Some(n) = &input.name {
        v.name = n.clone();
    }
    if let Some(d) = &input.description {
        v.description = d.clone();
    }
    if let Some(m) = input.mtu {
        v.mtu = m;
    }
    if let Some(s) = &input.space {
        v.space_id = space_param(c, s)?;
    }
    if let Some(r) = &input.primary_rack {
        v.primary_rack_id = rack_param(c, "primary_rack", r)?;
    }
    if let Some(r) = &input.secondary_rack {
        v.secondary_rack_id = rack_param(c, "secondary_rack", r)?;
    }
    if let Some(r) = &input.relay_vlan {
        v.relay_vlan_id = match r.trim() {
            "" => None,
            s => {
                let id: i64 = s.parse().map_err(|_| Error::field("relay_vlan", format!("Unknown VLAN '{s}'.")))?;
                if id == v.id {
                    return Err(Error::field("relay_vlan", "A VLAN cannot relay DHCP to itself."));
                }
                db::network::vlan_by_id(c, id)?
                    .ok_or_else(|| Error::field("relay_vlan", format!("Unknown VLAN '{s}'.")))?;
                Some(id)
            }
        };
    }
    if let Some(on) = input.dhcp_on {
        v.dhcp_on = on;
    }
    if v.primary_rack_id.is_some() && v.primary_rack_id == v.secondary_rack_id {
        return Err(Error::field("secondary_rack", "The primary and secondary rack must be different."));
    }
    if v.dhcp_on {
        if v.relay_vlan_id.is_some() {
            return Err(Error::field("dhcp_on", "DHCP cannot be on for a VLAN that relays DHCP to another VLAN."));
        }
        if v.primary_rack_id.is_none() {
            return Err(Error::field("dhcp_on", "dhcp can only be turned on when a primary rack controller is set."));
        }
        if v.id == 0 || !has_dynamic_range(c, v.id)? {
            return Err(Error::field(
                "dhcp_on",
                "dhcp can only be turned on when a dynamic IP range is defined on a subnet of this VLAN.",
            ));
        }
    }
    Ok(())
}

fn has_dynamic_range(c: &mut DbConn, vlan_id: i64) -> Result<bool> {
    let model = db::network::load_model(c)?;
    for s in model.subnets.values().filter(|s| s.vlan_id == vlan_id) {
        if db::network::ranges(c, Some(s.id))?.iter().any(|r| r.range_type == "dynamic") {
            return Ok(true);
        }
    }
    Ok(false)
}

pub fn create_vlan(c: &mut DbConn, fab: &Fabric, input: &VlanInput) -> Result<Vlan> {
    let mut v = untagged(fab.id);
    v.name = None;
    v.vid = input.vid.ok_or_else(|| Error::required("vid"))?;
    apply_vlan_input(c, &mut v, input)?;
    db::network::vlan_insert(c, &v)
}

pub fn update_vlan(c: &mut DbConn, v: &Vlan, input: &VlanInput) -> Result<Vlan> {
    let mut nv = v.clone();
    apply_vlan_input(c, &mut nv, input)?;
    if v.vid == 0 && nv.vid != 0 && v.name.as_deref() == Some("untagged") {
        return Err(Error::field("vid", "The untagged VLAN of a fabric keeps vid 0."));
    }
    db::network::vlan_update(c, &nv)?;
    vlan(c, v.id)
}

pub fn delete_vlan(c: &mut DbConn, v: &Vlan) -> Result<()> {
    if v.vid == 0 {
        return Err(Error::BadRequest("This VLAN is the default VLAN in the fabric, it cannot be deleted.".into()));
    }
    refuse_if_in_use(c, v, "VLAN")?;
    db::network::vlan_delete(c, v.id)
}

// ---------------------------------------------------------------- subnets

/// A subnet by id, CIDR or name (`subnets/{id}/` accepts all three).
pub fn subnet(c: &mut DbConn, key: &str) -> Result<Subnet> {
    if let Ok(id) = key.parse::<i64>() {
        return db::network::subnet_by_id(c, id)?.ok_or(Error::NotFound("Subnet"));
    }
    let key = key.strip_prefix("cidr:").or_else(|| key.strip_prefix("name:")).unwrap_or(key);
    let model = db::network::load_model(c)?;
    let cidr = engine::ipam::parse_cidr(key).ok().map(|n| n.to_string());
    model
        .subnets_sorted()
        .into_iter()
        .find(|s| Some(&s.cidr) == cidr.as_ref() || s.name == key)
        .cloned()
        .ok_or(Error::NotFound("Subnet"))
}

pub fn cidr_of(s: &Subnet) -> IpNet {
    // Subnets are only written with a CIDR that `ipam::parse_cidr` accepted
    // (create and update alike), so a stored one always parses.
    #[allow(clippy::expect_used)]
    s.cidr.parse().expect("stored CIDRs are valid")
}

fn parse_dns_servers(v: &str) -> Result<String> {
    let mut out = Vec::new();
    for part in v.split(|c: char| c == ',' || c.is_whitespace()).filter(|p| !p.is_empty()) {
        out.push(engine::ipam::parse_ip("dns_servers", part)?.to_string());
    }
    Ok(out.join(" "))
}

/// `subnets/` create and update. `None` leaves a field unchanged; a blank
/// `gateway_ip` clears it. `vid` stays text because it only matters (and is
/// only checked) when no `vlan` is given.
#[derive(Debug, Clone, Default)]
pub struct SubnetInput {
    pub cidr: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub vlan: Option<String>,
    pub fabric: Option<String>,
    pub vid: Option<String>,
    pub space: Option<String>,
    pub gateway_ip: Option<String>,
    pub dns_servers: Option<String>,
    pub rdns_mode: Option<i64>,
    pub allow_dns: Option<bool>,
    pub allow_proxy: Option<bool>,
    pub active_discovery: Option<bool>,
    pub managed: Option<bool>,
    pub disabled_boot_architectures: Option<Vec<String>>,
}

/// The VLAN a new subnet goes on: `vlan` (id), else `fabric` + `vid`, else
/// the default fabric's untagged VLAN.
fn subnet_vlan(c: &mut DbConn, input: &SubnetInput) -> Result<Option<i64>> {
    if let Some(v) = input.vlan.as_deref() {
        let id: i64 = v.parse().map_err(|_| Error::field("vlan", format!("Unknown VLAN '{v}'.")))?;
        db::network::vlan_by_id(c, id)?.ok_or_else(|| Error::field("vlan", format!("Unknown VLAN '{v}'.")))?;
        return Ok(Some(id));
    }
    if let Some(fk) = input.fabric.as_deref() {
        let fab = fabric(c, fk).map_err(|_| Error::field("fabric", format!("Unknown fabric '{fk}'.")))?;
        let vid = input.vid.as_deref().map(parse_vid).transpose()?.unwrap_or(0);
        let v = db::network::vlan_by_vid(c, fab.id, vid)?
            .ok_or_else(|| Error::field("vid", format!("No VLAN with vid {vid} in fabric {}.", fab.name)))?;
        return Ok(Some(v.id));
    }
    if let Some(vid) = input.vid.as_deref() {
        let vid = parse_vid(vid)?;
        let v = db::network::vlan_by_vid(c, DEFAULT_FABRIC_ID, vid)?
            .ok_or_else(|| Error::field("vid", format!("No VLAN with vid {vid} in the default fabric.")))?;
        return Ok(Some(v.id));
    }
    Ok(None)
}

fn apply_subnet_input(c: &mut DbConn, s: &mut Subnet, input: &SubnetInput, creating: bool) -> Result<()> {
    if let Some(cidr) = input.cidr.as_deref() {
        let newc = engine::ipam::parse_cidr(cidr)?.to_string();
        if s.name == s.cidr || s.name.is_empty() {
            s.name = newc.clone();
        }
        s.cidr = newc;
    }
    if let Some(n) = &input.name {
        s.name = n.clone();
    }
    if let Some(d) = &input.description {
        s.description = d.clone();
    }
    if let Some(v) = subnet_vlan(c, input)? {
        s.vlan_id = v;
    }
    if let Some(sp) = input.space.as_deref() {
        // MAAS 2.x+: the space belongs to the VLAN. Accept the VLAN's own
        // space (clients echo it back), refuse anything else with the fix.
        let want = space_param(c, sp)?;
        let have = db::network::vlan_by_id(c, s.vlan_id)?.and_then(|v| v.space_id);
        if want != have {
            return Err(Error::field(
                "space",
                "A subnet's space is its VLAN's space: set `space` on the VLAN instead.",
            ));
        }
    }
    if let Some(g) = input.gateway_ip.as_deref() {
        s.gateway_ip = match g.trim() {
            "" => None,
            g => Some(engine::ipam::parse_ip("gateway_ip", g)?.to_string()),
        };
    }
    if let Some(d) = input.dns_servers.as_deref() {
        s.dns_servers = parse_dns_servers(d)?;
    }
    if let Some(r) = input.rdns_mode {
        if !(0..=2).contains(&r) {
            return Err(Error::field(
                "rdns_mode",
                format!("Select a valid choice. {r} is not one of the available choices."),
            ));
        }
        s.rdns_mode = r as i32;
    }
    for (flag, slot) in [
        (input.allow_dns, &mut s.allow_dns),
        (input.allow_proxy, &mut s.allow_proxy),
        (input.active_discovery, &mut s.active_discovery),
        (input.managed, &mut s.managed),
    ] {
        if let Some(b) = flag {
            *slot = b;
        }
    }
    if let Some(archs) = &input.disabled_boot_architectures {
        s.disabled_boot_architectures = archs.join(" ");
    }
    let netw = engine::ipam::parse_cidr(&s.cidr)?;
    if let Some(g) = &s.gateway_ip {
        let g: IpAddr = g.parse().map_err(Error::internal)?;
        if !netw.contains(&g) {
            return Err(Error::field("gateway_ip", format!("Gateway IP must be within CIDR range {}.", s.cidr)));
        }
    }
    // Overlap with any other subnet is refused: an address must have one home.
    let model = db::network::load_model(c)?;
    for other in model.subnets.values().filter(|o| o.id != s.id) {
        let o = cidr_of(other);
        if o.contains(&netw.network()) || netw.contains(&o.network()) {
            return Err(Error::field(
                "cidr",
                format!("Subnet {} overlaps with existing subnet {} ({}).", s.cidr, other.cidr, other.name),
            ));
        }
    }
    if !creating {
        // Shrinking a subnet must not strand its ranges or addresses.
        for r in db::network::ranges(c, Some(s.id))? {
            let (a, b) = (r.start_ip.parse::<IpAddr>(), r.end_ip.parse::<IpAddr>());
            if !matches!((a, b), (Ok(a), Ok(b)) if netw.contains(&a) && netw.contains(&b)) {
                return Err(Error::field(
                    "cidr",
                    format!(
                        "IP range {}-{} would fall outside {}; change or delete it first.",
                        r.start_ip, r.end_ip, s.cidr
                    ),
                ));
            }
        }
        for a in db::network::addresses_in_subnet(c, s.id)? {
            if let Some(ip) = a.ip.as_deref().and_then(|i| i.parse::<IpAddr>().ok()) {
                if !netw.contains(&ip) {
                    return Err(Error::field(
                        "cidr",
                        format!("IP address {ip} in use would fall outside {}; release it first.", s.cidr),
                    ));
                }
            }
        }
    }
    Ok(())
}

pub fn create_subnet(c: &mut DbConn, input: &SubnetInput) -> Result<Subnet> {
    let cidr = input.cidr.as_deref().map(str::trim).filter(|v| !v.is_empty()).ok_or_else(|| Error::required("cidr"))?;
    let cidr = engine::ipam::parse_cidr(cidr)?.to_string();
    let mut s = Subnet {
        id: 0,
        name: cidr.clone(),
        description: String::new(),
        cidr,
        vlan_id: DEFAULT_VLAN_ID,
        gateway_ip: None,
        dns_servers: String::new(),
        rdns_mode: 2,
        allow_dns: true,
        allow_proxy: true,
        active_discovery: false,
        managed: true,
        disabled_boot_architectures: String::new(),
    };
    apply_subnet_input(c, &mut s, input, true)?;
    db::network::subnet_insert(c, &s)
}

pub fn update_subnet(c: &mut DbConn, s: &Subnet, input: &SubnetInput) -> Result<Subnet> {
    let mut ns = s.clone();
    apply_subnet_input(c, &mut ns, input, false)?;
    db::network::subnet_update(c, &ns)?;
    db::network::subnet_by_id(c, s.id)?.ok_or(Error::NotFound("Subnet"))
}

/// Deletes a subnet with MAAS's rule: refused (unless `force`) while a node's
/// interface holds an address in it; user reservations, DNS-resource addresses,
/// DHCP leases and discovered addresses go with the subnet, as in MAAS (the
/// `maas` CLI's `subnet delete` after an `ipaddresses reserve` must succeed).
pub fn delete_subnet(c: &mut DbConn, s: &Subnet, force: bool) -> Result<()> {
    let in_use_by_nodes = db::network::addresses_in_subnet(c, s.id)?
        .into_iter()
        .any(|a| a.ip.is_some() && a.interface_id.is_some() && !matches!(a.mode.as_str(), "dhcp" | "discovered"));
    if in_use_by_nodes && !force {
        return Err(Error::BadRequest(
            "Cannot delete a subnet that has IP addresses in use by nodes. (Use the 'force' parameter to override.)"
                .into(),
        ));
    }
    // The addresses (and their DNS-resource links) go by ON DELETE CASCADE.
    db::network::subnet_delete(c, s.id)
}

// ---------------------------------------------------------------- ranges

pub fn range(c: &mut DbConn, id: i64) -> Result<IpRange> {
    db::network::range_by_id(c, id)?.ok_or(Error::NotFound("IPRange"))
}

/// The subnet containing `ip` (subnets do not overlap, so at most one).
pub fn subnet_containing(model: &Model, ip: IpAddr) -> Option<&Subnet> {
    model.subnets_sorted().into_iter().find(|s| cidr_of(s).contains(&ip))
}

fn validate_range(
    c: &mut DbConn,
    s: &Subnet,
    rtype: &str,
    start: IpAddr,
    end: IpAddr,
    except: Option<i64>,
) -> Result<()> {
    let netw = cidr_of(s);
    if !netw.contains(&start) {
        return Err(Error::field("start_ip", format!("Start IP address must be within subnet: {}.", s.cidr)));
    }
    if !netw.contains(&end) {
        return Err(Error::field("end_ip", format!("End IP address must be within subnet: {}.", s.cidr)));
    }
    let (a, b) = (engine::ipam::to_u128(start), engine::ipam::to_u128(end));
    if a > b {
        return Err(Error::field("end_ip", "End IP address must not be less than Start IP address."));
    }
    let (first, last) = engine::ipam::usable(&netw);
    if a < first || b > last {
        return Err(Error::field("start_ip", "Range cannot include the subnet's network or broadcast address."));
    }
    for r in db::network::ranges(c, Some(s.id))?.into_iter().filter(|r| Some(r.id) != except) {
        let (ra, rb) = (parse_stored(&r.start_ip), parse_stored(&r.end_ip));
        if a <= rb && ra <= b {
            return Err(Error::field(
                "__all__",
                format!(
                    "Requested {rtype} range conflicts with an existing {} range {}-{}.",
                    r.range_type, r.start_ip, r.end_ip
                ),
            ));
        }
    }
    if rtype == "dynamic" {
        if let Some(g) = s.gateway_ip.as_deref() {
            let g = parse_stored(g);
            if a <= g && g <= b {
                return Err(Error::field("__all__", "Dynamic range cannot contain the subnet's gateway IP address."));
            }
        }
        for addr in db::network::addresses_in_subnet(c, s.id)? {
            if let Some(ip) = addr.ip.as_deref() {
                let v = parse_stored(ip);
                if a <= v && v <= b {
                    return Err(Error::field(
                        "__all__",
                        format!("Dynamic range cannot contain the assigned address {ip}."),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn parse_stored(ip: &str) -> u128 {
    ip.parse::<IpAddr>().map(engine::ipam::to_u128).unwrap_or(0)
}

/// `ipranges/` create and update: text fields, blank counts as absent
/// (except `comment`, where blank clears). An update may change every field,
/// `type` and `subnet` included, as MAAS's IPRangeForm does (Terraform's
/// maas_subnet_ip_range updates them in place).
#[derive(Debug, Clone, Default)]
pub struct RangeInput {
    pub range_type: Option<String>,
    pub start_ip: Option<String>,
    pub end_ip: Option<String>,
    pub subnet: Option<String>,
    pub comment: Option<String>,
}

/// A range type as given, checked against MAAS's choices; dynamic ranges
/// (DHCP) are for administrators only.
fn range_type(user: &User, given: &str) -> Result<String> {
    let rtype = given.to_ascii_lowercase();
    if rtype != "dynamic" && rtype != "reserved" {
        return Err(Error::field(
            "type",
            format!("Select a valid choice. {rtype} is not one of the available choices."),
        ));
    }
    if rtype == "dynamic" && !user.is_superuser {
        return Err(Error::Forbidden("Only administrators can create dynamic IP ranges.".into()));
    }
    Ok(rtype)
}

pub fn create_range(c: &mut DbConn, user: &User, input: &RangeInput) -> Result<IpRange> {
    let rtype = range_type(user, input.range_type.as_deref().ok_or_else(|| Error::required("type"))?)?;
    let start =
        engine::ipam::parse_ip("start_ip", input.start_ip.as_deref().ok_or_else(|| Error::required("start_ip"))?)?;
    let end = engine::ipam::parse_ip("end_ip", input.end_ip.as_deref().ok_or_else(|| Error::required("end_ip"))?)?;
    if start.is_ipv4() != end.is_ipv4() {
        return Err(Error::field("end_ip", "Start and end IP addresses must be of the same family."));
    }
    let s = match input.subnet.as_deref() {
        Some(k) => subnet(c, k).map_err(|_| Error::field("subnet", format!("Unknown subnet '{k}'.")))?,
        None => {
            let model = db::network::load_model(c)?;
            subnet_containing(&model, start)
                .cloned()
                .ok_or_else(|| Error::field("start_ip", format!("No subnet contains {start}.")))?
        }
    };
    validate_range(c, &s, &rtype, start, end, None)?;
    db::network::range_insert(
        c,
        s.id,
        &rtype,
        &start.to_string(),
        &end.to_string(),
        input.comment.as_deref().unwrap_or(""),
        Some(user.id),
    )
}

fn may_edit_range(user: &User, r: &IpRange) -> Result<()> {
    if user.is_superuser || (r.range_type == "reserved" && r.user_id == Some(user.id)) {
        Ok(())
    } else {
        Err(Error::Forbidden("You may only change your own reserved IP ranges.".into()))
    }
}

pub fn update_range(c: &mut DbConn, user: &User, r: &IpRange, input: &RangeInput) -> Result<IpRange> {
    may_edit_range(user, r)?;
    let start = match input.start_ip.as_deref() {
        Some(s) => engine::ipam::parse_ip("start_ip", s)?,
        None => r.start_ip.parse().map_err(Error::internal)?,
    };
    let end = match input.end_ip.as_deref() {
        Some(s) => engine::ipam::parse_ip("end_ip", s)?,
        None => r.end_ip.parse().map_err(Error::internal)?,
    };
    let rtype = match input.range_type.as_deref() {
        Some(t) => range_type(user, t)?,
        None => r.range_type.clone(),
    };
    let s = match input.subnet.as_deref() {
        Some(k) => subnet(c, k).map_err(|_| Error::field("subnet", format!("Unknown subnet '{k}'.")))?,
        None => db::network::subnet_by_id(c, r.subnet_id)?.ok_or(Error::NotFound("Subnet"))?,
    };
    validate_range(c, &s, &rtype, start, end, Some(r.id))?;
    db::network::range_update(
        c,
        r.id,
        db::network::RangeChange {
            subnet_id: s.id,
            range_type: &rtype,
            start: &start.to_string(),
            end: &end.to_string(),
            comment: input.comment.as_deref().unwrap_or(&r.comment),
        },
    )?;
    range(c, r.id)
}

pub fn delete_range(c: &mut DbConn, user: &User, r: &IpRange) -> Result<()> {
    may_edit_range(user, r)?;
    db::network::range_delete(c, r.id)
}

// ---------------------------------------------------------------- IPAM

/// Unavailable spans of a subnet, merged, each with its purposes
/// (`dynamic`, `reserved`, `gateway-ip`, `dns-server`, `assigned-ip`).
pub fn unavailable(c: &mut DbConn, s: &Subnet) -> Result<Vec<Span>> {
    let netw = cidr_of(s);
    let mut spans = Vec::new();
    for r in db::network::ranges(c, Some(s.id))? {
        spans.push(Span {
            start: parse_stored(&r.start_ip),
            end: parse_stored(&r.end_ip),
            purpose: vec![r.range_type],
        });
    }
    let one = |ip: &str, why: &str| {
        let v = parse_stored(ip);
        Span { start: v, end: v, purpose: vec![why.to_string()] }
    };
    if let Some(g) = &s.gateway_ip {
        spans.push(one(g, "gateway-ip"));
    }
    for d in s.dns_servers.split_whitespace() {
        if d.parse::<IpAddr>().is_ok_and(|ip| netw.contains(&ip)) {
            spans.push(one(d, "dns-server"));
        }
    }
    for a in db::network::addresses_in_subnet(c, s.id)? {
        if let Some(ip) = &a.ip {
            spans.push(one(ip, "assigned-ip"));
        }
    }
    // Kept for their MAC: handed out only by `assign_to_link` to that MAC.
    for r in db::reserved_ips::in_subnets(c, &[s.id])? {
        spans.push(one(&r.ip, "reserved-ip"));
    }
    Ok(engine::ipam::merge(spans))
}

/// Validates a requested static address for a subnet: inside it, not in a
/// dynamic range, not the network/broadcast address.
pub fn check_requested(c: &mut DbConn, s: &Subnet, ip: IpAddr, field: &str) -> Result<()> {
    let netw = cidr_of(s);
    if !netw.contains(&ip) {
        return Err(Error::field(field, format!("IP address {ip} is not within subnet {}.", s.cidr)));
    }
    let v = engine::ipam::to_u128(ip);
    let (first, last) = engine::ipam::usable(&netw);
    if v < first || v > last {
        return Err(Error::field(field, format!("IP address {ip} is the network or broadcast address of {}.", s.cidr)));
    }
    for r in db::network::ranges(c, Some(s.id))? {
        if r.range_type == "dynamic" && parse_stored(&r.start_ip) <= v && v <= parse_stored(&r.end_ip) {
            return Err(Error::field(
                field,
                format!(
                    "IP address {ip} is inside the dynamic range {}-{}; choose an address outside it.",
                    r.start_ip, r.end_ip
                ),
            ));
        }
    }
    if s.gateway_ip.as_deref() == Some(&ip.to_string()) {
        return Err(Error::field(field, format!("IP address {ip} is the subnet's gateway.")));
    }
    Ok(())
}

/// Inserts an address row for `template` in subnet `s`: the requested
/// address if given (validated; 409 if taken), else the lowest free one
/// (503 when the subnet is exhausted). Race-free: a concurrent winner makes
/// our insert fail on the unique index and we move on.
pub fn allocate(c: &mut DbConn, s: &Subnet, requested: Option<IpAddr>, template: NewIpAddress) -> Result<IpAddress> {
    if let Some(ip) = requested {
        check_requested(c, s, ip, "ip_address")?;
        if let Some(r) = db::reserved_ips::by_ip(c, &ip.to_string())? {
            // Its own MAC may take it: the interface's, or the one a
            // user reservation names.
            let mac = match template.interface_id {
                Some(id) => db::reserved_ips::mac_of_interface(c, id)?,
                None => template.mac_address.clone(),
            };
            if mac.as_deref() != Some(r.mac_address.as_str()) {
                return Err(Error::field(
                    "ip_address",
                    format!("IP address {ip} is reserved for {} (reservedips/{}/).", r.mac_address, r.id),
                ));
            }
        }
        return db::network::address_insert(
            c,
            &NewIpAddress { ip: Some(ip.to_string()), subnet_id: Some(s.id), ..template },
        );
    }
    first_free_claimed(c, s, |c, ip| {
        db::network::address_insert(
            c,
            &NewIpAddress { ip: Some(ip.to_string()), subnet_id: Some(s.id), ..template.clone() },
        )
    })
}

/// Gives an existing link row (an `auto` link) the lowest free address.
pub fn assign_to_link(c: &mut DbConn, s: &Subnet, link_id: i64) -> Result<IpAddr> {
    // The interface's reserved address on this subnet, when it has one and
    // nobody holds it (MAAS gives a reserved IP to its MAC).
    if let Some(mac) = db::reserved_ips::mac_of_link(c, link_id)? {
        if let Some(r) = db::reserved_ips::by_mac_subnet(c, &mac, s.id)? {
            if db::network::address_by_ip(c, &r.ip)?.is_none() {
                if let Ok(ip) = r.ip.parse::<IpAddr>() {
                    db::network::address_set_ip(c, link_id, Some(&r.ip))?;
                    return Ok(ip);
                }
            }
        }
    }
    first_free_claimed(c, s, |c, ip| db::network::address_set_ip(c, link_id, Some(&ip.to_string())).map(|()| ip))
}

/// Offers `claim` the lowest free address of `s` until one sticks. A claim
/// that loses a race reports [`Error::Conflict`] (the unique index on
/// addresses); that address is skipped and the next one tried. Exhaustion is
/// 503, as in MAAS.
fn first_free_claimed<T>(
    c: &mut DbConn,
    s: &Subnet,
    mut claim: impl FnMut(&mut DbConn, IpAddr) -> Result<T>,
) -> Result<T> {
    let netw = cidr_of(s);
    let mut tried: HashSet<u128> = HashSet::new();
    for _ in 0..64 {
        let mut spans = unavailable(c, s)?;
        spans.extend(tried.iter().map(|v| Span { start: *v, end: *v, purpose: vec![] }));
        let Some(ip) = engine::ipam::first_free(&netw, &engine::ipam::merge(spans)) else {
            return Err(exhausted(s));
        };
        match claim(c, ip) {
            Err(Error::Conflict(_)) => {
                tried.insert(engine::ipam::to_u128(ip));
            }
            other => return other,
        }
    }
    Err(Error::Unavailable(format!("Could not allocate an address in {} (heavy contention); retry.", s.cidr)))
}

fn exhausted(s: &Subnet) -> Error {
    Error::Unavailable(format!("No more IPs available in subnet: {}.", s.cidr))
}

/// `ipaddresses/?op=reserve`: a user reservation of a given or free address.
/// `ipaddresses/?op=reserve`: text fields, blank counts as absent. `ip` is
/// the address asked for (MAAS also takes it as `ip_address`).
#[derive(Debug, Clone, Default)]
pub struct ReserveInput {
    pub ip: Option<String>,
    pub subnet: Option<String>,
    pub mac: Option<String>,
    pub hostname: Option<String>,
}

pub fn reserve(c: &mut DbConn, user: &User, input: &ReserveInput) -> Result<IpAddress> {
    let ip = input.ip.as_deref().map(|s| engine::ipam::parse_ip("ip", s)).transpose()?;
    let model = db::network::load_model(c)?;
    let s = match (input.subnet.as_deref(), ip) {
        (Some(k), _) => subnet(c, k).map_err(|_| Error::field("subnet", format!("Unable to identify subnet: {k}.")))?,
        (None, Some(ip)) => subnet_containing(&model, ip)
            .cloned()
            .ok_or_else(|| Error::field("ip", format!("Unable to find a subnet for IP address {ip}.")))?,
        (None, None) => return Err(Error::BadRequest("Must supply either a subnet or an IP address.".into())),
    };
    let mac = match input.mac.as_deref() {
        Some(m) => Some(
            engine::names::normalise_mac(m)
                .ok_or_else(|| Error::field("mac", format!("'{m}' is not a valid MAC address.")))?,
        ),
        None => None,
    };
    let hostname = input.hostname.clone().unwrap_or_default();
    let template = NewIpAddress {
        ip: None,
        mode: "reserved".into(),
        subnet_id: Some(s.id),
        interface_id: None,
        user_id: Some(user.id),
        hostname,
        mac_address: mac,
        created_at: db::now(),
    };
    allocate(c, &s, ip, template)
}

/// `ipaddresses/?op=release`: frees a reservation. Owners release their own;
/// admins with `force` release any address, links included.
/// `ipaddresses/?op=release`: the address, and whether an admin forces it.
#[derive(Debug, Clone, Default)]
pub struct ReleaseInput {
    pub ip: Option<String>,
    pub force: bool,
}

pub fn release(c: &mut DbConn, user: &User, input: &ReleaseInput) -> Result<()> {
    let ip = engine::ipam::parse_ip("ip", input.ip.as_deref().ok_or_else(|| Error::required("ip"))?)?;
    let force = input.force;
    // Statuses and words are MAAS's (`api/ip_addresses.py`): clients such
    // as terraform-provider-maas release addresses after deleting what used
    // them and report MAAS's text verbatim.
    if force && !user.is_superuser {
        return Err(Error::Forbidden("Force-releasing an IP address requires admin privileges.".into()));
    }
    let found = db::network::address_by_ip(c, &ip.to_string())?;
    let a = match found {
        Some(a) if force || (a.mode == "reserved" && a.user_id == Some(user.id)) => a,
        _ if force => return Err(Error::BadRequest(format!("IP address {ip} does not exist."))),
        _ => {
            return Err(Error::BadRequest(format!(
                "IP address {ip} does not exist, is not the correct type of address, or does not belong to the \
                 requesting user.\nIf you are sure you want to release this address, use force=true as a MAAS \
                 administrator."
            )))
        }
    };
    if a.mode == "auto" {
        // Keep the link, drop only its address.
        db::network::address_set_ip(c, a.id, None)
    } else {
        db::network::address_delete(c, a.id)
    }
}

// ---------------------------------------------------------------- routes

pub fn route(c: &mut DbConn, id: i64) -> Result<StaticRoute> {
    db::network::route_by_id(c, id)?.ok_or(Error::NotFound("StaticRoute"))
}

/// `static-routes/` create and update: subnets by id, CIDR or name; text
/// fields, blank counts as absent.
#[derive(Debug, Clone, Default)]
pub struct RouteInput {
    pub source: Option<String>,
    pub destination: Option<String>,
    pub gateway_ip: Option<String>,
    pub metric: Option<i64>,
}

fn apply_route_input(c: &mut DbConn, r: &mut StaticRoute, input: &RouteInput) -> Result<()> {
    if let Some(k) = input.source.as_deref() {
        r.source_id = subnet(c, k).map_err(|_| Error::field("source", format!("Unknown subnet '{k}'.")))?.id;
    }
    if let Some(k) = input.destination.as_deref() {
        r.destination_id = subnet(c, k).map_err(|_| Error::field("destination", format!("Unknown subnet '{k}'.")))?.id;
    }
    if let Some(g) = input.gateway_ip.as_deref() {
        r.gateway_ip = engine::ipam::parse_ip("gateway_ip", g)?.to_string();
    }
    if let Some(m) = input.metric {
        if !(0..=i32::MAX as i64).contains(&m) {
            return Err(Error::field("metric", "Metric must be a non-negative integer."));
        }
        r.metric = m as i32;
    }
    if r.source_id == r.destination_id {
        return Err(Error::field("destination", "source and destination cannot be the same subnet."));
    }
    let src = db::network::subnet_by_id(c, r.source_id)?.ok_or(Error::NotFound("Subnet"))?;
    let dst = db::network::subnet_by_id(c, r.destination_id)?.ok_or(Error::NotFound("Subnet"))?;
    let (sn, dn) = (cidr_of(&src), cidr_of(&dst));
    if matches!(sn, IpNet::V4(_)) != matches!(dn, IpNet::V4(_)) {
        return Err(Error::field("destination", "source and destination subnets must have be the same IP version."));
    }
    let gw: IpAddr = r.gateway_ip.parse().map_err(Error::internal)?;
    if !sn.contains(&gw) {
        return Err(Error::field("gateway_ip", format!("Gateway IP must be in the source subnet {}.", src.cidr)));
    }
    Ok(())
}

pub fn create_route(c: &mut DbConn, input: &RouteInput) -> Result<StaticRoute> {
    for (k, v) in [("source", &input.source), ("destination", &input.destination), ("gateway_ip", &input.gateway_ip)] {
        v.as_deref().ok_or_else(|| Error::required(k))?;
    }
    let mut r = StaticRoute { id: 0, source_id: 0, destination_id: 0, gateway_ip: String::new(), metric: 0 };
    apply_route_input(c, &mut r, input)?;
    db::network::route_insert(c, r.source_id, r.destination_id, &r.gateway_ip, r.metric)
}

pub fn update_route(c: &mut DbConn, r: &StaticRoute, input: &RouteInput) -> Result<StaticRoute> {
    let mut nr = r.clone();
    apply_route_input(c, &mut nr, input)?;
    db::network::route_update(c, &nr)?;
    route(c, r.id)
}
