//! The metadata service's rules (`maas-api.md` §11): node tokens, what a
//! booting machine is told (preseeds, meta-data, user data), the `signal`
//! state machine, the status webhook, and turning a commissioning inventory
//! into the machine's model.
//!
//! Every function runs inside one write transaction, so a signal that fails
//! half-way (a malformed inventory, a refused transition) leaves nothing
//! behind: no script result, no disk, no status change.

use base64::Engine as _;
use ironpool_common::inventory::{Inventory, COMMISSIONING_SCRIPT, LLDP_SCRIPT, LSHW_SCRIPT};

use crate::db;
use crate::db::interfaces::NewInterface;
use crate::db::metadata::NodeToken;
use crate::db::nodes::{Node, NodeChanges};
use crate::db::DbConn;
use crate::engine;
use crate::engine::events::{event, log_event};
use crate::engine::lifecycle::Status;
use crate::engine::power::PowerAction;
use crate::engine::storage::devices::DiskInventory;
use crate::error::{Error, Result};

pub mod token;

/// Metadata versions MAAS serves; anything else is a 404.
pub const VERSIONS: [&str; 2] = ["2012-03-01", "latest"];

/// Who signs metadata events in the node's event log.
const ACTOR: &str = "metadata";

pub use token::in_ephemeral_phase;

/// The phase name written into the preseed for our agent.
pub fn phase_name(st: Status) -> &'static str {
    match st {
        Status::Commissioning => "commissioning",
        Status::Deploying => "deploying",
        Status::DiskErasing => "disk_erasing",
        Status::Releasing => "releasing",
        Status::Testing => "testing",
        Status::EnteringRescueMode => "rescue",
        _ => "none",
    }
}

/// Cloud-config for a node (or, with `None`, for enlistment): cloud-init's
/// MAAS datasource with the metadata URL and credentials, the status
/// webhook, and an `ironpool` block our agent reads (phase, system_id).
/// Cloud-init ignores keys it does not know.
pub fn preseed(base: &str, node: Option<(&Node, &NodeToken)>) -> String {
    let md = format!("{base}/MAAS/metadata/");
    match node {
        None => format!(
            "#cloud-config\ndatasource:\n  MAAS:\n    metadata_url: \"{md}enlist/\"\nironpool:\n  phase: \"enlisting\"\n  region_url: \"{base}/MAAS/\"\n"
        ),
        Some((n, t)) => format!(
            "#cloud-config\n\
             datasource:\n  MAAS:\n    metadata_url: \"{md}\"\n    consumer_key: \"{ck}\"\n    token_key: \"{tk}\"\n    token_secret: \"{ts}\"\n\
             reporting:\n  maas:\n    type: webhook\n    endpoint: \"{md}status/{sid}\"\n    consumer_key: \"{ck}\"\n    token_key: \"{tk}\"\n    token_secret: \"{ts}\"\n\
             ironpool:\n  phase: \"{phase}\"\n  system_id: \"{sid}\"\n  region_url: \"{base}/MAAS/\"\n{erase}",
            erase = if n.status == Status::DiskErasing {
                format!("  erase: \"{}\"\n", if n.erase_mode.is_empty() { "full" } else { &n.erase_mode })
            } else if n.status == Status::Deploying && n.ephemeral_deploy {
                // MAAS 3.5: the deployment runs in this environment; no disk is written.
                "  ephemeral_deploy: \"true\"\n".to_string()
            } else {
                String::new()
            },
            ck = t.consumer_key,
            tk = t.token_key,
            ts = t.token_secret,
            sid = n.system_id,
            phase = phase_name(n.status),
        ),
    }
}

/// Who calls a `by-id/{system_id}/` operation (`get_preseed`,
/// `netboot_off`), and with what.
#[derive(Debug, Clone, Copy)]
pub enum ByIdCaller<'a> {
    /// The URL carried this boot secret (`by-id/<id>/<secret>/`): the URL
    /// of the machine's current boot configuration.
    BootSecret(&'a str),
    /// Signed with the current token of the node with this id (a machine
    /// re-reading its own preseed).
    Node(i64),
    /// No secret, no credentials: MAAS's plain `by-id/<id>/?op=get_preseed`.
    Anonymous,
}

/// `by-id/{system_id}/[{boot_secret}/]?op=get_preseed`: the node's
/// cloud-config, credentials included. Only to whoever shows it is the
/// machine's current boot: the phase's boot secret from the kernel command
/// line, or the node's own token; and only while the machine boots an
/// ephemeral environment (403 saying so, to the machine). The one
/// anonymous case is MAAS's enlistment, where the script that just created
/// the machine (`POST machines/`, anonymous) fetches its preseed by
/// system_id: allowed while the machine is enlisting, unowned, so the token
/// can reach nothing of a tenant's, and it is revoked when enlistment ends.
///
/// A caller who has not shown it is the machine gets the same answer
/// whether the system_id exists or not, and nothing of its status: the
/// by-id URLs are not an oracle for which machines exist or what they do.
pub fn get_preseed(c: &mut DbConn, base: &str, system_id: &str, caller: ByIdCaller<'_>) -> Result<String> {
    let refused = || by_id_refusal(system_id, caller, ByIdOp::Preseed);
    let n = db::nodes::by_system_id(c, system_id)?.ok_or_else(refused)?;
    let enlisting = n.enlisting && n.status == Status::Commissioning && n.owner_id.is_none();
    let anonymous_enlistment = enlisting && matches!(caller, ByIdCaller::Anonymous);
    if !(anonymous_enlistment || by_id_caller_is_node(c, &n, caller)?) {
        return Err(refused());
    }
    if !in_ephemeral_phase(n.status) {
        return Err(Error::Forbidden(format!(
            "Machine {system_id} is not booting an ephemeral environment ('{}'); its preseed is not available.",
            n.status.label()
        )));
    }
    let t = token::ensure_token(c, &n)?;
    let mut doc = preseed(base, Some((&n, &t)));
    if let Some(keys) = ssh_for_run(c, &n)? {
        doc.push_str(&ssh_block(&keys));
    }
    Ok(doc)
}

