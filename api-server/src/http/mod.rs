//! The HTTP layer: one entry point that normalises the path, routes it through
//! the handler [`registry`], authenticates, decodes parameters, runs the
//! action and renders its [`reply`] or [`error`].
//!
//! Routing is our own rather than actix's so that MAAS's URL rules hold exactly:
//! a missing trailing slash is a 404 with MAAS's text (never a redirect), `op`
//! is taken from the `op-<name>` path suffix, the query string or the body, a
//! wrong method/op pair is a 400 `Unrecognised signature`, and anonymous
//! handlers sit beside authenticated ones as in MAAS (`maas-api.md` §1).

pub mod error;
pub mod oauth;
pub mod openapi;
pub mod paging;
pub mod params;
pub mod registry;
pub mod reply;
pub mod router;
pub mod schemas;

use std::sync::Arc;

use actix_web::web;

use crate::config::RegionConfig;
use crate::db::users::User;
use crate::db::Datastore;
use crate::engine;
use crate::error::{Error, Result};
use params::Params;

/// Shared state of a running region.
pub struct AppState {
    pub db: Datastore,
    pub config: RegionConfig,
    pub nonces: oauth::NonceCache,
    /// Recent OAuth token lookups (`oauth::AuthCache`).
    pub auth_cache: oauth::AuthCache,
    /// The configuration last sent to each rack, for deltas.
    pub sent_configs: std::sync::Arc<crate::engine::racks::SentConfigs>,
    /// The power drivers this process runs (embedded rack).
    pub power: engine::power::PowerHub,
    /// Where the DNS server listens, once started (tests query it).
    pub dns_addr: std::sync::OnceLock<std::net::SocketAddr>,
    /// Where HTTPS listens, once bound (`None` while off).
    pub https_addr: std::sync::OnceLock<std::net::SocketAddr>,
    /// The secret racks sign with (`<data_dir>/secret`).
    pub rack_secret: String,
    /// Boot-resource contents on disk under the data dir.
    pub images: engine::image_store::ImageStore,
    /// `files/` contents on disk under the data dir (engine::files).
    pub files: engine::image_store::ImageStore,
    /// Where streamed uploads are written while they arrive.
    pub spool: crate::spool::Spool,
    /// The boot-resource importer (one import at a time).
    pub importer: Arc<engine::image_import::Importer>,
    /// Failed password logins per username and source address.
    pub logins: engine::login_guard::LoginGuard,
    /// Anonymous enlistments per source address and in total.
    pub enlistments: engine::rate_limit::EnlistGuard,
    /// The Prometheus series `/metrics` serves.
    pub metrics: crate::metrics::Metrics,
    /// Node and event changes, for pages that update live (the web UI).
    pub changes: engine::changes::ChangeFeed,
}

/// Everything an action gets: the caller, the decoded parameters, the state.
pub struct Ctx {
    pub state: Arc<AppState>,
    /// The authenticated caller; `None` only in anonymous handlers.
    pub user: Option<User>,
    pub path_params: Vec<(String, String)>,
    pub params: Params,
    /// `scheme://host[:port]` as the client addressed us (for absolute URIs).
    pub origin: String,
    /// The unread request body, for actions that stream it (`raw_body`) and
    /// were sent `application/octet-stream`; otherwise the body was decoded
    /// into `params`.
    pub body: Option<web::Payload>,
    /// The TCP peer's address (never a forwarded-for header, which a
    /// client could forge): what per-source limits count.
    pub peer: Option<std::net::IpAddr>,
}

impl Ctx {
    pub fn db(&self) -> &Datastore {
        &self.state.db
    }

    /// The authenticated caller.
    pub fn user(&self) -> Result<&User> {
        self.user.as_ref().ok_or_else(|| Error::Unauthorized("Authentication required.".into()))
    }

    /// The caller, who must be an administrator (403 otherwise, as MAAS).
    pub fn admin(&self) -> Result<&User> {
        let u = self.user()?;
        crate::engine::access::require_superuser(u)?;
        Ok(u)
    }

    /// A placeholder value of the matched URL template.
    pub fn path(&self, name: &str) -> &str {
        self.path_params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("")
    }
}
