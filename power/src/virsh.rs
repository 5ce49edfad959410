//! `virsh`: libvirt domains (MAAS's virsh power driver), driven by running
//! `virsh --connect <power_address> <command>` (MAAS runs virsh too). The
//! domain is `power_id`; `power_pass` is the SSH password for
//! `qemu+ssh://` addresses.
//!
//! As in MAAS:
//! - an address with a query string is refused ("Supplying extra
//!   parameters to the Virsh address is not supported."): libvirt's URI
//!   parameters name programs to run (`command=`, `netcat=`);
//! - an unknown SSH host key is accepted (MAAS's `unverified-ssh`), via
//!   libvirt's own `no_verify=1`;
//! - power on starts a domain that is "shut off", power off destroys (hard
//!   off) one that is "running", and states map with MAAS's table
//!   ("paused", "crashed", "idle", "pmsuspended", "no state" are off; "in
//!   shutdown" is on).
//!
//! The password never appears in a command line: ssh reads it through
//! `SSH_ASKPASS`, a script that prints a 0600 file, both in a private
//! temporary directory removed after the call. Without a password ssh is
//! told not to prompt (`no_tty=1`), so a missing key fails instead of
//! hanging.
//!
//! [`VirshDriver::probe`] and [`VirshDriver::prepare_for_enlistment`] serve
//! chassis enlistment (`machines/?op=add_chassis`): list the domains with
//! their architecture and MACs, then hard-off a running one and make it
//! boot from the network first, as MAAS's `probe_virsh_and_enlist` does.

use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use tokio::process::Command;

use crate::params::required;
use crate::redfish::sanitize;
use crate::{PowerAction, PowerDriver, PowerError, PowerParams, PowerState};

/// MAAS's words for an address with a query string.
pub const EXTRA_PARAMETERS: &str = "Supplying extra parameters to the Virsh address is not supported.";

#[derive(Debug, Clone)]
pub struct VirshDriver {
    /// The virsh program.
    pub virsh: PathBuf,
    /// Limit for one virsh run (connect included): a host that never
    /// answers is a timeout, not a hang.
    pub timeout: Duration,
    /// The SSH private key for `+ssh` addresses (libvirt's `keyfile=`);
    /// `None` uses ssh's defaults (`~/.ssh/id_*` of the user the rack runs as).
    pub ssh_keyfile: Option<PathBuf>,
}

impl Default for VirshDriver {
    fn default() -> Self {
        VirshDriver { virsh: PathBuf::from("virsh"), timeout: Duration::from_secs(30), ssh_keyfile: None }
    }
}

/// One domain found by [`VirshDriver::probe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirshDomain {
    pub name: String,
    /// Debian architecture name (`amd64`, `arm64`, …) from the domain XML.
    pub arch: String,
    pub macs: Vec<String>,
    pub state: PowerState,
    /// vCPUs and memory (MiB) the domain is defined with (VM hosts count them as used).
    pub cores: u32,
    pub memory_mib: u64,
}

/// MAAS's table from `virsh domstate` to a power state.
pub fn map_state(s: &str) -> Option<PowerState> {
    Some(match s.trim() {
        "running" | "in shutdown" => PowerState::On,
        "shut off" | "no state" | "idle" | "paused" | "crashed" | "pmsuspended" => PowerState::Off,
        _ => return None,
    })
}

/// The kernel architecture in a domain's XML as Debian names it (MAAS's
/// `kernel_to_debian_architecture`).
pub fn debian_arch(kernel: &str) -> String {
    match kernel {
        "x86_64" => "amd64",
        "i386" | "i486" | "i586" | "i686" => "i386",
        "aarch64" => "arm64",
        "armv7l" | "armv7" => "armhf",
        "ppc64le" => "ppc64el",
        other => other,
    }
    .to_string()
}

/// The value of the first `attr='…'` (or `"…"`) inside the first element
/// `<tag …>` of `xml`. libvirt writes its XML in one regular shape, which is
/// all this reads.
fn attr_of(xml: &str, tag: &str, attr: &str) -> Option<String> {
    let start = xml.find(&format!("<{tag} "))?;
    let end = start + xml[start..].find('>')?;
    let elem = &xml[start..end];
    let at = elem.find(&format!("{attr}="))? + attr.len() + 1;
    let quote = elem[at..].chars().next()?;
    let rest = &elem[at + 1..];
    Some(rest[..rest.find(quote)?].to_string())
}

