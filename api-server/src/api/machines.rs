//! `machines/`, `machines/{system_id}/`, `nodes/`, `nodes/{system_id}/`.

use actix_web::http::StatusCode;
use base64::Engine as _;
use serde_json::Value;

use crate::api::support::{comment, flag, list_nodes_of, list_of, render, with_machine};
use crate::api::views::machine::{anonymous_machine_json, device_json, machines_bytes};
use crate::db;
use crate::db::nodes::NodeFilter;
use crate::engine;
use crate::engine::allocation::Mode;
use crate::engine::lifecycle::{NodeType, Status};
use crate::engine::nodes::create::{MachineInput, MachineUpdate};
use crate::engine::nodes::deploy::DeployInput;
use crate::engine::nodes::release::ReleaseInput;
use crate::engine::power::PowerParams;
use crate::error::{Error, FieldErrors, Result};
use crate::handler_fn;
use crate::http::params::Params;
use crate::http::registry::{optional, required, Access, Action, Handler, Method, Returns};
use crate::http::reply::Reply;
use crate::http::Ctx;

pub fn handlers() -> Vec<Handler> {
    vec![
        Handler::new("MachinesHandler", "machines/", Access::Authenticated, "Manage the collection of all machines")
            .describe("List, create, allocate and release machines.")
            .action(
                Action::new(Method::Get, None, "List machines", handler_fn!(list_machines))
                    .pages_itself()
                    .describe("Machines the caller may see, ordered by id, filtered by any of the constraints allocate takes plus id, hostname, mac_address, domain, agent_name, status and owner. Ironpool also takes limit and cursor (next page in the Link header).")
                    .params(&[
                        optional("hostname", "String", "Only machines with this short hostname (repeatable)."),
                        optional("id", "String", "Only machines with this system_id (repeatable)."),
                        optional("mac_address", "String", "Only machines with an interface with this MAC (repeatable)."),
                        optional("zone", "String", "Only machines in this zone."),
                        optional("pool", "String", "Only machines in this resource pool."),
                        optional("agent_name", "String", "Only machines allocated with this agent name."),
                        optional("status", "String", "Only machines in this status (lower-case name, repeatable)."),
                        optional("tags", "String", "Only machines with all of these tags."),
                        optional("limit", "Int", "Page size (Ironpool extension)."),
                        optional("cursor", "String", "Page cursor from the Link header (Ironpool extension)."),
                    ]),
            )
            .action(
                Action::new(Method::Post, None, "Create a new machine", handler_fn!(create_machine))
                    .describe("Admins' machines start commissioning unless commission=false; deployed=true registers an already-running machine.")
                    .params(&[
                        required("architecture", "String", "Architecture, e.g. amd64/generic."),
                        required("mac_addresses", "String", "One or more MAC addresses (repeatable)."),
                        optional("hostname", "String", "Hostname; generated when absent."),
                        optional("description", "String", "Free-text description."),
                        optional("domain", "String", "DNS domain (default maas)."),
                        optional("power_type", "String", "Power driver: ipmi, manual, redfish, virsh, virtual or webhook (other MAAS types have no driver here and are refused)."),
                        optional("power_parameters_{param}", "String", "One power parameter, e.g. power_parameters_power_address."),
                        optional("commission", "Boolean", "Start commissioning at once (default true for admins)."),
                        optional("deployed", "Boolean", "Register a machine that is already deployed."),
                        optional("zone", "String", "Zone name."),
                        optional("pool", "String", "Resource pool name."),
                    ]),
            )
            .action(
                Action::new(Method::Post, Some("allocate"), "Allocate a machine", handler_fn!(allocate))
                    .describe("Allocates the cheapest Ready machine matching every constraint. 409 when none matches.")
                    .params(&[
                        optional("name", "String", "Hostname or FQDN."),
                        optional("system_id", "String", "system_id."),
                        optional("arch", "String", "Architecture (amd64 matches every amd64/*)."),
                        optional("cpu_count", "Int", "Minimum number of CPUs."),
                        optional("mem", "Int", "Minimum memory in MiB."),
                        optional("tags", "String", "Tags the machine must have (repeatable)."),
                        optional("not_tags", "String", "Tags the machine must not have."),
                        optional("zone", "String", "Zone."),
                        optional("not_in_zone", "String", "Zones to avoid."),
                        optional("pool", "String", "Resource pool."),
                        optional("interfaces", "String", "label:key=value[,...][;...] interface constraints."),
                        optional("storage", "String", "[label:]size(tags)[,...] storage constraints in GB."),
                        optional("agent_name", "String", "Stored on the machine (Juju: the model UUID)."),
                        optional("comment", "String", "Event-log comment."),
                        optional("dry_run", "Boolean", "Find a machine without allocating it."),
                        optional("verbose", "Boolean", "Add verbose mappings to constraints_by_type."),
                    ]),
            )
            .action(
                Action::new(Method::Post, Some("release"), "Release machines", handler_fn!(release_many))
                .returns(Returns::Strings)
                    .describe("Releases the given machines; returns the system_ids whose status changed.")
                    .params(&[required("machines", "String", "system_ids (repeatable)."), optional("comment", "String", "Event-log comment.")]),
            )
            .action(
                Action::new(Method::Post, Some("accept"), "Accept declared machines", handler_fn!(accept))
                .returns(Returns::List)
                    .describe("Administrators only: starts commissioning NEW machines.")
                    .params(&[required("machines", "String", "system_ids (repeatable).")]),
            )
            .action(
                Action::new(Method::Post, Some("add_chassis"), "Add special hardware", handler_fn!(add_chassis))
                    .describe("Enlists every virtual machine of a virsh (libvirt) host as a machine with power type virsh, or every server of a Cisco UCS Manager (with a MAC and a LAN boot entry, set to boot from LAN first) as a machine with power type ucsm. The region probes the chassis before answering: one it cannot log in to is a 400, one that does not answer a 503. Chassis types without a driver here are refused.")
                    .params(&[
                        required("chassis_type", "String", "virsh (or its old name powerkvm), or ucsm."),
                        required("hostname", "String", "The libvirt URI, e.g. qemu+ssh://user@host/system; for ucsm the UCS Manager's URL."),
                        optional("username", "String", "ucsm (required there): the XML API user. Refused for virsh."),
                        optional("password", "String", "SSH password for qemu+ssh:// URIs; for ucsm (required there) the XML API password."),
                        optional("prefix_filter", "String", "virsh only: only domains whose name starts with this."),
                        optional("accept_all", "String", "true: commission every enlisted machine."),
                        optional("domain", "String", "DNS domain (name or id) of the new machines."),
                        optional("rack_controller", "String", "A rack's system_id or hostname (must exist)."),
                    ]),
            )
            .action(Action::new(Method::Post, Some("accept_all"), "Accept all declared machines", handler_fn!(accept_all))
                .returns(Returns::List))
            .action(
                Action::new(Method::Get, Some("list_allocated"), "List allocated machines", handler_fn!(list_allocated))
                .returns(Returns::List)
                    .params(&[optional("id", "String", "Only these system_ids (repeatable).")]),
            )
            .action(
                Action::new(Method::Get, Some("power_parameters"), "Get power parameters", handler_fn!(power_parameters_many))
                    .describe("Administrators only; includes BMC passwords.")
                    .params(&[optional("id", "String", "Only these system_ids (repeatable).")]),
            )
            .action(
                Action::new(Method::Get, Some("is_registered"), "MAC address registered", handler_fn!(is_registered))
                .returns(Returns::AnyJson)
                    .params(&[required("mac_address", "String", "The MAC address.")]),
            )
            .action(
                Action::new(Method::Get, Some("is_action_in_progress"), "MAC address of deploying or commissioning node", handler_fn!(is_action_in_progress))
                .returns(Returns::AnyJson)
                    .params(&[required("mac_address", "String", "The MAC address.")]),
            )
            .action(
                Action::new(Method::Post, Some("set_zone"), "Assign nodes to a zone", handler_fn!(set_zone))
                .returns(Returns::Nothing(200))
                    .params(&[required("zone", "String", "Zone name."), required("nodes", "String", "system_ids (repeatable).")]),
            )
            .action(
                Action::new(Method::Post, Some("clone"), "Clone storage and/or interface configurations", handler_fn!(clone))
                    .returns(Returns::Nothing(204))
                    .describe("Copies the source's storage and/or interface configuration to each destination (Ready or Failed testing machines the caller administers) whose disks and interface names can take it.")
                    .params(&[
                        required("source", "String", "system_id of the machine to clone from."),
                        required("destinations", "String", "system_ids to clone to (repeatable or comma-separated)."),
                        optional("interfaces", "Boolean", "Clone the interface configuration."),
                        optional("storage", "Boolean", "Clone the storage configuration."),
                    ]),
            ),
        Handler::new("AnonMachinesHandler", "machines/", Access::Anonymous, "Anonymous access to machines")
            .describe("Used during enlistment.")
            .paired_with("MachinesHandler")
            .action(
                Action::new(Method::Post, None, "Create a new machine", handler_fn!(create_machine_anon))
                    .describe("Anonymous enlistment: the machine is created NEW.")
                    .params(&[required("architecture", "String", "Architecture."), required("mac_addresses", "String", "MAC addresses (repeatable).")]),
            )
            .action(Action::new(Method::Post, Some("accept"), "Accept a machine's enlistment", handler_fn!(accept_anon)).describe("Not allowed anonymously; always 401."))
            .action(
                Action::new(Method::Get, Some("is_registered"), "MAC address registered", handler_fn!(is_registered))
                .returns(Returns::AnyJson)
                    .params(&[required("mac_address", "String", "The MAC address.")]),
            )
            .action(
                Action::new(Method::Get, Some("is_action_in_progress"), "MAC address of deploying or commissioning node", handler_fn!(is_action_in_progress))
                .returns(Returns::AnyJson)
                    .params(&[required("mac_address", "String", "The MAC address.")]),
            ),
        machine_handler(),
        Handler::new("NodesHandler", "nodes/", Access::Authenticated, "Manage the collection of all the nodes in the MAAS")
            .describe("Machines, devices and controllers together.")
            .action(Action::new(Method::Get, None, "List nodes", handler_fn!(list_nodes)).pages_itself().params(&[optional("id", "String", "Only these system_ids (repeatable).")]))
            // MAAS serves it anonymously only; answered signed too, as machines/ does.
            .action(
                Action::new(Method::Get, Some("is_action_in_progress"), "MAC address of deploying or commissioning node", handler_fn!(is_action_in_progress))
                .returns(Returns::AnyJson)
                    .describe("Whether a node with this MAC address is commissioning or deploying (true or false).")
                    .params(&[required("mac_address", "String", "The MAC address.")]),
            )
            .action(
                Action::new(Method::Get, Some("is_registered"), "MAC address registered", handler_fn!(is_registered))
                .returns(Returns::AnyJson)
                    .params(&[required("mac_address", "String", "The MAC address.")]),
            )
            .action(
                Action::new(Method::Post, Some("set_zone"), "Assign nodes to a zone", handler_fn!(set_zone))
                .returns(Returns::Nothing(200))
                    .params(&[required("zone", "String", "Zone name."), required("nodes", "String", "system_ids (repeatable).")]),
            ),
        Handler::new("AnonNodesHandler", "nodes/", Access::Anonymous, "Anonymous access to nodes")
            .paired_with("NodesHandler")
            .action(
                Action::new(Method::Get, Some("is_registered"), "MAC address registered", handler_fn!(is_registered))
                .returns(Returns::AnyJson)
                    .params(&[required("mac_address", "String", "The MAC address.")]),
            )
            // MAAS defines it on AnonNodesHandler, which machines/ inherits.
            .action(
                Action::new(Method::Get, Some("is_action_in_progress"), "MAC address of deploying or commissioning node", handler_fn!(is_action_in_progress))
                .returns(Returns::AnyJson)
                    .describe("Whether a node with this MAC address is commissioning or deploying (true or false).")
                    .params(&[required("mac_address", "String", "The MAC address.")]),
            ),
        Handler::new("NodeHandler", "nodes/{system_id}/", Access::Authenticated, "Manage an individual node")
            .action(Action::new(Method::Get, None, "Read a node", handler_fn!(read_node)))
            .action(Action::new(Method::Delete, None, "Delete a node", handler_fn!(delete_node)))
            .action(Action::new(Method::Get, Some("power_parameters"), "Get power parameters", handler_fn!(power_parameters_one)))
            .action(Action::new(Method::Get, Some("details"), "Get system details", handler_fn!(details))
                .returns(Returns::Bytes("application/bson"))),
    ]
}

