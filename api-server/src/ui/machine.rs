//! `/MAAS/r/machine/{system_id}`: one machine — summary, network, storage,
//! commissioning and test results, events, configuration (zone, pool,
//! tags) and, for administrators only, power configuration.
//!
//! Everything shown comes from the API's own answers for the viewer: the
//! machine's JSON (`GET machines/{id}/`), its current script results
//! (`nodes/{id}/results/{set}/`, [`machine_results`]), its events
//! (`events/?op=query`) and, for administrators only,
//! `?op=power_parameters`. A machine the API would hide (owned by someone
//! else, for a non-administrator) is refused with the API's 403, and BMC
//! secrets never reach a page a non-admin sees because the page never asks
//! for them on a non-admin's behalf.
//!
//! Administrators change the zone and pool (`PUT machines/{id}/`) and add
//! or remove tags (`tags/{name}/?op=update_nodes`) from the Configuration
//! section; a refusal is shown there with the API's words and status.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde_json::Value;

use crate::api::views::enc;
use crate::db;
use crate::engine::lifecycle::{Status, ALL};
use crate::error::{Error, Result};
use crate::http::params::Params;
use crate::http::registry::Method;
use crate::http::AppState;
use crate::ui::layout::{self, csrf, power_class, status_class};
use crate::ui::machines::ACTIONS;
use crate::ui::respond::{html as page_response, message};
use crate::ui::viewer::Viewer;
use crate::ui::{calls, forms, machine_results};

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

/// What the page says after an administrator's change in its
/// Configuration section.
pub struct Outcome {
    ok: bool,
    text: String,
    /// 200 when done, the API's status when refused.
    status: StatusCode,
    /// What the refused form held, shown again.
    values: Params,
}

/// What an administrator's forms offer: every zone, pool and tag name.
struct Choices {
    zones: Vec<String>,
    pools: Vec<String>,
    tags: Vec<String>,
}

pub async fn page(_req: &HttpRequest, state: &Arc<AppState>, viewer: &Viewer, sid: &str) -> Result<HttpResponse> {
    page_with(state, viewer, sid, None).await
}

async fn page_with(
    state: &Arc<AppState>,
    viewer: &Viewer,
    sid: &str,
    outcome: Option<Outcome>,
) -> Result<HttpResponse> {
    let rel = format!("machines/{sid}/");
    let m = calls::json(state, viewer, Method::Get, &rel, None, vec![]).await?;
    let runs = machine_results::current(state, viewer, sid, &m).await?;
    let events = calls::json(
        state,
        viewer,
        Method::Get,
        "events/",
        Some("query"),
        calls::params(&[("id", sid), ("level", "DEBUG"), ("limit", "50")]),
    )
    .await?;
    let (power, choices) = if viewer.is_admin() {
        let power = calls::json(state, viewer, Method::Get, &rel, Some("power_parameters"), vec![]).await?;
        // The names the forms offer: three reads on one connection.
        let choices = state
            .db
            .run(|c| {
                Ok(Choices {
                    zones: db::places::zones(c)?.into_iter().map(|z| z.name).collect(),
                    pools: db::places::pools(c)?.into_iter().map(|p| p.name).collect(),
                    tags: db::tags::list(c)?.into_iter().map(|t| t.name).collect(),
                })
            })
            .await?;
        (Some(power), Some(choices))
    } else {
        (None, None)
    };
    let hostname = s(&m, "hostname").to_string();
    let status = outcome.as_ref().map(|o| o.status).unwrap_or(StatusCode::OK);
    let view =
        View { viewer, sid, m: &m, events: &events, power: power.as_ref(), runs: &runs, choices: choices.as_ref() };
    let body = render(&view, outcome.as_ref());
    Ok(page_response(status, layout::page(viewer, &hostname, "machines", &[sid], body)))
}

/// `POST /MAAS/r/machine/{sid}/{config|tag-add|tag-remove}`: CSRF, then
/// administrators only, then the API's action.
pub async fn change(
    req: &HttpRequest,
    payload: web::Payload,
    state: &Arc<AppState>,
    viewer: &Viewer,
    sid: &str,
    what: &str,
) -> Result<HttpResponse> {
    let p = forms::admin_post(req, payload, viewer).await?;
    let call: Result<Call> = match what {
        "config" => {
            let fields = ["zone", "pool"]
                .iter()
                .filter_map(|k| p.get_nonempty(k).map(|v| (k.to_string(), v.to_string())))
                .collect();
            Ok((Method::Put, format!("machines/{sid}/"), None, fields, "Saved the zone and resource pool.".into()))
        }
        "tag-add" | "tag-remove" => match p.get_nonempty("tag").map(str::trim) {
            Some(t) => {
                let (field, done) = if what == "tag-add" {
                    ("add", format!("Added tag {t}."))
                } else {
                    ("remove", format!("Removed tag {t}."))
                };
                let params = vec![(field.to_string(), sid.to_string())];
                Ok((Method::Post, format!("tags/{}/", enc(t)), Some("update_nodes"), params, done))
            }
            None => Err(Error::field("tag", "Choose a tag.")),
        },
        _ => return Err(Error::NotFoundText(format!("There is no page at /MAAS/r/machine/{sid}/{what}."))),
    };
    let result = match call {
        Ok((method, rel, op, params, done)) => calls::call(state, viewer, method, &rel, op, params).await.map(|_| done),
        Err(e) => Err(e),
    };
    let outcome = match result {
        Ok(done) => Outcome { ok: true, text: done, status: StatusCode::OK, values: Params::default() },
        // Ours, not the form's: the error page.
        Err(e @ Error::Internal(_)) => return Err(e),
        Err(e) => Outcome { ok: false, text: message(&e), status: crate::http::error::status_of(&e), values: p },
    };
    page_with(state, viewer, sid, Some(outcome)).await
}

