//! The syntax of MAAS's machine constraint language (`machines/?op=allocate`
//! and the filters of `machines/`), checked without any database: which
//! names exist, the `storage` and `interfaces` mini-languages, numbers, and
//! the size limits every request must respect.
//!
//! Why here and not in the region: this is pure text processing that runs on
//! every allocate and machine list, before the region takes a database
//! connection, and a fuzzer (`fuzz/`) exercises it without building the
//! region. Names are resolved against the database later, by the region's
//! `engine::allocation`.
//!
//! Every step is linear in the size of the request: values are grouped with a
//! hash map, each list is split once, and the mini-languages are scanned
//! left to right without searching past the piece being parsed. The limits
//! bound what later stages (SQL `IN` lists, per-machine matching) receive.

use std::collections::{HashMap, HashSet};
use std::fmt;

/// Bytes of parameter names and values one constraint request may carry.
/// MAAS has no such limit; a real allocate or filter is a few hundred bytes,
/// and 10,000 system ids fit in ~70 kB.
pub const MAX_CONSTRAINT_BYTES: usize = 1024 * 1024;
/// Values one request may carry, counting every comma-, semicolon- or
/// space-separated piece of every parameter. It also bounds the bound
/// variables of the SQL filter (SQLite allows 32,766, PostgreSQL 65,535).
pub const MAX_VALUES: usize = 10_000;
/// Bytes of one value (one hostname, tag, subnet specifier or storage piece).
pub const MAX_VALUE_BYTES: usize = 4096;
/// `key=value` terms of one `interfaces` constraint: each is checked against
/// every interface of every candidate machine.
pub const MAX_INTERFACE_TERMS: usize = 1000;

/// What the parameters are for: MAAS filters machine lists with the same
/// constraint form it allocates with, plus list-only filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Allocate,
    List,
}

/// Filters only lists accept (allocation always looks at unowned READY machines).
pub const LIST_ONLY: &[&str] = &[
    "id",
    "not_id",
    "hostname",
    "not_hostname",
    "mac_address",
    "domain",
    "not_domain",
    "agent_name",
    "not_agent_name",
    "status",
    "not_status",
    "simple_status",
    "not_simple_status",
    "not_arch",
    "limit",
    "cursor",
];

/// Parameters that are not constraints but are allowed on allocate.
pub const NON_CONSTRAINTS: &[&str] =
    &["agent_name", "comment", "bridge_all", "bridge_type", "bridge_stp", "bridge_fd", "dry_run", "verbose"];

/// Every constraint name allocate accepts.
pub const CONSTRAINTS: &[&str] = &[
    "name",
    "system_id",
    "arch",
    "cpu_count",
    "mem",
    "cpu_speed",
    "tags",
    "not_tags",
    "zone",
    "not_in_zone",
    "not_in_zones",
    "pool",
    "not_in_pool",
    "fabrics",
    "not_fabrics",
    "fabric_classes",
    "not_fabric_classes",
    "vlans",
    "not_vlans",
    "subnets",
    "not_subnets",
    "link_speed",
    "interfaces",
    "storage",
    "devices",
    "deployment_target",
    "not_deployment_target",
    "owner",
    "not_owner",
    "power_state",
    "not_power_state",
    "pod",
    "not_pod",
    "pod_type",
    "not_pod_type",
];

/// Keys an `interfaces` label may constrain (each also with `not_`).
pub const INTERFACE_KEYS: &[&str] = &[
    "id",
    "fabric",
    "fabric_class",
    "ip",
    "mode",
    "name",
    "hostname",
    "subnet",
    "space",
    "subnet_cidr",
    "type",
    "vlan",
    "vid",
    "tag",
    "link_speed",
];

/// Why a constraint request was refused; every kind is a 400 for the client.
#[derive(Debug, Clone, PartialEq)]
pub enum ConstraintError {
    /// Parameters that are no constraint (MAAS: `{"name": ["No such constraint."]}`).
    Unknown(Vec<String>),
    /// One field is wrong.
    Field { field: String, message: String },
    /// The request is over a size limit (the message names it).
    Limit(String),
}

impl ConstraintError {
    fn field(field: &str, message: impl Into<String>) -> Self {
        ConstraintError::Field { field: field.to_string(), message: message.into() }
    }
}

impl fmt::Display for ConstraintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConstraintError::Unknown(names) => write!(f, "No such constraint: {}", names.join(", ")),
            ConstraintError::Field { field, message } => write!(f, "{field}: {message}"),
            ConstraintError::Limit(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ConstraintError {}

/// One `label:size(tags)` storage constraint.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageSpec {
    pub label: Option<String>,
    pub size_gb: f64,
    pub tags: Vec<String>,
}

