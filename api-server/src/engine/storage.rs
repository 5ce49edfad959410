//! Machine storage: block devices, partitions, filesystems, LVM volume groups
//! and logical volumes, the flat and LVM layouts, and the storage constraint
//! of allocation — MAAS's rules and sizes (`maas-api.md` §7.4, §9.3, §10.11).
//! RAIDs, bcaches and the bcache layout live in [`super::raid`]; they share
//! the filesystem-group model and the derived values computed here.
//!
//! Sizes follow MAAS: partitions are aligned to 4 MiB, a partition table
//! costs 5 MiB (plus a bios_grub or PReP partition where the boot disk needs
//! one), a volume group loses one 4 MiB extent per physical volume to LVM
//! headers. [`Storage`] computes every derived value (free space, partition
//! numbers, `used_for`) from one node's rows; the mutating functions run
//! inside one write transaction and enforce who may change what, and when.

use std::collections::HashSet;

use super::allocation::StorageSpec;
use super::lifecycle::{NodeType, Status};
use crate::db::nodes::Node;
use crate::db::storage::{
    self as db, BlockDevice, BlockDeviceChanges, Filesystem, NewBlockDevice, NewFilesystem, NewPartition,
    NewVolumeGroup, NodeStorage, Partition, VolumeGroup,
};
use crate::db::users::User;
use crate::db::DbConn;
use crate::error::{Error, FieldErrors, Result};

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

fn round_down(size: i64, block: i64) -> i64 {
    size.div_euclid(block) * block
}

