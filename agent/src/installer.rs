//! The installer for root filesystem images (squashfs, root tarballs): the
//! job curtin does for MAAS, driven by the same installation document.
//!
//! In order, each phase reported to the region as curtin's events are
//! (`cmd-install/stage-…` start and finish through the status webhook, so
//! `events/` and the machine's status message show progress):
//!
//! 1. **partitioning**: the storage plan (`crate::install_plan`, planned in
//!    full before any disk is touched) is run command by command: wipe,
//!    partition, RAID, bcache, LVM, filesystems, mounts under [`TARGET`];
//! 2. **extract**: the image is downloaded from the rack while hashed; a
//!    root tarball is unpacked as it streams (owners, modes and extended
//!    attributes kept), a squashfs is spooled onto the new root filesystem
//!    and unpacked there with `unsquashfs` (it needs random access); size
//!    and SHA-256 must match the document's;
//! 3. **curthooks**: the installed OS's configuration: `fstab` from the
//!    storage model, hostname, cloud-init's network configuration (the
//!    document's version 1 `network`), cloud-init's MAAS datasource (the
//!    metadata URL this agent used and the node's OAuth token) with the
//!    status webhook, apt sources for Ubuntu, `mdadm.conf` and a new
//!    initramfs when the root is on RAID, and GRUB from the image itself,
//!    run in a chroot with `/dev`, `/proc` and `/sys` bound (BIOS, or UEFI
//!    when this machine booted that way).
//!
//! Every command and its output go to the installation log, which is sent
//! as the installation result (`/tmp/install.log`, curtin's name). When a
//! phase fails, everything is unmounted and deactivated, the start of each
//! disk the plan wiped is zeroed (a half-installed disk never boots), and
//! the error names the command and what it said.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use ironpool_common::deploy::{Compression, CurtinConfig, DeployImage, Packing};
use ironpool_common::inventory::Inventory;
use serde_json::json;

use crate::client::{AgentError, Credentials, MetadataClient, Result};
use crate::image;
use crate::install_plan::{self, Plan, Step};

/// Where the installed system's root is mounted while it is built.
pub const TARGET: &str = "/target";

/// The installation result's name (curtin's log file, as MAAS records it).
pub const INSTALL_LOG: &str = "/tmp/install.log";

fn err(msg: impl Into<String>) -> AgentError {
    AgentError::Protocol(msg.into())
}

/// Every command the installer ran, with its output.
#[derive(Debug, Clone, Default)]
pub struct Log {
    text: String,
}

impl Log {
    /// A line for the log and the console.
    pub fn note(&mut self, line: impl AsRef<str>) {
        let line = line.as_ref();
        println!("ironpool-agent: {line}");
        self.text.push_str(line);
        self.text.push('\n');
    }

