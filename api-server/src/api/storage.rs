//! Machine storage: `nodes/{system_id}/blockdevices/…`, `…/partitions/`,
//! `…/partition/{id}` (MAAS's singular form, no trailing slash; MAAS also
//! answers at `…/partitions/{id}`), `nodes/{system_id}/volume-groups/`,
//! `…/volume-group/{id}/` (and `…/volume-groups/{id}/`), the
//! `set_storage_layout` machine op, and the JSON shapes of block devices,
//! partitions, filesystems and volume groups (`maas-api.md` §7.4, §10.11).

use serde::Serialize;
use serde_json::Value;

use crate::api::resource_uri;
use crate::db::nodes::Node;
use crate::db::storage::{self as storage_db, BlockDevice, Filesystem, NodeStorage, Partition, VolumeGroup};
use crate::db::users::User;
use crate::db::DbConn;
use crate::engine::lifecycle::NodeType;
use crate::engine::nodes as nodes_engine;
use crate::engine::raid::BcacheLayout;
use crate::engine::storage::{
    self as engine, human_size, DeviceUpdate, FormatInput, LayoutInput, LogicalVolumeInput, Member, MountInput,
    NewDeviceInput, PartitionInput, SizeSpec, Storage, Target, VolumeGroupInput,
};
use crate::error::{Error, Result};
use crate::handler_fn;
use crate::http::params::Params;
use crate::http::registry::{optional, required, Access, Action, Handler, HandlerFn, Method, ParamDoc, Returns};
use crate::http::reply::Reply;
use crate::http::Ctx;

// ---- JSON shapes ---------------------------------------------------------------

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
        let physical = d.dev_type == engine::PHYSICAL;
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

static NO_STORAGE: NodeStorage =
    NodeStorage { devices: Vec::new(), partitions: Vec::new(), filesystems: Vec::new(), volume_groups: Vec::new() };

impl<'a> MachineStorageView<'a> {
    pub fn new(n: &'a Node, st: Option<&'a NodeStorage>) -> MachineStorageView<'a> {
        let s = Storage::new(n, st.unwrap_or(&NO_STORAGE));
        MachineStorageView {
            boot_disk: s.boot_disk().map(|d| BlockDeviceView::new(s, d)),
            blockdevice_set: s.st.devices.iter().map(|d| BlockDeviceView::new(s, d)).collect(),
            physicalblockdevice_set: s.physical().map(|d| BlockDeviceView::new(s, d)).collect(),
            virtualblockdevice_set: s.virtual_devices().map(|d| BlockDeviceView::new(s, d)).collect(),
            volume_groups: stubs(s, engine::LVM_VG),
            raids: stubs(s, "raid"),
            bcaches: stubs(s, engine::BCACHE),
            cache_sets: stubs(s, engine::CACHE_SET),
            storage: s.total_mb(),
        }
    }
}

pub(crate) fn stubs<'a>(s: Storage<'a>, kind: &'static str) -> Vec<StubView<'a>> {
    s.groups_of_type(kind).map(|g| StubView { system_id: &s.node.system_id, id: g.id, __incomplete__: true }).collect()
}

pub(crate) fn to_json(v: impl Serialize) -> Value {
    serde_json::to_value(v).expect("storage objects serialise")
}

// ---- the handler table -----------------------------------------------------------

/// The filesystem and tag ops block devices and partitions share:
/// `[format, unformat, mount, unmount, add_tag, remove_tag]`.
fn fs_ops(h: Handler, what: &'static str, run: [HandlerFn; 6]) -> Handler {
    let tag = [required("tag", "String", "The tag.")];
    let [format, unformat, mount, unmount, add_tag, remove_tag] = run;
    let format_title = if what == "partition" { "Format a partition" } else { "Format a block device" };
    let unformat_title = if what == "partition" { "Unformat a partition" } else { "Unformat a block device" };
    h.action(Action::new(Method::Post, Some("format"), format_title, format).params(&[
        required("fstype", "String", "ext2, ext4, xfs, fat32, vfat, btrfs, zfsroot or swap."),
        optional("uuid", "String", "UUID of the filesystem (generated when absent)."),
        optional("label", "String", "Label of the filesystem."),
    ]))
    .action(Action::new(Method::Post, Some("unformat"), unformat_title, unformat))
    .action(Action::new(Method::Post, Some("mount"), "Mount a filesystem", mount).params(&[
        required("mount_point", "String", "Absolute path (swap mounts at none)."),
        optional("mount_options", "String", "Options for mount(8)."),
    ]))
    .action(Action::new(Method::Post, Some("unmount"), "Unmount a filesystem", unmount))
    .action(Action::new(Method::Post, Some("add_tag"), "Add a tag", add_tag).params(&tag))
    .action(Action::new(Method::Post, Some("remove_tag"), "Remove a tag", remove_tag).params(&tag))
}

