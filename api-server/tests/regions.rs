//! Region and rack controllers (issue 20, issue 19 item 1): every region
//! registers itself at start and heartbeats, regions sharing a database
//! all appear in `regioncontrollers/`, the rack in a region's process
//! makes its node a region-and-rack controller, and the controller
//! operations MAAS has (update, power_parameters, details,
//! describe_power_types, list/import_boot_images, set_zone, is_registered)
//! with MAAS's shapes, permissions and words. Each test runs against SQLite
//! and PostgreSQL, with a real rack daemon where a rack is needed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::time::{Duration, Instant};

use common::*;
use ironpool_common::rack_link::RackInterface;
use ironpool_rack::link::{Rack, RackOptions};
use ironpool_region::engine;
use serde_json::Value;

const RACK_MAC: &str = "52:54:00:0e:00:01";

fn region_sid(s: &TestServer) -> String {
    engine::regions::load_identity(s.db.dir.path()).expect("region.json names the region")
}

fn rack_options(s: &TestServer, dir: &std::path::Path) -> RackOptions {
    let mut o = RackOptions::new(vec![s.origin.clone()], s.state.rack_secret.clone(), dir.to_path_buf());
    o.hostname = "rack-one".into();
    o.interfaces = Some(vec![RackInterface {
        name: "eth0".into(),
        mac: RACK_MAC.into(),
        addresses: vec!["192.0.2.10/24".into()],
    }]);
    o.http_listen = Some("127.0.0.1:0".parse().unwrap());
    o.tftp_listen = None;
    o.dhcp_listen = None;
    o.heartbeat = Some(Duration::from_millis(100));
    o.max_backoff = Duration::from_millis(300);
    o.request_timeout = Duration::from_secs(5);
    o
}

