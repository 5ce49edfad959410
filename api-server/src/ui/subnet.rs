//! `/MAAS/r/subnet/{id}`: one subnet — its settings, utilisation, IP ranges
//! (reserved and dynamic), the addresses in use and the static routes
//! from it. Administrators edit and delete the subnet and add, edit and
//! delete its ranges and routes.
//!
//! The page is read in one database call of a fixed number of queries,
//! whatever the number of ranges, addresses or routes: the model, the
//! subnet's ranges, its unavailable spans (the same `engine::network::
//! unavailable` the API's `statistics` op counts from, so the numbers
//! agree), its addresses with their interfaces and nodes loaded by id in
//! one query each, the users, and the routes. (The API's `ip_addresses` op
//! reads an address's interface and node one at a time, so the page does
//! not call it.) Changes are the API's `subnets/`, `ipranges/` and
//! `static-routes/` actions.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde_json::Value;

use crate::api::views::network::{alloc_type, subnet_statistics_json};
use crate::db;
use crate::db::network::{IpRange, StaticRoute, Subnet};
use crate::engine;
use crate::engine::lifecycle::NodeType;
use crate::error::{Error, Result};
use crate::http::registry::Method;
use crate::http::AppState;
use crate::ui::forms::{self, Notice};
use crate::ui::layout::{self, csrf};
use crate::ui::networks::{self, fields, id_key, select, vlan_choice, vlan_choices, vlan_link, Net};
use crate::ui::respond::html as page_response;
use crate::ui::viewer::Viewer;

/// An address in use in the subnet.
struct Used {
    ip: String,
    /// MAAS's allocation type name (`Static`, `Automatic`, `User reserved`…).
    kind: &'static str,
    user: String,
    hostname: String,
    mac: String,
    /// The node holding it: (system_id, hostname, is a machine), and the interface.
    node: Option<(String, String, bool)>,
    via: String,
}

/// Everything the page shows.
struct Page {
    net: Net,
    subnet: Subnet,
    stats: Value,
    ranges: Vec<IpRange>,
    used: Vec<Used>,
    routes: Vec<StaticRoute>,
    users: HashMap<i64, String>,
}

fn sort_key(ip: &str) -> u128 {
    ip.parse::<IpAddr>().map(engine::ipam::to_u128).unwrap_or(0)
}

fn read(c: &mut db::DbConn, key: &str) -> Result<Page> {
    let subnet = engine::network::subnet(c, key)?;
    let net = networks::load(c)?;
    let mut ranges = db::network::ranges(c, Some(subnet.id))?;
    ranges.sort_by_key(|r| sort_key(&r.start_ip));
    let spans = engine::network::unavailable(c, &subnet)?;
    let stats = subnet_statistics_json(&subnet, &spans, false, false);
    let addrs: Vec<_> =
        db::network::addresses_in_subnet(c, subnet.id)?.into_iter().filter(|a| a.ip.is_some()).collect();
    let mut iface_ids: Vec<i64> = addrs.iter().filter_map(|a| a.interface_id).collect();
    iface_ids.sort_unstable();
    iface_ids.dedup();
    let ifaces: HashMap<i64, db::interfaces::Interface> =
        db::network::interfaces_by_ids(c, &iface_ids)?.into_iter().map(|i| (i.id, i)).collect();
    let mut node_ids: Vec<i64> = ifaces.values().map(|i| i.node_id).collect();
    node_ids.sort_unstable();
    node_ids.dedup();
    let nodes: HashMap<i64, db::nodes::Node> =
        db::nodes::by_ids(c, &node_ids)?.into_iter().map(|n| (n.id, n)).collect();
    let users: HashMap<i64, String> = db::users::list(c)?.into_iter().map(|u| (u.id, u.username)).collect();
    let mut used: Vec<Used> = addrs
        .into_iter()
        .map(|a| {
            let iface = a.interface_id.and_then(|i| ifaces.get(&i));
            let node = iface.and_then(|i| nodes.get(&i.node_id));
            Used {
                ip: a.ip.clone().unwrap_or_default(),
                kind: alloc_type(&a.mode).1,
                user: a.user_id.and_then(|u| users.get(&u)).cloned().unwrap_or_default(),
                hostname: a.hostname.clone(),
                mac: a.mac_address.clone().or_else(|| iface.and_then(|i| i.mac_address.clone())).unwrap_or_default(),
                node: node.map(|n| (n.system_id.clone(), n.hostname.clone(), n.node_type == NodeType::Machine)),
                via: iface.map(|i| i.name.clone()).unwrap_or_default(),
            }
        })
        .collect();
    used.sort_by_key(|u| sort_key(&u.ip));
    let routes = db::network::routes(c)?.into_iter().filter(|r| r.source_id == subnet.id).collect();
    Ok(Page { net, subnet, stats, ranges, used, routes, users })
}