const STATE_RULE: &str =
    "Changes need a Ready or Allocated machine: administrators on either, the owner on an Allocated one.";

pub fn handlers() -> Vec<Handler> {
    let device_fields: [ParamDoc; 5] = [
        optional("size", "String", "Size in bytes (K, M, G, T suffixes)."),
        optional("block_size", "Int", "Block size in bytes."),
        optional("model", "String", "Model (physical devices)."),
        optional("serial", "String", "Serial number (physical devices)."),
        optional("id_path", "String", "Stable path, e.g. /dev/disk/by-id/…"),
    ];
    let mut update_params = vec![optional("name", "String", "Name.")];
    update_params.extend(device_fields);
    update_params.push(optional("uuid", "String", "UUID (virtual devices)."));
    let vg_members = [
        optional("block_devices", "String", "Block device ids (repeatable)."),
        optional("partitions", "String", "Partition ids (repeatable)."),
    ];
    let mut hs = vec![
        Handler::new("BlockDevicesHandler", "nodes/{system_id}/blockdevices/", Access::Authenticated, "Manage block devices on a machine")
            .action(Action::new(Method::Get, None, "List all block devices", handler_fn!(list_devices)))
            .action(
                Action::new(Method::Post, None, "Create a block device", handler_fn!(create_device))
                    .describe("Administrators only: adds a physical block device.")
                    .params(&[
                        required("name", "String", "Name, e.g. sdb."),
                        required("size", "String", "Size in bytes (K, M, G, T suffixes)."),
                        required("block_size", "Int", "Block size in bytes."),
                        optional("model", "String", "Model (required with serial unless id_path is given)."),
                        optional("serial", "String", "Serial number."),
                        optional("id_path", "String", "Stable path, e.g. /dev/disk/by-id/…"),
                    ]),
            ),
        fs_ops(
            Handler::new("BlockDeviceHandler", "nodes/{system_id}/blockdevices/{id}/", Access::Authenticated, "Manage a block device on a machine")
                .describe(STATE_RULE)
                .action(Action::new(Method::Get, None, "Read a block device", handler_fn!(read_device)))
                .action(Action::new(Method::Put, None, "Update a block device", handler_fn!(update_device)).params(&update_params))
                .action(Action::new(Method::Delete, None, "Delete a block device", handler_fn!(delete_device)))
                .action(
                    Action::new(Method::Post, Some("set_boot_disk"), "Set the boot disk", handler_fn!(set_boot_disk))
                        .returns(Returns::Text(200))
                        .describe("Administrators only; physical devices only."),
                ),
            "block device",
            [
                handler_fn!(format_device),
                handler_fn!(unformat_device),
                handler_fn!(mount_device),
                handler_fn!(unmount_device),
                handler_fn!(add_tag_device),
                handler_fn!(remove_tag_device),
            ],
        ),
        Handler::new("PartitionsHandler", "nodes/{system_id}/blockdevices/{device_id}/partitions/", Access::Authenticated, "Manage partitions on a block device")
            .action(Action::new(Method::Get, None, "List partitions", handler_fn!(list_partitions)))
            .action(
                Action::new(Method::Post, None, "Create a partition", handler_fn!(create_partition))
                    .describe("The first partition creates the partition table (GPT, or MBR on a BIOS machine's boot disk under 2 TiB). Sizes are aligned down to 4 MiB.")
                    .params(&[
                        optional("size", "String", "Size in bytes (K, M, G, T suffixes); all free space when absent."),
                        optional("uuid", "String", "UUID (generated when absent)."),
                        optional("bootable", "Boolean", "Mark the partition bootable."),
                    ]),
            ),
        fs_ops(
            Handler::new("PartitionHandler", "nodes/{system_id}/blockdevices/{device_id}/partition/{id}", Access::Authenticated, "Manage a partition")
                .describe(STATE_RULE)
                .action(Action::new(Method::Get, None, "Read a partition", handler_fn!(read_partition)))
                .action(Action::new(Method::Delete, None, "Delete a partition", handler_fn!(delete_partition))),
            "partition",
            [
                handler_fn!(format_partition),
                handler_fn!(unformat_partition),
                handler_fn!(mount_partition),
                handler_fn!(unmount_partition),
                handler_fn!(add_tag_partition),
                handler_fn!(remove_tag_partition),
            ],
        ),
        Handler::new("VolumeGroupsHandler", "nodes/{system_id}/volume-groups/", Access::Authenticated, "Manage volume groups on a machine")
            .action(Action::new(Method::Get, None, "List all volume groups", handler_fn!(list_vgs)))
            .action(
                Action::new(Method::Post, None, "Create a volume group", handler_fn!(create_vg)).params(&[
                    required("name", "String", "Name."),
                    optional("uuid", "String", "UUID (generated when absent)."),
                    vg_members[0],
                    vg_members[1],
                ]),
            ),
        Handler::new("VolumeGroupHandler", "nodes/{system_id}/volume-group/{id}/", Access::Authenticated, "Manage volume group on a machine")
            .describe(STATE_RULE)
            .action(Action::new(Method::Get, None, "Read a volume group", handler_fn!(read_vg)))
            .action(Action::new(Method::Put, None, "Update a volume group", handler_fn!(update_vg)).params(&[
                optional("name", "String", "Name."),
                optional("uuid", "String", "UUID."),
                optional("add_block_devices", "String", "Block device ids to add (repeatable)."),
                optional("remove_block_devices", "String", "Block device ids to remove (repeatable)."),
                optional("add_partitions", "String", "Partition ids to add (repeatable)."),
                optional("remove_partitions", "String", "Partition ids to remove (repeatable)."),
            ]))
            .action(Action::new(Method::Delete, None, "Delete volume group", handler_fn!(delete_vg)))
            .action(
                Action::new(Method::Post, Some("create_logical_volume"), "Create a logical volume", handler_fn!(create_lv)).params(&[
                    required("name", "String", "Name of the logical volume."),
                    optional("size", "String", "Size in bytes (K, M, G, T suffixes); all free space when absent."),
                    optional("uuid", "String", "UUID (generated when absent)."),
                ]),
            )
            .action(
                Action::new(Method::Post, Some("delete_logical_volume"), "Delete a logical volume", handler_fn!(delete_lv))
                    .returns(Returns::Nothing(204))
                    .params(&[required("id", "Int", "Id of the logical volume.")]),
            ),
    ];
    // MAAS serves the partition and volume group items under the plural
    // collection segment too (`partition[s]?`, `volume-group[s]?`).
    let partitions_alias = alias(
        &hs,
        "PartitionHandler",
        "PartitionAliasHandler",
        "nodes/{system_id}/blockdevices/{device_id}/partitions/{id}",
    );
    let vg_alias = alias(&hs, "VolumeGroupHandler", "VolumeGroupAliasHandler", "nodes/{system_id}/volume-groups/{id}/");
    hs.extend([partitions_alias, vg_alias]);
    hs
}