fn round_up(size: i64, block: i64) -> i64 {
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
    if !bytes.is_finite() || bytes < 0.0 || bytes > i64::MAX as f64 {
        return Err(bad());
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

fn parse_tags(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

/// What a filesystem sits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Device(i64),
    Partition(i64),
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

    fn arch(&self) -> &'a str {
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
    fn reserved_first(&self, d: &BlockDevice) -> bool {
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
    fn root_location(&self) -> Option<(&'a BlockDevice, Option<&'a Partition>)> {
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

// ---- allocation ------------------------------------------------------------

/// A device matched by a storage constraint: a block device id or a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceKey {
    Device(i64),
    Partition(i64),
}

/// Matches MAAS's storage constraint against one machine: the first spec is
/// the disk holding `/` (the boot disk when nothing is mounted there), later
/// specs take distinct unused devices (or, tagged `partition`, unused
/// partitions), most-tagged specs first, smallest device first. Returns the
/// device of each spec in the specs' order, or `None` if any spec fails.
pub fn match_storage(node: &Node, st: &NodeStorage, specs: &[StorageSpec]) -> Option<Vec<DeviceKey>> {
    let s = Storage::new(node, st);
    let mut out: Vec<Option<DeviceKey>> = vec![None; specs.len()];
    let mut taken: HashSet<DeviceKey> = HashSet::new();
    let bytes = |gb: f64| (gb * 1e9).ceil() as i64;
    let wants_partition = |spec: &StorageSpec| spec.tags.iter().any(|t| t == "partition");
    let has_tags =
        |have: &[String], spec: &StorageSpec| spec.tags.iter().filter(|t| *t != "partition").all(|t| have.contains(t));
    if let Some(root) = specs.first() {
        let (disk, part) = match s.root_location() {
            Some(loc) => loc,
            None => (s.boot_disk()?, None),
        };
        let key = if wants_partition(root) {
            let p = part?;
            if p.size < bytes(root.size_gb) || !has_tags(&parse_tags(&p.tags), root) {
                return None;
            }
            DeviceKey::Partition(p.id)
        } else {
            if disk.size < bytes(root.size_gb) || !has_tags(&s.device_tags(disk), root) {
                return None;
            }
            DeviceKey::Device(disk.id)
        };
        taken.insert(key);
        out[0] = Some(key);
    }
    let mut order: Vec<usize> = (1..specs.len()).collect();
    order.sort_by_key(|i| std::cmp::Reverse(specs[*i].tags.len()));
    for i in order {
        let spec = &specs[i];
        let mut candidates: Vec<(i64, DeviceKey)> = if wants_partition(spec) {
            st.partitions
                .iter()
                .filter(|p| s.filesystem(Target::Partition(p.id)).is_none())
                .filter(|p| p.size >= bytes(spec.size_gb) && has_tags(&parse_tags(&p.tags), spec))
                .map(|p| (p.size, DeviceKey::Partition(p.id)))
                .collect()
        } else {
            st.devices
                .iter()
                .filter(|d| s.device_unused(d))
                .filter(|d| d.size >= bytes(spec.size_gb) && has_tags(&s.device_tags(d), spec))
                .map(|d| (d.size, DeviceKey::Device(d.id)))
                .collect()
        };
        candidates.sort_by_key(|(size, _)| *size);
        let (_, key) = candidates.into_iter().find(|(_, k)| !taken.contains(k))?;
        taken.insert(key);
        out[i] = Some(key);
    }
    out.into_iter().collect()
}

// ---- permissions -----------------------------------------------------------

/// Who may make a storage change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Administrators only (physical devices, boot disk, device tags).
    Admin,
    /// Administrators, or the owner of an Allocated machine.
    Edit,
}

/// Storage may change only on a Ready or Allocated machine that is not
/// locked; a Ready machine only by an administrator (MAAS's rules and texts).
pub fn check_change(user: &User, n: &Node, op: &str, what: &str, need: Need) -> Result<()> {
    if n.node_type != NodeType::Machine as i32 {
        return Err(Error::NotFound("Machine"));
    }
    if n.locked {
        return Err(Error::Forbidden(format!("Machine {} is locked; unlock it first.", n.system_id)));
    }
    if !user.is_superuser && n.owner_id.is_some() && n.owner_id != Some(user.id) {
        return Err(Error::Conflict(format!("Machine {} is owned by another user.", n.system_id)));
    }
    let status = super::nodes::status_of(n);
    if !matches!(status, Status::Ready | Status::Allocated) {
        return Err(Error::Conflict(format!("Cannot {op} {what} because the machine is not Ready or Allocated.")));
    }
    if user.is_superuser {
        return Ok(());
    }
    if need == Need::Admin {
        return Err(Error::Forbidden("You don't have permission to do this: administrators only.".into()));
    }
    if status == Status::Ready {
        return Err(Error::Forbidden(format!(
            "Cannot {op} {what} because you don't have the permissions on a Ready machine."
        )));
    }
    Ok(())
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
fn member_group(s: &Storage<'_>, f: &Filesystem) -> Option<String> {
    f.volume_group_id.map(|id| s.group(id).map(part_of).unwrap_or_else(|| "a volume group".into()))
}

pub(crate) fn device_of<'a>(s: &Storage<'a>, id: i64) -> Result<&'a BlockDevice> {
    s.device(id).ok_or(Error::NotFound("BlockDevice"))
}

/// The partition `id` of device `device_id` on this node (404 otherwise).
pub fn partition_of(st: &NodeStorage, device_id: i64, id: i64) -> Result<&Partition> {
    st.partitions.iter().find(|p| p.id == id && p.block_device_id == device_id).ok_or(Error::NotFound("Partition"))
}

fn tags_json(tags: &[String]) -> String {
    serde_json::to_string(tags).expect("tags serialise")
}

// ---- commissioning inventory -------------------------------------------------

/// One disk as commissioning reports it.
#[derive(Debug, Clone, Default)]
pub struct DiskInventory {
    pub name: String,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub size: i64,
    pub block_size: i64,
    pub rotational: bool,
    pub id_path: Option<String>,
    pub firmware_version: Option<String>,
}

/// Replaces a node's disks with what commissioning found: every storage row
/// goes, the disks are recorded tagged `rotary` or `ssd` as MAAS does.
pub fn record_block_devices(c: &mut DbConn, node_id: i64, disks: &[DiskInventory]) -> Result<Vec<BlockDevice>> {
    db::delete_all(c, node_id)?;
    let mut out = Vec::new();
    for d in disks {
        if d.name.trim().is_empty()
            || !(MIN_BLOCK_DEVICE_SIZE..=MAX_BLOCK_DEVICE_SIZE).contains(&d.size)
            || d.block_size < 512
        {
            return Err(Error::BadRequest(format!("Invalid disk in the commissioning inventory: '{}'.", d.name)));
        }
        out.push(db::insert_device(
            c,
            &NewBlockDevice {
                node_id,
                name: d.name.clone(),
                dev_type: PHYSICAL.into(),
                id_path: d.id_path.clone(),
                model: d.model.clone(),
                serial: d.serial.clone(),
                firmware_version: d.firmware_version.clone(),
                size: d.size,
                block_size: d.block_size,
                tags: tags_json(&[if d.rotational { "rotary" } else { "ssd" }.to_string()]),
                uuid: None,
                storage_pool: None,
                numa_node: 0,
                is_boot_disk: false,
                partition_table_type: None,
                volume_group_id: None,
                created_at: super::now(),
            },
        )?);
    }
    Ok(out)
}

// ---- block devices -----------------------------------------------------------

/// `POST blockdevices/`: a physical block device.
#[derive(Debug, Clone, Default)]
pub struct NewDeviceInput {
    pub name: Option<String>,
    pub size: Option<i64>,
    pub block_size: Option<i64>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub id_path: Option<String>,
}

fn check_sizes(errors: &mut FieldErrors, size: Option<i64>, block_size: Option<i64>) {
    if let Some(s) = size {
        if s < MIN_BLOCK_DEVICE_SIZE {
            errors.insert(
                "size".into(),
                vec![format!("Ensure this value is greater than or equal to {MIN_BLOCK_DEVICE_SIZE}.")],
            );
        } else if s > MAX_BLOCK_DEVICE_SIZE {
            errors.insert(
                "size".into(),
                vec![format!("Ensure this value is less than or equal to {MAX_BLOCK_DEVICE_SIZE}.")],
            );
        }
    }
    if let Some(b) = block_size {
        if b < 512 {
            errors.insert("block_size".into(), vec!["Ensure this value is greater than or equal to 512.".into()]);
        }
    }
}

pub fn create_device(c: &mut DbConn, user: &User, n: &Node, input: NewDeviceInput) -> Result<i64> {
    if n.node_type != NodeType::Machine as i32 {
        return Err(Error::NotFound("Machine"));
    }
    super::nodes::require_admin(user, n)?;
    let mut errors = FieldErrors::new();
    for (field, v) in
        [("name", input.name.is_none()), ("size", input.size.is_none()), ("block_size", input.block_size.is_none())]
    {
        if v {
            errors.insert(field.into(), vec!["This field is required.".into()]);
        }
    }
    check_sizes(&mut errors, input.size, input.block_size);
    if input.id_path.is_none() && (input.model.is_none() || input.serial.is_none()) {
        errors.insert("__all__".into(), vec!["serial/model are required if id_path is not provided.".into()]);
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let d = db::insert_device(
        c,
        &NewBlockDevice {
            node_id: n.id,
            name: input.name.unwrap_or_default(),
            dev_type: PHYSICAL.into(),
            id_path: input.id_path,
            model: input.model,
            serial: input.serial,
            firmware_version: None,
            size: input.size.unwrap_or_default(),
            block_size: input.block_size.unwrap_or_default(),
            tags: "[]".into(),
            uuid: None,
            storage_pool: None,
            numa_node: 0,
            is_boot_disk: false,
            partition_table_type: None,
            volume_group_id: None,
            created_at: super::now(),
        },
    )?;
    Ok(d.id)
}

/// `PUT blockdevices/{id}/`.
#[derive(Debug, Clone, Default)]
pub struct DeviceUpdate {
    pub name: Option<String>,
    pub size: Option<i64>,
    pub block_size: Option<i64>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub id_path: Option<String>,
    pub uuid: Option<String>,
}

pub fn update_device(c: &mut DbConn, user: &User, n: &Node, id: i64, u: DeviceUpdate) -> Result<()> {
    let st = db::load_node(c, n.id)?;
    let s = Storage::new(n, &st);
    let d = device_of(&s, id)?;
    let physical = d.dev_type == PHYSICAL;
    check_change(user, n, "update", "block device", if physical { Need::Admin } else { Need::Edit })?;
    let mut errors = FieldErrors::new();
    check_sizes(&mut errors, u.size, u.block_size);
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    if u.size.is_some_and(|sz| sz != d.size) && !s.device_unused(d) {
        return Err(Error::BadRequest("Cannot resize a block device that is in use.".into()));
    }
    let mut ch = BlockDeviceChanges::default();
    if physical {
        ch.name = u.name.filter(|v| !v.trim().is_empty());
        ch.size = u.size;
        ch.block_size = u.block_size;
        ch.model = u.model.map(Some);
        ch.serial = u.serial.map(Some);
        ch.id_path = u.id_path.map(Some);
    } else {
        if let Some(vg) = d.volume_group_id.and_then(|v| s.volume_group(v)) {
            if let Some(name) = u.name.filter(|v| !v.trim().is_empty()) {
                ch.name = Some(format!("{}-{name}", vg.name));
            }
            if let Some(size) = u.size {
                let size = round_down(size, LVM_PE_SIZE);
                let max = s.vg_available(vg) + d.size;
                if size > max {
                    return Err(Error::field("size", format!("Size is too large. Maximum size is {max}.")));
                }
                ch.size = Some(size);
            }
        } else if let Some(g) = s.group_of_device(d) {
            if u.size.is_some_and(|sz| sz != d.size) {
                return Err(Error::BadRequest(format!(
                    "Cannot resize the device of {}; its size follows its members.",
                    part_of(g)
                )));
            }
            ch.name = u.name.filter(|v| !v.trim().is_empty());
        } else {
            ch.name = u.name.filter(|v| !v.trim().is_empty());
            ch.size = u.size;
        }
        if let Some(v) = u.uuid {
            ch.uuid = Some(Some(check_uuid("uuid", &v)?));
        }
    }
    db::update_device(c, id, &ch)
}

pub fn delete_device(c: &mut DbConn, user: &User, n: &Node, id: i64) -> Result<()> {
    let st = db::load_node(c, n.id)?;
    let s = Storage::new(n, &st);
    let d = device_of(&s, id)?;
    let need = if d.dev_type == PHYSICAL { Need::Admin } else { Need::Edit };
    check_change(user, n, "delete", "block device", need)?;
    let group = s
        .group_of(Target::Device(d.id))
        .or_else(|| s.partitions_of(d.id).find_map(|p| s.group_of(Target::Partition(p.id))));
    if let Some(g) = group {
        return Err(Error::BadRequest(format!("Cannot delete block device because its part of {}.", part_of(g))));
    }
    // A RAID's or bcache's device goes with its group, as MAAS deletes it.
    if let Some(g) = s.group_of_device(d).filter(|g| g.group_type != LVM_VG) {
        return super::raid::delete_group(c, n, &st, g.id);
    }
    db::delete_device(c, id)
}

pub fn set_boot_disk(c: &mut DbConn, user: &User, n: &Node, id: i64) -> Result<()> {
    let st = db::load_node(c, n.id)?;
    let d = device_of(&Storage::new(n, &st), id)?;
    check_change(user, n, "set boot disk on", "block device", Need::Admin)?;
    if d.dev_type != PHYSICAL {
        return Err(Error::BadRequest(format!("Cannot set a {} block device as the boot disk.", d.dev_type)));
    }
    db::set_boot_disk(c, n.id, id)
}

fn edit_tags(current: &str, tag: &str, add: bool) -> Result<String> {
    let tag = tag.trim();
    if tag.is_empty() {
        return Err(Error::required("tag"));
    }
    let mut tags = parse_tags(current);
    if add {
        if !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_string());
        }
    } else {
        tags.retain(|t| t != tag);
    }
    Ok(tags_json(&tags))
}

pub fn tag_device(c: &mut DbConn, user: &User, n: &Node, id: i64, tag: &str, add: bool) -> Result<()> {
    let st = db::load_node(c, n.id)?;
    let d = device_of(&Storage::new(n, &st), id)?;
    check_change(user, n, if add { "add tag to" } else { "remove tag from" }, "block device", Need::Admin)?;
    let tags = edit_tags(&d.tags, tag, add)?;
    db::update_device(c, id, &BlockDeviceChanges { tags: Some(tags), ..Default::default() })
}

pub fn tag_partition(
    c: &mut DbConn,
    user: &User,
    n: &Node,
    device_id: i64,
    id: i64,
    tag: &str,
    add: bool,
) -> Result<()> {
    let st = db::load_node(c, n.id)?;
    let p = partition_of(&st, device_id, id)?;
    check_change(user, n, if add { "add tag to" } else { "remove tag from" }, "partition", Need::Edit)?;
    let tags = edit_tags(&p.tags, tag, add)?;
    db::set_partition_tags(c, id, &tags)
}

// ---- filesystems ---------------------------------------------------------------

/// `format`: the filesystem to create.
#[derive(Debug, Clone, Default)]
pub struct FormatInput {
    pub fstype: Option<String>,
    pub uuid: Option<String>,
    pub label: Option<String>,
}

fn target_name(t: Target) -> &'static str {
    match t {
        Target::Device(_) => "block device",
        Target::Partition(_) => "partition",
    }
}

