//! `/MAAS/r/zones` and `/MAAS/r/pools`: zones and resource pools with how
//! many machines each holds; administrators create, edit (name,
//! description) and delete them.
//!
//! The two have the same shape, so one module serves both ([`Kind`]). The
//! list is two queries whatever the numbers: the zones (or pools) and one
//! GROUP BY of the machines the viewer may see (`db::nodes::count_by` over
//! the machines list's own filter, narrowed as the API narrows it). Changes
//! are the API's `zones/` and `resourcepool(s)/` actions, so the engine's
//! rules and words apply (the default zone and pool cannot be deleted, a
//! pool with machines cannot be deleted, names are checked).

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use crate::api::views::enc;
use crate::db;
use crate::db::nodes::{CountBy, NodeFilter};
use crate::engine;
use crate::engine::lifecycle::NodeType;
use crate::error::{Error, Result};
use crate::http::registry::Method;
use crate::http::AppState;
use crate::ui::forms::{self, Notice};
use crate::ui::layout::{self, csrf};
use crate::ui::respond::html as page_response;
use crate::ui::viewer::Viewer;

/// Zones or resource pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Zone,
    Pool,
}

impl Kind {
    /// The UI section (`/MAAS/r/{section}`).
    fn section(self) -> &'static str {
        match self {
            Kind::Zone => "zones",
            Kind::Pool => "pools",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Kind::Zone => "Zones",
            Kind::Pool => "Resource pools",
        }
    }

    fn one(self) -> &'static str {
        match self {
            Kind::Zone => "zone",
            Kind::Pool => "resource pool",
        }
    }

    /// The machines search key that lists a place's machines.
    fn search_key(self) -> &'static str {
        match self {
            Kind::Zone => "zone",
            Kind::Pool => "pool",
        }
    }

    /// The API's collection and item paths (a zone is addressed by name, a
    /// pool by id, as in MAAS).
    fn collection(self) -> &'static str {
        match self {
            Kind::Zone => "zones/",
            Kind::Pool => "resourcepools/",
        }
    }

    fn item(self, key: &str) -> String {
        match self {
            Kind::Zone => format!("zones/{}/", enc(key)),
            Kind::Pool => format!("resourcepool/{}/", enc(key)),
        }
    }
}

/// One row.
struct Place {
    /// What the API addresses it by: the name of a zone, the id of a pool.
    key: String,
    name: String,
    description: String,
    machines: i64,
}

/// The places with the machines the viewer may see in each: two queries.
async fn places(state: &Arc<AppState>, viewer: &Viewer, kind: Kind) -> Result<Vec<Place>> {
    let user = viewer.user.clone();
    state
        .db
        .run(move |c| {
            let mut f = NodeFilter { node_types: vec![NodeType::Machine], ..Default::default() };
            engine::access::restrict_list(&mut f, &user);
            let rows: Vec<(i64, String, String, String)> = match kind {
                Kind::Zone => {
                    db::places::zones(c)?.into_iter().map(|z| (z.id, z.name.clone(), z.name, z.description)).collect()
                }
                Kind::Pool => {
                    db::places::pools(c)?.into_iter().map(|p| (p.id, p.id.to_string(), p.name, p.description)).collect()
                }
            };
            let counts = db::nodes::count_by(c, &f, if kind == Kind::Zone { CountBy::Zone } else { CountBy::Pool })?;
            Ok(rows
                .into_iter()
                .map(|(id, key, name, description)| Place {
                    key,
                    name,
                    description,
                    machines: counts.get(&id).copied().unwrap_or(0),
                })
                .collect())
        })
        .await
}

/// `GET /MAAS/r/zones`, `GET /MAAS/r/pools` (and the answer to a change).
pub async fn list(state: &Arc<AppState>, viewer: &Viewer, kind: Kind, notice: Option<Notice>) -> Result<HttpResponse> {
    let rows = places(state, viewer, kind).await?;
    let status = Notice::status(&notice);
    let body = render(viewer, kind, &rows, &notice);
    Ok(page_response(status, layout::page(viewer, kind.title(), kind.section(), &[], body)))
}

fn machines_link(kind: Kind, name: &str) -> String {
    let q = format!("{}:{name}", kind.search_key());
    format!("/MAAS/r/machines?q={}", enc(&q))
}

