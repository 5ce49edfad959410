//! Node events (MAAS's event log) and the status message they set. A bottom module: it uses only `db/`.

use crate::db;
use crate::db::events::NewEvent;
use crate::db::nodes::Node;
use crate::db::DbConn;
use crate::error::Result;

/// Event levels, MAAS's numbering (logging levels; AUDIT is 0 in MAAS's API).
pub mod level {
    pub const AUDIT: i32 = 0;
    pub const DEBUG: i32 = 10;
    pub const INFO: i32 = 20;
    pub const WARNING: i32 = 30;
    pub const ERROR: i32 = 40;
    pub const CRITICAL: i32 = 50;
}

/// Writes an event for a node and makes it the node's status message.
pub fn event(c: &mut DbConn, n: &Node, actor: &str, lvl: i32, type_name: &str, description: &str) -> Result<()> {
    log_event(c, n, actor, lvl, type_name, description)?;
    if lvl >= level::INFO {
        let message =
            if description.is_empty() { type_name.to_string() } else { format!("{type_name} - {description}") };
        db::nodes::set_status_message(c, n.id, &message, "")?;
    }
    Ok(())
}

/// Writes an event only (callers that set the status message themselves).
pub fn log_event(c: &mut DbConn, n: &Node, actor: &str, lvl: i32, type_name: &str, description: &str) -> Result<()> {
    db::events::insert(
        c,
        &NewEvent {
            node_id: Some(n.id),
            system_id: Some(&n.system_id),
            hostname: &n.hostname,
            username: actor,
            level: lvl,
            type_name,
            action: "",
            description,
            created_at: db::now(),
        },
    )?;
    if lvl >= level::INFO {
        let message =
            if description.is_empty() { type_name.to_string() } else { format!("{type_name} - {description}") };
        db::nodes::set_status_message(c, n.id, &message, "")?;
    }
    Ok(())
}
