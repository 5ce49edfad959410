//! The region's HTTPS identity: the operator's certificate and key, or a
//! self-signed certificate made at first start and kept in the data
//! directory.
//!
//! MAAS clients send PLAINTEXT OAuth (the token secret itself) and racks
//! receive BMC passwords, so everything off a trusted network should go over
//! HTTPS. HTTP stays beside it for what cannot do TLS (PXE, iPXE, the
//! metadata calls of booting machines, clients configured with `http://`).
//!
//! The self-signed certificate lives in `<data_dir>/tls/` (`region.pem`,
//! `region-key.pem`, both 0600 like everything in the data directory) and is
//! reused at every start, so its fingerprint (what racks pin and admins hand
//! to clients) changes only when an admin deletes or replaces the files.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::RegionConfig;
use crate::error::{Error, Result};

/// Where the self-signed certificate is kept, relative to the data directory.
pub const GENERATED_CERT: &str = "tls/region.pem";
pub const GENERATED_KEY: &str = "tls/region-key.pem";

/// How long a generated certificate is valid: long, because nothing renews
/// it; clients trust it by fingerprint or as their own CA, and an admin
/// replaces it on purpose (docs/tls.md).
const GENERATED_YEARS: i32 = 10;

/// A certificate chain and key the region serves, and where they came from.
pub struct Identity {
    /// End-entity certificate first.
    pub chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    /// SHA-256 of the end-entity certificate, `AB:CD:…`.
    pub fingerprint: String,
    /// The PEM file the chain was read from (or written to).
    pub cert_path: PathBuf,
    /// Whether this start made the certificate (first start, or deleted files).
    pub created: bool,
}

impl Identity {
    /// A rustls server configuration (ring, TLS 1.2 and 1.3) serving this
    /// identity. Fails when the key does not belong to the certificate.
    pub fn server_config(&self) -> Result<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Internal(format!("TLS: {e}")))?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| {
                Error::Internal(format!(
                    "TLS: cannot serve the certificate {} with its key: {e}",
                    self.cert_path.display()
                ))
            })
    }
}

/// The identity `config` names: the operator's files when `tls_cert` and
/// `tls_key` are set, else the generated certificate in the data directory,
/// made now if absent. The data directory must exist (see `data_dir::secure`).
pub fn load_or_create(config: &RegionConfig) -> Result<Identity> {
    match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => load(cert, key, false),
        (None, None) => {
            let cert = config.data_dir.join(GENERATED_CERT);
            let key = config.data_dir.join(GENERATED_KEY);
            if cert.exists() || key.exists() {
                return load(&cert, &key, false);
            }
            generate(config, &cert, &key)?;
            load(&cert, &key, true)
        }
        _ => Err(Error::Internal(
            "TLS: --tls-cert and --tls-key go together (a PEM certificate chain and its PEM private key)".into(),
        )),
    }
}

fn load(cert: &Path, key: &Path, created: bool) -> Result<Identity> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| Error::Internal(format!("TLS: cannot read certificates from {}: {e}", cert.display())))?;
    let first = chain.first().ok_or_else(|| {
        Error::Internal(format!("TLS: {} holds no PEM certificate (BEGIN CERTIFICATE)", cert.display()))
    })?;
    let fingerprint = ironpool_common::tls::fingerprint(first);
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| Error::Internal(format!("TLS: cannot read a PEM private key from {}: {e}", key.display())))?;
    let identity = Identity { chain, key, fingerprint, cert_path: cert.to_path_buf(), created };
    // Refuse a key of another certificate now, not at the first handshake.
    identity.server_config()?;
    Ok(identity)
}

