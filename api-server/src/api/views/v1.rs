//! API 1.0 node objects (what Chef integrations read), derived from the 2.0 machine object.

use crate::engine::lifecycle::Status;
use crate::http;
use serde_json::{json, Value};

/// API 1.0 reports every "in use" status as 6 (DEPLOYED) and the real one
/// in `substatus`.
pub(crate) fn folded(status: i64) -> i64 {
    const IN_USE: &[Status] = &[
        Status::Allocated,
        Status::Deploying,
        Status::Deployed,
        Status::FailedDeployment,
        Status::Releasing,
        Status::DiskErasing,
        Status::FailedReleasing,
        Status::FailedDiskErasing,
    ];
    if IN_USE.iter().any(|s| s.code() as i64 == status) {
        Status::Deployed.code() as i64
    } else {
        status
    }
}

/// The 1.0 node object, derived from the 2.0 machine object.
pub fn node_v1(m: &Value) -> Value {
    let status = m["status"].as_i64().unwrap_or(0);
    let macs: Vec<Value> = m["interface_set"]
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["mac_address"].as_str()).map(|mac| json!({"mac_address": mac})).collect())
        .unwrap_or_default();
    let pxe = m["boot_interface"]["mac_address"].as_str().map(|mac| json!({"mac_address": mac}));
    json!({
        "system_id": m["system_id"],
        "hostname": m["fqdn"],
        "owner": m["owner"],
        "macaddress_set": macs,
        "pxe_mac": pxe,
        "architecture": m["architecture"],
        "min_hwe_kernel": m["min_hwe_kernel"],
        "hwe_kernel": m["hwe_kernel"],
        "cpu_count": m["cpu_count"],
        "memory": m["memory"],
        "swap_size": m["swap_size"],
        "storage": m["storage"],
        "status": folded(status),
        "substatus": status,
        "osystem": m["osystem"],
        "distro_series": m["distro_series"],
        "boot_type": "fastpath",
        "netboot": m["netboot"],
        "power_type": m["power_type"],
        "power_state": m["power_state"],
        "tag_names": m["tag_names"],
        "ip_addresses": m["ip_addresses"],
        "routers": null,
        "zone": m["zone"],
        "disable_ipv4": false,
        "boot_disk": m["boot_disk"],
        "blockdevice_set": m["blockdevice_set"],
        "physicalblockdevice_set": m["physicalblockdevice_set"],
        "virtualblockdevice_set": m["virtualblockdevice_set"],
        "resource_uri": format!("{}nodes/{}/", http::router::V1_PREFIX, m["system_id"].as_str().unwrap_or("")),
    })
}
