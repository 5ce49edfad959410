//! A read-only TFTP server on tokio UDP (RFC 1350) with option negotiation
//! (RFC 2347 OACK), `blksize` (2348), `tsize` and `timeout` (2349) and
//! `windowsize` (RFC 7440).
//!
//! Why our own and not async-tftp: rack.md §3.3 measured async-tftp at half
//! tftpd-hpa's lock-step speed, and its handler mutex opens requests one at a
//! time. Here every transfer is its own task with its own socket (the TID),
//! file data is read ahead in large chunks off the executor, and a
//! [`DynamicSource`] (per-MAC boot configs) is asked concurrently.
//!
//! Safety rules: paths are relative to the root whatever the client sends
//! (`/x`, `\x`), `..` is refused, and the resolved file must stay inside the
//! canonical root (symlinks pointing out are refused). Write requests are
//! refused. A server answers from the address it is bound to: bind one per
//! interface address, as MAAS does (rack.md §2.3).

use std::collections::HashSet;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::net::UdpSocket;

const OP_RRQ: u16 = 1;
const OP_WRQ: u16 = 2;
const OP_DATA: u16 = 3;
const OP_ACK: u16 = 4;
const OP_ERROR: u16 = 5;
const OP_OACK: u16 = 6;

/// TFTP error codes (RFC 1350, 2347).
pub mod code {
    pub const NOT_DEFINED: u16 = 0;
    pub const FILE_NOT_FOUND: u16 = 1;
    pub const ACCESS_VIOLATION: u16 = 2;
    pub const ILLEGAL_OPERATION: u16 = 4;
    pub const OPTION_REFUSED: u16 = 8;
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct TftpConfig {
    /// Directory files are served from.
    pub root: PathBuf,
    /// Largest `blksize` granted (MAAS caps at 8192).
    pub max_blksize: u16,
    /// Largest `windowsize` granted.
    pub max_window: u16,
    /// Retransmission timeout when the client does not ask for one.
    pub timeout: Duration,
    /// Retransmissions of one window/OACK before the transfer is abandoned.
    pub retries: u32,
    /// How much of a file is read per disk read.
    pub read_chunk: usize,
    /// Largest file served in `netascii` mode (converted in memory).
    pub max_netascii: u64,
    /// Transfers in progress at once; a request beyond it gets a TFTP
    /// ERROR ("server busy") instead of a session. Each transfer holds a
    /// socket and a blocking thread (tokio's pool has 512), and anyone on
    /// the PXE network can send requests, so the number must be bounded.
    /// PXE clients retry a refused request after a pause.
    pub max_sessions: usize,
    /// Requests that wait for one of the `max_sessions` slots instead of
    /// being refused: a boot storm's thousand PXE ROMs ask at once, and a
    /// ROM that reads "busy" gives up on the network boot. Each waiting
    /// request holds only a task. Its client's retransmitted RRQs are
    /// ignored meanwhile; one that waited longer than the client keeps
    /// trying (`timeout` × `retries`) is dropped, and the client's next RRQ
    /// is a new request. Beyond this, "server busy".
    pub max_waiting: usize,
}

impl TftpConfig {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        TftpConfig {
            root: root.into(),
            max_blksize: 8192,
            max_window: 64,
            timeout: Duration::from_secs(1),
            retries: 5,
            read_chunk: 256 * 1024,
            max_netascii: 16 * 1024 * 1024,
            max_sessions: 256,
            max_waiting: 4096,
        }
    }
}

/// Generated files (per-MAC iPXE scripts, pxelinux and GRUB configs). Asked
/// first for every read request, with the sanitised path (relative, `/`
/// separated, no `..`) and the client's address; `None` falls through to the
/// root directory.
#[async_trait]
pub trait DynamicSource: Send + Sync {
    async fn generate(&self, path: &str, client: SocketAddr) -> Option<Vec<u8>>;
}

/// Counters, readable while the server runs.
#[derive(Debug, Default)]
pub struct TftpStats {
    pub requests: AtomicU64,
    /// Transfers whose last block the client acknowledged.
    pub completed: AtomicU64,
    /// Transfers where every block was sent to a client that had been
    /// answering, but its ACK of the last block never came. Nothing
    /// retransmits a final ACK (RFC 1350 §6 leaves it to the client to
    /// linger, and most clients exit at once), so a lost one, or one that
    /// arrives after the server's retries ran out, looks like this; the
    /// client most likely has the whole file. Counted apart from
    /// `completed` (unconfirmed) and from `failed` (nothing says it failed).
    pub unconfirmed: AtomicU64,
    /// Transfers abandoned before every block was sent, or whose client
    /// never answered at all, aborted, or a read error.
    pub failed: AtomicU64,
    pub not_found: AtomicU64,
    pub refused: AtomicU64,
    /// Requests answered "server busy": `max_sessions` transfers were
    /// running and `max_waiting` requests waiting.
    pub busy: AtomicU64,
    /// Requests that waited for a free slot before their transfer began.
    pub waited: AtomicU64,
    /// Waiting requests dropped because their client had stopped trying.
    pub wait_expired: AtomicU64,
    pub malformed: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub retransmits: AtomicU64,
    /// Transfers that negotiated a window larger than one block (RFC 7440).
    pub windowed: AtomicU64,
}

