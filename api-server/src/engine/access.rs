//! Who may see and change a node: the owner/admin/lock rules MAAS applies (`maas-api.md` §5.9, §8), written once. A bottom module: it uses only `db/` and `lifecycle`.

use crate::db;
use crate::db::nodes::Node;
use crate::db::users::User;
use crate::db::DbConn;
use crate::engine::lifecycle::NodeType;
use crate::error::{Error, Result};

/// Loads a node the caller may view; 404 for unknown, 403 for hidden.
pub fn get_visible(c: &mut DbConn, user: &User, system_id: &str, model: &'static str) -> Result<Node> {
    let n = db::nodes::by_system_id(c, system_id)?.ok_or(Error::NotFound(model))?;
    if !can_view(user, &n) {
        return Err(Error::Forbidden(format!("You don't have permission to view {model} {system_id}.")));
    }
    Ok(n)
}

/// Resolves the system_ids of a bulk operation; any unknown id is a 400
/// naming them all (`Unknown machine(s): …` / `Unknown node(s): …`).
/// `machines_only` limits the lookup to machines.
pub fn resolve_bulk(c: &mut DbConn, ids: &[String], machines_only: bool) -> Result<Vec<Node>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let node_types = if machines_only { vec![NodeType::Machine] } else { Vec::new() };
    let found =
        db::nodes::list(c, &db::nodes::NodeFilter { ids: Some(ids.to_vec()), node_types, ..Default::default() })?;
    let known: std::collections::HashSet<&str> = found.iter().map(|n| n.system_id.as_str()).collect();
    let missing: Vec<&str> = ids.iter().map(String::as_str).filter(|id| !known.contains(id)).collect();
    if !missing.is_empty() {
        let what = if machines_only { "machine(s)" } else { "node(s)" };
        return Err(Error::BadRequest(format!("Unknown {what}: {}.", missing.join(", "))));
    }
    Ok(found)
}

pub fn can_view(user: &User, n: &Node) -> bool {
    can_view_owned(user, n.owner_id)
}

/// [`can_view`] from the owner alone (what the change feed carries).
pub fn can_view_owned(user: &User, owner_id: Option<i64>) -> bool {
    user.is_superuser || owner_id.is_none() || owner_id == Some(user.id)
}

/// Narrows a node list to what [`can_view`] lets the caller see, in SQL.
pub fn restrict_list(filter: &mut db::nodes::NodeFilter, user: &User) {
    if !user.is_superuser {
        filter.visible_to = Some(user.id);
    }
}

/// MAAS's edit permission: unowned or owned by the caller (or admin), and not
/// locked. A machine owned by someone else is a 409 rather than MAAS's 403,
/// because Juju treats every 403 as a dead credential.
pub fn require_edit(user: &User, n: &Node) -> Result<()> {
    if n.locked {
        return Err(Error::Forbidden(format!("Machine {} is locked; unlock it first.", n.system_id)));
    }
    if !user.is_superuser && n.owner_id.is_some() && n.owner_id != Some(user.id) {
        return Err(Error::Conflict(format!("Machine {} is owned by another user.", n.system_id)));
    }
    Ok(())
}

/// Administrators only: the API's refusal of anyone else (one set of words
/// for the API's handlers and the web UI's forms).
pub fn require_superuser(user: &User) -> Result<()> {
    if user.is_superuser {
        Ok(())
    } else {
        Err(Error::Forbidden("You don't have permission to do this: administrators only.".into()))
    }
}

/// Admin operations on a node that is not locked.
pub fn require_admin(user: &User, n: &Node) -> Result<()> {
    require_superuser(user)?;
    if n.locked {
        return Err(Error::Forbidden(format!("Machine {} is locked; unlock it first.", n.system_id)));
    }
    Ok(())
}

/// Owners and admins change devices.
pub fn require_device_owner(actor: &User, n: &Node) -> Result<()> {
    if actor.is_superuser || n.owner_id == Some(actor.id) {
        Ok(())
    } else {
        Err(Error::Forbidden("Only the device's owner or an administrator can change it.".into()))
    }
}