async fn registered(rack: &Rack) -> String {
    let start = Instant::now();
    loop {
        if let Some(sid) = rack.state.system_id() {
            return sid;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "rack never registered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|n| n["system_id"].as_str().unwrap().to_string()).collect()
}

/// Makes every region look silent (its last heartbeat long ago).
async fn age_regions(s: &TestServer) {
    use diesel::{ExpressionMethods, RunQueryDsl};
    use ironpool_region::db::schema::region_controllers as rc;
    let long_ago = chrono::DateTime::from_timestamp(946_684_800, 0).unwrap().naive_utc();
    s.state
        .db
        .write(move |c| {
            diesel::update(rc::table)
                .set(rc::last_seen.eq(long_ago))
                .execute(c)
                .map_err(ironpool_region::db::from_diesel)?;
            Ok(())
        })
        .await
        .unwrap();
}

backend_tests!(region_registers_itself, |b| async move {
    let mut s = TestServer::start(b);
    let user = s.user("user", false).await;
    let sid = region_sid(&s);

    let list = s.get(Some(&user), "regioncontrollers/").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(ids(&list.json()), std::slice::from_ref(&sid));
    let r = s.get(Some(&user), &format!("regioncontrollers/{sid}/")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["node_type"], 3);
    assert_eq!(v["node_type_name"], "Region controller");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["running"], true);
    assert_eq!(v["resource_uri"], format!("/MAAS/api/2.0/regioncontrollers/{sid}/"));
    assert_eq!(v["url"], format!("{}/MAAS/", s.origin));
    for field in ["hostname", "fqdn", "domain", "zone", "interface_set", "ip_addresses", "tag_names", "power_type"] {
        assert!(v.get(field).is_some(), "{field} missing: {v}");
    }
    let services = v["service_set"].as_array().unwrap();
    let status = |name: &str| services.iter().find(|x| x["name"] == name).map(|x| x["status"].clone());
    assert_eq!(status("regiond"), Some(Value::from("running")));
    // The test harness runs the DNS server on a loopback port.
    assert_eq!(status("bind9"), Some(Value::from("running")));

    // A region is not a rack, and not a machine.
    assert_eq!(s.get(Some(&user), "rackcontrollers/").await.json(), serde_json::json!([]));
    assert_eq!(s.get(Some(&user), "machines/").await.json(), serde_json::json!([]));
    let r = s.get(Some(&user), &format!("rackcontrollers/{sid}/")).await;
    assert_eq!((r.status, r.body.as_str()), (404, "No RackController matches the given query."));
    let r = s.get(Some(&user), "regioncontrollers/nosuch/").await;
    assert_eq!((r.status, r.body.as_str()), (404, "No RegionController matches the given query."));

    // A restart keeps the region's node (region.json), not a second one.
    s.stop().await;
    s.restart();
    let list = s.get(Some(&user), "regioncontrollers/").await.json();
    assert_eq!(ids(&list), [sid]);
});

backend_tests!(two_regions_on_one_database_both_appear, |b| async move {
    let s = TestServer::start(b);
    let s2 = s.second_region();
    let user = s.user("user", false).await;
    let (a, b2) = (region_sid(&s), region_sid(&s2));
    assert_ne!(a, b2);
    for server in [&s, &s2] {
        let list = server.get(Some(&user), "regioncontrollers/").await.json();
        let mut got = ids(&list);
        got.sort();
        let mut want = vec![a.clone(), b2.clone()];
        want.sort();
        assert_eq!(got, want);
        // One host, two regions: the names stay unique.
        let names: Vec<&str> = list.as_array().unwrap().iter().map(|r| r["hostname"].as_str().unwrap()).collect();
        assert_ne!(names[0], names[1], "{list}");
        assert!(list.as_array().unwrap().iter().all(|r| r["running"] == true));
    }
    // Each heartbeat is recorded against its own node.
    let db = s.state.db.clone();
    let sid = b2.clone();
    let alive = db
        .write(move |c| engine::regions::heartbeat(c, &sid, &[engine::regions::Service::new("regiond", true, "x")]))
        .await
        .unwrap();
    assert!(alive);
    let r = s.get(Some(&user), &format!("regioncontrollers/{b2}/")).await.json();
    assert_eq!(r["service_set"], serde_json::json!([{"name": "regiond", "status": "running", "status_info": "x"}]));
    s2.stop().await;
});

backend_tests!(region_update_and_delete, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let user = s.user("user", false).await;
    let sid = region_sid(&s);
    let url = format!("regioncontrollers/{sid}/");
    let r = s.post(Some(&admin), "zones/", &[("name", "rack-room")]).await;
    assert_eq!(r.status, 200, "{}", r.body);

    let r = s.call(Some(&user), "PUT", &url, &[("description", "x")]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = s.call(Some(&admin), "PUT", &url, &[("description", "the first region"), ("zone", "rack-room")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["description"], "the first region");
    assert_eq!(r.json()["zone"]["name"], "rack-room");
    assert_eq!(s.get(Some(&user), &url).await.json()["zone"]["name"], "rack-room");
    let r = s.call(Some(&admin), "PUT", &url, &[("zone", "no-such-zone")]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json().get("zone").is_some(), "{}", r.body);
    let r = s.call(Some(&admin), "PUT", &url, &[("power_type", "telepathy")]).await;
    assert_eq!(r.status, 400, "{}", r.body);

    // power_parameters: admins only; details: BSON.
    assert_eq!(s.get(Some(&user), &format!("{url}?op=power_parameters")).await.status, 403);
    let r = s.get(Some(&admin), &format!("{url}?op=power_parameters")).await;
    assert_eq!((r.status, r.json()), (200, serde_json::json!({})));
    let r = s.get(Some(&user), &format!("{url}?op=details")).await;
    assert_eq!((r.status, r.content_type.as_deref()), (200, Some("application/bson")));

    // MAAS refuses to delete a running region, in its words.
    let r = s.call(Some(&user), "DELETE", &url, &[]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = s.call(Some(&admin), "DELETE", &url, &[]).await;
    let hostname = s.get(Some(&user), &url).await.json()["hostname"].as_str().unwrap().to_string();
    assert_eq!((r.status, r.body.clone()), (400, format!("Unable to delete {hostname} as it's currently running.")));
    // Once silent it can go.
    age_regions(&s).await;
    assert_eq!(s.get(Some(&user), &url).await.json()["running"], false);
    let r = s.call(Some(&admin), "DELETE", &url, &[]).await;
    assert_eq!((r.status, r.content_type.as_deref()), (204, Some("text/plain")), "{}", r.body);
    assert_eq!(s.get(Some(&user), "regioncontrollers/").await.json(), serde_json::json!([]));
    // Its next heartbeat finds it gone and it registers again.
    let db = s.state.db.clone();
    let alive = db.write(move |c| engine::regions::heartbeat(c, &sid, &[])).await.unwrap();
    assert!(!alive);
});

backend_tests!(rack_in_the_region_process_makes_it_region_and_rack, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let sid = region_sid(&s);
    // What `ironpool region` with its embedded rack does: the rack's first
    // rack.json names the region's node.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rack.json"), serde_json::json!({ "system_id": sid }).to_string()).unwrap();
    let rack = Rack::start(rack_options(&s, dir.path())).await.unwrap();
    assert_eq!(registered(&rack).await, sid);
    // rack.json gave the rack its system_id before it registered: wait for
    // the registration itself (the first rack is accepted and configured).
    let start = Instant::now();
    while rack.state.config().is_none() {
        assert!(start.elapsed() < Duration::from_secs(15), "no configuration");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let regions = s.get(Some(&admin), "regioncontrollers/").await.json();
    let racks = s.get(Some(&admin), "rackcontrollers/").await.json();
    assert_eq!((ids(&regions), ids(&racks)), (vec![sid.clone()], vec![sid.clone()]));
    assert_eq!(regions[0]["node_type"], 4);
    assert_eq!(regions[0]["node_type_name"], "Region and rack controller");
    // The rack's interface is the region node's.
    assert_eq!(racks[0]["interface_set"][0]["mac_address"], RACK_MAC);
    rack.stop().await;

    // Deleting the rack leaves the region (MAAS converts the node).
    let r = s.call(Some(&admin), "DELETE", &format!("rackcontrollers/{sid}/"), &[]).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(s.get(Some(&admin), "rackcontrollers/").await.json(), serde_json::json!([]));
    let r = s.get(Some(&admin), &format!("regioncontrollers/{sid}/")).await.json();
    assert_eq!(r["node_type"], 3);
});

backend_tests!(rack_controller_operations, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let user = s.user("user", false).await;
    let dir = tempfile::tempdir().unwrap();
    let rack = Rack::start(rack_options(&s, dir.path())).await.unwrap();
    let sid = registered(&rack).await;
    let url = format!("rackcontrollers/{sid}/");
    assert_ne!(sid, region_sid(&s));

    // update: MAAS's ControllerForm fields, admins only.
    let r = s.post(Some(&admin), "zones/", &[("name", "row-2")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.call(Some(&user), "PUT", &url, &[("description", "x")]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = s.call(Some(&admin), "PUT", &url, &[("description", "rack in row 2"), ("zone", "row-2")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!((v["description"].as_str(), v["zone"]["name"].as_str()), (Some("rack in row 2"), Some("row-2")));
    assert_eq!(v["node_type_name"], "Rack controller");
    assert!(v["service_set"].is_array());
    let r = s
        .call(
            Some(&admin),
            "PUT",
            &url,
            &[
                ("power_type", "ipmi"),
                ("power_parameters_power_address", "10.9.9.9"),
                ("power_parameters_power_pass", "pw"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["power_type"], "ipmi");
    let r =
        s.call(Some(&admin), "PUT", &url, &[("power_type", "ipmi"), ("power_parameters_privilege_level", "GOD")]).await;
    assert_eq!(r.status, 400, "{}", r.body);

    // power_parameters, one and all: admins only.
    assert_eq!(s.get(Some(&user), &format!("{url}?op=power_parameters")).await.status, 403);
    let r = s.get(Some(&admin), &format!("{url}?op=power_parameters")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!((r.json()["power_address"].as_str(), r.json()["power_pass"].as_str()), (Some("10.9.9.9"), Some("pw")));
    assert_eq!(s.get(Some(&user), "rackcontrollers/?op=power_parameters").await.status, 403);
    let r = s.get(Some(&admin), "rackcontrollers/?op=power_parameters").await.json();
    assert_eq!(r.as_object().unwrap().keys().collect::<Vec<_>>(), [&sid]);

    // describe_power_types lists exactly the table the API validates against.
    let r = s.get(Some(&user), "rackcontrollers/?op=describe_power_types").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let names: Vec<String> =
        r.json().as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, engine::power::POWER_TYPES);
    let ipmi = r.json().as_array().unwrap().iter().find(|t| t["name"] == "ipmi").unwrap().clone();
    assert_eq!(ipmi["driver_type"], "power");
    let addr = ipmi["fields"].as_array().unwrap().iter().find(|f| f["name"] == "power_address").unwrap().clone();
    assert_eq!(addr["required"], true);
    let pass = ipmi["fields"].as_array().unwrap().iter().find(|f| f["name"] == "power_pass").unwrap().clone();
    assert_eq!((pass["field_type"].as_str(), pass["secret"].as_bool()), (Some("password"), Some(true)));

    // Boot images: deprecated in MAAS, answered in its shapes.
    let r = s.get(Some(&user), &format!("{url}?op=list_boot_images")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), serde_json::json!({"images": [], "connected": true, "status": "synced"}));
    for path in [format!("{url}?op=import_boot_images"), "rackcontrollers/?op=import_boot_images".to_string()] {
        assert_eq!(s.post(Some(&user), &path, &[]).await.status, 403);
        let r = s.post(Some(&admin), &path, &[]).await;
        assert_eq!((r.status, r.body.as_str()), (202, "Accepted"), "{path}");
    }

    // NodesHandler's collection operations.
    let r = s.get(Some(&user), &format!("rackcontrollers/?op=is_registered&mac_address={RACK_MAC}")).await;
    assert_eq!((r.status, r.body.as_str()), (200, "true"));
    let r = s.get(Some(&user), "regioncontrollers/?op=is_registered&mac_address=52:54:00:99:99:99").await;
    assert_eq!((r.status, r.body.as_str()), (200, "false"));
    let r = s.post(Some(&admin), "rackcontrollers/?op=set_zone", &[("zone", "default"), ("nodes", &sid)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.get(Some(&user), &url).await.json()["zone"]["name"], "default");

    // A machine is no rack controller, in MAAS's words.
    let msid = ready_machine(&s, &admin, "m1", 2, 2048).await;
    for path in [format!("rackcontrollers/{msid}/"), format!("rackcontrollers/{msid}/?op=list_boot_images")] {
        let r = s.get(Some(&admin), &path).await;
        assert_eq!((r.status, r.body.as_str()), (404, "No RackController matches the given query."), "{path}");
    }
    rack.stop().await;
});
