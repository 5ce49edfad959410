//! The rack daemon: registers with a region, heartbeats, applies the
//! configuration the region computes (DHCP, boot), reports DHCP leases and
//! boot events, and runs the DHCP, TFTP and HTTP boot servers.
//!
//! The last configuration is cached in the data directory, so a rack that
//! restarts while every region is down still serves DHCP and boot scripts.
//! The rack's identity is kept there too: `rack.json` (its system_id) and
//! `rack-key` (mode 0600, the key the region issued at its first
//! registration, which signs every call after it).
//! Lost contact is retried with exponential backoff, trying each region URL
//! in turn; lease events wait in memory (bounded) until a region takes them.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::client::{LinkError, RegionClient};
use super::state::RackState;
use super::tls::RegionPins;
use crate::dhcp::{bind_socket, DhcpServer};
use crate::dhcp6::{bind_socket6, duid_ll, Dhcp6Server};
use crate::tftp::{DynamicSource, TftpConfig, TftpServer};
use ironpool_common::dhcp::{DhcpConfig, MacAddr};
use ironpool_common::dhcp6::Dhcp6Config;
use ironpool_common::power::PowerAction;
use ironpool_common::rack_link::{
    self, BootEvent, BootEventReport, ConfigDelta, LeaseReport, PowerCommand, PowerResult, PowerResultReport,
    RackConfig, RackInterface, RegisterRequest, RegisterResponse, ServiceStatus, SyncRequest, SyncResponse,
};
use ironpool_power::virtual_bmc::VirtualBmcs;
use ironpool_power::{Drivers, RetryPolicy};

/// BMC conversations the rack holds open at once.
const POWER_CONCURRENCY: usize = 32;

/// How the rack runs.
#[derive(Debug, Clone)]
pub struct RackOptions {
    pub region_urls: Vec<String>,
    pub secret: String,
    /// SHA-256 fingerprints an `https://` region's certificate must have;
    /// empty: trust the first one seen at registration and pin it
    /// (`super::tls`).
    pub region_fingerprints: Vec<String>,
    pub data_dir: PathBuf,
    pub hostname: String,
    /// Interfaces to report; `None` asks the host (`ip -j addr`).
    pub interfaces: Option<Vec<RackInterface>>,
    /// HTTP boot server (MAAS: port 5248); `None` disables it.
    pub http_listen: Option<SocketAddr>,
    /// Request-body limits and pace of the HTTP boot server.
    pub http_limits: super::http::HttpLimits,
    /// TFTP server (port 69); `None` disables it.
    pub tftp_listen: Option<SocketAddr>,
    /// DHCP server (port 67); `None` disables it even if the region enables DHCP.
    pub dhcp_listen: Option<SocketAddr>,
    /// DHCPv6 server (`[::]:547`); `None` disables it even if the region
    /// sends IPv6 subnets.
    pub dhcp6_listen: Option<SocketAddr>,
    /// Prometheus metrics (`GET /metrics`; MAAS's rack uses port 5249,
    /// which `ironpool rack` binds on loopback); `None` disables them.
    pub metrics_listen: Option<SocketAddr>,
    /// Bind DHCP and DHCPv6 to this interface (SO_BINDTODEVICE; DHCPv6
    /// joins ff02::1:2 there, or on every interface when unset).
    pub dhcp_interface: Option<String>,
    /// Overrides the heartbeat interval the region asks for.
    pub heartbeat: Option<Duration>,
    /// Longest wait between reconnection attempts.
    pub max_backoff: Duration,
    pub request_timeout: Duration,
    /// Log a port that cannot be bound and run without that service,
    /// instead of failing (the rack embedded in `ironpool serve`/`demo`
    /// as an ordinary user cannot bind ports 67 and 69).
    pub best_effort: bool,
}

impl RackOptions {
    pub fn new(region_urls: Vec<String>, secret: String, data_dir: PathBuf) -> Self {
        RackOptions {
            region_urls,
            secret,
            region_fingerprints: Vec::new(),
            data_dir,
            hostname: hostname(),
            interfaces: None,
            http_listen: Some(SocketAddr::from(([0, 0, 0, 0], 5248))),
            http_limits: Default::default(),
            tftp_listen: Some(SocketAddr::from(([0, 0, 0, 0], 69))),
            dhcp_listen: Some(SocketAddr::from(([0, 0, 0, 0], 67))),
            dhcp6_listen: Some(SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 547))),
            metrics_listen: None,
            dhcp_interface: None,
            heartbeat: None,
            max_backoff: Duration::from_secs(30),
            request_timeout: Duration::from_secs(20),
            best_effort: false,
        }
    }
}

/// The host's name, as MAAS racks report it.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "rack".into())
}

