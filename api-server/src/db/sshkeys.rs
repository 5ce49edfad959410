//! Queries of a user's SSH and SSL keys.
//!
//! The two tables have the same shape, so one set of functions serves both,
//! chosen by [`KeyKind`].

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{sshkeys, sslkeys};
use crate::db::{from_diesel, is_unique_violation, DbConn};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sshkeys)]
pub struct SshKey {
    pub id: i64,
    pub user_id: i64,
    pub key: String,
    pub keysource: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sslkeys)]
pub struct SslKey {
    pub id: i64,
    pub user_id: i64,
    pub key: String,
    pub created_at: NaiveDateTime,
}

fn duplicate(kind: &str) -> Error {
    Error::field("key", format!("This {kind} key has already been added for this user."))
}

pub fn ssh_list(c: &mut DbConn, user_id: i64) -> Result<Vec<SshKey>> {
    sshkeys::table
        .filter(sshkeys::user_id.eq(user_id))
        .order(sshkeys::id)
        .select(SshKey::as_select())
        .load(c)
        .map_err(from_diesel)
}

pub fn ssh_get(c: &mut DbConn, id: i64) -> Result<Option<SshKey>> {
    sshkeys::table.find(id).select(SshKey::as_select()).first(c).optional().map_err(from_diesel)
}

pub fn ssh_insert(
    c: &mut DbConn,
    user_id: i64,
    key: &str,
    keysource: Option<&str>,
    now: NaiveDateTime,
) -> Result<SshKey> {
    diesel::insert_into(sshkeys::table)
        .values((
            sshkeys::user_id.eq(user_id),
            sshkeys::key.eq(key),
            sshkeys::keysource.eq(keysource),
            sshkeys::created_at.eq(now),
        ))
        .returning(sshkeys::all_columns)
        .get_result::<SshKey>(c)
        .map_err(|e| if is_unique_violation(&e) { duplicate("SSH") } else { from_diesel(e) })
}

pub fn ssh_delete(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(sshkeys::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

pub fn ssl_list(c: &mut DbConn, user_id: i64) -> Result<Vec<SslKey>> {
    sslkeys::table
        .filter(sslkeys::user_id.eq(user_id))
        .order(sslkeys::id)
        .select(SslKey::as_select())
        .load(c)
        .map_err(from_diesel)
}

pub fn ssl_get(c: &mut DbConn, id: i64) -> Result<Option<SslKey>> {
    sslkeys::table.find(id).select(SslKey::as_select()).first(c).optional().map_err(from_diesel)
}

pub fn ssl_insert(c: &mut DbConn, user_id: i64, key: &str, now: NaiveDateTime) -> Result<SslKey> {
    diesel::insert_into(sslkeys::table)
        .values((sslkeys::user_id.eq(user_id), sslkeys::key.eq(key), sslkeys::created_at.eq(now)))
        .returning(sslkeys::all_columns)
        .get_result::<SslKey>(c)
        .map_err(|e| if is_unique_violation(&e) { duplicate("SSL") } else { from_diesel(e) })
}

pub fn ssl_delete(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(sslkeys::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(())
}
