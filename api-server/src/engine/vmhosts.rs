//! VM hosts (MAAS's Pod; `vm-hosts/`, `pods/`): libvirt hosts whose
//! resources the region tracks and on which it composes machines.
//!
//! Only `virsh` hosts exist here: the region drives libvirt itself through
//! the virsh driver (`ironpool_power::virsh`), as it does for chassis
//! enlistment. Other MAAS types (`lxd`) are refused by name.
//!
//! What follows MAAS (forms/pods.py, models/bmc.py, api/pods.py):
//! - create saves the host, then tries to discover it; a host that cannot
//!   be reached is still saved (MAAS's `_try_sync_and_save`) and shows zero
//!   resources until a `refresh` works. An address libvirt would refuse
//!   (not a URI, query parameters) is a 400 before anything is stored.
//! - refresh reads cores, memory, storage pools and architectures, and
//!   every domain the host runs becomes a machine (power type virsh) unless
//!   a node already has its MACs; machines with the domain's MACs are
//!   linked to the host, so their resources count as used.
//! - compose checks its fields as MAAS's `ComposeMachineForm` (cores ≥ 1,
//!   memory ≥ 1024 MiB, architecture one the host runs, storage
//!   `label:size(tags),…` in GB), then the over-commit ratios (503, MAAS's
//!   words), picks a storage pool per disk as MAAS's virsh driver does
//!   (a pool named by a tag, else the default pool, else any with room),
//!   defines a domain that boots from the network, and makes the machine,
//!   which commissions unless `skip_commissioning`.
//! - delete with `decompose` removes the machines composed on the host and
//!   their domains. Unlike MAAS, domains a refresh found (made by someone
//!   else) are left running and keep their machines.
//!
//! libvirt is never called inside a transaction: reads, then the host, then
//! one write.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::db;
use crate::db::nodes::NewNode;
use crate::db::users::User;
use crate::db::vm_hosts::{VmHost, VmHostFields, VmMachine};
use crate::db::{Datastore, DbConn};
use crate::engine;
use crate::engine::events::{event, level};
use crate::engine::lifecycle::NodeType;
use crate::engine::nodes::chassis::{self, ChassisInput};
use crate::engine::nodes::create::{blank_node, insert_with_macs, new_unique_system_id, pick_hostname, resolve_domain};
use crate::engine::power::{PowerError, PowerHub, PowerParams};
use crate::error::{Error, FieldErrors, Result};

/// The VM host types this region drives.
pub const HOST_TYPES: &[&str] = &["virsh"];
/// MAAS's compose defaults (forms/pods.py).
pub const DEFAULT_CORES: i64 = 1;
pub const DEFAULT_MEMORY: i64 = 2048;
pub const DEFAULT_STORAGE: &str = "root:8(local)";

/// What a create or update sends; `None` is absent.
#[derive(Debug, Clone, Default)]
pub struct VmHostInput {
    pub host_type: Option<String>,
    pub name: Option<String>,
    pub power_address: Option<String>,
    pub power_pass: Option<String>,
    pub zone: Option<String>,
    pub pool: Option<String>,
    pub tags: Option<Vec<String>>,
    pub cpu_over_commit_ratio: Option<String>,
    pub memory_over_commit_ratio: Option<String>,
    pub default_storage_pool: Option<String>,
}

/// What compose sends; `None` is absent (MAAS's initial values apply).
#[derive(Debug, Clone, Default)]
pub struct ComposeInput {
    pub cores: Option<String>,
    pub memory: Option<String>,
    pub architecture: Option<String>,
    pub storage: Option<String>,
    pub interfaces: Option<String>,
    pub hostname: Option<String>,
    pub domain: Option<String>,
    pub zone: Option<String>,
    pub pool: Option<String>,
    pub skip_commissioning: bool,
}

/// How composed domains are made on this region.
#[derive(Debug, Clone, Default)]
pub struct ComposeOptions {
    /// `<emulator>` of composed domains (`RegionConfig::virsh_emulator`).
    pub emulator: Option<String>,
}

/// One storage pool as the host JSON shows it (and as stored).
pub fn pools_of(h: &VmHost) -> Vec<Value> {
    serde_json::from_str(&h.storage_pools).unwrap_or_default()
}

pub fn tags_of(h: &VmHost) -> Vec<String> {
    serde_json::from_str(&h.tags).unwrap_or_default()
}

fn disks_of(m: &VmMachine) -> Vec<(String, i64)> {
    serde_json::from_str(&m.disks).unwrap_or_default()
}

/// What the host's machines take: (cores, memory MiB, storage bytes).
pub fn used(machines: &[VmMachine]) -> (i64, i64, i64) {
    machines.iter().fold((0, 0, 0), |(c, m, s), vm| {
        (c + vm.cores, m + vm.memory, s + disks_of(vm).iter().map(|(_, b)| b).sum::<i64>())
    })
}

