//! `machines/?op=allocate`: MAAS's constraint language, parsed into a
//! [`NodeFilter`] plus the labelled constraints evaluated per machine, and the
//! race-free choice of the cheapest matching machine (`maas-api.md` §9).
//!
//! Race-freedom: the chosen machine is claimed with a compare-and-set UPDATE
//! (`WHERE status = READY AND owner IS NULL`). On SQLite the whole allocation
//! runs in one `BEGIN IMMEDIATE` transaction (one writer at a time); on
//! PostgreSQL a concurrent claimer blocks on the row and then sees zero rows
//! updated, so it moves on to the next candidate. No machine is ever handed
//! out twice.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::db;
use crate::db::nodes::{Node, NodeChanges, NodeFilter};
use crate::db::related::Related;
use crate::db::users::User;
use crate::db::DbConn;
use crate::engine;
use crate::engine::lifecycle::{NodeType, Status};
use crate::engine::storage::matching::{parse_storage, StorageSpec};
use crate::error::{Error, FieldErrors, Result};

/// What the parameters are for: MAAS filters machine lists with the same
/// constraint form it allocates with, plus list-only filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Allocate,
    List,
}

/// Filters only lists accept (allocation always looks at unowned READY machines).
const LIST_ONLY: &[&str] = &[
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
const NON_CONSTRAINTS: &[&str] =
    &["agent_name", "comment", "bridge_all", "bridge_type", "bridge_stp", "bridge_fd", "dry_run", "verbose"];

/// Every constraint name allocate accepts.
const CONSTRAINTS: &[&str] = &[
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

/// One label of an `interfaces` constraint: key → values (ORed), keys ANDed.
#[derive(Debug, Clone, PartialEq)]
pub struct InterfaceSpec {
    pub label: String,
    pub terms: BTreeMap<String, Vec<String>>,
}

const INTERFACE_KEYS: &[&str] = &[
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

/// Parses `label:key=value[,key=value…][;label:…]`.
pub fn parse_interfaces(value: &str) -> Result<Vec<InterfaceSpec>> {
    let bad = |why: String| Error::field("interfaces", why);
    let mut out: Vec<InterfaceSpec> = Vec::new();
    for part in value.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (label, body) = part
            .split_once(':')
            .ok_or_else(|| bad(format!("Malformed interfaces constraint '{part}': expected label:key=value.")))?;
        let label_ok = label.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !label_ok {
            return Err(bad(format!("Invalid interfaces label '{label}'.")));
        }
        if out.iter().any(|s| s.label == label) {
            return Err(bad(format!("Duplicate interfaces label '{label}'.")));
        }
        let mut terms: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for pair in body.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| bad(format!("Malformed interfaces constraint '{pair}': expected key=value.")))?;
            let base = k.strip_prefix("not_").unwrap_or(k);
            if !INTERFACE_KEYS.contains(&base) {
                return Err(bad(format!("Unknown interfaces constraint: '{k}")));
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

/// A parsed allocation request.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub filter: NodeFilter,
    pub storage: Vec<StorageSpec>,
    pub interfaces: Vec<InterfaceSpec>,
    /// Node-level network parameters as submitted (for the no-match text)…
    pub network: Vec<(String, Vec<String>)>,
    /// …and resolved against the network model.
    pub net: engine::netmatch::NetConstraints,
    pub agent_name: String,
    pub comment: String,
    pub dry_run: bool,
    pub verbose: bool,
    /// The submitted parameters (for MAAS's no-match message).
    pub submitted: Vec<(String, Vec<String>)>,
    pub resolved: BTreeMap<String, String>,
    pub system_id_only: Option<String>,
}

fn split_list(values: &[&str]) -> Vec<String> {
    values.iter().flat_map(|v| v.split([',', ' '])).map(str::trim).filter(|v| !v.is_empty()).map(String::from).collect()
}

fn min_number(field: &str, values: &[&str]) -> Result<Option<f64>> {
    let mut best: Option<f64> = None;
    for v in values.iter().filter(|v| !v.trim().is_empty()) {
        let n: f64 = v.trim().parse().map_err(|_| Error::field(field, format!("Invalid number: {v}")))?;
        if !n.is_finite() || n < 0.0 {
            return Err(Error::field(field, format!("Invalid number: {v}")));
        }
        best = Some(best.map_or(n, |b: f64| b.min(n)));
    }
    Ok(best)
}

/// Parses and validates the parameters of an allocate call (400 naming the
/// field for anything wrong), resolving names to ids.
pub fn parse(c: &mut DbConn, pairs: &[(String, String)], mode: Mode) -> Result<Request> {
    let mut by_name: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for (k, v) in pairs {
        if !by_name.contains_key(k.as_str()) {
            order.push(k);
        }
        by_name.entry(k).or_default().push(v);
    }
    let mut errors = FieldErrors::new();
    for k in &order {
        let known = CONSTRAINTS.contains(k)
            || match mode {
                Mode::Allocate => NON_CONSTRAINTS.contains(k),
                Mode::List => LIST_ONLY.contains(k),
            };
        if !known {
            errors.insert(k.to_string(), vec!["No such constraint.".into()]);
        }
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let get = |k: &str| by_name.get(k).cloned().unwrap_or_default();
    let mut r = Request {
        filter: match mode {
            Mode::Allocate => NodeFilter {
                node_types: vec![NodeType::Machine],
                statuses: Some(vec![Status::Ready]),
                unlocked_only: true,
                ..Default::default()
            },
            Mode::List => NodeFilter::default(),
        },
        ..Default::default()
    };
    if mode == Mode::List {
        parse_list_filters(c, &get, &mut r.filter)?;
    }
    r.submitted = order
        .iter()
        .filter(|k| CONSTRAINTS.contains(k))
        .map(|k| (k.to_string(), get(k).iter().map(|s| s.to_string()).collect()))
        .collect();

    let names_v = split_list(&get("name"));
    if !names_v.is_empty() {
        // `host.domain` must match both parts; a bare name matches the hostname.
        let hosts: Vec<String> = names_v.iter().map(|n| n.split('.').next().unwrap_or(n).to_string()).collect();
        r.resolved.insert("name".into(), names_v.join(","));
        r.filter.hostnames = Some(hosts);
        let domains: Vec<String> =
            names_v.iter().filter_map(|n| n.split_once('.').map(|(_, d)| d.to_string())).collect();
        if !domains.is_empty() {
            let ids: Vec<i64> =
                db::places::domains(c)?.into_iter().filter(|d| domains.contains(&d.name)).map(|d| d.id).collect();
            r.filter.domain_ids = Some(ids);
        }
    }
    let sids = split_list(&get("system_id"));
    if !sids.is_empty() {
        if sids.len() == 1 {
            r.system_id_only = Some(sids[0].clone());
        }
        r.resolved.insert("system_id".into(), sids.join(","));
        r.filter.ids = Some(sids);
    }
    let arches = split_list(&get("arch"));
    if !arches.is_empty() {
        let mut norm = Vec::new();
        for a in &arches {
            let primary = a.split('/').next().unwrap_or(a);
            let primary = if primary == "arm" { "armhf" } else { primary };
            if !engine::names::ARCHES.contains(&primary) {
                return Err(Error::field("arch", "Architecture not recognised."));
            }
            norm.push(if a.contains('/') {
                engine::names::normalise_arch(a).ok_or_else(|| Error::field("arch", "Architecture not recognised."))?
            } else {
                primary.to_string()
            });
        }
        r.resolved.insert("arch".into(), norm.join(","));
        r.filter.arches = Some(norm);
    }
    if let Some(n) = min_number("cpu_count", &get("cpu_count"))? {
        r.filter.min_cpu_count = Some(n.ceil() as i32);
        r.resolved.insert("cpu_count".into(), format!("{n:.1}"));
    }
    if let Some(n) = min_number("mem", &get("mem"))? {
        r.filter.min_memory = Some(n.ceil() as i64);
        r.resolved.insert("mem".into(), format!("{n:.1}"));
    }
    if let Some(n) = min_number("cpu_speed", &get("cpu_speed"))? {
        r.filter.min_cpu_speed = Some(n.ceil() as i32);
        r.resolved.insert("cpu_speed".into(), format!("{n:.0}"));
    }
    for (field, negate) in [("tags", false), ("not_tags", true)] {
        let wanted = split_list(&get(field));
        if wanted.is_empty() {
            continue;
        }
        let found = db::tags::by_names(c, &wanted)?;
        let missing: Vec<&String> = wanted.iter().filter(|w| !found.iter().any(|t| &t.name == *w)).collect();
        if !missing.is_empty() && !negate {
            return Err(Error::field(
                "tags",
                format!("No such tag(s): {}.", missing.iter().map(|m| format!("'{m}'")).collect::<Vec<_>>().join(", ")),
            ));
        }
        let ids = found.iter().map(|t| t.id).collect();
        if negate {
            r.filter.no_tag_ids = ids;
        } else {
            r.filter.all_tag_ids = ids;
        }
        r.resolved.insert(field.into(), wanted.join(","));
    }
    let zones = db::places::zones(c)?;
    for (field, negate) in [("zone", false), ("not_in_zone", true), ("not_in_zones", true)] {
        let wanted = split_list(&get(field));
        if wanted.is_empty() {
            continue;
        }
        let missing: Vec<&String> = wanted.iter().filter(|w| !zones.iter().any(|z| &z.name == *w)).collect();
        if !missing.is_empty() {
            let f = if field == "zone" { "zone" } else { "not_in_zone" };
            return Err(Error::field(
                f,
                format!("No such zone(s): {}.", missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")),
            ));
        }
        let ids: Vec<i64> = zones.iter().filter(|z| wanted.contains(&z.name)).map(|z| z.id).collect();
        if negate {
            r.filter.not_zone_ids.extend(ids);
        } else {
            r.filter.zone_ids = Some(ids);
        }
        r.resolved.insert(field.into(), wanted.join(","));
    }
    let pools = db::places::pools(c)?;
    for (field, negate) in [("pool", false), ("not_in_pool", true)] {
        let wanted = split_list(&get(field));
        if wanted.is_empty() {
            continue;
        }
        let missing: Vec<&String> = wanted.iter().filter(|w| !pools.iter().any(|p| &p.name == *w)).collect();
        if !missing.is_empty() {
            return Err(Error::field(
                field,
                format!("No such pool(s): {}.", missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")),
            ));
        }
        let ids: Vec<i64> = pools.iter().filter(|p| wanted.contains(&p.name)).map(|p| p.id).collect();
        if negate {
            r.filter.not_pool_ids = ids;
        } else {
            r.filter.pool_ids = Some(ids);
        }
        r.resolved.insert(field.into(), wanted.join(","));
    }
    for (field, negate) in [("power_state", false), ("not_power_state", true)] {
        let v = split_list(&get(field));
        if v.is_empty() {
            continue;
        }
        if negate {
            r.filter.not_power_states = v;
        } else {
            r.filter.power_states = Some(v);
        }
    }
    if let Some(s) = get("storage").first().filter(|s| !s.trim().is_empty()) {
        r.storage = parse_storage(s)?;
        r.resolved.insert("storage".into(), s.to_string());
    }
    if let Some(s) = get("interfaces").first().filter(|s| !s.trim().is_empty()) {
        r.interfaces = parse_interfaces(s)?;
        r.resolved.insert("interfaces".into(), s.to_string());
    }
    for field in [
        "fabrics",
        "not_fabrics",
        "fabric_classes",
        "not_fabric_classes",
        "vlans",
        "not_vlans",
        "subnets",
        "not_subnets",
        "link_speed",
        "devices",
        "pod",
        "pod_type",
    ] {
        let v: Vec<String> = get(field).iter().filter(|s| !s.trim().is_empty()).map(|s| s.to_string()).collect();
        if !v.is_empty() {
            r.resolved.insert(field.into(), v.join(","));
            r.network.push((field.to_string(), v));
        }
    }
    if !r.network.is_empty() {
        let model = db::network::load_model(c)?;
        r.net = engine::netmatch::resolve(&model, &r.network)?;
    }
    for field in ["deployment_target", "not_deployment_target"] {
        for v in split_list(&get(field)) {
            if v != "memory" && v != "disk" {
                return Err(Error::field(
                    field,
                    format!("Select a valid choice. {v} is not one of the available choices."),
                ));
            }
        }
    }
    if mode == Mode::Allocate {
        r.agent_name = get("agent_name").first().map(|s| s.to_string()).unwrap_or_default();
    }
    r.comment = get("comment").first().map(|s| s.to_string()).unwrap_or_default();
    let flag = |k: &str| -> Result<bool> {
        match get(k).first() {
            None => Ok(false),
            Some(v) => engine::parse_bool(v).ok_or_else(|| Error::field(k, format!("'{v}' is not a valid boolean."))),
        }
    };
    r.dry_run = flag("dry_run")?;
    r.verbose = flag("verbose")?;
    flag("bridge_all")?;
    Ok(r)
}

/// The filters only lists have: ids, hostnames, MACs, domains, agent names,
/// statuses, owners, and our keyset pagination (`limit`, `cursor`).
fn parse_list_filters<'a>(c: &mut DbConn, get: &dyn Fn(&str) -> Vec<&'a str>, f: &mut NodeFilter) -> Result<()> {
    let ids: Vec<String> = split_list(&get("id")).into_iter().chain(split_list(&get("system_id"))).collect();
    if !ids.is_empty() {
        f.ids = Some(ids);
    }
    f.not_ids = split_list(&get("not_id"));
    let hosts = split_list(&get("hostname"));
    if !hosts.is_empty() {
        // A FQDN filter matches on its first label.
        f.hostnames = Some(hosts.iter().map(|h| h.split('.').next().unwrap_or(h).to_string()).collect());
    }
    f.not_hostnames = split_list(&get("not_hostname"));
    let macs = split_list(&get("mac_address"));
    if !macs.is_empty() {
        let mut norm = Vec::new();
        for m in &macs {
            norm.push(
                engine::names::normalise_mac(m)
                    .ok_or_else(|| Error::field("mac_address", format!("'{m}' is not a valid MAC address.")))?,
            );
        }
        f.mac_addresses = Some(norm);
    }
    let domains = db::places::domains(c)?;
    let wanted = split_list(&get("domain"));
    if !wanted.is_empty() {
        f.domain_ids = Some(domains.iter().filter(|d| wanted.contains(&d.name)).map(|d| d.id).collect());
    }
    let unwanted = split_list(&get("not_domain"));
    f.not_domain_ids = domains.iter().filter(|d| unwanted.contains(&d.name)).map(|d| d.id).collect();
    let agents: Vec<String> = get("agent_name").iter().map(|s| s.to_string()).collect();
    if !agents.is_empty() {
        f.agent_names = Some(agents);
    }
    f.not_agent_names = get("not_agent_name").iter().map(|s| s.to_string()).collect();
    for (field, negate) in [("status", false), ("not_status", true)] {
        let vals = split_list(&get(field));
        if vals.is_empty() {
            continue;
        }
        let mut codes = Vec::new();
        for v in &vals {
            codes.push(
                Status::from_filter_name(v)
                    .ok_or_else(|| Error::field(field, format!("'{v}' is not a valid status.")))?,
            );
        }
        if negate {
            f.not_statuses.extend(codes);
        } else {
            f.statuses = Some(codes);
        }
    }
    for (field, negate) in [("simple_status", false), ("not_simple_status", true)] {
        let vals = split_list(&get(field));
        if vals.is_empty() {
            continue;
        }
        let mut codes = Vec::new();
        for v in &vals {
            let matching: Vec<Status> = engine::lifecycle::ALL
                .iter()
                .copied()
                .filter(|s| s.simple().eq_ignore_ascii_case(&v.replace('_', " ")))
                .collect();
            if matching.is_empty() {
                return Err(Error::field(field, format!("'{v}' is not a valid simple status.")));
            }
            codes.extend(matching);
        }
        if negate {
            f.not_statuses.extend(codes);
        } else {
            f.statuses = Some(
                f.statuses.take().map_or(codes.clone(), |s| s.into_iter().filter(|x| codes.contains(x)).collect()),
            );
        }
    }
    for (field, negate) in [("owner", false), ("not_owner", true)] {
        let vals = split_list(&get(field));
        if vals.is_empty() {
            continue;
        }
        let mut ids = Vec::new();
        for v in &vals {
            if let Some(u) = db::users::by_username(c, v)? {
                ids.push(u.id);
            }
        }
        if negate {
            f.not_owner_ids = ids;
        } else {
            f.owner_ids = Some(ids);
        }
    }
    let not_arch = split_list(&get("not_arch"));
    f.not_arches = not_arch
        .iter()
        .map(
            |a| if a.contains('/') { engine::names::normalise_arch(a).unwrap_or_else(|| a.clone()) } else { a.clone() },
        )
        .collect();
    if let Some(l) = get("limit").first() {
        let n = engine::paging::parse_limit(l)?;
        f.limit = Some(i64::try_from(n).unwrap_or(i64::MAX));
    }
    if let Some(cur) = get("cursor").first() {
        // Node lists page by keyset: the last id of the previous page.
        match engine::paging::Cursor::decode(cur) {
            Some(engine::paging::Cursor::After(id)) => f.after_id = Some(id),
            _ => return Err(engine::paging::invalid_cursor()),
        }
    }
    Ok(())
}

/// Labelled-constraint matches for one machine, or `None` if it fails them.
fn match_labelled(req: &Request, n: &Node, rel: &Related) -> Option<Value> {
    let ifaces = rel.interfaces.get(&n.id).map(Vec::as_slice).unwrap_or(&[]);
    let nn = engine::netmatch::NodeNet { model: &rel.net, node: n, ifaces, links: &rel.links };
    if !req.net.is_empty() && !nn.matches(&req.net) {
        return None;
    }
    let mut by_type = serde_json::Map::new();
    if !req.storage.is_empty() {
        by_type.extend(match_storage(req, n, rel)?);
    }
    if !req.interfaces.is_empty() {
        let mut map = serde_json::Map::new();
        for spec in &req.interfaces {
            let ids: Vec<i64> = ifaces
                .iter()
                .filter(|i| {
                    spec.terms.iter().all(|(k, vals)| {
                        let (neg, key) = match k.strip_prefix("not_") {
                            Some(b) => (true, b),
                            None => (false, k.as_str()),
                        };
                        let hit = vals.iter().any(|v| nn.iface_term(i, key, v));
                        hit != neg
                    })
                })
                .map(|i| i.id)
                .collect();
            if ids.is_empty() {
                return None;
            }
            map.insert(spec.label.clone(), json!(ids));
        }
        if req.verbose {
            // {label: {"<machine id>": [interface ids]}}, as MAAS's verbose mode.
            let verbose: serde_json::Map<String, Value> =
                map.iter().map(|(label, ids)| (label.clone(), json!({ n.id.to_string(): ids }))).collect();
            by_type.insert("verbose_interfaces".into(), Value::Object(verbose));
        }
        by_type.insert("interfaces".into(), Value::Object(map));
    }
    Some(Value::Object(by_type))
}

/// The `storage` (and with `verbose`, `verbose_storage`) entries of
/// `constraints_by_type` for one machine, or `None` if its disks do not
/// satisfy the constraint. Unlabelled specs must match but are not reported.
fn match_storage(req: &Request, n: &Node, rel: &Related) -> Option<serde_json::Map<String, Value>> {
    use crate::engine::storage::matching::DeviceKey;
    let empty = db::storage::NodeStorage::default();
    let keys = engine::storage::matching::match_storage(n, rel.storage.get(&n.id).unwrap_or(&empty), &req.storage)?;
    let mut labels = serde_json::Map::new();
    let mut verbose = serde_json::Map::new();
    for (spec, key) in req.storage.iter().zip(keys) {
        let Some(label) = &spec.label else { continue };
        let (v, k) = match key {
            DeviceKey::Device(id) => (json!(id), id.to_string()),
            DeviceKey::Partition(id) => (json!(format!("partition:{id}")), format!("partition:{id}")),
        };
        if let Some(Value::Array(ids)) = labels.get_mut(label) {
            ids.push(v);
        } else {
            labels.insert(label.clone(), json!([v]));
        }
        verbose.insert(k, json!(label));
    }
    let mut out = serde_json::Map::new();
    out.insert("storage".into(), Value::Object(labels));
    if req.verbose {
        out.insert("verbose_storage".into(), json!({ n.id.to_string(): verbose }));
    }
    Some(out)
}

/// Whether a listed node satisfies the labelled (interfaces, storage,
/// network) constraints of a list filter.
pub fn list_matches(req: &Request, n: &Node, rel: &Related) -> bool {
    match_labelled(req, n, rel).is_some()
}

/// The no-match message, MAAS's wording.
fn no_match(req: &Request) -> Error {
    if req.submitted.is_empty() {
        return Error::Conflict("No machine available.".into());
    }
    if let (Some(id), 1) = (&req.system_id_only, req.submitted.len()) {
        return Error::Conflict(format!("No machine with system ID {id} available."));
    }
    let list: Vec<String> = req
        .submitted
        .iter()
        .map(|(k, vs)| format!("('{k}', [{}])", vs.iter().map(|v| format!("'{v}'")).collect::<Vec<_>>().join(", ")))
        .collect();
    let resolved: Vec<String> = req.resolved.iter().map(|(k, v)| format!("{k}={v}")).collect();
    Error::Conflict(format!(
        "No available machine matches constraints: [{}] (resolved to \"{}\")",
        list.join(", "),
        resolved.join(" ")
    ))
}

/// Chooses and (unless `dry_run`) claims a machine. Returns the chosen row
/// (as read before the claim; callers re-read it to render) with its
/// `constraints_by_type`.
pub fn allocate(c: &mut DbConn, actor: &User, req: &Request) -> Result<(Node, Value)> {
    let mut filter = req.filter.clone();
    if !actor.is_superuser {
        filter.visible_to = Some(actor.id);
    }
    filter.unowned_or = Some(actor.id);
    // Candidates come cheapest first, a batch at a time: the first batch
    // nearly always holds the winner, so an allocation reads a few rows, not
    // every Ready machine.
    filter.cheapest_first = true;
    const BATCH: i64 = 8;
    let mut offset = 0;
    loop {
        filter.limit = Some(BATCH);
        filter.offset = Some(offset);
        let candidates = db::nodes::list(c, &filter)?;
        let exhausted = (candidates.len() as i64) < BATCH;
        let needs_rel = !req.interfaces.is_empty() || !req.net.is_empty() || !req.storage.is_empty();
        let rel = if needs_rel { db::related::load_related(c, &candidates)? } else { Related::default() };
        for n in candidates {
            let Some(by_type) = match_labelled(req, &n, &rel) else { continue };
            if req.dry_run {
                return Ok((n, by_type));
            }
            // Claim: only if still READY (another allocation may have won).
            // The status message rides on the same UPDATE (one write, not two).
            let note = format!(" (to {})", actor.username);
            let description = format!("From 'Ready' to 'Allocated'{note}");
            let claimed = db::nodes::cas_status(
                c,
                n.id,
                Status::Ready,
                &NodeChanges {
                    status: Some(Status::Allocated),
                    previous_status: Some(Status::Ready),
                    owner_id: Some(Some(actor.id)),
                    agent_name: Some(req.agent_name.clone()),
                    status_message: Some(Some(format!("Node changed status - {description}"))),
                    updated_at: Some(db::now()),
                    ..Default::default()
                },
            )?;
            if !claimed {
                continue;
            }
            engine::events::log_event(
                c,
                &n,
                &actor.username,
                engine::events::level::INFO,
                "Node changed status",
                &description,
            )?;
            if !req.comment.is_empty() {
                engine::events::event(
                    c,
                    &n,
                    &actor.username,
                    engine::events::level::INFO,
                    "User acquiring node",
                    &req.comment,
                )?;
            }
            return Ok((n, by_type));
        }
        if exhausted {
            break;
        }
        offset += BATCH;
    }
    Err(no_match(req))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::storage::matching::{parse_storage, StorageSpec};

    #[test]
    fn storage_syntax() {
        let s = parse_storage("root:32(ssd),data:100,5.5(a,b)").unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0], StorageSpec { label: Some("root".into()), size_gb: 32.0, tags: vec!["ssd".into()] });
        assert_eq!(s[2].label, None);
        assert_eq!(s[2].tags, vec!["a", "b"]);
        for bad in ["root:", "x", "10(ssd", "10,", ":10", "10 20", "a b:10", "-5", "10()"] {
            assert!(parse_storage(bad).is_err(), "{bad}");
        }
        assert!(parse_storage("").unwrap().is_empty());
    }

    #[test]
    fn interfaces_syntax() {
        let s = parse_interfaces("2:space=2;eth:name=eth0,name=eth1,not_type=bond").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].terms["name"], vec!["eth0", "eth1"]);
        assert!(parse_interfaces("a:bogus=1").unwrap_err().to_string().contains("validation"));
        assert!(parse_interfaces("a:space=1;a:space=2").is_err());
        assert!(parse_interfaces("nolabel").is_err());
        assert!(parse_interfaces("-x:space=1").is_err());
    }

    #[test]
    fn random_garbage_never_panics() {
        // Fuzz-style: random printable input must parse or be a 400, never panic.
        use rand::Rng;
        let mut rng = rand::thread_rng();
        let alphabet: Vec<char> = "abc019:;,=()._- xyz".chars().collect();
        for _ in 0..5000 {
            let len = rng.gen_range(0..24);
            let s: String = (0..len).map(|_| alphabet[rng.gen_range(0..alphabet.len())]).collect();
            if let Err(e) = parse_storage(&s) {
                assert!(matches!(e, Error::Validation(_)));
            }
            if let Err(e) = parse_interfaces(&s) {
                assert!(matches!(e, Error::Validation(_)));
            }
        }
    }
}
