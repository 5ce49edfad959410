//! `/MAAS/r/machine/{system_id}`: one machine — summary, network, storage,
//! events and (administrators only) power configuration.
//!
//! Everything shown comes from the API's own answers for the viewer: the
//! machine's JSON (`GET machines/{id}/`), its events (`events/?op=query`)
//! and, for administrators only, `?op=power_parameters`. A machine the API
//! would hide (owned by someone else, for a non-administrator) is refused
//! with the API's 403, and BMC secrets never reach a page a non-admin sees
//! because the page never asks for them on a non-admin's behalf.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde_json::Value;

use crate::engine::lifecycle::{Status, ALL};
use crate::error::Result;
use crate::http::registry::Method;
use crate::http::AppState;
use crate::ui::calls;
use crate::ui::layout::{self, csrf, power_class, status_class};
use crate::ui::machines::ACTIONS;
use crate::ui::respond::html as page_response;
use crate::ui::viewer::Viewer;

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn status_of(label: &str) -> Option<Status> {
    ALL.iter().copied().find(|st| st.label() == label)
}

/// Power parameter names whose values are secrets: shown masked even to
/// administrators until asked for.
fn is_secret(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.contains("pass") || n.contains("secret") || n.contains("token") || n.contains("key")
}

pub async fn page(_req: &HttpRequest, state: &Arc<AppState>, viewer: &Viewer, sid: &str) -> Result<HttpResponse> {
    let rel = format!("machines/{sid}/");
    let m = calls::json(state, viewer, Method::Get, &rel, None, vec![]).await?;
    let events = calls::json(
        state,
        viewer,
        Method::Get,
        "events/",
        Some("query"),
        calls::params(&[("id", sid), ("level", "DEBUG"), ("limit", "50")]),
    )
    .await?;
    let power = if viewer.is_admin() {
        Some(calls::json(state, viewer, Method::Get, &rel, Some("power_parameters"), vec![]).await?)
    } else {
        None
    };
    let hostname = s(&m, "hostname").to_string();
    let body = render(viewer, sid, &m, &events, power.as_ref());
    Ok(page_response(StatusCode::OK, layout::page(viewer, &hostname, "machines", &[sid], body)))
}