/// A refusal sent to the client as a TFTP ERROR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("TFTP error {code}: {message}")]
pub struct TftpError {
    pub code: u16,
    pub message: String,
}

impl TftpError {
    fn new(code: u16, message: impl Into<String>) -> Self {
        TftpError { code, message: message.into() }
    }
}

/// A parsed read/write request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Request {
    write: bool,
    path: String,
    mode: String,
    options: Vec<(String, String)>,
}

fn parse_request(pkt: &[u8]) -> Option<Request> {
    if pkt.len() < 4 {
        return None;
    }
    let op = u16::from_be_bytes([pkt[0], pkt[1]]);
    if op != OP_RRQ && op != OP_WRQ {
        return None;
    }
    let body = &pkt[2..];
    // Fields are NUL-terminated; the last one must be too.
    if body.last() != Some(&0) {
        return None;
    }
    let mut fields = body[..body.len() - 1].split(|b| *b == 0).map(|f| String::from_utf8_lossy(f).into_owned());
    let path = fields.next()?;
    let mode = fields.next()?.to_ascii_lowercase();
    let mut options = Vec::new();
    while let Some(name) = fields.next() {
        // A trailing name without value is ignored (RFC 2347 says malformed;
        // being lenient costs nothing).
        let Some(value) = fields.next() else { break };
        options.push((name.to_ascii_lowercase(), value));
    }
    Some(Request { write: op == OP_WRQ, path, mode, options })
}

/// Makes a client path relative to the root: backslashes become slashes
/// (some firmware asks for `\bootx64.efi`), leading slashes and `.` go, and
/// any `..` is refused.
pub fn sanitize_path(raw: &str) -> Result<String, TftpError> {
    if raw.chars().any(|c| c.is_control()) {
        return Err(TftpError::new(code::ACCESS_VIOLATION, "Access violation"));
    }
    let unified = raw.replace('\\', "/");
    let mut parts = Vec::new();
    for part in unified.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(TftpError::new(code::ACCESS_VIOLATION, "Access violation")),
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(TftpError::new(code::FILE_NOT_FOUND, "File not found"));
    }
    Ok(parts.join("/"))
}

fn error_packet(code: u16, message: &str) -> Vec<u8> {
    let mut p = Vec::with_capacity(5 + message.len());
    p.extend_from_slice(&OP_ERROR.to_be_bytes());
    p.extend_from_slice(&code.to_be_bytes());
    p.extend_from_slice(message.as_bytes());
    p.push(0);
    p
}

/// The bytes of one transfer: a file read in chunks, or bytes in memory.
struct Source {
    file: Option<std::fs::File>,
    size: u64,
    buf: Vec<u8>,
    buf_off: u64,
    chunk: usize,
}

impl Source {
    fn memory(bytes: Vec<u8>) -> Self {
        Source { file: None, size: bytes.len() as u64, buf: bytes, buf_off: 0, chunk: 0 }
    }

    /// Makes sure `[start, end)` (clamped to the size) is in the buffer.
    /// Blocking: runs on the transfer's own thread.
    fn ensure(&mut self, start: u64, end: u64) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let end = end.min(self.size);
        let Some(file) = &self.file else { return Ok(()) };
        if start >= self.buf_off && end <= self.buf_off + self.buf.len() as u64 {
            return Ok(());
        }
        let len = ((end - start) as usize).max(self.chunk).min((self.size - start) as usize);
        self.buf.resize(len, 0);
        file.read_exact_at(&mut self.buf, start)?;
        self.buf_off = start;
        Ok(())
    }

    fn slice(&self, start: u64, len: usize) -> &[u8] {
        let from = (start - self.buf_off) as usize;
        let to = (from + len).min(self.buf.len());
        &self.buf[from.min(to)..to]
    }
}

