//! Rows and queries of boot resources (images: resource → sets → files) and
//! of boot sources (simplestreams mirrors) with their selections.
//!
//! File rows only name their content by SHA-256; the bytes live in the image
//! store on disk (`engine::image_store`). A file row's `complete` turns true
//! only after the store holds checked content under that name.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{
    boot_resource_files, boot_resource_sets, boot_resources, boot_source_selections, boot_sources,
};
use crate::db::{from_diesel, is_unique_violation, DbConn};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = boot_resources)]
pub struct Resource {
    pub id: i64,
    pub rtype: i32,
    pub name: String,
    pub architecture: String,
    pub title: String,
    pub base_image: String,
    pub subarches: String,
    pub kflavor: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = boot_resources)]
pub struct NewResource {
    pub rtype: i32,
    pub name: String,
    pub architecture: String,
    pub title: String,
    pub base_image: String,
    pub subarches: String,
    pub kflavor: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = boot_resource_sets)]
pub struct ResourceSet {
    pub id: i64,
    pub resource_id: i64,
    pub version: String,
    pub label: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = boot_resource_files)]
pub struct ResourceFile {
    pub id: i64,
    pub set_id: i64,
    pub filename: String,
    pub filetype: String,
    pub sha256: String,
    pub size: i64,
    pub complete: bool,
}

/// A file to insert into a set.
#[derive(Debug, Clone)]
pub struct NewFile {
    pub filename: String,
    pub filetype: String,
    pub sha256: String,
    pub size: i64,
    pub complete: bool,
}

// ---------------------------------------------------------------- resources

pub fn list(c: &mut DbConn, rtype: Option<i32>) -> Result<Vec<Resource>> {
    let mut q = boot_resources::table.into_boxed();
    if let Some(t) = rtype {
        q = q.filter(boot_resources::rtype.eq(t));
    }
    q.order(boot_resources::id).select(Resource::as_select()).load(c).map_err(from_diesel)
}

pub fn get(c: &mut DbConn, id: i64) -> Result<Option<Resource>> {
    boot_resources::table.find(id).select(Resource::as_select()).first(c).optional().map_err(from_diesel)
}

pub fn by_name_arch(c: &mut DbConn, name: &str, architecture: &str) -> Result<Option<Resource>> {
    boot_resources::table
        .filter(boot_resources::name.eq(name))
        .filter(boot_resources::architecture.eq(architecture))
        .select(Resource::as_select())
        .first(c)
        .optional()
        .map_err(from_diesel)
}

/// Inserts a resource; one of the same name and architecture is a 409.
pub fn insert(c: &mut DbConn, r: &NewResource) -> Result<i64> {
    diesel::insert_into(boot_resources::table).values(r).returning(boot_resources::id).get_result(c).map_err(|e| {
        if is_unique_violation(&e) {
            Error::Conflict(format!(
                "A boot resource named '{}' for architecture '{}' already exists; delete it first.",
                r.name, r.architecture
            ))
        } else {
            from_diesel(e)
        }
    })
}

pub fn touch(c: &mut DbConn, id: i64, title: &str, subarches: &str, kflavor: &str, now: NaiveDateTime) -> Result<()> {
    diesel::update(boot_resources::table.find(id))
        .set((
            boot_resources::title.eq(title),
            boot_resources::subarches.eq(subarches),
            boot_resources::kflavor.eq(kflavor),
            boot_resources::updated_at.eq(now),
        ))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(())
}

