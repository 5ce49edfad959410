//! Network discovery (MAAS's `discovery/`): (IP, MAC) pairs the racks
//! observed. A rack's DHCP server reports each lease it binds over the rack
//! link; every bound lease is a sighting of that MAC using that address,
//! recorded with the rack and its interface on the subnet's VLAN. Ironpool's
//! racks do not sniff ARP or scan networks, so this is what they observe.
//!
//! A discovery's id is MAAS's: base64 of `ip,mac`, here in the URL-safe
//! alphabet so it is always one path segment (both alphabets are read).

use std::net::IpAddr;

use base64::Engine as _;
use chrono::Utc;

use crate::db;
use crate::db::discoveries::{Discovery, Sighting, Unknown};
use crate::db::nodes::Node;
use crate::db::DbConn;
use crate::engine;
use crate::error::{Error, Result};

/// MAAS's `discovery_id` for a pair.
pub fn discovery_id(ip: &str, mac: &str) -> String {
    base64::engine::general_purpose::URL_SAFE.encode(format!("{ip},{mac}"))
}

/// The pair a `discovery_id` names, if it decodes to one.
fn parse_id(id: &str) -> Option<(String, String)> {
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(id)
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(id))
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (ip, mac) = text.split_once(',')?;
    Some((ip.to_string(), mac.to_string()))
}

pub fn by_id(c: &mut DbConn, id: &str) -> Result<Discovery> {
    let (ip, mac) = parse_id(id).ok_or(Error::NotFound("Discovery"))?;
    db::discoveries::by_ip_mac(c, &ip, &mac)?.ok_or(Error::NotFound("Discovery"))
}

pub fn list(c: &mut DbConn, unknown: Unknown) -> Result<Vec<Discovery>> {
    db::discoveries::list(c, unknown)
}

/// Rack `rack` saw `mac` using `ip` (a lease its DHCP server bound).
pub fn observe(c: &mut DbConn, rack: &Node, ip: IpAddr, mac: &str, hostname: Option<&str>) -> Result<()> {
    let model = db::network::load_model(c)?;
    let vlan_id = engine::network::subnet_containing(&model, ip).map(|s| s.vlan_id);
    // The rack's interface on that VLAN saw it (its first, by id).
    let observer_interface_id = match vlan_id {
        Some(v) => {
            db::network::interfaces_of(c, rack.id)?.into_iter().filter(|i| i.vlan_id == Some(v)).map(|i| i.id).min()
        }
        None => None,
    };
    db::discoveries::observe(
        c,
        &Sighting {
            ip: &ip.to_string(),
            mac,
            hostname,
            observer_id: rack.id,
            observer_interface_id,
            vlan_id,
            now: Utc::now().naive_utc(),
        },
    )
}

/// What `clear` removes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clear {
    pub all: bool,
    pub mdns: bool,
    pub neighbours: bool,
}

/// MAAS's `Discovery.objects.clear`: neighbours (or all) deletes every
/// discovery; mdns forgets the hostnames observed.
pub fn clear(c: &mut DbConn, what: Clear) -> Result<()> {
    if !(what.all || what.mdns || what.neighbours) {
        return Err(Error::BadRequest(
            "Bad request: could not determine what data to clear.\nMust specify mdns=True, neighbours=True, or all=True."
                .into(),
        ));
    }
    if what.all || what.neighbours {
        db::discoveries::delete_all(c)?;
    } else {
        db::discoveries::clear_hostnames(c)?;
    }
    Ok(())
}

/// Deletes the discovery of one pair; false when there was none.
pub fn clear_by_mac_and_ip(c: &mut DbConn, ip: &str, mac: &str) -> Result<bool> {
    let mac = engine::names::normalise_mac(mac).unwrap_or_else(|| mac.to_string());
    Ok(db::discoveries::delete_ip_mac(c, ip.trim(), &mac)? > 0)
}
