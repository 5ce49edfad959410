//! Controllers (`rackcontrollers/`, `regioncontrollers/`): a machine's
//! fields that apply to a controller, plus what the rack link or the
//! region's heartbeat reports (version, services, contact).

use serde_json::Value;

use crate::api::views::machine::machine_json;
use crate::db::nodes::Node;
use crate::db::racks::RackRow;
use crate::db::regions::RegionRow;
use crate::db::related::Related;
use crate::engine;

/// MAAS's `DISPLAYED_RACK_CONTROLLER_FIELDS` / `..._REGION_...` (the two
/// lists agree except for `service_set`) that a machine's rendering has.
const CONTROLLER_FIELDS: [&str; 43] = [
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
    "current_commissioning_result_id",
    "current_testing_result_id",
    "current_installation_result_id",
    "commissioning_status",
    "commissioning_status_name",
    "testing_status",
    "testing_status_name",
    "cpu_test_status",
    "cpu_test_status_name",
    "memory_test_status",
    "memory_test_status_name",
    "network_test_status",
    "network_test_status_name",
    "storage_test_status",
    "storage_test_status_name",
    "other_test_status",
    "other_test_status_name",
    "hardware_info",
    "tag_names",
    "interface_test_status",
    "interface_test_status_name",
    "resource_uri",
];

/// A controller's machine-like fields, as MAAS lists them for controllers.
pub fn controller_fields(n: &Node, rel: &Related) -> serde_json::Map<String, Value> {
    let full = machine_json(n, rel);
    full.as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| CONTROLLER_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn timestamp(t: &chrono::NaiveDateTime) -> Value {
    Value::String(t.format("%Y-%m-%dT%H:%M:%S%.3f").to_string())
}

/// A rack as MAAS renders one; `row` is its rack-link state, if it ever
/// registered.
pub fn rack_json(n: &Node, rel: &Related, row: Option<&RackRow>) -> Value {
    let mut m = controller_fields(n, rel);
    let services: Value =
        row.and_then(|r| serde_json::from_str(&r.services).ok()).unwrap_or_else(|| Value::Array(Vec::new()));
    m.insert("version".into(), Value::String(row.map(|r| r.version.clone()).unwrap_or_default()));
    m.insert("service_set".into(), services);
    m.insert("connected".into(), Value::Bool(row.is_some_and(engine::racks::liveness::connected)));
    m.insert("last_seen".into(), row.map(|r| timestamp(&r.last_seen)).unwrap_or(Value::Null));
    Value::Object(m)
}

/// A region as MAAS renders one (`version` from its last start), plus what
/// its heartbeat reports: the services it runs (`service_set`, MAAS's
/// shape for racks), whether it is running, when it was last seen and
/// started, and its API URL.
pub fn region_json(n: &Node, rel: &Related, row: Option<&RegionRow>) -> Value {
    let mut m = controller_fields(n, rel);
    let services: Value =
        row.and_then(|r| serde_json::from_str(&r.services).ok()).unwrap_or_else(|| Value::Array(Vec::new()));
    m.insert("version".into(), Value::String(row.map(|r| r.version.clone()).unwrap_or_default()));
    m.insert("service_set".into(), services);
    m.insert("running".into(), Value::Bool(row.is_some_and(engine::regions::running)));
    m.insert("last_seen".into(), row.map(|r| timestamp(&r.last_seen)).unwrap_or(Value::Null));
    m.insert("started_at".into(), row.map(|r| timestamp(&r.started_at)).unwrap_or(Value::Null));
    m.insert("url".into(), Value::String(row.map(|r| r.url.clone()).unwrap_or_default()));
    Value::Object(m)
}
