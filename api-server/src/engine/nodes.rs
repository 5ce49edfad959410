//! The machine lifecycle: creation, every status-changing operation, owner
//! data, and the permission rules MAAS applies to nodes (`maas-api.md` §5.9,
//! §8). Functions run inside one write transaction (`&mut DbConn`) so an
//! operation, its status change and its event land together or not at all.

use std::collections::BTreeMap;

use serde_json::Value;

use super::lifecycle::{check_transition, NodeType, Status, ABORTABLE, COMMISSIONABLE, RELEASABLE};
use super::names;
use super::power::{self, PowerParams};
use crate::db::events::{self as events_db, NewEvent};
use crate::db::nodes::{self as nodes_db, NewInterface, NewNode, Node, NodeChanges};
use crate::db::users::User;
use crate::db::{places, DbConn};
use crate::error::{Error, Result};

pub const DEFAULT_ZONE_ID: i64 = 1;
pub const DEFAULT_POOL_ID: i64 = 0;
pub const DEFAULT_DOMAIN_ID: i64 = 0;

/// Event levels, MAAS's numbering (logging levels; AUDIT is 0 in MAAS's API).
pub mod level {
    pub const AUDIT: i32 = 0;
    pub const DEBUG: i32 = 10;
    pub const INFO: i32 = 20;
    pub const WARNING: i32 = 30;
    pub const ERROR: i32 = 40;
    pub const CRITICAL: i32 = 50;
}

pub fn status_of(n: &Node) -> Status {
    Status::from_code(n.status).unwrap_or(Status::New)
}

/// Loads a node the caller may view; 404 for unknown, 403 for hidden.
pub fn get_visible(c: &mut DbConn, user: &User, system_id: &str, model: &'static str) -> Result<Node> {
    let n = nodes_db::by_system_id(c, system_id)?.ok_or(Error::NotFound(model))?;
    if !can_view(user, &n) {
        return Err(Error::Forbidden(format!("You don't have permission to view {model} {system_id}.")));
    }
    Ok(n)
}

/// Resolves the system_ids of a bulk operation; any unknown id is a 400
/// naming them all (`Unknown machine(s): …` / `Unknown node(s): …`).
/// `machines_only` limits the lookup to machines.
pub fn resolve_bulk(c: &mut DbConn, ids: &[String], machines_only: bool) -> Result<Vec<Node>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let node_types = if machines_only { vec![NodeType::Machine as i32] } else { Vec::new() };
    let found = nodes_db::list(c, &nodes_db::NodeFilter { ids: Some(ids.to_vec()), node_types, ..Default::default() })?;
    let missing: Vec<&str> =
        ids.iter().filter(|id| !found.iter().any(|n| &n.system_id == *id)).map(String::as_str).collect();
    if !missing.is_empty() {
        let what = if machines_only { "machine(s)" } else { "node(s)" };
        return Err(Error::BadRequest(format!("Unknown {what}: {}.", missing.join(", "))));
    }
    Ok(found)
}

pub fn can_view(user: &User, n: &Node) -> bool {
    user.is_superuser || n.owner_id.is_none() || n.owner_id == Some(user.id)
}

/// MAAS's edit permission: unowned or owned by the caller (or admin), and not
/// locked. A machine owned by someone else is a 409 rather than MAAS's 403,
/// because Juju treats every 403 as a dead credential.
pub fn require_edit(user: &User, n: &Node) -> Result<()> {
    if n.locked {
        return Err(Error::Forbidden(format!("Machine {} is locked; unlock it first.", n.system_id)));
    }
    if !user.is_superuser && n.owner_id.is_some() && n.owner_id != Some(user.id) {
        return Err(Error::Conflict(format!("Machine {} is owned by another user.", n.system_id)));
    }
    Ok(())
}

/// Admin operations on a node that is not locked.
pub fn require_admin(user: &User, n: &Node) -> Result<()> {
    if !user.is_superuser {
        return Err(Error::Forbidden("You don't have permission to do this: administrators only.".into()));
    }
    if n.locked {
        return Err(Error::Forbidden(format!("Machine {} is locked; unlock it first.", n.system_id)));
    }
    Ok(())
}

/// Writes an event for a node and makes it the node's status message.
pub fn event(c: &mut DbConn, n: &Node, actor: &str, lvl: i32, type_name: &str, description: &str) -> Result<()> {
    log_event(c, n, actor, lvl, type_name, description)?;
    if lvl >= level::INFO {
        let message =
            if description.is_empty() { type_name.to_string() } else { format!("{type_name} - {description}") };
        nodes_db::set_status_message(c, n.id, &message, "")?;
    }
    Ok(())
}

/// Writes an event only (callers that set the status message themselves).
pub fn log_event(c: &mut DbConn, n: &Node, actor: &str, lvl: i32, type_name: &str, description: &str) -> Result<()> {
    events_db::insert(
        c,
        &NewEvent {
            node_id: Some(n.id),
            system_id: Some(&n.system_id),
            hostname: &n.hostname,
            username: actor,
            level: lvl,
            type_name,
            action: "",
            description,
            created_at: super::now(),
        },
    )?;
    if lvl >= level::INFO {
        let message =
            if description.is_empty() { type_name.to_string() } else { format!("{type_name} - {description}") };
        nodes_db::set_status_message(c, n.id, &message, "")?;
    }
    Ok(())
}

/// Changes a node's status after checking the transition table, applying
/// `extra` in the same UPDATE, and logs `Node changed status`.
pub fn transition(
    c: &mut DbConn,
    n: &Node,
    to: Status,
    actor: &str,
    note: &str,
    mut extra: NodeChanges,
) -> Result<Node> {
    let from = status_of(n);
    check_transition(from, to)?;
    extra.status = Some(to.code());
    if from != to {
        extra.previous_status = Some(from.code());
    }
    extra.updated_at = Some(super::now());
    // Compare-and-set on the status we read, so two concurrent operations on
    // one machine cannot both succeed.
    if !nodes_db::cas_status(c, n.id, n.status, &extra)? {
        return Err(Error::Conflict(format!(
            "Machine {} changed state while this request ran; retry it.",
            n.system_id
        )));
    }
    let updated = nodes_db::by_system_id(c, &n.system_id)?.ok_or(Error::NotFound("Machine"))?;
    if from != to {
        event(
            c,
            &updated,
            actor,
            level::INFO,
            "Node changed status",
            &format!("From '{}' to '{}'{note}", from.label(), to.label()),
        )?;
    }
    nodes_db::by_system_id(c, &n.system_id)?.ok_or(Error::NotFound("Machine"))
}

