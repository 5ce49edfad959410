//! Queries of script sets (MAAS's `ScriptSet`: one commissioning, testing or
//! installation run on a node) and the script results that belong to them.
//! The rules (which set is current, statuses, what a signal changes) live in
//! `engine::results`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::metadata::ScriptResult;
use crate::db::schema::{script_results, script_sets};
use crate::db::{from_diesel, DbConn};
use crate::error::Result;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = script_sets)]
pub struct ScriptSet {
    pub id: i64,
    pub node_id: i64,
    pub result_type: i32,
    pub last_ping: Option<NaiveDateTime>,
    /// The scripts (names or tags) the run was asked for, JSON list.
    pub requested_scripts: String,
    /// Script parameters given with the request, JSON object.
    pub script_parameters: String,
    /// The request's options (enable_ssh, skip_*), JSON object.
    pub options: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = script_sets)]
pub struct NewScriptSet {
    pub node_id: i64,
    pub result_type: i32,
    pub last_ping: Option<NaiveDateTime>,
    pub requested_scripts: String,
    pub script_parameters: String,
    pub options: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = script_results)]
pub struct NewScriptResult {
    pub node_id: i64,
    pub script_set_id: i64,
    pub phase: i32,
    pub name: String,
    pub status: i32,
    pub exit_status: Option<i32>,
    pub output: Vec<u8>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub result: Vec<u8>,
    pub runtime: String,
    pub parameters: String,
    pub started: Option<NaiveDateTime>,
    pub ended: Option<NaiveDateTime>,
    pub suppressed: bool,
    pub hardware_type: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The disk or interface this instance of a storage or network script
    /// runs on (MAAS's per-device results).
    pub physical_blockdevice_id: Option<i64>,
    pub interface_id: Option<i64>,
}

