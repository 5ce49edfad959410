//! Web UI sessions: what a successful login creates and every page checks.
//!
//! The browser holds a random 256-bit token in a cookie; the database holds
//! only its SHA-256 (`db::ui_sessions`), so reading the table gives no
//! session away. Each session has its own CSRF token, which every
//! state-changing form echoes; [`csrf_matches`] compares in constant time.
//! Sessions last [`LIFETIME`] from login (Django's default session age,
//! which MAAS's UI inherits) and end at logout, when the user is deleted,
//! or when the account is deactivated (checked on every lookup).

use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::db;
use crate::db::ui_sessions::{NewSession, Session};
use crate::db::users::User;
use crate::db::DbConn;
use crate::error::Result;

/// Two weeks, Django's `SESSION_COOKIE_AGE`.
pub const LIFETIME: chrono::Duration = chrono::Duration::days(14);

/// A session as the browser knows it: the cookie token (returned once, at
/// login) and the CSRF token its forms carry.
pub struct Created {
    pub token: String,
    pub csrf_token: String,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What is stored for a cookie token.
pub fn hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Starts a session for `user` (whose password was just checked), pruning
/// expired ones on the way (logins are rare; this keeps the table small
/// without a timer).
pub fn create(c: &mut DbConn, user: &User) -> Result<Created> {
    let now = db::now();
    db::ui_sessions::delete_expired(c, now)?;
    let token = random_token();
    let csrf_token = random_token();
    db::ui_sessions::insert(
        c,
        &NewSession {
            token_hash: &hash(&token),
            user_id: user.id,
            csrf_token: &csrf_token,
            created_at: now,
            expires_at: now + LIFETIME,
        },
    )?;
    Ok(Created { token, csrf_token })
}

/// The live session of a cookie token and its user; `None` when unknown,
/// expired, or the user is no longer active.
pub fn lookup(c: &mut DbConn, token: &str) -> Result<Option<(Session, User)>> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    Ok(db::ui_sessions::live_by_hash(c, &hash(token), db::now())?.filter(|(_, u)| u.is_active))
}

/// Ends the session of a cookie token (nothing if there is none).
pub fn end(c: &mut DbConn, token: &str) -> Result<()> {
    db::ui_sessions::delete_by_hash(c, &hash(token))
}

/// Whether a submitted CSRF token is the session's (constant time).
pub fn csrf_matches(session: &Session, submitted: &str) -> bool {
    !submitted.is_empty() && bool::from(session.csrf_token.as_bytes().ct_eq(submitted.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = random_token();
        assert_ne!(a, random_token());
        assert_eq!(a.len(), 43);
        assert_eq!(hash(&a).len(), 64);
        assert_ne!(hash(&a), a);
    }
}
