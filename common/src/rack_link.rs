//! The region ↔ rack wire protocol: JSON bodies over HTTP under
//! [`RPC_PREFIX`], every request signed with the shared secret. Here, not
//! in the rack crate, so the region and the rack compile against one
//! definition without the region linking the rack.
//!
//! The rack always calls the region (never the other way round), so a rack
//! behind NAT or a firewall only needs outbound HTTP. The calls are:
//!
//! | Call | Body → answer | Purpose |
//! |---|---|---|
//! | `POST register` | [`RegisterRequest`] → [`RegisterResponse`] | idempotent: creates or updates the rack node and its interfaces |
//! | `POST sync` | [`SyncRequest`] → [`SyncResponse`] | heartbeat; returns the rack's configuration when its hash changed |
//! | `POST leases` | [`LeaseReport`] → `{}` | DHCP lease events, batched |
//! | `POST boot-events` | [`BootEventReport`] → `{}` | which machine fetched which boot file |
//! | `POST power-results` | [`PowerResultReport`] → `{}` | outcome of the power commands `sync` handed out |
//! | `GET images/{sha256}` | file bytes (Range honoured) | boot files for the rack's cache |
//!
//! Authentication ([`sign`]/[`verify`]): HMAC-SHA256 keyed with the secret
//! over the method, the path with query, a Unix timestamp, a random nonce
//! and the SHA-256 of the body. The region refuses a stale timestamp, a
//! reused nonce and a wrong signature with 401 and never says which part
//! was wrong.

use std::net::Ipv4Addr;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::dhcp::{DhcpConfig, LeaseEvent};

/// Where the rack protocol lives on the region.
pub const RPC_PREFIX: &str = "/MAAS/rpc/v1/";
/// The header carrying the signature.
pub const AUTH_HEADER: &str = "x-ironpool-rack-auth";
/// The auth scheme name inside [`AUTH_HEADER`].
pub const AUTH_SCHEME: &str = "IronpoolRack";
/// How far a request's timestamp may be from the region's clock.
pub const MAX_SKEW_SECS: i64 = 300;

/// One network interface of the rack host, as it reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RackInterface {
    pub name: String,
    /// `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    /// Addresses with prefix length, `10.0.0.2/24` or `2001:db8::2/64`.
    #[serde(default)]
    pub addresses: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisterRequest {
    /// What the region answered last time; `None` on first contact.
    #[serde(default)]
    pub system_id: Option<String>,
    pub hostname: String,
    pub version: String,
    pub interfaces: Vec<RackInterface>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisterResponse {
    pub system_id: String,
    /// How often the rack should call `sync`.
    pub heartbeat_secs: u64,
}

/// A service the rack runs, shown in `rackcontrollers/{id}/`'s `service_set`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub name: String,
    /// `running`, `off` or `dead`, as MAAS reports services.
    pub status: String,
    #[serde(default)]
    pub status_info: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyncRequest {
    pub system_id: String,
    /// Hash of the configuration the rack holds; `None` if it has none.
    #[serde(default)]
    pub config_hash: Option<String>,
    #[serde(default)]
    pub services: Vec<ServiceStatus>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyncResponse {
    pub config_hash: String,
    /// Present only when `config_hash` differs from the rack's.
    #[serde(default)]
    pub config: Option<RackConfig>,
    /// BMC actions assigned to this rack and not yet reported; repeated on
    /// every sync until their result arrives (the rack runs each job once).
    #[serde(default)]
    pub power: Vec<PowerCommand>,
}

/// One BMC action for the rack to perform (a durable job on the region).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PowerCommand {
    pub job_id: i64,
    pub system_id: String,
    pub power_type: String,
    /// `on`, `off`, `cycle` or `query`.
    pub action: String,
    /// The machine's power parameters, secrets included: the link must run
    /// over HTTPS when racks and regions are on untrusted networks.
    pub params: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PowerResult {
    pub job_id: i64,
    /// The observed state (`on`/`off`/`unknown`) when the BMC answered.
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub error: Option<crate::power::PowerError>,
}

/// The region's answer to a report (leases, boot events, power results):
/// how many of its entries it applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub applied: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PowerResultReport {
    pub system_id: String,
    pub results: Vec<PowerResult>,
}

/// Everything a rack serves, computed by the region from its model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RackConfig {
    /// DHCP for the VLANs this rack is primary or secondary on with DHCP
    /// enabled; `None` means the rack runs no DHCP server.
    #[serde(default)]
    pub dhcp: Option<DhcpConfig>,
    pub boot: BootConfig,
}