    fn output(&mut self, out: &[u8]) {
        if !out.is_empty() {
            self.text.push_str(&String::from_utf8_lossy(out));
            if !self.text.ends_with('\n') {
                self.text.push('\n');
            }
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

/// Runs one command, its standard input fed from the step; its output goes
/// to the log. A failure names the command, its exit status and the last
/// lines it printed.
pub fn run(step: &Step, log: &mut Log) -> Result<String> {
    let (prog, args) = step.argv.split_first().ok_or_else(|| err("an empty command"))?;
    log.note(format!("$ {}", step.argv.join(" ")));
    let mut child = Command::new(prog)
        .args(args)
        .stdin(if step.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| err(format!("cannot run {prog}: {e}")))?;
    if let (Some(input), Some(mut pipe)) = (step.stdin.as_deref(), child.stdin.take()) {
        // A command that exits without reading its input is judged by its
        // exit status, not by the broken pipe.
        let _ = pipe.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| err(format!("{prog} did not finish: {e}")))?;
    log.output(&out.stdout);
    log.output(&out.stderr);
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let said = String::from_utf8_lossy(if out.stderr.is_empty() { &out.stdout } else { &out.stderr }).into_owned();
    let tail: Vec<&str> = said.lines().rev().take(5).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(err(format!("`{}` failed ({}): {}", step.argv.join(" "), out.status, tail.join(" / "))))
}

pub(crate) fn cmd(argv: &[&str]) -> Step {
    Step { argv: argv.iter().map(|s| s.to_string()).collect(), stdin: None }
}

/// A shell command run inside the installed system.
fn in_target(target: &str, script: &str) -> Step {
    cmd(&["chroot", target, "/bin/sh", "-c", script])
}

/// What the installed OS needs to reach the region: cloud-init's MAAS
/// datasource and the status webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datasource {
    /// `http://rack:5248/MAAS/metadata/`: what this agent was given.
    pub metadata_url: String,
    /// `…/MAAS/metadata/status/{system_id}`.
    pub webhook: Option<String>,
    pub credentials: Credentials,
}

impl Datasource {
    /// cloud.cfg.d YAML: only the MAAS datasource, and MAAS's webhook
    /// reporter, as curtin configures an installed Ubuntu. Block style with
    /// `datasource_list:` at the start of a line, because cloud-init's
    /// `ds-identify` (which decides at boot whether cloud-init runs at all)
    /// reads that key with a line-based parser, not a YAML one: given JSON
    /// it finds no list, probes for MAAS, and disables cloud-init.
    pub fn cloud_config(&self) -> String {
        let q = |v: &str| serde_json::to_string(v).unwrap_or_default();
        let c = &self.credentials;
        let keys = |indent: &str| {
            format!(
                "{indent}consumer_key: {}\n{indent}token_key: {}\n{indent}token_secret: {}\n",
                q(&c.consumer_key),
                q(&c.token_key),
                q(&c.token_secret)
            )
        };
        let mut out = format!(
            "# Written by Ironpool's installer: cloud-init reads its metadata from the region.\n\
             datasource_list: [ MAAS ]\ndatasource:\n  MAAS:\n    metadata_url: {}\n{}",
            q(&self.metadata_url),
            keys("    ")
        );
        if let Some(w) = &self.webhook {
            out.push_str(&format!("reporting:\n  maas:\n    type: webhook\n    endpoint: {}\n{}", q(w), keys("    ")));
        }
        out
    }
}

fn write(path: &Path, data: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| err(format!("cannot create {}: {e}", dir.display())))?;
    }
    std::fs::write(path, data).map_err(|e| err(format!("cannot write {}: {e}", path.display())))
}

/// The files the installed OS is configured by (everything of the
/// curthooks phase that is not a command): fstab, hostname, network,
/// datasource, apt. Returns the paths written, relative to `target`.
pub fn write_config(target: &Path, cfg: &CurtinConfig, fstab: &str, ds: &Datasource) -> Result<Vec<String>> {
    let mut wrote = Vec::new();
    let mut put = |rel: &str, data: String| -> Result<()> {
        write(&target.join(rel), data.as_bytes())?;
        wrote.push(format!("/{rel}"));
        Ok(())
    };
    put("etc/fstab", format!("# Written by Ironpool's installer from the machine's storage layout.\n{fstab}"))?;
    let fqdn = &cfg.ironpool.hostname;
    let short = fqdn.split('.').next().unwrap_or(fqdn);
    put("etc/hostname", format!("{short}\n"))?;
    if let Some(net) = &cfg.network {
        // System configuration comes before the datasource's in
        // cloud-init's order, so this is what the OS brings up.
        put("etc/cloud/cloud.cfg.d/50-curtin-networking.cfg", format!("{:#}\n", json!({ "network": net })))?;
    }
    put("etc/cloud/cloud.cfg.d/90_dpkg_maas.cfg", ds.cloud_config())?;
    // The region's archive entries are Ubuntu's: another OS keeps its own
    // sources and takes only the proxy.
    match &cfg.apt {
        Some(apt) if cfg.ironpool.image.name.starts_with("ubuntu/") => {
            put("etc/cloud/cloud.cfg.d/90_ironpool_apt.cfg", format!("{:#}\n", json!({ "apt": apt })))?;
        }
        Some(apt) if apt.proxy.is_some() => {
            let own = json!({"apt": {"preserve_sources_list": true, "proxy": apt.proxy}});
            put("etc/cloud/cloud.cfg.d/90_ironpool_apt.cfg", format!("{own:#}\n"))?;
        }
        _ => {}
    }
    Ok(wrote)
}

