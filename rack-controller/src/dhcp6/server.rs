//! The DHCPv6 protocol engine ([`Dhcp6Server::handle`], synchronous and
//! pure apart from the clock it is given, like the IPv4 one) and its socket
//! loop ([`Dhcp6Server::run_with_updates`]).

use std::collections::HashMap;
use std::io;
use std::net::{Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use ironpool_common::dhcp::MacAddr;
use ironpool_common::dhcp6::{Dhcp6Config, Subnet6Config};

use super::leases::{IaKey, Lease6, Leases6};
use super::packet::*;
use super::Dhcp6Stats;
use crate::dhcp::leases::{self, LeaseState};
use crate::dhcp::DhcpError;

/// All DHCP relay agents and servers (RFC 8415 §7.1).
pub const ALL_DHCP_RELAY_AGENTS_AND_SERVERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);

/// Free addresses are looked for this many candidates past the cursor at
/// most, so a huge, nearly full range (a /64 is 2^64 addresses) costs a
/// bounded time per SOLICIT.
const MAX_PROBES: u32 = 65_536;

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Opens the server's UDP socket on `addr` (normally `[::]:547`): IPv6
/// only, address reuse, bound to `interface` (SO_BINDTODEVICE) when given,
/// and joined to ff02::1:2 on that interface, or on every interface but
/// loopback when none is given (clients send to the multicast group).
pub fn bind_socket6(addr: SocketAddr, interface: Option<&str>) -> io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_only_v6(true)?;
    s.set_reuse_address(true)?;
    // As for DHCPv4: room for a boot storm's burst of SOLICITs.
    s.set_recv_buffer_size(crate::dhcp::server::RECV_BUFFER)?;
    if let Some(dev) = interface {
        s.bind_device(Some(dev.as_bytes()))?;
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    let names: Vec<String> = match interface {
        Some(dev) => vec![dev.to_string()],
        None => std::fs::read_dir("/sys/class/net")
            .map(|d| d.filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|n| n != "lo").collect())
            .unwrap_or_default(),
    };
    let mut joined = 0;
    for name in &names {
        let Some(index) = if_index(name) else { continue };
        match s.join_multicast_v6(&ALL_DHCP_RELAY_AGENTS_AND_SERVERS, index) {
            Ok(()) => joined += 1,
            Err(e) => tracing::debug!(interface = %name, error = %e, "cannot join ff02::1:2"),
        }
    }
    if joined == 0 && interface.is_some() {
        return Err(io::Error::other(format!("cannot join ff02::1:2 on {}", names.join(","))));
    }
    Ok(s.into())
}

fn if_index(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string for the call's duration.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}

/// The IPv6 addresses of every interface, by interface index (getifaddrs).
/// Used to tell which subnet a directly attached client is on: its
/// link-local source address carries the arrival interface as scope id.
pub fn interface_addresses() -> HashMap<u32, Vec<Ipv6Addr>> {
    let mut out: HashMap<u32, Vec<Ipv6Addr>> = HashMap::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list freed below with
    // freeifaddrs; each entry is read only while the list is alive.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return out;
        }
        let mut p = head;
        while !p.is_null() {
            let ifa = &*p;
            if !ifa.ifa_addr.is_null() && i32::from((*ifa.ifa_addr).sa_family) == libc::AF_INET6 {
                let sa = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                let index = libc::if_nametoindex(ifa.ifa_name);
                if index != 0 {
                    out.entry(index).or_default().push(Ipv6Addr::from(sa.sin6_addr.s6_addr));
                }
            }
            p = ifa.ifa_next;
        }
        libc::freeifaddrs(head);
    }
    out
}

/// What relays wrapped around a client message, outermost first.
struct RelayHop {
    hop_count: u8,
    link: Ipv6Addr,
    peer: Ipv6Addr,
    interface_id: Option<Vec<u8>>,
    linklayer: Option<MacAddr>,
}

/// Where a client message came from and what is known about the client.
struct Context {
    /// The subnet serving the client's link.
    subnet: usize,
    mac: Option<MacAddr>,
}

