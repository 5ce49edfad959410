//! Machines and devices, as MAAS renders them (lists serialised straight to bytes).

use crate::api;
use crate::api::views::interface::gateway;
use crate::api::views::interface::node_ips;
use crate::api::views::interface::raw;
use crate::api::views::interface::Gateways;
use crate::api::views::interface::InterfaceView;
use crate::api::views::interface::ParentStub;
use crate::api::views::resource_uri;
use crate::api::views::shared::Shared;
use crate::db::nodes::Node;
use crate::db::related::Related;
use crate::engine::lifecycle::NodeType;
use crate::engine::results::{hardware_type, status_name, summarise};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

/// The collection a node's `resource_uri` lives under.
pub fn node_collection(node_type: NodeType) -> &'static str {
    match node_type {
        NodeType::Machine => "machines",
        NodeType::Device => "devices",
        NodeType::RackController | NodeType::RegionAndRackController => "rackcontrollers",
        NodeType::RegionController => "regioncontrollers",
    }
}

#[derive(Serialize)]
struct Numa {
    index: i32,
    cores: Vec<i32>,
    memory: i64,
    hugepages_set: [u8; 0],
}

/// `numanode_set`: the nodes commissioning recorded (`nodes.numa`, already
/// JSON), or the single node MAAS assumes before that.
#[derive(Serialize)]
#[serde(untagged)]
enum NumaSet {
    Recorded(Box<RawValue>),
    One([Numa; 1]),
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
    cache_sets: Vec<api::views::storage::StubView<'a>>,
    bcaches: Vec<api::views::storage::StubView<'a>>,
    raids: Vec<api::views::storage::StubView<'a>>,
    volume_groups: Vec<api::views::storage::StubView<'a>>,
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
    boot_disk: Option<api::views::storage::BlockDeviceView<'a>>,
    blockdevice_set: Vec<api::views::storage::BlockDeviceView<'a>>,
    physicalblockdevice_set: Vec<api::views::storage::BlockDeviceView<'a>>,
    virtualblockdevice_set: Vec<api::views::storage::BlockDeviceView<'a>>,
    special_filesystems: Vec<SpecialFilesystemView<'a>>,
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
    numanode_set: NumaSet,
    last_sync: Option<()>,
    next_sync: Option<()>,
    sync_interval: Option<()>,
    enable_hw_sync: bool,
    enable_kernel_crash_dump: bool,
    pod: Option<Value>,
    virtualmachine_id: Option<()>,
    resource_uri: String,
}

/// One of MAAS's `special_filesystems` entries (tmpfs, ramfs).
#[derive(Serialize)]
pub struct SpecialFilesystemView<'a> {
    fstype: &'a str,
    label: Option<&'a str>,
    uuid: &'a str,
    mount_point: &'a str,
    mount_options: &'a str,
}

impl<'a> SpecialFilesystemView<'a> {
    fn of(f: &'a crate::db::special_filesystems::SpecialFilesystem) -> Self {
        SpecialFilesystemView {
            fstype: &f.fstype,
            label: None,
            uuid: &f.uuid,
            mount_point: &f.mount_point,
            mount_options: &f.mount_options,
        }
    }
}

