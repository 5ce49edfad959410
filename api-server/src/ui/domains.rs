//! `/MAAS/r/domains`: DNS domains with their authoritative flag, TTL and
//! record counts; administrators create, edit (name, authoritative, TTL),
//! make one the default and delete them. Each name leads to the domain's
//! records (`ui::domain`).
//!
//! The list is the API's `domains/` answer, which counts every domain's
//! records in a fixed number of queries (`db::dns::record_counts`). Changes
//! are the API's actions (`domains/`, `domains/{id}/`, `?op=set_default`),
//! so the engine's rules and words apply (names are checked; the default
//! domain, or one that still has nodes, cannot be deleted).

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::http::params::Params;
use crate::http::registry::Method;
use crate::http::AppState;
use crate::ui::calls;
use crate::ui::forms::{self, Notice};
use crate::ui::layout::{self, csrf};
use crate::ui::networks::id_key;
use crate::ui::respond::html as page_response;
use crate::ui::viewer::Viewer;

/// `GET /MAAS/r/domains` (and the answer to a change).
pub async fn list(state: &Arc<AppState>, viewer: &Viewer, notice: Option<Notice>) -> Result<HttpResponse> {
    let domains = calls::json(state, viewer, Method::Get, "domains/", None, vec![]).await?;
    let status = Notice::status(&notice);
    Ok(page_response(status, layout::page(viewer, "Domains", "domains", &[], render(viewer, &domains, &notice))))
}

/// The fields of a domain's form (`create`, `edit:{id}`, the domain page's
/// `edit`), filled from `d` (the API's JSON of the domain) or, after a
/// refusal, from what was typed.
pub fn fields(n: &Option<Notice>, id: &str, d: Option<&Value>) -> Markup {
    let name = d.and_then(|d| d.get("name")).and_then(Value::as_str).unwrap_or("");
    let ttl = d.and_then(|d| d.get("ttl")).and_then(Value::as_i64).map(|t| t.to_string()).unwrap_or_default();
    // A new domain is authoritative (the API's default); after a refusal, what was chosen.
    let authoritative = match n {
        Some(Notice::Failed { form, values, .. }) if form == id => values.get("authoritative").is_some(),
        _ => d.is_none_or(|d| d.get("authoritative") == Some(&Value::Bool(true))),
    };
    html! {
        label { "Name" input type="text" name="name" value=(forms::value(n, id, "name", name)) required; }
        label.check { input type="checkbox" name="authoritative" value="true" checked[authoritative]; " Authoritative (this region answers for the domain)" }
        label { "TTL (seconds; empty for the default)" input type="text" name="ttl" inputmode="numeric" value=(forms::value(n, id, "ttl", &ttl)); }
    }
}

/// The API parameters of a domain form: an unticked box is absent from the
/// form, so it is sent as false; an empty TTL clears it on an edit and is
/// left out on a create (the API's default).
pub fn params(p: &Params, create: bool) -> Vec<(String, String)> {
    let auth = if p.get("authoritative").is_some() { "true" } else { "false" };
    let mut out = vec![
        ("name".to_string(), p.get("name").unwrap_or("").to_string()),
        ("authoritative".to_string(), auth.to_string()),
    ];
    match p.get("ttl").map(str::trim) {
        Some("") | None if create => {}
        ttl => out.push(("ttl".into(), ttl.unwrap_or("").to_string())),
    }
    out
}

