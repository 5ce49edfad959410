//! The MAAS configuration store: name → JSON-encoded value.

use diesel::prelude::*;

use crate::db::schema::config;
use crate::db::{from_diesel, DbConn};
use crate::error::Result;

pub fn get(c: &mut DbConn, name: &str) -> Result<Option<String>> {
    config::table.filter(config::name.eq(name)).select(config::value).first::<String>(c).optional().map_err(from_diesel)
}

/// Inserts or replaces one value. Call inside a write transaction: update-then-
/// insert is only atomic there (MultiConnection has no portable upsert).
pub fn set(c: &mut DbConn, name: &str, value: &str) -> Result<()> {
    let updated = diesel::update(config::table.filter(config::name.eq(name)))
        .set(config::value.eq(value))
        .execute(c)
        .map_err(from_diesel)?;
    if updated == 0 {
        diesel::insert_into(config::table)
            .values((config::name.eq(name), config::value.eq(value)))
            .execute(c)
            .map_err(from_diesel)?;
    }
    Ok(())
}
