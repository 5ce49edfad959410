//! The `ironpool` binary end to end: createadmin, apikey, migrate, region,
//! demo and graceful shutdown, on SQLite and (with IRONPOOL_TEST_PG_URL) on
//! PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ironpool");

fn ironpool(dir: &std::path::Path, db: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("IRONPOOL_DATA_DIR", dir)
        .env("IRONPOOL_DATABASE_URL", db)
        .env_remove("IRONPOOL_LISTEN")
        .env_remove("IRONPOOL_CONFIG")
        .output()
        .expect("run ironpool")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A fresh database URL of each kind: SQLite in `dir`, or a new PostgreSQL
/// database on the test server.
fn databases(dir: &std::path::Path) -> Vec<String> {
    let mut v = vec![format!("sqlite://{}", dir.join("cli.db").display())];
    let base = std::env::var("IRONPOOL_TEST_PG_URL").expect("IRONPOOL_TEST_PG_URL must be set (run ./test.sh)");
    let name = format!(
        "cli_{}_{}",
        std::process::id(),
        dir.file_name().unwrap().to_string_lossy().to_lowercase().replace(|c: char| !c.is_ascii_alphanumeric(), "")
    );
    let status =
        Command::new("psql").args([&base, "-qAtc", &format!("CREATE DATABASE {name}")]).status().expect("psql");
    assert!(status.success());
    v.push(format!("{}/{name}", base.rsplit_once('/').unwrap().0));
    v
}

/// Minimal HTTP/1.1 client: (status, body).
fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    // Read until the server closes; a reset after the response has arrived
    // (the server closing a `Connection: close` socket) is not an error.
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if !raw.is_empty() && e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("reading the response from {addr}: {e}"),
        }
    }
    let resp = String::from_utf8_lossy(&raw).into_owned();
    let status = resp[9..12].parse().unwrap();
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

fn oauth(key: &str) -> String {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let parts: Vec<&str> = key.trim().split(':').collect();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let nanos = nanos + Duration::from_nanos(SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
    format!(
        "OAuth oauth_version=\"1.0\", oauth_signature_method=\"PLAINTEXT\", oauth_consumer_key=\"{}\", oauth_token=\"{}\", oauth_signature=\"%26{}\", oauth_nonce=\"{}\", oauth_timestamp=\"{}\"",
        parts[0], parts[1], parts[2], nanos.as_nanos(), nanos.as_secs()
    )
}

/// Follows a server's log (echoed, so a failing test shows it) and returns
/// the address from its "region listening" line.
fn listening_address(stderr: BufReader<std::process::ChildStderr>) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            eprintln!("[ironpool] {line}");
            if let Some(rest) = line.split("url=http://").nth(1) {
                let _ = tx.send(rest.trim_end_matches("/MAAS/").to_string());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30)).expect("server reports its address")
}

/// Starts a server command and waits for the "region listening" log line.
/// A spawned server, killed on drop so a failing test leaves nothing running.
struct Server(Option<Child>);