/// A running rack; dropping it does not stop it, call [`Rack::stop`].
pub struct Rack {
    pub state: Arc<RackState>,
    /// How `https://` regions are trusted (`None` when every URL is `http://`).
    pub region_tls: Option<Arc<RegionPins>>,
    pub http_addr: Option<SocketAddr>,
    pub tftp_addr: Option<SocketAddr>,
    pub metrics_addr: Option<SocketAddr>,
    http: Option<actix_web::dev::ServerHandle>,
    metrics: Option<actix_web::dev::ServerHandle>,
    tasks: Vec<JoinHandle<()>>,
    dhcp: Arc<DhcpControl>,
    dhcp6: Arc<Dhcp6Control>,
}

impl Rack {
    /// Starts the servers and the region link. Fails only on local problems
    /// (a port in use, an unwritable data dir); an unreachable region is
    /// retried in the background.
    pub async fn start(opts: RackOptions) -> anyhow::Result<Rack> {
        if !rack_link::valid_secret(&opts.secret) {
            anyhow::bail!("the shared secret must be the hex string `ironpool secret` prints on the region");
        }
        std::fs::create_dir_all(opts.data_dir.join("images"))?;
        std::fs::create_dir_all(opts.data_dir.join("tftp"))?;
        let region_tls = if opts.region_urls.iter().any(|u| u.trim().to_ascii_lowercase().starts_with("https://")) {
            Some(Arc::new(RegionPins::load(&opts.region_fingerprints, &opts.data_dir)?))
        } else {
            if !opts.region_fingerprints.is_empty() {
                tracing::warn!("--region-fingerprint is ignored: no region URL is https://");
            }
            None
        };
        let tls_config = region_tls.as_ref().map(|p| p.client_config()).transpose()?;
        let client =
            Arc::new(RegionClient::with_tls(&opts.region_urls, &opts.secret, opts.request_timeout, tls_config)?);
        let state = Arc::new(RackState::default());
        load_cache(&opts.data_dir, &state);
        if let (Some(sid), Some(key)) = (state.system_id(), load_key(&opts.data_dir)) {
            client.set_identity(sid, key);
        }

        let mut tasks = Vec::new();
        let (mut http_addr, mut http) = (None, None);
        let tolerate = |what: &str, listen: SocketAddr, e: std::io::Error| -> anyhow::Result<()> {
            if opts.best_effort {
                tracing::warn!(%listen, error = %e, "cannot bind the rack's {what} server; running without it");
                Ok(())
            } else {
                Err(anyhow::anyhow!("cannot bind the {what} server on {listen}: {e}"))
            }
        };
        if let Some(listen) = opts.http_listen {
            match super::http::bind(
                listen,
                state.clone(),
                client.clone(),
                opts.data_dir.join("images"),
                opts.http_limits,
            ) {
                Ok((addr, server)) => {
                    http = Some(server.handle());
                    tasks.push(tokio::spawn(async move {
                        if let Err(e) = server.await {
                            tracing::error!(error = %e, "rack HTTP server stopped");
                        }
                    }));
                    http_addr = Some(addr);
                }
                Err(e) => tolerate("HTTP boot", listen, e)?,
            }
        }
        let (mut metrics_addr, mut metrics) = (None, None);
        if let Some(listen) = opts.metrics_listen {
            match super::metrics::bind(listen, state.clone()) {
                Ok((addr, server)) => {
                    metrics = Some(server.handle());
                    tasks.push(tokio::spawn(async move {
                        if let Err(e) = server.await {
                            tracing::error!(error = %e, "rack metrics server stopped");
                        }
                    }));
                    metrics_addr = Some(addr);
                }
                Err(e) => tolerate("metrics", listen, e)?,
            }
        }
        let mut tftp_addr = None;
        if let Some(listen) = opts.tftp_listen {
            let root = opts.data_dir.join("tftp");
            install_boot_loaders(&root);
            let http_port = http_addr.map(|a| a.port()).unwrap_or(5248);
            match TftpServer::bind(listen, TftpConfig::new(root)).await {
                Ok(server) => {
                    let server = server.with_dynamic(Arc::new(TftpScripts { http_port, state: state.clone() }));
                    state.set_tftp_stats(server.stats());
                    tftp_addr = Some(server.local_addr()?);
                    tasks.push(tokio::spawn(async move {
                        if let Err(e) = server.serve().await {
                            tracing::error!(error = %e, "rack TFTP server stopped");
                        }
                    }));
                }
                Err(e) => tolerate("TFTP", listen, e)?,
            }
        }
        let dhcp = Arc::new(DhcpControl {
            listen: opts.dhcp_listen,
            interface: opts.dhcp_interface.clone(),
            lease_file: opts.data_dir.join("dhcp-leases.json"),
            http_port: http_addr.map(|a| a.port()).unwrap_or(5248),
            running: Mutex::new(None),
        });
        let dhcp6 = Arc::new(Dhcp6Control {
            listen: opts.dhcp6_listen,
            interface: opts.dhcp_interface.clone(),
            data_dir: opts.data_dir.clone(),
            http_port: http_addr.map(|a| a.port()).unwrap_or(5248),
            running: Mutex::new(None),
        });
        if let Some(cfg) = state.config() {
            // Serve from the cache at once; the region may be down.
            dhcp.apply(&state, cfg.dhcp.clone());
            dhcp6.apply(&state, cfg.dhcp6.clone());
        }
        let link = Link {
            opts: opts.clone(),
            region_tls: region_tls.clone(),
            client,
            state: state.clone(),
            dhcp: dhcp.clone(),
            dhcp6: dhcp6.clone(),
            services: services(&http_addr, &tftp_addr),
            // Virtual BMCs live in the region's process; a rack has none.
            drivers: Drivers::standard(VirtualBmcs::new()),
            power_slots: Arc::new(tokio::sync::Semaphore::new(POWER_CONCURRENCY)),
        };
        tasks.push(tokio::spawn(link.run()));
        Ok(Rack { state, region_tls, http_addr, tftp_addr, metrics_addr, http, metrics, tasks, dhcp, dhcp6 })
    }

