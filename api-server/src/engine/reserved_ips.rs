//! Reserved IPs (MAAS 3.6's ReservedIP, `reservedips/`): an address of a
//! subnet kept for one MAC address. IPAM never hands a reserved address to
//! anything else (`engine::network::unavailable` counts it); an AUTO link
//! of the interface with that MAC gets it, and the rack's DHCP server gives
//! it to that MAC (`engine::racks::config_for`).
//!
//! Validation follows MAAS's `ReservedIPForm` and model, with its words.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::db;
use crate::db::network::Subnet;
use crate::db::reserved_ips::ReservedIp;
use crate::db::DbConn;
use crate::engine;
use crate::error::{Error, FieldErrors, Result};

/// The form's fields as sent (absent = `None`).
#[derive(Debug, Clone, Default)]
pub struct ReservedIpInput {
    pub ip: Option<String>,
    pub mac_address: Option<String>,
    /// A subnet id or specifier (`cidr:`, `name:`); absent: the subnet
    /// that contains the address.
    pub subnet: Option<String>,
    pub comment: Option<String>,
}

const IMMUTABLE: &str =
    "The ip, mac_address and the subnet of a reserved IP are immutable. Delete the entry and recreate it.";

fn add(errors: &mut FieldErrors, field: &str, msg: impl Into<String>) {
    errors.entry(field.to_string()).or_default().push(msg.into());
}

fn comment_ok(errors: &mut FieldErrors, comment: &str) {
    let n = comment.chars().count();
    if n > 255 {
        add(errors, "comment", format!("Ensure this value has at most 255 characters (it has {n})."));
    }
}

/// The most specific subnet containing `ip` (MAAS's `get_best_subnet_for_ip`).
fn best_subnet(model: &db::network::Model, ip: IpAddr) -> Option<Subnet> {
    model
        .subnets
        .values()
        .filter_map(|s| s.cidr.parse::<IpNet>().ok().filter(|n| n.contains(&ip)).map(|n| (n.prefix_len(), s)))
        .max_by_key(|(p, s)| (*p, std::cmp::Reverse(s.id)))
        .map(|(_, s)| s.clone())
}

