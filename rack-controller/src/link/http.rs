//! The rack's HTTP boot server (MAAS's port 5248): iPXE scripts rendered
//! from the cached boot configuration, boot files from the rack's cache
//! (fetched from the region on first use, with byte ranges), and `/MAAS/…`
//! proxied to the region for machines that only reach the rack.
//!
//! Request bodies keep a pace ([`HttpLimits::pace`]) and the proxy buffers
//! at most [`HttpLimits::max_body`] bytes of one (less without
//! credentials); the rack link (`/MAAS/rpc/`) is never proxied, however
//! its path is spelled.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use ironpool_common::http_body::{self, Pace, ReadError};
use ironpool_common::http_files::serve_file;
use ironpool_common::rack_link::BootEvent;

use super::boot;
use super::client::RegionClient;
use super::state::RackState;

/// What the boot HTTP server accepts in request bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Largest body the proxy forwards for a caller that offers OAuth
    /// credentials (a machine posting its commissioning results; the
    /// region's metadata limit).
    pub max_body: usize,
    /// Largest body the proxy forwards for a caller that offers none
    /// (enlistment), as the region's own anonymous limit.
    pub max_anonymous_body: usize,
    /// How fast a body must arrive (else 408).
    pub pace: Pace,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits { max_body: 16 << 20, max_anonymous_body: 1 << 20, pace: Pace::default() }
    }
}

struct Shared {
    state: Arc<RackState>,
    client: Arc<RegionClient>,
    cache_dir: PathBuf,
    limits: HttpLimits,
}

/// Binds the boot HTTP server; the returned server runs until stopped.
pub fn bind(
    listen: SocketAddr,
    state: Arc<RackState>,
    client: Arc<RegionClient>,
    cache_dir: PathBuf,
    limits: HttpLimits,
) -> std::io::Result<(SocketAddr, actix_web::dev::Server)> {
    let shared = web::Data::new(Shared { state, client, cache_dir, limits });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(shared.clone())
            .app_data(limits.pace)
            .wrap(from_fn(http_body::paced_bodies))
            .wrap(from_fn(count_responses))
            .route("/ipxe.cfg", web::get().to(chain))
            .route("/ipxe.cfg-{key}", web::get().to(per_mac))
            .route("/images/{sha256}", web::get().to(image))
            .route("/images/{sha256}", web::head().to(image))
            .default_service(web::to(proxy_or_404))
    })
    .workers(2)
    .disable_signals()
    .shutdown_timeout(5)
    .bind(listen)?;
    let addr = *server.addrs().first().ok_or_else(|| std::io::Error::other("no address bound"))?;
    Ok((addr, server.run()))
}

/// The route a request path takes, as the metrics name it (a fixed set, never
/// the raw path).
fn route_of(path: &str) -> &'static str {
    if path == "/ipxe.cfg" {
        "chain"
    } else if path.starts_with("/ipxe.cfg-") {
        "script"
    } else if path.starts_with("/images/") {
        "image"
    } else if forwarded_path(path).is_some() {
        "proxy"
    } else {
        "other"
    }
}

/// Counts each response by route and status (the rack's `/metrics`).
async fn count_responses(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let route = route_of(req.path());
    let state = req.app_data::<web::Data<Shared>>().map(|s| s.state.clone());
    let res = next.call(req).await;
    if let Some(state) = state {
        let status = match &res {
            Ok(r) => r.status(),
            Err(e) => e.as_response_error().status_code(),
        };
        state.http_response(route, status.as_u16());
    }
    res
}

/// `http://<host as the client addressed us>`.
fn base(req: &HttpRequest) -> (String, String) {
    let host = req.connection_info().host().to_string();
    (format!("http://{host}"), host)
}

fn text(body: String) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(body)
}

async fn chain(req: HttpRequest) -> HttpResponse {
    text(boot::chain_script(&base(&req).0))
}

