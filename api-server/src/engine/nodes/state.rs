//! The node state machine in motion: checked transitions (compare-and-set on the status read), deadlines for in-progress statuses. Uses the bottom modules only; every operation in `nodes/` goes through it.

use crate::db;
use crate::db::nodes::{Node, NodeChanges};
use crate::db::DbConn;
use crate::engine;
use crate::engine::events::{event, level};
use crate::engine::lifecycle::{check_transition, Status};
use crate::error::{Error, Result};

/// Changes a node's status after checking the transition table, applying
/// `extra` in the same UPDATE, issues or revokes the node's metadata token
/// (`engine::metadata::token::follow_status`), and logs `Node changed status`.
pub fn transition(
    c: &mut DbConn,
    n: &Node,
    to: Status,
    actor: &str,
    note: &str,
    mut extra: NodeChanges,
) -> Result<Node> {
    let from = n.status;
    check_transition(from, to)?;
    extra.status = Some(to);
    if from != to {
        extra.previous_status = Some(from);
    }
    extra.updated_at = Some(db::now());
    // Compare-and-set on the status we read, so two concurrent operations on
    // one machine cannot both succeed.
    if !db::nodes::cas_status(c, n.id, n.status, &extra)? {
        return Err(Error::Conflict(format!(
            "Machine {} changed state while this request ran; retry it.",
            n.system_id
        )));
    }
    // The node's metadata token follows the phase in the same transaction:
    // a new phase gets a fresh one, leaving every phase revokes it.
    engine::metadata::token::follow_status(c, n.id, from, to)?;
    let updated = db::nodes::by_system_id(c, &n.system_id)?.ok_or(Error::NotFound("Machine"))?;
    if from != to {
        event(
            c,
            &updated,
            actor,
            level::INFO,
            "Node changed status",
            &format!("From '{}' to '{}'{note}", from.label(), to.label()),
        )?;
    }
    db::nodes::by_system_id(c, &n.system_id)?.ok_or(Error::NotFound("Machine"))
}

pub(crate) fn config_minutes(c: &mut DbConn, name: &str) -> Option<i64> {
    db::config::get(c, name).ok().flatten().and_then(|v| v.trim_matches('"').parse::<i64>().ok()).filter(|m| *m > 0)
}

/// How long a machine may stay in an in-progress status before it is failed:
/// the per-phase setting (`commissioning_timeout`, `deploying_timeout`,
/// `releasing_timeout`) when set, else MAAS's rule (`node_timeout`, default
/// 30 minutes; releasing and exiting rescue mode 5 minutes). Read from the
/// database so every region sharing it applies the same limits.
pub fn timeout_minutes(c: &mut DbConn, status: Status) -> i64 {
    let specific = match status {
        Status::Commissioning => config_minutes(c, "commissioning_timeout"),
        Status::Deploying => config_minutes(c, "deploying_timeout"),
        Status::Releasing | Status::DiskErasing => config_minutes(c, "releasing_timeout"),
        _ => None,
    };
    specific.unwrap_or_else(|| match status {
        Status::Releasing | Status::ExitingRescueMode => 5,
        _ => config_minutes(c, "node_timeout").unwrap_or(30),
    })
}

/// Enters an in-progress status with a deadline: a durable job moves the node
/// to the failed counterpart if it is still there when the deadline passes.
pub(crate) fn enter_timed(
    c: &mut DbConn,
    n: &Node,
    to: Status,
    actor: &str,
    note: &str,
    mut extra: NodeChanges,
) -> Result<Node> {
    let minutes = timeout_minutes(c, to);
    let deadline = db::now() + chrono::Duration::minutes(minutes);
    extra.status_expires_at = Some(Some(deadline));
    let node = transition(c, n, to, actor, note, extra)?;
    engine::jobs::queue::enqueue(
        c,
        engine::jobs::queue::STATUS_TIMEOUT,
        Some(node.id),
        serde_json::json!({"status": to.code(), "minutes": minutes}),
        deadline,
    )?;
    Ok(node)
}

/// Pushes an in-progress status's deadline out by its full timeout (the
/// machine just reported progress). The pending timeout job sees the later
/// deadline and re-arms itself instead of failing the machine.
pub(crate) fn extend_deadline(c: &mut DbConn, n: &Node) -> Result<()> {
    if n.status_expires_at.is_none() {
        return Ok(());
    }
    let deadline = db::now() + chrono::Duration::minutes(timeout_minutes(c, n.status));
    db::nodes::update(c, n.id, &NodeChanges { status_expires_at: Some(Some(deadline)), ..Default::default() })?;
    Ok(())
}

pub(crate) fn wrong_state(what: &str, n: &Node) -> Error {
    Error::Conflict(format!("Cannot {what} a machine in the '{}' state.", n.status.label()))
}
