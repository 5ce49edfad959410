//! Configuration deltas: what changed between the configuration a rack
//! holds and the region's current one, so that a change to one machine of
//! 10,000 sends one machine, not the whole document.
//!
//! A delta names the hash of the configuration it applies to. The rack
//! applies it only to that configuration and checks that the result hashes
//! to the hash the region sent; anything else (a region that restarted, a
//! rack that missed an answer, another region) falls back to the whole
//! document. Machines are keyed by boot MAC, in MAC order (the order
//! [`canonical`] gives and [`ConfigDelta::apply`] keeps), so both sides
//! build the same document.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{BootEntry, BootMachine, ImageRef, RackConfig};
use crate::dhcp::DhcpConfig;
use crate::dhcp6::Dhcp6Config;

/// A part replaced as a whole; `value: None` turns it off.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Replace<T> {
    pub value: Option<T>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConfigDelta {
    /// The hash of the configuration this applies to.
    pub base_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dhcp: Option<Replace<DhcpConfig>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dhcp6: Option<Replace<Dhcp6Config>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enlist: Option<BootEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<ImageRef>>,
    /// Machines added or changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub machines: Vec<BootMachine>,
    /// Boot MACs no longer listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
}

/// Puts a configuration's machines in MAC order, the order deltas keep.
pub fn canonical(mut cfg: RackConfig) -> RackConfig {
    cfg.boot.machines.sort_by(|a, b| a.mac.cmp(&b.mac));
    cfg
}

fn same<T: Serialize>(a: &T, b: &T) -> bool {
    // The parts' JSON is what the hash covers; equal JSON is equal config.
    match (serde_json::to_vec(a), serde_json::to_vec(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

impl ConfigDelta {
    /// What turns `old` (hashed `base_hash`) into `new`.
    pub fn between(old: &RackConfig, new: &RackConfig, base_hash: &str) -> ConfigDelta {
        let mut d = ConfigDelta { base_hash: base_hash.to_string(), ..Default::default() };
        if !same(&old.dhcp, &new.dhcp) {
            d.dhcp = Some(Replace { value: new.dhcp.clone() });
        }
        if !same(&old.dhcp6, &new.dhcp6) {
            d.dhcp6 = Some(Replace { value: new.dhcp6.clone() });
        }
        if old.boot.enlist != new.boot.enlist {
            d.enlist = Some(new.boot.enlist.clone());
        }
        if old.boot.images != new.boot.images {
            d.images = Some(new.boot.images.clone());
        }
        let before: BTreeMap<&str, &BootMachine> = old.boot.machines.iter().map(|m| (m.mac.as_str(), m)).collect();
        let after: BTreeMap<&str, &BootMachine> = new.boot.machines.iter().map(|m| (m.mac.as_str(), m)).collect();
        d.machines = after.iter().filter(|(mac, m)| before.get(*mac) != Some(*m)).map(|(_, m)| (*m).clone()).collect();
        d.removed = before.keys().filter(|mac| !after.contains_key(*mac)).map(|m| m.to_string()).collect();
        d
    }

    /// `base` with this delta applied, machines in MAC order.
    pub fn apply(&self, base: &RackConfig) -> RackConfig {
        let mut cfg = base.clone();
        if let Some(r) = &self.dhcp {
            cfg.dhcp = r.value.clone();
        }
        if let Some(r) = &self.dhcp6 {
            cfg.dhcp6 = r.value.clone();
        }
        if let Some(e) = &self.enlist {
            cfg.boot.enlist = e.clone();
        }
        if let Some(i) = &self.images {
            cfg.boot.images = i.clone();
        }
        let mut by_mac: BTreeMap<String, BootMachine> =
            std::mem::take(&mut cfg.boot.machines).into_iter().map(|m| (m.mac.clone(), m)).collect();
        for mac in &self.removed {
            by_mac.remove(mac);
        }
        for m in &self.machines {
            by_mac.insert(m.mac.clone(), m.clone());
        }
        cfg.boot.machines = by_mac.into_values().collect();
        cfg
    }

    /// How many parts and machines it carries (for logs).
    pub fn size(&self) -> usize {
        self.machines.len()
            + self.removed.len()
            + usize::from(self.dhcp.is_some())
            + usize::from(self.dhcp6.is_some())
            + usize::from(self.enlist.is_some())
            + usize::from(self.images.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{config_hash, BootConfig, Purpose};
    use super::*;

    fn machine(i: u32, purpose: Purpose) -> BootMachine {
        BootMachine {
            mac: format!("52:54:00:00:{:02x}:{:02x}", i >> 8, i & 0xff),
            system_id: format!("m{i}"),
            hostname: format!("host{i}"),
            purpose,
            entry: BootEntry { kernel: None, initrd: None, cmdline: format!("n={i}") },
        }
    }

    fn config(n: u32) -> RackConfig {
        // Built in reverse: canonical() must order them.
        canonical(RackConfig {
            dhcp: None,
            dhcp6: None,
            boot: BootConfig {
                enlist: BootEntry { kernel: None, initrd: None, cmdline: "enlist".into() },
                machines: (0..n).rev().map(|i| machine(i, Purpose::Local)).collect(),
                images: vec![],
            },
        })
    }

    #[test]
    fn a_delta_rebuilds_the_new_configuration_exactly() {
        let old = config(1000);
        let mut new = old.clone();
        new.boot.machines[7] = machine(7, Purpose::Commissioning);
        new.boot.machines.remove(500);
        new.boot.machines.push(machine(5000, Purpose::Xinstall));
        new.boot.enlist.cmdline = "enlist v2".into();
        let new = canonical(new);
        let d = ConfigDelta::between(&old, &new, &config_hash(&old));
        assert_eq!(d.machines.len(), 2, "{d:?}");
        assert_eq!(d.removed, vec![old.boot.machines[500].mac.clone()]);
        assert!(d.dhcp.is_none() && d.images.is_none() && d.enlist.is_some());
        let rebuilt = d.apply(&old);
        assert_eq!(config_hash(&rebuilt), config_hash(&new));
        // Through JSON, as it travels.
        let wire: ConfigDelta = serde_json::from_slice(&serde_json::to_vec(&d).unwrap()).unwrap();
        assert_eq!(config_hash(&wire.apply(&old)), config_hash(&new));
    }

    #[test]
    fn turning_dhcp_off_survives_the_wire() {
        let mut old = config(2);
        old.dhcp = Some(DhcpConfig::new(std::net::Ipv4Addr::new(10, 0, 0, 1), vec![]));
        let new = config(2);
        let d = ConfigDelta::between(&old, &new, "h");
        let wire: ConfigDelta = serde_json::from_slice(&serde_json::to_vec(&d).unwrap()).unwrap();
        let rebuilt = wire.apply(&old);
        assert!(rebuilt.dhcp.is_none());
        assert_eq!(config_hash(&rebuilt), config_hash(&new));
    }

    #[test]
    fn no_change_is_an_empty_delta() {
        let c = config(10);
        let d = ConfigDelta::between(&c, &c, "h");
        assert_eq!(d.size(), 0);
        assert_eq!(serde_json::to_string(&d).unwrap(), r#"{"base_hash":"h"}"#);
    }
}
