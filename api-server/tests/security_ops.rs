//! Anonymous surface and operational correctness (issue 15, item 8 and
//! the L findings): enlistment is rate limited, the anonymous `by-id/`
//! calls are no oracle for which machines exist, `users/` shows other
//! users' emails to administrators only, database trouble is a quick 503
//! that says so, and a job failing halfway leaves nothing half-done. Each
//! test replays the audit's probe against the real server.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::time::{Duration, Instant};

use common::*;
use diesel::connection::SimpleConnection;
use diesel::Connection;

fn md_url(s: &TestServer, rel: &str) -> String {
    format!("{}/MAAS/metadata/{rel}", s.origin)
}

async fn md(s: &TestServer, method: &str, rel: &str) -> Resp {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    read(client().request(m, md_url(s, rel)).send().await.unwrap()).await
}

fn mac(i: u32) -> String {
    format!("52:54:01:{:02x}:{:02x}:{:02x}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff)
}

/// An anonymous enlistment from `from` (a loopback address).
async fn enlist(s: &TestServer, from: std::net::IpAddr, i: u32) -> Resp {
    let c = reqwest::Client::builder().local_address(from).build().unwrap();
    let m = mac(i);
    let form = [("architecture", "amd64/generic"), ("mac_addresses", m.as_str()), ("power_type", "manual")];
    read(c.post(s.api("machines/")).form(&form).send().await.unwrap()).await
}

fn retry_after(r: &Resp) -> u64 {
    r.headers.get("retry-after").unwrap_or_else(|| panic!("no Retry-After: {r:?}")).to_str().unwrap().parse().unwrap()
}

async fn machine_count(s: &TestServer, admin: &ApiKey) -> usize {
    s.get(Some(admin), "machines/").await.json().as_array().unwrap().len()
}

// The audit's flood (300 anonymous enlistments in 0.6 s) against the
// default limits: one address gets 100 per minute, then 429 with
// Retry-After; another address is still served; an administrator's
// creation is not counted.
backend_tests!(enlistment_is_rate_limited, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let local: std::net::IpAddr = [127, 0, 0, 1].into();
    let started = Instant::now();
    let mut created = 0;
    let mut refused = Vec::new();
    for i in 0..300 {
        let r = enlist(&s, local, i).await;
        match r.status {
            200 => created += 1,
            429 => refused.push(r),
            other => panic!("enlistment {i}: {other} {}", r.body),
        }
    }
    eprintln!("300 anonymous enlistments in {:?}: {created} created", started.elapsed());
    assert_eq!(created, 100, "the default per-address limit");
    let last = refused.last().unwrap();
    assert!(last.body.contains("Too many machines enlisted"), "{}", last.body);
    let wait = retry_after(last);
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    assert_eq!(machine_count(&s, &admin).await, 100, "refused enlistments created nothing");

    // Another source address has its own count.
    let r = enlist(&s, [127, 0, 0, 2].into(), 1000).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Administrators (what MAAS clients use) are not limited.
    let r =
        s.post(Some(&admin), "machines/", &[("architecture", "amd64/generic"), ("mac_addresses", &mac(2000))]).await;
    assert_eq!(r.status, 200, "{}", r.body);
});

