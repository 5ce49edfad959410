//! Ironpool's ephemeral agent: what a machine runs after a network boot.
//!
//! The kernel command line carries `cloud-config-url=` (the preseed). The
//! agent reads it, learns the metadata URL, its credentials and its phase,
//! and does that phase's work over the MAAS metadata protocol:
//!
//! - **enlisting** (no credentials): register anonymously through
//!   `machines/` (`commission=true`), fetch its own preseed, commission;
//! - **commissioning**: run the phase's scripts from `maas-scripts`
//!   ([`scripts`]; the inventory script `50-maas-01-commissioning` and
//!   `maas-lshw` are answered in-process from the agent's own inventory
//!   and lshw document ([`lshw`]), and `30-maas-01-bmc-config` by
//!   configuring the BMC itself ([`bmc`])), then `signal` OK with the LLDP document
//!   as `maas-capture-lldpd.out`; a region that serves no scripts gets the
//!   inventory, lshw and LLDP documents alone with the OK;
//! - **deploying**: a real machine ([`Agent::writes_disks`]) writes the image
//!   named by `curtin/latest/user-data` to its boot disk with the first-boot
//!   seed ([`deploy`]), calls `netboot_off` and reboots into it; the
//!   installed OS reports `modules-final`, which marks it Deployed. A
//!   simulated machine skips the disk and plays the installed OS's first
//!   boot itself (reads meta-data and user-data, reports `modules-final`).
//!   An ephemeral deployment (`ephemeral_deploy` in the preseed) writes no
//!   disk and keeps network boot on: a real machine builds the image's root
//!   in memory and switches to it, where the image's own cloud-init does
//!   the first boot ([`ram_boot`]); a simulated one plays that first boot;
//! - **disk_erasing**: erase the disks as the preseed says (quick, secure,
//!   full), `signal` OK, then `modules-final`; **releasing** likewise
//!   without the erase;
//! - **testing**: run the testing scripts from `maas-scripts`, then
//!   `signal` OK, or FAILED naming the scripts that failed;
//! - **rescue**: `signal` OK.
//!
//! The same code drives the real agent (`ironpool-agent`) and the
//! simulated machines of `ironpool demo`; only the inventory and power
//! details differ.

pub mod bmc;
pub mod client;
pub mod deploy;
pub mod image;
pub mod install_plan;
pub mod installer;
pub mod inventory;
pub mod lshw;
pub mod packages;
pub mod ram_boot;
pub mod scripts;

use std::time::Duration;

use ironpool_common::inventory::{Inventory, COMMISSIONING_SCRIPT, LLDP_SCRIPT, LSHW_SCRIPT};
use serde_json::json;

pub use client::{AgentError, Credentials, MetadataClient, Preseed, Result};

/// What this machine is and how it behaves.
#[derive(Debug, Clone)]
pub struct Agent {
    pub inventory: Inventory,
    /// The lshw and LLDP documents sent with the inventory.
    pub details: lshw::Details,
    /// Reported at enlistment (`manual` for a real machine: its BMC is
    /// detected by the commissioning that follows; `virtual` for simulated
    /// ones).
    pub power_type: String,
    pub power_parameters: serde_json::Value,
    /// Pause before each step (simulated boots take a few seconds).
    pub step_delay: Duration,
    /// A real machine: deploying writes the disk and disk erasing erases
    /// it. Simulated machines leave their (non-existent) disks alone.
    pub writes_disks: bool,
    /// Whether scripts really run ([`scripts::Mode::Simulated`] for the
    /// region's simulated machines, which run nothing on the region host).
    pub scripts: scripts::Mode,
}

/// What one boot did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Enlisted {
        system_id: String,
    },
    Commissioned,
    /// Deployed; what the installed OS received.
    Deployed {
        user_data: Option<Vec<u8>>,
        public_keys: String,
        hostname: String,
    },
    /// The image is on the disk; the machine reboots into it.
    Installed {
        report: String,
    },
    /// The image's root is ready in memory (an ephemeral deployment);
    /// `/init` switches to it.
    InMemory {
        report: String,
    },
    Erased,
    Released,
    Tested,
    Rescue,
    /// A phase the agent has nothing to do in.
    Idle(String),
}

