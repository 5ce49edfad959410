//! The web UI's Networks pages over real HTTP, on SQLite and PostgreSQL:
//! `/MAAS/r/networks` lists the fabrics, VLANs, subnets and spaces the API
//! made; a subnet's page shows its utilisation, ranges, used addresses and
//! routes; a VLAN's page its DHCP. An administrator's changes through the
//! forms show in the API afterwards, and the API's refusals (a bad CIDR, an
//! overlapping subnet, a range outside the subnet, DHCP without a rack, the
//! default fabric) appear on the page with the API's words and a 400. A
//! non-admin sees the same pages without controls and gets a 403 on every
//! POST; a POST without the CSRF token is a 403 that changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::ui::{logged_in, Page};
use common::*;
use serde_json::Value;

/// The API's words in an error answer: the first field message of a
/// validation error, or the plain body.
fn api_words(r: &Resp) -> String {
    match serde_json::from_str::<Value>(&r.body) {
        Ok(Value::Object(m)) => m.values().next().and_then(|v| v[0].as_str()).unwrap().to_string(),
        _ => r.body.clone(),
    }
}

/// The `<tr` element carrying `attr`, up to its end.
fn row<'a>(p: &'a Page, attr: &str) -> &'a str {
    let at = p.body.find(&format!("<tr {attr}")).unwrap_or_else(|| panic!("no row {attr}: {}", p.body));
    let rest = &p.body[at..];
    &rest[..rest.find("</tr>").unwrap()]
}

fn has(p: &Page, attr: &str) -> bool {
    p.body.contains(&format!("<tr {attr}"))
}

/// The CIDRs of every subnet, as the API lists them.
async fn cidrs(s: &TestServer, admin: &ApiKey) -> Vec<String> {
    let v = s.get(Some(admin), "subnets/").await.json();
    v.as_array().unwrap().iter().map(|x| x["cidr"].as_str().unwrap().to_string()).collect()
}

fn id(r: &Resp) -> String {
    assert!(r.status == 200 || r.status == 201, "{}: {}", r.status, r.body);
    r.json()["id"].as_i64().unwrap().to_string()
}

