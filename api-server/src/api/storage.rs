//! Machine storage: `nodes/{system_id}/blockdevices/…`, `…/partitions/`,
//! `…/partition/{id}` (MAAS's singular form, no trailing slash; MAAS also
//! answers at `…/partitions/{id}`), `nodes/{system_id}/volume-groups/`,
//! `…/volume-group/{id}/` (and `…/volume-groups/{id}/`), the
//! `set_storage_layout` machine op, and the JSON shapes of block devices,
//! partitions, filesystems and volume groups (`maas-api.md` §7.4, §10.11).

use serde_json::Value;

use crate::api;
use crate::api::support::{alias, change, change_empty, ids, int_param, path_id, read_with, size_param, text};
use crate::api::views::storage::{
    render_device, render_partition, render_vg, to_json, BlockDeviceView, PartitionView, VolumeGroupView,
};
use crate::db;
use crate::engine;
use crate::engine::storage::bcache::BcacheLayout;
use crate::engine::storage::devices::{DeviceUpdate, NewDeviceInput};
use crate::engine::storage::filesystems::{FormatInput, MountInput};
use crate::engine::storage::layouts::LayoutInput;
use crate::engine::storage::lvm::{LogicalVolumeInput, VolumeGroupInput};
use crate::engine::storage::model::{SizeSpec, Target};
use crate::engine::storage::partitions::PartitionInput;
use crate::error::{Error, Result};
use crate::handler_fn;
use crate::http::params::Params;
use crate::http::registry::{optional, required, Access, Action, Handler, HandlerFn, Method, ParamDoc, Returns};
use crate::http::reply::Reply;
use crate::http::Ctx;

// ---- JSON shapes ---------------------------------------------------------------

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
    // Storage's action on the machine handler (merged by the registry).
    hs.push(
        Handler::new("MachineHandler", "machines/{system_id}/", Access::Authenticated, "Manage an individual machine")
            .action(set_storage_layout_action()),
    );
    hs
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
    change(ctx, move |c, u, n| engine::storage::devices::create_device(c, u, n, input), render_device).await
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
    change(ctx, move |c, user, n| engine::storage::devices::update_device(c, user, n, id, u).map(|_| id), render_device)
        .await
}

async fn delete_device(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "BlockDevice")?;
    change_empty(ctx, move |c, u, n| engine::storage::devices::delete_device(c, u, n, id)).await
}

async fn set_boot_disk(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "BlockDevice")?;
    change(
        ctx,
        move |c, u, n| engine::storage::devices::set_boot_disk(c, u, n, id).map(|_| id),
        |_, _| Ok(Value::Null),
    )
    .await?;
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
    change(
        ctx,
        move |c, u, n| engine::storage::filesystems::format(c, u, n, Target::Device(id), id, input).map(|_| id),
        render_device,
    )
    .await
}

async fn unformat_device(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "BlockDevice")?;
    change(
        ctx,
        move |c, u, n| engine::storage::filesystems::unformat(c, u, n, Target::Device(id), id).map(|_| id),
        render_device,
    )
    .await
}

async fn mount_device(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "BlockDevice")?;
    let input = mount_input(&ctx.params);
    change(
        ctx,
        move |c, u, n| engine::storage::filesystems::mount(c, u, n, Target::Device(id), id, input).map(|_| id),
        render_device,
    )
    .await
}

async fn unmount_device(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "BlockDevice")?;
    change(
        ctx,
        move |c, u, n| engine::storage::filesystems::unmount(c, u, n, Target::Device(id), id).map(|_| id),
        render_device,
    )
    .await
}

async fn tag_device(ctx: Ctx, add: bool) -> Result<Reply> {
    let id = path_id(&ctx, "id", "BlockDevice")?;
    let tag = ctx.params.required("tag")?.to_string();
    change(ctx, move |c, u, n| engine::storage::devices::tag_device(c, u, n, id, &tag, add).map(|_| id), render_device)
        .await
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
    change(
        ctx,
        move |c, u, n| engine::storage::partitions::create_partition(c, u, n, device_id, input),
        render_partition,
    )
    .await
}

