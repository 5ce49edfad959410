//! Storage layouts (`set_storage_layout`): flat, lvm, bcache, blank, and the default layout applied after commissioning.

use crate::db;
use crate::db::nodes::Node;
use crate::db::storage::{BlockDeviceChanges, NodeStorage, Partition};
use crate::db::users::User;
use crate::db::DbConn;
use crate::engine;
use crate::engine::lifecycle::{NodeType, Status};
use crate::engine::storage::lvm::make_logical_volume;
use crate::engine::storage::lvm::make_volume_group;
use crate::engine::storage::lvm::LogicalVolumeInput;
use crate::engine::storage::model::round_down;
use crate::engine::storage::model::SizeSpec;
use crate::engine::storage::model::Storage;
use crate::engine::storage::model::Target;
use crate::engine::storage::model::EFI_PARTITION_SIZE;
use crate::engine::storage::model::LAYOUTS;
use crate::engine::storage::model::MIN_BOOT_PARTITION_SIZE;
use crate::engine::storage::model::MIN_ROOT_PARTITION_SIZE;
use crate::engine::storage::model::PARTITION_ALIGNMENT_SIZE;
use crate::engine::storage::model::PARTITION_TABLE_EXTRA_SPACE;
use crate::engine::storage::model::PHYSICAL;
use crate::engine::storage::model::SUPPORTED_LAYOUTS;
use crate::engine::storage::partitions::add_partition;
use crate::engine::storage::partitions::PartitionInput;
use crate::engine::storage::rules::not_a_choice;
use crate::engine::storage::rules::rename_field;
use crate::error::{Error, Result};

/// `set_storage_layout` parameters.
#[derive(Debug, Clone, Default)]
pub struct LayoutInput {
    pub layout: String,
    pub boot_size: Option<SizeSpec>,
    pub root_size: Option<SizeSpec>,
    pub root_device: Option<String>,
    pub vg_name: Option<String>,
    pub lv_name: Option<String>,
    pub lv_size: Option<SizeSpec>,
    pub bcache: engine::storage::bcache::BcacheLayout,
}

/// `machines/{id}/?op=set_storage_layout`: administrators, Ready machines only.
pub fn set_storage_layout(c: &mut DbConn, user: &User, n: &Node, input: &LayoutInput) -> Result<()> {
    if n.node_type != NodeType::Machine {
        return Err(Error::NotFound("Machine"));
    }
    engine::access::require_admin(user, n)?;
    if n.status != Status::Ready {
        return Err(Error::Conflict("Cannot change the storage layout on a machine that is not Ready.".into()));
    }
    apply_layout(c, n, input)
}

