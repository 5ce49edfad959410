//! The DHCPv4 protocol engine ([`DhcpServer::handle`], pure and synchronous so
//! it can be tested and benchmarked without sockets) and its socket loop
//! ([`DhcpServer::run`]).

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dhcproto::v4::{
    relay::RelayAgentInformation, DhcpOption, DhcpOptions, Flags, HType, Message, MessageType, Opcode, OptionCode,
    UnknownOption,
};
use dhcproto::{Decodable, Decoder, Encodable};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use ironpool_common::dhcp::{DhcpConfig, LeaseEvent, LeaseEventKind, MacAddr, SubnetConfig};

use super::leases::{self, Lease, LeaseState, Leases};
use super::{DhcpError, DhcpStats};

const SERVER_PORT: u16 = 67;
const CLIENT_PORT: u16 = 68;

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Receive buffer asked for on the server's socket.
pub const RECV_BUFFER: usize = 4 << 20;

/// Opens the server's UDP socket: address reuse, broadcast allowed, and
/// bound to `interface` (SO_BINDTODEVICE) when given, so a server on
/// 0.0.0.0:67 only sees that interface's broadcasts.
pub fn bind_socket(addr: SocketAddr, interface: Option<&str>) -> io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_broadcast(true)?;
    // A boot storm's DISCOVERs arrive together: the default buffer (about
    // a hundred datagrams on loopback) drops the rest, and each client then
    // waits seconds to retransmit. The kernel caps this at rmem_max.
    s.set_recv_buffer_size(RECV_BUFFER)?;
    if let Some(dev) = interface {
        s.bind_device(Some(dev.as_bytes()))?;
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    Ok(s.into())
}

/// The server: configuration, lease table, counters and event channel.
pub struct DhcpServer {
    cfg: DhcpConfig,
    reserved_by_mac: HashMap<MacAddr, usize>,
    reserved_by_ip: HashMap<Ipv4Addr, MacAddr>,
    leases: Leases,
    /// Next address to try per subnet, so allocation does not rescan the
    /// range from the start for every DISCOVER.
    cursor: Vec<u32>,
    stats: Arc<DhcpStats>,
    events: mpsc::Sender<LeaseEvent>,
    persist: Option<leases::Persister<Lease>>,
    lease_file: Option<PathBuf>,
}

