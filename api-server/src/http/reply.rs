//! What a handler returns, and how it goes on the wire.
//!
//! MAAS's content types are part of the contract: JSON objects carry
//! `application/json; charset=utf-8`, `describe/` carries exactly
//! `application/json` (the MAAS CLI compares the whole header), and an empty
//! body never carries a JSON type (python-libmaas would try to parse it) but
//! always carries one: the MAAS CLI reads Content-Type on every response and
//! fails without it, and MAAS (piston's `rc.DELETED`) sends `text/plain`.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde_json::Value;

pub const JSON_UTF8: &str = "application/json; charset=utf-8";
pub const TEXT_UTF8: &str = "text/plain; charset=utf-8";
/// What an empty body is labelled with: piston's exact header for 204.
pub const TEXT_PLAIN: &str = "text/plain";

#[derive(Debug)]
pub enum Reply {
    /// A JSON document, 200.
    Json(Value),
    /// A JSON document with another status (201 for SSH key creation).
    JsonStatus(StatusCode, Value),
    /// A JSON page with a `Link: <…>; rel="next"` header (Ironpool's
    /// optional pagination; MAAS clients never ask for it).
    JsonLinked(Value, String),
    /// Already-serialised JSON (large lists), with an optional next-page link.
    JsonBytes(Vec<u8>, Option<String>),
    /// JSON with the bare `application/json` type (`describe/`).
    JsonBare(Value),
    /// A plain-text body (`OK`, `Accepted`).
    Text(StatusCode, String),
    /// No body, `text/plain` (deletes: 204).
    NoContent,
    /// An empty `text/plain` body with another status (file upload: 201).
    Empty(StatusCode),
    /// Raw bytes with their content type.
    Bytes(&'static str, Vec<u8>),
    /// A file's content streamed from disk (`files/`): raw, or with `wrap`
    /// base64-encoded between a prefix and a suffix (MAAS's JSON shape,
    /// whose `content` field would otherwise be built whole in memory).
    File { content_type: &'static str, file: std::fs::File, len: u64, wrap: Option<(Vec<u8>, Vec<u8>)> },
}

impl Reply {
    pub fn json(v: impl serde::Serialize) -> Reply {
        // Callers pass views and inputs with derived `Serialize` and string
        // keys, which serde_json cannot fail to turn into a value.
        #[allow(clippy::expect_used)]
        Reply::Json(serde_json::to_value(v).expect("API objects serialise"))
    }

    /// The reply's JSON document, parsed back if it was pre-serialised.
    pub fn into_json(self) -> Option<Value> {
        match self {
            Reply::Json(v) | Reply::JsonStatus(_, v) | Reply::JsonLinked(v, _) | Reply::JsonBare(v) => Some(v),
            Reply::JsonBytes(b, _) => serde_json::from_slice(&b).ok(),
            _ => None,
        }
    }

    pub fn into_response(self) -> HttpResponse {
        match self {
            Reply::Json(v) => json_response(StatusCode::OK, JSON_UTF8, &v),
            Reply::JsonStatus(s, v) => json_response(s, JSON_UTF8, &v),
            Reply::JsonLinked(v, link) => {
                let mut r = json_response(StatusCode::OK, JSON_UTF8, &v);
                if let Ok(h) = actix_web::http::header::HeaderValue::from_str(&link) {
                    r.headers_mut().insert(actix_web::http::header::LINK, h);
                }
                r
            }
            Reply::JsonBytes(b, link) => {
                let mut r = HttpResponse::Ok().content_type(JSON_UTF8).body(b);
                if let Some(h) = link.and_then(|l| actix_web::http::header::HeaderValue::from_str(&l).ok()) {
                    r.headers_mut().insert(actix_web::http::header::LINK, h);
                }
                r
            }
            Reply::JsonBare(v) => json_response(StatusCode::OK, "application/json", &v),
            Reply::Text(s, t) => HttpResponse::build(s).content_type(TEXT_UTF8).body(t),
            Reply::NoContent => empty(StatusCode::NO_CONTENT),
            Reply::Empty(s) => empty(s),
            Reply::Bytes(ct, b) => HttpResponse::Ok().content_type(ct).body(b),
            Reply::File { content_type, file, len, wrap } => file_response(content_type, file, len, wrap),
        }
    }
}

/// Streams a file in blocks (64 KiB of base64 at most in memory per
/// response), with its exact length as Content-Length.
fn file_response(
    content_type: &'static str,
    file: std::fs::File,
    len: u64,
    wrap: Option<(Vec<u8>, Vec<u8>)>,
) -> HttpResponse {
    use actix_web::web::Bytes;
    use base64::Engine as _;
    use futures_util::stream::{self, StreamExt};
    use tokio::io::AsyncReadExt;

    // A multiple of 3, so the base64 of consecutive blocks is the base64 of
    // the whole.
    const BLOCK: usize = 48 * 1024;
    let encode = wrap.is_some();
    let (prefix, suffix) = wrap.unwrap_or_default();
    let body_len = if encode { prefix.len() as u64 + len.div_ceil(3) * 4 + suffix.len() as u64 } else { len };
    let content = stream::unfold(Some(tokio::fs::File::from_std(file)), move |f| async move {
        let mut f = f?;
        let mut buf = vec![0u8; BLOCK];
        let mut n = 0;
        while n < BLOCK {
            match f.read(&mut buf[n..]).await {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) => return Some((Err(e), None)),
            }
        }
        if n == 0 {
            return None;
        }
        buf.truncate(n);
        let piece = if encode { base64::engine::general_purpose::STANDARD.encode(&buf).into_bytes() } else { buf };
        Some((Ok(Bytes::from(piece)), Some(f)))
    });
    let body = stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(prefix)) })
        .chain(content)
        .chain(stream::once(async move { Ok(Bytes::from(suffix)) }))
        .filter(|r| std::future::ready(!r.as_ref().is_ok_and(|b| b.is_empty())));
    HttpResponse::Ok().content_type(content_type).body(actix_web::body::SizedStream::new(body_len, body.boxed_local()))
}

