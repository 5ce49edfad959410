//! `domains/`, `dnsresources/` and `dnsresourcerecords/`: DNS handlers.
//! The authoritative server that publishes them is [`crate::dns`].
//!
//! Forms are parsed here into the engine's typed inputs (`from_form`):
//! booleans, TTLs, serials and addresses are checked here, names and
//! everything that needs the database in [`crate::engine::dns`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;

use serde_json::Value;

use crate::api::views::dns::domain_json;
use crate::api::views::dns::record_json;
use crate::db;
use crate::db::dns::Domain;
use crate::db::dns::{DnsRecord, DnsResource};
use crate::db::DbConn;
use crate::engine;
use crate::engine::dns::{DnsRecordInput, DnsResourceInput, DomainInput, TargetInput};
use crate::error::{Error, Result};
use crate::handler_fn;
use crate::http;
use crate::http::params::Form;
use crate::http::registry::{optional, required, Access, Action, Handler, Method, Returns};
use crate::http::reply::Reply;
use crate::http::Ctx;

pub fn handlers() -> Vec<Handler> {
    let domain_params = [
        optional("name", "String", "Domain name."),
        optional("authoritative", "Boolean", "MAAS answers for the domain (default true)."),
        optional("ttl", "Int", "Default TTL of the domain's records."),
        optional("forward_dns_servers", "String", "Space-separated servers to forward to."),
    ];
    let target = [
        optional("fqdn", "String", "Fully qualified name (instead of name and domain)."),
        optional("name", "String", "Name relative to the domain ('@' for the apex)."),
        optional("domain", "String", "Domain id or name (default: the default domain)."),
    ];
    let resource_params: Vec<_> = target
        .iter()
        .copied()
        .chain([
            optional("address_ttl", "Int", "TTL of the addresses."),
            optional("ip_addresses", "String", "Space-separated addresses."),
        ])
        .collect();
    let record_params = |req: bool| -> Vec<_> {
        let mk = if req { required } else { optional };
        target
            .iter()
            .copied()
            .chain([
                mk("rrtype", "String", "A, AAAA, CNAME, MX, NS, PTR, SRV, SSHFP or TXT."),
                mk("rrdata", "String", "Record data (MX 'pref host', SRV 'prio weight port target')."),
                optional("ttl", "Int", "TTL of the record."),
            ])
            .collect()
    };
    let filters = [
        optional("fqdn", "String", "Only this name."),
        optional("domain", "String", "Only this domain."),
        optional("name", "String", "Only this name (relative)."),
        optional("rrtype", "String", "Only names with records of this type."),
    ];
    vec![
        Handler::new("DomainsHandler", "domains/", Access::Authenticated, "Manage domains")
            .action(
                Action::new(Method::Get, None, "List all domains", handler_fn!(domains_list)).returns(Returns::List),
            )
            .action(Action::new(Method::Post, None, "Create a domain", handler_fn!(domain_create)).params(&[
                required("name", "String", "Domain name."),
                domain_params[1],
                domain_params[2],
                domain_params[3],
            ]))
            .action(
                Action::new(Method::Post, Some("set_serial"), "Set the zone serial", handler_fn!(domain_set_serial))
                    .returns(Returns::Text(200))
                    .params(&[required("serial", "Int", "Serial number (1-4294967295).")]),
            ),
        Handler::new("DomainHandler", "domains/{id}/", Access::Authenticated, "Manage a domain")
            .action(Action::new(Method::Get, None, "Read a domain", handler_fn!(domain_read)))
            .action(
                Action::new(Method::Put, None, "Update a domain", handler_fn!(domain_update)).params(&domain_params),
            )
            .action(
                Action::new(Method::Delete, None, "Delete a domain", handler_fn!(domain_delete))
                    .describe("The default domain and domains with nodes cannot be deleted."),
            )
            .action(Action::new(
                Method::Post,
                Some("set_default"),
                "Make this the default domain",
                handler_fn!(domain_set_default),
            )),
        Handler::new("DNSResourcesHandler", "dnsresources/", Access::Authenticated, "Manage DNS resources")
            .action(
                Action::new(Method::Get, None, "List DNS resources", handler_fn!(resources_list))
                    .returns(Returns::List)
                    .params(&[
                        filters[0],
                        filters[1],
                        filters[2],
                        filters[3],
                        optional("all", "Boolean", "Accepted for compatibility."),
                    ]),
            )
            .action(
                Action::new(Method::Post, None, "Create a DNS resource", handler_fn!(resource_create))
                    .params(&resource_params),
            ),
        Handler::new("DNSResourceHandler", "dnsresources/{id}/", Access::Authenticated, "Manage a DNS resource")
            .action(Action::new(Method::Get, None, "Read a DNS resource", handler_fn!(resource_read)))
            .action(
                Action::new(Method::Put, None, "Update a DNS resource", handler_fn!(resource_update))
                    .params(&resource_params),
            )
            .action(Action::new(Method::Delete, None, "Delete a DNS resource", handler_fn!(resource_delete))),
        Handler::new(
            "DNSResourceRecordsHandler",
            "dnsresourcerecords/",
            Access::Authenticated,
            "Manage DNS resource records",
        )
        .action(
            Action::new(Method::Get, None, "List DNS resource records", handler_fn!(records_list))
                .returns(Returns::List)
                .params(&filters),
        )
        .action(
            Action::new(Method::Post, None, "Create a DNS resource record", handler_fn!(record_create))
                .params(&record_params(true)),
        ),
        Handler::new(
            "DNSResourceRecordHandler",
            "dnsresourcerecords/{id}/",
            Access::Authenticated,
            "Manage a DNS resource record",
        )
        .action(Action::new(Method::Get, None, "Read a DNS resource record", handler_fn!(record_read)))
        .action(
            Action::new(Method::Put, None, "Update a DNS resource record", handler_fn!(record_update))
                .params(&record_params(false)),
        )
        .action(Action::new(Method::Delete, None, "Delete a DNS resource record", handler_fn!(record_delete))),
    ]
}

