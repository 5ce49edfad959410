//! The installer's contract: what the region tells the ephemeral agent to
//! write at deploy time (`/MAAS/metadata/curtin/latest/user-data`), and the
//! names the deployed OS finds its first-boot configuration under.
//!
//! MAAS hands curtin a YAML config whose `sources` name the image. Ours is a
//! JSON document (JSON is YAML, so curtin-minded tools still read it) with
//! the same `sources` plus an `ironpool` block the agent acts on.

use serde::{Deserialize, Serialize};

/// The whole document served to a deploying machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurtinConfig {
    /// curtin's shape: `{"00": {"type": "dd-gz", "uri": "…"}}`.
    pub sources: std::collections::BTreeMap<String, CurtinSource>,
    /// curtin's (and cloud-init's) `apt` section: the Ubuntu archive and the
    /// enabled package repositories (`package-repositories/`). Older
    /// regions sent none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apt: Option<AptConfig>,
    /// curtin's storage configuration (`{"version": 1, "config": [...]}`)
    /// rendered from the machine's storage model: what to partition,
    /// assemble, format and mount. Older regions sent none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<serde_json::Value>,
    /// cloud-init's network configuration (version 1) rendered from the
    /// machine's interfaces, links and routes. Older regions sent none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<serde_json::Value>,
    pub ironpool: DeployPlan,
}

/// MAAS's `apt` configuration (compose_preseed's `get_archive_config`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AptConfig {
    pub preserve_sources_list: bool,
    /// The archive's lines: deb822 for Ubuntu 24.04 and later, one-line
    /// `deb` entries before (`$RELEASE` is cloud-init's placeholder).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sources_list: String,
    /// Extra sources by file name: `{source, key}` (the archive's own key
    /// is `archive_key`, with no source).
    #[serde(default)]
    pub sources: std::collections::BTreeMap<String, AptSource>,
    /// The HTTP proxy apt uses (`http_proxy` when `enable_http_proxy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AptSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurtinSource {
    #[serde(rename = "type")]
    pub kind: String,
    pub uri: String,
}

/// What to write where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployPlan {
    pub system_id: String,
    /// The FQDN the deployed OS takes.
    pub hostname: String,
    pub image: DeployImage,
    /// The disk the region chose as boot disk (matched by serial, then by
    /// kernel name, then size); `None` means the first disk.
    #[serde(default)]
    pub boot_disk: Option<DiskHint>,
    /// `deploy ephemeral_deploy=true`: nothing is written to a disk; the
    /// deployment runs in the network-booted environment (MAAS 3.5).
    #[serde(default)]
    pub ephemeral_deploy: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployImage {
    /// `custom/e2e`, `ubuntu/noble`.
    pub name: String,
    /// The stored filetype: `root-dd.gz`, `root-dd.raw`, `root-dd.xz`,
    /// `root-dd` (a gzipped tar holding one raw image, MAAS's `ddtgz`), …
    pub filetype: String,
    /// Absolute URL (normally the rack's `/images/{sha256}`).
    pub url: String,
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskHint {
    pub name: String,
    #[serde(default)]
    pub serial: String,
    pub size: u64,
}

/// The NoCloud label cloud-init looks for; a deployable image may carry an
/// empty FAT partition with it, which the agent fills.
pub const CIDATA_LABEL: &str = "cidata";
/// Files written into the seed (NoCloud names, plus the status webhook
/// settings in cloud.cfg.d format).
pub const SEED_META_DATA: &str = "meta-data";
pub const SEED_USER_DATA: &str = "user-data";
pub const SEED_REPORTING: &str = "reporting.cfg";

/// How an image file is packed, from its stored filetype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packing {
    /// A disk image, compressed with `compression`, optionally inside a tar.
    Disk { compression: Compression, tar: bool },
    /// A root filesystem tarball (MAAS's `tgz`, `tbz`, `txz`): extracted
    /// into the filesystems the storage model builds, then given a
    /// bootloader from inside the image.
    RootTar { compression: Compression },
    /// A squashfs root filesystem (how MAAS publishes Ubuntu): unpacked
    /// like a root tarball.
    Squashfs,
}

impl Packing {
    /// A root filesystem (not a disk image): the installer partitions,
    /// extracts and installs a bootloader.
    pub fn is_root(&self) -> bool {
        matches!(self, Packing::RootTar { .. } | Packing::Squashfs)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Xz,
    Bzip2,
}

/// The packing of a stored filetype (`root-dd.gz` …), `None` for boot
/// files that are not deployable (`boot-kernel`).
pub fn packing(filetype: &str) -> Option<Packing> {
    use Compression::*;
    let disk = |compression, tar| Some(Packing::Disk { compression, tar });
    match filetype {
        // MAAS stores an uploaded `ddtgz` as `root-dd`: a gzipped tar.
        "root-dd" | "root-dd.tar.gz" => disk(Gzip, true),
        "root-dd.tar" => disk(None, true),
        "root-dd.tar.xz" => disk(Xz, true),
        "root-dd.tar.bz2" => disk(Bzip2, true),
        "root-dd.raw" => disk(None, false),
        "root-dd.gz" => disk(Gzip, false),
        "root-dd.xz" => disk(Xz, false),
        "root-dd.bz2" => disk(Bzip2, false),
        "root-tgz" => Some(Packing::RootTar { compression: Gzip }),
        "root-tbz" => Some(Packing::RootTar { compression: Bzip2 }),
        "root-txz" => Some(Packing::RootTar { compression: Xz }),
        "squashfs" => Some(Packing::Squashfs),
        _ => Option::None,
    }
}

/// curtin's source type for a stored filetype.
pub fn curtin_type(filetype: &str) -> &'static str {
    match filetype {
        "root-dd.tar" => "dd-tar",
        "root-dd" | "root-dd.tar.gz" => "dd-tgz",
        "root-dd.tar.xz" => "dd-txz",
        "root-dd.tar.bz2" => "dd-tbz",
        "root-dd.raw" => "dd-raw",
        "root-dd.gz" => "dd-gz",
        "root-dd.xz" => "dd-xz",
        "root-dd.bz2" => "dd-bz2",
        "root-tbz" => "tbz",
        "root-txz" => "txz",
        // curtin's name for a filesystem image it mounts and copies.
        "squashfs" => "fsimage",
        _ => "tgz",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packings() {
        assert_eq!(packing("root-dd.gz"), Some(Packing::Disk { compression: Compression::Gzip, tar: false }));
        assert_eq!(packing("root-dd.tar.xz"), Some(Packing::Disk { compression: Compression::Xz, tar: true }));
        assert_eq!(packing("root-tgz"), Some(Packing::RootTar { compression: Compression::Gzip }));
        assert_eq!(packing("root-txz"), Some(Packing::RootTar { compression: Compression::Xz }));
        assert_eq!(packing("squashfs"), Some(Packing::Squashfs));
        assert!(packing("squashfs").unwrap().is_root() && !packing("root-dd.gz").unwrap().is_root());
        assert_eq!(curtin_type("squashfs"), "fsimage");
        assert_eq!(packing("boot-kernel"), None);
        assert_eq!(curtin_type("root-dd.raw"), "dd-raw");
    }
}
