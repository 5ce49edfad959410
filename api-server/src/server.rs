//! Starting a region: open the datastore, build the handler registry, bind the
//! HTTP and HTTPS servers and the DNS server. Used by the `ironpool` binary and by the integration tests
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
use crate::tls;
use crate::ui;

/// A bound, not yet awaited, region server.
pub struct Region {
    /// The HTTP address.
    pub addr: SocketAddr,
    /// HTTPS, unless turned off.
    pub tls: Option<TlsBound>,
    pub state: Arc<AppState>,
    pub server: actix_web::dev::Server,
    /// This region's node (`regioncontrollers/{system_id}/`).
    pub system_id: String,
}

/// The HTTPS side of a bound region.
pub struct TlsBound {
    pub addr: SocketAddr,
    /// SHA-256 of the certificate served, `AB:CD:…` (what racks pin).
    pub fingerprint: String,
    /// The PEM file clients can be given to trust it.
    pub cert_path: std::path::PathBuf,
}

/// Opens the database (migrating it) and builds the shared state.
pub fn state(config: RegionConfig) -> Result<Arc<AppState>> {
    data_dir::secure(&config.data_dir, &config.database_url)?;
    let db = crate::db::at_rest::open_with(
        &config.database_url,
        crate::db::DbOptions {
            pool_size: config.db_pool_size,
            busy_timeout: std::time::Duration::from_millis(config.db_busy_timeout_ms),
            connect_timeout: std::time::Duration::from_secs(config.db_connect_timeout_secs),
        },
        config.secrets_key()?,
    )?;
    let rack_secret = match db.blocking(engine::racks::ensure_secret) {
        Ok(s) => s,
        // Another region created it at the same moment: read theirs.
        Err(_) => db
            .blocking(engine::racks::secret)?
            .ok_or_else(|| Error::Internal("cannot create the rack secret".into()))?,
    };
    engine::racks::write_secret_file(&config.data_dir, &rack_secret)?;
    // Built-in scripts; a region starting at the same moment may have
    // inserted some first (unique names): the second pass finds them.
    if db.blocking(engine::scripts::seed_builtins).is_err() {
        db.blocking(engine::scripts::seed_builtins)?;
    }
    let images = engine::image_store::ImageStore::new(&config.data_dir);
    engine::image_import::sweep_scratch(&images);
    let files = engine::files::store(&config.data_dir);
    // Nothing is being uploaded yet: what is spooled was left by a crash.
    let spool = crate::spool::Spool::new(&config.data_dir);
    spool.sweep();
    let logins = engine::login_guard::LoginGuard::new(engine::login_guard::LoginLimits {
        max_failures: config.login_max_failures,
        failure_window: std::time::Duration::from_secs(config.login_failure_window_secs),
        lockout: std::time::Duration::from_secs(config.login_lockout_secs),
    });
    let enlistments = engine::rate_limit::EnlistGuard::new(engine::rate_limit::EnlistLimits {
        per_address: config.enlist_max_per_address,
        total: config.enlist_max_total,
        window: std::time::Duration::from_secs(config.enlist_window_secs),
    });
    Ok(Arc::new(AppState {
        metrics: crate::metrics::Metrics::new()?,
        logins,
        enlistments,
        db,
        images,
        files,
        spool,
        config,
        nonces: NonceCache::default(),
        auth_cache: Default::default(),
        sent_configs: Default::default(),
        power: Default::default(),
        dns_addr: Default::default(),
        https_addr: Default::default(),
        rack_secret,
        importer: Default::default(),
        changes: Default::default(),
    }))
}

/// Everything the entry point routes to: the API 2.0 and 1.0 handler
/// tables, then the routers outside them in the order they are tried (the
/// rack link, the metadata API, every other `/MAAS/` page).
pub fn routes() -> Routes {
    let mounts = vec![
        Mount { prefix: ironpool_common::rack_link::RPC_PREFIX, name: "rack_link", run: rack_rpc },
        Mount { prefix: api::metadata::PREFIX, name: "metadata", run: metadata },
        Mount { prefix: api::metrics::PATH, name: "metrics", run: metrics },
        Mount { prefix: api::metrics::MAAS_PATH, name: "metrics", run: metrics },
        Mount { prefix: ui::PREFIX, name: "ui", run: web_ui },
        Mount { prefix: "", name: "site", run: site },
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

fn metrics(
    req: HttpRequest,
    _payload: web::Payload,
    state: Arc<AppState>,
    rest: String,
) -> LocalBoxFuture<'static, HttpResponse> {
    Box::pin(async move { http::router::respond(api::metrics::route(&req, state, &rest).await) })
}

/// The web UI gets the path after `/MAAS/r`.
fn web_ui(
    req: HttpRequest,
    payload: web::Payload,
    state: Arc<AppState>,
    rest: String,
) -> LocalBoxFuture<'static, HttpResponse> {
    Box::pin(async move { ui::route(req, payload, state, rest).await })
}