fn path_id(ctx: &Ctx, model: &'static str) -> Result<i64> {
    ctx.path("id").parse().map_err(|_| Error::NotFound(model))
}

// ---------------------------------------------------------------- inputs
//
// Update handlers parse inside their transaction, after looking the object
// up: an unknown id is a 404 before the form is looked at, as in MAAS.

/// A TTL field: absent, blank (clear: inherit the domain's or the
/// default), or seconds.
fn ttl(f: &dyn Form, field: &str) -> Result<Option<Option<i32>>> {
    match f.value(field) {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Ok(Some(None)),
        Some(v) => match v.trim().parse::<i32>() {
            Ok(n) if n >= 0 => Ok(Some(Some(n))),
            _ => Err(Error::field(field, "Enter a whole number between 0 and 2147483647.")),
        },
    }
}

/// Addresses separated by whitespace or commas; blank is an empty list.
fn addresses(raw: &str, parse: impl Fn(&str) -> Result<IpAddr>) -> Result<Vec<IpAddr>> {
    raw.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty()).map(parse).collect()
}

/// The trimmed value, `None` if absent or blank (clients blank optional
/// fields they mean to leave out).
fn text(f: &dyn Form, name: &str) -> Option<String> {
    f.text(name).map(str::to_string)
}

impl DomainInput {
    pub fn from_form(f: &dyn Form) -> Result<Self> {
        let fwd = |s: &str| {
            s.parse().map_err(|_| Error::field("forward_dns_servers", format!("'{s}' is not a valid IP address.")))
        };
        Ok(DomainInput {
            name: text(f, "name"),
            authoritative: f.flag("authoritative")?,
            ttl: ttl(f, "ttl")?,
            forward_dns_servers: f.joined("forward_dns_servers").map(|raw| addresses(&raw, fwd)).transpose()?,
        })
    }
}