impl Server {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("server still owned")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn start(dir: &std::path::Path, db: &str, args: &[&str]) -> (Server, String, Vec<String>) {
    let mut child = Command::new(BIN)
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .env("IRONPOOL_DATA_DIR", dir)
        .env("IRONPOOL_DATABASE_URL", db)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let addr = listening_address(stderr);
    let mut stdout_lines = Vec::new();
    if args.first() == Some(&"demo") {
        let mut out = BufReader::new(child.stdout.take().unwrap());
        for _ in 0..4 {
            let mut l = String::new();
            out.read_line(&mut l).unwrap();
            stdout_lines.push(l.trim().to_string());
        }
        // Keep draining stdout so the server never writes into a closed pipe.
        std::thread::spawn(move || for _ in out.lines() {});
    }
    (Server(Some(child)), addr, stdout_lines)
}

/// SIGTERM, then the exit must be graceful and prompt.
fn terminate(mut server: Server) {
    let mut child = server.0.take().expect("server still owned");
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "graceful exit on SIGTERM, got {status}");
            return;
        }
        assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn admin_commands_and_region_on_both_databases() {
    let dir = tempfile::tempdir().unwrap();
    for db in databases(dir.path()) {
        let out = ironpool(dir.path(), &db, &["migrate"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains("Applied"));

        let out = ironpool(
            dir.path(),
            &db,
            &["createadmin", "--username", "root", "--password", "pw", "--email", "root@example.com"],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        let out = ironpool(
            dir.path(),
            &db,
            &["createadmin", "--username", "root", "--password", "pw", "--email", "root@example.com"],
        );
        assert!(!out.status.success());
        assert!(text(&out.stderr).contains("already exists"), "{}", text(&out.stderr));
        let out =
            ironpool(dir.path(), &db, &["createadmin", "--username", "x y", "--password", "pw", "--email", "bad"]);
        assert!(!out.status.success());
        assert!(text(&out.stderr).contains("email"), "{}", text(&out.stderr));

        // apikey: print, generate, delete
        let out = ironpool(dir.path(), &db, &["apikey", "--username", "root"]);
        assert!(out.status.success());
        let first = text(&out.stdout).trim().to_string();
        assert_eq!(first.split(':').count(), 3, "{first}");
        let out = ironpool(dir.path(), &db, &["apikey", "--username", "root", "--generate"]);
        let second = text(&out.stdout).trim().to_string();
        assert_ne!(first, second);
        let listed = text(&ironpool(dir.path(), &db, &["apikey", "--username", "root"]).stdout);
        assert_eq!(listed.lines().collect::<Vec<_>>(), vec![first.as_str(), second.as_str()]);
        assert!(ironpool(dir.path(), &db, &["apikey", "--username", "root", "--delete", &second]).status.success());
        let listed = text(&ironpool(dir.path(), &db, &["apikey", "--username", "root"]).stdout);
        assert_eq!(listed.trim(), first);
        let out = ironpool(dir.path(), &db, &["apikey", "--username", "nobody"]);
        assert!(!out.status.success());
        assert!(text(&out.stderr).contains("no user named"));

        // region: version, signed whoami, then SIGTERM
        let (child, addr, _) = start(dir.path(), &db, &["region"]);
        let (st, body) = http(&addr, "GET", "/MAAS/api/2.0/version/", &[], "");
        assert_eq!(st, 200);
        assert!(body.contains("capabilities"));
        let (st, body) = http(&addr, "GET", "/MAAS/api/2.0/users/?op=whoami", &[("Authorization", &oauth(&first))], "");
        assert_eq!(st, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["username"], "root", "{body}");
        let (st, _) = http(&addr, "GET", "/MAAS/api/2.0/users/?op=whoami", &[("Authorization", &oauth(&second))], "");
        assert_eq!(st, 401, "deleted key is refused");
        terminate(child);
    }
}

#[test]
fn demo_has_a_working_admin() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("demo.db").display());
    let (child, addr, banner) = start(dir.path(), &db, &["demo"]);
    let field = |name: &str| {
        banner
            .iter()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("{name} in {banner:?}"))
    };
    let key = field("API key:");
    let password = field("password:");
    let (st, body) = http(&addr, "GET", "/MAAS/api/2.0/users/?op=whoami", &[("Authorization", &oauth(&key))], "");
    assert_eq!(st, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["is_superuser"], true, "{body}");
    let form = format!("username=admin&password={password}");
    let (st, body) = http(
        &addr,
        "POST",
        "/MAAS/accounts/authenticate/",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &form,
    );
    assert_eq!(st, 200, "{body}");
    // The site a Juju user bootstraps on: two spaces with their subnets.
    let (st, body) = http(&addr, "GET", "/MAAS/api/2.0/spaces/", &[("Authorization", &oauth(&key))], "");
    assert_eq!(st, 200, "{body}");
    let spaces: serde_json::Value = serde_json::from_str(&body).unwrap();
    let cidrs = |name: &str| -> Vec<String> {
        spaces
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["name"] == name)
            .flat_map(|s| s["subnets"].as_array().unwrap().iter().map(|n| n["cidr"].as_str().unwrap().to_string()))
            .collect()
    };
    assert_eq!(cidrs("public"), vec!["10.20.0.0/24"], "{body}");
    assert_eq!(cidrs("storage"), vec!["10.30.0.0/24"], "{body}");
    terminate(child);

    // Again on the same data directory: the account keeps its password
    // (nothing new to print), and the site is not built twice.
    let (child, addr, banner) = start(dir.path(), &db, &["demo"]);
    assert!(banner.iter().any(|l| l == "password: unchanged (the existing account's)"), "{banner:?}");
    let (st, body) = http(
        &addr,
        "POST",
        "/MAAS/accounts/authenticate/",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &form,
    );
    assert_eq!(st, 200, "the first run's password still works: {body}");
    let (st, body) = http(&addr, "GET", "/MAAS/api/2.0/subnets/", &[("Authorization", &oauth(&key))], "");
    assert_eq!(st, 200, "{body}");
    let subnets: serde_json::Value = serde_json::from_str(&body).unwrap();
    let pxe = subnets.as_array().unwrap().iter().filter(|s| s["cidr"] == "10.20.0.0/24").count();
    assert_eq!(pxe, 1, "{body}");
    terminate(child);
}

