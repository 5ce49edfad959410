//! Machines: creation, the lifecycle as clients drive it, allocation and its
//! constraint language, permissions, events, on both databases.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use common::*;
use serde_json::Value;

fn status(v: &Value) -> &str {
    v["status_name"].as_str().unwrap()
}

backend_tests!(create_and_render, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let alice = s.user("alice", false).await;

    // Admin create commissions at once; commission=false keeps NEW.
    let r = s
        .post(
            Some(&admin),
            "machines/",
            &[("architecture", "amd64"), ("mac_addresses", "52:54:00:00:00:01"), ("power_type", "manual")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let m = r.json();
    assert_eq!(status(&m), "Commissioning");
    assert_eq!(m["status"], 1);
    assert_eq!(m["architecture"], "amd64/generic");
    let sid = m["system_id"].as_str().unwrap();
    assert_eq!(sid.len(), 6);
    assert!(sid.chars().all(|c| "34678abcdefghkmnpqrstwxy".contains(c)));
    let host = m["hostname"].as_str().unwrap();
    assert!(host.contains('-'), "generated petname {host}");
    assert_eq!(m["fqdn"], format!("{host}.maas"));
    assert_eq!(m["resource_uri"], format!("/MAAS/api/2.0/machines/{sid}/"));
    // Juju's mandatory keys and their types.
    for k in ["resource_uri", "system_id", "hostname", "fqdn", "osystem", "distro_series", "power_state", "status_name"]
    {
        assert!(m[k].is_string(), "{k}: {}", m[k]);
    }
    for k in ["tag_names", "ip_addresses", "interface_set", "physicalblockdevice_set", "blockdevice_set"] {
        assert!(m[k].is_array(), "{k}");
    }
    for k in ["owner_data", "hardware_info", "zone", "pool", "domain"] {
        assert!(m[k].is_object(), "{k}");
    }
    assert!(m["memory"].is_i64() && m["cpu_count"].is_i64());
    assert_eq!(m["zone"]["name"], "default");
    assert_eq!(m["pool"]["resource_uri"], "/MAAS/api/2.0/resourcepool/0/");
    assert_eq!(m["hardware_info"]["system_vendor"], "Unknown");
    assert_eq!(m["interface_set"][0]["mac_address"], "52:54:00:00:00:01");
    assert_eq!(
        m["boot_interface"]["resource_uri"],
        format!("/MAAS/api/2.0/nodes/{sid}/interfaces/{}/", m["boot_interface"]["id"])
    );
    assert!(m.get("constraints_by_type").is_none());
    assert!(m.get("power_parameters").is_none());

    let r = s
        .post(
            Some(&admin),
            "machines/",
            &[
                ("architecture", "arm64/generic"),
                ("mac_addresses", "52:54:00:00:00:02"),
                ("commission", "false"),
                ("hostname", "quiet-node"),
            ],
        )
        .await;
    assert_eq!(status(&r.json()), "New");
    // A non-admin's machine is NEW.
    let r =
        s.post(Some(&alice), "machines/", &[("architecture", "amd64"), ("mac_addresses", "52:54:00:00:00:03")]).await;
    assert_eq!(status(&r.json()), "New");
    // deployed=true registers a running machine, owned by the caller.
    let r = s
        .post(
            Some(&alice),
            "machines/",
            &[("architecture", "amd64"), ("mac_addresses", "52:54:00:00:00:04"), ("deployed", "true")],
        )
        .await;
    let d = r.json();
    assert_eq!(status(&d), "Deployed");
    assert_eq!(d["owner"], "alice");
    // ... and is releasable to Ready.
    let dsid = d["system_id"].as_str().unwrap().to_string();
    let r = s.post(Some(&alice), &format!("machines/{dsid}/?op=release"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(status(&r.json()), "Ready");
    assert_eq!(r.json()["owner"], Value::Null);

    // Anonymous enlistment: NEW, reduced view.
    let r = s.post(None, "machines/", &[("architecture", "amd64"), ("mac_addresses", "52:54:00:00:00:05")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(status(&r.json()), "New");
    assert!(r.json().get("owner_data").is_none());
    assert_eq!(s.post(None, "machines/?op=accept", &[]).await.status, 401);
    // Anonymous GET machines/ is MAAS's 400, not a 401.
    let r = s.get(None, "machines/").await;
    assert_eq!((r.status, r.body.as_str()), (400, "Unrecognised signature: method=GET op=None"));
    // is_registered, anonymously: NEW machines are ignored.
    assert_eq!(
        s.get(None, "machines/?op=is_registered&mac_address=52:54:00:00:00:05").await.json(),
        Value::Bool(false)
    );
    assert_eq!(
        s.get(Some(&admin), "machines/?op=is_registered&mac_address=52-54-00-00-00-05").await.json(),
        Value::Bool(true)
    );
    assert_eq!(
        s.get(Some(&admin), "machines/?op=is_registered&mac_address=52:54:00:ff:ff:ff").await.json(),
        Value::Bool(false)
    );

    // Validation: every problem is a 400 naming the field.
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("mac_addresses", "52:54:00:00:01:01")], "architecture"),
        (vec![("architecture", "amd64")], "mac_addresses"),
        (vec![("architecture", "sparc"), ("mac_addresses", "52:54:00:00:01:02")], "architecture"),
        (vec![("architecture", "amd64"), ("mac_addresses", "not-a-mac")], "mac_addresses"),
        (vec![("architecture", "amd64"), ("mac_addresses", "52:54:00:00:00:01")], "mac_addresses"),
        (
            vec![("architecture", "amd64"), ("mac_addresses", "52:54:00:00:01:03"), ("power_type", "telepathy")],
            "power_type",
        ),
        (
            vec![("architecture", "amd64"), ("mac_addresses", "52:54:00:00:01:04"), ("power_type", "ipmi")],
            "power_parameters_power_address",
        ),
        (
            vec![("architecture", "amd64"), ("mac_addresses", "52:54:00:00:01:05"), ("hostname", "quiet-node")],
            "hostname",
        ),
        (
            vec![("architecture", "amd64"), ("mac_addresses", "52:54:00:00:01:06"), ("hostname", "bad_name!")],
            "hostname",
        ),
        (vec![("architecture", "amd64"), ("mac_addresses", "52:54:00:00:01:07"), ("zone", "nowhere")], "zone"),
        (
            vec![("architecture", "amd64"), ("mac_addresses", "52:54:00:00:01:08"), ("power_parameters", "{not json")],
            "power_parameters",
        ),
    ];
    for (form, field) in cases {
        let r = s.post(Some(&admin), "machines/", &form).await;
        assert_eq!(r.status, 400, "{form:?}: {}", r.body);
        assert!(r.json()[field].is_array(), "{form:?} should name {field}: {}", r.body);
    }

    // Power parameters: stored, admin-only, never in the machine JSON.
    let r = s
        .post(
            Some(&admin),
            "machines/",
            &[
                ("architecture", "amd64"),
                ("mac_addresses", "52:54:00:00:02:01"),
                ("power_type", "ipmi"),
                ("power_parameters_power_address", "10.0.0.9"),
                ("power_parameters_power_pass", "s3cr3t-bmc"),
                ("commission", "false"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.body.contains("s3cr3t-bmc"));
    let isid = r.json()["system_id"].as_str().unwrap().to_string();
    let p = s.get(Some(&admin), &format!("machines/{isid}/?op=power_parameters")).await.json();
    assert_eq!(p["power_pass"], "s3cr3t-bmc");
    assert_eq!(p["power_driver"], "LAN_2_0");
    assert_eq!(s.get(Some(&alice), &format!("machines/{isid}/?op=power_parameters")).await.status, 403);
    assert_eq!(s.get(Some(&alice), "machines/?op=power_parameters").await.status, 403);
    let all = s.get(Some(&admin), "machines/?op=power_parameters").await.json();
    assert_eq!(all[&isid]["power_address"], "10.0.0.9");
    let listing = s.get(Some(&alice), "machines/").await;
    assert!(!listing.body.contains("s3cr3t-bmc"));
    // query_power_state asks the BMC; none answers at 10.0.0.9 → 503 with
    // the reason, never the password (tests/power.rs covers the drivers).
    let r = s.get(Some(&admin), &format!("machines/{isid}/?op=query_power_state")).await;
    assert_eq!(r.status, 503);
    assert!(r.body.contains("Unable to query the power state") && r.body.contains("ipmi"), "{}", r.body);
    assert!(!r.body.contains("s3cr3t-bmc"));
    assert_eq!(s.get(Some(&admin), &format!("machines/{dsid}/?op=query_power_state")).await.json()["state"], "unknown");

    // details is BSON.
    let r = s.get(Some(&admin), &format!("machines/{sid}/?op=details")).await;
    assert_eq!(r.content_type.as_deref(), Some("application/bson"));

    // Unknown machine.
    let r = s.get(Some(&admin), "machines/xxxxxx/").await;
    assert_eq!((r.status, r.body.as_str()), (404, "No Machine matches the given query."));
    assert_eq!(s.post(Some(&admin), "machines/xxxxxx/?op=deploy", &[]).await.status, 404);
});

backend_tests!(lifecycle_as_juju_drives_it, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let juju = s.user("juju", false).await;
    let sid = ready_machine(&s, &admin, "node-1", 4, 8192).await;

    // allocate with agent_name, list by agent_name.
    let r =
        s.post(Some(&juju), "machines/?op=allocate", &[("agent_name", "model-uuid-1"), ("comment", "for juju")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let m = r.json();
    assert_eq!(m["system_id"], sid.as_str());
    assert_eq!(status(&m), "Allocated");
    assert_eq!(m["owner"], "juju");
    assert_eq!(m["constraints_by_type"], serde_json::json!({}));
    let listed = s.get(Some(&juju), "machines/?agent_name=model-uuid-1").await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let listed = s.get(Some(&juju), &format!("machines/?agent_name=model-uuid-1&id={sid}")).await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(s.get(Some(&juju), "machines/?agent_name=other").await.json().as_array().unwrap().len(), 0);

    // set_owner_data merges, empty deletes; only the owner may.
    let r = s
        .post(
            Some(&juju),
            &format!("machines/{sid}/?op=set_owner_data"),
            &[("juju-model-uuid", "m1"), ("juju-is-controller", "true")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s
        .post(Some(&juju), &format!("machines/{sid}/?op=set_workload_annotations"), &[("juju-is-controller", "")])
        .await;
    assert_eq!(r.json()["owner_data"], serde_json::json!({"juju-model-uuid": "m1"}));
    assert_eq!(r.json()["workload_annotations"], serde_json::json!({"juju-model-uuid": "m1"}));
    let r = s.post(Some(&admin), &format!("machines/{sid}/?op=set_owner_data"), &[("x", "y")]).await;
    assert_eq!(r.status, 409);

    // Another user does not see it, and cannot deploy it.
    let other = s.user("other", false).await;
    assert_eq!(s.get(Some(&other), "machines/").await.json().as_array().unwrap().len(), 0);
    assert_eq!(s.get(Some(&other), &format!("machines/{sid}/")).await.status, 403);

    // deploy with user_data and distro_series.
    let ud = "I2Nsb3VkLWNvbmZpZwo="; // "#cloud-config\n"
    let r = s
        .post(Some(&juju), &format!("machines/{sid}/?op=deploy"), &[("user_data", ud), ("distro_series", "jammy")])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let m = r.json();
    assert_eq!(status(&m), "Deploying");
    assert_eq!(m["osystem"], "ubuntu");
    assert_eq!(m["distro_series"], "jammy");
    // deploying again is a 409 with MAAS's text.
    let r = s.post(Some(&juju), &format!("machines/{sid}/?op=deploy"), &[]).await;
    assert_eq!((r.status, r.body.as_str()), (409, "Can't deploy a machine that is in the 'Deploying' state"));
    // bad deploy input is a 400.
    assert_eq!(
        s.post(Some(&juju), &format!("machines/{sid}/?op=deploy"), &[("distro_series", "plan9")]).await.status,
        400
    );
    assert_eq!(s.post(Some(&juju), &format!("machines/{sid}/?op=deploy"), &[("user_data", "%%%")]).await.status, 400);

    // The deployed OS reports success (the metadata API will call this).
    complete_deployment(&s, &sid).await;
    let m = s.get(Some(&juju), &format!("machines/{sid}/")).await.json();
    assert_eq!(status(&m), "Deployed");
    assert_eq!(m["power_state"], "on");
    // The queued power-on job for a manual machine runs later; it observes
    // nothing and must not overwrite the state the deployed OS reported.
    ironpool_region::engine::jobs::worker::run_due(&s.state.db, &s.state.power).await.unwrap();
    assert_eq!(s.get(Some(&juju), &format!("machines/{sid}/")).await.json()["power_state"], "on");

    // Juju's bulk release; the machine returns to Ready with everything cleared.
    let r = s
        .post(Some(&juju), "machines/?op=release", &[("machines", &sid), ("comment", "Released by Juju MAAS provider")])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), serde_json::json!([sid]));
    let m = s.get(Some(&admin), &format!("machines/{sid}/")).await.json();
    assert_eq!(status(&m), "Ready");
    assert_eq!(m["owner"], Value::Null);
    assert_eq!(m["owner_data"], serde_json::json!({}));
    assert_eq!(m["osystem"], "");
    assert_eq!(s.get(Some(&juju), "machines/?agent_name=model-uuid-1").await.json().as_array().unwrap().len(), 0);
    // Releasing a Ready machine is a no-op (bulk: nothing changed).
    assert_eq!(s.post(Some(&juju), "machines/?op=release", &[("machines", &sid)]).await.json(), serde_json::json!([]));
    assert_eq!(s.post(Some(&admin), &format!("machines/{sid}/?op=release"), &[]).await.status, 200);
    // Unknown ids: 400 with MAAS's text.
    let r = s.post(Some(&juju), "machines/?op=release", &[("machines", "nope12")]).await;
    assert_eq!((r.status, r.body.as_str()), (400, "Unknown machine(s): nope12."));

    // deploy straight from Ready allocates on the fly.
    let r = s.post(Some(&juju), &format!("machines/{sid}/?op=deploy"), &[]).await;
    assert_eq!(status(&r.json()), "Deploying");
    assert_eq!(r.json()["owner"], "juju");
    assert_eq!(r.json()["distro_series"], "noble", "config default_distro_series");
    // abort → Allocated; release → Ready.
    let r = s.post(Some(&juju), &format!("machines/{sid}/?op=abort"), &[("comment", "changed my mind")]).await;
    assert_eq!(status(&r.json()), "Allocated");
    let r = s.post(Some(&juju), &format!("machines/{sid}/?op=abort"), &[]).await;
    assert_eq!(r.status, 409);
    let r = s.post(Some(&juju), &format!("machines/{sid}/?op=release"), &[]).await;
    assert_eq!(status(&r.json()), "Ready");

    // Events recorded every transition, in MAAS's format, newest first.
    let ev = s.get(Some(&admin), &format!("events/?op=query&id={sid}&limit=5")).await.json();
    assert_eq!(ev["count"], 5);
    let first = &ev["events"][0];
    assert_eq!(first["node"], sid.as_str());
    assert_eq!(first["type"], "Node changed status");
    assert_eq!(first["description"], "From 'Releasing' to 'Ready'");
    let created = first["created"].as_str().unwrap();
    assert!(chrono::NaiveDateTime::parse_from_str(created, "%a, %d %b. %Y %H:%M:%S").is_ok(), "{created}");
    let ids: Vec<i64> = ev["events"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    // Paging: prev_uri gives the older page, disjoint from this one.
    let prev = ev["prev_uri"].as_str().unwrap().trim_start_matches("/MAAS/api/2.0/").to_string();
    let older = s.get(Some(&admin), &prev).await.json();
    let older_ids: Vec<i64> = older["events"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(!older_ids.is_empty() && older_ids.iter().all(|i| i < ids.last().unwrap()));
    assert_eq!(s.get(Some(&admin), "events/?op=query&level=SHOUTING").await.status, 400);
});

backend_tests!(transitions_and_admin_ops, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let bob = s.user("bob", false).await;
    let sid = ready_machine(&s, &admin, "node-t", 2, 2048).await;
    let m = |p: &str| format!("machines/{sid}/?op={p}");

    // Non-admins cannot do admin operations.
    for op in ["commission", "mark_fixed", "rescue_mode", "override_failed_testing"] {
        assert_eq!(s.post(Some(&bob), &m(op), &[]).await.status, 403, "{op}");
    }
    assert_eq!(s.call(Some(&bob), "PUT", &format!("machines/{sid}/"), &[("hostname", "x")]).await.status, 403);
    assert_eq!(s.call(Some(&bob), "DELETE", &format!("machines/{sid}/"), &[]).await.status, 403);

    // Illegal moves are 409s with MAAS's texts.
    let r = s.post(Some(&admin), &m("release"), &[]).await;
    assert_eq!(r.status, 200, "release of a Ready machine is a no-op");
    let r = s.post(Some(&admin), &m("mark_fixed"), &[]).await;
    assert_eq!(r.status, 409);
    let r = s.post(Some(&admin), &m("lock"), &[]).await;
    assert_eq!(r.status, 409);
    let r = s.post(Some(&admin), &m("unlock"), &[]).await;
    assert_eq!((r.status, r.body.as_str()), (409, "Machine is not locked"));
    let r = s.post(Some(&admin), &m("power_on"), &[]).await;
    assert_eq!((r.status, r.body.as_str()), (409, "Can't start node: it hasn't been allocated."));

    // mark_broken (admin, unowned) → Broken; mark_fixed → Ready.
    let r = s.post(Some(&admin), &m("mark_broken"), &[("comment", "fan failure")]).await;
    assert_eq!(status(&r.json()), "Broken");
    assert_eq!(r.json()["error_description"], "fan failure");
    let r = s.post(Some(&admin), &m("mark_fixed"), &[]).await;
    assert_eq!(status(&r.json()), "Ready");

    // Lock: only deployed machines; locked machines refuse edits with 403.
    let r = s.post(Some(&bob), &m("deploy"), &[]).await;
    assert_eq!(status(&r.json()), "Deploying");
    let r = s.post(Some(&bob), &m("lock"), &[("comment", "prod")]).await;
    assert_eq!(r.json()["locked"], true);
    assert_eq!((s.post(Some(&bob), &m("lock"), &[]).await.body.as_str()), "Machine is already locked");
    assert_eq!(s.post(Some(&bob), &m("release"), &[]).await.status, 403);
    assert_eq!(s.post(Some(&bob), &m("power_off"), &[]).await.status, 403);
    assert_eq!(s.post(Some(&bob), &m("unlock"), &[]).await.json()["locked"], false);
    // mark_broken needs the owner, even for an admin.
    assert_eq!(s.post(Some(&admin), &m("mark_broken"), &[]).await.status, 403);
    let r = s.post(Some(&bob), &m("mark_broken"), &[("comment", "disk")]).await;
    assert_eq!(status(&r.json()), "Broken");
    assert_eq!(r.json()["owner"], Value::Null, "released first");

    // Rescue mode round trip (manual power: immediate).
    let r = s.post(Some(&admin), &m("mark_fixed"), &[]).await;
    assert_eq!(status(&r.json()), "Ready");
    let r = s.post(Some(&admin), &m("rescue_mode"), &[]).await;
    assert_eq!(status(&r.json()), "Entering rescue mode");
    let r = s.post(Some(&admin), &m("exit_rescue_mode"), &[]).await;
    assert_eq!(status(&r.json()), "Ready", "{}", r.body);
    assert_eq!(s.post(Some(&admin), &m("exit_rescue_mode"), &[]).await.status, 409);

    // commission from Ready; abort returns to Ready.
    let r = s.post(Some(&admin), &m("commission"), &[]).await;
    assert_eq!(status(&r.json()), "Commissioning");
    let r = s.post(Some(&admin), &m("abort"), &[]).await;
    assert_eq!(status(&r.json()), "Ready");

    // The deadline job fails a stuck operation (durable: it is a row).
    let r = s.post(Some(&admin), &m("commission"), &[]).await;
    assert_eq!(status(&r.json()), "Commissioning");
    s.make_timeouts_due(Some(&sid)).await;
    ironpool_region::engine::jobs::worker::run_due(&s.state.db, &s.state.power).await.unwrap();
    let got = s.get(Some(&admin), &format!("machines/{sid}/")).await.json();
    assert_eq!(status(&got), "Failed commissioning");
    assert!(got["status_message"].as_str().unwrap().contains("timed out"), "{}", got["status_message"]);

    // PUT by an admin.
    let r = s
        .call(
            Some(&admin),
            "PUT",
            &format!("machines/{sid}/"),
            &[
                ("hostname", "renamed"),
                ("swap_size", "2G"),
                ("power_parameters_skip_check", "true"),
                ("power_type", "ipmi"),
                ("power_parameters_power_address", "10.1.1.1"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["hostname"], "renamed");
    assert_eq!(r.json()["swap_size"], 2_000_000_000i64);
    assert_eq!(r.json()["power_type"], "ipmi");
    assert_eq!(s.call(Some(&admin), "PUT", &format!("machines/{sid}/"), &[("swap_size", "huge")]).await.status, 400);
    assert_eq!(s.call(Some(&admin), "PUT", &format!("machines/{sid}/"), &[("disable_ipv4", "true")]).await.status, 400);
    // Negative hardware counts are refused, naming the field; nothing changes.
    for (field, value) in [("memory", "-5"), ("cpu_count", "-1"), ("memory", "9223372036854775808")] {
        let r = s.call(Some(&admin), "PUT", &format!("machines/{sid}/"), &[(field, value)]).await;
        assert_eq!(r.status, 400, "{field}={value}: {}", r.body);
        assert!(r.json().get(field).is_some(), "{}", r.body);
    }
    let m = machine(&s, &admin, &sid).await;
    assert!(m["memory"].as_i64().unwrap() >= 0 && m["cpu_count"].as_i64().unwrap() >= 0, "{m}");

    // DELETE by an admin: 204, then 404.
    let r = s.call(Some(&admin), "DELETE", &format!("machines/{sid}/"), &[]).await;
    assert_eq!(r.status, 204);
    assert_eq!(s.get(Some(&admin), &format!("machines/{sid}/")).await.status, 404);
});
