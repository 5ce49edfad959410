//! A machine's script results: the "Commissioning and tests" section of its
//! page (the current commissioning, testing and installation runs, each
//! script with its status, exit code and runtime) and
//! `/MAAS/r/machine/{system_id}/result/{set}/{result}`, one script's output
//! as text.
//!
//! Both read the API's `nodes/{system_id}/results/{id}/` as the viewer, so
//! who may see what is the API's rule (a machine another user owns is the
//! API's 403 for a non-admin) and the statuses are the API's words. The
//! section reads only the current sets, whose ids the machine's own JSON
//! carries (`current_*_result_id`): at most three reads, however long the
//! machine's history.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use base64::Engine as _;
use maud::{html, Markup};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::http::registry::Method;
use crate::http::AppState;
use crate::ui::calls;
use crate::ui::layout;
use crate::ui::respond::{html as page_response, query};
use crate::ui::viewer::Viewer;

/// The runs the section shows: (the machine JSON's key, title).
const RUNS: &[(&str, &str)] = &[
    ("current_commissioning_result_id", "Commissioning"),
    ("current_testing_result_id", "Testing"),
    ("current_installation_result_id", "Installation"),
];

/// Outputs a result has: (the name the API's download uses, the result
/// JSON's field, label).
const OUTPUTS: &[(&str, &str, &str)] = &[
    ("combined", "output", "Combined output"),
    ("stdout", "stdout", "Standard output"),
    ("stderr", "stderr", "Standard error"),
    ("result", "result", "Result (YAML)"),
];

