//! DNS rules: domains, user DNS resources and records (MAAS's DNSResource and
//! DNSData), the zone serial, and the lookup the DNS server answers from.
//!
//! Rules worth knowing:
//! - the default domain cannot be deleted, nor a domain that has nodes;
//! - a resource's addresses are `ip_addresses` rows: an address inside a
//!   subnet is reserved through IPAM (so it is never handed to a machine),
//!   one outside every subnet is recorded as a plain address, and one that
//!   already exists (a node's link) is referenced, not taken over;
//! - a CNAME is alone at its name (RFC 1034 §3.6.2): no addresses, no other
//!   records, no node of that name with addresses;
//! - every change through the API bumps the zone serial (`dns_serial` in the
//!   config table), and so does every change of a node's addresses or name;
//!   answers read the database per query, so they never lag.
//!
//! Requests come in as the typed inputs below ([`DomainInput`],
//! [`DnsResourceInput`], [`DnsRecordInput`]), parsed from the form at the API
//! edge: syntax (booleans, TTLs, addresses) is checked there, and every rule
//! that needs the database or is about names is checked here.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::num::NonZeroU32;

use crate::db;
use crate::db::dns::Domain;
use crate::db::dns::{DnsRecord, DnsResource};
use crate::db::network::NewIpAddress;
use crate::db::users::User;
use crate::db::DbConn;
use crate::engine;
use crate::error;
use crate::error::{Error, Result};

/// MAAS's default for `default_dns_ttl`.
pub const DEFAULT_TTL: u32 = 30;
/// Record types a user may create.
pub const RRTYPES: &[&str] = &["A", "AAAA", "CNAME", "MX", "NS", "PTR", "SRV", "SSHFP", "TXT"];
const SERIAL_KEY: &str = "dns_serial";

// ---------------------------------------------------------------- names

fn valid_label(l: &str, underscore: bool) -> bool {
    !l.is_empty()
        && l.len() <= 63
        && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || (underscore && c == '_'))
        && !l.starts_with('-')
        && !l.ends_with('-')
}

/// A domain name: dot-separated labels, 253 characters at most; stored
/// lower case without the trailing dot.
fn domain_name(field: &str, raw: &str) -> Result<String> {
    let n = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    if n.is_empty() || n.len() > 253 || !n.split('.').all(|l| valid_label(l, false)) {
        return Err(Error::field(field, format!("Invalid domain name '{raw}'.")));
    }
    Ok(n)
}

/// A resource name relative to its domain: `@` (the apex) or labels, where
/// `_` is allowed (SRV's `_service._proto`).
fn resource_name(field: &str, raw: &str) -> Result<String> {
    let n = raw.trim().to_ascii_lowercase();
    if n == "@" {
        return Ok(n);
    }
    if n.is_empty() || n.len() > 253 || !n.split('.').all(|l| valid_label(l, true)) {
        return Err(Error::field(field, format!("Invalid name '{raw}'.")));
    }
    Ok(n)
}

/// A target host in record data: a name, absolute or not (trailing dot).
fn host(field: &str, raw: &str) -> Result<()> {
    let n = raw.trim_end_matches('.');
    if n.is_empty() || n.len() > 253 || !n.split('.').all(|l| valid_label(l, true)) {
        return Err(Error::field(field, format!("Invalid hostname '{raw}'.")));
    }
    Ok(())
}

/// The absolute name of `name` (relative, or `@`) in domain `d`.
pub fn fqdn(name: &str, d: &str) -> String {
    if name == "@" {
        d.to_string()
    } else {
        format!("{name}.{d}")
    }
}

// ---------------------------------------------------------------- inputs

/// A domain's fields as a request gives them (`POST domains/`, `PUT
/// domains/{id}/`). `None` is an absent field: an update leaves it as it
/// is, a create uses MAAS's default.
#[derive(Debug, Clone, Default)]
pub struct DomainInput {
    /// The name as given, trimmed (`None` if absent or blank); required on
    /// create. Checked and normalised here, as it is a DNS name rule.
    pub name: Option<String>,
    /// `None`: absent (a new domain is authoritative).
    pub authoritative: Option<bool>,
    /// `None`: absent; `Some(None)`: given blank, which clears it (the
    /// domain then uses `default_dns_ttl`); `Some(Some(n))`: `n` seconds.
    pub ttl: Option<Option<i32>>,
    /// `None`: absent; `Some(vec![])`: given blank, which clears them.
    pub forward_dns_servers: Option<Vec<IpAddr>>,
}

