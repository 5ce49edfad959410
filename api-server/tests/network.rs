//! The network model end to end over HTTP: fabrics, VLANs, spaces, subnets,
//! IP ranges, reservations, static routes, interfaces and IPAM at deploy and
//! release, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use common::*;
use serde_json::Value;

fn ids(v: &Value) -> Vec<i64> {
    v.as_array().unwrap().iter().map(|x| x["id"].as_i64().unwrap()).collect()
}

backend_tests!(fabrics_vlans_spaces, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let user = s.user("user", false).await;

    // The default fabric and its untagged VLAN exist.
    let f = s.get(Some(&user), "fabrics/").await.json();
    assert_eq!(f[0]["id"], 0);
    assert_eq!(f[0]["name"], "fabric-0");
    assert_eq!(f[0]["class_type"], Value::Null);
    let v0 = &f[0]["vlans"][0];
    assert_eq!((v0["id"].as_i64(), v0["vid"].as_i64(), v0["name"].as_str()), (Some(5001), Some(0), Some("untagged")));
    assert_eq!(v0["fabric"], "fabric-0");
    assert_eq!(v0["space"], "undefined");
    assert_eq!(v0["resource_uri"], "/MAAS/api/2.0/vlans/5001/");

    // Creating a fabric: admin only, named fabric-<id>, with its own untagged VLAN.
    assert_eq!(s.post(Some(&user), "fabrics/", &[]).await.status, 403);
    let nf = s.post(Some(&admin), "fabrics/", &[]).await.json();
    let fid = nf["id"].as_i64().unwrap();
    assert_eq!(nf["name"], format!("fabric-{fid}"));
    assert_eq!(nf["vlans"][0]["vid"], 0);
    let named = s.post(Some(&admin), "fabrics/", &[("name", "storage"), ("class_type", "10g")]).await.json();
    assert_eq!(named["class_type"], "10g");
    assert_eq!(s.post(Some(&admin), "fabrics/", &[("name", "storage")]).await.status, 400);

    // VLANs: vid range, duplicates, both URL forms.
    let base = format!("fabrics/{fid}/vlans/");
    for bad in ["4095", "-1", "x"] {
        let r = s.post(Some(&admin), &base, &[("vid", bad)]).await;
        assert_eq!(r.status, 400, "vid {bad}: {}", r.body);
        assert!(r.json()["vid"][0].as_str().unwrap().contains("0 and 4094"));
    }
    assert_eq!(s.post(Some(&admin), &base, &[]).await.json()["vid"][0], "This field is required.");
    let v = s.post(Some(&admin), &base, &[("vid", "100"), ("name", "storage-net"), ("mtu", "9000")]).await;
    assert_eq!(v.status, 200, "{}", v.body);
    let v = v.json();
    let vid_id = v["id"].as_i64().unwrap();
    assert_eq!((v["vid"].as_i64(), v["mtu"].as_i64(), v["dhcp_on"].as_bool()), (Some(100), Some(9000), Some(false)));
    let r = s.post(Some(&admin), &base, &[("vid", "100")]).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("already exists"), "{}", r.body);
    assert_eq!(s.post(Some(&admin), &base, &[("vid", "101"), ("mtu", "100")]).await.status, 400);
    assert_eq!(s.get(Some(&user), &format!("{base}100/")).await.json()["id"], vid_id);
    assert_eq!(s.get(Some(&user), &format!("vlans/{vid_id}/")).await.json()["vid"], 100);
    assert_eq!(s.get(Some(&user), &format!("{base}999/")).await.status, 404);
    assert_eq!(s.get(Some(&user), "vlans/424242/").await.status, 404);
    assert_eq!(ids(&s.get(Some(&user), &base).await.json()).len(), 2);
    // DHCP needs a primary rack and a dynamic range: a clear 400, not a silent no-op.
    let r = s.call(Some(&admin), "PUT", &format!("vlans/{vid_id}/"), &[("dhcp_on", "true")]).await;
    assert_eq!(r.status, 400);
    assert!(r.json()["dhcp_on"][0].as_str().unwrap().contains("primary rack"), "{}", r.body);
    assert_eq!(
        s.call(Some(&admin), "PUT", &format!("vlans/{vid_id}/"), &[("primary_rack", "nope99")]).await.status,
        400
    );
    assert_eq!(
        s.call(Some(&admin), "PUT", &format!("vlans/{vid_id}/"), &[("relay_vlan", &vid_id.to_string())]).await.status,
        400
    );

    // Spaces: a VLAN's space shows by name on the VLAN and its subnets.
    assert_eq!(s.post(Some(&admin), "spaces/", &[("name", "undefined")]).await.status, 400);
    assert_eq!(s.post(Some(&admin), "spaces/", &[]).await.status, 400);
    let sp = s.post(Some(&admin), "spaces/", &[("name", "internal")]).await.json();
    let sp_id = sp["id"].as_i64().unwrap();
    let r = s.call(Some(&admin), "PUT", &format!("vlans/{vid_id}/"), &[("space", "internal")]).await;
    assert_eq!(r.json()["space"], "internal", "{}", r.body);
    let sub = s.post(Some(&admin), "subnets/", &[("cidr", "10.50.0.0/24"), ("vlan", &vid_id.to_string())]).await.json();
    assert_eq!(sub["space"], "internal");
    let spj = s.get(Some(&user), &format!("spaces/{sp_id}/")).await.json();
    assert_eq!(spj["subnets"][0]["cidr"], "10.50.0.0/24");
    assert_eq!(spj["vlans"][0]["id"], vid_id);
    assert_eq!(s.get(Some(&user), "spaces/internal/").await.json()["id"], sp_id);
    // A subnet's space is its VLAN's: asking for another one says where to set it.
    let r = s.post(Some(&admin), "subnets/", &[("cidr", "10.51.0.0/24"), ("space", "internal")]).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("VLAN"), "{}", r.body);

    // Deletes: the default fabric/VLAN stay; a VLAN with subnets is refused.
    assert_eq!(s.call(Some(&admin), "DELETE", "fabrics/0/", &[]).await.status, 400);
    assert_eq!(s.call(Some(&admin), "DELETE", "vlans/5001/", &[]).await.status, 400);
    let r = s.call(Some(&admin), "DELETE", &format!("vlans/{vid_id}/"), &[]).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("subnet"), "{}", r.body);
    assert_eq!(s.call(Some(&admin), "DELETE", &format!("subnets/{}/", sub["id"]), &[]).await.status, 204);
    assert_eq!(s.call(Some(&admin), "DELETE", &format!("vlans/{vid_id}/"), &[]).await.status, 204);
    assert_eq!(s.call(Some(&admin), "DELETE", &format!("spaces/{sp_id}/"), &[]).await.status, 204);
    assert_eq!(s.call(Some(&admin), "DELETE", &format!("fabrics/{fid}/"), &[]).await.status, 204);
    assert_eq!(s.get(Some(&user), &format!("fabrics/{fid}/")).await.status, 404);
});