/// An empty body still says what it is (see the module doc).
pub fn empty(status: StatusCode) -> HttpResponse {
    HttpResponse::build(status).content_type(TEXT_PLAIN).finish()
}

fn json_response(status: StatusCode, ct: &'static str, v: &Value) -> HttpResponse {
    // Compact: MAAS pretty-prints, but no client cares and lists get large.
    let body = v.to_string().into_bytes();
    HttpResponse::build(status).content_type(ct).body(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use actix_web::http::header::CONTENT_TYPE;

    /// One of each reply; the match makes a new variant fail to compile
    /// here until it is added to the list.
    fn every_reply() -> Vec<Reply> {
        let file = || std::fs::File::open("Cargo.toml").unwrap();
        let all = vec![
            Reply::Json(serde_json::json!({})),
            Reply::JsonStatus(StatusCode::CREATED, serde_json::json!({})),
            Reply::JsonLinked(serde_json::json!([]), "<x>; rel=\"next\"".into()),
            Reply::JsonBytes(b"[]".to_vec(), None),
            Reply::JsonBare(serde_json::json!({})),
            Reply::Text(StatusCode::OK, "OK".into()),
            Reply::NoContent,
            Reply::Empty(StatusCode::CREATED),
            Reply::Bytes("application/octet-stream", vec![1]),
            Reply::File { content_type: "application/octet-stream", file: file(), len: 1, wrap: None },
        ];
        for r in &all {
            match r {
                Reply::Json(_)
                | Reply::JsonStatus(..)
                | Reply::JsonLinked(..)
                | Reply::JsonBytes(..)
                | Reply::JsonBare(_)
                | Reply::Text(..)
                | Reply::NoContent
                | Reply::Empty(_)
                | Reply::Bytes(..)
                | Reply::File { .. } => {}
            }
        }
        all
    }

    fn every_error() -> Vec<Error> {
        let all = vec![
            Error::BadRequest("x".into()),
            Error::Validation(Default::default()),
            Error::Unauthorized("x".into()),
            Error::OAuth("x".into()),
            Error::Forbidden("x".into()),
            Error::NotFound("Machine"),
            Error::Conflict("x".into()),
            Error::Gone("x".into()),
            Error::Unavailable("x".into()),
            Error::NotFoundText("x".into()),
            Error::UnknownEndpoint("x".into()),
            Error::UnrecognisedSignature { method: "GET".into(), op: "x".into() },
            Error::MethodNotAllowed { allow: vec!["GET"] },
            Error::PayloadTooLarge { limit: 1 },
            Error::TooManyRequests { retry_after_secs: 1, message: "x".into() },
            Error::RetryLater { retry_after_secs: 1, message: "x".into() },
            Error::RequestTimeout,
            Error::Internal("x".into()),
        ];
        for e in &all {
            match e {
                Error::BadRequest(_)
                | Error::Validation(_)
                | Error::Unauthorized(_)
                | Error::OAuth(_)
                | Error::Forbidden(_)
                | Error::NotFound(_)
                | Error::Conflict(_)
                | Error::Gone(_)
                | Error::Unavailable(_)
                | Error::NotFoundText(_)
                | Error::UnknownEndpoint(_)
                | Error::UnrecognisedSignature { .. }
                | Error::MethodNotAllowed { .. }
                | Error::PayloadTooLarge { .. }
                | Error::TooManyRequests { .. }
                | Error::RetryLater { .. }
                | Error::RequestTimeout
                | Error::Internal(_) => {}
            }
        }
        all
    }

    /// The MAAS CLI reads Content-Type on every response: no reply and no
    /// error may go out without one, and an empty one is never JSON.
    #[actix_web::test]
    async fn every_reply_and_error_has_a_content_type() {
        let errors = every_error();
        let responses = every_reply()
            .into_iter()
            .map(|r| (format!("{r:?}"), r.into_response()))
            .chain(errors.iter().map(|e| (format!("{e:?}"), crate::http::error::to_response(e))));
        for (what, resp) in responses {
            let ct = resp.headers().get(CONTENT_TYPE).unwrap_or_else(|| panic!("{what}: no Content-Type"));
            let ct = ct.to_str().unwrap().to_string();
            let body = actix_web::body::to_bytes(resp.into_body()).await.ok().unwrap();
            if body.is_empty() {
                assert!(!ct.contains("json"), "{what}: empty body labelled {ct}");
            }
        }
    }

    #[test]
    fn deletes_are_204_text_plain_as_piston_sends() {
        let r = Reply::NoContent.into_response();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(r.headers().get(CONTENT_TYPE).unwrap(), "text/plain");
    }
}