/// The name a DNS resource or record request is about: `fqdn`, or `name`
/// in `domain`. Each is the text as given, trimmed, `None` if absent or
/// blank; they are resolved against the domains here. All `None` means no
/// name was given (an update keeps the current one).
#[derive(Debug, Clone, Default)]
pub struct TargetInput {
    /// A fully qualified name; wins over `name` and `domain`.
    pub fqdn: Option<String>,
    /// A name relative to `domain` (`@` for the apex).
    pub name: Option<String>,
    /// A domain id or name; `None` is the default domain.
    pub domain: Option<String>,
}

/// A DNS resource's fields as a request gives them (`POST dnsresources/`,
/// `PUT dnsresources/{id}/`). `None` is an absent field, left as it is on
/// update.
#[derive(Debug, Clone, Default)]
pub struct DnsResourceInput {
    /// Where the resource is; required on create.
    pub target: TargetInput,
    /// `None`: absent; `Some(None)`: given blank, which clears it (the
    /// domain's TTL applies); `Some(Some(n))`: `n` seconds.
    pub address_ttl: Option<Option<i32>>,
    /// `None`: absent (on update the addresses stay); `Some(list)`: the
    /// addresses the resource has afterwards, possibly none. Duplicates are
    /// allowed and count once.
    pub ip_addresses: Option<Vec<IpAddr>>,
}

/// A DNS record's fields as a request gives them (`POST
/// dnsresourcerecords/`, `PUT dnsresourcerecords/{id}/`). `None` is an
/// absent field, left as it is on update.
#[derive(Debug, Clone, Default)]
pub struct DnsRecordInput {
    /// Where the record is; required on create.
    pub target: TargetInput,
    /// The type as given, trimmed (`None` if absent or blank); required on
    /// create. Checked here with the data, since what data is valid
    /// depends on the type.
    pub rrtype: Option<String>,
    /// The data as given, trimmed; `None` if absent. `Some("")` is data
    /// given blank, kept apart from absent because an update refuses it
    /// ("cannot be blank") where a create reports it as missing.
    pub rrdata: Option<String>,
    /// `None`: absent; `Some(None)`: given blank, which clears it (the
    /// domain's TTL applies); `Some(Some(n))`: `n` seconds.
    pub ttl: Option<Option<i32>>,
}

// ---------------------------------------------------------------- serial

pub fn serial(c: &mut DbConn) -> Result<u32> {
    Ok(db::config::get(c, SERIAL_KEY)?.and_then(|v| v.trim().parse::<u32>().ok()).unwrap_or(1))
}

/// The next serial after a change (wraps as RFC 1982 allows). Every change
/// to what the zones hold calls it in the change's own transaction: DNS API
/// writes, and node address changes (AUTO addresses claimed at deploy and
/// freed at release, STATIC links made and removed, hostname or domain
/// changes).
pub fn bump_serial(c: &mut DbConn) -> Result<()> {
    let s = serial(c)?.wrapping_add(1).max(1);
    db::config::set(c, SERIAL_KEY, &s.to_string())
}

/// `domains/?op=set_serial`: sets the serial the zones publish (0 is not
/// a serial `bump_serial` ever gives, hence non-zero).
pub fn set_serial(c: &mut DbConn, serial: NonZeroU32) -> Result<u32> {
    db::config::set(c, SERIAL_KEY, &serial.to_string())?;
    Ok(serial.get())
}

/// `default_dns_ttl` from the MAAS configuration.
pub fn default_ttl(c: &mut DbConn) -> Result<u32> {
    Ok(db::config::get(c, "default_dns_ttl")?.and_then(|v| v.trim().parse::<u32>().ok()).unwrap_or(DEFAULT_TTL))
}

// ---------------------------------------------------------------- domains

pub fn domain(c: &mut DbConn, key: &str) -> Result<Domain> {
    let d = match key.parse::<i64>() {
        Ok(id) => db::dns::domain_by_id(c, id)?,
        Err(_) => db::dns::domain_by_name(c, &key.trim_end_matches('.').to_ascii_lowercase())?,
    };
    d.ok_or(Error::NotFound("Domain"))
}

/// Forward servers as the `forward_dns_servers` column holds them.
fn forward_servers(ips: &[IpAddr]) -> String {
    ips.iter().map(IpAddr::to_string).collect::<Vec<_>>().join(" ")
}

pub fn create_domain(c: &mut DbConn, input: &DomainInput) -> Result<Domain> {
    let name = domain_name("name", input.name.as_deref().ok_or_else(|| Error::required("name"))?)?;
    let authoritative = input.authoritative.unwrap_or(true);
    let ttl = input.ttl.flatten();
    let fwd = forward_servers(input.forward_dns_servers.as_deref().unwrap_or_default());
    let d = db::dns::domain_insert(c, &name, authoritative, ttl, &fwd)?;
    bump_serial(c)?;
    Ok(d)
}

