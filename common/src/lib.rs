//! Wire types and constants shared by the Ironpool region and rack controller.
//!
//! Anything that crosses a process boundary between Ironpool components (or that
//! MAAS clients see verbatim, such as the advertised version) lives here, so the
//! region and the rack can never disagree about it.

pub mod apikey;
pub mod constraints;
pub mod deploy;
pub mod dhcp;
pub mod dhcp6;
#[cfg(feature = "http-files")]
pub mod http_body;
#[cfg(feature = "http-files")]
pub mod http_files;
pub mod inventory;
pub mod multipart;
pub mod oauth_header;
pub mod power;
pub mod rack_link;
pub mod tls;

/// The MAAS version Ironpool reports in `version/`. Plain `X.Y.Z`: python-libmaas
/// parses it strictly and a `~beta` suffix would break it.
pub const MAAS_COMPAT_VERSION: &str = "3.6.0";

/// The capabilities MAAS 3.6 advertises, in MAAS's order. gomaasapi and
/// python-libmaas (`authenticate-api`) check for these.
pub const CAPABILITIES: [&str; 9] = [
    "networks-management",
    "static-ipaddresses",
    "ipv6-deployment-ubuntu",
    "devices-management",
    "storage-deployment-ubuntu",
    "network-deployment-ubuntu",
    "bridging-interface-ubuntu",
    "bridging-automatic-ubuntu",
    "authenticate-api",
];

/// The region's default HTTP port, the same as MAAS's.
pub const DEFAULT_REGION_PORT: u16 = 5240;

/// The region's HTTPS port, as MAAS serves TLS beside 5240.
pub const DEFAULT_REGION_TLS_PORT: u16 = 5443;

/// Ironpool's own version, from Cargo.
pub const IRONPOOL_VERSION: &str = env!("CARGO_PKG_VERSION");
