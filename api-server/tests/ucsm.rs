//! Cisco UCS Manager through the API: `machines/?op=add_chassis` with
//! `chassis_type=ucsm` enlists the manager's servers with their MACs and
//! MAAS's power parameters, and those machines power through a real rack
//! daemon against the manager. No real manager can run here: the manager
//! is the UCS XML API service of `power/tests/ucsm_service`, which speaks
//! the documented protocol over HTTP and holds state.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;
#[path = "../../power/tests/ucsm_service/mod.rs"]
mod ucsm_service;

use std::time::{Duration, Instant};

use common::*;
use ironpool_common::rack_link::RackInterface;
use ironpool_rack::link::{Rack, RackOptions};
use ucsm_service::UcsService;

const OP: &str = "machines/?op=add_chassis";

fn uuid(b: Backend, i: u8) -> String {
    let n = if b == Backend::Sqlite { 1 } else { 2 };
    format!("0000000{n}-0000-4000-8000-0000000000{i:02}")
}

fn mac(b: Backend, i: u8, j: u8) -> String {
    let n = if b == Backend::Sqlite { 1 } else { 2 };
    format!("00:25:b5:{n:02}:{i:02}:{j:02}")
}

/// A manager with three bootable servers (two NICs on the first) and one
/// without a NIC, which MAAS leaves out.
fn manager(b: Backend) -> UcsService {
    let svc = UcsService::start();
    let (m11, m12, m2, m3) = (mac(b, 1, 1), mac(b, 1, 2), mac(b, 2, 1), mac(b, 3, 1));
    svc.add_server("computeBlade", "sys/chassis-1/blade-1", &uuid(b, 1), &[&m11, &m12], Some("default"), false);
    svc.add_server("computeBlade", "sys/chassis-1/blade-2", &uuid(b, 2), &[&m2], Some("default"), true);
    svc.add_server("computeRackUnit", "sys/rack-unit-1", &uuid(b, 3), &[&m3], Some("rack"), false);
    svc.add_server("computeBlade", "sys/chassis-1/blade-4", &uuid(b, 4), &[], Some("default"), false);
    svc
}

fn ucs_form<'a>(svc: &'a UcsService, pass: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("chassis_type", "ucsm"), ("hostname", svc.url.as_str()), ("username", "admin"), ("password", pass)]
}

backend_tests!(add_chassis_ucsm_checks_its_parameters_in_maas_words, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let svc = manager(b);
    let url = svc.url.as_str();
    let r = s.post(Some(&admin), OP, &[("chassis_type", "ucsm"), ("hostname", url)]).await;
    expect(&r, 400, "No provided username!");
    assert!(r.content_type.as_deref().unwrap_or("").starts_with("text/plain"), "{:?}", r.content_type);
    let r = s.post(Some(&admin), OP, &[("chassis_type", "ucsm"), ("hostname", url), ("username", "admin")]).await;
    expect(&r, 400, "No provided password!");
    let mut form = ucs_form(&svc, "password");
    form.push(("prefix_filter", "blade"));
    expect(&s.post(Some(&admin), OP, &form).await, 400, "prefix_filter is unavailable with the ucsm chassis type");
    let mut form = ucs_form(&svc, "password");
    form.push(("port", "443"));
    expect(&s.post(Some(&admin), OP, &form).await, 400, "port is unavailable with the ucsm chassis type");
    let mut form = ucs_form(&svc, "password");
    form.push(("domain", "nosuch"));
    expect(&s.post(Some(&admin), OP, &form).await, 404, "Unable to find specified domain nosuch");
    assert!(svc.lock().methods.is_empty(), "nothing contacted the manager yet");

    // A wrong password: 400 naming the refusal, the password nowhere, nothing enlisted.
    let r = s.post(Some(&admin), OP, &ucs_form(&svc, "hunter2")).await;
    expect(&r, 400, &format!("Unable to probe chassis {url}"));
    expect(&r, 400, "rejected the credentials: the UCS Manager refused the login (error 551)");
    assert!(!r.body.contains("hunter2"), "{}", r.body);
    assert_eq!(svc.lock().failed_logins, 1);
    // Not a URL, and a manager that does not answer.
    let form = [("chassis_type", "ucsm"), ("hostname", "ucs.example"), ("username", "a"), ("password", "b")];
    expect(&s.post(Some(&admin), OP, &form).await, 400, "power_address must be the UCS Manager's URL");
    let closed = format!("http://127.0.0.1:{}/", common::peers::free_tcp_port());
    let form = [("chassis_type", "ucsm"), ("hostname", closed.as_str()), ("username", "a"), ("password", "b")];
    expect(&s.post(Some(&admin), OP, &form).await, 503, "Unable to probe chassis");
    assert_eq!(s.get(Some(&admin), "machines/").await.json().as_array().unwrap().len(), 0);

    // A user who is not an administrator cannot add a chassis.
    let user = s.user("alice", false).await;
    assert_eq!(s.post(Some(&user), OP, &ucs_form(&svc, "password")).await.status, 403);

    // describe_power_types lists ucsm with MAAS's fields, as a chassis driver.
    let types = s.get(Some(&admin), "rackcontrollers/?op=describe_power_types").await.json();
    let ucsm = types.as_array().unwrap().iter().find(|t| t["name"] == "ucsm").expect("ucsm listed").clone();
    let names: Vec<&str> = ucsm["fields"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["uuid", "power_address", "power_user", "power_pass"]);
    assert_eq!(ucsm["description"], "Cisco UCS Manager");
    assert_eq!(ucsm["chassis"], true);
    assert_eq!(ucsm["can_probe"], true);
});

