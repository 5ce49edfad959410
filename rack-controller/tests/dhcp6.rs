//! The DHCPv6 server against ISC `dhclient -6` in a network namespace
//! joined to the server's namespace by a veth pair, as `tests/dhcp.rs` does
//! for IPv4. The server runs in this process; its socket is opened inside
//! the server namespace from a helper thread.
//!
//! What is checked is what the client ends up with (its lease file, the
//! address on its interface) and what the server recorded (its lease file,
//! its counters). Waits poll for those outcomes; their limits only bound a
//! failing test, so a loaded machine slows the test down instead of
//! failing it.

// Tests fail by panicking: unwrap/expect are how they assert.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::Ipv6Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ironpool_common::dhcp6::{Dhcp6Config, Reservation6, Subnet6Config};
use ironpool_rack::dhcp6::{bind_socket6, duid_ll, Dhcp6Server};

const KNOWN_MAC: &str = "52:54:00:aa:bb:01";
const UNKNOWN_MAC: &str = "52:54:00:aa:bb:77";
const SERVER: &str = "2001:db8:1::1";
const RESERVED: &str = "2001:db8:1::20";
/// Short, so the client renews (at half of it) while the test watches.
const LEASE_TIME: u32 = 10;

fn ip(args: &[&str]) -> std::process::Output {
    Command::new("ip").args(args).output().expect("ip")
}

/// Two namespaces and a veth pair between them; removed on drop, after the
/// dhclient daemons this test started (by the pids in their pid files).
struct Topology {
    srv: String,
    cli: String,
    pid_files: std::sync::Mutex<Vec<PathBuf>>,
}

impl Topology {
    /// None (test skipped) when namespaces cannot be created.
    fn new(tag: &str) -> Option<Topology> {
        let id = std::process::id() % 100_000;
        let t = Topology { srv: format!("i6s{id}{tag}"), cli: format!("i6c{id}{tag}"), pid_files: Default::default() };
        let out = ip(&["netns", "add", &t.srv]);
        if !out.status.success() {
            eprintln!("SKIP: cannot create a network namespace: {}", String::from_utf8_lossy(&out.stderr));
            return None;
        }
        assert!(ip(&["netns", "add", &t.cli]).status.success());
        let run = |args: &[&str]| {
            let o = ip(args);
            assert!(o.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        };
        run(&["-n", &t.srv, "link", "set", "lo", "up"]);
        run(&["-n", &t.cli, "link", "set", "lo", "up"]);
        run(&["link", "add", "veth-srv", "netns", &t.srv, "type", "veth", "peer", "name", "veth-cli", "netns", &t.cli]);
        // No duplicate address detection: a tentative link-local address
        // cannot send, and DAD would only add a wait to every step.
        t.sysctl(&t.srv, "veth-srv");
        t.sysctl(&t.cli, "veth-cli");
        run(&["-n", &t.srv, "addr", "add", &format!("{SERVER}/64"), "dev", "veth-srv", "nodad"]);
        run(&["-n", &t.srv, "link", "set", "veth-srv", "up"]);
        run(&["-n", &t.cli, "link", "set", "veth-cli", "address", KNOWN_MAC]);
        run(&["-n", &t.cli, "link", "set", "veth-cli", "up"]);
        std::fs::create_dir_all(format!("/etc/netns/{}", t.cli)).unwrap();
        std::fs::write(format!("/etc/netns/{}/resolv.conf", t.cli), "# netns\n").unwrap();
        Some(t)
    }

    fn sysctl(&self, ns: &str, dev: &str) {
        let o = Command::new("ip")
            .args(["netns", "exec", ns, "sysctl", "-q", "-w", &format!("net.ipv6.conf.{dev}.accept_dad=0")])
            .output()
            .unwrap();
        assert!(o.status.success(), "sysctl: {}", String::from_utf8_lossy(&o.stderr));
    }

    fn in_cli(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.cli, program]);
        c
    }

    fn set_mac(&self, mac: &str) {
        assert!(ip(&["-n", &self.cli, "link", "set", "veth-cli", "down"]).status.success());
        assert!(ip(&["-n", &self.cli, "link", "set", "veth-cli", "address", mac]).status.success());
        assert!(ip(&["-n", &self.cli, "link", "set", "veth-cli", "up"]).status.success());
    }

    fn client_addrs(&self) -> String {
        String::from_utf8_lossy(&ip(&["-n", &self.cli, "-6", "addr", "show", "dev", "veth-cli"]).stdout).into_owned()
    }

    /// Opens the server socket inside the server namespace.
    fn server_socket(&self) -> std::net::UdpSocket {
        let path = format!("/var/run/netns/{}", self.srv);
        std::thread::spawn(move || {
            let ns = std::fs::File::open(&path).expect("netns handle");
            // SAFETY: setns on a valid namespace fd only changes this
            // thread's network namespace; the thread ends right after.
            let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            bind_socket6("[::]:547".parse().unwrap(), Some("veth-srv")).expect("bind DHCPv6 socket")
        })
        .join()
        .expect("netns thread")
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for pf in self.pid_files.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let pid = std::fs::read_to_string(pf).ok().and_then(|p| p.trim().parse::<i32>().ok());
            if let Some(pid) = pid.filter(|p| *p > 1) {
                // SAFETY: kill has no memory preconditions; the pid is the
                // dhclient this test started (its own pid file).
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
        }
        ip(&["netns", "del", &self.cli]);
        ip(&["netns", "del", &self.srv]);
        let _ = std::fs::remove_dir_all(format!("/etc/netns/{}", self.cli));
    }
}

