//! Ephemeral deployment (MAAS 3.5's `ephemeral_deploy`): the deployed image
//! runs from memory and no disk is touched.
//!
//! The agent, in the network-booted environment, reads the same
//! installation document a disk install reads (image, hostname, network,
//! apt), then builds the new root in RAM:
//!
//! - a **squashfs** is downloaded (size and SHA-256 checked) into a tmpfs,
//!   loop-mounted read-only and overlaid with a tmpfs for writes, as live
//!   systems and MAAS's own ephemeral Ubuntu do;
//! - a **root tarball** is unpacked into a tmpfs as it streams.
//!
//! It then writes what the installer's curthooks write (hostname, an fstab
//! with nothing to mount, cloud-init's network configuration and the MAAS
//! datasource with the node's token and status webhook, apt) and leaves
//! the switch to `/init`, which is PID 1: it moves `/dev`, `/proc` and
//! `/sys` into [`NEW_ROOT`] and `switch_root`s into the image's own init.
//! From there the image's cloud-init does the first boot against the
//! region (user data, keys, `modules-final`, which marks it Deployed), as
//! an installed system would. Network boot stays on: a power cycle boots
//! this again from the image.
//!
//! Disk images (`dd*`) cannot run from memory; the deployment fails saying
//! so before anything is downloaded.

use std::path::Path;

use ironpool_common::deploy::{self, CurtinConfig, Packing};

use crate::client::{AgentError, MetadataClient, Result};
use crate::install_plan::Step;
use crate::installer::{self, cmd, run_all, Datasource, Log};

/// Where the image's root is assembled; `/init` switches to it.
pub const NEW_ROOT: &str = "/newroot";
/// The tmpfs that holds the squashfs and the overlay's writable layer.
const RAM: &str = "/run/ironpool-ram";

fn err(msg: impl Into<String>) -> AgentError {
    AgentError::Protocol(msg.into())
}

/// How the document's image is packed, or why it cannot run from memory.
pub fn runnable(cfg: &CurtinConfig) -> std::result::Result<Packing, String> {
    let image = &cfg.ironpool.image;
    match deploy::packing(&image.filetype) {
        Some(p) if p.is_root() => Ok(p),
        Some(_) => Err(format!(
            "{} is a disk image ({}): an ephemeral deployment runs a root filesystem image \
             (squashfs or a root tarball) from memory, and a disk image can only be written to a disk",
            image.name, image.filetype
        )),
        None => Err(format!("'{}' is not a deployable image file type", image.filetype)),
    }
}

/// The commands that assemble the root for `packing` before the download
/// (the squashfs's overlay comes after it).
fn mount_steps(packing: Packing) -> Vec<Step> {
    let mut steps = vec![cmd(&["mkdir", "-p", RAM, NEW_ROOT])];
    match packing {
        // The image file and the writes made while it runs share one tmpfs.
        Packing::Squashfs => {
            // Loaded up front: without udev nothing makes /dev/loop-control
            // appear on demand.
            steps.push(cmd(&["modprobe", "-a", "loop", "squashfs", "overlay"]));
            steps.push(cmd(&["mount", "-t", "tmpfs", "-o", "mode=0755,size=90%", "ironpool-ram", RAM]));
            for d in ["lower", "upper", "work"] {
                steps.push(cmd(&["mkdir", "-p", &format!("{RAM}/{d}")]));
            }
        }
        _ => steps.push(cmd(&["mount", "-t", "tmpfs", "-o", "mode=0755,size=90%", "ironpool-root", NEW_ROOT])),
    }
    steps
}

fn overlay_steps() -> Vec<Step> {
    let file = format!("{RAM}/root.squashfs");
    vec![
        cmd(&["mount", "-t", "squashfs", "-o", "loop,ro", &file, &format!("{RAM}/lower")]),
        cmd(&[
            "mount",
            "-t",
            "overlay",
            "-o",
            &format!("lowerdir={RAM}/lower,upperdir={RAM}/upper,workdir={RAM}/work"),
            "ironpool-root",
            NEW_ROOT,
        ]),
    ]
}

