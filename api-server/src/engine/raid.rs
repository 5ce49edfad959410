//! RAID, bcache and bcache cache sets (`maas-api.md` §7.4, §10.11), and
//! MAAS's `bcache` storage layout.
//!
//! All three are filesystem groups, stored as LVM volume groups are (rows of
//! `volume_groups` with a `group_type`): a member device or partition carries
//! a filesystem (`raid`, `raid-spare`, `bcache-backing`, `bcache-cache`)
//! pointing at its group, and a RAID or bcache is a virtual block device of
//! the machine, so it can be formatted, partitioned or put in a volume group
//! like a disk. Members must belong to the machine and be unused: no
//! filesystem (so not in another RAID, volume group or bcache), no partition
//! table. Deleting a group deletes its device and its members' filesystems,
//! which frees the members.
//!
//! A RAID's size follows MAAS: the smallest member (spares included) less
//! 128 KiB of superblock, times the data-carrying count of its level (n for
//! raid-0, 1 for raid-1, n-1 for raid-5, n-2 for raid-6, n/2 for raid-10,
//! n counting active members only). A bcache is as large as its backing
//! device. Every change runs in the caller's write transaction: the rows are
//! changed, the node's storage reloaded and checked, and an error rolls the
//! whole change back.

use std::collections::HashSet;

use super::storage::{
    check_change, check_uuid, free_members, new_uuid, not_a_choice, part_of, Member, Need, Storage, Target, BCACHE,
    BCACHE_BACKING, BCACHE_CACHE, CACHE_SET, MIN_BLOCK_DEVICE_SIZE, MIN_PARTITION_SIZE, RAID_ACTIVE, RAID_SPARE,
    VIRTUAL,
};
use crate::db::nodes::Node;
use crate::db::storage::{
    self as db, BlockDeviceChanges, GroupChanges, NewBlockDevice, NewFilesystem, NewVolumeGroup, NodeStorage,
    VolumeGroup,
};
use crate::db::users::User;
use crate::db::DbConn;
use crate::error::{Error, Result};

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

fn is_raid(g: &VolumeGroup) -> bool {
    g.group_type.starts_with("raid-")
}

/// The first name `prefix{N}` no device or group of the node uses.
fn next_name(st: &NodeStorage, prefix: &str) -> String {
    let used: HashSet<&str> =
        st.devices.iter().map(|d| d.name.as_str()).chain(st.volume_groups.iter().map(|g| g.name.as_str())).collect();
    (0..).map(|i| format!("{prefix}{i}")).find(|n| !used.contains(n.as_str())).expect("an unused name exists")
}

fn check_name(name: &str) -> Result<String> {
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

fn uuid_or_new(uuid: Option<String>) -> Result<String> {
    match uuid.filter(|u| !u.trim().is_empty()) {
        Some(u) => check_uuid("uuid", &u),
        None => Ok(new_uuid()),
    }
}

fn add_member(c: &mut DbConn, n: &Node, group_id: i64, t: Target, fstype: &str) -> Result<()> {
    let (block_device_id, partition_id) = match t {
        Target::Device(id) => (Some(id), None),
        Target::Partition(id) => (None, Some(id)),
    };
    db::insert_filesystem(
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
            created_at: super::now(),
            acquired: false,
        },
    )?;
    Ok(())
}

fn insert_group(
    c: &mut DbConn,
    n: &Node,
    group_type: &str,
    name: &str,
    uuid: &str,
    cache_mode: Option<String>,
    cache_set_id: Option<i64>,
) -> Result<VolumeGroup> {
    db::insert_volume_group(
        c,
        &NewVolumeGroup {
            node_id: n.id,
            name: name.to_string(),
            uuid: uuid.to_string(),
            created_at: super::now(),
            group_type: group_type.into(),
            cache_mode,
            cache_set_id,
        },
    )
}

/// Adds the group's virtual block device (its size is set by [`settle`]).
fn insert_group_device(c: &mut DbConn, n: &Node, g: &VolumeGroup) -> Result<()> {
    db::insert_device(
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
            created_at: super::now(),
        },
    )?;
    Ok(())
}

