//! Files (Juju's provider storage) and notifications.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use common::*;
use serde_json::json;

async fn upload(s: &TestServer, key: &ApiKey, name: &str, data: &[u8]) -> Resp {
    // gomaasapi's AddFile: POST files/?op= with a filename field and one file part.
    let form = reqwest::multipart::Form::new()
        .text("filename", name.to_string())
        .part("file", reqwest::multipart::Part::bytes(data.to_vec()).file_name("file"));
    read(
        client()
            .post(s.api("files/?op="))
            .header("authorization", key.plaintext())
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await
}

backend_tests!(files, |b| async move {
    let s = TestServer::start(b);
    let juju = s.user("juju", false).await;
    let other = s.user("other", false).await;
    let r = upload(&s, &juju, "model1-provider-state", b"state: 1\n").await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.content_type, None);
    assert!(r.body.is_empty());
    upload(&s, &juju, "model1-tools/x.tgz", &[0, 1, 2, 255]).await;
    upload(&s, &juju, "model2-provider-state", b"other model").await;
    upload(&s, &other, "model1-provider-state", b"not juju's").await;

    // List: only the caller's files, exact prefix, no content.
    let l = s.get(Some(&juju), "files/?prefix=model1-").await.json();
    let names: Vec<&str> = l.as_array().unwrap().iter().map(|f| f["filename"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["model1-provider-state", "model1-tools/x.tgz"]);
    assert!(l[0].get("content").is_none());
    assert_eq!(l[0]["owner"], "juju");
    assert_eq!(s.get(Some(&juju), "files/?prefix=model%25").await.json(), json!([]), "% is literal");
    assert_eq!(s.get(Some(&juju), "files/").await.json().as_array().unwrap().len(), 3);

    // Item GET: base64 content; names may contain '/'.
    let f = s.get(Some(&juju), "files/model1-tools/x.tgz/").await.json();
    assert_eq!(f["content"], "AAEC/w==");
    assert_eq!(f["resource_uri"], "/MAAS/api/2.0/files/model1-tools/x.tgz/");
    // op=get: raw bytes.
    let r = s.get(Some(&juju), "files/?op=get&filename=model1-provider-state").await;
    assert_eq!(r.body, "state: 1\n");
    assert_eq!(r.content_type.as_deref(), Some("application/octet-stream"));
    // anon_resource_uri works without credentials.
    let anon = l[0]["anon_resource_uri"].as_str().unwrap();
    let r = read(client().get(format!("{}{anon}", s.origin)).send().await.unwrap()).await;
    assert_eq!((r.status, r.body.as_str()), (200, "state: 1\n"));
    assert_eq!(s.get(None, "files/?op=get_by_key&key=nope").await.status, 404);
    assert_eq!(s.get(None, "files/").await.status, 400, "anonymous list is an unrecognised signature");

    // Re-upload replaces.
    upload(&s, &juju, "model1-provider-state", b"state: 2\n").await;
    assert_eq!(s.get(Some(&juju), "files/?op=get&filename=model1-provider-state").await.body, "state: 2\n");
    assert_eq!(s.get(Some(&other), "files/?op=get&filename=model1-provider-state").await.body, "not juju's");

    // Missing files: 404 (gomaasapi's NoMatch).
    assert_eq!(s.get(Some(&juju), "files/missing/").await.status, 404);
    assert_eq!(s.get(Some(&juju), "files/?op=get&filename=missing").await.status, 404);
    // Upload without a file part, or with two: 400.
    let r = read(
        client()
            .post(s.api("files/?op="))
            .header("authorization", juju.plaintext())
            .multipart(reqwest::multipart::Form::new().text("filename", "x"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 400);

    // Delete: item and by query.
    assert_eq!(s.call(Some(&juju), "DELETE", "files/model1-tools/x.tgz/", &[]).await.status, 204);
    assert_eq!(s.call(Some(&juju), "DELETE", "files/", &[("filename", "model2-provider-state")]).await.status, 204);
    assert_eq!(s.call(Some(&juju), "DELETE", "files/model2-provider-state/", &[]).await.status, 404);
    assert_eq!(s.get(Some(&juju), "files/").await.json().as_array().unwrap().len(), 1);
});

backend_tests!(notifications, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let alice = s.user("alice", false).await;
    let bob = s.user("bob", false).await;
    assert_eq!(s.post(Some(&alice), "notifications/", &[("message", "x")]).await.status, 403);
    let r = s
        .post(
            Some(&admin),
            "notifications/",
            &[
                ("message", "Hello {name}"),
                ("context", r#"{"name": "all"}"#),
                ("users", "true"),
                ("category", "warning"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let all_id = r.json()["id"].as_i64().unwrap();
    assert_eq!(r.json()["context"], json!({"name": "all"}));
    let r = s.post(Some(&admin), "notifications/", &[("message", "for alice"), ("user", "alice")]).await;
    assert_eq!(r.json()["user"]["username"], "alice");
    let alice_id = r.json()["id"].as_i64().unwrap();
    s.post(Some(&admin), "notifications/", &[("message", "admins only"), ("admins", "true")]).await;
    for (form, field) in [
        (vec![("message", "")], "message"),
        (vec![("message", "m"), ("category", "panic")], "category"),
        (vec![("message", "m"), ("context", "[1]")], "context"),
        (vec![("message", "m"), ("user", "ghost")], "user"),
    ] {
        let r = s.post(Some(&admin), "notifications/", &form).await;
        assert_eq!(r.status, 400, "{form:?}");
        assert!(r.json()[field].is_array());
    }

    let count = |k: ApiKey| {
        let s = &s;
        async move { s.get(Some(&k), "notifications/").await.json().as_array().unwrap().len() }
    };
    assert_eq!(count(alice.clone()).await, 2);
    assert_eq!(count(bob.clone()).await, 1);
    assert_eq!(count(admin.clone()).await, 2, "users + admins");
    assert_eq!(s.get(Some(&bob), &format!("notifications/{alice_id}/")).await.status, 403);
    // Dismissal is per user.
    assert_eq!(s.post(Some(&alice), &format!("notifications/{all_id}/?op=dismiss"), &[]).await.status, 200);
    assert_eq!(count(alice.clone()).await, 1);
    assert_eq!(count(bob.clone()).await, 1);
    // Update and delete: admin only.
    assert_eq!(
        s.call(Some(&alice), "PUT", &format!("notifications/{alice_id}/"), &[("message", "x")]).await.status,
        403
    );
    let r = s.call(Some(&admin), "PUT", &format!("notifications/{alice_id}/"), &[("message", "updated")]).await;
    assert_eq!(r.json()["message"], "updated");
    assert_eq!(s.call(Some(&admin), "DELETE", &format!("notifications/{alice_id}/"), &[]).await.status, 204);
    assert_eq!(s.get(Some(&admin), &format!("notifications/{alice_id}/")).await.status, 404);
    assert_eq!(count(alice).await, 0);
});
