//! `ironpool bench storm`: a boot storm. N machines, enlisted and told to
//! commission, power on at once and go through the real protocols against
//! one rack: DHCP as a PXE ROM, TFTP of the iPXE bootstrap, DHCP again as
//! iPXE, HTTP of the per-MAC script, kernel and initrd (files of real
//! sizes, through the rack's cache), then the metadata API through the
//! rack's proxy with the real agent library, commissioning to Ready.
//!
//! The region runs as its own process (its latency comes from its own
//! `/metrics` histogram, its memory from its own peak RSS); the rack runs
//! in this process, its DHCP, TFTP and HTTP on loopback, with an interface
//! in 127.0.0.0/8 reported to the region so that the region's ordinary
//! configuration (a subnet, a dynamic range, DHCP on the VLAN) is what the
//! rack serves. Then the boot-file phase alone is run again, the same
//! clients fetching everything over TFTP, from this rack's TFTP server and
//! from tftpd-hpa, for comparison.
//!
//! It reports and checks outcomes (every machine Ready with its inventory,
//! every file of the right size, a sample byte-for-byte); it asserts no
//! timing.

mod wire;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ironpool_agent::{inventory, Agent, Outcome};
use ironpool_region::engine::accounts::{self, UserInput};
use ironpool_region::engine::nodes::create::{create_machine, MachineInput};
use sha2::{Digest, Sha256};

use crate::bench::{free_port, key_of, peak_rss_mib, spawn_region, wait_up, Key};
use wire::Firmware;

pub struct Options {
    pub machines: usize,
    pub database: Option<String>,
    pub kernel_bytes: u64,
    pub initrd_bytes: u64,
    /// The agent's pause before each commissioning step.
    pub step_delay: Duration,
    /// How many clients fetch the boot files over TFTP for the comparison
    /// (0: none).
    pub compare: usize,
}

/// The bootstrap the rack hands BIOS PXE ROMs.
const BOOTSTRAP: &str = "undionly.kpxe";
/// What PXE ROMs and iPXE ask for (an Ethernet MTU's worth).
const BLKSIZE: u16 = 1468;
/// Machine seeds, as the simulated machines elsewhere number them.
fn seed(i: usize) -> u64 {
    50_000 + i as u64
}

fn mac_bytes(mac: &str) -> anyhow::Result<[u8; 6]> {
    let v: Vec<u8> = mac.split(':').map(|h| u8::from_str_radix(h, 16)).collect::<Result<_, _>>()?;
    v.try_into().map_err(|_| anyhow::anyhow!("{mac} is not a MAC address"))
}

/// What one machine's boot took, by phase.
#[derive(Default, Clone, Copy)]
struct Phases {
    dhcp: Duration,
    bootstrap: Duration,
    files: Duration,
    commission: Duration,
    /// From the storm's start to the last byte of the initrd.
    files_done: Duration,
    total: Duration,
    dhcp_exchanges: u32,
    tftp_resent: u32,
}

/// The rack as the machines reach it.
#[derive(Clone)]
struct Rackside {
    dhcp: SocketAddr,
    tftp: SocketAddr,
    bootstrap_size: u64,
    kernel: (u64, String),
    initrd: (u64, String),
}

