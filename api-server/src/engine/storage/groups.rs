//! Filesystem groups shared by RAID and bcache: naming, sizes, members, and `settle` (reload and check after a change).

use crate::db;
use crate::db::nodes::Node;
use crate::db::storage::{BlockDeviceChanges, NewBlockDevice, NewFilesystem, NewVolumeGroup, NodeStorage, VolumeGroup};
use crate::db::DbConn;
use crate::engine::storage::lvm::free_members;
use crate::engine::storage::model::check_uuid;
use crate::engine::storage::model::new_uuid;
use crate::engine::storage::model::part_of;
use crate::engine::storage::model::Member;
use crate::engine::storage::model::Storage;
use crate::engine::storage::model::Target;
use crate::engine::storage::model::MIN_BLOCK_DEVICE_SIZE;
use crate::engine::storage::model::RAID_ACTIVE;
use crate::engine::storage::model::RAID_SPARE;
use crate::engine::storage::model::VIRTUAL;
use crate::engine::storage::model::{BCACHE, CACHE_SET};
use crate::engine::storage::rules::not_a_choice;
use crate::error::{Error, Result};
use std::collections::HashSet;

pub const RAID_LEVELS: &[&str] = &["raid-0", "raid-1", "raid-5", "raid-6", "raid-10"];

pub const CACHE_MODES: &[&str] = &["writeback", "writethrough", "writearound"];

/// The most an md superblock takes from each member.
pub const RAID_SUPERBLOCK_OVERHEAD: i64 = 128 * 1024;

/// The fewest active members a level needs.
pub fn min_devices(level: &str) -> usize {
    match level {
        "raid-5" | "raid-10" => 3,
        "raid-6" => 4,
        _ => 2,
    }
}

/// A RAID's size from its smallest member and its active member count.
pub fn raid_size(level: &str, smallest: i64, active: usize) -> i64 {
    let m = (smallest - RAID_SUPERBLOCK_OVERHEAD).max(0);
    let n = active as i64;
    match level {
        "raid-0" => m * n,
        "raid-1" => m,
        "raid-5" => m * (n - 1).max(0),
        "raid-6" => m * (n - 2).max(0),
        "raid-10" => m * n / 2,
        _ => 0,
    }
}

/// The size a group's device has: a RAID's per its level, a bcache's its
/// backing device's.
pub fn group_size(s: &Storage<'_>, g: &VolumeGroup) -> i64 {
    if g.group_type == BCACHE {
        return s.members(g).first().map(|m| s.member_size(*m)).unwrap_or(0);
    }
    let all = s.members(g);
    let smallest = all.iter().map(|m| s.member_size(*m)).min().unwrap_or(0);
    raid_size(&g.group_type, smallest, s.members_with(g, |t| t == RAID_ACTIVE).len())
}

pub(crate) fn is_raid(g: &VolumeGroup) -> bool {
    g.group_type.starts_with("raid-")
}

/// The first name `prefix{N}` no device or group of the node uses.
pub(crate) fn next_name(st: &NodeStorage, prefix: &str) -> String {
    let used: HashSet<&str> =
        st.devices.iter().map(|d| d.name.as_str()).chain(st.volume_groups.iter().map(|g| g.name.as_str())).collect();
    // At most `used.len()` names are taken, so one of the first `len + 1`
    // candidates is free.
    (0..=used.len())
        .map(|i| format!("{prefix}{i}"))
        .find(|n| !used.contains(n.as_str()))
        .unwrap_or_else(|| format!("{prefix}{}", used.len()))
}

pub(crate) fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "+_.-".contains(c))
        && !name.starts_with('-');
    if ok {
        Ok(name.to_string())
    } else {
        Err(Error::field("name", format!("'{name}' is not a valid name.")))
    }
}

pub(crate) fn uuid_or_new(uuid: Option<String>) -> Result<String> {
    match uuid.filter(|u| !u.trim().is_empty()) {
        Some(u) => check_uuid("uuid", &u),
        None => Ok(new_uuid()),
    }
}

