//! Commissioning and the operator's state changes around it: accept, commission, abort, broken/fixed, failed testing, rescue mode.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::db;
use crate::db::nodes::{Node, NodeChanges};
use crate::db::users::User;
use crate::db::DbConn;
use crate::engine;
use crate::engine::access::{require_admin, require_edit};
use crate::engine::events::{event, level};
use crate::engine::lifecycle::{Status, ABORTABLE, COMMISSIONABLE, RELEASABLE};
use crate::engine::nodes::power::request_power;
use crate::engine::nodes::release::release_resources;
use crate::engine::nodes::release::released_changes;
use crate::engine::nodes::state::enter_timed;
use crate::engine::nodes::state::transition;
use crate::engine::nodes::state::wrong_state;
use crate::engine::results::{result_type, RunRequest};
use crate::error::{Error, Result};

/// What `commission` was asked for (MAAS's CommissionForm).
#[derive(Debug, Clone, Default)]
pub struct CommissionInput {
    pub enable_ssh: bool,
    pub skip_bmc_config: bool,
    pub skip_networking: bool,
    pub skip_storage: bool,
    /// Names or tags; `None`: the defaults.
    pub commissioning_scripts: Option<Vec<String>>,
    /// Names or tags; `None`: the default tests; `["none"]`: no tests.
    pub testing_scripts: Option<Vec<String>>,
    /// The request's other fields, for script parameters.
    pub parameters: HashMap<String, String>,
}

pub(crate) fn start_commissioning(c: &mut DbConn, actor: &User, n: &Node, comment: &str) -> Result<Node> {
    start_commissioning_with(c, actor, n, comment, &CommissionInput::default())
}

fn start_commissioning_with(
    c: &mut DbConn,
    actor: &User,
    n: &Node,
    _comment: &str,
    input: &CommissionInput,
) -> Result<Node> {
    // The run's scripts: a commissioning set, and a testing set for the
    // tests chosen with it (MAAS creates both up front).
    let commissioning = engine::results::select(
        c,
        result_type::COMMISSIONING,
        input.commissioning_scripts.as_deref(),
        &input.parameters,
        "commissioning_scripts",
    )?;
    let testing = engine::results::select(
        c,
        result_type::TESTING,
        input.testing_scripts.as_deref(),
        &input.parameters,
        "testing_scripts",
    )?;
    let mut options = Map::new();
    for (k, v) in [
        ("enable_ssh", input.enable_ssh),
        ("skip_bmc_config", input.skip_bmc_config),
        ("skip_networking", input.skip_networking),
        ("skip_storage", input.skip_storage),
    ] {
        options.insert(k.into(), Value::Bool(v));
    }
    // Whose SSH keys an enable_ssh run gets when the machine has no owner.
    options.insert("requested_by".into(), Value::from(actor.id));
    let req = |requested: &Option<Vec<String>>| RunRequest {
        requested: requested.clone().unwrap_or_default(),
        parameters: input.parameters.clone(),
        options: options.clone(),
    };
    let set = engine::results::create_set(
        c,
        n,
        result_type::COMMISSIONING,
        &commissioning,
        &req(&input.commissioning_scripts),
    )?;
    if input.skip_bmc_config {
        // MAAS's words; the results stay in the set so the skip shows.
        let note = format!(
            "INFO: User {} ({}) has choosen to skip BMC configuration during commissioning\n",
            actor.username, actor.id
        );
        engine::results::skip_tagged(c, &set, "bmc-config", note.as_bytes())?;
    }
    if !testing.is_empty() {
        engine::results::create_set(c, n, result_type::TESTING, &testing, &req(&input.testing_scripts))?;
    }
    // Only administrators get here (accept, commission, creation with
    // commission=true): their decision is what releases power settings an
    // anonymous enlistment brought.
    let changes = NodeChanges {
        enlisting: Some(false),
        netboot: Some(true),
        power_quarantined: Some(false),
        ..Default::default()
    };
    let node = enter_timed(c, n, Status::Commissioning, &actor.username, "", changes)?;
    request_power(c, &node, &actor.username, engine::power::PowerAction::On)?;
    db::nodes::by_system_id(c, &n.system_id)?.ok_or(Error::NotFound("Machine"))
}

/// `commission` (admin): from the commissionable statuses, with a power type.
pub fn commission(c: &mut DbConn, actor: &User, n: &Node) -> Result<Node> {
    commission_with(c, actor, n, &CommissionInput::default())
}