#[test]
fn config_file_is_validated_and_used() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "lisen = \"127.0.0.1:1\"\n").unwrap();
    let out = Command::new(BIN).args(["--config", bad.to_str().unwrap(), "migrate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("invalid config file"), "{}", text(&out.stderr));

    // data_dir from the file is where the default SQLite database goes.
    let good = dir.path().join("good.toml");
    let data = dir.path().join("from-file");
    std::fs::write(&good, format!("data_dir = \"{}\"\n", data.display())).unwrap();
    let out = Command::new(BIN)
        .args(["--config", good.to_str().unwrap(), "migrate"])
        .env_remove("IRONPOOL_DATA_DIR")
        .env_remove("IRONPOOL_DATABASE_URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(data.join("ironpool.db").exists());
    // The environment beats the file.
    let env_dir = dir.path().join("from-env");
    let out = Command::new(BIN)
        .args(["--config", good.to_str().unwrap(), "migrate"])
        .env("IRONPOOL_DATA_DIR", &env_dir)
        .env_remove("IRONPOOL_DATABASE_URL")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(env_dir.join("ironpool.db").exists());
}

#[test]
fn demo_survives_a_closed_stdout() {
    // `ironpool demo | head -1`: the banner's reader goes away; the server stays up.
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("demo.db").display());
    let mut child = Server(Some(
        Command::new(BIN)
            .args(["demo", "--listen", "127.0.0.1:0"])
            .env("IRONPOOL_DATA_DIR", dir.path())
            .env("IRONPOOL_DATABASE_URL", &db)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    drop(child.child().stdout.take()); // closed before the banner is written
    let stderr = BufReader::new(child.child().stderr.take().unwrap());
    let addr = listening_address(stderr);
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.child().try_wait().unwrap().is_none(), "demo exited after its stdout closed");
    let (st, _) = http(&addr, "GET", "/MAAS/api/2.0/version/", &[], "");
    assert_eq!(st, 200);
    terminate(child);
}

/// A fresh PostgreSQL database for regions that share it, with an
/// administrator and their API key.
struct SharedPg {
    url: String,
    /// The secrets key file every region on the database must use.
    key_file: std::path::PathBuf,
    db: ironpool_region::db::Datastore,
    admin: ironpool_region::db::users::User,
    key: String,
}

fn shared_postgres(dir: &std::path::Path) -> SharedPg {
    use ironpool_region::engine::accounts::{self, UserInput};
    let url = databases(dir).pop().unwrap(); // the PostgreSQL one
    let key_file = dir.join("secrets.key");
    let secrets_key = ironpool_region::db::secrets::SecretsKey::load_or_create(&key_file).unwrap();
    let db = ironpool_region::db::at_rest::open(&url, 2, secrets_key).unwrap();
    let admin = accounts::create_user_blocking(
        &db,
        UserInput { username: "u".into(), email: "u@example.com".into(), password: "p".into(), is_superuser: true },
    )
    .unwrap();
    let key = db.blocking(|c| accounts::token_for_login(c, admin.id, None)).unwrap().api_key();
    SharedPg { url, key_file, db, admin, key }
}

/// `n` machines made straight in the database and moved to Ready (how
/// they got there is not what these tests are about); their system_ids.
fn ready_machines(
    pg: &SharedPg,
    n: usize,
    input: impl Fn(usize) -> ironpool_region::engine::nodes::create::MachineInput + Send + 'static,
) -> Vec<String> {
    use ironpool_region::db::nodes::NodeChanges;
    use ironpool_region::engine::lifecycle::Status;
    use ironpool_region::engine::nodes::create::create_machine;
    use ironpool_region::engine::nodes::state::transition;
    let admin = pg.admin.clone();
    pg.db
        .blocking(move |c| {
            let mut sids = Vec::new();
            for i in 0..n {
                let m = create_machine(c, Some(&admin), input(i))?;
                transition(c, &m, Status::Ready, "test", "", NodeChanges::default())?;
                sids.push(m.system_id);
            }
            Ok(sids)
        })
        .unwrap()
}

#[test]
fn two_region_processes_on_one_postgres_never_double_allocate() {
    use ironpool_region::engine::nodes::create::MachineInput;

    let dir = tempfile::tempdir().unwrap();
    let pg = shared_postgres(dir.path());
    let (db_url, key_file, key) = (pg.url.clone(), pg.key_file.clone(), pg.key.clone());
    const MACHINES: usize = 8;
    ready_machines(&pg, MACHINES, |i| MachineInput {
        architecture: Some("amd64".into()),
        mac_addresses: vec![format!("02:00:00:00:01:{i:02x}")],
        hostname: Some(format!("p{i}")),
        power_type: "manual".into(),
        commission: false,
        ..Default::default()
    });
    drop(pg);

    // Two separate region processes on the same database.
    let (a, addr_a, _) = start(dir.path(), &db_url, &["region"]);
    let dir_b = tempfile::tempdir().unwrap();
    // Regions on one database share one secrets key.
    let (b, addr_b, _) = start(dir_b.path(), &db_url, &["region", "--secrets-key-file", key_file.to_str().unwrap()]);
    let handles: Vec<_> = (0..20)
        .map(|i| {
            let addr = if i % 2 == 0 { addr_a.clone() } else { addr_b.clone() };
            let auth = oauth(&key);
            std::thread::spawn(move || {
                http(&addr, "POST", "/MAAS/api/2.0/machines/?op=allocate", &[("Authorization", &auth)], "")
            })
        })
        .collect();
    let mut won = std::collections::HashSet::new();
    for h in handles {
        let (status, body) = h.join().unwrap();
        match status {
            200 => {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert!(won.insert(v["system_id"].as_str().unwrap().to_string()), "allocated twice: {body}");
            }
            409 => {}
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(won.len(), MACHINES);
    terminate(a);
    terminate(b);
}

/// `createadmin --password-file` / `IRONPOOL_ADMIN_PASSWORD` and `rack
/// --secret-file` keep secrets out of argv; the old flags still work but warn.
/// Also: the region's data directory and database are private (0700/0600).
#[test]
fn secrets_stay_off_the_command_line() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let db = format!("sqlite://{}", dir.join("ironpool.db").display());
    let warning = "other users of this machine can read it";

    let pw_file = tmp.path().join("pw");
    std::fs::write(&pw_file, "from-a-file\n").unwrap();
    let out = ironpool(
        &dir,
        &db,
        &["createadmin", "--username", "a1", "--password-file", pw_file.to_str().unwrap(), "--email", "a1@example.com"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains(warning), "{}", text(&out.stderr));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("ironpool.db")), 0o600);

    let out = Command::new(BIN)
        .args(["createadmin", "--username", "a2", "--email", "a2@example.com"])
        .env("IRONPOOL_DATA_DIR", &dir)
        .env("IRONPOOL_DATABASE_URL", &db)
        .env("IRONPOOL_ADMIN_PASSWORD", "from-the-env")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains(warning), "{}", text(&out.stderr));

    let out =
        ironpool(&dir, &db, &["createadmin", "--username", "a3", "--password", "pw", "--email", "a3@example.com"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(warning), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--password-file"), "{}", text(&out.stderr));

    let out = Command::new(BIN)
        .args(["createadmin", "--username", "a4", "--email", "a4@example.com"])
        .env("IRONPOOL_DATA_DIR", &dir)
        .env("IRONPOOL_DATABASE_URL", &db)
        .env_remove("IRONPOOL_ADMIN_PASSWORD")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("password is required"), "{}", text(&out.stderr));

    // The passwords that came from the file (newline dropped) and the environment log in.
    let (child, addr, _) = start(&dir, &db, &["region"]);
    for (user, pw) in [("a1", "from-a-file"), ("a2", "from-the-env")] {
        let body = format!("username={user}&password={pw}");
        let (st, reply) = http(
            &addr,
            "POST",
            "/MAAS/accounts/authenticate/",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            &body,
        );
        assert_eq!(st, 200, "{user}: {reply}");
    }
    terminate(child);

    // rack: a missing secret file and no secret at all are clear errors.
    let rack = |extra: &[&str], secret_env: Option<&str>| {
        let mut c = Command::new(BIN);
        c.args(["rack", "--region-url", "http://127.0.0.1:9", "--http-listen", "off", "--tftp-listen", "off"])
            .args(["--dhcp-listen", "off", "--rack-data-dir", tmp.path().join("rack").to_str().unwrap()])
            .args(extra)
            .env_remove("IRONPOOL_SECRET")
            .env_remove("IRONPOOL_SECRET_FILE")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(s) = secret_env {
            c.env("IRONPOOL_SECRET", s);
        }
        c.spawn().unwrap()
    };
    let out = rack(&["--secret-file", "/nonexistent/secret"], None).wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("cannot read /nonexistent/secret"), "{}", text(&out.stderr));
    let out = rack(&[], None).wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("rack secret is required"), "{}", text(&out.stderr));
    // --secret on the command line: the warning comes first, before the rack starts (and runs on).
    let mut child = Server(Some(rack(&["--secret", "abc"], None)));
    let mut first = String::new();
    BufReader::new(child.child().stderr.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.contains(warning) && first.contains("--secret-file"), "{first}");
}

