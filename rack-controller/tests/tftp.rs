//! The TFTP server against real clients: tftp-hpa's `tftp` and `atftp`.

mod common;

use std::net::SocketAddr;
use std::process::Output;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use async_trait::async_trait;
use common::*;
use ironpool_rack::tftp::{DynamicSource, TftpConfig, TftpServer, TftpStats};
use tokio::process::Command;

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Per-MAC configs, the way the rack will generate them.
struct Generated;

#[async_trait]
impl DynamicSource for Generated {
    async fn generate(&self, path: &str, client: SocketAddr) -> Option<Vec<u8>> {
        let mac = path.strip_prefix("pxelinux.cfg/01-")?;
        Some(format!("# generated for {mac} asked by {}\nDEFAULT local\n", client.ip()).into_bytes())
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    out: std::path::PathBuf,
    addr: SocketAddr,
    stats: Arc<TftpStats>,
}

async fn start() -> Fixture {
    init_tracing();
    need_program("atftp");
    need_program("tftp");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let out = dir.path().join("out");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(root.join("small.txt"), b"hello from the rack\n").unwrap();
    std::fs::write(root.join("exact.bin"), random_bytes(1024, 1)).unwrap(); // a multiple of 512: empty last block
    std::fs::write(root.join("sub/big.bin"), random_bytes(3 * 1024 * 1024 + 77, 2)).unwrap();
    std::fs::write(root.join("rollover.bin"), random_bytes(600 * 1024, 3)).unwrap();
    std::fs::write(dir.path().join("secret"), b"outside the root").unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret"), root.join("escape")).unwrap();
    std::os::unix::fs::symlink("sub/big.bin", root.join("inside-link")).unwrap();
    let mut cfg = TftpConfig::new(&root);
    cfg.timeout = std::time::Duration::from_millis(500);
    let server = TftpServer::bind("127.0.0.1:0".parse().unwrap(), cfg).await.unwrap().with_dynamic(Arc::new(Generated));
    let addr = server.local_addr().unwrap();
    let stats = server.stats();
    tokio::spawn(server.serve());
    Fixture { _dir: dir, root, out, addr, stats }
}

impl Fixture {
    async fn atftp(&self, remote: &str, local: &str, options: &[&str]) -> Output {
        let mut cmd = Command::new("atftp");
        for o in options {
            cmd.arg("--option").arg(o);
        }
        cmd.arg("-g").arg("-r").arg(remote).arg("-l").arg(self.out.join(local));
        cmd.arg(self.addr.ip().to_string()).arg(self.addr.port().to_string());
        tokio::time::timeout(std::time::Duration::from_secs(60), cmd.output()).await.expect("atftp hung").unwrap()
    }

    async fn tftp_hpa(&self, remote: &str, local: &str) -> Output {
        let mut cmd = Command::new("tftp");
        cmd.args(["-m", "binary"]).arg(self.addr.ip().to_string()).arg(self.addr.port().to_string());
        cmd.arg("-c").arg("get").arg(remote).arg(self.out.join(local));
        tokio::time::timeout(std::time::Duration::from_secs(60), cmd.output()).await.expect("tftp hung").unwrap()
    }

