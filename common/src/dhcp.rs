//! DHCP configuration the region computes for a rack (managed subnets,
//! dynamic ranges, reservations, boot settings) and the lease events the
//! rack reports back. Plain serde types: they travel as JSON in the rack
//! link (`rack_link`), and the rack's DHCP server runs from them.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A DHCP configuration, MAC address or CIDR that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("DHCP configuration: {0}")]
pub struct ConfigError(pub String);

/// An Ethernet address, written `52:54:00:aa:bb:01` (hyphens accepted).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for MacAddr {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let bad = || ConfigError(format!("'{s}' is not a MAC address"));
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for byte in out.iter_mut() {
            let p = parts.next().ok_or_else(bad)?;
            if p.len() != 2 {
                return Err(bad());
            }
            *byte = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddr(out))
    }
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// An IPv4 network, written `198.51.100.0/24`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    pub fn mask(&self) -> Ipv4Addr {
        Ipv4Addr::from(if self.prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(self.prefix)) })
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let m = u32::from(self.mask());
        u32::from(ip) & m == u32::from(self.network) & m
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !u32::from(self.mask()))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl fmt::Debug for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Cidr {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let bad = || ConfigError(format!("'{s}' is not an IPv4 CIDR (a.b.c.d/n)"));
        let (net, prefix) = s.split_once('/').ok_or_else(bad)?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        if prefix > 32 {
            return Err(bad());
        }
        Ok(Cidr { network: net.parse().map_err(|_| bad())?, prefix })
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// One managed subnet.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubnetConfig {
    pub cidr: Cidr,
    #[serde(default)]
    pub router: Option<Ipv4Addr>,
    #[serde(default)]
    pub dns_servers: Vec<Ipv4Addr>,
    #[serde(default)]
    pub domain: Option<String>,
    /// The dynamic range (inclusive) for unknown machines (enlistment).
    pub range_start: Ipv4Addr,
    pub range_end: Ipv4Addr,
    /// Seconds; MAAS uses 600.
    #[serde(default = "default_lease_time")]
    pub lease_time: u32,
    /// BOOTP next-server; defaults to the server's own address.
    #[serde(default)]
    pub next_server: Option<Ipv4Addr>,
}

fn default_lease_time() -> u32 {
    600
}

/// A fixed address for a known machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reservation {
    pub mac: MacAddr,
    pub ip: Ipv4Addr,
    #[serde(default)]
    pub hostname: Option<String>,
}

/// Boot file names by client architecture (RFC 4578 option 93).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct BootFiles {
    /// Arch 0 (x86 BIOS) and anything unknown.
    pub bios: String,
    /// Arch 7 and 9 (x86-64 UEFI).
    pub uefi_x64: String,
    /// Arch 11 (arm64 UEFI).
    pub uefi_arm64: String,
    /// Arch 16 (x86-64 UEFI HTTP boot): a URL template, `{server}` replaced.
    pub uefi_x64_http: String,
    /// Arch 19 (arm64 UEFI HTTP boot).
    pub uefi_arm64_http: String,
    /// Sent as option 210 to BIOS clients (PXELINUX path prefix), if set.
    pub pxelinux_path_prefix: Option<String>,
}

impl Default for BootFiles {
    fn default() -> Self {
        BootFiles {
            bios: "lpxelinux.0".into(),
            uefi_x64: "bootx64.efi".into(),
            uefi_arm64: "bootaa64.efi".into(),
            uefi_x64_http: "http://{server}:5248/images/bootx64.efi".into(),
            uefi_arm64_http: "http://{server}:5248/images/bootaa64.efi".into(),
            pxelinux_path_prefix: None,
        }
    }
}

/// The whole DHCP server configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DhcpConfig {
    /// The rack's address: server identifier, default next-server.
    pub server_address: Ipv4Addr,
    pub subnets: Vec<SubnetConfig>,
    #[serde(default)]
    pub reservations: Vec<Reservation>,
    #[serde(default)]
    pub boot_files: BootFiles,
    /// What iPXE (user class `iPXE`) is told to load; `{mac}` (colon
    /// separated) and `{server}` are replaced.
    #[serde(default = "default_ipxe_url")]
    pub ipxe_script_url: String,
    /// Lease time for PXE firmware (vendor class `PXEClient…`); MAAS uses 30 s.
    #[serde(default)]
    pub pxe_lease_time: Option<u32>,
    /// How long an offered address is held for the client's REQUEST.
    #[serde(default = "default_offer_hold")]
    pub offer_hold: u32,
    /// How long a declined address stays out of use.
    #[serde(default = "default_lease_time")]
    pub decline_hold: u32,
    /// Where leases are persisted (JSON); none keeps them in memory only.
    #[serde(default)]
    pub lease_file: Option<PathBuf>,
    /// Options administrators add with DHCP snippets, by scope.
    #[serde(default)]
    pub snippet_options: SnippetOptions,
}

/// One DHCP option as it goes on the wire: code and data (at most 255
/// bytes). The region encodes snippets' `option <name> <value>;` lines into
/// these, so the rack needs no option dictionary of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawOption {
    pub code: u8,
    pub data: Vec<u8>,
}