fn machine_handler() -> Handler {
    let comment = optional("comment", "String", "Event-log comment.");
    Handler::new("MachineHandler", "machines/{system_id}/", Access::Authenticated, "Manage an individual machine")
        .action(Action::new(Method::Get, None, "Read a machine", handler_fn!(read_machine)))
        .action(
            Action::new(Method::Put, None, "Update a machine", handler_fn!(update_machine))
                .describe("Administrators only.")
                .params(&[
                    optional("hostname", "String", "New hostname."),
                    optional("description", "String", "Description."),
                    optional("domain", "String", "Domain."),
                    optional("architecture", "String", "Architecture."),
                    optional("min_hwe_kernel", "String", "Minimum kernel."),
                    optional("power_type", "String", "Power driver."),
                    optional("power_parameters_{param}", "String", "A power parameter."),
                    optional("power_parameters_skip_check", "Boolean", "Skip parameter validation."),
                    optional("zone", "String", "Zone."),
                    optional("pool", "String", "Resource pool."),
                    optional("swap_size", "String", "Swap size in bytes (K, M, G, T suffixes)."),
                    optional("cpu_count", "Int", "CPU count."),
                    optional("memory", "Int", "Memory in MiB."),
                ]),
        )
        .action(
            Action::new(Method::Delete, None, "Delete a machine", handler_fn!(delete_node))
                .describe("Administrators only."),
        )
        .action(
            Action::new(Method::Post, Some("deploy"), "Deploy a machine", handler_fn!(deploy))
                .describe("Ready machines are allocated to the caller first.")
                .params(&[
                    optional("distro_series", "String", "Series to deploy (jammy, ubuntu/jammy, 22.04)."),
                    optional("hwe_kernel", "String", "Kernel (ga-22.04, hwe-22.04)."),
                    optional("user_data", "String", "Base64-encoded cloud-init user data."),
                    optional("agent_name", "String", "Agent name."),
                    comment,
                ]),
        )
        .action(Action::new(Method::Post, Some("release"), "Release a machine", handler_fn!(release_one)).params(&[
            optional("erase", "Boolean", "Erase the disks."),
            optional("secure_erase", "Boolean", "Use secure erase."),
            optional("quick_erase", "Boolean", "Wipe only the start and end of each disk."),
            optional("force", "Boolean", "Release even if it would lose data."),
            comment,
        ]))
        .action(
            Action::new(Method::Post, Some("commission"), "Commission a machine", handler_fn!(commission))
                .describe("Administrators only.")
                .params(&[
                    optional("enable_ssh", "Boolean", "Keep SSH enabled (the owner's keys) and the machine on afterwards."),
                    optional("skip_bmc_config", "Boolean", "Do not configure the BMC (recorded on the script set)."),
                    optional("skip_networking", "Boolean", "Keep the network configuration."),
                    optional("skip_storage", "Boolean", "Keep the storage configuration."),
                    optional("commissioning_scripts", "String", "Comma-separated commissioning script names or tags to run as well."),
                    optional("testing_scripts", "String", "Comma-separated testing script names or tags, or none."),
                ]),
        )
        .action(
            Action::new(Method::Post, Some("test"), "Begin testing process for a node", handler_fn!(test))
                .describe("Administrators only. Ready, allocated, deployed, broken or failed machines run testing scripts; passing returns them to where they were (Ready after a failure).")
                .params(&[
                    optional("enable_ssh", "Boolean", "Keep SSH enabled (the owner's keys) and the machine on afterwards."),
                    optional("testing_scripts", "String", "Comma-separated testing script names or tags (default: those tagged commissioning)."),
                    optional("parameters", "String", "Script parameters as <param> or <script>_<param> fields."),
                ]),
        )
        .action(
            Action::new(Method::Post, Some("abort"), "Abort a machine's current operation", handler_fn!(abort))
                .params(&[comment]),
        )
        .action(
            Action::new(Method::Post, Some("power_on"), "Turn on a machine", handler_fn!(power_on))
                .params(&[optional("user_data", "String", "Base64 user data."), comment]),
        )
        .action(
            Action::new(Method::Post, Some("power_off"), "Power off a machine", handler_fn!(power_off))
                .params(&[optional("stop_mode", "String", "soft or hard."), comment]),
        )
        .action(Action::new(
            Method::Get,
            Some("query_power_state"),
            "Get the power state of a node",
            handler_fn!(query_power_state),
        ))
        .action(
            Action::new(
                Method::Get,
                Some("power_parameters"),
                "Get power parameters",
                handler_fn!(power_parameters_one),
            )
            .describe("Administrators only."),
        )
        .action(
            Action::new(Method::Get, Some("details"), "Get system details", handler_fn!(details))
                .returns(Returns::Bytes("application/bson")),
        )
        .action(
            Action::new(Method::Get, Some("get_token"), "Get a machine's metadata token", handler_fn!(get_token))
                .describe(
                "The OAuth credentials the machine uses on the metadata API (/MAAS/metadata/). Administrators only.",
            ),
        )
        .action(
            Action::new(Method::Post, Some("mark_broken"), "Mark a machine as Broken", handler_fn!(mark_broken))
                .params(&[comment, optional("error_description", "String", "Legacy name of comment.")]),
        )
        .action(
            Action::new(Method::Post, Some("mark_fixed"), "Mark a machine as Fixed", handler_fn!(mark_fixed))
                .params(&[comment]),
        )
        .action(
            Action::new(
                Method::Post,
                Some("override_failed_testing"),
                "Ignore failed tests",
                handler_fn!(override_failed_testing),
            )
            .params(&[comment]),
        )
        .action(Action::new(Method::Post, Some("lock"), "Lock a machine", handler_fn!(lock)).params(&[comment]))
        .action(Action::new(Method::Post, Some("unlock"), "Unlock a machine", handler_fn!(unlock)).params(&[comment]))
        .action(Action::new(Method::Post, Some("rescue_mode"), "Enter rescue mode", handler_fn!(rescue_mode)))
        .action(Action::new(Method::Post, Some("exit_rescue_mode"), "Exit rescue mode", handler_fn!(exit_rescue_mode)))
        .action(
            Action::new(
                Method::Post,
                Some("set_owner_data"),
                "Deprecated, use set_workload_annotations",
                handler_fn!(set_owner_data),
            )
            .params(&[optional("{key}", "String", "Any key=value; an empty value deletes the key.")]),
        )
        .action(
            Action::new(
                Method::Post,
                Some("set_workload_annotations"),
                "Set key=value data for the current owner",
                handler_fn!(set_owner_data),
            )
            .params(&[optional("{key}", "String", "Any key=value; an empty value deletes the key.")]),
        )
        .action(
            Action::new(
                Method::Post,
                Some("mount_special"),
                "Mount a special-purpose filesystem",
                handler_fn!(mount_special),
            )
            .describe("tmpfs or ramfs, on a Ready or Allocated machine; mounted by an owner it goes at release.")
            .params(&[
                required("fstype", "String", "The filesystem type: tmpfs or ramfs."),
                required("mount_point", "String", "Absolute path to mount it on."),
                optional("mount_options", "String", "Options to pass to mount(8)."),
            ]),
        )
        .action(
            Action::new(
                Method::Post,
                Some("unmount_special"),
                "Unmount a special-purpose filesystem",
                handler_fn!(unmount_special),
            )
            .describe("On a Ready or Allocated machine.")
            .params(&[required("mount_point", "String", "Path of the special filesystem to unmount.")]),
        )
        .action(
            Action::new(Method::Get, Some("get_curtin_config"), "Get curtin configuration", handler_fn!(get_curtin_config))
                .returns(Returns::Bytes("text/plain"))
                .describe("The installation document (YAML) of a Deploying, Deployed or Failed deployment machine: image, boot disk and apt configuration."),
        )
        .action(
            Action::new(Method::Post, Some("restore_networking_configuration"), "Restore networking options", handler_fn!(restore_networking))
                .describe("Administrators only; Ready or Failed testing machines. Interfaces as commissioning reported them, the boot interface linked AUTO."),
        )
        .action(
            Action::new(Method::Post, Some("restore_storage_configuration"), "Restore storage configuration", handler_fn!(restore_storage))
                .describe("Administrators only; Ready or Failed testing machines. The default storage layout again."),
        )
        .action(
            Action::new(Method::Post, Some("restore_default_configuration"), "Restore default configuration", handler_fn!(restore_default))
                .describe("Administrators only; Ready or Failed testing machines. Both restores."),
        )
        .action(
            Action::new(Method::Post, Some("clear_default_gateways"), "Clear set default gateways", handler_fn!(clear_default_gateways))
                .describe("Administrators only. The deployment then chooses the gateways itself."),
        )
}