/// Deletes a resource with its sets and files; returns the SHA-256s its files named.
pub fn delete(c: &mut DbConn, id: i64) -> Result<Option<Vec<String>>> {
    if get(c, id)?.is_none() {
        return Ok(None);
    }
    let shas: Vec<String> = boot_resource_files::table
        .inner_join(boot_resource_sets::table)
        .filter(boot_resource_sets::resource_id.eq(id))
        .select(boot_resource_files::sha256)
        .load(c)
        .map_err(from_diesel)?;
    // Explicit child deletes: the cascade is declared too, but SQLite only
    // honours it with foreign keys on, and being explicit costs nothing.
    let sets = boot_resource_sets::table.filter(boot_resource_sets::resource_id.eq(id)).select(boot_resource_sets::id);
    diesel::delete(boot_resource_files::table.filter(boot_resource_files::set_id.eq_any(sets)))
        .execute(c)
        .map_err(from_diesel)?;
    diesel::delete(boot_resource_sets::table.filter(boot_resource_sets::resource_id.eq(id)))
        .execute(c)
        .map_err(from_diesel)?;
    diesel::delete(boot_resources::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(Some(shas))
}

// ---------------------------------------------------------------- sets and files

/// The sets and files of these resources, one query per table.
pub fn sets_and_files(c: &mut DbConn, resource_ids: &[i64]) -> Result<(Vec<ResourceSet>, Vec<ResourceFile>)> {
    let sets: Vec<ResourceSet> = boot_resource_sets::table
        .filter(boot_resource_sets::resource_id.eq_any(resource_ids))
        .order(boot_resource_sets::id)
        .select(ResourceSet::as_select())
        .load(c)
        .map_err(from_diesel)?;
    let set_ids: Vec<i64> = sets.iter().map(|s| s.id).collect();
    let files = boot_resource_files::table
        .filter(boot_resource_files::set_id.eq_any(&set_ids))
        .order(boot_resource_files::id)
        .select(ResourceFile::as_select())
        .load(c)
        .map_err(from_diesel)?;
    Ok((sets, files))
}

pub fn insert_set(c: &mut DbConn, resource_id: i64, version: &str, label: &str, now: NaiveDateTime) -> Result<i64> {
    diesel::insert_into(boot_resource_sets::table)
        .values((
            boot_resource_sets::resource_id.eq(resource_id),
            boot_resource_sets::version.eq(version),
            boot_resource_sets::label.eq(label),
            boot_resource_sets::created_at.eq(now),
        ))
        .returning(boot_resource_sets::id)
        .get_result(c)
        .map_err(from_diesel)
}

/// Deletes the sets of a resource other than `keep`; returns their files' SHA-256s.
pub fn delete_sets_except(c: &mut DbConn, resource_id: i64, keep: i64) -> Result<Vec<String>> {
    let old = boot_resource_sets::table
        .filter(boot_resource_sets::resource_id.eq(resource_id))
        .filter(boot_resource_sets::id.ne(keep))
        .select(boot_resource_sets::id);
    let shas: Vec<String> = boot_resource_files::table
        .filter(boot_resource_files::set_id.eq_any(old))
        .select(boot_resource_files::sha256)
        .load(c)
        .map_err(from_diesel)?;
    let old = boot_resource_sets::table
        .filter(boot_resource_sets::resource_id.eq(resource_id))
        .filter(boot_resource_sets::id.ne(keep))
        .select(boot_resource_sets::id);
    diesel::delete(boot_resource_files::table.filter(boot_resource_files::set_id.eq_any(old)))
        .execute(c)
        .map_err(from_diesel)?;
    diesel::delete(
        boot_resource_sets::table
            .filter(boot_resource_sets::resource_id.eq(resource_id))
            .filter(boot_resource_sets::id.ne(keep)),
    )
    .execute(c)
    .map_err(from_diesel)?;
    Ok(shas)
}

pub fn insert_file(c: &mut DbConn, set_id: i64, f: &NewFile) -> Result<i64> {
    diesel::insert_into(boot_resource_files::table)
        .values((
            boot_resource_files::set_id.eq(set_id),
            boot_resource_files::filename.eq(&f.filename),
            boot_resource_files::filetype.eq(&f.filetype),
            boot_resource_files::sha256.eq(&f.sha256),
            boot_resource_files::size.eq(f.size),
            boot_resource_files::complete.eq(f.complete),
        ))
        .returning(boot_resource_files::id)
        .get_result(c)
        .map_err(from_diesel)
}

/// A file of a resource (the file must belong to one of its sets).
pub fn file_of(c: &mut DbConn, resource_id: i64, file_id: i64) -> Result<Option<ResourceFile>> {
    boot_resource_files::table
        .inner_join(boot_resource_sets::table)
        .filter(boot_resource_sets::resource_id.eq(resource_id))
        .filter(boot_resource_files::id.eq(file_id))
        .select(ResourceFile::as_select())
        .first(c)
        .optional()
        .map_err(from_diesel)
}

/// Marks every file naming this content complete (content is shared by hash).
pub fn mark_complete(c: &mut DbConn, sha256: &str) -> Result<()> {
    diesel::update(boot_resource_files::table.filter(boot_resource_files::sha256.eq(sha256)))
        .set(boot_resource_files::complete.eq(true))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(())
}

/// Whether any file row still names this content (before removing it from disk).
pub fn sha_in_use(c: &mut DbConn, sha256: &str) -> Result<bool> {
    let n: i64 = boot_resource_files::table
        .filter(boot_resource_files::sha256.eq(sha256))
        .count()
        .get_result(c)
        .map_err(from_diesel)?;
    Ok(n > 0)
}

// ---------------------------------------------------------------- boot sources

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = boot_sources)]
pub struct BootSource {
    pub id: i64,
    pub url: String,
    pub keyring_filename: String,
    pub keyring_data: Vec<u8>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// MAAS's opt-out: import this mirror's unsigned `.json` documents.
    pub skip_keyring_verification: bool,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = boot_source_selections)]
