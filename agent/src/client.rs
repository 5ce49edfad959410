//! The metadata protocol, client side: reading a preseed (cloud-config) for
//! the metadata URL and credentials, OAuth PLAINTEXT signing, meta-data and
//! user-data reads, `signal` with multipart files, and the status webhook.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

/// Everything that can go wrong talking to the region.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("HTTP error talking to {url}: {source}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url} answered {status}: {body}")]
    Status { url: String, status: u16, body: String },
    #[error("{0}")]
    Protocol(String),
}

pub type Result<T> = std::result::Result<T, AgentError>;

/// A node's OAuth credentials (consumer secret is empty, as in MAAS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub consumer_key: String,
    pub token_key: String,
    pub token_secret: String,
}

/// What a preseed (cloud-config) tells the agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preseed {
    pub metadata_url: String,
    pub credentials: Option<Credentials>,
    /// The status webhook (`reporting: maas: endpoint:`).
    pub webhook: Option<String>,
    /// Ironpool's `ironpool: phase:` (commissioning, deploying, …, enlisting).
    pub phase: String,
    pub system_id: Option<String>,
    /// The region's `/MAAS/` URL (for enlistment's API calls).
    pub region_url: Option<String>,
    /// Disk erasing: `quick`, `secure` or `full`.
    pub erase: Option<String>,
    /// Deploying ephemerally (MAAS 3.5's `ephemeral_deploy`): no disk is written.
    pub ephemeral_deploy: bool,
}

/// Reads the keys the agent needs out of a cloud-config. Not a YAML parser:
/// it follows the two-level `section:` / `  subsection:` / `    key: value`
/// shape MAAS and Ironpool write, and ignores everything else.
pub fn parse_preseed(text: &str) -> Result<Preseed> {
    let mut p = Preseed::default();
    let (mut ck, mut tk, mut ts) = (None, None, None);
    let mut section = String::new();
    let mut sub = String::new();
    for line in text.lines() {
        let trimmed = line.trim_end();
        if trimmed.trim_start().starts_with('#') || trimmed.trim().is_empty() {
            continue;
        }
        let indent = trimmed.len() - trimmed.trim_start().len();
        let Some((k, v)) = trimmed.trim_start().split_once(':') else { continue };
        let k = k.trim();
        let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
        match indent {
            0 => {
                section = k.to_string();
                sub.clear();
            }
            2 if v.is_empty() => sub = k.to_string(),
            _ => {}
        }
        match (section.as_str(), sub.as_str(), k) {
            ("datasource", "MAAS", "metadata_url") => p.metadata_url = v,
            ("datasource", "MAAS", "consumer_key") => ck = Some(v),
            ("datasource", "MAAS", "token_key") => tk = Some(v),
            ("datasource", "MAAS", "token_secret") => ts = Some(v),
            ("reporting", _, "endpoint") => p.webhook = Some(v),
            ("ironpool", _, "phase") => p.phase = v,
            ("ironpool", _, "system_id") => p.system_id = Some(v),
            ("ironpool", _, "region_url") => p.region_url = Some(v),
            ("ironpool", _, "erase") => p.erase = Some(v),
            ("ironpool", _, "ephemeral_deploy") => p.ephemeral_deploy = v == "true",
            _ => {}
        }
    }
    if p.metadata_url.is_empty() {
        return Err(AgentError::Protocol("the preseed has no datasource MAAS metadata_url".into()));
    }
    if let (Some(consumer_key), Some(token_key), Some(token_secret)) = (ck, tk, ts) {
        p.credentials = Some(Credentials { consumer_key, token_key, token_secret });
    }
    Ok(p)
}

/// The `cloud-config-url=` of a kernel command line.
pub fn cloud_config_url(cmdline: &str) -> Option<String> {
    cmdline.split_whitespace().find_map(|w| w.strip_prefix("cloud-config-url=")).map(str::to_string)
}

static NONCE: AtomicU64 = AtomicU64::new(0);

