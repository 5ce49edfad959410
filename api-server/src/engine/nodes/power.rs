//! Power actions on a node: queued as jobs, driven by the region or a rack.

use crate::db;
use crate::db::nodes::Node;
use crate::db::users::User;
use crate::db::DbConn;
use crate::engine;
use crate::engine::access::require_edit;
use crate::engine::events::{event, level};
use crate::error::{Error, Result};
use serde_json::Value;

pub fn power_off(c: &mut DbConn, actor: &User, n: &Node) -> Result<Node> {
    require_edit(actor, n)?;
    require_trusted_power(n)?;
    request_power(c, n, &actor.username, engine::power::PowerAction::Off)?;
    db::nodes::by_system_id(c, &n.system_id)?.ok_or(Error::NotFound("Machine"))
}

/// Refuses a power action or query whose BMC settings came from an
/// anonymous enlistment (H4: anyone could otherwise make the region or a
/// rack call an address of their choosing with credentials of their
/// choosing whenever a user looks at the machine).
pub fn require_trusted_power(n: &Node) -> Result<()> {
    if n.power_quarantined && !engine::power::region_can_drive(&n.power_type) {
        return Err(Error::Conflict(format!(
            "Machine {} enlisted itself anonymously: its power settings are not used until an administrator \
             accepts it (POST machines/?op=accept with machines={}) or sets its power parameters.",
            n.system_id, n.system_id
        )));
    }
    Ok(())
}

/// Queues a power action as a durable job (drivers run outside the request).
/// A machine whose power settings await acceptance gets an event instead:
/// steps that power it on the way (the end of enlistment, an abort) go on
/// without touching its BMC.
pub fn request_power(c: &mut DbConn, n: &Node, actor: &str, action: engine::power::PowerAction) -> Result<()> {
    if require_trusted_power(n).is_err() {
        let why = "power settings from anonymous enlistment are not used until an administrator accepts the machine";
        return event(c, n, actor, level::DEBUG, "Power action skipped", &format!("{action}: {why}"));
    }
    let title = match action {
        engine::power::PowerAction::On => "Powering on",
        engine::power::PowerAction::Off => "Powering off",
        engine::power::PowerAction::Cycle => "Power cycling",
        engine::power::PowerAction::Query => "Querying power state",
    };
    event(c, n, actor, level::DEBUG, title, "")?;
    engine::jobs::queue::enqueue(
        c,
        engine::jobs::queue::POWER,
        Some(n.id),
        serde_json::json!({"action": action.as_str()}),
        db::now(),
    )
}

/// The decoded power parameters (admin eyes only).
pub fn power_parameters(n: &Node) -> Value {
    serde_json::from_str(&n.power_parameters).unwrap_or_else(|_| serde_json::json!({}))
}
