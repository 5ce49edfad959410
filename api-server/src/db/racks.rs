//! Rows and queries of the rack link: rack controller state, and the
//! narrow joins the region needs to compute a rack's configuration (boot
//! MACs of machines, addresses to reserve) in a fixed number of queries
//! however many machines there are.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{interfaces, ip_addresses, node_tokens, nodes, rack_controllers, rack_nonces};
use crate::db::types::NodeType;
use crate::db::{self, from_diesel, insert_if_new, secrets, DbConn};
use crate::error::Result;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = rack_controllers)]
pub struct RackRow {
    pub node_id: i64,
    pub version: String,
    pub services: String,
    pub last_seen: NaiveDateTime,
    pub registered_at: NaiveDateTime,
}

pub fn get(c: &mut DbConn, node_id: i64) -> Result<Option<RackRow>> {
    rack_controllers::table.find(node_id).select(RackRow::as_select()).first(c).optional().map_err(from_diesel)
}

pub fn of_nodes(c: &mut DbConn, node_ids: &[i64]) -> Result<Vec<RackRow>> {
    rack_controllers::table
        .filter(rack_controllers::node_id.eq_any(node_ids))
        .select(RackRow::as_select())
        .load(c)
        .map_err(from_diesel)
}

/// Inserts or replaces the row (registration).
pub fn upsert(c: &mut DbConn, row: &RackRow) -> Result<()> {
    let n = diesel::update(rack_controllers::table.find(row.node_id))
        .set((rack_controllers::version.eq(&row.version), rack_controllers::last_seen.eq(row.last_seen)))
        .execute(c)
        .map_err(from_diesel)?;
    if n == 0 {
        diesel::insert_into(rack_controllers::table).values(row).execute(c).map_err(from_diesel)?;
    }
    Ok(())
}

