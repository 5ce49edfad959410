//! `/MAAS/r/machines/add` and `/MAAS/r/machines/add-chassis`: MAAS's "Add
//! hardware → Machine" and "Add hardware → Chassis", for administrators.
//!
//! Both forms are the API's actions with the viewer as the caller
//! (`POST machines/` and `machines/?op=add_chassis`), so what is checked,
//! and the words of a refusal, are the API's: a refused form comes back with
//! what was typed and the API's words, under the API's status (400 for a bad
//! MAC or a missing power parameter, 404 for an unknown domain, 503 for a
//! chassis that does not answer).
//!
//! The power types, their parameters and the chassis types come from the
//! API's own schema (`rackcontrollers/?op=describe_power_types`, rendered
//! from the table the API validates with), so the form cannot offer what
//! the API would refuse. A power type's parameters are shown once it is
//! chosen: without JavaScript that is a second step (choosing a type with
//! parameters and saving shows its fields, nothing is sent to the API yet);
//! with it the form redraws itself when the select changes.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde_json::Value;

use crate::db;
use crate::engine;
use crate::error::{Error, FieldErrors, Result};
use crate::http::params::Params;
use crate::http::registry::Method;
use crate::http::AppState;
use crate::ui::layout::{self, csrf};
use crate::ui::respond::{html as page_response, message, redirect};
use crate::ui::viewer::{Viewer, CSRF_FIELD};
use crate::ui::{calls, forms};

/// One power type as the API describes it.
struct PowerType {
    name: String,
    description: String,
    /// `add_chassis` can list this type's machines (MAAS's `can_probe`).
    can_probe: bool,
    fields: Vec<PowerField>,
}

struct PowerField {
    name: String,
    label: String,
    required: bool,
    secret: bool,
    choices: Vec<String>,
    default: String,
}

fn text<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// The power types the API offers, from its `describe_power_types`.
async fn power_types(state: &Arc<AppState>, viewer: &Viewer) -> Result<Vec<PowerType>> {
    let v = calls::json(state, viewer, Method::Get, "rackcontrollers/", Some("describe_power_types"), vec![]).await?;
    let empty = Vec::new();
    Ok(v.as_array()
        .unwrap_or(&empty)
        .iter()
        .map(|t| PowerType {
            name: text(t, "name").to_string(),
            description: text(t, "description").to_string(),
            can_probe: t.get("can_probe").and_then(Value::as_bool).unwrap_or(false),
            fields: t
                .get("fields")
                .and_then(Value::as_array)
                .unwrap_or(&empty)
                .iter()
                .map(|f| PowerField {
                    name: text(f, "name").to_string(),
                    label: text(f, "label").to_string(),
                    required: f.get("required").and_then(Value::as_bool).unwrap_or(false),
                    secret: f.get("secret").and_then(Value::as_bool).unwrap_or(false),
                    // MAAS's choices are [value, label] pairs.
                    choices: f
                        .get("choices")
                        .and_then(Value::as_array)
                        .unwrap_or(&empty)
                        .iter()
                        .filter_map(|c| c.get(0).and_then(Value::as_str).map(str::to_string))
                        .collect(),
                    default: text(f, "default").to_string(),
                })
                .collect(),
        })
        .collect())
}

/// What the selects offer: names, with the one preselected first.
struct Choices {
    zones: Vec<String>,
    pools: Vec<String>,
    domains: Vec<String>,
    default_domain: String,
}

/// Zones, pools and domains: three reads on one connection.
async fn choices(state: &Arc<AppState>) -> Result<Choices> {
    state
        .db
        .run(|c| {
            let zones = db::places::zones(c)?;
            let pools = db::places::pools(c)?;
            let domains = db::places::domains(c)?;
            // The defaults first, so a form nobody touched sends them.
            let first = |id: i64, rows: Vec<(i64, String)>| -> Vec<String> {
                let (mut a, b): (Vec<_>, Vec<_>) = rows.into_iter().partition(|(i, _)| *i == id);
                a.extend(b);
                a.into_iter().map(|(_, n)| n).collect()
            };
            let default_domain = domains.iter().find(|d| d.is_default).map(|d| d.name.clone()).unwrap_or_default();
            Ok(Choices {
                zones: first(engine::defaults::DEFAULT_ZONE_ID, zones.into_iter().map(|z| (z.id, z.name)).collect()),
                pools: first(engine::defaults::DEFAULT_POOL_ID, pools.into_iter().map(|p| (p.id, p.name)).collect()),
                domains: domains.into_iter().map(|d| d.name).collect(),
                default_domain,
            })
        })
        .await
}

