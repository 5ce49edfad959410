//! The webhook driver against a real HTTP(S) service (`peers/webhook_peer.py`):
//! what goes over the wire (method, Accept, System_Id, Basic or Bearer
//! authorization, no Content-Type), the query regexes, the trailing-slash
//! retry, redirects, TLS verification and failures.

// Tests fail by panicking: unwrap/expect are how they assert.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use ironpool_power::webhook::WebhookDriver;
use ironpool_power::{PowerAction, PowerDriver, PowerError, PowerParams, PowerState};
use serde_json::Value;

type Peer = WebhookPeer;

fn params(peer: &Peer, prefix: &str, extra: &[(&str, &str)]) -> PowerParams {
    let mut p: PowerParams = [
        ("power_on_uri", format!("{}{prefix}/on", peer.base)),
        ("power_off_uri", format!("{}{prefix}/off", peer.base)),
        ("power_query_uri", format!("{}{prefix}/status", peer.base)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in extra {
        p.insert(k.to_string(), v.to_string());
    }
    p
}

fn driver() -> WebhookDriver {
    WebhookDriver::new(Duration::from_secs(5), Duration::from_secs(10))
}

#[tokio::test]
async fn webhook_on_off_query_with_basic_auth_and_maas_headers() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    // "Basic " + base64("admin:s3cret")
    let peer = start_webhook_peer(dir.path(), None, Some("Basic YWRtaW46czNjcmV0"));
    let p = params(
        &peer,
        "/power",
        &[("power_user", "admin"), ("power_pass", "s3cret"), ("system_id", "abc123"), ("power_verify_ssl", "n")],
    );
    let d = driver();
    assert_eq!(d.act(PowerAction::Query, &p).await, Ok(Some(PowerState::Off)));
    assert_eq!(d.act(PowerAction::On, &p).await, Ok(Some(PowerState::On)));
    assert_eq!(d.act(PowerAction::Query, &p).await, Ok(Some(PowerState::On)));
    assert_eq!(d.act(PowerAction::Off, &p).await, Ok(Some(PowerState::Off)));
    assert_eq!(d.act(PowerAction::Cycle, &p).await, Ok(Some(PowerState::On)));

    let reqs = peer.requests();
    let on = reqs.iter().find(|r| r["path"] == "/power/on").expect("a POST to the on URI");
    assert_eq!(on["method"], "POST");
    assert_eq!(on["authorization"], "Basic YWRtaW46czNjcmV0");
    assert_eq!(on["system_id"], "abc123");
    assert_eq!(on["accept"], "application/json");
    assert_eq!(on["content_type"], Value::Null, "MAAS sends no Content-Type");
    assert!(reqs.iter().filter(|r| r["path"] == "/power/status").all(|r| r["method"] == "GET"));
    // A cycle is off then on.
    let posts: Vec<&str> = reqs.iter().filter(|r| r["method"] == "POST").map(|r| r["path"].as_str().unwrap()).collect();
    assert_eq!(posts, ["/power/on", "/power/off", "/power/off", "/power/on"]);

    // A wrong password is an authentication error (not retried), and the
    // password is not in it.
    let mut bad = p.clone();
    bad.insert("power_pass".into(), "wrong-pass".into());
    let e = d.act(PowerAction::Query, &bad).await.unwrap_err();
    assert!(matches!(e, PowerError::Auth { .. }), "{e:?}");
    assert!(!e.is_transient());
    assert!(e.to_string().contains("Request failed with response status code: 401."), "{e}");
    assert!(!format!("{e:?}").contains("wrong-pass"));
    // A user without a password sends no Authorization at all (MAAS needs both).
    let mut no_pass = p.clone();
    no_pass.remove("power_pass");
    assert!(matches!(d.act(PowerAction::Query, &no_pass).await, Err(PowerError::Auth { .. })));
    assert_eq!(peer.requests().last().unwrap()["authorization"], Value::Null);
}

#[tokio::test]
async fn webhook_token_wins_over_user_and_password() {
    let dir = tempfile::tempdir().unwrap();
    let peer = start_webhook_peer(dir.path(), None, Some("Bearer tok-123"));
    let p = params(&peer, "/power", &[("power_token", "tok-123"), ("power_user", "admin"), ("power_pass", "x")]);
    let d = driver();
    assert_eq!(d.act(PowerAction::On, &p).await, Ok(Some(PowerState::On)));
    assert!(peer.requests().iter().all(|r| r["authorization"] == "Bearer tok-123"));
    // No system_id parameter: no System_Id header.
    assert!(peer.requests().iter().all(|r| r["system_id"].is_null()));
}

#[tokio::test]
async fn webhook_regexes_decide_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let peer = start_webhook_peer(dir.path(), None, None);
    let d = driver();
    // Neither default regex matches "rebooting": unknown, as in MAAS.
    let odd = params(&peer, "/odd", &[]);
    assert_eq!(d.act(PowerAction::Query, &odd).await, Ok(Some(PowerState::Unknown)));
    // The operator's regexes are searched, unanchored, on the body.
    let mut custom = odd.clone();
    custom.insert("power_on_regex".into(), "reboot".into());
    assert_eq!(d.act(PowerAction::Query, &custom).await, Ok(Some(PowerState::On)));
    custom.insert("power_on_regex".into(), "nomatch".into());
    custom.insert("power_off_regex".into(), r#""status":\s*"reb"#.into());
    assert_eq!(d.act(PowerAction::Query, &custom).await, Ok(Some(PowerState::Off)));
    // A regex that does not compile is a configuration error.
    custom.insert("power_on_regex".into(), "(unclosed".into());
    assert!(matches!(d.act(PowerAction::Query, &custom).await, Err(PowerError::Config(_))));
}

#[tokio::test]
async fn webhook_retries_with_a_trailing_slash_and_follows_redirects() {
    let dir = tempfile::tempdir().unwrap();
    let peer = start_webhook_peer(dir.path(), None, None);
    let d = driver();
    let p = params(&peer, "/slash", &[]);
    assert_eq!(d.act(PowerAction::On, &p).await, Ok(Some(PowerState::On)));
    let paths: Vec<String> = peer.requests().iter().map(|r| r["path"].as_str().unwrap().to_string()).collect();
    assert_eq!(&paths[..2], ["/slash/on", "/slash/on/"], "404 without the slash, then with it");
    let mut redirected = params(&peer, "/power", &[]);
    redirected.insert("power_query_uri".into(), format!("{}/redirect/status", peer.base));
    // The machine is on (the first call switched it on); the redirected
    // query reads the same status.
    assert_eq!(d.act(PowerAction::Query, &redirected).await, Ok(Some(PowerState::On)));
    assert_eq!(peer.requests().last().unwrap()["path"], "/power/status");
}

#[tokio::test]
async fn webhook_failures_name_the_status_not_the_service_text() {
    let dir = tempfile::tempdir().unwrap();
    let peer = start_webhook_peer(dir.path(), None, None);
    let d = driver();
    let mut p = params(&peer, "/power", &[]);
    p.insert("power_on_uri".into(), format!("{}/broken", peer.base));
    let e = d.act(PowerAction::On, &p).await.unwrap_err();
    assert!(matches!(e, PowerError::Other { .. }), "{e:?}");
    assert!(e.to_string().contains("Request failed with response status code: 500."), "{e}");
    assert!(!e.to_string().contains("secret-internal-detail"), "{e}");
    // Nothing listening: unreachable (transient).
    let mut closed = p.clone();
    closed.insert("power_query_uri".into(), format!("http://127.0.0.1:{}/status", free_tcp_port()));
    let e = d.act(PowerAction::Query, &closed).await.unwrap_err();
    assert!(matches!(e, PowerError::Unreachable { .. }), "{e:?}");
    // Missing query URI: configuration.
    let mut missing = p.clone();
    missing.remove("power_query_uri");
    assert!(matches!(d.act(PowerAction::Query, &missing).await, Err(PowerError::Config(_))));
}

#[tokio::test]
async fn webhook_verify_ssl_refuses_a_self_signed_certificate_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let ok = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let peer = start_webhook_peer(dir.path(), Some((&cert, &key)), None);
    let d = driver();
    let p = params(&peer, "/power", &[("power_verify_ssl", "n")]);
    assert_eq!(d.act(PowerAction::Query, &p).await, Ok(Some(PowerState::Off)));
    let mut strict = p.clone();
    strict.insert("power_verify_ssl".into(), "y".into());
    let e = d.act(PowerAction::Query, &strict).await.unwrap_err();
    assert!(!matches!(e, PowerError::Auth { .. }), "{e:?}");
    // The refused handshake sent no request.
    assert_eq!(peer.requests().len(), 1);
}
