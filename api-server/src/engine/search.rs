//! The machine search box (`q` on the UI's machines page): MAAS's filter
//! syntax, `status:ready pool:default tags:gpu zone:… owner:…` plus free
//! text, turned into the API's own list filter.
//!
//! A `key:value` term becomes the `machines/` list parameter of the same
//! meaning (`pool:x` is `pool=x`), so every name is resolved and checked by
//! `engine::allocation` exactly as for API clients: no filter rule is
//! written twice. As in MAAS's UI, `key:(a,b)` means a or b, `key:=a` asks
//! for an exact match (the API's filters are exact already) and `key:!a`
//! excludes. Words without a key are free text: each must appear in the
//! hostname, system_id, a MAC address or an IP address of the machine
//! (`NodeFilter::text`, MAAS's `free_text` search narrowed to those fields).

use crate::error::{Error, Result};

/// The keys the search box takes, with the list parameters they become
/// (plain, negated).
const KEYS: &[(&str, &str, &str)] = &[
    ("status", "status", "not_status"),
    ("pool", "pool", "not_in_pool"),
    ("zone", "zone", "not_in_zone"),
    ("tags", "tags", "not_tags"),
    ("tag", "tags", "not_tags"),
    ("owner", "owner", "not_owner"),
    ("arch", "arch", "not_arch"),
    ("domain", "domain", "not_domain"),
    ("hostname", "hostname", "not_hostname"),
    ("system_id", "id", "not_id"),
    ("mac", "mac_address", "mac_address"),
];

/// At most this many terms (each becomes SQL): a pasted essay is refused.
const MAX_TERMS: usize = 32;
/// And no term longer than this.
const MAX_TERM_LEN: usize = 256;

/// A parsed search.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Search {
    /// `machines/` list parameters (`engine::allocation::parse`, List mode).
    pub params: Vec<(String, String)>,
    /// Free-text words, lower-cased.
    pub text: Vec<String>,
}

/// Splits on whitespace outside parentheses and double quotes.
fn terms(q: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut depth, mut quoted) = (0usize, false);
    for ch in q.chars() {
        match ch {
            '"' => quoted = !quoted,
            '(' if !quoted => {
                depth += 1;
                cur.push(ch);
            }
            ')' if !quoted => {
                depth = depth.saturating_sub(1);
                cur.push(ch);
            }
            c if c.is_whitespace() && depth == 0 && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn bad(msg: String) -> Error {
    Error::field("q", msg)
}

/// Parses the search box (400 on `q` naming what is wrong).
pub fn parse(q: &str) -> Result<Search> {
    let mut s = Search::default();
    let all = terms(q);
    if all.len() > MAX_TERMS {
        return Err(bad(format!("Too many search terms: {}, at most {MAX_TERMS}.", all.len())));
    }
    for term in all {
        if term.len() > MAX_TERM_LEN {
            return Err(bad(format!("A search term is longer than {MAX_TERM_LEN} characters.")));
        }
        // MAC and IPv6 fragments have colons but are free text.
        let address_like = term.chars().all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.' | '-'));
        let Some((key, value)) = term.split_once(':').filter(|_| !address_like) else {
            s.text.push(term.to_lowercase());
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let Some((_, plain, negated)) = KEYS.iter().find(|(k, _, _)| *k == key) else {
            let known: Vec<&str> = KEYS.iter().map(|(k, _, _)| *k).collect();
            return Err(bad(format!("Unknown filter '{key}'. Use one of: {}.", known.join(", "))));
        };
        let inner = value.trim();
        let inner = inner.strip_prefix('(').and_then(|v| v.strip_suffix(')')).unwrap_or(inner);
        // `status:` alone would filter on nothing and list everything.
        if inner.split(',').all(|v| v.trim().trim_start_matches('!').is_empty()) {
            return Err(bad(format!("The filter '{key}' needs a value, e.g. {key}:name.")));
        }
        for v in inner.split(',').map(str::trim).filter(|v| !v.is_empty()) {
            let (name, v) = match v.strip_prefix('!') {
                Some(rest) if *negated != *plain => (*negated, rest),
                Some(_) => return Err(bad(format!("'{key}' cannot be negated."))),
                None => (*plain, v),
            };
            let v = v.strip_prefix('=').unwrap_or(v).trim();
            if v.is_empty() {
                return Err(bad(format!("'{key}:' needs a value.")));
            }
            // Status names are the API's (`failed_commissioning`); the UI
            // shows labels ("Failed commissioning"), so both are taken.
            let v = if *plain == "status" { v.to_ascii_lowercase().replace(' ', "_") } else { v.to_string() };
            s.params.push((name.to_string(), v));
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(q: &str) -> Search {
        parse(q).unwrap()
    }

    #[test]
    fn keys_become_list_parameters() {
        let s = p("status:ready pool:default tags:gpu web-01");
        assert_eq!(
            s.params,
            vec![
                ("status".to_string(), "ready".to_string()),
                ("pool".into(), "default".into()),
                ("tags".into(), "gpu".into())
            ]
        );
        assert_eq!(s.text, vec!["web-01"]);
    }

    #[test]
    fn lists_exact_negation_and_quotes() {
        let s = p("zone:(a, b) pool:=x status:!deployed \"Failed commissioning\" status:\"failed testing\"");
        assert_eq!(s.params[0], ("zone".into(), "a".into()));
        assert_eq!(s.params[1], ("zone".into(), "b".into()));
        assert_eq!(s.params[2], ("pool".into(), "x".into()));
        assert_eq!(s.params[3], ("not_status".into(), "deployed".into()));
        assert_eq!(s.params[4], ("status".into(), "failed_testing".into()));
        assert_eq!(s.text, vec!["failed commissioning"]);
    }

    #[test]
    fn mistakes_name_q() {
        for q in ["colour:red", "status:", "mac:!aa", &"x ".repeat(40)] {
            let e = parse(q).unwrap_err();
            assert!(matches!(&e, Error::Validation(m) if m.contains_key("q")), "{q}: {e:?}");
        }
        assert_eq!(p("   "), Search::default());
        assert_eq!(p("52:54:00 fe80::1").text, vec!["52:54:00", "fe80::1"]);
    }
}
