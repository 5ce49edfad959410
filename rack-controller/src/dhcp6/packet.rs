//! The DHCPv6 wire format (RFC 8415 §8, §9, §21): client/server messages
//! (type, transaction id, options), relay messages (type, hop count, link
//! and peer addresses, options) and the option TLVs the server reads and
//! writes. Hand-written rather than a general codec because the server
//! needs a dozen options, and every length is checked against what is left
//! of the datagram: a truncated or oversized option is an error, never a
//! panic or an out-of-bounds read.

use std::net::Ipv6Addr;

use ironpool_common::dhcp::MacAddr;

// Message types (RFC 8415 §7.3).
pub const SOLICIT: u8 = 1;
pub const ADVERTISE: u8 = 2;
pub const REQUEST: u8 = 3;
pub const CONFIRM: u8 = 4;
pub const RENEW: u8 = 5;
pub const REBIND: u8 = 6;
pub const REPLY: u8 = 7;
pub const RELEASE: u8 = 8;
pub const DECLINE: u8 = 9;
pub const INFORMATION_REQUEST: u8 = 11;
pub const RELAY_FORW: u8 = 12;
pub const RELAY_REPL: u8 = 13;

// Option codes (RFC 8415 §21, RFC 3646, RFC 5970, RFC 6939).
pub const OPT_CLIENTID: u16 = 1;
pub const OPT_SERVERID: u16 = 2;
pub const OPT_IA_NA: u16 = 3;
pub const OPT_IA_TA: u16 = 4;
pub const OPT_IAADDR: u16 = 5;
pub const OPT_ORO: u16 = 6;
pub const OPT_PREFERENCE: u16 = 7;
pub const OPT_RELAY_MSG: u16 = 9;
pub const OPT_STATUS_CODE: u16 = 13;
pub const OPT_RAPID_COMMIT: u16 = 14;
pub const OPT_USER_CLASS: u16 = 15;
pub const OPT_VENDOR_CLASS: u16 = 16;
pub const OPT_INTERFACE_ID: u16 = 18;
pub const OPT_DNS_SERVERS: u16 = 23;
pub const OPT_DOMAIN_LIST: u16 = 24;
pub const OPT_IA_PD: u16 = 25;
pub const OPT_BOOTFILE_URL: u16 = 59;
pub const OPT_CLIENT_ARCH_TYPE: u16 = 61;
pub const OPT_CLIENT_LINKLAYER_ADDR: u16 = 79;

// Status codes (RFC 8415 §21.13).
pub const STATUS_SUCCESS: u16 = 0;
pub const STATUS_NO_ADDRS_AVAIL: u16 = 2;
pub const STATUS_NO_BINDING: u16 = 3;
pub const STATUS_NOT_ON_LINK: u16 = 4;

/// IANA enterprise number the UEFI specification uses in the vendor class
/// (option 16) of HTTP boot replies.
pub const UEFI_ENTERPRISE: u32 = 343;

/// RFC 8415 §7.6: relays drop messages past 8 hops; a deeper nesting than
/// that is not something a real network produces.
pub const HOP_COUNT_LIMIT: u8 = 8;

/// Why a datagram was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

/// One option: its code and its data, borrowed from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opt<'a> {
    pub code: u16,
    pub data: &'a [u8],
}

/// Splits an option area into options. Every declared length must fit in
/// what is left; trailing bytes that cannot hold an option header are an
/// error too, so a datagram is either wholly understood or refused.
pub fn options(mut data: &[u8]) -> Result<Vec<Opt<'_>>, Malformed> {
    let mut out = Vec::new();
    while !data.is_empty() {
        if data.len() < 4 {
            return Err(Malformed("truncated option header"));
        }
        let code = u16::from_be_bytes([data[0], data[1]]);
        let len = usize::from(u16::from_be_bytes([data[2], data[3]]));
        let rest = &data[4..];
        if rest.len() < len {
            return Err(Malformed("option longer than the datagram"));
        }
        out.push(Opt { code, data: &rest[..len] });
        data = &rest[len..];
    }
    Ok(out)
}