/// Whether `t` is `g`'s device or is built on it (a partition of it, a
/// group over it, …): such a target cannot join `g`.
fn built_on(s: &Storage<'_>, t: Target, g: i64, depth: u8) -> bool {
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
fn joinable(
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
fn settle(c: &mut DbConn, n: &Node, id: i64) -> Result<()> {
    let st = db::load_node(c, n.id)?;
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
    db::update_device(c, d.id, &ch)
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
    db::delete_volume_group(c, id)
}

// ---- RAID ----------------------------------------------------------------------

/// `POST raids/`.
#[derive(Debug, Clone, Default)]
pub struct RaidInput {
    pub name: Option<String>,
    pub uuid: Option<String>,
    pub level: Option<String>,
    pub block_devices: Vec<String>,
    pub partitions: Vec<String>,
    pub spare_devices: Vec<String>,
    pub spare_partitions: Vec<String>,
}

/// `PUT raid/{id}/`.
#[derive(Debug, Clone, Default)]
pub struct RaidUpdate {
    pub name: Option<String>,
    pub uuid: Option<String>,
    pub add_block_devices: Vec<String>,
    pub remove_block_devices: Vec<String>,
    pub add_partitions: Vec<String>,
    pub remove_partitions: Vec<String>,
    pub add_spare_devices: Vec<String>,
    pub remove_spare_devices: Vec<String>,
    pub add_spare_partitions: Vec<String>,
    pub remove_spare_partitions: Vec<String>,
}

/// Rejects a member named twice in one request.
fn distinct(targets: &[Target]) -> Result<()> {
    let mut seen = HashSet::new();
    if targets.iter().all(|t| seen.insert(*t)) {
        Ok(())
    } else {
        Err(Error::field("__all__", "A block device or partition can be used only once in a RAID."))
    }
}

pub fn raid_of<'a>(s: &Storage<'a>, id: i64) -> Result<&'a VolumeGroup> {
    s.group(id).filter(|g| is_raid(g)).ok_or(Error::NotFound("RAID"))
}

pub fn create_raid(c: &mut DbConn, user: &User, n: &Node, input: RaidInput) -> Result<i64> {
    let st = db::load_node(c, n.id)?;
    check_change(user, n, "create", "RAID", Need::Edit)?;
    let level = input.level.map(|l| l.trim().to_ascii_lowercase()).filter(|l| !l.is_empty());
    let level = level.ok_or_else(|| Error::required("level"))?;
    if !RAID_LEVELS.contains(&level.as_str()) {
        return Err(not_a_choice("level", &level));
    }
    let s = Storage::new(n, &st);
    let active = joinable(&s, None, ("block_devices", "partitions"), &input.block_devices, &input.partitions)?;
    let spares =
        joinable(&s, None, ("spare_devices", "spare_partitions"), &input.spare_devices, &input.spare_partitions)?;
    distinct(&[active.clone(), spares.clone()].concat())?;
    let name = match input.name.filter(|v| !v.trim().is_empty()) {
        Some(v) => check_name(&v)?,
        None => next_name(&st, "md"),
    };
    let uuid = uuid_or_new(input.uuid)?;
    let g = insert_group(c, n, &level, &name, &uuid, None, None)?;
    for t in &active {
        add_member(c, n, g.id, *t, RAID_ACTIVE)?;
    }
    for t in &spares {
        add_member(c, n, g.id, *t, RAID_SPARE)?;
    }
    insert_group_device(c, n, &g)?;
    settle(c, n, g.id)?;
    Ok(g.id)
}

/// The member filesystems named by `vals` (ids of devices or partitions)
/// that are `fstype` members of `g`.
fn member_fs(
    s: &Storage<'_>,
    g: &VolumeGroup,
    field: &str,
    vals: &[String],
    partitions: bool,
    fstype: &str,
) -> Result<Vec<i64>> {
    vals.iter()
        .map(|v| {
            let t =
                v.trim().parse::<i64>().ok().map(|i| if partitions { Target::Partition(i) } else { Target::Device(i) });
            t.and_then(|t| s.filesystem(t))
                .filter(|f| f.volume_group_id == Some(g.id) && f.fstype == fstype)
                .map(|f| f.id)
                .ok_or_else(|| not_a_choice(field, v))
        })
        .collect()
}