/// What `machines/` POST provides.
#[derive(Debug, Clone, Default)]
pub struct MachineInput {
    pub architecture: Option<String>,
    pub mac_addresses: Vec<String>,
    pub hostname: Option<String>,
    pub description: String,
    pub domain: Option<String>,
    pub power_type: String,
    pub power_parameters: PowerParams,
    pub power_skip_check: bool,
    pub min_hwe_kernel: Option<String>,
    pub commission: bool,
    pub deployed: bool,
    pub zone: Option<String>,
    pub pool: Option<String>,
    pub cpu_count: i32,
    pub memory: i64,
}

/// Validates MACs: well-formed, not repeated, not used by another node.
fn check_macs(c: &mut DbConn, raw: &[String]) -> Result<Vec<String>> {
    let mut macs = Vec::new();
    let mut bad = Vec::new();
    for m in raw.iter().flat_map(|m| m.split([',', ' '])).filter(|m| !m.is_empty()) {
        match names::normalise_mac(m) {
            Some(n) if !macs.contains(&n) => macs.push(n),
            Some(_) => {}
            None => bad.push(format!("'{m}' is not a valid MAC address.")),
        }
    }
    if !bad.is_empty() {
        let mut f = crate::error::FieldErrors::new();
        f.insert("mac_addresses".into(), bad);
        return Err(Error::Validation(f));
    }
    let used = nodes_db::node_ids_with_macs(c, &macs)?;
    if let Some((_, mac)) = used.first() {
        return Err(Error::field("mac_addresses", format!("MAC address {mac} already in use.")));
    }
    Ok(macs)
}

fn resolve_zone(c: &mut DbConn, name: Option<&str>) -> Result<i64> {
    match name {
        None => Ok(DEFAULT_ZONE_ID),
        Some(n) => {
            Ok(places::zone_by_name(c, n)?.ok_or_else(|| Error::field("zone", format!("No such zone: '{n}'.")))?.id)
        }
    }
}

fn resolve_pool(c: &mut DbConn, name: Option<&str>) -> Result<i64> {
    match name {
        None => Ok(DEFAULT_POOL_ID),
        Some(n) => {
            let p = match n.parse::<i64>() {
                Ok(id) => places::pool_by_id(c, id)?,
                Err(_) => places::pool_by_name(c, n)?,
            };
            Ok(p.ok_or_else(|| Error::field("pool", format!("No such resource pool: '{n}'.")))?.id)
        }
    }
}

fn resolve_domain(c: &mut DbConn, name: Option<&str>) -> Result<i64> {
    match name {
        None => Ok(DEFAULT_DOMAIN_ID),
        Some(n) => places::domains(c)?
            .into_iter()
            .find(|d| d.name == n || d.id.to_string() == n)
            .map(|d| d.id)
            .ok_or_else(|| Error::field("domain", format!("No such domain: '{n}'."))),
    }
}

/// Picks a free hostname in the domain: the requested one (validated, 400 if
/// taken) or a generated petname.
fn pick_hostname(c: &mut DbConn, requested: Option<&str>, domain_id: i64) -> Result<String> {
    if let Some(h) = requested {
        // A FQDN's first label is the hostname; the rest must be the domain.
        let short = h.split('.').next().unwrap_or(h);
        names::validate_hostname(short)?;
        if nodes_db::hostname_taken(c, short, domain_id, None)? {
            return Err(Error::field("hostname", format!("Node with this hostname '{short}' already exists.")));
        }
        return Ok(short.to_string());
    }
    for attempt in 0..64 {
        let mut h = names::petname();
        if attempt >= 16 {
            h = format!("{h}-{}", &names::new_system_id()[..4]);
        }
        if !nodes_db::hostname_taken(c, &h, domain_id, None)? {
            return Ok(h);
        }
    }
    Err(Error::Internal("could not find a free hostname".into()))
}

fn new_unique_system_id(c: &mut DbConn) -> Result<String> {
    for _ in 0..32 {
        let id = names::new_system_id();
        if !nodes_db::system_id_exists(c, &id)? {
            return Ok(id);
        }
    }
    Err(Error::Internal("could not find a free system_id".into()))
}

fn default_hardware_info() -> String {
    let keys = [
        "system_vendor",
        "system_product",
        "system_family",
        "system_version",
        "system_sku",
        "system_serial",
        "cpu_model",
        "mainboard_vendor",
        "mainboard_product",
        "mainboard_serial",
        "mainboard_version",
        "mainboard_firmware_vendor",
        "mainboard_firmware_date",
        "mainboard_firmware_version",
        "chassis_vendor",
        "chassis_type",
        "chassis_serial",
        "chassis_version",
    ];
    let m: BTreeMap<&str, &str> = keys.iter().map(|k| (*k, "Unknown")).collect();
    serde_json::to_string(&m).expect("map serialises")
}

/// A node row with every field at its default (unowned, NEW, manual power).
fn blank_node(system_id: String, node_type: NodeType, hostname: String, domain_id: i64, zone_id: i64) -> NewNode {
    let now = super::now();
    NewNode {
        system_id,
        node_type: node_type as i32,
        hostname,
        description: String::new(),
        domain_id,
        architecture: None,
        min_hwe_kernel: None,
        hwe_kernel: None,
        cpu_count: 0,
        cpu_speed: 0,
        memory: 0,
        swap_size: None,
        status: Status::New.code(),
        previous_status: Status::New.code(),
        status_message: None,
        status_action: None,
        error_description: String::new(),
        owner_id: None,
        agent_name: String::new(),
        owner_data: "{}".into(),
        zone_id,
        pool_id: None,
        osystem: String::new(),
        distro_series: String::new(),
        power_type: String::new(),
        power_parameters: "{}".into(),
        power_state: "unknown".into(),
        netboot: false,
        locked: false,
        ephemeral_deploy: false,
        enable_hw_sync: false,
        enable_kernel_crash_dump: false,
        hardware_info: default_hardware_info(),
        parent_id: None,
        created_at: now,
        updated_at: now,
    }
}