/// Bytes the host's machines take in one pool.
pub fn used_in_pool(machines: &[VmMachine], pool: &str) -> i64 {
    machines.iter().flat_map(disks_of).filter(|(p, _)| p == pool).map(|(_, b)| b).sum()
}

fn params_of(h: &VmHost) -> PowerParams {
    serde_json::from_str(&h.power_parameters).unwrap_or_default()
}

/// The host's libvirt address and password.
fn credentials(h: &VmHost) -> (String, Option<String>) {
    let p = params_of(h);
    let address = p.get("power_address").cloned().unwrap_or_default();
    let pass = p.get("power_pass").cloned().filter(|s| !s.is_empty());
    (address, pass)
}

/// A host's power parameters as `parameters` shows them (admins only).
pub fn parameters(h: &VmHost) -> PowerParams {
    params_of(h)
}

/// A host by its id (MAAS: `No Pod matches the given query.`).
pub fn by_key(c: &mut DbConn, key: &str) -> Result<VmHost> {
    let id: i64 = key.parse().map_err(|_| Error::NotFound("Pod"))?;
    db::vm_hosts::by_id(c, id)?.ok_or(Error::NotFound("Pod"))
}

fn require_admin(actor: &User) -> Result<()> {
    if actor.is_superuser {
        Ok(())
    } else {
        Err(Error::Forbidden("This method is reserved for admin users.".into()))
    }
}

/// MAAS's FloatField with bounds 0..=10.
fn ratio(errors: &mut FieldErrors, field: &str, v: &Option<String>, current: f64) -> f64 {
    let Some(s) = v.as_deref().map(str::trim).filter(|s| !s.is_empty()) else { return current };
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x < 0.0 => {
            errors.insert(field.into(), vec!["Ensure this value is greater than or equal to 0.".into()]);
            current
        }
        Ok(x) if x.is_finite() && x > 10.0 => {
            errors.insert(field.into(), vec!["Ensure this value is less than or equal to 10.".into()]);
            current
        }
        Ok(x) if x.is_finite() => x,
        _ => {
            errors.insert(field.into(), vec!["Enter a number.".into()]);
            current
        }
    }
}

fn zone_id(c: &mut DbConn, errors: &mut FieldErrors, name: &str) -> Result<Option<i64>> {
    let found = db::places::zones(c)?.into_iter().find(|z| z.name == name || z.id.to_string() == name);
    if found.is_none() {
        errors.insert(
            "zone".into(),
            vec!["Select a valid choice. That choice is not one of the available choices.".into()],
        );
    }
    Ok(found.map(|z| z.id))
}

fn pool_id(c: &mut DbConn, errors: &mut FieldErrors, name: &str) -> Result<Option<i64>> {
    let found = db::places::pools(c)?.into_iter().find(|p| p.name == name || p.id.to_string() == name);
    if found.is_none() {
        errors.insert(
            "pool".into(),
            vec!["Select a valid choice. That choice is not one of the available choices.".into()],
        );
    }
    Ok(found.map(|p| p.id))
}

/// Tags as MAAS's comma-separated field (or repeated fields) gives them.
pub fn split_tags(values: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in values.iter().flat_map(|v| v.split(',')).map(str::trim).filter(|t| !t.is_empty()) {
        if !out.iter().any(|x| x == t) {
            out.push(t.to_string());
        }
    }
    out
}