pub struct Selection {
    pub id: i64,
    pub boot_source_id: i64,
    pub os: String,
    pub release: String,
    pub arches: String,
    pub subarches: String,
    pub labels: String,
}

fn dup_source(e: diesel::result::Error) -> Error {
    if is_unique_violation(&e) {
        Error::field("url", "Boot source with this Url already exists.")
    } else {
        from_diesel(e)
    }
}

pub fn sources(c: &mut DbConn) -> Result<Vec<BootSource>> {
    boot_sources::table.order(boot_sources::id).select(BootSource::as_select()).load(c).map_err(from_diesel)
}

pub fn source(c: &mut DbConn, id: i64) -> Result<Option<BootSource>> {
    boot_sources::table.find(id).select(BootSource::as_select()).first(c).optional().map_err(from_diesel)
}

/// Inserts a boot source; its `id` and timestamps are ignored (a new id, `now`).
pub fn source_insert(c: &mut DbConn, s: &BootSource, now: NaiveDateTime) -> Result<i64> {
    diesel::insert_into(boot_sources::table)
        .values((
            boot_sources::url.eq(&s.url),
            boot_sources::keyring_filename.eq(&s.keyring_filename),
            boot_sources::keyring_data.eq(&s.keyring_data),
            boot_sources::skip_keyring_verification.eq(s.skip_keyring_verification),
            boot_sources::created_at.eq(now),
            boot_sources::updated_at.eq(now),
        ))
        .returning(boot_sources::id)
        .get_result(c)
        .map_err(dup_source)
}

pub fn source_update(c: &mut DbConn, s: &BootSource) -> Result<()> {
    diesel::update(boot_sources::table.find(s.id))
        .set((
            boot_sources::url.eq(&s.url),
            boot_sources::keyring_filename.eq(&s.keyring_filename),
            boot_sources::keyring_data.eq(&s.keyring_data),
            boot_sources::skip_keyring_verification.eq(s.skip_keyring_verification),
            boot_sources::updated_at.eq(s.updated_at),
        ))
        .execute(c)
        .map_err(dup_source)?;
    Ok(())
}

pub fn source_delete(c: &mut DbConn, id: i64) -> Result<bool> {
    diesel::delete(boot_source_selections::table.filter(boot_source_selections::boot_source_id.eq(id)))
        .execute(c)
        .map_err(from_diesel)?;
    let n = diesel::delete(boot_sources::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(n > 0)
}

/// Selections of one source, or of all sources.
pub fn selections(c: &mut DbConn, source_id: Option<i64>) -> Result<Vec<Selection>> {
    let mut q = boot_source_selections::table.into_boxed();
    if let Some(s) = source_id {
        q = q.filter(boot_source_selections::boot_source_id.eq(s));
    }
    q.order(boot_source_selections::id).select(Selection::as_select()).load(c).map_err(from_diesel)
}

pub fn selection(c: &mut DbConn, source_id: i64, id: i64) -> Result<Option<Selection>> {
    boot_source_selections::table
        .filter(boot_source_selections::boot_source_id.eq(source_id))
        .filter(boot_source_selections::id.eq(id))
        .select(Selection::as_select())
        .first(c)
        .optional()
        .map_err(from_diesel)
}

fn dup_selection(e: diesel::result::Error) -> Error {
    if is_unique_violation(&e) {
        Error::Conflict("This boot source already has a selection for that os and release.".into())
    } else {
        from_diesel(e)
    }
}

pub fn selection_insert(c: &mut DbConn, s: &Selection) -> Result<i64> {
    diesel::insert_into(boot_source_selections::table)
        .values((
            boot_source_selections::boot_source_id.eq(s.boot_source_id),
            boot_source_selections::os.eq(&s.os),
            boot_source_selections::release.eq(&s.release),
            boot_source_selections::arches.eq(&s.arches),
            boot_source_selections::subarches.eq(&s.subarches),
            boot_source_selections::labels.eq(&s.labels),
        ))
        .returning(boot_source_selections::id)
        .get_result(c)
        .map_err(dup_selection)
}

pub fn selection_update(c: &mut DbConn, s: &Selection) -> Result<()> {
    diesel::update(boot_source_selections::table.find(s.id))
        .set((
            boot_source_selections::os.eq(&s.os),
            boot_source_selections::release.eq(&s.release),
            boot_source_selections::arches.eq(&s.arches),
            boot_source_selections::subarches.eq(&s.subarches),
            boot_source_selections::labels.eq(&s.labels),
        ))
        .execute(c)
        .map_err(dup_selection)?;
    Ok(())
}

pub fn selection_delete(c: &mut DbConn, id: i64) -> Result<bool> {
    let n = diesel::delete(boot_source_selections::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(n > 0)
}