/// Streams `url` to nowhere, returning its length and, when `hash`, its
/// SHA-256 (hex).
async fn fetch(http: &reqwest::Client, url: &str, hash: bool) -> anyhow::Result<(u64, Option<String>)> {
    let mut r = http.get(url).send().await.with_context(|| format!("GET {url}"))?;
    if !r.status().is_success() {
        bail!("GET {url}: {}", r.status());
    }
    let mut n = 0u64;
    let mut h = hash.then(Sha256::new);
    while let Some(chunk) = r.chunk().await.with_context(|| format!("reading {url}"))? {
        n += chunk.len() as u64;
        if let Some(h) = h.as_mut() {
            h.update(&chunk);
        }
    }
    Ok((n, h.map(|h| hex(&h.finalize()))))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `kernel <url> ... cloud-config-url=<url> ...` and `initrd ... <url>`
/// from an iPXE script.
fn parse_script(script: &str) -> anyhow::Result<(String, String, String)> {
    let mut kernel = None;
    let mut initrd = None;
    let mut preseed = None;
    for line in script.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("kernel") => {
                let rest: Vec<&str> = words.collect();
                kernel = rest.first().map(|s| s.to_string());
                preseed = rest.iter().find_map(|w| w.strip_prefix("cloud-config-url=")).map(str::to_string);
            }
            Some("initrd") => initrd = line.split_whitespace().last().map(str::to_string),
            _ => {}
        }
    }
    match (kernel, initrd, preseed) {
        (Some(k), Some(i), Some(p)) => Ok((k, i, p)),
        _ => bail!("not an ephemeral boot script:\n{script}"),
    }
}

/// One machine, from power-on to commissioned.
async fn boot_machine(i: usize, rack: Rackside, started: Instant, step_delay: Duration) -> anyhow::Result<Phases> {
    let mut p = Phases::default();
    let t = Instant::now();
    let mac_text = inventory::fake_macs(seed(i), 1).remove(0);
    let mac = mac_bytes(&mac_text)?;
    let sock = tokio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let xid = 0x5700_0000 | i as u32;
    let rom = wire::lease(&sock, rack.dhcp, &mac, xid, Firmware::Pxe).await.context("DHCP (PXE ROM)")?;
    if rom.boot_file != BOOTSTRAP {
        bail!("the PXE ROM was told to load {:?}, not {BOOTSTRAP}", rom.boot_file);
    }
    p.dhcp = t.elapsed();
    let t = Instant::now();
    let (n, resent) = wire::tftp_get(rack.tftp, &rom.boot_file, BLKSIZE).await.context("TFTP of the bootstrap")?;
    if n != rack.bootstrap_size {
        bail!("TFTP gave {n} bytes of {BOOTSTRAP}, not {}", rack.bootstrap_size);
    }
    p.bootstrap = t.elapsed();
    p.tftp_resent = resent;
    let t = Instant::now();
    let ipxe = wire::lease(&sock, rack.dhcp, &mac, xid.wrapping_add(0x0080_0000), Firmware::Ipxe)
        .await
        .context("DHCP (iPXE)")?;
    if ipxe.ip != rom.ip {
        bail!("iPXE leased {} after the ROM leased {}", ipxe.ip, rom.ip);
    }
    p.dhcp += t.elapsed();
    p.dhcp_exchanges = rom.exchanges + ipxe.exchanges;
    drop(sock);

    let t = Instant::now();
    // Each machine its own connections, as machines have.
    let http = ironpool_agent::client::http_client();
    let script = http.get(&ipxe.boot_file).send().await?.error_for_status()?.text().await?;
    let (kernel, initrd, preseed) = parse_script(&script)?;
    // Every machine checks sizes; every 50th checks the bytes too.
    let hash = i.is_multiple_of(50);
    for (url, (size, sha)) in [(&kernel, &rack.kernel), (&initrd, &rack.initrd)] {
        let (n, got) = fetch(&http, url, hash).await?;
        if n != *size || got.as_ref().is_some_and(|g| g != sha) {
            bail!("{url}: {n} bytes (sha256 {got:?}), expected {size} ({sha})");
        }
    }
    p.files = t.elapsed();
    p.files_done = started.elapsed();

    let t = Instant::now();
    let agent = Agent::simulated(seed(i), "manual", serde_json::json!({}), step_delay);
    match agent.boot(&http, &preseed).await.context("commissioning")? {
        Outcome::Commissioned => {}
        other => bail!("the boot ended {other:?}, not commissioned"),
    }
    p.commission = t.elapsed();
    p.total = started.elapsed();
    Ok(p)
}

