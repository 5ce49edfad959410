//! Boot resources: inline and chunked uploads into the on-disk store, MAAS's
//! JSON shapes, boot sources and selections, and importing from a
//! simplestreams mirror served from a path and over HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use common::*;
use ironpool_region::engine::boot_resources as br;
use ironpool_region::engine::image_store::sha256_hex;
use serde_json::{json, Value};

fn payload(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

async fn create(s: &TestServer, key: &ApiKey, fields: &[(&str, &str)], content: Option<Vec<u8>>) -> Resp {
    upload_boot_resource(s, key, fields, content).await
}

async fn put_chunk(s: &TestServer, key: &ApiKey, uri: &str, data: Vec<u8>) -> Resp {
    read(
        client()
            .put(format!("{}{uri}", s.origin))
            .header("authorization", key.plaintext())
            .header("content-type", "application/octet-stream")
            .body(data)
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn store_file(s: &TestServer, sha: &str) -> PathBuf {
    s.state.config.data_dir.join("images/sha256").join(sha)
}

/// The only file of the newest set.
fn only_file(detail: &Value) -> Value {
    let sets = detail["sets"].as_object().unwrap();
    let newest = sets.keys().max().unwrap();
    let files = sets[newest]["files"].as_object().unwrap();
    assert_eq!(files.len(), 1, "{detail}");
    files.values().next().unwrap().clone()
}

backend_tests!(inline_upload_list_read_delete, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let user = s.user("user", false).await;
    let data = payload(1, 5000);
    let sha = sha256_hex(&data);

    let r = create(
        &s,
        &admin,
        &[("name", "custom/tiny"), ("title", "Tiny"), ("architecture", "amd64/generic"), ("filetype", "ddraw")],
        Some(data.clone()),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let d = r.json();
    assert_eq!(d["type"], "Uploaded");
    assert_eq!(d["name"], "custom/tiny");
    assert_eq!(d["architecture"], "amd64/generic");
    assert_eq!(d["subarches"], "generic");
    assert_eq!(d["title"], "Tiny");
    let id = d["id"].as_i64().unwrap();
    assert_eq!(d["resource_uri"], format!("/MAAS/api/2.0/boot-resources/{id}/"));
    let f = only_file(&d);
    assert_eq!(f["filename"], "root-dd.raw");
    assert_eq!(f["filetype"], "root-dd.raw");
    assert_eq!(f["sha256"], sha.as_str());
    assert_eq!(f["size"], 5000);
    assert_eq!(f["complete"], true);
    assert_eq!(f["progress"], 100.0);
    assert!(f.get("upload_uri").is_none());
    assert_eq!(std::fs::read(store_file(&s, &sha)).unwrap(), data, "stored by sha256 under the data dir");
    assert_eq!(br::file_path(&s.state.config.data_dir, &sha), Some(store_file(&s, &sha)));
    assert_eq!(br::file_path(&s.state.config.data_dir, "../../etc/passwd"), None);

    // Everyone may list and read; the list has no sets.
    let l = s.get(Some(&user), "boot-resources/").await.json();
    assert_eq!(l.as_array().unwrap().len(), 1);
    assert!(l[0].get("sets").is_none());
    assert_eq!(s.get(Some(&user), "boot-resources/?type=uploaded").await.json().as_array().unwrap().len(), 1);
    assert_eq!(s.get(Some(&user), "boot-resources/?type=synced").await.json(), json!([]));
    assert_eq!(s.get(Some(&user), "boot-resources/?type=generated").await.json(), json!([]));
    assert_eq!(s.get(Some(&user), "boot-resources/?type=bogus").await.status, 400);
    assert_eq!(s.get(Some(&user), &format!("boot-resources/{id}/")).await.json()["sets"], d["sets"]);
    assert_eq!(s.get(Some(&user), "boot-resources/999/").await.status, 404);
    assert_eq!(s.get(Some(&user), "boot-resources/x/").await.status, 404);

    // The rack's view: complete resources with their files.
    let imgs = br::complete_resources(&s.state.db, &s.state.config.data_dir).await.unwrap();
    assert_eq!(imgs.len(), 1);
    assert_eq!((imgs[0].arch.as_str(), imgs[0].subarch.as_str(), imgs[0].rtype), ("amd64", "generic", "Uploaded"));
    assert_eq!(imgs[0].files[0].sha256, sha);

    // Bad input: 400/403/409 with a message, never 500.
    let bad = |fields: Vec<(&'static str, &'static str)>, content: Option<Vec<u8>>| {
        let (s, admin) = (&s, &admin);
        async move { create(s, admin, &fields, content).await }
    };
    let r = bad(vec![("name", "custom/tiny"), ("architecture", "amd64/generic")], Some(data.clone())).await;
    assert_eq!(r.status, 409, "duplicate: {}", r.body);
    assert!(r.body.contains("already exists"));
    let r = bad(vec![("name", "custom/x"), ("architecture", "vax/generic")], Some(data.clone())).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("architecture"), "{}", r.body);
    let r = bad(vec![("name", "custom/x"), ("architecture", "amd64")], Some(data.clone())).await;
    assert_eq!(r.status, 400);
    let r = bad(vec![("name", "custom/x"), ("architecture", "amd64/generic"), ("filetype", "zip")], Some(data.clone()))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("filetype"), "{}", r.body);
    let wrong = "0".repeat(64);
    let r = create(
        &s,
        &admin,
        &[("name", "custom/x"), ("architecture", "amd64/generic"), ("sha256", &wrong)],
        Some(data.clone()),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("SHA256"), "{}", r.body);
    let r =
        bad(vec![("name", "custom/x"), ("architecture", "amd64/generic"), ("size", "4999")], Some(data.clone())).await;
    assert_eq!(r.status, 400, "size mismatch");
    assert!(r.body.contains("Size mismatch"), "{}", r.body);
    let r = bad(vec![("name", "custom/x"), ("architecture", "amd64/generic")], None).await;
    assert_eq!(r.status, 400, "no content and no sha256/size: {}", r.body);
    let r = bad(vec![("name", "../x"), ("architecture", "amd64/generic")], Some(data.clone())).await;
    assert_eq!(r.status, 400);
    let r = create(&s, &user, &[("name", "custom/y"), ("architecture", "amd64/generic")], Some(data.clone())).await;
    assert_eq!(r.status, 403);
    assert_eq!(s.get(Some(&user), "boot-resources/").await.json().as_array().unwrap().len(), 1, "nothing half-made");

    // Delete: admin only; the content leaves the store.
    assert_eq!(s.call(Some(&user), "DELETE", &format!("boot-resources/{id}/"), &[]).await.status, 403);
    assert_eq!(s.call(Some(&admin), "DELETE", &format!("boot-resources/{id}/"), &[]).await.status, 204);
    assert!(!store_file(&s, &sha).exists());
    assert_eq!(s.call(Some(&admin), "DELETE", &format!("boot-resources/{id}/"), &[]).await.status, 404);
});

backend_tests!(chunked_upload, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let data = payload(7, 10_000);
    let sha = sha256_hex(&data);
    let size = data.len().to_string();

    // python-libmaas / maas CLI: create with sha256 and size, no content.
    let r = create(
        &s,
        &admin,
        &[
            ("name", "ubuntu/custom"),
            ("architecture", "arm64/generic"),
            ("filetype", "tgz"),
            ("sha256", &sha),
            ("size", &size),
        ],
        None,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let d = r.json();
    let id = d["id"].as_i64().unwrap();
    let f = only_file(&d);
    assert_eq!(f["complete"], false);
    assert_eq!(f["filetype"], "root-tgz");
    let uri = f["upload_uri"].as_str().unwrap().to_string();
    assert!(uri.starts_with(&format!("/MAAS/api/2.0/boot-resources/{id}/upload/")), "{uri}");

    let r = put_chunk(&s, &admin, &uri, data[..4000].to_vec()).await;
    assert_eq!((r.status, r.body.as_str()), (200, "OK"));
    let f = only_file(&s.get(Some(&admin), &format!("boot-resources/{id}/")).await.json());
    assert_eq!(f["complete"], false);
    assert_eq!(f["progress"], 40.0);
    assert_eq!(br::file_path(&s.state.config.data_dir, &sha), None, "an incomplete file is never visible");
    assert!(br::complete_resources(&s.state.db, &s.state.config.data_dir).await.unwrap().is_empty());

    // A chunk past the declared size is refused and leaves nothing behind.
    let r = put_chunk(&s, &admin, &uri, data[4000..].iter().chain(b"extra").copied().collect()).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let f = only_file(&s.get(Some(&admin), &format!("boot-resources/{id}/")).await.json());
    assert_eq!(f["progress"], 40.0, "the refused chunk was cut back");

    let r = put_chunk(&s, &admin, &uri, data[4000..8000].to_vec()).await;
    assert_eq!(r.status, 200);
    let r = put_chunk(&s, &admin, &uri, data[8000..].to_vec()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = s.get(Some(&admin), &format!("boot-resources/{id}/")).await.json();
    let f = only_file(&d);
    assert_eq!((f["complete"].clone(), f["progress"].clone()), (json!(true), json!(100.0)));
    assert!(f.get("upload_uri").is_none());
    assert_eq!(std::fs::read(store_file(&s, &sha)).unwrap(), data);
    let r = put_chunk(&s, &admin, &uri, b"more".to_vec()).await;
    assert_eq!(r.status, 400, "already complete");

    // Wrong SHA-256: the last chunk is refused and nothing appears.
    let other = payload(9, 3000);
    let wrong = sha256_hex(b"something else");
    let r = create(
        &s,
        &admin,
        &[("name", "custom/bad"), ("architecture", "amd64/generic"), ("sha256", &wrong), ("size", "3000")],
        None,
    )
    .await;
    let d = r.json();
    let bad_id = d["id"].as_i64().unwrap();
    let uri = only_file(&d)["upload_uri"].as_str().unwrap().to_string();
    let r = put_chunk(&s, &admin, &uri, other.clone()).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("SHA256"), "{}", r.body);
    assert!(!store_file(&s, &wrong).exists());
    assert!(!s.state.config.data_dir.join(format!("images/sha256/{wrong}.partial")).exists());
    let f = only_file(&s.get(Some(&admin), &format!("boot-resources/{bad_id}/")).await.json());
    assert_eq!((f["complete"].clone(), f["progress"].clone()), (json!(false), json!(0.0)));

    // Other refusals.
    let user = s.user("user", false).await;
    assert_eq!(put_chunk(&s, &user, &uri, other.clone()).await.status, 403);
    assert_eq!(
        put_chunk(&s, &admin, &format!("/MAAS/api/2.0/boot-resources/{bad_id}/upload/9999/"), vec![1]).await.status,
        404
    );
    assert_eq!(put_chunk(&s, &admin, "/MAAS/api/2.0/boot-resources/9999/upload/1/", vec![1]).await.status, 404);
    let r = s.call(Some(&admin), "PUT", &uri["/MAAS/api/2.0/".len()..], &[("x", "y")]).await;
    assert_eq!(r.status, 400, "a form body is not a chunk: {}", r.body);

    let imgs = br::complete_resources(&s.state.db, &s.state.config.data_dir).await.unwrap();
    let names: Vec<&str> = imgs.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, vec!["ubuntu/custom"]);
});

