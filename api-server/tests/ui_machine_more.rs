//! The web UI's machine forms over real HTTP, on SQLite and PostgreSQL:
//! adding a machine (the power type's parameters as a second step, the
//! API's refusals in the form with what was typed kept), adding a chassis
//! (the API's refusals, an unreachable chassis as the API's 503, and the
//! machines of a UCS Manager service enlisted), the bulk `test` and `tag`
//! actions with per-machine outcomes, and the machine page's results (with
//! their output, escaped) and configuration (zone, pool, tags changed
//! through the API). Administrators only where the API says so: a
//! non-admin gets 403 on every form and sees the page read-only; a POST
//! without the CSRF token is a 403 that changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../../power/tests/ucsm_service/mod.rs"]
mod ucsm_service;

use common::ui::{logged_in, Page, UiClient};
use common::*;
use ironpool_region::engine::results::{result_type, status, Report};
use ironpool_region::{db, engine};
use serde_json::Value;

const ADD: &str = "/MAAS/r/machines/add";
const CHASSIS: &str = "/MAAS/r/machines/add-chassis";
const ACTION: &str = "/MAAS/r/machines/action";

/// The API's words in an error answer: every field message of a
/// validation error, or the plain body.
fn api_words(r: &Resp) -> Vec<String> {
    match serde_json::from_str::<Value>(&r.body) {
        Ok(Value::Object(m)) => {
            m.values().flat_map(|v| v.as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string())).collect()
        }
        _ => vec![r.body.clone()],
    }
}

/// Asserts the page says every one of the API's words.
fn says(p: &Page, r: &Resp) {
    let t = p.text();
    for w in api_words(r) {
        assert!(t.contains(&w), "the API's words {w:?} are not on the page: {}", p.body);
    }
}

/// POSTs `form` with the CSRF token.
async fn send(ui: &mut UiClient, path: &str, csrf: &str, form: &[(&str, &str)]) -> Page {
    let mut f: Vec<(&str, &str)> = form.to_vec();
    f.push(("csrfmiddlewaretoken", csrf));
    ui.post(path, &f).await
}

async fn machine_count(s: &TestServer, admin: &ApiKey) -> usize {
    s.get(Some(admin), "machines/").await.json().as_array().unwrap().len()
}