/// One label of an `interfaces` constraint: key → values (ORed), keys ANDed.
#[derive(Debug, Clone, PartialEq)]
pub struct InterfaceSpec {
    pub label: String,
    pub terms: std::collections::BTreeMap<String, Vec<String>>,
}

/// A constraint request whose names, sizes and mini-languages are valid.
#[derive(Debug, Clone)]
pub struct Constraints<'a> {
    /// Parameter names in first-arrival order.
    order: Vec<&'a str>,
    by_name: HashMap<&'a str, Vec<&'a str>>,
    pub storage: Vec<StorageSpec>,
    /// The `storage` value as submitted (for MAAS's no-match text).
    pub storage_text: Option<String>,
    pub interfaces: Vec<InterfaceSpec>,
    pub interfaces_text: Option<String>,
}

fn is_separator(b: u8) -> bool {
    b == b',' || b == b';' || b.is_ascii_whitespace()
}

/// Checks the limits over all pairs in one pass: total bytes, number of
/// values (counted exactly as [`split_list`] splits them, so no list a later
/// stage builds is longer), bytes of each piece between any separators.
fn check_limits(pairs: &[(String, String)]) -> Result<(), ConstraintError> {
    let total: usize = pairs.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > MAX_CONSTRAINT_BYTES {
        return Err(ConstraintError::Limit(format!(
            "The constraints are too large: {total} bytes, at most {MAX_CONSTRAINT_BYTES} bytes are allowed."
        )));
    }
    let mut count = 0usize;
    for (k, v) in pairs {
        count += v.split([',', ' ']).filter(|p| !p.trim().is_empty()).count();
        if let Some(piece) = v.as_bytes().split(|b| is_separator(*b)).find(|p| p.len() > MAX_VALUE_BYTES) {
            return Err(ConstraintError::Limit(format!(
                "A value of '{k}' is too long: {} bytes, at most {MAX_VALUE_BYTES} bytes are allowed.",
                piece.len()
            )));
        }
    }
    if count > MAX_VALUES {
        return Err(ConstraintError::Limit(format!(
            "Too many constraint values: {count}, at most {MAX_VALUES} are allowed in one request."
        )));
    }
    Ok(())
}

/// Parses a constraint request: limits first, then names, then the
/// `storage`/`interfaces` languages and the numbers.
pub fn parse(pairs: &[(String, String)], mode: Mode) -> Result<Constraints<'_>, ConstraintError> {
    check_limits(pairs)?;
    let mut by_name: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    for (k, v) in pairs {
        let entry = by_name.entry(k.as_str()).or_insert_with(|| {
            order.push(k.as_str());
            Vec::new()
        });
        entry.push(v.as_str());
    }
    let unknown: Vec<String> = order
        .iter()
        .filter(|k| {
            !(CONSTRAINTS.contains(k)
                || match mode {
                    Mode::Allocate => NON_CONSTRAINTS.contains(k),
                    Mode::List => LIST_ONLY.contains(k),
                })
        })
        .map(|k| k.to_string())
        .collect();
    if !unknown.is_empty() {
        return Err(ConstraintError::Unknown(unknown));
    }
    let mut c = Constraints {
        order,
        by_name,
        storage: Vec::new(),
        storage_text: None,
        interfaces: Vec::new(),
        interfaces_text: None,
    };
    // Repeated values (gomaasclient sends each list element as its own
    // field) are one specification, joined with the grammar's separator.
    if let Some(s) = c.joined("storage", ",") {
        c.storage = parse_storage(&s)?;
        c.storage_text = Some(s);
    }
    if let Some(s) = c.joined("interfaces", ";") {
        c.interfaces = parse_interfaces(&s)?;
        c.interfaces_text = Some(s);
    }
    for field in ["cpu_count", "mem", "cpu_speed"] {
        c.min_number(field)?;
    }
    Ok(c)
}

impl<'a> Constraints<'a> {
    /// Names in first-arrival order.
    pub fn names(&self) -> &[&'a str] {
        &self.order
    }

    /// Every value of `name` as submitted.
    pub fn values(&self, name: &str) -> &[&'a str] {
        self.by_name.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The non-blank values of `name` joined with `sep`; `None` if there are none.
    pub fn joined(&self, name: &str, sep: &str) -> Option<String> {
        let v: Vec<&str> = self.values(name).iter().map(|s| s.trim()).filter(|s| !s.is_empty()).collect();
        (!v.is_empty()).then(|| v.join(sep))
    }

    pub fn first(&self, name: &str) -> Option<&'a str> {
        self.values(name).first().copied()
    }

    /// The values of a list parameter: each value split on commas and
    /// spaces, blanks dropped, duplicates kept (MAAS's no-match text shows
    /// them).
    pub fn list(&self, name: &str) -> Vec<String> {
        split_list(self.values(name))
    }

