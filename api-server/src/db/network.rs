//! Rows and queries of the network model: spaces, fabrics, VLANs, subnets,
//! IP ranges, IP addresses (links and reservations), interface relations and
//! static routes.
//!
//! The model's "directory" (spaces, fabrics, VLANs, subnets) is small even at
//! 10,000 machines, so readers load it whole in four queries ([`load_model`])
//! and resolve references in memory; per-node rows (links, parents) are
//! loaded for a whole page of nodes at once.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{
    fabrics, interface_parents, interfaces, ip_addresses, ip_ranges, spaces, static_routes, subnets, vlans,
};
use crate::db::{from_diesel, is_unique_violation, DbConn};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = spaces)]
pub struct Space {
    pub id: i64,
    pub name: String,
    pub description: String,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = fabrics)]
pub struct Fabric {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub class_type: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, AsChangeset)]
#[diesel(table_name = vlans, treat_none_as_null = true)]
pub struct Vlan {
    #[diesel(skip_update)]
    pub id: i64,
    pub fabric_id: i64,
    pub vid: i32,
    pub name: Option<String>,
    pub description: String,
    pub mtu: i32,
    pub dhcp_on: bool,
    pub external_dhcp: Option<String>,
    pub primary_rack_id: Option<i64>,
    pub secondary_rack_id: Option<i64>,
    pub relay_vlan_id: Option<i64>,
    pub space_id: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable, AsChangeset)]
#[diesel(table_name = subnets, treat_none_as_null = true)]
pub struct Subnet {
    #[diesel(skip_update)]
    pub id: i64,
    pub name: String,
    pub description: String,
    pub cidr: String,
    pub vlan_id: i64,
    pub gateway_ip: Option<String>,
    /// Space-separated list.
    pub dns_servers: String,
    pub rdns_mode: i32,
    pub allow_dns: bool,
    pub allow_proxy: bool,
    pub active_discovery: bool,
    pub managed: bool,
    /// Space-separated list.
    pub disabled_boot_architectures: String,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ip_ranges)]
pub struct IpRange {
    pub id: i64,
    pub subnet_id: i64,
    pub range_type: String,
    pub start_ip: String,
    pub end_ip: String,
    pub comment: String,
    pub user_id: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ip_addresses)]
pub struct IpAddress {
    pub id: i64,
    pub ip: Option<String>,
    pub mode: String,
    pub subnet_id: Option<i64>,
    pub interface_id: Option<i64>,
    pub user_id: Option<i64>,
    pub hostname: String,
    pub mac_address: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = ip_addresses)]
pub struct NewIpAddress {
    pub ip: Option<String>,
    pub mode: String,
    pub subnet_id: Option<i64>,
    pub interface_id: Option<i64>,
    pub user_id: Option<i64>,
    pub hostname: String,
    pub mac_address: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = static_routes)]
pub struct StaticRoute {
    pub id: i64,
    pub source_id: i64,
    pub destination_id: i64,
    pub gateway_ip: String,
    pub metric: i32,
}

/// The whole network directory, keyed by id.
#[derive(Debug, Default, Clone)]
pub struct Model {
    pub spaces: HashMap<i64, Space>,
    pub fabrics: HashMap<i64, Fabric>,
    pub vlans: HashMap<i64, Vlan>,
    pub subnets: HashMap<i64, Subnet>,
}

impl Model {
    pub fn vlans_of_fabric(&self, fabric_id: i64) -> Vec<&Vlan> {
        let mut v: Vec<&Vlan> = self.vlans.values().filter(|v| v.fabric_id == fabric_id).collect();
        v.sort_by_key(|v| (v.vid, v.id));
        v
    }

    pub fn subnets_sorted(&self) -> Vec<&Subnet> {
        let mut v: Vec<&Subnet> = self.subnets.values().collect();
        v.sort_by_key(|s| s.id);
        v
    }

