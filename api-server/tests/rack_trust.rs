//! Attacks on the rack link (issue 15, H3, M7 and M4 for the rack link),
//! against a real region on port 0 and, where a rack acts, the real rack
//! daemon: a fake rack holding only the shared secret gets no BMC password,
//! cannot impersonate a registered rack or report for another rack's job;
//! captured requests are refused after a region restart and by a second
//! region; future timestamps are refused; a tampered region answer is
//! refused by the rack; and power jobs run exactly once with two regions
//! and two racks on one PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use ironpool_common::rack_link::{self as proto, RackInterface};
use ironpool_rack::link::{Rack, RackOptions};
use serde_json::{json, Value};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A signed request as a rack would send it, kept so it can be replayed.
#[derive(Clone)]
struct Captured {
    call: String,
    auth: String,
    nonce: String,
    body: String,
}

fn signed(key: &str, rack: Option<&str>, call: &str, body: &Value, ts: i64) -> Captured {
    let body = body.to_string();
    let path = format!("{}{call}", proto::RPC_PREFIX);
    let (auth, nonce) = proto::sign_request(key, rack, "POST", &path, ts, body.as_bytes());
    Captured { call: call.into(), auth, nonce, body }
}

struct Answer {
    status: u16,
    body: String,
    /// Whether the answer carries a valid region signature with `key`.
    signed_by_key: bool,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

async fn send(origin: &str, c: &Captured, key: &str) -> Answer {
    let r = reqwest::Client::new()
        .post(format!("{origin}{}{}", proto::RPC_PREFIX, c.call))
        .header(proto::AUTH_HEADER, &c.auth)
        .body(c.body.clone())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let sig = r.headers().get(proto::REGION_AUTH_HEADER).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let body = r.bytes().await.unwrap();
    let signed_by_key = proto::verify_response(key, status, &c.nonce, &sig, &body);
    Answer { status, body: String::from_utf8_lossy(&body).into_owned(), signed_by_key }
}

/// A rack driven by hand over the protocol (what an attacker can do).
struct RawRack {
    origin: String,
    sid: String,
    key: String,
}

impl RawRack {
    /// Registers as a new rack with the shared secret.
    async fn register(s: &TestServer, hostname: &str, mac: &str, addr: &str) -> RawRack {
        let secret = s.state.rack_secret.clone();
        let body = json!({"hostname": hostname, "version": "test",
            "interfaces": [{"name": "eth0", "mac": mac, "addresses": [addr]}]});
        let a = send(&s.origin, &signed(&secret, None, "register", &body, now()), &secret).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(a.signed_by_key, "register answer must be signed with the shared secret");
        let v = a.json();
        RawRack {
            origin: s.origin.clone(),
            sid: v["system_id"].as_str().unwrap().into(),
            key: v["rack_key"].as_str().expect("a new rack is issued its key").into(),
        }
    }

    fn req(&self, call: &str, body: &Value) -> Captured {
        signed(&self.key, Some(&self.sid), call, body, now())
    }

    async fn call(&self, call: &str, body: &Value) -> Answer {
        let a = send(&self.origin, &self.req(call, body), &self.key).await;
        if a.status == 200 {
            assert!(a.signed_by_key, "answers are signed with the rack's key: {}", a.body);
        }
        a
    }