/// Checks a create (`existing` None) or an update against MAAS's PodForm
/// and returns the row to write.
fn check(c: &mut DbConn, input: &VmHostInput, existing: Option<&VmHost>) -> Result<VmHostFields> {
    let mut errors = FieldErrors::new();
    let host_type = match (&input.host_type, existing) {
        (Some(t), Some(h)) if t != &h.host_type => {
            errors.insert(
                "type".into(),
                vec!["Cannot change the type of a pod. Delete and re-create the pod with a different type.".into()],
            );
            h.host_type.clone()
        }
        (_, Some(h)) => h.host_type.clone(),
        (None, None) => {
            errors.insert("type".into(), vec!["This field is required.".into()]);
            String::new()
        }
        (Some(t), None) if t.trim().is_empty() => {
            errors.insert("type".into(), vec!["This field is required.".into()]);
            String::new()
        }
        (Some(t), None) if !HOST_TYPES.contains(&t.as_str()) => {
            errors.insert(
                "type".into(),
                vec![format!(
                    "Select a valid choice. {t} is not one of the available choices. This region supports VM \
                     hosts of type: {}.",
                    HOST_TYPES.join(", ")
                )],
            );
            String::new()
        }
        (Some(t), None) => t.clone(),
    };
    let mut params = existing.map(params_of).unwrap_or_default();
    if let Some(a) = &input.power_address {
        params.insert("power_address".into(), a.trim().to_string());
    }
    if let Some(p) = &input.power_pass {
        params.insert("power_pass".into(), p.clone());
    }
    let address = params.get("power_address").cloned().unwrap_or_default();
    if address.is_empty() {
        errors.insert("power_address".into(), vec!["This field is required.".into()]);
    } else if address.contains('?') {
        errors.insert("power_address".into(), vec![ironpool_power::virsh::EXTRA_PARAMETERS.into()]);
    } else if !address.contains("://") {
        errors.insert(
            "power_address".into(),
            vec![format!("'{address}' is not a libvirt URI (e.g. qemu+ssh://user@host/system).")],
        );
    }
    let mut f = match existing {
        Some(h) => VmHostFields::of(h),
        None => VmHostFields {
            name: String::new(),
            host_type: host_type.clone(),
            power_parameters: "{}".into(),
            zone_id: engine::defaults::DEFAULT_ZONE_ID,
            pool_id: engine::defaults::DEFAULT_POOL_ID,
            tags: "[]".into(),
            cpu_over_commit_ratio: 1.0,
            memory_over_commit_ratio: 1.0,
            default_storage_pool: None,
            cores: 0,
            memory: 0,
            local_storage: 0,
            architectures: "[]".into(),
            storage_pools: "[]".into(),
            version: String::new(),
        },
    };
    if let Some(n) = input.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        f.name = n.to_string();
    }
    if f.name.is_empty() {
        f.name = engine::names::petname();
    }
    if let Some(z) = input.zone.as_deref().filter(|z| !z.is_empty()) {
        f.zone_id = zone_id(c, &mut errors, z)?.unwrap_or(f.zone_id);
    }
    if let Some(p) = input.pool.as_deref().filter(|p| !p.is_empty()) {
        f.pool_id = pool_id(c, &mut errors, p)?.unwrap_or(f.pool_id);
    }
    if let Some(t) = &input.tags {
        f.tags = serde_json::to_string(&split_tags(t)).map_err(Error::internal)?;
    }
    f.cpu_over_commit_ratio =
        ratio(&mut errors, "cpu_over_commit_ratio", &input.cpu_over_commit_ratio, f.cpu_over_commit_ratio);
    f.memory_over_commit_ratio =
        ratio(&mut errors, "memory_over_commit_ratio", &input.memory_over_commit_ratio, f.memory_over_commit_ratio);
    if let Some(d) = input.default_storage_pool.as_deref() {
        if d.is_empty() {
            f.default_storage_pool = None;
        } else {
            // MAAS chooses among the pools the host has (by its id; here
            // the id is the pool's name).
            let known = existing.map(pools_of).unwrap_or_default();
            if known.iter().any(|p| p["name"] == d || p["id"] == d) {
                f.default_storage_pool = Some(d.to_string());
            } else {
                errors.insert(
                    "default_storage_pool".into(),
                    vec!["Select a valid choice. That choice is not one of the available choices.".into()],
                );
            }
        }
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    f.power_parameters = engine::string_map_json(&params);
    Ok(f)
}

/// What a discovery found, written by [`apply_discovery`].
#[derive(Debug, Clone)]
struct Discovery {
    info: ironpool_power::virsh::HostInfo,
    caps: ironpool_power::virsh::HostCapabilities,
    domains: Vec<engine::power::VirshDomain>,
}

async fn discover(hub: &PowerHub, h: &VmHost) -> std::result::Result<Discovery, PowerError> {
    let (address, pass) = credentials(h);
    let info = hub.virsh.host_info(&address, pass.as_deref()).await?;
    let caps = hub.virsh.capabilities(&address, pass.as_deref()).await?;
    let domains = hub.virsh.probe(&address, pass.as_deref(), None).await?;
    Ok(Discovery { info, caps, domains })
}

/// MAAS's PodProblem for a host that cannot be reached: 503, or 400 for
/// settings libvirt refuses.
fn problem(h: &VmHost, e: PowerError) -> Error {
    let text = format!("Failed talking to VM host {}: {e}", h.name);
    match e {
        PowerError::Config(_) | PowerError::Auth { .. } => Error::BadRequest(text),
        _ => Error::Unavailable(text),
    }
}

