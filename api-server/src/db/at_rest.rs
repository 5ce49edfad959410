//! Opening the datastore with its secrets key: the check that the key is
//! the one this database's secrets were encrypted with (a region with
//! another key refuses to start), and the upgrade of plaintext secrets an
//! older version stored. The cipher itself is `db::secrets`.

use diesel::prelude::*;

use crate::db;
use crate::db::schema::{api_tokens, node_tokens, nodes, rack_controllers};
use crate::db::secrets::{
    self, seal, seal_power_parameters, SecretsKey, CHECK_NAME, CHECK_PLAIN, NODE_BOOT_SECRET, NODE_TOKEN_SECRET,
    PREFIX, RACK_KEY, RACK_SECRET, TOKEN_SECRET,
};
use crate::db::{from_diesel, Datastore, DbConn};
use crate::error::{Error, Result};

/// Opens the datastore (migrating it), checks `key` against the database
/// and encrypts what older versions left in plaintext. What every region
/// and CLI command opens the database with.
pub fn open(url: &str, pool_size: u32, key: SecretsKey) -> Result<Datastore> {
    open_with(url, super::DbOptions::with_pool_size(pool_size), key)
}

/// As [`open`], with the pool's timeouts given.
pub fn open_with(url: &str, options: super::DbOptions, key: SecretsKey) -> Result<Datastore> {
    let db = Datastore::open_with(url, options, key.clone())?;
    // Two regions starting at once may both record the key check; the
    // loser's insert fails and its second try reads the winner's.
    let upgraded =
        db.blocking(|c| check_and_upgrade(c, &key)).or_else(|_| db.blocking(|c| check_and_upgrade(c, &key)))?;
    if upgraded > 0 {
        tracing::info!(values = upgraded, "encrypted secrets stored in plaintext by an older version");
    }
    Ok(db)
}

/// At start: checks that `key` is the database's key (recording it on first
/// use), then seals every plaintext secret older versions stored. One
/// transaction; returns how many values were sealed.
pub fn check_and_upgrade(c: &mut DbConn, key: &SecretsKey) -> Result<usize> {
    let _scope = secrets::KeyScope::enter(key);
    match db::config::get(c, CHECK_NAME)? {
        Some(stored) => {
            let ok = key.open(CHECK_NAME, &stored).is_ok_and(|p| p == CHECK_PLAIN);
            if !ok {
                return Err(Error::Internal(format!(
                    "the secrets key {} cannot decrypt this database's secrets (BMC passwords, API tokens): they were \
                     encrypted with another key. Regions that share a database must share one key file: copy the \
                     first region's secrets.key here or point --secrets-key-file (IRONPOOL_SECRETS_KEY_FILE) at it.",
                    key.source()
                )));
            }
        }
        None => db::config::set(c, CHECK_NAME, &key.seal(CHECK_NAME, CHECK_PLAIN)?)?,
    }
    upgrade_plaintext(c)
}

/// Seals the plaintext secrets rows written before encryption existed.
fn upgrade_plaintext(c: &mut DbConn) -> Result<usize> {
    let mut n = 0;
    let tokens: Vec<(i64, String)> = api_tokens::table
        .filter(api_tokens::token_secret.not_like(format!("{PREFIX}%")))
        .select((api_tokens::id, api_tokens::token_secret))
        .load(c)
        .map_err(from_diesel)?;
    for (id, plain) in tokens {
        super::wake::mark(super::wake::Wake::Auth);
        diesel::update(api_tokens::table.find(id))
            .set(api_tokens::token_secret.eq(seal(TOKEN_SECRET, &plain)?))
            .execute(c)
            .map_err(from_diesel)?;
        n += 1;
    }
    let node_tokens: Vec<(i64, String, String)> = node_tokens::table
        .filter(
            node_tokens::token_secret
                .not_like(format!("{PREFIX}%"))
                .or(node_tokens::boot_secret.not_like(format!("{PREFIX}%")).and(node_tokens::boot_secret.ne(""))),
        )
        .select((node_tokens::node_id, node_tokens::token_secret, node_tokens::boot_secret))
        .load(c)
        .map_err(from_diesel)?;
    for (id, secret, boot) in node_tokens {
        let secret = if secret.starts_with(PREFIX) { secret } else { seal(NODE_TOKEN_SECRET, &secret)? };
        let boot = if boot.starts_with(PREFIX) || boot.is_empty() { boot } else { seal(NODE_BOOT_SECRET, &boot)? };
        diesel::update(node_tokens::table.find(id))
            .set((node_tokens::token_secret.eq(secret), node_tokens::boot_secret.eq(boot)))
            .execute(c)
            .map_err(from_diesel)?;
        n += 1;
    }
    let rack_keys: Vec<(i64, Option<String>)> = rack_controllers::table
        .filter(rack_controllers::rack_key.not_like(format!("{PREFIX}%")))
        .select((rack_controllers::node_id, rack_controllers::rack_key))
        .load(c)
        .map_err(from_diesel)?;
    for (id, plain) in rack_keys {
        let Some(plain) = plain else { continue };
        diesel::update(rack_controllers::table.find(id))
            .set(rack_controllers::rack_key.eq(seal(RACK_KEY, &plain)?))
            .execute(c)
            .map_err(from_diesel)?;
        n += 1;
    }
    if let Some(plain) = db::config::get(c, db::racks::SHARED_SECRET)?.filter(|s| !s.starts_with(PREFIX)) {
        db::config::set(c, db::racks::SHARED_SECRET, &seal(RACK_SECRET, &plain)?)?;
        n += 1;
    }
    // Only rows that carry a secret field can need it; the JSON decides.
    let candidates: Vec<(i64, String)> = nodes::table
        .filter(
            nodes::power_parameters
                .like("%\"power_pass\"%")
                .or(nodes::power_parameters.like("%\"k_g\"%"))
                .or(nodes::power_parameters.like("%\"power_token\"%")),
        )
        .select((nodes::id, nodes::power_parameters))
        .load(c)
        .map_err(from_diesel)?;
    for (id, params) in candidates {
        let sealed = seal_power_parameters(&params)?;
        if sealed != params {
            diesel::update(nodes::table.find(id))
                .set(nodes::power_parameters.eq(sealed))
                .execute(c)
                .map_err(from_diesel)?;
            n += 1;
        }
    }
    Ok(n)
}
