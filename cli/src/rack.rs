//! `ironpool rack`, and the rack embedded in `ironpool serve`/`demo`.

use std::net::SocketAddr;
use std::path::PathBuf;

use ironpool_rack::link::{Rack, RackOptions};

/// `host:port`, or "off"/"" for a disabled service.
pub fn listen(what: &str, s: &str) -> anyhow::Result<Option<SocketAddr>> {
    match s.trim() {
        "" | "off" | "none" => Ok(None),
        v => v.parse().map(Some).map_err(|_| anyhow::anyhow!("--{what}: '{v}' is not host:port (or 'off')")),
    }
}

pub struct RackArgs {
    pub region_urls: Vec<String>,
    pub secret: String,
    pub region_fingerprints: Vec<String>,
    pub data_dir: PathBuf,
    pub http_listen: String,
    pub tftp_listen: String,
    pub dhcp_listen: String,
    pub dhcp6_listen: String,
    pub dhcp_interface: Option<String>,
    pub metrics_listen: String,
}

/// Runs a standalone rack until SIGINT/SIGTERM.
pub fn run(a: RackArgs) -> anyhow::Result<()> {
    let mut opts = RackOptions::new(a.region_urls, a.secret, a.data_dir);
    opts.region_fingerprints = a.region_fingerprints;
    opts.http_listen = listen("http-listen", &a.http_listen)?;
    opts.tftp_listen = listen("tftp-listen", &a.tftp_listen)?;
    opts.dhcp_listen = listen("dhcp-listen", &a.dhcp_listen)?;
    opts.dhcp6_listen = listen("dhcp6-listen", &a.dhcp6_listen)?;
    opts.dhcp_interface = a.dhcp_interface;
    opts.metrics_listen = listen("metrics-listen", &a.metrics_listen)?;
    actix_web::rt::System::new().block_on(async move {
        let rack = Rack::start(opts).await?;
        tracing::info!(http = ?rack.http_addr, tftp = ?rack.tftp_addr, metrics = ?rack.metrics_addr, "rack controller running");
        wait_for_signal().await;
        tracing::info!("rack controller stopping");
        rack.stop().await;
        Ok(())
    })
}

/// The rack in the region's process registers under the region's
/// system_id (its node becomes a region-and-rack controller, as MAAS shows
/// a host running both): its first `rack.json` names the region's node. A
/// rack that registered before keeps its own identity.
pub fn adopt_region_identity(rack_dir: &std::path::Path, region_system_id: &str) -> anyhow::Result<()> {
    let path = rack_dir.join("rack.json");
    if path.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(rack_dir)?;
    std::fs::write(&path, serde_json::json!({ "system_id": region_system_id }).to_string())?;
    Ok(())
}

/// The rack inside `serve`/`demo`: talks to this region over loopback with
/// the region's own secret; ports it cannot bind (67 and 69 need root) are
/// skipped with a warning.
///
/// `dhcp: false` keeps the rack's DHCP server off whatever the region says:
/// the demo turns DHCP on for its made-up boot network, and a server on
/// 0.0.0.0:67 (or [::]:547) would answer real machines on the host's own LAN.
pub async fn start_embedded(region: SocketAddr, secret: &str, data_dir: PathBuf, dhcp: bool) -> anyhow::Result<Rack> {
    let port = region.port();
    let mut opts = RackOptions::new(vec![format!("http://127.0.0.1:{port}")], secret.to_string(), data_dir);
    opts.best_effort = true;
    if !dhcp {
        opts.dhcp_listen = None;
        opts.dhcp6_listen = None;
    }
    Rack::start(opts).await
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
