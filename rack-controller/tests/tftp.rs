//! The TFTP server against real clients: tftp-hpa's `tftp` and `atftp`.
//!
//! What is asserted is what a client gets (byte-identical files, the
//! options it was granted, the errors it is told) and what the server counts
//! for scripted clients whose every packet the test controls. Counters are
//! not compared exactly after real clients: UDP retransmissions (a client's
//! RRQ sent again, a final ACK lost or late on a loaded machine) legitimately
//! change them.

// Tests fail by panicking: unwrap/expect are how they assert.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
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
    start_with(|_| {}).await
}

async fn start_with(tweak: impl FnOnce(&mut TftpConfig)) -> Fixture {
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
    tweak(&mut cfg);
    let server = TftpServer::bind("127.0.0.1:0".parse().unwrap(), cfg).await.unwrap().with_dynamic(Arc::new(Generated));
    let addr = server.local_addr().unwrap();
    let stats = server.stats();
    tokio::spawn(server.serve());
    Fixture { _dir: dir, root, out, addr, stats }
}

impl Fixture {
    async fn atftp(&self, remote: &str, local: &str, options: &[&str]) -> Output {
        self.atftp_with(remote, local, options, &[]).await
    }

    /// atftp with `--trace`, which prints every packet (for [`oack_seen`]).
    async fn atftp_traced(&self, remote: &str, local: &str, options: &[&str]) -> Output {
        self.atftp_with(remote, local, options, &["--trace"]).await
    }