/// Inserts a node and one physical interface per MAC (`eth0` boots).
fn insert_with_macs(c: &mut DbConn, new: &NewNode, macs: &[String], vlan_id: Option<i64>) -> Result<Node> {
    let node = nodes_db::insert(c, new)?;
    for (i, mac) in macs.iter().enumerate() {
        nodes_db::insert_interface(
            c,
            &NewInterface {
                node_id: node.id,
                name: format!("eth{i}"),
                iftype: "physical".into(),
                mac_address: Some(mac.clone()),
                enabled: true,
                is_boot: i == 0,
                vlan_id,
                params: "{}".into(),
                tags: "[]".into(),
                link_connected: true,
                interface_speed: 0,
                link_speed: 0,
                created_at: new.created_at,
            },
        )?;
    }
    Ok(node)
}

/// Creates the node of a newly registered rack controller with one
/// physical interface per MAC. The rack's own hostname is kept when it is
/// valid and free, otherwise a suffix makes it unique (a rack must always
/// be able to register).
pub fn create_rack_node(c: &mut DbConn, hostname: &str, macs: &[String]) -> Result<Node> {
    let short = hostname.split('.').next().unwrap_or(hostname).to_ascii_lowercase();
    let base = if names::validate_hostname(&short).is_ok() { short } else { "rack".to_string() };
    let mut name = base.clone();
    let mut i = 1;
    while nodes_db::hostname_taken(c, &name, DEFAULT_DOMAIN_ID, None)? {
        i += 1;
        name = format!("{base}-{i}");
    }
    let system_id = new_unique_system_id(c)?;
    let new = blank_node(system_id, NodeType::RackController, name, DEFAULT_DOMAIN_ID, DEFAULT_ZONE_ID);
    let node = insert_with_macs(c, &new, macs, None)?;
    log_event(c, &node, "", level::INFO, "Rack controller registered", "")?;
    Ok(node)
}

/// What `devices/` POST and PUT accept.
#[derive(Debug, Clone, Default)]
pub struct DeviceInput {
    pub hostname: Option<String>,
    pub description: Option<String>,
    pub domain: Option<String>,
    pub zone: Option<String>,
    /// system_id of the parent node; `Some("")` clears it.
    pub parent: Option<String>,
    pub mac_addresses: Vec<String>,
}

fn resolve_parent(c: &mut DbConn, user: &User, sid: &str) -> Result<Option<i64>> {
    if sid.trim().is_empty() {
        return Ok(None);
    }
    let p = nodes_db::by_system_id(c, sid.trim())?
        .filter(|p| can_view(user, p))
        .ok_or_else(|| Error::field("parent", format!("Unknown node '{sid}'.")))?;
    Ok(Some(p.id))
}

/// Creates a device owned by `actor`: a host Ironpool does not manage
/// (a container, an appliance) that gets interfaces and addresses.
pub fn create_device(c: &mut DbConn, actor: &User, input: DeviceInput) -> Result<Node> {
    let macs = if input.mac_addresses.iter().all(|m| m.trim().is_empty()) {
        Vec::new()
    } else {
        check_macs(c, &input.mac_addresses)?
    };
    let domain_id = resolve_domain(c, input.domain.as_deref())?;
    let zone_id = resolve_zone(c, input.zone.as_deref())?;
    let parent_id = match &input.parent {
        Some(p) => resolve_parent(c, actor, p)?,
        None => None,
    };
    let hostname = pick_hostname(c, input.hostname.as_deref().filter(|h| !h.is_empty()), domain_id)?;
    let system_id = new_unique_system_id(c)?;
    let base = blank_node(system_id, NodeType::Device, hostname, domain_id, zone_id);
    let new =
        NewNode { description: input.description.unwrap_or_default(), owner_id: Some(actor.id), parent_id, ..base };
    // Device interfaces start disconnected: the caller names their VLAN
    // (Juju sets it from the subnet before linking).
    let node = insert_with_macs(c, &new, &macs, None)?;
    log_event(c, &node, &actor.username, level::INFO, "Node created", "Device")?;
    Ok(node)
}

/// Owners and admins change devices.
pub fn require_device_owner(actor: &User, n: &Node) -> Result<()> {
    if actor.is_superuser || n.owner_id == Some(actor.id) {
        Ok(())
    } else {
        Err(Error::Forbidden("Only the device's owner or an administrator can change it.".into()))
    }
}

pub fn update_device(c: &mut DbConn, actor: &User, n: &Node, input: DeviceInput) -> Result<Node> {
    require_device_owner(actor, n)?;
    let mut ch = NodeChanges { updated_at: Some(super::now()), ..Default::default() };
    let domain_id = match &input.domain {
        Some(d) => resolve_domain(c, Some(d))?,
        None => n.domain_id,
    };
    ch.domain_id = Some(domain_id);
    if let Some(h) = input.hostname.filter(|h| !h.is_empty()) {
        names::validate_hostname(&h)?;
        if nodes_db::hostname_taken(c, &h, domain_id, Some(n.id))? {
            return Err(Error::field("hostname", format!("Node with this hostname '{h}' already exists.")));
        }
        ch.hostname = Some(h);
    }
    ch.description = input.description;
    if let Some(z) = &input.zone {
        ch.zone_id = Some(resolve_zone(c, Some(z))?);
    }
    if let Some(p) = &input.parent {
        let pid = resolve_parent(c, actor, p)?;
        if pid == Some(n.id) {
            return Err(Error::field("parent", "A device cannot be its own parent."));
        }
        ch.parent_id = Some(pid);
    }
    nodes_db::update(c, n.id, &ch)
}

pub fn delete_device(c: &mut DbConn, actor: &User, n: &Node) -> Result<()> {
    require_device_owner(actor, n)?;
    nodes_db::delete(c, n.id)
}