async fn per_mac(req: HttpRequest, key: web::Path<String>, s: web::Data<Shared>) -> HttpResponse {
    let Some(cfg) = s.state.config() else {
        // Never synced and nothing cached: the machine retries on its own.
        return HttpResponse::ServiceUnavailable().body("The rack has no boot configuration from a region yet.");
    };
    let (http_base, host) = base(&req);
    let mac = if key.starts_with("default") { None } else { boot::mac_of_request(&key) };
    if mac.is_none() && !key.starts_with("default") {
        return HttpResponse::NotFound().body(format!("'{key}' is not a MAC address."));
    }
    let rack = host.clone();
    if let (Some(m), Some(SocketAddr::V4(peer))) = (&mac, req.peer_addr()) {
        s.state.boot_event(BootEvent { mac: m.clone(), file: format!("ipxe.cfg-{m}"), ip: *peer.ip() });
    }
    text(boot::ipxe_script(&cfg.boot, mac.as_deref(), &http_base, &rack))
}

async fn image(req: HttpRequest, sha: web::Path<String>, s: web::Data<Shared>) -> HttpResponse {
    let sha = sha.into_inner().to_ascii_lowercase();
    let Some(r) = s.state.image_ref(&sha) else {
        return HttpResponse::NotFound().body(format!("No boot file {sha} is configured on this rack."));
    };
    let path = s.cache_dir.join(&sha);
    if tokio::fs::metadata(&path).await.is_err() {
        // One download per file at a time; concurrent requests wait for it.
        let lock = s.state.download_lock(&sha);
        let _g = lock.lock().await;
        if tokio::fs::metadata(&path).await.is_err() {
            if let Err(e) = s.client.fetch_image(&sha, r.size, &path).await {
                tracing::warn!(sha256 = %sha, error = %e, "cannot fetch boot file from the region");
                return HttpResponse::ServiceUnavailable()
                    .insert_header((header::RETRY_AFTER, "10"))
                    .body(format!("Boot file {sha} is not cached and the region did not provide it: {e}"));
            }
        }
    }
    serve_file(&req, path, r.size).await
}

/// The path and query the rack forwards for a request target: the target
/// as the HTTP client sends it (it resolves dot segments and reads `\` as
/// `/` when it builds the URL). `None` when the rack does not forward it,
/// judged on the path as the region's router will see it (runs of `/`
/// collapsed, as the region does): anything outside `/MAAS/`, and the rack
/// link however it is spelled. The forwarded path keeps its slashes, so
/// that HMAC signatures over it still verify.
pub fn forwarded_path(target: &str) -> Option<String> {
    let url = reqwest::Url::parse(&format!("http://rack{target}")).ok()?;
    let mut routed = String::with_capacity(url.path().len());
    for ch in url.path().chars() {
        if ch == '/' && routed.ends_with('/') {
            continue;
        }
        routed.push(ch);
    }
    if !routed.starts_with("/MAAS/") || routed == "/MAAS/rpc" || routed.starts_with("/MAAS/rpc/") {
        return None;
    }
    let mut forwarded = url.path().to_string();
    if let Some(q) = url.query() {
        forwarded.push('?');
        forwarded.push_str(q);
    }
    Some(forwarded)
}

/// Whether a request offers OAuth credentials the region may accept (the
/// rack cannot check them; it only grants such requests the larger limit).
fn offers_credentials(req: &HttpRequest) -> bool {
    req.headers().contains_key(header::AUTHORIZATION)
        || req.query_string().split('&').any(|kv| kv.starts_with("oauth_"))
}

