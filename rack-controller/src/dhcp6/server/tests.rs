//! Unit tests of the DHCPv6 engine: the exchanges, reservations by MAC
//! (DUID and relay option 79), relays, boot URLs, persistence, and hostile
//! input.

use super::*;
use ironpool_common::dhcp6::Reservation6;

const NOW: u64 = 1_000_000;
const SERVER_DUID: [u8; 10] = [0, 3, 0, 1, 0x52, 0x54, 0, 0, 0, 0xfe];

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn config() -> Dhcp6Config {
    let subnet = |net: &str, server: &str, start: &str, end: &str| Subnet6Config {
        cidr: net.parse().unwrap(),
        server_address: v6(server),
        dns_servers: vec![v6("2001:db8:1::53")],
        domain: Some("maas".into()),
        range_start: v6(start),
        range_end: v6(end),
        lease_time: 600,
    };
    let mut c = Dhcp6Config::new(vec![
        subnet("2001:db8:1::/64", "2001:db8:1::1", "2001:db8:1::100", "2001:db8:1::102"),
        subnet("2001:db8:2::/64", "2001:db8:2::1", "2001:db8:2::100", "2001:db8:2::1ff"),
    ]);
    c.reservations.push(Reservation6 {
        mac: "52:54:00:aa:bb:01".parse().unwrap(),
        ip: v6("2001:db8:1::20"),
        hostname: Some("known".into()),
    });
    c
}

/// The server's own address on the client's link (subnet 1).
fn link() -> Vec<Ipv6Addr> {
    vec![v6("fe80::1"), v6("2001:db8:1::1")]
}

fn src() -> SocketAddr {
    "[fe80::5054:ff:fe00:1]:546".parse().unwrap()
}

/// A DUID-LLT for MAC 52:54:00:aa:bb:`last`.
fn duid(last: u8) -> Vec<u8> {
    vec![0, 1, 0, 1, 0x2e, 0, 0, 1, 0x52, 0x54, 0, 0xaa, 0xbb, last]
}

struct Client {
    duid: Vec<u8>,
    iaid: u32,
}

impl Client {
    fn msg(&self, kind: u8, server: bool, addrs: &[Ipv6Addr], extra: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut w = Writer::message(kind, [9, 8, 7]);
        w.opt(OPT_CLIENTID, &self.duid);
        if server {
            w.opt(OPT_SERVERID, &SERVER_DUID);
        }
        let a: Vec<IaAddr> = addrs.iter().map(|ip| IaAddr { ip: *ip, preferred: 0, valid: 0 }).collect();
        w.ia_na(self.iaid, 0, 0, &a, None);
        for (code, data) in extra {
            w.opt(*code, data);
        }
        w.buf
    }
}

struct Reply {
    kind: u8,
    opts: Vec<(u16, Vec<u8>)>,
}

impl Reply {
    fn parse(b: &[u8]) -> Reply {
        let Packet::Client(m) = parse(b).unwrap() else { panic!("a relay message") };
        Reply { kind: m.kind, opts: m.opts.iter().map(|o| (o.code, o.data.to_vec())).collect() }
    }
    fn get(&self, code: u16) -> Option<&[u8]> {
        self.opts.iter().find(|(c, _)| *c == code).map(|(_, d)| d.as_slice())
    }
    fn ia(&self) -> IaNa {
        IaNa::parse(self.get(OPT_IA_NA).expect("an IA_NA")).unwrap()
    }
    /// The address with non-zero lifetimes.
    fn addr(&self) -> Ipv6Addr {
        self.ia().addrs.iter().find(|a| a.valid > 0).expect("a valid address").ip
    }
    fn status(&self) -> Option<u16> {
        self.get(OPT_STATUS_CODE).map(|d| u16::from_be_bytes([d[0], d[1]]))
    }
}

fn server() -> Dhcp6Server {
    Dhcp6Server::new(config(), SERVER_DUID.to_vec()).unwrap()
}

fn send(s: &mut Dhcp6Server, data: &[u8]) -> Option<Reply> {
    let (bytes, dst) = s.handle(data, src(), &link(), NOW)?;
    assert_eq!(dst, src(), "a direct client is answered where it sent from");
    Some(Reply::parse(&bytes))
}