/// What a signal changes on a result.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = script_results)]
pub struct ResultChanges {
    pub status: Option<i32>,
    pub exit_status: Option<Option<i32>>,
    pub output: Option<Vec<u8>>,
    pub stdout: Option<Vec<u8>>,
    pub stderr: Option<Vec<u8>>,
    pub result: Option<Vec<u8>>,
    pub runtime: Option<String>,
    pub started: Option<Option<NaiveDateTime>>,
    pub ended: Option<Option<NaiveDateTime>>,
    pub suppressed: Option<bool>,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn insert_set(c: &mut DbConn, s: &NewScriptSet) -> Result<i64> {
    diesel::insert_into(script_sets::table).values(s).returning(script_sets::id).get_result(c).map_err(from_diesel)
}

pub fn insert_result(c: &mut DbConn, r: &NewScriptResult) -> Result<i64> {
    diesel::insert_into(script_results::table)
        .values(r)
        .returning(script_results::id)
        .get_result(c)
        .map_err(from_diesel)
}

pub fn delete_result(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(script_results::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

pub fn update_result(c: &mut DbConn, id: i64, ch: &ResultChanges) -> Result<()> {
    diesel::update(script_results::table.find(id)).set(ch).execute(c).map_err(from_diesel)?;
    Ok(())
}

/// The node's set with this id, if it is the node's.
pub fn set_of_node(c: &mut DbConn, node_id: i64, id: i64) -> Result<Option<ScriptSet>> {
    script_sets::table
        .filter(script_sets::id.eq(id))
        .filter(script_sets::node_id.eq(node_id))
        .select(ScriptSet::as_select())
        .first(c)
        .optional()
        .map_err(from_diesel)
}

/// The node's newest set of this result type: the current one.
pub fn latest_set(c: &mut DbConn, node_id: i64, result_type: i32) -> Result<Option<ScriptSet>> {
    script_sets::table
        .filter(script_sets::node_id.eq(node_id))
        .filter(script_sets::result_type.eq(result_type))
        .order(script_sets::id.desc())
        .select(ScriptSet::as_select())
        .first(c)
        .optional()
        .map_err(from_diesel)
}

/// The node's sets, oldest first, optionally of one result type.
pub fn sets_of(c: &mut DbConn, node_id: i64, result_type: Option<i32>) -> Result<Vec<ScriptSet>> {
    let mut q = script_sets::table.filter(script_sets::node_id.eq(node_id)).into_boxed();
    if let Some(t) = result_type {
        q = q.filter(script_sets::result_type.eq(t));
    }
    q.order(script_sets::id).select(ScriptSet::as_select()).load(c).map_err(from_diesel)
}

/// The results of these sets, by set, name and id.
pub fn results_in(c: &mut DbConn, set_ids: &[i64]) -> Result<Vec<ScriptResult>> {
    script_results::table
        .filter(script_results::script_set_id.eq_any(set_ids))
        .order((script_results::script_set_id, script_results::name, script_results::id))
        .select(ScriptResult::as_select())
        .load(c)
        .map_err(from_diesel)
}

pub fn delete_set(c: &mut DbConn, id: i64) -> Result<()> {
    // Results go with their set (ON DELETE CASCADE), deleted explicitly too
    // so nothing depends on the connection's foreign-key setting.
    diesel::delete(script_results::table.filter(script_results::script_set_id.eq(id)))
        .execute(c)
        .map_err(from_diesel)?;
    diesel::delete(script_sets::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

pub fn touch_set(c: &mut DbConn, id: i64, at: NaiveDateTime) -> Result<()> {
    diesel::update(script_sets::table.find(id))
        .set(script_sets::last_ping.eq(Some(at)))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(())
}

/// Moves the results of these sets that are in one of `from` to `to`.
pub fn move_statuses(c: &mut DbConn, set_ids: &[i64], from: &[i32], to: i32, at: NaiveDateTime) -> Result<()> {
    diesel::update(
        script_results::table
            .filter(script_results::script_set_id.eq_any(set_ids))
            .filter(script_results::status.eq_any(from)),
    )
    .set((script_results::status.eq(to), script_results::updated_at.eq(at)))
    .execute(c)
    .map_err(from_diesel)?;
    Ok(())
}

/// The current set of each result type of each of these nodes, with its
/// results' (status, suppressed, hardware_type): what node views
/// summarise. One query whatever the number of nodes (lists stay N+1-free).
pub type SetSummary = (SetHead, Vec<(i32, bool, i32)>);

/// The identifying part of a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetHead {
    pub id: i64,
    pub node_id: i64,
    pub result_type: i32,
}

pub fn current_summaries(c: &mut DbConn, node_ids: &[i64]) -> Result<Vec<SetSummary>> {
    if node_ids.is_empty() {
        return Ok(Vec::new());
    }
    type Row = (i64, i64, i32, Option<i32>, Option<bool>, Option<i32>);
    let rows: Vec<Row> = script_sets::table
        .left_join(script_results::table)
        .filter(script_sets::node_id.eq_any(node_ids))
        .select((
            script_sets::id,
            script_sets::node_id,
            script_sets::result_type,
            script_results::status.nullable(),
            script_results::suppressed.nullable(),
            script_results::hardware_type.nullable(),
        ))
        .load(c)
        .map_err(from_diesel)?;
    // The newest set of each (node, type) is current.
    let mut current: std::collections::HashMap<(i64, i32), i64> = std::collections::HashMap::new();
    for r in &rows {
        let e = current.entry((r.1, r.2)).or_insert(r.0);
        *e = (*e).max(r.0);
    }
    let mut out: Vec<SetSummary> = Vec::new();
    for ((node_id, result_type), id) in current {
        let results = rows.iter().filter(|r| r.0 == id).filter_map(|r| Some((r.3?, r.4?, r.5?))).collect();
        out.push((SetHead { id, node_id, result_type }, results));
    }
    out.sort_by_key(|s| s.0.id);
    Ok(out)
}
