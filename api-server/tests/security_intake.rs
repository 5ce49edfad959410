//! The HTTP intake under attack (issue 15: C1, H2, L): bodies are read only
//! after authentication and under the caller's and the action's limit, slow
//! bodies are cut off, multipart parsing is bounded, and the rack's HTTP
//! server holds to the same rules and never proxies the rack link.
//!
//! The attacks are sent over raw TCP, so that a test controls how much of a
//! body is sent and when, and sees the answer while the client is still
//! sending. They run on SQLite only: the intake never depends on the backend.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use ironpool_rack::link::{HttpLimits, Rack, RackOptions};
use ironpool_region::config::Pace;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MIB: usize = 1024 * 1024;

/// How a test sends a body.
#[derive(Clone, Copy)]
struct Send {
    /// Bytes of body to send (after the head).
    len: usize,
    chunk: usize,
    /// Pause after each chunk.
    pause: Duration,
    /// Frame the body as `Transfer-Encoding: chunked` (the head must say so).
    chunked: bool,
}

impl Send {
    fn fast(len: usize) -> Send {
        Send { len, chunk: 64 * 1024, pause: Duration::ZERO, chunked: false }
    }
}

/// What came back.
#[derive(Debug)]
struct Exchange {
    status: u16,
    response: String,
    /// Body bytes the client had handed to the socket when the answer's
    /// head arrived.
    sent_before_answer: usize,
    answered_after: Duration,
    /// The server closed the connection within 5 s of answering (it did
    /// not go on reading what the client still sends).
    closed: bool,
}

/// Sends `head` and then the body `how` describes, reading the answer at
/// the same time.
async fn exchange(origin: &str, head: String, how: Send) -> Exchange {
    let addr = origin.trim_start_matches("http://");
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let writer = tokio::spawn(async move {
        if wr.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let block = vec![b'x'; how.chunk];
        let mut left = how.len;
        while left > 0 {
            let n = left.min(how.chunk);
            let ok = if how.chunked {
                let mut framed = format!("{n:x}\r\n").into_bytes();
                framed.extend_from_slice(&block[..n]);
                framed.extend_from_slice(b"\r\n");
                wr.write_all(&framed).await.is_ok()
            } else {
                wr.write_all(&block[..n]).await.is_ok()
            };
            if !ok {
                return;
            }
            counter.fetch_add(n, Ordering::SeqCst);
            left -= n;
            if !how.pause.is_zero() {
                tokio::time::sleep(how.pause).await;
            }
        }
        if how.chunked {
            let _ = wr.write_all(b"0\r\n\r\n").await;
        }
        // Hold the connection open: the server decides when it ends.
        std::future::pending::<()>().await;
    });
    let start = Instant::now();
    let mut buf = Vec::new();
    let mut tmp = vec![0u8; 16 * 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(60), rd.read(&mut tmp))
            .await
            .expect("an answer within 60 s")
            .unwrap_or(0);
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    let answered_after = start.elapsed();
    let sent_before_answer = sent.load(Ordering::SeqCst);
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match rd.read(&mut tmp).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        }
    })
    .await
    .is_ok();
    writer.abort();
    let response = String::from_utf8_lossy(&buf).into_owned();
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Exchange { status, response, sent_before_answer, answered_after, closed }
}

fn post_head(path: &str, extra: &str, length: Option<usize>) -> String {
    let framing = match length {
        Some(n) => format!("Content-Length: {n}\r\n"),
        None => "Transfer-Encoding: chunked\r\n".into(),
    };
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n{extra}{framing}\r\n"
    )
}

fn rss_mib() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<usize>().unwrap() / 1024
}

