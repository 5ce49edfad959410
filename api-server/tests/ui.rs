//! The web UI over real HTTP, without a browser, on SQLite and PostgreSQL:
//! login and sessions, CSRF refusals, the machines search and its
//! permissions, bulk actions with their confirmation and per-machine
//! failures, the machine page (power secrets for admins only), account
//! keys, and the live stream. The browser tests are in `ui_browser.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::ui::{logged_in, UiClient};
use common::*;

backend_tests!(login_sessions_and_csrf, |b| async move {
    let s = TestServer::start(b);
    s.user("admin", true).await;
    let mut ui = UiClient::new(&s.origin);

    // /MAAS/ leads to the UI; pages without a session lead to the login.
    let r = ui.get("/MAAS/").await;
    assert_eq!((r.status, r.location.as_deref()), (302, Some("/MAAS/r/")));
    let r = ui.get("/MAAS/r/machines?q=status%3Aready").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location.as_deref(), Some("/MAAS/r/login?next=%2FMAAS%2Fr%2Fmachines%3Fq%3Dstatus%253Aready"));

    // The form: labelled inputs, a CSRF token also set as a cookie.
    let form = ui.get("/MAAS/r/login").await;
    assert_eq!(form.status, 200);
    assert!(form.content_type.starts_with("text/html"));
    assert!(form.body.contains("<label for=\"username\">") && form.body.contains("name=\"password\""));
    let token = form.csrf();
    assert_eq!(ui.cookies.get("csrftoken"), Some(&token));

    // Login without the token: 403, Django's words, no session.
    let r = ui.post("/MAAS/r/login", &[("username", "admin"), ("password", "admin-password")]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("CSRF verification failed. Request aborted."));
    assert!(!ui.cookies.contains_key("sessionid"));

    // A wrong password: the form again with Django's words, no session.
    let r =
        ui.post("/MAAS/r/login", &[("username", "admin"), ("password", "nope"), ("csrfmiddlewaretoken", &token)]).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Please enter a correct username and password."), "{}", r.body);
    assert!(r.set_cookies.iter().all(|c| !c.starts_with("sessionid")));

    // The right one: a session cookie, HttpOnly, SameSite=Lax, not Secure
    // over plain HTTP; back to the page that was asked for.
    let r = ui
        .post(
            "/MAAS/r/login",
            &[
                ("username", "admin"),
                ("password", "admin-password"),
                ("csrfmiddlewaretoken", &token),
                ("next", "/MAAS/r/account/prefs"),
            ],
        )
        .await;
    assert_eq!((r.status, r.location.as_deref()), (303, Some("/MAAS/r/account/prefs")));
    let cookie = r.set_cookies.iter().find(|c| c.starts_with("sessionid=")).unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && !cookie.contains("Secure"), "{cookie}");
    // Stored hashed: the cookie's token is not in the table.
    let token_value = ui.cookies["sessionid"].clone();
    let stored: Vec<String> = s
        .state
        .db
        .run(|c| {
            use diesel::prelude::*;
            use ironpool_region::db::schema::ui_sessions;
            Ok(ui_sessions::table.select(ui_sessions::token_hash).load::<String>(c).unwrap())
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], token_value);
    // An open redirect is not followed.
    let mut other = UiClient::new(&s.origin);
    let t = other.get("/MAAS/r/login").await.csrf();
    let r = other
        .post(
            "/MAAS/r/login",
            &[
                ("username", "admin"),
                ("password", "admin-password"),
                ("csrfmiddlewaretoken", &t),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(r.location.as_deref(), Some("/MAAS/r/machines"));

    // The frame: every section in the navigation, the user, embedded assets only.
    let page = ui.get("/MAAS/r/machines").await;
    assert_eq!(page.status, 200, "{}", page.body);
    for label in
        ["Machines", "Devices", "Controllers", "Networks", "Images", "Domains", "Zones", "Pools", "Tags", "Settings"]
    {
        assert!(page.body.contains(&format!(">{label}</a>")), "nav lacks {label}");
    }
    assert!(!page.body.contains("http://") && !page.body.contains("https://"), "no external URL in a page");
    let css = ui.get("/MAAS/r/static/ui.css").await;
    assert_eq!(css.status, 200);
    assert!(css.content_type.starts_with("text/css") && css.body.contains("prefers-color-scheme: dark"));

    // Logout needs the token too; without it the session survives.
    let r = ui.post("/MAAS/r/logout", &[]).await;
    assert_eq!(r.status, 403);
    assert_eq!(ui.get("/MAAS/r/machines").await.status, 200);
    let csrf = page.csrf();
    let r = ui.post("/MAAS/r/logout", &[("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!((r.status, r.location.as_deref()), (303, Some("/MAAS/r/login")));
    // The old cookie is dead server-side, not just forgotten by the browser.
    ui.cookies.insert("sessionid".into(), token_value);
    assert_eq!(ui.get("/MAAS/r/machines").await.status, 303);
});

backend_tests!(login_limiter_is_the_apis, |b| async move {
    let s = TestServer::start_with(b, |c| c.login_max_failures = 2);
    s.user("admin", true).await;
    let mut ui = UiClient::new(&s.origin);
    let t = ui.get("/MAAS/r/login").await.csrf();
    for _ in 0..2 {
        let r =
            ui.post("/MAAS/r/login", &[("username", "admin"), ("password", "x"), ("csrfmiddlewaretoken", &t)]).await;
        assert_eq!(r.status, 200);
    }
    // Locked now: even the right password is refused, with the API's words.
    let r = ui
        .post("/MAAS/r/login", &[("username", "admin"), ("password", "admin-password"), ("csrfmiddlewaretoken", &t)])
        .await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.body.contains("Too many failed login attempts"));
    assert!(!ui.cookies.contains_key("sessionid"));
});

async fn ipmi_machine(s: &TestServer, admin: &ApiKey, hostname: &str, mac: &str) -> String {
    let r = s
        .post(
            Some(admin),
            "machines/",
            &[
                ("architecture", "amd64/generic"),
                ("mac_addresses", mac),
                ("hostname", hostname),
                ("power_type", "ipmi"),
                ("power_parameters_power_address", "10.9.9.9"),
                ("power_parameters_power_user", "root"),
                ("power_parameters_power_pass", "bmc-s3cret-pw"),
                ("commission", "false"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["system_id"].as_str().unwrap().to_string()
}

backend_tests!(machines_search_and_permissions, |b| async move {
    let s = TestServer::start(b);
    let (admin, mut ui) = logged_in(&s, "admin", true).await;
    let alice = s.user("alice", false).await;
    s.user("bob", false).await;
    let gpu = ready_machine(&s, &admin, "gpu-01", 8, 16384).await;
    let plain = ready_machine(&s, &admin, "plain-02", 2, 4096).await;
    let fresh = ipmi_machine(&s, &admin, "fresh-03", "52:54:00:aa:bb:cc").await;
    assert_eq!(s.post(Some(&admin), "tags/", &[("name", "gpu")]).await.status, 200);
    let r = s.post(Some(&admin), "tags/gpu/", &[("op", "update_nodes"), ("add", &gpu)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // alice owns `plain`; bob must not see it.
    let r = s.post(Some(&alice), "machines/?op=allocate", &[("system_id", &plain)]).await;
    assert_eq!(r.status, 200, "{}", r.body);

    let rows = |body: &str| -> Vec<String> {
        body.match_indices("<tr data-sid=\"")
            .map(|(i, m)| body[i + m.len()..].split('"').next().unwrap().to_string())
            .collect()
    };
    let all = ui.get("/MAAS/r/machines").await;
    assert_eq!(all.status, 200);
    let mut got = rows(&all.body);
    got.sort();
    let mut want = vec![gpu.clone(), plain.clone(), fresh.clone()];
    want.sort();
    assert_eq!(got, want);
    // Grouped by status with counts over the whole search.
    assert!(all.body.contains("Ready</span> <span class=\"muted\">1 machine<"), "{}", all.body);
    assert!(all.body.contains("Allocated</span>"));

    for (q, expect_ids) in [
        ("status:ready", vec![&gpu]),
        ("tags:gpu", vec![&gpu]),
        ("status:ready pool:default tags:gpu", vec![&gpu]),
        ("status:!ready", vec![&plain, &fresh]),
        ("owner:alice", vec![&plain]),
        ("fresh", vec![&fresh]),
        ("aa:bb", vec![&fresh]),
        ("status:(ready,new)", vec![&gpu, &fresh]),
    ] {
        let url = format!("/MAAS/r/machines?q={}", url_escape(q));
        let r = ui.get(&url).await;
        assert_eq!(r.status, 200, "{q}: {}", r.body);
        let mut got = rows(&r.body);
        got.sort();
        let mut want: Vec<String> = expect_ids.into_iter().cloned().collect();
        want.sort();
        assert_eq!(got, want, "search {q}");
    }
    // Mistakes get the API's (or the search box's) words, and a 400.
    let r = ui.get("/MAAS/r/machines?q=colour%3Ared").await;
    assert_eq!(r.status, 400);
    assert!(
        r.body.contains("Unknown filter &#39;colour&#39;") || r.body.contains("Unknown filter 'colour'"),
        "{}",
        r.body
    );
    let r = ui.get("/MAAS/r/machines?q=zone%3Anowhere").await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("nowhere"), "{}", r.body);
    let r = ui.get("/MAAS/r/machines?q=zzz-no-such").await;
    assert!(r.body.contains("No machines match this search."));

    // Paging: one per page, next link until the end.
    let p1 = ui.get("/MAAS/r/machines?group=none&limit=2").await;
    assert_eq!(rows(&p1.body).len(), 2);
    let next = p1
        .body
        .split("href=\"")
        .find(|h| h.contains("cursor="))
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    let p2 = ui.get(&next).await;
    assert_eq!(rows(&p2.body).len(), 1, "{}", p2.body);
    assert!(!p2.body.contains("Next page"));

    // bob: alice's machine is neither listed nor readable.
    let mut bob = UiClient::new(&s.origin);
    bob.login("bob", "bob-password").await;
    let r = bob.get("/MAAS/r/machines").await;
    let mut got = rows(&r.body);
    got.sort();
    let mut want = vec![gpu.clone(), fresh.clone()];
    want.sort();
    assert_eq!(got, want);
    let r = bob.get(&format!("/MAAS/r/machine/{plain}")).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body.contains("You don&#39;t have permission to view Machine") || r.body.contains("permission"),
        "{}",
        r.body
    );
    // Admin-only actions are not offered to bob.
    assert!(!r.body.contains("value=\"delete\""));

    // BMC secrets: the admin's page has them (masked until opened), bob's never.
    let a = ui.get(&format!("/MAAS/r/machine/{fresh}")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("Power configuration") && a.body.contains("bmc-s3cret-pw"));
    assert!(a.body.contains("<details><summary>"));
    let m = bob.get(&format!("/MAAS/r/machine/{fresh}")).await;
    assert_eq!(m.status, 200);
    assert!(!m.body.contains("bmc-s3cret-pw") && !m.body.contains("Power configuration"));
    assert!(m.body.contains("52:54:00:aa:bb:cc"), "interfaces are shown");
    assert_eq!(ui.get("/MAAS/r/machine/nosuch").await.status, 404);
});

fn url_escape(q: &str) -> String {
    url::form_urlencoded::byte_serialize(q.as_bytes()).collect()
}

backend_tests!(bulk_actions_confirm_and_report_failures, |b| async move {
    let s = TestServer::start(b);
    let (admin, mut ui) = logged_in(&s, "admin", true).await;
    let m1 = ready_machine(&s, &admin, "bulk-1", 2, 2048).await;
    let m2 = ready_machine(&s, &admin, "bulk-2", 2, 2048).await;
    let page = ui.get("/MAAS/r/machines").await;
    let csrf = page.csrf();

    // Without the CSRF token: 403 and nothing happens.
    let r =
        ui.post("/MAAS/r/machines/action", &[("action", "mark-broken"), ("system_id", &m1), ("confirm", "1")]).await;
    assert_eq!(r.status, 403);
    assert_eq!(machine(&s, &admin, &m1).await["status_name"], "Ready");
    // With a wrong one, the same.
    let r = ui
        .post(
            "/MAAS/r/machines/action",
            &[("action", "mark-broken"), ("system_id", &m1), ("csrfmiddlewaretoken", "forged"), ("confirm", "1")],
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(machine(&s, &admin, &m1).await["status_name"], "Ready");

    // First POST: the confirmation, with the count; nothing changed yet.
    let form = [
        ("action", "mark-broken"),
        ("system_id", m1.as_str()),
        ("system_id", m2.as_str()),
        ("csrfmiddlewaretoken", csrf.as_str()),
    ];
    let r = ui.post("/MAAS/r/machines/action", &form).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Mark broken 2 machines?"), "{}", r.body);
    assert!(r.body.contains("bulk-1.maas") && r.body.contains("bulk-2.maas"));
    assert_eq!(machine(&s, &admin, &m1).await["status_name"], "Ready");
    // Confirmed: both broken.
    let mut confirmed = form.to_vec();
    confirmed.push(("confirm", "1"));
    let r = ui.post("/MAAS/r/machines/action", &confirmed).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Mark broken: 2 of 2 done"), "{}", r.body);
    assert_eq!(machine(&s, &admin, &m1).await["status_name"], "Broken");
    assert_eq!(machine(&s, &admin, &m2).await["status_name"], "Broken");

    // One fails: every failure is listed with the API's words (lock is
    // only for deployed machines).
    assert_eq!(s.post(Some(&admin), &format!("machines/{m2}/?op=mark_fixed"), &[]).await.status, 200);
    let r = ui
        .post(
            "/MAAS/r/machines/action",
            &[
                ("action", "mark-fixed"),
                ("system_id", &m1),
                ("system_id", &m2),
                ("csrfmiddlewaretoken", &csrf),
                ("confirm", "1"),
            ],
        )
        .await;
    assert!(r.body.contains("Mark fixed: 1 of 2 done"), "{}", r.body);
    assert!(r.body.contains(&format!("data-failed-sid=\"{m2}\"")), "{}", r.body);
    assert_eq!(machine(&s, &admin, &m1).await["status_name"], "Ready");
    let r = ui
        .post(
            "/MAAS/r/machines/action",
            &[("action", "lock"), ("system_id", &m1), ("csrfmiddlewaretoken", &csrf), ("confirm", "1")],
        )
        .await;
    assert!(r.body.contains("Lock: 0 of 1 done"), "{}", r.body);
    assert!(r.body.contains("only deployed or deploying machines can be locked."), "{}", r.body);

    // Unknown ids and actions are refused with words, not a 500.
    let r = ui
        .post("/MAAS/r/machines/action", &[("action", "explode"), ("system_id", &m1), ("csrfmiddlewaretoken", &csrf)])
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("is not a machine action"));
    let r = ui
        .post("/MAAS/r/machines/action", &[("action", "lock"), ("csrfmiddlewaretoken", &csrf), ("confirm", "1")])
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("No machines selected."));
    let r = ui
        .post(
            "/MAAS/r/machines/action",
            &[("action", "abort"), ("system_id", "nosuch"), ("csrfmiddlewaretoken", &csrf), ("confirm", "1")],
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Abort: 0 of 1 done") && r.body.contains("data-failed-sid=\"nosuch\""), "{}", r.body);

    // Set zone: admin, through the API's update.
    assert_eq!(s.post(Some(&admin), "zones/", &[("name", "rack-b")]).await.status, 200);
    let r = ui
        .post(
            "/MAAS/r/machines/action",
            &[
                ("action", "set-zone"),
                ("system_id", &m2),
                ("zone", "rack-b"),
                ("csrfmiddlewaretoken", &csrf),
                ("confirm", "1"),
            ],
        )
        .await;
    assert!(r.body.contains("Set zone: 1 of 1 done"), "{}", r.body);
    assert_eq!(machine(&s, &admin, &m2).await["zone"]["name"], "rack-b");

    // A non-admin asking for an admin action gets the API's refusal per machine.
    s.user("carol", false).await;
    let mut carol = UiClient::new(&s.origin);
    carol.login("carol", "carol-password").await;
    let c = carol.get("/MAAS/r/machines").await.csrf();
    let r = carol
        .post(
            "/MAAS/r/machines/action",
            &[("action", "delete"), ("system_id", &m1), ("csrfmiddlewaretoken", &c), ("confirm", "1")],
        )
        .await;
    assert!(r.body.contains("Delete: 0 of 1 done"), "{}", r.body);
    assert_eq!(s.get(Some(&admin), &format!("machines/{m1}/")).await.status, 200);
});

backend_tests!(account_keys, |b| async move {
    let s = TestServer::start(b);
    s.user("dave", false).await;
    let mut ui = UiClient::new(&s.origin);
    ui.login("dave", "dave-password").await;
    let page = ui.get("/MAAS/r/account/prefs").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("No SSH keys yet."));
    let csrf = page.csrf();

    let key = ed25519_key(3, "dave@laptop");
    let r = ui.post("/MAAS/r/account/prefs/add-sshkey", &[("key", &key), ("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("SSH key added.") && r.body.contains("dave@laptop"));
    let r = ui.post("/MAAS/r/account/prefs/add-sshkey", &[("key", "not a key"), ("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("class=\"error\""), "{}", r.body);
    let r = ui.post("/MAAS/r/account/prefs/add-sshkey", &[("key", &key)]).await;
    assert_eq!(r.status, 403);

    // A new API key is shown once, and works.
    let r = ui.post("/MAAS/r/account/prefs/create-token", &[("name", "cli"), ("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let at = r.body.find("<pre id=\"new-api-key\">").unwrap() + "<pre id=\"new-api-key\">".len();
    let whole = r.body[at..].split('<').next().unwrap().to_string();
    let parts: Vec<&str> = whole.split(':').collect();
    assert_eq!(parts.len(), 3, "{whole}");
    let key = ApiKey { consumer: parts[0].into(), token: parts[1].into(), secret: parts[2].into() };
    assert_eq!(s.get(Some(&key), "users/?op=whoami").await.json()["username"], "dave");
    let again = ui.get("/MAAS/r/account/prefs").await;
    assert!(!again.body.contains(parts[2]), "the secret is not shown again");
    assert!(again.body.contains(parts[1]));
    // Revoked: the key stops working.
    let r =
        ui.post("/MAAS/r/account/prefs/revoke-token", &[("token_key", parts[1]), ("csrfmiddlewaretoken", &csrf)]).await;
    assert!(r.body.contains("API key revoked."), "{}", r.body);
    assert_eq!(s.get(Some(&key), "users/?op=whoami").await.status, 401);

    // Deleting the SSH key.
    let page = ui.get("/MAAS/r/account/prefs").await;
    let id = page.body.split("name=\"id\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let r = ui.post("/MAAS/r/account/prefs/delete-sshkey", &[("id", &id), ("csrfmiddlewaretoken", &csrf)]).await;
    assert!(r.body.contains("SSH key deleted.") && r.body.contains("No SSH keys yet."), "{}", r.body);
});

// The change feed is told of commits (`db::wake`) rather than finding
// them by polling: with its fallback look an hour away, a change made
// through the API still reaches an open stream, and on PostgreSQL so does
// one made through another region sharing the database (NOTIFY/LISTEN).
// Without the wakeups the stream ends after its minute with nothing.
backend_tests!(live_stream_is_woken_by_commits, |b| async move {
    let hour = Duration::from_secs(3600);
    let s = TestServer::start_with(b, |c| c.change_feed_fallback = hour);
    let (admin, ui) = logged_in(&s, "admin", true).await;
    let sid = ready_machine(&s, &admin, "woken-1", 1, 1024).await;
    let mut resp = ui.stream(&format!("/MAAS/r/live?ids={sid}")).await;
    assert_eq!(wait_for_event(&mut resp, |n, _| n == "node").await["status"], "Ready");
    let r = s.post(Some(&admin), &format!("machines/{sid}/?op=mark_broken"), &[("comment", "psu")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    wait_for_event(&mut resp, |n, v| n == "node" && v["status"] == "Broken").await;
    wait_for_event(&mut resp, |n, v| n == "event" && v["node"] == sid.as_str()).await;

    if b == Backend::Postgres {
        // A page on region B hears a change made through region A.
        let s2 = s.second_region_with(|c| c.change_feed_fallback = hour);
        // Region B hears region A's commits once its LISTEN is in place.
        let end = tokio::time::Instant::now() + Duration::from_secs(30);
        while !s2.state.db.wakeups().is_listening() {
            assert!(tokio::time::Instant::now() < end, "region B never listened");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut ui2 = UiClient::new(&s2.origin);
        ui2.login("admin", "admin-password").await;
        let mut resp2 = ui2.stream(&format!("/MAAS/r/live?ids={sid}")).await;
        assert_eq!(wait_for_event(&mut resp2, |n, _| n == "node").await["status"], "Broken");
        let r = s.post(Some(&admin), &format!("machines/{sid}/?op=mark_fixed"), &[]).await;
        assert_eq!(r.status, 200, "{}", r.body);
        wait_for_event(&mut resp2, |n, v| n == "node" && v["status"] == "Ready").await;
        s2.stop().await;
    }
});

/// On PostgreSQL an event's id is taken at insert, not at commit: an event
/// whose transaction commits after a newer one's must still reach the page
/// (CI once lost a mark_broken's event that a job's event overtook).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_after_a_newer_one_still_arrives() {
    use diesel::{Connection, PgConnection, RunQueryDsl};
    let s = TestServer::start(Backend::Postgres);
    let (admin, ui) = logged_in(&s, "admin", true).await;
    let sid = ready_machine(&s, &admin, "late-1", 1, 1024).await;
    let mut resp = ui.stream(&format!("/MAAS/r/live?ids={sid}")).await;
    wait_for_event(&mut resp, |n, _| n == "node").await;
    let before = s.get(Some(&admin), &format!("events/?op=query&id={sid}&level=DEBUG&limit=1")).await.json();
    let last_event = before["events"][0]["id"].as_i64().unwrap();

    // An event inserted in a transaction held open: it takes the next id.
    let mut held = PgConnection::establish(&s.db.url).unwrap();
    diesel::sql_query("BEGIN").execute(&mut held).unwrap();
    diesel::sql_query(format!(
        "INSERT INTO events (node_id, system_id, hostname, username, level, type_name, action, description, created_at) \
         SELECT id, system_id, hostname, '', 20, 'Note', '', 'committed late', now() FROM nodes WHERE system_id = '{sid}'"
    ))
    .execute(&mut held)
    .unwrap();
    // A newer event commits and reaches the page first.
    let r = s.post(Some(&admin), &format!("machines/{sid}/?op=mark_broken"), &[("comment", "overtaking")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    wait_for_event(&mut resp, |n, v| {
        n == "event" && v["id"].as_i64().unwrap() > last_event && v["description"] != "committed late"
    })
    .await;
    // Then the older one commits; it arrives too (within the feed's fallback
    // look, nothing wakes it).
    diesel::sql_query("COMMIT").execute(&mut held).unwrap();
    let late = wait_for_event(&mut resp, |n, v| n == "event" && v["description"] == "committed late").await;
    assert_eq!(late["node"], sid.as_str());
    drop(resp);
    s.stop().await;
}

/// Reads server-sent events until one satisfies `want` (or the stream ends).
async fn wait_for_event(
    resp: &mut reqwest::Response,
    want: impl Fn(&str, &serde_json::Value) -> bool,
) -> serde_json::Value {
    let mut buf = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut name = "message";
            let mut data = String::new();
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n;
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            if !data.is_empty() {
                let v: serde_json::Value = serde_json::from_str(&data).unwrap();
                if want(name, &v) {
                    return v;
                }
            }
        }
        let chunk = tokio::time::timeout_at(deadline, resp.chunk()).await.expect("no matching event within a minute");
        match chunk.unwrap() {
            Some(c) => buf.push_str(&String::from_utf8_lossy(&c)),
            None => panic!("stream ended without the event"),
        }
    }
}

backend_tests!(live_stream_follows_api_changes, |b| async move {
    let s = TestServer::start(b);
    let (admin, ui) = logged_in(&s, "admin", true).await;
    let alice = s.user("alice", false).await;
    let sid = ready_machine(&s, &admin, "live-1", 2, 2048).await;

    let mut resp = ui.stream(&format!("/MAAS/r/live?ids={sid}")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    // The current state first.
    let first = wait_for_event(&mut resp, |n, _| n == "node").await;
    assert_eq!(first["status"], "Ready");
    // A change made through the API by another client arrives, with its event.
    let before = s.get(Some(&admin), &format!("events/?op=query&id={sid}&level=DEBUG&limit=1")).await.json();
    let last_event = before["events"][0]["id"].as_i64().unwrap_or(0);
    let r = s.post(Some(&admin), &format!("machines/{sid}/?op=mark_broken"), &[("comment", "fan died")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = wait_for_event(&mut resp, |n, v| n == "node" && v["status"] == "Broken").await;
    assert_eq!(v["system_id"], sid.as_str());
    assert_eq!(v["status_class"], "st-failed");
    let e = wait_for_event(&mut resp, |n, v| n == "event" && v["id"].as_i64().unwrap() > last_event).await;
    assert_eq!(e["node"], sid.as_str());

    // bob sees changes of unowned machines only; once alice owns it, nothing.
    s.user("bob", false).await;
    let mut bob = UiClient::new(&s.origin);
    bob.login("bob", "bob-password").await;
    assert_eq!(s.post(Some(&admin), &format!("machines/{sid}/?op=mark_fixed"), &[]).await.status, 200);
    let mut bob_stream = bob.stream(&format!("/MAAS/r/live?ids={sid}")).await;
    let v = wait_for_event(&mut bob_stream, |n, _| n == "node").await;
    assert_eq!(v["system_id"], sid.as_str());
    let r = s.post(Some(&alice), "machines/?op=allocate", &[("system_id", &sid)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The admin hears the allocation; bob's stream stays silent about it.
    // Both streams get the same broadcast, so once the admin's has it, bob's
    // has had its chance: the wait below only bounds a broken filter.
    wait_for_event(&mut resp, |n, v| n == "node" && v["status"] == "Allocated").await;
    let quiet = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match bob_stream.chunk().await.unwrap() {
                Some(c) if String::from_utf8_lossy(&c).contains("Allocated") => return true,
                Some(_) => continue,
                None => return false,
            }
        }
    })
    .await;
    assert!(!matches!(quiet, Ok(true)), "bob heard about alice's machine");

    // Without a session: to the login page.
    let anon = UiClient::new(&s.origin);
    assert_eq!(anon.stream(&format!("/MAAS/r/live?ids={sid}")).await.status(), 303);
});