    pub fn space_of_vlan(&self, vlan_id: i64) -> Option<&Space> {
        self.vlans.get(&vlan_id).and_then(|v| v.space_id).and_then(|s| self.spaces.get(&s))
    }
}

/// Loads spaces, fabrics, VLANs and subnets (four queries).
pub fn load_model(c: &mut DbConn) -> Result<Model> {
    Ok(Model {
        spaces: spaces::table
            .select(Space::as_select())
            .load(c)
            .map_err(from_diesel)?
            .into_iter()
            .map(|s| (s.id, s))
            .collect(),
        fabrics: fabrics::table
            .select(Fabric::as_select())
            .load(c)
            .map_err(from_diesel)?
            .into_iter()
            .map(|f| (f.id, f))
            .collect(),
        vlans: vlans::table
            .select(Vlan::as_select())
            .load(c)
            .map_err(from_diesel)?
            .into_iter()
            .map(|v| (v.id, v))
            .collect(),
        subnets: subnets::table
            .select(Subnet::as_select())
            .load(c)
            .map_err(from_diesel)?
            .into_iter()
            .map(|s| (s.id, s))
            .collect(),
    })
}

/// The system_ids of the racks the model's VLANs name (primary/secondary),
/// by node id: one query, none when no VLAN names a rack.
pub fn rack_names(c: &mut DbConn, model: &Model) -> Result<HashMap<i64, String>> {
    use super::schema::nodes;
    let mut ids: Vec<i64> =
        model.vlans.values().flat_map(|v| [v.primary_rack_id, v.secondary_rack_id]).flatten().collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(nodes::table
        .filter(nodes::id.eq_any(&ids))
        .select((nodes::id, nodes::system_id))
        .load::<(i64, String)>(c)
        .map_err(from_diesel)?
        .into_iter()
        .collect())
}

fn dup(e: diesel::result::Error, what: &str, field: &str) -> Error {
    if is_unique_violation(&e) {
        Error::field(field, format!("{what} with this {} already exists.", field.replace('_', " ")))
    } else {
        from_diesel(e)
    }
}

// ---- spaces ----

pub fn space_by_id(c: &mut DbConn, id: i64) -> Result<Option<Space>> {
    spaces::table.find(id).select(Space::as_select()).first(c).optional().map_err(from_diesel)
}

pub fn space_by_name(c: &mut DbConn, name: &str) -> Result<Option<Space>> {
    spaces::table.filter(spaces::name.eq(name)).select(Space::as_select()).first(c).optional().map_err(from_diesel)
}

pub fn space_insert(c: &mut DbConn, name: &str, description: &str) -> Result<Space> {
    diesel::insert_into(spaces::table)
        .values((spaces::name.eq(name), spaces::description.eq(description), spaces::created_at.eq(super::now())))
        .execute(c)
        .map_err(|e| dup(e, "Space", "name"))?;
    space_by_name(c, name)?.ok_or_else(|| Error::Internal("inserted space vanished".into()))
}

pub fn space_update(c: &mut DbConn, id: i64, name: &str, description: &str) -> Result<()> {
    diesel::update(spaces::table.find(id))
        .set((spaces::name.eq(name), spaces::description.eq(description)))
        .execute(c)
        .map_err(|e| dup(e, "Space", "name"))?;
    Ok(())
}

