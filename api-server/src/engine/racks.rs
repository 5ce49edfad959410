//! Rack controllers: the shared (registration) secret and each rack's own
//! key, registration and acceptance, replay protection for the rack link,
//! the configuration the region computes for each rack (DHCP per VLAN, boot
//! purpose per MAC), and what racks report back (DHCP leases, boot events,
//! power results). The trust rules are described in
//! `ironpool_common::rack_link`.
//!
//! Nothing here knows HTTP; `crate::rpc` authenticates racks and calls in.
//! The wire types are shared with the rack (`ironpool_common::rack_link`), so
//! both ends compile against one definition.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chrono::Utc;
use ipnet::IpNet;
use ironpool_common::dhcp::{Cidr, DhcpConfig, LeaseEventKind, MacAddr, Reservation, SubnetConfig};
use ironpool_common::dhcp6::{Cidr6, Dhcp6Config, Reservation6, Subnet6Config};
use ironpool_common::rack_link::{
    self as proto, BootConfig, BootEntry, BootEventReport, BootMachine, ImageRef, LeaseReport, Purpose, RackConfig,
    RegisterRequest, RegisterResponse, SyncRequest, SyncResponse,
};

use crate::db;
use crate::db::network::NewIpAddress;
use crate::db::nodes::Node;
use crate::db::racks::RackRow;
use crate::db::DbConn;
use crate::engine;
use crate::engine::lifecycle::{NodeType, Status};
use crate::engine::network::DEFAULT_VLAN_ID;
use crate::engine::network::{FabricInput, SubnetInput};
use crate::engine::racks::liveness::STALE_SECS;
use crate::error::{Error, Result};

pub mod liveness;

/// How often racks are asked to sync.
pub const HEARTBEAT_SECS: u64 = 5;

/// The shared secret racks sign with, if the region has made one. It lives
/// in the database, so every region on one database shares it (MAAS keeps
/// its rack secret in the database too).
pub fn secret(c: &mut DbConn) -> Result<Option<String>> {
    Ok(db::racks::shared_secret(c)?.filter(|s| proto::valid_secret(s)))
}

/// The shared secret, created on first start. Call in a write transaction;
/// if two regions race, one insert fails and its caller reads the winner's.
pub fn ensure_secret(c: &mut DbConn) -> Result<String> {
    if let Some(s) = secret(c)? {
        return Ok(s);
    }
    let s = proto::new_secret();
    db::racks::set_shared_secret(c, &s)?;
    Ok(s)
}

/// Mirrors the secret into `<data_dir>/secret` (mode 0600), where MAAS
/// operators look for it (`/var/lib/maas/secret`); the database copy is the
/// one regions use.
pub fn write_secret_file(data_dir: &std::path::Path, secret: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = data_dir.join("secret");
    if std::fs::read_to_string(&path).is_ok_and(|s| s.trim() == secret) {
        return Ok(());
    }
    let tmp = data_dir.join(".secret.tmp");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(secret.as_bytes())?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| Error::Internal(format!("cannot write {}: {e}", path.display())))
}

fn is_rack(n: &Node) -> bool {
    n.node_type.is_rack()
}

/// The registered rack `system_id` (404 when unknown, so the rack
/// registers again).
pub fn rack(c: &mut DbConn, system_id: &str) -> Result<Node> {
    db::nodes::by_system_id(c, system_id)?.filter(is_rack).ok_or(Error::NotFound("RackController"))
}

/// A rack's node and its own key, for verifying a request signed with it
/// (`None` when the region knows no such rack).
pub fn credential(c: &mut DbConn, system_id: &str) -> Result<Option<(Node, Option<String>)>> {
    let Some(node) = db::nodes::by_system_id(c, system_id)?.filter(is_rack) else { return Ok(None) };
    let key = db::racks::key_of(c, node.id)?;
    Ok(Some((node, key)))
}

/// Records a signed request's nonce for `signer` (a rack's system_id, or
/// `""` for the shared secret) in the database every region shares; a nonce
/// seen before is a replay (401). Nonces whose timestamp left the window are
/// pruned on the way.
pub fn record_nonce(c: &mut DbConn, signer: &str, nonce: &str, ts: i64, now: i64) -> Result<()> {
    if db::racks::record_nonce(c, signer, nonce, ts, now - proto::MAX_SKEW_SECS)? {
        Ok(())
    } else {
        Err(Error::Unauthorized("Rack authentication failed: request replayed.".into()))
    }
}

/// Whether rack `node` is accepted (may get configuration and power jobs).
pub fn is_accepted(c: &mut DbConn, node: &Node) -> Result<bool> {
    db::racks::accepted(c, node.id)
}