    /// Stops every server and the link.
    pub async fn stop(self) {
        if let Some(h) = self.http {
            h.stop(true).await;
        }
        if let Some(h) = self.metrics {
            h.stop(true).await;
        }
        self.dhcp.stop();
        self.dhcp6.stop();
        for t in self.tasks {
            t.abort();
        }
    }
}

fn services(http: &Option<SocketAddr>, tftp: &Option<SocketAddr>) -> Vec<ServiceStatus> {
    let svc = |name: &str, on: bool| ServiceStatus {
        name: name.into(),
        status: if on { "running" } else { "off" }.into(),
        status_info: String::new(),
    };
    vec![svc("http", http.is_some()), svc("tftp", tftp.is_some())]
}

/// Copies the iPXE boot loaders from Debian's `ipxe` package into the TFTP
/// root when present, under the names the DHCP server hands out.
fn install_boot_loaders(root: &Path) {
    for (src, name) in [("/usr/lib/ipxe/undionly.kpxe", "undionly.kpxe"), ("/usr/lib/ipxe/ipxe.efi", "ipxe.efi")] {
        let dst = root.join(name);
        if !dst.exists() && Path::new(src).exists() {
            if let Err(e) = std::fs::copy(src, &dst) {
                tracing::warn!(%src, error = %e, "cannot copy boot loader into the TFTP root");
            }
        }
    }
}

/// Boot configs over TFTP, rendered from the cached configuration: the
/// iPXE chain script (`ipxe.cfg`, chaining to HTTP as early as possible,
/// which keeps boot storms short), per-MAC iPXE scripts, PXELINUX configs
/// (`pxelinux.cfg/01-<mac>`, `default`) and GRUB configs (`grub/grub.cfg`,
/// `grub/grub.cfg-<mac>`, `grub/grub.cfg-default-*`). GRUB's module lists
/// come back empty rather than as errors, as MAAS answers them.
struct TftpScripts {
    http_port: u16,
    state: Arc<RackState>,
}

impl TftpScripts {
    /// The rack's address as a client in `client`'s subnet reaches it.
    fn rack_ip(&self, client: SocketAddr) -> Option<String> {
        let cfg = self.state.config()?;
        let dhcp = cfg.dhcp.as_ref()?;
        let IpAddr::V4(ip) = client.ip() else { return None };
        let own = dhcp.subnets.iter().find(|s| s.cidr.contains(ip)).and_then(|s| s.next_server);
        Some(own.unwrap_or(dhcp.server_address).to_string())
    }
}

#[async_trait]
impl DynamicSource for TftpScripts {
    async fn generate(&self, path: &str, client: SocketAddr) -> Option<Vec<u8>> {
        use super::boot;
        if path == "ipxe.cfg" || path == "boot.ipxe" {
            return Some(boot::chain_script(&format!("http://${{next-server}}:{}", self.http_port)).into_bytes());
        }
        if matches!(path, "grub/command.lst" | "grub/fs.lst" | "grub/crypto.lst" | "grub/terminal.lst") {
            return Some(Vec::new());
        }
        if path == "grub/grub.cfg" {
            return Some(boot::grub_main().as_bytes().to_vec());
        }
        let cfg = self.state.config()?;
        let rack = format!("{}:{}", self.rack_ip(client)?, self.http_port);
        let http_base = format!("http://{rack}");
        let mac_event = |mac: &str, file: &str| {
            if let IpAddr::V4(ip) = client.ip() {
                self.state.boot_event(BootEvent { mac: mac.to_string(), file: file.to_string(), ip });
            }
        };
        if let Some(m) = path.strip_prefix("ipxe.cfg-") {
            let mac = boot::mac_of_request(m);
            if let Some(mac) = &mac {
                mac_event(mac, path);
            }
            return Some(boot::ipxe_script(&cfg.boot, mac.as_deref(), &http_base, &rack).into_bytes());
        }
        if let Some(rest) = path.strip_prefix("pxelinux.cfg/") {
            // `01-<mac>` (ARP type 1) or `default`; other names (UUIDs, hex
            // IPs) are "file not found" so PXELINUX tries its next name.
            let mac = match rest.strip_prefix("01-") {
                Some(m) => Some(boot::mac_of_request(m)?),
                None if rest == "default" || rest.starts_with("default.") => None,
                None => return None,
            };
            if let Some(mac) = &mac {
                mac_event(mac, path);
            }
            return Some(boot::pxelinux_config(&cfg.boot, mac.as_deref(), &http_base, &rack).into_bytes());
        }
        if let Some(rest) = path.strip_prefix("grub/grub.cfg-") {
            let mac = if rest.starts_with("default") { None } else { Some(boot::mac_of_request(rest)?) };
            if let Some(mac) = &mac {
                mac_event(mac, path);
            }
            return Some(boot::grub_config(&cfg.boot, mac.as_deref(), &rack).into_bytes());
        }
        None
    }
}

