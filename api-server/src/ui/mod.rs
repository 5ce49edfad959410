//! The web UI under `/MAAS/r/`: server-rendered HTML pages over the same
//! engine and handlers as the API.
//!
//! How it stays honest:
//! - Every change a page makes is an API action, called in-process through
//!   the API's own handler table ([`calls`]) with the logged-in user as the
//!   caller. Permissions, validation and MAAS's error words are therefore
//!   exactly the API's; the UI only turns forms into parameters and results
//!   into HTML.
//! - Reads use the API's handlers too where one exists (a machine's JSON,
//!   its events, power parameters); the machines table, which must stay
//!   fast at 10,000 machines, reads through the same engine filter the
//!   `machines/` list uses (`engine::allocation`, `engine::access`).
//! - Sessions are server-side rows (`engine::sessions`); every POST carries
//!   the session's CSRF token ([`session`]).
//! - Templates are compiled (maud); CSS and JavaScript are embedded in the
//!   binary and served from `/MAAS/r/static/`: no CDN, works offline.
//! - Live updates come from the region's change feed (`engine::changes`)
//!   over server-sent events ([`live`]).

pub mod account;
pub mod calls;
pub mod layout;
pub mod live;
pub mod machine;
pub mod machines;
pub mod session;

use std::sync::Arc;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use maud::Markup;

use crate::error::Error;
use crate::http;
use crate::http::params::Params;
use crate::http::AppState;
use session::Viewer;

/// Where the UI is mounted (MAAS's new UI lives at `/MAAS/r/`).
pub const PREFIX: &str = "/MAAS/r/";

/// Form bodies are small; anything bigger is refused (413).
const FORM_LIMIT: usize = 256 * 1024;

/// `/MAAS/` and `/MAAS/r` lead to the UI.
pub fn is_entry(path: &str) -> bool {
    matches!(path, "/MAAS/" | "/MAAS" | "/MAAS/r")
}

pub fn to_entry() -> HttpResponse {
    redirect(StatusCode::FOUND, PREFIX)
}

/// A redirect to a path of ours.
pub fn redirect(status: StatusCode, to: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::LOCATION, to.to_string()))
        .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// An HTML page with the headers every page carries: no caching (pages show
/// live state and CSRF tokens), no framing, no inline script or style, no
/// third-party anything.
pub fn html(status: StatusCode, body: Markup) -> HttpResponse {
    let mut b = HttpResponse::build(status);
    secure_headers(&mut b);
    b.insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8")).body(body.into_string())
}

fn secure_headers(b: &mut actix_web::HttpResponseBuilder) {
    b.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "same-origin"));
}

/// An error's words for a person: the API's message, field errors as
/// `field: message`.
pub fn message(e: &Error) -> String {
    match e {
        Error::Validation(fields) => fields
            .iter()
            .map(|(k, v)| if k == "__all__" { v.join(" ") } else { format!("{k}: {}", v.join(" ")) })
            .collect::<Vec<_>>()
            .join("; "),
        Error::Internal(_) => "Internal error; the region's log has the details.".into(),
        other => other.to_string(),
    }
}

/// An error page inside the layout (or bare, before login).
pub fn error_page(viewer: Option<&Viewer>, e: &Error) -> HttpResponse {
    if let Error::Internal(why) = e {
        tracing::error!(error = %why, "web UI");
    }
    let status = http::error::status_of(e);
    html(status, layout::error(viewer, status, &message(e)))
}

/// The path of a request relative to [`PREFIX`], split on `/`.
fn segments(rest: &str) -> Vec<&str> {
    rest.split('/').filter(|s| !s.is_empty()).collect()
}

/// Reads a form body (url-encoded or multipart) into parameters, after the
/// query string's.
pub async fn form(req: &HttpRequest, payload: web::Payload) -> Result<Params, Error> {
    let body = http::router::read_body(req, payload, FORM_LIMIT).await?;
    let mut p = Params::default();
    let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    p.extend_body(ct, &body)?;
    Ok(p)
}

/// The query string as parameters.
pub fn query(req: &HttpRequest) -> Params {
    let mut p = Params::default();
    p.extend_urlencoded(req.query_string().as_bytes());
    p
}

/// Routes one UI request. `rest` is the path after [`PREFIX`].
pub async fn route(req: HttpRequest, payload: web::Payload, state: Arc<AppState>, rest: String) -> HttpResponse {
    let method = req.method().as_str().to_string();
    let segs = segments(&rest);
    // Pages anyone may fetch: the assets and the login form.
    match (method.as_str(), segs.as_slice()) {
        ("GET", ["static", name]) => return layout::asset(name),
        (_, ["login"]) => return session::login(&req, payload, &state, &method).await,
        _ => {}
    }
    let viewer = match session::viewer(&req, &state).await {
        Ok(Some(v)) => v,
        Ok(None) => return session::to_login(&req),
        Err(e) => return error_page(None, &e),
    };
    let result = match (method.as_str(), segs.as_slice()) {
        ("GET", []) => Ok(redirect(StatusCode::FOUND, "/MAAS/r/machines")),
        ("POST", ["logout"]) => session::logout(&req, payload, &state, &viewer).await,
        ("GET", ["machines"]) => machines::list(&req, &state, &viewer).await,
        ("POST", ["machines", "action"]) => machines::action(&req, payload, &state, &viewer).await,
        ("GET", ["machine", sid]) => machine::page(&req, &state, &viewer, sid).await,
        ("GET", ["live"]) => live::stream(&req, &state, &viewer).await,
        ("GET", ["account", "prefs"]) => account::page(&req, &state, &viewer, None).await,
        ("POST", ["account", "prefs", what]) => account::change(&req, payload, &state, &viewer, what).await,
        ("GET", [section]) if layout::NAV.iter().any(|(s, _)| s == section) => Ok(layout::not_built(&viewer, section)),
        (_, ["logout"] | ["machines", "action"] | ["account", "prefs", _]) => {
            Err(Error::MethodNotAllowed { allow: vec!["POST"] })
        }
        (_, ["machines"] | ["machine", _] | ["live"] | ["account", "prefs"]) => {
            Err(Error::MethodNotAllowed { allow: vec!["GET"] })
        }
        _ => Err(Error::NotFoundText(format!("There is no page at {PREFIX}{rest}."))),
    };
    result.unwrap_or_else(|e| error_page(Some(&viewer), &e))
}