/// Checks `t` exists on this node (`device_id` is the URL's device for partitions).
fn resolve_target(st: &NodeStorage, t: Target, device_id: i64) -> Result<()> {
    match t {
        Target::Device(id) => st.devices.iter().any(|d| d.id == id).then_some(()).ok_or(Error::NotFound("BlockDevice")),
        Target::Partition(id) => partition_of(st, device_id, id).map(|_| ()),
    }
}

pub fn format(c: &mut DbConn, user: &User, n: &Node, t: Target, device_id: i64, input: FormatInput) -> Result<()> {
    let st = db::load_node(c, n.id)?;
    resolve_target(&st, t, device_id)?;
    let s = Storage::new(n, &st);
    let what = target_name(t);
    check_change(user, n, "format", what, Need::Edit)?;
    let fstype = input
        .fstype
        .map(|f| f.trim().to_string())
        .filter(|f| !f.is_empty())
        .ok_or_else(|| Error::required("fstype"))?;
    if !FORMAT_FSTYPES.contains(&fstype.as_str()) {
        return Err(Error::field(
            "fstype",
            format!("Select a valid choice. {fstype} is not one of the available choices."),
        ));
    }
    let uuid = match input.uuid.filter(|u| !u.trim().is_empty()) {
        Some(u) => check_uuid("uuid", &u)?,
        None => new_uuid(),
    };
    if let Target::Device(id) = t {
        let d = device_of(&s, id)?;
        if d.partition_table_type.is_some() {
            return Err(Error::BadRequest("Cannot format block device with partitions.".into()));
        }
    }
    if let Some(g) = s.group_of(t) {
        return Err(Error::BadRequest(format!("Cannot format {what} because it is part of {}.", part_of(g))));
    }
    // What the owner formats on an Allocated machine goes at release.
    let acquired = super::nodes::status_of(n) == Status::Allocated;
    if let Some(old) = s.filesystem(t) {
        db::delete_filesystem(c, old.id)?;
    }
    let (block_device_id, partition_id) = match t {
        Target::Device(id) => (Some(id), None),
        Target::Partition(id) => (None, Some(id)),
    };
    db::insert_filesystem(
        c,
        &NewFilesystem {
            node_id: n.id,
            block_device_id,
            partition_id,
            mount_point: None,
            mount_options: None,
            label: input.label.filter(|l| !l.is_empty()),
            uuid,
            fstype,
            volume_group_id: None,
            acquired,
            created_at: super::now(),
        },
    )?;
    Ok(())
}

