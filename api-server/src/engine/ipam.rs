//! Address arithmetic for IPAM: parsing, the usable span of a subnet, the
//! merged set of unavailable spans (ranges, gateway, addresses in use) and
//! the first free address. IPv4 and IPv6 share one code path on `u128`.
//!
//! Nothing here touches the database; [`engine::network`] feeds it rows and
//! turns its answers into inserts guarded by the unique index on addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::error::{Error, Result};

pub fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

pub fn from_u128(v: u128, v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4(Ipv4Addr::from(v as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(v))
    }
}

pub fn parse_ip(field: &str, s: &str) -> Result<IpAddr> {
    s.trim().parse::<IpAddr>().map_err(|_| Error::field(field, format!("Enter a valid IPv4 or IPv6 address: '{s}'.")))
}

/// Parses a CIDR; host bits are cleared (`10.0.0.5/24` is `10.0.0.0/24`).
pub fn parse_cidr(s: &str) -> Result<IpNet> {
    let s = s.trim();
    if s.is_empty() {
        return Err(Error::required("cidr"));
    }
    let net: IpNet =
        s.parse().map_err(|_| Error::field("cidr", format!("Required format: <network>/<prefixlen>: '{s}'.")))?;
    Ok(net.trunc())
}

/// The first and last assignable address: IPv4 excludes the network and
/// broadcast addresses (except /31 and /32), IPv6 excludes the
/// subnet-router anycast address.
pub fn usable(net: &IpNet) -> (u128, u128) {
    let first = to_u128(net.network());
    let last = to_u128(net.broadcast());
    match net {
        IpNet::V4(n) if n.prefix_len() >= 31 => (first, last),
        IpNet::V4(_) => (first + 1, last - 1),
        IpNet::V6(n) if n.prefix_len() == 128 => (first, last),
        IpNet::V6(_) => (first + 1, last),
    }
}

/// An inclusive span of addresses with why it is unavailable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub start: u128,
    pub end: u128,
    pub purpose: Vec<String>,
}

impl Span {
    pub fn size(&self) -> u128 {
        self.end - self.start + 1
    }
}

/// Sorts and merges spans (adjacent or overlapping spans join, purposes
/// accumulate).
pub fn merge(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_by_key(|s| (s.start, s.end));
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        match out.last_mut() {
            Some(l) if s.start <= l.end.saturating_add(1) => {
                l.end = l.end.max(s.end);
                for p in s.purpose {
                    if !l.purpose.contains(&p) {
                        l.purpose.push(p);
                    }
                }
            }
            _ => out.push(s),
        }
    }
    out
}

/// The free spans of `net` given merged unavailable spans.
pub fn free_spans(net: &IpNet, unavailable: &[Span]) -> Vec<Span> {
    let (first, last) = usable(net);
    let mut out = Vec::new();
    let mut cur = first;
    for u in unavailable {
        if u.end < cur {
            continue;
        }
        if u.start > last {
            break;
        }
        if u.start > cur {
            out.push(Span { start: cur, end: u.start - 1, purpose: vec![] });
        }
        if u.end >= last {
            return out;
        }
        cur = u.end + 1;
    }
    if cur <= last {
        out.push(Span { start: cur, end: last, purpose: vec![] });
    }
    out
}

/// The lowest free address of `net`, if any.
pub fn first_free(net: &IpNet, unavailable: &[Span]) -> Option<IpAddr> {
    let v4 = matches!(net, IpNet::V4(_));
    free_spans(net, unavailable).first().map(|s| from_u128(s.start, v4))
}

/// Number of addresses `net` can hand out at all.
pub fn total_usable(net: &IpNet) -> u128 {
    let (a, b) = usable(net);
    b - a + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(a: u128, b: u128) -> Span {
        Span { start: a, end: b, purpose: vec!["x".into()] }
    }

    #[test]
    fn v4_bounds_and_first_free() {
        let n = parse_cidr("10.0.0.77/24").unwrap();
        assert_eq!(n.to_string(), "10.0.0.0/24");
        let (a, b) = usable(&n);
        assert_eq!(from_u128(a, true).to_string(), "10.0.0.1");
        assert_eq!(from_u128(b, true).to_string(), "10.0.0.254");
        let gw = to_u128("10.0.0.1".parse().unwrap());
        let unavailable = merge(vec![span(gw, gw), span(gw + 1, gw + 9)]);
        assert_eq!(unavailable.len(), 1);
        assert_eq!(first_free(&n, &unavailable).unwrap().to_string(), "10.0.0.11");
        assert_eq!(total_usable(&n), 254);
        let all = vec![span(a, b)];
        assert!(first_free(&n, &all).is_none());
    }

    #[test]
    fn v6_and_small_nets() {
        let n = parse_cidr("2001:db8::/64").unwrap();
        assert_eq!(first_free(&n, &[]).unwrap().to_string(), "2001:db8::1");
        let n = parse_cidr("192.168.1.4/31").unwrap();
        assert_eq!(total_usable(&n), 2);
        let n = parse_cidr("192.168.1.4/32").unwrap();
        assert_eq!(first_free(&n, &[]).unwrap().to_string(), "192.168.1.4");
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("bogus").is_err());
    }

    #[test]
    fn free_spans_between_ranges() {
        let n = parse_cidr("10.0.0.0/28").unwrap(); // .1 – .14
        let base = to_u128("10.0.0.0".parse().unwrap());
        let u = merge(vec![span(base + 3, base + 5), span(base + 10, base + 20)]);
        let f = free_spans(&n, &u);
        assert_eq!(f.iter().map(|s| (s.start - base, s.end - base)).collect::<Vec<_>>(), vec![(1, 2), (6, 9)]);
    }
}