/// An admin accepts a rack: it gets its configuration and power jobs from
/// its next sync.
pub fn accept(c: &mut DbConn, rack: &Node, actor: &str) -> Result<()> {
    if db::racks::get(c, rack.id)?.is_none() {
        return Err(Error::Conflict(format!(
            "Rack controller {} has not registered over the rack link yet.",
            rack.system_id
        )));
    }
    db::racks::set_accepted(c, rack.id, true)?;
    engine::events::log_event(c, rack, actor, engine::events::level::INFO, "Rack accepted", "")?;
    Ok(())
}

/// Registers (or re-registers) a rack: one transaction. Its node keeps its
/// system_id; its interfaces and addresses are replaced by what it reports,
/// and networks the region has never seen become new fabrics and subnets,
/// as MAAS does for rack interfaces.
///
/// `signer` is the rack whose own key signed the request, or `None` for the
/// shared (registration) secret. With the shared secret a *new* rack is
/// created and issued its key (accepted only if it is the first rack), and
/// a rack registered before per-rack keys gets its key; a rack that has a
/// key must prove it (403 otherwise), so the shared secret alone cannot
/// take over an existing rack.
pub fn register(c: &mut DbConn, req: &RegisterRequest, signer: Option<&Node>) -> Result<RegisterResponse> {
    let hostname = req.hostname.trim();
    if hostname.is_empty() || hostname.len() > 255 {
        return Err(Error::BadRequest("A rack must report a hostname of 1-255 characters.".into()));
    }
    if req.interfaces.len() > 1024 {
        return Err(Error::BadRequest("A rack may report at most 1024 interfaces.".into()));
    }
    let mut reported = Vec::new();
    for i in &req.interfaces {
        let mac = engine::names::normalise_mac(&i.mac)
            .ok_or_else(|| Error::BadRequest(format!("Interface {}: '{}' is not a MAC address.", i.name, i.mac)))?;
        let mut addrs = Vec::new();
        for a in &i.addresses {
            let n: IpNet = a
                .parse()
                .map_err(|_| Error::BadRequest(format!("Interface {}: '{a}' is not an address/prefix.", i.name)))?;
            addrs.push(n);
        }
        if !reported.iter().any(|(m, _, _): &(String, String, Vec<IpNet>)| *m == mac) {
            reported.push((mac, i.name.clone(), addrs));
        }
    }
    let macs: Vec<String> = reported.iter().map(|(m, _, _)| m.clone()).collect();

    // The rack whose key signed is the rack being registered, whatever
    // system_id the body names.
    let mut converted = false;
    let mut node = match (signer, req.system_id.as_deref().filter(|s| !s.is_empty())) {
        (Some(n), _) => Some(n.clone()),
        (None, Some(sid)) => match db::nodes::by_system_id(c, sid)? {
            Some(n) if is_rack(&n) => Some(n),
            // The rack in a region's process registers under the region's
            // system_id: the node becomes a region-and-rack controller, as
            // MAAS shows a host running both. It is then a new rack like
            // any other (its own key; accepted only if it is the first).
            Some(n) if n.node_type == NodeType::RegionController => {
                db::regions::set_node_type(c, n.id, NodeType::RegionAndRackController)?;
                converted = true;
                db::nodes::by_system_id(c, sid)?
            }
            _ => None,
        },
        (None, None) => None,
    };
    for (mac, id, node_type, sid) in db::racks::owners_of_macs(c, &macs)? {
        let owner_is_rack = node_type.is_rack();
        if !owner_is_rack {
            return Err(Error::Conflict(format!(
                "MAC address {mac} belongs to node {sid}, which is not a rack controller; remove it there first."
            )));
        }
        match &node {
            None => node = db::nodes::by_ids(c, &[id])?.into_iter().next(),
            Some(n) if n.id != id => {
                return Err(Error::Conflict(format!("MAC address {mac} belongs to another rack controller ({sid}).")))
            }
            Some(_) => {}
        }
    }
    let now = Utc::now().naive_utc();
    let existing_key = match &node {
        Some(n) => db::racks::key_of(c, n.id)?,
        None => None,
    };
    if signer.is_none() && existing_key.is_some() {
        let sid = node.as_ref().map(|n| n.system_id.as_str()).unwrap_or_default();
        return Err(Error::Forbidden(format!(
            "Rack controller {sid} is already registered with its own key: the rack must sign with that key \
             (kept in its data directory), or an admin deletes the rack controller so it can register afresh."
        )));
    }
    let is_new = node.is_none() || converted;
    let node = match node {
        Some(n) => n,
        None => engine::nodes::create::create_rack_node(c, hostname, &[])?,
    };
    sync_interfaces(c, &node, &reported)?;
    let first_rack = is_new && db::racks::accepted_ids(c)?.is_empty();
    db::racks::upsert(
        c,
        &RackRow {
            node_id: node.id,
            version: req.version.chars().take(64).collect(),
            services: "[]".into(),
            last_seen: now,
            registered_at: now,
        },
    )?;
    let mut rack_key = None;
    if existing_key.is_none() {
        let key = proto::new_secret();
        db::racks::set_key(c, node.id, &key)?;
        rack_key = Some(key);
        let what = if is_new && first_rack {
            db::racks::set_accepted(c, node.id, true)?;
            "New rack registered with the shared secret and issued its own key; accepted as the first rack."
        } else if is_new {
            "New rack registered with the shared secret and issued its own key; it gets no configuration or power \
             jobs until an admin accepts it (POST rackcontrollers/{id}/?op=accept)."
        } else {
            "Rack registered before per-rack keys re-registered with the shared secret and was issued its own key."
        };
        tracing::warn!(system_id = %node.system_id, hostname, "{what}");
        engine::events::log_event(c, &node, "", engine::events::level::INFO, "Rack registered", what)?;
    }
    Ok(RegisterResponse { system_id: node.system_id, heartbeat_secs: HEARTBEAT_SECS, rack_key })
}