async fn proxy_or_404(req: HttpRequest, mut payload: web::Payload, s: web::Data<Shared>) -> HttpResponse {
    let target = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let Some(path) = forwarded_path(target) else {
        return HttpResponse::NotFound().body(format!("{} is not served by the rack.", req.path()));
    };
    let limit = if offers_credentials(&req) { s.limits.max_body } else { s.limits.max_anonymous_body };
    let body = match http_body::read_limited(req.headers(), &mut payload, limit).await {
        Ok(b) => b,
        Err(ReadError::TooLarge { limit }) => {
            return HttpResponse::PayloadTooLarge()
                .body(format!("Request body too large: the rack forwards at most {limit} bytes."))
        }
        Err(ReadError::TimedOut) => {
            return HttpResponse::RequestTimeout().body("The request body did not arrive in time.")
        }
        Err(ReadError::Broken(e)) => return HttpResponse::BadRequest().body(format!("cannot read request body: {e}")),
    };
    let Ok(method) = reqwest::Method::from_bytes(req.method().as_str().as_bytes()) else {
        return HttpResponse::MethodNotAllowed().finish();
    };
    let mut headers = reqwest::header::HeaderMap::new();
    // Each header as actix names it and as reqwest does (the two use
    // different versions of the `http` crate).
    for (name, out) in [
        (header::AUTHORIZATION, reqwest::header::AUTHORIZATION),
        (header::CONTENT_TYPE, reqwest::header::CONTENT_TYPE),
        (header::ACCEPT, reqwest::header::ACCEPT),
        (header::USER_AGENT, reqwest::header::USER_AGENT),
    ] {
        if let Some(v) =
            req.headers().get(&name).and_then(|v| reqwest::header::HeaderValue::from_bytes(v.as_bytes()).ok())
        {
            headers.insert(out, v);
        }
    }
    // The region writes URLs (metadata_url, webhook) as the machine reached
    // it: tell it the rack's address the machine used, not the rack's own
    // route to the region.
    if let Ok(v) = reqwest::header::HeaderValue::from_str(req.connection_info().host()) {
        headers.insert(reqwest::header::HeaderName::from_static("x-forwarded-host"), v);
    }
    if let Ok(v) = reqwest::header::HeaderValue::from_str(req.connection_info().scheme()) {
        headers.insert(reqwest::header::HeaderName::from_static("x-forwarded-proto"), v);
    }
    match s.client.forward(method, &path, headers, body).await {
        Ok(r) => {
            let status = StatusCode::from_u16(r.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let ctype =
                r.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
            let bytes = r.bytes().await.unwrap_or_default();
            let mut out = HttpResponse::build(status);
            if let Some(c) = ctype {
                out.content_type(c);
            }
            out.body(bytes)
        }
        Err(e) => HttpResponse::BadGateway().body(format!("The region is not reachable from this rack: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::forwarded_path;

    #[test]
    fn the_rack_link_is_never_forwarded_however_spelled() {
        for target in [
            "/MAAS/rpc/v1/sync",
            "//MAAS/rpc/v1/sync",
            "/MAAS//rpc/v1/sync",
            "///MAAS///rpc///v1/sync",
            "/MAAS/api/../rpc/v1/sync",
            "/MAAS/api/%2e%2e/rpc/v1/sync",
            "/MAAS/./rpc/v1/sync",
            "/MAAS\\rpc\\v1\\sync",
            "/x/../MAAS/rpc/v1/sync?a=b",
            "/MAAS/rpc",
            "/other/",
            "/",
        ] {
            assert_eq!(forwarded_path(target), None, "{target}");
        }
    }

    #[test]
    fn forwarded_paths_are_what_the_http_client_sends() {
        assert_eq!(forwarded_path("/MAAS/metadata/latest/").as_deref(), Some("/MAAS/metadata/latest/"));
        assert_eq!(forwarded_path("//MAAS//metadata/").as_deref(), Some("//MAAS//metadata/"));
        assert_eq!(
            forwarded_path("/MAAS/api/2.0/machines/?op=is_registered&mac_address=aa").as_deref(),
            Some("/MAAS/api/2.0/machines/?op=is_registered&mac_address=aa")
        );
        assert_eq!(forwarded_path("/MAAS/api/2.0/../2.0/version/").as_deref(), Some("/MAAS/api/2.0/version/"));
    }
}