/// The domain XML with its boot order set to network, then disk (what
/// MAAS's `configure_pxe_boot` writes), or `None` when it already is, or
/// when devices carry their own `<boot order=…>` (libvirt refuses both kinds
/// together; such a domain's order is the owner's choice).
pub fn with_pxe_boot(xml: &str) -> Option<String> {
    if xml.contains("<boot order=") {
        return None;
    }
    let os_start = xml.find("<os>").or_else(|| xml.find("<os "))?;
    let os_end = os_start + xml[os_start..].find("</os>")?;
    let mut os = xml[os_start..os_end].to_string();
    let mut devs = Vec::new();
    while let Some(i) = os.find("<boot dev=") {
        let j = i + os[i..].find("/>")? + 2;
        devs.push(os[i + 11..j].split(['\'', '"']).next().unwrap_or("").to_string());
        // The element, its indentation and the line break before it.
        let mut from = os[..i].trim_end_matches([' ', '\t']).len();
        if os[..from].ends_with('\n') {
            from -= 1;
        }
        os.replace_range(from..j, "");
    }
    if devs == ["network", "hd"] {
        return None;
    }
    Some(format!(
        "{}{}\n    <boot dev='network'/>\n    <boot dev='hd'/>\n  {}",
        &xml[..os_start],
        os.trim_end(),
        &xml[os_end..]
    ))
}

/// The text of the first `<tag …>text</tag>` (or `<tag>text</tag>`).
fn element_text(xml: &str, tag: &str) -> Option<String> {
    let start = xml.find(&format!("<{tag}>")).or_else(|| xml.find(&format!("<{tag} ")))?;
    let open_end = start + xml[start..].find('>')? + 1;
    let close = open_end + xml[open_end..].find(&format!("</{tag}>"))?;
    Some(xml[open_end..close].trim().to_string())
}

/// A libvirt memory amount in MiB (libvirt's units: KiB by default).
fn to_mib(value: u64, unit: &str) -> u64 {
    match unit {
        "b" | "bytes" => value / (1024 * 1024),
        "KB" => value * 1000 / (1024 * 1024),
        "MB" => value * 1000 * 1000 / (1024 * 1024),
        "M" | "MiB" => value,
        "G" | "GiB" => value * 1024,
        "GB" => value * 1000 * 1000 * 1000 / (1024 * 1024),
        _ => value / 1024,
    }
}

/// Where a run connects and with what: the URI libvirt gets and the
/// askpass files (kept alive for the run).
struct Connection {
    uri: String,
    /// What errors name: the address without credentials.
    target: String,
    /// The askpass directory (a script and the password file), when a password is set.
    askpass: Option<tempfile::TempDir>,
}

impl VirshDriver {
    fn connect(&self, address: &str, password: Option<&str>) -> Result<Connection, PowerError> {
        let address = address.trim();
        if address.contains('?') {
            return Err(PowerError::Config(EXTRA_PARAMETERS.into()));
        }
        // `user:password@` in the URI would be on virsh's command line.
        let target = match address.split_once("://") {
            Some((scheme, rest)) => {
                let host = rest.split('/').next().unwrap_or("");
                if host.contains(':') && host.contains('@') && host.split('@').next().is_some_and(|u| u.contains(':')) {
                    return Err(PowerError::Config(
                        "the virsh address must not carry a password; use power_pass".into(),
                    ));
                }
                format!("{scheme}://{host}")
            }
            None => {
                return Err(PowerError::Config(format!(
                    "'{address}' is not a libvirt URI (e.g. qemu+ssh://user@host/system)"
                )))
            }
        };
        let scheme = address.split("://").next().unwrap_or("");
        let mut uri = address.to_string();
        let mut askpass = None;
        if scheme.ends_with("+ssh") {
            let mut q = vec!["no_verify=1".to_string()];
            if let Some(k) = &self.ssh_keyfile {
                q.push(format!("keyfile={}", k.display()));
            }
            match password {
                Some(p) => askpass = Some(askpass_dir(&target, p)?),
                None => q.push("no_tty=1".into()),
            }
            uri = format!("{uri}?{}", q.join("&"));
        }
        Ok(Connection { uri, target, askpass })
    }