/// Forgets a rack's link state (its key included).
pub fn delete_row(c: &mut DbConn, node_id: i64) -> Result<()> {
    diesel::delete(rack_controllers::table.find(node_id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

/// A rack's own key (`None`: registered before per-rack keys, or unknown).
/// The only reader of `rack_key`: the key is stored sealed with the
/// secrets key (`db::secrets`), since anyone holding it can act as the rack
/// and receive BMC passwords.
pub fn key_of(c: &mut DbConn, node_id: i64) -> Result<Option<String>> {
    let stored = rack_controllers::table
        .find(node_id)
        .select(rack_controllers::rack_key)
        .first::<Option<String>>(c)
        .optional()
        .map(Option::flatten)
        .map_err(from_diesel)?;
    stored.map(|s| secrets::open(secrets::RACK_KEY, &s)).transpose()
}

/// Stores a rack's own key, sealed; the only writer of `rack_key`.
pub fn set_key(c: &mut DbConn, node_id: i64, key: &str) -> Result<()> {
    diesel::update(rack_controllers::table.find(node_id))
        .set(rack_controllers::rack_key.eq(secrets::seal(secrets::RACK_KEY, key)?))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(())
}

/// The racks' shared registration secret, if the region has made one (kept
/// in the config table so every region on one database shares it; sealed,
/// like every credential in the database).
pub fn shared_secret(c: &mut DbConn) -> Result<Option<String>> {
    db::config::get(c, SHARED_SECRET)?.map(|s| secrets::open(secrets::RACK_SECRET, &s)).transpose()
}

/// Stores the shared registration secret, sealed.
pub fn set_shared_secret(c: &mut DbConn, secret: &str) -> Result<()> {
    db::config::set(c, SHARED_SECRET, &secrets::seal(secrets::RACK_SECRET, secret)?)
}

/// The config row of the shared secret.
pub const SHARED_SECRET: &str = "rack_secret";

/// Whether the rack may drive BMCs and serve machines.
pub fn accepted(c: &mut DbConn, node_id: i64) -> Result<bool> {
    rack_controllers::table
        .find(node_id)
        .select(rack_controllers::accepted)
        .first(c)
        .optional()
        .map(|a| a.unwrap_or(false))
        .map_err(from_diesel)
}

pub fn set_accepted(c: &mut DbConn, node_id: i64, accepted: bool) -> Result<()> {
    diesel::update(rack_controllers::table.find(node_id))
        .set(rack_controllers::accepted.eq(accepted))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(())
}

/// Node ids of accepted racks.
pub fn accepted_ids(c: &mut DbConn) -> Result<Vec<i64>> {
    rack_controllers::table
        .filter(rack_controllers::accepted.eq(true))
        .select(rack_controllers::node_id)
        .load(c)
        .map_err(from_diesel)
}

/// Records a request nonce of `signer`; false when it was seen before (a
/// replay). Nonces whose request timestamp is before `prune_before` are
/// deleted first: such requests are refused by their timestamp anyway.
pub fn record_nonce(c: &mut DbConn, signer: &str, nonce: &str, ts: i64, prune_before: i64) -> Result<bool> {
    diesel::delete(rack_nonces::table.filter(rack_nonces::ts.lt(prune_before))).execute(c).map_err(from_diesel)?;
    insert_if_new(c, |c| {
        diesel::insert_into(rack_nonces::table)
            .values((rack_nonces::signer.eq(signer), rack_nonces::nonce.eq(nonce), rack_nonces::ts.eq(ts)))
            .execute(c)
    })
}

/// Node ids of racks with an interface on VLAN `vlan_id`.
pub fn racks_on_vlan(c: &mut DbConn, vlan_id: i64, rack_types: &[NodeType]) -> Result<Vec<i64>> {
    interfaces::table
        .inner_join(nodes::table)
        .filter(interfaces::vlan_id.eq(vlan_id))
        .filter(nodes::node_type.eq_any(rack_types))
        .select(nodes::id)
        .distinct()
        .load(c)
        .map_err(from_diesel)
}

/// Heartbeat: last contact and services.
pub fn touch(c: &mut DbConn, node_id: i64, services: &str, now: NaiveDateTime) -> Result<()> {
    diesel::update(rack_controllers::table.find(node_id))
        .set((rack_controllers::services.eq(services), rack_controllers::last_seen.eq(now)))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(())
}

/// A node owning one of `macs`: (MAC, node id, node type, system_id).
pub fn owners_of_macs(c: &mut DbConn, macs: &[String]) -> Result<Vec<(String, i64, NodeType, String)>> {
    interfaces::table
        .inner_join(nodes::table)
        .filter(interfaces::mac_address.eq_any(macs))
        .select((interfaces::mac_address.assume_not_null(), nodes::id, nodes::node_type, nodes::system_id))
        .load(c)
        .map_err(from_diesel)
}

/// One interface MAC of a machine, with what decides its boot purpose.
#[derive(Debug, Clone, Queryable)]
pub struct BootRow {
    pub mac: String,
    pub system_id: String,
    pub hostname: String,
    pub status: i32,
    pub netboot: bool,
    /// The boot secret of the node's current token (none between phases).
    pub boot_secret: Option<String>,
}

/// Every machine interface with a MAC, machines in id order (one query).
pub fn boot_rows(c: &mut DbConn, machine_type: NodeType) -> Result<Vec<BootRow>> {
    interfaces::table
        .inner_join(nodes::table.left_join(node_tokens::table))
        .filter(nodes::node_type.eq(machine_type))
        .filter(interfaces::mac_address.is_not_null())
        .filter(interfaces::iftype.eq("physical"))
        .order((nodes::id.asc(), interfaces::id.asc()))
        .select((
            interfaces::mac_address.assume_not_null(),
            nodes::system_id,
            nodes::hostname,
            nodes::status,
            nodes::netboot,
            node_tokens::boot_secret.nullable(),
        ))
        .load::<BootRow>(c)
        .map_err(from_diesel)?
        .into_iter()
        .map(|mut r| {
            // Stored encrypted (db::secrets); the rack's boot URLs need it plain.
            if let Some(s) = r.boot_secret.take() {
                r.boot_secret = Some(crate::db::secrets::open(crate::db::secrets::NODE_BOOT_SECRET, &s)?);
            }
            Ok(r)
        })
        .collect()
}

/// (MAC, address, hostname) of node interfaces with an address in one of
/// `subnet_ids` (one query): what the rack's DHCP server reserves.
pub fn addresses_to_reserve(c: &mut DbConn, subnet_ids: &[i64]) -> Result<Vec<(String, String, String)>> {
    ip_addresses::table
        .inner_join(interfaces::table.inner_join(nodes::table))
        .filter(ip_addresses::subnet_id.eq_any(subnet_ids))
        .filter(ip_addresses::ip.is_not_null())
        .filter(interfaces::mac_address.is_not_null())
        .order(ip_addresses::id.asc())
        .select((interfaces::mac_address.assume_not_null(), ip_addresses::ip.assume_not_null(), nodes::hostname))
        .load(c)
        .map_err(from_diesel)
}

/// Address rows attached to the interfaces of node `node_id`.
pub fn delete_node_addresses(c: &mut DbConn, interface_ids: &[i64]) -> Result<()> {
    diesel::delete(ip_addresses::table.filter(ip_addresses::interface_id.eq_any(interface_ids)))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(())
}

/// DHCP-discovered addresses (`mode = 'discovered'`) for `mac` or `ip`.
pub fn delete_discovered(c: &mut DbConn, mac: &str, ip: &str) -> Result<usize> {
    diesel::delete(
        ip_addresses::table
            .filter(ip_addresses::mode.eq("discovered"))
            .filter(ip_addresses::mac_address.eq(mac).or(ip_addresses::ip.eq(ip))),
    )
    .execute(c)
    .map_err(from_diesel)
}

/// The DHCP link (`mode = 'dhcp'`) of an interface with `mac`, if any.
pub fn dhcp_link_of_mac(c: &mut DbConn, mac: &str) -> Result<Option<(i64, Option<String>)>> {
    ip_addresses::table
        .inner_join(interfaces::table)
        .filter(interfaces::mac_address.eq(mac))
        .filter(ip_addresses::mode.eq("dhcp"))
        .select((ip_addresses::id, ip_addresses::ip))
        .first(c)
        .optional()
        .map_err(from_diesel)
}

/// Node (id, system_id, hostname) owning interface `mac`.
pub fn node_of_mac(c: &mut DbConn, mac: &str) -> Result<Option<(i64, String)>> {
    interfaces::table
        .inner_join(nodes::table)
        .filter(interfaces::mac_address.eq(mac))
        .select((nodes::id, nodes::system_id))
        .first(c)
        .optional()
        .map_err(from_diesel)
}

/// Adds a physical interface reported by a rack; returns its id.
pub fn insert_interface(c: &mut DbConn, node_id: i64, name: &str, mac: &str) -> Result<i64> {
    diesel::insert_into(interfaces::table)
        .values((
            interfaces::node_id.eq(node_id),
            interfaces::name.eq(name),
            interfaces::iftype.eq("physical"),
            interfaces::mac_address.eq(mac),
            interfaces::enabled.eq(true),
            interfaces::is_boot.eq(false),
            interfaces::params.eq("{}"),
            interfaces::tags.eq("[]"),
            interfaces::link_connected.eq(true),
            interfaces::interface_speed.eq(0i64),
            interfaces::link_speed.eq(0i64),
            interfaces::created_at.eq(chrono::Utc::now().naive_utc()),
        ))
        .returning(interfaces::id)
        .get_result(c)
        .map_err(from_diesel)
}

/// Renames an interface and sets its VLAN (what the rack observed).
pub fn set_interface(c: &mut DbConn, id: i64, name: &str, vlan_id: Option<i64>) -> Result<()> {
    diesel::update(interfaces::table.find(id))
        .set((interfaces::name.eq(name), interfaces::vlan_id.eq(vlan_id)))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(())
}

/// Every registered rack's system_id and when it last synced (`/metrics`).
pub fn last_seen_all(c: &mut DbConn) -> Result<Vec<(String, NaiveDateTime)>> {
    rack_controllers::table
        .inner_join(nodes::table)
        .select((nodes::system_id, rack_controllers::last_seen))
        .order(nodes::system_id)
        .load(c)
        .map_err(from_diesel)
}
