//! Secrets at rest: BMC passwords (the secret power parameters), API token
//! secrets and node token/boot secrets are stored encrypted with a
//! server-side key, and decrypted here, at the datastore boundary, so the
//! engine only ever sees plaintext.
//!
//! - **Cipher**: XChaCha20-Poly1305 (AEAD) with a random 24-byte nonce per
//!   value; the column's name is the associated data, so a value copied
//!   into another column does not decrypt. A stored value is
//!   `enc1:<base64url(nonce ‖ ciphertext ‖ tag)>`; the version prefix lets
//!   a later scheme coexist, and a value without it is an older plaintext
//!   row: read as it is, and rewritten encrypted at the next start
//!   (`db::at_rest`).
//! - **Why encryption, not hashing**: OAuth PLAINTEXT and HMAC-SHA1 both need
//!   the token secret itself to verify a request, and drivers need the BMC
//!   password itself.
//! - **The key**: 32 random bytes, base64, in a file (`<data_dir>/secrets.key`,
//!   0600, made at first start, or `--secrets-key-file`). Regions sharing a
//!   PostgreSQL database must share the file: a check value in `config`
//!   ([`CHECK_NAME`], checked by `db::at_rest::open`) lets a region with
//!   another key refuse to start instead of serving garbage or writing
//!   values the others cannot read.
//! - **How a query finds the key**: diesel's queries take only a connection,
//!   so [`Datastore`](crate::db::Datastore) makes its key current for the
//!   thread while it runs a closure ([`KeyScope`]); sealing outside a
//!   datastore call is an error, never a silent plaintext write.
//!
//! Cost: one AEAD open of a ~32-byte value per authenticated request (the
//! token secret) and per loaded node with a BMC password: about a
//! microsecond each, next to a millisecond-scale database round trip.

use std::cell::RefCell;
use std::io::Write;
use std::marker::PhantomData;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use diesel::backend::Backend;
use diesel::deserialize::FromSql;
use diesel::sql_types::Text;

use crate::error::{Error, Result};

/// The prefix of an encrypted value (scheme version 1).
pub const PREFIX: &str = "enc1:";
/// The `config` row that proves the key matches the database's values.
pub const CHECK_NAME: &str = "_secrets_key_check";
/// What the check value decrypts to.
pub const CHECK_PLAIN: &str = "ironpool secrets key check";
const NONCE_LEN: usize = 24;

/// The server-side key, and where it came from (for messages).
#[derive(Clone)]
pub struct SecretsKey {
    cipher: Arc<XChaCha20Poly1305>,
    source: String,
}

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretsKey({})", self.source)
    }
}

impl SecretsKey {
    /// A key from its 32 bytes; `source` says where it came from.
    pub fn from_bytes(bytes: &[u8], source: impl Into<String>) -> Result<SecretsKey> {
        let source = source.into();
        if bytes.len() != 32 {
            return Err(Error::Internal(format!(
                "secrets key {source}: expected 32 bytes (base64), found {}",
                bytes.len()
            )));
        }
        let cipher = XChaCha20Poly1305::new_from_slice(bytes).map_err(Error::internal)?;
        Ok(SecretsKey { cipher: Arc::new(cipher), source })
    }

    /// A fresh random key that lives only in memory (tests, benchmarks).
    pub fn ephemeral() -> SecretsKey {
        let key = XChaCha20Poly1305::generate_key(&mut OsRng);
        SecretsKey { cipher: Arc::new(XChaCha20Poly1305::new(&key)), source: "in-memory key".into() }
    }

    /// Reads the key file, or creates it (0600, 32 random bytes in base64)
    /// when it does not exist. Two processes creating it at once: the
    /// loser reads the winner's.
    pub fn load_or_create(path: &Path) -> Result<SecretsKey> {
        if !path.exists() {
            let key = XChaCha20Poly1305::generate_key(&mut OsRng);
            let created =
                std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).and_then(|mut f| {
                    f.write_all(format!("{}\n", STANDARD.encode(key)).as_bytes())?;
                    f.sync_all()
                });
            match created {
                Ok(()) => tracing::info!(path = %path.display(), "created the secrets key"),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(Error::Internal(format!("cannot create the secrets key {}: {e}", path.display())))
                }
            }
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Internal(format!("cannot read the secrets key {}: {e}", path.display())))?;
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|e| Error::Internal(format!("secrets key {}: not base64: {e}", path.display())))?;
        SecretsKey::from_bytes(&bytes, path.display().to_string())
    }

    /// Where the key came from (a path, or "in-memory key").
    pub fn source(&self) -> &str {
        &self.source
    }

    /// `enc1:…` for `plain`, bound to `column`.
    pub fn seal(&self, column: &str, plain: &str) -> Result<String> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ct = self
            .cipher
            .encrypt(&nonce, Payload { msg: plain.as_bytes(), aad: column.as_bytes() })
            .map_err(|_| Error::Internal(format!("cannot encrypt {column}")))?;
        let mut raw = nonce.to_vec();
        raw.extend_from_slice(&ct);
        Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(raw)))
    }

    /// The plaintext of a stored value; one without [`PREFIX`] is an older
    /// plaintext row and comes back unchanged.
    pub fn open(&self, column: &str, stored: &str) -> Result<String> {
        let Some(b64) = stored.strip_prefix(PREFIX) else { return Ok(stored.to_string()) };
        let undecryptable = || {
            Error::Internal(format!(
                "cannot decrypt {column} with the secrets key {}: the database was written with another key",
                self.source
            ))
        };
        let raw = URL_SAFE_NO_PAD.decode(b64).map_err(|_| undecryptable())?;
        if raw.len() < NONCE_LEN {
            return Err(undecryptable());
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: column.as_bytes() })
            .map_err(|_| undecryptable())?;
        String::from_utf8(plain).map_err(|_| undecryptable())
    }
}

