//! JSON shapes of MAAS objects (`maas-api.md` §10), rendered from rows.
//!
//! Nested objects carry their own full field list (a zone inside a machine is
//! the zone of `zones/{name}/`); optional keys are omitted rather than null
//! where gomaasapi rejects null (`maas-api.md` §13).

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::resource_uri;
use crate::db::events::Event;
use crate::db::nodes::{Domain, Interface, Node, Pool, Related, Tag, Zone};
use crate::engine::lifecycle::{NodeType, Status};

pub fn zone_json(z: &Zone) -> Value {
    json!({
        "id": z.id,
        "name": z.name,
        "description": z.description,
        "resource_uri": resource_uri(&format!("zones/{}/", enc(&z.name))),
    })
}

pub fn pool_json(p: &Pool) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "resource_uri": resource_uri(&format!("resourcepool/{}/", p.id)),
    })
}

pub fn domain_json(d: &Domain, record_count: i64) -> Value {
    json!({
        "id": d.id,
        "name": d.name,
        "ttl": d.ttl,
        "authoritative": d.authoritative,
        "resource_record_count": record_count,
        "is_default": d.is_default,
        "resource_uri": resource_uri(&format!("domains/{}/", d.id)),
    })
}

pub fn tag_json(t: &Tag) -> Value {
    json!({
        "name": t.name,
        "definition": t.definition,
        "comment": t.comment,
        "kernel_opts": t.kernel_opts,
        "resource_uri": resource_uri(&format!("tags/{}/", enc(&t.name))),
    })
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The collection a node's `resource_uri` lives under.
pub fn node_collection(node_type: i32) -> &'static str {
    match NodeType::from_code(node_type) {
        NodeType::Machine => "machines",
        NodeType::Device => "devices",
        NodeType::RackController | NodeType::RegionAndRackController => "rackcontrollers",
        NodeType::RegionController => "regioncontrollers",
    }
}

/// Shared, precomputed pieces of a machine list: each zone, pool and domain
/// rendered once, not once per machine.
pub struct Shared<'a> {
    rel: &'a Related,
    net: super::netjson::NetJson<'a>,
    zones: std::collections::HashMap<i64, Value>,
    pools: std::collections::HashMap<i64, Value>,
    domains: std::collections::HashMap<i64, Value>,
}

impl<'a> Shared<'a> {
    pub fn new(rel: &'a Related) -> Shared<'a> {
        Shared {
            rel,
            net: super::netjson::NetJson::new(&rel.net, &rel.racks),
            zones: rel.zones.iter().map(|(id, z)| (*id, zone_json(z))).collect(),
            pools: rel.pools.iter().map(|(id, p)| (*id, pool_json(p))).collect(),
            domains: rel.domains.iter().map(|(id, d)| (*id, domain_json(d, 0))).collect(),
        }
    }
}

/// An interface as rendered inside a node.
#[derive(Serialize)]
struct InterfaceView<'a> {
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

fn raw(text: &str, fallback: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_string())
        .or_else(|_| RawValue::from_string(fallback.to_string()))
        .expect("fallback is valid JSON")
}

impl<'a> InterfaceView<'a> {
    /// `siblings` are the node's interfaces (parents and children are
    /// rendered by name).
    fn new(system_id: &'a str, i: &'a Interface, siblings: &'a [Interface], sh: &Shared<'a>) -> InterfaceView<'a> {
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
    serde_json::to_value(InterfaceView::new(system_id, i, siblings, &sh)).expect("interface serialises")
}

/// Addresses assigned to a node's interfaces, in link order.
fn node_ips<'a>(ifaces: &[Interface], rel: &'a Related) -> Vec<&'a str> {
    ifaces.iter().flat_map(|i| rel.links.get(&i.id).into_iter().flatten()).filter_map(|l| l.ip.as_deref()).collect()
}

