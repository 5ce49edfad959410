//! Who may change a machine's storage, and when (status, ownership, lock).

use crate::db::nodes::Node;
use crate::db::users::User;
use crate::engine;
use crate::engine::lifecycle::{NodeType, Status};
use crate::engine::storage::model::parse_tags;
use crate::error::{Error, Result};

/// Who may make a storage change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Administrators only (physical devices, boot disk, device tags).
    Admin,
    /// Administrators, or the owner of an Allocated machine.
    Edit,
}

/// Storage may change only on a Ready or Allocated machine that is not
/// locked; a Ready machine only by an administrator (MAAS's rules and texts).
pub fn check_change(user: &User, n: &Node, op: &str, what: &str, need: Need) -> Result<()> {
    if n.node_type != NodeType::Machine {
        return Err(Error::NotFound("Machine"));
    }
    if n.locked {
        return Err(Error::Forbidden(format!("Machine {} is locked; unlock it first.", n.system_id)));
    }
    if !user.is_superuser && n.owner_id.is_some() && n.owner_id != Some(user.id) {
        return Err(Error::Conflict(format!("Machine {} is owned by another user.", n.system_id)));
    }
    let status = n.status;
    if !matches!(status, Status::Ready | Status::Allocated) {
        return Err(Error::Conflict(format!("Cannot {op} {what} because the machine is not Ready or Allocated.")));
    }
    if user.is_superuser {
        return Ok(());
    }
    if need == Need::Admin {
        return Err(Error::Forbidden("You don't have permission to do this: administrators only.".into()));
    }
    if status == Status::Ready {
        return Err(Error::Forbidden(format!(
            "Cannot {op} {what} because you don't have the permissions on a Ready machine."
        )));
    }
    Ok(())
}

pub(crate) fn edit_tags(current: &str, tag: &str, add: bool) -> Result<String> {
    let tag = tag.trim();
    if tag.is_empty() {
        return Err(Error::required("tag"));
    }
    let mut tags = parse_tags(current);
    if add {
        if !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_string());
        }
    } else {
        tags.retain(|t| t != tag);
    }
    Ok(engine::string_list_json(&tags))
}

pub(crate) fn not_a_choice(field: &str, v: &str) -> Error {
    Error::field(field, format!("Select a valid choice. {v} is not one of the available choices."))
}

pub(crate) fn rename_field(e: Error, from: &str, to: &str) -> Error {
    match e {
        Error::Validation(mut m) => {
            if let Some(v) = m.remove(from) {
                m.insert(to.to_string(), v);
            }
            Error::Validation(m)
        }
        other => other,
    }
}
