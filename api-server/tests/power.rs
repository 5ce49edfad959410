//! Power actions through the region's embedded drivers: the `virtual` driver
//! (simulated BMCs in this process) and the real `ipmi` driver (FreeIPMI's
//! ipmipower) against an address where no BMC answers.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use common::*;
use ironpool_region::engine::power::{PowerAction, PowerState, VirtualBmc};

async fn machine(s: &TestServer, admin: &ApiKey, host: &str, power: &[(&str, &str)]) -> String {
    let mac = format!("52:54:00:77:00:{:02x}", host.len() * 7 % 256);
    let mut form = vec![
        ("architecture", "amd64/generic"),
        ("mac_addresses", mac.as_str()),
        ("hostname", host),
        ("commission", "false"),
    ];
    form.extend_from_slice(power);
    let r = s.post(Some(admin), "machines/", &form).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["system_id"].as_str().unwrap().to_string()
}

async fn jobs(s: &TestServer) {
    ironpool_region::engine::jobs::worker::run_due(&s.state.db, &s.state.power).await.unwrap();
}

backend_tests!(virtual_bmc_power, |b| async move {
    let s = TestServer::start_with(b, |c| c.run_jobs = false);
    let admin = s.user("admin", true).await;
    let bmcs = s.state.power.virtual_bmcs.clone();
    bmcs.add("vbmc-1", VirtualBmc { password: Some("s3cret".into()), ..Default::default() });
    let sid = machine(
        &s,
        &admin,
        "v1",
        &[
            ("power_type", "virtual"),
            ("power_parameters_power_address", "vbmc-1"),
            ("power_parameters_power_pass", "s3cret"),
            ("deployed", "true"),
        ],
    )
    .await;

    // power_on queues a job; the worker drives the BMC and records what it saw.
    assert_eq!(s.post(Some(&admin), &format!("machines/{sid}/?op=power_on"), &[]).await.status, 200);
    jobs(&s).await;
    assert_eq!(bmcs.get("vbmc-1").unwrap().history, vec![PowerAction::On]);
    assert_eq!(bmcs.get("vbmc-1").unwrap().state, PowerState::On);
    assert_eq!(s.get(Some(&admin), &format!("machines/{sid}/")).await.json()["power_state"], "on");
    // query_power_state asks the BMC now.
    bmcs.update("vbmc-1", |b| b.state = PowerState::Off);
    let r = s.get(Some(&admin), &format!("machines/{sid}/?op=query_power_state")).await;
    assert_eq!(r.json()["state"], "off", "{}", r.body);
    assert_eq!(s.get(Some(&admin), &format!("machines/{sid}/")).await.json()["power_state"], "off");

    // A BMC that rejects the password: power_state error, an event that says
    // so without the secret, no retry loop, and a 503 for a direct query.
    bmcs.update("vbmc-1", |b| b.password = Some("rotated".into()));
    assert_eq!(s.post(Some(&admin), &format!("machines/{sid}/?op=power_on"), &[]).await.status, 200);
    jobs(&s).await;
    let m = s.get(Some(&admin), &format!("machines/{sid}/")).await.json();
    assert_eq!(m["power_state"], "error");
    let msg = m["status_message"].as_str().unwrap();
    assert!(msg.contains("auth"), "{msg}");
    assert!(!msg.contains("s3cret"), "{msg}");
    let ev = s.get(Some(&admin), &format!("events/?op=query&id={sid}")).await.json();
    assert_eq!(ev["events"][0]["type"], "Failed to power on node");
    assert_eq!(ev["events"][0]["level"], "ERROR");
    // The simulated BMC logs only accepted requests: power_on and the query.
    assert_eq!(bmcs.get("vbmc-1").unwrap().history, vec![PowerAction::On, PowerAction::Query]);
    let r = s.get(Some(&admin), &format!("machines/{sid}/?op=query_power_state")).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("auth"), "{}", r.body);
    // The job is gone, not retried into a BMC lockout: fixing the password
    // and running the queue again drives nothing.
    bmcs.update("vbmc-1", |b| b.password = None);
    jobs(&s).await;
    assert_eq!(bmcs.get("vbmc-1").unwrap().history.len(), 2);

    // Release waits for power-off, then the machine is Ready.
    let sid2 = machine(
        &s,
        &admin,
        "v22",
        &[("power_type", "virtual"), ("power_parameters_power_address", "vbmc-2"), ("deployed", "true")],
    )
    .await;
    bmcs.add("vbmc-2", VirtualBmc { state: PowerState::On, ..Default::default() });
    let r = s.post(Some(&admin), &format!("machines/{sid2}/?op=release"), &[]).await;
    assert_eq!(r.json()["status_name"], "Releasing", "{}", r.body);
    jobs(&s).await;
    let m = s.get(Some(&admin), &format!("machines/{sid2}/")).await.json();
    assert_eq!((m["status_name"].as_str(), m["power_state"].as_str()), (Some("Ready"), Some("off")));
    // An unreachable BMC fails the release visibly instead of leaving it Releasing.
    let sid3 = machine(
        &s,
        &admin,
        "v333",
        &[("power_type", "virtual"), ("power_parameters_power_address", "nowhere"), ("deployed", "true")],
    )
    .await;
    s.post(Some(&admin), &format!("machines/{sid3}/?op=release"), &[]).await;
    jobs(&s).await;
    let m = s.get(Some(&admin), &format!("machines/{sid3}/")).await.json();
    assert_eq!((m["status_name"].as_str(), m["power_state"].as_str()), (Some("Releasing failed"), Some("error")));
});