backend_tests!(add_machine_through_the_form, |b| async move {
    let s = TestServer::start(b);
    let (admin, mut ui) = logged_in(&s, "admin", true).await;
    assert_eq!(s.post(Some(&admin), "zones/", &[("name", "rack-z")]).await.status, 200);
    assert_eq!(s.post(Some(&admin), "resourcepools/", &[("name", "gpu-pool")]).await.status, 200);

    // Offered on the machines page; the form lists every power type the
    // API describes, every input labelled.
    assert!(ui.get("/MAAS/r/machines").await.body.contains("href=\"/MAAS/r/machines/add\""));
    let form = ui.get(ADD).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let types = s.get(Some(&admin), "rackcontrollers/?op=describe_power_types").await.json();
    for t in types.as_array().unwrap() {
        let option = format!(
            "<option value=\"{}\">{}</option>",
            t["name"].as_str().unwrap(),
            t["description"].as_str().unwrap()
        );
        assert!(form.body.contains(&option), "{option} in {}", form.body);
    }
    for id in ["hostname", "domain", "architecture", "mac_addresses", "extra_macs", "zone", "pool", "power_type"] {
        assert!(form.body.contains(&format!("<label for=\"{id}\">")), "a label for {id}");
    }
    assert!(form.body.contains("<option value=\"amd64/generic\" selected>"), "{}", form.body);
    let csrf = form.csrf();

    // Choosing a power type with parameters shows them first: nothing is
    // sent to the API, what was typed stays.
    let mut fields = vec![
        ("hostname", "web-8"),
        ("architecture", "amd64/generic"),
        ("mac_addresses", "52:54:00:7a:00:01"),
        ("zone", "rack-z"),
        ("pool", "gpu-pool"),
        ("power_type", "ipmi"),
        ("shown_power_type", ""),
    ];
    let r = send(&mut ui, ADD, &csrf, &fields).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Fill in the IPMI power parameters"), "{}", r.body);
    assert!(r.body.contains("name=\"power_parameters_power_address\""));
    assert!(r.body.contains("<label for=\"pp-power_address\">"));
    assert!(r.body.contains("type=\"password\" name=\"power_parameters_power_pass\""), "secrets are password inputs");
    assert!(r.body.contains("value=\"web-8\"") && r.body.contains("<option value=\"rack-z\" selected>"));
    assert!(r.body.contains("name=\"shown_power_type\" value=\"ipmi\""));
    // The type's defaults are filled in (MAAS's IPMI driver and privilege).
    assert!(r.body.contains("<option value=\"LAN_2_0\" selected>"), "{}", r.body);
    assert!(r.body.contains("<option value=\"OPERATOR\" selected>"));
    assert!(r.body.contains("name=\"power_parameters_workaround_flags\" value=\"opensesspriv\""));
    assert_eq!(machine_count(&s, &admin).await, 0);

    // A missing power parameter: the API's words beside the field, its
    // 400, everything typed kept, nothing created.
    fields[6] = ("shown_power_type", "ipmi");
    let mut bad = fields.clone();
    bad.extend([("power_parameters_power_address", ""), ("power_parameters_power_user", "root")]);
    let r = send(&mut ui, ADD, &csrf, &bad).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let mut api: Vec<(&str, &str)> = bad.iter().filter(|(k, _)| *k != "shown_power_type").copied().collect();
    api.push(("commission", "false"));
    let refused = s.post(Some(&admin), "machines/", &api).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    says(&r, &refused);
    assert!(r.body.contains("id=\"err-power_parameters_power_address\""), "{}", r.body);
    assert!(r.body.contains("aria-invalid=\"true\" aria-describedby=\"err-power_parameters_power_address\""));
    assert!(r.body.contains("value=\"root\"") && r.body.contains("value=\"web-8\""));
    assert_eq!(machine_count(&s, &admin).await, 0);

    // A bad MAC: the API's words, the MAC kept for fixing.
    let mut bad = fields.clone();
    bad[2] = ("mac_addresses", "zz:zz:zz");
    bad.push(("power_parameters_power_address", "10.0.0.5"));
    let r = send(&mut ui, ADD, &csrf, &bad).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.text().contains("'zz:zz:zz' is not a valid MAC address."), "{}", r.body);
    assert!(r.body.contains("value=\"zz:zz:zz\"") && r.body.contains("value=\"10.0.0.5\""));

    // Saved: the machine's page, and the API has what the form said.
    let mut good = fields.clone();
    good.extend([
        ("power_parameters_power_address", "10.0.0.5"),
        ("power_parameters_power_user", "root"),
        ("power_parameters_power_pass", "s3cret"),
        ("description", "rack 4, slot 2"),
    ]);
    let r = send(&mut ui, ADD, &csrf, &good).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let to = r.location.clone().unwrap();
    let sid = to.strip_prefix("/MAAS/r/machine/").unwrap().to_string();
    let m = machine(&s, &admin, &sid).await;
    assert_eq!(m["hostname"], "web-8");
    assert_eq!(m["zone"]["name"], "rack-z");
    assert_eq!(m["pool"]["name"], "gpu-pool");
    assert_eq!(m["power_type"], "ipmi");
    assert_eq!(m["description"], "rack 4, slot 2");
    assert_eq!(m["status_name"], "New", "commission was not ticked");
    let p = s.get(Some(&admin), &format!("machines/{sid}/?op=power_parameters")).await.json();
    assert_eq!(p["power_address"], "10.0.0.5");
    assert_eq!(p["power_pass"], "s3cret");
    assert_eq!(p["power_driver"], "LAN_2_0", "the API's default");
    assert!(ui.get(&to).await.body.contains("web-8"));

    // The same MAC again: the API's words.
    let r = send(&mut ui, ADD, &csrf, &good).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("MAC address 52:54:00:7a:00:01 already in use."), "{}", r.body);

    // The script's redraw never saves; a type without parameters and the
    // commission box: commissioning starts.
    let manual = [
        ("architecture", "arm64/generic"),
        ("mac_addresses", "52:54:00:7a:00:02"),
        ("extra_macs", "52:54:00:7a:00:03, 52:54:00:7a:00:04"),
        ("power_type", "manual"),
        ("shown_power_type", "ipmi"),
        ("commission", "true"),
    ];
    let mut redraw = manual.to_vec();
    redraw.push(("redraw", "1"));
    let r = send(&mut ui, ADD, &csrf, &redraw).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("This power type has no parameters."));
    assert_eq!(machine_count(&s, &admin).await, 1);
    let r = send(&mut ui, ADD, &csrf, &manual).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let sid2 = r.location.unwrap().rsplit('/').next().unwrap().to_string();
    let m = machine(&s, &admin, &sid2).await;
    assert_eq!(m["status_name"], "Commissioning");
    assert_eq!(m["architecture"], "arm64/generic");
    let macs: Vec<&str> =
        m["interface_set"].as_array().unwrap().iter().map(|i| i["mac_address"].as_str().unwrap()).collect();
    assert_eq!(macs.len(), 3, "{macs:?}");
    assert_eq!(m["boot_interface"]["mac_address"], "52:54:00:7a:00:02", "the PXE MAC boots");

    // Without the CSRF token: 403, nothing added.
    let r = ui.post(ADD, &[("architecture", "amd64/generic"), ("mac_addresses", "52:54:00:7a:00:09")]).await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("CSRF verification failed."));
    // A non-admin: no link, 403 on the page and the POST, nothing added.
    let (_, mut bob) = logged_in(&s, "bob", false).await;
    let list = bob.get("/MAAS/r/machines").await;
    assert!(!list.body.contains("/MAAS/r/machines/add"));
    let r = bob.get(ADD).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("administrators only"));
    let r = send(&mut bob, ADD, &list.csrf(), &good).await;
    assert_eq!(r.status, 403);
    assert_eq!(machine_count(&s, &admin).await, 2);
});

