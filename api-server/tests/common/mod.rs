//! Test harness: a real region on port 0 against a real database.
//!
//! SQLite databases are fresh files in a temp dir. PostgreSQL tests need a
//! server: `./test.sh` starts a throwaway cluster and exports
//! `IRONPOOL_TEST_PG_URL` (a URL to its `postgres` database); each test then
//! gets its own freshly created database in it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use diesel::{Connection, PgConnection, RunQueryDsl};
use ironpool_region::engine::accounts::{self, UserInput};
use ironpool_region::http::AppState;
use ironpool_region::{server, RegionConfig};

/// Peer programs (the Redfish emulator, free ports, child processes): one
/// copy, shared with the power and rack tests.
#[path = "../../../power/tests/common/mod.rs"]
pub mod peers;
pub mod query_count;

pub mod ui;
pub mod vm;
pub mod webdriver;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, empty database of either kind.
pub struct TestDb {
    pub url: String,
    pub dir: tempfile::TempDir,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn pg_base_url() -> String {
    std::env::var("IRONPOOL_TEST_PG_URL").unwrap_or_else(|_| {
        panic!(
            "IRONPOOL_TEST_PG_URL is not set. PostgreSQL tests need a server: run ./test.sh, \
             or start one and export IRONPOOL_TEST_PG_URL=postgres://postgres@127.0.0.1:PORT/postgres"
        )
    })
}

impl TestDb {
    pub fn new(backend: Backend) -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("test.db").display()),
            Backend::Postgres => {
                let base = pg_base_url();
                let name = format!(
                    "t_{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::SeqCst),
                    chrono::Utc::now().timestamp_subsec_nanos()
                );
                let mut c = PgConnection::establish(&base).expect("connect to the test PostgreSQL server");
                diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut c).expect("create test database");
                let (prefix, _) = base.rsplit_once('/').expect("database URL has a path");
                format!("{prefix}/{name}")
            }
        };
        TestDb { url, dir }
    }
}

/// A running region and what a test needs to talk to it.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`
    pub origin: String,
    pub state: Arc<AppState>,
    handle: actix_web::dev::ServerHandle,
    pub db: TestDb,
}

impl TestServer {
    pub fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, |_| {})
    }

    pub fn start_with(backend: Backend, tweak: impl FnOnce(&mut RegionConfig)) -> TestServer {
        Self::start_on(TestDb::new(backend), tweak)
    }

    /// A second region on the same database as `self` (PostgreSQL: several
    /// regions share one database).
    pub fn second_region(&self) -> TestServer {
        self.second_region_with(|_| {})
    }

    /// [`Self::second_region`] with its configuration changed by `tweak`.
    pub fn second_region_with(&self, tweak: impl FnOnce(&mut RegionConfig)) -> TestServer {
        let db = TestDb { url: self.db.url.clone(), dir: tempfile::tempdir().expect("temp dir") };
        // Regions sharing a database share its secrets key.
        let key = self.state.config.secrets_key_path();
        Self::start_on(db, move |c| {
            c.secrets_key_file = Some(key);
            tweak(c);
        })
    }

    pub fn start_on(db: TestDb, tweak: impl FnOnce(&mut RegionConfig)) -> TestServer {
        let (addr, state, handle) = Self::spawn(&db, "127.0.0.1:0", tweak);
        TestServer { origin: format!("http://{addr}"), state, handle, db }
    }

    /// Stops the server as SIGTERM does (long polls and live streams end,
    /// in-flight requests finish), leaving the database.
    pub async fn stop(&self) {
        self.state.db.wakeups().close();
        self.handle.stop(true).await;
    }

    /// Starts the region again on the same port and database, as after a
    /// restart of the process.
    pub fn restart(&mut self) {
        let listen = self.origin.trim_start_matches("http://").to_string();
        let (_, state, handle) = Self::spawn(&self.db, &listen, |_| {});
        self.state = state;
        self.handle = handle;
    }

    fn spawn(
        db: &TestDb,
        listen: &str,
        tweak: impl FnOnce(&mut RegionConfig),
    ) -> (std::net::SocketAddr, Arc<AppState>, actix_web::dev::ServerHandle) {
        let mut cfg = RegionConfig::with_data_dir(db.dir.path());
        cfg.database_url = db.url.clone();
        cfg.listen = listen.into();
        cfg.http_workers = 1;
        cfg.db_pool_size = 4;
        tweak(&mut cfg);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let region = server::bind(cfg).expect("region binds");
                tx.send((region.addr, region.state.clone(), region.server.handle())).unwrap();
                region.server.await.expect("server runs");
            })
        });
        rx.recv().expect("server started")
    }

    /// `http://127.0.0.1:PORT/MAAS/api/2.0/<rel>`
    pub fn api(&self, rel: &str) -> String {
        format!("{}/MAAS/api/2.0/{rel}", self.origin)
    }

    /// Creates a user through the engine and returns their API key.
    pub async fn user(&self, name: &str, admin: bool) -> ApiKey {
        let user = accounts::create_user(
            &self.state.db,
            UserInput {
                username: name.into(),
                email: format!("{name}@example.com"),
                password: format!("{name}-password"),
                is_superuser: admin,
            },
        )
        .await
        .expect("create user");
        let t = self.state.db.write(move |c| accounts::token_for_login(c, user.id, None)).await.expect("token");
        ApiKey { consumer: t.consumer_key, token: t.token_key, secret: t.token_secret }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Sends the stop command at once; the server thread then winds down.
        drop(self.handle.stop(false));
    }
}

