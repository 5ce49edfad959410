//! DHCP snippets (MAAS's `DHCPSnippet`): text an administrator adds to the
//! DHCP configuration, globally, for one subnet (or one of its IP ranges)
//! or for one node, with every earlier value kept (MAAS's versioned text
//! file: `history`, `revert`).
//!
//! MAAS pastes a snippet into dhcpd.conf. Ironpool's rack runs its own DHCP
//! server, so the region translates what that server can honestly do:
//! `option <name> <value>;` statements for the options in [`OPTIONS`],
//! encoded here into wire form ([`RawOption`]) and sent to the racks in
//! their DHCP configuration. Everything else (other statements, blocks,
//! unknown option names, values it cannot encode) is stored as written and
//! reported in [`Translation::unapplied`], which the API shows with the
//! snippet (docs/dhcp-snippets.md).

use std::net::Ipv4Addr;

use ipnet::IpNet;
use ironpool_common::dhcp::{
    Cidr, HostOptions, MacAddr, RangeOptions, RawOption, SnippetOptions, SubnetOptions, PROTECTED_OPTION_CODES,
};

use crate::db;
use crate::db::dhcp_snippets::{Snippet, SnippetFields, Version};
use crate::db::network::{IpRange, Subnet};
use crate::db::nodes::{Node, NodeFilter};
use crate::db::DbConn;
use crate::engine;
use crate::error::{Error, FieldErrors, Result};

/// What a create or update sends; `None` is an absent field (kept on
/// update, MAAS's API forms start from the instance).
#[derive(Debug, Clone, Default)]
pub struct SnippetInput {
    pub name: Option<String>,
    pub value: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    /// system_id or hostname; blank clears.
    pub node: Option<String>,
    /// id, CIDR or name; blank clears.
    pub subnet: Option<String>,
    /// id; blank clears.
    pub iprange: Option<String>,
    pub global_snippet: Option<bool>,
}

/// A snippet with its history, newest first (`versions[0]` is the value).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub snippet: Snippet,
    pub versions: Vec<Version>,
}

impl Loaded {
    pub fn value(&self) -> &str {
        self.versions.first().map(|v| v.data.as_str()).unwrap_or("")
    }
}

/// The snippet a URL names: its id, else its name (MAAS's specifiers).
pub fn get(c: &mut DbConn, key: &str) -> Result<Loaded> {
    let key = key.strip_prefix("id:").or_else(|| key.strip_prefix("name:")).unwrap_or(key);
    let found = match key.parse::<i64>() {
        Ok(id) => db::dhcp_snippets::by_id(c, id)?,
        Err(_) => db::dhcp_snippets::by_name(c, key)?.into_iter().next(),
    };
    let snippet = found.ok_or(Error::NotFound("DHCPSnippet"))?;
    load(c, snippet)
}

fn load(c: &mut DbConn, snippet: Snippet) -> Result<Loaded> {
    let versions = db::dhcp_snippets::versions_of(c, &[snippet.id])?;
    Ok(Loaded { snippet, versions })
}

/// Every snippet with its history, in id order (two queries).
pub fn all(c: &mut DbConn) -> Result<Vec<Loaded>> {
    let snippets = db::dhcp_snippets::all(c)?;
    let ids: Vec<i64> = snippets.iter().map(|s| s.id).collect();
    let mut versions = db::dhcp_snippets::versions_of(c, &ids)?;
    Ok(snippets
        .into_iter()
        .map(|snippet| {
            let (mine, rest): (Vec<Version>, Vec<Version>) =
                std::mem::take(&mut versions).into_iter().partition(|v| v.snippet_id == snippet.id);
            versions = rest;
            Loaded { snippet, versions: mine }
        })
        .collect())
}

/// MAAS stores snippet text with Unix line ends (it goes into a Unix file).
fn unix(text: &str) -> String {
    text.replace("\r\n", "\n")
}

/// `Select a valid choice…` as Django's choice fields word it.
fn invalid_choice() -> String {
    "Select a valid choice. That choice is not one of the available choices.".into()
}

/// A node by system_id or hostname (MAAS's `NodeChoiceField`).
fn node_named(c: &mut DbConn, key: &str) -> Result<Option<Node>> {
    if let Some(n) = db::nodes::by_system_id(c, key)? {
        return Ok(Some(n));
    }
    let f = NodeFilter { hostnames: Some(vec![key.to_string()]), ..Default::default() };
    Ok(db::nodes::list(c, &f)?.into_iter().next())
}

