//! Package repositories (MAAS's `DISPLAYED_PACKAGE_REPOSITORY_FIELDS`).

use serde_json::{json, Value};

use crate::api::views::resource_uri;
use crate::db::package_repositories::PackageRepository;

pub fn package_repository_json(r: &PackageRepository) -> Value {
    json!({
        "id": r.id,
        "name": r.name,
        "url": r.url,
        "distributions": r.distributions,
        "disabled_pockets": r.disabled_pockets,
        "disabled_components": r.disabled_components,
        "disable_sources": r.disable_sources,
        "components": r.components,
        "arches": r.arches,
        "key": r.key,
        "enabled": r.enabled,
        "resource_uri": resource_uri(&format!("package-repositories/{}/", r.id)),
    })
}