pub fn update_domain(c: &mut DbConn, d: &Domain, input: &DomainInput) -> Result<Domain> {
    let mut n = d.clone();
    if let Some(name) = &input.name {
        n.name = domain_name("name", name)?;
    }
    if let Some(a) = input.authoritative {
        n.authoritative = a;
    }
    if let Some(t) = input.ttl {
        n.ttl = t;
    }
    if let Some(fwd) = &input.forward_dns_servers {
        n.forward_dns_servers = forward_servers(fwd);
    }
    db::dns::domain_update(c, &n)?;
    bump_serial(c)?;
    db::dns::domain_by_id(c, d.id)?.ok_or(Error::NotFound("Domain"))
}

pub fn delete_domain(c: &mut DbConn, d: &Domain) -> Result<()> {
    if d.is_default {
        return Err(Error::Conflict(format!("Domain '{}' is the default domain; it cannot be deleted.", d.name)));
    }
    let n = db::dns::domain_node_count(c, d.id)?;
    if n > 0 {
        return Err(Error::Conflict(format!(
            "Domain '{}' cannot be deleted because it has {n} node(s); move them to another domain first.",
            d.name
        )));
    }
    db::dns::domain_delete(c, d.id)?;
    bump_serial(c)
}

pub fn set_default(c: &mut DbConn, d: &Domain) -> Result<Domain> {
    db::dns::domain_set_default(c, d.id)?;
    db::dns::domain_by_id(c, d.id)?.ok_or(Error::NotFound("Domain"))
}

// ---------------------------------------------------------------- resources

/// The (name, domain) a request names: `fqdn`, or `name` plus `domain`
/// (default: the default domain). An FQDN that is a domain is its apex.
fn target(c: &mut DbConn, t: &TargetInput) -> Result<Option<(String, Domain)>> {
    if let Some(fq) = &t.fqdn {
        let (name, d) = split_fqdn(c, fq)?;
        return Ok(Some((if name == "@" { name } else { resource_name("fqdn", &name)? }, d)));
    }
    let Some(name) = &t.name else { return Ok(None) };
    let name = resource_name("name", name)?;
    let d = match t.domain.as_deref() {
        Some(k) => domain(c, k).map_err(|_| Error::field("domain", format!("Domain '{k}' does not exist.")))?,
        None => db::dns::domain_by_id(c, engine::defaults::DEFAULT_DOMAIN_ID)?.ok_or(Error::NotFound("Domain"))?,
    };
    Ok(Some((name, d)))
}

/// Splits an FQDN into (name relative to its domain, domain): the most
/// specific domain that is a suffix of it (`_sip._tcp.example.com` is
/// `_sip._tcp` in `example.com`); the domain itself is `@`.
pub fn split_fqdn(c: &mut DbConn, raw: &str) -> Result<(String, Domain)> {
    let fq = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let best = db::places::domains(c)?
        .into_iter()
        .filter(|d| fq == d.name || fq.ends_with(&format!(".{}", d.name)))
        .max_by_key(|d| d.name.len());
    match best {
        Some(d) if fq == d.name => Ok(("@".into(), d)),
        Some(d) => Ok((fq[..fq.len() - d.name.len() - 1].to_string(), d)),
        None => {
            let rest = fq.split_once('.').map(|(_, r)| r).unwrap_or("");
            if rest.is_empty() {
                Err(Error::field("fqdn", format!("'{fq}' is not a fully qualified name (name.domain).")))
            } else {
                Err(Error::field("fqdn", format!("Domain '{rest}' does not exist.")))
            }
        }
    }
}

fn required_target(c: &mut DbConn, t: &TargetInput) -> Result<(String, Domain)> {
    target(c, t)?.ok_or_else(|| Error::BadRequest("Either fqdn or name (with domain) must be specified.".into()))
}

pub fn resource(c: &mut DbConn, id: i64) -> Result<DnsResource> {
    db::dns::resource_by_id(c, id)?.ok_or(Error::NotFound("DNSResource"))
}

pub fn record(c: &mut DbConn, id: i64) -> Result<DnsRecord> {
    db::dns::record_by_id(c, id)?.ok_or(Error::NotFound("DNSData"))
}

fn has_cname(c: &mut DbConn, res_id: i64, except: Option<i64>) -> Result<bool> {
    Ok(db::dns::records(c, Some(&[res_id]))?.iter().any(|r| r.rrtype == "CNAME" && Some(r.id) != except))
}