    /// Runs `virsh --connect <uri> <args>`; stdout, or the mapped error.
    async fn run(&self, conn: &Connection, args: &[&str]) -> Result<String, PowerError> {
        let mut cmd = Command::new(&self.virsh);
        cmd.arg("--connect").arg(&conn.uri).args(args);
        cmd.env("LC_ALL", "C").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        if let Some(dir) = &conn.askpass {
            // libvirt passes SSH_ASKPASS and DISPLAY through to ssh; with
            // DISPLAY set and no terminal, ssh asks the script.
            cmd.env("SSH_ASKPASS", dir.path().join("askpass")).env("SSH_ASKPASS_REQUIRE", "force").env("DISPLAY", ":0");
        } else {
            cmd.env_remove("SSH_ASKPASS");
        }
        let child = cmd.spawn().map_err(|e| PowerError::Other {
            target: conn.target.clone(),
            detail: format!("cannot run virsh: {e} (is libvirt-clients installed?)"),
        })?;
        let out = match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => {
                return Err(PowerError::Other { target: conn.target.clone(), detail: format!("virsh failed: {e}") })
            }
            Err(_) => {
                return Err(PowerError::Timeout {
                    target: conn.target.clone(),
                    detail: format!("virsh did not finish within {:?}", self.timeout),
                })
            }
        };
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        Err(classify(&conn.target, &String::from_utf8_lossy(&out.stderr), args.first().copied().unwrap_or("")))
    }

    async fn domstate(&self, conn: &Connection, domain: &str) -> Result<PowerState, PowerError> {
        let out = self.run(conn, &["domstate", domain]).await?;
        let s = out.trim();
        map_state(s).ok_or_else(|| PowerError::Other {
            target: conn.target.clone(),
            detail: format!("Unknown state: {}", sanitize(s, 40)),
        })
    }

    /// Every domain on the host whose name starts with `prefix`, with its
    /// architecture, MACs and state.
    pub async fn probe(
        &self,
        address: &str,
        password: Option<&str>,
        prefix: Option<&str>,
    ) -> Result<Vec<VirshDomain>, PowerError> {
        let conn = self.connect(address, password)?;
        let names = self.run(&conn, &["list", "--all", "--name"]).await?;
        let mut found = Vec::new();
        for name in names.lines().map(str::trim).filter(|n| !n.is_empty()) {
            if prefix.is_some_and(|p| !name.starts_with(p)) {
                continue;
            }
            let xml = self.run(&conn, &["dumpxml", "--inactive", name]).await?;
            let arch = attr_of(&xml, "type", "arch").map(|a| debian_arch(&a)).unwrap_or_else(|| "amd64".into());
            let mut macs = Vec::new();
            let mut rest = xml.as_str();
            while let Some(i) = rest.find("<interface ") {
                rest = &rest[i..];
                let end = rest.find("</interface>").unwrap_or(rest.len());
                if let Some(mac) = attr_of(&rest[..end], "mac", "address") {
                    macs.push(mac.to_ascii_lowercase());
                }
                rest = &rest[end..];
            }
            let state = self.domstate(&conn, name).await?;
            let cores = element_text(&xml, "vcpu").and_then(|v| v.parse().ok()).unwrap_or(1);
            let memory_mib = element_text(&xml, "memory")
                .and_then(|v| v.parse::<u64>().ok())
                .map(|v| to_mib(v, attr_of(&xml, "memory", "unit").as_deref().unwrap_or("KiB")))
                .unwrap_or(0);
            found.push(VirshDomain { name: name.to_string(), arch, macs, state, cores, memory_mib });
        }
        Ok(found)
    }

    /// What MAAS does to a domain it has just enlisted: a running one is
    /// forced off (MAAS controls it from now on), and its boot order
    /// becomes network, then disk.
    pub async fn prepare_for_enlistment(
        &self,
        address: &str,
        password: Option<&str>,
        domain: &str,
    ) -> Result<(), PowerError> {
        let conn = self.connect(address, password)?;
        if self.domstate(&conn, domain).await? == PowerState::On {
            self.run(&conn, &["destroy", domain]).await?;
        }
        let xml = self.run(&conn, &["dumpxml", "--inactive", domain]).await?;
        if let Some(new) = with_pxe_boot(&xml) {
            let io = |e: std::io::Error| PowerError::Other {
                target: conn.target.clone(),
                detail: format!("cannot write the domain XML: {e}"),
            };
            let mut file = tempfile::Builder::new().prefix("ironpool-virsh-").suffix(".xml").tempfile().map_err(io)?;
            file.write_all(new.as_bytes()).map_err(io)?;
            file.flush().map_err(io)?;
            let path = file.path().display().to_string();
            self.run(&conn, &["define", &path]).await?;
        }
        Ok(())
    }
}

