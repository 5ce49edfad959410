//! DNS domains.

use crate::api::views::resource_uri;
use crate::db::dns::DnsRecord;
use crate::db::dns::Domain;
use serde_json::{json, Value};

pub fn domain_json(d: &Domain, record_count: i64) -> Value {
    json!({
        "id": d.id,
        "name": d.name,
        "ttl": d.ttl,
        "authoritative": d.authoritative,
        "resource_record_count": record_count,
        "is_default": d.is_default,
        "resource_uri": resource_uri(&format!("domains/{}/", d.id)),
    })
}

pub(crate) fn record_json(r: &DnsRecord, fqdn: &str) -> Value {
    json!({
        "id": r.id,
        "fqdn": fqdn,
        "ttl": r.ttl,
        "rrtype": r.rrtype,
        "rrdata": r.rrdata,
        "resource_uri": resource_uri(&format!("dnsresourcerecords/{}/", r.id)),
    })
}

/// An address of a DNS resource, as `dnsresources/` lists it.
pub fn resource_address_json(a: &crate::db::network::IpAddress) -> Value {
    let (code, name) = crate::api::views::network::alloc_type(&a.mode);
    json!({
        "id": a.id,
        "ip": a.ip,
        "alloc_type": code,
        "alloc_type_name": name,
    })
}

/// A DNS resource with its addresses (from [`resource_address_json`]) and records.
pub fn resource_json(
    r: &crate::db::dns::DnsResource,
    fqdn: &str,
    ips: Vec<Value>,
    records: &[crate::db::dns::DnsRecord],
) -> Value {
    json!({
        "id": r.id,
        "fqdn": fqdn,
        "address_ttl": r.address_ttl,
        "ip_addresses": ips,
        "resource_records": records.iter().map(|x| record_json(x, fqdn)).collect::<Vec<_>>(),
        "resource_uri": crate::api::views::resource_uri(&format!("dnsresources/{}/", r.id)),
    })
}