/// The SSH keys to put in the ephemeral environment when its run was
/// started with `enable_ssh` (MAAS: the owner's, else the requester's keys);
/// `None` when SSH stays off.
fn ssh_for_run(c: &mut DbConn, n: &Node) -> Result<Option<Vec<String>>> {
    if !matches!(n.status, Status::Commissioning | Status::Testing) {
        return Ok(None);
    }
    let opts = engine::results::run_options(c, n, engine::results::result_type_for(n.status))?;
    if !engine::results::option_set(&opts, "enable_ssh") {
        return Ok(None);
    }
    let user = n.owner_id.or_else(|| opts.get("requested_by").and_then(|v| v.as_i64()));
    let keys = match user {
        Some(u) => db::sshkeys::ssh_list(c, u)?.into_iter().map(|k| k.key).collect(),
        None => Vec::new(),
    };
    Ok(Some(keys))
}

/// The cloud-config lines that keep SSH on in the ephemeral environment:
/// cloud-init's `ssh_authorized_keys` (it installs them for the default
/// user) and our agent's `enable_ssh` flag under `ironpool` (it then leaves
/// sshd running and the machine on). Appended after the `ironpool` block,
/// so `enable_ssh` lands inside it.
fn ssh_block(keys: &[String]) -> String {
    let quote = |k: &str| format!("\"{}\"", k.replace('\\', "\\\\").replace('"', "\\\""));
    let mut out = String::from("  enable_ssh: true\nssh_pwauth: false\nssh_authorized_keys:");
    if keys.is_empty() {
        out.push_str(" []\n");
    } else {
        out.push('\n');
        for k in keys {
            out.push_str(&format!("  - {}\n", quote(k)));
        }
    }
    out
}

/// Whether a `by-id/` caller is node `n` in its current phase: the phase's
/// boot secret, or the node's own (current) token.
fn by_id_caller_is_node(c: &mut DbConn, n: &Node, caller: ByIdCaller<'_>) -> Result<bool> {
    Ok(match caller {
        ByIdCaller::BootSecret(s) => {
            db::metadata::token_of(c, n.id)?.is_some_and(|t| token::boot_secret_matches(&t, s))
        }
        ByIdCaller::Node(id) => id == n.id,
        ByIdCaller::Anonymous => false,
    })
}

#[derive(Debug, Clone, Copy)]
enum ByIdOp {
    Preseed,
    NetbootOff,
}

/// The answer to a `by-id/` caller who has not shown it is the machine:
/// it depends on what the caller brought and asked, never on whether
/// `system_id` exists or on its status.
fn by_id_refusal(system_id: &str, caller: ByIdCaller<'_>, op: ByIdOp) -> Error {
    match (caller, op) {
        (ByIdCaller::BootSecret(_), _) => Error::Forbidden(format!(
            "The boot secret in this URL is not machine {system_id}'s current one (it changes with every phase); \
             power-cycle the machine so it boots with its current boot configuration."
        )),
        (ByIdCaller::Node(_), _) => Error::Forbidden(format!("Not authenticated as machine {system_id}.")),
        (ByIdCaller::Anonymous, ByIdOp::Preseed) => Error::Forbidden(format!(
            "The preseed of machine {system_id} carries its credentials: it is served only at the URL of its \
             current boot configuration (cloud-config-url on the kernel command line, \
             .../by-id/{system_id}/<boot secret>/?op=get_preseed) or to the machine itself."
        )),
        (ByIdCaller::Anonymous, ByIdOp::NetbootOff) => Error::Unauthorized(format!(
            "netboot_off changes machine {system_id}'s boot: sign the request with the machine's metadata \
             token (OAuth), or use the URL with its boot secret."
        )),
    }
}

/// `by-id/{system_id}/[{boot_secret}/]?op=netboot_off`: the installer's
/// "boot from disk from now on". MAAS takes it from anyone; here the caller
/// must be the machine: signed with its token (our agent uses
/// `{v}/?op=netboot_off`, signed, instead) or holding its boot secret (the
/// URL a curtin late command would be given). Anyone else could otherwise
/// leave a deploying machine booting its empty disk until the timeout.
/// Unknown and known system_ids are refused alike.
pub fn netboot_off_by_id(c: &mut DbConn, system_id: &str, caller: ByIdCaller<'_>) -> Result<()> {
    let refused = || by_id_refusal(system_id, caller, ByIdOp::NetbootOff);
    let n = db::nodes::by_system_id(c, system_id)?.ok_or_else(refused)?;
    // A signed node without a current token cannot be here (its token is
    // what authenticated it), so the token check covers every caller.
    if db::metadata::token_of(c, n.id)?.is_none() || !by_id_caller_is_node(c, &n, caller)? {
        return Err(refused());
    }
    set_netboot(c, &n, false)
}

/// What a network boot of `mac` does, as the rack's PXE answer decides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootAction {
    /// Unknown machine: boot the ephemeral image with the enlistment preseed.
    Enlist,
    /// Known machine in an ephemeral phase: boot with its own preseed, at
    /// `preseed_path` under `/MAAS/metadata/` (with the phase's boot secret).
    Ephemeral { system_id: String, preseed_path: String },
    /// Boot from the local disk (deployed, or nothing to do).
    LocalDisk,
}

pub fn boot_action(c: &mut DbConn, mac: &str) -> Result<BootAction> {
    let Some(mac) = engine::names::normalise_mac(mac) else { return Ok(BootAction::LocalDisk) };
    let Some((node_id, _)) = db::nodes::node_ids_with_macs(c, &[mac])?.into_iter().next() else {
        return Ok(BootAction::Enlist);
    };
    let Some(n) = db::nodes::by_ids(c, &[node_id])?.pop() else { return Ok(BootAction::Enlist) };
    if n.netboot && in_ephemeral_phase(n.status) {
        let secret = db::metadata::token_of(c, n.id)?.map(|t| t.boot_secret).unwrap_or_default();
        Ok(BootAction::Ephemeral { preseed_path: token::preseed_path(&n.system_id, &secret), system_id: n.system_id })
    } else {
        Ok(BootAction::LocalDisk)
    }
}

/// `meta-data/local-hostname`: the node's FQDN.
pub fn fqdn(c: &mut DbConn, n: &Node) -> Result<String> {
    let domain = db::places::domains(c)?.into_iter().find(|d| d.id == n.domain_id).map(|d| d.name);
    Ok(format!("{}.{}", n.hostname, domain.unwrap_or_else(|| "maas".into())))
}

/// `meta-data/public-keys`: the owner's SSH keys (none for unowned nodes).
pub fn public_keys(c: &mut DbConn, n: &Node) -> Result<Vec<String>> {
    match n.owner_id {
        Some(owner) => Ok(db::sshkeys::ssh_list(c, owner)?.into_iter().map(|k| k.key).collect()),
        None => Ok(Vec::new()),
    }
}

