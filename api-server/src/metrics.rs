//! The region's Prometheus metrics (`GET /metrics`, `/MAAS/metrics`).
//!
//! Request counts and latencies are recorded as requests finish, labelled
//! by the routed handler and action (MAAS's handler class and op, never the
//! raw path, so label values stay bounded) and the status code. The
//! prometheus crate keeps each label set's series behind a read-mostly map
//! and counts with atomics, so recording takes no lock held across
//! requests. Everything else is computed when scraped: the database pool's
//! occupancy, the job queue and rack sync lag, and machines by status from
//! one GROUP BY (never one series update per machine change).
//!
//! Each region owns its registry (tests run several regions in one
//! process), so nothing here is global.

use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::db;
use crate::db::types::NodeType;
use crate::db::Datastore;
use crate::engine::racks::liveness;
use crate::error::{Error, Result};

/// Where a request went, as the request log and the metrics name it.
#[derive(Debug, Clone, Copy)]
pub struct RouteLabel {
    /// The handler class (`MachinesHandler`) or a router's name (`metadata`).
    pub handler: &'static str,
    /// The op, or the CRUD action (`read`, `create`, `update`, `delete`);
    /// `-` when the request failed before an action was chosen.
    pub action: &'static str,
}

impl RouteLabel {
    /// A request no handler took (unknown path).
    pub const UNROUTED: RouteLabel = RouteLabel { handler: "unrouted", action: "-" };
}

/// The region's registry and the series recorded as requests finish.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    machines: IntGaugeVec,
    pool: IntGaugeVec,
    jobs: IntGaugeVec,
    oldest_due_job: Gauge,
    racks_connected: IntGauge,
    rack_sync_age: GaugeVec,
}

fn register<T: prometheus::core::Collector + Clone + 'static>(registry: &Registry, m: T) -> Result<T> {
    registry.register(Box::new(m.clone())).map_err(internal)?;
    Ok(m)
}

fn internal(e: prometheus::Error) -> Error {
    Error::Internal(format!("metrics: {e}"))
}

impl Metrics {
    pub fn new() -> Result<Metrics> {
        let r = Registry::new();
        let requests = register(
            &r,
            IntCounterVec::new(
                Opts::new(
                    "ironpool_http_requests_total",
                    "HTTP requests finished, by routed handler, action and status.",
                ),
                &["handler", "action", "status"],
            )
            .map_err(internal)?,
        )?;
        let latency = register(
            &r,
            HistogramVec::new(
                HistogramOpts::new(
                    "ironpool_http_request_duration_seconds",
                    "Time from request start to response, by routed handler, action and status.",
                )
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
                &["handler", "action", "status"],
            )
            .map_err(internal)?,
        )?;
        let machines = register(
            &r,
            IntGaugeVec::new(Opts::new("ironpool_machines", "Machines by status (status_name)."), &["status"])
                .map_err(internal)?,
        )?;
        let pool = register(
            &r,
            IntGaugeVec::new(
                Opts::new(
                    "ironpool_db_pool_connections",
                    "Database pool: connections in_use, idle, max, and calls waiting for one.",
                ),
                &["state"],
            )
            .map_err(internal)?,
        )?;
        let jobs = register(
            &r,
            IntGaugeVec::new(
                Opts::new("ironpool_jobs", "Jobs in the queue: pending (all) and due (pending and runnable now)."),
                &["state"],
            )
            .map_err(internal)?,
        )?;
        let oldest_due_job = register(
            &r,
            Gauge::new(
                "ironpool_jobs_oldest_due_age_seconds",
                "How long the longest-waiting due job has been due (0 when none is).",
            )
            .map_err(internal)?,
        )?;
        let racks_connected = register(
            &r,
            IntGauge::new("ironpool_racks_connected", "Rack controllers that synced within the liveness window.")
                .map_err(internal)?,
        )?;
        let rack_sync_age = register(
            &r,
            GaugeVec::new(
                Opts::new("ironpool_rack_last_sync_age_seconds", "Seconds since each rack controller last synced."),
                &["rack"],
            )
            .map_err(internal)?,
        )?;
        Ok(Metrics {
            registry: r,
            requests,
            latency,
            machines,
            pool,
            jobs,
            oldest_due_job,
            racks_connected,
            rack_sync_age,
        })
    }

    /// Records one finished request.
    pub fn observe(&self, route: RouteLabel, status: u16, seconds: f64) {
        let status = status.to_string();
        let labels = [route.handler, route.action, status.as_str()];
        self.requests.with_label_values(&labels).inc();
        self.latency.with_label_values(&labels).observe(seconds);
    }

    /// Reads the gauges from the database and renders every series in the
    /// text exposition format.
    pub async fn render(&self, db: &Datastore) -> Result<String> {
        let pool = db.pool_status();
        let now = db::now();
        let (by_status, (pending, due, oldest), racks) = db
            .run(move |c| {
                Ok((
                    db::nodes::count_by_status(c, NodeType::Machine)?,
                    db::jobs::queue_depth(c, now)?,
                    db::racks::last_seen_all(c)?,
                ))
            })
            .await?;

        // Every status is shown, zero included, so a status that empties
        // reads 0 instead of keeping its last value.
        for s in db::types::ALL {
            let n = by_status.iter().find(|(st, _)| *st == s).map_or(0, |(_, n)| *n);
            self.machines.with_label_values(&[s.label()]).set(n);
        }
        let in_use = i64::from(pool.open.saturating_sub(pool.idle));
        self.pool.with_label_values(&["in_use"]).set(in_use);
        self.pool.with_label_values(&["idle"]).set(i64::from(pool.idle));
        self.pool.with_label_values(&["max"]).set(i64::from(pool.max));
        self.pool.with_label_values(&["waiting"]).set(pool.waiting);
        self.jobs.with_label_values(&["pending"]).set(pending);
        self.jobs.with_label_values(&["due"]).set(due);
        self.oldest_due_job.set(oldest.map_or(0.0, |t| seconds_since(now, t)));
        // A deleted rack's series goes with it.
        self.rack_sync_age.reset();
        let mut connected = 0;
        for (system_id, last_seen) in &racks {
            let age = seconds_since(now, *last_seen);
            if age <= liveness::STALE_SECS as f64 {
                connected += 1;
            }
            self.rack_sync_age.with_label_values(&[system_id.as_str()]).set(age);
        }
        self.racks_connected.set(connected);

        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out).map_err(internal)?;
        String::from_utf8(out).map_err(|e| Error::Internal(format!("metrics: {e}")))
    }
}

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn seconds_since(now: chrono::NaiveDateTime, then: chrono::NaiveDateTime) -> f64 {
    ((now - then).num_milliseconds() as f64 / 1000.0).max(0.0)
}
