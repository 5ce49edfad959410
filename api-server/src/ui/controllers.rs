//! `/MAAS/r/controllers` and `/MAAS/r/devices`: read-only lists of the
//! region/rack controllers and of devices.
//!
//! Both read like the machines table: `db::nodes::list` over a filter of
//! the node types, narrowed by `engine::access::restrict_list` as the API
//! narrows its lists (a device another user owns is not shown to a
//! non-admin), then `db::related::load_related` for every row's domain,
//! owner, zone, interfaces and addresses in a fixed number of queries.
//!
//! Controllers also show their health, as `rackcontrollers/` and
//! `regioncontrollers/` report it: a rack's state from the rack link (its
//! version, the services it reported on its last sync, when that was, and
//! whether that is recent enough to count as connected,
//! `engine::racks::liveness`), a region's from its heartbeat (version,
//! services, last seen, running). Both are one query each
//! (`db::racks::of_nodes`, `db::regions::of_nodes`) for all controllers.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use chrono::{NaiveDateTime, Utc};
use maud::{html, Markup};
use serde_json::Value;

use crate::db;
use crate::db::nodes::{Node, NodeFilter};
use crate::db::racks::RackRow;
use crate::db::regions::RegionRow;
use crate::db::related::Related;
use crate::engine;
use crate::engine::lifecycle::NodeType;
use crate::error::Result;
use crate::http::AppState;
use crate::ui::layout;
use crate::ui::respond::html as page_response;
use crate::ui::viewer::Viewer;

/// Which list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Controllers,
    Devices,
}

/// One row: what both lists show.
struct Row {
    system_id: String,
    fqdn: String,
    kind: &'static str,
    owner: String,
    zone: String,
    /// The parent's system_id (a device's machine, if any).
    parent: String,
    macs: Vec<String>,
    ips: Vec<String>,
    /// A controller's health; `None` for devices.
    health: Option<Health>,
}

/// What a controller reported about itself.
struct Health {
    version: String,
    /// The rack link's state: (last sync, connected); `None` for a
    /// controller without a rack, or a rack that never registered.
    rack: Option<(NaiveDateTime, bool)>,
    /// The region's heartbeat: (last seen, running); `None` for a rack.
    region: Option<(NaiveDateTime, bool)>,
    /// (name, status, status_info), the rack's and the region's.
    services: Vec<(String, String, String)>,
}

/// A `service_set` as the rack link and the heartbeat store it (JSON);
/// anything unreadable is no services rather than a broken page.
fn services(json: &str) -> Vec<(String, String, String)> {
    let v: Vec<Value> = serde_json::from_str(json).unwrap_or_default();
    v.iter()
        .map(|s| {
            let f = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            (f("name"), f("status"), f("status_info"))
        })
        .filter(|(n, _, _)| !n.is_empty())
        .collect()
}

fn health(n: &Node, racks: &HashMap<i64, RackRow>, regions: &HashMap<i64, RegionRow>) -> Health {
    let rack = racks.get(&n.id);
    let region = regions.get(&n.id);
    let mut svc = Vec::new();
    if let Some(r) = region {
        svc.extend(services(&r.services));
    }
    if let Some(r) = rack {
        svc.extend(services(&r.services));
    }
    Health {
        version: rack.map(|r| r.version.clone()).or_else(|| region.map(|r| r.version.clone())).unwrap_or_default(),
        rack: rack.map(|r| (r.last_seen, engine::racks::liveness::connected(r))),
        region: region.map(|r| (r.last_seen, engine::regions::running(r))),
        services: svc,
    }
}

fn kind(t: NodeType) -> &'static str {
    match t {
        NodeType::Machine => "Machine",
        NodeType::Device => "Device",
        NodeType::RackController => "Rack controller",
        NodeType::RegionController => "Region controller",
        NodeType::RegionAndRackController => "Region and rack controller",
    }
}

fn row(n: &Node, rel: &Related, health: Option<Health>) -> Row {
    let ifaces = rel.interfaces.get(&n.id).map(Vec::as_slice).unwrap_or(&[]);
    let ips = ifaces
        .iter()
        .flat_map(|i| rel.links.get(&i.id).map(Vec::as_slice).unwrap_or(&[]))
        .filter_map(|l| l.ip.clone())
        .collect();
    let domain = rel.domains.get(&n.domain_id).map(|d| d.name.as_str()).unwrap_or("maas");
    Row {
        system_id: n.system_id.clone(),
        fqdn: format!("{}.{domain}", n.hostname),
        kind: kind(n.node_type),
        owner: n.owner_id.and_then(|o| rel.owners.get(&o)).cloned().unwrap_or_default(),
        zone: rel.zones.get(&n.zone_id).map(|z| z.name.clone()).unwrap_or_default(),
        parent: n.parent_id.and_then(|p| rel.parents.get(&p)).cloned().unwrap_or_default(),
        macs: ifaces.iter().filter_map(|i| i.mac_address.clone()).collect(),
        ips,
        health,
    }
}

