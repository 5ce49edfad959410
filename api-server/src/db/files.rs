//! Queries of per-user files and of notifications.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{files, notification_dismissals, notifications};
use crate::db::{from_diesel, DbConn};
use crate::error;
use crate::error::Result;

/// A file without its content (lists never load blobs).
#[derive(Debug, Clone, Queryable)]
pub struct FileMeta {
    pub id: i64,
    pub filename: String,
    pub owner_id: i64,
    pub anon_key: String,
}

const META: (files::id, files::filename, files::owner_id, files::anon_key) =
    (files::id, files::filename, files::owner_id, files::anon_key);

pub fn list(c: &mut DbConn, owner_id: i64, prefix: Option<&str>) -> Result<Vec<FileMeta>> {
    let mut q = files::table.filter(files::owner_id.eq(owner_id)).into_boxed();
    if let Some(p) = prefix {
        // An exact string prefix: LIKE wildcards in the prefix are escaped.
        let escaped = p.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        q = q.filter(files::filename.like(format!("{escaped}%")).escape('\\'));
    }
    q.order(files::filename).select(META).load(c).map_err(from_diesel)
}

pub fn get(c: &mut DbConn, owner_id: i64, filename: &str) -> Result<Option<(FileMeta, Vec<u8>)>> {
    files::table
        .filter(files::owner_id.eq(owner_id))
        .filter(files::filename.eq(filename))
        .select((META, files::content))
        .first(c)
        .optional()
        .map_err(from_diesel)
}

pub fn by_key(c: &mut DbConn, key: &str) -> Result<Option<Vec<u8>>> {
    files::table.filter(files::anon_key.eq(key)).select(files::content).first(c).optional().map_err(from_diesel)
}

/// Stores a file, replacing one of the same name (MAAS semantics).
pub fn put(c: &mut DbConn, owner_id: i64, filename: &str, key: &str, content: &[u8], now: NaiveDateTime) -> Result<()> {
    diesel::delete(files::table.filter(files::owner_id.eq(owner_id)).filter(files::filename.eq(filename)))
        .execute(c)
        .map_err(from_diesel)?;
    diesel::insert_into(files::table)
        .values((
            files::filename.eq(filename),
            files::owner_id.eq(owner_id),
            files::anon_key.eq(key),
            files::content.eq(content),
            files::created_at.eq(now),
        ))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(())
}

pub fn delete(c: &mut DbConn, owner_id: i64, filename: &str) -> Result<bool> {
    let n = diesel::delete(files::table.filter(files::owner_id.eq(owner_id)).filter(files::filename.eq(filename)))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(n > 0)
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