/// Makes a self-signed certificate for this host and writes it and its key
/// (0600, through a temporary file and a rename, so a crash never leaves
/// half a key under the real name).
fn generate(config: &RegionConfig, cert_path: &Path, key_path: &Path) -> Result<()> {
    let tls_err = |e: rcgen::Error| Error::Internal(format!("TLS: cannot make a certificate: {e}"));
    let names = subject_names(config);
    let mut params = rcgen::CertificateParams::new(names.clone()).map_err(tls_err)?;
    let host = names.first().cloned().unwrap_or_else(|| "localhost".into());
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, host);
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "Ironpool region (self-signed)");
    // From the first of this month (a client whose clock is a little behind
    // still accepts it) for ten years.
    let today = chrono::Utc::now().date_naive();
    use chrono::Datelike;
    let month = today.month() as u8;
    params.not_before = rcgen::date_time_ymd(today.year(), month, 1);
    params.not_after = rcgen::date_time_ymd(today.year() + GENERATED_YEARS, month, 1);
    let mut serial: [u8; 16] = rand::random();
    serial[0] &= 0x7f; // a positive INTEGER
    params.serial_number = Some(rcgen::SerialNumber::from(serial.to_vec()));
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = rcgen::KeyPair::generate().map_err(tls_err)?;
    let cert = params.self_signed(&key).map_err(tls_err)?;
    if let Some(dir) = cert_path.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| Error::Internal(format!("TLS: cannot create {}: {e}", dir.display())))?;
    }
    // The key first: a certificate without its key would be loaded next
    // start and fail; a key without a certificate is made again.
    write_private(key_path, key.serialize_pem().as_bytes())?;
    write_private(cert_path, cert.pem().as_bytes())?;
    tracing::info!(path = %cert_path.display(), names = ?names, "made a self-signed TLS certificate");
    Ok(())
}

/// What the generated certificate is valid for: the host name (first, also
/// the common name), `localhost`, the loopback addresses, a specific
/// `listen`/`tls_listen` address, and the operator's `tls_names`.
fn subject_names(config: &RegionConfig) -> Vec<String> {
    let mut names = Vec::new();
    let host = fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_default();
    if !host.is_empty() {
        names.push(host);
    }
    names.extend(["localhost".to_string(), "127.0.0.1".into(), "::1".into()]);
    for addr in [Some(config.listen.clone()), config.tls_listen_addr()].into_iter().flatten() {
        if let Ok(sa) = addr.parse::<std::net::SocketAddr>() {
            if !sa.ip().is_unspecified() {
                names.push(sa.ip().to_string());
            }
        }
    }
    names.extend(config.tls_names.iter().map(|n| n.trim().to_string()).filter(|n| !n.is_empty()));
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.to_ascii_lowercase()));
    names
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |e: std::io::Error| Error::Internal(format!("TLS: cannot write {}: {e}", path.display()));
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(io)?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(io)?;
    fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generated_once_then_reused_and_private() {
        let tmp = tempfile::tempdir().unwrap();
        let mut cfg = RegionConfig::with_data_dir(tmp.path());
        cfg.listen = "10.9.8.7:5240".into();
        cfg.tls_names = vec!["maas.example.com".into(), "LOCALHOST".into()];
        let first = load_or_create(&cfg).unwrap();
        assert!(first.created);
        let key = tmp.path().join(GENERATED_KEY);
        assert_eq!(fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(tmp.path().join("tls")).unwrap().permissions().mode() & 0o777, 0o700);
        let again = load_or_create(&cfg).unwrap();
        assert!(!again.created);
        assert_eq!(again.fingerprint, first.fingerprint);
        let names = subject_names(&cfg);
        assert!(names.contains(&"10.9.8.7".to_string()), "{names:?}");
        assert!(names.contains(&"maas.example.com".to_string()), "{names:?}");
        assert_eq!(names.iter().filter(|n| n.eq_ignore_ascii_case("localhost")).count(), 1, "{names:?}");
    }

    #[test]
    fn half_configured_or_mismatched_files_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let mut cfg = RegionConfig::with_data_dir(tmp.path());
        cfg.tls_cert = Some(tmp.path().join("c.pem"));
        let e = load_or_create(&cfg).err().unwrap().to_string();
        assert!(e.contains("go together"), "{e}");

        // Two generated identities; serving one's certificate with the other's key fails.
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        load_or_create(&RegionConfig::with_data_dir(a.path())).unwrap();
        load_or_create(&RegionConfig::with_data_dir(b.path())).unwrap();
        cfg.tls_cert = Some(a.path().join(GENERATED_CERT));
        cfg.tls_key = Some(b.path().join(GENERATED_KEY));
        let e = load_or_create(&cfg).err().unwrap().to_string();
        assert!(e.contains("with its key"), "{e}");
        cfg.tls_key = Some(a.path().join(GENERATED_CERT));
        let e = load_or_create(&cfg).err().unwrap().to_string();
        assert!(e.contains("private key"), "{e}");
    }
}
