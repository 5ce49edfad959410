//! Releasing a machine: erasing, freeing its addresses and user storage, back to Ready.

use crate::db;
use crate::db::nodes::{Node, NodeChanges};
use crate::db::users::User;
use crate::db::DbConn;
use crate::engine;
use crate::engine::access::require_edit;
use crate::engine::events::{event, level};
use crate::engine::lifecycle::{Status, RELEASABLE};
use crate::engine::nodes::power::request_power;
use crate::engine::nodes::state::enter_timed;
use crate::engine::nodes::state::transition;
use crate::error::{Error, Result};

/// Release options.
#[derive(Debug, Clone, Default)]
pub struct ReleaseInput {
    pub erase: bool,
    pub secure_erase: bool,
    pub quick_erase: bool,
    pub force: bool,
    pub comment: String,
}

/// Whether `release` would act (false for READY/RELEASING no-ops); errors for
/// statuses that cannot be released.
pub fn check_releasable(n: &Node) -> Result<bool> {
    let st = n.status;
    if matches!(st, Status::Ready | Status::Releasing) {
        return Ok(false);
    }
    if !RELEASABLE.contains(&st) {
        return Err(Error::Conflict(format!("Machine cannot be released in its current state ('{}').", st.label())));
    }
    Ok(true)
}

/// `release`: back towards READY, erasing disks when asked (or configured).
pub fn release(c: &mut DbConn, actor: &User, n: &Node, input: ReleaseInput) -> Result<Node> {
    if n.locked {
        return Err(Error::Forbidden(format!("Machine {} is locked; unlock it before releasing.", n.system_id)));
    }
    require_edit(actor, n)?;
    if !check_releasable(n)? {
        return Ok(n.clone());
    }
    if !input.comment.is_empty() {
        event(c, n, &actor.username, level::INFO, "Releasing node", &input.comment)?;
    }
    let erase_config = db::config::get(c, "enable_disk_erasing_on_release")?.as_deref() == Some("true");
    if input.erase || input.secure_erase || input.quick_erase || erase_config {
        let mode = if input.secure_erase {
            "secure"
        } else if input.quick_erase {
            "quick"
        } else {
            "full"
        };
        let node = enter_timed(
            c,
            n,
            Status::DiskErasing,
            &actor.username,
            &format!(" ({mode} erase)"),
            // The erase runs in the ephemeral environment: network boot, and
            // cycle rather than "on" since a deployed machine is running.
            NodeChanges { netboot: Some(true), erase_mode: Some(mode.to_string()), ..Default::default() },
        )?;
        request_power(c, &node, &actor.username, engine::power::PowerAction::Cycle)?;
        return db::nodes::by_system_id(c, &n.system_id)?.ok_or(Error::NotFound("Machine"));
    }
    let node = transition(c, n, Status::Releasing, &actor.username, "", NodeChanges::default())?;
    if engine::power::region_can_drive(&node.power_type) {
        // Nothing to power off that we control: the release completes now.
        finish_release(c, &node, &actor.username)
    } else {
        let node = enter_timed(c, &node, Status::Releasing, &actor.username, "", NodeChanges::default())?;
        engine::jobs::queue::enqueue(
            c,
            engine::jobs::queue::POWER,
            Some(node.id),
            serde_json::json!({"action": engine::power::PowerAction::Off.as_str(), "then": "finish_release"}),
            db::now(),
        )?;
        Ok(node)
    }
}

/// What the owner held goes back: AUTO addresses to the pool, and the
/// filesystems made on the Allocated machine (MAAS's acquired filesystems;
/// the layout made while Ready stays).
pub(crate) fn release_resources(c: &mut DbConn, n: &Node) -> Result<()> {
    engine::interfaces::release_auto_ips(c, n)?;
    db::storage::delete_acquired_filesystems(c, n.id)?;
    db::special_filesystems::delete_acquired(c, n.id)?;
    Ok(())
}

/// Completes a release: READY, and everything the owner set is cleared.
pub fn finish_release(c: &mut DbConn, n: &Node, actor: &str) -> Result<Node> {
    release_resources(c, n)?;
    transition(c, n, Status::Ready, actor, "", released_changes())
}

pub(crate) fn released_changes() -> NodeChanges {
    NodeChanges {
        owner_id: Some(None),
        agent_name: Some(String::new()),
        owner_data: Some("{}".into()),
        osystem: Some(String::new()),
        distro_series: Some(String::new()),
        hwe_kernel: Some(None),
        user_data: Some(None),
        netboot: Some(true),
        ephemeral_deploy: Some(false),
        status_expires_at: Some(None),
        ..Default::default()
    }
}
