//! Network constraints of allocation and list filters: subnet specifiers
//! (`maas-api.md` §9.4), `subnets`/`vlans`/`fabrics`/`fabric_classes` and
//! their `not_` forms, and the per-interface keys of the `interfaces`
//! constraint that refer to the network model (space, fabric, subnet, VLAN).
//!
//! Specifiers are resolved against the model once, when the request is
//! parsed: one that names nothing is a 400 before any machine is looked at.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use crate::db::interfaces::Interface;
use crate::db::network::{IpAddress, Model, Subnet, Vlan};
use crate::db::nodes::Node;
use crate::engine;
use crate::engine::network::cidr_of;
use crate::error::{Error, Result};

/// Resolved node-level network constraints.
#[derive(Debug, Clone, Default)]
pub struct NetConstraints {
    /// Each set must be linked (ANDed across entries).
    pub subnets: Vec<HashSet<i64>>,
    pub not_subnets: HashSet<i64>,
    /// Each set's VLANs must be present (ANDed).
    pub vlans: Vec<HashSet<i64>>,
    pub not_vlans: HashSet<i64>,
    /// Any of these fabrics.
    pub fabrics: Option<HashSet<i64>>,
    pub not_fabrics: HashSet<i64>,
    pub fabric_classes: Option<HashSet<String>>,
    pub not_fabric_classes: HashSet<String>,
    /// Some interface negotiates at least this speed (Mbit/s).
    pub link_speed: Option<i64>,
    /// Constraints on inventory Ironpool does not keep (PCI/USB devices,
    /// VM hosts): nothing matches them.
    pub unsatisfiable: bool,
}

impl NetConstraints {
    pub fn is_empty(&self) -> bool {
        self.subnets.is_empty()
            && self.not_subnets.is_empty()
            && self.vlans.is_empty()
            && self.not_vlans.is_empty()
            && self.fabrics.is_none()
            && self.not_fabrics.is_empty()
            && self.fabric_classes.is_none()
            && self.not_fabric_classes.is_empty()
            && self.link_speed.is_none()
            && !self.unsatisfiable
    }
}

fn no_subnets() -> Error {
    Error::field("subnets", "No matching subnets found.")
}

fn fabric_ids(model: &Model, spec: &str) -> HashSet<i64> {
    let spec = spec.strip_prefix("id:").or_else(|| spec.strip_prefix("name:")).unwrap_or(spec);
    model.fabrics.values().filter(|f| f.name == spec || f.id.to_string() == spec).map(|f| f.id).collect()
}

fn space_ids(model: &Model, spec: &str) -> HashSet<i64> {
    let spec = spec.strip_prefix("id:").or_else(|| spec.strip_prefix("name:")).unwrap_or(spec);
    model.spaces.values().filter(|s| s.name == spec || s.id.to_string() == spec).map(|s| s.id).collect()
}

fn vlan_ids(model: &Model, spec: &str) -> HashSet<i64> {
    if let Some(v) = spec.strip_prefix("vid:") {
        let vid = if v == "untagged" { Some(0) } else { v.parse::<i32>().ok() };
        return model.vlans.values().filter(|x| Some(x.vid) == vid).map(|x| x.id).collect();
    }
    if let Some(f) = spec.strip_prefix("fabric:") {
        let fabs = fabric_ids(model, f);
        return model.vlans.values().filter(|x| fabs.contains(&x.fabric_id)).map(|x| x.id).collect();
    }
    if let Some(sp) = spec.strip_prefix("space:") {
        let sps = space_ids(model, sp);
        return model.vlans.values().filter(|x| x.space_id.is_some_and(|s| sps.contains(&s))).map(|x| x.id).collect();
    }
    let spec = spec.strip_prefix("id:").or_else(|| spec.strip_prefix("name:")).unwrap_or(spec);
    model.vlans.values().filter(|x| x.id.to_string() == spec || x.name.as_deref() == Some(spec)).map(|x| x.id).collect()
}

/// Subnets a single (non-combined) specifier names.
fn subnet_atom(model: &Model, spec: &str) -> HashSet<i64> {
    let subs = model.subnets.values();
    let of_vlans = |vl: HashSet<i64>| -> HashSet<i64> {
        model.subnets.values().filter(|s| vl.contains(&s.vlan_id)).map(|s| s.id).collect()
    };
    if let Some((kind, rest)) = spec.split_once(':') {
        match kind {
            "id" => return subs.filter(|s| s.id.to_string() == rest).map(|s| s.id).collect(),
            "cidr" => {
                let want = engine::ipam::parse_cidr(rest).ok().map(|n| n.to_string());
                return subs.filter(|s| Some(&s.cidr) == want.as_ref()).map(|s| s.id).collect();
            }
            "name" => return subs.filter(|s| s.name == rest).map(|s| s.id).collect(),
            "ip" => {
                let Ok(ip) = rest.parse::<IpAddr>() else { return HashSet::new() };
                return longest_prefix(model, ip).map(|s| s.id).into_iter().collect();
            }
            "vlan" => return of_vlans(vlan_ids(model, rest)),
            "vid" => return of_vlans(vlan_ids(model, spec)),
            "fabric" | "space" => return of_vlans(vlan_ids(model, spec)),
            _ => {}
        }
    }
    let cidr = engine::ipam::parse_cidr(spec).ok().map(|n| n.to_string());
    subs.filter(|s| s.id.to_string() == spec || Some(&s.cidr) == cidr.as_ref() || s.name == spec)
        .map(|s| s.id)
        .collect()
}

