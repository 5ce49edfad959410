//! `/metrics` scraped from a real region (SQLite and PostgreSQL): request
//! counters and latency histograms by routed handler and status, machines
//! by status against what the API lists, pool and queue gauges; and
//! `ironpool backup`/`restore`'s library calls: a backup taken while the
//! region serves writes, restored into a fresh data dir with the copied
//! secrets key, serves the same machines and users.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::*;
use ironpool_region::config::MetricsAccess;

/// One sample: metric name and its labels, sorted.
type Key = (String, BTreeMap<String, String>);

/// Parses the text exposition format line by line (comments skipped).
fn parse(text: &str) -> BTreeMap<Key, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), BTreeMap::new()),
            Some((name, rest)) => (name.to_string(), parse_labels(rest.strip_suffix('}').unwrap())),
        };
        assert!(out.insert((name, labels), value).is_none(), "duplicate series: {line}");
    }
    out
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut chars = s.chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "label {key} is not quoted in {s}");
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => panic!("dangling escape in {s}"),
                },
                '"' => break,
                c => value.push(c),
            }
        }
        labels.insert(key.trim_start_matches(',').to_string(), value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    labels
}

fn get(m: &BTreeMap<Key, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    let want: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    m.get(&(name.to_string(), want)).copied().unwrap_or(0.0)
}

async fn scrape(s: &TestServer, path: &str) -> BTreeMap<Key, f64> {
    let r = read(client().get(format!("{}{path}", s.origin)).send().await.unwrap()).await;
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    assert!(r.content_type.as_deref().unwrap().starts_with("text/plain; version=0.0.4"), "{:?}", r.content_type);
    parse(&r.body)
}

backend_tests!(scrape_counts_requests_and_machines, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    ready_machine(&s, &admin, "ready-1", 4, 4096).await;
    commissioning_machine(&s, &admin, "52:54:00:00:00:01", "comm-1").await;
    commissioning_machine(&s, &admin, "52:54:00:00:00:02", "comm-2").await;

    let before = scrape(&s, "/metrics").await;
    let list = [("handler", "MachinesHandler"), ("action", "read"), ("status", "200")];
    let missing = [("handler", "MachineHandler"), ("action", "read"), ("status", "404")];
    let allocate = [("handler", "MachinesHandler"), ("action", "allocate"), ("status", "200")];
    for _ in 0..3 {
        assert_eq!(s.get(Some(&admin), "machines/").await.status, 200);
    }
    assert_eq!(s.get(Some(&admin), "machines/nosuch/").await.status, 404);
    assert_eq!(s.post(Some(&admin), "machines/", &[("op", "allocate")]).await.status, 200);
    // Unknown paths are one series, whatever the path.
    for p in ["/MAAS/api/2.0/nothing-here-1/", "/MAAS/api/2.0/nothing-here-2/"] {
        assert_eq!(client().get(format!("{}{p}", s.origin)).send().await.unwrap().status(), 404);
    }
    let after = scrape(&s, "/MAAS/metrics").await;

    let delta = |name: &str, labels: &[(&str, &str)]| get(&after, name, labels) - get(&before, name, labels);
    assert_eq!(delta("ironpool_http_requests_total", &list), 3.0);
    assert_eq!(delta("ironpool_http_request_duration_seconds_count", &list), 3.0);
    assert!(delta("ironpool_http_request_duration_seconds_sum", &list) > 0.0);
    assert_eq!(delta("ironpool_http_requests_total", &missing), 1.0);
    assert_eq!(delta("ironpool_http_requests_total", &allocate), 1.0);
    assert_eq!(
        delta("ironpool_http_requests_total", &[("handler", "unrouted"), ("action", "-"), ("status", "404")]),
        2.0
    );
    // The first scrape is counted under the metrics router.
    assert!(
        get(&after, "ironpool_http_requests_total", &[("handler", "metrics"), ("action", "-"), ("status", "200")])
            >= 1.0
    );
    // No label carries a raw path.
    for (name, labels) in after.keys() {
        for v in labels.values() {
            assert!(!v.contains('/'), "{name} has a path-like label value {v:?}");
        }
    }

    // Machines by status agree with what the API lists, every status shown.
    let listed = s.get(Some(&admin), "machines/").await.json();
    let mut by_status: BTreeMap<String, f64> = BTreeMap::new();
    for m in listed.as_array().unwrap() {
        *by_status.entry(m["status_name"].as_str().unwrap().to_string()).or_default() += 1.0;
    }
    assert_eq!(by_status.get("Allocated"), Some(&1.0), "{by_status:?}");
    assert_eq!(by_status.get("Commissioning"), Some(&2.0), "{by_status:?}");
    let gauges: BTreeMap<String, f64> = after
        .iter()
        .filter(|((name, _), _)| name == "ironpool_machines")
        .map(|((_, labels), v)| (labels["status"].clone(), *v))
        .collect();
    assert!(gauges.len() >= 20, "every status has a series: {gauges:?}");
    for (status, n) in &gauges {
        assert_eq!(by_status.get(status).copied().unwrap_or(0.0), *n, "status {status}");
    }

    // Pool and queue gauges are present and sane.
    let max = get(&after, "ironpool_db_pool_connections", &[("state", "max")]);
    assert_eq!(max, 4.0);
    let in_use = get(&after, "ironpool_db_pool_connections", &[("state", "in_use")]);
    assert!((0.0..=max).contains(&in_use));
    assert_eq!(get(&after, "ironpool_db_pool_connections", &[("state", "waiting")]), 0.0);
    // Commissioning machines have their status-timeout jobs queued.
    assert!(get(&after, "ironpool_jobs", &[("state", "pending")]) >= 2.0, "{after:?}");
    assert!(after.contains_key(&("ironpool_jobs_oldest_due_age_seconds".to_string(), BTreeMap::new())));
    assert_eq!(get(&after, "ironpool_racks_connected", &[]), 0.0);
});

