//! The job queue: job kinds and `enqueue`. Durable jobs are rows; anything may queue one, so this module knows nothing of nodes or power.

use crate::db;
use crate::db::DbConn;
use crate::error::Result;
use serde_json::Value;

/// Fails a node still in an in-progress status when its deadline passes.
pub const STATUS_TIMEOUT: &str = "status_timeout";

/// Performs a power action, then optionally a continuation (`then`).
pub const POWER: &str = "power";

pub(crate) const SYSTEM_ACTOR: &str = "ironpool";

pub fn enqueue(
    c: &mut DbConn,
    kind: &str,
    node_id: Option<i64>,
    payload: Value,
    run_after: chrono::NaiveDateTime,
) -> Result<()> {
    db::jobs::insert(c, kind, node_id, &payload.to_string(), run_after)
}