fn kernel_to_maas_arch(a: &str) -> &'static str {
    match a {
        "aarch64" | "arm64" => "arm64/generic",
        "ppc64le" => "ppc64el/generic",
        "s390x" => "s390x/generic",
        "riscv64" => "riscv64/generic",
        _ => "amd64/generic",
    }
}

impl Agent {
    /// Simulated machine `seed`: its fake inventory and lshw document
    /// ([`inventory::fake`], [`lshw::fake`]), scripts simulated, disks left
    /// alone, reporting `power_type` with `power_parameters`.
    pub fn simulated(seed: u64, power_type: &str, power_parameters: serde_json::Value, step_delay: Duration) -> Agent {
        let inv = inventory::fake(seed);
        Agent {
            details: lshw::fake(seed, &inv),
            inventory: inv,
            power_type: power_type.into(),
            power_parameters,
            step_delay,
            writes_disks: false,
            scripts: scripts::Mode::Simulated,
        }
    }

    /// Boots with the preseed at `cloud_config_url`.
    pub async fn boot(&self, http: &reqwest::Client, cloud_config_url: &str) -> Result<Outcome> {
        let text = client::fetch_text(http, cloud_config_url).await?;
        let preseed = client::parse_preseed(&text)?;
        self.run(http, preseed).await
    }

    async fn pause(&self) {
        if !self.step_delay.is_zero() {
            tokio::time::sleep(self.step_delay).await;
        }
    }

    async fn run(&self, http: &reqwest::Client, p: Preseed) -> Result<Outcome> {
        let Some(creds) = p.credentials.clone() else {
            return self.enlist(http, &p).await;
        };
        let md = MetadataClient::new(http.clone(), &p.metadata_url, creds);
        self.pause().await;
        match p.phase.as_str() {
            "commissioning" => {
                self.commission(&md).await?;
                Ok(Outcome::Commissioned)
            }
            "deploying" => self.deploy(&md, &p).await,
            "disk_erasing" | "releasing" => {
                let mut files = Vec::new();
                if p.phase == "disk_erasing" && self.writes_disks {
                    let mode = p.erase.clone().unwrap_or_else(|| "full".into());
                    let inv = self.inventory.clone();
                    let done = tokio::task::spawn_blocking(move || deploy::erase_all(&inv, &mode))
                        .await
                        .map_err(|e| AgentError::Protocol(format!("the eraser crashed: {e}")))?;
                    match done {
                        Ok(lines) => files.push(("wipe-disks.out".to_string(), lines.join("\n").into_bytes())),
                        Err(e) => {
                            md.signal("FAILED", &[("error", e.to_string())], Vec::new()).await?;
                            return Err(e);
                        }
                    }
                }
                md.signal("OK", &[], files).await?;
                self.pause().await;
                self.final_event(&md, &p).await?;
                Ok(if p.phase == "disk_erasing" { Outcome::Erased } else { Outcome::Released })
            }
            "testing" => {
                self.test(&md).await?;
                Ok(Outcome::Tested)
            }
            "rescue" => {
                md.signal("OK", &[], Vec::new()).await?;
                Ok(Outcome::Rescue)
            }
            other => Ok(Outcome::Idle(other.to_string())),
        }
    }

    /// Runs the testing scripts the region serves and ends the phase: OK,
    /// or FAILED naming the scripts that failed.
    async fn test(&self, md: &MetadataClient) -> Result<()> {
        let report = scripts::run_phase(md, &self.inventory, &[], self.scripts, "testing").await?;
        let failed = report.as_ref().map(|r| r.failures()).unwrap_or_default();
        if failed.is_empty() {
            md.signal("OK", &[], Vec::new()).await
        } else {
            let why = format!("Testing failed: {}.", failed.join(", "));
            md.signal("FAILED", &[("error", why)], Vec::new()).await
        }
    }