const CNAME_ALONE: &str = "CNAME records for a name cannot coexist with other records or addresses.";

/// Replaces a resource's addresses with `ips` (a repeated address is
/// linked once: the link is unique per address).
fn set_ips(c: &mut DbConn, user: &User, r: &DnsResource, ips: &[IpAddr]) -> Result<()> {
    db::dns::unlink_ips(c, r.id)?;
    if ips.is_empty() {
        return Ok(());
    }
    if has_cname(c, r.id, None)? {
        return Err(Error::Conflict(CNAME_ALONE.into()));
    }
    let model = db::network::load_model(c)?;
    let mut seen = HashSet::new();
    for ip in ips.iter().filter(|ip| seen.insert(**ip)) {
        if let Some(a) = db::network::address_by_ip(c, &ip.to_string())? {
            db::dns::link_ip(c, r.id, a.id, false)?;
            continue;
        }
        let template = NewIpAddress {
            ip: Some(ip.to_string()),
            mode: "reserved".into(),
            subnet_id: None,
            interface_id: None,
            user_id: Some(user.id),
            hostname: r.name.clone(),
            mac_address: None,
            created_at: db::now(),
        };
        let a = match engine::network::subnet_containing(&model, *ip) {
            Some(s) => engine::network::allocate(c, s, Some(*ip), template).map_err(|e| {
                if let Error::Validation(m) = e {
                    rename(m, "ip_address", "ip_addresses")
                } else {
                    e
                }
            })?,
            None => db::network::address_insert(c, &template)?,
        };
        db::dns::link_ip(c, r.id, a.id, true)?;
    }
    Ok(())
}

fn rename(mut m: error::FieldErrors, from: &str, to: &str) -> Error {
    if let Some(v) = m.remove(from) {
        m.insert(to.into(), v);
    }
    Error::Validation(m)
}

pub fn create_resource(c: &mut DbConn, user: &User, input: &DnsResourceInput) -> Result<DnsResource> {
    let (name, d) = required_target(c, &input.target)?;
    if db::dns::resource_by_name(c, &name, d.id)?.is_some() {
        return Err(Error::Conflict(format!("DNS resource {} already exists.", fqdn(&name, &d.name))));
    }
    let r = db::dns::resource_insert(c, &name, d.id, input.address_ttl.flatten())?;
    set_ips(c, user, &r, input.ip_addresses.as_deref().unwrap_or_default())?;
    bump_serial(c)?;
    Ok(r)
}

pub fn update_resource(c: &mut DbConn, user: &User, r: &DnsResource, input: &DnsResourceInput) -> Result<DnsResource> {
    let mut n = r.clone();
    if let Some((name, d)) = target(c, &input.target)? {
        n.name = name;
        n.domain_id = d.id;
    }
    if let Some(t) = input.address_ttl {
        n.address_ttl = t;
    }
    db::dns::resource_update(c, &n)?;
    if let Some(ips) = &input.ip_addresses {
        set_ips(c, user, &n, ips)?;
    }
    bump_serial(c)?;
    resource(c, r.id)
}

/// Deletes a resource; the addresses it reserved stay reserved to their
/// user. MAAS up to 3.5 kept them and terraform-provider-maas's
/// `maas_dns_record` relies on it (it releases each address after the
/// delete and fails on an error); MAAS 3.6 deletes a reservation no
/// interface and no other resource uses (LP:1901905), which breaks that
/// provider, so Ironpool keeps the 3.5 behaviour.
pub fn delete_resource(c: &mut DbConn, r: &DnsResource) -> Result<()> {
    db::dns::resource_delete(c, r.id)?;
    bump_serial(c)
}

// ---------------------------------------------------------------- records

