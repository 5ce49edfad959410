//! `reservedips/` and `reservedips/{id}/` (MAAS 3.6's ReservedIP): CRUD with
//! MAAS's validation words and permissions, and IPAM never handing a
//! reserved address to anything but its MAC. (The rack's DHCP server
//! giving it to that MAC is in `tests/discovery.rs`, with a real DHCP
//! client.) Each test runs against SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use common::*;
use serde_json::json;

const MAC: &str = "00:11:22:33:44:55";

async fn subnet(s: &TestServer, admin: &ApiKey, cidr: &str) -> i64 {
    let r = s.post(Some(admin), "subnets/", &[("cidr", cidr)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["id"].as_i64().unwrap()
}

backend_tests!(reserved_ips_round_trip, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let user = s.user("user", false).await;
    let sid = subnet(&s, &admin, "10.0.0.0/24").await;
    let r = s
        .post(Some(&admin), "ipranges/", &[("type", "dynamic"), ("start_ip", "10.0.0.100"), ("end_ip", "10.0.0.200")])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    assert_eq!(s.get(Some(&user), "reservedips/").await.json(), json!([]));
    let form =
        [("ip", "10.0.0.70"), ("mac_address", MAC), ("comment", "this is a comment"), ("subnet", &*sid.to_string())];
    let r = s.post(Some(&user), "reservedips/", &form).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = s.post(Some(&admin), "reservedips/", &form).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let id = v["id"].as_i64().unwrap();
    assert_eq!(
        (v["ip"].as_str(), v["subnet"]["id"].as_i64(), v["mac_address"].as_str(), v["comment"].as_str()),
        (Some("10.0.0.70"), Some(sid), Some(MAC), Some("this is a comment"))
    );
    assert_eq!(v["subnet"]["cidr"], "10.0.0.0/24");
    assert_eq!(v["resource_uri"], format!("/MAAS/api/2.0/reservedips/{id}/"));

    // The subnet is optional (the one holding the address); so is the comment.
    let r = s.post(Some(&admin), "reservedips/", &[("ip", "10.0.0.71"), ("mac_address", "00-11-22-33-44-AA")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!((r.json()["subnet"]["id"].as_i64(), r.json()["comment"].as_str()), (Some(sid), Some("")));
    assert_eq!(r.json()["mac_address"], "00:11:22:33:44:aa");

    // Read, list; 404 in MAAS's words.
    let url = format!("reservedips/{id}/");
    let r = s.get(Some(&user), &url).await;
    assert_eq!((r.status, r.json()["ip"].as_str()), (200, Some("10.0.0.70")));
    assert_eq!(s.get(Some(&user), "reservedips/").await.json().as_array().unwrap().len(), 2);
    for missing in ["reservedips/9999/", "reservedips/abc/"] {
        let r = s.get(Some(&user), missing).await;
        assert_eq!((r.status, r.body.as_str()), (404, "No ReservedIP matches the given query."));
    }

    // Update: the comment only.
    let r = s.call(Some(&user), "PUT", &url, &[("comment", "x")]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = s.call(Some(&admin), "PUT", &url, &[("comment", "updated comment")]).await;
    assert_eq!((r.status, r.json()["comment"].as_str()), (200, Some("updated comment")), "{}", r.body);
    let immutable = json!({"__all__": ["The ip, mac_address and the subnet of a reserved IP are immutable. Delete the entry and recreate it."]});
    for change in [("ip", "10.0.0.72"), ("mac_address", "00:11:22:33:44:56")] {
        let r = s.call(Some(&admin), "PUT", &url, &[change]).await;
        assert_eq!((r.status, r.json()), (400, immutable.clone()), "{change:?}");
    }
    // Sending the same values back is no change.
    let r = s.call(Some(&admin), "PUT", &url, &[("ip", "10.0.0.70"), ("mac_address", MAC), ("comment", "again")]).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Delete.
    assert_eq!(s.call(Some(&user), "DELETE", &url, &[]).await.status, 403);
    let r = s.call(Some(&admin), "DELETE", &url, &[]).await;
    assert_eq!((r.status, r.content_type.as_deref()), (204, Some("text/plain")));
    assert_eq!(s.get(Some(&user), &url).await.status, 404);
    assert_eq!(s.call(Some(&admin), "DELETE", &url, &[]).await.status, 404);
});

backend_tests!(reserved_ips_validation_words, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    subnet(&s, &admin, "10.0.0.0/24").await;
    subnet(&s, &admin, "2001:db8::/64").await;
    let r = s
        .post(Some(&admin), "ipranges/", &[("type", "dynamic"), ("start_ip", "10.0.0.100"), ("end_ip", "10.0.0.200")])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let err = |form: Vec<(&'static str, &'static str)>| {
        let s = &s;
        let admin = &admin;
        async move {
            let r = s.post(Some(admin), "reservedips/", &form).await;
            assert_eq!(r.status, 400, "{form:?}: {}", r.body);
            r.json()
        }
    };
    assert_eq!(
        err(vec![("comment", "c")]).await,
        json!({"ip": ["This field is required."], "mac_address": ["This field cannot be blank."]})
    );
    assert_eq!(
        err(vec![("ip", "definitelynotanip"), ("mac_address", MAC)]).await,
        json!({"ip": ["Enter a valid IPv4 or IPv6 address."]})
    );
    assert_eq!(
        err(vec![("ip", "10.0.0.11"), ("mac_address", "00:11:22:33:44:gg")]).await,
        json!({"mac_address": ["'00:11:22:33:44:gg' is not a valid MAC address."]})
    );
    assert_eq!(
        err(vec![("ip", "192.168.77.1"), ("mac_address", MAC)]).await,
        json!({"subnet": ["There is no subnet for 192.168.77.1. Create the subnet and try again."]})
    );
    assert_eq!(
        err(vec![("ip", "10.0.0.255"), ("mac_address", MAC)]).await,
        json!({"ip": ["The broadcast address cannot be a reserved IP."]})
    );
    assert_eq!(
        err(vec![("ip", "10.0.0.0"), ("mac_address", MAC)]).await,
        json!({"ip": ["The network address cannot be a reserved IP."]})
    );
    assert_eq!(
        err(vec![("ip", "2001:db8::"), ("mac_address", MAC)]).await,
        json!({"ip": ["The network address cannot be a reserved IP."]})
    );
    assert_eq!(
        err(vec![("ip", "10.0.0.100"), ("mac_address", MAC)]).await,
        json!({"ip": ["The reserved IP 10.0.0.100 must be outside the dynamic range 10.0.0.100 - 10.0.0.200."]})
    );
    assert_eq!(
        err(vec![("ip", "10.0.0.5"), ("mac_address", MAC), ("subnet", "2001:db8::/64")]).await,
        json!({"ip": ["10.0.0.5 is not part of the subnet."]})
    );
    assert!(err(vec![("ip", "10.0.0.5"), ("mac_address", MAC), ("subnet", "999")]).await.get("subnet").is_some());

    // MAAS's two unique constraints.
    let r = s.post(Some(&admin), "reservedips/", &[("ip", "10.0.0.1"), ("mac_address", MAC)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        err(vec![("ip", "10.0.0.1"), ("mac_address", "00:11:22:33:44:56")]).await,
        json!({"ip": ["Reserved IP with this IP address already exists."]})
    );
    assert_eq!(
        err(vec![("ip", "10.0.0.2"), ("mac_address", MAC)]).await,
        json!({"__all__": ["Reserved IP with this MAC address and Subnet already exists."]})
    );
    // The same MAC may hold one address per subnet.
    let r = s.post(Some(&admin), "reservedips/", &[("ip", "2001:db8::10"), ("mac_address", MAC)]).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // An address someone already holds.
    let r = s.post(Some(&admin), "ipaddresses/?op=reserve", &[("ip", "10.0.0.30"), ("mac", "00:aa:bb:cc:dd:ee")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        err(vec![("ip", "10.0.0.30"), ("mac_address", "00:11:22:33:44:99")]).await,
        json!({"ip": ["The ip 10.0.0.30 is already in use by another machine."]})
    );
});

backend_tests!(ipam_never_hands_a_reserved_ip_to_another, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    // .1-.6 usable; .1 reserved for MAC.
    subnet(&s, &admin, "10.0.5.0/29").await;
    let r = s.post(Some(&admin), "reservedips/", &[("ip", "10.0.5.1"), ("mac_address", MAC)]).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Asked for by someone else: refused, naming the reservation.
    let r = s.post(Some(&admin), "ipaddresses/?op=reserve", &[("ip", "10.0.5.1")]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("reserved for 00:11:22:33:44:55"), "{}", r.body);
    // First-free allocation skips it until the subnet is exhausted.
    let mut got = Vec::new();
    loop {
        let r = s.post(Some(&admin), "ipaddresses/?op=reserve", &[("subnet", "10.0.5.0/29")]).await;
        if r.status == 503 {
            assert_eq!(r.body, "No more IPs available in subnet: 10.0.5.0/29.");
            break;
        }
        assert_eq!(r.status, 200, "{}", r.body);
        got.push(r.json()["ip"].as_str().unwrap().to_string());
    }
    assert_eq!(got, ["10.0.5.2", "10.0.5.3", "10.0.5.4", "10.0.5.5", "10.0.5.6"]);
    // Its own MAC may take it.
    let r = s.post(Some(&admin), "ipaddresses/?op=reserve", &[("ip", "10.0.5.1"), ("mac", MAC)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
});
