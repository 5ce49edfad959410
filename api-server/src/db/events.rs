//! Queries of the event log.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{events, nodes};
use crate::db::{from_diesel, DbConn};
use crate::error::Result;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = events)]
pub struct Event {
    pub id: i64,
    pub node_id: Option<i64>,
    pub system_id: Option<String>,
    pub hostname: String,
    pub username: String,
    pub level: i32,
    pub type_name: String,
    pub action: String,
    pub description: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = events)]
pub struct NewEvent<'a> {
    pub node_id: Option<i64>,
    pub system_id: Option<&'a str>,
    pub hostname: &'a str,
    pub username: &'a str,
    pub level: i32,
    pub type_name: &'a str,
    pub action: &'a str,
    pub description: &'a str,
    pub created_at: NaiveDateTime,
}

pub fn insert(c: &mut DbConn, e: &NewEvent<'_>) -> Result<()> {
    diesel::insert_into(events::table).values(e).execute(c).map_err(from_diesel)?;
    crate::db::wake::mark(crate::db::wake::Wake::Nodes);
    Ok(())
}

/// What `events/?op=query` filters on, resolved to node ids by the engine.
#[derive(Debug, Default)]
pub struct EventQuery {
    /// `None`: any node; `Some(ids)`: only these nodes' events.
    pub node_ids: Option<Vec<i64>>,
    pub min_level: i32,
    /// Exactly this level (AUDIT selects only audit events).
    pub exact_level: Option<i32>,
    pub before: Option<i64>,
    pub after: Option<i64>,
    pub limit: i64,
}

/// Newest first; device events are excluded as MAAS does.
pub fn query(c: &mut DbConn, q: &EventQuery) -> Result<Vec<Event>> {
    let devices = nodes::table.filter(nodes::node_type.eq(1)).select(nodes::id.nullable());
    let mut b = events::table.into_boxed();
    b = b.filter(events::node_id.is_null().or(events::node_id.ne_all(devices)));
    if let Some(ids) = &q.node_ids {
        b = b.filter(events::node_id.eq_any(ids));
    }
    b = match q.exact_level {
        Some(l) => b.filter(events::level.eq(l)),
        None => b.filter(events::level.ge(q.min_level)),
    };
    if let Some(before) = q.before {
        b = b.filter(events::id.lt(before));
    }
    if let Some(after) = q.after {
        // Paging forward: the oldest events newer than `after`, shown newest first.
        let mut rows: Vec<Event> = b
            .filter(events::id.gt(after))
            .order(events::id.asc())
            .limit(q.limit)
            .select(Event::as_select())
            .load(c)
            .map_err(from_diesel)?;
        rows.reverse();
        return Ok(rows);
    }
    b.order(events::id.desc()).limit(q.limit).select(Event::as_select()).load(c).map_err(from_diesel)
}

/// Events with an id above `after`, oldest first, at most `limit` (the
/// change feed reads what is new since its last look).
pub fn after(c: &mut DbConn, after: i64, limit: i64) -> Result<Vec<Event>> {
    events::table
        .filter(events::id.gt(after))
        .order(events::id.asc())
        .limit(limit)
        .select(Event::as_select())
        .load(c)
        .map_err(from_diesel)
}

/// The events among `ids` (those that exist), by id.
pub fn with_ids(c: &mut DbConn, ids: &[i64]) -> Result<Vec<Event>> {
    events::table
        .filter(events::id.eq_any(ids))
        .order(events::id.asc())
        .select(Event::as_select())
        .load(c)
        .map_err(from_diesel)
}

/// The newest event id (0 when there are none).
pub fn max_id(c: &mut DbConn) -> Result<i64> {
    let m: Option<i64> = events::table.select(diesel::dsl::max(events::id)).first(c).map_err(from_diesel)?;
    Ok(m.unwrap_or(0))
}