/// Converts to netascii: LF → CR LF, CR → CR NUL.
fn to_netascii(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 32);
    for &b in data {
        match b {
            b'\n' => out.extend_from_slice(b"\r\n"),
            b'\r' => out.extend_from_slice(b"\r\0"),
            b => out.push(b),
        }
    }
    out
}

/// The TFTP server. `serve` runs until the socket fails.
/// Receive buffer asked for on the listening socket.
const RECV_BUFFER: usize = 4 << 20;

pub struct TftpServer {
    socket: Arc<UdpSocket>,
    cfg: Arc<TftpConfig>,
    root: PathBuf,
    dynamic: Option<Arc<dyn DynamicSource>>,
    stats: Arc<TftpStats>,
    /// Clients with a transfer running or waiting for a slot.
    active: Arc<Mutex<HashSet<SocketAddr>>>,
    /// `max_sessions` permits: a transfer runs while it holds one.
    slots: Arc<tokio::sync::Semaphore>,
}

impl TftpServer {
    /// Binds `addr` and checks the root directory exists.
    pub async fn bind(addr: SocketAddr, cfg: TftpConfig) -> io::Result<Self> {
        let socket = UdpSocket::bind(addr).await?;
        // Room for a boot storm's burst of RRQs (the default buffer holds
        // about a hundred on loopback); the kernel caps it at rmem_max.
        socket2::SockRef::from(&socket).set_recv_buffer_size(RECV_BUFFER)?;
        Self::from_socket(socket, cfg)
    }

    /// Uses an already bound socket (e.g. one bound to a device).
    pub fn from_socket(socket: UdpSocket, cfg: TftpConfig) -> io::Result<Self> {
        let root = std::fs::canonicalize(&cfg.root)
            .map_err(|e| io::Error::new(e.kind(), format!("TFTP root {}: {e}", cfg.root.display())))?;
        Ok(TftpServer {
            socket: Arc::new(socket),
            slots: Arc::new(tokio::sync::Semaphore::new(cfg.max_sessions)),
            cfg: Arc::new(cfg),
            root,
            dynamic: None,
            stats: Arc::default(),
            active: Arc::default(),
        })
    }

    pub fn with_dynamic(mut self, source: Arc<dyn DynamicSource>) -> Self {
        self.dynamic = Some(source);
        self
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    pub fn stats(&self) -> Arc<TftpStats> {
        self.stats.clone()
    }

    /// Receives requests and runs each transfer in its own task.
    pub async fn serve(self) -> io::Result<()> {
        let local = self.socket.local_addr()?;
        tracing::info!(%local, root = %self.root.display(), "TFTP server listening");
        let mut buf = vec![0u8; 2048];
        loop {
            let (n, peer) = match self.socket.recv_from(&mut buf).await {
                Ok(r) => r,
                // ICMP errors from earlier sends surface here on Linux; they
                // concern one client, not the server.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
                Err(e) => return Err(e),
            };
            let Some(req) = parse_request(&buf[..n]) else {
                self.stats.malformed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%peer, len = n, "ignoring a packet that is not a TFTP request");
                continue;
            };
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            if req.write {
                self.stats.refused.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%peer, path = %req.path, "TFTP write request refused (server is read-only)");
                let _ = self.socket.send_to(&error_packet(code::ACCESS_VIOLATION, "Write not allowed"), peer).await;
                continue;
            }
            // Decided under the lock, answered after it (the guard must not
            // be held across the send).
            let admitted = {
                let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
                // A client that retransmits its RRQ while we are already
                // serving it must not get a second transfer.
                if active.contains(&peer) {
                    continue;
                }
                active.len() < self.cfg.max_sessions + self.cfg.max_waiting && active.insert(peer)
            };
            if !admitted {
                self.stats.busy.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%peer, path = %req.path, max = self.cfg.max_sessions, "TFTP server busy; request refused");
                let busy = error_packet(code::NOT_DEFINED, "Server busy: too many transfers in progress, retry");
                let _ = self.socket.send_to(&busy, peer).await;
                continue;
            }
            let session = Session {
                peer,
                bind_ip: local.ip(),
                cfg: self.cfg.clone(),
                root: self.root.clone(),
                dynamic: self.dynamic.clone(),
                stats: self.stats.clone(),
            };
            let (active, slots, stats) = (self.active.clone(), self.slots.clone(), self.stats.clone());
            // A client stops retransmitting its RRQ after about this long.
            let patience = self.cfg.timeout * self.cfg.retries.max(1);
            tokio::spawn(async move {
                let slot = match slots.clone().try_acquire_owned() {
                    Ok(p) => Some(p),
                    Err(_) => {
                        stats.waited.fetch_add(1, Ordering::Relaxed);
                        tokio::time::timeout(patience, slots.acquire_owned()).await.ok().and_then(Result::ok)
                    }
                };
                if slot.is_some() {
                    session.run(req).await;
                } else {
                    stats.wait_expired.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%peer, path = %req.path, "TFTP request waited too long for a free slot; dropped");
                }
                drop(slot);
                active.lock().unwrap_or_else(|e| e.into_inner()).remove(&peer);
            });
        }
    }
}

