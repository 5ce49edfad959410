//! JSON shapes of MAAS objects (`maas-api.md` §10), rendered from rows.
//!
//! Nested objects carry their own full field list (a zone inside a machine is
//! the zone of `zones/{name}/`); optional keys are omitted rather than null
//! where gomaasapi rejects null (`maas-api.md` §13).

use serde_json::{json, Map, Value};

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

pub fn interface_json(system_id: &str, i: &Interface) -> Value {
    let tags: Vec<String> = serde_json::from_str(&i.tags).unwrap_or_default();
    let params: Value = serde_json::from_str(&i.params).unwrap_or(Value::Null);
    let params = match params {
        Value::Object(m) if !m.is_empty() => Value::Object(m),
        _ => json!(""),
    };
    let mtu = params.get("mtu").and_then(Value::as_i64).unwrap_or(1500);
    json!({
        "system_id": system_id,
        "id": i.id,
        "name": i.name,
        "type": i.iftype,
        "vlan": null,
        "mac_address": i.mac_address,
        "parents": [],
        "children": [],
        "tags": tags,
        "enabled": i.enabled,
        "links": [],
        "params": params,
        "discovered": null,
        "effective_mtu": mtu,
        "vendor": i.vendor,
        "product": i.product,
        "firmware_version": i.firmware_version,
        "link_connected": i.link_connected,
        "interface_speed": i.interface_speed,
        "link_speed": i.link_speed,
        "numa_node": 0,
        "sriov_max_vf": 0,
        "resource_uri": resource_uri(&format!("nodes/{system_id}/interfaces/{}/", i.id)),
    })
}

fn string_map(json_text: &str) -> Value {
    match serde_json::from_str::<Value>(json_text) {
        Ok(Value::Object(m)) => Value::Object(m.into_iter().filter(|(_, v)| v.is_string()).collect()),
        _ => json!({}),
    }
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

const TEST_STATUS_KEYS: &[&str] = &[
    "commissioning_status",
    "testing_status",
    "cpu_test_status",
    "memory_test_status",
    "network_test_status",
    "storage_test_status",
    "other_test_status",
    "interface_test_status",
];

/// A machine (or any node) in MAAS's full shape.
pub fn machine_json(n: &Node, rel: &Related) -> Value {
    let status = Status::from_code(n.status).unwrap_or(Status::New);
    let ntype = NodeType::from_code(n.node_type);
    let domain = rel.domains.get(&n.domain_id);
    let domain_name = domain.map(|d| d.name.as_str()).unwrap_or("maas");
    let ifaces = rel.interfaces.get(&n.id).map(Vec::as_slice).unwrap_or(&[]);
    let interface_set: Vec<Value> = ifaces.iter().map(|i| interface_json(&n.system_id, i)).collect();
    let boot_interface =
        ifaces.iter().find(|i| i.is_boot).or_else(|| ifaces.first()).map(|i| interface_json(&n.system_id, i));
    let owner_data = string_map(&n.owner_data);
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    put("system_id", json!(n.system_id));
    put("hostname", json!(n.hostname));
    put("description", json!(n.description));
    put("hardware_uuid", json!(n.hardware_uuid));
    put("domain", domain.map(|d| domain_json(d, 0)).unwrap_or(Value::Null));
    put("fqdn", json!(format!("{}.{domain_name}", n.hostname)));
    put("owner", json!(n.owner_id.and_then(|id| rel.owners.get(&id))));
    put("owner_data", owner_data.clone());
    put("workload_annotations", owner_data);
    put("locked", json!(n.locked));
    put("cache_sets", json!([]));
    put("bcaches", json!([]));
    put("raids", json!([]));
    put("volume_groups", json!([]));
    put("bios_boot_method", json!(n.bios_boot_method));
    put("boot_interface", boot_interface.unwrap_or(Value::Null));
    put("architecture", json!(n.architecture));
    put("min_hwe_kernel", json!(n.min_hwe_kernel));
    put("hwe_kernel", json!(n.hwe_kernel));
    put("cpu_count", json!(n.cpu_count));
    put("cpu_speed", json!(n.cpu_speed));
    put("memory", json!(n.memory));
    put("swap_size", json!(n.swap_size));
    put("storage", json!(0.0));
    put("status", json!(status.code()));
    put("status_name", json!(status.label()));
    put("status_message", json!(n.status_message));
    put("status_action", json!(n.status_action.clone().unwrap_or_default()));
    put("osystem", json!(n.osystem));
    put("distro_series", json!(n.distro_series));
    put("ephemeral_deploy", json!(n.ephemeral_deploy));
    put("error_description", json!(n.error_description));
    put("netboot", json!(n.netboot));
    put("power_type", json!(n.power_type));
    put("power_state", json!(n.power_state));
    put("tag_names", json!(rel.tags.get(&n.id).cloned().unwrap_or_default()));
    put("address_ttl", Value::Null);
    put("ip_addresses", json!([]));
    put("interface_set", json!(interface_set));
    put("zone", rel.zones.get(&n.zone_id).map(zone_json).unwrap_or(Value::Null));
    put("pool", n.pool_id.and_then(|p| rel.pools.get(&p)).map(pool_json).unwrap_or(Value::Null));
    put("disable_ipv4", json!(false));
    put("boot_disk", Value::Null);
    put("blockdevice_set", json!([]));
    put("physicalblockdevice_set", json!([]));
    put("virtualblockdevice_set", json!([]));
    put("special_filesystems", json!([]));
    put(
        "parent",
        n.parent_id
            .and_then(|p| rel.parents.get(&p))
            .map(|sid| json!({"system_id": sid, "resource_uri": resource_uri(&format!("nodes/{sid}/")), "__incomplete__": true}))
            .unwrap_or(Value::Null),
    );
    put(
        "default_gateways",
        json!({"ipv4": {"gateway_ip": null, "link_id": null}, "ipv6": {"gateway_ip": null, "link_id": null}}),
    );
    put("node_type", json!(ntype as i32));
    put("node_type_name", json!(ntype.label()));
    put("current_commissioning_result_id", Value::Null);
    put("current_testing_result_id", Value::Null);
    put("current_installation_result_id", Value::Null);
    for k in TEST_STATUS_KEYS {
        put(k, json!(-1));
        put(&format!("{k}_name"), json!("Unknown"));
    }
    put("hardware_info", string_map(&n.hardware_info));
    put(
        "numanode_set",
        json!([{"index": 0, "cores": (0..n.cpu_count.max(0)).collect::<Vec<_>>(), "memory": n.memory, "hugepages_set": []}]),
    );
    put("last_sync", Value::Null);
    put("next_sync", Value::Null);
    put("sync_interval", Value::Null);
    put("enable_hw_sync", json!(n.enable_hw_sync));
    put("enable_kernel_crash_dump", json!(n.enable_kernel_crash_dump));
    put("pod", Value::Null);
    put("virtualmachine_id", Value::Null);
    put("resource_uri", json!(resource_uri(&format!("{}/{}/", node_collection(n.node_type), n.system_id))));
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
