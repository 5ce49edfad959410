//! The storage allocation constraint: `label:size(tags)` specs matched against a machine's disks.

use crate::db::nodes::Node;
use crate::db::storage::NodeStorage;
use crate::engine::storage::model::parse_tags;
use crate::engine::storage::model::Storage;
use crate::engine::storage::model::Target;
use std::collections::HashSet;

/// A device matched by a storage constraint: a block device id or a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceKey {
    Device(i64),
    Partition(i64),
}

/// Matches MAAS's storage constraint against one machine: the first spec is
/// the disk holding `/` (the boot disk when nothing is mounted there), later
/// specs take distinct unused devices (or, tagged `partition`, unused
/// partitions), most-tagged specs first, smallest device first. Returns the
/// device of each spec in the specs' order, or `None` if any spec fails.
pub fn match_storage(node: &Node, st: &NodeStorage, specs: &[StorageSpec]) -> Option<Vec<DeviceKey>> {
    let s = Storage::new(node, st);
    let mut out: Vec<Option<DeviceKey>> = vec![None; specs.len()];
    let mut taken: HashSet<DeviceKey> = HashSet::new();
    let bytes = |gb: f64| (gb * 1e9).ceil() as i64;
    let wants_partition = |spec: &StorageSpec| spec.tags.iter().any(|t| t == "partition");
    let has_tags =
        |have: &[String], spec: &StorageSpec| spec.tags.iter().filter(|t| *t != "partition").all(|t| have.contains(t));
    if let Some(root) = specs.first() {
        let (disk, part) = match s.root_location() {
            Some(loc) => loc,
            None => (s.boot_disk()?, None),
        };
        let key = if wants_partition(root) {
            let p = part?;
            if p.size < bytes(root.size_gb) || !has_tags(&parse_tags(&p.tags), root) {
                return None;
            }
            DeviceKey::Partition(p.id)
        } else {
            if disk.size < bytes(root.size_gb) || !has_tags(&s.device_tags(disk), root) {
                return None;
            }
            DeviceKey::Device(disk.id)
        };
        taken.insert(key);
        out[0] = Some(key);
    }
    let mut order: Vec<usize> = (1..specs.len()).collect();
    order.sort_by_key(|i| std::cmp::Reverse(specs[*i].tags.len()));
    for i in order {
        let spec = &specs[i];
        let mut candidates: Vec<(i64, DeviceKey)> = if wants_partition(spec) {
            st.partitions
                .iter()
                .filter(|p| s.filesystem(Target::Partition(p.id)).is_none())
                .filter(|p| p.size >= bytes(spec.size_gb) && has_tags(&parse_tags(&p.tags), spec))
                .map(|p| (p.size, DeviceKey::Partition(p.id)))
                .collect()
        } else {
            st.devices
                .iter()
                .filter(|d| s.device_unused(d))
                .filter(|d| d.size >= bytes(spec.size_gb) && has_tags(&s.device_tags(d), spec))
                .map(|d| (d.size, DeviceKey::Device(d.id)))
                .collect()
        };
        candidates.sort_by_key(|(size, _)| *size);
        let (_, key) = candidates.into_iter().find(|(_, k)| !taken.contains(k))?;
        taken.insert(key);
        out[i] = Some(key);
    }
    out.into_iter().collect()
}

/// One `label:size(tags)` storage constraint; its syntax is parsed in
/// `ironpool_common::constraints` (before any database work).
pub use ironpool_common::constraints::StorageSpec;