// The global limit holds whatever the address; 0 turns both off.
backend_tests!(enlistment_total_limit_and_off_switch, |b| async move {
    let s = TestServer::start_with(b, |c| {
        c.enlist_max_per_address = 100;
        c.enlist_max_total = 3;
    });
    for i in 0..3u8 {
        let r = enlist(&s, [127, 0, 0, 10 + i].into(), u32::from(i)).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = enlist(&s, [127, 0, 0, 20].into(), 99).await;
    assert_eq!(r.status, 429, "{}", r.body);

    let off = TestServer::start_with(b, |c| {
        c.enlist_max_per_address = 0;
        c.enlist_max_total = 0;
    });
    for i in 0..20 {
        assert_eq!(enlist(&off, [127, 0, 0, 1].into(), i).await.status, 200);
    }
});

// Anonymous by-id calls used to answer 404 for unknown ids, name the
// status of known ones ("not booting … ('Ready')") and tell machines with
// a boot secret from those without. Now: one answer per kind of caller,
// whatever the id.
backend_tests!(by_id_is_no_oracle, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let alice = s.user("alice", false).await;
    let ready = ready_machine(&s, &admin, "ready", 2, 2048).await;
    let commissioning = commissioning_machine(&s, &admin, "52:54:00:16:00:01", "comm").await;
    let deploying = ready_machine(&s, &admin, "deploying", 2, 2048).await;
    let r = s.post(Some(&alice), &format!("machines/{deploying}/?op=deploy"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let unknown = "nosuch".to_string();

    for (what, path) in [
        ("GET", "latest/by-id/{}/?op=get_preseed"),
        ("GET", "latest/by-id/{}/stale-secret/?op=get_preseed"),
        ("POST", "latest/by-id/{}/?op=netboot_off"),
        ("POST", "latest/by-id/{}/stale-secret/?op=netboot_off"),
        ("GET", "2012-03-01/by-id/{}/?op=get_preseed"),
    ] {
        let mut answers = Vec::new();
        for sid in [&ready, &commissioning, &deploying, &unknown] {
            let r = md(&s, what, &path.replace("{}", sid)).await;
            assert!(r.status == 401 || r.status == 403, "{what} {path} {sid}: {} {}", r.status, r.body);
            assert!(!r.body.contains("token_key"), "{}", r.body);
            answers.push((r.status, r.body.replace(sid.as_str(), "<id>")));
        }
        assert!(answers.windows(2).all(|w| w[0] == w[1]), "{what} {path}: answers differ: {answers:#?}");
    }
});

// `users/` showed every user's email to every user. Now a user sees their
// own; others' are blank (the field stays a string for python-libmaas);
// administrators see all.
backend_tests!(users_hide_other_emails, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let alice = s.user("alice", false).await;
    s.user("bob", false).await;

    let email_of = |list: &serde_json::Value, name: &str| -> String {
        let u = list.as_array().unwrap().iter().find(|u| u["username"] == name).unwrap();
        u["email"].as_str().unwrap().to_string()
    };
    let list = s.get(Some(&alice), "users/").await.json();
    assert_eq!(list.as_array().unwrap().len(), 3, "{list}");
    assert_eq!(email_of(&list, "alice"), "alice@example.com");
    assert_eq!(email_of(&list, "bob"), "");
    assert_eq!(email_of(&list, "admin"), "");
    let bob = s.get(Some(&alice), "users/bob/").await;
    assert_eq!(bob.status, 200, "{}", bob.body);
    assert_eq!(bob.json()["email"], "");
    assert_eq!(bob.json()["username"], "bob");
    assert_eq!(s.get(Some(&alice), "users/alice/").await.json()["email"], "alice@example.com");
    assert_eq!(s.get(Some(&alice), "users/?op=whoami").await.json()["email"], "alice@example.com");

    let list = s.get(Some(&admin), "users/").await.json();
    assert_eq!(email_of(&list, "bob"), "bob@example.com");
    assert_eq!(s.get(Some(&admin), "users/bob/").await.json()["email"], "bob@example.com");
});

// A writer holding SQLite's lock used to make every other write wait 10 s
// and then answer 500. Now: 503 "busy" with Retry-After after the busy
// timeout, nothing written, reads unaffected, and the same call works once
// the lock is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_busy_is_a_quick_503() {
    let s = TestServer::start_with(Backend::Sqlite, |c| {
        c.db_busy_timeout_ms = 300;
        c.run_jobs = false;
    });
    let admin = s.user("admin", true).await;
    let path = s.db.url.trim_start_matches("sqlite://").to_string();
    let mut holder = diesel::SqliteConnection::establish(&path).unwrap();
    holder.batch_execute("BEGIN IMMEDIATE").unwrap();

    let started = Instant::now();
    let r = s.post(Some(&admin), "tags/", &[("name", "busy-tag")]).await;
    let took = started.elapsed();
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("database is busy"), "{}", r.body);
    assert!(retry_after(&r) >= 1);
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
    eprintln!("busy SQLite: 503 after {took:?}");
    // Readers are not blocked by a writer (WAL).
    assert_eq!(s.get(Some(&admin), "tags/").await.status, 200);

    holder.batch_execute("COMMIT").unwrap();
    let r = s.post(Some(&admin), "tags/", &[("name", "busy-tag")]).await;
    assert!(r.status == 200 || r.status == 201, "{}", r.body);
    let tags = s.get(Some(&admin), "tags/").await.json();
    assert_eq!(tags.as_array().unwrap().len(), 1, "{tags}");
}

/// A PostgreSQL cluster of the test's own, so it can be stopped.
struct OwnPostgres {
    bin: std::path::PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl OwnPostgres {
    fn as_postgres(cmd: &std::path::Path) -> std::process::Command {
        if is_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(cmd);
            c
        } else {
            std::process::Command::new(cmd)
        }
    }

