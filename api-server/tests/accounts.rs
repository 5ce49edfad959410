//! Users, account tokens, SSH/SSL keys, MAAS config and password
//! authentication: admin vs non-admin vs anonymous, on both databases.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use common::*;

backend_tests!(users_endpoints_by_role, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let user = s.user("user", false).await;

    // whoami
    let r = s.get(Some(&user), "users/?op=whoami").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type.as_deref(), Some("application/json; charset=utf-8"));
    let v = r.json();
    assert_eq!(v["username"], "user");
    assert_eq!(v["is_superuser"], false);
    assert_eq!(v["is_local"], true);
    assert_eq!(v["email"], "user@example.com");
    assert_eq!(v["resource_uri"], "/MAAS/api/2.0/users/user/");
    assert_eq!(s.get(None, "users/?op=whoami").await.status, 401);

    // list: any authenticated user, ordered by id
    let r = s.get(Some(&user), "users/").await;
    assert_eq!(r.status, 200);
    let names: Vec<String> =
        r.json().as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, vec!["admin", "user"]);
    assert_eq!(s.get(None, "users/").await.status, 401);

    // create: admin only
    let form = [("username", "new1"), ("email", "n@example.com"), ("password", "pw"), ("is_superuser", "0")];
    let r = s.post(Some(&user), "users/", &form).await;
    assert_eq!(r.status, 403);
    assert_eq!(s.post(None, "users/", &form).await.status, 401);
    let r = s.post(Some(&admin), "users/", &form).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["username"], "new1");
    assert_eq!(r.json()["is_superuser"], false);
    // the new user can log in with the password and gets their token
    let r = client()
        .post(format!("{}/MAAS/accounts/authenticate/", s.origin))
        .form(&[("username", "new1"), ("password", "pw")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // duplicate
    let r = s.post(Some(&admin), "users/", &form).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["username"][0], "A user with that username already exists.");
    // missing fields and bad values name every field
    let r = s.post(Some(&admin), "users/", &[("username", "bad name"), ("email", "nope")]).await;
    assert_eq!(r.status, 400);
    let v = r.json();
    assert!(v["username"][0].as_str().unwrap().contains("valid username"), "{v}");
    assert!(v["email"][0].as_str().unwrap().contains("valid email"), "{v}");
    // Look-alike and non-ASCII names are refused (Cyrillic а in "аdmin").
    for name in ["\u{430}dmin", "jos\u{e9}", "bob\u{200b}"] {
        let r = s
            .post(
                Some(&admin),
                "users/",
                &[("username", name), ("email", "h@example.com"), ("password", "p"), ("is_superuser", "0")],
            )
            .await;
        assert_eq!(r.status, 400, "{name}: {}", r.body);
        assert!(r.json()["username"][0].as_str().unwrap().contains("valid username"), "{}", r.body);
    }
    let long = "a".repeat(151);
    let r = s
        .post(
            Some(&admin),
            "users/",
            &[("username", long.as_str()), ("email", "h@example.com"), ("password", "p"), ("is_superuser", "0")],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = s.post(Some(&admin), "users/", &[("username", "x"), ("email", "x@y.z"), ("password", "p")]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["is_superuser"][0], "This field is required.");
    let r = s
        .post(
            Some(&admin),
            "users/",
            &[("username", "x"), ("email", "x@y.z"), ("password", "p"), ("is_superuser", "perhaps")],
        )
        .await;
    assert_eq!(r.status, 400);
    // an admin-created admin
    let r = s
        .post(
            Some(&admin),
            "users/",
            &[("username", "boss"), ("email", "b@example.com"), ("password", "p"), ("is_superuser", "True")],
        )
        .await;
    assert_eq!(r.json()["is_superuser"], true);

    // read
    let r = s.get(Some(&user), "users/new1/").await;
    assert_eq!(r.status, 200);
    // Another user's email is for administrators (tests/security_ops.rs).
    assert_eq!(r.json()["email"], "");
    assert_eq!(s.get(Some(&admin), "users/new1/").await.json()["email"], "n@example.com");
    let r = s.get(Some(&user), "users/nobody/").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body, "No User matches the given query.");
    assert_eq!(s.get(None, "users/new1/").await.status, 401);

    // delete: admin only, not yourself, 204 with an empty text/plain body
    // (the maas CLI reads the Content-Type of every answer)
    assert_eq!(s.call(Some(&user), "DELETE", "users/new1/", &[]).await.status, 403);
    assert_eq!(s.call(None, "DELETE", "users/new1/", &[]).await.status, 401);
    let r = s.call(Some(&admin), "DELETE", "users/admin/", &[]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body, "An administrator cannot self-delete.");
    // MAAS looks the new owner up with get_object_or_404.
    let r = s.call(Some(&admin), "DELETE", "users/new1/", &[("transfer_resources_to", "ghost")]).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body, "No User matches the given query.");
    let r = s.call(Some(&admin), "DELETE", "users/new1/", &[]).await;
    assert_eq!(r.status, 204);
    assert_eq!(r.content_type.as_deref(), Some("text/plain"));
    assert!(r.body.is_empty());
    assert_eq!(s.get(Some(&admin), "users/new1/").await.status, 404);
    assert_eq!(s.call(Some(&admin), "DELETE", "users/new1/", &[]).await.status, 404);
});