#[derive(Debug, Clone)]
pub struct ApiKey {
    pub consumer: String,
    pub token: String,
    pub secret: String,
}

static NONCE: AtomicU32 = AtomicU32::new(0);

impl ApiKey {
    /// A PLAINTEXT header as python-libmaas sends it.
    pub fn plaintext(&self) -> String {
        format!(
            "OAuth realm=\"OAuth\", oauth_nonce=\"{}{}\", oauth_timestamp=\"{}\", oauth_version=\"1.0\", \
             oauth_signature_method=\"PLAINTEXT\", oauth_consumer_key=\"{}\", oauth_token=\"{}\", oauth_signature=\"%26{}\"",
            std::process::id(),
            NONCE.fetch_add(1, Ordering::SeqCst),
            chrono::Utc::now().timestamp(),
            self.consumer,
            self.token,
            self.secret
        )
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().build().unwrap()
}

/// Runs a test body once per backend: `backend_tests!(name, |b| async move {...})`
/// makes `name_sqlite` and `name_postgres`.
#[macro_export]
macro_rules! backend_tests {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                ($body)(Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                ($body)(Backend::Postgres).await
            }
        }
    };
}

/// A response, fully read.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub content_type: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl TestServer {
    /// Makes every pending status-timeout job due now and, for `expire`
    /// (a system_id), moves that node's deadline into the past: what an
    /// hour of waiting would do, without waiting. The caller then runs the
    /// job worker.
    pub async fn make_timeouts_due(&self, expire: Option<&str>) {
        let expire = expire.map(str::to_string);
        self.state
            .db
            .write(move |c| {
                use diesel::prelude::*;
                use ironpool_region::db::schema::{jobs, nodes};
                let past = chrono::Utc::now().naive_utc() - chrono::Duration::minutes(1);
                if let Some(sid) = &expire {
                    diesel::update(nodes::table.filter(nodes::system_id.eq(sid)))
                        .set(nodes::status_expires_at.eq(Some(past)))
                        .execute(c)
                        .unwrap();
                }
                diesel::update(jobs::table.filter(jobs::kind.eq("status_timeout")))
                    .set(jobs::run_after.eq(past))
                    .execute(c)
                    .unwrap();
                Ok(())
            })
            .await
            .unwrap();
    }

    /// Sends `method rel` as `who` (None = anonymous) with a form-encoded body
    /// for POST/PUT (query string for GET/DELETE).
    pub async fn call(&self, who: Option<&ApiKey>, method: &str, rel: &str, form: &[(&str, &str)]) -> Resp {
        let c = client();
        let url = self.api(rel);
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = c.request(m, &url);
        if matches!(method, "POST" | "PUT") {
            if !form.is_empty() {
                rb = rb.form(form);
            }
        } else if !form.is_empty() {
            rb = rb.query(form);
        }
        if let Some(k) = who {
            rb = rb.header(reqwest::header::AUTHORIZATION, k.plaintext());
        }
        read(rb.send().await.unwrap()).await
    }

    pub async fn get(&self, who: Option<&ApiKey>, rel: &str) -> Resp {
        self.call(who, "GET", rel, &[]).await
    }

    pub async fn post(&self, who: Option<&ApiKey>, rel: &str, form: &[(&str, &str)]) -> Resp {
        self.call(who, "POST", rel, form).await
    }
}