/// Option codes a snippet may never set: they carry the protocol itself
/// (message type, server identifier, requested address, parameter list,
/// client identifier, relay information, lease timers), so overriding them
/// would break the exchange rather than configure the client.
pub const PROTECTED_OPTION_CODES: &[u8] = &[0, 50, 51, 53, 54, 55, 58, 59, 61, 82, 255];

/// Options from DHCP snippets, by scope. A reply gets the global ones, then
/// its subnet's, then its dynamic range's, then its host's, each replacing
/// an option of the same code set before (the precedence ISC dhcpd gives
/// global, subnet, pool and host declarations, where MAAS writes them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SnippetOptions {
    pub global: Vec<RawOption>,
    pub subnets: Vec<SubnetOptions>,
    pub ranges: Vec<RangeOptions>,
    pub hosts: Vec<HostOptions>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetOptions {
    pub cidr: Cidr,
    pub options: Vec<RawOption>,
}

/// Options for addresses leased from one range (inclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeOptions {
    pub start: Ipv4Addr,
    pub end: Ipv4Addr,
    pub options: Vec<RawOption>,
}

/// Options for one client, by MAC (every interface of a snippet's node).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostOptions {
    pub mac: MacAddr,
    pub options: Vec<RawOption>,
}

impl SnippetOptions {
    pub fn is_empty(&self) -> bool {
        self.global.is_empty() && self.subnets.is_empty() && self.ranges.is_empty() && self.hosts.is_empty()
    }

    /// The options a reply to `mac`, leased `ip` in `cidr`, carries, in the
    /// order they apply (later ones win for the same code). Protected codes
    /// are left out whatever the region sent.
    pub fn for_client(&self, cidr: Cidr, mac: MacAddr, ip: Option<Ipv4Addr>) -> Vec<&RawOption> {
        let in_range = |r: &&RangeOptions| {
            ip.is_some_and(|ip| u32::from(r.start) <= u32::from(ip) && u32::from(ip) <= u32::from(r.end))
        };
        self.global
            .iter()
            .chain(self.subnets.iter().filter(|s| s.cidr == cidr).flat_map(|s| s.options.iter()))
            .chain(self.ranges.iter().filter(in_range).flat_map(|r| r.options.iter()))
            .chain(self.hosts.iter().filter(|h| h.mac == mac).flat_map(|h| h.options.iter()))
            .filter(|o| !PROTECTED_OPTION_CODES.contains(&o.code) && o.data.len() <= 255)
            .collect()
    }
}

fn default_ipxe_url() -> String {
    "http://{server}:5248/ipxe.cfg-{mac}".into()
}

fn default_offer_hold() -> u32 {
    60
}

impl DhcpConfig {
    /// A config with defaults for everything but the addresses.
    pub fn new(server_address: Ipv4Addr, subnets: Vec<SubnetConfig>) -> Self {
        DhcpConfig {
            server_address,
            subnets,
            reservations: Vec::new(),
            boot_files: BootFiles::default(),
            ipxe_script_url: default_ipxe_url(),
            pxe_lease_time: None,
            offer_hold: default_offer_hold(),
            decline_hold: default_lease_time(),
            lease_file: None,
            snippet_options: SnippetOptions::default(),
        }
    }

    /// Checks ranges sit inside their subnets and reservations are unique.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for s in &self.subnets {
            if !s.cidr.contains(s.range_start) || !s.cidr.contains(s.range_end) {
                return Err(ConfigError(format!("range {}-{} is not inside {}", s.range_start, s.range_end, s.cidr)));
            }
            if u32::from(s.range_start) > u32::from(s.range_end) {
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

/// What happened to a lease, for the region (IPAM, DNS, enlistment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeaseEventKind {
    /// Committed (ACK), including renewals.
    Bound,
    Released,
    Declined,
    Expired,
}

/// One lease change, as the rack reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseEvent {
    pub kind: LeaseEventKind,
    pub mac: MacAddr,
    pub ip: Ipv4Addr,
    pub hostname: Option<String>,
    /// Seconds granted (0 for releases, declines and expiries).
    pub lease_time: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_print_and_refuse_junk() {
        let m: MacAddr = "52-54-00-AA-bb-01".parse().unwrap();
        assert_eq!(m.to_string(), "52:54:00:aa:bb:01");
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"52:54:00:aa:bb:01\"");
        assert!("52:54:00:aa:bb".parse::<MacAddr>().is_err());
        assert!("52:54:00:aa:bb:01:02".parse::<MacAddr>().is_err());
        let c: Cidr = "198.51.100.0/24".parse().unwrap();
        assert!(c.contains("198.51.100.7".parse().unwrap()) && !c.contains("198.51.101.7".parse().unwrap()));
        assert_eq!(c.broadcast().to_string(), "198.51.100.255");
        assert_eq!(
            "10.0.0.0/33".parse::<Cidr>().unwrap_err().to_string(),
            "DHCP configuration: '10.0.0.0/33' is not an IPv4 CIDR (a.b.c.d/n)"
        );
    }
}