/// `serial` of `domains/?op=set_serial`.
fn serial(f: &dyn Form) -> Result<NonZeroU32> {
    f.required_text("serial")?
        .parse::<NonZeroU32>()
        .map_err(|_| Error::field("serial", "Enter a whole number between 1 and 4294967295."))
}

impl TargetInput {
    pub fn from_form(f: &dyn Form) -> Self {
        TargetInput { fqdn: text(f, "fqdn"), name: text(f, "name"), domain: text(f, "domain") }
    }
}

impl DnsResourceInput {
    pub fn from_form(f: &dyn Form) -> Result<Self> {
        let ip = |s: &str| engine::ipam::parse_ip("ip_addresses", s);
        Ok(DnsResourceInput {
            target: TargetInput::from_form(f),
            address_ttl: ttl(f, "address_ttl")?,
            ip_addresses: f.joined("ip_addresses").map(|raw| addresses(&raw, ip)).transpose()?,
        })
    }
}

impl DnsRecordInput {
    pub fn from_form(f: &dyn Form) -> Result<Self> {
        Ok(DnsRecordInput {
            target: TargetInput::from_form(f),
            rrtype: text(f, "rrtype"),
            // Blank stays apart from absent: see `DnsRecordInput::rrdata`.
            rrdata: f.value("rrdata").map(|v| v.trim().to_string()),
            ttl: ttl(f, "ttl")?,
        })
    }
}

// ---------------------------------------------------------------- rendering

fn domain_one(c: &mut DbConn, d: &Domain) -> Result<Value> {
    let counts = db::dns::record_counts(c)?;
    Ok(domain_json(d, counts.get(&d.id).copied().unwrap_or(0)))
}

/// Renders resources with their addresses and records: three queries for
/// any number of resources.
fn resources_json(c: &mut DbConn, list: &[DnsResource]) -> Result<Vec<Value>> {
    let names: HashMap<i64, String> = db::places::domains(c)?.into_iter().map(|d| (d.id, d.name)).collect();
    let ids: Vec<i64> = list.iter().map(|r| r.id).collect();
    let mut ips: HashMap<i64, Vec<Value>> = HashMap::new();
    for (rid, a, _) in db::dns::resource_ips(c, &ids)? {
        ips.entry(rid).or_default().push(crate::api::views::dns::resource_address_json(&a));
    }
    let mut recs: HashMap<i64, Vec<DnsRecord>> = HashMap::new();
    for r in db::dns::records(c, Some(&ids))? {
        recs.entry(r.dnsresource_id).or_default().push(r);
    }
    Ok(list
        .iter()
        .map(|r| {
            let fqdn = engine::dns::fqdn(&r.name, names.get(&r.domain_id).map(String::as_str).unwrap_or(""));
            crate::api::views::dns::resource_json(
                r,
                &fqdn,
                ips.remove(&r.id).unwrap_or_default(),
                recs.get(&r.id).map(Vec::as_slice).unwrap_or_default(),
            )
        })
        .collect())
}

fn resource_one(c: &mut DbConn, r: &DnsResource) -> Result<Value> {
    Ok(resources_json(c, std::slice::from_ref(r))?.remove(0))
}

fn record_one(c: &mut DbConn, r: &DnsRecord) -> Result<Value> {
    let res = engine::dns::resource(c, r.dnsresource_id)?;
    let d = db::dns::domain_by_id(c, res.domain_id)?.ok_or(Error::NotFound("Domain"))?;
    Ok(record_json(r, &engine::dns::fqdn(&res.name, &d.name)))
}

// ---------------------------------------------------------------- domains

async fn domains_list(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let v = ctx
        .db()
        .run(|c| {
            let counts = db::dns::record_counts(c)?;
            let list = db::places::domains(c)?;
            Ok(Value::Array(list.iter().map(|d| domain_json(d, counts.get(&d.id).copied().unwrap_or(0))).collect()))
        })
        .await?;
    Ok(Reply::Json(v))
}