backend_tests!(subnets_ranges_reservations, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let user = s.user("user", false).await;

    let r = s
        .post(
            Some(&admin),
            "subnets/",
            &[("cidr", "10.20.0.7/24"), ("gateway_ip", "10.20.0.1"), ("dns_servers", "10.20.0.2, 8.8.8.8")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sub = r.json();
    let sid = sub["id"].as_i64().unwrap();
    assert_eq!(sub["cidr"], "10.20.0.0/24");
    assert_eq!(sub["name"], "10.20.0.0/24");
    assert_eq!(sub["vlan"]["id"], 5001);
    assert_eq!(sub["dns_servers"], serde_json::json!(["10.20.0.2", "8.8.8.8"]));
    assert_eq!(sub["rdns_mode"], 2);
    // Overlaps, bad CIDRs, gateways outside the subnet.
    for (cidr, why) in
        [("10.20.0.128/25", "overlaps"), ("10.0.0.0/8", "overlaps"), ("10.20.0.0/33", "format"), ("nonsense", "format")]
    {
        let r = s.post(Some(&admin), "subnets/", &[("cidr", cidr)]).await;
        assert_eq!(r.status, 400, "{cidr}");
        assert!(r.json()["cidr"][0].as_str().unwrap().contains(why), "{cidr}: {}", r.body);
    }
    let r = s.post(Some(&admin), "subnets/", &[("cidr", "10.21.0.0/24"), ("gateway_ip", "10.99.0.1")]).await;
    assert!(r.json()["gateway_ip"][0].as_str().unwrap().contains("within"), "{}", r.body);
    assert_eq!(s.post(Some(&user), "subnets/", &[("cidr", "10.22.0.0/24")]).await.status, 403);
    assert_eq!(s.get(Some(&user), "subnets/10.20.0.0/24/").await.status, 404); // a slash is not a path segment
    assert_eq!(s.get(Some(&user), &format!("subnets/{sid}/")).await.json()["gateway_ip"], "10.20.0.1");
    assert_eq!(s.get(Some(&user), "subnets/999999/").await.status, 404);

    // Ranges: dynamic is admin-only; inside the subnet; no overlap; not over the gateway.
    let dyn_range = [("type", "dynamic"), ("start_ip", "10.20.0.100"), ("end_ip", "10.20.0.199")];
    assert_eq!(s.post(Some(&user), "ipranges/", &dyn_range).await.status, 403);
    let r = s.post(Some(&admin), "ipranges/", &dyn_range).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["subnet"]["id"], sid);
    assert_eq!(r.json()["user"]["username"], "admin");
    let r = s
        .post(Some(&user), "ipranges/", &[("type", "reserved"), ("start_ip", "10.20.0.150"), ("end_ip", "10.20.0.160")])
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("conflicts"), "{}", r.body);
    let r = s
        .post(Some(&admin), "ipranges/", &[("type", "dynamic"), ("start_ip", "10.20.0.1"), ("end_ip", "10.20.0.5")])
        .await;
    assert!(r.body.contains("gateway"), "{}", r.body);
    assert_eq!(
        s.post(Some(&user), "ipranges/", &[("type", "reserved"), ("start_ip", "10.20.0.10"), ("end_ip", "10.20.1.5")])
            .await
            .status,
        400
    );
    assert_eq!(
        s.post(Some(&user), "ipranges/", &[("type", "reserved"), ("start_ip", "10.20.0.20"), ("end_ip", "10.20.0.10")])
            .await
            .status,
        400
    );
    assert_eq!(
        s.post(Some(&user), "ipranges/", &[("type", "bogus"), ("start_ip", "10.20.0.2"), ("end_ip", "10.20.0.3")])
            .await
            .status,
        400
    );
    let rr = s
        .post(
            Some(&user),
            "ipranges/",
            &[("type", "reserved"), ("start_ip", "10.20.0.10"), ("end_ip", "10.20.0.19"), ("comment", "lab")],
        )
        .await
        .json();
    // Another user cannot delete it.
    let other = s.user("other", false).await;
    assert_eq!(s.call(Some(&other), "DELETE", &format!("ipranges/{}/", rr["id"]), &[]).await.status, 403);
    // An update applies `type` like MAAS's form (Terraform sends it on every
    // update): its owner may not make it dynamic, may resend reserved.
    let rpath = format!("ipranges/{}/", rr["id"]);
    let mut upd = vec![("type", "dynamic"), ("start_ip", "10.20.0.10"), ("end_ip", "10.20.0.19")];
    assert_eq!(s.call(Some(&user), "PUT", &rpath, &upd).await.status, 403);
    upd[0].1 = "reserved";
    upd.push(("comment", "lab2"));
    let r = s.call(Some(&user), "PUT", &rpath, &upd).await;
    assert_eq!(
        (r.status, r.json()["type"].as_str(), r.json()["comment"].as_str()),
        (200, Some("reserved"), Some("lab2"))
    );

    // Reserved and unreserved ranges, statistics.
    let res = s.get(Some(&user), &format!("subnets/{sid}/?op=reserved_ip_ranges")).await.json();
    let purposes: Vec<String> = res
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{}-{}:{}", r["start"].as_str().unwrap(), r["end"].as_str().unwrap(), r["purpose"]))
        .collect();
    assert!(purposes.iter().any(|p| p.starts_with("10.20.0.1-10.20.0.2:")), "{purposes:?}");
    assert!(purposes.iter().any(|p| p.starts_with("10.20.0.100-10.20.0.199:[\"dynamic\"]")), "{purposes:?}");
    let free = s.get(Some(&user), &format!("subnets/{sid}/?op=unreserved_ip_ranges")).await.json();
    assert_eq!(free[0]["start"], "10.20.0.3");
    assert_eq!(free[0]["end"], "10.20.0.9");
    assert_eq!(free[0]["num_addresses"], 7);
    let st = s.get(Some(&user), &format!("subnets/{sid}/?op=statistics&include_ranges=true")).await.json();
    assert_eq!(st["total_addresses"], 254);
    assert_eq!(st["num_unavailable"], 2 + 10 + 100);
    assert_eq!(st["num_available"], 254 - 112);
    assert_eq!(st["ip_version"], 4);
    assert!(st["ranges"].as_array().unwrap().len() >= 4);

    // Reservations: the first free address, a chosen one, conflicts, release.
    let a = s.post(Some(&user), "ipaddresses/?op=reserve", &[("subnet", &sid.to_string())]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["ip"], "10.20.0.3");
    assert_eq!(a.json()["alloc_type"], 4);
    let a = s.post(Some(&user), "ipaddresses/?op=reserve", &[("ip", "10.20.0.50"), ("hostname", "printer")]).await;
    assert_eq!(a.json()["subnet"]["cidr"], "10.20.0.0/24");
    let r = s.post(Some(&other), "ipaddresses/?op=reserve", &[("ip", "10.20.0.50")]).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("already in use"));
    for (ip, code) in [("10.20.0.150", 400), ("10.99.0.1", 400), ("10.20.0.255", 400), ("bogus", 400)] {
        assert_eq!(s.post(Some(&user), "ipaddresses/?op=reserve", &[("ip", ip)]).await.status, code, "{ip}");
    }
    assert_eq!(s.post(Some(&user), "ipaddresses/?op=reserve", &[]).await.status, 400);
    let mine = s.get(Some(&user), "ipaddresses/").await.json();
    assert_eq!(mine.as_array().unwrap().len(), 2);
    assert_eq!(s.get(Some(&other), "ipaddresses/").await.json().as_array().unwrap().len(), 0);
    assert_eq!(s.get(Some(&other), "ipaddresses/?all=true").await.status, 403);
    assert_eq!(s.get(Some(&admin), "ipaddresses/?all=true").await.json().as_array().unwrap().len(), 2);
    assert_eq!(s.post(Some(&other), "ipaddresses/?op=release", &[("ip", "10.20.0.50")]).await.status, 400);
    assert_eq!(s.post(Some(&user), "ipaddresses/?op=release", &[("ip", "10.20.0.50")]).await.status, 204);
    assert_eq!(s.post(Some(&user), "ipaddresses/?op=release", &[("ip", "10.20.0.50")]).await.status, 400);
    let ips = s.get(Some(&user), &format!("subnets/{sid}/?op=ip_addresses")).await.json();
    assert_eq!(ips.as_array().unwrap().len(), 1);
    assert_eq!(ips[0]["user"], "user");
    // (Only addresses on nodes' interfaces keep a subnet from being deleted,
    // as in MAAS; a user reservation goes with it: see subnet_delete_rule.)
    // Shrinking the subnet below its ranges is refused.
    let r = s.call(Some(&admin), "PUT", &format!("subnets/{sid}/"), &[("cidr", "10.20.0.0/26")]).await;
    assert_eq!(r.status, 400, "{}", r.body);

    // Exhaustion is a clear 503.
    let tiny = s.post(Some(&admin), "subnets/", &[("cidr", "192.168.77.0/30")]).await.json();
    let t = tiny["id"].as_i64().unwrap().to_string();
    for want in ["192.168.77.1", "192.168.77.2"] {
        assert_eq!(s.post(Some(&user), "ipaddresses/?op=reserve", &[("subnet", &t)]).await.json()["ip"], want);
    }
    let r = s.post(Some(&user), "ipaddresses/?op=reserve", &[("subnet", &t)]).await;
    assert_eq!(r.status, 503);
    assert!(r.body.contains("No more IPs available in subnet: 192.168.77.0/30"), "{}", r.body);

    // IPv6 subnets work the same way.
    let v6 =
        s.post(Some(&admin), "subnets/", &[("cidr", "2001:db8:1::/64"), ("gateway_ip", "2001:db8:1::1")]).await.json();
    let v6id = v6["id"].as_i64().unwrap().to_string();
    let a = s.post(Some(&user), "ipaddresses/?op=reserve", &[("subnet", &v6id)]).await.json();
    assert_eq!(a["ip"], "2001:db8:1::2");
    let st = s.get(Some(&user), &format!("subnets/{v6id}/?op=statistics")).await.json();
    assert_eq!(st["ip_version"], 6);
    assert_eq!(s.post(Some(&admin), "subnets/", &[("cidr", "2001:db8:1:0:8000::/65")]).await.status, 400);

    // Static routes.
    let other_sub = s.post(Some(&admin), "subnets/", &[("cidr", "10.30.0.0/24")]).await.json();
    let route = [
        ("source", sid.to_string()),
        ("destination", other_sub["id"].to_string()),
        ("gateway_ip", "10.20.0.254".to_string()),
    ];
    let route: Vec<(&str, &str)> = route.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = s.post(Some(&admin), "static-routes/", &route).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rt = r.json();
    assert_eq!(rt["source"]["cidr"], "10.20.0.0/24");
    assert_eq!(rt["destination"]["cidr"], "10.30.0.0/24");
    assert_eq!(rt["metric"], 0);
    assert_eq!(s.post(Some(&admin), "static-routes/", &route).await.status, 400);
    let r = s
        .post(
            Some(&admin),
            "static-routes/",
            &[("source", &sid.to_string()), ("destination", &sid.to_string()), ("gateway_ip", "10.20.0.254")],
        )
        .await;
    assert_eq!(r.status, 400);
    let r = s
        .post(
            Some(&admin),
            "static-routes/",
            &[("source", &sid.to_string()), ("destination", "10.30.0.0/24"), ("gateway_ip", "10.30.0.1")],
        )
        .await;
    assert!(r.json()["gateway_ip"][0].as_str().unwrap().contains("source"), "{}", r.body);
    assert_eq!(s.get(Some(&user), "static-routes/").await.json().as_array().unwrap().len(), 1);
    assert_eq!(s.call(Some(&admin), "DELETE", &format!("static-routes/{}/", rt["id"]), &[]).await.status, 204);
    assert_eq!(s.get(Some(&user), &format!("static-routes/{}/", rt["id"])).await.status, 404);
});