/// What network-booting machines are told to boot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootConfig {
    /// For MACs the region does not know: enlistment.
    pub enlist: BootEntry,
    /// Known machines by boot MAC.
    pub machines: Vec<BootMachine>,
    /// Deployable images (custom uploads and imported root images): the
    /// installer fetches them from the rack's `/images/{sha256}` like boot
    /// files.
    #[serde(default)]
    pub images: Vec<ImageRef>,
}

/// Why a machine is booting, as MAAS names the boot purposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    /// Unknown machine: boot the ephemeral environment to enlist.
    Enlist,
    /// Commissioning, testing, rescue or disk erasing: the ephemeral environment.
    Commissioning,
    /// Deploying: the ephemeral environment installs the OS.
    Xinstall,
    /// Boot from the local disk.
    Local,
}

/// A purpose's name as MAAS writes it (boot script labels, events).
pub fn purpose_name(p: Purpose) -> &'static str {
    match p {
        Purpose::Enlist => "enlist",
        Purpose::Commissioning => "commissioning",
        Purpose::Xinstall => "xinstall",
        Purpose::Local => "local",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootMachine {
    /// Lower-case, colon separated.
    pub mac: String,
    pub system_id: String,
    pub hostname: String,
    pub purpose: Purpose,
    /// The kernel to boot for the ephemeral purposes.
    pub entry: BootEntry,
}

/// A kernel, an initrd and a command line. `{rack}` in `cmdline` is replaced
/// by the rack with its own address as the machine sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootEntry {
    #[serde(default)]
    pub kernel: Option<ImageRef>,
    #[serde(default)]
    pub initrd: Option<ImageRef>,
    #[serde(default)]
    pub cmdline: String,
}