/// The server: configuration, identity, lease table and counters.
pub struct Dhcp6Server {
    cfg: Dhcp6Config,
    duid: Vec<u8>,
    reserved_by_mac: HashMap<MacAddr, usize>,
    reserved_by_ip: HashMap<Ipv6Addr, MacAddr>,
    leases: Leases6,
    /// Next address to try per subnet (offset into its range).
    cursor: Vec<u128>,
    stats: Arc<Dhcp6Stats>,
    persist: Option<leases::Persister<Lease6>>,
    lease_file: Option<PathBuf>,
}

impl Dhcp6Server {
    /// Validates the config and loads persisted leases. `duid` is the
    /// server identifier (see [`duid_ll`]); keep it stable across restarts,
    /// clients renew with the server that gave them their lease.
    pub fn new(cfg: Dhcp6Config, duid: Vec<u8>) -> Result<Dhcp6Server, DhcpError> {
        cfg.validate()?;
        if duid.len() < 2 || duid.len() > 130 {
            return Err(DhcpError::Config(format!("a DUID is 2 to 130 bytes, not {}", duid.len())));
        }
        let leases = match &cfg.lease_file {
            Some(p) => Leases6::load(p)?,
            None => Leases6::default(),
        };
        if !leases.is_empty() {
            tracing::info!(count = leases.len(), "DHCPv6 leases reloaded");
        }
        let lease_file = cfg.lease_file.clone();
        let mut s = Dhcp6Server {
            cfg: Dhcp6Config::new(Vec::new()),
            duid,
            reserved_by_mac: HashMap::new(),
            reserved_by_ip: HashMap::new(),
            leases,
            cursor: Vec::new(),
            stats: Arc::default(),
            persist: None,
            lease_file,
        };
        s.install(cfg);
        Ok(s)
    }

    fn install(&mut self, cfg: Dhcp6Config) {
        self.reserved_by_mac = cfg.reservations.iter().enumerate().map(|(i, r)| (r.mac, i)).collect();
        self.reserved_by_ip = cfg.reservations.iter().map(|r| (r.ip, r.mac)).collect();
        self.cursor = vec![0; cfg.subnets.len()];
        self.cfg = cfg;
    }

    pub fn stats(&self) -> Arc<Dhcp6Stats> {
        self.stats.clone()
    }

    pub fn duid(&self) -> &[u8] {
        &self.duid
    }

    /// Swaps in a new configuration; leases are kept, the lease file stays.
    pub fn reconfigure(&mut self, mut cfg: Dhcp6Config) -> Result<(), DhcpError> {
        cfg.validate()?;
        cfg.lease_file = self.cfg.lease_file.clone();
        tracing::info!(
            subnets = cfg.subnets.len(),
            reservations = cfg.reservations.len(),
            "DHCPv6 configuration updated"
        );
        self.install(cfg);
        Ok(())
    }

    /// The binding of one identity association.
    pub fn lease(&self, duid: &[u8], iaid: u32) -> Option<&Lease6> {
        self.leases.get(&IaKey { duid: hex(duid), iaid })
    }

    /// Every binding, advertised or bound.
    pub fn leases(&self) -> Vec<Lease6> {
        self.leases.all().cloned().collect()
    }

