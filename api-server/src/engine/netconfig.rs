//! The machine's interfaces as cloud-init network configuration version 1,
//! the document MAAS's `compose_curtin_network_config` puts in the install
//! document (`get_curtin_config`'s `network`) so the installed OS brings up
//! what the API describes.
//!
//! As MAAS's `NodeNetworkConfiguration` (version 1): one entry per enabled
//! interface, parents first: `physical` (`mac_address`), `bond`
//! (`bond_interfaces`, `params` from the interface's `bond_*` parameters with
//! dashes, lacp-rate only for 802.3ad, gratuitous ARP/NA counts only for
//! active-backup), `bridge` (`bridge_interfaces`, `bridge_*` parameters but
//! `bridge_type`) and `vlan` (`vlan_link`, `vlan_id`); each with its other
//! parameters and the effective `mtu` (its own, else its VLAN's). `subnets`
//! per link: a STATIC or AUTO address is `static` with `address` as CIDR,
//! the `gateway` on the link that carries the machine's default gateway for
//! that family (the one `set_default_gateway` chose, else the first link
//! whose subnet has a gateway), the subnet's `dns_nameservers` and, where
//! the subnet allows DNS, `dns_search` with the machine's domain, and the
//! static routes whose source is that subnet; a DHCP link is `dhcp4` or
//! `dhcp6`; a link that is only up is `manual`. A `nameserver` entry closes
//! the list with every DNS server named, unless the machine only uses DHCP
//! or manual links (DHCP brings DNS, MAAS's LP:1847537).
//!
//! Not rendered (yet): the region's or rack's own address as a default
//! DNS server (MAAS adds it; Ironpool's DNS is not served to machines by
//! default), source routing and netplan version 2.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Map, Value};

use crate::db;
use crate::db::interfaces::Interface;
use crate::db::network::{IpAddress, Model, StaticRoute, Subnet};
use crate::db::nodes::Node;
use crate::db::DbConn;
use crate::engine;
use crate::error::Result;

/// `{"version": 1, "config": [...]}` for node `n`.
pub fn network_config(c: &mut DbConn, n: &Node) -> Result<Value> {
    let ifaces = db::network::interfaces_of(c, n.id)?;
    let ids: Vec<i64> = ifaces.iter().map(|i| i.id).collect();
    let links = db::network::links_of(c, &ids)?;
    let relations = db::network::relations_of(c, &ids)?;
    let model = db::network::load_model(c)?;
    let routes = db::network::routes(c)?;
    let domain = db::places::domains(c)?.into_iter().find(|d| d.id == n.domain_id).map(|d| d.name);
    let input = Input {
        ifaces: &ifaces,
        links: &links,
        relations: &relations,
        model: &model,
        routes: &routes,
        domain: domain.unwrap_or_else(|| "maas".into()),
        gateway_links: (n.gateway_link_ipv4_id, n.gateway_link_ipv6_id),
    };
    Ok(render(&input))
}

/// Everything the rendering reads, loaded once.
pub struct Input<'a> {
    pub ifaces: &'a [Interface],
    pub links: &'a [IpAddress],
    /// (child, parent) interface ids.
    pub relations: &'a [(i64, i64)],
    pub model: &'a Model,
    pub routes: &'a [StaticRoute],
    pub domain: String,
    /// The links chosen for the default gateways (IPv4, IPv6).
    pub gateway_links: (Option<i64>, Option<i64>),
}

/// Links that give an address to configure (MAAS leaves out DISCOVERED and
/// the DHCP server's leases: those are observations, not configuration).
fn configured(l: &IpAddress) -> bool {
    matches!(l.mode.as_str(), "static" | "auto" | "dhcp" | "link_up")
}

