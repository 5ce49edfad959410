//! Resolving settings: command-line flag > environment variable > TOML file >
//! default. Clap handles the first two (flags carry `env`), so every field
//! here is optional and the file and defaults fill the gaps.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use ironpool_region::RegionConfig;
use serde::Deserialize;

#[derive(Args, Debug, Clone)]
pub struct CommonArgs {
    /// Database URL: postgres://… for PostgreSQL; sqlite://PATH or a path for
    /// SQLite. Default: SQLite at <data-dir>/ironpool.db.
    #[arg(long, global = true, env = "IRONPOOL_DATABASE_URL", hide_env_values = true)]
    pub database: Option<String>,
    /// Data directory (default ./ironpool-data, or /var/lib/ironpool under systemd).
    #[arg(long, global = true, env = "IRONPOOL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address for servers to listen on (default 0.0.0.0:5240).
    #[arg(long, global = true, env = "IRONPOOL_LISTEN")]
    pub listen: Option<String>,
    /// TOML configuration file.
    #[arg(long, global = true, env = "IRONPOOL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address for HTTPS ("off" disables it). Default: the --listen host
    /// on port 5443 when HTTP is on 5240, else a free port (logged).
    #[arg(long, global = true, env = "IRONPOOL_TLS_LISTEN")]
    pub tls_listen: Option<String>,
    /// The region's certificate chain (PEM, server certificate first).
    /// Default: a self-signed certificate made in <data-dir>/tls/.
    #[arg(long, global = true, env = "IRONPOOL_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, global = true, env = "IRONPOOL_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The key file that encrypts BMC passwords and API token secrets in the
    /// database (default <data-dir>/secrets.key, made at first start).
    /// Regions sharing one PostgreSQL database need copies of one file.
    #[arg(long, global = true, env = "IRONPOOL_SECRETS_KEY_FILE")]
    pub secrets_key_file: Option<PathBuf>,
    /// Log lines as text (default) or JSON objects, one a line (for a log
    /// collector).
    #[arg(long, global = true, env = "IRONPOOL_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
}

/// How log lines are written.
#[derive(clap::ValueEnum, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The TOML file. Unknown keys are an error, so a typo is not silently ignored.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub database: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub db_pool_size: Option<u32>,
    /// SQLite write-lock wait before 503 "database is busy".
    pub db_busy_timeout_ms: Option<u64>,
    /// Wait for a database connection before 503 "database unavailable".
    pub db_connect_timeout_secs: Option<u64>,
    pub http_workers: Option<usize>,
    pub oauth_timestamp_window_secs: Option<i64>,
    pub oauth_reject_nonce_reuse: Option<bool>,
    pub oauth_cache_secs: Option<u64>,
    pub max_body_bytes: Option<usize>,
    pub max_anonymous_body_bytes: Option<usize>,
    /// Request bodies: longest pause, and grace beyond `body_min_rate` (408 after).
    pub body_timeout_secs: Option<u64>,
    pub body_min_rate: Option<u64>,
    /// DNS server address (`ip:port`; empty disables it).
    pub dns_bind: Option<String>,
    pub power_sync_interval_secs: Option<u64>,
    /// Password-login limiting (`engine::login_guard`).
    pub login_max_failures: Option<u32>,
    pub login_failure_window_secs: Option<u64>,
    pub login_lockout_secs: Option<u64>,
    /// HTTPS: address ("off" disables it), operator certificate and key
    /// (PEM files, both or neither), extra names for the self-signed one.
    pub tls_listen: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_names: Option<Vec<String>>,
    /// Anonymous-enlistment limiting (`engine::rate_limit`).
    pub enlist_max_per_address: Option<u32>,
    pub enlist_max_total: Option<u32>,
    pub enlist_window_secs: Option<u64>,
    /// The secrets key file (default `<data_dir>/secrets.key`).
    pub secrets_key_file: Option<PathBuf>,
    /// tracing filter, e.g. `info` or `ironpool=debug` (RUST_LOG wins).
    pub log: Option<String>,
    /// `text` or `json` (`--log-format` wins).
    pub log_format: Option<LogFormat>,
    /// Who may read `/metrics`: `loopback` (default), `any` or `off`.
    pub metrics_access: Option<ironpool_region::config::MetricsAccess>,
    /// SSH key import sources (`lp:`, `gh:`): defaults are MAAS's sites.
    pub launchpad_url: Option<String>,
    pub github_api_url: Option<String>,
    /// The emulator VM hosts' composed domains name (default: libvirt's).
    pub virsh_emulator: Option<String>,
}

