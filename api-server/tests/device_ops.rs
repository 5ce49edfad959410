//! Issue 20: the device operations MAAS's DeviceHandler and DevicesHandler
//! inherit (details, power_parameters, set_owner_data /
//! set_workload_annotations, restore_*, set_zone, is_registered), with
//! MAAS's permissions and words. Each test runs on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use common::*;
use serde_json::json;

async fn device(s: &TestServer, who: &ApiKey, hostname: &str, mac: &str) -> String {
    let r = s.post(Some(who), "devices/", &[("hostname", hostname), ("mac_addresses", mac)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["system_id"].as_str().unwrap().to_string()
}

backend_tests!(details_power_parameters_and_annotations, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let user = s.user("user", false).await;
    let other = s.user("other", false).await;
    let dev = device(&s, &user, "lamp", "52:54:00:30:00:01").await;

    // details: BSON of lshw/lldp XML, as for machines; MAAS's 404 otherwise.
    let r = s.get(Some(&user), &format!("devices/{dev}/?op=details")).await;
    assert_eq!((r.status, r.content_type.as_deref()), (200, Some("application/bson")));
    let raw = client()
        .get(s.api(&format!("devices/{dev}/?op=details")))
        .header("authorization", user.plaintext())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(i32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize, raw.len());
    assert!(raw.windows(5).any(|w| w == b"lshw\0") && raw.windows(5).any(|w| w == b"lldp\0"));
    let r = s.get(Some(&user), "devices/nope/?op=details").await;
    assert_eq!((r.status, r.body.as_str()), (404, "No Device matches the given query."));
    let machine = ready_machine(&s, &admin, "box", 2, 2048).await;
    assert_eq!(s.get(Some(&admin), &format!("devices/{machine}/?op=details")).await.status, 404);

    // power_parameters: administrators only.
    let r = s.get(Some(&user), &format!("devices/{dev}/?op=power_parameters")).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = s.get(Some(&admin), &format!("devices/{dev}/?op=power_parameters")).await;
    assert_eq!((r.status, r.json()), (200, json!({})));

    // Workload annotations: the owner merges pairs, an empty value removes.
    let ann = format!("devices/{dev}/?op=set_workload_annotations");
    let r = s.post(Some(&user), &ann, &[("app", "web"), ("tier", "1")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["workload_annotations"], json!({"app": "web", "tier": "1"}));
    assert_eq!(r.json()["owner_data"], json!({"app": "web", "tier": "1"}));
    let r = s.post(Some(&user), &format!("devices/{dev}/?op=set_owner_data"), &[("tier", "")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["workload_annotations"], json!({"app": "web"}));
    // Not the owner: MAAS's NodeStateViolation, or not visible at all.
    let r = s.post(Some(&admin), &ann, &[("x", "y")]).await;
    assert_eq!((r.status, r.body.as_str()), (409, "Cannot set workload annotation: it hasn't been acquired."));
    assert_eq!(s.post(Some(&other), &ann, &[("x", "y")]).await.status, 403);
    assert_eq!(
        s.get(Some(&user), &format!("devices/{dev}/")).await.json()["workload_annotations"],
        json!({"app": "web"})
    );
});

backend_tests!(restore_set_zone_and_is_registered, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let user = s.user("user", false).await;
    let r = s.post(Some(&admin), "subnets/", &[("cidr", "10.31.0.0/24")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let subnet = r.json()["id"].as_i64().unwrap().to_string();
    let dev = device(&s, &admin, "printer", "52:54:00:31:00:01").await;
    let iface =
        s.get(Some(&admin), &format!("devices/{dev}/")).await.json()["interface_set"][0]["id"].as_i64().unwrap();
    let r = s
        .post(
            Some(&admin),
            &format!("nodes/{dev}/interfaces/{iface}/?op=link_subnet"),
            &[("mode", "STATIC"), ("subnet", &subnet), ("ip_address", "10.31.0.9")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.get(Some(&admin), &format!("devices/{dev}/")).await.json()["ip_addresses"], json!(["10.31.0.9"]));

    // restore_*: administrators only; every link goes, the address with it.
    for op in ["restore_networking_configuration", "restore_default_configuration"] {
        let r = s.post(Some(&user), &format!("devices/{dev}/?op={op}"), &[]).await;
        assert!(r.status == 403 || r.status == 404, "{op}: {} {}", r.status, r.body);
        let r = s.post(Some(&admin), &format!("devices/{dev}/?op={op}"), &[]).await;
        assert_eq!(r.status, 200, "{op}: {}", r.body);
        let d = r.json();
        assert_eq!(d["ip_addresses"], json!([]), "{op}: {d}");
        let modes: Vec<&str> =
            d["interface_set"][0]["links"].as_array().unwrap().iter().map(|l| l["mode"].as_str().unwrap()).collect();
        assert!(!modes.contains(&"static"), "{op}: {modes:?}");
    }
    // The address is free again.
    let r = s.post(Some(&admin), "ipaddresses/?op=reserve", &[("ip", "10.31.0.9")]).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // devices/?op=set_zone (NodesHandler's): administrators only.
    let r = s.post(Some(&admin), "zones/", &[("name", "lab")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.post(Some(&user), "devices/?op=set_zone", &[("zone", "lab"), ("nodes", &dev)]).await;
    assert_eq!(r.status, 403);
    let r = s.post(Some(&admin), "devices/?op=set_zone", &[("zone", "lab"), ("nodes", &dev)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.get(Some(&admin), &format!("devices/{dev}/")).await.json()["zone"]["name"], "lab");
    let r = s.post(Some(&admin), "devices/?op=set_zone", &[("nodes", &dev)]).await;
    assert_eq!((r.status, r.json()), (400, json!({"zone": ["This field is required."]})));

    // is_registered on devices/ and nodes/.
    for coll in ["devices", "nodes"] {
        let r = s.get(Some(&user), &format!("{coll}/?op=is_registered&mac_address=52:54:00:31:00:01")).await;
        assert_eq!((r.status, r.body.as_str()), (200, "true"), "{coll}");
        let r = s.get(Some(&user), &format!("{coll}/?op=is_registered&mac_address=52:54:00:31:00:02")).await;
        assert_eq!((r.status, r.body.as_str()), (200, "false"), "{coll}");
        let r = s.get(Some(&user), &format!("{coll}/?op=is_registered")).await;
        assert_eq!(r.status, 400, "{coll}: {}", r.body);
    }
});
