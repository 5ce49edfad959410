//! OAuth 1.0 against the real server, signed by an independent implementation
//! (the `oauth1-request` crate) in PLAINTEXT and HMAC-SHA1, on both databases.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use common::*;
use oauth1_request as oauth;
use reqwest::header::AUTHORIZATION;

#[derive(oauth::Request)]
struct OpQuery<'a> {
    op: &'a str,
}

#[derive(oauth::Request)]
struct TokenForm<'a> {
    name: &'a str,
}

fn token(k: &ApiKey) -> oauth::Token<String, String> {
    oauth::Token::from_parts(k.consumer.clone(), String::new(), k.token.clone(), k.secret.clone())
}

backend_tests!(plaintext_and_hmac_are_accepted, |b| async move {
    let s = TestServer::start(b);
    let key = s.user("alice", false).await;
    let c = client();
    let base = s.api("users/");
    let q = OpQuery { op: "whoami" };
    let url = oauth::to_query(base.clone(), &q);

    for (label, header) in [
        ("PLAINTEXT (oauth1-request)", oauth::get(&base, &q, &token(&key), oauth::PLAINTEXT)),
        ("HMAC-SHA1 (oauth1-request)", oauth::get(&base, &q, &token(&key), oauth::HMAC_SHA1)),
        ("PLAINTEXT (libmaas style)", key.plaintext()),
    ] {
        let r = c.get(&url).header(AUTHORIZATION, header).send().await.unwrap();
        assert_eq!(r.status(), 200, "{label}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["username"], "alice", "{label}");
    }

    // HMAC-SHA1 over a form-encoded POST body: the body parameters are signed.
    let form = TokenForm { name: "hmac-made" };
    let post_base = s.api("account/");
    let post_url = oauth::to_query(post_base.clone(), &OpQuery { op: "create_authorisation_token" });
    #[derive(oauth::Request)]
    struct Both<'a> {
        name: &'a str,
        op: &'a str,
    }
    let header = oauth::post(
        &post_base,
        &Both { name: form.name, op: "create_authorisation_token" },
        &token(&key),
        oauth::HMAC_SHA1,
    );
    let r = c
        .post(&post_url)
        .header(AUTHORIZATION, header.clone())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(oauth::to_form(&form))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["name"], "hmac-made");

    // The same HMAC header with a tampered body no longer verifies.
    let r = c
        .post(&post_url)
        .header(
            AUTHORIZATION,
            oauth::post(
                &post_base,
                &Both { name: "x", op: "create_authorisation_token" },
                &token(&key),
                oauth::HMAC_SHA1,
            ),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=tampered")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
});

backend_tests!(bad_credentials_are_401, |b| async move {
    let s = TestServer::start(b);
    let key = s.user("bob", false).await;
    let c = client();
    let url = s.api("users/?op=whoami");
    let send = |h: String| {
        let c = c.clone();
        let url = url.clone();
        async move { c.get(&url).header(AUTHORIZATION, h).send().await.unwrap() }
    };

    // Wrong secret.
    let wrong = ApiKey { secret: "not-the-secret".into(), ..key.clone() };
    let r = send(wrong.plaintext()).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "OAuth realm=\"OAuth\"");
    assert_eq!(r.text().await.unwrap(), "Authorization Error: 'Invalid signature.'");

    // Wrong secret under HMAC-SHA1.
    let r = send(oauth::get(s.api("users/"), &OpQuery { op: "whoami" }, &token(&wrong), oauth::HMAC_SHA1)).await;
    assert_eq!(r.status(), 401);

    // Unknown consumer.
    let r = send(ApiKey { consumer: "nosuchconsumer".into(), ..key.clone() }.plaintext()).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.text().await.unwrap(), "Authorization Error: Invalid API key.");

    // Unknown token of a known consumer.
    let r = send(ApiKey { token: "nosuchtoken".into(), ..key.clone() }.plaintext()).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.text().await.unwrap(), "Authorization Error: 'Invalid access token: nosuchtoken'");

    // Malformed headers.
    for h in ["OAuth", "OAuth garbage", "OAuth oauth_consumer_key=\"x\"", "Basic YWxhZGRpbjpvcGVuc2VzYW1l"] {
        let r = send(h.to_string()).await;
        assert_eq!(r.status(), 401, "{h}");
    }

    // Unsupported signature method.
    let rsa = key.plaintext().replace("PLAINTEXT", "RSA-SHA1");
    assert_eq!(send(rsa).await.status(), 401);

    // No header at all.
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);

    // Expired timestamp (older than the 300 s window).
    let old = key.plaintext().replace(
        &format!("oauth_timestamp=\"{}\"", chrono::Utc::now().timestamp()),
        &format!("oauth_timestamp=\"{}\"", chrono::Utc::now().timestamp() - 3600),
    );
    let r = send(old).await;
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("Expired timestamp"));

    // Non-numeric timestamp is a 400, as in MAAS.
    let bad_ts = key
        .plaintext()
        .replace(&format!("oauth_timestamp=\"{}\"", chrono::Utc::now().timestamp()), "oauth_timestamp=\"soon\"");
    assert_eq!(send(bad_ts).await.status(), 400);

    // The good key still works after all that.
    assert_eq!(send(key.plaintext()).await.status(), 200);
});

