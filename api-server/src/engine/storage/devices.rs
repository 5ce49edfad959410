//! Block devices: recorded at commissioning, created, updated, tagged, deleted; the boot disk.

use crate::db;
use crate::db::nodes::Node;
use crate::db::storage::{BlockDevice, BlockDeviceChanges, NewBlockDevice};
use crate::db::users::User;
use crate::db::DbConn;
use crate::engine;
use crate::engine::lifecycle::NodeType;
use crate::engine::storage::model::check_uuid;
use crate::engine::storage::model::device_of;
use crate::engine::storage::model::part_of;
use crate::engine::storage::model::partition_of;
use crate::engine::storage::model::round_down;
use crate::engine::storage::model::Storage;
use crate::engine::storage::model::Target;
use crate::engine::storage::model::LVM_PE_SIZE;
use crate::engine::storage::model::LVM_VG;
use crate::engine::storage::model::MAX_BLOCK_DEVICE_SIZE;
use crate::engine::storage::model::MIN_BLOCK_DEVICE_SIZE;
use crate::engine::storage::model::PHYSICAL;
use crate::engine::storage::rules::check_change;
use crate::engine::storage::rules::edit_tags;
use crate::engine::storage::rules::Need;
use crate::error::{Error, FieldErrors, Result};

/// One disk as commissioning reports it.
#[derive(Debug, Clone, Default)]
pub struct DiskInventory {
    pub name: String,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub size: i64,
    pub block_size: i64,
    pub rotational: bool,
    pub id_path: Option<String>,
    pub firmware_version: Option<String>,
    /// Spindle speed when known (0: unknown, or not spinning).
    pub rpm: u64,
    /// USB sticks, SD cards (/sys's `removable`).
    pub removable: bool,
}

impl DiskInventory {
    /// MAAS's tags for a commissioned disk (hooks.py
    /// `_get_tags_from_block_info`): `rotary` and `<rpm>rpm` for spinning
    /// media, `ssd` otherwise, and `removable`.
    pub fn tags(&self) -> Vec<String> {
        let mut tags = Vec::new();
        if self.rotational || self.rpm > 0 {
            tags.push("rotary".to_string());
            if self.rpm > 0 {
                tags.push(format!("{}rpm", self.rpm));
            }
        } else {
            tags.push("ssd".to_string());
        }
        if self.removable {
            tags.push("removable".to_string());
        }
        tags
    }
}

/// Replaces a node's disks with what commissioning found: every storage row
/// goes, the disks are recorded with MAAS's tags ([`DiskInventory::tags`]).
pub fn record_block_devices(c: &mut DbConn, node_id: i64, disks: &[DiskInventory]) -> Result<Vec<BlockDevice>> {
    db::storage::delete_all(c, node_id)?;
    let mut out = Vec::new();
    for d in disks {
        if d.name.trim().is_empty()
            || !(MIN_BLOCK_DEVICE_SIZE..=MAX_BLOCK_DEVICE_SIZE).contains(&d.size)
            || d.block_size < 512
        {
            return Err(Error::BadRequest(format!("Invalid disk in the commissioning inventory: '{}'.", d.name)));
        }
        out.push(db::storage::insert_device(
            c,
            &NewBlockDevice {
                node_id,
                name: d.name.clone(),
                dev_type: PHYSICAL.into(),
                id_path: d.id_path.clone(),
                model: d.model.clone(),
                serial: d.serial.clone(),
                firmware_version: d.firmware_version.clone(),
                size: d.size,
                block_size: d.block_size,
                tags: engine::string_list_json(&d.tags()),
                uuid: None,
                storage_pool: None,
                numa_node: 0,
                is_boot_disk: false,
                partition_table_type: None,
                volume_group_id: None,
                created_at: db::now(),
            },
        )?);
    }
    Ok(out)
}

/// `POST blockdevices/`: a physical block device.
#[derive(Debug, Clone, Default)]
pub struct NewDeviceInput {
    pub name: Option<String>,
    pub size: Option<i64>,
    pub block_size: Option<i64>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub id_path: Option<String>,
}

pub(crate) fn check_sizes(errors: &mut FieldErrors, size: Option<i64>, block_size: Option<i64>) {
    if let Some(s) = size {
        if s < MIN_BLOCK_DEVICE_SIZE {
            errors.insert(
                "size".into(),
                vec![format!("Ensure this value is greater than or equal to {MIN_BLOCK_DEVICE_SIZE}.")],
            );
        } else if s > MAX_BLOCK_DEVICE_SIZE {
            errors.insert(
                "size".into(),
                vec![format!("Ensure this value is less than or equal to {MAX_BLOCK_DEVICE_SIZE}.")],
            );
        }
    }
    if let Some(b) = block_size {
        if b < 512 {
            errors.insert("block_size".into(), vec!["Ensure this value is greater than or equal to 512.".into()]);
        }
    }
}

