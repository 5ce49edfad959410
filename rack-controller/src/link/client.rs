//! The rack's HTTP client for the region: signs every call (with the rack's
//! own key once the region issued one, else the shared secret), believes
//! only answers the region signed, fails over between the configured region
//! URLs, and downloads boot files into the rack's cache with resume and a
//! checksum check.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::RwLock;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use ironpool_common::rack_link::{self, RPC_PREFIX};

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// No region answered (connection refused, timeout, 5xx).
    #[error("no region reachable: {0}")]
    Unreachable(String),
    /// A region answered 401/403: the key or shared secret is wrong, or
    /// this rack is not allowed to do that.
    #[error("the region refused this rack's credentials: {0}")]
    Refused(String),
    /// The region does not know this rack any more (re-register).
    #[error("the region does not know this rack: {0}")]
    UnknownRack(String),
    /// Any other 4xx, or an answer we cannot read.
    #[error("region protocol error: {0}")]
    Protocol(String),
    #[error("boot file cache: {0}")]
    Io(#[from] std::io::Error),
}

/// Signed calls to whichever region answers.
pub struct RegionClient {
    /// Base URLs without a trailing slash (`http://region:5240`).
    urls: Vec<String>,
    /// The URL that answered last; tried first.
    current: AtomicUsize,
    secret: String,
    /// The rack's own (system_id, key), once the region issued one.
    identity: RwLock<Option<(String, String)>>,
    http: reqwest::Client,
    /// Per-request timeout (a long-polled call adds its wait).
    timeout: Duration,
}

fn base_url(u: &str) -> String {
    // Accept `http://host:5240`, `…/MAAS` and `…/MAAS/` as MAAS's
    // `maas-rack register --url` does.
    let u = u.trim().trim_end_matches('/');
    u.strip_suffix("/MAAS").unwrap_or(u).to_string()
}

