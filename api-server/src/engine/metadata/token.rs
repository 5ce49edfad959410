//! Node tokens: the OAuth credentials a machine uses on the metadata API.
//! Below node operations (which issue tokens through
//! `nodes::state::transition`) and the HTTP layer (which looks them up).
//!
//! **A token lives for one phase.** MAAS keeps one token per node for the
//! node's whole life (it only clears it when the owner changes), and hands
//! it to anyone who asks `get_preseed`; a token taken during one tenant's
//! deploy then read the next tenant's user data. Here every status change
//! decides the token's fate in the same transaction ([`follow_status`]):
//!
//! - entering a phase that boots something needing credentials
//!   (commissioning, testing, deploying, disk erasing, releasing, entering
//!   rescue mode) **issues** a fresh token and boot secret, which replaces
//!   (deletes) the previous one;
//! - moving on inside the same phase **keeps** it: the environment that is
//!   running still signs with it (commissioning → testing, deploying →
//!   deployed: the installed OS reports `modules-final` with it, entering
//!   rescue → rescue mode, and a phase → its failed counterpart, where MAAS
//!   answers late signals with 200);
//! - anything else (Ready, New, Allocated, Broken, release, exit from
//!   rescue, …) **revokes** it: the row is deleted and the old credentials
//!   are an unknown key (401) from then on.
//!
//! So ownership never changes under a live token (allocation and release
//! both pass through token-less statuses), and a token leaked in one phase
//! dies with it.
//!
//! The **boot secret** is the phase's part of the preseed URL the rack puts
//! on the machine's kernel command line ([`preseed_path`]); `get_preseed`
//! hands the token out only with it (`engine::metadata::get_preseed`).

use subtle::ConstantTimeEq;

use crate::db;
use crate::db::metadata::NodeToken;
use crate::db::nodes::Node;
use crate::db::DbConn;
use crate::engine;
use crate::engine::lifecycle::Status;
use crate::error::{Error, Result};

/// The statuses in which a machine runs an ephemeral environment (or the
/// installer) that needs its credentials: entering one starts a phase.
pub fn in_ephemeral_phase(st: Status) -> bool {
    matches!(
        st,
        Status::Commissioning
            | Status::Deploying
            | Status::DiskErasing
            | Status::Releasing
            | Status::Testing
            | Status::EnteringRescueMode
    )
}

/// What a status change does to the node's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenChange {
    /// The same phase goes on: the running environment keeps its token.
    Keep,
    /// A new phase: a fresh token (and boot secret) replaces the old one.
    Issue,
    /// No phase: no token.
    Revoke,
}

/// The token rule for `from` → `to` (see the module doc).
pub fn change_for(from: Status, to: Status) -> TokenChange {
    if from == to {
        return TokenChange::Keep;
    }
    // Steps the running environment (or the installed OS) takes itself.
    let continues = matches!(
        (from, to),
        (Status::Commissioning, Status::Testing)
            | (Status::Deploying, Status::Deployed)
            | (Status::EnteringRescueMode, Status::RescueMode)
    ) || from.failed_counterpart() == Some(to);
    if continues {
        TokenChange::Keep
    } else if in_ephemeral_phase(to) {
        TokenChange::Issue
    } else {
        TokenChange::Revoke
    }
}

/// Applies [`change_for`] to node `node_id`; called by
/// `nodes::state::transition` inside the status change's transaction.
pub fn follow_status(c: &mut DbConn, node_id: i64, from: Status, to: Status) -> Result<()> {
    match change_for(from, to) {
        TokenChange::Keep => Ok(()),
        TokenChange::Issue => issue(c, node_id).map(|_| ()),
        TokenChange::Revoke => db::metadata::delete_token(c, node_id),
    }
}

/// A fresh token and boot secret for node `node_id`, replacing any other.
pub fn issue(c: &mut DbConn, node_id: i64) -> Result<NodeToken> {
    db::metadata::delete_token(c, node_id)?;
    let t = NodeToken {
        node_id,
        consumer_key: engine::accounts::random_string(18),
        token_key: engine::accounts::random_string(18),
        token_secret: engine::accounts::random_string(32),
        created_at: db::now(),
        boot_secret: engine::accounts::random_string(32),
    };
    db::metadata::insert_token(c, &t)?;
    Ok(t)
}