/// Builds the image's root in memory and configures it; the agent's
/// binary then tells `/init` to switch to it. Returns the one-line summary.
pub async fn prepare(md: &MetadataClient, ds: &Datasource, log: &mut Log) -> Result<String> {
    let started = std::time::Instant::now();
    let cfg = md.curtin_config().await?;
    let packing = runnable(&cfg).map_err(err)?;
    let image = cfg.ironpool.image.clone();
    log.note(format!("running {} ({}, {} bytes) from memory at {NEW_ROOT}", image.name, image.filetype, image.size));
    run_all(mount_steps(packing), log).await?;
    let got = match packing {
        Packing::RootTar { compression } => installer::unpack_root_tar(md, &image, compression, NEW_ROOT, log).await?,
        _ => {
            let got = installer::spool(md, &image, format!("{RAM}/root.squashfs").into()).await?;
            run_all(overlay_steps(), log).await?;
            got
        }
    };
    // `sbin/init` is usually a symlink to an absolute path, which means
    // something only inside the new root: its presence is what counts.
    let has = |p: &str| std::fs::symlink_metadata(Path::new(NEW_ROOT).join(p)).is_ok();
    if !["sbin/init", "usr/sbin/init", "lib/systemd/systemd", "usr/lib/systemd/systemd"].iter().any(|p| has(p)) {
        return Err(err(format!("the image {} has no /sbin/init: it is not a bootable root filesystem", image.name)));
    }
    let fstab = "# Ironpool ephemeral deployment: the root is in memory; no disk is mounted.\n";
    let wrote = installer::write_config(Path::new(NEW_ROOT), &cfg, fstab, ds)?;
    log.note(format!("wrote {}", wrote.join(", ")));
    // The running kernel is the environment's: the image's modules must be
    // for it, or what udev loads later (bonding, filesystems) is missing.
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let release = release.trim();
    if !release.is_empty() && !Path::new(NEW_ROOT).join("lib/modules").join(release).exists() {
        log.note(format!(
            "warning: the image has no modules for the running kernel {release}; only the drivers already \
             loaded are available"
        ));
    }
    Ok(format!(
        "{} ({got} bytes) ready in memory in {:.1} s; switching to it",
        image.name,
        started.elapsed().as_secs_f64()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironpool_common::deploy::{DeployImage, DeployPlan};

    fn doc(filetype: &str) -> CurtinConfig {
        CurtinConfig {
            sources: Default::default(),
            apt: None,
            storage: None,
            network: None,
            ironpool: DeployPlan {
                system_id: "abc123".into(),
                hostname: "node1.maas".into(),
                image: DeployImage {
                    name: "debian/bookworm".into(),
                    filetype: filetype.into(),
                    url: "http://r/images/x".into(),
                    sha256: "00".into(),
                    size: 1,
                },
                boot_disk: None,
                ephemeral_deploy: true,
            },
        }
    }

    #[test]
    fn only_root_images_run_from_memory() {
        assert_eq!(runnable(&doc("squashfs")), Ok(Packing::Squashfs));
        assert!(matches!(runnable(&doc("root-tgz")), Ok(Packing::RootTar { .. })));
        let why = runnable(&doc("root-dd.gz")).unwrap_err();
        assert!(why.contains("disk image (root-dd.gz)") && why.contains("from memory"), "{why}");
        assert!(runnable(&doc("qcow2")).unwrap_err().contains("not a deployable"));
    }

    #[test]
    fn a_squashfs_is_overlaid_and_a_tarball_gets_its_own_tmpfs() {
        let argv = |s: Vec<Step>| s.iter().map(|s| s.argv.join(" ")).collect::<Vec<_>>();
        let sq = argv(mount_steps(Packing::Squashfs));
        assert!(sq.iter().any(|c| c.starts_with("mount -t tmpfs") && c.ends_with(RAM)), "{sq:?}");
        assert!(!sq.iter().any(|c| c.ends_with(NEW_ROOT) && c.starts_with("mount")), "{sq:?}");
        let ov = argv(overlay_steps());
        assert!(ov[1].contains("lowerdir=/run/ironpool-ram/lower") && ov[1].ends_with(NEW_ROOT), "{ov:?}");
        let tar = argv(mount_steps(Packing::RootTar { compression: deploy::Compression::Gzip }));
        assert!(tar.last().unwrap().starts_with("mount -t tmpfs") && tar.last().unwrap().ends_with(NEW_ROOT));
    }
}
