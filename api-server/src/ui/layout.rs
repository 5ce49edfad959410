//! The page frame every UI page shares (header, navigation, footer), the
//! login and error pages, status colours, and the embedded assets.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use maud::{html, Markup, DOCTYPE};

use crate::engine::lifecycle::Status;
use crate::error::Error;
use crate::ui::viewer::{Viewer, CSRF_FIELD};

/// The stylesheet and script, compiled into the binary (no CDN, no
/// external fonts: regions often have no internet).
const CSS: &str = include_str!("../../assets/ui/ui.css");
const JS: &str = include_str!("../../assets/ui/ui.js");

/// The sections in the navigation, MAAS's order and names: (path, label).
pub const NAV: &[(&str, &str)] = &[
    ("machines", "Machines"),
    ("devices", "Devices"),
    ("controllers", "Controllers"),
    ("networks", "Networks"),
    ("images", "Images"),
    ("domains", "Domains"),
    ("zones", "Zones"),
    ("pools", "Pools"),
    ("tags", "Tags"),
    ("settings", "Settings"),
];

/// `GET /MAAS/r/static/{name}`. Cached for a day: the content only changes
/// with the binary.
pub fn asset(name: &str) -> HttpResponse {
    let (ct, body) = match name {
        "ui.css" => ("text/css; charset=utf-8", CSS),
        "ui.js" => ("application/javascript; charset=utf-8", JS),
        _ => {
            return HttpResponse::NotFound()
                .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
                .body(format!("No such asset: {name}"))
        }
    };
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, ct))
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body)
}

/// The colour class of a status: MAAS's simplified status, lower-cased.
pub fn status_class(s: Status) -> &'static str {
    match s.simple() {
        "Ready" => "st-ready",
        "Deployed" => "st-deployed",
        "Allocated" => "st-allocated",
        "Failed" | "Broken" => "st-failed",
        "Commissioning" | "Deploying" | "Testing" | "Releasing" | "Rescue Mode" => "st-busy",
        _ => "st-other",
    }
}

/// The power state's colour class.
pub fn power_class(p: &str) -> &'static str {
    match p {
        "on" => "pw-on",
        "off" => "pw-off",
        "error" => "pw-error",
        _ => "pw-unknown",
    }
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light dark";
            title { (title) " | Ironpool" }
            link rel="stylesheet" href="/MAAS/r/static/ui.css";
            script src="/MAAS/r/static/ui.js" defer {}
        }
    }
}

/// The hidden CSRF field every POST form carries.
pub fn csrf(v: &Viewer) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(v.csrf()); }
}

/// A page inside the frame. `active` is the NAV section to highlight;
/// `live` lists the system_ids whose state the page updates live.
pub fn page(v: &Viewer, title: &str, active: &str, live: &[&str], body: Markup) -> Markup {
    let live_ids = live.join(",");
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body data-live=(live_ids) {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/MAAS/r/machines" { span.logo aria-hidden="true" { "◆" } " Ironpool" }
                    nav aria-label="Main" {
                        ul {
                            @for (path, label) in NAV {
                                li { a href={ "/MAAS/r/" (path) } aria-current=[(active == *path).then_some("page")] { (label) } }
                            }
                        }
                    }
                    div.account {
                        a href="/MAAS/r/account/prefs" aria-current=[(active == "account").then_some("page")] {
                            (v.user.username) @if v.is_admin() { " (admin)" }
                        }
                        form method="post" action="/MAAS/r/logout" {
                            (csrf(v))
                            button.link type="submit" { "Log out" }
                        }
                    }
                }
                main #main tabindex="-1" {
                    (body)
                }
                footer { "Ironpool — MAAS-compatible region · " a href="/MAAS/api/docs/" { "API documentation" } }
            }
        }
    }
}

/// The login page (outside the frame).
pub fn login(csrf_token: &str, error: Option<&str>, username: &str, next: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head("Log in"))
            body.login {
                main #main {
                    div.card.login-card {
                        h1 { span.logo aria-hidden="true" { "◆" } " Ironpool" }
                        p.muted { "Log in to manage your machines." }
                        @if let Some(e) = error {
                            p.error role="alert" { (e) }
                        }
                        form method="post" action="/MAAS/r/login" {
                            input type="hidden" name=(CSRF_FIELD) value=(csrf_token);
                            @if let Some(n) = next { input type="hidden" name="next" value=(n); }
                            label for="username" { "Username" }
                            input #username type="text" name="username" value=(username) autocomplete="username" required autofocus;
                            label for="password" { "Password" }
                            input #password type="password" name="password" autocomplete="current-password" required;
                            button.primary type="submit" { "Log in" }
                        }
                    }
                }
            }
        }
    }
}

/// An error inside the frame when logged in, bare otherwise.
pub fn error(v: Option<&Viewer>, status: StatusCode, message: &str) -> Markup {
    let reason = status.canonical_reason().unwrap_or("Error");
    let body = html! {
        section.card.empty {
            h1 { (status.as_u16()) " " (reason) }
            p.error role="alert" { (message) }
            p { a href="/MAAS/r/machines" { "Back to machines" } }
        }
    };
    match v {
        Some(v) => page(v, reason, "", &[], body),
        None => html! { (DOCTYPE) html lang="en" { (head(reason)) body { main #main { (body) } } } },
    }
}

/// Bytes as MAAS shows them (decimal units).
pub fn bytes(n: i64) -> String {
    let n = n as f64;
    for (unit, size) in [("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)] {
        if n >= size {
            return format!("{:.1} {unit}", n / size);
        }
    }
    format!("{n} B")
}

/// An error page inside the layout (or bare, before login).
pub fn error_page(viewer: Option<&Viewer>, e: &Error) -> HttpResponse {
    if let Error::Internal(why) = e {
        tracing::error!(error = %why, "web UI");
    }
    let status = crate::http::error::status_of(e);
    crate::ui::respond::html(status, error(viewer, status, &crate::ui::respond::message(e)))
}