/// Checks `rrdata` for `rrtype` at `name`; returns the canonical type.
fn validate_record(name: &str, rrtype: &str, rrdata: &str) -> Result<String> {
    let t = rrtype.trim().to_ascii_uppercase();
    if !RRTYPES.contains(&t.as_str()) {
        return Err(Error::field("rrtype", format!("'{rrtype}' is not a supported rrtype ({}).", RRTYPES.join(", "))));
    }
    let bad = |why: &str| Error::field("rrdata", format!("Invalid {t} data '{rrdata}': {why}"));
    let parts: Vec<&str> = rrdata.split_whitespace().collect();
    let u16_of = |s: &str| s.parse::<u16>().ok();
    match t.as_str() {
        "A" => {
            rrdata.trim().parse::<Ipv4Addr>().map_err(|_| bad("expected an IPv4 address."))?;
        }
        "AAAA" => {
            rrdata.trim().parse::<Ipv6Addr>().map_err(|_| bad("expected an IPv6 address."))?;
        }
        "CNAME" | "NS" | "PTR" => {
            if parts.len() != 1 {
                return Err(bad("expected one hostname."));
            }
            host("rrdata", parts[0])?;
        }
        "MX" => {
            if parts.len() != 2 || u16_of(parts[0]).is_none() {
                return Err(bad("expected 'preference hostname' with preference 0-65535."));
            }
            host("rrdata", parts[1])?;
        }
        "SRV" => {
            if !name.starts_with('_') || !name.contains("._") {
                return Err(Error::field("name", "SRV records must be named _service._protocol."));
            }
            if parts.len() != 4 || parts[..3].iter().any(|p| u16_of(p).is_none()) {
                return Err(bad("expected 'priority weight port target' with numbers 0-65535."));
            }
            if parts[3] != "." {
                host("rrdata", parts[3])?;
            }
        }
        "SSHFP" => {
            let ok = parts.len() == 3
                && parts[0].parse::<u8>().is_ok()
                && parts[1].parse::<u8>().is_ok()
                && parts[2].len().is_multiple_of(2)
                && !parts[2].is_empty()
                && parts[2].chars().all(|c| c.is_ascii_hexdigit());
            if !ok {
                return Err(bad("expected 'algorithm fingerprint-type hex-fingerprint'."));
            }
        }
        "TXT" if rrdata.trim().is_empty() => return Err(bad("the text is empty.")),
        _ => {}
    }
    Ok(t)
}

/// A new record of this type at `r` must respect the CNAME rule.
fn check_cname_rule(c: &mut DbConn, r: &DnsResource, rrtype: &str, except: Option<i64>) -> Result<()> {
    let others: Vec<DnsRecord> =
        db::dns::records(c, Some(&[r.id]))?.into_iter().filter(|x| Some(x.id) != except).collect();
    if rrtype == "CNAME" {
        let has_ips = !db::dns::resource_ips(c, &[r.id])?.is_empty();
        let d = db::dns::domain_by_id(c, r.domain_id)?.ok_or(Error::NotFound("Domain"))?;
        let node_ips = !db::dns::node_addresses(c, d.id, &r.name)?.is_empty();
        if !others.is_empty() || has_ips || node_ips || r.name == "@" {
            return Err(Error::Conflict(CNAME_ALONE.into()));
        }
    } else if others.iter().any(|x| x.rrtype == "CNAME") {
        return Err(Error::Conflict(CNAME_ALONE.into()));
    }
    Ok(())
}

pub fn create_record(c: &mut DbConn, input: &DnsRecordInput) -> Result<DnsRecord> {
    let (name, d) = required_target(c, &input.target)?;
    let rrtype = input.rrtype.as_deref().ok_or_else(|| Error::required("rrtype"))?;
    let rrdata = input.rrdata.as_deref().filter(|s| !s.is_empty()).ok_or_else(|| Error::required("rrdata"))?;
    let t = validate_record(&name, rrtype, rrdata)?;
    let ttl = input.ttl.flatten();
    let r = match db::dns::resource_by_name(c, &name, d.id)? {
        Some(r) => r,
        None => db::dns::resource_insert(c, &name, d.id, None)?,
    };
    check_cname_rule(c, &r, &t, None)?;
    let rec = db::dns::record_insert(c, r.id, &t, rrdata.trim(), ttl)?;
    bump_serial(c)?;
    Ok(rec)
}

pub fn update_record(c: &mut DbConn, rec: &DnsRecord, input: &DnsRecordInput) -> Result<DnsRecord> {
    let mut n = rec.clone();
    let mut r = resource(c, rec.dnsresource_id)?;
    if let Some((name, d)) = target(c, &input.target)? {
        r = match db::dns::resource_by_name(c, &name, d.id)? {
            Some(r) => r,
            None => db::dns::resource_insert(c, &name, d.id, None)?,
        };
        n.dnsresource_id = r.id;
    }
    let rrtype = input.rrtype.as_deref().unwrap_or(&rec.rrtype).to_string();
    match input.rrdata.as_deref() {
        Some("") => return Err(Error::field("rrdata", "This field cannot be blank.")),
        Some(data) => n.rrdata = data.to_string(),
        None => {}
    }
    n.rrtype = validate_record(&r.name, &rrtype, &n.rrdata)?;
    if let Some(t) = input.ttl {
        n.ttl = t;
    }
    check_cname_rule(c, &r, &n.rrtype, Some(rec.id))?;
    db::dns::record_update(c, &n)?;
    bump_serial(c)?;
    record(c, rec.id)
}

