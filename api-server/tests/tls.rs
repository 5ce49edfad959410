//! HTTPS end to end (issue 15, finding M5): a real region on port 0 serving
//! TLS beside HTTP with its self-signed certificate or an operator's, MAAS
//! clients' calls over it, clients that do not trust it failing, and a real
//! rack that registers and syncs over HTTPS only with the right pinned
//! fingerprint (given, or pinned at first use and enforced after a restart).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use ironpool_common::rack_link::RackInterface;
use ironpool_common::tls::fingerprint;
use ironpool_rack::link::{Rack, RackOptions};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// `https://127.0.0.1:PORT` of a region's HTTPS listener.
fn https_origin(s: &TestServer) -> String {
    format!("https://{}", s.state.https_addr.get().expect("the region serves HTTPS"))
}

/// The region's generated certificate (PEM) and its SHA-256 fingerprint.
fn generated_cert(s: &TestServer) -> (String, String) {
    let pem = std::fs::read_to_string(s.db.dir.path().join(ironpool_region::tls::GENERATED_CERT)).unwrap();
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
    (pem, fingerprint(&der))
}

/// A client that trusts exactly `ca_pem` (no public roots) and records
/// the peer certificate of each response.
fn trusting(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .tls_info(true)
        .build()
        .unwrap()
}

/// The fingerprint of the certificate the server presented for `resp`.
fn peer_fingerprint(resp: &reqwest::Response) -> String {
    let info = resp.extensions().get::<reqwest::tls::TlsInfo>().expect("TLS info recorded");
    fingerprint(info.peer_certificate().expect("a peer certificate"))
}

/// The whole error chain, for asserting on causes reqwest wraps.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}

