//! Rows of `reserved_ips` (MAAS's ReservedIP): an address of a subnet kept
//! for one MAC address.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{interfaces, ip_addresses, reserved_ips};
use crate::db::{from_diesel, is_unique_violation, DbConn};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = reserved_ips)]
pub struct ReservedIp {
    pub id: i64,
    pub subnet_id: i64,
    pub ip: String,
    pub mac_address: String,
    pub comment: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn all(c: &mut DbConn) -> Result<Vec<ReservedIp>> {
    reserved_ips::table.order(reserved_ips::id).select(ReservedIp::as_select()).load(c).map_err(from_diesel)
}

pub fn get(c: &mut DbConn, id: i64) -> Result<Option<ReservedIp>> {
    reserved_ips::table.find(id).select(ReservedIp::as_select()).first(c).optional().map_err(from_diesel)
}

pub fn by_ip(c: &mut DbConn, ip: &str) -> Result<Option<ReservedIp>> {
    reserved_ips::table
        .filter(reserved_ips::ip.eq(ip))
        .select(ReservedIp::as_select())
        .first(c)
        .optional()
        .map_err(from_diesel)
}

pub fn by_mac_subnet(c: &mut DbConn, mac: &str, subnet_id: i64) -> Result<Option<ReservedIp>> {
    reserved_ips::table
        .filter(reserved_ips::mac_address.eq(mac))
        .filter(reserved_ips::subnet_id.eq(subnet_id))
        .select(ReservedIp::as_select())
        .first(c)
        .optional()
        .map_err(from_diesel)
}

pub fn in_subnets(c: &mut DbConn, subnet_ids: &[i64]) -> Result<Vec<ReservedIp>> {
    reserved_ips::table
        .filter(reserved_ips::subnet_id.eq_any(subnet_ids))
        .order(reserved_ips::id)
        .select(ReservedIp::as_select())
        .load(c)
        .map_err(from_diesel)
}

/// Inserts a reservation; a unique index refusing it is the caller's
/// `Conflict` (both constraints are checked before, this only loses races).
pub fn insert(c: &mut DbConn, subnet_id: i64, ip: &str, mac: &str, comment: &str) -> Result<i64> {
    let now = super::now();
    diesel::insert_into(reserved_ips::table)
        .values((
            reserved_ips::subnet_id.eq(subnet_id),
            reserved_ips::ip.eq(ip),
            reserved_ips::mac_address.eq(mac),
            reserved_ips::comment.eq(comment),
            reserved_ips::created_at.eq(now),
            reserved_ips::updated_at.eq(now),
        ))
        .returning(reserved_ips::id)
        .get_result(c)
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::field("ip", "Reserved IP with this IP address already exists.")
            } else {
                from_diesel(e)
            }
        })
}

pub fn set_comment(c: &mut DbConn, id: i64, comment: &str) -> Result<()> {
    diesel::update(reserved_ips::table.find(id))
        .set((reserved_ips::comment.eq(comment), reserved_ips::updated_at.eq(super::now())))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(())
}

pub fn delete(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(reserved_ips::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

/// The MACs an assigned address belongs to: its interface's, or the one a
/// DHCP lease recorded (`None` for an address that has neither, such as a
/// DNS resource's).
pub fn macs_of_address(c: &mut DbConn, ip: &str) -> Result<Option<Vec<String>>> {
    let rows: Vec<(Option<String>, Option<String>)> = ip_addresses::table
        .left_join(interfaces::table)
        .filter(ip_addresses::ip.eq(ip))
        .select((ip_addresses::mac_address, interfaces::mac_address.nullable()))
        .load(c)
        .map_err(from_diesel)?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(rows.into_iter().flat_map(|(a, b)| [a, b]).flatten().collect()))
}

/// The MAC of the interface an address row (a link) belongs to.
pub fn mac_of_link(c: &mut DbConn, link_id: i64) -> Result<Option<String>> {
    ip_addresses::table
        .inner_join(interfaces::table)
        .filter(ip_addresses::id.eq(link_id))
        .select(interfaces::mac_address)
        .first::<Option<String>>(c)
        .optional()
        .map(Option::flatten)
        .map_err(from_diesel)
}

/// The MAC of interface `id`.
pub fn mac_of_interface(c: &mut DbConn, id: i64) -> Result<Option<String>> {
    interfaces::table
        .find(id)
        .select(interfaces::mac_address)
        .first::<Option<String>>(c)
        .optional()
        .map(Option::flatten)
        .map_err(from_diesel)
}
