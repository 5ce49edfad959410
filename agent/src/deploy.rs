//! The installer and the eraser: what a real machine's agent does to its
//! disks (curtin's and MAAS's wipe-disks' jobs).
//!
//! Deploying streams the image named by the installation config from the
//! rack, unpacks it on the fly (raw, gzip, xz or bzip2, optionally inside a
//! tar, per the stored filetype) straight onto the boot disk while hashing
//! what it downloads, and refuses the result unless size and SHA-256 match.
//! It then writes the first-boot seed: into the image's `cidata` partition
//! (cloud-init NoCloud) when it has one, else into the root filesystem's
//! NoCloud seed directory with a cloud.cfg.d file for the status webhook.
//! Nothing here knows HTTP status rules or the region's state machine.

use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ironpool_common::deploy::{self, DeployPlan, DiskHint, Packing};
use ironpool_common::inventory::{Disk, Inventory};

use crate::client::{AgentError, Credentials, MetadataClient, Result};

fn err(msg: impl Into<String>) -> AgentError {
    AgentError::Protocol(msg.into())
}

/// The first-boot configuration the deployed OS reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seed {
    pub instance_id: String,
    pub hostname: String,
    pub public_keys: Vec<String>,
    pub user_data: Option<Vec<u8>>,
    /// The status webhook and the node's credentials, so the deployed OS
    /// can report `modules-final` (how MAAS learns the deploy finished).
    pub webhook: Option<(String, Credentials)>,
}

impl Seed {
    pub fn meta_data(&self) -> String {
        let mut s = format!("instance-id: {}\nlocal-hostname: {}\n", self.instance_id, self.hostname);
        if !self.public_keys.is_empty() {
            s.push_str("public-keys:\n");
            for k in &self.public_keys {
                s.push_str(&format!("  - {}\n", k.trim()));
            }
        }
        s
    }

    /// cloud.cfg.d YAML for cloud-init's MAAS reporter (the shape curtin
    /// writes into an installed Ubuntu).
    pub fn reporting(&self) -> Option<String> {
        let (endpoint, c) = self.webhook.as_ref()?;
        Some(format!(
            "reporting:\n  maas:\n    type: webhook\n    endpoint: \"{endpoint}\"\n    consumer_key: \"{}\"\n    token_key: \"{}\"\n    token_secret: \"{}\"\n",
            c.consumer_key, c.token_key, c.token_secret
        ))
    }

    /// Fills a mounted `cidata` filesystem.
    pub fn write_cidata(&self, dir: &Path) -> Result<()> {
        write(&dir.join(deploy::SEED_META_DATA), self.meta_data().as_bytes())?;
        if let Some(ud) = &self.user_data {
            write(&dir.join(deploy::SEED_USER_DATA), ud)?;
        }
        if let Some(r) = self.reporting() {
            write(&dir.join(deploy::SEED_REPORTING), r.as_bytes())?;
        }
        Ok(())
    }

    /// Fills a mounted root filesystem: cloud-init's NoCloud seed directory
    /// and a cloud.cfg.d file with the webhook and the datasource order.
    pub fn write_rootfs(&self, root: &Path) -> Result<()> {
        let seed = root.join("var/lib/cloud/seed/nocloud-net");
        std::fs::create_dir_all(&seed).map_err(|e| err(format!("cannot create {}: {e}", seed.display())))?;
        write(&seed.join("meta-data"), self.meta_data().as_bytes())?;
        write(&seed.join("user-data"), self.user_data.as_deref().unwrap_or(b"#cloud-config\n{}\n"))?;
        let cfgd = root.join("etc/cloud/cloud.cfg.d");
        std::fs::create_dir_all(&cfgd).map_err(|e| err(format!("cannot create {}: {e}", cfgd.display())))?;
        let mut cfg = String::from("datasource_list: [ NoCloud, None ]\n");
        cfg.push_str(&self.reporting().unwrap_or_default());
        write(&cfgd.join("90_ironpool.cfg"), cfg.as_bytes())?;
        write(&root.join("etc/hostname"), format!("{}\n", short(&self.hostname)).as_bytes())
    }
}