backend_tests!(account_tokens, |b| async move {
    let s = TestServer::start(b);
    let me = s.user("tok", false).await;
    assert_eq!(s.get(None, "account/?op=list_authorisation_tokens").await.status, 401);
    // The MAAS CLI's macaroon probe: unauthenticated create must be a plain 401.
    let r = s.post(None, "account/?op=create_authorisation_token", &[]).await;
    assert_eq!(r.status, 401);
    assert!(r.headers.get("www-authenticate").is_none_or(|v| !v.to_str().unwrap().contains("Macaroon")));

    let r = s.get(Some(&me), "account/?op=list_authorisation_tokens").await;
    assert_eq!(r.status, 200);
    let list = r.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["name"], "MAAS consumer");
    assert_eq!(list[0]["token"], format!("{}:{}:{}", me.consumer, me.token, me.secret));

    let r = s.post(Some(&me), "account/?op=create_authorisation_token", &[("name", "cli")]).await;
    assert_eq!(r.status, 200);
    let t = r.json();
    for k in ["token_key", "token_secret", "consumer_key", "name"] {
        assert!(t[k].is_string(), "{k} in {t}");
    }
    assert_eq!(t["name"], "cli");
    assert_eq!(t["token_key"].as_str().unwrap().len(), 18);
    assert_eq!(t["token_secret"].as_str().unwrap().len(), 32);
    let r = s.post(Some(&me), "account/?op=create_authorisation_token", &[]).await;
    assert_eq!(r.json()["name"], "MAAS consumer");

    // rename by key and by full API key
    let key = t["token_key"].as_str().unwrap();
    let full = format!("{}:{}:{}", t["consumer_key"].as_str().unwrap(), key, t["token_secret"].as_str().unwrap());
    let r = s.post(Some(&me), "account/?op=update_token_name", &[("token", key), ("name", "renamed")]).await;
    assert_eq!(r.status, 202);
    assert_eq!(r.body, "Accepted");
    assert_eq!(r.content_type.as_deref(), Some("text/plain; charset=utf-8"));
    let r = s.post(Some(&me), "account/?op=update_token_name", &[("token", full.as_str()), ("name", "again")]).await;
    assert_eq!(r.status, 202);
    let names: Vec<String> = s
        .get(Some(&me), "account/?op=list_authorisation_tokens")
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().into())
        .collect();
    assert_eq!(names, vec!["MAAS consumer", "again", "MAAS consumer"]);
    let r = s.post(Some(&me), "account/?op=update_token_name", &[("token", "nope"), ("name", "x")]).await;
    assert_eq!(r.status, 404);
    let r = s.post(Some(&me), "account/?op=update_token_name", &[("token", key)]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["name"][0], "This field is required.");

    // someone else's token cannot be touched
    let other = s.user("other", false).await;
    let r = s.post(Some(&other), "account/?op=delete_authorisation_token", &[("token_key", key)]).await;
    assert_eq!(r.status, 404);
    let r = s.post(Some(&me), "account/?op=delete_authorisation_token", &[]).await;
    assert_eq!(r.status, 400);
    let r = s.post(Some(&me), "account/?op=delete_authorisation_token", &[("token_key", key)]).await;
    assert_eq!(r.status, 204);
    assert_eq!(s.get(Some(&me), "account/?op=list_authorisation_tokens").await.json().as_array().unwrap().len(), 2);
});

