//! Helpers for the power tests (and, through `#[path]`, the rack's and the
//! region's): peer programs, free ports, child processes killed when the
//! test ends, polling, the Redfish emulator.

#![allow(dead_code)]

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Fails the test with a fix when a peer program is not installed.
pub fn need_program(program: &str) -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':').chain(["/usr/sbin", "/sbin"]) {
        let p = Path::new(dir).join(program);
        if p.is_file() {
            return p;
        }
    }
    panic!("{program} is not installed: run rack-controller/tests/peers-setup.sh");
}

pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).map(|a| a.port()).expect("free port")
}

pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|s| s.local_addr()).map(|a| a.port()).expect("free port")
}

/// A child process killed (by its own pid) and reaped on drop.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn spawn(cmd: &mut Command) -> ChildGuard {
    ChildGuard(cmd.spawn().unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}")))
}

/// Polls `f` until it returns Some or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("ironpool_power=debug,ironpool_rack=debug")
        .with_test_writer()
        .try_init();
}

/// sushy-tools with the fake driver (peers.md §2) serving one system,
/// `node1` with a NIC `mac`, user admin/password, from the venv that
/// rack-controller/tests/peers-setup.sh creates next to itself (one setup
/// script installs every peer the rack, power and region tests use; the
/// crates sit side by side, so the path works from each).
pub fn start_sushy(dir: &Path, port: u16, mac: &str) -> ChildGuard {
    start_sushy_systems(dir, port, &[("27946b59-9e44-4fa7-8e91-f3527a1ef094", "node1", mac)])
}

/// sushy-tools with the fake driver serving several systems (uuid, name,
/// NIC MAC), all powered off, user admin/password. Its log
/// (`dir/sushy.log`) has one access line per request, which lets a test
/// count the commands each system received.
pub fn start_sushy_systems(dir: &Path, port: u16, systems: &[(&str, &str, &str)]) -> ChildGuard {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rack-controller/tests/.venv/bin");
    let emulator = venv.join("sushy-emulator");
    assert!(emulator.is_file(), "sushy-tools missing: run rack-controller/tests/peers-setup.sh");
    let hash = Command::new(venv.join("python"))
        .args(["-c", "import bcrypt; print('admin:' + bcrypt.hashpw(b'password', bcrypt.gensalt(rounds=5)).decode())"])
        .output()
        .unwrap();
    assert!(hash.status.success());
    std::fs::write(dir.join("htpasswd"), &hash.stdout).unwrap();
    let d = dir.display();
    let list: String = systems
        .iter()
        .map(|(uuid, name, mac)| {
            format!(
                "{{'uuid': '{uuid}', 'name': '{name}', 'power_state': 'Off',\n\
                   'external_notifier': False, 'nics': [{{'mac': '{mac}', 'ip': '10.99.0.10'}}]}},\n"
            )
        })
        .collect();
    std::fs::write(
        dir.join("emulator.conf"),
        format!(
            "SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'\nSUSHY_EMULATOR_LISTEN_PORT = {port}\n\
             SUSHY_EMULATOR_AUTH_FILE = '{d}/htpasswd'\nSUSHY_EMULATOR_STATE_DIR = '{d}/state'\n\
             SUSHY_EMULATOR_FAKE_DRIVER = True\nSUSHY_EMULATOR_FAKE_SYSTEMS = [\n{list}]\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("sushy.log")).unwrap();
    let child = spawn(
        Command::new(emulator)
            .arg("--config")
            .arg(dir.join("emulator.conf"))
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log),
    );
    let ready = wait_for(Duration::from_secs(60), || std::net::TcpStream::connect(("127.0.0.1", port)).ok());
    assert!(
        ready.is_some(),
        "sushy-emulator did not start: {}",
        std::fs::read_to_string(dir.join("sushy.log")).unwrap()
    );
    // The emulator builds its systems driver lazily on the first request and
    // without a lock: concurrent first requests each build one, and a late
    // builder writes the configured initial state over a reset another
    // request already applied (the system then stays off). One request
    // alone builds it first.
    let listing = wait_for(Duration::from_secs(30), || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        // admin:password, as in the htpasswd file above.
        s.write_all(b"GET /redfish/v1/Systems HTTP/1.0\r\nAuthorization: Basic YWRtaW46cGFzc3dvcmQ=\r\n\r\n").ok()?;
        let mut answer = String::new();
        s.read_to_string(&mut answer).ok()?;
        (answer.split_whitespace().nth(1) == Some("200")).then_some(answer)
    });
    assert!(listing.is_some(), "sushy-emulator does not list its systems");
    child
}