/// A running DHCP server: its configuration channel, its task and the task
/// forwarding its lease events.
type RunningDhcp = (mpsc::Sender<DhcpConfig>, JoinHandle<()>, JoinHandle<()>);

/// Starts, reconfigures and stops the DHCP server as configurations arrive.
struct DhcpControl {
    listen: Option<SocketAddr>,
    interface: Option<String>,
    lease_file: PathBuf,
    http_port: u16,
    running: Mutex<Option<RunningDhcp>>,
}

impl DhcpControl {
    fn localise(&self, mut cfg: DhcpConfig) -> DhcpConfig {
        cfg.lease_file = Some(self.lease_file.clone());
        cfg.ipxe_script_url = format!("http://{{server}}:{}/ipxe.cfg-{{mac}}", self.http_port);
        cfg.boot_files.bios = "undionly.kpxe".into();
        cfg.boot_files.uefi_x64 = "ipxe.efi".into();
        cfg
    }

    fn apply(&self, state: &Arc<RackState>, cfg: Option<DhcpConfig>) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let (Some(cfg), Some(listen)) = (cfg, self.listen) else {
            if let Some((_, a, b)) = running.take() {
                tracing::info!("DHCP disabled by the region");
                a.abort();
                b.abort();
            }
            return;
        };
        let cfg = self.localise(cfg);
        if let Some((tx, _, _)) = running.as_ref() {
            match tx.try_send(cfg.clone()) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    // Configurations are whole, so the next sync supersedes this one.
                    tracing::warn!("DHCP server busy; the configuration is applied on the next sync");
                    return;
                }
                // The server task ended: start a fresh one below.
                Err(mpsc::error::TrySendError::Closed(_)) => *running = None,
            }
        }
        let socket = match bind_socket(listen, self.interface.as_deref()).and_then(tokio::net::UdpSocket::from_std) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(%listen, error = %e, "cannot bind the DHCP socket; DHCP is not served");
                return;
            }
        };
        let (server, mut events) = match DhcpServer::new(cfg, 1024) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "DHCP configuration from the region refused");
                return;
            }
        };
        state.set_dhcp_stats(server.stats());
        let (tx, rx) = mpsc::channel(4);
        let serve = tokio::spawn(async move {
            if let Err(e) = server.run_with_updates(socket, rx).await {
                tracing::error!(error = %e, "DHCP server stopped");
            }
        });
        let st = state.clone();
        let forward = tokio::spawn(async move {
            while let Some(e) = events.recv().await {
                st.lease_event(e);
            }
        });
        *running = Some((tx, serve, forward));
    }

    fn stop(&self) {
        if let Some((_, a, b)) = self.running.lock().unwrap_or_else(|e| e.into_inner()).take() {
            a.abort();
            b.abort();
        }
    }
}

/// A running DHCPv6 server: its configuration channel and its task.
type RunningDhcp6 = (mpsc::Sender<Dhcp6Config>, JoinHandle<()>);

/// Starts, reconfigures and stops the DHCPv6 server as configurations
/// arrive, like [`DhcpControl`] for IPv4.
struct Dhcp6Control {
    listen: Option<SocketAddr>,
    interface: Option<String>,
    data_dir: PathBuf,
    http_port: u16,
    running: Mutex<Option<RunningDhcp6>>,
}

impl Dhcp6Control {
    /// The rack's own ports and file names: iPXE scripts come from its HTTP
    /// server, UEFI PXE clients get iPXE (as for IPv4), leases live in the
    /// data directory.
    fn localise(&self, mut cfg: Dhcp6Config) -> Dhcp6Config {
        cfg.lease_file = Some(self.data_dir.join("dhcp6-leases.json"));
        cfg.boot.ipxe_script_url = format!("http://{{server}}:{}/ipxe.cfg-{{mac}}", self.http_port);
        cfg.boot.uefi_x64_tftp = "tftp://{server}/ipxe.efi".into();
        cfg
    }