backend_tests!(ssh_and_ssl_keys, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("root", true).await;
    let me = s.user("keys", false).await;
    let other = s.user("else", false).await;
    assert_eq!(s.get(None, "account/prefs/sshkeys/").await.status, 401);
    assert_eq!(s.get(Some(&me), "account/prefs/sshkeys/").await.json(), serde_json::json!([]));

    let key = ed25519_key(1, "me@laptop");
    let r = s.post(Some(&me), "account/prefs/sshkeys/", &[("key", &key)]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let k = r.json();
    assert_eq!(k["key"], key);
    assert_eq!(k["keysource"], "");
    let id = k["id"].as_i64().unwrap();
    assert_eq!(k["resource_uri"], format!("/MAAS/api/2.0/account/prefs/sshkeys/{id}/"));
    // the same key twice
    let r = s.post(Some(&me), "account/prefs/sshkeys/", &[("key", &key)]).await;
    assert_eq!(r.status, 400);
    // invalid keys: a helpful 400, never a 500
    for bad in ["", "garbage", "ssh-rsa AAAA", "ssh-ed25519 !!!notbase64", "from=\"x\" ssh-ed25519 AAAA"] {
        let r = s.post(Some(&me), "account/prefs/sshkeys/", &[("key", bad)]).await;
        assert_eq!(r.status, 400, "{bad:?}: {}", r.body);
        assert!(r.json()["key"][0].is_string(), "{}", r.body);
    }
    // read / list / ownership
    let r = s.get(Some(&me), &format!("account/prefs/sshkeys/{id}/")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["id"], id);
    assert_eq!(s.get(Some(&other), &format!("account/prefs/sshkeys/{id}/")).await.status, 403);
    assert_eq!(s.get(Some(&other), "account/prefs/sshkeys/").await.json(), serde_json::json!([]));
    assert_eq!(s.get(Some(&me), "account/prefs/sshkeys/999999/").await.status, 404);
    assert_eq!(s.get(Some(&me), "account/prefs/sshkeys/abc/").await.status, 404);
    assert_eq!(s.call(Some(&other), "DELETE", &format!("account/prefs/sshkeys/{id}/"), &[]).await.status, 403);
    // an admin may add a key for another user; a non-admin may not
    let k2 = ed25519_key(2, "for-else");
    assert_eq!(s.post(Some(&me), "account/prefs/sshkeys/", &[("key", &k2), ("user", "else")]).await.status, 403);
    let r = s.post(Some(&admin), "account/prefs/sshkeys/", &[("key", &k2), ("user", "else")]).await;
    assert_eq!(r.status, 201);
    assert_eq!(s.get(Some(&other), "account/prefs/sshkeys/").await.json().as_array().unwrap().len(), 1);
    assert_eq!(s.post(Some(&admin), "account/prefs/sshkeys/", &[("key", &k2), ("user", "ghost")]).await.status, 400);
    // import: bad keysource is a 400
    assert_eq!(s.post(Some(&me), "account/prefs/sshkeys/?op=import", &[("keysource", "xx:me")]).await.status, 400);
    assert_eq!(s.post(Some(&me), "account/prefs/sshkeys/?op=import", &[]).await.status, 400);
    // delete
    let r = s.call(Some(&me), "DELETE", &format!("account/prefs/sshkeys/{id}/"), &[]).await;
    assert_eq!(r.status, 204);
    assert_eq!(s.get(Some(&me), &format!("account/prefs/sshkeys/{id}/")).await.status, 404);

    // SSL keys
    assert_eq!(s.get(None, "account/prefs/sslkeys/").await.status, 401);
    let r = s.post(Some(&me), "account/prefs/sslkeys/", &[("key", &pem_cert(5))]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let sid = r.json()["id"].as_i64().unwrap();
    assert_eq!(s.post(Some(&me), "account/prefs/sslkeys/", &[("key", "not a cert")]).await.status, 400);
    assert_eq!(s.get(Some(&me), "account/prefs/sslkeys/").await.json().as_array().unwrap().len(), 1);
    assert_eq!(s.get(Some(&other), &format!("account/prefs/sslkeys/{sid}/")).await.status, 403);
    assert_eq!(s.get(Some(&me), &format!("account/prefs/sslkeys/{sid}/")).await.json()["key"], pem_cert(5));
    assert_eq!(s.call(Some(&me), "DELETE", &format!("account/prefs/sslkeys/{sid}/"), &[]).await.status, 204);
});

backend_tests!(maas_config, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("cfgadmin", true).await;
    let user = s.user("cfguser", false).await;
    let r = s.get(Some(&user), "maas/?op=get_config&name=default_distro_series").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), serde_json::json!("noble"));
    assert_eq!(s.get(None, "maas/?op=get_config&name=maas_name").await.status, 401);
    assert_eq!(s.get(Some(&user), "maas/?op=get_config").await.status, 400);
    let r = s.get(Some(&user), "maas/?op=get_config&name=bogus").await;
    assert_eq!(r.status, 400);
    assert!(r.json()["name"][0].as_str().unwrap().contains("bogus"));

    // set: admin only, validated, typed on read
    let r = s.post(Some(&user), "maas/?op=set_config", &[("name", "maas_name"), ("value", "x")]).await;
    assert_eq!(r.status, 403);
    let r = s.post(Some(&admin), "maas/?op=set_config", &[("name", "maas_name"), ("value", "lab-maas")]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "OK");
    assert_eq!(s.get(Some(&user), "maas/?op=get_config&name=maas_name").await.json(), serde_json::json!("lab-maas"));
    s.post(Some(&admin), "maas/?op=set_config", &[("name", "enable_analytics"), ("value", "false")]).await;
    assert_eq!(s.get(Some(&user), "maas/?op=get_config&name=enable_analytics").await.json(), serde_json::json!(false));
    s.post(Some(&admin), "maas/?op=set_config", &[("name", "default_dns_ttl"), ("value", "120")]).await;
    assert_eq!(s.get(Some(&user), "maas/?op=get_config&name=default_dns_ttl").await.json(), serde_json::json!(120));
    for (name, value) in [
        ("default_dns_ttl", "-1"),
        ("enable_analytics", "maybe"),
        ("dnssec_validation", "sometimes"),
        ("ntp_servers", "bad host!"),
        ("nope", "1"),
    ] {
        let r = s.post(Some(&admin), "maas/?op=set_config", &[("name", name), ("value", value)]).await;
        assert_eq!(r.status, 400, "{name}={value}");
    }
    assert_eq!(s.post(Some(&admin), "maas/?op=set_config", &[("name", "maas_name")]).await.status, 400);
    // legacy alias
    s.post(Some(&admin), "maas/?op=set_config", &[("name", "ntp_server"), ("value", "ntp.example.com")]).await;
    assert_eq!(
        s.get(Some(&user), "maas/?op=get_config&name=ntp_servers").await.json(),
        serde_json::json!("ntp.example.com")
    );
    // secrets are for admins only
    assert_eq!(s.get(Some(&user), "maas/?op=get_config&name=vcenter_password").await.status, 403);
    assert_eq!(s.get(Some(&admin), "maas/?op=get_config&name=vcenter_password").await.status, 200);
});

