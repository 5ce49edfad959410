//! Discoveries (`discovery/`): MAAS's `DISPLAYED_DISCOVERY_FIELDS`, the
//! observer as `{system_id, hostname, interface_id, interface_name}`.

use serde_json::{json, Value};

use crate::api::views::resource_uri;
use crate::db::discoveries::Discovery;

/// What a discovery row refers to, resolved by the caller in bulk.
pub struct Observed<'a> {
    pub observer_system_id: &'a str,
    pub observer_hostname: &'a str,
    pub interface_name: Option<&'a str>,
    pub fabric_name: Option<&'a str>,
    pub vid: Option<i32>,
}

pub fn discovery_json(d: &Discovery, id: &str, o: &Observed) -> Value {
    json!({
        "discovery_id": id,
        "ip": d.ip,
        "mac_address": d.mac_address,
        // MAAS looks the vendor up in its OUI table; Ironpool has none.
        "mac_organization": Value::Null,
        "last_seen": d.last_seen.format("%Y-%m-%dT%H:%M:%S%.3f").to_string(),
        "hostname": d.hostname,
        "fabric_name": o.fabric_name,
        "vid": o.vid,
        "observer": {
            "system_id": o.observer_system_id,
            "hostname": o.observer_hostname,
            "interface_id": d.observer_interface_id,
            "interface_name": o.interface_name,
        },
        "resource_uri": resource_uri(&format!("discovery/{id}/")),
    })
}