backend_tests!(add_chassis_through_the_form, |b| async move {
    let s = TestServer::start(b);
    let (admin, mut ui) = logged_in(&s, "admin", true).await;
    let form = ui.get(CHASSIS).await;
    assert_eq!(form.status, 200, "{}", form.body);
    // The chassis types are the power types the API can probe.
    assert!(form.body.contains("<option value=\"virsh\"") && form.body.contains("<option value=\"ucsm\""));
    assert!(!form.body.contains("<option value=\"ipmi\""));
    for id in ["chassis_type", "chassis-hostname", "chassis-username", "chassis-password", "prefix_filter"] {
        assert!(form.body.contains(&format!("<label for=\"{id}\">")), "a label for {id}");
    }
    let csrf = form.csrf();

    // The API's checks, in its words, with what was typed kept.
    let virsh_user = [("chassis_type", "virsh"), ("hostname", "qemu:///system"), ("username", "root")];
    let r = send(&mut ui, CHASSIS, &csrf, &virsh_user).await;
    assert_eq!(r.status, 400, "{}", r.body);
    says(&r, &s.post(Some(&admin), "machines/?op=add_chassis", &virsh_user).await);
    assert!(r.text().contains("username can not be specified when using the virsh chassis."));
    assert!(r.body.contains("value=\"qemu:///system\"") && r.body.contains("value=\"root\""));
    let svc = ucsm_service::UcsService::start();
    let url = svc.url.clone();
    let no_pass = [("chassis_type", "ucsm"), ("hostname", url.as_str()), ("username", "admin")];
    let r = send(&mut ui, CHASSIS, &csrf, &no_pass).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("No provided password!"), "{}", r.body);
    // A wrong password: the API's 400 naming the refusal.
    let wrong = [("chassis_type", "ucsm"), ("hostname", url.as_str()), ("username", "admin"), ("password", "hunter2")];
    let r = send(&mut ui, CHASSIS, &csrf, &wrong).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.text().contains(&format!("Unable to probe chassis {url}")), "{}", r.body);
    // A manager that does not answer: the API's 503 and words, not a 500.
    let closed = format!("http://127.0.0.1:{}/", common::peers::free_tcp_port());
    let gone = [("chassis_type", "ucsm"), ("hostname", closed.as_str()), ("username", "a"), ("password", "b")];
    let r = send(&mut ui, CHASSIS, &csrf, &gone).await;
    assert_eq!(r.status, 503, "{}", r.body);
    let api = s.post(Some(&admin), "machines/?op=add_chassis", &gone).await;
    assert_eq!(api.status, 503);
    says(&r, &api);
    assert!(r.body.contains(&format!("value=\"{closed}\"")));
    assert_eq!(machine_count(&s, &admin).await, 0);

    // A manager with three bootable servers and one without a NIC.
    svc.add_server(
        "computeBlade",
        "sys/chassis-1/blade-1",
        "00000001-0000-4000-8000-000000000001",
        &["00:25:b5:00:01:01"],
        Some("default"),
        false,
    );
    svc.add_server(
        "computeBlade",
        "sys/chassis-1/blade-2",
        "00000001-0000-4000-8000-000000000002",
        &["00:25:b5:00:02:01"],
        Some("default"),
        true,
    );
    svc.add_server(
        "computeRackUnit",
        "sys/rack-unit-1",
        "00000001-0000-4000-8000-000000000003",
        &["00:25:b5:00:03:01"],
        Some("rack"),
        false,
    );
    svc.add_server(
        "computeBlade",
        "sys/chassis-1/blade-4",
        "00000001-0000-4000-8000-000000000004",
        &[],
        Some("default"),
        false,
    );
    let ok = [("chassis_type", "ucsm"), ("hostname", url.as_str()), ("username", "admin"), ("password", "password")];
    let r = send(&mut ui, CHASSIS, &csrf, &ok).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Added <span class=\"added-count\">3</span> machines from"), "{}", r.body);
    assert!(r.text().contains(&format!("Asking region to add machines from chassis {url}")));
    let list = s.get(Some(&admin), "machines/").await.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 3);
    for m in list {
        assert_eq!(m["power_type"], "ucsm");
        let sid = m["system_id"].as_str().unwrap();
        assert!(r.body.contains(&format!("href=\"/MAAS/r/machine/{sid}\"")), "{sid} linked: {}", r.body);
    }
    // Again: every server is known by its MACs.
    let r = send(&mut ui, CHASSIS, &csrf, &ok).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Added <span class=\"added-count\">0</span> machines from"), "{}", r.body);
    assert_eq!(machine_count(&s, &admin).await, 3);

    // Without the token, and for a non-admin: 403.
    assert_eq!(ui.post(CHASSIS, &ok).await.status, 403);
    let (_, mut bob) = logged_in(&s, "bob", false).await;
    assert_eq!(bob.get(CHASSIS).await.status, 403);
    let c = bob.get("/MAAS/r/machines").await.csrf();
    assert_eq!(send(&mut bob, CHASSIS, &c, &ok).await.status, 403);
});