backend_tests!(ipmi_unreachable_bmc, |b| async move {
    let s = TestServer::start_with(b, |c| c.run_jobs = false);
    let admin = s.user("admin", true).await;
    // A loopback port nobody listens on: ipmipower times out.
    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let sid = machine(
        &s,
        &admin,
        "i1",
        &[
            ("power_type", "ipmi"),
            ("power_parameters_power_address", &addr),
            ("power_parameters_power_user", "admin"),
            ("power_parameters_power_pass", "hunter2"),
        ],
    )
    .await;
    let r = s.get(Some(&admin), &format!("machines/{sid}/?op=query_power_state")).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("timeout") || r.body.contains("unreachable"), "{}", r.body);
    assert!(!r.body.contains("hunter2"));
    let m = s.get(Some(&admin), &format!("machines/{sid}/")).await.json();
    assert_eq!(m["power_state"], "error");
});

backend_tests!(periodic_power_sync_queries_every_bmc_concurrently, |b| async move {
    use std::time::{Duration, Instant};
    let s = TestServer::start_with(b, |c| c.run_jobs = false);
    let admin = s.user("admin", true).await;
    let bmcs = s.state.power.virtual_bmcs.clone();
    const N: usize = 40;
    let latency = Duration::from_millis(300);
    let mut sids = Vec::new();
    for i in 0..N {
        let addr = format!("sync-{i}");
        let state = if i % 2 == 0 { PowerState::On } else { PowerState::Off };
        bmcs.add(&addr, VirtualBmc { state, latency, ..Default::default() });
        let r = s
            .post(
                Some(&admin),
                "machines/",
                &[
                    ("architecture", "amd64/generic"),
                    ("mac_addresses", &format!("52:54:00:78:00:{i:02x}")),
                    ("hostname", &format!("sync{i}")),
                    ("commission", "false"),
                    ("power_type", "virtual"),
                    ("power_parameters_power_address", &addr),
                ],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        sids.push(r.json()["system_id"].as_str().unwrap().to_string());
    }
    // A manual machine is left alone.
    let r = s
        .post(
            Some(&admin),
            "machines/",
            &[
                ("architecture", "amd64/generic"),
                ("mac_addresses", "52:54:00:78:01:01"),
                ("commission", "false"),
                ("power_type", "manual"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let queued = s.state.db.write(ironpool_region::engine::jobs::worker::enqueue_power_sync).await.unwrap();
    assert_eq!(queued, N);
    // Queued again before they ran: nothing doubles up.
    assert_eq!(s.state.db.write(ironpool_region::engine::jobs::worker::enqueue_power_sync).await.unwrap(), 0);
    let start = Instant::now();
    jobs(&s).await;
    let took = start.elapsed();
    for (i, sid) in sids.iter().enumerate() {
        let m = s.get(Some(&admin), &format!("machines/{sid}/")).await.json();
        assert_eq!(m["power_state"], if i % 2 == 0 { "on" } else { "off" }, "{sid}");
    }
    // One at a time would take N × latency (12 s); 32 in flight take a few rounds.
    eprintln!("power sync of {N} BMCs at {latency:?} each took {took:?}");
    assert!(took < latency * (N as u32) / 3, "power sync ran serially: {took:?}");
});
