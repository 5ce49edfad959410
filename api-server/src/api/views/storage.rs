//! Block devices, partitions, filesystems, volume groups, RAIDs and bcaches, built from one machine's storage model.

use crate::api::views::resource_uri;
use crate::db::nodes::Node;
use crate::db::storage::{BlockDevice, Filesystem, NodeStorage, Partition, VolumeGroup};
use crate::engine;
use crate::engine::storage::model::{human_size, Member, Storage, Target};
use crate::error::{Error, Result};
use serde::Serialize;
use serde_json::Value;

#[derive(Serialize)]
pub struct FilesystemView<'a> {
    fstype: &'a str,
    label: &'a Option<String>,
    uuid: &'a str,
    mount_point: &'a Option<String>,
    mount_options: &'a Option<String>,
}

impl<'a> FilesystemView<'a> {
    pub fn new(f: &'a Filesystem) -> FilesystemView<'a> {
        FilesystemView {
            fstype: &f.fstype,
            label: &f.label,
            uuid: &f.uuid,
            mount_point: &f.mount_point,
            mount_options: &f.mount_options,
        }
    }
}

#[derive(Serialize)]
pub struct PartitionView<'a> {
    system_id: &'a str,
    device_id: i64,
    id: i64,
    uuid: &'a str,
    path: String,
    #[serde(rename = "type")]
    ptype: &'static str,
    size: i64,
    bootable: bool,
    tags: Vec<String>,
    used_for: String,
    filesystem: Option<FilesystemView<'a>>,
    resource_uri: String,
}

impl<'a> PartitionView<'a> {
    pub fn new(s: Storage<'a>, p: &'a Partition) -> PartitionView<'a> {
        let sid = s.node.system_id.as_str();
        PartitionView {
            system_id: sid,
            device_id: p.block_device_id,
            id: p.id,
            uuid: &p.uuid,
            path: s.partition_path(p),
            ptype: "partition",
            size: p.size,
            bootable: p.bootable,
            tags: serde_json::from_str(&p.tags).unwrap_or_default(),
            used_for: s.partition_used_for(p),
            filesystem: s.filesystem(Target::Partition(p.id)).map(FilesystemView::new),
            resource_uri: resource_uri(&format!("nodes/{sid}/blockdevices/{}/partition/{}", p.block_device_id, p.id)),
        }
    }
}

#[derive(Serialize)]
pub struct BlockDeviceView<'a> {
    system_id: &'a str,
    id: i64,
    name: &'a str,
    uuid: &'a Option<String>,
    #[serde(rename = "type")]
    dev_type: &'a str,
    path: String,
    model: &'a Option<String>,
    serial: &'a Option<String>,
    id_path: &'a Option<String>,
    size: i64,
    block_size: i64,
    available_size: i64,
    used_size: i64,
    used_for: String,
    tags: Vec<String>,
    filesystem: Option<FilesystemView<'a>>,
    partition_table_type: &'a Option<String>,
    partitions: Vec<PartitionView<'a>>,
    firmware_version: &'a Option<String>,
    storage_pool: &'a Option<String>,
    numa_node: Option<i32>,
    resource_uri: String,
}

impl<'a> BlockDeviceView<'a> {
    pub fn new(s: Storage<'a>, d: &'a BlockDevice) -> BlockDeviceView<'a> {
        let sid = s.node.system_id.as_str();
        let physical = d.dev_type == engine::storage::model::PHYSICAL;
        BlockDeviceView {
            system_id: sid,
            id: d.id,
            name: &d.name,
            uuid: &d.uuid,
            dev_type: &d.dev_type,
            path: s.device_path(d),
            model: &d.model,
            serial: &d.serial,
            id_path: &d.id_path,
            size: d.size,
            block_size: d.block_size,
            available_size: s.device_available_size(d),
            used_size: s.device_used_size(d),
            used_for: s.device_used_for(d),
            tags: s.device_tags(d),
            filesystem: s.filesystem(Target::Device(d.id)).map(FilesystemView::new),
            partition_table_type: &d.partition_table_type,
            partitions: s.partitions_of(d.id).map(|p| PartitionView::new(s, p)).collect(),
            firmware_version: &d.firmware_version,
            storage_pool: &d.storage_pool,
            numa_node: physical.then_some(d.numa_node),
            resource_uri: resource_uri(&format!("nodes/{sid}/blockdevices/{}/", d.id)),
        }
    }
}

