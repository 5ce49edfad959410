//! Uploads under attack and at scale (issue 15: H2, M3): `files/` and
//! inline `boot-resources/` content is parsed as it arrives and written to
//! a spool file, never held whole in memory; a failed or broken upload
//! leaves no spool file; the metadata API refuses bad node credentials
//! before it reads a body.
//!
//! Every test takes one lock, because the large upload measures this
//! process's memory (the region runs in it) and other tests would blur it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::time::Duration;

use common::*;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MIB: usize = 1024 * 1024;
const BOUNDARY: &str = "upload-boundary-15";

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// 1 MiB of deterministic noise; block `i` of an upload is this with `i`
/// in its first bytes, so a shifted, repeated or truncated copy differs.
fn noise() -> Vec<u8> {
    pattern(MIB, 0x9e37_79b9_7f4a_7c15)
}

fn block(noise: &[u8], i: usize, len: usize) -> Vec<u8> {
    let mut b = noise[..len].to_vec();
    let tag = (i as u64).to_le_bytes();
    let n = tag.len().min(len);
    b[..n].copy_from_slice(&tag[..n]);
    b
}

fn spool_files(s: &TestServer) -> Vec<std::path::PathBuf> {
    match std::fs::read_dir(s.state.spool.dir()) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// The multipart framing of a `files/` upload: (before the content, after it).
fn files_framing(filename: &str) -> (String, String) {
    (
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"filename\"\r\n\r\n{filename}\r\n\
             --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"file\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        ),
        format!("\r\n--{BOUNDARY}--\r\n"),
    )
}

fn upload_head(s: &TestServer, key: &ApiKey, body_len: usize) -> String {
    let host = s.origin.trim_start_matches("http://");
    format!(
        "POST /MAAS/api/2.0/files/ HTTP/1.1\r\nHost: {host}\r\nAuthorization: {}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {body_len}\r\nConnection: close\r\n\r\n",
        key.plaintext()
    )
}