/// Writes what a discovery found: resources, pools, and the host's domains
/// as machines (new ones created, existing ones linked).
fn apply_discovery(c: &mut DbConn, actor: &User, h: &VmHost, d: &Discovery) -> Result<VmHost> {
    let mut f = VmHostFields::of(h);
    let machines = db::vm_hosts::machines_of(c, h.id)?;
    f.cores = i64::from(d.info.cpus);
    f.memory = i64::try_from(d.info.memory / (1024 * 1024)).unwrap_or(i64::MAX);
    let active: Vec<&ironpool_power::virsh::StoragePool> = d.info.pools.iter().filter(|p| p.active).collect();
    f.local_storage = active.iter().map(|p| i64::try_from(p.capacity).unwrap_or(i64::MAX)).sum();
    let pools: Vec<Value> = active
        .iter()
        .map(|p| {
            let total = i64::try_from(p.capacity).unwrap_or(i64::MAX);
            json!({
                "id": p.name, "name": p.name, "type": p.pool_type, "path": p.path,
                "total": total,
                "available_on_host": i64::try_from(p.available).unwrap_or(i64::MAX),
            })
        })
        .collect();
    f.storage_pools = serde_json::to_string(&pools).map_err(Error::internal)?;
    if f.default_storage_pool.as_ref().is_some_and(|d| !active.iter().any(|p| &p.name == d)) {
        f.default_storage_pool = None;
    }
    if f.default_storage_pool.is_none() {
        f.default_storage_pool = active.first().map(|p| p.name.clone());
    }
    f.architectures = serde_json::to_string(&d.caps.architectures).map_err(Error::internal)?;
    f.version = d.caps.version.clone();
    let h = db::vm_hosts::update(c, h.id, &f)?;
    // Domains no node has yet become machines, as add_chassis makes them.
    let (address, pass) = credentials(&h);
    let input = ChassisInput { chassis_type: "virsh".into(), hostname: address, password: pass, ..Default::default() };
    chassis::create_domain_machines(c, actor, &input, None, &d.domains)?;
    for dom in &d.domains {
        let macs: Vec<String> = dom.macs.iter().filter_map(|m| engine::names::normalise_mac(m)).collect();
        if macs.is_empty() {
            continue;
        }
        let ids: BTreeSet<i64> = db::nodes::node_ids_with_macs(c, &macs)?.into_iter().map(|(id, _)| id).collect();
        for node_id in ids {
            if machines.iter().any(|m| m.node_id == node_id) {
                continue;
            }
            db::vm_hosts::link(
                c,
                &VmMachine {
                    node_id,
                    vm_host_id: h.id,
                    domain: dom.name.clone(),
                    cores: i64::from(dom.cores),
                    memory: i64::try_from(dom.memory_mib).unwrap_or(i64::MAX),
                    disks: "[]".into(),
                    composed: false,
                },
            )?;
        }
    }
    Ok(h)
}

/// `vm-hosts/` create: check, save, then discover (a failure to reach the
/// host leaves it saved, as MAAS does).
pub async fn create(db: &Datastore, hub: &PowerHub, actor: User, input: VmHostInput) -> Result<VmHost> {
    require_admin(&actor)?;
    let h = db
        .write(move |c| {
            let f = check(c, &input, None)?;
            db::vm_hosts::insert(c, &f)
        })
        .await?;
    try_refresh(db, hub, actor, h).await
}

/// `vm-hosts/{id}/` update: as create, on an existing host.
pub async fn update(db: &Datastore, hub: &PowerHub, actor: User, key: String, input: VmHostInput) -> Result<VmHost> {
    require_admin(&actor)?;
    let h = db
        .write(move |c| {
            let h = by_key(c, &key)?;
            let f = check(c, &input, Some(&h))?;
            db::vm_hosts::update(c, h.id, &f)
        })
        .await?;
    try_refresh(db, hub, actor, h).await
}

async fn try_refresh(db: &Datastore, hub: &PowerHub, actor: User, h: VmHost) -> Result<VmHost> {
    match discover(hub, &h).await {
        Ok(d) => db.write(move |c| apply_discovery(c, &actor, &h, &d)).await,
        Err(e) => {
            tracing::warn!(vm_host = %h.name, error = %e, "VM host discovery failed; saved without it");
            Ok(h)
        }
    }
}

/// `refresh`: discovery, whose failure is the caller's answer.
pub async fn refresh(db: &Datastore, hub: &PowerHub, actor: User, key: String) -> Result<VmHost> {
    require_admin(&actor)?;
    let h = db.run(move |c| by_key(c, &key)).await?;
    let d = discover(hub, &h).await.map_err(|e| problem(&h, e))?;
    db.write(move |c| apply_discovery(c, &actor, &h, &d)).await
}