fn longest_prefix(model: &Model, ip: IpAddr) -> Option<&Subnet> {
    model.subnets.values().filter(|s| cidr_of(s).contains(&ip)).max_by_key(|s| cidr_of(s).prefix_len())
}

/// A full specifier: `!`/`not_` negation, `&` (intersection) and `|` (union).
pub fn subnet_spec(model: &Model, spec: &str) -> HashSet<i64> {
    let all: HashSet<i64> = model.subnets.keys().copied().collect();
    spec.split('|')
        .map(|conj| {
            conj.split('&').fold(all.clone(), |acc, term| {
                let term = term.trim();
                let (neg, t) = match term.strip_prefix('!').or_else(|| term.strip_prefix("not_")) {
                    Some(t) => (true, t),
                    None => (false, term),
                };
                let hit = subnet_atom(model, t);
                if neg {
                    acc.difference(&hit).copied().collect()
                } else {
                    acc.intersection(&hit).copied().collect()
                }
            })
        })
        .fold(HashSet::new(), |acc, s| acc.union(&s).copied().collect())
}

fn values(pairs: &[(String, Vec<String>)], key: &str) -> Vec<String> {
    pairs
        .iter()
        .filter(|(k, _)| k == key)
        .flat_map(|(_, v)| v.iter().flat_map(|x| x.split(',')).map(|x| x.trim().to_string()))
        .filter(|x| !x.is_empty())
        .collect()
}

/// Resolves the node-level network parameters (`maas-api.md` §9.1).
pub fn resolve(model: &Model, pairs: &[(String, Vec<String>)]) -> Result<NetConstraints> {
    let mut nc = NetConstraints::default();
    for spec in values(pairs, "subnets") {
        let set = subnet_spec(model, &spec);
        if set.is_empty() {
            return Err(no_subnets());
        }
        nc.subnets.push(set);
    }
    for spec in values(pairs, "not_subnets") {
        let set = subnet_spec(model, &spec);
        if set.is_empty() {
            return Err(Error::field("not_subnets", "No matching subnets found."));
        }
        nc.not_subnets.extend(set);
    }
    for spec in values(pairs, "vlans") {
        let set = vlan_ids(model, &spec);
        if set.is_empty() {
            return Err(Error::field("vlans", "No matching VLANs found."));
        }
        nc.vlans.push(set);
    }
    for spec in values(pairs, "not_vlans") {
        nc.not_vlans.extend(vlan_ids(model, &spec));
    }
    let fabrics = values(pairs, "fabrics");
    if !fabrics.is_empty() {
        let set: HashSet<i64> = fabrics.iter().flat_map(|f| fabric_ids(model, f)).collect();
        if set.is_empty() {
            return Err(Error::field("fabrics", "No matching fabrics found."));
        }
        nc.fabrics = Some(set);
    }
    for f in values(pairs, "not_fabrics") {
        nc.not_fabrics.extend(fabric_ids(model, &f));
    }
    let classes = values(pairs, "fabric_classes");
    if !classes.is_empty() {
        nc.fabric_classes = Some(classes.into_iter().collect());
    }
    nc.not_fabric_classes = values(pairs, "not_fabric_classes").into_iter().collect();
    if let Some(v) = values(pairs, "link_speed").first() {
        nc.link_speed = Some(v.parse().map_err(|_| Error::field("link_speed", format!("Invalid link speed: {v}")))?);
    }
    nc.unsatisfiable = ["devices", "pod", "pod_type"].iter().any(|k| !values(pairs, k).is_empty());
    Ok(nc)
}

/// The `interfaces` terms that name network objects (space, fabric, VLAN,
/// subnet specifiers), resolved to ids once per request instead of once per
/// interface of every candidate machine.
#[derive(Debug, Clone, Default)]
pub struct TermSets(HashMap<String, HashMap<String, HashSet<i64>>>);

impl TermSets {
    pub fn resolve(model: &Model, specs: &[ironpool_common::constraints::InterfaceSpec]) -> TermSets {
        let mut sets: HashMap<String, HashMap<String, HashSet<i64>>> = HashMap::new();
        for (k, vals) in specs.iter().flat_map(|s| s.terms.iter()) {
            let key = k.strip_prefix("not_").unwrap_or(k);
            for v in vals {
                let set = match key {
                    "space" => space_ids(model, v),
                    "fabric" => fabric_ids(model, v),
                    "vlan" => vlan_ids(model, v),
                    "subnet" => subnet_spec(model, v),
                    _ => continue,
                };
                sets.entry(key.to_string()).or_default().insert(v.clone(), set);
            }
        }
        TermSets(sets)
    }

