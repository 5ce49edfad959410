//! Tags.

use crate::api::views::enc;
use crate::api::views::resource_uri;
use crate::db::tags::Tag;
use serde_json::{json, Value};

pub fn tag_json(t: &Tag) -> Value {
    json!({
        "name": t.name,
        "definition": t.definition,
        "comment": t.comment,
        "kernel_opts": t.kernel_opts,
        "resource_uri": resource_uri(&format!("tags/{}/", enc(&t.name))),
    })
}

/// `update_nodes`: how many nodes were tagged and untagged.
#[derive(serde::Serialize)]
pub struct TagChanges {
    pub added: usize,
    pub removed: usize,
}

/// `rebuild`: the tag whose nodes are being re-evaluated.
#[derive(serde::Serialize)]
pub struct Rebuilding<'a> {
    pub rebuilding: &'a str,
}