/// The handler `of` served at another URL as well, under its own name (the
/// handler table keeps names unique, as `describe/` lists each once).
pub(crate) fn alias(hs: &[Handler], of: &str, name: &'static str, path: &'static str) -> Handler {
    let h = hs.iter().find(|h| h.name == of).expect("aliased handler exists").clone();
    Handler { name, path, ..h }
}

/// `machines/{system_id}/?op=set_storage_layout`, added to MachineHandler.
pub fn set_storage_layout_action() -> Action {
    Action::new(Method::Post, Some("set_storage_layout"), "Change storage layout", handler_fn!(set_storage_layout))
        .describe("Administrators only, Ready machines only. Replaces the storage configuration with the layout; flat, lvm and bcache are supported (blank clears it). bcache falls back to flat when the machine has no cache device (an SSD besides the boot and root disks).")
        .params(&[
            required("storage_layout", "String", "flat, lvm, bcache or blank."),
            optional("boot_size", "String", "Size of a /boot partition (bytes, K/M/G/T suffix or %)."),
            optional("root_size", "String", "Size of the root partition (default: all remaining space)."),
            optional("root_device", "Int", "Physical block device id for the root partition (default: the boot disk)."),
            optional("vg_name", "String", "lvm: volume group name (default vgroot)."),
            optional("lv_name", "String", "lvm: logical volume name (default lvroot)."),
            optional("lv_size", "String", "lvm: logical volume size (default: the whole group)."),
            optional("cache_device", "Int", "bcache: physical block device id to cache with (default: the smallest SSD that is not the boot or root disk)."),
            optional("cache_mode", "String", "bcache: writeback, writethrough (default) or writearound."),
            optional("cache_size", "String", "bcache: size of the cache partition (default: the whole device)."),
            optional("cache_no_part", "Boolean", "bcache: use the whole cache device without a partition."),
        ])
}