// ---- helpers -------------------------------------------------------------

fn power_params(p: &Params) -> Result<PowerParams> {
    let mut out = PowerParams::new();
    if let Some(js) = p.get_nonempty("power_parameters") {
        let v: Value = serde_json::from_str(js)
            .map_err(|e| Error::field("power_parameters", format!("power_parameters must be a JSON object: {e}.")))?;
        let Value::Object(m) = v else {
            return Err(Error::field("power_parameters", "power_parameters must be a JSON object."));
        };
        for (k, v) in m {
            out.insert(
                k,
                match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                },
            );
        }
    }
    for (k, v) in p.pairs() {
        if let Some(name) = k.strip_prefix("power_parameters_") {
            if name != "skip_check" {
                out.insert(name.to_string(), v.clone());
            }
        }
    }
    Ok(out)
}

fn user_data(p: &Params) -> Result<Option<Vec<u8>>> {
    match p.get_nonempty("user_data") {
        None => Ok(None),
        Some(b64) => {
            let compact: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map(Some)
                .map_err(|_| Error::field("user_data", "user_data must be base64-encoded."))
        }
    }
}

// ---- collection ----------------------------------------------------------

pub(crate) async fn list_machines(ctx: Ctx) -> Result<Reply> {
    list_nodes_of(ctx, vec![NodeType::Machine]).await
}

pub(crate) async fn list_nodes(ctx: Ctx) -> Result<Reply> {
    list_nodes_of(ctx, vec![]).await
}

