//! Machine storage: block devices, partitions, filesystems, LVM volume groups
//! and logical volumes, the flat and LVM layouts, and the storage constraint
//! of allocation — MAAS's rules and sizes (`maas-api.md` §7.4, §9.3, §10.11).
//! RAIDs, bcaches and the bcache layout live in [`engine::raid`]; they share
//! the filesystem-group model and the derived values computed here.
//!
//! Sizes follow MAAS: partitions are aligned to 4 MiB, a partition table
//! costs 5 MiB (plus a bios_grub or PReP partition where the boot disk needs
//! one), a volume group loses one 4 MiB extent per physical volume to LVM
//! headers. [`Storage`] computes every derived value (free space, partition
//! numbers, `used_for`) from one node's rows; the mutating functions run
//! inside one write transaction and enforce who may change what, and when.
//!
//! RAID, bcache and bcache cache sets (`maas-api.md` §7.4, §10.11), and
//! MAAS's `bcache` storage layout.
//!
//! All three are filesystem groups, stored as LVM volume groups are (rows of
//! `volume_groups` with a `group_type`): a member device or partition carries
//! a filesystem (`raid`, `raid-spare`, `bcache-backing`, `bcache-cache`)
//! pointing at its group, and a RAID or bcache is a virtual block device of
//! the machine, so it can be formatted, partitioned or put in a volume group
//! like a disk. Members must belong to the machine and be unused: no
//! filesystem (so not in another RAID, volume group or bcache), no partition
//! table. Deleting a group deletes its device and its members' filesystems,
//! which frees the members.
//!
//! A RAID's size follows MAAS: the smallest member (spares included) less
//! 128 KiB of superblock, times the data-carrying count of its level (n for
//! raid-0, 1 for raid-1, n-1 for raid-5, n-2 for raid-6, n/2 for raid-10,
//! n counting active members only). A bcache is as large as its backing
//! device. Every change runs in the caller's write transaction: the rows are
//! changed, the node's storage reloaded and checked, and an error rolls the
//! whole change back.
//!
//! Modules, bottom first: `model` (sizes, constants, the derived [`model::Storage`]
//! view), `rules` (who may change what, when), then `devices`, `partitions`,
//! `filesystems`, `lvm`, `groups` (shared by `raid` and `bcache`), `layouts`
//! on top; `matching` is the storage allocation constraint.

pub mod bcache;
pub mod curtin;
pub mod devices;
pub mod filesystems;
pub mod groups;
pub mod layouts;
pub mod lvm;
pub mod matching;
pub mod model;
pub mod partitions;
pub mod raid;
pub mod rules;
pub mod special;