/// Only the boot files: the bootstrap over TFTP, kernel and initrd over
/// HTTP (`http` = Some(base)) or over TFTP from `tftp`.
async fn fetch_boot_files(tftp: SocketAddr, http: Option<(String, String, String)>) -> anyhow::Result<u64> {
    let (mut total, _) = wire::tftp_get(tftp, BOOTSTRAP, BLKSIZE).await?;
    match http {
        Some((client_base, kernel_sha, initrd_sha)) => {
            let c = ironpool_agent::client::http_client();
            for sha in [kernel_sha, initrd_sha] {
                total += fetch(&c, &format!("{client_base}/images/{sha}"), false).await?.0;
            }
        }
        None => {
            for f in ["kernel", "initrd"] {
                total += wire::tftp_get(tftp, f, BLKSIZE).await?.0;
            }
        }
    }
    Ok(total)
}

/// `clients` machines fetching the boot files at once; wall time.
async fn boot_file_phase(
    clients: usize,
    tftp: SocketAddr,
    http: Option<(String, String, String)>,
    expect: u64,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let jobs: Vec<_> = (0..clients)
        .map(|_| {
            let http = http.clone();
            tokio::spawn(fetch_boot_files(tftp, http))
        })
        .collect();
    for j in jobs {
        let n = j.await??;
        if n != expect {
            bail!("a client got {n} bytes of boot files, expected {expect}");
        }
    }
    Ok(start.elapsed())
}

fn write_random(path: &Path, len: u64) -> anyhow::Result<String> {
    use std::io::{Read, Write};
    let mut src = std::fs::File::open("/dev/urandom")?;
    let mut dst = std::fs::File::create(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        src.read_exact(&mut buf[..n])?;
        h.update(&buf[..n]);
        dst.write_all(&buf[..n])?;
        left -= n as u64;
    }
    Ok(hex(&h.finalize()))
}

/// A simplestreams mirror holding one commissioning environment whose
/// kernel and initrd are random bytes of the given sizes; returns the
/// SHA-256 of each.
fn write_mirror(root: &Path, kernel: u64, initrd: u64) -> anyhow::Result<(String, String)> {
    let files = root.join("bookworm/amd64/storm");
    std::fs::create_dir_all(&files)?;
    std::fs::create_dir_all(root.join("streams/v1"))?;
    let ksha = write_random(&files.join("boot-kernel"), kernel)?;
    let isha = write_random(&files.join("boot-initrd"), initrd)?;
    let item = |ftype: &str, sha: &str, size: u64| serde_json::json!({"ftype": ftype, "path": format!("bookworm/amd64/storm/{ftype}"), "sha256": sha, "size": size});
    let products = serde_json::json!({
        "content_id": "ironpool:ephemeral", "datatype": "image-downloads", "format": "products:1.0",
        "products": {"ironpool:ephemeral:bookworm:amd64": {
            "os": "ironpool", "release": "bookworm", "arch": "amd64", "subarch": "generic", "subarches": "generic",
            "kflavor": "generic", "label": "stable",
            "versions": {"20261204.000000": {"items": {
                "boot-kernel": item("boot-kernel", &ksha, kernel),
                "boot-initrd": item("boot-initrd", &isha, initrd),
            }}}}}
    });
    let index = serde_json::json!({"format": "index:1.0", "index": {"ironpool:ephemeral": {
        "datatype": "image-downloads", "path": "streams/v1/products.json", "format": "products:1.0",
        "products": ["ironpool:ephemeral:bookworm:amd64"]}}});
    std::fs::write(root.join("streams/v1/products.json"), serde_json::to_vec(&products)?)?;
    std::fs::write(root.join("streams/v1/index.json"), serde_json::to_vec(&index)?)?;
    Ok((ksha, isha))
}

/// Calls the region's API as `key`.
struct Api {
    http: reqwest::Client,
    base: String,
    key: Key,
}

