//! MAAS's URL, encoding and response rules, and `describe/` against the router.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use common::*;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};

backend_tests!(url_rules, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;

    // A missing trailing slash is a 404 with MAAS's text, never a redirect.
    let r = s.get(Some(&admin), "users").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body, "Unknown API endpoint: /MAAS/api/2.0/users.");
    assert_eq!(r.content_type.as_deref(), Some("text/plain; charset=utf-8"));
    let r = s.get(None, "no/such/thing/").await;
    assert_eq!(r.body, "Unknown API endpoint: /MAAS/api/2.0/no/such/thing/.");

    // Doubled slashes are collapsed.
    assert_eq!(s.get(Some(&admin), "/users/?op=whoami").await.status, 200);

    // op-<name> path suffix, empty op, op in the body.
    assert_eq!(s.get(Some(&admin), "users/op-whoami").await.json()["username"], "admin");
    let r = s.post(Some(&admin), "account/op-create_authorisation_token", &[("name", "viapath")]).await;
    assert_eq!(r.json()["name"], "viapath");
    let form = [("username", "u1"), ("email", "u1@example.com"), ("password", "p"), ("is_superuser", "false")];
    let r = s.post(Some(&admin), "users/?op=", &form).await;
    assert_eq!(r.status, 200, "empty op means create: {}", r.body);
    let r = s.post(Some(&admin), "account/", &[("op", "create_authorisation_token"), ("name", "viabody")]).await;
    assert_eq!(r.json()["name"], "viabody");
    // The same op in query and body is tolerated (python-libmaas on events).
    let r =
        s.post(Some(&admin), "account/?op=create_authorisation_token", &[("op", "create_authorisation_token")]).await;
    assert_eq!(r.status, 200);

    // Wrong method/op pairs.
    let r = s.get(Some(&admin), "users/?op=frobnicate").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body, "Unrecognised signature: method=GET op=frobnicate");
    let r = s.post(Some(&admin), "users/?op=whoami", &[]).await;
    assert_eq!(r.body, "Unrecognised signature: method=POST op=whoami");
    let r = s.post(Some(&admin), "account/", &[]).await;
    assert_eq!(r.body, "Unrecognised signature: method=POST op=None");
    // A method the handler lacks entirely: 405 with Allow.
    let r = s.call(Some(&admin), "PUT", "users/", &[]).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.headers["allow"], "GET, POST");
    let r = s.call(Some(&admin), "PATCH", "users/", &[]).await;
    assert_eq!(r.status, 405);

    // Anonymous on an authenticated-only resource: 401.
    assert_eq!(s.get(None, "account/?op=list_authorisation_tokens").await.status, 401);

    // Outside API 2.0.
    let r = read(client().get(format!("{}/MAAS/api/version/", s.origin)).send().await.unwrap()).await;
    assert_eq!((r.status, r.body.as_str()), (200, "2.0"));
    let r = read(client().get(format!("{}/MAAS/api/1.0/nodegroups/", s.origin)).send().await.unwrap()).await;
    assert_eq!((r.status, r.body.as_str()), (404, "Unknown API endpoint: /MAAS/api/1.0/nodegroups/."));
    let r = read(client().get(format!("{}/MAAS/api/", s.origin)).send().await.unwrap()).await;
    assert_eq!(r.json()["title"], "MAAS API");
});

fn b64_part(name: &str, value: &[u8], boundary: &str) -> String {
    use base64::Engine as _;
    let enc = base64::engine::general_purpose::STANDARD.encode(value);
    let wrapped: Vec<String> = enc.as_bytes().chunks(76).map(|c| String::from_utf8(c.to_vec()).unwrap()).collect();
    format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=\"utf-8\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        wrapped.join("\r\n")
    )
}