/// A multipart body with one text field per pair and, if given, a file part.
fn multipart(fields: &[(&str, &str)], file: Option<(&str, usize)>) -> Vec<u8> {
    let mut b = Vec::new();
    for (k, v) in fields {
        b.extend_from_slice(format!("--b\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes());
    }
    if let Some((name, len)) = file {
        b.extend_from_slice(
            format!("--b\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\n\r\n").as_bytes(),
        );
        b.extend(std::iter::repeat_n(b'z', len));
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(b"--b--\r\n");
    b
}

async fn post_multipart(s: &TestServer, key: Option<&ApiKey>, rel: &str, body: Vec<u8>) -> Resp {
    let mut r = client().post(s.api(rel)).header("content-type", "multipart/form-data; boundary=b").body(body);
    if let Some(k) = key {
        r = r.header("authorization", k.plaintext());
    }
    read(r.send().await.unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_uploads_to_authenticated_endpoints_are_refused_unread() {
    let s = TestServer::start(Backend::Sqlite);
    let before = rss_mib();
    // The audit's 200 MiB: answered 401 at once, not after buffering it.
    for rel in ["files/", "boot-resources/"] {
        let x =
            exchange(&s.origin, post_head(&format!("/MAAS/api/2.0/{rel}"), "", Some(200 * MIB)), Send::fast(200 * MIB))
                .await;
        assert_eq!(x.status, 401, "{rel}: {}", x.response);
        // Socket buffers on loopback hold a few MiB; the server read none.
        assert!(x.sent_before_answer < 32 * MIB, "{rel}: {} bytes sent before the answer", x.sent_before_answer);
        assert!(x.closed, "{rel}: the connection stays open after refusing an unread body");
    }
    // Chunked, so that the server cannot tell its length: still refused
    // unread, and the connection is closed rather than drained.
    let x = exchange(
        &s.origin,
        post_head("/MAAS/api/2.0/files/", "", None),
        Send { len: 200 * MIB, chunk: 16 * 1024, pause: Duration::from_millis(20), chunked: true },
    )
    .await;
    assert_eq!(x.status, 401, "{}", x.response);
    assert!(x.closed, "a chunked body the server refused is drained instead of the connection closed");
    let grown = rss_mib().saturating_sub(before);
    assert!(grown < 64, "the process grew by {grown} MiB answering anonymous uploads");
    // The server still answers.
    assert_eq!(s.get(None, "version/").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_bodies_have_a_small_limit() {
    let s = TestServer::start(Backend::Sqlite);
    // Enlistment (machines/ create) is anonymous; 2 MiB is over the 1 MiB
    // anonymous limit: refused from the declared length, unread...
    let x = exchange(&s.origin, post_head("/MAAS/api/2.0/machines/", "", Some(2 * MIB)), Send::fast(2 * MIB)).await;
    assert_eq!(x.status, 413, "{}", x.response);
    assert!(x.response.contains("1048576"), "{}", x.response);
    // ...or, chunked, as soon as the first MiB is over.
    let x = exchange(
        &s.origin,
        post_head("/MAAS/api/2.0/machines/", "", None),
        Send { len: 8 * MIB, chunk: 64 * 1024, pause: Duration::ZERO, chunked: true },
    )
    .await;
    assert_eq!(x.status, 413, "{}", x.response);
    assert!(x.closed);
    // Enlistment itself still works anonymously.
    let r = post_multipart(
        &s,
        None,
        "machines/",
        multipart(&[("architecture", "amd64/generic"), ("mac_addresses", "52:54:00:15:00:01")], None),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authenticated_bodies_get_the_limit_of_their_action() {
    let s = TestServer::start(Backend::Sqlite);
    let admin = s.user("admin", true).await;
    // users/ create takes the 2 MiB default.
    let x = exchange(
        &s.origin,
        post_head("/MAAS/api/2.0/users/", &format!("Authorization: {}\r\n", admin.plaintext()), Some(3 * MIB)),
        Send::fast(3 * MIB),
    )
    .await;
    assert_eq!(x.status, 413, "{}", x.response);
    // boot-resources/ create takes 1 GiB, but its import op only the
    // default: the limit is the action's, not the largest of the handler.
    let x = exchange(
        &s.origin,
        post_head(
            "/MAAS/api/2.0/boot-resources/?op=import",
            &format!("Authorization: {}\r\n", admin.plaintext()),
            Some(3 * MIB),
        ),
        Send::fast(3 * MIB),
    )
    .await;
    assert_eq!(x.status, 413, "{}", x.response);
    // The same when the op comes inside the multipart body.
    let r =
        post_multipart(&s, Some(&admin), "boot-resources/", multipart(&[("op", "import")], Some(("x", 3 * MIB)))).await;
    assert_eq!(r.status, 413, "{}", r.body);
    // Uploads keep their own, larger limit.
    let r =
        post_multipart(&s, Some(&admin), "files/", multipart(&[("filename", "three-mib")], Some(("file", 3 * MIB))))
            .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = s.get(Some(&admin), "files/?op=get&filename=three-mib").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 3 * MIB);
    // A form body is read before authentication (OAuth signs its fields)
    // under the form limit.
    let r = read(
        client()
            .post(s.api("users/"))
            .header("authorization", admin.plaintext())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(vec![b'a'; 3 * MIB])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 413, "{}", r.body);
    // Bad credentials are refused before the body is read.
    let mut wrong = admin.clone();
    wrong.secret = "not-the-secret".into();
    let x = exchange(
        &s.origin,
        post_head("/MAAS/api/2.0/files/", &format!("Authorization: {}\r\n", wrong.plaintext()), Some(200 * MIB)),
        Send::fast(200 * MIB),
    )
    .await;
    assert_eq!(x.status, 401, "{}", x.response);
    assert!(x.sent_before_answer < 32 * MIB, "{} bytes sent before the answer", x.sent_before_answer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_bodies_have_bounded_parts() {
    let s = TestServer::start(Backend::Sqlite);
    let admin = s.user("admin", true).await;
    let many: Vec<(String, String)> = (0..20_001).map(|i| (format!("f{i}"), "v".to_string())).collect();
    let fields: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = post_multipart(&s, Some(&admin), "users/", multipart(&fields, None)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("Too many parts"), "{}", r.body);
    // Anonymous too (the anonymous limit allows many tiny parts).
    let tiny: Vec<u8> = std::iter::repeat_n(&b"--b\n\n\n"[..], 30_000).flatten().copied().chain(*b"--b--").collect();
    assert!(tiny.len() < MIB);
    let r = post_multipart(&s, None, "machines/", tiny).await;
    assert_eq!(r.status, 400, "{}", r.body);
    // A part whose headers never end.
    let endless =
        [&b"--b\r\nContent-Disposition: form-data; name=\"x\"\r\nX: "[..], &vec![b'y'; 64 * 1024], b"\r\n--b--"]
            .concat();
    let r = post_multipart(&s, None, "machines/", endless).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("headers are longer"), "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_time_out() {
    let s = TestServer::start_with(Backend::Sqlite, |c| {
        c.body_pace = Pace { timeout: Duration::from_secs(1), min_rate: 64 * 1024 };
    });
    let admin = s.user("admin", true).await;
    let auth = || format!("Authorization: {}\r\n", admin.plaintext());
    // A body that stops: 408 after the pause limit, anonymous or not, API
    // or metadata.
    for (path, extra) in [
        ("/MAAS/api/2.0/machines/", String::new()),
        ("/MAAS/api/2.0/users/", auth()),
        ("/MAAS/metadata/latest/", String::new()),
    ] {
        let x = exchange(
            &s.origin,
            post_head(path, &extra, Some(1000)),
            Send { len: 100, chunk: 100, pause: Duration::ZERO, chunked: false },
        )
        .await;
        assert_eq!(x.status, 408, "{path}: {}", x.response);
        assert!(
            x.answered_after >= Duration::from_millis(900) && x.answered_after < Duration::from_secs(10),
            "{path}: answered after {:?}",
            x.answered_after
        );
        assert!(x.closed, "{path}");
    }
    // A body that never pauses long but trickles: cut off by the minimum
    // rate, after the same grace.
    let x = exchange(
        &s.origin,
        post_head("/MAAS/api/2.0/users/", &auth(), Some(100_000)),
        Send { len: 100_000, chunk: 10, pause: Duration::from_millis(200), chunked: false },
    )
    .await;
    assert_eq!(x.status, 408, "{}", x.response);
    assert!(x.answered_after < Duration::from_secs(10), "{:?}", x.answered_after);
    // Many slow bodies at once do not keep the server from answering.
    let slow: Vec<_> = (0..50)
        .map(|_| {
            let origin = s.origin.clone();
            tokio::spawn(async move {
                exchange(
                    &origin,
                    post_head("/MAAS/api/2.0/machines/", "", Some(1000)),
                    Send { len: 10, chunk: 10, pause: Duration::ZERO, chunked: false },
                )
                .await
            })
        })
        .collect();
    let start = Instant::now();
    assert_eq!(s.get(None, "version/").await.status, 200);
    assert!(start.elapsed() < Duration::from_secs(5));
    for x in slow {
        assert_eq!(x.await.unwrap().status, 408);
    }
}

async fn rack_for(s: &TestServer, dir: &std::path::Path, limits: HttpLimits) -> Rack {
    let mut o = RackOptions::new(vec![s.origin.clone()], s.state.rack_secret.clone(), dir.to_path_buf());
    o.hostname = "rack-intake".into();
    o.interfaces = Some(vec![ironpool_common::rack_link::RackInterface {
        name: "eth0".into(),
        mac: "52:54:00:15:00:aa".into(),
        addresses: vec!["10.15.0.1/24".into()],
    }]);
    o.http_listen = Some("127.0.0.1:0".parse().unwrap());
    o.tftp_listen = None;
    o.dhcp_listen = None;
    o.http_limits = limits;
    Rack::start(o).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_racks_http_server_has_the_same_intake_rules() {
    let s = TestServer::start(Backend::Sqlite);
    let dir = tempfile::tempdir().unwrap();
    let limits =
        HttpLimits { pace: Pace { timeout: Duration::from_secs(1), min_rate: 64 * 1024 }, ..Default::default() };
    let rack = rack_for(&s, dir.path(), limits).await;
    let origin = format!("http://{}", rack.http_addr.unwrap());

    // The proxy works...
    let r = client().get(format!("{origin}/MAAS/api/2.0/version/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // ...but never for the rack link, however the path is spelled.
    for path in ["/MAAS/rpc/v1/sync", "//MAAS/rpc/v1/sync", "/MAAS//rpc/v1/sync", "/MAAS/api/../rpc/v1/sync"] {
        let x = exchange(
            &origin,
            format!("POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n"),
            Send::fast(2),
        )
        .await;
        assert_eq!(x.status, 404, "{path}: {}", x.response);
        assert!(x.response.contains("not served by the rack"), "{path}: {}", x.response);
    }
    // Body limits: anonymous 1 MiB, and a body is refused from its
    // declared length before the rack buffers any of it.
    let before = rss_mib();
    let x = exchange(&origin, post_head("/MAAS/api/2.0/machines/", "", Some(150 * MIB)), Send::fast(150 * MIB)).await;
    assert_eq!(x.status, 413, "{}", x.response);
    assert!(x.sent_before_answer < 32 * MIB);
    let x = exchange(
        &origin,
        post_head("/MAAS/api/2.0/machines/", "", None),
        Send { len: 150 * MIB, chunk: 64 * 1024, pause: Duration::ZERO, chunked: true },
    )
    .await;
    assert_eq!(x.status, 413, "{}", x.response);
    assert!(x.closed);
    let x = exchange(
        &origin,
        post_head("/MAAS/metadata/latest/", "Authorization: OAuth oauth_token=\"x\"\r\n", Some(150 * MIB)),
        Send::fast(150 * MIB),
    )
    .await;
    assert_eq!(x.status, 413, "{}", x.response);
    let grown = rss_mib().saturating_sub(before);
    assert!(grown < 64, "the process grew by {grown} MiB");
    // A slow body times out.
    let x = exchange(
        &origin,
        post_head("/MAAS/api/2.0/machines/", "", Some(1000)),
        Send { len: 10, chunk: 10, pause: Duration::ZERO, chunked: false },
    )
    .await;
    assert_eq!(x.status, 408, "{}", x.response);
    assert!(x.answered_after < Duration::from_secs(10));
    // Enlistment through the rack still works.
    let r = client()
        .post(format!("{origin}/MAAS/api/2.0/machines/"))
        .header("content-type", "multipart/form-data; boundary=b")
        .body(multipart(&[("architecture", "amd64/generic"), ("mac_addresses", "52:54:00:15:00:02")], None))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    rack.stop().await;
}
