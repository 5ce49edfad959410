//! Stored files (`files/`).

use crate::api::views::resource_uri;
use crate::db::files::FileMeta;
use serde_json::{json, Value};

pub(crate) fn file_json(f: &FileMeta, owner: &str) -> Value {
    json!({
        "filename": f.filename,
        "owner": owner,
        "anon_resource_uri": resource_uri(&format!("files/?op=get_by_key&key={}", f.anon_key)),
        "resource_uri": resource_uri(&format!("files/{}/", f.filename)),
    })
}