/// The commands that make the installed system bootable, run after
/// [`write_config`]: RAID in `mdadm.conf` and the initramfs, then GRUB on
/// each boot disk from inside the image (`grub-install` or
/// `grub2-install`), then its configuration.
pub fn bootloader_steps(plan: &Plan, target: &str, uefi: bool) -> Vec<Step> {
    let mut steps = Vec::new();
    if plan.raid {
        steps.push(cmd(&[
            "sh",
            "-c",
            &format!("mkdir -p {target}/etc/mdadm && mdadm --detail --scan >> {target}/etc/mdadm/mdadm.conf"),
        ]));
        steps.push(in_target(
            target,
            "if command -v update-initramfs >/dev/null; then update-initramfs -u -k all; \
             elif command -v dracut >/dev/null; then dracut -f --regenerate-all; fi",
        ));
    }
    let install = "g=$(command -v grub-install || command -v grub2-install) || \
                   { echo 'the image has no grub-install' >&2; exit 1; }; \"$g\" ";
    if uefi {
        steps.push(in_target(
            target,
            &format!("{install} --target=x86_64-efi --efi-directory=/boot/efi --recheck --removable"),
        ));
    } else {
        for d in &plan.grub_devices {
            steps.push(in_target(target, &format!("{install} --target=i386-pc --recheck {d}")));
        }
    }
    steps.push(in_target(
        target,
        "if command -v update-grub >/dev/null; then update-grub; \
         elif command -v grub-mkconfig >/dev/null; then grub-mkconfig -o /boot/grub/grub.cfg; \
         else grub2-mkconfig -o /boot/grub2/grub.cfg; fi",
    ));
    steps
}

/// Reports one phase event through the webhook (when there is one).
struct Reporter<'a> {
    md: &'a MetadataClient,
    webhook: Option<&'a str>,
}

impl Reporter<'_> {
    async fn event(&self, name: &str, event_type: &str, description: &str, ok: Option<bool>) {
        let Some(endpoint) = self.webhook else { return };
        let mut ev = json!({
            "event_type": event_type, "origin": "curtin", "name": name, "description": description,
            "timestamp": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs_f64(),
        });
        if let Some(ok) = ok {
            ev["result"] = json!(if ok { "SUCCESS" } else { "FAIL" });
        }
        // Progress reports are best effort: the install goes on without.
        if let Err(e) = self.md.status_event(endpoint, &ev).await {
            println!("ironpool-agent: could not report {name}: {e}");
        }
    }
}

