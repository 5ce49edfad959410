//! `/MAAS/r/settings`: a few MAAS configuration values (the region's name,
//! the default OS and release, NTP servers, analytics). Everyone sees them;
//! administrators change them, and have a second tab, the users
//! (`ui::users`).
//!
//! Reading is `engine::config::value_in` per name (a fixed five reads, one
//! connection). Saving checks every value with the engine's validation
//! first (`engine::config::check`) so a form with one mistake stores
//! nothing, then sets each through the API's `maas/?op=set_config`.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde_json::Value;

use crate::engine;
use crate::error::{Error, Result};
use crate::http::registry::Method;
use crate::http::AppState;
use crate::ui::forms::{self, Notice};
use crate::ui::layout::{self, csrf};
use crate::ui::respond::{html as page_response, message};
use crate::ui::viewer::Viewer;

/// The values on the page: (config name, label, help).
const FIELDS: &[(&str, &str, &str)] = &[
    ("maas_name", "Region name", "What this MAAS is called in the UI and in its API."),
    ("default_osystem", "Default operating system", "Deployed when a deployment names none (e.g. ubuntu)."),
    ("default_distro_series", "Default OS release", "Deployed when a deployment names none (e.g. noble)."),
    ("ntp_servers", "NTP servers", "Addresses or host names, separated by spaces or commas."),
];
/// The one boolean, a checkbox.
const ANALYTICS: &str = "enable_analytics";

/// The current values, as the form shows them.
async fn values(state: &Arc<AppState>) -> Result<Vec<(&'static str, String)>> {
    state
        .db
        .run(|c| {
            let mut out = Vec::new();
            for name in FIELDS.iter().map(|f| f.0).chain([ANALYTICS]) {
                let v = match engine::config::value_in(c, name)? {
                    Value::String(s) => s,
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                out.push((name, v));
            }
            Ok(out)
        })
        .await
}

/// `GET /MAAS/r/settings` (and the answer to a save).
pub async fn page(state: &Arc<AppState>, viewer: &Viewer, notice: Option<Notice>) -> Result<HttpResponse> {
    let current = values(state).await?;
    let status = Notice::status(&notice);
    Ok(page_response(status, layout::page(viewer, "Settings", "settings", &[], render(viewer, &current, &notice))))
}

/// The settings' tabs (administrators only: the users tab is theirs).
pub fn tabs(viewer: &Viewer, active: &str) -> Markup {
    html! {
        @if viewer.is_admin() {
            nav.tabs aria-label="Settings" {
                a href="/MAAS/r/settings" aria-current=[(active == "configuration").then_some("page")] { "Configuration" }
                a href="/MAAS/r/settings/users" aria-current=[(active == "users").then_some("page")] { "Users" }
            }
        }
    }
}

fn render(viewer: &Viewer, current: &[(&str, String)], n: &Option<Notice>) -> Markup {
    let cur = |name: &str| current.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str()).unwrap_or("");
    let analytics = match n {
        Some(Notice::Failed { values, .. }) => values.get(ANALYTICS).is_some(),
        _ => cur(ANALYTICS) == "true",
    };
    html! {
        (tabs(viewer, "configuration"))
        h1 { "Settings" }
        (forms::banner(n))
        section.card #configuration {
            h2 { "Configuration" }
            @if viewer.is_admin() {
                form.stacked method="post" action="/MAAS/r/settings" {
                    (csrf(viewer))
                    (forms::error_in(n, "settings"))
                    @for (name, label, help) in FIELDS {
                        label for=(name) { (label) }
                        input id=(name) type="text" name=(name) aria-describedby={ (name) "-help" } value=(forms::value(n, "settings", name, cur(name)));
                        p.sub id={ (name) "-help" } { (help) }
                    }
                    label.check { input type="checkbox" name=(ANALYTICS) value="true" checked[analytics]; " Enable analytics" }
                    button.primary type="submit" { "Save" }
                }
            } @else {
                dl.grid {
                    @for (name, label, _) in FIELDS { dt { (label) } dd data-config=(name) { (cur(name)) } }
                    dt { "Analytics" } dd data-config=(ANALYTICS) { @if cur(ANALYTICS) == "true" { "Enabled" } @else { "Disabled" } }
                }
                p.muted { "Only administrators change these." }
            }
        }
    }
}

/// The engine's words for one value, led by the setting's name.
fn why(name: &str, e: &Error) -> String {
    match e {
        // The API names its parameter `value`; here the setting is the field.
        Error::Validation(fields) => {
            format!("{name}: {}", fields.values().flatten().cloned().collect::<Vec<_>>().join(" "))
        }
        other => format!("{name}: {}", message(other)),
    }
}

/// `POST /MAAS/r/settings`: administrators only.
pub async fn save(
    req: &HttpRequest,
    payload: web::Payload,
    state: &Arc<AppState>,
    viewer: &Viewer,
) -> Result<HttpResponse> {
    let p = forms::admin_post(req, payload, viewer).await?;
    // An unchecked box is absent from the form: off.
    let analytics = if p.get(ANALYTICS).is_some() { "true" } else { "false" };
    let wanted: Vec<(&str, String)> = FIELDS
        .iter()
        .map(|f| (f.0, p.get(f.0).unwrap_or("").to_string()))
        .chain([(ANALYTICS, analytics.to_string())])
        .collect();
    let problems: Vec<String> =
        wanted.iter().filter_map(|(name, raw)| engine::config::check(name, raw).err().map(|e| why(name, &e))).collect();
    if !problems.is_empty() {
        let notice = Notice::Failed { form: "settings".into(), message: problems.join(" "), values: p };
        return page(state, viewer, Some(notice)).await;
    }
    let current = values(state).await?;
    for (name, raw) in &wanted {
        // Unchanged values are not written again.
        if current.iter().any(|(k, v)| k == name && v == raw) {
            continue;
        }
        let params = vec![("name".to_string(), name.to_string()), ("value".to_string(), raw.clone())];
        if let Err(e) = crate::ui::calls::call(state, viewer, Method::Post, "maas/", Some("set_config"), params).await {
            let shown = forms::refused(e, "settings", &p)?;
            return page(state, viewer, Some(shown)).await;
        }
    }
    page(state, viewer, Some(Notice::Done("Settings saved.".into()))).await
}