    async fn atftp_with(&self, remote: &str, local: &str, options: &[&str], flags: &[&str]) -> Output {
        let mut cmd = Command::new("atftp");
        cmd.args(flags);
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

/// Waits for a counter to reach at least `want` and returns its value: the
/// server counts a request or a transfer in its own task, which may run
/// after the client has exited. Returns as soon as the value is reached;
/// the limit only bounds a failing test.
fn settle(counter: &std::sync::atomic::AtomicU64, want: u64) -> u64 {
    wait_for(std::time::Duration::from_secs(30), || (counter.load(Ordering::Relaxed) >= want).then_some(()));
    counter.load(Ordering::Relaxed)
}

/// The options of the OACK atftp received, from its `--trace` output
/// (`received OACK <tsize: 20, blksize: 8192, >`); `None` when no OACK
/// came, i.e. the server answered with data at once.
fn oack_seen(o: &Output) -> Option<BTreeMap<String, String>> {
    let trace = String::from_utf8_lossy(&o.stderr);
    let line = trace.lines().find_map(|l| l.strip_prefix("received OACK <"))?;
    Some(
        line.trim_end_matches('>')
            .split(',')
            .filter_map(|kv| {
                let (k, v) = kv.split_once(':')?;
                Some((k.trim().to_string(), v.trim().to_string()))
            })
            .collect(),
    )
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
        let o = f.atftp_traced(remote, &local, opts).await;
        assert!(o.status.success(), "{remote} {opts:?}: {}", text(&o).lines().last().unwrap_or_default());
        let served = if *remote == "inside-link" { "sub/big.bin" } else { remote };
        f.same(served, &local);
        // What the client was granted: every option as asked (all are
        // within the server's limits), tsize as the file's size; no OACK
        // when nothing was asked.
        let size = std::fs::metadata(f.root.join(served)).unwrap().len();
        let want: BTreeMap<String, String> = opts
            .iter()
            .map(|o| {
                let (k, v) = o.split_once(' ').unwrap();
                (k.to_string(), if k == "tsize" { size.to_string() } else { v.to_string() })
            })
            .collect();
        match oack_seen(&o) {
            None => assert!(want.is_empty(), "{remote} {opts:?}: no OACK"),
            Some(got) => assert_eq!(got, want, "{remote} {opts:?}: options granted"),
        }
    }
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
    // At least: a client that sent its RRQ again before the ERROR reached
    // it is answered (and counted) twice.
    assert!(settle(&f.stats.not_found, 2) >= 2);
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
    // Counted at least once each (a repeated RRQ is answered again).
    assert!(settle(&f.stats.refused, 4) >= 4);
    // An absolute path is relative to the root: /etc/passwd is not the host's.
    let o = f.atftp("/etc/passwd", "abs", &[]).await;
    assert!(!o.status.success());
    assert!(text(&o).to_lowercase().contains("file not found"), "{}", text(&o));
    assert!(settle(&f.stats.not_found, 1) >= 1);
    let refused = f.stats.refused.load(Ordering::Relaxed);

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
    assert!(settle(&f.stats.refused, refused + 1) > refused);
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
/// lost windows, partial ACKs, missing ACKs.
struct RawClient {
    sock: tokio::net::UdpSocket,
    server: SocketAddr,
}

/// Longest wait for a packet the server owes: its retransmission timeout
/// is 1 s; the rest is room for a loaded machine.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(15);

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

    /// The next `count` DATA blocks sent as one run of consecutive block
    /// numbers starting at `first`, as (block, payload length).
    ///
    /// If the test is descheduled for longer than the server's timeout,
    /// the server rightly sends a window (or the OACK) again, and that
    /// copy is queued ahead of the packets the test is waiting for. Packets
    /// are therefore read as runs of consecutive blocks, and runs that do
    /// not start at `first` (an earlier window sent again) are skipped, so
    /// the test checks what the server sends, not how fast the test runs.
    async fn window(&self, first: u16, count: usize) -> Vec<(u16, usize)> {
        let mut run: Vec<(u16, usize)> = Vec::new();
        loop {
            let Some((op, block, len, _)) = self.recv(PATIENCE).await else {
                panic!("no window of {count} blocks from block {first}; last run {run:?}")
            };
            if op != 3 {
                continue;
            }
            let follows = matches!(run.last(), Some((b, _)) if block == b.wrapping_add(1));
            if !follows {
                run.clear();
                if block != first {
                    continue;
                }
            }
            run.push((block, len));
            if run.len() == count {
                return run;
            }
        }
    }

    /// Packets already queued on the socket, without waiting for more.
    async fn queued(&self) -> usize {
        let mut n = 0;
        while self.recv(std::time::Duration::from_millis(100)).await.is_some() {
            n += 1;
        }
        n
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

fn blocks(run: &[(u16, usize)]) -> Vec<u16> {
    run.iter().map(|(b, _)| *b).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_windows_are_resent_and_partial_acks_resume_after_the_acked_block() {
    let f = start().await;
    let c = RawClient::new(f.addr).await;
    // exact.bin is 1024 bytes: blocks 1-8 of 128 bytes, then an empty block 9.
    c.send(&rrq("exact.bin", &[("blksize", "128"), ("windowsize", "4"), ("timeout", "1"), ("tsize", "0")])).await;
    let (op, _, _, tid) = c.recv(PATIENCE).await.expect("OACK");
    assert_eq!(op, 6, "expected an OACK");
    // Do not ACK the OACK: it must come again after the 1 s timeout.
    let (op, _, _, _) = c.recv(PATIENCE).await.expect("OACK retransmitted");
    assert_eq!(op, 6);
    c.sock.send_to(&ack(0), tid).await.unwrap();
    let w = c.window(1, 4).await;
    assert_eq!(blocks(&w), [1, 2, 3, 4]);
    assert!(w.iter().all(|(_, len)| *len == 128), "{w:?}");
    // Pretend block 3 was lost: ACK 2. The next window starts at 3.
    c.sock.send_to(&ack(2), tid).await.unwrap();
    assert_eq!(blocks(&c.window(3, 4).await), [3, 4, 5, 6]);
    // A stale duplicate ACK is ignored rather than answered with a resend
    // (Sorcerer's Apprentice). Say nothing more: the whole window is resent
    // after the timeout.
    c.sock.send_to(&ack(2), tid).await.unwrap();
    assert_eq!(blocks(&c.window(3, 4).await), [3, 4, 5, 6], "the window was not resent after the timeout");
    c.sock.send_to(&ack(6), tid).await.unwrap();
    assert_eq!(c.window(7, 3).await, [(7, 128), (8, 128), (9, 0)], "the file ends with an empty block");
    c.sock.send_to(&ack(9), tid).await.unwrap();
    assert_eq!(settle(&f.stats.completed, 1), 1);
    assert!(f.stats.retransmits.load(Ordering::Relaxed) >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_clients_are_given_up_on_and_a_missing_final_ack_is_unconfirmed() {
    let f = start().await;
    // A client that vanishes after its request: the server gives up after
    // its retries instead of sending forever (5 retries of 1 s).
    let vanished = RawClient::new(f.addr).await;
    vanished.send(&rrq("small.txt", &[("timeout", "1")])).await;
    // A client that acknowledges the OACK, receives the only block and
    // never acknowledges it, as when its final ACK is lost: every block
    // went out, so the transfer is unconfirmed, not abandoned.
    let silent = RawClient::new(f.addr).await;
    silent.send(&rrq("small.txt", &[("timeout", "1"), ("tsize", "0")])).await;
    let (op, _, _, tid) = silent.recv(PATIENCE).await.expect("OACK");
    assert_eq!(op, 6);
    silent.sock.send_to(&ack(0), tid).await.unwrap();
    assert_eq!(silent.window(1, 1).await, [(1, 20)]);

    // Both end once the server has run out of retries; count what the
    // vanished client was sent only then, from its socket's queue, so the
    // count does not depend on how fast anything ran.
    assert_eq!(settle(&f.stats.failed, 1), 1);
    assert_eq!(settle(&f.stats.unconfirmed, 1), 1);
    assert_eq!(vanished.queued().await, 6, "one DATA packet plus five retransmissions");
    assert_eq!(f.stats.completed.load(Ordering::Relaxed), 0);
}

fn error_pkt(code: u16, msg: &str) -> Vec<u8> {
    let mut p = vec![0, 5];
    p.extend_from_slice(&code.to_be_bytes());
    p.extend_from_slice(msg.as_bytes());
    p.push(0);
    p
}

// Anyone on the PXE network could open transfers without bound (each holds
// a socket and a thread). With `max_sessions` running and `max_waiting`
// waiting, a new request gets a TFTP ERROR "server busy"; once a transfer
// ends, requests are served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_max_sessions_are_refused_busy() {
    // Sessions wait long for ACKs, so the two held ones outlive the test
    // steps however slowly it runs; they are ended by the clients' ERRORs.
    let f = start_with(|c| {
        c.max_sessions = 2;
        c.max_waiting = 0;
        c.timeout = std::time::Duration::from_secs(30);
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let c = RawClient::new(f.addr).await;
        c.send(&rrq("sub/big.bin", &[])).await;
        let (op, block, _, tid) = c.recv(PATIENCE).await.expect("DATA");
        assert_eq!((op, block), (3, 1), "a held session gets its first block");
        held.push((c, tid));
    }

    let third = RawClient::new(f.addr).await;
    third.send(&rrq("small.txt", &[])).await;
    let (op, code, _, _) = third.recv(PATIENCE).await.expect("an answer");
    assert_eq!((op, code), (5, 0), "ERROR, code 0 (server busy)");
    assert_eq!(f.stats.busy.load(Ordering::Relaxed), 1);

    // One held client gives up: its session ends and a request is served.
    let (first, tid) = held.remove(0);
    first.sock.send_to(&error_pkt(0, "client abort"), tid).await.unwrap();
    let mut served = false;
    for _ in 0..100 {
        let c = RawClient::new(f.addr).await;
        c.send(&rrq("small.txt", &[])).await;
        match c.recv(PATIENCE).await.expect("an answer") {
            (3, 1, len, tid) => {
                assert_eq!(len, 20);
                c.sock.send_to(&ack(1), tid).await.unwrap();
                served = true;
                break;
            }
            (5, 0, _, _) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert!(served, "a request was served once a session ended");
    for (c, tid) in held {
        c.sock.send_to(&error_pkt(0, "client abort"), tid).await.unwrap();
    }
}

// A boot storm asks for more transfers than `max_sessions` at once: the
// extra requests wait for a slot (a PXE ROM told "busy" gives up on the
// network boot) and start when one frees; their retransmitted RRQs do not
// start a second transfer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_max_sessions_wait_for_a_slot() {
    let f = start_with(|c| {
        c.max_sessions = 1;
        c.timeout = std::time::Duration::from_secs(30);
    })
    .await;
    let holder = RawClient::new(f.addr).await;
    holder.send(&rrq("sub/big.bin", &[])).await;
    let (op, block, _, held_tid) = holder.recv(PATIENCE).await.expect("DATA");
    assert_eq!((op, block), (3, 1), "the held session gets its first block");

    let waiting = RawClient::new(f.addr).await;
    waiting.send(&rrq("small.txt", &[])).await;
    assert!(waiting.recv(std::time::Duration::from_millis(500)).await.is_none(), "no answer while it waits");
    waiting.send(&rrq("small.txt", &[])).await; // the client's retransmission
                                                // The slot frees: the waiting request is served, once.
    holder.sock.send_to(&error_pkt(0, "client abort"), held_tid).await.unwrap();
    let (op, block, len, tid) = waiting.recv(PATIENCE).await.expect("DATA once the slot is free");
    assert_eq!((op, block, len), (3, 1, 20));
    waiting.sock.send_to(&ack(1), tid).await.unwrap();
    assert!(
        waiting.recv(std::time::Duration::from_millis(500)).await.is_none(),
        "the retransmitted RRQ started no second transfer"
    );
    assert_eq!(f.stats.busy.load(Ordering::Relaxed), 0, "nobody was told busy");
    assert_eq!(f.stats.waited.load(Ordering::Relaxed), 1);
}
