//! `discovery/` (MAAS's DiscoveriesHandler / DiscoveryHandler): what racks
//! observe. A real rack's DHCP server hands leases to a real `dhclient` in a
//! network namespace and reports them over the rack link; each becomes a
//! discovery with the rack as observer. The same test checks that a
//! reserved IP (`reservedips/`) is what the rack's DHCP server gives its
//! MAC. The API tests (shapes, filters, clear, words) feed sightings through
//! the engine call the rack link makes, on both databases.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use ironpool_common::dhcp::{LeaseEvent, LeaseEventKind};
use ironpool_common::rack_link::{LeaseReport, RackInterface};
use ironpool_rack::link::{Rack, RackOptions};
use ironpool_region::engine;
use serde_json::{json, Value};

const RACK_MAC: &str = "52:54:00:0d:00:01";

fn rack_options(s: &TestServer, dir: &std::path::Path, addr: &str) -> RackOptions {
    let mut o = RackOptions::new(vec![s.origin.clone()], s.state.rack_secret.clone(), dir.to_path_buf());
    o.hostname = "rack-eye".into();
    o.interfaces =
        Some(vec![RackInterface { name: "eth0".into(), mac: RACK_MAC.into(), addresses: vec![addr.into()] }]);
    o.http_listen = Some("127.0.0.1:0".parse().unwrap());
    o.tftp_listen = None;
    o.dhcp_listen = None;
    o.heartbeat = Some(Duration::from_millis(100));
    o.max_backoff = Duration::from_millis(300);
    o.request_timeout = Duration::from_secs(5);
    o
}

async fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the rack link's lease report does for `rack_sid`, through the same
/// engine call (`rpc.rs` → `engine::racks::record_leases`).
async fn sighting(s: &TestServer, rack_sid: &str, mac: &str, ip: &str, hostname: Option<&str>) {
    let report = LeaseReport {
        system_id: rack_sid.to_string(),
        events: vec![LeaseEvent {
            kind: LeaseEventKind::Bound,
            mac: mac.parse().unwrap(),
            ip: ip.parse::<Ipv4Addr>().unwrap(),
            hostname: hostname.map(str::to_string),
            lease_time: 600,
        }],
    };
    let sid = rack_sid.to_string();
    s.state
        .db
        .write(move |c| {
            let rack = engine::racks::rack(c, &sid)?;
            engine::racks::record_leases(c, &rack, &report)
        })
        .await
        .unwrap();
}

fn ips(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|d| d["ip"].as_str().unwrap().to_string()).collect()
}