    fn is_running(&self) -> bool {
        self.running.lock().unwrap_or_else(|e| e.into_inner()).as_ref().is_some_and(|(_, t)| !t.is_finished())
    }

    fn apply(&self, state: &RackState, cfg: Option<Dhcp6Config>) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let (Some(cfg), Some(listen)) = (cfg, self.listen) else {
            if let Some((_, task)) = running.take() {
                tracing::info!("DHCPv6 disabled by the region");
                task.abort();
            }
            return;
        };
        let cfg = self.localise(cfg);
        if let Some((tx, _)) = running.as_ref() {
            match tx.try_send(cfg.clone()) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!("DHCPv6 server busy; the configuration is applied on the next sync");
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => *running = None,
            }
        }
        let socket = match bind_socket6(listen, self.interface.as_deref()).and_then(tokio::net::UdpSocket::from_std) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(%listen, error = %e, "cannot bind the DHCPv6 socket; DHCPv6 is not served");
                return;
            }
        };
        let duid = server_duid(&self.data_dir, self.interface.as_deref());
        let server = match Dhcp6Server::new(cfg, duid) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "DHCPv6 configuration from the region refused");
                return;
            }
        };
        state.set_dhcp6_stats(server.stats());
        let (tx, rx) = mpsc::channel(4);
        let serve = tokio::spawn(async move {
            if let Err(e) = server.run_with_updates(socket, rx).await {
                tracing::error!(error = %e, "DHCPv6 server stopped");
            }
        });
        *running = Some((tx, serve));
    }

    fn stop(&self) {
        if let Some((_, task)) = self.running.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }
}

/// Where the DHCPv6 server identifier is kept.
const DUID_FILE: &str = "dhcp6-duid";

/// The DHCPv6 server identifier: the one saved in the data directory, or
/// else a DUID-LL from the MAC of the DHCP interface (or of the first
/// interface with a MAC), saved there. Clients renew with the server whose
/// identifier they hold, so it must not change when the rack restarts or
/// its interfaces are renamed or replaced.
fn server_duid(dir: &Path, interface: Option<&str>) -> Vec<u8> {
    let path = dir.join(DUID_FILE);
    if let Some(d) = std::fs::read_to_string(&path).ok().and_then(|t| rack_link::unhex(t.trim())) {
        if (2..=130).contains(&d.len()) {
            return d;
        }
    }
    let mac_of = |name: &str| -> Option<MacAddr> {
        let m: MacAddr = std::fs::read_to_string(format!("/sys/class/net/{name}/address")).ok()?.trim().parse().ok()?;
        (m.0 != [0; 6]).then_some(m)
    };
    let mac = interface.and_then(mac_of).or_else(|| {
        let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
            .ok()?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n != "lo")
            .collect();
        names.sort();
        names.iter().find_map(|n| mac_of(n))
    });
    // No MAC anywhere (a container without interfaces yet): a random,
    // locally administered one, saved like any other.
    let mac = mac.unwrap_or_else(|| {
        let mut b = [0u8; 6];
        if let Some(r) = rack_link::unhex(&rack_link::new_secret()) {
            b.copy_from_slice(&r[..6]);
        }
        b[0] = (b[0] & 0xfe) | 0x02;
        MacAddr(b)
    });
    let duid = duid_ll(mac);
    let text: String = duid.iter().map(|b| format!("{b:02x}")).collect();
    if let Err(e) = std::fs::write(&path, text) {
        tracing::warn!(path = %path.display(), error = %e, "cannot save the DHCPv6 server DUID");
    }
    duid
}

struct Link {
    opts: RackOptions,
    region_tls: Option<Arc<RegionPins>>,
    client: Arc<RegionClient>,
    state: Arc<RackState>,
    dhcp: Arc<DhcpControl>,
    dhcp6: Arc<Dhcp6Control>,
    services: Vec<ServiceStatus>,
    drivers: Drivers,
    /// Bounds BMC conversations in flight (a power sync hands out every
    /// machine at once).
    power_slots: Arc<tokio::sync::Semaphore>,
}

impl Link {
    /// Runs each new power command in the background (BMC calls take
    /// seconds; the link keeps syncing meanwhile) and queues its result.
    fn start_power(&self, commands: Vec<PowerCommand>) {
        for cmd in commands {
            if !self.state.claim_power_job(cmd.job_id) {
                continue;
            }
            let (drivers, state, slots) = (self.drivers.clone(), self.state.clone(), self.power_slots.clone());
            tokio::spawn(async move {
                let _slot = slots.acquire_owned().await;
                let result = match PowerAction::parse(&cmd.action) {
                    None => Err(ironpool_common::power::PowerError::Config(format!(
                        "unknown power action '{}'",
                        cmd.action
                    ))),
                    Some(action) => drivers.act(&cmd.power_type, action, &cmd.params, &RetryPolicy::default()).await,
                };
                tracing::info!(job = cmd.job_id, machine = %cmd.system_id, action = %cmd.action, ok = result.is_ok(), "power command done");
                let (st, error) = match result {
                    Ok(st) => (st.map(|s| s.as_str().to_string()), None),
                    Err(e) => (None, Some(e)),
                };
                state.power_result(PowerResult { job_id: cmd.job_id, state: st, error });
            });
        }
    }

