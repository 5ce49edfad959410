//! Issue 20: `account/prefs/sshkeys/?op=import` fetches keys for real, from
//! a local HTTP server standing in for Launchpad and GitHub (the region's
//! `launchpad_url` / `github_api_url`), with MAAS's words for unknown
//! protocols, unknown users, users without keys and unreachable sites.
//! Each test runs on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::*;
use serde_json::{json, Value};

/// A tiny HTTP/1.1 server answering `path → (status, body)`; anything else 404.
async fn serve(routes: HashMap<String, (u16, String)>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let routes = Arc::new(routes);
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let routes = routes.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut b = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = sock.read(&mut b).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&b[..n]);
                }
                let head = String::from_utf8_lossy(&buf).to_string();
                let path = head.split_whitespace().nth(1).unwrap().to_string();
                let (status, body) = routes.get(&path).cloned().unwrap_or((404, "Not Found".into()));
                let resp =
                    format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

fn keysources(v: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["keysource"].as_str().unwrap().to_string(), k["key"].as_str().unwrap().to_string()))
        .collect();
    out.sort();
    out
}

backend_tests!(imports_from_launchpad_and_github_with_maas_words, |b| async move {
    let (a1, a2, g1) = (ed25519_key(1, "alice@one"), ed25519_key(2, "alice@two"), ed25519_key(3, "bob"));
    let routes = HashMap::from([
        ("/~alice/+sshkeys".to_string(), (200, format!("{a1}\n\n{a2}\nnot a key\n"))),
        ("/~empty/+sshkeys".to_string(), (200, String::new())),
        ("/users/bob/keys".to_string(), (200, json!([{"id": 1, "key": g1}, {"id": 2}]).to_string())),
        ("/users/boom/keys".to_string(), (500, "oops".into())),
        ("/~gone/+sshkeys".to_string(), (410, String::new())),
    ]);
    let base = serve(routes).await;
    let s = TestServer::start_with(b, |c| {
        c.launchpad_url = base.clone();
        c.github_api_url = format!("{base}/");
    });
    let user = s.user("user", false).await;
    let import = "account/prefs/sshkeys/?op=import";

    // lp:<user>: every key that parses, recorded with its keysource.
    let r = s.post(Some(&user), import, &[("keysource", "lp:alice")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let want = vec![("lp:alice".to_string(), a1.clone()), ("lp:alice".to_string(), a2.clone())];
    assert_eq!(keysources(&r.json()), want);
    assert!(r.json()[0]["resource_uri"].as_str().unwrap().starts_with("/MAAS/api/2.0/account/prefs/sshkeys/"));
    assert_eq!(keysources(&s.get(Some(&user), "account/prefs/sshkeys/").await.json()), want);
    // Again, and as a bare user name (Launchpad): the same keys, no copies.
    for source in ["lp:alice", "alice"] {
        let r = s.post(Some(&user), import, &[("keysource", source)]).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(keysources(&r.json()), want);
    }
    assert_eq!(s.get(Some(&user), "account/prefs/sshkeys/").await.json().as_array().unwrap().len(), 2);

    // gh:<user>: GitHub's JSON.
    let r = s.post(Some(&user), import, &[("keysource", "gh:bob")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(keysources(&r.json()), [("gh:bob".to_string(), g1.clone())]);

    // MAAS's words.
    let words = [
        ("lp:ghost", "Unable to import SSH keys. Launchpad user ghost doesn't exist."),
        ("lp:gone", "Unable to import SSH keys. Launchpad user gone doesn't exist."),
        ("gh:ghost", "Unable to import SSH keys. Github user ghost doesn't exist."),
        ("lp:empty", "Unable to import SSH keys. There are no SSH keys for lp user empty."),
        ("xx:alice", "Unknown protocol xx. Valid protocols are 'LP' and 'GH'."),
    ];
    for (source, text) in words {
        let r = s.post(Some(&user), import, &[("keysource", source)]).await;
        assert_eq!((r.status, r.body.as_str()), (400, text), "{source}");
    }
    let r = s.post(Some(&user), import, &[]).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, "Importing SSH keys failed. Input needs to be in protocol:auth_id or auth_id format.")
    );
    let r = s.post(Some(&user), import, &[("keysource", "gh:boom")]).await;
    assert_eq!(r.status, 400);
    assert!(r.body.starts_with("Unable to import SSH keys. Github could not be reached"), "{}", r.body);
    // Nothing else was stored by the failures.
    assert_eq!(s.get(Some(&user), "account/prefs/sshkeys/").await.json().as_array().unwrap().len(), 3);
});

backend_tests!(unreachable_site_is_a_400_in_maas_terms, |b| async move {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let s = TestServer::start_with(b, move |c| c.launchpad_url = format!("http://127.0.0.1:{closed}"));
    let user = s.user("user", false).await;
    let r = s.post(Some(&user), "account/prefs/sshkeys/?op=import", &[("keysource", "lp:alice")]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.starts_with("Unable to import SSH keys. Launchpad could not be reached: "), "{}", r.body);
    assert_eq!(s.get(Some(&user), "account/prefs/sshkeys/").await.json(), json!([]));
});
