//! JSON shapes of the network model (`maas-api.md` §10.2–10.6, §10.18):
//! VLANs, subnets, fabrics, spaces, IP ranges, addresses, static routes and
//! interface links.
//!
//! [`NetJson`] renders every VLAN and subnet of the model once, so a list of
//! machines embeds the same precomputed values instead of rebuilding a
//! subnet (with its VLAN) for every link of every machine.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::api::views::resource_uri;
use crate::db::network::{Fabric, IpAddress, IpRange, Model, Space, StaticRoute, Subnet, Vlan};
use crate::engine;
use crate::engine::ipam::Span;

pub(crate) fn space_name(model: &Model, id: Option<i64>) -> String {
    id.and_then(|id| model.spaces.get(&id)).map(|s| s.name.clone()).unwrap_or_else(|| "undefined".into())
}

/// Rack system_ids by node id, for `primary_rack`/`secondary_rack`.
pub type RackNames = HashMap<i64, String>;

pub fn vlan_json(model: &Model, racks: &RackNames, v: &Vlan) -> Value {
    vlan_json_depth(model, racks, v, 1)
}

pub(crate) fn vlan_json_depth(model: &Model, racks: &RackNames, v: &Vlan, depth: u8) -> Value {
    let fabric = model.fabrics.get(&v.fabric_id).map(|f| f.name.clone()).unwrap_or_default();
    let relay = match v.relay_vlan_id.and_then(|r| model.vlans.get(&r)) {
        Some(r) if depth > 0 => vlan_json_depth(model, racks, r, depth - 1),
        _ => Value::Null,
    };
    json!({
        "vid": v.vid,
        "mtu": v.mtu,
        "dhcp_on": v.dhcp_on,
        "external_dhcp": v.external_dhcp,
        "relay_vlan": relay,
        "fabric": fabric,
        "space": space_name(model, v.space_id),
        "primary_rack": v.primary_rack_id.and_then(|r| racks.get(&r)),
        "secondary_rack": v.secondary_rack_id.and_then(|r| racks.get(&r)),
        "name": v.name,
        "id": v.id,
        "fabric_id": v.fabric_id,
        "resource_uri": resource_uri(&format!("vlans/{}/", v.id)),
    })
}

pub fn subnet_json_with(model: &Model, vlan: Value, s: &Subnet) -> Value {
    let space = model.space_of_vlan(s.vlan_id).map(|s| s.name.clone()).unwrap_or_else(|| "undefined".into());
    json!({
        "name": s.name,
        "description": s.description,
        "vlan": vlan,
        "cidr": s.cidr,
        "rdns_mode": s.rdns_mode,
        "gateway_ip": s.gateway_ip,
        "dns_servers": s.dns_servers.split_whitespace().collect::<Vec<_>>(),
        "allow_dns": s.allow_dns,
        "allow_proxy": s.allow_proxy,
        "active_discovery": s.active_discovery,
        "managed": s.managed,
        "disabled_boot_architectures": s.disabled_boot_architectures.split_whitespace().collect::<Vec<_>>(),
        "space": space,
        "id": s.id,
        "resource_uri": resource_uri(&format!("subnets/{}/", s.id)),
    })
}

/// Every VLAN and subnet of a model, rendered once.
pub struct NetJson<'a> {
    pub model: &'a Model,
    pub vlans: HashMap<i64, Value>,
    pub subnets: HashMap<i64, Value>,
}