/// A libvirt host's resources (`virsh nodeinfo`, its storage pools), the
/// groundwork of VM hosts (`vm-hosts/ refresh`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInfo {
    pub cpus: u32,
    /// Bytes.
    pub memory: u64,
    pub pools: Vec<StoragePool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoragePool {
    pub name: String,
    /// libvirt's pool type (`dir`, `logical`, `zfs`, …).
    pub pool_type: String,
    pub path: String,
    /// Bytes.
    pub capacity: u64,
    pub available: u64,
    pub active: bool,
}

/// What `virsh capabilities` says a host runs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostCapabilities {
    /// Debian names (`amd64`, …).
    pub architectures: Vec<String>,
    pub kvm: bool,
    pub version: String,
}

/// What a composed domain gets (`vm-hosts/{id}/?op=compose`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeSpec {
    pub name: String,
    pub cores: u32,
    /// MiB.
    pub memory_mib: u64,
    /// (pool, size in bytes) per disk; the first boots.
    pub disks: Vec<(String, u64)>,
    /// MACs of user-mode NICs when `network` is None, else NICs on that
    /// libvirt network.
    pub macs: Vec<String>,
    pub network: Option<String>,
    /// NICs on this host bridge instead (libvirt `<interface type='bridge'>`);
    /// wins over `network`.
    pub bridge: Option<String>,
    /// `kvm` where the host has it, `qemu` (TCG) otherwise.
    pub domain_type: String,
    /// The emulator binary; `None` lets libvirt choose its default.
    pub emulator: Option<String>,
}

/// `Key:   value` lines of virsh's info commands.
fn info_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| l.split_once(':').filter(|(k, _)| k.trim() == key).map(|(_, v)| v.trim()))
}

/// A name libvirt and a shell-free argv accept: letters, digits, `-`, `_`, `.`.
fn check_name(what: &str, name: &str) -> Result<(), PowerError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['-', '.'])
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(PowerError::Config(format!("{what} '{name}' may only hold letters, digits, '-', '_' and '.'")))
    }
}

