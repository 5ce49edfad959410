//! Node tokens live for one phase, the preseed that carries them is served
//! only with the phase's boot secret, and state-changing `by-id/` calls need
//! the machine (issue 15, findings H1 and M6). Each test replays an attack
//! from the audit over HTTP against the real server, and checks the
//! machine's own path still works.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use base64::Engine as _;
use common::*;
use ironpool_agent::client::parse_preseed;

fn md_url(s: &TestServer, rel: &str) -> String {
    format!("{}/MAAS/metadata/{rel}", s.origin)
}

async fn md(s: &TestServer, method: &str, who: Option<&ApiKey>, rel: &str) -> Resp {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut rb = client().request(m, md_url(s, rel));
    if let Some(k) = who {
        rb = rb.header("Authorization", k.plaintext());
    }
    read(rb.send().await.unwrap()).await
}

async fn signal_failed(s: &TestServer, who: &ApiKey, why: &str) -> Resp {
    let form = reqwest::multipart::Form::new().text("status", "FAILED").text("error", why.to_string());
    post_form_as(md_url(s, "latest/?op=signal"), who, form).await
}

async fn webhook(s: &TestServer, who: &ApiKey, sid: &str, ev: serde_json::Value) -> Resp {
    read(
        client()
            .post(md_url(s, &format!("status/{sid}")))
            .header("Authorization", who.plaintext())
            .json(&ev)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// The preseed path the rack's boot configuration would put on the
/// machine's kernel command line now (what a PXE boot of its MAC gets).
async fn boot_preseed_path(s: &TestServer, admin: &ApiKey, sid: &str) -> String {
    let m = machine(s, admin, sid).await;
    let mac = m["interface_set"][0]["mac_address"].as_str().unwrap().to_string();
    let action = s.state.db.run(move |c| ironpool_region::engine::metadata::boot_action(c, &mac)).await.unwrap();
    match action {
        ironpool_region::engine::metadata::BootAction::Ephemeral { preseed_path, .. } => preseed_path,
        other => panic!("{sid} does not network-boot an ephemeral environment: {other:?}"),
    }
}

/// Boots like the machine: fetches the preseed at its boot URL and returns
/// the credentials in it.
async fn boot_token(s: &TestServer, admin: &ApiKey, sid: &str) -> (String, ApiKey) {
    let path = boot_preseed_path(s, admin, sid).await;
    let r = md(s, "GET", None, &path).await;
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    let c = parse_preseed(&r.body).unwrap().credentials.expect("the preseed carries credentials");
    (path, ApiKey { consumer: c.consumer_key, token: c.token_key, secret: c.token_secret })
}

async fn status_of(s: &TestServer, admin: &ApiKey, sid: &str) -> String {
    machine(s, admin, sid).await["status_name"].as_str().unwrap().to_string()
}

backend_tests!(a_token_from_one_tenant_is_dead_for_the_next, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let alice = s.user("alice", false).await;
    let bob = s.user("bob", false).await;
    let bob_key = ed25519_key(7, "bob@laptop");
    assert_eq!(s.post(Some(&bob), "account/prefs/sshkeys/", &[("key", &bob_key)]).await.status, 201);
    let sid = ready_machine(&s, &admin, "shared", 2, 2048).await;

    // Tenant A deploys; the attacker (anyone who knows the system_id) asks
    // for the preseed the MAAS way: refused, and the answer says where the
    // preseed is served.
    let ud_a = base64::engine::general_purpose::STANDARD.encode("DB_PASSWORD=alice-secret\n");
    let r = s.post(Some(&alice), &format!("machines/{sid}/?op=deploy"), &[("user_data", &ud_a)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = md(&s, "GET", None, &format!("latest/by-id/{sid}/?op=get_preseed")).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("boot secret") && !r.body.contains("token_key"), "{}", r.body);
    let r = md(&s, "GET", None, &format!("latest/by-id/{sid}/not-the-secret/?op=get_preseed")).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("not machine") && r.body.contains("current one"), "{}", r.body);

    // The machine itself boots with its boot URL and gets its token, which
    // serves it through the deploy and while Deployed.
    let (phase_a_url, token_a) = boot_token(&s, &admin, &sid).await;
    let r = md(&s, "GET", Some(&token_a), "latest/user-data").await;
    assert_eq!((r.status, r.body.as_str()), (200, "DB_PASSWORD=alice-secret\n"));
    let done = serde_json::json!({"event_type": "finish", "origin": "cloud-init", "name": "modules-final",
        "description": "running modules for final", "result": "SUCCESS"});
    assert_eq!(webhook(&s, &token_a, &sid, done).await.status, 200);
    assert_eq!(status_of(&s, &admin, &sid).await, "Deployed");
    assert_eq!(md(&s, "GET", Some(&token_a), "latest/user-data").await.status, 200);

    // Release, then tenant B deploys the same machine with its secrets.
    let r = s.post(Some(&alice), &format!("machines/{sid}/?op=release"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(status_of(&s, &admin, &sid).await, "Ready");
    assert_eq!(md(&s, "GET", Some(&token_a), "latest/meta-data/instance-id").await.status, 401);
    let ud_b = base64::engine::general_purpose::STANDARD.encode("DB_PASSWORD=bob-secret\n");
    let r = s.post(Some(&bob), &format!("machines/{sid}/?op=deploy"), &[("user_data", &ud_b)]).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Tenant A's token: no user data, no SSH keys, no forged failure.
    for rel in ["latest/user-data", "latest/meta-data/public-keys", "latest/meta-data/", "latest/"] {
        let r = md(&s, "GET", Some(&token_a), rel).await;
        assert_eq!(r.status, 401, "{rel}: {}", r.body);
        assert!(!r.body.contains("bob"), "{rel}: {}", r.body);
    }
    let r = signal_failed(&s, &token_a, "forged").await;
    assert_eq!(r.status, 401, "{}", r.body);
    let fail = serde_json::json!({"event_type": "finish", "origin": "cloud-init", "name": "modules-final",
        "description": "forged", "result": "FAIL"});
    assert_eq!(webhook(&s, &token_a, &sid, fail).await.status, 401);
    assert_eq!(md(&s, "POST", Some(&token_a), "latest/?op=netboot_off").await.status, 401);
    // Tenant A's boot URL is stale too.
    assert_eq!(md(&s, "GET", None, &phase_a_url).await.status, 403);
    let m = machine(&s, &admin, &sid).await;
    assert_eq!((m["status_name"].as_str(), m["netboot"].as_bool()), (Some("Deploying"), Some(true)), "{m}");

    // Tenant B's machine, booting with its own boot URL, gets B's data.
    let (phase_b_url, token_b) = boot_token(&s, &admin, &sid).await;
    assert_ne!(phase_b_url, phase_a_url);
    assert_ne!(token_b.token, token_a.token);
    assert_eq!(md(&s, "GET", Some(&token_b), "latest/user-data").await.body, "DB_PASSWORD=bob-secret\n");
    assert_eq!(md(&s, "GET", Some(&token_b), "latest/meta-data/public-keys").await.body, bob_key);
    // The admin's get_token names the same (current) token.
    let t = s.get(Some(&admin), &format!("machines/{sid}/?op=get_token")).await.json();
    assert_eq!(t["token_key"], token_b.token.as_str());
});

backend_tests!(each_phase_has_its_own_token, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let sid = commissioning_machine(&s, &admin, "52:54:00:15:00:01", "phases").await;
    let (_, commissioning) = boot_token(&s, &admin, &sid).await;
    // The running environment keeps its token from commissioning into
    // testing (it signals the change itself)...
    let form = reqwest::multipart::Form::new().text("status", "TESTING");
    let r = post_form_as(md_url(&s, "latest/?op=signal"), &commissioning, form).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(status_of(&s, &admin, &sid).await, "Testing");
    let form = reqwest::multipart::Form::new().text("status", "OK");
    let r = post_form_as(md_url(&s, "latest/?op=signal"), &commissioning, form).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(status_of(&s, &admin, &sid).await, "Ready");
    // ... and loses it when the phase ends.
    assert_eq!(md(&s, "GET", Some(&commissioning), "latest/meta-data/instance-id").await.status, 401);

    // Rescue mode: a new phase, a new token; a failure keeps it (MAAS
    // ignores late signals there), leaving the failed state revokes it.
    let r = s.post(Some(&admin), &format!("machines/{sid}/?op=rescue_mode"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (_, rescue) = boot_token(&s, &admin, &sid).await;
    assert_ne!(rescue.token, commissioning.token);
    assert_eq!(signal_failed(&s, &rescue, "no rescue today").await.status, 200);
    assert_eq!(status_of(&s, &admin, &sid).await, "Failed to enter rescue mode");
    assert_eq!(signal_failed(&s, &rescue, "late").await.status, 200);
    let r = s.post(Some(&admin), &format!("machines/{sid}/?op=exit_rescue_mode"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(md(&s, "GET", Some(&rescue), "latest/meta-data/instance-id").await.status, 401);
});

backend_tests!(netboot_off_needs_the_machine, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let alice = s.user("alice", false).await;
    let sid = ready_machine(&s, &admin, "netboot", 2, 2048).await;
    let other = commissioning_machine(&s, &admin, "52:54:00:15:00:02", "bystander").await;
    let r = s.post(Some(&alice), &format!("machines/{sid}/?op=deploy"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let netboot = |sid: String| {
        let s = &s;
        let admin = admin.clone();
        async move { machine(s, &admin, &sid).await["netboot"].as_bool().unwrap() }
    };
    assert!(netboot(sid.clone()).await);

    // MAAS's anonymous call (curtin's late command): refused, and says how.
    let by_id = format!("latest/by-id/{sid}/?op=netboot_off");
    let r = md(&s, "POST", None, &by_id).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("metadata token"), "{}", r.body);
    // Another machine's token, a user's token: not this machine.
    let (_, other_token) = boot_token(&s, &admin, &other).await;
    assert_eq!(md(&s, "POST", Some(&other_token), &by_id).await.status, 403);
    assert_eq!(md(&s, "POST", Some(&alice), &by_id).await.status, 403);
    assert_eq!(md(&s, "POST", None, &format!("latest/by-id/{sid}/wrong/?op=netboot_off")).await.status, 403);
    assert!(netboot(sid.clone()).await, "nothing turned netboot off");

    // The machine: signed with its token, or with its boot URL's secret.
    let (boot_url, token) = boot_token(&s, &admin, &sid).await;
    let r = md(&s, "POST", Some(&token), &by_id).await;
    assert_eq!((r.status, r.body.as_str()), (200, "OK"));
    assert!(!netboot(sid.clone()).await);
    assert_eq!(md(&s, "POST", Some(&token), "latest/?op=netboot_on").await.status, 200);
    let with_secret = boot_url.replace("?op=get_preseed", "?op=netboot_off");
    assert_eq!(md(&s, "POST", None, &with_secret).await.status, 200);
    assert!(!netboot(sid.clone()).await);
    // The signed route our agent uses needs the token too.
    assert_eq!(md(&s, "POST", None, "latest/?op=netboot_off").await.status, 401);
});

backend_tests!(enlistment_fetches_its_preseed_by_system_id_only_while_enlisting, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    // MAAS's enlistment script: anonymous create, then the preseed by id.
    let r = s
        .post(
            None,
            "machines/",
            &[
                ("architecture", "amd64/generic"),
                ("mac_addresses", "52:54:00:15:00:03"),
                ("commission", "true"),
                ("power_type", "manual"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sid = r.json()["system_id"].as_str().unwrap().to_string();
    let r = md(&s, "GET", None, &format!("latest/by-id/{sid}/?op=get_preseed")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let c = parse_preseed(&r.body).unwrap().credentials.unwrap();
    let token = ApiKey { consumer: c.consumer_key, token: c.token_key, secret: c.token_secret };
    let form = reqwest::multipart::Form::new().text("status", "OK");
    let r = post_form_as(md_url(&s, "latest/?op=signal"), &token, form).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(status_of(&s, &admin, &sid).await, "New");
    // Enlistment over: its token is gone, and commissioning (a new phase)
    // is not served anonymously.
    assert_eq!(md(&s, "GET", Some(&token), "latest/meta-data/instance-id").await.status, 401);
    let r = s.post(Some(&admin), "machines/?op=accept", &[("machines", &sid)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(status_of(&s, &admin, &sid).await, "Commissioning");
    assert_eq!(md(&s, "GET", None, &format!("latest/by-id/{sid}/?op=get_preseed")).await.status, 403);
    let (_, fresh) = boot_token(&s, &admin, &sid).await;
    assert_ne!(fresh.token, token.token);
});