fn render(viewer: &Viewer, domains: &Value, n: &Option<Notice>) -> Markup {
    let empty = Vec::new();
    let rows = domains.as_array().unwrap_or(&empty);
    html! {
        h1 { "Domains " span.count.muted { (rows.len()) } }
        (forms::banner(n))
        section.card {
            table.domains {
                thead {
                    tr {
                        th scope="col" { "Name" }
                        th scope="col" { "Authoritative" }
                        th scope="col" .num { "TTL" }
                        th scope="col" .num { "Records" }
                        @if viewer.is_admin() { th scope="col" { span.visually-hidden { "Actions" } } }
                    }
                }
                tbody {
                    @for d in rows {
                        @let name = d.get("name").and_then(Value::as_str).unwrap_or("");
                        @let id = d.get("id").and_then(Value::as_i64).unwrap_or(0).to_string();
                        @let is_default = d.get("is_default") == Some(&Value::Bool(true));
                        @let edit = format!("edit:{id}");
                        tr data-name=(name) {
                            td { a href={ "/MAAS/r/domain/" (id) } { (name) } @if is_default { " " span.tag { "default" } } }
                            td { @if d.get("authoritative") == Some(&Value::Bool(true)) { "Yes" } @else { "No" } }
                            td.num { @match d.get("ttl").and_then(Value::as_i64) { Some(t) => { (t) } None => { span.muted { "default" } } } }
                            td.num { (d.get("resource_record_count").and_then(Value::as_i64).unwrap_or(0)) }
                            @if viewer.is_admin() {
                                td.row-actions {
                                    details open[forms::is_failed(n, &edit)] {
                                        summary { "Edit" }
                                        form.stacked method="post" action="/MAAS/r/domains/edit" {
                                            (csrf(viewer))
                                            input type="hidden" name="key" value=(id);
                                            (forms::error_in(n, &edit))
                                            (fields(n, &edit, Some(d)))
                                            button.primary type="submit" { "Save" }
                                        }
                                    }
                                    @if !is_default {
                                        form.inline method="post" action="/MAAS/r/domains/set-default" {
                                            (csrf(viewer))
                                            input type="hidden" name="key" value=(id);
                                            (forms::error_in(n, &format!("set-default:{id}")))
                                            button type="submit" aria-label={ "Make " (name) " the default domain" } { "Set default" }
                                        }
                                    }
                                    form.inline method="post" action="/MAAS/r/domains/delete" {
                                        (csrf(viewer))
                                        input type="hidden" name="key" value=(id);
                                        (forms::error_in(n, &format!("delete:{id}")))
                                        button.danger type="submit" aria-label={ "Delete " (name) } { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if viewer.is_admin() {
            section.card #create {
                h2 { "Add domain" }
                form.stacked method="post" action="/MAAS/r/domains/create" {
                    (csrf(viewer))
                    (forms::error_in(n, "create"))
                    (fields(n, "create", None))
                    button.primary type="submit" { "Add domain" }
                }
            }
        }
    }
}

/// `POST /MAAS/r/domains/{create|edit|set-default|delete}`: administrators only.
pub async fn change(
    req: &HttpRequest,
    payload: web::Payload,
    state: &Arc<AppState>,
    viewer: &Viewer,
    what: &str,
) -> Result<HttpResponse> {
    let p = forms::admin_post(req, payload, viewer).await?;
    let name = p.get("name").unwrap_or("").trim().to_string();
    let notice = match what {
        "create" => {
            let call = (Method::Post, "domains/".to_string(), None, params(&p, true));
            forms::run(state, viewer, call, format!("Added domain {name}."), "create", &p).await?
        }
        "edit" => {
            let key = id_key(&p)?;
            let call = (Method::Put, format!("domains/{key}/"), None, params(&p, false));
            forms::run(state, viewer, call, format!("Saved domain {name}."), &format!("edit:{key}"), &p).await?
        }
        "set-default" => {
            let key = id_key(&p)?;
            let call = (Method::Post, format!("domains/{key}/"), Some("set_default"), vec![]);
            let done = "Changed the default domain: new machines get it.".to_string();
            forms::run(state, viewer, call, done, &format!("set-default:{key}"), &p).await?
        }
        "delete" => {
            let key = id_key(&p)?;
            if p.get("confirm").is_none() {
                let d = calls::json(state, viewer, Method::Get, &format!("domains/{key}/"), None, vec![]).await?;
                let name = d.get("name").and_then(Value::as_str).unwrap_or("").to_string();
                let note = "Its DNS records are deleted with it.";
                let body = forms::confirm_delete(
                    viewer,
                    &format!("domain {name}"),
                    "/MAAS/r/domains/delete",
                    &key,
                    "/MAAS/r/domains",
                    note,
                );
                return Ok(page_response(StatusCode::OK, layout::page(viewer, "Domains", "domains", &[], body)));
            }
            let call = (Method::Delete, format!("domains/{key}/"), None, vec![]);
            forms::run(state, viewer, call, "Deleted the domain.".to_string(), &format!("delete:{key}"), &p).await?
        }
        _ => return Err(Error::NotFoundText(format!("There is no page at /MAAS/r/domains/{what}."))),
    };
    list(state, viewer, Some(notice)).await
}
