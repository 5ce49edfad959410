//! DHCP against dnsmasq under one load generator, in the same run: clients
//! in a network namespace broadcast from port 68 over a veth pair, as
//! machines on a rack's network do; each server in turn answers on the
//! other end (ours bound to the interface, dnsmasq with `--interface`),
//! with and without 10,000 reservations, both writing a lease file.
//! Counted: DISCOVER→OFFER and whole DISCOVER/OFFER/REQUEST/ACK
//! exchanges per second by closed-loop clients. Needs root, `ip` and
//! dnsmasq.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable};
use ironpool_common::dhcp::{DhcpConfig, MacAddr, Reservation, SubnetConfig};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::{setup, BenchError};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 1);
const RANGE: (Ipv4Addr, Ipv4Addr) = (Ipv4Addr::new(10, 201, 128, 1), Ipv4Addr::new(10, 201, 255, 254));

fn ip(args: &[&str]) -> Result<(), BenchError> {
    let out = std::process::Command::new("ip").args(args).output().map_err(|e| setup(format!("ip: {e}")))?;
    if !out.status.success() {
        return Err(setup(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())));
    }
    Ok(())
}

/// A namespace for the clients and a veth pair into it; removed on drop.
struct Wire {
    ns: String,
    host: String,
    peer: String,
}

impl Wire {
    fn new() -> Result<Wire, BenchError> {
        let id = std::process::id() % 100_000;
        let w = Wire { ns: format!("ipdhb{id}"), host: format!("ipdhA{id}"), peer: format!("ipdhB{id}") };
        ip(&["netns", "add", &w.ns])?;
        ip(&["link", "add", &w.host, "type", "veth", "peer", "name", &w.peer])?;
        ip(&["link", "set", &w.peer, "netns", &w.ns])?;
        ip(&["addr", "add", &format!("{SERVER}/16"), "dev", &w.host])?;
        ip(&["link", "set", &w.host, "up"])?;
        ip(&["-n", &w.ns, "link", "set", &w.peer, "up"])?;
        ip(&["-n", &w.ns, "link", "set", "lo", "up"])?;
        Ok(w)
    }

    /// The clients' socket, 0.0.0.0:68 on the namespace's end, made in a
    /// thread that entered the namespace (a socket stays in the namespace
    /// it was made in).
    fn client_socket(&self) -> Result<std::net::UdpSocket, BenchError> {
        let (ns, dev) = (format!("/run/netns/{}", self.ns), self.peer.clone());
        std::thread::spawn(move || -> std::io::Result<std::net::UdpSocket> {
            use socket2::{Domain, Protocol, Socket, Type};
            let f = std::fs::File::open(&ns)?;
            // SAFETY: setns on a valid namespace fd changes only this
            // thread's network namespace, and the thread ends here.
            if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
            s.set_reuse_address(true)?;
            s.set_broadcast(true)?;
            s.bind_device(Some(dev.as_bytes()))?;
            s.set_recv_buffer_size(4 << 20)?;
            s.set_nonblocking(true)?;
            s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, 68)).into())?;
            Ok(s.into())
        })
        .join()
        .map_err(|_| setup("the namespace thread panicked"))?
        .map_err(BenchError::Io)
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        let _ = ip(&["link", "del", &self.host]);
        let _ = ip(&["netns", "del", &self.ns]);
    }
}

fn mac(i: usize, reserved: bool) -> [u8; 6] {
    [0x02, if reserved { 0x01 } else { 0x02 }, 0, (i >> 16) as u8, (i >> 8) as u8, i as u8]
}

fn reserved_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 201, 1, 0)) + i as u32)
}

/// Replies by xid, for the workers waiting on them (a channel, not a
/// single slot: a server may answer one request twice, and a stray OFFER
/// must not stand for the ACK awaited).
type Waiters = Arc<Mutex<HashMap<u32, mpsc::UnboundedSender<Message>>>>;

fn message(xid: u32, mac: &[u8; 6], kind: MessageType, extra: &[DhcpOption]) -> Result<Vec<u8>, BenchError> {
    let u = Ipv4Addr::UNSPECIFIED;
    let mut m = Message::new_with_id(xid, u, u, u, u, mac);
    // No address yet: ask for broadcast replies, as firmware does.
    m.set_flags(Flags::default().set_broadcast());
    m.opts_mut().insert(DhcpOption::MessageType(kind));
    for o in extra {
        m.opts_mut().insert(o.clone());
    }
    m.to_vec().map_err(|e| setup(format!("encoding: {e}")))
}