/// `delete`: with `decompose`, the host's machines and their domains go
/// too (a domain already gone is no error).
pub async fn delete(db: &Datastore, hub: &PowerHub, actor: User, key: String, decompose: bool) -> Result<()> {
    require_admin(&actor)?;
    let (h, machines) = db
        .run(move |c| {
            let h = by_key(c, &key)?;
            let m = db::vm_hosts::machines_of(c, h.id)?;
            Ok((h, m))
        })
        .await?;
    // Only domains this region composed are destroyed: one a refresh found
    // was made by someone else (its machine row goes, the domain stays).
    let machines: Vec<VmMachine> = machines.into_iter().filter(|m| m.composed).collect();
    if decompose {
        let (address, pass) = credentials(&h);
        for m in &machines {
            match hub.virsh.decompose(&address, pass.as_deref(), &m.domain).await {
                Ok(()) => {}
                Err(PowerError::Config(msg)) if msg.contains("no such domain") => {}
                Err(e) => return Err(problem(&h, e)),
            }
        }
    }
    db.write(move |c| {
        if decompose {
            for m in &machines {
                db::nodes::delete(c, m.node_id)?;
            }
        }
        db::vm_hosts::delete(c, h.id)
    })
    .await
}

pub fn add_tag(c: &mut DbConn, actor: &User, key: &str, tag: &str) -> Result<VmHost> {
    require_admin(actor)?;
    if tag.contains(',') {
        return Err(Error::BadRequest("Tag may not contain a \",\".".into()));
    }
    let h = by_key(c, key)?;
    let mut tags = tags_of(&h);
    if !tags.iter().any(|t| t == tag) {
        tags.push(tag.to_string());
    }
    let mut f = VmHostFields::of(&h);
    f.tags = serde_json::to_string(&tags).map_err(Error::internal)?;
    db::vm_hosts::update(c, h.id, &f)
}

pub fn remove_tag(c: &mut DbConn, actor: &User, key: &str, tag: &str) -> Result<VmHost> {
    require_admin(actor)?;
    let h = by_key(c, key)?;
    let tags: Vec<String> = tags_of(&h).into_iter().filter(|t| t != tag).collect();
    let mut f = VmHostFields::of(&h);
    f.tags = serde_json::to_string(&tags).map_err(Error::internal)?;
    db::vm_hosts::update(c, h.id, &f)
}

/// One requested disk: (label, bytes, tags).
pub type DiskRequest = (String, i64, Vec<String>);

