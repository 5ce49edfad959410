//! Queries of `license_keys` (MAAS's LicenseKey), keyed by osystem and
//! distro series.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::license_keys;
use crate::db::{from_diesel, is_unique_violation, DbConn};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = license_keys)]
pub struct LicenseKey {
    pub osystem: String,
    pub distro_series: String,
    pub license_key: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Every key, ordered as MAAS lists them (osystem, then series).
pub fn all(c: &mut DbConn) -> Result<Vec<LicenseKey>> {
    license_keys::table
        .order((license_keys::osystem, license_keys::distro_series))
        .select(LicenseKey::as_select())
        .load(c)
        .map_err(from_diesel)
}

pub fn get(c: &mut DbConn, osystem: &str, distro_series: &str) -> Result<Option<LicenseKey>> {
    license_keys::table
        .find((osystem, distro_series))
        .select(LicenseKey::as_select())
        .first(c)
        .optional()
        .map_err(from_diesel)
}

/// The message MAAS's model gives for a second key of one release.
pub const DUPLICATE: &str = "License key with this operating system and distro series already exists.";

pub fn insert(c: &mut DbConn, osystem: &str, distro_series: &str, key: &str) -> Result<()> {
    let now = super::now();
    diesel::insert_into(license_keys::table)
        .values((
            license_keys::osystem.eq(osystem),
            license_keys::distro_series.eq(distro_series),
            license_keys::license_key.eq(key),
            license_keys::created_at.eq(now),
            license_keys::updated_at.eq(now),
        ))
        .execute(c)
        .map_err(dup)?;
    Ok(())
}

/// Rewrites the row `(osystem, distro_series)`; the release itself may
/// change (MAAS's form lets an update name another one).
pub fn update(c: &mut DbConn, from: (&str, &str), to: (&str, &str), key: &str) -> Result<()> {
    diesel::update(license_keys::table.find(from))
        .set((
            license_keys::osystem.eq(to.0),
            license_keys::distro_series.eq(to.1),
            license_keys::license_key.eq(key),
            license_keys::updated_at.eq(super::now()),
        ))
        .execute(c)
        .map_err(dup)?;
    Ok(())
}

/// Deletes the key if there is one (MAAS's delete is 204 either way).
pub fn delete(c: &mut DbConn, osystem: &str, distro_series: &str) -> Result<()> {
    diesel::delete(license_keys::table.find((osystem, distro_series))).execute(c).map_err(from_diesel)?;
    Ok(())
}

fn dup(e: diesel::result::Error) -> Error {
    if is_unique_violation(&e) {
        Error::field("__all__", DUPLICATE)
    } else {
        from_diesel(e)
    }
}
