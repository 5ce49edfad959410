//! The rack link end to end: a real region on port 0 and a real rack daemon
//! (`ironpool_rack::link::Rack`) in this process, talking signed HTTP.
//! Registration, failover between region URLs, wrong secrets, the boot
//! scripts the rack renders from region state, boot events, the /MAAS proxy,
//! and (as root) DHCP served from region state to `dhclient` in a network
//! namespace across a region restart.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use ironpool_common::rack_link::{self as proto, Purpose, RackInterface};
use ironpool_rack::link::{Rack, RackOptions};
use serde_json::Value;

const RACK_MAC: &str = "52:54:00:0f:00:01";

fn rack_options(s: &TestServer, urls: Vec<String>, dir: &std::path::Path, addr: &str) -> RackOptions {
    let mut o = RackOptions::new(urls, s.state.rack_secret.clone(), dir.to_path_buf());
    o.hostname = "rack-one".into();
    o.interfaces =
        Some(vec![RackInterface { name: "eth0".into(), mac: RACK_MAC.into(), addresses: vec![addr.into()] }]);
    o.http_listen = Some("127.0.0.1:0".parse().unwrap());
    o.tftp_listen = None;
    o.dhcp_listen = None;
    // As root, [::]:547 would serve the host's own links.
    o.dhcp6_listen = None;
    o.heartbeat = Some(Duration::from_millis(100));
    o.max_backoff = Duration::from_millis(300);
    o.request_timeout = Duration::from_secs(5);
    o
}

async fn eventually<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn purpose_of(rack: &Rack, mac: &str) -> Option<Purpose> {
    rack.state.config()?.boot.machines.iter().find(|m| m.mac == mac).map(|m| m.purpose)
}

