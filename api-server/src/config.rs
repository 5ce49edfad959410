//! Region configuration: what the `ironpool` binary resolves from flags,
//! environment, the TOML file and defaults (in that precedence) and hands to
//! [`crate::server`].

use std::path::PathBuf;

pub use ironpool_common::http_body::Pace;

/// Everything the region needs to start. Built by the CLI; tests build it directly.
#[derive(Debug, Clone)]
pub struct RegionConfig {
    /// `sqlite://path`, a bare path, or `postgres://…`. Always set by the time the
    /// server starts (the CLI fills in `<data-dir>/ironpool.db`).
    pub database_url: String,
    /// Where the region keeps its files (SQLite database, secrets, uploaded blobs).
    pub data_dir: PathBuf,
    /// Address to bind, e.g. `0.0.0.0:5240`; port 0 picks a free port.
    pub listen: String,
    /// Maximum database connections in the pool.
    pub db_pool_size: u32,
    /// How long a SQLite write waits for the write lock before the call is
    /// answered 503 "database is busy" with `Retry-After`.
    pub db_busy_timeout_ms: u64,
    /// How long a call waits for a database connection (PostgreSQL down or
    /// unreachable) before 503 "database unavailable".
    pub db_connect_timeout_secs: u64,
    /// HTTP worker threads; 0 means one per core.
    pub http_workers: usize,
    /// OAuth timestamps older than this many seconds are rejected (MAAS: 300).
    pub oauth_timestamp_window_secs: i64,
    /// Reject a nonce already used with the same token inside the window, as MAAS
    /// does. Turning it off accepts clients that reuse one header for a whole run
    /// (the MAAS Ansible collection) at the cost of replay protection.
    pub oauth_reject_nonce_reuse: bool,
    /// How long a cached OAuth token lookup may be believed, in seconds
    /// (`http::oauth::AuthCache`; 0 reads the token on every call). Changes
    /// made through any region end the entry at once whatever this says;
    /// the limit is for changes made around the regions (an admin command
    /// on the SQLite file).
    pub oauth_cache_secs: u64,
    /// Request-body limit for API calls that do not upload files (an
    /// action that takes uploads declares its own), and for every
    /// form-encoded body, which is read before authentication because OAuth
    /// signs its fields.
    pub max_body_bytes: usize,
    /// Request-body limit for anonymous callers (enlistment, metadata calls
    /// without credentials), whatever the action accepts from users.
    pub max_anonymous_body_bytes: usize,
    /// How fast request bodies must arrive: a body may pause at most
    /// `timeout` and take at most `timeout` longer than its size needs at
    /// `min_rate` bytes/s; a slower one is answered 408.
    pub body_pace: Pace,
    /// Run the durable-job worker in this process (on by default; tests that
    /// count queries turn it off).
    pub run_jobs: bool,
    /// Where the authoritative DNS server listens (UDP and TCP), `ip:port`;
    /// port 0 picks a free port, empty disables it. The default is loopback
    /// on a free port, so several regions (and tests) never collide; a
    /// production region sets e.g. `0.0.0.0:53`.
    pub dns_bind: String,
    /// Seconds between power-state syncs of every machine with a BMC
    /// (MAAS polls every 5 minutes); 0 disables them.
    pub power_sync_interval_secs: u64,
    /// The UI's change feed looks at the database at least this often while
    /// pages listen, even when no commit woke it (`engine::changes`). Not a
    /// setting operators need; tests make it long to prove the wakeups.
    pub change_feed_fallback: std::time::Duration,
    /// Wrong passwords for one username before its password logins are
    /// refused with 429 (`engine::login_guard`); 0 turns the limit off.
    pub login_max_failures: u32,
    /// Failures are counted over this many seconds from the first one.
    pub login_failure_window_secs: u64,
    /// How long a locked username (or source address) stays locked.
    pub login_lockout_secs: u64,
    /// Where HTTPS listens: `None` follows `listen` (its host, port 5443
    /// when HTTP is on MAAS's 5240, else a free port, so tests and several
    /// regions on one host never collide); `""` or `"off"` disables HTTPS.
    pub tls_listen: Option<String>,
    /// An operator's certificate chain (PEM, end-entity first) and its
    /// private key (PEM); both or neither. Without them the region makes a
    /// self-signed certificate at first start (`crate::tls`).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Extra names (DNS names or IP addresses) for the self-signed
    /// certificate, beyond the host name, `localhost`, loopback and a
    /// specific `listen` address. Used only when the certificate is made.
    pub tls_names: Vec<String>,
    /// Anonymous enlistments (`POST machines/` without credentials) one
    /// source address may make per `enlist_window_secs` before 429s with
    /// `Retry-After` (`engine::rate_limit`); 0 turns the limit off.
    /// Machines enlisting through a rack's HTTP proxy share the rack's
    /// address. Administrators creating machines are never limited.
    pub enlist_max_per_address: u32,
    /// Anonymous enlistments from all addresses together per window; 0 = off.
    pub enlist_max_total: u32,
    /// The enlistment window, in seconds.
    pub enlist_window_secs: u64,
    /// The key that encrypts BMC passwords and token secrets in the
    /// database (`db::secrets`); `None`: `<data_dir>/secrets.key`, made at
    /// first start. Regions sharing a PostgreSQL database must point at
    /// copies of one file.
    pub secrets_key_file: Option<PathBuf>,
    /// Who may read `/metrics` (and `/MAAS/metrics`).
    pub metrics_access: MetricsAccess,
    /// Where `account/prefs/sshkeys/?op=import` fetches `lp:<user>` keys
    /// (`<url>/~<user>/+sshkeys`), MAAS's `https://launchpad.net`.
    pub launchpad_url: String,
    /// Where it fetches `gh:<user>` keys (`<url>/users/<user>/keys`),
    /// MAAS's `https://api.github.com`.
    pub github_api_url: String,
    /// The emulator domains composed on VM hosts name (`<emulator>`);
    /// `None` lets libvirt pick its default for the architecture.
    pub virsh_emulator: Option<String>,
}