backend_tests!(https_serves_the_api_with_a_generated_certificate, |b| async move {
    let mut s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let https = https_origin(&s);
    let (pem, fp) = generated_cert(&s);
    let key = s.db.dir.path().join(ironpool_region::tls::GENERATED_KEY);
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);

    // version/ and an authenticated call (PLAINTEXT, as libmaas and the maas
    // CLI sign) over HTTPS, trusting the region's own certificate as CA.
    let c = trusting(&pem);
    let r = c.get(format!("{https}/MAAS/api/2.0/version/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(peer_fingerprint(&r), fp);
    assert!(r.text().await.unwrap().contains("authenticate-api"));
    let port = s.state.https_addr.get().unwrap().port();
    let r = c.get(format!("https://localhost:{port}/MAAS/api/2.0/version/")).send().await.unwrap();
    assert_eq!(r.status(), 200, "the certificate names localhost");
    let r = c
        .get(format!("{https}/MAAS/api/2.0/users/?op=whoami"))
        .header("Authorization", admin.plaintext())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["username"], "admin");
    // describe/ hands out https URIs to a client that came over HTTPS
    // (libmaas builds its handlers' URLs from them).
    let d: serde_json::Value = c
        .get(format!("{https}/MAAS/api/2.0/describe/"))
        .header("Authorization", admin.plaintext())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let uri = d["resources"][0]["auth"]["uri"].as_str().or(d["resources"][0]["anon"]["uri"].as_str()).unwrap();
    assert!(uri.starts_with(&format!("{https}/MAAS/api/2.0/")), "{uri}");

    // A client that trusts only public CAs refuses the self-signed certificate.
    let e = reqwest::Client::builder()
        .use_rustls_tls()
        .build()
        .unwrap()
        .get(format!("{https}/MAAS/api/2.0/version/"))
        .send()
        .await
        .unwrap_err();
    assert!(e.is_connect(), "{e:?}");
    assert!(chain(&e).to_lowercase().contains("certificate"), "{}", chain(&e));

    // Plain HTTP still serves (PXE, booting machines, http:// clients).
    let r = s.get(None, "version/").await;
    assert_eq!(r.status, 200);

    // A restarted region serves the same certificate (not made again).
    s.stop().await;
    s.restart();
    let r = c.get(format!("{}/MAAS/api/2.0/version/", https_origin(&s))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(peer_fingerprint(&r), fp);
    assert_eq!(generated_cert(&s).1, fp);
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_certificate_is_served_and_https_can_be_turned_off() {
    // An operator's CA and a server certificate it signed for 127.0.0.1.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "Test operator CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "maas.test".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    let files = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (files.path().join("chain.pem"), files.path().join("key.pem"));
    std::fs::write(&cert_path, format!("{}{}", leaf.pem(), ca.pem())).unwrap();
    std::fs::write(&key_path, leaf_key.serialize_pem()).unwrap();

    let (c2, k2) = (cert_path.clone(), key_path.clone());
    let s = TestServer::start_with(Backend::Sqlite, move |c| {
        c.tls_cert = Some(c2);
        c.tls_key = Some(k2);
    });
    let r = trusting(&ca.pem()).get(format!("{}/MAAS/api/2.0/version/", https_origin(&s))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(peer_fingerprint(&r), fingerprint(leaf.der()));
    assert!(!s.db.dir.path().join(ironpool_region::tls::GENERATED_CERT).exists(), "no certificate was generated");

    // A client trusting some other CA fails.
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let e = trusting(&other.cert.pem())
        .get(format!("{}/MAAS/api/2.0/version/", https_origin(&s)))
        .send()
        .await
        .unwrap_err();
    assert!(e.is_connect(), "{e:?}");

    // tls_listen = "off": HTTP only.
    let plain = TestServer::start_with(Backend::Sqlite, |c| c.tls_listen = Some("off".into()));
    assert!(plain.state.https_addr.get().is_none());
    assert_eq!(plain.get(None, "version/").await.status, 200);
    assert!(!plain.db.dir.path().join(ironpool_region::tls::GENERATED_CERT).exists());
}

fn rack_options(s: &TestServer, url: String, dir: &std::path::Path) -> RackOptions {
    let mut o = RackOptions::new(vec![url], s.state.rack_secret.clone(), dir.to_path_buf());
    o.hostname = "tls-rack".into();
    o.interfaces = Some(vec![RackInterface {
        name: "eth0".into(),
        mac: "52:54:00:0f:05:01".into(),
        addresses: vec!["10.78.0.2/24".into()],
    }]);
    o.http_listen = None;
    o.tftp_listen = None;
    o.dhcp_listen = None;
    o.heartbeat = Some(Duration::from_millis(100));
    o.max_backoff = Duration::from_millis(300);
    o.request_timeout = Duration::from_secs(5);
    o
}

async fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the rack registered and synced once; returns its system_id.
async fn synced(rack: &Rack) -> String {
    eventually("registration and a sync over HTTPS", || {
        rack.state.system_id().filter(|_| rack.state.syncs.load(Ordering::Relaxed) > 0)
    })
    .await
}

/// Waits until the rack refused the region's certificate; returns why.
/// Also makes one call to `origin` with the rack's own TLS configuration
/// and checks it fails at the handshake, so the refusal is known to stop
/// the connection (not only to be reported).
async fn refused(rack: &Rack, origin: &str) -> String {
    let pins = rack.region_tls.as_ref().expect("an https:// region is checked by pins");
    let why = eventually("the rack to refuse the certificate", || pins.refusal()).await;
    let c = reqwest::Client::builder().use_preconfigured_tls(pins.client_config().unwrap()).build().unwrap();
    let e = c.get(format!("{origin}/MAAS/api/2.0/version/")).send().await.expect_err("the handshake is refused");
    assert!(e.is_connect() && chain(&e).contains("refusing to talk to it"), "{}", chain(&e));
    why
}

async fn rack_count(s: &TestServer, admin: &ApiKey) -> usize {
    let r = s.get(Some(admin), "rackcontrollers/").await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json().as_array().unwrap().len()
}

backend_tests!(rack_registers_over_https_only_with_the_given_fingerprint, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let (_, fp) = generated_cert(&s);

    // A wrong pin: refused at the handshake, with a message naming both
    // fingerprints; nothing reaches the region.
    let wrong = fingerprint(b"some other certificate");
    let dir = tempfile::tempdir().unwrap();
    let mut o = rack_options(&s, format!("{}/MAAS/", https_origin(&s)), dir.path());
    o.region_fingerprints = vec![wrong.to_lowercase().replace(':', "")];
    let rack = Rack::start(o).await.unwrap();
    let why = refused(&rack, &https_origin(&s)).await;
    assert!(why.contains(&fp) && why.contains(&wrong) && why.contains("--region-fingerprint"), "{why}");
    assert_eq!(rack.state.system_id(), None);
    assert_eq!(rack.state.registrations.load(Ordering::Relaxed), 0);
    assert!(!rack.state.connected());
    rack.stop().await;
    assert_eq!(rack_count(&s, &admin).await, 0, "nothing registered");
    assert!(!dir.path().join(ironpool_rack::link::tls::PIN_FILE).exists(), "a given pin is not replaced");

    // The right pin (as `ironpool certificate` prints it): registers and syncs.
    let mut o = rack_options(&s, https_origin(&s), dir.path());
    o.region_fingerprints = vec![format!("SHA256 Fingerprint={fp}")];
    let rack = Rack::start(o).await.unwrap();
    let sid = synced(&rack).await;
    assert_eq!(rack.region_tls.as_ref().unwrap().refusal(), None);
    let list = s.get(Some(&admin), "rackcontrollers/").await.json();
    assert_eq!(list[0]["system_id"], sid.as_str());
    assert_eq!(list[0]["hostname"], "tls-rack");
    rack.stop().await;

    // A malformed fingerprint is a start-up error, not a silent TOFU.
    let mut o = rack_options(&s, https_origin(&s), dir.path());
    o.region_fingerprints = vec!["ab:cd".into()];
    let e = Rack::start(o).await.err().expect("refused");
    assert!(e.to_string().contains("not a SHA-256 fingerprint"), "{e}");
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rack_pins_the_first_certificate_and_refuses_another_after_a_restart() {
    let a = TestServer::start(Backend::Sqlite);
    let b = TestServer::start(Backend::Sqlite);
    let (admin_a, admin_b) = (a.user("admin", true).await, b.user("admin", true).await);
    let (_, fp_a) = generated_cert(&a);
    let (_, fp_b) = generated_cert(&b);
    assert_ne!(fp_a, fp_b);
    let dir = tempfile::tempdir().unwrap();
    let pin_file = dir.path().join(ironpool_rack::link::tls::PIN_FILE);

    // No fingerprint given: the first registration pins region A's certificate.
    let rack = Rack::start(rack_options(&a, https_origin(&a), dir.path())).await.unwrap();
    let sid = synced(&rack).await;
    let pins = rack.region_tls.as_ref().unwrap().pinned();
    assert_eq!(pins.get("127.0.0.1"), Some(&fp_a), "{pins:?}");
    rack.stop().await;
    assert_eq!(std::fs::metadata(&pin_file).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&pin_file).unwrap().contains(&fp_a));

    // Restarted, it still talks to A (same certificate)...
    let rack = Rack::start(rack_options(&a, https_origin(&a), dir.path())).await.unwrap();
    assert_eq!(synced(&rack).await, sid);
    rack.stop().await;
    assert_eq!(rack_count(&a, &admin_a).await, 1);

    // ...and refuses B, another certificate on the same host, with the
    // pin file named in the error; B never hears from it.
    let mut o = rack_options(&b, https_origin(&b), dir.path());
    o.hostname = "tls-rack-b".into();
    let rack = Rack::start(o).await.unwrap();
    let why = refused(&rack, &https_origin(&b)).await;
    assert!(why.contains(&fp_b) && why.contains(&fp_a) && why.contains("region-tls-pins.json"), "{why}");
    assert_eq!(rack.state.registrations.load(Ordering::Relaxed), 0);
    rack.stop().await;
    assert_eq!(rack_count(&b, &admin_b).await, 0, "nothing registered with B");
    assert!(std::fs::read_to_string(&pin_file).unwrap().contains(&fp_a), "the pin is unchanged");
}