pub fn unformat(c: &mut DbConn, user: &User, n: &Node, t: Target, device_id: i64) -> Result<()> {
    let st = db::load_node(c, n.id)?;
    resolve_target(&st, t, device_id)?;
    let s = Storage::new(n, &st);
    let what = target_name(t);
    check_change(user, n, "unformat", what, Need::Edit)?;
    let Some(f) = s.filesystem(t) else {
        return Err(Error::BadRequest(match t {
            Target::Device(_) => "Block device is not formatted.".into(),
            Target::Partition(_) => "Partition is not formatted.".into(),
        }));
    };
    if let Some(g) = member_group(&s, f) {
        return Err(Error::BadRequest(format!(
            "Filesystem is part of {g}, and cannot be unformatted. Remove {what} from {g} before unformatting the {what}."
        )));
    }
    if f.mount_point.is_some() {
        return Err(Error::BadRequest(format!(
            "Filesystem is mounted and cannot be unformatted. Unmount the filesystem before unformatting the {what}."
        )));
    }
    db::delete_filesystem(c, f.id)
}

/// `mount`: where and how.
#[derive(Debug, Clone, Default)]
pub struct MountInput {
    pub mount_point: Option<String>,
    pub mount_options: Option<String>,
}

pub fn mount(c: &mut DbConn, user: &User, n: &Node, t: Target, device_id: i64, input: MountInput) -> Result<()> {
    let st = db::load_node(c, n.id)?;
    resolve_target(&st, t, device_id)?;
    let s = Storage::new(n, &st);
    check_change(user, n, "mount", target_name(t), Need::Edit)?;
    let Some(f) = s.filesystem(t) else {
        return Err(Error::BadRequest("Cannot mount an unformatted partition or block device.".into()));
    };
    if let Some(g) = member_group(&s, f) {
        return Err(Error::BadRequest(format!("Filesystem is part of {g}, and cannot be mounted.")));
    }
    let mount_point = if f.fstype == "swap" {
        "none".to_string()
    } else {
        let mp = input.mount_point.map(|m| m.trim().to_string()).filter(|m| !m.is_empty());
        let mp = mp.ok_or_else(|| Error::required("mount_point"))?;
        if !mp.starts_with('/') {
            return Err(Error::field("mount_point", "Enter a valid absolute path."));
        }
        mp
    };
    let options = input.mount_options.filter(|o| !o.trim().is_empty());
    db::set_mount(c, f.id, Some(&mount_point), options.as_deref())
}

pub fn unmount(c: &mut DbConn, user: &User, n: &Node, t: Target, device_id: i64) -> Result<()> {
    let st = db::load_node(c, n.id)?;
    resolve_target(&st, t, device_id)?;
    let s = Storage::new(n, &st);
    let what = target_name(t);
    check_change(user, n, "unmount", what, Need::Edit)?;
    let Some(f) = s.filesystem(t) else {
        return Err(Error::BadRequest(format!("Cannot unmount an unformatted {what}.")));
    };
    if let Some(g) = member_group(&s, f) {
        return Err(Error::BadRequest(format!("Filesystem is part of {g}, and cannot be unmounted.")));
    }
    if f.mount_point.is_none() {
        return Err(Error::BadRequest("Filesystem is already unmounted.".into()));
    }
    db::set_mount(c, f.id, None, None)
}

// ---- partitions ------------------------------------------------------------------

/// `POST partitions/`.
#[derive(Debug, Clone, Default)]
pub struct PartitionInput {
    pub size: Option<i64>,
    pub uuid: Option<String>,
    pub bootable: bool,
}