fn config(lease_file: &Path) -> Dhcp6Config {
    let mut cfg = Dhcp6Config::new(vec![Subnet6Config {
        cidr: "2001:db8:1::/64".parse().unwrap(),
        server_address: SERVER.parse().unwrap(),
        dns_servers: vec!["2001:db8:1::53".parse().unwrap()],
        domain: Some("maas".into()),
        range_start: "2001:db8:1::100".parse().unwrap(),
        range_end: "2001:db8:1::1ff".parse().unwrap(),
        lease_time: LEASE_TIME,
    }]);
    cfg.reservations.push(Reservation6 {
        mac: KNOWN_MAC.parse().unwrap(),
        ip: RESERVED.parse().unwrap(),
        hostname: Some("known-machine".into()),
    });
    cfg.lease_file = Some(lease_file.to_path_buf());
    cfg
}

/// What dhclient wrote into its lease file for the newest lease.
struct ClientLease {
    addr: Ipv6Addr,
    text: String,
}

/// Runs `dhclient -6` once with `conf` as its configuration (it daemonises
/// after binding); returns its newest lease.
fn dhclient(t: &Topology, dir: &Path, name: &str, conf: &str) -> ClientLease {
    let lf = dir.join(format!("{name}.leases"));
    let pf = dir.join(format!("{name}.pid"));
    let cf = dir.join(format!("{name}.conf"));
    std::fs::write(&cf, conf).unwrap();
    t.pid_files.lock().unwrap().push(pf.clone());
    let out = t
        .in_cli("dhclient")
        .args(["-6", "-v", "-1", "-cf"])
        .arg(&cf)
        .arg("-lf")
        .arg(&lf)
        .arg("-pf")
        .arg(&pf)
        .arg("veth-cli")
        .output()
        .expect("dhclient");
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "dhclient -6 failed: {log}");
    let text = std::fs::read_to_string(&lf).unwrap_or_default();
    // The last lease6 block is the newest.
    let last = text.rsplit("lease6 {").next().unwrap_or_default().to_string();
    let addr: Ipv6Addr = last
        .lines()
        .filter_map(|l| l.trim().strip_prefix("iaaddr ")?.split_whitespace().next()?.parse().ok())
        .next()
        .unwrap_or_else(|| panic!("no lease in {text}\n{log}"));
    let shown = wait_for(Duration::from_secs(30), || t.client_addrs().contains(&addr.to_string()).then_some(()));
    assert!(shown.is_some(), "address not configured: {}", t.client_addrs());
    ClientLease { addr, text: last }
}

