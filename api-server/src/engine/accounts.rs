//! Users, passwords and API tokens.
//!
//! Passwords are hashed with argon2id (PHC strings); hashing runs on the
//! blocking pool, outside any database transaction, because it is deliberately
//! slow. API keys follow MAAS: 18-character consumer and token keys, a
//! 32-character token secret, from an alphabet without look-alike characters.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::Rng;
use std::net::IpAddr;

use crate::db;
use crate::db::tokens::{NewToken, Token};
use crate::db::users::{NewUser, User};
use crate::db::{Datastore, DbConn};
use crate::engine;
use crate::engine::login_guard::LoginGuard;
use crate::error::{Error, FieldErrors, Result};

/// The name MAAS gives the token every user is created with.
pub const DEFAULT_TOKEN_NAME: &str = "MAAS consumer";

const KEY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

pub(crate) fn random_string(len: usize) -> String {
    let mut rng = rand::rngs::OsRng;
    (0..len).map(|_| KEY_ALPHABET[rng.gen_range(0..KEY_ALPHABET.len())] as char).collect()
}

pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))
}

/// Constant-time (inside argon2) check of a password against a stored hash.
pub fn verify_password(hash: &str, password: &str) -> bool {
    if hash.is_empty() {
        return false;
    }
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Input for a new user, as `users/` POST and `createadmin` provide it.
#[derive(Debug, Clone)]
pub struct UserInput {
    pub username: String,
    pub email: String,
    pub password: String,
    pub is_superuser: bool,
}

/// Django's username rule: 1–150 characters from letters, digits and `@.+-_`,
/// ASCII only (Django's `ASCIIUsernameValidator`): a Cyrillic `а` in `аdmin`
/// would otherwise make a second, look-alike "admin".
fn validate_username(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("This field is required.".into());
    }
    if name.chars().count() > 150 {
        return Some("Ensure this value has at most 150 characters.".into());
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || "@.+-_".contains(c)) {
        return Some(
            "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.".into(),
        );
    }
    None
}

fn validate_email(email: &str) -> Option<String> {
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    };
    (!valid).then(|| "Enter a valid email address.".to_string())
}

/// Every problem with `input`, keyed by field (empty when valid).
pub fn field_errors(input: &UserInput) -> FieldErrors {
    let mut errors = FieldErrors::new();
    if let Some(m) = validate_username(&input.username) {
        errors.insert("username".into(), vec![m]);
    }
    if input.email.is_empty() {
        errors.insert("email".into(), vec!["This field is required.".into()]);
    } else if let Some(m) = validate_email(&input.email) {
        errors.insert("email".into(), vec![m]);
    }
    if input.password.is_empty() {
        errors.insert("password".into(), vec!["This field is required.".into()]);
    }
    errors
}

fn validate(input: &UserInput) -> Result<()> {
    let errors = field_errors(input);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(errors))
    }
}

/// Creates a user with their default API token, in one transaction.
pub async fn create_user(db: &Datastore, input: UserInput) -> Result<User> {
    validate(&input)?;
    let password = input.password.clone();
    let hash = engine::cpu(move || hash_password(&password)).await??;
    db.write(move |c| create_user_tx(c, &input, &hash)).await
}

/// Same as [`create_user`], for CLI commands that run without a runtime.
pub fn create_user_blocking(db: &Datastore, input: UserInput) -> Result<User> {
    validate(&input)?;
    let hash = hash_password(&input.password)?;
    db.blocking(|c| create_user_tx(c, &input, &hash))
}

fn create_user_tx(c: &mut DbConn, input: &UserInput, hash: &str) -> Result<User> {
    let user = db::users::insert(
        c,
        &NewUser {
            username: &input.username,
            email: &input.email,
            password_hash: hash,
            is_superuser: input.is_superuser,
            is_active: true,
            is_local: true,
            created_at: db::now(),
        },
    )?;
    create_token(c, user.id, DEFAULT_TOKEN_NAME)?;
    Ok(user)
}

/// A fresh consumer + token for the user.
pub fn create_token(c: &mut DbConn, user_id: i64, name: &str) -> Result<Token> {
    let consumer_key = random_string(18);
    let token_key = random_string(18);
    let token_secret = random_string(32);
    db::tokens::insert(
        c,
        &NewToken {
            user_id,
            name,
            consumer_key: &consumer_key,
            token_key: &token_key,
            token_secret: &token_secret,
            created_at: db::now(),
        },
    )
}

/// Checks a username/password pair; `None` for unknown users, wrong passwords
/// and inactive accounts alike, so callers cannot tell them apart. Refused
/// with [`Error::TooManyRequests`] while `guard` has the username or the
/// source address locked; the password is then not even checked.
pub async fn authenticate(
    db: &Datastore,
    guard: &LoginGuard,
    addr: Option<IpAddr>,
    username: String,
    password: String,
) -> Result<Option<User>> {
    if let Err(locked) = guard.check(&username, addr) {
        // Round up: a client retrying after the advertised time must get in.
        let secs = locked.secs();
        return Err(Error::TooManyRequests {
            message: format!(
                "Too many failed login attempts for this user or from this address; try again in {secs} seconds."
            ),
            retry_after_secs: secs,
        });
    }
    let found = db.run({
        let username = username.clone();
        move |c| db::users::by_username(c, &username)
    });
    let Some(user) = found.await? else {
        // Hash anyway so an unknown user costs the same time as a wrong password.
        engine::cpu(move || verify_password(DUMMY_HASH, &password)).await?;
        guard.failed(&username, addr);
        return Ok(None);
    };
    let hash = user.password_hash.clone();
    let ok = engine::cpu(move || verify_password(&hash, &password)).await?;
    if !ok {
        guard.failed(&username, addr);
        return Ok(None);
    }
    guard.succeeded(&username);
    if !user.is_active {
        return Ok(None);
    }
    let id = user.id;
    db.run(move |c| db::users::touch_last_login(c, id, db::now())).await?;
    Ok(Some(user))
}