    async fn run(self) {
        let mut backoff = Duration::from_millis(250);
        let mut registered = false;
        let mut heartbeat = Duration::from_secs(10);
        loop {
            match self.round(&mut registered, &mut heartbeat).await {
                Ok(long_polled) => {
                    if !self.state.set_connected(true) {
                        tracing::info!(region = self.client.current_url(), "connected to region");
                    }
                    backoff = Duration::from_millis(250);
                    if !long_polled {
                        // The region answered at once (it predates long
                        // polls, or has not accepted this rack): wait a
                        // heartbeat, waking early for reports.
                        let _ = tokio::time::timeout(heartbeat, self.state.reports_waiting()).await;
                    }
                    // Let a burst of events collect into one report.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => {
                    registered = false;
                    if self.state.set_connected(false) {
                        tracing::warn!(error = %e, "lost the region; retrying with backoff");
                    } else {
                        tracing::debug!(error = %e, "region still unreachable");
                    }
                    if matches!(e, LinkError::Refused(_)) {
                        tracing::error!(
                            "the region refused this rack: check its key (`rack-key` in its data dir), its clock, or the shared secret (`ironpool secret` on the region)"
                        );
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.opts.max_backoff);
                }
            }
        }
    }

    /// One exchange: (re)register if needed, a long-polled sync (reports
    /// that arrive meanwhile are sent beside it), then the reports. Returns
    /// whether the region held the sync (long poll), so the caller knows
    /// whether to wait a heartbeat itself.
    async fn round(&self, registered: &mut bool, heartbeat: &mut Duration) -> Result<bool, LinkError> {
        if !*registered {
            let interfaces = match &self.opts.interfaces {
                Some(i) => i.clone(),
                None => detect_interfaces().await,
            };
            let req = RegisterRequest {
                system_id: self.state.system_id(),
                hostname: self.opts.hostname.clone(),
                version: ironpool_common::IRONPOOL_VERSION.to_string(),
                interfaces,
            };
            let resp: RegisterResponse = match self.client.post("register", &req).await {
                // Signed with a key the region no longer knows (an admin
                // deleted this rack): register afresh as a new rack.
                Err(LinkError::UnknownRack(why)) if self.client.identity().is_some() => {
                    tracing::warn!(%why, "the region no longer knows this rack; registering afresh");
                    self.client.clear_identity();
                    let _ = std::fs::remove_file(self.opts.data_dir.join(KEY_FILE));
                    self.client.post("register", &RegisterRequest { system_id: None, ..req }).await?
                }
                r => r?,
            };
            match resp.rack_key {
                Some(key) => {
                    if let Err(e) = save_key(&self.opts.data_dir, &key) {
                        // Kept in memory for this run; after a restart the
                        // rack would have to be deleted and registered afresh.
                        tracing::error!(error = %e, "cannot save the rack's key in its data directory");
                    }
                    self.client.set_identity(resp.system_id.clone(), key);
                }
                None if self.client.identity().is_some_and(|(sid, _)| sid == resp.system_id) => {}
                None => {
                    return Err(LinkError::Protocol(format!(
                        "the region registered this rack as {} without issuing it a key",
                        resp.system_id
                    )))
                }
            }
            if let Some(pins) = &self.region_tls {
                // Trust on first use: the region that took the registration
                // is the one whose certificate is pinned.
                match pins.pin_after_registration(self.client.current_url()) {
                    Ok(Some((host, fp))) => {
                        tracing::info!(%host, fingerprint = %fp, "pinned the region's TLS certificate (first use)")
                    }
                    Ok(None) => {}
                    Err(e) => tracing::error!(
                        error = %e,
                        "cannot save the region's TLS certificate pin; it holds until this rack restarts"
                    ),
                }
            }
            self.state.set_system_id(resp.system_id.clone());
            save_json(&self.opts.data_dir.join("rack.json"), &serde_json::json!({ "system_id": resp.system_id }));
            *heartbeat = self.opts.heartbeat.unwrap_or(Duration::from_secs(resp.heartbeat_secs.max(1)));
            self.state.registrations.fetch_add(1, Ordering::Relaxed);
            *registered = true;
        }
        let system_id = self.state.system_id().unwrap_or_default();
        let mut services = self.services.clone();
        services.push(ServiceStatus {
            name: "dhcpd".into(),
            status: if self.dhcp.running.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
                "running"
            } else {
                "off"
            }
            .into(),
            status_info: String::new(),
        });
        // MAAS racks report DHCPv6 as its own service.
        services.push(ServiceStatus {
            name: "dhcpd6".into(),
            status: if self.dhcp6.is_running() { "running" } else { "off" }.into(),
            status_info: String::new(),
        });
        // The region holds the sync until it has a power command for this
        // rack, or a heartbeat has passed: commands start as soon as they
        // are issued, not at the next heartbeat.
        let wait = (*heartbeat).min(Duration::from_millis(rack_link::MAX_SYNC_WAIT_MS));
        let req = SyncRequest {
            system_id: system_id.clone(),
            config_hash: self.state.config_hash(),
            services,
            wait_ms: Some(u64::try_from(wait.as_millis()).unwrap_or(rack_link::MAX_SYNC_WAIT_MS)),
            power_in_flight: self.state.power_jobs_in_flight(),
        };
        let sync = self.client.post_waiting::<_, SyncResponse>("sync", &req, wait);
        tokio::pin!(sync);
        let resp = loop {
            tokio::select! {
                biased;
                r = &mut sync => break r?,
                // Reports do not wait for the poll to end.
                _ = self.state.reports_waiting() => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    if self.state.power_results_waiting() {
                        // This poll's answer may have been read before the
                        // region takes these results, and so still list
                        // their jobs; once reported, the rack forgets them
                        // and would run them again. Drop the poll unread,
                        // report, and poll afresh.
                        self.send_reports(&system_id).await?;
                        return Ok(true);
                    }
                    // Leases and boot events go beside the poll.
                    self.send_events(&system_id).await?;
                }
            }
        };
        self.state.synced();
        self.start_power(resp.power);
        if let Some(cfg) = self.new_config(resp.config, resp.delta, &resp.config_hash) {
            save_json(
                &self.opts.data_dir.join("config.json"),
                &serde_json::json!({ "hash": resp.config_hash, "config": cfg }),
            );
            self.dhcp.apply(&self.state, cfg.dhcp.clone());
            self.dhcp6.apply(&self.state, cfg.dhcp6.clone());
            self.state.set_config(resp.config_hash, cfg);
        }
        self.send_reports(&system_id).await?;
        Ok(resp.long_poll)
    }

    /// The configuration a sync answer brings: the whole document, or the
    /// held one with the delta applied when the result hashes to what the
    /// region sent. A delta that does not fit is dropped and the held
    /// configuration's hash forgotten, so the next sync brings the whole.
    fn new_config(&self, whole: Option<RackConfig>, delta: Option<ConfigDelta>, hash: &str) -> Option<RackConfig> {
        if let Some(cfg) = whole {
            tracing::info!(%hash, machines = cfg.boot.machines.len(), dhcp = cfg.dhcp.is_some(), "new configuration from the region");
            self.state.configs_whole.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Some(cfg);
        }
        let d = delta?;
        let held = self.state.config().filter(|_| self.state.config_hash().as_deref() == Some(d.base_hash.as_str()));
        let Some(base) = held else {
            tracing::warn!(base = %d.base_hash, "configuration delta for a configuration this rack does not hold; asking for the whole");
            self.state.forget_config_hash();
            return None;
        };
        let cfg = d.apply(&base);
        if rack_link::config_hash(&cfg) != hash {
            tracing::warn!(%hash, "configuration delta did not rebuild the region's configuration; asking for the whole");
            self.state.forget_config_hash();
            return None;
        }
        tracing::info!(%hash, changes = d.size(), machines = cfg.boot.machines.len(), "configuration delta from the region");
        self.state.configs_delta.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(cfg)
    }

    /// Sends the reports waiting for the region; those it does not take
    /// are put back for the next round.
    async fn send_reports(&self, system_id: &str) -> Result<(), LinkError> {
        let power = self.state.take_power_results();
        if !power.is_empty() {
            let report = PowerResultReport { system_id: system_id.to_string(), results: power.clone() };
            if let Err(e) = self.client.post::<_, serde_json::Value>("power-results", &report).await {
                self.state.put_back_power_results(power);
                return Err(e);
            }
            self.state.release_power_jobs(&power);
        }
        self.send_events(system_id).await
    }

    /// Sends the DHCP lease and boot events waiting for the region.
    async fn send_events(&self, system_id: &str) -> Result<(), LinkError> {
        let system_id = system_id.to_string();
        let leases = self.state.take_leases();
        if !leases.is_empty() {
            let report = LeaseReport { system_id: system_id.clone(), events: leases.clone() };
            if let Err(e) = self.client.post::<_, serde_json::Value>("leases", &report).await {
                self.state.put_back_leases(leases);
                return Err(e);
            }
        }
        let boots = self.state.take_boot_events();
        if !boots.is_empty() {
            let report = BootEventReport { system_id, events: boots.clone() };
            if let Err(e) = self.client.post::<_, serde_json::Value>("boot-events", &report).await {
                self.state.put_back_boot_events(boots);
                return Err(e);
            }
        }
        Ok(())
    }
}