backend_tests!(interfaces_and_ipam, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let user = s.user("user", false).await;
    let sub = s.post(Some(&admin), "subnets/", &[("cidr", "10.40.0.0/24"), ("gateway_ip", "10.40.0.1")]).await.json();
    let sub_id = sub["id"].as_i64().unwrap().to_string();
    s.post(Some(&admin), "ipranges/", &[("type", "dynamic"), ("start_ip", "10.40.0.2"), ("end_ip", "10.40.0.99")])
        .await;
    let v6 = s.post(Some(&admin), "subnets/", &[("cidr", "2001:db8:40::/64")]).await.json();

    let m = ready_machine(&s, &admin, "net1", 2, 2048).await;
    let other = ready_machine(&s, &admin, "net2", 2, 2048).await;
    let mj = s.get(Some(&admin), &format!("machines/{m}/")).await.json();
    let eth0 = &mj["interface_set"][0];
    let eth0_id = eth0["id"].as_i64().unwrap();
    assert_eq!(eth0["vlan"]["id"], 5001);
    assert_eq!(eth0["effective_mtu"], 1500);
    // Commissioning linked the boot interface AUTO to the VLAN's IPv4 subnet,
    // with no address until deploy, and made it the default gateway.
    let links = eth0["links"].as_array().unwrap();
    assert_eq!(links.len(), 1, "{eth0}");
    assert_eq!(links[0]["mode"], "auto");
    assert_eq!(links[0]["subnet"]["cidr"], "10.40.0.0/24");
    assert!(links[0].get("ip_address").is_none(), "absent, not null: {}", links[0]);
    assert_eq!(mj["boot_interface"]["id"], eth0_id);
    assert_eq!(mj["ip_addresses"], serde_json::json!([]));
    assert_eq!(mj["default_gateways"]["ipv4"]["gateway_ip"], "10.40.0.1");

    let base = format!("nodes/{m}/interfaces/");
    assert_eq!(s.get(Some(&user), &base).await.status, 200);
    let list = s.get(Some(&admin), &base).await.json();
    assert_eq!(ids(&list), vec![eth0_id]);
    assert_eq!(list[0]["resource_uri"], format!("/MAAS/api/2.0/nodes/{m}/interfaces/{eth0_id}/"));

    // create_physical: admin only, MAC unique across nodes, name defaults.
    assert_eq!(
        s.post(Some(&user), &format!("{base}?op=create_physical"), &[("mac_address", "52:54:00:aa:00:01")])
            .await
            .status,
        403
    );
    let taken = s.get(Some(&admin), &format!("machines/{other}/")).await.json()["interface_set"][0]["mac_address"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s.post(Some(&admin), &format!("{base}?op=create_physical"), &[("mac_address", &taken)]).await;
    assert_eq!(r.status, 400);
    assert!(r.json()["mac_address"][0].as_str().unwrap().contains("net2"), "{}", r.body);
    assert_eq!(s.post(Some(&admin), &format!("{base}?op=create_physical"), &[("mac_address", "zz")]).await.status, 400);
    assert_eq!(s.post(Some(&admin), &format!("{base}?op=create_physical"), &[]).await.status, 400);
    let eth1 = s
        .post(
            Some(&admin),
            &format!("{base}?op=create_physical"),
            &[("mac_address", "52:54:00:AA:00:01"), ("vlan", "5001"), ("tags", "sriov,fast")],
        )
        .await;
    assert_eq!(eth1.status, 200, "{}", eth1.body);
    let eth1 = eth1.json();
    assert_eq!(eth1["name"], "eth1");
    assert_eq!(eth1["mac_address"], "52:54:00:aa:00:01");
    assert_eq!(eth1["tags"], serde_json::json!(["sriov", "fast"]));
    let eth1_id = eth1["id"].as_i64().unwrap();

    // Bonds: parents on this node only; a parent can't be in two bonds.
    let other_eth = s.get(Some(&admin), &format!("nodes/{other}/interfaces/")).await.json()[0]["id"].to_string();
    let r = s
        .post(
            Some(&admin),
            &format!("{base}?op=create_bond"),
            &[("name", "bond0"), ("parents", &eth1_id.to_string()), ("parents", &other_eth)],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("same node"), "{}", r.body);
    assert_eq!(
        s.post(
            Some(&admin),
            &format!("{base}?op=create_bond"),
            &[("name", "bond0"), ("parents", &eth1_id.to_string()), ("bond_mode", "weird")]
        )
        .await
        .status,
        400
    );
    let bond = s
        .post(
            Some(&admin),
            &format!("{base}?op=create_bond"),
            &[
                ("name", "bond0"),
                ("parents", &eth1_id.to_string()),
                ("bond_mode", "802.3ad"),
                ("bond_lacp_rate", "fast"),
            ],
        )
        .await;
    assert_eq!(bond.status, 200, "{}", bond.body);
    let bond = bond.json();
    assert_eq!(bond["parents"], serde_json::json!(["eth1"]));
    assert_eq!(bond["params"]["bond_mode"], "802.3ad");
    assert_eq!(bond["mac_address"], "52:54:00:aa:00:01");
    let r = s
        .post(Some(&admin), &format!("{base}?op=create_bond"), &[("name", "bond1"), ("parents", &eth1_id.to_string())])
        .await;
    assert!(r.body.contains("already in use by bond0"), "{}", r.body);
    let eth1_now = s.get(Some(&admin), &format!("{base}{eth1_id}/")).await.json();
    assert_eq!(eth1_now["children"], serde_json::json!(["bond0"]));
    let r = s.call(Some(&admin), "DELETE", &format!("{base}{eth1_id}/"), &[]).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("bond0"));

    // VLAN interfaces: tagged VLAN on the parent's fabric, one per parent.
    let tagged = s.post(Some(&admin), "fabrics/0/vlans/", &[("vid", "42")]).await.json();
    let tagged_id = tagged["id"].to_string();
    assert_eq!(
        s.post(Some(&admin), &format!("{base}?op=create_vlan"), &[("vlan", "5001"), ("parent", &eth0_id.to_string())])
            .await
            .status,
        400
    );
    let vi = s
        .post(
            Some(&admin),
            &format!("{base}?op=create_vlan"),
            &[("vlan", &tagged_id), ("parent", &eth0_id.to_string())],
        )
        .await;
    assert_eq!(vi.status, 200, "{}", vi.body);
    assert_eq!(vi.json()["name"], format!("{}.42", eth0["name"].as_str().unwrap()));
    assert_eq!(vi.json()["type"], "vlan");
    let r = s
        .post(
            Some(&admin),
            &format!("{base}?op=create_vlan"),
            &[("vlan", &tagged_id), ("parent", &eth0_id.to_string())],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("already exists"), "{}", r.body);

    // link_subnet: STATIC validation, conflicts, mode spelling, wrong VLAN.
    let link = format!("{base}{eth0_id}/?op=link_subnet");
    let r = s.post(Some(&admin), &link, &[("mode", "STATIC"), ("subnet", &sub_id), ("ip_address", "10.41.0.5")]).await;
    assert!(r.body.contains("not within subnet"), "{}", r.body);
    let r = s.post(Some(&admin), &link, &[("mode", "STATIC"), ("subnet", &sub_id), ("ip_address", "10.40.0.50")]).await;
    assert!(r.body.contains("dynamic range"), "{}", r.body);
    assert_eq!(s.post(Some(&admin), &link, &[("mode", "telepathy"), ("subnet", &sub_id)]).await.status, 400);
    assert_eq!(s.post(Some(&admin), &link, &[("mode", "STATIC")]).await.status, 400);
    let r = s.post(Some(&admin), &link, &[("mode", "AUTO"), ("subnet", &sub_id)]).await;
    assert!(r.body.contains("already linked"), "{}", r.body);
    let v6_id = v6["id"].to_string();
    let r = s.post(Some(&admin), &link, &[("mode", "auto"), ("subnet", &v6_id)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let tagged_sub = s.post(Some(&admin), "subnets/", &[("cidr", "10.42.0.0/24"), ("vlan", &tagged_id)]).await.json();
    let r = s.post(Some(&admin), &link, &[("mode", "static"), ("subnet", &tagged_sub["id"].to_string())]).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("VLAN"), "{}", r.body);
    // A STATIC address on the other machine, then the same address here → 409.
    let oe = format!("nodes/{other}/interfaces/{other_eth}/?op=link_subnet");
    let r = s.post(Some(&admin), &oe, &[("mode", "STATIC"), ("subnet", &tagged_sub["id"].to_string())]).await;
    assert!(r.body.contains("VLAN"), "{}", r.body);
    // Unlink the other machine's AUTO link and link STATIC instead.
    let ol = s.get(Some(&admin), &format!("nodes/{other}/interfaces/{other_eth}/")).await.json()["links"][0]["id"]
        .to_string();
    assert_eq!(
        s.post(Some(&admin), &format!("nodes/{other}/interfaces/{other_eth}/?op=unlink_subnet"), &[("id", &ol)])
            .await
            .status,
        200
    );
    assert_eq!(
        s.post(Some(&admin), &format!("nodes/{other}/interfaces/{other_eth}/?op=unlink_subnet"), &[("id", &ol)])
            .await
            .status,
        400
    );
    let r = s.post(Some(&admin), &oe, &[("mode", "STATIC"), ("subnet", &sub_id), ("ip_address", "10.40.0.100")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["links"][0]["ip_address"], "10.40.0.100");

    // Deploy gives AUTO links addresses (IPv4 after the STATIC one and the
    // gateway; IPv6 the first); release returns them.
    let r = s.post(Some(&admin), &format!("machines/{m}/?op=deploy"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ips = r.json()["ip_addresses"].clone();
    assert_eq!(ips, serde_json::json!(["10.40.0.101", "2001:db8:40::1"]), "{}", r.body);
    // Interfaces of a deploying machine are frozen.
    let r = s.post(Some(&admin), &format!("{base}?op=create_physical"), &[("mac_address", "52:54:00:aa:00:09")]).await;
    assert_eq!(r.status, 409, "{}", r.body);
    let r = s.post(Some(&admin), &format!("machines/{m}/?op=release"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mj = s.get(Some(&admin), &format!("machines/{m}/")).await.json();
    assert_eq!(mj["status_name"], "Ready");
    assert_eq!(mj["ip_addresses"], serde_json::json!([]));
    assert_eq!(mj["interface_set"][0]["links"].as_array().unwrap().len(), 2);

    // disconnect, tags, update.
    let r = s.post(Some(&admin), &format!("{base}{eth0_id}/?op=add_tag"), &[("tag", "boot")]).await;
    assert_eq!(r.json()["tags"], serde_json::json!(["boot"]));
    let r = s.post(Some(&admin), &format!("{base}{eth0_id}/?op=remove_tag"), &[("tag", "boot")]).await;
    assert_eq!(r.json()["tags"], serde_json::json!([]));
    let r = s.call(Some(&admin), "PUT", &format!("{base}{eth0_id}/"), &[("mtu", "9000")]).await;
    assert_eq!(r.json()["effective_mtu"], 9000);
    assert_eq!(s.call(Some(&admin), "PUT", &format!("{base}{eth0_id}/"), &[("mtu", "10")]).await.status, 400);
    let r = s.post(Some(&admin), &format!("{base}{eth1_id}/?op=disconnect"), &[]).await;
    assert_eq!(r.json()["vlan"], Value::Null);
    assert_eq!(s.get(Some(&admin), &format!("{base}424242/")).await.status, 404);
    assert_eq!(s.get(Some(&admin), &format!("nodes/{other}/interfaces/{eth0_id}/")).await.status, 404);
});

backend_tests!(concurrent_auto_ips_are_distinct, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    // A /28 has 14 usable addresses, minus the gateway: 13 for 12 machines.
    s.post(Some(&admin), "subnets/", &[("cidr", "10.60.0.0/28"), ("gateway_ip", "10.60.0.1")]).await;
    let mut sids = Vec::new();
    for i in 0..12 {
        sids.push(ready_machine(&s, &admin, &format!("c{i}"), 1, 1024).await);
    }
    let mut tasks = Vec::new();
    for sid in &sids {
        let url = s.api(&format!("machines/{sid}/?op=deploy"));
        let auth = admin.plaintext();
        tasks.push(tokio::spawn(async move {
            let r = client().post(url).header("authorization", auth).send().await.unwrap();
            read(r).await
        }));
    }
    let mut ips = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        ips.push(r.json()["ip_addresses"][0].as_str().unwrap().to_string());
    }
    let mut uniq = ips.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), 12, "an address was handed out twice: {ips:?}");
    // The 13th machine gets the last address; the 14th finds the subnet full
    // and its deploy fails as a whole (503), leaving it Allocated-free.
    let m13 = ready_machine(&s, &admin, "c12", 1, 1024).await;
    assert_eq!(s.post(Some(&admin), &format!("machines/{m13}/?op=deploy"), &[]).await.status, 200);
    let m14 = ready_machine(&s, &admin, "c13", 1, 1024).await;
    let r = s.post(Some(&admin), &format!("machines/{m14}/?op=deploy"), &[]).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("No more IPs available"), "{}", r.body);
    assert_eq!(s.get(Some(&admin), &format!("machines/{m14}/")).await.json()["status_name"], "Ready");
});