/// Applies a layout, replacing the machine's storage configuration (its
/// physical disks stay). No permission checks: commissioning calls it too.
pub fn apply_layout(c: &mut DbConn, n: &Node, input: &LayoutInput) -> Result<()> {
    let layout = input.layout.as_str();
    if !LAYOUTS.contains(&layout) {
        return Err(Error::field(
            "storage_layout",
            format!("Select a valid choice. {layout} is not one of the available choices."),
        ));
    }
    if !SUPPORTED_LAYOUTS.contains(&layout) {
        return Err(Error::field(
            "storage_layout",
            format!("Ironpool does not support the '{layout}' storage layout."),
        ));
    }
    let mut st = db::storage::load_node(c, n.id)?;
    let s = Storage::new(n, &st);
    let boot = s
        .boot_disk()
        .cloned()
        .ok_or_else(|| Error::BadRequest("Machine is missing a boot disk; no storage layout can be applied.".into()))?;
    let root_disk = match &input.root_device {
        None => boot.clone(),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(|id| s.physical().find(|d| d.id == id))
            .cloned()
            .ok_or_else(|| not_a_choice("root_device", v))?,
    };
    // bcache needs a cache device besides the boot and root disks; without
    // one the machine gets the flat layout, as MAAS falls back.
    let cache_device = if layout == "bcache" {
        engine::storage::bcache::layout_cache_device(&s, &[boot.id, root_disk.id], &input.bcache)?
    } else {
        None
    };
    let layout = if layout == "bcache" && cache_device.is_none() { "flat" } else { layout };
    let boot_size = input.boot_size.map(|b| b.of(boot.size)).unwrap_or(0);
    if input.boot_size.is_some() {
        if boot_size < MIN_BOOT_PARTITION_SIZE {
            return Err(Error::field(
                "boot_size",
                format!("Size is too small. Minimum size is {MIN_BOOT_PARTITION_SIZE}."),
            ));
        }
        let max = boot.size - MIN_ROOT_PARTITION_SIZE;
        if boot_size > max {
            return Err(Error::field("boot_size", format!("Size is too large. Maximum size is {}.", max.max(0))));
        }
    }
    let root_size = input.root_size.map(|r| r.of(boot.size));
    if let Some(r) = root_size {
        if r < MIN_ROOT_PARTITION_SIZE {
            return Err(Error::field(
                "root_size",
                format!("Size is too small. Minimum size is {MIN_ROOT_PARTITION_SIZE}."),
            ));
        }
    }
    db::storage::clear_configuration(c, n.id)?;
    st = db::storage::load_node(c, n.id)?;
    if layout == "blank" {
        return Ok(());
    }
    // Boot partitions: the EFI system partition on UEFI machines, /boot if asked.
    let boot_fs =
        |c: &mut DbConn, st: &mut NodeStorage, p: &Partition, fstype: &str, label: &str, mp: &str| -> Result<()> {
            let f =
                db::storage::insert_filesystem(c, &Target::Partition(p.id).layout_filesystem(n.id, fstype, label, mp))?;
            st.filesystems.push(f);
            Ok(())
        };
    if Storage::new(n, &st).uefi() {
        let p = add_partition(
            c,
            n,
            &mut st,
            boot.id,
            PartitionInput { size: Some(EFI_PARTITION_SIZE), uuid: None, bootable: true },
        )?;
        boot_fs(c, &mut st, &p, "fat32", "efi", "/boot/efi")?;
    } else {
        // The boot disk gets its partition table even when root goes elsewhere.
        let t = Storage::new(n, &st).new_table_type(&boot).to_string();
        db::storage::update_device(
            c,
            boot.id,
            &BlockDeviceChanges { partition_table_type: Some(Some(t.clone())), ..Default::default() },
        )?;
        if let Some(d) = st.devices.iter_mut().find(|d| d.id == boot.id) {
            d.partition_table_type = Some(t);
        }
    }
    if boot_size > 0 {
        let p = add_partition(
            c,
            n,
            &mut st,
            boot.id,
            PartitionInput { size: Some(boot_size), uuid: None, bootable: false },
        )?;
        boot_fs(c, &mut st, &p, "ext4", "boot", "/boot")?;
    }
    let available = {
        let s = Storage::new(n, &st);
        let d = s.device(root_disk.id).ok_or(Error::NotFound("BlockDevice"))?;
        if d.partition_table_type.is_some() {
            s.partition_space(d)
        } else {
            round_down(d.size - PARTITION_TABLE_EXTRA_SPACE, PARTITION_ALIGNMENT_SIZE)
        }
    };
    if let Some(r) = root_size {
        if round_down(r, PARTITION_ALIGNMENT_SIZE) > available {
            return Err(Error::field("root_size", format!("Size is too large. Maximum size is {available}.")));
        }
    }
    let root =
        add_partition(c, n, &mut st, root_disk.id, PartitionInput { size: root_size, uuid: None, bootable: false })
            .map_err(|e| layout_error(layout, e))?;
    match (layout, cache_device) {
        ("flat", _) => boot_fs(c, &mut st, &root, "ext4", "root", "/"),
        ("bcache", Some(cache)) => engine::storage::bcache::apply_bcache_root(c, n, root.id, cache, &input.bcache)
            .map_err(|e| layout_error(layout, e)),
        _ => {
            let vg_name = input.vg_name.clone().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| "vgroot".into());
            let lv_name = input.lv_name.clone().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| "lvroot".into());
            let vg = make_volume_group(c, n, &mut st, &vg_name, None, &[Target::Partition(root.id)])
                .map_err(|e| rename_field(e, "name", "vg_name"))?;
            let size = input.lv_size.map(|l| l.of(Storage::new(n, &st).vg_size(&vg)));
            let lv =
                make_logical_volume(c, n, &mut st, &vg, LogicalVolumeInput { name: Some(lv_name), size, uuid: None })
                    .map_err(|e| rename_field(rename_field(e, "size", "lv_size"), "name", "lv_name"))?;
            db::storage::insert_filesystem(c, &Target::Device(lv.id).layout_filesystem(n.id, "ext4", "root", "/"))?;
            Ok(())
        }
    }
}

pub(crate) fn layout_error(layout: &str, e: Error) -> Error {
    match e {
        Error::Validation(m) => {
            let text: Vec<String> = m.values().flatten().cloned().collect();
            Error::BadRequest(format!("Failed to configure storage layout '{layout}': {}", text.join(" ")))
        }
        other => other,
    }
}

/// Applies the configured `default_storage_layout` after commissioning. A
/// machine without disks is left alone; a layout that cannot be applied is
/// logged and leaves the machine without a storage configuration, as MAAS
/// does (commissioning still succeeds).
pub fn apply_default_layout(c: &mut DbConn, n: &Node) -> Result<()> {
    if db::storage::load_node(c, n.id)?.devices.iter().all(|d| d.dev_type != PHYSICAL) {
        return Ok(());
    }
    let configured = db::config::get(c, "default_storage_layout")?
        .and_then(|v| serde_json::from_str::<String>(&v).ok())
        .unwrap_or_else(|| "flat".into());
    // Layouts Ironpool lacks fall back to flat, as MAAS falls back when one fails.
    let layout = if SUPPORTED_LAYOUTS.contains(&configured.as_str()) { configured } else { "flat".into() };
    match apply_layout(c, n, &LayoutInput { layout, ..Default::default() }) {
        Ok(()) => Ok(()),
        Err(e @ (Error::BadRequest(_) | Error::Validation(_))) => {
            tracing::warn!(system_id = %n.system_id, error = %e, "default storage layout not applied");
            Ok(())
        }
        Err(e) => Err(e),
    }
}