/// `meta-data/vendor-data`: a cloud-config carried under `cloud-init`, with
/// the NTP servers from the MAAS configuration.
pub fn vendor_data(c: &mut DbConn) -> Result<String> {
    let ntp: String = db::config::get(c, "ntp_servers")?
        .and_then(|v| serde_json::from_str::<String>(&v).ok())
        .unwrap_or_else(|| "ntp.ubuntu.com".into());
    let servers: Vec<String> =
        ntp.split([',', ' ']).filter(|s| !s.is_empty()).map(|s| format!("\\\"{s}\\\"")).collect();
    Ok(format!(
        "cloud-init: \"#cloud-config\\nntp:\\n  servers: [{}]\\nsystem_info:\\n  default_user:\\n    name: ubuntu\\n\"\n",
        servers.join(", ")
    ))
}

/// The image resource names a deploy of `osystem`/`distro_series` may use:
/// `custom/foo` or a bare `foo` for custom images, `os/series` otherwise
/// (empty values fall back to the configured defaults).
fn image_names(c: &mut DbConn, n: &Node) -> Result<Vec<String>> {
    let setting = |c: &mut DbConn, k: &str| -> Result<String> {
        Ok(db::config::get(c, k)?.and_then(|v| serde_json::from_str::<String>(&v).ok()).unwrap_or_else(|| {
            if k == "default_osystem" {
                "ubuntu".into()
            } else {
                "noble".into()
            }
        }))
    };
    let series =
        if n.distro_series.is_empty() { setting(c, "default_distro_series")? } else { n.distro_series.clone() };
    if series.contains('/') {
        return Ok(vec![series]);
    }
    let os = if n.osystem.is_empty() && n.distro_series.is_empty() {
        setting(c, "default_osystem")?
    } else {
        n.osystem.clone()
    };
    Ok(match os.as_str() {
        "" | "custom" => vec![format!("custom/{series}"), series],
        os => vec![format!("{os}/{series}")],
    })
}

/// `curtin/latest/user-data` for a Deploying machine: the image to write
/// (served by the rack the machine talks through, at `base`), its boot disk
/// and hostname. A 404 names what is missing when no uploaded or imported
/// image fits, so the installer can fail the deployment with that message.
/// An ephemeral deployment reads the same document (`ironpool.ephemeral_deploy`
/// set): its agent runs the image from memory with the network, apt and
/// hostname it gives, and ignores the storage.
pub fn curtin_config(c: &mut DbConn, data_dir: &std::path::Path, base: &str, n: &Node) -> Result<String> {
    if n.status != Status::Deploying {
        return Err(Error::Conflict(format!(
            "Machine {} is not deploying ('{}'); there is no installation config.",
            n.system_id,
            n.status.label()
        )));
    }
    let cfg = install_document(c, data_dir, base, n)?;
    serde_json::to_string_pretty(&cfg).map_err(|e| Error::Internal(format!("curtin config: {e}")))
}

/// The installation document of `n` whatever its status (what
/// `machines/{id}/?op=get_curtin_config` shows): image, boot disk, hostname,
/// the `apt` configuration from `package-repositories/`, curtin's `storage`
/// configuration from the storage model and cloud-init's `network`
/// configuration from the interfaces.
pub fn install_document(
    c: &mut DbConn,
    data_dir: &std::path::Path,
    base: &str,
    n: &Node,
) -> Result<ironpool_common::deploy::CurtinConfig> {
    use ironpool_common::deploy::{self, CurtinConfig, CurtinSource, DeployImage, DeployPlan, DiskHint};
    let names = image_names(c, n)?;
    let arch = node_arch(n);
    let images = engine::boot_resources::complete_in(c, data_dir)?;
    let found = images
        .iter()
        .filter(|i| i.arch == arch && names.contains(&i.name))
        .max_by_key(|i| i.id)
        .and_then(|i| Some((i, i.files.iter().find(|f| deploy::packing(&f.filetype).is_some())?)));
    let Some((img, file)) = found else {
        return Err(Error::NotFoundText(format!(
            "No deployable {arch} image named {} is uploaded or imported; upload one with boot-resources/.",
            names.join(" or ")
        )));
    };
    let storage = db::storage::load_node(c, n.id)?;
    let boot = storage
        .devices
        .iter()
        .filter(|d| d.dev_type == "physical")
        .find(|d| d.is_boot_disk)
        .or_else(|| storage.devices.iter().find(|d| d.dev_type == "physical"));
    let url = format!("{base}/images/{}", file.sha256);
    let plan = DeployPlan {
        system_id: n.system_id.clone(),
        hostname: fqdn(c, n)?,
        image: DeployImage {
            name: img.name.clone(),
            filetype: file.filetype.clone(),
            url: url.clone(),
            sha256: file.sha256.clone(),
            size: file.size,
        },
        boot_disk: boot.map(|d| DiskHint {
            name: d.name.clone(),
            serial: d.serial.clone().unwrap_or_default(),
            size: d.size.max(0) as u64,
        }),
        ephemeral_deploy: n.ephemeral_deploy,
    };
    let apt = node_apt(c, n, &names, &arch)?;
    Ok(CurtinConfig {
        sources: [("00".to_string(), CurtinSource { kind: deploy::curtin_type(&file.filetype).into(), uri: url })]
            .into(),
        apt: Some(apt),
        storage: Some(engine::storage::curtin::storage_config(&engine::storage::model::Storage::new(n, &storage))),
        network: Some(engine::netconfig::network_config(c, n)?),
        ironpool: plan,
    })
}

/// The node's architecture without its subarchitecture (`amd64`).
fn node_arch(n: &Node) -> String {
    n.architecture.as_deref().unwrap_or("amd64/generic").split('/').next().unwrap_or("amd64").to_string()
}

/// The apt configuration for the release the node deploys (`names[0]` is
/// its `os/series`, e.g. `ubuntu/noble`, `custom/tiny`).
fn node_apt(c: &mut DbConn, n: &Node, names: &[String], arch: &str) -> Result<ironpool_common::deploy::AptConfig> {
    let release = names.first().cloned().unwrap_or_else(|| format!("custom/{}", n.distro_series));
    let (osystem, series) = release.split_once('/').unwrap_or(("custom", release.as_str()));
    engine::package_repositories::apt_config(c, arch, osystem, series)
}

