//! Domain logic, free of HTTP: accounts and credentials, key validation, the
//! MAAS configuration. Later: lifecycle, allocation, IPAM, jobs.
//!
//! Engine functions take the [`Datastore`](crate::db::Datastore) (or a
//! connection inside a transaction), enforce MAAS's rules, and return
//! [`Error`](crate::error::Error) values that name the problem in MAAS's words.

pub mod accounts;
pub mod allocation;
pub mod config;
pub mod jobs;
pub mod keys;
pub mod lifecycle;
pub mod names;
pub mod nodes;
pub mod places;
pub mod power;
pub mod storage;

/// Values MAAS (Django) accepts as booleans: `true/false`, `t/f`, `yes/no`,
/// `y/n`, `on/off`, `1/0`, any case. Blank is false.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "on" | "1" => Some(true),
        "false" | "f" | "no" | "n" | "off" | "0" | "" => Some(false),
        _ => None,
    }
}

/// The current time as stored in the database (UTC, no zone).
pub fn now() -> chrono::NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

/// Runs CPU-heavy work (password hashing) off the async executor.
pub async fn cpu<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> crate::error::Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(crate::error::Error::internal)
}