/// Uploads `len` bytes of generated content to `files/` over raw TCP (the
/// client holds one block at a time); returns the status and the
/// content's SHA-256.
async fn generated_upload(s: &TestServer, key: &ApiKey, filename: &str, len: usize) -> (u16, String) {
    let (before, after) = files_framing(filename);
    let mut conn = TcpStream::connect(s.origin.trim_start_matches("http://")).await.unwrap();
    conn.write_all(upload_head(s, key, before.len() + len + after.len()).as_bytes()).await.unwrap();
    conn.write_all(before.as_bytes()).await.unwrap();
    let noise = noise();
    let mut sha = Sha256::new();
    let mut sent = 0;
    let mut i = 0;
    while sent < len {
        let b = block(&noise, i, (len - sent).min(MIB));
        sha.update(&b);
        conn.write_all(&b).await.unwrap();
        sent += b.len();
        i += 1;
    }
    conn.write_all(after.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(300), conn.read_to_end(&mut answer)).await.unwrap().unwrap();
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    assert_eq!(status, 201, "{answer}");
    (status, hex(&sha.finalize()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// SHA-256 and length of a stored file as `op=get` streams it.
async fn download_sha(s: &TestServer, key: &ApiKey, filename: &str) -> (String, usize) {
    let mut r = client()
        .get(s.api(&format!("files/?op=get&filename={filename}")))
        .header("authorization", key.plaintext())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut sha = Sha256::new();
    let mut n = 0;
    while let Some(piece) = r.chunk().await.unwrap() {
        sha.update(&piece);
        n += piece.len();
    }
    (hex(&sha.finalize()), n)
}

// 300 MiB through `files/` on each backend: the region's resident memory
// (this process's peak, reset before the upload) grows by far less than
// the upload, the content round-trips byte-identical, and the spool is
// empty afterwards. The old body layer buffered the whole body (and the
// PostgreSQL copy took it from memory), so its peak grew by > 300 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_300_mib_upload_streams_to_disk() {
    let _serial = SERIAL.lock().await;
    let len = 300 * MIB + 12_345;
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let s = TestServer::start(backend);
        let juju = s.user("juju", false).await;
        // Warm up the paths an upload takes, so that one-time allocations
        // do not count as growth.
        generated_upload(&s, &juju, "warm-up", 2 * MIB).await;
        let before = status_kib("VmRSS:");
        let peak_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        let started = std::time::Instant::now();
        let (_, sha) = generated_upload(&s, &juju, "big", len).await;
        let took = started.elapsed();
        let after = if peak_reset { status_kib("VmHWM:") } else { status_kib("VmRSS:") };
        let grown_mib = after.saturating_sub(before) / 1024;
        eprintln!(
            "{backend:?}: 300 MiB upload in {took:?}; RSS {} MiB before, {} {} MiB during/after (+{grown_mib} MiB)",
            before / 1024,
            if peak_reset { "peak" } else { "RSS" },
            after / 1024
        );
        assert!(grown_mib < 64, "{backend:?}: the region grew by {grown_mib} MiB for a 300 MiB upload");

        let stored = s.state.config.data_dir.join("files").join("sha256").join(&sha);
        assert_eq!(std::fs::metadata(&stored).unwrap().len(), len as u64, "the store holds the content");
        assert_eq!(download_sha(&s, &juju, "big").await, (sha.clone(), len));
        if backend == Backend::Postgres {
            let sha2 = sha.clone();
            let chunks = s.state.db.run(move |c| ironpool_region::db::files::chunk_count(c, &sha2)).await.unwrap();
            assert_eq!(chunks, len.div_ceil(MIB) as i64, "the shared copy for other regions");
        }
        assert_eq!(spool_files(&s), Vec::<std::path::PathBuf>::new(), "{backend:?}: spool files left");
        s.stop().await;
    }
}

/// python-libmaas's and the maas CLI's shape: every part base64-encoded,
/// wrapped at 76 columns, with MIME headers.
fn libmaas_body(fields: &[(&str, &[u8])], file: (&str, &[u8])) -> Vec<u8> {
    use base64::Engine as _;
    let wrap = |data: &[u8]| {
        let enc = base64::engine::general_purpose::STANDARD.encode(data);
        enc.as_bytes().chunks(76).map(|l| String::from_utf8(l.to_vec()).unwrap()).collect::<Vec<_>>().join("\r\n")
    };
    let mut b = String::new();
    for (k, v) in fields {
        b.push_str(&format!(
            "--{BOUNDARY}\r\nContent-Type: text/plain; charset=\"utf-8\"\r\nMIME-Version: 1.0\r\n\
             Content-Transfer-Encoding: base64\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{}\r\n",
            wrap(v)
        ));
    }
    b.push_str(&format!(
        "--{BOUNDARY}\r\nContent-Type: application/octet-stream\r\nMIME-Version: 1.0\r\n\
         Content-Transfer-Encoding: base64\r\nContent-Disposition: form-data; name=\"{0}\"; filename=\"{0}\"\r\n\r\n{1}\r\n",
        file.0,
        wrap(file.1)
    ));
    b.push_str(&format!("--{BOUNDARY}--\r\n"));
    b.into_bytes()
}

async fn post_body(s: &TestServer, key: &ApiKey, rel: &str, body: Vec<u8>) -> Resp {
    read(
        client()
            .post(s.api(rel))
            .header("authorization", key.plaintext())
            .header("content-type", format!("multipart/form-data; boundary=\"{BOUNDARY}\""))
            .body(body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

// Base64 parts decode while they stream: content of every length modulo 3
// (padding or none) round-trips, as does a multi-MiB file.
backend_tests!(base64_uploads_decode_while_streaming, |b| async move {
    let _serial = SERIAL.lock().await;
    let s = TestServer::start(b);
    let juju = s.user("juju", false).await;
    let noise = noise();
    for len in [0, 1, 2, 3, 4, 5, 3 * MIB + 1] {
        let data: Vec<u8> = (0..len).map(|i| noise[i % MIB] ^ (i / MIB) as u8).collect();
        let name = format!("b64-{len}");
        let r = post_body(&s, &juju, "files/", libmaas_body(&[("filename", name.as_bytes())], ("file", &data))).await;
        assert_eq!(r.status, 201, "{len}: {}", r.body);
        assert_eq!(download_sha(&s, &juju, &name).await, (hex(&Sha256::digest(&data)), len), "{len}");
    }
    // A base64 part that is not base64 is a 400 naming it, and nothing stays.
    let mut bad = libmaas_body(&[("filename", b"bad")], ("file", b"0123456789"));
    let at = bad.windows(4).position(|w| w == b"MDEy").unwrap();
    bad[at] = b'*';
    let r = post_body(&s, &juju, "files/", bad).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("base64"), "{}", r.body);
    assert!(spool_files(&s).is_empty());
});

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting until {what}");
}

// Uploads that fail leave no spool file: a connection that breaks while
// the content arrives (seen in the spool meanwhile, so the test is about
// the spooled path), uploads refused after their content was spooled, and
// what a crash left (swept at start).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_uploads_leave_no_spool_file() {
    let _serial = SERIAL.lock().await;
    let mut s = TestServer::start(Backend::Sqlite);
    let juju = s.user("juju", false).await;
    let admin = s.user("admin", true).await;

    // The connection breaks half-way through 64 MiB.
    let (before, after) = files_framing("broken");
    let mut conn = TcpStream::connect(s.origin.trim_start_matches("http://")).await.unwrap();
    conn.write_all(upload_head(&s, &juju, before.len() + 64 * MIB + after.len()).as_bytes()).await.unwrap();
    conn.write_all(before.as_bytes()).await.unwrap();
    let noise = noise();
    for i in 0..8 {
        conn.write_all(&block(&noise, i, MIB)).await.unwrap();
    }
    wait_for("the upload is being spooled", || {
        spool_files(&s).iter().any(|p| std::fs::metadata(p).map(|m| m.len() > 0).unwrap_or(false))
    })
    .await;
    drop(conn);
    wait_for("the broken upload's spool file is removed", || spool_files(&s).is_empty()).await;
    assert_eq!(s.get(Some(&juju), "files/?prefix=broken").await.json(), serde_json::json!([]));

    // Refused after the content was spooled: two file parts...
    let two = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"filename\"\r\n\r\ntwo\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"a\"; filename=\"a\"\r\n\r\n{}\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"b\"; filename=\"b\"\r\n\r\nb\r\n--{BOUNDARY}--\r\n",
        "a".repeat(100_000)
    );
    let r = post_body(&s, &juju, "files/", two.into_bytes()).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(spool_files(&s).is_empty(), "{:?}", spool_files(&s));
    // ...a boot resource whose content does not match its SHA-256...
    let image = |fields: &[(&str, &str)], content: &[u8]| {
        let mut b = String::new();
        for (k, v) in fields {
            b.push_str(&format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"));
        }
        let mut b = b.into_bytes();
        b.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"content\"\r\n\r\n")
                .as_bytes(),
        );
        b.extend_from_slice(content);
        b.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        b
    };
    let content = block(&noise, 7, MIB);
    let fields = [("name", "custom/spooled"), ("architecture", "amd64/generic"), ("sha256", &"0".repeat(64))];
    let r = post_body(&s, &admin, "boot-resources/", image(&fields, &content)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("SHA256"), "{}", r.body);
    assert!(spool_files(&s).is_empty());
    let real = hex(&Sha256::digest(&content));
    assert!(!s.state.config.data_dir.join("images").join("sha256").join(&real).exists());
    // ...or an invalid name; and the same content accepted is in the store.
    let r = post_body(
        &s,
        &admin,
        "boot-resources/",
        image(&[("name", "bad name"), ("architecture", "amd64/generic")], &content),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(spool_files(&s).is_empty());
    let fields = [("name", "custom/spooled"), ("architecture", "amd64/generic"), ("sha256", real.as_str())];
    let r = post_body(&s, &admin, "boot-resources/", image(&fields, &content)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(std::fs::read(s.state.config.data_dir.join("images").join("sha256").join(&real)).unwrap(), content);
    assert!(spool_files(&s).is_empty());
    // An op inside the body naming an action that takes files in memory:
    // what was spooled is read back, then removed.
    let r = post_body(&s, &admin, "boot-resources/", image(&[("op", "stop_import")], b"small")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(spool_files(&s).is_empty());

    // A crash's leftovers are swept when the region starts.
    std::fs::write(s.state.spool.dir().join("upload-left-by-a-crash"), b"x").unwrap();
    s.stop().await;
    s.restart();
    assert!(spool_files(&s).is_empty(), "{:?}", spool_files(&s));
}

/// Sends a request head (and no body) and returns the status line's code:
/// what the server answers without reading the body it was promised.
async fn head_only(origin: &str, head: String) -> (u16, String) {
    let mut conn = TcpStream::connect(origin.trim_start_matches("http://")).await.unwrap();
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(60), conn.read(&mut tmp)).await.expect("an answer").unwrap();
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    (text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0), text)
}