async fn domain_create(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let input = DomainInput::from_form(&ctx.params)?;
    let v = ctx
        .db()
        .write(move |c| {
            let d = engine::dns::create_domain(c, &input)?;
            domain_one(c, &d)
        })
        .await?;
    Ok(Reply::Json(v))
}

async fn domain_set_serial(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let s = serial(&ctx.params)?;
    ctx.db().write(move |c| engine::dns::set_serial(c, s)).await?;
    Ok(Reply::Text(actix_web::http::StatusCode::OK, "OK".into()))
}

async fn domain_read(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let id = path_id(&ctx, "Domain")?;
    let v = ctx
        .db()
        .run(move |c| {
            let d = engine::dns::domain(c, &id.to_string())?;
            domain_one(c, &d)
        })
        .await?;
    Ok(Reply::Json(v))
}

async fn domain_update(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let id = path_id(&ctx, "Domain")?;
    let p = ctx.params.clone();
    let v = ctx
        .db()
        .write(move |c| {
            let d = engine::dns::domain(c, &id.to_string())?;
            let d = engine::dns::update_domain(c, &d, &DomainInput::from_form(&p)?)?;
            domain_one(c, &d)
        })
        .await?;
    Ok(Reply::Json(v))
}

async fn domain_delete(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let id = path_id(&ctx, "Domain")?;
    ctx.db()
        .write(move |c| {
            let d = engine::dns::domain(c, &id.to_string())?;
            engine::dns::delete_domain(c, &d)
        })
        .await?;
    Ok(Reply::NoContent)
}

async fn domain_set_default(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let id = path_id(&ctx, "Domain")?;
    let v = ctx
        .db()
        .write(move |c| {
            let d = engine::dns::domain(c, &id.to_string())?;
            let d = engine::dns::set_default(c, &d)?;
            domain_one(c, &d)
        })
        .await?;
    Ok(Reply::Json(v))
}

// ---------------------------------------------------------------- resources

/// The (domain id, relative name) a list filter names, if any.
fn list_filter(c: &mut DbConn, p: &http::params::Params) -> Result<(Option<i64>, Option<String>)> {
    let mut domain = match p.get_nonempty("domain") {
        Some(k) => Some(
            engine::dns::domain(c, k).map_err(|_| Error::field("domain", format!("Domain '{k}' does not exist.")))?.id,
        ),
        None => None,
    };
    let mut name = p.get_nonempty("name").map(|n| n.to_ascii_lowercase());
    if let Some(fq) = p.get_nonempty("fqdn") {
        let (n, d) = engine::dns::split_fqdn(c, fq)?;
        (domain, name) = (Some(d.id), Some(n));
    }
    Ok((domain, name))
}

async fn resources_list(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    ctx.params.bool("all")?;
    let p = ctx.params.clone();
    let v = ctx
        .db()
        .run(move |c| {
            let (domain, name) = list_filter(c, &p)?;
            let mut list = db::dns::resources(c, domain, name.as_deref())?;
            if let Some(t) = p.get_nonempty("rrtype") {
                let t = t.to_ascii_uppercase();
                let ids: Vec<i64> = list.iter().map(|r| r.id).collect();
                let mut keep: std::collections::HashSet<i64> = db::dns::records(c, Some(&ids))?
                    .into_iter()
                    .filter(|r| r.rrtype == t)
                    .map(|r| r.dnsresource_id)
                    .collect();
                for (rid, a, _) in db::dns::resource_ips(c, &ids)? {
                    let v4 = a.ip.as_deref().is_some_and(|ip| ip.contains('.'));
                    if (t == "A" && v4) || (t == "AAAA" && !v4) {
                        keep.insert(rid);
                    }
                }
                list.retain(|r| keep.contains(&r.id));
            }
            Ok(Value::Array(resources_json(c, &list)?))
        })
        .await?;
    Ok(Reply::Json(v))
}