    /// Serves on `socket` until it fails, applying each configuration
    /// received on `updates` between packets. Lease-file writes happen on
    /// a separate task (latest table wins), as for IPv4.
    pub async fn run_with_updates(
        mut self,
        socket: UdpSocket,
        mut updates: mpsc::Receiver<Dhcp6Config>,
    ) -> io::Result<()> {
        if let Some(path) = self.lease_file.clone() {
            self.persist = Some(leases::Persister::spawn(path, self.leases.bound(), "DHCPv6"));
        }
        tracing::info!(local = %socket.local_addr()?, subnets = self.cfg.subnets.len(), duid = %hex(&self.duid), "DHCPv6 server listening");
        let mut buf = vec![0u8; 65_536];
        let mut sweep = tokio::time::interval(Duration::from_secs(15));
        let mut flush = tokio::time::interval(leases::PERSIST_EVERY);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Interface addresses change rarely; look them up again when a
        // packet arrives on an interface not seen yet, or every 10 s.
        let mut ifaddrs = interface_addresses();
        let mut ifaddrs_at = Instant::now();
        loop {
            tokio::select! {
                r = socket.recv_from(&mut buf) => {
                    let (n, src) = match r {
                        Ok(v) => v,
                        Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionRefused | io::ErrorKind::Interrupted) => continue,
                        Err(e) => return Err(e),
                    };
                    let scope = match src { SocketAddr::V6(a) => a.scope_id(), SocketAddr::V4(_) => 0 };
                    if scope != 0 && (!ifaddrs.contains_key(&scope) || ifaddrs_at.elapsed() > Duration::from_secs(10)) {
                        ifaddrs = interface_addresses();
                        ifaddrs_at = Instant::now();
                    }
                    let link = ifaddrs.get(&scope).map(Vec::as_slice).unwrap_or(&[]);
                    if let Some((reply, dst)) = self.handle(&buf[..n], src, link, now_secs()) {
                        if let Err(e) = socket.send_to(&reply, dst).await {
                            bump(&self.stats.send_errors);
                            tracing::debug!(%dst, error = %e, "cannot send DHCPv6 reply");
                        }
                    }
                }
                _ = sweep.tick() => self.expire(now_secs()),
                _ = flush.tick(), if self.persist.as_ref().is_some_and(|p| p.is_dirty()) => {
                    if let Some(p) = self.persist.as_mut() {
                        p.flush(self.leases.bound());
                    }
                }
                Some(cfg) = updates.recv() => {
                    if let Err(e) = self.reconfigure(cfg) {
                        tracing::error!(error = %e, "DHCPv6 configuration refused; keeping the current one");
                    }
                }
            }
        }
    }

    /// Ends leases whose time is up.
    pub fn expire(&mut self, now: u64) {
        let gone = self.leases.expire(now);
        if gone.is_empty() {
            return;
        }
        for l in &gone {
            tracing::info!(ip = %l.ip, duid = %l.key.duid, "DHCPv6 lease expired");
        }
        self.persist();
    }

    /// Marks the table for the lease writer ([`leases::Persister`]).
    fn persist(&mut self) {
        if let Some(p) = self.persist.as_mut() {
            p.mark();
        } else if let Some(path) = &self.lease_file {
            // Not running the socket loop (tests): write inline.
            if let Err(e) = leases::save(path, &self.leases.bound()) {
                tracing::error!(error = %e, "cannot persist DHCPv6 leases");
            }
        }
    }

    /// Handles one datagram from `src`. `link` holds the server's addresses
    /// on the interface it arrived on (how a directly attached client's
    /// subnet is found). Returns the reply and where to send it: back to
    /// the sender, which is the client or the relay that forwarded it.
    /// Never panics on client input.
    pub fn handle(
        &mut self,
        data: &[u8],
        src: SocketAddr,
        link: &[Ipv6Addr],
        now: u64,
    ) -> Option<(Vec<u8>, SocketAddr)> {
        bump(&self.stats.received);
        let malformed = |s: &Self, why: &str| {
            bump(&s.stats.malformed);
            tracing::debug!(%src, len = data.len(), why, "malformed DHCPv6 packet dropped");
            None
        };
        // Unwrap relays (RFC 8415 §19), outermost first.
        let mut hops = Vec::new();
        let mut inner = data;
        let msg = loop {
            match parse(inner) {
                Err(Malformed(why)) => return malformed(self, why),
                Ok(Packet::Client(m)) => break m,
                Ok(Packet::Relay(r)) if r.kind == RELAY_FORW && hops.len() <= usize::from(HOP_COUNT_LIMIT) => {
                    let Some(msg) = find(&r.opts, OPT_RELAY_MSG) else {
                        return malformed(self, "relay message without a Relay Message option");
                    };
                    hops.push(RelayHop {
                        hop_count: r.hop_count,
                        link: r.link,
                        peer: r.peer,
                        interface_id: find(&r.opts, OPT_INTERFACE_ID).map(<[u8]>::to_vec),
                        linklayer: find(&r.opts, OPT_CLIENT_LINKLAYER_ADDR).and_then(linklayer_mac),
                    });
                    inner = msg;
                }
                Ok(Packet::Relay(_)) => {
                    bump(&self.stats.ignored);
                    return None;
                }
            }
        };
        let reply = match self.message(&msg, &hops, src, link, now) {
            Ok(r) => r?,
            Err(Malformed(why)) => return malformed(self, why),
        };
        bump(&self.stats.replies);
        // Wrap the reply in a Relay-reply per relay, innermost first, each
        // echoing its relay's Interface-ID (RFC 8415 §19.3).
        let mut out = reply;
        for h in hops.iter().rev() {
            let mut w = Writer::relay_reply(h.hop_count, h.link, h.peer);
            if let Some(id) = &h.interface_id {
                w.opt(OPT_INTERFACE_ID, id);
            }
            w.opt(OPT_RELAY_MSG, &out);
            out = w.buf;
        }
        Some((out, src))
    }

    /// The subnet of a client: the link address of the relay nearest the
    /// client (skipping relays that leave it unspecified), or, for a
    /// directly attached client, the subnet holding one of the server's
    /// addresses on the arrival interface; with a single subnet, that one.
    /// (Not by `server_address`: a relayed subnet's is the rack's address
    /// on another link.)
    fn select_subnet(&self, hops: &[RelayHop], link: &[Ipv6Addr]) -> Option<usize> {
        let subnets = &self.cfg.subnets;
        if !hops.is_empty() {
            let addr = hops.iter().rev().map(|h| h.link).find(|l| !l.is_unspecified())?;
            return subnets.iter().position(|s| s.cidr.contains(addr));
        }
        link.iter().find_map(|a| subnets.iter().position(|s| s.cidr.contains(*a))).or(if subnets.len() == 1 {
            Some(0)
        } else {
            None
        })
    }

    fn message(
        &mut self,
        msg: &Message<'_>,
        hops: &[RelayHop],
        src: SocketAddr,
        link: &[Ipv6Addr],
        now: u64,
    ) -> Result<Option<Vec<u8>>, Malformed> {
        let client_id = find(&msg.opts, OPT_CLIENTID);
        let server_id = find(&msg.opts, OPT_SERVERID);
        let ours = server_id.is_some_and(|id| id == self.duid.as_slice());
        // RFC 8415 §16: which messages must, or must not, name a server.
        let valid = match msg.kind {
            SOLICIT | CONFIRM | REBIND => client_id.is_some() && server_id.is_none(),
            REQUEST | RENEW | RELEASE | DECLINE => client_id.is_some() && ours,
            INFORMATION_REQUEST => server_id.is_none() || ours,
            _ => false,
        };
        if !valid {
            bump(&self.stats.ignored);
            return Ok(None);
        }
        if client_id.is_some_and(|d| d.is_empty() || d.len() > 130) {
            return Err(Malformed("client DUID length"));
        }
        let ias = ia_nas(&msg.opts)?;
        let Some(subnet) = self.select_subnet(hops, link) else {
            bump(&self.stats.ignored);
            tracing::debug!(%src, "DHCPv6 request from a link we do not serve");
            return Ok(None);
        };
        // The client's MAC: from the first relay's Client Link-Layer
        // Address option, its DUID, or its EUI-64 link-local source.
        let mac = hops.last().and_then(|h| h.linklayer).or_else(|| client_id.and_then(duid_mac)).or_else(|| {
            match (hops.last(), src) {
                (Some(h), _) => eui64_mac(h.peer),
                (None, SocketAddr::V6(a)) => eui64_mac(*a.ip()),
                _ => None,
            }
        });
        let ctx = Context { subnet, mac };
        let duid = client_id.map(hex).unwrap_or_default();
        let counter = match msg.kind {
            SOLICIT => &self.stats.solicits,
            REQUEST => &self.stats.requests,
            CONFIRM => &self.stats.confirms,
            RENEW => &self.stats.renews,
            REBIND => &self.stats.rebinds,
            RELEASE => &self.stats.releases,
            DECLINE => &self.stats.declines,
            _ => &self.stats.information_requests,
        };
        bump(counter);
        let rapid = msg.kind == SOLICIT && find(&msg.opts, OPT_RAPID_COMMIT).is_some();
        let kind = if msg.kind == SOLICIT && !rapid { ADVERTISE } else { REPLY };
        let mut w = Writer::message(kind, msg.xid);
        w.opt(OPT_SERVERID, &self.duid);
        if let Some(c) = client_id {
            w.opt(OPT_CLIENTID, c);
        }
        match msg.kind {
            SOLICIT | REQUEST | RENEW | REBIND => {
                if rapid {
                    w.opt(OPT_RAPID_COMMIT, &[]);
                }
                let bind = msg.kind != SOLICIT || rapid;
                for ia in &ias {
                    self.answer_ia(&mut w, ia, &duid, &ctx, msg.kind, bind, now);
                }
                // Prefix delegation is not offered: say so per IA_PD rather
                // than leave the client waiting for one.
                for o in msg.opts.iter().filter(|o| o.code == OPT_IA_PD && o.data.len() >= 4) {
                    let at = w.begin(OPT_IA_PD);
                    w.raw(&o.data[..4]).raw(&[0; 8]);
                    w.status(6, "prefix delegation is not served");
                    w.end(at);
                }
                if ias.is_empty() && msg.kind == SOLICIT {
                    w.status(STATUS_NO_ADDRS_AVAIL, "only IA_NA addresses are served");
                }
            }
            RELEASE => {
                for ia in &ias {
                    let key = IaKey { duid: duid.clone(), iaid: ia.iaid };
                    let held = self.leases.get(&key).is_some_and(|l| ia.addrs.iter().any(|a| a.ip == l.ip));
                    if held {
                        if let Some(l) = self.leases.remove(&key) {
                            tracing::info!(ip = %l.ip, mac = ?l.mac, "DHCPv6 lease released");
                        }
                    } else {
                        w.ia_na(ia.iaid, 0, 0, &[], Some((STATUS_NO_BINDING, "no binding")));
                    }
                }
                self.persist();
                w.status(STATUS_SUCCESS, "released");
            }
            DECLINE => {
                // Only an address the IA holds can be declined: otherwise
                // any client could take the whole range out of use.
                for ia in &ias {
                    let key = IaKey { duid: duid.clone(), iaid: ia.iaid };
                    let held = self.leases.get(&key).map(|l| l.ip).filter(|ip| ia.addrs.iter().any(|a| a.ip == *ip));
                    match held {
                        Some(ip) => {
                            tracing::warn!(%ip, "DHCPv6 DECLINE: address in use by another host");
                            self.leases.decline(ip, now + u64::from(self.cfg.decline_hold));
                            self.leases.remove(&key);
                        }
                        None => w.ia_na(ia.iaid, 0, 0, &[], Some((STATUS_NO_BINDING, "no binding"))),
                    }
                }
                self.persist();
                w.status(STATUS_SUCCESS, "declined");
            }
            CONFIRM => {
                // RFC 8415 §18.3.3: no addresses, no reply.
                let addrs: Vec<Ipv6Addr> = ias.iter().flat_map(|ia| ia.addrs.iter().map(|a| a.ip)).collect();
                if addrs.is_empty() {
                    return Ok(None);
                }
                let cidr = self.cfg.subnets[subnet].cidr;
                if addrs.iter().all(|a| cidr.contains(*a)) {
                    w.status(STATUS_SUCCESS, "on link");
                } else {
                    w.status(STATUS_NOT_ON_LINK, "not on this link");
                }
            }
            _ => {}
        }
        if msg.kind != RELEASE && msg.kind != DECLINE {
            self.configuration_options(&mut w, msg, &ctx);
        }
        Ok(Some(w.buf))
    }

    /// Whether the identity `key` (with `mac`) may have `ip` from the
    /// dynamic range of `s`.
    fn dynamic_ok(&self, key: &IaKey, mac: Option<MacAddr>, ip: Ipv6Addr, s: &Subnet6Config, now: u64) -> bool {
        let n = u128::from(ip);
        n >= u128::from(s.range_start)
            && n <= u128::from(s.range_end)
            && ip != s.server_address
            && self.reserved_by_ip.get(&ip).is_none_or(|m| Some(*m) == mac)
            && self.leases.holder(ip, now).is_none_or(|l| l.key == *key)
            && !self.leases.is_declined(ip, now)
    }

    /// The address for one IA: the MAC's reservation, the IA's current
    /// binding, an address the client asked for, or the next free one.
    fn choose(&mut self, key: &IaKey, ia: &IaNa, ctx: &Context, now: u64) -> Option<Ipv6Addr> {
        let s = &self.cfg.subnets[ctx.subnet];
        if let Some(r) = ctx.mac.and_then(|m| self.reserved_by_mac.get(&m)).map(|i| &self.cfg.reservations[*i]) {
            if s.cidr.contains(r.ip) {
                // Another IA of the same client may already hold it (a
                // client with two IA_NAs gets the reservation once); a
                // lease from an earlier DUID of this MAC is superseded.
                match self.leases.holder(r.ip, now) {
                    Some(l) if l.key.duid == key.duid && l.key != *key => {}
                    _ => return Some(r.ip),
                }
            }
        }
        if let Some(l) = self.leases.get(key) {
            if s.cidr.contains(l.ip) && self.dynamic_ok(key, ctx.mac, l.ip, s, now) {
                return Some(l.ip);
            }
        }
        if let Some(a) = ia.addrs.iter().find(|a| self.dynamic_ok(key, ctx.mac, a.ip, s, now)) {
            return Some(a.ip);
        }
        let (start, end) = (u128::from(s.range_start), u128::from(s.range_end));
        let size = end - start;
        let mut off = self.cursor[ctx.subnet].min(size);
        for _ in 0..u128::from(MAX_PROBES).min(size.saturating_add(1)) {
            let ip = Ipv6Addr::from(start + off);
            off = if off >= size { 0 } else { off + 1 };
            if self.dynamic_ok(key, ctx.mac, ip, s, now) {
                self.cursor[ctx.subnet] = off;
                return Some(ip);
            }
        }
        None
    }

    #[allow(clippy::too_many_arguments)]
    fn answer_ia(&mut self, w: &mut Writer, ia: &IaNa, duid: &str, ctx: &Context, kind: u8, bind: bool, now: u64) {
        let key = IaKey { duid: duid.to_string(), iaid: ia.iaid };
        let lt = self.cfg.subnets[ctx.subnet].lease_time;
        // A renewing client is told, with zero lifetimes, to drop addresses
        // it holds but may no longer use (RFC 8415 §18.3.4, §18.3.5); other
        // messages list only what the server assigns.
        let renewing = kind == RENEW || kind == REBIND;
        let dropped = |keep: Option<Ipv6Addr>| -> Vec<IaAddr> {
            ia.addrs
                .iter()
                .filter(|a| renewing && Some(a.ip) != keep)
                .map(|a| IaAddr { ip: a.ip, preferred: 0, valid: 0 })
                .collect()
        };
        let Some(ip) = self.choose(&key, ia, ctx, now) else {
            bump(&self.stats.exhausted);
            tracing::warn!(subnet = %self.cfg.subnets[ctx.subnet].cidr, "no free address in the DHCPv6 dynamic range");
            w.ia_na(ia.iaid, 0, 0, &dropped(None), Some((STATUS_NO_ADDRS_AVAIL, "no addresses available")));
            return;
        };
        let hostname =
            ctx.mac.and_then(|m| self.reserved_by_mac.get(&m)).and_then(|i| self.cfg.reservations[*i].hostname.clone());
        let already =
            self.leases.get(&key).is_some_and(|l| l.ip == ip && l.state == LeaseState::Bound && l.expires > now);
        if bind {
            self.leases.insert(Lease6 {
                key: key.clone(),
                mac: ctx.mac,
                ip,
                hostname,
                expires: now + u64::from(lt),
                state: LeaseState::Bound,
            });
            self.persist();
            tracing::info!(%ip, mac = ?ctx.mac, duid = %key.duid, iaid = key.iaid, msg_type = kind, "DHCPv6 lease bound");
        } else if !already {
            self.leases.insert(Lease6 {
                key: key.clone(),
                mac: ctx.mac,
                ip,
                hostname,
                expires: now + u64::from(self.cfg.offer_hold),
                state: LeaseState::Offered,
            });
        }
        let mut addrs = vec![IaAddr { ip, preferred: lt, valid: lt }];
        addrs.extend(dropped(Some(ip)));
        w.ia_na(ia.iaid, lt / 2, lt / 8 * 7, &addrs, None);
    }

    /// DNS servers, search domain and, for network-boot clients, the boot
    /// file URL.
    fn configuration_options(&self, w: &mut Writer, msg: &Message<'_>, ctx: &Context) {
        let s = &self.cfg.subnets[ctx.subnet];
        if !s.dns_servers.is_empty() {
            let v: Vec<u8> = s.dns_servers.iter().flat_map(|a| a.octets()).collect();
            w.opt(OPT_DNS_SERVERS, &v);
        }
        if let Some(d) = &s.domain {
            w.opt(OPT_DOMAIN_LIST, &domain_list(&[d.as_str()]));
        }
        if let Some((url, http)) = self.boot_url(msg, ctx) {
            w.opt(OPT_BOOTFILE_URL, url.as_bytes());
            if http {
                // UEFI HTTP boot clients only accept an offer naming the
                // HTTPClient vendor class (UEFI 2.x §24.7.2).
                let mut v = UEFI_ENTERPRISE.to_be_bytes().to_vec();
                v.extend_from_slice(&(b"HTTPClient".len() as u16).to_be_bytes());
                v.extend_from_slice(b"HTTPClient");
                w.opt(OPT_VENDOR_CLASS, &v);
            }
        }
    }

    /// MAAS's choice of loader by client architecture (option 61), user
    /// class `iPXE` first; the bool is whether this is HTTP boot.
    fn boot_url(&self, msg: &Message<'_>, ctx: &Context) -> Option<(String, bool)> {
        let s = &self.cfg.subnets[ctx.subnet];
        let server = format!("[{}]", s.server_address);
        let b = &self.cfg.boot;
        let fill = |t: &str| {
            let mac = ctx.mac.map(|m| m.to_string()).unwrap_or_default();
            t.replace("{server}", &server).replace("{mac}", &mac)
        };
        let classes = |code: u16, skip: usize| -> Vec<&[u8]> {
            find(&msg.opts, code).and_then(|d| d.get(skip..)).map(length_prefixed).unwrap_or_default()
        };
        if classes(OPT_USER_CLASS, 0).iter().any(|c| *c == b"iPXE") {
            return Some((fill(&b.ipxe_script_url), false));
        }
        let arch =
            find(&msg.opts, OPT_CLIENT_ARCH_TYPE).and_then(|d| Some(u16::from_be_bytes([*d.first()?, *d.get(1)?])));
        let http_vendor = classes(OPT_VENDOR_CLASS, 4).iter().any(|c| c.starts_with(b"HTTPClient"));
        match arch {
            Some(16) => Some((fill(&b.uefi_x64_http), true)),
            Some(19) => Some((fill(&b.uefi_arm64_http), true)),
            Some(7) | Some(9) => Some((fill(&b.uefi_x64_tftp), false)),
            Some(11) => Some((fill(&b.uefi_arm64_tftp), false)),
            None if http_vendor => Some((fill(&b.uefi_x64_http), true)),
            _ => None,
        }
    }
}

/// Splits `len(2) data` items (user and vendor classes); stops at the
/// first item that does not fit.
fn length_prefixed(mut d: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while d.len() >= 2 {
        let n = usize::from(u16::from_be_bytes([d[0], d[1]]));
        let Some(item) = d.get(2..2 + n) else { break };
        out.push(item);
        d = &d[2 + n..];
    }
    out
}

#[cfg(test)]
mod tests;