    /// The smallest of the numbers given for `field` (MAAS takes the minimum).
    pub fn min_number(&self, field: &str) -> Result<Option<f64>, ConstraintError> {
        let mut best: Option<f64> = None;
        for v in self.values(field).iter().filter(|v| !v.trim().is_empty()) {
            let n: f64 = v.trim().parse().map_err(|_| ConstraintError::field(field, format!("Invalid number: {v}")))?;
            if !n.is_finite() || n < 0.0 {
                return Err(ConstraintError::field(field, format!("Invalid number: {v}")));
            }
            best = Some(best.map_or(n, |b: f64| b.min(n)));
        }
        Ok(best)
    }
}

/// Splits list values on commas and spaces, dropping blanks.
pub fn split_list(values: &[&str]) -> Vec<String> {
    values.iter().flat_map(|v| v.split([',', ' '])).map(str::trim).filter(|v| !v.is_empty()).map(String::from).collect()
}

/// Parses `[label:]size[(tag,…)][,…]`; the whole value must parse.
pub fn parse_storage(value: &str) -> Result<Vec<StorageSpec>, ConstraintError> {
    let bad = || ConstraintError::field("storage", format!("Malformed storage constraint, \"{value}\"."));
    let mut out = Vec::new();
    let mut rest = value.trim();
    if rest.is_empty() {
        return Ok(out);
    }
    loop {
        // A label is what comes before a ':' that precedes any '(' or ','
        // of this piece. Only this piece is scanned (searching the whole
        // remainder for ':' made many unlabelled pieces quadratic).
        let mut label = None;
        let piece_end = rest.find([',', '(', ':']).unwrap_or(rest.len());
        if rest[piece_end..].starts_with(':') {
            let before = &rest[..piece_end];
            if before.is_empty() || !before.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return Err(bad());
            }
            label = Some(before.to_string());
            rest = &rest[piece_end + 1..];
        }
        let size_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let size: f64 = rest[..size_end].parse().map_err(|_| bad())?;
        if !size.is_finite() || size < 0.0 {
            return Err(bad());
        }
        rest = &rest[size_end..];
        let mut tags = Vec::new();
        if let Some(r) = rest.strip_prefix('(') {
            // Tags are alphanumerics and `-_.`, so the first character that
            // is none of those nor a separator ends the scan: a missing ')'
            // does not search the rest of the value.
            let close = r
                .find(|c: char| !(c.is_ascii_alphanumeric() || "-_., ".contains(c)))
                .filter(|i| r[*i..].starts_with(')'))
                .ok_or_else(bad)?;
            for t in r[..close].split(',') {
                let t = t.trim();
                if t.is_empty() || !t.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                    return Err(bad());
                }
                tags.push(t.to_string());
            }
            rest = &r[close + 1..];
        }
        out.push(StorageSpec { label, size_gb: size, tags });
        if rest.is_empty() {
            return Ok(out);
        }
        rest = rest.strip_prefix(',').ok_or_else(bad)?;
        if rest.is_empty() {
            return Err(bad());
        }
    }
}

