//! DNS end to end: the domains, DNS resource and record endpoints over HTTP,
//! then the region's DNS server checked with a real resolver client (`dig`,
//! from Debian's bind9-dnsutils) over UDP and TCP, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use common::*;

/// `dig @127.0.0.1 -p PORT NAME TYPE`, answer section only (`+short`), or
/// the status line's code with `status` (NOERROR, NXDOMAIN, REFUSED…).
fn dig(s: &TestServer, name: &str, rtype: &str, tcp: bool) -> (String, Vec<String>) {
    let addr = *s.state.dns_addr.get().expect("DNS server started");
    let mut cmd = std::process::Command::new("dig");
    cmd.arg(format!("@{}", addr.ip()))
        .arg("-p")
        .arg(addr.port().to_string())
        .args(["+norecurse", "+time=5", "+tries=1", "+noall", "+answer", "+comments"])
        .arg(name)
        .arg(rtype);
    if tcp {
        cmd.arg("+tcp");
    }
    let out = cmd.output().expect("dig runs (apt-get install bind9-dnsutils)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let status = text
        .lines()
        .find_map(|l| l.split("status: ").nth(1))
        .map(|r| r.split(',').next().unwrap_or("").to_string())
        .unwrap_or_else(|| panic!("no status in dig output: {text}"));
    // Answer lines: name ttl class type data…
    let answers = text
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 5 && f[3] == rtype).then(|| f[4..].join(" "))
        })
        .collect();
    (status, answers)
}

fn dig_async(s: &TestServer, name: &str, rtype: &str, tcp: bool) -> (String, Vec<String>) {
    tokio::task::block_in_place(|| dig(s, name, rtype, tcp))
}