/// An API action for a form: method, path, op, parameters, and what the
/// page says when it is done.
type Call = (Method, String, Option<&'static str>, Vec<(String, String)>, String);

/// What one render of the page needs.
struct View<'a> {
    viewer: &'a Viewer,
    sid: &'a str,
    m: &'a Value,
    events: &'a Value,
    power: Option<&'a Value>,
    runs: &'a [(&'static str, Value)],
    choices: Option<&'a Choices>,
}

fn render(v: &View, outcome: Option<&Outcome>) -> Markup {
    let View { viewer, sid, m, events, power, runs, .. } = *v;
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
            a href="#results" { "Commissioning and tests" } a href="#events" { "Events" } a href="#config" { "Configuration" }
            @if power.is_some() { a href="#configuration" { "Power configuration" } }
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
        (machine_results::section(sid, runs))
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
        (config(v, &tags, outcome))
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

/// The Configuration section: zone, pool, tags and power type for everyone
/// who may see the machine; for administrators the forms that change them.
fn config(v: &View, tags: &[&str], outcome: Option<&Outcome>) -> Markup {
    let (sid, m) = (v.sid, v.m);
    let zone = m.pointer("/zone/name").and_then(Value::as_str).unwrap_or("");
    let pool = m.pointer("/pool/name").and_then(Value::as_str).unwrap_or("");
    // A refused edit shows what was chosen, not the stored value.
    let kept = |k: &str, current: &str| -> String {
        match outcome {
            Some(o) if !o.ok => o.values.get(k).unwrap_or(current).to_string(),
            _ => current.to_string(),
        }
    };
    let base = format!("/MAAS/r/machine/{sid}");
    html! {
        section.card #config {
            h2 { "Configuration" }
            @match outcome {
                Some(o) if o.ok => { p.notice role="status" { (o.text) } }
                Some(o) => { p.error role="alert" { (o.text) } }
                None => {}
            }
            dl.grid {
                dt { "Zone" } dd #config-zone { (zone) }
                dt { "Resource pool" } dd #config-pool { (pool) }
                dt { "Tags" }
                dd #config-tags {
                    @if tags.is_empty() { span.muted { "none" } }
                    @for t in tags {
                        span.tag data-tag=(t) {
                            (t)
                            @if v.choices.is_some() {
                                " "
                                form.inline.tag-remove method="post" action={ (base) "/tag-remove" } {
                                    (csrf(v.viewer))
                                    input type="hidden" name="tag" value=(t);
                                    button.link-danger type="submit" aria-label={ "Remove tag " (t) } title="Remove" { "×" }
                                }
                            }
                        }
                        " "
                    }
                }
                dt { "Power type" } dd { @if s(m, "power_type").is_empty() { span.muted { "none" } } @else { (s(m, "power_type")) } }
            }
            @if let Some(ch) = v.choices {
                div.config-forms {
                    form.stacked #config-edit method="post" action={ (base) "/config" } {
                        (csrf(v.viewer))
                        label for="config-zone-select" { "Zone" }
                        select #config-zone-select name="zone" {
                            @let chosen = kept("zone", zone);
                            @for z in &ch.zones { option value=(z) selected[*z == chosen] { (z) } }
                        }
                        label for="config-pool-select" { "Resource pool" }
                        select #config-pool-select name="pool" {
                            @let chosen = kept("pool", pool);
                            @for p in &ch.pools { option value=(p) selected[*p == chosen] { (p) } }
                        }
                        button.primary type="submit" { "Save zone and pool" }
                    }
                    @let addable: Vec<&String> = ch.tags.iter().filter(|t| !tags.contains(&t.as_str())).collect();
                    form.stacked #tag-add method="post" action={ (base) "/tag-add" } {
                        (csrf(v.viewer))
                        @if addable.is_empty() {
                            p.muted { "No other tags to add: " a href="/MAAS/r/tags" { "create one on the Tags page" } "." }
                        } @else {
                            label for="tag-add-select" { "Add a tag" }
                            select #tag-add-select name="tag" {
                                @for t in &addable { option value=(t) { (t) } }
                            }
                            button type="submit" { "Add tag" }
                        }
                    }
                }
            }
        }
    }
}