/// Deletes a record; a resource left with neither records nor addresses
/// goes too (it only existed to hold the record, as in MAAS).
pub fn delete_record(c: &mut DbConn, rec: &DnsRecord) -> Result<()> {
    db::dns::record_delete(c, rec.id)?;
    let left = db::dns::records(c, Some(&[rec.dnsresource_id]))?.len()
        + db::dns::resource_ips(c, &[rec.dnsresource_id])?.len();
    if left == 0 {
        db::dns::resource_delete(c, rec.dnsresource_id)?;
    }
    bump_serial(c)
}

// ---------------------------------------------------------------- lookup

/// Record data as the DNS server publishes it (types per RFC 1035 etc.).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rdata {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    /// CNAME, NS, PTR: a target name (absolute, with trailing dot).
    Name(&'static str, String),
    Mx(u16, String),
    Srv(u16, u16, u16, String),
    Sshfp(u8, u8, Vec<u8>),
    Txt(String),
    Soa {
        mname: String,
        rname: String,
        serial: u32,
        minimum: u32,
    },
}

impl Rdata {
    /// The record type's mnemonic.
    pub fn rrtype(&self) -> &'static str {
        match self {
            Rdata::A(_) => "A",
            Rdata::Aaaa(_) => "AAAA",
            Rdata::Name(t, _) => t,
            Rdata::Mx(..) => "MX",
            Rdata::Srv(..) => "SRV",
            Rdata::Sshfp(..) => "SSHFP",
            Rdata::Txt(_) => "TXT",
            Rdata::Soa { .. } => "SOA",
        }
    }
}

/// What the server answers for one name.
#[derive(Debug)]
pub enum Lookup {
    /// Not in any zone we serve: no recursion, so REFUSED.
    Refused,
    /// In the zone whose apex is `apex` (absolute, trailing dot). `exists`
    /// false is NXDOMAIN; `records` (any type) may be empty (NODATA).
    Zone { apex: String, soa: (u32, Rdata), exists: bool, records: Vec<(u32, Rdata)> },
}

fn absolute(target: &str, origin: &str) -> String {
    if let Some(t) = target.strip_suffix('.') {
        format!("{t}.")
    } else {
        format!("{target}.{origin}.")
    }
}

/// Converts stored record data into what the server publishes; `origin`
/// is the domain, for relative targets.
fn publish(rrtype: &str, data: &str, origin: &str) -> Option<Rdata> {
    let p: Vec<&str> = data.split_whitespace().collect();
    Some(match rrtype {
        "A" => Rdata::A(data.trim().parse().ok()?),
        "AAAA" => Rdata::Aaaa(data.trim().parse().ok()?),
        "CNAME" => Rdata::Name("CNAME", absolute(p.first()?, origin)),
        "NS" => Rdata::Name("NS", absolute(p.first()?, origin)),
        "PTR" => Rdata::Name("PTR", absolute(p.first()?, origin)),
        "MX" => Rdata::Mx(p.first()?.parse().ok()?, absolute(p.get(1)?, origin)),
        "SRV" => {
            let target = if *p.get(3)? == "." { ".".to_string() } else { absolute(p.get(3)?, origin) };
            Rdata::Srv(p.first()?.parse().ok()?, p.get(1)?.parse().ok()?, p.get(2)?.parse().ok()?, target)
        }
        "SSHFP" => {
            let hex = p.get(2)?;
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
                .collect::<Option<Vec<u8>>>()?;
            Rdata::Sshfp(p.first()?.parse().ok()?, p.get(1)?.parse().ok()?, bytes)
        }
        "TXT" => Rdata::Txt(data.to_string()),
        _ => return None,
    })
}

fn address(ip: &str) -> Option<Rdata> {
    match ip.parse::<IpAddr>().ok()? {
        IpAddr::V4(a) => Some(Rdata::A(a)),
        IpAddr::V6(a) => Some(Rdata::Aaaa(a)),
    }
}

