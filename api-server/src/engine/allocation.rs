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

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{json, Value};

use crate::db;
use crate::db::nodes::{Node, NodeChanges, NodeFilter};
use crate::db::related::Related;
use crate::db::users::User;
use crate::db::DbConn;
use crate::engine;
use crate::engine::lifecycle::{NodeType, Status};
use crate::engine::storage::matching::StorageSpec;
use crate::error::{Error, FieldErrors, Result};
use ironpool_common::constraints::CONSTRAINTS;

pub use ironpool_common::constraints::{InterfaceSpec, Mode};

/// The 400 a constraint syntax or limit error becomes.
fn constraint_error(e: ironpool_common::constraints::ConstraintError) -> Error {
    use ironpool_common::constraints::ConstraintError;
    match e {
        ConstraintError::Unknown(names) => {
            let mut errors = FieldErrors::new();
            for n in names {
                errors.insert(n, vec!["No such constraint.".into()]);
            }
            Error::Validation(errors)
        }
        ConstraintError::Field { field, message } => Error::field(&field, message),
        ConstraintError::Limit(message) => Error::BadRequest(message),
    }
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
    /// The model-dependent `interfaces` terms, resolved once.
    pub iface_sets: engine::netmatch::TermSets,
    pub agent_name: String,
    pub comment: String,
    pub dry_run: bool,
    pub verbose: bool,
    /// The submitted parameters (for MAAS's no-match message).
    pub submitted: Vec<(String, Vec<String>)>,
    pub resolved: BTreeMap<String, String>,
    pub system_id_only: Option<String>,
}

/// A request whose syntax is checked, with the names that only the
/// database can resolve (tags, zones, pools, domains, owners, the network
/// model). Made by [`parse`] before any connection is taken; [`resolve`]
/// finishes it.
#[derive(Debug, Clone)]
pub struct Parsed {
    req: Request,
    mode: Mode,
    /// Lists by parameter name, for the names [`resolve`] looks up.
    lists: HashMap<&'static str, Vec<String>>,
}

/// Parameters whose values name database rows.
const RESOLVED_LATER: &[&str] = &[
    "tags",
    "not_tags",
    "zone",
    "not_in_zone",
    "not_in_zones",
    "pool",
    "not_in_pool",
    "domain",
    "not_domain",
    "owner",
    "not_owner",
];

/// Order-preserving de-duplication: a value given twice is one SQL variable.
fn dedup(v: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    v.into_iter().filter(|x| seen.insert(x.clone())).collect()
}

