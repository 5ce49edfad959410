//! LVM: volume groups (one extent per physical volume lost to headers) and logical volumes.

use crate::db;
use crate::db::nodes::Node;
use crate::db::storage::{
    BlockDevice, BlockDeviceChanges, Filesystem, NewBlockDevice, NewFilesystem, NewVolumeGroup, NodeStorage,
    VolumeGroup,
};
use crate::db::users::User;
use crate::db::DbConn;
use crate::engine::storage::model::check_uuid;
use crate::engine::storage::model::new_uuid;
use crate::engine::storage::model::round_down;
use crate::engine::storage::model::Storage;
use crate::engine::storage::model::Target;
use crate::engine::storage::model::LVM_PE_SIZE;
use crate::engine::storage::model::LVM_PV;
use crate::engine::storage::model::LVM_VG;
use crate::engine::storage::model::MIN_BLOCK_DEVICE_SIZE;
use crate::engine::storage::model::VIRTUAL;
use crate::engine::storage::rules::check_change;
use crate::engine::storage::rules::not_a_choice;
use crate::engine::storage::rules::Need;
use crate::error::{Error, Result};

/// `POST volume-groups/` and `PUT volume-group/{id}/`.
#[derive(Debug, Clone, Default)]
pub struct VolumeGroupInput {
    pub name: Option<String>,
    pub uuid: Option<String>,
    pub add_devices: Vec<String>,
    pub add_partitions: Vec<String>,
    pub remove_devices: Vec<String>,
    pub remove_partitions: Vec<String>,
}

/// Resolves ids to members that are free to become physical volumes (or
/// RAID, bcache or cache set members): devices of this node with no
/// filesystem and no partition table that are not logical volumes,
/// partitions of this node with no filesystem.
pub(crate) fn free_members(
    s: &Storage<'_>,
    field_d: &str,
    devs: &[String],
    field_p: &str,
    parts: &[String],
) -> Result<Vec<Target>> {
    let mut out = Vec::new();
    for v in devs {
        // Free devices only, and never a logical volume (no nested LVM).
        let d = v
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(|id| s.device(id))
            .filter(|d| s.device_unused(d) && s.group_of_device(d).is_none_or(|g| g.group_type != LVM_VG));
        match d {
            Some(d) => out.push(Target::Device(d.id)),
            None => return Err(not_a_choice(field_d, v)),
        }
    }
    for v in parts {
        let p = v
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(|id| s.partition(id))
            .filter(|p| s.filesystem(Target::Partition(p.id)).is_none());
        match p {
            Some(p) => out.push(Target::Partition(p.id)),
            None => return Err(not_a_choice(field_p, v)),
        }
    }
    Ok(out)
}

pub(crate) fn add_pv(c: &mut DbConn, n: &Node, vg_id: i64, t: Target) -> Result<Filesystem> {
    let (block_device_id, partition_id) = t.columns();
    db::storage::insert_filesystem(
        c,
        &NewFilesystem {
            node_id: n.id,
            block_device_id,
            partition_id,
            fstype: LVM_PV.into(),
            uuid: new_uuid(),
            label: None,
            mount_point: None,
            mount_options: None,
            volume_group_id: Some(vg_id),
            acquired: false,
            created_at: db::now(),
        },
    )
}

pub(crate) fn check_vg_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "+_.-".contains(c))
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::field("name", format!("'{name}' is not a valid volume group name.")))
    }
}

/// Creates a volume group over free devices/partitions, without permission checks.
pub(crate) fn make_volume_group(
    c: &mut DbConn,
    n: &Node,
    st: &mut NodeStorage,
    name: &str,
    uuid: Option<String>,
    members: &[Target],
) -> Result<VolumeGroup> {
    check_vg_name(name)?;
    if members.is_empty() {
        return Err(Error::field("__all__", "At least one valid block device or partition is required."));
    }
    let uuid = match uuid.filter(|u| !u.trim().is_empty()) {
        Some(u) => check_uuid("uuid", &u)?,
        None => new_uuid(),
    };
    let vg = db::storage::insert_volume_group(
        c,
        &NewVolumeGroup {
            node_id: n.id,
            name: name.to_string(),
            uuid,
            created_at: db::now(),
            group_type: LVM_VG.into(),
            cache_mode: None,
            cache_set_id: None,
        },
    )?;
    st.volume_groups.push(vg.clone());
    for t in members {
        st.filesystems.push(add_pv(c, n, vg.id, *t)?);
    }
    Ok(vg)
}

