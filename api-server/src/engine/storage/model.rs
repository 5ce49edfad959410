//! The storage model: MAAS's sizes and constants, value parsing, and [`Storage`], every derived value (free space, partition numbers, `used_for`) computed from one node's rows. The bottom of `storage/`.

use crate::db;
use crate::db::nodes::Node;
use crate::db::storage::NewFilesystem;
use crate::db::storage::{BlockDevice, Filesystem, NodeStorage, Partition, VolumeGroup};
use crate::error::{Error, Result};

pub const MIB: i64 = 1024 * 1024;

pub const GIB: i64 = 1024 * MIB;

/// Partitions start and end on 4 MiB boundaries.
pub const PARTITION_ALIGNMENT_SIZE: i64 = 4 * MIB;

/// Space a partition table takes: 4 MiB before the first partition, 1 MiB at the end.
pub const PARTITION_TABLE_EXTRA_SPACE: i64 = 5 * MIB;

/// The PReP partition a ppc64el boot disk needs.
pub const PREP_PARTITION_SIZE: i64 = 8 * MIB;

/// The bios_grub partition of a BIOS-booted amd64 boot disk of 2 TiB or more.
pub const BIOS_GRUB_PARTITION_SIZE: i64 = MIB;

/// Disks this large need GPT.
pub const GPT_REQUIRED_SIZE: i64 = 2 * 1024 * GIB;

pub const MIN_BLOCK_DEVICE_SIZE: i64 = 4 * MIB;

/// 1 EiB: far beyond any disk, and small enough that sums of sizes never overflow.
pub const MAX_BLOCK_DEVICE_SIZE: i64 = 1 << 60;

pub const MIN_PARTITION_SIZE: i64 = MIN_BLOCK_DEVICE_SIZE;

pub const EFI_PARTITION_SIZE: i64 = 512 * MIB;

pub const MIN_BOOT_PARTITION_SIZE: i64 = 512 * MIB;

pub const MIN_ROOT_PARTITION_SIZE: i64 = 3 * GIB;

/// LVM physical extent size.
pub const LVM_PE_SIZE: i64 = 4 * MIB;

/// Filesystems a user may put on a block device or partition.
pub const FORMAT_FSTYPES: &[&str] = &["ext2", "ext4", "xfs", "fat32", "vfat", "btrfs", "zfsroot", "swap"];

/// Layout names MAAS knows; only flat, lvm and blank are implemented.
pub const LAYOUTS: &[&str] = &["flat", "lvm", "bcache", "blank", "custom", "vmfs6", "vmfs7"];

/// Layouts Ironpool applies.
pub const SUPPORTED_LAYOUTS: &[&str] = &["flat", "lvm", "bcache", "blank"];

pub const PHYSICAL: &str = "physical";

pub const VIRTUAL: &str = "virtual";

pub const LVM_PV: &str = "lvm-pv";

/// Filesystem types that make a device or partition a member of a group.
pub const RAID_ACTIVE: &str = "raid";

pub const RAID_SPARE: &str = "raid-spare";

pub const BCACHE_BACKING: &str = "bcache-backing";

pub const BCACHE_CACHE: &str = "bcache-cache";

/// Group types (`volume_groups.group_type`) besides the RAID levels.
pub const LVM_VG: &str = "lvm-vg";

pub const BCACHE: &str = "bcache";

pub const CACHE_SET: &str = "cache-set";

pub(crate) fn round_down(size: i64, block: i64) -> i64 {
    size.div_euclid(block) * block
}

pub(crate) fn round_up(size: i64, block: i64) -> i64 {
    (size + block - 1).div_euclid(block) * block
}

/// A random (version 4) UUID.
pub fn new_uuid() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// Checks a caller-supplied UUID (`field` names it in the error).
pub fn check_uuid(field: &str, v: &str) -> Result<String> {
    let v = v.trim().to_ascii_lowercase();
    let ok = v.len() == 36
        && v.char_indices()
            .all(|(i, ch)| if [8, 13, 18, 23].contains(&i) { ch == '-' } else { ch.is_ascii_hexdigit() });
    if ok {
        Ok(v)
    } else {
        Err(Error::field(field, "Enter a valid UUID."))
    }
}