fn short(fqdn: &str) -> &str {
    fqdn.split('.').next().unwrap_or(fqdn)
}

fn write(path: &Path, data: &[u8]) -> Result<()> {
    std::fs::write(path, data).map_err(|e| err(format!("cannot write {}: {e}", path.display())))
}

/// The disk to install on: the region's choice matched by serial, then by
/// name, then by size; else the first disk.
pub fn pick_disk<'a>(inv: &'a Inventory, hint: Option<&DiskHint>) -> Result<&'a Disk> {
    let disks = &inv.resources.storage.disks;
    let found = hint.and_then(|h| {
        disks
            .iter()
            .find(|d| !h.serial.is_empty() && d.serial == h.serial)
            .or_else(|| disks.iter().find(|d| d.id == h.name && d.size == h.size))
            .or_else(|| disks.iter().find(|d| d.size == h.size))
    });
    found.or_else(|| disks.first()).ok_or_else(|| err("this machine has no disk to install on"))
}

/// Unpacks `input` (as packed per `packing`) into `out`; returns the bytes
/// written. A tar must hold the disk image as its first regular file.
pub fn unpack(input: impl Read + Send + 'static, packing: Packing, out: &mut impl Write) -> Result<u64> {
    let Packing::Disk { compression, tar } = packing else {
        return Err(err("a root filesystem image (tgz, tbz, txz, squashfs) is not a disk image: it is installed \
             into the filesystems of the machine's storage layout, not written to a disk"));
    };
    let mut decoded = crate::image::decoder(BufReader::with_capacity(1 << 20, input), compression);
    if !tar {
        return copy(&mut decoded, out);
    }
    let mut archive = tar::Archive::new(decoded);
    let entries = archive.entries().map_err(|e| err(format!("the image is not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| err(format!("cannot read the image's tar archive: {e}")))?;
        if entry.header().entry_type().is_file() {
            return copy(&mut entry, out);
        }
    }
    Err(err("the image's tar archive holds no file"))
}

fn copy(from: &mut dyn Read, to: &mut impl Write) -> Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(err(format!("cannot unpack the image: {e}"))),
        };
        to.write_all(&buf[..n]).map_err(|e| err(format!("cannot write to the disk: {e}")))?;
        total += n as u64;
    }
    to.flush().map_err(|e| err(format!("cannot write to the disk: {e}")))?;
    Ok(total)
}

/// What an install did, for the closing signal and the logs.
#[derive(Debug)]
pub struct InstallReport {
    /// The installer's log (root images), sent as the installation result.
    pub log: Option<String>,
    /// The one-line summary, or why the install failed (after the log was
    /// kept).
    pub outcome: Result<String>,
}

/// Streams the plan's image onto `target` (a block device, or a file in
/// tests), checking size and SHA-256 of what was downloaded.
pub async fn write_image(md: &MetadataClient, plan: &DeployPlan, target: &Path) -> Result<(u64, u64)> {
    let packing = deploy::packing(&plan.image.filetype)
        .ok_or_else(|| err(format!("'{}' is not a deployable image file type", plan.image.filetype)))?;
    if packing.is_root() {
        // Refuse before touching the disk: root images go through the
        // installer (`crate::installer`).
        return unpack(std::io::empty(), packing, &mut std::io::sink()).map(|_| (0, 0));
    }
    let path = target.to_path_buf();
    crate::image::stream_image(md, &plan.image, move |input| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| err(format!("cannot open {} for writing: {e}", path.display())))?;
        let n = unpack(input, packing, &mut f)?;
        f.sync_all().map_err(|e| err(format!("cannot flush {}: {e}", path.display())))?;
        Ok(n)
    })
    .await
}