/// MAAS's storage constraint: `label:size(tag,tag),…`, sizes in GB
/// (10^9 bytes), every part matched or the whole is malformed.
pub fn parse_storage(value: &str) -> std::result::Result<Vec<DiskRequest>, String> {
    let malformed = || format!("Malformed storage constraint, \"{value}\".");
    let mut out = Vec::new();
    let mut rest = value;
    while !rest.is_empty() {
        // One group up to a comma outside parentheses.
        let mut depth = 0;
        let mut end = rest.len();
        for (i, ch) in rest.char_indices() {
            match ch {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let group = &rest[..end];
        rest = if end < rest.len() { &rest[end + 1..] } else { "" };
        if end < value.len() && rest.is_empty() && value.ends_with(',') {
            return Err(malformed());
        }
        let (label, body) = match group.split_once(':') {
            Some((l, b)) if !l.is_empty() && l.chars().all(|ch| ch.is_ascii_alphanumeric()) => (l.to_string(), b),
            Some(_) => return Err(malformed()),
            None => (String::new(), group),
        };
        let (size, tags) = match body.split_once('(') {
            Some((s, t)) => {
                let t = t.strip_suffix(')').ok_or_else(malformed)?;
                if t.is_empty() || t.contains(['(', ')']) {
                    return Err(malformed());
                }
                (s, t.split(',').map(str::to_string).collect())
            }
            None => (body, Vec::new()),
        };
        if size.is_empty() || !size.chars().all(|ch| ch.is_ascii_digit() || ch == '.') {
            return Err(malformed());
        }
        let gb: f64 = size.parse().map_err(|_| malformed())?;
        let bytes = (gb * 1e9) as i64;
        out.push((label, bytes, tags));
    }
    if out.is_empty() {
        return Err(malformed());
    }
    Ok(out)
}

/// The bridge an `interfaces` constraint names (`label:name=br0`, several
/// labels all on one bridge). MAAS matches the host's interfaces by these
/// keys; a libvirt host here is no node, so only `name` (a bridge on the
/// host) is understood, and other keys are refused by name.
pub fn parse_interfaces(value: &str) -> std::result::Result<Option<String>, String> {
    let mut bridge: Option<String> = None;
    for part in value.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((_label, rest)) = part.split_once(':') else {
            return Err(format!("Invalid interfaces constraint: '{part}' (expected label:key=value,...)."));
        };
        for kv in rest.split(',') {
            let Some((k, v)) = kv.split_once('=') else {
                return Err(format!("Invalid interfaces constraint: '{kv}' (expected key=value)."));
            };
            match k.trim() {
                "name" => match &bridge {
                    Some(b) if b != v.trim() => {
                        return Err("All interfaces of a composed machine must be on one host bridge here.".into())
                    }
                    _ => bridge = Some(v.trim().to_string()),
                },
                other => {
                    return Err(format!(
                        "Interface constraint '{other}' is not supported for virsh VM hosts here; use \
                         name=<bridge on the host>."
                    ))
                }
            }
        }
    }
    Ok(bridge)
}

/// A compose checked against the database: what libvirt gets and the node.
#[derive(Debug, Clone)]
struct ComposePlan {
    host: VmHost,
    cores: i64,
    memory: i64,
    arch: String,
    disks: Vec<DiskRequest>,
    bridge: Option<String>,
    interface_count: usize,
    hostname: String,
    domain_id: i64,
    zone_id: i64,
    pool_id: i64,
    skip_commissioning: bool,
}

fn int_field(errors: &mut FieldErrors, field: &str, v: &Option<String>, default: i64, min: i64, max: i64) -> i64 {
    let Some(s) = v.as_deref().map(str::trim).filter(|s| !s.is_empty()) else { return default };
    match s.parse::<i64>() {
        Ok(x) if x < min => {
            errors.insert(field.into(), vec![format!("Ensure this value is greater than or equal to {min}.")]);
            default
        }
        Ok(x) if x > max => {
            errors.insert(field.into(), vec![format!("Ensure this value is less than or equal to {max}.")]);
            default
        }
        Ok(x) => x,
        Err(_) => {
            errors.insert(field.into(), vec!["Enter a whole number.".into()]);
            default
        }
    }
}

fn plan_compose(c: &mut DbConn, actor: &User, key: &str, input: &ComposeInput) -> Result<ComposePlan> {
    require_admin(actor)?;
    let host = by_key(c, key)?;
    let machines = db::vm_hosts::machines_of(c, host.id)?;
    let (used_cores, used_memory, _) = used(&machines);
    let mut errors = FieldErrors::new();
    // MAAS's form bounds are the host's hints (its whole CPU count and
    // memory); what is in use is the over-commit check's business below.
    let cores = int_field(&mut errors, "cores", &input.cores, DEFAULT_CORES, 1, host.cores.max(1));
    let memory = int_field(&mut errors, "memory", &input.memory, DEFAULT_MEMORY, 1024, host.memory.max(1024));
    let archs: Vec<String> = serde_json::from_str(&host.architectures).unwrap_or_default();
    let arch = match input.architecture.as_deref().filter(|a| !a.is_empty()) {
        Some(a) => {
            let bare = a.split('/').next().unwrap_or(a).to_string();
            if !archs.contains(&bare) {
                errors.insert(
                    "architecture".into(),
                    vec![format!("Select a valid choice. {a} is not one of the available choices.")],
                );
            }
            bare
        }
        None => archs.first().cloned().unwrap_or_else(|| "amd64".into()),
    };
    let storage = input.storage.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| DEFAULT_STORAGE.into());
    let disks = match parse_storage(&storage) {
        Ok(d) => d,
        Err(m) => {
            errors.insert("storage".into(), vec![m]);
            Vec::new()
        }
    };
    let bridge = match input.interfaces.as_deref().filter(|s| !s.is_empty()) {
        Some(v) => match parse_interfaces(v) {
            Ok(b) => b,
            Err(m) => {
                errors.insert("interfaces".into(), vec![m]);
                None
            }
        },
        None => None,
    };
    let interface_count =
        input.interfaces.as_deref().map(|v| v.split(';').filter(|p| !p.trim().is_empty()).count()).unwrap_or(0).max(1);
    let domain_id = match resolve_domain(c, input.domain.as_deref().filter(|d| !d.is_empty())) {
        Ok(id) => id,
        Err(Error::Validation(e)) => {
            errors.extend(e);
            engine::defaults::DEFAULT_DOMAIN_ID
        }
        Err(e) => return Err(e),
    };
    let zone = match input.zone.as_deref().filter(|z| !z.is_empty()) {
        Some(z) => zone_id(c, &mut errors, z)?.unwrap_or(engine::defaults::DEFAULT_ZONE_ID),
        None => engine::defaults::DEFAULT_ZONE_ID,
    };
    let pool = match input.pool.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => pool_id(c, &mut errors, p)?.unwrap_or(host.pool_id),
        None => host.pool_id,
    };
    let hostname = match input.hostname.as_deref().filter(|h| !h.is_empty()) {
        Some(h) => match pick_hostname(c, Some(h), domain_id) {
            Ok(h) => h,
            Err(Error::Validation(_)) if db::nodes::hostname_taken(c, h, domain_id, None)? => {
                errors.insert("hostname".into(), vec![format!("Node with hostname \"{h}\" already exists")]);
                String::new()
            }
            Err(Error::Validation(e)) => {
                errors.extend(e);
                String::new()
            }
            Err(e) => return Err(e),
        },
        None => pick_hostname(c, None, domain_id)?,
    };
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    // MAAS's check_over_commit_ratios, in its words (503).
    let mut over = String::new();
    if (host.cores as f64 * host.cpu_over_commit_ratio) - ((used_cores + cores) as f64) < 0.0 {
        over.push_str(&format!(
            "CPU overcommit ratio is {} and there are {} available resources; {} requested.",
            py_float(host.cpu_over_commit_ratio),
            host.cores - used_cores,
            cores
        ));
    }
    if (host.memory as f64 * host.memory_over_commit_ratio) - ((used_memory + memory) as f64) < 0.0 {
        over.push_str(&format!(
            "Memory overcommit ratio is {} and there are {} available resources; {} requested.",
            py_float(host.memory_over_commit_ratio),
            host.memory - used_memory,
            memory
        ));
    }
    if !over.is_empty() {
        return Err(Error::Unavailable(format!("Unable to compose KVM instance in '{}'. {over}", host.name)));
    }
    Ok(ComposePlan {
        host,
        cores,
        memory,
        arch,
        disks,
        bridge,
        interface_count,
        hostname,
        domain_id,
        zone_id: zone,
        pool_id: pool,
        skip_commissioning: input.skip_commissioning,
    })
}