#[test]
fn solicit_request_renew_rebind_release() {
    let mut s = server();
    let c = Client { duid: duid(2), iaid: 7 };
    let adv = send(&mut s, &c.msg(SOLICIT, false, &[], &[])).unwrap();
    assert_eq!(adv.kind, ADVERTISE);
    assert_eq!(adv.get(OPT_SERVERID), Some(SERVER_DUID.as_slice()));
    assert_eq!(adv.get(OPT_CLIENTID), Some(c.duid.as_slice()));
    let ia = adv.ia();
    assert_eq!((ia.iaid, ia.t1, ia.t2), (7, 300, 525));
    let ip = adv.addr();
    assert_eq!(ip, v6("2001:db8:1::100"));
    assert_eq!(adv.get(OPT_DNS_SERVERS), Some(v6("2001:db8:1::53").octets().as_slice()));
    assert_eq!(adv.get(OPT_DOMAIN_LIST), Some(b"\x04maas\x00".as_slice()));
    assert_eq!(s.lease(&c.duid, 7).unwrap().state, LeaseState::Offered);
    // Another client meanwhile gets another address.
    let other = Client { duid: duid(3), iaid: 1 };
    assert_eq!(send(&mut s, &other.msg(SOLICIT, false, &[], &[])).unwrap().addr(), v6("2001:db8:1::101"));

    let rep = send(&mut s, &c.msg(REQUEST, true, &[ip], &[])).unwrap();
    assert_eq!((rep.kind, rep.addr()), (REPLY, ip));
    let l = s.lease(&c.duid, 7).unwrap();
    assert_eq!(
        (l.state, l.expires, l.mac.unwrap().to_string()),
        (LeaseState::Bound, NOW + 600, "52:54:00:aa:bb:02".into())
    );

    // A REQUEST for another server is not ours to answer.
    let mut w = Writer::message(REQUEST, [1, 1, 1]);
    w.opt(OPT_CLIENTID, &c.duid).opt(OPT_SERVERID, &[0, 3, 0, 1, 1, 2, 3, 4, 5, 6]);
    assert!(send(&mut s, &w.buf).is_none());

    // RENEW and REBIND extend; an address the client may not keep comes
    // back with zero lifetimes.
    let later = NOW + 300;
    let (b, _) = s.handle(&c.msg(RENEW, true, &[ip, v6("2001:db8:1::7")], &[]), src(), &link(), later).unwrap();
    let r = Reply::parse(&b);
    assert_eq!(r.addr(), ip);
    assert!(r.ia().addrs.iter().any(|a| a.ip == v6("2001:db8:1::7") && a.valid == 0));
    assert_eq!(s.lease(&c.duid, 7).unwrap().expires, later + 600);
    let (b, _) = s.handle(&c.msg(REBIND, false, &[ip], &[]), src(), &link(), later + 10).unwrap();
    assert_eq!(Reply::parse(&b).addr(), ip);
    assert_eq!(s.stats().renews.load(Ordering::Relaxed), 1);
    assert_eq!(s.stats().rebinds.load(Ordering::Relaxed), 1);

    let rel = send(&mut s, &c.msg(RELEASE, true, &[ip], &[])).unwrap();
    assert_eq!((rel.kind, rel.status()), (REPLY, Some(STATUS_SUCCESS)));
    assert!(s.lease(&c.duid, 7).is_none());
    // Releasing again: no binding for that IA.
    let rel = send(&mut s, &c.msg(RELEASE, true, &[ip], &[])).unwrap();
    let ia = IaNa::parse(rel.get(OPT_IA_NA).unwrap()).unwrap();
    assert_eq!(ia.iaid, 7);
}

