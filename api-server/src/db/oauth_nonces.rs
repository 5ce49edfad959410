//! Used OAuth nonces (HMAC-SHA1 requests), shared by every region on the
//! database: the replay check survives restarts and spans regions.

use diesel::prelude::*;

use crate::db::schema::oauth_nonces;
use crate::db::{from_diesel, insert_if_new, DbConn};
use crate::error::Result;

/// Records a nonce in one statement; false when this token already used it
/// (the primary key refuses the row).
pub fn record(c: &mut DbConn, token_key: &str, nonce: &str, ts: i64) -> Result<bool> {
    insert_if_new(c, |c| {
        diesel::insert_into(oauth_nonces::table)
            .values((oauth_nonces::token_key.eq(token_key), oauth_nonces::nonce.eq(nonce), oauth_nonces::ts.eq(ts)))
            .execute(c)
    })
}

/// Deletes nonces whose timestamp is before `oldest`: requests carrying
/// them are refused by the timestamp check, so they cannot be replayed.
pub fn prune(c: &mut DbConn, oldest: i64) -> Result<usize> {
    diesel::delete(oauth_nonces::table.filter(oauth_nonces::ts.lt(oldest))).execute(c).map_err(from_diesel)
}

/// Rows kept (tests).
pub fn count(c: &mut DbConn) -> Result<i64> {
    oauth_nonces::table.count().get_result(c).map_err(from_diesel)
}
