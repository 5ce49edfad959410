//! Durable jobs: long operations (power actions, status deadlines) stored in
//! the database and run by a worker in every region. A job and its effects
//! commit in one transaction, so a crash leaves it pending and the next run
//! (after a restart, or on another region sharing PostgreSQL) picks it up.

use std::time::Duration;

use serde_json::Value;

use super::lifecycle::Status;
use super::nodes::{self as engine_nodes, event, level, status_of};
use super::power::{self, PowerAction, PowerHub};
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

/// A power action to perform against a BMC outside any transaction.
struct PowerWork {
    job: Job,
    node_id: i64,
    power_type: String,
    params: power::PowerParams,
    action: PowerAction,
}

/// How long a claimed power job stays invisible to other workers while its
/// BMC call runs. A region that dies mid-call leaves the job to be retried
/// after this lease.
const POWER_LEASE_SECS: i64 = 120;

/// How many BMC conversations one region worker holds open at once.
pub const POWER_CONCURRENCY: usize = 32;

/// Runs due jobs until none is left; returns how many ran.
///
/// Jobs that only touch the database run inside one transaction. Power jobs
/// for real BMCs run in three steps so no transaction stays open during the
/// (seconds-long) BMC conversation: claim (push `run_after` out by a lease),
/// act, then apply the result and delete the job in a second transaction.
/// Up to [`POWER_CONCURRENCY`] claimed power jobs run at once, so one slow
/// BMC never holds up the rest (a power sync of every machine included).
pub async fn run_due(db: &Datastore, hub: &PowerHub) -> Result<usize> {
    use futures_util::StreamExt;
    let mut ran = 0;
    loop {
        let mut batch = Vec::new();
        let mut done = false;
        while batch.len() < POWER_CONCURRENCY {
            let work = db
                .write(|c| {
                    let Some(job) = jobs_db::next_due(c, super::now())? else { return Ok(None) };
                    if let Some(w) = power_work(c, &job)? {
                        let until = super::now() + chrono::Duration::seconds(POWER_LEASE_SECS);
                        // Real BMCs are driven by a connected rack when there is
                        // one (it hands the result back over the link); otherwise,
                        // and for simulated BMCs, by this process.
                        if w.power_type != "virtual" {
                            if let Some(rack) = super::racks::pick_power_rack(c)? {
                                jobs_db::assign(c, job.id, &rack_claim(&rack), until)?;
                                return Ok(Some(None));
                            }
                        }
                        jobs_db::lease(c, job.id, until)?;
                        return Ok(Some(Some(w)));
                    }
                    match execute(c, &job) {
                        Ok(()) => jobs_db::delete(c, job.id)?,
                        Err(e) => {
                            tracing::warn!(job = job.id, kind = %job.kind, error = %e, "job failed");
                            let retry =
                                (job.attempts < 5).then(|| super::now() + chrono::Duration::seconds(5 << job.attempts));
                            jobs_db::fail(c, job.id, &e.to_string(), retry)?;
                        }
                    }
                    Ok(Some(None))
                })
                .await?;
            match work {
                None => {
                    done = true;
                    break;
                }
                Some(None) => ran += 1,
                Some(Some(w)) => batch.push(w),
            }
        }
        ran += batch.len();
        let results: Vec<_> = futures_util::stream::iter(batch)
            .map(|w| async move {
                let result = hub.drivers.act(&w.power_type, w.action, &w.params, &hub.retry).await;
                (w, result)
            })
            .buffer_unordered(POWER_CONCURRENCY)
            .collect()
            .await;
        for (w, result) in results {
            db.write(move |c| apply_power(c, &w, result)).await?;
        }
        if done {
            return Ok(ran);
        }
    }
}

/// Queues a power query for every machine with a BMC (not manual) that has
/// no power job pending: the periodic power-state sync. One transaction,
/// two queries however many machines; the queries then run like any power
/// job, on a rack or here, [`POWER_CONCURRENCY`] at a time.
pub fn enqueue_power_sync(c: &mut DbConn) -> Result<usize> {
    let busy: std::collections::HashSet<i64> = jobs_db::pending_node_ids(c, POWER)?.into_iter().collect();
    let targets = nodes_db::ids_with_bmc(c, super::lifecycle::NodeType::Machine as i32)?;
    let now = super::now();
    let mut n = 0;
    for id in targets.into_iter().filter(|id| !busy.contains(id)) {
        enqueue(c, POWER, Some(id), serde_json::json!({ "action": "query", "sync": true }), now)?;
        n += 1;
    }
    Ok(n)
}

