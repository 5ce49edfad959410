//! RAID (levels 0/1/5/6/10, spares; MAAS's minimum counts and sizes).

use crate::db;
use crate::db::nodes::Node;
use crate::db::storage::{GroupChanges, VolumeGroup};
use crate::db::users::User;
use crate::db::DbConn;
use crate::engine::storage::groups::add_member;
use crate::engine::storage::groups::delete_group;
use crate::engine::storage::groups::insert_group;
use crate::engine::storage::groups::insert_group_device;
use crate::engine::storage::groups::is_raid;
use crate::engine::storage::groups::joinable;
use crate::engine::storage::groups::settle;
use crate::engine::storage::groups::uuid_or_new;
use crate::engine::storage::groups::RAID_LEVELS;
use crate::engine::storage::groups::{check_name, next_name};
use crate::engine::storage::model::check_uuid;
use crate::engine::storage::model::Storage;
use crate::engine::storage::model::Target;
use crate::engine::storage::model::RAID_ACTIVE;
use crate::engine::storage::model::RAID_SPARE;
use crate::engine::storage::rules::check_change;
use crate::engine::storage::rules::not_a_choice;
use crate::engine::storage::rules::Need;
use crate::error::{Error, Result};
use std::collections::HashSet;

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
pub(crate) fn distinct(targets: &[Target]) -> Result<()> {
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
    let st = db::storage::load_node(c, n.id)?;
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
pub(crate) fn member_fs(
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
    let st = db::storage::load_node(c, n.id)?;
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
        db::storage::delete_filesystem(c, f)?;
    }
    for t in &active {
        add_member(c, n, g.id, *t, RAID_ACTIVE)?;
    }
    for t in &spares {
        add_member(c, n, g.id, *t, RAID_SPARE)?;
    }
    db::storage::update_group(c, g.id, &g.group_type, &ch)?;
    settle(c, n, g.id)
}

pub fn delete_raid(c: &mut DbConn, user: &User, n: &Node, id: i64) -> Result<()> {
    let st = db::storage::load_node(c, n.id)?;
    raid_of(&Storage::new(n, &st), id)?;
    check_change(user, n, "delete", "RAID", Need::Edit)?;
    delete_group(c, n, &st, id)
}
