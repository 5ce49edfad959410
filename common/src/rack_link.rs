//! The region ↔ rack wire protocol: JSON bodies over HTTP under
//! [`RPC_PREFIX`], every request and every answer signed. Here, not in the
//! rack crate, so the region and the rack compile against one definition
//! without the region linking the rack.
//!
//! The rack always calls the region (never the other way round), so a rack
//! behind NAT or a firewall only needs outbound HTTP. The calls are:
//!
//! | Call | Body → answer | Purpose |
//! |---|---|---|
//! | `POST register` | [`RegisterRequest`] → [`RegisterResponse`] | creates or updates the rack node and its interfaces; issues the rack's key |
//! | `POST sync` | [`SyncRequest`] → [`SyncResponse`] | heartbeat; returns the rack's configuration when its hash changed, and the power jobs leased to it |
//! | `POST leases` | [`LeaseReport`] → [`Applied`] | DHCP lease events, batched |
//! | `POST boot-events` | [`BootEventReport`] → [`Applied`] | which machine fetched which boot file |
//! | `POST power-results` | [`PowerResultReport`] → [`Applied`] | outcome of the power commands `sync` handed out |
//! | `GET images/{sha256}` | file bytes (Range honoured) | boot files for the rack's cache |
//!
//! **Keys.** The region's shared secret (`ironpool secret`, MAAS's
//! `/var/lib/maas/secret`) is a *registration* secret: a request signed with
//! it (a header without `rack=`) may only `register`. The first
//! registration of a rack creates its node and answers with the rack's own
//! random key ([`RegisterResponse::rack_key`], in an answer signed with the
//! shared secret); the rack keeps it in its data dir (0600) and signs every
//! later call with it, naming itself in the header (`rack=<system_id>`).
//! Re-registering an existing rack needs its key: the shared secret alone is
//! refused (403) for a rack that has one, so whoever holds only the shared
//! secret can neither impersonate a rack nor learn what it is sent. A rack
//! that lost its key is deleted by an admin (`DELETE rackcontrollers/{id}/`)
//! and registers afresh; when a rack signs with a key for a rack the region
//! no longer knows, the region answers 404 and the rack registers afresh.
//! Racks registered before per-rack keys existed get their key at their next
//! registration with the shared secret.
//!
//! **Acceptance.** A new rack is *accepted* if it is the first rack, else only
//! once an admin accepts it (`POST rackcontrollers/{id}/?op=accept`). Until
//! then it may sync (it shows as connected) but gets no configuration (which
//! carries boot secrets), no power jobs, and its lease and boot-event reports
//! are refused (403).
//!
//! **Signatures** ([`sign_request`]/[`verify`]): HMAC-SHA256 keyed with the
//! rack's key (or, for `register`, the shared secret) over the method, the
//! path with query, a Unix timestamp, a random nonce and the SHA-256 of the
//! body. The region refuses a timestamp more than [`MAX_SKEW_SECS`] away
//! from its clock in either direction, a nonce already seen and a wrong
//! signature with 401, never saying which part was wrong. Nonces are kept in
//! the database (shared by every region on it, pruned once their timestamp
//! leaves the window), so a captured request is refused after a region
//! restart and by the other regions too.
//!
//! **Answers** ([`sign_response`]/[`verify_response`]): the region signs every
//! answer in [`REGION_AUTH_HEADER`] with the key that verified the request
//! (the shared secret when it could not tell the rack), over the status,
//! the request's nonce and the SHA-256 of the body, so an answer cannot be
//! forged, altered or replayed for another request. The rack acts only on
//! 2xx answers signed with the key it signed with. Boot files (`images/`)
//! are not signed: the rack checks their SHA-256 against the (signed)
//! configuration.
//!
//! **Least privilege.** A power job is leased to one rack, chosen among the
//! connected, accepted racks that serve the machine (primary or secondary
//! rack of its boot VLAN, else a rack with an interface on that VLAN, else
//! any such rack when none serves it); `sync` hands a rack only the jobs
//! leased to it, BMC credentials included, and `power-results` applies only
//! results for jobs leased to the calling rack (others are not applied and
//! not counted). A body's `system_id` must be the signing rack's (403).