/// Site pages get the whole path (`/MAAS/api/version/`, `/MAAS/accounts/…`).
fn site(
    req: HttpRequest,
    payload: web::Payload,
    state: Arc<AppState>,
    path: String,
) -> LocalBoxFuture<'static, HttpResponse> {
    Box::pin(async move {
        // MAAS's `/MAAS/` is its web UI; so is ours.
        if ui::is_entry(&path) {
            return ui::to_entry();
        }
        http::router::respond(api::site::route(&req, payload, state, &path).await)
    })
}

/// Binds the HTTP server on `config.listen` and HTTPS on
/// `config.tls_listen_addr()` (one application serves both). The returned server handles
/// SIGINT/SIGTERM itself: it stops accepting, lets in-flight requests finish
/// (up to 30 s), then resolves.
pub fn bind(config: RegionConfig) -> Result<Region> {
    let listen = config.listen.clone();
    let workers = config.http_workers;
    let tls_listen = config.tls_listen_addr();
    let state = state(config)?;
    // Loaded before anything binds: a bad certificate stops the start with
    // its reason instead of leaving a region that only half listens.
    let identity = match &tls_listen {
        Some(_) => Some(tls::load_or_create(&state.config)?),
        None => None,
    };
    if state.config.run_jobs {
        engine::jobs::worker::spawn_worker(
            state.db.clone(),
            state.power.clone(),
            std::time::Duration::from_secs(state.config.power_sync_interval_secs),
        );
    }
    tokio::task::spawn_local(state.changes.clone().run(state.db.clone(), state.config.change_feed_fallback));
    // Content of files/ rows from before it moved to disk, and leftovers.
    tokio::task::spawn_local(engine::files::start(state.db.clone(), state.files.clone()));
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
    server = server.bind(&listen).map_err(|e| Error::Internal(format!("cannot listen on {listen}: {e}")))?;
    if let (Some(tls_listen), Some(identity)) = (&tls_listen, &identity) {
        server = server.bind_rustls_0_23(tls_listen, identity.server_config()?).map_err(|e| {
            Error::Internal(format!(
                "cannot listen for HTTPS on {tls_listen}: {e} (set tls_listen / --tls-listen to another address, or \"off\")"
            ))
        })?;
    }
    let bound = server.addrs_with_scheme();
    let first = |scheme: &str| bound.iter().find(|(_, s)| *s == scheme).map(|(a, _)| *a);
    let addr = first("http").ok_or_else(|| Error::Internal(format!("no address bound for {listen}")))?;
    let tls = match (first("https"), identity) {
        (Some(addr), Some(identity)) => {
            let _ = state.https_addr.set(addr);
            tracing::info!(
                %addr,
                fingerprint = %identity.fingerprint,
                certificate = %identity.cert_path.display(),
                created = identity.created,
                "region HTTPS listening; certificate SHA-256 fingerprint (racks pin it: --region-fingerprint)"
            );
            Some(TlsBound { addr, fingerprint: identity.fingerprint, cert_path: identity.cert_path })
        }
        _ => None,
    };
    // Other regions' commits wake this one's job worker and long polls.
    state.db.listen_for_other_regions();
    // actix stops gracefully on SIGTERM/SIGINT, waiting for requests in
    // flight: racks' long-polled syncs answer at once instead of holding
    // the shutdown for up to their wait.
    let wakeups = state.db.wakeups().clone();
    tokio::task::spawn_local(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut term) = signal(SignalKind::terminate()) else { return };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        wakeups.close();
    });
    let report = region_report(&state, addr, tls.as_ref().map(|t| t.addr));
    let system_id = engine::regions::start(&state.db, &state.config.data_dir, &report)?;
    tokio::task::spawn_local(engine::regions::heartbeat_loop(
        state.db.clone(),
        state.config.data_dir.clone(),
        system_id.clone(),
        report,
    ));
    Ok(Region { addr, tls, state, server: server.run(), system_id })
}

/// What this region runs, as MAAS's service names where the role matches
/// (`regiond`, `bind9` for the DNS server) and Ironpool's own otherwise.
fn region_report(state: &AppState, http: SocketAddr, https: Option<SocketAddr>) -> engine::regions::RegionReport {
    use engine::regions::Service;
    let dns = state.dns_addr.get().copied();
    let services = vec![
        Service::new("regiond", true, format!("HTTP API on {http}")),
        match https {
            Some(a) => Service::new("https", true, format!("HTTPS API on {a}")),
            None => Service::new("https", false, "HTTPS is off (tls_listen)"),
        },
        match dns {
            Some(a) => Service::new("bind9", true, format!("built-in authoritative DNS on {a}")),
            None => Service::new("bind9", false, "DNS is off (dns_bind is empty)"),
        },
        Service::new(
            "jobs",
            state.config.run_jobs,
            if state.config.run_jobs { "runs power and timeout jobs" } else { "jobs run by other regions" },
        ),
    ];
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "region".to_string());
    engine::regions::RegionReport {
        hostname,
        version: env!("CARGO_PKG_VERSION").to_string(),
        url: format!("http://{http}/MAAS/"),
        services,
    }
}