/// Creates a machine (`machines/` POST). `actor` is `None` for anonymous
/// enlistment. Admins with `commission` start commissioning at once; others
/// (and `commission=false`) leave it NEW; `deployed=true` registers a running
/// machine as DEPLOYED, owned by the caller.
pub fn create_machine(c: &mut DbConn, actor: Option<&User>, input: MachineInput) -> Result<Node> {
    let mut errors = crate::error::FieldErrors::new();
    let arch = match input.architecture.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        None => {
            errors.insert("architecture".into(), vec!["This field is required.".into()]);
            None
        }
        Some(a) => match names::normalise_arch(a) {
            Some(a) => Some(a),
            None => {
                errors.insert(
                    "architecture".into(),
                    vec![format!(
                        "'{a}' is not a valid architecture. It should be one of: {}.",
                        names::ARCHES.iter().map(|a| format!("{a}/generic")).collect::<Vec<_>>().join(", ")
                    )],
                );
                None
            }
        },
    };
    if input.mac_addresses.iter().all(|m| m.trim().is_empty()) {
        errors.insert("mac_addresses".into(), vec!["This field is required.".into()]);
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let macs = check_macs(c, &input.mac_addresses)?;
    let params = power::validate(&input.power_type, input.power_parameters, input.power_skip_check)?;
    let domain_id = resolve_domain(c, input.domain.as_deref())?;
    let zone_id = resolve_zone(c, input.zone.as_deref())?;
    let pool_id = resolve_pool(c, input.pool.as_deref())?;
    let hostname = pick_hostname(c, input.hostname.as_deref().filter(|h| !h.is_empty()), domain_id)?;
    let is_admin = actor.is_some_and(|u| u.is_superuser);
    let status = if input.deployed { Status::Deployed } else { Status::New };
    let system_id = new_unique_system_id(c)?;
    let base = blank_node(system_id, NodeType::Machine, hostname, domain_id, zone_id);
    let node = insert_with_macs(
        c,
        &NewNode {
            description: input.description,
            architecture: arch,
            min_hwe_kernel: input.min_hwe_kernel,
            cpu_count: input.cpu_count,
            memory: input.memory,
            status: status.code(),
            owner_id: if input.deployed { actor.map(|u| u.id) } else { None },
            pool_id: Some(pool_id),
            power_type: input.power_type,
            power_parameters: serde_json::to_string(&params).expect("params serialise"),
            netboot: !input.deployed,
            ..base
        },
        &macs,
        super::interfaces::enlistment_vlan(),
    )?;
    let actor_name = actor.map(|u| u.username.as_str()).unwrap_or("anonymous");
    event(
        c,
        &node,
        actor_name,
        level::INFO,
        "Node created",
        if input.deployed { "Registered as deployed" } else { "" },
    )?;
    let node = nodes_db::by_system_id(c, &node.system_id)?.ok_or(Error::NotFound("Machine"))?;
    // Every machine gets its metadata token now (MAAS: one per node).
    super::metadata::ensure_token(c, &node)?;
    if input.commission && is_admin && !input.deployed {
        return start_commissioning(c, actor.expect("admin"), &node, "");
    }
    let enlist_commissioning = crate::db::config::get(c, "enlist_commissioning")?.as_deref() != Some("false");
    if input.commission && actor.is_none() && !input.deployed && enlist_commissioning {
        // Anonymous enlistment from a booted ephemeral environment: it is
        // already running, so commissioning starts without a power action,
        // and a success returns it to NEW (awaiting `accept`).
        let enlisting = NodeChanges { enlisting: Some(true), ..Default::default() };
        return enter_timed(c, &node, Status::Commissioning, actor_name, " (enlistment)", enlisting);
    }
    Ok(node)
}

fn config_minutes(c: &mut DbConn, name: &str) -> Option<i64> {
    crate::db::config::get(c, name)
        .ok()
        .flatten()
        .and_then(|v| v.trim_matches('"').parse::<i64>().ok())
        .filter(|m| *m > 0)
}

/// How long a machine may stay in an in-progress status before it is failed:
/// the per-phase setting (`commissioning_timeout`, `deploying_timeout`,
/// `releasing_timeout`) when set, else MAAS's rule (`node_timeout`, default
/// 30 minutes; releasing and exiting rescue mode 5 minutes). Read from the
/// database so every region sharing it applies the same limits.
pub fn timeout_minutes(c: &mut DbConn, status: Status) -> i64 {
    let specific = match status {
        Status::Commissioning => config_minutes(c, "commissioning_timeout"),
        Status::Deploying => config_minutes(c, "deploying_timeout"),
        Status::Releasing | Status::DiskErasing => config_minutes(c, "releasing_timeout"),
        _ => None,
    };
    specific.unwrap_or_else(|| match status {
        Status::Releasing | Status::ExitingRescueMode => 5,
        _ => config_minutes(c, "node_timeout").unwrap_or(30),
    })
}

/// Enters an in-progress status with a deadline: a durable job moves the node
/// to the failed counterpart if it is still there when the deadline passes.
pub(crate) fn enter_timed(
    c: &mut DbConn,
    n: &Node,
    to: Status,
    actor: &str,
    note: &str,
    mut extra: NodeChanges,
) -> Result<Node> {
    let minutes = timeout_minutes(c, to);
    let deadline = super::now() + chrono::Duration::minutes(minutes);
    extra.status_expires_at = Some(Some(deadline));
    let node = transition(c, n, to, actor, note, extra)?;
    super::jobs::enqueue(
        c,
        super::jobs::STATUS_TIMEOUT,
        Some(node.id),
        serde_json::json!({"status": to.code(), "minutes": minutes}),
        deadline,
    )?;
    Ok(node)
}

/// Pushes an in-progress status's deadline out by its full timeout (the
/// machine just reported progress). The pending timeout job sees the later
/// deadline and re-arms itself instead of failing the machine.
pub(crate) fn extend_deadline(c: &mut DbConn, n: &Node) -> Result<()> {
    if n.status_expires_at.is_none() {
        return Ok(());
    }
    let deadline = super::now() + chrono::Duration::minutes(timeout_minutes(c, status_of(n)));
    nodes_db::update(c, n.id, &NodeChanges { status_expires_at: Some(Some(deadline)), ..Default::default() })?;
    Ok(())
}

