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

#[test]
fn two_region_processes_on_one_postgres_never_double_allocate() {
    use ironpool_region::db::nodes as nodes_db;
    use ironpool_region::engine::accounts::{self, UserInput};
    use ironpool_region::engine::lifecycle::Status;
    use ironpool_region::engine::nodes::create::{create_machine, MachineInput};
    use ironpool_region::engine::nodes::state::transition;

    let dir = tempfile::tempdir().unwrap();
    let db_url = databases(dir.path()).pop().unwrap(); // the PostgreSQL one
    let key_file = dir.path().join("secrets.key");
    let secrets_key = ironpool_region::db::secrets::SecretsKey::load_or_create(&key_file).unwrap();
    let db = ironpool_region::db::at_rest::open(&db_url, 2, secrets_key).unwrap();
    let user = accounts::create_user_blocking(
        &db,
        UserInput { username: "u".into(), email: "u@example.com".into(), password: "p".into(), is_superuser: true },
    )
    .unwrap();
    let key = db.blocking(|c| accounts::token_for_login(c, user.id, None)).unwrap().api_key();
    const MACHINES: usize = 8;
    db.blocking(|c| {
        for i in 0..MACHINES {
            let n = create_machine(
                c,
                Some(&user),
                MachineInput {
                    architecture: Some("amd64".into()),
                    mac_addresses: vec![format!("02:00:00:00:01:{i:02x}")],
                    hostname: Some(format!("p{i}")),
                    power_type: "manual".into(),
                    commission: false,
                    ..Default::default()
                },
            )?;
            transition(c, &n, Status::Ready, "test", "", nodes_db::NodeChanges::default())?;
        }
        Ok(())
    })
    .unwrap();
    drop(db);

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
