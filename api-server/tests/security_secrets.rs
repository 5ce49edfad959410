//! Issue 15, H4 and M1: BMC settings from anonymous enlistment are
//! quarantined until an administrator accepts the machine; what a BMC says
//! never reaches users; redirects and absolute URLs never carry BMC
//! credentials to another host; BMC passwords and token secrets are
//! encrypted at rest (SQLite file bytes and PostgreSQL columns), older
//! plaintext rows are upgraded, and a region with the wrong key refuses to
//! start.
//!
//! The "BMCs" are HTTP listeners on loopback that record every request
//! (method, path, headers) they get.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::{expect, Backend, TestServer};
use diesel::prelude::*;
use ironpool_region::db::schema::{api_tokens, nodes};
use ironpool_region::db::secrets::SecretsKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request a fake BMC received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: HashMap<String, String>,
}

type Answer = (u16, Vec<(&'static str, String)>, String);

#[derive(Clone)]
struct FakeBmc {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeBmc {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// A loopback HTTP server answering each request with `answer` and
/// recording it.
async fn fake_bmc(answer: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> FakeBmc {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (log, answer) = (seen.clone(), Arc::new(answer));
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let (log, answer) = (log.clone(), answer.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // One request per connection (we answer Connection: close).
                let head_end = loop {
                    let Ok(n) = sock.read(&mut chunk).await else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let mut lines = head.split("\r\n");
                let mut first = lines.next().unwrap_or("").split(' ');
                let (method, path) = (first.next().unwrap_or("").to_string(), first.next().unwrap_or("").to_string());
                let headers: HashMap<String, String> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                    .collect();
                let want: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
                while buf.len() < head_end + 4 + want {
                    let Ok(n) = sock.read(&mut chunk).await else { return };
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let req = Seen { method, path, headers };
                let (status, extra, body) = answer(&req);
                log.lock().unwrap().push(req);
                let mut resp = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                for (k, v) in extra {
                    resp.push_str(&format!("{k}: {v}\r\n"));
                }
                resp.push_str("\r\n");
                resp.push_str(&body);
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    FakeBmc { url, seen }
}

/// A Redfish service with one system, always On.
fn redfish(system_href: String) -> impl Fn(&Seen) -> Answer + Send + Sync + 'static {
    move |r: &Seen| match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/redfish/v1/Systems") => {
            (200, vec![], serde_json::json!({"Members": [{"@odata.id": system_href}]}).to_string())
        }
        ("GET", "/redfish/v1/Systems/1") => (
            200,
            vec![],
            serde_json::json!({"PowerState": "On", "Actions": {"#ComputerSystem.Reset": {
                "target": "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset"}}})
            .to_string(),
        ),
        _ => (200, vec![], "{}".into()),
    }
}

async fn redfish_machine(s: &TestServer, who: Option<&common::ApiKey>, mac: &str, bmc: &str, pass: &str) -> String {
    let r = s
        .post(
            who,
            "machines/",
            &[
                ("architecture", "amd64"),
                ("mac_addresses", mac),
                ("power_type", "redfish"),
                ("power_parameters_power_address", bmc),
                ("power_parameters_power_user", "bmcuser"),
                ("power_parameters_power_pass", pass),
                ("commission", "false"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["system_id"].as_str().unwrap().to_string()
}

async fn run_jobs(s: &TestServer) {
    use ironpool_region::engine::jobs::worker;
    s.state.db.write(|c| worker::enqueue_power_sync(c).map(|_| ())).await.unwrap();
    worker::run_due(&s.state.db, &s.state.power).await.unwrap();
}

// H4: an anonymous enlistment names a BMC; nobody's power call reaches it
// until an administrator accepts the machine.
backend_tests!(enlisted_bmc_is_quarantined_until_accepted, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let alice = s.user("alice", false).await;
    let bmc = fake_bmc(redfish("/redfish/v1/Systems/1".into())).await;
    let sid = redfish_machine(&s, None, "52:54:00:5e:00:01", &bmc.url, "attacker-chosen").await;

    let r = s.get(Some(&alice), &format!("machines/{sid}/?op=query_power_state")).await;
    expect(&r, 409, "accept");
    let r = s.get(Some(&admin), &format!("machines/{sid}/?op=query_power_state")).await;
    expect(&r, 409, "op=accept");
    let r = s.post(Some(&admin), &format!("machines/{sid}/?op=power_off"), &[]).await;
    expect(&r, 409, "accept");
    let r = s.post(Some(&admin), &format!("machines/{sid}/?op=power_on"), &[]).await;
    assert_eq!(r.status, 409, "{}", r.body);
    // The periodic power sync and the job worker skip it too.
    run_jobs(&s).await;
    assert!(bmc.seen().is_empty(), "the BMC was contacted before acceptance: {:?}", bmc.seen());

    // An administrator accepts it: from now on its BMC is used.
    let r = s.post(Some(&admin), "machines/?op=accept", &[("machines", &sid)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains(&sid), "{}", r.body);
    let r = s.get(Some(&alice), &format!("machines/{sid}/?op=query_power_state")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["state"], "on");
    let seen = bmc.seen();
    assert!(seen.iter().any(|r| r.path == "/redfish/v1/Systems/1"), "{seen:?}");
    assert!(seen.iter().all(|r| r.headers.contains_key("authorization")));
});

// What a BMC answers (its error text, a body full of secrets) is never
// shown to users, in the error or in the machine's events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bmc_text_never_reaches_users() {
    let s = TestServer::start(Backend::Sqlite);
    let admin = s.user("admin", true).await;
    let alice = s.user("alice", false).await;
    let json_err = fake_bmc(|_| {
        (500, vec![], r#"{"error":{"message":"TOPSECRET-json root:hunter2","@Message.ExtendedInfo":[{"Message":"TOPSECRET-ext"}]}}"#.into())
    })
    .await;
    let text_err = fake_bmc(|_| (502, vec![], "TOPSECRET-text\nAWS_SECRET_ACCESS_KEY=abc".into())).await;
    let not_json = fake_bmc(|_| (200, vec![], "TOPSECRET-notjson <html>".into())).await;
    for (i, bmc) in [&json_err, &text_err, &not_json].into_iter().enumerate() {
        let sid = redfish_machine(&s, Some(&admin), &format!("52:54:00:5e:01:0{i}"), &bmc.url, "pw").await;
        let r = s.get(Some(&alice), &format!("machines/{sid}/?op=query_power_state")).await;
        assert_eq!(r.status, 503, "{}", r.body);
        assert!(!r.body.contains("TOPSECRET"), "BMC text echoed: {}", r.body);
        assert!(r.body.contains("BMC answered HTTP") || r.body.contains("not a JSON document"), "{}", r.body);
        let ev = s.get(Some(&admin), &format!("events/?op=query&id={sid}&level=DEBUG")).await;
        assert_eq!(ev.status, 200);
        assert!(ev.body.contains("Failed to query node's BMC"), "{}", ev.body);
        assert!(!ev.body.contains("TOPSECRET"), "BMC text in an event: {}", ev.body);
        assert!(!bmc.seen().is_empty());
    }
}

// A redirect is not followed (so the Authorization header never goes to
// the host it names), and an absolute @odata.id naming another host is
// used for its path only, on the configured BMC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_never_leave_the_configured_bmc() {
    let s = TestServer::start(Backend::Sqlite);
    let admin = s.user("admin", true).await;
    let elsewhere = fake_bmc(redfish("/redfish/v1/Systems/1".into())).await;

    let target = format!("{}/redfish/v1/Systems", elsewhere.url);
    let redirecting = fake_bmc(move |_| (302, vec![("Location", target.clone())], String::new())).await;
    let sid = redfish_machine(&s, Some(&admin), "52:54:00:5e:02:01", &redirecting.url, "pw").await;
    let r = s.get(Some(&admin), &format!("machines/{sid}/?op=query_power_state")).await;
    expect(&r, 503, "HTTP 302");
    assert_eq!(redirecting.seen().len(), 1, "{:?}", redirecting.seen());
    assert!(redirecting.seen()[0].headers.contains_key("authorization"));

    let absolute = fake_bmc(redfish(format!("{}/redfish/v1/Systems/1", elsewhere.url))).await;
    let sid = redfish_machine(&s, Some(&admin), "52:54:00:5e:02:02", &absolute.url, "pw").await;
    let r = s.get(Some(&admin), &format!("machines/{sid}/?op=query_power_state")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["state"], "on");
    assert!(absolute.seen().iter().any(|r| r.path == "/redfish/v1/Systems/1"), "{:?}", absolute.seen());
    assert!(elsewhere.seen().is_empty(), "credentials went to another host: {:?}", elsewhere.seen());
}

/// The raw stored values of the secret columns, read past the datastore's
/// decryption.
async fn raw_secrets(s: &TestServer) -> (Vec<String>, Vec<String>) {
    s.state
        .db
        .run(|c| {
            let tokens = api_tokens::table.select(api_tokens::token_secret).load::<String>(c).unwrap();
            let params = nodes::table.select(nodes::power_parameters).load::<String>(c).unwrap();
            Ok((tokens, params))
        })
        .await
        .unwrap()
}

const BMC_PASS: &str = "BMC-PW-7f3a9c21";

// M1: BMC passwords and token secrets are ciphertext in the database; OAuth
// and the power parameters still work; plaintext rows left by an older
// version are read and then encrypted at the next start; a region with
// another key refuses the database.
backend_tests!(secrets_are_encrypted_at_rest, |b| async move {
    let mut s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let sid = redfish_machine(&s, Some(&admin), "52:54:00:5e:03:01", "http://127.0.0.1:9", BMC_PASS).await;

    // OAuth (PLAINTEXT) and the admin's view of the power parameters work.
    assert_eq!(s.get(Some(&admin), "users/?op=whoami").await.status, 200);
    let p = s.get(Some(&admin), &format!("machines/{sid}/?op=power_parameters")).await.json();
    assert_eq!(p["power_pass"], BMC_PASS);

    let (tokens, params) = raw_secrets(&s).await;
    assert!(!tokens.is_empty() && tokens.iter().all(|t| t.starts_with("enc1:")), "{tokens:?}");
    assert!(!tokens.iter().any(|t| t.contains(&admin.secret)));
    let stored = params.iter().find(|p| p.contains("power_pass")).unwrap();
    assert!(!stored.contains(BMC_PASS) && stored.contains("enc1:"), "{stored}");
    assert!(stored.contains("127.0.0.1:9"), "non-secret fields stay readable: {stored}");
    if b == Backend::Sqlite {
        // Every byte SQLite wrote, WAL included.
        let path = s.db.url.trim_start_matches("sqlite://").to_string();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
        let has = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
        assert!(!has(BMC_PASS), "BMC password in the database file");
        assert!(!has(&admin.secret), "token secret in the database file");
    }

    // Rows an older version wrote in plaintext: read as they are…
    let (secret, token_key) = (admin.secret.clone(), admin.token.clone());
    let legacy = format!(r#"{{"power_address":"http://127.0.0.1:9","power_pass":"{BMC_PASS}","power_user":"u"}}"#);
    let legacy2 = legacy.clone();
    s.state
        .db
        .write(move |c| {
            diesel::update(api_tokens::table.filter(api_tokens::token_key.eq(token_key)))
                .set(api_tokens::token_secret.eq(secret))
                .execute(c)
                .unwrap();
            diesel::update(nodes::table).set(nodes::power_parameters.eq(legacy2)).execute(c).unwrap();
            Ok(())
        })
        .await
        .unwrap();
    assert!(raw_secrets(&s).await.0.iter().any(|t| t == &admin.secret));
    assert_eq!(s.get(Some(&admin), "users/?op=whoami").await.status, 200);
    let p = s.get(Some(&admin), &format!("machines/{sid}/?op=power_parameters")).await.json();
    assert_eq!(p["power_pass"], BMC_PASS);

    // …and encrypted at the next start.
    s.stop().await;
    s.restart();
    let (tokens, params) = raw_secrets(&s).await;
    assert!(tokens.iter().all(|t| t.starts_with("enc1:")), "{tokens:?}");
    assert!(params.iter().all(|p| !p.contains(BMC_PASS)), "{params:?}");
    assert_eq!(s.get(Some(&admin), "users/?op=whoami").await.status, 200);
    let p = s.get(Some(&admin), &format!("machines/{sid}/?op=power_parameters")).await.json();
    assert_eq!(p["power_pass"], BMC_PASS);

    // A region with another key refuses the database, saying why; the
    // right key (what a second region is given) opens it.
    let url = s.db.url.clone();
    let e = ironpool_region::db::at_rest::open(&url, 1, SecretsKey::ephemeral())
        .err()
        .expect("another key must be refused");
    assert!(e.to_string().contains("cannot decrypt") && e.to_string().contains("share"), "{e}");
    let key = s.state.config.secrets_key().unwrap();
    ironpool_region::db::at_rest::open(&url, 1, key).unwrap();
    if b == Backend::Postgres {
        let second = s.second_region();
        assert_eq!(second.get(Some(&admin), "users/?op=whoami").await.status, 200);
    }
});