pub fn space_delete(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(spaces::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

// ---- fabrics ----

pub fn fabric_by_id(c: &mut DbConn, id: i64) -> Result<Option<Fabric>> {
    fabrics::table.find(id).select(Fabric::as_select()).first(c).optional().map_err(from_diesel)
}

pub fn fabric_by_name(c: &mut DbConn, name: &str) -> Result<Option<Fabric>> {
    fabrics::table.filter(fabrics::name.eq(name)).select(Fabric::as_select()).first(c).optional().map_err(from_diesel)
}

/// Inserts a fabric. With no name it is called `fabric-<id>`, as in MAAS, so
/// the row is inserted under a placeholder and renamed once the id is known.
pub fn fabric_insert(
    c: &mut DbConn,
    name: Option<&str>,
    description: &str,
    class_type: Option<&str>,
) -> Result<Fabric> {
    let placeholder = format!("fabric-new-{}", rand::random::<u64>());
    let n = name.unwrap_or(&placeholder);
    diesel::insert_into(fabrics::table)
        .values((
            fabrics::name.eq(n),
            fabrics::description.eq(description),
            fabrics::class_type.eq(class_type),
            fabrics::created_at.eq(super::now()),
        ))
        .execute(c)
        .map_err(|e| dup(e, "Fabric", "name"))?;
    let f = fabric_by_name(c, n)?.ok_or_else(|| Error::Internal("inserted fabric vanished".into()))?;
    if name.is_none() {
        let real = format!("fabric-{}", f.id);
        diesel::update(fabrics::table.find(f.id))
            .set(fabrics::name.eq(&real))
            .execute(c)
            .map_err(|e| dup(e, "Fabric", "name"))?;
        return fabric_by_id(c, f.id)?.ok_or_else(|| Error::Internal("fabric vanished".into()));
    }
    Ok(f)
}

pub fn fabric_update(c: &mut DbConn, f: &Fabric) -> Result<()> {
    diesel::update(fabrics::table.find(f.id))
        .set((
            fabrics::name.eq(&f.name),
            fabrics::description.eq(&f.description),
            fabrics::class_type.eq(&f.class_type),
        ))
        .execute(c)
        .map_err(|e| dup(e, "Fabric", "name"))?;
    Ok(())
}

pub fn fabric_delete(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(fabrics::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

// ---- VLANs ----

pub fn vlan_by_id(c: &mut DbConn, id: i64) -> Result<Option<Vlan>> {
    vlans::table.find(id).select(Vlan::as_select()).first(c).optional().map_err(from_diesel)
}

pub fn vlan_by_vid(c: &mut DbConn, fabric_id: i64, vid: i32) -> Result<Option<Vlan>> {
    vlans::table
        .filter(vlans::fabric_id.eq(fabric_id).and(vlans::vid.eq(vid)))
        .select(Vlan::as_select())
        .first(c)
        .optional()
        .map_err(from_diesel)
}

pub fn vlan_insert(c: &mut DbConn, v: &Vlan) -> Result<Vlan> {
    diesel::insert_into(vlans::table)
        .values((
            vlans::fabric_id.eq(v.fabric_id),
            vlans::vid.eq(v.vid),
            vlans::name.eq(&v.name),
            vlans::description.eq(&v.description),
            vlans::mtu.eq(v.mtu),
            vlans::dhcp_on.eq(v.dhcp_on),
            vlans::external_dhcp.eq(&v.external_dhcp),
            vlans::primary_rack_id.eq(v.primary_rack_id),
            vlans::secondary_rack_id.eq(v.secondary_rack_id),
            vlans::relay_vlan_id.eq(v.relay_vlan_id),
            vlans::space_id.eq(v.space_id),
            vlans::created_at.eq(super::now()),
        ))
        .execute(c)
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::field("vid", format!("VLAN with vid {} already exists in this fabric.", v.vid))
            } else {
                from_diesel(e)
            }
        })?;
    vlan_by_vid(c, v.fabric_id, v.vid)?.ok_or_else(|| Error::Internal("inserted VLAN vanished".into()))
}

pub fn vlan_update(c: &mut DbConn, v: &Vlan) -> Result<()> {
    diesel::update(vlans::table.find(v.id)).set(v).execute(c).map_err(|e| {
        if is_unique_violation(&e) {
            Error::field("vid", format!("VLAN with vid {} already exists in this fabric.", v.vid))
        } else {
            from_diesel(e)
        }
    })?;
    Ok(())
}

pub fn vlan_delete(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(vlans::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

/// Interfaces on a VLAN (any node).
pub fn vlan_interface_count(c: &mut DbConn, vlan_id: i64) -> Result<i64> {
    interfaces::table.filter(interfaces::vlan_id.eq(vlan_id)).count().get_result(c).map_err(from_diesel)
}

pub fn vlan_subnet_count(c: &mut DbConn, vlan_id: i64) -> Result<i64> {
    subnets::table.filter(subnets::vlan_id.eq(vlan_id)).count().get_result(c).map_err(from_diesel)
}

/// Moves interfaces off VLANs that are being deleted (to the default VLAN).
pub fn move_interfaces(c: &mut DbConn, from: &[i64], to: i64) -> Result<()> {
    diesel::update(interfaces::table.filter(interfaces::vlan_id.eq_any(from)))
        .set(interfaces::vlan_id.eq(to))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(())
}

// ---- subnets ----

pub fn subnet_by_id(c: &mut DbConn, id: i64) -> Result<Option<Subnet>> {
    subnets::table.find(id).select(Subnet::as_select()).first(c).optional().map_err(from_diesel)
}

pub fn subnet_insert(c: &mut DbConn, s: &Subnet) -> Result<Subnet> {
    diesel::insert_into(subnets::table)
        .values((
            subnets::name.eq(&s.name),
            subnets::description.eq(&s.description),
            subnets::cidr.eq(&s.cidr),
            subnets::vlan_id.eq(s.vlan_id),
            subnets::gateway_ip.eq(&s.gateway_ip),
            subnets::dns_servers.eq(&s.dns_servers),
            subnets::rdns_mode.eq(s.rdns_mode),
            subnets::allow_dns.eq(s.allow_dns),
            subnets::allow_proxy.eq(s.allow_proxy),
            subnets::active_discovery.eq(s.active_discovery),
            subnets::managed.eq(s.managed),
            subnets::disabled_boot_architectures.eq(&s.disabled_boot_architectures),
            subnets::created_at.eq(super::now()),
        ))
        .execute(c)
        .map_err(|e| dup(e, "Subnet", "cidr"))?;
    subnets::table.filter(subnets::cidr.eq(&s.cidr)).select(Subnet::as_select()).first(c).map_err(from_diesel)
}

pub fn subnet_update(c: &mut DbConn, s: &Subnet) -> Result<()> {
    diesel::update(subnets::table.find(s.id)).set(s).execute(c).map_err(|e| dup(e, "Subnet", "cidr"))?;
    Ok(())
}

pub fn subnet_delete(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(subnets::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

// ---- IP ranges ----

pub fn ranges(c: &mut DbConn, subnet_id: Option<i64>) -> Result<Vec<IpRange>> {
    let mut q = ip_ranges::table.order(ip_ranges::id).select(IpRange::as_select()).into_boxed();
    if let Some(s) = subnet_id {
        q = q.filter(ip_ranges::subnet_id.eq(s));
    }
    q.load(c).map_err(from_diesel)
}

pub fn range_by_id(c: &mut DbConn, id: i64) -> Result<Option<IpRange>> {
    ip_ranges::table.find(id).select(IpRange::as_select()).first(c).optional().map_err(from_diesel)
}

pub fn range_insert(
    c: &mut DbConn,
    subnet_id: i64,
    range_type: &str,
    start: &str,
    end: &str,
    comment: &str,
    user_id: Option<i64>,
) -> Result<IpRange> {
    let id = diesel::insert_into(ip_ranges::table)
        .values((
            ip_ranges::subnet_id.eq(subnet_id),
            ip_ranges::range_type.eq(range_type),
            ip_ranges::start_ip.eq(start),
            ip_ranges::end_ip.eq(end),
            ip_ranges::comment.eq(comment),
            ip_ranges::user_id.eq(user_id),
            ip_ranges::created_at.eq(super::now()),
        ))
        .returning(ip_ranges::id)
        .get_result::<i64>(c)
        .map_err(from_diesel)?;
    range_by_id(c, id)?.ok_or_else(|| Error::Internal("inserted range vanished".into()))
}

/// The columns an IP range update writes.
pub struct RangeChange<'a> {
    pub subnet_id: i64,
    pub range_type: &'a str,
    pub start: &'a str,
    pub end: &'a str,
    pub comment: &'a str,
}

pub fn range_update(c: &mut DbConn, id: i64, ch: RangeChange<'_>) -> Result<()> {
    diesel::update(ip_ranges::table.find(id))
        .set((
            ip_ranges::subnet_id.eq(ch.subnet_id),
            ip_ranges::range_type.eq(ch.range_type),
            ip_ranges::start_ip.eq(ch.start),
            ip_ranges::end_ip.eq(ch.end),
            ip_ranges::comment.eq(ch.comment),
        ))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(())
}

pub fn range_delete(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(ip_ranges::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

// ---- IP addresses ----

pub fn addresses_in_subnet(c: &mut DbConn, subnet_id: i64) -> Result<Vec<IpAddress>> {
    ip_addresses::table
        .filter(ip_addresses::subnet_id.eq(subnet_id))
        .order(ip_addresses::id)
        .select(IpAddress::as_select())
        .load(c)
        .map_err(from_diesel)
}

pub fn address_by_id(c: &mut DbConn, id: i64) -> Result<Option<IpAddress>> {
    ip_addresses::table.find(id).select(IpAddress::as_select()).first(c).optional().map_err(from_diesel)
}

pub fn address_by_ip(c: &mut DbConn, ip: &str) -> Result<Option<IpAddress>> {
    ip_addresses::table
        .filter(ip_addresses::ip.eq(ip))
        .select(IpAddress::as_select())
        .first(c)
        .optional()
        .map_err(from_diesel)
}

/// User reservations (mode `reserved`), optionally of one user.
pub fn reservations(c: &mut DbConn, user_id: Option<i64>) -> Result<Vec<IpAddress>> {
    let mut q = ip_addresses::table
        .filter(ip_addresses::mode.eq("reserved"))
        .order(ip_addresses::id)
        .select(IpAddress::as_select())
        .into_boxed();
    if let Some(u) = user_id {
        q = q.filter(ip_addresses::user_id.eq(u));
    }
    q.load(c).map_err(from_diesel)
}

/// Links of the given interfaces, ordered by id.
pub fn links_of(c: &mut DbConn, interface_ids: &[i64]) -> Result<Vec<IpAddress>> {
    if interface_ids.is_empty() {
        return Ok(Vec::new());
    }
    ip_addresses::table
        .filter(ip_addresses::interface_id.eq_any(interface_ids))
        .order(ip_addresses::id)
        .select(IpAddress::as_select())
        .load(c)
        .map_err(from_diesel)
}

/// Inserts an address row. A taken `ip` is [`Error::Conflict`]; the insert
/// runs in a savepoint so on PostgreSQL the surrounding transaction survives
/// the violation and the caller can try the next free address.
pub fn address_insert(c: &mut DbConn, new: &NewIpAddress) -> Result<IpAddress> {
    use diesel::connection::Connection;
    let r = c.transaction::<_, diesel::result::Error, _>(|c| {
        let id: i64 = diesel::insert_into(ip_addresses::table).values(new).returning(ip_addresses::id).get_result(c)?;
        ip_addresses::table.find(id).select(IpAddress::as_select()).first(c)
    });
    match r {
        Ok(a) => Ok(a),
        Err(e) if is_unique_violation(&e) => {
            Err(Error::Conflict(format!("IP address {} is already in use.", new.ip.as_deref().unwrap_or(""))))
        }
        Err(e) => Err(from_diesel(e)),
    }
}

/// Sets (or clears) the address of a link row. A taken address is a
/// conflict, without poisoning the transaction (savepoint).
pub fn address_set_ip(c: &mut DbConn, id: i64, ip: Option<&str>) -> Result<()> {
    use diesel::connection::Connection;
    let r = c.transaction::<_, diesel::result::Error, _>(|c| {
        diesel::update(ip_addresses::table.find(id)).set(ip_addresses::ip.eq(ip)).execute(c)
    });
    match r {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => {
            Err(Error::Conflict(format!("IP address {} is already in use.", ip.unwrap_or(""))))
        }
        Err(e) => Err(from_diesel(e)),
    }
}

pub fn address_delete(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(ip_addresses::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

/// Clears the addresses of a node's `auto` links (release).
pub fn clear_auto_ips(c: &mut DbConn, interface_ids: &[i64]) -> Result<usize> {
    diesel::update(
        ip_addresses::table
            .filter(ip_addresses::interface_id.eq_any(interface_ids))
            .filter(ip_addresses::mode.eq("auto"))
            .filter(ip_addresses::ip.is_not_null()),
    )
    .set(ip_addresses::ip.eq(None::<String>))
    .execute(c)
    .map_err(from_diesel)
}

// ---- interface relations ----

/// (child_id, parent_id) pairs touching any of the given interfaces.
pub fn relations_of(c: &mut DbConn, interface_ids: &[i64]) -> Result<Vec<(i64, i64)>> {
    if interface_ids.is_empty() {
        return Ok(Vec::new());
    }
    interface_parents::table
        .filter(
            interface_parents::child_id.eq_any(interface_ids).or(interface_parents::parent_id.eq_any(interface_ids)),
        )
        .select((interface_parents::child_id, interface_parents::parent_id))
        .load(c)
        .map_err(from_diesel)
}

pub fn relation_insert(c: &mut DbConn, child: i64, parent: i64) -> Result<()> {
    diesel::insert_into(interface_parents::table)
        .values((interface_parents::child_id.eq(child), interface_parents::parent_id.eq(parent)))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(())
}

pub fn relations_delete_child(c: &mut DbConn, child: i64) -> Result<()> {
    diesel::delete(interface_parents::table.filter(interface_parents::child_id.eq(child)))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(())
}

// ---- static routes ----

pub fn routes(c: &mut DbConn) -> Result<Vec<StaticRoute>> {
    static_routes::table.order(static_routes::id).select(StaticRoute::as_select()).load(c).map_err(from_diesel)
}

pub fn route_by_id(c: &mut DbConn, id: i64) -> Result<Option<StaticRoute>> {
    static_routes::table.find(id).select(StaticRoute::as_select()).first(c).optional().map_err(from_diesel)
}

pub fn route_insert(c: &mut DbConn, source: i64, dest: i64, gateway: &str, metric: i32) -> Result<StaticRoute> {
    let id = diesel::insert_into(static_routes::table)
        .values((
            static_routes::source_id.eq(source),
            static_routes::destination_id.eq(dest),
            static_routes::gateway_ip.eq(gateway),
            static_routes::metric.eq(metric),
            static_routes::created_at.eq(super::now()),
        ))
        .returning(static_routes::id)
        .get_result::<i64>(c)
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::field("__all__", "Static route with this Source, Destination and Gateway ip already exists.")
            } else {
                from_diesel(e)
            }
        })?;
    route_by_id(c, id)?.ok_or_else(|| Error::Internal("inserted route vanished".into()))
}

pub fn route_update(c: &mut DbConn, r: &StaticRoute) -> Result<()> {
    diesel::update(static_routes::table.find(r.id))
        .set((
            static_routes::source_id.eq(r.source_id),
            static_routes::destination_id.eq(r.destination_id),
            static_routes::gateway_ip.eq(&r.gateway_ip),
            static_routes::metric.eq(r.metric),
        ))
        .execute(c)
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::field("__all__", "Static route with this Source, Destination and Gateway ip already exists.")
            } else {
                from_diesel(e)
            }
        })?;
    Ok(())
}

pub fn route_delete(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(static_routes::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

// ---- interfaces (the network side of them) ----

use crate::db::interfaces::{Interface, NewInterface};

pub fn interfaces_of(c: &mut DbConn, node_id: i64) -> Result<Vec<Interface>> {
    interfaces::table
        .filter(interfaces::node_id.eq(node_id))
        .order(interfaces::id)
        .select(Interface::as_select())
        .load(c)
        .map_err(from_diesel)
}

pub fn interface_by_id(c: &mut DbConn, id: i64) -> Result<Option<Interface>> {
    interfaces::table.find(id).select(Interface::as_select()).first(c).optional().map_err(from_diesel)
}

/// Interfaces by id, in one query per 30,000 (a subnet's used addresses
/// name the interface holding each, without a query per address).
pub fn interfaces_by_ids(c: &mut DbConn, ids: &[i64]) -> Result<Vec<Interface>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(super::nodes::CHUNK) {
        out.extend(
            interfaces::table
                .filter(interfaces::id.eq_any(chunk))
                .order(interfaces::id)
                .select(Interface::as_select())
                .load(c)
                .map_err(from_diesel)?,
        );
    }
    Ok(out)
}

/// Physical interfaces (any node) with this MAC.
pub fn interface_with_mac(c: &mut DbConn, mac: &str) -> Result<Option<Interface>> {
    interfaces::table
        .filter(interfaces::mac_address.eq(mac))
        .filter(interfaces::iftype.eq("physical"))
        .select(Interface::as_select())
        .first(c)
        .optional()
        .map_err(from_diesel)
}

pub fn interface_insert(c: &mut DbConn, new: &NewInterface) -> Result<Interface> {
    let id: i64 =
        diesel::insert_into(interfaces::table).values(new).returning(interfaces::id).get_result(c).map_err(|e| {
            if is_unique_violation(&e) {
                Error::field("name", format!("Interface with name '{}' already exists on this node.", new.name))
            } else {
                from_diesel(e)
            }
        })?;
    interface_by_id(c, id)?.ok_or_else(|| Error::Internal("inserted interface vanished".into()))
}

pub fn interface_save(c: &mut DbConn, i: &Interface) -> Result<()> {
    diesel::update(interfaces::table.find(i.id))
        .set((
            interfaces::name.eq(&i.name),
            interfaces::mac_address.eq(&i.mac_address),
            interfaces::enabled.eq(i.enabled),
            interfaces::vlan_id.eq(i.vlan_id),
            interfaces::params.eq(&i.params),
            interfaces::tags.eq(&i.tags),
            interfaces::link_connected.eq(i.link_connected),
            interfaces::interface_speed.eq(i.interface_speed),
            interfaces::link_speed.eq(i.link_speed),
        ))
        .execute(c)
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::field("name", format!("Interface with name '{}' already exists on this node.", i.name))
            } else {
                from_diesel(e)
            }
        })?;
    Ok(())
}

pub fn interface_delete(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(interfaces::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

/// Sets or clears a node's default gateway link for one address family.
pub fn set_gateway_link(c: &mut DbConn, node_id: i64, v4: bool, link: Option<i64>) -> Result<()> {
    use super::schema::nodes;
    let q = diesel::update(nodes::table.find(node_id));
    let r = if v4 {
        q.set(nodes::gateway_link_ipv4_id.eq(link)).execute(c)
    } else {
        q.set(nodes::gateway_link_ipv6_id.eq(link)).execute(c)
    };
    r.map_err(from_diesel)?;
    Ok(())
}

pub fn gateway_links(c: &mut DbConn, node_id: i64) -> Result<(Option<i64>, Option<i64>)> {
    use super::schema::nodes;
    nodes::table
        .find(node_id)
        .select((nodes::gateway_link_ipv4_id, nodes::gateway_link_ipv6_id))
        .first(c)
        .map_err(from_diesel)
}