fn sync_interfaces(c: &mut DbConn, node: &Node, reported: &[(String, String, Vec<IpNet>)]) -> Result<()> {
    let existing = db::network::interfaces_of(c, node.id)?;
    let ids: Vec<i64> = existing.iter().map(|i| i.id).collect();
    db::racks::delete_node_addresses(c, &ids)?;
    let mut model = db::network::load_model(c)?;
    for (mac, name, addrs) in reported {
        let iface_id = match existing.iter().find(|i| i.mac_address.as_deref() == Some(mac.as_str())) {
            Some(i) => i.id,
            None => db::racks::insert_interface(c, node.id, name, mac)?,
        };
        let mut vlan_id = None;
        for a in addrs {
            let ip = a.addr();
            let subnet = match engine::network::subnet_containing(&model, ip) {
                Some(s) => s.clone(),
                None => {
                    // A network the region has not seen becomes a subnet, so an
                    // admin can enable DHCP on it: on the default VLAN while that
                    // has no subnet yet (where enlisting machines land), else on
                    // a new fabric with its untagged VLAN.
                    let default_free = !model.subnets.values().any(|s| s.vlan_id == DEFAULT_VLAN_ID);
                    let vlan = if default_free {
                        DEFAULT_VLAN_ID
                    } else {
                        let fab = engine::network::create_fabric(c, &FabricInput::default())?;
                        model_vlan_of_fabric(c, fab.id)?
                    };
                    let s = engine::network::create_subnet(
                        c,
                        &SubnetInput {
                            cidr: Some(a.trunc().to_string()),
                            vlan: Some(vlan.to_string()),
                            ..Default::default()
                        },
                    )?;
                    model = db::network::load_model(c)?;
                    s
                }
            };
            vlan_id.get_or_insert(subnet.vlan_id);
            if let Some(other) = db::network::address_by_ip(c, &ip.to_string())? {
                tracing::warn!(%ip, owner = ?other.interface_id, "rack address already recorded for someone else; not linking it");
                continue;
            }
            db::network::address_insert(
                c,
                &NewIpAddress {
                    ip: Some(ip.to_string()),
                    mode: "static".into(),
                    subnet_id: Some(subnet.id),
                    interface_id: Some(iface_id),
                    user_id: None,
                    hostname: node.hostname.clone(),
                    mac_address: None,
                    created_at: Utc::now().naive_utc(),
                },
            )?;
        }
        db::racks::set_interface(c, iface_id, name, vlan_id)?;
    }
    Ok(())
}

fn model_vlan_of_fabric(c: &mut DbConn, fabric_id: i64) -> Result<i64> {
    db::network::vlan_by_vid(c, fabric_id, 0)?
        .map(|v| v.id)
        .ok_or_else(|| Error::Internal("new fabric has no untagged VLAN".into()))
}

/// The configuration this region last sent each rack (by system_id) and
/// its hash, so that the next change can go as a delta
/// ([`proto::ConfigDelta`]). Per process: a rack that moves to another
/// region, or a region that restarts, gets the whole document once.
#[derive(Default)]
pub struct SentConfigs(std::sync::Mutex<std::collections::HashMap<String, (String, std::sync::Arc<RackConfig>)>>);

impl SentConfigs {
    /// The configuration sent to `rack` if it hashes to `hash`.
    fn base(&self, rack: &str, hash: Option<&str>) -> Option<std::sync::Arc<RackConfig>> {
        let hash = hash?;
        let sent = self.0.lock().unwrap_or_else(|e| e.into_inner());
        sent.get(rack).filter(|(h, _)| h == hash).map(|(_, c)| c.clone())
    }

    fn remember(&self, rack: &str, hash: String, cfg: std::sync::Arc<RackConfig>) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(rack.to_string(), (hash, cfg));
    }
}

