//! Benchmarks of the rack's protocol servers against real peers, for
//! `examples/rack_bench.rs` (and later `ironpool bench rack`): TFTP against
//! tftpd-hpa with the same atftp client, a DHCP DISCOVER→OFFER load generator
//! (and the same load against dnsmasq, [`dhcp_compare`]), and a power sync
//! over simulated BMCs. Each returns its report as text.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::Command;

mod dhcp_compare;
pub use dhcp_compare::compare as dhcp_compare;

/// A benchmark that could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Setup(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

fn setup(msg: impl Into<String>) -> BenchError {
    BenchError::Setup(msg.into())
}

fn mib_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / d.as_secs_f64()
}

fn free_udp_port() -> Result<u16, BenchError> {
    Ok(std::net::UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// One atftp fetch; returns the elapsed time, after checking the copy.
async fn atftp_get(
    server: SocketAddr,
    remote: &str,
    local: &Path,
    opts: &[&str],
    expect: &Path,
) -> Result<Duration, BenchError> {
    let _ = std::fs::remove_file(local);
    let mut cmd = Command::new("atftp");
    for o in opts {
        cmd.arg("--option").arg(o);
    }
    cmd.arg("-g").arg("-r").arg(remote).arg("-l").arg(local);
    cmd.arg(server.ip().to_string()).arg(server.port().to_string());
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let start = Instant::now();
    let out = cmd.output().await.map_err(|e| setup(format!("cannot run atftp ({e}); install atftp")))?;
    let took = start.elapsed();
    if !out.status.success() {
        return Err(setup(format!("atftp {remote} from {server} failed: {}", String::from_utf8_lossy(&out.stderr))));
    }
    // Compare sizes and bytes: a fast wrong answer is no answer.
    if std::fs::read(local)? != std::fs::read(expect)? {
        return Err(setup(format!("{remote} from {server}: the copy differs from the original")));
    }
    Ok(took)
}

/// Best of `runs` fetches, in MiB/s.
async fn best_rate(
    server: SocketAddr,
    remote: &str,
    local: &Path,
    opts: &[&str],
    expect: &Path,
    runs: usize,
) -> Result<f64, BenchError> {
    let size = std::fs::metadata(expect)?.len();
    let mut best = 0.0f64;
    for _ in 0..runs {
        best = best.max(mib_s(size, atftp_get(server, remote, local, opts, expect).await?));
    }
    Ok(best)
}

/// `clients` parallel fetches of `remote`; aggregate MiB/s.
async fn parallel_rate(
    server: SocketAddr,
    remote: &str,
    out_dir: &Path,
    opts: &[&str],
    expect: &Path,
    clients: usize,
) -> Result<(f64, Duration), BenchError> {
    let size = std::fs::metadata(expect)?.len();
    let start = Instant::now();
    let jobs = (0..clients).map(|i| {
        let local = out_dir.join(format!("par-{i}"));
        async move { atftp_get(server, remote, &local, opts, expect).await }
    });
    for r in futures_util::future::join_all(jobs).await {
        r?;
    }
    let took = start.elapsed();
    Ok((mib_s(size * clients as u64, took), took))
}

/// TFTP: the same 64 MiB file with atftp from our server and from tftpd-hpa,
/// lock-step (blksize 1468) and windowed (windowsize 16), then `clients`
/// parallel fetches of an 8 MiB file. Needs root (tftpd-hpa), atftp and
/// in.tftpd.
pub async fn tftp(big_mib: u64, clients: usize, runs: usize) -> Result<String, BenchError> {
    use crate::tftp::{TftpConfig, TftpServer};
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("root");
    let out = dir.path().join("out");
    std::fs::create_dir_all(&root)?;
    std::fs::create_dir_all(&out)?;
    // tftpd-hpa drops privileges: the root must be world-readable.
    set_mode(dir.path(), 0o755)?;
    set_mode(&root, 0o755)?;
    let big = root.join("big.img");
    let small = root.join("par.img");
    write_random(&big, big_mib * 1024 * 1024)?;
    write_random(&small, 8 * 1024 * 1024)?;

    let mut cfg = TftpConfig::new(&root);
    cfg.max_blksize = 1468;
    let ours = TftpServer::bind("127.0.0.1:0".parse().map_err(|_| setup("address"))?, cfg).await?;
    let ours_addr = ours.local_addr()?;
    let stats = ours.stats();
    let server_task = tokio::spawn(ours.serve());

    let hpa_port = free_udp_port()?;
    let hpa_addr: SocketAddr = (Ipv4Addr::LOCALHOST, hpa_port).into();
    let mut hpa = Command::new("in.tftpd")
        .args(["-L", "-l", "-a", &format!("127.0.0.1:{hpa_port}"), "-s"])
        .arg(&root)
        .args(["-B", "1468"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| setup(format!("cannot start in.tftpd ({e}); install tftpd-hpa and run as root")))?;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let lock: &[&str] = &["blksize 1468"];
    let win: &[&str] = &["blksize 1468", "windowsize 16"];
    let local = out.join("big");
    let mut report = String::new();
    let _ = writeln!(report, "TFTP: {big_mib} MiB file, atftp client, loopback, best of {runs} (MiB/s)");
    let _ = writeln!(report, "{:<34} {:>10} {:>10} {:>7}", "client options", "ironpool", "tftpd-hpa", "ratio");
    let mut ratios = Vec::new();
    for (name, opts) in [("blksize 1468 (lock-step)", lock), ("blksize 1468 + windowsize 16", win)] {
        let a = best_rate(ours_addr, "big.img", &local, opts, &big, runs).await?;
        let b = best_rate(hpa_addr, "big.img", &local, opts, &big, runs).await?;
        ratios.push(a / b);
        let _ = writeln!(report, "{name:<34} {a:>10.1} {b:>10.1} {:>6.2}x", a / b);
    }
    // Optional third reference: atftpd, which implements RFC 7440 (it
    // conflicts with tftpd-hpa as a package; unpack it and point ATFTPD at
    // the binary, see docs/rack.md). Shows what the client itself can take.
    if let Ok(atftpd) = std::env::var("ATFTPD") {
        let port = free_udp_port()?;
        let log = dir.path().join("atftpd.log");
        let mut child = Command::new(&atftpd)
            .args(["--daemon", "--no-fork", "--bind-address", "127.0.0.1", "--port", &port.to_string(), "--logfile"])
            .arg(&log)
            .args(["--user", "nobody", "--group", "nogroup"])
            .arg(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| setup(format!("cannot start {atftpd}: {e}")))?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let addr: SocketAddr = (Ipv4Addr::LOCALHOST, port).into();
        for (name, opts) in [("atftpd, lock-step", lock), ("atftpd, windowsize 16", win)] {
            let c = best_rate(addr, "big.img", &local, opts, &big, runs).await?;
            let _ = writeln!(report, "{name:<34} {c:>10.1}  (reference server)");
        }
        let _ = child.kill().await;
    }
    let _ = writeln!(report, "\n{clients} parallel atftp x 8 MiB (aggregate MiB/s, wall time)");
    for (name, opts) in [("blksize 1468 (lock-step)", lock), ("blksize 1468 + windowsize 16", win)] {
        let (a, ta) = parallel_rate(ours_addr, "par.img", &out, opts, &small, clients).await?;
        let (b, tb) = parallel_rate(hpa_addr, "par.img", &out, opts, &small, clients).await?;
        let _ = writeln!(
            report,
            "{name:<34} {a:>7.1} ({:.2} s) {b:>7.1} ({:.2} s) {:>5.2}x",
            ta.as_secs_f64(),
            tb.as_secs_f64(),
            a / b
        );
    }
    let _ = writeln!(
        report,
        "\nironpool: {} transfers ({} more with the final ACK unconfirmed), {} retransmitted windows",
        stats.completed.load(std::sync::atomic::Ordering::Relaxed),
        stats.unconfirmed.load(std::sync::atomic::Ordering::Relaxed),
        stats.retransmits.load(std::sync::atomic::Ordering::Relaxed)
    );
    let _ = writeln!(
        report,
        "goals: lock-step ratio >= 1.0 ({}), windowsize 16 ratio >= 3.0 ({})",
        if ratios[0] >= 1.0 { "met" } else { "NOT met" },
        if ratios[1] >= 3.0 { "met" } else { "NOT met" }
    );
    let _ = hpa.kill().await;
    server_task.abort();
    Ok(report)
}

fn set_mode(p: &Path, mode: u32) -> Result<(), BenchError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

fn write_random(path: &PathBuf, len: u64) -> Result<(), BenchError> {
    use std::io::{Read, Write};
    let mut src = std::fs::File::open("/dev/urandom")?;
    let mut dst = std::fs::File::create(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        src.read_exact(&mut buf[..n])?;
        dst.write_all(&buf[..n])?;
        left -= n as u64;
    }
    set_mode(path, 0o644)
}

/// DHCP: `workers` closed-loop clients send DISCOVERs (as a relay on
/// loopback, so replies come back by unicast) for `seconds` and count OFFERs.
pub async fn dhcp(workers: usize, seconds: u64) -> Result<String, BenchError> {
    use crate::dhcp::{bind_socket, DhcpServer};
    use dhcproto::v4::{DhcpOption, Message, MessageType};
    use dhcproto::{Decodable, Decoder, Encodable};
    use ironpool_common::dhcp::{DhcpConfig, SubnetConfig};

    let cfg = DhcpConfig::new(
        Ipv4Addr::LOCALHOST,
        vec![SubnetConfig {
            cidr: "127.0.0.0/8".parse().map_err(|e| setup(format!("{e}")))?,
            router: None,
            dns_servers: vec![],
            domain: None,
            range_start: Ipv4Addr::new(127, 1, 0, 0),
            range_end: Ipv4Addr::new(127, 1, 255, 255),
            lease_time: 600,
            next_server: None,
        }],
    );
    let (server, _events) = DhcpServer::new(cfg, 1024).map_err(|e| setup(e.to_string()))?;
    let stats = server.stats();
    let socket =
        tokio::net::UdpSocket::from_std(bind_socket("127.0.0.1:0".parse().map_err(|_| setup("addr"))?, None)?)?;
    let server_addr = socket.local_addr()?;
    let server_task = tokio::spawn(server.run(socket));

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let jobs = (0..workers).map(|w| async move {
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
        sock.connect(server_addr).await?;
        let mut buf = vec![0u8; 1500];
        let mut offers = 0u64;
        let mut lost = 0u64;
        let mut i: u32 = 0;
        while Instant::now() < deadline {
            // 1,000 distinct MACs per worker, reused: the steady state of a
            // boot storm where clients retry.
            let n = i % 1000;
            let mac = [0x52, 0x54, w as u8, (n >> 8) as u8, n as u8, 0x01];
            let xid = (w as u32) << 24 | i;
            i = i.wrapping_add(1);
            let mut msg = Message::new_with_id(
                xid,
                Ipv4Addr::UNSPECIFIED,
                Ipv4Addr::UNSPECIFIED,
                Ipv4Addr::UNSPECIFIED,
                Ipv4Addr::LOCALHOST,
                &mac,
            );
            msg.opts_mut().insert(DhcpOption::MessageType(MessageType::Discover));
            let bytes = msg.to_vec().map_err(|e| std::io::Error::other(e.to_string()))?;
            sock.send(&bytes).await?;
            match tokio::time::timeout(Duration::from_millis(500), sock.recv(&mut buf)).await {
                Ok(Ok(len)) => {
                    let ok = Message::decode(&mut Decoder::new(&buf[..len]))
                        .map(|m| m.xid() == xid && m.opts().msg_type() == Some(MessageType::Offer))
                        .unwrap_or(false);
                    if ok {
                        offers += 1;
                    } else {
                        lost += 1;
                    }
                }
                _ => lost += 1,
            }
        }
        Ok::<(u64, u64), std::io::Error>((offers, lost))
    });
    let mut offers = 0;
    let mut lost = 0;
    for r in futures_util::future::join_all(jobs).await {
        let (o, l) = r?;
        offers += o;
        lost += l;
    }
    let took = start.elapsed();
    server_task.abort();
    let rate = offers as f64 / took.as_secs_f64();
    let mut report = String::new();
    let _ = writeln!(
        report,
        "DHCP: {workers} closed-loop clients on loopback for {seconds} s (relay mode, unicast replies)"
    );
    let _ = writeln!(
        report,
        "  {offers} OFFERs in {:.2} s = {rate:.0} DISCOVER->OFFER/s; {lost} lost; server counted {} discovers, {} malformed",
        took.as_secs_f64(),
        stats.discovers.load(std::sync::atomic::Ordering::Relaxed),
        stats.malformed.load(std::sync::atomic::Ordering::Relaxed)
    );
    let _ = writeln!(report, "  goal >= 5,000/s: {}", if rate >= 5000.0 { "met" } else { "NOT met" });
    Ok(report)
}

/// Power: query `machines` simulated BMCs (each answering after `latency`)
/// with several concurrency limits; wall time per run.
pub async fn power(machines: usize, latency: Duration) -> Result<String, BenchError> {
    use ironpool_power::virtual_bmc::{VirtualBmc, VirtualBmcs};
    use ironpool_power::{sync_all, Drivers, RetryPolicy, SyncTarget};
    let bmcs = VirtualBmcs::new();
    let targets: Vec<SyncTarget> = (0..machines)
        .map(|i| {
            let addr = format!("vbmc-{i}");
            bmcs.add(addr.clone(), VirtualBmc { latency, ..Default::default() });
            SyncTarget {
                id: format!("machine-{i}"),
                power_type: "virtual".into(),
                params: [("power_address".to_string(), addr)].into_iter().collect(),
            }
        })
        .collect();
    let drivers = Drivers::standard(bmcs);
    let retry = RetryPolicy::default();
    let mut report = String::new();
    let _ = writeln!(report, "Power sync: {machines} virtual BMCs, {latency:?} per query");
    for concurrency in [1, 16, 64, 200] {
        let start = Instant::now();
        let results = sync_all(&drivers, targets.clone(), concurrency, &retry).await;
        let took = start.elapsed();
        let ok = results.iter().filter(|r| r.result.is_ok()).count();
        let _ = writeln!(
            report,
            "  concurrency {concurrency:>3}: {:>8.1} ms wall, {ok}/{machines} ok",
            took.as_secs_f64() * 1e3
        );
    }
    Ok(report)
}
