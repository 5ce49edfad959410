//! Benchmarks of the rack's protocol servers against real peers, for
//! `examples/rack_bench.rs` (and later `ironpool bench rack`): TFTP against
//! tftpd-hpa with the same atftp client, a DHCP DISCOVER→OFFER load generator,
//! and a power sync over simulated BMCs. Each returns its report as text.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::Command;

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
        "\nironpool: {} transfers, {} retransmitted windows",
        stats.completed.load(std::sync::atomic::Ordering::Relaxed),
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