async fn resource_create(ctx: Ctx) -> Result<Reply> {
    let user = ctx.admin()?.clone();
    let input = DnsResourceInput::from_form(&ctx.params)?;
    let v = ctx
        .db()
        .write(move |c| {
            let r = engine::dns::create_resource(c, &user, &input)?;
            resource_one(c, &r)
        })
        .await?;
    Ok(Reply::Json(v))
}

async fn resource_read(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let id = path_id(&ctx, "DNSResource")?;
    let v = ctx
        .db()
        .run(move |c| {
            let r = engine::dns::resource(c, id)?;
            resource_one(c, &r)
        })
        .await?;
    Ok(Reply::Json(v))
}

async fn resource_update(ctx: Ctx) -> Result<Reply> {
    let user = ctx.admin()?.clone();
    let id = path_id(&ctx, "DNSResource")?;
    let p = ctx.params.clone();
    let v = ctx
        .db()
        .write(move |c| {
            let r = engine::dns::resource(c, id)?;
            let r = engine::dns::update_resource(c, &user, &r, &DnsResourceInput::from_form(&p)?)?;
            resource_one(c, &r)
        })
        .await?;
    Ok(Reply::Json(v))
}

async fn resource_delete(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let id = path_id(&ctx, "DNSResource")?;
    ctx.db()
        .write(move |c| {
            let r = engine::dns::resource(c, id)?;
            engine::dns::delete_resource(c, &r)
        })
        .await?;
    Ok(Reply::NoContent)
}

// ---------------------------------------------------------------- records

async fn records_list(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let p = ctx.params.clone();
    let v = ctx
        .db()
        .run(move |c| {
            let (domain, name) = list_filter(c, &p)?;
            let res = db::dns::resources(c, domain, name.as_deref())?;
            let ids: Vec<i64> = res.iter().map(|r| r.id).collect();
            let t = p.get_nonempty("rrtype").map(str::to_ascii_uppercase);
            let names: HashMap<i64, String> = db::places::domains(c)?.into_iter().map(|d| (d.id, d.name)).collect();
            let fq: HashMap<i64, String> = res
                .iter()
                .map(|r| (r.id, engine::dns::fqdn(&r.name, names.get(&r.domain_id).map(String::as_str).unwrap_or(""))))
                .collect();
            let out = db::dns::records(c, Some(&ids))?
                .into_iter()
                .filter(|r| t.as_deref().is_none_or(|t| r.rrtype == t))
                .map(|r| record_json(&r, fq.get(&r.dnsresource_id).map(String::as_str).unwrap_or("")))
                .collect();
            Ok(Value::Array(out))
        })
        .await?;
    Ok(Reply::Json(v))
}

async fn record_create(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let input = DnsRecordInput::from_form(&ctx.params)?;
    let v = ctx
        .db()
        .write(move |c| {
            let r = engine::dns::create_record(c, &input)?;
            record_one(c, &r)
        })
        .await?;
    Ok(Reply::Json(v))
}

async fn record_read(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let id = path_id(&ctx, "DNSData")?;
    let v = ctx
        .db()
        .run(move |c| {
            let r = engine::dns::record(c, id)?;
            record_one(c, &r)
        })
        .await?;
    Ok(Reply::Json(v))
}

async fn record_update(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let id = path_id(&ctx, "DNSData")?;
    let p = ctx.params.clone();
    let v = ctx
        .db()
        .write(move |c| {
            let r = engine::dns::record(c, id)?;
            let r = engine::dns::update_record(c, &r, &DnsRecordInput::from_form(&p)?)?;
            record_one(c, &r)
        })
        .await?;
    Ok(Reply::Json(v))
}

async fn record_delete(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let id = path_id(&ctx, "DNSData")?;
    ctx.db()
        .write(move |c| {
            let r = engine::dns::record(c, id)?;
            engine::dns::delete_record(c, &r)
        })
        .await?;
    Ok(Reply::NoContent)
}