/// POSTs a multipart form to `url`, signed with `key`'s PLAINTEXT
/// credentials (the shape MAAS clients use for file parts).
pub async fn post_form_as(url: impl reqwest::IntoUrl, key: &ApiKey, form: reqwest::multipart::Form) -> Resp {
    read(client().post(url).header("authorization", key.plaintext()).multipart(form).send().await.unwrap()).await
}

pub async fn read(r: reqwest::Response) -> Resp {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let content_type = headers.get("content-type").map(|v| v.to_str().unwrap().to_string());
    // Every test that reads a region answer checks this: the MAAS CLI reads
    // Content-Type on every response and fails without one (issue 20).
    if r.url().path().starts_with("/MAAS/") {
        assert!(
            content_type.is_some(),
            "{} {} answered {status} without a Content-Type",
            r.url().path(),
            r.url().query().unwrap_or("")
        );
    }
    let body = r.text().await.unwrap();
    Resp { status, content_type, headers, body }
}

/// A syntactically valid ed25519 public key line with the given comment.
pub fn ed25519_key(seed: u8, comment: &str) -> String {
    use base64::Engine as _;
    let mut blob = Vec::new();
    for part in [b"ssh-ed25519".to_vec(), vec![seed; 32]] {
        blob.extend((part.len() as u32).to_be_bytes());
        blob.extend(part);
    }
    format!("ssh-ed25519 {} {comment}", base64::engine::general_purpose::STANDARD.encode(blob))
}

/// A minimal DER structure in a PEM certificate envelope.
pub fn pem_cert(seed: u8) -> String {
    use base64::Engine as _;
    let der = [0x30u8, 0x03, 0x02, 0x01, seed];
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----",
        base64::engine::general_purpose::STANDARD.encode(der)
    )
}

/// A machine created through the API by `admin` (power_type manual), with
/// CPUs and memory set by PUT, taken to READY by the engine's commissioning
/// completion (what the commissioning environment's success signal does).
/// Returns its system_id.
pub async fn ready_machine(s: &TestServer, admin: &ApiKey, hostname: &str, cpus: u32, mem_mib: u32) -> String {
    ready_machine_with_disks(s, admin, hostname, cpus, mem_mib, Vec::new()).await
}

/// Creates a machine with `mac` and manual power; it starts Commissioning.
pub async fn commissioning_machine(s: &TestServer, admin: &ApiKey, mac: &str, hostname: &str) -> String {
    let form =
        [("architecture", "amd64/generic"), ("mac_addresses", mac), ("hostname", hostname), ("power_type", "manual")];
    let r = s.post(Some(admin), "machines/", &form).await;
    assert_eq!(r.status, 200, "create {hostname}: {}", r.body);
    assert_eq!(r.json()["status_name"], "Commissioning");
    r.json()["system_id"].as_str().unwrap().to_string()
}

/// Commissioning succeeds (what the agent's OK signal does, without inventory).
pub async fn finish_commissioning(s: &TestServer, sid: &str) {
    let sid = sid.to_string();
    s.state
        .db
        .write(move |c| {
            let n = ironpool_region::db::nodes::by_system_id(c, &sid)?.unwrap();
            ironpool_region::engine::nodes::commission::complete_commissioning(c, &n, "test")
        })
        .await
        .unwrap();
}

/// The deployed OS reports success: what the metadata API's signal does.
pub async fn complete_deployment(s: &TestServer, sid: &str) {
    let sid = sid.to_string();
    s.state
        .db
        .write(move |c| {
            let n = ironpool_region::db::nodes::by_system_id(c, &sid)?.unwrap();
            ironpool_region::engine::nodes::deploy::complete_deployment(c, &n, "test")
        })
        .await
        .unwrap();
}