fn dhclient_release(t: &Topology, dir: &Path, name: &str) {
    let out = t
        .in_cli("dhclient")
        .args(["-6", "-r", "-cf"])
        .arg(dir.join(format!("{name}.conf")))
        .arg("-lf")
        .arg(dir.join(format!("{name}.leases")))
        .arg("-pf")
        .arg(dir.join(format!("{name}.pid")))
        .arg("veth-cli")
        .output()
        .expect("dhclient -r");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The server's persisted leases (JSON), when `pred` holds for them.
fn server_leases(path: &Path, pred: impl Fn(&[serde_json::Value]) -> bool) -> Option<Vec<serde_json::Value>> {
    wait_for(Duration::from_secs(60), || {
        let v: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
        pred(&v).then_some(v)
    })
}

fn holds(leases: &[serde_json::Value], addr: Ipv6Addr) -> bool {
    leases.iter().any(|l| l["ip"] == addr.to_string())
}

const HTTP_BOOT_CONF: &str = "send dhcp6.client-arch-type 16;\n\
    request dhcp6.name-servers, dhcp6.domain-search, dhcp6.bootfile-url;\n";
const PLAIN_CONF: &str = "request dhcp6.name-servers, dhcp6.domain-search;\n";
const RAPID_CONF: &str = "send dhcp6.rapid-commit;\nrequest dhcp6.name-servers;\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dhclient6_reservation_boot_url_dynamic_renew_release_rapid_commit() {
    if !need_root("dhclient6_reservation_boot_url_dynamic_renew_release_rapid_commit") {
        return;
    }
    if !["/usr/sbin/dhclient", "/sbin/dhclient"].iter().any(|p| Path::new(p).exists()) {
        eprintln!("SKIP: dhclient is not installed (isc-dhcp-client; rack-controller/tests/peers-setup.sh)");
        return;
    }
    init_tracing();
    let Some(t) = Topology::new("a") else { return };
    let t = Arc::new(t);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let lease_file = d.join("leases6.json");
    let server = Dhcp6Server::new(config(&lease_file), duid_ll("02:00:00:00:00:01".parse().unwrap())).unwrap();
    let stats = server.stats();
    let socket = tokio::net::UdpSocket::from_std(t.server_socket()).unwrap();
    let (_updates, rx) = tokio::sync::mpsc::channel(1);
    let server_task = tokio::spawn(server.run_with_updates(socket, rx));

    // A known MAC doing UEFI HTTP boot (architecture 16): its reserved
    // address, the DNS server, and the boot file URL (option 59).
    let (t2, d2) = (t.clone(), d.clone());
    let known = tokio::task::spawn_blocking(move || dhclient(&t2, &d2, "known", HTTP_BOOT_CONF)).await.unwrap();
    assert_eq!(known.addr, RESERVED.parse::<Ipv6Addr>().unwrap(), "{}", known.text);
    assert!(
        known.text.contains("option dhcp6.bootfile-url \"http://[2001:db8:1::1]:5248/images/bootx64.efi\""),
        "{}",
        known.text
    );
    assert!(known.text.contains("option dhcp6.name-servers 2001:db8:1::53"), "{}", known.text);
    let saved = server_leases(&lease_file, |l| holds(l, known.addr));
    let saved = saved.expect("the reserved lease was not persisted");
    assert_eq!(saved[0]["mac"], KNOWN_MAC);
    assert_eq!(saved[0]["hostname"], "known-machine");

    // Release: the server drops the binding.
    let (t2, d2) = (t.clone(), d.clone());
    tokio::task::spawn_blocking(move || dhclient_release(&t2, &d2, "known")).await.unwrap();
    assert!(server_leases(&lease_file, |l| !holds(l, known.addr)).is_some(), "release not applied");
    assert!(stats.releases.load(Ordering::Relaxed) >= 1);

    // An unknown MAC: an address from the dynamic range, and no boot URL
    // for a client that is not network booting. It renews at T1 (half the
    // lease time) and keeps its address.
    t.set_mac(UNKNOWN_MAC);
    let (t2, d2) = (t.clone(), d.clone());
    let dynamic = tokio::task::spawn_blocking(move || dhclient(&t2, &d2, "unknown", PLAIN_CONF)).await.unwrap();
    let n = u128::from(dynamic.addr);
    let (lo, hi) = (
        u128::from("2001:db8:1::100".parse::<Ipv6Addr>().unwrap()),
        u128::from("2001:db8:1::1ff".parse::<Ipv6Addr>().unwrap()),
    );
    assert!(n >= lo && n <= hi, "{} is outside the dynamic range", dynamic.addr);
    assert!(!dynamic.text.contains("bootfile-url"), "{}", dynamic.text);
    let saved = server_leases(&lease_file, |l| holds(l, dynamic.addr)).expect("dynamic lease not persisted");
    assert!(saved.iter().any(|l| l["mac"] == UNKNOWN_MAC), "{saved:?}");
    let renewed = wait_for(Duration::from_secs(120), || (stats.renews.load(Ordering::Relaxed) >= 1).then_some(()));
    assert!(renewed.is_some(), "no RENEW within 120 s (T1 is {} s)", LEASE_TIME / 2);
    let lf = d.join("unknown.leases");
    let kept = wait_for(Duration::from_secs(60), || {
        let text = std::fs::read_to_string(&lf).ok()?;
        (text.matches("lease6 {").count() >= 2).then_some(text)
    });
    let kept = kept.expect("dhclient recorded no renewed lease");
    let newest = kept.rsplit("lease6 {").next().unwrap();
    assert!(newest.contains(&format!("iaaddr {}", dynamic.addr)), "renewed to another address: {newest}");
    assert!(t.client_addrs().contains(&dynamic.addr.to_string()));

    // A malformed datagram is counted and does not stop the server.
    let before = stats.malformed.load(Ordering::Relaxed);
    let out = t
        .in_cli("python3")
        .args([
            "-c",
            "import socket; s=socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); \
             s.sendto(b'\\x01\\x00\\x00\\x01\\x00\\x01\\xff\\xff', ('ff02::1:2', 547, 0, socket.if_nametoindex('veth-cli')))",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let counted =
        wait_for(Duration::from_secs(30), || (stats.malformed.load(Ordering::Relaxed) > before).then_some(()));
    assert!(counted.is_some(), "malformed packet not counted");
    assert!(!server_task.is_finished());

    let (t2, d2) = (t.clone(), d.clone());
    tokio::task::spawn_blocking(move || dhclient_release(&t2, &d2, "unknown")).await.unwrap();
    assert!(server_leases(&lease_file, |l| !holds(l, dynamic.addr)).is_some(), "release not applied");

    // Rapid Commit: SOLICIT answered by a REPLY; the client never sends a
    // REQUEST.
    let requests = stats.requests.load(Ordering::Relaxed);
    let (t2, d2) = (t.clone(), d.clone());
    let rapid = tokio::task::spawn_blocking(move || dhclient(&t2, &d2, "rapid", RAPID_CONF)).await.unwrap();
    let n = u128::from(rapid.addr);
    assert!(n >= lo && n <= hi, "{}", rapid.addr);
    assert_eq!(stats.requests.load(Ordering::Relaxed), requests, "the client sent a REQUEST despite Rapid Commit");
    assert!(server_leases(&lease_file, |l| holds(l, rapid.addr)).is_some());
    let (t2, d2) = (t.clone(), d.clone());
    tokio::task::spawn_blocking(move || dhclient_release(&t2, &d2, "rapid")).await.unwrap();
    server_task.abort();
}