pub fn update_raid(c: &mut DbConn, user: &User, n: &Node, id: i64, u: RaidUpdate) -> Result<()> {
    let st = db::load_node(c, n.id)?;
    let s = Storage::new(n, &st);
    let g = raid_of(&s, id)?.clone();
    check_change(user, n, "update", "RAID", Need::Edit)?;
    let mut removed = member_fs(&s, &g, "remove_block_devices", &u.remove_block_devices, false, RAID_ACTIVE)?;
    removed.extend(member_fs(&s, &g, "remove_partitions", &u.remove_partitions, true, RAID_ACTIVE)?);
    removed.extend(member_fs(&s, &g, "remove_spare_devices", &u.remove_spare_devices, false, RAID_SPARE)?);
    removed.extend(member_fs(&s, &g, "remove_spare_partitions", &u.remove_spare_partitions, true, RAID_SPARE)?);
    let active =
        joinable(&s, Some(g.id), ("add_block_devices", "add_partitions"), &u.add_block_devices, &u.add_partitions)?;
    let spares = joinable(
        &s,
        Some(g.id),
        ("add_spare_devices", "add_spare_partitions"),
        &u.add_spare_devices,
        &u.add_spare_partitions,
    )?;
    distinct(&[active.clone(), spares.clone()].concat())?;
    let mut ch = GroupChanges::default();
    if let Some(v) = u.name.filter(|v| !v.trim().is_empty()) {
        ch.name = Some(check_name(&v)?);
    }
    if let Some(v) = u.uuid.filter(|v| !v.trim().is_empty()) {
        ch.uuid = Some(check_uuid("uuid", &v)?);
    }
    for f in removed {
        db::delete_filesystem(c, f)?;
    }
    for t in &active {
        add_member(c, n, g.id, *t, RAID_ACTIVE)?;
    }
    for t in &spares {
        add_member(c, n, g.id, *t, RAID_SPARE)?;
    }
    db::update_group(c, g.id, &g.group_type, &ch)?;
    settle(c, n, g.id)
}

pub fn delete_raid(c: &mut DbConn, user: &User, n: &Node, id: i64) -> Result<()> {
    let st = db::load_node(c, n.id)?;
    raid_of(&Storage::new(n, &st), id)?;
    check_change(user, n, "delete", "RAID", Need::Edit)?;
    delete_group(c, n, &st, id)
}

// ---- cache sets ------------------------------------------------------------------

/// `POST bcache-cache-sets/` and `PUT bcache-cache-set/{id}/`.
#[derive(Debug, Clone, Default)]
pub struct CacheSetInput {
    pub cache_device: Option<String>,
    pub cache_partition: Option<String>,
}

pub fn cache_set_of<'a>(s: &Storage<'a>, id: i64) -> Result<&'a VolumeGroup> {
    s.group(id).filter(|g| g.group_type == CACHE_SET).ok_or(Error::NotFound("CacheSet"))
}

/// Exactly one of a device or a partition, free to join `g`.
fn one_member(
    s: &Storage<'_>,
    g: Option<i64>,
    fields: (&str, &str),
    dev: Option<&String>,
    part: Option<&String>,
) -> Result<Option<Target>> {
    match (dev, part) {
        (Some(_), Some(_)) => Err(Error::field("__all__", format!("Cannot set both {} and {}.", fields.0, fields.1))),
        (None, None) => Ok(None),
        (d, p) => {
            let devs: Vec<String> = d.cloned().into_iter().collect();
            let parts: Vec<String> = p.cloned().into_iter().collect();
            Ok(joinable(s, g, fields, &devs, &parts)?.into_iter().next())
        }
    }
}

/// Creates a cache set without permission checks.
fn make_cache_set(c: &mut DbConn, n: &Node, st: &NodeStorage, member: Target) -> Result<i64> {
    let name = next_name(st, "cache");
    let g = insert_group(c, n, CACHE_SET, &name, &new_uuid(), None, None)?;
    add_member(c, n, g.id, member, BCACHE_CACHE)?;
    Ok(g.id)
}

pub fn create_cache_set(c: &mut DbConn, user: &User, n: &Node, input: CacheSetInput) -> Result<i64> {
    let st = db::load_node(c, n.id)?;
    check_change(user, n, "create", "cache set", Need::Edit)?;
    let s = Storage::new(n, &st);
    let fields = ("cache_device", "cache_partition");
    let member = one_member(&s, None, fields, input.cache_device.as_ref(), input.cache_partition.as_ref())?
        .ok_or_else(|| Error::field("__all__", "Either cache_device or cache_partition must be specified."))?;
    make_cache_set(c, n, &st, member)
}

pub fn update_cache_set(c: &mut DbConn, user: &User, n: &Node, id: i64, input: CacheSetInput) -> Result<()> {
    let st = db::load_node(c, n.id)?;
    let s = Storage::new(n, &st);
    let g = cache_set_of(&s, id)?;
    check_change(user, n, "update", "cache set", Need::Edit)?;
    let fields = ("cache_device", "cache_partition");
    let Some(member) = one_member(&s, Some(g.id), fields, input.cache_device.as_ref(), input.cache_partition.as_ref())?
    else {
        return Ok(());
    };
    for f in st.filesystems.iter().filter(|f| f.volume_group_id == Some(g.id)) {
        db::delete_filesystem(c, f.id)?;
    }
    add_member(c, n, g.id, member, BCACHE_CACHE)
}