/// An OAuth 1.0 PLAINTEXT `Authorization` header (what MAAS's own tools send).
pub fn oauth_header(c: &Credentials) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let nonce = format!("{}{}{}", now.as_nanos(), std::process::id(), NONCE.fetch_add(1, Ordering::Relaxed));
    let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
    format!(
        "OAuth realm=\"\", oauth_version=\"1.0\", oauth_signature_method=\"PLAINTEXT\", \
         oauth_consumer_key=\"{}\", oauth_token=\"{}\", oauth_signature=\"{}\", \
         oauth_timestamp=\"{}\", oauth_nonce=\"{}\"",
        enc(&c.consumer_key),
        enc(&c.token_key),
        enc(&format!("&{}", c.token_secret)),
        now.as_secs(),
        nonce
    )
}

/// The first pause before a metadata request is tried again.
const RETRY_FIRST: Duration = Duration::from_millis(250);
/// How long a metadata request keeps being tried while the region is
/// unreachable or unavailable.
const RETRY_FOR: Duration = Duration::from_secs(60);

/// An HTTP client fit for the agent: rustls, bounded timeouts.
pub fn try_http_client() -> std::result::Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder().timeout(Duration::from_secs(60)).connect_timeout(Duration::from_secs(10)).build()
}

/// [`try_http_client`] for callers with no error to return (the region's
/// simulated machines).
// Building fails only when the TLS backend cannot initialise: rustls with
// its compiled-in webpki roots reads no certificate files and takes no
// custom roots here, so that is a broken build, not a runtime condition.
#[allow(clippy::expect_used)]
pub fn http_client() -> reqwest::Client {
    try_http_client().expect("a client without custom TLS roots builds")
}

async fn check(url: &str, r: std::result::Result<reqwest::Response, reqwest::Error>) -> Result<reqwest::Response> {
    let r = r.map_err(|source| AgentError::Http { url: url.to_string(), source })?;
    if r.status().is_success() {
        Ok(r)
    } else {
        let status = r.status().as_u16();
        let body = r.text().await.unwrap_or_default();
        Err(AgentError::Status { url: url.to_string(), status, body })
    }
}

/// Fetches a URL anonymously (preseeds).
pub async fn fetch_text(http: &reqwest::Client, url: &str) -> Result<String> {
    let r = check(url, http.get(url).send().await).await?;
    r.text().await.map_err(|source| AgentError::Http { url: url.to_string(), source })
}

/// A node's view of the metadata service.
#[derive(Clone)]
pub struct MetadataClient {
    http: reqwest::Client,
    /// `http://region/MAAS/metadata/` (with the trailing slash).
    base: String,
    creds: Credentials,
}

impl MetadataClient {
    pub fn new(http: reqwest::Client, metadata_url: &str, creds: Credentials) -> Self {
        let mut base = metadata_url.to_string();
        if !base.ends_with('/') {
            base.push('/');
        }
        MetadataClient { http, base, creds }
    }

    fn url(&self, rel: &str) -> String {
        format!("{}latest/{rel}", self.base)
    }

    /// The HTTP client (for downloads that are not metadata: a script's
    /// URL packages).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Sends the request `build` makes, signed afresh on each attempt, and
    /// tries again while the region cannot be reached or says it is
    /// unavailable (a connection refused or cut, 502/503/504): a region
    /// restarting, or the rack failing over to another region, is a pause
    /// for a booting machine, not the end of its phase (cloud-init's URL
    /// helper waits likewise). Other answers come back as they are.
    async fn send(
        &self,
        url: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        self.send_noting_doubt(url, build).await.0
    }