fn rand_byte() -> u8 {
    use std::sync::atomic::AtomicU64;
    static SEQ: AtomicU64 = AtomicU64::new(1);
    let n = SEQ.fetch_add(1, Ordering::SeqCst) ^ (std::process::id() as u64).wrapping_mul(2654435761);
    (n.wrapping_mul(6364136223846793005) >> 33) as u8
}

/// A block device of a machine's JSON by name.
pub fn device<'a>(m: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    m["blockdevice_set"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no block device {name} in {}", m["blockdevice_set"]))
}

/// `GET machines/{sid}/` as `who`, which must answer 200.
pub async fn machine(s: &TestServer, who: &ApiKey, sid: &str) -> serde_json::Value {
    let r = s.get(Some(who), &format!("machines/{sid}/")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

/// Asserts a status and that the body says something.
pub fn expect(r: &Resp, status: u16, needle: &str) {
    assert_eq!(r.status, status, "expected {status} containing {needle:?}, got: {}", r.body);
    assert!(r.body.contains(needle), "expected {needle:?} in: {}", r.body);
}

/// A disk as commissioning reports it: `name`, size in GB (10^9 bytes),
/// rotational (tagged `rotary`) or not (`ssd`).
pub fn disk(name: &str, gb: i64, rotational: bool) -> ironpool_region::engine::storage::devices::DiskInventory {
    ironpool_region::engine::storage::devices::DiskInventory {
        name: name.into(),
        model: Some("QEMU HARDDISK".into()),
        serial: Some(format!("QM-{name}")),
        size: gb * 1_000_000_000,
        block_size: 512,
        rotational,
        id_path: Some(format!("/dev/disk/by-id/wwn-0x5000c500{name}")),
        firmware_version: Some("2.5+".into()),
        ..Default::default()
    }
}

/// Like [`ready_machine`], with these disks recorded by commissioning (so the
/// default storage layout is applied when it completes). Returns its system_id.
pub async fn ready_machine_with_disks(
    s: &TestServer,
    admin: &ApiKey,
    hostname: &str,
    cpus: u32,
    mem_mib: u32,
    disks: Vec<ironpool_region::engine::storage::devices::DiskInventory>,
) -> String {
    let mac = format!("52:54:00:{:02x}:{:02x}:{:02x}", rand_byte(), rand_byte(), rand_byte());
    let r = s
        .post(
            Some(admin),
            "machines/",
            &[
                ("architecture", "amd64/generic"),
                ("mac_addresses", &mac),
                ("hostname", hostname),
                ("power_type", "manual"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "create {hostname}: {}", r.body);
    assert_eq!(r.json()["status_name"], "Commissioning");
    let sid = r.json()["system_id"].as_str().unwrap().to_string();
    let r = s
        .call(
            Some(admin),
            "PUT",
            &format!("machines/{sid}/"),
            &[("cpu_count", &cpus.to_string()), ("memory", &mem_mib.to_string())],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sid2 = sid.clone();
    s.state
        .db
        .write(move |c| {
            let n = ironpool_region::db::nodes::by_system_id(c, &sid2)?.unwrap();
            ironpool_region::engine::storage::devices::record_block_devices(c, n.id, &disks)?;
            ironpool_region::engine::nodes::commission::complete_commissioning(c, &n, "test")
        })
        .await
        .unwrap();
    sid
}

// ---------------------------------------------------------------- qemu network-boot tests

/// Whether this process runs as root (network namespaces, bridges, port 67).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

fn ip_ok(args: &[&str]) -> bool {
    std::process::Command::new("ip").args(args).status().map(|s| s.success()).unwrap_or(false)
}

/// `ip …`, its output (for the messages of failed steps).
fn ip_out(args: &[&str]) -> std::process::Output {
    std::process::Command::new("ip").args(args).output().expect("ip")
}

/// A client namespace joined by a veth pair to this (root) namespace, where
/// a rack's DHCP server binds to the host end (198.51.100.1/24). `tag`
/// keeps the names of different tests apart; removed on drop.
pub struct Veth {
    pub host: String,
    pub ns: String,
}

impl Veth {
    pub fn new(tag: &str) -> Option<Veth> {
        let id = std::process::id() % 10_000;
        let v = Veth { host: format!("ip{tag}{id}"), ns: format!("ip{tag}c{id}") };
        if !ip_out(&["netns", "add", &v.ns]).status.success() {
            eprintln!("SKIP: cannot create a network namespace");
            return None;
        }
        let run = |args: &[&str]| {
            let o = ip_out(args);
            assert!(o.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        };
        run(&["link", "add", &v.host, "type", "veth", "peer", "name", "cli0", "netns", &v.ns]);
        run(&["addr", "add", "198.51.100.1/24", "dev", &v.host]);
        run(&["link", "set", &v.host, "up"]);
        run(&["-n", &v.ns, "link", "set", "lo", "up"]);
        run(&["-n", &v.ns, "link", "set", "cli0", "up"]);
        std::fs::create_dir_all(format!("/etc/netns/{}", v.ns)).unwrap();
        std::fs::write(format!("/etc/netns/{}/resolv.conf", v.ns), "# netns\n").unwrap();
        Some(v)
    }

    pub fn set_mac(&self, mac: &str) {
        for args in [
            ["link", "set", "cli0", "down"].as_slice(),
            &["link", "set", "cli0", "address", mac],
            &["link", "set", "cli0", "up"],
        ] {
            let mut a = vec!["-n", self.ns.as_str()];
            a.extend_from_slice(args);
            assert!(ip_out(&a).status.success());
        }
    }

    /// One `dhclient` run; returns the lease file's text.
    pub fn dhclient_lease(&self, dir: &std::path::Path, name: &str) -> String {
        let lf = dir.join(format!("{name}.leases"));
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &self.ns, "dhclient", "-4", "-1", "-v", "-lf"])
            .arg(&lf)
            .arg("-pf")
            .arg(dir.join(format!("{name}.pid")))
            .arg("cli0")
            .output()
            .expect("dhclient");
        let leases = std::fs::read_to_string(&lf).unwrap_or_default();
        assert!(out.status.success(), "dhclient: {}", String::from_utf8_lossy(&out.stderr));
        // Stop the daemon it left behind; the lease stays in the server.
        let _ = std::process::Command::new("ip")
            .args(["netns", "exec", &self.ns, "dhclient", "-x", "-pf"])
            .arg(dir.join(format!("{name}.pid")))
            .output();
        leases
    }

    /// One `dhclient` run; returns the address it got.
    pub fn dhclient(&self, dir: &std::path::Path, name: &str) -> String {
        let leases = self.dhclient_lease(dir, name);
        leases
            .lines()
            .filter_map(|l| l.trim().strip_prefix("fixed-address "))
            .next_back()
            .map(|a| a.trim_end_matches(';').to_string())
            .unwrap_or_else(|| panic!("no lease: {leases}"))
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        ip_out(&["link", "del", &self.host]);
        ip_out(&["netns", "del", &self.ns]);
        let _ = std::fs::remove_dir_all(format!("/etc/netns/{}", self.ns));
    }
}

/// A bridge holding the rack's address 203.0.113.1/24 and taps for a VM;
/// removed on drop. `tag` keeps the names of different tests apart.
pub struct Bridge {
    pub br: String,
    /// The first tap.
    pub tap: String,
    pub taps: Vec<String>,
}

impl Bridge {
    pub fn new(tag: &str) -> Bridge {
        Bridge::with_taps(tag, 1)
    }

    /// A bridge with `n` taps (a VM with several NICs on one network).
    pub fn with_taps(tag: &str, n: usize) -> Bridge {
        let id = std::process::id() % 10_000;
        let taps: Vec<String> =
            (0..n).map(|i| if i == 0 { format!("ip{tag}tap{id}") } else { format!("ip{tag}t{i}{id}") }).collect();
        let b = Bridge { br: format!("ip{tag}br{id}"), tap: taps[0].clone(), taps };
        for args in [
            vec!["link", "add", &b.br, "type", "bridge"],
            vec!["addr", "add", "203.0.113.1/24", "dev", &b.br],
            vec!["link", "set", &b.br, "up"],
        ] {
            assert!(ip_ok(&args), "ip {args:?} failed");
        }
        for tap in &b.taps {
            for args in [
                vec!["tuntap", "add", "dev", tap, "mode", "tap"],
                vec!["link", "set", tap, "master", &b.br],
                vec!["link", "set", tap, "up"],
            ] {
                assert!(ip_ok(&args), "ip {args:?} failed");
            }
        }
        b
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        for tap in &self.taps {
            ip_ok(&["link", "del", tap]);
        }
        ip_ok(&["link", "del", &self.br]);
    }
}

/// A qemu process, killed on drop.
pub struct Vm(pub std::process::Child);

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Adds `mirror` (a simplestreams tree on disk) as a boot source selecting
/// ironpool/bookworm/amd64, imports it and waits for the import. The
/// mirror (tools/build-ephemeral.sh's) is unsigned: the source opts out of
/// signature verification.
pub async fn import_mirror(s: &TestServer, admin: &ApiKey, mirror: &std::path::Path) {
    import_mirrors(s, admin, &[(mirror, "ironpool", "bookworm")]).await
}

/// Adds each unsigned mirror as a boot source selecting its os/release on
/// amd64, imports them all and waits for the import.
pub async fn import_mirrors(s: &TestServer, admin: &ApiKey, mirrors: &[(&std::path::Path, &str, &str)]) {
    for (mirror, os, release) in mirrors {
        let r = s
            .post(
                Some(admin),
                "boot-sources/",
                &[("url", mirror.to_str().unwrap()), ("skip_keyring_verification", "true")],
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let src = r.json()["id"].as_i64().unwrap();
        let r = s
            .post(
                Some(admin),
                &format!("boot-sources/{src}/selections/"),
                &[("os", os), ("release", release), ("arches", "amd64")],
            )
            .await;
        assert!(r.status == 200 || r.status == 201, "{}", r.body);
    }
    let r = s.post(Some(admin), "boot-resources/?op=import", &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let start = std::time::Instant::now();
    while s.get(Some(admin), "boot-resources/?op=is_importing").await.body.trim() != "false" {
        assert!(start.elapsed() < std::time::Duration::from_secs(120), "import never finished");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// `POST boot-resources/` as multipart: `fields` plus `content` as a file.
pub async fn upload_boot_resource(
    s: &TestServer,
    key: &ApiKey,
    fields: &[(&str, &str)],
    content: Option<Vec<u8>>,
) -> Resp {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    if let Some(c) = content {
        form = form.part("content", reqwest::multipart::Part::bytes(c).file_name("content"));
    }
    read(
        client()
            .post(s.api("boot-resources/"))
            .header("authorization", key.plaintext())
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// A rack daemon's options for serving DHCP, TFTP and HTTP on `bridge`
/// (203.0.113.1), with a fast heartbeat.
pub fn bridge_rack_options(
    s: &TestServer,
    bridge: &Bridge,
    data_dir: std::path::PathBuf,
    hostname: &str,
) -> ironpool_rack::link::RackOptions {
    let mut o = ironpool_rack::link::RackOptions::new(vec![s.origin.clone()], s.state.rack_secret.clone(), data_dir);
    o.hostname = hostname.into();
    o.interfaces = Some(vec![ironpool_common::rack_link::RackInterface {
        name: bridge.br.clone(),
        mac: "52:54:00:00:ae:01".into(),
        addresses: vec!["203.0.113.1/24".into()],
    }]);
    o.http_listen = Some("203.0.113.1:0".parse().unwrap());
    o.tftp_listen = Some("203.0.113.1:0".parse().unwrap());
    o.dhcp_listen = Some("0.0.0.0:67".parse().unwrap());
    o.dhcp_interface = Some(bridge.br.clone());
    o.heartbeat = Some(std::time::Duration::from_millis(200));
    o
}

/// A dynamic range 203.0.113.50-99 on the bridge's subnet and DHCP on the
/// untagged VLAN with `rack_sid` as primary (after [`bridge_rack_options`]'s
/// rack has registered it).
pub async fn dhcp_on_bridge(s: &TestServer, admin: &ApiKey, rack_sid: &str) {
    let r = s
        .post(
            Some(admin),
            "ipranges/",
            &[("type", "dynamic"), ("start_ip", "203.0.113.50"), ("end_ip", "203.0.113.99")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.call(Some(admin), "PUT", "vlans/5001/", &[("dhcp_on", "true"), ("primary_rack", rack_sid)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Deterministic content that no two offsets share (so a shifted or
/// truncated copy cannot pass).
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
