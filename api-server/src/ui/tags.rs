//! `/MAAS/r/tags`: tags with their definition, comment, kernel options and
//! how many machines carry each; administrators create, edit and delete
//! them. `/MAAS/r/tag/{name}`: one tag and its machines.
//!
//! The list is two queries: the tags and one GROUP BY of the machines the
//! viewer may see (`db::nodes::count_by`). A tag's machines come from the
//! API's `tags/{name}/?op=machines`, which loads them and their related rows
//! in a fixed number of queries and hides what the viewer may not see.
//! Changes are the API's `tags/` actions: the engine checks names and the
//! XPath definition and (re)evaluates the tag, and its words (an invalid
//! definition's 400) appear in the form.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde_json::Value;

use crate::api::views::enc;
use crate::db;
use crate::db::nodes::{CountBy, NodeFilter};
use crate::db::tags::Tag;
use crate::engine;
use crate::engine::lifecycle::NodeType;
use crate::error::{Error, Result};
use crate::http::registry::Method;
use crate::http::AppState;
use crate::ui::calls;
use crate::ui::forms::{self, Notice};
use crate::ui::layout::{self, csrf};
use crate::ui::respond::html as page_response;
use crate::ui::viewer::Viewer;

/// The tags, each with the number of machines the viewer may see carrying it.
async fn tags(state: &Arc<AppState>, viewer: &Viewer) -> Result<Vec<(Tag, i64)>> {
    let user = viewer.user.clone();
    state
        .db
        .run(move |c| {
            let mut f = NodeFilter { node_types: vec![NodeType::Machine], ..Default::default() };
            engine::access::restrict_list(&mut f, &user);
            let counts = db::nodes::count_by(c, &f, CountBy::Tag)?;
            Ok(db::tags::list(c)?
                .into_iter()
                .map(|t| {
                    let n = counts.get(&t.id).copied().unwrap_or(0);
                    (t, n)
                })
                .collect())
        })
        .await
}

fn tag_link(name: &str) -> String {
    format!("/MAAS/r/tag/{}", enc(name))
}

/// `GET /MAAS/r/tags` (and the answer to a change).
pub async fn list(state: &Arc<AppState>, viewer: &Viewer, notice: Option<Notice>) -> Result<HttpResponse> {
    let rows = tags(state, viewer).await?;
    let status = Notice::status(&notice);
    Ok(page_response(status, layout::page(viewer, "Tags", "tags", &[], render(viewer, &rows, &notice))))
}

/// The fields of a tag's form, filled from `t` or from what was typed.
fn fields(n: &Option<Notice>, id: &str, t: Option<&Tag>) -> Markup {
    let cur = |f: fn(&Tag) -> &str| t.map(f).unwrap_or("");
    html! {
        label { "Name" input type="text" name="name" value=(forms::value(n, id, "name", cur(|t| &t.name))) required; }
        label { "Definition (XPath over the hardware details; empty for a manual tag)"
            input type="text" name="definition" value=(forms::value(n, id, "definition", cur(|t| &t.definition))); }
        label { "Comment" input type="text" name="comment" value=(forms::value(n, id, "comment", cur(|t| &t.comment))); }
        label { "Kernel options" input type="text" name="kernel_opts" value=(forms::value(n, id, "kernel_opts", cur(|t| &t.kernel_opts))); }
    }
}