/// The first option with `code`.
pub fn find<'a>(opts: &[Opt<'a>], code: u16) -> Option<&'a [u8]> {
    opts.iter().find(|o| o.code == code).map(|o| o.data)
}

/// A client (or server) message: RFC 8415 §8.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    pub kind: u8,
    pub xid: [u8; 3],
    pub opts: Vec<Opt<'a>>,
}

/// A relay message: RFC 8415 §9.
#[derive(Debug, Clone)]
pub struct Relay<'a> {
    pub kind: u8,
    pub hop_count: u8,
    pub link: Ipv6Addr,
    pub peer: Ipv6Addr,
    pub opts: Vec<Opt<'a>>,
}

#[derive(Debug, Clone)]
pub enum Packet<'a> {
    Client(Message<'a>),
    Relay(Relay<'a>),
}

fn ipv6(b: &[u8]) -> Option<Ipv6Addr> {
    let a: [u8; 16] = b.try_into().ok()?;
    Some(Ipv6Addr::from(a))
}

/// Parses one datagram (either kind of message; a relay's inner message is
/// parsed separately from its Relay Message option).
pub fn parse(data: &[u8]) -> Result<Packet<'_>, Malformed> {
    let kind = *data.first().ok_or(Malformed("empty datagram"))?;
    if kind == RELAY_FORW || kind == RELAY_REPL {
        if data.len() < 34 {
            return Err(Malformed("truncated relay header"));
        }
        let link = ipv6(&data[2..18]).ok_or(Malformed("relay link address"))?;
        let peer = ipv6(&data[18..34]).ok_or(Malformed("relay peer address"))?;
        return Ok(Packet::Relay(Relay { kind, hop_count: data[1], link, peer, opts: options(&data[34..])? }));
    }
    if data.len() < 4 {
        return Err(Malformed("truncated message header"));
    }
    Ok(Packet::Client(Message { kind, xid: [data[1], data[2], data[3]], opts: options(&data[4..])? }))
}

/// One address inside an IA_NA (RFC 8415 §21.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IaAddr {
    pub ip: Ipv6Addr,
    pub preferred: u32,
    pub valid: u32,
}

/// An identity association for non-temporary addresses (RFC 8415 §21.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IaNa {
    pub iaid: u32,
    pub t1: u32,
    pub t2: u32,
    pub addrs: Vec<IaAddr>,
}

fn be32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_be_bytes(a)
}

impl IaNa {
    pub fn parse(data: &[u8]) -> Result<IaNa, Malformed> {
        if data.len() < 12 {
            return Err(Malformed("truncated IA_NA"));
        }
        let mut addrs = Vec::new();
        for o in options(&data[12..])? {
            if o.code == OPT_IAADDR {
                if o.data.len() < 24 {
                    return Err(Malformed("truncated IAADDR"));
                }
                // The IAADDR's own options (a status code) are checked for
                // well-formedness and otherwise ignored.
                options(&o.data[24..])?;
                addrs.push(IaAddr {
                    ip: ipv6(&o.data[..16]).ok_or(Malformed("IAADDR address"))?,
                    preferred: be32(&o.data[16..20]),
                    valid: be32(&o.data[20..24]),
                });
            }
        }
        Ok(IaNa { iaid: be32(&data[..4]), t1: be32(&data[4..8]), t2: be32(&data[8..12]), addrs })
    }
}