pub fn delete_cache_set(c: &mut DbConn, user: &User, n: &Node, id: i64) -> Result<()> {
    let st = db::load_node(c, n.id)?;
    cache_set_of(&Storage::new(n, &st), id)?;
    check_change(user, n, "delete", "cache set", Need::Edit)?;
    delete_group(c, n, &st, id)
}

// ---- bcache ----------------------------------------------------------------------

/// `POST bcaches/` and `PUT bcache/{id}/`.
#[derive(Debug, Clone, Default)]
pub struct BcacheInput {
    pub name: Option<String>,
    pub uuid: Option<String>,
    pub cache_set: Option<String>,
    pub backing_device: Option<String>,
    pub backing_partition: Option<String>,
    pub cache_mode: Option<String>,
}

pub fn bcache_of<'a>(s: &Storage<'a>, id: i64) -> Result<&'a VolumeGroup> {
    s.group(id).filter(|g| g.group_type == BCACHE).ok_or(Error::NotFound("Bcache"))
}

/// A cache set of this node by id or name.
fn find_cache_set(s: &Storage<'_>, v: &str) -> Result<i64> {
    let v = v.trim();
    s.groups_of_type(CACHE_SET)
        .find(|g| g.name == v || v.parse::<i64>().ok() == Some(g.id))
        .map(|g| g.id)
        .ok_or_else(|| not_a_choice("cache_set", v))
}

fn check_cache_mode(v: &str) -> Result<String> {
    let m = v.trim().to_ascii_lowercase();
    if CACHE_MODES.contains(&m.as_str()) {
        Ok(m)
    } else {
        Err(not_a_choice("cache_mode", v))
    }
}

/// Creates a bcache without permission checks (`name`, `uuid` default).
fn make_bcache(
    c: &mut DbConn,
    n: &Node,
    st: &NodeStorage,
    (name, uuid): (Option<String>, Option<String>),
    cache_set: i64,
    backing: Target,
    mode: String,
) -> Result<i64> {
    let name = match name.filter(|v| !v.trim().is_empty()) {
        Some(v) => check_name(&v)?,
        None => next_name(st, "bcache"),
    };
    let g = insert_group(c, n, BCACHE, &name, &uuid_or_new(uuid)?, Some(mode), Some(cache_set))?;
    add_member(c, n, g.id, backing, BCACHE_BACKING)?;
    insert_group_device(c, n, &g)?;
    settle(c, n, g.id)?;
    Ok(g.id)
}

pub fn create_bcache(c: &mut DbConn, user: &User, n: &Node, input: BcacheInput) -> Result<i64> {
    let st = db::load_node(c, n.id)?;
    check_change(user, n, "create", "bcache", Need::Edit)?;
    let s = Storage::new(n, &st);
    let cache_set = find_cache_set(&s, input.cache_set.as_deref().ok_or_else(|| Error::required("cache_set"))?)?;
    let mode = check_cache_mode(input.cache_mode.as_deref().ok_or_else(|| Error::required("cache_mode"))?)?;
    let fields = ("backing_device", "backing_partition");
    let backing = one_member(&s, None, fields, input.backing_device.as_ref(), input.backing_partition.as_ref())?
        .ok_or_else(|| Error::field("__all__", "Either backing_device or backing_partition must be specified."))?;
    make_bcache(c, n, &st, (input.name, input.uuid), cache_set, backing, mode)
}

pub fn update_bcache(c: &mut DbConn, user: &User, n: &Node, id: i64, input: BcacheInput) -> Result<()> {
    let st = db::load_node(c, n.id)?;
    let s = Storage::new(n, &st);
    let g = bcache_of(&s, id)?.clone();
    check_change(user, n, "update", "bcache", Need::Edit)?;
    let mut ch = GroupChanges::default();
    if let Some(v) = input.name.filter(|v| !v.trim().is_empty()) {
        ch.name = Some(check_name(&v)?);
    }
    if let Some(v) = input.uuid.filter(|v| !v.trim().is_empty()) {
        ch.uuid = Some(check_uuid("uuid", &v)?);
    }
    if let Some(v) = &input.cache_set {
        ch.cache_set_id = Some(Some(find_cache_set(&s, v)?));
    }
    if let Some(v) = &input.cache_mode {
        ch.cache_mode = Some(Some(check_cache_mode(v)?));
    }
    let fields = ("backing_device", "backing_partition");
    if let Some(b) =
        one_member(&s, Some(g.id), fields, input.backing_device.as_ref(), input.backing_partition.as_ref())?
    {
        for f in st.filesystems.iter().filter(|f| f.volume_group_id == Some(g.id)) {
            db::delete_filesystem(c, f.id)?;
        }
        add_member(c, n, g.id, b, BCACHE_BACKING)?;
    }
    db::update_group(c, g.id, BCACHE, &ch)?;
    settle(c, n, g.id)
}