fn start_commissioning(c: &mut DbConn, actor: &User, n: &Node, _comment: &str) -> Result<Node> {
    // An admin commissioning (or accepting) a machine takes it out of
    // enlistment; the new run's results replace the old ones.
    crate::db::metadata::clear_phase(c, n.id, Status::Commissioning.code())?;
    super::metadata::ensure_token(c, n)?;
    let changes = NodeChanges { enlisting: Some(false), netboot: Some(true), ..Default::default() };
    let node = enter_timed(c, n, Status::Commissioning, &actor.username, "", changes)?;
    request_power(c, &node, &actor.username, power::PowerAction::On)?;
    nodes_db::by_system_id(c, &n.system_id)?.ok_or(Error::NotFound("Machine"))
}

/// `commission` (admin): from the commissionable statuses, with a power type.
pub fn commission(c: &mut DbConn, actor: &User, n: &Node) -> Result<Node> {
    require_admin(actor, n)?;
    let st = status_of(n);
    if !COMMISSIONABLE.contains(&st) {
        return Err(Error::Conflict(format!(
            "Machine cannot be commissioned in its current state ('{}').",
            st.label()
        )));
    }
    if n.power_type.is_empty() {
        return Err(Error::Conflict(
            "Machine cannot be commissioned: it has no power type. Set one (power_type=manual at least) first.".into(),
        ));
    }
    start_commissioning(c, actor, n, "")
}

/// The commissioning environment reported success: inventory done, READY
/// (NEW again for machines enlisted but never accepted).
pub fn complete_commissioning(c: &mut DbConn, n: &Node, actor: &str) -> Result<Node> {
    if status_of(n) != Status::Commissioning {
        return Err(wrong_state("complete commissioning of", n));
    }
    let to = if n.enlisting { Status::New } else { Status::Ready };
    super::interfaces::initial_links(c, n)?;
    let node = transition(
        c,
        n,
        to,
        actor,
        "",
        NodeChanges { status_expires_at: Some(None), enlisting: Some(false), ..Default::default() },
    )?;
    super::storage::apply_default_layout(c, &node)?;
    Ok(node)
}

/// `accept` (admin): NEW machines start commissioning; others are skipped.
pub fn accept(c: &mut DbConn, actor: &User, n: &Node) -> Result<Option<Node>> {
    require_admin(actor, n)?;
    if status_of(n) != Status::New {
        return Ok(None);
    }
    start_commissioning(c, actor, n, "").map(Some)
}

fn wrong_state(what: &str, n: &Node) -> Error {
    Error::Conflict(format!("Cannot {what} a machine in the '{}' state.", status_of(n).label()))
}

/// What `deploy` accepts.
#[derive(Debug, Clone, Default)]
pub struct DeployInput {
    pub osystem: String,
    pub distro_series: String,
    pub hwe_kernel: Option<String>,
    pub user_data: Option<Vec<u8>>,
    pub agent_name: Option<String>,
    pub comment: String,
    pub ephemeral_deploy: bool,
    pub enable_hw_sync: bool,
    pub enable_kernel_crash_dump: bool,
}

/// `deploy`: READY machines are allocated to the caller on the fly; the
/// machine must then move ALLOCATED → DEPLOYING.
pub fn deploy(c: &mut DbConn, actor: &User, n: &Node, input: DeployInput) -> Result<Node> {
    require_edit(actor, n)?;
    let mut node = n.clone();
    if status_of(&node) == Status::Ready {
        node = allocate_to(c, actor, &node, input.agent_name.as_deref().unwrap_or(""), &input.comment)?;
    }
    if status_of(&node) != Status::Allocated {
        return Err(Error::Conflict(format!(
            "Can't deploy a machine that is in the '{}' state",
            status_of(&node).label()
        )));
    }
    if node.owner_id != Some(actor.id) && !actor.is_superuser {
        return Err(Error::Conflict(format!("Machine {} is owned by another user.", node.system_id)));
    }
    let mut changes = NodeChanges {
        osystem: Some(input.osystem),
        distro_series: Some(input.distro_series),
        hwe_kernel: Some(input.hwe_kernel),
        ephemeral_deploy: Some(input.ephemeral_deploy),
        enable_hw_sync: Some(input.enable_hw_sync),
        enable_kernel_crash_dump: Some(input.enable_kernel_crash_dump),
        ..Default::default()
    };
    if let Some(ud) = input.user_data {
        changes.user_data = Some(Some(ud));
    }
    if let Some(a) = input.agent_name.filter(|a| !a.is_empty()) {
        changes.agent_name = Some(a);
    }
    let node = enter_timed(c, &node, Status::Deploying, &actor.username, "", changes)?;
    // AUTO links get their addresses now; exhaustion (503) rolls back the
    // whole deploy, so the machine stays Allocated with nothing half-done.
    super::interfaces::claim_auto_ips(c, &node)?;
    request_power(c, &node, &actor.username, power::PowerAction::On)?;
    nodes_db::by_system_id(c, &n.system_id)?.ok_or(Error::NotFound("Machine"))
}

/// The deployed OS reported success.
pub fn complete_deployment(c: &mut DbConn, n: &Node, actor: &str) -> Result<Node> {
    if status_of(n) != Status::Deploying {
        return Err(wrong_state("complete deployment of", n));
    }
    transition(
        c,
        n,
        Status::Deployed,
        actor,
        "",
        NodeChanges {
            status_expires_at: Some(None),
            netboot: Some(false),
            power_state: Some("on".into()),
            ..Default::default()
        },
    )
}

/// READY → ALLOCATED to `actor` (used by allocate and by deploy-from-READY).
pub fn allocate_to(c: &mut DbConn, actor: &User, n: &Node, agent_name: &str, comment: &str) -> Result<Node> {
    let note = format!(" (to {})", actor.username);
    let node = transition(
        c,
        n,
        Status::Allocated,
        &actor.username,
        &note,
        NodeChanges { owner_id: Some(Some(actor.id)), agent_name: Some(agent_name.to_string()), ..Default::default() },
    )?;
    if !comment.is_empty() {
        event(c, &node, &actor.username, level::INFO, "User acquiring node", comment)?;
    }
    nodes_db::by_system_id(c, &n.system_id)?.ok_or(Error::NotFound("Machine"))
}