backend_tests!(body_encodings, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let c = client();

    // python-libmaas / MAAS CLI: multipart, quoted boundary, base64 parts.
    let boundary = "===============1234567890==";
    let long_email = format!("{}@example.com", "x".repeat(80));
    let mut body = String::new();
    for (k, v) in [("username", "mp"), ("email", long_email.as_str()), ("password", "pw"), ("is_superuser", "false")] {
        body.push_str(&b64_part(k, v.as_bytes(), boundary));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    let r = read(
        c.post(s.api("users/"))
            .header(AUTHORIZATION, admin.plaintext())
            .header(CONTENT_TYPE, format!("multipart/form-data; boundary=\"{boundary}\""))
            .body(body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["email"], long_email);

    // python-libmaas DELETE: a degenerate one-part multipart body.
    let r = read(
        c.delete(s.api("users/mp/"))
            .header(AUTHORIZATION, admin.plaintext())
            .header(CONTENT_TYPE, format!("multipart/form-data; boundary=\"{boundary}\""))
            .body(format!("--{boundary}\r\n\r\n--{boundary}--\r\n"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);

    // MAAS CLI: a POST with no body and no Content-Type.
    let r = read(
        c.post(s.api("account/?op=create_authorisation_token"))
            .header(AUTHORIZATION, admin.plaintext())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);

    // Early OpenAPI SDKs: a JSON object body.
    let r = read(
        c.post(s.api("users/"))
            .header(AUTHORIZATION, admin.plaintext())
            .json(&serde_json::json!({"username": "js", "email": "js@example.com", "password": "p", "is_superuser": false}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Malformed bodies: 400 with a message, never 500.
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("multipart/form-data; boundary=zz", b"no boundary here".to_vec()),
        ("multipart/form-data", b"--x\r\n\r\n--x--".to_vec()),
        ("application/json", b"{not json".to_vec()),
        ("application/json", b"[1,2]".to_vec()),
        ("application/x-www-form-urlencoded", vec![b'a', b'=', 0xff, 0xfe]),
    ];
    for (ct, body) in cases {
        let r = read(
            c.post(s.api("users/"))
                .header(AUTHORIZATION, admin.plaintext())
                .header(CONTENT_TYPE, ct)
                .body(body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, 400, "{ct}: {}", r.body);
        assert!(!r.body.is_empty());
    }
    let bad_b64 =
        "--b\r\nContent-Disposition: form-data; name=\"username\"\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!*\r\n--b--\r\n";
    let r = read(
        c.post(s.api("users/"))
            .header(AUTHORIZATION, admin.plaintext())
            .header(CONTENT_TYPE, "multipart/form-data; boundary=b")
            .body(bad_b64)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 400);

    // Oversized bodies.
    let huge = vec![b'a'; 3 * 1024 * 1024];
    let r = read(
        c.post(s.api("users/"))
            .header(AUTHORIZATION, admin.plaintext())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(huge)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 413);
    assert!(r.body.contains("too large"), "{}", r.body);
});

backend_tests!(describe_matches_router, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let c = client();
    let r = read(c.get(s.api("describe/")).header("host", "maas.example:5240").send().await.unwrap()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type.as_deref(), Some("application/json"), "exactly, for the MAAS CLI");
    let d = r.json();
    assert_eq!(d["doc"], "MAAS API");
    let hash = d["hash"].as_str().unwrap();
    assert_eq!(hash.len(), 40);
    assert_eq!(r.headers["x-maas-api-hash"], hash);
    // Every API response carries the same hash.
    assert_eq!(s.get(Some(&admin), "users/?op=whoami").await.headers["x-maas-api-hash"], hash);

    let resources = d["resources"].as_array().unwrap();
    let names: Vec<&str> = resources.iter().map(|r| r["name"].as_str().unwrap()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "resources sorted by name");

    // Each handler the server routes is described, and nothing else.
    let mut described: Vec<&str> =
        d["handlers"].as_array().unwrap().iter().map(|h| h["name"].as_str().unwrap()).collect();
    described.sort();
    let routes = ironpool_region::server::routes();
    let mut routed: Vec<&str> = routes.registry.handlers().iter().map(|h| h.name).collect();
    routed.sort();
    assert_eq!(described, routed);
    for expected in [
        "VersionHandler",
        "UsersHandler",
        "UserHandler",
        "AccountHandler",
        "SSHKeysHandler",
        "SSHKeyHandler",
        "SSLKeysHandler",
        "SSLKeyHandler",
        "MaasHandler",
    ] {
        assert!(described.contains(&expected), "{expected}");
    }

    // Each described action is served at its path: never an unknown-endpoint
    // 404, an unrecognised-signature 400 or a 405.
    for h in d["handlers"].as_array().unwrap() {
        let path = h["path"].as_str().unwrap();
        let uri = h["uri"].as_str().unwrap();
        assert_eq!(uri, format!("http://maas.example:5240{path}"), "absolute uri from Host");
        let params: Vec<&str> = h["params"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
        let mut filled = path.to_string();
        for p in &params {
            assert!(filled.contains(&format!("{{{p}}}")), "{path} has {{{p}}}");
            filled = filled.replace(&format!("{{{p}}}"), "1");
        }
        assert!(!filled.contains('{'), "{path}: placeholders equal params");
        assert!(h["doc"].as_str().is_some_and(|d| !d.is_empty()));
        for a in h["actions"].as_array().unwrap() {
            let method = a["method"].as_str().unwrap();
            let op = a["op"].as_str();
            assert_eq!(a["restful"], op.is_none());
            let doc = a["doc"].as_str().unwrap();
            assert!(doc.contains("\n\n"), "doc has a title paragraph: {doc}");
            let url = match op {
                Some(op) => format!("{}{filled}?op={op}", s.origin),
                None => format!("{}{filled}", s.origin),
            };
            let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let r = read(c.request(m, &url).header(AUTHORIZATION, admin.plaintext()).send().await.unwrap()).await;
            assert!(!r.body.starts_with("Unknown API endpoint"), "{method} {url}: {}", r.body);
            assert!(!r.body.starts_with("Unrecognised signature"), "{method} {url}: {}", r.body);
            assert_ne!(r.status, 405, "{method} {url}");
            assert!(r.status < 500, "{method} {url}: {} {}", r.status, r.body);
        }
    }

    // Behind a proxy, the forwarded host and scheme are used.
    let d = read(
        c.get(s.api("describe/"))
            .header("x-forwarded-host", "proxy.example")
            .header("x-forwarded-proto", "https")
            .send()
            .await
            .unwrap(),
    )
    .await
    .json();
    assert!(d["handlers"][0]["uri"].as_str().unwrap().starts_with("https://proxy.example/MAAS/api/2.0/"));
});