async fn get_text(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

backend_tests!(registers_fails_over_and_serves_boot_scripts, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let dir = tempfile::tempdir().unwrap();
    // The first URL refuses connections: the rack must move on to the second.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let mut o = rack_options(&s, vec![dead, s.origin.clone()], dir.path(), "10.77.0.2/24");
    o.tftp_listen = Some("127.0.0.1:0".parse().unwrap());
    let rack = Rack::start(o).await.unwrap();
    let sid = eventually("registration", Duration::from_secs(10), || {
        rack.state.system_id().filter(|_| rack.state.syncs.load(std::sync::atomic::Ordering::Relaxed) > 0)
    })
    .await;

    // rackcontrollers/ shows it, with its interface, address and services.
    let r = s.get(Some(&admin), "rackcontrollers/").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let list = r.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let rc = &list[0];
    assert_eq!(rc["system_id"], sid.as_str());
    assert_eq!(rc["hostname"], "rack-one");
    assert_eq!(rc["node_type"], 2);
    assert_eq!(rc["connected"], true);
    assert_eq!(rc["interface_set"][0]["mac_address"], RACK_MAC);
    assert_eq!(rc["ip_addresses"], serde_json::json!(["10.77.0.2"]));
    assert!(rc["service_set"].as_array().unwrap().iter().any(|x| x["name"] == "http" && x["status"] == "running"));
    assert_eq!(rc["resource_uri"], format!("/MAAS/api/2.0/rackcontrollers/{sid}/"));
    let r = s.get(Some(&admin), &format!("rackcontrollers/{sid}/")).await;
    assert_eq!(r.status, 200);
    assert_eq!(s.get(Some(&admin), "rackcontrollers/nope/").await.status, 404);
    // Its network became a subnet on the default VLAN.
    let subnets = s.get(Some(&admin), "subnets/").await.json();
    let sub =
        subnets.as_array().unwrap().iter().find(|x| x["cidr"] == "10.77.0.0/24").expect("rack subnet created").clone();
    assert_eq!(sub["vlan"]["id"], 5001);

    // Re-registering (a restarted rack) keeps the same node.
    let mut again = rack_options(&s, vec![s.origin.clone()], dir.path(), "10.77.0.2/24");
    again.http_listen = None;
    let rack2 = Rack::start(again).await.unwrap();
    eventually("re-registration", Duration::from_secs(10), || rack2.state.system_id().filter(|x| *x == sid)).await;
    rack2.stop().await;
    assert_eq!(s.get(Some(&admin), "rackcontrollers/").await.json().as_array().unwrap().len(), 1);

    // A machine being commissioned gets the commissioning script; unknown
    // MACs get enlistment; the chain script points at per-MAC scripts.
    let mac = "52:54:00:0f:00:10";
    let msid = commissioning_machine(&s, &admin, mac, "pxe-one").await;
    eventually("commissioning purpose", Duration::from_secs(10), || {
        purpose_of(&rack, mac).filter(|p| *p == Purpose::Commissioning)
    })
    .await;
    let http = format!("http://{}", rack.http_addr.unwrap());
    let (st, body) = get_text(&format!("{http}/ipxe.cfg-52-54-00-0F-00-10")).await;
    assert_eq!(st, 200);
    assert!(body.starts_with("#!ipxe\n"), "{body}");
    assert!(body.contains("pxe-one (commissioning)"), "{body}");
    let (_, body) = get_text(&format!("{http}/ipxe.cfg-52:54:00:99:99:99")).await;
    assert!(body.contains("enlistment"), "{body}");
    let (_, body) = get_text(&format!("{http}/ipxe.cfg")).await;
    assert!(body.contains("/ipxe.cfg-${net0/mac}"), "{body}");
    assert_eq!(get_text(&format!("{http}/ipxe.cfg-notamac")).await.0, 404);
    assert_eq!(get_text(&format!("{http}/images/{}", "a".repeat(64))).await.0, 404);
    assert_eq!(get_text(&format!("{http}/elsewhere")).await.0, 404);

    // The fetch became a node event on the region.
    let start = Instant::now();
    loop {
        let ev = s.get(Some(&admin), &format!("events/?op=query&id={msid}")).await.json();
        if ev["events"].as_array().unwrap().iter().any(|e| e["type"] == "PXE Request") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "no PXE Request event: {ev}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Once Ready, the machine boots from its disk.
    finish_commissioning(&s, &msid).await;
    eventually("local purpose", Duration::from_secs(10), || purpose_of(&rack, mac).filter(|p| *p == Purpose::Local))
        .await;
    let (_, body) = get_text(&format!("{http}/ipxe.cfg-{mac}")).await;
    assert!(body.contains("sanboot"), "{body}");

    // Machines reach the region's API through the rack.
    let (st, body) = get_text(&format!("{http}/MAAS/api/2.0/version/")).await;
    assert_eq!(st, 200, "{body}");
    assert!(serde_json::from_str::<Value>(&body).unwrap()["capabilities"].is_array());

    // A rack serving DHCP cannot be deleted without force.
    let vlan = s.get(Some(&admin), "vlans/5001/").await;
    assert_eq!(vlan.status, 200, "{}", vlan.body);
    let r = s
        .post(Some(&admin), "ipranges/", &[("type", "dynamic"), ("start_ip", "10.77.0.100"), ("end_ip", "10.77.0.150")])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.call(Some(&admin), "PUT", "vlans/5001/", &[("dhcp_on", "true"), ("primary_rack", &sid)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let cfg =
        eventually("DHCP config", Duration::from_secs(10), || rack.state.config().and_then(|c| c.dhcp.clone())).await;
    assert_eq!(cfg.server_address.to_string(), "10.77.0.2");
    assert_eq!(cfg.subnets[0].range_start.to_string(), "10.77.0.100");
    // Boot configs over TFTP (tftp-hpa's client), from the same cache.
    if let Some(tftp) = rack.tftp_addr.filter(|_| Command::new("tftp").arg("-V").output().is_ok()) {
        let out = tempfile::tempdir().unwrap();
        let get = |remote: &str| {
            let local = out.path().join(remote.replace('/', "_"));
            let o = Command::new("tftp")
                .args(["-m", "binary", "127.0.0.1", &tftp.port().to_string(), "-c", "get", remote])
                .arg(&local)
                .output()
                .unwrap();
            (
                String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
                std::fs::read_to_string(&local).ok(),
            )
        };
        let (_, pxe) = get("pxelinux.cfg/01-52-54-00-0f-00-10");
        assert!(pxe.as_deref().unwrap_or("").contains("LOCALBOOT 0"), "{pxe:?}");
        let (_, ipxe) = get("ipxe.cfg");
        assert!(ipxe.as_deref().unwrap_or("").contains("ipxe.cfg-${net0/mac}"), "{ipxe:?}");
        let (_, grub) = get("grub/grub.cfg");
        assert!(grub.as_deref().unwrap_or("").contains("grub.cfg-${net_default_mac}"), "{grub:?}");
        assert_eq!(get("grub/command.lst").1.as_deref(), Some(""));
        let (log, missing) = get("pxelinux.cfg/C0A80001");
        assert!(missing.unwrap_or_default().is_empty(), "hex-IP names must be file-not-found: {log}");
    } else {
        eprintln!("SKIP: TFTP part (no tftp client)");
    }

    // A VLAN relaying DHCP to the served one: its subnet is served too,
    // from the rack's address on the served VLAN.
    let fabric = s.post(Some(&admin), "fabrics/", &[]).await.json();
    let relayed_vlan = fabric["vlans"][0]["id"].as_i64().unwrap();
    let r = s.post(Some(&admin), "subnets/", &[("cidr", "10.81.0.0/24"), ("vlan", &relayed_vlan.to_string())]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s
        .post(Some(&admin), "ipranges/", &[("type", "dynamic"), ("start_ip", "10.81.0.100"), ("end_ip", "10.81.0.120")])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.call(Some(&admin), "PUT", &format!("vlans/{relayed_vlan}/"), &[("relay_vlan", "5001")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let cfg = eventually("relayed subnet", Duration::from_secs(10), || {
        rack.state.config().and_then(|c| c.dhcp.clone()).filter(|d| d.subnets.len() == 2)
    })
    .await;
    let relayed = cfg.subnets.iter().find(|x| x.cidr.to_string() == "10.81.0.0/24").unwrap();
    assert_eq!(relayed.next_server.map(|a| a.to_string()).as_deref(), Some("10.77.0.2"));

    let r = s.call(Some(&admin), "DELETE", &format!("rackcontrollers/{sid}/"), &[]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("provides DHCP"), "{}", r.body);
    let user = s.user("someone", false).await;
    assert_eq!(
        s.call(Some(&user), "DELETE", &format!("rackcontrollers/{sid}/"), &[("force", "true")]).await.status,
        403
    );
    rack.stop().await;
    let r = s.call(Some(&admin), "DELETE", &format!("rackcontrollers/{sid}/"), &[("force", "true")]).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(s.get(Some(&admin), "vlans/5001/").await.json()["dhcp_on"], false);
});

// An IPv6 subnet with a dynamic range on a VLAN the rack serves: the rack's
// configuration carries it for DHCPv6 (its address in the subnet, the
// range, the subnet's DNS servers, reservations by MAC), and nothing for
// DHCPv4 when the VLAN has no IPv4 subnet.
backend_tests!(ipv6_subnets_reach_the_rack_for_dhcpv6, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let dir = tempfile::tempdir().unwrap();
    let rack = Rack::start(rack_options(&s, vec![s.origin.clone()], dir.path(), "2001:db8:78::2/64")).await.unwrap();
    let sid = eventually("registration", Duration::from_secs(10), || rack.state.system_id()).await;
    let subnets = s.get(Some(&admin), "subnets/").await.json();
    let sub =
        subnets.as_array().unwrap().iter().find(|x| x["cidr"] == "2001:db8:78::/64").expect("rack subnet").clone();
    let vlan = sub["vlan"]["id"].as_i64().unwrap();
    let r =
        s.call(Some(&admin), "PUT", &format!("subnets/{}/", sub["id"]), &[("dns_servers", "2001:db8:78::53")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s
        .post(
            Some(&admin),
            "ipranges/",
            &[("type", "dynamic"), ("start_ip", "2001:db8:78::100"), ("end_ip", "2001:db8:78::1ff")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r =
        s.post(Some(&admin), "reservedips/", &[("ip", "2001:db8:78::20"), ("mac_address", "52:54:00:0f:00:20")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r =
        s.call(Some(&admin), "PUT", &format!("vlans/{vlan}/"), &[("dhcp_on", "true"), ("primary_rack", &sid)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let cfg =
        eventually("DHCPv6 config", Duration::from_secs(10), || rack.state.config().filter(|c| c.dhcp6.is_some()))
            .await;
    assert!(cfg.dhcp.is_none(), "no IPv4 subnet to serve: {:?}", cfg.dhcp);
    let d6 = cfg.dhcp6.clone().unwrap();
    assert_eq!(d6.subnets.len(), 1);
    let s6 = &d6.subnets[0];
    assert_eq!(s6.cidr.to_string(), "2001:db8:78::/64");
    assert_eq!(s6.server_address.to_string(), "2001:db8:78::2");
    assert_eq!(
        (s6.range_start.to_string(), s6.range_end.to_string()),
        ("2001:db8:78::100".into(), "2001:db8:78::1ff".into())
    );
    assert_eq!(s6.dns_servers.iter().map(|a| a.to_string()).collect::<Vec<_>>(), vec!["2001:db8:78::53"]);
    // The reserved IP, and the rack's own address (node addresses are
    // reserved for their MAC, as for IPv4).
    let mut reserved: Vec<(String, String)> =
        d6.reservations.iter().map(|r| (r.mac.to_string(), r.ip.to_string())).collect();
    reserved.sort();
    assert_eq!(
        reserved,
        vec![
            (RACK_MAC.to_string(), "2001:db8:78::2".to_string()),
            ("52:54:00:0f:00:20".to_string(), "2001:db8:78::20".to_string())
        ]
    );
    // DHCP off: the rack gets no DHCPv6 configuration either.
    let r = s.call(Some(&admin), "PUT", &format!("vlans/{vlan}/"), &[("dhcp_on", "false")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    eventually("DHCPv6 off", Duration::from_secs(10), || rack.state.config().filter(|c| c.dhcp6.is_none())).await;
    rack.stop().await;
});

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn raw(s: &TestServer, call: &str, auth: Option<String>, body: &str) -> (u16, String) {
    let mut r = reqwest::Client::new().post(format!("{}{}{call}", s.origin, proto::RPC_PREFIX)).body(body.to_string());
    if let Some(a) = auth {
        r = r.header(proto::AUTH_HEADER, a);
    }
    let resp = r.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

backend_tests!(wrong_secret_and_forged_requests_are_refused, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let dir = tempfile::tempdir().unwrap();
    let mut o = rack_options(&s, vec![s.origin.clone()], dir.path(), "10.78.0.2/24");
    o.secret = proto::new_secret();
    let rack = Rack::start(o).await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(rack.state.system_id().is_none());
    assert!(!rack.state.connected());
    rack.stop().await;
    assert_eq!(s.get(Some(&admin), "rackcontrollers/").await.json(), serde_json::json!([]));
    // A secret that is not hex is refused locally.
    let mut o = rack_options(&s, vec![s.origin.clone()], dir.path(), "10.78.0.2/24");
    o.secret = "guessable".into();
    assert!(Rack::start(o).await.is_err());

    // The secret is also in the data dir, readable by its owner only.
    let file = s.db.dir.path().join("secret");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), s.state.rack_secret);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);

    let body = r#"{"hostname":"x","version":"1","interfaces":[]}"#;
    let path = format!("{}register", proto::RPC_PREFIX);
    let secret = s.state.rack_secret.clone();
    assert_eq!(raw(&s, "register", None, body).await.0, 401);
    assert_eq!(raw(&s, "register", Some("IronpoolRack ts=1,nonce=a,sig=00".into()), body).await.0, 401);
    // Signed for another body, or too old: refused.
    let other = proto::sign(&secret, "POST", &path, now(), b"{}");
    assert_eq!(raw(&s, "register", Some(other), body).await.0, 401);
    let old = proto::sign(&secret, "POST", &path, now() - 3600, body.as_bytes());
    assert_eq!(raw(&s, "register", Some(old), body).await.0, 401);
    // A good signature works once; replaying it is refused.
    let good = proto::sign(&secret, "POST", &path, now(), body.as_bytes());
    let (st, text) = raw(&s, "register", Some(good.clone()), body).await;
    assert_eq!(st, 200, "{text}");
    assert_eq!(raw(&s, "register", Some(good), body).await.0, 401);
    // The answer carries the rack's own key; the shared secret no longer
    // does anything but register.
    let reg: Value = serde_json::from_str(&text).unwrap();
    let (sid, key) = (reg["system_id"].as_str().unwrap(), reg["rack_key"].as_str().unwrap());
    let sync_path = format!("{}sync", proto::RPC_PREFIX);
    let mine = format!(r#"{{"system_id":"{sid}"}}"#);
    let (st, _) = raw(&s, "sync", Some(proto::sign(&secret, "POST", &sync_path, now(), mine.as_bytes())), &mine).await;
    assert_eq!(st, 401);
    let by_key =
        |body: &str, rack: &str| proto::sign_request(key, Some(rack), "POST", &sync_path, now(), body.as_bytes()).0;
    assert_eq!(raw(&s, "sync", Some(by_key(&mine, sid)), &mine).await.0, 200);
    // Well signed but malformed, or for an unknown rack: 4xx, never 5xx.
    let junk = "{not json";
    let (st, text) = raw(&s, "sync", Some(by_key(junk, sid)), junk).await;
    assert_eq!(st, 400, "{text}");
    let unknown = r#"{"system_id":"nosuch"}"#;
    let (st, _) = raw(&s, "sync", Some(by_key(unknown, "nosuch")), unknown).await;
    assert_eq!(st, 404);
    let (st, _) = raw(&s, "sync", Some(by_key(unknown, sid)), unknown).await;
    assert_eq!(st, 403);
    let bad_mac = r#"{"hostname":"x","version":"1","interfaces":[{"name":"e","mac":"zz","addresses":[]}]}"#;
    let (st, text) =
        raw(&s, "register", Some(proto::sign(&secret, "POST", &path, now(), bad_mac.as_bytes())), bad_mac).await;
    assert_eq!(st, 400, "{text}");
    assert!(text.contains("not a MAC address"), "{text}");
});

// ---------------------------------------------------------------- DHCP (root)

const KNOWN_MAC: &str = "52:54:00:0f:01:01";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dhcp_from_region_state_survives_a_region_restart() {
    if !is_root() || Command::new("dhclient").arg("--version").output().is_err() {
        eprintln!("SKIP: needs root and dhclient");
        return;
    }
    let Some(v) = Veth::new("rk") else { return };
    let mut s = TestServer::start(Backend::Sqlite);
    let admin = s.user("admin", true).await;
    let dir = tempfile::tempdir().unwrap();
    let mut o = rack_options(&s, vec![s.origin.clone()], dir.path(), "198.51.100.1/24");
    o.dhcp_listen = Some(SocketAddr::from(([0, 0, 0, 0], 67)));
    o.dhcp_interface = Some(v.host.clone());
    let rack = Rack::start(o).await.unwrap();
    let sid = eventually("registration", Duration::from_secs(10), || rack.state.system_id()).await;

    // A known machine with a static address on the rack's subnet.
    let msid = commissioning_machine(&s, &admin, KNOWN_MAC, "known").await;
    finish_commissioning(&s, &msid).await;
    let node = s.get(Some(&admin), &format!("machines/{msid}/")).await.json();
    let iface = node["interface_set"][0]["id"].as_i64().unwrap();
    let subnet = s.get(Some(&admin), "subnets/").await.json();
    let subnet_id =
        subnet.as_array().unwrap().iter().find(|x| x["cidr"] == "198.51.100.0/24").unwrap()["id"].as_i64().unwrap();
    // Commissioning linked it AUTO (no address until deploy); make it STATIC.
    let link = node["interface_set"][0]["links"][0]["id"].as_i64().expect("AUTO link after commissioning");
    let r = s
        .post(Some(&admin), &format!("nodes/{msid}/interfaces/{iface}/?op=unlink_subnet"), &[("id", &link.to_string())])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s
        .post(
            Some(&admin),
            &format!("nodes/{msid}/interfaces/{iface}/?op=link_subnet"),
            &[("mode", "STATIC"), ("subnet", &subnet_id.to_string()), ("ip_address", "198.51.100.20")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s
        .post(
            Some(&admin),
            "ipranges/",
            &[("type", "dynamic"), ("start_ip", "198.51.100.50"), ("end_ip", "198.51.100.99")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.call(Some(&admin), "PUT", "vlans/5001/", &[("dhcp_on", "true"), ("primary_rack", &sid)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    eventually("DHCP running with the reservation", Duration::from_secs(10), || {
        rack.state
            .config()
            .and_then(|c| c.dhcp.clone())
            .filter(|d| !d.reservations.is_empty())
            .and(rack.state.dhcp_stats())
    })
    .await;

    // Known MAC: its reserved address; unknown MAC: one from the dynamic range,
    // which the region records.
    v.set_mac(KNOWN_MAC);
    let d = dir.path().to_path_buf();
    let v = std::sync::Arc::new(v);
    let v2 = v.clone();
    let got = tokio::task::spawn_blocking(move || v2.dhclient(&d, "known")).await.unwrap();
    assert_eq!(got, "198.51.100.20");
    v.set_mac("52:54:00:0f:01:77");
    let (v2, d) = (v.clone(), dir.path().to_path_buf());
    let dynamic = tokio::task::spawn_blocking(move || v2.dhclient(&d, "unknown")).await.unwrap();
    let last: u8 = dynamic.rsplit('.').next().unwrap().parse().unwrap();
    assert!((50..=99).contains(&last), "{dynamic}");
    let seen = |s: &TestServer, ip: String| {
        let db = s.state.db.clone();
        async move { db.run(move |c| ironpool_region::db::network::address_by_ip(c, &ip)).await.unwrap() }
    };
    let start = Instant::now();
    loop {
        if let Some(a) = seen(&s, dynamic.clone()).await {
            assert_eq!(a.mode, "discovered");
            assert_eq!(a.mac_address.as_deref(), Some("52:54:00:0f:01:77"));
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "lease never reached the region");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The region goes away: the rack keeps serving DHCP from its cache and
    // holds the lease report.
    s.stop().await;
    eventually("rack notices", Duration::from_secs(10), || (!rack.state.connected()).then_some(())).await;
    v.set_mac("52:54:00:0f:01:78");
    let (v2, d) = (v.clone(), dir.path().to_path_buf());
    let during = tokio::task::spawn_blocking(move || v2.dhclient(&d, "during")).await.unwrap();
    let registrations = rack.state.registrations.load(std::sync::atomic::Ordering::Relaxed);

    // It comes back on the same port: the rack reconnects, re-registers and
    // delivers the lease it held.
    s.restart();
    eventually("reconnect", Duration::from_secs(15), || {
        (rack.state.connected() && rack.state.registrations.load(std::sync::atomic::Ordering::Relaxed) > registrations)
            .then_some(())
    })
    .await;
    let start = Instant::now();
    while seen(&s, during.clone()).await.is_none() {
        assert!(start.elapsed() < Duration::from_secs(10), "lease from the outage never reached the region");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And it follows changes made after the restart.
    let r = s.call(Some(&admin), "PUT", "vlans/5001/", &[("dhcp_on", "false")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    eventually("DHCP off", Duration::from_secs(10), || rack.state.config().filter(|c| c.dhcp.is_none())).await;
    rack.stop().await;
}

/// `dhclient -6` once in the namespace of `v`; returns the newest lease's
/// address and stops the daemon it left behind (by its pid file).
fn dhclient6(v: &Veth, dir: &std::path::Path, name: &str) -> String {
    let lf = dir.join(format!("{name}.leases6"));
    let pf = dir.join(format!("{name}.pid6"));
    let cf = dir.join(format!("{name}.conf6"));
    std::fs::write(&cf, "request dhcp6.name-servers;\n").unwrap();
    let out = Command::new("ip")
        .args(["netns", "exec", &v.ns, "dhclient", "-6", "-1", "-v", "-cf"])
        .arg(&cf)
        .arg("-lf")
        .arg(&lf)
        .arg("-pf")
        .arg(&pf)
        .arg("cli0")
        .output()
        .expect("dhclient -6");
    let _ = Command::new("ip").args(["netns", "exec", &v.ns, "dhclient", "-6", "-x", "-pf"]).arg(&pf).output();
    let text = std::fs::read_to_string(&lf).unwrap_or_default();
    assert!(out.status.success(), "dhclient -6: {}", String::from_utf8_lossy(&out.stderr));
    let newest = text.rsplit("lease6 {").next().unwrap_or_default();
    newest
        .lines()
        .find_map(|l| Some(l.trim().strip_prefix("iaaddr ")?.split_whitespace().next()?.to_string()))
        .unwrap_or_else(|| panic!("no lease: {text}"))
}

// The rack daemon serving DHCPv6 from the region's model: an IPv6 subnet
// with a dynamic range and a reserved IP, DHCP turned on for its VLAN, and
// dhclient -6 in a namespace behind a veth pair getting the reserved
// address for the known MAC and a range address for another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dhcpv6_from_region_state() {
    if !is_root() || Command::new("dhclient").arg("--version").output().is_err() {
        eprintln!("SKIP: needs root and dhclient");
        return;
    }
    let Some(v) = Veth::new("r6") else { return };
    // No duplicate address detection (a tentative link-local address cannot
    // send); the links go down and up so they get fresh addresses without it.
    let host_key = format!("net.ipv6.conf.{}.accept_dad=0", v.host);
    assert!(Command::new("sysctl").args(["-q", "-w", &host_key]).status().unwrap().success());
    let cli_key = "net.ipv6.conf.cli0.accept_dad=0";
    assert!(Command::new("ip")
        .args(["netns", "exec", &v.ns, "sysctl", "-q", "-w", cli_key])
        .status()
        .unwrap()
        .success());
    for args in [["link", "set", v.host.as_str(), "down"], ["link", "set", v.host.as_str(), "up"]] {
        assert!(Command::new("ip").args(args).status().unwrap().success());
    }
    let o = Command::new("ip").args(["addr", "add", "2001:db8:79::1/64", "dev", &v.host, "nodad"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = TestServer::start(Backend::Sqlite);
    let admin = s.user("admin", true).await;
    let dir = tempfile::tempdir().unwrap();
    let mut o = rack_options(&s, vec![s.origin.clone()], dir.path(), "2001:db8:79::1/64");
    o.dhcp6_listen = Some(SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 547)));
    o.dhcp_interface = Some(v.host.clone());
    let rack = Rack::start(o).await.unwrap();
    let sid = eventually("registration", Duration::from_secs(10), || rack.state.system_id()).await;
    let subnets = s.get(Some(&admin), "subnets/").await.json();
    let sub =
        subnets.as_array().unwrap().iter().find(|x| x["cidr"] == "2001:db8:79::/64").expect("rack subnet").clone();
    let vlan = sub["vlan"]["id"].as_i64().unwrap();
    let r = s
        .post(
            Some(&admin),
            "ipranges/",
            &[("type", "dynamic"), ("start_ip", "2001:db8:79::100"), ("end_ip", "2001:db8:79::1ff")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.post(Some(&admin), "reservedips/", &[("ip", "2001:db8:79::20"), ("mac_address", KNOWN_MAC)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r =
        s.call(Some(&admin), "PUT", &format!("vlans/{vlan}/"), &[("dhcp_on", "true"), ("primary_rack", &sid)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    eventually("DHCPv6 configuration", Duration::from_secs(10), || {
        rack.state.config().and_then(|c| c.dhcp6.clone()).filter(|d| !d.reservations.is_empty())
    })
    .await;

    v.set_mac(KNOWN_MAC);
    let v = std::sync::Arc::new(v);
    let (v2, d) = (v.clone(), dir.path().to_path_buf());
    let got = tokio::task::spawn_blocking(move || dhclient6(&v2, &d, "known")).await.unwrap();
    assert_eq!(got, "2001:db8:79::20");
    v.set_mac("52:54:00:0f:01:79");
    let (v2, d) = (v.clone(), dir.path().to_path_buf());
    let dynamic: std::net::Ipv6Addr =
        tokio::task::spawn_blocking(move || dhclient6(&v2, &d, "unknown")).await.unwrap().parse().unwrap();
    let last = dynamic.segments()[7];
    assert!(
        dynamic.segments()[..7] == [0x2001, 0xdb8, 0x79, 0, 0, 0, 0] && (0x100..=0x1ff).contains(&last),
        "{dynamic}"
    );
    // Leases and the server identifier are kept in the rack's data dir.
    let leases = std::fs::read_to_string(dir.path().join("dhcp6-leases.json")).unwrap_or_default();
    assert!(leases.contains("2001:db8:79::20"), "{leases}");
    let duid = std::fs::read_to_string(dir.path().join("dhcp6-duid")).unwrap();
    assert!(duid.starts_with("00030001"), "a DUID-LL: {duid}");
    rack.stop().await;
}

/// A one-product simplestreams mirror holding a kernel and an initrd.
fn tiny_mirror(dir: &std::path::Path) -> (Vec<u8>, Vec<u8>) {
    use serde_json::json;
    let kernel: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let initrd: Vec<u8> = (0..100_000u32).map(|i| (i % 13) as u8).collect();
    let mut items = serde_json::Map::new();
    for (ftype, data) in [("boot-kernel", &kernel), ("boot-initrd", &initrd)] {
        let rel = format!("bookworm/amd64/1/{ftype}");
        std::fs::create_dir_all(dir.join(&rel).parent().unwrap()).unwrap();
        std::fs::write(dir.join(&rel), data).unwrap();
        let sha = ironpool_region::engine::image_store::sha256_hex(data);
        items.insert(ftype.into(), json!({"ftype": ftype, "path": rel, "sha256": sha, "size": data.len()}));
    }
    let products = json!({"ironpool:ephemeral:bookworm:amd64": {
        "os": "ironpool", "release": "bookworm", "arch": "amd64", "subarch": "generic", "subarches": "generic",
        "kflavor": "generic", "label": "stable", "versions": {"1": {"items": items}}}});
    std::fs::create_dir_all(dir.join("streams/v1")).unwrap();
    let doc = json!({"content_id": "ironpool:ephemeral", "datatype": "image-downloads", "format": "products:1.0", "products": products});
    std::fs::write(dir.join("streams/v1/products.json"), doc.to_string()).unwrap();
    let index = json!({"format": "index:1.0", "index": {"ironpool:ephemeral": {
        "datatype": "image-downloads", "path": "streams/v1/products.json", "format": "products:1.0", "products": []}}});
    std::fs::write(dir.join("streams/v1/index.json"), index.to_string()).unwrap();
    (kernel, initrd)
}

backend_tests!(boot_files_reach_machines_through_the_rack, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let mirror = tempfile::tempdir().unwrap();
    let (kernel, _initrd) = tiny_mirror(mirror.path());
    import_mirror(&s, &admin, mirror.path()).await;

    let dir = tempfile::tempdir().unwrap();
    let rack = Rack::start(rack_options(&s, vec![s.origin.clone()], dir.path(), "10.79.0.2/24")).await.unwrap();
    let cfg = eventually("kernel in config", Duration::from_secs(10), || {
        rack.state.config().filter(|c| c.boot.enlist.kernel.is_some())
    })
    .await;
    let k = cfg.boot.enlist.kernel.clone().unwrap();
    assert_eq!(k.size, kernel.len() as u64);
    let http = format!("http://{}", rack.http_addr.unwrap());
    let (_, script) = get_text(&format!("{http}/ipxe.cfg-52:54:00:44:44:44")).await;
    assert!(script.contains(&format!("kernel {http}/images/{}", k.sha256)), "{script}");
    assert!(script.contains("enlist-preseed/?op=get_enlist_preseed"), "{script}");
    assert!(
        script.contains(&format!("cloud-config-url=http://{}/MAAS/metadata/", rack.http_addr.unwrap())),
        "{script}"
    );

    // Fetched from the region on first use (byte-identical), then cached; ranges work.
    let body = reqwest::get(format!("{http}/images/{}", k.sha256)).await.unwrap().bytes().await.unwrap();
    assert!(body.as_ref() == kernel.as_slice());
    assert!(dir.path().join("images").join(&k.sha256).exists());
    let r = reqwest::Client::new()
        .get(format!("{http}/images/{}", k.sha256))
        .header("Range", "bytes=1000-1999")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 206);
    assert!(r.bytes().await.unwrap().as_ref() == &kernel[1000..2000]);
    // The region's own image endpoint is for racks only.
    let r = reqwest::get(format!("{}{}images/{}", s.origin, proto::RPC_PREFIX, k.sha256)).await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    rack.stop().await;
});

// ---------------------------------------------------------------- power via the rack

backend_tests!(power_actions_run_on_the_rack, |b| async move {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _sushy = common::peers::start_sushy(dir.path(), port, "52:54:00:12:34:57");
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let rdir = tempfile::tempdir().unwrap();
    let rack = Rack::start(rack_options(&s, vec![s.origin.clone()], rdir.path(), "10.80.0.2/24")).await.unwrap();
    eventually("registration", Duration::from_secs(10), || rack.state.system_id()).await;

    let bmc = format!("http://127.0.0.1:{port}");
    let r = s
        .post(
            Some(&admin),
            "machines/",
            &[
                ("architecture", "amd64/generic"),
                ("mac_addresses", "52:54:00:0f:02:01"),
                ("hostname", "redfish-one"),
                ("power_type", "redfish"),
                ("power_parameters_power_address", &bmc),
                ("power_parameters_power_user", "admin"),
                ("power_parameters_power_pass", "password"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sid = r.json()["system_id"].as_str().unwrap().to_string();
    // Commissioning powers the machine on: through the rack, against sushy.
    let wait_power = |want: &'static str| {
        let (s, admin, sid) = (&s, &admin, sid.clone());
        async move {
            let start = Instant::now();
            loop {
                let m = s.get(Some(admin), &format!("machines/{sid}/")).await.json();
                if m["power_state"] == want {
                    return;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(20),
                    "power_state never became {want}: {}",
                    m["power_state"]
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    wait_power("on").await;
    assert!(rack.state.power_commands.load(std::sync::atomic::Ordering::Relaxed) >= 1, "the rack did not run it");
    finish_commissioning(&s, &sid).await;
    let r = s.post(Some(&admin), "machines/?op=allocate", &[("system_id", &sid)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let before = rack.state.power_commands.load(std::sync::atomic::Ordering::Relaxed);
    let r = s.post(Some(&admin), &format!("machines/{sid}/?op=power_off"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    wait_power("off").await;
    assert!(rack.state.power_commands.load(std::sync::atomic::Ordering::Relaxed) > before);
    // query_power_state asks the BMC through the rack, as MAAS's rack does.
    let before = rack.state.power_commands.load(std::sync::atomic::Ordering::Relaxed);
    let r = s.get(Some(&admin), &format!("machines/{sid}/?op=query_power_state")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["state"], "off", "{}", r.body);
    assert!(rack.state.power_commands.load(std::sync::atomic::Ordering::Relaxed) > before, "not through the rack");

    // A wrong password: power_state error and an event saying why (no password in it).
    let r = s.call(Some(&admin), "PUT", &format!("machines/{sid}/"), &[("power_parameters_power_pass", "wrong")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.post(Some(&admin), &format!("machines/{sid}/?op=power_on"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    wait_power("error").await;
    let ev = s.get(Some(&admin), &format!("events/?op=query&id={sid}")).await.json();
    let failed = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "Failed to power on node")
        .expect("failure event")
        .clone();
    assert!(failed["description"].as_str().unwrap().contains("auth"), "{failed}");
    assert!(!failed["description"].as_str().unwrap().contains("wrong"), "{failed}");
    // A query the rack cannot answer is a 503 that says why.
    let r = s.get(Some(&admin), &format!("machines/{sid}/?op=query_power_state")).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("Unable to query the power state") && r.body.contains("auth"), "{}", r.body);
    assert!(!r.body.contains("wrong"), "{}", r.body);
    rack.stop().await;
});

// ---------------------------------------------------------------- metrics

/// `name{labels} value` lines of a Prometheus text scrape, by series.
fn series(text: &str) -> std::collections::HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

async fn scrape(rack: &Rack) -> std::collections::HashMap<String, f64> {
    let (st, body) = get_text(&format!("http://{}/metrics", rack.metrics_addr.unwrap())).await;
    assert_eq!(st, 200, "{body}");
    series(&body)
}

/// One TFTP read of a small file (a single DATA block), acknowledged.
fn tftp_read(server: SocketAddr, file: &str) -> Vec<u8> {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut rrq = vec![0, 1];
    rrq.extend_from_slice(file.as_bytes());
    rrq.push(0);
    rrq.extend_from_slice(b"octet\0");
    sock.send_to(&rrq, server).unwrap();
    let mut buf = [0u8; 1024];
    let (n, from) = sock.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..2], &[0, 3], "not DATA: {:?}", &buf[..n]);
    assert!(n - 4 < 512, "the test reads one-block files only");
    sock.send_to(&[0, 4, buf[2], buf[3]], from).unwrap();
    buf[4..n].to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rack_metrics_follow_its_servers_and_its_link() {
    let s = TestServer::start(Backend::Sqlite);
    let dir = tempfile::tempdir().unwrap();
    let mut o = rack_options(&s, vec![s.origin.clone()], dir.path(), "10.81.0.2/24");
    o.tftp_listen = Some("127.0.0.1:0".parse().unwrap());
    o.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    let rack = Rack::start(o).await.unwrap();
    let sid = eventually("registration", Duration::from_secs(10), || {
        rack.state.system_id().filter(|_| rack.state.syncs.load(std::sync::atomic::Ordering::Relaxed) > 0)
    })
    .await;

    let m = scrape(&rack).await;
    assert_eq!(m["ironpool_rack_region_connected"], 1.0, "{m:?}");
    assert!(m["ironpool_rack_syncs_total"] >= 1.0);
    assert!(m["ironpool_rack_registrations_total"] >= 1.0);
    assert!(m["ironpool_rack_last_sync_age_seconds"] < 60.0);
    assert_eq!(m["ironpool_rack_config_loaded"], 1.0);
    let info = format!("ironpool_rack_info{{system_id=\"{sid}\",version=\"{}\"}}", ironpool_common::IRONPOOL_VERSION);
    assert_eq!(m.get(&info), Some(&1.0), "{m:?}");
    // DHCP never ran (the region enabled it nowhere): no DHCP series.
    assert!(!m.keys().any(|k| k.starts_with("ironpool_rack_dhcp_")), "{m:?}");

    // The HTTP boot server counts by route and status.
    let http = format!("http://{}", rack.http_addr.unwrap());
    assert_eq!(get_text(&format!("{http}/ipxe.cfg")).await.0, 200);
    assert_eq!(get_text(&format!("{http}/ipxe.cfg-notamac")).await.0, 404);
    assert_eq!(get_text(&format!("{http}/ipxe.cfg-notamac")).await.0, 404);
    // TFTP: a read served from the rack's generated files.
    let tftp = rack.tftp_addr.unwrap();
    let chain = tokio::task::spawn_blocking(move || tftp_read(tftp, "ipxe.cfg")).await.unwrap();
    assert!(chain.starts_with(b"#!ipxe"), "{}", String::from_utf8_lossy(&chain));
    let m = eventually_async_scrape(&rack, |m| {
        m.get("ironpool_rack_tftp_transfers_total{result=\"completed\"}").is_some_and(|v| *v >= 1.0)
    })
    .await;
    assert_eq!(m["ironpool_rack_http_responses_total{route=\"chain\",status=\"200\"}"], 1.0, "{m:?}");
    assert_eq!(m["ironpool_rack_http_responses_total{route=\"script\",status=\"404\"}"], 2.0, "{m:?}");
    assert!(m["ironpool_rack_tftp_requests_total"] >= 1.0);
    assert!(m["ironpool_rack_tftp_sent_bytes_total"] >= chain.len() as f64);

    // Only /metrics is served on the metrics listener.
    assert_eq!(get_text(&format!("http://{}/", rack.metrics_addr.unwrap())).await.0, 404);

    // The region goes away: the scrape says so.
    s.stop().await;
    eventually_async_scrape(&rack, |m| m.get("ironpool_rack_region_connected") == Some(&0.0)).await;
    rack.stop().await;
}

/// Scrapes until `ok` holds (background work decides when counters move).
async fn eventually_async_scrape(
    rack: &Rack,
    ok: impl Fn(&std::collections::HashMap<String, f64>) -> bool,
) -> std::collections::HashMap<String, f64> {
    let start = Instant::now();
    loop {
        let m = scrape(rack).await;
        if ok(&m) {
            return m;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "metrics never got there: {m:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------- long poll

/// Creates a machine through `s` (which commissions it, powering it on
/// through a rack; its BMC is a closed port, so the command's outcome does
/// not matter) and waits up to 10 s for the command to be on `rack`.
async fn power_on_through_the_rack(s: &TestServer, admin: &ApiKey, rack: &Rack, mac: &str, hostname: &str) {
    let bmc = format!("http://127.0.0.1:{}", free_port());
    let r = s
        .post(
            Some(admin),
            "machines/",
            &[
                ("architecture", "amd64/generic"),
                ("mac_addresses", mac),
                ("hostname", hostname),
                ("power_type", "redfish"),
                ("power_parameters_power_address", &bmc),
                ("power_parameters_power_user", "admin"),
                ("power_parameters_power_pass", "password"),
                ("power_parameters_node_id", "00000000-0000-4000-8000-000000000001"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    eventually("the power command on the rack", Duration::from_secs(10), || {
        (rack.state.power_commands.load(std::sync::atomic::Ordering::Relaxed) >= 1).then_some(())
    })
    .await;
}

/// A rack on `s` with a 20 s heartbeat, past its first sync and settled
/// into the long poll after it.
async fn long_polling_rack(s: &TestServer, dir: &std::path::Path, addr: &str) -> Rack {
    let mut o = rack_options(s, vec![s.origin.clone()], dir, addr);
    o.http_listen = None;
    o.heartbeat = Some(Duration::from_secs(20));
    let rack = Rack::start(o).await.unwrap();
    eventually("first sync", Duration::from_secs(10), || {
        (rack.state.syncs.load(std::sync::atomic::Ordering::Relaxed) > 0).then_some(())
    })
    .await;
    // Let the next poll begin and settle into its wait.
    tokio::time::sleep(Duration::from_millis(500)).await;
    rack
}

/// A rack waits in a long-polled sync for a heartbeat; a power command
/// issued meanwhile reaches it when the job worker hands the job out, not
/// when the poll ends. With a 20 s heartbeat, a command that waited for the
/// poll would take up to 20 s; the test allows 10.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_power_command_reaches_a_long_polling_rack_without_waiting_a_heartbeat() {
    let s = TestServer::start(Backend::Sqlite);
    let admin = s.user("admin", true).await;
    let dir = tempfile::tempdir().unwrap();
    let rack = long_polling_rack(&s, dir.path(), "10.82.0.2/24").await;
    let polls_before = rack.state.syncs.load(std::sync::atomic::Ordering::Relaxed);

    power_on_through_the_rack(&s, &admin, &rack, "52:54:00:0f:02:01", "long-poll").await;
    // It came in the poll that was waiting (or the one after it), not in a
    // heartbeat's worth of polls.
    assert!(rack.state.syncs.load(std::sync::atomic::Ordering::Relaxed) <= polls_before + 2);
    // The result goes back beside the next poll and the job is done.
    let db = s.state.db.clone();
    let start = Instant::now();
    loop {
        let n = db
            .run(|c| {
                use diesel::prelude::*;
                use ironpool_region::db::schema::jobs;
                Ok(jobs::table.filter(jobs::kind.eq("power")).count().get_result::<i64>(c).unwrap())
            })
            .await
            .unwrap();
        if n == 0 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "the power result never reached the region");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    rack.stop().await;
}

/// Two regions on one PostgreSQL: a commit in one wakes the other's
/// waiters (NOTIFY on commit, LISTEN in each region), and a rack long-polling
/// the second region gets a command issued through the first without waiting
/// for its heartbeat, whichever region's worker hands the job out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_regions_commit_wakes_a_long_poll() {
    use ironpool_region::db::wake::{mark, Wake};
    let s1 = TestServer::start(Backend::Postgres);
    let s2 = s1.second_region();
    let admin = s1.user("admin", true).await;

    // The transport alone: region 2's rack waiters wake for region 1's mark.
    // The listener connects in the background: mark until it answers.
    let w2 = s2.state.db.wakeups().clone();
    let start = Instant::now();
    loop {
        let woken = w2.racks.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        s1.state
            .db
            .write(|_| {
                mark(Wake::Racks);
                Ok(())
            })
            .await
            .unwrap();
        if tokio::time::timeout(Duration::from_secs(2), woken).await.is_ok() {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "region 2 never heard region 1's commit");
    }
    // Nothing is sent, and no one woken, for a transaction that fails.
    let woken = w2.racks.notified();
    tokio::pin!(woken);
    woken.as_mut().enable();
    let failed: Result<(), _> = s1
        .state
        .db
        .write(|_| {
            mark(Wake::Racks);
            Err(ironpool_region::error::Error::BadRequest("no".into()))
        })
        .await;
    assert!(failed.is_err());
    assert!(tokio::time::timeout(Duration::from_millis(1500), woken).await.is_err(), "woken by a rolled-back write");

    // End to end: the rack polls region 2 with a 20 s heartbeat.
    let dir = tempfile::tempdir().unwrap();
    let rack = long_polling_rack(&s2, dir.path(), "10.83.0.2/24").await;
    power_on_through_the_rack(&s1, &admin, &rack, "52:54:00:0f:03:01", "cross-region").await;
    rack.stop().await;
}

// A change to one machine among many reaches the rack as a delta, not as
// the whole document again: the rack applies it to the configuration it
// holds and checks the result against the region's hash before serving it.
backend_tests!(configuration_changes_reach_the_rack_as_deltas, |b| async move {
    use std::sync::atomic::Ordering::Relaxed;
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let dir = tempfile::tempdir().unwrap();
    let rack = Rack::start(rack_options(&s, vec![s.origin.clone()], dir.path(), "10.81.0.2/24")).await.unwrap();
    eventually("registration", Duration::from_secs(10), || {
        rack.state.system_id().filter(|_| rack.state.syncs.load(Relaxed) > 0)
    })
    .await;
    let macs: Vec<String> = (0..30).map(|i| format!("52:54:00:81:00:{i:02x}")).collect();
    let mut sids = Vec::new();
    for (i, mac) in macs.iter().enumerate() {
        sids.push(commissioning_machine(&s, &admin, mac, &format!("delta{i}")).await);
    }
    eventually("every machine on the rack", Duration::from_secs(20), || {
        macs.iter().all(|m| purpose_of(&rack, m) == Some(Purpose::Commissioning)).then_some(())
    })
    .await;
    let whole = rack.state.configs_whole.load(Relaxed);
    let deltas = rack.state.configs_delta.load(Relaxed);
    assert!(whole >= 1, "the first configuration comes whole");

    finish_commissioning(&s, &sids[5]).await;
    eventually("the finished machine to boot locally", Duration::from_secs(20), || {
        purpose_of(&rack, &macs[5]).filter(|p| *p == Purpose::Local)
    })
    .await;
    assert!(rack.state.configs_delta.load(Relaxed) > deltas, "the change came as a delta");
    assert_eq!(rack.state.configs_whole.load(Relaxed), whole, "no whole document was sent again");
    let cfg = rack.state.config().unwrap();
    assert_eq!(cfg.boot.machines.len(), 30);
    for (i, mac) in macs.iter().enumerate() {
        let want = if i == 5 { Purpose::Local } else { Purpose::Commissioning };
        assert_eq!(purpose_of(&rack, mac), Some(want), "{mac}");
    }
    rack.stop().await;
});