backend_tests!(devices_for_containers, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let user = s.user("user", false).await;
    let other = s.user("other", false).await;
    let sub = s.post(Some(&admin), "subnets/", &[("cidr", "10.70.0.0/24"), ("gateway_ip", "10.70.0.1")]).await.json();
    let host = ready_machine(&s, &admin, "host", 2, 2048).await;

    // Juju's CreateDevice: hostname, one MAC, parent → exactly one interface.
    let r = s
        .post(
            Some(&user),
            "devices/",
            &[("hostname", "juju-c-1"), ("mac_addresses", "00:16:3e:00:00:01"), ("parent", &host)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = r.json();
    let dsid = d["system_id"].as_str().unwrap().to_string();
    assert_eq!(d["resource_uri"], format!("/MAAS/api/2.0/devices/{dsid}/"));
    assert_eq!(d["parent"], host);
    assert_eq!(d["owner"], "user");
    assert_eq!(d["interface_set"].as_array().unwrap().len(), 1);
    assert_eq!(d["interface_set"][0]["vlan"], Value::Null);
    assert_eq!(d["fqdn"], "juju-c-1.maas");
    let iface = d["interface_set"][0]["id"].as_i64().unwrap();
    assert_eq!(d["interface_set"][0]["resource_uri"], format!("/MAAS/api/2.0/nodes/{dsid}/interfaces/{iface}/"));
    // Bad input: a MAC in use, a bad MAC, an unknown parent.
    assert_eq!(s.post(Some(&user), "devices/", &[("mac_addresses", "00:16:3e:00:00:01")]).await.status, 400);
    assert_eq!(s.post(Some(&user), "devices/", &[("mac_addresses", "nope")]).await.status, 400);
    assert_eq!(s.post(Some(&user), "devices/", &[("parent", "zzzzzz")]).await.status, 400);
    // Interface.Update(vlan of the subnet), then link_subnet STATIC with no address.
    let iurl = format!("nodes/{dsid}/interfaces/{iface}/");
    let r = s.call(Some(&user), "PUT", &iurl, &[("name", "eth0"), ("vlan", &sub["vlan"]["id"].to_string())]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["vlan"]["vid"], 0);
    assert_eq!(
        s.post(
            Some(&other),
            &format!("{iurl}?op=link_subnet"),
            &[("mode", "STATIC"), ("subnet", &sub["id"].to_string())]
        )
        .await
        .status,
        403
    );
    let r = s
        .post(Some(&user), &format!("{iurl}?op=link_subnet"), &[("mode", "static"), ("subnet", &sub["id"].to_string())])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["links"][0]["ip_address"], "10.70.0.2");
    assert_eq!(r.json()["links"][0]["subnet"]["cidr"], "10.70.0.0/24");
    let d = s.get(Some(&user), &format!("devices/{dsid}/")).await.json();
    assert_eq!(d["ip_addresses"], serde_json::json!(["10.70.0.2"]));
    // nodes/{id}/ renders the device shape too.
    assert_eq!(s.get(Some(&user), &format!("nodes/{dsid}/")).await.json()["parent"], host);
    // Filters: by MAC (any case), hostname, id.
    assert_eq!(ids_of(&s.get(Some(&user), "devices/?mac_address=00:16:3E:00:00:01").await.json()), vec![dsid.clone()]);
    assert_eq!(ids_of(&s.get(Some(&user), "devices/?hostname=juju-c-1").await.json()), vec![dsid.clone()]);
    assert_eq!(ids_of(&s.get(Some(&user), "devices/?hostname=nope").await.json()), Vec::<String>::new());
    assert_eq!(ids_of(&s.get(Some(&user), &format!("devices/?id={dsid}")).await.json()), vec![dsid.clone()]);
    // Machines are not devices and devices are not machines.
    assert_eq!(s.get(Some(&user), &format!("devices/{host}/")).await.status, 404);
    assert!(ids_of(&s.get(Some(&admin), "machines/").await.json()).iter().all(|x| x != &dsid));
    // Only the owner (or an admin) changes or deletes it.
    assert_eq!(s.call(Some(&other), "PUT", &format!("devices/{dsid}/"), &[("hostname", "x")]).await.status, 403);
    let r = s
        .call(Some(&user), "PUT", &format!("devices/{dsid}/"), &[("hostname", "juju-c-2"), ("description", "lxd")])
        .await;
    assert_eq!(r.json()["hostname"], "juju-c-2");
    assert_eq!(s.call(Some(&other), "DELETE", &format!("devices/{dsid}/"), &[]).await.status, 403);
    assert_eq!(s.call(Some(&user), "DELETE", &format!("devices/{dsid}/"), &[]).await.status, 204);
    assert_eq!(s.call(Some(&user), "DELETE", &format!("devices/{dsid}/"), &[]).await.status, 404);
    // Its address went with it.
    let st = s.get(Some(&user), &format!("subnets/{}/?op=statistics", sub["id"])).await.json();
    assert_eq!(st["num_unavailable"], 1);
});

