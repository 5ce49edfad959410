//! Power jobs: what a BMC call needs, and applying its answer (whether the region or a rack made the call).

use crate::db;
use crate::db::jobs::Job;
use crate::db::nodes::NodeChanges;
use crate::db::DbConn;
use crate::engine;
use crate::engine::events::event;
use crate::engine::jobs::queue::POWER;
use crate::engine::jobs::queue::SYSTEM_ACTOR;
use crate::engine::lifecycle::Status;
use crate::engine::power::PowerAction;
use crate::error::{Error, Result};
use serde_json::Value;

/// A power action to perform against a BMC outside any transaction.
pub(crate) struct PowerWork {
    pub(crate) job: Job,
    pub(crate) node_id: i64,
    pub(crate) power_type: String,
    pub(crate) params: engine::power::PowerParams,
    pub(crate) action: PowerAction,
}

/// How long a claimed power job stays invisible to other workers while its
/// BMC call runs. A region that dies mid-call leaves the job to be retried
/// after this lease.
pub(crate) const POWER_LEASE_SECS: i64 = 120;

/// A power job that needs a BMC driver, with what the driver needs.
pub(crate) fn power_work(c: &mut DbConn, job: &Job) -> Result<Option<PowerWork>> {
    if job.kind != POWER {
        return Ok(None);
    }
    let Some(node) = job.node_id.and_then(|id| db::nodes::by_ids(c, &[id]).ok()).and_then(|mut v| v.pop()) else {
        return Ok(None);
    };
    // Quarantined settings (anonymous enlistment) are never handed to a
    // driver, here or on a rack: the job completes like a manual one.
    if engine::power::region_can_drive(&node.power_type) || node.power_quarantined {
        return Ok(None);
    }
    let payload: Value = serde_json::from_str(&job.payload).map_err(Error::internal)?;
    let name = payload["action"].as_str().unwrap_or("query");
    let action =
        PowerAction::parse(name).ok_or_else(|| Error::Internal(format!("power job with unknown action {name}")))?;
    let params = engine::power::driver_params(&node.system_id, &node.power_parameters);
    Ok(Some(PowerWork { job: job.clone(), node_id: node.id, power_type: node.power_type, params, action }))
}

/// Records a BMC's answer: the observed power state, or `error` with an
/// event saying what failed (never the credentials), then the job's
/// continuation. The job is done either way: drivers already retried
/// transient failures, and a rejected password must not be retried into a
/// BMC lockout.
pub(crate) fn apply_power(
    c: &mut DbConn,
    w: &PowerWork,
    result: std::result::Result<Option<engine::power::PowerState>, ironpool_common::power::PowerError>,
) -> Result<()> {
    db::jobs::delete(c, w.job.id)?;
    let Some(node) = db::nodes::by_ids(c, &[w.node_id])?.pop() else { return Ok(()) };
    let payload: Value = serde_json::from_str(&w.job.payload).unwrap_or_default();
    let then = payload["then"].as_str();
    match result {
        Ok(state) => {
            if let Some(state) = state {
                db::nodes::update(
                    c,
                    node.id,
                    &NodeChanges { power_state: Some(state.as_str().into()), ..Default::default() },
                )?;
            }
            if then == Some("finish_release") && node.status == Status::Releasing {
                engine::nodes::release::finish_release(c, &node, SYSTEM_ACTOR)?;
            }
        }
        Err(e) => {
            let why = format!("{} ({} error): {e}", w.power_type, e.kind());
            power_failed(c, &node, w.action, &why, then)?;
        }
    }
    Ok(())
}

/// A power query for `node` handed straight to the rack that drives its BMC,
/// as MAAS asks its rack (the BMC network is often reachable from the rack
/// only). The job is assigned in the same transaction it is created in, so
/// no worker takes it, and the rack's long-polled sync picks it up at once.
/// `None` when the region drives this power type itself, or no rack is
/// connected: the caller asks the BMC from here.
pub fn query_on_rack(c: &mut DbConn, node: &db::nodes::Node) -> Result<Option<RackQuery>> {
    if engine::power::region_can_drive(&node.power_type) || node.power_quarantined {
        return Ok(None);
    }
    let Some(rack) = engine::racks::liveness::pick_power_rack(c, node.id)? else { return Ok(None) };
    let events_before = db::events::max_id(c)?;
    let now = db::now();
    let payload = serde_json::json!({ "action": "query" }).to_string();
    let job = db::jobs::insert_returning_id(c, POWER, Some(node.id), &payload, now)?;
    db::jobs::assign(c, job, &rack_claim(&rack), now + chrono::Duration::seconds(POWER_LEASE_SECS))?;
    Ok(Some(RackQuery { job, node_id: node.id, events_before, rack }))
}

/// A power query a rack is running for [`wait_for_query`].
#[derive(Debug, Clone)]
pub struct RackQuery {
    job: i64,
    node_id: i64,
    events_before: i64,
    rack: String,
}

