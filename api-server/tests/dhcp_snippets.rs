//! Issue 20: `dhcp-snippets/` with MAAS's shapes, permissions, value
//! history, `revert` and error words; what a real rack's DHCP server makes
//! of them (its configuration, on both backends), and, as root with
//! `dhclient`, the options a real client receives.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use ironpool_common::dhcp::{DhcpConfig, RawOption};
use ironpool_common::rack_link::RackInterface;
use ironpool_rack::link::{Rack, RackOptions};
use serde_json::{json, Value};

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

fn history_values(v: &Value) -> Vec<&str> {
    v["history"].as_array().unwrap().iter().map(|h| h["value"].as_str().unwrap()).collect()
}

backend_tests!(crud_history_revert_and_maas_words, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let user = s.user("user", false).await;
    let r = s.post(Some(&admin), "subnets/", &[("cidr", "10.20.0.0/24")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let subnet_id = r.json()["id"].as_i64().unwrap();

    assert_eq!(s.get(Some(&user), "dhcp-snippets/").await.json(), json!([]));
    // The maas CLI builds its commands from describe/.
    let d = s.get(Some(&user), "describe/").await.json();
    let described: Vec<&str> = d["handlers"].as_array().unwrap().iter().map(|h| h["name"].as_str().unwrap()).collect();
    assert!(described.contains(&"DHCPSnippetsHandler") && described.contains(&"DHCPSnippetHandler"), "{described:?}");

    // Admins only write; MAAS's form words for what is missing.
    let r = s.post(Some(&user), "dhcp-snippets/", &[("name", "x"), ("value", "y")]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = s.post(Some(&admin), "dhcp-snippets/", &[("description", "d")]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json(), json!({"name": ["This field is required."], "value": ["Must be given a value"]}));

    // A global snippet, enabled by default, with MAAS's fields.
    let r =
        s.post(Some(&admin), "dhcp-snippets/", &[("name", "ntp"), ("value", "option ntp-servers 10.0.0.1;\r\n")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sn = r.json();
    let id = sn["id"].as_i64().unwrap();
    assert_eq!(sn["name"], "ntp");
    assert_eq!(sn["value"], "option ntp-servers 10.0.0.1;\n", "CRLF stored as LF, as MAAS");
    assert_eq!(sn["description"], "");
    assert_eq!((sn["enabled"].as_bool(), sn["global_snippet"].as_bool()), (Some(true), Some(true)));
    assert_eq!((sn["node"].is_null(), sn["subnet"].is_null()), (true, true));
    assert_eq!(sn["resource_uri"], format!("/MAAS/api/2.0/dhcp-snippets/{id}/"));
    assert_eq!(sn["unapplied"], json!([]));
    let h = &sn["history"][0];
    assert_eq!(h["value"], "option ntp-servers 10.0.0.1;\n");
    assert!(h["created"].as_str().unwrap().ends_with(" -0000"), "{h}");

    // Updates keep the old value in the history, newest first; the same
    // value again adds nothing.
    for v in ["option ntp-servers 10.0.0.2;", "option ntp-servers 10.0.0.3;", "option ntp-servers 10.0.0.3;"] {
        let r = s.call(Some(&admin), "PUT", &format!("dhcp-snippets/{id}/"), &[("value", v)]).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = s.get(Some(&user), "dhcp-snippets/ntp/").await;
    assert_eq!(r.status, 200, "read by name: {}", r.body);
    let sn = r.json();
    assert_eq!(
        history_values(&sn),
        ["option ntp-servers 10.0.0.3;", "option ntp-servers 10.0.0.2;", "option ntp-servers 10.0.0.1;\n"]
    );
    let first_id = sn["history"][2]["id"].as_i64().unwrap();

    // revert: MAAS's words for a missing, malformed or unknown target.
    let rev = format!("dhcp-snippets/{id}/?op=revert");
    let r = s.post(Some(&admin), &rev, &[]).await;
    assert_eq!((r.status, r.body.as_str()), (400, "You must specify where to revert to"));
    let r = s.post(Some(&admin), &rev, &[("to", "abc")]).await;
    assert_eq!((r.status, r.body.as_str()), (400, "abc is an invalid 'to' value"));
    let r = s.post(Some(&admin), &rev, &[("to", "999999")]).await;
    assert_eq!((r.status, r.body.as_str()), (400, "999999 not found in history"));
    let r = s.post(Some(&admin), &rev, &[("to", "-3")]).await;
    assert_eq!((r.status, r.body.as_str()), (400, "Goes too far back."));
    let r = s.post(Some(&user), &rev, &[("to", "-1")]).await;
    assert_eq!(r.status, 403);
    // One step back drops the newest version.
    let r = s.post(Some(&admin), &rev, &[("to", "-1")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["value"], "option ntp-servers 10.0.0.2;");
    assert_eq!(history_values(&r.json()).len(), 2);
    // By id: back to the first value, nothing newer left.
    let r = s.post(Some(&admin), &rev, &[("to", &first_id.to_string())]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(history_values(&r.json()), ["option ntp-servers 10.0.0.1;\n"]);

    // Scope rules and words.
    let dev =
        s.post(Some(&admin), "devices/", &[("hostname", "appliance"), ("mac_addresses", "52:54:00:20:00:01")]).await;
    assert_eq!(dev.status, 200, "{}", dev.body);
    let dev_sid = dev.json()["system_id"].as_str().unwrap().to_string();
    let r = s
        .post(
            Some(&admin),
            "dhcp-snippets/",
            &[("name", "both"), ("value", "v"), ("node", &dev_sid), ("subnet", &subnet_id.to_string())],
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"__all__": ["A DHCP snippet cannot be enabled on a node and subnet at the same time."]})
    );
    let r = s.post(Some(&admin), "dhcp-snippets/", &[("name", "n"), ("value", "v"), ("node", "nope")]).await;
    assert_eq!(r.json(), json!({"node": ["Select a valid choice. nope is not one of the available choices."]}));
    let r = s.post(Some(&admin), "dhcp-snippets/", &[("name", "n"), ("value", "v"), ("subnet", "424242")]).await;
    assert_eq!(r.json(), json!({"subnet": ["None found with id=424242."]}));
    let range = s
        .post(Some(&admin), "ipranges/", &[("type", "dynamic"), ("start_ip", "10.20.0.100"), ("end_ip", "10.20.0.150")])
        .await;
    assert_eq!(range.status, 200, "{}", range.body);
    let range_id = range.json()["id"].as_i64().unwrap().to_string();
    let r = s.post(Some(&admin), "dhcp-snippets/", &[("name", "n"), ("value", "v"), ("iprange", &range_id)]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["__all__"][0], "A DHCP snippet cannot be enabled on an iprange withouta parent subnet");

    // A subnet snippet (by CIDR) with a range; naming a node moves it.
    let r = s
        .post(
            Some(&admin),
            "dhcp-snippets/",
            &[
                ("name", "pool"),
                ("value", "option domain-name \"ex.com\";\nfilename \"x\";"),
                ("subnet", "10.20.0.0/24"),
                ("iprange", &range_id),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let pool = r.json();
    assert_eq!(pool["subnet"]["id"], subnet_id);
    assert_eq!(pool["iprange"]["id"].to_string(), range_id);
    assert_eq!(pool["global_snippet"], false);
    // What the DHCP server does not apply is stored and reported.
    assert_eq!(pool["unapplied"], json!(["filename \"x\": only 'option <name> <value>;' statements are applied"]));
    let pid = pool["id"].as_i64().unwrap();
    let r =
        s.call(Some(&admin), "PUT", &format!("dhcp-snippets/{pid}/"), &[("node", "appliance"), ("iprange", "")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!((r.json()["subnet"].is_null(), r.json()["node"]["system_id"].as_str()), (true, Some(dev_sid.as_str())));
    let r = s
        .call(
            Some(&admin),
            "PUT",
            &format!("dhcp-snippets/{pid}/"),
            &[("global_snippet", "true"), ("enabled", "false")],
        )
        .await;
    assert_eq!((r.json()["global_snippet"].as_bool(), r.json()["enabled"].as_bool()), (Some(true), Some(false)));

    // Delete: admins, 204, then MAAS's 404.
    assert_eq!(s.call(Some(&user), "DELETE", &format!("dhcp-snippets/{id}/"), &[]).await.status, 403);
    let r = s.call(Some(&admin), "DELETE", &format!("dhcp-snippets/{id}/"), &[]).await;
    assert_eq!(r.status, 204);
    let r = s.get(Some(&admin), &format!("dhcp-snippets/{id}/")).await;
    assert_eq!((r.status, r.body.as_str()), (404, "No DHCPSnippet matches the given query."));
    assert_eq!(s.get(Some(&user), "dhcp-snippets/").await.json().as_array().unwrap().len(), 1);
});

fn rack_options(s: &TestServer, dir: &std::path::Path, addr: &str, mac: &str) -> RackOptions {
    let mut o = RackOptions::new(vec![s.origin.clone()], s.state.rack_secret.clone(), dir.to_path_buf());
    o.hostname = "rack-snippets".into();
    o.interfaces = Some(vec![RackInterface { name: "eth0".into(), mac: mac.into(), addresses: vec![addr.into()] }]);
    o.http_listen = Some("127.0.0.1:0".parse().unwrap());
    o.tftp_listen = None;
    o.dhcp_listen = None;
    o.heartbeat = Some(Duration::from_millis(100));
    o.max_backoff = Duration::from_millis(300);
    o.request_timeout = Duration::from_secs(5);
    o
}

fn ntp(ip: [u8; 4]) -> RawOption {
    RawOption { code: 42, data: ip.to_vec() }
}

// Enabled snippets reach the rack's DHCP configuration, by scope, as wire
// options; disabled and unapplicable ones do not.
backend_tests!(rack_dhcp_config_carries_the_options, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let dir = tempfile::tempdir().unwrap();
    let rack = Rack::start(rack_options(&s, dir.path(), "10.78.0.2/24", "52:54:00:0f:10:01")).await.unwrap();
    let sid = eventually("registration", || rack.state.system_id()).await;
    let r = s
        .post(Some(&admin), "ipranges/", &[("type", "dynamic"), ("start_ip", "10.78.0.100"), ("end_ip", "10.78.0.150")])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let range_id = r.json()["id"].as_i64().unwrap().to_string();
    let r = s.call(Some(&admin), "PUT", "vlans/5001/", &[("dhcp_on", "true"), ("primary_rack", &sid)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let dhcp = |rack: &Rack| rack.state.config().and_then(|c| c.dhcp.clone());
    eventually("DHCP config", || dhcp(&rack)).await;

    let snippet = |name: &'static str, value: &'static str, extra: Vec<(&'static str, String)>| {
        let (s, admin) = (&s, &admin);
        async move {
            let mut form = vec![("name", name.to_string()), ("value", value.to_string())];
            form.extend(extra);
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = s.post(Some(admin), "dhcp-snippets/", &form).await;
            assert_eq!(r.status, 200, "{}", r.body);
            r.json()["id"].as_i64().unwrap()
        }
    };
    let dev = s.post(Some(&admin), "devices/", &[("hostname", "phone"), ("mac_addresses", "52:54:00:0f:10:77")]).await;
    let dev_sid = dev.json()["system_id"].as_str().unwrap().to_string();
    snippet("global", "option ntp-servers 192.0.2.1; default-lease-time 60;", vec![]).await;
    snippet("subnet", "option domain-name-servers 192.0.2.53;", vec![("subnet", "10.78.0.0/24".into())]).await;
    snippet("range", "option ntp-servers 192.0.2.2;", vec![("subnet", "10.78.0.0/24".into()), ("iprange", range_id)])
        .await;
    let host = snippet("host", "option ntp-servers 192.0.2.3;", vec![("node", dev_sid)]).await;
    snippet("off", "option ntp-servers 192.0.2.9;", vec![("enabled", "false".into())]).await;

    let cfg: DhcpConfig =
        eventually("snippet options", || dhcp(&rack).filter(|d| d.snippet_options.hosts.len() == 1)).await;
    let o = &cfg.snippet_options;
    assert_eq!(o.global, vec![ntp([192, 0, 2, 1])], "the disabled snippet is left out");
    assert_eq!(o.subnets.len(), 1);
    assert_eq!(o.subnets[0].cidr.to_string(), "10.78.0.0/24");
    assert_eq!(o.subnets[0].options, vec![RawOption { code: 6, data: vec![192, 0, 2, 53] }]);
    assert_eq!(
        (o.ranges[0].start.to_string(), o.ranges[0].end.to_string()),
        ("10.78.0.100".into(), "10.78.0.150".into())
    );
    assert_eq!(o.ranges[0].options, vec![ntp([192, 0, 2, 2])]);
    assert_eq!(o.hosts[0].mac.to_string(), "52:54:00:0f:10:77");
    assert_eq!(o.hosts[0].options, vec![ntp([192, 0, 2, 3])]);

    // Disabling a snippet takes its options off the rack.
    let r = s.call(Some(&admin), "PUT", &format!("dhcp-snippets/{host}/"), &[("enabled", "false")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    eventually("host options gone", || dhcp(&rack).filter(|d| d.snippet_options.hosts.is_empty())).await;
    rack.stop().await;
});

/// As root with `dhclient`: a real client in a network namespace gets the
/// snippets' options from the real rack's DHCP server, the subnet's DNS
/// server replacing the one the subnet names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dhclient_receives_the_snippet_options() {
    if !is_root() || std::process::Command::new("dhclient").arg("--version").output().is_err() {
        eprintln!("SKIP: needs root and dhclient");
        return;
    }
    let Some(v) = Veth::new("ds") else { return };
    let s = TestServer::start(Backend::Sqlite);
    let admin = s.user("admin", true).await;
    let dir = tempfile::tempdir().unwrap();
    let mut o = rack_options(&s, dir.path(), "198.51.100.1/24", "52:54:00:0f:11:01");
    o.dhcp_listen = Some(SocketAddr::from(([0, 0, 0, 0], 67)));
    o.dhcp_interface = Some(v.host.clone());
    let rack = Rack::start(o).await.unwrap();
    let sid = eventually("registration", || rack.state.system_id()).await;
    let subnets = s.get(Some(&admin), "subnets/").await.json();
    let subnet = subnets.as_array().unwrap().iter().find(|x| x["cidr"] == "198.51.100.0/24").unwrap()["id"].clone();
    let r = s.call(Some(&admin), "PUT", &format!("subnets/{subnet}/"), &[("dns_servers", "198.51.100.1")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s
        .post(
            Some(&admin),
            "ipranges/",
            &[("type", "dynamic"), ("start_ip", "198.51.100.50"), ("end_ip", "198.51.100.99")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for (name, value, subnet) in [
        ("ntp", "option ntp-servers 192.0.2.123;", None),
        ("dns", "option domain-name-servers 192.0.2.53, 192.0.2.54;", Some("198.51.100.0/24")),
    ] {
        let mut form = vec![("name", name), ("value", value)];
        form.extend(subnet.map(|cidr| ("subnet", cidr)));
        let r = s.post(Some(&admin), "dhcp-snippets/", &form).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = s.call(Some(&admin), "PUT", "vlans/5001/", &[("dhcp_on", "true"), ("primary_rack", &sid)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    eventually("DHCP running with the snippets", || {
        rack.state
            .config()
            .and_then(|c| c.dhcp.clone())
            .filter(|d| d.snippet_options.subnets.len() == 1)
            .and(rack.state.dhcp_stats())
    })
    .await;
    v.set_mac("52:54:00:0f:11:77");
    let d = dir.path().to_path_buf();
    let v = std::sync::Arc::new(v);
    let v2 = v.clone();
    let lease = tokio::task::spawn_blocking(move || v2.dhclient_lease(&d, "snip")).await.unwrap();
    assert!(lease.contains("option ntp-servers 192.0.2.123;"), "{lease}");
    assert!(lease.contains("option domain-name-servers 192.0.2.53,192.0.2.54;"), "{lease}");
    rack.stop().await;
}
