//! Queries of zones and resource pools (same shape, so one module).

use diesel::prelude::*;

use crate::db::dns::Domain;
use crate::db::schema::{domains, nodes, resource_pools, zones};
use crate::db::{from_diesel, is_unique_violation, DbConn};
use crate::error::{Error, Result};
use chrono::NaiveDateTime;

pub fn zones(c: &mut DbConn) -> Result<Vec<Zone>> {
    zones::table.order(zones::id).select(Zone::as_select()).load(c).map_err(from_diesel)
}

pub fn zone_by_name(c: &mut DbConn, name: &str) -> Result<Option<Zone>> {
    zones::table.filter(zones::name.eq(name)).select(Zone::as_select()).first(c).optional().map_err(from_diesel)
}

pub fn zone_insert(c: &mut DbConn, name: &str, description: &str) -> Result<Zone> {
    diesel::insert_into(zones::table)
        .values((zones::name.eq(name), zones::description.eq(description), zones::created_at.eq(super::now())))
        .execute(c)
        .map_err(|e| dup(e, "Zone"))?;
    zone_by_name(c, name)?.ok_or_else(|| Error::Internal("inserted zone vanished".into()))
}

pub fn zone_update(c: &mut DbConn, id: i64, name: &str, description: &str) -> Result<()> {
    diesel::update(zones::table.find(id))
        .set((zones::name.eq(name), zones::description.eq(description)))
        .execute(c)
        .map_err(|e| dup(e, "Zone"))?;
    Ok(())
}

pub fn zone_delete(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(zones::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

/// Moves every node of a zone to another (before the zone is deleted).
pub fn move_zone_nodes(c: &mut DbConn, from: i64, to: i64) -> Result<()> {
    diesel::update(nodes::table.filter(nodes::zone_id.eq(from)))
        .set(nodes::zone_id.eq(to))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(())
}

pub fn pools(c: &mut DbConn) -> Result<Vec<Pool>> {
    resource_pools::table.order(resource_pools::id).select(Pool::as_select()).load(c).map_err(from_diesel)
}

pub fn pool_by_name(c: &mut DbConn, name: &str) -> Result<Option<Pool>> {
    resource_pools::table
        .filter(resource_pools::name.eq(name))
        .select(Pool::as_select())
        .first(c)
        .optional()
        .map_err(from_diesel)
}

pub fn pool_by_id(c: &mut DbConn, id: i64) -> Result<Option<Pool>> {
    resource_pools::table.find(id).select(Pool::as_select()).first(c).optional().map_err(from_diesel)
}

pub fn pool_insert(c: &mut DbConn, name: &str, description: &str) -> Result<Pool> {
    diesel::insert_into(resource_pools::table)
        .values((
            resource_pools::name.eq(name),
            resource_pools::description.eq(description),
            resource_pools::created_at.eq(super::now()),
        ))
        .execute(c)
        .map_err(|e| dup(e, "Resource pool"))?;
    pool_by_name(c, name)?.ok_or_else(|| Error::Internal("inserted pool vanished".into()))
}

pub fn pool_update(c: &mut DbConn, id: i64, name: &str, description: &str) -> Result<()> {
    diesel::update(resource_pools::table.find(id))
        .set((resource_pools::name.eq(name), resource_pools::description.eq(description)))
        .execute(c)
        .map_err(|e| dup(e, "Resource pool"))?;
    Ok(())
}

pub fn pool_delete(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(resource_pools::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

pub fn pool_node_count(c: &mut DbConn, id: i64) -> Result<i64> {
    nodes::table.filter(nodes::pool_id.eq(id)).count().get_result(c).map_err(from_diesel)
}

pub fn domains(c: &mut DbConn) -> Result<Vec<Domain>> {
    domains::table.order(domains::id).select(Domain::as_select()).load(c).map_err(from_diesel)
}

fn dup(e: diesel::result::Error, model: &str) -> Error {
    if is_unique_violation(&e) {
        Error::field("name", format!("{model} with this Name already exists."))
    } else {
        from_diesel(e)
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = zones)]
pub struct Zone {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = resource_pools)]
pub struct Pool {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub created_at: NaiveDateTime,
}
