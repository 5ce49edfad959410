//! How a rack trusts an `https://` region: by the SHA-256 fingerprint of the
//! region's certificate, not by a certificate authority.
//!
//! A region's certificate is usually self-signed (made at its first start),
//! so no CA vouches for it. The rack instead pins the end-entity
//! certificate's fingerprint, as SSH pins host keys:
//! - given (`--region-fingerprint`, one or more): only a certificate with
//!   one of them is accepted, whatever host answers;
//! - not given: trust on first use. The certificate of the first region that
//!   accepts the rack's registration is pinned for that host in
//!   `<rack data dir>/region-tls-pins.json` (0600); afterwards that host
//!   must present the same certificate, across restarts, or the rack
//!   refuses to talk to it (and says why: [`RegionPins::refusal`]).
//!
//! The pin replaces the CA, name and expiry checks (the fingerprint names
//! one certificate exactly); the handshake signature is still verified
//! against the certificate's key, so presenting a pinned certificate
//! without its private key fails.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use ironpool_common::tls::{format_fingerprint, parse_fingerprint};

/// The trust-on-first-use pins, in the rack's data directory.
pub const PIN_FILE: &str = "region-tls-pins.json";

/// What the rack accepts from `https://` regions, shared by every TLS
/// handshake of its HTTP client.
pub struct RegionPins {
    /// Operator-given fingerprints; when non-empty, the only ones accepted.
    given: Vec<[u8; 32]>,
    /// Where trust-on-first-use pins are kept.
    file: PathBuf,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Host → pinned fingerprint (trust on first use).
    pinned: BTreeMap<String, [u8; 32]>,
    /// Host → fingerprint of the last certificate accepted while unpinned,
    /// pinned by [`RegionPins::pin_after_registration`].
    seen: BTreeMap<String, [u8; 32]>,
    /// Why the last refused certificate was refused.
    refusal: Option<String>,
}