pub(crate) fn add_member(c: &mut DbConn, n: &Node, group_id: i64, t: Target, fstype: &str) -> Result<()> {
    let (block_device_id, partition_id) = t.columns();
    db::storage::insert_filesystem(
        c,
        &NewFilesystem {
            node_id: n.id,
            block_device_id,
            partition_id,
            fstype: fstype.into(),
            uuid: new_uuid(),
            label: None,
            mount_point: None,
            mount_options: None,
            volume_group_id: Some(group_id),
            created_at: db::now(),
            acquired: false,
        },
    )?;
    Ok(())
}

pub(crate) fn insert_group(
    c: &mut DbConn,
    n: &Node,
    group_type: &str,
    name: &str,
    uuid: &str,
    cache_mode: Option<String>,
    cache_set_id: Option<i64>,
) -> Result<VolumeGroup> {
    db::storage::insert_volume_group(
        c,
        &NewVolumeGroup {
            node_id: n.id,
            name: name.to_string(),
            uuid: uuid.to_string(),
            created_at: db::now(),
            group_type: group_type.into(),
            cache_mode,
            cache_set_id,
        },
    )
}

/// Adds the group's virtual block device (its size is set by [`settle`]).
pub(crate) fn insert_group_device(c: &mut DbConn, n: &Node, g: &VolumeGroup) -> Result<()> {
    db::storage::insert_device(
        c,
        &NewBlockDevice {
            node_id: n.id,
            name: g.name.clone(),
            dev_type: VIRTUAL.into(),
            id_path: None,
            model: None,
            serial: None,
            firmware_version: None,
            size: 0,
            block_size: 512,
            tags: "[]".into(),
            uuid: Some(g.uuid.clone()),
            storage_pool: None,
            numa_node: 0,
            is_boot_disk: false,
            partition_table_type: None,
            volume_group_id: Some(g.id),
            created_at: db::now(),
        },
    )?;
    Ok(())
}

/// Whether `t` is `g`'s device or is built on it (a partition of it, a
/// group over it, …): such a target cannot join `g`.
pub(crate) fn built_on(s: &Storage<'_>, t: Target, g: i64, depth: u8) -> bool {
    if depth > 8 {
        return true;
    }
    let dev = match t {
        Target::Device(id) => s.device(id),
        Target::Partition(id) => s.partition(id).and_then(|p| s.device(p.block_device_id)),
    };
    let Some(d) = dev else { return false };
    match s.group_of_device(d) {
        None => false,
        Some(dg) if dg.id == g => true,
        Some(dg) => s.members(dg).iter().any(|m| {
            let mt = match m {
                Member::Device(d) => Target::Device(d.id),
                Member::Partition(p) => Target::Partition(p.id),
            };
            built_on(s, mt, g, depth + 1)
        }),
    }
}

/// Members free to join group `g` (`None` for a new group).
pub(crate) fn joinable(
    s: &Storage<'_>,
    g: Option<i64>,
    fields: (&str, &str),
    devs: &[String],
    parts: &[String],
) -> Result<Vec<Target>> {
    let out = free_members(s, fields.0, devs, fields.1, parts)?;
    if let Some(g) = g {
        for (t, v) in out.iter().zip(devs.iter().chain(parts.iter())) {
            if built_on(s, *t, g, 0) {
                let field = if matches!(t, Target::Device(_)) { fields.0 } else { fields.1 };
                return Err(not_a_choice(field, v));
            }
        }
    }
    Ok(out)
}

