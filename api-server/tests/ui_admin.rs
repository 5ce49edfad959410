//! The web UI's administration pages over real HTTP, on SQLite and
//! PostgreSQL: images (boot resources with their progress, boot sources and
//! selections, an import from a local mirror and one that is still running,
//! the upload of a custom image), a domain's DNS records, the users and the
//! controllers' health. Changes made through the forms show in the API;
//! the API's refusals show on the page with its 4xx; a non-admin sees no
//! controls and is refused (403) with the API's words.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::ui::{logged_in, Page, UiClient};
use common::*;
use ironpool_region::engine::image_store::sha256_hex;
use serde_json::{json, Value};

/// The `<tr {attr}="{value}"` row, up to its end.
fn row<'a>(p: &'a Page, attr: &str, value: &str) -> &'a str {
    let at =
        p.body.find(&format!("<tr {attr}=\"{value}\"")).unwrap_or_else(|| panic!("no row {attr}={value}: {}", p.body));
    let rest = &p.body[at..];
    &rest[..rest.find("</tr>").unwrap()]
}

fn has_row(p: &Page, attr: &str, value: &str) -> bool {
    p.body.contains(&format!("<tr {attr}=\"{value}\""))
}

/// POSTs a multipart form (the upload form's encoding) with the UI's
/// session cookie, as a browser submits it.
async fn post_multipart(ui: &UiClient, path: &str, fields: &[(&str, &str)], file: Option<(&str, Vec<u8>)>) -> Page {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    if let Some((name, data)) = file {
        form = form.part("content", reqwest::multipart::Part::bytes(data).file_name(name.to_string()));
    }
    let cookie = ui.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}{path}", ui.origin))
        .header("cookie", cookie)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let content_type = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    Page { status, location: None, set_cookies: Vec::new(), content_type, body: r.text().await.unwrap() }
}

/// A GET that also returns the `Refresh` header.
async fn get_with_refresh(ui: &UiClient, path: &str) -> (u16, Option<String>, String) {
    let cookie = ui.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
    let r = reqwest::Client::new().get(format!("{}{path}", ui.origin)).header("cookie", cookie).send().await.unwrap();
    let refresh = r.headers().get("refresh").map(|v| v.to_str().unwrap().to_string());
    (r.status().as_u16(), refresh, r.text().await.unwrap())
}