/// Polls for due jobs twice a second for as long as the region runs, and
/// queues a power-state sync of every machine every `power_sync` (zero: never).
pub fn spawn_worker(db: Datastore, hub: PowerHub, power_sync: Duration) {
    actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let mut next_sync = tokio::time::Instant::now() + power_sync;
        loop {
            tick.tick().await;
            if !power_sync.is_zero() && tokio::time::Instant::now() >= next_sync {
                next_sync = tokio::time::Instant::now() + power_sync;
                match db.write(enqueue_power_sync).await {
                    Ok(n) => tracing::debug!(machines = n, "power-state sync queued"),
                    Err(e) => tracing::warn!(error = %e, "power-state sync"),
                }
            }
            if let Err(e) = run_due(&db, &hub).await {
                tracing::warn!(error = %e, "job worker");
            }
        }
    });
}

/// A power job that needs a BMC driver, with what the driver needs.
fn power_work(c: &mut DbConn, job: &Job) -> Result<Option<PowerWork>> {
    if job.kind != POWER {
        return Ok(None);
    }
    let Some(node) = job.node_id.and_then(|id| nodes_db::by_ids(c, &[id]).ok()).and_then(|mut v| v.pop()) else {
        return Ok(None);
    };
    if power::region_can_drive(&node.power_type) {
        return Ok(None);
    }
    let payload: Value = serde_json::from_str(&job.payload).map_err(Error::internal)?;
    let name = payload["action"].as_str().unwrap_or("query");
    let action =
        PowerAction::parse(name).ok_or_else(|| Error::Internal(format!("power job with unknown action {name}")))?;
    let params: power::PowerParams = serde_json::from_str(&node.power_parameters).unwrap_or_default();
    Ok(Some(PowerWork { job: job.clone(), node_id: node.id, power_type: node.power_type, params, action }))
}

/// Records a BMC's answer: the observed power state, or `error` with an
/// event saying what failed (never the credentials), then the job's
/// continuation. The job is done either way: drivers already retried
/// transient failures, and a rejected password must not be retried into a
/// BMC lockout.
fn apply_power(
    c: &mut DbConn,
    w: &PowerWork,
    result: std::result::Result<Option<power::PowerState>, ironpool_common::power::PowerError>,
) -> Result<()> {
    jobs_db::delete(c, w.job.id)?;
    let Some(node) = nodes_db::by_ids(c, &[w.node_id])?.pop() else { return Ok(()) };
    let payload: Value = serde_json::from_str(&w.job.payload).unwrap_or_default();
    let then = payload["then"].as_str();
    match result {
        Ok(state) => {
            if let Some(state) = state {
                nodes_db::update(
                    c,
                    node.id,
                    &NodeChanges { power_state: Some(state.as_str().into()), ..Default::default() },
                )?;
            }
            if then == Some("finish_release") && status_of(&node) == Status::Releasing {
                engine_nodes::finish_release(c, &node, SYSTEM_ACTOR)?;
            }
        }
        Err(e) => {
            let why = format!("{} ({} error): {e}", w.power_type, e.kind());
            power_failed(c, &node, w.action, &why, then)?;
        }
    }
    Ok(())
}

/// Records the answer of a direct power query; a failure is recorded like a
/// failed job (committed) and handed back as the reason, for a 503.
pub fn record_query(
    c: &mut DbConn,
    node_id: i64,
    result: std::result::Result<Option<power::PowerState>, ironpool_common::power::PowerError>,
) -> Result<std::result::Result<String, String>> {
    let node = nodes_db::by_ids(c, &[node_id])?.pop().ok_or(Error::NotFound("Machine"))?;
    match result {
        Ok(Some(state)) => {
            nodes_db::update(
                c,
                node.id,
                &NodeChanges { power_state: Some(state.as_str().into()), ..Default::default() },
            )?;
            Ok(Ok(state.as_str().to_string()))
        }
        Ok(None) => Ok(Ok(node.power_state)),
        Err(e) => {
            let why = format!("{} ({} error): {e}", node.power_type, e.kind());
            power_failed(c, &node, PowerAction::Query, &why, None)?;
            Ok(Err(format!("Unable to query the power state of {}: {why}", node.system_id)))
        }
    }
}

