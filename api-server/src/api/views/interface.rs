//! Node interfaces with their links, VLAN and addresses.

use crate::api::views::resource_uri;
use crate::api::views::shared::Shared;
use crate::db::interfaces::Interface;
use crate::db::related::Related;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

/// An interface as rendered inside a node.
#[derive(Serialize)]
pub(crate) struct InterfaceView<'a> {
    system_id: &'a str,
    id: i64,
    name: &'a str,
    #[serde(rename = "type")]
    iftype: &'a str,
    vlan: Value,
    mac_address: &'a Option<String>,
    parents: Vec<&'a str>,
    children: Vec<&'a str>,
    tags: Box<RawValue>,
    enabled: bool,
    links: Vec<Value>,
    params: Value,
    discovered: Option<()>,
    effective_mtu: i64,
    vendor: &'a Option<String>,
    product: &'a Option<String>,
    firmware_version: &'a Option<String>,
    link_connected: bool,
    interface_speed: i64,
    link_speed: i64,
    numa_node: i32,
    sriov_max_vf: i32,
    resource_uri: String,
}

pub(crate) fn raw(text: &str, fallback: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_string())
        .or_else(|_| RawValue::from_string(fallback.to_string()))
        .unwrap_or_else(|_| null())
}

/// JSON `null` as a raw value.
pub(crate) fn null() -> Box<RawValue> {
    // A literal `null` is valid JSON.
    #[allow(clippy::expect_used)]
    RawValue::from_string("null".to_string()).expect("null is JSON")
}

impl<'a> InterfaceView<'a> {
    /// `siblings` are the node's interfaces (parents and children are
    /// rendered by name).
    pub(crate) fn new(
        system_id: &'a str,
        i: &'a Interface,
        siblings: &'a [Interface],
        sh: &Shared<'a>,
    ) -> InterfaceView<'a> {
        let rel = sh.rel;
        let params: Value = serde_json::from_str(&i.params).unwrap_or(Value::Null);
        let params = match params {
            Value::Object(m) if !m.is_empty() => Value::Object(m),
            _ => json!(""),
        };
        let names = |ids: Option<&Vec<i64>>| -> Vec<&'a str> {
            let mut v: Vec<&'a str> = ids
                .map(|ids| {
                    ids.iter().filter_map(|id| siblings.iter().find(|s| s.id == *id)).map(|s| s.name.as_str()).collect()
                })
                .unwrap_or_default();
            v.sort_unstable();
            v
        };
        let vlan_mtu = i.vlan_id.and_then(|v| rel.net.vlans.get(&v)).map(|v| v.mtu as i64);
        InterfaceView {
            system_id,
            id: i.id,
            name: &i.name,
            iftype: &i.iftype,
            vlan: i.vlan_id.map(|v| sh.net.vlan(v)).unwrap_or(Value::Null),
            mac_address: &i.mac_address,
            parents: names(rel.iface_parents.get(&i.id)),
            children: names(rel.iface_children.get(&i.id)),
            tags: raw(&i.tags, "[]"),
            enabled: i.enabled,
            links: rel.links.get(&i.id).map(|ls| ls.iter().map(|l| sh.net.link(l)).collect()).unwrap_or_default(),
            effective_mtu: params.get("mtu").and_then(Value::as_i64).or(vlan_mtu).unwrap_or(1500),
            params,
            discovered: None,
            vendor: &i.vendor,
            product: &i.product,
            firmware_version: &i.firmware_version,
            link_connected: i.link_connected,
            interface_speed: i.interface_speed,
            link_speed: i.link_speed,
            numa_node: 0,
            sriov_max_vf: 0,
            resource_uri: resource_uri(&format!("nodes/{system_id}/interfaces/{}/", i.id)),
        }
    }
}

/// One interface of a node (the `interfaces/` endpoints); `rel` holds the
/// node's interfaces, links and the network model.
pub fn interface_json(system_id: &str, i: &Interface, rel: &Related) -> Value {
    let sh = Shared::new(rel);
    let siblings = rel.interfaces.get(&i.node_id).map(Vec::as_slice).unwrap_or(&[]);
    crate::api::views::to_value(InterfaceView::new(system_id, i, siblings, &sh))
}

/// Addresses assigned to a node's interfaces, in link order.
pub(crate) fn node_ips<'a>(ifaces: &[Interface], rel: &'a Related) -> Vec<&'a str> {
    ifaces.iter().flat_map(|i| rel.links.get(&i.id).into_iter().flatten()).filter_map(|l| l.ip.as_deref()).collect()
}

pub(crate) fn gateway(rel: &Related, link: Option<i64>, ifaces: &[Interface]) -> Gateway {
    let found =
        link.and_then(|id| ifaces.iter().flat_map(|i| rel.links.get(&i.id).into_iter().flatten()).find(|l| l.id == id));
    Gateway {
        gateway_ip: found
            .and_then(|l| l.subnet_id)
            .and_then(|s| rel.net.subnets.get(&s))
            .and_then(|s| s.gateway_ip.clone()),
        link_id: found.map(|l| l.id),
    }
}

#[derive(Serialize)]
pub(crate) struct ParentStub {
    pub(crate) system_id: String,
    pub(crate) resource_uri: String,
    pub(crate) __incomplete__: bool,
}

#[derive(Serialize)]
pub(crate) struct Gateway {
    pub(crate) gateway_ip: Option<String>,
    pub(crate) link_id: Option<i64>,
}

#[derive(Serialize)]
pub(crate) struct Gateways {
    pub(crate) ipv4: Gateway,
    pub(crate) ipv6: Gateway,
}
