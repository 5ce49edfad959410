//! The DHCP server against real clients (ISC dhclient, busybox udhcpc) in a
//! network namespace joined to the server's namespace by a veth pair. The
//! server runs in this process; its socket is opened inside the server
//! namespace from a helper thread (sockets keep the namespace they were
//! created in).
//!
//! Waits poll for the outcome (a lease event, the lease file) and return as
//! soon as it shows; their limits only bound a failing test, so a loaded
//! machine slows the test down instead of failing it.

// Tests fail by panicking: unwrap/expect are how they assert.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use ironpool_common::dhcp::{DhcpConfig, LeaseEvent, LeaseEventKind, Reservation, SubnetConfig};
use ironpool_rack::dhcp::{bind_socket, DhcpServer};
use tokio::sync::mpsc;

const KNOWN_MAC: &str = "52:54:00:aa:bb:01";
const UNKNOWN_MAC: &str = "52:54:00:aa:bb:77";

fn ip(args: &[&str]) -> std::process::Output {
    Command::new("ip").args(args).output().expect("ip")
}

/// Two namespaces and a veth pair between them; removed on drop.
struct Topology {
    srv: String,
    cli: String,
}

impl Topology {
    /// None (test skipped) when namespaces cannot be created.
    fn new(tag: &str) -> Option<Topology> {
        let id = std::process::id() % 100_000;
        let t = Topology { srv: format!("ips{id}{tag}"), cli: format!("ipc{id}{tag}") };
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
        run(&["-n", &t.srv, "addr", "add", "198.51.100.1/24", "dev", "veth-srv"]);
        run(&["-n", &t.srv, "link", "set", "veth-srv", "up"]);
        run(&["-n", &t.cli, "link", "set", "veth-cli", "address", KNOWN_MAC]);
        run(&["-n", &t.cli, "link", "set", "veth-cli", "up"]);
        // dhclient-script rewrites resolv.conf: give the namespace its own.
        std::fs::create_dir_all(format!("/etc/netns/{}", t.cli)).unwrap();
        std::fs::write(format!("/etc/netns/{}/resolv.conf", t.cli), "# netns\n").unwrap();
        Some(t)
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
        String::from_utf8_lossy(&ip(&["-n", &self.cli, "-4", "addr", "show", "dev", "veth-cli"]).stdout).into_owned()
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
            bind_socket("0.0.0.0:67".parse().unwrap(), Some("veth-srv")).expect("bind DHCP socket")
        })
        .join()
        .expect("netns thread")
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        // dhclient daemons left by a failed test die with their namespace's
        // interfaces gone; kill them by their pid files first anyway.
        ip(&["netns", "del", &self.cli]);
        ip(&["netns", "del", &self.srv]);
        let _ = std::fs::remove_dir_all(format!("/etc/netns/{}", self.cli));
    }
}

fn config(lease_file: &Path) -> DhcpConfig {
    let mut cfg = DhcpConfig::new(
        "198.51.100.1".parse().unwrap(),
        vec![SubnetConfig {
            cidr: "198.51.100.0/24".parse().unwrap(),
            router: Some("198.51.100.1".parse().unwrap()),
            dns_servers: vec!["198.51.100.1".parse().unwrap()],
            domain: Some("maas".into()),
            range_start: "198.51.100.50".parse().unwrap(),
            range_end: "198.51.100.99".parse().unwrap(),
            lease_time: 600,
            next_server: None,
        }],
    );
    cfg.reservations.push(Reservation {
        mac: KNOWN_MAC.parse().unwrap(),
        ip: "198.51.100.20".parse().unwrap(),
        hostname: Some("known-machine".into()),
    });
    cfg.lease_file = Some(lease_file.to_path_buf());
    cfg
}

/// Runs `dhclient` once (it daemonises after binding); returns the address.
fn dhclient(t: &Topology, dir: &Path, name: &str) -> Ipv4Addr {
    let lf = dir.join(format!("{name}.leases"));
    let pf = dir.join(format!("{name}.pid"));
    let out = t
        .in_cli("dhclient")
        .args(["-4", "-v", "-1", "-lf"])
        .arg(&lf)
        .arg("-pf")
        .arg(&pf)
        .arg("veth-cli")
        .output()
        .expect("dhclient");
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "dhclient failed: {log}");
    let leases = std::fs::read_to_string(&lf).unwrap_or_default();
    let addr = leases
        .lines()
        .filter_map(|l| l.trim().strip_prefix("fixed-address "))
        .next_back()
        .and_then(|a| a.trim_end_matches(';').parse().ok())
        .unwrap_or_else(|| panic!("no lease in {leases}\n{log}"));
    assert!(t.client_addrs().contains(&format!("{addr}/24")), "address not configured: {}", t.client_addrs());
    addr
}