fn render(viewer: &Viewer, rows: &[(Tag, i64)], n: &Option<Notice>) -> Markup {
    html! {
        h1 { "Tags " span.count.muted { (rows.len()) } }
        (forms::banner(n))
        section.card {
            @if rows.is_empty() {
                p.empty-state { "No tags yet." }
            } @else {
                table.tags {
                    thead {
                        tr {
                            th scope="col" { "Name" }
                            th scope="col" { "Definition" }
                            th scope="col" { "Comment" }
                            th scope="col" { "Kernel options" }
                            th scope="col" .num { "Machines" }
                            @if viewer.is_admin() { th scope="col" { span.visually-hidden { "Actions" } } }
                        }
                    }
                    tbody {
                        @for (t, count) in rows {
                            @let edit = format!("edit:{}", t.name);
                            tr data-name=(t.name) {
                                td { a href=(tag_link(&t.name)) { (t.name) } }
                                td { @if t.definition.is_empty() { span.muted { "manual" } } @else { code { (t.definition) } } }
                                td { (t.comment) }
                                td { @if !t.kernel_opts.is_empty() { code { (t.kernel_opts) } } }
                                td.num { a href=(tag_link(&t.name)) { (count) } }
                                @if viewer.is_admin() {
                                    td.row-actions {
                                        details open[forms::is_failed(n, &edit)] {
                                            summary { "Edit" }
                                            form.stacked method="post" action="/MAAS/r/tags/edit" {
                                                (csrf(viewer))
                                                input type="hidden" name="key" value=(t.name);
                                                (forms::error_in(n, &edit))
                                                (fields(n, &edit, Some(t)))
                                                button.primary type="submit" { "Save" }
                                            }
                                        }
                                        form.inline method="post" action="/MAAS/r/tags/delete" {
                                            (csrf(viewer))
                                            input type="hidden" name="key" value=(t.name);
                                            (forms::error_in(n, &format!("delete:{}", t.name)))
                                            button.danger type="submit" aria-label={ "Delete " (t.name) } { "Delete" }
                                        }
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
                h2 { "Add tag" }
                form.stacked method="post" action="/MAAS/r/tags/create" {
                    (csrf(viewer))
                    (forms::error_in(n, "create"))
                    (fields(n, "create", None))
                    button.primary type="submit" { "Add tag" }
                }
            }
        }
    }
}

/// `POST /MAAS/r/tags/{create|edit|delete}`: administrators only.
pub async fn change(
    req: &HttpRequest,
    payload: web::Payload,
    state: &Arc<AppState>,
    viewer: &Viewer,
    what: &str,
) -> Result<HttpResponse> {
    let p = forms::admin_post(req, payload, viewer).await?;
    let text = |k: &str| p.get(k).unwrap_or("").to_string();
    let all = || -> Vec<(String, String)> {
        ["name", "definition", "comment", "kernel_opts"].iter().map(|k| (k.to_string(), text(k))).collect()
    };
    let notice = match what {
        "create" => {
            let call = (Method::Post, "tags/".to_string(), None, all());
            forms::run(state, viewer, call, format!("Added tag {}.", text("name").trim()), "create", &p).await?
        }
        "edit" => {
            let key = forms::key(&p)?;
            let call = (Method::Put, format!("tags/{}/", enc(&key)), None, all());
            forms::run(state, viewer, call, format!("Saved tag {}.", text("name")), &format!("edit:{key}"), &p).await?
        }
        "delete" => {
            let key = forms::key(&p)?;
            if p.get("confirm").is_none() {
                let note =
                    "Machines keep running; they only lose the tag (and its kernel options on their next deployment).";
                let body = forms::confirm_delete(
                    viewer,
                    &format!("tag {key}"),
                    "/MAAS/r/tags/delete",
                    &key,
                    "/MAAS/r/tags",
                    note,
                );
                return Ok(page_response(StatusCode::OK, layout::page(viewer, "Tags", "tags", &[], body)));
            }
            let call = (Method::Delete, format!("tags/{}/", enc(&key)), None, vec![]);
            forms::run(state, viewer, call, format!("Deleted tag {key}."), &format!("delete:{key}"), &p).await?
        }
        _ => return Err(Error::NotFoundText(format!("There is no page at /MAAS/r/tags/{what}."))),
    };
    list(state, viewer, Some(notice)).await
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// `GET /MAAS/r/tag/{name}`: the tag and the machines the viewer may see
/// carrying it.
pub async fn page(state: &Arc<AppState>, viewer: &Viewer, raw: &str) -> Result<HttpResponse> {
    let name = percent_encoding::percent_decode_str(raw).decode_utf8_lossy().into_owned();
    let rel = format!("tags/{}/", enc(&name));
    let tag = calls::json(state, viewer, Method::Get, &rel, None, vec![]).await?;
    let machines = calls::json(state, viewer, Method::Get, &rel, Some("machines"), vec![]).await?;
    let empty = Vec::new();
    let machines = machines.as_array().unwrap_or(&empty);
    let body = html! {
        p.crumbs { a href="/MAAS/r/tags" { "Tags" } " ›" }
        h1 { "Tag " (s(&tag, "name")) }
        section.card {
            dl.grid {
                dt { "Definition" } dd { @if s(&tag, "definition").is_empty() { span.muted { "manual" } } @else { code { (s(&tag, "definition")) } } }
                dt { "Comment" } dd { (s(&tag, "comment")) }
                dt { "Kernel options" } dd { code { (s(&tag, "kernel_opts")) } }
            }
        }
        section.card #machines {
            h2 { "Machines " span.count.muted { (machines.len()) } }
            @if machines.is_empty() {
                p.empty-state { "No machines carry this tag." }
            } @else {
                table.machines {
                    thead { tr { th scope="col" { "FQDN" } th scope="col" { "Status" } th scope="col" { "Owner" } th scope="col" { "Pool" } th scope="col" { "Zone" } } }
                    tbody {
                        @for m in machines {
                            tr data-sid=(s(m, "system_id")) {
                                td { a href={ "/MAAS/r/machine/" (s(m, "system_id")) } { (s(m, "fqdn")) } }
                                td { (s(m, "status_name")) }
                                td { (s(m, "owner")) }
                                td { (m.pointer("/pool/name").and_then(Value::as_str).unwrap_or("")) }
                                td { (m.pointer("/zone/name").and_then(Value::as_str).unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page_response(StatusCode::OK, layout::page(viewer, &name, "tags", &[], body)))
}