#[test]
fn known_mac_gets_its_reservation_by_duid_and_through_a_relay() {
    let mut s = server();
    let known = Client { duid: duid(1), iaid: 1 };
    let adv = send(&mut s, &known.msg(SOLICIT, false, &[], &[])).unwrap();
    assert_eq!(adv.addr(), v6("2001:db8:1::20"));
    // Nobody else gets the reserved address, even asking for it.
    let thief = Client { duid: duid(9), iaid: 1 };
    let adv = send(&mut s, &thief.msg(SOLICIT, false, &[v6("2001:db8:1::20")], &[])).unwrap();
    assert_ne!(adv.addr(), v6("2001:db8:1::20"));
    assert_eq!(adv.ia().addrs.len(), 1, "an ADVERTISE lists only what is assigned");

    // Relayed, with a DUID-EN (no MAC in it): the relay's Client Link-Layer
    // Address option identifies the machine. The reply goes back to the
    // relay wrapped in a Relay-reply that echoes the Interface-ID.
    let en = Client { duid: vec![0, 2, 0, 0, 0, 9, 1, 2, 3, 4], iaid: 5 };
    let mut relay = Writer::message(RELAY_FORW, [0, 0, 0]);
    relay.buf.truncate(1);
    relay.raw(&[0]).raw(&v6("2001:db8:1::fe").octets()).raw(&v6("fe80::abcd").octets());
    relay.opt(OPT_INTERFACE_ID, b"eth7");
    relay.opt(OPT_CLIENT_LINKLAYER_ADDR, &[0, 1, 0x52, 0x54, 0, 0xaa, 0xbb, 0x01]);
    relay.opt(OPT_RELAY_MSG, &en.msg(SOLICIT, false, &[], &[(OPT_RAPID_COMMIT, vec![])]));
    let relay_src: SocketAddr = "[2001:db8:1::fe]:547".parse().unwrap();
    let (bytes, dst) = s.handle(&relay.buf, relay_src, &[], NOW).unwrap();
    assert_eq!(dst, relay_src);
    let Packet::Relay(r) = parse(&bytes).unwrap() else { panic!("not a relay reply") };
    assert_eq!((r.kind, r.link, r.peer), (RELAY_REPL, v6("2001:db8:1::fe"), v6("fe80::abcd")));
    assert_eq!(find(&r.opts, OPT_INTERFACE_ID), Some(b"eth7".as_slice()));
    let inner = Reply::parse(find(&r.opts, OPT_RELAY_MSG).unwrap());
    assert_eq!(inner.kind, REPLY, "Rapid Commit: a REPLY straight away");
    assert!(inner.get(OPT_RAPID_COMMIT).is_some());
    // The known machine's lease (bound above? no: only advertised) does not
    // stop the reservation: the same MAC under another DUID takes it.
    assert_eq!(inner.addr(), v6("2001:db8:1::20"));
    assert_eq!(s.lease(&en.duid, 5).unwrap().state, LeaseState::Bound);
    assert_eq!(s.lease(&en.duid, 5).unwrap().hostname.as_deref(), Some("known"));

    // A relay on a link we do not serve is ignored.
    let mut far = Writer::message(RELAY_FORW, [0, 0, 0]);
    far.buf.truncate(1);
    far.raw(&[0]).raw(&v6("2001:db8:99::1").octets()).raw(&v6("fe80::1").octets());
    far.opt(OPT_RELAY_MSG, &en.msg(SOLICIT, false, &[], &[]));
    assert!(s.handle(&far.buf, relay_src, &[], NOW).is_none());
    // The second subnet through its relay.
    let mut second = Writer::message(RELAY_FORW, [0, 0, 0]);
    second.buf.truncate(1);
    second.raw(&[0]).raw(&v6("2001:db8:2::fe").octets()).raw(&v6("fe80::2").octets());
    second.opt(OPT_RELAY_MSG, &thief.msg(SOLICIT, false, &[], &[]));
    let (bytes, _) = s.handle(&second.buf, relay_src, &[], NOW).unwrap();
    let Packet::Relay(r) = parse(&bytes).unwrap() else { panic!("not a relay reply") };
    assert_eq!(Reply::parse(find(&r.opts, OPT_RELAY_MSG).unwrap()).addr(), v6("2001:db8:2::100"));
}

