//! Rows of `region_controllers`: what each region process reported when it
//! started and on its last heartbeat. The region itself is a node
//! (node_type 3, or 4 when the rack in its process registered onto it).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{nodes, region_controllers};
use crate::db::types::NodeType;
use crate::db::{from_diesel, DbConn};
use crate::error::Result;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = region_controllers)]
pub struct RegionRow {
    pub node_id: i64,
    pub version: String,
    pub services: String,
    pub url: String,
    pub started_at: NaiveDateTime,
    pub last_seen: NaiveDateTime,
}

pub fn of_nodes(c: &mut DbConn, node_ids: &[i64]) -> Result<Vec<RegionRow>> {
    region_controllers::table
        .filter(region_controllers::node_id.eq_any(node_ids))
        .select(RegionRow::as_select())
        .load(c)
        .map_err(from_diesel)
}

/// Inserts the row, or replaces everything but the node (a restart).
pub fn upsert(c: &mut DbConn, row: &RegionRow) -> Result<()> {
    let n = diesel::update(region_controllers::table.find(row.node_id))
        .set((
            region_controllers::version.eq(&row.version),
            region_controllers::services.eq(&row.services),
            region_controllers::url.eq(&row.url),
            region_controllers::started_at.eq(row.started_at),
            region_controllers::last_seen.eq(row.last_seen),
        ))
        .execute(c)
        .map_err(from_diesel)?;
    if n == 0 {
        diesel::insert_into(region_controllers::table).values(row).execute(c).map_err(from_diesel)?;
    }
    Ok(())
}

/// Heartbeat; false when the row is gone (an admin deleted the region
/// while it was silent), so the caller registers again.
pub fn touch(c: &mut DbConn, node_id: i64, services: &str, now: NaiveDateTime) -> Result<bool> {
    let n = diesel::update(region_controllers::table.find(node_id))
        .set((region_controllers::services.eq(services), region_controllers::last_seen.eq(now)))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(n == 1)
}

pub fn delete(c: &mut DbConn, node_id: i64) -> Result<()> {
    diesel::delete(region_controllers::table.find(node_id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

/// Changes a controller node's type (a region gaining or losing the rack
/// in its process).
pub fn set_node_type(c: &mut DbConn, node_id: i64, t: NodeType) -> Result<()> {
    diesel::update(nodes::table.find(node_id)).set(nodes::node_type.eq(t)).execute(c).map_err(from_diesel)?;
    Ok(())
}