fn gateway(rel: &Related, link: Option<i64>, ifaces: &[Interface]) -> Gateway {
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
struct ParentStub {
    system_id: String,
    resource_uri: String,
    __incomplete__: bool,
}

#[derive(Serialize)]
struct Gateway {
    gateway_ip: Option<String>,
    link_id: Option<i64>,
}

#[derive(Serialize)]
struct Gateways {
    ipv4: Gateway,
    ipv6: Gateway,
}

#[derive(Serialize)]
struct Numa {
    index: i32,
    cores: Vec<i32>,
    memory: i64,
    hugepages_set: [u8; 0],
}

/// A machine (or any node) in MAAS's full shape (`maas-api.md` §10.1). One
/// typed view serves both single objects and lists, so lists serialise
/// straight to bytes without building a JSON tree per machine.
#[derive(Serialize)]
pub struct MachineView<'a> {
    system_id: &'a str,
    hostname: &'a str,
    description: &'a str,
    hardware_uuid: &'a Option<String>,
    domain: Option<&'a Value>,
    fqdn: String,
    owner: Option<&'a String>,
    owner_data: Box<RawValue>,
    workload_annotations: Box<RawValue>,
    locked: bool,
    cache_sets: Vec<super::storage::StubView<'a>>,
    bcaches: Vec<super::storage::StubView<'a>>,
    raids: Vec<super::storage::StubView<'a>>,
    volume_groups: Vec<super::storage::StubView<'a>>,
    bios_boot_method: &'a Option<String>,
    boot_interface: Option<InterfaceView<'a>>,
    architecture: &'a Option<String>,
    min_hwe_kernel: &'a Option<String>,
    hwe_kernel: &'a Option<String>,
    cpu_count: i32,
    cpu_speed: i32,
    memory: i64,
    swap_size: Option<i64>,
    storage: f64,
    status: i32,
    status_name: &'static str,
    status_message: &'a Option<String>,
    status_action: &'a str,
    osystem: &'a str,
    distro_series: &'a str,
    ephemeral_deploy: bool,
    error_description: &'a str,
    netboot: bool,
    power_type: &'a str,
    power_state: &'a str,
    tag_names: &'a [String],
    address_ttl: Option<i32>,
    ip_addresses: Vec<&'a str>,
    interface_set: Vec<InterfaceView<'a>>,
    zone: Option<&'a Value>,
    pool: Option<&'a Value>,
    disable_ipv4: bool,
    boot_disk: Option<super::storage::BlockDeviceView<'a>>,
    blockdevice_set: Vec<super::storage::BlockDeviceView<'a>>,
    physicalblockdevice_set: Vec<super::storage::BlockDeviceView<'a>>,
    virtualblockdevice_set: Vec<super::storage::BlockDeviceView<'a>>,
    special_filesystems: [u8; 0],
    parent: Option<ParentStub>,
    default_gateways: Gateways,
    node_type: i32,
    node_type_name: &'static str,
    current_commissioning_result_id: Option<i64>,
    current_testing_result_id: Option<i64>,
    current_installation_result_id: Option<i64>,
    commissioning_status: i32,
    commissioning_status_name: &'static str,
    testing_status: i32,
    testing_status_name: &'static str,
    cpu_test_status: i32,
    cpu_test_status_name: &'static str,
    memory_test_status: i32,
    memory_test_status_name: &'static str,
    network_test_status: i32,
    network_test_status_name: &'static str,
    storage_test_status: i32,
    storage_test_status_name: &'static str,
    other_test_status: i32,
    other_test_status_name: &'static str,
    interface_test_status: i32,
    interface_test_status_name: &'static str,
    hardware_info: Box<RawValue>,
    numanode_set: [Numa; 1],
    last_sync: Option<()>,
    next_sync: Option<()>,
    sync_interval: Option<()>,
    enable_hw_sync: bool,
    enable_kernel_crash_dump: bool,
    pod: Option<()>,
    virtualmachine_id: Option<()>,
    resource_uri: String,
}

