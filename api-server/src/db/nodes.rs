//! Queries of the node aggregate: machines, devices and controllers (one
//! table, one `system_id` namespace), their interfaces' identity and tags.
//!
//! Lists are N+1-free: [`load_related`] fetches zones, pools, domains,
//! owners, tags and interfaces for any number of nodes in a fixed number of
//! queries.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db;
use crate::db::schema::{interfaces, ip_addresses, node_tags, nodes};
use crate::db::types::{NodeType, Status};
use crate::db::{from_diesel, is_unique_violation, DbConn};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = nodes)]
pub struct Node {
    pub id: i64,
    pub system_id: String,
    pub node_type: NodeType,
    pub hostname: String,
    pub description: String,
    pub domain_id: i64,
    pub architecture: Option<String>,
    pub min_hwe_kernel: Option<String>,
    pub hwe_kernel: Option<String>,
    pub cpu_count: i32,
    pub cpu_speed: i32,
    pub memory: i64,
    pub swap_size: Option<i64>,
    pub status: Status,
    pub previous_status: Status,
    pub status_message: Option<String>,
    pub status_action: Option<String>,
    pub status_expires_at: Option<NaiveDateTime>,
    pub error_description: String,
    pub owner_id: Option<i64>,
    pub agent_name: String,
    /// JSON object of string values (workload annotations).
    pub owner_data: String,
    pub zone_id: i64,
    pub pool_id: Option<i64>,
    pub osystem: String,
    pub distro_series: String,
    pub user_data: Option<Vec<u8>>,
    pub power_type: String,
    /// JSON object; secret (BMC passwords). Never rendered to non-admins.
    /// Its secret fields are stored encrypted (`db::secrets`); plaintext here.
    #[diesel(deserialize_as = crate::db::secrets::Sealed<crate::db::secrets::PowerParameters>)]
    pub power_parameters: String,
    pub power_state: String,
    pub netboot: bool,
    pub locked: bool,
    pub ephemeral_deploy: bool,
    pub enable_hw_sync: bool,
    pub enable_kernel_crash_dump: bool,
    pub hardware_uuid: Option<String>,
    pub bios_boot_method: Option<String>,
    /// JSON object of string values.
    pub hardware_info: String,
    pub parent_id: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The links (ip_addresses rows) that give the default gateways.
    pub gateway_link_ipv4_id: Option<i64>,
    pub gateway_link_ipv6_id: Option<i64>,
    /// Created by anonymous enlistment and not yet accepted: a successful
    /// commissioning returns it to NEW instead of READY.
    pub enlisting: bool,
    /// `quick`, `secure` or `full` while (and after) a disk erase.
    pub erase_mode: String,
    /// The power settings came from an anonymous enlistment: nothing may
    /// contact the BMC they name until an administrator accepts the machine
    /// (`engine::nodes::power::require_trusted_power`).
    pub power_quarantined: bool,
    /// JSON array of NUMA nodes (`{"index", "cores", "memory"}`, memory in
    /// MiB) from the last commissioning; `[]` until one reports them.
    pub numa: String,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = nodes)]
pub struct NewNode {
    pub system_id: String,
    pub node_type: NodeType,
    pub hostname: String,
    pub description: String,
    pub domain_id: i64,
    pub architecture: Option<String>,
    pub min_hwe_kernel: Option<String>,
    pub hwe_kernel: Option<String>,
    pub cpu_count: i32,
    pub cpu_speed: i32,
    pub memory: i64,
    pub swap_size: Option<i64>,
    pub status: Status,
    pub previous_status: Status,
    pub status_message: Option<String>,
    pub status_action: Option<String>,
    pub error_description: String,
    pub owner_id: Option<i64>,
    pub agent_name: String,
    pub owner_data: String,
    pub zone_id: i64,
    pub pool_id: Option<i64>,
    pub osystem: String,
    pub distro_series: String,
    pub power_type: String,
    pub power_parameters: String,
    pub power_state: String,
    pub netboot: bool,
    pub locked: bool,
    pub ephemeral_deploy: bool,
    pub enable_hw_sync: bool,
    pub enable_kernel_crash_dump: bool,
    pub hardware_info: String,
    pub parent_id: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub power_quarantined: bool,
}

