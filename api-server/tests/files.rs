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
    post_form_as(s.api("files/?op="), key, form).await
}

backend_tests!(files, |b| async move {
    let s = TestServer::start(b);
    let juju = s.user("juju", false).await;
    let other = s.user("other", false).await;
    let r = upload(&s, &juju, "model1-provider-state", b"state: 1\n").await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.content_type.as_deref(), Some("text/plain"));
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

fn sha256(data: &[u8]) -> String {
    ironpool_region::engine::image_store::sha256_hex(data)
}

fn store_file(s: &TestServer, sha: &str) -> std::path::PathBuf {
    s.state.config.data_dir.join("files").join("sha256").join(sha)
}

/// (sha256, size, length of the in-row content) of a user's file.
async fn row(s: &TestServer, owner: &str, name: &str) -> Option<(Option<String>, i64, usize)> {
    let (owner, name) = (owner.to_string(), name.to_string());
    s.state
        .db
        .run(move |c| {
            use diesel::prelude::*;
            use ironpool_region::db::schema::{files, users};
            let uid: i64 = users::table.filter(users::username.eq(&owner)).select(users::id).first(c).unwrap();
            Ok(files::table
                .filter(files::owner_id.eq(uid))
                .filter(files::filename.eq(&name))
                .select((files::sha256, files::size, files::content))
                .first::<(Option<String>, i64, Vec<u8>)>(c)
                .optional()
                .unwrap()
                .map(|(h, n, c)| (h, n, c.len())))
        })
        .await
        .unwrap()
}

async fn all_ways(s: &TestServer, key: &ApiKey, name: &str) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    use base64::Engine as _;
    let raw = client()
        .get(s.api(&format!("files/?op=get&filename={name}")))
        .header("authorization", key.plaintext())
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 200);
    let raw = raw.bytes().await.unwrap().to_vec();
    let item = s.get(Some(key), &format!("files/{name}/")).await;
    assert_eq!(item.status, 200, "{}", item.body);
    assert_eq!(item.content_type.as_deref(), Some("application/json; charset=utf-8"));
    let item = item.json();
    let b64 = base64::engine::general_purpose::STANDARD.decode(item["content"].as_str().unwrap()).unwrap();
    assert_eq!(item["filename"], name);
    let anon = format!("{}{}", s.origin, item["anon_resource_uri"].as_str().unwrap());
    let by_key = client().get(anon).send().await.unwrap().bytes().await.unwrap().to_vec();
    (raw, b64, by_key)
}

// Content lives on disk, named by its SHA-256; the row holds the hash and
// size only, so an upload never puts the content in a write transaction.
// Content round-trips byte-exact through op=get, the item's base64
// `content` and the anonymous key URL; identical content is stored once
// and leaves the disk with the last row naming it.
backend_tests!(content_on_disk, |b| async move {
    let s = TestServer::start(b);
    let juju = s.user("juju", false).await;
    let other = s.user("other", false).await;
    let big = pattern(9 * 1024 * 1024 + 7, 42); // several chunks, not a multiple of 3
    let sha = sha256(&big);
    assert_eq!(upload(&s, &juju, "tools.tgz", &big).await.status, 201);
    assert_eq!(row(&s, "juju", "tools.tgz").await, Some((Some(sha.clone()), big.len() as i64, 0)));
    assert_eq!(std::fs::read(store_file(&s, &sha)).unwrap(), big);
    let (raw, b64, by_key) = all_ways(&s, &juju, "tools.tgz").await;
    assert!(raw == big && b64 == big && by_key == big, "content differs after the round trip");
    // Empty content and a base64 boundary case.
    for data in [vec![], vec![1u8], vec![1, 2], vec![1, 2, 3]] {
        assert_eq!(upload(&s, &juju, "small", &data).await.status, 201);
        let (raw, b64, by_key) = all_ways(&s, &juju, "small").await;
        assert!(raw == data && b64 == data && by_key == data, "{data:?}");
    }

    // The same content under two names and two owners: one copy.
    assert_eq!(upload(&s, &juju, "copy.tgz", &big).await.status, 201);
    assert_eq!(upload(&s, &other, "theirs.tgz", &big).await.status, 201);
    assert_eq!(std::fs::read_dir(store_file(&s, &sha).parent().unwrap()).unwrap().count(), 2, "big + small");
    assert_eq!(s.call(Some(&juju), "DELETE", "files/tools.tgz/", &[]).await.status, 204);
    assert_eq!(s.call(Some(&juju), "DELETE", "files/", &[("filename", "copy.tgz")]).await.status, 204);
    assert!(store_file(&s, &sha).is_file(), "still named by other's file");
    assert_eq!(all_ways(&s, &other, "theirs.tgz").await.0, big);
    // Replacing the last file naming it removes it.
    assert_eq!(upload(&s, &other, "theirs.tgz", b"new").await.status, 201);
    assert!(!store_file(&s, &sha).exists(), "unreferenced content is removed");
    assert_eq!(all_ways(&s, &other, "theirs.tgz").await.0, b"new");
    if b == Backend::Postgres {
        // The shared copy goes with it.
        let sha2 = sha.clone();
        let n = s.state.db.run(move |c| ironpool_region::db::files::chunk_count(c, &sha2)).await.unwrap();
        assert_eq!(n, 0);
    }
});