use std::net::Ipv4Addr;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::dhcp::{DhcpConfig, LeaseEvent};

pub mod delta;
pub use delta::ConfigDelta;

/// Where the rack protocol lives on the region.
pub const RPC_PREFIX: &str = "/MAAS/rpc/v1/";
/// The header carrying the signature.
pub const AUTH_HEADER: &str = "x-ironpool-rack-auth";
/// The auth scheme name inside [`AUTH_HEADER`].
pub const AUTH_SCHEME: &str = "IronpoolRack";
/// The header carrying the region's signature of its answer.
pub const REGION_AUTH_HEADER: &str = "x-ironpool-region-auth";
/// The auth scheme name inside [`REGION_AUTH_HEADER`].
pub const REGION_AUTH_SCHEME: &str = "IronpoolRegion";
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
    /// The rack's own key (hex), present when the region issued one: at a
    /// rack's first registration (signed with the shared secret). The rack
    /// signs every later call with it.
    #[serde(default)]
    pub rack_key: Option<String>,
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
    /// Long poll: the region may hold the answer this long (milliseconds)
    /// until it has power commands the rack is not already running, or the
    /// time is up. `None`: answer at once (and the rack waits a heartbeat
    /// before its next sync).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_ms: Option<u64>,
    /// Power jobs the rack is running or holds results for, so a long poll
    /// does not return at once for a job the region repeats until its result
    /// arrives.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub power_in_flight: Vec<i64>,
}

/// The longest a region holds a long-polled `sync` (a rack's request
/// timeout must exceed the wait it asks for).
pub const MAX_SYNC_WAIT_MS: u64 = 60_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyncResponse {
    pub config_hash: String,
    /// The whole configuration, when `config_hash` differs from the rack's
    /// and the region cannot send `delta` instead.
    #[serde(default)]
    pub config: Option<RackConfig>,
    /// What changed since the configuration the rack holds (its hash is
    /// `delta.base_hash`): sent instead of `config` when the region knows
    /// that configuration. A rack that cannot apply it (another base, or
    /// a result that does not hash to `config_hash`) asks for the whole
    /// document by sending no hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<ConfigDelta>,
    /// BMC actions assigned to this rack and not yet reported; repeated on
    /// every sync until their result arrives (the rack runs each job once).
    #[serde(default)]
    pub power: Vec<PowerCommand>,
    /// The region honoured `wait_ms` (held the answer until there was work
    /// or the time was up). A region that predates long polls leaves it
    /// false, and the rack then waits a heartbeat between syncs itself.
    #[serde(default)]
    pub long_poll: bool,
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
    /// DHCPv6 for the IPv6 subnets of those VLANs; `None` (and absent from
    /// the JSON, so IPv4-only configurations hash as before) runs none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dhcp6: Option<crate::dhcp6::Dhcp6Config>,
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

/// The [`AUTH_HEADER`] value for a request signed with the shared secret
/// (what `register` uses before the rack has its own key).
pub fn sign(secret: &str, method: &str, path_and_query: &str, ts: i64, body: &[u8]) -> String {
    sign_request(secret, None, method, path_and_query, ts, body).0
}

/// The [`AUTH_HEADER`] value for a request and the nonce in it (the region
/// signs its answer over that nonce). `rack` names the rack whose own key
/// `key` is; `None` means `key` is the shared secret.
pub fn sign_request(
    key: &str,
    rack: Option<&str>,
    method: &str,
    path_and_query: &str,
    ts: i64,
    body: &[u8],
) -> (String, String) {
    let mut n = [0u8; 12];
    getrandom(&mut n);
    let nonce = hex(&n);
    let sig = hex(&mac_over(key, method, path_and_query, ts, &nonce, body).finalize().into_bytes());
    let who = rack.map(|r| format!("rack={r},")).unwrap_or_default();
    (format!("{AUTH_SCHEME} {who}ts={ts},nonce={nonce},sig={sig}"), nonce)
}

/// The parts of a signature header.
#[derive(Debug, PartialEq, Eq)]
pub struct Signed<'a> {
    /// The rack whose own key signed, or `None` for the shared secret.
    pub rack: Option<&'a str>,
    pub ts: i64,
    pub nonce: &'a str,
    pub sig: &'a str,
}