/// Recomputes the group's device size and checks the group still holds:
/// member counts for a RAID's level, a device large enough for what is on it.
pub(crate) fn settle(c: &mut DbConn, n: &Node, id: i64) -> Result<()> {
    let st = db::storage::load_node(c, n.id)?;
    let s = Storage::new(n, &st);
    let g = s.group(id).ok_or(Error::NotFound("FilesystemGroup"))?;
    if is_raid(g) {
        let active = s.members_with(g, |t| t == RAID_ACTIVE).len();
        let spares = s.members_with(g, |t| t == RAID_SPARE).len();
        let level = g.group_type.as_str();
        let need = min_devices(level);
        if active < need || (level == "raid-0" && spares > 0) {
            let num = level.trim_start_matches("raid-");
            let spare_rule = if level == "raid-0" { "no spares" } else { "any number of spares" };
            return Err(Error::field(
                "__all__",
                format!("RAID level {num} must have at least {need} raid devices and {spare_rule}."),
            ));
        }
    }
    let size = group_size(&s, g);
    if size < MIN_BLOCK_DEVICE_SIZE {
        return Err(Error::BadRequest(format!(
            "{} would be {size} bytes; a block device needs at least {MIN_BLOCK_DEVICE_SIZE}.",
            part_of(g)
        )));
    }
    // The device's block size is the largest of its members' devices.
    let block_size = s
        .members(g)
        .iter()
        .filter_map(|m| match m {
            Member::Device(d) => Some(d.block_size),
            Member::Partition(p) => s.device(p.block_device_id).map(|d| d.block_size),
        })
        .max()
        .unwrap_or(512);
    let Some(d) = s.group_device(g) else { return Ok(()) };
    if s.device_used_size(d) > size && s.filesystem(Target::Device(d.id)).is_none() {
        return Err(Error::BadRequest(format!(
            "Cannot shrink {} to {size} bytes: its partitions need {} bytes.",
            part_of(g),
            s.device_used_size(d)
        )));
    }
    let ch = BlockDeviceChanges {
        size: (d.size != size).then_some(size),
        block_size: (d.block_size != block_size).then_some(block_size),
        name: (d.name != g.name).then(|| g.name.clone()),
        uuid: (d.uuid.as_deref() != Some(g.uuid.as_str())).then(|| Some(g.uuid.clone())),
        ..Default::default()
    };
    db::storage::update_device(c, d.id, &ch)
}

/// Deletes a RAID, bcache or cache set (no permission checks). Refused
/// while the group's device is itself a member of another group, or a cache
/// set is used by a bcache.
pub fn delete_group(c: &mut DbConn, n: &Node, st: &NodeStorage, id: i64) -> Result<()> {
    let s = Storage::new(n, st);
    let g = s.group(id).ok_or(Error::NotFound("FilesystemGroup"))?;
    if g.group_type == CACHE_SET {
        if let Some(b) = st.volume_groups.iter().find(|b| b.cache_set_id == Some(g.id)) {
            return Err(Error::BadRequest(format!(
                "Cannot delete cache set {} because bcache {} uses it.",
                g.name, b.name
            )));
        }
    }
    if let Some(d) = s.group_device(g) {
        let used = s
            .group_of(Target::Device(d.id))
            .or_else(|| s.partitions_of(d.id).find_map(|p| s.group_of(Target::Partition(p.id))));
        if let Some(other) = used {
            return Err(Error::BadRequest(format!(
                "Cannot delete {} because its device is part of {}.",
                part_of(g),
                part_of(other)
            )));
        }
    }
    db::storage::delete_volume_group(c, id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_per_level() {
        let m = 1_000_000_000;
        let e = m - RAID_SUPERBLOCK_OVERHEAD;
        assert_eq!(raid_size("raid-0", m, 2), 2 * e);
        assert_eq!(raid_size("raid-1", m, 3), e);
        assert_eq!(raid_size("raid-5", m, 3), 2 * e);
        assert_eq!(raid_size("raid-6", m, 4), 2 * e);
        assert_eq!(raid_size("raid-10", m, 3), 3 * e / 2);
        assert_eq!(min_devices("raid-0"), 2);
        assert_eq!(min_devices("raid-1"), 2);
        assert_eq!(min_devices("raid-5"), 3);
        assert_eq!(min_devices("raid-6"), 4);
        assert_eq!(min_devices("raid-10"), 3);
    }
}