/// A partial update; `None` leaves a column alone, `Some(None)` sets NULL.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = nodes)]
pub struct NodeChanges {
    pub hostname: Option<String>,
    pub description: Option<String>,
    pub domain_id: Option<i64>,
    pub architecture: Option<Option<String>>,
    pub min_hwe_kernel: Option<Option<String>>,
    pub hwe_kernel: Option<Option<String>>,
    pub cpu_count: Option<i32>,
    pub cpu_speed: Option<i32>,
    pub memory: Option<i64>,
    pub swap_size: Option<Option<i64>>,
    pub status: Option<Status>,
    pub previous_status: Option<Status>,
    pub status_message: Option<Option<String>>,
    pub status_expires_at: Option<Option<NaiveDateTime>>,
    pub error_description: Option<String>,
    pub owner_id: Option<Option<i64>>,
    pub agent_name: Option<String>,
    pub owner_data: Option<String>,
    pub zone_id: Option<i64>,
    pub pool_id: Option<Option<i64>>,
    pub osystem: Option<String>,
    pub distro_series: Option<String>,
    pub user_data: Option<Option<Vec<u8>>>,
    pub power_type: Option<String>,
    pub power_parameters: Option<String>,
    pub power_state: Option<String>,
    pub netboot: Option<bool>,
    pub locked: Option<bool>,
    pub ephemeral_deploy: Option<bool>,
    pub enable_hw_sync: Option<bool>,
    pub enable_kernel_crash_dump: Option<bool>,
    pub parent_id: Option<Option<i64>>,
    pub updated_at: Option<NaiveDateTime>,
    pub enlisting: Option<bool>,
    pub erase_mode: Option<String>,
    pub power_quarantined: Option<bool>,
}

/// What a live page shows of a node and updates without a reload (the
/// change feed, `engine::changes`, compares these between looks).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = nodes)]
pub struct LiveState {
    pub id: i64,
    pub system_id: String,
    pub hostname: String,
    pub status: Status,
    pub power_state: String,
    pub owner_id: Option<i64>,
    pub locked: bool,
    pub status_message: Option<String>,
}

/// Every node's [`LiveState`] (one narrow scan; the feed runs it only
/// while a page is watching).
pub fn live_states(c: &mut DbConn) -> Result<Vec<LiveState>> {
    nodes::table.select(LiveState::as_select()).load(c).map_err(from_diesel)
}

/// Which nodes a list or an allocation looks at. Empty `Vec`s mean "no
/// restriction"; `Some(vec![])` on an `Option` means "match nothing".
#[derive(Debug, Clone, Default)]
pub struct NodeFilter {
    pub node_types: Vec<NodeType>,
    pub ids: Option<Vec<String>>,
    pub not_ids: Vec<String>,
    pub hostnames: Option<Vec<String>>,
    pub not_hostnames: Vec<String>,
    pub mac_addresses: Option<Vec<String>>,
    pub domain_ids: Option<Vec<i64>>,
    pub not_domain_ids: Vec<i64>,
    pub zone_ids: Option<Vec<i64>>,
    pub not_zone_ids: Vec<i64>,
    pub pool_ids: Option<Vec<i64>>,
    pub not_pool_ids: Vec<i64>,
    pub agent_names: Option<Vec<String>>,
    pub not_agent_names: Vec<String>,
    pub statuses: Option<Vec<Status>>,
    pub not_statuses: Vec<Status>,
    pub owner_ids: Option<Vec<i64>>,
    pub not_owner_ids: Vec<i64>,
    /// `amd64` matches every `amd64/*`; `amd64/generic` matches exactly.
    pub arches: Option<Vec<String>>,
    pub not_arches: Vec<String>,
    pub power_states: Option<Vec<String>>,
    pub not_power_states: Vec<String>,
    pub min_cpu_count: Option<i32>,
    pub min_memory: Option<i64>,
    pub min_cpu_speed: Option<i32>,
    /// The node must carry every one of these tags.
    pub all_tag_ids: Vec<i64>,
    /// The node must carry none of these tags.
    pub no_tag_ids: Vec<i64>,
    /// Non-admin callers see unowned nodes and their own.
    pub visible_to: Option<i64>,
    /// Exclude locked nodes (allocation).
    pub unlocked_only: bool,
    /// Only unowned nodes or those of this user (allocation).
    pub unowned_or: Option<i64>,
    /// Keyset pagination: nodes with a larger internal id.
    pub after_id: Option<i64>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    /// Order by MAAS's allocation cost (`cpu_count + memory/1024`), then id.
    pub cheapest_first: bool,
    /// Free-text words (lower case): each must appear in the hostname, the
    /// system_id, a MAC address or an IP address of the node (the UI's
    /// search box, `engine::search`).
    pub text: Vec<String>,
}