struct Session {
    peer: SocketAddr,
    bind_ip: std::net::IpAddr,
    cfg: Arc<TftpConfig>,
    root: PathBuf,
    dynamic: Option<Arc<dyn DynamicSource>>,
    stats: Arc<TftpStats>,
}

/// Options granted to one transfer.
struct Granted {
    blksize: usize,
    window: u64,
    timeout: Duration,
    oack: Vec<(String, String)>,
}

/// How a transfer's data phase ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The client acknowledged the last block.
    Done,
    /// Every block was sent and the client had answered during the
    /// transfer, but the ACK of the last block never arrived (see
    /// [`TftpStats::unconfirmed`]).
    Unconfirmed,
    /// The client sent an ERROR.
    ClientError(String),
    /// The client stopped answering (or never answered) before every
    /// block was sent to it.
    GaveUp,
}

impl Session {
    async fn run(self, req: Request) {
        // The transfer socket is a blocking std socket driven by its own
        // thread (below); connected, so the kernel drops packets from other
        // ports (foreign TIDs).
        let socket = match std::net::UdpSocket::bind(SocketAddr::new(self.bind_ip, 0))
            .and_then(|s| s.connect(self.peer).map(|_| s))
        {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(peer = %self.peer, error = %e, "cannot open a TFTP transfer socket");
                return;
            }
        };
        let source = match self.open(&req).await {
            Ok(s) => s,
            Err(e) => {
                if e.code == code::FILE_NOT_FOUND {
                    self.stats.not_found.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(client = %self.peer, path = %req.path, "TFTP file not found");
                } else {
                    self.stats.refused.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(client = %self.peer, path = %req.path, error = %e.message, "TFTP request refused");
                }
                let _ = socket.send(&error_packet(e.code, &e.message));
                return;
            }
        };
        let granted = self.negotiate(&req, source.size);
        if granted.window > 1 {
            self.stats.windowed.fetch_add(1, Ordering::Relaxed);
        }
        tracing::debug!(client = %self.peer, path = %req.path, size = source.size, blksize = granted.blksize,
            window = granted.window, "TFTP transfer starting");
        // The data phase runs on a blocking thread, as tftpd-hpa runs a
        // process per transfer: a blocking send/recv pair per block costs two
        // system calls, where an async socket costs four (the failed read,
        // epoll, the wake-up, the read) and a cross-thread wake-up. That
        // overhead is what made async-tftp half as fast in lock-step.
        let retries = self.cfg.retries;
        let stats = self.stats.clone();
        let size = source.size;
        let start = Instant::now();
        let outcome = tokio::task::spawn_blocking(move || {
            let r = transfer(&socket, source, &granted, retries, &stats);
            if r.is_err() {
                // A read failure (file truncated or removed underneath us):
                // tell the client instead of letting it time out.
                let _ = socket.send(&error_packet(code::NOT_DEFINED, "Read error"));
            }
            r
        })
        .await;
        match outcome {
            Ok(Ok(End::Done)) => {
                self.stats.completed.fetch_add(1, Ordering::Relaxed);
                self.stats.bytes_sent.fetch_add(size, Ordering::Relaxed);
                tracing::info!(client = %self.peer, path = %req.path, bytes = size,
                    ms = start.elapsed().as_millis() as u64, "TFTP transfer complete");
            }
            Ok(Ok(End::Unconfirmed)) => {
                // Not a warning: the data went out and the client had been
                // keeping up; only its last ACK is missing.
                self.stats.unconfirmed.fetch_add(1, Ordering::Relaxed);
                self.stats.bytes_sent.fetch_add(size, Ordering::Relaxed);
                tracing::info!(client = %self.peer, path = %req.path, bytes = size,
                    ms = start.elapsed().as_millis() as u64,
                    "TFTP transfer sent; the client's final ACK did not arrive (lost, or the client left after the last block)");
            }
            Ok(Ok(End::ClientError(msg))) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                tracing::info!(client = %self.peer, path = %req.path, error = %msg, "TFTP client aborted the transfer");
            }
            Ok(Ok(End::GaveUp)) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(client = %self.peer, path = %req.path, "TFTP client stopped answering; transfer abandoned");
            }
            Ok(Err(e)) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(client = %self.peer, path = %req.path, error = %e, "TFTP transfer failed");
            }
            Err(e) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(client = %self.peer, path = %req.path, error = %e, "TFTP transfer thread failed");
            }
        }
    }

    /// Finds the bytes for a request: dynamic source first, then the root.
    async fn open(&self, req: &Request) -> Result<Source, TftpError> {
        let netascii = match req.mode.as_str() {
            "octet" => false,
            "netascii" => true,
            _ => return Err(TftpError::new(code::ILLEGAL_OPERATION, "Unsupported transfer mode")),
        };
        let rel = sanitize_path(&req.path)?;
        if let Some(dynamic) = &self.dynamic {
            if let Some(bytes) = dynamic.generate(&rel, self.peer).await {
                return Ok(Source::memory(if netascii { to_netascii(&bytes) } else { bytes }));
            }
        }
        let root = self.root.clone();
        let chunk = self.cfg.read_chunk;
        let max_netascii = self.cfg.max_netascii;
        tokio::task::spawn_blocking(move || open_under(&root, &rel, chunk, netascii, max_netascii))
            .await
            .map_err(|_| TftpError::new(code::NOT_DEFINED, "Internal error"))?
    }

    fn negotiate(&self, req: &Request, size: u64) -> Granted {
        let mut g = Granted { blksize: 512, window: 1, timeout: self.cfg.timeout, oack: Vec::new() };
        for (name, value) in &req.options {
            let Ok(v) = value.trim().parse::<u64>() else { continue };
            match name.as_str() {
                "blksize" if v >= 8 => {
                    let b = v.min(u64::from(self.cfg.max_blksize).clamp(8, 65464));
                    g.blksize = b as usize;
                    g.oack.push((name.clone(), b.to_string()));
                }
                "windowsize" if v >= 1 => {
                    let w = v.min(u64::from(self.cfg.max_window.max(1)));
                    g.window = w;
                    g.oack.push((name.clone(), w.to_string()));
                }
                "timeout" if (1..=255).contains(&v) => {
                    g.timeout = Duration::from_secs(v);
                    g.oack.push((name.clone(), v.to_string()));
                }
                "tsize" => g.oack.push((name.clone(), size.to_string())),
                // Unknown or out-of-range options are left out of the OACK,
                // which tells the client they were not accepted.
                _ => {}
            }
        }
        g
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// A transfer socket's receive side, with the read timeout it has set.
struct Receiver<'a> {
    socket: &'a std::net::UdpSocket,
    full: Duration,
    current: Duration,
}