    /// Runs the commissioning scripts (each result its own `signal`
    /// WORKING), then `signal` OK: the region then judges the results and
    /// applies the inventory. The inventory is always reported, as the
    /// commissioning script's stdout, and the lshw and LLDP documents as the
    /// stdout of MAAS's scripts that make them.
    pub async fn commission(&self, md: &MetadataClient) -> Result<()> {
        let doc = serde_json::to_vec_pretty(&self.inventory)
            .map_err(|e| AgentError::Protocol(format!("cannot encode the inventory: {e}")))?;
        let own = [(COMMISSIONING_SCRIPT, doc.clone()), (LSHW_SCRIPT, self.details.lshw.clone())];
        if let Some(report) = scripts::run_phase(md, &self.inventory, &own, self.scripts, "commissioning").await? {
            if report.ran(COMMISSIONING_SCRIPT) {
                // LLDP is not one of the served scripts here: it rides on the OK.
                let files = if report.ran(LLDP_SCRIPT) {
                    Vec::new()
                } else {
                    vec![(format!("{LLDP_SCRIPT}.out"), self.details.lldp.clone())]
                };
                if !report.tests_follow {
                    return md.signal("OK", &[], files).await;
                }
                // The run's tests come next (MAAS's runner does the same):
                // TESTING makes the region apply what commissioning found
                // and serve the tests; they end the run with OK or FAILED.
                md.signal("TESTING", &[], files).await?;
                return self.test(md).await;
            }
        }
        md.signal(
            "OK",
            &[("name", COMMISSIONING_SCRIPT.to_string()), ("exit_status", "0".into()), ("runtime", "0.5".into())],
            vec![
                (format!("{COMMISSIONING_SCRIPT}.out"), doc),
                (format!("{LSHW_SCRIPT}.out"), self.details.lshw.clone()),
                (format!("{LLDP_SCRIPT}.out"), self.details.lldp.clone()),
            ],
        )
        .await
    }

    async fn deploy(&self, md: &MetadataClient, p: &Preseed) -> Result<Outcome> {
        if !self.writes_disks {
            // A simulated machine plays the deployed system's first boot.
            if !p.ephemeral_deploy {
                md.netboot(false).await?;
            }
            return self.first_boot(md, p).await;
        }
        // MAAS 3.5's ephemeral deployment runs the image from memory
        // (`ram_boot`): no disk is touched and network boot stays on.
        let (outcome, log) = if p.ephemeral_deploy {
            let ds = installer::Datasource {
                metadata_url: md.metadata_url().to_string(),
                webhook: p.webhook.clone(),
                credentials: md.credentials().clone(),
            };
            let mut log = installer::Log::default();
            let r = ram_boot::prepare(md, &ds, &mut log).await;
            (r, Some(log.text().to_string()))
        } else {
            match deploy::install(md, &self.inventory, p.webhook.clone()).await {
                Ok(r) => (r.outcome, r.log),
                Err(e) => (Err(e), None),
            }
        };
        // curtin's last event: its result, with the installer's log
        // attached (the installation result, `/tmp/install.log`).
        let finish = |result: &str, description: String| {
            let mut ev = json!({
                "event_type": "finish", "origin": "curtin", "name": "cmd-install",
                "description": description, "result": result,
                "timestamp": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs_f64(),
            });
            if let Some(l) = &log {
                use base64::Engine as _;
                ev["files"] = json!([{
                    "path": installer::INSTALL_LOG, "encoding": "base64",
                    "content": base64::engine::general_purpose::STANDARD.encode(l),
                    "result": if result == "SUCCESS" { 0 } else { 1 },
                }]);
            }
            ev
        };
        let summary = match outcome {
            Ok(s) => s,
            Err(e) => {
                if let (Some(endpoint), Some(_)) = (&p.webhook, &log) {
                    // Best effort: the signal below fails the deployment
                    // whatever happens to this report.
                    let _ = md.status_event(endpoint, &finish("FAIL", e.to_string())).await;
                }
                // Failed deployment, with the reason for the operator.
                md.signal("FAILED", &[("error", e.to_string())], Vec::new()).await?;
                return Err(e);
            }
        };
        if let Some(endpoint) = &p.webhook {
            md.status_event(endpoint, &finish("SUCCESS", summary.clone())).await?;
        }
        if p.ephemeral_deploy {
            return Ok(Outcome::InMemory { report: summary });
        }
        md.netboot(false).await?;
        Ok(Outcome::Installed { report: summary })
    }