/// The API's refusal of a form: its words (all fields, as one line) and,
/// for a validation error, the words per field to show beside each input.
struct Refusal {
    status: StatusCode,
    message: String,
    fields: FieldErrors,
}

impl Refusal {
    /// A refusal to show in the form, or the error itself when it is ours
    /// (an internal failure is the error page, not the user's mistake).
    fn of(e: Error) -> Result<Refusal> {
        if matches!(e, Error::Internal(_)) {
            return Err(e);
        }
        let fields = match &e {
            Error::Validation(f) => f.clone(),
            _ => FieldErrors::new(),
        };
        Ok(Refusal { status: crate::http::error::status_of(&e), message: message(&e), fields })
    }
}

/// The words for field `name`, beside its input.
fn field_error(r: Option<&Refusal>, name: &str) -> Markup {
    html! {
        @if let Some(msgs) = r.and_then(|r| r.fields.get(name)) {
            span.field-error id={ "err-" (name) } { (msgs.join(" ")) }
        }
    }
}

fn invalid(r: Option<&Refusal>, name: &str) -> Option<&'static str> {
    r.and_then(|r| r.fields.get(name)).map(|_| "true")
}

/// Ties an input to its words (read out by screen readers with the input).
fn described(r: Option<&Refusal>, name: &str) -> Option<String> {
    r.and_then(|r| r.fields.get(name)).map(|_| format!("err-{name}"))
}

/// A field's value: what was posted, else `default`. A browser posts every
/// text input and select of the form, even empty, so an absent one was not
/// on the form that was posted (a power type's fields before it was
/// chosen) and gets its default.
fn value(p: &Params, name: &str, default: &str) -> String {
    p.get(name).unwrap_or(default).to_string()
}

/// Whether the form was posted (a checkbox's absence then means unticked).
fn posted(p: &Params) -> bool {
    p.contains(CSRF_FIELD)
}

fn select(id: &str, name: &str, options: &[String], chosen: &str, r: Option<&Refusal>) -> Markup {
    html! {
        select id=(id) name=(name) aria-invalid=[invalid(r, name)] aria-describedby=[described(r, name)] {
            @for o in options { option value=(o) selected[o == chosen] { (o) } }
        }
    }
}

fn frame(viewer: &Viewer, title: &str, status: StatusCode, body: Markup) -> HttpResponse {
    page_response(status, layout::page(viewer, title, "machines", &[], body))
}

// ---- add machine -----------------------------------------------------------

/// `GET /MAAS/r/machines/add`: administrators only, as MAAS's UI offers it.
pub async fn machine_page(state: &Arc<AppState>, viewer: &Viewer) -> Result<HttpResponse> {
    engine::access::require_superuser(&viewer.user)?;
    let types = power_types(state, viewer).await?;
    let ch = choices(state).await?;
    let body = machine_form(viewer, &types, &ch, &Params::default(), None, None);
    Ok(frame(viewer, "Add machine", StatusCode::OK, body))
}

/// `POST /MAAS/r/machines/add`: CSRF, administrators only, then either the
/// second step (the chosen power type's parameters) or `POST machines/`.
pub async fn machine_post(
    req: &HttpRequest,
    payload: web::Payload,
    state: &Arc<AppState>,
    viewer: &Viewer,
) -> Result<HttpResponse> {
    let p = forms::admin_post(req, payload, viewer).await?;
    let types = power_types(state, viewer).await?;
    let chosen = p.get("power_type").unwrap_or("").trim().to_string();
    let shown = p.get("shown_power_type").unwrap_or("");
    let ty = types.iter().find(|t| t.name == chosen);
    // The form showed another type's fields (or none): show this type's
    // before anything reaches the API. `redraw` is the script's redraw on
    // a change of the select, which never adds the machine.
    let new_fields = ty.is_some_and(|t| chosen != shown && !t.fields.is_empty());
    if new_fields || p.get("redraw").is_some() {
        let note = ty
            .filter(|_| new_fields)
            .map(|t| format!("Fill in the {} power parameters, then add the machine.", t.description));
        let ch = choices(state).await?;
        let body = machine_form(viewer, &types, &ch, &p, None, note.as_deref());
        return Ok(frame(viewer, "Add machine", StatusCode::OK, body));
    }
    let fields = ty.filter(|_| chosen == shown).map(|t| t.fields.as_slice()).unwrap_or(&[]);
    match calls::json(state, viewer, Method::Post, "machines/", None, machine_params(&p, &chosen, fields)).await {
        Ok(m) => {
            let sid = text(&m, "system_id");
            Ok(redirect(StatusCode::SEE_OTHER, &format!("/MAAS/r/machine/{sid}")))
        }
        Err(e) => {
            let refusal = Refusal::of(e)?;
            let ch = choices(state).await?;
            let body = machine_form(viewer, &types, &ch, &p, Some(&refusal), None);
            Ok(frame(viewer, "Add machine", refusal.status, body))
        }
    }
}