impl Api {
    async fn call(&self, method: &str, path: &str, form: &[(&str, &str)]) -> anyhow::Result<serde_json::Value> {
        let url = format!("{}/MAAS/api/2.0/{path}", self.base);
        let m = reqwest::Method::from_bytes(method.as_bytes())?;
        let r = self.http.request(m, &url).header("authorization", self.key.header()).form(form).send().await?;
        let status = r.status();
        let body = r.text().await?;
        if !status.is_success() {
            bail!("{method} {path}: {status}: {body}");
        }
        Ok(serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)))
    }
}

/// Polls `f` every 50 ms until it gives a value, or fails after `limit`.
async fn until<T>(
    what: &str,
    limit: Duration,
    mut f: impl AsyncFnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f().await? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The region's request-latency histogram (the handlers machines and the
/// operator call, summed): bucket upper bound → cumulative count.
async fn latency_histogram(http: &reqwest::Client, base: &str) -> anyhow::Result<BTreeMap<u64, f64>> {
    let text = http.get(format!("{base}/metrics")).send().await?.error_for_status()?.text().await?;
    let mut buckets = BTreeMap::new();
    // The rack's link is a long poll (it waits for a change on purpose)
    // and the scrapes are ours: neither is a machine waiting.
    let counted = |l: &&str| {
        l.starts_with("ironpool_http_request_duration_seconds_bucket{")
            && !l.contains("handler=\"rack_link\"")
            && !l.contains("handler=\"metrics\"")
    };
    for line in text.lines().filter(counted) {
        let Some((labels, value)) = line.rsplit_once(' ') else { continue };
        let Some(le) = labels.split("le=\"").nth(1).and_then(|s| s.split('"').next()) else { continue };
        // Microseconds as the key keeps the order exact; +Inf sorts last.
        let key = if le == "+Inf" { u64::MAX } else { (le.parse::<f64>()? * 1e6).round() as u64 };
        *buckets.entry(key).or_insert(0.0) += value.parse::<f64>()?;
    }
    Ok(buckets)
}

/// The `q` quantile of the requests between two scrapes, interpolated
/// linearly within its bucket (as Prometheus's `histogram_quantile`).
fn quantile(before: &BTreeMap<u64, f64>, after: &BTreeMap<u64, f64>, q: f64) -> Option<(f64, f64)> {
    let delta: Vec<(u64, f64)> =
        after.iter().map(|(le, n)| (*le, n - before.get(le).copied().unwrap_or(0.0))).collect();
    let total = delta.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut prev = (0u64, 0.0f64);
    for (le, n) in &delta {
        if *n >= rank {
            if *le == u64::MAX {
                return Some((prev.0 as f64 / 1e3, total));
            }
            let width = (*le - prev.0) as f64;
            let within = if n - prev.1 > 0.0 { (rank - prev.1) / (n - prev.1) } else { 1.0 };
            return Some(((prev.0 as f64 + width * within) / 1e3, total));
        }
        prev = (*le, *n);
    }
    None
}

fn pct(v: &mut [Duration], q: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * q).round() as usize;
    v.get(i).map(|d| d.as_secs_f64() * 1e3).unwrap_or(0.0)
}

fn tftp_root(dir: &Path, bootstrap: &Path, mirror: &Path) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let root = dir.join("tftp-compare");
    std::fs::create_dir_all(&root)?;
    std::fs::copy(bootstrap, root.join(BOOTSTRAP))?;
    std::fs::copy(mirror.join("bookworm/amd64/storm/boot-kernel"), root.join("kernel"))?;
    std::fs::copy(mirror.join("bookworm/amd64/storm/boot-initrd"), root.join("initrd"))?;
    // tftpd-hpa drops privileges: everything on the way must be readable.
    for p in [dir, root.as_path()] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))?;
    }
    for f in [BOOTSTRAP, "kernel", "initrd"] {
        std::fs::set_permissions(root.join(f), std::fs::Permissions::from_mode(0o644))?;
    }
    Ok(root)
}