impl<'a> NetJson<'a> {
    pub fn new(model: &'a Model, racks: &RackNames) -> NetJson<'a> {
        let vlans: HashMap<i64, Value> = model.vlans.values().map(|v| (v.id, vlan_json(model, racks, v))).collect();
        let subnets = model
            .subnets
            .values()
            .map(|s| (s.id, subnet_json_with(model, vlans.get(&s.vlan_id).cloned().unwrap_or(Value::Null), s)))
            .collect();
        NetJson { model, vlans, subnets }
    }

    pub fn subnet(&self, id: i64) -> Value {
        self.subnets.get(&id).cloned().unwrap_or(Value::Null)
    }

    pub fn vlan(&self, id: i64) -> Value {
        self.vlans.get(&id).cloned().unwrap_or(Value::Null)
    }

    pub fn fabric(&self, f: &Fabric) -> Value {
        json!({
            "id": f.id,
            "name": f.name,
            "description": f.description,
            "class_type": f.class_type,
            "vlans": self.model.vlans_of_fabric(f.id).iter().map(|v| self.vlan(v.id)).collect::<Vec<_>>(),
            "resource_uri": resource_uri(&format!("fabrics/{}/", f.id)),
        })
    }

    pub fn space(&self, s: &Space) -> Value {
        let mut vlans: Vec<&Vlan> = self.model.vlans.values().filter(|v| v.space_id == Some(s.id)).collect();
        vlans.sort_by_key(|v| v.id);
        let subnets: Vec<Value> = self
            .model
            .subnets_sorted()
            .into_iter()
            .filter(|sub| vlans.iter().any(|v| v.id == sub.vlan_id))
            .map(|sub| self.subnet(sub.id))
            .collect();
        json!({
            "id": s.id,
            "name": s.name,
            "description": s.description,
            "vlans": vlans.iter().map(|v| self.vlan(v.id)).collect::<Vec<_>>(),
            "subnets": subnets,
            "resource_uri": resource_uri(&format!("spaces/{}/", s.id)),
        })
    }

    /// An interface link: `ip_address` and `subnet` are omitted, never null.
    pub fn link(&self, l: &IpAddress) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), l.id.into());
        m.insert("mode".into(), l.mode.clone().into());
        if let Some(ip) = &l.ip {
            m.insert("ip_address".into(), ip.clone().into());
        }
        if let Some(s) = l.subnet_id {
            m.insert("subnet".into(), self.subnet(s));
        }
        Value::Object(m)
    }

    pub fn range(&self, r: &IpRange, user: Option<Value>) -> Value {
        json!({
            "id": r.id,
            "type": r.range_type,
            "start_ip": r.start_ip,
            "end_ip": r.end_ip,
            "comment": r.comment,
            "user": user,
            "subnet": self.subnet(r.subnet_id),
            "resource_uri": resource_uri(&format!("ipranges/{}/", r.id)),
        })
    }

    pub fn route(&self, r: &StaticRoute) -> Value {
        json!({
            "id": r.id,
            "source": self.subnet(r.source_id),
            "destination": self.subnet(r.destination_id),
            "gateway_ip": r.gateway_ip,
            "metric": r.metric,
            "resource_uri": resource_uri(&format!("static-routes/{}/", r.id)),
        })
    }

    /// `ipaddresses/` entries (MAAS alloc types: 4 user reserved, 0 auto,
    /// 1 sticky/static, 5 DHCP, 6 discovered).
    pub fn address(&self, a: &IpAddress, owner: Option<&str>) -> Value {
        let (code, name) = alloc_type(&a.mode);
        json!({
            "alloc_type": code,
            "alloc_type_name": name,
            "created": a.created_at.format("%Y-%m-%dT%H:%M:%S%.3f").to_string(),
            "ip": a.ip,
            "owner": owner,
            "hostname": a.hostname,
            "mac_address": a.mac_address,
            "interface_set": [],
            "subnet": a.subnet_id.map(|s| self.subnet(s)),
            "resource_uri": resource_uri("ipaddresses/"),
        })
    }
}

pub fn alloc_type(mode: &str) -> (i32, &'static str) {
    match mode {
        "auto" => (0, "Automatic"),
        "static" | "link_up" => (1, "Static"),
        "reserved" => (4, "User reserved"),
        "dhcp" => (5, "DHCP"),
        _ => (6, "Observed"),
    }
}