/// `commission` with MAAS's options: scripts, parameters, enable_ssh and
/// the skip_* flags, stored on the run's script set.
pub fn commission_with(c: &mut DbConn, actor: &User, n: &Node, input: &CommissionInput) -> Result<Node> {
    require_admin(actor, n)?;
    let st = n.status;
    if !COMMISSIONABLE.contains(&st) {
        return Err(Error::Conflict(format!(
            "Machine cannot be commissioned in its current state ('{}').",
            st.label()
        )));
    }
    if n.power_type.is_empty() {
        return Err(Error::Conflict(
            "Machine cannot be commissioned: it has no power type. Set one (power_type=manual at least) first.".into(),
        ));
    }
    start_commissioning_with(c, actor, n, "", input)
}

/// The commissioning environment reported success: inventory done, READY
/// (NEW again for machines enlisted but never accepted).
pub fn complete_commissioning(c: &mut DbConn, n: &Node, actor: &str) -> Result<Node> {
    complete(c, n, actor, false)
}

/// The commissioning scripts are done and the run's tests come next: the
/// same model updates as [`complete_commissioning`], then Testing (timed;
/// passing tests end in Ready, or New while enlisting:
/// `engine::nodes::testing::after_testing`).
pub fn complete_commissioning_into_testing(c: &mut DbConn, n: &Node, actor: &str) -> Result<Node> {
    complete(c, n, actor, true)
}

/// Links the boot interface and applies the default layout unless the run
/// kept them (`skip_networking`, `skip_storage`: what the operator
/// configured), then Ready/New, or Testing when tests follow.
fn complete(c: &mut DbConn, n: &Node, actor: &str, tests_follow: bool) -> Result<Node> {
    if n.status != Status::Commissioning {
        return Err(wrong_state("complete commissioning of", n));
    }
    let keep_networking =
        engine::results::run_option(c, n, engine::results::result_type::COMMISSIONING, "skip_networking")?;
    let keep_storage = engine::results::run_option(c, n, engine::results::result_type::COMMISSIONING, "skip_storage")?;
    if !keep_networking {
        engine::interfaces::initial_links(c, n)?;
    }
    let node = if tests_follow {
        engine::nodes::state::enter_timed(c, n, Status::Testing, actor, "", NodeChanges::default())?
    } else {
        let to = if n.enlisting { Status::New } else { Status::Ready };
        let changes = NodeChanges { status_expires_at: Some(None), enlisting: Some(false), ..Default::default() };
        transition(c, n, to, actor, "", changes)?
    };
    if !keep_storage {
        engine::storage::layouts::apply_default_layout(c, &node)?;
    }
    Ok(node)
}

/// `accept` (admin): NEW machines start commissioning; others are skipped.
pub fn accept(c: &mut DbConn, actor: &User, n: &Node) -> Result<Option<Node>> {
    require_admin(actor, n)?;
    if n.status != Status::New {
        return Ok(None);
    }
    start_commissioning(c, actor, n, "").map(Some)
}

/// `abort`: stops commissioning, deploying, erasing or testing.
pub fn abort(c: &mut DbConn, actor: &User, n: &Node, comment: &str) -> Result<Node> {
    require_edit(actor, n)?;
    let st = n.status;
    if !ABORTABLE.contains(&st) {
        return Err(Error::Conflict(format!("Node cannot be aborted in its current state ('{}').", st.label())));
    }
    let prev = n.previous_status;
    let to = match st {
        Status::Deploying => Status::Allocated,
        Status::DiskErasing => Status::FailedDiskErasing,
        _ => prev,
    };
    if !comment.is_empty() {
        event(c, n, &actor.username, level::INFO, "Aborting", comment)?;
    }
    let node =
        transition(c, n, to, &actor.username, "", NodeChanges { status_expires_at: Some(None), ..Default::default() })?;
    request_power(c, &node, &actor.username, engine::power::PowerAction::Off)?;
    db::nodes::by_system_id(c, &n.system_id)?.ok_or(Error::NotFound("Machine"))
}

/// `mark_broken`: the owner (or an admin, for unowned machines) marks it BROKEN.
pub fn mark_broken(c: &mut DbConn, actor: &User, n: &Node, comment: &str) -> Result<Node> {
    match n.owner_id {
        Some(owner) if owner != actor.id => {
            return Err(Error::Forbidden("Only the machine's owner can mark it broken.".into()));
        }
        None if !actor.is_superuser => {
            return Err(Error::Forbidden("Only an administrator can mark an unowned machine broken.".into()));
        }
        _ => {}
    }
    let st = n.status;
    let mut changes = NodeChanges {
        error_description: Some(comment.to_string()),
        status_expires_at: Some(None),
        ..Default::default()
    };
    // A deployed machine keeps its owner so mark_fixed can return it to
    // DEPLOYED; anything else releasable is released first.
    if st != Status::Deployed && RELEASABLE.contains(&st) {
        let r = released_changes();
        changes.owner_id = r.owner_id;
        changes.agent_name = r.agent_name;
        changes.owner_data = r.owner_data;
        changes.osystem = r.osystem;
        changes.distro_series = r.distro_series;
        changes.hwe_kernel = r.hwe_kernel;
        changes.user_data = r.user_data;
        release_resources(c, n)?;
    }
    transition(c, n, Status::Broken, &actor.username, "", changes)
}

