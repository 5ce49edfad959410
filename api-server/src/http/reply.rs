//! What a handler returns, and how it goes on the wire.
//!
//! MAAS's content types are part of the contract: JSON objects carry
//! `application/json; charset=utf-8`, `describe/` carries exactly
//! `application/json` (the MAAS CLI compares the whole header), and an empty
//! body never carries a JSON type (python-libmaas would try to parse it).

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde_json::Value;

pub const JSON_UTF8: &str = "application/json; charset=utf-8";
pub const TEXT_UTF8: &str = "text/plain; charset=utf-8";

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
    /// No body and no Content-Type (deletes: 204).
    NoContent,
    /// An empty body with another status (file upload: 201).
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
            Reply::NoContent => HttpResponse::NoContent().finish(),
            Reply::Empty(s) => HttpResponse::build(s).finish(),
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

fn json_response(status: StatusCode, ct: &'static str, v: &Value) -> HttpResponse {
    // Compact: MAAS pretty-prints, but no client cares and lists get large.
    let body = v.to_string().into_bytes();
    HttpResponse::build(status).content_type(ct).body(body)
}