backend_tests!(bulk_test_and_tag, |b| async move {
    let s = TestServer::start(b);
    let (admin, mut ui) = logged_in(&s, "admin", true).await;
    let m1 = ready_machine(&s, &admin, "bt-1", 2, 2048).await;
    let m2 = commissioning_machine(&s, &admin, "52:54:00:7b:00:02", "bt-2").await;
    let page = ui.get("/MAAS/r/machines").await;
    assert!(page.body.contains("<option value=\"test\">Test</option>"), "{}", page.body);
    assert!(page.body.contains("<option value=\"tag\">Tag</option>"));
    let csrf = page.csrf();

    // Test: the confirmation offers MAAS's options.
    let both = [("action", "test"), ("system_id", m1.as_str()), ("system_id", m2.as_str())];
    let r = send(&mut ui, ACTION, &csrf, &both).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Test 2 machines?"), "{}", r.body);
    assert!(r.body.contains("<label for=\"testing_scripts\">") && r.body.contains("name=\"enable_ssh\""));
    assert_eq!(machine(&s, &admin, &m1).await["status_name"], "Ready", "nothing before the confirmation");
    // Confirmed: one tests, the commissioning one is refused with the API's words.
    let refused = s.post(Some(&admin), &format!("machines/{m2}/?op=test"), &[]).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    let mut confirmed = both.to_vec();
    confirmed.push(("confirm", "1"));
    let r = send(&mut ui, ACTION, &csrf, &confirmed).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Test: 1 of 2 done"), "{}", r.body);
    assert!(r.body.contains(&format!("data-failed-sid=\"{m2}\"")), "{}", r.body);
    says(&r, &refused);
    assert_eq!(machine(&s, &admin, &m1).await["status_name"], "Testing");
    assert_eq!(machine(&s, &admin, &m2).await["status_name"], "Commissioning");

    // Tag: add to two machines and an unknown id, then remove from one.
    assert_eq!(s.post(Some(&admin), "tags/", &[("name", "gpu")]).await.status, 200);
    let r = send(&mut ui, ACTION, &csrf, &[("action", "tag"), ("system_id", &m1)]).await;
    assert!(r.body.contains("<option value=\"gpu\">gpu</option>"), "{}", r.body);
    assert!(r.body.contains("name=\"tag_mode\" value=\"remove\""));
    let add = [
        ("action", "tag"),
        ("tag", "gpu"),
        ("tag_mode", "add"),
        ("system_id", m1.as_str()),
        ("system_id", m2.as_str()),
        ("system_id", "nosuch"),
        ("confirm", "1"),
    ];
    let r = send(&mut ui, ACTION, &csrf, &add).await;
    assert!(r.body.contains("Tag: 2 of 3 done"), "{}", r.body);
    assert!(r.body.contains("data-failed-sid=\"nosuch\"") && r.body.contains("Unknown node(s): nosuch."), "{}", r.body);
    let tagged = s.get(Some(&admin), "tags/gpu/?op=machines").await.json();
    let mut ids: Vec<&str> = tagged.as_array().unwrap().iter().map(|m| m["system_id"].as_str().unwrap()).collect();
    ids.sort();
    let mut want = vec![m1.as_str(), m2.as_str()];
    want.sort();
    assert_eq!(ids, want);
    let remove =
        [("action", "tag"), ("tag", "gpu"), ("tag_mode", "remove"), ("system_id", m1.as_str()), ("confirm", "1")];
    let r = send(&mut ui, ACTION, &csrf, &remove).await;
    assert!(r.body.contains("Tag: 1 of 1 done"), "{}", r.body);
    assert_eq!(machine(&s, &admin, &m1).await["tag_names"], serde_json::json!([]));
    assert_eq!(machine(&s, &admin, &m2).await["tag_names"], serde_json::json!(["gpu"]));
    // An unknown tag: the API's words per machine.
    let r =
        send(&mut ui, ACTION, &csrf, &[("action", "tag"), ("tag", "nope"), ("system_id", &m1), ("confirm", "1")]).await;
    assert!(r.body.contains("Tag: 0 of 1 done") && r.body.contains("No Tag matches the given query."), "{}", r.body);

    // A non-admin is offered neither; posted anyway, the API refuses each machine.
    let (_, mut carol) = logged_in(&s, "carol", false).await;
    let p = carol.get("/MAAS/r/machines").await;
    assert!(!p.body.contains("value=\"test\"") && !p.body.contains("value=\"tag\""));
    let c = p.csrf();
    let r =
        send(&mut carol, ACTION, &c, &[("action", "tag"), ("tag", "gpu"), ("system_id", &m1), ("confirm", "1")]).await;
    assert!(r.body.contains("Tag: 0 of 1 done") && r.body.contains("administrators only"), "{}", r.body);
    let r = send(&mut carol, ACTION, &c, &[("action", "test"), ("system_id", &m2), ("confirm", "1")]).await;
    assert!(r.body.contains("Test: 0 of 1 done"), "{}", r.body);
    assert_eq!(machine(&s, &admin, &m1).await["tag_names"], serde_json::json!([]));
});

