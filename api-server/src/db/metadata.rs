//! Queries of the metadata API's tables: each node's own OAuth token (one
//! row per node: the current phase's) and the script results its ephemeral
//! environment reports.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{node_tokens, script_results};
use crate::db::{from_diesel, DbConn};
use crate::error::Result;

/// Secrets are stored encrypted (`db::secrets`) and plaintext here.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = node_tokens)]
pub struct NodeToken {
    pub node_id: i64,
    pub consumer_key: String,
    pub token_key: String,
    #[diesel(deserialize_as = crate::db::secrets::Sealed<crate::db::secrets::NodeTokenSecret>)]
    pub token_secret: String,
    pub created_at: NaiveDateTime,
    /// The phase's part of the preseed URL ('' on rows older than it).
    #[diesel(deserialize_as = crate::db::secrets::Sealed<crate::db::secrets::NodeBootSecret>)]
    pub boot_secret: String,
}

pub fn token_of(c: &mut DbConn, node_id: i64) -> Result<Option<NodeToken>> {
    node_tokens::table.find(node_id).select(NodeToken::as_select()).first(c).optional().map_err(from_diesel)
}

pub fn insert_token(c: &mut DbConn, t: &NodeToken) -> Result<()> {
    use crate::db::secrets::{seal, NODE_BOOT_SECRET, NODE_TOKEN_SECRET};
    let boot_secret = if t.boot_secret.is_empty() { String::new() } else { seal(NODE_BOOT_SECRET, &t.boot_secret)? };
    let sealed = NodeToken { token_secret: seal(NODE_TOKEN_SECRET, &t.token_secret)?, boot_secret, ..t.clone() };
    diesel::insert_into(node_tokens::table).values(&sealed).execute(c).map_err(from_diesel)?;
    Ok(())
}

/// Deletes the node's token: whoever holds it is a stranger from now on.
pub fn delete_token(c: &mut DbConn, node_id: i64) -> Result<()> {
    diesel::delete(node_tokens::table.find(node_id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

/// The node token with this consumer and token key, if any.
pub fn token_by_keys(c: &mut DbConn, consumer_key: &str, token_key: &str) -> Result<Option<NodeToken>> {
    node_tokens::table
        .filter(node_tokens::token_key.eq(token_key))
        .filter(node_tokens::consumer_key.eq(consumer_key))
        .select(NodeToken::as_select())
        .first(c)
        .optional()
        .map_err(from_diesel)
}

/// One script's result within a script set (`db::results` holds the sets
/// and the queries over both).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = script_results)]
pub struct ScriptResult {
    pub id: i64,
    pub node_id: i64,
    pub phase: i32,
    pub name: String,
    pub status: i32,
    pub exit_status: Option<i32>,
    pub output: Vec<u8>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub result: Vec<u8>,
    pub runtime: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub script_set_id: i64,
    /// The script's parameters as MAAS renders them (JSON object).
    pub parameters: String,
    pub started: Option<NaiveDateTime>,
    pub ended: Option<NaiveDateTime>,
    pub suppressed: bool,
    pub hardware_type: i32,
    pub physical_blockdevice_id: Option<i64>,
    pub interface_id: Option<i64>,
}

/// A node's script results (every set), by name then id.
pub fn results_of(c: &mut DbConn, node_id: i64) -> Result<Vec<ScriptResult>> {
    script_results::table
        .filter(script_results::node_id.eq(node_id))
        .order((script_results::name, script_results::id))
        .select(ScriptResult::as_select())
        .load(c)
        .map_err(from_diesel)
}