/// Parses and validates the parameters of an allocate call or a list filter
/// (400 naming the field or the limit for anything wrong) without touching
/// the database; linear in the size of the request.
pub fn parse(pairs: &[(String, String)], mode: Mode) -> Result<Parsed> {
    let form = ironpool_common::constraints::parse(pairs, mode).map_err(constraint_error)?;
    let get = |k: &str| form.values(k).to_vec();
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
        parse_list_filters(&form, &mut r.filter)?;
    }
    r.submitted = form
        .names()
        .iter()
        .filter(|k| CONSTRAINTS.contains(k))
        .map(|k| (k.to_string(), get(k).iter().map(|s| s.to_string()).collect()))
        .collect();
    let mut lists: HashMap<&'static str, Vec<String>> = HashMap::new();
    for k in RESOLVED_LATER {
        let v = form.list(k);
        if !v.is_empty() {
            lists.insert(k, v);
        }
    }

    let names_v = form.list("name");
    if !names_v.is_empty() {
        // `host.domain` must match both parts; a bare name matches the hostname.
        let hosts: Vec<String> = names_v.iter().map(|n| n.split('.').next().unwrap_or(n).to_string()).collect();
        r.resolved.insert("name".into(), names_v.join(","));
        r.filter.hostnames = Some(dedup(hosts));
        let domains: Vec<String> =
            names_v.iter().filter_map(|n| n.split_once('.').map(|(_, d)| d.to_string())).collect();
        if !domains.is_empty() {
            lists.insert("name.domain", domains);
        }
    }
    let sids = form.list("system_id");
    if !sids.is_empty() {
        if sids.len() == 1 {
            r.system_id_only = Some(sids[0].clone());
        }
        r.resolved.insert("system_id".into(), sids.join(","));
        r.filter.ids = Some(dedup(sids));
    }
    let arches = form.list("arch");
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
        r.filter.arches = Some(dedup(norm));
    }
    let number = |k: &str| form.min_number(k).map_err(constraint_error);
    if let Some(n) = number("cpu_count")? {
        r.filter.min_cpu_count = Some(n.ceil() as i32);
        r.resolved.insert("cpu_count".into(), format!("{n:.1}"));
    }
    if let Some(n) = number("mem")? {
        r.filter.min_memory = Some(n.ceil() as i64);
        r.resolved.insert("mem".into(), format!("{n:.1}"));
    }
    if let Some(n) = number("cpu_speed")? {
        r.filter.min_cpu_speed = Some(n.ceil() as i32);
        r.resolved.insert("cpu_speed".into(), format!("{n:.0}"));
    }
    for (field, negate) in [("power_state", false), ("not_power_state", true)] {
        let v = dedup(form.list(field));
        if v.is_empty() {
            continue;
        }
        if negate {
            r.filter.not_power_states = v;
        } else {
            r.filter.power_states = Some(v);
        }
    }
    r.storage = form.storage.clone();
    if let Some(s) = &form.storage_text {
        r.resolved.insert("storage".into(), s.to_string());
    }
    r.interfaces = form.interfaces.clone();
    if let Some(s) = &form.interfaces_text {
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
    for field in ["deployment_target", "not_deployment_target"] {
        for v in form.list(field) {
            if v != "memory" && v != "disk" {
                return Err(Error::field(
                    field,
                    format!("Select a valid choice. {v} is not one of the available choices."),
                ));
            }
        }
    }
    if mode == Mode::Allocate {
        r.agent_name = form.first("agent_name").map(str::to_string).unwrap_or_default();
    }
    r.comment = form.first("comment").map(str::to_string).unwrap_or_default();
    let flag = |k: &str| -> Result<bool> {
        match form.first(k) {
            None => Ok(false),
            Some(v) => engine::parse_bool(v).ok_or_else(|| Error::field(k, format!("'{v}' is not a valid boolean."))),
        }
    };
    r.dry_run = flag("dry_run")?;
    r.verbose = flag("verbose")?;
    flag("bridge_all")?;
    Ok(Parsed { req: r, mode, lists })
}

