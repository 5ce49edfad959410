//! License keys (MAAS's `LicenseKeyHandler` fields).

use serde_json::{json, Value};

use crate::api::views::{enc, resource_uri};
use crate::db::license_keys::LicenseKey;

pub fn license_key_json(k: &LicenseKey) -> Value {
    json!({
        "osystem": k.osystem,
        "distro_series": k.distro_series,
        "license_key": k.license_key,
        // MAAS's URL for one key has no trailing slash.
        "resource_uri": resource_uri(&format!("license-key/{}/{}", enc(&k.osystem), enc(&k.distro_series))),
    })
}
