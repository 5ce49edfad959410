//! Queries of a node's storage: block devices (physical disks and virtual
//! devices such as LVM logical volumes, RAIDs and bcaches), partitions,
//! filesystems and filesystem groups (the `volume_groups` table: LVM volume
//! groups, RAIDs, bcaches and bcache cache sets, told apart by `group_type`).
//!
//! A node's storage is always read whole ([`NodeStorage`]): the rules that
//! compute free space, partition numbers and `used_for` need every row of it.
//! [`load_for_nodes`] reads the storage of any number of nodes in at most four
//! queries, so machine lists stay N+1-free.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{block_devices, filesystems, partitions, volume_groups};
use crate::db::{from_diesel, is_unique_violation, DbConn};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Queryable, Selectable, PartialEq)]
#[diesel(table_name = block_devices)]
pub struct BlockDevice {
    pub id: i64,
    pub node_id: i64,
    pub name: String,
    /// `physical` or `virtual`.
    pub dev_type: String,
    pub id_path: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub firmware_version: Option<String>,
    pub size: i64,
    pub block_size: i64,
    /// JSON array of strings.
    pub tags: String,
    pub uuid: Option<String>,
    pub storage_pool: Option<String>,
    pub numa_node: i32,
    pub is_boot_disk: bool,
    /// `GPT` or `MBR` once the device has a partition table.
    pub partition_table_type: Option<String>,
    /// For a logical volume: the volume group it belongs to.
    pub volume_group_id: Option<i64>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = block_devices)]
pub struct NewBlockDevice {
    pub node_id: i64,
    pub name: String,
    pub dev_type: String,
    pub id_path: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub firmware_version: Option<String>,
    pub size: i64,
    pub block_size: i64,
    pub tags: String,
    pub uuid: Option<String>,
    pub storage_pool: Option<String>,
    pub numa_node: i32,
    pub is_boot_disk: bool,
    pub partition_table_type: Option<String>,
    pub volume_group_id: Option<i64>,
    pub created_at: NaiveDateTime,
}

/// A partial update of a block device; `None` leaves a column alone.
#[derive(Debug, Clone, Default, PartialEq, AsChangeset)]
#[diesel(table_name = block_devices)]
pub struct BlockDeviceChanges {
    pub name: Option<String>,
    pub id_path: Option<Option<String>>,
    pub model: Option<Option<String>>,
    pub serial: Option<Option<String>>,
    pub size: Option<i64>,
    pub block_size: Option<i64>,
    pub tags: Option<String>,
    pub uuid: Option<Option<String>>,
    pub is_boot_disk: Option<bool>,
    pub partition_table_type: Option<Option<String>>,
}

#[derive(Debug, Clone, Queryable, Selectable, PartialEq)]
#[diesel(table_name = partitions)]
pub struct Partition {
    pub id: i64,
    pub node_id: i64,
    pub block_device_id: i64,
    pub uuid: String,
    pub size: i64,
    pub bootable: bool,
    /// JSON array of strings.
    pub tags: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = partitions)]
pub struct NewPartition {
    pub node_id: i64,
    pub block_device_id: i64,
    pub uuid: String,
    pub size: i64,
    pub bootable: bool,
    pub tags: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, PartialEq)]
#[diesel(table_name = filesystems)]
pub struct Filesystem {
    pub id: i64,
    pub node_id: i64,
    pub block_device_id: Option<i64>,
    pub partition_id: Option<i64>,
    pub fstype: String,
    pub uuid: String,
    pub label: Option<String>,
    pub mount_point: Option<String>,
    pub mount_options: Option<String>,
    /// For a group member (`lvm-pv`, `raid`, `raid-spare`, `bcache-backing`,
    /// `bcache-cache`): its group.
    pub volume_group_id: Option<i64>,
    pub created_at: NaiveDateTime,
    /// Made by the owner of an Allocated machine; release deletes it.
    pub acquired: bool,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = filesystems)]
pub struct NewFilesystem {
    pub node_id: i64,
    pub block_device_id: Option<i64>,
    pub partition_id: Option<i64>,
    pub fstype: String,
    pub uuid: String,
    pub label: Option<String>,
    pub mount_point: Option<String>,
    pub mount_options: Option<String>,
    pub volume_group_id: Option<i64>,
    pub created_at: NaiveDateTime,
    pub acquired: bool,
}

#[derive(Debug, Clone, Queryable, Selectable, PartialEq)]
#[diesel(table_name = volume_groups)]
pub struct VolumeGroup {
    pub id: i64,
    pub node_id: i64,
    pub name: String,
    pub uuid: String,
    pub created_at: NaiveDateTime,
    /// `lvm-vg`, `raid-0`, `raid-1`, `raid-5`, `raid-6`, `raid-10`, `bcache`
    /// or `cache-set`.
    pub group_type: String,
    /// For a bcache: `writeback`, `writethrough` or `writearound`.
    pub cache_mode: Option<String>,
    /// For a bcache: its cache set (a `cache-set` row of this table).
    pub cache_set_id: Option<i64>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = volume_groups)]