// ---- helpers -------------------------------------------------------------------------

/// The URL's machine, visible to the caller.
pub(crate) fn machine(c: &mut DbConn, user: &User, sid: &str) -> Result<Node> {
    let n = nodes_engine::get_visible(c, user, sid, "Machine")?;
    if n.node_type != NodeType::Machine as i32 {
        return Err(Error::NotFound("Machine"));
    }
    Ok(n)
}

/// A numeric id from the URL; anything else names no object (404).
pub(crate) fn path_id(ctx: &Ctx, name: &str, model: &'static str) -> Result<i64> {
    ctx.path(name).parse().map_err(|_| Error::NotFound(model))
}

/// Reads the machine and its storage, then renders with `f`.
pub(crate) async fn read_with<F>(ctx: Ctx, f: F) -> Result<Reply>
where
    F: FnOnce(Storage<'_>) -> Result<Value> + Send + 'static,
{
    let user = ctx.user()?.clone();
    let sid = ctx.path("system_id").to_string();
    let v = ctx
        .db()
        .run(move |c| {
            let n = machine(c, &user, &sid)?;
            let st = storage_db::load_node(c, n.id)?;
            f(Storage::new(&n, &st))
        })
        .await?;
    Ok(Reply::Json(v))
}

/// Runs a change in one write transaction, then renders the result with
/// `render` from the storage as it is after the change.
pub(crate) async fn change<F, R>(ctx: Ctx, op: F, render: R) -> Result<Reply>
where
    F: FnOnce(&mut DbConn, &User, &Node) -> Result<i64> + Send + 'static,
    R: FnOnce(Storage<'_>, i64) -> Result<Value> + Send + 'static,
{
    let user = ctx.user()?.clone();
    let sid = ctx.path("system_id").to_string();
    let v = ctx
        .db()
        .write(move |c| {
            let n = machine(c, &user, &sid)?;
            let id = op(c, &user, &n)?;
            let st = storage_db::load_node(c, n.id)?;
            render(Storage::new(&n, &st), id)
        })
        .await?;
    Ok(Reply::Json(v))
}

/// A change with nothing to render (204).
pub(crate) async fn change_empty<F>(ctx: Ctx, op: F) -> Result<Reply>
where
    F: FnOnce(&mut DbConn, &User, &Node) -> Result<()> + Send + 'static,
{
    let user = ctx.user()?.clone();
    let sid = ctx.path("system_id").to_string();
    ctx.db()
        .write(move |c| {
            let n = machine(c, &user, &sid)?;
            op(c, &user, &n)
        })
        .await?;
    Ok(Reply::NoContent)
}

pub(crate) fn render_device(s: Storage<'_>, id: i64) -> Result<Value> {
    let d = s.device(id).ok_or(Error::NotFound("BlockDevice"))?;
    Ok(to_json(BlockDeviceView::new(s, d)))
}

pub(crate) fn render_partition(s: Storage<'_>, id: i64) -> Result<Value> {
    let p = s.partition(id).ok_or(Error::NotFound("Partition"))?;
    Ok(to_json(PartitionView::new(s, p)))
}

fn render_vg(s: Storage<'_>, id: i64) -> Result<Value> {
    let vg = s.volume_group(id).ok_or(Error::NotFound("VolumeGroup"))?;
    Ok(to_json(VolumeGroupView::new(s, vg)))
}

fn size_param(p: &Params, name: &str) -> Result<Option<i64>> {
    p.get_nonempty(name).map(|v| engine::parse_size(name, v)).transpose()
}

fn int_param(p: &Params, name: &str) -> Result<Option<i64>> {
    p.get_nonempty(name)
        .map(|v| v.parse::<i64>().map_err(|_| Error::field(name, format!("'{v}' is not a whole number."))))
        .transpose()
}

pub(crate) fn text(p: &Params, name: &str) -> Option<String> {
    p.get_nonempty(name).map(str::to_string)
}

/// Repeatable id lists; clients send `k=1&k=2` or `k=1,2`.
pub(crate) fn ids(p: &Params, name: &str) -> Vec<String> {
    p.get_all(name)
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(String::from)
        .collect()
}

// ---- block devices ---------------------------------------------------------------------

async fn list_devices(ctx: Ctx) -> Result<Reply> {
    read_with(ctx, |s| Ok(Value::Array(s.st.devices.iter().map(|d| to_json(BlockDeviceView::new(s, d))).collect())))
        .await
}

async fn read_device(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "BlockDevice")?;
    read_with(ctx, move |s| render_device(s, id)).await
}

async fn create_device(ctx: Ctx) -> Result<Reply> {
    let p = &ctx.params;
    let input = NewDeviceInput {
        name: text(p, "name"),
        size: size_param(p, "size")?,
        block_size: int_param(p, "block_size")?,
        model: text(p, "model"),
        serial: text(p, "serial"),
        id_path: text(p, "id_path"),
    };
    change(ctx, move |c, u, n| engine::create_device(c, u, n, input), render_device).await
}

async fn update_device(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "BlockDevice")?;
    let p = &ctx.params;
    let u = DeviceUpdate {
        name: text(p, "name"),
        size: size_param(p, "size")?,
        block_size: int_param(p, "block_size")?,
        model: p.get("model").map(str::to_string),
        serial: p.get("serial").map(str::to_string),
        id_path: p.get("id_path").map(str::to_string),
        uuid: text(p, "uuid"),
    };
    change(ctx, move |c, user, n| engine::update_device(c, user, n, id, u).map(|_| id), render_device).await
}