async fn ask(
    sock: &UdpSocket,
    waiters: &Waiters,
    xid: u32,
    packet: &[u8],
    want: MessageType,
) -> Result<Option<Message>, BenchError> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    waiters.lock().unwrap_or_else(|e| e.into_inner()).insert(xid, tx);
    sock.send_to(packet, (Ipv4Addr::BROADCAST, 67)).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
    let mut got = None;
    while let Ok(Some(m)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        if m.opts().msg_type() == Some(want) {
            got = Some(m);
            break;
        }
    }
    waiters.lock().unwrap_or_else(|e| e.into_inner()).remove(&xid);
    Ok(got)
}

/// `workers` closed-loop clients for `seconds`; each transaction is a
/// DISCOVER→OFFER, or with `dora` the whole exchange. MACs are the
/// reserved ones when `reserved` > 0, else 10,000 unreserved ones.
async fn load(
    sock: Arc<UdpSocket>,
    workers: usize,
    seconds: u64,
    reserved: usize,
    dora: bool,
) -> Result<(f64, u64), BenchError> {
    let waiters: Waiters = Arc::default();
    let rx_task = {
        let (sock, waiters) = (sock.clone(), waiters.clone());
        tokio::spawn(async move {
            let mut buf = vec![0u8; 1500];
            while let Ok((n, _)) = sock.recv_from(&mut buf).await {
                let Ok(m) = Message::decode(&mut Decoder::new(&buf[..n])) else { continue };
                if m.opts().msg_type() == Some(MessageType::Discover)
                    || m.opts().msg_type() == Some(MessageType::Request)
                {
                    continue; // our own broadcasts
                }
                if let Some(tx) = waiters.lock().unwrap_or_else(|e| e.into_inner()).get(&m.xid()) {
                    let _ = tx.send(m);
                }
            }
        })
    };
    let pool = if reserved > 0 { reserved } else { 10_000 };
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let jobs = (0..workers).map(|w| {
        let (sock, waiters) = (sock.clone(), waiters.clone());
        async move {
            let (mut done, mut lost) = (0u64, 0u64);
            let mut i = w;
            let mut seq: u32 = 0;
            while Instant::now() < deadline {
                let m = mac(i % pool, reserved > 0);
                i += workers;
                seq = seq.wrapping_add(1);
                let xid = (w as u32) << 20 | (seq & 0xfffff);
                let Some(offer) =
                    ask(&sock, &waiters, xid, &message(xid, &m, MessageType::Discover, &[])?, MessageType::Offer)
                        .await?
                else {
                    lost += 1;
                    continue;
                };
                if dora {
                    let server = match offer.opts().get(OptionCode::ServerIdentifier) {
                        Some(DhcpOption::ServerIdentifier(s)) => *s,
                        _ => SERVER,
                    };
                    let req = message(
                        xid,
                        &m,
                        MessageType::Request,
                        &[DhcpOption::RequestedIpAddress(offer.yiaddr()), DhcpOption::ServerIdentifier(server)],
                    )?;
                    if ask(&sock, &waiters, xid, &req, MessageType::Ack).await?.is_none() {
                        lost += 1;
                        continue;
                    }
                }
                done += 1;
            }
            Ok::<(u64, u64), BenchError>((done, lost))
        }
    });
    let (mut done, mut lost) = (0, 0);
    for r in futures_util::future::join_all(jobs).await {
        let (d, l) = r?;
        done += d;
        lost += l;
    }
    let took = start.elapsed();
    rx_task.abort();
    Ok((done as f64 / took.as_secs_f64(), lost))
}

async fn run_ours(
    w: &Wire,
    dir: &Path,
    reservations: usize,
    mut measure: impl AsyncFnMut() -> Result<(f64, u64), BenchError>,
) -> Result<(f64, u64), BenchError> {
    use crate::dhcp::{bind_socket, DhcpServer};
    let mut cfg = DhcpConfig::new(
        SERVER,
        vec![SubnetConfig {
            cidr: "10.201.0.0/16".parse().map_err(|e| setup(format!("{e}")))?,
            router: None,
            dns_servers: vec![],
            domain: None,
            range_start: RANGE.0,
            range_end: RANGE.1,
            lease_time: 600,
            next_server: None,
        }],
    );
    cfg.reservations = (0..reservations)
        .map(|i| Reservation { mac: MacAddr(mac(i, true)), ip: reserved_ip(i), hostname: None })
        .collect();
    cfg.lease_file = Some(dir.join(format!("ours-{reservations}.json")));
    let (server, mut events) = DhcpServer::new(cfg, 1024).map_err(|e| setup(e.to_string()))?;
    let socket = UdpSocket::from_std(bind_socket(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 67)), Some(&w.host))?)?;
    let task = tokio::spawn(server.run(socket));
    // The rack drains lease events to report them to the region.
    let drain = tokio::spawn(async move { while events.recv().await.is_some() {} });
    let r = measure().await;
    task.abort();
    drain.abort();
    r
}