/// The form as `machines/` parameters. Blank optional fields are left out
/// (the API's defaults apply); the power parameters sent are exactly the
/// fields of the type the form showed, as typed.
fn machine_params(p: &Params, power_type: &str, fields: &[PowerField]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: &str| out.push((k.to_string(), v.to_string()));
    put("architecture", p.get("architecture").unwrap_or(""));
    // The PXE MAC first: the API makes the first one the boot interface.
    for k in ["mac_addresses", "extra_macs"] {
        if let Some(v) = p.get_nonempty(k) {
            put("mac_addresses", v);
        }
    }
    for k in ["hostname", "description", "domain", "zone", "pool"] {
        if let Some(v) = p.get_nonempty(k) {
            put(k, v.trim());
        }
    }
    if !power_type.is_empty() {
        put("power_type", power_type);
    }
    for f in fields {
        let k = format!("power_parameters_{}", f.name);
        if let Some(v) = p.get(&k) {
            put(&k, v);
        }
    }
    // Unticked sends nothing, which the API reads as "commission" for an
    // administrator: say no explicitly.
    put("commission", if p.get("commission").is_some() { "true" } else { "false" });
    out
}

fn machine_form(
    viewer: &Viewer,
    types: &[PowerType],
    ch: &Choices,
    p: &Params,
    refusal: Option<&Refusal>,
    note: Option<&str>,
) -> Markup {
    let arches: Vec<String> = engine::names::ARCHES.iter().map(|a| format!("{a}/generic")).collect();
    let chosen = value(p, "power_type", "");
    let ty = types.iter().find(|t| t.name == chosen);
    let commission = !posted(p) || p.get("commission").is_some();
    html! {
        div.page-head {
            p.crumbs { a href="/MAAS/r/machines" { "Machines" } " ›" }
            h1 { "Add machine" }
        }
        @if let Some(r) = refusal { p.error role="alert" { (r.message) } }
        @if let Some(n) = note { p.notice role="status" { (n) } }
        section.card #add-machine {
            form.stacked method="post" action="/MAAS/r/machines/add" {
                (csrf(viewer))
                input type="hidden" name="shown_power_type" value=(ty.map(|t| t.name.as_str()).unwrap_or(""));
                label for="hostname" { "Hostname (optional)" }
                input #hostname type="text" name="hostname" value=(value(p, "hostname", "")) aria-invalid=[invalid(refusal, "hostname")] aria-describedby=[described(refusal, "hostname")] placeholder="generated when empty";
                (field_error(refusal, "hostname"))
                label for="domain" { "Domain" }
                (select("domain", "domain", &ch.domains, &value(p, "domain", &ch.default_domain), refusal))
                (field_error(refusal, "domain"))
                label for="architecture" { "Architecture" }
                (select("architecture", "architecture", &arches, &value(p, "architecture", "amd64/generic"), refusal))
                (field_error(refusal, "architecture"))
                label for="mac_addresses" { "PXE MAC address" }
                input #mac_addresses type="text" name="mac_addresses" value=(value(p, "mac_addresses", "")) required aria-invalid=[invalid(refusal, "mac_addresses")] aria-describedby=[described(refusal, "mac_addresses")] placeholder="52:54:00:12:34:56";
                label for="extra_macs" { "Other MAC addresses (optional, separated by commas)" }
                input #extra_macs type="text" name="extra_macs" value=(value(p, "extra_macs", ""));
                (field_error(refusal, "mac_addresses"))
                label for="zone" { "Zone" }
                (select("zone", "zone", &ch.zones, &value(p, "zone", ch.zones.first().map(String::as_str).unwrap_or("")), refusal))
                (field_error(refusal, "zone"))
                label for="pool" { "Resource pool" }
                (select("pool", "pool", &ch.pools, &value(p, "pool", ch.pools.first().map(String::as_str).unwrap_or("")), refusal))
                (field_error(refusal, "pool"))
                label for="description" { "Description (optional)" }
                input #description type="text" name="description" value=(value(p, "description", ""));
                fieldset.power-settings {
                    legend { "Power" }
                    label for="power_type" { "Power type" }
                    select #power_type name="power_type" data-redraw aria-invalid=[invalid(refusal, "power_type")] aria-describedby=[described(refusal, "power_type")] {
                        option value="" selected[chosen.is_empty()] { "Choose a power type" }
                        @for t in types {
                            option value=(t.name) selected[t.name == chosen] { (t.description) }
                        }
                    }
                    (field_error(refusal, "power_type"))
                    @if let Some(t) = ty {
                        @if t.fields.is_empty() {
                            p.muted { "This power type has no parameters." }
                        }
                        @for f in &t.fields {
                            @let name = format!("power_parameters_{}", f.name);
                            @let id = format!("pp-{}", f.name);
                            @let v = value(p, &name, &f.default);
                            label for=(id) { (f.label) @if f.required { " (required)" } }
                            @if !f.choices.is_empty() {
                                select id=(id) name=(name) aria-invalid=[invalid(refusal, &name)] aria-describedby=[described(refusal, &name)] {
                                    @for c in &f.choices {
                                        option value=(c) selected[*c == v] { @if c.is_empty() { "(none)" } @else { (c) } }
                                    }
                                }
                            } @else if f.secret {
                                input id=(id) type="password" name=(name) value=(v) autocomplete="new-password" aria-invalid=[invalid(refusal, &name)] aria-describedby=[described(refusal, &name)];
                            } @else {
                                input id=(id) type="text" name=(name) value=(v) aria-invalid=[invalid(refusal, &name)] aria-describedby=[described(refusal, &name)];
                            }
                            (field_error(refusal, &name))
                        }
                    } @else if !chosen.is_empty() {
                        p.muted { "Save to send this power type to the region." }
                    } @else {
                        p.muted { "Choose a power type and save: its parameters appear here." }
                    }
                }
                label.check { input type="checkbox" name="commission" value="true" checked[commission]; " Commission the machine once it is added" }
                div.buttons {
                    button.primary type="submit" #save { "Save machine" }
                    a.secondary href="/MAAS/r/machines" { "Cancel" }
                }
            }
        }
    }
}

