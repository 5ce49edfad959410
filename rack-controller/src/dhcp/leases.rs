//! The lease table: who holds which address until when, with the lookups the
//! server needs (by MAC, by IP), declined addresses, and persistence to a
//! JSON file written to a temporary file and renamed, so a crash never leaves
//! a half-written table.

use std::collections::HashMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use ironpool_common::dhcp::MacAddr;

use super::DhcpError;

/// How often a server's lease writer is handed a copy of a changed table.
pub const PERSIST_EVERY: Duration = Duration::from_millis(100);

/// A server's lease-file writer: a task that saves the latest copy of the
/// table it was handed (a slow disk never delays a reply), and a dirty
/// mark. Copying the whole table on every change cost more than answering
/// (10,000 leases: 4,000 exchanges a second against 48,000); the server
/// hands a copy at most every [`PERSIST_EVERY`] instead, so a crash loses
/// at most that much, and those clients' renewals bring their leases back.
pub struct Persister<T> {
    tx: tokio::sync::watch::Sender<Vec<T>>,
    dirty: bool,
}

impl<T: Serialize + Clone + Send + Sync + 'static> Persister<T> {
    /// Starts the writer for `path`; `table` is what the file holds now.
    pub fn spawn(path: PathBuf, table: Vec<T>, what: &'static str) -> Self {
        let (tx, mut rx) = tokio::sync::watch::channel(table);
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let snapshot = rx.borrow_and_update().clone();
                let path = path.clone();
                match tokio::task::spawn_blocking(move || save(&path, &snapshot)).await {
                    Ok(Err(e)) => tracing::error!(error = %e, what, "cannot persist leases"),
                    Err(e) => tracing::error!(error = %e, what, "lease writer failed"),
                    Ok(Ok(())) => {}
                }
            }
        });
        Persister { tx, dirty: false }
    }

    /// The table changed.
    pub fn mark(&mut self) {
        self.dirty = true;
    }

    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Hands the writer the current table.
    pub fn flush(&mut self, table: Vec<T>) {
        self.dirty = false;
        let _ = self.tx.send(table);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeaseState {
    /// Offered, waiting for the REQUEST; not persisted.
    Offered,
    Bound,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub mac: MacAddr,
    pub ip: Ipv4Addr,
    #[serde(default)]
    pub hostname: Option<String>,
    /// Unix time (seconds) the lease ends.
    pub expires: u64,
    pub state: LeaseState,
}

#[derive(Debug, Default)]
pub struct Leases {
    by_mac: HashMap<MacAddr, Lease>,
    by_ip: HashMap<Ipv4Addr, MacAddr>,
    /// Declined addresses and when they may be used again.
    declined: HashMap<Ipv4Addr, u64>,
}

impl Leases {
    /// Loads bound leases from `path`; a missing file is an empty table.
    pub fn load(path: &Path) -> Result<Leases, DhcpError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Leases::default()),
            Err(source) => return Err(DhcpError::LeaseFile { path: path.display().to_string(), source }),
        };
        let list: Vec<Lease> = serde_json::from_str(&text)
            .map_err(|source| DhcpError::LeaseJson { path: path.display().to_string(), source })?;
        let mut leases = Leases::default();
        for l in list.into_iter().filter(|l| l.state == LeaseState::Bound) {
            leases.insert(l);
        }
        Ok(leases)
    }

    pub fn get(&self, mac: &MacAddr) -> Option<&Lease> {
        self.by_mac.get(mac)
    }

    pub fn len(&self) -> usize {
        self.by_mac.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_mac.is_empty()
    }

    /// Who holds `ip` at `now` (expired leases hold nothing).
    pub fn holder(&self, ip: Ipv4Addr, now: u64) -> Option<MacAddr> {
        let mac = self.by_ip.get(&ip)?;
        self.by_mac.get(mac).filter(|l| l.expires > now).map(|l| l.mac)
    }

    pub fn is_declined(&self, ip: Ipv4Addr, now: u64) -> bool {
        self.declined.get(&ip).is_some_and(|until| *until > now)
    }

    pub fn decline(&mut self, ip: Ipv4Addr, until: u64) {
        self.declined.insert(ip, until);
    }

    /// Adds or replaces the lease of `lease.mac`.
    pub fn insert(&mut self, lease: Lease) {
        self.remove(&lease.mac);
        // Another MAC's expired lease on this address is superseded.
        if let Some(old) = self.by_ip.get(&lease.ip).copied() {
            self.by_mac.remove(&old);
        }
        self.by_ip.insert(lease.ip, lease.mac);
        self.by_mac.insert(lease.mac, lease);
    }

    pub fn remove(&mut self, mac: &MacAddr) -> Option<Lease> {
        let old = self.by_mac.remove(mac)?;
        if self.by_ip.get(&old.ip) == Some(mac) {
            self.by_ip.remove(&old.ip);
        }
        Some(old)
    }

    /// Removes leases that ended before `now`; returns the bound ones.
    pub fn expire(&mut self, now: u64) -> Vec<Lease> {
        let gone: Vec<MacAddr> = self.by_mac.values().filter(|l| l.expires <= now).map(|l| l.mac).collect();
        self.declined.retain(|_, until| *until > now);
        gone.iter().filter_map(|m| self.remove(m)).filter(|l| l.state == LeaseState::Bound).collect()
    }

    /// Bound leases, sorted by address (the persisted form).
    pub fn bound(&self) -> Vec<Lease> {
        let mut v: Vec<Lease> = self.by_mac.values().filter(|l| l.state == LeaseState::Bound).cloned().collect();
        v.sort_by_key(|l| u32::from(l.ip));
        v
    }
}

/// Writes `leases` to `path` atomically: temporary file, fsync, rename.
/// Generic so the DHCPv6 table is persisted the same way.
pub fn save<T: Serialize>(path: &Path, leases: &[T]) -> Result<(), DhcpError> {
    let err = |source| DhcpError::LeaseFile { path: path.display().to_string(), source };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    let json = serde_json::to_vec_pretty(leases).map_err(|e| err(std::io::Error::other(e)))?;
    tmp.write_all(&json).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}