/// A size as MAAS takes it: bytes, or a number with a K, M, G, T, P or E
/// suffix (powers of 1000, an optional trailing `B`).
pub fn parse_size(field: &str, v: &str) -> Result<i64> {
    let t = v.trim();
    let bad = || Error::field(field, format!("Invalid size '{t}': use bytes or a K, M, G, T suffix."));
    let body = t.strip_suffix(['B', 'b']).filter(|b| b.ends_with(|c: char| c.is_ascii_alphabetic())).unwrap_or(t);
    let (num, mult) = match body.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&body[..body.len() - 1], 1e3),
        Some('M') => (&body[..body.len() - 1], 1e6),
        Some('G') => (&body[..body.len() - 1], 1e9),
        Some('T') => (&body[..body.len() - 1], 1e12),
        Some('P') => (&body[..body.len() - 1], 1e15),
        Some('E') => (&body[..body.len() - 1], 1e18),
        _ => (body, 1.0),
    };
    let n: f64 = num.trim().parse().map_err(|_| bad())?;
    let bytes = n * mult;
    if !bytes.is_finite() || bytes < 0.0 {
        return Err(bad());
    }
    // No size may exceed the largest block device: an `i64::MAX` partition or
    // volume would overflow the free-space arithmetic that adds sizes up.
    if bytes > MAX_BLOCK_DEVICE_SIZE as f64 {
        return Err(Error::field(
            field,
            format!("Ensure this value is less than or equal to {MAX_BLOCK_DEVICE_SIZE}."),
        ));
    }
    Ok(bytes as i64)
}

/// A layout size: bytes (with suffixes) or a percentage of a disk.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SizeSpec {
    Bytes(i64),
    Percent(f64),
}

impl SizeSpec {
    pub fn parse(field: &str, v: &str) -> Result<SizeSpec> {
        match v.trim().strip_suffix('%') {
            Some(p) => {
                let p: f64 = p.trim().parse().map_err(|_| Error::field(field, format!("Invalid percentage '{v}'.")))?;
                if !(0.0..=100.0).contains(&p) {
                    return Err(Error::field(field, format!("Invalid percentage '{v}'.")));
                }
                Ok(SizeSpec::Percent(p))
            }
            None => parse_size(field, v).map(SizeSpec::Bytes),
        }
    }

    pub(crate) fn of(self, whole: i64) -> i64 {
        match self {
            SizeSpec::Bytes(b) => b,
            SizeSpec::Percent(p) => (whole as f64 * p / 100.0) as i64,
        }
    }
}

/// MAAS's human-readable sizes: `10.0 GB` (powers of 1000).
pub fn human_size(bytes: i64) -> String {
    let mut n = bytes as f64;
    for unit in ["bytes", "KB", "MB", "GB", "TB", "PB"] {
        if n.abs() < 1000.0 || unit == "PB" {
            return if unit == "bytes" { format!("{n:.0} {unit}") } else { format!("{n:.1} {unit}") };
        }
        n /= 1000.0;
    }
    unreachable!("the loop returns at PB")
}

pub(crate) fn parse_tags(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

/// What a filesystem sits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Device(i64),
    Partition(i64),
}

impl Target {
    /// A layout's filesystem on this device or partition: formatted and
    /// mounted, with a fresh UUID, not one the owner made (`acquired`).
    pub fn layout_filesystem(self, node_id: i64, fstype: &str, label: &str, mount_point: &str) -> NewFilesystem {
        let (block_device_id, partition_id) = self.columns();
        NewFilesystem {
            node_id,
            block_device_id,
            partition_id,
            fstype: fstype.into(),
            uuid: new_uuid(),
            label: Some(label.into()),
            mount_point: Some(mount_point.into()),
            mount_options: None,
            volume_group_id: None,
            created_at: db::now(),
            acquired: false,
        }
    }

