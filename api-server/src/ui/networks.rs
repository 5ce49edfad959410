//! `/MAAS/r/networks`: the network model as MAAS's "Subnets" page shows it,
//! fabric by fabric, each VLAN with its DHCP state and its subnets, then
//! the spaces. Administrators add fabrics, VLANs, subnets and spaces, and
//! edit and delete fabrics and spaces here; a VLAN and a subnet are edited
//! on their own pages ([`crate::ui::vlan`], [`crate::ui::subnet`]).
//!
//! The page reads the whole model in a fixed number of queries
//! (`db::network::load_model`: spaces, fabrics, VLANs, subnets; and
//! `rack_names` for the racks the VLANs name), the same loads the API's
//! `fabrics/`, `subnets/` and `spaces/` lists render from. Changes are the
//! API's actions, so the engine's rules and words apply (the default fabric
//! cannot be deleted, nor a fabric or space still in use; a CIDR is checked
//! and overlapping subnets are refused).

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use crate::api::views::enc;
use crate::db;
use crate::db::network::{Model, Subnet, Vlan};
use crate::error::{Error, Result};
use crate::http::params::Params;
use crate::http::registry::Method;
use crate::http::AppState;
use crate::ui::forms::{self, Notice};
use crate::ui::layout::{self, csrf};
use crate::ui::respond::html as page_response;
use crate::ui::viewer::Viewer;

/// The network model and the system_ids of the racks its VLANs name.
pub struct Net {
    pub model: Model,
    pub racks: HashMap<i64, String>,
}

/// Reads the model: four queries, five when a VLAN names a rack.
pub fn load(c: &mut db::DbConn) -> Result<Net> {
    let model = db::network::load_model(c)?;
    let racks = db::network::rack_names(c, &model)?;
    Ok(Net { model, racks })
}

/// A VLAN as MAAS names it in lists: its VID, and its name when it has one.
pub fn vlan_label(v: &Vlan) -> String {
    match v.name.as_deref() {
        Some(n) if !n.is_empty() => format!("{} ({n})", v.vid),
        _ => v.vid.to_string(),
    }
}

/// A VLAN with its fabric, for choosing one among all of them.
pub fn vlan_choice(model: &Model, v: &Vlan) -> String {
    let fabric = model.fabrics.get(&v.fabric_id).map(|f| f.name.as_str()).unwrap_or("");
    format!("{fabric} · {}", vlan_label(v))
}

/// Every VLAN, fabric by fabric, as `(id, label)` choices.
pub fn vlan_choices(model: &Model) -> Vec<(String, String)> {
    let mut fabrics: Vec<_> = model.fabrics.values().collect();
    fabrics.sort_by_key(|f| f.id);
    fabrics
        .into_iter()
        .flat_map(|f| model.vlans_of_fabric(f.id))
        .map(|v| (v.id.to_string(), vlan_choice(model, v)))
        .collect()
}

/// The spaces as `(name, name)` choices, "no space" first.
pub fn space_choices(model: &Model) -> Vec<(String, String)> {
    let mut spaces: Vec<_> = model.spaces.values().collect();
    spaces.sort_by_key(|s| s.id);
    let mut out = vec![(String::new(), "(no space)".to_string())];
    out.extend(spaces.into_iter().map(|s| (s.name.clone(), s.name.clone())));
    out
}

/// A `<select>` of `choices` with `selected` chosen.
pub fn select(name: &str, choices: &[(String, String)], selected: &str) -> Markup {
    html! {
        select name=(name) {
            @for (value, label) in choices {
                option value=(value) selected[value == selected] { (label) }
            }
        }
    }
}

/// A subnet's VLAN's DHCP as the lists say it.
pub fn dhcp_label(model: &Model, v: &Vlan) -> String {
    if v.dhcp_on {
        "MAAS-provided".into()
    } else if let Some(r) = v.relay_vlan_id.and_then(|r| model.vlans.get(&r)) {
        format!("Relayed via {}", vlan_choice(model, r))
    } else if let Some(e) = v.external_dhcp.as_deref() {
        format!("External ({e})")
    } else {
        "No DHCP".into()
    }
}

/// The subnets of a VLAN, by CIDR order of creation.
pub fn subnets_of(model: &Model, vlan_id: i64) -> Vec<&Subnet> {
    model.subnets_sorted().into_iter().filter(|s| s.vlan_id == vlan_id).collect()
}

/// The VLANs in a space, by id.
fn vlans_in_space(model: &Model, space_id: i64) -> Vec<&Vlan> {
    let mut vlans: Vec<&Vlan> = model.vlans.values().filter(|v| v.space_id == Some(space_id)).collect();
    vlans.sort_by_key(|v| v.id);
    vlans
}

