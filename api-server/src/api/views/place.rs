//! Zones and resource pools.

use crate::api::views::enc;
use crate::api::views::resource_uri;
use crate::db::places::{Pool, Zone};
use serde_json::{json, Value};

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
