//! Events.

use crate::db::events::Event;
use serde_json::{json, Value};

/// Events use MAAS's own date format: `Tue, 07 May. 2024 20:11:08`.
pub fn event_json(e: &Event) -> Value {
    let level = match e.level {
        0 => "AUDIT",
        l if l <= 10 => "DEBUG",
        l if l <= 20 => "INFO",
        l if l <= 30 => "WARNING",
        l if l <= 40 => "ERROR",
        _ => "CRITICAL",
    };
    json!({
        "username": e.username,
        "node": e.system_id,
        "hostname": e.hostname,
        "id": e.id,
        "level": level,
        "created": e.created_at.format("%a, %d %b. %Y %H:%M:%S").to_string(),
        "type": e.type_name,
        "description": e.description,
    })
}

/// A page of `events/?op=query`: the events and the links to the pages
/// either side (MAAS's shape, newest first).
#[derive(serde::Serialize)]
pub struct EventPage {
    pub count: usize,
    pub events: Vec<Value>,
    pub next_uri: Option<String>,
    pub prev_uri: Option<String>,
}
