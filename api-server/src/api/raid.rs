//! `nodes/{system_id}/raids/`, `…/raid/{id}/`, `…/bcaches/`, `…/bcache/{id}/`,
//! `…/bcache-cache-sets/` and `…/bcache-cache-set/{id}/`: RAIDs, bcaches and
//! their cache sets, with MAAS's JSON shapes (`maas-api.md` §7.4, §10.11).
//! The rules are in `engine::raid::raid`; these handlers parse, call and render.

use serde::Serialize;
use serde_json::Value;

use crate::api::support::{change, change_empty, ids, path_id, read_with, text};
use crate::api::views::resource_uri;
use crate::api::views::storage::{to_json, BlockDeviceView, MemberView, PartitionView};
use crate::db::storage::VolumeGroup;
use crate::engine;
use crate::engine::storage::bcache::{BcacheInput, CacheSetInput};
use crate::engine::storage::model::{human_size, Member, Storage, BCACHE, CACHE_SET, RAID_ACTIVE, RAID_SPARE};
use crate::engine::storage::raid::{RaidInput, RaidUpdate};
use crate::error::Result;
use crate::handler_fn;
use crate::http::registry::{optional, required, Access, Action, Handler, Method};
use crate::http::reply::Reply;
use crate::http::Ctx;

// ---- JSON shapes -------------------------------------------------------------------

fn member_view<'a>(s: Storage<'a>, m: Member<'a>) -> MemberView<'a> {
    match m {
        Member::Device(d) => MemberView::Device(BlockDeviceView::new(s, d)),
        Member::Partition(p) => MemberView::Partition(PartitionView::new(s, p)),
    }
}

#[derive(Serialize)]
pub struct RaidView<'a> {
    system_id: &'a str,
    id: i64,
    name: &'a str,
    uuid: &'a str,
    level: &'a str,
    devices: Vec<MemberView<'a>>,
    spare_devices: Vec<MemberView<'a>>,
    size: i64,
    human_size: String,
    virtual_device: Option<BlockDeviceView<'a>>,
    resource_uri: String,
}

impl<'a> RaidView<'a> {
    pub fn new(s: Storage<'a>, g: &'a VolumeGroup) -> RaidView<'a> {
        let sid = s.node.system_id.as_str();
        let size = engine::storage::groups::group_size(&s, g);
        RaidView {
            system_id: sid,
            id: g.id,
            name: &g.name,
            uuid: &g.uuid,
            level: &g.group_type,
            devices: s.members_with(g, |t| t == RAID_ACTIVE).into_iter().map(|m| member_view(s, m)).collect(),
            spare_devices: s.members_with(g, |t| t == RAID_SPARE).into_iter().map(|m| member_view(s, m)).collect(),
            size,
            human_size: human_size(size),
            virtual_device: s.group_device(g).map(|d| BlockDeviceView::new(s, d)),
            resource_uri: resource_uri(&format!("nodes/{sid}/raid/{}/", g.id)),
        }
    }
}

#[derive(Serialize)]
pub struct CacheSetView<'a> {
    system_id: &'a str,
    id: i64,
    name: &'a str,
    cache_device: Option<MemberView<'a>>,
    resource_uri: String,
}

impl<'a> CacheSetView<'a> {
    pub fn new(s: Storage<'a>, g: &'a VolumeGroup) -> CacheSetView<'a> {
        let sid = s.node.system_id.as_str();
        CacheSetView {
            system_id: sid,
            id: g.id,
            name: &g.name,
            cache_device: s.members(g).into_iter().next().map(|m| member_view(s, m)),
            resource_uri: resource_uri(&format!("nodes/{sid}/bcache-cache-set/{}/", g.id)),
        }
    }
}

#[derive(Serialize)]
pub struct BcacheView<'a> {
    system_id: &'a str,
    id: i64,
    name: &'a str,
    uuid: &'a str,
    cache_set: Option<CacheSetView<'a>>,
    backing_device: Option<MemberView<'a>>,
    cache_mode: &'a Option<String>,
    size: i64,
    human_size: String,
    virtual_device: Option<BlockDeviceView<'a>>,
    resource_uri: String,
}

