//! The web UI in a real browser: headless Chromium (Debian's `chromium`)
//! driven over WebDriver (`chromedriver`), against a real region with
//! simulated machines (virtual BMCs and the real agent library), on SQLite
//! and PostgreSQL. One scenario per backend: log in, search, bulk-commission
//! two machines and watch them reach Ready without a reload, deploy one with
//! user data and watch it reach Deployed, release it with a quick erase and
//! watch it come back to Ready, read a machine page, be refused without a
//! CSRF token, upload an SSH key, generate an API key (shown once) and call
//! the API with it, see only what a non-admin may see, log out. A second,
//! shorter scenario drives the zones, tags and settings forms (add, edit in
//! the folded row form, delete after confirmation, an engine refusal shown
//! in the form). A third adds a subnet and a reserved range through the
//! networks and subnet pages. A fourth checks every page's accessibility
//! basics and the keyboard's way into a page. A failing run leaves a
//! screenshot in `target/test-artifacts/` (or `$IRONPOOL_TEST_ARTIFACTS`).
//! With `UPDATE_SCREENSHOTS=1` the SQLite run also refreshes the PNGs
//! `docs/ui.md` shows.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::webdriver::{doc_shot, Browser};
use common::*;

/// Long enough for a simulated commissioning on a loaded CI machine; the
/// tests wait for outcomes, this only bounds a broken run.
const LIFECYCLE: Duration = Duration::from_secs(180);