pub fn render(i: &Input<'_>) -> Value {
    let gateways = default_gateways(i);
    let by_id: HashMap<i64, &Interface> = i.ifaces.iter().map(|x| (x.id, x)).collect();
    let parents_of = |id: i64| -> Vec<&Interface> {
        let mut p: Vec<&Interface> =
            i.relations.iter().filter(|(c, _)| *c == id).filter_map(|(_, p)| by_id.get(p).copied()).collect();
        p.sort_by(|a, b| a.name.cmp(&b.name));
        p
    };
    let mut entries: Vec<(Value, Vec<String>)> = Vec::new();
    let mut dns: Vec<String> = Vec::new();
    let mut only_dhcp = true;
    for iface in i.ifaces.iter().filter(|x| x.enabled) {
        let params: Map<String, Value> = serde_json::from_str(&iface.params).unwrap_or_default();
        let mut e = Map::new();
        for (k, v) in &params {
            if !k.starts_with("bond_") && !k.starts_with("bridge_") && k != "mtu" {
                e.insert(k.clone(), v.clone());
            }
        }
        let vlan = iface.vlan_id.and_then(|v| i.model.vlans.get(&v));
        let mtu = params.get("mtu").and_then(Value::as_i64).or(vlan.map(|v| i64::from(v.mtu))).unwrap_or(1500);
        e.insert("mtu".into(), json!(mtu));
        e.insert("id".into(), json!(iface.name));
        e.insert("name".into(), json!(iface.name));
        let parents = parents_of(iface.id);
        let parent_names: Vec<String> = parents.iter().map(|p| p.name.clone()).collect();
        match iface.iftype.as_str() {
            "bond" => {
                e.insert("type".into(), json!("bond"));
                e.insert("mac_address".into(), json!(iface.mac_address));
                e.insert("bond_interfaces".into(), json!(parent_names));
                e.insert("params".into(), Value::Object(bond_params(&params)));
            }
            "bridge" => {
                e.insert("type".into(), json!("bridge"));
                e.insert("mac_address".into(), json!(iface.mac_address));
                e.insert("bridge_interfaces".into(), json!(parent_names));
                let b: Map<String, Value> = params
                    .iter()
                    .filter(|(k, _)| k.starts_with("bridge_") && *k != "bridge_type")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                e.insert("params".into(), Value::Object(b));
            }
            "vlan" => {
                e.insert("type".into(), json!("vlan"));
                e.insert("vlan_link".into(), json!(parent_names.first()));
                e.insert("vlan_id".into(), json!(vlan.map(|v| v.vid)));
            }
            _ => {
                e.insert("type".into(), json!("physical"));
                e.insert("mac_address".into(), json!(iface.mac_address));
            }
        }
        let subnets = subnets_of(i, iface, &gateways, &mut dns);
        if subnets.iter().any(|s| !matches!(s["type"].as_str(), Some("manual" | "dhcp" | "dhcp4" | "dhcp6"))) {
            only_dhcp = false;
        }
        if !subnets.is_empty() {
            e.insert("subnets".into(), Value::Array(subnets));
        }
        entries.push((Value::Object(e), parent_names));
    }
    let mut config = parents_first(entries);
    if !dns.is_empty() && !only_dhcp {
        config.push(json!({"type": "nameserver", "address": dns, "search": [i.domain]}));
    }
    json!({"version": 1, "config": config})
}

/// MAAS's bond parameters: `bond_x_y` as `bond-x-y`, with the settings a
/// mode does not take left out (LP:1730626, LP:1730991).
fn bond_params(params: &Map<String, Value>) -> Map<String, Value> {
    let mut b: Map<String, Value> =
        params.iter().filter(|(k, _)| k.starts_with("bond_")).map(|(k, v)| (k.replace('_', "-"), v.clone())).collect();
    if let Some(mode) = b.get("bond-mode").and_then(Value::as_str).map(str::to_string) {
        if mode != "802.3ad" {
            b.remove("bond-lacp-rate");
        }
        if mode != "active-backup" {
            b.remove("bond-num-grat-arp");
            b.remove("bond-num-unsol-na");
        }
    }
    b
}

