//! Queries of per-user files and of notifications.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{file_chunks, files, notification_dismissals, notifications};
use crate::db::{from_diesel, DbConn};
use crate::error;
use crate::error::Result;

/// A file's row: its content is on disk under `sha256` (engine/files.rs);
/// a row from before content moved out has no hash yet and keeps its
/// content in the database until the region moves it (`legacy_*`).
#[derive(Debug, Clone, Queryable)]
pub struct FileMeta {
    pub id: i64,
    pub filename: String,
    pub owner_id: i64,
    pub anon_key: String,
    pub sha256: Option<String>,
    pub size: i64,
}

type MetaColumns = (files::id, files::filename, files::owner_id, files::anon_key, files::sha256, files::size);
const META: MetaColumns = (files::id, files::filename, files::owner_id, files::anon_key, files::sha256, files::size);

pub fn list(c: &mut DbConn, owner_id: i64, prefix: Option<&str>) -> Result<Vec<FileMeta>> {
    let mut q = files::table.filter(files::owner_id.eq(owner_id)).into_boxed();
    if let Some(p) = prefix {
        // An exact string prefix: LIKE wildcards in the prefix are escaped.
        let escaped = p.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        q = q.filter(files::filename.like(format!("{escaped}%")).escape('\\'));
    }
    q.order(files::filename).select(META).load(c).map_err(from_diesel)
}

pub fn get(c: &mut DbConn, owner_id: i64, filename: &str) -> Result<Option<FileMeta>> {
    files::table
        .filter(files::owner_id.eq(owner_id))
        .filter(files::filename.eq(filename))
        .select(META)
        .first(c)
        .optional()
        .map_err(from_diesel)
}

pub fn by_key(c: &mut DbConn, key: &str) -> Result<Option<FileMeta>> {
    files::table.filter(files::anon_key.eq(key)).select(META).first(c).optional().map_err(from_diesel)
}

/// Whether any row names this content.
pub fn referenced(c: &mut DbConn, sha256: &str) -> Result<bool> {
    let n: i64 = files::table.filter(files::sha256.eq(sha256)).count().get_result(c).map_err(from_diesel)?;
    Ok(n > 0)
}

/// Every content hash rows name (for the store's garbage collection).
pub fn all_hashes(c: &mut DbConn) -> Result<Vec<String>> {
    files::table
        .filter(files::sha256.is_not_null())
        .select(files::sha256.assume_not_null())
        .distinct()
        .load(c)
        .map_err(from_diesel)
}

/// The hashes among `candidates` no row names any more.
fn orphans(c: &mut DbConn, candidates: Vec<String>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for h in candidates {
        if !out.contains(&h) && !referenced(c, &h)? {
            out.push(h);
        }
    }
    Ok(out)
}

/// Records a file whose content is in the store, replacing one of the same
/// name (MAAS semantics). Returns the content hashes the replaced row left
/// unreferenced, for the caller to remove once this transaction committed.
pub fn put(
    c: &mut DbConn,
    owner_id: i64,
    filename: &str,
    key: &str,
    sha256: &str,
    size: i64,
    now: NaiveDateTime,
) -> Result<Vec<String>> {
    let old: Vec<Option<String>> = files::table
        .filter(files::owner_id.eq(owner_id))
        .filter(files::filename.eq(filename))
        .select(files::sha256)
        .load(c)
        .map_err(from_diesel)?;
    diesel::delete(files::table.filter(files::owner_id.eq(owner_id)).filter(files::filename.eq(filename)))
        .execute(c)
        .map_err(from_diesel)?;
    diesel::insert_into(files::table)
        .values((
            files::filename.eq(filename),
            files::owner_id.eq(owner_id),
            files::anon_key.eq(key),
            files::content.eq(Vec::<u8>::new()),
            files::sha256.eq(Some(sha256)),
            files::size.eq(size),
            files::created_at.eq(now),
        ))
        .execute(c)
        .map_err(from_diesel)?;
    orphans(c, old.into_iter().flatten().collect())
}

/// Deletes a file. `None` when there was none; else the content hashes
/// left unreferenced (see [`put`]).
pub fn delete(c: &mut DbConn, owner_id: i64, filename: &str) -> Result<Option<Vec<String>>> {
    let Some(f) = get(c, owner_id, filename)? else { return Ok(None) };
    diesel::delete(files::table.find(f.id)).execute(c).map_err(from_diesel)?;
    orphans(c, f.sha256.into_iter().collect()).map(Some)
}

/// Rows whose content is still in the database (from before migration 13).
pub fn legacy_ids(c: &mut DbConn) -> Result<Vec<i64>> {
    files::table.filter(files::sha256.is_null()).select(files::id).load(c).map_err(from_diesel)
}

/// The in-database content of a row not moved out yet.
pub fn legacy_content(c: &mut DbConn, id: i64) -> Result<Option<Vec<u8>>> {
    files::table
        .filter(files::id.eq(id))
        .filter(files::sha256.is_null())
        .select(files::content)
        .first(c)
        .optional()
        .map_err(from_diesel)
}

/// Marks a row's content as moved to the store (and drops the in-row copy).
/// False when the row changed meanwhile (deleted, replaced, moved by another region).
pub fn legacy_moved(c: &mut DbConn, id: i64, sha256: &str, size: i64) -> Result<bool> {
    let n = diesel::update(files::table.filter(files::id.eq(id)).filter(files::sha256.is_null()))
        .set((files::sha256.eq(Some(sha256)), files::size.eq(size), files::content.eq(Vec::<u8>::new())))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(n > 0)
}