/// Python's `str(float)`: `1.0`, `2.5`.
fn py_float(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

/// MAAS's virsh `get_usable_pool`: a pool named by one of the disk's tags,
/// else the default pool, else the first with room. Errors are MAAS's words.
fn choose_pool(
    disk: &DiskRequest,
    pools: &[ironpool_power::virsh::StoragePool],
    default: Option<&str>,
    taken: &std::collections::HashMap<String, i64>,
) -> std::result::Result<String, String> {
    let room = |p: &ironpool_power::virsh::StoragePool| {
        i64::try_from(p.available).unwrap_or(i64::MAX) - taken.get(&p.name).copied().unwrap_or(0)
    };
    let active: Vec<&ironpool_power::virsh::StoragePool> = pools.iter().filter(|p| p.active).collect();
    let tagged: Vec<&&ironpool_power::virsh::StoragePool> =
        active.iter().filter(|p| disk.2.iter().any(|t| t == &p.name)).collect();
    if !tagged.is_empty() {
        return tagged.iter().find(|p| disk.1 <= room(p)).map(|p| p.name.clone()).ok_or_else(|| {
            format!(
                "Not enough storage space on storage pools: {}",
                tagged.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
            )
        });
    }
    if let Some(d) = default {
        return match active.iter().find(|p| p.name == d) {
            Some(p) if disk.1 <= room(p) => Ok(p.name.clone()),
            Some(p) => Err(format!("Not enough space in default storage pool: {}", p.name)),
            None => Err(format!("Default storage pool '{d}' doesn't exist.")),
        };
    }
    active.iter().find(|p| disk.1 <= room(p)).map(|p| p.name.clone()).ok_or_else(|| {
        format!(
            "Not enough storage space on any storage pools: {}",
            active.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
        )
    })
}

/// A locally administered MAC in QEMU's range no node has.
fn new_mac(c: &mut DbConn, taken: &BTreeSet<String>) -> Result<String> {
    for _ in 0..64 {
        let b: [u8; 3] = rand::random();
        let mac = format!("52:54:00:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2]);
        if !taken.contains(&mac) && db::nodes::node_ids_with_macs(c, std::slice::from_ref(&mac))?.is_empty() {
            return Ok(mac);
        }
    }
    Err(Error::Internal("could not find a free MAC address".into()))
}

/// What compose answers (MAAS: the machine's system_id and resource_uri).
#[derive(Debug, Clone)]
pub struct Composed {
    pub system_id: String,
}

/// `compose`: plan (read), define the domain (libvirt), make the machine
/// (one write; the domain is removed again if that fails), commission.
pub async fn compose(
    db: &Datastore,
    hub: &PowerHub,
    opts: &ComposeOptions,
    actor: User,
    key: String,
    input: ComposeInput,
) -> Result<Composed> {
    let (who, what) = (actor.clone(), input.clone());
    let plan = db
        .run(move |c| {
            let plan = plan_compose(c, &who, &key, &what)?;
            let mut macs = BTreeSet::new();
            for _ in 0..plan.interface_count {
                let m = new_mac(c, &macs)?;
                macs.insert(m);
            }
            Ok((plan, macs.into_iter().collect::<Vec<String>>()))
        })
        .await?;
    let (plan, macs) = plan;
    let (address, pass) = credentials(&plan.host);
    let unable = |m: String| Error::Unavailable(format!("Unable to compose machine because: {m}"));
    let info = hub.virsh.host_info(&address, pass.as_deref()).await.map_err(|e| unable(e.to_string()))?;
    // What the host's machines already hold is not yet written on libvirt's
    // pools when they were composed without being started; count it once
    // more only for disks composed in this call.
    let mut taken = std::collections::HashMap::new();
    let mut disks = Vec::new();
    for d in &plan.disks {
        let pool = choose_pool(d, &info.pools, plan.host.default_storage_pool.as_deref(), &taken).map_err(unable)?;
        *taken.entry(pool.clone()).or_insert(0) += d.1;
        disks.push((pool, d.1));
    }
    let domain = plan.hostname.clone();
    let spec = ironpool_power::virsh::ComposeSpec {
        name: domain.clone(),
        cores: u32::try_from(plan.cores).unwrap_or(1),
        memory_mib: u64::try_from(plan.memory).unwrap_or(1024),
        disks: disks.iter().map(|(p, b)| (p.clone(), u64::try_from(*b).unwrap_or(0))).collect(),
        macs: macs.clone(),
        // Without an interfaces constraint MAAS's virsh driver attaches to
        // the libvirt network "maas", else "default".
        network: if plan.bridge.is_some() { None } else { Some(default_network(hub, &address, pass.as_deref()).await) },
        bridge: plan.bridge.clone(),
        domain_type: if hub.virsh.capabilities(&address, pass.as_deref()).await.map(|c| c.kvm).unwrap_or(false) {
            "kvm".into()
        } else {
            "qemu".into()
        },
        emulator: opts.emulator.clone(),
    };
    hub.virsh.compose(&address, pass.as_deref(), &spec).await.map_err(|e| unable(e.to_string()))?;
    let (plan2, disks2, macs2, domain2) = (plan.clone(), disks.clone(), macs.clone(), domain.clone());
    let made =
        db.write(move |c| make_machine(c, &actor, &plan2, &disks2, &macs2, &domain2, &params_of(&plan2.host))).await;
    match made {
        Ok(sid) => Ok(Composed { system_id: sid }),
        Err(e) => {
            // No machine: the domain must not outlive the failed call.
            if let Err(d) = hub.virsh.decompose(&address, pass.as_deref(), &domain).await {
                tracing::warn!(domain = %domain, error = %d, "could not remove a composed domain after a failure");
            }
            Err(e)
        }
    }
}

/// The libvirt network composed NICs join without an interfaces constraint.
async fn default_network(hub: &PowerHub, address: &str, pass: Option<&str>) -> String {
    let names = hub.virsh.networks(address, pass).await.unwrap_or_default();
    if names.iter().any(|n| n == "maas") {
        "maas".into()
    } else {
        "default".into()
    }
}

fn make_machine(
    c: &mut DbConn,
    actor: &User,
    plan: &ComposePlan,
    disks: &[(String, i64)],
    macs: &[String],
    domain: &str,
    host_params: &PowerParams,
) -> Result<String> {
    let mut params = PowerParams::new();
    params.insert("power_address".into(), host_params.get("power_address").cloned().unwrap_or_default());
    params.insert("power_id".into(), domain.to_string());
    if let Some(p) = host_params.get("power_pass").filter(|p| !p.is_empty()) {
        params.insert("power_pass".into(), p.clone());
    }
    let params = engine::power::validate("virsh", params, false)?;
    let arch = engine::names::normalise_arch(&plan.arch).unwrap_or_else(|| format!("{}/generic", plan.arch));
    let system_id = new_unique_system_id(c)?;
    let base = blank_node(system_id, NodeType::Machine, plan.hostname.clone(), plan.domain_id, plan.zone_id);
    let node = insert_with_macs(
        c,
        &NewNode {
            architecture: Some(arch),
            pool_id: Some(plan.pool_id),
            power_type: "virsh".into(),
            power_parameters: engine::string_map_json(&params),
            netboot: true,
            cpu_count: i32::try_from(plan.cores).unwrap_or(1),
            memory: plan.memory,
            ..base
        },
        macs,
        engine::interfaces::enlistment_vlan(),
    )?;
    db::vm_hosts::link(
        c,
        &VmMachine {
            node_id: node.id,
            vm_host_id: plan.host.id,
            domain: domain.to_string(),
            cores: plan.cores,
            memory: plan.memory,
            disks: serde_json::to_string(disks).map_err(Error::internal)?,
            composed: true,
        },
    )?;
    event(c, &node, &actor.username, level::INFO, "Node created", &format!("Composed on VM host {}", plan.host.name))?;
    if !plan.skip_commissioning {
        // In the same transaction: the machine exists only together with
        // its commissioning request (which powers the domain on).
        engine::nodes::commission::commission(c, actor, &node)?;
    }
    Ok(node.system_id)
}