/// What `machines/{id}/?op=get_curtin_config` shows: the install document;
/// for a machine whose image is no longer (or never was) here, the same
/// document without `sources`, saying which image is missing (MAAS renders
/// its config whatever the image store holds).
pub fn install_view(c: &mut DbConn, data_dir: &std::path::Path, base: &str, n: &Node) -> Result<serde_json::Value> {
    match install_document(c, data_dir, base, n) {
        Ok(cfg) => serde_json::to_value(cfg).map_err(Error::internal),
        Err(Error::NotFoundText(why)) => {
            let names = image_names(c, n)?;
            let apt = node_apt(c, n, &names, &node_arch(n))?;
            let storage = db::storage::load_node(c, n.id)?;
            let storage = engine::storage::curtin::storage_config(&engine::storage::model::Storage::new(n, &storage));
            Ok(serde_json::json!({
                "sources": {},
                "apt": apt,
                "storage": storage,
                "network": engine::netconfig::network_config(c, n)?,
                "ironpool": {
                    "system_id": n.system_id,
                    "hostname": fqdn(c, n)?,
                    "ephemeral_deploy": n.ephemeral_deploy,
                    "missing_image": why,
                },
            }))
        }
        Err(e) => Err(e),
    }
}

/// `op=netboot_on` / `op=netboot_off`.
pub fn set_netboot(c: &mut DbConn, n: &Node, on: bool) -> Result<()> {
    db::nodes::update(c, n.id, &NodeChanges { netboot: Some(on), ..Default::default() })?;
    Ok(())
}

// ---- signal -------------------------------------------------------------------

/// The `status` values `signal` accepts.
pub const SIGNAL_STATUSES: [&str; 10] = [
    "OK",
    "FAILED",
    "WORKING",
    "COMMISSIONING",
    "TESTING",
    "TIMEDOUT",
    "INSTALLING",
    "APPLYING_NETCONF",
    "RELEASING",
    "DEPLOYING",
];

/// MAAS's script status codes (one list, with the results).
use crate::engine::results::status as script_status;

/// One `signal` call, decoded.
#[derive(Debug, Clone, Default)]
pub struct Signal {
    pub status: String,
    pub error: Option<String>,
    pub name: Option<String>,
    pub exit_status: Option<i32>,
    pub runtime: Option<String>,
    /// The result row the report is for (one instance of a per-device
    /// script), as the runner was given it in `index.json`.
    pub script_result_id: Option<i64>,
    /// File parts: (part name, content).
    pub files: Vec<(String, Vec<u8>)>,
    /// The BMC the machine configured (`30-maas-01-bmc-config`): a power
    /// type and its parameters as a JSON object.
    pub power_type: Option<String>,
    pub power_parameters: Option<String>,
}

/// The outputs of one script, gathered from a signal's file parts.
#[derive(Default)]
struct Outputs {
    output: Vec<u8>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    result: Vec<u8>,
}

fn group_files(files: &[(String, Vec<u8>)]) -> Vec<(String, Outputs)> {
    let mut out: Vec<(String, Outputs)> = Vec::new();
    for (part, data) in files {
        let (script, kind) = if let Some(s) = part.strip_suffix(".out") {
            (s, 1)
        } else if let Some(s) = part.strip_suffix(".err") {
            (s, 2)
        } else if let Some(s) = part.strip_suffix(".yaml") {
            (s, 3)
        } else {
            (part.as_str(), 0)
        };
        let i = match out.iter().position(|(n, _)| n == script) {
            Some(i) => i,
            None => {
                out.push((script.to_string(), Outputs::default()));
                out.len() - 1
            }
        };
        let o = &mut out[i].1;
        match kind {
            1 => o.stdout = data.clone(),
            2 => o.stderr = data.clone(),
            3 => o.result = data.clone(),
            _ => o.output = data.clone(),
        }
    }
    out
}

/// Handles `POST {v}/?op=signal` from node `n` (§11.2's table).
pub fn signal(c: &mut DbConn, n: &Node, s: &Signal) -> Result<()> {
    if !SIGNAL_STATUSES.contains(&s.status.as_str()) {
        return Err(Error::field(
            "status",
            format!(
                "Select a valid choice. {} is not one of the available choices: {}.",
                s.status,
                SIGNAL_STATUSES.join(", ")
            ),
        ));
    }
    let st = n.status;
    if matches!(st, Status::Broken | Status::Ready) || st.label().starts_with("Failed") || st == Status::FailedReleasing
    {
        return Ok(()); // MAAS ignores late signals from these
    }
    let handled = matches!(
        st,
        Status::New
            | Status::Commissioning
            | Status::Testing
            | Status::Deploying
            | Status::DiskErasing
            | Status::EnteringRescueMode
            | Status::Releasing
    );
    if !handled || (st == Status::New && s.status != "COMMISSIONING") {
        return Err(Error::Conflict(format!("Machine status isn't valid (status is {})", st.label())));
    }
    record_results(c, n, s)?;
    if matches!(st, Status::New | Status::Commissioning) {
        store_power(c, n, s)?;
    }
    if let Some(e) = s.error.as_deref().filter(|e| !e.is_empty()) {
        db::nodes::update(c, n.id, &NodeChanges { error_description: Some(e.to_string()), ..Default::default() })?;
    }
    let failed = matches!(s.status.as_str(), "FAILED" | "TIMEDOUT");
    let reason = s.error.clone().unwrap_or_default();
    match (st, s.status.as_str()) {
        (Status::New, _) => {
            engine::nodes::state::enter_timed(c, n, Status::Commissioning, ACTOR, "", NodeChanges::default())?;
        }
        (Status::Commissioning, "OK") => {
            finish_commissioning(c, n)?;
        }
        (Status::Commissioning, "TESTING") => {
            // The commissioning scripts are done and the run goes on to its
            // tests: the model is updated now, the machine is Testing.
            finish_commissioning_into(c, n, true)?;
        }
        (Status::Testing, "OK") => {
            let rtype = engine::results::result_type::TESTING;
            if let Some(bad) = engine::results::first_failure(c, n, rtype)? {
                return fail(c, n, &script_failure(&bad));
            }
            engine::results::close_run(c, n, rtype, false)?;
            let to = engine::nodes::testing::after_testing(n);
            // An enlisting machine's tests end its enlistment (New).
            let changes = NodeChanges { enlisting: Some(false), ..cleared() };
            let node = engine::nodes::state::transition(c, n, to, ACTOR, "", changes)?;
            // enable_ssh was given to `test`, or to the `commission` whose
            // tests these were.
            let ssh = engine::results::run_option(c, &node, rtype, "enable_ssh")?
                || (n.previous_status == Status::Commissioning
                    && engine::results::run_option(
                        c,
                        &node,
                        engine::results::result_type::COMMISSIONING,
                        "enable_ssh",
                    )?);
            if !ssh {
                power_off(c, &node)?;
            }
        }
        (Status::Commissioning | Status::Testing, "FAILED" | "TIMEDOUT") => {
            let rtype = engine::results::result_type_for(st);
            let why = match engine::results::first_failure(c, n, rtype)? {
                Some(bad) => script_failure(&bad),
                None => reason.clone(),
            };
            fail(c, n, &why)?;
            // The machine's own error text, when it sent one, is the
            // error description; the event names the script.
            if !reason.is_empty() {
                db::nodes::update(c, n.id, &NodeChanges { error_description: Some(reason), ..Default::default() })?;
            }
        }
        (Status::DiskErasing | Status::Releasing, "OK") => {
            // READY arrives with the final webhook event.
            log_event(
                c,
                n,
                ACTOR,
                engine::events::level::INFO,
                "Script result",
                "Ephemeral environment finished its work",
            )?;
            engine::nodes::state::extend_deadline(c, n)?;
        }
        (Status::EnteringRescueMode, "OK" | "WORKING") => {
            engine::nodes::state::transition(c, n, Status::RescueMode, ACTOR, "", cleared())?;
        }
        (_, _) if failed => fail(c, n, &reason)?,
        _ => engine::nodes::state::extend_deadline(c, n)?,
    }
    Ok(())
}

