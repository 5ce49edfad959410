//! Notifications.

use crate::api::views::resource_uri;
use crate::db::files::Notification;
use serde_json::{json, Value};

pub(crate) fn notification_json(n: &Notification, user: Option<Value>) -> Value {
    json!({
        "id": n.id,
        "ident": n.ident,
        "user": user,
        "users": n.for_users,
        "admins": n.for_admins,
        "message": n.message,
        "context": serde_json::from_str::<Value>(&n.context).unwrap_or_else(|_| json!({})),
        "category": n.category,
        "dismissable": n.dismissable,
        "resource_uri": resource_uri(&format!("notifications/{}/", n.id)),
    })
}