// ---- add chassis -----------------------------------------------------------

/// `GET /MAAS/r/machines/add-chassis`: administrators only.
pub async fn chassis_page(state: &Arc<AppState>, viewer: &Viewer) -> Result<HttpResponse> {
    engine::access::require_superuser(&viewer.user)?;
    let types = power_types(state, viewer).await?;
    let ch = choices(state).await?;
    let body = chassis_form(viewer, &types, &ch, &Params::default(), None);
    Ok(frame(viewer, "Add chassis", StatusCode::OK, body))
}

/// `POST /MAAS/r/machines/add-chassis`: `machines/?op=add_chassis`, then
/// what it enlisted. The API answers only that it asked; the machines it
/// created are the ones whose "Node created" event names this chassis,
/// among the events written since the call started.
pub async fn chassis_post(
    req: &HttpRequest,
    payload: web::Payload,
    state: &Arc<AppState>,
    viewer: &Viewer,
) -> Result<HttpResponse> {
    let p = forms::admin_post(req, payload, viewer).await?;
    let hostname = p.get("hostname").unwrap_or("").to_string();
    let before = state.db.run(db::events::max_id).await?;
    match calls::call(state, viewer, Method::Post, "machines/", Some("add_chassis"), chassis_params(&p)).await {
        Ok(reply) => {
            let said = match reply {
                crate::http::reply::Reply::Text(_, t) => t,
                _ => String::new(),
            };
            let added = created_from(state, before, &hostname).await?;
            let body = chassis_result(&hostname, &said, &added);
            Ok(frame(viewer, "Add chassis", StatusCode::OK, body))
        }
        Err(e) => {
            let refusal = Refusal::of(e)?;
            let types = power_types(state, viewer).await?;
            let ch = choices(state).await?;
            let body = chassis_form(viewer, &types, &ch, &p, Some(&refusal));
            Ok(frame(viewer, "Add chassis", refusal.status, body))
        }
    }
}

/// The form as `add_chassis` parameters. The API tells an absent field
/// from an empty one (a blank `username` is refused for virsh, a blank
/// `rack_controller` names no rack), so blanks are left out.
fn chassis_params(p: &Params) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for k in ["chassis_type", "hostname", "username", "password", "prefix_filter", "domain", "rack_controller"] {
        if let Some(v) = p.get_nonempty(k) {
            out.push((k.to_string(), v.to_string()));
        }
    }
    if p.get("accept_all").is_some() {
        out.push(("accept_all".into(), "true".into()));
    }
    out
}

