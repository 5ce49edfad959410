//! Queries of `package_repositories` (MAAS's PackageRepository). The list
//! fields are stored as JSON arrays of strings; [`PackageRepository`] hands
//! them out decoded.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::package_repositories as pr;
use crate::db::{from_diesel, is_unique_violation, DbConn};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = pr)]
struct Row {
    id: i64,
    name: String,
    url: String,
    distributions: String,
    disabled_pockets: String,
    disabled_components: String,
    disable_sources: bool,
    components: String,
    arches: String,
    key: String,
    is_default: bool,
    enabled: bool,
    #[allow(dead_code)] // selected for completeness; MAAS's shape omits it
    created_at: NaiveDateTime,
    #[allow(dead_code)]
    updated_at: NaiveDateTime,
}

/// One repository with its lists decoded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PackageRepository {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub distributions: Vec<String>,
    pub disabled_pockets: Vec<String>,
    pub disabled_components: Vec<String>,
    pub disable_sources: bool,
    pub components: Vec<String>,
    pub arches: Vec<String>,
    pub key: String,
    /// MAAS's `default`: one of the two seeded Ubuntu archives.
    pub is_default: bool,
    pub enabled: bool,
}

fn list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

fn text(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

impl From<Row> for PackageRepository {
    fn from(r: Row) -> Self {
        PackageRepository {
            id: r.id,
            name: r.name,
            url: r.url,
            distributions: list(&r.distributions),
            disabled_pockets: list(&r.disabled_pockets),
            disabled_components: list(&r.disabled_components),
            disable_sources: r.disable_sources,
            components: list(&r.components),
            arches: list(&r.arches),
            key: r.key,
            is_default: r.is_default,
            enabled: r.enabled,
        }
    }
}

/// Every repository by id (MAAS lists them in that order).
pub fn all(c: &mut DbConn) -> Result<Vec<PackageRepository>> {
    let rows: Vec<Row> = pr::table.order(pr::id).select(Row::as_select()).load(c).map_err(from_diesel)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub fn by_id(c: &mut DbConn, id: i64) -> Result<Option<PackageRepository>> {
    let row: Option<Row> = pr::table.find(id).select(Row::as_select()).first(c).optional().map_err(from_diesel)?;
    Ok(row.map(Into::into))
}

pub fn by_name(c: &mut DbConn, name: &str) -> Result<Option<PackageRepository>> {
    let row: Option<Row> =
        pr::table.filter(pr::name.eq(name)).select(Row::as_select()).first(c).optional().map_err(from_diesel)?;
    Ok(row.map(Into::into))
}

/// The unique-name message of MAAS's model.
pub const DUPLICATE: &str = "Package repository with this Name already exists.";

/// Inserts `r` (its id ignored) and returns it as stored.
pub fn insert(c: &mut DbConn, r: &PackageRepository) -> Result<PackageRepository> {
    let now = super::now();
    let id: i64 = diesel::insert_into(pr::table)
        .values((
            pr::name.eq(&r.name),
            pr::url.eq(&r.url),
            pr::distributions.eq(text(&r.distributions)),
            pr::disabled_pockets.eq(text(&r.disabled_pockets)),
            pr::disabled_components.eq(text(&r.disabled_components)),
            pr::disable_sources.eq(r.disable_sources),
            pr::components.eq(text(&r.components)),
            pr::arches.eq(text(&r.arches)),
            pr::key.eq(&r.key),
            pr::is_default.eq(r.is_default),
            pr::enabled.eq(r.enabled),
            pr::created_at.eq(now),
            pr::updated_at.eq(now),
        ))
        .returning(pr::id)
        .get_result(c)
        .map_err(dup)?;
    by_id(c, id)?.ok_or(Error::NotFound("PackageRepository"))
}

/// Rewrites every editable field of `r` (`is_default` never changes).
pub fn update(c: &mut DbConn, r: &PackageRepository) -> Result<()> {
    diesel::update(pr::table.find(r.id))
        .set((
            pr::name.eq(&r.name),
            pr::url.eq(&r.url),
            pr::distributions.eq(text(&r.distributions)),
            pr::disabled_pockets.eq(text(&r.disabled_pockets)),
            pr::disabled_components.eq(text(&r.disabled_components)),
            pr::disable_sources.eq(r.disable_sources),
            pr::components.eq(text(&r.components)),
            pr::arches.eq(text(&r.arches)),
            pr::key.eq(&r.key),
            pr::enabled.eq(r.enabled),
            pr::updated_at.eq(super::now()),
        ))
        .execute(c)
        .map_err(dup)?;
    Ok(())
}

pub fn delete(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(pr::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

fn dup(e: diesel::result::Error) -> Error {
    if is_unique_violation(&e) {
        Error::field("name", DUPLICATE)
    } else {
        from_diesel(e)
    }
}
