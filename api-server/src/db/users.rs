//! Queries of the user aggregate.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::users;
use crate::db::{from_diesel, is_unique_violation, DbConn};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    /// PHC-format argon2 hash; empty means "no password can log in".
    pub password_hash: String,
    pub is_superuser: bool,
    pub is_active: bool,
    pub is_local: bool,
    pub created_at: NaiveDateTime,
    pub last_login: Option<NaiveDateTime>,
}

#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub is_superuser: bool,
    pub is_active: bool,
    pub is_local: bool,
    pub created_at: NaiveDateTime,
}

pub fn insert(c: &mut DbConn, new: &NewUser<'_>) -> Result<User> {
    diesel::insert_into(users::table).values(new).returning(users::all_columns).get_result::<User>(c).map_err(|e| {
        if is_unique_violation(&e) {
            Error::field("username", "A user with that username already exists.")
        } else {
            from_diesel(e)
        }
    })
}

pub fn by_username(c: &mut DbConn, name: &str) -> Result<Option<User>> {
    users::table.filter(users::username.eq(name)).select(User::as_select()).first(c).optional().map_err(from_diesel)
}

/// The ids of the users with these names (unknown names are skipped), one
/// query per [`super::nodes::CHUNK`] names.
pub fn ids_by_usernames(c: &mut DbConn, names: &[String]) -> Result<Vec<i64>> {
    let mut out = Vec::new();
    for chunk in names.chunks(super::nodes::CHUNK) {
        out.extend(
            users::table.filter(users::username.eq_any(chunk)).select(users::id).load::<i64>(c).map_err(from_diesel)?,
        );
    }
    Ok(out)
}

pub fn by_id(c: &mut DbConn, id: i64) -> Result<Option<User>> {
    users::table.find(id).select(User::as_select()).first(c).optional().map_err(from_diesel)
}

/// All users ordered by id (one query).
pub fn list(c: &mut DbConn) -> Result<Vec<User>> {
    users::table.order(users::id).select(User::as_select()).load(c).map_err(from_diesel)
}

pub fn count_superusers(c: &mut DbConn) -> Result<i64> {
    users::table
        .filter(users::is_superuser.eq(true))
        .filter(users::is_active.eq(true))
        .count()
        .get_result(c)
        .map_err(from_diesel)
}

pub fn count(c: &mut DbConn) -> Result<i64> {
    users::table.count().get_result(c).map_err(from_diesel)
}

pub fn delete(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(users::table.find(id)).execute(c).map_err(from_diesel)?;
    super::wake::mark(super::wake::Wake::Auth);
    Ok(())
}

pub fn set_password_hash(c: &mut DbConn, id: i64, hash: &str) -> Result<()> {
    diesel::update(users::table.find(id)).set(users::password_hash.eq(hash)).execute(c).map_err(from_diesel)?;
    Ok(())
}

pub fn touch_last_login(c: &mut DbConn, id: i64, at: NaiveDateTime) -> Result<()> {
    diesel::update(users::table.find(id)).set(users::last_login.eq(Some(at))).execute(c).map_err(from_diesel)?;
    Ok(())
}

/// What a user still owns that MAAS refuses to delete with them: static IP
/// addresses (reservations), IP ranges and nodes, in MAAS's message order.
pub struct Owned {
    pub ip_addresses: i64,
    pub ip_ranges: i64,
    pub nodes: i64,
}

pub fn owned(c: &mut DbConn, id: i64) -> Result<Owned> {
    use crate::db::schema::{ip_addresses, ip_ranges, nodes};
    Ok(Owned {
        ip_addresses: ip_addresses::table
            .filter(ip_addresses::user_id.eq(id))
            .count()
            .get_result(c)
            .map_err(from_diesel)?,
        ip_ranges: ip_ranges::table.filter(ip_ranges::user_id.eq(id)).count().get_result(c).map_err(from_diesel)?,
        nodes: nodes::table.filter(nodes::owner_id.eq(id)).count().get_result(c).map_err(from_diesel)?,
    })
}

/// Moves everything [`owned`] counts from one user to another.
pub fn transfer_owned(c: &mut DbConn, from: i64, to: i64) -> Result<()> {
    use crate::db::schema::{ip_addresses, ip_ranges, nodes};
    diesel::update(nodes::table.filter(nodes::owner_id.eq(from)))
        // updated_at moves so clients polling for changes see the new owner.
        .set((nodes::owner_id.eq(Some(to)), nodes::updated_at.eq(crate::db::now())))
        .execute(c)
        .map_err(from_diesel)?;
    crate::db::wake::mark(crate::db::wake::Wake::Nodes);
    diesel::update(ip_addresses::table.filter(ip_addresses::user_id.eq(from)))
        .set(ip_addresses::user_id.eq(Some(to)))
        .execute(c)
        .map_err(from_diesel)?;
    diesel::update(ip_ranges::table.filter(ip_ranges::user_id.eq(from)))
        .set(ip_ranges::user_id.eq(Some(to)))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(())
}

pub fn set_active(c: &mut DbConn, id: i64, active: bool) -> Result<User> {
    super::wake::mark(super::wake::Wake::Auth);
    diesel::update(users::table.find(id))
        .set(users::is_active.eq(active))
        .returning(users::all_columns)
        .get_result::<User>(c)
        .map_err(from_diesel)
}
