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

    // Any readable binary file passes as a keyring here; gpgv judges it at import.
    let kdir = tempfile::tempdir().unwrap();
    let kfile = kdir.path().join("k.gpg");
    std::fs::write(&kfile, [0x98u8, 0x33, 0x04]).unwrap();
    let kfile = kfile.to_str().unwrap();
    let r = s
        .post(Some(&admin), "boot-sources/", &[("url", "http://mirror.example/images/"), ("keyring_filename", kfile)])
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let src = r.json();
    let id = src["id"].as_i64().unwrap();
    assert_eq!(src["url"], "http://mirror.example/images/");
    assert_eq!(src["keyring_filename"], kfile);
    assert_eq!(src["keyring_data"], "");
    assert_eq!(src["skip_keyring_verification"], false);
    assert_eq!(src["resource_uri"], format!("/MAAS/api/2.0/boot-sources/{id}/"));
    let created = src["created"].as_str().unwrap();
    assert!(
        chrono::NaiveDateTime::parse_from_str(created, "%Y-%m-%dT%H:%M:%S%.f").is_ok() && created.contains('.'),
        "{created}"
    );
    assert_eq!(
        s.post(
            Some(&admin),
            "boot-sources/",
            &[("url", "http://mirror.example/images/"), ("skip_keyring_verification", "true")]
        )
        .await
        .status,
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

/// Adds an unsigned mirror (`skip_keyring_verification`) selecting jammy
/// and noble.
async fn add_source(s: &TestServer, admin: &ApiKey, url: &str) {
    let r = s.post(Some(admin), "boot-sources/", &[("url", url), ("skip_keyring_verification", "true")]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    select_jammy_noble(s, admin, r.json()["id"].as_i64().unwrap()).await;
}

async fn select_jammy_noble(s: &TestServer, admin: &ApiKey, id: i64) {
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

// ---------------------------------------------------------------- signatures (issue 15, M8)

/// A throwaway OpenPGP signing key made by the real `gpg`, in its own home
/// directory; its public key is exported as a binary keyring (what gpgv
/// and MAAS's keyrings are). The gpg-agent gpg starts is stopped on drop.
struct Signer {
    home: tempfile::TempDir,
    keyring: PathBuf,
}

impl Signer {
    fn new(name: &str) -> Signer {
        let home = tempfile::Builder::new().prefix("gpg").tempdir().unwrap();
        let out = std::process::Command::new("gpg")
            .args(["--batch", "--homedir"])
            .arg(home.path())
            .args(["--passphrase", "", "--quick-gen-key", &format!("{name} <{name}@ironpool.test>"), "ed25519"])
            .args(["sign", "never"])
            .output()
            .expect("gpg is installed (apt install gnupg)");
        assert!(out.status.success(), "gpg --quick-gen-key: {}", String::from_utf8_lossy(&out.stderr));
        let keyring = home.path().join("exported.gpg");
        let out = std::process::Command::new("gpg")
            .args(["--batch", "--homedir"])
            .arg(home.path())
            .arg("--output")
            .arg(&keyring)
            .arg("--export")
            .output()
            .unwrap();
        assert!(out.status.success(), "gpg --export: {}", String::from_utf8_lossy(&out.stderr));
        Signer { home, keyring }
    }

    fn keyring_bytes(&self) -> Vec<u8> {
        std::fs::read(&self.keyring).unwrap()
    }

    /// `gpg --clearsign` of `input` into `output`.
    fn clearsign(&self, input: &std::path::Path, output: &std::path::Path) {
        let out = std::process::Command::new("gpg")
            .args(["--batch", "--yes", "--homedir"])
            .arg(self.home.path())
            .args(["--passphrase", "", "--pinentry-mode", "loopback", "--clearsign", "--output"])
            .arg(output)
            .arg(input)
            .output()
            .unwrap();
        assert!(out.status.success(), "gpg --clearsign: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Signer {
    fn drop(&mut self) {
        let _ = std::process::Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

const PRODUCTS: &str = "streams/v1/com.ubuntu.maas:stable:v3:download";

/// Signs the mirror as images.maas.io is signed: `index.sjson` beside
/// `index.json` (still naming the products `.json`) and a `.sjson` beside
/// each products file. Then the unsigned `.json` documents are spoiled, so
/// an import that read them (instead of the signed ones) would fail.
fn sign_mirror(m: &Mirror, signer: &Signer) {
    let root = m.dir.path();
    for doc in ["streams/v1/index", PRODUCTS] {
        signer.clearsign(&root.join(format!("{doc}.json")), &root.join(format!("{doc}.sjson")));
        std::fs::write(root.join(format!("{doc}.json")), "not the signed document").unwrap();
    }
}

/// Adds the mirror at `url` with a keyring (`keyring_filename`, or
/// `keyring_data` as a multipart file as python-libmaas sends it), selecting
/// jammy and noble; returns the source id.
async fn add_signed_source(s: &TestServer, admin: &ApiKey, url: &str, keyring: Keyring<'_>) -> i64 {
    let mut form = reqwest::multipart::Form::new().text("url", url.to_string());
    form = match keyring {
        Keyring::File(p) => form.text("keyring_filename", p.to_str().unwrap().to_string()),
        Keyring::Data(d) => form.part("keyring_data", reqwest::multipart::Part::bytes(d).file_name("keyring_data")),
    };
    let r = post_form_as(s.api("boot-sources/"), admin, form).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_i64().unwrap();
    select_jammy_noble(s, admin, id).await;
    id
}

enum Keyring<'a> {
    File(&'a std::path::Path),
    Data(Vec<u8>),
}

/// After a refused source: one failure that says "signature", nothing
/// imported or stored, and the administrators told.
async fn assert_refused(s: &TestServer, admin: &ApiKey, m: &Mirror, why: &str) {
    let report = s.state.importer.last_report().expect("an import ran");
    assert!(report.imported.is_empty() && report.unchanged.is_empty(), "{report:?}");
    assert_eq!(report.failures.len(), 1, "{report:?}");
    assert!(report.failures[0].contains(why), "expected '{why}' in {report:?}");
    assert!(report.failures[0].contains("nothing was imported"), "{report:?}");
    assert_eq!(s.get(Some(admin), "boot-resources/").await.json(), json!([]));
    for (sha, _) in &m.items {
        assert!(!store_file(s, sha).exists(), "no content of a refused source is stored");
    }
    let n = s.get(Some(admin), "notifications/").await.json();
    assert!(
        n.as_array().unwrap().iter().any(|n| n["message"].as_str().unwrap().contains(why)),
        "the admin notification says why: {n}"
    );
}

backend_tests!(signed_mirror_imports_with_its_keyring, |b| async move {
    let m = build_mirror();
    let signer = Signer::new("mirror");
    sign_mirror(&m, &signer);
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    add_signed_source(&s, &admin, &format!("file://{}", m.dir.path().display()), Keyring::File(&signer.keyring)).await;
    import_and_wait(&s, &admin).await;
    // jammy imported from the signed products file; noble still fails on its
    // (signed, but wrong) SHA-256: the signature vouches for the document only.
    assert_imported(&s, &m);
    check_synced_listing(&s, &admin).await;
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_mirror_over_http_with_keyring_data() {
    let m = build_mirror();
    let signer = Signer::new("mirror");
    sign_mirror(&m, &signer);
    let (url, log) = serve_dir(m.dir.path().to_path_buf()).await;
    let s = TestServer::start(Backend::Sqlite);
    let admin = s.user("admin", true).await;
    let id = add_signed_source(&s, &admin, &url, Keyring::Data(signer.keyring_bytes())).await;
    let src = s.get(Some(&admin), &format!("boot-sources/{id}/")).await.json();
    assert_eq!(src["keyring_data"].as_str().unwrap().len() % 4, 0, "base64 of the keyring: {src}");
    assert_eq!(src["skip_keyring_verification"], false);
    import_and_wait(&s, &admin).await;
    assert_imported(&s, &m);
    // Only the signed documents were read: the index's `.json` products path
    // became `.sjson`.
    let paths: Vec<String> = log.lock().unwrap().iter().map(|(p, _)| p.clone()).collect();
    assert!(paths.contains(&"streams/v1/index.sjson".to_string()), "{paths:?}");
    assert!(paths.contains(&format!("{PRODUCTS}.sjson")), "{paths:?}");
    assert!(!paths.iter().any(|p| p.ends_with(".json")), "{paths:?}");
    // The keyring written for gpgv does not outlive the import.
    let images = s.state.config.data_dir.join("images");
    let left: Vec<_> = std::fs::read_dir(&images).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("sha256")], "scratch directories removed");
}

backend_tests!(tampered_products_document_imports_nothing, |b| async move {
    let m = build_mirror();
    let signer = Signer::new("mirror");
    sign_mirror(&m, &signer);
    // Changed after signing, still valid JSON that would import fine.
    let p = m.dir.path().join(format!("{PRODUCTS}.sjson"));
    let signed = std::fs::read_to_string(&p).unwrap();
    assert!(signed.contains(r#""kflavor":"generic""#));
    std::fs::write(&p, signed.replace(r#""kflavor":"generic""#, r#""kflavor":"lowlatency""#)).unwrap();
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    add_signed_source(&s, &admin, &format!("file://{}", m.dir.path().display()), Keyring::File(&signer.keyring)).await;
    import_and_wait(&s, &admin).await;
    assert_refused(&s, &admin, &m, "BAD signature").await;
    let report = s.state.importer.last_report().unwrap();
    assert!(report.failures[0].contains("signature verification failed"), "{report:?}");
    assert!(report.failures[0].contains(&format!("{PRODUCTS}.sjson")), "names the document: {report:?}");
});

backend_tests!(wrong_keyring_or_unsigned_mirror_is_refused, |b| async move {
    let m = build_mirror();
    let signer = Signer::new("mirror");
    let stranger = Signer::new("stranger");
    sign_mirror(&m, &signer);
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let url = format!("file://{}", m.dir.path().display());
    let id = add_signed_source(&s, &admin, &url, Keyring::Data(stranger.keyring_bytes())).await;
    import_and_wait(&s, &admin).await;
    assert_refused(&s, &admin, &m, "No public key").await;

    // The right keyring, but the mirror is not signed at all: refused too,
    // never a fall-back to the unsigned documents.
    for doc in ["streams/v1/index", PRODUCTS] {
        std::fs::remove_file(m.dir.path().join(format!("{doc}.sjson"))).unwrap();
    }
    let r = s.call(Some(&admin), "PUT", &format!("boot-sources/{id}/"), &[("keyring_data", "")]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("One of keyring_data or keyring_filename must be specified."), "{}", r.body);
    let kf = signer.keyring.to_str().unwrap();
    let r = s.call(Some(&admin), "PUT", &format!("boot-sources/{id}/"), &[("keyring_filename", kf)]).await;
    assert_eq!(r.status, 400, "both keyrings: {}", r.body);
    assert!(r.body.contains("Only one of keyring_filename or keyring_data can be specified."), "{}", r.body);
    let r = s
        .call(Some(&admin), "PUT", &format!("boot-sources/{id}/"), &[("keyring_filename", kf), ("keyring_data", "")])
        .await;
    assert_eq!(r.status, 200, "switching to a keyring file in one request: {}", r.body);
    let report = s.state.importer.run_now(&s.state.db, &s.state.images).await.unwrap();
    assert!(report.imported.is_empty(), "{report:?}");
    assert!(report.failures[0].contains("index.sjson"), "{report:?}");

    // An administrator's explicit opt-out reads the unsigned documents.
    build_unsigned_documents_again(&m);
    let r = s.call(Some(&admin), "PUT", &format!("boot-sources/{id}/"), &[("skip_keyring_verification", "true")]).await;
    assert_eq!((r.status, r.json()["skip_keyring_verification"].clone()), (200, json!(true)), "{}", r.body);
    import_and_wait(&s, &admin).await;
    assert_imported(&s, &m);
});

/// Restores the unsigned `.json` documents `sign_mirror` spoiled.
fn build_unsigned_documents_again(m: &Mirror) {
    let fresh = build_mirror();
    for doc in ["streams/v1/index", PRODUCTS] {
        let rel = format!("{doc}.json");
        std::fs::copy(fresh.dir.path().join(&rel), m.dir.path().join(&rel)).unwrap();
    }
}

backend_tests!(boot_source_keyring_rules, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let url = ("url", "http://mirror.example/images/");
    let field_errors = |r: &Resp| -> Value {
        assert_eq!(r.status, 400, "{}", r.body);
        r.json()
    };
    // MAAS's BootSource.clean, word for word.
    let r = s.post(Some(&admin), "boot-sources/", &[url]).await;
    assert_eq!(field_errors(&r), json!({"__all__": ["One of keyring_data or keyring_filename must be specified."]}));
    let r = s.post(Some(&admin), "boot-sources/", &[url, ("skip_keyring_verification", "false")]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let dir = tempfile::tempdir().unwrap();
    let kf = dir.path().join("k.gpg");
    std::fs::write(&kf, [0x98u8, 0x33]).unwrap();
    let kf = kf.to_str().unwrap();
    let r = s.post(Some(&admin), "boot-sources/", &[url, ("keyring_filename", kf), ("keyring_data", "xyz")]).await;
    assert_eq!(
        field_errors(&r),
        json!({"__all__": ["Only one of keyring_filename or keyring_data can be specified."]})
    );

    // keyring_filename must name a readable binary keyring file on the region.
    let missing = dir.path().join("missing.gpg");
    let r = s.post(Some(&admin), "boot-sources/", &[url, ("keyring_filename", missing.to_str().unwrap())]).await;
    let e = field_errors(&r)["keyring_filename"][0].as_str().unwrap().to_string();
    assert!(e.contains("Cannot read the keyring file") && e.contains("missing.gpg"), "{e}");
    let r = s.post(Some(&admin), "boot-sources/", &[url, ("keyring_filename", "k.gpg")]).await;
    assert!(field_errors(&r)["keyring_filename"][0].as_str().unwrap().contains("absolute path"), "{}", r.body);
    let r = s.post(Some(&admin), "boot-sources/", &[url, ("keyring_filename", dir.path().to_str().unwrap())]).await;
    assert!(field_errors(&r)["keyring_filename"][0].as_str().unwrap().contains("not a regular file"), "{}", r.body);
    let armored = dir.path().join("k.asc");
    std::fs::write(&armored, "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ...\n").unwrap();
    let r = s.post(Some(&admin), "boot-sources/", &[url, ("keyring_filename", armored.to_str().unwrap())]).await;
    assert!(field_errors(&r)["keyring_filename"][0].as_str().unwrap().contains("gpg --dearmor"), "{}", r.body);
    let r =
        s.post(Some(&admin), "boot-sources/", &[url, ("keyring_data", "-----BEGIN PGP PUBLIC KEY BLOCK-----")]).await;
    assert!(field_errors(&r)["keyring_data"][0].as_str().unwrap().contains("ASCII-armoured"), "{}", r.body);
    let r = s.post(Some(&admin), "boot-sources/", &[url, ("skip_keyring_verification", "maybe")]).await;
    assert!(field_errors(&r).get("skip_keyring_verification").is_some(), "{}", r.body);
    assert_eq!(s.get(Some(&admin), "boot-sources/").await.json(), json!([]), "nothing was created");

    // The explicit opt-out.
    let r = s.post(Some(&admin), "boot-sources/", &[url, ("skip_keyring_verification", "true")]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["skip_keyring_verification"], true);
    let id = r.json()["id"].as_i64().unwrap();
    // Turning it off again needs a keyring.
    let r =
        s.call(Some(&admin), "PUT", &format!("boot-sources/{id}/"), &[("skip_keyring_verification", "false")]).await;
    assert_eq!(field_errors(&r), json!({"__all__": ["One of keyring_data or keyring_filename must be specified."]}));
    let r = s
        .call(
            Some(&admin),
            "PUT",
            &format!("boot-sources/{id}/"),
            &[("skip_keyring_verification", "false"), ("keyring_filename", kf)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.json()["skip_keyring_verification"].clone(), r.json()["keyring_filename"].clone()),
        (json!(false), json!(kf))
    );
    let r = s
        .call(Some(&admin), "PUT", &format!("boot-sources/{id}/"), &[("keyring_filename", "/nonexistent/k.gpg")])
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(s.get(Some(&admin), &format!("boot-sources/{id}/")).await.json()["keyring_filename"], kf, "unchanged");

    // A source stored before keyrings were required (neither a keyring nor
    // the opt-out) is refused at import with what to do about it.
    let now = chrono::Utc::now().naive_utc();
    let legacy = ironpool_region::db::boot_resources::BootSource {
        id: 0,
        url: "/srv/legacy-mirror".into(),
        keyring_filename: String::new(),
        keyring_data: Vec::new(),
        created_at: now,
        updated_at: now,
        skip_keyring_verification: false,
    };
    let lid =
        s.state.db.write(move |c| ironpool_region::db::boot_resources::source_insert(c, &legacy, now)).await.unwrap();
    select_jammy_noble(&s, &admin, lid).await;
    let report = s.state.importer.run_now(&s.state.db, &s.state.images).await.unwrap();
    let legacy_failure = report.failures.iter().find(|f| f.starts_with("/srv/legacy-mirror")).unwrap();
    assert!(
        legacy_failure.contains("no keyring") && legacy_failure.contains("skip_keyring_verification=true"),
        "{report:?}"
    );
});

// A region that died in the middle of a signature check leaves its gpgv
// scratch directory (possibly holding a copy of a keyring); the next start
// removes it and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftover_gpgv_scratch_is_removed_at_start() {
    let mut s = TestServer::start(Backend::Sqlite);
    let parent = s.state.images.dir().parent().unwrap().to_path_buf();
    let leftover = parent.join("gpgv-crashed");
    std::fs::create_dir_all(&leftover).unwrap();
    std::fs::write(leftover.join("keyring.gpg"), b"key material").unwrap();
    let unrelated = parent.join("keep-me");
    std::fs::create_dir_all(&unrelated).unwrap();
    s.stop().await;
    s.restart();
    assert!(!leftover.exists(), "the leftover scratch directory survived a restart");
    assert!(unrelated.exists(), "only gpgv scratch directories are swept");
}