/// A LIKE pattern matching `word` anywhere, its wildcards escaped (`\`).
fn contains_pattern(word: &str) -> String {
    let mut p = String::with_capacity(word.len() + 2);
    p.push('%');
    for ch in word.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

type Boxed<'a> = nodes::BoxedQuery<'a, db::MultiBackend>;

/// What "cheapest first" orders by. The index `nodes_cheapest_first`
/// (migration 000034) is on this very expression; SQLite uses an
/// expression index only when the query's expression is the same.
pub const CHEAPEST: &str = "(cpu_count + memory / 1024.0)";

fn apply<'a>(f: &'a NodeFilter) -> Boxed<'a> {
    let mut q = nodes::table.into_boxed();
    if !f.node_types.is_empty() {
        q = q.filter(nodes::node_type.eq_any(&f.node_types));
    }
    if let Some(ids) = &f.ids {
        q = q.filter(nodes::system_id.eq_any(ids));
    }
    if !f.not_ids.is_empty() {
        q = q.filter(nodes::system_id.ne_all(&f.not_ids));
    }
    if let Some(h) = &f.hostnames {
        q = q.filter(nodes::hostname.eq_any(h));
    }
    if !f.not_hostnames.is_empty() {
        q = q.filter(nodes::hostname.ne_all(&f.not_hostnames));
    }
    if let Some(macs) = &f.mac_addresses {
        let sub = interfaces::table.filter(interfaces::mac_address.eq_any(macs)).select(interfaces::node_id);
        q = q.filter(nodes::id.eq_any(sub));
    }
    if let Some(v) = &f.domain_ids {
        q = q.filter(nodes::domain_id.eq_any(v));
    }
    if !f.not_domain_ids.is_empty() {
        q = q.filter(nodes::domain_id.ne_all(&f.not_domain_ids));
    }
    if let Some(v) = &f.zone_ids {
        q = q.filter(nodes::zone_id.eq_any(v));
    }
    if !f.not_zone_ids.is_empty() {
        q = q.filter(nodes::zone_id.ne_all(&f.not_zone_ids));
    }
    if let Some(v) = &f.pool_ids {
        q = q.filter(nodes::pool_id.eq_any(v));
    }
    if !f.not_pool_ids.is_empty() {
        q = q.filter(nodes::pool_id.ne_all(&f.not_pool_ids).or(nodes::pool_id.is_null()));
    }
    if let Some(v) = &f.agent_names {
        q = q.filter(nodes::agent_name.eq_any(v));
    }
    if !f.not_agent_names.is_empty() {
        q = q.filter(nodes::agent_name.ne_all(&f.not_agent_names));
    }
    if let Some(v) = &f.statuses {
        q = q.filter(nodes::status.eq_any(v));
    }
    if !f.not_statuses.is_empty() {
        q = q.filter(nodes::status.ne_all(&f.not_statuses));
    }
    if let Some(v) = &f.owner_ids {
        q = q.filter(nodes::owner_id.eq_any(v));
    }
    if !f.not_owner_ids.is_empty() {
        q = q.filter(nodes::owner_id.ne_all(&f.not_owner_ids).or(nodes::owner_id.is_null()));
    }
    if let Some(arches) = &f.arches {
        let mut cond: Box<dyn BoxableExpression<nodes::table, db::MultiBackend, SqlType = diesel::sql_types::Bool>> =
            Box::new(diesel::dsl::sql::<diesel::sql_types::Bool>("1 = 0"));
        for a in arches {
            cond = if a.contains('/') {
                Box::new(cond.or(nodes::architecture.eq(a.clone()).assume_not_null()))
            } else {
                Box::new(cond.or(nodes::architecture.like(format!("{a}/%")).assume_not_null()))
            };
        }
        q = q.filter(cond);
    }
    for a in &f.not_arches {
        if a.contains('/') {
            q = q.filter(nodes::architecture.ne(a.clone()).or(nodes::architecture.is_null()));
        } else {
            q = q.filter(nodes::architecture.not_like(format!("{a}/%")).or(nodes::architecture.is_null()));
        }
    }
    if let Some(v) = &f.power_states {
        q = q.filter(nodes::power_state.eq_any(v));
    }
    if !f.not_power_states.is_empty() {
        q = q.filter(nodes::power_state.ne_all(&f.not_power_states));
    }
    if let Some(n) = f.min_cpu_count {
        q = q.filter(nodes::cpu_count.ge(n));
    }
    if let Some(n) = f.min_memory {
        q = q.filter(nodes::memory.ge(n));
    }
    if let Some(n) = f.min_cpu_speed {
        q = q.filter(nodes::cpu_speed.ge(n));
    }
    for t in &f.all_tag_ids {
        let sub = node_tags::table.filter(node_tags::tag_id.eq(*t)).select(node_tags::node_id);
        q = q.filter(nodes::id.eq_any(sub));
    }
    if !f.no_tag_ids.is_empty() {
        let sub = node_tags::table.filter(node_tags::tag_id.eq_any(&f.no_tag_ids)).select(node_tags::node_id);
        q = q.filter(nodes::id.ne_all(sub));
    }
    if let Some(uid) = f.visible_to {
        q = q.filter(nodes::owner_id.is_null().or(nodes::owner_id.eq(uid)));
    }
    if let Some(uid) = f.unowned_or {
        q = q.filter(nodes::owner_id.is_null().or(nodes::owner_id.eq(uid)));
    }
    if f.unlocked_only {
        q = q.filter(nodes::locked.eq(false));
    }
    for word in &f.text {
        let pat = contains_pattern(word);
        let by_mac = interfaces::table
            .filter(interfaces::mac_address.like(pat.clone()).escape('\\'))
            .select(interfaces::node_id);
        let by_ip = interfaces::table
            .filter(
                interfaces::id.nullable().eq_any(
                    ip_addresses::table
                        .filter(ip_addresses::ip.like(pat.clone()).escape('\\'))
                        .select(ip_addresses::interface_id),
                ),
            )
            .select(interfaces::node_id);
        q = q.filter(
            nodes::hostname
                .like(pat.clone())
                .escape('\\')
                .or(nodes::system_id.like(pat.clone()).escape('\\'))
                .or(nodes::id.eq_any(by_mac))
                .or(nodes::id.eq_any(by_ip)),
        );
    }
    if let Some(after) = f.after_id {
        q = q.filter(nodes::id.gt(after));
    }
    if let Some(limit) = f.limit {
        q = q.limit(limit);
    }
    if let Some(offset) = f.offset {
        q = q.offset(offset);
    }
    if f.cheapest_first {
        q.order(diesel::dsl::sql::<diesel::sql_types::Double>(CHEAPEST)).then_order_by(nodes::id)
    } else {
        q.order(nodes::id)
    }
}