fn cleared() -> NodeChanges {
    NodeChanges { status_expires_at: Some(None), ..Default::default() }
}

/// The in-progress status failed: its failed counterpart, an event, power off.
fn fail(c: &mut DbConn, n: &Node, reason: &str) -> Result<()> {
    let Some(to) = n.status.failed_counterpart() else { return Ok(()) };
    // A failed run's scripts that never reported are aborted (MAAS).
    if matches!(n.status, Status::Commissioning | Status::Testing) {
        engine::results::close_run(c, n, engine::results::result_type::COMMISSIONING, true)?;
        engine::results::close_run(c, n, engine::results::result_type::TESTING, true)?;
    }
    let changes = NodeChanges { error_description: (!reason.is_empty()).then(|| reason.to_string()), ..cleared() };
    let node = engine::nodes::state::transition(c, n, to, ACTOR, "", changes)?;
    let why = if reason.is_empty() { "the machine reported a failure" } else { reason };
    // Commissioning and testing failures carry MAAS's event names
    // ("Failed commissioning", "Failed testing") with the failing script.
    let kind = if matches!(to, Status::FailedCommissioning | Status::FailedTesting) {
        to.label()
    } else {
        "Marking node failed"
    };
    event(c, &node, ACTOR, engine::events::level::ERROR, kind, why)?;
    power_off(c, &node)
}

fn power_off(c: &mut DbConn, n: &Node) -> Result<()> {
    engine::nodes::power::request_power(c, n, ACTOR, PowerAction::Off)
}

/// Stores each script named by the signal's files (or by `name`) in the
/// node's current script set of the phase (`engine::results`).
fn record_results(c: &mut DbConn, n: &Node, s: &Signal) -> Result<()> {
    let mut groups: Vec<(String, Option<Outputs>)> =
        group_files(&s.files).into_iter().map(|(g, o)| (g, Some(o))).collect();
    if let Some(name) = s.name.as_deref().filter(|x| !x.is_empty()) {
        // A bare name reports progress (WORKING) or an exit status.
        if !groups.iter().any(|(g, _)| g == name) && (s.exit_status.is_some() || s.status == "WORKING") {
            groups.push((name.to_string(), None));
        }
    }
    let rtype = engine::results::result_type_for(n.status);
    let single = groups.len() == 1;
    for (name, o) in groups {
        // exit_status belongs to the named script, or to the only one sent.
        let exit = if s.name.as_deref() == Some(name.as_str()) || single { s.exit_status } else { None };
        let status = match (s.status.as_str(), exit) {
            ("TIMEDOUT", _) => script_status::TIMEDOUT,
            (_, Some(0)) => script_status::PASSED,
            // The runner could not install the script's packages (or
            // apply its network configuration): it did not run.
            ("INSTALLING", Some(_)) => script_status::FAILED_INSTALLING,
            ("APPLYING_NETCONF", Some(_)) => script_status::FAILED_APPLYING_NETCONF,
            (_, Some(_)) => script_status::FAILED,
            ("FAILED", None) => script_status::FAILED,
            ("WORKING", None) => script_status::RUNNING,
            ("INSTALLING", None) => script_status::INSTALLING,
            ("APPLYING_NETCONF", None) => script_status::APPLYING_NETCONF,
            (_, None) => script_status::PASSED,
        };
        let o = o.map(|o| (o.output, o.stdout, o.stderr, o.result));
        // The script's own verdict (`status:` in its result YAML) wins.
        let status = match o.as_ref().map(|o| engine::results::status_from_result(&o.3)) {
            Some(Ok(Some(own))) => own,
            Some(Err(why)) => {
                log_event(
                    c,
                    n,
                    ACTOR,
                    engine::events::level::ERROR,
                    "Script result error",
                    &format!("{}({}) sent a script result with invalid YAML: {why}", n.hostname, n.system_id),
                )?;
                status
            }
            _ => status,
        };
        engine::results::record(
            c,
            n,
            rtype,
            &engine::results::Report {
                name: name.clone(),
                status,
                exit_status: exit,
                output: o.as_ref().map(|o| o.0.clone()),
                stdout: o.as_ref().map(|o| o.1.clone()),
                stderr: o.as_ref().map(|o| o.2.clone()),
                result: o.as_ref().map(|o| o.3.clone()),
                runtime: s.runtime.clone(),
                // The id belongs to the named script (or the only one sent).
                result_id: if s.name.as_deref() == Some(name.as_str()) || single { s.script_result_id } else { None },
            },
        )?;
        if engine::results::is_failed(status) {
            // MAAS's SCRIPT_DID_NOT_COMPLETE event: "<script> failed".
            log_event(
                c,
                n,
                ACTOR,
                engine::events::level::INFO,
                "Script",
                &format!("{name} {}", engine::results::status_name(status).to_lowercase()),
            )?;
        }
    }
    Ok(())
}