fn payload(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

async fn wait_import(s: &TestServer, admin: &ApiKey) {
    for _ in 0..600 {
        if s.get(Some(admin), "boot-resources/?op=is_importing").await.json() == json!(false) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("import never finished");
}

// ---------------------------------------------------------------- images

/// An upload of `custom/bad` with this file type and architecture.
async fn bad_upload(ui: &UiClient, csrf: &str, filetype: &str, arch: &str) -> Page {
    post_multipart(
        ui,
        "/MAAS/r/images/upload",
        &[("csrfmiddlewaretoken", csrf), ("name", "custom/bad"), ("architecture", arch), ("filetype", filetype)],
        Some(("x.tgz", payload(4, 100))),
    )
    .await
}

backend_tests!(images_list_upload_delete, |b| async move {
    let s = TestServer::start(b);
    let (admin, mut ui) = logged_in(&s, "admin", true).await;

    // What the API uploaded: complete; a chunked upload half-way: its progress.
    let r = upload_boot_resource(
        &s,
        &admin,
        &[("name", "custom/api-img"), ("architecture", "amd64/generic"), ("title", "From the API")],
        Some(payload(1, 2000)),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let half = payload(2, 4000);
    let r = upload_boot_resource(
        &s,
        &admin,
        &[
            ("name", "custom/half"),
            ("architecture", "arm64/generic"),
            ("filetype", "ddraw"),
            ("sha256", &sha256_hex(&half)),
            ("size", "4000"),
        ],
        None,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let sets = r.json()["sets"].clone();
    let file = sets.as_object().unwrap().values().next().unwrap()["files"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    let uri = file["upload_uri"].as_str().unwrap().to_string();
    let r = read(
        client()
            .put(format!("{}{uri}", s.origin))
            .header("authorization", admin.plaintext())
            .header("content-type", "application/octet-stream")
            .body(half[..2000].to_vec())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let p = ui.get("/MAAS/r/images").await;
    assert_eq!(p.status, 200, "{}", p.body);
    let api = row(&p, "data-resource", "custom/api-img amd64/generic");
    assert!(api.contains("Uploaded") && api.contains("Complete") && api.contains("2.0 KB"), "{api}");
    assert!(api.contains("From the API"), "{api}");
    let h = row(&p, "data-resource", "custom/half arm64/generic");
    assert!(h.contains("Uploading 50% (2.0 KB of 4.0 KB)"), "{h}");
    assert!(p.body.contains("No import is running."), "{}", p.body);
    assert!(p.body.contains("action=\"/MAAS/r/images/upload\"") && p.body.contains("enctype=\"multipart/form-data\""));
    let csrf = p.csrf();

    // An upload through the form: the API's create stores it.
    let data = payload(3, 3000);
    let r = post_multipart(
        &ui,
        "/MAAS/r/images/upload",
        &[
            ("csrfmiddlewaretoken", &csrf),
            ("name", "custom/ui-img"),
            ("title", "Uploaded in the UI"),
            ("architecture", "amd64/generic"),
            ("filetype", "ddraw"),
            ("base_image", ""),
        ],
        Some(("disk.img", data.clone())),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Uploaded custom/ui-img (amd64/generic)."), "{}", r.body);
    assert!(row(&r, "data-resource", "custom/ui-img amd64/generic").contains("Complete"));
    let list = s.get(Some(&admin), "boot-resources/").await.json();
    let ui_img = list.as_array().unwrap().iter().find(|x| x["name"] == "custom/ui-img").expect("uploaded").clone();
    assert_eq!((ui_img["type"].as_str(), ui_img["title"].as_str()), (Some("Uploaded"), Some("Uploaded in the UI")));
    let id = ui_img["id"].as_i64().unwrap();
    let d = s.get(Some(&admin), &format!("boot-resources/{id}/")).await.json();
    let f = d["sets"].as_object().unwrap().values().next().unwrap()["files"]["root-dd.raw"].clone();
    assert_eq!((f["sha256"].as_str(), f["complete"].as_bool()), (Some(sha256_hex(&data).as_str()), Some(true)));

    // The API's refusals, with its words and 400; what was typed is kept.
    let r = bad_upload(&ui, &csrf, "zip", "amd64/generic").await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.says("filetype: 'zip' is not a valid filetype: use one of tgz"), "{}", r.body);
    assert!(r.body.contains("value=\"custom/bad\""), "the typed name is kept");
    let r = bad_upload(&ui, &csrf, "tgz", "sparc/generic").await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.says("architecture: 'sparc/generic' is not a valid architecture"), "{}", r.body);
    // No file chosen: the API's words about missing content.
    let r = post_multipart(
        &ui,
        "/MAAS/r/images/upload",
        &[("csrfmiddlewaretoken", &csrf), ("name", "custom/empty"), ("architecture", "amd64/generic")],
        Some(("", Vec::new())),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.says("sha256: Required when no content is uploaded."), "{}", r.body);
    // A duplicate: the API's 409 words, in the form.
    let r = post_multipart(
        &ui,
        "/MAAS/r/images/upload",
        &[("csrfmiddlewaretoken", &csrf), ("name", "custom/ui-img"), ("architecture", "amd64/generic")],
        Some(("again.tgz", payload(5, 10))),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.says("already exists; delete it first."), "{}", r.body);
    // Without the CSRF token: 403, nothing made.
    let r = post_multipart(
        &ui,
        "/MAAS/r/images/upload",
        &[("name", "custom/forged"), ("architecture", "amd64/generic")],
        Some(("f.tgz", payload(6, 10))),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("CSRF verification failed."), "{}", r.body);
    let names: Vec<Value> = s
        .get(Some(&admin), "boot-resources/")
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].clone())
        .collect();
    assert!(!names.contains(&json!("custom/bad")) && !names.contains(&json!("custom/forged")), "{names:?}");
    assert!(!names.contains(&json!("custom/empty")), "{names:?}");
    // Nothing is left in the spool by refused uploads.
    let spool = s.state.config.data_dir.join("spool");
    let left = std::fs::read_dir(&spool).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "spool files left behind in {}", spool.display());

    // Delete: a confirmation, then gone.
    let r = ui.post("/MAAS/r/images/delete", &[("key", &id.to_string()), ("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Delete image custom/ui-img (amd64/generic)?"), "{}", r.body);
    assert_eq!(s.get(Some(&admin), &format!("boot-resources/{id}/")).await.status, 200);
    let r = ui
        .post("/MAAS/r/images/delete", &[("key", &id.to_string()), ("confirm", "1"), ("csrfmiddlewaretoken", &csrf)])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!has_row(&r, "data-resource", "custom/ui-img amd64/generic"));
    assert_eq!(s.get(Some(&admin), &format!("boot-resources/{id}/")).await.status, 404);
    // Gone meanwhile: the API's 404 words at the top of the page.
    let r = ui
        .post("/MAAS/r/images/delete", &[("key", &id.to_string()), ("confirm", "1"), ("csrfmiddlewaretoken", &csrf)])
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("No BootResource matches the given query."), "{}", r.body);

    // A non-admin: the list, read-only; no sources, no forms; POSTs are 403.
    let (_, mut bob) = logged_in(&s, "bob", false).await;
    let p = bob.get("/MAAS/r/images").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(has_row(&p, "data-resource", "custom/api-img amd64/generic"));
    for needle in
        ["/MAAS/r/images/upload", "/MAAS/r/images/import", "/MAAS/r/images/delete", "/MAAS/r/images/source-create"]
    {
        assert!(!p.body.contains(needle), "a non-admin is offered {needle}");
    }
    assert!(!p.body.contains("id=\"sources\""));
    let c = p.csrf();
    let r = post_multipart(
        &bob,
        "/MAAS/r/images/upload",
        &[("csrfmiddlewaretoken", &c), ("name", "custom/bobs"), ("architecture", "amd64/generic")],
        Some(("b.tgz", payload(7, 10))),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("administrators only"), "{}", r.body);
    for path in ["/MAAS/r/images/import", "/MAAS/r/images/stop-import", "/MAAS/r/images/delete"] {
        let r = bob.post(path, &[("key", "1"), ("confirm", "1"), ("csrfmiddlewaretoken", &c)]).await;
        assert_eq!(r.status, 403, "{path}: {}", r.body);
        assert!(r.body.contains("administrators only"), "{}", r.body);
    }
    assert!(s
        .get(Some(&admin), "boot-resources/")
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["name"] != "custom/bobs"));
    assert_eq!(ui.get("/MAAS/r/images/upload").await.status, 405);
});

