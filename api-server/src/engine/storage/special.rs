//! Special-purpose filesystems (MAAS's `mount_special` / `unmount_special`):
//! tmpfs and ramfs mounted on a machine without a block device, with MAAS's
//! states, form rules and words.

use crate::db;
use crate::db::nodes::Node;
use crate::db::users::User;
use crate::db::DbConn;
use crate::engine;
use crate::engine::lifecycle::Status;
use crate::engine::storage::model::new_uuid;
use crate::error::{Error, FieldErrors, Result};

/// The filesystem types that need no storage (MAAS: every format type but
/// those in `TYPES_REQUIRING_STORAGE`), in MAAS's choice order.
pub const SPECIAL_FSTYPES: &[&str] = &["ramfs", "tmpfs"];

/// MAAS's `AbsolutePathField`: `^(?:/[^/]*)*$`, 1 to 4095 characters.
fn check_path(errors: &mut FieldErrors, v: Option<&str>) -> Option<String> {
    let msg = match v {
        None | Some("") => "This field is required.".to_string(),
        Some(p) if p.chars().count() > 4095 => {
            format!("Ensure this value has at most 4095 characters (it has {}).", p.chars().count())
        }
        Some(p) if !p.starts_with('/') => "Enter a valid value.".to_string(),
        Some(p) => return Some(p.to_string()),
    };
    errors.insert("mount_point".into(), vec![msg]);
    None
}

fn require_ready_or_allocated(n: &Node, verb: &str) -> Result<()> {
    if matches!(n.status, Status::Ready | Status::Allocated) {
        Ok(())
    } else {
        Err(Error::Conflict(format!("Cannot {verb} the filesystem because the machine is not Ready or Allocated.")))
    }
}

/// `mount_special`: a tmpfs or ramfs at `mount_point`. Made by an owner
/// (machine Allocated) it is `acquired` and goes at release.
pub fn mount(
    c: &mut DbConn,
    actor: &User,
    n: &Node,
    fstype: Option<&str>,
    mount_point: Option<&str>,
    mount_options: Option<&str>,
) -> Result<()> {
    engine::access::require_edit(actor, n)?;
    require_ready_or_allocated(n, "mount")?;
    let mut errors = FieldErrors::new();
    let mount_point = check_path(&mut errors, mount_point);
    match fstype {
        None | Some("") => {
            errors.insert("fstype".into(), vec!["This field is required.".into()]);
        }
        Some(t) if !SPECIAL_FSTYPES.contains(&t) => {
            errors.insert(
                "fstype".into(),
                vec![format!("Select a valid choice. {t} is not one of the available choices.")],
            );
        }
        Some(_) => {}
    }
    let (Some(mount_point), Some(fstype), true) = (mount_point, fstype, errors.is_empty()) else {
        return Err(Error::Validation(errors));
    };
    let acquired = n.owner_id.is_some();
    let taken = db::special_filesystems::of_nodes(c, &[n.id])?.iter().any(|f| f.mount_point == mount_point)
        || db::storage::load_node(c, n.id)?.filesystems.iter().any(|f| f.mount_point.as_deref() == Some(&mount_point));
    if taken {
        return Err(Error::field("__all__", format!("Another filesystem is already mounted at {mount_point}.")));
    }
    db::special_filesystems::insert(c, n.id, fstype, &new_uuid(), &mount_point, mount_options.unwrap_or(""), acquired)
}

/// `unmount_special`: removes the special filesystem at `mount_point`.
pub fn unmount(c: &mut DbConn, actor: &User, n: &Node, mount_point: Option<&str>) -> Result<()> {
    engine::access::require_edit(actor, n)?;
    require_ready_or_allocated(n, "unmount")?;
    let mut errors = FieldErrors::new();
    let Some(mount_point) = check_path(&mut errors, mount_point) else {
        return Err(Error::Validation(errors));
    };
    let found = db::special_filesystems::of_nodes(c, &[n.id])?.into_iter().find(|f| f.mount_point == mount_point);
    match found {
        Some(f) => db::special_filesystems::delete(c, f.id),
        None => Err(Error::field("mount_point", "No special filesystem is mounted at this path.")),
    }
}