/// Adds a partition (creating the device's partition table first if it has
/// none) without permission checks; `size` `None` takes all free space.
fn add_partition(
    c: &mut DbConn,
    n: &Node,
    st: &mut NodeStorage,
    device_id: i64,
    input: PartitionInput,
) -> Result<Partition> {
    let idx = st.devices.iter().position(|d| d.id == device_id).ok_or(Error::NotFound("BlockDevice"))?;
    if st.devices[idx].partition_table_type.is_none() {
        let t = Storage::new(n, st).new_table_type(&st.devices[idx]).to_string();
        db::update_device(
            c,
            device_id,
            &BlockDeviceChanges { partition_table_type: Some(Some(t.clone())), ..Default::default() },
        )?;
        st.devices[idx].partition_table_type = Some(t);
    }
    let s = Storage::new(n, st);
    let d = &st.devices[idx];
    let available = s.partition_space(d);
    let size = match input.size {
        None => available,
        Some(sz) => {
            if sz < MIN_PARTITION_SIZE {
                return Err(Error::field(
                    "size",
                    format!("Ensure this value is greater than or equal to {MIN_PARTITION_SIZE}."),
                ));
            }
            round_down(sz, PARTITION_ALIGNMENT_SIZE)
        }
    };
    if size > available || size < MIN_PARTITION_SIZE {
        return Err(Error::field(
            "size",
            format!(
                "Partition cannot be saved; not enough free space on the block device ({} requested, {} available).",
                human_size(input.size.unwrap_or(size)),
                human_size(available)
            ),
        ));
    }
    if d.partition_table_type.as_deref() == Some("MBR") && size > GPT_REQUIRED_SIZE {
        return Err(Error::field("size", "Partition cannot be larger than 2 TiB on an MBR partition table."));
    }
    let uuid = match input.uuid.filter(|u| !u.trim().is_empty()) {
        Some(u) => check_uuid("uuid", &u)?,
        None => new_uuid(),
    };
    let p = db::insert_partition(
        c,
        &NewPartition {
            node_id: n.id,
            block_device_id: device_id,
            uuid,
            size,
            bootable: input.bootable,
            tags: "[]".into(),
            created_at: super::now(),
        },
    )?;
    st.partitions.push(p.clone());
    Ok(p)
}

/// [`add_partition`] for layouts: errors name `field` instead of `size`.
pub(crate) fn add_partition_unchecked(
    c: &mut DbConn,
    n: &Node,
    st: &mut NodeStorage,
    device_id: i64,
    size: Option<i64>,
    field: &str,
) -> Result<i64> {
    add_partition(c, n, st, device_id, PartitionInput { size, uuid: None, bootable: false })
        .map(|p| p.id)
        .map_err(|e| rename_field(e, "size", field))
}

pub fn create_partition(c: &mut DbConn, user: &User, n: &Node, device_id: i64, input: PartitionInput) -> Result<i64> {
    let mut st = db::load_node(c, n.id)?;
    let s = Storage::new(n, &st);
    let d = device_of(&s, device_id)?;
    check_change(user, n, "create partition on", "block device", Need::Edit)?;
    if s.filesystem(Target::Device(d.id)).is_some() {
        return Err(Error::BadRequest(
            "Cannot create a partition on a block device that is formatted or part of a volume group.".into(),
        ));
    }
    Ok(add_partition(c, n, &mut st, device_id, input)?.id)
}

pub fn delete_partition(c: &mut DbConn, user: &User, n: &Node, device_id: i64, id: i64) -> Result<()> {
    let st = db::load_node(c, n.id)?;
    partition_of(&st, device_id, id)?;
    check_change(user, n, "delete", "partition", Need::Edit)?;
    if let Some(g) = Storage::new(n, &st).group_of(Target::Partition(id)) {
        return Err(Error::BadRequest(format!("Cannot delete partition because its part of {}.", part_of(g))));
    }
    db::delete_partition(c, id)
}

// ---- volume groups -----------------------------------------------------------------

/// `POST volume-groups/` and `PUT volume-group/{id}/`.
#[derive(Debug, Clone, Default)]
pub struct VolumeGroupInput {
    pub name: Option<String>,
    pub uuid: Option<String>,
    pub add_devices: Vec<String>,
    pub add_partitions: Vec<String>,
    pub remove_devices: Vec<String>,
    pub remove_partitions: Vec<String>,
}

pub(crate) fn not_a_choice(field: &str, v: &str) -> Error {
    Error::field(field, format!("Select a valid choice. {v} is not one of the available choices."))
}

/// Resolves ids to members that are free to become physical volumes (or
/// RAID, bcache or cache set members): devices of this node with no
/// filesystem and no partition table that are not logical volumes,
/// partitions of this node with no filesystem.
pub(crate) fn free_members(
    s: &Storage<'_>,
    field_d: &str,
    devs: &[String],
    field_p: &str,
    parts: &[String],
) -> Result<Vec<Target>> {
    let mut out = Vec::new();
    for v in devs {
        // Free devices only, and never a logical volume (no nested LVM).
        let d = v
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(|id| s.device(id))
            .filter(|d| s.device_unused(d) && s.group_of_device(d).is_none_or(|g| g.group_type != LVM_VG));
        match d {
            Some(d) => out.push(Target::Device(d.id)),
            None => return Err(not_a_choice(field_d, v)),
        }
    }
    for v in parts {
        let p = v
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(|id| s.partition(id))
            .filter(|p| s.filesystem(Target::Partition(p.id)).is_none());
        match p {
            Some(p) => out.push(Target::Partition(p.id)),
            None => return Err(not_a_choice(field_p, v)),
        }
    }
    Ok(out)
}

fn add_pv(c: &mut DbConn, n: &Node, vg_id: i64, t: Target) -> Result<Filesystem> {
    let (block_device_id, partition_id) = match t {
        Target::Device(id) => (Some(id), None),
        Target::Partition(id) => (None, Some(id)),
    };
    db::insert_filesystem(
        c,
        &NewFilesystem {
            node_id: n.id,
            block_device_id,
            partition_id,
            fstype: LVM_PV.into(),
            uuid: new_uuid(),
            label: None,
            mount_point: None,
            mount_options: None,
            volume_group_id: Some(vg_id),
            acquired: false,
            created_at: super::now(),
        },
    )
}