pub fn run(opts: Options) -> anyhow::Result<()> {
    let bootstrap = PathBuf::from("/usr/lib/ipxe").join(BOOTSTRAP);
    if !bootstrap.exists() {
        bail!("{} is missing: install the ipxe package (the rack serves it over TFTP)", bootstrap.display());
    }
    let dir = tempfile::tempdir()?;
    let db_url = opts.database.clone().unwrap_or_else(|| format!("sqlite://{}", dir.path().join("storm.db").display()));
    println!(
        "ironpool bench storm: {} machines, kernel {} B + initrd {} B, database {}",
        opts.machines,
        opts.kernel_bytes,
        opts.initrd_bytes,
        if db_url.starts_with("postgres") { "PostgreSQL" } else { "SQLite" }
    );

    // The machines, enlisted (New) with their boot MACs; then the region.
    let key = ironpool_region::db::secrets::SecretsKey::load_or_create(&dir.path().join("secrets.key"))?;
    let db = ironpool_region::db::at_rest::open(&db_url, 4, key)?;
    let admin = accounts::create_user_blocking(
        &db,
        UserInput {
            username: "storm".into(),
            email: "s@storm.invalid".into(),
            password: "x".into(),
            is_superuser: true,
        },
    )?;
    let admin_key = key_of(&db.blocking(|c| accounts::token_for_login(c, admin.id, None))?);
    let n = opts.machines;
    let sids: Vec<String> = db.blocking(|c| {
        (0..n)
            .map(|i| {
                let node = create_machine(
                    c,
                    Some(&admin),
                    MachineInput {
                        architecture: Some("amd64/generic".into()),
                        mac_addresses: inventory::fake_macs(seed(i), inventory::fake_nic_count(seed(i))),
                        hostname: Some(format!("storm-{i:04}")),
                        power_type: "manual".into(),
                        commission: false,
                        ..Default::default()
                    },
                )?;
                Ok(node.system_id)
            })
            .collect()
    })?;
    drop(db);
    let port = free_port()?;
    let mut region = spawn_region(&db_url, dir.path(), port)?;
    // The TFTP servers' transfers each run on a blocking thread.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(512 + opts.machines.max(opts.compare))
        .enable_all()
        .build()?;
    let result = rt.block_on(storm(&opts, dir.path(), port, admin_key, sids, &bootstrap, region.id()));
    let _ = Command::new("kill").args(["-TERM", &region.id().to_string()]).status();
    let _ = region.wait();
    result
}