fn rack_options(s: &TestServer, dir: &std::path::Path) -> RackOptions {
    let mut o = RackOptions::new(vec![s.origin.clone()], s.state.rack_secret.clone(), dir.to_path_buf());
    o.hostname = "rack-ucs".into();
    o.interfaces = Some(vec![RackInterface {
        name: "eth0".into(),
        mac: "52:54:00:0f:0c:01".into(),
        addresses: vec!["10.81.0.2/24".into()],
    }]);
    o.http_listen = Some("127.0.0.1:0".parse().unwrap());
    o.tftp_listen = None;
    o.dhcp_listen = None;
    o.heartbeat = Some(Duration::from_millis(100));
    o.max_backoff = Duration::from_millis(300);
    o.request_timeout = Duration::from_secs(5);
    o
}

async fn wait_power(s: &TestServer, admin: &ApiKey, sid: &str, want: &str) {
    let start = Instant::now();
    loop {
        let m = machine(s, admin, sid).await;
        if m["power_state"] == want {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "power_state never became {want}: {}", m["power_state"]);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

backend_tests!(add_chassis_enlists_ucs_servers_that_power_through_the_rack, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let rdir = tempfile::tempdir().unwrap();
    let rack = Rack::start(rack_options(&s, rdir.path())).await.unwrap();
    let start = Instant::now();
    while rack.state.system_id().is_none() {
        assert!(start.elapsed() < Duration::from_secs(10), "the rack never registered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let svc = manager(b);
    let r = s.post(Some(&admin), "domains/", &[("name", "ucs.example")]).await;
    assert_eq!(r.status, 200, "{}", r.body);

    let mut form = ucs_form(&svc, "password");
    form.push(("domain", "ucs.example"));
    let r = s.post(Some(&admin), OP, &form).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, format!("Asking region to add machines from chassis {}", svc.url));
    let list = s.get(Some(&admin), "machines/").await.json();
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 3, "the three servers with a NIC: {list:?}");

    let mut sids = Vec::new();
    for (i, macs) in [(1u8, vec![mac(b, 1, 1), mac(b, 1, 2)]), (2, vec![mac(b, 2, 1)]), (3, vec![mac(b, 3, 1)])] {
        let m = list
            .iter()
            .find(|m| m["interface_set"].as_array().unwrap().iter().any(|n| n["mac_address"] == macs[0].as_str()))
            .unwrap_or_else(|| panic!("a machine with {} in {list:?}", macs[0]))
            .clone();
        let got: Vec<&str> =
            m["interface_set"].as_array().unwrap().iter().map(|n| n["mac_address"].as_str().unwrap()).collect();
        assert_eq!(got, macs.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(m["power_type"], "ucsm");
        assert_eq!(m["architecture"], "amd64/generic");
        assert_eq!(m["status_name"], "New");
        assert!(m["fqdn"].as_str().unwrap().ends_with(".ucs.example"), "{}", m["fqdn"]);
        let sid = m["system_id"].as_str().unwrap().to_string();
        let p = s.get(Some(&admin), &format!("machines/{sid}/?op=power_parameters")).await.json();
        assert_eq!(p["power_address"], svc.url.as_str());
        assert_eq!(p["power_user"], "admin");
        assert_eq!(p["power_pass"], "password");
        assert_eq!(p["uuid"], uuid(b, i).as_str());
        sids.push(sid);
    }
    // Both boot policies now boot from LAN first, and no cookie was left.
    assert_eq!(svc.lock().lan_order("org-root/boot-policy-default").as_deref(), Some("1"));
    assert_eq!(svc.lock().lan_order("org-root/boot-policy-rack").as_deref(), Some("1"));
    assert!(svc.lock().cookies.is_empty());

    // Again: the servers are known by their MACs, nothing new.
    let r = s.post(Some(&admin), OP, &ucs_form(&svc, "password")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.get(Some(&admin), "machines/").await.json().as_array().unwrap().len(), 3);

    // The query asks the manager.
    let r = s.get(Some(&admin), &format!("machines/{}/?op=query_power_state", sids[1])).await;
    assert_eq!(r.json()["state"], "on", "{}", r.body);
    let r = s.get(Some(&admin), &format!("machines/{}/?op=query_power_state", sids[0])).await;
    assert_eq!(r.json()["state"], "off", "{}", r.body);

    // Commissioning powers the server on through the rack; aborting powers it off.
    let before = rack.state.power_commands.load(std::sync::atomic::Ordering::Relaxed);
    let r = s.post(Some(&admin), &format!("machines/{}/?op=commission", sids[0]), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    wait_power(&s, &admin, &sids[0], "on").await;
    assert_eq!(svc.lock().server(&uuid(b, 1)).oper_power, "on");
    assert!(rack.state.power_commands.load(std::sync::atomic::Ordering::Relaxed) > before, "the rack ran it");
    assert_eq!(svc.lock().server(&uuid(b, 3)).oper_power, "off", "only that server");
    let r = s.post(Some(&admin), &format!("machines/{}/?op=abort", sids[0]), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    wait_power(&s, &admin, &sids[0], "off").await;
    assert_eq!(svc.lock().server(&uuid(b, 1)).oper_power, "off");
    let changes: Vec<String> = svc.lock().power_changes.iter().map(|(_, c)| c.clone()).collect();
    assert!(changes.contains(&"admin-up".to_string()) && changes.contains(&"admin-down".to_string()), "{changes:?}");

    // A wrong stored password: the power action fails with a reason that
    // names the refusal, never the password.
    let pass = [("power_parameters_power_pass", "s3cr3t-wrong")];
    let r = s.call(Some(&admin), "PUT", &format!("machines/{}/", sids[2]), &pass).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.post(Some(&admin), &format!("machines/{}/?op=commission", sids[2]), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    wait_power(&s, &admin, &sids[2], "error").await;
    let ev = s.get(Some(&admin), &format!("events/?op=query&id={}", sids[2])).await.json();
    let text = ev.to_string();
    assert!(text.contains("refused the login (error 551)"), "{text}");
    assert!(!text.contains("s3cr3t-wrong"), "{text}");
    assert_eq!(svc.lock().server(&uuid(b, 3)).oper_power, "off");

    // accept_all commissions what it enlists, which powers the new server on.
    let late = mac(b, 5, 1);
    svc.add_server("computeRackUnit", "sys/rack-unit-5", &uuid(b, 5), &[&late], Some("rack"), false);
    let mut form = ucs_form(&svc, "password");
    form.push(("accept_all", "true"));
    let r = s.post(Some(&admin), OP, &form).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let list = s.get(Some(&admin), &format!("machines/?mac_address={late}")).await.json();
    let m = list.as_array().unwrap().first().expect("the new server enlisted").clone();
    assert_eq!(m["status_name"], "Commissioning");
    wait_power(&s, &admin, m["system_id"].as_str().unwrap(), "on").await;
    assert_eq!(svc.lock().server(&uuid(b, 5)).oper_power, "on");
    rack.stop().await;
});
