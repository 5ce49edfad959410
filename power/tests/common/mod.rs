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

/// Fails the test with the fix when libvirtd (qemu:///system) is not up.
pub fn need_libvirt() {
    need_program("virsh");
    let ok = Command::new("virsh")
        .args(["-c", "qemu:///system", "list", "--all"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "libvirtd is not running: run tests/qemu-setup.sh and tests/libvirt-setup.sh");
}

/// `virsh -c qemu:///system <args>` for test setup; stdout.
pub fn virsh(args: &[&str]) -> String {
    let out = Command::new("virsh").arg("-c").arg("qemu:///system").args(args).output().unwrap();
    assert!(out.status.success(), "virsh {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A qemu (TCG) domain defined for one test, destroyed and undefined on drop.
/// Tiny and diskless: it runs its firmware and waits, which is all a power
/// driver observes.
pub struct TestDomain {
    pub name: String,
    pub macs: Vec<String>,
}

impl TestDomain {
    pub fn define(name: &str, macs: &[&str]) -> TestDomain {
        need_libvirt();
        let emulator = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/.qemu/qemu-libvirt");
        assert!(emulator.is_file(), "{} missing: run tests/libvirt-setup.sh", emulator.display());
        let nics: String = macs
            .iter()
            .map(|m| format!("<interface type='user'><mac address='{m}'/><model type='virtio'/></interface>"))
            .collect();
        let xml = format!(
            "<domain type='qemu'><name>{name}</name><memory unit='MiB'>48</memory><vcpu>1</vcpu>\
             <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>\
             <devices><emulator>{}</emulator>{nics}</devices></domain>",
            emulator.display()
        );
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), xml).unwrap();
        // A domain left by a killed run of the same test goes first.
        let _ = Command::new("virsh").args(["-c", "qemu:///system", "destroy", name]).output();
        let _ = Command::new("virsh").args(["-c", "qemu:///system", "undefine", name]).output();
        virsh(&["define", &file.path().display().to_string()]);
        TestDomain { name: name.to_string(), macs: macs.iter().map(|m| m.to_string()).collect() }
    }

    pub fn state(&self) -> String {
        virsh(&["domstate", &self.name]).trim().to_string()
    }
}

impl Drop for TestDomain {
    fn drop(&mut self) {
        let _ = Command::new("virsh").args(["-c", "qemu:///system", "destroy", &self.name]).output();
        let _ = Command::new("virsh").args(["-c", "qemu:///system", "undefine", &self.name]).output();
    }
}

/// A private sshd on a free loopback port: its own host key, and an
/// authorized key (`dir/id`, returned) accepted for every user; password
/// logins allowed. `ironpool-virsh` (tests/libvirt-setup.sh) is the user a
/// test may give a password to.
pub fn start_sshd(dir: &Path) -> (ChildGuard, u16, PathBuf) {
    let sshd = need_program("sshd");
    std::fs::create_dir_all("/run/sshd").unwrap();
    for key in ["hostkey", "id"] {
        let ok = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(dir.join(key))
            .status()
            .unwrap();
        assert!(ok.success());
    }
    std::fs::copy(dir.join("id.pub"), dir.join("authorized_keys")).unwrap();
    let port = free_tcp_port();
    let d = dir.display();
    std::fs::write(
        dir.join("sshd_config"),
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/hostkey\nAuthorizedKeysFile {d}/authorized_keys\n\
             StrictModes no\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\nUsePAM no\n\
             PermitRootLogin prohibit-password\nPidFile {d}/sshd.pid\n"
        ),
    )
    .unwrap();
    let child = spawn(
        Command::new(sshd)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(dir.join("sshd_config"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join("sshd.log")).unwrap()),
    );
    let ready = wait_for(Duration::from_secs(30), || std::net::TcpStream::connect(("127.0.0.1", port)).ok());
    assert!(ready.is_some(), "sshd did not start: {}", std::fs::read_to_string(dir.join("sshd.log")).unwrap());
    (child, port, dir.join("id"))
}

/// Gives `ironpool-virsh` a random password until dropped (then locks it
/// again), so the password login works only while the test runs.
pub struct TestPassword(pub String);

impl TestPassword {
    pub fn set() -> TestPassword {
        use std::io::Write;
        assert!(
            Command::new("id").arg("ironpool-virsh").output().is_ok_and(|o| o.status.success()),
            "user ironpool-virsh missing: run tests/libvirt-setup.sh"
        );
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let pw = format!("pw-{}-{nanos:x}", std::process::id());
        let mut child = Command::new("chpasswd").stdin(std::process::Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(format!("ironpool-virsh:{pw}\n").as_bytes()).unwrap();
        assert!(child.wait().unwrap().success());
        TestPassword(pw)
    }
}

impl Drop for TestPassword {
    fn drop(&mut self) {
        let _ = Command::new("usermod").args(["-p", "!", "ironpool-virsh"]).status();
    }
}

/// The webhook power service (`peers/webhook_peer.py`) on a free port.
pub struct WebhookPeer {
    _child: ChildGuard,
    pub base: String,
    log: PathBuf,
}

impl WebhookPeer {
    /// Every request the service saw, in order (method, path, headers).
    pub fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// Starts the webhook service; `tls` = (cert, key) for HTTPS; `auth` = the
/// Authorization header it insists on.
pub fn start_webhook_peer(dir: &Path, tls: Option<(&Path, &Path)>, auth: Option<&str>) -> WebhookPeer {
    use std::io::BufRead;
    let port = free_tcp_port();
    let log = dir.join(format!("requests-{port}.jsonl"));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../power/tests/peers/webhook_peer.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script).arg(port.to_string()).arg(&log);
    if let Some((c, k)) = tls {
        cmd.arg(c).arg(k);
    }
    match auth {
        Some(a) => cmd.env("WEBHOOK_AUTH", a),
        None => cmd.env_remove("WEBHOOK_AUTH"),
    };
    let mut child = spawn(cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::inherit()));
    let mut line = String::new();
    std::io::BufReader::new(child.0.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready", "the webhook peer did not start");
    let scheme = if tls.is_some() { "https" } else { "http" };
    WebhookPeer { _child: child, base: format!("{scheme}://127.0.0.1:{port}"), log }
}