/// MAAS's `store_node_power_parameters`: a commissioning signal carrying
/// `power_type` (and `power_parameters`, a JSON object; without it the
/// stored ones) sets the machine's power, so a BMC the environment
/// configured is used without anyone typing its credentials. A Redfish
/// machine stays Redfish (its address and credentials are taken), an
/// `mscm` (Moonshot) one is left alone. Keys the power type does not know
/// are dropped and its defaults filled. While the machine is enlisting
/// (anonymous) the settings are quarantined like an enlistment's own: not
/// used until an administrator accepts or commissions it.
fn store_power(c: &mut DbConn, n: &Node, s: &Signal) -> Result<()> {
    let Some(mut ptype) = s.power_type.clone() else { return Ok(()) };
    if n.power_type == "mscm" {
        return Ok(());
    }
    if !ptype.is_empty() && !engine::power::POWER_TYPES.contains(&ptype.as_str()) {
        return Err(Error::field("power_type", format!("Bad power_type '{ptype}'")));
    }
    let given: Option<serde_json::Map<String, serde_json::Value>> = match s.power_parameters.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(
            serde_json::from_str::<serde_json::Value>(raw)
                .ok()
                .and_then(|v| v.as_object().cloned())
                .ok_or_else(|| Error::field("power_parameters", "Failed to parse JSON power_parameters"))?,
        ),
    };
    let mut params: engine::power::PowerParams = match given {
        Some(map) => map
            .into_iter()
            .filter_map(|(k, v)| match v {
                serde_json::Value::Null => None,
                serde_json::Value::String(t) => Some((k, t)),
                other => Some((k, other.to_string())),
            })
            .collect(),
        None => serde_json::from_str(&n.power_parameters).unwrap_or_default(),
    };
    if n.power_type == "redfish" {
        // Don't overwrite a Redfish BMC with its IPMI face (MAAS).
        ptype = "redfish".into();
        let mut kept: engine::power::PowerParams = serde_json::from_str(&n.power_parameters).unwrap_or_default();
        kept.extend(params);
        params = kept
            .into_iter()
            .filter(|(k, _)| ["node_id", "power_address", "power_pass", "power_user"].contains(&k.as_str()))
            .collect();
    }
    let known: Vec<&str> = engine::power::fields(&ptype).iter().map(|f| f.name).collect();
    params.retain(|k, _| known.contains(&k.as_str()));
    let params = engine::power::validate(&ptype, params, false)?;
    let ch = NodeChanges {
        power_quarantined: Some(n.enlisting && !engine::power::region_can_drive(&ptype)),
        power_type: Some(ptype.clone()),
        power_parameters: Some(engine::string_map_json(&params)),
        ..Default::default()
    };
    db::nodes::update(c, n.id, &ch)?;
    let by = s.name.as_deref().unwrap_or("the commissioning environment");
    log_event(
        c,
        n,
        ACTOR,
        engine::events::level::INFO,
        "Power configuration",
        &format!("BMC credentials ({ptype}) reconfigured by {by}"),
    )
}

/// COMMISSIONING + OK: any failed script fails commissioning; otherwise the
/// inventory (if reported) becomes the model and the machine is READY (NEW
/// while enlisting), then powered off.
fn finish_commissioning(c: &mut DbConn, n: &Node) -> Result<()> {
    finish_commissioning_into(c, n, false)
}

/// Judges the commissioning scripts' results and applies what they found;
/// then Ready (New while enlisting) and a power-off, or, with `testing`
/// (the run's tests come next), Testing with the machine left on.
fn finish_commissioning_into(c: &mut DbConn, n: &Node, testing: bool) -> Result<()> {
    let rtype = engine::results::result_type::COMMISSIONING;
    let results = engine::results::current_results(c, n, rtype)?;
    if let Some(bad) = engine::results::first_failed(&results) {
        return fail(c, n, &script_failure(bad));
    }
    let options = engine::results::run_options(c, n, rtype)?;
    engine::results::close_run(c, n, rtype, false)?;
    let mut node = n.clone();
    // The run lists the inventory script from the start (pending); only a
    // report of it carries a document. A bare OK keeps the current model.
    let reported = results
        .iter()
        .filter(|r| r.name == COMMISSIONING_SCRIPT)
        .find_map(|r| [&r.stdout, &r.output, &r.result].into_iter().find(|d| !d.is_empty()).cloned());
    if let Some(doc) = reported {
        let inv = parse_inventory(&doc)?;
        let keep = Keep {
            storage: engine::results::option_set(&options, "skip_storage"),
            networking: engine::results::option_set(&options, "skip_networking"),
        };
        node = apply_inventory_keeping(c, &node, &inv, keep)?;
    }
    record_details(c, &node, &results)?;
    if testing {
        engine::nodes::commission::complete_commissioning_into_testing(c, &node, ACTOR)?;
        return Ok(());
    }
    let node = engine::nodes::commission::complete_commissioning(c, &node, ACTOR)?;
    // Tests chosen with the commissioning run that the environment did not
    // go on to run (it never signalled TESTING) did not run.
    engine::results::close_run(c, &node, engine::results::result_type::TESTING, false)?;
    if engine::results::option_set(&options, "enable_ssh") {
        return Ok(()); // enable_ssh: MAAS leaves the machine on for the operator
    }
    power_off(c, &node)
}

/// MAAS's description of a failed script: "<name> failed" (or "timed out").
fn script_failure(r: &crate::db::metadata::ScriptResult) -> String {
    format!("{} {}", r.name, engine::results::status_name(r.status).to_lowercase())
}