impl VirshDriver {
    /// The host's CPUs, memory and storage pools.
    pub async fn host_info(&self, address: &str, password: Option<&str>) -> Result<HostInfo, PowerError> {
        let conn = self.connect(address, password)?;
        let node = self.run(&conn, &["nodeinfo"]).await?;
        let cpus = info_field(&node, "CPU(s)").and_then(|v| v.parse().ok()).unwrap_or(0);
        let memory = info_field(&node, "Memory size")
            .and_then(|v| v.trim_end_matches("KiB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
            .unwrap_or(0);
        let mut pools = Vec::new();
        let names = self.run(&conn, &["pool-list", "--all", "--name"]).await?;
        for name in names.lines().map(str::trim).filter(|n| !n.is_empty()) {
            let info = self.run(&conn, &["pool-info", "--bytes", name]).await?;
            let xml = self.run(&conn, &["pool-dumpxml", name]).await?;
            let num = |k: &str| info_field(&info, k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            let path = xml
                .find("<target>")
                .and_then(|i| xml[i..].find("<path>").map(|j| i + j + 6))
                .and_then(|i| xml[i..].find("</path>").map(|j| xml[i..i + j].to_string()))
                .unwrap_or_default();
            pools.push(StoragePool {
                name: name.to_string(),
                pool_type: attr_of(&xml, "pool", "type").unwrap_or_default(),
                path,
                capacity: num("Capacity"),
                available: num("Available"),
                active: info_field(&info, "State") == Some("running"),
            });
        }
        Ok(HostInfo { cpus, memory, pools })
    }

    /// Creates a domain: one raw volume per disk in its pool, booting from
    /// the network, then the first disk (it commissions like any machine).
    /// Left defined and off. Volumes made before a failure are removed.
    pub async fn compose(&self, address: &str, password: Option<&str>, spec: &ComposeSpec) -> Result<(), PowerError> {
        check_name("domain name", &spec.name)?;
        for (pool, _) in &spec.disks {
            check_name("storage pool", pool)?;
        }
        if let Some(n) = &spec.network {
            check_name("network", n)?;
        }
        if let Some(b) = &spec.bridge {
            check_name("bridge", b)?;
        }
        let conn = self.connect(address, password)?;
        let mut disks = String::new();
        let mut made: Vec<(String, String)> = Vec::new();
        for (i, (pool, size)) in spec.disks.iter().enumerate() {
            let vol = format!("{}-disk{i}.img", spec.name);
            let created = self.run(&conn, &["vol-create-as", pool, &vol, &size.to_string(), "--format", "raw"]).await;
            let path = match created {
                Ok(_) => {
                    made.push((pool.clone(), vol.clone()));
                    self.run(&conn, &["vol-path", "--pool", pool, &vol]).await.map(|p| p.trim().to_string())
                }
                Err(e) => Err(e),
            };
            let path = match path {
                Ok(p) => p,
                Err(e) => {
                    for (p, v) in &made {
                        let _ = self.run(&conn, &["vol-delete", "--pool", p, v]).await;
                    }
                    return Err(e);
                }
            };
            let dev = format!("vd{}", (b'a' + i as u8) as char);
            disks.push_str(&format!(
                "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{path}'/><target dev='{dev}' bus='virtio'/></disk>"
            ));
        }
        let nics: String = spec
            .macs
            .iter()
            .map(|m| match (&spec.bridge, &spec.network) {
                (Some(b), _) => format!("<interface type='bridge'><source bridge='{b}'/><mac address='{m}'/><model type='virtio'/></interface>"),
                (None, Some(n)) => format!("<interface type='network'><source network='{n}'/><mac address='{m}'/><model type='virtio'/></interface>"),
                (None, None) => format!("<interface type='user'><mac address='{m}'/><model type='virtio'/></interface>"),
            })
            .collect();
        let emulator = spec.emulator.as_ref().map(|e| format!("<emulator>{e}</emulator>")).unwrap_or_default();
        let xml = format!(
            "<domain type='{}'><name>{}</name><memory unit='MiB'>{}</memory><vcpu>{}</vcpu>\
             <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='network'/><boot dev='hd'/></os>\
             <features><acpi/></features><devices>{emulator}{disks}{nics}</devices></domain>",
            if spec.domain_type == "kvm" { "kvm" } else { "qemu" },
            spec.name,
            spec.memory_mib,
            spec.cores.max(1),
        );
        let io = |e: std::io::Error| PowerError::Other {
            target: conn.target.clone(),
            detail: format!("cannot write the domain XML: {e}"),
        };
        let mut file = tempfile::Builder::new().prefix("ironpool-virsh-").suffix(".xml").tempfile().map_err(io)?;
        file.write_all(xml.as_bytes()).map_err(io)?;
        file.flush().map_err(io)?;
        if let Err(e) = self.run(&conn, &["define", &file.path().display().to_string()]).await {
            for (p, v) in &made {
                let _ = self.run(&conn, &["vol-delete", "--pool", p, v]).await;
            }
            return Err(e);
        }
        Ok(())
    }

    /// What the host can run: the guest architectures (Debian names) and
    /// whether it has kvm, from `virsh capabilities`, and libvirt's version.
    pub async fn capabilities(&self, address: &str, password: Option<&str>) -> Result<HostCapabilities, PowerError> {
        let conn = self.connect(address, password)?;
        let xml = self.run(&conn, &["capabilities"]).await?;
        let mut architectures = Vec::new();
        let mut kvm = false;
        let mut rest = xml.as_str();
        while let Some(i) = rest.find("<guest>") {
            let end = rest[i..].find("</guest>").map(|j| i + j).unwrap_or(rest.len());
            let guest = &rest[i..end];
            if let Some(a) = attr_of(guest, "arch", "name") {
                let a = debian_arch(&a);
                if !architectures.contains(&a) {
                    architectures.push(a);
                }
            }
            kvm |= guest.contains("<domain type='kvm'") || guest.contains("<domain type=\"kvm\"");
            rest = &rest[end..];
        }
        // A host whose emulator libvirt cannot find lists no guests; its
        // own CPU's architecture is what it would run.
        if architectures.is_empty() {
            if let Some(a) = element_text(&xml, "arch") {
                architectures.push(debian_arch(&a));
            }
        }
        // `virsh version` fails while no emulator is installed; its absence is
        // no error here.
        let version = self
            .run(&conn, &["version", "--daemon"])
            .await
            .ok()
            .and_then(|v| {
                info_field(&v, "Running against daemon").or(info_field(&v, "Using library")).map(|s| s.to_string())
            })
            .map(|v| v.trim_start_matches("libvirt").trim().to_string())
            .unwrap_or_default();
        Ok(HostCapabilities { architectures, kvm, version })
    }

    /// The host's libvirt networks, by name.
    pub async fn networks(&self, address: &str, password: Option<&str>) -> Result<Vec<String>, PowerError> {
        let conn = self.connect(address, password)?;
        let out = self.run(&conn, &["net-list", "--all", "--name"]).await?;
        Ok(out.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect())
    }

    /// Removes a domain and its storage (`vm-hosts` decompose / machine delete).
    pub async fn decompose(&self, address: &str, password: Option<&str>, domain: &str) -> Result<(), PowerError> {
        let conn = self.connect(address, password)?;
        if self.domstate(&conn, domain).await? == PowerState::On {
            self.run(&conn, &["destroy", domain]).await?;
        }
        self.run(&conn, &["undefine", "--remove-all-storage", domain]).await?;
        Ok(())
    }
}

/// A private directory with `askpass` (prints the password file) and
/// `password` (0600). ssh runs the script; the password is never in argv
/// or in the environment.
fn askpass_dir(target: &str, password: &str) -> Result<tempfile::TempDir, PowerError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |e: std::io::Error| PowerError::Other {
        target: target.to_string(),
        detail: format!("cannot write the askpass files: {e}"),
    };
    if password.contains('\n') {
        return Err(PowerError::Config("power_pass must be a single line".into()));
    }
    let dir = tempfile::Builder::new().prefix("ironpool-virsh-").tempdir().map_err(io)?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    let pw = dir.path().join("password");
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode_0600().open(&pw).map_err(io)?;
    f.write_all(password.as_bytes()).map_err(io)?;
    f.write_all(b"\n").map_err(io)?;
    let script = dir.path().join("askpass");
    std::fs::write(&script, format!("#!/bin/sh\nexec cat '{}'\n", pw.display())).map_err(io)?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    Ok(dir)
}

/// Opening a file 0600 from the start (no window where it is readable).
trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}

impl Mode0600 for std::fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600)
    }
}

