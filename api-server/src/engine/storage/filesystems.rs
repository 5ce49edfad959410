//! Formatting and mounting block devices and partitions.

use crate::db;
use crate::db::nodes::Node;
use crate::db::storage::{NewFilesystem, NodeStorage};
use crate::db::users::User;
use crate::db::DbConn;
use crate::engine::lifecycle::Status;
use crate::engine::storage::model::check_uuid;
use crate::engine::storage::model::device_of;
use crate::engine::storage::model::member_group;
use crate::engine::storage::model::new_uuid;
use crate::engine::storage::model::part_of;
use crate::engine::storage::model::partition_of;
use crate::engine::storage::model::Storage;
use crate::engine::storage::model::Target;
use crate::engine::storage::model::FORMAT_FSTYPES;
use crate::engine::storage::rules::check_change;
use crate::engine::storage::rules::Need;
use crate::error::{Error, Result};

/// `format`: the filesystem to create.
#[derive(Debug, Clone, Default)]
pub struct FormatInput {
    pub fstype: Option<String>,
    pub uuid: Option<String>,
    pub label: Option<String>,
}

pub(crate) fn target_name(t: Target) -> &'static str {
    match t {
        Target::Device(_) => "block device",
        Target::Partition(_) => "partition",
    }
}

/// Checks `t` exists on this node (`device_id` is the URL's device for partitions).
pub(crate) fn resolve_target(st: &NodeStorage, t: Target, device_id: i64) -> Result<()> {
    match t {
        Target::Device(id) => st.devices.iter().any(|d| d.id == id).then_some(()).ok_or(Error::NotFound("BlockDevice")),
        Target::Partition(id) => partition_of(st, device_id, id).map(|_| ()),
    }
}

pub fn format(c: &mut DbConn, user: &User, n: &Node, t: Target, device_id: i64, input: FormatInput) -> Result<()> {
    let st = db::storage::load_node(c, n.id)?;
    resolve_target(&st, t, device_id)?;
    let s = Storage::new(n, &st);
    let what = target_name(t);
    check_change(user, n, "format", what, Need::Edit)?;
    let fstype = input
        .fstype
        .map(|f| f.trim().to_string())
        .filter(|f| !f.is_empty())
        .ok_or_else(|| Error::required("fstype"))?;
    if !FORMAT_FSTYPES.contains(&fstype.as_str()) {
        return Err(Error::field(
            "fstype",
            format!("Select a valid choice. {fstype} is not one of the available choices."),
        ));
    }
    let uuid = match input.uuid.filter(|u| !u.trim().is_empty()) {
        Some(u) => check_uuid("uuid", &u)?,
        None => new_uuid(),
    };
    if let Target::Device(id) = t {
        let d = device_of(&s, id)?;
        if d.partition_table_type.is_some() {
            return Err(Error::BadRequest("Cannot format block device with partitions.".into()));
        }
    }
    if let Some(g) = s.group_of(t) {
        return Err(Error::BadRequest(format!("Cannot format {what} because it is part of {}.", part_of(g))));
    }
    // What the owner formats on an Allocated machine goes at release.
    let acquired = n.status == Status::Allocated;
    if let Some(old) = s.filesystem(t) {
        db::storage::delete_filesystem(c, old.id)?;
    }
    let (block_device_id, partition_id) = t.columns();
    db::storage::insert_filesystem(
        c,
        &NewFilesystem {
            node_id: n.id,
            block_device_id,
            partition_id,
            mount_point: None,
            mount_options: None,
            label: input.label.filter(|l| !l.is_empty()),
            uuid,
            fstype,
            volume_group_id: None,
            acquired,
            created_at: db::now(),
        },
    )?;
    Ok(())
}

pub fn unformat(c: &mut DbConn, user: &User, n: &Node, t: Target, device_id: i64) -> Result<()> {
    let st = db::storage::load_node(c, n.id)?;
    resolve_target(&st, t, device_id)?;
    let s = Storage::new(n, &st);
    let what = target_name(t);
    check_change(user, n, "unformat", what, Need::Edit)?;
    let Some(f) = s.filesystem(t) else {
        return Err(Error::BadRequest(match t {
            Target::Device(_) => "Block device is not formatted.".into(),
            Target::Partition(_) => "Partition is not formatted.".into(),
        }));
    };
    if let Some(g) = member_group(&s, f) {
        return Err(Error::BadRequest(format!(
            "Filesystem is part of {g}, and cannot be unformatted. Remove {what} from {g} before unformatting the {what}."
        )));
    }
    if f.mount_point.is_some() {
        return Err(Error::BadRequest(format!(
            "Filesystem is mounted and cannot be unformatted. Unmount the filesystem before unformatting the {what}."
        )));
    }
    db::storage::delete_filesystem(c, f.id)
}

/// `mount`: where and how.
#[derive(Debug, Clone, Default)]
pub struct MountInput {
    pub mount_point: Option<String>,
    pub mount_options: Option<String>,
}

pub fn mount(c: &mut DbConn, user: &User, n: &Node, t: Target, device_id: i64, input: MountInput) -> Result<()> {
    let st = db::storage::load_node(c, n.id)?;
    resolve_target(&st, t, device_id)?;
    let s = Storage::new(n, &st);
    check_change(user, n, "mount", target_name(t), Need::Edit)?;
    let Some(f) = s.filesystem(t) else {
        return Err(Error::BadRequest("Cannot mount an unformatted partition or block device.".into()));
    };
    if let Some(g) = member_group(&s, f) {
        return Err(Error::BadRequest(format!("Filesystem is part of {g}, and cannot be mounted.")));
    }
    let mount_point = if f.fstype == "swap" {
        "none".to_string()
    } else {
        let mp = input.mount_point.map(|m| m.trim().to_string()).filter(|m| !m.is_empty());
        let mp = mp.ok_or_else(|| Error::required("mount_point"))?;
        if !mp.starts_with('/') {
            return Err(Error::field("mount_point", "Enter a valid absolute path."));
        }
        mp
    };
    let options = input.mount_options.filter(|o| !o.trim().is_empty());
    db::storage::set_mount(c, f.id, Some(&mount_point), options.as_deref())
}

pub fn unmount(c: &mut DbConn, user: &User, n: &Node, t: Target, device_id: i64) -> Result<()> {
    let st = db::storage::load_node(c, n.id)?;
    resolve_target(&st, t, device_id)?;
    let s = Storage::new(n, &st);
    let what = target_name(t);
    check_change(user, n, "unmount", what, Need::Edit)?;
    let Some(f) = s.filesystem(t) else {
        return Err(Error::BadRequest(format!("Cannot unmount an unformatted {what}.")));
    };
    if let Some(g) = member_group(&s, f) {
        return Err(Error::BadRequest(format!("Filesystem is part of {g}, and cannot be unmounted.")));
    }
    if f.mount_point.is_none() {
        return Err(Error::BadRequest("Filesystem is already unmounted.".into()));
    }
    db::storage::set_mount(c, f.id, None, None)
}