fn machine_input(p: &Params, is_admin: bool) -> Result<MachineInput> {
    let mut architecture = p.get_nonempty("architecture").map(str::to_string);
    if let (Some(a), Some(sub)) = (&architecture, p.get_nonempty("subarchitecture")) {
        if !a.contains('/') {
            architecture = Some(format!("{a}/{sub}"));
        }
    }
    let commission = p.bool("commission")?.unwrap_or(is_admin);
    Ok(MachineInput {
        architecture,
        mac_addresses: p.get_all("mac_addresses").iter().map(|s| s.to_string()).collect(),
        hostname: p.get_nonempty("hostname").map(str::to_string),
        description: p.get("description").unwrap_or("").to_string(),
        domain: p.get_nonempty("domain").map(str::to_string),
        power_type: p.get("power_type").unwrap_or("").trim().to_string(),
        power_parameters: power_params(p)?,
        power_skip_check: flag(p, "power_parameters_skip_check")?,
        min_hwe_kernel: p.get_nonempty("min_hwe_kernel").map(str::to_string),
        commission,
        deployed: flag(p, "deployed")?,
        zone: p.get_nonempty("zone").map(str::to_string),
        pool: p.get_nonempty("pool").map(str::to_string),
        cpu_count: 0,
        memory: 0,
    })
}

pub(crate) async fn create_machine(ctx: Ctx) -> Result<Reply> {
    let user = ctx.user()?.clone();
    let input = machine_input(&ctx.params, user.is_superuser)?;
    let v = ctx
        .db()
        .write(move |c| {
            let n = engine::nodes::create::create_machine(c, Some(&user), input)?;
            render(c, n)
        })
        .await?;
    Ok(Reply::Json(v))
}

pub(crate) async fn create_machine_anon(ctx: Ctx) -> Result<Reply> {
    // `commission=true` is the enlistment path (§11.4): the machine runs in
    // its ephemeral environment and commissions itself. Anyone can call
    // this, so it is rate limited per source and in total (429).
    ctx.state.enlistments.admit(ctx.peer)?;
    let mut input = machine_input(&ctx.params, false)?;
    input.deployed = false;
    let v = ctx
        .db()
        .write(move |c| {
            let n = engine::nodes::create::create_machine(c, None, input)?;
            let rel = db::related::load_related(c, std::slice::from_ref(&n))?;
            Ok(anonymous_machine_json(&n, &rel))
        })
        .await?;
    Ok(Reply::Json(v))
}

/// The parameters MAAS's `add_chassis` checks before contacting anything,
/// in its order and words (api/machines.py): chassis types are those with a
/// prober here, refused otherwise with MAAS's validator text listing them.
fn chassis_input(p: &Params) -> Result<engine::nodes::chassis::ChassisInput> {
    use engine::nodes::chassis::CHASSIS_TYPES;
    let chassis_type = p.get("chassis_type").ok_or_else(|| Error::BadRequest("No provided chassis_type!".into()))?;
    if !CHASSIS_TYPES.contains(&chassis_type) {
        return Err(Error::BadRequest(format!(
            "Invalid chassis_type: Value must be one of: {} (not '{chassis_type}')",
            CHASSIS_TYPES.join("; ")
        )));
    }
    let hostname = p.get("hostname").ok_or_else(|| Error::BadRequest("No provided hostname!".into()))?;
    // A UCS Manager needs its API account; a virsh host takes no user name
    // (it is part of the libvirt URI).
    let (username, password) = if chassis_type == "ucsm" {
        let user = p.get("username").ok_or_else(|| Error::BadRequest("No provided username!".into()))?;
        let pass = p.get("password").ok_or_else(|| Error::BadRequest("No provided password!".into()))?;
        (Some(user.to_string()), Some(pass.to_string()))
    } else if p.get("username").is_some() {
        return Err(Error::BadRequest(format!("username can not be specified when using the {chassis_type} chassis.")));
    } else {
        (None, p.get("password").map(str::to_string))
    };
    let accept_all = p.get("accept_all").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if p.get("prefix_filter").is_some() && chassis_type == "ucsm" {
        return Err(Error::BadRequest(format!("prefix_filter is unavailable with the {chassis_type} chassis type")));
    }
    if let Some(v) = p.get("power_control") {
        if !["ipmi", "restapi", "restapi2"].contains(&v) {
            return Err(Error::BadRequest(format!(
                "Invalid power_control: Value must be one of: ipmi; restapi; restapi2 (not '{v}')"
            )));
        }
        return Err(Error::BadRequest(format!("power_control is unavailable with the {chassis_type} chassis type")));
    }
    if let Some(v) = p.get("port") {
        match v.trim().parse::<i64>() {
            Ok(n) if (1..=65535).contains(&n) => {}
            Ok(n) if n < 1 => {
                return Err(Error::BadRequest("Invalid port: Please enter a number that is 1 or greater".into()))
            }
            Ok(_) => {
                return Err(Error::BadRequest("Invalid port: Please enter a number that is 65535 or smaller".into()))
            }
            Err(_) => return Err(Error::BadRequest("Invalid port: Please enter an integer value".into())),
        }
        return Err(Error::BadRequest(format!("port is unavailable with the {chassis_type} chassis type")));
    }
    if p.get("protocol").is_some() {
        return Err(Error::BadRequest(format!("protocol is unavailable with the {chassis_type} chassis type")));
    }
    Ok(engine::nodes::chassis::ChassisInput {
        chassis_type: chassis_type.to_string(),
        hostname: hostname.to_string(),
        username,
        password,
        accept_all,
        domain: p.get("domain").map(str::to_string),
        prefix_filter: p.get("prefix_filter").map(str::to_string),
        rack_controller: p.get("rack_controller").map(str::to_string),
    })
}

/// `add_chassis` (admin): MAAS answers "Asking <racks> to add machines from
/// chassis <hostname>"; here the region probes and enlists before answering,
/// so the text names the region.
pub(crate) async fn add_chassis(ctx: Ctx) -> Result<Reply> {
    let user = ctx.admin()?.clone();
    let input = chassis_input(&ctx.params)?;
    let hostname = input.hostname.clone();
    engine::nodes::chassis::add_chassis(ctx.db(), &ctx.state.power, user, input).await?;
    Ok(Reply::Text(StatusCode::OK, format!("Asking region to add machines from chassis {hostname}")))
}

pub(crate) async fn accept_anon(_ctx: Ctx) -> Result<Reply> {
    Err(Error::Unauthorized("You must be logged in to accept machines.".into()))
}

pub(crate) async fn allocate(ctx: Ctx) -> Result<Reply> {
    let user = ctx.user()?.clone();
    // The syntax is checked before any connection is taken (a large or
    // malformed request never holds one); names are resolved in a read
    // before the write transaction and the result rendered after it commits,
    // so the single-writer lock (SQLite) is held only for the claim.
    let parsed = engine::allocation::parse(ctx.params.pairs(), Mode::Allocate)?;
    let req = ctx.db().run(move |c| engine::allocation::resolve(c, parsed)).await?;
    let (sid, by_type) = ctx
        .db()
        .write(move |c| {
            let (n, by_type) = engine::allocation::allocate(c, &user, &req)?;
            Ok((n.system_id, by_type))
        })
        .await?;
    let mut v = ctx
        .db()
        .run(move |c| {
            let n = db::nodes::by_system_id(c, &sid)?.ok_or(Error::NotFound("Machine"))?;
            render(c, n)
        })
        .await?;
    v["constraints_by_type"] = by_type;
    Ok(Reply::Json(v))
}

