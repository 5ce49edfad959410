//! Which racks are alive (synced within `STALE_SECS`) and which one drives a BMC. Kept apart from the rack link so power jobs can ask without depending on registration and sync.

use crate::db;
use crate::db::racks::RackRow;
use crate::db::DbConn;
use crate::engine::lifecycle::NodeType;
use crate::error::Result;
use chrono::Utc;

/// A rack that has not synced for this long is shown as disconnected, and
/// its VLANs' secondary rack takes over DHCP.
pub const STALE_SECS: i64 = 30;

const RACK_TYPES: [NodeType; 2] = [NodeType::RackController, NodeType::RegionAndRackController];

/// Whether a rack synced recently.
pub fn connected(row: &RackRow) -> bool {
    (Utc::now().naive_utc() - row.last_seen).num_seconds() <= STALE_SECS
}

/// The rack to drive machine `node_id`'s BMC, or none (then the region
/// drives it itself). Least privilege: the BMC's credentials go to one
/// rack that serves the machine, and only to a connected, *accepted* rack
/// (so a rack registered with nothing but the shared secret gets none).
/// In order: the primary, then secondary, rack of the machine's boot VLAN;
/// else a rack with an interface on that VLAN; only when no such rack is
/// connected, any accepted connected rack. Ties go to the rack seen most
/// recently.
pub fn pick_power_rack(c: &mut DbConn, node_id: i64) -> Result<Option<String>> {
    let accepted = db::racks::accepted_ids(c)?;
    let mut live: Vec<RackRow> = db::racks::of_nodes(c, &accepted)?.into_iter().filter(connected).collect();
    if live.is_empty() {
        return Ok(None);
    }
    live.sort_by_key(|r| std::cmp::Reverse(r.last_seen));
    let ifaces = db::network::interfaces_of(c, node_id)?;
    let boot_vlan = ifaces
        .iter()
        .find(|i| i.is_boot)
        .or_else(|| ifaces.iter().find(|i| i.vlan_id.is_some()))
        .and_then(|i| i.vlan_id);
    let mut chosen = None;
    if let Some(vlan_id) = boot_vlan {
        if let Some(v) = db::network::vlan_by_id(c, vlan_id)? {
            chosen = [v.primary_rack_id, v.secondary_rack_id]
                .into_iter()
                .flatten()
                .find(|id| live.iter().any(|r| r.node_id == *id));
        }
        if chosen.is_none() {
            let on_vlan = db::racks::racks_on_vlan(c, vlan_id, &RACK_TYPES)?;
            chosen = live.iter().map(|r| r.node_id).find(|id| on_vlan.contains(id));
        }
    }
    let id = match chosen {
        Some(id) => id,
        None => live[0].node_id,
    };
    Ok(db::nodes::by_ids(c, &[id])?.pop().map(|n| n.system_id))
}