fn check_vg_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "+_.-".contains(c))
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::field("name", format!("'{name}' is not a valid volume group name.")))
    }
}

/// Creates a volume group over free devices/partitions, without permission checks.
fn make_volume_group(
    c: &mut DbConn,
    n: &Node,
    st: &mut NodeStorage,
    name: &str,
    uuid: Option<String>,
    members: &[Target],
) -> Result<VolumeGroup> {
    check_vg_name(name)?;
    if members.is_empty() {
        return Err(Error::field("__all__", "At least one valid block device or partition is required."));
    }
    let uuid = match uuid.filter(|u| !u.trim().is_empty()) {
        Some(u) => check_uuid("uuid", &u)?,
        None => new_uuid(),
    };
    let vg = db::insert_volume_group(
        c,
        &NewVolumeGroup {
            node_id: n.id,
            name: name.to_string(),
            uuid,
            created_at: super::now(),
            group_type: LVM_VG.into(),
            cache_mode: None,
            cache_set_id: None,
        },
    )?;
    st.volume_groups.push(vg.clone());
    for t in members {
        st.filesystems.push(add_pv(c, n, vg.id, *t)?);
    }
    Ok(vg)
}

pub fn create_volume_group(c: &mut DbConn, user: &User, n: &Node, input: VolumeGroupInput) -> Result<i64> {
    let mut st = db::load_node(c, n.id)?;
    check_change(user, n, "create volume group on", "machine", Need::Edit)?;
    let name =
        input.name.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).ok_or_else(|| Error::required("name"))?;
    let members =
        free_members(&Storage::new(n, &st), "block_devices", &input.add_devices, "partitions", &input.add_partitions)?;
    Ok(make_volume_group(c, n, &mut st, &name, input.uuid, &members)?.id)
}

pub fn update_volume_group(c: &mut DbConn, user: &User, n: &Node, id: i64, input: VolumeGroupInput) -> Result<()> {
    let mut st = db::load_node(c, n.id)?;
    let vg = Storage::new(n, &st).volume_group(id).cloned().ok_or(Error::NotFound("VolumeGroup"))?;
    check_change(user, n, "update", "volume group", Need::Edit)?;
    let s = Storage::new(n, &st);
    let added = free_members(&s, "add_block_devices", &input.add_devices, "add_partitions", &input.add_partitions)?;
    let mut removed = Vec::new();
    for (field, vals, is_dev) in
        [("remove_block_devices", &input.remove_devices, true), ("remove_partitions", &input.remove_partitions, false)]
    {
        for v in vals {
            let t = v.trim().parse::<i64>().ok().map(|i| if is_dev { Target::Device(i) } else { Target::Partition(i) });
            let fs = t.and_then(|t| s.filesystem(t)).filter(|f| f.volume_group_id == Some(vg.id));
            match fs {
                Some(f) => removed.push(f.id),
                None => return Err(not_a_choice(field, v)),
            }
        }
    }
    let new_name = input.name.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let lvs: Vec<BlockDevice> = s.logical_volumes(&vg).cloned().collect();
    for fid in &removed {
        db::delete_filesystem(c, *fid)?;
    }
    st.filesystems.retain(|f| !removed.contains(&f.id));
    for t in &added {
        st.filesystems.push(add_pv(c, n, vg.id, *t)?);
    }
    let s = Storage::new(n, &st);
    if s.members(&vg).is_empty() {
        return Err(Error::BadRequest("A volume group needs at least one block device or partition.".into()));
    }
    if s.vg_size(&vg) < s.vg_used(&vg) {
        return Err(Error::BadRequest(format!(
            "Cannot remove devices from volume group {}: its logical volumes need the space.",
            vg.name
        )));
    }
    if new_name.is_some() || input.uuid.is_some() {
        let name = new_name.unwrap_or_else(|| vg.name.clone());
        check_vg_name(&name)?;
        let uuid = match input.uuid.filter(|u| !u.trim().is_empty()) {
            Some(u) => check_uuid("uuid", &u)?,
            None => vg.uuid.clone(),
        };
        db::rename_volume_group(c, vg.id, &name, &uuid)?;
        if name != vg.name {
            for lv in lvs {
                let short = lv.name.strip_prefix(&format!("{}-", vg.name)).unwrap_or(&lv.name).to_string();
                db::update_device(
                    c,
                    lv.id,
                    &BlockDeviceChanges { name: Some(format!("{name}-{short}")), ..Default::default() },
                )?;
            }
        }
    }
    Ok(())
}

pub fn delete_volume_group(c: &mut DbConn, user: &User, n: &Node, id: i64) -> Result<()> {
    let st = db::load_node(c, n.id)?;
    Storage::new(n, &st).volume_group(id).ok_or(Error::NotFound("VolumeGroup"))?;
    check_change(user, n, "delete", "volume group", Need::Edit)?;
    db::delete_volume_group(c, id)
}

/// `create_logical_volume`.
#[derive(Debug, Clone, Default)]
pub struct LogicalVolumeInput {
    pub name: Option<String>,
    pub size: Option<i64>,
    pub uuid: Option<String>,
}