backend_tests!(domains_api, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let user = s.user("user", false).await;

    let list = s.get(Some(&user), "domains/").await.json();
    assert_eq!(list[0]["name"], "maas");
    assert_eq!(list[0]["is_default"], true);
    assert_eq!(list[0]["resource_record_count"], 0);

    // Create: admin only, name required and valid, unique.
    assert_eq!(s.post(Some(&user), "domains/", &[("name", "example.com")]).await.status, 403);
    let r = s.post(Some(&admin), "domains/", &[]).await;
    assert_eq!((r.status, r.json()["name"][0].as_str()), (400, Some("This field is required.")));
    assert_eq!(s.post(Some(&admin), "domains/", &[("name", "bad_name!")]).await.status, 400);
    assert_eq!(s.post(Some(&admin), "domains/", &[("name", "x"), ("ttl", "-1")]).await.status, 400);
    assert_eq!(s.post(Some(&admin), "domains/", &[("name", "x"), ("authoritative", "maybe")]).await.status, 400);
    assert_eq!(s.post(Some(&admin), "domains/", &[("name", "x"), ("forward_dns_servers", "nope")]).await.status, 400);
    let r = s.post(Some(&admin), "domains/", &[("name", "Example.COM."), ("ttl", "300")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = r.json();
    let id = d["id"].as_i64().unwrap();
    assert_eq!(d["name"], "example.com");
    assert_eq!(d["ttl"], 300);
    assert_eq!(d["authoritative"], true);
    assert_eq!(d["is_default"], false);
    assert_eq!(d["resource_uri"], format!("/MAAS/api/2.0/domains/{id}/"));
    let r = s.post(Some(&admin), "domains/", &[("name", "example.com")]).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("already exists"), "{}", r.body);

    // Read, update, not found.
    let url = format!("domains/{id}/");
    assert_eq!(s.get(Some(&user), &url).await.json()["name"], "example.com");
    assert_eq!(s.get(Some(&user), "domains/9999/").await.status, 404);
    assert_eq!(s.get(Some(&user), "domains/x/").await.status, 404);
    assert_eq!(s.call(Some(&user), "PUT", &url, &[("ttl", "5")]).await.status, 403);
    let r = s.call(Some(&admin), "PUT", &url, &[("ttl", "60"), ("forward_dns_servers", "10.0.0.53")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["ttl"], 60);
    assert_eq!(s.call(Some(&admin), "PUT", &url, &[("name", "maas")]).await.status, 400);

    // set_serial.
    assert_eq!(s.post(Some(&admin), "domains/?op=set_serial", &[]).await.status, 400);
    assert_eq!(s.post(Some(&admin), "domains/?op=set_serial", &[("serial", "x")]).await.status, 400);
    assert_eq!(s.post(Some(&admin), "domains/?op=set_serial", &[("serial", "0")]).await.status, 400);
    assert_eq!(s.post(Some(&user), "domains/?op=set_serial", &[("serial", "5")]).await.status, 403);
    assert_eq!(s.post(Some(&admin), "domains/?op=set_serial", &[("serial", "2026112501")]).await.status, 200);

    // set_default moves the flag; the default cannot be deleted.
    let r = s.post(Some(&admin), &format!("{url}?op=set_default"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["is_default"], true);
    assert_eq!(s.get(Some(&user), "domains/0/").await.json()["is_default"], false);
    let r = s.call(Some(&admin), "DELETE", &url, &[]).await;
    assert_eq!(r.status, 409);
    assert!(r.body.contains("default"), "{}", r.body);
    assert_eq!(s.post(Some(&admin), "domains/0/?op=set_default", &[]).await.status, 200);

    // A domain with nodes cannot be deleted.
    let m = ready_machine(&s, &admin, "inzone", 1, 1024).await;
    assert_eq!(s.call(Some(&admin), "PUT", &format!("machines/{m}/"), &[("domain", "example.com")]).await.status, 200);
    let r = s.call(Some(&admin), "DELETE", &url, &[]).await;
    assert_eq!(r.status, 409);
    assert!(r.body.contains("node"), "{}", r.body);
    assert_eq!(s.call(Some(&admin), "PUT", &format!("machines/{m}/"), &[("domain", "maas")]).await.status, 200);
    assert_eq!(s.call(Some(&user), "DELETE", &url, &[]).await.status, 403);
    assert_eq!(s.call(Some(&admin), "DELETE", &url, &[]).await.status, 204);
    assert_eq!(s.get(Some(&user), &url).await.status, 404);
    assert_eq!(s.call(Some(&admin), "DELETE", &url, &[]).await.status, 404);
});

backend_tests!(resources_and_records_api, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let user = s.user("user", false).await;
    s.post(Some(&admin), "domains/", &[("name", "example.com")]).await;
    s.post(Some(&admin), "subnets/", &[("cidr", "10.60.0.0/24")]).await;
    s.post(Some(&admin), "ipranges/", &[("type", "dynamic"), ("start_ip", "10.60.0.200"), ("end_ip", "10.60.0.250")])
        .await;

    // DNS resources: fqdn or name+domain; addresses reserved through IPAM.
    assert_eq!(s.post(Some(&user), "dnsresources/", &[("fqdn", "www.example.com")]).await.status, 403);
    assert_eq!(s.post(Some(&admin), "dnsresources/", &[]).await.status, 400);
    let r = s.post(Some(&admin), "dnsresources/", &[("fqdn", "www.nowhere.test")]).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("does not exist"), "{}", r.body);
    assert_eq!(
        s.post(Some(&admin), "dnsresources/", &[("name", "bad name"), ("domain", "example.com")]).await.status,
        400
    );
    assert_eq!(
        s.post(Some(&admin), "dnsresources/", &[("fqdn", "x.example.com"), ("ip_addresses", "10.60.0.999")])
            .await
            .status,
        400
    );
    let r = s.post(Some(&admin), "dnsresources/", &[("fqdn", "x.example.com"), ("ip_addresses", "10.60.0.210")]).await;
    assert_eq!(r.status, 400, "dynamic range: {}", r.body);
    let r = s
        .post(
            Some(&admin),
            "dnsresources/",
            &[("fqdn", "www.example.com"), ("ip_addresses", "10.60.0.10 192.0.2.7"), ("address_ttl", "120")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let www = r.json();
    let www_id = www["id"].as_i64().unwrap();
    assert_eq!(www["fqdn"], "www.example.com");
    assert_eq!(www["address_ttl"], 120);
    let ips: Vec<&str> = www["ip_addresses"].as_array().unwrap().iter().map(|a| a["ip"].as_str().unwrap()).collect();
    assert_eq!(ips, vec!["10.60.0.10", "192.0.2.7"]);
    assert_eq!(www["resource_uri"], format!("/MAAS/api/2.0/dnsresources/{www_id}/"));
    // The subnet address is taken now: IPAM will not hand it out.
    let r = s.post(Some(&admin), "ipaddresses/?op=reserve", &[("ip", "10.60.0.10")]).await;
    assert_eq!(r.status, 409, "{}", r.body);
    let r = s.post(Some(&admin), "dnsresources/", &[("name", "www"), ("domain", "example.com")]).await;
    assert_eq!(r.status, 409, "{}", r.body);
    let r = s.post(Some(&admin), "dnsresources/", &[("fqdn", "dup.example.com"), ("ip_addresses", "10.60.0.10")]).await;
    assert_eq!(r.status, 200, "an existing address is referenced: {}", r.body);
    let dup_id = r.json()["id"].as_i64().unwrap();

    // Read, filter, update, delete.
    assert_eq!(s.get(Some(&user), &format!("dnsresources/{www_id}/")).await.json()["fqdn"], "www.example.com");
    assert_eq!(s.get(Some(&user), "dnsresources/4242/").await.status, 404);
    assert_eq!(s.get(Some(&user), "dnsresources/?fqdn=www.example.com").await.json().as_array().unwrap().len(), 1);
    assert_eq!(s.get(Some(&user), "dnsresources/?domain=example.com").await.json().as_array().unwrap().len(), 2);
    assert_eq!(s.get(Some(&user), "dnsresources/?domain=maas").await.json(), serde_json::json!([]));
    assert_eq!(s.get(Some(&user), "dnsresources/?domain=nope").await.status, 400);
    assert_eq!(s.get(Some(&user), "dnsresources/?all=maybe").await.status, 400);
    assert_eq!(s.get(Some(&user), "dnsresources/?rrtype=A").await.json().as_array().unwrap().len(), 2);
    assert_eq!(s.get(Some(&user), "dnsresources/?rrtype=AAAA").await.json(), serde_json::json!([]));
    let r = s.call(Some(&admin), "PUT", &format!("dnsresources/{www_id}/"), &[("ip_addresses", "10.60.0.11")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["ip_addresses"][0]["ip"], "10.60.0.11");
    assert_eq!(
        s.call(Some(&admin), "PUT", &format!("dnsresources/{www_id}/"), &[("address_ttl", "x")]).await.status,
        400
    );
    assert_eq!(s.call(Some(&admin), "DELETE", &format!("dnsresources/{dup_id}/"), &[]).await.status, 204);
    // Deleting the referencing resource left the owner's address alone... and
    // the owner (www) gave 10.60.0.10 up on its update, so it is free again.
    assert_eq!(s.post(Some(&admin), "ipaddresses/?op=reserve", &[("ip", "10.60.0.10")]).await.status, 200);

    // Records: rrtype and rrdata validated per type.
    let rec = |form: Vec<(&'static str, &'static str)>| {
        let s = &s;
        let admin = &admin;
        async move { s.post(Some(admin), "dnsresourcerecords/", &form).await }
    };
    assert_eq!(s.post(Some(&user), "dnsresourcerecords/", &[("fqdn", "a.example.com")]).await.status, 403);
    assert_eq!(rec(vec![("fqdn", "mail.example.com"), ("rrtype", "MX")]).await.status, 400);
    assert_eq!(rec(vec![("fqdn", "mail.example.com"), ("rrdata", "x")]).await.status, 400);
    assert_eq!(rec(vec![("fqdn", "mail.example.com"), ("rrtype", "BOGUS"), ("rrdata", "x")]).await.status, 400);
    assert_eq!(rec(vec![("fqdn", "mail.example.com"), ("rrtype", "MX"), ("rrdata", "mx1")]).await.status, 400);
    assert_eq!(rec(vec![("fqdn", "mail.example.com"), ("rrtype", "MX"), ("rrdata", "99999 mx1")]).await.status, 400);
    assert_eq!(rec(vec![("fqdn", "sip.example.com"), ("rrtype", "SRV"), ("rrdata", "0 5 5060 sip")]).await.status, 400);
    assert_eq!(rec(vec![("fqdn", "_sip._tcp.example.com"), ("rrtype", "SRV"), ("rrdata", "0 5")]).await.status, 400);
    assert_eq!(rec(vec![("fqdn", "h.example.com"), ("rrtype", "SSHFP"), ("rrdata", "1 1 xyz")]).await.status, 400);
    assert_eq!(rec(vec![("fqdn", "h.example.com"), ("rrtype", "A"), ("rrdata", "1.2.3")]).await.status, 400);
    let mx = rec(vec![("fqdn", "example.com"), ("rrtype", "mx"), ("rrdata", "10 mail.example.com.")]).await;
    assert_eq!(mx.status, 200, "{}", mx.body);
    let mx = mx.json();
    assert_eq!((mx["fqdn"].as_str(), mx["rrtype"].as_str()), (Some("example.com"), Some("MX")));
    let mx_id = mx["id"].as_i64().unwrap();
    assert_eq!(mx["resource_uri"], format!("/MAAS/api/2.0/dnsresourcerecords/{mx_id}/"));
    let r =
        rec(vec![("fqdn", "_sip._tcp.example.com"), ("rrtype", "SRV"), ("rrdata", "0 5 5060 sip.example.com.")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = rec(vec![("name", "docs"), ("domain", "example.com"), ("rrtype", "TXT"), ("rrdata", "v=spf1 -all")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let txt_id = r.json()["id"].as_i64().unwrap();

    // CNAME stands alone.
    let r = rec(vec![("fqdn", "docs.example.com"), ("rrtype", "CNAME"), ("rrdata", "www")]).await;
    assert_eq!(r.status, 409, "{}", r.body);
    let r = rec(vec![("fqdn", "www.example.com"), ("rrtype", "CNAME"), ("rrdata", "web")]).await;
    assert_eq!(r.status, 409, "addresses at www: {}", r.body);
    let r = rec(vec![("fqdn", "blog.example.com"), ("rrtype", "CNAME"), ("rrdata", "www")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let cname_id = r.json()["id"].as_i64().unwrap();
    let r = rec(vec![("fqdn", "blog.example.com"), ("rrtype", "TXT"), ("rrdata", "x")]).await;
    assert_eq!(r.status, 409, "{}", r.body);
    let blog = s.get(Some(&user), "dnsresources/?fqdn=blog.example.com").await.json()[0]["id"].as_i64().unwrap();
    let r = s.call(Some(&admin), "PUT", &format!("dnsresources/{blog}/"), &[("ip_addresses", "192.0.2.9")]).await;
    assert_eq!(r.status, 409, "{}", r.body);

    // Read, list filters, update, delete.
    assert_eq!(s.get(Some(&user), &format!("dnsresourcerecords/{txt_id}/")).await.json()["rrdata"], "v=spf1 -all");
    assert_eq!(s.get(Some(&user), "dnsresourcerecords/999/").await.status, 404);
    assert_eq!(s.get(Some(&user), "dnsresourcerecords/").await.json().as_array().unwrap().len(), 4);
    assert_eq!(s.get(Some(&user), "dnsresourcerecords/?rrtype=mx").await.json().as_array().unwrap().len(), 1);
    assert_eq!(s.get(Some(&user), "dnsresourcerecords/?name=docs&domain=example.com").await.json()[0]["id"], txt_id);
    assert_eq!(s.get(Some(&user), "dnsresourcerecords/?fqdn=nothing.example.com").await.json(), serde_json::json!([]));
    let url = format!("dnsresourcerecords/{txt_id}/");
    assert_eq!(s.call(Some(&user), "PUT", &url, &[("rrdata", "y")]).await.status, 403);
    assert_eq!(s.call(Some(&admin), "PUT", &url, &[("rrtype", "MX")]).await.status, 400);
    assert_eq!(s.call(Some(&admin), "PUT", &url, &[("rrdata", "")]).await.status, 400);
    let r = s.call(Some(&admin), "PUT", &url, &[("rrdata", "hello"), ("ttl", "15")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!((r.json()["rrdata"].as_str(), r.json()["ttl"].as_i64()), (Some("hello"), Some(15)));
    assert_eq!(s.call(Some(&admin), "DELETE", &format!("dnsresourcerecords/{cname_id}/"), &[]).await.status, 204);
    // The resource that only held the CNAME went with it.
    assert_eq!(s.get(Some(&user), &format!("dnsresources/{blog}/")).await.status, 404);
    assert_eq!(s.call(Some(&admin), "DELETE", &format!("dnsresourcerecords/{cname_id}/"), &[]).await.status, 404);

    // Record counts are real.
    let d = s.get(Some(&user), "domains/").await.json();
    let ex = d.as_array().unwrap().iter().find(|d| d["name"] == "example.com").unwrap();
    // www's address, the MX, the SRV, the TXT.
    assert_eq!(ex["resource_record_count"], 4, "{ex}");
    // Deleting a resource keeps the reservation it made (terraform releases
    // it next, issue 20); releasing it frees the address.
    assert_eq!(s.call(Some(&admin), "DELETE", &format!("dnsresources/{www_id}/"), &[]).await.status, 204);
    assert_eq!(s.post(Some(&admin), "ipaddresses/?op=reserve", &[("ip", "10.60.0.11")]).await.status, 409);
    assert_eq!(s.post(Some(&admin), "ipaddresses/?op=release", &[("ip", "10.60.0.11")]).await.status, 204);
    assert_eq!(s.post(Some(&admin), "ipaddresses/?op=reserve", &[("ip", "10.60.0.11")]).await.status, 200);
    assert_eq!(s.call(Some(&admin), "DELETE", &format!("dnsresources/{www_id}/"), &[]).await.status, 404);
});

backend_tests!(dns_server_answers, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let user = s.user("user", false).await;
    let sub = s.post(Some(&admin), "subnets/", &[("cidr", "10.44.0.0/24"), ("gateway_ip", "10.44.0.1")]).await.json();
    let sub6 = s.post(Some(&admin), "subnets/", &[("cidr", "2001:db8:44::/64")]).await.json();

    // A deployed machine gets AUTO addresses, IPv4 and IPv6.
    let m = ready_machine(&s, &admin, "web1", 2, 2048).await;
    let eth0 = s.get(Some(&admin), &format!("machines/{m}/")).await.json()["interface_set"][0]["id"].clone();
    let r = s
        .post(
            Some(&admin),
            &format!("nodes/{m}/interfaces/{eth0}/?op=link_subnet"),
            &[("mode", "AUTO"), ("subnet", &sub6["id"].to_string())],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.post(Some(&admin), &format!("machines/{m}/?op=deploy"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ips: Vec<String> =
        r.json()["ip_addresses"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    let v4 = ips.iter().find(|i| i.contains('.')).unwrap().clone();
    let v6 = ips.iter().find(|i| i.contains(':')).unwrap().clone();
    for tcp in [false, true] {
        assert_eq!(dig_async(&s, "web1.maas", "A", tcp), ("NOERROR".into(), vec![v4.clone()]));
        assert_eq!(dig_async(&s, "web1.maas", "AAAA", tcp), ("NOERROR".into(), vec![v6.clone()]));
    }
    let rev4: String = v4.split('.').rev().collect::<Vec<_>>().join(".") + ".in-addr.arpa";
    assert_eq!(dig_async(&s, &rev4, "PTR", false), ("NOERROR".into(), vec!["web1.maas.".to_string()]));
    let v6addr: std::net::Ipv6Addr = v6.parse().unwrap();
    let nibbles: String = v6addr.octets().iter().map(|b| format!("{b:02x}")).collect();
    let rev6: String = nibbles.chars().rev().map(|c| c.to_string()).collect::<Vec<_>>().join(".") + ".ip6.arpa";
    assert_eq!(dig_async(&s, &rev6, "PTR", true), ("NOERROR".into(), vec!["web1.maas.".to_string()]));

    // A device's STATIC address.
    let d =
        s.post(Some(&user), "devices/", &[("hostname", "cam1"), ("mac_addresses", "00:16:3e:44:00:01")]).await.json();
    let dsid = d["system_id"].as_str().unwrap().to_string();
    let iface = d["interface_set"][0]["id"].as_i64().unwrap();
    let iurl = format!("nodes/{dsid}/interfaces/{iface}/");
    s.call(Some(&user), "PUT", &iurl, &[("vlan", &sub["vlan"]["id"].to_string())]).await;
    let r = s
        .post(
            Some(&user),
            &format!("{iurl}?op=link_subnet"),
            &[("mode", "STATIC"), ("subnet", &sub["id"].to_string()), ("ip_address", "10.44.0.50")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(dig_async(&s, "cam1.maas", "A", false), ("NOERROR".into(), vec!["10.44.0.50".to_string()]));
    assert_eq!(dig_async(&s, "50.0.44.10.in-addr.arpa", "PTR", false).1, vec!["cam1.maas.".to_string()]);

    // User resources and records, in another domain.
    s.post(Some(&admin), "domains/", &[("name", "example.com"), ("ttl", "90")]).await;
    let r = s
        .post(
            Some(&admin),
            "dnsresources/",
            &[("fqdn", "www.example.com"), ("ip_addresses", "10.44.0.60 2001:db8:44::60")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(dig_async(&s, "www.example.com", "A", true), ("NOERROR".into(), vec!["10.44.0.60".to_string()]));
    assert_eq!(dig_async(&s, "www.example.com", "AAAA", false).1, vec!["2001:db8:44::60".to_string()]);
    assert_eq!(dig_async(&s, "60.0.44.10.in-addr.arpa", "PTR", false).1, vec!["www.example.com.".to_string()]);
    for (name, t, data) in [
        ("blog.example.com", "CNAME", "www"),
        ("example.com", "MX", "10 mail.example.com."),
        ("docs.example.com", "TXT", "hello dns"),
    ] {
        let r = s.post(Some(&admin), "dnsresourcerecords/", &[("fqdn", name), ("rrtype", t), ("rrdata", data)]).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(dig_async(&s, "blog.example.com", "CNAME", false).1, vec!["www.example.com.".to_string()]);
    // A CNAME answers other types at its name too.
    assert_eq!(dig_async(&s, "blog.example.com", "A", false).0, "NOERROR");
    assert_eq!(dig_async(&s, "example.com", "MX", false).1, vec!["10 mail.example.com.".to_string()]);
    assert_eq!(dig_async(&s, "docs.example.com", "TXT", true).1, vec!["\"hello dns\"".to_string()]);
    let (st, soa) = dig_async(&s, "example.com", "SOA", false);
    assert_eq!(st, "NOERROR");
    assert_eq!(soa.len(), 1, "{soa:?}");
    assert_eq!(dig_async(&s, "example.com", "NS", false).1, vec!["ns1.maas.".to_string()]);
    // Domain TTL applies.
    let addr = *s.state.dns_addr.get().unwrap();
    let out = tokio::task::block_in_place(|| {
        std::process::Command::new("dig")
            .args([
                &format!("@{}", addr.ip()),
                "-p",
                &addr.port().to_string(),
                "+noall",
                "+answer",
                "docs.example.com",
                "TXT",
            ])
            .output()
            .unwrap()
    });
    assert!(String::from_utf8_lossy(&out.stdout).contains("\t90\t"), "{}", String::from_utf8_lossy(&out.stdout));

    // Unknown names in our zones: NXDOMAIN; a known name without that type: NODATA.
    assert_eq!(dig_async(&s, "nothing.example.com", "A", false), ("NXDOMAIN".into(), vec![]));
    assert_eq!(dig_async(&s, "nope.maas", "A", false).0, "NXDOMAIN");
    assert_eq!(dig_async(&s, "web1.maas", "TXT", false), ("NOERROR".into(), vec![]));
    assert_eq!(dig_async(&s, "99.0.44.10.in-addr.arpa", "PTR", false).0, "NXDOMAIN");
    // Outside our zones: REFUSED (no recursion); zone transfer: REFUSED.
    assert_eq!(dig_async(&s, "www.debian.org", "A", false).0, "REFUSED");
    assert_eq!(dig_async(&s, "1.2.0.192.in-addr.arpa", "PTR", false).0, "REFUSED");
    let axfr = tokio::task::block_in_place(|| {
        std::process::Command::new("dig")
            .args([&format!("@{}", addr.ip()), "-p", &addr.port().to_string(), "+time=5", "+tries=1", "maas", "AXFR"])
            .output()
            .unwrap()
    });
    let axfr = String::from_utf8_lossy(&axfr.stdout).to_string();
    assert!(axfr.contains("Transfer failed") || axfr.contains("REFUSED"), "{axfr}");

    // Changes show on the next query, without a restart.
    let r = s.post(Some(&admin), &format!("machines/{m}/?op=release"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(dig_async(&s, "web1.maas", "A", false), ("NOERROR".into(), vec![]));
    assert_eq!(dig_async(&s, &rev4, "PTR", false).0, "NXDOMAIN");
    let txt = s.get(Some(&user), "dnsresourcerecords/?fqdn=docs.example.com").await.json()[0]["id"].as_i64().unwrap();
    assert_eq!(s.call(Some(&admin), "DELETE", &format!("dnsresourcerecords/{txt}/"), &[]).await.status, 204);
    assert_eq!(dig_async(&s, "docs.example.com", "TXT", true).0, "NXDOMAIN");
    // Reverse DNS off for the subnet: its reverse zone is not ours any more.
    let r = s.call(Some(&admin), "PUT", &format!("subnets/{}/", sub["id"]), &[("rdns_mode", "0")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(dig_async(&s, "50.0.44.10.in-addr.arpa", "PTR", false).0, "REFUSED");
});

backend_tests!(odd_input_never_500, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    s.post(Some(&admin), "domains/", &[("name", "example.com")]).await;
    let posts: &[(&str, &[(&str, &str)])] = &[
        ("domains/", &[("name", "a..b")]),
        ("domains/", &[("name", "x"), ("ttl", "99999999999")]),
        ("dnsresources/", &[("fqdn", ".")]),
        ("dnsresources/", &[("fqdn", "@")]),
        ("dnsresources/", &[("name", "@"), ("domain", "nope")]),
        ("dnsresources/", &[("fqdn", "a.example.com"), ("ip_addresses", "10.0.0.1,10.0.0.1 ::1 x")]),
        ("dnsresourcerecords/", &[("fqdn", "example.com"), ("rrtype", "CNAME"), ("rrdata", "www")]),
        ("dnsresourcerecords/", &[("fqdn", "t.example.com"), ("rrtype", "TXT"), ("rrdata", "  ")]),
        ("dnsresourcerecords/", &[("fqdn", "t.example.com"), ("rrtype", "NS"), ("rrdata", "a b")]),
    ];
    for (url, form) in posts {
        let r = s.post(Some(&admin), url, form).await;
        assert!((400..500).contains(&r.status), "{url} {form:?}: {} {}", r.status, r.body);
    }
    // The apex as a resource, and a long TXT (split into 255-byte strings).
    let r = s.post(Some(&admin), "dnsresources/", &[("fqdn", "example.com"), ("ip_addresses", "192.0.2.1")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["fqdn"], "example.com");
    let long = "x".repeat(600);
    let r = s
        .post(Some(&admin), "dnsresourcerecords/", &[("fqdn", "t.example.com"), ("rrtype", "TXT"), ("rrdata", &long)])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(dig_async(&s, "example.com", "A", false).1, vec!["192.0.2.1".to_string()]);
    let (st, txt) = dig_async(&s, "t.example.com", "TXT", true);
    assert_eq!((st.as_str(), txt.len()), ("NOERROR", 1), "{txt:?}");
    assert_eq!(txt[0].matches('"').count(), 6, "three strings: {}", txt[0]);
    assert_eq!(s.get(Some(&admin), "dnsresources/abc/").await.status, 404);
    assert_eq!(s.get(Some(&admin), "domains/-1/").await.status, 404);
});

/// The zone serial the DNS server answers in the apex SOA.
fn soa_serial(s: &TestServer) -> u64 {
    let (status, answers) = dig_async(s, "maas", "SOA", false);
    assert_eq!(status, "NOERROR");
    answers[0].split_whitespace().nth(2).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{answers:?}"))
}

backend_tests!(node_address_changes_bump_the_serial, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let sub = s.post(Some(&admin), "subnets/", &[("cidr", "10.45.0.0/24")]).await.json();
    let m = ready_machine(&s, &admin, "serial1", 2, 2048).await;
    // Commissioning linked the boot interface AUTO to the subnet.
    let eth0 = s.get(Some(&admin), &format!("machines/{m}/")).await.json()["interface_set"][0].clone();
    assert_eq!(eth0["links"][0]["mode"], "auto", "{eth0}");
    let link_id = eth0["links"][0]["id"].as_i64().unwrap();
    let iurl = format!("nodes/{m}/interfaces/{}/", eth0["id"]);

    // An AUTO link without an address changes nothing in DNS.
    let before = soa_serial(&s);
    // Deploy claims the AUTO address: the serial moves in the same transaction.
    let r = s.post(Some(&admin), &format!("machines/{m}/?op=deploy"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let deployed = soa_serial(&s);
    assert!(deployed > before, "deploy bumps: {before} -> {deployed}");
    // Release frees it.
    let r = s.post(Some(&admin), &format!("machines/{m}/?op=release"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let released = soa_serial(&s);
    assert!(released > deployed, "release bumps: {deployed} -> {released}");
    // Unlinking an AUTO link that holds no address is no DNS change.
    let r = s.post(Some(&admin), &format!("{iurl}?op=unlink_subnet"), &[("id", &link_id.to_string())]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(soa_serial(&s), released, "unlinking an address-less AUTO link is no DNS change");

    // STATIC links made and removed bump it.
    let r = s
        .post(
            Some(&admin),
            &format!("{iurl}?op=link_subnet"),
            &[("mode", "STATIC"), ("subnet", &sub["id"].to_string()), ("ip_address", "10.45.0.9")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let linked = soa_serial(&s);
    assert!(linked > released);
    let static_id = r.json()["links"][0]["id"].as_i64().unwrap();
    let r = s.post(Some(&admin), &format!("{iurl}?op=unlink_subnet"), &[("id", &static_id.to_string())]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let unlinked = soa_serial(&s);
    assert!(unlinked > linked);

    // So does a hostname change; a no-op update does not.
    let r = s.call(Some(&admin), "PUT", &format!("machines/{m}/"), &[("hostname", "serial2")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let renamed = soa_serial(&s);
    assert!(renamed > unlinked);
    let r = s.call(Some(&admin), "PUT", &format!("machines/{m}/"), &[("hostname", "serial2")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(soa_serial(&s), renamed);
    // A failed change (taken hostname) rolls the bump back with it.
    ready_machine(&s, &admin, "taken", 2, 2048).await;
    let r = s.call(Some(&admin), "PUT", &format!("machines/{m}/"), &[("hostname", "taken")]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(soa_serial(&s), renamed);
});