#[test]
fn confirm_information_request_and_boot_urls() {
    let mut s = server();
    let c = Client { duid: duid(4), iaid: 1 };
    let ok = send(&mut s, &c.msg(CONFIRM, false, &[v6("2001:db8:1::55")], &[])).unwrap();
    assert_eq!(ok.status(), Some(STATUS_SUCCESS));
    let moved = send(&mut s, &c.msg(CONFIRM, false, &[v6("2001:db8:7::55")], &[])).unwrap();
    assert_eq!(moved.status(), Some(STATUS_NOT_ON_LINK));
    assert!(send(&mut s, &c.msg(CONFIRM, false, &[], &[])).is_none(), "no addresses, no reply");

    let mut w = Writer::message(INFORMATION_REQUEST, [4, 5, 6]);
    w.opt(OPT_ORO, &[0, 23, 0, 24]);
    let info = send(&mut s, &w.buf).unwrap();
    assert_eq!(info.kind, REPLY);
    assert!(info.get(OPT_IA_NA).is_none());
    assert_eq!(info.get(OPT_DNS_SERVERS), Some(v6("2001:db8:1::53").octets().as_slice()));

    // UEFI HTTP boot (arch 16): the URL and the HTTPClient vendor class.
    let adv = send(&mut s, &c.msg(SOLICIT, false, &[], &[(OPT_CLIENT_ARCH_TYPE, vec![0, 16])])).unwrap();
    assert_eq!(adv.get(OPT_BOOTFILE_URL), Some(b"http://[2001:db8:1::1]:5248/images/bootx64.efi".as_slice()));
    let vc = adv.get(OPT_VENDOR_CLASS).unwrap();
    assert_eq!(&vc[..4], &UEFI_ENTERPRISE.to_be_bytes());
    assert_eq!(&vc[6..], b"HTTPClient");
    // Vendor class HTTPClient without an architecture option.
    let mut vendor = 343u32.to_be_bytes().to_vec();
    vendor.extend_from_slice(&[0, 32]);
    vendor.extend_from_slice(b"HTTPClient:Arch:00016:UNDI:003016");
    let adv = send(&mut s, &c.msg(SOLICIT, false, &[], &[(OPT_VENDOR_CLASS, vendor)])).unwrap();
    assert!(adv.get(OPT_BOOTFILE_URL).unwrap().starts_with(b"http://[2001:db8:1::1]"));
    // PXE (arch 7) gets a TFTP URL; iPXE its script by MAC.
    let adv = send(&mut s, &c.msg(SOLICIT, false, &[], &[(OPT_CLIENT_ARCH_TYPE, vec![0, 7])])).unwrap();
    assert_eq!(adv.get(OPT_BOOTFILE_URL), Some(b"tftp://[2001:db8:1::1]/bootx64.efi".as_slice()));
    assert!(adv.get(OPT_VENDOR_CLASS).is_none());
    let adv = send(&mut s, &c.msg(SOLICIT, false, &[], &[(OPT_USER_CLASS, b"\x00\x04iPXE".to_vec())])).unwrap();
    assert_eq!(adv.get(OPT_BOOTFILE_URL), Some(b"http://[2001:db8:1::1]:5248/ipxe.cfg-52:54:00:aa:bb:04".as_slice()));
    // Other clients get no boot file.
    assert!(send(&mut s, &c.msg(SOLICIT, false, &[], &[])).unwrap().get(OPT_BOOTFILE_URL).is_none());
}

#[test]
fn exhaustion_decline_and_prefix_delegation_refused() {
    let mut s = server();
    for i in 10..13 {
        let c = Client { duid: duid(i), iaid: 1 };
        let r = send(&mut s, &c.msg(REQUEST, true, &[], &[])).unwrap();
        assert!(r.ia().addrs.iter().any(|a| a.valid > 0));
    }
    let late = Client { duid: duid(13), iaid: 1 };
    let r = send(&mut s, &late.msg(SOLICIT, false, &[], &[])).unwrap();
    let ia = IaNa::parse(r.get(OPT_IA_NA).unwrap()).unwrap();
    assert!(ia.addrs.is_empty());
    assert_eq!(s.stats().exhausted.load(Ordering::Relaxed), 1);
    // Declining an address the client does not hold changes nothing.
    let r = send(&mut s, &late.msg(DECLINE, true, &[v6("2001:db8:1::101")], &[])).unwrap();
    assert_eq!(IaNa::parse(r.get(OPT_IA_NA).unwrap()).unwrap().iaid, 1);
    assert!(s.leases().iter().any(|l| l.ip == v6("2001:db8:1::101") && l.key.duid == hex(&duid(11))));
    // The holder of ::100 declines it: it is free but not handed out.
    let first = Client { duid: duid(10), iaid: 1 };
    let r = send(&mut s, &first.msg(DECLINE, true, &[v6("2001:db8:1::100")], &[])).unwrap();
    assert_eq!(r.status(), Some(STATUS_SUCCESS));
    let r = send(&mut s, &late.msg(SOLICIT, false, &[], &[])).unwrap();
    assert!(IaNa::parse(r.get(OPT_IA_NA).unwrap()).unwrap().addrs.is_empty());
    // IA_PD gets NoPrefixAvail inside its IA_PD.
    let pd = Client { duid: duid(14), iaid: 1 };
    let r =
        send(&mut s, &pd.msg(SOLICIT, false, &[], &[(OPT_IA_PD, vec![0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0])])).unwrap();
    let pd_opt = r.get(OPT_IA_PD).unwrap();
    assert_eq!(&pd_opt[..4], &[0, 0, 0, 3]);
    assert_eq!(find(&options(&pd_opt[12..]).unwrap(), OPT_STATUS_CODE).unwrap()[..2], [0, 6]);
}