async fn delete_device(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "BlockDevice")?;
    change_empty(ctx, move |c, u, n| engine::delete_device(c, u, n, id)).await
}

async fn set_boot_disk(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "BlockDevice")?;
    change(ctx, move |c, u, n| engine::set_boot_disk(c, u, n, id).map(|_| id), |_, _| Ok(Value::Null)).await?;
    Ok(Reply::Text(actix_web::http::StatusCode::OK, "OK".into()))
}

fn format_input(p: &Params) -> FormatInput {
    FormatInput { fstype: text(p, "fstype"), uuid: text(p, "uuid"), label: p.get("label").map(str::to_string) }
}

fn mount_input(p: &Params) -> MountInput {
    MountInput { mount_point: text(p, "mount_point"), mount_options: p.get("mount_options").map(str::to_string) }
}

async fn format_device(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "BlockDevice")?;
    let input = format_input(&ctx.params);
    change(ctx, move |c, u, n| engine::format(c, u, n, Target::Device(id), id, input).map(|_| id), render_device).await
}

async fn unformat_device(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "BlockDevice")?;
    change(ctx, move |c, u, n| engine::unformat(c, u, n, Target::Device(id), id).map(|_| id), render_device).await
}

async fn mount_device(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "BlockDevice")?;
    let input = mount_input(&ctx.params);
    change(ctx, move |c, u, n| engine::mount(c, u, n, Target::Device(id), id, input).map(|_| id), render_device).await
}

