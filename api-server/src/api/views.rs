//! JSON shapes of MAAS objects (`maas-api.md` §10), rendered from rows.
//!
//! Nested objects carry their own full field list (a zone inside a machine is
//! the zone of `zones/{name}/`); optional keys are omitted rather than null
//! where gomaasapi rejects null (`maas-api.md` §13).
//!
//! One module per MAAS shape; handlers build a view from rows (and related
//! rows loaded in bulk) and serialise it. Response bodies are made here, not
//! in the handler modules.

use crate::http::registry::API_PREFIX;

pub mod account;
pub mod boot_resource;
pub mod dhcp_snippet;
pub mod discovery;
pub mod dns;
pub mod event;
pub mod file;
pub mod interface;
pub mod license_key;
pub mod machine;
pub mod network;
pub mod node_device;
pub mod notification;
pub mod package_repository;
pub mod place;
pub mod power;
pub mod rack;
pub mod reserved_ip;
pub mod script;
pub mod script_result;
pub mod shared;
pub mod site;
pub mod sshkey;
pub mod storage;
pub mod tag;
pub mod user;
pub mod v1;
pub mod version;
pub mod vm_host;

/// A view as a JSON value. Views are structs with derived `Serialize`,
/// string keys and no fallible fields, for which serde_json cannot fail;
/// this is the one place that says so.
pub fn to_value(view: impl serde::Serialize) -> serde_json::Value {
    #[allow(clippy::expect_used)]
    serde_json::to_value(view).expect("views serialise")
}

/// Appends a view's JSON text to `out` (writing to a `Vec` cannot fail; see
/// [`to_value`] for why serialising a view cannot either).
pub fn write_json(out: &mut Vec<u8>, view: &impl serde::Serialize) {
    #[allow(clippy::expect_used)]
    serde_json::to_writer(out, view).expect("views serialise")
}

/// An absolute-path `resource_uri` for a path under the API prefix.
pub fn resource_uri(rel: &str) -> String {
    format!("{API_PREFIX}{rel}")
}

pub(crate) fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