/// The server's lease events, read the way the region reads them: a client
/// that sends its REQUEST again (its timer ran out on a loaded machine, or
/// it renews) is acknowledged again and reported `Bound` again. Repeats of
/// the binding just reported are skipped, so the test sees each change once
/// however many REQUESTs the client needed.
struct Events {
    rx: mpsc::Receiver<LeaseEvent>,
    last_bound: Option<LeaseEvent>,
}

impl Events {
    fn new(rx: mpsc::Receiver<LeaseEvent>) -> Events {
        Events { rx, last_bound: None }
    }

    /// The next event that is not a repeat of the last binding.
    async fn next(&mut self) -> LeaseEvent {
        loop {
            let ev = tokio::time::timeout(Duration::from_secs(30), self.rx.recv())
                .await
                .expect("no lease event within 30 s")
                .expect("the server's event channel closed");
            if ev.kind == LeaseEventKind::Bound {
                if self.last_bound.as_ref() == Some(&ev) {
                    continue;
                }
                self.last_bound = Some(ev.clone());
            } else {
                self.last_bound = None;
            }
            return ev;
        }
    }
}

fn dhclient_release(t: &Topology, dir: &Path, name: &str) {
    let out = t
        .in_cli("dhclient")
        .args(["-4", "-r", "-lf"])
        .arg(dir.join(format!("{name}.leases")))
        .arg("-pf")
        .arg(dir.join(format!("{name}.pid")))
        .arg("veth-cli")
        .output()
        .expect("dhclient -r");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dhclient_and_udhcpc_get_reserved_and_dynamic_addresses() {
    if !need_root("dhclient_and_udhcpc_get_reserved_and_dynamic_addresses") {
        return;
    }
    need_program("dhclient");
    need_program("busybox");
    init_tracing();
    let Some(t) = Topology::new("a") else { return };
    let dir = tempfile::tempdir().unwrap();
    let lease_file = dir.path().join("leases.json");
    let (server, events) = DhcpServer::new(config(&lease_file), 64).unwrap();
    let mut events = Events::new(events);
    let stats = server.stats();
    let socket = tokio::net::UdpSocket::from_std(t.server_socket()).unwrap();
    let server_task = tokio::spawn(server.run(socket));

    // Known MAC: its reservation.
    let d = dir.path().to_path_buf();
    let t = std::sync::Arc::new(t);
    let t2 = t.clone();
    let got = tokio::task::spawn_blocking(move || dhclient(&t2, &d, "known")).await.unwrap();
    assert_eq!(got, "198.51.100.20".parse::<Ipv4Addr>().unwrap());
    let ev = events.next().await;
    assert_eq!((ev.kind, ev.ip, ev.mac.to_string().as_str()), (LeaseEventKind::Bound, got, KNOWN_MAC));
    assert_eq!(ev.hostname.as_deref(), Some("known-machine"));
    // Persisted to the lease file.
    let persisted = wait_for(Duration::from_secs(30), || {
        std::fs::read_to_string(&lease_file).ok().filter(|s| s.contains("198.51.100.20"))
    });
    assert!(persisted.is_some(), "lease not persisted");

    // Release: reported and removed from the file.
    let (t2, d) = (t.clone(), dir.path().to_path_buf());
    tokio::task::spawn_blocking(move || dhclient_release(&t2, &d, "known")).await.unwrap();
    let ev = events.next().await;
    assert_eq!((ev.kind, ev.ip), (LeaseEventKind::Released, got));

    // Unknown MAC: an address from the dynamic range.
    t.set_mac(UNKNOWN_MAC);
    let (t2, d) = (t.clone(), dir.path().to_path_buf());
    let dynamic = tokio::task::spawn_blocking(move || dhclient(&t2, &d, "unknown")).await.unwrap();
    let n = u32::from(dynamic);
    assert!(
        n >= u32::from(Ipv4Addr::new(198, 51, 100, 50)) && n <= u32::from(Ipv4Addr::new(198, 51, 100, 99)),
        "{dynamic}"
    );
    let ev = events.next().await;
    assert_eq!((ev.kind, ev.ip, ev.mac.to_string().as_str()), (LeaseEventKind::Bound, dynamic, UNKNOWN_MAC));
    let persisted = wait_for(Duration::from_secs(30), || {
        std::fs::read_to_string(&lease_file)
            .ok()
            .filter(|s| s.contains(&dynamic.to_string()) && !s.contains("198.51.100.20"))
    });
    assert!(persisted.is_some(), "lease file: {:?}", std::fs::read_to_string(&lease_file));

    // A malformed packet is counted and does not stop the server.
    let before = stats.malformed.load(Ordering::Relaxed);
    let out = t
        .in_cli("python3")
        .args(["-c", "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'\\x01\\x01garbage', ('198.51.100.1', 67))"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        wait_for(Duration::from_secs(30), || (stats.malformed.load(Ordering::Relaxed) > before).then_some(()))
            .is_some(),
        "malformed packet not counted"
    );
    assert!(!server_task.is_finished());
    let (t2, d) = (t.clone(), dir.path().to_path_buf());
    tokio::task::spawn_blocking(move || dhclient_release(&t2, &d, "unknown")).await.unwrap();

    // busybox udhcpc afterwards: the server still answers with an address
    // from the range and itself as next-server.
    let script = dir.path().join("udhcpc.sh");
    std::fs::write(&script, "#!/bin/sh\necho \"event=$1 ip=$ip boot_file=$boot_file siaddr=$siaddr\" >> \"$(dirname \"$0\")/udhcpc.events\"\n").unwrap();
    Command::new("chmod").arg("755").arg(&script).status().unwrap();
    let t2 = t.clone();
    let out = tokio::task::spawn_blocking(move || {
        t2.in_cli("busybox")
            .args(["udhcpc", "-i", "veth-cli", "-f", "-q", "-n", "-t", "3", "-T", "2", "-s"])
            .arg(&script)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "udhcpc: {}", String::from_utf8_lossy(&out.stderr));
    let events_log = std::fs::read_to_string(dir.path().join("udhcpc.events")).unwrap();
    let bound: Ipv4Addr = events_log
        .lines()
        .find_map(|l| l.strip_prefix("event=bound ip=")?.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("udhcpc did not bind: {events_log}"));
    assert_eq!(u32::from(bound) >> 8, u32::from(dynamic) >> 8);
    assert!(u32::from(bound) & 0xff >= 50 && u32::from(bound) & 0xff <= 99, "{bound}");
    assert!(events_log.contains("siaddr=198.51.100.1"), "{events_log}");
    server_task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_survive_a_restart() {
    if !need_root("leases_survive_a_restart") {
        return;
    }
    need_program("busybox");
    let Some(t) = Topology::new("b") else { return };
    let dir = tempfile::tempdir().unwrap();
    let lease_file = dir.path().join("leases.json");
    t.set_mac(UNKNOWN_MAC);
    let udhcpc = |t: &Topology| {
        let o = t
            .in_cli("busybox")
            .args(["udhcpc", "-i", "veth-cli", "-f", "-q", "-n", "-t", "3", "-T", "2", "-s", "/bin/true"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let moved: Ipv4Addr = "198.51.100.77".parse().unwrap();
    for round in 0..2 {
        let (server, events) = DhcpServer::new(config(&lease_file), 8).unwrap();
        let mut events = Events::new(events);
        let socket = tokio::net::UdpSocket::from_std(t.server_socket()).unwrap();
        let task = tokio::spawn(server.run(socket));
        let t = &t;
        tokio::task::block_in_place(|| udhcpc(t));
        let ev = events.next().await;
        let saved = wait_for(Duration::from_secs(30), || {
            std::fs::read_to_string(&lease_file).ok().filter(|s| s.contains(&format!("\"{}\"", ev.ip)))
        });
        assert!(saved.is_some(), "lease not persisted");
        task.abort();
        let _ = task.await;
        if round == 0 {
            // A fresh server would hand out the start of the range again;
            // move the persisted lease so only a reloaded table explains
            // getting .77 after the restart.
            assert_eq!(ev.ip, "198.51.100.50".parse::<Ipv4Addr>().unwrap());
            let mut leases: Vec<serde_json::Value> =
                serde_json::from_str(&std::fs::read_to_string(&lease_file).unwrap()).unwrap();
            assert_eq!(leases.len(), 1);
            leases[0]["ip"] = serde_json::Value::String(moved.to_string());
            std::fs::write(&lease_file, serde_json::to_string(&leases).unwrap()).unwrap();
        } else {
            assert_eq!(ev.ip, moved, "the reloaded lease was not honoured");
        }
    }
}

// The DHCP comparison's harness at a small scale: the same broadcasting
// clients get offers and acknowledgements from our server and from
// dnsmasq, with and without 1,000 reservations, each writing its lease
// file. It asserts that both served every row, not how fast (the
// figures are `rack_bench dhcp-compare`'s, in docs/rack.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dhcp_comparison_gets_answers_from_ours_and_dnsmasq() {
    if !need_root("the_dhcp_comparison_gets_answers_from_ours_and_dnsmasq") {
        return;
    }
    need_program("dnsmasq");
    let c = ironpool_rack::bench::dhcp_compare(4, 1, 1000).await.unwrap();
    eprintln!("{}", c.report);
    assert_eq!(c.rows.len(), 4, "{}", c.report);
    for r in &c.rows {
        assert!(r.ours > 0.0 && r.dnsmasq > 0.0, "a server answered nothing: {r:?}\n{}", c.report);
    }
}