/// How the reply leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Destination(pub SocketAddr);

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl DhcpServer {
    /// Validates the config and loads persisted leases. Lease events go to
    /// the returned receiver (capacity `event_capacity`; when it is full,
    /// events are dropped and counted rather than stalling DHCP).
    pub fn new(cfg: DhcpConfig, event_capacity: usize) -> Result<(DhcpServer, mpsc::Receiver<LeaseEvent>), DhcpError> {
        cfg.validate()?;
        let leases = match &cfg.lease_file {
            Some(p) => Leases::load(p)?,
            None => Leases::default(),
        };
        if !leases.is_empty() {
            tracing::info!(count = leases.len(), "DHCP leases reloaded");
        }
        let (tx, rx) = mpsc::channel(event_capacity.max(1));
        let reserved_by_mac = cfg.reservations.iter().enumerate().map(|(i, r)| (r.mac, i)).collect();
        let reserved_by_ip = cfg.reservations.iter().map(|r| (r.ip, r.mac)).collect();
        let cursor = cfg.subnets.iter().map(|s| u32::from(s.range_start)).collect();
        let lease_file = cfg.lease_file.clone();
        Ok((
            DhcpServer {
                cfg,
                reserved_by_mac,
                reserved_by_ip,
                leases,
                cursor,
                stats: Arc::default(),
                events: tx,
                persist: None,
                lease_file,
            },
            rx,
        ))
    }

    pub fn stats(&self) -> Arc<DhcpStats> {
        self.stats.clone()
    }

    /// Swaps in a new configuration (subnets, reservations, boot settings)
    /// without a restart, as MAAS does over OMAPI. Leases are kept; one whose
    /// address no longer fits is not renewed (the client gets a NAK and
    /// starts over). The lease file location does not change.
    pub fn reconfigure(&mut self, mut cfg: DhcpConfig) -> Result<(), DhcpError> {
        cfg.validate()?;
        cfg.lease_file = self.cfg.lease_file.clone();
        self.reserved_by_mac = cfg.reservations.iter().enumerate().map(|(i, r)| (r.mac, i)).collect();
        self.reserved_by_ip = cfg.reservations.iter().map(|r| (r.ip, r.mac)).collect();
        self.cursor = cfg.subnets.iter().map(|s| u32::from(s.range_start)).collect();
        tracing::info!(
            subnets = cfg.subnets.len(),
            reservations = cfg.reservations.len(),
            "DHCP configuration updated"
        );
        self.cfg = cfg;
        Ok(())
    }

    pub fn lease(&self, mac: &MacAddr) -> Option<&Lease> {
        self.leases.get(mac)
    }

    /// Serves on `socket` until it fails. Lease-file writes happen on a
    /// separate task (latest table wins), so a slow disk never delays a
    /// reply.
    pub async fn run(self, socket: UdpSocket) -> io::Result<()> {
        // A sender that is dropped at once: no updates, ever.
        let (_, updates) = mpsc::channel(1);
        self.run_with_updates(socket, updates).await
    }

    /// [`run`](Self::run), applying each configuration received on
    /// `updates` between packets. An invalid configuration is logged and
    /// the current one kept.
    pub async fn run_with_updates(
        mut self,
        socket: UdpSocket,
        mut updates: mpsc::Receiver<DhcpConfig>,
    ) -> io::Result<()> {
        if let Some(path) = self.lease_file.clone() {
            self.persist = Some(leases::Persister::spawn(path, self.leases.bound(), "DHCP"));
        }
        tracing::info!(local = %socket.local_addr()?, subnets = self.cfg.subnets.len(), "DHCP server listening");
        let mut buf = vec![0u8; 4096];
        let mut sweep = tokio::time::interval(Duration::from_secs(15));
        let mut flush = tokio::time::interval(leases::PERSIST_EVERY);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                r = socket.recv_from(&mut buf) => {
                    let (n, src) = match r {
                        Ok(v) => v,
                        Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionRefused | io::ErrorKind::Interrupted) => continue,
                        Err(e) => return Err(e),
                    };
                    if let Some((reply, Destination(dst))) = self.handle(&buf[..n], src, now_secs()).filter(|(r, _)| !r.is_empty()) {
                        if let Err(e) = socket.send_to(&reply, dst).await {
                            bump(&self.stats.send_errors);
                            tracing::debug!(%dst, error = %e, "cannot send DHCP reply");
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
                        tracing::error!(error = %e, "DHCP configuration refused; keeping the current one");
                    }
                }
            }
        }
    }

    /// Ends leases whose time is up, reporting them.
    pub fn expire(&mut self, now: u64) {
        let gone = self.leases.expire(now);
        if gone.is_empty() {
            return;
        }
        for l in gone {
            self.event(LeaseEventKind::Expired, l.mac, l.ip, l.hostname.clone(), 0);
        }
        self.persist();
    }

    fn event(&self, kind: LeaseEventKind, mac: MacAddr, ip: Ipv4Addr, hostname: Option<String>, lease_time: u32) {
        tracing::info!(kind = ?kind, %mac, %ip, "DHCP lease event");
        if self.events.try_send(LeaseEvent { kind, mac, ip, hostname, lease_time }).is_err() {
            bump(&self.stats.events_dropped);
        }
    }

    /// Marks the table for the lease writer ([`leases::Persister`]).
    fn persist(&mut self) {
        if let Some(p) = self.persist.as_mut() {
            p.mark();
        } else if let Some(path) = &self.lease_file {
            // Not running the socket loop (tests, benchmarks): write inline.
            if let Err(e) = leases::save(path, &self.leases.bound()) {
                tracing::error!(error = %e, "cannot persist DHCP leases");
            }
        }
    }

    /// Handles one datagram from `src`; returns the reply and where to send
    /// it. Never panics on client input.
    pub fn handle(&mut self, data: &[u8], src: SocketAddr, now: u64) -> Option<(Vec<u8>, Destination)> {
        bump(&self.stats.received);
        let msg = match Message::decode(&mut Decoder::new(data)) {
            Ok(m) => m,
            Err(e) => {
                bump(&self.stats.malformed);
                tracing::debug!(%src, len = data.len(), error = %e, "malformed DHCP packet dropped");
                return None;
            }
        };
        if msg.opcode() != Opcode::BootRequest || msg.htype() != HType::Eth || msg.hlen() != 6 {
            bump(&self.stats.ignored);
            return None;
        }
        let Some(kind) = msg.opts().msg_type() else {
            // Plain BOOTP is not served.
            bump(&self.stats.malformed);
            return None;
        };
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&msg.chaddr()[..6]);
        let mac = MacAddr(mac);
        let Some(subnet) = self.select_subnet(&msg) else {
            bump(&self.stats.ignored);
            tracing::debug!(%mac, giaddr = %msg.giaddr(), "DHCP request from a subnet we do not serve");
            return None;
        };
        match kind {
            MessageType::Discover => {
                bump(&self.stats.discovers);
                self.discover(&msg, mac, subnet, src, now)
            }
            MessageType::Request => {
                bump(&self.stats.requests);
                self.request(&msg, mac, subnet, src, now)
            }
            MessageType::Release => {
                bump(&self.stats.releases);
                self.release(&msg, mac);
                None
            }
            MessageType::Decline => {
                bump(&self.stats.declines);
                self.decline(&msg, mac, now);
                None
            }
            MessageType::Inform => {
                bump(&self.stats.informs);
                self.inform(&msg, subnet, src)
            }
            _ => {
                bump(&self.stats.ignored);
                None
            }
        }
    }

    /// Relayed: the subnet holding giaddr. Renewing: the one holding ciaddr.
    /// Otherwise the subnet of our own address (directly attached).
    fn select_subnet(&self, msg: &Message) -> Option<usize> {
        let find = |ip: Ipv4Addr| self.cfg.subnets.iter().position(|s| s.cidr.contains(ip));
        if !msg.giaddr().is_unspecified() {
            return find(msg.giaddr());
        }
        if !msg.ciaddr().is_unspecified() {
            if let Some(i) = find(msg.ciaddr()) {
                return Some(i);
            }
        }
        find(self.cfg.server_address).or(if self.cfg.subnets.len() == 1 { Some(0) } else { None })
    }

    fn reservation_ip(&self, mac: &MacAddr, subnet: &SubnetConfig) -> Option<Ipv4Addr> {
        let r = &self.cfg.reservations[*self.reserved_by_mac.get(mac)?];
        subnet.cidr.contains(r.ip).then_some(r.ip)
    }

    /// Whether `mac` may have `ip` from the dynamic range.
    fn dynamic_ok(&self, mac: MacAddr, ip: Ipv4Addr, s: &SubnetConfig, now: u64) -> bool {
        let n = u32::from(ip);
        n >= u32::from(s.range_start)
            && n <= u32::from(s.range_end)
            && ip != self.cfg.server_address
            && Some(ip) != s.router
            && self.reserved_by_ip.get(&ip).is_none_or(|m| *m == mac)
            && self.leases.holder(ip, now).is_none_or(|m| m == mac)
            && !self.leases.is_declined(ip, now)
    }

    /// The address to offer: reservation, current lease, requested, or the
    /// next free one in the range.
    fn choose(&mut self, msg: &Message, mac: MacAddr, si: usize, now: u64) -> Option<Ipv4Addr> {
        let s = &self.cfg.subnets[si];
        if let Some(ip) = self.reservation_ip(&mac, s) {
            return Some(ip);
        }
        if let Some(l) = self.leases.get(&mac) {
            if s.cidr.contains(l.ip) && self.dynamic_ok(mac, l.ip, s, now) {
                return Some(l.ip);
            }
        }
        if let Some(DhcpOption::RequestedIpAddress(ip)) = msg.opts().get(OptionCode::RequestedIpAddress) {
            if self.dynamic_ok(mac, *ip, s, now) {
                return Some(*ip);
            }
        }
        let (start, end) = (u32::from(s.range_start), u32::from(s.range_end));
        let size = u64::from(end - start) + 1;
        let mut n = self.cursor[si].clamp(start, end);
        for _ in 0..size {
            let ip = Ipv4Addr::from(n);
            n = if n >= end { start } else { n + 1 };
            if self.dynamic_ok(mac, ip, s, now) {
                self.cursor[si] = n;
                return Some(ip);
            }
        }
        None
    }

    fn discover(
        &mut self,
        msg: &Message,
        mac: MacAddr,
        si: usize,
        src: SocketAddr,
        now: u64,
    ) -> Option<(Vec<u8>, Destination)> {
        let Some(ip) = self.choose(msg, mac, si, now) else {
            bump(&self.stats.exhausted);
            tracing::warn!(%mac, subnet = %self.cfg.subnets[si].cidr, "no free address in the dynamic range");
            return None;
        };
        // Hold the address for the REQUEST, unless the client already has it
        // bound (a reboot): then its lease stays as it is.
        let bound =
            self.leases.get(&mac).is_some_and(|l| l.ip == ip && l.state == LeaseState::Bound && l.expires > now);
        if !bound {
            let hostname = self.hostname(mac, msg);
            self.leases.insert(Lease {
                mac,
                ip,
                hostname,
                expires: now + u64::from(self.cfg.offer_hold),
                state: LeaseState::Offered,
            });
        }
        let reply = self.reply(msg, MessageType::Offer, mac, si, Some(ip));
        bump(&self.stats.offers);
        Some((reply, self.destination(msg, src, false)))
    }

    fn request(
        &mut self,
        msg: &Message,
        mac: MacAddr,
        si: usize,
        src: SocketAddr,
        now: u64,
    ) -> Option<(Vec<u8>, Destination)> {
        let server_id = match msg.opts().get(OptionCode::ServerIdentifier) {
            Some(DhcpOption::ServerIdentifier(ip)) => Some(*ip),
            _ => None,
        };
        if let Some(id) = server_id {
            if id != self.cfg.server_address {
                // The client chose another server's offer: free ours.
                if self.leases.get(&mac).is_some_and(|l| l.state == LeaseState::Offered) {
                    self.leases.remove(&mac);
                }
                bump(&self.stats.ignored);
                return None;
            }
        }
        let requested = match msg.opts().get(OptionCode::RequestedIpAddress) {
            Some(DhcpOption::RequestedIpAddress(ip)) => Some(*ip),
            _ => (!msg.ciaddr().is_unspecified()).then_some(msg.ciaddr()),
        };
        let Some(ip) = requested else {
            bump(&self.stats.ignored);
            return None;
        };
        let s = &self.cfg.subnets[si];
        let allowed = s.cidr.contains(ip)
            && match self.reservation_ip(&mac, s) {
                Some(reserved) => reserved == ip,
                None => self.dynamic_ok(mac, ip, s, now),
            };
        if !allowed {
            bump(&self.stats.naks);
            tracing::info!(%mac, %ip, "DHCP NAK: address not available to this client");
            let reply = self.reply(msg, MessageType::Nak, mac, si, None);
            return Some((reply, self.destination(msg, src, true)));
        }
        let lease_time = self.lease_time(msg, si);
        let hostname = self.hostname(mac, msg);
        self.leases.insert(Lease {
            mac,
            ip,
            hostname: hostname.clone(),
            expires: now + u64::from(lease_time),
            state: LeaseState::Bound,
        });
        self.persist();
        self.event(LeaseEventKind::Bound, mac, ip, hostname, lease_time);
        let reply = self.reply(msg, MessageType::Ack, mac, si, Some(ip));
        bump(&self.stats.acks);
        Some((reply, self.destination(msg, src, false)))
    }

    fn release(&mut self, msg: &Message, mac: MacAddr) {
        if let Some(l) = self.leases.get(&mac) {
            if l.ip == msg.ciaddr() {
                let l = l.clone();
                self.leases.remove(&mac);
                self.persist();
                self.event(LeaseEventKind::Released, mac, l.ip, l.hostname, 0);
            }
        }
    }

    fn decline(&mut self, msg: &Message, mac: MacAddr, now: u64) {
        let Some(DhcpOption::RequestedIpAddress(ip)) = msg.opts().get(OptionCode::RequestedIpAddress) else {
            return;
        };
        let ip = *ip;
        // Another host answers ARP for this address: keep it out of use.
        tracing::warn!(%mac, %ip, "DHCP DECLINE: address in use by another host");
        self.leases.decline(ip, now + u64::from(self.cfg.decline_hold));
        if self.leases.get(&mac).is_some_and(|l| l.ip == ip) {
            self.leases.remove(&mac);
            self.persist();
        }
        self.event(LeaseEventKind::Declined, mac, ip, None, 0);
    }

    fn inform(&mut self, msg: &Message, si: usize, src: SocketAddr) -> Option<(Vec<u8>, Destination)> {
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&msg.chaddr()[..6]);
        let reply = self.reply(msg, MessageType::Ack, MacAddr(mac), si, None);
        bump(&self.stats.acks);
        Some((reply, self.destination(msg, src, false)))
    }

    fn lease_time(&self, msg: &Message, si: usize) -> u32 {
        let base = self.cfg.subnets[si].lease_time;
        match (self.cfg.pxe_lease_time, msg.opts().get(OptionCode::ClassIdentifier)) {
            (Some(pxe), Some(DhcpOption::ClassIdentifier(v))) if v.starts_with(b"PXEClient") => pxe.min(base),
            _ => base,
        }
    }

    fn hostname(&self, mac: MacAddr, msg: &Message) -> Option<String> {
        if let Some(i) = self.reserved_by_mac.get(&mac) {
            if let Some(h) = &self.cfg.reservations[*i].hostname {
                return Some(h.clone());
            }
        }
        match msg.opts().get(OptionCode::Hostname) {
            Some(DhcpOption::Hostname(h)) if !h.is_empty() => Some(h.clone()),
            _ => None,
        }
    }

    /// RFC 2131 §4.1: relayed replies go to the relay (port 67, or the port
    /// it sent from when it is the sender, RFC 8357); renewing clients with
    /// an address get unicast; everything else is broadcast, since a client
    /// without an address cannot receive unicast without an ARP entry.
    fn destination(&self, msg: &Message, src: SocketAddr, nak: bool) -> Destination {
        let giaddr = msg.giaddr();
        if !giaddr.is_unspecified() {
            let port = if src.ip() == giaddr { src.port() } else { SERVER_PORT };
            return Destination(SocketAddrV4::new(giaddr, port).into());
        }
        if !nak && !msg.ciaddr().is_unspecified() {
            return Destination(SocketAddrV4::new(msg.ciaddr(), CLIENT_PORT).into());
        }
        Destination(SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT).into())
    }

    /// The boot file for this client, if it is a network-boot client.
    fn boot_file(&self, msg: &Message, mac: MacAddr) -> Option<(String, bool)> {
        let opts = msg.opts();
        let server = self.cfg.server_address.to_string();
        if is_ipxe(msg) {
            let url = self.cfg.ipxe_script_url.replace("{mac}", &mac.to_string()).replace("{server}", &server);
            return Some((url, false));
        }
        let arch = match opts.get(OptionCode::ClientSystemArchitecture) {
            Some(DhcpOption::ClientSystemArchitecture(a)) => Some(u16::from(*a)),
            _ => None,
        };
        let pxe_vendor = matches!(opts.get(OptionCode::ClassIdentifier), Some(DhcpOption::ClassIdentifier(v)) if v.starts_with(b"PXEClient"));
        let b = &self.cfg.boot_files;
        let file = match arch {
            Some(7) | Some(9) => b.uefi_x64.clone(),
            Some(11) => b.uefi_arm64.clone(),
            Some(16) => return Some((b.uefi_x64_http.replace("{server}", &server), true)),
            Some(19) => return Some((b.uefi_arm64_http.replace("{server}", &server), true)),
            Some(_) => b.bios.clone(),
            None if pxe_vendor => b.bios.clone(),
            None => return None,
        };
        Some((file, false))
    }

    fn reply(&self, msg: &Message, kind: MessageType, mac: MacAddr, si: usize, yiaddr: Option<Ipv4Addr>) -> Vec<u8> {
        let s = &self.cfg.subnets[si];
        let mut r = Message::new_with_id(
            msg.xid(),
            if kind == MessageType::Nak { Ipv4Addr::UNSPECIFIED } else { msg.ciaddr() },
            yiaddr.unwrap_or(Ipv4Addr::UNSPECIFIED),
            if kind == MessageType::Nak {
                Ipv4Addr::UNSPECIFIED
            } else {
                s.next_server.unwrap_or(self.cfg.server_address)
            },
            msg.giaddr(),
            &mac.0,
        );
        r.set_opcode(Opcode::BootReply).set_htype(HType::Eth).set_flags(if msg.flags().broadcast() {
            Flags::default().set_broadcast()
        } else {
            Flags::default()
        });
        let mut o = DhcpOptions::new();
        o.insert(DhcpOption::MessageType(kind));
        o.insert(DhcpOption::ServerIdentifier(self.cfg.server_address));
        if kind != MessageType::Nak {
            if yiaddr.is_some() {
                let lt = self.lease_time(msg, si);
                o.insert(DhcpOption::AddressLeaseTime(lt));
                o.insert(DhcpOption::Renewal(lt / 2));
                o.insert(DhcpOption::Rebinding(lt / 8 * 7));
            }
            o.insert(DhcpOption::SubnetMask(s.cidr.mask()));
            o.insert(DhcpOption::BroadcastAddr(s.cidr.broadcast()));
            if let Some(router) = s.router {
                o.insert(DhcpOption::Router(vec![router]));
            }
            if !s.dns_servers.is_empty() {
                o.insert(DhcpOption::DomainNameServer(s.dns_servers.clone()));
            }
            if let Some(d) = &s.domain {
                o.insert(DhcpOption::DomainName(d.clone()));
            }
            if let Some(h) = self.hostname(mac, msg) {
                o.insert(DhcpOption::Hostname(h));
            }
            if let Some((file, http)) = self.boot_file(msg, mac) {
                // Both the BOOTP field and option 67: firmware reads either.
                r.set_fname_str(&file);
                o.insert(DhcpOption::BootfileName(file.into_bytes()));
                if http {
                    o.insert(DhcpOption::ClassIdentifier(b"HTTPClient".to_vec()));
                }
            }
            if is_ipxe(msg) {
                // iPXE's encapsulated options (175), `no-pxedhcp` (176) = 1:
                // do not wait 3 s for a ProxyDHCP offer that never comes.
                o.insert(DhcpOption::Unknown(UnknownOption::new(OptionCode::from(175u8), vec![176, 1, 1])));
            }
            if let (Some(prefix), Some(DhcpOption::ClientSystemArchitecture(a))) =
                (&self.cfg.boot_files.pxelinux_path_prefix, msg.opts().get(OptionCode::ClientSystemArchitecture))
            {
                if u16::from(*a) == 0 {
                    let p = prefix.replace("{server}", &self.cfg.server_address.to_string());
                    o.insert(DhcpOption::Unknown(UnknownOption::new(OptionCode::from(210u8), p.into_bytes())));
                }
            }
            // Administrators' snippets last, so they replace what the server
            // set itself (DNS servers, domain, ...): dhcproto's option map
            // orders codes by number, a raw option and the typed one of the
            // same code are one key, so each code goes on the wire once.
            for opt in self.cfg.snippet_options.for_client(s.cidr, mac, yiaddr) {
                o.insert(DhcpOption::Unknown(UnknownOption::new(OptionCode::from(opt.code), opt.data.clone())));
            }
        }
        // Relays need their option 82 back to route the reply.
        if let Some(DhcpOption::RelayAgentInformation(info)) = msg.opts().get(OptionCode::RelayAgentInformation) {
            let info: RelayAgentInformation = info.clone();
            o.insert(DhcpOption::RelayAgentInformation(info));
        }
        r.set_opts(o);
        // Encoding our own message cannot fail for these option types; an
        // empty reply would simply be dropped by the client.
        r.to_vec().unwrap_or_default()
    }
}

