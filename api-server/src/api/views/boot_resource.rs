//! Boot resources, their sets and files, boot sources and selections.

use crate::api::views::resource_uri;
use crate::db;
use crate::db::boot_resources::{BootSource, Selection};
use crate::engine;
use crate::engine::boot_resources::Detail;
use base64::Engine as _;
use serde_json::{json, Map, Value};

pub(crate) fn resource_json(r: &db::boot_resources::Resource) -> Value {
    let mut v = json!({
        "id": r.id,
        "type": engine::boot_resources::type_name(r.rtype),
        "name": r.name,
        "architecture": r.architecture,
        "subarches": r.subarches,
        "title": r.title,
        "last_deployed": Value::Null,
        "resource_uri": resource_uri(&format!("boot-resources/{}/", r.id)),
    });
    if !r.kflavor.is_empty() {
        v["kflavor"] = json!(r.kflavor);
    }
    if !r.base_image.is_empty() {
        v["base_image"] = json!(r.base_image);
    }
    v
}

pub(crate) fn progress(received: u64, size: u64) -> f64 {
    if size == 0 {
        100.0
    } else {
        (received.min(size) as f64) * 100.0 / size as f64
    }
}

pub(crate) fn detail_json(d: &Detail) -> Value {
    let mut v = resource_json(&d.resource);
    let mut sets = Map::new();
    for (set, files) in &d.sets {
        let mut fs = Map::new();
        let (mut size, mut received) = (0u64, 0u64);
        for (f, got) in files {
            size += f.size as u64;
            received += if f.complete { f.size as u64 } else { *got };
            let mut fv = json!({
                "filename": f.filename,
                "filetype": f.filetype,
                "sha256": f.sha256,
                "filename_on_disk": f.sha256,
                "size": f.size,
                "complete": f.complete,
                "progress": if f.complete { 100.0 } else { progress(*got, f.size as u64) },
            });
            if !f.complete && d.resource.rtype == engine::boot_resources::UPLOADED {
                fv["upload_uri"] = json!(resource_uri(&format!("boot-resources/{}/upload/{}/", d.resource.id, f.id)));
            }
            fs.insert(f.filename.clone(), fv);
        }
        let complete = !files.is_empty() && files.iter().all(|(f, _)| f.complete);
        sets.insert(
            set.version.clone(),
            json!({
                "version": set.version,
                "label": set.label,
                "size": size,
                "complete": complete,
                "progress": if complete { 100.0 } else { progress(received, size) },
                "files": fs,
            }),
        );
    }
    v["sets"] = Value::Object(sets);
    v
}

pub(crate) fn ts(t: &chrono::NaiveDateTime) -> String {
    // python-libmaas parses `%Y-%m-%dT%H:%M:%S.%f`: fractional digits, no zone.
    t.format("%Y-%m-%dT%H:%M:%S%.3f").to_string()
}

pub(crate) fn source_json(s: &BootSource) -> Value {
    json!({
        "id": s.id,
        "url": s.url,
        "keyring_filename": s.keyring_filename,
        "keyring_data": base64::engine::general_purpose::STANDARD.encode(&s.keyring_data),
        "skip_keyring_verification": s.skip_keyring_verification,
        "created": ts(&s.created_at),
        "updated": ts(&s.updated_at),
        "resource_uri": resource_uri(&format!("boot-sources/{}/", s.id)),
    })
}

pub(crate) fn list_of(s: &str) -> Vec<&str> {
    s.split(',').filter(|x| !x.is_empty()).collect()
}

pub(crate) fn selection_json(s: &Selection) -> Value {
    json!({
        "boot_source_id": s.boot_source_id,
        "id": s.id,
        "os": s.os,
        "release": s.release,
        "arches": list_of(&s.arches),
        "subarches": list_of(&s.subarches),
        "labels": list_of(&s.labels),
        "resource_uri": resource_uri(&format!("boot-sources/{}/selections/{}/", s.boot_source_id, s.id)),
    })
}

/// `rackcontrollers/{id}/?op=list_boot_images` (MAAS's shape): each
/// resource's name, architecture and subarches (its own and those it lists);
/// racks serve the region's images, so the answer is always `synced`.
pub(crate) fn rack_boot_images(resources: &[db::boot_resources::Resource]) -> Value {
    let images: Vec<Value> = resources
        .iter()
        .map(|r| {
            let (arch, subarch) = r.architecture.split_once('/').unwrap_or((r.architecture.as_str(), "generic"));
            let mut subarches: Vec<&str> = list_of(&r.subarches);
            subarches.push(subarch);
            subarches.sort_unstable();
            subarches.dedup();
            json!({ "name": r.name, "architecture": arch, "subarches": subarches })
        })
        .collect();
    json!({ "images": images, "connected": true, "status": "synced" })
}
