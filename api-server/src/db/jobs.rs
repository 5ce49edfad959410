//! Queries of the durable job queue.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::jobs;
use crate::db::wake::{self, Wake};
use crate::db::{from_diesel, DbConn};
use crate::error::Result;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = jobs)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub node_id: Option<i64>,
    pub payload: String,
    pub state: String,
    pub run_after: NaiveDateTime,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub claimed_by: Option<String>,
    pub claimed_until: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn insert(c: &mut DbConn, kind: &str, node_id: Option<i64>, payload: &str, run_after: NaiveDateTime) -> Result<()> {
    insert_returning_id(c, kind, node_id, payload, run_after).map(|_| ())
}

/// [`insert`], answering the new job's id.
pub fn insert_returning_id(
    c: &mut DbConn,
    kind: &str,
    node_id: Option<i64>,
    payload: &str,
    run_after: NaiveDateTime,
) -> Result<i64> {
    let now = super::now();
    let id = diesel::insert_into(jobs::table)
        .values((
            jobs::kind.eq(kind),
            jobs::node_id.eq(node_id),
            jobs::payload.eq(payload),
            jobs::state.eq("pending"),
            jobs::run_after.eq(run_after),
            jobs::attempts.eq(0),
            jobs::created_at.eq(now),
            jobs::updated_at.eq(now),
        ))
        .returning(jobs::id)
        .get_result(c)
        .map_err(from_diesel)?;
    if run_after <= now {
        // Due now: the worker need not wait for its next poll.
        wake::mark(Wake::Jobs);
    }
    Ok(id)
}

/// The oldest pending job that is due, if any, locked for this
/// transaction. On PostgreSQL it is `FOR UPDATE SKIP LOCKED`: regions
/// sharing the database never pick the same job, since a row another
/// region is claiming is skipped, and once that claim commits its lease
/// (`run_after` pushed out) makes the job not due. SQLite has one writer
/// (`BEGIN IMMEDIATE`), so a plain read inside the write transaction is
/// already exclusive.
pub fn next_due(c: &mut DbConn, now: NaiveDateTime) -> Result<Option<Job>> {
    // Built per backend: the selection is typed by the backend it loads from.
    let due = || jobs::table.filter(jobs::state.eq("pending")).filter(jobs::run_after.le(now));
    match c {
        DbConn::Pg(pg) => {
            due().order((jobs::run_after, jobs::id)).select(Job::as_select()).for_update().skip_locked().first(pg)
        }
        DbConn::Sqlite(lite) => due().order((jobs::run_after, jobs::id)).select(Job::as_select()).first(lite),
    }
    .optional()
    .map_err(from_diesel)
}

/// A job locked until the transaction ends (PostgreSQL `FOR UPDATE`), so
/// two regions applying results for one job serialise and the second finds
/// it gone.
pub fn by_id_locked(c: &mut DbConn, id: i64) -> Result<Option<Job>> {
    match c {
        DbConn::Pg(pg) => jobs::table.find(id).select(Job::as_select()).for_update().first(pg),
        DbConn::Sqlite(lite) => jobs::table.find(id).select(Job::as_select()).first(lite),
    }
    .optional()
    .map_err(from_diesel)
}

pub fn delete(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(jobs::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

pub fn fail(c: &mut DbConn, id: i64, error: &str, retry_at: Option<NaiveDateTime>) -> Result<()> {
    let now = super::now();
    let q = diesel::update(jobs::table.find(id));
    match retry_at {
        Some(at) => q
            .set((
                jobs::attempts.eq(jobs::attempts + 1),
                jobs::last_error.eq(error),
                jobs::run_after.eq(at),
                jobs::updated_at.eq(now),
            ))
            .execute(c),
        None => q
            .set((
                jobs::attempts.eq(jobs::attempts + 1),
                jobs::last_error.eq(error),
                jobs::state.eq("failed"),
                jobs::updated_at.eq(now),
            ))
            .execute(c),
    }
    .map_err(from_diesel)?;
    Ok(())
}

pub fn pending_for_node(c: &mut DbConn, node_id: i64) -> Result<Vec<Job>> {
    jobs::table
        .filter(jobs::node_id.eq(node_id))
        .filter(jobs::state.eq("pending"))
        .order(jobs::id)
        .select(Job::as_select())
        .load(c)
        .map_err(from_diesel)
}

/// Pushes a claimed job's `run_after` out (a lease while it runs outside a
/// transaction) and counts the attempt.
pub fn lease(c: &mut DbConn, id: i64, until: NaiveDateTime) -> Result<()> {
    diesel::update(jobs::table.find(id))
        .set((jobs::run_after.eq(until), jobs::attempts.eq(jobs::attempts + 1), jobs::updated_at.eq(super::now())))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(())
}

/// Hands a job to `who` (a rack) until `until`: it stays pending, but
/// `next_due` skips it until the lease ends, so a rack that vanishes
/// leaves the job to be handed out again.
pub fn assign(c: &mut DbConn, id: i64, who: &str, until: NaiveDateTime) -> Result<()> {
    diesel::update(jobs::table.find(id))
        .set((
            jobs::claimed_by.eq(who),
            jobs::claimed_until.eq(until),
            jobs::run_after.eq(until),
            jobs::attempts.eq(jobs::attempts + 1),
            jobs::updated_at.eq(super::now()),
        ))
        .execute(c)
        .map_err(from_diesel)?;
    // A rack waiting in a long-polled sync picks it up at once.
    wake::mark(Wake::Racks);
    Ok(())
}

/// Pending jobs `who` holds a live lease on.
pub fn claimed_by(c: &mut DbConn, who: &str, now: NaiveDateTime) -> Result<Vec<Job>> {
    jobs::table
        .filter(jobs::state.eq("pending"))
        .filter(jobs::claimed_by.eq(who))
        .filter(jobs::claimed_until.gt(now))
        .order(jobs::id)
        .select(Job::as_select())
        .load(c)
        .map_err(from_diesel)
}

pub fn by_id(c: &mut DbConn, id: i64) -> Result<Option<Job>> {
    jobs::table.find(id).select(Job::as_select()).first(c).optional().map_err(from_diesel)
}

/// Nodes with a pending job of `kind`.
pub fn pending_node_ids(c: &mut DbConn, kind: &str) -> Result<Vec<i64>> {
    jobs::table
        .filter(jobs::state.eq("pending"))
        .filter(jobs::kind.eq(kind))
        .filter(jobs::node_id.is_not_null())
        .select(jobs::node_id.assume_not_null())
        .load(c)
        .map_err(from_diesel)
}

/// The queue's depth at `now`: pending jobs, those of them already due,
/// and when the longest-waiting due job became due (`/metrics`).
pub fn queue_depth(c: &mut DbConn, now: NaiveDateTime) -> Result<(i64, i64, Option<NaiveDateTime>)> {
    let pending = jobs::table.filter(jobs::state.eq("pending")).count().get_result(c).map_err(from_diesel)?;
    let (due, oldest): (i64, Option<NaiveDateTime>) = jobs::table
        .filter(jobs::state.eq("pending"))
        .filter(jobs::run_after.le(now))
        .select((diesel::dsl::count_star(), diesel::dsl::min(jobs::run_after)))
        .get_result(c)
        .map_err(from_diesel)?;
    Ok((pending, due, oldest))
}