#[test]
fn leases_persist_and_reload_and_reconfigure_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.lease_file = Some(dir.path().join("leases6.json"));
    let mut s = Dhcp6Server::new(cfg.clone(), SERVER_DUID.to_vec()).unwrap();
    let c = Client { duid: duid(5), iaid: 3 };
    let ip = send(&mut s, &c.msg(REQUEST, true, &[v6("2001:db8:1::102")], &[])).unwrap().addr();
    assert_eq!(ip, v6("2001:db8:1::102"), "a free requested address is honoured");
    let s2 = Dhcp6Server::new(cfg.clone(), SERVER_DUID.to_vec()).unwrap();
    let l = s2.lease(&c.duid, 3).unwrap();
    assert_eq!((l.ip, l.state, l.expires), (ip, LeaseState::Bound, NOW + 600));
    // A bad configuration is refused and the old one kept.
    let mut s2 = s2;
    let mut bad = cfg.clone();
    bad.subnets[0].range_end = v6("2001:db9::1");
    assert!(s2.reconfigure(bad).is_err());
    s2.reconfigure(cfg).unwrap();
    assert_eq!(s2.lease(&c.duid, 3).unwrap().ip, ip);
}

/// A small deterministic generator, so a failure replays.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn hostile_packets_are_counted_never_fatal() {
    let mut s = server();
    let c = Client { duid: duid(6), iaid: 2 };
    let good = c.msg(SOLICIT, false, &[v6("2001:db8:1::101")], &[(OPT_CLIENT_ARCH_TYPE, vec![0, 16])]);
    let mut relay = Writer::message(RELAY_FORW, [0, 0, 0]);
    relay.buf.truncate(1);
    relay.raw(&[0]).raw(&v6("2001:db8:1::fe").octets()).raw(&v6("fe80::abcd").octets());
    relay.opt(OPT_CLIENT_LINKLAYER_ADDR, &[0, 1, 1, 2, 3, 4, 5, 6]);
    relay.opt(OPT_RELAY_MSG, &good);
    let mut junk: Vec<Vec<u8>> = vec![vec![], vec![RELAY_FORW], vec![0xff; 2000], b"GET / HTTP/1.1\r\n\r\n".to_vec()];
    for base in [&good, &relay.buf] {
        for i in 0..base.len() {
            junk.push(base[..i].to_vec());
            let mut flipped = base.clone();
            flipped[i] ^= 0xa5;
            junk.push(flipped);
            let mut huge = base.clone();
            // An option length pointing far past the end.
            if i + 1 < huge.len() {
                huge[i] = 0xff;
                huge[i + 1] = 0xff;
            }
            junk.push(huge);
        }
    }
    // Relays nested past the hop limit, each one valid.
    let mut nested = good.clone();
    for _ in 0..40 {
        let mut w = Writer::message(RELAY_FORW, [0, 0, 0]);
        w.buf.truncate(1);
        w.raw(&[0]).raw(&[0; 32]);
        w.opt(OPT_RELAY_MSG, &nested);
        nested = w.buf;
    }
    junk.push(nested);
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let len = (rng.next() % 300) as usize;
        let mut p: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // Mostly plausible message types, so the option parser is reached.
        if let Some(first) = p.first_mut() {
            *first =
                [SOLICIT, REQUEST, RENEW, RELEASE, CONFIRM, RELAY_FORW, INFORMATION_REQUEST][(*first % 7) as usize];
        }
        junk.push(p);
    }
    for j in &junk {
        let _ = s.handle(j, src(), &link(), NOW);
    }
    let st = s.stats();
    assert_eq!(st.received.load(Ordering::Relaxed), junk.len() as u64);
    assert!(st.malformed.load(Ordering::Relaxed) >= 1000, "{}", st.malformed.load(Ordering::Relaxed));
    // And it still serves.
    let fresh = Client { duid: duid(7), iaid: 1 };
    assert!(send(&mut s, &fresh.msg(SOLICIT, false, &[], &[])).is_some());
}