/// A boot file in the region's store, fetched by content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRef {
    pub sha256: String,
    pub size: u64,
    /// For people reading logs (`ironpool/amd64/boot-kernel`).
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaseReport {
    pub system_id: String,
    pub events: Vec<LeaseEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootEvent {
    pub mac: String,
    /// What was fetched: `ipxe.cfg-…`, an image name…
    pub file: String,
    /// The client's address.
    pub ip: Ipv4Addr,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BootEventReport {
    pub system_id: String,
    pub events: Vec<BootEvent>,
}

/// A new shared secret: 32 random bytes, hex (what `ironpool secret` prints).
pub fn new_secret() -> String {
    let mut b = [0u8; 32];
    getrandom(&mut b);
    hex(&b)
}

// /dev/urandom is always there and readable on the Linux hosts regions and
// racks run on, so this does not fail in practice; if it ever did, a panic
// beats a guessable secret or nonce, and the callers' String signatures
// (used by the region) leave no error to return.
#[allow(clippy::expect_used)]
fn getrandom(buf: &mut [u8]) {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .expect("cannot read /dev/urandom for a random secret");
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `s` looks like a secret [`new_secret`] makes (or MAAS's: hex).
pub fn valid_secret(s: &str) -> bool {
    s.len() >= 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn mac_over(secret: &str, method: &str, path_and_query: &str, ts: i64, nonce: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length (longer ones are hashed first), so
    // new_from_slice cannot return InvalidLength here.
    #[allow(clippy::expect_used)]
    let mut m = Hmac::<Sha256>::new_from_slice(secret.trim().as_bytes()).expect("HMAC takes any key length");
    let body_hash = hex(&Sha256::digest(body));
    m.update(format!("{method}\n{path_and_query}\n{ts}\n{nonce}\n{body_hash}").as_bytes());
    m
}

/// The [`AUTH_HEADER`] value for a request.
pub fn sign(secret: &str, method: &str, path_and_query: &str, ts: i64, body: &[u8]) -> String {
    let mut n = [0u8; 12];
    getrandom(&mut n);
    let nonce = hex(&n);
    let sig = hex(&mac_over(secret, method, path_and_query, ts, &nonce, body).finalize().into_bytes());
    format!("{AUTH_SCHEME} ts={ts},nonce={nonce},sig={sig}")
}

/// The parts of a signature header.
#[derive(Debug, PartialEq, Eq)]
pub struct Signed<'a> {
    pub ts: i64,
    pub nonce: &'a str,
    pub sig: &'a str,
}

pub fn parse_header(h: &str) -> Option<Signed<'_>> {
    let rest = h.strip_prefix(AUTH_SCHEME)?.trim_start();
    let (mut ts, mut nonce, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "ts" => ts = v.parse().ok(),
            "nonce" if !v.is_empty() && v.len() <= 64 => nonce = Some(v),
            "sig" => sig = Some(v),
            _ => return None,
        }
    }
    Some(Signed { ts: ts?, nonce: nonce?, sig: sig? })
}

/// Checks a signature in constant time (the HMAC crate's `verify_slice`).
/// The caller checks the timestamp window and nonce reuse.
pub fn verify(secret: &str, method: &str, path_and_query: &str, s: &Signed<'_>, body: &[u8]) -> bool {
    let Some(expected) = unhex(s.sig) else { return false };
    mac_over(secret, method, path_and_query, s.ts, s.nonce, body).verify_slice(&expected).is_ok()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// Lower-case, colon-separated MAC, or `None` if `s` is not one.
pub fn normalise_mac(s: &str) -> Option<String> {
    s.parse::<crate::dhcp::MacAddr>().ok().map(|m| m.to_string())
}

/// The SHA-256 of a configuration's canonical JSON, so both sides agree.
pub fn config_hash(cfg: &RackConfig) -> String {
    hex(&Sha256::digest(serde_json::to_vec(cfg).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_round_trip_and_tamper() {
        let secret = new_secret();
        assert!(valid_secret(&secret));
        let h = sign(&secret, "POST", "/MAAS/rpc/v1/sync", 1_700_000_000, b"{}");
        let s = parse_header(&h).unwrap();
        assert_eq!(s.ts, 1_700_000_000);
        assert!(verify(&secret, "POST", "/MAAS/rpc/v1/sync", &s, b"{}"));
        assert!(!verify(&secret, "POST", "/MAAS/rpc/v1/sync", &s, b"{ }"));
        assert!(!verify(&secret, "GET", "/MAAS/rpc/v1/sync", &s, b"{}"));
        assert!(!verify(&secret, "POST", "/MAAS/rpc/v1/leases", &s, b"{}"));
        assert!(!verify(&new_secret(), "POST", "/MAAS/rpc/v1/sync", &s, b"{}"));
        let forged = Signed { ts: s.ts + 1, ..s };
        assert!(!verify(&secret, "POST", "/MAAS/rpc/v1/sync", &forged, b"{}"));
    }

    #[test]
    fn header_parsing_rejects_junk() {
        assert!(parse_header("OAuth x=1").is_none());
        assert!(parse_header("IronpoolRack ts=1,nonce=ab").is_none());
        assert!(parse_header("IronpoolRack ts=x,nonce=ab,sig=00").is_none());
        assert!(parse_header("IronpoolRack ts=1,nonce=ab,sig=00,extra=1").is_none());
        assert!(!verify("k", "GET", "/", &parse_header("IronpoolRack ts=1,nonce=ab,sig=zz").unwrap(), b""));
    }

    #[test]
    fn macs() {
        assert_eq!(normalise_mac("52-54-00-AA-bb-01").as_deref(), Some("52:54:00:aa:bb:01"));
        assert!(normalise_mac("nope").is_none());
    }
}
