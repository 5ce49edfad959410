//! The web UI's list pages over real HTTP, on SQLite and PostgreSQL:
//! zones, resource pools, tags (and a tag's page), domains, controllers,
//! devices and settings. Each page lists what the API made; an
//! administrator's changes through the forms show in the API afterwards;
//! the engine's refusals (the default zone, an invalid XPath, a bad NTP
//! server) appear in the form; a non-admin sees no controls and a POST of
//! theirs is a 403 that changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::ui::{logged_in, Page};
use common::*;

/// The `<tr data-name="…">` row of `name`, up to its end.
fn row<'a>(p: &'a Page, name: &str) -> &'a str {
    let at = p.body.find(&format!("<tr data-name=\"{name}\"")).unwrap_or_else(|| panic!("no row {name}: {}", p.body));
    let rest = &p.body[at..];
    &rest[..rest.find("</tr>").unwrap()]
}

fn has_row(p: &Page, name: &str) -> bool {
    p.body.contains(&format!("<tr data-name=\"{name}\""))
}

/// The count in a row: the text of its last `.num` cell (a link or not).
fn count_in(row: &str) -> String {
    let cell = row.rsplit("<td class=\"num\">").next().unwrap();
    let text = if cell.starts_with("<a") { &cell[cell.find('>').unwrap() + 1..] } else { cell };
    text.split('<').next().unwrap().to_string()
}

/// The value of the text input named `name`.
fn field(p: &Page, name: &str) -> String {
    let at = p.body.find(&format!("name=\"{name}\"")).unwrap_or_else(|| panic!("no field {name}: {}", p.body));
    let tag = &p.body[at..at + p.body[at..].find('>').unwrap()];
    tag.split("value=\"").nth(1).unwrap().split('"').next().unwrap().to_string()
}

/// What a non-admin must not be offered on a list page.
fn assert_no_controls(p: &Page, section: &str) {
    assert_eq!(p.status, 200, "{}", p.body);
    for needle in
        [format!("/MAAS/r/{section}/create"), format!("/MAAS/r/{section}/edit"), format!("/MAAS/r/{section}/delete")]
    {
        assert!(!p.body.contains(&needle), "a non-admin is offered {needle}");
    }
}