/// Like [`http`], but a connection refused or cut (a killed server) is an
/// `Err` rather than a panic.
fn try_http(addr: &str, path: &str, auth: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\nAuthorization: {auth}\r\n\r\n"
    );
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if !raw.is_empty() && e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e),
        }
    }
    let resp = String::from_utf8_lossy(&raw).into_owned();
    let status = resp.get(9..12).and_then(|s| s.parse().ok()).ok_or(std::io::ErrorKind::UnexpectedEof)?;
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}

/// Issue 19: a region killed with SIGKILL in the middle of an allocate
/// storm loses nothing. Two region processes share one PostgreSQL; 500
/// allocate calls over 400 Ready machines go to both, as a client that
/// knows both regions' URLs sends them (a call whose region is gone goes to
/// the other); region A is killed once 100 calls have been answered.
/// Afterwards: no machine was handed to two calls; every machine is either
/// Ready and unowned or Allocated to the caller (none lost or stuck between
/// the two); every answered allocation is in the database, and the only
/// other Allocated machines are those of calls cut off by the kill (their
/// commit may have happened, their answer never came); the surviving
/// region then allocates exactly the machines left.
#[test]
fn a_region_killed_mid_allocate_storm_loses_nothing() {
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use ironpool_region::db::nodes as nodes_db;
    use ironpool_region::engine::lifecycle::Status;
    use ironpool_region::engine::nodes::create::MachineInput;

    const READY: usize = 400;
    const CALLS: usize = 500;
    const THREADS: usize = 25;
    const KILL_AFTER: usize = 100;

    let dir = tempfile::tempdir().unwrap();
    let pg = shared_postgres(dir.path());
    let (db_url, key_file, key, db, user) =
        (pg.url.clone(), pg.key_file.clone(), pg.key.clone(), pg.db.clone(), pg.admin.clone());
    ready_machines(&pg, READY, |i| MachineInput {
        architecture: Some("amd64".into()),
        mac_addresses: vec![format!("02:00:00:00:{:02x}:{:02x}", i / 256, i % 256)],
        hostname: Some(format!("storm{i}")),
        power_type: "manual".into(),
        commission: false,
        ..Default::default()
    });

    let (mut a, addr_a, _) = start(dir.path(), &db_url, &["region"]);
    let dir_b = tempfile::tempdir().unwrap();
    let (b, addr_b, _) = start(dir_b.path(), &db_url, &["region", "--secrets-key-file", key_file.to_str().unwrap()]);

    let a_dead = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    // (system_ids won, 409s, calls cut off on A whose outcome is unknown)
    let outcome = Arc::new(Mutex::new((Vec::<String>::new(), 0usize, 0usize)));
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (addr_a, addr_b, key) = (addr_a.clone(), addr_b.clone(), key.clone());
            let (a_dead, answered, outcome, next) = (a_dead.clone(), answered.clone(), outcome.clone(), next.clone());
            std::thread::spawn(move || loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= CALLS {
                    return;
                }
                let path = "/MAAS/api/2.0/machines/?op=allocate";
                let on_a = i % 2 == 0 && !a_dead.load(Ordering::SeqCst);
                let first = try_http(if on_a { &addr_a } else { &addr_b }, path, &oauth(&key));
                let result = match first {
                    Ok(r) => r,
                    Err(e) => {
                        assert!(on_a, "region B failed a call: {e}");
                        // Region A died under this call: it may or may not
                        // have committed. A client retries on the other region.
                        outcome.lock().unwrap().2 += 1;
                        try_http(&addr_b, path, &oauth(&key)).expect("region B answers")
                    }
                };
                let mut o = outcome.lock().unwrap();
                match result {
                    (200, body) => {
                        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                        o.0.push(v["system_id"].as_str().unwrap().to_string());
                    }
                    (409, _) => o.1 += 1,
                    (status, body) => panic!("allocate answered {status}: {body}"),
                }
                drop(o);
                answered.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while answered.load(Ordering::SeqCst) < KILL_AFTER {
        assert!(Instant::now() < deadline, "the storm never reached {KILL_AFTER} answers");
        std::thread::sleep(Duration::from_millis(5));
    }
    a.child().kill().unwrap(); // SIGKILL: no graceful anything
    a.child().wait().unwrap();
    a_dead.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().unwrap();
    }

    let (won, conflicts, cut) = outcome.lock().unwrap().clone();
    eprintln!("storm: {} won, {conflicts} got 409, {cut} cut off by the kill", won.len());
    assert_eq!(won.len() + conflicts, CALLS, "every call got an answer");
    let won_set: HashSet<&String> = won.iter().collect();
    assert_eq!(won_set.len(), won.len(), "a machine was allocated to two calls");
    let machines =
        nodes_db::NodeFilter { node_types: vec![ironpool_region::db::types::NodeType::Machine], ..Default::default() };
    let nodes = db.blocking(move |c| nodes_db::list(c, &machines)).unwrap();
    assert_eq!(nodes.len(), READY, "no machine lost");
    let mut allocated = HashSet::new();
    for n in &nodes {
        match n.status {
            Status::Ready => assert_eq!(n.owner_id, None, "{} Ready but owned", n.system_id),
            Status::Allocated => {
                assert_eq!(n.owner_id, Some(user.id), "{} Allocated without its owner", n.system_id);
                allocated.insert(n.system_id.clone());
            }
            other => panic!("{} stuck in {other:?}", n.system_id),
        }
    }
    for sid in &won {
        assert!(allocated.contains(sid), "{sid} was answered as allocated but is not");
    }
    assert!(
        allocated.len() - won.len() <= cut,
        "{} Allocated machines nobody was told of, but only {cut} calls were cut off",
        allocated.len() - won.len()
    );
    // The surviving region hands out exactly what is left, then says 409.
    let mut more = 0;
    loop {
        match try_http(&addr_b, "/MAAS/api/2.0/machines/?op=allocate", &oauth(&key)).unwrap() {
            (200, _) => more += 1,
            (409, _) => break,
            (status, body) => panic!("allocate answered {status}: {body}"),
        }
        assert!(more <= READY, "region B allocates more machines than exist");
    }
    assert_eq!(allocated.len() + more, READY, "the Ready machines left are all allocatable");
    terminate(b);
}

