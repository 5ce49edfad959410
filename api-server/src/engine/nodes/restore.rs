//! MAAS's `restore_networking_configuration`, `restore_storage_configuration`,
//! `restore_default_configuration` and `clear_default_gateways`: putting a
//! machine's configuration back as commissioning left it.
//!
//! Each runs inside the caller's one write transaction, so a restore that
//! fails half-way (no commissioning data) changes nothing.

use ironpool_common::inventory::{Inventory, COMMISSIONING_SCRIPT};

use crate::db;
use crate::db::nodes::Node;
use crate::db::users::User;
use crate::db::DbConn;
use crate::engine;
use crate::engine::events::log_event;
use crate::engine::lifecycle::{NodeType, Status};
use crate::error::{Error, Result};

/// What is restored; names MAAS's refusal text for a machine in the wrong state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restore {
    Networking,
    Storage,
    Both,
}

impl Restore {
    fn refusal(self) -> &'static str {
        match self {
            Restore::Networking => {
                "Machine must be in a ready or failed testing state to restore networking configuration"
            }
            Restore::Storage => "Machine must be in a ready or failed testing state to restore storage configuration.",
            Restore::Both => {
                "Machine must be in a ready or failed testing state to restore default networking and storage \
                 configuration."
            }
        }
    }
}

/// Administrators only (MAAS's `NodePermission.admin`), machines in Ready
/// or Failed testing only (409, MAAS's `NodeStateViolation`).
pub fn restore(c: &mut DbConn, user: &User, n: &Node, what: Restore) -> Result<Node> {
    if n.node_type != NodeType::Machine {
        return Err(Error::NotFound("Machine"));
    }
    engine::access::require_admin(user, n)?;
    if !matches!(n.status, Status::Ready | Status::FailedTesting) {
        return Err(Error::Conflict(what.refusal().into()));
    }
    if matches!(what, Restore::Storage | Restore::Both) {
        engine::storage::layouts::apply_default_layout(c, n)?;
    }
    if matches!(what, Restore::Networking | Restore::Both) {
        restore_interfaces(c, n)?;
    }
    let desc = match what {
        Restore::Networking => "Restored networking configuration",
        Restore::Storage => "Restored storage configuration",
        Restore::Both => "Restored default configuration",
    };
    log_event(c, n, &user.username, engine::events::level::INFO, desc, "")?;
    db::nodes::by_system_id(c, &n.system_id)?.ok_or(Error::NotFound("Machine"))
}

/// The inventory the machine's last commissioning reported, if it kept one.
fn commissioning_inventory(c: &mut DbConn, n: &Node) -> Result<Option<Inventory>> {
    let found = db::metadata::results_of(c, n.id)?
        .into_iter()
        .filter(|r| r.phase == Status::Commissioning.code() && r.name == COMMISSIONING_SCRIPT)
        .max_by_key(|r| r.id);
    let Some(r) = found else { return Ok(None) };
    let doc = [&r.stdout, &r.output, &r.result].into_iter().find(|d| !d.is_empty()).cloned().unwrap_or_default();
    if doc.is_empty() {
        return Ok(None);
    }
    engine::metadata::parse_inventory(&doc).map(Some)
}

/// MAAS's `restore_network_interfaces` + `set_initial_networking_configuration`:
/// the interfaces become what commissioning reported (physical ones by MAC;
/// bonds, bridges, VLAN interfaces and interfaces it did not see go), every
/// link but observed addresses goes, the default gateways are cleared, and
/// the boot interface is linked AUTO again.
fn restore_interfaces(c: &mut DbConn, n: &Node) -> Result<()> {
    let inv = commissioning_inventory(c, n)?.ok_or_else(|| {
        // MAAS's NetworkingResetProblem: nothing to restore from.
        Error::Conflict(
            "Missing network information from commissioning script, please commission the machine again".into(),
        )
    })?;
    let macs: Vec<String> = inv.ports().filter_map(|(_, p)| engine::names::normalise_mac(&p.address)).collect();
    let ifaces = db::network::interfaces_of(c, n.id)?;
    let ids: Vec<i64> = ifaces.iter().map(|i| i.id).collect();
    // Links first (their addresses leave DNS), then the interfaces
    // commissioning did not report, children before parents.
    db::network::set_gateway_link(c, n.id, true, None)?;
    db::network::set_gateway_link(c, n.id, false, None)?;
    let mut had_address = false;
    for link in db::network::links_of(c, &ids)? {
        if link.mode != "discovered" {
            had_address |= link.ip.is_some();
            db::network::address_delete(c, link.id)?;
        }
    }
    if had_address {
        engine::dns::bump_serial(c)?;
    }
    let reported = |i: &db::interfaces::Interface| {
        i.iftype == "physical" && i.mac_address.as_ref().is_some_and(|m| macs.contains(m))
    };
    for i in ifaces.iter().filter(|i| !reported(i)) {
        db::network::relations_delete_child(c, i.id)?;
    }
    for i in ifaces.iter().filter(|i| !reported(i)) {
        db::network::interface_delete(c, i.id)?;
    }
    // Settings users may have changed on the physical ones go back too.
    for i in db::network::interfaces_of(c, n.id)? {
        if !i.enabled || i.params != "{}" {
            let mut i = i.clone();
            i.enabled = true;
            i.params = "{}".into();
            db::network::interface_save(c, &i)?;
        }
    }
    engine::metadata::record_interfaces(c, n, &inv)?;
    engine::interfaces::initial_links(c, n)
}

/// `clear_default_gateways`: administrators, any status (MAAS checks no state).
pub fn clear_default_gateways(c: &mut DbConn, user: &User, n: &Node) -> Result<Node> {
    if n.node_type != NodeType::Machine {
        return Err(Error::NotFound("Machine"));
    }
    engine::access::require_admin(user, n)?;
    db::network::set_gateway_link(c, n.id, true, None)?;
    db::network::set_gateway_link(c, n.id, false, None)?;
    db::nodes::by_system_id(c, &n.system_id)?.ok_or(Error::NotFound("Machine"))
}
