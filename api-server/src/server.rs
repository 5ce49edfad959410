//! Starting a region: open the datastore, build the handler registry, bind the
//! HTTP server and the DNS server. Used by the `ironpool` binary and by the integration tests
//! (which bind port 0).

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use futures_util::future::LocalBoxFuture;

use crate::api;
use crate::config::RegionConfig;
use crate::data_dir;
use crate::dns;
use crate::engine;
use crate::error::{Error, Result};
use crate::http;
use crate::http::oauth::NonceCache;
use crate::http::registry::Registry;
use crate::http::router::{Mount, Routes};
use crate::http::AppState;
use crate::rpc;

/// A bound, not yet awaited, region server.
pub struct Region {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    pub server: actix_web::dev::Server,
}

/// Opens the database (migrating it) and builds the shared state.
pub fn state(config: RegionConfig) -> Result<Arc<AppState>> {
    data_dir::secure(&config.data_dir, &config.database_url)?;
    let db = crate::db::at_rest::open(&config.database_url, config.db_pool_size, config.secrets_key()?)?;
    let rack_secret = match db.blocking(engine::racks::ensure_secret) {
        Ok(s) => s,
        // Another region created it at the same moment: read theirs.
        Err(_) => db
            .blocking(engine::racks::secret)?
            .ok_or_else(|| Error::Internal("cannot create the rack secret".into()))?,
    };
    engine::racks::write_secret_file(&config.data_dir, &rack_secret)?;
    let images = engine::image_store::ImageStore::new(&config.data_dir);
    let logins = engine::login_guard::LoginGuard::new(engine::login_guard::LoginLimits {
        max_failures: config.login_max_failures,
        failure_window: std::time::Duration::from_secs(config.login_failure_window_secs),
        lockout: std::time::Duration::from_secs(config.login_lockout_secs),
    });
    Ok(Arc::new(AppState {
        logins,
        db,
        images,
        config,
        nonces: NonceCache::default(),
        power: Default::default(),
        dns_addr: Default::default(),
        rack_secret,
        importer: Default::default(),
    }))
}

/// Everything the entry point routes to: the API 2.0 and 1.0 handler
/// tables, then the routers outside them in the order they are tried (the
/// rack link, the metadata API, every other `/MAAS/` page).
pub fn routes() -> Routes {
    let mounts = vec![
        Mount { prefix: ironpool_common::rack_link::RPC_PREFIX, run: rack_rpc },
        Mount { prefix: api::metadata::PREFIX, run: metadata },
        Mount { prefix: "", run: site },
    ];
    Routes { registry: Registry::new(api::handlers()), registry_v1: Registry::new(api::v1::handlers()), mounts }
}

fn rack_rpc(
    req: HttpRequest,
    payload: web::Payload,
    state: Arc<AppState>,
    call: String,
) -> LocalBoxFuture<'static, HttpResponse> {
    Box::pin(async move { rpc::handle(&req, payload, state, &call).await })
}

fn metadata(
    req: HttpRequest,
    payload: web::Payload,
    state: Arc<AppState>,
    rel: String,
) -> LocalBoxFuture<'static, HttpResponse> {
    Box::pin(async move { http::router::respond(api::metadata::route(&req, payload, state, &rel).await) })
}

/// Site pages get the whole path (`/MAAS/api/version/`, `/MAAS/accounts/…`).
fn site(
    req: HttpRequest,
    payload: web::Payload,
    state: Arc<AppState>,
    path: String,
) -> LocalBoxFuture<'static, HttpResponse> {
    Box::pin(async move { http::router::respond(api::site::route(&req, payload, state, &path).await) })
}

/// Binds the HTTP server on `config.listen`. The returned server handles
/// SIGINT/SIGTERM itself: it stops accepting, lets in-flight requests finish
/// (up to 30 s), then resolves.
pub fn bind(config: RegionConfig) -> Result<Region> {
    let listen = config.listen.clone();
    let workers = config.http_workers;
    let state = state(config)?;
    if state.config.run_jobs {
        engine::jobs::worker::spawn_worker(
            state.db.clone(),
            state.power.clone(),
            std::time::Duration::from_secs(state.config.power_sync_interval_secs),
        );
    }
    if !state.config.dns_bind.is_empty() {
        let addr = dns::start(&state.config.dns_bind, state.db.clone())?;
        let _ = state.dns_addr.set(addr);
    }
    let data = web::Data::from(state.clone());
    let routes = web::Data::new(routes());
    let pace = state.config.body_pace;
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(routes.clone())
            .app_data(pace)
            .wrap(from_fn(ironpool_common::http_body::paced_bodies))
            .wrap(from_fn(http::router::log_request))
            .default_service(web::to(http::router::entry))
    })
    // Idle keep-alive connections are closed after 75 s (nginx's default),
    // not actix's 5 s: a client that reuses a pooled connection just as the
    // server closes it gets "connection closed without response", and
    // python-requests (libmaas, the maas CLI) does not retry. A busy test
    // run hit exactly that; clients pause for seconds between calls.
    .keep_alive(std::time::Duration::from_secs(75))
    .shutdown_timeout(30);
    if workers > 0 {
        server = server.workers(workers);
    }
    let server = server.bind(&listen).map_err(|e| Error::Internal(format!("cannot listen on {listen}: {e}")))?;
    let addr = *server.addrs().first().ok_or_else(|| Error::Internal(format!("no address bound for {listen}")))?;
    Ok(Region { addr, state, server: server.run() })
}