/// A reverse name's address prefix: (value left-aligned in `width` bits,
/// length in bits, IPv4?).
fn parse_reverse(name: &str) -> Option<(u128, u32, bool)> {
    if let Some(rest) = name.strip_suffix("in-addr.arpa") {
        let labels: Vec<&str> = rest.trim_end_matches('.').split('.').filter(|l| !l.is_empty()).collect();
        if labels.len() > 4 {
            return None;
        }
        let mut v: u128 = 0;
        for (i, l) in labels.iter().rev().enumerate() {
            let o: u8 = l.parse().ok()?;
            v |= (o as u128) << (24 - 8 * i);
        }
        return Some((v, 8 * labels.len() as u32, true));
    }
    if let Some(rest) = name.strip_suffix("ip6.arpa") {
        let labels: Vec<&str> = rest.trim_end_matches('.').split('.').filter(|l| !l.is_empty()).collect();
        if labels.len() > 32 {
            return None;
        }
        let mut v: u128 = 0;
        for (i, l) in labels.iter().rev().enumerate() {
            if l.len() != 1 {
                return None;
            }
            let n = u8::from_str_radix(l, 16).ok()?;
            v |= (n as u128) << (124 - 4 * i);
        }
        return Some((v, 4 * labels.len() as u32, false));
    }
    None
}

/// The first `k` bits of a `width`-bit value.
fn top(v: u128, k: u32, width: u32) -> u128 {
    if k == 0 {
        0
    } else {
        v >> (width - k)
    }
}

/// The reverse zone apex covering the first `z` bits of `v`.
fn reverse_apex(v: u128, z: u32, v4: bool) -> String {
    if v4 {
        let octets: Vec<String> = (0..z / 8).map(|i| ((v >> (24 - 8 * i)) & 0xff).to_string()).collect();
        let mut o = octets;
        o.reverse();
        o.push("in-addr.arpa.".into());
        o.join(".")
    } else {
        let mut n: Vec<String> = (0..z / 4).map(|i| format!("{:x}", (v >> (124 - 4 * i)) & 0xf)).collect();
        n.reverse();
        n.push("ip6.arpa.".into());
        n.join(".")
    }
}

/// The size of the reverse zones MAAS makes for a prefix: octet (IPv4) or
/// nibble (IPv6) boundaries, at most /24 and /124 (smaller subnets share it).
fn zone_bits(prefix: u32, v4: bool) -> u32 {
    if v4 {
        if prefix >= 24 {
            24
        } else {
            prefix.div_ceil(8).max(1) * 8
        }
    } else if prefix >= 124 {
        124
    } else {
        prefix.div_ceil(4).max(1) * 4
    }
}

fn soa(c: &mut DbConn, default_domain: &str, minimum: u32) -> Result<Rdata> {
    Ok(Rdata::Soa {
        mname: format!("ns1.{default_domain}."),
        rname: format!("root.{default_domain}."),
        serial: serial(c)?,
        minimum,
    })
}

