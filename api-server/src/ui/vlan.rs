//! `/MAAS/r/vlan/{id}`: one VLAN — its settings, its DHCP (MAAS-managed
//! `dhcp_on`, the primary and secondary rack, the relay VLAN, an external
//! DHCP server seen on it) and its subnets. Administrators edit the VLAN
//! and its DHCP and delete it.
//!
//! Read in one database call of a fixed number of queries: the VLAN, the
//! model, and the rack controllers (the choices for primary and secondary
//! rack). Changes are the API's `vlans/{id}/` actions, so turning DHCP on
//! is refused with the engine's words until the VLAN has a primary rack
//! and a dynamic range.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use crate::db;
use crate::db::network::Vlan;
use crate::db::nodes::NodeFilter;
use crate::engine;
use crate::engine::lifecycle::NodeType;
use crate::error::{Error, Result};
use crate::http::registry::Method;
use crate::http::AppState;
use crate::ui::forms::{self, Notice};
use crate::ui::layout::{self, csrf};
use crate::ui::networks::{self, fields, select, space_choices, subnet_link, vlan_choice, vlan_label, Net};
use crate::ui::respond::html as page_response;
use crate::ui::viewer::Viewer;

/// Everything the page shows.
struct Page {
    net: Net,
    vlan: Vlan,
    /// Rack controllers: (system_id, hostname).
    racks: Vec<(String, String)>,
}

fn parse_id(id: &str) -> Result<i64> {
    id.parse().map_err(|_| Error::NotFound("VLAN"))
}

/// `GET /MAAS/r/vlan/{id}` (and the answer to a change on it).
pub async fn page(state: &Arc<AppState>, viewer: &Viewer, id: &str, notice: Option<Notice>) -> Result<HttpResponse> {
    let id = parse_id(id)?;
    let p = state
        .db
        .run(move |c| {
            let vlan = engine::network::vlan(c, id)?;
            let net = networks::load(c)?;
            let f = NodeFilter {
                node_types: vec![NodeType::RackController, NodeType::RegionAndRackController],
                ..Default::default()
            };
            let racks = db::nodes::list(c, &f)?.into_iter().map(|n| (n.system_id, n.hostname)).collect();
            Ok(Page { net, vlan, racks })
        })
        .await?;
    let status = Notice::status(&notice);
    let title = format!("VLAN {}", vlan_label(&p.vlan));
    Ok(page_response(status, layout::page(viewer, &title, "networks", &[], render(viewer, &p, &notice))))
}