impl<'a> MachineView<'a> {
    pub fn new(n: &'a Node, sh: &'a Shared<'a>) -> MachineView<'a> {
        let rel = sh.rel;
        let status = Status::from_code(n.status).unwrap_or(Status::New);
        let ntype = NodeType::from_code(n.node_type);
        let domain_name = rel.domains.get(&n.domain_id).map(|d| d.name.as_str()).unwrap_or("maas");
        let ifaces = rel.interfaces.get(&n.id).map(Vec::as_slice).unwrap_or(&[]);
        let boot = ifaces.iter().find(|i| i.is_boot).or_else(|| ifaces.first());
        // Owner data is stored as a JSON object of strings; anything else reads as {}.
        let owner_data = raw(&n.owner_data, "{}");
        const UNKNOWN: (i32, &str) = (-1, "Unknown");
        let disks = super::storage::MachineStorageView::new(n, rel.storage.get(&n.id));
        MachineView {
            system_id: &n.system_id,
            hostname: &n.hostname,
            description: &n.description,
            hardware_uuid: &n.hardware_uuid,
            domain: sh.domains.get(&n.domain_id),
            fqdn: format!("{}.{domain_name}", n.hostname),
            owner: n.owner_id.and_then(|id| rel.owners.get(&id)),
            workload_annotations: owner_data.clone(),
            owner_data,
            locked: n.locked,
            cache_sets: disks.cache_sets,
            bcaches: disks.bcaches,
            raids: disks.raids,
            volume_groups: disks.volume_groups,
            bios_boot_method: &n.bios_boot_method,
            boot_interface: boot.map(|i| InterfaceView::new(&n.system_id, i, ifaces, sh)),
            architecture: &n.architecture,
            min_hwe_kernel: &n.min_hwe_kernel,
            hwe_kernel: &n.hwe_kernel,
            cpu_count: n.cpu_count,
            cpu_speed: n.cpu_speed,
            memory: n.memory,
            swap_size: n.swap_size,
            storage: disks.storage,
            status: status.code(),
            status_name: status.label(),
            status_message: &n.status_message,
            status_action: n.status_action.as_deref().unwrap_or(""),
            osystem: &n.osystem,
            distro_series: &n.distro_series,
            ephemeral_deploy: n.ephemeral_deploy,
            error_description: &n.error_description,
            netboot: n.netboot,
            power_type: &n.power_type,
            power_state: &n.power_state,
            tag_names: rel.tags.get(&n.id).map(Vec::as_slice).unwrap_or(&[]),
            address_ttl: None,
            ip_addresses: node_ips(ifaces, rel),
            interface_set: ifaces.iter().map(|i| InterfaceView::new(&n.system_id, i, ifaces, sh)).collect(),
            zone: sh.zones.get(&n.zone_id),
            pool: n.pool_id.and_then(|p| sh.pools.get(&p)),
            disable_ipv4: false,
            boot_disk: disks.boot_disk,
            blockdevice_set: disks.blockdevice_set,
            physicalblockdevice_set: disks.physicalblockdevice_set,
            virtualblockdevice_set: disks.virtualblockdevice_set,
            special_filesystems: [],
            parent: n.parent_id.and_then(|p| rel.parents.get(&p)).map(|sid| ParentStub {
                system_id: sid.clone(),
                resource_uri: resource_uri(&format!("nodes/{sid}/")),
                __incomplete__: true,
            }),
            default_gateways: Gateways {
                ipv4: gateway(rel, n.gateway_link_ipv4_id, ifaces),
                ipv6: gateway(rel, n.gateway_link_ipv6_id, ifaces),
            },
            node_type: ntype as i32,
            node_type_name: ntype.label(),
            current_commissioning_result_id: None,
            current_testing_result_id: None,
            current_installation_result_id: None,
            commissioning_status: UNKNOWN.0,
            commissioning_status_name: UNKNOWN.1,
            testing_status: UNKNOWN.0,
            testing_status_name: UNKNOWN.1,
            cpu_test_status: UNKNOWN.0,
            cpu_test_status_name: UNKNOWN.1,
            memory_test_status: UNKNOWN.0,
            memory_test_status_name: UNKNOWN.1,
            network_test_status: UNKNOWN.0,
            network_test_status_name: UNKNOWN.1,
            storage_test_status: UNKNOWN.0,
            storage_test_status_name: UNKNOWN.1,
            other_test_status: UNKNOWN.0,
            other_test_status_name: UNKNOWN.1,
            interface_test_status: UNKNOWN.0,
            interface_test_status_name: UNKNOWN.1,
            hardware_info: raw(&n.hardware_info, "{}"),
            numanode_set: [Numa {
                index: 0,
                cores: (0..n.cpu_count.max(0)).collect(),
                memory: n.memory,
                hugepages_set: [],
            }],
            last_sync: None,
            next_sync: None,
            sync_interval: None,
            enable_hw_sync: n.enable_hw_sync,
            enable_kernel_crash_dump: n.enable_kernel_crash_dump,
            pod: None,
            virtualmachine_id: None,
            resource_uri: resource_uri(&format!("{}/{}/", node_collection(n.node_type), n.system_id)),
        }
    }
}

/// One machine as a JSON value (single-object responses, which callers may
/// extend, e.g. with `constraints_by_type`).
pub fn machine_json(n: &Node, rel: &Related) -> Value {
    let sh = Shared::new(rel);
    serde_json::to_value(MachineView::new(n, &sh)).expect("machine serialises")
}

/// A list of machines serialised straight to JSON bytes.
pub fn machines_bytes<'a>(nodes: impl Iterator<Item = &'a Node>, rel: &'a Related) -> Vec<u8> {
    let sh = Shared::new(rel);
    let mut out = Vec::with_capacity(4096);
    out.push(b'[');
    for (i, n) in nodes.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, &MachineView::new(n, &sh)).expect("machine serialises");
    }
    out.push(b']');
    out
}