fn ids_of(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|x| x["system_id"].as_str().unwrap().to_string()).collect()
}

backend_tests!(allocation_by_network, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    // Two spaces on two VLANs of the default fabric; a third fabric with a class.
    let dmz = s.post(Some(&admin), "spaces/", &[("name", "dmz")]).await.json();
    let internal = s.post(Some(&admin), "spaces/", &[("name", "internal")]).await.json();
    let v10 = s.post(Some(&admin), "fabrics/0/vlans/", &[("vid", "10"), ("space", "dmz")]).await.json();
    let v20 = s.post(Some(&admin), "fabrics/0/vlans/", &[("vid", "20"), ("space", "internal")]).await.json();
    let s10 =
        s.post(Some(&admin), "subnets/", &[("cidr", "10.10.0.0/24"), ("vlan", &v10["id"].to_string())]).await.json();
    let s20 =
        s.post(Some(&admin), "subnets/", &[("cidr", "10.20.0.0/24"), ("vlan", &v20["id"].to_string())]).await.json();
    let fast = s.post(Some(&admin), "fabrics/", &[("name", "fast"), ("class_type", "25g")]).await.json();

    // m1 (cheaper): one NIC in dmz. m2: one NIC in dmz and one in internal.
    let m1 = ready_machine(&s, &admin, "m1", 1, 1024).await;
    let m2 = ready_machine(&s, &admin, "m2", 4, 8192).await;
    let place = |sid: String, vlan: Value, subnet: Value, iface: Option<i64>| {
        let s = &s;
        let admin = &admin;
        async move {
            let id = match iface {
                Some(id) => id,
                None => s.get(Some(admin), &format!("nodes/{sid}/interfaces/")).await.json()[0]["id"].as_i64().unwrap(),
            };
            let r = s
                .call(Some(admin), "PUT", &format!("nodes/{sid}/interfaces/{id}/"), &[("vlan", &vlan.to_string())])
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
            let r = s
                .post(
                    Some(admin),
                    &format!("nodes/{sid}/interfaces/{id}/?op=link_subnet"),
                    &[("mode", "AUTO"), ("subnet", &subnet.to_string())],
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
            id
        }
    };
    place(m1.clone(), v10["id"].clone(), s10["id"].clone(), None).await;
    place(m2.clone(), v10["id"].clone(), s10["id"].clone(), None).await;
    let e1 = s
        .post(
            Some(&admin),
            &format!("nodes/{m2}/interfaces/?op=create_physical"),
            &[("mac_address", "52:54:00:bb:00:02")],
        )
        .await
        .json();
    let e1 = place(m2.clone(), v20["id"].clone(), s20["id"].clone(), e1["id"].as_i64()).await;

    let alloc = |params: Vec<(&'static str, String)>| {
        let s = &s;
        let admin = &admin;
        async move {
            let mut p: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            p.push(("dry_run", "true"));
            s.post(Some(admin), "machines/?op=allocate", &p).await
        }
    };
    // Juju's spaces form: label and value are the space id.
    let (d, i) = (dmz["id"].to_string(), internal["id"].to_string());
    let r = alloc(vec![("interfaces", format!("{d}:space={d};{i}:space={i}"))]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["system_id"], m2);
    assert_eq!(r.json()["constraints_by_type"]["interfaces"][&i], serde_json::json!([e1]));
    // Only dmz: the cheaper machine wins.
    let r = alloc(vec![("interfaces", format!("{d}:space={d}"))]).await;
    assert_eq!(r.json()["system_id"], m1);
    // Negative space (Juju sends not_subnets=space:<id>).
    let r = alloc(vec![("interfaces", format!("{d}:space={d}")), ("not_subnets", format!("space:{i}"))]).await;
    assert_eq!(r.json()["system_id"], m1);
    let r = alloc(vec![("not_subnets", format!("space:{d}"))]).await;
    assert_eq!(r.status, 409, "{}", r.body);
    // Subnet specifiers.
    assert_eq!(alloc(vec![("subnets", "10.20.0.0/24".into())]).await.json()["system_id"], m2);
    assert_eq!(alloc(vec![("subnets", "ip:10.20.0.77".into())]).await.json()["system_id"], m2);
    assert_eq!(alloc(vec![("subnets", "vid:10".into())]).await.json()["system_id"], m1);
    assert_eq!(alloc(vec![("subnets", "space:internal".into())]).await.json()["system_id"], m2);
    let r = alloc(vec![("subnets", "10.99.0.0/24".into())]).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("No matching subnets found."), "{}", r.body);
    // Fabrics and classes.
    assert_eq!(alloc(vec![("fabrics", "fabric-0".into())]).await.json()["system_id"], m1);
    assert_eq!(alloc(vec![("fabrics", "nope".into())]).await.status, 400);
    assert_eq!(alloc(vec![("fabrics", fast["name"].as_str().unwrap().into())]).await.status, 409);
    assert_eq!(alloc(vec![("fabric_classes", "25g".into())]).await.status, 409);
    assert_eq!(alloc(vec![("not_fabrics", "fabric-0".into())]).await.status, 409);
    // Interface keys: vid, subnet_cidr, mode=unconfigured, negatives.
    let r = alloc(vec![("interfaces", "a:vid=20".into())]).await;
    assert_eq!(r.json()["system_id"], m2);
    let r = alloc(vec![("interfaces", "a:subnet_cidr=10.10.0.0/24,not_name=eth0".into())]).await;
    assert_eq!(r.status, 409, "{}", r.body);
    // Listing filters with the same grammar.
    let l = s.get(Some(&admin), &format!("machines/?interfaces={i}:space={i}")).await.json();
    assert_eq!(l.as_array().unwrap().len(), 1);
    assert_eq!(l[0]["system_id"], m2);
    // A real allocation then deploy: the AUTO links get addresses in both spaces.
    let r = s.post(Some(&admin), "machines/?op=allocate", &[("interfaces", &format!("{i}:space={i}"))]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.post(Some(&admin), &format!("machines/{m2}/?op=deploy"), &[]).await;
    let ips = r.json()["ip_addresses"].clone();
    assert_eq!(ips, serde_json::json!(["10.10.0.1", "10.20.0.1"]), "{}", r.body);
});