/// Heartbeat: records contact and services, and hands an accepted rack
/// the power jobs leased to it (BMC credentials included, and only those).
/// The configuration is read apart ([`answer_config`]). Returns whether
/// the rack is accepted.
pub fn heartbeat(c: &mut DbConn, rack: &Node, req: &SyncRequest) -> Result<(bool, Vec<proto::PowerCommand>)> {
    let services = serde_json::to_string(&req.services).map_err(Error::internal)?;
    db::racks::touch(c, rack.id, &services, Utc::now().naive_utc())?;
    if !is_accepted(c, rack)? {
        return Ok((false, Vec::new()));
    }
    Ok((true, engine::jobs::power::rack_power_commands(c, &rack.system_id)?))
}

/// The configuration part of a sync answer: nothing when the rack's copy
/// is current, a delta from the copy when this region sent it, else the
/// whole document. Returns (hash, whole, delta).
fn answer_config(
    cfg: RackConfig,
    rack: &str,
    held: Option<&str>,
    sent: &SentConfigs,
) -> (String, Option<RackConfig>, Option<proto::ConfigDelta>) {
    let cfg = proto::delta::canonical(cfg);
    let hash = proto::config_hash(&cfg);
    if held == Some(hash.as_str()) {
        return (hash, None, None);
    }
    let cfg = std::sync::Arc::new(cfg);
    let answer = match sent.base(rack, held) {
        Some(base) => (None, Some(proto::ConfigDelta::between(&base, &cfg, held.unwrap_or_default()))),
        None => (Some(RackConfig::clone(&cfg)), None),
    };
    sent.remember(rack, hash.clone(), cfg);
    (hash, answer.0, answer.1)
}