/// A one-product simplestreams mirror on disk: ubuntu/jammy amd64 with a
/// kernel and an initrd.
fn tiny_mirror() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("streams/v1")).unwrap();
    let mut items = serde_json::Map::new();
    for (j, ftype) in ["boot-kernel", "boot-initrd"].iter().enumerate() {
        let data = payload(10 + j as u8, 1500 + 500 * j);
        let rel = format!("jammy/amd64/20240501/{ftype}");
        std::fs::create_dir_all(root.join(&rel).parent().unwrap()).unwrap();
        std::fs::write(root.join(&rel), &data).unwrap();
        items.insert(
            ftype.to_string(),
            json!({"ftype": ftype, "path": rel, "sha256": sha256_hex(&data), "size": data.len()}),
        );
    }
    let products = json!({"com.ubuntu.maas.stable:v3:boot:22.04:amd64:ga-22.04": {
        "os": "ubuntu", "release": "jammy", "arch": "amd64", "subarch": "ga-22.04", "release_title": "22.04 LTS",
        "label": "stable", "versions": {"20240501": {"items": items}}}});
    let doc = json!({"content_id": "com.ubuntu.maas:stable:v3:download", "datatype": "image-downloads",
                     "format": "products:1.0", "products": products});
    std::fs::write(root.join("streams/v1/download.json"), doc.to_string()).unwrap();
    let index = json!({"format": "index:1.0", "index": {"com.ubuntu.maas:stable:v3:download": {
        "datatype": "image-downloads", "path": "streams/v1/download.json", "format": "products:1.0", "products": []}}});
    std::fs::write(root.join("streams/v1/index.json"), index.to_string()).unwrap();
    dir
}