// Rows from before content moved to disk keep it in the row: a read moves
// that row at once, and the region moves the rest when it starts.
backend_tests!(legacy_rows_move_out, |b| async move {
    let mut s = TestServer::start(b);
    let juju = s.user("juju", false).await;
    let (a, c) = (pattern(3000, 1), pattern(5000, 2));
    let (a2, c2) = (a.clone(), c.clone());
    s.state
        .db
        .write(move |conn| {
            use diesel::prelude::*;
            use ironpool_region::db::schema::{files, users};
            let uid: i64 = users::table.filter(users::username.eq("juju")).select(users::id).first(conn).unwrap();
            for (name, key, data) in [("old-a", "key-a", &a2), ("old-c", "key-c", &c2)] {
                diesel::insert_into(files::table)
                    .values((
                        files::filename.eq(name),
                        files::owner_id.eq(uid),
                        files::anon_key.eq(key),
                        files::content.eq(data),
                        files::created_at.eq(chrono::Utc::now().naive_utc()),
                    ))
                    .execute(conn)
                    .unwrap();
            }
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(row(&s, "juju", "old-a").await, Some((None, 0, 3000)));
    // A read moves the row first.
    assert_eq!(all_ways(&s, &juju, "old-a").await, (a.clone(), a.clone(), a.clone()));
    assert_eq!(row(&s, "juju", "old-a").await, Some((Some(sha256(&a)), 3000, 0)));
    assert!(store_file(&s, &sha256(&a)).is_file());
    // A restart moves the others (and sweeps content nothing names).
    std::fs::write(store_file(&s, &"0".repeat(64)), b"stray").unwrap();
    s.stop().await;
    s.restart();
    let mut moved = false;
    for _ in 0..100 {
        if row(&s, "juju", "old-c").await == Some((Some(sha256(&c)), 5000, 0))
            && !store_file(&s, &"0".repeat(64)).exists()
        {
            moved = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(moved, "the region moves legacy content at start: {:?}", row(&s, "juju", "old-c").await);
    assert_eq!(all_ways(&s, &juju, "old-c").await.0, c);
});

// Two regions on one PostgreSQL database, each with its own data dir: a
// file uploaded through one is read through the other (which copies the
// content from the database's shared copy into its own store, hash checked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_region_serves_files() {
    let r1 = TestServer::start(Backend::Postgres);
    let juju = r1.user("juju", false).await;
    let r2 = r1.second_region();
    let data = pattern(2 * 1024 * 1024 + 1, 9);
    let sha = sha256(&data);
    assert_eq!(upload(&r1, &juju, "state", &data).await.status, 201);
    assert!(!store_file(&r2, &sha).exists());
    let (raw, b64, by_key) = all_ways(&r2, &juju, "state").await;
    assert!(raw == data && b64 == data && by_key == data);
    assert!(store_file(&r2, &sha).is_file(), "region 2 keeps its copy");
    // Deleted through region 2: the shared copy goes too.
    assert_eq!(r2.call(Some(&juju), "DELETE", "files/state/", &[]).await.status, 204);
    let n = r2.state.db.run(move |c| ironpool_region::db::files::chunk_count(c, &sha)).await.unwrap();
    assert_eq!(n, 0);
}

fn rss_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

// A 64 MiB upload as the maas CLI sends it (curl here, a separate process,
// so this process's memory is the region's). Outcomes asserted: the content
// round-trips and the SQLite database does not grow by it (it never entered
// a transaction). Measured and printed, not asserted (timing): the region's
// resident memory before and after, and the slowest write by another user
// while the upload was being stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_64_mib() {
    let s = TestServer::start(Backend::Sqlite);
    let juju = s.user("juju", false).await;
    let admin = s.user("admin", true).await;
    let data = pattern(64 * 1024 * 1024, 64);
    let path = s.db.dir.path().join("upload.bin");
    std::fs::write(&path, &data).unwrap();
    drop(data); // so the peak below is the region's, not this copy's
    let db_file = s.db.dir.path().join("test.db");
    let db_before = std::fs::metadata(&db_file).unwrap().len();
    let rss_before = rss_kib("VmRSS:");

    let url = s.api("files/");
    let auth = format!("Authorization: {}", juju.plaintext());
    let done = std::sync::atomic::AtomicBool::new(false);
    let curl = async {
        let out = tokio::process::Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", &auth, "-F", "filename=big", "-F"])
            .arg(format!("file=@{}", path.display()))
            .arg(&url)
            .output()
            .await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        out
    };
    // Another user's writes while the upload is received and stored.
    let writer = async {
        let mut slowest = std::time::Duration::ZERO;
        let mut n = 0;
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            let t = std::time::Instant::now();
            let r = s.post(Some(&admin), "tags/", &[("name", &format!("t{n}"))]).await;
            assert_eq!(r.status, 200, "{}", r.body);
            slowest = slowest.max(t.elapsed());
            n += 1;
        }
        (slowest, n)
    };
    let (out, (slowest, writes)) = tokio::join!(curl, writer);
    let out = out.unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "201");
    let rss_after = rss_kib("VmRSS:");
    let peak = rss_kib("VmHWM:");
    let db_after = std::fs::metadata(&db_file).unwrap().len();
    eprintln!(
        "64 MiB upload: RSS {} MiB before, {} MiB after, peak {} MiB; database {} -> {} KiB; \
         {writes} tag writes meanwhile, slowest {:?}",
        rss_before / 1024,
        rss_after / 1024,
        peak / 1024,
        db_before / 1024,
        db_after / 1024,
        slowest
    );
    assert!(db_after < db_before + 4 * 1024 * 1024, "the content went into the database: {db_before} -> {db_after}");
    let data = std::fs::read(&path).unwrap();
    let (raw, b64, by_key) = all_ways(&s, &juju, "big").await;
    assert!(raw == data && b64 == data && by_key == data, "content differs after the round trip");
}
