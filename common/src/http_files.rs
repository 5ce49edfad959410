//! Serving a file over actix-web with HTTP ranges: the rack serves boot
//! files from its cache with it, the region serves its image store to
//! racks. Behind the `http-files` feature, so crates that do not serve
//! HTTP (the agent) do not link actix-web.

use std::path::PathBuf;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// Streams `path` (`size` bytes) honouring a single `Range: bytes=a-b`
/// request; HEAD gets the headers only.
pub async fn serve_file(req: &HttpRequest, path: PathBuf, size: u64) -> HttpResponse {
    let range = req.headers().get(header::RANGE).and_then(|v| v.to_str().ok()).map(|v| parse_range(v, size));
    let (start, end, status) = match range {
        None => (0, size, StatusCode::OK),
        Some(Some((a, b))) => (a, b, StatusCode::PARTIAL_CONTENT),
        Some(None) => {
            return HttpResponse::RangeNotSatisfiable()
                .insert_header((header::CONTENT_RANGE, format!("bytes */{size}")))
                .finish()
        }
    };
    let mut resp = HttpResponse::build(status);
    resp.content_type("application/octet-stream").insert_header((header::ACCEPT_RANGES, "bytes"));
    if status == StatusCode::PARTIAL_CONTENT {
        resp.insert_header((header::CONTENT_RANGE, format!("bytes {start}-{}/{size}", end - 1)));
    }
    if req.method() == actix_web::http::Method::HEAD {
        return resp.no_chunking(end - start).finish();
    }
    let mut f = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) => return HttpResponse::InternalServerError().body(format!("cannot read cached boot file: {e}")),
    };
    if f.seek(std::io::SeekFrom::Start(start)).await.is_err() {
        return HttpResponse::InternalServerError().body("cannot seek in cached boot file");
    }
    let stream = futures_util::stream::unfold((f, end - start), |(mut f, left)| async move {
        if left == 0 {
            return None;
        }
        let mut buf = vec![0u8; (left.min(256 * 1024)) as usize];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(web::Bytes::from(buf)), (f, left - n as u64)))
            }
            Err(e) => Some((Err(e), (f, 0))),
        }
    });
    resp.no_chunking(end - start).streaming(stream)
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n` → half-open `[start, end)`; `None`
/// when unsatisfiable. Multiple ranges are not supported (nor needed by
/// boot loaders); they get the first one.
pub fn parse_range(v: &str, size: u64) -> Option<(u64, u64)> {
    let spec = v.strip_prefix("bytes=")?.split(',').next()?.trim();
    let (a, b) = spec.split_once('-')?;
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        (size.saturating_sub(n), size)
    } else {
        let a: u64 = a.parse().ok()?;
        let e = if b.is_empty() { size } else { b.parse::<u64>().ok()?.saturating_add(1).min(size) };
        (a, e)
    };
    (start < end && start < size).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 10)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 100)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 100)));
        assert_eq!(parse_range("bytes=50-500", 100), Some((50, 100)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=9-3", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }
}