async fn storm(
    opts: &Options,
    dir: &Path,
    port: u16,
    admin_key: Key,
    sids: Vec<String>,
    bootstrap: &Path,
    region_pid: u32,
) -> anyhow::Result<()> {
    let n = opts.machines;
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
    let base = format!("http://127.0.0.1:{port}");
    wait_up(&http, &base).await?;
    let api = Api { http: http.clone(), base: base.clone(), key: admin_key };

    // Boot resources: a commissioning environment of the given sizes.
    let mirror = dir.join("mirror");
    let (ksha, isha) = write_mirror(&mirror, opts.kernel_bytes, opts.initrd_bytes)?;
    let src = api
        .call(
            "POST",
            "boot-sources/",
            &[("url", mirror.to_str().context("path")?), ("skip_keyring_verification", "true")],
        )
        .await?;
    let src = src["id"].as_i64().context("boot source id")?;
    api.call(
        "POST",
        &format!("boot-sources/{src}/selections/"),
        &[("os", "ironpool"), ("release", "bookworm"), ("arches", "amd64")],
    )
    .await?;
    api.call("POST", "boot-resources/?op=import", &[]).await?;
    until("the boot resource import", Duration::from_secs(120), async || {
        Ok((api.call("GET", "boot-resources/?op=is_importing", &[]).await? == serde_json::json!(false)).then_some(()))
    })
    .await?;

    // The rack, on loopback, its interface in 127.0.0.0/8.
    let secret = std::fs::read_to_string(dir.join("secret")).context("the region's rack secret")?;
    let dhcp_port = std::net::UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut o = ironpool_rack::link::RackOptions::new(
        vec![format!("{base}/MAAS")],
        secret.trim().to_string(),
        dir.join("rack"),
    );
    o.hostname = "storm-rack".into();
    o.interfaces = Some(vec![ironpool_common::rack_link::RackInterface {
        name: "storm0".into(),
        mac: "52:54:00:57:00:01".into(),
        addresses: vec!["127.0.0.1/8".into()],
    }]);
    o.http_listen = Some("127.0.0.1:0".parse()?);
    o.tftp_listen = Some("127.0.0.1:0".parse()?);
    o.dhcp_listen = Some(SocketAddr::from((Ipv4Addr::LOCALHOST, dhcp_port)));
    o.dhcp6_listen = None;
    o.metrics_listen = None;
    o.heartbeat = Some(Duration::from_millis(500));
    let rack = ironpool_rack::link::Rack::start(o).await?;
    let rack_sid = until("the rack to register", Duration::from_secs(30), async || Ok(rack.state.system_id())).await?;
    let tftp = rack.tftp_addr.context("the rack's TFTP server")?;
    let rack_http = rack.http_addr.context("the rack's HTTP server")?;

    // DHCP on the rack's VLAN, with room for every machine.
    let vlan = until("the rack's subnet", Duration::from_secs(30), async || {
        let subnets = api.call("GET", "subnets/", &[]).await?;
        Ok(subnets
            .as_array()
            .and_then(|a| a.iter().find(|s| s["cidr"] == "127.0.0.0/8").and_then(|s| s["vlan"]["id"].as_i64())))
    })
    .await?;
    api.call("POST", "ipranges/", &[("type", "dynamic"), ("start_ip", "127.1.0.1"), ("end_ip", "127.1.255.254")])
        .await?;
    api.call("PUT", &format!("vlans/{vlan}/"), &[("dhcp_on", "true"), ("primary_rack", &rack_sid)]).await?;

    // Commission them all (the operator's one click per machine).
    let t = Instant::now();
    let calls = futures_util::stream::iter(sids.iter().map(|sid| {
        let api = &api;
        async move { api.call("POST", &format!("machines/{sid}/?op=commission"), &[]).await.map(|_| ()) }
    }));
    use futures_util::StreamExt;
    let done: Vec<anyhow::Result<()>> = calls.buffer_unordered(16).collect().await;
    done.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
    let t_commission_calls = t.elapsed();
    until("the rack's configuration to send every machine to commissioning", Duration::from_secs(120), async || {
        // Entries are per MAC: count the machines.
        Ok(rack.state.config().filter(|c| {
            let booting: std::collections::HashSet<&str> = c
                .boot
                .machines
                .iter()
                .filter(|m| m.purpose == ironpool_common::rack_link::Purpose::Commissioning)
                .map(|m| m.hostname.as_str())
                .collect();
            c.dhcp.is_some() && c.boot.enlist.kernel.is_some() && booting.len() >= n
        }))
    })
    .await?;

    let rackside = Rackside {
        dhcp: SocketAddr::from((Ipv4Addr::LOCALHOST, dhcp_port)),
        tftp,
        bootstrap_size: std::fs::metadata(bootstrap)?.len(),
        kernel: (opts.kernel_bytes, ksha.clone()),
        initrd: (opts.initrd_bytes, isha.clone()),
    };
    let before = latency_histogram(&http, &base).await?;
    let rss_before = peak_rss_mib(region_pid);

    // Power on, all at once.
    println!("storm: {n} machines power on");
    let started = Instant::now();
    let tasks: Vec<_> =
        (0..n).map(|i| tokio::spawn(boot_machine(i, rackside.clone(), started, opts.step_delay))).collect();
    let mut phases = Vec::with_capacity(n);
    let mut failures = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await? {
            Ok(p) => phases.push(p),
            Err(e) => failures.push(format!("machine {i}: {e:#}")),
        }
    }
    let all_done = started.elapsed();
    let after = latency_histogram(&http, &base).await?;
    if !failures.is_empty() {
        bail!(
            "{} of {n} machines did not commission: {}",
            failures.len(),
            failures[..failures.len().min(5)].join("; ")
        );
    }
    // The region's view: every machine Ready with an inventory.
    let machines = api.call("GET", "machines/", &[]).await?;
    let list = machines.as_array().context("machines list")?;
    let ready = list.iter().filter(|m| m["status_name"] == "Ready" && m["cpu_count"].as_i64() > Some(0)).count();
    if ready != n {
        bail!("{ready} of {n} machines are Ready with an inventory after the storm");
    }
    let rss = peak_rss_mib(region_pid);
    let dhcp_stats = rack.state.dhcp_stats();

    let mut dhcp: Vec<Duration> = phases.iter().map(|p| p.dhcp).collect();
    let mut boot: Vec<Duration> = phases.iter().map(|p| p.bootstrap).collect();
    let mut files: Vec<Duration> = phases.iter().map(|p| p.files).collect();
    let mut comm: Vec<Duration> = phases.iter().map(|p| p.commission).collect();
    let mut total: Vec<Duration> = phases.iter().map(|p| p.total).collect();
    let files_phase = phases.iter().map(|p| p.files_done).max().unwrap_or_default();
    let retries: u32 = phases.iter().map(|p| p.dhcp_exchanges.saturating_sub(4)).sum();
    let resent: u32 = phases.iter().map(|p| p.tftp_resent).sum();
    let bytes_per_machine = rackside.bootstrap_size + opts.kernel_bytes + opts.initrd_bytes;

    println!();
    println!("| boot storm, {n} machines | value |");
    println!("|---|---|");
    println!("| commission calls (16 in flight) | {:.1} s |", t_commission_calls.as_secs_f64());
    println!("| power-on to all {n} Ready | {:.1} s |", all_done.as_secs_f64());
    println!(
        "| boot-file phase (all bootstraps over TFTP, kernels and initrds over HTTP) | {:.1} s, {:.0} MiB/s |",
        files_phase.as_secs_f64(),
        (bytes_per_machine * n as u64) as f64 / 1048576.0 / files_phase.as_secs_f64()
    );
    for (name, v) in [
        ("DHCP, both rounds", &mut dhcp),
        ("TFTP bootstrap", &mut boot),
        ("HTTP script, kernel, initrd", &mut files),
        ("commissioning (metadata API)", &mut comm),
        ("power-on to Ready", &mut total),
    ] {
        println!("| per machine: {name}, p50 / p99 | {:.0} / {:.0} ms |", pct(v, 0.5), pct(v, 0.99));
    }
    match (quantile(&before, &after, 0.5), quantile(&before, &after, 0.99)) {
        (Some((p50, count)), Some((p99, _))) => println!(
            "| region request latency during the storm ({count:.0} requests; not the rack's long poll), p50 / p99 | {p50:.1} / {p99:.1} ms (goal p99 < 200 ms: {}) |",
            if p99 < 200.0 { "met" } else { "NOT met" }
        ),
        _ => println!("| region request latency | no requests seen |"),
    }
    println!("| DHCP retransmissions (machines' side) / TFTP packets sent again | {retries} / {resent} |");
    if let Some(s) = dhcp_stats {
        println!(
            "| rack DHCP counters: discovers / offers / requests / acks | {} / {} / {} / {} |",
            s.discovers.load(std::sync::atomic::Ordering::Relaxed),
            s.offers.load(std::sync::atomic::Ordering::Relaxed),
            s.requests.load(std::sync::atomic::Ordering::Relaxed),
            s.acks.load(std::sync::atomic::Ordering::Relaxed)
        );
    }
    match (rss_before, rss) {
        (Some(a), Some(b)) => println!("| region peak RSS before / after | {a:.0} / {b:.0} MiB |"),
        _ => println!("| region peak RSS | unavailable |"),
    }
    if n >= 1000 {
        println!(
            "| goal: 1,000 all Ready in under 60 s | {} |",
            if all_done < Duration::from_secs(60) { "met" } else { "NOT met" }
        );
    }

    if opts.compare > 0 {
        compare(opts, dir, bootstrap, &mirror, tftp, rack_http, &ksha, &isha, rackside.bootstrap_size).await?;
    }
    rack.stop().await;
    Ok(())
}