/// Maps virsh's error text to an error kind. virsh's messages are local
/// tool output (they name the URI and the libvirt error, never the
/// password); the first `error:` lines are kept, shortened.
fn classify(target: &str, stderr: &str, command: &str) -> PowerError {
    let lines: Vec<&str> = stderr.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let said = sanitize(&lines.iter().take(3).copied().collect::<Vec<_>>().join(" "), 300);
    let lower = stderr.to_ascii_lowercase();
    let target = target.to_string();
    if lower.contains("permission denied")
        || lower.contains("authentication failed")
        || lower.contains("host key verification failed")
    {
        PowerError::Auth { target, detail: format!("Failed to login to virsh console: {said}") }
    } else if lower.contains("domain not found") || lower.contains("failed to get domain") {
        PowerError::Config(format!("no such domain on {target} (check power_id): {said}"))
    } else if lower.contains("connection refused")
        || lower.contains("no route to host")
        || lower.contains("could not resolve")
        || lower.contains("name or service not known")
        || lower.contains("failed to connect socket")
        || (lower.contains("failed to connect to the hypervisor") && lower.contains("cannot recv data"))
    {
        PowerError::Unreachable { target, detail: said }
    } else {
        PowerError::Other { target, detail: format!("virsh {command} failed: {said}") }
    }
}