fn render(viewer: &Viewer, kind: Kind, rows: &[Place], n: &Option<Notice>) -> Markup {
    let base = format!("/MAAS/r/{}", kind.section());
    html! {
        h1 { (kind.title()) " " span.count.muted { (rows.len()) } }
        (forms::banner(n))
        section.card {
            table.places {
                thead {
                    tr {
                        th scope="col" { "Name" }
                        th scope="col" { "Description" }
                        th scope="col" .num { "Machines" }
                        @if viewer.is_admin() { th scope="col" { span.visually-hidden { "Actions" } } }
                    }
                }
                tbody {
                    @for p in rows {
                        @let edit = format!("edit:{}", p.key);
                        tr data-name=(p.name) {
                            td { (p.name) }
                            td { (p.description) }
                            td.num { a href=(machines_link(kind, &p.name)) { (p.machines) } }
                            @if viewer.is_admin() {
                                td.row-actions {
                                    details open[forms::is_failed(n, &edit)] {
                                        summary { "Edit" }
                                        form.stacked method="post" action={ (base) "/edit" } {
                                            (csrf(viewer))
                                            input type="hidden" name="key" value=(p.key);
                                            (forms::error_in(n, &edit))
                                            label { "Name" input type="text" name="name" value=(forms::value(n, &edit, "name", &p.name)) required; }
                                            label { "Description" input type="text" name="description" value=(forms::value(n, &edit, "description", &p.description)); }
                                            button.primary type="submit" { "Save" }
                                        }
                                    }
                                    form.inline method="post" action={ (base) "/delete" } {
                                        (csrf(viewer))
                                        input type="hidden" name="key" value=(p.key);
                                        (forms::error_in(n, &format!("delete:{}", p.key)))
                                        button.danger type="submit" aria-label={ "Delete " (p.name) } { "Delete" }
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
                h2 { "Add " (kind.one()) }
                form.stacked method="post" action={ (base) "/create" } {
                    (csrf(viewer))
                    (forms::error_in(n, "create"))
                    label for="new-name" { "Name" }
                    input #new-name type="text" name="name" value=(forms::value(n, "create", "name", "")) required;
                    label for="new-description" { "Description" }
                    input #new-description type="text" name="description" value=(forms::value(n, "create", "description", ""));
                    button.primary type="submit" { "Add " (kind.one()) }
                }
            }
        }
    }
}

/// `POST /MAAS/r/{zones|pools}/{create|edit|delete}`: administrators only.
pub async fn change(
    req: &HttpRequest,
    payload: web::Payload,
    state: &Arc<AppState>,
    viewer: &Viewer,
    kind: Kind,
    what: &str,
) -> Result<HttpResponse> {
    let p = forms::admin_post(req, payload, viewer).await?;
    let text = |k: &str| p.get(k).unwrap_or("").to_string();
    let fields = || vec![("name".to_string(), text("name")), ("description".to_string(), text("description"))];
    let notice = match what {
        "create" => {
            let call = (Method::Post, kind.collection().to_string(), None, fields());
            let done = format!("Added {} {}.", kind.one(), text("name").trim());
            forms::run(state, viewer, call, done, "create", &p).await?
        }
        "edit" => {
            let key = forms::key(&p)?;
            let call = (Method::Put, kind.item(&key), None, fields());
            let done = format!("Saved {} {}.", kind.one(), text("name"));
            forms::run(state, viewer, call, done, &format!("edit:{key}"), &p).await?
        }
        "delete" => {
            let key = forms::key(&p)?;
            if p.get("confirm").is_none() {
                let name = places(state, viewer, kind)
                    .await?
                    .into_iter()
                    .find(|pl| pl.key == key)
                    .map(|pl| pl.name)
                    .ok_or_else(|| Error::NotFound(if kind == Kind::Zone { "Zone" } else { "ResourcePool" }))?;
                let note = match kind {
                    Kind::Zone => "Its machines, devices and controllers move to the default zone.",
                    Kind::Pool => "",
                };
                let what = format!("{} {name}", kind.one());
                let action = format!("/MAAS/r/{}/delete", kind.section());
                let back = format!("/MAAS/r/{}", kind.section());
                let body = forms::confirm_delete(viewer, &what, &action, &key, &back, note);
                return Ok(page_response(
                    StatusCode::OK,
                    layout::page(viewer, kind.title(), kind.section(), &[], body),
                ));
            }
            let call = (Method::Delete, kind.item(&key), None, vec![]);
            forms::run(state, viewer, call, format!("Deleted the {}.", kind.one()), &format!("delete:{key}"), &p)
                .await?
        }
        _ => return Err(Error::NotFoundText(format!("There is no page at /MAAS/r/{}/{what}.", kind.section()))),
    };
    list(state, viewer, kind, Some(notice)).await
}