/// The URL's device and partition ids.
fn partition_ids(ctx: &Ctx) -> Result<(i64, i64)> {
    Ok((path_id(ctx, "device_id", "BlockDevice")?, path_id(ctx, "id", "Partition")?))
}

async fn read_partition(ctx: Ctx) -> Result<Reply> {
    let (device_id, id) = partition_ids(&ctx)?;
    read_with(ctx, move |s| {
        let p = engine::storage::model::partition_of(s.st, device_id, id)?;
        Ok(to_json(PartitionView::new(s, p)))
    })
    .await
}

async fn delete_partition(ctx: Ctx) -> Result<Reply> {
    let (device_id, id) = partition_ids(&ctx)?;
    change_empty(ctx, move |c, u, n| engine::storage::partitions::delete_partition(c, u, n, device_id, id)).await
}

async fn format_partition(ctx: Ctx) -> Result<Reply> {
    let (device_id, id) = partition_ids(&ctx)?;
    let input = format_input(&ctx.params);
    change(
        ctx,
        move |c, u, n| {
            engine::storage::filesystems::format(c, u, n, Target::Partition(id), device_id, input).map(|_| id)
        },
        render_partition,
    )
    .await
}

async fn unformat_partition(ctx: Ctx) -> Result<Reply> {
    let (device_id, id) = partition_ids(&ctx)?;
    change(
        ctx,
        move |c, u, n| engine::storage::filesystems::unformat(c, u, n, Target::Partition(id), device_id).map(|_| id),
        render_partition,
    )
    .await
}

async fn mount_partition(ctx: Ctx) -> Result<Reply> {
    let (device_id, id) = partition_ids(&ctx)?;
    let input = mount_input(&ctx.params);
    change(
        ctx,
        move |c, u, n| {
            engine::storage::filesystems::mount(c, u, n, Target::Partition(id), device_id, input).map(|_| id)
        },
        render_partition,
    )
    .await
}

async fn unmount_partition(ctx: Ctx) -> Result<Reply> {
    let (device_id, id) = partition_ids(&ctx)?;
    change(
        ctx,
        move |c, u, n| engine::storage::filesystems::unmount(c, u, n, Target::Partition(id), device_id).map(|_| id),
        render_partition,
    )
    .await
}

async fn tag_partition(ctx: Ctx, add: bool) -> Result<Reply> {
    let (device_id, id) = partition_ids(&ctx)?;
    let tag = ctx.params.required("tag")?.to_string();
    change(
        ctx,
        move |c, u, n| engine::storage::devices::tag_partition(c, u, n, device_id, id, &tag, add).map(|_| id),
        render_partition,
    )
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
        Ok(Value::Array(
            s.groups_of_type(engine::storage::model::LVM_VG).map(|v| to_json(VolumeGroupView::new(s, v))).collect(),
        ))
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
    change(ctx, move |c, u, n| engine::storage::lvm::create_volume_group(c, u, n, input), render_vg).await
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
    change(ctx, move |c, u, n| engine::storage::lvm::update_volume_group(c, u, n, id, input).map(|_| id), render_vg)
        .await
}

async fn delete_vg(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "VolumeGroup")?;
    change_empty(ctx, move |c, u, n| engine::storage::lvm::delete_volume_group(c, u, n, id)).await
}

async fn create_lv(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "VolumeGroup")?;
    let p = &ctx.params;
    let input = LogicalVolumeInput { name: text(p, "name"), size: size_param(p, "size")?, uuid: text(p, "uuid") };
    change(ctx, move |c, u, n| engine::storage::lvm::create_logical_volume(c, u, n, id, input), render_device).await
}

async fn delete_lv(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "VolumeGroup")?;
    let lv = int_param(&ctx.params, "id")?.ok_or_else(|| Error::required("id"))?;
    change_empty(ctx, move |c, u, n| engine::storage::lvm::delete_logical_volume(c, u, n, id, lv)).await
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
    api::support::with_machine(ctx, move |c, user, n| {
        engine::storage::layouts::set_storage_layout(c, user, &n, &input)?;
        db::nodes::by_system_id(c, &n.system_id)?.ok_or(Error::NotFound("Machine"))
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