async fn unmount_device(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "BlockDevice")?;
    change(ctx, move |c, u, n| engine::unmount(c, u, n, Target::Device(id), id).map(|_| id), render_device).await
}

async fn tag_device(ctx: Ctx, add: bool) -> Result<Reply> {
    let id = path_id(&ctx, "id", "BlockDevice")?;
    let tag = ctx.params.required("tag")?.to_string();
    change(ctx, move |c, u, n| engine::tag_device(c, u, n, id, &tag, add).map(|_| id), render_device).await
}

async fn add_tag_device(ctx: Ctx) -> Result<Reply> {
    tag_device(ctx, true).await
}

async fn remove_tag_device(ctx: Ctx) -> Result<Reply> {
    tag_device(ctx, false).await
}

// ---- partitions ------------------------------------------------------------------------

async fn list_partitions(ctx: Ctx) -> Result<Reply> {
    let device_id = path_id(&ctx, "device_id", "BlockDevice")?;
    read_with(ctx, move |s| {
        s.device(device_id).ok_or(Error::NotFound("BlockDevice"))?;
        Ok(Value::Array(s.partitions_of(device_id).map(|p| to_json(PartitionView::new(s, p))).collect()))
    })
    .await
}

async fn create_partition(ctx: Ctx) -> Result<Reply> {
    let device_id = path_id(&ctx, "device_id", "BlockDevice")?;
    let p = &ctx.params;
    let input = PartitionInput {
        size: size_param(p, "size")?,
        uuid: text(p, "uuid"),
        bootable: p.bool("bootable")?.unwrap_or(false),
    };
    change(ctx, move |c, u, n| engine::create_partition(c, u, n, device_id, input), render_partition).await
}

/// The URL's device and partition ids.
fn partition_ids(ctx: &Ctx) -> Result<(i64, i64)> {
    Ok((path_id(ctx, "device_id", "BlockDevice")?, path_id(ctx, "id", "Partition")?))
}

async fn read_partition(ctx: Ctx) -> Result<Reply> {
    let (device_id, id) = partition_ids(&ctx)?;
    read_with(ctx, move |s| {
        let p = engine::partition_of(s.st, device_id, id)?;
        Ok(to_json(PartitionView::new(s, p)))
    })
    .await
}

async fn delete_partition(ctx: Ctx) -> Result<Reply> {
    let (device_id, id) = partition_ids(&ctx)?;
    change_empty(ctx, move |c, u, n| engine::delete_partition(c, u, n, device_id, id)).await
}

async fn format_partition(ctx: Ctx) -> Result<Reply> {
    let (device_id, id) = partition_ids(&ctx)?;
    let input = format_input(&ctx.params);
    change(
        ctx,
        move |c, u, n| engine::format(c, u, n, Target::Partition(id), device_id, input).map(|_| id),
        render_partition,
    )
    .await
}

async fn unformat_partition(ctx: Ctx) -> Result<Reply> {
    let (device_id, id) = partition_ids(&ctx)?;
    change(
        ctx,
        move |c, u, n| engine::unformat(c, u, n, Target::Partition(id), device_id).map(|_| id),
        render_partition,
    )
    .await
}

async fn mount_partition(ctx: Ctx) -> Result<Reply> {
    let (device_id, id) = partition_ids(&ctx)?;
    let input = mount_input(&ctx.params);
    change(
        ctx,
        move |c, u, n| engine::mount(c, u, n, Target::Partition(id), device_id, input).map(|_| id),
        render_partition,
    )
    .await
}

async fn unmount_partition(ctx: Ctx) -> Result<Reply> {
    let (device_id, id) = partition_ids(&ctx)?;
    change(ctx, move |c, u, n| engine::unmount(c, u, n, Target::Partition(id), device_id).map(|_| id), render_partition)
        .await
}

async fn tag_partition(ctx: Ctx, add: bool) -> Result<Reply> {
    let (device_id, id) = partition_ids(&ctx)?;
    let tag = ctx.params.required("tag")?.to_string();
    change(ctx, move |c, u, n| engine::tag_partition(c, u, n, device_id, id, &tag, add).map(|_| id), render_partition)
        .await
}