impl Receiver<'_> {
    /// Receives the next packet before `deadline`; `Ok(None)` on timeout.
    fn recv_until(&mut self, buf: &mut [u8], deadline: Instant) -> io::Result<Option<usize>> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        // The socket option costs a system call: keep the full timeout for
        // the first wait after a send (the common case) and shorten it only
        // after a stray packet.
        let want = if left + Duration::from_millis(20) >= self.full { self.full } else { left };
        if want != self.current {
            self.socket.set_read_timeout(Some(want))?;
            self.current = want;
        }
        match self.socket.recv(buf) {
            Ok(n) => Ok(Some(n)),
            Err(e) if is_timeout(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The data phase of one transfer (blocking).
fn transfer(
    socket: &std::net::UdpSocket,
    mut source: Source,
    g: &Granted,
    retries: u32,
    stats: &TftpStats,
) -> io::Result<End> {
    let refused = |e: &io::Error| e.kind() == io::ErrorKind::ConnectionRefused;
    socket.set_read_timeout(Some(g.timeout))?;
    let mut receiver = Receiver { socket, full: g.timeout, current: g.timeout };
    let mut rx = vec![0u8; 1024];
    // Whether the client has answered since its request: what tells a
    // missing final ACK from a client that was never there.
    let mut heard = false;
    if !g.oack.is_empty() {
        let mut oack = OP_OACK.to_be_bytes().to_vec();
        for (k, v) in &g.oack {
            oack.extend_from_slice(k.as_bytes());
            oack.push(0);
            oack.extend_from_slice(v.as_bytes());
            oack.push(0);
        }
        let mut tries = 0;
        'oack: loop {
            socket.send(&oack)?;
            let deadline = Instant::now() + g.timeout;
            loop {
                match receiver.recv_until(&mut rx, deadline) {
                    Ok(None) => {
                        tries += 1;
                        if tries > retries {
                            return Ok(End::GaveUp);
                        }
                        stats.retransmits.fetch_add(1, Ordering::Relaxed);
                        continue 'oack;
                    }
                    Err(e) if refused(&e) => return Ok(End::GaveUp),
                    Err(e) => return Err(e),
                    Ok(Some(n)) => match parse_reply(&rx[..n]) {
                        Reply::Ack(0) => {
                            heard = true;
                            break 'oack;
                        }
                        Reply::Error(msg) => return Ok(End::ClientError(msg)),
                        _ => {}
                    },
                }
            }
        }
    }

    let blksize = g.blksize as u64;
    // The last block is the first shorter than blksize (possibly empty).
    let last = source.size / blksize + 1;
    let mut base: u64 = 1;
    let mut tries = 0;
    // Whether the last block has been sent at least once.
    let mut sent_last = false;
    // Out of retries, or the client's port is closed: what that means
    // depends on how far the transfer got.
    let silent = |heard: bool, sent_last: bool| if heard && sent_last { End::Unconfirmed } else { End::GaveUp };
    // One buffer holding a whole window of DATA packets, sent with one
    // sendmmsg call.
    let stride = 4 + g.blksize;
    let mut window = vec![0u8; stride * g.window as usize];
    let mut lens = Vec::with_capacity(g.window as usize);
    loop {
        let end = (base + g.window).min(last + 1);
        source.ensure((base - 1) * blksize, (end - 1) * blksize)?;
        lens.clear();
        for (slot, block) in (base..end).enumerate() {
            let off = (block - 1) * blksize;
            let len = blksize.min(source.size.saturating_sub(off)) as usize;
            let pkt = &mut window[slot * stride..slot * stride + 4 + len];
            pkt[..2].copy_from_slice(&OP_DATA.to_be_bytes());
            pkt[2..4].copy_from_slice(&(block as u16).to_be_bytes());
            pkt[4..].copy_from_slice(source.slice(off, len));
            lens.push(4 + len);
        }
        match send_window(socket, &window, stride, &lens) {
            Ok(()) => sent_last |= end > last,
            Err(e) if refused(&e) => {
                let done = final_ack_queued(socket, &mut rx, base, end, last)?;
                return Ok(if done { End::Done } else { silent(heard, sent_last) });
            }
            Err(e) => return Err(e),
        }
        let deadline = Instant::now() + g.timeout;
        loop {
            match receiver.recv_until(&mut rx, deadline) {
                Ok(None) => {
                    tries += 1;
                    if tries > retries {
                        return Ok(silent(heard, sent_last));
                    }
                    stats.retransmits.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Err(e) if refused(&e) => {
                    let done = final_ack_queued(socket, &mut rx, base, end, last)?;
                    return Ok(if done { End::Done } else { silent(heard, sent_last) });
                }
                Err(e) => return Err(e),
                Ok(Some(n)) => match parse_reply(&rx[..n]) {
                    Reply::Ack(wire) => {
                        heard = true;
                        let Some(next) = acked(wire, base, end) else {
                            // A duplicate or stale ACK: ignore it rather than
                            // resend (Sorcerer's Apprentice); the timeout
                            // covers real loss.
                            continue;
                        };
                        base = next;
                        tries = 0;
                        if base > last {
                            return Ok(End::Done);
                        }
                        // A partial ACK means the client lost a block:
                        // RFC 7440 resumes right after the acknowledged one.
                        break;
                    }
                    Reply::Error(msg) => return Ok(End::ClientError(msg)),
                    Reply::Other => {}
                },
            }
        }
    }
}

/// The window start after an ACK of 16-bit block number `wire`, when it
/// acknowledges a block of the window `[base, end)`; `None` for duplicate
/// and stale ACKs. Block numbers wrap at 16 bits, so the ACK is read
/// relative to the window.
fn acked(wire: u16, base: u64, end: u64) -> Option<u64> {
    let d = u64::from(wire.wrapping_sub((base - 1) as u16));
    (d != 0 && base + d <= end).then_some(base + d)
}

/// After an ICMP "port unreachable" (the client's socket is closed): reads,
/// without waiting, the ACKs the client sent before it closed. Linux reports
/// the socket error before datagrams already queued, so a client that
/// acknowledged the last block and exited while a retransmission was on its
/// way leaves its final ACK behind the error. True when those ACKs reach
/// the last block.
fn final_ack_queued(
    socket: &std::net::UdpSocket,
    rx: &mut [u8],
    mut base: u64,
    end: u64,
    last: u64,
) -> io::Result<bool> {
    socket.set_nonblocking(true)?;
    // Bounded: each retransmitted packet may add one more ICMP error, but
    // no more packets are sent from here.
    for _ in 0..1024 {
        match socket.recv(rx) {
            Ok(n) => {
                if let Reply::Ack(wire) = parse_reply(&rx[..n]) {
                    if let Some(next) = acked(wire, base, end) {
                        base = next;
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    Ok(base > last)
}

/// Sends the packets laid out in `buf` every `stride` bytes (lengths in
/// `lens`) on the connected `socket`: one sendmmsg(2) for the whole window
/// instead of one system call per block.
fn send_window(socket: &std::net::UdpSocket, buf: &[u8], stride: usize, lens: &[usize]) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    if lens.len() == 1 {
        return socket.send(&buf[..lens[0]]).map(|_| ());
    }
    let mut iovs: Vec<libc::iovec> = lens
        .iter()
        .enumerate()
        .map(|(i, len)| libc::iovec { iov_base: buf[i * stride..].as_ptr() as *mut libc::c_void, iov_len: *len })
        .collect();
    let mut msgs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .map(|iov| {
            // SAFETY: mmsghdr is plain data; all-zero is a valid empty header
            // (no address: the socket is connected).
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
            m
        })
        .collect();
    let mut sent = 0;
    while sent < msgs.len() {
        // SAFETY: the headers point at iovecs and buffer slices that outlive
        // the call; the kernel only reads them.
        let n = unsafe {
            libc::sendmmsg(socket.as_raw_fd(), msgs[sent..].as_mut_ptr(), (msgs.len() - sent) as libc::c_uint, 0)
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        sent += n as usize;
    }
    Ok(())
}

enum Reply {
    Ack(u16),
    Error(String),
    Other,
}

fn parse_reply(p: &[u8]) -> Reply {
    if p.len() < 4 {
        return Reply::Other;
    }
    match u16::from_be_bytes([p[0], p[1]]) {
        OP_ACK => Reply::Ack(u16::from_be_bytes([p[2], p[3]])),
        OP_ERROR => {
            let msg = p[4..].split(|b| *b == 0).next().unwrap_or_default();
            Reply::Error(format!("code {}: {}", u16::from_be_bytes([p[2], p[3]]), String::from_utf8_lossy(msg)))
        }
        _ => Reply::Other,
    }
}

/// Opens `rel` under the canonical `root`, refusing anything that resolves
/// outside it (symlinks included) and anything but regular files.
fn open_under(root: &Path, rel: &str, chunk: usize, netascii: bool, max_netascii: u64) -> Result<Source, TftpError> {
    let not_found = || TftpError::new(code::FILE_NOT_FOUND, "File not found");
    let denied = || TftpError::new(code::ACCESS_VIOLATION, "Access violation");
    let full = std::fs::canonicalize(root.join(rel)).map_err(|e| match e.kind() {
        io::ErrorKind::PermissionDenied => denied(),
        _ => not_found(),
    })?;
    if !full.starts_with(root) {
        return Err(denied());
    }
    let file = {
        use std::os::unix::fs::OpenOptionsExt;
        // The canonical path has no symlinks; O_NOFOLLOW keeps a swapped-in
        // one from being followed between the check and the open.
        std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(&full).map_err(|e| {
            match e.kind() {
                io::ErrorKind::NotFound => not_found(),
                _ => denied(),
            }
        })?
    };
    let meta = file.metadata().map_err(|_| not_found())?;
    if !meta.is_file() {
        return Err(not_found());
    }
    if netascii {
        if meta.len() > max_netascii {
            return Err(TftpError::new(code::NOT_DEFINED, "File too large for netascii; use octet mode"));
        }
        let data = std::fs::read(&full).map_err(|_| not_found())?;
        return Ok(Source::memory(to_netascii(&data)));
    }
    Ok(Source { file: Some(file), size: meta.len(), buf: Vec::new(), buf_off: 0, chunk })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_root() {
        assert_eq!(sanitize_path("pxelinux.0").unwrap(), "pxelinux.0");
        assert_eq!(sanitize_path("/grub/./grub.cfg").unwrap(), "grub/grub.cfg");
        assert_eq!(sanitize_path("\\bootx64.efi").unwrap(), "bootx64.efi");
        assert_eq!(sanitize_path("../etc/passwd").unwrap_err().code, code::ACCESS_VIOLATION);
        assert_eq!(sanitize_path("a/../../b").unwrap_err().code, code::ACCESS_VIOLATION);
        assert_eq!(sanitize_path("..\\x").unwrap_err().code, code::ACCESS_VIOLATION);
        assert!(sanitize_path("a\nb").is_err());
        assert!(sanitize_path("/").is_err());
    }

    #[test]
    fn requests_parse_and_garbage_does_not() {
        let r = parse_request(b"\x00\x01boot.ipxe\x00octet\x00BLKSIZE\x001468\x00tsize\x000\x00").unwrap();
        assert_eq!(r.path, "boot.ipxe");
        assert_eq!(r.options, vec![("blksize".into(), "1468".into()), ("tsize".into(), "0".into())]);
        assert!(!r.write);
        assert!(parse_request(b"\x00\x02x\x00octet\x00").unwrap().write);
        assert!(parse_request(b"\x00\x01x\x00octet").is_none());
        assert!(parse_request(b"\x00\x03\x00\x01data").is_none());
        assert!(parse_request(b"").is_none());
        assert!(parse_request(b"\x00\x01\x00").is_none());
    }

    #[test]
    fn netascii_conversion() {
        assert_eq!(to_netascii(b"a\nb\rc"), b"a\r\nb\r\0c");
    }

    #[test]
    fn symlinks_out_of_the_root_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(dir.path().join("secret"), b"x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("link")).unwrap();
        std::fs::write(root.join("ok"), b"fine").unwrap();
        let root = std::fs::canonicalize(&root).unwrap();
        assert_eq!(open_under(&root, "link", 1024, false, 0).err().unwrap().code, code::ACCESS_VIOLATION);
        assert_eq!(open_under(&root, "missing", 1024, false, 0).err().unwrap().code, code::FILE_NOT_FOUND);
        assert_eq!(open_under(&root, "ok", 1024, false, 0).ok().unwrap().size, 4);
    }

    fn ack(block: u16) -> [u8; 4] {
        let b = block.to_be_bytes();
        [0, OP_ACK as u8, b[0], b[1]]
    }

    /// A transfer socket connected to a fresh client socket.
    fn pair() -> (std::net::UdpSocket, std::net::UdpSocket) {
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        server.connect(client.local_addr().unwrap()).unwrap();
        client.connect(server.local_addr().unwrap()).unwrap();
        (server, client)
    }

    fn granted(oack: bool) -> Granted {
        let oack = if oack { vec![("tsize".to_string(), "5".to_string())] } else { Vec::new() };
        Granted { blksize: 512, window: 1, timeout: Duration::from_millis(200), oack }
    }

    #[test]
    fn final_ack_queued_behind_an_icmp_error_completes_the_transfer() {
        // The client ACKs the last block and exits before the server reads
        // that ACK; the server's next send (here the first, on a busy
        // machine a retransmission) draws an ICMP port unreachable, which
        // Linux reports before the queued ACK.
        let (server, client) = pair();
        client.send(&ack(1)).unwrap();
        drop(client);
        let stats = TftpStats::default();
        let end = transfer(&server, Source::memory(b"hello".to_vec()), &granted(false), 2, &stats).unwrap();
        assert_eq!(end, End::Done, "the queued final ACK was not read");
    }

    #[test]
    fn a_missing_final_ack_is_unconfirmed_not_abandoned() {
        // The client ACKs the OACK, takes the only block, and leaves
        // without acknowledging it (its ACK lost): every retransmission
        // then meets a closed port.
        let (server, client) = pair();
        let peer = std::thread::spawn(move || {
            let mut buf = [0u8; 600];
            client.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            loop {
                let n = client.recv(&mut buf).unwrap();
                match u16::from_be_bytes([buf[0], buf[1]]) {
                    OP_OACK => client.send(&ack(0)).map(drop).unwrap(),
                    OP_DATA => return n - 4,
                    op => panic!("unexpected opcode {op}"),
                }
            }
        });
        // Many retries: however late the peer thread answers the OACK, it
        // is answered before the server gives up on it.
        let stats = TftpStats::default();
        let end = transfer(&server, Source::memory(b"hello".to_vec()), &granted(true), 50, &stats).unwrap();
        assert_eq!(peer.join().unwrap(), 5);
        assert_eq!(end, End::Unconfirmed);

        // The same with the client still there but silent: the retries run
        // out instead of an ICMP error ending it. Its ACK of the OACK is
        // queued before the transfer starts.
        let (server, client) = pair();
        client.send(&ack(0)).unwrap();
        let stats = TftpStats::default();
        let end = transfer(&server, Source::memory(b"hello".to_vec()), &granted(true), 2, &stats).unwrap();
        assert_eq!(end, End::Unconfirmed);
        assert_eq!(stats.retransmits.load(Ordering::Relaxed), 2);

        // A client never heard from after its request is abandoned, even
        // though its only block was sent.
        let (server, _client) = pair();
        let end = transfer(&server, Source::memory(b"hello".to_vec()), &granted(false), 1, &stats).unwrap();
        assert_eq!(end, End::GaveUp);
    }
}