impl<'a> MachineView<'a> {
    pub fn new(n: &'a Node, sh: &'a Shared<'a>) -> MachineView<'a> {
        let rel = sh.rel;
        let status = n.status;
        let ntype = n.node_type;
        let domain_name = rel.domains.get(&n.domain_id).map(|d| d.name.as_str()).unwrap_or("maas");
        let ifaces = rel.interfaces.get(&n.id).map(Vec::as_slice).unwrap_or(&[]);
        let boot = ifaces.iter().find(|i| i.is_boot).or_else(|| ifaces.first());
        // Owner data is stored as a JSON object of strings; anything else reads as {}.
        let owner_data = raw(&n.owner_data, "{}");
        let results = summarise(rel.script_sets.get(&n.id).map(Vec::as_slice).unwrap_or(&[]));
        let hw = |t: i32| results.test_status_by_hw.get(t as usize).copied().unwrap_or(-1);
        let disks = api::views::storage::MachineStorageView::new(n, rel.storage.get(&n.id));
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
            special_filesystems: rel
                .special_filesystems
                .get(&n.id)
                .map(|l| l.iter().map(SpecialFilesystemView::of).collect())
                .unwrap_or_default(),
            parent: n.parent_id.and_then(|p| rel.parents.get(&p)).map(|sid| ParentStub {
                system_id: sid.clone(),
                resource_uri: resource_uri(&format!("nodes/{sid}/")),
                __incomplete__: true,
            }),
            default_gateways: Gateways {
                ipv4: gateway(rel, n.gateway_link_ipv4_id, ifaces),
                ipv6: gateway(rel, n.gateway_link_ipv6_id, ifaces),
            },
            node_type: ntype.code(),
            node_type_name: ntype.label(),
            current_commissioning_result_id: results.current_commissioning,
            current_testing_result_id: results.current_testing,
            current_installation_result_id: results.current_installation,
            commissioning_status: results.commissioning_status,
            commissioning_status_name: status_name(results.commissioning_status),
            testing_status: results.testing_status,
            testing_status_name: status_name(results.testing_status),
            cpu_test_status: hw(hardware_type::CPU),
            cpu_test_status_name: status_name(hw(hardware_type::CPU)),
            memory_test_status: hw(hardware_type::MEMORY),
            memory_test_status_name: status_name(hw(hardware_type::MEMORY)),
            network_test_status: hw(hardware_type::NETWORK),
            network_test_status_name: status_name(hw(hardware_type::NETWORK)),
            storage_test_status: hw(hardware_type::STORAGE),
            storage_test_status_name: status_name(hw(hardware_type::STORAGE)),
            other_test_status: hw(hardware_type::NODE),
            other_test_status_name: status_name(hw(hardware_type::NODE)),
            interface_test_status: hw(hardware_type::NETWORK),
            interface_test_status_name: status_name(hw(hardware_type::NETWORK)),
            hardware_info: raw(&n.hardware_info, "{}"),
            numanode_set: if n.numa.trim().is_empty() || n.numa.trim() == "[]" {
                // Until commissioning reports NUMA: one node with every CPU
                // and all memory, as MAAS creates node 0.
                NumaSet::One([Numa {
                    index: 0,
                    cores: (0..n.cpu_count.max(0)).collect(),
                    memory: n.memory,
                    hugepages_set: [],
                }])
            } else {
                NumaSet::Recorded(raw(&n.numa, "[]"))
            },
            last_sync: None,
            next_sync: None,
            sync_interval: None,
            enable_hw_sync: n.enable_hw_sync,
            enable_kernel_crash_dump: n.enable_kernel_crash_dump,
            pod: rel.pods.get(&n.id).map(|(id, name)| api::views::vm_host::pod_ref(*id, name)),
            virtualmachine_id: None,
            resource_uri: resource_uri(&format!("{}/{}/", node_collection(n.node_type), n.system_id)),
        }
    }
}

/// One machine as a JSON value (single-object responses, which callers may
/// extend, e.g. with `constraints_by_type`).
pub fn machine_json(n: &Node, rel: &Related) -> Value {
    let sh = Shared::new(rel);
    crate::api::views::to_value(MachineView::new(n, &sh))
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
        crate::api::views::write_json(&mut out, &MachineView::new(n, &sh));
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
    let empty = serde_json::Map::new();
    let mut m: serde_json::Map<String, Value> = full
        .as_object()
        .unwrap_or(&empty)
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
    let empty = serde_json::Map::new();
    Value::Object(
        full.as_object()
            .unwrap_or(&empty)
            .iter()
            .filter(|(k, _)| keep.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

/// `query_power_state`'s answer.
#[derive(Serialize)]
pub struct PowerStateView<'a> {
    pub state: &'a str,
}