pub struct NewVolumeGroup {
    pub node_id: i64,
    pub name: String,
    pub uuid: String,
    pub created_at: NaiveDateTime,
    pub group_type: String,
    pub cache_mode: Option<String>,
    pub cache_set_id: Option<i64>,
}

/// A partial update of a filesystem group; `None` leaves a column alone.
#[derive(Debug, Clone, Default, PartialEq, AsChangeset)]
#[diesel(table_name = volume_groups)]
pub struct GroupChanges {
    pub name: Option<String>,
    pub uuid: Option<String>,
    pub cache_mode: Option<Option<String>>,
    pub cache_set_id: Option<Option<i64>>,
}

/// Every storage row of one node, each list ordered by id.
#[derive(Debug, Clone, Default)]
pub struct NodeStorage {
    pub devices: Vec<BlockDevice>,
    pub partitions: Vec<Partition>,
    pub filesystems: Vec<Filesystem>,
    pub volume_groups: Vec<VolumeGroup>,
}

/// Bound parameters per `IN (…)`, as in `db::nodes`.
const CHUNK: usize = 30_000;

/// The storage of every node in `node_ids`: four queries per chunk of
/// nodes (one when none of them has a block device).
pub fn load_for_nodes(c: &mut DbConn, node_ids: &[i64]) -> Result<HashMap<i64, NodeStorage>> {
    let mut out: HashMap<i64, NodeStorage> = HashMap::new();
    for ids in node_ids.chunks(CHUNK) {
        let devices: Vec<BlockDevice> = block_devices::table
            .filter(block_devices::node_id.eq_any(ids))
            .order(block_devices::id)
            .select(BlockDevice::as_select())
            .load(c)
            .map_err(from_diesel)?;
        if devices.is_empty() {
            continue;
        }
        for d in devices {
            out.entry(d.node_id).or_default().devices.push(d);
        }
        let parts: Vec<Partition> = partitions::table
            .filter(partitions::node_id.eq_any(ids))
            .order(partitions::id)
            .select(Partition::as_select())
            .load(c)
            .map_err(from_diesel)?;
        for p in parts {
            out.entry(p.node_id).or_default().partitions.push(p);
        }
        let fss: Vec<Filesystem> = filesystems::table
            .filter(filesystems::node_id.eq_any(ids))
            .order(filesystems::id)
            .select(Filesystem::as_select())
            .load(c)
            .map_err(from_diesel)?;
        for f in fss {
            out.entry(f.node_id).or_default().filesystems.push(f);
        }
        let vgs: Vec<VolumeGroup> = volume_groups::table
            .filter(volume_groups::node_id.eq_any(ids))
            .order(volume_groups::id)
            .select(VolumeGroup::as_select())
            .load(c)
            .map_err(from_diesel)?;
        for v in vgs {
            out.entry(v.node_id).or_default().volume_groups.push(v);
        }
    }
    Ok(out)
}

/// The storage of one node.
pub fn load_node(c: &mut DbConn, node_id: i64) -> Result<NodeStorage> {
    Ok(load_for_nodes(c, &[node_id])?.remove(&node_id).unwrap_or_default())
}

fn name_taken(e: &diesel::result::Error, name: &str) -> Option<Error> {
    is_unique_violation(e).then(|| Error::field("name", format!("A block device named '{name}' already exists.")))
}

pub fn insert_device(c: &mut DbConn, new: &NewBlockDevice) -> Result<BlockDevice> {
    let id: i64 = diesel::insert_into(block_devices::table)
        .values(new)
        .returning(block_devices::id)
        .get_result(c)
        .map_err(|e| name_taken(&e, &new.name).unwrap_or_else(|| from_diesel(e)))?;
    block_devices::table.find(id).select(BlockDevice::as_select()).first(c).map_err(from_diesel)
}

/// An empty change is no change (diesel refuses an empty `SET`).
pub fn update_device(c: &mut DbConn, id: i64, changes: &BlockDeviceChanges) -> Result<()> {
    if *changes == BlockDeviceChanges::default() {
        return Ok(());
    }
    diesel::update(block_devices::table.find(id))
        .set(changes)
        .execute(c)
        .map_err(|e| name_taken(&e, changes.name.as_deref().unwrap_or("")).unwrap_or_else(|| from_diesel(e)))?;
    Ok(())
}

/// Makes `id` the node's only boot disk.
pub fn set_boot_disk(c: &mut DbConn, node_id: i64, id: i64) -> Result<()> {
    diesel::update(block_devices::table.filter(block_devices::node_id.eq(node_id)))
        .set(block_devices::is_boot_disk.eq(block_devices::id.eq(id)))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(())
}