/// Every IA_NA in `opts`.
pub fn ia_nas(opts: &[Opt<'_>]) -> Result<Vec<IaNa>, Malformed> {
    opts.iter().filter(|o| o.code == OPT_IA_NA).map(|o| IaNa::parse(o.data)).collect()
}

/// The MAC inside a DUID-LLT (type 1) or DUID-LL (type 3) of hardware type
/// 1 (Ethernet), as MAAS matches hosts by their DUID's link-layer address.
pub fn duid_mac(duid: &[u8]) -> Option<MacAddr> {
    let kind = u16::from_be_bytes([*duid.first()?, *duid.get(1)?]);
    let htype = u16::from_be_bytes([*duid.get(2)?, *duid.get(3)?]);
    let lladdr = match kind {
        1 => duid.get(8..)?,
        3 => duid.get(4..)?,
        _ => return None,
    };
    if htype != 1 {
        return None;
    }
    Some(MacAddr(lladdr.try_into().ok()?))
}

/// The MAC in a Client Link-Layer Address option (RFC 6939): hardware type
/// 1 and six bytes.
pub fn linklayer_mac(data: &[u8]) -> Option<MacAddr> {
    if data.get(..2)? != [0, 1] {
        return None;
    }
    Some(MacAddr(data.get(2..)?.try_into().ok()?))
}

/// The MAC a modified EUI-64 link-local address was made from (RFC 4291
/// appendix A): `fe80::` + MAC with the U/L bit flipped and `ff:fe` in the
/// middle. Clients using privacy or stable-opaque addresses have none.
pub fn eui64_mac(ip: Ipv6Addr) -> Option<MacAddr> {
    let o = ip.octets();
    if o[..8] != [0xfe, 0x80, 0, 0, 0, 0, 0, 0] || o[11] != 0xff || o[12] != 0xfe {
        return None;
    }
    Some(MacAddr([o[8] ^ 0x02, o[9], o[10], o[13], o[14], o[15]]))
}

/// A DUID-LL (type 3, Ethernet) for `mac`: the server identifier. It is
/// derived from the interface's address, so it stays the same across
/// restarts without any state.
pub fn duid_ll(mac: MacAddr) -> Vec<u8> {
    let mut d = vec![0, 3, 0, 1];
    d.extend_from_slice(&mac.0);
    d
}

/// Builds a message's option area; nested options (IA_NA, IAADDR) are
/// written with [`Writer::begin`]/[`Writer::end`], which patch the length.
#[derive(Debug, Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn message(kind: u8, xid: [u8; 3]) -> Writer {
        Writer { buf: vec![kind, xid[0], xid[1], xid[2]] }
    }

    pub fn relay_reply(hop_count: u8, link: Ipv6Addr, peer: Ipv6Addr) -> Writer {
        let mut buf = vec![RELAY_REPL, hop_count];
        buf.extend_from_slice(&link.octets());
        buf.extend_from_slice(&peer.octets());
        Writer { buf }
    }

    /// Adds an option. Data past 65535 bytes cannot be encoded; it is cut
    /// (nothing the server writes comes near that).
    pub fn opt(&mut self, code: u16, data: &[u8]) -> &mut Self {
        let data = &data[..data.len().min(usize::from(u16::MAX))];
        self.buf.extend_from_slice(&code.to_be_bytes());
        self.buf.extend_from_slice(&(data.len() as u16).to_be_bytes());
        self.buf.extend_from_slice(data);
        self
    }

    /// Starts an option whose data follows; returns its position for [`end`](Self::end).
    pub fn begin(&mut self, code: u16) -> usize {
        let at = self.buf.len();
        self.buf.extend_from_slice(&code.to_be_bytes());
        self.buf.extend_from_slice(&[0, 0]);
        at
    }

    pub fn end(&mut self, at: usize) {
        let len = (self.buf.len() - at - 4).min(usize::from(u16::MAX)) as u16;
        self.buf[at + 2..at + 4].copy_from_slice(&len.to_be_bytes());
    }

    pub fn raw(&mut self, data: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(data);
        self
    }

    pub fn status(&mut self, code: u16, message: &str) -> &mut Self {
        let mut d = code.to_be_bytes().to_vec();
        d.extend_from_slice(message.as_bytes());
        self.opt(OPT_STATUS_CODE, &d)
    }

    /// An IA_NA holding `addrs` (address, preferred, valid) and, when given,
    /// a status code.
    pub fn ia_na(&mut self, iaid: u32, t1: u32, t2: u32, addrs: &[IaAddr], status: Option<(u16, &str)>) {
        let at = self.begin(OPT_IA_NA);
        self.raw(&iaid.to_be_bytes()).raw(&t1.to_be_bytes()).raw(&t2.to_be_bytes());
        for a in addrs {
            let inner = self.begin(OPT_IAADDR);
            self.raw(&a.ip.octets()).raw(&a.preferred.to_be_bytes()).raw(&a.valid.to_be_bytes());
            self.end(inner);
        }
        if let Some((code, msg)) = status {
            self.status(code, msg);
        }
        self.end(at);
    }
}

