//! Rows and queries of DNS: domains, user DNS resources (a name in a domain,
//! its addresses as `ip_addresses` rows, its other records), and the node
//! addresses the DNS server publishes.
//!
//! Everything the DNS server asks per query is a narrow lookup by name or
//! address (indexed), so answers read the database directly and changes show
//! at once without a cache to invalidate.

use std::collections::HashMap;

use diesel::prelude::*;

use crate::db::network::IpAddress;
use crate::db::schema::{dns_records, dns_resource_ips, dns_resources, domains, interfaces, ip_addresses, nodes};
use crate::db::{from_diesel, is_unique_violation, DbConn};
use crate::error::{Error, Result};
use chrono::NaiveDateTime;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = dns_resources)]
pub struct DnsResource {
    pub id: i64,
    /// Relative to the domain; `@` is the domain's apex.
    pub name: String,
    pub domain_id: i64,
    pub address_ttl: Option<i32>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = dns_records)]
pub struct DnsRecord {
    pub id: i64,
    pub dnsresource_id: i64,
    pub rrtype: String,
    pub rrdata: String,
    pub ttl: Option<i32>,
}

// ---------------------------------------------------------------- domains

pub fn domain_by_id(c: &mut DbConn, id: i64) -> Result<Option<Domain>> {
    domains::table.find(id).select(Domain::as_select()).first(c).optional().map_err(from_diesel)
}

pub fn domain_by_name(c: &mut DbConn, name: &str) -> Result<Option<Domain>> {
    domains::table.filter(domains::name.eq(name)).select(Domain::as_select()).first(c).optional().map_err(from_diesel)
}

fn dup_domain(e: diesel::result::Error) -> Error {
    if is_unique_violation(&e) {
        Error::field("name", "Domain with this Name already exists.")
    } else {
        from_diesel(e)
    }
}

pub fn domain_insert(c: &mut DbConn, name: &str, authoritative: bool, ttl: Option<i32>, fwd: &str) -> Result<Domain> {
    diesel::insert_into(domains::table)
        .values((
            domains::name.eq(name),
            domains::authoritative.eq(authoritative),
            domains::ttl.eq(ttl),
            domains::is_default.eq(false),
            domains::forward_dns_servers.eq(fwd),
            domains::created_at.eq(super::now()),
        ))
        .execute(c)
        .map_err(dup_domain)?;
    domain_by_name(c, name)?.ok_or_else(|| Error::Internal("inserted domain vanished".into()))
}

pub fn domain_update(c: &mut DbConn, d: &Domain) -> Result<()> {
    diesel::update(domains::table.find(d.id))
        .set((
            domains::name.eq(&d.name),
            domains::authoritative.eq(d.authoritative),
            domains::ttl.eq(d.ttl),
            domains::forward_dns_servers.eq(&d.forward_dns_servers),
        ))
        .execute(c)
        .map_err(dup_domain)?;
    Ok(())
}

