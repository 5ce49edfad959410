//! Issue 20, the missing small endpoints, with MAAS's shapes, permissions
//! and error words: `license-keys/` + `license-key/{osystem}/{series}`.
//! Each test runs against SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use common::*;
use serde_json::json;

const KEY: &str = "ABCDE-12345-FGHIJ-67890-KLMNO";

backend_tests!(license_keys_round_trip, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let user = s.user("user", false).await;

    let r = s.get(Some(&user), "license-keys/").await;
    assert_eq!((r.status, r.json()), (200, json!([])));

    // MAAS's create rewrites osystem + bare series into os/series.
    let r = s
        .post(
            Some(&admin),
            "license-keys/",
            &[("osystem", "windows"), ("distro_series", "win2016"), ("license_key", KEY)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"osystem": "windows", "distro_series": "win2016", "license_key": KEY,
               "resource_uri": "/MAAS/api/2.0/license-key/windows/win2016"})
    );
    // ... and takes osystem from distro_series when it is left out.
    let r = s.post(Some(&admin), "license-keys/", &[("distro_series", "windows/win2012"), ("license_key", KEY)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["osystem"], "windows");
    assert_eq!(r.json()["distro_series"], "win2012");

    // Listed by osystem then series; readable by every user.
    let list = s.get(Some(&user), "license-keys/").await.json();
    let series: Vec<&str> = list.as_array().unwrap().iter().map(|k| k["distro_series"].as_str().unwrap()).collect();
    assert_eq!(series, ["win2012", "win2016"]);
    let r = s.get(Some(&user), "license-key/windows/win2016").await;
    assert_eq!((r.status, r.json()["license_key"].as_str()), (200, Some(KEY)), "{}", r.body);

    // Update: only the key changes.
    let other = "11111-22222-33333-44444-55555";
    let r = s.call(Some(&admin), "PUT", "license-key/windows/win2016", &[("license_key", other)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["license_key"], other);
    assert_eq!(r.json()["distro_series"], "win2016");
    assert_eq!(s.get(Some(&user), "license-key/windows/win2016").await.json()["license_key"], other);

    // Delete is 204, and again 204 when there is nothing left (MAAS's get_one).
    for _ in 0..2 {
        let r = s.call(Some(&admin), "DELETE", "license-key/windows/win2016", &[]).await;
        assert_eq!((r.status, r.content_type.as_deref()), (204, Some("text/plain")));
    }
    let r = s.get(Some(&user), "license-key/windows/win2016").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body, "No LicenseKey matches the given query.");
    assert_eq!(s.get(Some(&user), "license-keys/").await.json().as_array().unwrap().len(), 1);
});

backend_tests!(license_keys_admin_only_writes, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let user = s.user("user", false).await;
    let form = [("distro_series", "windows/win2019"), ("license_key", KEY)];
    let r = s.post(Some(&user), "license-keys/", &form).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(s.get(Some(&admin), "license-keys/").await.json(), json!([]));
    assert_eq!(s.post(Some(&admin), "license-keys/", &form).await.status, 200);
    let r = s
        .call(Some(&user), "PUT", "license-key/windows/win2019", &[("license_key", "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE")])
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = s.call(Some(&user), "DELETE", "license-key/windows/win2019", &[]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = s.get(Some(&admin), "license-key/windows/win2019").await;
    assert_eq!(r.json()["license_key"], KEY);
    // Anonymous callers get nothing.
    assert_eq!(s.get(None, "license-keys/").await.status, 401);
});

backend_tests!(license_keys_maas_validation_words, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;

    // Nothing sent: every field is required, all at once.
    let r = s.post(Some(&admin), "license-keys/", &[]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"osystem": ["This field is required."], "distro_series": ["This field is required."],
               "license_key": ["This field is required."]})
    );

    // An osystem without releases that take keys, and an unknown series.
    let r = s
        .post(Some(&admin), "license-keys/", &[("osystem", "ubuntu"), ("distro_series", "noble"), ("license_key", KEY)])
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let j = r.json();
    assert_eq!(j["osystem"], json!(["'ubuntu' is not a valid osystem.  It should be one of: 'windows'."]));
    let msg = j["distro_series"][0].as_str().unwrap();
    assert!(
        msg.starts_with("'ubuntu/noble' is not a valid distro_series.  It should be one of: 'windows/win10ent', "),
        "{msg}"
    );

    // A key that is not five groups of five letters or digits.
    let r = s
        .post(
            Some(&admin),
            "license-keys/",
            &[("osystem", "windows"), ("distro_series", "windows/win2016"), ("license_key", "bad")],
        )
        .await;
    assert_eq!((r.status, r.json()), (400, json!({"__all__": ["Invalid license key."]})), "{}", r.body);

    // Duplicate: MAAS's model words.
    let form = [("osystem", "windows"), ("distro_series", "win2016"), ("license_key", KEY)];
    assert_eq!(s.post(Some(&admin), "license-keys/", &form).await.status, 200);
    let r = s.post(Some(&admin), "license-keys/", &form).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"__all__": ["License key with this operating system and distro series already exists."]})
    );

    // An update is checked the same way and leaves the row alone.
    let r = s.call(Some(&admin), "PUT", "license-key/windows/win2016", &[("license_key", "nope")]).await;
    assert_eq!((r.status, r.json()), (400, json!({"__all__": ["Invalid license key."]})), "{}", r.body);
    let r = s.call(Some(&admin), "PUT", "license-key/windows/win2016", &[("distro_series", "win2019")]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["distro_series"][0].as_str().unwrap().starts_with("'win2019' is not a valid distro_series."));
    assert_eq!(s.get(Some(&admin), "license-key/windows/win2016").await.json()["license_key"], KEY);
    // Moving a key onto a release that has one is the duplicate error.
    let r = s.post(Some(&admin), "license-keys/", &[("distro_series", "windows/win2019"), ("license_key", KEY)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.call(Some(&admin), "PUT", "license-key/windows/win2016", &[("distro_series", "windows/win2019")]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("already exists"), "{}", r.body);
    // Unknown key on update is a 404 in MAAS's words.
    let r = s.call(Some(&admin), "PUT", "license-key/windows/win2008r2", &[("license_key", KEY)]).await;
    assert_eq!((r.status, r.body.as_str()), (404, "No LicenseKey matches the given query."));
});
