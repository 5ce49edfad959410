//! Domain logic, free of HTTP: accounts and credentials, key validation, the
//! MAAS configuration, the node lifecycle, allocation, IPAM, storage, DNS,
//! jobs and the rack link (docs/architecture.md lists the modules by layer).
//!
//! Engine functions take the [`Datastore`](db::Datastore) (or a
//! connection inside a transaction), enforce MAAS's rules, and return
//! [`Error`](error::Error) values that name the problem in MAAS's words.

use crate::error;

pub mod access;
pub mod accounts;
pub mod allocation;
pub mod boot_resources;
pub mod changes;
pub mod config;
pub mod defaults;
pub mod details;
pub mod dhcp_snippets;
pub mod discoveries;
pub mod dns;
pub mod events;
pub mod files;
pub mod gpg;
pub mod image_import;
pub mod image_store;
pub mod interfaces;
pub mod ipam;
pub mod jobs;
pub mod license_keys;
pub mod lifecycle;
pub mod login_guard;
pub mod metadata;
pub mod names;
pub mod netconfig;
pub mod netmatch;
pub mod network;
pub mod node_devices;
pub mod nodes;
pub mod package_repositories;
pub mod paging;
pub mod places;
pub mod power;
pub mod racks;
pub mod rate_limit;
pub mod regions;
pub mod reserved_ips;
pub mod results;
pub mod scripts;
pub mod search;
pub mod sessions;
pub mod sshkeys;
pub mod storage;
pub mod tags;
pub mod vmhosts;

/// Values MAAS (Django) accepts as booleans: `true/false`, `t/f`, `yes/no`,
/// `y/n`, `on/off`, `1/0`, any case. Blank is false.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "on" | "1" => Some(true),
        "false" | "f" | "no" | "n" | "off" | "0" | "" => Some(false),
        _ => None,
    }
}

/// A JSON object of string values as text (power parameters, owner data,
/// hardware info). Built as a `Value`, whose `Display` cannot fail, instead
/// of serialising a map, which is fallible in general.
pub fn string_map_json<'a>(pairs: impl IntoIterator<Item = (&'a String, &'a String)>) -> String {
    serde_json::Value::Object(
        pairs.into_iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect(),
    )
    .to_string()
}

/// A JSON array of strings as text (tags).
pub fn string_list_json(items: &[String]) -> String {
    serde_json::Value::Array(items.iter().cloned().map(serde_json::Value::String).collect()).to_string()
}

/// Runs CPU-heavy work (password hashing) off the async executor.
pub async fn cpu<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> error::Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(error::Error::internal)
}
