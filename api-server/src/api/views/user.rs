//! MAAS's user object.

use crate::api::views::resource_uri;
use crate::db::users::User;
use serde_json::{json, Value};

/// MAAS's user object as `viewer` may see it. MAAS shows every user's
/// email to every user; here only administrators and the user themself
/// see it (others get it blank, so clients reading the field, such as
/// python-libmaas's `users.list`, still find a string).
pub fn user_json_for(u: &User, viewer: &User) -> Value {
    let mut v = user_json(u);
    if !viewer.is_superuser && viewer.id != u.id {
        v["email"] = Value::String(String::new());
    }
    v
}

/// MAAS's user object, in full.
pub fn user_json(u: &User) -> Value {
    json!({
        "username": u.username,
        "email": u.email,
        "is_local": u.is_local,
        "is_superuser": u.is_superuser,
        "resource_uri": resource_uri(&format!("users/{}/", percent_encoding::utf8_percent_encode(&u.username, percent_encoding::NON_ALPHANUMERIC))),
    })
}