pub fn list(c: &mut DbConn, f: &NodeFilter) -> Result<Vec<Node>> {
    apply(f).select(Node::as_select()).load(c).map_err(from_diesel)
}

/// The status of every node the filter matches, ignoring its paging (the
/// UI's group counts).
pub fn statuses(c: &mut DbConn, f: &NodeFilter) -> Result<Vec<Status>> {
    let whole = NodeFilter { after_id: None, limit: None, offset: None, ..f.clone() };
    apply(&whole).select(nodes::status).load(c).map_err(from_diesel)
}

/// What [`count_by`] groups nodes by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountBy {
    Zone,
    Pool,
    Tag,
    /// The owning user (unowned nodes are not counted).
    Owner,
}

/// How many nodes matching `f` are in each zone or pool, carry each tag,
/// or belong to each user (keyed by its id), for the web UI's list pages. A fixed number of narrow
/// scans (one column of the matching nodes; for tags, also the tag links),
/// however many zones, pools, tags and nodes there are, as [`statuses`]
/// counts the machines table's groups.
pub fn count_by(c: &mut DbConn, f: &NodeFilter, by: CountBy) -> Result<HashMap<i64, i64>> {
    let whole = NodeFilter { after_id: None, limit: None, offset: None, ..f.clone() };
    let keys: Vec<i64> = match by {
        CountBy::Zone => apply(&whole).select(nodes::zone_id).load(c).map_err(from_diesel)?,
        CountBy::Pool => {
            let pools: Vec<Option<i64>> = apply(&whole).select(nodes::pool_id).load(c).map_err(from_diesel)?;
            pools.into_iter().flatten().collect()
        }
        CountBy::Owner => {
            let owners: Vec<Option<i64>> = apply(&whole).select(nodes::owner_id).load(c).map_err(from_diesel)?;
            owners.into_iter().flatten().collect()
        }
        CountBy::Tag => {
            let ids: std::collections::HashSet<i64> =
                apply(&whole).select(nodes::id).load::<i64>(c).map_err(from_diesel)?.into_iter().collect();
            let links: Vec<(i64, i64)> =
                node_tags::table.select((node_tags::node_id, node_tags::tag_id)).load(c).map_err(from_diesel)?;
            links.into_iter().filter(|(n, _)| ids.contains(n)).map(|(_, t)| t).collect()
        }
    };
    let mut out = HashMap::new();
    for k in keys {
        *out.entry(k).or_default() += 1;
    }
    Ok(out)
}