/// `GET /MAAS/r/controllers`, `GET /MAAS/r/devices`.
pub async fn list(state: &Arc<AppState>, viewer: &Viewer, which: Which) -> Result<HttpResponse> {
    let types = match which {
        Which::Controllers => {
            vec![NodeType::RackController, NodeType::RegionController, NodeType::RegionAndRackController]
        }
        Which::Devices => vec![NodeType::Device],
    };
    let user = viewer.user.clone();
    let rows = state
        .db
        .run(move |c| {
            let mut f = NodeFilter { node_types: types, ..Default::default() };
            engine::access::restrict_list(&mut f, &user);
            let nodes = db::nodes::list(c, &f)?;
            let rel = db::related::load_related(c, &nodes)?;
            if which == Which::Devices {
                return Ok(nodes.iter().map(|n| row(n, &rel, None)).collect::<Vec<_>>());
            }
            let ids: Vec<i64> = nodes.iter().map(|n| n.id).collect();
            let racks: HashMap<i64, RackRow> =
                db::racks::of_nodes(c, &ids)?.into_iter().map(|r| (r.node_id, r)).collect();
            let regions: HashMap<i64, RegionRow> =
                db::regions::of_nodes(c, &ids)?.into_iter().map(|r| (r.node_id, r)).collect();
            Ok(nodes.iter().map(|n| row(n, &rel, Some(health(n, &racks, &regions)))).collect::<Vec<_>>())
        })
        .await?;
    let (title, section) = match which {
        Which::Controllers => ("Controllers", "controllers"),
        Which::Devices => ("Devices", "devices"),
    };
    Ok(page_response(StatusCode::OK, layout::page(viewer, title, section, &[], render(title, which, &rows))))
}

/// A service status's colour: MAAS's `running`, `degraded`, `dead`, `off`.
fn service_class(status: &str) -> &'static str {
    match status {
        "running" => "st-ready",
        "degraded" => "st-busy",
        "dead" => "st-failed",
        _ => "st-other",
    }
}

fn when(t: &NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// How long ago, in the largest whole unit.
fn ago(t: &NaiveDateTime) -> String {
    let s = (Utc::now().naive_utc() - *t).num_seconds().max(0);
    match s {
        0..=119 => format!("{s} s ago"),
        120..=7199 => format!("{} min ago", s / 60),
        7200..=172_799 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86_400),
    }
}

fn health_cell(h: &Health) -> Markup {
    html! {
        @if let Some((seen, running)) = &h.region {
            div data-health="region" {
                @if *running { "Region running" } @else { strong { "Region not running" } }
                br; span.sub { "last seen " time datetime=(seen.format("%Y-%m-%dT%H:%M:%SZ").to_string()) title=(when(seen)) { (ago(seen)) } }
            }
        }
        @if let Some((seen, connected)) = &h.rack {
            div data-health="rack" {
                @if *connected { "Rack connected" } @else { strong { "Rack disconnected" } }
                br; span.sub { "last sync " time datetime=(seen.format("%Y-%m-%dT%H:%M:%SZ").to_string()) title=(when(seen)) { (ago(seen)) } }
            }
        }
        @if h.rack.is_none() && h.region.is_none() {
            span.muted { "never registered" }
        }
    }
}

fn render(title: &str, which: Which, rows: &[Row]) -> Markup {
    html! {
        h1 { (title) " " span.count.muted { (rows.len()) } }
        section.card {
            @if rows.is_empty() {
                p.empty-state {
                    @match which {
                        Which::Controllers => { "No controllers have registered yet." }
                        Which::Devices => { "No devices yet." }
                    }
                }
            } @else {
                table.nodes {
                    thead {
                        tr {
                            th scope="col" { "FQDN" }
                            @if which == Which::Controllers { th scope="col" { "Type" } }
                            th scope="col" { "MAC" }
                            th scope="col" { "IP addresses" }
                            @if which == Which::Devices { th scope="col" { "Owner" } th scope="col" { "Parent" } }
                            th scope="col" { "Zone" }
                            @if which == Which::Controllers {
                                th scope="col" { "Version" }
                                th scope="col" { "Health" }
                                th scope="col" { "Services" }
                            }
                        }
                    }
                    tbody {
                        @for r in rows {
                            tr data-sid=(r.system_id) {
                                td { (r.fqdn) }
                                @if which == Which::Controllers { td { (r.kind) } }
                                td { (r.macs.join(", ")) }
                                td { (r.ips.join(", ")) }
                                @if which == Which::Devices {
                                    td { (r.owner) }
                                    td { @if !r.parent.is_empty() { a href={ "/MAAS/r/machine/" (r.parent) } { (r.parent) } } }
                                }
                                td { (r.zone) }
                                @if let Some(h) = &r.health {
                                    td { (h.version) }
                                    td { (health_cell(h)) }
                                    td {
                                        @if h.services.is_empty() { span.muted { "none reported" } }
                                        ul.services {
                                            @for (name, status, info) in &h.services {
                                                li title=(info) data-service=(name) {
                                                    span class={ "badge " (service_class(status)) } { (name) } " " (status)
                                                    @if !info.is_empty() { br; span.sub { (info) } }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