/// The link carrying the default gateway of each family: the one chosen
/// with `set_default_gateway`, else the first configured link (by id)
/// whose subnet has a gateway.
fn default_gateways(i: &Input<'_>) -> (Option<i64>, Option<i64>) {
    let pick = |v4: bool, chosen: Option<i64>| {
        chosen.filter(|id| i.links.iter().any(|l| l.id == *id)).or_else(|| {
            i.links
                .iter()
                .filter(|l| matches!(l.mode.as_str(), "static" | "auto"))
                .find(|l| {
                    subnet(i, l)
                        .is_some_and(|s| s.gateway_ip.is_some() && engine::network::cidr_of(s).addr().is_ipv4() == v4)
                })
                .map(|l| l.id)
        })
    };
    (pick(true, i.gateway_links.0), pick(false, i.gateway_links.1))
}

fn subnet<'a>(i: &'a Input<'_>, l: &IpAddress) -> Option<&'a Subnet> {
    l.subnet_id.and_then(|id| i.model.subnets.get(&id))
}

fn subnets_of(
    i: &Input<'_>,
    iface: &Interface,
    gateways: &(Option<i64>, Option<i64>),
    dns: &mut Vec<String>,
) -> Vec<Value> {
    let links: Vec<&IpAddress> = i.links.iter().filter(|l| l.interface_id == Some(iface.id) && configured(l)).collect();
    if !links.is_empty() && links.iter().all(|l| l.mode == "link_up") {
        return vec![json!({"type": "manual"})];
    }
    let mut out = Vec::new();
    let mut dhcp: HashSet<&'static str> = HashSet::new();
    for l in links {
        let Some(s) = subnet(i, l) else { continue };
        let net = engine::network::cidr_of(s);
        match l.mode.as_str() {
            "dhcp" => {
                dhcp.insert(if net.addr().is_ipv4() { "dhcp4" } else { "dhcp6" });
            }
            "static" | "auto" => {
                // An AUTO link without its address yet (not deployed) says
                // nothing the installed OS could use.
                let Some(ip) = l.ip.as_deref() else { continue };
                let mut op = Map::new();
                op.insert("type".into(), json!("static"));
                op.insert("address".into(), json!(format!("{ip}/{}", net.prefix_len())));
                if Some(l.id) == gateways.0 || Some(l.id) == gateways.1 {
                    if let Some(g) = &s.gateway_ip {
                        op.insert("gateway".into(), json!(g));
                    }
                }
                let servers: Vec<String> = s.dns_servers.split_whitespace().map(str::to_string).collect();
                for d in &servers {
                    if !dns.contains(d) {
                        dns.push(d.clone());
                    }
                }
                if !servers.is_empty() {
                    op.insert("dns_nameservers".into(), json!(servers));
                    if s.allow_dns {
                        op.insert("dns_search".into(), json!([i.domain]));
                    }
                }
                let routes: Vec<Value> = i
                    .routes
                    .iter()
                    .filter(|r| r.source_id == s.id)
                    .filter_map(|r| {
                        let dest = i.model.subnets.get(&r.destination_id)?;
                        Some(json!({"destination": dest.cidr, "gateway": r.gateway_ip, "metric": r.metric}))
                    })
                    .collect();
                if !routes.is_empty() {
                    op.insert("routes".into(), Value::Array(routes));
                }
                out.push(Value::Object(op));
            }
            _ => {}
        }
    }
    match (dhcp.contains("dhcp4"), dhcp.contains("dhcp6")) {
        (true, true) => out.push(json!({"type": "dhcp"})),
        (true, false) => out.push(json!({"type": "dhcp4"})),
        (false, true) => out.push(json!({"type": "dhcp6"})),
        _ => {}
    }
    out
}

/// Each interface after its parents, otherwise in the order given.
fn parents_first(mut pending: Vec<(Value, Vec<String>)>) -> Vec<Value> {
    let names: Vec<String> = pending.iter().filter_map(|(e, _)| e["name"].as_str().map(str::to_string)).collect();
    let mut done: Vec<String> = Vec::new();
    let mut out = Vec::new();
    while !pending.is_empty() {
        let next = pending
            .iter()
            .position(|(_, needs)| needs.iter().all(|n| done.contains(n) || !names.contains(n)))
            .unwrap_or(0);
        let (e, _) = pending.remove(next);
        if let Some(n) = e["name"].as_str() {
            done.push(n.to_string());
        }
        out.push(e);
    }
    out
}