/// Release options.
#[derive(Debug, Clone, Default)]
pub struct ReleaseInput {
    pub erase: bool,
    pub secure_erase: bool,
    pub quick_erase: bool,
    pub force: bool,
    pub comment: String,
}

/// Whether `release` would act (false for READY/RELEASING no-ops); errors for
/// statuses that cannot be released.
pub fn check_releasable(n: &Node) -> Result<bool> {
    let st = status_of(n);
    if matches!(st, Status::Ready | Status::Releasing) {
        return Ok(false);
    }
    if !RELEASABLE.contains(&st) {
        return Err(Error::Conflict(format!("Machine cannot be released in its current state ('{}').", st.label())));
    }
    Ok(true)
}

/// `release`: back towards READY, erasing disks when asked (or configured).
pub fn release(c: &mut DbConn, actor: &User, n: &Node, input: ReleaseInput) -> Result<Node> {
    if n.locked {
        return Err(Error::Forbidden(format!("Machine {} is locked; unlock it before releasing.", n.system_id)));
    }
    require_edit(actor, n)?;
    if !check_releasable(n)? {
        return Ok(n.clone());
    }
    if !input.comment.is_empty() {
        event(c, n, &actor.username, level::INFO, "Releasing node", &input.comment)?;
    }
    let erase_config = crate::db::config::get(c, "enable_disk_erasing_on_release")?.as_deref() == Some("true");
    if input.erase || input.secure_erase || input.quick_erase || erase_config {
        let mode = if input.secure_erase {
            "secure"
        } else if input.quick_erase {
            "quick"
        } else {
            "full"
        };
        let node = enter_timed(
            c,
            n,
            Status::DiskErasing,
            &actor.username,
            &format!(" ({mode} erase)"),
            // The erase runs in the ephemeral environment: network boot, and
            // cycle rather than "on" since a deployed machine is running.
            NodeChanges { netboot: Some(true), erase_mode: Some(mode.to_string()), ..Default::default() },
        )?;
        request_power(c, &node, &actor.username, power::PowerAction::Cycle)?;
        return nodes_db::by_system_id(c, &n.system_id)?.ok_or(Error::NotFound("Machine"));
    }
    let node = transition(c, n, Status::Releasing, &actor.username, "", NodeChanges::default())?;
    if power::region_can_drive(&node.power_type) {
        // Nothing to power off that we control: the release completes now.
        finish_release(c, &node, &actor.username)
    } else {
        let node = enter_timed(c, &node, Status::Releasing, &actor.username, "", NodeChanges::default())?;
        super::jobs::enqueue(
            c,
            super::jobs::POWER,
            Some(node.id),
            serde_json::json!({"action": power::PowerAction::Off.as_str(), "then": "finish_release"}),
            super::now(),
        )?;
        Ok(node)
    }
}

/// What the owner held goes back: AUTO addresses to the pool, and the
/// filesystems made on the Allocated machine (MAAS's acquired filesystems;
/// the layout made while Ready stays).
fn release_resources(c: &mut DbConn, n: &Node) -> Result<()> {
    super::interfaces::release_auto_ips(c, n)?;
    crate::db::storage::delete_acquired_filesystems(c, n.id)?;
    Ok(())
}

/// Completes a release: READY, and everything the owner set is cleared.
pub fn finish_release(c: &mut DbConn, n: &Node, actor: &str) -> Result<Node> {
    release_resources(c, n)?;
    transition(c, n, Status::Ready, actor, "", released_changes())
}

fn released_changes() -> NodeChanges {
    NodeChanges {
        owner_id: Some(None),
        agent_name: Some(String::new()),
        owner_data: Some("{}".into()),
        osystem: Some(String::new()),
        distro_series: Some(String::new()),
        hwe_kernel: Some(None),
        user_data: Some(None),
        netboot: Some(true),
        ephemeral_deploy: Some(false),
        status_expires_at: Some(None),
        ..Default::default()
    }
}

/// `abort`: stops commissioning, deploying, erasing or testing.
pub fn abort(c: &mut DbConn, actor: &User, n: &Node, comment: &str) -> Result<Node> {
    require_edit(actor, n)?;
    let st = status_of(n);
    if !ABORTABLE.contains(&st) {
        return Err(Error::Conflict(format!("Node cannot be aborted in its current state ('{}').", st.label())));
    }
    let prev = Status::from_code(n.previous_status).unwrap_or(Status::New);
    let to = match st {
        Status::Deploying => Status::Allocated,
        Status::DiskErasing => Status::FailedDiskErasing,
        _ => prev,
    };
    if !comment.is_empty() {
        event(c, n, &actor.username, level::INFO, "Aborting", comment)?;
    }
    let node =
        transition(c, n, to, &actor.username, "", NodeChanges { status_expires_at: Some(None), ..Default::default() })?;
    request_power(c, &node, &actor.username, power::PowerAction::Off)?;
    nodes_db::by_system_id(c, &n.system_id)?.ok_or(Error::NotFound("Machine"))
}

/// `mark_broken`: the owner (or an admin, for unowned machines) marks it BROKEN.
pub fn mark_broken(c: &mut DbConn, actor: &User, n: &Node, comment: &str) -> Result<Node> {
    match n.owner_id {
        Some(owner) if owner != actor.id => {
            return Err(Error::Forbidden("Only the machine's owner can mark it broken.".into()));
        }
        None if !actor.is_superuser => {
            return Err(Error::Forbidden("Only an administrator can mark an unowned machine broken.".into()));
        }
        _ => {}
    }
    let st = status_of(n);
    let mut changes = NodeChanges {
        error_description: Some(comment.to_string()),
        status_expires_at: Some(None),
        ..Default::default()
    };
    // A deployed machine keeps its owner so mark_fixed can return it to
    // DEPLOYED; anything else releasable is released first.
    if st != Status::Deployed && RELEASABLE.contains(&st) {
        let r = released_changes();
        changes.owner_id = r.owner_id;
        changes.agent_name = r.agent_name;
        changes.owner_data = r.owner_data;
        changes.osystem = r.osystem;
        changes.distro_series = r.distro_series;
        changes.hwe_kernel = r.hwe_kernel;
        changes.user_data = r.user_data;
        release_resources(c, n)?;
    }
    transition(c, n, Status::Broken, &actor.username, "", changes)
}

