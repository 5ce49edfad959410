//! Chassis enlistment (`machines/?op=add_chassis`): every virtual machine a
//! virsh host (libvirt) runs becomes a machine with power type `virsh`, as
//! MAAS's `probe_virsh_and_enlist` does; every server a Cisco UCS Manager
//! has becomes a machine with power type `ucsm`, as MAAS's
//! `probe_and_enlist_ucsm` does.
//!
//! MAAS asks a rack to probe and answers at once; the region here probes
//! itself, so the caller learns about a host it cannot reach (400 for
//! refused credentials or a bad address, 503 for an unreachable host)
//! instead of finding nothing enlisted later. The steps, none of which
//! holds a transaction while the chassis talks:
//! 1. probe: list the domains (name prefix filter), their architecture and
//!    MACs; or the UCS servers with a MAC and a LAN boot entry, their UUIDs
//!    and MACs (and, in the same UCS session, put LAN boot first in their
//!    boot policies, as MAAS does before enlisting);
//! 2. one transaction creates a NEW machine per domain or server whose MACs
//!    no node has yet (MAAS skips one whose node already exists): a virsh
//!    machine is named after its domain, a UCS one gets a generated name
//!    (MAAS passes none), in the requested DNS domain;
//! 3. each new virsh domain is forced off and set to boot from the network
//!    first;
//! 4. with `accept_all`, one transaction starts commissioning them all
//!    (which powers them on through their driver).

use std::collections::BTreeSet;

use crate::db;
use crate::db::nodes::{NewNode, Node};
use crate::db::users::User;
use crate::db::{Datastore, DbConn};
use crate::engine;
use crate::engine::events::{event, level};
use crate::engine::lifecycle::NodeType;
use crate::engine::nodes::create::{blank_node, insert_with_macs, new_unique_system_id};
use crate::engine::power::{PowerError, PowerHub, UcsmServer, VirshDomain};
use crate::error::{Error, Result};

pub use crate::engine::power::CHASSIS_TYPES;

/// What `add_chassis` asks for, checked for shape by the handler.
#[derive(Debug, Clone, Default)]
pub struct ChassisInput {
    pub chassis_type: String,
    /// The libvirt URI (`qemu+ssh://user@host/system`, `qemu:///system`),
    /// or the UCS Manager's URL.
    pub hostname: String,
    /// The UCS Manager account (never given for virsh).
    pub username: Option<String>,
    pub password: Option<String>,
    pub accept_all: bool,
    /// A DNS domain name or id.
    pub domain: Option<String>,
    pub prefix_filter: Option<String>,
    /// A rack's system_id or hostname, checked to exist (MAAS sends the
    /// probe through it; here the region probes).
    pub rack_controller: Option<String>,
}

/// What was found and done, for the answer and the tests.
#[derive(Debug, Clone, Default)]
pub struct ChassisReport {
    /// The machines created: (system_id, libvirt domain name or UCS server
    /// UUID).
    pub created: Vec<(String, String)>,
    /// Domains or servers skipped: a node already has one of their MACs,
    /// or they have none.
    pub skipped: Vec<String>,
}

/// Checks what the database must confirm (domain, rack) before the host is
/// contacted; returns the domain's name.
fn check(c: &mut DbConn, input: &ChassisInput) -> Result<Option<String>> {
    if let Some(r) = &input.rack_controller {
        let racks = db::nodes::list(
            c,
            &db::nodes::NodeFilter {
                node_types: vec![NodeType::RackController, NodeType::RegionAndRackController],
                ..Default::default()
            },
        )?;
        if !racks.iter().any(|n| n.system_id == *r || n.hostname == *r) {
            return Err(Error::NotFoundText(format!("Unable to find specified rack {r}")));
        }
    }
    let Some(d) = &input.domain else { return Ok(None) };
    let found = db::places::domains(c)?.into_iter().find(|x| x.id.to_string() == *d || x.name == *d);
    match found {
        Some(x) => Ok(Some(x.name)),
        None => Err(Error::NotFoundText(format!("Unable to find specified domain {d}"))),
    }
}