/// iPXE identifies itself with user class "iPXE" (raw; RFC 3004 clients
/// length-prefix it).
fn is_ipxe(msg: &Message) -> bool {
    matches!(msg.opts().get(OptionCode::UserClass),
        Some(DhcpOption::UserClass(uc)) if uc.as_slice() == b"iPXE" || uc.get(1..) == Some(b"iPXE".as_slice()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dhcproto::v4::Architecture;
    use ironpool_common::dhcp::{Cidr, Reservation};

    const NOW: u64 = 1_000_000;

    fn config() -> DhcpConfig {
        let subnet = |cidr: &str, start: &str, end: &str| SubnetConfig {
            cidr: cidr.parse().unwrap(),
            router: Some(Ipv4Addr::from(u32::from(cidr.parse::<Cidr>().unwrap().network) + 1)),
            dns_servers: vec!["198.51.100.1".parse().unwrap()],
            domain: Some("maas".into()),
            range_start: start.parse().unwrap(),
            range_end: end.parse().unwrap(),
            lease_time: 600,
            next_server: None,
        };
        let mut c = DhcpConfig::new(
            "198.51.100.1".parse().unwrap(),
            vec![
                subnet("198.51.100.0/24", "198.51.100.50", "198.51.100.52"),
                subnet("203.0.113.0/24", "203.0.113.100", "203.0.113.200"),
            ],
        );
        c.reservations.push(Reservation {
            mac: "52:54:00:aa:bb:01".parse().unwrap(),
            ip: "198.51.100.20".parse().unwrap(),
            hostname: Some("known".into()),
        });
        c.pxe_lease_time = Some(30);
        c
    }

    fn mac(last: u8) -> [u8; 6] {
        [0x52, 0x54, 0, 0xaa, 0xbb, last]
    }

    fn packet(kind: MessageType, m: [u8; 6], extra: &[DhcpOption]) -> Message {
        let mut msg = Message::new_with_id(
            7,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            &m,
        );
        msg.opts_mut().insert(DhcpOption::MessageType(kind));
        for o in extra {
            msg.opts_mut().insert(o.clone());
        }
        msg
    }

    fn client() -> SocketAddr {
        "0.0.0.0:68".parse().unwrap()
    }

    fn send(s: &mut DhcpServer, msg: &Message) -> Option<(Message, SocketAddr)> {
        let (bytes, Destination(dst)) = s.handle(&msg.to_vec().unwrap(), client(), NOW)?;
        Some((Message::decode(&mut Decoder::new(&bytes)).unwrap(), dst))
    }

    fn fname(m: &Message) -> String {
        String::from_utf8_lossy(m.fname().unwrap_or_default()).trim_end_matches('\0').to_string()
    }

    #[test]
    fn known_mac_gets_its_reservation_unknown_gets_the_range() {
        let (mut s, mut events) = DhcpServer::new(config(), 16).unwrap();
        let (offer, dst) = send(&mut s, &packet(MessageType::Discover, mac(1), &[])).unwrap();
        assert_eq!(offer.opts().msg_type(), Some(MessageType::Offer));
        assert_eq!(offer.yiaddr(), "198.51.100.20".parse::<Ipv4Addr>().unwrap());
        assert_eq!(dst, "255.255.255.255:68".parse().unwrap());
        assert_eq!(offer.opts().get(OptionCode::Hostname), Some(&DhcpOption::Hostname("known".into())));
        let (offer2, _) = send(&mut s, &packet(MessageType::Discover, mac(2), &[])).unwrap();
        assert_eq!(offer2.yiaddr(), "198.51.100.50".parse::<Ipv4Addr>().unwrap());
        // A second unknown machine gets a different address while the first
        // offer is held.
        let (offer3, _) = send(&mut s, &packet(MessageType::Discover, mac(3), &[])).unwrap();
        assert_eq!(offer3.yiaddr(), "198.51.100.51".parse::<Ipv4Addr>().unwrap());

        let sid = DhcpOption::ServerIdentifier("198.51.100.1".parse().unwrap());
        let req = packet(MessageType::Request, mac(2), &[sid.clone(), DhcpOption::RequestedIpAddress(offer2.yiaddr())]);
        let (ack, _) = send(&mut s, &req).unwrap();
        assert_eq!(ack.opts().msg_type(), Some(MessageType::Ack));
        assert_eq!(ack.opts().get(OptionCode::AddressLeaseTime), Some(&DhcpOption::AddressLeaseTime(600)));
        let ev = events.try_recv().unwrap();
        assert_eq!((ev.kind, ev.ip), (LeaseEventKind::Bound, offer2.yiaddr()));

        // The reserved address cannot be taken by someone else.
        let steal =
            packet(MessageType::Request, mac(3), &[DhcpOption::RequestedIpAddress("198.51.100.20".parse().unwrap())]);
        assert_eq!(send(&mut s, &steal).unwrap().0.opts().msg_type(), Some(MessageType::Nak));
        // Nor a bound one.
        let steal = packet(MessageType::Request, mac(3), &[DhcpOption::RequestedIpAddress(offer2.yiaddr())]);
        assert_eq!(send(&mut s, &steal).unwrap().0.opts().msg_type(), Some(MessageType::Nak));
        // A client choosing another server is ignored and its offer freed.
        let other = packet(MessageType::Request, mac(3), &[DhcpOption::ServerIdentifier("10.9.9.9".parse().unwrap())]);
        assert!(send(&mut s, &other).is_none());
        assert!(s.lease(&MacAddr(mac(3))).is_none());

        // Release frees it and reports it.
        let mut rel = packet(MessageType::Release, mac(2), &[sid]);
        rel.set_ciaddr(offer2.yiaddr());
        assert!(send(&mut s, &rel).is_none());
        assert_eq!(events.try_recv().unwrap().kind, LeaseEventKind::Released);
        assert!(s.lease(&MacAddr(mac(2))).is_none());
    }

    #[test]
    fn range_exhaustion_decline_and_expiry() {
        let (mut s, mut events) = DhcpServer::new(config(), 16).unwrap();
        for i in 10..13 {
            assert!(send(&mut s, &packet(MessageType::Discover, mac(i), &[])).is_some());
        }
        assert!(send(&mut s, &packet(MessageType::Discover, mac(13), &[])).is_none());
        assert_eq!(s.stats().exhausted.load(Ordering::Relaxed), 1);
        let ip: Ipv4Addr = "198.51.100.50".parse().unwrap();
        let dec = packet(MessageType::Decline, mac(10), &[DhcpOption::RequestedIpAddress(ip)]);
        assert!(send(&mut s, &dec).is_none());
        assert_eq!(events.try_recv().unwrap().kind, LeaseEventKind::Declined);
        // The declined address is not offered again, even though it is free.
        assert!(send(&mut s, &packet(MessageType::Discover, mac(14), &[])).is_none());
        // Offers lapse after offer_hold.
        s.expire(NOW + 61);
        let (bytes, _) =
            s.handle(&packet(MessageType::Discover, mac(14), &[]).to_vec().unwrap(), client(), NOW + 61).unwrap();
        let m = Message::decode(&mut Decoder::new(&bytes)).unwrap();
        assert_ne!(m.yiaddr(), ip);
    }

    #[test]
    fn pxe_boot_files_by_architecture_and_ipxe_url() {
        let (mut s, _ev) = DhcpServer::new(config(), 16).unwrap();
        let pxe = DhcpOption::ClassIdentifier(b"PXEClient:Arch:00007:UNDI:003016".to_vec());
        for (arch, want) in [(0u16, "lpxelinux.0"), (7, "bootx64.efi"), (9, "bootx64.efi"), (11, "bootaa64.efi")] {
            let d = packet(
                MessageType::Discover,
                mac(1),
                &[pxe.clone(), DhcpOption::ClientSystemArchitecture(Architecture::from(arch))],
            );
            let (o, _) = send(&mut s, &d).unwrap();
            assert_eq!(fname(&o), want, "arch {arch}");
            assert_eq!(
                o.opts().get(OptionCode::BootfileName),
                Some(&DhcpOption::BootfileName(want.as_bytes().to_vec()))
            );
            assert_eq!(o.siaddr(), "198.51.100.1".parse::<Ipv4Addr>().unwrap());
            // MAAS's 30 s lease for PXE firmware.
            assert_eq!(o.opts().get(OptionCode::AddressLeaseTime), Some(&DhcpOption::AddressLeaseTime(30)));
        }
        let http =
            packet(MessageType::Discover, mac(1), &[DhcpOption::ClientSystemArchitecture(Architecture::from(16))]);
        let (o, _) = send(&mut s, &http).unwrap();
        assert_eq!(fname(&o), "http://198.51.100.1:5248/images/bootx64.efi");
        assert_eq!(
            o.opts().get(OptionCode::ClassIdentifier),
            Some(&DhcpOption::ClassIdentifier(b"HTTPClient".to_vec()))
        );
        let ipxe = packet(
            MessageType::Discover,
            mac(1),
            &[DhcpOption::UserClass(b"iPXE".to_vec()), DhcpOption::ClientSystemArchitecture(Architecture::from(0))],
        );
        let (o, _) = send(&mut s, &ipxe).unwrap();
        assert_eq!(fname(&o), "http://198.51.100.1:5248/ipxe.cfg-52:54:00:aa:bb:01");
        assert_eq!(
            o.opts().get(OptionCode::from(175u8)),
            Some(&DhcpOption::Unknown(UnknownOption::new(OptionCode::from(175u8), vec![176, 1, 1]))),
            "iPXE is told not to wait for ProxyDHCP"
        );
        // Plain clients get no boot file.
        let (o, _) = send(&mut s, &packet(MessageType::Discover, mac(5), &[])).unwrap();
        assert!(o.opts().get(OptionCode::BootfileName).is_none());
    }

    #[test]
    fn relayed_requests_use_the_relay_subnet_and_go_back_to_the_relay() {
        let (mut s, _ev) = DhcpServer::new(config(), 16).unwrap();
        let mut d = packet(MessageType::Discover, mac(7), &[]);
        d.set_giaddr("203.0.113.1".parse::<Ipv4Addr>().unwrap());
        let (bytes, Destination(dst)) = s.handle(&d.to_vec().unwrap(), "203.0.113.1:67".parse().unwrap(), NOW).unwrap();
        let o = Message::decode(&mut Decoder::new(&bytes)).unwrap();
        assert_eq!(o.yiaddr(), "203.0.113.100".parse::<Ipv4Addr>().unwrap());
        assert_eq!(o.giaddr(), "203.0.113.1".parse::<Ipv4Addr>().unwrap());
        assert_eq!(dst, "203.0.113.1:67".parse().unwrap());
        // A relay for a subnet we do not manage is ignored.
        d.set_giaddr("192.0.2.1".parse::<Ipv4Addr>().unwrap());
        assert!(s.handle(&d.to_vec().unwrap(), "192.0.2.1:67".parse().unwrap(), NOW).is_none());
    }

    #[test]
    fn garbage_is_counted_never_fatal() {
        let (mut s, _ev) = DhcpServer::new(config(), 16).unwrap();
        let mut junk: Vec<Vec<u8>> = vec![vec![], vec![1], vec![0xff; 300], b"GET / HTTP/1.1\r\n\r\n".to_vec()];
        // Truncations and bit flips of a valid packet.
        let good = packet(MessageType::Discover, mac(9), &[DhcpOption::Hostname("x".into())]).to_vec().unwrap();
        for i in 0..good.len() {
            junk.push(good[..i].to_vec());
            let mut flipped = good.clone();
            flipped[i] ^= 0xa5;
            junk.push(flipped);
        }
        for j in &junk {
            let _ = s.handle(j, client(), NOW);
        }
        let st = s.stats();
        assert!(st.malformed.load(Ordering::Relaxed) >= 4);
        assert_eq!(st.received.load(Ordering::Relaxed), junk.len() as u64);
        assert!(send(&mut s, &packet(MessageType::Discover, mac(1), &[])).is_some());
    }

    /// Snippet options: global < subnet < range < host, each replacing the
    /// server's own value of the same code (one copy on the wire), and
    /// protected codes never overridden.
    #[test]
    fn snippet_options_apply_by_scope_and_replace_the_servers_own() {
        use ironpool_common::dhcp::{HostOptions, RangeOptions, RawOption, SubnetOptions};
        let ntp = |last: u8| RawOption { code: 42, data: vec![192, 0, 2, last] };
        let mut cfg = config();
        cfg.snippet_options.global = vec![ntp(1), RawOption { code: 54, data: vec![1, 2, 3, 4] }];
        cfg.snippet_options.subnets = vec![SubnetOptions {
            cidr: "198.51.100.0/24".parse().unwrap(),
            options: vec![RawOption { code: 6, data: vec![192, 0, 2, 53] }],
        }];
        cfg.snippet_options.ranges = vec![RangeOptions {
            start: "198.51.100.50".parse().unwrap(),
            end: "198.51.100.52".parse().unwrap(),
            options: vec![ntp(2)],
        }];
        cfg.snippet_options.hosts = vec![HostOptions { mac: MacAddr(mac(1)), options: vec![ntp(3)] }];
        let (mut s, _events) = DhcpServer::new(cfg, 16).unwrap();
        // The options as they are on the wire (after the magic cookie),
        // so a duplicate would show.
        let wire_opts = |m: &Message| {
            let b = m.to_vec().unwrap();
            let mut out = Vec::new();
            let mut i = 240;
            while i < b.len() && b[i] != 255 {
                if b[i] == 0 {
                    i += 1;
                    continue;
                }
                let len = b[i + 1] as usize;
                out.push((b[i], b[i + 2..i + 2 + len].to_vec()));
                i += 2 + len;
            }
            out
        };
        let values = |m: &Message, code: u8| -> Vec<Vec<u8>> {
            wire_opts(m).into_iter().filter(|(c, _)| *c == code).map(|(_, d)| d).collect()
        };
        // The known host (reserved, outside the range): its own NTP server;
        // the subnet's DNS server replaced the configured one, once; the
        // server identifier (protected) stays the server's.
        let (known, _) = send(&mut s, &packet(MessageType::Discover, mac(1), &[])).unwrap();
        assert_eq!(values(&known, 42), vec![vec![192, 0, 2, 3]]);
        assert_eq!(values(&known, 6), vec![vec![192, 0, 2, 53]]);
        assert_eq!(values(&known, 54), vec![vec![198, 51, 100, 1]]);
        // A dynamic client: the range's value beats the global one.
        let (dynamic, _) = send(&mut s, &packet(MessageType::Discover, mac(2), &[])).unwrap();
        assert_eq!(values(&dynamic, 42), vec![vec![192, 0, 2, 2]]);
        // Another subnet (through a relay): only the global option.
        let mut relayed = packet(MessageType::Discover, mac(4), &[]);
        relayed.set_giaddr("203.0.113.1".parse::<Ipv4Addr>().unwrap());
        let (bytes, _) = s.handle(&relayed.to_vec().unwrap(), "203.0.113.1:67".parse().unwrap(), NOW).unwrap();
        let other = Message::decode(&mut Decoder::new(&bytes)).unwrap();
        assert_eq!(values(&other, 42), vec![vec![192, 0, 2, 1]]);
        assert_eq!(values(&other, 6), vec![vec![198, 51, 100, 1]]);
    }

    #[test]
    fn reconfigure_applies_new_reservations_and_refuses_bad_config() {
        let (mut s, _ev) = DhcpServer::new(config(), 16).unwrap();
        let (o, _) = send(&mut s, &packet(MessageType::Discover, mac(42), &[])).unwrap();
        assert_eq!(o.yiaddr(), "198.51.100.50".parse::<Ipv4Addr>().unwrap());
        let mut cfg = config();
        cfg.reservations.push(Reservation {
            mac: MacAddr(mac(42)),
            ip: "198.51.100.42".parse().unwrap(),
            hostname: None,
        });
        s.reconfigure(cfg).unwrap();
        let (o, _) = send(&mut s, &packet(MessageType::Discover, mac(42), &[])).unwrap();
        assert_eq!(o.yiaddr(), "198.51.100.42".parse::<Ipv4Addr>().unwrap());
        let mut bad = config();
        bad.subnets[0].range_end = "10.0.0.1".parse().unwrap();
        assert!(s.reconfigure(bad).is_err());
        let (o, _) = send(&mut s, &packet(MessageType::Discover, mac(42), &[])).unwrap();
        assert_eq!(o.yiaddr(), "198.51.100.42".parse::<Ipv4Addr>().unwrap(), "the old config stays after a refusal");
    }

    #[test]
    fn leases_persist_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config();
        cfg.lease_file = Some(dir.path().join("leases.json"));
        let (mut s, _ev) = DhcpServer::new(cfg.clone(), 16).unwrap();
        let sid = DhcpOption::ServerIdentifier("198.51.100.1".parse().unwrap());
        let ip: Ipv4Addr = "198.51.100.52".parse().unwrap();
        let req = packet(MessageType::Request, mac(4), &[sid, DhcpOption::RequestedIpAddress(ip)]);
        assert_eq!(send(&mut s, &req).unwrap().0.opts().msg_type(), Some(MessageType::Ack));
        let (s2, _ev) = DhcpServer::new(cfg, 16).unwrap();
        let l = s2.lease(&MacAddr(mac(4))).unwrap();
        assert_eq!((l.ip, l.state, l.expires), (ip, LeaseState::Bound, NOW + 600));
    }
}
