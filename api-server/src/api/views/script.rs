//! Scripts (MAAS's `NodeScriptHandler` fields): numbers and names of the
//! type, hardware type and parallelism, the timeout as Python prints a
//! timedelta, `default` (built in), and `history`, newest first, with each
//! version's text base64-encoded when `include_script` asks for it.

use base64::Engine as _;
use serde_json::{json, Value};

use crate::api::views::resource_uri;
use crate::engine::scripts::{hardware_type_name, parallel_name, script_type_name, timeout_text, Loaded};

pub fn script_json(s: &Loaded, include_script: bool) -> Value {
    let sc = &s.script;
    let history: Vec<Value> = s
        .versions
        .iter()
        .map(|v| {
            let mut h = json!({
                "id": v.id,
                "comment": v.comment,
                // Python's email.utils.format_datetime of a naive time.
                "created": v.created_at.format("%a, %d %b %Y %H:%M:%S -0000").to_string(),
            });
            if include_script {
                h["data"] = json!(base64::engine::general_purpose::STANDARD.encode(v.data.as_bytes()));
            }
            h
        })
        .collect();
    json!({
        "id": sc.id,
        "name": sc.name,
        "title": sc.title,
        "description": sc.description,
        "tags": s.tags(),
        "type": sc.script_type,
        "type_name": script_type_name(sc.script_type),
        "hardware_type": sc.hardware_type,
        "hardware_type_name": hardware_type_name(sc.hardware_type),
        "parallel": sc.parallel,
        "parallel_name": parallel_name(sc.parallel),
        "results": Loaded::json_field(&sc.results),
        "parameters": Loaded::json_field(&sc.parameters),
        "packages": Loaded::json_field(&sc.packages),
        "timeout": timeout_text(sc.timeout_seconds),
        "destructive": sc.destructive,
        "for_hardware": s.for_hardware(),
        "may_reboot": sc.may_reboot,
        "recommission": sc.recommission,
        "history": history,
        "default": sc.is_default,
        "apply_configured_networking": sc.apply_configured_networking,
        // Names are shell-safe (the form refuses others): no escaping needed.
        "resource_uri": resource_uri(&format!("scripts/{}", sc.name)),
    })
}
