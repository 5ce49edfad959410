//! Queries of `dhcp_snippets` and their value history
//! (`dhcp_snippet_versions`, MAAS's VersionedTextFile chain).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{dhcp_snippet_versions, dhcp_snippets};
use crate::db::{from_diesel, DbConn};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = dhcp_snippets)]
pub struct Snippet {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub node_id: Option<i64>,
    pub subnet_id: Option<i64>,
    pub iprange_id: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = dhcp_snippet_versions)]
pub struct Version {
    pub id: i64,
    pub snippet_id: i64,
    pub data: String,
    pub created_at: NaiveDateTime,
}

/// What a snippet row holds besides its id and value.
#[derive(Debug, Clone)]
pub struct SnippetFields {
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub node_id: Option<i64>,
    pub subnet_id: Option<i64>,
    pub iprange_id: Option<i64>,
}

pub fn all(c: &mut DbConn) -> Result<Vec<Snippet>> {
    dhcp_snippets::table.order(dhcp_snippets::id).select(Snippet::as_select()).load(c).map_err(from_diesel)
}

pub fn by_id(c: &mut DbConn, id: i64) -> Result<Option<Snippet>> {
    dhcp_snippets::table.find(id).select(Snippet::as_select()).first(c).optional().map_err(from_diesel)
}

/// Snippets named `name`, oldest first (names are not unique in MAAS).
pub fn by_name(c: &mut DbConn, name: &str) -> Result<Vec<Snippet>> {
    dhcp_snippets::table
        .filter(dhcp_snippets::name.eq(name))
        .order(dhcp_snippets::id)
        .select(Snippet::as_select())
        .load(c)
        .map_err(from_diesel)
}

pub fn insert(c: &mut DbConn, f: &SnippetFields) -> Result<i64> {
    let now = super::now();
    diesel::insert_into(dhcp_snippets::table)
        .values((
            dhcp_snippets::name.eq(&f.name),
            dhcp_snippets::description.eq(&f.description),
            dhcp_snippets::enabled.eq(f.enabled),
            dhcp_snippets::node_id.eq(f.node_id),
            dhcp_snippets::subnet_id.eq(f.subnet_id),
            dhcp_snippets::iprange_id.eq(f.iprange_id),
            dhcp_snippets::created_at.eq(now),
            dhcp_snippets::updated_at.eq(now),
        ))
        .returning(dhcp_snippets::id)
        .get_result(c)
        .map_err(from_diesel)
}

pub fn update(c: &mut DbConn, id: i64, f: &SnippetFields) -> Result<()> {
    diesel::update(dhcp_snippets::table.find(id))
        .set((
            dhcp_snippets::name.eq(&f.name),
            dhcp_snippets::description.eq(&f.description),
            dhcp_snippets::enabled.eq(f.enabled),
            dhcp_snippets::node_id.eq(f.node_id),
            dhcp_snippets::subnet_id.eq(f.subnet_id),
            dhcp_snippets::iprange_id.eq(f.iprange_id),
            dhcp_snippets::updated_at.eq(super::now()),
        ))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(())
}

/// Deletes the snippet; its versions go with it (ON DELETE CASCADE).
pub fn delete(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(dhcp_snippet_versions::table.filter(dhcp_snippet_versions::snippet_id.eq(id)))
        .execute(c)
        .map_err(from_diesel)?;
    diesel::delete(dhcp_snippets::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

pub fn add_version(c: &mut DbConn, snippet_id: i64, data: &str) -> Result<Version> {
    let id: i64 = diesel::insert_into(dhcp_snippet_versions::table)
        .values((
            dhcp_snippet_versions::snippet_id.eq(snippet_id),
            dhcp_snippet_versions::data.eq(data),
            dhcp_snippet_versions::created_at.eq(super::now()),
        ))
        .returning(dhcp_snippet_versions::id)
        .get_result(c)
        .map_err(from_diesel)?;
    dhcp_snippet_versions::table
        .find(id)
        .select(Version::as_select())
        .first(c)
        .optional()
        .map_err(from_diesel)?
        .ok_or_else(|| Error::Internal("inserted snippet version vanished".into()))
}

/// The versions of `snippet_ids`, newest first within each snippet (the
/// order MAAS's `history` lists them in; the first is the current value).
pub fn versions_of(c: &mut DbConn, snippet_ids: &[i64]) -> Result<Vec<Version>> {
    dhcp_snippet_versions::table
        .filter(dhcp_snippet_versions::snippet_id.eq_any(snippet_ids))
        .order((dhcp_snippet_versions::snippet_id, dhcp_snippet_versions::id.desc()))
        .select(Version::as_select())
        .load(c)
        .map_err(from_diesel)
}

/// Drops the versions of `snippet_id` newer than `keep_id` (a revert).
pub fn delete_versions_after(c: &mut DbConn, snippet_id: i64, keep_id: i64) -> Result<usize> {
    diesel::delete(
        dhcp_snippet_versions::table
            .filter(dhcp_snippet_versions::snippet_id.eq(snippet_id))
            .filter(dhcp_snippet_versions::id.gt(keep_id)),
    )
    .execute(c)
    .map_err(from_diesel)
}

/// Marks the snippet changed (a revert changes only its versions).
pub fn touch(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::update(dhcp_snippets::table.find(id))
        .set(dhcp_snippets::updated_at.eq(super::now()))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(())
}
