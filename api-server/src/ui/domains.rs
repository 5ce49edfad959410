//! `/MAAS/r/domains`: DNS domains with their authoritative flag, TTL and
//! record counts; administrators create and delete them.
//!
//! The list is the API's `domains/` answer, which counts every domain's
//! records in a fixed number of queries (`db::dns::record_counts`). Changes
//! are the API's actions, so the engine's rules and words apply (the
//! default domain, or one that still has nodes, cannot be deleted).

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::http::registry::Method;
use crate::http::AppState;
use crate::ui::calls;
use crate::ui::forms::{self, Notice};
use crate::ui::layout::{self, csrf};
use crate::ui::respond::html as page_response;
use crate::ui::viewer::Viewer;

/// `GET /MAAS/r/domains` (and the answer to a change).
pub async fn list(state: &Arc<AppState>, viewer: &Viewer, notice: Option<Notice>) -> Result<HttpResponse> {
    let domains = calls::json(state, viewer, Method::Get, "domains/", None, vec![]).await?;
    let status = Notice::status(&notice);
    Ok(page_response(status, layout::page(viewer, "Domains", "domains", &[], render(viewer, &domains, &notice))))
}

fn render(viewer: &Viewer, domains: &Value, n: &Option<Notice>) -> Markup {
    let empty = Vec::new();
    let rows = domains.as_array().unwrap_or(&empty);
    // A fresh form is authoritative (the API's default); after a refusal, what was chosen.
    let authoritative = match n {
        Some(Notice::Failed { form, values, .. }) if form == "create" => values.get("authoritative").is_some(),
        _ => true,
    };
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
                        tr data-name=(name) {
                            td { (name) @if d.get("is_default") == Some(&Value::Bool(true)) { " " span.tag { "default" } } }
                            td { @if d.get("authoritative") == Some(&Value::Bool(true)) { "Yes" } @else { "No" } }
                            td.num { @match d.get("ttl").and_then(Value::as_i64) { Some(t) => { (t) } None => { span.muted { "default" } } } }
                            td.num { (d.get("resource_record_count").and_then(Value::as_i64).unwrap_or(0)) }
                            @if viewer.is_admin() {
                                td {
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
                    label for="new-name" { "Name" }
                    input #new-name type="text" name="name" value=(forms::value(n, "create", "name", "")) required;
                    label.check { input type="checkbox" name="authoritative" value="true" checked[authoritative]; " Authoritative (this region answers for the domain)" }
                    label for="new-ttl" { "TTL (seconds; empty for the default)" }
                    input #new-ttl type="text" name="ttl" inputmode="numeric" value=(forms::value(n, "create", "ttl", ""));
                    button.primary type="submit" { "Add domain" }
                }
            }
        }
    }
}

/// `POST /MAAS/r/domains/{create|delete}`: administrators only.
pub async fn change(
    req: &HttpRequest,
    payload: web::Payload,
    state: &Arc<AppState>,
    viewer: &Viewer,
    what: &str,
) -> Result<HttpResponse> {
    let p = forms::admin_post(req, payload, viewer).await?;
    let notice = match what {
        "create" => {
            let name = p.get("name").unwrap_or("").to_string();
            // An unchecked box is absent from the form: not authoritative.
            let auth = if p.get("authoritative").is_some() { "true" } else { "false" };
            let mut params = vec![("name".to_string(), name.clone()), ("authoritative".to_string(), auth.to_string())];
            if let Some(ttl) = p.get_nonempty("ttl") {
                params.push(("ttl".into(), ttl.trim().to_string()));
            }
            let call = (Method::Post, "domains/".to_string(), None, params);
            forms::run(state, viewer, call, format!("Added domain {}.", name.trim()), "create", &p).await?
        }
        "delete" => {
            let key = forms::key(&p)?;
            if !key.chars().all(|c| c.is_ascii_digit()) {
                return Err(Error::field("key", "Choose a domain to delete."));
            }
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