async fn wait_status(s: &TestServer, admin: &ApiKey, sid: &str, want: &str) {
    let end = tokio::time::Instant::now() + LIFECYCLE;
    loop {
        let m = machine(s, admin, sid).await;
        if m["status_name"] == want {
            return;
        }
        assert!(tokio::time::Instant::now() < end, "{sid} never reached {want}: {}", m["status_name"]);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn rows(b: &Browser) -> Vec<String> {
    let v = b.script("return Array.from(document.querySelectorAll('tr[data-sid]')).map(function (r) { return r.getAttribute('data-sid'); });").await;
    let mut out: Vec<String> = v.as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect();
    out.sort();
    out
}

async fn scenario(s: &TestServer, b: &Browser, backend: Backend) {
    let admin = s.user("admin", true).await;
    let alice = s.user("alice", false).await;
    s.user("bob", false).await;
    let admin_row = s.state.db.run(|c| ironpool_region::db::users::by_username(c, "admin")).await.unwrap().unwrap();
    // Two simulated machines; they commission at once and reach Ready.
    let ids =
        ironpool_region::sim::ensure_machines(&s.state, &admin_row, &s.origin, 2, Duration::from_millis(300), None)
            .await
            .unwrap();
    for sid in &ids {
        wait_status(s, &admin, sid, "Ready").await;
    }
    let mut sorted = ids.clone();
    sorted.sort();

    // Log in through the form.
    b.goto(&format!("{}/MAAS/", s.origin)).await;
    b.find("#username").await;
    doc_shot(b, backend, "login").await;
    b.log_in(s, "admin").await;
    assert_eq!(rows(b).await, sorted);
    doc_shot(b, backend, "machines").await;

    // Search with MAAS's syntax, then free text.
    b.type_into(&b.find("#q").await, "status:ready pool:default").await;
    b.click(&b.find("form.search button").await).await;
    b.wait_text("#q", Duration::from_secs(10), |_| true).await;
    assert_eq!(rows(b).await, sorted);
    let first = machine(s, &admin, &ids[0]).await;
    let hostname = first["hostname"].as_str().unwrap().to_string();
    b.type_into(&b.find("#q").await, &hostname).await;
    b.click(&b.find("form.search button").await).await;
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    while rows(b).await != vec![ids[0].clone()] {
        assert!(tokio::time::Instant::now() < end, "free-text search did not narrow to {hostname}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.type_into(&b.find("#q").await, "status:deployed").await;
    b.click(&b.find("form.search button").await).await;
    b.wait_text("section.empty", Duration::from_secs(10), |t| t.contains("No machines match this search.")).await;

    // Bulk-commission both: confirmation with the count, then results that
    // update live until both are Ready again.
    b.goto(&format!("{}/MAAS/r/machines", s.origin)).await;
    b.click(&b.find("input.select-all").await).await;
    b.wait_text(".selected-count", Duration::from_secs(5), |t| t == "2 selected").await;
    b.select("#bulk-action", "commission").await;
    b.click(&b.find("#bulk button.primary").await).await;
    b.wait_text("h1", Duration::from_secs(10), |t| t == "Commission 2 machines?").await;
    doc_shot(b, backend, "confirm").await;
    b.click(&b.find("#confirm").await).await;
    b.wait_text("h1", Duration::from_secs(30), |t| t == "Commission: 2 of 2 done").await;
    // Rendered as "…"; whatever the cells say from now on came over the
    // live stream. The marker proves the page is never reloaded.
    b.script("window.__noReload = 'still here'; return 1;").await;
    for sid in &ids {
        wait_status(s, &admin, sid, "Ready").await;
    }
    for sid in &ids {
        b.wait_text(&format!("tr[data-sid='{sid}'] [data-field=status]"), LIFECYCLE, |t| t == "Ready").await;
    }
    assert_eq!(b.script("return window.__noReload;").await, "still here");
    doc_shot(b, backend, "results").await;
    // It really was commissioned again: the API's events say so.
    let ev = s.get(Some(&admin), &format!("events/?op=query&id={}&level=DEBUG&limit=100", ids[0])).await.json();
    let again = ev["events"].as_array().unwrap().iter().any(|e| e["description"] == "From 'Ready' to 'Commissioning'");
    assert!(again, "commissioned again: {ev}");

    // Deploy one machine from the browser (release, kernel left default,
    // cloud-init user data typed in), watch it reach Deployed live, then
    // release it and watch it come back to Ready.
    b.goto(&format!("{}/MAAS/r/machines", s.origin)).await;
    b.click(&b.find(&format!("input[name=system_id][value='{}']", ids[0])).await).await;
    b.select("#bulk-action", "deploy").await;
    b.click(&b.find("#bulk button.primary").await).await;
    b.wait_text("h1", Duration::from_secs(10), |t| t == "Deploy 1 machine?").await;
    b.type_into(&b.find("#distro_series").await, "noble").await;
    b.type_into(&b.find("#user_data").await, "#cloud-config\nruncmd: [echo from-the-browser]\n").await;
    b.click(&b.find("#confirm").await).await;
    b.wait_text("h1", Duration::from_secs(30), |t| t == "Deploy: 1 of 1 done").await;
    b.script("window.__noReload = 'deploying'; return 1;").await;
    b.wait_text(&format!("tr[data-sid='{}'] [data-field=status]", ids[0]), LIFECYCLE, |t| t == "Deployed").await;
    assert_eq!(b.script("return window.__noReload;").await, "deploying");
    let m = machine(s, &admin, &ids[0]).await;
    assert_eq!(
        (m["status_name"].as_str(), m["owner"].as_str(), m["distro_series"].as_str()),
        (Some("Deployed"), Some("admin"), Some("noble"))
    );
    // The user data is stored as typed (the form base64-encodes it for the
    // API; the machine's metadata serves these bytes).
    let sid0 = ids[0].clone();
    let node = s.state.db.run(move |c| ironpool_region::db::nodes::by_system_id(c, &sid0)).await.unwrap().unwrap();
    // (LF line breaks, not the CRLF browsers submit; a final line break
    // may be trimmed with the rest of the field's surrounding space.)
    let stored = String::from_utf8(node.user_data.unwrap()).unwrap();
    assert_eq!(stored.trim_end(), "#cloud-config\nruncmd: [echo from-the-browser]");
    b.goto(&format!("{}/MAAS/r/machines", s.origin)).await;
    b.click(&b.find(&format!("input[name=system_id][value='{}']", ids[0])).await).await;
    b.select("#bulk-action", "release").await;
    b.click(&b.find("#bulk button.primary").await).await;
    b.wait_text("h1", Duration::from_secs(10), |t| t == "Release 1 machine?").await;
    b.click(&b.find("input[name=quick_erase]").await).await;
    b.click(&b.find("input[name=erase]").await).await;
    b.click(&b.find("#confirm").await).await;
    b.wait_text("h1", Duration::from_secs(30), |t| t == "Release: 1 of 1 done").await;
    b.wait_text(&format!("tr[data-sid='{}'] [data-field=status]", ids[0]), LIFECYCLE, |t| t == "Ready").await;
    let ev = s.get(Some(&admin), &format!("events/?op=query&id={}&level=DEBUG&limit=100", ids[0])).await.json();
    let erased = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["description"] == "From 'Deployed' to 'Disk erasing' (quick erase)");
    assert!(erased, "released with a disk erase: {ev}");

    // A machine page: interfaces with MACs, disks, events.
    b.click(&b.find(&format!("tr[data-sid='{}'] a", ids[0])).await).await;
    b.wait_text("#network h2", Duration::from_secs(10), |t| t == "Network").await;
    let src = b.source().await;
    let mac = first["interface_set"][0]["mac_address"].as_str().unwrap();
    assert!(src.contains(mac), "MAC {mac} on the machine page");
    let disk = first["blockdevice_set"][0]["name"].as_str().unwrap();
    assert!(src.contains(&format!("<td>{disk}</td>")), "disk {disk} on the machine page");
    assert!(!b.find_all("#events tbody tr").await.is_empty());
    assert!(src.contains("Power configuration"), "admins see the power configuration");
    doc_shot(b, backend, "machine").await;

    // CSRF: a form whose token is removed is refused and changes nothing.
    b.goto(&format!("{}/MAAS/r/machines", s.origin)).await;
    b.script("document.querySelector('#bulk input[name=csrfmiddlewaretoken]').remove(); return 1;").await;
    b.click(&b.find(&format!("input[name=system_id][value='{}']", ids[1])).await).await;
    b.select("#bulk-action", "mark-broken").await;
    b.click(&b.find("#bulk button.primary").await).await;
    b.wait_text("main", Duration::from_secs(10), |t| t.contains("CSRF verification failed. Request aborted.")).await;
    assert_eq!(machine(s, &admin, &ids[1]).await["status_name"], "Ready");

    // Account page: upload an SSH key, generate an API key (shown once)
    // and use it against the API; then log out.
    b.goto(&format!("{}/MAAS/r/account/prefs", s.origin)).await;
    b.wait_text("h1", Duration::from_secs(10), |t| t.starts_with("Account")).await;
    let pubkey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJyb3dzZXItdGVzdC1rZXktbWF0ZXJpYWwtMDAwMDAw admin@browser";
    b.type_into(&b.find("#key").await, pubkey).await;
    b.click(&b.find("#ssh-keys button.primary").await).await;
    b.wait_text("#ssh-keys", Duration::from_secs(10), |t| t.contains("admin@browser")).await;
    let keys = s.get(Some(&admin), "account/prefs/sshkeys/").await.json();
    assert!(keys.as_array().unwrap().iter().any(|k| k["key"] == pubkey), "{keys}");
    b.type_into(&b.find("#token-name").await, "browser").await;
    b.click(&b.find("#api-keys button.primary").await).await;
    let token = b.wait_text("#new-api-key", Duration::from_secs(10), |t| t.split(':').count() == 3).await;
    let parts: Vec<&str> = token.trim().split(':').collect();
    let fresh = ApiKey { consumer: parts[0].into(), token: parts[1].into(), secret: parts[2].into() };
    let me = s.get(Some(&fresh), "users/?op=whoami").await;
    assert_eq!((me.status, me.json()["username"].as_str()), (200, Some("admin")), "{}", me.body);
    // Shown once: a reload shows only the key's public half.
    b.goto(&format!("{}/MAAS/r/account/prefs", s.origin)).await;
    b.wait_text("#api-keys", Duration::from_secs(10), |t| t.contains("browser")).await;
    assert!(!b.source().await.contains(parts[2]), "the API key's secret is shown again");
    doc_shot(b, backend, "account").await;
    b.click(&b.find("header form button").await).await;
    b.wait_text("h1", Duration::from_secs(10), |t| t.contains("Ironpool")).await;
    assert!(b.url().await.contains("/MAAS/r/login"));
    b.goto(&format!("{}/MAAS/r/machines", s.origin)).await;
    assert!(b.url().await.contains("/MAAS/r/login"), "logged out means logged out");

    // A non-admin sees what the API shows them: not alice's machine, no
    // admin actions, no power configuration.
    let r = s.post(Some(&alice), "machines/?op=allocate", &[("system_id", &ids[0])]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    b.log_in(s, "bob").await;
    assert_eq!(rows(b).await, vec![ids[1].clone()]);
    let options = b.script("return Array.from(document.querySelectorAll('#bulk-action option')).map(function (o) { return o.value; });").await;
    assert!(!options.as_array().unwrap().iter().any(|o| o == "delete" || o == "commission"), "{options}");
    b.goto(&format!("{}/MAAS/r/machine/{}", s.origin, ids[1])).await;
    b.wait_text("#summary h2", Duration::from_secs(10), |t| t == "Summary").await;
    assert!(b.try_find("#configuration").await.is_none(), "no power configuration for bob");
    b.goto(&format!("{}/MAAS/r/machine/{}", s.origin, ids[0])).await;
    b.wait_text("main", Duration::from_secs(10), |t| t.contains("403")).await;
}

backend_tests!(browser_lifecycle, |b| async move {
    let s = TestServer::start(b);
    let browser = Browser::start().await;
    browser.screenshot_on_failure(&format!("ui_browser_{b:?}"), scenario(&s, &browser, b)).await;
});

/// The list pages' forms in a browser: a zone added, edited through the
/// row's folded form, deleted after confirmation; a tag refused for its
/// XPath with the words in the form; settings saved.
async fn list_pages(s: &TestServer, b: &Browser, backend: Backend) {
    let admin = s.user("admin", true).await;
    assert_eq!(s.post(Some(&admin), "zones/", &[("name", "rack-a"), ("description", "first row")]).await.status, 200);
    let r =
        s.post(Some(&admin), "tags/", &[("name", "gpu"), ("comment", "has a GPU"), ("kernel_opts", "nomodeset")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    b.log_in(s, "admin").await;

    b.goto(&format!("{}/MAAS/r/zones", s.origin)).await;
    b.type_into(&b.find("#new-name").await, "rack-b").await;
    b.type_into(&b.find("#new-description").await, "spare").await;
    b.click(&b.find("#create button.primary").await).await;
    b.wait_text("p.notice", Duration::from_secs(10), |t| t == "Added zone rack-b.").await;
    assert_eq!(s.get(Some(&admin), "zones/rack-b/").await.json()["description"], "spare");
    doc_shot(b, backend, "zones").await;
    b.click(&b.find("tr[data-name='rack-b'] summary").await).await;
    let name = b.find("tr[data-name='rack-b'] input[name=name]").await;
    b.type_into(&name, "rack-c").await;
    b.click(&b.find("tr[data-name='rack-b'] details button.primary").await).await;
    b.wait_text("p.notice", Duration::from_secs(10), |t| t == "Saved zone rack-c.").await;
    b.click(&b.find("tr[data-name='rack-c'] button.danger").await).await;
    b.wait_text("h1", Duration::from_secs(10), |t| t == "Delete zone rack-c?").await;
    b.click(&b.find("#confirm").await).await;
    b.wait_text("p.notice", Duration::from_secs(10), |t| t == "Deleted the zone.").await;
    assert_eq!(s.get(Some(&admin), "zones/rack-c/").await.status, 404);

    b.goto(&format!("{}/MAAS/r/tags", s.origin)).await;
    b.type_into(&b.find("#create input[name=name]").await, "broken").await;
    b.type_into(&b.find("#create input[name=definition]").await, "//node[@id=").await;
    b.click(&b.find("#create button.primary").await).await;
    b.wait_text("#create p.error", Duration::from_secs(10), |t| t.contains("Invalid xpath expression: ")).await;
    doc_shot(b, backend, "tags").await;

    b.goto(&format!("{}/MAAS/r/settings", s.origin)).await;
    b.type_into(&b.find("#maas_name").await, "lab-region").await;
    b.click(&b.find("#configuration button.primary").await).await;
    b.wait_text("p.notice", Duration::from_secs(10), |t| t == "Settings saved.").await;
    assert_eq!(s.get(Some(&admin), "maas/?op=get_config&name=maas_name").await.json(), "lab-region");
    doc_shot(b, backend, "settings").await;
}

backend_tests!(browser_list_pages, |b| async move {
    let s = TestServer::start(b);
    let browser = Browser::start().await;
    browser.screenshot_on_failure(&format!("ui_browser_list_pages_{b:?}"), list_pages(&s, &browser, b)).await;
});

/// The networks pages in a browser: a subnet added through the networks
/// page's form (a bad CIDR first, refused in the form with the API's
/// words), then a reserved range through the subnet page's folded form.
async fn networks_pages(s: &TestServer, b: &Browser, backend: Backend) {
    let admin = s.user("admin", true).await;
    let r = s.post(Some(&admin), "fabrics/", &[("name", "fab-a"), ("description", "rack row A")]).await;
    let fabric = r.json()["id"].as_i64().unwrap();
    let r = s.post(Some(&admin), &format!("fabrics/{fabric}/vlans/"), &[("vid", "42"), ("name", "storage")]).await;
    let vlan = r.json()["id"].as_i64().unwrap().to_string();
    let r = s.post(Some(&admin), "subnets/", &[("cidr", "10.42.0.0/24"), ("vlan", &vlan)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    b.log_in(s, "admin").await;

    b.goto(&format!("{}/MAAS/r/networks", s.origin)).await;
    b.type_into(&b.find("#create-subnet input[name=cidr]").await, "10.9.0.0/33").await;
    b.click(&b.find("#create-subnet button.primary").await).await;
    b.wait_text("#create-subnet p.error", Duration::from_secs(10), |t| t.contains("Required format")).await;
    b.type_into(&b.find("#create-subnet input[name=cidr]").await, "10.9.0.0/24").await;
    b.type_into(&b.find("#create-subnet input[name=name]").await, "lab").await;
    b.type_into(&b.find("#create-subnet input[name=gateway_ip]").await, "10.9.0.1").await;
    b.click(&b.find("#create-subnet button.primary").await).await;
    b.wait_text("p.notice", Duration::from_secs(10), |t| t == "Added subnet 10.9.0.0/24.").await;
    assert_eq!(s.get(Some(&admin), "subnets/lab/").await.json()["gateway_ip"], "10.9.0.1");
    doc_shot(b, backend, "networks").await;

    b.click(&b.find("tr[data-subnet='10.9.0.0/24'] a[href^='/MAAS/r/subnet/']").await).await;
    b.wait_text("h1", Duration::from_secs(10), |t| t.starts_with("Subnet 10.9.0.0/24")).await;
    b.click(&b.find("#add-range summary").await).await;
    b.type_into(&b.find("#add-range input[name=start_ip]").await, "10.9.0.10").await;
    b.type_into(&b.find("#add-range input[name=end_ip]").await, "10.9.0.20").await;
    b.type_into(&b.find("#add-range input[name=comment]").await, "switches").await;
    b.click(&b.find("#add-range button.primary").await).await;
    b.wait_text("p.notice", Duration::from_secs(10), |t| t == "Added a reserved range 10.9.0.10 – 10.9.0.20.").await;
    let ranges = s.get(Some(&admin), "ipranges/").await.json();
    let r = ranges.as_array().unwrap().iter().find(|r| r["comment"] == "switches").unwrap().clone();
    assert_eq!((r["type"].as_str(), r["end_ip"].as_str()), (Some("reserved"), Some("10.9.0.20")));
    b.find("tr[data-range='10.9.0.10-10.9.0.20']").await;
    b.script("document.querySelector('#utilisation').scrollIntoView(); return 1;").await;
    doc_shot(b, backend, "subnet").await;
}

backend_tests!(browser_networks, |b| async move {
    let s = TestServer::start(b);
    let browser = Browser::start().await;
    browser.screenshot_on_failure(&format!("ui_browser_networks_{b:?}"), networks_pages(&s, &browser, b)).await;
});

/// Every page's accessibility basics in the browser (labels, headings,
/// focus order: `Browser::accessibility_problems`), and the keyboard path
/// into a page: the first Tab reaches "Skip to content", which moves the
/// focus to the page's main content.
async fn accessibility(s: &TestServer, b: &Browser) {
    let admin = s.user("admin", true).await;
    let sid = ready_machine(s, &admin, "a11y-1", 2, 2048).await;
    let r = s.post(Some(&admin), "subnets/", &[("cidr", "10.77.0.0/24"), ("name", "a11y-net")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let subnet = r.json();
    let vlan = subnet["vlan"]["id"].as_i64().unwrap();
    assert_eq!(s.post(Some(&admin), "tags/", &[("name", "a11y")]).await.status, 200);

    // The checker itself finds what it looks for, on a page made wrong.
    b.goto(
        "data:text/html,<html><body><input name=q><h1>A</h1><h3>B</h3><a href=/x></a><p tabindex=2>p</p></body></html>",
    )
    .await;
    let bad = b.accessibility_problems().await;
    for want in ["unlabelled input name=q", "H3 after H1: B", "nameless a /x", "positive tabindex on p", "no lang"] {
        assert!(bad.iter().any(|p| p.starts_with(want)), "the checker missed {want:?}: {bad:?}");
    }

    b.goto(&format!("{}/MAAS/r/login", s.origin)).await;
    b.find("#username").await;
    let mut problems = Vec::new();
    for p in b.accessibility_problems().await {
        problems.push(format!("login: {p}"));
    }
    b.log_in(s, "admin").await;
    // A custom image uploaded through the images page's form (a real file
    // input), so that page has something to show.
    let image = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(image.path(), vec![0x5au8; 64 * 1024]).unwrap();
    b.goto(&format!("{}/MAAS/r/images", s.origin)).await;
    let form = "form[action='/MAAS/r/images/upload']";
    b.type_into(&b.find(&format!("{form} input[name=name]")).await, "custom/browser-img").await;
    b.type_into(&b.find(&format!("{form} input[name=title]")).await, "Uploaded from the browser").await;
    b.select(&format!("{form} select[name=filetype]"), "ddraw").await;
    b.send_keys(&b.find(&format!("{form} input[name=content]")).await, image.path().to_str().unwrap()).await;
    b.click(&b.find(&format!("{form} button.primary")).await).await;
    b.wait_text("main", Duration::from_secs(30), |t| t.contains("Uploaded custom/browser-img")).await;
    let list = s.get(Some(&admin), "boot-resources/").await.json();
    assert!(list.as_array().unwrap().iter().any(|r| r["name"] == "custom/browser-img"), "{list}");
    let pages = [
        "machines".to_string(),
        "machines/add".into(),
        "machines/add-chassis".into(),
        format!("machine/{sid}"),
        "account/prefs".into(),
        "zones".into(),
        "pools".into(),
        "tags".into(),
        "tag/a11y".into(),
        "domains".into(),
        "controllers".into(),
        "devices".into(),
        "networks".into(),
        format!("subnet/{}", subnet["id"]),
        format!("vlan/{vlan}"),
        "settings".into(),
        "settings/users".into(),
        "images".into(),
        format!("domain/{}", s.get(Some(&admin), "domains/").await.json()[0]["id"]),
    ];
    for page in &pages {
        b.goto(&format!("{}/MAAS/r/{page}", s.origin)).await;
        b.find("main h1").await;
        match page.as_str() {
            "images" | "controllers" => doc_shot(b, Backend::Sqlite, page).await,
            "settings/users" => doc_shot(b, Backend::Sqlite, "users").await,
            p if p.starts_with("domain/") => doc_shot(b, Backend::Sqlite, "domain").await,
            _ => {}
        }
        for p in b.accessibility_problems().await {
            problems.push(format!("{page}: {p}"));
        }
    }
    assert!(problems.is_empty(), "accessibility problems:\n{}", problems.join("\n"));

    // The keyboard's way in: Tab, Enter on the skip link, focus in main.
    b.goto(&format!("{}/MAAS/r/machines", s.origin)).await;
    b.find("main h1").await;
    b.keys("\u{E004}").await;
    let f = b.focused().await;
    assert!(f.starts_with("a#.skip") && f.contains("Skip to content"), "first Tab focused {f:?}");
    b.keys("\u{E007}").await;
    let f = b.focused().await;
    assert!(f.starts_with("main#main"), "the skip link moved the focus to {f:?}");
    // The next Tab stays in the content: the search box comes first.
    b.keys("\u{E004}").await;
    let inside = b.script("return document.getElementById('main').contains(document.activeElement);").await;
    assert_eq!(inside, true, "after the skip link, Tab left the content: {}", b.focused().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_accessibility_basics() {
    let s = TestServer::start(Backend::Sqlite);
    let browser = Browser::start().await;
    browser.screenshot_on_failure("ui_browser_accessibility", accessibility(&s, &browser)).await;
}