    /// The (block_device_id, partition_id) pair a filesystem row stores.
    pub fn columns(self) -> (Option<i64>, Option<i64>) {
        match self {
            Target::Device(id) => (Some(id), None),
            Target::Partition(id) => (None, Some(id)),
        }
    }
}

/// A device or partition of a volume group (its physical volumes).
#[derive(Debug, Clone, Copy)]
pub enum Member<'a> {
    Device(&'a BlockDevice),
    Partition(&'a Partition),
}

/// One node's storage with MAAS's derived values.
#[derive(Debug, Clone, Copy)]
pub struct Storage<'a> {
    pub node: &'a Node,
    pub st: &'a NodeStorage,
}

impl<'a> Storage<'a> {
    pub fn new(node: &'a Node, st: &'a NodeStorage) -> Storage<'a> {
        Storage { node, st }
    }

    /// Every filesystem group (volume groups, RAIDs, bcaches, cache sets),
    /// in id order.
    pub fn all_groups(&self) -> &'a [VolumeGroup] {
        &self.st.volume_groups
    }

    /// Every filesystem, in id order.
    pub fn all_filesystems(&self) -> &'a [Filesystem] {
        &self.st.filesystems
    }

    pub fn device(&self, id: i64) -> Option<&'a BlockDevice> {
        self.st.devices.iter().find(|d| d.id == id)
    }

    pub fn partition(&self, id: i64) -> Option<&'a Partition> {
        self.st.partitions.iter().find(|p| p.id == id)
    }

    /// An LVM volume group.
    pub fn volume_group(&self, id: i64) -> Option<&'a VolumeGroup> {
        self.group(id).filter(|g| g.group_type == LVM_VG)
    }

    /// Any filesystem group: volume group, RAID, bcache or cache set.
    pub fn group(&self, id: i64) -> Option<&'a VolumeGroup> {
        self.st.volume_groups.iter().find(|v| v.id == id)
    }

    /// The groups of one type (`lvm-vg`, `bcache`, `cache-set`; `raid` for every RAID level).
    pub fn groups_of_type(&self, kind: &'static str) -> impl Iterator<Item = &'a VolumeGroup> {
        self.st.volume_groups.iter().filter(move |g| {
            if kind == "raid" {
                g.group_type.starts_with("raid-")
            } else {
                g.group_type == kind
            }
        })
    }

    /// The virtual block device of a RAID or bcache.
    pub fn group_device(&self, g: &VolumeGroup) -> Option<&'a BlockDevice> {
        self.st.devices.iter().find(|d| d.volume_group_id == Some(g.id))
    }

    /// The group whose virtual device `d` is (a logical volume's volume group,
    /// a RAID, a bcache).
    pub fn group_of_device(&self, d: &BlockDevice) -> Option<&'a VolumeGroup> {
        d.volume_group_id.and_then(|id| self.group(id))
    }

    /// The size of a member.
    pub fn member_size(&self, m: Member<'_>) -> i64 {
        match m {
            Member::Device(d) => d.size,
            Member::Partition(p) => p.size,
        }
    }

    pub fn physical(&self) -> impl Iterator<Item = &'a BlockDevice> {
        self.st.devices.iter().filter(|d| d.dev_type == PHYSICAL)
    }

    pub fn virtual_devices(&self) -> impl Iterator<Item = &'a BlockDevice> {
        self.st.devices.iter().filter(|d| d.dev_type != PHYSICAL)
    }

    /// The chosen boot disk, else the first physical disk.
    pub fn boot_disk(&self) -> Option<&'a BlockDevice> {
        self.physical().find(|d| d.is_boot_disk).or_else(|| self.physical().next())
    }

    fn is_boot_disk(&self, d: &BlockDevice) -> bool {
        self.boot_disk().is_some_and(|b| b.id == d.id)
    }

    pub fn arch(&self) -> &'a str {
        self.node.architecture.as_deref().unwrap_or("").split('/').next().unwrap_or("")
    }

    /// UEFI firmware (arm64 machines always boot UEFI).
    pub fn uefi(&self) -> bool {
        self.node.bios_boot_method.as_deref() == Some("uefi") || self.arch() == "arm64"
    }

    pub fn device_tags(&self, d: &BlockDevice) -> Vec<String> {
        parse_tags(&d.tags)
    }

    pub fn partitions_of(&self, device_id: i64) -> impl Iterator<Item = &'a Partition> {
        self.st.partitions.iter().filter(move |p| p.block_device_id == device_id)
    }

    pub fn filesystem(&self, t: Target) -> Option<&'a Filesystem> {
        self.st.filesystems.iter().find(|f| match t {
            Target::Device(id) => f.block_device_id == Some(id),
            Target::Partition(id) => f.partition_id == Some(id),
        })
    }

    /// The table type a new partition table on `d` gets: GPT, except MBR on
    /// the boot disk of a BIOS-booted machine when the disk is under 2 TiB.
    pub fn new_table_type(&self, d: &BlockDevice) -> &'static str {
        if self.is_boot_disk(d) && !self.uefi() && self.arch() != "ppc64el" && d.size < GPT_REQUIRED_SIZE {
            "MBR"
        } else {
            "GPT"
        }
    }

    /// The partition numbering of GPT boot disks that carry a PReP or
    /// bios_grub partition starts at 2.
    pub fn reserved_first(&self, d: &BlockDevice) -> bool {
        d.partition_table_type.as_deref() == Some("GPT")
            && self.is_boot_disk(d)
            && (self.arch() == "ppc64el" || (self.arch() == "amd64" && !self.uefi() && d.size >= GPT_REQUIRED_SIZE))
    }

    fn table_overhead(&self, d: &BlockDevice) -> i64 {
        let mut extra = PARTITION_TABLE_EXTRA_SPACE;
        if self.reserved_first(d) {
            extra += if self.arch() == "ppc64el" { PREP_PARTITION_SIZE } else { BIOS_GRUB_PARTITION_SIZE };
        }
        extra
    }

    /// Space left for new partitions on `d` (aligned), ignoring `skip`.
    pub fn partition_space(&self, d: &BlockDevice) -> i64 {
        let used: i64 = self.partitions_of(d.id).map(|p| p.size).sum();
        round_down(d.size - self.table_overhead(d) - used, PARTITION_ALIGNMENT_SIZE).max(0)
    }

    pub fn device_used_size(&self, d: &BlockDevice) -> i64 {
        if self.filesystem(Target::Device(d.id)).is_some() {
            return d.size;
        }
        if d.partition_table_type.is_some() {
            let used: i64 = self.partitions_of(d.id).map(|p| p.size).sum();
            return round_up(used + self.table_overhead(d), PARTITION_ALIGNMENT_SIZE).min(d.size);
        }
        0
    }

    pub fn device_available_size(&self, d: &BlockDevice) -> i64 {
        d.size - self.device_used_size(d)
    }

    /// MAAS's partition numbers: 1-based in id order; GPT boot disks with a
    /// reserved first partition start at 2; MBR tables with more than four
    /// partitions skip 4 (the extended partition).
    pub fn partition_number(&self, p: &Partition) -> usize {
        let Some(d) = self.device(p.block_device_id) else { return 1 };
        let all: Vec<&Partition> = self.partitions_of(d.id).collect();
        let idx = all.iter().position(|q| q.id == p.id).unwrap_or(0);
        match d.partition_table_type.as_deref() {
            Some("MBR") if all.len() > 4 && idx > 2 => idx + 2,
            _ if self.reserved_first(d) => idx + 2,
            _ => idx + 1,
        }
    }

    pub fn device_path(&self, d: &BlockDevice) -> String {
        format!("/dev/disk/by-dname/{}", d.name)
    }

    pub fn partition_path(&self, p: &Partition) -> String {
        let dev = self.device(p.block_device_id).map(|d| d.name.as_str()).unwrap_or("");
        format!("/dev/disk/by-dname/{dev}-part{}", self.partition_number(p))
    }

    fn fs_used_for(&self, f: &Filesystem) -> String {
        let group = f.volume_group_id.and_then(|id| self.group(id));
        let gname = group.map(|g| g.name.as_str()).unwrap_or("");
        match f.fstype.as_str() {
            LVM_PV => return format!("LVM volume for {gname}"),
            RAID_ACTIVE | RAID_SPARE => {
                let level = group.map(|g| g.group_type.as_str()).unwrap_or("raid");
                let state = if f.fstype == RAID_ACTIVE { "Active" } else { "Spare" };
                return format!("{state} {level} device for {gname}");
            }
            BCACHE_BACKING => return format!("Backing device for {gname}"),
            BCACHE_CACHE => return format!("Cache device for {gname}"),
            _ => {}
        }
        match &f.mount_point {
            Some(mp) => format!("{} formatted filesystem mounted at {mp}", f.fstype),
            None => format!("Unmounted {} formatted filesystem", f.fstype),
        }
    }

    pub fn device_used_for(&self, d: &BlockDevice) -> String {
        if let Some(f) = self.filesystem(Target::Device(d.id)) {
            return self.fs_used_for(f);
        }
        if let Some(t) = &d.partition_table_type {
            let n = self.partitions_of(d.id).count();
            return format!("{t} partitioned with {n} partition{}", if n == 1 { "" } else { "s" });
        }
        "Unused".into()
    }

    pub fn partition_used_for(&self, p: &Partition) -> String {
        self.filesystem(Target::Partition(p.id)).map(|f| self.fs_used_for(f)).unwrap_or_else(|| "Unused".into())
    }

    /// Members of a group (a volume group's physical volumes, a RAID's active
    /// and spare devices, a bcache's backing device, a cache set's cache
    /// device), in id order of their filesystems.
    pub fn members(&self, vg: &VolumeGroup) -> Vec<Member<'a>> {
        self.members_with(vg, |_| true)
    }

    /// Members of a group whose filesystem type passes `keep`.
    pub fn members_with(&self, vg: &VolumeGroup, keep: impl Fn(&str) -> bool) -> Vec<Member<'a>> {
        self.st
            .filesystems
            .iter()
            .filter(|f| f.volume_group_id == Some(vg.id) && keep(&f.fstype))
            .filter_map(|f| match (f.block_device_id, f.partition_id) {
                (Some(d), _) => self.device(d).map(Member::Device),
                (_, Some(p)) => self.partition(p).map(Member::Partition),
                _ => None,
            })
            .collect()
    }

    pub fn logical_volumes(&self, vg: &VolumeGroup) -> impl Iterator<Item = &'a BlockDevice> {
        let id = vg.id;
        self.st.devices.iter().filter(move |d| d.volume_group_id == Some(id))
    }

    /// Extents of every physical volume, minus one per volume for LVM's headers.
    pub fn vg_size(&self, vg: &VolumeGroup) -> i64 {
        let members = self.members(vg);
        let total: i64 = members
            .iter()
            .map(|m| match m {
                Member::Device(d) => d.size,
                Member::Partition(p) => p.size,
            })
            .sum();
        ((total / LVM_PE_SIZE - members.len() as i64) * LVM_PE_SIZE).max(0)
    }

    pub fn vg_used(&self, vg: &VolumeGroup) -> i64 {
        self.logical_volumes(vg).map(|d| d.size).sum()
    }

    pub fn vg_available(&self, vg: &VolumeGroup) -> i64 {
        (self.vg_size(vg) - self.vg_used(vg)).max(0)
    }

    /// Total physical disk size in MB (10^6 bytes), as the machine's `storage`.
    pub fn total_mb(&self) -> f64 {
        self.physical().map(|d| d.size as f64).sum::<f64>() / 1e6
    }

    /// The group (volume group, RAID, bcache, cache set) a device's or
    /// partition's filesystem makes it a member of.
    pub fn group_of(&self, t: Target) -> Option<&'a VolumeGroup> {
        self.filesystem(t).and_then(|f| f.volume_group_id).and_then(|id| self.group(id))
    }

    /// A device nothing uses: no filesystem, no partition table.
    pub fn device_unused(&self, d: &BlockDevice) -> bool {
        self.filesystem(Target::Device(d.id)).is_none() && d.partition_table_type.is_none()
    }

    /// Where `/` lives: (the physical disk, the partition if on one).
    pub(crate) fn root_location(&self) -> Option<(&'a BlockDevice, Option<&'a Partition>)> {
        let root = self.st.filesystems.iter().find(|f| f.mount_point.as_deref() == Some("/"))?;
        self.location_of(root, 0)
    }

    fn location_of(&self, f: &Filesystem, depth: u8) -> Option<(&'a BlockDevice, Option<&'a Partition>)> {
        if depth > 4 {
            return None;
        }
        if let Some(pid) = f.partition_id {
            let p = self.partition(pid)?;
            let d = self.device(p.block_device_id)?;
            return if d.dev_type == PHYSICAL { Some((d, Some(p))) } else { self.device_location(d, depth) };
        }
        let d = self.device(f.block_device_id?)?;
        if d.dev_type == PHYSICAL {
            Some((d, None))
        } else {
            self.device_location(d, depth)
        }
    }

    /// A virtual device's first member (a logical volume's first physical
    /// volume, a RAID's first device, a bcache's backing device).
    fn device_location(&self, lv: &BlockDevice, depth: u8) -> Option<(&'a BlockDevice, Option<&'a Partition>)> {
        let vg = self.group(lv.volume_group_id?)?;
        let pv = self.st.filesystems.iter().find(|f| f.volume_group_id == Some(vg.id))?;
        self.location_of(pv, depth + 1)
    }
}