/// The boot-file phase alone, for `opts.compare` clients at once: this
/// rack (TFTP bootstrap, HTTP kernel and initrd), this rack's TFTP server
/// for everything, tftpd-hpa for everything.
#[allow(clippy::too_many_arguments)]
async fn compare(
    opts: &Options,
    dir: &Path,
    bootstrap: &Path,
    mirror: &Path,
    rack_tftp: SocketAddr,
    rack_http: SocketAddr,
    ksha: &str,
    isha: &str,
    bootstrap_size: u64,
) -> anyhow::Result<()> {
    use ironpool_rack::tftp::{TftpConfig, TftpServer};
    let m = opts.compare;
    let expect = bootstrap_size + opts.kernel_bytes + opts.initrd_bytes;
    let root = tftp_root(dir, bootstrap, mirror)?;
    let mut cfg = TftpConfig::new(&root);
    cfg.max_blksize = BLKSIZE;
    // tftpd-hpa forks a process per transfer, without a cap: ours gets as
    // many slots as there are clients (the runtime has the threads).
    cfg.max_sessions = m;
    let ours = TftpServer::bind("127.0.0.1:0".parse()?, cfg).await?;
    let ours_addr = ours.local_addr()?;
    let ours_task = tokio::spawn(ours.serve());

    println!();
    println!(
        "| boot-file phase, {m} clients at once, {:.1} MiB each | wall time | vs tftpd-hpa |",
        expect as f64 / 1048576.0
    );
    println!("|---|---|---|");
    let http = Some((format!("http://{rack_http}"), ksha.to_string(), isha.to_string()));
    let t_http = boot_file_phase(m, rack_tftp, http, expect).await?;
    let t_tftp = boot_file_phase(m, ours_addr, None, expect).await?;
    let hpa = match std::process::Command::new("in.tftpd").arg("-V").output() {
        Err(_) => None,
        Ok(_) => {
            let port = std::net::UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port();
            let child = tokio::process::Command::new("in.tftpd")
                .args(["-L", "-a", &format!("127.0.0.1:{port}"), "-s"])
                .arg(&root)
                .args(["-B", &BLKSIZE.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn();
            match child {
                Err(e) => {
                    println!("| tftpd-hpa | could not start: {e} | — |");
                    None
                }
                Ok(mut child) => {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    let r = boot_file_phase(m, SocketAddr::from((Ipv4Addr::LOCALHOST, port)), None, expect).await;
                    let _ = child.kill().await;
                    Some(r?)
                }
            }
        }
    };
    let ratio = |t: Duration| hpa.map(|h| format!("{:.2}x faster", h.as_secs_f64() / t.as_secs_f64()));
    println!(
        "| Ironpool rack: TFTP bootstrap, HTTP kernel + initrd | {:.2} s | {} |",
        t_http.as_secs_f64(),
        ratio(t_http).unwrap_or_else(|| "—".into())
    );
    println!(
        "| Ironpool TFTP server, everything over TFTP | {:.2} s | {} |",
        t_tftp.as_secs_f64(),
        ratio(t_tftp).unwrap_or_else(|| "—".into())
    );
    match hpa {
        Some(h) => println!("| tftpd-hpa, everything over TFTP | {:.2} s | 1.00x |", h.as_secs_f64()),
        None => println!("| tftpd-hpa | skipped: in.tftpd not found (apt install tftpd-hpa) | — |"),
    }
    ours_task.abort();
    Ok(())
}
