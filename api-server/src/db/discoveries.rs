//! Rows of `discoveries`: (IP, MAC) pairs racks observed, with the rack and
//! interface that saw each last (MAAS's neighbours, read through its
//! Discovery view).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{discoveries, interfaces, ip_addresses};
use crate::db::{from_diesel, DbConn};
use crate::error::Result;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = discoveries)]
pub struct Discovery {
    pub id: i64,
    pub ip: String,
    pub mac_address: String,
    pub hostname: Option<String>,
    pub observer_id: i64,
    pub observer_interface_id: Option<i64>,
    pub vlan_id: Option<i64>,
    pub first_seen: NaiveDateTime,
    pub last_seen: NaiveDateTime,
}

/// Which discoveries a list shows (MAAS's `by_unknown_*` queries).
#[derive(Debug, Clone, Copy, Default)]
pub struct Unknown {
    /// Only MACs no interface has.
    pub mac: bool,
    /// Only addresses no address row holds.
    pub ip: bool,
}

/// Discoveries, most recently seen first (MAAS's order).
pub fn list(c: &mut DbConn, unknown: Unknown) -> Result<Vec<Discovery>> {
    let mut q = discoveries::table.into_boxed();
    if unknown.mac {
        let known = interfaces::table
            .filter(interfaces::mac_address.is_not_null())
            .select(interfaces::mac_address.assume_not_null());
        q = q.filter(discoveries::mac_address.ne_all(known));
    }
    if unknown.ip {
        let known =
            ip_addresses::table.filter(ip_addresses::ip.is_not_null()).select(ip_addresses::ip.assume_not_null());
        q = q.filter(discoveries::ip.ne_all(known));
    }
    q.order((discoveries::last_seen.desc(), discoveries::id.desc()))
        .select(Discovery::as_select())
        .load(c)
        .map_err(from_diesel)
}

pub fn by_ip_mac(c: &mut DbConn, ip: &str, mac: &str) -> Result<Option<Discovery>> {
    discoveries::table
        .filter(discoveries::ip.eq(ip))
        .filter(discoveries::mac_address.eq(mac))
        .select(Discovery::as_select())
        .first(c)
        .optional()
        .map_err(from_diesel)
}

/// What one sighting records.
#[derive(Debug, Clone)]
pub struct Sighting<'a> {
    pub ip: &'a str,
    pub mac: &'a str,
    pub hostname: Option<&'a str>,
    pub observer_id: i64,
    pub observer_interface_id: Option<i64>,
    pub vlan_id: Option<i64>,
    pub now: NaiveDateTime,
}

/// Records a sighting: refreshes the pair's row (observer, time, and a
/// hostname when one was given) or inserts it.
pub fn observe(c: &mut DbConn, s: &Sighting) -> Result<()> {
    let n =
        diesel::update(discoveries::table.filter(discoveries::ip.eq(s.ip)).filter(discoveries::mac_address.eq(s.mac)))
            .set((
                discoveries::observer_id.eq(s.observer_id),
                discoveries::observer_interface_id.eq(s.observer_interface_id),
                discoveries::vlan_id.eq(s.vlan_id),
                discoveries::last_seen.eq(s.now),
            ))
            .execute(c)
            .map_err(from_diesel)?;
    if n > 0 {
        if let Some(h) = s.hostname.filter(|h| !h.is_empty()) {
            diesel::update(
                discoveries::table.filter(discoveries::ip.eq(s.ip)).filter(discoveries::mac_address.eq(s.mac)),
            )
            .set(discoveries::hostname.eq(h))
            .execute(c)
            .map_err(from_diesel)?;
        }
        return Ok(());
    }
    diesel::insert_into(discoveries::table)
        .values((
            discoveries::ip.eq(s.ip),
            discoveries::mac_address.eq(s.mac),
            discoveries::hostname.eq(s.hostname.filter(|h| !h.is_empty())),
            discoveries::observer_id.eq(s.observer_id),
            discoveries::observer_interface_id.eq(s.observer_interface_id),
            discoveries::vlan_id.eq(s.vlan_id),
            discoveries::first_seen.eq(s.now),
            discoveries::last_seen.eq(s.now),
        ))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(())
}

/// Deletes every discovery; returns how many.
pub fn delete_all(c: &mut DbConn) -> Result<usize> {
    diesel::delete(discoveries::table).execute(c).map_err(from_diesel)
}

/// Forgets the hostnames discoveries carry (MAAS's `clear` with `mdns`).
pub fn clear_hostnames(c: &mut DbConn) -> Result<()> {
    diesel::update(discoveries::table).set(discoveries::hostname.eq(None::<String>)).execute(c).map_err(from_diesel)?;
    Ok(())
}

pub fn delete_ip_mac(c: &mut DbConn, ip: &str, mac: &str) -> Result<usize> {
    diesel::delete(discoveries::table.filter(discoveries::ip.eq(ip)).filter(discoveries::mac_address.eq(mac)))
        .execute(c)
        .map_err(from_diesel)
}

/// (id, name) of interfaces `ids` (the observers' interfaces, in one query).
pub fn interface_names(c: &mut DbConn, ids: &[i64]) -> Result<Vec<(i64, String)>> {
    interfaces::table
        .filter(interfaces::id.eq_any(ids))
        .select((interfaces::id, interfaces::name))
        .load(c)
        .map_err(from_diesel)
}
