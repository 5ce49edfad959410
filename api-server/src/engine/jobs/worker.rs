//! The job worker every region runs: picks due jobs, runs database-only jobs in one transaction and power jobs in claim / act / apply steps.

use crate::db;
use crate::db::jobs::Job;
use crate::db::nodes::NodeChanges;
use crate::db::{Datastore, DbConn};
use crate::engine;
use crate::engine::events::event;
use crate::engine::jobs::power::apply_power;
use crate::engine::jobs::power::power_work;
use crate::engine::jobs::power::rack_claim;
use crate::engine::jobs::power::POWER_LEASE_SECS;
use crate::engine::jobs::queue::enqueue;
use crate::engine::jobs::queue::SYSTEM_ACTOR;
use crate::engine::jobs::queue::{POWER, STATUS_TIMEOUT};
use crate::engine::lifecycle::Status;
use crate::engine::power::PowerHub;
use crate::error::{Error, Result};
use serde_json::Value;
use std::time::Duration;

/// How many BMC conversations one region worker holds open at once.
pub const POWER_CONCURRENCY: usize = 32;

/// Runs due jobs until none is left; returns how many ran.
///
/// Jobs that only touch the database run inside one transaction, their
/// effects in a savepoint: one that fails halfway leaves nothing of its
/// own behind, only the recorded failure (and its retry). Power jobs
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
                    let Some(job) = db::jobs::next_due(c, db::now())? else { return Ok(None) };
                    if let Some(w) = power_work(c, &job)? {
                        let until = db::now() + chrono::Duration::seconds(POWER_LEASE_SECS);
                        // Real BMCs are driven by a connected rack that serves the
                        // machine when there is one (it hands the result back over
                        // the link); otherwise, and for simulated BMCs, by this
                        // process. `next_due` locked the row, so this claim is the
                        // only one, across regions too.
                        if w.power_type != "virtual" {
                            if let Some(rack) = engine::racks::liveness::pick_power_rack(c, w.node_id)? {
                                db::jobs::assign(c, job.id, &rack_claim(&rack), until)?;
                                return Ok(Some(None));
                            }
                        }
                        db::jobs::lease(c, job.id, until)?;
                        return Ok(Some(Some(w)));
                    }
                    // The job's effects are all or nothing: a failure
                    // halfway rolls back what it wrote, then is recorded.
                    match db::savepoint(c, |c| execute(c, &job)) {
                        Ok(()) => db::jobs::delete(c, job.id)?,
                        Err(e) => {
                            tracing::warn!(job = job.id, kind = %job.kind, error = %e, "job failed");
                            let retry =
                                (job.attempts < 5).then(|| db::now() + chrono::Duration::seconds(5 << job.attempts));
                            db::jobs::fail(c, job.id, &e.to_string(), retry)?;
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
    let busy: std::collections::HashSet<i64> = db::jobs::pending_node_ids(c, POWER)?.into_iter().collect();
    let targets = db::nodes::ids_with_bmc(c, engine::lifecycle::NodeType::Machine)?;
    let now = db::now();
    let mut n = 0;
    for id in targets.into_iter().filter(|id| !busy.contains(id)) {
        enqueue(c, POWER, Some(id), serde_json::json!({ "action": "query", "sync": true }), now)?;
        n += 1;
    }
    Ok(n)
}

/// Runs due jobs as soon as a transaction that made one due commits
/// (`db::wake`), and polls twice a second for the rest (jobs scheduled for
/// later, or made due by another region), for as long as the region runs;
/// queues a power-state sync of every machine every `power_sync` (zero:
/// never).
pub fn spawn_worker(db: Datastore, hub: PowerHub, power_sync: Duration) {
    tokio::task::spawn_local(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let mut next_sync = tokio::time::Instant::now() + power_sync;
        let wakeups = db.wakeups().clone();
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = wakeups.jobs.notified() => {}
            }
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

fn execute(c: &mut DbConn, job: &Job) -> Result<()> {
    let payload: Value = serde_json::from_str(&job.payload).map_err(Error::internal)?;
    let Some(node_id) = job.node_id else { return Ok(()) };
    let Some(node) = db::nodes::by_ids(c, &[node_id])?.pop() else { return Ok(()) };
    match job.kind.as_str() {
        STATUS_TIMEOUT => {
            let expected = payload["status"].as_i64().and_then(|s| i32::try_from(s).ok()).and_then(Status::from_code);
            let due = node.status_expires_at.is_some_and(|t| t <= db::now());
            if Some(node.status) != expected {
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
            let st = node.status;
            let Some(failed) = st.failed_counterpart() else { return Ok(()) };
            let minutes = payload["minutes"].as_i64().unwrap_or(0);
            let node = engine::nodes::state::transition(
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
                engine::events::level::ERROR,
                "Marking node failed",
                &format!("Node operation '{}' timed out after {minutes} minutes.", st.label()),
            )?;
            Ok(())
        }
        POWER => {
            // Only power types without a BMC reach here (see `power_work`):
            // nothing to drive and nothing observed, so power_state keeps
            // what the machine last reported.
            if payload["then"].as_str() == Some("finish_release") && node.status == Status::Releasing {
                engine::nodes::release::finish_release(c, &node, SYSTEM_ACTOR)?;
            }
            Ok(())
        }
        other => Err(Error::Internal(format!("unknown job kind {other}"))),
    }
}