pub(crate) async fn release_many(ctx: Ctx) -> Result<Reply> {
    let user = ctx.user()?.clone();
    let ids = list_of(&ctx.params, "machines")?;
    if ids.is_empty() {
        return Err(Error::required("machines"));
    }
    let comment = comment(&ctx.params);
    let released = ctx
        .db()
        .write(move |c| {
            let nodes = engine::access::resolve_bulk(c, &ids, true)?;
            let denied: Vec<&str> = nodes
                .iter()
                .filter(|n| !user.is_superuser && n.owner_id.is_some() && n.owner_id != Some(user.id))
                .map(|n| n.system_id.as_str())
                .collect();
            if !denied.is_empty() {
                return Err(Error::Forbidden(format!(
                    "You don't have the required permission to release the following machine(s): {}.",
                    denied.join(", ")
                )));
            }
            let wrong: Vec<String> = nodes
                .iter()
                .filter(|n| engine::nodes::release::check_releasable(n).is_err())
                .map(|n| format!("{} ('{}')", n.system_id, n.status.label()))
                .collect();
            if !wrong.is_empty() {
                return Err(Error::Conflict(format!(
                    "Machine(s) cannot be released in their current state: {}.",
                    wrong.join(", ")
                )));
            }
            let mut changed = Vec::new();
            for n in nodes {
                if engine::nodes::release::check_releasable(&n)? {
                    engine::nodes::release::release(
                        c,
                        &user,
                        &n,
                        ReleaseInput { comment: comment.clone(), ..Default::default() },
                    )?;
                    changed.push(n.system_id);
                }
            }
            Ok(changed)
        })
        .await?;
    Ok(Reply::json(released))
}

pub(crate) async fn accept(ctx: Ctx) -> Result<Reply> {
    let user = ctx.admin()?.clone();
    let ids = list_of(&ctx.params, "machines")?;
    let v = ctx
        .db()
        .write(move |c| {
            let nodes = engine::access::resolve_bulk(c, &ids, true)?;
            let mut out = Vec::new();
            for n in nodes {
                if let Some(n) = engine::nodes::commission::accept(c, &user, &n)? {
                    out.push(render(c, n)?);
                }
            }
            Ok(out)
        })
        .await?;
    Ok(Reply::json(v))
}

pub(crate) async fn accept_all(ctx: Ctx) -> Result<Reply> {
    let user = ctx.admin()?.clone();
    let v = ctx
        .db()
        .write(move |c| {
            let filter = NodeFilter {
                node_types: vec![NodeType::Machine],
                statuses: Some(vec![Status::New]),
                ..Default::default()
            };
            let mut out = Vec::new();
            for n in db::nodes::list(c, &filter)? {
                if let Some(n) = engine::nodes::commission::accept(c, &user, &n)? {
                    out.push(render(c, n)?);
                }
            }
            Ok(out)
        })
        .await?;
    Ok(Reply::json(v))
}

pub(crate) async fn list_allocated(ctx: Ctx) -> Result<Reply> {
    let user = ctx.user()?.clone();
    let ids = list_of(&ctx.params, "id")?;
    let v = ctx
        .db()
        .run(move |c| {
            let filter = NodeFilter {
                node_types: vec![NodeType::Machine],
                statuses: Some(vec![Status::Allocated]),
                owner_ids: Some(vec![user.id]),
                ids: (!ids.is_empty()).then_some(ids),
                ..Default::default()
            };
            let nodes = db::nodes::list(c, &filter)?;
            let rel = db::related::load_related(c, &nodes)?;
            Ok(machines_bytes(nodes.iter(), &rel))
        })
        .await?;
    Ok(Reply::JsonBytes(v, None))
}

pub(crate) async fn power_parameters_many(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let ids = list_of(&ctx.params, "id")?;
    let v = ctx
        .db()
        .run(move |c| {
            let filter = NodeFilter {
                node_types: vec![NodeType::Machine],
                ids: (!ids.is_empty()).then_some(ids),
                ..Default::default()
            };
            let mut out = serde_json::Map::new();
            for n in db::nodes::list(c, &filter)? {
                out.insert(n.system_id.clone(), engine::nodes::power::power_parameters(&n));
            }
            Ok(Value::Object(out))
        })
        .await?;
    Ok(Reply::Json(v))
}

pub(crate) async fn is_registered(ctx: Ctx) -> Result<Reply> {
    let mac = ctx.params.required("mac_address")?;
    let mac = engine::names::normalise_mac(mac)
        .ok_or_else(|| Error::field("mac_address", format!("'{mac}' is not a valid MAC address.")))?;
    let anonymous = ctx.user.is_none();
    let found = ctx
        .db()
        .run(move |c| {
            let ids: Vec<i64> = db::nodes::node_ids_with_macs(c, &[mac])?.into_iter().map(|(id, _)| id).collect();
            let nodes = db::nodes::by_ids(c, &ids)?;
            // Anonymous callers (enlistment) ignore NEW, COMMISSIONING and RETIRED nodes.
            Ok(nodes
                .iter()
                .any(|n| !anonymous || !matches!(n.status, Status::New | Status::Commissioning | Status::Retired)))
        })
        .await?;
    Ok(Reply::json(found))
}

pub(crate) async fn is_action_in_progress(ctx: Ctx) -> Result<Reply> {
    let mac = ctx.params.required("mac_address")?;
    let mac = engine::names::normalise_mac(mac)
        .ok_or_else(|| Error::field("mac_address", format!("'{mac}' is not a valid MAC address.")))?;
    let busy = ctx
        .db()
        .run(move |c| {
            let ids: Vec<i64> = db::nodes::node_ids_with_macs(c, &[mac])?.into_iter().map(|(id, _)| id).collect();
            // Exactly MAAS's two statuses (`api/nodes.py`).
            Ok(db::nodes::by_ids(c, &ids)?
                .iter()
                .any(|n| matches!(n.status, Status::Commissioning | Status::Deploying)))
        })
        .await?;
    Ok(Reply::json(busy))
}

pub(crate) async fn set_zone(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let zone = ctx.params.required("zone")?.to_string();
    let ids = list_of(&ctx.params, "nodes")?;
    if ids.is_empty() {
        return Err(Error::required("nodes"));
    }
    ctx.db()
        .write(move |c| {
            let z = db::places::zone_by_name(c, &zone)?
                .ok_or_else(|| Error::field("zone", format!("No such zone: '{zone}'.")))?;
            let nodes = engine::access::resolve_bulk(c, &ids, false)?;
            db::nodes::set_zone(c, &nodes.iter().map(|n| n.id).collect::<Vec<_>>(), z.id)?;
            Ok(())
        })
        .await?;
    Ok(Reply::Empty(StatusCode::OK))
}

// ---- one machine ---------------------------------------------------------

pub(crate) async fn read_machine(ctx: Ctx) -> Result<Reply> {
    let user = ctx.user()?.clone();
    let sid = ctx.path("system_id").to_string();
    let v = ctx
        .db()
        .run(move |c| {
            let n = engine::access::get_visible(c, &user, &sid, "Machine")?;
            if n.node_type != NodeType::Machine {
                return Err(Error::NotFound("Machine"));
            }
            render(c, n)
        })
        .await?;
    Ok(Reply::Json(v))
}

pub(crate) async fn read_node(ctx: Ctx) -> Result<Reply> {
    let user = ctx.user()?.clone();
    let sid = ctx.path("system_id").to_string();
    let v = ctx
        .db()
        .run(move |c| {
            let n = engine::access::get_visible(c, &user, &sid, "Node")?;
            if n.node_type == NodeType::Device {
                let rel = db::related::load_related(c, std::slice::from_ref(&n))?;
                return Ok(device_json(&n, &rel));
            }
            render(c, n)
        })
        .await?;
    Ok(Reply::Json(v))
}