/// Resolves the names of a parsed request against the database: tags,
/// zones, pools, domains and owners (one query each, matched through hash
/// sets) and the network model.
pub fn resolve(c: &mut DbConn, parsed: Parsed) -> Result<Request> {
    let Parsed { mut req, mode, lists } = parsed;
    let r = &mut req;
    let get = |k: &str| lists.get(k).cloned().unwrap_or_default();
    let domains_of_name = get("name.domain");
    let needs_domains = !domains_of_name.is_empty() || lists.contains_key("domain") || lists.contains_key("not_domain");
    let domains = if needs_domains { db::places::domains(c)? } else { Vec::new() };
    if !domains_of_name.is_empty() {
        let wanted: HashSet<&str> = domains_of_name.iter().map(String::as_str).collect();
        r.filter.domain_ids = Some(domains.iter().filter(|d| wanted.contains(d.name.as_str())).map(|d| d.id).collect());
    }
    for (field, negate) in [("tags", false), ("not_tags", true)] {
        let wanted = get(field);
        if wanted.is_empty() {
            continue;
        }
        let found = db::tags::by_names(c, &dedup(wanted.clone()))?;
        let found_names: HashSet<&str> = found.iter().map(|t| t.name.as_str()).collect();
        let missing: Vec<&String> = wanted.iter().filter(|w| !found_names.contains(w.as_str())).collect();
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
    if ["zone", "not_in_zone", "not_in_zones"].iter().any(|k| lists.contains_key(k)) {
        let zones = db::places::zones(c)?;
        let by_name: HashMap<&str, i64> = zones.iter().map(|z| (z.name.as_str(), z.id)).collect();
        for (field, negate) in [("zone", false), ("not_in_zone", true), ("not_in_zones", true)] {
            let wanted = get(field);
            if wanted.is_empty() {
                continue;
            }
            let missing: Vec<&str> = wanted.iter().map(String::as_str).filter(|w| !by_name.contains_key(w)).collect();
            if !missing.is_empty() {
                let f = if field == "zone" { "zone" } else { "not_in_zone" };
                return Err(Error::field(f, format!("No such zone(s): {}.", missing.join(", "))));
            }
            let wanted_set: HashSet<&str> = wanted.iter().map(String::as_str).collect();
            let ids: Vec<i64> = zones.iter().filter(|z| wanted_set.contains(z.name.as_str())).map(|z| z.id).collect();
            if negate {
                r.filter.not_zone_ids.extend(ids);
            } else {
                r.filter.zone_ids = Some(ids);
            }
            r.resolved.insert(field.into(), wanted.join(","));
        }
    }
    if ["pool", "not_in_pool"].iter().any(|k| lists.contains_key(k)) {
        let pools = db::places::pools(c)?;
        let by_name: HashSet<&str> = pools.iter().map(|p| p.name.as_str()).collect();
        for (field, negate) in [("pool", false), ("not_in_pool", true)] {
            let wanted = get(field);
            if wanted.is_empty() {
                continue;
            }
            let missing: Vec<&str> = wanted.iter().map(String::as_str).filter(|w| !by_name.contains(w)).collect();
            if !missing.is_empty() {
                return Err(Error::field(field, format!("No such pool(s): {}.", missing.join(", "))));
            }
            let wanted_set: HashSet<&str> = wanted.iter().map(String::as_str).collect();
            let ids: Vec<i64> = pools.iter().filter(|p| wanted_set.contains(p.name.as_str())).map(|p| p.id).collect();
            if negate {
                r.filter.not_pool_ids = ids;
            } else {
                r.filter.pool_ids = Some(ids);
            }
            r.resolved.insert(field.into(), wanted.join(","));
        }
    }
    if mode == Mode::List {
        let wanted: HashSet<String> = get("domain").into_iter().collect();
        if !wanted.is_empty() {
            r.filter.domain_ids = Some(domains.iter().filter(|d| wanted.contains(&d.name)).map(|d| d.id).collect());
        }
        let unwanted: HashSet<String> = get("not_domain").into_iter().collect();
        r.filter.not_domain_ids = domains.iter().filter(|d| unwanted.contains(&d.name)).map(|d| d.id).collect();
        for (field, negate) in [("owner", false), ("not_owner", true)] {
            let names = get(field);
            if names.is_empty() {
                continue;
            }
            let ids = db::users::ids_by_usernames(c, &dedup(names))?;
            if negate {
                r.filter.not_owner_ids = ids;
            } else {
                r.filter.owner_ids = Some(ids);
            }
        }
    }
    if !r.network.is_empty() || !r.interfaces.is_empty() {
        let model = db::network::load_model(c)?;
        if !r.network.is_empty() {
            r.net = engine::netmatch::resolve(&model, &r.network)?;
        }
        r.iface_sets = engine::netmatch::TermSets::resolve(&model, &r.interfaces);
    }
    Ok(req)
}

/// The filters only lists have that need no database: ids, hostnames,
/// MACs, agent names, statuses, architectures, and our keyset pagination
/// (`limit`, `cursor`). Domains and owners are names, resolved later.
fn parse_list_filters(form: &ironpool_common::constraints::Constraints<'_>, f: &mut NodeFilter) -> Result<()> {
    let ids: Vec<String> = form.list("id").into_iter().chain(form.list("system_id")).collect();
    if !ids.is_empty() {
        f.ids = Some(dedup(ids));
    }
    f.not_ids = dedup(form.list("not_id"));
    let hosts = form.list("hostname");
    if !hosts.is_empty() {
        // A FQDN filter matches on its first label.
        f.hostnames = Some(dedup(hosts.iter().map(|h| h.split('.').next().unwrap_or(h).to_string()).collect()));
    }
    f.not_hostnames = dedup(form.list("not_hostname"));
    let macs = form.list("mac_address");
    if !macs.is_empty() {
        let mut norm = Vec::new();
        for m in &macs {
            norm.push(
                engine::names::normalise_mac(m)
                    .ok_or_else(|| Error::field("mac_address", format!("'{m}' is not a valid MAC address.")))?,
            );
        }
        f.mac_addresses = Some(dedup(norm));
    }
    let agents: Vec<String> = form.values("agent_name").iter().map(|s| s.to_string()).collect();
    if !agents.is_empty() {
        f.agent_names = Some(dedup(agents));
    }
    f.not_agent_names = dedup(form.values("not_agent_name").iter().map(|s| s.to_string()).collect());
    for (field, negate) in [("status", false), ("not_status", true)] {
        let vals = form.list(field);
        if vals.is_empty() {
            continue;
        }
        let mut codes = Vec::new();
        for v in &vals {
            let s = Status::from_filter_name(v)
                .ok_or_else(|| Error::field(field, format!("'{v}' is not a valid status.")))?;
            if !codes.contains(&s) {
                codes.push(s);
            }
        }
        if negate {
            f.not_statuses.extend(codes);
        } else {
            f.statuses = Some(codes);
        }
    }
    for (field, negate) in [("simple_status", false), ("not_simple_status", true)] {
        let vals = form.list(field);
        if vals.is_empty() {
            continue;
        }
        let mut codes: Vec<Status> = Vec::new();
        for v in &vals {
            let matching: Vec<Status> = engine::lifecycle::ALL
                .iter()
                .copied()
                .filter(|s| s.simple().eq_ignore_ascii_case(&v.replace('_', " ")))
                .collect();
            if matching.is_empty() {
                return Err(Error::field(field, format!("'{v}' is not a valid simple status.")));
            }
            for s in matching {
                if !codes.contains(&s) {
                    codes.push(s);
                }
            }
        }
        if negate {
            f.not_statuses.extend(codes);
        } else {
            f.statuses = Some(
                f.statuses.take().map_or(codes.clone(), |s| s.into_iter().filter(|x| codes.contains(x)).collect()),
            );
        }
    }
    let not_arch = form.list("not_arch");
    f.not_arches = dedup(
        not_arch
            .iter()
            .map(|a| {
                if a.contains('/') {
                    engine::names::normalise_arch(a).unwrap_or_else(|| a.clone())
                } else {
                    a.clone()
                }
            })
            .collect(),
    );
    if let Some(l) = form.first("limit") {
        let n = engine::paging::parse_limit(l)?;
        f.limit = Some(i64::try_from(n).unwrap_or(i64::MAX));
    }
    if let Some(cur) = form.first("cursor") {
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
                        let hit = vals.iter().any(|v| nn.iface_term(i, key, v, &req.iface_sets));
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
            // A candidate another allocation is claiming is passed over, not
            // waited for (PostgreSQL; one row locked at a time, so each
            // transaction holds only the row it claims).
            if db::nodes::lock_free_in_status(c, &[n.id], Status::Ready)?.is_empty() {
                continue;
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
    use ironpool_common::constraints::{parse_interfaces, parse_storage, ConstraintError};

    #[test]
    fn random_garbage_never_panics() {
        // Fuzz-style: random printable input must parse or be a field error, never panic.
        use rand::Rng;
        let mut rng = rand::thread_rng();
        let alphabet: Vec<char> = "abc019:;,=()._- xyz".chars().collect();
        for _ in 0..5000 {
            let len = rng.gen_range(0..24);
            let s: String = (0..len).map(|_| alphabet[rng.gen_range(0..alphabet.len())]).collect();
            if let Err(e) = parse_storage(&s) {
                assert!(matches!(e, ConstraintError::Field { .. }));
            }
            if let Err(e) = parse_interfaces(&s) {
                assert!(matches!(e, ConstraintError::Field { .. }));
            }
            let pairs = vec![("storage".to_string(), s.clone()), ("interfaces".to_string(), s.clone())];
            if let Err(e) = parse(&pairs, Mode::Allocate) {
                assert!(matches!(e, Error::Validation(_) | Error::BadRequest(_)), "{s:?}: {e:?}");
            }
        }
    }
}