/// Creates a reservation (one transaction with the checks).
pub fn create(c: &mut DbConn, input: &ReservedIpInput) -> Result<ReservedIp> {
    let mut errors = FieldErrors::new();
    let ip = match input.ip.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => {
            add(&mut errors, "ip", "This field is required.");
            None
        }
        Some(s) => match s.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                add(&mut errors, "ip", "Enter a valid IPv4 or IPv6 address.");
                None
            }
        },
    };
    let mac = match input.mac_address.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => {
            add(&mut errors, "mac_address", "This field cannot be blank.");
            None
        }
        Some(m) => match engine::names::normalise_mac(m) {
            Some(m) => Some(m),
            None => {
                add(&mut errors, "mac_address", format!("'{m}' is not a valid MAC address."));
                None
            }
        },
    };
    let comment = input.comment.clone().unwrap_or_default();
    comment_ok(&mut errors, &comment);
    let model = db::network::load_model(c)?;
    let subnet = match input.subnet.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(key) => match engine::network::subnet(c, key) {
            Ok(s) => Some(s),
            Err(Error::NotFound(_)) => {
                add(&mut errors, "subnet", "Select a valid choice. That choice is not one of the available choices.");
                None
            }
            Err(e) => return Err(e),
        },
        None => match ip {
            Some(ip) => {
                let s = best_subnet(&model, ip);
                if s.is_none() {
                    add(
                        &mut errors,
                        "subnet",
                        format!("There is no subnet for {ip}. Create the subnet and try again."),
                    );
                }
                s
            }
            None => None,
        },
    };
    if let (Some(ip), Some(s)) = (ip, &subnet) {
        let net = engine::network::cidr_of(s);
        if !net.contains(&ip) {
            add(&mut errors, "ip", format!("{ip} is not part of the subnet."));
        }
        if ip == net.network() {
            add(&mut errors, "ip", "The network address cannot be a reserved IP.");
        }
        if ip == net.broadcast() {
            add(&mut errors, "ip", "The broadcast address cannot be a reserved IP.");
        }
        let v = engine::ipam::to_u128(ip);
        for r in db::network::ranges(c, Some(s.id))? {
            let inside = |a: &str| a.parse::<IpAddr>().map(engine::ipam::to_u128).ok();
            if r.range_type == "dynamic"
                && inside(&r.start_ip).is_some_and(|a| a <= v)
                && inside(&r.end_ip).is_some_and(|b| v <= b)
            {
                add(
                    &mut errors,
                    "ip",
                    format!("The reserved IP {ip} must be outside the dynamic range {} - {}.", r.start_ip, r.end_ip),
                );
            }
        }
    }
    if let (Some(ip), Some(mac)) = (ip, &mac) {
        // An address already assigned to someone else (MAAS: a
        // StaticIPAddress whose MACs do not include this one).
        if let Some(macs) = db::reserved_ips::macs_of_address(c, &ip.to_string())? {
            if !macs.contains(mac) {
                add(&mut errors, "ip", format!("The ip {ip} is already in use by another machine."));
            }
        }
    }
    if let Some(ip) = ip {
        if db::reserved_ips::by_ip(c, &ip.to_string())?.is_some() {
            add(&mut errors, "ip", "Reserved IP with this IP address already exists.");
        }
    }
    if let (Some(mac), Some(s)) = (&mac, &subnet) {
        if db::reserved_ips::by_mac_subnet(c, mac, s.id)?.is_some() {
            add(&mut errors, "__all__", "Reserved IP with this MAC address and Subnet already exists.");
        }
    }
    let (Some(ip), Some(mac), Some(subnet), true) = (ip, mac, subnet, errors.is_empty()) else {
        return Err(Error::Validation(errors));
    };
    let id = db::reserved_ips::insert(c, subnet.id, &ip.to_string(), &mac, &comment)?;
    get(c, id)
}

pub fn get(c: &mut DbConn, id: i64) -> Result<ReservedIp> {
    db::reserved_ips::get(c, id)?.ok_or(Error::NotFound("ReservedIP"))
}

/// `reservedips/{id}/` by its path segment (anything but an id is 404).
pub fn by_key(c: &mut DbConn, key: &str) -> Result<ReservedIp> {
    match key.trim().parse::<i64>() {
        Ok(id) => get(c, id),
        Err(_) => Err(Error::NotFound("ReservedIP")),
    }
}

/// Only the comment changes; the address, MAC and subnet are immutable
/// (MAAS's words when a request tries to change them).
pub fn update(c: &mut DbConn, r: &ReservedIp, input: &ReservedIpInput) -> Result<ReservedIp> {
    let ip_changed = input
        .ip
        .as_deref()
        .map(str::trim)
        .is_some_and(|ip| ip.parse::<IpAddr>().ok().map(|a| a.to_string()).as_deref() != Some(r.ip.as_str()));
    let mac_changed = input
        .mac_address
        .as_deref()
        .is_some_and(|m| engine::names::normalise_mac(m).as_deref() != Some(r.mac_address.as_str()));
    let subnet_changed = match input.subnet.as_deref().map(str::trim) {
        None => false,
        Some(key) => match engine::network::subnet(c, key) {
            Ok(s) => s.id != r.subnet_id,
            Err(Error::NotFound(_)) => true,
            Err(e) => return Err(e),
        },
    };
    if ip_changed || mac_changed || subnet_changed {
        return Err(Error::field("__all__", IMMUTABLE));
    }
    if let Some(comment) = &input.comment {
        let mut errors = FieldErrors::new();
        comment_ok(&mut errors, comment);
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        db::reserved_ips::set_comment(c, r.id, comment)?;
    }
    get(c, r.id)
}

pub fn delete(c: &mut DbConn, r: &ReservedIp) -> Result<()> {
    db::reserved_ips::delete(c, r.id)
}
