//! `test`: a machine boots the ephemeral environment to run testing scripts
//! (MAAS's `start_testing`), and where it goes when they pass.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::db;
use crate::db::nodes::{Node, NodeChanges};
use crate::db::users::User;
use crate::db::DbConn;
use crate::engine;
use crate::engine::access::require_admin;
use crate::engine::events::{event, level};
use crate::engine::lifecycle::Status;
use crate::engine::nodes::power::request_power;
use crate::engine::nodes::state::enter_timed;
use crate::engine::results::{result_type, RunRequest};
use crate::error::{Error, Result};

/// Statuses MAAS's Test action starts from (`node_action.Test`).
pub const TESTABLE: &[Status] = &[
    Status::FailedCommissioning,
    Status::New,
    Status::Ready,
    Status::Reserved,
    Status::Allocated,
    Status::FailedDeployment,
    Status::Deployed,
    Status::Missing,
    Status::Retired,
    Status::Broken,
    Status::RescueMode,
    Status::FailedReleasing,
    Status::FailedDiskErasing,
    Status::FailedEnteringRescueMode,
    Status::FailedExitingRescueMode,
    Status::FailedTesting,
];

/// What `test` was asked for.
#[derive(Debug, Clone, Default)]
pub struct TestInput {
    pub enable_ssh: bool,
    /// Names or tags; `None`: the default tests.
    pub testing_scripts: Option<Vec<String>>,
    /// The request's other fields, for script parameters.
    pub parameters: HashMap<String, String>,
}

/// `test` (admin): a testing script set with the chosen scripts, TESTING,
/// power on. MAAS's texts for every refusal.
pub fn test(c: &mut DbConn, actor: &User, n: &Node, input: &TestInput) -> Result<Node> {
    require_admin(actor, n)?;
    if !TESTABLE.contains(&n.status) {
        return Err(Error::field("__all__", "Test is not available because of the current state of the node."));
    }
    if n.power_type.is_empty() {
        return Err(Error::BadRequest(
            "Unconfigured power type. Please configure the power type and try again.".into(),
        ));
    }
    if n.status == Status::New && db::results::latest_set(c, n.id, result_type::COMMISSIONING)?.is_none() {
        return Err(Error::field(
            "__all__",
            "Unable to start machine testing; this node has never been commissioned. Please use the 'Commission' \
             action to commission & test this machine.",
        ));
    }
    let scripts = engine::results::select(
        c,
        result_type::TESTING,
        input.testing_scripts.as_deref(),
        &input.parameters,
        "testing_scripts",
    )?;
    if scripts.is_empty() {
        return Err(Error::BadRequest("No testing scripts found!".into()));
    }
    if n.status == Status::Deployed && scripts.iter().any(|s| s.destructive) {
        return Err(Error::field("testing_scripts", "Destructive tests may only be run on undeployed machines."));
    }
    let mut options = Map::new();
    options.insert("enable_ssh".into(), Value::Bool(input.enable_ssh));
    options.insert("requested_by".into(), Value::from(actor.id));
    let req = RunRequest {
        requested: input.testing_scripts.clone().unwrap_or_default(),
        parameters: input.parameters.clone(),
        options,
    };
    engine::results::create_set(c, n, result_type::TESTING, &scripts, &req)?;
    // MAAS also makes the tester the owner of an unowned machine; here the
    // machine keeps its owner (none when Ready), so passing tests cannot
    // leave a Ready machine owned.
    let changes = NodeChanges { netboot: Some(true), ..Default::default() };
    let node = enter_timed(c, n, Status::Testing, &actor.username, "", changes)?;
    event(c, &node, &actor.username, level::INFO, "Testing", "")?;
    request_power(c, &node, &actor.username, engine::power::PowerAction::Cycle)?;
    db::nodes::by_system_id(c, &n.system_id)?.ok_or(Error::NotFound("Machine"))
}

/// Where passing tests take the machine: MAAS's rule — back to NEW for an
/// enlisting machine, READY after the statuses testing resets (failures,
/// broken, missing, retired, new), NEW after failed commissioning, otherwise
/// the status it was tested from.
pub fn after_testing(n: &Node) -> Status {
    if n.enlisting {
        return Status::New;
    }
    match n.previous_status {
        Status::FailedCommissioning => Status::New,
        Status::New
        | Status::Commissioning
        | Status::FailedDeployment
        | Status::Missing
        | Status::Retired
        | Status::Broken
        | Status::FailedReleasing
        | Status::FailedDiskErasing
        | Status::FailedEnteringRescueMode
        | Status::FailedExitingRescueMode
        | Status::FailedTesting => Status::Ready,
        other => other,
    }
}