impl<'a> BcacheView<'a> {
    pub fn new(s: Storage<'a>, g: &'a VolumeGroup) -> BcacheView<'a> {
        let sid = s.node.system_id.as_str();
        let size = engine::storage::groups::group_size(&s, g);
        BcacheView {
            system_id: sid,
            id: g.id,
            name: &g.name,
            uuid: &g.uuid,
            cache_set: g.cache_set_id.and_then(|id| s.group(id)).map(|c| CacheSetView::new(s, c)),
            backing_device: s.members(g).into_iter().next().map(|m| member_view(s, m)),
            cache_mode: &g.cache_mode,
            size,
            human_size: human_size(size),
            virtual_device: s.group_device(g).map(|d| BlockDeviceView::new(s, d)),
            resource_uri: resource_uri(&format!("nodes/{sid}/bcache/{}/", g.id)),
        }
    }
}

fn render_raid(s: Storage<'_>, id: i64) -> Result<Value> {
    Ok(to_json(RaidView::new(s, engine::storage::raid::raid_of(&s, id)?)))
}

fn render_bcache(s: Storage<'_>, id: i64) -> Result<Value> {
    Ok(to_json(BcacheView::new(s, engine::storage::bcache::bcache_of(&s, id)?)))
}

fn render_cache_set(s: Storage<'_>, id: i64) -> Result<Value> {
    Ok(to_json(CacheSetView::new(s, engine::storage::bcache::cache_set_of(&s, id)?)))
}

// ---- the handler table ---------------------------------------------------------------

const STATE_RULE: &str =
    "Changes need a Ready or Allocated machine: administrators on either, the owner on an Allocated one.";

