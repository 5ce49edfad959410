//! Queries of `vm_hosts` (MAAS's Pod) and `vm_host_machines` (MAAS's
//! VirtualMachine: which machine is which domain of which host).
//!
//! A host's power parameters are sealed on write and opened on load
//! ([`crate::db::secrets::VmHostParameters`]), so the engine sees plaintext.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{vm_host_machines, vm_hosts};
use crate::db::secrets::{seal_parameters_of, VM_HOST_PARAMETERS};
use crate::db::{from_diesel, is_unique_violation, DbConn};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = vm_hosts)]
pub struct VmHost {
    pub id: i64,
    pub name: String,
    pub host_type: String,
    #[diesel(deserialize_as = crate::db::secrets::Sealed<crate::db::secrets::VmHostParameters>)]
    pub power_parameters: String,
    pub zone_id: i64,
    pub pool_id: i64,
    /// JSON array of tag names.
    pub tags: String,
    pub cpu_over_commit_ratio: f64,
    pub memory_over_commit_ratio: f64,
    pub default_storage_pool: Option<String>,
    pub cores: i64,
    /// MiB.
    pub memory: i64,
    /// Bytes.
    pub local_storage: i64,
    /// JSON array.
    pub architectures: String,
    /// JSON array of [`crate::db::vm_hosts`] pool objects as the engine writes them.
    pub storage_pools: String,
    pub version: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// The columns a create or update writes (everything but id and times).
#[derive(Debug, Clone)]
pub struct VmHostFields {
    pub name: String,
    pub host_type: String,
    /// Plaintext JSON; sealed here.
    pub power_parameters: String,
    pub zone_id: i64,
    pub pool_id: i64,
    pub tags: String,
    pub cpu_over_commit_ratio: f64,
    pub memory_over_commit_ratio: f64,
    pub default_storage_pool: Option<String>,
    pub cores: i64,
    pub memory: i64,
    pub local_storage: i64,
    pub architectures: String,
    pub storage_pools: String,
    pub version: String,
}

impl VmHostFields {
    pub fn of(h: &VmHost) -> VmHostFields {
        VmHostFields {
            name: h.name.clone(),
            host_type: h.host_type.clone(),
            power_parameters: h.power_parameters.clone(),
            zone_id: h.zone_id,
            pool_id: h.pool_id,
            tags: h.tags.clone(),
            cpu_over_commit_ratio: h.cpu_over_commit_ratio,
            memory_over_commit_ratio: h.memory_over_commit_ratio,
            default_storage_pool: h.default_storage_pool.clone(),
            cores: h.cores,
            memory: h.memory,
            local_storage: h.local_storage,
            architectures: h.architectures.clone(),
            storage_pools: h.storage_pools.clone(),
            version: h.version.clone(),
        }
    }
}

/// MAAS's words for a second host of one name (its BMC name is unique).
pub const DUPLICATE: &str = "Pod with this Name already exists.";

fn dup(e: diesel::result::Error) -> Error {
    if is_unique_violation(&e) {
        Error::field("name", DUPLICATE)
    } else {
        from_diesel(e)
    }
}

pub fn all(c: &mut DbConn) -> Result<Vec<VmHost>> {
    vm_hosts::table.order(vm_hosts::id).select(VmHost::as_select()).load(c).map_err(from_diesel)
}

pub fn by_id(c: &mut DbConn, id: i64) -> Result<Option<VmHost>> {
    vm_hosts::table.find(id).select(VmHost::as_select()).first(c).optional().map_err(from_diesel)
}

pub fn insert(c: &mut DbConn, f: &VmHostFields) -> Result<VmHost> {
    let now = super::now();
    let sealed = seal_parameters_of(VM_HOST_PARAMETERS, &f.power_parameters)?;
    let id: i64 = diesel::insert_into(vm_hosts::table)
        .values((
            vm_hosts::name.eq(&f.name),
            vm_hosts::host_type.eq(&f.host_type),
            vm_hosts::power_parameters.eq(&sealed),
            vm_hosts::zone_id.eq(f.zone_id),
            vm_hosts::pool_id.eq(f.pool_id),
            vm_hosts::tags.eq(&f.tags),
            vm_hosts::cpu_over_commit_ratio.eq(f.cpu_over_commit_ratio),
            vm_hosts::memory_over_commit_ratio.eq(f.memory_over_commit_ratio),
            vm_hosts::default_storage_pool.eq(&f.default_storage_pool),
            vm_hosts::cores.eq(f.cores),
            vm_hosts::memory.eq(f.memory),
            vm_hosts::local_storage.eq(f.local_storage),
            vm_hosts::architectures.eq(&f.architectures),
            vm_hosts::storage_pools.eq(&f.storage_pools),
            vm_hosts::version.eq(&f.version),
            vm_hosts::created_at.eq(now),
            vm_hosts::updated_at.eq(now),
        ))
        .returning(vm_hosts::id)
        .get_result(c)
        .map_err(dup)?;
    by_id(c, id)?.ok_or(Error::NotFound("VM host"))
}

pub fn update(c: &mut DbConn, id: i64, f: &VmHostFields) -> Result<VmHost> {
    let sealed = seal_parameters_of(VM_HOST_PARAMETERS, &f.power_parameters)?;
    diesel::update(vm_hosts::table.find(id))
        .set((
            vm_hosts::name.eq(&f.name),
            vm_hosts::power_parameters.eq(&sealed),
            vm_hosts::zone_id.eq(f.zone_id),
            vm_hosts::pool_id.eq(f.pool_id),
            vm_hosts::tags.eq(&f.tags),
            vm_hosts::cpu_over_commit_ratio.eq(f.cpu_over_commit_ratio),
            vm_hosts::memory_over_commit_ratio.eq(f.memory_over_commit_ratio),
            vm_hosts::default_storage_pool.eq(&f.default_storage_pool),
            vm_hosts::cores.eq(f.cores),
            vm_hosts::memory.eq(f.memory),
            vm_hosts::local_storage.eq(f.local_storage),
            vm_hosts::architectures.eq(&f.architectures),
            vm_hosts::storage_pools.eq(&f.storage_pools),
            vm_hosts::version.eq(&f.version),
            vm_hosts::updated_at.eq(super::now()),
        ))
        .execute(c)
        .map_err(dup)?;
    by_id(c, id)?.ok_or(Error::NotFound("VM host"))
}

pub fn delete(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(vm_hosts::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

/// Hosts of a zone or pool being deleted go to the default one, as nodes do.
pub fn move_zone(c: &mut DbConn, from: i64, to: i64) -> Result<()> {
    diesel::update(vm_hosts::table.filter(vm_hosts::zone_id.eq(from)))
        .set(vm_hosts::zone_id.eq(to))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(())
}

pub fn move_pool(c: &mut DbConn, from: i64, to: i64) -> Result<()> {
    diesel::update(vm_hosts::table.filter(vm_hosts::pool_id.eq(from)))
        .set(vm_hosts::pool_id.eq(to))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = vm_host_machines)]
pub struct VmMachine {
    pub node_id: i64,
    pub vm_host_id: i64,
    pub domain: String,
    pub cores: i64,
    /// MiB.
    pub memory: i64,
    /// JSON array of `[pool, bytes]`.
    pub disks: String,
    pub composed: bool,
}

pub fn machines_of(c: &mut DbConn, host_id: i64) -> Result<Vec<VmMachine>> {
    vm_host_machines::table
        .filter(vm_host_machines::vm_host_id.eq(host_id))
        .order(vm_host_machines::node_id)
        .select(VmMachine::as_select())
        .load(c)
        .map_err(from_diesel)
}

/// Every host's machines, by host id (list renders, one query).
pub fn all_machines(c: &mut DbConn) -> Result<HashMap<i64, Vec<VmMachine>>> {
    let rows: Vec<VmMachine> = vm_host_machines::table.select(VmMachine::as_select()).load(c).map_err(from_diesel)?;
    let mut by_host: HashMap<i64, Vec<VmMachine>> = HashMap::new();
    for r in rows {
        by_host.entry(r.vm_host_id).or_default().push(r);
    }
    Ok(by_host)
}

/// Links a machine to its host; a machine already linked keeps its row.
pub fn link(c: &mut DbConn, m: &VmMachine) -> Result<()> {
    let exists = vm_host_machines::table.find(m.node_id).count().get_result::<i64>(c).map_err(from_diesel)? > 0;
    if !exists {
        diesel::insert_into(vm_host_machines::table).values(m).execute(c).map_err(from_diesel)?;
    }
    Ok(())
}

/// The host (id, name) of each of `node_ids` that runs on one (the
/// machine's `pod`).
pub fn pods_of(c: &mut DbConn, node_ids: &[i64]) -> Result<HashMap<i64, (i64, String)>> {
    if node_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, i64, String)> = vm_host_machines::table
        .inner_join(vm_hosts::table)
        .filter(vm_host_machines::node_id.eq_any(node_ids))
        .select((vm_host_machines::node_id, vm_hosts::id, vm_hosts::name))
        .load(c)
        .map_err(from_diesel)?;
    Ok(rows.into_iter().map(|(n, id, name)| (n, (id, name))).collect())
}