pub struct Settings {
    pub region: RegionConfig,
    pub log: String,
    pub log_format: LogFormat,
}

impl Settings {
    pub fn resolve(args: &CommonArgs) -> anyhow::Result<Settings> {
        let file = match &args.config {
            Some(path) => load(path)?,
            None => FileConfig::default(),
        };
        Ok(Self::merge(args, file, under_systemd()))
    }

    fn merge(args: &CommonArgs, file: FileConfig, systemd: bool) -> Settings {
        let default_dir = if systemd { PathBuf::from("/var/lib/ironpool") } else { PathBuf::from("./ironpool-data") };
        let data_dir = args.data_dir.clone().or(file.data_dir).unwrap_or(default_dir);
        let mut region = RegionConfig::with_data_dir(data_dir);
        if let Some(db) = args.database.clone().or(file.database) {
            region.database_url = db;
        }
        if let Some(l) = args.listen.clone().or(file.listen) {
            region.listen = l;
        }
        if let Some(v) = file.db_pool_size {
            region.db_pool_size = v;
        }
        if let Some(v) = file.db_busy_timeout_ms {
            region.db_busy_timeout_ms = v;
        }
        if let Some(v) = file.db_connect_timeout_secs {
            region.db_connect_timeout_secs = v;
        }
        if let Some(v) = file.http_workers {
            region.http_workers = v;
        }
        if let Some(v) = file.oauth_timestamp_window_secs {
            region.oauth_timestamp_window_secs = v;
        }
        if let Some(v) = file.oauth_cache_secs {
            region.oauth_cache_secs = v;
        }
        if let Some(v) = file.oauth_reject_nonce_reuse {
            region.oauth_reject_nonce_reuse = v;
        }
        if let Some(v) = file.max_body_bytes {
            region.max_body_bytes = v;
        }
        if let Some(v) = file.max_anonymous_body_bytes {
            region.max_anonymous_body_bytes = v;
        }
        if let Some(v) = file.body_timeout_secs {
            region.body_pace.timeout = std::time::Duration::from_secs(v);
        }
        if let Some(v) = file.body_min_rate {
            region.body_pace.min_rate = v;
        }
        if let Some(v) = file.power_sync_interval_secs {
            region.power_sync_interval_secs = v;
        }
        if let Some(v) = file.login_max_failures {
            region.login_max_failures = v;
        }
        if let Some(v) = file.login_failure_window_secs {
            region.login_failure_window_secs = v;
        }
        if let Some(v) = file.login_lockout_secs {
            region.login_lockout_secs = v;
        }
        if let Some(v) = file.enlist_max_per_address {
            region.enlist_max_per_address = v;
        }
        if let Some(v) = file.enlist_max_total {
            region.enlist_max_total = v;
        }
        if let Some(v) = file.enlist_window_secs {
            region.enlist_window_secs = v;
        }
        if let Some(v) = file.dns_bind {
            region.dns_bind = v;
        }
        region.tls_listen = args.tls_listen.clone().or(file.tls_listen);
        // The certificate and its key come from one place, never a flag's
        // certificate with the file's key.
        (region.tls_cert, region.tls_key) = match (&args.tls_cert, &args.tls_key) {
            (None, None) => (file.tls_cert, file.tls_key),
            (c, k) => (c.clone(), k.clone()),
        };
        if let Some(v) = file.tls_names {
            region.tls_names = v;
        }
        if let Some(v) = file.metrics_access {
            region.metrics_access = v;
        }
        if let Some(v) = file.launchpad_url {
            region.launchpad_url = v;
        }
        if let Some(v) = file.github_api_url {
            region.github_api_url = v;
        }
        if let Some(v) = file.virsh_emulator {
            region.virsh_emulator = Some(v);
        }
        region.secrets_key_file = args.secrets_key_file.clone().or(file.secrets_key_file);
        Settings {
            region,
            log: file.log.unwrap_or_else(|| "info".into()),
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
        }
    }
}