/// Internal ids only (allocation scans candidates without loading them whole).
pub fn list_ids(c: &mut DbConn, f: &NodeFilter) -> Result<Vec<i64>> {
    apply(f).select(nodes::id).load(c).map_err(from_diesel)
}

pub fn by_system_id(c: &mut DbConn, system_id: &str) -> Result<Option<Node>> {
    nodes::table
        .filter(nodes::system_id.eq(system_id))
        .select(Node::as_select())
        .first(c)
        .optional()
        .map_err(from_diesel)
}

pub fn by_ids(c: &mut DbConn, ids: &[i64]) -> Result<Vec<Node>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        out.extend(
            nodes::table
                .filter(nodes::id.eq_any(chunk))
                .order(nodes::id)
                .select(Node::as_select())
                .load(c)
                .map_err(from_diesel)?,
        );
    }
    Ok(out)
}

pub fn system_id_exists(c: &mut DbConn, system_id: &str) -> Result<bool> {
    let n: i64 = nodes::table.filter(nodes::system_id.eq(system_id)).count().get_result(c).map_err(from_diesel)?;
    Ok(n > 0)
}

pub fn hostname_taken(c: &mut DbConn, hostname: &str, domain_id: i64, except: Option<i64>) -> Result<bool> {
    let mut q = nodes::table.filter(nodes::hostname.eq(hostname)).filter(nodes::domain_id.eq(domain_id)).into_boxed();
    if let Some(id) = except {
        q = q.filter(nodes::id.ne(id));
    }
    let n: i64 = q.count().get_result(c).map_err(from_diesel)?;
    Ok(n > 0)
}

/// `changes` with the secret power parameters sealed (`db::secrets`).
fn sealed(changes: &NodeChanges) -> Result<std::borrow::Cow<'_, NodeChanges>> {
    Ok(match &changes.power_parameters {
        Some(p) => std::borrow::Cow::Owned(NodeChanges {
            power_parameters: Some(db::secrets::seal_power_parameters(p)?),
            ..changes.clone()
        }),
        None => std::borrow::Cow::Borrowed(changes),
    })
}

pub fn insert(c: &mut DbConn, new: &NewNode) -> Result<Node> {
    let new = &NewNode { power_parameters: db::secrets::seal_power_parameters(&new.power_parameters)?, ..new.clone() };
    let id: i64 = diesel::insert_into(nodes::table).values(new).returning(nodes::id).get_result(c).map_err(|e| {
        if is_unique_violation(&e) {
            Error::field("hostname", format!("Node with this hostname '{}' already exists.", new.hostname))
        } else {
            from_diesel(e)
        }
    })?;
    live_changed();
    nodes::table.find(id).select(Node::as_select()).first(c).map_err(from_diesel)
}

/// Tells the change feed (after commit) that a node's live state may have
/// changed. Marked by every write that can touch [`LiveState`]'s columns
/// and not by the others (hardware info, NUMA), which pages do not follow.
fn live_changed() {
    db::wake::mark(db::wake::Wake::Nodes);
}

pub fn update(c: &mut DbConn, id: i64, changes: &NodeChanges) -> Result<Node> {
    let changes = sealed(changes)?;
    diesel::update(nodes::table.find(id)).set(changes.as_ref()).execute(c).map_err(|e| {
        if is_unique_violation(&e) {
            Error::field("hostname", "Node with this hostname already exists.")
        } else {
            from_diesel(e)
        }
    })?;
    live_changed();
    nodes::table.find(id).select(Node::as_select()).first(c).map_err(from_diesel)
}