backend_tests!(discoveries_from_rack_sightings, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let user = s.user("user", false).await;
    let dir = tempfile::tempdir().unwrap();
    let rack = Rack::start(rack_options(&s, dir.path(), "192.0.2.1/24")).await.unwrap();
    let rack_sid = eventually("registration", || rack.state.system_id()).await;
    assert_eq!(s.get(Some(&user), "discovery/").await.json(), json!([]));

    // A known machine's MAC, and a stranger seen twice.
    let msid = commissioning_machine(&s, &admin, "52:54:00:0d:01:01", "known").await;
    assert!(!msid.is_empty());
    sighting(&s, &rack_sid, "52:54:00:0d:01:01", "192.0.2.60", None).await;
    sighting(&s, &rack_sid, "52:54:00:0d:01:77", "192.0.2.61", Some("stranger")).await;
    sighting(&s, &rack_sid, "52:54:00:0d:01:77", "192.0.2.61", None).await;

    let r = s.get(Some(&user), "discovery/").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let list = r.json();
    assert_eq!(ips(&list).len(), 2, "{list}");
    // Most recently seen first.
    assert_eq!(ips(&list), ["192.0.2.61", "192.0.2.60"]);
    let d = &list[0];
    assert_eq!(d["mac_address"], "52:54:00:0d:01:77");
    assert_eq!(d["hostname"], "stranger");
    assert_eq!(d["mac_organization"], Value::Null);
    assert_eq!(d["fabric_name"], "fabric-0");
    assert_eq!(d["vid"], 0);
    assert_eq!(d["observer"]["system_id"], rack_sid.as_str());
    assert_eq!(d["observer"]["hostname"], "rack-eye");
    assert_eq!(d["observer"]["interface_name"], "eth0");
    assert!(d["observer"]["interface_id"].is_i64());
    // MAAS's id: base64 of "ip,mac".
    let id = d["discovery_id"].as_str().unwrap().to_string();
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::URL_SAFE.decode(&id).unwrap();
    assert_eq!(String::from_utf8(decoded).unwrap(), "192.0.2.61,52:54:00:0d:01:77");
    assert_eq!(d["resource_uri"], format!("/MAAS/api/2.0/discovery/{id}/"));
    let r = s.get(Some(&user), &format!("discovery/{id}/")).await;
    assert_eq!((r.status, r.json()), (200, d.clone()));
    let r = s.get(Some(&user), "discovery/bm9wZQ==/").await;
    assert_eq!((r.status, r.body.as_str()), (404, "No Discovery matches the given query."));

    // by_unknown_mac leaves out the machine's MAC; both lease addresses are
    // known to IPAM (MAAS counts an address its DHCP handed out as known).
    let r = s.get(Some(&user), "discovery/?op=by_unknown_mac").await.json();
    assert_eq!(ips(&r), ["192.0.2.61"]);
    assert_eq!(s.get(Some(&user), "discovery/?op=by_unknown_ip").await.json(), json!([]));
    assert_eq!(s.get(Some(&user), "discovery/?op=by_unknown_ip_and_mac").await.json(), json!([]));
    // The stranger's address is released: its IP is unknown again.
    let sid = rack_sid.clone();
    s.state
        .db
        .write(move |c| {
            let rack = engine::racks::rack(c, &sid)?;
            let report = LeaseReport {
                system_id: sid.clone(),
                events: vec![LeaseEvent {
                    kind: LeaseEventKind::Released,
                    mac: "52:54:00:0d:01:77".parse().unwrap(),
                    ip: "192.0.2.61".parse().unwrap(),
                    hostname: None,
                    lease_time: 0,
                }],
            };
            engine::racks::record_leases(c, &rack, &report)
        })
        .await
        .unwrap();
    assert_eq!(ips(&s.get(Some(&user), "discovery/?op=by_unknown_ip_and_mac").await.json()), ["192.0.2.61"]);

    // clear: admins only, one of the three flags, MAAS's words.
    let r = s.post(Some(&user), "discovery/?op=clear", &[("all", "true")]).await;
    assert_eq!((r.status, r.body.as_str()), (403, "Must be an administrator to clear discovery entries."));
    let r = s.post(Some(&admin), "discovery/?op=clear", &[]).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        "Bad request: could not determine what data to clear.\nMust specify mdns=True, neighbours=True, or all=True."
    );
    let r = s.post(Some(&admin), "discovery/?op=clear", &[("mdns", "true")]).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(s.get(Some(&user), "discovery/").await.json()[0]["hostname"], Value::Null);

    // clear_by_mac_and_ip: mandatory params, 410 when there is nothing.
    let r = s.post(Some(&admin), "discovery/?op=clear_by_mac_and_ip", &[("ip", "192.0.2.60")]).await;
    assert_eq!((r.status, r.body.as_str()), (400, "No provided mac!"));
    let form = [("ip", "192.0.2.60"), ("mac", "52:54:00:0d:01:01")];
    assert_eq!(s.post(Some(&user), "discovery/?op=clear_by_mac_and_ip", &form).await.status, 403);
    assert_eq!(s.post(Some(&admin), "discovery/?op=clear_by_mac_and_ip", &form).await.status, 204);
    assert_eq!(s.post(Some(&admin), "discovery/?op=clear_by_mac_and_ip", &form).await.status, 410);
    assert_eq!(ips(&s.get(Some(&user), "discovery/").await.json()), ["192.0.2.61"]);
    let r = s.post(Some(&admin), "discovery/?op=clear", &[("neighbours", "true")]).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(s.get(Some(&user), "discovery/").await.json(), json!([]));

    // scan: MAAS's own refusal first, then ours.
    let r = s.post(Some(&admin), "discovery/?op=scan", &[]).await;
    assert_eq!(r.status, 400);
    assert!(r.body.starts_with("Bad request: scanning all subnets is not allowed unless force=True is specified."));
    let r = s.post(Some(&admin), "discovery/?op=scan", &[("cidr", "192.0.2.0/24")]).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("do not scan networks"), "{}", r.body);
    rack.stop().await;
});

