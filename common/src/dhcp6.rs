//! DHCPv6 configuration the region computes for a rack: the IPv6 subnets
//! with a dynamic range on the VLANs the rack serves, reservations for known
//! machines (by MAC, as MAAS reserves), and the boot URLs UEFI HTTP boot and
//! PXE over IPv6 are given. Kept apart from [`crate::dhcp`] so an IPv4-only
//! rack's configuration (and its hash) is unchanged.

use std::fmt;
use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::dhcp::{ConfigError, MacAddr};

/// An IPv6 network, written `2001:db8::/64`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr6 {
    pub network: Ipv6Addr,
    pub prefix: u8,
}

impl Cidr6 {
    fn mask(&self) -> u128 {
        if self.prefix == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(self.prefix.min(128)))
        }
    }

    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        let m = self.mask();
        u128::from(ip) & m == u128::from(self.network) & m
    }
}

impl fmt::Display for Cidr6 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl fmt::Debug for Cidr6 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Cidr6 {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let bad = || ConfigError(format!("'{s}' is not an IPv6 CIDR (2001:db8::/64)"));
        let (net, prefix) = s.split_once('/').ok_or_else(bad)?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        if prefix > 128 {
            return Err(bad());
        }
        Ok(Cidr6 { network: net.parse().map_err(|_| bad())?, prefix })
    }
}

impl Serialize for Cidr6 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr6 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// One managed IPv6 subnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet6Config {
    pub cidr: Cidr6,
    /// The rack's own address in the subnet (or, for a relayed subnet, on
    /// the served VLAN): what boot URLs point at and how the server tells
    /// which subnet a directly attached client is on.
    pub server_address: Ipv6Addr,
    #[serde(default)]
    pub dns_servers: Vec<Ipv6Addr>,
    #[serde(default)]
    pub domain: Option<String>,
    /// The dynamic range (inclusive).
    pub range_start: Ipv6Addr,
    pub range_end: Ipv6Addr,
    /// Valid lifetime in seconds (MAAS: 600); the preferred lifetime is the
    /// same, T1 half and T2 seven eighths of it, as for IPv4.
    #[serde(default = "default_lease_time")]
    pub lease_time: u32,
}

/// A fixed IPv6 address for a known machine's MAC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation6 {
    pub mac: MacAddr,
    pub ip: Ipv6Addr,
    #[serde(default)]
    pub hostname: Option<String>,
}

/// Boot URLs for DHCPv6 clients (option 59 is always a URL). `{server}` is
/// replaced by the rack's address in brackets (`[2001:db8::1]`), `{mac}` by
/// the client's MAC where it is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Boot6 {
    /// Client architecture 16 (x86-64 UEFI HTTP boot) or vendor class
    /// `HTTPClient` without an architecture.
    pub uefi_x64_http: String,
    /// Architecture 19 (arm64 UEFI HTTP boot).
    pub uefi_arm64_http: String,
    /// Architectures 7 and 9 (x86-64 UEFI PXE over IPv6).
    pub uefi_x64_tftp: String,
    /// Architecture 11 (arm64 UEFI PXE).
    pub uefi_arm64_tftp: String,
    /// iPXE (user class `iPXE`): its script.
    pub ipxe_script_url: String,
}

impl Default for Boot6 {
    fn default() -> Self {
        Boot6 {
            uefi_x64_http: "http://{server}:5248/images/bootx64.efi".into(),
            uefi_arm64_http: "http://{server}:5248/images/bootaa64.efi".into(),
            uefi_x64_tftp: "tftp://{server}/bootx64.efi".into(),
            uefi_arm64_tftp: "tftp://{server}/bootaa64.efi".into(),
            ipxe_script_url: "http://{server}:5248/ipxe.cfg-{mac}".into(),
        }
    }
}

/// The whole DHCPv6 server configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dhcp6Config {
    pub subnets: Vec<Subnet6Config>,
    #[serde(default)]
    pub reservations: Vec<Reservation6>,
    #[serde(default)]
    pub boot: Boot6,
    /// How long an advertised address is held for the client's REQUEST.
    #[serde(default = "default_offer_hold")]
    pub offer_hold: u32,
    /// How long a declined address stays out of use.
    #[serde(default = "default_lease_time")]
    pub decline_hold: u32,
    /// Where leases are persisted (JSON); set by the rack, not the region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_file: Option<PathBuf>,
}

fn default_lease_time() -> u32 {
    600
}

fn default_offer_hold() -> u32 {
    60
}

impl Dhcp6Config {
    /// A config with defaults for everything but the subnets.
    pub fn new(subnets: Vec<Subnet6Config>) -> Self {
        Dhcp6Config {
            subnets,
            reservations: Vec::new(),
            boot: Boot6::default(),
            offer_hold: default_offer_hold(),
            decline_hold: default_lease_time(),
            lease_file: None,
        }
    }

    /// Checks ranges sit inside their subnets and reservations are unique.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for s in &self.subnets {
            if !s.cidr.contains(s.range_start) || !s.cidr.contains(s.range_end) {
                return Err(ConfigError(format!("range {}-{} is not inside {}", s.range_start, s.range_end, s.cidr)));
            }
            if u128::from(s.range_start) > u128::from(s.range_end) {
                return Err(ConfigError(format!("range {}-{} is reversed", s.range_start, s.range_end)));
            }
            if s.lease_time == 0 {
                return Err(ConfigError(format!("lease_time for {} must be positive", s.cidr)));
            }
        }
        let mut macs = std::collections::HashSet::new();
        let mut ips = std::collections::HashSet::new();
        for r in &self.reservations {
            if !macs.insert(r.mac) {
                return Err(ConfigError(format!("{} is reserved twice", r.mac)));
            }
            if !ips.insert(r.ip) {
                return Err(ConfigError(format!("{} is reserved for two machines", r.ip)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr6_parses_contains_and_refuses_junk() {
        let c: Cidr6 = "2001:db8:1::/64".parse().unwrap();
        assert!(c.contains("2001:db8:1::1234".parse().unwrap()));
        assert!(!c.contains("2001:db8:2::1".parse().unwrap()));
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"2001:db8:1::/64\"");
        assert!("2001:db8::/129".parse::<Cidr6>().is_err());
        assert!("10.0.0.0/8".parse::<Cidr6>().is_err());
        assert!("::/0".parse::<Cidr6>().unwrap().contains("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn validate_refuses_ranges_outside_and_duplicates() {
        let s = Subnet6Config {
            cidr: "2001:db8::/64".parse().unwrap(),
            server_address: "2001:db8::1".parse().unwrap(),
            dns_servers: vec![],
            domain: None,
            range_start: "2001:db8::100".parse().unwrap(),
            range_end: "2001:db8::1ff".parse().unwrap(),
            lease_time: 600,
        };
        let mut c = Dhcp6Config::new(vec![s.clone()]);
        assert!(c.validate().is_ok());
        c.subnets[0].range_end = "2001:db9::1".parse().unwrap();
        assert!(c.validate().is_err());
        let mut c = Dhcp6Config::new(vec![s]);
        let r = Reservation6 {
            mac: "52:54:00:00:00:01".parse().unwrap(),
            ip: "2001:db8::5".parse().unwrap(),
            hostname: None,
        };
        c.reservations = vec![r.clone(), r];
        assert!(c.validate().is_err());
    }
}