/// How long `query_power_state` waits for a rack's answer (a BMC that does
/// not answer takes the driver's retries first).
pub const RACK_QUERY_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Waits for the rack's answer to `q`: the state, or why not (for a 503),
/// including no answer within [`RACK_QUERY_WAIT`] (the job stays with the
/// rack and is recorded when it comes).
pub async fn wait_for_query(db: &db::Datastore, q: RackQuery) -> Result<std::result::Result<String, String>> {
    let deadline = tokio::time::Instant::now() + RACK_QUERY_WAIT;
    loop {
        let (job, node_id, before) = (q.job, q.node_id, q.events_before);
        if let Some(outcome) = db.run(move |c| query_outcome(c, job, node_id, before)).await? {
            return Ok(outcome);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(Err(format!(
                "Rack controller {} did not answer the power query within {} seconds.",
                q.rack,
                RACK_QUERY_WAIT.as_secs()
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Where a query from [`query_on_rack`] stands: `None` while its job is
/// pending; then the observed state, or why it failed (the newest
/// "Failed to query node's BMC" event after `events_before`, for a 503).
pub fn query_outcome(
    c: &mut DbConn,
    job_id: i64,
    node_id: i64,
    events_before: i64,
) -> Result<Option<std::result::Result<String, String>>> {
    if db::jobs::by_id(c, job_id)?.is_some() {
        return Ok(None);
    }
    let node = db::nodes::by_ids(c, &[node_id])?.pop().ok_or(Error::NotFound("Machine"))?;
    if node.power_state != "error" {
        return Ok(Some(Ok(node.power_state)));
    }
    let q = db::events::EventQuery {
        node_ids: Some(vec![node.id]),
        min_level: 0,
        exact_level: None,
        before: None,
        after: Some(events_before),
        limit: 50,
    };
    let why = db::events::query(c, &q)?
        .into_iter()
        .find(|e| e.type_name == "Failed to query node's BMC")
        .map(|e| e.description)
        .unwrap_or_else(|| "the rack reported no reason".into());
    Ok(Some(Err(format!("Unable to query the power state of {}: {why}", node.system_id))))
}

/// Records the answer of a direct power query; a failure is recorded like a
/// failed job (committed) and handed back as the reason, for a 503.
pub fn record_query(
    c: &mut DbConn,
    node_id: i64,
    result: std::result::Result<Option<engine::power::PowerState>, ironpool_common::power::PowerError>,
) -> Result<std::result::Result<String, String>> {
    let node = db::nodes::by_ids(c, &[node_id])?.pop().ok_or(Error::NotFound("Machine"))?;
    match result {
        Ok(Some(state)) => {
            db::nodes::update(
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
pub(crate) fn power_failed(
    c: &mut DbConn,
    node: &db::nodes::Node,
    action: PowerAction,
    why: &str,
    then: Option<&str>,
) -> Result<()> {
    db::nodes::update(c, node.id, &NodeChanges { power_state: Some("error".into()), ..Default::default() })?;
    let title = match action {
        PowerAction::Off => "Failed to power off node",
        PowerAction::Cycle => "Failed to power cycle node",
        PowerAction::Query => "Failed to query node's BMC",
        PowerAction::On => "Failed to power on node",
    };
    event(c, node, SYSTEM_ACTOR, engine::events::level::ERROR, title, why)?;
    if then == Some("finish_release") && node.status == Status::Releasing {
        let node = db::nodes::by_ids(c, &[node.id])?.pop().ok_or(Error::NotFound("Machine"))?;
        engine::nodes::state::transition(
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

/// The `claimed_by` value of jobs handed to rack `system_id`.
pub fn rack_claim(system_id: &str) -> String {
    format!("rack:{system_id}")
}

/// The power commands rack `system_id` holds, for its next sync.
pub fn rack_power_commands(c: &mut DbConn, system_id: &str) -> Result<Vec<ironpool_common::rack_link::PowerCommand>> {
    let mut out = Vec::new();
    for job in db::jobs::claimed_by(c, &rack_claim(system_id), db::now())? {
        if let Some(w) = power_work(c, &job)? {
            out.push(ironpool_common::rack_link::PowerCommand {
                job_id: job.id,
                system_id: db::nodes::by_ids(c, &[w.node_id])?.pop().map(|n| n.system_id).unwrap_or_default(),
                power_type: w.power_type,
                action: w.action.as_str().to_string(),
                params: w.params,
            });
        }
    }
    Ok(out)
}

/// Applies what a rack reports for a job leased to it. Results for jobs it
/// does not hold (already applied, leased to another rack, never existed)
/// change nothing and are not counted: a rack whose lease ran out reports
/// late in good faith, so this is not an error, but nobody can set a
/// machine's power state through a job that is not theirs. The row is
/// locked so two regions taking the same report apply it once.
pub fn apply_rack_result(c: &mut DbConn, system_id: &str, r: &ironpool_common::rack_link::PowerResult) -> Result<bool> {
    let Some(job) = db::jobs::by_id_locked(c, r.job_id)? else { return Ok(false) };
    if job.kind != POWER || job.claimed_by.as_deref() != Some(rack_claim(system_id).as_str()) {
        if job.claimed_by.as_deref().is_some_and(|h| h.starts_with("rack:")) {
            tracing::warn!(job = job.id, rack = %system_id, holder = ?job.claimed_by, "power result for a job leased to another rack ignored");
        }
        return Ok(false);
    }
    let Some(w) = power_work(c, &job)? else {
        db::jobs::delete(c, job.id)?;
        return Ok(false);
    };
    let result = match (&r.error, &r.state) {
        (Some(e), _) => Err(e.clone()),
        (None, Some(s)) => Ok(engine::power::PowerState::parse(s)),
        (None, None) => Ok(None),
    };
    apply_power(c, &w, result)?;
    Ok(true)
}