/// How a group is named in messages: "a volume group" (MAAS's wording), or
/// the group itself ("RAID md0", "bcache bcache0", "cache set cache0").
pub fn part_of(g: &VolumeGroup) -> String {
    match g.group_type.as_str() {
        LVM_VG => "a volume group".into(),
        BCACHE => format!("bcache {}", g.name),
        CACHE_SET => format!("cache set {}", g.name),
        _ => format!("RAID {}", g.name),
    }
}

/// The member filesystem's group, named for messages.
pub(crate) fn member_group(s: &Storage<'_>, f: &Filesystem) -> Option<String> {
    f.volume_group_id.map(|id| s.group(id).map(part_of).unwrap_or_else(|| "a volume group".into()))
}

pub(crate) fn device_of<'a>(s: &Storage<'a>, id: i64) -> Result<&'a BlockDevice> {
    s.device(id).ok_or(Error::NotFound("BlockDevice"))
}

/// The partition `id` of device `device_id` on this node (404 otherwise).
pub fn partition_of(st: &NodeStorage, device_id: i64, id: i64) -> Result<&Partition> {
    st.partitions.iter().find(|p| p.id == id && p.block_device_id == device_id).ok_or(Error::NotFound("Partition"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("s", "10G").unwrap(), 10_000_000_000);
        assert_eq!(parse_size("s", "1.5M").unwrap(), 1_500_000);
        assert_eq!(parse_size("s", "512").unwrap(), 512);
        assert_eq!(parse_size("s", "2TB").unwrap(), 2_000_000_000_000);
        assert!(parse_size("s", "lots").is_err());
        assert!(parse_size("s", "-1").is_err());
        assert!(parse_size("s", "9223372036854775807").is_err());
        assert_eq!(parse_size("s", "1152921504606846976").unwrap(), 1 << 60);
        assert_eq!(SizeSpec::parse("s", "50%").unwrap(), SizeSpec::Percent(50.0));
        assert!(SizeSpec::parse("s", "150%").is_err());
        assert_eq!(human_size(10_000_000_000), "10.0 GB");
        assert_eq!(human_size(512), "512 bytes");
    }

    #[test]
    fn uuids() {
        let u = new_uuid();
        assert_eq!(check_uuid("uuid", &u).unwrap(), u);
        assert_eq!(&u[14..15], "4");
        assert!(check_uuid("uuid", "nope").is_err());
    }
}