/// Outputs longer than this are cut on the page (the API's download has
/// them whole).
const SHOWN_BYTES: usize = 1 << 20;

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// Segments of our URLs that become segments of API paths: ids and
/// system_ids only, so a crafted segment cannot name another API path.
fn plain(seg: &str) -> bool {
    !seg.is_empty() && seg.len() <= 64 && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The machine's current runs, as the API renders them for the viewer:
/// (title, set JSON) for each run it has.
pub async fn current(
    state: &Arc<AppState>,
    viewer: &Viewer,
    sid: &str,
    m: &Value,
) -> Result<Vec<(&'static str, Value)>> {
    let mut out = Vec::new();
    for (key, title) in RUNS {
        let Some(id) = m.get(*key).and_then(Value::as_i64) else { continue };
        match calls::json(state, viewer, Method::Get, &format!("nodes/{sid}/results/{id}/"), None, vec![]).await {
            Ok(set) => out.push((*title, set)),
            // Deleted since the machine was read: as if it had none.
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// A script status's colour: the machine statuses' classes.
fn status_class(name: &str) -> &'static str {
    match name {
        "Passed" => "st-ready",
        "Failed" | "Timed out" | "Failed installing dependencies" | "Failed to apply custom network configuration" => {
            "st-failed"
        }
        "Running" | "Pending" | "Installing dependencies" | "Applying custom network configuration" => "st-busy",
        "Degraded" => "st-allocated",
        _ => "st-other",
    }
}

fn output_url(sid: &str, set: i64, result: i64) -> String {
    format!("/MAAS/r/machine/{sid}/result/{set}/{result}")
}

/// The "Commissioning and tests" section.
pub fn section(sid: &str, runs: &[(&'static str, Value)]) -> Markup {
    let empty = Vec::new();
    let install = runs.iter().find(|(t, _)| *t == "Installation");
    html! {
        section.card #results {
            h2 { "Commissioning and tests" }
            @if runs.is_empty() {
                p.muted.empty-state { "No results yet: commissioning and testing record them." }
            }
            @for (title, set) in runs.iter().filter(|(t, _)| *t != "Installation") {
                @let set_id = set.get("id").and_then(Value::as_i64).unwrap_or(0);
                @let results = set.get("results").and_then(Value::as_array).unwrap_or(&empty);
                div.run data-run=(title.to_ascii_lowercase()) {
                    h3 {
                        (title) " "
                        span class={ "badge " (status_class(s(set, "status_name"))) } { (s(set, "status_name")) }
                    }
                    p.sub {
                        @if !s(set, "started").is_empty() { "Started " (s(set, "started")) }
                        @if !s(set, "runtime").is_empty() { " · ran " (s(set, "runtime")) }
                    }
                    @if results.is_empty() {
                        p.muted { "No scripts in this run." }
                    } @else {
                        table.results {
                            thead {
                                tr {
                                    th scope="col" { "Script" }
                                    th scope="col" { "Status" }
                                    th scope="col" .num { "Exit code" }
                                    th scope="col" { "Runtime" }
                                    th scope="col" { "Output" }
                                }
                            }
                            tbody {
                                @for r in results {
                                    @let rid = r.get("id").and_then(Value::as_i64).unwrap_or(0);
                                    tr data-result=(rid) {
                                        td { (s(r, "name")) @if r.get("suppressed") == Some(&Value::Bool(true)) { " " span.muted { "(suppressed)" } } }
                                        td { span class={ "badge " (status_class(s(r, "status_name"))) } { (s(r, "status_name")) } }
                                        td.num { @match r.get("exit_status").and_then(Value::as_i64) { Some(x) => { (x) } None => { span.muted { "—" } } } }
                                        td { @if s(r, "runtime").is_empty() { span.muted { "—" } } @else { (s(r, "runtime")) } }
                                        td { a href=(output_url(sid, set_id, rid)) aria-label={ "Output of " (s(r, "name")) } { "View output" } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some((_, set)) = install {
                @let set_id = set.get("id").and_then(Value::as_i64).unwrap_or(0);
                @let results = set.get("results").and_then(Value::as_array).unwrap_or(&empty);
                @if !results.is_empty() {
                    p #installation-log {
                        "Installation log: "
                        @for r in results {
                            a href=(output_url(sid, set_id, r.get("id").and_then(Value::as_i64).unwrap_or(0))) { (s(r, "name")) }
                            " "
                            span class={ "badge " (status_class(s(r, "status_name"))) } { (s(r, "status_name")) }
                            " "
                        }
                    }
                }
            }
        }
    }
}

/// `GET /MAAS/r/machine/{sid}/result/{set}/{result}?output=combined|stdout|stderr|result`
pub async fn output(
    req: &HttpRequest,
    state: &Arc<AppState>,
    viewer: &Viewer,
    sid: &str,
    set: &str,
    result: &str,
) -> Result<HttpResponse> {
    let here = format!("/MAAS/r/machine/{sid}/result/{set}/{result}");
    let rid: i64 = match result.parse() {
        Ok(n) if plain(sid) && plain(set) => n,
        _ => return Err(Error::NotFoundText(format!("There is no page at {here}."))),
    };
    let which = query(req).get("output").unwrap_or("combined").to_string();
    let Some((_, field, label)) = OUTPUTS.iter().find(|(k, _, _)| *k == which) else {
        return Err(Error::BadRequest(format!(
            "Unknown output \"{which}\": it must be one of {}.",
            OUTPUTS.iter().map(|(k, _, _)| *k).collect::<Vec<_>>().join(", ")
        )));
    };
    // The machine first: its name for the page, and the API's 403/404 for
    // a machine the viewer may not see before anything about its results.
    let m = calls::json(state, viewer, Method::Get, &format!("machines/{sid}/"), None, vec![]).await?;
    let params = calls::params(&[("filters", result), ("include_output", "1")]);
    let run = calls::json(state, viewer, Method::Get, &format!("nodes/{sid}/results/{set}/"), None, params).await?;
    let empty = Vec::new();
    let r = run
        .get("results")
        .and_then(Value::as_array)
        .unwrap_or(&empty)
        .iter()
        .find(|r| r.get("id").and_then(Value::as_i64) == Some(rid))
        .ok_or(Error::NotFound("ScriptResult"))?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(s(r, field)).map_err(Error::internal)?;
    let body = render_output(&m, &run, r, &here, &which, label, &bytes);
    Ok(page_response(StatusCode::OK, layout::page(viewer, s(r, "name"), "machines", &[], body)))
}

fn render_output(m: &Value, run: &Value, r: &Value, here: &str, which: &str, label: &str, bytes: &[u8]) -> Markup {
    let sid = s(m, "system_id");
    // NUL bytes: a binary file (a tarball of logs), not text to show.
    let binary = bytes.contains(&0);
    let cut = bytes.len() > SHOWN_BYTES;
    let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(SHOWN_BYTES)]);
    html! {
        div.page-head {
            p.crumbs {
                a href="/MAAS/r/machines" { "Machines" } " › "
                a href={ "/MAAS/r/machine/" (sid) "#results" } { (s(m, "fqdn")) } " › "
                (s(run, "type_name"))
            }
            h1 { (s(r, "name")) }
            p {
                span class={ "badge " (status_class(s(r, "status_name"))) } { (s(r, "status_name")) }
                @if let Some(x) = r.get("exit_status").and_then(Value::as_i64) { " · exit code " (x) }
                @if !s(r, "runtime").is_empty() { " · ran " (s(r, "runtime")) }
            }
        }
        nav.tabs aria-label="Outputs" {
            @for (k, _, l) in OUTPUTS {
                a href={ (here) "?output=" (k) } aria-current=[(*k == which).then_some("page")] { (l) }
            }
        }
        section.card #output {
            h2 { (label) }
            @if bytes.is_empty() {
                p.muted.empty-state { "Empty." }
            } @else if binary {
                p.muted { "A binary file of " (layout::bytes(bytes.len() as i64)) ": download it through the API (" code { "nodes/" (sid) "/results/" (run.get("id").map(Value::to_string).unwrap_or_default()) "/?op=download" } ")." }
            } @else {
                @if cut { p.muted { "The first " (layout::bytes(SHOWN_BYTES as i64)) " of " (layout::bytes(bytes.len() as i64)) "; the API's download has all of it." } }
                pre.output { (shown) }
            }
        }
    }
}