/// (system_id, hostname) of the machines created from chassis `hostname`
/// since event `after`: the engine writes one "Node created" event
/// "From chassis <hostname>" per machine it enlists.
async fn created_from(state: &Arc<AppState>, after: i64, hostname: &str) -> Result<Vec<(String, String)>> {
    let wanted = format!("From chassis {hostname}");
    state
        .db
        .run(move |c| {
            const BATCH: i64 = 1000;
            let mut out = Vec::new();
            let mut last = after;
            loop {
                let batch = db::events::after(c, last, BATCH)?;
                for e in &batch {
                    if e.type_name == "Node created" && e.description == wanted {
                        out.push((e.system_id.clone().unwrap_or_default(), e.hostname.clone()));
                    }
                }
                match batch.last() {
                    Some(e) if batch.len() as i64 == BATCH => last = e.id,
                    _ => return Ok(out),
                }
            }
        })
        .await
}

fn chassis_form(viewer: &Viewer, types: &[PowerType], ch: &Choices, p: &Params, refusal: Option<&Refusal>) -> Markup {
    let chassis: Vec<&PowerType> = types.iter().filter(|t| t.can_probe).collect();
    let chosen = value(p, "chassis_type", chassis.first().map(|t| t.name.as_str()).unwrap_or(""));
    let mut domains = vec![String::new()];
    domains.extend(ch.domains.iter().cloned());
    let domain = value(p, "domain", "");
    html! {
        div.page-head {
            p.crumbs { a href="/MAAS/r/machines" { "Machines" } " ›" }
            h1 { "Add chassis" }
        }
        p.muted { "The region lists the chassis's machines and adds each one it does not know yet (by MAC address) as a New machine." }
        @if let Some(r) = refusal { p.error role="alert" { (r.message) } }
        section.card #add-chassis {
            form.stacked method="post" action="/MAAS/r/machines/add-chassis" {
                (csrf(viewer))
                label for="chassis_type" { "Chassis type" }
                select #chassis_type name="chassis_type" {
                    @for t in &chassis { option value=(t.name) selected[t.name == chosen] { (t.description) } }
                }
                label for="chassis-hostname" { "Address" }
                input #chassis-hostname type="text" name="hostname" value=(value(p, "hostname", "")) required placeholder="qemu+ssh://user@host/system or https://ucs-manager";
                p.sub { "Virsh: the libvirt URI. Cisco UCS Manager: its URL." }
                label for="chassis-username" { "Username (UCS Manager only)" }
                input #chassis-username type="text" name="username" value=(value(p, "username", "")) autocomplete="off";
                label for="chassis-password" { "Password (optional for virsh: the SSH password)" }
                input #chassis-password type="password" name="password" value=(value(p, "password", "")) autocomplete="new-password";
                label for="prefix_filter" { "Only machines whose name starts with (virsh only, optional)" }
                input #prefix_filter type="text" name="prefix_filter" value=(value(p, "prefix_filter", ""));
                label for="chassis-domain" { "Domain of the new machines" }
                select #chassis-domain name="domain" {
                    @for d in &domains {
                        option value=(d) selected[*d == domain] { @if d.is_empty() { "default (" (ch.default_domain) ")" } @else { (d) } }
                    }
                }
                label for="rack_controller" { "Rack controller (optional: system_id or hostname)" }
                input #rack_controller type="text" name="rack_controller" value=(value(p, "rack_controller", ""));
                label.check { input type="checkbox" name="accept_all" value="true" checked[p.get("accept_all").is_some()]; " Commission every machine added" }
                div.buttons {
                    button.primary type="submit" #save { "Add chassis" }
                    a.secondary href="/MAAS/r/machines" { "Cancel" }
                }
            }
        }
    }
}

fn chassis_result(hostname: &str, said: &str, added: &[(String, String)]) -> Markup {
    let n = added.len();
    html! {
        div.page-head {
            p.crumbs { a href="/MAAS/r/machines" { "Machines" } " ›" }
            h1 { "Add chassis" }
        }
        section.card #chassis-result role="status" {
            h2 { "Added " span.added-count { (n) } " machine" @if n != 1 { "s" } " from " (hostname) }
            @if !said.is_empty() { p.muted { "The region said: " (said) } }
            @if added.is_empty() {
                p { "The chassis has no machine the region does not know yet (machines are matched by MAC address)." }
            } @else {
                ul.targets {
                    @for (sid, host) in added {
                        li data-sid=(sid) { a href={ "/MAAS/r/machine/" (sid) } { (host) } }
                    }
                }
            }
            p { a href="/MAAS/r/machines" { "Back to machines" } " · " a href="/MAAS/r/machines/add-chassis" { "Add another chassis" } }
        }
    }
}