/// A sync: the heartbeat in a write transaction, then the configuration
/// read in a read transaction (building it for thousands of machines must
/// not hold SQLite's write lock). The read comes after the write, so a
/// power job handed out here finds its machine's boot purpose in the same
/// answer.
///
/// Long-polled: when the answer has nothing new for the rack (its
/// configuration is current and every power command is one it already
/// runs), holds it until a power job is handed to a rack in this region
/// (`db::wake`) or `req.wait_ms` (at most [`proto::MAX_SYNC_WAIT_MS`]) is
/// up, then answers afresh. So a power command reaches a waiting rack as
/// soon as the job worker assigns it, not at the rack's next heartbeat.
/// Each wakeup re-reads the database; nothing is held between reads.
pub async fn sync_waiting(
    db: &db::Datastore,
    rack: Node,
    req: SyncRequest,
    boot_images: BootImages,
    sent: std::sync::Arc<SentConfigs>,
) -> Result<SyncResponse> {
    let wait = std::time::Duration::from_millis(req.wait_ms.unwrap_or(0).min(proto::MAX_SYNC_WAIT_MS));
    let deadline = tokio::time::Instant::now() + wait;
    let req = std::sync::Arc::new(req);
    let wakeups = db.wakeups().clone();
    loop {
        // Registered before the read: a job assigned between the read and
        // the wait still wakes this call.
        let woken = wakeups.racks.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let (r, rk) = (req.clone(), rack.clone());
        let (accepted, power) = db.write(move |c| heartbeat(c, &rk, &r)).await?;
        if !accepted {
            return Ok(SyncResponse {
                config_hash: String::new(),
                config: None,
                delta: None,
                power: Vec::new(),
                long_poll: false,
            });
        }
        let (rk, im) = (rack.clone(), boot_images.clone());
        let cfg = db.read(move |c| config_for(c, &rk, &im)).await?;
        let (config_hash, config, delta) = answer_config(cfg, &rack.system_id, req.config_hash.as_deref(), &sent);
        // Stopping: the rack waits a heartbeat, then finds another region.
        let long_poll = req.wait_ms.is_some() && !wakeups.is_closing();
        let resp = SyncResponse { config_hash, config, delta, power, long_poll };
        let news = resp.config.is_some()
            || resp.delta.is_some()
            || resp.power.iter().any(|p| !req.power_in_flight.contains(&p.job_id));
        if news || !resp.long_poll || tokio::time::Instant::now() >= deadline {
            return Ok(resp);
        }
        tokio::select! {
            _ = &mut woken => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

fn require_accepted(c: &mut DbConn, rack: &Node) -> Result<()> {
    if is_accepted(c, rack)? {
        Ok(())
    } else {
        Err(Error::Forbidden(format!(
            "Rack controller {} is not accepted yet: an admin accepts it with POST rackcontrollers/{}/?op=accept.",
            rack.system_id, rack.system_id
        )))
    }
}

/// The commissioning environment's kernel and initrd, when imported.
#[derive(Debug, Clone, Default)]
pub struct BootImages {
    pub kernel: Option<ImageRef>,
    pub initrd: Option<ImageRef>,
    /// Every deployable image file (custom uploads are few): the rack
    /// serves them to installers like boot files.
    pub deploy: Vec<ImageRef>,
}

fn entry(images: &BootImages, cmdline: String) -> BootEntry {
    BootEntry { kernel: images.kernel.clone(), initrd: images.initrd.clone(), cmdline }
}

/// What a machine in `status` boots, as MAAS's boot purposes: the
/// ephemeral environment while Ironpool works on it, its disk otherwise.
pub fn purpose(status: Status) -> Purpose {
    use Status::*;
    match status {
        Commissioning | Testing | EnteringRescueMode | RescueMode | DiskErasing => Purpose::Commissioning,
        Deploying => Purpose::Xinstall,
        _ => Purpose::Local,
    }
}

const KERNEL_OPTS: &str = "console=tty0 console=ttyS0,115200n8";

/// Everything `rack` serves (a handful of queries, however many machines).
pub fn config_for(c: &mut DbConn, rack: &Node, images: &BootImages) -> Result<RackConfig> {
    let model = db::network::load_model(c)?;
    let rack_ifaces = db::network::interfaces_of(c, rack.id)?;
    let ids: Vec<i64> = rack_ifaces.iter().map(|i| i.id).collect();
    let rack_ips: Vec<(IpAddr, i64)> = db::network::links_of(c, &ids)?
        .into_iter()
        .filter_map(|a| Some((a.ip.as_deref()?.parse().ok()?, a.subnet_id?)))
        .collect();

    // VLANs this rack serves DHCP on: as primary, or as secondary while the
    // primary is silent (failover).
    let mut vlans: Vec<&db::network::Vlan> = model.vlans.values().filter(|v| v.dhcp_on).collect();
    vlans.sort_by_key(|v| v.id);
    let primaries: Vec<i64> = vlans.iter().filter_map(|v| v.primary_rack_id).collect();
    let fresh: HashSet<i64> = db::racks::of_nodes(c, &primaries)?
        .into_iter()
        .filter(|r| (Utc::now().naive_utc() - r.last_seen).num_seconds() <= STALE_SECS)
        .map(|r| r.node_id)
        .collect();
    let served: Vec<i64> = vlans
        .iter()
        .filter(|v| {
            v.primary_rack_id == Some(rack.id)
                || (v.secondary_rack_id == Some(rack.id) && !v.primary_rack_id.is_some_and(|p| fresh.contains(&p)))
        })
        .map(|v| v.id)
        .collect();

    let domain =
        db::places::domains(c)?.into_iter().find(|d| d.id == engine::defaults::DEFAULT_DOMAIN_ID).map(|d| d.name);
    let mut subnets = Vec::new();
    let mut server_address = None;
    let mut subnet_ids = Vec::new();
    // VLANs whose DHCP is relayed (MAAS's relay_vlan) to a VLAN this rack
    // serves: their subnets are served too, answering through the relay's
    // giaddr from the rack's address on the served VLAN.
    let relayed: Vec<(i64, i64)> = model
        .vlans
        .values()
        .filter_map(|v| v.relay_vlan_id.filter(|r| served.contains(r)).map(|r| (v.id, r)))
        .collect();
    let own_on_vlan = |vlan_id: i64| {
        rack_ips.iter().find_map(|(ip, sid)| match ip {
            IpAddr::V4(v4) if model.subnets.get(sid).is_some_and(|s| s.vlan_id == vlan_id) => Some(*v4),
            _ => None,
        })
    };
    let mut subs: Vec<&db::network::Subnet> = model
        .subnets
        .values()
        .filter(|s| served.contains(&s.vlan_id) || relayed.iter().any(|(v, _)| *v == s.vlan_id))
        .collect();
    subs.sort_by_key(|s| s.id);
    let (dhcp6_subnets, subnet6_ids) = dhcp6_subnets(c, &subs, &rack_ips, &model, &relayed, domain.as_deref())?;
    for s in subs {
        let Ok(IpNet::V4(cidr)) = s.cidr.parse::<IpNet>() else { continue };
        let direct = rack_ips.iter().find_map(|(ip, sid)| match ip {
            IpAddr::V4(v4) if *sid == s.id => Some(*v4),
            _ => None,
        });
        let via_relay = || relayed.iter().find(|(v, _)| *v == s.vlan_id).and_then(|(_, target)| own_on_vlan(*target));
        let Some(own) = direct.or_else(via_relay) else {
            // Debug, not warn: this runs on every heartbeat, and the demo's
            // made-up boot network is like this by design.
            tracing::debug!(subnet = %s.cidr, rack = %rack.system_id, "DHCP is on but the rack has no address in the subnet");
            continue;
        };
        let Some(range) = db::network::ranges(c, Some(s.id))?.into_iter().find(|r| r.range_type == "dynamic") else {
            continue;
        };
        let (Ok(start), Ok(end)) = (range.start_ip.parse::<Ipv4Addr>(), range.end_ip.parse::<Ipv4Addr>()) else {
            continue;
        };
        server_address.get_or_insert(own);
        subnet_ids.push(s.id);
        subnets.push(SubnetConfig {
            cidr: Cidr { network: cidr.network(), prefix: cidr.prefix_len() },
            router: s.gateway_ip.as_deref().and_then(|g| g.parse().ok()),
            dns_servers: s.dns_servers.split([' ', ',']).filter_map(|d| d.parse().ok()).collect(),
            domain: domain.clone(),
            range_start: start,
            range_end: end,
            lease_time: 600,
            next_server: Some(own),
        });
    }
    let dhcp = match server_address {
        None => None,
        Some(addr) => {
            let mut cfg = DhcpConfig::new(addr, subnets);
            cfg.snippet_options = engine::dhcp_snippets::rack_options(c, &subnet_ids)?;
            let mut seen_mac = HashSet::new();
            let mut seen_ip = HashSet::new();
            for (mac, ip, hostname) in db::racks::addresses_to_reserve(c, &subnet_ids)? {
                let (Ok(mac), Ok(ip)) = (mac.parse::<MacAddr>(), ip.parse::<Ipv4Addr>()) else { continue };
                if seen_mac.insert(mac) && seen_ip.insert(ip) {
                    cfg.reservations.push(Reservation { mac, ip, hostname: Some(hostname) });
                }
            }
            // Reserved IPs (`reservedips/`): their MAC gets that address.
            // A node's own address for the MAC, listed above, wins.
            for r in db::reserved_ips::in_subnets(c, &subnet_ids)? {
                let (Ok(mac), Ok(ip)) = (r.mac_address.parse::<MacAddr>(), r.ip.parse::<Ipv4Addr>()) else { continue };
                if !seen_mac.contains(&mac) && seen_ip.insert(ip) {
                    seen_mac.insert(mac);
                    cfg.reservations.push(Reservation { mac, ip, hostname: None });
                }
            }
            match cfg.validate() {
                Ok(()) => Some(cfg),
                Err(e) => {
                    tracing::error!(rack = %rack.system_id, error = %e, "DHCP configuration not sent");
                    None
                }
            }
        }
    };

    let dhcp6 = dhcp6_config(c, rack, dhcp6_subnets, &subnet6_ids)?;

    let metadata_root = "http://{rack}/MAAS/metadata/";
    let metadata = "http://{rack}/MAAS/metadata/latest";
    let enlist = entry(
        images,
        format!(
            "{KERNEL_OPTS} cloud-config-url={metadata}/enlist-preseed/?op=get_enlist_preseed ironpool.purpose=enlist"
        ),
    );
    let machines = db::racks::boot_rows(c, NodeType::Machine)?
        .into_iter()
        .map(|r| {
            // An installer that called `netboot_off` reboots into its disk.
            let p = match Status::from_code(r.status).map(purpose) {
                Some(p) if r.netboot || p != Purpose::Xinstall => p,
                _ => Purpose::Local,
            };
            let cmdline = if p == Purpose::Local {
                String::new()
            } else {
                // The preseed URL carries the phase's boot secret: the
                // preseed holds the node's token and is served only with it.
                let preseed =
                    engine::metadata::token::preseed_path(&r.system_id, r.boot_secret.as_deref().unwrap_or(""));
                format!(
                    "{KERNEL_OPTS} cloud-config-url={metadata_root}{preseed} ironpool.purpose={} hostname={}",
                    ironpool_common::rack_link::purpose_name(p),
                    r.hostname
                )
            };
            BootMachine {
                mac: r.mac,
                system_id: r.system_id,
                hostname: r.hostname,
                purpose: p,
                entry: if p == Purpose::Local {
                    BootEntry { kernel: None, initrd: None, cmdline }
                } else {
                    entry(images, cmdline)
                },
            }
        })
        .collect();
    Ok(RackConfig { dhcp, dhcp6, boot: BootConfig { enlist, machines, images: images.deploy.clone() } })
}

/// The IPv6 subnets among `subs` (the served and relayed VLANs' subnets)
/// the rack can serve by DHCPv6: a dynamic range, and an address of the
/// rack in the subnet or, for a relayed VLAN, on the VLAN it is relayed to.
/// Returns them with their ids (for reservations).
fn dhcp6_subnets(
    c: &mut DbConn,
    subs: &[&db::network::Subnet],
    rack_ips: &[(IpAddr, i64)],
    model: &db::network::Model,
    relayed: &[(i64, i64)],
    domain: Option<&str>,
) -> Result<(Vec<Subnet6Config>, Vec<i64>)> {
    let own_on_vlan = |vlan_id: i64| {
        rack_ips.iter().find_map(|(ip, sid)| match ip {
            IpAddr::V6(v6) if model.subnets.get(sid).is_some_and(|s| s.vlan_id == vlan_id) => Some(*v6),
            _ => None,
        })
    };
    let (mut out, mut ids) = (Vec::new(), Vec::new());
    for s in subs {
        let Ok(IpNet::V6(cidr)) = s.cidr.parse::<IpNet>() else { continue };
        let direct = rack_ips.iter().find_map(|(ip, sid)| match ip {
            IpAddr::V6(v6) if *sid == s.id => Some(*v6),
            _ => None,
        });
        let via_relay = || relayed.iter().find(|(v, _)| *v == s.vlan_id).and_then(|(_, target)| own_on_vlan(*target));
        let Some(own) = direct.or_else(via_relay) else {
            tracing::debug!(subnet = %s.cidr, "DHCP is on but the rack has no IPv6 address for the subnet");
            continue;
        };
        let Some(range) = db::network::ranges(c, Some(s.id))?.into_iter().find(|r| r.range_type == "dynamic") else {
            continue;
        };
        let (Ok(start), Ok(end)) = (range.start_ip.parse::<Ipv6Addr>(), range.end_ip.parse::<Ipv6Addr>()) else {
            continue;
        };
        ids.push(s.id);
        out.push(Subnet6Config {
            cidr: Cidr6 { network: cidr.network(), prefix: cidr.prefix_len() },
            server_address: own,
            // The subnet's IPv6 DNS servers; IPv4 ones cannot go in option 23.
            dns_servers: s.dns_servers.split([' ', ',']).filter_map(|d| d.parse().ok()).collect(),
            domain: domain.map(str::to_string),
            range_start: start,
            range_end: end,
            lease_time: 600,
        });
    }
    Ok((out, ids))
}

/// The DHCPv6 configuration for `subnets`: reservations for node addresses
/// and reserved IPs in them, by MAC (MAAS's DHCPv6 host entries match the
/// client's MAC too).
fn dhcp6_config(
    c: &mut DbConn,
    rack: &Node,
    subnets: Vec<Subnet6Config>,
    subnet_ids: &[i64],
) -> Result<Option<Dhcp6Config>> {
    if subnets.is_empty() {
        return Ok(None);
    }
    let mut cfg = Dhcp6Config::new(subnets);
    let mut seen_mac = HashSet::new();
    let mut seen_ip = HashSet::new();
    for (mac, ip, hostname) in db::racks::addresses_to_reserve(c, subnet_ids)? {
        let (Ok(mac), Ok(ip)) = (mac.parse::<MacAddr>(), ip.parse::<Ipv6Addr>()) else { continue };
        if seen_mac.insert(mac) && seen_ip.insert(ip) {
            cfg.reservations.push(Reservation6 { mac, ip, hostname: Some(hostname) });
        }
    }
    for r in db::reserved_ips::in_subnets(c, subnet_ids)? {
        let (Ok(mac), Ok(ip)) = (r.mac_address.parse::<MacAddr>(), r.ip.parse::<Ipv6Addr>()) else { continue };
        if !seen_mac.contains(&mac) && seen_ip.insert(ip) {
            seen_mac.insert(mac);
            cfg.reservations.push(Reservation6 { mac, ip, hostname: None });
        }
    }
    match cfg.validate() {
        Ok(()) => Ok(Some(cfg)),
        Err(e) => {
            tracing::error!(rack = %rack.system_id, error = %e, "DHCPv6 configuration not sent");
            Ok(None)
        }
    }
}

/// DHCP lease events: a known machine's DHCP link gets the address (MAAS
/// shows it as the link's `ip_address`); other leases are recorded as
/// `discovered` addresses so IPAM never hands them out.
///
/// Not checked: that the rack serves the lease's subnet (a rack relaying for
/// another VLAN reports leases of subnets computed from the relay graph);
/// an accepted rack is trusted to report its own DHCP server's leases.
pub fn record_leases(c: &mut DbConn, rack: &Node, report: &LeaseReport) -> Result<usize> {
    require_accepted(c, rack)?;
    let model = db::network::load_model(c)?;
    let mut applied = 0;
    for e in &report.events {
        let mac = e.mac.to_string();
        let ip = e.ip.to_string();
        match e.kind {
            LeaseEventKind::Bound => {
                // Every bound lease is a sighting for network discovery.
                engine::discoveries::observe(c, rack, IpAddr::V4(e.ip), &mac, e.hostname.as_deref())?;
                if let Some((link_id, current)) = db::racks::dhcp_link_of_mac(c, &mac)? {
                    if current.as_deref() != Some(ip.as_str()) {
                        db::racks::delete_discovered(c, &mac, &ip)?;
                        if db::network::address_by_ip(c, &ip)?.is_none() {
                            db::network::address_set_ip(c, link_id, Some(&ip))?;
                        }
                    }
                } else {
                    db::racks::delete_discovered(c, &mac, &ip)?;
                    if db::network::address_by_ip(c, &ip)?.is_some() {
                        tracing::warn!(%ip, %mac, "leased address is also assigned in IPAM");
                        continue;
                    }
                    db::network::address_insert(
                        c,
                        &NewIpAddress {
                            ip: Some(ip.clone()),
                            mode: "discovered".into(),
                            subnet_id: engine::network::subnet_containing(&model, IpAddr::V4(e.ip)).map(|s| s.id),
                            interface_id: None,
                            user_id: None,
                            hostname: e.hostname.clone().unwrap_or_default(),
                            mac_address: Some(mac.clone()),
                            created_at: Utc::now().naive_utc(),
                        },
                    )?;
                }
            }
            LeaseEventKind::Released | LeaseEventKind::Expired | LeaseEventKind::Declined => {
                db::racks::delete_discovered(c, &mac, &ip)?;
                if let Some((link_id, Some(current))) = db::racks::dhcp_link_of_mac(c, &mac)? {
                    if current == ip {
                        db::network::address_set_ip(c, link_id, None)?;
                    }
                }
            }
        }
        applied += 1;
    }
    Ok(applied)
}

/// Boot file fetches by known machines become node events ("PXE Request").
pub fn record_boot_events(c: &mut DbConn, rack: &Node, report: &BootEventReport) -> Result<usize> {
    require_accepted(c, rack)?;
    let mut n = 0;
    for e in report.events.iter().take(1000) {
        let Some(mac) = engine::names::normalise_mac(&e.mac) else { continue };
        let Some((node_id, _)) = db::racks::node_of_mac(c, &mac)? else { continue };
        let Some(node) = db::nodes::by_ids(c, &[node_id])?.into_iter().next() else { continue };
        let desc = format!("{} fetched {} from rack {}", e.ip, e.file, rack.hostname);
        engine::events::log_event(c, &node, "", engine::events::level::INFO, "PXE Request", &desc)?;
        n += 1;
    }
    Ok(n)
}

/// Deletes a rack. Refused while it serves DHCP on a VLAN unless `force`,
/// which also turns DHCP off there (as MAAS's `force`); its addresses go
/// with its interfaces.
pub fn delete_rack(c: &mut DbConn, rack: &Node, force: bool) -> Result<()> {
    let model = db::network::load_model(c)?;
    let mut using: Vec<&db::network::Vlan> = model
        .vlans
        .values()
        .filter(|v| v.primary_rack_id == Some(rack.id) || v.secondary_rack_id == Some(rack.id))
        .collect();
    using.sort_by_key(|v| v.id);
    if !force {
        if let Some(v) = using.iter().find(|v| v.dhcp_on) {
            return Err(Error::BadRequest(format!(
                "Unable to delete '{}': it provides DHCP on VLAN {} (fabric {}). Turn DHCP off or move it to another rack first, or pass force=true.",
                rack.hostname, v.vid, v.fabric_id
            )));
        }
    }
    for v in using {
        let mut nv = v.clone();
        if nv.primary_rack_id == Some(rack.id) {
            nv.primary_rack_id = nv.secondary_rack_id.take();
        }
        if nv.secondary_rack_id == Some(rack.id) {
            nv.secondary_rack_id = None;
        }
        if nv.primary_rack_id.is_none() {
            nv.dhcp_on = false;
        }
        db::network::vlan_update(c, &nv)?;
    }
    let ids: Vec<i64> = db::network::interfaces_of(c, rack.id)?.iter().map(|i| i.id).collect();
    db::racks::delete_node_addresses(c, &ids)?;
    if rack.node_type == NodeType::RegionAndRackController {
        // As MAAS: deleting the rack of a region-and-rack controller leaves
        // the region; the rack's key goes, so it registers afresh.
        db::racks::delete_row(c, rack.id)?;
        return db::regions::set_node_type(c, rack.id, NodeType::RegionController);
    }
    db::nodes::delete(c, rack.id)
}

/// Power results from a rack; returns how many were applied.
/// Only results for jobs leased to `rack` are applied (see
/// `engine::jobs::power::apply_rack_result`).
pub fn record_power_results(c: &mut DbConn, rack: &Node, report: &proto::PowerResultReport) -> Result<usize> {
    let mut n = 0;
    for r in &report.results {
        if engine::jobs::power::apply_rack_result(c, &rack.system_id, r)? {
            n += 1;
        }
    }
    Ok(n)
}