async fn run_dnsmasq(
    w: &Wire,
    dir: &Path,
    reservations: usize,
    mut measure: impl AsyncFnMut() -> Result<(f64, u64), BenchError>,
) -> Result<(f64, u64), BenchError> {
    let hosts = dir.join(format!("hosts-{reservations}"));
    let mut text = String::new();
    for i in 0..reservations {
        let m = mac(i, true);
        let _ = writeln!(
            text,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x},{}",
            m[0],
            m[1],
            m[2],
            m[3],
            m[4],
            m[5],
            reserved_ip(i)
        );
    }
    std::fs::write(&hosts, text)?;
    let leases = dir.join(format!("dnsmasq-{reservations}.leases"));
    std::fs::write(&leases, "")?;
    let mut child = tokio::process::Command::new("dnsmasq")
        .arg("--no-daemon")
        .arg("--conf-file=/dev/null")
        .arg("--port=0")
        .arg(format!("--interface={}", w.host))
        .arg("--bind-interfaces")
        .arg("--except-interface=lo")
        .arg(format!("--dhcp-range={},{},255.255.0.0,10m", RANGE.0, RANGE.1))
        .arg(format!("--dhcp-hostsfile={}", hosts.display()))
        .arg(format!("--dhcp-leasefile={}", leases.display()))
        .arg("--dhcp-lease-max=1000000")
        .arg("--dhcp-authoritative")
        // dnsmasq pings an address before offering it (up to 3 s); ours
        // does not, so neither may here.
        .arg("--no-ping")
        .arg("--quiet-dhcp")
        .arg("--log-facility=/dev/null")
        .arg("--user=root")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| setup(format!("cannot start dnsmasq ({e}); apt install dnsmasq-base")))?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    if let Ok(Some(status)) = child.try_wait() {
        return Err(setup(format!("dnsmasq exited at once: {status}")));
    }
    let r = measure().await;
    let _ = child.kill().await;
    r
}

/// One row: an exchange, with or without reservations, per second on
/// each server, and how many transactions each lost (no answer in 500 ms).
#[derive(Debug, Clone)]
pub struct Row {
    pub exchange: &'static str,
    pub reservations: usize,
    pub ours: f64,
    pub dnsmasq: f64,
    pub lost_ours: u64,
    pub lost_dnsmasq: u64,
}

/// The comparison's rows and its text report.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub rows: Vec<Row>,
    pub report: String,
}

/// Runs both servers under the same load, each row in turn.
pub async fn compare(workers: usize, seconds: u64, reservations: usize) -> Result<Comparison, BenchError> {
    let dir = tempfile::tempdir()?;
    let w = Wire::new()?;
    let sock = Arc::new(UdpSocket::from_std(w.client_socket()?)?);
    let mut rows = Vec::new();
    for (dora, exchange) in [(false, "DISCOVER->OFFER"), (true, "DISCOVER/OFFER/REQUEST/ACK")] {
        for res in [0, reservations] {
            let s = sock.clone();
            let (ours, lost_ours) =
                run_ours(&w, dir.path(), res, async || load(s.clone(), workers, seconds, res, dora).await).await?;
            let s = sock.clone();
            let (dnsmasq, lost_dnsmasq) =
                run_dnsmasq(&w, dir.path(), res, async || load(s.clone(), workers, seconds, res, dora).await).await?;
            rows.push(Row { exchange, reservations: res, ours, dnsmasq, lost_ours, lost_dnsmasq });
        }
    }
    let mut report = String::new();
    let _ = writeln!(
        report,
        "DHCP: {workers} closed-loop clients broadcasting over a veth pair, {seconds} s per row, lease files written"
    );
    let _ =
        writeln!(report, "{:<44} {:>12} {:>12} {:>7}", "exchange, reservations", "ironpool/s", "dnsmasq/s", "ratio");
    let mut worst = f64::MAX;
    for r in &rows {
        let ratio = r.ours / r.dnsmasq.max(1e-9);
        worst = worst.min(ratio);
        let _ = writeln!(
            report,
            "{:<44} {:>12.0} {:>12.0} {ratio:>6.2}x   (lost: {} / {})",
            format!("{}, {}", r.exchange, r.reservations),
            r.ours,
            r.dnsmasq,
            r.lost_ours,
            r.lost_dnsmasq
        );
    }
    let _ = writeln!(report, "goal: >= 1.0x dnsmasq in every row: {}", if worst >= 1.0 { "met" } else { "NOT met" });
    Ok(Comparison { rows, report })
}
