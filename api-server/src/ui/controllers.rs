//! `/MAAS/r/controllers` and `/MAAS/r/devices`: read-only lists of the
//! region/rack controllers and of devices.
//!
//! Both read like the machines table: `db::nodes::list` over a filter of
//! the node types, narrowed by `engine::access::restrict_list` as the API
//! narrows its lists (a device another user owns is not shown to a
//! non-admin), then `db::related::load_related` for every row's domain,
//! owner, zone, interfaces and addresses in a fixed number of queries.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use maud::{html, Markup};

use crate::db;
use crate::db::nodes::{Node, NodeFilter};
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

fn row(n: &Node, rel: &Related) -> Row {
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
            Ok(nodes.iter().map(|n| row(n, &rel)).collect::<Vec<_>>())
        })
        .await?;
    let (title, section) = match which {
        Which::Controllers => ("Controllers", "controllers"),
        Which::Devices => ("Devices", "devices"),
    };
    Ok(page_response(StatusCode::OK, layout::page(viewer, title, section, &[], render(title, which, &rows))))
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
                            }
                        }
                    }
                }
            }
        }
    }
}