/// Writes JSON through a temporary file and a rename (never half a file).
fn save_json(path: &Path, v: &serde_json::Value) {
    let tmp = path.with_extension("tmp");
    let r = std::fs::write(&tmp, serde_json::to_vec_pretty(v).unwrap_or_default())
        .and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = r {
        tracing::warn!(path = %path.display(), error = %e, "cannot save rack state");
    }
}

/// Where the rack keeps the key the region issued it.
const KEY_FILE: &str = "rack-key";

/// Writes the rack's key readable by its owner only (created 0600, through
/// a temporary file and a rename).
fn save_key(dir: &Path, key: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = dir.join(".rack-key.tmp");
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    f.write_all(key.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(KEY_FILE))
}

fn load_key(dir: &Path) -> Option<String> {
    let k = std::fs::read_to_string(dir.join(KEY_FILE)).ok()?;
    let k = k.trim();
    rack_link::valid_secret(k).then(|| k.to_string())
}

fn load_cache(dir: &Path, state: &RackState) {
    let read =
        |name: &str| -> Option<serde_json::Value> { serde_json::from_slice(&std::fs::read(dir.join(name)).ok()?).ok() };
    if let Some(id) = read("rack.json").and_then(|v| v["system_id"].as_str().map(str::to_string)) {
        state.set_system_id(id);
    }
    if let Some(v) = read("config.json") {
        if let (Some(h), Ok(cfg)) = (v["hash"].as_str(), serde_json::from_value::<RackConfig>(v["config"].clone())) {
            tracing::info!("serving the cached configuration until a region answers");
            state.set_config(h.to_string(), cfg);
        }
    }
}

