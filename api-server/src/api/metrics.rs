//! `GET /metrics` and `/MAAS/metrics`: the region's Prometheus series
//! (`crate::metrics`), unauthenticated like MAAS's, and limited by
//! `metrics_access` (default: loopback only; see `config::MetricsAccess`).

use std::sync::Arc;

use actix_web::HttpRequest;

use crate::config::MetricsAccess;
use crate::error::{Error, Result};
use crate::http::reply::Reply;
use crate::http::AppState;
use crate::metrics;

/// Where Prometheus scrapes by default.
pub const PATH: &str = "/metrics";
/// Where MAAS serves its metrics.
pub const MAAS_PATH: &str = "/MAAS/metrics";

/// Serves the exposition; `rest` is what follows the mount's prefix.
pub async fn route(req: &HttpRequest, state: Arc<AppState>, rest: &str) -> Result<Reply> {
    if !matches!(rest, "" | "/") {
        return Err(Error::UnknownEndpoint(req.path().to_string()));
    }
    match state.config.metrics_access {
        MetricsAccess::Off => return Err(Error::UnknownEndpoint(req.path().to_string())),
        MetricsAccess::Loopback if !req.peer_addr().is_some_and(|a| a.ip().is_loopback()) => {
            return Err(Error::Forbidden(
                "Metrics are served to loopback clients only; set metrics_access = \"any\" in the region's \
                 configuration to let a remote Prometheus scrape them."
                    .into(),
            ))
        }
        MetricsAccess::Loopback | MetricsAccess::Any => {}
    }
    if req.method() != actix_web::http::Method::GET {
        return Err(Error::MethodNotAllowed { allow: vec!["GET"] });
    }
    let text = state.metrics.render(&state.db).await?;
    Ok(Reply::Bytes(metrics::CONTENT_TYPE, text.into_bytes()))
}
