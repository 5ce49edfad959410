//! DHCP snippets (MAAS's `DHCPSnippetHandler` fields), plus `iprange` (the
//! model's field, which MAAS leaves out) and `unapplied` (what Ironpool's
//! DHCP server does not apply of the value; docs/dhcp-snippets.md).

use serde_json::{json, Value};

use crate::api::views::network::NetJson;
use crate::api::views::resource_uri;
use crate::db::network::IpRange;
use crate::engine::dhcp_snippets::{translate, Loaded};

/// `ranges` holds at least the snippet's range; `node` is the rendered node (machine or device) the snippet is for.
pub fn dhcp_snippet_json(s: &Loaded, net: &NetJson, ranges: &[IpRange], node: Option<Value>) -> Value {
    let sn = &s.snippet;
    let history: Vec<Value> = s
        .versions
        .iter()
        .map(|v| {
            json!({
                "id": v.id,
                "value": v.data,
                // Python's email.utils.format_datetime of a naive time.
                "created": v.created_at.format("%a, %d %b %Y %H:%M:%S -0000").to_string(),
            })
        })
        .collect();
    let iprange = sn
        .iprange_id
        .and_then(|id| ranges.iter().find(|r| r.id == id))
        .map(|r| net.range(r, None))
        .unwrap_or(Value::Null);
    json!({
        "id": sn.id,
        "name": sn.name,
        "value": s.value(),
        "history": history,
        "description": sn.description,
        "enabled": sn.enabled,
        "node": node.unwrap_or(Value::Null),
        "subnet": sn.subnet_id.map(|id| net.subnet(id)).unwrap_or(Value::Null),
        "iprange": iprange,
        "global_snippet": sn.node_id.is_none() && sn.subnet_id.is_none(),
        "unapplied": translate(s.value()).unapplied,
        "resource_uri": resource_uri(&format!("dhcp-snippets/{}/", sn.id)),
    })
}