/// Keeps the lshw and LLDP documents this commissioning sent (their
/// scripts' stdout, as MAAS reads them) and re-evaluates the node's tags.
/// A commissioning that sent neither leaves earlier details in place.
fn record_details(c: &mut DbConn, n: &Node, results: &[db::metadata::ScriptResult]) -> Result<()> {
    let out = |name: &str| {
        results
            .iter()
            .find(|r| r.name == name && r.status == script_status::PASSED)
            .map(|r| if r.stdout.is_empty() { r.output.clone() } else { r.stdout.clone() })
            .filter(|d| !d.is_empty())
    };
    let (lshw, lldp) = (out(LSHW_SCRIPT), out(LLDP_SCRIPT));
    if lshw.is_none() && lldp.is_none() {
        return Ok(());
    }
    if let Some(found) = lshw.as_deref().and_then(engine::details::hardware_info) {
        let mut info: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&n.hardware_info).unwrap_or_default();
        for (k, v) in found {
            info.insert(k.to_string(), v.unwrap_or_else(|| "Unknown".into()).into());
        }
        db::nodes::set_hardware_info(c, n.id, &serde_json::Value::Object(info).to_string())?;
    }
    engine::details::record(c, n.id, lshw, lldp)
}

/// Parses the inventory document; a 400 that says what is wrong otherwise.
pub fn parse_inventory(doc: &[u8]) -> Result<Inventory> {
    let inv: Inventory = serde_json::from_slice(doc)
        .map_err(|e| Error::BadRequest(format!("Malformed commissioning inventory ({COMMISSIONING_SCRIPT}): {e}.")))?;
    let bad =
        |what: String| Error::BadRequest(format!("Invalid commissioning inventory ({COMMISSIONING_SCRIPT}): {what}."));
    if inv.resources.cpu.total == 0 {
        return Err(bad("resources.cpu.total must be at least 1".into()));
    }
    if inv.resources.memory.total == 0 {
        return Err(bad("resources.memory.total must be positive".into()));
    }
    for (_, p) in inv.ports() {
        if engine::names::normalise_mac(&p.address).is_none() {
            return Err(bad(format!("network port '{}' has an invalid MAC address '{}'", p.id, p.address)));
        }
        if !valid_interface_name(&p.id) {
            return Err(bad(format!("network port name '{}' is not a valid interface name", p.id)));
        }
    }
    for d in &inv.resources.storage.disks {
        if d.id.trim().is_empty() || d.size == 0 || d.block_size < 512 || i64::try_from(d.size).is_err() {
            return Err(bad(format!("disk '{}' needs a name, a size and a block size of at least 512", d.id)));
        }
    }
    Ok(inv)
}

/// Linux interface names: 1–15 characters, no `/`, whitespace or `:`.
fn valid_interface_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 15 && !name.chars().any(|c| c == '/' || c == ':' || c.is_whitespace())
}

/// MAAS's architecture name for a kernel architecture.
fn maas_arch(kernel: &str) -> Option<String> {
    let a = match kernel {
        "x86_64" | "amd64" => "amd64",
        "aarch64" | "arm64" => "arm64",
        "armv7l" | "armhf" => "armhf",
        "i686" | "i386" => "i386",
        "ppc64le" | "ppc64el" => "ppc64el",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        _ => return None,
    };
    Some(format!("{a}/generic"))
}

/// Writes the inventory into the model: CPU, memory, architecture, hardware
/// info, physical block devices, and physical interfaces matched by MAC
/// (renamed and re-speeded when known, created when new).
pub fn apply_inventory(c: &mut DbConn, n: &Node, inv: &Inventory) -> Result<Node> {
    apply_inventory_keeping(c, n, inv, Keep::default())
}

/// What a commissioning run was asked to leave alone (`skip_storage`,
/// `skip_networking`): the operator's layout, or interfaces and links.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keep {
    pub storage: bool,
    pub networking: bool,
}

/// [`apply_inventory`], leaving block devices or interfaces untouched as
/// `keep` says (MAAS's hooks skip them the same way).
pub fn apply_inventory_keeping(c: &mut DbConn, n: &Node, inv: &Inventory, keep: Keep) -> Result<Node> {
    let cpu = &inv.resources.cpu;
    let socket = cpu.sockets.first();
    let kernel_arch = if inv.architecture.is_empty() { cpu.architecture.as_str() } else { inv.architecture.as_str() };
    let arch = maas_arch(kernel_arch).or_else(|| n.architecture.clone());
    let mut info: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&n.hardware_info).unwrap_or_default();
    if let Some(s) = socket.filter(|s| !s.name.is_empty()) {
        info.insert("cpu_model".into(), s.name.clone().into());
    }
    let changes = NodeChanges {
        cpu_count: Some(i32::try_from(cpu.total).unwrap_or(i32::MAX)),
        cpu_speed: Some(socket.map(|s| i32::try_from(s.frequency).unwrap_or(0)).unwrap_or(0)),
        memory: Some(i64::try_from(inv.resources.memory.total / (1024 * 1024)).unwrap_or(i64::MAX)),
        architecture: arch.map(Some),
        updated_at: Some(db::now()),
        ..Default::default()
    };
    let mut node = db::nodes::update(c, n.id, &changes)?;
    // hardware_info is not in NodeChanges: a narrow update of its own.
    db::nodes::set_hardware_info(c, n.id, &serde_json::Value::Object(info).to_string())?;
    let disks: Vec<DiskInventory> = inv
        .resources
        .storage
        .disks
        .iter()
        .map(|d| DiskInventory {
            name: d.id.clone(),
            model: Some(d.model.clone()).filter(|s| !s.is_empty()),
            serial: Some(d.serial.clone()).filter(|s| !s.is_empty()),
            size: d.size as i64,
            block_size: d.block_size as i64,
            rotational: d.is_rotational(),
            id_path: d.id_path(),
            firmware_version: Some(d.firmware_version.clone()).filter(|s| !s.is_empty()),
            rpm: d.rpm,
            removable: d.removable,
        })
        .collect();
    if !keep.storage {
        engine::storage::devices::record_block_devices(c, n.id, &disks)?;
    }
    if !keep.networking {
        record_interfaces(c, &node, inv)?;
    }
    engine::node_devices::record(c, &node, inv)?;
    node = db::nodes::by_ids(c, &[n.id])?.pop().ok_or(Error::NotFound("Machine"))?;
    Ok(node)
}

