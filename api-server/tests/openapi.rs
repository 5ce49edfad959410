//! The checked-in OpenAPI document (`openapi/openapi.yaml`) is exactly what
//! the server generates and serves; regenerate it with
//! `cargo run -p ironpool -- openapi > openapi/openapi.yaml` (or
//! `UPDATE_OPENAPI=1 cargo test -p ironpool-region --test openapi`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use common::*;
use ironpool_region::http::{openapi, registry::Registry};

fn checked_in() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.yaml");
    std::fs::read_to_string(path).expect("openapi/openapi.yaml exists")
}

#[test]
fn checked_in_spec_matches_the_server() {
    let generated = openapi::yaml(&Registry::new(ironpool_region::api::handlers())).unwrap();
    // Same output as the binary's `openapi` command, without building it.
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.yaml");
        std::fs::write(path, format!("{}\n", generated.trim_end())).unwrap();
    }
    assert!(
        generated.trim_end() == checked_in().trim_end(),
        "openapi/openapi.yaml is stale: regenerate it with `cargo run -p ironpool -- openapi > openapi/openapi.yaml`"
    );
}

#[test]
fn every_routed_action_is_in_the_spec() {
    let reg = Registry::new(ironpool_region::api::handlers());
    let doc: serde_json::Value = serde_json::from_str(&openapi::json(&reg).unwrap()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for h in reg.handlers() {
        for a in &h.actions {
            let path = match a.op {
                Some(op) => format!("/{}op-{op}", h.path),
                None => format!("/{}", h.path),
            };
            let m = a.method.as_str().to_ascii_lowercase();
            assert!(paths.get(&path).and_then(|p| p.get(&m)).is_some(), "{} {path} missing", a.method.as_str());
        }
    }
    assert_eq!(doc["paths"]["/machines/op-allocate"]["post"]["operationId"], "MachinesHandler_allocate");
    assert!(doc["components"]["securitySchemes"]["MAASOAuth"].is_object());
}

backend_tests!(served_spec_is_the_checked_in_one, |b| async move {
    let s = TestServer::start(b);
    let r = s.get(None, "openapi.yaml").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type.as_deref(), Some("application/openapi+yaml"));
    assert_eq!(r.body.trim_end(), checked_in().trim_end());
    let j = s.get(None, "openapi.json").await;
    assert_eq!(j.json()["info"]["title"], "MAAS HTTP API");
    // The op-<name> paths the spec advertises are served.
    let admin = s.user("admin", true).await;
    assert_eq!(s.get(Some(&admin), "users/op-whoami").await.json()["username"], "admin");
});

backend_tests!(swagger_ui_is_served_from_vendored_assets, |b| async move {
    let s = TestServer::start(b);
    let page = read(client().get(format!("{}/MAAS/api/docs/", s.origin)).send().await.unwrap()).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.content_type.as_deref(), Some("text/html; charset=utf-8"));
    assert!(page.body.contains("/MAAS/api/2.0/openapi.json"));
    assert!(!page.body.contains("http"), "no external (CDN) URLs");
    for (asset, ct) in [("swagger-ui-bundle.js", "application/javascript"), ("swagger-ui.css", "text/css")] {
        let r = read(client().get(format!("{}/MAAS/api/docs/{asset}", s.origin)).send().await.unwrap()).await;
        assert_eq!((r.status, r.content_type.as_deref()), (200, Some(ct)), "{asset}");
        assert!(r.body.len() > 100_000, "{asset} is the real bundle");
    }
});