/// An argon2 hash of a random password, for timing-equalising failed lookups.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$4cGn3zV1pZvpw9ZcnMF1d7kk4C0wP7nHk0mQ3y4hCxg";

/// The token `authenticate/` returns: with a consumer name, the first token of
/// that name (created if missing); without, the user's oldest token (created
/// if the user has none).
pub fn token_for_login(c: &mut DbConn, user_id: i64, consumer: Option<&str>) -> Result<Token> {
    let existing = db::tokens::for_user(c, user_id)?;
    let found = match consumer {
        Some(name) => existing.into_iter().find(|t| t.name == name),
        None => existing.into_iter().next(),
    };
    match found {
        Some(t) => Ok(t),
        None => create_token(c, user_id, consumer.unwrap_or(DEFAULT_TOKEN_NAME)),
    }
}

/// Resolves a token named by its key or by a whole `c:t:s` API key, owned by the user.
pub fn find_own_token(c: &mut DbConn, user_id: i64, token: &str) -> Result<Token> {
    let key = match token.split(':').collect::<Vec<_>>().as_slice() {
        [_, t, _] => t.to_string(),
        _ => token.to_string(),
    };
    db::tokens::by_token_key(c, user_id, &key)?.ok_or(Error::NotFound("Token"))
}

/// Deletes a user, as MAAS's `UserHandler.delete`: an administrator cannot
/// delete themself; with `transfer_to`, the user's machines, devices, IP
/// reservations and IP ranges go to that user first; without it, a user who
/// still owns any of them is refused with MAAS's text. Tokens, keys, files
/// and notifications go with the user.
pub fn delete_user(c: &mut DbConn, actor: &User, username: &str, transfer_to: Option<&str>) -> Result<()> {
    if actor.username == username {
        return Err(Error::BadRequest("An administrator cannot self-delete.".into()));
    }
    let target = db::users::by_username(c, username)?.ok_or(Error::NotFound("User"))?;
    if let Some(to) = transfer_to {
        // MAAS: get_object_or_404 on the new owner.
        let new_owner = db::users::by_username(c, to)?.ok_or(Error::NotFound("User"))?;
        if new_owner.id != target.id {
            db::users::transfer_owned(c, target.id, new_owner.id)?;
        }
    }
    let owned = db::users::owned(c, target.id)?;
    let mut still = Vec::new();
    for (n, what) in
        [(owned.ip_addresses, "static IP address(es)"), (owned.ip_ranges, "IP range(s)"), (owned.nodes, "node(s)")]
    {
        if n > 0 {
            still.push(format!("{n} {what}"));
        }
    }
    if !still.is_empty() {
        return Err(Error::BadRequest(format!(
            "User {username} cannot be deleted: {} are still allocated",
            still.join(", ")
        )));
    }
    db::users::delete(c, target.id)
}

/// Activates or deactivates a user (Ironpool's `PUT users/{username}/`
/// `is_active`; MAAS offers this only in its web UI). A deactivated user's
/// tokens and password stop working at once: both checks read `is_active` on
/// every request. An administrator cannot deactivate themself, so a region
/// always keeps someone who can undo it.
pub fn set_active(c: &mut DbConn, actor: &User, username: &str, active: bool) -> Result<User> {
    let target = db::users::by_username(c, username)?.ok_or(Error::NotFound("User"))?;
    if target.id == actor.id && !active {
        return Err(Error::BadRequest("An administrator cannot deactivate their own account.".into()));
    }
    db::users::set_active(c, target.id, active)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_round_trip() {
        let h = hash_password("s3cret").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "s3cret"));
        assert!(!verify_password(&h, "wrong"));
        assert!(!verify_password("", "anything"));
        assert!(!verify_password(DUMMY_HASH, ""));
    }

    #[test]
    fn keys_have_maas_lengths_and_alphabet() {
        let k = random_string(18);
        assert_eq!(k.len(), 18);
        assert!(k.bytes().all(|b| KEY_ALPHABET.contains(&b)));
        assert_ne!(random_string(32), random_string(32));
    }

    #[test]
    fn user_validation() {
        let ok =
            UserInput { username: "al.ice+1".into(), email: "a@b.c".into(), password: "p".into(), is_superuser: false };
        assert!(validate(&ok).is_ok());
        let bad = UserInput {
            username: "bad name".into(),
            email: "nope".into(),
            password: String::new(),
            is_superuser: false,
        };
        let Err(Error::Validation(f)) = validate(&bad) else { panic!() };
        assert_eq!(f.len(), 3);
        // Cyrillic а (U+0430) and a fullwidth digit are letters/digits to Unicode, not to us.
        assert!(validate_username("\u{430}dmin").is_some());
        assert!(validate_username("user\u{ff11}").is_some());
        assert!(validate_username(&"a".repeat(150)).is_none());
        assert!(validate_username(&"a".repeat(151)).is_some());
    }
}
