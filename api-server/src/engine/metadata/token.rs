//! Node tokens: the OAuth credentials a machine uses on the metadata API. Below node operations (which issue tokens) and the HTTP layer (which looks them up).

use crate::db;
use crate::db::metadata::NodeToken;
use crate::db::nodes::Node;
use crate::db::DbConn;
use crate::engine;
use crate::error::{Error, Result};

/// The node's token, created on first use (machines get one at creation;
/// older rows and devices lazily).
pub fn ensure_token(c: &mut DbConn, n: &Node) -> Result<NodeToken> {
    if let Some(t) = db::metadata::token_of(c, n.id)? {
        return Ok(t);
    }
    let t = NodeToken {
        node_id: n.id,
        consumer_key: engine::accounts::random_string(18),
        token_key: engine::accounts::random_string(18),
        token_secret: engine::accounts::random_string(32),
        created_at: db::now(),
    };
    db::metadata::insert_token(c, &t)?;
    Ok(t)
}

/// What a metadata credential turned out to be.
pub enum NodeAuth {
    /// A node token: the machine it belongs to, and its secret.
    Node(Box<Node>, String),
    /// A user's API token: valid, but not a node (403 on metadata routes).
    UserToken,
    /// Neither.
    Unknown,
}

pub fn lookup_token(c: &mut DbConn, consumer_key: &str, token_key: &str) -> Result<NodeAuth> {
    if let Some(t) = db::metadata::token_by_keys(c, consumer_key, token_key)? {
        let n = db::nodes::by_ids(c, &[t.node_id])?.pop().ok_or(Error::NotFound("Machine"))?;
        return Ok(NodeAuth::Node(Box::new(n), t.token_secret));
    }
    Ok(match db::tokens::lookup_for_auth(c, consumer_key, token_key)? {
        db::tokens::AuthLookup::Found(_) => NodeAuth::UserToken,
        _ => NodeAuth::Unknown,
    })
}