async fn add_tag_partition(ctx: Ctx) -> Result<Reply> {
    tag_partition(ctx, true).await
}

async fn remove_tag_partition(ctx: Ctx) -> Result<Reply> {
    tag_partition(ctx, false).await
}

// ---- volume groups ---------------------------------------------------------------------

async fn list_vgs(ctx: Ctx) -> Result<Reply> {
    read_with(ctx, |s| {
        Ok(Value::Array(s.groups_of_type(engine::LVM_VG).map(|v| to_json(VolumeGroupView::new(s, v))).collect()))
    })
    .await
}

async fn read_vg(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "VolumeGroup")?;
    read_with(ctx, move |s| render_vg(s, id)).await
}

async fn create_vg(ctx: Ctx) -> Result<Reply> {
    let p = &ctx.params;
    let input = VolumeGroupInput {
        name: text(p, "name"),
        uuid: text(p, "uuid"),
        add_devices: ids(p, "block_devices"),
        add_partitions: ids(p, "partitions"),
        ..Default::default()
    };
    change(ctx, move |c, u, n| engine::create_volume_group(c, u, n, input), render_vg).await
}

async fn update_vg(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "VolumeGroup")?;
    let p = &ctx.params;
    let input = VolumeGroupInput {
        name: text(p, "name"),
        uuid: text(p, "uuid"),
        add_devices: ids(p, "add_block_devices"),
        add_partitions: ids(p, "add_partitions"),
        remove_devices: ids(p, "remove_block_devices"),
        remove_partitions: ids(p, "remove_partitions"),
    };
    change(ctx, move |c, u, n| engine::update_volume_group(c, u, n, id, input).map(|_| id), render_vg).await
}

async fn delete_vg(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "VolumeGroup")?;
    change_empty(ctx, move |c, u, n| engine::delete_volume_group(c, u, n, id)).await
}

async fn create_lv(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "VolumeGroup")?;
    let p = &ctx.params;
    let input = LogicalVolumeInput { name: text(p, "name"), size: size_param(p, "size")?, uuid: text(p, "uuid") };
    change(ctx, move |c, u, n| engine::create_logical_volume(c, u, n, id, input), render_device).await
}

async fn delete_lv(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "VolumeGroup")?;
    let lv = int_param(&ctx.params, "id")?.ok_or_else(|| Error::required("id"))?;
    change_empty(ctx, move |c, u, n| engine::delete_logical_volume(c, u, n, id, lv)).await
}

// ---- layouts ------------------------------------------------------------------------------

async fn set_storage_layout(ctx: Ctx) -> Result<Reply> {
    let p = &ctx.params;
    let spec = |name: &str| p.get_nonempty(name).map(|v| SizeSpec::parse(name, v)).transpose();
    let input = LayoutInput {
        layout: p.required("storage_layout")?.to_string(),
        boot_size: spec("boot_size")?,
        root_size: spec("root_size")?,
        root_device: text(p, "root_device"),
        vg_name: text(p, "vg_name"),
        lv_name: text(p, "lv_name"),
        lv_size: spec("lv_size")?,
        bcache: BcacheLayout {
            cache_device: text(p, "cache_device"),
            cache_mode: text(p, "cache_mode"),
            cache_size: spec("cache_size")?,
            cache_no_part: p.bool("cache_no_part")?.unwrap_or(false),
        },
    };
    super::machines::with_machine(ctx, move |c, user, n| {
        engine::set_storage_layout(c, user, &n, &input)?;
        crate::db::nodes::by_system_id(c, &n.system_id)?.ok_or(Error::NotFound("Machine"))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handlers_have_unique_names_and_paths() {
        let hs = handlers();
        let mut names: Vec<&str> = hs.iter().map(|h| h.name).collect();
        names.dedup();
        assert_eq!(names.len(), hs.len());
        assert!(hs.iter().any(|h| h.path == "nodes/{system_id}/blockdevices/{device_id}/partition/{id}"));
    }
}