    async fn sync(&self) -> Answer {
        self.call("sync", &json!({"system_id": self.sid})).await
    }
}

async fn eventually<T>(what: &str, timeout: Duration, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A machine with a Redfish BMC nobody answers on (the raw racks never
/// call it); creating it starts commissioning, which queues a power-on job.
async fn redfish_machine(s: &TestServer, admin: &ApiKey, name: &str, mac: &str) -> String {
    let r = s
        .post(
            Some(admin),
            "machines/",
            &[
                ("architecture", "amd64/generic"),
                ("mac_addresses", mac),
                ("hostname", name),
                ("power_type", "redfish"),
                ("power_parameters_power_address", "http://127.0.0.1:9"),
                ("power_parameters_power_user", "admin"),
                ("power_parameters_power_pass", "s3cret-bmc-pass"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["system_id"].as_str().unwrap().to_string()
}

async fn power_state(s: &TestServer, admin: &ApiKey, sid: &str) -> String {
    s.get(Some(admin), &format!("machines/{sid}/")).await.json()["power_state"].as_str().unwrap().to_string()
}

backend_tests!(a_fake_rack_with_only_the_shared_secret_gets_nothing, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let secret = s.state.rack_secret.clone();
    // The real rack registers first (accepted as the first rack) and
    // heartbeats, so the power job is leased to it.
    let a = RawRack::register(&s, "rack-a", "52:54:00:1a:00:01", "10.90.0.2/24").await;
    assert_eq!(a.sync().await.status, 200);
    let msid = redfish_machine(&s, &admin, "bmc-one", "52:54:00:1a:00:10").await;
    let cmd = eventually("the power job leased to rack A", Duration::from_secs(15), async || {
        let v = a.sync().await.json();
        v["power"].as_array().unwrap().first().cloned()
    })
    .await;
    // What is at stake: the leased command carries the BMC password.
    assert_eq!(cmd["params"]["power_pass"], "s3cret-bmc-pass");
    assert_eq!(cmd["system_id"], msid.as_str());
    let job_id = cmd["job_id"].as_i64().unwrap();

    // The fake rack registers with the shared secret: it is a new rack, with
    // its own key, not accepted: no configuration, no power jobs.
    let f = RawRack::register(&s, "fake", "52:54:00:1a:00:99", "10.90.0.3/24").await;
    assert_ne!(f.sid, a.sid);
    let fs = f.sync().await;
    assert_eq!(fs.status, 200, "{}", fs.body);
    assert!(!fs.body.contains("s3cret-bmc-pass"), "{}", fs.body);
    assert_eq!(fs.json()["power"], json!([]));
    assert!(fs.json()["config"].is_null(), "an unaccepted rack gets no configuration (boot secrets)");
    // Even a new power job goes to rack A, never to the fake.
    let msid2 = redfish_machine(&s, &admin, "bmc-two", "52:54:00:1a:00:11").await;
    eventually("the second job leased to rack A", Duration::from_secs(15), async || {
        let v = a.sync().await.json();
        v["power"].as_array().unwrap().iter().any(|c| c["system_id"] == msid2.as_str()).then_some(())
    })
    .await;
    let fs = f.sync().await;
    assert!(!fs.body.contains("s3cret-bmc-pass"), "{}", fs.body);

    // Impersonation: re-registering rack A (by system_id or by its MAC) with
    // the shared secret alone is refused, and nothing is issued.
    for body in [
        json!({"system_id": a.sid, "hostname": "rack-a", "version": "x", "interfaces": []}),
        json!({"hostname": "rack-a", "version": "x",
               "interfaces": [{"name": "eth0", "mac": "52:54:00:1a:00:01", "addresses": []}]}),
    ] {
        let r = send(&s.origin, &signed(&secret, None, "register", &body, now()), &secret).await;
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(!r.body.contains("rack_key"), "{}", r.body);
    }
    // Naming rack A in the header without its key: 401.
    for key in [&secret, &f.key] {
        let r = send(&s.origin, &signed(key, Some(&a.sid), "sync", &json!({"system_id": a.sid}), now()), key).await;
        assert_eq!(r.status, 401, "{}", r.body);
    }
    // The shared secret alone only registers.
    let r = send(&s.origin, &signed(&secret, None, "sync", &json!({"system_id": a.sid}), now()), &secret).await;
    assert_eq!(r.status, 401, "{}", r.body);
    // Acting for rack A with its own key: 403.
    let forged = json!({"system_id": a.sid, "results": [{"job_id": job_id, "state": "on"}]});
    assert_eq!(f.call("power-results", &forged).await.status, 403);
    // Reporting A's job as its own: nothing applied, nothing changed.
    let r = f.call("power-results", &json!({"system_id": f.sid, "results": [{"job_id": job_id, "state": "on"}]})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["applied"], 0);
    assert_ne!(power_state(&s, &admin, &msid).await, "on");
    // Lease and boot-event reports from an unaccepted rack: 403.
    let lease = json!({"system_id": f.sid, "events": []});
    assert_eq!(f.call("leases", &lease).await.status, 403);
    assert_eq!(f.call("boot-events", &lease).await.status, 403);

    // Rack A still works with its key and applies its own result.
    let r = a.call("power-results", &json!({"system_id": a.sid, "results": [{"job_id": job_id, "state": "on"}]})).await;
    assert_eq!(r.json()["applied"], 1, "{}", r.body);
    assert_eq!(power_state(&s, &admin, &msid).await, "on");

    // Accepting is for admins; an accepted rack gets its configuration.
    let user = s.user("someone", false).await;
    let url = format!("rackcontrollers/{}/?op=accept", f.sid);
    assert_eq!(s.post(Some(&user), &url, &[]).await.status, 403);
    let r = s.post(Some(&admin), &url, &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!f.sync().await.json()["config"].is_null());
    let ev = s.get(Some(&admin), &format!("events/?op=query&id={}", f.sid)).await.json();
    let types: Vec<&str> = ev["events"].as_array().unwrap().iter().filter_map(|e| e["type"].as_str()).collect();
    assert!(types.contains(&"Rack registered") && types.contains(&"Rack accepted"), "{types:?}");
});

backend_tests!(rack_a_cannot_report_for_jobs_leased_to_rack_b, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let a = RawRack::register(&s, "rack-a", "52:54:00:1b:00:01", "10.91.0.2/24").await;
    let bb = RawRack::register(&s, "rack-b", "52:54:00:1b:00:02", "10.92.0.2/24").await;
    assert_eq!(s.post(Some(&admin), &format!("rackcontrollers/{}/?op=accept", bb.sid), &[]).await.status, 200);
    // Rack B alone is connected when the job is leased.
    assert_eq!(bb.sync().await.status, 200);
    s.state
        .db
        .write({
            let sid = a.sid.clone();
            move |c| {
                use diesel::prelude::*;
                use ironpool_region::db::schema::{nodes, rack_controllers};
                let id: i64 = nodes::table.filter(nodes::system_id.eq(&sid)).select(nodes::id).first(c).unwrap();
                let long_ago = chrono::Utc::now().naive_utc() - chrono::Duration::hours(1);
                diesel::update(rack_controllers::table.find(id))
                    .set(rack_controllers::last_seen.eq(long_ago))
                    .execute(c)
                    .unwrap();
                Ok(())
            }
        })
        .await
        .unwrap();
    let msid = redfish_machine(&s, &admin, "bmc-b", "52:54:00:1b:00:10").await;
    let cmd = eventually("the job leased to rack B", Duration::from_secs(15), async || {
        bb.sync().await.json()["power"].as_array().unwrap().first().cloned()
    })
    .await;
    let job_id = cmd["job_id"].as_i64().unwrap();
    // Rack A (accepted, with its own key) reports B's job: not applied.
    let r = a.call("power-results", &json!({"system_id": a.sid, "results": [{"job_id": job_id, "state": "on"}]})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["applied"], 0);
    assert_ne!(power_state(&s, &admin, &msid).await, "on");
    assert!(a.sync().await.json()["power"].as_array().unwrap().is_empty(), "rack A never sees B's job");
    // B's own report is applied once; a second copy changes nothing.
    let report = json!({"system_id": bb.sid, "results": [{"job_id": job_id, "state": "on"}]});
    assert_eq!(bb.call("power-results", &report).await.json()["applied"], 1);
    assert_eq!(bb.call("power-results", &report).await.json()["applied"], 0);
    assert_eq!(power_state(&s, &admin, &msid).await, "on");
});

backend_tests!(replays_and_future_timestamps_are_refused_across_restarts, |b| async move {
    let mut s = TestServer::start(b);
    let a = RawRack::register(&s, "rack-a", "52:54:00:1c:00:01", "10.93.0.2/24").await;
    let captured = a.req("sync", &json!({"system_id": a.sid}));
    assert_eq!(send(&s.origin, &captured, &a.key).await.status, 200);
    assert_eq!(send(&s.origin, &captured, &a.key).await.status, 401, "replay in the same process");
    // Captured before the restart, replayed after it (same database).
    let captured2 = a.req("power-results", &json!({"system_id": a.sid, "results": []}));
    assert_eq!(send(&s.origin, &captured2, &a.key).await.status, 200);
    s.stop().await;
    s.restart();
    eventually("region back", Duration::from_secs(10), async || {
        reqwest::get(format!("{}/MAAS/api/2.0/version/", s.origin)).await.ok().map(|_| ())
    })
    .await;
    for c in [&captured, &captured2] {
        let r = send(&s.origin, c, &a.key).await;
        assert_eq!(r.status, 401, "replay after a restart: {}", r.body);
    }
    // A fresh request still works.
    assert_eq!(a.sync().await.status, 200);
    // Timestamps are bounded both ways.
    for ts in [now() + 3600, now() + proto::MAX_SKEW_SECS + 60, now() - proto::MAX_SKEW_SECS - 60] {
        let c = signed(&a.key, Some(&a.sid), "sync", &json!({"system_id": a.sid}), ts);
        assert_eq!(send(&s.origin, &c, &a.key).await.status, 401, "ts offset {}", ts - now());
    }
    let c = signed(&a.key, Some(&a.sid), "sync", &json!({"system_id": a.sid}), now() + 60);
    assert_eq!(send(&s.origin, &c, &a.key).await.status, 200, "within the window");
});

/// The rack credentials as stored: every rack key and the shared secret row.
async fn stored_rack_credentials(s: &TestServer) -> (Vec<String>, String) {
    s.state
        .db
        .run(|c| {
            use diesel::prelude::*;
            use ironpool_region::db::schema::{config, rack_controllers};
            let keys = rack_controllers::table
                .select(rack_controllers::rack_key)
                .load::<Option<String>>(c)
                .unwrap()
                .into_iter()
                .flatten()
                .collect();
            let secret = config::table
                .filter(config::name.eq(ironpool_region::db::racks::SHARED_SECRET))
                .select(config::value)
                .first::<String>(c)
                .unwrap();
            Ok((keys, secret))
        })
        .await
        .unwrap()
}

// M1 for racks: a rack's key and the shared registration secret are
// credentials (whoever holds them receives BMC passwords), so they are
// sealed in the database like API token secrets; plaintext rows an older
// version wrote are sealed at the next start and keep working.
backend_tests!(rack_keys_and_the_shared_secret_are_sealed_at_rest, |b| async move {
    let mut s = TestServer::start(b);
    let a = RawRack::register(&s, "rack-a", "52:54:00:1c:01:01", "10.93.1.2/24").await;
    let (keys, secret) = stored_rack_credentials(&s).await;
    assert_eq!(keys.len(), 1);
    assert!(keys[0].starts_with("enc1:") && !keys[0].contains(&a.key), "{keys:?}");
    assert!(secret.starts_with("enc1:") && !secret.contains(&s.state.rack_secret), "{secret}");
    assert_eq!(a.sync().await.status, 200);

    // Rows an older version wrote in plaintext still work…
    let (key, shared) = (a.key.clone(), s.state.rack_secret.clone());
    s.state
        .db
        .write(move |c| {
            use diesel::prelude::*;
            use ironpool_region::db::schema::{config, rack_controllers};
            diesel::update(rack_controllers::table).set(rack_controllers::rack_key.eq(key)).execute(c).unwrap();
            diesel::update(config::table.filter(config::name.eq(ironpool_region::db::racks::SHARED_SECRET)))
                .set(config::value.eq(shared))
                .execute(c)
                .unwrap();
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(a.sync().await.status, 200, "a plaintext key still verifies");
    // …and are sealed at the next start, with the same values.
    let before = s.state.rack_secret.clone();
    s.stop().await;
    s.restart();
    eventually("region back", Duration::from_secs(10), async || {
        reqwest::get(format!("{}/MAAS/api/2.0/version/", s.origin)).await.ok().map(|_| ())
    })
    .await;
    assert_eq!(s.state.rack_secret, before, "the shared secret survives the upgrade");
    let (keys, secret) = stored_rack_credentials(&s).await;
    assert!(keys[0].starts_with("enc1:") && secret.starts_with("enc1:"), "{keys:?} {secret}");
    assert_eq!(a.sync().await.status, 200);
    RawRack::register(&s, "rack-b", "52:54:00:1c:01:02", "10.93.1.3/24").await;
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nonce_seen_by_one_region_is_refused_by_another() {
    let s1 = TestServer::start(Backend::Postgres);
    let s2 = s1.second_region();
    let a = RawRack::register(&s1, "rack-a", "52:54:00:1d:00:01", "10.94.0.2/24").await;
    let c = a.req("sync", &json!({"system_id": a.sid}));
    assert_eq!(send(&s1.origin, &c, &a.key).await.status, 200);
    assert_eq!(send(&s2.origin, &c, &a.key).await.status, 401);
    // Region 2 knows the rack's key (shared database).
    let c = a.req("sync", &json!({"system_id": a.sid}));
    assert_eq!(send(&s2.origin, &c, &a.key).await.status, 200);
}

/// An HTTP proxy between rack and region that, while `tamper` is set,
/// rewrites the `config_hash` of every `sync` answer, keeping the region's
/// signature header: what a man in the middle can do without the key.
async fn tampering_proxy(upstream: String, tamper: Arc<AtomicBool>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = l.accept().await else { return };
            let (up, tamper) = (upstream.clone(), tamper.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 8192];
                let head_end = loop {
                    let n = sock.read(&mut tmp).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                    if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break p + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let mut lines = head.lines();
                let mut first = lines.next().unwrap().split_whitespace();
                let (method, path) = (first.next().unwrap().to_string(), first.next().unwrap().to_string());
                let mut headers = Vec::new();
                let mut len = 0;
                for l in lines {
                    if let Some((k, v)) = l.split_once(':') {
                        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
                        match k.as_str() {
                            "content-length" => len = v.parse().unwrap(),
                            "host" | "connection" => {}
                            _ => headers.push((k, v)),
                        }
                    }
                }
                while buf.len() < head_end + len {
                    let n = sock.read(&mut tmp).await.unwrap();
                    buf.extend_from_slice(&tmp[..n]);
                }
                let body = buf[head_end..head_end + len].to_vec();
                let mut rb = reqwest::Client::new()
                    .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), format!("{up}{path}"));
                for (k, v) in headers {
                    rb = rb.header(k, v);
                }
                let resp = rb.body(body).send().await.unwrap();
                let status = resp.status();
                let sig = resp.headers().get(proto::REGION_AUTH_HEADER).map(|v| v.to_str().unwrap().to_string());
                let mut body = resp.bytes().await.unwrap().to_vec();
                if tamper.load(Ordering::SeqCst) && path.ends_with("/sync") && status.is_success() {
                    let mut v: Value = serde_json::from_slice(&body).unwrap();
                    v["config_hash"] = json!("forged-by-the-man-in-the-middle");
                    body = serde_json::to_vec(&v).unwrap();
                }
                let mut out = format!(
                    "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or(""),
                    body.len()
                );
                if let Some(sig) = sig {
                    out += &format!("{}: {sig}\r\n", proto::REGION_AUTH_HEADER);
                }
                out += "\r\n";
                let _ = sock.write_all(out.as_bytes()).await;
                let _ = sock.write_all(&body).await;
            });
        }
    });
    format!("http://{addr}")
}

backend_tests!(the_rack_refuses_a_tampered_region_answer, |b| async move {
    let s = TestServer::start(b);
    let tamper = Arc::new(AtomicBool::new(true));
    let proxy = tampering_proxy(s.origin.clone(), tamper.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut o = RackOptions::new(vec![proxy], s.state.rack_secret.clone(), dir.path().to_path_buf());
    o.hostname = "rack-mitm".into();
    o.interfaces = Some(vec![RackInterface {
        name: "eth0".into(),
        mac: "52:54:00:1e:00:01".into(),
        addresses: vec!["10.95.0.2/24".into()],
    }]);
    o.http_listen = None;
    o.tftp_listen = None;
    o.dhcp_listen = None;
    o.heartbeat = Some(Duration::from_millis(100));
    o.max_backoff = Duration::from_millis(200);
    let rack = Rack::start(o).await.unwrap();
    // It registers (untouched answers), but every tampered sync answer is
    // refused: it starts over again and again and never takes one.
    eventually("repeated registrations", Duration::from_secs(20), async || {
        (rack.state.registrations.load(Ordering::Relaxed) >= 3).then_some(())
    })
    .await;
    assert_eq!(rack.state.syncs.load(Ordering::Relaxed), 0);
    assert!(rack.state.config().is_none());
    // Its key is on disk, readable by its owner only.
    use std::os::unix::fs::PermissionsExt;
    let key_file = dir.path().join("rack-key");
    assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(proto::valid_secret(std::fs::read_to_string(&key_file).unwrap().trim()));
    // The same answers untouched are taken.
    tamper.store(false, Ordering::SeqCst);
    eventually("a sync taken", Duration::from_secs(20), async || {
        (rack.state.syncs.load(Ordering::Relaxed) > 0 && rack.state.config().is_some()).then_some(())
    })
    .await;
    rack.stop().await;
});

backend_tests!(a_restarted_rack_keeps_its_identity_and_a_deleted_one_registers_afresh, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let dir = tempfile::tempdir().unwrap();
    let opts = || {
        let mut o = RackOptions::new(vec![s.origin.clone()], s.state.rack_secret.clone(), dir.path().to_path_buf());
        o.hostname = "rack-keep".into();
        o.interfaces = Some(vec![RackInterface {
            name: "eth0".into(),
            mac: "52:54:00:1f:00:01".into(),
            addresses: vec!["10.96.0.2/24".into()],
        }]);
        o.http_listen = None;
        o.tftp_listen = None;
        o.dhcp_listen = None;
        o.heartbeat = Some(Duration::from_millis(100));
        o.max_backoff = Duration::from_millis(200);
        o
    };
    let rack = Rack::start(opts()).await.unwrap();
    let sid = eventually("synced", Duration::from_secs(10), async || {
        rack.state.system_id().filter(|_| rack.state.syncs.load(Ordering::Relaxed) > 0)
    })
    .await;
    let key = std::fs::read_to_string(dir.path().join("rack-key")).unwrap();
    rack.stop().await;
    // Restarted: same node, same key (it proves the key; the shared secret
    // alone would now be refused).
    let rack = Rack::start(opts()).await.unwrap();
    eventually("re-synced", Duration::from_secs(10), async || {
        (rack.state.syncs.load(Ordering::Relaxed) > 0).then_some(())
    })
    .await;
    assert_eq!(rack.state.system_id().as_deref(), Some(sid.as_str()));
    assert_eq!(std::fs::read_to_string(dir.path().join("rack-key")).unwrap(), key);
    rack.stop().await;
    // An admin deletes it: it registers afresh as a new rack with a new key.
    let r = s.call(Some(&admin), "DELETE", &format!("rackcontrollers/{sid}/"), &[]).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let rack = Rack::start(opts()).await.unwrap();
    let new_sid =
        eventually("registered afresh", Duration::from_secs(10), async || rack.state.system_id().filter(|x| *x != sid))
            .await;
    assert_ne!(std::fs::read_to_string(dir.path().join("rack-key")).unwrap(), key);
    let list = s.get(Some(&admin), "rackcontrollers/").await.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["system_id"], new_sid.as_str());
    rack.stop().await;
});

// ------------------------------------------------- M7: exactly-once power jobs

/// Two regions on one PostgreSQL, each with its job worker, and two racks
/// (one per region): N machines are powered on at once by commissioning;
/// each BMC (one sushy-emulator system per machine) gets exactly one
/// power command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_regions_two_racks_each_bmc_gets_one_command() {
    const N: usize = 24;
    let bmc_dir = tempfile::tempdir().unwrap();
    let port = peers::free_tcp_port();
    let systems: Vec<(String, String, String)> = (0..N)
        .map(|i| (format!("00000000-0000-4000-8000-{i:012x}"), format!("sys{i}"), format!("52:54:00:2a:01:{i:02x}")))
        .collect();
    let refs: Vec<(&str, &str, &str)> = systems.iter().map(|(u, n, m)| (u.as_str(), n.as_str(), m.as_str())).collect();
    let _sushy = peers::start_sushy_systems(bmc_dir.path(), port, &refs);