fn render(viewer: &Viewer, p: &Page, n: &Option<Notice>) -> Markup {
    let v = &p.vlan;
    let model = &p.net.model;
    let fabric = model.fabrics.get(&v.fabric_id).map(|f| f.name.as_str()).unwrap_or("");
    let space = model.space_of_vlan(v.id).map(|s| s.name.as_str()).unwrap_or("");
    let rack = |id: Option<i64>| id.and_then(|r| p.net.racks.get(&r)).cloned().unwrap_or_default();
    let rack_name = |sid: &str| {
        p.racks.iter().find(|(s, _)| s == sid).map(|(_, h)| format!("{h} ({sid})")).unwrap_or_else(|| sid.to_string())
    };
    let relay = v.relay_vlan_id.and_then(|r| model.vlans.get(&r));
    let subnets = networks::subnets_of(model, v.id);
    let admin = viewer.is_admin();
    let base = format!("/MAAS/r/vlan/{}", v.id);
    html! {
        p.crumbs { a href="/MAAS/r/networks" { "Networks" } " › " (fabric) " ›" }
        h1 { "VLAN " (vlan_label(v)) " " span.count.muted { "on " (fabric) } }
        (forms::banner(n))
        section.card #summary {
            h2 { "Summary" }
            dl.grid {
                dt { "VID" } dd { (v.vid) }
                dt { "Name" } dd { (v.name.as_deref().unwrap_or("")) }
                dt { "Fabric" } dd { (fabric) }
                dt { "MTU" } dd { (v.mtu) }
                dt { "Space" } dd { @if space.is_empty() { span.muted { "undefined" } } @else { (space) } }
                dt { "Description" } dd { (v.description) }
            }
            @if admin { (edit_form(viewer, p, n, &base)) }
        }
        section.card #dhcp {
            h2 { "DHCP" }
            dl.grid {
                dt { "MAAS-provided DHCP (dhcp_on)" } dd #dhcp-on { (if v.dhcp_on { "On" } else { "Off" }) }
                dt { "Primary rack" } dd { @let r = rack(v.primary_rack_id); @if !r.is_empty() { (rack_name(&r)) } }
                dt { "Secondary rack" } dd { @let r = rack(v.secondary_rack_id); @if !r.is_empty() { (rack_name(&r)) } }
                dt { "Relay VLAN" } dd { @if let Some(r) = relay { a href=(networks::vlan_link(r)) { (vlan_choice(model, r)) } } }
                dt { "External DHCP" } dd { (v.external_dhcp.as_deref().unwrap_or("")) }
            }
            @if admin { (dhcp_form(viewer, p, n, &base)) }
        }
        section.card #subnets {
            h2 { "Subnets " span.count.muted { (subnets.len()) } }
            @if subnets.is_empty() {
                p.empty-state { "No subnets on this VLAN." }
            } @else {
                table.subnets {
                    thead { tr { th scope="col" { "Subnet" } th scope="col" { "Name" } th scope="col" { "Gateway IP" } } }
                    tbody {
                        @for s in subnets {
                            tr data-subnet=(s.cidr) {
                                td { a href=(subnet_link(s)) { (s.cidr) } }
                                td { (s.name) }
                                td { (s.gateway_ip.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        }
        @if admin {
            section.card #delete {
                form.inline method="post" action={ (base) "/delete" } {
                    (csrf(viewer))
                    (forms::error_in(n, "delete"))
                    button.danger type="submit" { "Delete VLAN" }
                }
            }
        }
    }
}

fn edit_form(viewer: &Viewer, p: &Page, n: &Option<Notice>, base: &str) -> Markup {
    let v = &p.vlan;
    let val = |field: &str, cur: &str| forms::value(n, "edit", field, cur);
    let space = p.net.model.space_of_vlan(v.id).map(|s| s.name.clone()).unwrap_or_default();
    html! {
        details #edit open[forms::is_failed(n, "edit")] {
            summary { "Edit VLAN" }
            form.stacked method="post" action={ (base) "/edit" } {
                (csrf(viewer))
                (forms::error_in(n, "edit"))
                label { "VID (0–4094)" input type="text" name="vid" inputmode="numeric" value=(val("vid", &v.vid.to_string())) required; }
                label { "Name" input type="text" name="name" value=(val("name", v.name.as_deref().unwrap_or(""))); }
                label { "MTU" input type="text" name="mtu" inputmode="numeric" value=(val("mtu", &v.mtu.to_string())); }
                label { "Space" (select("space", &space_choices(&p.net.model), &val("space", &space))) }
                label { "Description" input type="text" name="description" value=(val("description", &v.description)); }
                button.primary type="submit" { "Save" }
            }
        }
    }
}

fn dhcp_form(viewer: &Viewer, p: &Page, n: &Option<Notice>, base: &str) -> Markup {
    let v = &p.vlan;
    let model = &p.net.model;
    let val = |field: &str, cur: &str| forms::value(n, "dhcp", field, cur);
    let on = match n {
        Some(Notice::Failed { form, values, .. }) if form == "dhcp" => values.get("dhcp_on").is_some(),
        _ => v.dhcp_on,
    };
    let mut racks = vec![(String::new(), "(none)".to_string())];
    racks.extend(p.racks.iter().map(|(sid, host)| (sid.clone(), format!("{host} ({sid})"))));
    let mut relays = vec![(String::new(), "(no relay)".to_string())];
    relays.extend(networks::vlan_choices(model).into_iter().filter(|(id, _)| *id != v.id.to_string()));
    let cur = |id: Option<i64>| id.and_then(|r| p.net.racks.get(&r)).cloned().unwrap_or_default();
    html! {
        details #configure-dhcp open[forms::is_failed(n, "dhcp")] {
            summary { "Configure DHCP" }
            form.stacked method="post" action={ (base) "/dhcp" } {
                (csrf(viewer))
                (forms::error_in(n, "dhcp"))
                label.check { input type="checkbox" name="dhcp_on" value="true" checked[on]; " MAAS provides DHCP" }
                label { "Primary rack" (select("primary_rack", &racks, &val("primary_rack", &cur(v.primary_rack_id)))) }
                label { "Secondary rack" (select("secondary_rack", &racks, &val("secondary_rack", &cur(v.secondary_rack_id)))) }
                label { "Relay to VLAN" (select("relay_vlan", &relays, &val("relay_vlan", &v.relay_vlan_id.map(|r| r.to_string()).unwrap_or_default()))) }
                button.primary type="submit" { "Save DHCP" }
            }
        }
    }
}

/// `POST /MAAS/r/vlan/{id}/{edit|dhcp|delete}`: administrators only.
pub async fn change(
    req: &HttpRequest,
    payload: web::Payload,
    state: &Arc<AppState>,
    viewer: &Viewer,
    id: &str,
    what: &str,
) -> Result<HttpResponse> {
    let p = forms::admin_post(req, payload, viewer).await?;
    let vid = parse_id(id)?;
    let rel = format!("vlans/{vid}/");
    let notice = match what {
        "edit" => {
            let call = (Method::Put, rel, None, fields(&p, &["vid", "name", "mtu", "space", "description"]));
            forms::run(state, viewer, call, "Saved the VLAN.".into(), "edit", &p).await?
        }
        "dhcp" => {
            let mut params = fields(&p, &["primary_rack", "secondary_rack", "relay_vlan"]);
            // An unticked box is absent from the form: DHCP off.
            params.push(("dhcp_on".into(), if p.get("dhcp_on").is_some() { "true" } else { "false" }.into()));
            let call = (Method::Put, rel, None, params);
            forms::run(state, viewer, call, "Saved the VLAN's DHCP.".into(), "dhcp", &p).await?
        }
        "delete" => {
            if p.get("confirm").is_none() {
                let v = state.db.run(move |c| engine::network::vlan(c, vid)).await?;
                let body = forms::confirm_delete(
                    viewer,
                    &format!("VLAN {}", vlan_label(&v)),
                    &format!("/MAAS/r/vlan/{vid}/delete"),
                    &vid.to_string(),
                    &format!("/MAAS/r/vlan/{vid}"),
                    "A VLAN with subnets or connected interfaces cannot be deleted.",
                );
                return Ok(page_response(StatusCode::OK, layout::page(viewer, "Networks", "networks", &[], body)));
            }
            let call = (Method::Delete, rel, None, vec![]);
            match forms::run(state, viewer, call, "Deleted the VLAN.".into(), "delete", &p).await? {
                done @ Notice::Done(_) => return networks::list(state, viewer, Some(done)).await,
                refused => refused,
            }
        }
        _ => return Err(Error::NotFoundText(format!("There is no page at /MAAS/r/vlan/{id}/{what}."))),
    };
    page(state, viewer, id, Some(notice)).await
}