/// What a root image install did.
#[derive(Debug, Clone)]
pub struct RootReport {
    pub downloaded: u64,
    /// Seconds per phase: partitioning, extract, curthooks.
    pub phases: Vec<(&'static str, f64)>,
    pub summary: String,
}

/// Installs the root image the document names onto the storage layout it
/// describes. The log collects every command; the caller sends it.
pub async fn install_root(
    md: &MetadataClient,
    inv: &Inventory,
    cfg: &CurtinConfig,
    packing: Packing,
    ds: &Datasource,
    log: &mut Log,
) -> Result<RootReport> {
    let storage = cfg.storage.as_ref().ok_or_else(|| {
        err("the installation document has no storage configuration: a root image needs a storage layout")
    })?;
    let plan = install_plan::plan(storage, inv, TARGET).map_err(|e| err(format!("the storage layout: {e}")))?;
    if plan.mounts.first().map(String::as_str) != Some(TARGET) {
        return Err(err("the storage layout mounts no filesystem at /: there is nowhere to install the OS"));
    }
    let report = Reporter { md, webhook: ds.webhook.as_deref() };
    let mut phases = Vec::new();
    let result = phases_in_order(md, cfg, packing, ds, &plan, &report, log, &mut phases).await;
    let teardown = teardown(&plan, log);
    let downloaded = match result {
        Ok(n) => n,
        Err(e) => {
            for d in &plan.disks {
                image::spoil(Path::new(d));
            }
            log.note(format!("failed: {e}; the start of {} zeroed", plan.disks.join(", ")));
            return Err(e);
        }
    };
    teardown?;
    let summary = format!(
        "{} installed on {} ({}): {}",
        cfg.ironpool.image.name,
        plan.disks.join(", "),
        downloaded,
        phases.iter().map(|(n, s)| format!("{n} {s:.1} s")).collect::<Vec<_>>().join(", ")
    );
    Ok(RootReport { downloaded, phases, summary })
}

#[allow(clippy::too_many_arguments)] // one call site: the phases share all of it
async fn phases_in_order(
    md: &MetadataClient,
    cfg: &CurtinConfig,
    packing: Packing,
    ds: &Datasource,
    plan: &Plan,
    report: &Reporter<'_>,
    log: &mut Log,
    phases: &mut Vec<(&'static str, f64)>,
) -> Result<u64> {
    const PARTITIONING: &str = "cmd-install/stage-partitioning/builtin/cmd-block-meta";
    const EXTRACT: &str = "cmd-install/stage-extract/builtin/cmd-extract";
    const CURTHOOKS: &str = "cmd-install/stage-curthooks/builtin/cmd-curthooks";

    let t = Instant::now();
    report.event(PARTITIONING, "start", "configuring storage", None).await;
    let r = run_all(plan.steps.clone(), log).await;
    report.event(PARTITIONING, "finish", "configuring storage", Some(r.is_ok())).await;
    r?;
    phases.push(("partitioning", t.elapsed().as_secs_f64()));

    let t = Instant::now();
    let image = &cfg.ironpool.image;
    let what = format!("acquiring and extracting image from {}", image.url);
    report.event(EXTRACT, "start", &what, None).await;
    log.note(format!("extracting {} ({}, {} bytes) into {TARGET}", image.name, image.filetype, image.size));
    let r = extract(md, cfg, packing, log).await;
    report.event(EXTRACT, "finish", &what, Some(r.is_ok())).await;
    let downloaded = r?;
    phases.push(("extract", t.elapsed().as_secs_f64()));

    let t = Instant::now();
    report.event(CURTHOOKS, "start", "configuring installed system", None).await;
    let r = curthooks(cfg, plan, ds, log).await;
    report.event(CURTHOOKS, "finish", "configuring installed system", Some(r.is_ok())).await;
    r?;
    phases.push(("curthooks", t.elapsed().as_secs_f64()));
    Ok(downloaded)
}

/// Runs steps in order on a blocking thread; the log comes back either way.
pub(crate) async fn run_all(steps: Vec<Step>, log: &mut Log) -> Result<()> {
    let mut mine = std::mem::take(log);
    let (back, r) = tokio::task::spawn_blocking(move || {
        let r = steps.iter().try_for_each(|s| run(s, &mut mine).map(|_| ()));
        (mine, r)
    })
    .await
    .map_err(|e| err(format!("the installer's command runner crashed: {e}")))?;
    *log = back;
    r
}

/// Downloads and unpacks the root image into [`TARGET`]; the bytes
/// downloaded.
async fn extract(md: &MetadataClient, cfg: &CurtinConfig, packing: Packing, log: &mut Log) -> Result<u64> {
    let image = &cfg.ironpool.image;
    match packing {
        Packing::RootTar { compression } => unpack_root_tar(md, image, compression, TARGET, log).await,
        Packing::Squashfs => {
            // unsquashfs reads at random: the image is spooled onto the new
            // root filesystem itself (RAM may be smaller than the image).
            let spool_at = PathBuf::from(TARGET).join(".ironpool-root.squashfs");
            let got = spool(md, image, spool_at.clone()).await.inspect_err(|_| {
                let _ = std::fs::remove_file(&spool_at);
            })?;
            let s = spool_at.to_string_lossy().into_owned();
            let r = run_all(vec![cmd(&["unsquashfs", "-f", "-n", "-d", TARGET, &s])], log).await;
            let _ = std::fs::remove_file(&spool_at);
            r?;
            Ok(got)
        }
        Packing::Disk { .. } => Err(err("a disk image is written to the boot disk, not extracted")),
    }
}

/// Unpacks the root tarball `image` into `target` as it downloads; the
/// bytes downloaded.
pub(crate) async fn unpack_root_tar(
    md: &MetadataClient,
    image: &DeployImage,
    compression: Compression,
    target: &'static str,
    log: &mut Log,
) -> Result<u64> {
    let (got, entries) = image::stream_image(md, image, move |input| {
        let decoded = image::decoder(std::io::BufReader::with_capacity(1 << 20, input), compression);
        unpack_tar(decoded, Path::new(target))
    })
    .await?;
    log.note(format!("unpacked {entries} entries ({got} bytes downloaded)"));
    Ok(got)
}

/// Downloads `image` into the file `path` (checked as it arrives); the
/// bytes downloaded.
pub(crate) async fn spool(md: &MetadataClient, image: &DeployImage, path: PathBuf) -> Result<u64> {
    let (got, _) = image::stream_image(md, image, move |mut input| {
        let mut f = std::fs::File::create(&path).map_err(|e| err(format!("cannot create {}: {e}", path.display())))?;
        std::io::copy(&mut input, &mut f).map_err(|e| err(format!("cannot spool the image to {}: {e}", path.display())))
    })
    .await?;
    Ok(got)
}

/// Unpacks a root filesystem tar into `target`: numeric owners, full modes
/// (setuid included), modification times and extended attributes (file
/// capabilities) as the archive has them. Returns the number of entries.
pub fn unpack_tar(input: impl Read, target: &Path) -> Result<u64> {
    let mut archive = tar::Archive::new(input);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_preserve_mtime(true);
    archive.set_unpack_xattrs(true);
    archive.set_overwrite(true);
    let mut n = 0u64;
    let entries = archive.entries().map_err(|e| err(format!("the image is not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| err(format!("cannot read the image's tar archive: {e}")))?;
        // Device nodes come from devtmpfs at boot; the unpacker cannot
        // make them and the OS does not need them on disk.
        if matches!(entry.header().entry_type(), tar::EntryType::Block | tar::EntryType::Char | tar::EntryType::Fifo) {
            continue;
        }
        let name = entry.path().map(|p| p.display().to_string()).unwrap_or_default();
        entry.unpack_in(target).map_err(|e| {
            // tar's error says what it tried; its source says why.
            let why = std::error::Error::source(&e).map(|s| format!(": {s}")).unwrap_or_default();
            err(format!("cannot unpack {name} from the image: {e}{why}"))
        })?;
        n += 1;
    }
    Ok(n)
}

/// The installed system's configuration, then its bootloader, with the
/// kernel filesystems bound into it for the chrooted tools.
async fn curthooks(cfg: &CurtinConfig, plan: &Plan, ds: &Datasource, log: &mut Log) -> Result<()> {
    let has = |p: &str| Path::new(TARGET).join(p).exists();
    if !["usr/sbin/grub-install", "usr/sbin/grub2-install", "sbin/grub-install", "sbin/grub2-install"]
        .iter()
        .any(|p| has(p))
    {
        return Err(err(format!(
            "the image {} has no grub-install (or grub2-install): a root image must bring its own bootloader \
             to be made bootable",
            cfg.ironpool.image.name
        )));
    }
    let wrote = write_config(Path::new(TARGET), cfg, &plan.fstab, ds)?;
    log.note(format!("wrote {}", wrote.join(", ")));
    let uefi = Path::new("/sys/firmware/efi").exists();
    let mut steps = Vec::new();
    for fs in ["dev", "proc", "sys", "run"] {
        let at = format!("{TARGET}/{fs}");
        steps.push(cmd(&["mkdir", "-p", &at]));
        steps.push(cmd(&["mount", "-o", "bind", &format!("/{fs}"), &at]));
    }
    // This environment has no udev: the names it would make for the new
    // filesystems, so GRUB names the root by UUID as on any installed
    // system (it falls back to the kernel's device name without them).
    for (dev, uuid) in &plan.filesystems {
        steps.push(cmd(&["mkdir", "-p", "/dev/disk/by-uuid"]));
        steps.push(cmd(&["ln", "-sf", dev, &format!("/dev/disk/by-uuid/{uuid}")]));
    }
    steps.extend(bootloader_steps(plan, TARGET, uefi));
    run_all(steps, log).await
}

/// Unmounts what the install mounted (binds, then the plan's mounts, in
/// reverse), deactivates LVM and stops RAID arrays, so nothing stays
/// half-open whatever happened. The first unmount failure is the result.
fn teardown(plan: &Plan, log: &mut Log) -> Result<()> {
    let _ = run(&cmd(&["sync"]), log);
    let mut first = None;
    let binds = ["run", "sys", "proc", "dev"].map(|fs| format!("{TARGET}/{fs}"));
    let mounted = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let is_mounted = |p: &str| mounted.lines().any(|l| l.split_whitespace().nth(1) == Some(p));
    for at in binds.iter().chain(plan.mounts.iter().rev()) {
        if !is_mounted(at) {
            continue;
        }
        // `-l`: a bound /dev can stay busy for a moment after the chroot.
        let flags = if binds.contains(at) { "-l" } else { "-n" };
        if let Err(e) = run(&cmd(&["umount", flags, at]), log) {
            first.get_or_insert(e);
        }
    }
    if plan.steps.iter().any(|s| s.argv.first().is_some_and(|p| p == "vgcreate")) {
        let _ = run(&cmd(&["vgchange", "-an"]), log);
    }
    if plan.raid {
        let _ = run(&cmd(&["mdadm", "--stop", "--scan"]), log);
    }
    first.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironpool_common::deploy::{DeployImage, DeployPlan};

    fn doc(image: &str) -> CurtinConfig {
        CurtinConfig {
            sources: Default::default(),
            apt: Some(ironpool_common::deploy::AptConfig {
                preserve_sources_list: false,
                sources_list: "deb http://archive.ubuntu.com/ubuntu $RELEASE main\n".into(),
                sources: Default::default(),
                proxy: Some("http://proxy.example:3128/".into()),
            }),
            storage: None,
            network: Some(
                json!({"version": 1, "config": [{"type": "physical", "name": "eth0", "mac_address": "52:54:00:00:00:01", "subnets": [{"type": "dhcp4"}]}]}),
            ),
            ironpool: DeployPlan {
                system_id: "abc123".into(),
                hostname: "node1.maas".into(),
                image: DeployImage {
                    name: image.into(),
                    filetype: "squashfs".into(),
                    url: "http://r/images/x".into(),
                    sha256: "00".into(),
                    size: 1,
                },
                boot_disk: None,
                ephemeral_deploy: false,
            },
        }
    }

    fn ds() -> Datasource {
        Datasource {
            metadata_url: "http://10.0.0.1:5248/MAAS/metadata/".into(),
            webhook: Some("http://10.0.0.1:5248/MAAS/metadata/status/abc123".into()),
            credentials: Credentials { consumer_key: "ck".into(), token_key: "tk".into(), token_secret: "ts".into() },
        }
    }

    #[test]
    fn configures_the_installed_system() {
        let dir = tempfile::tempdir().unwrap();
        let plan = Plan { fstab: "UUID=u\t/\text4\tdefaults\t0\t1\n".into(), ..Default::default() };
        let wrote = write_config(dir.path(), &doc("debian/bookworm"), &plan.fstab, &ds()).unwrap();
        assert!(wrote.contains(&"/etc/fstab".to_string()) && wrote.len() == 5, "{wrote:?}");
        // A Debian image keeps its own sources; the proxy applies.
        let apt = std::fs::read_to_string(dir.path().join("etc/cloud/cloud.cfg.d/90_ironpool_apt.cfg")).unwrap();
        assert!(apt.contains("\"preserve_sources_list\": true") && apt.contains("proxy.example"), "{apt}");
        assert!(!apt.contains("ubuntu"), "{apt}");
        let read = |p: &str| std::fs::read_to_string(dir.path().join(p)).unwrap();
        assert!(read("etc/fstab").ends_with("UUID=u\t/\text4\tdefaults\t0\t1\n"));
        assert_eq!(read("etc/hostname"), "node1\n");
        let yaml = |p: &str| -> serde_json::Value {
            let t = read(p);
            serde_json::from_str(t.lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>().join("\n").as_str())
                .unwrap()
        };
        let net = yaml("etc/cloud/cloud.cfg.d/50-curtin-networking.cfg");
        assert_eq!(net["network"]["config"][0]["name"], "eth0");
        let maas = read("etc/cloud/cloud.cfg.d/90_dpkg_maas.cfg");
        assert!(maas.lines().any(|l| l == "datasource_list: [ MAAS ]"), "ds-identify reads this line: {maas}");
        assert!(maas.contains("  MAAS:\n    metadata_url: \"http://10.0.0.1:5248/MAAS/metadata/\"\n"), "{maas}");
        assert!(maas.contains("    token_secret: \"ts\"\n"), "{maas}");
        assert!(
            maas.contains("reporting:\n  maas:\n    type: webhook\n    endpoint: \"http://10.0.0.1:5248/MAAS/metadata/status/abc123\"\n"),
            "{maas}"
        );

        let dir = tempfile::tempdir().unwrap();
        let wrote = write_config(dir.path(), &doc("ubuntu/noble"), &plan.fstab, &ds()).unwrap();
        assert!(wrote.contains(&"/etc/cloud/cloud.cfg.d/90_ironpool_apt.cfg".to_string()), "{wrote:?}");
    }

    #[test]
    fn bootloader_on_every_boot_disk_and_raid_in_the_initramfs() {
        let plan = Plan { grub_devices: vec!["/dev/vda".into(), "/dev/vdb".into()], raid: true, ..Default::default() };
        let steps: Vec<String> = bootloader_steps(&plan, "/target", false).iter().map(|s| s.argv.join(" ")).collect();
        assert!(steps[0].contains("mdadm --detail --scan >> /target/etc/mdadm/mdadm.conf"), "{steps:#?}");
        assert!(steps[1].starts_with("chroot /target /bin/sh -c") && steps[1].contains("update-initramfs -u"));
        assert!(steps[2].ends_with("--target=i386-pc --recheck /dev/vda") && steps[3].ends_with("/dev/vdb"));
        assert!(steps[4].contains("update-grub"), "{steps:#?}");
        let uefi: Vec<String> =
            bootloader_steps(&Plan::default(), "/t", true).iter().map(|s| s.argv.join(" ")).collect();
        assert_eq!(uefi.len(), 2);
        assert!(uefi[0].contains("--target=x86_64-efi --efi-directory=/boot/efi"), "{uefi:#?}");
    }

    #[test]
    fn runs_commands_and_says_why_one_failed() {
        let mut log = Log::default();
        let out = run(&Step { argv: vec!["cat".into()], stdin: Some("fed\n".into()) }, &mut log).unwrap();
        assert_eq!(out, "fed\n");
        let e = run(&cmd(&["sh", "-c", "echo first >&2; echo 'no space left' >&2; exit 3"]), &mut log).unwrap_err();
        let e = e.to_string();
        assert!(e.contains("`sh -c") && e.contains("exit status: 3") && e.contains("no space left"), "{e}");
        assert!(log.text().contains("$ cat\nfed\n") && log.text().contains("no space left"), "{}", log.text());
        assert!(run(&cmd(&["/nonexistent/tool"]), &mut log).unwrap_err().to_string().contains("cannot run"));
    }

    #[test]
    fn unpacks_a_root_tarball_with_modes_and_links() {
        let mut b = tar::Builder::new(Vec::new());
        let owned = |h: &mut tar::Header| {
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(1_700_000_000);
        };
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        owned(&mut h);
        b.append_data(&mut h, "./usr/bin", std::io::empty()).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o4755);
        h.set_size(3);
        owned(&mut h);
        b.append_data(&mut h, "./usr/bin/su", &b"su\n"[..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        owned(&mut h);
        b.append_link(&mut h, "./bin", "usr/bin").unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Char);
        h.set_size(0);
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
        owned(&mut h);
        b.append_data(&mut h, "./dev/null", std::io::empty()).unwrap();
        let data = b.into_inner().unwrap();
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(unpack_tar(&data[..], dir.path()).unwrap(), 3);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("usr/bin/su")).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o4755);
        assert_eq!(std::fs::read_to_string(dir.path().join("bin/su")).unwrap(), "su\n");
        assert!(unpack_tar(&[b'x'; 1024][..], dir.path()).is_err());
    }
}
