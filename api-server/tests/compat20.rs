//! Issue 20, what real clients trip on: every answer carries a Content-Type
//! (the maas CLI reads it on every response), list-valued parameters arrive
//! as repeated form fields (gomaasclient, i.e. terraform-provider-maas),
//! deleting a DNS resource keeps the user's reservation and releasing an
//! unknown address answers in MAAS's words, the config names MAAS 3.6 has,
//! and `nodes/?op=is_action_in_progress`. Requests are sent raw, the way
//! those clients send them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use common::*;
use serde_json::Value;

/// Sends `body` exactly as gomaasclient does: `url.Values.Encode()` of the
/// parameters (a list is one field per element) as a form body, or as the
/// query string for GET.
async fn raw(s: &TestServer, who: Option<&ApiKey>, method: &str, rel: &str, body: &str) -> Resp {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut rb = if method == "GET" {
        client().request(m, format!("{}?{body}", s.api(rel).trim_end_matches('?')))
    } else {
        client()
            .request(m, s.api(rel))
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body.to_string())
    };
    if let Some(k) = who {
        rb = rb.header(reqwest::header::AUTHORIZATION, k.plaintext());
    }
    read(rb.send().await.unwrap()).await
}

backend_tests!(deletes_and_empty_answers_carry_text_plain, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let r = s.post(Some(&admin), "zones/", &[("name", "z1")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.call(Some(&admin), "DELETE", "zones/z1/", &[]).await;
    assert_eq!(r.status, 204);
    // piston's rc.DELETED, byte for byte; the maas CLI fails without it.
    assert_eq!(r.content_type.as_deref(), Some("text/plain"));
    assert_eq!(r.body, "");
    let r = s.post(Some(&admin), "tags/", &[("name", "t1")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.call(Some(&admin), "DELETE", "tags/t1/", &[]).await;
    assert_eq!((r.status, r.content_type.as_deref()), (204, Some("text/plain")));
    // A 405 is empty too, and labelled.
    let r = s.call(Some(&admin), "DELETE", "users/", &[]).await;
    assert_eq!(r.status, 405);
    assert!(r.headers.contains_key("allow"));
    assert_eq!(r.content_type.as_deref(), Some("text/plain"));
});

backend_tests!(subnet_dns_servers_repeated_and_separated, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    // gomaasclient's SubnetParams.DNSServers []string.
    let r = raw(
        &s,
        Some(&admin),
        "POST",
        "subnets/",
        "cidr=10.70.0.0%2F24&dns_servers=10.70.0.2&dns_servers=8.8.8.8&rdns_mode=2",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.json()["id"].as_i64().unwrap();
    assert_eq!(r.json()["dns_servers"], serde_json::json!(["10.70.0.2", "8.8.8.8"]));
    let r = s.get(Some(&admin), &format!("subnets/{id}/")).await;
    assert_eq!(r.json()["dns_servers"], serde_json::json!(["10.70.0.2", "8.8.8.8"]));
    // Each value may itself be a comma/space list (MAAS's IPListFormField).
    let r =
        raw(&s, Some(&admin), "PUT", &format!("subnets/{id}/"), "dns_servers=1.1.1.1%2C+1.0.0.1&dns_servers=9.9.9.9")
            .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["dns_servers"], serde_json::json!(["1.1.1.1", "1.0.0.1", "9.9.9.9"]));
    // A bad element is a 400 naming the field, whichever value it is in.
    let r = raw(&s, Some(&admin), "PUT", &format!("subnets/{id}/"), "dns_servers=1.1.1.1&dns_servers=nope").await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("dns_servers"), "{}", r.body);
    // Blank clears.
    let r = raw(&s, Some(&admin), "PUT", &format!("subnets/{id}/"), "dns_servers=").await;
    assert_eq!(r.json()["dns_servers"], serde_json::json!([]));
});

backend_tests!(dns_resource_delete_keeps_reservation, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let user = s.user("user", false).await;
    assert_eq!(s.post(Some(&admin), "subnets/", &[("cidr", "10.71.0.0/24")]).await.status, 200);
    // Repeated ip_addresses are all kept.
    let r = raw(
        &s,
        Some(&admin),
        "POST",
        "dnsresources/",
        "address_ttl=0&fqdn=www.maas&ip_addresses=10.71.0.10&ip_addresses=10.71.0.11",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.json()["id"].as_i64().unwrap();
    let created = r.json();
    let ips: Vec<&str> =
        created["ip_addresses"].as_array().unwrap().iter().map(|a| a["ip"].as_str().unwrap()).collect();
    assert_eq!(ips, ["10.71.0.10", "10.71.0.11"]);

    // terraform-provider-maas's maas_dns_record delete: DNSResource.Delete,
    // then IPAddresses.Release of each address; both must succeed.
    let r = s.call(Some(&admin), "DELETE", &format!("dnsresources/{id}/"), &[]).await;
    assert_eq!((r.status, r.content_type.as_deref()), (204, Some("text/plain")));
    let mine = s.get(Some(&admin), "ipaddresses/").await.json();
    let kept: Vec<&str> = mine.as_array().unwrap().iter().map(|a| a["ip"].as_str().unwrap()).collect();
    assert!(kept.contains(&"10.71.0.10") && kept.contains(&"10.71.0.11"), "{mine}");
    for ip in ["10.71.0.10", "10.71.0.11"] {
        let r = raw(&s, Some(&admin), "POST", "ipaddresses/?op=release", &format!("ip={ip}")).await;
        assert_eq!((r.status, r.content_type.as_deref()), (204, Some("text/plain")), "{ip}: {}", r.body);
    }

    // Releasing what is not (or no longer) the caller's: MAAS's 400 and words.
    let r = raw(&s, Some(&admin), "POST", "ipaddresses/?op=release", "ip=10.71.0.10").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        "IP address 10.71.0.10 does not exist, is not the correct type of address, or does not belong to the \
         requesting user.\nIf you are sure you want to release this address, use force=true as a MAAS administrator."
    );
    let r = raw(&s, Some(&admin), "POST", "ipaddresses/?op=release", "ip=10.71.0.10&force=true").await;
    assert_eq!((r.status, r.body.as_str()), (400, "IP address 10.71.0.10 does not exist."));
    let r = raw(&s, Some(&user), "POST", "ipaddresses/?op=release", "ip=10.71.0.10&force=true").await;
    assert_eq!((r.status, r.body.as_str()), (403, "Force-releasing an IP address requires admin privileges."));
    // Someone else's reservation is "not yours" in the same words.
    assert_eq!(s.post(Some(&admin), "ipaddresses/?op=reserve", &[("ip", "10.71.0.20")]).await.status, 200);
    let r = raw(&s, Some(&user), "POST", "ipaddresses/?op=release", "ip=10.71.0.20").await;
    assert_eq!(r.status, 400);
    assert!(r.body.starts_with("IP address 10.71.0.20 does not exist, is not the correct type"), "{}", r.body);
});

