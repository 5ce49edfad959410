//! Reserved IPs (`reservedips/`): MAAS's `DISPLAYED_RESERVEDIP_FIELDS`,
//! the subnet nested as its own object.

use serde_json::{json, Value};

use crate::api::views::resource_uri;
use crate::db::reserved_ips::ReservedIp;

pub fn reserved_ip_json(r: &ReservedIp, subnet: Value) -> Value {
    json!({
        "id": r.id,
        "ip": r.ip,
        "subnet": subnet,
        "mac_address": r.mac_address,
        "comment": r.comment,
        "resource_uri": resource_uri(&format!("reservedips/{}/", r.id)),
    })
}