    fn start() -> OwnPostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is installed under /usr/lib/postgresql (./test.sh installs it)")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("initdb").exists())
            .max()
            .expect("an initdb under /usr/lib/postgresql/*/bin");
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            assert!(std::process::Command::new("chown").arg("postgres").arg(dir.path()).status().unwrap().success());
        }
        let data = dir.path().join("data");
        let out = Self::as_postgres(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"])
            .output()
            .unwrap();
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let pg = OwnPostgres { bin, dir, port };
        pg.ctl_start();
        pg
    }

    fn ctl_start(&self) {
        let opts =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.path().display());
        let out = Self::as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .args(["-w", "-o", &opts, "start"])
            .output()
            .unwrap();
        assert!(out.status.success(), "pg_ctl start: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn stop(&self) {
        let out = Self::as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output()
            .unwrap();
        assert!(out.status.success(), "pg_ctl stop: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = Self::as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

// PostgreSQL going away used to hang calls for 30 s and then answer a 503
// that blamed nothing in particular. Now: 503 "database is unavailable
// (cannot connect …)" with Retry-After within the connect timeout (5 s by
// default), and the region recovers by itself when the server is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_is_a_quick_true_503() {
    let pg = OwnPostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_on(TestDb { url: pg.url(), dir }, |c| c.run_jobs = false);
    let admin = s.user("admin", true).await;
    assert_eq!(s.get(Some(&admin), "machines/").await.status, 200);

    pg.stop();
    for call in 0..2 {
        let started = Instant::now();
        let r = s.get(Some(&admin), "machines/").await;
        let took = started.elapsed();
        eprintln!("PostgreSQL down, call {call}: {} after {took:?}: {}", r.status, r.body);
        assert_eq!(r.status, 503, "{}", r.body);
        assert!(r.body.contains("database is unavailable (cannot connect: "), "{}", r.body);
        assert!(!r.body.contains("multiconnection"), "the cause, not diesel's generic text: {}", r.body);
        assert!(retry_after(&r) >= 1);
        assert!(took < Duration::from_secs(15), "answered after {took:?}");
    }

    pg.ctl_start();
    let mut status = 0;
    for _ in 0..20 {
        status = s.get(Some(&admin), "machines/").await.status;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(status, 200, "the region reconnects once PostgreSQL is back");
}

/// Makes the next "timed out" event insert fail, as a failing disk or a
/// bug would: the status-timeout job fails after its first write (the
/// status change).
async fn break_timeout_events(s: &TestServer, broken: bool) {
    let pg = s.state.db.backend() == ironpool_region::db::Backend::Postgres;
    s.state
        .db
        .write(move |c| {
            use diesel::RunQueryDsl;
            let sql: &[&str] = match (pg, broken) {
                (false, true) => &["CREATE TRIGGER fail_timeout BEFORE INSERT ON events \
                     WHEN NEW.description LIKE '%timed out%' BEGIN SELECT RAISE(ABORT, 'injected failure'); END"],
                (false, false) => &["DROP TRIGGER fail_timeout"],
                (true, true) => &[
                    "CREATE FUNCTION fail_timeout() RETURNS trigger AS $$ BEGIN \
                     IF NEW.description LIKE '%timed out%' THEN RAISE EXCEPTION 'injected failure'; END IF; \
                     RETURN NEW; END $$ LANGUAGE plpgsql",
                    "CREATE TRIGGER fail_timeout BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION fail_timeout()",
                ],
                (true, false) => &["DROP TRIGGER fail_timeout ON events", "DROP FUNCTION fail_timeout()"],
            };
            for q in sql {
                diesel::sql_query(*q).execute(c).unwrap();
            }
            Ok(())
        })
        .await
        .unwrap();
}

async fn status_of(s: &TestServer, admin: &ApiKey, sid: &str) -> String {
    machine(s, admin, sid).await["status_name"].as_str().unwrap().to_string()
}

/// (attempts, last_error) of every status-timeout job.
async fn timeout_jobs(s: &TestServer) -> Vec<(i32, Option<String>)> {
    use diesel::prelude::*;
    use ironpool_region::db::schema::jobs;
    s.state
        .db
        .run(|c| {
            Ok(jobs::table
                .filter(jobs::kind.eq("status_timeout"))
                .select((jobs::attempts, jobs::last_error))
                .load::<(i32, Option<String>)>(c)
                .unwrap())
        })
        .await
        .unwrap()
}

// A job failing halfway committed what it had done (SQLite) or could not
// even record its failure (PostgreSQL: the transaction was aborted). Now
// its effects roll back to a savepoint and the failure is recorded for a
// retry, which succeeds once the fault is gone.
backend_tests!(failed_job_leaves_nothing_half_done, |b| async move {
    let s = TestServer::start_with(b, |c| c.run_jobs = false);
    let admin = s.user("admin", true).await;
    let sid = commissioning_machine(&s, &admin, "52:54:00:16:01:01", "stuck").await;
    break_timeout_events(&s, true).await;
    s.make_timeouts_due(Some(&sid)).await;
    ironpool_region::engine::jobs::worker::run_due(&s.state.db, &s.state.power).await.unwrap();
    assert_eq!(
        status_of(&s, &admin, &sid).await,
        "Commissioning",
        "the status change rolled back with the failed event"
    );
    let events = s.get(Some(&admin), &format!("events/?op=query&id={sid}")).await.json();
    assert!(!events.to_string().contains("Failed commissioning"), "{events}");
    let jobs = timeout_jobs(&s).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0].0, 1, "the failure was recorded");
    assert!(jobs[0].1.as_deref().unwrap_or("").contains("injected failure"), "{jobs:?}");

    break_timeout_events(&s, false).await;
    s.make_timeouts_due(Some(&sid)).await;
    ironpool_region::engine::jobs::worker::run_due(&s.state.db, &s.state.power).await.unwrap();
    assert_eq!(status_of(&s, &admin, &sid).await, "Failed commissioning");
    assert!(timeout_jobs(&s).await.is_empty());
});