/// Physical interfaces as commissioning saw them, matched by MAC (also what
/// `restore_networking_configuration` re-applies).
pub fn record_interfaces(c: &mut DbConn, n: &Node, inv: &Inventory) -> Result<()> {
    let existing = db::network::interfaces_of(c, n.id)?;
    let ports: Vec<(String, String, bool, i64, String)> = inv
        .ports()
        .map(|(card, p)| {
            (
                engine::names::normalise_mac(&p.address).unwrap_or_default(),
                p.id.clone(),
                p.link_detected,
                i64::try_from(p.link_speed).unwrap_or(0),
                card.vendor.clone(),
            )
        })
        .collect();
    // A MAC already on another node is a conflict the operator must see.
    let macs: Vec<String> = ports.iter().map(|p| p.0.clone()).collect();
    if let Some((_, mac)) = db::nodes::node_ids_with_macs(c, &macs)?.into_iter().find(|(id, _)| *id != n.id) {
        return Err(Error::Conflict(format!("MAC address {mac} reported by commissioning belongs to another node.")));
    }
    // Renames go through temporary names so swapping two names cannot
    // collide with the per-node unique index.
    let mut matched = Vec::new();
    for (mac, ..) in &ports {
        if let Some(i) = existing.iter().find(|i| i.iftype == "physical" && i.mac_address.as_deref() == Some(mac)) {
            let mut tmp = i.clone();
            tmp.name = format!("ironpool-tmp-{}", i.id);
            db::network::interface_save(c, &tmp)?;
            matched.push(tmp);
        }
    }
    let has_boot = existing.iter().any(|i| i.is_boot);
    for (idx, (mac, name, up, speed, _vendor)) in ports.iter().enumerate() {
        if let Some(i) = matched.iter_mut().find(|i| i.mac_address.as_deref() == Some(mac)) {
            i.name = name.clone();
            i.link_connected = *up;
            i.link_speed = if *up { *speed } else { 0 };
            i.interface_speed = (*speed).max(i.interface_speed);
            db::network::interface_save(c, i)?;
        } else {
            // The name may be held by an interface commissioning did not see.
            if let Some(clash) = existing.iter().find(|i| &i.name == name && !matched.iter().any(|m| m.id == i.id)) {
                let mut moved = clash.clone();
                moved.name = format!("{}-old{}", clash.name, clash.id);
                db::network::interface_save(c, &moved)?;
            }
            db::network::interface_insert(
                c,
                &NewInterface {
                    node_id: n.id,
                    name: name.clone(),
                    iftype: "physical".into(),
                    mac_address: Some(mac.clone()),
                    enabled: true,
                    is_boot: !has_boot && idx == 0,
                    vlan_id: engine::interfaces::enlistment_vlan(),
                    params: "{}".into(),
                    tags: "[]".into(),
                    link_connected: *up,
                    interface_speed: *speed,
                    link_speed: if *up { *speed } else { 0 },
                    created_at: db::now(),
                },
            )?;
        }
    }
    Ok(())
}

// ---- status webhook -------------------------------------------------------------

/// One status event (cloud-init / installer reporting).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct StatusEvent {
    pub event_type: String,
    pub origin: String,
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub result: Option<String>,
    #[serde(default)]
    pub files: Vec<EventFile>,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct EventFile {
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub encoding: Option<String>,
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub result: Option<i32>,
}

/// Parses a webhook body: required fields present, else a 400 naming them.
pub fn parse_status_event(body: &[u8]) -> Result<StatusEvent> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| Error::BadRequest(format!("Status event is not valid JSON: {e}.")))?;
    let missing: Vec<&str> = ["event_type", "origin", "name", "description"]
        .into_iter()
        .filter(|k| !v.get(*k).is_some_and(|x| x.is_string()))
        .collect();
    if !missing.is_empty() {
        return Err(Error::BadRequest(format!("Missing parameter(s) in status event: {}.", missing.join(", "))));
    }
    serde_json::from_value(v).map_err(|e| Error::BadRequest(format!("Malformed status event: {e}.")))
}

/// Applies one status event to node `n` (§11.3).
pub fn status_event(c: &mut DbConn, n: &Node, ev: &StatusEvent) -> Result<()> {
    let st = n.status;
    let failure = matches!(ev.result.as_deref(), Some("FAIL" | "FAILURE"));
    let detail = format!("'{}' {}", ev.name, ev.description);
    if ev.event_type == "start" {
        log_event(c, n, ACTOR, engine::events::level::DEBUG, &format!("{} started", ev.origin), &detail)?;
    }
    if failure {
        log_event(c, n, ACTOR, engine::events::level::ERROR, &format!("{} failed", ev.origin), &detail)?;
    } else if ev.event_type == "finish" && !ev.name.contains('/') {
        // Top-level steps only (the installer's summary, modules-final):
        // sub-steps would flood the log.
        log_event(c, n, ACTOR, engine::events::level::DEBUG, &format!("{} finished", ev.origin), &detail)?;
    }
    // Attached files become results of the current phase's script set.
    for f in &ev.files {
        let name = f.path.clone().or_else(|| f.name.clone()).unwrap_or_default();
        if name.is_empty() {
            continue;
        }
        let data = if f.encoding.as_deref() == Some("base64") {
            base64::engine::general_purpose::STANDARD
                .decode(f.content.trim())
                .map_err(|_| Error::BadRequest(format!("File '{name}' of the status event is not valid base64.")))?
        } else {
            f.content.clone().into_bytes()
        };
        engine::results::record(
            c,
            n,
            engine::results::result_type_for(n.status),
            &engine::results::Report {
                name,
                status: if f.result.unwrap_or(0) == 0 { script_status::PASSED } else { script_status::FAILED },
                exit_status: f.result,
                output: Some(data),
                ..Default::default()
            },
        )?;
    }
    if ev.event_type != "finish" {
        if in_ephemeral_phase(st) {
            engine::nodes::state::extend_deadline(c, n)?;
        }
        return Ok(());
    }
    let top_level = !ev.name.contains('/');
    if failure && top_level {
        if matches!(st, Status::Commissioning | Status::Deploying | Status::DiskErasing | Status::Releasing) {
            fail(c, n, &format!("{}: {}", ev.origin, ev.description))?;
        }
        return Ok(());
    }
    if !failure && ev.name == "modules-final" {
        match st {
            Status::Deploying => {
                engine::nodes::deploy::complete_deployment(c, n, ACTOR)?;
            }
            Status::DiskErasing | Status::Releasing => {
                let node = engine::nodes::release::finish_release(c, n, ACTOR)?;
                power_off(c, &node)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The deployed (or deploying) node's user data, MAAS's rule: only the
/// user's data from deploy, only while DEPLOYING or DEPLOYED.
pub fn user_data(n: &Node) -> Option<Vec<u8>> {
    if matches!(n.status, Status::Deploying | Status::Deployed) {
        n.user_data.clone()
    } else {
        None
    }
}