/// The node's current token, created if it has none (an admin's
/// `get_token`, machines that entered their phase before tokens followed
/// the status). The next status change replaces or revokes it as usual.
pub fn ensure_token(c: &mut DbConn, n: &Node) -> Result<NodeToken> {
    match db::metadata::token_of(c, n.id)? {
        Some(t) => Ok(t),
        None => issue(c, n.id),
    }
}

/// Whether `given` is the node's current boot secret (constant time; a
/// token without one, from before boot secrets, matches nothing).
pub fn boot_secret_matches(t: &NodeToken, given: &str) -> bool {
    !t.boot_secret.is_empty() && bool::from(t.boot_secret.as_bytes().ct_eq(given.as_bytes()))
}

/// The preseed's path under `/MAAS/metadata/` for a machine in its phase:
/// MAAS's `latest/by-id/<system_id>/?op=get_preseed` with the boot secret as
/// one more path segment. A path segment rather than a query parameter
/// keeps `&` out of the kernel command line (GRUB treats it as an
/// operator).
pub fn preseed_path(system_id: &str, boot_secret: &str) -> String {
    if boot_secret.is_empty() {
        format!("latest/by-id/{system_id}/?op=get_preseed")
    } else {
        format!("latest/by-id/{system_id}/{boot_secret}/?op=get_preseed")
    }
}

/// What a metadata credential turned out to be.
pub enum NodeAuth {
    /// A node token: the machine it belongs to, and its secret.
    Node(Box<Node>, String),
    /// A user's API token: valid, but not a node (403 on metadata routes).
    UserToken,
    /// Neither (or a node token that was revoked).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::lifecycle::ALL;

    #[test]
    fn every_phase_entry_issues_and_leaving_revokes() {
        use TokenChange::*;
        // A new boot: fresh token, whatever came before.
        assert_eq!(change_for(Status::Ready, Status::Commissioning), Issue);
        assert_eq!(change_for(Status::FailedCommissioning, Status::Commissioning), Issue);
        assert_eq!(change_for(Status::Allocated, Status::Deploying), Issue);
        assert_eq!(change_for(Status::Deployed, Status::Releasing), Issue);
        assert_eq!(change_for(Status::Deployed, Status::DiskErasing), Issue);
        assert_eq!(change_for(Status::Deployed, Status::EnteringRescueMode), Issue);
        assert_eq!(change_for(Status::Deployed, Status::Testing), Issue);
        // The running environment goes on.
        assert_eq!(change_for(Status::Commissioning, Status::Testing), Keep);
        assert_eq!(change_for(Status::Deploying, Status::Deployed), Keep);
        assert_eq!(change_for(Status::Deploying, Status::FailedDeployment), Keep);
        assert_eq!(change_for(Status::EnteringRescueMode, Status::RescueMode), Keep);
        // Out of every phase: nothing.
        assert_eq!(change_for(Status::DiskErasing, Status::Ready), Revoke);
        assert_eq!(change_for(Status::Commissioning, Status::New), Revoke);
        assert_eq!(change_for(Status::Deployed, Status::Ready), Revoke);
        assert_eq!(change_for(Status::Deployed, Status::Broken), Revoke);
        assert_eq!(change_for(Status::RescueMode, Status::ExitingRescueMode), Revoke);
    }

    #[test]
    fn no_token_survives_an_owner_change() {
        // Ownership changes only on the way into Allocated and back to
        // Ready/New: every such move revokes.
        for from in ALL {
            for to in [Status::Ready, Status::New, Status::Allocated] {
                if from != to {
                    assert_eq!(change_for(from, to), TokenChange::Revoke, "{from:?} -> {to:?}");
                }
            }
        }
    }

    #[test]
    fn preseed_path_carries_the_secret_as_a_segment() {
        assert_eq!(preseed_path("abc", "s3cret"), "latest/by-id/abc/s3cret/?op=get_preseed");
        assert_eq!(preseed_path("abc", ""), "latest/by-id/abc/?op=get_preseed");
        let t = NodeToken {
            node_id: 1,
            consumer_key: String::new(),
            token_key: String::new(),
            token_secret: String::new(),
            created_at: chrono::NaiveDateTime::default(),
            boot_secret: "s3cret".into(),
        };
        assert!(boot_secret_matches(&t, "s3cret"));
        assert!(!boot_secret_matches(&t, "s3cre"));
        assert!(!boot_secret_matches(&NodeToken { boot_secret: String::new(), ..t }, ""));
    }
}