pub fn domain_delete(c: &mut DbConn, id: i64) -> Result<()> {
    // Owned addresses of the domain's resources go with them.
    let res: Vec<i64> = dns_resources::table
        .filter(dns_resources::domain_id.eq(id))
        .select(dns_resources::id)
        .load(c)
        .map_err(from_diesel)?;
    for r in res {
        resource_delete(c, r)?;
    }
    diesel::delete(domains::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

/// Makes `id` the one default domain.
pub fn domain_set_default(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::update(domains::table).set(domains::is_default.eq(domains::id.eq(id))).execute(c).map_err(from_diesel)?;
    Ok(())
}

pub fn domain_node_count(c: &mut DbConn, id: i64) -> Result<i64> {
    nodes::table.filter(nodes::domain_id.eq(id)).count().get_result(c).map_err(from_diesel)
}

/// Resource records per domain: user records, user resource addresses and
/// node addresses (what the zone publishes besides SOA/NS). Three queries
/// whatever the number of domains.
pub fn record_counts(c: &mut DbConn) -> Result<HashMap<i64, i64>> {
    let mut out: HashMap<i64, i64> = HashMap::new();
    let recs: Vec<i64> = dns_records::table
        .inner_join(dns_resources::table)
        .select(dns_resources::domain_id)
        .load(c)
        .map_err(from_diesel)?;
    let ips: Vec<i64> = dns_resource_ips::table
        .inner_join(dns_resources::table)
        .select(dns_resources::domain_id)
        .load(c)
        .map_err(from_diesel)?;
    let nodes: Vec<i64> = ip_addresses::table
        .inner_join(interfaces::table.inner_join(nodes::table))
        .filter(ip_addresses::ip.is_not_null())
        .select(nodes::domain_id)
        .load(c)
        .map_err(from_diesel)?;
    for d in recs.into_iter().chain(ips).chain(nodes) {
        *out.entry(d).or_default() += 1;
    }
    Ok(out)
}

// ---------------------------------------------------------------- resources

pub fn resources(c: &mut DbConn, domain_id: Option<i64>, name: Option<&str>) -> Result<Vec<DnsResource>> {
    let mut q = dns_resources::table.select(DnsResource::as_select()).order(dns_resources::id).into_boxed();
    if let Some(d) = domain_id {
        q = q.filter(dns_resources::domain_id.eq(d));
    }
    if let Some(n) = name {
        q = q.filter(dns_resources::name.eq(n.to_string()));
    }
    q.load(c).map_err(from_diesel)
}

pub fn resource_by_id(c: &mut DbConn, id: i64) -> Result<Option<DnsResource>> {
    dns_resources::table.find(id).select(DnsResource::as_select()).first(c).optional().map_err(from_diesel)
}

pub fn resource_by_name(c: &mut DbConn, name: &str, domain_id: i64) -> Result<Option<DnsResource>> {
    dns_resources::table
        .filter(dns_resources::name.eq(name).and(dns_resources::domain_id.eq(domain_id)))
        .select(DnsResource::as_select())
        .first(c)
        .optional()
        .map_err(from_diesel)
}

fn dup_resource(e: diesel::result::Error) -> Error {
    if is_unique_violation(&e) {
        Error::field("name", "DNSResource with this Name and Domain already exists.")
    } else {
        from_diesel(e)
    }
}

pub fn resource_insert(c: &mut DbConn, name: &str, domain_id: i64, ttl: Option<i32>) -> Result<DnsResource> {
    diesel::insert_into(dns_resources::table)
        .values((
            dns_resources::name.eq(name),
            dns_resources::domain_id.eq(domain_id),
            dns_resources::address_ttl.eq(ttl),
            dns_resources::created_at.eq(super::now()),
        ))
        .execute(c)
        .map_err(dup_resource)?;
    resource_by_name(c, name, domain_id)?.ok_or_else(|| Error::Internal("inserted resource vanished".into()))
}

pub fn resource_update(c: &mut DbConn, r: &DnsResource) -> Result<()> {
    diesel::update(dns_resources::table.find(r.id))
        .set((
            dns_resources::name.eq(&r.name),
            dns_resources::domain_id.eq(r.domain_id),
            dns_resources::address_ttl.eq(r.address_ttl),
        ))
        .execute(c)
        .map_err(dup_resource)?;
    Ok(())
}

/// Deletes a resource, its records and the address rows it owns.
/// Deletes a resource and its links, keeping every address row: a
/// reservation made through the resource stays the user's until released
/// (terraform-provider-maas releases it after the delete; see
/// `engine::dns::delete_resource`).
pub fn resource_delete(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(dns_resource_ips::table.filter(dns_resource_ips::dnsresource_id.eq(id)))
        .execute(c)
        .map_err(from_diesel)?;
    diesel::delete(dns_resources::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

/// Addresses of the given resources: (resource id, address row, owned).
pub fn resource_ips(c: &mut DbConn, ids: &[i64]) -> Result<Vec<(i64, IpAddress, bool)>> {
    dns_resource_ips::table
        .inner_join(ip_addresses::table)
        .filter(dns_resource_ips::dnsresource_id.eq_any(ids))
        .order(ip_addresses::id)
        .select((dns_resource_ips::dnsresource_id, IpAddress::as_select(), dns_resource_ips::owned))
        .load(c)
        .map_err(from_diesel)
}

pub fn link_ip(c: &mut DbConn, resource_id: i64, address_id: i64, owned: bool) -> Result<()> {
    diesel::insert_into(dns_resource_ips::table)
        .values((
            dns_resource_ips::dnsresource_id.eq(resource_id),
            dns_resource_ips::ip_address_id.eq(address_id),
            dns_resource_ips::owned.eq(owned),
        ))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(())
}

/// Drops every address of a resource; address rows it owns are deleted.
pub fn unlink_ips(c: &mut DbConn, resource_id: i64) -> Result<()> {
    let owned: Vec<i64> = dns_resource_ips::table
        .filter(dns_resource_ips::dnsresource_id.eq(resource_id).and(dns_resource_ips::owned.eq(true)))
        .select(dns_resource_ips::ip_address_id)
        .load(c)
        .map_err(from_diesel)?;
    diesel::delete(dns_resource_ips::table.filter(dns_resource_ips::dnsresource_id.eq(resource_id)))
        .execute(c)
        .map_err(from_diesel)?;
    diesel::delete(ip_addresses::table.filter(ip_addresses::id.eq_any(owned))).execute(c).map_err(from_diesel)?;
    Ok(())
}

// ---------------------------------------------------------------- records

pub fn records(c: &mut DbConn, resource_ids: Option<&[i64]>) -> Result<Vec<DnsRecord>> {
    let mut q = dns_records::table.select(DnsRecord::as_select()).order(dns_records::id).into_boxed();
    if let Some(ids) = resource_ids {
        q = q.filter(dns_records::dnsresource_id.eq_any(ids.to_vec()));
    }
    q.load(c).map_err(from_diesel)
}

pub fn record_by_id(c: &mut DbConn, id: i64) -> Result<Option<DnsRecord>> {
    dns_records::table.find(id).select(DnsRecord::as_select()).first(c).optional().map_err(from_diesel)
}

pub fn record_insert(
    c: &mut DbConn,
    resource_id: i64,
    rrtype: &str,
    rrdata: &str,
    ttl: Option<i32>,
) -> Result<DnsRecord> {
    let id: i64 = diesel::insert_into(dns_records::table)
        .values((
            dns_records::dnsresource_id.eq(resource_id),
            dns_records::rrtype.eq(rrtype),
            dns_records::rrdata.eq(rrdata),
            dns_records::ttl.eq(ttl),
            dns_records::created_at.eq(super::now()),
        ))
        .returning(dns_records::id)
        .get_result(c)
        .map_err(from_diesel)?;
    record_by_id(c, id)?.ok_or_else(|| Error::Internal("inserted record vanished".into()))
}

pub fn record_update(c: &mut DbConn, r: &DnsRecord) -> Result<()> {
    diesel::update(dns_records::table.find(r.id))
        .set((
            dns_records::dnsresource_id.eq(r.dnsresource_id),
            dns_records::rrtype.eq(&r.rrtype),
            dns_records::rrdata.eq(&r.rrdata),
            dns_records::ttl.eq(r.ttl),
        ))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(())
}

pub fn record_delete(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(dns_records::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

// ---------------------------------------------------------------- what DNS publishes

/// Assigned addresses of nodes named `hostname` in a domain (links with an
/// address: deployed machines' AUTO/STATIC links, devices' STATIC links).
pub fn node_addresses(c: &mut DbConn, domain_id: i64, hostname: &str) -> Result<Vec<String>> {
    let v: Vec<Option<String>> = ip_addresses::table
        .inner_join(interfaces::table.inner_join(nodes::table))
        .filter(nodes::domain_id.eq(domain_id).and(nodes::hostname.eq(hostname)))
        .filter(ip_addresses::ip.is_not_null())
        .order(ip_addresses::id)
        .select(ip_addresses::ip)
        .load(c)
        .map_err(from_diesel)?;
    Ok(v.into_iter().flatten().collect())
}

/// Whether a node named `hostname` exists in the domain (with or without
/// addresses: its name exists in the zone either way).
pub fn node_named(c: &mut DbConn, domain_id: i64, hostname: &str) -> Result<bool> {
    let n: i64 = nodes::table
        .filter(nodes::domain_id.eq(domain_id).and(nodes::hostname.eq(hostname)))
        .count()
        .get_result(c)
        .map_err(from_diesel)?;
    Ok(n > 0)
}

/// Names that own `ip`: (name, domain id) of the node whose link has it and
/// of every DNS resource that lists it.
pub fn names_of_ip(c: &mut DbConn, ip: &str) -> Result<Vec<(String, i64)>> {
    let mut out: Vec<(String, i64)> = ip_addresses::table
        .inner_join(interfaces::table.inner_join(nodes::table))
        .filter(ip_addresses::ip.eq(ip))
        .select((nodes::hostname, nodes::domain_id))
        .load(c)
        .map_err(from_diesel)?;
    let res: Vec<(String, i64)> = dns_resource_ips::table
        .inner_join(ip_addresses::table)
        .inner_join(dns_resources::table)
        .filter(ip_addresses::ip.eq(ip))
        .select((dns_resources::name, dns_resources::domain_id))
        .load(c)
        .map_err(from_diesel)?;
    out.extend(res);
    Ok(out)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = domains)]
pub struct Domain {
    pub id: i64,
    pub name: String,
    pub authoritative: bool,
    pub ttl: Option<i32>,
    pub is_default: bool,
    pub created_at: NaiveDateTime,
    /// Space-separated addresses (MAAS 3.x `forward_dns_servers`).
    pub forward_dns_servers: String,
}