/// Marks a power action failed: power_state `error`, an event with the
/// reason, and a release waiting on it moves to FAILED_RELEASING.
fn power_failed(
    c: &mut DbConn,
    node: &crate::db::nodes::Node,
    action: PowerAction,
    why: &str,
    then: Option<&str>,
) -> Result<()> {
    nodes_db::update(c, node.id, &NodeChanges { power_state: Some("error".into()), ..Default::default() })?;
    let title = match action {
        PowerAction::Off => "Failed to power off node",
        PowerAction::Cycle => "Failed to power cycle node",
        PowerAction::Query => "Failed to query node's BMC",
        PowerAction::On => "Failed to power on node",
    };
    event(c, node, SYSTEM_ACTOR, level::ERROR, title, why)?;
    if then == Some("finish_release") && status_of(node) == Status::Releasing {
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

fn execute(c: &mut DbConn, job: &Job) -> Result<()> {
    let payload: Value = serde_json::from_str(&job.payload).map_err(Error::internal)?;
    let Some(node_id) = job.node_id else { return Ok(()) };
    let Some(node) = nodes_db::by_ids(c, &[node_id])?.pop() else { return Ok(()) };
    match job.kind.as_str() {
        STATUS_TIMEOUT => {
            let expected = payload["status"].as_i64().unwrap_or(-1) as i32;
            let due = node.status_expires_at.is_some_and(|t| t <= super::now());
            if node.status != expected {
                return Ok(()); // the operation finished (or restarted) in time
            }
            if !due {
                // The machine reported progress and its deadline moved: wait
                // for the new one (the job row is the durable timer).
                if let Some(later) = node.status_expires_at {
                    enqueue(c, STATUS_TIMEOUT, Some(node.id), payload.clone(), later)?;
                }
                return Ok(());
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
            // Only power types without a BMC reach here (see `power_work`):
            // nothing to drive and nothing observed, so power_state keeps
            // what the machine last reported.
            if payload["then"].as_str() == Some("finish_release") && status_of(&node) == Status::Releasing {
                engine_nodes::finish_release(c, &node, SYSTEM_ACTOR)?;
            }
            Ok(())
        }
        other => Err(Error::Internal(format!("unknown job kind {other}"))),
    }
}

/// The `claimed_by` value of jobs handed to rack `system_id`.
pub fn rack_claim(system_id: &str) -> String {
    format!("rack:{system_id}")
}

/// The power commands rack `system_id` holds, for its next sync.
pub fn rack_power_commands(c: &mut DbConn, system_id: &str) -> Result<Vec<ironpool_rack::link::proto::PowerCommand>> {
    let mut out = Vec::new();
    for job in jobs_db::claimed_by(c, &rack_claim(system_id), super::now())? {
        if let Some(w) = power_work(c, &job)? {
            out.push(ironpool_rack::link::proto::PowerCommand {
                job_id: job.id,
                system_id: nodes_db::by_ids(c, &[w.node_id])?.pop().map(|n| n.system_id).unwrap_or_default(),
                power_type: w.power_type,
                action: w.action.as_str().to_string(),
                params: w.params,
            });
        }
    }
    Ok(out)
}

/// Applies what a rack reports for a job it was handed; results for jobs
/// it does not hold (already applied, or re-assigned) are ignored.
pub fn apply_rack_result(c: &mut DbConn, system_id: &str, r: &ironpool_rack::link::proto::PowerResult) -> Result<bool> {
    let Some(job) = jobs_db::by_id(c, r.job_id)? else { return Ok(false) };
    if job.claimed_by.as_deref() != Some(rack_claim(system_id).as_str()) {
        return Ok(false);
    }
    let Some(w) = power_work(c, &job)? else {
        jobs_db::delete(c, job.id)?;
        return Ok(false);
    };
    let result = match (&r.error, &r.state) {
        (Some(e), _) => Err(e.clone()),
        (None, Some(s)) => Ok(power::PowerState::parse(s)),
        (None, None) => Ok(None),
    };
    apply_power(c, &w, result)?;
    Ok(true)
}