fn render(viewer: &Viewer, sid: &str, m: &Value, events: &Value, power: Option<&Value>) -> Markup {
    let status_label = s(m, "status_name");
    let class = status_of(status_label).map(status_class).unwrap_or("st-other");
    let empty = Vec::new();
    let ifaces = m.get("interface_set").and_then(Value::as_array).unwrap_or(&empty);
    let disks = m.get("blockdevice_set").and_then(Value::as_array).unwrap_or(&empty);
    let tags: Vec<&str> = m
        .get("tag_names")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let evs = events.get("events").and_then(Value::as_array).unwrap_or(&empty);
    let owner = s(m, "owner");
    let os = match (s(m, "osystem"), s(m, "distro_series")) {
        ("", _) => String::new(),
        (o, d) => format!("{o}/{d}"),
    };
    let memory_gib = m.get("memory").and_then(Value::as_f64).unwrap_or(0.0) / 1024.0;
    let storage_gb = m.get("storage").and_then(Value::as_f64).unwrap_or(0.0) / 1000.0;
    html! {
        div.page-head data-sid=(sid) {
            p.crumbs { a href="/MAAS/r/machines" { "Machines" } " ›" }
            h1 { (s(m, "fqdn")) @if m.get("locked") == Some(&Value::Bool(true)) { " " span.lock title="Locked" { "🔒" } } }
            p {
                span class={ "badge " (class) } data-field="status" { (status_label) } " "
                span class={ "power " (power_class(s(m, "power_state"))) } data-field="power" { (s(m, "power_state")) } " "
                span.sub data-field="status-message" { (s(m, "status_message")) }
            }
            form.inline method="post" action="/MAAS/r/machines/action" {
                (csrf(viewer))
                input type="hidden" name="system_id" value=(sid);
                label.visually-hidden for="machine-action" { "Action" }
                select #machine-action name="action" required {
                    option value="" { "Take action…" }
                    @for (value, label, admin) in ACTIONS {
                        @if !*admin || viewer.is_admin() { option value=(value) { (label) } }
                    }
                }
                button type="submit" { "Go" }
            }
        }
        nav.tabs aria-label="Sections" {
            a href="#summary" { "Summary" } a href="#network" { "Network" } a href="#storage" { "Storage" }
            a href="#events" { "Events" } @if power.is_some() { a href="#configuration" { "Configuration" } }
        }
        section.card #summary {
            h2 { "Summary" }
            dl.grid {
                dt { "Status" } dd data-field="status-text" { (status_label) }
                dt { "Power" } dd { (s(m, "power_state")) " (" (s(m, "power_type")) ")" }
                dt { "Owner" } dd data-field="owner" { @if owner.is_empty() { span.muted { "—" } } @else { (owner) } }
                dt { "Zone" } dd { (m.pointer("/zone/name").and_then(Value::as_str).unwrap_or("")) }
                dt { "Resource pool" } dd { (m.pointer("/pool/name").and_then(Value::as_str).unwrap_or("")) }
                dt { "Architecture" } dd { (s(m, "architecture")) }
                dt { "CPU" } dd { (m.get("cpu_count").and_then(Value::as_i64).unwrap_or(0)) " cores" }
                dt { "Memory" } dd { (format!("{memory_gib:.1} GiB")) }
                dt { "Storage" } dd { (format!("{storage_gb:.1} GB")) " over " (disks.len()) " disk" @if disks.len() != 1 { "s" } }
                dt { "OS" } dd { @if os.is_empty() { span.muted { "—" } } @else { (os) } }
                dt { "Tags" } dd { @if tags.is_empty() { span.muted { "none" } } @for t in &tags { span.tag { (t) } " " } }
                dt { "System ID" } dd { code { (sid) } }
            }
        }
        section.card #network {
            h2 { "Network" }
            @if ifaces.is_empty() {
                p.muted.empty-state { "No interfaces known yet: commissioning discovers them." }
            } @else {
                table.ifaces {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Type" } th scope="col" { "MAC" } th scope="col" { "Fabric / VLAN" } th scope="col" { "Links" } th scope="col" { "Parents" } } }
                    tbody {
                        @for i in ifaces {
                            tr {
                                td { (s(i, "name")) @if i.get("enabled") == Some(&Value::Bool(false)) { " " span.muted { "(disabled)" } } }
                                td { (s(i, "type")) }
                                td { code.mac { (s(i, "mac_address")) } }
                                td { (i.pointer("/vlan/fabric").and_then(Value::as_str).unwrap_or("—")) " / " (i.pointer("/vlan/name").and_then(Value::as_str).unwrap_or("—")) }
                                td {
                                    @for l in i.get("links").and_then(Value::as_array).unwrap_or(&empty) {
                                        div { (s(l, "mode")) @if !s(l, "ip_address").is_empty() { " " code { (s(l, "ip_address")) } } @if let Some(c) = l.pointer("/subnet/cidr").and_then(Value::as_str) { " on " (c) } }
                                    }
                                }
                                td { @for p in i.get("parents").and_then(Value::as_array).unwrap_or(&empty) { (p.as_str().unwrap_or("")) " " } }
                            }
                        }
                    }
                }
            }
        }
        section.card #storage {
            h2 { "Storage" }
            @if disks.is_empty() {
                p.muted.empty-state { "No disks known yet: commissioning discovers them." }
            } @else {
                table.disks {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Model / serial" } th scope="col" .num { "Size" } th scope="col" { "Type" } th scope="col" { "Filesystem / partitions" } } }
                    tbody {
                        @for d in disks {
                            tr {
                                td { (s(d, "name")) }
                                td { (s(d, "model")) br; span.sub { (s(d, "serial")) } }
                                td.num { (layout::bytes(d.get("size").and_then(Value::as_i64).unwrap_or(0))) }
                                td { (s(d, "type")) }
                                td {
                                    @if let Some(f) = d.get("filesystem").filter(|f| !f.is_null()) { div { (s(f, "fstype")) " " (s(f, "mount_point")) } }
                                    @for p in d.get("partitions").and_then(Value::as_array).unwrap_or(&empty) {
                                        div { (s(p, "path")) " " (layout::bytes(p.get("size").and_then(Value::as_i64).unwrap_or(0)))
                                            @if let Some(f) = p.get("filesystem").filter(|f| !f.is_null()) { " · " (s(f, "fstype")) " " (s(f, "mount_point")) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.card #events {
            h2 { "Events" }
            table.events {
                thead { tr { th scope="col" { "Time (UTC)" } th scope="col" { "Level" } th scope="col" { "Event" } } }
                tbody data-events-for=(sid) {
                    @for e in evs {
                        tr { td { (s(e, "created")) } td { (s(e, "level")) } td { (s(e, "type")) @if !s(e, "description").is_empty() { " — " (s(e, "description")) } } }
                    }
                }
            }
            @if evs.is_empty() { p.muted.empty-state { "No events yet." } }
        }
        @if let Some(Value::Object(params)) = power {
            section.card #configuration {
                h2 { "Power configuration" }
                p.muted { "Visible to administrators only." }
                dl.grid {
                    dt { "Power type" } dd { (s(m, "power_type")) }
                    @for (k, v) in params {
                        dt { (k) }
                        dd {
                            @let text = match v { Value::String(t) => t.clone(), other => other.to_string() };
                            @if is_secret(k) && !text.is_empty() {
                                details { summary { "••••••••" } code { (text) } }
                            } @else { code { (text) } }
                        }
                    }
                }
            }
        }
    }
}
