//! MAAS's user object.

use crate::api::views::resource_uri;
use crate::db::users::User;
use serde_json::{json, Value};

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