/// A libvirt domain name as a host name (MAAS's `coerce_to_valid_hostname`):
/// lower case, anything but letters, digits and hyphens becomes a hyphen,
/// no leading or trailing hyphen, at most 63 characters.
pub fn hostname_from(name: &str) -> Option<String> {
    let mapped: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' })
        .collect();
    let trimmed: String = mapped.trim_matches('-').chars().take(63).collect();
    let trimmed = trimmed.trim_end_matches('-').to_string();
    (!trimmed.is_empty()).then_some(trimmed)
}

/// A machine a probe found, ready to enlist.
#[derive(Debug, Clone)]
struct Found {
    /// The libvirt domain name or the UCS server UUID: the report's key.
    key: String,
    /// The host name to try first (None: a generated one).
    hostname: Option<String>,
    arch: String,
    macs: Vec<String>,
    power_type: &'static str,
    params: engine::power::PowerParams,
}

fn from_virsh(input: &ChassisInput, dom: &VirshDomain) -> Found {
    let mut params = engine::power::PowerParams::new();
    params.insert("power_address".into(), input.hostname.clone());
    params.insert("power_id".into(), dom.name.clone());
    if let Some(p) = &input.password {
        params.insert("power_pass".into(), p.clone());
    }
    Found {
        key: dom.name.clone(),
        hostname: hostname_from(&dom.name),
        arch: engine::names::normalise_arch(&dom.arch).unwrap_or_else(|| format!("{}/generic", dom.arch)),
        macs: dom.macs.clone(),
        power_type: "virsh",
        params,
    }
}

/// A UCS server: MAAS enlists them as amd64 with the manager's URL and
/// account and the server's UUID as power parameters.
fn from_ucsm(input: &ChassisInput, server: &UcsmServer) -> Found {
    let mut params = engine::power::PowerParams::new();
    params.insert("power_address".into(), input.hostname.clone());
    params.insert("power_user".into(), input.username.clone().unwrap_or_default());
    params.insert("power_pass".into(), input.password.clone().unwrap_or_default());
    params.insert("uuid".into(), server.uuid.clone());
    Found {
        key: server.uuid.clone(),
        hostname: None,
        arch: "amd64/generic".into(),
        macs: server.macs.clone(),
        power_type: "ucsm",
        params,
    }
}

/// Step 2 for a virsh host's domains (a VM host's refresh enlists them as
/// add_chassis does).
pub(crate) fn create_domain_machines(
    c: &mut DbConn,
    actor: &User,
    input: &ChassisInput,
    domain_name: Option<&str>,
    domains: &[VirshDomain],
) -> Result<ChassisReport> {
    let found: Vec<Found> = domains.iter().map(|d| from_virsh(input, d)).collect();
    create_machines(c, actor, input, domain_name, &found)
}

/// Step 2: the machines, in one transaction.
fn create_machines(
    c: &mut DbConn,
    actor: &User,
    input: &ChassisInput,
    domain_name: Option<&str>,
    found: &[Found],
) -> Result<ChassisReport> {
    let domain_id = engine::nodes::create::resolve_domain(c, domain_name)?;
    let mut report = ChassisReport::default();
    for m in found {
        let macs: Vec<String> = m.macs.iter().filter_map(|x| engine::names::normalise_mac(x)).collect();
        let macs: Vec<String> = macs.into_iter().collect::<BTreeSet<_>>().into_iter().collect();
        if macs.is_empty() || !db::nodes::node_ids_with_macs(c, &macs)?.is_empty() {
            report.skipped.push(m.key.clone());
            continue;
        }
        // The suggested name when it is a free host name, else a generated one.
        let hostname = match &m.hostname {
            Some(h) if !db::nodes::hostname_taken(c, h, domain_id, None)? => h.clone(),
            _ => engine::nodes::create::pick_hostname(c, None, domain_id)?,
        };
        let params = engine::power::validate(m.power_type, m.params.clone(), false)?;
        let system_id = new_unique_system_id(c)?;
        let base = blank_node(system_id, NodeType::Machine, hostname, domain_id, engine::defaults::DEFAULT_ZONE_ID);
        let node = insert_with_macs(
            c,
            &NewNode {
                architecture: Some(m.arch.clone()),
                pool_id: Some(engine::defaults::DEFAULT_POOL_ID),
                power_type: m.power_type.into(),
                power_parameters: engine::string_map_json(&params),
                netboot: true,
                ..base
            },
            &macs,
            engine::interfaces::enlistment_vlan(),
        )?;
        event(c, &node, &actor.username, level::INFO, "Node created", &format!("From chassis {}", input.hostname))?;
        report.created.push((node.system_id, m.key.clone()));
    }
    Ok(report)
}

