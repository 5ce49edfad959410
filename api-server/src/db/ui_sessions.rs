//! Queries of web UI sessions (`ui_sessions`): created at login, looked up
//! by the SHA-256 of the cookie token on every page, deleted at logout.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{ui_sessions, users};
use crate::db::users::User;
use crate::db::{from_diesel, DbConn};
use crate::error::Result;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ui_sessions)]
pub struct Session {
    pub id: i64,
    pub token_hash: String,
    pub user_id: i64,
    pub csrf_token: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = ui_sessions)]
pub struct NewSession<'a> {
    pub token_hash: &'a str,
    pub user_id: i64,
    pub csrf_token: &'a str,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

pub fn insert(c: &mut DbConn, new: &NewSession<'_>) -> Result<()> {
    diesel::insert_into(ui_sessions::table).values(new).execute(c).map_err(from_diesel)?;
    Ok(())
}

/// The unexpired session with this token hash, and its user (one query).
pub fn live_by_hash(c: &mut DbConn, token_hash: &str, now: NaiveDateTime) -> Result<Option<(Session, User)>> {
    ui_sessions::table
        .inner_join(users::table)
        .filter(ui_sessions::token_hash.eq(token_hash))
        .filter(ui_sessions::expires_at.gt(now))
        .select((Session::as_select(), User::as_select()))
        .first(c)
        .optional()
        .map_err(from_diesel)
}

pub fn delete_by_hash(c: &mut DbConn, token_hash: &str) -> Result<()> {
    diesel::delete(ui_sessions::table.filter(ui_sessions::token_hash.eq(token_hash)))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(())
}

/// Removes sessions past their expiry (they are refused anyway).
pub fn delete_expired(c: &mut DbConn, now: NaiveDateTime) -> Result<usize> {
    diesel::delete(ui_sessions::table.filter(ui_sessions::expires_at.le(now))).execute(c).map_err(from_diesel)
}