    /// [`send`](Self::send), and whether an earlier attempt may have
    /// reached the region all the same: a connection cut after sending,
    /// or a 502–504 from the rack's proxy when its region went away
    /// mid-request. A refused connection delivered nothing.
    async fn send_noting_doubt(
        &self,
        url: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> (Result<reqwest::Response>, bool) {
        let mut wait = RETRY_FIRST;
        let started = std::time::Instant::now();
        let mut doubt = false;
        loop {
            let r = build(&self.http).header("Authorization", oauth_header(&self.creds)).send().await;
            let (transient, maybe_delivered) = match &r {
                Ok(resp) => {
                    let t = matches!(resp.status().as_u16(), 502..=504);
                    (t, t)
                }
                Err(e) => (e.is_connect() || e.is_request(), !e.is_connect() && e.is_request()),
            };
            if !transient || started.elapsed() >= RETRY_FOR {
                return (r.map_err(|source| AgentError::Http { url: url.to_string(), source }), doubt);
            }
            doubt |= maybe_delivered;
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(5));
        }
    }

    /// GETs `latest/<rel>`; `None` on 404.
    pub async fn get(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        let url = self.url(rel);
        let r = self.send(&url, |h| h.get(&url)).await?;
        if r.status().as_u16() == 404 {
            return Ok(None);
        }
        let r = check(&url, Ok(r)).await?;
        let b = r.bytes().await.map_err(|source| AgentError::Http { url, source })?;
        Ok(Some(b.to_vec()))
    }

    /// `http://…/MAAS/metadata/`: what the installed OS's cloud-init is
    /// pointed at.
    pub fn metadata_url(&self) -> &str {
        &self.base
    }

    pub fn credentials(&self) -> &Credentials {
        &self.creds
    }

    /// The installation config (`curtin/latest/user-data`): what image to
    /// write where, parsed. A 404 carries the region's reason.
    pub async fn curtin_config(&self) -> Result<ironpool_common::deploy::CurtinConfig> {
        let url = format!("{}curtin/latest/user-data", self.base);
        let r = check(&url, Ok(self.send(&url, |h| h.get(&url)).await?)).await?;
        let raw = r.bytes().await.map_err(|source| AgentError::Http { url, source })?;
        serde_json::from_slice(&raw).map_err(|e| {
            AgentError::Protocol(format!("the installation config is not what this agent understands: {e}"))
        })
    }

    /// Starts an anonymous download (images on the rack), with no overall
    /// time limit: a large image on a slow link takes what it takes.
    pub async fn download(&self, url: &str) -> Result<reqwest::Response> {
        let r = self.http.get(url).timeout(Duration::from_secs(6 * 3600)).send().await;
        check(url, r).await
    }

    pub async fn meta_data(&self, item: &str) -> Result<String> {
        let b = self.get(&format!("meta-data/{item}")).await?.unwrap_or_default();
        Ok(String::from_utf8_lossy(&b).into_owned())
    }

    pub async fn user_data(&self) -> Result<Option<Vec<u8>>> {
        self.get("user-data").await
    }

    /// `POST latest/?op=signal` as multipart, with files named after the
    /// script (`<name>.out`, `.err`, `.yaml`).
    pub async fn signal(&self, status: &str, fields: &[(&str, String)], files: Vec<(String, Vec<u8>)>) -> Result<()> {
        let url = format!("{}?op=signal", self.url(""));
        // A multipart body is consumed by sending: each attempt makes its own.
        let form = || {
            let mut form = reqwest::multipart::Form::new().text("status", status.to_string());
            for (k, v) in fields {
                form = form.text(k.to_string(), v.clone());
            }
            for (name, data) in &files {
                form = form.part(name.clone(), reqwest::multipart::Part::bytes(data.clone()).file_name(name.clone()));
            }
            form
        };
        let (r, doubt) = self.send_noting_doubt(&url, |h| h.post(&url).multipart(form())).await;
        let r = r?;
        // A signal that ends the phase revokes the phase's token. If an
        // earlier attempt may have been taken and only its answer was lost
        // (the region died after committing), the retry meets a revoked
        // token: the phase ended as this signal asked.
        if doubt && r.status().as_u16() == 401 && matches!(status, "OK" | "FAILED") {
            tracing::warn!(%url, status, "signal retried after a lost answer is refused: the region had taken it and ended the phase");
            return Ok(());
        }
        check(&url, Ok(r)).await.map(|_| ())
    }

