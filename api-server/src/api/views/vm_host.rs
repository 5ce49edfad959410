//! VM hosts (MAAS's `DISPLAYED_POD_FIELDS` of api/pods.py): resources as
//! total / used / available, storage pools with their use, the zone and
//! pool objects, and `host` as MAAS shows a pod without a host node.

use serde_json::{json, Value};

use crate::api::views::place::{pool_json, zone_json};
use crate::api::views::resource_uri;
use crate::db::places::{Pool, Zone};
use crate::db::vm_hosts::{VmHost, VmMachine};
use crate::engine::vmhosts;

/// What MAAS's virsh pod driver declares it can do.
const VIRSH_CAPABILITIES: &[&str] = &["composable", "dynamic_local_storage", "over_commit", "storage_pools"];

/// `collection` is `vm-hosts` or `pods`: each handler names its own URL.
pub fn vm_host_json(
    h: &VmHost,
    machines: &[VmMachine],
    zone: Option<&Zone>,
    pool: Option<&Pool>,
    collection: &str,
) -> Value {
    let (uc, um, us) = vmhosts::used(machines);
    let pools: Vec<Value> = vmhosts::pools_of(h)
        .into_iter()
        .map(|p| {
            let name = p["name"].as_str().unwrap_or_default().to_string();
            let total = p["total"].as_i64().unwrap_or(0);
            let used = vmhosts::used_in_pool(machines, &name);
            json!({
                "id": p["id"],
                "name": name,
                "type": p["type"],
                "path": p["path"],
                "total": total,
                "used": used,
                "available": total - used,
                "default": h.default_storage_pool.as_deref() == Some(name.as_str()),
            })
        })
        .collect();
    let architectures: Value = serde_json::from_str(&h.architectures).unwrap_or(json!([]));
    json!({
        "id": h.id,
        "name": h.name,
        "tags": vmhosts::tags_of(h),
        "type": h.host_type,
        "architectures": architectures,
        "capabilities": VIRSH_CAPABILITIES,
        "total": {"cores": h.cores, "memory": h.memory, "local_storage": h.local_storage},
        "used": {"cores": uc, "memory": um, "local_storage": us},
        "available": {"cores": h.cores - uc, "memory": h.memory - um, "local_storage": h.local_storage - us},
        "zone": zone.map(zone_json).unwrap_or(Value::Null),
        "cpu_over_commit_ratio": h.cpu_over_commit_ratio,
        "memory_over_commit_ratio": h.memory_over_commit_ratio,
        "storage_pools": pools,
        "pool": pool.map(pool_json).unwrap_or(Value::Null),
        // The host is no node here (MAAS: a VM host deployed by MAAS has one).
        "host": {"system_id": Value::Null, "__incomplete__": true},
        "default_macvlan_mode": Value::Null,
        "version": h.version,
        "resource_uri": resource_uri(&format!("{collection}/{}/", h.id)),
    })
}

/// A machine's `pod` (MAAS: id, name, resource_uri of its VM host).
pub fn pod_ref(id: i64, name: &str) -> Value {
    json!({"id": id, "name": name, "resource_uri": resource_uri(&format!("vm-hosts/{id}/"))})
}