    /// The ids `key=v` names, computed now if it was not resolved up front.
    fn get(&self, model: &Model, key: &str, v: &str) -> std::borrow::Cow<'_, HashSet<i64>> {
        if let Some(set) = self.0.get(key).and_then(|m| m.get(v)) {
            return std::borrow::Cow::Borrowed(set);
        }
        std::borrow::Cow::Owned(match key {
            "space" => space_ids(model, v),
            "fabric" => fabric_ids(model, v),
            "vlan" => vlan_ids(model, v),
            _ => subnet_spec(model, v),
        })
    }
}

/// The network view of one node: its interfaces and their links.
pub struct NodeNet<'a> {
    pub model: &'a Model,
    pub node: &'a Node,
    pub ifaces: &'a [Interface],
    pub links: &'a std::collections::HashMap<i64, Vec<IpAddress>>,
}

impl NodeNet<'_> {
    fn links_of(&self, i: &Interface) -> &[IpAddress] {
        self.links.get(&i.id).map(Vec::as_slice).unwrap_or(&[])
    }

    fn linked_subnets(&self) -> HashSet<i64> {
        self.ifaces.iter().flat_map(|i| self.links_of(i)).filter_map(|l| l.subnet_id).collect()
    }

    fn vlans(&self) -> Vec<&Vlan> {
        self.ifaces.iter().filter_map(|i| i.vlan_id).filter_map(|v| self.model.vlans.get(&v)).collect()
    }

    /// Whether the node satisfies the node-level constraints.
    pub fn matches(&self, nc: &NetConstraints) -> bool {
        if nc.unsatisfiable {
            return false;
        }
        let linked = self.linked_subnets();
        if !nc.subnets.iter().all(|set| !set.is_disjoint(&linked)) || !nc.not_subnets.is_disjoint(&linked) {
            return false;
        }
        let vlans = self.vlans();
        let vlan_ids: HashSet<i64> = vlans.iter().map(|v| v.id).collect();
        if !nc.vlans.iter().all(|set| !set.is_disjoint(&vlan_ids)) || !nc.not_vlans.is_disjoint(&vlan_ids) {
            return false;
        }
        let fabric_ids: HashSet<i64> = vlans.iter().map(|v| v.fabric_id).collect();
        if nc.fabrics.as_ref().is_some_and(|f| f.is_disjoint(&fabric_ids)) || !nc.not_fabrics.is_disjoint(&fabric_ids) {
            return false;
        }
        let classes: HashSet<String> =
            fabric_ids.iter().filter_map(|f| self.model.fabrics.get(f)).filter_map(|f| f.class_type.clone()).collect();
        if nc.fabric_classes.as_ref().is_some_and(|c| c.is_disjoint(&classes))
            || !nc.not_fabric_classes.is_disjoint(&classes)
        {
            return false;
        }
        if let Some(min) = nc.link_speed {
            if !self.ifaces.iter().any(|i| i.link_speed >= min) {
                return false;
            }
        }
        true
    }

    /// One `key=value` term of an `interfaces` label against one interface.
    pub fn iface_term(&self, i: &Interface, key: &str, v: &str, sets: &TermSets) -> bool {
        let vlan = i.vlan_id.and_then(|id| self.model.vlans.get(&id));
        let links = self.links_of(i);
        match key {
            "id" => v.parse::<i64>().ok() == Some(i.id),
            "name" => i.name == v,
            "type" => i.iftype == v,
            "tag" => serde_json::from_str::<Vec<String>>(&i.tags).unwrap_or_default().iter().any(|t| t == v),
            "link_speed" => v.parse::<i64>().is_ok_and(|s| i.link_speed >= s),
            "hostname" => self.node.hostname == v,
            "mode" => v == "unconfigured" && links.is_empty(),
            "ip" => links.iter().any(|l| l.ip.as_deref() == Some(v)),
            "space" => {
                let sps = sets.get(self.model, key, v);
                vlan.and_then(|x| x.space_id).is_some_and(|s| sps.contains(&s))
            }
            "fabric" => vlan.is_some_and(|x| sets.get(self.model, key, v).contains(&x.fabric_id)),
            "fabric_class" => vlan
                .and_then(|x| self.model.fabrics.get(&x.fabric_id))
                .is_some_and(|f| f.class_type.as_deref() == Some(v)),
            "vlan" => vlan.is_some_and(|x| sets.get(self.model, key, v).contains(&x.id)),
            "vid" => vlan.is_some_and(|x| x.vid.to_string() == v || (v == "untagged" && x.vid == 0)),
            "subnet" => {
                let set = sets.get(self.model, key, v);
                links.iter().any(|l| l.subnet_id.is_some_and(|s| set.contains(&s)))
            }
            "subnet_cidr" => {
                let want = engine::ipam::parse_cidr(v).ok().map(|n| n.to_string());
                links
                    .iter()
                    .filter_map(|l| l.subnet_id.and_then(|s| self.model.subnets.get(&s)))
                    .any(|s| Some(&s.cidr) == want.as_ref())
            }
            _ => false,
        }
    }
}