impl RegionPins {
    /// Pins from `given` fingerprints (any spelling `ironpool certificate`
    /// or openssl prints) or, when none are given, the trust-on-first-use
    /// pins saved in `data_dir`.
    pub fn load(given: &[String], data_dir: &Path) -> anyhow::Result<RegionPins> {
        let given = given
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(|s| {
                parse_fingerprint(s).ok_or_else(|| {
                    anyhow::anyhow!(
                        "--region-fingerprint: '{s}' is not a SHA-256 fingerprint (64 hex digits, \
                         colons allowed; `ironpool certificate` on the region prints it)"
                    )
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let file = data_dir.join(PIN_FILE);
        let mut inner = Inner::default();
        if given.is_empty() {
            match std::fs::read(&file) {
                Ok(bytes) => {
                    inner.pinned = parse_pin_file(&bytes).map_err(|e| {
                        anyhow::anyhow!("{}: {e} (delete it to pin the region's certificate again)", file.display())
                    })?
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => anyhow::bail!("cannot read {}: {e}", file.display()),
            }
        }
        Ok(RegionPins { given, file, inner: Mutex::new(inner) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Plain maps: a panicking holder cannot leave them inconsistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A rustls client configuration (ring) that accepts region
    /// certificates by these pins.
    pub fn client_config(self: &Arc<Self>) -> Result<rustls::ClientConfig, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Arc::new(PinVerifier { pins: self.clone(), provider });
        Ok(rustls::ClientConfig::builder_with_provider(verifier.provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth())
    }

    /// Why the last certificate was refused, for logs and tests; cleared by
    /// the next accepted one.
    pub fn refusal(&self) -> Option<String> {
        self.lock().refusal.clone()
    }

    /// Host → fingerprint (`AB:CD:…`) pinned by trust on first use.
    pub fn pinned(&self) -> BTreeMap<String, String> {
        self.lock().pinned.iter().map(|(h, fp)| (h.clone(), format_fingerprint(fp))).collect()
    }

    /// Called once the region at `url` accepted the rack's registration:
    /// pins the certificate it presented, if its host is not pinned yet and
    /// no fingerprint was given, and saves the pins. Returns the new pin.
    pub fn pin_after_registration(&self, url: &str) -> std::io::Result<Option<(String, String)>> {
        if !self.given.is_empty() {
            return Ok(None);
        }
        let Some(host) = host_of(url) else { return Ok(None) };
        let mut inner = self.lock();
        if inner.pinned.contains_key(&host) {
            return Ok(None);
        }
        let Some(fp) = inner.seen.get(&host).copied() else { return Ok(None) };
        inner.pinned.insert(host.clone(), fp);
        let json = serde_json::json!({
            "region_certificates": inner.pinned.iter()
                .map(|(h, fp)| (h.clone(), serde_json::Value::String(format_fingerprint(fp))))
                .collect::<serde_json::Map<_, _>>(),
        });
        drop(inner);
        write_private(&self.file, &serde_json::to_vec_pretty(&json).unwrap_or_default())?;
        Ok(Some((host, format_fingerprint(&fp))))
    }

    /// Accepts or refuses the certificate `fp` presented by `host`.
    fn check(&self, host: &str, fp: [u8; 32]) -> Result<(), String> {
        let mut inner = self.lock();
        let verdict = if !self.given.is_empty() {
            if self.given.contains(&fp) {
                Ok(())
            } else {
                Err(format!(
                    "the region at {host} presented a TLS certificate with SHA-256 fingerprint {}, which is not \
                     the one given with --region-fingerprint ({}); refusing to talk to it. If the region's \
                     certificate was replaced on purpose, give the rack the new fingerprint (`ironpool \
                     certificate` on the region prints it)",
                    format_fingerprint(&fp),
                    self.given.iter().map(format_fingerprint).collect::<Vec<_>>().join(", ")
                ))
            }
        } else {
            match inner.pinned.get(host) {
                Some(pin) if *pin == fp => Ok(()),
                Some(pin) => Err(format!(
                    "the region at {host} presented a TLS certificate with SHA-256 fingerprint {}, but this rack \
                     pinned {} for it at its first registration ({}); refusing to talk to it. If the region's \
                     certificate was replaced on purpose, delete that file or pass --region-fingerprint with the \
                     new fingerprint (`ironpool certificate` on the region prints it)",
                    format_fingerprint(&fp),
                    format_fingerprint(pin),
                    self.file.display()
                )),
                None => {
                    inner.seen.insert(host.to_string(), fp);
                    Ok(())
                }
            }
        };
        inner.refusal = verdict.as_ref().err().cloned();
        verdict
    }
}

/// The host of a region URL as rustls names the server (IPv6 without brackets).
fn host_of(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    let host = u.host_str()?;
    Some(host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase())
}

fn parse_pin_file(bytes: &[u8]) -> Result<BTreeMap<String, [u8; 32]>, String> {
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let map = v["region_certificates"].as_object().ok_or("no \"region_certificates\" object")?;
    map.iter()
        .map(|(host, fp)| {
            let fp = fp.as_str().and_then(parse_fingerprint).ok_or(format!("bad fingerprint for {host}"))?;
            Ok((host.clone(), fp))
        })
        .collect()
}

/// Writes `bytes` 0600 through a temporary file and a rename.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// rustls's hook: the pin decides the certificate, the provider checks the
/// handshake signatures.
struct PinVerifier {
    pins: Arc<RegionPins>,
    provider: Arc<CryptoProvider>,
}

impl std::fmt::Debug for PinVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PinVerifier")
    }
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use sha2::{Digest, Sha256};
        let fp: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        let host = server_name.to_str().to_ascii_lowercase();
        match self.pins.check(&host, fp) {
            Ok(()) => Ok(ServerCertVerified::assertion()),
            Err(why) => {
                tracing::error!("{why}");
                Err(rustls::Error::General(why))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_pins_rule_else_first_use_is_pinned_and_saved() {
        let dir = tempfile::tempdir().unwrap();
        let a = [1u8; 32];
        let b = [2u8; 32];
        assert!(RegionPins::load(&["nope".into()], dir.path()).is_err());

        let given = RegionPins::load(&[format_fingerprint(&a)], dir.path()).unwrap();
        assert!(given.check("r1", a).is_ok());
        let why = given.check("r1", b).unwrap_err();
        assert!(why.contains("--region-fingerprint") && why.contains(&format_fingerprint(&b)), "{why}");
        assert_eq!(given.refusal(), Some(why));
        assert_eq!(given.pin_after_registration("https://r1:5443").unwrap(), None);
        assert!(!dir.path().join(PIN_FILE).exists());

        let tofu = RegionPins::load(&[], dir.path()).unwrap();
        assert!(tofu.check("r1", a).is_ok(), "unpinned hosts are accepted");
        let pinned = tofu.pin_after_registration("https://R1:5443/MAAS/").unwrap();
        assert_eq!(pinned, Some(("r1".into(), format_fingerprint(&a))));
        assert!(tofu.check("r1", b).unwrap_err().contains(PIN_FILE));
        assert!(tofu.check("r1", a).is_ok());
        assert_eq!(tofu.refusal(), None);

        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(dir.path().join(PIN_FILE)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let reloaded = RegionPins::load(&[], dir.path()).unwrap();
        assert_eq!(reloaded.pinned(), BTreeMap::from([("r1".to_string(), format_fingerprint(&a))]));
        assert!(reloaded.check("r1", b).is_err());
        // Another host is pinned on its own first use.
        assert!(reloaded.check("::1", b).is_ok());
        assert!(reloaded.pin_after_registration("https://[::1]:5443").unwrap().is_some());
        assert_eq!(RegionPins::load(&[], dir.path()).unwrap().pinned().len(), 2);

        std::fs::write(dir.path().join(PIN_FILE), b"{}").unwrap();
        assert!(RegionPins::load(&[], dir.path()).err().unwrap().to_string().contains("delete it"));
    }
}