/// Number of stored chunks of some content (the PostgreSQL copy).
pub fn chunk_count(c: &mut DbConn, sha256: &str) -> Result<i64> {
    file_chunks::table.filter(file_chunks::sha256.eq(sha256)).count().get_result(c).map_err(from_diesel)
}

/// Stores one chunk; a chunk already there (the same content uploaded
/// elsewhere) is left as it is.
pub fn put_chunk(c: &mut DbConn, sha256: &str, seq: i32, data: &[u8]) -> Result<()> {
    let exists: i64 = file_chunks::table
        .filter(file_chunks::sha256.eq(sha256))
        .filter(file_chunks::seq.eq(seq))
        .count()
        .get_result(c)
        .map_err(from_diesel)?;
    if exists == 0 {
        diesel::insert_into(file_chunks::table)
            .values((file_chunks::sha256.eq(sha256), file_chunks::seq.eq(seq), file_chunks::data.eq(data)))
            .execute(c)
            .map_err(from_diesel)?;
    }
    Ok(())
}

pub fn chunk(c: &mut DbConn, sha256: &str, seq: i32) -> Result<Option<Vec<u8>>> {
    file_chunks::table
        .filter(file_chunks::sha256.eq(sha256))
        .filter(file_chunks::seq.eq(seq))
        .select(file_chunks::data)
        .first(c)
        .optional()
        .map_err(from_diesel)
}

/// Serialises, until the transaction ends, the transactions of regions
/// sharing a PostgreSQL database that add or remove a row naming this
/// content (a PostgreSQL advisory lock on the hash). SQLite has one writer
/// at a time already.
pub fn lock_content(c: &mut DbConn, sha256: &str) -> Result<()> {
    if let DbConn::Pg(pg) = c {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind::<diesel::sql_types::Text, _>(sha256)
            .execute(pg)
            .map_err(from_diesel)?;
    }
    Ok(())
}

/// Removes the chunks of content no row names (call under [`lock_content`]).
pub fn delete_chunks_if_unreferenced(c: &mut DbConn, sha256: &str) -> Result<()> {
    if !referenced(c, sha256)? {
        diesel::delete(file_chunks::table.filter(file_chunks::sha256.eq(sha256))).execute(c).map_err(from_diesel)?;
    }
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = notifications)]
pub struct Notification {
    pub id: i64,
    pub ident: Option<String>,
    pub message: String,
    pub context: String,
    pub category: String,
    pub user_id: Option<i64>,
    pub for_users: bool,
    pub for_admins: bool,
    pub dismissable: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = notifications)]
pub struct NotificationFields {
    pub ident: Option<String>,
    pub message: String,
    pub context: String,
    pub category: String,
    pub user_id: Option<i64>,
    pub for_users: bool,
    pub for_admins: bool,
    pub dismissable: bool,
    pub updated_at: NaiveDateTime,
}

pub fn notification_insert(c: &mut DbConn, f: &NotificationFields, now: NaiveDateTime) -> Result<Notification> {
    let id: i64 = diesel::insert_into(notifications::table)
        .values((f, notifications::created_at.eq(now)))
        .returning(notifications::id)
        .get_result(c)
        .map_err(from_diesel)?;
    notification_get(c, id)?.ok_or_else(|| error::Error::Internal("inserted notification vanished".into()))
}

pub fn notification_get(c: &mut DbConn, id: i64) -> Result<Option<Notification>> {
    notifications::table.find(id).select(Notification::as_select()).first(c).optional().map_err(from_diesel)
}

pub fn notification_update(c: &mut DbConn, id: i64, f: &NotificationFields) -> Result<()> {
    diesel::update(notifications::table.find(id)).set(f).execute(c).map_err(from_diesel)?;
    Ok(())
}

pub fn notification_delete(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(notifications::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

/// Notifications addressed to this user, not dismissed by them.
pub fn notifications_for(c: &mut DbConn, user_id: i64, is_admin: bool) -> Result<Vec<Notification>> {
    let dismissed = notification_dismissals::table
        .filter(notification_dismissals::user_id.eq(user_id))
        .select(notification_dismissals::notification_id);
    let mut q = notifications::table.filter(notifications::id.ne_all(dismissed)).into_boxed();
    q = if is_admin {
        q.filter(
            notifications::user_id
                .eq(user_id)
                .or(notifications::for_users.eq(true))
                .or(notifications::for_admins.eq(true)),
        )
    } else {
        q.filter(notifications::user_id.eq(user_id).or(notifications::for_users.eq(true)))
    };
    q.order(notifications::id).select(Notification::as_select()).load(c).map_err(from_diesel)
}

pub fn dismiss(c: &mut DbConn, notification_id: i64, user_id: i64) -> Result<()> {
    let exists: i64 = notification_dismissals::table
        .filter(notification_dismissals::notification_id.eq(notification_id))
        .filter(notification_dismissals::user_id.eq(user_id))
        .count()
        .get_result(c)
        .map_err(from_diesel)?;
    if exists == 0 {
        diesel::insert_into(notification_dismissals::table)
            .values((
                notification_dismissals::notification_id.eq(notification_id),
                notification_dismissals::user_id.eq(user_id),
            ))
            .execute(c)
            .map_err(from_diesel)?;
    }
    Ok(())
}