pub(crate) fn span_ip(v: u128, v4: bool) -> String {
    engine::ipam::from_u128(v, v4).to_string()
}

pub(crate) fn capped(n: u128) -> u64 {
    n.min(u64::MAX as u128) as u64
}

pub(crate) fn span_json(s: &Span, v4: bool, with_purpose: bool) -> Value {
    let mut o = json!({
        "start": span_ip(s.start, v4),
        "end": span_ip(s.end, v4),
        "num_addresses": capped(s.size()),
    });
    if with_purpose {
        o["purpose"] = json!(s.purpose);
    }
    o
}

/// `subnets/{id}/?op=statistics`: address counts and usage of a subnet,
/// with its used and free ranges and suggestions when asked.
pub fn subnet_statistics_json(
    s: &crate::db::network::Subnet,
    used: &[crate::engine::ipam::Span],
    include_ranges: bool,
    include_suggestions: bool,
) -> Value {
    use crate::engine::ipam::Span;
    let netw = engine::network::cidr_of(s);
    let v4 = netw.addr().is_ipv4();
    let free = engine::ipam::free_spans(&netw, used);
    let total = engine::ipam::total_usable(&netw);
    let available: u128 = free.iter().map(Span::size).sum();
    let unavailable = total - available;
    let largest = free.iter().map(Span::size).max().unwrap_or(0);
    let usage = if total == 0 { 0.0 } else { unavailable as f64 / total as f64 };
    let (first, last) = engine::ipam::usable(&netw);
    let mut o = json!({
        "num_available": capped(available),
        "largest_available": capped(largest),
        "num_unavailable": capped(unavailable),
        "total_addresses": capped(total),
        "usage": usage,
        "usage_string": format!("{:.0}%", usage * 100.0),
        "available_string": format!("{:.0}%", (1.0 - usage) * 100.0),
        "first_address": span_ip(first, v4),
        "last_address": span_ip(last, v4),
        "ip_version": if v4 { 4 } else { 6 },
    });
    if include_ranges {
        let mut ranges: Vec<Value> = used.iter().map(|sp| span_json(sp, v4, true)).collect();
        ranges.extend(free.iter().map(|sp| {
            let mut j = span_json(sp, v4, false);
            j["purpose"] = json!(["unused"]);
            j
        }));
        o["ranges"] = Value::Array(ranges);
    }
    if include_suggestions {
        o["suggested_gateway"] =
            json!(if s.gateway_ip.is_none() { free.first().map(|f| span_ip(f.start, v4)) } else { None });
        o["suggested_dynamic_range"] = match free.iter().max_by_key(|f| f.size()) {
            Some(f) if f.size() >= 4 => {
                let half = f.start + f.size() / 2;
                json!({"start": span_ip(half, v4), "end": span_ip(f.end, v4), "num_addresses": capped(f.end - half + 1)})
            }
            _ => Value::Null,
        };
    }
    o
}

/// An address in `subnets/{id}/?op=ip_addresses`: `user` when asked for
/// (`with_username`), and the node holding it (`with_summary`) with the
/// interface it is on.
pub fn subnet_address_json(
    a: &crate::db::network::IpAddress,
    user: Option<Option<&str>>,
    node: Option<(&crate::db::nodes::Node, &str)>,
) -> Value {
    let (code, name) = alloc_type(&a.mode);
    let mut o = json!({
        "ip": a.ip,
        "alloc_type": code,
        "alloc_type_name": name,
        "created": a.created_at.format("%Y-%m-%dT%H:%M:%S%.3f").to_string(),
        "updated": a.created_at.format("%Y-%m-%dT%H:%M:%S%.3f").to_string(),
    });
    if let Some(user) = user {
        o["user"] = json!(user);
    }
    if let Some((n, via)) = node {
        o["node_summary"] = json!({
            "system_id": n.system_id,
            "node_type": n.node_type.code(),
            "hostname": n.hostname,
            "via": via,
        });
    }
    o
}
