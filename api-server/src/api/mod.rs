//! MAAS handler families: one module per group of MAAS handlers. Each module
//! declares its handlers (URL, name, actions, parameter docs) and implements
//! the actions as thin functions: parse, authorize, call the engine, render.

pub mod account;
pub mod boot_resources;
pub mod controllers;
pub mod devices;
pub mod dns;
pub mod events;
pub mod files;
pub mod interfaces;
pub mod maas;
pub mod machines;
pub mod metadata;
pub mod netjson;
pub mod network;
pub mod notifications;
pub mod places;
pub mod raid;
pub mod render;
pub mod site;
pub mod sshkeys;
pub mod storage;
pub mod tags;
pub mod users;
pub mod v1;
pub mod version;

use serde_json::{json, Value};

use crate::db::users::User;
use crate::http::registry::{Handler, API_PREFIX};

/// Every handler the API 2.0 router serves and `describe/` lists.
pub fn handlers() -> Vec<Handler> {
    let mut all = Vec::new();
    all.extend(version::handlers());
    all.extend(users::handlers());
    all.extend(account::handlers());
    all.extend(sshkeys::handlers());
    all.extend(maas::handlers());
    all.extend(machines::handlers());
    all.extend(places::handlers());
    all.extend(tags::handlers());
    all.extend(events::handlers());
    all.extend(files::handlers());
    all.extend(notifications::handlers());
    all.extend(network::handlers());
    all.extend(interfaces::handlers());
    all.extend(devices::handlers());
    all.extend(storage::handlers());
    all.extend(raid::handlers());
    all.extend(dns::handlers());
    all.extend(controllers::handlers());
    all.extend(boot_resources::handlers());
    all
}

/// An absolute-path `resource_uri` for a path under the API prefix.
pub fn resource_uri(rel: &str) -> String {
    format!("{API_PREFIX}{rel}")
}

/// MAAS's user object.
pub fn user_json(u: &User) -> Value {
    json!({
        "username": u.username,
        "email": u.email,
        "is_local": u.is_local,
        "is_superuser": u.is_superuser,
        "resource_uri": resource_uri(&format!("users/{}/", percent_encoding::utf8_percent_encode(&u.username, percent_encoding::NON_ALPHANUMERIC))),
    })
}