#[async_trait]
impl PowerDriver for VirshDriver {
    fn power_type(&self) -> &'static str {
        "virsh"
    }

    async fn act(&self, action: PowerAction, params: &PowerParams) -> Result<Option<PowerState>, PowerError> {
        let address = required(params, "power_address")?;
        let domain = required(params, "power_id")?;
        // MAAS: a blank password is no password.
        let password = params.get("power_pass").map(String::as_str).filter(|p| !p.is_empty());
        let conn = self.connect(address, password)?;
        let state = self.domstate(&conn, domain).await?;
        let raw = || async { self.run(&conn, &["domstate", domain]).await.map(|s| s.trim().to_string()) };
        match action {
            PowerAction::Query => return Ok(Some(state)),
            // Only a domain that is exactly "shut off" is started (a paused
            // or crashed one needs the owner), as in MAAS.
            PowerAction::On => {
                if raw().await? == "shut off" {
                    self.run(&conn, &["start", domain]).await?;
                }
            }
            PowerAction::Off => {
                if raw().await? == "running" {
                    self.run(&conn, &["destroy", domain]).await?;
                }
            }
            // A running domain is reset (it boots again); an off one starts.
            PowerAction::Cycle => match raw().await?.as_str() {
                "running" => {
                    self.run(&conn, &["reset", domain]).await?;
                }
                "shut off" => {
                    self.run(&conn, &["start", domain]).await?;
                }
                _ => {}
            },
        }
        Ok(Some(self.domstate(&conn, domain).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_map_as_in_maas() {
        assert_eq!(map_state("shut off\n"), Some(PowerState::Off));
        assert_eq!(map_state("running"), Some(PowerState::On));
        assert_eq!(map_state("in shutdown"), Some(PowerState::On));
        assert_eq!(map_state("paused"), Some(PowerState::Off));
        assert_eq!(map_state("exploded"), None);
    }

    #[test]
    fn pxe_boot_order_is_rewritten_once() {
        let xml = "<domain type='qemu'>\n  <name>a</name>\n  <os>\n    <type arch='x86_64' machine='pc'>hvm</type>\n    <boot dev='hd'/>\n  </os>\n</domain>\n";
        let new = with_pxe_boot(xml).unwrap();
        assert!(new.contains("<boot dev='network'/>\n    <boot dev='hd'/>\n  </os>"), "{new}");
        assert_eq!(new.matches("<boot dev=").count(), 2);
        assert_eq!(with_pxe_boot(&new), None, "already network, hd");
        assert_eq!(attr_of(xml, "type", "arch").as_deref(), Some("x86_64"));
        assert_eq!(with_pxe_boot("<domain><os><type>hvm</type></os><disk><boot order='1'/></disk></domain>"), None);
    }

    #[test]
    fn addresses_with_parameters_or_passwords_are_refused() {
        let d = VirshDriver::default();
        let e = d.connect("qemu+ssh://h/system?command=/bin/evil", None).err().unwrap();
        assert_eq!(e, PowerError::Config(EXTRA_PARAMETERS.into()));
        assert!(d.connect("qemu+ssh://u:pw@h/system", None).is_err());
        let c = d.connect("qemu+ssh://u@h:2222/system", None).unwrap();
        assert_eq!(c.uri, "qemu+ssh://u@h:2222/system?no_verify=1&no_tty=1");
        assert_eq!(d.connect("qemu:///system", None).unwrap().uri, "qemu:///system");
    }
}