/// Where a region's key file is when none is given: `<data_dir>/secrets.key`.
pub fn default_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("secrets.key")
}

thread_local! {
    static CURRENT: RefCell<Option<SecretsKey>> = const { RefCell::new(None) };
}

/// Makes `key` the thread's current key until dropped (restoring the one
/// before, so nested scopes behave).
pub struct KeyScope(Option<SecretsKey>);

impl KeyScope {
    pub fn enter(key: &SecretsKey) -> KeyScope {
        KeyScope(CURRENT.with(|c| c.replace(Some(key.clone()))))
    }
}

impl Drop for KeyScope {
    fn drop(&mut self) {
        let before = self.0.take();
        CURRENT.with(|c| *c.borrow_mut() = before);
    }
}

fn current() -> Result<SecretsKey> {
    CURRENT
        .with(|c| c.borrow().clone())
        .ok_or_else(|| Error::Internal("secret column used outside a datastore call (no secrets key)".into()))
}

/// Seals `plain` for `column` with the current datastore's key.
pub fn seal(column: &str, plain: &str) -> Result<String> {
    current()?.seal(column, plain)
}

/// Opens a stored value of `column` with the current datastore's key.
pub fn open(column: &str, stored: &str) -> Result<String> {
    current()?.open(column, stored)
}

pub const TOKEN_SECRET: &str = "api_tokens.token_secret";
pub const NODE_TOKEN_SECRET: &str = "node_tokens.token_secret";
pub const NODE_BOOT_SECRET: &str = "node_tokens.boot_secret";
pub const POWER_PARAMETERS: &str = "nodes.power_parameters";
/// A VM host's power parameters (its libvirt password), sealed like a
/// node's but bound to their own column.
pub const VM_HOST_PARAMETERS: &str = "vm_hosts.power_parameters";
pub const RACK_KEY: &str = "rack_controllers.rack_key";
/// The config row holding the racks' shared registration secret.
pub const RACK_SECRET: &str = "config.rack_secret";

/// A power-parameter JSON object with its secret fields (`power_pass`,
/// `k_g`, `power_token`) sealed; other fields stay readable (an operator
/// looking at the table still sees which BMC a machine has).
pub fn seal_power_parameters(json: &str) -> Result<String> {
    seal_parameters_of(POWER_PARAMETERS, json)
}

/// The power-parameter JSON object with its secret fields opened.
pub fn open_power_parameters(json: &str) -> Result<String> {
    open_parameters_of(POWER_PARAMETERS, json)
}

/// [`seal_power_parameters`] for another column holding power parameters.
pub fn seal_parameters_of(column: &str, json: &str) -> Result<String> {
    map_power_secrets(
        json,
        |v| if v.starts_with(PREFIX) || v.is_empty() { Ok(None) } else { seal(column, v).map(Some) },
    )
}

/// [`open_power_parameters`] for another column holding power parameters.
pub fn open_parameters_of(column: &str, json: &str) -> Result<String> {
    if !json.contains(PREFIX) {
        return Ok(json.to_string());
    }
    map_power_secrets(json, |v| if v.starts_with(PREFIX) { open(column, v).map(Some) } else { Ok(None) })
}

/// Rewrites the secret string fields of a JSON object with `f` (`None`:
/// unchanged). Not an object (never written by us): left as it is.
fn map_power_secrets(json: &str, f: impl Fn(&str) -> Result<Option<String>>) -> Result<String> {
    let Ok(serde_json::Value::Object(mut map)) = serde_json::from_str::<serde_json::Value>(json) else {
        return Ok(json.to_string());
    };
    let mut changed = false;
    for (k, v) in map.iter_mut() {
        if !ironpool_common::power::is_secret(k) {
            continue;
        }
        if let Some(s) = v.as_str() {
            if let Some(new) = f(s)? {
                *v = serde_json::Value::String(new);
                changed = true;
            }
        }
    }
    if !changed {
        return Ok(json.to_string());
    }
    serde_json::to_string(&map).map_err(Error::internal)
}

