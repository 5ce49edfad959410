//! DNS domains.

use crate::api::views::resource_uri;
use crate::db::dns::Domain;
use serde_json::{json, Value};

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