backend_tests!(images_sources_selections_and_import, |b| async move {
    let s = TestServer::start(b);
    let (admin, mut ui) = logged_in(&s, "admin", true).await;
    let mirror = tiny_mirror();
    let url = format!("file://{}", mirror.path().display());
    let p = ui.get("/MAAS/r/images").await;
    assert!(p.body.contains("No boot sources"), "{}", p.body);
    let csrf = p.csrf();

    // A boot source through the form; a bad URL or a missing keyring: the API's words.
    let r = ui.post("/MAAS/r/images/source-create", &[("url", "gopher://x"), ("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.says("url: 'gopher://x' is not a valid URL"), "{}", r.body);
    assert!(r.body.contains("<details id=\"add-source\" open>"), "the form opens again");
    let r = ui.post("/MAAS/r/images/source-create", &[("url", &url), ("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.says("One of keyring_data or keyring_filename must be specified."), "{}", r.body);
    let r = ui
        .post(
            "/MAAS/r/images/source-create",
            &[("url", &url), ("skip_keyring_verification", "true"), ("csrfmiddlewaretoken", &csrf)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sources = s.get(Some(&admin), "boot-sources/").await.json();
    assert_eq!(
        (sources[0]["url"].as_str(), sources[0]["skip_keyring_verification"].as_bool()),
        (Some(url.as_str()), Some(true))
    );
    let src = sources[0]["id"].as_i64().unwrap().to_string();
    assert!(r.body.contains("not verified (skip_keyring_verification)"), "{}", r.body);

    // A selection: the API checks it.
    let r = ui
        .post(
            "/MAAS/r/images/selection-create",
            &[("key", &src), ("os", "ubuntu"), ("release", "bad release!"), ("csrfmiddlewaretoken", &csrf)],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.says("'bad release!' is not a valid os or release name."), "{}", r.body);
    let r = ui
        .post(
            "/MAAS/r/images/selection-create",
            &[
                ("key", &src),
                ("os", "ubuntu"),
                ("release", "jammy"),
                ("arches", "amd64"),
                ("csrfmiddlewaretoken", &csrf),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(has_row(&r, "data-selection", "ubuntu/jammy"), "{}", r.body);
    let sels = s.get(Some(&admin), &format!("boot-sources/{src}/selections/")).await.json();
    assert_eq!((sels[0]["release"].as_str(), sels[0]["arches"].clone()), (Some("jammy"), json!(["amd64"])));

    // Import: the API's op; the page then lists what came in and what the import did.
    let r = ui.post("/MAAS/r/images/import", &[("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Import of boot resources started."), "{}", r.body);
    wait_import(&s, &admin).await;
    let (status, refresh, body) = get_with_refresh(&ui, "/MAAS/r/images").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(refresh, None, "an idle page does not reload itself");
    assert!(body.contains("<tr data-resource=\"ubuntu/jammy amd64/ga-22.04\""), "{body}");
    let jammy = &body[body.find("<tr data-resource=\"ubuntu/jammy amd64/ga-22.04\"").unwrap()..];
    let jammy = &jammy[..jammy.find("</tr>").unwrap()];
    assert!(jammy.contains("Synced") && jammy.contains("20240501") && jammy.contains("Complete"), "{jammy}");
    assert!(body.contains("ubuntu/jammy amd64/ga-22.04 20240501"), "the last import's report: {body}");

    // Deleting the selection: a confirmation, then the API deletes it.
    let sel = sels[0]["id"].as_i64().unwrap();
    let key = format!("{src}/{sel}");
    let r = ui.post("/MAAS/r/images/selection-delete", &[("key", &key), ("csrfmiddlewaretoken", &csrf)]).await;
    assert!(r.body.contains("Delete selection ubuntu/jammy?"), "{}", r.body);
    let r = ui
        .post("/MAAS/r/images/selection-delete", &[("key", &key), ("confirm", "1"), ("csrfmiddlewaretoken", &csrf)])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.get(Some(&admin), &format!("boot-sources/{src}/selections/")).await.json(), json!([]));
    // And the source.
    let r = ui
        .post("/MAAS/r/images/source-delete", &[("key", &src), ("confirm", "1"), ("csrfmiddlewaretoken", &csrf)])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.get(Some(&admin), "boot-sources/").await.json(), json!([]));
    // Without the CSRF token: 403.
    let r = ui.post("/MAAS/r/images/source-create", &[("url", &url), ("skip_keyring_verification", "true")]).await;
    assert_eq!(r.status, 403);
    assert_eq!(s.get(Some(&admin), "boot-sources/").await.json(), json!([]));
});

/// An HTTP "mirror" that accepts connections and never answers, until
/// released: an import from it stays running.
struct StalledMirror {
    url: String,
    held: Arc<Mutex<Vec<tokio::net::TcpStream>>>,
    task: tokio::task::JoinHandle<()>,
}

impl StalledMirror {
    async fn start() -> StalledMirror {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let held: Arc<Mutex<Vec<tokio::net::TcpStream>>> = Default::default();
        let h = held.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                h.lock().unwrap().push(sock);
            }
        });
        StalledMirror { url, held, task }
    }

    /// Closes every connection and the listener: the import fails and ends.
    fn release(&self) {
        self.task.abort();
        self.held.lock().unwrap().clear();
    }
}

backend_tests!(images_import_in_progress_refreshes_and_stops, |b| async move {
    let s = TestServer::start(b);
    let (admin, mut ui) = logged_in(&s, "admin", true).await;
    let mirror = StalledMirror::start().await;
    let r = s.post(Some(&admin), "boot-sources/", &[("url", &mirror.url), ("skip_keyring_verification", "true")]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let src = r.json()["id"].as_i64().unwrap();
    let r = s
        .post(Some(&admin), &format!("boot-sources/{src}/selections/"), &[("os", "ubuntu"), ("release", "noble")])
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let csrf = ui.get("/MAAS/r/images").await.csrf();

    let r = ui.post("/MAAS/r/images/import", &[("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // While it runs, the page says so, offers to stop it and reloads itself.
    let (status, refresh, body) = get_with_refresh(&ui, "/MAAS/r/images").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(refresh.as_deref(), Some("5; url=/MAAS/r/images"));
    assert!(body.contains("Importing images from the boot sources."), "{body}");
    assert!(
        body.contains("action=\"/MAAS/r/images/stop-import\"") && !body.contains("action=\"/MAAS/r/images/import\"")
    );
    assert_eq!(s.get(Some(&admin), "boot-resources/?op=is_importing").await.json(), json!(true));
    // A non-admin sees it running too, without the button.
    let (_, bob) = logged_in(&s, "bob", false).await;
    let (_, refresh, body) = get_with_refresh(&bob, "/MAAS/r/images").await;
    assert!(refresh.is_some() && body.contains("Importing images") && !body.contains("stop-import"), "{body}");

    let r = ui.post("/MAAS/r/images/stop-import", &[("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Import of boot resources is being stopped."), "{}", r.body);
    // The mirror goes away: the import ends with a failure in its report.
    mirror.release();
    wait_import(&s, &admin).await;
    let (_, refresh, body) = get_with_refresh(&ui, "/MAAS/r/images").await;
    assert_eq!(refresh, None);
    assert!(body.contains("No import is running.") && body.contains("Last import"), "{body}");
    assert!(body.contains(&format!("{}: ", mirror.url)) && body.contains("class=\"error\""), "{body}");
});

// ---------------------------------------------------------------- domains and records

/// Adds a record through the domain page's form: [name, type, data, TTL].
async fn add_record(ui: &mut UiClient, base: &str, csrf: &str, f: [&str; 4]) -> Page {
    ui.post(
        &format!("{base}/record-create"),
        &[("name", f[0]), ("rrtype", f[1]), ("rrdata", f[2]), ("ttl", f[3]), ("csrfmiddlewaretoken", csrf)],
    )
    .await
}

backend_tests!(domain_records_add_edit_delete, |b| async move {
    let s = TestServer::start(b);
    let (admin, mut ui) = logged_in(&s, "admin", true).await;
    let r = s.post(Some(&admin), "domains/", &[("name", "example.com")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let did = r.json()["id"].as_i64().unwrap();
    let r = s.post(Some(&admin), "dnsresources/", &[("fqdn", "www.example.com"), ("ip_addresses", "10.1.2.3")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let base = format!("/MAAS/r/domain/{did}");

    // The list links to the domain's page, which shows the address.
    let p = ui.get("/MAAS/r/domains").await;
    assert!(p.body.contains(&format!("href=\"{base}\"")), "{}", p.body);
    let p = ui.get(&base).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("<h1>Domain example.com"), "{}", p.body);
    assert!(has_row(&p, "data-record", "www A 10.1.2.3"), "{}", p.body);
    let csrf = p.csrf();
    let r = add_record(&mut ui, &base, &csrf, ["mail", "MX", "10 mx.example.com", "300"]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Added MX record mail."), "{}", r.body);
    assert!(has_row(&r, "data-record", "mail MX 10 mx.example.com"), "{}", r.body);
    let r = add_record(&mut ui, &base, &csrf, ["bad", "A", "10.0.0.300", ""]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.says("rrdata: Invalid A data '10.0.0.300': expected an IPv4 address."), "{}", r.body);
    assert!(r.body.contains("value=\"10.0.0.300\""), "what was typed is kept");
    let r = add_record(&mut ui, &base, &csrf, ["api", "A", "10.0.0.5", ""]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // A CNAME beside it: the engine's rule, its words.
    let r = add_record(&mut ui, &base, &csrf, ["api", "CNAME", "www.example.com", ""]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.says("CNAME records for a name cannot coexist with other records or addresses."), "{}", r.body);
    let list = s.get(Some(&admin), "dnsresourcerecords/?domain=example.com").await.json();
    let mx = list.as_array().unwrap().iter().find(|x| x["rrtype"] == "MX").unwrap().clone();
    assert_eq!(
        (mx["fqdn"].as_str(), mx["rrdata"].as_str(), mx["ttl"].as_i64()),
        (Some("mail.example.com"), Some("10 mx.example.com"), Some(300))
    );
    assert!(list.as_array().unwrap().iter().all(|x| x["rrdata"] != "10.0.0.300"));
    let mx_key = format!("r{}", mx["id"]);

    // Edit: new data, the TTL cleared (the domain's applies).
    let r = ui
        .post(
            &format!("{base}/record-edit"),
            &[
                ("key", &mx_key),
                ("name", "mail"),
                ("rrtype", "MX"),
                ("rrdata", "20 mx2.example.com"),
                ("ttl", ""),
                ("csrfmiddlewaretoken", &csrf),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mx = s.get(Some(&admin), &format!("dnsresourcerecords/{}/", mx["id"])).await.json();
    assert_eq!((mx["rrdata"].as_str(), mx["ttl"].clone()), (Some("20 mx2.example.com"), Value::Null));
    // A bad edit: the engine's words in that row's form, opened.
    let r = ui
        .post(
            &format!("{base}/record-edit"),
            &[
                ("key", &mx_key),
                ("name", "mail"),
                ("rrtype", "MX"),
                ("rrdata", "mx-without-preference"),
                ("ttl", ""),
                ("csrfmiddlewaretoken", &csrf),
            ],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.says("Invalid MX data 'mx-without-preference'"), "{}", r.body);
    assert!(row(&r, "data-record", "mail MX 20 mx2.example.com").contains("<details open>"));

    // Delete a record: a confirmation, then gone.
    let r = ui.post(&format!("{base}/record-delete"), &[("key", &mx_key), ("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Delete MX record mail → 20 mx2.example.com?"), "{}", r.body);
    let r = ui
        .post(&format!("{base}/record-delete"), &[("key", &mx_key), ("confirm", "1"), ("csrfmiddlewaretoken", &csrf)])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.get(Some(&admin), &format!("dnsresourcerecords/{}/", mx["id"])).await.status, 404);
    // Delete an address: the name goes with its last address.
    let p = ui.get(&base).await;
    let www = row(&p, "data-record", "www A 10.1.2.3");
    let key = www.split("name=\"key\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    assert!(key.starts_with('a'), "{key}");
    let r = ui
        .post(&format!("{base}/record-delete"), &[("key", &key), ("confirm", "1"), ("csrfmiddlewaretoken", &csrf)])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!has_row(&r, "data-record", "www A 10.1.2.3"));
    let names = s.get(Some(&admin), "dnsresources/?domain=example.com").await.json();
    assert!(names.as_array().unwrap().iter().all(|x| x["fqdn"] != "www.example.com"), "{names}");

    // The domain: edited from its page (a bad name is refused), and from the list; made the default.
    let r = ui
        .post(
            &format!("{base}/edit"),
            &[("name", "bad name!"), ("authoritative", "true"), ("csrfmiddlewaretoken", &csrf)],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.says("Invalid domain name 'bad name!'."), "{}", r.body);
    assert!(r.body.contains("<details id=\"edit\" open>"), "{}", r.body);
    let r = ui
        .post(&format!("{base}/edit"), &[("name", "example.org"), ("ttl", "120"), ("csrfmiddlewaretoken", &csrf)])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = s.get(Some(&admin), &format!("domains/{did}/")).await.json();
    assert_eq!(
        (d["name"].as_str(), d["ttl"].as_i64(), d["authoritative"].as_bool()),
        (Some("example.org"), Some(120), Some(false))
    );
    let r = ui
        .post(
            "/MAAS/r/domains/edit",
            &[
                ("key", &did.to_string()),
                ("name", "example.net"),
                ("authoritative", "true"),
                ("ttl", ""),
                ("csrfmiddlewaretoken", &csrf),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = s.get(Some(&admin), &format!("domains/{did}/")).await.json();
    assert_eq!(
        (d["name"].as_str(), d["ttl"].clone(), d["authoritative"].as_bool()),
        (Some("example.net"), Value::Null, Some(true))
    );
    let r = ui.post("/MAAS/r/domains/set-default", &[("key", &did.to_string()), ("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.get(Some(&admin), &format!("domains/{did}/")).await.json()["is_default"], true);
    assert_eq!(s.get(Some(&admin), "domains/0/").await.json()["is_default"], false);

    // CSRF missing: 403, nothing added.
    let r = ui.post(&format!("{base}/record-create"), &[("name", "forged"), ("rrtype", "TXT"), ("rrdata", "x")]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    // A non-admin: the records, no forms, 403 on a POST.
    let (_, mut bob) = logged_in(&s, "bob", false).await;
    let p = bob.get(&base).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(has_row(&p, "data-record", "api A 10.0.0.5"), "{}", p.body);
    assert!(!p.body.contains("record-create") && !p.body.contains("record-delete") && !p.body.contains("/edit\""));
    let c = p.csrf();
    let r = bob
        .post(
            &format!("{base}/record-create"),
            &[("name", "bobs"), ("rrtype", "TXT"), ("rrdata", "x"), ("csrfmiddlewaretoken", &c)],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("administrators only"), "{}", r.body);
    let all = s.get(Some(&admin), "dnsresourcerecords/").await.json();
    assert!(all.as_array().unwrap().iter().all(|x| x["rrdata"] != "x"), "{all}");
    // An unknown domain is a 404 page.
    assert_eq!(ui.get("/MAAS/r/domain/9999").await.status, 404);
    assert_eq!(ui.get("/MAAS/r/domain/abc").await.status, 404);
});

// ---------------------------------------------------------------- users

backend_tests!(users_add_edit_delete, |b| async move {
    let s = TestServer::start(b);
    let (admin, mut ui) = logged_in(&s, "admin", true).await;
    let (alice, _) = logged_in(&s, "alice", false).await;
    s.user("carol", false).await;
    let m = ready_machine(&s, &admin, "a-1", 2, 2048).await;
    let r = s.post(Some(&alice), "machines/?op=allocate", &[("system_id", &m)]).await;
    assert_eq!(r.status, 200, "{}", r.body);

    let p = ui.get("/MAAS/r/settings/users").await;
    assert_eq!(p.status, 200, "{}", p.body);
    let a = row(&p, "data-name", "alice");
    assert!(a.contains("alice@example.com") && a.contains("<td>User</td>") && a.contains("<td>Active</td>"), "{a}");
    assert!(a.contains("owner%3Aalice\">1</a>"), "alice owns one machine: {a}");
    assert!(!a.contains("never"), "alice logged in: {a}");
    assert!(row(&p, "data-name", "carol").contains("never"));
    assert!(row(&p, "data-name", "admin").contains("Administrator"));
    assert!(p.body.contains("href=\"/MAAS/r/settings/users\""), "the settings tabs");
    let csrf = p.csrf();

    // Add: shows in the API; the API's refusals with the typed values (never the password).
    let r = ui
        .post(
            "/MAAS/r/settings/users/create",
            &[
                ("username", "dave"),
                ("email", "dave@example.com"),
                ("password", "s3cret-pass"),
                ("is_superuser", "true"),
                ("csrfmiddlewaretoken", &csrf),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Added user dave."), "{}", r.body);
    let dave = s.get(Some(&admin), "users/dave/").await.json();
    assert_eq!((dave["email"].as_str(), dave["is_superuser"].as_bool()), (Some("dave@example.com"), Some(true)));
    let mut d = UiClient::new(&s.origin);
    d.login("dave", "s3cret-pass").await;
    let r = ui
        .post(
            "/MAAS/r/settings/users/create",
            &[
                ("username", "dave"),
                ("email", "d2@example.com"),
                ("password", "another-pass"),
                ("csrfmiddlewaretoken", &csrf),
            ],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.says("A user with that username already exists."), "{}", r.body);
    assert!(r.body.contains("value=\"d2@example.com\"") && !r.body.contains("another-pass"), "{}", r.body);

    // Edit: deactivate carol; an administrator cannot deactivate themself.
    let r = ui.post("/MAAS/r/settings/users/edit", &[("key", "carol"), ("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(row(&r, "data-name", "carol").contains("<td>Deactivated</td>"));
    let carol = s.state.db.run(|c| ironpool_region::db::users::by_username(c, "carol")).await.unwrap().unwrap();
    assert!(!carol.is_active);
    let r = ui.post("/MAAS/r/settings/users/edit", &[("key", "admin"), ("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.says("An administrator cannot deactivate their own account."), "{}", r.body);
    assert!(row(&r, "data-name", "admin").contains("<details open>"));
    let r = ui
        .post("/MAAS/r/settings/users/edit", &[("key", "carol"), ("is_active", "true"), ("csrfmiddlewaretoken", &csrf)])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(row(&r, "data-name", "carol").contains("<td>Active</td>"));

    // Delete: yourself is refused with the API's words.
    let r = ui.post("/MAAS/r/settings/users/delete", &[("key", "admin"), ("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Delete user admin?"), "{}", r.body);
    let r = ui
        .post("/MAAS/r/settings/users/delete", &[("key", "admin"), ("confirm", "1"), ("csrfmiddlewaretoken", &csrf)])
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.says("An administrator cannot self-delete."), "{}", r.body);
    // A user with a machine: refused, then deleted with its machine given to admin.
    let r = ui.post("/MAAS/r/settings/users/delete", &[("key", "alice"), ("csrfmiddlewaretoken", &csrf)]).await;
    assert!(
        r.body.contains("They own 1 machine(s).") && r.body.contains("name=\"transfer_resources_to\""),
        "{}",
        r.body
    );
    let r = ui
        .post(
            "/MAAS/r/settings/users/delete",
            &[("key", "alice"), ("confirm", "1"), ("transfer_resources_to", ""), ("csrfmiddlewaretoken", &csrf)],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.says("User alice cannot be deleted: 1 node(s) are still allocated"), "{}", r.body);
    let r = ui
        .post(
            "/MAAS/r/settings/users/delete",
            &[("key", "alice"), ("confirm", "1"), ("transfer_resources_to", "admin"), ("csrfmiddlewaretoken", &csrf)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!has_row(&r, "data-name", "alice"));
    assert!(row(&r, "data-name", "admin").contains("owner%3Aadmin\">1</a>"));
    assert_eq!(s.get(Some(&admin), "users/alice/").await.status, 404);
    assert_eq!(machine(&s, &admin, &m).await["owner"], "admin");
    // CSRF missing: 403.
    let r = ui.post("/MAAS/r/settings/users/delete", &[("key", "carol"), ("confirm", "1")]).await;
    assert_eq!(r.status, 403);
    assert_eq!(s.get(Some(&admin), "users/carol/").await.status, 200);

    // A non-admin: 403 with the API's words, on the page and on every POST; no tab.
    let (_, mut bob) = logged_in(&s, "bob", false).await;
    let p = bob.get("/MAAS/r/settings/users").await;
    assert_eq!(p.status, 403, "{}", p.body);
    assert!(p.body.contains("administrators only") && !p.body.contains("carol@example.com"), "{}", p.body);
    let settings = bob.get("/MAAS/r/settings").await;
    assert!(!settings.body.contains("/MAAS/r/settings/users"));
    let c = settings.csrf();
    for (path, form) in [
        (
            "/MAAS/r/settings/users/create",
            vec![
                ("username", "eve"),
                ("email", "e@x.org"),
                ("password", "pw-eve-123"),
                ("csrfmiddlewaretoken", c.as_str()),
            ],
        ),
        ("/MAAS/r/settings/users/edit", vec![("key", "carol"), ("csrfmiddlewaretoken", c.as_str())]),
        (
            "/MAAS/r/settings/users/delete",
            vec![("key", "carol"), ("confirm", "1"), ("csrfmiddlewaretoken", c.as_str())],
        ),
    ] {
        let r = bob.post(path, &form).await;
        assert_eq!(r.status, 403, "{path}: {}", r.body);
        assert!(r.body.contains("administrators only"), "{}", r.body);
    }
    assert_eq!(s.get(Some(&admin), "users/eve/").await.status, 404);
    assert_eq!(s.get(Some(&admin), "users/carol/").await.status, 200);
});

// ---------------------------------------------------------------- controllers

backend_tests!(controllers_show_rack_health, |b| async move {
    use ironpool_common::rack_link::RegisterRequest;
    let s = TestServer::start(b);
    let (_, mut ui) = logged_in(&s, "admin", true).await;
    let services = r#"[{"name":"rackd","status":"running","status_info":""},{"name":"dhcpd","status":"dead","status_info":"no interface"},{"name":"tftp","status":"running","status_info":"on :69"}]"#;
    let sid = s
        .state
        .db
        .write(move |c| {
            let req = RegisterRequest {
                system_id: None,
                hostname: "rack-one".into(),
                version: "ironpool-test-1.2".into(),
                interfaces: Vec::new(),
            };
            let resp = ironpool_region::engine::racks::register(c, &req, None)?;
            let n = ironpool_region::db::nodes::by_system_id(c, &resp.system_id)?.unwrap();
            ironpool_region::db::racks::touch(c, n.id, services, chrono::Utc::now().naive_utc())?;
            Ok(resp.system_id)
        })
        .await
        .unwrap();

    let p = ui.get("/MAAS/r/controllers").await;
    assert_eq!(p.status, 200, "{}", p.body);
    let rack = row(&p, "data-sid", &sid);
    assert!(rack.contains("<td>Rack controller</td>") && rack.contains("ironpool-test-1.2"), "{rack}");
    assert!(rack.contains("Rack connected") && rack.contains("last sync"), "{rack}");
    assert!(rack.contains("s ago"), "{rack}");
    assert!(rack.contains("data-service=\"dhcpd\"") && rack.contains("no interface"), "{rack}");
    assert!(rack.contains("st-failed\">dhcpd</span> dead"), "{rack}");
    assert!(p.body.contains("Region running"), "the region's own heartbeat: {}", p.body);
    assert!(p.body.contains("data-service=\"regiond\""), "the region's own services: {}", p.body);

    // Silent for ten minutes: disconnected, and when it was last seen.
    let sid2 = sid.clone();
    s.state
        .db
        .write(move |c| {
            let n = ironpool_region::db::nodes::by_system_id(c, &sid2)?.unwrap();
            let then = chrono::Utc::now().naive_utc() - chrono::Duration::minutes(10);
            ironpool_region::db::racks::touch(c, n.id, "[]", then)
        })
        .await
        .unwrap();
    let (_, mut bob) = logged_in(&s, "bob", false).await;
    let p = bob.get("/MAAS/r/controllers").await;
    assert_eq!(p.status, 200, "{}", p.body);
    let rack = row(&p, "data-sid", &sid);
    assert!(
        rack.contains("Rack disconnected") && rack.contains("10 min ago") && rack.contains("none reported"),
        "{rack}"
    );
    assert!(!p.body.contains("method=\"post\" action=\"/MAAS/r/controllers"));
});
