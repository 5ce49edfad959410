//! Allocation: the constraint language, MAAS's choice rule and error texts,
//! and race-freedom under concurrent callers, on both databases.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::collections::HashSet;

use common::*;
use serde_json::Value;

backend_tests!(constraints, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let user = s.user("user", false).await;
    let small = ready_machine(&s, &admin, "small", 2, 4096).await;
    let big = ready_machine(&s, &admin, "big", 16, 65536).await;
    let mid = ready_machine(&s, &admin, "mid", 8, 16384).await;

    // Zones, pools and tags to constrain on.
    assert_eq!(s.post(Some(&admin), "zones/", &[("name", "az1"), ("description", "first")]).await.status, 200);
    assert_eq!(s.post(Some(&admin), "resourcepools/", &[("name", "gpu")]).await.status, 200);
    assert_eq!(s.post(Some(&admin), "tags/", &[("name", "ssd")]).await.status, 200);
    assert_eq!(s.post(Some(&admin), "machines/?op=set_zone", &[("zone", "az1"), ("nodes", &mid)]).await.status, 200);
    let r = s.post(Some(&admin), "tags/ssd/?op=update_nodes", &[("add", &mid), ("add", &big)]).await;
    assert_eq!(r.json(), serde_json::json!({"added": 2, "removed": 0}));
    assert_eq!(s.call(Some(&admin), "PUT", &format!("machines/{big}/"), &[("pool", "gpu")]).await.status, 200);

    let alloc = |form: Vec<(&'static str, String)>| {
        let s = &s;
        let user = user.clone();
        async move {
            let f: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            s.post(Some(&user), "machines/?op=allocate", &f).await
        }
    };
    let dry = |extra: Vec<(&'static str, String)>| {
        let mut f = extra;
        f.push(("dry_run", "true".into()));
        f
    };
    let sid = |r: &Resp| r.json()["system_id"].as_str().unwrap().to_string();

    // The cheapest adequate machine wins.
    assert_eq!(sid(&alloc(dry(vec![])).await), small);
    assert_eq!(sid(&alloc(dry(vec![("cpu_count", "4".into())])).await), mid);
    assert_eq!(sid(&alloc(dry(vec![("cpu_count", "4.0".into()), ("mem", "20000".into())])).await), big);
    assert_eq!(sid(&alloc(dry(vec![("tags", "ssd".into())])).await), mid);
    assert_eq!(sid(&alloc(dry(vec![("tags", "ssd".into()), ("not_in_zone", "az1".into())])).await), big);
    assert_eq!(sid(&alloc(dry(vec![("not_tags", "ssd".into())])).await), small);
    assert_eq!(sid(&alloc(dry(vec![("zone", "az1".into())])).await), mid);
    assert_eq!(sid(&alloc(dry(vec![("pool", "gpu".into())])).await), big);
    assert_eq!(sid(&alloc(dry(vec![("not_in_pool", "default".into())])).await), big);
    assert_eq!(sid(&alloc(dry(vec![("name", "big".into())])).await), big);
    assert_eq!(sid(&alloc(dry(vec![("name", "big.maas".into())])).await), big);
    assert_eq!(sid(&alloc(dry(vec![("system_id", mid.clone())])).await), mid);
    assert_eq!(sid(&alloc(dry(vec![("arch", "amd64".into())])).await), small);
    assert_eq!(sid(&alloc(dry(vec![("arch", "amd64/generic".into())])).await), small);
    assert_eq!(sid(&alloc(dry(vec![("interfaces", "eth:name=eth0".into())])).await), small);
    let r = alloc(dry(vec![("interfaces", "eth:name=eth0".into()), ("verbose", "true".into())])).await;
    let by_type = &r.json()["constraints_by_type"];
    let iface = by_type["interfaces"]["eth"][0].as_i64().unwrap();
    assert_eq!(r.json()["interface_set"][0]["id"], iface, "ids belong to the machine's interface_set");
    let verbose = by_type["verbose_interfaces"]["eth"].as_object().unwrap();
    assert_eq!(verbose.values().next().unwrap()[0], iface);
    // dry_run changed nothing.
    let m = s.get(Some(&admin), &format!("machines/{small}/")).await.json();
    assert_eq!(m["status_name"], "Ready");

    // No match: 409 with MAAS's messages and no Retry-After.
    let r = alloc(vec![("cpu_count", "64".into()), ("zone", "az1".into())]).await;
    assert_eq!(r.status, 409);
    assert!(r.headers.get("retry-after").is_none());
    assert_eq!(
        r.body,
        "No available machine matches constraints: [('cpu_count', ['64']), ('zone', ['az1'])] (resolved to \"cpu_count=64.0 zone=az1\")"
    );
    let r = alloc(vec![("system_id", "nope12".into())]).await;
    assert_eq!((r.status, r.body.as_str()), (409, "No machine with system ID nope12 available."));
    let r = alloc(vec![("arch", "arm64".into())]).await;
    assert_eq!(r.status, 409);
    // Machines without disks or spaces match no storage or space constraint;
    // a subnet specifier that names nothing is a 400 (tests/network.rs and
    // tests/storage.rs cover the matching itself).
    assert_eq!(alloc(vec![("storage", "root:32(ssd),data:100".into())]).await.status, 409);
    assert_eq!(alloc(vec![("interfaces", "2:space=2;5:space=5".into())]).await.status, 409);
    let r = alloc(vec![("not_subnets", "space:3".into())]).await;
    assert_eq!((r.status, r.json()["not_subnets"][0].as_str()), (400, Some("No matching subnets found.")));

    // Bad constraints: 400 naming the field.
    /// (form, field named in the 400, exact message if MAAS fixes one)
    type BadCase = (Vec<(&'static str, String)>, &'static str, Option<&'static str>);
    let bad: Vec<BadCase> = vec![
        (vec![("frobnicate", "1".into())], "frobnicate", Some("No such constraint.")),
        (vec![("arch", "sparc".into())], "arch", Some("Architecture not recognised.")),
        (vec![("tags", "nosuchtag".into())], "tags", Some("No such tag(s): 'nosuchtag'.")),
        (vec![("zone", "nowhere".into())], "zone", Some("No such zone(s): nowhere.")),
        (vec![("pool", "nowhere".into())], "pool", None),
        (vec![("cpu_count", "many".into())], "cpu_count", None),
        (vec![("mem", "-5".into())], "mem", None),
        (vec![("storage", "root:lots".into())], "storage", Some("Malformed storage constraint, \"root:lots\".")),
        (vec![("interfaces", "a:colour=red".into())], "interfaces", Some("Unknown interfaces constraint: 'colour")),
        (vec![("dry_run", "perhaps".into())], "dry_run", None),
    ];
    for (form, field, msg) in bad {
        let r = alloc(form.clone()).await;
        assert_eq!(r.status, 400, "{form:?}: {}", r.body);
        let v = r.json();
        assert!(v[field].is_array(), "{form:?}: {}", r.body);
        if let Some(m) = msg {
            assert_eq!(v[field][0], m, "{form:?}");
        }
    }

    // Real allocations take machines away; the caller owns them.
    for expected in [&small, &mid, &big] {
        let r = alloc(vec![("agent_name", "m1".into())]).await;
        assert_eq!(r.status, 200);
        assert_eq!(&sid(&r), expected);
        assert_eq!(r.json()["owner"], "user");
    }
    let r = alloc(vec![]).await;
    assert_eq!((r.status, r.body.as_str()), (409, "No machine available."));
    let mine = s.get(Some(&user), "machines/?op=list_allocated").await.json();
    assert_eq!(mine.as_array().unwrap().len(), 3);

    // List filters share the language; unknown names are 400s.
    assert_eq!(s.get(Some(&admin), "machines/?tags=ssd").await.json().as_array().unwrap().len(), 2);
    assert_eq!(s.get(Some(&admin), "machines/?zone=az1").await.json().as_array().unwrap().len(), 1);
    assert_eq!(s.get(Some(&admin), "machines/?status=allocated").await.json().as_array().unwrap().len(), 3);
    assert_eq!(s.get(Some(&admin), "machines/?simple_status=allocated").await.json().as_array().unwrap().len(), 3);
    assert_eq!(s.get(Some(&admin), "machines/?owner=user&hostname=big").await.json().as_array().unwrap().len(), 1);
    assert_eq!(s.get(Some(&admin), "machines/?not_hostname=big").await.json().as_array().unwrap().len(), 2);
    assert_eq!(s.get(Some(&admin), "machines/?cpu_count=8").await.json().as_array().unwrap().len(), 2);
    let r = s.get(Some(&admin), "machines/?colour=red").await;
    assert_eq!((r.status, r.json()["colour"][0].clone()), (400, Value::from("No such constraint.")));
    assert_eq!(s.get(Some(&admin), "machines/?status=sleepy").await.status, 400);
    assert_eq!(s.get(Some(&admin), "machines/?mac_address=zz").await.status, 400);
    let mac = s.get(Some(&admin), &format!("machines/{mid}/")).await.json()["interface_set"][0]["mac_address"]
        .as_str()
        .unwrap()
        .to_uppercase();
    let by_mac = s.get(Some(&admin), &format!("machines/?mac_address={mac}")).await.json();
    assert_eq!(by_mac[0]["system_id"], mid.as_str());

    // Pagination (Ironpool extension): limit + opaque cursor in a Link header.
    let r = s.get(Some(&admin), "machines/?limit=2").await;
    assert_eq!(r.json().as_array().unwrap().len(), 2);
    let link = r.headers["link"].to_str().unwrap().to_string();
    assert!(link.ends_with("rel=\"next\""), "{link}");
    let next = link.split('<').nth(1).unwrap().split('>').next().unwrap();
    let rest = read(client().get(next).header("authorization", admin.plaintext()).send().await.unwrap()).await;
    let page2 = rest.json();
    assert_eq!(page2.as_array().unwrap().len(), 1);
    assert!(rest.headers.get("link").is_none());
    assert_eq!(s.get(Some(&admin), "machines/?cursor=garbage").await.status, 400);
    assert!(s.get(Some(&admin), "machines/").await.headers.get("link").is_none(), "MAAS clients get plain lists");
});

backend_tests!(concurrent_allocations_never_double_allocate, |b| async move {
    let s = TestServer::start_with(b, |c| {
        c.http_workers = 2;
        c.db_pool_size = 8;
    });
    let admin = s.user("admin", true).await;
    let mut keys = Vec::new();
    for i in 0..4 {
        keys.push(s.user(&format!("u{i}"), false).await);
    }
    const MACHINES: usize = 10;
    const CALLS: usize = 24;
    let mut all = HashSet::new();
    for i in 0..MACHINES {
        all.insert(ready_machine(&s, &admin, &format!("race-{i}"), 2, 2048).await);
    }
    let mut tasks = Vec::new();
    for i in 0..CALLS {
        let key = keys[i % keys.len()].clone();
        let url = s.api("machines/?op=allocate");
        tasks.push(tokio::spawn(async move {
            let r = client().post(&url).header("authorization", key.plaintext()).send().await.unwrap();
            let status = r.status().as_u16();
            let body: String = r.text().await.unwrap();
            (status, body, key)
        }));
    }
    let mut won = Vec::new();
    let mut lost = 0;
    for t in tasks {
        let (status, body, key) = t.await.unwrap();
        match status {
            200 => {
                let v: Value = serde_json::from_str(&body).unwrap();
                won.push((v["system_id"].as_str().unwrap().to_string(), key.token.clone(), v["owner"].clone()));
            }
            409 => lost += 1,
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(won.len(), MACHINES, "min(N, M) successes");
    assert_eq!(lost, CALLS - MACHINES);
    let distinct: HashSet<&String> = won.iter().map(|w| &w.0).collect();
    assert_eq!(distinct.len(), MACHINES, "no machine allocated twice");
    // The database agrees: each machine has exactly the owner its caller was told.
    let listed = s.get(Some(&admin), "machines/?status=allocated").await.json();
    assert_eq!(listed.as_array().unwrap().len(), MACHINES);
    for (sid, _, owner) in &won {
        let m = listed.as_array().unwrap().iter().find(|m| m["system_id"] == sid.as_str()).unwrap();
        assert_eq!(&m["owner"], owner);
    }
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_regions_sharing_postgres_never_double_allocate() {
    let a = TestServer::start(Backend::Postgres);
    let b = a.second_region();
    let admin = a.user("admin", true).await;
    let user = a.user("user", false).await;
    const MACHINES: usize = 6;
    for i in 0..MACHINES {
        ready_machine(&a, &admin, &format!("shared-{i}"), 1, 1024).await;
    }
    let mut tasks = Vec::new();
    for i in 0..16 {
        let url = if i % 2 == 0 { a.api("machines/?op=allocate") } else { b.api("machines/?op=allocate") };
        let key = user.clone();
        tasks.push(tokio::spawn(async move {
            let r = client().post(&url).header("authorization", key.plaintext()).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }));
    }
    let mut won = HashSet::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        if status == 200 {
            let v: Value = serde_json::from_str(&body).unwrap();
            assert!(won.insert(v["system_id"].as_str().unwrap().to_string()), "allocated twice: {body}");
        } else {
            assert_eq!(status, 409, "{body}");
        }
    }
    assert_eq!(won.len(), MACHINES);
}

backend_tests!(random_constraints_never_500, |b| async move {
    // Fuzz-style: random names and values in allocate and list filters must
    // give 200, 400 or 409, never a server error.
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    ready_machine(&s, &admin, "fuzz", 2, 2048).await;
    let names = [
        "arch",
        "cpu_count",
        "mem",
        "tags",
        "not_tags",
        "zone",
        "not_in_zone",
        "pool",
        "storage",
        "interfaces",
        "subnets",
        "name",
        "system_id",
        "dry_run",
        "bogus",
        "status",
        "id",
        "mac_address",
        "limit",
        "cursor",
        "agent_name",
        "",
    ];
    let alphabet: Vec<char> = "abc019:;,=()._-/ %&!\u{e9}xyz".chars().collect();
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for i in 0..150 {
        let mut form: Vec<(String, String)> = Vec::new();
        for _ in 0..1 + next(3) {
            let name = names[next(names.len())].to_string();
            let len = next(12);
            let value: String = (0..len).map(|_| alphabet[next(alphabet.len())]).collect();
            form.push((name, value));
        }
        form.push(("dry_run".into(), "true".into()));
        let f: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let r = s.post(Some(&admin), "machines/?op=allocate", &f).await;
        assert!(matches!(r.status, 200 | 400 | 409), "allocate #{i} {form:?}: {} {}", r.status, r.body);
        let r = s.call(Some(&admin), "GET", "machines/", &f[..f.len() - 1]).await;
        assert!(matches!(r.status, 200 | 400), "list #{i} {form:?}: {} {}", r.status, r.body);
    }
});