/// `mark_fixed` (admin): BROKEN → READY, or DEPLOYED if it was deployed.
pub fn mark_fixed(c: &mut DbConn, actor: &User, n: &Node, _comment: &str) -> Result<Node> {
    require_admin(actor, n)?;
    if status_of(n) != Status::Broken {
        return Err(Error::Conflict(format!(
            "Can't mark a machine as fixed: it is '{}', not 'Broken'.",
            status_of(n).label()
        )));
    }
    let to = if n.previous_status == Status::Deployed.code() { Status::Deployed } else { Status::Ready };
    let extra = if to == Status::Ready { released_changes() } else { NodeChanges::default() };
    if to == Status::Ready {
        release_resources(c, n)?;
    }
    transition(c, n, to, &actor.username, "", NodeChanges { error_description: Some(String::new()), ..extra })
}

/// `override_failed_testing` (admin): FAILED_TESTING → READY or DEPLOYED.
pub fn override_failed_testing(c: &mut DbConn, actor: &User, n: &Node) -> Result<Node> {
    require_admin(actor, n)?;
    if status_of(n) != Status::FailedTesting {
        return Err(Error::Conflict(format!(
            "Unable to override failed testing: the machine is '{}', not 'Failed testing'.",
            status_of(n).label()
        )));
    }
    let to = if n.osystem.is_empty() { Status::Ready } else { Status::Deployed };
    transition(c, n, to, &actor.username, "", NodeChanges::default())
}

/// `rescue_mode` (admin).
pub fn rescue_mode(c: &mut DbConn, actor: &User, n: &Node) -> Result<Node> {
    require_admin(actor, n)?;
    if n.power_type.is_empty() {
        return Err(Error::Conflict("Machine cannot enter rescue mode: it has no power type.".into()));
    }
    let node = enter_timed(c, n, Status::EnteringRescueMode, &actor.username, "", NodeChanges::default())?;
    request_power(c, &node, &actor.username, power::PowerAction::Cycle)?;
    nodes_db::by_system_id(c, &n.system_id)?.ok_or(Error::NotFound("Machine"))
}

/// `exit_rescue_mode` (admin): back to the status held before rescue mode.
pub fn exit_rescue_mode(c: &mut DbConn, actor: &User, n: &Node) -> Result<Node> {
    require_admin(actor, n)?;
    let st = status_of(n);
    if !matches!(
        st,
        Status::RescueMode
            | Status::EnteringRescueMode
            | Status::FailedEnteringRescueMode
            | Status::FailedExitingRescueMode
    ) {
        return Err(Error::Conflict(format!("Machine is not in rescue mode ('{}').", st.label())));
    }
    // The status before rescue mode: walk past the rescue statuses themselves.
    let before = if matches!(
        Status::from_code(n.previous_status),
        Some(
            Status::RescueMode
                | Status::EnteringRescueMode
                | Status::FailedEnteringRescueMode
                | Status::ExitingRescueMode
        )
    ) {
        Status::Ready
    } else {
        Status::from_code(n.previous_status).unwrap_or(Status::Ready)
    };
    let node = transition(c, n, Status::ExitingRescueMode, &actor.username, "", NodeChanges::default())?;
    // Remember where to return in previous_status of the exiting step.
    let node =
        nodes_db::update(c, node.id, &NodeChanges { previous_status: Some(before.code()), ..Default::default() })?;
    if power::region_can_drive(&node.power_type) {
        transition(
            c,
            &node,
            before,
            &actor.username,
            "",
            NodeChanges { status_expires_at: Some(None), ..Default::default() },
        )
    } else {
        let action = if before == Status::Deployed { power::PowerAction::Cycle } else { power::PowerAction::Off };
        enter_timed(c, &node, Status::ExitingRescueMode, &actor.username, "", NodeChanges::default())?;
        request_power(c, &node, &actor.username, action)?;
        nodes_db::by_system_id(c, &n.system_id)?.ok_or(Error::NotFound("Machine"))
    }
}

/// `lock`: only DEPLOYED or DEPLOYING machines.
pub fn lock(c: &mut DbConn, actor: &User, n: &Node, comment: &str) -> Result<Node> {
    if n.locked {
        return Err(Error::Conflict("Machine is already locked".into()));
    }
    if !actor.is_superuser && n.owner_id != Some(actor.id) {
        return Err(Error::Forbidden("Only the machine's owner or an administrator can lock it.".into()));
    }
    if !matches!(status_of(n), Status::Deployed | Status::Deploying) {
        return Err(Error::Conflict(format!(
            "Can't lock a machine in the '{}' state: only deployed or deploying machines can be locked.",
            status_of(n).label()
        )));
    }
    let node = nodes_db::update(
        c,
        n.id,
        &NodeChanges { locked: Some(true), updated_at: Some(super::now()), ..Default::default() },
    )?;
    event(c, &node, &actor.username, level::INFO, "Node locked", comment)?;
    nodes_db::by_system_id(c, &n.system_id)?.ok_or(Error::NotFound("Machine"))
}

pub fn unlock(c: &mut DbConn, actor: &User, n: &Node, comment: &str) -> Result<Node> {
    if !n.locked {
        return Err(Error::Conflict("Machine is not locked".into()));
    }
    if !actor.is_superuser && n.owner_id != Some(actor.id) {
        return Err(Error::Forbidden("Only the machine's owner or an administrator can unlock it.".into()));
    }
    let node = nodes_db::update(
        c,
        n.id,
        &NodeChanges { locked: Some(false), updated_at: Some(super::now()), ..Default::default() },
    )?;
    event(c, &node, &actor.username, level::INFO, "Node unlocked", comment)?;
    nodes_db::by_system_id(c, &n.system_id)?.ok_or(Error::NotFound("Machine"))
}