fn run(cmd: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(cmd).args(args).output().map_err(|e| err(format!("cannot run {cmd}: {e}")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(err(format!("{cmd} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())))
    }
}

/// The partitions of `disk` the kernel knows, after re-reading its table.
fn partitions(disk: &str) -> Vec<String> {
    let _ = run("blockdev", &["--rereadpt", &format!("/dev/{disk}")]);
    let mut parts = Vec::new();
    for _ in 0..50 {
        parts = std::fs::read_dir(format!("/sys/block/{disk}"))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with(disk) && n != disk)
                    .collect()
            })
            .unwrap_or_default();
        if !parts.is_empty() && parts.iter().all(|p| Path::new(&format!("/dev/{p}")).exists()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    parts.sort();
    parts
}

/// The volume label of a FAT (12/16/32) or ISO 9660 filesystem on `dev`,
/// read from its boot sector or volume descriptor: the two forms a NoCloud
/// seed comes in (busybox has no `blkid`, and `findfs` would search every
/// disk, not just the one written).
fn volume_label(dev: &Path) -> Option<String> {
    let mut f = std::fs::File::open(dev).ok()?;
    let mut b = vec![0u8; 0x8800];
    let mut got = 0;
    while got < b.len() {
        match f.read(&mut b[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(_) => return None,
        }
    }
    label_of(&b[..got])
}

fn label_of(b: &[u8]) -> Option<String> {
    let text = |r: std::ops::Range<usize>| -> Option<String> {
        let s = String::from_utf8_lossy(b.get(r)?).trim_end_matches([' ', '\0']).to_string();
        (!s.is_empty() && s != "NO NAME").then_some(s)
    };
    if b.get(0x8001..0x8006) == Some(b"CD001".as_slice()) {
        return text(0x8028..0x8048);
    }
    if b.get(510..512) != Some([0x55, 0xaa].as_slice()) {
        return None;
    }
    match (b.get(0x36..0x3b), b.get(0x52..0x57)) {
        (Some(b"FAT12") | Some(b"FAT16"), _) => text(0x2b..0x36),
        (_, Some(b"FAT32")) => text(0x47..0x52),
        _ => None,
    }
}

/// Writes the seed onto the freshly written disk: the `cidata` partition
/// when the image has one, else the first partition holding a root
/// filesystem (`/etc`).
pub fn install_seed(disk: &str, seed: &Seed) -> Result<String> {
    let parts = partitions(disk);
    let mnt = PathBuf::from("/run/ironpool-target");
    std::fs::create_dir_all(&mnt).map_err(|e| err(format!("cannot create {}: {e}", mnt.display())))?;
    let m = mnt.to_string_lossy().into_owned();
    // Only the partitions of the disk just written: another disk may carry
    // an old `cidata` of its own.
    let cidata = parts
        .iter()
        .map(|p| format!("/dev/{p}"))
        .find(|dev| volume_label(Path::new(dev)).is_some_and(|l| l.eq_ignore_ascii_case(deploy::CIDATA_LABEL)));
    if let Some(dev) = cidata {
        run("mount", &["-t", "vfat", &dev, &m])?;
        let r = seed.write_cidata(&mnt);
        let _ = run("sync", &[]);
        run("umount", &[&m])?;
        r?;
        return Ok(format!("NoCloud seed on {dev} ({})", deploy::CIDATA_LABEL));
    }
    for p in &parts {
        let dev = format!("/dev/{p}");
        if run("mount", &[&dev, &m]).is_err() {
            continue;
        }
        let r = if mnt.join("etc").is_dir() { Some(seed.write_rootfs(&mnt)) } else { None };
        let _ = run("sync", &[]);
        let _ = run("umount", &[&m]);
        if let Some(r) = r {
            r?;
            return Ok(format!("NoCloud seed in the root filesystem on {dev}"));
        }
    }
    Err(err(format!(
        "the image on /dev/{disk} has no '{}' partition and no root filesystem this environment can mount \
         ({} partitions seen): the first-boot configuration cannot be written",
        deploy::CIDATA_LABEL,
        parts.len()
    )))
}

/// Deploys: the installation document, then a disk image written to the
/// boot disk with a first-boot seed, or a root image installed onto the
/// storage layout (`crate::installer`). The caller signals and reboots.
pub async fn install(md: &MetadataClient, inv: &Inventory, webhook: Option<String>) -> Result<InstallReport> {
    let started = Instant::now();
    let cfg = md.curtin_config().await?;
    let packing = deploy::packing(&cfg.ironpool.image.filetype)
        .ok_or_else(|| err(format!("'{}' is not a deployable image file type", cfg.ironpool.image.filetype)))?;
    if packing.is_root() {
        let ds = crate::installer::Datasource {
            metadata_url: md.metadata_url().to_string(),
            webhook,
            credentials: md.credentials().clone(),
        };
        let mut log = crate::installer::Log::default();
        let r = crate::installer::install_root(md, inv, &cfg, packing, &ds, &mut log).await;
        return Ok(InstallReport { log: Some(log.text().to_string()), outcome: r.map(|r| r.summary) });
    }
    let plan = cfg.ironpool;
    let disk = pick_disk(inv, plan.boot_disk.as_ref())?.id.clone();
    let target = PathBuf::from(format!("/dev/{disk}"));
    println!("ironpool-agent: writing {} ({}) to {}", plan.image.name, plan.image.filetype, target.display());
    let (downloaded, written) = match write_image(md, &plan, &target).await {
        Ok(v) => v,
        Err(e) => {
            crate::image::spoil(&target);
            return Err(e);
        }
    };
    let seed = Seed {
        instance_id: plan.system_id.clone(),
        hostname: plan.hostname.clone(),
        public_keys: md
            .meta_data("public-keys")
            .await?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(String::from)
            .collect(),
        user_data: md.user_data().await?,
        webhook: webhook.map(|w| (w, md.credentials().clone())),
    };
    let where_ = install_seed(&disk, &seed)?;
    let summary = format!(
        "{downloaded} bytes downloaded, {written} written to /dev/{disk} in {:.1} s; {where_}",
        started.elapsed().as_secs_f64()
    );
    Ok(InstallReport { log: None, outcome: Ok(summary) })
}

/// How much of each disk an erase overwrites at both ends in quick mode
/// (partition tables, RAID and LVM superblocks live there).
const QUICK_BYTES: u64 = 2 << 20;

/// Erases `path` of `size` bytes: `quick` zeroes both ends, `full` all of
/// it, `secure` asks the device (blkdiscard --secure) and falls back to a
/// full erase when it cannot, as MAAS's wipe-disks does.
pub fn erase(path: &Path, size: u64, mode: &str) -> Result<String> {
    if mode == "secure" {
        if run("blkdiscard", &["-s", &path.to_string_lossy()]).is_ok() {
            return Ok(format!("{}: secure erase", path.display()));
        }
        return erase(path, size, "full").map(|s| format!("{s} (secure erase unsupported)"));
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| err(format!("cannot open {} to erase it: {e}", path.display())))?;
    let zeros = vec![0u8; 4 << 20];
    let mut zero = |from: u64, len: u64| -> Result<()> {
        f.seek(SeekFrom::Start(from)).map_err(|e| err(format!("cannot seek {}: {e}", path.display())))?;
        let mut left = len;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            f.write_all(&zeros[..n]).map_err(|e| err(format!("cannot erase {}: {e}", path.display())))?;
            left -= n as u64;
        }
        Ok(())
    };
    if mode == "quick" {
        let n = QUICK_BYTES.min(size);
        zero(0, n)?;
        zero(size.saturating_sub(n), n)?;
    } else {
        zero(0, size)?;
    }
    f.sync_all().map_err(|e| err(format!("cannot flush {}: {e}", path.display())))?;
    Ok(format!("{}: {mode} erase of {size} bytes", path.display()))
}

/// Erases every disk of the inventory.
pub fn erase_all(inv: &Inventory, mode: &str) -> Result<Vec<String>> {
    inv.resources.storage.disks.iter().map(|d| erase(&PathBuf::from(format!("/dev/{}", d.id)), d.size, mode)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn image() -> Vec<u8> {
        (0..3_000_000u32).map(|i| (i % 251) as u8).collect()
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn tar_of(data: &[u8]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "disk.img", data).unwrap();
        b.into_inner().unwrap()
    }

    fn unpacked(input: Vec<u8>, filetype: &str) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        unpack(Cursor::new(input), deploy::packing(filetype).unwrap(), &mut out)?;
        Ok(out)
    }

    #[test]
    fn unpacks_every_disk_packing() {
        let img = image();
        assert_eq!(unpacked(img.clone(), "root-dd.raw").unwrap(), img);
        assert_eq!(unpacked(gz(&img), "root-dd.gz").unwrap(), img);
        assert_eq!(unpacked(tar_of(&img), "root-dd.tar").unwrap(), img);
        assert_eq!(unpacked(gz(&tar_of(&img)), "root-dd").unwrap(), img);
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut Cursor::new(&img), &mut xz).unwrap();
        assert_eq!(unpacked(xz, "root-dd.xz").unwrap(), img);
    }

    #[test]
    fn corrupt_or_unsupported_images_are_errors() {
        let img = image();
        let mut bad = gz(&img);
        bad.truncate(bad.len() / 2);
        assert!(unpacked(bad, "root-dd.gz").is_err());
        assert!(unpacked(img.clone(), "root-dd.xz").is_err());
        let e = unpacked(img, "root-tgz").unwrap_err().to_string();
        assert!(e.contains("disk image"), "{e}");
    }

    #[test]
    fn seeds() {
        let creds = Credentials { consumer_key: "ck".into(), token_key: "tk".into(), token_secret: "ts".into() };
        let seed = Seed {
            instance_id: "abc123".into(),
            hostname: "node-1.maas".into(),
            public_keys: vec!["ssh-ed25519 AAAA k1".into(), "ssh-rsa BBBB k2".into()],
            user_data: Some(b"#!/bin/sh\necho hi\n".to_vec()),
            webhook: Some(("http://r/MAAS/metadata/status/abc123".into(), creds)),
        };
        let d = tempfile::tempdir().unwrap();
        seed.write_cidata(d.path()).unwrap();
        let md = std::fs::read_to_string(d.path().join("meta-data")).unwrap();
        assert_eq!(
            md,
            "instance-id: abc123\nlocal-hostname: node-1.maas\npublic-keys:\n  - ssh-ed25519 AAAA k1\n  - ssh-rsa BBBB k2\n"
        );
        assert_eq!(std::fs::read(d.path().join("user-data")).unwrap(), b"#!/bin/sh\necho hi\n");
        let rep = std::fs::read_to_string(d.path().join("reporting.cfg")).unwrap();
        assert!(
            rep.contains("endpoint: \"http://r/MAAS/metadata/status/abc123\"") && rep.contains("token_secret: \"ts\"")
        );

        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        seed.write_rootfs(root.path()).unwrap();
        assert!(std::fs::read_to_string(root.path().join("var/lib/cloud/seed/nocloud-net/meta-data"))
            .unwrap()
            .contains("local-hostname: node-1.maas"));
        let cfg = std::fs::read_to_string(root.path().join("etc/cloud/cloud.cfg.d/90_ironpool.cfg")).unwrap();
        assert!(cfg.starts_with("datasource_list: [ NoCloud, None ]") && cfg.contains("type: webhook"), "{cfg}");
        assert_eq!(std::fs::read_to_string(root.path().join("etc/hostname")).unwrap(), "node-1\n");
    }

    #[test]
    fn volume_labels() {
        let mut fat16 = vec![0u8; 0x8800];
        fat16[0x2b..0x36].copy_from_slice(b"cidata     ");
        fat16[0x36..0x3e].copy_from_slice(b"FAT16   ");
        fat16[510] = 0x55;
        fat16[511] = 0xaa;
        assert_eq!(label_of(&fat16).as_deref(), Some("cidata"));
        let mut fat32 = vec![0u8; 1024];
        fat32[0x47..0x52].copy_from_slice(b"CIDATA     ");
        fat32[0x52..0x5a].copy_from_slice(b"FAT32   ");
        fat32[510] = 0x55;
        fat32[511] = 0xaa;
        assert_eq!(label_of(&fat32).as_deref(), Some("CIDATA"));
        let mut iso = vec![0u8; 0x8800];
        iso[0x8001..0x8006].copy_from_slice(b"CD001");
        iso[0x8028..0x8048].copy_from_slice(b"cidata                          ");
        assert_eq!(label_of(&iso).as_deref(), Some("cidata"));
        let mut unlabelled = fat16.clone();
        unlabelled[0x2b..0x36].copy_from_slice(b"NO NAME    ");
        assert_eq!(label_of(&unlabelled), None);
        assert_eq!(label_of(&vec![0u8; 4096]), None);
        // A real one when mkfs.vfat is here (the test image is made with it).
        let d = tempfile::tempdir().unwrap();
        let img = d.path().join("p.img");
        std::fs::File::create(&img).unwrap().set_len(4 << 20).unwrap();
        let made = Command::new("mkfs.vfat").args(["-F", "12", "-n", "cidata"]).arg(&img).output();
        if made.is_ok_and(|o| o.status.success()) {
            assert_eq!(volume_label(&img).as_deref(), Some("cidata"));
        }
    }

    #[test]
    fn erases_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("disk");
        let size = 8u64 << 20;
        std::fs::write(&p, vec![0xaau8; size as usize]).unwrap();
        erase(&p, size, "quick").unwrap();
        let b = std::fs::read(&p).unwrap();
        assert!(b[..QUICK_BYTES as usize].iter().all(|&x| x == 0));
        assert!(b[(size - QUICK_BYTES) as usize..].iter().all(|&x| x == 0));
        assert!(b[QUICK_BYTES as usize..(size - QUICK_BYTES) as usize].iter().all(|&x| x == 0xaa));
        erase(&p, size, "full").unwrap();
        assert!(std::fs::read(&p).unwrap().iter().all(|&x| x == 0));
        // A file cannot be discarded securely: a full erase, and it says so.
        std::fs::write(&p, vec![0x55u8; size as usize]).unwrap();
        let said = erase(&p, size, "secure").unwrap();
        assert!(said.contains("secure erase unsupported"), "{said}");
        assert!(std::fs::read(&p).unwrap().iter().all(|&x| x == 0));
    }

    #[test]
    fn picks_the_hinted_disk() {
        let mut inv = Inventory::default();
        let disk = |id: &str, serial: &str, size| Disk {
            id: id.into(),
            serial: serial.into(),
            size,
            ..serde_json::from_value(serde_json::json!({"id": "x", "size": 1})).unwrap()
        };
        inv.resources.storage.disks = vec![disk("vda", "S1", 10), disk("vdb", "S2", 20)];
        let hint = |name: &str, serial: &str, size| DiskHint { name: name.into(), serial: serial.into(), size };
        assert_eq!(pick_disk(&inv, Some(&hint("sdz", "S2", 1))).unwrap().id, "vdb");
        assert_eq!(pick_disk(&inv, Some(&hint("vdb", "", 20))).unwrap().id, "vdb");
        assert_eq!(pick_disk(&inv, None).unwrap().id, "vda");
        inv.resources.storage.disks.clear();
        assert!(pick_disk(&inv, None).is_err());
    }
}