pub fn delete_device(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(block_devices::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

pub fn insert_partition(c: &mut DbConn, new: &NewPartition) -> Result<Partition> {
    let id: i64 = diesel::insert_into(partitions::table)
        .values(new)
        .returning(partitions::id)
        .get_result(c)
        .map_err(from_diesel)?;
    partitions::table.find(id).select(Partition::as_select()).first(c).map_err(from_diesel)
}

pub fn set_partition_tags(c: &mut DbConn, id: i64, tags: &str) -> Result<()> {
    diesel::update(partitions::table.find(id)).set(partitions::tags.eq(tags)).execute(c).map_err(from_diesel)?;
    Ok(())
}

pub fn delete_partition(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(partitions::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

pub fn insert_filesystem(c: &mut DbConn, new: &NewFilesystem) -> Result<Filesystem> {
    let id: i64 = diesel::insert_into(filesystems::table)
        .values(new)
        .returning(filesystems::id)
        .get_result(c)
        .map_err(from_diesel)?;
    filesystems::table.find(id).select(Filesystem::as_select()).first(c).map_err(from_diesel)
}

/// Sets (or, with `None`, clears) a filesystem's mount point and options.
pub fn set_mount(c: &mut DbConn, id: i64, mount_point: Option<&str>, mount_options: Option<&str>) -> Result<()> {
    diesel::update(filesystems::table.find(id))
        .set((filesystems::mount_point.eq(mount_point), filesystems::mount_options.eq(mount_options)))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(())
}

pub fn delete_filesystem(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(filesystems::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

/// The text for a group name already used on the node.
fn group_name_taken(group_type: &str, name: &str) -> Error {
    if group_type == "lvm-vg" {
        Error::field("name", format!("A volume group named '{name}' already exists."))
    } else {
        Error::field("name", format!("The name '{name}' is already used on this machine."))
    }
}

pub fn insert_volume_group(c: &mut DbConn, new: &NewVolumeGroup) -> Result<VolumeGroup> {
    let id: i64 =
        diesel::insert_into(volume_groups::table).values(new).returning(volume_groups::id).get_result(c).map_err(
            |e| {
                if is_unique_violation(&e) {
                    group_name_taken(&new.group_type, &new.name)
                } else {
                    from_diesel(e)
                }
            },
        )?;
    volume_groups::table.find(id).select(VolumeGroup::as_select()).first(c).map_err(from_diesel)
}

/// Changes a RAID's, bcache's or cache set's row.
pub fn update_group(c: &mut DbConn, id: i64, group_type: &str, changes: &GroupChanges) -> Result<()> {
    if *changes == GroupChanges::default() {
        return Ok(());
    }
    diesel::update(volume_groups::table.find(id)).set(changes).execute(c).map_err(|e| {
        if is_unique_violation(&e) {
            group_name_taken(group_type, changes.name.as_deref().unwrap_or(""))
        } else {
            from_diesel(e)
        }
    })?;
    Ok(())
}

/// Release: the filesystems the owner made on the Allocated machine go;
/// the layout made while it was Ready stays.
pub fn delete_acquired_filesystems(c: &mut DbConn, node_id: i64) -> Result<usize> {
    diesel::delete(filesystems::table.filter(filesystems::node_id.eq(node_id)).filter(filesystems::acquired.eq(true)))
        .execute(c)
        .map_err(from_diesel)
}

pub fn rename_volume_group(c: &mut DbConn, id: i64, name: &str, uuid: &str) -> Result<()> {
    diesel::update(volume_groups::table.find(id))
        .set((volume_groups::name.eq(name), volume_groups::uuid.eq(uuid)))
        .execute(c)
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::field("name", format!("A volume group named '{name}' already exists."))
            } else {
                from_diesel(e)
            }
        })?;
    Ok(())
}

/// Deletes a filesystem group; its virtual devices (logical volumes, the
/// RAID's or bcache's device) and its members' filesystems go with it
/// (foreign keys cascade), which frees the members.
pub fn delete_volume_group(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(volume_groups::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

/// Removes every storage configuration row of a node: volume groups (with
/// their logical volumes), filesystems, partitions and partition tables.
/// Physical block devices stay; virtual ones go.
pub fn clear_configuration(c: &mut DbConn, node_id: i64) -> Result<()> {
    diesel::delete(volume_groups::table.filter(volume_groups::node_id.eq(node_id))).execute(c).map_err(from_diesel)?;
    diesel::delete(filesystems::table.filter(filesystems::node_id.eq(node_id))).execute(c).map_err(from_diesel)?;
    diesel::delete(partitions::table.filter(partitions::node_id.eq(node_id))).execute(c).map_err(from_diesel)?;
    diesel::delete(
        block_devices::table.filter(block_devices::node_id.eq(node_id)).filter(block_devices::dev_type.ne("physical")),
    )
    .execute(c)
    .map_err(from_diesel)?;
    diesel::update(block_devices::table.filter(block_devices::node_id.eq(node_id)))
        .set(block_devices::partition_table_type.eq(None::<String>))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(())
}

/// Removes every storage row of a node, physical disks included.
pub fn delete_all(c: &mut DbConn, node_id: i64) -> Result<()> {
    clear_configuration(c, node_id)?;
    diesel::delete(block_devices::table.filter(block_devices::node_id.eq(node_id))).execute(c).map_err(from_diesel)?;
    Ok(())
}
