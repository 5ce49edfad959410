//! Starting a region: open the datastore, build the handler registry, bind the
//! HTTP server and the DNS server. Used by the `ironpool` binary and by the integration tests
//! (which bind port 0).

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};

use crate::config::RegionConfig;
use crate::db::Datastore;
use crate::error::{Error, Result};
use crate::http::{self, oauth::NonceCache, registry::Registry, AppState};

/// A bound, not yet awaited, region server.
pub struct Region {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    pub server: actix_web::dev::Server,
}

/// Opens the database (migrating it) and builds the shared state.
pub fn state(config: RegionConfig) -> Result<Arc<AppState>> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| Error::Internal(format!("cannot create data dir {}: {e}", config.data_dir.display())))?;
    let db = Datastore::open(&config.database_url, config.db_pool_size)?;
    let rack_secret = match db.blocking(crate::engine::racks::ensure_secret) {
        Ok(s) => s,
        // Another region created it at the same moment: read theirs.
        Err(_) => db
            .blocking(crate::engine::racks::secret)?
            .ok_or_else(|| Error::Internal("cannot create the rack secret".into()))?,
    };
    crate::engine::racks::write_secret_file(&config.data_dir, &rack_secret)?;
    let registry = Registry::new(crate::api::handlers());
    let registry_v1 = Registry::new(crate::api::v1::handlers());
    let images = crate::engine::image_store::ImageStore::new(&config.data_dir);
    Ok(Arc::new(AppState {
        db,
        images,
        config,
        registry,
        registry_v1,
        nonces: NonceCache::default(),
        power: Default::default(),
        dns_addr: Default::default(),
        rack_secret,
        importer: Default::default(),
    }))
}

/// Binds the HTTP server on `config.listen`. The returned server handles
/// SIGINT/SIGTERM itself: it stops accepting, lets in-flight requests finish
/// (up to 30 s), then resolves.
pub fn bind(config: RegionConfig) -> Result<Region> {
    let listen = config.listen.clone();
    let workers = config.http_workers;
    let state = state(config)?;
    if state.config.run_jobs {
        crate::engine::jobs::spawn_worker(
            state.db.clone(),
            state.power.clone(),
            std::time::Duration::from_secs(state.config.power_sync_interval_secs),
        );
    }
    if !state.config.dns_bind.is_empty() {
        let addr = crate::dns::start(&state.config.dns_bind, state.db.clone())?;
        let _ = state.dns_addr.set(addr);
    }
    let data = web::Data::from(state.clone());
    let mut server = HttpServer::new(move || {
        App::new().app_data(data.clone()).wrap(from_fn(http::log_request)).default_service(web::to(http::entry))
    })
    .shutdown_timeout(30);
    if workers > 0 {
        server = server.workers(workers);
    }
    let server = server.bind(&listen).map_err(|e| Error::Internal(format!("cannot listen on {listen}: {e}")))?;
    let addr = *server.addrs().first().ok_or_else(|| Error::Internal(format!("no address bound for {listen}")))?;
    Ok(Region { addr, state, server: server.run() })
}
