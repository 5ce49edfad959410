//! Region controllers: every region process registers itself at start (a
//! node of type region controller, MAAS's `RegionController`) and
//! heartbeats, so all regions sharing one database appear in
//! `regioncontrollers/` with their version, the services each runs and
//! when it was last seen. A rack in the same process registers onto the
//! region's node, which becomes a region-and-rack controller, as MAAS
//! shows a host running both.
//!
//! The region knows its node by the system_id kept in
//! `<data_dir>/region.json` (MAAS keeps its `maas_id` in a file the same
//! way); the embedded rack is started with that system_id.

use std::path::Path;

use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::db;
use crate::db::nodes::Node;
use crate::db::regions::RegionRow;
use crate::db::DbConn;
use crate::engine;
use crate::engine::lifecycle::NodeType;
use crate::error::{Error, Result};

/// How often a region records that it is alive.
pub const HEARTBEAT_SECS: u64 = 10;

/// A region not seen for this long is shown as not running, and may be
/// deleted (MAAS refuses to delete a running region).
pub const STALE_SECS: i64 = 60;

/// One service a controller reports, MAAS's `service_set` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub name: String,
    /// `running`, `off`, `degraded` or `dead`, as MAAS's service statuses.
    pub status: String,
    pub status_info: String,
}

impl Service {
    pub fn new(name: &str, running: bool, info: impl Into<String>) -> Service {
        Service { name: name.into(), status: if running { "running" } else { "off" }.into(), status_info: info.into() }
    }
}

/// What a region reports about itself at start and on each heartbeat.
#[derive(Debug, Clone)]
pub struct RegionReport {
    pub hostname: String,
    pub version: String,
    pub url: String,
    pub services: Vec<Service>,
}

/// The region types (`regioncontrollers/` lists both).
pub const REGION_TYPES: [NodeType; 2] = [NodeType::RegionController, NodeType::RegionAndRackController];

pub fn is_region(n: &Node) -> bool {
    REGION_TYPES.contains(&n.node_type)
}

/// Whether a region heartbeated recently.
pub fn running(row: &RegionRow) -> bool {
    (Utc::now().naive_utc() - row.last_seen).num_seconds() <= STALE_SECS
}

/// Registers this region (one transaction): the node `known` names when it
/// still exists and is a region, else a new region node; its row records
/// version, services and URL and counts as a heartbeat. Returns the node.
pub fn register(c: &mut DbConn, known: Option<&str>, report: &RegionReport) -> Result<Node> {
    let existing = match known {
        Some(sid) => db::nodes::by_system_id(c, sid)?,
        None => None,
    };
    let node = match existing {
        Some(n) if is_region(&n) => n,
        // The rack of this process registered first under our system_id
        // (MAAS's "upgrade" of a running node): it becomes region and rack.
        Some(n) if n.node_type == NodeType::RackController => {
            db::regions::set_node_type(c, n.id, NodeType::RegionAndRackController)?;
            reload(c, &n.system_id)?
        }
        _ => {
            let n = engine::nodes::create::create_controller_node(
                c,
                &report.hostname,
                NodeType::RegionController,
                "region",
                &[],
            )?;
            engine::events::log_event(c, &n, "", engine::events::level::INFO, "Region controller registered", "")?;
            n
        }
    };
    let now = Utc::now().naive_utc();
    db::regions::upsert(
        c,
        &RegionRow {
            node_id: node.id,
            version: report.version.clone(),
            services: services_json(&report.services)?,
            url: report.url.clone(),
            started_at: now,
            last_seen: now,
        },
    )?;
    Ok(node)
}

fn reload(c: &mut DbConn, sid: &str) -> Result<Node> {
    db::nodes::by_system_id(c, sid)?.ok_or(Error::NotFound("RegionController"))
}

fn services_json(services: &[Service]) -> Result<String> {
    serde_json::to_string(services).map_err(Error::internal)
}

/// A heartbeat; false when the region's row or node is gone (deleted by an
/// admin while it was silent), so the caller registers again.
pub fn heartbeat(c: &mut DbConn, system_id: &str, services: &[Service]) -> Result<bool> {
    let Some(node) = db::nodes::by_system_id(c, system_id)?.filter(is_region) else { return Ok(false) };
    db::regions::touch(c, node.id, &services_json(services)?, Utc::now().naive_utc())
}

/// The region `system_id` (MAAS's 404 words otherwise).
pub fn region(c: &mut DbConn, system_id: &str) -> Result<Node> {
    db::nodes::by_system_id(c, system_id)?.filter(is_region).ok_or(Error::NotFound("RegionController"))
}

/// Deletes a region, as MAAS's `RegionController.delete`: refused while
/// it runs (heartbeats); a region that is also a rack stays as the rack.
pub fn delete_region(c: &mut DbConn, node: &Node) -> Result<()> {
    if db::regions::of_nodes(c, &[node.id])?.iter().any(running) {
        return Err(Error::BadRequest(format!("Unable to delete {} as it's currently running.", node.hostname)));
    }
    if node.node_type == NodeType::RegionAndRackController {
        db::regions::delete(c, node.id)?;
        return db::regions::set_node_type(c, node.id, NodeType::RackController);
    }
    db::nodes::delete(c, node.id)
}

/// The system_id kept in `<data_dir>/region.json`, if any.
pub fn load_identity(data_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(data_dir.join("region.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["system_id"].as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

/// Writes `<data_dir>/region.json` (0600, through a rename) when it does not
/// already name `system_id`.
pub fn save_identity(data_dir: &Path, system_id: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if load_identity(data_dir).as_deref() == Some(system_id) {
        return Ok(());
    }
    let path = data_dir.join("region.json");
    let tmp = data_dir.join(".region.json.tmp");
    let body = serde_json::json!({ "system_id": system_id }).to_string();
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(body.as_bytes())?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| Error::Internal(format!("cannot write {}: {e}", path.display())))
}

/// Registers this region (blocking, at start) and remembers its node in
/// `data_dir`; returns the system_id.
pub fn start(db: &db::Datastore, data_dir: &Path, report: &RegionReport) -> Result<String> {
    let known = load_identity(data_dir);
    let r = report.clone();
    let node = db.blocking(move |c| register(c, known.as_deref(), &r))?;
    save_identity(data_dir, &node.system_id)?;
    tracing::info!(system_id = %node.system_id, hostname = %node.hostname, "region controller registered");
    Ok(node.system_id)
}

/// Heartbeats every [`HEARTBEAT_SECS`] until the runtime stops; a region
/// whose node was deleted while it was silent registers again.
pub async fn heartbeat_loop(
    db: db::Datastore,
    data_dir: std::path::PathBuf,
    mut system_id: String,
    report: RegionReport,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(HEARTBEAT_SECS));
    tick.tick().await;
    loop {
        tick.tick().await;
        let (sid, services) = (system_id.clone(), report.services.clone());
        match db.write(move |c| heartbeat(c, &sid, &services)).await {
            Ok(true) => {}
            Ok(false) => {
                let (known, r) = (system_id.clone(), report.clone());
                match db.write(move |c| register(c, Some(&known), &r)).await {
                    Ok(n) => {
                        tracing::warn!(system_id = %n.system_id, "region controller was deleted; registered again");
                        if let Err(e) = save_identity(&data_dir, &n.system_id) {
                            tracing::warn!(error = %e, "cannot record the region's identity");
                        }
                        system_id = n.system_id;
                    }
                    Err(e) => tracing::warn!(error = %e, "region registration failed"),
                }
            }
            Err(e) => tracing::warn!(error = %e, "region heartbeat failed"),
        }
    }
}