/// `mark_fixed` (admin): BROKEN → READY, or DEPLOYED if it was deployed.
pub fn mark_fixed(c: &mut DbConn, actor: &User, n: &Node, _comment: &str) -> Result<Node> {
    require_admin(actor, n)?;
    if n.status != Status::Broken {
        return Err(Error::Conflict(format!(
            "Can't mark a machine as fixed: it is '{}', not 'Broken'.",
            n.status.label()
        )));
    }
    let to = if n.previous_status == Status::Deployed { Status::Deployed } else { Status::Ready };
    let extra = if to == Status::Ready { released_changes() } else { NodeChanges::default() };
    if to == Status::Ready {
        release_resources(c, n)?;
    }
    transition(c, n, to, &actor.username, "", NodeChanges { error_description: Some(String::new()), ..extra })
}

/// `override_failed_testing` (admin): FAILED_TESTING → READY, or DEPLOYED
/// when an OS is installed; the error description is cleared (MAAS).
pub fn override_failed_testing(c: &mut DbConn, actor: &User, n: &Node, comment: &str) -> Result<Node> {
    require_admin(actor, n)?;
    if n.status != Status::FailedTesting {
        return Err(Error::Conflict("Unable to override node status. Node is not in 'Failed testing' status.".into()));
    }
    let note = if comment.is_empty() { String::new() } else { format!(" ({comment})") };
    event(c, n, &actor.username, level::INFO, "User overrode 'Failed testing' status", &note)?;
    let to = if n.osystem.is_empty() { Status::Ready } else { Status::Deployed };
    transition(
        c,
        n,
        to,
        &actor.username,
        "",
        NodeChanges { error_description: Some(String::new()), ..Default::default() },
    )
}

/// `rescue_mode` (admin).
pub fn rescue_mode(c: &mut DbConn, actor: &User, n: &Node) -> Result<Node> {
    require_admin(actor, n)?;
    if n.power_type.is_empty() {
        return Err(Error::Conflict("Machine cannot enter rescue mode: it has no power type.".into()));
    }
    let node = enter_timed(c, n, Status::EnteringRescueMode, &actor.username, "", NodeChanges::default())?;
    request_power(c, &node, &actor.username, engine::power::PowerAction::Cycle)?;
    db::nodes::by_system_id(c, &n.system_id)?.ok_or(Error::NotFound("Machine"))
}

/// `exit_rescue_mode` (admin): back to the status held before rescue mode.
pub fn exit_rescue_mode(c: &mut DbConn, actor: &User, n: &Node) -> Result<Node> {
    require_admin(actor, n)?;
    let st = n.status;
    if !matches!(
        st,
        Status::RescueMode
            | Status::EnteringRescueMode
            | Status::FailedEnteringRescueMode
            | Status::FailedExitingRescueMode
    ) {
        return Err(Error::Conflict(format!("Machine is not in rescue mode ('{}').", st.label())));
    }
    // The status before rescue mode: walk past the rescue statuses themselves.
    let before = if matches!(
        n.previous_status,
        Status::RescueMode | Status::EnteringRescueMode | Status::FailedEnteringRescueMode | Status::ExitingRescueMode
    ) {
        Status::Ready
    } else {
        n.previous_status
    };
    let node = transition(c, n, Status::ExitingRescueMode, &actor.username, "", NodeChanges::default())?;
    // Remember where to return in previous_status of the exiting step.
    let node = db::nodes::update(c, node.id, &NodeChanges { previous_status: Some(before), ..Default::default() })?;
    if engine::power::region_can_drive(&node.power_type) {
        transition(
            c,
            &node,
            before,
            &actor.username,
            "",
            NodeChanges { status_expires_at: Some(None), ..Default::default() },
        )
    } else {
        let action = if before == Status::Deployed {
            engine::power::PowerAction::Cycle
        } else {
            engine::power::PowerAction::Off
        };
        enter_timed(c, &node, Status::ExitingRescueMode, &actor.username, "", NodeChanges::default())?;
        request_power(c, &node, &actor.username, action)?;
        db::nodes::by_system_id(c, &n.system_id)?.ok_or(Error::NotFound("Machine"))
    }
}
