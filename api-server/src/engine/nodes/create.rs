//! Creating, updating and deleting nodes: machines (enlistment and `machines/` POST), devices, rack nodes.

use crate::db;
use crate::db::interfaces::NewInterface;
use crate::db::nodes::{NewNode, Node, NodeChanges};
use crate::db::users::User;
use crate::db::DbConn;
use crate::engine;
use crate::engine::access::{can_view, require_admin, require_device_owner};
use crate::engine::defaults::{DEFAULT_DOMAIN_ID, DEFAULT_POOL_ID, DEFAULT_ZONE_ID};
use crate::engine::events::{event, level, log_event};
use crate::engine::lifecycle::{NodeType, Status};
use crate::engine::nodes::commission::start_commissioning;
use crate::engine::nodes::state::enter_timed;
use crate::engine::power::PowerParams;
use crate::error;
use crate::error::{Error, Result};

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
pub(crate) fn check_macs(c: &mut DbConn, raw: &[String]) -> Result<Vec<String>> {
    let mut macs = Vec::new();
    let mut bad = Vec::new();
    for m in raw.iter().flat_map(|m| m.split([',', ' '])).filter(|m| !m.is_empty()) {
        match engine::names::normalise_mac(m) {
            Some(n) if !macs.contains(&n) => macs.push(n),
            Some(_) => {}
            None => bad.push(format!("'{m}' is not a valid MAC address.")),
        }
    }
    if !bad.is_empty() {
        let mut f = error::FieldErrors::new();
        f.insert("mac_addresses".into(), bad);
        return Err(Error::Validation(f));
    }
    let used = db::nodes::node_ids_with_macs(c, &macs)?;
    if let Some((_, mac)) = used.first() {
        return Err(Error::field("mac_addresses", format!("MAC address {mac} already in use.")));
    }
    Ok(macs)
}

pub(crate) fn resolve_zone(c: &mut DbConn, name: Option<&str>) -> Result<i64> {
    match name {
        None => Ok(DEFAULT_ZONE_ID),
        Some(n) => {
            Ok(db::places::zone_by_name(c, n)?.ok_or_else(|| Error::field("zone", format!("No such zone: '{n}'.")))?.id)
        }
    }
}

pub(crate) fn resolve_pool(c: &mut DbConn, name: Option<&str>) -> Result<i64> {
    match name {
        None => Ok(DEFAULT_POOL_ID),
        Some(n) => {
            let p = match n.parse::<i64>() {
                Ok(id) => db::places::pool_by_id(c, id)?,
                Err(_) => db::places::pool_by_name(c, n)?,
            };
            Ok(p.ok_or_else(|| Error::field("pool", format!("No such resource pool: '{n}'.")))?.id)
        }
    }
}

pub(crate) fn resolve_domain(c: &mut DbConn, name: Option<&str>) -> Result<i64> {
    match name {
        None => Ok(DEFAULT_DOMAIN_ID),
        Some(n) => db::places::domains(c)?
            .into_iter()
            .find(|d| d.name == n || d.id.to_string() == n)
            .map(|d| d.id)
            .ok_or_else(|| Error::field("domain", format!("No such domain: '{n}'."))),
    }
}

/// Picks a free hostname in the domain: the requested one (validated, 400 if
/// taken) or a generated petname.
pub(crate) fn pick_hostname(c: &mut DbConn, requested: Option<&str>, domain_id: i64) -> Result<String> {
    if let Some(h) = requested {
        // A FQDN's first label is the hostname; the rest must be the domain.
        let short = h.split('.').next().unwrap_or(h);
        engine::names::validate_hostname(short)?;
        if db::nodes::hostname_taken(c, short, domain_id, None)? {
            return Err(Error::field("hostname", format!("Node with this hostname '{short}' already exists.")));
        }
        return Ok(short.to_string());
    }
    for attempt in 0..64 {
        let mut h = engine::names::petname();
        if attempt >= 16 {
            h = format!("{h}-{}", &engine::names::new_system_id()[..4]);
        }
        if !db::nodes::hostname_taken(c, &h, domain_id, None)? {
            return Ok(h);
        }
    }
    Err(Error::Internal("could not find a free hostname".into()))
}

