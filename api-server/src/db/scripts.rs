//! Queries of `scripts` (MAAS's Script) and their text history
//! (`script_versions`, MAAS's VersionedTextFile chain).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{script_versions, scripts};
use crate::db::{from_diesel, DbConn};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = scripts)]
pub struct Script {
    pub id: i64,
    pub name: String,
    pub title: String,
    pub description: String,
    /// JSON list of strings.
    pub tags: String,
    pub script_type: i32,
    pub hardware_type: i32,
    pub parallel: i32,
    /// JSON.
    pub results: String,
    /// JSON object.
    pub parameters: String,
    /// JSON object.
    pub packages: String,
    pub timeout_seconds: i64,
    pub destructive: bool,
    pub is_default: bool,
    /// JSON list of strings.
    pub for_hardware: String,
    pub may_reboot: bool,
    pub recommission: bool,
    pub apply_configured_networking: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = script_versions)]
pub struct Version {
    pub id: i64,
    pub script_id: i64,
    pub data: String,
    pub comment: String,
    pub created_at: NaiveDateTime,
}

/// What a script row holds besides its id and text.
#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = scripts)]
pub struct ScriptFields {
    pub name: String,
    pub title: String,
    pub description: String,
    pub tags: String,
    pub script_type: i32,
    pub hardware_type: i32,
    pub parallel: i32,
    pub results: String,
    pub parameters: String,
    pub packages: String,
    pub timeout_seconds: i64,
    pub destructive: bool,
    pub is_default: bool,
    pub for_hardware: String,
    pub may_reboot: bool,
    pub recommission: bool,
    pub apply_configured_networking: bool,
}

pub fn all(c: &mut DbConn) -> Result<Vec<Script>> {
    scripts::table.order(scripts::id).select(Script::as_select()).load(c).map_err(from_diesel)
}

pub fn by_id(c: &mut DbConn, id: i64) -> Result<Option<Script>> {
    scripts::table.find(id).select(Script::as_select()).first(c).optional().map_err(from_diesel)
}

pub fn by_name(c: &mut DbConn, name: &str) -> Result<Option<Script>> {
    scripts::table.filter(scripts::name.eq(name)).select(Script::as_select()).first(c).optional().map_err(from_diesel)
}

pub fn insert(c: &mut DbConn, f: &ScriptFields) -> Result<i64> {
    let now = super::now();
    diesel::insert_into(scripts::table)
        .values((f, scripts::created_at.eq(now), scripts::updated_at.eq(now)))
        .returning(scripts::id)
        .get_result(c)
        .map_err(from_diesel)
}

pub fn update(c: &mut DbConn, id: i64, f: &ScriptFields) -> Result<()> {
    diesel::update(scripts::table.find(id))
        .set((f, scripts::updated_at.eq(super::now())))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(())
}

/// Deletes the script and its history.
pub fn delete(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(script_versions::table.filter(script_versions::script_id.eq(id))).execute(c).map_err(from_diesel)?;
    diesel::delete(scripts::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

pub fn add_version(c: &mut DbConn, script_id: i64, data: &str, comment: &str) -> Result<Version> {
    let id: i64 = diesel::insert_into(script_versions::table)
        .values((
            script_versions::script_id.eq(script_id),
            script_versions::data.eq(data),
            script_versions::comment.eq(comment),
            script_versions::created_at.eq(super::now()),
        ))
        .returning(script_versions::id)
        .get_result(c)
        .map_err(from_diesel)?;
    script_versions::table
        .find(id)
        .select(Version::as_select())
        .first(c)
        .optional()
        .map_err(from_diesel)?
        .ok_or_else(|| Error::Internal("inserted script version vanished".into()))
}

/// The versions of `script_ids`, newest first within each script (MAAS's
/// `history` order; the first is the current text).
pub fn versions_of(c: &mut DbConn, script_ids: &[i64]) -> Result<Vec<Version>> {
    script_versions::table
        .filter(script_versions::script_id.eq_any(script_ids))
        .order((script_versions::script_id, script_versions::id.desc()))
        .select(Version::as_select())
        .load(c)
        .map_err(from_diesel)
}

/// Drops the versions of `script_id` newer than `keep_id` (a revert).
pub fn delete_versions_after(c: &mut DbConn, script_id: i64, keep_id: i64) -> Result<usize> {
    diesel::delete(
        script_versions::table.filter(script_versions::script_id.eq(script_id)).filter(script_versions::id.gt(keep_id)),
    )
    .execute(c)
    .map_err(from_diesel)
}

/// Marks the script changed (a revert changes only its versions).
pub fn touch(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::update(scripts::table.find(id))
        .set(scripts::updated_at.eq(super::now()))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(())
}