pub fn handlers() -> Vec<Handler> {
    vec![
        Handler::new("RaidsHandler", "nodes/{system_id}/raids/", Access::Authenticated, "Manage all RAIDs (Redundant Array of Independent Disks) on a machine")
            .action(Action::new(Method::Get, None, "List all RAIDs", handler_fn!(list_raids)))
            .action(
                Action::new(Method::Post, None, "Set up a RAID", handler_fn!(create_raid))
                    .describe("Members must belong to the machine and be unused (no filesystem, no partition table). Minimum active members: raid-0 2 (no spares), raid-1 2, raid-5 3, raid-6 4, raid-10 3.")
                    .params(&[
                        required("level", "String", "raid-0, raid-1, raid-5, raid-6 or raid-10."),
                        optional("name", "String", "Name (default md0, md1, …)."),
                        optional("uuid", "String", "UUID (generated when absent)."),
                        optional("block_devices", "String", "Active block device ids (repeatable)."),
                        optional("partitions", "String", "Active partition ids (repeatable)."),
                        optional("spare_devices", "String", "Spare block device ids (repeatable)."),
                        optional("spare_partitions", "String", "Spare partition ids (repeatable)."),
                    ]),
            ),
        Handler::new("RaidHandler", "nodes/{system_id}/raid/{id}/", Access::Authenticated, "Manage a specific RAID on a machine")
            .describe(STATE_RULE)
            .action(Action::new(Method::Get, None, "Read a RAID", handler_fn!(read_raid)))
            .action(Action::new(Method::Put, None, "Update a RAID", handler_fn!(update_raid)).params(&[
                optional("name", "String", "Name."),
                optional("uuid", "String", "UUID."),
                optional("add_block_devices", "String", "Active block device ids to add (repeatable)."),
                optional("remove_block_devices", "String", "Active block device ids to remove (repeatable)."),
                optional("add_partitions", "String", "Active partition ids to add (repeatable)."),
                optional("remove_partitions", "String", "Active partition ids to remove (repeatable)."),
                optional("add_spare_devices", "String", "Spare block device ids to add (repeatable)."),
                optional("remove_spare_devices", "String", "Spare block device ids to remove (repeatable)."),
                optional("add_spare_partitions", "String", "Spare partition ids to add (repeatable)."),
                optional("remove_spare_partitions", "String", "Spare partition ids to remove (repeatable)."),
            ]))
            .action(Action::new(Method::Delete, None, "Delete a RAID", handler_fn!(delete_raid))),
        Handler::new("BcacheCacheSetsHandler", "nodes/{system_id}/bcache-cache-sets/", Access::Authenticated, "Manage bcache cache sets on a machine")
            .action(Action::new(Method::Get, None, "List all cache sets", handler_fn!(list_cache_sets)))
            .action(
                Action::new(Method::Post, None, "Creates a bcache cache set", handler_fn!(create_cache_set)).params(&[
                    optional("cache_device", "Int", "Cache block device id (or cache_partition)."),
                    optional("cache_partition", "Int", "Cache partition id (or cache_device)."),
                ]),
            ),
        Handler::new("BcacheCacheSetHandler", "nodes/{system_id}/bcache-cache-set/{id}/", Access::Authenticated, "Manage bcache cache set on a machine")
            .describe(STATE_RULE)
            .action(Action::new(Method::Get, None, "Read a bcache cache set", handler_fn!(read_cache_set)))
            .action(Action::new(Method::Put, None, "Update a bcache cache set", handler_fn!(update_cache_set)).params(&[
                optional("cache_device", "Int", "New cache block device id."),
                optional("cache_partition", "Int", "New cache partition id."),
            ]))
            .action(Action::new(Method::Delete, None, "Delete a bcache cache set", handler_fn!(delete_cache_set))),
        Handler::new("BcachesHandler", "nodes/{system_id}/bcaches/", Access::Authenticated, "Manage bcache devices on a machine")
            .action(Action::new(Method::Get, None, "List all bcache devices", handler_fn!(list_bcaches)))
            .action(
                Action::new(Method::Post, None, "Creates a bcache", handler_fn!(create_bcache)).params(&[
                    required("cache_set", "Int", "Cache set id or name."),
                    required("cache_mode", "String", "writeback, writethrough or writearound."),
                    optional("name", "String", "Name (default bcache0, bcache1, …)."),
                    optional("uuid", "String", "UUID (generated when absent)."),
                    optional("backing_device", "Int", "Backing block device id (or backing_partition)."),
                    optional("backing_partition", "Int", "Backing partition id (or backing_device)."),
                ]),
            ),
        Handler::new("BcacheHandler", "nodes/{system_id}/bcache/{id}/", Access::Authenticated, "Manage bcache device on a machine")
            .describe(STATE_RULE)
            .action(Action::new(Method::Get, None, "Read a bcache device", handler_fn!(read_bcache)))
            .action(Action::new(Method::Put, None, "Update a bcache", handler_fn!(update_bcache)).params(&[
                optional("name", "String", "Name."),
                optional("uuid", "String", "UUID."),
                optional("cache_set", "Int", "Cache set id or name."),
                optional("backing_device", "Int", "New backing block device id."),
                optional("backing_partition", "Int", "New backing partition id."),
                optional("cache_mode", "String", "writeback, writethrough or writearound."),
            ]))
            .action(Action::new(Method::Delete, None, "Delete a bcache", handler_fn!(delete_bcache))),
    ]
}

// ---- RAID ------------------------------------------------------------------------------

async fn list_raids(ctx: Ctx) -> Result<Reply> {
    read_with(ctx, |s| Ok(Value::Array(s.groups_of_type("raid").map(|g| to_json(RaidView::new(s, g))).collect()))).await
}

async fn read_raid(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "RAID")?;
    read_with(ctx, move |s| render_raid(s, id)).await
}

async fn create_raid(ctx: Ctx) -> Result<Reply> {
    let p = &ctx.params;
    let input = RaidInput {
        name: text(p, "name"),
        uuid: text(p, "uuid"),
        level: text(p, "level"),
        block_devices: ids(p, "block_devices"),
        partitions: ids(p, "partitions"),
        spare_devices: ids(p, "spare_devices"),
        spare_partitions: ids(p, "spare_partitions"),
    };
    change(ctx, move |c, u, n| engine::storage::raid::create_raid(c, u, n, input), render_raid).await
}