backend_tests!(revoked_token_is_401, |b| async move {
    let s = TestServer::start(b);
    let key = s.user("carol", false).await;
    let c = client();
    // A second token to revoke the first with.
    let r = c
        .post(s.api("account/?op=create_authorisation_token"))
        .header(AUTHORIZATION, key.plaintext())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    let second = ApiKey {
        consumer: v["consumer_key"].as_str().unwrap().into(),
        token: v["token_key"].as_str().unwrap().into(),
        secret: v["token_secret"].as_str().unwrap().into(),
    };
    let r = c
        .post(s.api("account/?op=delete_authorisation_token"))
        .header(AUTHORIZATION, second.plaintext())
        .form(&[("token_key", key.token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = c.get(s.api("users/?op=whoami")).header(AUTHORIZATION, key.plaintext()).send().await.unwrap();
    assert_eq!(r.status(), 401, "revoked token must be refused");
    let r = c.get(s.api("users/?op=whoami")).header(AUTHORIZATION, second.plaintext()).send().await.unwrap();
    assert_eq!(r.status(), 200);
});

backend_tests!(nonce_replay_policy, |b| async move {
    let s = TestServer::start(b);
    let key = s.user("dave", false).await;
    let c = client();
    let h = key.plaintext();
    let url = s.api("users/?op=whoami");
    assert_eq!(c.get(&url).header(AUTHORIZATION, h.clone()).send().await.unwrap().status(), 200);
    let r = c.get(&url).header(AUTHORIZATION, h.clone()).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("Nonce already used"));

    // With replay rejection off (for the Ansible collection) the same header passes.
    let lax = TestServer::start_with(b, |c| c.oauth_reject_nonce_reuse = false);
    let key = lax.user("erin", false).await;
    let h = key.plaintext();
    for _ in 0..3 {
        assert_eq!(
            c.get(lax.api("users/?op=whoami")).header(AUTHORIZATION, h.clone()).send().await.unwrap().status(),
            200
        );
    }
});

backend_tests!(gomaasapi_retry_headers_and_params, |b| async move {
    let s = TestServer::start(b);
    let key = s.user("frank", false).await;
    let c = client();
    // gomaasapi 2.0.0 retries keep the stale header and append a fresh one.
    let stale = ApiKey { secret: "stale".into(), ..key.clone() }.plaintext();
    let r = c
        .get(s.api("users/?op=whoami"))
        .header(AUTHORIZATION, stale)
        .header(AUTHORIZATION, key.plaintext())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // gomaasapi's own style: realm MAAS+API, query-escaped values, random order.
    let h = format!(
        "OAuth oauth_signature=\"%26{}\", realm=\"MAAS+API\", oauth_token=\"{}\", oauth_consumer_key=\"{}\", oauth_version=\"1.0\", oauth_signature_method=\"PLAINTEXT\", oauth_nonce=\"{:032x}\", oauth_timestamp=\"{}\"",
        key.secret, key.token, key.consumer, 0xabcdefu128, chrono::Utc::now().timestamp()
    );
    assert_eq!(c.get(s.api("users/?op=whoami")).header(AUTHORIZATION, h).send().await.unwrap().status(), 200);

    // OAuth parameters in the query string instead of a header.
    let url = format!(
        "{}&oauth_consumer_key={}&oauth_token={}&oauth_signature=%26{}&oauth_signature_method=PLAINTEXT&oauth_timestamp={}&oauth_nonce=q1",
        s.api("users/?op=whoami"),
        key.consumer,
        key.token,
        key.secret,
        chrono::Utc::now().timestamp()
    );
    assert_eq!(c.get(&url).send().await.unwrap().status(), 200);
});

backend_tests!(anonymous_endpoints_ignore_credentials, |b| async move {
    let s = TestServer::start(b);
    let c = client();
    let garbage = "OAuth oauth_consumer_key=\"no\", oauth_token=\"no\", oauth_signature=\"%26no\", oauth_signature_method=\"PLAINTEXT\", oauth_timestamp=\"1\", oauth_nonce=\"1\"";
    for path in ["version/", "describe/"] {
        let r = c.get(s.api(path)).header(AUTHORIZATION, garbage).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
});

backend_tests!(inactive_user_is_403, |b| async move {
    let s = TestServer::start(b);
    let key = s.user("gina", false).await;
    s.state
        .db
        .write(|c| {
            use diesel::prelude::*;
            use ironpool_region::db::schema::users::dsl::*;
            diesel::update(users.filter(username.eq("gina"))).set(is_active.eq(false)).execute(c).unwrap();
            Ok(())
        })
        .await
        .unwrap();
    let r = client().get(s.api("users/?op=whoami")).header(AUTHORIZATION, key.plaintext()).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.text().await.unwrap(), "User is not allowed access to this API.");
});