/// Moves a node from `expected` status to `to` only if it is still in
/// `expected` (a compare-and-set guarding against concurrent changes).
pub fn cas_status(c: &mut DbConn, id: i64, expected: Status, changes: &NodeChanges) -> Result<bool> {
    let changes = sealed(changes)?;
    let n = diesel::update(nodes::table.filter(nodes::id.eq(id)).filter(nodes::status.eq(expected)))
        .set(changes.as_ref())
        .execute(c)
        .map_err(from_diesel)?;
    if n == 1 {
        live_changed();
    }
    Ok(n == 1)
}

/// Of `ids`, the nodes still in `status` that this transaction could lock
/// for itself, in the order given. PostgreSQL: `FOR UPDATE SKIP LOCKED`, so
/// concurrent allocations each take a different candidate instead of all
/// queueing on the cheapest one's row lock and then finding it gone.
/// SQLite: the write transaction already holds the whole database, so
/// every id is free (the status is left to the caller's compare-and-set).
pub fn lock_free_in_status(c: &mut DbConn, ids: &[i64], status: Status) -> Result<Vec<i64>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let got: Vec<i64> = match c {
        DbConn::Pg(pg) => nodes::table
            .filter(nodes::id.eq_any(ids))
            .filter(nodes::status.eq(status))
            .select(nodes::id)
            .for_update()
            .skip_locked()
            .load(pg)
            .map_err(from_diesel)?,
        // No statement: the caller's compare-and-set checks the status.
        DbConn::Sqlite(_) => return Ok(ids.to_vec()),
    };
    Ok(ids.iter().copied().filter(|id| got.contains(id)).collect())
}

/// Replaces the hardware info JSON (commissioning).
pub fn set_numa(c: &mut DbConn, id: i64, numa: &str) -> Result<()> {
    diesel::update(nodes::table.find(id)).set(nodes::numa.eq(numa)).execute(c).map_err(from_diesel)?;
    Ok(())
}

pub fn set_hardware_info(c: &mut DbConn, id: i64, info: &str) -> Result<()> {
    diesel::update(nodes::table.find(id)).set(nodes::hardware_info.eq(info)).execute(c).map_err(from_diesel)?;
    Ok(())
}

pub fn set_status_message(c: &mut DbConn, id: i64, message: &str, action: &str) -> Result<()> {
    diesel::update(nodes::table.find(id))
        .set((nodes::status_message.eq(message), nodes::status_action.eq(action)))
        .execute(c)
        .map_err(from_diesel)?;
    live_changed();
    Ok(())
}

pub fn delete(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(nodes::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

/// Nodes owning any of these MACs (normalised lower-case colon form).
pub fn node_ids_with_macs(c: &mut DbConn, macs: &[String]) -> Result<Vec<(i64, String)>> {
    interfaces::table
        .filter(interfaces::mac_address.eq_any(macs))
        .select((interfaces::node_id, interfaces::mac_address.assume_not_null()))
        .load(c)
        .map_err(from_diesel)
}

pub fn set_zone(c: &mut DbConn, ids: &[i64], zone_id: i64) -> Result<usize> {
    let mut n = 0;
    for chunk in ids.chunks(CHUNK) {
        n += diesel::update(nodes::table.filter(nodes::id.eq_any(chunk)))
            .set(nodes::zone_id.eq(zone_id))
            .execute(c)
            .map_err(from_diesel)?;
    }
    Ok(n)
}

/// Bound parameters per `IN (…)`: below SQLite's 32766 and PostgreSQL's 65535
/// limits, so up to this many nodes cost one query per related table.
pub(crate) const CHUNK: usize = 30_000;

/// Ids of nodes of `node_type` that have a BMC to ask (power type set and
/// not `manual`).
pub fn ids_with_bmc(c: &mut DbConn, node_type: NodeType) -> Result<Vec<i64>> {
    nodes::table
        .filter(nodes::node_type.eq(node_type))
        .filter(nodes::power_type.ne(""))
        .filter(nodes::power_type.ne("manual"))
        .filter(nodes::power_quarantined.eq(false))
        .order(nodes::id)
        .select(nodes::id)
        .load(c)
        .map_err(from_diesel)
}

/// How many nodes of `node_type` are in each status, in one GROUP BY
/// (what `/metrics` shows at each scrape, however many machines there are).
pub fn count_by_status(c: &mut DbConn, node_type: NodeType) -> Result<Vec<(Status, i64)>> {
    nodes::table
        .filter(nodes::node_type.eq(node_type))
        .group_by(nodes::status)
        .select((nodes::status, diesel::dsl::count_star()))
        .load(c)
        .map_err(from_diesel)
}