/// The host's interfaces with their addresses, from `ip -j addr`
/// (iproute2 is on every Debian host); loopback is left out.
pub async fn detect_interfaces() -> Vec<RackInterface> {
    let out = match tokio::process::Command::new("ip").args(["-j", "addr", "show"]).output().await {
        Ok(o) if o.status.success() => o.stdout,
        Ok(o) => {
            tracing::warn!(stderr = %String::from_utf8_lossy(&o.stderr), "`ip -j addr` failed");
            return Vec::new();
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot run `ip`; reporting no interfaces");
            return Vec::new();
        }
    };
    parse_ip_json(&out)
}

pub fn parse_ip_json(out: &[u8]) -> Vec<RackInterface> {
    let Ok(serde_json::Value::Array(links)) = serde_json::from_slice::<serde_json::Value>(out) else {
        return Vec::new();
    };
    links
        .iter()
        .filter(|l| l["link_type"] != "loopback")
        .filter_map(|l| {
            let mac = rack_link::normalise_mac(l["address"].as_str()?)?;
            let addresses = l["addr_info"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|a| a["scope"] != "link")
                .filter_map(|a| {
                    let ip: IpAddr = a["local"].as_str()?.parse().ok()?;
                    Some(format!("{ip}/{}", a["prefixlen"].as_u64()?))
                })
                .collect();
            Some(RackInterface { name: l["ifname"].as_str()?.to_string(), mac, addresses })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ip_json() {
        let j = br#"[{"ifname":"lo","link_type":"loopback","address":"00:00:00:00:00:00","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host"}]},
            {"ifname":"eth0","link_type":"ether","address":"52:54:00:AA:BB:CC","addr_info":[
              {"family":"inet","local":"10.0.0.2","prefixlen":24,"scope":"global"},
              {"family":"inet6","local":"fe80::1","prefixlen":64,"scope":"link"},
              {"family":"inet6","local":"2001:db8::2","prefixlen":64,"scope":"global"}]}]"#;
        let i = parse_ip_json(j);
        assert_eq!(i.len(), 1);
        assert_eq!(i[0].name, "eth0");
        assert_eq!(i[0].mac, "52:54:00:aa:bb:cc");
        assert_eq!(i[0].addresses, vec!["10.0.0.2/24", "2001:db8::2/64"]);
        assert!(parse_ip_json(b"junk").is_empty());
    }

    #[test]
    fn dhcp6_server_duid_is_kept_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let first = server_duid(dir.path(), Some("no-such-interface"));
        assert_eq!(&first[..4], &[0, 3, 0, 1], "a DUID-LL for Ethernet");
        assert_eq!(first.len(), 10);
        // Whatever the interfaces are now, the saved identifier wins.
        assert_eq!(server_duid(dir.path(), None), first);
        std::fs::write(dir.path().join(DUID_FILE), "0003000152540000beef").unwrap();
        assert_eq!(server_duid(dir.path(), None), vec![0, 3, 0, 1, 0x52, 0x54, 0, 0, 0xbe, 0xef]);
    }
}