/// Parses `label:key=value[,key=value…][;label:…]`.
pub fn parse_interfaces(value: &str) -> Result<Vec<InterfaceSpec>, ConstraintError> {
    let bad = |why: String| ConstraintError::field("interfaces", why);
    let mut out: Vec<InterfaceSpec> = Vec::new();
    let mut labels: HashSet<&str> = HashSet::new();
    let mut terms_total = 0usize;
    for part in value.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (label, body) = part
            .split_once(':')
            .ok_or_else(|| bad(format!("Malformed interfaces constraint '{part}': expected label:key=value.")))?;
        let label_ok = label.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !label_ok {
            return Err(bad(format!("Invalid interfaces label '{label}'.")));
        }
        if !labels.insert(label) {
            return Err(bad(format!("Duplicate interfaces label '{label}'.")));
        }
        let mut terms: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
        for pair in body.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| bad(format!("Malformed interfaces constraint '{pair}': expected key=value.")))?;
            let base = k.strip_prefix("not_").unwrap_or(k);
            if !INTERFACE_KEYS.contains(&base) {
                return Err(bad(format!("Unknown interfaces constraint: '{k}")));
            }
            terms_total += 1;
            if terms_total > MAX_INTERFACE_TERMS {
                return Err(ConstraintError::Limit(format!(
                    "The interfaces constraint has too many terms: at most {MAX_INTERFACE_TERMS} are allowed."
                )));
            }
            terms.entry(k.to_string()).or_default().push(v.to_string());
        }
        if terms.is_empty() {
            return Err(bad(format!("Interfaces label '{label}' has no constraints.")));
        }
        out.push(InterfaceSpec { label: label.to_string(), terms });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// gomaasclient sends each element of `storage` / `interfaces` as its
    /// own field: they make one specification, not just the first.
    #[test]
    fn repeated_storage_and_interfaces_join() {
        let p = pairs(&[
            ("storage", "root:32(ssd)"),
            ("storage", "data:100"),
            ("interfaces", "eth0:space=a"),
            ("interfaces", " "),
            ("interfaces", "eth1:space=b"),
        ]);
        let c = parse(&p, Mode::Allocate).unwrap();
        assert_eq!(c.storage.len(), 2);
        assert_eq!(c.storage[1].label.as_deref(), Some("data"));
        assert_eq!(c.storage_text.as_deref(), Some("root:32(ssd),data:100"));
        assert_eq!(c.interfaces.len(), 2);
        assert_eq!(c.interfaces_text.as_deref(), Some("eth0:space=a;eth1:space=b"));
    }

    #[test]
    fn storage_syntax() {
        let s = parse_storage("root:32(ssd),data:100,5.5(a,b)").unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0], StorageSpec { label: Some("root".into()), size_gb: 32.0, tags: vec!["ssd".into()] });
        assert_eq!(s[1].label.as_deref(), Some("data"));
        assert_eq!(s[2].label, None);
        assert_eq!(s[2].tags, vec!["a", "b"]);
        assert_eq!(parse_storage("10,x:5").unwrap()[1].label.as_deref(), Some("x"));
        for bad in
            ["root:", "x", "10(ssd", "10,", ":10", "10 20", "a b:10", "-5", "10()", "10(a,)", "10(a;b)", "10(a b)"]
        {
            assert!(parse_storage(bad).is_err(), "{bad}");
        }
        assert!(parse_storage("").unwrap().is_empty());
    }

    #[test]
    fn interfaces_syntax() {
        let s = parse_interfaces("2:space=2;eth:name=eth0,name=eth1,not_type=bond").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].terms["name"], vec!["eth0", "eth1"]);
        assert!(matches!(parse_interfaces("a:bogus=1"), Err(ConstraintError::Field { .. })));
        assert!(parse_interfaces("a:space=1;a:space=2").is_err());
        assert!(parse_interfaces("nolabel").is_err());
        assert!(parse_interfaces("-x:space=1").is_err());
        let many = format!("a:{}", vec!["name=x"; MAX_INTERFACE_TERMS + 1].join(","));
        assert!(matches!(parse_interfaces(&many), Err(ConstraintError::Limit(_))));
    }

    #[test]
    fn names_and_limits() {
        let p = pairs(&[("tags", "a,b c"), ("tags", "d"), ("bogus", "1"), ("id", "x")]);
        assert_eq!(parse(&p, Mode::List).unwrap_err(), ConstraintError::Unknown(vec!["bogus".into()]));
        let p = pairs(&[("tags", "a,b c"), ("tags", "d"), ("id", "x")]);
        assert!(matches!(parse(&p, Mode::Allocate), Err(ConstraintError::Unknown(n)) if n == ["id"]));
        let c = parse(&p, Mode::List).unwrap();
        assert_eq!(c.list("tags"), vec!["a", "b", "c", "d"]);
        assert_eq!(c.names(), ["tags", "id"]);

        let ids = vec!["abcdef"; MAX_VALUES + 1].join(",");
        let err = parse(&pairs(&[("id", &ids)]), Mode::List).unwrap_err();
        assert!(matches!(&err, ConstraintError::Limit(m) if m.contains("at most 10000")), "{err:?}");
        let ids = vec!["abcdef"; MAX_VALUES].join(",");
        assert_eq!(parse(&pairs(&[("id", &ids)]), Mode::List).unwrap().list("id").len(), MAX_VALUES);

        let long = "x".repeat(MAX_VALUE_BYTES + 1);
        assert!(matches!(parse(&pairs(&[("hostname", &long)]), Mode::List), Err(ConstraintError::Limit(_))));
        // Separators alone are no values, but cannot hide values either.
        let sneaky = vec![";"; MAX_VALUES + 1].join(",");
        assert!(matches!(parse(&pairs(&[("id", &sneaky)]), Mode::List), Err(ConstraintError::Limit(_))));
        let huge = "x ".repeat(MAX_CONSTRAINT_BYTES / 2 + 1);
        let err = parse(&pairs(&[("hostname", &huge)]), Mode::List).unwrap_err();
        assert!(matches!(&err, ConstraintError::Limit(m) if m.contains("too large")), "{err:?}");

        assert!(matches!(parse(&pairs(&[("mem", "-1")]), Mode::Allocate), Err(ConstraintError::Field { .. })));
        let mem = pairs(&[("mem", "2048"), ("mem", "1024")]);
        let c = parse(&mem, Mode::Allocate).unwrap();
        assert_eq!(c.min_number("mem").unwrap(), Some(1024.0));
    }
}
