//! Pages outside API 2.0: the API landing page and the login state the web
//! UI and python-libmaas look at.

use serde::Serialize;
use serde_json::{json, Value};

/// `GET /MAAS/accounts/login/`: no sessions here, so never authenticated.
#[derive(Serialize)]
pub struct LoginState {
    pub authenticated: bool,
    pub external_auth_url: Option<String>,
    pub no_users: bool,
}

/// `GET /MAAS/api/`: where the API's documents are, as absolute links on `base`.
pub fn landing(base: &str) -> Value {
    let link = |path: &str, rel: &str, ty: &str, title: &str| json!({"path": path, "rel": rel, "type": ty, "title": title, "href": format!("{base}{path}")});
    json!({
        "title": "MAAS API",
        "description": "API landing page for MAAS",
        "resources": [
            link("/MAAS/api", "self", "application/json", "this document"),
            link("/MAAS/api/2.0/describe/", "service-desc", "application/json", "API description"),
            link("/MAAS/api/2.0/version/", "version", "application/json", "version and capabilities"),
            link("/MAAS/api/2.0/openapi.yaml", "service-desc", "application/openapi+yaml", "OpenAPI document"),
            link("/MAAS/api/docs/", "service-doc", "text/html", "Swagger UI"),
        ],
    })
}