/// Starts `ironpool rack` against `regions` (in that order of preference),
/// its HTTP boot server on `http_listen` ("off" for none) and no other
/// service, and waits until the last region lists it.
fn start_rack(
    secret: &std::path::Path,
    data_dir: &std::path::Path,
    regions: &[&str],
    http_listen: &str,
    key: &str,
) -> Server {
    let urls: Vec<String> = regions.iter().map(|a| format!("http://{a}/MAAS")).collect();
    let rack = Server(Some(
        Command::new(BIN)
            .args(["rack", "--region-url", &urls.join(",")])
            .args(["--secret-file", secret.to_str().unwrap()])
            .args(["--rack-data-dir", data_dir.to_str().unwrap()])
            .args(["--http-listen", http_listen, "--tftp-listen", "off", "--dhcp-listen", "off"])
            .args(["--dhcp6-listen", "off", "--metrics-listen", "off"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    ));
    let last = regions.last().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = http(last, "GET", "/MAAS/api/2.0/rackcontrollers/", &[("Authorization", &oauth(key))], "");
        if status == 200 && body.contains("system_id") {
            return rack;
        }
        assert!(Instant::now() < deadline, "the rack never registered: {status} {body}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The resets a [`counting_redfish_bmc`] was asked for, by system id.
type Resets = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<String>>>>;

/// A Redfish BMC for many machines (`/redfish/v1/Systems/<id>`), counting
/// every reset it is asked for: enough of the protocol for the region's
/// Redfish driver (state, the PXE boot override, `ComputerSystem.Reset`).
/// Returns its port and the resets by system.
fn counting_redfish_bmc() -> (u16, Resets) {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    let resets: Resets = Arc::default();
    let power: Arc<Mutex<HashMap<String, bool>>> = Arc::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (r, p) = (resets.clone(), power.clone());
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            actix_web::HttpServer::new(move || {
                let (r, p) = (r.clone(), p.clone());
                actix_web::App::new().default_service(actix_web::web::to(
                    move |req: actix_web::HttpRequest, body: actix_web::web::Bytes| {
                        let (r, p) = (r.clone(), p.clone());
                        async move {
                            let path = req.path().trim_end_matches('/').to_string();
                            let Some(rest) = path.strip_prefix("/redfish/v1/Systems/") else {
                                return actix_web::HttpResponse::NotFound().finish();
                            };
                            if let Some(id) = rest.strip_suffix("/Actions/ComputerSystem.Reset") {
                                // A BMC takes its time: commands are still in
                                // flight on the rack when a region dies.
                                actix_web::rt::time::sleep(Duration::from_millis(500)).await;
                                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                                let kind = v["ResetType"].as_str().unwrap_or("").to_string();
                                p.lock().unwrap().insert(id.to_string(), kind != "ForceOff");
                                r.lock().unwrap().entry(id.to_string()).or_default().push(kind);
                                return actix_web::HttpResponse::NoContent().finish();
                            }
                            if req.method() == actix_web::http::Method::PATCH {
                                return actix_web::HttpResponse::Ok().json(serde_json::json!({}));
                            }
                            let on = p.lock().unwrap().get(rest).copied().unwrap_or(false);
                            actix_web::HttpResponse::Ok().json(serde_json::json!({
                                "Id": rest,
                                "PowerState": if on { "On" } else { "Off" },
                                "Actions": {"#ComputerSystem.Reset": {
                                    "target": format!("/redfish/v1/Systems/{rest}/Actions/ComputerSystem.Reset")
                                }}
                            }))
                        }
                    },
                ))
            })
            .listen(listener)
            .unwrap()
            .workers(2)
            .run()
            .await
            .unwrap();
        });
    });
    (port, resets)
}