/// A device (`devices/`): the node fields that apply to hosts Ironpool does
/// not manage, with `parent` and `owner` as plain strings.
pub fn device_json(n: &Node, rel: &Related) -> Value {
    let full = machine_json(n, rel);
    let keep = [
        "system_id",
        "hostname",
        "description",
        "domain",
        "fqdn",
        "owner",
        "owner_data",
        "workload_annotations",
        "tag_names",
        "address_ttl",
        "ip_addresses",
        "interface_set",
        "zone",
        "node_type",
        "node_type_name",
        "resource_uri",
    ];
    let mut m: serde_json::Map<String, Value> = full
        .as_object()
        .expect("object")
        .iter()
        .filter(|(k, _)| keep.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    m.insert("parent".into(), json!(n.parent_id.and_then(|p| rel.parents.get(&p))));
    Value::Object(m)
}

/// The reduced view anonymous enlistment gets back.
pub fn anonymous_machine_json(n: &Node, rel: &Related) -> Value {
    let full = machine_json(n, rel);
    let keep = [
        "system_id",
        "hostname",
        "domain",
        "fqdn",
        "architecture",
        "status",
        "power_type",
        "power_state",
        "zone",
        "status_action",
        "status_message",
        "status_name",
        "node_type",
        "resource_uri",
    ];
    Value::Object(
        full.as_object()
            .expect("object")
            .iter()
            .filter(|(k, _)| keep.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

/// Events use MAAS's own date format: `Tue, 07 May. 2024 20:11:08`.
pub fn event_json(e: &Event) -> Value {
    let level = match e.level {
        0 => "AUDIT",
        l if l <= 10 => "DEBUG",
        l if l <= 20 => "INFO",
        l if l <= 30 => "WARNING",
        l if l <= 40 => "ERROR",
        _ => "CRITICAL",
    };
    json!({
        "username": e.username,
        "node": e.system_id,
        "hostname": e.hostname,
        "id": e.id,
        "level": level,
        "created": e.created_at.format("%a, %d %b. %Y %H:%M:%S").to_string(),
        "type": e.type_name,
        "description": e.description,
    })
}