pub fn create_volume_group(c: &mut DbConn, user: &User, n: &Node, input: VolumeGroupInput) -> Result<i64> {
    let mut st = db::storage::load_node(c, n.id)?;
    check_change(user, n, "create volume group on", "machine", Need::Edit)?;
    let name =
        input.name.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).ok_or_else(|| Error::required("name"))?;
    let members =
        free_members(&Storage::new(n, &st), "block_devices", &input.add_devices, "partitions", &input.add_partitions)?;
    Ok(make_volume_group(c, n, &mut st, &name, input.uuid, &members)?.id)
}

pub fn update_volume_group(c: &mut DbConn, user: &User, n: &Node, id: i64, input: VolumeGroupInput) -> Result<()> {
    let mut st = db::storage::load_node(c, n.id)?;
    let vg = Storage::new(n, &st).volume_group(id).cloned().ok_or(Error::NotFound("VolumeGroup"))?;
    check_change(user, n, "update", "volume group", Need::Edit)?;
    let s = Storage::new(n, &st);
    let added = free_members(&s, "add_block_devices", &input.add_devices, "add_partitions", &input.add_partitions)?;
    let mut removed = Vec::new();
    for (field, vals, is_dev) in
        [("remove_block_devices", &input.remove_devices, true), ("remove_partitions", &input.remove_partitions, false)]
    {
        for v in vals {
            let t = v.trim().parse::<i64>().ok().map(|i| if is_dev { Target::Device(i) } else { Target::Partition(i) });
            let fs = t.and_then(|t| s.filesystem(t)).filter(|f| f.volume_group_id == Some(vg.id));
            match fs {
                Some(f) => removed.push(f.id),
                None => return Err(not_a_choice(field, v)),
            }
        }
    }
    let new_name = input.name.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let lvs: Vec<BlockDevice> = s.logical_volumes(&vg).cloned().collect();
    for fid in &removed {
        db::storage::delete_filesystem(c, *fid)?;
    }
    st.filesystems.retain(|f| !removed.contains(&f.id));
    for t in &added {
        st.filesystems.push(add_pv(c, n, vg.id, *t)?);
    }
    let s = Storage::new(n, &st);
    if s.members(&vg).is_empty() {
        return Err(Error::BadRequest("A volume group needs at least one block device or partition.".into()));
    }
    if s.vg_size(&vg) < s.vg_used(&vg) {
        return Err(Error::BadRequest(format!(
            "Cannot remove devices from volume group {}: its logical volumes need the space.",
            vg.name
        )));
    }
    if new_name.is_some() || input.uuid.is_some() {
        let name = new_name.unwrap_or_else(|| vg.name.clone());
        check_vg_name(&name)?;
        let uuid = match input.uuid.filter(|u| !u.trim().is_empty()) {
            Some(u) => check_uuid("uuid", &u)?,
            None => vg.uuid.clone(),
        };
        db::storage::rename_volume_group(c, vg.id, &name, &uuid)?;
        if name != vg.name {
            for lv in lvs {
                let short = lv.name.strip_prefix(&format!("{}-", vg.name)).unwrap_or(&lv.name).to_string();
                db::storage::update_device(
                    c,
                    lv.id,
                    &BlockDeviceChanges { name: Some(format!("{name}-{short}")), ..Default::default() },
                )?;
            }
        }
    }
    Ok(())
}