/// Resolves the fields against the database, then applies MAAS's
/// `DHCPSnippetForm.clean` and `DHCPSnippet.clean` rules. `old` is the
/// snippet being updated (absent fields keep its values).
fn resolve(c: &mut DbConn, old: Option<&Loaded>, input: &SnippetInput) -> Result<(SnippetFields, Option<String>)> {
    let mut errors = FieldErrors::new();
    let mut err = |f: &str, m: String| errors.entry(f.to_string()).or_default().push(m);
    let name = match (&input.name, old) {
        (Some(n), _) if !n.trim().is_empty() => n.trim().to_string(),
        (Some(_), None) | (None, None) => {
            err("name", "This field is required.".into());
            String::new()
        }
        // MAAS's update form has the name optional: blank keeps it.
        (_, Some(o)) => o.snippet.name.clone(),
    };
    // The value: required on create ("Must be given a value", MAAS's
    // VersionedTextFileField); an update without one keeps the current.
    let value = input.value.as_deref().map(unix);
    if old.is_none() && value.is_none() {
        err("value", "Must be given a value".into());
    }
    let node_id = match input.node.as_deref().map(str::trim) {
        None => old.and_then(|o| o.snippet.node_id),
        Some("") => None,
        Some(key) => match node_named(c, key)? {
            Some(n) => Some(n.id),
            None => {
                err("node", format!("Select a valid choice. {key} is not one of the available choices."));
                None
            }
        },
    };
    let subnet: Option<Subnet> = match input.subnet.as_deref().map(str::trim) {
        None => match old.and_then(|o| o.snippet.subnet_id) {
            Some(id) => db::network::subnet_by_id(c, id)?,
            None => None,
        },
        Some("") => None,
        Some(key) => match engine::network::subnet(c, key) {
            Ok(s) => Some(s),
            Err(Error::NotFound(_)) => {
                err(
                    "subnet",
                    if key.parse::<i64>().is_ok() { format!("None found with id={key}.") } else { invalid_choice() },
                );
                None
            }
            Err(e) => return Err(e),
        },
    };
    let iprange: Option<IpRange> = match input.iprange.as_deref().map(str::trim) {
        None => match old.and_then(|o| o.snippet.iprange_id) {
            Some(id) => db::network::range_by_id(c, id)?,
            None => None,
        },
        Some("") => None,
        Some(key) => match key.parse::<i64>() {
            Ok(id) => match db::network::range_by_id(c, id)? {
                Some(r) => Some(r),
                None => {
                    err("iprange", format!("None found with id={key}."));
                    None
                }
            },
            Err(_) => {
                err("iprange", invalid_choice());
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let mut subnet_id = subnet.as_ref().map(|s| s.id);
    let mut node_id = node_id;
    let mut iprange = iprange;
    let old_node = old.and_then(|o| o.snippet.node_id);
    let old_subnet = old.and_then(|o| o.snippet.subnet_id);
    if input.global_snippet == Some(true) {
        // "removes any node or subnet links"; the range goes with its subnet.
        node_id = None;
        subnet_id = None;
        iprange = None;
    } else if old_subnet == subnet_id && node_id.is_some() {
        // Naming a node moves a subnet snippet to it (and back below).
        subnet_id = None;
    } else if old_node == node_id && subnet_id.is_some() {
        node_id = None;
    }
    if node_id.is_some() && subnet_id.is_some() {
        return Err(Error::field("__all__", "A DHCP snippet cannot be enabled on a node and subnet at the same time."));
    }
    if let Some(r) = &iprange {
        match subnet_id {
            // MAAS's words, missing space included.
            None => {
                return Err(Error::field(
                    "__all__",
                    "A DHCP snippet cannot be enabled on an iprange withouta parent subnet",
                ))
            }
            Some(sid) if sid != r.subnet_id => {
                return Err(Error::field("__all__", "A DHCP snippet's IP Range must be within the parent subnet"))
            }
            Some(_) => {}
        }
    }
    let fields = SnippetFields {
        name,
        description: input
            .description
            .clone()
            .or_else(|| old.map(|o| o.snippet.description.clone()))
            .unwrap_or_default(),
        enabled: input.enabled.or(old.map(|o| o.snippet.enabled)).unwrap_or(true),
        node_id,
        subnet_id,
        iprange_id: iprange.map(|r| r.id),
    };
    Ok((fields, value))
}

pub fn create(c: &mut DbConn, input: &SnippetInput) -> Result<Loaded> {
    let (fields, value) = resolve(c, None, input)?;
    let id = db::dhcp_snippets::insert(c, &fields)?;
    db::dhcp_snippets::add_version(c, id, value.as_deref().unwrap_or(""))?;
    get(c, &id.to_string())
}

/// Updates the fields given; a changed value becomes a new version, the
/// old one stays in the history (an unchanged value adds none, as MAAS).
pub fn update(c: &mut DbConn, key: &str, input: &SnippetInput) -> Result<Loaded> {
    let old = get(c, key)?;
    let (fields, value) = resolve(c, Some(&old), input)?;
    db::dhcp_snippets::update(c, old.snippet.id, &fields)?;
    if let Some(v) = value.filter(|v| v != old.value()) {
        db::dhcp_snippets::add_version(c, old.snippet.id, &v)?;
    }
    get(c, &old.snippet.id.to_string())
}

pub fn delete(c: &mut DbConn, key: &str) -> Result<()> {
    let old = get(c, key)?;
    db::dhcp_snippets::delete(c, old.snippet.id)
}

/// `revert`: `to` is a version id from the history or a negative count of
/// steps back; versions newer than the target are dropped (MAAS keeps no
/// branch either). 0, or the current version's id, changes nothing.
pub fn revert(c: &mut DbConn, key: &str, to: i64) -> Result<Loaded> {
    let s = get(c, key)?;
    let target = if to == 0 {
        return Ok(s);
    } else if to < 0 {
        let back = to.unsigned_abs() as usize;
        s.versions.get(back).ok_or_else(|| Error::BadRequest("Goes too far back.".into()))?.id
    } else {
        s.versions
            .iter()
            .find(|v| v.id == to)
            .ok_or_else(|| Error::BadRequest(format!("{to} not found in history")))?
            .id
    };
    db::dhcp_snippets::delete_versions_after(c, s.snippet.id, target)?;
    db::dhcp_snippets::touch(c, s.snippet.id)?;
    get(c, &s.snippet.id.to_string())
}

// ------------------------------------------------------------- translation

/// How an option's value is written in dhcpd.conf and encoded on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ip,
    Ips,
    U8,
    U16,
    U32,
    I32,
    Flag,
    Text,
    Domains,
}

/// The options Ironpool's DHCP server applies from snippets, by their ISC
/// dhcpd names (dhcp-options(5)).
const OPTIONS: &[(&str, u8, Kind)] = &[
    ("subnet-mask", 1, Kind::Ip),
    ("time-offset", 2, Kind::I32),
    ("routers", 3, Kind::Ips),
    ("time-servers", 4, Kind::Ips),
    ("domain-name-servers", 6, Kind::Ips),
    ("log-servers", 7, Kind::Ips),
    ("host-name", 12, Kind::Text),
    ("domain-name", 15, Kind::Text),
    ("root-path", 17, Kind::Text),
    ("ip-forwarding", 19, Kind::Flag),
    ("default-ip-ttl", 23, Kind::U8),
    ("interface-mtu", 26, Kind::U16),
    ("broadcast-address", 28, Kind::Ip),
    ("ntp-servers", 42, Kind::Ips),
    ("netbios-name-servers", 44, Kind::Ips),
    ("netbios-node-type", 46, Kind::U8),
    ("tftp-server-name", 66, Kind::Text),
    ("bootfile-name", 67, Kind::Text),
    ("smtp-server", 69, Kind::Ips),
    ("pop-server", 70, Kind::Ips),
    ("www-server", 72, Kind::Ips),
    ("domain-search", 119, Kind::Domains),
    ("vendor-encapsulated-options", 43, Kind::Text),
    ("dhcp-lease-time", 51, Kind::U32),
];

/// What the DHCP server will do with a snippet's text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Translation {
    pub options: Vec<RawOption>,
    /// `<statement>: <why it is not applied>`, in text order.
    pub unapplied: Vec<String>,
}

/// Splits dhcpd.conf text into statements (`;`-terminated, comments and
/// quoted text respected). Braces make the whole snippet a block, which the
/// server cannot apply: `None`.
fn statements(text: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut comment = false;
    for ch in text.chars() {
        if comment {
            if ch == '\n' {
                comment = false;
                cur.push(' ');
            }
            continue;
        }
        match ch {
            '"' => {
                quoted = !quoted;
                cur.push(ch);
            }
            '#' if !quoted => comment = true,
            '{' | '}' if !quoted => return None,
            ';' if !quoted => {
                out.push(std::mem::take(&mut cur).split_whitespace().collect::<Vec<_>>().join(" "));
            }
            c => cur.push(c),
        }
    }
    let rest = cur.split_whitespace().collect::<Vec<_>>().join(" ");
    if !rest.is_empty() {
        out.push(rest);
    }
    Some(out.into_iter().filter(|s| !s.is_empty()).collect())
}

/// Comma-separated items; quoted items keep their commas.
fn items(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for ch in v.chars() {
        match ch {
            '"' => {
                quoted = !quoted;
                cur.push(ch);
            }
            ',' if !quoted => out.push(std::mem::take(&mut cur).trim().to_string()),
            c => cur.push(c),
        }
    }
    out.push(cur.trim().to_string());
    out
}

fn unquote(v: &str) -> Option<&str> {
    v.strip_prefix('"')?.strip_suffix('"')
}

fn encode(kind: Kind, v: &str) -> std::result::Result<Vec<u8>, String> {
    let ip = |s: &str| {
        s.parse::<Ipv4Addr>()
            .map(|a| a.octets().to_vec())
            .map_err(|_| format!("'{s}' is not an IPv4 address (host names are not resolved)"))
    };
    let int = |s: &str| s.parse::<i64>().map_err(|_| format!("'{s}' is not a number"));
    let ranged = |n: i64, lo: i64, hi: i64| {
        if (lo..=hi).contains(&n) {
            Ok(n)
        } else {
            Err(format!("{n} is out of range ({lo}..{hi})"))
        }
    };
    match kind {
        Kind::Ip => ip(v),
        Kind::Ips => items(v).iter().map(|s| ip(s)).collect::<std::result::Result<Vec<_>, _>>().map(|v| v.concat()),
        Kind::U8 => Ok(vec![ranged(int(v)?, 0, 255)? as u8]),
        Kind::U16 => Ok((ranged(int(v)?, 0, 65_535)? as u16).to_be_bytes().to_vec()),
        Kind::U32 => Ok((ranged(int(v)?, 0, u32::MAX as i64)? as u32).to_be_bytes().to_vec()),
        Kind::I32 => Ok((ranged(int(v)?, i32::MIN as i64, i32::MAX as i64)? as i32).to_be_bytes().to_vec()),
        Kind::Flag => match v {
            "true" | "on" | "1" => Ok(vec![1]),
            "false" | "off" | "0" => Ok(vec![0]),
            _ => Err(format!("'{v}' is not true or false")),
        },
        Kind::Text => unquote(v).map(|s| s.as_bytes().to_vec()).ok_or_else(|| format!("{v} is not a quoted string")),
        Kind::Domains => {
            // RFC 1035 names, uncompressed (RFC 3397 allows it).
            let mut out = Vec::new();
            for item in items(v) {
                let name = unquote(&item).ok_or_else(|| format!("{item} is not a quoted domain name"))?;
                for label in name.trim_end_matches('.').split('.') {
                    if label.is_empty() || label.len() > 63 {
                        return Err(format!("'{name}' is not a domain name"));
                    }
                    out.push(label.len() as u8);
                    out.extend_from_slice(label.as_bytes());
                }
                out.push(0);
            }
            Ok(out)
        }
    }
}

/// Translates a snippet's text into the options the DHCP server applies.
pub fn translate(text: &str) -> Translation {
    let mut t = Translation::default();
    let Some(stmts) = statements(text) else {
        t.unapplied.push("blocks ({ ... }) are not applied by Ironpool's DHCP server".into());
        return t;
    };
    for stmt in stmts {
        let Some(rest) = stmt.strip_prefix("option ") else {
            t.unapplied.push(format!("{stmt}: only 'option <name> <value>;' statements are applied"));
            continue;
        };
        let (name, value) = rest.split_once(' ').unwrap_or((rest, ""));
        let Some((_, code, kind)) = OPTIONS.iter().find(|(n, _, _)| *n == name) else {
            t.unapplied.push(format!("{stmt}: option '{name}' is not one Ironpool's DHCP server applies"));
            continue;
        };
        if PROTECTED_OPTION_CODES.contains(code) {
            t.unapplied.push(format!("{stmt}: the DHCP server sets '{name}' itself"));
            continue;
        }
        match encode(*kind, value.trim()) {
            Ok(data) if data.len() > 255 => t.unapplied.push(format!("{stmt}: the value is longer than 255 bytes")),
            Ok(data) if data.is_empty() && *kind != Kind::Text => t.unapplied.push(format!("{stmt}: no value")),
            Ok(data) => t.options.push(RawOption { code: *code, data }),
            Err(why) => t.unapplied.push(format!("{stmt}: {why}")),
        }
    }
    t
}

fn cidr(s: &Subnet) -> Option<Cidr> {
    match s.cidr.parse::<IpNet>().ok()? {
        IpNet::V4(n) => Some(Cidr { network: n.network(), prefix: n.prefix_len() }),
        IpNet::V6(_) => None,
    }
}

/// The options of the enabled snippets a rack serving `subnet_ids` applies:
/// global ones, those of its subnets and their ranges, and node ones for
/// every MAC of the node. Snippets apply in id order within a scope.
pub fn rack_options(c: &mut DbConn, subnet_ids: &[i64]) -> Result<SnippetOptions> {
    let mut out = SnippetOptions::default();
    for s in all(c)?.into_iter().filter(|s| s.snippet.enabled) {
        let options = translate(s.value()).options;
        if options.is_empty() {
            continue;
        }
        let sn = &s.snippet;
        match (sn.node_id, sn.subnet_id, sn.iprange_id) {
            (Some(node), _, _) => {
                for i in db::network::interfaces_of(c, node)? {
                    if let Some(mac) = i.mac_address.as_deref().and_then(|m| m.parse::<MacAddr>().ok()) {
                        out.hosts.push(HostOptions { mac, options: options.clone() });
                    }
                }
            }
            (None, Some(subnet), range) if subnet_ids.contains(&subnet) => {
                let Some(sub) = db::network::subnet_by_id(c, subnet)? else { continue };
                let Some(cidr) = cidr(&sub) else { continue };
                match range.map(|r| db::network::range_by_id(c, r)).transpose()?.flatten() {
                    Some(r) => {
                        if let (Ok(start), Ok(end)) = (r.start_ip.parse(), r.end_ip.parse()) {
                            out.ranges.push(RangeOptions { start, end, options });
                        }
                    }
                    None => out.subnets.push(SubnetOptions { cidr, options }),
                }
            }
            (None, Some(_), _) => {}
            (None, None, _) => out.global.extend(options),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_encoded_the_rest_reported() {
        let t = translate(
            "# site NTP\noption ntp-servers 192.0.2.1, 192.0.2.2;\r\noption domain-name \"ex.com\";\n\
             option interface-mtu 9000; option domain-search \"a.ex\", \"b\";\n\
             default-lease-time 300;\noption ntp-servers ntp.example.com;\noption foo-bar 1;\n\
             option dhcp-server-identifier 10.0.0.1; option interface-mtu 70000",
        );
        assert_eq!(
            t.options,
            vec![
                RawOption { code: 42, data: vec![192, 0, 2, 1, 192, 0, 2, 2] },
                RawOption { code: 15, data: b"ex.com".to_vec() },
                RawOption { code: 26, data: vec![0x23, 0x28] },
                RawOption { code: 119, data: b"\x01a\x02ex\x00\x01b\x00".to_vec() },
            ]
        );
        assert_eq!(t.unapplied.len(), 5, "{:?}", t.unapplied);
        assert!(t.unapplied[0].starts_with("default-lease-time 300: only"));
        assert!(t.unapplied[1].contains("host names are not resolved"));
        assert!(t.unapplied[2].contains("'foo-bar' is not one"));
        assert!(t.unapplied[3].contains("'dhcp-server-identifier' is not one"));
        assert!(t.unapplied[4].contains("out of range"));
        let lease = translate("option dhcp-lease-time 60;");
        assert!(lease.options.is_empty() && lease.unapplied[0].contains("sets 'dhcp-lease-time' itself"));
        let block = translate("host x { hardware ethernet 52:54:00:00:00:01; }");
        assert!(block.options.is_empty() && block.unapplied[0].starts_with("blocks"));
    }
}