    fn same(&self, served: &str, local: &str) {
        let a = std::fs::read(self.root.join(served)).unwrap();
        let b = std::fs::read(self.out.join(local)).unwrap_or_default();
        assert!(a == b, "{local}: {} bytes fetched, {} expected, contents differ", b.len(), a.len());
    }
}

/// Waits for a counter to reach `want`: the server counts a transfer after the
/// client's last ACK, which may be after the client exited.
fn settle(counter: &std::sync::atomic::AtomicU64, want: u64) -> u64 {
    wait_for(std::time::Duration::from_secs(5), || (counter.load(Ordering::Relaxed) >= want).then_some(()));
    counter.load(Ordering::Relaxed)
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tftp_hpa_fetches_byte_identical_files() {
    let f = start().await;
    for (remote, local) in [("small.txt", "a"), ("exact.bin", "b"), ("sub/big.bin", "c"), ("/sub/big.bin", "d")] {
        let o = f.tftp_hpa(remote, local).await;
        assert!(o.status.success(), "{}", text(&o));
        f.same(remote.trim_start_matches('/'), local);
    }
    assert_eq!(settle(&f.stats.completed, 4), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atftp_fetches_with_and_without_blksize_and_windowsize() {
    let f = start().await;
    let cases: &[(&str, &[&str])] = &[
        ("small.txt", &[]),
        ("exact.bin", &[]),
        ("exact.bin", &["blksize 512", "windowsize 4"]),
        ("sub/big.bin", &[]),
        ("sub/big.bin", &["blksize 1468"]),
        ("sub/big.bin", &["blksize 1468", "windowsize 16"]),
        ("sub/big.bin", &["windowsize 8"]),
        ("sub/big.bin", &["blksize 8192", "windowsize 64", "tsize 0"]),
        ("inside-link", &["blksize 1432", "tsize 0"]),
        // 600 KiB in 8-byte blocks: 76,800 blocks, so the 16-bit block
        // number wraps around.
        ("rollover.bin", &["blksize 8", "windowsize 32"]),
    ];
    for (i, (remote, opts)) in cases.iter().enumerate() {
        let local = format!("out{i}");
        let o = f.atftp(remote, &local, opts).await;
        assert!(o.status.success(), "{remote} {opts:?}: {}", text(&o));
        f.same(if *remote == "inside-link" { "sub/big.bin" } else { remote }, &local);
    }
    assert_eq!(settle(&f.stats.completed, cases.len() as u64), cases.len() as u64);
    // atftp really negotiated RFC 7440 windows in the five windowed cases.
    assert_eq!(settle(&f.stats.windowed, 5), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_file_is_error_1() {
    let f = start().await;
    let o = f.atftp("no-such-file", "x", &[]).await;
    assert!(!o.status.success());
    assert!(text(&o).to_lowercase().contains("file not found"), "{}", text(&o));
    let o = f.tftp_hpa("pxelinux.cfg/C0A80001", "y").await;
    // tftp-hpa exits 0 on errors (peers.md); its message is what counts.
    assert!(text(&o).contains("Error code 1"), "{}", text(&o));
    assert_eq!(settle(&f.stats.not_found, 2), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traversal_symlink_escape_and_writes_are_refused() {
    let f = start().await;
    for remote in ["../etc/passwd", "sub/../../secret", "..\\secret", "escape"] {
        let o = f.atftp(remote, "stolen", &[]).await;
        assert!(!o.status.success(), "{remote} was served: {}", text(&o));
        let got = std::fs::read(f.out.join("stolen")).unwrap_or_default();
        assert!(!got.starts_with(b"root:") && !got.starts_with(b"outside"), "{remote} leaked");
    }
    assert_eq!(settle(&f.stats.refused, 4), 4);
    // An absolute path is relative to the root: /etc/passwd is not the host's.
    let o = f.atftp("/etc/passwd", "abs", &[]).await;
    assert!(!o.status.success());
    assert_eq!(settle(&f.stats.not_found, 1), 1);

    std::fs::write(f.out.join("upload"), b"data").unwrap();
    let o = Command::new("atftp")
        .arg("-p")
        .arg("-l")
        .arg(f.out.join("upload"))
        .arg("-r")
        .arg("uploaded")
        .arg(f.addr.ip().to_string())
        .arg(f.addr.port().to_string())
        .output()
        .await
        .unwrap();
    assert!(!o.status.success(), "write accepted: {}", text(&o));
    assert!(!f.root.join("uploaded").exists());
    assert_eq!(settle(&f.stats.refused, 5), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_files_are_served() {
    let f = start().await;
    let o = f.atftp("pxelinux.cfg/01-52-54-00-12-34-56", "cfg", &["tsize 0"]).await;
    assert!(o.status.success(), "{}", text(&o));
    let got = std::fs::read_to_string(f.out.join("cfg")).unwrap();
    assert_eq!(got, "# generated for 52-54-00-12-34-56 asked by 127.0.0.1\nDEFAULT local\n");
    let o = f.tftp_hpa("pxelinux.cfg/01-aa-bb-cc-dd-ee-ff", "cfg2").await;
    assert!(o.status.success());
    assert!(std::fs::read_to_string(f.out.join("cfg2")).unwrap().contains("aa-bb-cc-dd-ee-ff"));
    // Paths the source does not know fall through to the root.
    let o = f.atftp("pxelinux.cfg/default", "cfg3", &[]).await;
    assert!(!o.status.success());
}

/// A hand-driven client for behaviour real clients do not show on loopback:
/// lost windows and partial ACKs.
struct RawClient {
    sock: tokio::net::UdpSocket,
    server: SocketAddr,
}

impl RawClient {
    async fn new(server: SocketAddr) -> RawClient {
        RawClient { sock: tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap(), server }
    }

    async fn send(&self, pkt: &[u8]) {
        self.sock.send_to(pkt, self.server).await.unwrap();
    }

    /// Next packet (opcode, block, payload length) and its source.
    async fn recv(&self, within: std::time::Duration) -> Option<(u16, u16, usize, SocketAddr)> {
        let mut buf = vec![0u8; 70000];
        let (n, from) = tokio::time::timeout(within, self.sock.recv_from(&mut buf)).await.ok()?.ok()?;
        Some((u16::from_be_bytes([buf[0], buf[1]]), u16::from_be_bytes([buf[2], buf[3]]), n - 4, from))
    }
}

fn rrq(path: &str, opts: &[(&str, &str)]) -> Vec<u8> {
    let mut p = vec![0, 1];
    for field in [path, "octet"].into_iter().chain(opts.iter().flat_map(|(k, v)| [*k, *v])) {
        p.extend_from_slice(field.as_bytes());
        p.push(0);
    }
    p
}

fn ack(block: u16) -> [u8; 4] {
    let b = block.to_be_bytes();
    [0, 4, b[0], b[1]]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_windows_are_resent_and_partial_acks_resume_after_the_acked_block() {
    use std::time::Duration;
    let f = start().await;
    let c = RawClient::new(f.addr).await;
    // exact.bin is 1024 bytes: blocks 1-8 of 128 bytes, then an empty block 9.
    c.send(&rrq("exact.bin", &[("blksize", "128"), ("windowsize", "4"), ("timeout", "1"), ("tsize", "0")])).await;
    let (op, _, _, tid) = c.recv(Duration::from_secs(2)).await.expect("OACK");
    assert_eq!(op, 6, "expected an OACK");
    // Do not ACK the OACK: it must come again after the 1 s timeout.
    let (op, _, _, _) = c.recv(Duration::from_secs(3)).await.expect("OACK retransmitted");
    assert_eq!(op, 6);
    c.sock.send_to(&ack(0), tid).await.unwrap();
    let mut blocks = Vec::new();
    for _ in 0..4 {
        let (op, b, len, _) = c.recv(Duration::from_secs(2)).await.expect("window");
        assert_eq!((op, len), (3, 128));
        blocks.push(b);
    }
    assert_eq!(blocks, [1, 2, 3, 4]);
    // Pretend block 3 was lost: ACK 2. The next window starts at 3.
    c.sock.send_to(&ack(2), tid).await.unwrap();
    let mut blocks = Vec::new();
    for _ in 0..4 {
        blocks.push(c.recv(Duration::from_secs(2)).await.expect("window").1);
    }
    assert_eq!(blocks, [3, 4, 5, 6]);
    // A stale duplicate ACK does not trigger a resend (Sorcerer's Apprentice).
    c.sock.send_to(&ack(2), tid).await.unwrap();
    // Say nothing more: the whole window is resent after the timeout.
    let mut blocks = Vec::new();
    for _ in 0..4 {
        blocks.push(c.recv(Duration::from_secs(3)).await.expect("resent window").1);
    }
    assert_eq!(blocks, [3, 4, 5, 6], "the stale ACK caused an early resend, or the timeout none");
    c.sock.send_to(&ack(6), tid).await.unwrap();
    let (_, b7, _, _) = c.recv(Duration::from_secs(2)).await.unwrap();
    let (_, b8, _, _) = c.recv(Duration::from_secs(2)).await.unwrap();
    let (_, b9, len9, _) = c.recv(Duration::from_secs(2)).await.unwrap();
    assert_eq!((b7, b8, b9, len9), (7, 8, 9, 0), "the file ends with an empty block");
    c.sock.send_to(&ack(9), tid).await.unwrap();
    assert_eq!(settle(&f.stats.completed, 1), 1);
    assert!(f.stats.retransmits.load(Ordering::Relaxed) >= 2);

    // A client that vanishes: the server gives up after its retries instead
    // of sending forever (5 retries of 1 s).
    let c = RawClient::new(f.addr).await;
    c.send(&rrq("small.txt", &[("timeout", "1")])).await;
    let mut count = 0;
    while c.recv(Duration::from_secs(3)).await.is_some() {
        count += 1;
    }
    assert_eq!(count, 6, "one DATA packet plus five retransmissions");
    assert_eq!(settle(&f.stats.failed, 1), 1);
}