/// 100 MB: inline (buffered by the body layer, under its 1 GiB limit) and
/// chunked in one PUT (streamed to disk).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_megabyte_uploads() {
    let s = TestServer::start(Backend::Sqlite);
    let admin = s.user("admin", true).await;
    let data = payload(3, 100 * 1024 * 1024);
    let sha = sha256_hex(&data);
    let r = create(
        &s,
        &admin,
        &[("name", "custom/big"), ("architecture", "amd64/generic"), ("filetype", "ddraw")],
        Some(data.clone()),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(std::fs::metadata(store_file(&s, &sha)).unwrap().len(), data.len() as u64);
    let id = r.json()["id"].as_i64().unwrap();
    assert_eq!(s.call(Some(&admin), "DELETE", &format!("boot-resources/{id}/"), &[]).await.status, 204);

    let size = data.len().to_string();
    let r = create(
        &s,
        &admin,
        &[("name", "custom/big2"), ("architecture", "amd64/generic"), ("sha256", &sha), ("size", &size)],
        None,
    )
    .await;
    let uri = only_file(&r.json())["upload_uri"].as_str().unwrap().to_string();
    let r = put_chunk(&s, &admin, &uri, data).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(store_file(&s, &sha).exists());
}

backend_tests!(boot_sources_and_selections, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let user = s.user("user", false).await;
    assert_eq!(s.get(Some(&admin), "boot-sources/").await.json(), json!([]));
    assert_eq!(s.get(Some(&user), "boot-sources/").await.status, 403);

    let r = s
        .post(
            Some(&admin),
            "boot-sources/",
            &[("url", "http://mirror.example/images/"), ("keyring_filename", "/k.gpg")],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let src = r.json();
    let id = src["id"].as_i64().unwrap();
    assert_eq!(src["url"], "http://mirror.example/images/");
    assert_eq!(src["keyring_filename"], "/k.gpg");
    assert_eq!(src["keyring_data"], "");
    assert_eq!(src["resource_uri"], format!("/MAAS/api/2.0/boot-sources/{id}/"));
    let created = src["created"].as_str().unwrap();
    assert!(
        chrono::NaiveDateTime::parse_from_str(created, "%Y-%m-%dT%H:%M:%S%.f").is_ok() && created.contains('.'),
        "{created}"
    );
    assert_eq!(
        s.post(Some(&admin), "boot-sources/", &[("url", "http://mirror.example/images/")]).await.status,
        400,
        "dup"
    );
    assert_eq!(s.post(Some(&admin), "boot-sources/", &[("url", "gopher://x")]).await.status, 400);
    assert_eq!(s.post(Some(&admin), "boot-sources/", &[]).await.status, 400);
    assert_eq!(s.post(Some(&user), "boot-sources/", &[("url", "http://x/")]).await.status, 403);

    let r = s.call(Some(&admin), "PUT", &format!("boot-sources/{id}/"), &[("url", "/srv/mirror")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.get(Some(&admin), &format!("boot-sources/{id}/")).await.json()["url"], "/srv/mirror");
    assert_eq!(s.get(Some(&admin), "boot-sources/77/").await.status, 404);

    let sel = format!("boot-sources/{id}/selections/");
    let r = s
        .post(Some(&admin), &sel, &[("os", "ubuntu"), ("release", "jammy"), ("arches", "amd64"), ("arches", "arm64")])
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    let sid = v["id"].as_i64().unwrap();
    assert_eq!(
        v,
        json!({"boot_source_id": id, "id": sid, "os": "ubuntu", "release": "jammy", "arches": ["amd64", "arm64"],
               "subarches": ["*"], "labels": ["*"],
               "resource_uri": format!("/MAAS/api/2.0/boot-sources/{id}/selections/{sid}/")})
    );
    assert_eq!(s.post(Some(&admin), &sel, &[("os", "ubuntu"), ("release", "jammy")]).await.status, 409);
    assert_eq!(s.post(Some(&admin), &sel, &[("os", "ubuntu")]).await.status, 400);
    assert_eq!(
        s.post(Some(&admin), "boot-sources/99/selections/", &[("os", "ubuntu"), ("release", "x")]).await.status,
        404
    );
    let r = s.call(Some(&admin), "PUT", &format!("{sel}{sid}/"), &[("arches", "*"), ("labels", "stable")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = s.get(Some(&admin), &format!("{sel}{sid}/")).await.json();
    assert_eq!((v["arches"].clone(), v["labels"].clone()), (json!(["*"]), json!(["stable"])));
    assert_eq!(s.get(Some(&admin), &sel).await.json().as_array().unwrap().len(), 1);
    assert_eq!(s.get(Some(&user), &sel).await.status, 403);
    assert_eq!(s.call(Some(&admin), "DELETE", &format!("{sel}{sid}/"), &[]).await.status, 204);
    assert_eq!(s.get(Some(&admin), &format!("{sel}{sid}/")).await.status, 404);
    assert_eq!(s.call(Some(&admin), "DELETE", &format!("boot-sources/{id}/"), &[]).await.status, 204);
    assert_eq!(s.get(Some(&admin), "boot-sources/").await.json(), json!([]));
});

// ---------------------------------------------------------------- import

struct Mirror {
    dir: tempfile::TempDir,
    /// sha256 of each good item by `release/ftype`.
    items: Vec<(String, Vec<u8>)>,
    corrupt_sha: String,
}

/// A tiny simplestreams mirror: jammy (amd64, three good files), noble
/// (amd64, its squashfs does not match its sha256), focal (arm64, never
/// selected), and a bootloader product without os/release.
fn build_mirror() -> Mirror {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("streams/v1")).unwrap();
    let mut items = Vec::new();
    let mut products = serde_json::Map::new();
    let mut corrupt_sha = String::new();
    for (i, (release, arch, corrupt)) in
        [("jammy", "amd64", false), ("noble", "amd64", true), ("focal", "arm64", false)].iter().enumerate()
    {
        let mut its = serde_json::Map::new();
        for (j, ftype) in ["boot-kernel", "boot-initrd", "squashfs"].iter().enumerate() {
            let data = payload((i * 3 + j) as u8, 2048 + 512 * j);
            let rel = format!("{release}/{arch}/20240501/{ftype}");
            std::fs::create_dir_all(root.join(&rel).parent().unwrap()).unwrap();
            std::fs::write(root.join(&rel), &data).unwrap();
            let mut sha = sha256_hex(&data);
            if *corrupt && *ftype == "squashfs" {
                sha = sha256_hex(b"not the content");
                corrupt_sha = sha.clone();
            } else {
                items.push((sha.clone(), data.clone()));
            }
            its.insert(ftype.to_string(), json!({"ftype": ftype, "path": rel, "sha256": sha, "size": data.len()}));
        }
        its.insert("manifest".into(), json!({"ftype": "manifest", "path": "x", "sha256": "y", "size": 1}));
        products.insert(
            format!("com.ubuntu.maas.stable:v3:boot:{release}:{arch}:ga"),
            json!({"os": "ubuntu", "release": release, "arch": arch, "subarch": "ga-22.04",
                   "subarches": "generic,ga-22.04", "kflavor": "generic", "release_title": "22.04 LTS",
                   "label": "stable",
                   "versions": {"20240401": {"items": {}}, "20240501": {"items": its}}}),
        );
    }
    products.insert("com.ubuntu.maas.stable:1:grub-efi-signed:uefi:amd64".into(), json!({"versions": {}}));
    let doc = json!({"content_id": "com.ubuntu.maas:stable:v3:download", "datatype": "image-downloads",
                     "format": "products:1.0", "products": products});
    std::fs::write(root.join("streams/v1/com.ubuntu.maas:stable:v3:download.json"), doc.to_string()).unwrap();
    let index = json!({"format": "index:1.0", "index": {"com.ubuntu.maas:stable:v3:download": {
        "datatype": "image-downloads", "path": "streams/v1/com.ubuntu.maas:stable:v3:download.json",
        "format": "products:1.0", "products": []}}});
    std::fs::write(root.join("streams/v1/index.json"), index.to_string()).unwrap();
    Mirror { dir, items, corrupt_sha }
}

/// Path and Range header of each request the mirror server saw.
type RequestLog = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A minimal HTTP/1.1 file server over a directory that honours
/// `Range: bytes=N-`, recording every request's path and Range header.
async fn serve_dir(root: PathBuf) -> (String, RequestLog) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log: RequestLog = Default::default();
    let log2 = log.clone();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let (root, log) = (root.clone(), log2.clone());
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
                let path = head.split_whitespace().nth(1).unwrap().trim_start_matches('/').to_string();
                let range = head
                    .lines()
                    .find(|l| l.to_ascii_lowercase().starts_with("range:"))
                    .map(|l| l.split_once(':').unwrap().1.trim().to_string());
                log.lock().unwrap().push((path.clone(), range.clone()));
                let resp = match std::fs::read(root.join(&path)) {
                    Err(_) => b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_vec(),
                    Ok(data) => {
                        let from = range
                            .as_deref()
                            .and_then(|r| r.strip_prefix("bytes="))
                            .and_then(|r| r.trim_end_matches('-').parse::<usize>().ok());
                        let (status, body) = match from {
                            Some(f) => ("206 Partial Content", data[f.min(data.len())..].to_vec()),
                            None => ("200 OK", data),
                        };
                        let mut r =
                            format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len())
                                .into_bytes();
                        r.extend(body);
                        r
                    }
                };
                let _ = sock.write_all(&resp).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (format!("http://{addr}/"), log)
}

