//! Simulated machines: a virtual BMC each, and an in-process "machine" that
//! follows its BMC. When powered on it boots the way a network boot would:
//! it asks what the PXE answer for its MAC is (unknown → enlistment preseed,
//! known machine in an ephemeral phase → its own preseed, otherwise boot
//! from disk and do nothing), then runs the real agent library
//! (`ironpool-agent`) over HTTP against this region's metadata API with a
//! fake, deterministic inventory. Powering off (or cycling) stops it.
//!
//! Used by `ironpool demo --machines N` and by the tests.

pub mod site;

use std::sync::Arc;
use std::time::Duration;

use ironpool_agent::{inventory, Agent};
use ironpool_common::power::{PowerAction, PowerState};

use crate::db;
use crate::db::users::User;
use crate::engine;
use crate::engine::lifecycle::Status;
use crate::engine::metadata::BootAction;
use crate::engine::nodes::create::MachineInput;
use crate::engine::power::VirtualBmc;
use crate::error;
use crate::error::Result;
use crate::http::AppState;

/// The BMC address of simulated machine `seed`.
pub fn bmc_address(seed: u64) -> String {
    format!("vbmc-{seed}")
}

/// Starts the simulated machine `seed`: registers its BMC (off) and spawns
/// the task that follows it. `region` is the region's base URL
/// (`http://127.0.0.1:5240`).
pub fn start_machine(state: &Arc<AppState>, region: &str, seed: u64, step_delay: Duration) {
    let address = bmc_address(seed);
    if state.power.virtual_bmcs.get(&address).is_none() {
        state.power.virtual_bmcs.add(address.clone(), VirtualBmc::default());
    }
    let mut rx = state.power.virtual_bmcs.watch(&address);
    let agent = Agent::simulated(seed, "virtual", serde_json::json!({ "power_address": address }), step_delay);
    let mac = inventory::fake_macs(seed, 1).remove(0);
    let state = state.clone();
    let region = region.trim_end_matches('/').to_string();
    let http = ironpool_agent::client::http_client();
    tokio::spawn(async move {
        loop {
            // Wait for a boot (power on or cycle).
            let ev = *rx.borrow_and_update();
            if ev.state != PowerState::On {
                if rx.changed().await.is_err() {
                    return;
                }
                continue;
            }
            let boot = ev.boots;
            let run = boot_once(&state, &http, &region, &mac, &agent);
            let stopped = async {
                loop {
                    if rx.changed().await.is_err() {
                        return;
                    }
                    let now = *rx.borrow();
                    if now.state != PowerState::On || now.boots != boot {
                        return;
                    }
                }
            };
            tokio::select! {
                r = run => {
                    if let Err(e) = r {
                        tracing::warn!(machine = %address, error = %e, "simulated machine: boot failed");
                    }
                    // Stay "on" (idle, or booted from disk) until the BMC changes.
                    let mut changed = false;
                    while !changed {
                        if rx.changed().await.is_err() {
                            return;
                        }
                        let now = *rx.borrow();
                        changed = now.state != PowerState::On || now.boots != boot;
                    }
                }
                _ = stopped => {}
            }
        }
    });
}

/// One boot: the PXE decision, then the agent.
async fn boot_once(
    state: &Arc<AppState>,
    http: &reqwest::Client,
    region: &str,
    mac: &str,
    agent: &Agent,
) -> std::result::Result<(), String> {
    let mac = mac.to_string();
    let action = state.db.run(move |c| engine::metadata::boot_action(c, &mac)).await.map_err(|e| e.to_string())?;
    let url = match action {
        BootAction::Enlist => format!("{region}/MAAS/metadata/latest/enlist-preseed/?op=get_enlist_preseed"),
        // What the rack's boot configuration would put on the kernel command line.
        BootAction::Ephemeral { preseed_path, .. } => format!("{region}/MAAS/metadata/{preseed_path}"),
        BootAction::LocalDisk => return Ok(()),
    };
    let outcome = agent.boot(http, &url).await.map_err(|e| e.to_string())?;
    tracing::debug!(?outcome, "simulated machine finished a boot");
    Ok(())
}

/// Creates `count` simulated machines owned by nobody, commissioning at
/// once (admin `commission=true`), and starts them. Machines from an earlier
/// run (same database) are started again instead of duplicated; those left
/// in an ephemeral phase are powered back on so they finish it. With a
/// `site`, new machines are placed in its zones and pools, tagged, and a
/// second NIC goes on its storage network before commissioning starts.
pub async fn ensure_machines(
    state: &Arc<AppState>,
    admin: &User,
    region: &str,
    count: usize,
    step_delay: Duration,
    site: Option<&site::Site>,
) -> Result<Vec<String>> {
    let admin = admin.clone();
    let mut ids = Vec::new();
    for seed in 0..count as u64 {
        start_machine(state, region, seed, step_delay);
        let admin = admin.clone();
        let site = site.cloned();
        let (sid, resume) = state
            .db
            .write(move |c| {
                let macs = inventory::fake_macs(seed, inventory::fake_nic_count(seed));
                if let Some((id, _)) = db::nodes::node_ids_with_macs(c, &macs[..1])?.into_iter().next() {
                    let n = db::nodes::by_ids(c, &[id])?.pop().ok_or(error::Error::NotFound("Machine"))?;
                    let resume = engine::metadata::in_ephemeral_phase(n.status) || n.power_state == "on";
                    return Ok((n.system_id, resume));
                }
                let mut params = engine::power::PowerParams::new();
                params.insert("power_address".into(), bmc_address(seed));
                let (zone, pool) = match &site {
                    Some(_) => {
                        let (z, p) = site::placement(seed);
                        (Some(z), Some(p))
                    }
                    None => (None, None),
                };
                let n = engine::nodes::create::create_machine(
                    c,
                    Some(&admin),
                    MachineInput {
                        architecture: Some("amd64/generic".into()),
                        mac_addresses: macs,
                        power_type: "virtual".into(),
                        power_parameters: params,
                        commission: site.is_none(),
                        description: format!("Simulated machine {seed}"),
                        zone,
                        pool,
                        ..Default::default()
                    },
                )?;
                if let Some(site) = &site {
                    site::furnish(c, &admin, site, &n, seed)?;
                    engine::nodes::commission::commission(c, &admin, &n)?;
                }
                Ok((n.system_id, false))
            })
            .await?;
        if resume {
            state.power.virtual_bmcs.press(&bmc_address(seed), PowerAction::On);
        }
        ids.push(sid);
    }
    Ok(ids)
}

/// Whether a status is one a simulated machine acts in (for callers that
/// wait on them).
pub fn is_busy(st: Status) -> bool {
    engine::metadata::in_ephemeral_phase(st)
}