pub(crate) async fn delete_node(ctx: Ctx) -> Result<Reply> {
    let user = ctx.user()?.clone();
    let sid = ctx.path("system_id").to_string();
    ctx.db()
        .write(move |c| {
            let n = engine::access::get_visible(c, &user, &sid, "Node")?;
            if n.node_type == NodeType::Device {
                engine::nodes::create::delete_device(c, &user, &n)
            } else {
                engine::nodes::create::delete_machine(c, &user, &n)
            }
        })
        .await?;
    Ok(Reply::NoContent)
}

fn parse_size(field: &str, v: &str) -> Result<i64> {
    let v = v.trim();
    let (num, mult) = match v.chars().last() {
        Some('K' | 'k') => (&v[..v.len() - 1], 1_000i64),
        Some('M' | 'm') => (&v[..v.len() - 1], 1_000_000),
        Some('G' | 'g') => (&v[..v.len() - 1], 1_000_000_000),
        Some('T' | 't') => (&v[..v.len() - 1], 1_000_000_000_000),
        _ => (v, 1),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| Error::field(field, format!("Invalid size '{v}': use bytes or a K, M, G, T suffix.")))?;
    if n < 0.0 || !n.is_finite() {
        return Err(Error::field(field, format!("Invalid size '{v}'.")));
    }
    Ok((n * mult as f64) as i64)
}

fn int_field<T: std::str::FromStr>(p: &Params, name: &str) -> Result<Option<T>> {
    match p.get_nonempty(name) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| Error::field(name, format!("'{v}' is not a whole number."))),
    }
}

pub(crate) async fn update_machine(ctx: Ctx) -> Result<Reply> {
    let p = &ctx.params;
    if p.bool("disable_ipv4")? == Some(true) {
        return Err(Error::field("disable_ipv4", "IPv4 cannot be disabled."));
    }
    let swap_size = match p.get("swap_size") {
        None => None,
        Some(v) if v.trim().is_empty() => Some(None),
        Some(v) => Some(Some(parse_size("swap_size", v)?)),
    };
    let u = MachineUpdate {
        hostname: p.get_nonempty("hostname").map(str::to_string),
        description: p.get("description").map(str::to_string),
        domain: p.get_nonempty("domain").map(str::to_string),
        architecture: p.get_nonempty("architecture").map(str::to_string),
        min_hwe_kernel: p.get("min_hwe_kernel").map(str::to_string),
        power_type: p.get("power_type").map(|s| s.trim().to_string()),
        power_parameters: power_params(p)?,
        power_skip_check: flag(p, "power_parameters_skip_check")?,
        zone: p.get_nonempty("zone").map(str::to_string),
        pool: p.get_nonempty("pool").map(str::to_string),
        swap_size,
        cpu_count: int_field(p, "cpu_count")?,
        memory: int_field(p, "memory")?,
    };
    with_machine(ctx, move |c, user, n| engine::nodes::create::update_machine(c, user, &n, u)).await
}

/// Known Ubuntu series: name → version (until boot resources list images).
const SERIES: &[(&str, &str)] = &[
    ("bionic", "18.04"),
    ("focal", "20.04"),
    ("jammy", "22.04"),
    ("noble", "24.04"),
    ("oracular", "24.10"),
    ("plucky", "25.04"),
    ("questing", "25.10"),
];

/// `jammy`, `ubuntu/jammy`, `22.04` → ("ubuntu", "jammy"); with `images`
/// (the names of uploaded or imported images: `custom/foo`, `centos/8`),
/// also `foo` or `custom/foo` (with `osystem` empty or `custom`) →
/// ("custom", "foo") and `centos/8` → ("centos", "8").
fn resolve_series(v: &str, osystem: Option<&str>, images: &[String]) -> Result<(String, String)> {
    let v = v.trim();
    let (os, series) = match v.split_once('/') {
        Some((os, s)) => (os, s),
        None => (osystem.filter(|o| !o.is_empty()).unwrap_or(""), v),
    };
    if matches!(os, "" | "ubuntu") {
        if let Some((name, _)) = SERIES.iter().find(|(name, ver)| *name == series || *ver == series) {
            return Ok(("ubuntu".into(), name.to_string()));
        }
    }
    let candidates = match os {
        "" | "custom" => vec![format!("custom/{series}"), series.to_string()],
        os => vec![format!("{os}/{series}")],
    };
    if let Some(found) = images.iter().find(|i| candidates.contains(i)) {
        return Ok(match found.split_once('/') {
            Some((os, s)) => (os.to_string(), s.to_string()),
            None => ("custom".into(), found.clone()),
        });
    }
    let mut valid: Vec<String> = SERIES.iter().map(|(n, _)| format!("'ubuntu/{n}'")).collect();
    valid.extend(images.iter().map(|i| format!("'{i}'")));
    Err(Error::field(
        "distro_series",
        format!("'{v}' is not a valid distro_series.  It should be one of: {}.", valid.join(", ")),
    ))
}

fn validate_kernel(k: &str) -> Result<()> {
    let ok = k == "generic"
        || k.split('-').collect::<Vec<_>>().as_slice().first().is_some_and(|p| matches!(*p, "ga" | "hwe"))
            && k.split('-').nth(1).is_some_and(|v| v.len() == 5 && v.as_bytes()[2] == b'.');
    if ok {
        Ok(())
    } else {
        Err(Error::field(
            "hwe_kernel",
            format!("{k} is not available: use ga-<version> or hwe-<version>, e.g. ga-24.04."),
        ))
    }
}