    /// The deployed system's first boot: what its cloud-init reads, then
    /// `modules-final` (which marks the machine Deployed).
    async fn first_boot(&self, md: &MetadataClient, p: &Preseed) -> Result<Outcome> {
        self.pause().await;
        let hostname = md.meta_data("local-hostname").await?;
        let public_keys = md.meta_data("public-keys").await?;
        let user_data = md.user_data().await?;
        self.final_event(md, p).await?;
        Ok(Outcome::Deployed { user_data, public_keys, hostname })
    }

    /// cloud-init's last word: `modules-final` start and successful finish.
    async fn final_event(&self, md: &MetadataClient, p: &Preseed) -> Result<()> {
        let endpoint = p.webhook.clone().ok_or_else(|| AgentError::Protocol("the preseed has no webhook".into()))?;
        let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs_f64();
        for (event_type, result) in [("start", None), ("finish", Some("SUCCESS"))] {
            let mut ev = json!({
                "event_type": event_type,
                "origin": "cloud-init",
                "name": "modules-final",
                "description": "running modules for final",
                "timestamp": ts,
            });
            if let Some(r) = result {
                ev["result"] = json!(r);
            }
            md.status_event(&endpoint, &ev).await?;
        }
        Ok(())
    }

    /// An unknown machine registers itself, then commissions with its new
    /// credentials.
    async fn enlist(&self, http: &reqwest::Client, p: &Preseed) -> Result<Outcome> {
        let region = p
            .region_url
            .clone()
            .unwrap_or_else(|| p.metadata_url.split("/MAAS/").next().map(|b| format!("{b}/MAAS/")).unwrap_or_default());
        let api = format!("{region}api/2.0/machines/");
        let macs: Vec<String> = self.inventory.ports().map(|(_, p)| p.address.clone()).collect();
        let first = macs.first().cloned().ok_or_else(|| AgentError::Protocol("no network interface".into()))?;
        let url = format!("{api}?op=is_registered&mac_address={first}");
        let known: serde_json::Value = serde_json::from_str(&client::fetch_text(http, &url).await?)
            .map_err(|e| AgentError::Protocol(format!("is_registered: {e}")))?;
        if known == json!(true) {
            return Ok(Outcome::Idle("already registered".into()));
        }
        let mut form: Vec<(&str, String)> = vec![
            ("architecture", kernel_to_maas_arch(&self.inventory.architecture).to_string()),
            ("commission", "true".into()),
            ("power_type", self.power_type.clone()),
            ("power_parameters", self.power_parameters.to_string()),
        ];
        form.extend(macs.iter().map(|m| ("mac_addresses", m.clone())));
        // The region limits anonymous enlistment (429 with Retry-After):
        // a rack of machines powered on together waits its turn.
        let mut attempts = 0;
        let (status, body) = loop {
            let r = http
                .post(&api)
                .form(&form)
                .send()
                .await
                .map_err(|source| AgentError::Http { url: api.clone(), source })?;
            let status = r.status().as_u16();
            let wait = r
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let body = r.text().await.unwrap_or_default();
            attempts += 1;
            match wait {
                Some(secs) if status == 429 && attempts < 20 => {
                    tokio::time::sleep(std::time::Duration::from_secs(secs.clamp(1, 300))).await;
                }
                _ => break (status, body),
            }
        };
        if status != 200 {
            return Err(AgentError::Status { url: api, status, body });
        }
        let v: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| AgentError::Protocol(format!("enlistment answer: {e}")))?;
        let sid = v["system_id"].as_str().ok_or_else(|| AgentError::Protocol("no system_id".into()))?.to_string();
        let md_base = p.metadata_url.trim_end_matches('/').trim_end_matches("enlist").trim_end_matches('/');
        let preseed_url = format!("{md_base}/latest/by-id/{sid}/?op=get_preseed");
        let own = client::parse_preseed(&client::fetch_text(http, &preseed_url).await?)?;
        let creds =
            own.credentials.clone().ok_or_else(|| AgentError::Protocol("preseed without credentials".into()))?;
        self.pause().await;
        self.commission(&MetadataClient::new(http.clone(), &own.metadata_url, creds)).await?;
        Ok(Outcome::Enlisted { system_id: sid })
    }
}
