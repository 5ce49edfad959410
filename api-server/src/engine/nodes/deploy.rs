//! Allocating to a user and deploying.

use crate::db;
use crate::db::nodes::{Node, NodeChanges};
use crate::db::users::User;
use crate::db::DbConn;
use crate::engine;
use crate::engine::access::require_edit;
use crate::engine::events::{event, level};
use crate::engine::lifecycle::Status;
use crate::engine::nodes::power::request_power;
use crate::engine::nodes::state::enter_timed;
use crate::engine::nodes::state::transition;
use crate::engine::nodes::state::wrong_state;
use crate::error::{Error, Result};

/// What `deploy` accepts.
#[derive(Debug, Clone, Default)]
pub struct DeployInput {
    pub osystem: String,
    pub distro_series: String,
    pub hwe_kernel: Option<String>,
    pub user_data: Option<Vec<u8>>,
    pub agent_name: Option<String>,
    pub comment: String,
    pub ephemeral_deploy: bool,
    pub enable_hw_sync: bool,
    pub enable_kernel_crash_dump: bool,
}

/// `deploy`: READY machines are allocated to the caller on the fly; the
/// machine must then move ALLOCATED → DEPLOYING.
pub fn deploy(c: &mut DbConn, actor: &User, n: &Node, input: DeployInput) -> Result<Node> {
    require_edit(actor, n)?;
    let mut node = n.clone();
    if node.status == Status::Ready {
        node = allocate_to(c, actor, &node, input.agent_name.as_deref().unwrap_or(""), &input.comment)?;
    }
    if node.status != Status::Allocated {
        return Err(Error::Conflict(format!("Can't deploy a machine that is in the '{}' state", node.status.label())));
    }
    if node.owner_id != Some(actor.id) && !actor.is_superuser {
        return Err(Error::Conflict(format!("Machine {} is owned by another user.", node.system_id)));
    }
    let mut changes = NodeChanges {
        osystem: Some(input.osystem),
        distro_series: Some(input.distro_series),
        hwe_kernel: Some(input.hwe_kernel),
        ephemeral_deploy: Some(input.ephemeral_deploy),
        enable_hw_sync: Some(input.enable_hw_sync),
        enable_kernel_crash_dump: Some(input.enable_kernel_crash_dump),
        ..Default::default()
    };
    if let Some(ud) = input.user_data {
        changes.user_data = Some(Some(ud));
    }
    if let Some(a) = input.agent_name.filter(|a| !a.is_empty()) {
        changes.agent_name = Some(a);
    }
    let node = enter_timed(c, &node, Status::Deploying, &actor.username, "", changes)?;
    // AUTO links get their addresses now; exhaustion (503) rolls back the
    // whole deploy, so the machine stays Allocated with nothing half-done.
    engine::interfaces::claim_auto_ips(c, &node)?;
    request_power(c, &node, &actor.username, engine::power::PowerAction::On)?;
    db::nodes::by_system_id(c, &n.system_id)?.ok_or(Error::NotFound("Machine"))
}

/// The deployed OS reported success.
pub fn complete_deployment(c: &mut DbConn, n: &Node, actor: &str) -> Result<Node> {
    if n.status != Status::Deploying {
        return Err(wrong_state("complete deployment of", n));
    }
    transition(
        c,
        n,
        Status::Deployed,
        actor,
        "",
        NodeChanges {
            status_expires_at: Some(None),
            // An ephemeral deployment lives in the network-booted
            // environment: MAAS keeps network boot first for it.
            netboot: Some(n.ephemeral_deploy),
            power_state: Some("on".into()),
            ..Default::default()
        },
    )
}

/// READY → ALLOCATED to `actor` (used by allocate and by deploy-from-READY).
pub fn allocate_to(c: &mut DbConn, actor: &User, n: &Node, agent_name: &str, comment: &str) -> Result<Node> {
    let note = format!(" (to {})", actor.username);
    let node = transition(
        c,
        n,
        Status::Allocated,
        &actor.username,
        &note,
        NodeChanges { owner_id: Some(Some(actor.id)), agent_name: Some(agent_name.to_string()), ..Default::default() },
    )?;
    if !comment.is_empty() {
        event(c, &node, &actor.username, level::INFO, "User acquiring node", comment)?;
    }
    db::nodes::by_system_id(c, &n.system_id)?.ok_or(Error::NotFound("Machine"))
}

/// `power_on`: the machine must be owned; from ALLOCATED it starts a deploy.
pub fn power_on(c: &mut DbConn, actor: &User, n: &Node, deploy_input: DeployInput) -> Result<Node> {
    require_edit(actor, n)?;
    if n.owner_id.is_none() {
        return Err(Error::Conflict("Can't start node: it hasn't been allocated.".into()));
    }
    engine::nodes::power::require_trusted_power(n)?;
    if n.status == Status::Allocated {
        return engine::nodes::deploy::deploy(c, actor, n, deploy_input);
    }
    request_power(c, n, &actor.username, engine::power::PowerAction::On)?;
    db::nodes::by_system_id(c, &n.system_id)?.ok_or(Error::NotFound("Machine"))
}