pub fn delete_bcache(c: &mut DbConn, user: &User, n: &Node, id: i64) -> Result<()> {
    let st = db::load_node(c, n.id)?;
    bcache_of(&Storage::new(n, &st), id)?;
    check_change(user, n, "delete", "bcache", Need::Edit)?;
    delete_group(c, n, &st, id)
}

// ---- the bcache layout -------------------------------------------------------------

/// `set_storage_layout` parameters of the bcache layout.
#[derive(Debug, Clone, Default)]
pub struct BcacheLayout {
    /// Id of the physical device to cache with; default: the smallest SSD
    /// that is not the boot disk or the root device.
    pub cache_device: Option<String>,
    /// `writeback`, `writethrough` (default) or `writearound`.
    pub cache_mode: Option<String>,
    /// Size of the cache partition; default: the whole device.
    pub cache_size: Option<super::storage::SizeSpec>,
    /// Use the whole cache device, no partition (then `cache_size` is ignored).
    pub cache_no_part: bool,
}

/// Picks the layout's cache device before anything changes: `Ok(None)` when
/// the machine has none to offer (the layout falls back to flat, as MAAS's does).
pub fn layout_cache_device(s: &Storage<'_>, avoid: &[i64], input: &BcacheLayout) -> Result<Option<i64>> {
    if let Some(m) = &input.cache_mode {
        check_cache_mode(m)?;
    }
    if let Some(v) = &input.cache_device {
        let d = v
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(|id| s.physical().find(|d| d.id == id))
            .filter(|d| !avoid.contains(&d.id))
            .ok_or_else(|| not_a_choice("cache_device", v))?;
        return Ok(Some(d.id));
    }
    let mut ssds: Vec<_> =
        s.physical().filter(|d| !avoid.contains(&d.id) && s.device_tags(d).iter().any(|t| t == "ssd")).collect();
    ssds.sort_by_key(|d| (d.size, d.id));
    Ok(ssds.first().map(|d| d.id))
}

/// Puts `/` on a bcache: the root partition becomes the backing device and
/// the cache device (or a partition of it) the cache set. Runs inside
/// `apply_layout` after the boot and root partitions exist.
pub fn apply_bcache_root(
    c: &mut DbConn,
    n: &Node,
    root_partition: i64,
    cache_device: i64,
    input: &BcacheLayout,
) -> Result<()> {
    let st = db::load_node(c, n.id)?;
    let dev = st.devices.iter().find(|d| d.id == cache_device).ok_or(Error::NotFound("BlockDevice"))?;
    let member = if input.cache_no_part {
        Target::Device(dev.id)
    } else {
        let size = input.cache_size.map(|sz| sz.of(dev.size));
        if size.is_some_and(|sz| sz < MIN_PARTITION_SIZE) {
            return Err(Error::field(
                "cache_size",
                format!("Size is too small. Minimum size is {MIN_PARTITION_SIZE}."),
            ));
        }
        let mut st = st.clone();
        let p = super::storage::add_partition_unchecked(c, n, &mut st, dev.id, size, "cache_size")?;
        Target::Partition(p)
    };
    let st = db::load_node(c, n.id)?;
    let cache_set = make_cache_set(c, n, &st, member)?;
    let st = db::load_node(c, n.id)?;
    let mode = input.cache_mode.as_deref().map(check_cache_mode).transpose()?.unwrap_or_else(|| "writethrough".into());
    let bcache = make_bcache(c, n, &st, (None, None), cache_set, Target::Partition(root_partition), mode)?;
    let st = db::load_node(c, n.id)?;
    let s = Storage::new(n, &st);
    let g = s.group(bcache).ok_or(Error::NotFound("Bcache"))?;
    let d = s.group_device(g).ok_or(Error::NotFound("BlockDevice"))?;
    db::insert_filesystem(
        c,
        &NewFilesystem {
            node_id: n.id,
            block_device_id: Some(d.id),
            partition_id: None,
            fstype: "ext4".into(),
            uuid: new_uuid(),
            label: Some("root".into()),
            mount_point: Some("/".into()),
            mount_options: None,
            volume_group_id: None,
            created_at: super::now(),
            acquired: false,
        },
    )?;
    Ok(())
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
