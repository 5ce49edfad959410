//! Validation of users' SSH public keys and SSL certificates.
//!
//! MAAS shells out to `ssh-keygen`/OpenSSL; we parse the wire formats
//! ourselves so a bad key gets a precise 400 instead of a generic failure:
//! the key type must be known, the base64 blob must decode, and the blob's
//! inner structure must match its declared type.

use base64::Engine as _;

use crate::error::{Error, Result};

const SSH_TYPES: &[&str] = &[
    "ssh-rsa",
    "ssh-dss",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

fn invalid(why: impl std::fmt::Display) -> Error {
    Error::field("key", format!("Invalid SSH public key: {why}"))
}

/// Reads one SSH wire-format string (u32 length + bytes).
fn read_string<'a>(blob: &mut &'a [u8]) -> Option<&'a [u8]> {
    if blob.len() < 4 {
        return None;
    }
    let len = u32::from_be_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
    let rest = &blob[4..];
    if rest.len() < len {
        return None;
    }
    let (s, tail) = rest.split_at(len);
    *blob = tail;
    Some(s)
}

/// Checks an OpenSSH public-key line (`<type> <base64> [comment]`) and returns
/// it normalised (trimmed, single spaces before the comment).
pub fn validate_ssh_key(text: &str) -> Result<String> {
    let line = text.trim();
    if line.is_empty() {
        return Err(Error::required("key"));
    }
    if line.contains('\n') {
        return Err(invalid("expected a single line (one key per request)."));
    }
    let mut fields = line.split_whitespace();
    let kind = fields.next().unwrap_or("");
    if !SSH_TYPES.contains(&kind) {
        return Err(invalid(format!(
            "unknown key type '{kind}' (a key line starts with one of {}; key options are not accepted).",
            SSH_TYPES.join(", ")
        )));
    }
    let b64 = fields.next().ok_or_else(|| invalid("the base64 key data is missing."))?;
    let blob = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| invalid("the key data is not valid base64."))?;
    let mut rest = blob.as_slice();
    let inner = read_string(&mut rest).ok_or_else(|| invalid("the key data is truncated."))?;
    if inner != kind.as_bytes() {
        return Err(invalid(format!("the key data is for '{}', not '{kind}'.", String::from_utf8_lossy(inner))));
    }
    let structure_ok = match kind {
        "ssh-rsa" => {
            let e = read_string(&mut rest);
            let n = read_string(&mut rest);
            match (e, n) {
                (Some(_), Some(n)) => {
                    let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
                    if bits < 1024 {
                        return Err(invalid(format!(
                            "RSA keys must have at least 1024 bits (this one has about {bits})."
                        )));
                    }
                    rest.is_empty()
                }
                _ => false,
            }
        }
        "ssh-ed25519" => read_string(&mut rest).is_some_and(|k| k.len() == 32) && rest.is_empty(),
        k if k.starts_with("ecdsa-sha2-") => {
            let curve = read_string(&mut rest);
            let point = read_string(&mut rest);
            curve.is_some_and(|c| k.ends_with(&*String::from_utf8_lossy(c)))
                && point.is_some_and(|p| !p.is_empty())
                && rest.is_empty()
        }
        "ssh-dss" => (0..4).all(|_| read_string(&mut rest).is_some()) && rest.is_empty(),
        // Security-key types carry an application string after the key.
        _ => !rest.is_empty(),
    };
    if !structure_ok {
        return Err(invalid(format!("the key data is not a well-formed {kind} key.")));
    }
    let comment: Vec<&str> = fields.collect();
    Ok(if comment.is_empty() { format!("{kind} {b64}") } else { format!("{kind} {b64} {}", comment.join(" ")) })
}