pub fn parse_header(h: &str) -> Option<Signed<'_>> {
    let rest = h.strip_prefix(AUTH_SCHEME)?.trim_start();
    let (mut rack, mut ts, mut nonce, mut sig) = (None, None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "rack" if !v.is_empty() && v.len() <= 64 => rack = Some(v),
            "ts" => ts = v.parse().ok(),
            "nonce" if !v.is_empty() && v.len() <= 64 => nonce = Some(v),
            "sig" => sig = Some(v),
            _ => return None,
        }
    }
    Some(Signed { rack, ts: ts?, nonce: nonce?, sig: sig? })
}

fn response_mac(key: &str, status: u16, request_nonce: &str, body: &[u8]) -> Hmac<Sha256> {
    // As in mac_over: HMAC takes keys of any length.
    #[allow(clippy::expect_used)]
    let mut m = Hmac::<Sha256>::new_from_slice(key.trim().as_bytes()).expect("HMAC takes any key length");
    let body_hash = hex(&Sha256::digest(body));
    // "answer" keeps an answer's MAC from ever equalling a request's.
    m.update(format!("answer\n{status}\n{request_nonce}\n{body_hash}").as_bytes());
    m
}

/// The [`REGION_AUTH_HEADER`] value for an answer to the request that
/// carried `request_nonce`.
pub fn sign_response(key: &str, status: u16, request_nonce: &str, body: &[u8]) -> String {
    let sig = hex(&response_mac(key, status, request_nonce, body).finalize().into_bytes());
    format!("{REGION_AUTH_SCHEME} sig={sig}")
}

/// Whether `header` is the region's signature of this answer (constant time).
pub fn verify_response(key: &str, status: u16, request_nonce: &str, header: &str, body: &[u8]) -> bool {
    let Some(sig) = header.strip_prefix(REGION_AUTH_SCHEME).and_then(|r| r.trim().strip_prefix("sig=")) else {
        return false;
    };
    let Some(expected) = unhex(sig) else { return false };
    response_mac(key, status, request_nonce, body).verify_slice(&expected).is_ok()
}

/// Checks a signature in constant time (the HMAC crate's `verify_slice`).
/// The caller checks the timestamp window and nonce reuse.
pub fn verify(secret: &str, method: &str, path_and_query: &str, s: &Signed<'_>, body: &[u8]) -> bool {
    let Some(expected) = unhex(s.sig) else { return false };
    mac_over(secret, method, path_and_query, s.ts, s.nonce, body).verify_slice(&expected).is_ok()
}

/// Bytes from lower- or upper-case hex; `None` for anything else.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
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
    fn per_rack_header_and_signed_answers() {
        let key = new_secret();
        let (h, nonce) = sign_request(&key, Some("abc123"), "POST", "/MAAS/rpc/v1/sync", 1_700_000_000, b"{}");
        let s = parse_header(&h).unwrap();
        assert_eq!(s.rack, Some("abc123"));
        assert_eq!(s.nonce, nonce);
        assert!(verify(&key, "POST", "/MAAS/rpc/v1/sync", &s, b"{}"));
        assert_eq!(parse_header(&sign(&key, "GET", "/", 1, b"")).unwrap().rack, None);

        let a = sign_response(&key, 200, &nonce, b"{\"x\":1}");
        assert!(verify_response(&key, 200, &nonce, &a, b"{\"x\":1}"));
        // Another body, status, request or key: refused.
        assert!(!verify_response(&key, 200, &nonce, &a, b"{\"x\":2}"));
        assert!(!verify_response(&key, 201, &nonce, &a, b"{\"x\":1}"));
        assert!(!verify_response(&key, 200, "other", &a, b"{\"x\":1}"));
        assert!(!verify_response(&new_secret(), 200, &nonce, &a, b"{\"x\":1}"));
        assert!(!verify_response(&key, 200, &nonce, "IronpoolRegion sig=zz", b""));
        assert!(!verify_response(&key, 200, &nonce, "", b""));
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
