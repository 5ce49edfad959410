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

/// Whether a rack synced recently.
pub fn connected(row: &RackRow) -> bool {
    (Utc::now().naive_utc() - row.last_seen).num_seconds() <= STALE_SECS
}

/// The rack to drive a BMC: the connected rack seen most recently, or none
/// (then the region drives it itself).
pub fn pick_power_rack(c: &mut DbConn) -> Result<Option<String>> {
    let racks = db::nodes::list(
        c,
        &db::nodes::NodeFilter {
            node_types: vec![NodeType::RackController, NodeType::RegionAndRackController],
            ..Default::default()
        },
    )?;
    let ids: Vec<i64> = racks.iter().map(|n| n.id).collect();
    let best = db::racks::of_nodes(c, &ids)?.into_iter().filter(connected).max_by_key(|r| r.last_seen);
    Ok(best.and_then(|r| racks.into_iter().find(|n| n.id == r.node_id)).map(|n| n.system_id))
}