// ------------------------------------------------- a real DHCP client (root)

const RESERVED_MAC: &str = "52:54:00:0d:02:01";
const STRANGER_MAC: &str = "52:54:00:0d:02:77";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_dhcp_client_gets_its_reserved_ip_and_becomes_a_discovery() {
    if !is_root() || Command::new("dhclient").arg("--version").output().is_err() {
        eprintln!("SKIP: needs root and dhclient");
        return;
    }
    let Some(v) = Veth::new("dv") else { return };
    let s = TestServer::start(Backend::Sqlite);
    let admin = s.user("admin", true).await;
    let dir = tempfile::tempdir().unwrap();
    let mut o = rack_options(&s, dir.path(), "198.51.100.1/24");
    o.dhcp_listen = Some(SocketAddr::from(([0, 0, 0, 0], 67)));
    o.dhcp_interface = Some(v.host.clone());
    let rack = Rack::start(o).await.unwrap();
    let sid = eventually("registration", || rack.state.system_id()).await;

    let r = s
        .post(
            Some(&admin),
            "ipranges/",
            &[("type", "dynamic"), ("start_ip", "198.51.100.50"), ("end_ip", "198.51.100.99")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.post(Some(&admin), "reservedips/", &[("ip", "198.51.100.20"), ("mac_address", RESERVED_MAC)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.call(Some(&admin), "PUT", "vlans/5001/", &[("dhcp_on", "true"), ("primary_rack", &sid)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    eventually("DHCP running with the reservation", || {
        rack.state
            .config()
            .and_then(|c| c.dhcp.clone())
            .filter(|d| d.reservations.iter().any(|r| r.mac.to_string() == RESERVED_MAC))
            .and(rack.state.dhcp_stats())
    })
    .await;

    let v = std::sync::Arc::new(v);
    let (v2, d) = (v.clone(), dir.path().to_path_buf());
    let got = tokio::task::spawn_blocking(move || {
        v2.set_mac(RESERVED_MAC);
        v2.dhclient(&d, "reserved")
    })
    .await
    .unwrap();
    assert_eq!(got, "198.51.100.20");
    let (v2, d) = (v.clone(), dir.path().to_path_buf());
    let dynamic = tokio::task::spawn_blocking(move || {
        v2.set_mac(STRANGER_MAC);
        v2.dhclient(&d, "stranger")
    })
    .await
    .unwrap();
    let last: u8 = dynamic.rsplit('.').next().unwrap().parse().unwrap();
    assert!((50..=99).contains(&last), "{dynamic}");

    // Both leases travel over the rack link and become discoveries.
    let start = Instant::now();
    let list = loop {
        let list = s.get(Some(&admin), "discovery/").await.json();
        if list.as_array().unwrap().len() == 2 {
            break list;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "discoveries never arrived: {list}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut pairs: Vec<(String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["ip"].as_str().unwrap().to_string(), d["mac_address"].as_str().unwrap().to_string()))
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        [("198.51.100.20".to_string(), RESERVED_MAC.to_string()), (dynamic.clone(), STRANGER_MAC.to_string())]
    );
    assert!(list.as_array().unwrap().iter().all(|d| d["observer"]["system_id"] == sid.as_str()));
    rack.stop().await;
}