async fn add_source(s: &TestServer, admin: &ApiKey, url: &str) {
    let r = s.post(Some(admin), "boot-sources/", &[("url", url)]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_i64().unwrap();
    for release in ["jammy", "noble"] {
        let r = s
            .post(
                Some(admin),
                &format!("boot-sources/{id}/selections/"),
                &[("os", "ubuntu"), ("release", release), ("arches", "amd64")],
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
}

/// Starts an import through the API and waits for `is_importing` to go false.
async fn import_and_wait(s: &TestServer, admin: &ApiKey) {
    let r = s.post(Some(admin), "boot-resources/?op=import", &[]).await;
    assert_eq!((r.status, r.body.as_str()), (200, "Import of boot resources started"));
    for _ in 0..600 {
        let r = s.get(Some(admin), "boot-resources/?op=is_importing").await;
        assert_eq!(r.status, 200);
        if r.json() == json!(false) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("import never finished");
}

fn assert_imported(s: &TestServer, m: &Mirror) -> ironpool_region::engine::image_import::ImportReport {
    let report = s.state.importer.last_report().expect("an import ran");
    assert_eq!(report.imported, vec!["ubuntu/jammy amd64/ga-22.04 20240501".to_string()], "{report:?}");
    assert_eq!(report.failures.len(), 1, "{report:?}");
    assert!(report.failures[0].contains("ubuntu/noble") && report.failures[0].contains("SHA256"), "{report:?}");
    let dir = s.state.config.data_dir.join("images/sha256");
    assert!(!dir.join(&m.corrupt_sha).exists() && !dir.join(format!("{}.partial", m.corrupt_sha)).exists());
    for (sha, data) in m.items.iter().take(3) {
        assert_eq!(&std::fs::read(dir.join(sha)).unwrap(), data);
    }
    report
}

async fn check_synced_listing(s: &TestServer, admin: &ApiKey) {
    let l = s.get(Some(admin), "boot-resources/?type=synced").await.json();
    assert_eq!(l.as_array().unwrap().len(), 1, "only jammy: noble failed, focal not selected: {l}");
    assert_eq!(l[0]["type"], "Synced");
    assert_eq!(l[0]["name"], "ubuntu/jammy");
    assert_eq!(l[0]["architecture"], "amd64/ga-22.04");
    assert_eq!(l[0]["subarches"], "generic,ga-22.04");
    assert_eq!(l[0]["kflavor"], "generic");
    assert_eq!(l[0]["title"], "Ubuntu 22.04 LTS");
    let id = l[0]["id"].as_i64().unwrap();
    let d = s.get(Some(admin), &format!("boot-resources/{id}/")).await.json();
    let set = &d["sets"]["20240501"];
    assert_eq!((set["complete"].clone(), set["label"].clone()), (json!(true), json!("stable")));
    let mut names: Vec<&String> = set["files"].as_object().unwrap().keys().collect();
    names.sort();
    assert_eq!(names, vec!["boot-initrd", "boot-kernel", "squashfs"]);
    assert!(set["files"]["squashfs"].get("upload_uri").is_none());
    let imgs = br::complete_resources(&s.state.db, &s.state.config.data_dir).await.unwrap();
    assert_eq!(imgs.len(), 1);
    assert_eq!((imgs[0].rtype, imgs[0].version.as_str(), imgs[0].files.len()), ("Synced", "20240501", 3));
    for f in &imgs[0].files {
        let p = br::file_path(&s.state.config.data_dir, &f.sha256).unwrap();
        assert_eq!(std::fs::metadata(p).unwrap().len(), f.size);
    }
}

backend_tests!(import_from_a_local_mirror, |b| async move {
    let m = build_mirror();
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    add_source(&s, &admin, &format!("file://{}", m.dir.path().display())).await;
    import_and_wait(&s, &admin).await;
    assert_imported(&s, &m);
    check_synced_listing(&s, &admin).await;
    // Administrators are told about the failure.
    let n = s.get(Some(&admin), "notifications/").await.json();
    assert!(n.as_array().unwrap().iter().any(|n| n["message"].as_str().unwrap().contains("ubuntu/noble")), "{n}");

    // Again: nothing new; the failure is still reported.
    let report = s.state.importer.run_now(&s.state.db, &s.state.images).await.unwrap();
    assert_eq!(report.unchanged, vec!["ubuntu/jammy amd64/ga-22.04 20240501".to_string()]);
    assert!(report.imported.is_empty());

    // Non-admins may ask but not start or stop.
    let user = s.user("user", false).await;
    assert_eq!(s.get(Some(&user), "boot-resources/?op=is_importing").await.json(), json!(false));
    assert_eq!(s.post(Some(&user), "boot-resources/?op=import", &[]).await.status, 403);
    assert_eq!(s.post(Some(&user), "boot-resources/?op=stop_import", &[]).await.status, 403);
    assert_eq!(s.post(Some(&admin), "boot-resources/?op=stop_import", &[]).await.status, 200);

    // Dropping the selections and the corrupt product: a clean import removes jammy.
    let src = s.get(Some(&admin), "boot-sources/").await.json()[0]["id"].as_i64().unwrap();
    for sel in s.get(Some(&admin), &format!("boot-sources/{src}/selections/")).await.json().as_array().unwrap() {
        let r = s.call(Some(&admin), "DELETE", &format!("boot-sources/{src}/selections/{}/", sel["id"]), &[]).await;
        assert_eq!(r.status, 204);
    }
    let report = s.state.importer.run_now(&s.state.db, &s.state.images).await.unwrap();
    assert!(report.failures.is_empty(), "{report:?}");
    assert_eq!(report.removed, vec!["ubuntu/jammy amd64/ga-22.04".to_string()]);
    assert_eq!(s.get(Some(&admin), "boot-resources/").await.json(), json!([]));
    assert!(!store_file(&s, &m.items[0].0).exists(), "unused content leaves the store");
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_over_http_resumes_a_partial_download() {
    let m = build_mirror();
    let (url, log) = serve_dir(m.dir.path().to_path_buf()).await;
    let s = TestServer::start(Backend::Sqlite);
    let admin = s.user("admin", true).await;
    add_source(&s, &admin, &url).await;

    // An earlier import died half-way through the kernel.
    let (kernel_sha, kernel) = &m.items[0];
    let dir = s.state.config.data_dir.join("images/sha256");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{kernel_sha}.partial")), &kernel[..1000]).unwrap();
    assert_eq!(br::file_path(&s.state.config.data_dir, kernel_sha), None);

    import_and_wait(&s, &admin).await;
    assert_imported(&s, &m);
    check_synced_listing(&s, &admin).await;
    let log = log.lock().unwrap().clone();
    assert!(log.iter().any(|(p, _)| p == "streams/v1/index.json"), "{log:?}");
    let kernel_reqs: Vec<_> = log.iter().filter(|(p, _)| p == "jammy/amd64/20240501/boot-kernel").collect();
    assert_eq!(kernel_reqs.len(), 1, "{log:?}");
    assert_eq!(kernel_reqs[0].1.as_deref(), Some("bytes=1000-"), "resumed with a Range request");
    assert!(!dir.join(format!("{kernel_sha}.partial")).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_mirror_is_a_recorded_failure() {
    let s = TestServer::start(Backend::Sqlite);
    let admin = s.user("admin", true).await;
    add_source(&s, &admin, "/nonexistent/mirror").await;
    import_and_wait(&s, &admin).await;
    let report = s.state.importer.last_report().unwrap();
    assert_eq!(report.failures.len(), 1, "{report:?}");
    assert!(report.imported.is_empty());
}