/// A domain search list (RFC 3646 §4) in DNS wire format; labels longer
/// than 63 bytes are cut, since they cannot be encoded.
pub fn domain_list(names: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for n in names {
        for label in n.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
            let l = &label.as_bytes()[..label.len().min(63)];
            out.push(l.len() as u8);
            out.extend_from_slice(l);
        }
        out.push(0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let mut w = Writer::message(REPLY, [1, 2, 3]);
        w.opt(OPT_CLIENTID, &[0, 3, 0, 1, 0x52, 0x54, 0, 0, 0, 1]);
        w.ia_na(
            7,
            300,
            525,
            &[IaAddr { ip: "2001:db8::5".parse().unwrap(), preferred: 600, valid: 600 }],
            Some((0, "ok")),
        );
        let Packet::Client(m) = parse(&w.buf).unwrap() else { panic!("not a client message") };
        assert_eq!((m.kind, m.xid), (REPLY, [1, 2, 3]));
        let ias = ia_nas(&m.opts).unwrap();
        assert_eq!(ias.len(), 1);
        assert_eq!((ias[0].iaid, ias[0].t1, ias[0].t2), (7, 300, 525));
        assert_eq!(ias[0].addrs[0].ip, "2001:db8::5".parse::<Ipv6Addr>().unwrap());
        assert_eq!(duid_mac(find(&m.opts, OPT_CLIENTID).unwrap()).unwrap().to_string(), "52:54:00:00:00:01");
        // An option claiming more than is there.
        assert!(parse(&[SOLICIT, 0, 0, 0, 0, 1, 0, 9, 1]).is_err());
        // A dangling byte after the last option.
        assert!(parse(&[SOLICIT, 0, 0, 0, 0, 8, 0, 2, 0, 0, 7]).is_err());
        assert!(parse(&[RELAY_FORW, 0, 1]).is_err());
        assert!(parse(&[]).is_err());
    }

    #[test]
    fn macs_from_duids_linklayer_and_eui64() {
        let llt = [0, 1, 0, 1, 0x2a, 0x2b, 0x2c, 0x2d, 0x52, 0x54, 0, 0xaa, 0xbb, 0x01];
        assert_eq!(duid_mac(&llt).unwrap().to_string(), "52:54:00:aa:bb:01");
        assert_eq!(duid_mac(&duid_ll("52:54:00:aa:bb:02".parse().unwrap())).unwrap().to_string(), "52:54:00:aa:bb:02");
        // DUID-EN (type 2) and UUID (type 4) carry no MAC; short ones neither.
        assert!(duid_mac(&[0, 2, 0, 0, 0, 9, 1, 2, 3]).is_none());
        assert!(duid_mac(&[0, 3, 0, 1, 1, 2]).is_none());
        assert_eq!(linklayer_mac(&[0, 1, 0x52, 0x54, 0, 1, 2, 3]).unwrap().to_string(), "52:54:00:01:02:03");
        assert!(linklayer_mac(&[0, 6, 1, 2, 3, 4, 5, 6]).is_none());
        let ll: Ipv6Addr = "fe80::5054:ff:feaa:bb01".parse().unwrap();
        assert_eq!(eui64_mac(ll).unwrap().to_string(), "52:54:00:aa:bb:01");
        assert!(eui64_mac("fe80::1".parse().unwrap()).is_none());
    }

    #[test]
    fn domain_list_encoding() {
        assert_eq!(domain_list(&["maas", "a.b."]), b"\x04maas\x00\x01a\x01b\x00".to_vec());
    }
}
