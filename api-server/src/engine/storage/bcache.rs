//! Bcache cache sets and bcaches, and the bcache root of MAAS's `bcache` layout.

use crate::db;
use crate::db::nodes::Node;
use crate::db::storage::{GroupChanges, NodeStorage, VolumeGroup};
use crate::db::users::User;
use crate::db::DbConn;
use crate::engine;
use crate::engine::storage::groups::add_member;
use crate::engine::storage::groups::delete_group;
use crate::engine::storage::groups::insert_group;
use crate::engine::storage::groups::insert_group_device;
use crate::engine::storage::groups::joinable;
use crate::engine::storage::groups::settle;
use crate::engine::storage::groups::uuid_or_new;
use crate::engine::storage::groups::CACHE_MODES;
use crate::engine::storage::groups::{check_name, next_name};
use crate::engine::storage::model::check_uuid;
use crate::engine::storage::model::new_uuid;
use crate::engine::storage::model::Storage;
use crate::engine::storage::model::Target;
use crate::engine::storage::model::BCACHE_BACKING;
use crate::engine::storage::model::BCACHE_CACHE;
use crate::engine::storage::model::MIN_PARTITION_SIZE;
use crate::engine::storage::model::{BCACHE, CACHE_SET};
use crate::engine::storage::rules::check_change;
use crate::engine::storage::rules::not_a_choice;
use crate::engine::storage::rules::Need;
use crate::error::{Error, Result};

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
    let st = db::storage::load_node(c, n.id)?;
    check_change(user, n, "create", "cache set", Need::Edit)?;
    let s = Storage::new(n, &st);
    let fields = ("cache_device", "cache_partition");
    let member = one_member(&s, None, fields, input.cache_device.as_ref(), input.cache_partition.as_ref())?
        .ok_or_else(|| Error::field("__all__", "Either cache_device or cache_partition must be specified."))?;
    make_cache_set(c, n, &st, member)
}

pub fn update_cache_set(c: &mut DbConn, user: &User, n: &Node, id: i64, input: CacheSetInput) -> Result<()> {
    let st = db::storage::load_node(c, n.id)?;
    let s = Storage::new(n, &st);
    let g = cache_set_of(&s, id)?;
    check_change(user, n, "update", "cache set", Need::Edit)?;
    let fields = ("cache_device", "cache_partition");
    let Some(member) = one_member(&s, Some(g.id), fields, input.cache_device.as_ref(), input.cache_partition.as_ref())?
    else {
        return Ok(());
    };
    for f in st.filesystems.iter().filter(|f| f.volume_group_id == Some(g.id)) {
        db::storage::delete_filesystem(c, f.id)?;
    }
    add_member(c, n, g.id, member, BCACHE_CACHE)
}

pub fn delete_cache_set(c: &mut DbConn, user: &User, n: &Node, id: i64) -> Result<()> {
    let st = db::storage::load_node(c, n.id)?;
    cache_set_of(&Storage::new(n, &st), id)?;
    check_change(user, n, "delete", "cache set", Need::Edit)?;
    delete_group(c, n, &st, id)
}

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
    let st = db::storage::load_node(c, n.id)?;
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
    let st = db::storage::load_node(c, n.id)?;
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
            db::storage::delete_filesystem(c, f.id)?;
        }
        add_member(c, n, g.id, b, BCACHE_BACKING)?;
    }
    db::storage::update_group(c, g.id, BCACHE, &ch)?;
    settle(c, n, g.id)
}

pub fn delete_bcache(c: &mut DbConn, user: &User, n: &Node, id: i64) -> Result<()> {
    let st = db::storage::load_node(c, n.id)?;
    bcache_of(&Storage::new(n, &st), id)?;
    check_change(user, n, "delete", "bcache", Need::Edit)?;
    delete_group(c, n, &st, id)
}

/// `set_storage_layout` parameters of the bcache layout.
#[derive(Debug, Clone, Default)]
pub struct BcacheLayout {
    /// Id of the physical device to cache with; default: the smallest SSD
    /// that is not the boot disk or the root device.
    pub cache_device: Option<String>,
    /// `writeback`, `writethrough` (default) or `writearound`.
    pub cache_mode: Option<String>,
    /// Size of the cache partition; default: the whole device.
    pub cache_size: Option<engine::storage::model::SizeSpec>,
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
    let st = db::storage::load_node(c, n.id)?;
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
        let p = engine::storage::partitions::add_partition_unchecked(c, n, &mut st, dev.id, size, "cache_size")?;
        Target::Partition(p)
    };
    let st = db::storage::load_node(c, n.id)?;
    let cache_set = make_cache_set(c, n, &st, member)?;
    let st = db::storage::load_node(c, n.id)?;
    let mode = input.cache_mode.as_deref().map(check_cache_mode).transpose()?.unwrap_or_else(|| "writethrough".into());
    let bcache = make_bcache(c, n, &st, (None, None), cache_set, Target::Partition(root_partition), mode)?;
    let st = db::storage::load_node(c, n.id)?;
    let s = Storage::new(n, &st);
    let g = s.group(bcache).ok_or(Error::NotFound("Bcache"))?;
    let d = s.group_device(g).ok_or(Error::NotFound("BlockDevice"))?;
    db::storage::insert_filesystem(c, &Target::Device(d.id).layout_filesystem(n.id, "ext4", "root", "/"))?;
    Ok(())
}
