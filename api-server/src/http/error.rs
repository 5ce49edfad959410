//! The one place where [`Error`] becomes an HTTP status and body, following
//! MAAS's conventions (`maas-api.md` §6): text/plain one-liners, JSON for field
//! validation errors, `WWW-Authenticate` on OAuth failures, `Allow` on 405, no
//! `Retry-After` on conflicts (gomaasapi would retry them).

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;

use crate::error::Error;
use crate::http::reply::{JSON_UTF8, TEXT_PLAIN, TEXT_UTF8};

pub fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::BadRequest(_) | Error::Validation(_) | Error::UnrecognisedSignature { .. } => StatusCode::BAD_REQUEST,
        Error::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        Error::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        Error::Unauthorized(_) | Error::OAuth(_) => StatusCode::UNAUTHORIZED,
        Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::NotFound(_) | Error::NotFoundText(_) | Error::UnknownEndpoint(_) => StatusCode::NOT_FOUND,
        Error::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
        Error::Conflict(_) => StatusCode::CONFLICT,
        Error::Gone(_) => StatusCode::GONE,
        Error::Unavailable(_) | Error::RetryLater { .. } => StatusCode::SERVICE_UNAVAILABLE,
        Error::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

pub fn to_response(e: &Error) -> HttpResponse {
    let status = status_of(e);
    let mut b = HttpResponse::build(status);
    match e {
        Error::Validation(fields) => {
            // Field errors are a string → strings map: built as a `Value`,
            // whose text form cannot fail.
            let body = serde_json::Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.iter().cloned().map(serde_json::Value::String).collect()))
                    .collect(),
            )
            .to_string();
            b.content_type(JSON_UTF8).body(body)
        }
        // Empty, as Django's 405, but labelled like every other answer.
        Error::MethodNotAllowed { allow } => {
            b.insert_header((header::ALLOW, allow.join(", "))).content_type(TEXT_PLAIN).finish()
        }
        Error::OAuth(_) => b
            .insert_header((header::WWW_AUTHENTICATE, "OAuth realm=\"OAuth\""))
            .content_type(TEXT_UTF8)
            .body(e.to_string()),
        Error::TooManyRequests { retry_after_secs, .. } | Error::RetryLater { retry_after_secs, .. } => b
            .insert_header((header::RETRY_AFTER, retry_after_secs.to_string()))
            .content_type(TEXT_UTF8)
            .body(e.to_string()),
        Error::Internal(detail) => {
            // The detail may name tables or paths; it goes to the log, not the client.
            tracing::error!(error = %detail, "internal error");
            b.content_type(TEXT_UTF8).body("Internal server error; the region log has the details.")
        }
        _ => b.content_type(TEXT_UTF8).body(e.to_string()),
    }
}