/// `GET /MAAS/r/subnet/{id}` (and the answer to a change on it).
pub async fn page(state: &Arc<AppState>, viewer: &Viewer, id: &str, notice: Option<Notice>) -> Result<HttpResponse> {
    if !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(Error::NotFound("Subnet"));
    }
    let key = id.to_string();
    let p = state.db.run(move |c| read(c, &key)).await?;
    let status = Notice::status(&notice);
    let title = format!("Subnet {}", p.subnet.cidr);
    Ok(page_response(status, layout::page(viewer, &title, "networks", &[], render(viewer, &p, &notice))))
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "Yes"
    } else {
        "No"
    }
}

fn num(v: &Value, k: &str) -> String {
    v.get(k).map(|x| x.to_string().trim_matches('"').to_string()).unwrap_or_default()
}

fn render(viewer: &Viewer, p: &Page, n: &Option<Notice>) -> Markup {
    let s = &p.subnet;
    let model = &p.net.model;
    let vlan = model.vlans.get(&s.vlan_id);
    let fabric = vlan.and_then(|v| model.fabrics.get(&v.fabric_id));
    let space = model.space_of_vlan(s.vlan_id).map(|sp| sp.name.as_str()).unwrap_or("");
    let admin = viewer.is_admin();
    let base = format!("/MAAS/r/subnet/{}", s.id);
    let usage = p.stats.get("usage").and_then(Value::as_f64).unwrap_or(0.0);
    let rdns = match s.rdns_mode {
        0 => "Disabled",
        1 => "Enabled",
        _ => "RFC 2317",
    };
    html! {
        p.crumbs {
            a href="/MAAS/r/networks" { "Networks" } " › "
            @if let (Some(f), Some(v)) = (fabric, vlan) {
                (f.name) " › " a href=(vlan_link(v)) { "VLAN " (networks::vlan_label(v)) } " ›"
            }
        }
        h1 { "Subnet " (s.cidr) @if s.name != s.cidr { " " span.count.muted { (s.name) } } }
        (forms::banner(n))
        section.card #summary {
            h2 { "Summary" }
            dl.grid {
                dt { "CIDR" } dd { (s.cidr) }
                dt { "Name" } dd { (s.name) }
                dt { "Description" } dd { (s.description) }
                dt { "VLAN" } dd { @if let Some(v) = vlan { a href=(vlan_link(v)) { (vlan_choice(model, v)) } } }
                dt { "Fabric" } dd { @if let Some(f) = fabric { (f.name) } }
                dt { "Space" } dd { @if space.is_empty() { span.muted { "undefined" } } @else { (space) } }
                dt { "Gateway IP" } dd { (s.gateway_ip.as_deref().unwrap_or("")) }
                dt { "DNS servers" } dd { (s.dns_servers) }
                dt { "Managed allocation" } dd { (yes_no(s.managed)) }
                dt { "Allow DNS resolution" } dd { (yes_no(s.allow_dns)) }
                dt { "Proxy access" } dd { (yes_no(s.allow_proxy)) }
                dt { "Active discovery" } dd { (yes_no(s.active_discovery)) }
                dt { "Reverse DNS" } dd { (rdns) }
            }
            @if admin { (edit_form(viewer, p, n, &base)) }
        }
        section.card #utilisation {
            h2 { "Utilisation" }
            p {
                meter min="0" max="1" value=(format!("{usage:.4}")) { (num(&p.stats, "usage_string")) }
                " " strong { (num(&p.stats, "usage_string")) } " used"
            }
            dl.grid {
                dt { "Addresses" } dd.num-left { (num(&p.stats, "total_addresses")) }
                dt { "Available" } dd #available { (num(&p.stats, "num_available")) " (" (num(&p.stats, "available_string")) ")" }
                dt { "Unavailable" } dd { (num(&p.stats, "num_unavailable")) }
                dt { "Largest free block" } dd { (num(&p.stats, "largest_available")) }
                dt { "Usable range" } dd { (num(&p.stats, "first_address")) " – " (num(&p.stats, "last_address")) }
            }
        }
        section.card #ranges {
            h2 { "Reserved and dynamic ranges " span.count.muted { (p.ranges.len()) } }
            @if p.ranges.is_empty() {
                p.empty-state { "No IP ranges." }
            } @else {
                table.ranges {
                    thead { tr {
                        th scope="col" { "Type" } th scope="col" { "Start" } th scope="col" { "End" }
                        th scope="col" .num { "Size" } th scope="col" { "Owner" } th scope="col" { "Comment" }
                        @if admin { th scope="col" { span.visually-hidden { "Actions" } } }
                    } }
                    tbody {
                        @for r in &p.ranges {
                            @let edit = format!("range-edit:{}", r.id);
                            tr data-range=(format!("{}-{}", r.start_ip, r.end_ip)) {
                                td { span.tag { (r.range_type) } }
                                td { (r.start_ip) }
                                td { (r.end_ip) }
                                td.num { (sort_key(&r.end_ip).saturating_sub(sort_key(&r.start_ip)) + 1) }
                                td { (r.user_id.and_then(|u| p.users.get(&u)).map(String::as_str).unwrap_or("")) }
                                td { (r.comment) }
                                @if admin {
                                    td.row-actions {
                                        details open[forms::is_failed(n, &edit)] {
                                            summary { "Edit" }
                                            form.stacked method="post" action={ (base) "/range-edit" } {
                                                (csrf(viewer))
                                                input type="hidden" name="key" value=(r.id);
                                                (forms::error_in(n, &edit))
                                                (range_fields(n, &edit, Some(r)))
                                                button.primary type="submit" { "Save" }
                                            }
                                        }
                                        form.inline method="post" action={ (base) "/range-delete" } {
                                            (csrf(viewer))
                                            input type="hidden" name="key" value=(r.id);
                                            (forms::error_in(n, &format!("range-delete:{}", r.id)))
                                            button.danger type="submit" aria-label={ "Delete range " (r.start_ip) } { "Delete" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if admin {
                details #add-range open[forms::is_failed(n, "range-create")] {
                    summary { "Reserve a range" }
                    form.stacked method="post" action={ (base) "/range-create" } {
                        (csrf(viewer))
                        (forms::error_in(n, "range-create"))
                        (range_fields(n, "range-create", None))
                        button.primary type="submit" { "Reserve range" }
                    }
                }
            }
        }
        section.card #addresses {
            h2 { "Used IP addresses " span.count.muted { (p.used.len()) } }
            @if p.used.is_empty() {
                p.empty-state { "No addresses in use." }
            } @else {
                table.addresses {
                    thead { tr {
                        th scope="col" { "IP address" } th scope="col" { "Type" } th scope="col" { "Node" }
                        th scope="col" { "Interface" } th scope="col" { "MAC" } th scope="col" { "User" }
                    } }
                    tbody {
                        @for u in &p.used {
                            tr data-ip=(u.ip) {
                                td { (u.ip) }
                                td { (u.kind) }
                                td {
                                    @match &u.node {
                                        Some((sid, host, true)) => { a href={ "/MAAS/r/machine/" (sid) } { (host) } }
                                        Some((_, host, false)) => { (host) }
                                        None => { (u.hostname) }
                                    }
                                }
                                td { (u.via) }
                                td { (u.mac) }
                                td { (u.user) }
                            }
                        }
                    }
                }
            }
        }
        section.card #routes {
            h2 { "Static routes " span.count.muted { (p.routes.len()) } }
            @if p.routes.is_empty() {
                p.empty-state { "No static routes from this subnet." }
            } @else {
                table.routes {
                    thead { tr {
                        th scope="col" { "Destination" } th scope="col" { "Gateway IP" } th scope="col" .num { "Metric" }
                        @if admin { th scope="col" { span.visually-hidden { "Actions" } } }
                    } }
                    tbody {
                        @for r in &p.routes {
                            @let dest = model.subnets.get(&r.destination_id);
                            tr data-route=(r.id) {
                                td { @if let Some(d) = dest { a href=(networks::subnet_link(d)) { (d.cidr) } } }
                                td { (r.gateway_ip) }
                                td.num { (r.metric) }
                                @if admin {
                                    td.row-actions {
                                        form.inline method="post" action={ (base) "/route-delete" } {
                                            (csrf(viewer))
                                            input type="hidden" name="key" value=(r.id);
                                            (forms::error_in(n, &format!("route-delete:{}", r.id)))
                                            button.danger type="submit" aria-label={ "Delete route " (r.id) } { "Delete" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if admin {
                @let dests: Vec<(String, String)> = model.subnets_sorted().into_iter()
                    .filter(|d| d.id != s.id)
                    .map(|d| (d.id.to_string(), d.cidr.clone())).collect();
                details #add-route open[forms::is_failed(n, "route-create")] {
                    summary { "Add a static route" }
                    form.stacked method="post" action={ (base) "/route-create" } {
                        (csrf(viewer))
                        (forms::error_in(n, "route-create"))
                        label { "Destination" (select("destination", &dests, &forms::value(n, "route-create", "destination", ""))) }
                        label { "Gateway IP (in this subnet)" input type="text" name="gateway_ip" value=(forms::value(n, "route-create", "gateway_ip", "")) required; }
                        label { "Metric" input type="text" name="metric" inputmode="numeric" value=(forms::value(n, "route-create", "metric", "0")); }
                        button.primary type="submit" { "Add route" }
                    }
                }
            }
        }
        @if admin {
            section.card #delete {
                form.inline method="post" action={ (base) "/delete" } {
                    (csrf(viewer))
                    (forms::error_in(n, "delete"))
                    button.danger type="submit" { "Delete subnet" }
                }
            }
        }
    }
}

/// The fields of a range's form, from `r` or from what was typed.
fn range_fields(n: &Option<Notice>, id: &str, r: Option<&IpRange>) -> Markup {
    let cur = |f: fn(&IpRange) -> &str| r.map(f).unwrap_or("");
    let types = [("reserved".to_string(), "Reserved".to_string()), ("dynamic".to_string(), "Dynamic".to_string())];
    let chosen = forms::value(n, id, "type", r.map(|r| r.range_type.as_str()).unwrap_or("reserved"));
    html! {
        label { "Type" (select("type", &types, &chosen)) }
        label { "Start IP" input type="text" name="start_ip" value=(forms::value(n, id, "start_ip", cur(|r| &r.start_ip))) required; }
        label { "End IP" input type="text" name="end_ip" value=(forms::value(n, id, "end_ip", cur(|r| &r.end_ip))) required; }
        label { "Comment" input type="text" name="comment" value=(forms::value(n, id, "comment", cur(|r| &r.comment))); }
    }
}

/// The subnet's settings form (folded).
fn edit_form(viewer: &Viewer, p: &Page, n: &Option<Notice>, base: &str) -> Markup {
    let s = &p.subnet;
    let v = |field: &str, cur: &str| forms::value(n, "edit", field, cur);
    // A refused form shows the boxes as they were ticked, not as stored.
    let flag = |field: &str, cur: bool| match n {
        Some(Notice::Failed { form, values, .. }) if form == "edit" => values.get(field).is_some(),
        _ => cur,
    };
    html! {
        details #edit open[forms::is_failed(n, "edit")] {
            summary { "Edit subnet" }
            form.stacked method="post" action={ (base) "/edit" } {
                (csrf(viewer))
                (forms::error_in(n, "edit"))
                label { "CIDR" input type="text" name="cidr" value=(v("cidr", &s.cidr)) required; }
                label { "Name" input type="text" name="name" value=(v("name", &s.name)); }
                label { "Description" input type="text" name="description" value=(v("description", &s.description)); }
                label { "VLAN" (select("vlan", &vlan_choices(&p.net.model), &v("vlan", &s.vlan_id.to_string()))) }
                label { "Gateway IP" input type="text" name="gateway_ip" value=(v("gateway_ip", s.gateway_ip.as_deref().unwrap_or(""))); }
                label { "DNS servers" input type="text" name="dns_servers" value=(v("dns_servers", &s.dns_servers)); }
                label.check { input type="checkbox" name="managed" value="true" checked[flag("managed", s.managed)]; " Managed allocation" }
                label.check { input type="checkbox" name="allow_dns" value="true" checked[flag("allow_dns", s.allow_dns)]; " Allow DNS resolution" }
                label.check { input type="checkbox" name="allow_proxy" value="true" checked[flag("allow_proxy", s.allow_proxy)]; " Proxy access" }
                label.check { input type="checkbox" name="active_discovery" value="true" checked[flag("active_discovery", s.active_discovery)]; " Active discovery" }
                button.primary type="submit" { "Save" }
            }
        }
    }
}

/// `POST /MAAS/r/subnet/{id}/{edit|delete|range-create|range-edit|range-delete|route-create|route-delete}`:
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
    if !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(Error::NotFound("Subnet"));
    }
    let rel = format!("subnets/{id}/");
    let back = format!("/MAAS/r/subnet/{id}");
    let confirm = |what: &str, action: &str, key: &str, note: &str| {
        let body = forms::confirm_delete(viewer, what, &format!("{back}/{action}"), key, &back, note);
        Ok(page_response(StatusCode::OK, layout::page(viewer, "Networks", "networks", &[], body)))
    };
    let notice = match what {
        "edit" => {
            let mut params = fields(&p, &["cidr", "name", "description", "vlan", "gateway_ip", "dns_servers"]);
            // An unticked box is absent from the form: false.
            for flag in ["managed", "allow_dns", "allow_proxy", "active_discovery"] {
                params.push((flag.into(), if p.get(flag).is_some() { "true" } else { "false" }.into()));
            }
            let call = (Method::Put, rel, None, params);
            forms::run(state, viewer, call, "Saved the subnet.".into(), "edit", &p).await?
        }
        "delete" => {
            if p.get("confirm").is_none() {
                let key = id.to_string();
                let s = state.db.run(move |c| engine::network::subnet(c, &key)).await?;
                let note = "Its IP ranges, static routes and reserved addresses go with it.";
                return confirm(&format!("subnet {}", s.cidr), "delete", id, note);
            }
            let call = (Method::Delete, rel, None, vec![]);
            match forms::run(state, viewer, call, "Deleted the subnet.".into(), "delete", &p).await? {
                done @ Notice::Done(_) => return networks::list(state, viewer, Some(done)).await,
                refused => refused,
            }
        }
        "range-create" => {
            let mut params = fields(&p, &["type", "start_ip", "end_ip", "comment"]);
            params.push(("subnet".into(), id.to_string()));
            let call = (Method::Post, "ipranges/".to_string(), None, params);
            let done = format!(
                "Added a {} range {} – {}.",
                p.get("type").unwrap_or(""),
                p.get("start_ip").unwrap_or("").trim(),
                p.get("end_ip").unwrap_or("").trim()
            );
            forms::run(state, viewer, call, done, "range-create", &p).await?
        }
        "range-edit" => {
            let key = id_key(&p)?;
            let call =
                (Method::Put, format!("ipranges/{key}/"), None, fields(&p, &["type", "start_ip", "end_ip", "comment"]));
            forms::run(state, viewer, call, "Saved the range.".into(), &format!("range-edit:{key}"), &p).await?
        }
        "range-delete" => {
            let key = id_key(&p)?;
            if p.get("confirm").is_none() {
                let rid: i64 = key.parse().map_err(|_| Error::NotFound("IPRange"))?;
                let r = state.db.run(move |c| engine::network::range(c, rid)).await?;
                return confirm(&format!("range {} – {}", r.start_ip, r.end_ip), "range-delete", &key, "");
            }
            let call = (Method::Delete, format!("ipranges/{key}/"), None, vec![]);
            forms::run(state, viewer, call, "Deleted the range.".into(), &format!("range-delete:{key}"), &p).await?
        }
        "route-create" => {
            let mut params = fields(&p, &["destination", "gateway_ip", "metric"]);
            params.push(("source".into(), id.to_string()));
            let call = (Method::Post, "static-routes/".to_string(), None, params);
            forms::run(state, viewer, call, "Added the static route.".into(), "route-create", &p).await?
        }
        "route-delete" => {
            let key = id_key(&p)?;
            if p.get("confirm").is_none() {
                return confirm("static route", "route-delete", &key, "");
            }
            let call = (Method::Delete, format!("static-routes/{key}/"), None, vec![]);
            forms::run(state, viewer, call, "Deleted the static route.".into(), &format!("route-delete:{key}"), &p)
                .await?
        }
        _ => return Err(Error::NotFoundText(format!("There is no page at {back}/{what}."))),
    };
    page(state, viewer, id, Some(notice)).await
}