pub fn create_device(c: &mut DbConn, user: &User, n: &Node, input: NewDeviceInput) -> Result<i64> {
    if n.node_type != NodeType::Machine {
        return Err(Error::NotFound("Machine"));
    }
    engine::access::require_admin(user, n)?;
    let mut errors = FieldErrors::new();
    for (field, v) in
        [("name", input.name.is_none()), ("size", input.size.is_none()), ("block_size", input.block_size.is_none())]
    {
        if v {
            errors.insert(field.into(), vec!["This field is required.".into()]);
        }
    }
    check_sizes(&mut errors, input.size, input.block_size);
    if input.id_path.is_none() && (input.model.is_none() || input.serial.is_none()) {
        errors.insert("__all__".into(), vec!["serial/model are required if id_path is not provided.".into()]);
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let d = db::storage::insert_device(
        c,
        &NewBlockDevice {
            node_id: n.id,
            name: input.name.unwrap_or_default(),
            dev_type: PHYSICAL.into(),
            id_path: input.id_path,
            model: input.model,
            serial: input.serial,
            firmware_version: None,
            size: input.size.unwrap_or_default(),
            block_size: input.block_size.unwrap_or_default(),
            tags: "[]".into(),
            uuid: None,
            storage_pool: None,
            numa_node: 0,
            is_boot_disk: false,
            partition_table_type: None,
            volume_group_id: None,
            created_at: db::now(),
        },
    )?;
    Ok(d.id)
}

/// `PUT blockdevices/{id}/`.
#[derive(Debug, Clone, Default)]
pub struct DeviceUpdate {
    pub name: Option<String>,
    pub size: Option<i64>,
    pub block_size: Option<i64>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub id_path: Option<String>,
    pub uuid: Option<String>,
}

pub fn update_device(c: &mut DbConn, user: &User, n: &Node, id: i64, u: DeviceUpdate) -> Result<()> {
    let st = db::storage::load_node(c, n.id)?;
    let s = Storage::new(n, &st);
    let d = device_of(&s, id)?;
    let physical = d.dev_type == PHYSICAL;
    check_change(user, n, "update", "block device", if physical { Need::Admin } else { Need::Edit })?;
    let mut errors = FieldErrors::new();
    check_sizes(&mut errors, u.size, u.block_size);
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    if u.size.is_some_and(|sz| sz != d.size) && !s.device_unused(d) {
        return Err(Error::BadRequest("Cannot resize a block device that is in use.".into()));
    }
    let mut ch = BlockDeviceChanges::default();
    if physical {
        ch.name = u.name.filter(|v| !v.trim().is_empty());
        ch.size = u.size;
        ch.block_size = u.block_size;
        ch.model = u.model.map(Some);
        ch.serial = u.serial.map(Some);
        ch.id_path = u.id_path.map(Some);
    } else {
        if let Some(vg) = d.volume_group_id.and_then(|v| s.volume_group(v)) {
            if let Some(name) = u.name.filter(|v| !v.trim().is_empty()) {
                ch.name = Some(format!("{}-{name}", vg.name));
            }
            if let Some(size) = u.size {
                let size = round_down(size, LVM_PE_SIZE);
                let max = s.vg_available(vg) + d.size;
                if size > max {
                    return Err(Error::field("size", format!("Size is too large. Maximum size is {max}.")));
                }
                ch.size = Some(size);
            }
        } else if let Some(g) = s.group_of_device(d) {
            if u.size.is_some_and(|sz| sz != d.size) {
                return Err(Error::BadRequest(format!(
                    "Cannot resize the device of {}; its size follows its members.",
                    part_of(g)
                )));
            }
            ch.name = u.name.filter(|v| !v.trim().is_empty());
        } else {
            ch.name = u.name.filter(|v| !v.trim().is_empty());
            ch.size = u.size;
        }
        if let Some(v) = u.uuid {
            ch.uuid = Some(Some(check_uuid("uuid", &v)?));
        }
    }
    db::storage::update_device(c, id, &ch)
}

pub fn delete_device(c: &mut DbConn, user: &User, n: &Node, id: i64) -> Result<()> {
    let st = db::storage::load_node(c, n.id)?;
    let s = Storage::new(n, &st);
    let d = device_of(&s, id)?;
    let need = if d.dev_type == PHYSICAL { Need::Admin } else { Need::Edit };
    check_change(user, n, "delete", "block device", need)?;
    let group = s
        .group_of(Target::Device(d.id))
        .or_else(|| s.partitions_of(d.id).find_map(|p| s.group_of(Target::Partition(p.id))));
    if let Some(g) = group {
        return Err(Error::BadRequest(format!("Cannot delete block device because its part of {}.", part_of(g))));
    }
    // A RAID's or bcache's device goes with its group, as MAAS deletes it.
    if let Some(g) = s.group_of_device(d).filter(|g| g.group_type != LVM_VG) {
        return engine::storage::groups::delete_group(c, n, &st, g.id);
    }
    db::storage::delete_device(c, id)
}

pub fn set_boot_disk(c: &mut DbConn, user: &User, n: &Node, id: i64) -> Result<()> {
    let st = db::storage::load_node(c, n.id)?;
    let d = device_of(&Storage::new(n, &st), id)?;
    check_change(user, n, "set boot disk on", "block device", Need::Admin)?;
    if d.dev_type != PHYSICAL {
        return Err(Error::BadRequest(format!("Cannot set a {} block device as the boot disk.", d.dev_type)));
    }
    db::storage::set_boot_disk(c, n.id, id)
}

pub fn tag_device(c: &mut DbConn, user: &User, n: &Node, id: i64, tag: &str, add: bool) -> Result<()> {
    let st = db::storage::load_node(c, n.id)?;
    let d = device_of(&Storage::new(n, &st), id)?;
    check_change(user, n, if add { "add tag to" } else { "remove tag from" }, "block device", Need::Admin)?;
    let tags = edit_tags(&d.tags, tag, add)?;
    db::storage::update_device(c, id, &BlockDeviceChanges { tags: Some(tags), ..Default::default() })
}

pub fn tag_partition(
    c: &mut DbConn,
    user: &User,
    n: &Node,
    device_id: i64,
    id: i64,
    tag: &str,
    add: bool,
) -> Result<()> {
    let st = db::storage::load_node(c, n.id)?;
    let p = partition_of(&st, device_id, id)?;
    check_change(user, n, if add { "add tag to" } else { "remove tag from" }, "partition", Need::Edit)?;
    let tags = edit_tags(&p.tags, tag, add)?;
    db::storage::set_partition_tags(c, id, &tags)
}
