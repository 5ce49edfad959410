//! The Ironpool region: the MAAS REST API 2.0 and everything behind it.
//!
//! Layers, outermost first (see `docs/architecture.md`):
//! - [`http`]: routing, parameter decoding, OAuth, error → status mapping;
//! - [`api`]: one module per MAAS handler family, thin handlers;
//! - [`engine`]: domain rules with no HTTP in them;
//! - [`db`]: schema, migrations, queries; database errors end here.

pub mod api;
pub mod config;
pub mod data_dir;
pub mod db;
pub mod dns;
pub mod engine;
pub mod error;
pub mod http;
pub mod metrics;
pub mod rpc;
pub mod server;
pub mod sim;
pub mod spool;
pub mod tls;
pub mod ui;

pub use config::RegionConfig;
pub use error::{Error, Result};