    let s1 = TestServer::start(Backend::Postgres);
    let s2 = s1.second_region();
    let admin = s1.user("admin", true).await;
    let start_rack = |origin: String, name: &str, mac: &str, addr: &str, dir: &std::path::Path| {
        let mut o = RackOptions::new(vec![origin], s1.state.rack_secret.clone(), dir.to_path_buf());
        o.hostname = name.into();
        o.interfaces = Some(vec![RackInterface { name: "eth0".into(), mac: mac.into(), addresses: vec![addr.into()] }]);
        o.http_listen = None;
        o.tftp_listen = None;
        o.dhcp_listen = None;
        o.heartbeat = Some(Duration::from_millis(100));
        o.max_backoff = Duration::from_millis(200);
        Rack::start(o)
    };
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let r1 = start_rack(s1.origin.clone(), "rack-1", "52:54:00:2a:00:01", "10.97.0.2/24", d1.path()).await.unwrap();
    let sid1 = eventually("rack 1", Duration::from_secs(10), async || r1.state.system_id()).await;
    // Both racks on one subnet: either may be handed any job.
    let r2 = start_rack(s2.origin.clone(), "rack-2", "52:54:00:2a:00:02", "10.97.0.3/24", d2.path()).await.unwrap();
    let sid2 = eventually("rack 2", Duration::from_secs(10), async || r2.state.system_id()).await;
    assert_ne!(sid1, sid2);
    let r = s1.post(Some(&admin), &format!("rackcontrollers/{sid2}/?op=accept"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Create the machines concurrently, half through each region.
    let bmc = format!("http://127.0.0.1:{port}");
    let mut creates = Vec::new();
    for (i, (uuid, _, _)) in systems.iter().enumerate() {
        let s = if i % 2 == 0 { &s1 } else { &s2 };
        let form = vec![
            ("architecture".to_string(), "amd64/generic".to_string()),
            ("mac_addresses".into(), format!("52:54:00:2b:00:{i:02x}")),
            ("hostname".into(), format!("m7-{i}")),
            ("power_type".into(), "redfish".into()),
            ("power_parameters_power_address".into(), bmc.clone()),
            ("power_parameters_power_user".into(), "admin".into()),
            ("power_parameters_power_pass".into(), "password".into()),
            ("power_parameters_node_id".into(), uuid.clone()),
        ];
        let (url, key) = (s.api("machines/"), admin.plaintext());
        creates.push(async move {
            let r = reqwest::Client::new()
                .post(url)
                .header(reqwest::header::AUTHORIZATION, key)
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
        });
    }
    futures_util::future::join_all(creates).await;

    // Every machine ends up on (commissioning powered it on)…
    let started = Instant::now();
    loop {
        let v = s1.get(Some(&admin), "machines/").await.json();
        let states: Vec<&str> = v.as_array().unwrap().iter().map(|m| m["power_state"].as_str().unwrap()).collect();
        if states.iter().filter(|p| **p == "on").count() == N {
            break;
        }
        if started.elapsed() > Duration::from_secs(180) {
            // Say why: the events of machines whose power action failed.
            let mut why = Vec::new();
            for m in v.as_array().unwrap().iter().filter(|m| m["power_state"] != "on") {
                let id = m["system_id"].as_str().unwrap();
                let ev = s1.get(Some(&admin), &format!("events/?op=query&id={id}&level=DEBUG")).await.json();
                let descr: Vec<String> = ev["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| format!("{} {}: {}", e["created"], e["type"], e["description"]))
                    .collect();
                let i: usize = m["hostname"].as_str().unwrap().trim_start_matches("m7-").parse().unwrap();
                let bmc = systems[i].0.clone();
                let log = std::fs::read_to_string(bmc_dir.path().join("sushy.log")).unwrap();
                let hits: Vec<&str> = log.lines().filter(|l| l.contains(&bmc)).collect();
                why.push(format!("{id} ({}): events {descr:?}; BMC log {hits:?}", m["hostname"]));
            }
            panic!("not all on: {states:?}; {why:#?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("{N} machines on after {:?}", started.elapsed());
    // …and let any duplicate still in flight land before counting.
    eventually("no power job left", Duration::from_secs(30), async || {
        let db = s1.state.db.clone();
        let n = db
            .run(|c| {
                use diesel::prelude::*;
                use ironpool_region::db::schema::jobs;
                Ok(jobs::table.filter(jobs::kind.eq("power")).count().get_result::<i64>(c).unwrap())
            })
            .await
            .unwrap();
        (n == 0).then_some(())
    })
    .await;
    let log = std::fs::read_to_string(bmc_dir.path().join("sushy.log")).unwrap();
    let mut twice = Vec::new();
    for (uuid, _, _) in &systems {
        let resets = log
            .lines()
            .filter(|l| l.contains("POST") && l.contains(&format!("/Systems/{uuid}/Actions/ComputerSystem.Reset")))
            .count();
        if resets != 1 {
            twice.push((uuid.clone(), resets));
        }
    }
    assert!(twice.is_empty(), "BMCs that did not get exactly one command: {twice:?}");
    let by_rack = (r1.state.power_commands.load(Ordering::Relaxed), r2.state.power_commands.load(Ordering::Relaxed));
    eprintln!("power commands run: rack 1 {}, rack 2 {}", by_rack.0, by_rack.1);
    assert_eq!((by_rack.0 + by_rack.1) as usize, N);
    r1.stop().await;
    r2.stop().await;
}