/// A fabric `fab-a` with VLAN 42 "storage" in space `sp-a`, subnets
/// 10.42.0.0/24 (gateway .1, a dynamic range, a reserved address, a route
/// to the second) and 10.43.0.0/24. Returns (vlan id, subnet id, second subnet id).
async fn model(s: &TestServer, admin: &ApiKey) -> (String, String, String) {
    let fabric = id(&s.post(Some(admin), "fabrics/", &[("name", "fab-a"), ("description", "rack row A")]).await);
    let vlan =
        id(&s.post(Some(admin), &format!("fabrics/{fabric}/vlans/"), &[("vid", "42"), ("name", "storage")]).await);
    id(&s.post(Some(admin), "spaces/", &[("name", "sp-a")]).await);
    id(&s.call(Some(admin), "PUT", &format!("vlans/{vlan}/"), &[("space", "sp-a")]).await);
    let subnet = id(&s
        .post(Some(admin), "subnets/", &[("cidr", "10.42.0.0/24"), ("vlan", &vlan), ("gateway_ip", "10.42.0.1")])
        .await);
    let other = id(&s.post(Some(admin), "subnets/", &[("cidr", "10.43.0.0/24"), ("name", "backup")]).await);
    id(&s
        .post(
            Some(admin),
            "ipranges/",
            &[("type", "dynamic"), ("start_ip", "10.42.0.100"), ("end_ip", "10.42.0.150"), ("comment", "pxe")],
        )
        .await);
    let r = s
        .post(
            Some(admin),
            "ipaddresses/?op=reserve",
            &[("subnet", "10.42.0.0/24"), ("ip", "10.42.0.50"), ("hostname", "printer")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    id(&s
        .post(
            Some(admin),
            "static-routes/",
            &[("source", &subnet), ("destination", &other), ("gateway_ip", "10.42.0.254"), ("metric", "5")],
        )
        .await);
    (vlan, subnet, other)
}

backend_tests!(networks_pages_show_the_model, |b| async move {
    let s = TestServer::start(b);
    let (admin, mut ui) = logged_in(&s, "admin", true).await;
    let (vlan, subnet, other) = model(&s, &admin).await;

    // The list: fabric → VLAN → subnet, and the spaces.
    let p = ui.get("/MAAS/r/networks").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(row(&p, "class=\"group\" data-name=\"fab-a\"").contains("rack row A"));
    assert!(row(&p, "class=\"group\" data-name=\"fabric-0\"").contains("Fabric fabric-0"));
    let r = row(&p, &format!("data-vlan=\"{vlan}\" data-subnet=\"10.42.0.0/24\""));
    assert!(r.contains("42 (storage)") && r.contains("sp-a") && r.contains("No DHCP"), "{r}");
    assert!(r.contains(&format!("href=\"/MAAS/r/subnet/{subnet}\"")) && r.contains(&format!("/MAAS/r/vlan/{vlan}")));
    assert!(row(&p, "data-vlan=\"5001\" data-subnet=\"10.43.0.0/24\"").contains("backup"));
    assert!(row(&p, "data-name=\"sp-a\"").contains("fab-a · 42 (storage)"));

    // The subnet: summary, utilisation (the API's statistics), ranges, used addresses, routes.
    let p = ui.get(&format!("/MAAS/r/subnet/{subnet}")).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("<h1>Subnet 10.42.0.0/24"), "{}", p.body);
    let stats = s.get(Some(&admin), &format!("subnets/{subnet}/?op=statistics")).await.json();
    assert_eq!(stats["num_available"], 201, "254 - gateway - reserved address - 51 in the range");
    assert!(p.body.contains("<dd id=\"available\">201 (79%)</dd>"), "{}", p.body);
    assert!(p.body.contains(&format!("<strong>{}</strong> used", stats["usage_string"].as_str().unwrap())));
    let r = row(&p, "data-range=\"10.42.0.100-10.42.0.150\"");
    assert!(r.contains("dynamic") && r.contains("pxe") && r.contains(">51<") && r.contains("admin"), "{r}");
    let r = row(&p, "data-ip=\"10.42.0.50\"");
    assert!(r.contains("User reserved") && r.contains("printer") && r.contains("admin"), "{r}");
    let r = row(&p, "data-route=");
    assert!(r.contains("10.43.0.0/24") && r.contains("10.42.0.254") && r.contains(">5<"), "{r}");
    assert!(r.contains(&format!("/MAAS/r/subnet/{other}")));

    // A machine's address shows with its node and interface.
    let m = ready_machine(&s, &admin, "web-1", 2, 2048).await;
    let ifaces = s.get(Some(&admin), &format!("nodes/{m}/interfaces/")).await.json();
    let iface = ifaces[0]["id"].as_i64().unwrap().to_string();
    // Commissioning linked it to the default VLAN's subnet already: a static address instead.
    for l in ifaces[0]["links"].as_array().unwrap() {
        let link = l["id"].to_string();
        let r =
            s.post(Some(&admin), &format!("nodes/{m}/interfaces/{iface}/?op=unlink_subnet"), &[("id", &link)]).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = s
        .post(
            Some(&admin),
            &format!("nodes/{m}/interfaces/{iface}/?op=link_subnet"),
            &[("mode", "static"), ("subnet", &other), ("ip_address", "10.43.0.7")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let p = ui.get(&format!("/MAAS/r/subnet/{other}")).await;
    let r = row(&p, "data-ip=\"10.43.0.7\"");
    assert!(r.contains(&format!("href=\"/MAAS/r/machine/{m}\">web-1</a>")) && r.contains("Static"), "{r}");

    // The VLAN: DHCP and subnets.
    let p = ui.get(&format!("/MAAS/r/vlan/{vlan}")).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("<h1>VLAN 42 (storage)"), "{}", p.body);
    assert!(p.body.contains("<dd id=\"dhcp-on\">Off</dd>"));
    assert!(row(&p, "data-subnet=\"10.42.0.0/24\"").contains("10.42.0.1"));

    // Unknown objects are 404 pages, the wrong method a 405.
    assert_eq!(ui.get("/MAAS/r/subnet/99999").await.status, 404);
    assert_eq!(ui.get("/MAAS/r/vlan/99999").await.status, 404);
    assert_eq!(ui.get("/MAAS/r/subnet/x").await.status, 404);
    assert_eq!(ui.get("/MAAS/r/networks/subnet/create").await.status, 405);
});

backend_tests!(admin_creates_edits_and_deletes, |b| async move {
    let s = TestServer::start(b);
    let (admin, mut ui) = logged_in(&s, "admin", true).await;
    let p = ui.get("/MAAS/r/networks").await;
    let csrf = p.csrf();
    let post = |path: &str, form: &[(&str, &str)]| {
        let mut form: Vec<(String, String)> = form.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        form.push(("csrfmiddlewaretoken".into(), csrf.clone()));
        (path.to_string(), form)
    };
    macro_rules! send {
        ($path:expr, $form:expr) => {{
            let (path, form) = post($path, $form);
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            ui.post(&path, &form).await
        }};
    }

    // A fabric, a VLAN on it, a space.
    let r = send!("/MAAS/r/networks/fabric/create", &[("name", "fab-b"), ("description", "")]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Added fabric fab-b."));
    let fabric = s.get(Some(&admin), "fabrics/fab-b/").await.json();
    let fid = fabric["id"].as_i64().unwrap().to_string();
    let r = send!("/MAAS/r/networks/vlan/create", &[("fabric", &fid), ("vid", "7"), ("name", "lab"), ("mtu", "9000")]);
    assert_eq!(r.status, 200, "{}", r.body);
    let v = s.get(Some(&admin), &format!("fabrics/{fid}/vlans/7/")).await.json();
    assert_eq!(v["mtu"], 9000);
    let vlan = v["id"].as_i64().unwrap().to_string();
    let r = send!("/MAAS/r/networks/vlan/create", &[("fabric", &fid), ("vid", "5000")]);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("VLAN id must be an integer between 0 and 4094: '5000'."), "{}", r.body);
    let r = send!("/MAAS/r/networks/space/create", &[("name", "dmz"), ("description", "edge")]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(row(&r, "data-name=\"dmz\"").contains("edge"));

    // A subnet through the form: shows in the API.
    let r = send!(
        "/MAAS/r/networks/subnet/create",
        &[
            ("cidr", "10.50.0.0/24"),
            ("name", "lab-net"),
            ("vlan", &vlan),
            ("gateway_ip", "10.50.0.1"),
            ("dns_servers", ""),
            ("description", "")
        ]
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Added subnet 10.50.0.0/24."), "{}", r.body);
    let sub = s.get(Some(&admin), "subnets/lab-net/").await.json();
    assert_eq!(sub["cidr"], "10.50.0.0/24");
    assert_eq!(sub["vlan"]["id"].as_i64().unwrap().to_string(), vlan);
    assert_eq!(sub["gateway_ip"], "10.50.0.1");
    let sid = sub["id"].as_i64().unwrap().to_string();
    assert!(has(&r, &format!("data-vlan=\"{vlan}\" data-subnet=\"10.50.0.0/24\"")));

    // A bad CIDR: the API's own words, its 400, what was typed kept.
    let api = s.post(Some(&admin), "subnets/", &[("cidr", "10.0.0.300/24")]).await;
    assert_eq!(api.status, 400, "{}", api.body);
    let r = send!("/MAAS/r/networks/subnet/create", &[("cidr", "10.0.0.300/24"), ("name", "oops")]);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.text().contains(&api_words(&api)), "{} not in {}", api_words(&api), r.body);
    assert!(r.body.contains("value=\"10.0.0.300/24\"") && r.body.contains("value=\"oops\""));
    // An overlapping subnet: likewise.
    let api = s.post(Some(&admin), "subnets/", &[("cidr", "10.50.0.0/25")]).await;
    assert_eq!(api.status, 400, "{}", api.body);
    let r = send!("/MAAS/r/networks/subnet/create", &[("cidr", "10.50.0.0/25")]);
    assert_eq!(r.status, 400);
    assert!(r.text().contains(&api_words(&api)), "{} not in {}", api_words(&api), r.body);

    // A reserved range through the subnet page's form.
    let base = format!("/MAAS/r/subnet/{sid}");
    let r = send!(
        &format!("{base}/range-create"),
        &[("type", "reserved"), ("start_ip", "10.50.0.10"), ("end_ip", "10.50.0.20"), ("comment", "switches")]
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Added a reserved range 10.50.0.10 – 10.50.0.20."), "{}", r.body);
    assert!(row(&r, "data-range=\"10.50.0.10-10.50.0.20\"").contains("switches"));
    let ranges = s.get(Some(&admin), "ipranges/").await.json();
    let range = ranges.as_array().unwrap().iter().find(|x| x["start_ip"] == "10.50.0.10").unwrap();
    assert_eq!((range["type"].as_str(), range["end_ip"].as_str()), (Some("reserved"), Some("10.50.0.20")));
    assert_eq!(range["subnet"]["id"].as_i64().unwrap().to_string(), sid);
    let rid = range["id"].as_i64().unwrap().to_string();
    // Outside the subnet: the API's words in the form, 400.
    let r = send!(
        &format!("{base}/range-create"),
        &[("type", "reserved"), ("start_ip", "10.60.0.1"), ("end_ip", "10.60.0.5")]
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let api = s
        .post(
            Some(&admin),
            "ipranges/",
            &[("type", "reserved"), ("start_ip", "10.60.0.1"), ("end_ip", "10.60.0.5"), ("subnet", &sid)],
        )
        .await;
    assert!(r.text().contains(&api_words(&api)), "{} not in {}", api_words(&api), r.body);
    assert!(r.body.contains("<details id=\"add-range\" open>"), "the refused form stays open");
    // Edit the range.
    let r = send!(
        &format!("{base}/range-edit"),
        &[
            ("key", &rid),
            ("type", "reserved"),
            ("start_ip", "10.50.0.10"),
            ("end_ip", "10.50.0.30"),
            ("comment", "more")
        ]
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.get(Some(&admin), &format!("ipranges/{rid}/")).await.json()["end_ip"], "10.50.0.30");

    // Edit the subnet: the unticked boxes are sent as false.
    let r = send!(
        &format!("{base}/edit"),
        &[
            ("cidr", "10.50.0.0/24"),
            ("name", "lab-net"),
            ("description", "the lab"),
            ("vlan", &vlan),
            ("gateway_ip", "10.50.0.254"),
            ("dns_servers", "10.50.0.2"),
            ("managed", "true")
        ]
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let sub = s.get(Some(&admin), &format!("subnets/{sid}/")).await.json();
    assert_eq!((sub["description"].as_str(), sub["gateway_ip"].as_str()), (Some("the lab"), Some("10.50.0.254")));
    assert_eq!((sub["allow_dns"].as_bool(), sub["managed"].as_bool()), (Some(false), Some(true)));

    // The VLAN page: DHCP without a primary rack is refused with the engine's words.
    let r = send!(
        &format!("/MAAS/r/vlan/{vlan}/dhcp"),
        &[("dhcp_on", "true"), ("primary_rack", ""), ("secondary_rack", ""), ("relay_vlan", "")]
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("dhcp can only be turned on when a primary rack controller is set."), "{}", r.body);
    assert_eq!(s.get(Some(&admin), &format!("vlans/{vlan}/")).await.json()["dhcp_on"], false);
    let r = send!(
        &format!("/MAAS/r/vlan/{vlan}/edit"),
        &[("vid", "8"), ("name", "lab2"), ("mtu", "1500"), ("space", "dmz"), ("description", "")]
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = s.get(Some(&admin), &format!("vlans/{vlan}/")).await.json();
    assert_eq!((v["vid"].as_i64(), v["space"].as_str()), (Some(8), Some("dmz")));
    // A VLAN with a subnet cannot be deleted: the engine's words.
    let r = send!(&format!("/MAAS/r/vlan/{vlan}/delete"), &[("confirm", "1")]);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("Can't delete VLAN; VLAN 8 still has 1 subnet(s)."), "{}", r.body);

    // Deleting: the range, then the subnet (each confirmed), the VLAN, the fabric, the space.
    let r = send!(&format!("{base}/range-delete"), &[("key", &rid)]);
    assert!(r.status == 200 && r.body.contains("Delete range 10.50.0.10 – 10.50.0.30?"), "{}", r.body);
    let r = send!(&format!("{base}/range-delete"), &[("key", &rid), ("confirm", "1")]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.get(Some(&admin), &format!("ipranges/{rid}/")).await.status, 404);
    let r = send!(&format!("{base}/delete"), &[]);
    assert!(r.status == 200 && r.body.contains("Delete subnet 10.50.0.0/24?"), "{}", r.body);
    assert_eq!(s.get(Some(&admin), &format!("subnets/{sid}/")).await.status, 200);
    let r = send!(&format!("{base}/delete"), &[("confirm", "1")]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Deleted the subnet.") && !r.body.contains("10.50.0.0/24"), "{}", r.body);
    assert_eq!(s.get(Some(&admin), &format!("subnets/{sid}/")).await.status, 404);
    let r = send!(&format!("/MAAS/r/vlan/{vlan}/delete"), &[("confirm", "1")]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.get(Some(&admin), &format!("vlans/{vlan}/")).await.status, 404);
    let r = send!("/MAAS/r/networks/fabric/delete", &[("key", &fid)]);
    assert!(r.status == 200 && r.body.contains("Delete fabric fab-b?"), "{}", r.body);
    let r = send!("/MAAS/r/networks/fabric/delete", &[("key", &fid), ("confirm", "1")]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.get(Some(&admin), &format!("fabrics/{fid}/")).await.status, 404);
    let r = send!("/MAAS/r/networks/fabric/delete", &[("key", "0"), ("confirm", "1")]);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("This fabric is the default fabric, it cannot be deleted."), "{}", r.body);
    let space = s.get(Some(&admin), "spaces/dmz/").await.json()["id"].as_i64().unwrap().to_string();
    let r = send!("/MAAS/r/networks/space/edit", &[("key", &space), ("name", "edge"), ("description", "moved")]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.get(Some(&admin), "spaces/edge/").await.json()["description"], "moved");
    let r = send!("/MAAS/r/networks/space/delete", &[("key", &space), ("confirm", "1")]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.get(Some(&admin), "spaces/edge/").await.status, 404);
});

backend_tests!(non_admin_reads_only_and_csrf_is_checked, |b| async move {
    let s = TestServer::start(b);
    let (admin, mut admin_ui) = logged_in(&s, "admin", true).await;
    let (vlan, subnet, _) = model(&s, &admin).await;
    let (_, mut ui) = logged_in(&s, "alice", false).await;

    // The same pages, no controls.
    let pages = ["/MAAS/r/networks".to_string(), format!("/MAAS/r/subnet/{subnet}"), format!("/MAAS/r/vlan/{vlan}")];
    for path in &pages {
        let p = ui.get(path).await;
        assert_eq!(p.status, 200, "{path}: {}", p.body);
        for needle in ["/create\"", "/edit\"", "/delete\"", "/dhcp\"", "range-create", "route-create"] {
            assert!(!p.body.contains(needle), "{path}: a non-admin is offered {needle}");
        }
    }
    let p = ui.get(&format!("/MAAS/r/subnet/{subnet}")).await;
    assert!(has(&p, "data-range=\"10.42.0.100-10.42.0.150\"") && has(&p, "data-ip=\"10.42.0.50\""));
    let csrf = p.csrf();

    // Every POST is a 403 with the API's words, and nothing changes.
    for (path, form) in [
        ("/MAAS/r/networks/subnet/create".to_string(), vec![("cidr", "10.70.0.0/24")]),
        ("/MAAS/r/networks/fabric/create".to_string(), vec![("name", "alices")]),
        ("/MAAS/r/networks/space/delete".to_string(), vec![("key", "1"), ("confirm", "1")]),
        (
            format!("/MAAS/r/subnet/{subnet}/range-create"),
            vec![("type", "reserved"), ("start_ip", "10.42.0.60"), ("end_ip", "10.42.0.61")],
        ),
        (format!("/MAAS/r/subnet/{subnet}/delete"), vec![("confirm", "1")]),
        (format!("/MAAS/r/vlan/{vlan}/edit"), vec![("vid", "43")]),
    ] {
        let mut form = form;
        form.push(("csrfmiddlewaretoken", &csrf));
        let r = ui.post(&path, &form).await;
        assert_eq!(r.status, 403, "{path}: {}", r.body);
        assert!(r.body.contains("administrators only"), "{}", r.body);
    }
    assert!(!cidrs(&s, &admin).await.contains(&"10.70.0.0/24".to_string()));
    assert_eq!(s.get(Some(&admin), "fabrics/alices/").await.status, 404);
    assert_eq!(s.get(Some(&admin), &format!("subnets/{subnet}/")).await.status, 200);
    assert_eq!(s.get(Some(&admin), "ipranges/").await.json().as_array().unwrap().len(), 1);
    assert_eq!(s.get(Some(&admin), &format!("vlans/{vlan}/")).await.json()["vid"], 42);

    // An administrator's POST without the CSRF token: 403, nothing made.
    let r = admin_ui.post("/MAAS/r/networks/subnet/create", &[("cidr", "10.80.0.0/24")]).await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("CSRF verification failed."), "{}", r.body);
    let r = admin_ui.post(&format!("/MAAS/r/subnet/{subnet}/delete"), &[("confirm", "1")]).await;
    assert_eq!(r.status, 403);
    assert!(!cidrs(&s, &admin).await.contains(&"10.80.0.0/24".to_string()));
    assert_eq!(s.get(Some(&admin), &format!("subnets/{subnet}/")).await.status, 200);
});