/// An error and its causes, `: `-joined: reqwest's own message ("error
/// sending request") says nothing an operator can act on; its sources do.
fn causes(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut next = e.source();
    while let Some(c) = next {
        s.push_str(": ");
        s.push_str(&c.to_string());
        next = c.source();
    }
    s
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

impl RegionClient {
    pub fn new(urls: &[String], secret: &str, timeout: Duration) -> Result<Self, LinkError> {
        Self::with_tls(urls, secret, timeout, None)
    }

    /// As [`Self::new`], with the TLS configuration `https://` regions are
    /// checked with (`super::tls`: pinned fingerprints); `None` keeps
    /// reqwest's default (public CAs).
    pub fn with_tls(
        urls: &[String],
        secret: &str,
        timeout: Duration,
        tls: Option<rustls::ClientConfig>,
    ) -> Result<Self, LinkError> {
        let urls: Vec<String> = urls.iter().map(|u| base_url(u)).filter(|u| !u.is_empty()).collect();
        if urls.is_empty() {
            return Err(LinkError::Protocol("at least one region URL is needed".into()));
        }
        for u in &urls {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(LinkError::Protocol(format!("region URL '{u}' must start with http:// or https://")));
            }
        }
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            // Bounded: a rack keeps a couple of connections per region, never
            // the unbounded pool MAAS racks were reported to open.
            .pool_max_idle_per_host(4);
        if let Some(tls) = tls {
            builder = builder.use_preconfigured_tls(tls);
        }
        let http = builder.build().map_err(|e| LinkError::Protocol(format!("HTTP client: {e}")))?;
        Ok(RegionClient {
            urls,
            current: AtomicUsize::new(0),
            secret: secret.trim().to_string(),
            identity: RwLock::new(None),
            http,
            timeout,
        })
    }

    /// Signs from now on as rack `system_id` with its own `key`.
    pub fn set_identity(&self, system_id: String, key: String) {
        *self.identity.write().unwrap_or_else(|e| e.into_inner()) = Some((system_id, key));
    }

    /// Forgets the rack's key: the next call signs with the shared secret
    /// (only `register` is allowed with it).
    pub fn clear_identity(&self) {
        *self.identity.write().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The rack's (system_id, key), if the region issued one.
    pub fn identity(&self) -> Option<(String, String)> {
        self.identity.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The key to sign with and the rack name for the header.
    fn signer(&self) -> (String, Option<String>) {
        match self.identity() {
            Some((sid, key)) => (key, Some(sid)),
            None => (self.secret.clone(), None),
        }
    }

    /// The region URL currently in use.
    pub fn current_url(&self) -> &str {
        &self.urls[self.current.load(Ordering::Relaxed) % self.urls.len()]
    }

    fn order(&self) -> impl Iterator<Item = (usize, &String)> {
        let start = self.current.load(Ordering::Relaxed) % self.urls.len();
        (0..self.urls.len()).map(move |i| {
            let k = (start + i) % self.urls.len();
            (k, &self.urls[k])
        })
    }

    /// POSTs `body` as JSON to `RPC_PREFIX + call`, trying each region URL
    /// in turn from the last one that answered.
    pub async fn post<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        call: &str,
        body: &Req,
    ) -> Result<Resp, LinkError> {
        self.post_waiting(call, body, std::time::Duration::ZERO).await
    }

    /// [`RegionClient::post`] for a call the region may hold for `wait` (a
    /// long-polled sync): the request timeout is `wait` plus the usual one.
    pub async fn post_waiting<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        call: &str,
        body: &Req,
        wait: std::time::Duration,
    ) -> Result<Resp, LinkError> {
        let body = serde_json::to_vec(body).map_err(|e| LinkError::Protocol(e.to_string()))?;
        let path = format!("{RPC_PREFIX}{call}");
        let (key, rack) = self.signer();
        let mut failures = Vec::new();
        for (k, base) in self.order() {
            let (auth, nonce) = rack_link::sign_request(&key, rack.as_deref(), "POST", &path, now(), &body);
            let r = self
                .http
                .post(format!("{base}{path}"))
                .header(rack_link::AUTH_HEADER, auth)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .timeout(self.timeout + wait)
                .body(body.clone())
                .send()
                .await;
            match r {
                Err(e) => failures.push(format!("{base}: {}", causes(&e))),
                Ok(resp) if resp.status().is_server_error() => {
                    failures.push(format!("{base}: HTTP {}", resp.status()));
                }
                Ok(resp) => {
                    self.current.store(k, Ordering::Relaxed);
                    return decode_signed(resp, &key, &self.secret, &nonce).await;
                }
            }
        }
        Err(LinkError::Unreachable(failures.join("; ")))
    }

    /// Fetches boot file `sha256` into `dest`, resuming a partial
    /// `dest.part` with a Range request, checking size and hash, then
    /// renaming: a half-downloaded file is never visible under `dest`.
    pub async fn fetch_image(&self, sha256: &str, size: u64, dest: &Path) -> Result<(), LinkError> {
        if !(sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit())) {
            return Err(LinkError::Protocol(format!("'{sha256}' is not a SHA-256")));
        }
        let part = dest.with_extension("part");
        let path = format!("{RPC_PREFIX}images/{sha256}");
        let mut failures = Vec::new();
        for (k, base) in self.order() {
            let have = tokio::fs::metadata(&part).await.map(|m| m.len()).unwrap_or(0);
            let (key, rack) = self.signer();
            let (auth, _) = rack_link::sign_request(&key, rack.as_deref(), "GET", &path, now(), b"");
            let mut req = self.http.get(format!("{base}{path}")).header(rack_link::AUTH_HEADER, auth);
            if have > 0 && have < size {
                req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
            }
            let mut resp = match req.send().await {
                Err(e) => {
                    failures.push(format!("{base}: {}", causes(&e)));
                    continue;
                }
                Ok(r) if r.status().is_server_error() => {
                    failures.push(format!("{base}: HTTP {}", r.status()));
                    continue;
                }
                Ok(r) if !r.status().is_success() => return decode::<serde_json::Value>(r).await.map(|_| ()),
                Ok(r) => r,
            };
            self.current.store(k, Ordering::Relaxed);
            let append = resp.status() == reqwest::StatusCode::PARTIAL_CONTENT;
            let mut f = tokio::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .append(append)
                .truncate(!append)
                .open(&part)
                .await?;
            loop {
                match resp.chunk().await {
                    Ok(Some(bytes)) => f.write_all(&bytes).await?,
                    Ok(None) => break,
                    Err(e) => {
                        // Keep the part for the next try's Range request.
                        f.flush().await?;
                        return Err(LinkError::Unreachable(format!("{base}: download of {sha256} broke off: {e}")));
                    }
                }
            }
            f.flush().await?;
            drop(f);
            let (len, digest) = hash_file(&part).await?;
            if len != size || digest != sha256 {
                let _ = tokio::fs::remove_file(&part).await;
                return Err(LinkError::Protocol(format!(
                    "boot file {sha256}: got {len} bytes with SHA-256 {digest}, expected {size} bytes"
                )));
            }
            tokio::fs::rename(&part, dest).await?;
            return Ok(());
        }
        Err(LinkError::Unreachable(failures.join("; ")))
    }

    /// Forwards a request to the region unchanged (the rack proxies
    /// `/MAAS/…` for machines that only reach the rack, as MAAS racks do).
    pub async fn forward(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        headers: reqwest::header::HeaderMap,
        body: Vec<u8>,
    ) -> Result<reqwest::Response, LinkError> {
        let mut failures = Vec::new();
        for (k, base) in self.order() {
            let r = self
                .http
                .request(method.clone(), format!("{base}{path_and_query}"))
                .headers(headers.clone())
                .body(body.clone())
                .send()
                .await;
            match r {
                Ok(resp) => {
                    self.current.store(k, Ordering::Relaxed);
                    return Ok(resp);
                }
                Err(e) => failures.push(format!("{base}: {}", causes(&e))),
            }
        }
        Err(LinkError::Unreachable(failures.join("; ")))
    }
}

