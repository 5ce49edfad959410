//! Locking a node and its owner data (key/value pairs the owner sets).

use crate::db;
use crate::db::nodes::{Node, NodeChanges};
use crate::db::users::User;
use crate::db::DbConn;
use crate::engine;
use crate::engine::events::{event, level};
use crate::engine::lifecycle::Status;
use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// `lock`: only DEPLOYED or DEPLOYING machines.
pub fn lock(c: &mut DbConn, actor: &User, n: &Node, comment: &str) -> Result<Node> {
    if n.locked {
        return Err(Error::Conflict("Machine is already locked".into()));
    }
    if !actor.is_superuser && n.owner_id != Some(actor.id) {
        return Err(Error::Forbidden("Only the machine's owner or an administrator can lock it.".into()));
    }
    if !matches!(n.status, Status::Deployed | Status::Deploying) {
        return Err(Error::Conflict(format!(
            "Can't lock a machine in the '{}' state: only deployed or deploying machines can be locked.",
            n.status.label()
        )));
    }
    let node = db::nodes::update(
        c,
        n.id,
        &NodeChanges { locked: Some(true), updated_at: Some(db::now()), ..Default::default() },
    )?;
    event(c, &node, &actor.username, level::INFO, "Node locked", comment)?;
    db::nodes::by_system_id(c, &n.system_id)?.ok_or(Error::NotFound("Machine"))
}

pub fn unlock(c: &mut DbConn, actor: &User, n: &Node, comment: &str) -> Result<Node> {
    if !n.locked {
        return Err(Error::Conflict("Machine is not locked".into()));
    }
    if !actor.is_superuser && n.owner_id != Some(actor.id) {
        return Err(Error::Forbidden("Only the machine's owner or an administrator can unlock it.".into()));
    }
    let node = db::nodes::update(
        c,
        n.id,
        &NodeChanges { locked: Some(false), updated_at: Some(db::now()), ..Default::default() },
    )?;
    event(c, &node, &actor.username, level::INFO, "Node unlocked", comment)?;
    db::nodes::by_system_id(c, &n.system_id)?.ok_or(Error::NotFound("Machine"))
}

/// `set_owner_data` / `set_workload_annotations`: merge; empty value deletes.
pub fn set_owner_data(c: &mut DbConn, actor: &User, n: &Node, pairs: &[(String, String)]) -> Result<Node> {
    if n.owner_id != Some(actor.id) {
        // MAAS's NodeStateViolation (409), in its words.
        return Err(Error::Conflict("Cannot set workload annotation: it hasn't been acquired.".into()));
    }
    let mut data: BTreeMap<String, String> = serde_json::from_str(&n.owner_data).unwrap_or_default();
    for (k, v) in pairs {
        if v.is_empty() {
            data.remove(k);
        } else {
            data.insert(k.clone(), v.clone());
        }
    }
    db::nodes::update(
        c,
        n.id,
        &NodeChanges {
            owner_data: Some(engine::string_map_json(&data)),
            updated_at: Some(db::now()),
            ..Default::default()
        },
    )
}
