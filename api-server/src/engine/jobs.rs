//! Durable jobs: long operations (power actions, status deadlines) stored in
//! the database and run by a worker in every region. A job and its effects
//! commit in one transaction, so a crash leaves it pending and the next run
//! (after a restart, or on another region sharing PostgreSQL) picks it up.

use std::time::Duration;

use serde_json::Value;

use super::lifecycle::Status;
use super::nodes::{self as engine_nodes, event, level, status_of};
use super::power::{self, PowerDriver};
use crate::db::jobs::{self as jobs_db, Job};
use crate::db::nodes::{self as nodes_db, NodeChanges};
use crate::db::{Datastore, DbConn};
use crate::error::{Error, Result};

/// Fails a node still in an in-progress status when its deadline passes.
pub const STATUS_TIMEOUT: &str = "status_timeout";
/// Performs a power action, then optionally a continuation (`then`).
pub const POWER: &str = "power";

const SYSTEM_ACTOR: &str = "ironpool";

pub fn enqueue(
    c: &mut DbConn,
    kind: &str,
    node_id: Option<i64>,
    payload: Value,
    run_after: chrono::NaiveDateTime,
) -> Result<()> {
    jobs_db::insert(c, kind, node_id, &payload.to_string(), run_after)
}

/// Runs due jobs until none is left; returns how many ran.
pub async fn run_due(db: &Datastore) -> Result<usize> {
    let mut ran = 0;
    loop {
        let did = db
            .write(|c| {
                let Some(job) = jobs_db::next_due(c, super::now())? else { return Ok(false) };
                match execute(c, &job) {
                    Ok(()) => jobs_db::delete(c, job.id)?,
                    Err(e) => {
                        tracing::warn!(job = job.id, kind = %job.kind, error = %e, "job failed");
                        let retry =
                            (job.attempts < 5).then(|| super::now() + chrono::Duration::seconds(5 << job.attempts));
                        jobs_db::fail(c, job.id, &e.to_string(), retry)?;
                    }
                }
                Ok(true)
            })
            .await?;
        if !did {
            return Ok(ran);
        }
        ran += 1;
    }
}

/// Polls for due jobs once a second for as long as the region runs.
pub fn spawn_worker(db: Datastore) {
    actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tick.tick().await;
            if let Err(e) = run_due(&db).await {
                tracing::warn!(error = %e, "job worker");
            }
        }
    });
}

fn execute(c: &mut DbConn, job: &Job) -> Result<()> {
    let payload: Value = serde_json::from_str(&job.payload).map_err(Error::internal)?;
    let Some(node_id) = job.node_id else { return Ok(()) };
    let Some(node) = nodes_db::by_ids(c, &[node_id])?.pop() else { return Ok(()) };
    match job.kind.as_str() {
        STATUS_TIMEOUT => {
            let expected = payload["status"].as_i64().unwrap_or(-1) as i32;
            let due = node.status_expires_at.is_some_and(|t| t <= super::now());
            if node.status != expected || !due {
                return Ok(()); // the operation finished (or restarted) in time
            }
            let st = status_of(&node);
            let Some(failed) = st.failed_counterpart() else { return Ok(()) };
            let minutes = payload["minutes"].as_i64().unwrap_or(0);
            let node = engine_nodes::transition(
                c,
                &node,
                failed,
                SYSTEM_ACTOR,
                "",
                NodeChanges { status_expires_at: Some(None), ..Default::default() },
            )?;
            // Logged after the status change so it becomes the status message.
            event(
                c,
                &node,
                SYSTEM_ACTOR,
                level::ERROR,
                "Marking node failed",
                &format!("Node operation '{}' timed out after {minutes} minutes.", st.label()),
            )?;
            Ok(())
        }
        POWER => {
            let action_name = payload["action"].as_str().unwrap_or("query");
            let action = power::PowerAction::parse(action_name)
                .ok_or_else(|| Error::Internal(format!("power job with unknown action {action_name}")))?;
            let then = payload["then"].as_str();
            if power::region_can_drive(&node.power_type) {
                // Only an observed state is recorded: a driver that cannot see
                // the machine must not overwrite what the machine reported
                // (a deployed OS that signalled success is `on`).
                if let Some(state) = power::ManualDriver.act(action, &Default::default()).map_err(Error::Unavailable)? {
                    nodes_db::update(c, node.id, &NodeChanges { power_state: Some(state), ..Default::default() })?;
                }
                if then == Some("finish_release") && status_of(&node) == Status::Releasing {
                    engine_nodes::finish_release(c, &node, SYSTEM_ACTOR)?;
                }
                return Ok(());
            }
            // BMC drivers run on rack controllers; none is connected yet.
            let why = format!(
                "no rack controller is connected to drive '{}' power (power {action_name} not performed)",
                node.power_type
            );
            nodes_db::update(c, node.id, &NodeChanges { power_state: Some("error".into()), ..Default::default() })?;
            let title =
                if action == power::PowerAction::Off { "Failed to power off node" } else { "Failed to power on node" };
            event(c, &node, SYSTEM_ACTOR, level::ERROR, title, &why)?;
            if then == Some("finish_release") && status_of(&node) == Status::Releasing {
                let node = nodes_db::by_ids(c, &[node.id])?.pop().ok_or(Error::NotFound("Machine"))?;
                engine_nodes::transition(
                    c,
                    &node,
                    Status::FailedReleasing,
                    SYSTEM_ACTOR,
                    "",
                    NodeChanges { status_expires_at: Some(None), ..Default::default() },
                )?;
            }
            Ok(())
        }
        other => Err(Error::Internal(format!("unknown job kind {other}"))),
    }
}
