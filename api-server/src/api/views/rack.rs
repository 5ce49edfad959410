//! Rack controllers (`rackcontrollers/`): a machine's fields that apply to a
//! rack, plus what the rack link reports (version, services, contact).

use serde_json::Value;

use crate::api::views::machine::machine_json;
use crate::db::nodes::Node;
use crate::db::racks::RackRow;
use crate::db::related::Related;
use crate::engine;

/// A rack as MAAS renders one; `row` is its rack-link state, if it ever
/// registered.
pub fn rack_json(n: &Node, rel: &Related, row: Option<&RackRow>) -> Value {
    let keep = [
        "system_id",
        "hostname",
        "description",
        "hardware_uuid",
        "domain",
        "fqdn",
        "architecture",
        "cpu_count",
        "cpu_speed",
        "memory",
        "swap_size",
        "osystem",
        "distro_series",
        "power_type",
        "power_state",
        "ip_addresses",
        "interface_set",
        "zone",
        "status_action",
        "node_type",
        "node_type_name",
        "tag_names",
        "hardware_info",
        "resource_uri",
    ];
    let full = machine_json(n, rel);
    let mut m: serde_json::Map<String, Value> = full
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| keep.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let services: Value =
        row.and_then(|r| serde_json::from_str(&r.services).ok()).unwrap_or_else(|| Value::Array(Vec::new()));
    m.insert("version".into(), Value::String(row.map(|r| r.version.clone()).unwrap_or_default()));
    m.insert("service_set".into(), services);
    m.insert("connected".into(), Value::Bool(row.is_some_and(engine::racks::liveness::connected)));
    m.insert(
        "last_seen".into(),
        row.map(|r| Value::String(r.last_seen.format("%Y-%m-%dT%H:%M:%S%.3f").to_string())).unwrap_or(Value::Null),
    );
    Value::Object(m)
}