pub fn subnet_link(s: &Subnet) -> String {
    format!("/MAAS/r/subnet/{}", s.id)
}

pub fn vlan_link(v: &Vlan) -> String {
    format!("/MAAS/r/vlan/{}", v.id)
}

/// `GET /MAAS/r/networks` (and the answer to a change).
pub async fn list(state: &Arc<AppState>, viewer: &Viewer, notice: Option<Notice>) -> Result<HttpResponse> {
    let net = state.db.run(load).await?;
    let status = Notice::status(&notice);
    Ok(page_response(status, layout::page(viewer, "Networks", "networks", &[], render(viewer, &net, &notice))))
}

fn render(viewer: &Viewer, net: &Net, n: &Option<Notice>) -> Markup {
    let model = &net.model;
    let mut fabrics: Vec<_> = model.fabrics.values().collect();
    fabrics.sort_by_key(|f| f.id);
    let mut spaces: Vec<_> = model.spaces.values().collect();
    spaces.sort_by_key(|s| s.id);
    let admin = viewer.is_admin();
    html! {
        h1 { "Networks" }
        (forms::banner(n))
        section.card #fabrics {
            h2 { "Fabrics, VLANs and subnets" }
            table.networks {
                thead {
                    tr {
                        th scope="col" { "VLAN" }
                        th scope="col" { "DHCP" }
                        th scope="col" { "Subnet" }
                        th scope="col" { "Space" }
                        @if admin { th scope="col" { span.visually-hidden { "Actions" } } }
                    }
                }
                @for f in &fabrics {
                    @let edit = format!("fabric-edit:{}", f.id);
                    tbody data-fabric=(f.name) {
                        tr.group data-name=(f.name) {
                            th colspan="4" scope="rowgroup" {
                                "Fabric " (f.name)
                                @if !f.description.is_empty() { " " span.sub { (f.description) } }
                            }
                            @if admin {
                                td.row-actions {
                                    details open[forms::is_failed(n, &edit)] {
                                        summary { "Edit" }
                                        form.stacked method="post" action="/MAAS/r/networks/fabric/edit" {
                                            (csrf(viewer))
                                            input type="hidden" name="key" value=(f.id);
                                            (forms::error_in(n, &edit))
                                            label { "Name" input type="text" name="name" value=(forms::value(n, &edit, "name", &f.name)) required; }
                                            label { "Description" input type="text" name="description" value=(forms::value(n, &edit, "description", &f.description)); }
                                            button.primary type="submit" { "Save" }
                                        }
                                    }
                                    form.inline method="post" action="/MAAS/r/networks/fabric/delete" {
                                        (csrf(viewer))
                                        input type="hidden" name="key" value=(f.id);
                                        (forms::error_in(n, &format!("fabric-delete:{}", f.id)))
                                        button.danger type="submit" aria-label={ "Delete fabric " (f.name) } { "Delete" }
                                    }
                                }
                            }
                        }
                        @for v in model.vlans_of_fabric(f.id) {
                            @let subnets = subnets_of(model, v.id);
                            @let space = model.space_of_vlan(v.id).map(|s| s.name.as_str()).unwrap_or("");
                            @if subnets.is_empty() {
                                tr data-vlan=(v.id) {
                                    td { a href=(vlan_link(v)) { (vlan_label(v)) } }
                                    td { (dhcp_label(model, v)) }
                                    td { span.muted { "no subnets" } }
                                    td { (space) }
                                    @if admin { td {} }
                                }
                            }
                            @for s in subnets {
                                tr data-vlan=(v.id) data-subnet=(s.cidr) {
                                    td { a href=(vlan_link(v)) { (vlan_label(v)) } }
                                    td { (dhcp_label(model, v)) }
                                    td {
                                        a href=(subnet_link(s)) { (s.cidr) }
                                        @if s.name != s.cidr { " " span.sub { (s.name) } }
                                    }
                                    td { (space) }
                                    @if admin { td {} }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.card #spaces {
            h2 { "Spaces " span.count.muted { (spaces.len()) } }
            @if spaces.is_empty() {
                p.empty-state { "No spaces yet." }
            } @else {
                table.spaces {
                    thead {
                        tr {
                            th scope="col" { "Name" }
                            th scope="col" { "Description" }
                            th scope="col" { "VLANs" }
                            @if admin { th scope="col" { span.visually-hidden { "Actions" } } }
                        }
                    }
                    tbody {
                        @for sp in &spaces {
                            @let edit = format!("space-edit:{}", sp.id);
                            @let vlans = vlans_in_space(model, sp.id);
                            tr data-name=(sp.name) {
                                td { (sp.name) }
                                td { (sp.description) }
                                td {
                                    @for (i, v) in vlans.iter().enumerate() {
                                        @if i > 0 { ", " }
                                        a href=(vlan_link(v)) { (vlan_choice(model, v)) }
                                    }
                                }
                                @if admin {
                                    td.row-actions {
                                        details open[forms::is_failed(n, &edit)] {
                                            summary { "Edit" }
                                            form.stacked method="post" action="/MAAS/r/networks/space/edit" {
                                                (csrf(viewer))
                                                input type="hidden" name="key" value=(sp.id);
                                                (forms::error_in(n, &edit))
                                                label { "Name" input type="text" name="name" value=(forms::value(n, &edit, "name", &sp.name)) required; }
                                                label { "Description" input type="text" name="description" value=(forms::value(n, &edit, "description", &sp.description)); }
                                                button.primary type="submit" { "Save" }
                                            }
                                        }
                                        form.inline method="post" action="/MAAS/r/networks/space/delete" {
                                            (csrf(viewer))
                                            input type="hidden" name="key" value=(sp.id);
                                            (forms::error_in(n, &format!("space-delete:{}", sp.id)))
                                            button.danger type="submit" aria-label={ "Delete space " (sp.name) } { "Delete" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if admin { (create_forms(viewer, net, n)) }
    }
}

/// The administrators' "Add …" forms.
fn create_forms(viewer: &Viewer, net: &Net, n: &Option<Notice>) -> Markup {
    let model = &net.model;
    let mut fabrics: Vec<_> = model.fabrics.values().collect();
    fabrics.sort_by_key(|f| f.id);
    let fabric_choices: Vec<(String, String)> = fabrics.iter().map(|f| (f.id.to_string(), f.name.clone())).collect();
    let mut vlans = vec![(String::new(), "(the default VLAN)".to_string())];
    vlans.extend(vlan_choices(model));
    let v = |id: &str, field: &str| forms::value(n, id, field, "");
    html! {
        div.create-grid {
            section.card #create-subnet {
                h2 { "Add subnet" }
                form.stacked method="post" action="/MAAS/r/networks/subnet/create" {
                    (csrf(viewer))
                    (forms::error_in(n, "subnet-create"))
                    label { "CIDR" input type="text" name="cidr" placeholder="10.0.0.0/24" value=(v("subnet-create", "cidr")) required; }
                    label { "Name (default: the CIDR)" input type="text" name="name" value=(v("subnet-create", "name")); }
                    label { "VLAN" (select("vlan", &vlans, &v("subnet-create", "vlan"))) }
                    label { "Gateway IP" input type="text" name="gateway_ip" value=(v("subnet-create", "gateway_ip")); }
                    label { "DNS servers" input type="text" name="dns_servers" value=(v("subnet-create", "dns_servers")); }
                    label { "Description" input type="text" name="description" value=(v("subnet-create", "description")); }
                    button.primary type="submit" { "Add subnet" }
                }
            }
            section.card #create-vlan {
                h2 { "Add VLAN" }
                form.stacked method="post" action="/MAAS/r/networks/vlan/create" {
                    (csrf(viewer))
                    (forms::error_in(n, "vlan-create"))
                    label { "Fabric" (select("fabric", &fabric_choices, &v("vlan-create", "fabric"))) }
                    label { "VID (0–4094)" input type="text" name="vid" inputmode="numeric" value=(v("vlan-create", "vid")) required; }
                    label { "Name" input type="text" name="name" value=(v("vlan-create", "name")); }
                    label { "MTU (default 1500)" input type="text" name="mtu" inputmode="numeric" value=(v("vlan-create", "mtu")); }
                    label { "Description" input type="text" name="description" value=(v("vlan-create", "description")); }
                    button.primary type="submit" { "Add VLAN" }
                }
            }
            section.card #create-fabric {
                h2 { "Add fabric" }
                form.stacked method="post" action="/MAAS/r/networks/fabric/create" {
                    (csrf(viewer))
                    (forms::error_in(n, "fabric-create"))
                    label { "Name (default: fabric-<id>)" input type="text" name="name" value=(v("fabric-create", "name")); }
                    label { "Description" input type="text" name="description" value=(v("fabric-create", "description")); }
                    button.primary type="submit" { "Add fabric" }
                }
            }
            section.card #create-space {
                h2 { "Add space" }
                form.stacked method="post" action="/MAAS/r/networks/space/create" {
                    (csrf(viewer))
                    (forms::error_in(n, "space-create"))
                    label { "Name" input type="text" name="name" value=(v("space-create", "name")) required; }
                    label { "Description" input type="text" name="description" value=(v("space-create", "description")); }
                    button.primary type="submit" { "Add space" }
                }
            }
        }
    }
}

/// The fields `keys` of a form, as typed (the API decides what blank means).
pub fn fields(p: &Params, keys: &[&str]) -> Vec<(String, String)> {
    keys.iter().filter_map(|k| p.get(k).map(|v| (k.to_string(), v.to_string()))).collect()
}

/// The `key` of an edit or delete form, which must be an id.
pub fn id_key(p: &Params) -> Result<String> {
    let key = forms::key(p)?;
    if key.chars().all(|c| c.is_ascii_digit()) {
        Ok(key)
    } else {
        Err(Error::field("key", "Choose what to change."))
    }
}

/// `POST /MAAS/r/networks/{fabric|vlan|subnet|space}/{create|edit|delete}`:
/// administrators only.
pub async fn change(
    req: &HttpRequest,
    payload: web::Payload,
    state: &Arc<AppState>,
    viewer: &Viewer,
    kind: &str,
    what: &str,
) -> Result<HttpResponse> {
    let p = forms::admin_post(req, payload, viewer).await?;
    let name = p.get("name").unwrap_or("").trim().to_string();
    let named = |one: &str| if name.is_empty() { format!("Added a {one}.") } else { format!("Added {one} {name}.") };
    let notice = match (kind, what) {
        ("subnet", "create") => {
            let params = fields(&p, &["cidr", "name", "vlan", "gateway_ip", "dns_servers", "description"]);
            let cidr = p.get("cidr").unwrap_or("").trim().to_string();
            let call = (Method::Post, "subnets/".to_string(), None, params);
            forms::run(state, viewer, call, format!("Added subnet {cidr}."), "subnet-create", &p).await?
        }
        ("vlan", "create") => {
            let fabric = p.get_nonempty("fabric").ok_or_else(|| Error::field("fabric", "Choose a fabric."))?;
            let rel = format!("fabrics/{}/vlans/", enc(fabric));
            let params = fields(&p, &["vid", "name", "mtu", "description"]);
            let vid = p.get("vid").unwrap_or("").trim().to_string();
            let call = (Method::Post, rel, None, params);
            forms::run(state, viewer, call, format!("Added VLAN {vid}."), "vlan-create", &p).await?
        }
        ("fabric" | "space", "create") => {
            let call = (Method::Post, format!("{kind}s/"), None, fields(&p, &["name", "description"]));
            forms::run(state, viewer, call, named(kind), &format!("{kind}-create"), &p).await?
        }
        ("fabric" | "space", "edit") => {
            let key = id_key(&p)?;
            let call = (Method::Put, format!("{kind}s/{key}/"), None, fields(&p, &["name", "description"]));
            forms::run(state, viewer, call, format!("Saved {kind} {name}."), &format!("{kind}-edit:{key}"), &p).await?
        }
        ("fabric" | "space", "delete") => {
            let key = id_key(&p)?;
            if p.get("confirm").is_none() {
                let net = state.db.run(load).await?;
                let id: i64 = key.parse().map_err(|_| Error::NotFound("Fabric"))?;
                let (label, note) = if kind == "fabric" {
                    let f = net.model.fabrics.get(&id).ok_or(Error::NotFound("Fabric"))?;
                    (f.name.clone(), "Its VLANs are deleted with it; a fabric with subnets or connected interfaces cannot be deleted.")
                } else {
                    let s = net.model.spaces.get(&id).ok_or(Error::NotFound("Space"))?;
                    (s.name.clone(), "Its VLANs are left without a space.")
                };
                let action = format!("/MAAS/r/networks/{kind}/delete");
                let body =
                    forms::confirm_delete(viewer, &format!("{kind} {label}"), &action, &key, "/MAAS/r/networks", note);
                return Ok(page_response(StatusCode::OK, layout::page(viewer, "Networks", "networks", &[], body)));
            }
            let call = (Method::Delete, format!("{kind}s/{key}/"), None, vec![]);
            forms::run(state, viewer, call, format!("Deleted the {kind}."), &format!("{kind}-delete:{key}"), &p).await?
        }
        _ => return Err(Error::NotFoundText(format!("There is no page at /MAAS/r/networks/{kind}/{what}."))),
    };
    list(state, viewer, Some(notice)).await
}
