//! SSH and SSL keys.

use crate::api::views::resource_uri;
use crate::db::sshkeys::{SshKey, SslKey};
use serde_json::{json, Value};

pub(crate) fn ssh_json(k: &SshKey) -> Value {
    json!({
        "id": k.id,
        "key": k.key,
        "keysource": k.keysource.clone().unwrap_or_default(),
        "resource_uri": resource_uri(&format!("account/prefs/sshkeys/{}/", k.id)),
    })
}

pub(crate) fn ssl_json(k: &SslKey) -> Value {
    json!({
        "id": k.id,
        "key": k.key,
        "resource_uri": resource_uri(&format!("account/prefs/sslkeys/{}/", k.id)),
    })
}