/// `power_on`: the machine must be owned; from ALLOCATED it starts a deploy.
pub fn power_on(c: &mut DbConn, actor: &User, n: &Node, deploy_input: DeployInput) -> Result<Node> {
    require_edit(actor, n)?;
    if n.owner_id.is_none() {
        return Err(Error::Conflict("Can't start node: it hasn't been allocated.".into()));
    }
    if status_of(n) == Status::Allocated {
        return deploy(c, actor, n, deploy_input);
    }
    request_power(c, n, &actor.username, power::PowerAction::On)?;
    nodes_db::by_system_id(c, &n.system_id)?.ok_or(Error::NotFound("Machine"))
}

pub fn power_off(c: &mut DbConn, actor: &User, n: &Node) -> Result<Node> {
    require_edit(actor, n)?;
    request_power(c, n, &actor.username, power::PowerAction::Off)?;
    nodes_db::by_system_id(c, &n.system_id)?.ok_or(Error::NotFound("Machine"))
}

/// Queues a power action as a durable job (drivers run outside the request).
pub fn request_power(c: &mut DbConn, n: &Node, actor: &str, action: power::PowerAction) -> Result<()> {
    let title = match action {
        power::PowerAction::On => "Powering on",
        power::PowerAction::Off => "Powering off",
        power::PowerAction::Cycle => "Power cycling",
        power::PowerAction::Query => "Querying power state",
    };
    event(c, n, actor, level::DEBUG, title, "")?;
    super::jobs::enqueue(
        c,
        super::jobs::POWER,
        Some(n.id),
        serde_json::json!({"action": action.as_str()}),
        super::now(),
    )
}

/// `set_owner_data` / `set_workload_annotations`: merge; empty value deletes.
pub fn set_owner_data(c: &mut DbConn, actor: &User, n: &Node, pairs: &[(String, String)]) -> Result<Node> {
    if n.owner_id != Some(actor.id) {
        return Err(Error::Conflict(format!(
            "Can't set owner data on machine {}: you don't own it (allocate it first).",
            n.system_id
        )));
    }
    let mut data: BTreeMap<String, String> = serde_json::from_str(&n.owner_data).unwrap_or_default();
    for (k, v) in pairs {
        if v.is_empty() {
            data.remove(k);
        } else {
            data.insert(k.clone(), v.clone());
        }
    }
    nodes_db::update(
        c,
        n.id,
        &NodeChanges {
            owner_data: Some(serde_json::to_string(&data).expect("map")),
            updated_at: Some(super::now()),
            ..Default::default()
        },
    )
}

/// The decoded power parameters (admin eyes only).
pub fn power_parameters(n: &Node) -> Value {
    serde_json::from_str(&n.power_parameters).unwrap_or_else(|_| serde_json::json!({}))
}

/// What `machines/{id}/` PUT may change (admin).
#[derive(Debug, Clone, Default)]
pub struct MachineUpdate {
    pub hostname: Option<String>,
    pub description: Option<String>,
    pub domain: Option<String>,
    pub architecture: Option<String>,
    pub min_hwe_kernel: Option<String>,
    pub power_type: Option<String>,
    pub power_parameters: PowerParams,
    pub power_skip_check: bool,
    pub zone: Option<String>,
    pub pool: Option<String>,
    pub swap_size: Option<Option<i64>>,
    pub cpu_count: Option<i32>,
    pub memory: Option<i64>,
}

pub fn update_machine(c: &mut DbConn, actor: &User, n: &Node, u: MachineUpdate) -> Result<Node> {
    require_admin(actor, n)?;
    let mut ch = NodeChanges { updated_at: Some(super::now()), ..Default::default() };
    let domain_id = match &u.domain {
        Some(d) => resolve_domain(c, Some(d))?,
        None => n.domain_id,
    };
    if u.domain.is_some() {
        ch.domain_id = Some(domain_id);
    }
    if let Some(h) = &u.hostname {
        let short = h.split('.').next().unwrap_or(h);
        names::validate_hostname(short)?;
        if nodes_db::hostname_taken(c, short, domain_id, Some(n.id))? {
            return Err(Error::field("hostname", format!("Node with this hostname '{short}' already exists.")));
        }
        ch.hostname = Some(short.to_string());
    }
    // The node's names in DNS change with its hostname or domain.
    if ch.hostname.as_deref().is_some_and(|h| h != n.hostname) || ch.domain_id.is_some_and(|d| d != n.domain_id) {
        super::dns::bump_serial(c)?;
    }
    ch.description = u.description;
    if let Some(a) = &u.architecture {
        ch.architecture = Some(Some(
            names::normalise_arch(a)
                .ok_or_else(|| Error::field("architecture", format!("'{a}' is not a valid architecture.")))?,
        ));
    }
    if let Some(k) = u.min_hwe_kernel {
        ch.min_hwe_kernel = Some(Some(k).filter(|k| !k.is_empty()));
    }
    if u.power_type.is_some() || !u.power_parameters.is_empty() {
        let ptype = u.power_type.clone().unwrap_or_else(|| n.power_type.clone());
        // Parameters merge over the stored ones unless the type changes.
        let mut params: PowerParams = if u.power_type.as_deref().is_some_and(|t| t != n.power_type) {
            PowerParams::new()
        } else {
            serde_json::from_str(&n.power_parameters).unwrap_or_default()
        };
        params.extend(u.power_parameters);
        let params = power::validate(&ptype, params, u.power_skip_check)?;
        ch.power_type = Some(ptype);
        ch.power_parameters = Some(serde_json::to_string(&params).expect("params"));
    }
    if let Some(z) = &u.zone {
        ch.zone_id = Some(resolve_zone(c, Some(z))?);
    }
    if let Some(p) = &u.pool {
        ch.pool_id = Some(Some(resolve_pool(c, Some(p))?));
    }
    ch.swap_size = u.swap_size;
    ch.cpu_count = u.cpu_count;
    ch.memory = u.memory;
    nodes_db::update(c, n.id, &ch)
}

pub fn delete_machine(c: &mut DbConn, actor: &User, n: &Node) -> Result<()> {
    require_admin(actor, n)?;
    nodes_db::delete(c, n.id)
}