/// Records a script's report in the machine's current run of `rtype`, as
/// the metadata API's signal does.
async fn record(s: &TestServer, sid: &str, rtype: i32, report: Report) {
    let sid = sid.to_string();
    s.state
        .db
        .write(move |c| {
            let n = db::nodes::by_system_id(c, &sid)?.unwrap();
            engine::results::record(c, &n, rtype, &report)
        })
        .await
        .unwrap();
}

/// (set id, result id) of the script `name` in the machine's current run.
async fn result_ids(s: &TestServer, admin: &ApiKey, sid: &str, run: &str, name: &str) -> (i64, i64) {
    let set = s.get(Some(admin), &format!("nodes/{sid}/results/current-{run}/")).await.json();
    let r = set["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("{name} in {set}"));
    (set["id"].as_i64().unwrap(), r["id"].as_i64().unwrap())
}

backend_tests!(machine_page_results_and_configuration, |b| async move {
    let s = TestServer::start(b);
    let (admin, mut ui) = logged_in(&s, "admin", true).await;
    let m1 = commissioning_machine(&s, &admin, "52:54:00:7c:00:01", "res-1").await;
    let failed = Report {
        name: "30-check-disks".into(),
        status: status::FAILED,
        exit_status: Some(2),
        output: Some(b"<b>bold</b> & out".to_vec()),
        stdout: Some(b"to stdout".to_vec()),
        stderr: Some(b"oops".to_vec()),
        runtime: Some("0:00:03".into()),
        ..Default::default()
    };
    record(&s, &m1, result_type::COMMISSIONING, failed).await;
    let (set, rid) = result_ids(&s, &admin, &m1, "commissioning", "30-check-disks").await;

    // The section: each script with its status, exit code, runtime and a link.
    let page = ui.get(&format!("/MAAS/r/machine/{m1}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let at = page.body.find(&format!("<tr data-result=\"{rid}\">")).unwrap_or_else(|| panic!("{}", page.body));
    let row = &page.body[at..at + page.body[at..].find("</tr>").unwrap()];
    let link = format!("/MAAS/r/machine/{m1}/result/{set}/{rid}");
    for want in ["30-check-disks", ">Failed<", ">2<", "0:00:03", link.as_str()] {
        assert!(row.contains(want), "{want} in {row}");
    }
    assert!(page.body.contains("data-run=\"testing\""), "the testing run too");

    // The output, escaped; the other outputs; a bad choice is a 400.
    let out = ui.get(&link).await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert!(
        out.body.contains("&lt;b&gt;bold&lt;/b&gt; &amp; out") && !out.body.contains("<b>bold</b>"),
        "{}",
        out.body
    );
    assert!(ui.get(&format!("{link}?output=stdout")).await.body.contains("to stdout"));
    assert!(ui.get(&format!("{link}?output=stderr")).await.body.contains("oops"));
    assert_eq!(ui.get(&format!("{link}?output=bogus")).await.status, 400);
    assert_eq!(ui.get(&format!("/MAAS/r/machine/{m1}/result/{set}/999999")).await.status, 404);
    assert_eq!(ui.get(&format!("/MAAS/r/machine/{m1}/result/{set}/x")).await.status, 404);

    // The installation log, once a deployment wrote one.
    let log = Report {
        name: "/tmp/install.log".into(),
        status: status::PASSED,
        exit_status: Some(0),
        output: Some(b"curtin: installation finished".to_vec()),
        ..Default::default()
    };
    record(&s, &m1, result_type::INSTALLATION, log).await;
    let (iset, irid) = result_ids(&s, &admin, &m1, "installation", "/tmp/install.log").await;
    let page = ui.get(&format!("/MAAS/r/machine/{m1}")).await;
    let ilink = format!("/MAAS/r/machine/{m1}/result/{iset}/{irid}");
    assert!(page.body.contains("id=\"installation-log\"") && page.body.contains(&ilink), "{}", page.body);
    assert!(ui.get(&ilink).await.body.contains("curtin: installation finished"));

    // Another user's machine: its results are as hidden as the API hides them.
    let m3 = ready_machine(&s, &admin, "res-3", 2, 2048).await;
    let (alice_key, mut alice) = logged_in(&s, "alice", false).await;
    assert_eq!(s.post(Some(&alice_key), "machines/?op=allocate", &[("system_id", &m3)]).await.status, 200);
    record(
        &s,
        &m3,
        result_type::COMMISSIONING,
        Report {
            name: "secret-check".into(),
            status: status::PASSED,
            output: Some(b"alice only".to_vec()),
            ..Default::default()
        },
    )
    .await;
    let (set3, rid3) = result_ids(&s, &admin, &m3, "commissioning", "secret-check").await;
    let link3 = format!("/MAAS/r/machine/{m3}/result/{set3}/{rid3}");
    assert!(alice.get(&link3).await.body.contains("alice only"));
    let (bob_key, mut bob) = logged_in(&s, "bob", false).await;
    let api = s.get(Some(&bob_key), &format!("nodes/{m3}/results/{set3}/")).await;
    let r = bob.get(&link3).await;
    assert_eq!(r.status, api.status, "the API's answer: {}", api.body);
    assert_eq!(r.status, 403);
    assert!(!r.body.contains("alice only"));

    // Configuration: zone and pool through the API's update.
    assert_eq!(s.post(Some(&admin), "zones/", &[("name", "rack-z")]).await.status, 200);
    assert_eq!(s.post(Some(&admin), "resourcepools/", &[("name", "gpu-pool")]).await.status, 200);
    assert_eq!(s.post(Some(&admin), "tags/", &[("name", "gpu")]).await.status, 200);
    let page = ui.get(&format!("/MAAS/r/machine/{m1}")).await;
    assert!(
        page.body.contains("<label for=\"config-zone-select\">")
            && page.body.contains("<label for=\"tag-add-select\">")
    );
    let csrf = page.csrf();
    let cfg = format!("/MAAS/r/machine/{m1}/config");
    let r = send(&mut ui, &cfg, &csrf, &[("zone", "rack-z"), ("pool", "gpu-pool")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Saved the zone and resource pool."));
    let m = machine(&s, &admin, &m1).await;
    assert_eq!((m["zone"]["name"].as_str(), m["pool"]["name"].as_str()), (Some("rack-z"), Some("gpu-pool")));
    // Refused: the API's words and status, nothing changed.
    let r = send(&mut ui, &cfg, &csrf, &[("zone", "nosuch")]).await;
    let api = s.call(Some(&admin), "PUT", &format!("machines/{m1}/"), &[("zone", "nosuch")]).await;
    assert_eq!(r.status, api.status, "{}", r.body);
    assert_eq!(r.status, 400);
    says(&r, &api);
    assert_eq!(machine(&s, &admin, &m1).await["zone"]["name"], "rack-z");
    // Tags: add, the API's refusal of an unknown one, remove.
    let r = send(&mut ui, &format!("/MAAS/r/machine/{m1}/tag-add"), &csrf, &[("tag", "gpu")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Added tag gpu.") && r.body.contains("data-tag=\"gpu\""));
    assert!(r.body.contains("aria-label=\"Remove tag gpu\""));
    assert_eq!(machine(&s, &admin, &m1).await["tag_names"], serde_json::json!(["gpu"]));
    let r = send(&mut ui, &format!("/MAAS/r/machine/{m1}/tag-add"), &csrf, &[("tag", "nope")]).await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.body.contains("No Tag matches the given query."));
    let r = send(&mut ui, &format!("/MAAS/r/machine/{m1}/tag-add"), &csrf, &[]).await;
    assert_eq!(r.status, 400);
    let r = send(&mut ui, &format!("/MAAS/r/machine/{m1}/tag-remove"), &csrf, &[("tag", "gpu")]).await;
    assert!(r.body.contains("Removed tag gpu."), "{}", r.body);
    assert_eq!(machine(&s, &admin, &m1).await["tag_names"], serde_json::json!([]));
    // Without the token: 403, nothing changes.
    assert_eq!(ui.post(&cfg, &[("zone", "default")]).await.status, 403);
    assert_eq!(machine(&s, &admin, &m1).await["zone"]["name"], "rack-z");
    assert_eq!(send(&mut ui, &format!("/MAAS/r/machine/{m1}/explode"), &csrf, &[]).await.status, 404);
    assert_eq!(ui.get(&cfg).await.status, 405);

    // A non-admin: the results and the configuration read-only, 403 on a POST.
    assert_eq!(s.post(Some(&admin), "tags/gpu/?op=update_nodes", &[("add", &m1)]).await.status, 200);
    let page = bob.get(&format!("/MAAS/r/machine/{m1}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(&link) && page.body.contains("id=\"config\""));
    assert!(page.body.contains("rack-z") && page.body.contains("data-tag=\"gpu\""));
    assert!(!page.body.contains(&cfg) && !page.body.contains("tag-remove") && !page.body.contains("tag-add"));
    assert!(!page.body.contains("id=\"configuration\""), "no power configuration");
    let r = send(&mut bob, &cfg, &page.csrf(), &[("zone", "default")]).await;
    assert_eq!(r.status, 403);
    assert_eq!(machine(&s, &admin, &m1).await["zone"]["name"], "rack-z");
    assert_eq!(bob.get(&format!("/MAAS/r/machine/{m3}")).await.status, 403);
});