async fn update_raid(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "RAID")?;
    let p = &ctx.params;
    let input = RaidUpdate {
        name: text(p, "name"),
        uuid: text(p, "uuid"),
        add_block_devices: ids(p, "add_block_devices"),
        remove_block_devices: ids(p, "remove_block_devices"),
        add_partitions: ids(p, "add_partitions"),
        remove_partitions: ids(p, "remove_partitions"),
        add_spare_devices: ids(p, "add_spare_devices"),
        remove_spare_devices: ids(p, "remove_spare_devices"),
        add_spare_partitions: ids(p, "add_spare_partitions"),
        remove_spare_partitions: ids(p, "remove_spare_partitions"),
    };
    change(ctx, move |c, u, n| engine::storage::raid::update_raid(c, u, n, id, input).map(|_| id), render_raid).await
}

async fn delete_raid(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "RAID")?;
    change_empty(ctx, move |c, u, n| engine::storage::raid::delete_raid(c, u, n, id)).await
}

// ---- cache sets --------------------------------------------------------------------------

fn cache_set_input(ctx: &Ctx) -> CacheSetInput {
    CacheSetInput {
        cache_device: text(&ctx.params, "cache_device"),
        cache_partition: text(&ctx.params, "cache_partition"),
    }
}

async fn list_cache_sets(ctx: Ctx) -> Result<Reply> {
    read_with(ctx, |s| {
        Ok(Value::Array(s.groups_of_type(CACHE_SET).map(|g| to_json(CacheSetView::new(s, g))).collect()))
    })
    .await
}

async fn read_cache_set(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "CacheSet")?;
    read_with(ctx, move |s| render_cache_set(s, id)).await
}

async fn create_cache_set(ctx: Ctx) -> Result<Reply> {
    let input = cache_set_input(&ctx);
    change(ctx, move |c, u, n| engine::storage::bcache::create_cache_set(c, u, n, input), render_cache_set).await
}

async fn update_cache_set(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "CacheSet")?;
    let input = cache_set_input(&ctx);
    change(
        ctx,
        move |c, u, n| engine::storage::bcache::update_cache_set(c, u, n, id, input).map(|_| id),
        render_cache_set,
    )
    .await
}

async fn delete_cache_set(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "CacheSet")?;
    change_empty(ctx, move |c, u, n| engine::storage::bcache::delete_cache_set(c, u, n, id)).await
}

// ---- bcache ---------------------------------------------------------------------------------

fn bcache_input(ctx: &Ctx) -> BcacheInput {
    let p = &ctx.params;
    BcacheInput {
        name: text(p, "name"),
        uuid: text(p, "uuid"),
        cache_set: text(p, "cache_set"),
        backing_device: text(p, "backing_device"),
        backing_partition: text(p, "backing_partition"),
        cache_mode: text(p, "cache_mode"),
    }
}

async fn list_bcaches(ctx: Ctx) -> Result<Reply> {
    read_with(ctx, |s| Ok(Value::Array(s.groups_of_type(BCACHE).map(|g| to_json(BcacheView::new(s, g))).collect())))
        .await
}

async fn read_bcache(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "Bcache")?;
    read_with(ctx, move |s| render_bcache(s, id)).await
}

async fn create_bcache(ctx: Ctx) -> Result<Reply> {
    let input = bcache_input(&ctx);
    change(ctx, move |c, u, n| engine::storage::bcache::create_bcache(c, u, n, input), render_bcache).await
}

async fn update_bcache(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "Bcache")?;
    let input = bcache_input(&ctx);
    change(ctx, move |c, u, n| engine::storage::bcache::update_bcache(c, u, n, id, input).map(|_| id), render_bcache)
        .await
}

async fn delete_bcache(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "Bcache")?;
    change_empty(ctx, move |c, u, n| engine::storage::bcache::delete_bcache(c, u, n, id)).await
}