backend_tests!(zones_list_create_edit_delete, |b| async move {
    let s = TestServer::start(b);
    let (admin, mut ui) = logged_in(&s, "admin", true).await;
    let (alice, _) = logged_in(&s, "alice", false).await;
    let r = s.post(Some(&admin), "zones/", &[("name", "rack-a"), ("description", "first row")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let m1 = ready_machine(&s, &admin, "z-1", 2, 2048).await;
    let m2 = ready_machine(&s, &admin, "z-2", 2, 2048).await;
    ready_machine(&s, &admin, "z-3", 2, 2048).await;
    for m in [&m1, &m2] {
        let r = s.call(Some(&admin), "PUT", &format!("machines/{m}/"), &[("zone", "rack-a")]).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }

    // The list: every zone with its description and machine count.
    let p = ui.get("/MAAS/r/zones").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(row(&p, "rack-a").contains("first row"));
    assert_eq!(count_in(row(&p, "rack-a")), "2");
    assert_eq!(count_in(row(&p, "default")), "1");
    assert!(row(&p, "rack-a").contains("/MAAS/r/machines?q=zone%3Arack%2Da"), "{}", row(&p, "rack-a"));
    let csrf = p.csrf();

    // Create: shows in the API.
    let r = ui
        .post("/MAAS/r/zones/create", &[("name", "rack-b"), ("description", "spare"), ("csrfmiddlewaretoken", &csrf)])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Added zone rack-b.") && has_row(&r, "rack-b"));
    assert_eq!(s.get(Some(&admin), "zones/rack-b/").await.json()["description"], "spare");
    // The engine's refusals, in the form, with what was typed kept.
    let r = ui.post("/MAAS/r/zones/create", &[("name", "rack-b"), ("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("Zone with this Name already exists."), "{}", r.body);
    let r = ui.post("/MAAS/r/zones/create", &[("name", "bad name!"), ("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!(r.status, 400);
    assert!(r.says("Invalid name 'bad name!'"), "{}", r.body);
    assert!(r.body.contains("value=\"bad name!\""), "the typed name is kept");

    // Edit: name and description.
    let r = ui
        .post(
            "/MAAS/r/zones/edit",
            &[("key", "rack-b"), ("name", "rack-c"), ("description", "moved"), ("csrfmiddlewaretoken", &csrf)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.get(Some(&admin), "zones/rack-b/").await.status, 404);
    assert_eq!(s.get(Some(&admin), "zones/rack-c/").await.json()["description"], "moved");
    // The default zone keeps its name: the engine's words, in that row's form (opened).
    let r = ui
        .post(
            "/MAAS/r/zones/edit",
            &[("key", "default"), ("name", "other"), ("description", ""), ("csrfmiddlewaretoken", &csrf)],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("The default zone cannot be renamed."), "{}", r.body);
    assert!(row(&r, "default").contains("<details open>"), "{}", row(&r, "default"));

    // Delete: a confirmation first, then gone; machines move to the default zone.
    let r = ui.post("/MAAS/r/zones/delete", &[("key", "rack-a"), ("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Delete zone rack-a?"), "{}", r.body);
    assert_eq!(s.get(Some(&admin), "zones/rack-a/").await.status, 200);
    let r =
        ui.post("/MAAS/r/zones/delete", &[("key", "rack-a"), ("confirm", "1"), ("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!has_row(&r, "rack-a"));
    assert_eq!(count_in(row(&r, "default")), "3");
    assert_eq!(s.get(Some(&admin), "zones/rack-a/").await.status, 404);
    assert_eq!(machine(&s, &admin, &m1).await["zone"]["name"], "default");
    // MAAS refuses to delete the default zone: the engine's words.
    let r =
        ui.post("/MAAS/r/zones/delete", &[("key", "default"), ("confirm", "1"), ("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("This zone is the default zone, it cannot be deleted."), "{}", r.body);
    assert_eq!(s.get(Some(&admin), "zones/default/").await.status, 200);
    // Without the CSRF token nothing happens.
    let r = ui.post("/MAAS/r/zones/create", &[("name", "forged")]).await;
    assert_eq!(r.status, 403);
    assert_eq!(s.get(Some(&admin), "zones/forged/").await.status, 404);

    // A non-admin: the list (with the counts of machines they may see), no controls, 403.
    let r = s.post(Some(&alice), "machines/?op=allocate", &[("system_id", &m2)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (_, mut bob) = logged_in(&s, "bob", false).await;
    let p = bob.get("/MAAS/r/zones").await;
    assert_no_controls(&p, "zones");
    assert!(row(&p, "rack-c").contains("moved"));
    assert_eq!(count_in(row(&p, "default")), "2", "bob does not count alice's machine");
    let c = p.csrf();
    for (path, form) in [
        ("/MAAS/r/zones/create", vec![("name", "bobs"), ("csrfmiddlewaretoken", c.as_str())]),
        ("/MAAS/r/zones/edit", vec![("key", "rack-c"), ("name", "bobs"), ("csrfmiddlewaretoken", c.as_str())]),
        ("/MAAS/r/zones/delete", vec![("key", "rack-c"), ("confirm", "1"), ("csrfmiddlewaretoken", c.as_str())]),
    ] {
        let r = bob.post(path, &form).await;
        assert_eq!(r.status, 403, "{path}: {}", r.body);
        assert!(r.body.contains("administrators only"), "{}", r.body);
    }
    assert_eq!(s.get(Some(&admin), "zones/rack-c/").await.status, 200);
    assert_eq!(s.get(Some(&admin), "zones/bobs/").await.status, 404);
    // The wrong method is a 405, not a page.
    assert_eq!(ui.get("/MAAS/r/zones/create").await.status, 405);
});

backend_tests!(pools_list_create_edit_delete, |b| async move {
    let s = TestServer::start(b);
    let (admin, mut ui) = logged_in(&s, "admin", true).await;
    let r = s.post(Some(&admin), "resourcepools/", &[("name", "gpu-pool"), ("description", "GPUs")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let gpu_pool = r.json()["id"].as_i64().unwrap().to_string();
    let m = ready_machine(&s, &admin, "p-1", 2, 2048).await;
    let r = s.call(Some(&admin), "PUT", &format!("machines/{m}/"), &[("pool", "gpu-pool")]).await;
    assert_eq!(r.status, 200, "{}", r.body);

    let p = ui.get("/MAAS/r/pools").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("<h1>Resource pools"));
    assert!(row(&p, "gpu-pool").contains("GPUs"));
    assert_eq!(count_in(row(&p, "gpu-pool")), "1");
    assert_eq!(count_in(row(&p, "default")), "0");
    let csrf = p.csrf();

    let r = ui
        .post("/MAAS/r/pools/create", &[("name", "spare"), ("description", "extra"), ("csrfmiddlewaretoken", &csrf)])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let spare = s.get(Some(&admin), "resourcepool/spare/").await.json();
    assert_eq!(spare["description"], "extra");
    let spare_id = spare["id"].as_i64().unwrap().to_string();
    let r = ui
        .post(
            "/MAAS/r/pools/edit",
            &[("key", &spare_id), ("name", "reserve"), ("description", "kept"), ("csrfmiddlewaretoken", &csrf)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.get(Some(&admin), &format!("resourcepool/{spare_id}/")).await.json()["name"], "reserve");

    // The engine's rules: a pool with machines, and the default pool, stay.
    let r =
        ui.post("/MAAS/r/pools/delete", &[("key", &gpu_pool), ("confirm", "1"), ("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("Pool gpu-pool has 1 machine(s) in it; move them to another pool first."), "{}", r.body);
    let r = ui.post("/MAAS/r/pools/delete", &[("key", "0"), ("confirm", "1"), ("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("This is the default pool, it cannot be deleted."), "{}", r.body);
    let r =
        ui.post("/MAAS/r/pools/delete", &[("key", &spare_id), ("confirm", "1"), ("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.get(Some(&admin), &format!("resourcepool/{spare_id}/")).await.status, 404);

    let (_, mut bob) = logged_in(&s, "bob", false).await;
    let p = bob.get("/MAAS/r/pools").await;
    assert_no_controls(&p, "pools");
    assert!(has_row(&p, "gpu-pool"));
    let c = p.csrf();
    let r = bob.post("/MAAS/r/pools/create", &[("name", "bobs"), ("csrfmiddlewaretoken", &c)]).await;
    assert_eq!(r.status, 403);
    assert_eq!(s.get(Some(&admin), "resourcepool/bobs/").await.status, 404);
});

backend_tests!(tags_list_page_and_changes, |b| async move {
    let s = TestServer::start(b);
    let (admin, mut ui) = logged_in(&s, "admin", true).await;
    let gpu_machine = ready_machine(&s, &admin, "t-1", 2, 2048).await;
    ready_machine(&s, &admin, "t-2", 2, 2048).await;
    let r =
        s.post(Some(&admin), "tags/", &[("name", "gpu"), ("comment", "has a GPU"), ("kernel_opts", "nomodeset")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.post(Some(&admin), "tags/gpu/", &[("op", "update_nodes"), ("add", &gpu_machine)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.post(Some(&admin), "tags/", &[("name", "virtual"), ("definition", "//node[@class=\"system\"]")]).await;
    assert_eq!(r.status, 200, "{}", r.body);

    let p = ui.get("/MAAS/r/tags").await;
    assert_eq!(p.status, 200, "{}", p.body);
    let gpu = row(&p, "gpu");
    assert!(gpu.contains("has a GPU") && gpu.contains("nomodeset") && gpu.contains("/MAAS/r/tag/gpu"), "{gpu}");
    assert_eq!(count_in(gpu), "1");
    assert!(row(&p, "virtual").contains("//node[@class=&quot;system&quot;]"), "{}", row(&p, "virtual"));
    let csrf = p.csrf();

    // The tag's page lists its machines.
    let t = ui.get("/MAAS/r/tag/gpu").await;
    assert_eq!(t.status, 200, "{}", t.body);
    assert!(t.body.contains(&format!("<tr data-sid=\"{gpu_machine}\"")) && t.body.contains("t-1.maas"), "{}", t.body);
    assert!(!t.body.contains("t-2.maas"));
    assert_eq!(ui.get("/MAAS/r/tag/nosuch").await.status, 404);

    // An invalid XPath: the engine's 400 words in the form, nothing made.
    let r = ui
        .post(
            "/MAAS/r/tags/create",
            &[("name", "broken"), ("definition", "//node[@id="), ("csrfmiddlewaretoken", &csrf)],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("definition: Invalid xpath expression: "), "{}", r.body);
    assert!(r.body.contains("value=\"//node[@id=\""), "what was typed is kept");
    assert_eq!(s.get(Some(&admin), "tags/broken/").await.status, 404);
    // Create and edit: the API has them.
    let r = ui
        .post(
            "/MAAS/r/tags/create",
            &[
                ("name", "ssd"),
                ("comment", "fast"),
                ("kernel_opts", "quiet"),
                ("definition", ""),
                ("csrfmiddlewaretoken", &csrf),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let tag = s.get(Some(&admin), "tags/ssd/").await.json();
    assert_eq!((tag["comment"].as_str(), tag["kernel_opts"].as_str()), (Some("fast"), Some("quiet")));
    let r = ui
        .post(
            "/MAAS/r/tags/edit",
            &[
                ("key", "gpu"),
                ("name", "gpu"),
                ("comment", "NVIDIA"),
                ("definition", ""),
                ("kernel_opts", "nomodeset quiet"),
                ("csrfmiddlewaretoken", &csrf),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let tag = s.get(Some(&admin), "tags/gpu/").await.json();
    assert_eq!((tag["comment"].as_str(), tag["kernel_opts"].as_str()), (Some("NVIDIA"), Some("nomodeset quiet")));
    let r = ui
        .post(
            "/MAAS/r/tags/edit",
            &[("key", "virtual"), ("name", "virtual"), ("definition", "))"), ("csrfmiddlewaretoken", &csrf)],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(row(&r, "virtual").contains("Invalid xpath expression: "), "{}", row(&r, "virtual"));

    // A name with punctuation links to its own page; an edit of a tag
    // deleted meanwhile says so at the top of the page.
    assert_eq!(s.post(Some(&admin), "tags/", &[("name", "rack:a.1+x")]).await.status, 200);
    let p = ui.get("/MAAS/r/tags").await;
    let href = row(&p, "rack:a.1+x").split("href=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let t = ui.get(&href).await;
    assert_eq!(t.status, 200, "{href}: {}", t.body);
    assert!(t.body.contains("<h1>Tag rack:a.1+x</h1>"), "{}", t.body);
    let r = ui.post("/MAAS/r/tags/edit", &[("key", "gone"), ("name", "gone"), ("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("<p class=\"error\" role=\"alert\">No Tag matches the given query.</p>"), "{}", r.body);

    // Delete after confirmation.
    let r = ui.post("/MAAS/r/tags/delete", &[("key", "ssd"), ("csrfmiddlewaretoken", &csrf)]).await;
    assert!(r.body.contains("Delete tag ssd?"), "{}", r.body);
    assert_eq!(s.get(Some(&admin), "tags/ssd/").await.status, 200);
    let r = ui.post("/MAAS/r/tags/delete", &[("key", "ssd"), ("confirm", "1"), ("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.get(Some(&admin), "tags/ssd/").await.status, 404);

    // A non-admin: list and tag page, no controls, 403 on POST.
    let (_, mut bob) = logged_in(&s, "bob", false).await;
    let p = bob.get("/MAAS/r/tags").await;
    assert_no_controls(&p, "tags");
    assert_eq!(count_in(row(&p, "gpu")), "1");
    assert_eq!(bob.get("/MAAS/r/tag/gpu").await.status, 200);
    let c = p.csrf();
    let r = bob.post("/MAAS/r/tags/delete", &[("key", "gpu"), ("confirm", "1"), ("csrfmiddlewaretoken", &c)]).await;
    assert_eq!(r.status, 403);
    assert_eq!(s.get(Some(&admin), "tags/gpu/").await.status, 200);
});

backend_tests!(domains_list_create_delete, |b| async move {
    let s = TestServer::start(b);
    let (admin, mut ui) = logged_in(&s, "admin", true).await;
    let r = s.post(Some(&admin), "domains/", &[("name", "example.com"), ("authoritative", "false")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.post(Some(&admin), "dnsresources/", &[("fqdn", "www.example.com"), ("ip_addresses", "10.1.2.3")]).await;
    assert_eq!(r.status, 200, "{}", r.body);

    let p = ui.get("/MAAS/r/domains").await;
    assert_eq!(p.status, 200, "{}", p.body);
    let ex = row(&p, "example.com");
    assert!(ex.contains("<td>No</td>"), "{ex}");
    assert_eq!(count_in(ex), "1");
    assert!(row(&p, "maas").contains("default") && row(&p, "maas").contains("<td>Yes</td>"));
    let csrf = p.csrf();

    let r = ui
        .post(
            "/MAAS/r/domains/create",
            &[("name", "lab.example"), ("authoritative", "true"), ("ttl", "600"), ("csrfmiddlewaretoken", &csrf)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let list = s.get(Some(&admin), "domains/").await.json();
    let lab = list.as_array().unwrap().iter().find(|d| d["name"] == "lab.example").unwrap().clone();
    assert_eq!((lab["authoritative"].as_bool(), lab["ttl"].as_i64()), (Some(true), Some(600)));
    // An unchecked box: not authoritative.
    let r = ui.post("/MAAS/r/domains/create", &[("name", "fwd.example"), ("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(row(&r, "fwd.example").contains("<td>No</td>"));
    let r = ui.post("/MAAS/r/domains/create", &[("name", "lab.example"), ("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("Domain with this Name already exists."), "{}", r.body);

    // The default domain stays, with the engine's words.
    let maas_id = list.as_array().unwrap().iter().find(|d| d["name"] == "maas").unwrap()["id"].to_string();
    let r =
        ui.post("/MAAS/r/domains/delete", &[("key", &maas_id), ("confirm", "1"), ("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!(r.status, 400);
    assert!(r.says("Domain 'maas' is the default domain; it cannot be deleted."), "{}", r.body);
    let lab_id = lab["id"].to_string();
    let r = ui.post("/MAAS/r/domains/delete", &[("key", &lab_id), ("csrfmiddlewaretoken", &csrf)]).await;
    assert!(r.body.contains("Delete domain lab.example?"), "{}", r.body);
    let r =
        ui.post("/MAAS/r/domains/delete", &[("key", &lab_id), ("confirm", "1"), ("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.get(Some(&admin), &format!("domains/{lab_id}/")).await.status, 404);

    let (_, mut bob) = logged_in(&s, "bob", false).await;
    let p = bob.get("/MAAS/r/domains").await;
    assert_no_controls(&p, "domains");
    assert!(has_row(&p, "example.com"));
    let c = p.csrf();
    let r = bob.post("/MAAS/r/domains/create", &[("name", "bob.example"), ("csrfmiddlewaretoken", &c)]).await;
    assert_eq!(r.status, 403);
    let list = s.get(Some(&admin), "domains/").await.json();
    assert!(list.as_array().unwrap().iter().all(|d| d["name"] != "bob.example"));
});

backend_tests!(controllers_and_devices_lists, |b| async move {
    let s = TestServer::start(b);
    let (admin, mut ui) = logged_in(&s, "admin", true).await;
    let (alice, _) = logged_in(&s, "alice", false).await;
    let r = s.post(Some(&admin), "devices/", &[("hostname", "printer"), ("mac_addresses", "52:54:00:01:02:03")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let printer = r.json()["system_id"].as_str().unwrap().to_string();
    let r =
        s.post(Some(&alice), "devices/", &[("hostname", "alices-cam"), ("mac_addresses", "52:54:00:01:02:04")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let cam = r.json()["system_id"].as_str().unwrap().to_string();

    let p = ui.get("/MAAS/r/devices").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains(&format!("<tr data-sid=\"{printer}\"")) && p.body.contains("52:54:00:01:02:03"));
    assert!(p.body.contains(&format!("<tr data-sid=\"{cam}\"")) && p.body.contains("alices-cam"));
    // Bob sees what the API shows him.
    let (bob_key, mut bob) = logged_in(&s, "bob", false).await;
    let api_ids: Vec<String> = s
        .get(Some(&bob_key), "devices/")
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["system_id"].as_str().unwrap().to_string())
        .collect();
    let page = bob.get("/MAAS/r/devices").await;
    assert_eq!(page.status, 200);
    for id in [&printer, &cam] {
        assert_eq!(
            page.body.contains(&format!("<tr data-sid=\"{id}\"")),
            api_ids.contains(id),
            "device {id}: {api_ids:?}"
        );
    }
    assert!(!page.body.contains("<form method=\"post\" action=\"/MAAS/r/devices"));

    // Controllers: the ones the API lists (this region at least).
    let mut want: Vec<String> = Vec::new();
    for rel in ["regioncontrollers/", "rackcontrollers/"] {
        for c in s.get(Some(&admin), rel).await.json().as_array().unwrap() {
            want.push(c["system_id"].as_str().unwrap().to_string());
        }
    }
    assert!(!want.is_empty(), "the region registers itself");
    let p = ui.get("/MAAS/r/controllers").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("<td>Region controller</td>"), "{}", p.body);
    for id in &want {
        assert!(p.body.contains(&format!("<tr data-sid=\"{id}\"")), "controller {id} missing: {}", p.body);
    }
    assert!(!p.body.contains("not in the web UI yet"));
});

backend_tests!(settings_page, |b| async move {
    let s = TestServer::start(b);
    let (admin, mut ui) = logged_in(&s, "admin", true).await;
    let get = |name: &'static str| {
        let s = &s;
        let admin = &admin;
        async move { s.get(Some(admin), &format!("maas/?op=get_config&name={name}")).await.json() }
    };
    let r =
        s.post(Some(&admin), "maas/", &[("op", "set_config"), ("name", "maas_name"), ("value", "lab-region")]).await;
    assert_eq!(r.status, 200, "{}", r.body);

    let p = ui.get("/MAAS/r/settings").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(field(&p, "maas_name"), "lab-region");
    assert_eq!(field(&p, "ntp_servers"), "ntp.ubuntu.com", "the default until set");
    let csrf = p.csrf();

    // One bad value: the engine's words, and nothing stored (not even the good ones).
    let r = ui
        .post(
            "/MAAS/r/settings",
            &[
                ("maas_name", "renamed"),
                ("default_osystem", "ubuntu"),
                ("default_distro_series", "jammy"),
                ("ntp_servers", "not a host!"),
                ("csrfmiddlewaretoken", &csrf),
            ],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.says("ntp_servers: 'host!' is neither an IP address nor a host name."), "{}", r.body);
    assert_eq!(field(&r, "ntp_servers"), "not a host!", "what was typed is kept");
    assert_eq!(field(&r, "maas_name"), "renamed");
    assert_eq!(get("maas_name").await, "lab-region");

    // A good form: stored, as the API reads it.
    let r = ui
        .post(
            "/MAAS/r/settings",
            &[
                ("maas_name", "renamed"),
                ("default_osystem", "ubuntu"),
                ("default_distro_series", "jammy"),
                ("ntp_servers", "10.0.0.1 ntp.example.com"),
                ("enable_analytics", "true"),
                ("csrfmiddlewaretoken", &csrf),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Settings saved."));
    assert_eq!(get("maas_name").await, "renamed");
    assert_eq!(get("default_distro_series").await, "jammy");
    assert_eq!(get("ntp_servers").await, "10.0.0.1 ntp.example.com");
    assert_eq!(get("enable_analytics").await, true);
    // An unchecked box turns analytics off.
    let r = ui
        .post(
            "/MAAS/r/settings",
            &[
                ("maas_name", "renamed"),
                ("default_osystem", "ubuntu"),
                ("default_distro_series", "jammy"),
                ("ntp_servers", "10.0.0.1 ntp.example.com"),
                ("csrfmiddlewaretoken", &csrf),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(get("enable_analytics").await, false);

    // A non-admin reads them, has no form, and is refused.
    let (_, mut bob) = logged_in(&s, "bob", false).await;
    let p = bob.get("/MAAS/r/settings").await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("<dd data-config=\"maas_name\">renamed</dd>"), "{}", p.body);
    assert!(!p.body.contains("action=\"/MAAS/r/settings\""));
    let c = p.csrf();
    let r =
        bob.post("/MAAS/r/settings", &[("maas_name", "bobs"), ("ntp_servers", "x"), ("csrfmiddlewaretoken", &c)]).await;
    assert_eq!(r.status, 403);
    assert_eq!(get("maas_name").await, "renamed");
    let r = ui.post("/MAAS/r/settings", &[("maas_name", "forged")]).await;
    assert_eq!(r.status, 403);
    assert_eq!(get("maas_name").await, "renamed");
});