backend_tests!(password_authentication, |b| async move {
    let s = TestServer::start(b);
    s.user("pat", false).await;
    let url = format!("{}/MAAS/accounts/authenticate/", s.origin);
    let c = client();
    let login = |form: Vec<(&'static str, &'static str)>| {
        let c = c.clone();
        let url = url.clone();
        async move { read(c.post(&url).form(&form).send().await.unwrap()).await }
    };
    let r = login(vec![("username", "pat"), ("password", "pat-password"), ("consumer", "pat@laptop")]).await;
    assert_eq!(r.status, 200);
    let t = r.json();
    assert_eq!(t["name"], "pat@laptop");
    // the same consumer name returns the same token
    let again = login(vec![("username", "pat"), ("password", "pat-password"), ("consumer", "pat@laptop")]).await.json();
    assert_eq!(again["token_key"], t["token_key"]);
    // without consumer: the oldest token
    let oldest = login(vec![("username", "pat"), ("password", "pat-password")]).await.json();
    assert_eq!(oldest["name"], "MAAS consumer");
    // the token works
    let key = ApiKey {
        consumer: t["consumer_key"].as_str().unwrap().into(),
        token: t["token_key"].as_str().unwrap().into(),
        secret: t["token_secret"].as_str().unwrap().into(),
    };
    assert_eq!(s.get(Some(&key), "users/?op=whoami").await.json()["username"], "pat");
    // bad credentials: 403
    assert_eq!(login(vec![("username", "pat"), ("password", "wrong")]).await.status, 403);
    assert_eq!(login(vec![("username", "nobody"), ("password", "x")]).await.status, 403);
    assert_eq!(login(vec![]).await.status, 403);
    // other methods: 405
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 405);
    // login state probe
    let r = read(c.get(format!("{}/MAAS/accounts/login/", s.origin)).send().await.unwrap()).await;
    assert_eq!(r.json()["no_users"], false);
    assert_eq!(r.json()["authenticated"], false);
});

