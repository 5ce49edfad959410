//! Power drivers through the API: power types without a driver refused at
//! create, update and enlistment; a webhook machine powered against a real
//! HTTP service; `machines/?op=add_chassis` enlisting the domains of a real
//! libvirtd (qemu:///system), which then power through libvirt. Needs
//! tests/qemu-setup.sh and tests/libvirt-setup.sh for the virsh parts.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use common::peers::{start_webhook_peer, virsh, TestDomain};
use common::*;

const SUPPORTED: &str = "Supported power types: ipmi, manual, redfish, ucsm, virsh, virtual, webhook.";

async fn jobs(s: &TestServer) {
    ironpool_region::engine::jobs::worker::run_due(&s.state.db, &s.state.power).await.unwrap();
}

fn tag(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => "sq",
        Backend::Postgres => "pg",
    }
}

backend_tests!(power_types_without_a_driver_are_refused, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let base = [("architecture", "amd64/generic"), ("commission", "false")];
    let create = |mac: &'static str, ptype: &'static str| {
        let mut f = base.to_vec();
        f.extend([("mac_addresses", mac), ("power_type", ptype)]);
        f
    };
    for t in ["amt", "apc", "vmware", "lxd", "proxmox", "hmcz"] {
        let r = s.post(Some(&admin), "machines/", &create("52:54:00:30:00:01", t)).await;
        expect(&r, 400, SUPPORTED);
        assert!(r.json()["power_type"][0].as_str().unwrap().contains(&format!("'{t}'")), "{}", r.body);
    }
    // An unknown name: Django's choice words, with the supported list.
    let r = s.post(Some(&admin), "machines/", &create("52:54:00:30:00:01", "telepathy")).await;
    expect(&r, 400, "Select a valid choice. telepathy is not one of the available choices");
    // Anonymous enlistment is refused the same way (and nothing is stored).
    let r = s.post(None, "machines/", &create("52:54:00:30:00:02", "amt")).await;
    expect(&r, 400, SUPPORTED);
    let r = s.get(Some(&admin), "machines/?mac_address=52:54:00:30:00:02").await;
    assert_eq!(r.json().as_array().unwrap().len(), 0);

    // Supported types are stored; update to a type without a driver is refused.
    let r = s.post(Some(&admin), "machines/", &create("52:54:00:30:00:03", "manual")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sid = r.json()["system_id"].as_str().unwrap().to_string();
    let r = s.call(Some(&admin), "PUT", &format!("machines/{sid}/"), &[("power_type", "apc")]).await;
    expect(&r, 400, SUPPORTED);
    assert_eq!(machine(&s, &admin, &sid).await["power_type"], "manual");

    // webhook and virsh are accepted with MAAS's parameters and defaults.
    let r = s
        .call(
            Some(&admin),
            "PUT",
            &format!("machines/{sid}/"),
            &[
                ("power_type", "webhook"),
                ("power_parameters_power_on_uri", "http://hooks.example/on"),
                ("power_parameters_power_off_uri", "http://hooks.example/off"),
                ("power_parameters_power_query_uri", "http://hooks.example/status"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let p = s.get(Some(&admin), &format!("machines/{sid}/?op=power_parameters")).await.json();
    assert_eq!(p["power_on_regex"], r"status.*\:.*running");
    assert_eq!(p["power_off_regex"], r"status.*\:.*stopped");
    assert_eq!(p["power_verify_ssl"], "n");
    let r = s.call(Some(&admin), "PUT", &format!("machines/{sid}/"), &[("power_type", "webhook")]).await;
    assert_eq!(r.status, 200, "same type, stored parameters kept: {}", r.body);
    let r = s
        .call(
            Some(&admin),
            "PUT",
            &format!("machines/{sid}/"),
            &[("power_type", "virsh"), ("power_parameters_power_address", "qemu:///system")],
        )
        .await;
    expect(&r, 400, "power_parameters_power_id");
});

backend_tests!(webhook_machine_powers_through_a_real_service, |b| async move {
    let s = TestServer::start_with(b, |c| c.run_jobs = false);
    let admin = s.user("admin", true).await;
    let dir = tempfile::tempdir().unwrap();
    let peer = start_webhook_peer(dir.path(), None, Some("Bearer hook-token"));
    let r = s
        .post(
            Some(&admin),
            "machines/",
            &[
                ("architecture", "amd64/generic"),
                ("mac_addresses", "52:54:00:31:00:01"),
                ("deployed", "true"),
                ("power_type", "webhook"),
                ("power_parameters_power_on_uri", &format!("{}/power/on", peer.base)),
                ("power_parameters_power_off_uri", &format!("{}/power/off", peer.base)),
                ("power_parameters_power_query_uri", &format!("{}/power/status", peer.base)),
                ("power_parameters_power_token", "hook-token"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sid = r.json()["system_id"].as_str().unwrap().to_string();

    assert_eq!(s.post(Some(&admin), &format!("machines/{sid}/?op=power_on"), &[]).await.status, 200);
    jobs(&s).await;
    assert_eq!(machine(&s, &admin, &sid).await["power_state"], "on");
    let on = peer.requests().into_iter().find(|r| r["path"] == "/power/on").expect("the on URI was called");
    assert_eq!(on["method"], "POST");
    assert_eq!(on["system_id"], sid.as_str(), "MAAS's System_Id header");
    assert_eq!(on["authorization"], "Bearer hook-token");
    let r = s.get(Some(&admin), &format!("machines/{sid}/?op=query_power_state")).await;
    assert_eq!(r.json()["state"], "on", "{}", r.body);

    // A service that fails: power_state error and an event with the status.
    let r = s
        .call(
            Some(&admin),
            "PUT",
            &format!("machines/{sid}/"),
            &[("power_parameters_power_off_uri", &format!("{}/broken", peer.base))],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.post(Some(&admin), &format!("machines/{sid}/?op=power_off"), &[]).await.status, 200);
    jobs(&s).await;
    assert_eq!(machine(&s, &admin, &sid).await["power_state"], "error");
    let events = s.get(Some(&admin), &format!("events/?op=query&id={sid}")).await.json();
    let text = events.to_string();
    assert!(text.contains("Request failed with response status code: 500."), "{text}");
    assert!(!text.contains("secret-internal-detail"), "{text}");
});

backend_tests!(add_chassis_checks_its_parameters_in_maas_words, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let user = s.user("alice", false).await;
    let op = "machines/?op=add_chassis";
    expect(&s.post(Some(&admin), op, &[("hostname", "qemu:///system")]).await, 400, "No provided chassis_type!");
    for t in ["redfish", "vmware"] {
        let r = s.post(Some(&admin), op, &[("chassis_type", t), ("hostname", "x")]).await;
        expect(&r, 400, &format!("Invalid chassis_type: Value must be one of: powerkvm; ucsm; virsh (not '{t}')"));
        assert!(r.content_type.as_deref().unwrap_or("").starts_with("text/plain"), "{:?}", r.content_type);
    }
    expect(&s.post(Some(&admin), op, &[("chassis_type", "virsh")]).await, 400, "No provided hostname!");
    let virsh_with =
        |k: &'static str, v: &'static str| [("chassis_type", "virsh"), ("hostname", "qemu:///system"), (k, v)];
    expect(
        &s.post(Some(&admin), op, &virsh_with("username", "root")).await,
        400,
        "username can not be specified when using the virsh chassis.",
    );
    expect(
        &s.post(Some(&admin), op, &virsh_with("power_control", "ipmi")).await,
        400,
        "power_control is unavailable with the virsh chassis type",
    );
    expect(
        &s.post(Some(&admin), op, &virsh_with("port", "0")).await,
        400,
        "Invalid port: Please enter a number that is 1 or greater",
    );
    expect(
        &s.post(Some(&admin), op, &virsh_with("port", "22")).await,
        400,
        "port is unavailable with the virsh chassis type",
    );
    expect(
        &s.post(Some(&admin), op, &virsh_with("protocol", "https")).await,
        400,
        "protocol is unavailable with the virsh chassis type",
    );
    expect(
        &s.post(Some(&admin), op, &virsh_with("domain", "nosuch")).await,
        404,
        "Unable to find specified domain nosuch",
    );
    expect(
        &s.post(Some(&admin), op, &virsh_with("rack_controller", "norack")).await,
        404,
        "Unable to find specified rack norack",
    );
    assert_eq!(s.post(Some(&user), op, &[("chassis_type", "virsh"), ("hostname", "qemu:///system")]).await.status, 403);
    // MAAS refuses URI parameters (they name programs libvirt would run).
    expect(
        &s.post(Some(&admin), op, &[("chassis_type", "virsh"), ("hostname", "qemu:///system?command=/bin/sh")]).await,
        400,
        "Supplying extra parameters to the Virsh address is not supported.",
    );
    // A host nobody answers at: 503, nothing enlisted.
    let closed = format!("qemu+ssh://root@127.0.0.1:{}/system", common::peers::free_tcp_port());
    let r = s.post(Some(&admin), op, &[("chassis_type", "virsh"), ("hostname", &closed)]).await;
    expect(&r, 503, "Unable to probe chassis");
    assert_eq!(s.get(Some(&admin), "machines/").await.json().as_array().unwrap().len(), 0);
});

backend_tests!(add_chassis_enlists_libvirt_domains_that_then_power_through_libvirt, |b| async move {
    let s = TestServer::start_with(b, |c| c.run_jobs = false);
    let admin = s.user("admin", true).await;
    let prefix = format!("ipapi-{}-{}", tag(b), std::process::id());
    let n = if b == Backend::Sqlite { 1 } else { 2 };
    let web = TestDomain::define(
        &format!("{prefix}-Web_1"),
        &[&format!("52:54:00:4{n}:00:01"), &format!("52:54:00:4{n}:00:02")],
    );
    let db = TestDomain::define(&format!("{prefix}-db"), &[&format!("52:54:00:4{n}:00:03")]);
    let _other = TestDomain::define(&format!("other-{prefix}"), &[&format!("52:54:00:4{n}:00:04")]);
    virsh(&["start", &db.name]);

    let form = [("chassis_type", "virsh"), ("hostname", "qemu:///system"), ("prefix_filter", prefix.as_str())];
    let r = s.post(Some(&admin), "machines/?op=add_chassis", &form).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, "Asking region to add machines from chassis qemu:///system");
    let list = s.get(Some(&admin), "machines/").await.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2, "the prefixed domains only: {list:?}");
    let by_host =
        |h: &str| list.iter().find(|m| m["hostname"] == h).unwrap_or_else(|| panic!("{h} in {list:?}")).clone();
    let m_web = by_host(&format!("{prefix}-web-1").to_ascii_lowercase());
    let m_db = by_host(&format!("{prefix}-db"));
    assert_eq!(m_web["power_type"], "virsh");
    assert_eq!(m_web["architecture"], "amd64/generic");
    assert_eq!(m_web["status_name"], "New");
    let macs: Vec<&str> =
        m_web["interface_set"].as_array().unwrap().iter().map(|i| i["mac_address"].as_str().unwrap()).collect();
    assert_eq!(macs, web.macs.iter().map(String::as_str).collect::<Vec<_>>());
    let sid_db = m_db["system_id"].as_str().unwrap().to_string();
    let p = s.get(Some(&admin), &format!("machines/{sid_db}/?op=power_parameters")).await.json();
    assert_eq!(p["power_address"], "qemu:///system");
    assert_eq!(p["power_id"], db.name.as_str());
    // The running domain was forced off and boots from the network first.
    assert_eq!(db.state(), "shut off");
    let xml = virsh(&["dumpxml", "--inactive", &db.name]);
    assert!(xml.find("<boot dev='network'/>").unwrap() < xml.find("<boot dev='hd'/>").unwrap(), "{xml}");

    // Again: the domains are known by their MACs, nothing new.
    let r = s.post(Some(&admin), "machines/?op=add_chassis", &form).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.get(Some(&admin), "machines/").await.json().as_array().unwrap().len(), 2);

    // The enlisted machine powers through libvirt: the query asks libvirtd,
    // commissioning starts the domain, aborting it powers the domain off.
    let r = s.get(Some(&admin), &format!("machines/{sid_db}/?op=query_power_state")).await;
    assert_eq!(r.json()["state"], "off", "{}", r.body);
    virsh(&["start", &db.name]);
    let r = s.get(Some(&admin), &format!("machines/{sid_db}/?op=query_power_state")).await;
    assert_eq!(r.json()["state"], "on", "{}", r.body);
    virsh(&["destroy", &db.name]);
    let r = s.post(Some(&admin), &format!("machines/{sid_db}/?op=commission"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    jobs(&s).await;
    assert_eq!(db.state(), "running");
    assert_eq!(machine(&s, &admin, &sid_db).await["power_state"], "on");
    let r = s.post(Some(&admin), &format!("machines/{sid_db}/?op=abort"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    jobs(&s).await;
    assert_eq!(db.state(), "shut off");
    assert_eq!(machine(&s, &admin, &sid_db).await["power_state"], "off");

    // accept_all commissions what it enlists: commissioning powers the domain on.
    let late = TestDomain::define(&format!("{prefix}-late"), &[&format!("52:54:00:4{n}:00:05")]);
    let form = [
        ("chassis_type", "virsh"),
        ("hostname", "qemu:///system"),
        ("prefix_filter", prefix.as_str()),
        ("accept_all", "true"),
    ];
    let r = s.post(Some(&admin), "machines/?op=add_chassis", &form).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let list = s.get(Some(&admin), "machines/").await.json();
    let m_late = list.as_array().unwrap().iter().find(|m| m["hostname"] == format!("{prefix}-late")).unwrap().clone();
    assert_eq!(m_late["status_name"], "Commissioning");
    jobs(&s).await;
    assert_eq!(late.state(), "running");
});