/// Which secret column a [`Sealed`] value belongs to, and how it opens.
pub trait SecretColumn {
    fn open(stored: &str) -> Result<String>;
}

pub struct TokenSecret;
pub struct NodeTokenSecret;
pub struct NodeBootSecret;
pub struct PowerParameters;
pub struct VmHostParameters;

impl SecretColumn for TokenSecret {
    fn open(stored: &str) -> Result<String> {
        open(TOKEN_SECRET, stored)
    }
}
impl SecretColumn for NodeTokenSecret {
    fn open(stored: &str) -> Result<String> {
        open(NODE_TOKEN_SECRET, stored)
    }
}
impl SecretColumn for NodeBootSecret {
    fn open(stored: &str) -> Result<String> {
        open(NODE_BOOT_SECRET, stored)
    }
}
impl SecretColumn for PowerParameters {
    fn open(stored: &str) -> Result<String> {
        open_power_parameters(stored)
    }
}
impl SecretColumn for VmHostParameters {
    fn open(stored: &str) -> Result<String> {
        open_parameters_of(VM_HOST_PARAMETERS, stored)
    }
}

/// A secret column's stored text, as loaded: row structs declare their
/// `String` field `#[diesel(deserialize_as = Sealed<…>)]` and diesel turns it
/// into plaintext (`TryFrom`) while building the row, so no query can hand
/// the engine a ciphertext.
pub struct Sealed<C>(String, PhantomData<C>);

impl<C, DB> FromSql<Text, DB> for Sealed<C>
where
    DB: Backend,
    String: FromSql<Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
        Ok(Sealed(String::from_sql(bytes)?, PhantomData))
    }
}

// Selectable row structs need the field type to be `Queryable` as well.
impl<C, DB> diesel::deserialize::Queryable<Text, DB> for Sealed<C>
where
    DB: Backend,
    String: FromSql<Text, DB>,
{
    type Row = String;
    fn build(row: String) -> diesel::deserialize::Result<Self> {
        Ok(Sealed(row, PhantomData))
    }
}

impl<C: SecretColumn> TryFrom<Sealed<C>> for String {
    type Error = Error;
    fn try_from(s: Sealed<C>) -> Result<String> {
        C::open(&s.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_random_nonce_and_column_binding() {
        let k = SecretsKey::ephemeral();
        let a = k.seal("t.c", "s3cret").unwrap();
        let b = k.seal("t.c", "s3cret").unwrap();
        assert!(a.starts_with(PREFIX) && !a.contains("s3cret"));
        assert_ne!(a, b, "a fresh nonce per value");
        assert_eq!(k.open("t.c", &a).unwrap(), "s3cret");
        assert!(k.open("t.other", &a).is_err(), "bound to its column");
        assert!(SecretsKey::ephemeral().open("t.c", &a).is_err(), "another key fails");
        assert_eq!(k.open("t.c", "legacy").unwrap(), "legacy", "plaintext rows read as they are");
    }

    #[test]
    fn power_parameters_seal_only_secret_fields() {
        let k = SecretsKey::ephemeral();
        let _s = KeyScope::enter(&k);
        let sealed = seal_power_parameters(r#"{"power_address":"10.0.0.1","power_pass":"pw","k_g":""}"#).unwrap();
        assert!(sealed.contains("10.0.0.1") && !sealed.contains("\"pw\""), "{sealed}");
        assert_eq!(seal_power_parameters(&sealed).unwrap(), sealed, "sealing twice changes nothing");
        let v: serde_json::Value = serde_json::from_str(&open_power_parameters(&sealed).unwrap()).unwrap();
        assert_eq!(v["power_pass"], "pw");
        assert_eq!(v["k_g"], "");
    }

    #[test]
    fn key_file_is_created_0600_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = default_key_path(dir.path());
        let k1 = SecretsKey::load_or_create(&p).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        let k2 = SecretsKey::load_or_create(&p).unwrap();
        assert_eq!(k2.open("c", &k1.seal("c", "x").unwrap()).unwrap(), "x");
    }

    /// The per-request cost OAuth adds (one open of a token secret); run
    /// with `--ignored --nocapture` to print it.
    #[test]
    #[ignore]
    fn open_cost() {
        let k = SecretsKey::ephemeral();
        let sealed = k.seal(TOKEN_SECRET, "aB3dE5fG7hJ9kL2mN4pQ6rS8tU0vW1xY").unwrap();
        let n = 200_000;
        let t = std::time::Instant::now();
        for _ in 0..n {
            std::hint::black_box(k.open(TOKEN_SECRET, std::hint::black_box(&sealed)).unwrap());
        }
        println!("open: {:?} per token secret", t.elapsed() / n);
        let t = std::time::Instant::now();
        for _ in 0..n {
            std::hint::black_box(k.seal(TOKEN_SECRET, "aB3dE5fG7hJ9kL2mN4pQ6rS8tU0vW1xY").unwrap());
        }
        println!("seal: {:?} per token secret", t.elapsed() / n);
    }
}