const NEW_CONFIG: [&str; 4] =
    ["allow_only_trusted_transfers", "enable_kernel_crash_dump", "force_v1_network_yaml", "prefer_v4_proxy"];

backend_tests!(config_names_of_maas_36, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let user = s.user("user", false).await;
    for name in NEW_CONFIG {
        // MAAS 3.6's default is false, as a JSON boolean.
        let r = s.get(Some(&user), &format!("maas/?op=get_config&name={name}")).await;
        assert_eq!(r.status, 200, "{name}: {}", r.body);
        assert_eq!(r.json(), Value::Bool(false), "{name}");
        let r = raw(&s, Some(&admin), "POST", "maas/", &format!("op=set_config&name={name}&value=true")).await;
        assert_eq!((r.status, r.body.as_str()), (200, "OK"), "{name}");
        assert_eq!(s.get(Some(&user), &format!("maas/?op=get_config&name={name}")).await.json(), Value::Bool(true));
        let r = raw(&s, Some(&admin), "POST", "maas/", &format!("op=set_config&name={name}&value=maybe")).await;
        assert_eq!(r.status, 400, "{name}: {}", r.body);
        let r = raw(&s, Some(&user), "POST", "maas/", &format!("op=set_config&name={name}&value=false")).await;
        assert_eq!(r.status, 403, "{name}: {}", r.body);
    }
});

backend_tests!(nodes_is_action_in_progress, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let mac = "52:54:00:aa:bb:01";
    let ask = |m: &'static str| {
        let s = &s;
        async move { raw(s, None, "GET", "nodes/", &format!("op=is_action_in_progress&mac_address={m}")).await }
    };
    let r = ask(mac).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), Value::Bool(false));
    let sid = commissioning_machine(&s, &admin, mac, "busy").await;
    assert_eq!(ask(mac).await.json(), Value::Bool(true));
    // Upper case and dashes name the same interface.
    assert_eq!(ask("52-54-00-AA-BB-01").await.json(), Value::Bool(true));
    finish_commissioning(&s, &sid).await;
    assert_eq!(ask(mac).await.json(), Value::Bool(false));
    let r = raw(&s, None, "GET", "nodes/", "op=is_action_in_progress").await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("mac_address"), "{}", r.body);
});