/// Adds a logical volume without permission checks; `size` `None` takes all
/// free space.
fn make_logical_volume(
    c: &mut DbConn,
    n: &Node,
    st: &mut NodeStorage,
    vg: &VolumeGroup,
    input: LogicalVolumeInput,
) -> Result<BlockDevice> {
    let name =
        input.name.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).ok_or_else(|| Error::required("name"))?;
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || "+_.-".contains(c)) {
        return Err(Error::field("name", format!("'{name}' is not a valid logical volume name.")));
    }
    let free = Storage::new(n, st).vg_available(vg);
    if free < MIN_BLOCK_DEVICE_SIZE {
        return Err(Error::BadRequest(format!(
            "Volume group ({}) cannot hold any more logical volumes, because it doesn't have enough free space.",
            vg.name
        )));
    }
    let size = match input.size {
        None => free,
        Some(sz) => {
            let sz = round_down(sz, LVM_PE_SIZE);
            if sz > free {
                return Err(Error::field("size", format!("Size is too large. Maximum size is {free}.")));
            }
            if sz < MIN_BLOCK_DEVICE_SIZE {
                return Err(Error::field(
                    "size",
                    format!("Size is too small. Minimum size is {MIN_BLOCK_DEVICE_SIZE}."),
                ));
            }
            sz
        }
    };
    let uuid = match input.uuid.filter(|u| !u.trim().is_empty()) {
        Some(u) => check_uuid("uuid", &u)?,
        None => new_uuid(),
    };
    let lv = db::insert_device(
        c,
        &NewBlockDevice {
            node_id: n.id,
            name: format!("{}-{name}", vg.name),
            dev_type: VIRTUAL.into(),
            id_path: None,
            model: None,
            serial: None,
            firmware_version: None,
            size,
            block_size: 4096,
            tags: "[]".into(),
            uuid: Some(uuid),
            storage_pool: None,
            numa_node: 0,
            is_boot_disk: false,
            partition_table_type: None,
            volume_group_id: Some(vg.id),
            created_at: super::now(),
        },
    )?;
    st.devices.push(lv.clone());
    Ok(lv)
}

pub fn create_logical_volume(
    c: &mut DbConn,
    user: &User,
    n: &Node,
    vg_id: i64,
    input: LogicalVolumeInput,
) -> Result<i64> {
    let mut st = db::load_node(c, n.id)?;
    let vg = Storage::new(n, &st).volume_group(vg_id).cloned().ok_or(Error::NotFound("VolumeGroup"))?;
    check_change(user, n, "create logical volume on", "volume group", Need::Edit)?;
    Ok(make_logical_volume(c, n, &mut st, &vg, input)?.id)
}

/// Deletes a logical volume of the group; an unknown id is ignored, as MAAS does.
pub fn delete_logical_volume(c: &mut DbConn, user: &User, n: &Node, vg_id: i64, lv_id: i64) -> Result<()> {
    let st = db::load_node(c, n.id)?;
    let s = Storage::new(n, &st);
    let vg = s.volume_group(vg_id).ok_or(Error::NotFound("VolumeGroup"))?;
    check_change(user, n, "delete logical volume from", "volume group", Need::Edit)?;
    if s.logical_volumes(vg).any(|d| d.id == lv_id) {
        db::delete_device(c, lv_id)?;
    }
    Ok(())
}

// ---- layouts ------------------------------------------------------------------------

/// `set_storage_layout` parameters.
#[derive(Debug, Clone, Default)]
pub struct LayoutInput {
    pub layout: String,
    pub boot_size: Option<SizeSpec>,
    pub root_size: Option<SizeSpec>,
    pub root_device: Option<String>,
    pub vg_name: Option<String>,
    pub lv_name: Option<String>,
    pub lv_size: Option<SizeSpec>,
    pub bcache: super::raid::BcacheLayout,
}

/// `machines/{id}/?op=set_storage_layout`: administrators, Ready machines only.
pub fn set_storage_layout(c: &mut DbConn, user: &User, n: &Node, input: &LayoutInput) -> Result<()> {
    if n.node_type != NodeType::Machine as i32 {
        return Err(Error::NotFound("Machine"));
    }
    super::nodes::require_admin(user, n)?;
    if super::nodes::status_of(n) != Status::Ready {
        return Err(Error::Conflict("Cannot change the storage layout on a machine that is not Ready.".into()));
    }
    apply_layout(c, n, input)
}