/// Reads an answer to a request signed with `key` that carried `nonce`,
/// believing it only if the region signed it: a 2xx with `key` (so nobody
/// holding just the shared secret can answer for the region to a rack with
/// its own key), a 404 with `key` or the shared secret (the region answers
/// for a rack it no longer knows with the shared secret; believing it makes
/// the rack register afresh). Refusals (401/403) need no signature: the
/// rack does nothing on them but retry.
async fn decode_signed<T: DeserializeOwned>(
    resp: reqwest::Response,
    key: &str,
    secret: &str,
    nonce: &str,
) -> Result<T, LinkError> {
    let status = resp.status().as_u16();
    let sig = resp.headers().get(rack_link::REGION_AUTH_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let body = resp.bytes().await.map_err(|e| LinkError::Protocol(e.to_string()))?;
    let by = |k: &str| rack_link::verify_response(k, status, nonce, &sig, &body);
    let believed = match status {
        200..=299 => by(key),
        401 | 403 => true,
        _ => by(key) || by(secret),
    };
    if !believed {
        return Err(LinkError::Protocol(format!(
            "answer (HTTP {status}) not signed by the region: ignored (a proxy or an impostor in between?)"
        )));
    }
    let text = String::from_utf8_lossy(&body);
    match status {
        200..=299 => serde_json::from_slice(&body).map_err(|e| {
            LinkError::Protocol(format!("unreadable answer ({e}): {}", text.chars().take(200).collect::<String>()))
        }),
        401 | 403 => Err(LinkError::Refused(text.into_owned())),
        404 | 410 => Err(LinkError::UnknownRack(text.into_owned())),
        _ => Err(LinkError::Protocol(format!("HTTP {status}: {text}"))),
    }
}

/// Errors of boot-file downloads (unsigned; the rack acts on none of them).
async fn decode<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, LinkError> {
    let status = resp.status();
    let text = resp.text().await.map_err(|e| LinkError::Protocol(e.to_string()))?;
    match status.as_u16() {
        200..=299 => serde_json::from_str(&text).map_err(|e| {
            LinkError::Protocol(format!("unreadable answer ({e}): {}", text.chars().take(200).collect::<String>()))
        }),
        401 | 403 => Err(LinkError::Refused(text)),
        404 | 410 => Err(LinkError::UnknownRack(text)),
        _ => Err(LinkError::Protocol(format!("HTTP {status}: {text}"))),
    }
}

/// Length and SHA-256 (hex) of a file, read off the async runtime.
pub async fn hash_file(p: &Path) -> std::io::Result<(u64, String)> {
    let p = p.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut f = std::fs::File::open(&p)?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut len = 0u64;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            len += n as u64;
            h.update(&buf[..n]);
        }
        Ok((len, rack_link::hex(&h.finalize())))
    })
    .await
    .map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(base_url("http://r:5240/MAAS/"), "http://r:5240");
        assert_eq!(base_url("http://r:5240/MAAS"), "http://r:5240");
        assert_eq!(base_url("http://r:5240"), "http://r:5240");
        assert!(RegionClient::new(&["ftp://x".into()], "s", Duration::from_secs(1)).is_err());
        assert!(RegionClient::new(&[], "s", Duration::from_secs(1)).is_err());
    }
}