pub fn delete_volume_group(c: &mut DbConn, user: &User, n: &Node, id: i64) -> Result<()> {
    let st = db::storage::load_node(c, n.id)?;
    Storage::new(n, &st).volume_group(id).ok_or(Error::NotFound("VolumeGroup"))?;
    check_change(user, n, "delete", "volume group", Need::Edit)?;
    db::storage::delete_volume_group(c, id)
}

/// `create_logical_volume`.
#[derive(Debug, Clone, Default)]
pub struct LogicalVolumeInput {
    pub name: Option<String>,
    pub size: Option<i64>,
    pub uuid: Option<String>,
}

/// Adds a logical volume without permission checks; `size` `None` takes all
/// free space.
pub(crate) fn make_logical_volume(
    c: &mut DbConn,
    n: &Node,
    st: &mut NodeStorage,
    vg: &VolumeGroup,
    input: LogicalVolumeInput,
) -> Result<BlockDevice> {
    let name =
        input.name.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).ok_or_else(|| Error::required("name"))?;
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || "+_.-".contains(c)) {
        return Err(Error::field("name", format!("'{name}' is not a valid logical volume name.")));
    }
    let free = Storage::new(n, st).vg_available(vg);
    if free < MIN_BLOCK_DEVICE_SIZE {
        return Err(Error::BadRequest(format!(
            "Volume group ({}) cannot hold any more logical volumes, because it doesn't have enough free space.",
            vg.name
        )));
    }
    let size = match input.size {
        None => free,
        Some(sz) => {
            let sz = round_down(sz, LVM_PE_SIZE);
            if sz > free {
                return Err(Error::field("size", format!("Size is too large. Maximum size is {free}.")));
            }
            if sz < MIN_BLOCK_DEVICE_SIZE {
                return Err(Error::field(
                    "size",
                    format!("Size is too small. Minimum size is {MIN_BLOCK_DEVICE_SIZE}."),
                ));
            }
            sz
        }
    };
    let uuid = match input.uuid.filter(|u| !u.trim().is_empty()) {
        Some(u) => check_uuid("uuid", &u)?,
        None => new_uuid(),
    };
    let lv = db::storage::insert_device(
        c,
        &NewBlockDevice {
            node_id: n.id,
            name: format!("{}-{name}", vg.name),
            dev_type: VIRTUAL.into(),
            id_path: None,
            model: None,
            serial: None,
            firmware_version: None,
            size,
            block_size: 4096,
            tags: "[]".into(),
            uuid: Some(uuid),
            storage_pool: None,
            numa_node: 0,
            is_boot_disk: false,
            partition_table_type: None,
            volume_group_id: Some(vg.id),
            created_at: db::now(),
        },
    )?;
    st.devices.push(lv.clone());
    Ok(lv)
}

pub fn create_logical_volume(
    c: &mut DbConn,
    user: &User,
    n: &Node,
    vg_id: i64,
    input: LogicalVolumeInput,
) -> Result<i64> {
    let mut st = db::storage::load_node(c, n.id)?;
    let vg = Storage::new(n, &st).volume_group(vg_id).cloned().ok_or(Error::NotFound("VolumeGroup"))?;
    check_change(user, n, "create logical volume on", "volume group", Need::Edit)?;
    Ok(make_logical_volume(c, n, &mut st, &vg, input)?.id)
}

/// Deletes a logical volume of the group; an unknown id is ignored, as MAAS does.
pub fn delete_logical_volume(c: &mut DbConn, user: &User, n: &Node, vg_id: i64, lv_id: i64) -> Result<()> {
    let st = db::storage::load_node(c, n.id)?;
    let s = Storage::new(n, &st);
    let vg = s.volume_group(vg_id).ok_or(Error::NotFound("VolumeGroup"))?;
    check_change(user, n, "delete logical volume from", "volume group", Need::Edit)?;
    if s.logical_volumes(vg).any(|d| d.id == lv_id) {
        db::storage::delete_device(c, lv_id)?;
    }
    Ok(())
}