/// Issue 19: a region killed with SIGKILL in the middle of a batch of power
/// jobs: every job still runs, and runs once. Two region processes on one
/// PostgreSQL and a rack process that knows both; 40 machines behind a
/// counting Redfish BMC are powered on through region A's API, and A is
/// killed after half the calls (the rest go to B). The rack, whose region
/// died under it, moves to B and reports there. Every machine ends up on,
/// its BMC having been told exactly one "On" (a second run of a job would
/// show as another reset, a ForceRestart), and no power job is left.
#[test]
fn a_region_killed_mid_power_batch_runs_every_job_once() {
    use ironpool_region::db::nodes as nodes_db;
    use ironpool_region::engine::nodes::create::MachineInput;

    const MACHINES: usize = 40;
    let machines_only = || nodes_db::NodeFilter {
        node_types: vec![ironpool_region::db::types::NodeType::Machine],
        ..Default::default()
    };
    let (bmc_port, resets) = counting_redfish_bmc();
    let dir = tempfile::tempdir().unwrap();
    let pg = shared_postgres(dir.path());
    let (db_url, key_file, key, db) = (pg.url.clone(), pg.key_file.clone(), pg.key.clone(), pg.db.clone());
    let sids = ready_machines(&pg, MACHINES, move |i| {
        let params = [
            ("power_address", format!("http://127.0.0.1:{bmc_port}")),
            ("power_user", "admin".into()),
            ("power_pass", "secret".into()),
            ("node_id", format!("m{i}")),
        ];
        MachineInput {
            architecture: Some("amd64".into()),
            mac_addresses: vec![format!("02:00:00:00:02:{i:02x}")],
            hostname: Some(format!("bmc{i}")),
            power_type: "redfish".into(),
            power_parameters: params.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            commission: false,
            ..Default::default()
        }
    });

    let (mut a, addr_a, _) = start(dir.path(), &db_url, &["region"]);
    let dir_b = tempfile::tempdir().unwrap();
    let (b, addr_b, _) = start(dir_b.path(), &db_url, &["region", "--secrets-key-file", key_file.to_str().unwrap()]);
    let rack_dir = tempfile::tempdir().unwrap();
    let mut rack = start_rack(&dir.path().join("secret"), rack_dir.path(), &[&addr_a, &addr_b], "off", &key);
    let auth = || oauth(&key);

    // Powering on is for machines someone has allocated (MAAS's rule).
    for sid in &sids {
        let (status, body) = http(
            &addr_b,
            "POST",
            &format!("/MAAS/api/2.0/machines/?op=allocate&system_id={sid}"),
            &[("Authorization", &auth())],
            "",
        );
        assert_eq!(status, 200, "allocate {sid}: {body}");
    }
    for (i, sid) in sids.iter().enumerate() {
        if i == MACHINES / 2 {
            a.child().kill().unwrap(); // SIGKILL, with power jobs in flight
            a.child().wait().unwrap();
            // Each reset takes the BMC 500 ms, so the last of A's commands
            // (at least) is unfinished: on the rack, or still in the queue.
            let done = resets.lock().unwrap().values().map(Vec::len).sum::<usize>();
            eprintln!("region A killed with {done} of its {} power commands done", MACHINES / 2);
            assert!(done < MACHINES / 2);
        }
        let addr = if i < MACHINES / 2 { &addr_a } else { &addr_b };
        let (status, body) = http(
            addr,
            "POST",
            &format!("/MAAS/api/2.0/machines/{sid}/?op=power_on"),
            &[("Authorization", &auth())],
            "",
        );
        assert_eq!(status, 200, "power_on {sid}: {body}");
    }

    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let nodes = db.blocking(|c| nodes_db::list(c, &machines_only())).unwrap();
        let off: Vec<&str> =
            nodes.iter().filter(|n| n.power_state != "on").map(|n| n.hostname.as_str()).collect::<Vec<_>>();
        if off.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "not powered on after the kill: {off:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
    // Whatever was still queued would have run by now; nothing is left.
    let pending = db
        .blocking(|c| {
            let mut n = 0;
            for node in nodes_db::list(c, &machines_only())? {
                n += ironpool_region::db::jobs::pending_for_node(c, node.id)?
                    .iter()
                    .filter(|j| j.kind.starts_with("power"))
                    .count();
            }
            Ok(n)
        })
        .unwrap();
    assert_eq!(pending, 0, "power jobs left over");
    let resets = resets.lock().unwrap().clone();
    for i in 0..MACHINES {
        let got = resets.get(&format!("m{i}")).cloned().unwrap_or_default();
        assert_eq!(got, vec!["On".to_string()], "machine m{i}'s BMC was told {got:?}");
    }
    drop(rack.0.take().map(|mut c| {
        let _ = c.kill();
        c.wait()
    }));
    terminate(b);
}