/// Checks a PEM certificate: BEGIN/END markers, base64 body, and a DER
/// SEQUENCE whose length matches the data.
pub fn validate_ssl_key(text: &str) -> Result<String> {
    let bad = || {
        Error::field("key", "Invalid SSL key: expected one PEM-encoded X.509 certificate (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----).")
    };
    let t = text.trim();
    if t.is_empty() {
        return Err(Error::required("key"));
    }
    let body = t
        .strip_prefix("-----BEGIN CERTIFICATE-----")
        .and_then(|r| r.strip_suffix("-----END CERTIFICATE-----"))
        .ok_or_else(bad)?;
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(compact).map_err(|_| bad())?;
    if der.len() < 2 || der[0] != 0x30 {
        return Err(bad());
    }
    let (len, hdr) = match der[1] {
        l if l < 0x80 => (l as usize, 2),
        l => {
            let n = (l & 0x7f) as usize;
            if n == 0 || n > 4 || der.len() < 2 + n {
                return Err(bad());
            }
            (der[2..2 + n].iter().fold(0usize, |a, b| (a << 8) | *b as usize), 2 + n)
        }
    };
    if hdr + len != der.len() {
        return Err(bad());
    }
    Ok(t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ssh_string(b: &[u8]) -> Vec<u8> {
        let mut v = (b.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(b);
        v
    }

    pub fn ed25519_line(comment: &str) -> String {
        let mut blob = ssh_string(b"ssh-ed25519");
        blob.extend(ssh_string(&[7u8; 32]));
        format!("ssh-ed25519 {} {comment}", base64::engine::general_purpose::STANDARD.encode(blob))
    }

    #[test]
    fn accepts_well_formed_keys() {
        assert!(validate_ssh_key(&ed25519_line("me@host")).is_ok());
        let mut rsa = ssh_string(b"ssh-rsa");
        rsa.extend(ssh_string(&[1, 0, 1]));
        rsa.extend(ssh_string(&[0xc5; 256]));
        let line = format!("ssh-rsa {}", base64::engine::general_purpose::STANDARD.encode(rsa));
        assert_eq!(validate_ssh_key(&format!("  {line}  ")).unwrap(), line);
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["garbage", "ssh-rsa", "ssh-rsa !!!", "ssh-ed25519 AAAA", "no-such-type AAAA"] {
            assert!(matches!(validate_ssh_key(bad), Err(Error::Validation(_))), "{bad}");
        }
        let mut small = ssh_string(b"ssh-rsa");
        small.extend(ssh_string(&[1, 0, 1]));
        small.extend(ssh_string(&[0xc5; 64]));
        let line = format!("ssh-rsa {}", base64::engine::general_purpose::STANDARD.encode(small));
        assert!(validate_ssh_key(&line).is_err());
        // A key whose inner type disagrees with its declared type.
        let swapped = ed25519_line("x").replacen("ssh-ed25519", "ssh-rsa", 1);
        assert!(validate_ssh_key(&swapped).is_err());
    }

    #[test]
    fn ssl_pem_structure() {
        let der = [0x30u8, 0x03, 0x02, 0x01, 0x05];
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            base64::engine::general_purpose::STANDARD.encode(der)
        );
        assert!(validate_ssl_key(&pem).is_ok());
        assert!(validate_ssl_key("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----").is_err());
        assert!(validate_ssl_key("hello").is_err());
    }
}

// ------------------------------------------------------------------ import

/// Where `account/prefs/sshkeys/?op=import` fetches keys: Launchpad's
/// `<launchpad>/~<user>/+sshkeys` (one key a line) and GitHub's
/// `<github>/users/<user>/keys` (JSON). Configurable so an offline site can
/// point them at a mirror and tests at a local server.
#[derive(Debug, Clone)]
pub struct KeySources {
    pub launchpad_url: String,
    pub github_url: String,
}

/// A parsed `keysource`: MAAS's `lp:<user>`, `gh:<user>`, or a bare user
/// (Launchpad).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySource {
    pub protocol: String,
    pub auth_id: String,
}

impl KeySource {
    /// MAAS's checks and words; the protocol is matched lower-case, as
    /// MAAS's enum values are.
    pub fn parse(text: Option<&str>) -> Result<KeySource> {
        let text = text.ok_or_else(|| {
            Error::BadRequest(
                "Importing SSH keys failed. Input needs to be in protocol:auth_id or auth_id format.".into(),
            )
        })?;
        let (protocol, auth_id) = text.split_once(':').unwrap_or(("lp", text));
        if protocol != "lp" && protocol != "gh" {
            // MAAS raises this (spelt "Unknwon") unhandled, a 500; a 400 here.
            return Err(Error::BadRequest(format!("Unknown protocol {protocol}. Valid protocols are 'LP' and 'GH'.")));
        }
        // The user name goes into a URL path: refuse what could leave it.
        if auth_id.is_empty() || !auth_id.chars().all(|ch| ch.is_ascii_alphanumeric() || "-_.+".contains(ch)) {
            return Err(Error::BadRequest(format!("Unable to import SSH keys. '{auth_id}' is not a valid user name.")));
        }
        Ok(KeySource { protocol: protocol.into(), auth_id: auth_id.into() })
    }