/// Who may scrape the region's metrics. MAAS serves `/MAAS/metrics` to
/// anyone; the default here is loopback only, because the region's port is
/// also reachable from every booting machine's network and the series name
/// rack system_ids and the machine counts. A Prometheus on another host
/// needs `metrics_access = "any"` (behind a firewall) or a local proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricsAccess {
    /// Not served (404).
    Off,
    /// Served to 127.0.0.0/8 and ::1 only; others get a 403 that says how to open it.
    Loopback,
    /// Served to anyone, unauthenticated, as MAAS does.
    Any,
}

impl RegionConfig {
    /// Defaults for a region whose database lives in `data_dir`.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        RegionConfig {
            database_url: format!("sqlite://{}", data_dir.join("ironpool.db").display()),
            data_dir,
            listen: format!("0.0.0.0:{}", ironpool_common::DEFAULT_REGION_PORT),
            db_pool_size: 8,
            db_busy_timeout_ms: 5000,
            db_connect_timeout_secs: 5,
            http_workers: 0,
            oauth_timestamp_window_secs: 300,
            oauth_reject_nonce_reuse: true,
            oauth_cache_secs: 2,
            max_body_bytes: 2 * 1024 * 1024,
            max_anonymous_body_bytes: 1024 * 1024,
            body_pace: Pace::default(),
            run_jobs: true,
            dns_bind: "127.0.0.1:0".into(),
            power_sync_interval_secs: 300,
            change_feed_fallback: crate::engine::changes::INTERVAL,
            login_max_failures: 10,
            login_failure_window_secs: 900,
            login_lockout_secs: 300,
            // A rack of machines powered on together enlists well under
            // this; the audit's flood was 300 in 0.6 s.
            enlist_max_per_address: 100,
            enlist_max_total: 300,
            enlist_window_secs: 60,
            tls_listen: None,
            tls_cert: None,
            tls_key: None,
            tls_names: Vec::new(),
            secrets_key_file: None,
            metrics_access: MetricsAccess::Loopback,
            launchpad_url: "https://launchpad.net".into(),
            github_api_url: "https://api.github.com".into(),
            virsh_emulator: None,
        }
    }

    /// The address HTTPS binds, or `None` when it is off (see [`Self::tls_listen`]).
    pub fn tls_listen_addr(&self) -> Option<String> {
        match self.tls_listen.as_deref().map(str::trim) {
            Some("" | "off" | "none") => None,
            Some(addr) => Some(addr.to_string()),
            None => {
                let (host, port) = self.listen.rsplit_once(':')?;
                let tls_port = if port == ironpool_common::DEFAULT_REGION_PORT.to_string() {
                    ironpool_common::DEFAULT_REGION_TLS_PORT
                } else {
                    0
                };
                Some(format!("{host}:{tls_port}"))
            }
        }
    }

    /// The secrets key file this region uses.
    pub fn secrets_key_path(&self) -> PathBuf {
        self.secrets_key_file.clone().unwrap_or_else(|| crate::db::secrets::default_key_path(&self.data_dir))
    }

    /// Reads (or, at first start, creates) the secrets key.
    pub fn secrets_key(&self) -> crate::error::Result<crate::db::secrets::SecretsKey> {
        crate::db::secrets::SecretsKey::load_or_create(&self.secrets_key_path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_follows_the_http_address() {
        let mut c = RegionConfig::with_data_dir("/d");
        assert_eq!(c.tls_listen_addr().as_deref(), Some("0.0.0.0:5443"));
        c.listen = "127.0.0.1:0".into();
        assert_eq!(c.tls_listen_addr().as_deref(), Some("127.0.0.1:0"));
        c.listen = "[::1]:8000".into();
        assert_eq!(c.tls_listen_addr().as_deref(), Some("[::1]:0"));
        c.tls_listen = Some("10.0.0.1:443".into());
        assert_eq!(c.tls_listen_addr().as_deref(), Some("10.0.0.1:443"));
        c.tls_listen = Some("off".into());
        assert_eq!(c.tls_listen_addr(), None);
    }
}
