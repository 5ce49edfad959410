//! What every UI page answers with: HTML with the security headers,
//! redirects, an error's words for a person, and form and query reading.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use maud::Markup;

use crate::error::Error;
use crate::http;
use crate::http::params::Params;

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