/// Step 4: commissioning for the new machines (`accept_all`).
fn commission_all(c: &mut DbConn, actor: &User, system_ids: &[String]) -> Result<()> {
    for sid in system_ids {
        let n: Node = db::nodes::by_system_id(c, sid)?.ok_or(Error::NotFound("Machine"))?;
        engine::nodes::commission::commission(c, actor, &n)?;
    }
    Ok(())
}

/// How a probe failure reaches the caller: the operator's settings are
/// wrong (400), or the host is not answering (503).
fn probe_error(hostname: &str, e: PowerError) -> Error {
    let text = format!("Unable to probe chassis {hostname}: {e}");
    match e {
        PowerError::Config(_) | PowerError::Auth { .. } => Error::BadRequest(text),
        PowerError::Timeout { .. } | PowerError::Unreachable { .. } | PowerError::Other { .. } => {
            Error::Unavailable(text)
        }
    }
}

/// Enlists the domains of a virsh host or the servers of a UCS Manager
/// (the steps in the module doc).
pub async fn add_chassis(db: &Datastore, hub: &PowerHub, actor: User, input: ChassisInput) -> Result<ChassisReport> {
    let checked = input.clone();
    let domain_name = db.run(move |c| check(c, &checked)).await?;
    let found: Vec<Found> = if input.chassis_type == "ucsm" {
        let user = input.username.as_deref().unwrap_or("");
        let pass = input.password.as_deref().unwrap_or("");
        let probe = hub
            .ucsm
            .probe_and_prepare(&input.hostname, user, pass)
            .await
            .map_err(|e| probe_error(&input.hostname, e))?;
        for (dn, why) in &probe.skipped {
            tracing::info!(chassis = %input.hostname, server = %dn, reason = why, "UCS server not enlisted");
        }
        probe.servers.iter().map(|s| from_ucsm(&input, s)).collect()
    } else {
        hub.virsh
            .probe(&input.hostname, input.password.as_deref(), input.prefix_filter.as_deref())
            .await
            .map_err(|e| probe_error(&input.hostname, e))?
            .iter()
            .map(|d| from_virsh(&input, d))
            .collect()
    };
    let (who, what) = (actor.clone(), input.clone());
    let report = db.write(move |c| create_machines(c, &who, &what, domain_name.as_deref(), &found)).await?;
    // UCS servers were set to boot from LAN during the probe; virsh
    // domains are prepared now that they are machines.
    let virsh_created = if input.chassis_type == "ucsm" { &[][..] } else { &report.created[..] };
    for (sid, power_id) in virsh_created {
        // A failure here leaves the machine enlisted (it is), with the
        // reason in an event.
        if let Err(e) = hub.virsh.prepare_for_enlistment(&input.hostname, input.password.as_deref(), power_id).await {
            tracing::warn!(machine = %sid, error = %e, "could not set network boot on an enlisted virsh domain");
            let (sid, why) = (sid.clone(), e.to_string());
            db.write(move |c| {
                let n = db::nodes::by_system_id(c, &sid)?.ok_or(Error::NotFound("Machine"))?;
                event(c, &n, engine::jobs::queue::SYSTEM_ACTOR, level::WARNING, "Failed to set network boot", &why)
            })
            .await?;
        }
    }
    if input.accept_all && !report.created.is_empty() {
        let ids: Vec<String> = report.created.iter().map(|(sid, _)| sid.clone()).collect();
        db.write(move |c| commission_all(c, &actor, &ids)).await?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_names_become_host_names() {
        assert_eq!(hostname_from("Web_01.example").as_deref(), Some("web-01-example"));
        assert_eq!(hostname_from("--x--").as_deref(), Some("x"));
        assert_eq!(hostname_from("___"), None);
        assert_eq!(hostname_from(&"a".repeat(80)).map(|h| h.len()), Some(63));
    }
}