/// The deployment options of `deploy` (and of `power_on` on an allocated
/// machine, which starts a deployment), validated.
async fn deploy_input(ctx: &Ctx) -> Result<DeployInput> {
    let p = &ctx.params;
    let mut errors = FieldErrors::new();
    if p.bool("install_rackd")? == Some(true) {
        errors.insert("install_rackd".into(), vec!["The rack controller cannot be installed with deploy.".into()]);
    }
    if p.bool("install_kvm")? == Some(true) || p.bool("register_vmhost")? == Some(true) {
        errors.insert("install_kvm".into(), vec!["Ironpool does not manage VM hosts.".into()]);
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    // Images that can be deployed: what is uploaded or imported, besides
    // the Ubuntu series MAAS always knows.
    let images: Vec<String> = engine::boot_resources::complete_resources(ctx.db(), &ctx.state.config.data_dir)
        .await?
        .into_iter()
        .filter(|i| i.files.iter().any(|f| ironpool_common::deploy::packing(&f.filetype).is_some()))
        .map(|i| i.name)
        .collect();
    let osystem = p.get_nonempty("osystem");
    let series = match p.get_nonempty("distro_series") {
        Some(s) => Some(resolve_series(s, osystem, &images)?),
        None => None,
    };
    let hwe_kernel = p.get_nonempty("hwe_kernel").map(str::to_string);
    if let Some(k) = &hwe_kernel {
        validate_kernel(k)?;
    }
    let user_data = user_data(p)?;
    let (osystem, distro_series) = match series {
        Some(s) => s,
        None => {
            let default_series = engine::config::get(ctx.db(), "default_distro_series", true).await?;
            resolve_series(default_series.as_str().unwrap_or("noble"), None, &images)?
        }
    };
    Ok(DeployInput {
        osystem,
        distro_series,
        hwe_kernel,
        user_data,
        agent_name: p.get_nonempty("agent_name").map(str::to_string),
        comment: comment(p),
        ephemeral_deploy: flag(p, "ephemeral_deploy")?,
        enable_hw_sync: flag(p, "enable_hw_sync")?,
        enable_kernel_crash_dump: flag(p, "enable_kernel_crash_dump")?,
    })
}

pub(crate) async fn deploy(ctx: Ctx) -> Result<Reply> {
    let input = deploy_input(&ctx).await?;
    with_machine(ctx, move |c, user, n| engine::nodes::deploy::deploy(c, user, &n, input)).await
}

pub(crate) async fn release_one(ctx: Ctx) -> Result<Reply> {
    let p = &ctx.params;
    let input = ReleaseInput {
        erase: flag(p, "erase")?,
        secure_erase: flag(p, "secure_erase")?,
        quick_erase: flag(p, "quick_erase")?,
        force: flag(p, "force")?,
        comment: comment(p),
    };
    with_machine(ctx, move |c, user, n| engine::nodes::release::release(c, user, &n, input)).await
}

/// A scripts field (`commissioning_scripts`, `testing_scripts`): comma
/// separated and/or repeated, as MAAS's forms split it; `None` when absent.
fn script_list(p: &Params, name: &str) -> Option<Vec<String>> {
    let all = p.get_all(name);
    if all.is_empty() {
        return None;
    }
    Some(all.iter().flat_map(|v| v.split(',')).map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
}

/// The request's fields as script parameters (`<script>_<param>` or `<param>`).
fn script_parameters(p: &Params) -> std::collections::HashMap<String, String> {
    p.pairs().iter().filter(|(k, _)| k != "op").map(|(k, v)| (k.clone(), v.clone())).collect()
}

pub(crate) async fn commission(ctx: Ctx) -> Result<Reply> {
    let p = &ctx.params;
    let input = engine::nodes::commission::CommissionInput {
        enable_ssh: flag(p, "enable_ssh")?,
        skip_bmc_config: flag(p, "skip_bmc_config")?,
        skip_networking: flag(p, "skip_networking")?,
        skip_storage: flag(p, "skip_storage")?,
        commissioning_scripts: script_list(p, "commissioning_scripts"),
        testing_scripts: script_list(p, "testing_scripts"),
        parameters: script_parameters(p),
    };
    with_machine(ctx, move |c, user, n| engine::nodes::commission::commission_with(c, user, &n, &input)).await
}

/// `test`: MAAS's TestForm (enable_ssh, testing_scripts, parameters).
pub(crate) async fn test(ctx: Ctx) -> Result<Reply> {
    let p = &ctx.params;
    let input = engine::nodes::testing::TestInput {
        enable_ssh: flag(p, "enable_ssh")?,
        testing_scripts: script_list(p, "testing_scripts"),
        parameters: script_parameters(p),
    };
    with_machine(ctx, move |c, user, n| engine::nodes::testing::test(c, user, &n, &input)).await
}

pub(crate) async fn abort(ctx: Ctx) -> Result<Reply> {
    let cm = comment(&ctx.params);
    with_machine(ctx, move |c, user, n| engine::nodes::commission::abort(c, user, &n, &cm)).await
}

pub(crate) async fn power_on(ctx: Ctx) -> Result<Reply> {
    let input = deploy_input(&ctx).await?;
    with_machine(ctx, move |c, user, n| engine::nodes::deploy::power_on(c, user, &n, input)).await
}

pub(crate) async fn power_off(ctx: Ctx) -> Result<Reply> {
    if let Some(m) = ctx.params.get_nonempty("stop_mode") {
        if m != "soft" && m != "hard" {
            return Err(Error::field("stop_mode", "stop_mode must be soft or hard."));
        }
    }
    with_machine(ctx, |c, user, n| engine::nodes::power::power_off(c, user, &n)).await
}

/// `query_power_state`: asks the BMC now (MAAS does too) and records the
/// answer; a BMC that fails leaves `error` and an event, and the caller a 503.
/// The rack that drives the BMC asks when one is connected (as MAAS's rack
/// does), else the region.
pub(crate) async fn query_power_state(ctx: Ctx) -> Result<Reply> {
    let user = ctx.user()?.clone();
    let sid = ctx.path("system_id").to_string();
    let n = ctx.db().run(move |c| engine::access::get_visible(c, &user, &sid, "Machine")).await?;
    if engine::power::region_can_drive(&n.power_type) {
        return Ok(Reply::json(crate::api::views::machine::PowerStateView { state: &n.power_state }));
    }
    engine::nodes::power::require_trusted_power(&n)?;
    let node = n.clone();
    if let Some(q) = ctx.db().write(move |c| engine::jobs::power::query_on_rack(c, &node)).await? {
        let state = engine::jobs::power::wait_for_query(ctx.db(), q).await?;
        let state = state.map_err(Error::Unavailable)?;
        return Ok(Reply::json(crate::api::views::machine::PowerStateView { state: &state }));
    }
    let hub = &ctx.state.power;
    let params = engine::power::driver_params(&n.system_id, &n.power_parameters);
    let result = hub.drivers.act(&n.power_type, engine::power::PowerAction::Query, &params, &hub.retry).await;
    let state = ctx.db().write(move |c| engine::jobs::power::record_query(c, n.id, result)).await?;
    let state = state.map_err(Error::Unavailable)?;
    Ok(Reply::json(crate::api::views::machine::PowerStateView { state: &state }))
}

pub(crate) async fn power_parameters_one(ctx: Ctx) -> Result<Reply> {
    let user = ctx.admin()?.clone();
    let sid = ctx.path("system_id").to_string();
    let v = ctx
        .db()
        .run(move |c| Ok(engine::nodes::power::power_parameters(&engine::access::get_visible(c, &user, &sid, "Node")?)))
        .await?;
    Ok(Reply::Json(v))
}

/// Minimal BSON: a document mapping probe names to binary XML blobs (empty
/// documents where commissioning stored no probe output). knife-maas
/// parses each value as XML, so they are never null.
fn bson_blobs(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in entries {
        body.push(0x05); // binary
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(&(v.len() as i32).to_le_bytes());
        body.push(0x00); // generic subtype
        body.extend_from_slice(v);
    }
    let len = (4 + body.len() + 1) as i32;
    let mut doc = len.to_le_bytes().to_vec();
    doc.extend(body);
    doc.push(0);
    doc
}

pub(crate) async fn details(ctx: Ctx) -> Result<Reply> {
    let user = ctx.user()?.clone();
    let sid = ctx.path("system_id").to_string();
    let d = ctx
        .db()
        .run(move |c| {
            let n = engine::access::get_visible(c, &user, &sid, "Node")?;
            db::node_details::of(c, n.id)
        })
        .await?;
    Ok(details_reply(d))
}

/// The `details` answer every node type gives (machines, devices, nodes):
/// MAAS's BSON `{"lldp": binary, "lshw": binary}` with what the last
/// commissioning reported, an empty document for what it did not.
pub(crate) fn details_reply(d: Option<db::node_details::NodeDetails>) -> Reply {
    let empty_lshw: &[u8] = b"<?xml version=\"1.0\" standalone=\"yes\" ?>\n<list>\n</list>\n";
    let empty_lldp: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<lldp label=\"LLDP neighbors\"/>\n";
    let d = d.unwrap_or_default();
    let lshw = d.lshw.as_deref().unwrap_or(empty_lshw);
    let lldp = d.lldp.as_deref().unwrap_or(empty_lldp);
    Reply::Bytes("application/bson", bson_blobs(&[("lshw", lshw), ("lldp", lldp)]))
}

pub(crate) async fn get_token(ctx: Ctx) -> Result<Reply> {
    let admin = ctx.admin()?.clone();
    let sid = ctx.path("system_id").to_string();
    let t = ctx
        .db()
        .write(move |c| {
            let n = engine::access::get_visible(c, &admin, &sid, "Machine")?;
            engine::metadata::token::ensure_token(c, &n)
        })
        .await?;
    Ok(Reply::json(crate::api::views::account::NodeCredentials::of(&t)))
}

pub(crate) async fn mark_broken(ctx: Ctx) -> Result<Reply> {
    let cm = ctx.params.get("comment").or(ctx.params.get("error_description")).unwrap_or("").to_string();
    with_machine(ctx, move |c, user, n| engine::nodes::commission::mark_broken(c, user, &n, &cm)).await
}

pub(crate) async fn mark_fixed(ctx: Ctx) -> Result<Reply> {
    let cm = comment(&ctx.params);
    with_machine(ctx, move |c, user, n| engine::nodes::commission::mark_fixed(c, user, &n, &cm)).await
}

pub(crate) async fn override_failed_testing(ctx: Ctx) -> Result<Reply> {
    let cm = comment(&ctx.params);
    with_machine(ctx, move |c, user, n| engine::nodes::commission::override_failed_testing(c, user, &n, &cm)).await
}

pub(crate) async fn lock(ctx: Ctx) -> Result<Reply> {
    let cm = comment(&ctx.params);
    with_machine(ctx, move |c, user, n| engine::nodes::owner_data::lock(c, user, &n, &cm)).await
}

pub(crate) async fn unlock(ctx: Ctx) -> Result<Reply> {
    let cm = comment(&ctx.params);
    with_machine(ctx, move |c, user, n| engine::nodes::owner_data::unlock(c, user, &n, &cm)).await
}

pub(crate) async fn rescue_mode(ctx: Ctx) -> Result<Reply> {
    with_machine(ctx, |c, user, n| engine::nodes::commission::rescue_mode(c, user, &n)).await
}

pub(crate) async fn exit_rescue_mode(ctx: Ctx) -> Result<Reply> {
    with_machine(ctx, |c, user, n| engine::nodes::commission::exit_rescue_mode(c, user, &n)).await
}

pub(crate) async fn set_owner_data(ctx: Ctx) -> Result<Reply> {
    let pairs = owner_data_pairs(&ctx.params);
    with_machine(ctx, move |c, user, n| engine::nodes::owner_data::set_owner_data(c, user, &n, &pairs)).await
}

pub(crate) async fn clone(ctx: Ctx) -> Result<Reply> {
    let user = ctx.user()?.clone();
    let p = &ctx.params;
    let input = engine::nodes::clone::CloneInput {
        source: p.get("source").map(str::to_string),
        destinations: list_of(p, "destinations")?,
        storage: flag(p, "storage")?,
        interfaces: flag(p, "interfaces")?,
    };
    ctx.db().write(move |c| engine::nodes::clone::clone(c, &user, &input)).await?;
    Ok(Reply::NoContent)
}

pub(crate) async fn mount_special(ctx: Ctx) -> Result<Reply> {
    let p = &ctx.params;
    let (fstype, mount_point, options) = (
        p.get("fstype").map(str::to_string),
        p.get("mount_point").map(str::to_string),
        p.get("mount_options").map(str::to_string),
    );
    with_machine(ctx, move |c, user, n| {
        engine::storage::special::mount(c, user, &n, fstype.as_deref(), mount_point.as_deref(), options.as_deref())?;
        Ok(n)
    })
    .await
}

pub(crate) async fn unmount_special(ctx: Ctx) -> Result<Reply> {
    let mount_point = ctx.params.get("mount_point").map(str::to_string);
    with_machine(ctx, move |c, user, n| {
        engine::storage::special::unmount(c, user, &n, mount_point.as_deref())?;
        Ok(n)
    })
    .await
}

/// `get_curtin_config`: MAAS's status rule (400 outside the deployment
/// states, naming the hostname) and its answer, YAML as `text/plain`.
pub(crate) async fn get_curtin_config(ctx: Ctx) -> Result<Reply> {
    let user = ctx.user()?.clone();
    let sid = ctx.path("system_id").to_string();
    let (base, dir) = (ctx.origin.clone(), ctx.state.config.data_dir.clone());
    let cfg = ctx
        .db()
        .run(move |c| {
            let n = engine::access::get_visible(c, &user, &sid, "Machine")?;
            if n.node_type != NodeType::Machine {
                return Err(Error::NotFound("Machine"));
            }
            if !matches!(n.status, Status::Deploying | Status::Deployed | Status::FailedDeployment) {
                return Err(Error::BadRequest(format!("Machine {} is not in a deployment state.", n.hostname)));
            }
            engine::metadata::install_view(c, &dir, &base, &n)
        })
        .await?;
    let yaml = serde_norway::to_string(&cfg).map_err(Error::internal)?;
    Ok(Reply::Bytes("text/plain", yaml.into_bytes()))
}

async fn restore(ctx: Ctx, what: engine::nodes::restore::Restore) -> Result<Reply> {
    with_machine(ctx, move |c, user, n| engine::nodes::restore::restore(c, user, &n, what)).await
}

pub(crate) async fn restore_networking(ctx: Ctx) -> Result<Reply> {
    restore(ctx, engine::nodes::restore::Restore::Networking).await
}

pub(crate) async fn restore_storage(ctx: Ctx) -> Result<Reply> {
    restore(ctx, engine::nodes::restore::Restore::Storage).await
}

pub(crate) async fn restore_default(ctx: Ctx) -> Result<Reply> {
    restore(ctx, engine::nodes::restore::Restore::Both).await
}

pub(crate) async fn clear_default_gateways(ctx: Ctx) -> Result<Reply> {
    with_machine(ctx, |c, user, n| engine::nodes::restore::clear_default_gateways(c, user, &n)).await
}

/// The key=value pairs of `set_owner_data` / `set_workload_annotations`:
/// every field but `op` (MAAS skips it too).
pub(crate) fn owner_data_pairs(p: &Params) -> Vec<(String, String)> {
    p.pairs().iter().filter(|(k, _)| k != "op").cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_and_kernels() {
        assert_eq!(resolve_series("jammy", None, &[]).unwrap().1, "jammy");
        assert_eq!(resolve_series("ubuntu/noble", None, &[]).unwrap().1, "noble");
        assert_eq!(resolve_series("22.04", None, &[]).unwrap().1, "jammy");
        assert!(resolve_series("windows/2019", None, &[]).is_err());
        assert!(resolve_series("nonsense", None, &[]).is_err());
        let images = vec!["custom/e2e".to_string(), "centos/8".to_string(), "bare".to_string()];
        let r = |v, os| resolve_series(v, os, &images).map_err(|e| e.to_string());
        assert_eq!(r("e2e", Some("custom")), Ok(("custom".into(), "e2e".into())));
        assert_eq!(r("custom/e2e", None), Ok(("custom".into(), "e2e".into())));
        assert_eq!(r("bare", None), Ok(("custom".into(), "bare".into())));
        assert_eq!(r("8", Some("centos")), Ok(("centos".into(), "8".into())));
        assert!(r("e2e", Some("centos")).unwrap_err().contains("'custom/e2e'"));
        assert!(validate_kernel("ga-22.04").is_ok());
        assert!(validate_kernel("hwe-24.04-edge").is_ok());
        assert!(validate_kernel("linux").is_err());
    }

    #[test]
    fn sizes_and_bson() {
        assert_eq!(parse_size("s", "2G").unwrap(), 2_000_000_000);
        assert_eq!(parse_size("s", "512").unwrap(), 512);
        assert!(parse_size("s", "lots").is_err());
        let doc = bson_blobs(&[("lshw", b"<a/>")]);
        assert_eq!(doc.len(), 4 + 1 + 5 + 4 + 1 + 4 + 1);
        assert_eq!(i32::from_le_bytes([doc[0], doc[1], doc[2], doc[3]]) as usize, doc.len());
    }
}