fn load(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

/// systemd sets INVOCATION_ID for every unit it starts.
fn under_systemd() -> bool {
    std::env::var_os("INVOCATION_ID").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> CommonArgs {
        CommonArgs {
            database: None,
            data_dir: None,
            listen: None,
            config: None,
            tls_listen: None,
            tls_cert: None,
            tls_key: None,
            secrets_key_file: None,
            log_format: None,
        }
    }

    #[test]
    fn log_format_and_metrics_access_from_the_file_flag_wins() {
        let file: FileConfig = toml::from_str("log_format = \"json\"\nmetrics_access = \"any\"").unwrap();
        let s = Settings::merge(&args(), file, false);
        assert_eq!(s.log_format, LogFormat::Json);
        assert_eq!(s.region.metrics_access, ironpool_region::config::MetricsAccess::Any);
        let file: FileConfig = toml::from_str("log_format = \"json\"").unwrap();
        let s = Settings::merge(&CommonArgs { log_format: Some(LogFormat::Text), ..args() }, file, false);
        assert_eq!(s.log_format, LogFormat::Text);
        assert_eq!(s.region.metrics_access, ironpool_region::config::MetricsAccess::Loopback);
        assert!(toml::from_str::<FileConfig>("metrics_access = \"everyone\"").is_err());
    }

    #[test]
    fn defaults() {
        let s = Settings::merge(&args(), FileConfig::default(), false);
        assert_eq!(s.region.data_dir, PathBuf::from("./ironpool-data"));
        assert_eq!(s.region.database_url, "sqlite://./ironpool-data/ironpool.db");
        assert_eq!(s.region.listen, "0.0.0.0:5240");
        assert_eq!(
            Settings::merge(&args(), FileConfig::default(), true).region.data_dir,
            PathBuf::from("/var/lib/ironpool")
        );
    }

    #[test]
    fn flag_beats_file_beats_default() {
        let file: FileConfig = toml::from_str("listen = \"127.0.0.1:1\"\ndata_dir = \"/f\"\ndb_pool_size = 3").unwrap();
        let mut a = args();
        a.listen = Some("127.0.0.1:2".into());
        let s = Settings::merge(&a, file, false);
        assert_eq!(s.region.listen, "127.0.0.1:2");
        assert_eq!(s.region.data_dir, PathBuf::from("/f"));
        assert_eq!(s.region.database_url, "sqlite:///f/ironpool.db");
        assert_eq!(s.region.db_pool_size, 3);
    }

    #[test]
    fn body_limits_and_pace_come_from_the_file() {
        let file: FileConfig =
            toml::from_str("max_anonymous_body_bytes = 4096\nbody_timeout_secs = 7\nbody_min_rate = 0").unwrap();
        let s = Settings::merge(&args(), file, false);
        assert_eq!(s.region.max_anonymous_body_bytes, 4096);
        assert_eq!(s.region.body_pace.timeout, std::time::Duration::from_secs(7));
        assert_eq!(s.region.body_pace.min_rate, 0);
        let d = Settings::merge(&args(), FileConfig::default(), false);
        assert_eq!(d.region.max_anonymous_body_bytes, 1024 * 1024);
        assert_eq!(d.region.body_pace.timeout, std::time::Duration::from_secs(30));
    }

    #[test]
    fn tls_settings_flag_beats_file() {
        let file: FileConfig = toml::from_str(
            "tls_listen = \"127.0.0.1:8443\"\ntls_cert = \"/f/c.pem\"\ntls_key = \"/f/k.pem\"\ntls_names = [\"maas.example\"]",
        )
        .unwrap();
        let s = Settings::merge(&args(), file, false);
        assert_eq!(s.region.tls_listen_addr().as_deref(), Some("127.0.0.1:8443"));
        assert_eq!(s.region.tls_cert, Some(PathBuf::from("/f/c.pem")));
        assert_eq!(s.region.tls_key, Some(PathBuf::from("/f/k.pem")));
        assert_eq!(s.region.tls_names, vec!["maas.example".to_string()]);
        let mut a = args();
        a.tls_listen = Some("off".into());
        a.tls_cert = Some("/a/c.pem".into());
        a.tls_key = Some("/a/k.pem".into());
        let file: FileConfig = toml::from_str("tls_cert = \"/f/c.pem\"\ntls_key = \"/f/k.pem\"").unwrap();
        let s = Settings::merge(&a, file, false);
        assert_eq!(s.region.tls_listen_addr(), None);
        assert_eq!(s.region.tls_key, Some(PathBuf::from("/a/k.pem")));
        let d = Settings::merge(&args(), FileConfig::default(), false);
        assert_eq!(d.region.tls_listen_addr().as_deref(), Some("0.0.0.0:5443"));
    }

    #[test]
    fn unknown_file_keys_are_rejected() {
        assert!(toml::from_str::<FileConfig>("lisen = \"x\"").is_err());
    }
}
