//! Script sets and their results as MAAS's `NodeScriptResultHandler`
//! renders them: RFC 2822 times, base64 outputs when asked for, password
//! parameters redacted.

use base64::Engine as _;
use chrono::NaiveDateTime;
use serde_json::{json, Map, Value};

use crate::api::views::resource_uri;
use crate::db::metadata::ScriptResult;
use crate::engine::results::{result_type_name, status_name, SetWithResults};

/// Python's `email.utils.format_datetime` of a UTC time.
fn fmt_time(t: Option<NaiveDateTime>) -> Value {
    match t {
        Some(t) => Value::String(t.format("%a, %d %b %Y %H:%M:%S +0000").to_string()),
        None => Value::Null,
    }
}

/// MAAS's runtime text: `H:MM:SS` without microseconds, '' until both ends are known.
fn runtime(started: Option<NaiveDateTime>, ended: Option<NaiveDateTime>) -> String {
    match (started, ended) {
        (Some(s), Some(e)) => {
            let secs = (e - s).num_seconds().max(0);
            format!("{}:{:02}:{:02}", secs / 3600, (secs / 60) % 60, secs % 60)
        }
        _ => String::new(),
    }
}

fn b64(d: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(d))
}

fn result_json(r: &ScriptResult, include_output: bool) -> Value {
    let mut params: Value = serde_json::from_str(&r.parameters).unwrap_or_else(|_| json!({}));
    if let Some(m) = params.as_object_mut() {
        for p in m.values_mut() {
            if p.get("type").and_then(Value::as_str) == Some("password") && p.get("value").is_some() {
                p["value"] = json!("REDACTED");
            }
        }
    }
    let stamp = |t: Option<NaiveDateTime>| match t {
        Some(t) => json!(t.and_utc().timestamp()),
        None => json!(""),
    };
    let run = if r.runtime.is_empty() { runtime(r.started, r.ended) } else { r.runtime.clone() };
    let mut m = Map::new();
    m.insert("id".into(), json!(r.id));
    m.insert("created".into(), fmt_time(Some(r.created_at)));
    m.insert("updated".into(), fmt_time(Some(r.updated_at)));
    m.insert("name".into(), json!(r.name));
    m.insert("status".into(), json!(r.status));
    m.insert("status_name".into(), json!(status_name(r.status)));
    m.insert("exit_status".into(), json!(r.exit_status));
    m.insert("started".into(), fmt_time(r.started));
    m.insert("ended".into(), fmt_time(r.ended));
    m.insert("runtime".into(), json!(run));
    m.insert("starttime".into(), stamp(r.started));
    m.insert("endtime".into(), stamp(r.ended));
    m.insert("estimated_runtime".into(), json!(if run.is_empty() { "Unknown".to_string() } else { run }));
    m.insert("parameters".into(), params);
    // No scripts table yet: results are not linked to a script row.
    m.insert("script_id".into(), Value::Null);
    m.insert("script_revision_id".into(), Value::Null);
    m.insert("suppressed".into(), json!(r.suppressed));
    if include_output {
        m.insert("output".into(), b64(&r.output));
        m.insert("stdout".into(), b64(&r.stdout));
        m.insert("stderr".into(), b64(&r.stderr));
        m.insert("result".into(), b64(&r.result));
    }
    Value::Object(m)
}

/// One script set with its (filtered) results.
pub fn script_set_json(s: &SetWithResults, include_output: bool) -> Value {
    let status = s.status();
    let (started, ended) = (s.started(), s.ended());
    json!({
        "id": s.set.id,
        "system_id": s.system_id,
        "type": s.set.result_type,
        "type_name": result_type_name(s.set.result_type),
        "last_ping": fmt_time(s.set.last_ping),
        "status": status,
        "status_name": status_name(status),
        "started": fmt_time(started),
        "ended": fmt_time(ended),
        "runtime": runtime(started, ended),
        "results": s.shown.iter().map(|r| result_json(r, include_output)).collect::<Vec<_>>(),
        "resource_uri": resource_uri(&format!("nodes/{}/results/{}/", s.system_id, s.set.id)),
    })
}