/// Applies a layout, replacing the machine's storage configuration (its
/// physical disks stay). No permission checks: commissioning calls it too.
pub fn apply_layout(c: &mut DbConn, n: &Node, input: &LayoutInput) -> Result<()> {
    let layout = input.layout.as_str();
    if !LAYOUTS.contains(&layout) {
        return Err(Error::field(
            "storage_layout",
            format!("Select a valid choice. {layout} is not one of the available choices."),
        ));
    }
    if !SUPPORTED_LAYOUTS.contains(&layout) {
        return Err(Error::field(
            "storage_layout",
            format!("Ironpool does not support the '{layout}' storage layout."),
        ));
    }
    let mut st = db::load_node(c, n.id)?;
    let s = Storage::new(n, &st);
    let boot = s
        .boot_disk()
        .cloned()
        .ok_or_else(|| Error::BadRequest("Machine is missing a boot disk; no storage layout can be applied.".into()))?;
    let root_disk = match &input.root_device {
        None => boot.clone(),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(|id| s.physical().find(|d| d.id == id))
            .cloned()
            .ok_or_else(|| not_a_choice("root_device", v))?,
    };
    // bcache needs a cache device besides the boot and root disks; without
    // one the machine gets the flat layout, as MAAS falls back.
    let cache_device = if layout == "bcache" {
        super::raid::layout_cache_device(&s, &[boot.id, root_disk.id], &input.bcache)?
    } else {
        None
    };
    let layout = if layout == "bcache" && cache_device.is_none() { "flat" } else { layout };
    let boot_size = input.boot_size.map(|b| b.of(boot.size)).unwrap_or(0);
    if input.boot_size.is_some() {
        if boot_size < MIN_BOOT_PARTITION_SIZE {
            return Err(Error::field(
                "boot_size",
                format!("Size is too small. Minimum size is {MIN_BOOT_PARTITION_SIZE}."),
            ));
        }
        let max = boot.size - MIN_ROOT_PARTITION_SIZE;
        if boot_size > max {
            return Err(Error::field("boot_size", format!("Size is too large. Maximum size is {}.", max.max(0))));
        }
    }
    let root_size = input.root_size.map(|r| r.of(boot.size));
    if let Some(r) = root_size {
        if r < MIN_ROOT_PARTITION_SIZE {
            return Err(Error::field(
                "root_size",
                format!("Size is too small. Minimum size is {MIN_ROOT_PARTITION_SIZE}."),
            ));
        }
    }
    db::clear_configuration(c, n.id)?;
    st = db::load_node(c, n.id)?;
    if layout == "blank" {
        return Ok(());
    }
    // Boot partitions: the EFI system partition on UEFI machines, /boot if asked.
    let boot_fs =
        |c: &mut DbConn, st: &mut NodeStorage, p: &Partition, fstype: &str, label: &str, mp: &str| -> Result<()> {
            let f = db::insert_filesystem(
                c,
                &NewFilesystem {
                    node_id: n.id,
                    block_device_id: None,
                    partition_id: Some(p.id),
                    fstype: fstype.into(),
                    uuid: new_uuid(),
                    label: Some(label.into()),
                    mount_point: Some(mp.into()),
                    mount_options: None,
                    volume_group_id: None,
                    acquired: false,
                    created_at: super::now(),
                },
            )?;
            st.filesystems.push(f);
            Ok(())
        };
    if Storage::new(n, &st).uefi() {
        let p = add_partition(
            c,
            n,
            &mut st,
            boot.id,
            PartitionInput { size: Some(EFI_PARTITION_SIZE), uuid: None, bootable: true },
        )?;
        boot_fs(c, &mut st, &p, "fat32", "efi", "/boot/efi")?;
    } else {
        // The boot disk gets its partition table even when root goes elsewhere.
        let t = Storage::new(n, &st).new_table_type(&boot).to_string();
        db::update_device(
            c,
            boot.id,
            &BlockDeviceChanges { partition_table_type: Some(Some(t.clone())), ..Default::default() },
        )?;
        if let Some(d) = st.devices.iter_mut().find(|d| d.id == boot.id) {
            d.partition_table_type = Some(t);
        }
    }
    if boot_size > 0 {
        let p = add_partition(
            c,
            n,
            &mut st,
            boot.id,
            PartitionInput { size: Some(boot_size), uuid: None, bootable: false },
        )?;
        boot_fs(c, &mut st, &p, "ext4", "boot", "/boot")?;
    }
    let available = {
        let s = Storage::new(n, &st);
        let d = s.device(root_disk.id).ok_or(Error::NotFound("BlockDevice"))?;
        if d.partition_table_type.is_some() {
            s.partition_space(d)
        } else {
            round_down(d.size - PARTITION_TABLE_EXTRA_SPACE, PARTITION_ALIGNMENT_SIZE)
        }
    };
    if let Some(r) = root_size {
        if round_down(r, PARTITION_ALIGNMENT_SIZE) > available {
            return Err(Error::field("root_size", format!("Size is too large. Maximum size is {available}.")));
        }
    }
    let root =
        add_partition(c, n, &mut st, root_disk.id, PartitionInput { size: root_size, uuid: None, bootable: false })
            .map_err(|e| layout_error(layout, e))?;
    match (layout, cache_device) {
        ("flat", _) => boot_fs(c, &mut st, &root, "ext4", "root", "/"),
        ("bcache", Some(cache)) => {
            super::raid::apply_bcache_root(c, n, root.id, cache, &input.bcache).map_err(|e| layout_error(layout, e))
        }
        _ => {
            let vg_name = input.vg_name.clone().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| "vgroot".into());
            let lv_name = input.lv_name.clone().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| "lvroot".into());
            let vg = make_volume_group(c, n, &mut st, &vg_name, None, &[Target::Partition(root.id)])
                .map_err(|e| rename_field(e, "name", "vg_name"))?;
            let size = input.lv_size.map(|l| l.of(Storage::new(n, &st).vg_size(&vg)));
            let lv =
                make_logical_volume(c, n, &mut st, &vg, LogicalVolumeInput { name: Some(lv_name), size, uuid: None })
                    .map_err(|e| rename_field(rename_field(e, "size", "lv_size"), "name", "lv_name"))?;
            db::insert_filesystem(
                c,
                &NewFilesystem {
                    node_id: n.id,
                    block_device_id: Some(lv.id),
                    partition_id: None,
                    fstype: "ext4".into(),
                    uuid: new_uuid(),
                    label: Some("root".into()),
                    mount_point: Some("/".into()),
                    mount_options: None,
                    volume_group_id: None,
                    acquired: false,
                    created_at: super::now(),
                },
            )?;
            Ok(())
        }
    }
}

fn rename_field(e: Error, from: &str, to: &str) -> Error {
    match e {
        Error::Validation(mut m) => {
            if let Some(v) = m.remove(from) {
                m.insert(to.to_string(), v);
            }
            Error::Validation(m)
        }
        other => other,
    }
}

fn layout_error(layout: &str, e: Error) -> Error {
    match e {
        Error::Validation(m) => {
            let text: Vec<String> = m.values().flatten().cloned().collect();
            Error::BadRequest(format!("Failed to configure storage layout '{layout}': {}", text.join(" ")))
        }
        other => other,
    }
}

/// Applies the configured `default_storage_layout` after commissioning. A
/// machine without disks is left alone; a layout that cannot be applied is
/// logged and leaves the machine without a storage configuration, as MAAS
/// does (commissioning still succeeds).
pub fn apply_default_layout(c: &mut DbConn, n: &Node) -> Result<()> {
    if db::load_node(c, n.id)?.devices.iter().all(|d| d.dev_type != PHYSICAL) {
        return Ok(());
    }
    let configured = crate::db::config::get(c, "default_storage_layout")?
        .and_then(|v| serde_json::from_str::<String>(&v).ok())
        .unwrap_or_else(|| "flat".into());
    // Layouts Ironpool lacks fall back to flat, as MAAS falls back when one fails.
    let layout = if SUPPORTED_LAYOUTS.contains(&configured.as_str()) { configured } else { "flat".into() };
    match apply_layout(c, n, &LayoutInput { layout, ..Default::default() }) {
        Ok(()) => Ok(()),
        Err(e @ (Error::BadRequest(_) | Error::Validation(_))) => {
            tracing::warn!(system_id = %n.system_id, error = %e, "default storage layout not applied");
            Ok(())
        }
        Err(e) => Err(e),
    }
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
