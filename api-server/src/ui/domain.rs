//! `/MAAS/r/domain/{id}`: one DNS domain and its resource records (name,
//! type, TTL, data). Administrators edit the domain, and add, edit and
//! delete records.
//!
//! Read through the API: `domains/{id}/` and `dnsresources/?domain={id}`,
//! which loads every name of the domain with its addresses and records in a
//! fixed number of queries. A name's addresses (`ip_addresses`, made by
//! `dnsresources/` or by reserving an address with a hostname) show as its
//! A and AAAA rows; its records (`dnsresourcerecords/`) are the other rows.
//!
//! Records added here are `dnsresourcerecords/` (any type, A and AAAA
//! included), so the engine checks the data for the type and its words
//! appear in the form (an A record whose data is not an IPv4 address, a
//! CNAME beside other records). An address row is removed by writing the
//! name's remaining addresses back (`PUT dnsresources/{id}/`), or by
//! deleting the name when nothing else is left on it, as deleting its last
//! record does.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde_json::Value;

use crate::engine::dns::RRTYPES;
use crate::error::{Error, Result};
use crate::http::params::Params;
use crate::http::registry::Method;
use crate::http::AppState;
use crate::ui::calls;
use crate::ui::domains;
use crate::ui::forms::{self, Notice};
use crate::ui::layout::{self, csrf};
use crate::ui::networks::select;
use crate::ui::respond::html as page_response;
use crate::ui::viewer::Viewer;

/// One row of the records table.
struct Row {
    /// Relative to the domain; `@` for the domain itself.
    name: String,
    rrtype: String,
    ttl: Option<i64>,
    data: String,
    what: Kind,
}

/// Where a row comes from, which decides how it is changed.
enum Kind {
    /// A `dnsresourcerecords/` record (its id).
    Record(i64),
    /// An address of a `dnsresources/` name: (the name's id, the address).
    Address(i64, String),
}

impl Row {
    /// The form key of the row (`r{id}` or `a{resource}-{ip}`).
    fn key(&self) -> String {
        match &self.what {
            Kind::Record(id) => format!("r{id}"),
            Kind::Address(rid, ip) => format!("a{rid}-{ip}"),
        }
    }
}

fn parse_id(id: &str) -> Result<i64> {
    id.parse().map_err(|_| Error::NotFound("Domain"))
}