#[derive(Serialize)]
#[serde(untagged)]
pub enum MemberView<'a> {
    Device(BlockDeviceView<'a>),
    Partition(PartitionView<'a>),
}

#[derive(Serialize)]
pub struct VolumeGroupView<'a> {
    system_id: &'a str,
    id: i64,
    name: &'a str,
    uuid: &'a str,
    devices: Vec<MemberView<'a>>,
    size: i64,
    human_size: String,
    available_size: i64,
    human_available_size: String,
    used_size: i64,
    human_used_size: String,
    logical_volumes: Vec<BlockDeviceView<'a>>,
    resource_uri: String,
}

impl<'a> VolumeGroupView<'a> {
    pub fn new(s: Storage<'a>, vg: &'a VolumeGroup) -> VolumeGroupView<'a> {
        let sid = s.node.system_id.as_str();
        let (size, used, avail) = (s.vg_size(vg), s.vg_used(vg), s.vg_available(vg));
        VolumeGroupView {
            system_id: sid,
            id: vg.id,
            name: &vg.name,
            uuid: &vg.uuid,
            devices: s
                .members(vg)
                .into_iter()
                .map(|m| match m {
                    Member::Device(d) => MemberView::Device(BlockDeviceView::new(s, d)),
                    Member::Partition(p) => MemberView::Partition(PartitionView::new(s, p)),
                })
                .collect(),
            size,
            human_size: human_size(size),
            available_size: avail,
            human_available_size: human_size(avail),
            used_size: used,
            human_used_size: human_size(used),
            logical_volumes: s.logical_volumes(vg).map(|d| BlockDeviceView::new(s, d)).collect(),
            resource_uri: resource_uri(&format!("nodes/{sid}/volume-group/{}/", vg.id)),
        }
    }
}

/// A `volume_groups` stub inside a machine (loaded on demand by clients).
#[derive(Serialize)]
pub struct StubView<'a> {
    system_id: &'a str,
    id: i64,
    __incomplete__: bool,
}

/// The storage fields of a machine.
pub struct MachineStorageView<'a> {
    pub boot_disk: Option<BlockDeviceView<'a>>,
    pub blockdevice_set: Vec<BlockDeviceView<'a>>,
    pub physicalblockdevice_set: Vec<BlockDeviceView<'a>>,
    pub virtualblockdevice_set: Vec<BlockDeviceView<'a>>,
    pub volume_groups: Vec<StubView<'a>>,
    pub raids: Vec<StubView<'a>>,
    pub bcaches: Vec<StubView<'a>>,
    pub cache_sets: Vec<StubView<'a>>,
    /// Total physical disk size, MB (10^6 bytes).
    pub storage: f64,
}

impl<'a> MachineStorageView<'a> {
    pub fn new(n: &'a Node, st: Option<&'a NodeStorage>) -> MachineStorageView<'a> {
        let s = Storage::new(n, st.unwrap_or(&NO_STORAGE));
        MachineStorageView {
            boot_disk: s.boot_disk().map(|d| BlockDeviceView::new(s, d)),
            blockdevice_set: s.st.devices.iter().map(|d| BlockDeviceView::new(s, d)).collect(),
            physicalblockdevice_set: s.physical().map(|d| BlockDeviceView::new(s, d)).collect(),
            virtualblockdevice_set: s.virtual_devices().map(|d| BlockDeviceView::new(s, d)).collect(),
            volume_groups: stubs(s, engine::storage::model::LVM_VG),
            raids: stubs(s, "raid"),
            bcaches: stubs(s, engine::storage::model::BCACHE),
            cache_sets: stubs(s, engine::storage::model::CACHE_SET),
            storage: s.total_mb(),
        }
    }
}

pub(crate) fn stubs<'a>(s: Storage<'a>, kind: &'static str) -> Vec<StubView<'a>> {
    s.groups_of_type(kind).map(|g| StubView { system_id: &s.node.system_id, id: g.id, __incomplete__: true }).collect()
}

pub(crate) fn to_json(v: impl Serialize) -> Value {
    crate::api::views::to_value(v)
}

pub(crate) fn render_device(s: Storage<'_>, id: i64) -> Result<Value> {
    let d = s.device(id).ok_or(Error::NotFound("BlockDevice"))?;
    Ok(to_json(BlockDeviceView::new(s, d)))
}

pub(crate) fn render_partition(s: Storage<'_>, id: i64) -> Result<Value> {
    let p = s.partition(id).ok_or(Error::NotFound("Partition"))?;
    Ok(to_json(PartitionView::new(s, p)))
}

pub(crate) fn render_vg(s: Storage<'_>, id: i64) -> Result<Value> {
    let vg = s.volume_group(id).ok_or(Error::NotFound("VolumeGroup"))?;
    Ok(to_json(VolumeGroupView::new(s, vg)))
}

pub(crate) static NO_STORAGE: NodeStorage =
    NodeStorage { devices: Vec::new(), partitions: Vec::new(), filesystems: Vec::new(), volume_groups: Vec::new() };