// MAAS's Subnet.delete: only addresses held by nodes' interfaces block a
// delete (400 in MAAS's words, `force` overrides); a user reservation goes
// with the subnet. The `maas` CLI's `subnet delete` after `ipaddresses
// reserve` failed before (compat-tests/maascli found it).
backend_tests!(subnet_delete_rule, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let sub = s.post(Some(&admin), "subnets/", &[("cidr", "10.41.0.0/24")]).await.json();
    let sid = sub["id"].as_i64().unwrap().to_string();
    assert_eq!(s.post(Some(&admin), "ipaddresses/?op=reserve", &[("ip", "10.41.0.5")]).await.status, 200);
    let d = s.post(Some(&admin), "devices/", &[("hostname", "printer"), ("mac_addresses", "52:54:00:41:00:01")]).await;
    assert_eq!(d.status, 200, "{}", d.body);
    let dev = d.json()["system_id"].as_str().unwrap().to_string();
    let iface = d.json()["interface_set"][0]["id"].as_i64().unwrap();
    let r = s
        .post(
            Some(&admin),
            &format!("nodes/{dev}/interfaces/{iface}/?op=link_subnet"),
            &[("mode", "STATIC"), ("subnet", &sid), ("ip_address", "10.41.0.9")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.call(Some(&admin), "DELETE", &format!("subnets/{sid}/"), &[]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        r.body,
        "Cannot delete a subnet that has IP addresses in use by nodes. (Use the 'force' parameter to override.)"
    );
    // force: the subnet goes, and with it the device's address and the reservation.
    let r = s.call(Some(&admin), "DELETE", &format!("subnets/{sid}/?force=true"), &[]).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(s.get(Some(&admin), &format!("subnets/{sid}/")).await.status, 404);
    assert_eq!(s.get(Some(&admin), &format!("devices/{dev}/")).await.json()["ip_addresses"], serde_json::json!([]));
    assert_eq!(s.get(Some(&admin), "ipaddresses/?all=true").await.json(), serde_json::json!([]));

    // A subnet holding only a user reservation is deleted without force.
    let sub = s.post(Some(&admin), "subnets/", &[("cidr", "10.42.0.0/24")]).await.json();
    let sid = sub["id"].as_i64().unwrap().to_string();
    assert_eq!(s.post(Some(&admin), "ipaddresses/?op=reserve", &[("ip", "10.42.0.5")]).await.status, 200);
    let r = s.call(Some(&admin), "DELETE", &format!("subnets/{sid}/"), &[]).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(s.get(Some(&admin), "ipaddresses/?all=true").await.json(), serde_json::json!([]));
});