/// The name of `fqdn` relative to domain `d` (`@` for the domain itself).
fn relative(fqdn: &str, d: &str) -> String {
    if fqdn == d {
        "@".into()
    } else {
        fqdn.strip_suffix(&format!(".{d}")).unwrap_or(fqdn).to_string()
    }
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// The records table's rows, from the API's `dnsresources/` answer.
fn rows(domain: &str, resources: &Value) -> Vec<Row> {
    let mut out = Vec::new();
    for r in resources.as_array().into_iter().flatten() {
        let name = relative(s(r, "fqdn"), domain);
        let rid = r.get("id").and_then(Value::as_i64).unwrap_or(0);
        let addr_ttl = r.get("address_ttl").and_then(Value::as_i64);
        for a in r.get("ip_addresses").and_then(Value::as_array).into_iter().flatten() {
            let ip = s(a, "ip").to_string();
            if ip.is_empty() {
                continue;
            }
            let rrtype = if ip.contains(':') { "AAAA" } else { "A" };
            out.push(Row {
                name: name.clone(),
                rrtype: rrtype.into(),
                ttl: addr_ttl,
                data: ip.clone(),
                what: Kind::Address(rid, ip),
            });
        }
        for rec in r.get("resource_records").and_then(Value::as_array).into_iter().flatten() {
            out.push(Row {
                name: name.clone(),
                rrtype: s(rec, "rrtype").to_string(),
                ttl: rec.get("ttl").and_then(Value::as_i64),
                data: s(rec, "rrdata").to_string(),
                what: Kind::Record(rec.get("id").and_then(Value::as_i64).unwrap_or(0)),
            });
        }
    }
    out.sort_by(|a, b| (a.name != "@", &a.name, &a.rrtype, &a.data).cmp(&(b.name != "@", &b.name, &b.rrtype, &b.data)));
    out
}

/// The domain (the API's JSON) and its names.
async fn load(state: &Arc<AppState>, viewer: &Viewer, id: i64) -> Result<(Value, Value)> {
    let d = calls::json(state, viewer, Method::Get, &format!("domains/{id}/"), None, vec![]).await?;
    let res =
        calls::json(state, viewer, Method::Get, "dnsresources/", None, calls::params(&[("domain", &id.to_string())]))
            .await?;
    Ok((d, res))
}

/// `GET /MAAS/r/domain/{id}` (and the answer to a change on it).
pub async fn page(state: &Arc<AppState>, viewer: &Viewer, id: &str, notice: Option<Notice>) -> Result<HttpResponse> {
    let id = parse_id(id)?;
    let (d, res) = load(state, viewer, id).await?;
    let name = s(&d, "name").to_string();
    let rows = rows(&name, &res);
    let status = Notice::status(&notice);
    let title = format!("Domain {name}");
    Ok(page_response(status, layout::page(viewer, &title, "domains", &[], render(viewer, id, &d, &rows, &notice))))
}

fn ttl_cell(t: Option<i64>) -> Markup {
    html! { @match t { Some(t) => { (t) } None => { span.muted { "default" } } } }
}

/// The fields of a record form, filled from `r` or from what was typed.
fn record_fields(n: &Option<Notice>, id: &str, r: Option<&Row>) -> Markup {
    let types: Vec<(String, String)> = RRTYPES.iter().map(|t| (t.to_string(), t.to_string())).collect();
    let name = r.map(|r| r.name.as_str()).unwrap_or("");
    let rrtype = r.map(|r| r.rrtype.as_str()).unwrap_or("A");
    let ttl = r.and_then(|r| r.ttl).map(|t| t.to_string()).unwrap_or_default();
    html! {
        label { "Name (@ for the domain itself)" input type="text" name="name" value=(forms::value(n, id, "name", name)) required; }
        label { "Type" (select("rrtype", &types, &forms::value(n, id, "rrtype", rrtype))) }
        label { "Data (A: an IPv4 address; MX: 'preference host'; SRV: 'priority weight port target')"
            input type="text" name="rrdata" value=(forms::value(n, id, "rrdata", r.map(|r| r.data.as_str()).unwrap_or(""))) required; }
        label { "TTL (seconds; empty for the domain's)" input type="text" name="ttl" inputmode="numeric" value=(forms::value(n, id, "ttl", &ttl)); }
    }
}

fn render(viewer: &Viewer, id: i64, d: &Value, rows: &[Row], n: &Option<Notice>) -> Markup {
    let admin = viewer.is_admin();
    let base = format!("/MAAS/r/domain/{id}");
    let is_default = d.get("is_default") == Some(&Value::Bool(true));
    html! {
        p.crumbs { a href="/MAAS/r/domains" { "Domains" } " ›" }
        h1 { "Domain " (s(d, "name")) @if is_default { " " span.tag { "default" } } }
        (forms::banner(n))
        section.card #summary {
            h2 { "Summary" }
            dl.grid {
                dt { "Authoritative" } dd { @if d.get("authoritative") == Some(&Value::Bool(true)) { "Yes" } @else { "No" } }
                dt { "TTL" } dd { (ttl_cell(d.get("ttl").and_then(Value::as_i64))) }
                dt { "Records" } dd { (d.get("resource_record_count").and_then(Value::as_i64).unwrap_or(0)) }
            }
            @if admin {
                details #edit open[forms::is_failed(n, "edit")] {
                    summary { "Edit domain" }
                    form.stacked method="post" action={ (base) "/edit" } {
                        (csrf(viewer))
                        (forms::error_in(n, "edit"))
                        (domains::fields(n, "edit", Some(d)))
                        button.primary type="submit" { "Save" }
                    }
                }
            }
        }
        section.card #records {
            h2 { "Resource records " span.count.muted { (rows.len()) } }
            @if rows.is_empty() {
                p.empty-state { "No records in this domain." }
            } @else {
                table.records {
                    thead {
                        tr {
                            th scope="col" { "Name" }
                            th scope="col" { "Type" }
                            th scope="col" .num { "TTL" }
                            th scope="col" { "Data" }
                            @if admin { th scope="col" { span.visually-hidden { "Actions" } } }
                        }
                    }
                    tbody {
                        @for r in rows {
                            @let key = r.key();
                            @let edit = format!("edit:{key}");
                            tr data-record={ (r.name) " " (r.rrtype) " " (r.data) } {
                                td { (r.name) }
                                td { (r.rrtype) }
                                td.num { (ttl_cell(r.ttl)) }
                                td { code { (r.data) } }
                                @if admin {
                                    td.row-actions {
                                        @if let Kind::Record(_) = r.what {
                                            details open[forms::is_failed(n, &edit)] {
                                                summary { "Edit" }
                                                form.stacked method="post" action={ (base) "/record-edit" } {
                                                    (csrf(viewer))
                                                    input type="hidden" name="key" value=(key);
                                                    (forms::error_in(n, &edit))
                                                    (record_fields(n, &edit, Some(r)))
                                                    button.primary type="submit" { "Save" }
                                                }
                                            }
                                        }
                                        form.inline method="post" action={ (base) "/record-delete" } {
                                            (csrf(viewer))
                                            input type="hidden" name="key" value=(key);
                                            (forms::error_in(n, &format!("delete:{key}")))
                                            button.danger type="submit" aria-label={ "Delete " (r.rrtype) " record " (r.name) } { "Delete" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if admin {
            section.card #create {
                h2 { "Add record" }
                form.stacked method="post" action={ (base) "/record-create" } {
                    (csrf(viewer))
                    (forms::error_in(n, "create"))
                    (record_fields(n, "create", None))
                    button.primary type="submit" { "Add record" }
                }
            }
        }
    }
}

/// The API parameters of a record form in domain `id`.
fn record_params(p: &Params, id: i64) -> Vec<(String, String)> {
    let mut out = vec![("domain".to_string(), id.to_string())];
    for k in ["name", "rrtype", "rrdata", "ttl"] {
        out.push((k.to_string(), p.get(k).unwrap_or("").to_string()));
    }
    out
}

/// The row a record form's key names.
fn parse_key(key: &str) -> Result<Kind> {
    let bad = || Error::field("key", "Choose what to change.");
    if let Some(id) = key.strip_prefix('r') {
        return id.parse().map(Kind::Record).map_err(|_| bad());
    }
    let (rid, ip) = key.strip_prefix('a').and_then(|k| k.split_once('-')).ok_or_else(bad)?;
    Ok(Kind::Address(rid.parse().map_err(|_| bad())?, ip.to_string()))
}

/// `POST /MAAS/r/domain/{id}/{edit|record-create|record-edit|record-delete}`:
/// administrators only.
pub async fn change(
    req: &HttpRequest,
    payload: web::Payload,
    state: &Arc<AppState>,
    viewer: &Viewer,
    id: &str,
    what: &str,
) -> Result<HttpResponse> {
    let p = forms::admin_post(req, payload, viewer).await?;
    let did = parse_id(id)?;
    let notice = match what {
        "edit" => {
            let call = (Method::Put, format!("domains/{did}/"), None, domains::params(&p, false));
            forms::run(state, viewer, call, "Saved the domain.".into(), "edit", &p).await?
        }
        "record-create" => {
            let call = (Method::Post, "dnsresourcerecords/".to_string(), None, record_params(&p, did));
            let done =
                format!("Added {} record {}.", p.get("rrtype").unwrap_or(""), p.get("name").unwrap_or("").trim());
            forms::run(state, viewer, call, done, "create", &p).await?
        }
        "record-edit" => {
            let key = forms::key(&p)?;
            let Kind::Record(rec) = parse_key(&key)? else {
                return Err(Error::field("key", "Only records are edited here; delete an address and add it again."));
            };
            let call = (Method::Put, format!("dnsresourcerecords/{rec}/"), None, record_params(&p, did));
            forms::run(state, viewer, call, "Saved the record.".into(), &format!("edit:{key}"), &p).await?
        }
        "record-delete" => {
            let key = forms::key(&p)?;
            let kind = parse_key(&key)?;
            if p.get("confirm").is_none() {
                let (d, res) = load(state, viewer, did).await?;
                let row =
                    rows(s(&d, "name"), &res).into_iter().find(|r| r.key() == key).ok_or(Error::NotFound("DNSData"))?;
                let what = format!("{} record {} → {}", row.rrtype, row.name, row.data);
                let body = forms::confirm_delete(
                    viewer,
                    &what,
                    &format!("/MAAS/r/domain/{did}/record-delete"),
                    &key,
                    &format!("/MAAS/r/domain/{did}"),
                    "",
                );
                return Ok(page_response(StatusCode::OK, layout::page(viewer, "Domains", "domains", &[], body)));
            }
            let form_id = format!("delete:{key}");
            match kind {
                Kind::Record(rec) => {
                    let call = (Method::Delete, format!("dnsresourcerecords/{rec}/"), None, vec![]);
                    forms::run(state, viewer, call, "Deleted the record.".into(), &form_id, &p).await?
                }
                Kind::Address(rid, ip) => delete_address(state, viewer, rid, &ip, &form_id, &p).await?,
            }
        }
        _ => return Err(Error::NotFoundText(format!("There is no page at /MAAS/r/domain/{id}/{what}."))),
    };
    page(state, viewer, id, Some(notice)).await
}

/// Removes one address from a DNS name: the name keeps its other addresses
/// (`PUT dnsresources/{id}/`), or goes when nothing else is left on it.
async fn delete_address(
    state: &Arc<AppState>,
    viewer: &Viewer,
    rid: i64,
    ip: &str,
    form_id: &str,
    p: &Params,
) -> Result<Notice> {
    let rel = format!("dnsresources/{rid}/");
    let r = match calls::json(state, viewer, Method::Get, &rel, None, vec![]).await {
        Ok(r) => r,
        Err(e) => return forms::refused(e, form_id, p),
    };
    let left: Vec<String> = r
        .get("ip_addresses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|a| s(a, "ip").to_string())
        .filter(|a| !a.is_empty() && a != ip)
        .collect();
    let records = r.get("resource_records").and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    let call = if left.is_empty() && !records {
        (Method::Delete, rel, None, vec![])
    } else {
        (Method::Put, rel, None, vec![("ip_addresses".to_string(), left.join(" "))])
    };
    forms::run(state, viewer, call, format!("Deleted the address {ip}."), form_id, p).await
}