backend_tests!(metrics_access_off_is_not_found, |b| async move {
    let s = TestServer::start_with(b, |c| c.metrics_access = MetricsAccess::Off);
    for p in ["/metrics", "/MAAS/metrics"] {
        let r = read(client().get(format!("{}{p}", s.origin)).send().await.unwrap()).await;
        assert_eq!(r.status, 404, "{p}: {}", r.body);
    }
    // A longer path under the prefix is not the metrics page either.
    let s = TestServer::start(b);
    let r = read(client().get(format!("{}/metricsfoo", s.origin)).send().await.unwrap()).await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = read(client().post(format!("{}/metrics", s.origin)).send().await.unwrap()).await;
    assert_eq!(r.status, 405, "{}", r.body);
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_backup_while_serving_restores_into_a_fresh_region() {
    use ironpool_region::db::backup;
    let s = TestServer::start(Backend::Sqlite);
    let admin = s.user("admin", true).await;
    s.user("alice", false).await;
    let mut before = Vec::new();
    for i in 0..5 {
        before.push(ready_machine(&s, &admin, &format!("m{i}"), 2, 2048).await);
    }

    // Writes go on while the backup runs.
    let writer = {
        let origin = s.origin.clone();
        let admin = admin.clone();
        tokio::spawn(async move {
            let mut made = Vec::new();
            for i in 0..10 {
                let form = [
                    ("architecture", "amd64/generic"),
                    ("mac_addresses", &*format!("52:54:00:00:01:{i:02x}")),
                    ("hostname", &*format!("w{i}")),
                    ("power_type", "manual"),
                ];
                let r = client()
                    .post(format!("{origin}/MAAS/api/2.0/machines/"))
                    .header(reqwest::header::AUTHORIZATION, admin.plaintext())
                    .form(&form)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                made.push(format!("w{i}"));
            }
            made
        })
    };
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("ironpool-backup.db");
    let url = s.db.url.clone();
    let f = file.clone();
    tokio::task::spawn_blocking(move || backup::sqlite_backup(&url, &f)).await.unwrap().unwrap();
    let written = writer.await.unwrap();
    // A second backup to the same file is refused, not overwritten.
    let url = s.db.url.clone();
    let again = backup::sqlite_backup(&url, &file).unwrap_err();
    assert!(again.to_string().contains("exists"), "{again}");
    // PostgreSQL is pg_dump's job, and the message says so.
    let pg = backup::sqlite_backup("postgres://nobody@127.0.0.1:1/x", &out.path().join("x.db")).unwrap_err();
    assert!(pg.to_string().contains("pg_dump"), "{pg}");

    // A fresh data dir: restore, copy the secrets key, start a region.
    let fresh = tempfile::tempdir().unwrap();
    let fresh_url = format!("sqlite://{}", fresh.path().join("ironpool.db").display());
    backup::sqlite_restore(&file, &fresh_url, false).unwrap();
    // Restoring over a database needs --force.
    let refused = backup::sqlite_restore(&file, &fresh_url, false).unwrap_err();
    assert!(refused.to_string().contains("--force"), "{refused}");
    // Something that is not a backup is refused before anything is replaced.
    let junk = out.path().join("junk.db");
    std::fs::write(&junk, b"not a database at all, just some bytes").unwrap();
    let bad = backup::sqlite_restore(&junk, &fresh_url, true).unwrap_err();
    assert!(bad.to_string().contains("not an ironpool SQLite backup"), "{bad}");
    std::fs::copy(s.state.config.secrets_key_path(), ironpool_region::db::secrets::default_key_path(fresh.path()))
        .unwrap();

    let listed_then = s.get(Some(&admin), "machines/").await.json();
    let restored = TestServer::start_on(TestDb { url: fresh_url, dir: fresh }, |_| {});
    // The old API key works: its token secret is opened with the copied key.
    let r = restored.get(Some(&admin), "machines/").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let hostnames: Vec<String> =
        r.json().as_array().unwrap().iter().map(|m| m["hostname"].as_str().unwrap().to_string()).collect();
    for i in 0..5 {
        assert!(hostnames.contains(&format!("m{i}")), "{hostnames:?}");
    }
    // Consistent: every machine is one the region made, whole (a status
    // the API renders), and the writes that landed after the snapshot are
    // simply absent.
    for h in &hostnames {
        assert!(h.starts_with('m') || written.contains(h), "{h}");
    }
    for m in r.json().as_array().unwrap() {
        let then = listed_then.as_array().unwrap().iter().find(|t| t["system_id"] == m["system_id"]).unwrap();
        assert_eq!(then["hostname"], m["hostname"]);
        if m["hostname"].as_str().unwrap().starts_with('m') {
            assert_eq!(m["status_name"], "Ready");
        }
    }
    let users = restored.get(Some(&admin), "users/").await;
    assert_eq!(users.status, 200, "{}", users.body);
    let body = users.json();
    let names: Vec<&str> = body.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert!(names.contains(&"admin") && names.contains(&"alice"), "{names:?}");
    // The machines by system_id too, not only by name.
    for sid in &before {
        assert_eq!(restored.get(Some(&admin), &format!("machines/{sid}/")).await.status, 200, "{sid}");
    }
}