/// A loopback port nothing listens on (for a server that takes no port 0).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Region A is killed while 100 simulated machines commission through a
/// rack that forwards their metadata calls (`/MAAS/…`, as machines that
/// reach only their rack do) to A, then to B. Every machine must finish
/// commissioning through B: Ready with its inventory, none lost or stuck.
#[test]
fn a_region_killed_mid_commissioning_loses_no_machine() {
    use ironpool_agent::{inventory, Agent};
    use ironpool_region::db::nodes as nodes_db;
    use ironpool_region::engine::lifecycle::Status;
    use ironpool_region::engine::metadata::{boot_action, BootAction};
    use ironpool_region::engine::nodes::create::MachineInput;

    const MACHINES: usize = 100;
    const KILL_AT_READY: usize = 20;
    let seed = |i: usize| 7000 + i as u64;
    let machines_only = || nodes_db::NodeFilter {
        node_types: vec![ironpool_region::db::types::NodeType::Machine],
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let pg = shared_postgres(dir.path());
    let (db_url, key_file, key, db) = (pg.url.clone(), pg.key_file.clone(), pg.key.clone(), pg.db.clone());
    let sids = ready_machines(&pg, MACHINES, move |i| MachineInput {
        architecture: Some("amd64".into()),
        mac_addresses: inventory::fake_macs(seed(i), inventory::fake_nic_count(seed(i))),
        hostname: Some(format!("com{i}")),
        power_type: "manual".into(),
        commission: false,
        ..Default::default()
    });

    let (mut a, addr_a, _) = start(dir.path(), &db_url, &["region"]);
    let dir_b = tempfile::tempdir().unwrap();
    let (b, addr_b, _) = start(dir_b.path(), &db_url, &["region", "--secrets-key-file", key_file.to_str().unwrap()]);
    let rack_dir = tempfile::tempdir().unwrap();
    let rack_http = format!("127.0.0.1:{}", free_port());
    let _rack = start_rack(&dir.path().join("secret"), rack_dir.path(), &[&addr_a, &addr_b], &rack_http, &key);
    let auth = || oauth(&key);
    for sid in &sids {
        let path = format!("/MAAS/api/2.0/machines/{sid}/?op=commission");
        let (status, body) = http(&addr_b, "POST", &path, &[("Authorization", &auth())], "");
        assert_eq!(status, 200, "commission {sid}: {body}");
    }

    // The machines boot a few at a time (as a rack's worth powered on
    // together does) and run the commissioning scripts at a machine's pace.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let runs: Vec<_> = (0..MACHINES)
        .map(|i| {
            let (db, rack_http) = (db.clone(), rack_http.clone());
            rt.spawn(async move {
                tokio::time::sleep(Duration::from_millis(60 * i as u64)).await;
                let mac = inventory::fake_macs(seed(i), 1).remove(0);
                let action = db.run(move |c| boot_action(c, &mac)).await.unwrap();
                let BootAction::Ephemeral { preseed_path, .. } = action else {
                    panic!("machine {i} is not sent to its commissioning environment: {action:?}");
                };
                let agent = Agent::simulated(seed(i), "manual", serde_json::json!({}), Duration::from_millis(200));
                let url = format!("http://{rack_http}/MAAS/metadata/{preseed_path}");
                agent.boot(&ironpool_agent::client::http_client(), &url).await.map_err(|e| format!("machine {i}: {e}"))
            })
        })
        .collect();
    let count_ready = || {
        db.blocking(move |c| nodes_db::list(c, &machines_only()))
            .unwrap()
            .iter()
            .filter(|n| n.status == Status::Ready && n.cpu_count > 0)
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    let at_kill = loop {
        let ready = count_ready();
        if ready >= KILL_AT_READY {
            break ready;
        }
        assert!(Instant::now() < deadline, "only {ready} machines commissioned before the kill");
        std::thread::sleep(Duration::from_millis(100));
    };
    a.child().kill().unwrap(); // SIGKILL, with commissioning in flight
    a.child().wait().unwrap();
    assert!(at_kill < MACHINES, "every machine finished before region A was killed");

    let outcomes = rt.block_on(async {
        let mut out = Vec::new();
        for r in runs {
            out.push(tokio::time::timeout(Duration::from_secs(240), r).await.expect("a machine hung").unwrap());
        }
        out
    });
    let failed: Vec<&String> = outcomes.iter().filter_map(|r| r.as_ref().err()).collect();
    eprintln!("region A killed with {at_kill} of {MACHINES} Ready; agents that ended in an error: {failed:?}");
    let nodes = db.blocking(move |c| nodes_db::list(c, &machines_only())).unwrap();
    assert_eq!(nodes.len(), MACHINES, "no machine lost");
    for n in &nodes {
        assert_eq!(n.status, Status::Ready, "{} ended {:?}: {}", n.hostname, n.status, n.error_description);
        assert!(n.cpu_count > 0 && n.memory > 0, "{} has no inventory", n.hostname);
        assert_eq!(n.owner_id, None, "{} owned after commissioning", n.hostname);
    }
    assert!(failed.is_empty(), "machines whose commissioning broke off: {failed:?}");
    terminate(b);
}

/// Regions cache OAuth token lookups, yet a token deleted through one
/// region stops working at once there and, through `NOTIFY`, in the other:
/// both regions believe a cached lookup for an hour here, so only the
/// notification can end it.
#[test]
fn a_revoked_token_stops_working_in_every_region() {
    let dir = tempfile::tempdir().unwrap();
    let pg = shared_postgres(dir.path());
    let (db_url, key_file, key) = (pg.url.clone(), pg.key_file.clone(), pg.key.clone());
    drop(pg);
    let config = dir.path().join("region.toml");
    std::fs::write(&config, "oauth_cache_secs = 3600\n").unwrap();
    let cfg = config.to_str().unwrap();
    let (a, addr_a, _) = start(dir.path(), &db_url, &["region", "--config", cfg]);
    let dir_b = tempfile::tempdir().unwrap();
    let (b, addr_b, _) =
        start(dir_b.path(), &db_url, &["region", "--config", cfg, "--secrets-key-file", key_file.to_str().unwrap()]);

    // A second token, used (and so cached) in both regions.
    let (status, body) = http(
        &addr_a,
        "POST",
        "/MAAS/api/2.0/account/?op=create_authorisation_token",
        &[("Authorization", &oauth(&key))],
        "",
    );
    assert_eq!(status, 200, "{body}");
    let t: serde_json::Value = serde_json::from_str(&body).unwrap();
    let (ck, tk, ts) =
        (t["consumer_key"].as_str().unwrap(), t["token_key"].as_str().unwrap(), t["token_secret"].as_str().unwrap());
    let second = format!("{ck}:{tk}:{ts}");
    let whoami =
        |addr: &str| http(addr, "GET", "/MAAS/api/2.0/users/?op=whoami", &[("Authorization", &oauth(&second))], "").0;
    // Region B must be listening before the revocation, or it bypasses its
    // cache (and the test would prove nothing): its listener connects at start.
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..3 {
        assert_eq!(whoami(&addr_a), 200);
        assert_eq!(whoami(&addr_b), 200);
    }

    let (status, body) = http(
        &addr_a,
        "POST",
        &format!("/MAAS/api/2.0/account/?op=delete_authorisation_token&token_key={tk}"),
        &[("Authorization", &oauth(&key))],
        "",
    );
    assert!(status == 204 || status == 200, "{status} {body}");
    assert_eq!(whoami(&addr_a), 401, "the region that deleted the token still takes it");
    let deadline = Instant::now() + Duration::from_secs(30);
    while whoami(&addr_b) != 401 {
        assert!(Instant::now() < deadline, "the other region still takes the deleted token");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The first token is untouched.
    assert_eq!(http(&addr_b, "GET", "/MAAS/api/2.0/users/?op=whoami", &[("Authorization", &oauth(&key))], "").0, 200);
    terminate(a);
    terminate(b);
}

/// Issue 19's boot storm at CI scale: 100 machines power on at once and go
/// through DHCP (as PXE ROMs, then as iPXE), TFTP of the bootstrap, HTTP of
/// script, kernel and initrd (real sizes) and commissioning through one
/// rack; then 20 clients fetch the same boot files over HTTP, over our
/// TFTP and over tftpd-hpa. The bench checks every outcome itself (each
/// machine Ready with an inventory, each file's size, a sample's bytes)
/// and fails otherwise; this checks it ran to its report.
#[test]
fn a_boot_storm_of_100_machines_ends_with_all_ready() {
    if !std::path::Path::new("/usr/lib/ipxe/undionly.kpxe").exists() {
        eprintln!("SKIP: no /usr/lib/ipxe/undionly.kpxe (apt install ipxe; test.sh does)");
        return;
    }
    let out = Command::new(BIN)
        .args(["bench", "storm", "--machines", "100", "--compare", "20"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the storm failed:\n{stdout}\n{stderr}");
    eprintln!("{stdout}");
    assert!(stdout.contains("| power-on to all 100 Ready |"), "{stdout}");
    assert!(stdout.contains("| rack DHCP counters: discovers / offers / requests / acks |"), "{stdout}");
    assert!(stdout.contains("| Ironpool TFTP server, everything over TFTP |"), "{stdout}");
    // tftpd-hpa runs as root (test.sh installs it; CI is root).
    let root = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap()) == 0;
    let hpa = ["/usr/sbin/in.tftpd", "/usr/bin/in.tftpd"].iter().any(|p| std::path::Path::new(p).exists());
    if root && hpa {
        assert!(stdout.contains("| tftpd-hpa, everything over TFTP |"), "tftpd-hpa did not run:\n{stdout}");
    }
}
