//! Chassis enlistment (`machines/?op=add_chassis`): every virtual machine a
//! virsh host (libvirt) runs becomes a machine with power type `virsh`, as
//! MAAS's `probe_virsh_and_enlist` does.
//!
//! MAAS asks a rack to probe and answers at once; the region here probes
//! itself, so the caller learns about a host it cannot reach (400 for
//! refused credentials or a bad address, 503 for an unreachable host)
//! instead of finding nothing enlisted later. The steps, none of which
//! holds a transaction while libvirt talks:
//! 1. probe: list the domains (name prefix filter), their architecture and MACs;
//! 2. one transaction creates a NEW machine per domain whose MACs no node
//!    has yet (MAAS skips a domain whose node already exists), hostname from
//!    the domain name, in the requested DNS domain;
//! 3. each new domain is forced off and set to boot from the network first;
//! 4. with `accept_all`, one transaction starts commissioning them all
//!    (which powers them on through the virsh driver).

use std::collections::BTreeSet;

use crate::db;
use crate::db::nodes::{NewNode, Node};
use crate::db::users::User;
use crate::db::{Datastore, DbConn};
use crate::engine;
use crate::engine::events::{event, level};
use crate::engine::lifecycle::NodeType;
use crate::engine::nodes::create::{blank_node, insert_with_macs, new_unique_system_id};
use crate::engine::power::{PowerError, PowerHub, VirshDomain};
use crate::error::{Error, Result};

/// The chassis types this region can probe (MAAS's `powerkvm` is the old
/// name for a virsh host).
pub const CHASSIS_TYPES: &[&str] = &["powerkvm", "virsh"];

/// What `add_chassis` asks for, checked for shape by the handler.
#[derive(Debug, Clone, Default)]
pub struct ChassisInput {
    pub chassis_type: String,
    /// The libvirt URI (`qemu+ssh://user@host/system`, `qemu:///system`).
    pub hostname: String,
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
    /// The machines created: (system_id, libvirt domain name).
    pub created: Vec<(String, String)>,
    /// Domains skipped: a node already has one of their MACs, or they have none.
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

/// Step 2: the machines, in one transaction.
pub(crate) fn create_machines(
    c: &mut DbConn,
    actor: &User,
    input: &ChassisInput,
    domain_name: Option<&str>,
    found: &[VirshDomain],
) -> Result<ChassisReport> {
    let domain_id = engine::nodes::create::resolve_domain(c, domain_name)?;
    let mut report = ChassisReport::default();
    for dom in found {
        let macs: Vec<String> = dom.macs.iter().filter_map(|m| engine::names::normalise_mac(m)).collect();
        let macs: Vec<String> = macs.into_iter().collect::<BTreeSet<_>>().into_iter().collect();
        if macs.is_empty() || !db::nodes::node_ids_with_macs(c, &macs)?.is_empty() {
            report.skipped.push(dom.name.clone());
            continue;
        }
        // The domain's name when it is a free host name, else a generated one.
        let hostname = match hostname_from(&dom.name) {
            Some(h) if !db::nodes::hostname_taken(c, &h, domain_id, None)? => h,
            _ => engine::nodes::create::pick_hostname(c, None, domain_id)?,
        };
        let mut params = engine::power::PowerParams::new();
        params.insert("power_address".into(), input.hostname.clone());
        params.insert("power_id".into(), dom.name.clone());
        if let Some(p) = &input.password {
            params.insert("power_pass".into(), p.clone());
        }
        let params = engine::power::validate("virsh", params, false)?;
        let arch = engine::names::normalise_arch(&dom.arch).unwrap_or_else(|| format!("{}/generic", dom.arch));
        let system_id = new_unique_system_id(c)?;
        let base = blank_node(system_id, NodeType::Machine, hostname, domain_id, engine::defaults::DEFAULT_ZONE_ID);
        let node = insert_with_macs(
            c,
            &NewNode {
                architecture: Some(arch),
                pool_id: Some(engine::defaults::DEFAULT_POOL_ID),
                power_type: "virsh".into(),
                power_parameters: engine::string_map_json(&params),
                netboot: true,
                ..base
            },
            &macs,
            engine::interfaces::enlistment_vlan(),
        )?;
        event(c, &node, &actor.username, level::INFO, "Node created", &format!("From chassis {}", input.hostname))?;
        report.created.push((node.system_id, dom.name.clone()));
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

/// Enlists the domains of a virsh host (the steps in the module doc).
pub async fn add_chassis(db: &Datastore, hub: &PowerHub, actor: User, input: ChassisInput) -> Result<ChassisReport> {
    let checked = input.clone();
    let domain_name = db.run(move |c| check(c, &checked)).await?;
    let found = hub
        .virsh
        .probe(&input.hostname, input.password.as_deref(), input.prefix_filter.as_deref())
        .await
        .map_err(|e| probe_error(&input.hostname, e))?;
    let (who, what) = (actor.clone(), input.clone());
    let report = db.write(move |c| create_machines(c, &who, &what, domain_name.as_deref(), &found)).await?;
    for (sid, power_id) in &report.created {
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