/// Everything published at `qname` (lower case, no trailing dot).
pub fn lookup(c: &mut DbConn, qname: &str) -> Result<Lookup> {
    let qname = qname.trim_end_matches('.').to_ascii_lowercase();
    let domains = db::places::domains(c)?;
    let default_name = domains.iter().find(|d| d.is_default).map(|d| d.name.clone()).unwrap_or_else(|| "maas".into());
    let deftl = default_ttl(c)?;
    let ns = Rdata::Name("NS", format!("ns1.{default_name}."));

    // Forward zones: the most specific authoritative domain containing qname.
    let zone = domains
        .iter()
        .filter(|d| d.authoritative && (qname == d.name || qname.ends_with(&format!(".{}", d.name))))
        .max_by_key(|d| d.name.len());
    if let Some(d) = zone {
        let dttl = d.ttl.map(|t| t as u32).unwrap_or(deftl);
        let rel = if qname == d.name { "@".to_string() } else { qname[..qname.len() - d.name.len() - 1].to_string() };
        let zone_soa = soa(c, &default_name, deftl)?;
        let mut records = Vec::new();
        let mut exists = rel == "@";
        if rel == "@" {
            records.push((dttl, zone_soa.clone()));
            records.push((dttl, ns.clone()));
        }
        if !rel.contains('.') && rel != "@" {
            for ip in db::dns::node_addresses(c, d.id, &rel)? {
                records.extend(address(&ip).map(|a| (dttl, a)));
            }
            exists |= db::dns::node_named(c, d.id, &rel)?;
        }
        if let Some(r) = db::dns::resource_by_name(c, &rel, d.id)? {
            exists = true;
            let attl = r.address_ttl.map(|t| t as u32).unwrap_or(dttl);
            for (_, a, _) in db::dns::resource_ips(c, &[r.id])? {
                records.extend(a.ip.as_deref().and_then(address).map(|x| (attl, x)));
            }
            for rec in db::dns::records(c, Some(&[r.id]))? {
                let t = rec.ttl.map(|t| t as u32).unwrap_or(dttl);
                records.extend(publish(&rec.rrtype, &rec.rrdata, &d.name).map(|x| (t, x)));
            }
        } else if !exists {
            // An empty non-terminal (`_tcp` under `_sip._tcp`) exists too.
            let suffix = format!(".{rel}");
            exists = db::dns::resources(c, Some(d.id), None)?.iter().any(|r| r.name.ends_with(&suffix));
        }
        return Ok(Lookup::Zone { apex: format!("{}.", d.name), soa: (deftl, zone_soa), exists, records });
    }

    // Reverse zones of subnets with reverse DNS enabled.
    let Some((v, len, v4)) = parse_reverse(&qname) else { return Ok(Lookup::Refused) };
    let width = if v4 { 32 } else { 128 };
    let model = db::network::load_model(c)?;
    let mut best: Option<u32> = None;
    for s in model.subnets.values().filter(|s| s.rdns_mode != 0) {
        let cidr = engine::network::cidr_of(s);
        if cidr.addr().is_ipv4() != v4 {
            continue;
        }
        let p = cidr.prefix_len() as u32;
        let z = zone_bits(p, v4);
        let k = z.min(p);
        if len >= z && top(v, k, width) == top(engine::ipam::to_u128(cidr.network()), k, width) {
            best = Some(best.map_or(z, |b: u32| b.max(z)));
        }
    }
    let Some(z) = best else { return Ok(Lookup::Refused) };
    let apex = reverse_apex(v, z, v4);
    let zone_soa = soa(c, &default_name, deftl)?;
    let mut records = Vec::new();
    let mut exists = true;
    if len == z {
        records.push((deftl, zone_soa.clone()));
        records.push((deftl, ns));
    } else if len == width {
        let ip = engine::ipam::from_u128(v, v4);
        for (name, did) in db::dns::names_of_ip(c, &ip.to_string())? {
            if let Some(d) = domains.iter().find(|d| d.id == did) {
                let t = d.ttl.map(|t| t as u32).unwrap_or(deftl);
                records.push((t, Rdata::Name("PTR", format!("{}.", fqdn(&name, &d.name)))));
            }
        }
        exists = !records.is_empty();
    }
    Ok(Lookup::Zone { apex, soa: (deftl, zone_soa), exists, records })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_names() {
        let (v, len, v4) = parse_reverse("5.0.40.10.in-addr.arpa").unwrap();
        assert!(v4);
        assert_eq!(len, 32);
        assert_eq!(engine::ipam::from_u128(v, true).to_string(), "10.40.0.5");
        assert_eq!(reverse_apex(v, 24, true), "0.40.10.in-addr.arpa.");
        let (v, len, _) = parse_reverse("0.40.10.in-addr.arpa").unwrap();
        assert_eq!((len, reverse_apex(v, 24, true)), (24, "0.40.10.in-addr.arpa.".to_string()));
        let name = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.4.0.0.8.b.d.0.1.0.0.2.ip6.arpa";
        let (v, len, v4) = parse_reverse(name).unwrap();
        assert!(!v4);
        assert_eq!(len, 128);
        assert_eq!(engine::ipam::from_u128(v, false).to_string(), "2001:db8:40::1");
        assert_eq!(reverse_apex(v, 64, false), "0.0.0.0.0.4.0.0.8.b.d.0.1.0.0.2.ip6.arpa.");
        assert!(parse_reverse("x.in-addr.arpa").is_none());
        assert!(parse_reverse("example.com").is_none());
    }

    #[test]
    fn zone_sizes() {
        assert_eq!(zone_bits(24, true), 24);
        assert_eq!(zone_bits(16, true), 16);
        assert_eq!(zone_bits(20, true), 24);
        assert_eq!(zone_bits(26, true), 24);
        assert_eq!(zone_bits(64, false), 64);
        assert_eq!(zone_bits(126, false), 124);
    }

    #[test]
    fn record_data() {
        assert!(validate_record("www", "cname", "web.example.com.").is_ok());
        assert!(validate_record("www", "MX", "10").is_err());
        assert!(validate_record("www", "MX", "x mail").is_err());
        assert!(validate_record("www", "SRV", "0 0 80 web").is_err());
        assert!(validate_record("_http._tcp", "SRV", "0 0 80 web").is_ok());
        assert!(validate_record("www", "A", "10.0.0.300").is_err());
        assert!(validate_record("www", "SSHFP", "1 1 abc").is_err());
        assert!(validate_record("www", "BOGUS", "x").is_err());
        assert_eq!(publish("MX", "10 mail", "example.com"), Some(Rdata::Mx(10, "mail.example.com.".into())));
    }
}