    /// `lp:user`, as the key's `keysource` shows it.
    pub fn label(&self) -> String {
        format!("{}:{}", self.protocol, self.auth_id)
    }
}

/// Fetches the public keys of `src` (text lines, unvalidated).
pub async fn fetch_keys(sources: &KeySources, src: &KeySource) -> Result<Vec<String>> {
    let (url, site) = match src.protocol.as_str() {
        "gh" => (format!("{}/users/{}/keys", sources.github_url.trim_end_matches('/'), src.auth_id), "Github"),
        _ => (format!("{}/~{}/+sshkeys", sources.launchpad_url.trim_end_matches('/'), src.auth_id), "Launchpad"),
    };
    // A request that fails on the way is the caller's 400 in MAAS
    // (RequestException → MAASAPIBadRequest), with the cause.
    let failed =
        |why: String| Error::BadRequest(format!("Unable to import SSH keys. {site} could not be reached: {why}"));
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::limited(3))
        .user_agent("ironpool")
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let resp = client.get(&url).send().await.map_err(|e| failed(e.without_url().to_string()))?;
    let status = resp.status().as_u16();
    if status == 404 || status == 410 {
        return Err(Error::BadRequest(format!(
            "Unable to import SSH keys. {site} user {} doesn't exist.",
            src.auth_id
        )));
    }
    if !resp.status().is_success() {
        return Err(failed(format!("{site} answered {status}")));
    }
    // Key lists are small; a runaway answer is cut off, not buffered whole.
    const LIMIT: usize = 1 << 20;
    let mut body = Vec::new();
    let mut resp = resp;
    while let Some(chunk) = resp.chunk().await.map_err(|e| failed(e.without_url().to_string()))? {
        body.extend_from_slice(&chunk);
        if body.len() > LIMIT {
            return Err(failed(format!("the answer is larger than {LIMIT} bytes")));
        }
    }
    let text = String::from_utf8_lossy(&body);
    Ok(match src.protocol.as_str() {
        "gh" => {
            let v: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| failed(format!("not a GitHub key list: {e}")))?;
            v.as_array()
                .map(|a| a.iter().filter_map(|k| k["key"].as_str().map(str::to_string)).collect())
                .unwrap_or_default()
        }
        _ => text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect(),
    })
}

/// Stores the fetched keys for `user_id` under `src` (one transaction):
/// keys already imported from the same source are kept and returned, keys
/// that do not parse are skipped, and a key the user already has from
/// elsewhere is returned as it is. No usable key is MAAS's 400.
pub fn store_imported(
    c: &mut crate::db::DbConn,
    user_id: i64,
    src: &KeySource,
    fetched: &[String],
) -> Result<Vec<crate::db::sshkeys::SshKey>> {
    let label = src.label();
    let valid: Vec<String> = fetched.iter().filter_map(|k| validate_ssh_key(k).ok()).collect();
    if valid.is_empty() {
        return Err(Error::BadRequest(format!(
            "Unable to import SSH keys. There are no SSH keys for {} user {}.",
            src.protocol, src.auth_id
        )));
    }
    let existing = crate::db::sshkeys::ssh_list(c, user_id)?;
    let mut out = Vec::new();
    for key in valid {
        if out.iter().any(|k: &crate::db::sshkeys::SshKey| k.key == key) {
            continue;
        }
        match existing.iter().find(|k| k.key == key) {
            Some(k) => out.push(k.clone()),
            None => out.push(crate::db::sshkeys::ssh_insert(c, user_id, &key, Some(&label), crate::db::now())?),
        }
    }
    // Earlier imports from this source that the source no longer lists
    // stay (MAAS returns them too).
    for k in existing.iter().filter(|k| k.keysource.as_deref() == Some(label.as_str())) {
        if !out.iter().any(|o| o.id == k.id) {
            out.push(k.clone());
        }
    }
    Ok(out)
}