// The metadata API verifies credentials offered in the header or the query
// before it reads a body: a bad token with a body that never comes is a
// 401 (reading first, the old code waited for the body and answered 408
// when the pace ran out). A good token still signals with files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_authenticates_before_the_body() {
    let _serial = SERIAL.lock().await;
    let s = TestServer::start_with(Backend::Sqlite, |c| {
        c.body_pace = ironpool_region::config::Pace { timeout: Duration::from_secs(20), min_rate: 64 * 1024 };
    });
    let admin = s.user("admin", true).await;
    let host = s.origin.trim_start_matches("http://").to_string();
    let bad = ApiKey { consumer: "nobody".into(), token: "no-such-token".into(), secret: "x".into() };
    // The head of a signal promising 8 MiB, signed in the header with `key`.
    let signal_head = |key: &ApiKey| {
        format!(
            "POST /MAAS/metadata/latest/?op=signal HTTP/1.1\r\nHost: {host}\r\nAuthorization: {}\r\n\
             Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {}\r\n\r\n",
            key.plaintext(),
            8 * MIB
        )
    };
    let (status, text) = head_only(&s.origin, signal_head(&bad)).await;
    assert_eq!(status, 401, "{text}");
    // Credentials in the query string: the same.
    let (status, text) = head_only(
        &s.origin,
        format!(
            "POST /MAAS/metadata/latest/?op=signal&oauth_consumer_key=nobody&oauth_token=no-such-token&\
             oauth_signature_method=PLAINTEXT&oauth_signature=%26x&oauth_timestamp={}&oauth_nonce=q1&oauth_version=1.0 \
             HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: {}\r\n\r\n",
            chrono::Utc::now().timestamp(),
            8 * MIB
        ),
    )
    .await;
    assert_eq!(status, 401, "{text}");
    // A user's token is not a node's: 403, also before the body.
    let (status, text) = head_only(&s.origin, signal_head(&admin)).await;
    assert_eq!(status, 403, "{text}");

    // The machine's own token: signal with a file part works.
    let r = s
        .post(
            Some(&admin),
            "machines/",
            &[("architecture", "amd64/generic"), ("mac_addresses", "52:54:00:15:0a:01"), ("power_type", "manual")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sid = r.json()["system_id"].as_str().unwrap().to_string();
    let t = s.get(Some(&admin), &format!("machines/{sid}/?op=get_token")).await.json();
    let node = ApiKey {
        consumer: t["consumer_key"].as_str().unwrap().into(),
        token: t["token_key"].as_str().unwrap().into(),
        secret: t["token_secret"].as_str().unwrap().into(),
    };
    let output = vec![b'o'; 3 * MIB];
    let form = reqwest::multipart::Form::new()
        .text("status", "WORKING")
        .text("name", "00-upload-test")
        .text("exit_status", "0")
        .part("00-upload-test.out", reqwest::multipart::Part::bytes(output).file_name("00-upload-test.out"));
    let r = post_form_as(format!("{}/MAAS/metadata/latest/?op=signal", s.origin), &node, form).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sid2 = sid.clone();
    let results = s
        .state
        .db
        .run(move |c| {
            let n = ironpool_region::db::nodes::by_system_id(c, &sid2)?.unwrap();
            ironpool_region::db::metadata::results_of(c, n.id)
        })
        .await
        .unwrap();
    assert!(!results.is_empty(), "the signal's file was recorded");
}