    /// `POST latest/?op=netboot_off|netboot_on`.
    pub async fn netboot(&self, on: bool) -> Result<()> {
        let url = format!("{}?op={}", self.url(""), if on { "netboot_on" } else { "netboot_off" });
        check(&url, Ok(self.send(&url, |h| h.post(&url)).await?)).await.map(|_| ())
    }

    /// Posts one status event to the webhook (`status/<system_id>`).
    pub async fn status_event(&self, endpoint: &str, event: &serde_json::Value) -> Result<()> {
        check(endpoint, Ok(self.send(endpoint, |h| h.post(endpoint).json(event)).await?)).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_preseed() {
        let text = "#cloud-config\ndatasource:\n  MAAS:\n    metadata_url: \"http://r:5240/MAAS/metadata/\"\n    consumer_key: \"ck\"\n    token_key: \"tk\"\n    token_secret: \"ts\"\nreporting:\n  maas:\n    type: webhook\n    endpoint: \"http://r:5240/MAAS/metadata/status/abc\"\nironpool:\n  phase: \"deploying\"\n  system_id: \"abc\"\n";
        let p = parse_preseed(text).unwrap();
        assert_eq!(p.metadata_url, "http://r:5240/MAAS/metadata/");
        assert_eq!(p.credentials.unwrap().token_secret, "ts");
        assert_eq!(p.webhook.as_deref(), Some("http://r:5240/MAAS/metadata/status/abc"));
        assert_eq!(p.phase, "deploying");
        assert!(parse_preseed("#cloud-config\n").is_err());
    }

    /// A region that answers each connection as `script` says, in turn:
    /// `None` reads the request and hangs up without an answer (it died
    /// after committing), `Some(code)` answers with that status.
    fn scripted_region(script: Vec<Option<u16>>) -> String {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for step in script {
                let Ok((mut c, _)) = l.accept() else { return };
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                // The headers, then as much body as they announce.
                let body_done = |req: &[u8]| {
                    let text = String::from_utf8_lossy(req);
                    let Some(end) = text.find("\r\n\r\n") else { return false };
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    req.len() >= end + 4 + len
                };
                while !body_done(&req) {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                if let Some(code) = step {
                    let _ = write!(c, "HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                }
            }
        });
        format!("http://{addr}/MAAS/metadata/")
    }

    fn client(url: &str) -> MetadataClient {
        let creds = Credentials { consumer_key: "c".into(), token_key: "t".into(), token_secret: "s".into() };
        MetadataClient::new(reqwest::Client::new(), url, creds)
    }

    #[tokio::test]
    async fn a_final_signal_whose_answer_was_lost_is_taken_as_delivered() {
        // The first attempt reached the region, which ended the phase and
        // revoked the token; the retry meets 401.
        let c = client(&scripted_region(vec![None, Some(401)]));
        c.signal("OK", &[], vec![]).await.unwrap();
        // A signal that does not end the phase cannot explain the 401.
        let c = client(&scripted_region(vec![None, Some(401)]));
        assert!(c.signal("WORKING", &[], vec![]).await.is_err());
        // Nor can a first attempt that was answered 401.
        let c = client(&scripted_region(vec![Some(401)]));
        assert!(c.signal("OK", &[], vec![]).await.is_err());
    }

    #[test]
    fn cmdline() {
        assert_eq!(
            cloud_config_url("ro quiet cloud-config-url=http://x/y?op=get_preseed ip=dhcp").as_deref(),
            Some("http://x/y?op=get_preseed")
        );
        assert_eq!(cloud_config_url("ro quiet"), None);
    }

    #[test]
    fn header_signs_plaintext() {
        let h =
            oauth_header(&Credentials { consumer_key: "c".into(), token_key: "t".into(), token_secret: "s".into() });
        assert!(h.contains("oauth_signature=\"%26s\""));
        assert_ne!(
            h,
            oauth_header(&Credentials { consumer_key: "c".into(), token_key: "t".into(), token_secret: "s".into() })
        );
    }
}
