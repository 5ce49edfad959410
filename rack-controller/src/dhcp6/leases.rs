//! The DHCPv6 lease table. A binding belongs to an identity association:
//! the client's DUID plus the IAID of one IA_NA (RFC 8415 §4.2), not to a
//! MAC as in DHCPv4; the MAC is kept alongside when the server could learn
//! it. Persisted like the IPv4 table (JSON, temporary file, rename: see
//! [`crate::dhcp::leases::save`]).

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use ironpool_common::dhcp::MacAddr;

use crate::dhcp::leases::LeaseState;
use crate::dhcp::DhcpError;

/// Who a binding belongs to: DUID (hex) and IAID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IaKey {
    pub duid: String,
    pub iaid: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease6 {
    #[serde(flatten)]
    pub key: IaKey,
    #[serde(default)]
    pub mac: Option<MacAddr>,
    pub ip: Ipv6Addr,
    #[serde(default)]
    pub hostname: Option<String>,
    /// Unix time (seconds) the valid lifetime ends.
    pub expires: u64,
    pub state: LeaseState,
}

#[derive(Debug, Default)]
pub struct Leases6 {
    by_key: HashMap<IaKey, Lease6>,
    by_ip: HashMap<Ipv6Addr, IaKey>,
    /// Declined addresses and when they may be used again.
    declined: HashMap<Ipv6Addr, u64>,
}

impl Leases6 {
    /// Loads bound leases from `path`; a missing file is an empty table.
    pub fn load(path: &Path) -> Result<Leases6, DhcpError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Leases6::default()),
            Err(source) => return Err(DhcpError::LeaseFile { path: path.display().to_string(), source }),
        };
        let list: Vec<Lease6> = serde_json::from_str(&text)
            .map_err(|source| DhcpError::LeaseJson { path: path.display().to_string(), source })?;
        let mut leases = Leases6::default();
        for l in list.into_iter().filter(|l| l.state == LeaseState::Bound) {
            leases.insert(l);
        }
        Ok(leases)
    }

    pub fn get(&self, key: &IaKey) -> Option<&Lease6> {
        self.by_key.get(key)
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Who holds `ip` at `now` (expired leases hold nothing).
    pub fn holder(&self, ip: Ipv6Addr, now: u64) -> Option<&Lease6> {
        let key = self.by_ip.get(&ip)?;
        self.by_key.get(key).filter(|l| l.expires > now)
    }

    pub fn is_declined(&self, ip: Ipv6Addr, now: u64) -> bool {
        self.declined.get(&ip).is_some_and(|until| *until > now)
    }

    pub fn decline(&mut self, ip: Ipv6Addr, until: u64) {
        self.declined.insert(ip, until);
    }

    /// Adds or replaces the lease of `lease.key`; whoever held its address
    /// before (an expired lease, or a reserved address's stale holder) loses it.
    pub fn insert(&mut self, lease: Lease6) {
        self.remove(&lease.key);
        if let Some(old) = self.by_ip.get(&lease.ip).cloned() {
            self.by_key.remove(&old);
        }
        self.by_ip.insert(lease.ip, lease.key.clone());
        self.by_key.insert(lease.key.clone(), lease);
    }

    pub fn remove(&mut self, key: &IaKey) -> Option<Lease6> {
        let old = self.by_key.remove(key)?;
        if self.by_ip.get(&old.ip) == Some(key) {
            self.by_ip.remove(&old.ip);
        }
        Some(old)
    }

    /// Removes leases that ended before `now`; returns the bound ones.
    pub fn expire(&mut self, now: u64) -> Vec<Lease6> {
        let gone: Vec<IaKey> = self.by_key.values().filter(|l| l.expires <= now).map(|l| l.key.clone()).collect();
        self.declined.retain(|_, until| *until > now);
        gone.iter().filter_map(|k| self.remove(k)).filter(|l| l.state == LeaseState::Bound).collect()
    }

    /// Bound leases, sorted by address (the persisted form).
    pub fn bound(&self) -> Vec<Lease6> {
        let mut v: Vec<Lease6> = self.by_key.values().filter(|l| l.state == LeaseState::Bound).cloned().collect();
        v.sort_by_key(|l| u128::from(l.ip));
        v
    }

    /// Every lease, bound or advertised (for tests and diagnostics).
    pub fn all(&self) -> impl Iterator<Item = &Lease6> {
        self.by_key.values()
    }
}
