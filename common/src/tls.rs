//! Certificate fingerprints, as the region prints them and racks pin them.
//!
//! A fingerprint is the SHA-256 of a certificate's DER encoding, written as
//! `openssl x509 -noout -fingerprint -sha256` does (upper-case hex pairs
//! joined by colons), so an operator can compare the region's log line, the
//! `ironpool certificate` output and openssl's. Parsing is lenient about
//! the spelling (case, colons, spaces, a `sha256:` or `SHA256 Fingerprint=`
//! prefix) because people paste these from many tools.

use sha2::{Digest, Sha256};

/// The SHA-256 fingerprint of a DER certificate, `AB:CD:…` (95 characters).
pub fn fingerprint(der: &[u8]) -> String {
    format_fingerprint(&Sha256::digest(der).into())
}

/// `AB:CD:…` for 32 raw bytes.
pub fn format_fingerprint(fp: &[u8; 32]) -> String {
    fp.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// The 32 bytes of a SHA-256 fingerprint in any common spelling; `None`
/// when it is not 64 hex digits once separators and a prefix are removed.
pub fn parse_fingerprint(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    // `SHA256 Fingerprint=AB:…` (openssl), `sha256:ab…`, `SHA256:…`.
    let s = s.rsplit_once('=').map(|(_, v)| v).unwrap_or(s);
    let lower = s.to_ascii_lowercase();
    let s = lower.strip_prefix("sha256:").unwrap_or(&lower);
    let hex: Vec<u8> = s.bytes().filter(|b| !matches!(b, b':' | b'-' | b' ')).collect();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_every_spelling() {
        let fp = fingerprint(b"not really a certificate");
        assert_eq!(fp.len(), 95);
        assert!(fp.chars().all(|c| c == ':' || c.is_ascii_digit() || c.is_ascii_uppercase()));
        let raw = parse_fingerprint(&fp).unwrap();
        assert_eq!(format_fingerprint(&raw), fp);
        let plain: String = fp.chars().filter(|c| *c != ':').collect();
        for spelling in [
            plain.to_lowercase(),
            format!("sha256:{}", plain.to_lowercase()),
            format!("SHA256:{plain}"),
            format!("sha256 Fingerprint={fp}"),
            format!("  {fp}\n"),
            fp.replace(':', " "),
        ] {
            assert_eq!(parse_fingerprint(&spelling), Some(raw), "{spelling}");
        }
        assert_eq!(parse_fingerprint(&plain[..62]), None);
        assert_eq!(parse_fingerprint(&format!("{}zz", &plain[..62])), None);
        assert_eq!(parse_fingerprint(""), None);
    }
}