pub(crate) fn new_unique_system_id(c: &mut DbConn) -> Result<String> {
    for _ in 0..32 {
        let id = engine::names::new_system_id();
        if !db::nodes::system_id_exists(c, &id)? {
            return Ok(id);
        }
    }
    Err(Error::Internal("could not find a free system_id".into()))
}

pub(crate) fn default_hardware_info() -> String {
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
    let unknown = "Unknown".to_string();
    let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    engine::string_map_json(keys.iter().map(|k| (k, &unknown)))
}

/// A node row with every field at its default (unowned, NEW, manual power).
pub(crate) fn blank_node(
    system_id: String,
    node_type: NodeType,
    hostname: String,
    domain_id: i64,
    zone_id: i64,
) -> NewNode {
    let now = db::now();
    NewNode {
        system_id,
        node_type,
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
        status: Status::New,
        previous_status: Status::New,
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
        power_quarantined: false,
    }
}

/// Inserts a node and one physical interface per MAC (`eth0` boots).
pub(crate) fn insert_with_macs(c: &mut DbConn, new: &NewNode, macs: &[String], vlan_id: Option<i64>) -> Result<Node> {
    let node = db::nodes::insert(c, new)?;
    for (i, mac) in macs.iter().enumerate() {
        db::interfaces::insert_interface(
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
    let node = create_controller_node(c, hostname, NodeType::RackController, "rack", macs)?;
    log_event(c, &node, "", level::INFO, "Rack controller registered", "")?;
    Ok(node)
}

/// A controller node named after its host's short name (`fallback` when
/// that is no valid hostname); a name already taken gets `-2`, `-3`…, so
/// two controllers on hosts with one name (or one host) both register.
pub fn create_controller_node(
    c: &mut DbConn,
    hostname: &str,
    node_type: NodeType,
    fallback: &str,
    macs: &[String],
) -> Result<Node> {
    let short = hostname.split('.').next().unwrap_or(hostname).to_ascii_lowercase();
    let base = if engine::names::validate_hostname(&short).is_ok() { short } else { fallback.to_string() };
    let mut name = base.clone();
    let mut i = 1;
    while db::nodes::hostname_taken(c, &name, DEFAULT_DOMAIN_ID, None)? {
        i += 1;
        name = format!("{base}-{i}");
    }
    let system_id = new_unique_system_id(c)?;
    let new = blank_node(system_id, node_type, name, DEFAULT_DOMAIN_ID, DEFAULT_ZONE_ID);
    insert_with_macs(c, &new, macs, None)
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

pub(crate) fn resolve_parent(c: &mut DbConn, user: &User, sid: &str) -> Result<Option<i64>> {
    if sid.trim().is_empty() {
        return Ok(None);
    }
    let p = db::nodes::by_system_id(c, sid.trim())?
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

pub fn update_device(c: &mut DbConn, actor: &User, n: &Node, input: DeviceInput) -> Result<Node> {
    require_device_owner(actor, n)?;
    let mut ch = NodeChanges { updated_at: Some(db::now()), ..Default::default() };
    let domain_id = match &input.domain {
        Some(d) => resolve_domain(c, Some(d))?,
        None => n.domain_id,
    };
    ch.domain_id = Some(domain_id);
    if let Some(h) = input.hostname.filter(|h| !h.is_empty()) {
        engine::names::validate_hostname(&h)?;
        if db::nodes::hostname_taken(c, &h, domain_id, Some(n.id))? {
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
    db::nodes::update(c, n.id, &ch)
}

pub fn delete_device(c: &mut DbConn, actor: &User, n: &Node) -> Result<()> {
    require_device_owner(actor, n)?;
    db::nodes::delete(c, n.id)
}

/// Creates a machine (`machines/` POST). `actor` is `None` for anonymous
/// enlistment. Admins with `commission` start commissioning at once; others
/// (and `commission=false`) leave it NEW; `deployed=true` registers a running
/// machine as DEPLOYED, owned by the caller.
pub fn create_machine(c: &mut DbConn, actor: Option<&User>, input: MachineInput) -> Result<Node> {
    let mut errors = error::FieldErrors::new();
    let arch = match input.architecture.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        None => {
            errors.insert("architecture".into(), vec!["This field is required.".into()]);
            None
        }
        Some(a) => match engine::names::normalise_arch(a) {
            Some(a) => Some(a),
            None => {
                errors.insert(
                    "architecture".into(),
                    vec![format!(
                        "'{a}' is not a valid architecture. It should be one of: {}.",
                        engine::names::ARCHES.iter().map(|a| format!("{a}/generic")).collect::<Vec<_>>().join(", ")
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
    let params = engine::power::validate(&input.power_type, input.power_parameters, input.power_skip_check)?;
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
            status,
            owner_id: if input.deployed { actor.map(|u| u.id) } else { None },
            pool_id: Some(pool_id),
            // Anyone may enlist: a BMC address from an anonymous caller is
            // not contacted until an administrator accepts the machine.
            power_quarantined: actor.is_none() && !engine::power::region_can_drive(&input.power_type),
            power_type: input.power_type,
            power_parameters: engine::string_map_json(&params),
            netboot: !input.deployed,
            ..base
        },
        &macs,
        engine::interfaces::enlistment_vlan(),
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
    let node = db::nodes::by_system_id(c, &node.system_id)?.ok_or(Error::NotFound("Machine"))?;
    // No metadata token yet: the first phase (commissioning) issues one.
    if let Some(admin) = actor.filter(|_| input.commission && is_admin && !input.deployed) {
        return start_commissioning(c, admin, &node, "");
    }
    let enlist_commissioning = db::config::get(c, "enlist_commissioning")?.as_deref() != Some("false");
    if input.commission && actor.is_none() && !input.deployed && enlist_commissioning {
        // Anonymous enlistment from a booted ephemeral environment: it is
        // already running, so commissioning starts without a power action,
        // and a success returns it to NEW (awaiting `accept`).
        let enlisting = NodeChanges { enlisting: Some(true), ..Default::default() };
        return enter_timed(c, &node, Status::Commissioning, actor_name, " (enlistment)", enlisting);
    }
    Ok(node)
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
    let mut ch = NodeChanges { updated_at: Some(db::now()), ..Default::default() };
    let domain_id = match &u.domain {
        Some(d) => resolve_domain(c, Some(d))?,
        None => n.domain_id,
    };
    if u.domain.is_some() {
        ch.domain_id = Some(domain_id);
    }
    if let Some(h) = &u.hostname {
        let short = h.split('.').next().unwrap_or(h);
        engine::names::validate_hostname(short)?;
        if db::nodes::hostname_taken(c, short, domain_id, Some(n.id))? {
            return Err(Error::field("hostname", format!("Node with this hostname '{short}' already exists.")));
        }
        ch.hostname = Some(short.to_string());
    }
    // The node's names in DNS change with its hostname or domain.
    if ch.hostname.as_deref().is_some_and(|h| h != n.hostname) || ch.domain_id.is_some_and(|d| d != n.domain_id) {
        engine::dns::bump_serial(c)?;
    }
    ch.description = u.description;
    if let Some(a) = &u.architecture {
        ch.architecture = Some(Some(
            engine::names::normalise_arch(a)
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
        let params = engine::power::validate(&ptype, params, u.power_skip_check)?;
        ch.power_type = Some(ptype);
        ch.power_parameters = Some(engine::string_map_json(&params));
        // An administrator set the power settings: they are theirs now.
        ch.power_quarantined = Some(false);
    }
    if let Some(z) = &u.zone {
        ch.zone_id = Some(resolve_zone(c, Some(z))?);
    }
    if let Some(p) = &u.pool {
        ch.pool_id = Some(Some(resolve_pool(c, Some(p))?));
    }
    ch.swap_size = u.swap_size;
    // Counts of real hardware: a negative one would only mislead allocation.
    if u.cpu_count.is_some_and(|n| n < 0) {
        return Err(Error::field("cpu_count", "Ensure this value is greater than or equal to 0."));
    }
    if u.memory.is_some_and(|n| n < 0) {
        return Err(Error::field("memory", "Ensure this value is greater than or equal to 0."));
    }
    ch.cpu_count = u.cpu_count;
    ch.memory = u.memory;
    db::nodes::update(c, n.id, &ch)
}

pub fn delete_machine(c: &mut DbConn, actor: &User, n: &Node) -> Result<()> {
    require_admin(actor, n)?;
    db::nodes::delete(c, n.id)
}