backend_tests!(delete_user_with_resources, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let alice = s.user("alice", false).await;
    s.user("bob", false).await;
    let sid = ready_machine(&s, &admin, "m1", 2, 2048).await;
    let r = s.post(Some(&alice), "machines/?op=allocate", &[("system_id", sid.as_str())]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.post(Some(&admin), "subnets/", &[("cidr", "10.77.0.0/24")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.post(Some(&alice), "ipaddresses/?op=reserve", &[("ip", "10.77.0.5")]).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Owning resources: refused with MAAS's text, nothing deleted (was a 500).
    let r = s.call(Some(&admin), "DELETE", "users/alice/", &[]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body, "User alice cannot be deleted: 1 static IP address(es), 1 node(s) are still allocated");
    assert_eq!(s.get(Some(&alice), "users/?op=whoami").await.status, 200);
    assert_eq!(machine(&s, &admin, &sid).await["owner"], "alice");

    // Transferred: bob owns the machine and the reservation, alice is gone.
    let r = s.call(Some(&admin), "DELETE", "users/alice/?transfer_resources_to=bob", &[]).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(s.get(Some(&admin), "users/alice/").await.status, 404);
    assert_eq!(s.get(Some(&alice), "users/?op=whoami").await.status, 401);
    let m = machine(&s, &admin, &sid).await;
    assert_eq!(m["owner"], "bob");
    assert_eq!(m["status_name"], "Allocated");
    let ips = s.get(Some(&admin), "ipaddresses/?all=true").await.json();
    let owners: Vec<&str> = ips.as_array().unwrap().iter().filter_map(|a| a["owner"].as_str()).collect();
    assert_eq!(owners, vec!["bob"], "{ips}");
});

backend_tests!(deactivate_user, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let carol = s.user("carol", false).await;
    let login = |user: &'static str, pw: &'static str| {
        let url = format!("{}/MAAS/accounts/authenticate/", s.origin);
        async move { client().post(url).form(&[("username", user), ("password", pw)]).send().await.unwrap().status() }
    };
    assert_eq!(s.get(Some(&carol), "users/?op=whoami").await.status, 200);

    assert_eq!(s.call(Some(&carol), "PUT", "users/carol/", &[("is_active", "false")]).await.status, 403);
    let r = s.call(Some(&admin), "PUT", "users/carol/", &[("is_active", "maybe")]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["is_active"][0].as_str().unwrap().contains("valid boolean"), "{}", r.body);
    assert_eq!(s.call(Some(&admin), "PUT", "users/carol/", &[]).await.status, 400);
    let r = s.call(Some(&admin), "PUT", "users/admin/", &[("is_active", "false")]).await;
    expect(&r, 400, "cannot deactivate their own account");
    assert_eq!(s.call(Some(&admin), "PUT", "users/nobody/", &[("is_active", "false")]).await.status, 404);

    let r = s.call(Some(&admin), "PUT", "users/carol/", &[("is_active", "false")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["username"], "carol");
    // Her token and her password stop working at once (MAAS: 403 for an inactive user).
    let r = s.get(Some(&carol), "users/?op=whoami").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body, "User is not allowed access to this API.");
    assert_eq!(login("carol", "carol-password").await, 403);

    let r = s.call(Some(&admin), "PUT", "users/carol/", &[("is_active", "true")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.get(Some(&carol), "users/?op=whoami").await.status, 200);
    assert_eq!(login("carol", "carol-password").await, 200);
});

async fn password_login(s: &TestServer, user: &str, pw: &str) -> reqwest::Response {
    client()
        .post(format!("{}/MAAS/accounts/authenticate/", s.origin))
        .form(&[("username", user), ("password", pw)])
        .send()
        .await
        .unwrap()
}

backend_tests!(login_rate_limit, |b| async move {
    // A lockout longer than any test run: the right password must stay refused.
    let s = TestServer::start_with(b, |c| {
        c.login_max_failures = 3;
        c.login_lockout_secs = 3600;
    });
    s.user("dave", false).await;
    s.user("erin", false).await;
    for _ in 0..3 {
        assert_eq!(password_login(&s, "dave", "wrong").await.status(), 403);
    }
    let r = password_login(&s, "dave", "dave-password").await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 60 && retry <= 3600, "{retry}");
    let body = r.text().await.unwrap();
    assert!(body.contains("Too many failed login attempts"), "{body}");
    // Another user from the same address is unaffected.
    assert_eq!(password_login(&s, "erin", "erin-password").await.status(), 200);
    // Unknown usernames are counted like known ones (no enumeration).
    for _ in 0..3 {
        assert_eq!(password_login(&s, "ghost", "x").await.status(), 403);
    }
    assert_eq!(password_login(&s, "ghost", "x").await.status(), 429);
});

backend_tests!(login_lockout_expires, |b| async move {
    let s = TestServer::start_with(b, |c| {
        c.login_max_failures = 2;
        c.login_lockout_secs = 1;
    });
    s.user("fay", false).await;
    // A success clears the count: two failures around it never lock.
    assert_eq!(password_login(&s, "fay", "wrong").await.status(), 403);
    assert_eq!(password_login(&s, "fay", "fay-password").await.status(), 200);
    assert_eq!(password_login(&s, "fay", "wrong").await.status(), 403);
    assert_eq!(password_login(&s, "fay", "fay-password").await.status(), 200);
    for _ in 0..2 {
        assert_eq!(password_login(&s, "fay", "wrong").await.status(), 403);
    }
    // Waiting longer than the lockout is the only way back in; no upper bound
    // on how long the box takes is assumed.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(password_login(&s, "fay", "fay-password").await.status(), 200);
});

/// A region started on a data directory that does not exist yet keeps it
/// private: 0700, and the database (with its WAL and shared-memory files)
/// and the rack secret 0600, although the process umask is the usual 022.
#[actix_web::test]
async fn data_dir_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let db = TestDb::new(Backend::Sqlite);
    let dir = db.dir.path().join("fresh");
    let file = dir.join("ironpool.db");
    let url = format!("sqlite://{}", file.display());
    let s = TestServer::start_on(db, |c| {
        c.data_dir = dir.clone();
        c.database_url = url.clone();
    });
    // A write, so SQLite has its WAL and shared-memory files open.
    s.user("writer", false).await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    for name in ["ironpool.db", "ironpool.db-wal", "ironpool.db-shm", "secret"] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
}
